/* hmap.h -- the one hash map: open addressing, linear probing, bounded growth.
 * Owns:  its slot array (hash, key pointer, value pointer per slot) and nothing else.
 * Lends: values back to the caller, valid until the caller frees them.
 * Never: copies or frees keys or values (caller-owned, as Redis dict.c without free
 *        methods); grows past max_entries (an insert at the cap fails and is counted).
 * Trap:  a key must stay valid and unchanged while its entry is in the map: put the key
 *        inside the value struct it maps to. Removing during hmap_next() iteration is
 *        allowed only for the entry just returned (hmap_remove_iter).
 *
 * Deletion is backward-shift (no tombstones), so probe chains stay short under churn
 * (per-source state that expires). Growth doubles the slot array while the load passes 3/4;
 * the cap bounds memory: slots <= 2 * next_pow2(max_entries). */
#ifndef ASHIATO_HMAP_H
#define ASHIATO_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAP_ERR_FULL (-2)      /* at max_entries: nothing inserted, hmap_stats().full++ */

struct hmap_type {
    uint64_t (*hash)(const void *key, uint64_t seed);
    bool (*equal)(const void *a, const void *b);
};

struct hmap;

struct hmap_stats {
    size_t entries, slots, max_entries;
    uint64_t full;              /* inserts refused at the cap */
    size_t bytes;               /* memory the map itself holds */
};

/* A map with room for max_entries (0: no cap), hashing with seed. NULL if out of memory. */
struct hmap *hmap_new(const struct hmap_type *type, size_t max_entries, uint64_t seed);
void hmap_free(struct hmap *m);          /* the slots only; accepts NULL */

void *hmap_get(const struct hmap *m, const void *key);
/* Start loading the slot where key's lookup begins (a hint: a later hmap_get of it is faster). */
void hmap_prefetch(const struct hmap *m, const void *key);
/* The same with key's hash already taken (hmap_key_hash), and the next step of that hint,
 * once the slot is loaded: start loading the value of the first slot whose hash matches (its
 * key is not compared, so no value is read). */
uint64_t hmap_key_hash(const struct hmap *m, const void *key);
void hmap_prefetch_hash(const struct hmap *m, uint64_t hash);
void hmap_prefetch_value(const struct hmap *m, uint64_t hash);
/* hmap_get with key's hash already taken */
void *hmap_get_hash(const struct hmap *m, const void *key, uint64_t hash);
/* Insert key -> val. 0 inserted, 1 replaced an existing key's value (the old key pointer is
 * replaced by this one), HMAP_ERR_FULL at the cap, -1 out of memory. */
int hmap_put(struct hmap *m, const void *key, void *val);
/* Remove key; returns its value or NULL when absent. */
void *hmap_remove(struct hmap *m, const void *key);
size_t hmap_count(const struct hmap *m);
struct hmap_stats hmap_stats(const struct hmap *m);

/* Iteration: size_t it = 0; while ((v = hmap_next(m, &it, &key))) ...  Inserting during an
 * iteration may move entries (some seen twice or missed); use hmap_remove_iter to remove. */
void *hmap_next(const struct hmap *m, size_t *it, const void **key);
/* Remove the entry hmap_next just returned, keeping the iteration exact. */
void hmap_remove_iter(struct hmap *m, size_t *it);

/* Zeroed memory for n elements of size bytes, as calloc; an array of 2 MiB or more is its own
 * mapping, advised to use huge pages (a random lookup in it then misses the TLB far less
 * often, and it faults in 2 MiB at a time), faulted in writable at once (MADV_POPULATE_WRITE)
 * rather than page by page on first use. Free it with hmap_big_free and the same n, size. */
void *hmap_big_calloc(size_t n, size_t size);
void hmap_big_free(void *p, size_t n, size_t size);

/* Hash helpers: seeded, for fixed-size keys and C strings. */
uint64_t hmap_hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t hmap_hash_str(const void *s, uint64_t seed);
bool hmap_equal_str(const void *a, const void *b);

#endif
