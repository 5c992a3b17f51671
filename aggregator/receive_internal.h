/* receive_internal.h -- what receive.c and receive_commit.c share: the receiver's state.
 * Owns:  the layout of struct receive, its streams, routes and pending group.
 * Never: is included outside aggregator/receive*.c (callers see receive.h only).
 * Trap:  see receive.c's header: pending envelopes live in the arena until their commit. */
#ifndef ASHIATO_RECEIVE_INTERNAL_H
#define ASHIATO_RECEIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "receive.h"
#include "receive_arena.h"

#define STREAM_KEY_LEN 160
#define ROUTING_ID_MAX 256

/* ---- streams, the pending group -------------------------------------------------------- */

struct stream {
    char name[128];                  /* authenticated sensor name */
    char key[STREAM_KEY_LEN];        /* name#epoch: the store's sequence key */
    uint64_t epoch, committed;
    uint64_t queued;                 /* highest seq in the pending group, else committed */
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    bool ack_due;                    /* committed moved in this flush: send one ack */
    bool held;                       /* a batch of this stream failed in this flush */
    char reason[256];                /* for the next ack: why reason_seq was refused or lost
                                      * records ("" = nothing to say) */
    uint64_t reason_seq;
    bool reason_refused;
    int64_t last_refusal_ack_ms;     /* refusals are answered at most once a second */
    time_t last_identity_log;        /* refusals are logged at most once per 10 s a stream */
    uint64_t identity_refused, identity_logged;
};

/* where each authenticated sensor was last heard from: packet requests go back that way */
struct route {
    char name[128];
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
};

struct pending {
    Ashiato__Batch *batch;           /* in the arena */
    const ProtobufCBinaryData *packed;  /* in the arena: each record's bytes, or NULL */
    size_t stream;                   /* index into streams (they may move on realloc) */
    size_t bad_times, first_bad;     /* records with a time outside 1970..2100, the first */
};

struct receive {
    struct receive_config cfg;
    struct store *st;
    void *sock, *mon;
    struct stream *streams;
    size_t nstreams;
    struct pending *pend;
    size_t npend, pend_cap, pend_records;
    struct store_batch *sb;          /* store_put_batches_packed arguments, pend_cap long */
    const ProtobufCBinaryData **sbp;
    struct receive_arena arena;
    ProtobufCAllocator alloc;
    struct receive_stats stats;
    time_t last_refusal_log[4];      /* [0] key not allowed, [1] plaintext, [2] wrong server
                                      * key, [3] other handshake failures */
    time_t last_retry_log, last_bad_log;
    uint64_t bad_logged;             /* stats.bad_messages at the last "rejected" line */
    struct route *routes;
    size_t nroutes;
    receive_response_fn on_response;
    void *response_ctx;
    receive_commit_fn on_commit;
    void *commit_ctx;
    struct receive_committed *hookv; /* on_commit's argument, pend_cap long */
    dev_t store_dev;                 /* the store file as opened (cfg.store_path) */
    ino_t store_ino;
    time_t last_lost_log, last_drop_log;
    int64_t last_tick_ms;
    /* the current ingest burst, for the debug line the benchmark reads */
    struct timespec burst_start, burst_last;
    uint64_t burst_records, burst_groups;
};

/* receive_commit.c */
/* An ack of what is committed, with the stream's pending reason (then cleared). */
void receive_send_ack(struct receive *r, struct stream *s);
/* What the next ack tells the sensor about seq (refused: not kept at all). */
void receive_set_reason(struct stream *s, uint64_t seq, bool refused, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The store file still the one opened (M7); logs once and counts when it is not. */
bool receive_store_file_ok(struct receive *r);
/* Commit the pending group, acknowledge, reset the arena (see receive_commit.c). */
void receive_flush(struct receive *r);

#endif
