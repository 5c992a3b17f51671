/* outbox.h -- the sensor's durable spool of session batches (the journal).
 * Owns:  the journal directory: segment files of length-prefixed, CRC-checked entries (one
 *        packed Batch each, with its sequence number), the acknowledged watermark file, the
 *        epoch (random id of this journal), and the size bound with its drop accounting.
 * Lends: nothing; outbox_read() returns a malloc'd copy the caller frees.
 * Never: loses an entry silently: a torn tail from a crash is cut and counted, the size bound
 *        drops the oldest unacknowledged batches and counts them (batches and records), a
 *        batch that cannot be written (a full disk) is counted as failed, and all of these
 *        reach sensor stats. Never touches sockets (ship.c does). Never shares its directory:
 *        outbox_open takes an exclusive flock on DIR/.lock (one sensor per outbox_dir).
 * Trap:  sequence numbers continue across restarts from the journal and the ack file; a wiped
 *        journal gets a new epoch so the aggregator does not take its seq 1 for a replay. */
#ifndef ASHIATO_OUTBOX_H
#define ASHIATO_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define OUTBOX_ERR_IO   -2           /* a write or fsync failed: the batch is not durable */
#define OUTBOX_ERR_GONE -3           /* outbox_read: acknowledged or dropped */

struct outbox_config {
    char dir[1024];
    long long max_bytes;             /* journal bound; past it the oldest unacked are dropped */
    long long segment_bytes;         /* a segment file is closed past this size */
    bool sync;                       /* batches durable across power loss before they are sent
                                      * (outbox_sync_*), else across a process crash only */
};

struct outbox_stats {
    uint64_t epoch;
    uint64_t next_seq;               /* the seq the next append gets */
    uint64_t acked;                  /* watermark: every seq <= acked is acknowledged */
    uint64_t pending_batches, pending_bytes, pending_records;
    uint64_t dropped_batches, dropped_records;   /* size bound hit */
    uint64_t torn_entries;           /* cut at open: a crash mid-append */
    uint64_t segments;
    uint64_t disk_bytes;             /* the segment files' size (acknowledged parts included) */
    /* this process's totals */
    uint64_t appended_batches, appended_records;   /* journalled */
    uint64_t acked_batches, acked_records;         /* acknowledged by the aggregator */
    uint64_t failed_batches, failed_records;       /* not journalled: a write failed (ENOSPC) */
};

struct outbox;

struct outbox *outbox_open(const struct outbox_config *cfg, char err[ASH_ERR_LEN]);
void outbox_close(struct outbox *ob);
const char *outbox_error(const struct outbox *ob);

/* Append one packed Batch holding `records` records; *seq gets its sequence number (the
 * caller packs the batch with that seq: call outbox_next_seq() first). 0 once written: it
 * survives the process; with cfg.sync it survives a power loss once outbox_is_durable().
 * OUTBOX_ERR_IO when the write failed (outbox_error() has the strerror text, e.g. "No space
 * left on device"): the batch is not in the journal, its seq is not used, and it is counted
 * in failed_batches/failed_records; the caller drops it (retrying a growing batch on a full
 * disk was O(n^2), issue 14 H3). A write segment that holds only acknowledged batches is
 * replaced by a fresh one and the write tried once more first, so acknowledged bytes never
 * keep a small disk full. */
uint64_t outbox_next_seq(const struct outbox *ob);
uint64_t outbox_epoch(const struct outbox *ob);
int outbox_append(struct outbox *ob, uint64_t seq, const uint8_t *data, size_t len,
                  uint32_t records);

/* Everything <= seq is committed at the aggregator: persist the watermark, remove segments
 * that hold nothing newer. Acks below the watermark are ignored. */
int outbox_ack(struct outbox *ob, uint64_t seq);

/* The first unacknowledged seq greater than `after`, 0 if none. */
uint64_t outbox_next_pending(const struct outbox *ob, uint64_t after);

/* Copy of entry seq (malloc'd into *data). OUTBOX_ERR_GONE if acked or dropped. */
int outbox_read(struct outbox *ob, uint64_t seq, uint8_t **data, size_t *len);

void outbox_stats(const struct outbox *ob, struct outbox_stats *out);

/* Making appended batches durable (cfg.sync) without holding the caller's lock during the
 * fdatasync, so the appending (capture) thread never waits for the disk:
 *   lock; need = outbox_sync_prepare(ob, &job); unlock;
 *   if (need) { outbox_sync_run(&job); lock; rc = outbox_sync_done(ob, &job); unlock; }
 * prepare returns 1 when something appended is not yet durable (job then owns descriptors
 * that run closes); done returns OUTBOX_ERR_IO (message in outbox_error) if a sync failed. */
#define OUTBOX_SYNC_FDS_MAX 5
struct outbox_sync {
    int fds[OUTBOX_SYNC_FDS_MAX];
    size_t n;
    uint64_t upto;                   /* every seq <= upto is durable once run succeeds */
    int err;                         /* errno of the first failure */
};
int outbox_sync_prepare(struct outbox *ob, struct outbox_sync *job);
int outbox_sync_run(struct outbox_sync *job);
int outbox_sync_done(struct outbox *ob, const struct outbox_sync *job);
bool outbox_is_durable(const struct outbox *ob, uint64_t seq);

#endif
