/* frag_table.c -- IP fragments (see frag_table.h).
 * Owns:  the two entry arrays and their counters.
 * Never: allocates per packet; trusts a fragment's offset or length (checked against
 *        FRAG_MAX_BYTES and against every range already held). */
#include "frag_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct frag_entry {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto, used;
    uint16_t sport, dport;
    int64_t ts_us;
};

/* a datagram being put together: ranges [start, end) of its data, and their store positions */
struct frag_dgram {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto, used, have_first, have_last;
    /* the first fragment's L4 fields */
    bool has_ports;
    uint8_t tcp_flags;
    uint16_t sport, dport, tcp_window;
    uint32_t tcp_seq, tcp_ack;
    uint32_t l4_hdr;                 /* bytes of L4 header at the start of the data */
    uint32_t total;                  /* data length, known from the last fragment */
    uint32_t covered;                /* bytes of data held (ranges never overlap) */
    int64_t ts_us;                   /* first fragment seen */
    uint32_t nparts;
    uint32_t taken;                  /* parts [0, taken) were handed out (frag_table_take) */
    uint32_t start[FRAG_MAX_PARTS], end[FRAG_MAX_PARTS];
    struct frag_position pos[FRAG_MAX_PARTS];
};

struct frag_table {
    struct frag_entry *e;
    size_t mask;
    struct frag_dgram *g;
    size_t gmask;
    uint64_t dropped;
};

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

struct frag_table *frag_table_new(size_t entries, char err[ASH_ERR_LEN])
{
    size_t n = pow2_at_least(entries);
    /* datagrams in flight are far fewer than fragment keys, and each holds 48 positions */
    size_t gn = pow2_at_least(entries / 4 ? entries / 4 : 1);
    struct frag_table *t = calloc(1, sizeof *t);
    if (t) {
        t->e = ash_calloc_array(n, sizeof *t->e);
        t->g = ash_calloc_array(gn, sizeof *t->g);
    }
    if (!t || !t->e || !t->g) {
        snprintf(err, ASH_ERR_LEN, "frag_table: cannot allocate %zu entries", n);
        frag_table_free(t);
        return NULL;
    }
    t->mask = n - 1;
    t->gmask = gn - 1;
    return t;
}

void frag_table_free(struct frag_table *t)
{
    if (!t)
        return;
    free(t->e);
    free(t->g);
    free(t);
}

static uint64_t key_hash(const struct decoded *d)
{
    uint64_t h = d->frag_id * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 16; i++)
        h = (h ^ d->src[i] ^ ((uint64_t)d->dst[i] << 8)) * 0x100000001b3ULL;
    h ^= d->ip_proto;
    return h ^ (h >> 29);
}

bool frag_table_ports(struct frag_table *t, struct decoded *d, int64_t ts_us)
{
    struct frag_entry *e = &t->e[key_hash(d) & t->mask];
    if (d->has_ports) {
        memcpy(e->src, d->src, 16);
        memcpy(e->dst, d->dst, 16);
        e->id = d->frag_id;
        e->proto = d->ip_proto;
        e->sport = d->sport;
        e->dport = d->dport;
        e->ts_us = ts_us;
        e->used = 1;
        return true;
    }
    if (e->used && e->id == d->frag_id && e->proto == d->ip_proto &&
        memcmp(e->src, d->src, 16) == 0 && memcmp(e->dst, d->dst, 16) == 0 &&
        ts_us - e->ts_us < FRAG_MAX_AGE_US) {
        d->has_ports = true;
        d->sport = e->sport;
        d->dport = e->dport;
        return true;
    }
    return false;
}

static bool same_datagram(const struct frag_dgram *g, const struct decoded *d)
{
    return g->id == d->frag_id && g->proto == d->ip_proto &&
           memcmp(g->src, d->src, 16) == 0 && memcmp(g->dst, d->dst, 16) == 0;
}

static enum frag_result give_up(struct frag_table *t, struct frag_dgram *g,
                                enum decode_event why, enum decode_event *event)
{
    g->used = 0;
    t->dropped++;
    *event = why;
    return FRAG_DROPPED;
}

enum frag_result frag_table_add(struct frag_table *t, struct decoded *d, int64_t ts_us,
                                const struct frag_position *pos, enum decode_event *event,
                                struct frag_dgram **dgram)
{
    struct frag_dgram *g = &t->g[key_hash(d) & t->gmask];
    *dgram = NULL;
    *event = DECODE_OK;

    if (g->used && (!same_datagram(g, d) || ts_us - g->ts_us >= FRAG_MAX_AGE_US)) {
        g->used = 0;                 /* another datagram's slot, or stale: it never finished */
        t->dropped++;
    }
    if (!g->used) {
        memcpy(g->src, d->src, 16);
        memcpy(g->dst, d->dst, 16);
        g->id = d->frag_id;
        g->proto = d->ip_proto;
        g->used = 1;
        g->have_first = g->have_last = 0;
        g->total = g->covered = g->nparts = g->taken = 0;
        g->ts_us = ts_us;
    }

    uint32_t start = d->frag_offset, end = start + d->frag_len;
    if (end > FRAG_MAX_BYTES || (g->have_last && end > g->total))
        return give_up(t, g, DECODE_FRAG_TOO_BIG, event);
    if (g->nparts >= FRAG_MAX_PARTS)
        return give_up(t, g, DECODE_FRAG_TOO_MANY, event);
    for (uint32_t i = 0; i < g->nparts; i++)
        if (start < g->end[i] && g->start[i] < end)
            return give_up(t, g, DECODE_FRAG_OVERLAP, event);
    if (!d->frag_more) {
        if (g->have_last)            /* a second last fragment: the datagram has two ends */
            return give_up(t, g, DECODE_FRAG_OVERLAP, event);
        for (uint32_t i = 0; i < g->nparts; i++)
            if (g->end[i] > end)
                return give_up(t, g, DECODE_FRAG_TOO_BIG, event);
        g->have_last = 1;
        g->total = end;
    }
    if (start == 0) {
        g->have_first = 1;
        g->has_ports = d->has_ports;
        g->sport = d->sport;
        g->dport = d->dport;
        g->tcp_flags = d->tcp_flags;
        g->tcp_seq = d->tcp_seq;
        g->tcp_ack = d->tcp_ack;
        g->tcp_window = d->tcp_window;
        g->l4_hdr = d->payload_wire_len <= d->frag_len ? d->frag_len - d->payload_wire_len : 0;
    }
    g->start[g->nparts] = start;
    g->end[g->nparts] = end;
    g->pos[g->nparts] = *pos;
    g->nparts++;
    g->covered += end - start;
    *dgram = g;

    if (g->have_first) {             /* the flow is known: the first fragment's ports */
        d->has_ports = g->has_ports;
        d->sport = g->sport;
        d->dport = g->dport;
    }
    if (!g->have_first || !g->have_last || g->covered != g->total)
        return FRAG_PENDING;

    /* whole: the datagram as Arkime counts it (its reassembled frame: this frame's headers and
     * all the data), with the first fragment's L4 fields */
    d->tcp_flags = g->tcp_flags;
    d->tcp_seq = g->tcp_seq;
    d->tcp_ack = g->tcp_ack;
    d->tcp_window = g->tcp_window;
    d->cap_len = (uint32_t)d->frag_hdr_len + g->total;
    d->payload = NULL;
    d->payload_len = 0;
    d->payload_wire_len = g->total > g->l4_hdr ? g->total - g->l4_hdr : 0;
    g->used = 0;                     /* the slot is free; its parts stay until the next add */
    return FRAG_COMPLETE;
}

size_t frag_table_take(struct frag_table *t, struct frag_dgram *g,
                       const struct frag_position **parts)
{
    (void)t;
    *parts = &g->pos[g->taken];
    size_t n = g->nparts - g->taken;
    g->taken = g->nparts;
    return n;
}

uint64_t frag_table_dropped(const struct frag_table *t)
{
    return t->dropped;
}
