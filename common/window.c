/* window.c -- windowed distinct counters with a threshold (see window.h).
 * Owns:  the entries and their value arrays; the hash map that finds them.
 * Never: calls back except from window_expire/window_free. */
#include "window.h"

#include <stdlib.h>
#include <string.h>

#include "ashiato.h"
#include "hmap.h"

struct window {
    struct window_config cfg;
    size_t key_len;
    struct hmap *map;
    uint64_t dropped_values;
    size_t item_bytes;
};


static uint64_t key_hash(const void *k, uint64_t seed)
{
    return hmap_hash_bytes(k, WINDOW_KEY_MAX, seed);
}

static bool key_equal(const void *a, const void *b)
{
    return memcmp(a, b, WINDOW_KEY_MAX) == 0;
}

static const struct hmap_type window_map_type = { key_hash, key_equal };

struct window *window_new(const struct window_config *cfg, size_t key_len, uint64_t seed)
{
    if (key_len > WINDOW_KEY_MAX)
        return NULL;
    struct window *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (w->cfg.max_distinct < w->cfg.threshold)
        w->cfg.max_distinct = w->cfg.threshold;
    w->key_len = key_len;
    w->map = hmap_new(&window_map_type, cfg->max_keys, seed);
    if (!w->map) {
        free(w);
        return NULL;
    }
    return w;
}

static void entry_free(struct window *w, struct window_entry *e)
{
    w->item_bytes -= e->cap * sizeof *e->items;
    free(e->items);
    free(e);
}

void window_free(struct window *w, void (*free_user)(void *user))
{
    if (!w)
        return;
    size_t it = 0;
    struct window_entry *e;
    while ((e = hmap_next(w->map, &it, NULL))) {
        if (free_user && e->user)
            free_user(e->user);
        entry_free(w, e);
    }
    hmap_free(w->map);
    free(w);
}

static void padded(const struct window *w, const void *key, uint8_t out[WINDOW_KEY_MAX])
{
    memset(out, 0, WINDOW_KEY_MAX);
    memcpy(out, key, w->key_len);
}

struct window_entry *window_get(struct window *w, const void *key)
{
    uint8_t k[WINDOW_KEY_MAX];
    padded(w, key, k);
    return hmap_get(w->map, k);
}

/* drop values last seen before t_us - span */
static void purge(struct window *w, struct window_entry *e, int64_t t_us)
{
    int64_t cut = t_us - w->cfg.span_us - e->first_us;
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->distinct; i++)
        if ((int64_t)e->items[i].ms * 1000 >= cut)
            e->items[n++] = e->items[i];
    e->distinct = n;
}

int window_add(struct window *w, const void *key, uint64_t x, int64_t t_us, uint32_t threshold,
               struct window_entry **out)
{
    uint8_t k[WINDOW_KEY_MAX];
    padded(w, key, k);
    struct window_entry *e = hmap_get(w->map, k);
    if (!threshold)
        threshold = w->cfg.threshold;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return -1;
        memcpy(e->key, k, WINDOW_KEY_MAX);
        e->first_us = e->last_us = t_us;
        int rc = hmap_put(w->map, e->key, e);
        if (rc < 0) {
            free(e);
            return rc == HMAP_ERR_FULL ? WINDOW_ERR_FULL : -1;
        }
    }
    if (out)
        *out = e;
    if (t_us > e->last_us)
        e->last_us = t_us;
    if (t_us < e->first_us)
        t_us = e->first_us;     /* late record: counted at the entry's start */
    uint32_t h = (uint32_t)(x ^ (x >> 32)) * 2654435761u ^ (uint32_t)(x >> 17);
    uint32_t ms = (uint32_t)((t_us - e->first_us) / 1000);
    for (uint32_t i = 0; i < e->distinct; i++)
        if (e->items[i].hash == h) {
            if (ms > e->items[i].ms)
                e->items[i].ms = ms;
            return WINDOW_DUP;
        }
    if (e->distinct == e->cap) {
        purge(w, e, t_us);
        if (e->distinct == e->cap) {
            if (e->cap >= w->cfg.max_distinct) {
                w->dropped_values++;
                e->total++;
                return WINDOW_NEW;
            }
            uint32_t nc = e->cap ? e->cap * 2 : 4;
            if (nc > w->cfg.max_distinct)
                nc = w->cfg.max_distinct;
            struct window_item *ni = realloc(e->items, nc * sizeof *ni);
            if (!ni)
                return -1;
            w->item_bytes += (nc - e->cap) * sizeof *ni;
            e->items = ni;
            e->cap = nc;
        }
    }
    e->items[e->distinct++] = (struct window_item){ h, ms };
    e->total++;
    if (e->raised || e->distinct < threshold)
        return WINDOW_NEW;
    purge(w, e, t_us);
    if (e->distinct < threshold)
        return WINDOW_NEW;
    e->raised = true;
    return WINDOW_RAISE;
}

size_t window_expire(struct window *w, int64_t now_us,
                     void (*fn)(struct window_entry *e, void *ctx), void *ctx)
{
    size_t it = 0, n = 0;
    struct window_entry *e;
    while ((e = hmap_next(w->map, &it, NULL))) {
        if (e->last_us >= now_us - w->cfg.span_us)
            continue;
        hmap_remove_iter(w->map, &it);
        if (fn)
            fn(e, ctx);
        entry_free(w, e);
        n++;
    }
    return n;
}

struct window_stats window_stats(const struct window *w)
{
    struct hmap_stats hs = hmap_stats(w->map);
    return (struct window_stats){ hs.entries, hs.full, w->dropped_values,
                                  sizeof *w + hs.bytes + hs.entries * sizeof(struct window_entry) +
                                  w->item_bytes };
}
