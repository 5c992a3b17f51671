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
    uint64_t generation;        /* moves when window_expire removes entries */
};


/* Keys are zero-padded to WINDOW_KEY_MAX, so a window whose keys are at most 16 bytes (one
 * address: most detectors) hashes and compares 16 bytes, not 40: a lookup per record each. */
static uint64_t key_hash(const void *k, uint64_t seed)
{
    return hmap_hash_bytes(k, WINDOW_KEY_MAX, seed);
}

static bool key_equal(const void *a, const void *b)
{
    return memcmp(a, b, WINDOW_KEY_MAX) == 0;
}

static uint64_t key_hash16(const void *k, uint64_t seed)
{
    return hmap_hash_bytes(k, 16, seed);
}

static bool key_equal16(const void *a, const void *b)
{
    return memcmp(a, b, 16) == 0;
}

static const struct hmap_type window_map_type = { key_hash, key_equal };
static const struct hmap_type window_map_type16 = { key_hash16, key_equal16 };

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
    w->map = hmap_new(key_len <= 16 ? &window_map_type16 : &window_map_type, cfg->max_keys, seed);
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

void window_prefetch(const struct window *w, const void *key)
{
    if (w->key_len == 16) {     /* hashed as its 16 bytes: no padded copy needed */
        hmap_prefetch(w->map, key);
        return;
    }
    uint8_t k[WINDOW_KEY_MAX];
    padded(w, key, k);
    hmap_prefetch(w->map, k);
}

/* An entry's values: up to DENSE_MAX in a plain array searched in order; beyond, an open-
 * addressed table (linear probing, at most half full) so that a busy source's first-contact
 * test stays O(1). Hashes are never 0 (0 marks an empty slot). */
#define DENSE_MAX 8

static bool hashed(const struct window_entry *e)
{
    return e->cap > DENSE_MAX;
}

static uint32_t value_hash(uint64_t x)
{
    uint32_t h = (uint32_t)(x ^ (x >> 32)) * 2654435761u ^ (uint32_t)(x >> 17);
    return h + !h;
}

uint64_t window_key_hash(const struct window *w, const void *key)
{
    return w->key_len == 16 ? hmap_key_hash(w->map, key) : 0;
}

void window_prefetch_step(const struct window *w, const void *key, uint64_t hash, uint64_t x,
                          int step)
{
    if (w->key_len != 16)
        return;
    if (step == 0) {
        hmap_prefetch_hash(w->map, hash);
        return;
    }
    if (step == 1) {
        hmap_prefetch_value(w->map, hash);
        return;
    }
    window_prefetch_entry(w, key, hash, x);
}

struct window_entry *window_prefetch_entry(const struct window *w, const void *key,
                                           uint64_t hash, uint64_t x)
{
    if (w->key_len != 16)
        return NULL;
    struct window_entry *e = hmap_get_hash(w->map, key, hash);
    if (e && e->items)
        __builtin_prefetch(&e->items[e->cap > DENSE_MAX ? (value_hash(x) & (e->cap - 1)) : 0]);
    return e;
}

uint64_t window_generation(const struct window *w)
{
    return w->generation;
}

static struct window_item *slot_of(struct window_entry *e, uint32_t h, bool *found)
{
    if (!hashed(e)) {
        for (uint32_t i = 0; i < e->distinct; i++)
            if (e->items[i].hash == h) {
                *found = true;
                return &e->items[i];
            }
        *found = false;
        return e->distinct < e->cap ? &e->items[e->distinct] : NULL;
    }
    uint32_t m = e->cap - 1, i = h & m;
    while (e->items[i].hash) {
        if (e->items[i].hash == h) {
            *found = true;
            return &e->items[i];
        }
        i = (i + 1) & m;
    }
    *found = false;
    return &e->items[i];
}

static bool room(const struct window *w, const struct window_entry *e)
{
    if (!hashed(e))
        return e->distinct < e->cap;
    return e->distinct < w->cfg.max_distinct && (e->distinct + 1) * 2 <= e->cap;
}

/* Lay the values out again in a table of cap slots, keeping those last seen at or after
 * cut_ms (relative to first_us). -1 when out of memory (the entry is unchanged). */
static int rebuild(struct window *w, struct window_entry *e, uint32_t cap, int64_t cut_ms)
{
    struct window_item *ni = calloc(cap, sizeof *ni), *old = e->items;
    if (!ni)
        return -1;
    uint32_t oldcap = e->cap, n = 0;
    e->items = ni;
    e->cap = cap;
    e->distinct = 0;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (!old[i].hash || (int64_t)old[i].ms < cut_ms)
            continue;
        bool found;
        struct window_item *s = slot_of(e, old[i].hash, &found);
        if (!s)
            break;
        *s = old[i];
        e->distinct = ++n;
    }
    w->item_bytes = w->item_bytes - oldcap * sizeof *old + cap * sizeof *ni;
    free(old);
    return 0;
}

/* drop values last seen before t_us - span */
static void purge(struct window *w, struct window_entry *e, int64_t t_us)
{
    int64_t cut_ms = (t_us - w->cfg.span_us - e->first_us) / 1000;
    if (cut_ms <= 0)
        return;
    rebuild(w, e, e->cap, cut_ms);
}

static int add_to(struct window *w, struct window_entry *e, uint64_t x, int64_t t_us,
                  uint32_t threshold, struct window_entry **out);

int window_add_hash(struct window *w, const void *key, uint64_t hash, uint64_t x, int64_t t_us,
                    uint32_t threshold, struct window_entry **out)
{
    struct window_entry *e = w->key_len == 16 ? hmap_get_hash(w->map, key, hash) : NULL;
    if (!e)                     /* a new entry (or a padded key): the whole way */
        return window_add(w, key, x, t_us, threshold, out);
    return add_to(w, e, x, t_us, threshold, out);
}

int window_add_entry(struct window *w, struct window_entry *e, uint64_t x, int64_t t_us,
                     uint32_t threshold, struct window_entry **out)
{
    return add_to(w, e, x, t_us, threshold, out);
}

int window_add(struct window *w, const void *key, uint64_t x, int64_t t_us, uint32_t threshold,
               struct window_entry **out)
{
    uint8_t k[WINDOW_KEY_MAX];
    padded(w, key, k);
    struct window_entry *e = hmap_get(w->map, k);
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
    return add_to(w, e, x, t_us, threshold, out);
}

static int add_to(struct window *w, struct window_entry *e, uint64_t x, int64_t t_us,
                  uint32_t threshold, struct window_entry **out)
{
    if (!threshold)
        threshold = w->cfg.threshold;
    if (out)
        *out = e;
    if (t_us > e->last_us)
        e->last_us = t_us;
    if (t_us < e->first_us)
        t_us = e->first_us;     /* late record: counted at the entry's start */
    uint32_t h = value_hash(x);
    uint32_t ms = (uint32_t)((t_us - e->first_us) / 1000);
    bool found;
    struct window_item *s = slot_of(e, h, &found);
    if (found) {
        if (ms > s->ms)
            s->ms = ms;
        return WINDOW_DUP;
    }
    if (!room(w, e)) {
        purge(w, e, t_us);
        if (!room(w, e)) {
            if (hashed(e) && e->distinct >= w->cfg.max_distinct) {
                w->dropped_values++;
                e->total++;
                return WINDOW_NEW;
            }
            if (rebuild(w, e, e->cap ? e->cap * 2 : 4, 0) < 0)
                return -1;
        }
    }
    s = slot_of(e, h, &found);
    *s = (struct window_item){ h, ms };
    e->distinct++;
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
    if (n)
        w->generation++;
    return n;
}

struct window_stats window_stats(const struct window *w)
{
    struct hmap_stats hs = hmap_stats(w->map);
    return (struct window_stats){ hs.entries, hs.full, w->dropped_values,
                                  sizeof *w + hs.bytes + hs.entries * sizeof(struct window_entry) +
                                  w->item_bytes };
}
