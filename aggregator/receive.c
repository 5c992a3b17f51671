/* receive.c -- batches in, group commits, acks out (see receive.h).
 * Owns:  the ROUTER, its monitor, the table of sensor streams, the pending group (unpacked
 *        envelopes waiting for their commit) and the arena they are unpacked into.
 * Never: logs per batch (counters); blocks on a sensor; acknowledges before the store said
 *        STORE_OK for the transaction that held the batch.
 * Trap:  pending envelopes live in the arena until the group is committed or dropped: reset
 *        the arena only with no envelope pending. A stream's `queued` runs ahead of
 *        `committed` while its batches wait; every path that drops pending batches must
 *        pull `queued` back, or the sensor's resends would be ignored as already queued. */
#include "receive_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "receive_arena.h"
#include "record_decode.h"
#include "wire.h"

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static struct stream *stream_get(struct receive *r, const char *name, uint64_t epoch,
                                 size_t *idx)
{
    for (size_t i = 0; i < r->nstreams; i++)
        if (r->streams[i].epoch == epoch && strcmp(r->streams[i].name, name) == 0) {
            *idx = i;
            return &r->streams[i];
        }
    struct stream *n = realloc(r->streams, (r->nstreams + 1) * sizeof *n);
    if (!n)
        return NULL;
    r->streams = n;
    struct stream *s = &r->streams[r->nstreams];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->key, sizeof s->key, "%s#%" PRIu64, name, epoch);
    s->epoch = epoch;
    if (store_sensor_seq(r->st, s->key, &s->committed) != STORE_OK) {
        log_warn("receive", "sensor=%s: cannot read committed sequence: %s", name, store_error(r->st));
        return NULL;                 /* not added: the batch is not acked, the sensor resends */
    }
    s->queued = s->committed;
    *idx = r->nstreams++;
    r->stats.sensors++;
    log_info("receive", "sensor stream name=%s epoch=%" PRIu64 " committed=%" PRIu64, name, epoch,
             s->committed);
    return s;
}

/* ---- the records' own bytes ---------------------------------------------------------
 * The SQLite store keeps each record as packed protobuf; handing it the bytes the sensor
 * sent spares packing every record again (16% of its insert path, callgrind). record_decode.c
 * gives them (raw) as it decodes a batch from the frame's copy in the arena, where they live
 * until the commit. */

/* ---- receiving ------------------------------------------------------------------------- */

/* H1: a record's identity is the authenticated name. The session id hashes the sensor's own
 * --name and the store keeps the first row of an id, so a sensor that calls itself another
 * could file rows under that one's ids and have its real rows ignored. Refuse the batch,
 * count it, log it (rate-limited) and tell the sensor (at most once a second per stream:
 * older sensors resend at once on any ack). */
static bool identity_refused(struct receive *r, struct stream *s, const Ashiato__Batch *b)
{
    const char *what = NULL, *found = NULL;
    size_t at = 0;
    if (!b->sensor || strcmp(b->sensor, s->name) != 0) {
        what = "Batch.sensor";
        found = b->sensor ? b->sensor : "";
    }
    for (size_t i = 0; !what && i < b->n_records; i++)
        if (!b->records[i]->observer_name || strcmp(b->records[i]->observer_name, s->name)) {
            what = "observer_name";
            found = b->records[i]->observer_name ? b->records[i]->observer_name : "";
            at = i;
        }
    if (!what)
        return false;
    r->stats.identity_refused++;
    s->identity_refused++;
    char where[48] = "";
    if (what[0] == 'o')
        snprintf(where, sizeof where, " of records[%zu]", at);
    receive_set_reason(s, b->seq, true, "batch refused: %s%s is '%.64s', but this sensor's key is "
               "allowed as '%.64s' (--name must match the allow-list name)", what, where, found,
               s->name);
    int64_t now_ms = clock_mono_ms();
    if (now_ms - s->last_refusal_ack_ms >= 1000) {
        s->last_refusal_ack_ms = now_ms;
        receive_send_ack(r, s);
    }
    time_t now = time(NULL);
    if (now - s->last_identity_log >= 10) {
        log_warn("receive", "refused batch sensor=%s seq=%" PRIu64 ": %s%s is '%.64s', not the "
                 "authenticated name (refused since the last such line: %" PRIu64 ")", s->name,
                 b->seq, what, where, found, s->identity_refused - s->identity_logged);
        s->last_identity_log = now;
        s->identity_logged = s->identity_refused;
    }
    s->reason[0] = '\0';
    return true;
}

static void handle_batch(struct receive *r, const char *name, const uint8_t *rid, size_t rid_len,
                         Ashiato__Batch *b, const ProtobufCBinaryData *raw)
{
    size_t idx;
    struct stream *s = stream_get(r, name, b->epoch, &idx);
    if (!s)
        return;
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    if (b->seq <= s->queued) {        /* a resend of something committed or pending */
        r->stats.duplicates++;
        if (b->seq <= s->committed)
            receive_send_ack(r, s);           /* pending ones are acked by their commit */
        return;
    }
    if (b->prev_seq > s->queued) {    /* something before it is missing */
        r->stats.gaps++;
        receive_send_ack(r, s);
        return;
    }
    if (identity_refused(r, s, b))
        return;
    size_t bad_times = 0, first_bad = 0;
    for (size_t i = 0; i < b->n_records; i++) {
        const Ashiato__SessionRecord *rec = b->records[i];
        if (rec->start_us < 0 || rec->start_us > STORE_TIME_MAX || rec->end_us < 0 ||
            rec->end_us > STORE_TIME_MAX) {
            if (!bad_times++)
                first_bad = i;
        }
    }
    r->stats.bad_time_records += bad_times;
    if (r->npend == r->pend_cap) {
        size_t cap = r->pend_cap ? 2 * r->pend_cap : 64;
        struct pending *np = realloc(r->pend, cap * sizeof *np);
        if (np)
            r->pend = np;
        struct store_batch *nsb = np ? realloc(r->sb, cap * sizeof *nsb) : NULL;
        if (nsb)
            r->sb = nsb;
        const ProtobufCBinaryData **nsbp = nsb ? realloc(r->sbp, cap * sizeof *nsbp) : NULL;
        if (nsbp)
            r->sbp = nsbp;
        struct receive_committed *nh = nsbp ? realloc(r->hookv, cap * sizeof *nh) : NULL;
        if (!nh)
            return;                   /* not queued, not acked: the sensor resends */
        r->hookv = nh;
        r->pend_cap = cap;
    }
    if (r->npend == 0 && r->burst_records == 0)
        clock_gettime(CLOCK_MONOTONIC, &r->burst_start);
    r->pend[r->npend++] = (struct pending){ b, raw, idx, bad_times, first_bad };
    r->pend_records += b->n_records;
    s->queued = b->seq;
}

static void handle_monitor(struct receive *r)
{
    zmq_msg_t m1, m2;
    zmq_msg_init(&m1);
    zmq_msg_init(&m2);
    if (zmq_msg_recv(&m1, r->mon, ZMQ_DONTWAIT) >= 0) {
        zmq_msg_recv(&m2, r->mon, ZMQ_DONTWAIT);
        uint16_t event = 0;
        uint32_t value = 0;          /* for a protocol failure: ZMQ_PROTOCOL_ERROR_* */
        if (zmq_msg_size(&m1) >= 2)
            memcpy(&event, zmq_msg_data(&m1), 2);
        if (zmq_msg_size(&m1) >= 6)
            memcpy(&value, (char *)zmq_msg_data(&m1) + 2, 4);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            r->stats.handshake_failures++;
            time_t now = time(NULL);
            /* L2: a CURVE client with a wrong server key fails at the cryptography of its
             * HELLO; a plaintext one at the mechanism */
            bool proto = event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
            int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 0
                       : proto && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? 1
                       : proto && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC ? 2 : 3;
            if (now - r->last_refusal_log[kind] >= 10) {
                r->last_refusal_log[kind] = now;
                char other[160];
                if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)   /* value is an errno */
                    snprintf(other, sizeof other, "handshake not completed: %s (the client "
                             "hung up; if it is plaintext: plaintext needs insecure = true)",
                             zmq_strerror((int)value));
                else
                    snprintf(other, sizeof other, "handshake failed: protocol error (plaintext "
                             "needs insecure = true; else not an ashiato sensor)");
                log_warn("receive", "connection refused at handshake endpoint=%.*s (%s) "
                         "event=0x%x code=0x%x", (int)zmq_msg_size(&m2), (char *)zmq_msg_data(&m2),
                         kind == 0 ? "key not allowed"
                         : kind == 1 ? "plaintext client: plaintext needs insecure = true"
                         : kind == 2 ? "handshake failed (wrong server key?)" : other,
                         event, value);
            }
        }
    }
    zmq_msg_close(&m1);
    zmq_msg_close(&m2);
}

/* record_decode.c's allocator: its parts are never freed one by one */
static void *arena_take(void *data, size_t n)
{
    return receive_arena_bump(data, (n + 15) & ~(size_t)15);
}

/* wire_unpack() into the arena: the same limits and messages. A batch (the Envelope's field 1
 * first, as the shipper frames it) is decoded by hand (record_decode.c: 9.4k of the 10.2k
 * instructions per record of this thread were protobuf-c's generic unpack, bench/RESULTS.md
 * aggregator_ingest) from a copy of the frame in the arena, which the records' own bytes
 * (*raw) point into; anything else, or an Envelope with another body beside the batch, goes
 * through protobuf-c. Both accept and refuse the same bytes and build the same structs
 * (tests/fuzz/fuzz_record_decode.c). */
static Ashiato__Envelope *unpack(struct receive *r, const uint8_t *data, size_t len,
                                 const ProtobufCBinaryData **raw, char err[ASH_ERR_LEN])
{
    char why[ASH_ERR_LEN] = "";
    Ashiato__Envelope *env = NULL;
    int rc = RECORD_DECODE_OTHER;
    *raw = NULL;
    if (len > WIRE_MAX_MESSAGE) {
        snprintf(err, ASH_ERR_LEN, "message of %zu bytes exceeds %d", len, WIRE_MAX_MESSAGE);
        return NULL;
    }
    r->arena.exhausted = false;
    if (len && data[0] == (1 << 3 | 2)) {
        uint8_t *copy = receive_arena_bump(&r->arena, (len + 15) & ~(size_t)15);
        rc = RECORD_DECODE_ERR_NOMEM;
        if (copy) {
            memcpy(copy, data, len);
            rc = record_decode_envelope(copy, len, arena_take, &r->arena, &env, raw, why);
        }
    }
    if (rc == RECORD_DECODE_OTHER)
        env = ashiato__envelope__unpack(&r->alloc, len, data);
    if (!env) {
        if (r->arena.exhausted)
            snprintf(err, ASH_ERR_LEN, "message of %zu bytes unpacks to more than %zu MiB",
                     len, RECEIVE_ARENA_LIMIT >> 20);
        else
            snprintf(err, ASH_ERR_LEN, "garbage message of %zu bytes: not an Envelope%s%s",
                     len, why[0] ? ": " : "", why);
        return NULL;
    }
    if (env->body_case == ASHIATO__ENVELOPE__BODY__NOT_SET) {
        snprintf(err, ASH_ERR_LEN, "empty Envelope of %zu bytes", len);
        return NULL;
    }
    return env;
}

static void note_route(struct receive *r, const char *name, const uint8_t *rid, size_t len)
{
    struct route *rt = NULL;
    for (size_t i = 0; i < r->nroutes && !rt; i++)
        if (strcmp(r->routes[i].name, name) == 0)
            rt = &r->routes[i];
    if (!rt) {
        struct route *n = realloc(r->routes, (r->nroutes + 1) * sizeof *n);
        if (!n)
            return;
        r->routes = n;
        rt = &r->routes[r->nroutes++];
        snprintf(rt->name, sizeof rt->name, "%s", name);
    }
    memcpy(rt->rid, rid, len);
    rt->rid_len = len;
}

/* insecure mode has no authenticated name: a packet answer is known by where it came from */
static const char *route_name(const struct receive *r, const uint8_t *rid, size_t len)
{
    for (size_t i = 0; i < r->nroutes; i++)
        if (r->routes[i].rid_len == len && memcmp(r->routes[i].rid, rid, len) == 0)
            return r->routes[i].name;
    return "unknown";
}

static void handle_message(struct receive *r)
{
    zmq_msg_t rid, body;
    char err[ASH_ERR_LEN];
    zmq_msg_init(&rid);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&rid, r->sock, ZMQ_DONTWAIT) < 0)
        goto out;
    if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, r->sock, 0) < 0)
        goto out;
    while (zmq_msg_more(&body)) {    /* extra frames are not ours: drop them */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, r->sock, 0);
        int more = zmq_msg_more(&x);
        zmq_msg_close(&x);
        r->stats.bad_messages++;
        if (!more)
            goto out;
    }
    /* Commit the group first when it is full, or when this message might not fit in the
     * arena beside it (a campus record of ~220 packed bytes takes ~1 KiB unpacked). */
    if (r->npend && (r->pend_records >= (size_t)r->cfg.group_records ||
                     zmq_msg_size(&body) > (RECEIVE_ARENA_LIMIT - r->arena.bytes) / 8))
        receive_flush(r);
    const char *user = zmq_msg_gets(&body, "User-Id");
    const ProtobufCBinaryData *raw = NULL;
    Ashiato__Envelope *env = unpack(r, zmq_msg_data(&body), zmq_msg_size(&body), &raw, err);
    const char *name = user && *user ? user : NULL;
    if (!env) {
        r->stats.bad_messages++;
        time_t now = time(NULL);
        if (now - r->last_bad_log >= 10) {
            log_warn("receive", "rejected message sensor=%s: %s (rejected since the last such "
                     "line: %" PRIu64 ")", name ? name : "(insecure)", err,
                     r->stats.bad_messages - r->bad_logged);
            r->last_bad_log = now;
            r->bad_logged = r->stats.bad_messages;
        }
        goto out;
    }
    if (!name) {
        /* insecure mode: no authenticated identity, the sensor's own word is all there is */
        name = env->body_case == ASHIATO__ENVELOPE__BODY_BATCH && env->batch->sensor && *env->batch->sensor
                   ? env->batch->sensor
               : env->body_case == ASHIATO__ENVELOPE__BODY_STATS && env->stats->sensor && *env->stats->sensor
                   ? env->stats->sensor : route_name(r, zmq_msg_data(&rid), zmq_msg_size(&rid));
    }
    if (zmq_msg_size(&rid) <= ROUTING_ID_MAX) {
        note_route(r, name, zmq_msg_data(&rid), zmq_msg_size(&rid));
        if (env->body_case == ASHIATO__ENVELOPE__BODY_BATCH) {
            handle_batch(r, name, zmq_msg_data(&rid), zmq_msg_size(&rid), env->batch, raw);
        } else if (env->body_case == ASHIATO__ENVELOPE__BODY_STATS) {
            r->stats.stats_messages++;
            if (store_put_stats(r->st, name, env->stats) != STORE_OK)
                log_debug("receive", "stats not stored sensor=%s: %s", name, store_error(r->st));
        } else if (env->body_case == ASHIATO__ENVELOPE__BODY_PACKET_RESPONSE) {
            if (r->on_response)
                r->on_response(r->response_ctx, name, env->packet_response);
        } else {
            r->stats.bad_messages++;
        }
    }
    /* env stays in the arena: its batch may be pending (freed by the arena's reset) */
out:
    zmq_msg_close(&rid);
    zmq_msg_close(&body);
}

struct receive *receive_open(void *zctx, const struct receive_config *cfg, struct store *st,
                             char err[ASH_ERR_LEN])
{
    struct receive *r = calloc(1, sizeof *r);
    char mon_ep[64];
    if (!r) {
        snprintf(err, ASH_ERR_LEN, "receive: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    if (r->cfg.group_records <= 0)
        r->cfg.group_records = RECEIVE_GROUP_RECORDS_DEFAULT;
    r->st = st;
    r->alloc = (ProtobufCAllocator){ receive_arena_alloc, receive_arena_free, &r->arena };
    r->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!r->sock) {
        snprintf(err, ASH_ERR_LEN, "receive: zmq: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (wire_liveness(r->sock, (int)cfg->heartbeat_ms, (int)cfg->heartbeat_ms * 3, err) < 0)
        goto fail;
    if (!cfg->insecure && wire_curve_server(r->sock, cfg->server_keys, err) < 0)
        goto fail;
    snprintf(mon_ep, sizeof mon_ep, "inproc://receive-monitor-%p", (void *)r);
    if (zmq_socket_monitor(r->sock, mon_ep, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(r->mon = zmq_socket(zctx, ZMQ_PAIR)) || zmq_connect(r->mon, mon_ep) != 0) {
        snprintf(err, ASH_ERR_LEN, "receive: monitor: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (cfg->store_path[0]) {
        struct stat sb;
        if (stat(cfg->store_path, &sb) != 0) {
            snprintf(err, ASH_ERR_LEN, "receive: store file %s: %s", cfg->store_path,
                     strerror(errno));
            goto fail;
        }
        r->store_dev = sb.st_dev;
        r->store_ino = sb.st_ino;
    }
    if (zmq_bind(r->sock, cfg->listen) != 0) {
        snprintf(err, ASH_ERR_LEN, "receive: bind %s: %s", cfg->listen, zmq_strerror(zmq_errno()));
        goto fail;
    }
    r->last_tick_ms = clock_mono_ms();
    return r;
fail:
    receive_close(r);
    return NULL;
}

/* The debug line bench/aggregator_ingest.sh reads: records committed from the first batch
 * of a burst to its last commit. */
static void burst_end(struct receive *r)
{
    if (!r->burst_records)
        return;
    double s = elapsed_s(&r->burst_start, &r->burst_last);
    log_debug("receive", "ingest burst records=%" PRIu64 " groups=%" PRIu64 " seconds=%.3f "
              "rate=%.0f/s", r->burst_records, r->burst_groups, s,
              s > 0 ? (double)r->burst_records / s : 0.0);
    r->burst_records = r->burst_groups = 0;
}

void receive_close(struct receive *r)
{
    if (!r)
        return;
    burst_end(r);
    if (r->sock)
        zmq_socket_monitor(r->sock, NULL, 0);
    if (r->mon)
        zmq_close(r->mon);
    if (r->sock)
        zmq_close(r->sock);
    free(r->streams);
    free(r->pend);
    free(r->sb);
    free(r->sbp);
    free(r->routes);
    free(r->hookv);
    receive_arena_release(&r->arena);
    free(r);
}

/* The ROUTER is readable. Group commit: take everything that is already queued on the
 * socket (it arrived while the last group was committing), then commit it as one
 * transaction. No waiting for more: a lone batch is committed at once, and under load the
 * groups grow by themselves (to what the sensors' credit lets them have in flight). Three
 * sensors' 1.5M campus sessions into SQLite: 98.7k/91.4k sessions/s, one transaction per
 * batch 41.8k/39.3k. */
static void on_socket(void *ctx)
{
    struct receive *r = ctx;
    for (int i = 0; i < 10000; i++) {
        int ev = 0;
        size_t evlen = sizeof ev;
        if (zmq_getsockopt(r->sock, ZMQ_EVENTS, &ev, &evlen) < 0 || !(ev & ZMQ_POLLIN))
            break;
        handle_message(r);
    }
    receive_flush(r);
}

static void on_monitor(void *ctx)
{
    struct receive *r = ctx;
    for (int i = 0; i < 1000; i++) {
        int ev = 0;
        size_t evlen = sizeof ev;
        if (zmq_getsockopt(r->mon, ZMQ_EVENTS, &ev, &evlen) < 0 || !(ev & ZMQ_POLLIN))
            break;
        handle_monitor(r);
    }
}

/* Every second: the store file still the one opened, the ingest burst over after 1 s quiet. */
static void on_tick(void *ctx, int64_t now_ms)
{
    struct receive *r = ctx;
    r->last_tick_ms = now_ms;
    if (!receive_store_file_ok(r) && time(NULL) - r->last_lost_log >= 60) {
        r->last_lost_log = time(NULL);
        log_error("receive", "store file %s is gone or replaced: acknowledging nothing "
                  "(restart the aggregator)", r->cfg.store_path);
    }
    if (r->burst_records && r->npend == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (elapsed_s(&r->burst_last, &now) >= 1.0)
            burst_end(r);
    }
}

int receive_attach(struct receive *r, struct event_loop *loop, char err[ASH_ERR_LEN])
{
    if (event_loop_add_socket(loop, r->sock, -1, on_socket, r) < 0 ||
        event_loop_add_socket(loop, r->mon, -1, on_monitor, r) < 0 ||
        event_loop_add_timer(loop, 1000, on_tick, r) < 0) {
        snprintf(err, ASH_ERR_LEN, "receive: cannot register on the event loop: out of memory");
        return -1;
    }
    return 0;
}

int receive_poll(struct receive *r, int timeout_ms)
{
    zmq_pollitem_t items[2] = { { r->sock, 0, ZMQ_POLLIN, 0 }, { r->mon, 0, ZMQ_POLLIN, 0 } };
    int n = zmq_poll(items, 2, timeout_ms);
    if (n < 0)
        return zmq_errno() == EINTR ? 0 : -1;
    if (items[1].revents & ZMQ_POLLIN)
        on_monitor(r);
    on_socket(r);
    int64_t now = clock_mono_ms();
    if (now - r->last_tick_ms >= 1000)
        on_tick(r, now);
    return 0;
}

void receive_stats(const struct receive *r, struct receive_stats *out) { *out = r->stats; }

void receive_set_response_handler(struct receive *r, receive_response_fn fn, void *ctx)
{
    r->on_response = fn;
    r->response_ctx = ctx;
}

int receive_send_to_sensor(struct receive *r, const char *name, const uint8_t *data, size_t len)
{
    const struct route *best = NULL;
    for (size_t i = 0; i < r->nroutes && !best; i++)
        if (strcmp(r->routes[i].name, name) == 0)
            best = &r->routes[i];
    if (!best)
        return -1;
    if (zmq_send(r->sock, best->rid, best->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(r->sock, data, len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

void receive_set_commit_hook(struct receive *r, receive_commit_fn fn, void *ctx)
{
    r->on_commit = fn;
    r->commit_ctx = ctx;
}
