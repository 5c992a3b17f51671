/* batcher.c -- records into journalled batches (see batcher.h).
 * Owns:  the open batch's byte buffer (grown as needed up to one batch, reused across
 *        batches; a batch the outbox refused is dropped and counted, so it stays bounded).
 * Never: re-encodes a record; logs. */
#include "batcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire.h"
#include "clock.h"

struct batcher {
    struct batcher_config cfg;
    char sensor[128];
    struct outbox *ob;
    pthread_mutex_t *lock;
    uint8_t *buf;                    /* packed records (Batch field 3 each) */
    size_t len, cap;
    uint32_t nrec;
    int64_t opened_us;
    struct batcher_stats st;
    char err[ASH_ERR_LEN];
};

struct batcher *batcher_new(const struct batcher_config *cfg, const char *sensor,
                            struct outbox *ob, pthread_mutex_t *ob_lock, char err[ASH_ERR_LEN])
{
    struct batcher *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, ASH_ERR_LEN, "batcher: out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    snprintf(b->sensor, sizeof b->sensor, "%s", sensor);
    b->ob = ob;
    b->lock = ob_lock;
    return b;
}

void batcher_free(struct batcher *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b);
}

static int reserve(struct batcher *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *n = realloc(b->buf, cap);
    if (!n)
        return -1;
    b->buf = n;
    b->cap = cap;
    return 0;
}

int batcher_flush(struct batcher *b, int64_t now_us, bool force)
{
    if (!b->nrec)
        return 0;
    if (!force && now_us - b->opened_us < b->cfg.max_age_ms * 1000)
        return 0;
    Ashiato__Batch hdr = ASHIATO__BATCH__INIT;
    hdr.sensor = b->sensor;
    hdr.created_us = (uint64_t)clock_wall_us();
    pthread_mutex_lock(b->lock);
    hdr.seq = outbox_next_seq(b->ob);
    hdr.epoch = outbox_epoch(b->ob);
    size_t hlen = ashiato__batch__get_packed_size(&hdr);
    int rc = reserve(b, hlen);
    if (rc == 0) {
        /* header fields after the records: field order does not matter in protobuf */
        ashiato__batch__pack(&hdr, b->buf + b->len);
        rc = outbox_append(b->ob, hdr.seq, b->buf, b->len + hlen, b->nrec);
        if (rc < 0)
            snprintf(b->err, sizeof b->err, "%s", outbox_error(b->ob));
    } else {
        snprintf(b->err, sizeof b->err, "batcher: out of memory");
    }
    pthread_mutex_unlock(b->lock);
    if (rc < 0) {
        /* dropped, not kept: a batch that stayed open on a full disk grew with every record
         * and was packed, checksummed and written again each time, O(n^2) at 100% CPU with
         * memory growing (issue 14 H3). The outbox counts it too. */
        b->st.append_errors++;
        b->st.lost_batches++;
        b->st.lost_records += b->nrec;
    } else {
        b->st.batches++;
    }
    b->len = 0;
    b->nrec = 0;
    return rc < 0 ? -1 : 0;
}

int batcher_add(void *ctx, const Ashiato__SessionRecord *rec)
{
    struct batcher *b = ctx;
    size_t n = ashiato__session_record__get_packed_size(rec);
    if (reserve(b, n + 11) < 0) {
        snprintf(b->err, sizeof b->err, "batcher: out of memory");
        return -1;
    }
    if (!b->nrec)
        b->opened_us = clock_wall_us();
    b->buf[b->len++] = (3 << 3) | 2;                  /* Batch.records */
    b->len += wire_put_varint(b->buf + b->len, n);
    b->len += ashiato__session_record__pack(rec, b->buf + b->len);
    b->nrec++;
    b->st.records++;
    if (b->nrec >= (uint64_t)b->cfg.max_records || b->len >= (size_t)b->cfg.max_bytes)
        return batcher_flush(b, 0, true);
    return 0;
}

void batcher_stats(const struct batcher *b, struct batcher_stats *out) { *out = b->st; }
const char *batcher_error(const struct batcher *b) { return b->err; }
