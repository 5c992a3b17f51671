/* frag_table.c -- ports for later IP fragments (see frag_table.h).
 * Owns:  the entry array.
 * Never: allocates per packet. */
#include "frag_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAG_MAX_AGE_US (30LL * 1000000)

struct frag_entry {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto, used;
    uint16_t sport, dport;
    int64_t ts_us;
};

struct frag_table {
    struct frag_entry *e;
    size_t mask;
};

struct frag_table *frag_table_new(size_t entries, char err[ASH_ERR_LEN])
{
    size_t n = 1;
    while (n < entries)
        n <<= 1;
    struct frag_table *t = calloc(1, sizeof *t);
    if (t)
        t->e = ash_calloc_array(n, sizeof *t->e);
    if (!t || !t->e) {
        snprintf(err, ASH_ERR_LEN, "frag_table: cannot allocate %zu entries", n);
        frag_table_free(t);
        return NULL;
    }
    t->mask = n - 1;
    return t;
}

void frag_table_free(struct frag_table *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

static size_t slot_of(const struct frag_table *t, const struct decoded *d)
{
    uint64_t h = d->frag_id * 0x9e3779b97f4a7c15ULL;
    for (int i = 12; i < 16; i++)
        h = (h ^ d->src[i] ^ ((uint64_t)d->dst[i] << 8)) * 0x100000001b3ULL;
    h ^= d->ip_proto;
    return (size_t)(h ^ (h >> 29)) & t->mask;
}

bool frag_table_ports(struct frag_table *t, struct decoded *d, int64_t ts_us)
{
    struct frag_entry *e = &t->e[slot_of(t, d)];
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
