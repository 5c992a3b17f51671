/* receive_arena.h -- the bump allocator receive.c unpacks each group of batches into.
 * Owns:  its chunks (kept across resets up to RECEIVE_ARENA_KEEP) and the table of big
 *        blocks that protobuf-c frees and asks for again.
 * Lends: every allocation, valid until the next receive_arena_reset().
 * Never: frees a chunk on reset below the keep bound; grows past RECEIVE_ARENA_LIMIT.
 * Trap:  reset only when nothing unpacked into it is still referenced (receive.c resets it
 *        after a group is committed or dropped). */
#ifndef ASHIATO_RECEIVE_ARENA_H
#define ASHIATO_RECEIVE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/* ---- the arena -------------------------------------------------------------------------
 * protobuf-c unpacks a record into about 15 separate allocations. Bump-allocating them from
 * chunks that are reused for every group, instead of malloc/free each, cut unpacking the
 * campus journals from 1094 to 715 ns per record (bench/RESULTS.md, aggregator_ingest).
 * protobuf-c also allocates and frees scratch slabs while it parses (about 1 KiB per record
 * with more than 16 fields set), so blocks of RECEIVE_ARENA_BIG bytes or more are kept and
 * recycled on free: a group of 24 campus batches then takes 1232 bytes of arena per record
 * (the frame's copy included), without recycling 2149.
 * The arena's limit also bounds what one message may unpack to (a 64 MiB batch of empty
 * records would otherwise ask for gigabytes). */
#define RECEIVE_ARENA_CHUNK  (1u << 20)
#define RECEIVE_ARENA_BIG    512
#define RECEIVE_ARENA_BIGS   64
#define RECEIVE_ARENA_LIMIT  ((size_t)1 << 30)      /* unpacked bytes of one group, at most */
#define RECEIVE_ARENA_KEEP   ((size_t)64 << 20)     /* chunks kept across resets */

struct receive_arena_chunk {
    struct receive_arena_chunk *next;
    size_t size, used;
    max_align_t data[];
};

struct receive_arena {
    struct receive_arena_chunk *first, *cur;
    size_t bytes;                    /* sum of chunk sizes */
    bool exhausted;                  /* an allocation hit the limit (reset per message) */
    struct { void *p; size_t size; bool free; } big[RECEIVE_ARENA_BIGS];
    size_t nbig;
};

/* n bytes (a multiple of 16) from the chunks, NULL past RECEIVE_ARENA_LIMIT */
void *receive_arena_bump(struct receive_arena *a, size_t n);
/* protobuf-c's allocator pair (data = the arena) */
void *receive_arena_alloc(void *data, size_t n);
void receive_arena_free(void *data, void *p);
/* forget every allocation; keep up to RECEIVE_ARENA_KEEP bytes of chunks */
void receive_arena_reset(struct receive_arena *a);
void receive_arena_release(struct receive_arena *a);

#endif
