/* journal_replay.h -- what the bench loaders that put sensor journals into a store share
 * (store_replay.c, dataset_load.c): reading a journal segment, packing a record again, and a
 * timed store_put_batches_packed. Static inline, so each loader stays one `cc` line
 * (bench/aggregator_ingest.sh, bench/dataset_10m.sh build them against the build's libraries).
 * Owns:  the segment's bytes while it reads them (its batches then are the caller's: free
 *        each with ashiato__batch__free_unpacked), the timer's sums.
 * Never: part of the product or of ctest; prints anything but a failure, on stderr, after the
 *        loader's name.
 * Trap:  a segment entry is "ASHJ" u32, payload length u32, seq u64, records u32, crc u32,
 *        then the packed Batch (sensor/outbox.c); the crc is not checked (bench input). */
#ifndef ASHIATO_JOURNAL_REPLAY_H
#define ASHIATO_JOURNAL_REPLAY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store.h"

static inline double journal_replay_now(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline uint32_t journal_replay_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Append the batches of the segment file at path to *v (*n of them); -1 with a message. */
static inline int journal_replay_load(const char *prog, const char *path, Ashiato__Batch ***v,
                                      size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "%s: %s: cannot read\n", prog, path);
        if (f)
            fclose(f);
        return -1;
    }
    long size = ftell(f);
    uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
    int ok = buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    for (size_t off = 0; ok && off + 24 <= (size_t)size;) {
        uint32_t len = journal_replay_le32(buf + off + 4);
        Ashiato__Batch **nv = realloc(*v, (*n + 1) * sizeof **v);
        if (journal_replay_le32(buf + off) != 0x4a485341u || len > (size_t)size - off - 24 || !nv) {
            ok = 0;
            break;
        }
        *v = nv;
        if (!((*v)[*n] = ashiato__batch__unpack(NULL, len, buf + off + 24))) {
            ok = 0;
            break;
        }
        (*n)++;
        off += 24 + len;
    }
    free(buf);
    if (!ok)
        fprintf(stderr, "%s: %s: not a journal segment\n", prog, path);
    return ok ? 0 : -1;
}

/* r packed again into out (its buffer grown as needed: what the aggregator hands the store
 * as the bytes the sensor sent); -1 when out of memory. */
static inline int journal_replay_pack(const Ashiato__SessionRecord *r, ProtobufCBinaryData *out)
{
    size_t len = ashiato__session_record__get_packed_size(r);
    uint8_t *b = realloc(out->data, len ? len : 1);
    if (!b)
        return -1;
    out->data = b;
    out->len = ashiato__session_record__pack(r, b);
    return 0;
}

struct journal_replay_timer {        /* the time inside the store only */
    double wall, cpu, longest;        /* seconds; longest: the slowest call (a commit's stall) */
};

/* store_put_batches_packed, timed into t; -1 with the store's message. */
static inline int journal_replay_put(const char *prog, struct store *st,
                                     const struct store_batch *sb, size_t n,
                                     const ProtobufCBinaryData *const *packed,
                                     struct journal_replay_timer *t)
{
    double w = journal_replay_now(CLOCK_MONOTONIC), c = journal_replay_now(CLOCK_PROCESS_CPUTIME_ID);
    if (store_put_batches_packed(st, sb, n, packed) != STORE_OK) {
        fprintf(stderr, "%s: %s\n", prog, store_error(st));
        return -1;
    }
    w = journal_replay_now(CLOCK_MONOTONIC) - w;
    t->wall += w;
    t->longest = w > t->longest ? w : t->longest;
    t->cpu += journal_replay_now(CLOCK_PROCESS_CPUTIME_ID) - c;
    return 0;
}

#endif
