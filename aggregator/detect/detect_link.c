/* detect_link.c -- cross-sensor linking for counting: one flow seen by two sensors (same
 * Community ID, starts within link_skew) is counted once; so are the later records of a long
 * session (same sensor, same start).
 * Owns:  a ring of entries in arrival order (fixed size, max_sources) and the hmap from
 *        Community ID to entry; no allocation per record.
 * Never: writes ashiato.linked into records (the store keeps the sensors' bytes as they
 *        came); it only answers "already counted?".
 * Trap:  an entry lives LINK_KEEP_US of record time after it arrived, longer than any
 *        sensor's batching delay between the two sensors' records of one flow; when the ring
 *        is full the oldest entry goes early (counted in full). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define LINK_KEEP_US (120 * 1000000LL)
#define CID_LEN 40

struct link_entry {
    char cid[CID_LEN];
    int64_t start_us, seen_us;
    int sensor;
    bool used;
};

struct detect_link {
    struct hmap *map;
    struct link_entry *ring;
    size_t cap, head, n;        /* oldest at head */
    int64_t skew_us;
    uint64_t full;
};

struct detect_link *detect_link_new(const struct detect_config *c)
{
    static const struct hmap_type t = { hmap_hash_str, hmap_equal_str };
    struct detect_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->skew_us = c->link_skew_us;
    l->cap = c->max_sources;
    if (!(l->ring = ash_calloc_array(l->cap, sizeof *l->ring)) ||
        !(l->map = hmap_new(&t, l->cap, 0x6c696e6b))) {
        detect_link_free(l);
        return NULL;
    }
    return l;
}

void detect_link_free(struct detect_link *l)
{
    if (!l)
        return;
    hmap_free(l->map);
    free(l->ring);
    free(l);
}

static void pop(struct detect_link *l)
{
    struct link_entry *e = &l->ring[l->head];
    if (e->used)
        hmap_remove(l->map, e->cid);
    e->used = false;
    l->head = (l->head + 1) % l->cap;
    l->n--;
}

bool detect_link_seen(struct detect_link *l, const struct detect_record *r, int sensor,
                      int64_t now_us)
{
    size_t len;
    if (!r->community_id || !r->community_id[0] || (len = strlen(r->community_id)) >= CID_LEN)
        return false;
    struct link_entry *e = hmap_get(l->map, r->community_id);
    if (e) {
        int64_t d = r->start_us - e->start_us;
        if (d < 0)
            d = -d;
        bool same_sensor = e->sensor == sensor;
        if ((same_sensor && d == 0) || (!same_sensor && d <= l->skew_us))
            return true;
        e->start_us = r->start_us;      /* a new flow reusing the 5-tuple */
        e->sensor = sensor;
        e->seen_us = now_us;
        return false;
    }
    if (l->n == l->cap) {
        pop(l);
        l->full++;
    }
    e = &l->ring[(l->head + l->n) % l->cap];
    memcpy(e->cid, r->community_id, len + 1);
    e->start_us = r->start_us;
    e->seen_us = now_us;
    e->sensor = sensor;
    e->used = hmap_put(l->map, e->cid, e) == 0;
    l->n++;
    return false;
}

void detect_link_expire(struct detect_link *l, int64_t now_us)
{
    while (l->n && l->ring[l->head].seen_us < now_us - LINK_KEEP_US)
        pop(l);
}

size_t detect_link_bytes(const struct detect_link *l)
{
    return hmap_stats(l->map).bytes + l->cap * sizeof(struct link_entry);
}

uint64_t detect_link_full(const struct detect_link *l)
{
    return l->full;
}
