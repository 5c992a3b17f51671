/* batcher.h -- session records into journalled batches.
 * Owns:  the batch being filled: records packed once into protobuf bytes as they come, then
 *        framed as a Batch (sensor, seq, epoch, time) and appended to the outbox when the batch
 *        is full by count or bytes, or old enough.
 * Lends: nothing.
 * Never: keeps a pointer to a record (they live only during the pipeline's emit); sends
 *        (ship.c does); runs per packet.
 * Trap:  outbox calls happen under the lock shared with the shipper thread. */
#ifndef ASHIATO_BATCHER_H
#define ASHIATO_BATCHER_H

#include <pthread.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "outbox.h"

struct batcher_config {
    long long max_records;           /* records per batch */
    long long max_bytes;             /* packed bytes per batch */
    long long max_age_ms;            /* a batch older than this is closed on the next tick */
};

struct batcher_stats {
    uint64_t records, batches, append_errors;
    uint64_t lost_batches, lost_records;   /* closed but not journalled (outbox write failed) */
};

struct batcher;

struct batcher *batcher_new(const struct batcher_config *cfg, const char *sensor,
                            struct outbox *ob, pthread_mutex_t *ob_lock, char err[ASH_ERR_LEN]);
void batcher_free(struct batcher *b);

/* pipeline output: add one record (0, or -1 if its batch could not be journalled) */
int batcher_add(void *b, const Ashiato__SessionRecord *rec);
/* close the batch if it is old enough (now_us), or always when force. -1 when the outbox
 * could not journal it (batcher_error() says why, with the strerror text): the batch is then
 * dropped and counted in lost_batches/lost_records, never kept to grow and be retried. */
int batcher_flush(struct batcher *b, int64_t now_us, bool force);
void batcher_stats(const struct batcher *b, struct batcher_stats *out);
const char *batcher_error(const struct batcher *b);

#endif
