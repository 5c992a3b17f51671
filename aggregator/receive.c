/* receive.c -- batches in, commits, acks out (see receive.h).
 * Owns:  the ROUTER, its monitor, the table of sensor streams.
 * Never: logs per batch (counters); blocks on a sensor. */
#include "receive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "wire.h"

#define STREAM_KEY_LEN 160
#define ROUTING_ID_MAX 256

struct stream {
    char name[128];                  /* authenticated sensor name */
    char key[STREAM_KEY_LEN];        /* name#epoch: the store's sequence key */
    uint64_t epoch, committed;
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    time_t last_bad_log, last_retry_log;
};

struct receive {
    struct receive_config cfg;
    struct store *st;
    void *sock, *mon;
    struct stream *streams;
    size_t nstreams;
    struct receive_stats stats;
    time_t last_refusal_log[2];      /* [0] key not allowed, [1] plaintext or wrong protocol */
};

static struct stream *stream_get(struct receive *r, const char *name, uint64_t epoch)
{
    for (size_t i = 0; i < r->nstreams; i++)
        if (r->streams[i].epoch == epoch && strcmp(r->streams[i].name, name) == 0)
            return &r->streams[i];
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
    r->nstreams++;
    r->stats.sensors++;
    log_info("receive", "sensor stream name=%s epoch=%" PRIu64 " committed=%" PRIu64, name, epoch,
             s->committed);
    return s;
}

static void send_ack(struct receive *r, const uint8_t *rid, size_t rid_len, uint64_t seq,
                     uint64_t epoch)
{
    Ashiato__Ack ack = ASHIATO__ACK__INIT;
    Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
    uint8_t buf[64];
    ack.seq = seq;
    ack.epoch = epoch;
    ack.credit = (uint32_t)r->cfg.credit;
    env.body_case = ASHIATO__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    size_t len = ashiato__envelope__pack(&env, buf);
    zmq_send(r->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->sock, buf, len, ZMQ_DONTWAIT);
}

static void handle_batch(struct receive *r, const char *name, const uint8_t *rid, size_t rid_len,
                         const Ashiato__Batch *b)
{
    struct stream *s = stream_get(r, name, b->epoch);
    if (!s)
        return;
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    if (b->seq <= s->committed) {                 /* a resend of something committed */
        r->stats.duplicates++;
        send_ack(r, rid, rid_len, s->committed, b->epoch);
        return;
    }
    if (b->prev_seq > s->committed) {             /* something before it is missing */
        r->stats.gaps++;
        send_ack(r, rid, rid_len, s->committed, b->epoch);
        return;
    }
    int rc = store_put_batch(r->st, name, s->key, b->seq,
                             (const Ashiato__SessionRecord *const *)b->records, b->n_records);
    if (rc == STORE_OK) {
        s->committed = b->seq;
        r->stats.batches++;
        r->stats.records += b->n_records;
        send_ack(r, rid, rid_len, b->seq, b->epoch);
        return;
    }
    time_t now = time(NULL);
    if (rc == STORE_ERR_RETRY) {
        r->stats.store_retries++;
        if (now - s->last_retry_log >= 10) {
            s->last_retry_log = now;
            log_warn("receive", "store busy, holding acks sensor=%s seq=%" PRIu64 ": %s", name,
                     b->seq, store_error(r->st));
        }
    } else {
        r->stats.store_errors++;
        log_error("receive", "store refused batch sensor=%s seq=%" PRIu64 ": %s (kept in the "
                  "sensor's journal)", name, b->seq, store_error(r->st));
    }
}

static void handle_monitor(struct receive *r)
{
    zmq_msg_t m1, m2;
    zmq_msg_init(&m1);
    zmq_msg_init(&m2);
    if (zmq_msg_recv(&m1, r->mon, ZMQ_DONTWAIT) >= 0) {
        zmq_msg_recv(&m2, r->mon, ZMQ_DONTWAIT);
        uint16_t event = 0;
        if (zmq_msg_size(&m1) >= 2)
            memcpy(&event, zmq_msg_data(&m1), 2);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            r->stats.handshake_failures++;
            time_t now = time(NULL);
            int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 0 : 1;
            if (now - r->last_refusal_log[kind] >= 10) {
                r->last_refusal_log[kind] = now;
                log_warn("receive", "connection refused at handshake endpoint=%.*s (%s)",
                         (int)zmq_msg_size(&m2), (char *)zmq_msg_data(&m2),
                         kind == 0 ? "key not allowed" : "plaintext or wrong protocol: "
                                                         "plaintext needs insecure = true");
            }
        }
    }
    zmq_msg_close(&m1);
    zmq_msg_close(&m2);
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
    const char *user = zmq_msg_gets(&body, "User-Id");
    Ashiato__Envelope *env = wire_unpack(zmq_msg_data(&body), zmq_msg_size(&body), err);
    const char *name = user && *user ? user : NULL;
    if (!env) {
        r->stats.bad_messages++;
        log_warn("receive", "rejected message sensor=%s: %s", name ? name : "(insecure)", err);
        goto out;
    }
    if (!name) {
        /* insecure mode: no authenticated identity, the sensor's own word is all there is */
        name = env->body_case == ASHIATO__ENVELOPE__BODY_BATCH && env->batch->sensor && *env->batch->sensor
                   ? env->batch->sensor
               : env->body_case == ASHIATO__ENVELOPE__BODY_STATS && env->stats->sensor && *env->stats->sensor
                   ? env->stats->sensor : "unknown";
    }
    if (zmq_msg_size(&rid) <= ROUTING_ID_MAX) {
        if (env->body_case == ASHIATO__ENVELOPE__BODY_BATCH) {
            handle_batch(r, name, zmq_msg_data(&rid), zmq_msg_size(&rid), env->batch);
        } else if (env->body_case == ASHIATO__ENVELOPE__BODY_STATS) {
            r->stats.stats_messages++;
            if (store_put_stats(r->st, name, env->stats) != STORE_OK)
                log_debug("receive", "stats not stored sensor=%s: %s", name, store_error(r->st));
        } else {
            r->stats.bad_messages++;
        }
    }
    wire_free(env);
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
    r->st = st;
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
    if (zmq_bind(r->sock, cfg->listen) != 0) {
        snprintf(err, ASH_ERR_LEN, "receive: bind %s: %s", cfg->listen, zmq_strerror(zmq_errno()));
        goto fail;
    }
    return r;
fail:
    receive_close(r);
    return NULL;
}

void receive_close(struct receive *r)
{
    if (!r)
        return;
    if (r->sock)
        zmq_socket_monitor(r->sock, NULL, 0);
    if (r->mon)
        zmq_close(r->mon);
    if (r->sock)
        zmq_close(r->sock);
    free(r->streams);
    free(r);
}

int receive_poll(struct receive *r, int timeout_ms)
{
    zmq_pollitem_t items[2] = { { r->sock, 0, ZMQ_POLLIN, 0 }, { r->mon, 0, ZMQ_POLLIN, 0 } };
    int n = zmq_poll(items, 2, timeout_ms);
    if (n < 0)
        return zmq_errno() == EINTR ? 0 : -1;
    if (items[1].revents & ZMQ_POLLIN)
        handle_monitor(r);
    for (int i = 0; i < 10000; i++) {
        int ev = 0;
        size_t evlen = sizeof ev;
        if (zmq_getsockopt(r->sock, ZMQ_EVENTS, &ev, &evlen) < 0 || !(ev & ZMQ_POLLIN))
            break;
        handle_message(r);
    }
    return 0;
}

void receive_stats(const struct receive *r, struct receive_stats *out) { *out = r->stats; }
