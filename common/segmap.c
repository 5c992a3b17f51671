/* segmap.c -- segment lookup by longest prefix, and the live map (see segmap.h).
 * Owns:  the snapshots segmap_live_set makes (freed by the last segmap_live_put).
 * Never: allocates per lookup; logs. Lookups are linear over the prefixes: a campus has tens
 *        of them (as detect_segment.c says). */
#include "segmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint64_t be64(const uint8_t *b)
{
    uint64_t v;
    memcpy(&v, b, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* two masked 64-bit compares (net's host bits are off) */
bool segmap_prefix_match(const uint8_t net[16], unsigned bits, const uint8_t addr[16])
{
    uint64_t m0 = bits >= 64 ? ~0ULL : bits ? ~0ULL << (64 - bits) : 0;
    uint64_t m1 = bits >= 128 ? ~0ULL : bits > 64 ? ~0ULL << (128 - bits) : 0;
    return (be64(addr) & m0) == be64(net) && (be64(addr + 8) & m1) == be64(net + 8);
}

int segmap_addr(uint8_t out[16], const uint8_t *ip, size_t len)
{
    if (len == 16) {
        memcpy(out, ip, 16);
        return 0;
    }
    if (len != 4)
        return -1;
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, ip, 4);
    return 0;
}

int segmap_find(const struct segmap *m, const uint8_t a[16])
{
    int best = SEGMAP_OUTSIDE, bits = -1;
    for (size_t i = 0; i < m->n_prefixes; i++) {
        const struct segmap_prefix *p = &m->prefixes[i];
        if ((int)p->bits > bits && segmap_prefix_match(p->addr, p->bits, a)) {
            best = p->segment;
            bits = p->bits;
        }
    }
    return best;
}

const char *segmap_name_of(const struct segmap *m, const uint8_t *ip, size_t len)
{
    uint8_t a[16];
    if (!m || !m->n_names || !ip || segmap_addr(a, ip, len) < 0)
        return NULL;
    int s = segmap_find(m, a);
    return s < 0 || (size_t)s >= m->n_names ? SEGMAP_OUTSIDE_NAME : m->names[s];
}

int segmap_index(const struct segmap *m, const char *name)
{
    for (size_t i = 0; i < m->n_names; i++)
        if (!strcmp(m->names[i], name))
            return (int)i;
    return strcmp(name, SEGMAP_OUTSIDE_NAME) ? -2 : SEGMAP_OUTSIDE;
}

bool segmap_takes(const struct segmap *m, size_t i, size_t j)
{
    const struct segmap_prefix *pi = &m->prefixes[i], *pj = &m->prefixes[j];
    return i != j && segmap_prefix_match(pi->addr, pi->bits, pj->addr) &&
           (pj->bits > pi->bits || (pj->bits == pi->bits && j < i));
}

/* ---- the live map ---------------------------------------------------------------------- */

struct snap {
    struct segmap map;               /* first: a snapshot is handed out as its map */
    unsigned refs;
};

struct segmap_live {
    pthread_mutex_t lock;
    struct snap *cur;
};

/* one lock for every snapshot's count: puts come from any thread, after the live map may
 * have been freed */
static pthread_mutex_t refs_lock = PTHREAD_MUTEX_INITIALIZER;

struct segmap_live *segmap_live_new(void)
{
    struct segmap_live *l = calloc(1, sizeof *l);
    if (l)
        pthread_mutex_init(&l->lock, NULL);
    return l;
}

static void snap_put(struct snap *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&refs_lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&refs_lock);
    if (last)
        free(s);
}

void segmap_live_free(struct segmap_live *l)
{
    if (!l)
        return;
    snap_put(l->cur);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int segmap_live_set(struct segmap_live *l, const struct segmap *m)
{
    struct snap *s = NULL;
    if (m && m->n_names) {
        if (!(s = malloc(sizeof *s)))
            return -1;
        s->map = *m;
        s->refs = 1;
    }
    pthread_mutex_lock(&l->lock);
    struct snap *old = l->cur;
    l->cur = s;
    pthread_mutex_unlock(&l->lock);
    snap_put(old);
    return 0;
}

const struct segmap *segmap_live_get(struct segmap_live *l)
{
    if (!l)
        return NULL;
    pthread_mutex_lock(&l->lock);
    struct snap *s = l->cur;
    if (s) {
        pthread_mutex_lock(&refs_lock);
        s->refs++;
        pthread_mutex_unlock(&refs_lock);
    }
    pthread_mutex_unlock(&l->lock);
    return s ? &s->map : NULL;
}

void segmap_live_put(const struct segmap *m)
{
    snap_put((struct snap *)(void *)m);
}
