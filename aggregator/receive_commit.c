/* receive_commit.c -- the group commit: pending batches into the store, then acks.
 * Owns:  committing receive.c's pending group in transactions of at most group_records, the
 *        one-by-one retry that isolates a batch the store refuses for good, the post-commit
 *        hook, the acks and their reasons, and the store-file check (M7).
 * Never: acknowledges a batch before the store said STORE_OK for the transaction that held
 *        it; runs the commit hook on records that were not committed; reads the socket.
 * Trap:  a stream whose batch failed is `held` for the rest of the flush: its later batches
 *        must not be committed ahead of the one that failed. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "receive_internal.h"
#include "store.h"

void receive_send_ack(struct receive *r, struct stream *s)
{
    Ashiato__Ack ack = ASHIATO__ACK__INIT;
    Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
    uint8_t buf[64 + sizeof s->reason];
    ack.seq = s->committed;
    ack.epoch = s->epoch;
    ack.credit = (uint32_t)r->cfg.credit;
    if (s->reason[0]) {
        ack.reason = s->reason;
        ack.reason_seq = s->reason_seq;
        ack.refused = s->reason_refused;
    }
    env.body_case = ASHIATO__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    size_t len = ashiato__envelope__pack(&env, buf);
    zmq_send(r->sock, s->rid, s->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->sock, buf, len, ZMQ_DONTWAIT);
    s->reason[0] = '\0';
}

void receive_set_reason(struct stream *s, uint64_t seq, bool refused, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    s->reason_seq = seq;
    s->reason_refused = refused;
}

/* ---- the store file (M7) ----------------------------------------------------------------
 * SQLite keeps writing into its open file after the file (or its directory) is unlinked:
 * every ack would then promise data that is gone. Compare the path's device and inode with
 * the ones taken at open. */
bool receive_store_file_ok(struct receive *r)
{
    if (!r->cfg.store_path[0])
        return true;
    if (r->stats.store_lost)
        return false;
    struct stat sb;
    char now[96];
    int rc = stat(r->cfg.store_path, &sb);
    if (rc == 0 && sb.st_dev == r->store_dev && sb.st_ino == r->store_ino)
        return true;
    if (rc == 0)
        snprintf(now, sizeof now, "now device %ju inode %ju", (uintmax_t)sb.st_dev,
                 (uintmax_t)sb.st_ino);
    else
        snprintf(now, sizeof now, "now %s", strerror(errno));
    r->stats.store_lost = true;
    r->last_lost_log = time(NULL);
    log_error("receive", "store file %s was removed or replaced (opened as device %ju inode "
              "%ju, %s): the store writes into a file nobody can read; acknowledging nothing "
              "more (sensors keep their batches): restart the aggregator", r->cfg.store_path,
              (uintmax_t)r->store_dev, (uintmax_t)r->store_ino, now);
    return false;
}

/* ---- committing ------------------------------------------------------------------------ */

static void mark_committed(struct receive *r, const struct pending *p)
{
    struct stream *s = &r->streams[p->stream];
    s->committed = p->batch->seq;
    s->ack_due = true;
    r->stats.batches++;
    r->stats.records += p->batch->n_records;
    r->burst_records += p->batch->n_records;
    if (p->bad_times) {
        const Ashiato__SessionRecord *rec = p->batch->records[p->first_bad];
        receive_set_reason(s, p->batch->seq, false, "%zu record(s) with a time outside 1970..2100 "
                   "dead-lettered by the aggregator, the first records[%zu] start_us=%" PRId64
                   " end_us=%" PRId64, p->bad_times, p->first_bad, rec->start_us, rec->end_us);
    }
}

/* The post-commit hook: pend[i0, i1) of the streams not held were just committed. */
static void run_commit_hook(struct receive *r, size_t i0, size_t i1)
{
    if (!r->on_commit)
        return;
    size_t n = 0;
    for (size_t i = i0; i < i1; i++) {
        const struct pending *p = &r->pend[i];
        const struct stream *s = &r->streams[p->stream];
        if (s->held)
            continue;
        r->hookv[n++] = (struct receive_committed){ s->name, s->epoch, p->batch->seq,
            (const Ashiato__SessionRecord *const *)p->batch->records, p->batch->n_records };
    }
    if (n)
        r->on_commit(r->commit_ctx, r->hookv, n);
}

/* The store refused p for good, alone: commit its seq with no records, so that one bad
 * record (no dead-letter file) cannot hold the sensor's stream forever, and tell the sensor
 * why. STORE_OK, or the store's code when even that failed (the stream is then held). */
static int drop_batch(struct receive *r, const struct pending *p)
{
    struct stream *s = &r->streams[p->stream];
    char why[200];
    snprintf(why, sizeof why, "%s", store_error(r->st));
    const struct store_batch empty = { s->name, s->key, p->batch->seq, NULL, 0 };
    int rc = store_put_batches(r->st, &empty, 1);
    if (rc != STORE_OK)
        return rc;
    s->committed = p->batch->seq;
    s->ack_due = true;
    r->stats.dropped_batches++;
    r->stats.dropped_records += p->batch->n_records;
    receive_set_reason(s, p->batch->seq, false, "batch dropped (%zu records): the store refused it "
               "for good: %s", p->batch->n_records, why);
    time_t now = time(NULL);
    if (now - r->last_drop_log >= 10) {
        r->last_drop_log = now;
        log_warn("receive", "store refused batch for good, dropped sensor=%s seq=%" PRIu64
                 " records=%zu: %s (dropped batches so far: %" PRIu64 "; set dead_letter to "
                 "keep such records)", s->name, p->batch->seq, p->batch->n_records, why,
                 r->stats.dropped_batches);
    }
    return STORE_OK;
}

static void log_retry(struct receive *r, const struct stream *s, uint64_t seq)
{
    time_t now = time(NULL);
    r->stats.store_retries++;
    if (now - r->last_retry_log >= 10) {
        r->last_retry_log = now;
        log_warn("receive", "store busy, holding acks sensor=%s seq=%" PRIu64 ": %s", s->name,
                 seq, store_error(r->st));
    }
}

/* Commit pend[i0, i1) in one transaction (the batches of held streams left out: what came
 * before them is not committed). A refusal for good may come from one batch: then put them
 * one by one, in arrival order; a stream whose batch fails holds back its later batches. */
static void commit_range(struct receive *r, size_t i0, size_t i1)
{
    size_t n = 0;
    for (size_t i = i0; i < i1; i++) {
        const struct pending *p = &r->pend[i];
        const struct stream *s = &r->streams[p->stream];
        if (s->held)
            continue;
        r->sbp[n] = p->packed;
        r->sb[n++] = (struct store_batch){ s->name, s->key, p->batch->seq,
            (const Ashiato__SessionRecord *const *)p->batch->records, p->batch->n_records };
    }
    if (n == 0)
        return;
    int rc = store_put_batches_packed(r->st, r->sb, n, r->sbp);
    if (rc == STORE_OK) {
        for (size_t i = i0; i < i1; i++)
            if (!r->streams[r->pend[i].stream].held)
                mark_committed(r, &r->pend[i]);
        r->stats.groups++;
        run_commit_hook(r, i0, i1);
        return;
    }
    if (rc == STORE_ERR && n == 1) {
        for (size_t i = i0; i < i1; i++)
            if (!r->streams[r->pend[i].stream].held) {
                rc = drop_batch(r, &r->pend[i]);
                break;
            }
        if (rc == STORE_OK)
            return;
    }
    if (rc == STORE_ERR_RETRY || n == 1) {
        for (size_t i = i0; i < i1; i++) {
            struct stream *s = &r->streams[r->pend[i].stream];
            if (s->held)
                continue;
            s->held = true;
            if (rc == STORE_ERR_RETRY) {
                log_retry(r, s, r->pend[i].batch->seq);
            } else {
                r->stats.store_errors++;
                log_error("receive", "store refused batch sensor=%s seq=%" PRIu64 ": %s (kept "
                          "in the sensor's journal)", s->name, r->pend[i].batch->seq,
                          store_error(r->st));
            }
        }
        return;
    }
    for (size_t i = i0; i < i1; i++)
        commit_range(r, i, i + 1);
}

/* Commit the pending group, in transactions of at most group_records records (a bigger
 * batch alone), then acknowledge: one cumulative ack per stream that moved. Whatever was
 * not committed is dropped unacknowledged (the sensors resend it). Leaves nothing pending
 * and the arena reset. */
void receive_flush(struct receive *r)
{
    if (r->npend && receive_store_file_ok(r)) {
        size_t i0 = 0, records = 0;
        for (size_t i = 0; i < r->npend; i++) {
            size_t n = r->pend[i].batch->n_records;
            if (i > i0 && records + n > (size_t)r->cfg.group_records) {
                commit_range(r, i0, i);
                i0 = i;
                records = 0;
            }
            records += n;
        }
        commit_range(r, i0, r->npend);
        clock_gettime(CLOCK_MONOTONIC, &r->burst_last);
        r->burst_groups++;
    }
    for (size_t i = 0; i < r->nstreams; i++) {
        struct stream *s = &r->streams[i];
        if (s->ack_due)
            receive_send_ack(r, s);
        s->ack_due = s->held = false;
        s->queued = s->committed;
    }
    r->npend = 0;
    r->pend_records = 0;
    receive_arena_reset(&r->arena);
}
