/* detect_link.c -- cross-sensor linking for counting: one flow seen by two sensors (same
 * Community ID, starts within link_skew) is counted once; so are the later records of a long
 * session (same sensor, same start).
 * Owns:  one entry per Community ID (the last start seen), in an hmap capped at max_sources.
 * Never: writes ashiato.linked into records (the store keeps the sensors' bytes as they
 *        came); it only answers "already counted?".
 * Trap:  entries live 2 minutes of record time after their start, longer than any sensor's
 *        batching delay between the two sensors' records of one flow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define LINK_KEEP_US (120 * 1000000LL)

struct link_entry {
    char cid[40];
    int64_t start_us;
    char sensor[DETECT_NAME_LEN];
};

struct detect_link {
    struct hmap *map;
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
    if (!(l->map = hmap_new(&t, c->max_sources, 0x6c696e6b))) {
        free(l);
        return NULL;
    }
    return l;
}

void detect_link_free(struct detect_link *l)
{
    if (!l)
        return;
    size_t it = 0;
    struct link_entry *e;
    while ((e = hmap_next(l->map, &it, NULL)))
        free(e);
    hmap_free(l->map);
    free(l);
}

bool detect_link_seen(struct detect_link *l, const struct detect_record *r, int64_t now_us)
{
    (void)now_us;
    if (!r->community_id || !r->community_id[0] || strlen(r->community_id) >= 40)
        return false;
    struct link_entry *e = hmap_get(l->map, r->community_id);
    if (e) {
        int64_t d = r->start_us - e->start_us;
        if (d < 0)
            d = -d;
        bool same_sensor = !strcmp(e->sensor, r->sensor ? r->sensor : "");
        if ((same_sensor && d == 0) || (!same_sensor && d <= l->skew_us))
            return true;
        e->start_us = r->start_us;      /* a new flow reusing the 5-tuple */
        snprintf(e->sensor, sizeof e->sensor, "%s", r->sensor ? r->sensor : "");
        return false;
    }
    if (!(e = calloc(1, sizeof *e)))
        return false;
    snprintf(e->cid, sizeof e->cid, "%s", r->community_id);
    e->start_us = r->start_us;
    snprintf(e->sensor, sizeof e->sensor, "%s", r->sensor ? r->sensor : "");
    if (hmap_put(l->map, e->cid, e) != 0) {
        free(e);
        l->full++;
    }
    return false;
}

void detect_link_expire(struct detect_link *l, int64_t now_us)
{
    size_t it = 0;
    struct link_entry *e;
    while ((e = hmap_next(l->map, &it, NULL)))
        if (e->start_us < now_us - LINK_KEEP_US) {
            hmap_remove_iter(l->map, &it);
            free(e);
        }
}

size_t detect_link_bytes(const struct detect_link *l)
{
    return hmap_stats(l->map).bytes + hmap_count(l->map) * sizeof(struct link_entry);
}
