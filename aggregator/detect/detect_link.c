/* detect_link.c -- cross-sensor linking: one flow seen by two sensors (same Community ID,
 * starts within link_skew) is counted once, and the pair is reported to the link sink (the
 * aggregator stores it: ashiato.linked); the later records of a long session (same sensor,
 * same start) are counted once too.
 * Owns:  a ring of entries in arrival order (fixed size, max_sources, allocated at start) and
 *        a compact open-addressing index over it: 8-byte slots (a 32-bit fingerprint of the
 *        Community ID's hash, which also places the slot, and the entry's insertion
 *        number), so a lookup that finds no match touches one cache line of the index and no
 *        entry. No allocation per record.
 *        A session id names its record in full, however long: up to ID_LEN - 1 characters
 *        inline, a longer one in a copy of its own (freed when its ring slot is reused), so
 *        two ids that share their first characters never name each other's records.
 * Never: writes ashiato.linked into records (the store keeps the sensors' bytes as they
 *        came); it answers "already counted?" and names the pair to the sink.
 * Trap:  an entry lives LINK_KEEP_US of record time after it arrived, longer than any
 *        sensor's batching delay between the two sensors' records of one flow; when the ring
 *        is full the oldest entry goes early (counted in full). Expiry only moves the ring's
 *        head: an index slot whose insertion number left the ring is dead (a tombstone that
 *        an insert reuses), and the index is laid out again from its own live slots when
 *        dead and live ones pass half of it (amortised, sequential), so expiry costs no
 *        lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define LINK_KEEP_US (120 * 1000000LL)
#define CID_LEN 40
#define ID_LEN 40
#define INDEX_MIN 4096
/* The index is laid out again when dead and live slots pass USED_NUM/USED_DEN of it; live
 * ones are at most 1/LIVE_DEN of it: it is allocated at start for max_sources live slots
 * (16 MiB at the default), so it never grows in the middle of the records. Most lookups miss
 * (a new flow), and a miss walks the whole probe chain: 1.5 slots a lookup at 3/4 used and
 * 3/8 live over the ingest benchmark's journals, 0.53 at 1/2 and 1/8. */
#define USED_NUM 1
#define USED_DEN 2
#define LIVE_DEN 8

struct link_entry {
    uint64_t hash;
    int64_t start_us, seen_us;
    int32_t sensor;
    char cid[CID_LEN];
    char id[ID_LEN];            /* the record's session id, for the link sink */
    char *long_id;              /* instead, when the id is ID_LEN or longer (malloc'd) */
};

struct link_slot {
    uint32_t fp;                /* 0: never used */
    uint32_t seq;
};

struct detect_link {
    struct link_entry *ring;
    size_t cap, n;              /* at most cap (max_sources) live entries, oldest at head */
    size_t ring_mask;           /* the ring: a power of two >= cap, so that the position
                                 * seq & ring_mask stays right when seq wraps */
    uint32_t head;              /* insertion number of the oldest live entry */
    struct link_slot *index;    /* a slot's place: its fingerprint & mask, then probing */
    size_t mask, used;          /* used: slots not empty (live or dead) */
    struct link_slot *scratch;  /* cap slots: the live ones while the index is laid out */
    int64_t skew_us;
    uint64_t full;
    size_t long_bytes;          /* held by entries' long_id */
};

static bool live(const struct detect_link *l, uint32_t seq)
{
    return (uint32_t)(seq - l->head) < l->n;
}

static struct link_entry *entry_of(const struct detect_link *l, uint32_t seq)
{
    return &l->ring[seq & l->ring_mask];
}

static uint32_t fingerprint(uint64_t h)
{
    uint32_t fp = (uint32_t)(h >> 32);
    return fp ? fp : 1;
}

/* lay the index out again with nslots slots (in place when that is its size), from its own
 * live slots: read in order and put back where their fingerprint says (the ring is not
 * read: its entries lie 120 bytes apart, the index's 8), dead slots left out */
static int reindex(struct detect_link *l, size_t nslots)
{
    size_t n = 0;
    for (size_t i = 0; l->index && i <= l->mask; i++)
        if (l->index[i].fp && live(l, l->index[i].seq))
            l->scratch[n++] = l->index[i];
    struct link_slot *ni = l->index;
    if (ni && nslots == l->mask + 1) {
        memset(ni, 0, nslots * sizeof *ni);
    } else {
        if (!(ni = hmap_big_calloc(nslots, sizeof *ni)))
            return -1;
        if (l->index)
            hmap_big_free(l->index, l->mask + 1, sizeof *l->index);
        l->index = ni;
        l->mask = nslots - 1;
    }
    l->used = n;
    for (size_t k = 0; k < n; k++) {
        size_t i = l->scratch[k].fp & l->mask;
        while (ni[i].fp)
            i = (i + 1) & l->mask;
        ni[i] = l->scratch[k];
    }
    return 0;
}

/* the index's size for cap live entries: a power of two, at least LIVE_DEN * cap */
static size_t index_slots(size_t cap)
{
    size_t n = INDEX_MIN;
    while (n / LIVE_DEN < cap && n <= SIZE_MAX / 4 && n < ((size_t)1 << 32))
        n *= 2;
    return n;
}

struct detect_link *detect_link_new(const struct detect_config *c)
{
    struct detect_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->skew_us = c->link_skew_us;
    l->cap = c->max_sources ? c->max_sources : 1;
    size_t ring = 1;
    while (ring < l->cap)
        ring *= 2;
    l->ring_mask = ring - 1;
    if (!(l->ring = hmap_big_calloc(ring, sizeof *l->ring)) ||
        !(l->scratch = hmap_big_calloc(l->cap, sizeof *l->scratch)) ||
        reindex(l, index_slots(l->cap)) < 0) {
        detect_link_free(l);
        return NULL;
    }
    return l;
}

void detect_link_free(struct detect_link *l)
{
    if (!l)
        return;
    for (size_t i = 0; l->ring && i <= l->ring_mask; i++)
        free(l->ring[i].long_id);
    if (l->index)
        hmap_big_free(l->index, l->mask + 1, sizeof *l->index);
    hmap_big_free(l->ring, l->ring_mask + 1, sizeof *l->ring);
    hmap_big_free(l->scratch, l->cap, sizeof *l->scratch);
    free(l);
}

uint64_t detect_link_hash(const char *cid)
{
    return cid && cid[0] ? hmap_hash_str(cid, 0x6c696e6b) : 0;
}

void detect_link_prefetch(const struct detect_link *l, uint64_t hash)
{
    __builtin_prefetch(&l->index[fingerprint(hash) & l->mask]);
}

/* the next step, once the index slot is loaded: the entry a live slot with the same
 * fingerprint names (a flow seen before), at most a cache line of slots on */
void detect_link_prefetch_entry(const struct detect_link *l, uint64_t hash)
{
    uint32_t fp = fingerprint(hash);
    size_t i = fp & l->mask;
    for (int k = 0; k < 8 && l->index[i].fp; k++, i = (i + 1) & l->mask)
        if (l->index[i].fp == fp && live(l, l->index[i].seq)) {
            __builtin_prefetch(entry_of(l, l->index[i].seq));
            return;
        }
}

/* the entry's id becomes src's (whole); an id that cannot be kept whole (out of memory) is
 * kept as "" and never names a record to the link sink */
static void set_id(struct detect_link *l, struct link_entry *e, const char *src)
{
    if (e->long_id) {
        l->long_bytes -= strlen(e->long_id) + 1;
        free(e->long_id);
        e->long_id = NULL;
    }
    size_t n = src ? strlen(src) : 0;
    if (n < ID_LEN) {
        memcpy(e->id, src ? src : "", n);
        e->id[n] = '\0';
        return;
    }
    e->id[0] = '\0';
    if ((e->long_id = malloc(n + 1))) {
        memcpy(e->long_id, src, n + 1);
        l->long_bytes += n + 1;
    }
}

bool detect_link_seen(struct detect_link *l, const struct detect_record *r, uint64_t hash,
                      int sensor, int64_t now_us, struct detect_link_pair *pair)
{
    size_t len;
    pair->other_id = NULL;
    if (!r->community_id || !r->community_id[0] || (len = strlen(r->community_id)) >= CID_LEN)
        return false;
    /* the ring entries the next inserts write (in order): loading them ahead for writing
     * takes their cache misses off the inserts */
    const char *next = (const char *)entry_of(l, l->head + (uint32_t)l->n + 2);
    __builtin_prefetch(next, 1);
    __builtin_prefetch(next + sizeof(struct link_entry) - 1, 1);
    uint32_t fp = fingerprint(hash);
    size_t i = fp & l->mask, reuse = SIZE_MAX, probes = 0;
    for (; l->index[i].fp && probes++ <= l->mask; i = (i + 1) & l->mask) {
        const struct link_slot *s = &l->index[i];
        if (!live(l, s->seq)) {
            if (reuse == SIZE_MAX)
                reuse = i;
            continue;
        }
        if (s->fp != fp)
            continue;
        struct link_entry *e = entry_of(l, s->seq);
        if (e->hash != hash || strcmp(e->cid, r->community_id))
            continue;
        int64_t d = r->start_us - e->start_us;
        if (d < 0)
            d = -d;
        bool same_sensor = e->sensor == sensor;
        if (same_sensor && d == 0)
            return true;
        if (!same_sensor && d <= l->skew_us) {
            pair->other_id = e->long_id ? e->long_id : e->id;
            pair->other_sensor = e->sensor;
            pair->other_start_us = e->start_us;
            return true;
        }
        e->start_us = r->start_us;      /* a new flow reusing the 5-tuple */
        e->sensor = sensor;
        e->seen_us = now_us;
        set_id(l, e, r->session_id);
        return false;
    }
    if (l->n == l->cap) {               /* the oldest goes early: its slot turns dead */
        l->head++;
        l->n--;
        l->full++;
    }
    uint32_t seq = l->head + (uint32_t)l->n;
    struct link_entry *e = entry_of(l, seq);
    e->hash = hash;
    memcpy(e->cid, r->community_id, len + 1);
    set_id(l, e, r->session_id);
    e->start_us = r->start_us;
    e->seen_us = now_us;
    e->sensor = sensor;
    l->n++;
    if (reuse == SIZE_MAX && l->index[i].fp) {  /* no room at all (out of memory) */
        l->n--;
        l->full++;
        return false;
    }
    if (reuse == SIZE_MAX) {
        reuse = i;
        l->used++;
    }
    l->index[reuse] = (struct link_slot){ fp, seq };
    if (l->used * USED_DEN > (l->mask + 1) * USED_NUM)     /* dead and live: lay out again */
        reindex(l, l->mask + 1);        /* in place: no allocation */
    return false;
}

void detect_link_expire(struct detect_link *l, int64_t now_us)
{
    while (l->n && entry_of(l, l->head)->seen_us < now_us - LINK_KEEP_US) {
        l->head++;
        l->n--;
    }
}

size_t detect_link_bytes(const struct detect_link *l)
{
    return sizeof *l + (l->mask + 1 + l->cap) * sizeof *l->index +
           (l->ring_mask + 1) * sizeof(struct link_entry) + l->long_bytes;
}

uint64_t detect_link_full(const struct detect_link *l)
{
    return l->full;
}
