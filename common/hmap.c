/* hmap.c -- the one hash map (see hmap.h): open addressing, linear probing, backward-shift
 * deletion, doubling growth up to a cap.
 * Owns:  the slot array.
 * Never: touches what keys and values point to. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ashiato.h"

struct slot {
    uint64_t hash;              /* 0 = empty (real hashes are forced non-zero) */
    const void *key;
    void *val;
};

struct hmap {
    const struct hmap_type *type;
    struct slot *slots;
    size_t mask, count, max_entries;
    uint64_t seed, full;
};

static uint64_t key_hash(const struct hmap *m, const void *key)
{
    uint64_t h = m->type->hash(key, m->seed);
    return h ? h : 1;
}

struct hmap *hmap_new(const struct hmap_type *type, size_t max_entries, uint64_t seed)
{
    struct hmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = type;
    m->max_entries = max_entries;
    m->seed = seed;
    m->slots = hmap_big_calloc(16, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->mask = 15;
    return m;
}

#define BIG_BYTES ((size_t)2 << 20)

void *hmap_big_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes < BIG_BYTES)
        return calloc(n ? n : 1, size ? size : 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);       /* a hint: without it, 4 KiB pages as calloc's */
#endif
#ifdef MADV_POPULATE_WRITE
    /* fault it in now, writable: a first lookup (a read) would map the shared huge zero page
     * and the first insert then fault again to copy it, each 2 MiB page twice and in the
     * middle of the records. A kernel without it (before 5.14) faults on first use, as before. */
    madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
    return p;
}

void hmap_big_free(void *p, size_t n, size_t size)
{
    if (!p)
        return;
    if (n * size < BIG_BYTES)
        free(p);
    else
        munmap(p, n * size);
}

void hmap_free(struct hmap *m)
{
    if (!m)
        return;
    hmap_big_free(m->slots, m->mask + 1, sizeof *m->slots);
    free(m);
}

static size_t find(const struct hmap *m, const void *key, uint64_t h, bool *found)
{
    size_t i = h & m->mask;
    for (;;) {
        const struct slot *s = &m->slots[i];
        if (!s->hash) {
            *found = false;
            return i;
        }
        if (s->hash == h && m->type->equal(s->key, key)) {
            *found = true;
            return i;
        }
        i = (i + 1) & m->mask;
    }
}

void *hmap_get(const struct hmap *m, const void *key)
{
    bool found;
    size_t i = find(m, key, key_hash(m, key), &found);
    return found ? m->slots[i].val : NULL;
}

void hmap_prefetch(const struct hmap *m, const void *key)
{
    __builtin_prefetch(&m->slots[key_hash(m, key) & m->mask]);
}

uint64_t hmap_key_hash(const struct hmap *m, const void *key)
{
    return key_hash(m, key);
}

void hmap_prefetch_hash(const struct hmap *m, uint64_t hash)
{
    __builtin_prefetch(&m->slots[hash & m->mask]);
}

void *hmap_get_hash(const struct hmap *m, const void *key, uint64_t hash)
{
    bool found;
    size_t i = find(m, key, hash, &found);
    return found ? m->slots[i].val : NULL;
}

void hmap_prefetch_value(const struct hmap *m, uint64_t h)
{
    for (size_t i = h & m->mask; m->slots[i].hash; i = (i + 1) & m->mask)
        if (m->slots[i].hash == h) {
            __builtin_prefetch(m->slots[i].val);
            return;
        }
}

static int grow(struct hmap *m)
{
    size_t n = (m->mask + 1) * 2;
    struct slot *ns = hmap_big_calloc(n, sizeof *ns), *old = m->slots;
    if (!ns)
        return -1;
    size_t oldn = m->mask + 1;
    m->slots = ns;
    m->mask = n - 1;
    for (size_t i = 0; i < oldn; i++) {
        if (!old[i].hash)
            continue;
        size_t j = old[i].hash & m->mask;
        while (ns[j].hash)
            j = (j + 1) & m->mask;
        ns[j] = old[i];
    }
    hmap_big_free(old, oldn, sizeof *old);
    return 0;
}

int hmap_put(struct hmap *m, const void *key, void *val)
{
    uint64_t h = key_hash(m, key);
    bool found;
    size_t i = find(m, key, h, &found);
    if (found) {
        m->slots[i].key = key;
        m->slots[i].val = val;
        return 1;
    }
    if (m->max_entries && m->count >= m->max_entries) {
        m->full++;
        return HMAP_ERR_FULL;
    }
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        if (grow(m) < 0)
            return -1;
        i = find(m, key, h, &found);
    }
    m->slots[i] = (struct slot){ h, key, val };
    m->count++;
    return 0;
}

/* Empty slot i and shift later members of its probe chain back (Knuth's algorithm R).
 * Returns the slot the entry now in slot i came from (or i when it stays empty). */
static size_t delete_at(struct hmap *m, size_t i)
{
    size_t j = i, first = i, start = i;
    for (;;) {
        m->slots[i].hash = 0;
        for (;;) {
            j = (j + 1) & m->mask;
            if (!m->slots[j].hash) {
                m->count--;
                return first;
            }
            size_t home = m->slots[j].hash & m->mask;
            /* j's entry may move to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        m->slots[i] = m->slots[j];
        if (i == start)
            first = j;
        i = j;
    }
}

void *hmap_remove(struct hmap *m, const void *key)
{
    bool found;
    size_t i = find(m, key, key_hash(m, key), &found);
    if (!found)
        return NULL;
    void *v = m->slots[i].val;
    delete_at(m, i);
    return v;
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

struct hmap_stats hmap_stats(const struct hmap *m)
{
    return (struct hmap_stats){ m->count, m->mask + 1, m->max_entries, m->full,
                                sizeof *m + (m->mask + 1) * sizeof(struct slot) };
}

void *hmap_next(const struct hmap *m, size_t *it, const void **key)
{
    while (*it <= m->mask) {
        const struct slot *s = &m->slots[(*it)++];
        if (s->hash) {
            if (key)
                *key = s->key;
            return s->val;
        }
    }
    return NULL;
}

/* Backward shift may move a later entry into the emptied slot: step back so it is visited.
 * One that wrapped around from the array's start was visited already and is not. (Entries
 * shifted further along a chain that wraps may be seen twice; callers expiring entries
 * check each one again, which is harmless.) */
void hmap_remove_iter(struct hmap *m, size_t *it)
{
    size_t i = *it - 1;
    size_t from = delete_at(m, i);
    if (from > i)
        *it = i;
}

uint64_t hmap_hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = ash_mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
        b += 8;
        n -= 8;
    }
    uint64_t w = 0;     /* the tail (< 8 bytes) as memcpy would load it, without a call */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)b[i] << (8 * i);
#else
    memcpy(&w, b, n);
#endif
    return ash_mix64(h ^ w ^ ((uint64_t)n << 56));
}

uint64_t hmap_hash_str(const void *s, uint64_t seed)
{
    return hmap_hash_bytes(s, strlen(s), seed);
}

bool hmap_equal_str(const void *a, const void *b)
{
    return strcmp(a, b) == 0;
}
