/* window.h -- windowed distinct counters with a threshold ("count distinct X per key over a
 * window, raise at the threshold"), as Zeek's SumStats; every detector is a user of it.
 * Owns:  one entry per key (hash map, common/hmap.h), each with the distinct values seen in
 *        the sliding window (a 32-bit hash and a time per value) and a raised flag.
 * Lends: entries, valid until the next window_add() or window_expire() on the same window.
 * Never: allocates more than max_keys entries (an add at the cap fails and is counted) or more
 *        than max_distinct values per entry (later ones are counted, not kept).
 * Trap:  values older than span_us are dropped when the count reaches the threshold (and when
 *        the value array is full), so `distinct` can include stale values between purges; it
 *        is exact at the moment an add returns WINDOW_RAISE. Entries whose last add is older
 *        than span_us go at window_expire(), through the caller's callback first. */
#ifndef ASHIATO_WINDOW_H
#define ASHIATO_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WINDOW_KEY_MAX   40
#define WINDOW_DUP       0      /* value already counted in the window */
#define WINDOW_NEW       1      /* a new distinct value, threshold not (newly) reached */
#define WINDOW_RAISE     2      /* this value made the count reach the threshold */
#define WINDOW_ERR_FULL  (-2)   /* at max_keys: the key is not tracked (counted in stats) */

struct window_config {
    int64_t span_us;            /* sliding window length */
    uint32_t threshold;         /* default threshold (an add may pass its own) */
    uint32_t max_distinct;      /* values kept per entry (>= threshold) */
    size_t max_keys;            /* entries at most (0: no cap) */
};

struct window_entry {
    uint8_t key[WINDOW_KEY_MAX];
    int64_t first_us, last_us;  /* first and last add of this entry */
    uint32_t distinct;          /* values in the array (see Trap) */
    uint64_t total;             /* distinct values since the entry began (kept or not) */
    bool raised;                /* the threshold was reached once; stays set */
    void *user;                 /* the caller's state (e.g. its alert); freed by the caller */
    uint64_t mask;              /* the caller's bits (e.g. segments seen); window never reads */
    uint32_t cap;
    struct window_item { uint32_t hash, ms; } *items;   /* ms since first_us */
};

struct window_stats {
    size_t entries;
    uint64_t full;              /* adds refused at max_keys */
    uint64_t dropped_values;    /* distinct values beyond max_distinct (counted, not kept) */
    size_t bytes;               /* memory held (map, entries, value arrays) */
};

struct window;

/* NULL when out of memory or key_len > WINDOW_KEY_MAX. */
struct window *window_new(const struct window_config *cfg, size_t key_len, uint64_t seed);
/* Frees every entry; free_user (may be NULL) is called on each entry's user first. */
void window_free(struct window *w, void (*free_user)(void *user));

/* Count value x for key at time t_us against threshold (0: the config's). *out (may be NULL)
 * is the entry. Returns WINDOW_DUP/NEW/RAISE, WINDOW_ERR_FULL or -1 (out of memory). */
int window_add(struct window *w, const void *key, uint64_t x, int64_t t_us, uint32_t threshold,
               struct window_entry **out);
/* The same for a key of key_len 16 whose map hash was taken (window_key_hash): no hashing
 * again when its entry exists. */
int window_add_hash(struct window *w, const void *key, uint64_t hash, uint64_t x, int64_t t_us,
                    uint32_t threshold, struct window_entry **out);
struct window_entry *window_get(struct window *w, const void *key);
/* A hint before a window_add/window_get of key: starts loading its map slot. */
void window_prefetch(const struct window *w, const void *key);
/* The same in steps a few adds apart, for a key of key_len 16 whose map hash was taken once
 * (window_key_hash): step 0 starts loading its map slot, step 1 its entry (the slot loaded),
 * step 2 the entry's value slot for x (the entry loaded). */
uint64_t window_key_hash(const struct window *w, const void *key);
void window_prefetch_step(const struct window *w, const void *key, uint64_t hash, uint64_t x,
                          int step);
/* Step 2 above that also returns the entry it found (NULL: none yet), for window_add_entry
 * a few adds later. The entry stays valid while window_generation() is unchanged (only
 * window_expire removes entries, and it moves the generation when it does). */
struct window_entry *window_prefetch_entry(const struct window *w, const void *key,
                                           uint64_t hash, uint64_t x);
uint64_t window_generation(const struct window *w);
/* window_add for the entry of key, found already (window_prefetch_entry, same generation). */
int window_add_entry(struct window *w, struct window_entry *e, uint64_t x, int64_t t_us,
                     uint32_t threshold, struct window_entry **out);

/* Remove entries whose last add is before now_us - span_us; fn (may be NULL) sees each
 * before it goes and frees its user. Returns how many went. */
size_t window_expire(struct window *w, int64_t now_us,
                     void (*fn)(struct window_entry *e, void *ctx), void *ctx);

struct window_stats window_stats(const struct window *w);

#endif
