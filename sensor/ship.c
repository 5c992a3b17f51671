/* ship.c -- the shipper thread (see ship.h).
 * Owns:  the ZeroMQ context, the DEALER and its monitor, the send window state.
 * Never: blocks the capture thread (its only shared state is the outbox, under the lock). */
#include "ship.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "wire.h"
#include "clock.h"

#define SHIP_SYNC_MS 1000            /* journal synced at least this often, connected or not */
/* L2: after a refused handshake (wrong server key, key not allowed) the socket is
 * disconnected and connected again after a backoff that doubles up to the cap; libzmq alone
 * would retry every 100 ms and this thread logged 7-27 errors a second. */
#define SHIP_BACKOFF_MIN_MS 1000
#define SHIP_BACKOFF_MAX_MS 60000
/* L9: not connected for this long (at start or after a disconnect): say so, once */
#define SHIP_UNREACHABLE_MS 10000
#define SHIP_REASON_LOG_S 10         /* aggregator's refusal reasons: one line per 10 s */

struct ship {
    struct ship_config cfg;
    char sensor[128];
    struct outbox *ob;
    pthread_mutex_t *ob_lock;
    void *zctx, *sock, *mon;
    pthread_t thread;
    volatile bool stop;
    uint64_t epoch;
    uint64_t acked, sent_upto;
    int64_t last_progress_ms, last_stats_ms, last_sync_ms;
    ship_request_fn on_request;
    void *request_ctx;
    int64_t backoff_ms, reconnect_at_ms;   /* 0: connected or connecting by libzmq itself */
    int64_t down_since_ms;           /* not connected since (0: connected) */
    bool down_logged;
    time_t last_reason_log;
    uint64_t reasons, reasons_logged;
    pthread_mutex_t lock;            /* stats below */
    Ashiato__SensorStats pending_stats;
    bool have_stats;
    bool stats_now;                  /* ship_flush_stats asked: send at the next turn */
    struct ship_stats st;
};

static int load_server_key(const char *text, char out[CURVE_Z85_LEN], char err[ASH_ERR_LEN])
{
    return curve_read_public_keyfile(text, out, err);   /* refuses a secret key file */
}

static void handle_monitor(struct ship *s)
{
    zmq_msg_t m1, m2;
    zmq_msg_init(&m1);
    zmq_msg_init(&m2);
    if (zmq_msg_recv(&m1, s->mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m1);
        zmq_msg_close(&m2);
        return;
    }
    zmq_msg_recv(&m2, s->mon, ZMQ_DONTWAIT);
    uint16_t event = 0;
    if (zmq_msg_size(&m1) >= 6)
        memcpy(&event, zmq_msg_data(&m1), 2);
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: {
        int64_t now = clock_mono_ms();
        s->st.connected = true;
        s->st.connects++;
        s->sent_upto = s->acked;       /* resend whatever was in flight */
        s->last_progress_ms = now;
        if (s->down_logged)
            log_info("ship", "connected endpoint=%s after %.1f s without a connection",
                     s->cfg.endpoint, (double)(now - s->down_since_ms) / 1000.0);
        else
            log_info("ship", "connected endpoint=%s", s->cfg.endpoint);
        s->backoff_ms = 0;
        s->down_since_ms = 0;
        s->down_logged = false;
        break;
    }
    case ZMQ_EVENT_DISCONNECTED:
        if (s->st.connected) {
            log_warn("ship", "disconnected endpoint=%s: reconnecting", s->cfg.endpoint);
            s->down_since_ms = clock_mono_ms();
        }
        s->st.connected = false;
        s->st.disconnects++;
        s->sent_upto = s->acked;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        s->st.handshake_failures++;
        if (s->reconnect_at_ms)
            break;                   /* already backing off (a late event of the same try) */
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SHIP_BACKOFF_MIN_MS;
        if (s->backoff_ms > SHIP_BACKOFF_MAX_MS)
            s->backoff_ms = SHIP_BACKOFF_MAX_MS;
        s->reconnect_at_ms = clock_mono_ms() + s->backoff_ms;
        zmq_disconnect(s->sock, s->cfg.endpoint);
        log_error("ship", "handshake refused endpoint=%s (failures so far: %" PRIu64 "): %s; "
                  "retrying in %.0f s", s->cfg.endpoint, s->st.handshake_failures,
                  s->cfg.insecure ? "this sensor is insecure (plaintext); the aggregator "
                                    "wants CURVE keys"
                  : event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                      ? "this sensor's key is not in the aggregator's allow-list"
                      : "wrong server key, or this sensor's key is not allowed",
                  (double)s->backoff_ms / 1000.0);
        break;
    default:
        break;
    }
    zmq_msg_close(&m1);
    zmq_msg_close(&m2);
}

/* The aggregator refused a batch, or dropped records of it, and said why (Ack.reason): a
 * line at most every SHIP_REASON_LOG_S, with how many reasons came since the last one. */
static void log_reason(struct ship *s, const Ashiato__Ack *ack)
{
    time_t now = time(NULL);
    s->reasons++;
    if (now - s->last_reason_log < SHIP_REASON_LOG_S)
        return;
    s->last_reason_log = now;
    if (ack->refused)
        log_error("ship", "aggregator refused batch seq=%" PRIu64 ": %s (such answers since the "
                  "last line: %" PRIu64 ")", ack->reason_seq, ack->reason,
                  s->reasons - s->reasons_logged);
    else
        log_warn("ship", "aggregator on batch seq=%" PRIu64 ": %s (such answers since the last "
                 "line: %" PRIu64 ")", ack->reason_seq, ack->reason, s->reasons - s->reasons_logged);
    s->reasons_logged = s->reasons;
}

static int send_bytes(struct ship *s, const uint8_t *data, size_t len)
{
    return zmq_send(s->sock, data, len, ZMQ_DONTWAIT) == (int)len ? 0 : -1;
}

int ship_reply(struct ship *s, const Ashiato__PacketResponse *resp)
{
    Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
    env.body_case = ASHIATO__ENVELOPE__BODY_PACKET_RESPONSE;
    env.packet_response = (Ashiato__PacketResponse *)resp;
    size_t len;
    uint8_t *buf = wire_pack(&env, &len);
    if (!buf)
        return -1;
    /* a reply may wait for room: packet answers are not dropped */
    int rc = zmq_send(s->sock, buf, len, 0) == (int)len ? 0 : -1;
    free(buf);
    return rc;
}

static void handle_message(struct ship *s)
{
    zmq_msg_t msg;
    char err[ASH_ERR_LEN];
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return;
    }
    Ashiato__Envelope *env = wire_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), err);
    zmq_msg_close(&msg);
    if (!env) {
        s->st.bad_messages++;
        log_warn("ship", "from aggregator: %s", err);
        return;
    }
    if (env->body_case == ASHIATO__ENVELOPE__BODY_ACK && env->ack->epoch == s->epoch) {
        uint64_t seq = env->ack->seq;
        if (env->ack->reason && env->ack->reason[0])
            log_reason(s, env->ack);
        s->st.acks++;
        if (env->ack->credit)
            s->cfg.window = env->ack->credit;
        if (seq > s->acked) {
            pthread_mutex_lock(s->ob_lock);
            int rc = outbox_ack(s->ob, seq);
            if (rc < 0)
                log_error("ship", "%s", outbox_error(s->ob));
            pthread_mutex_unlock(s->ob_lock);
            s->acked = seq;
            if (s->sent_upto < seq)
                s->sent_upto = seq;
            s->last_progress_ms = clock_mono_ms();
        } else if (s->sent_upto > s->acked && !env->ack->refused) {
            /* the aggregator is missing something before what we sent: resend from it (a
             * refusal is not resent at once: after resend_ms, when it may have changed) */
            s->sent_upto = s->acked;
            s->st.resent++;
        }
    } else if (env->body_case == ASHIATO__ENVELOPE__BODY_PACKET_REQUEST) {
        pthread_mutex_lock(&s->lock);
        ship_request_fn fn = s->on_request;
        void *ctx = s->request_ctx;
        pthread_mutex_unlock(&s->lock);
        if (fn) {
            fn(ctx, s, env->packet_request);
        } else {
            /* no packets kept here: say so instead of leaving the requester waiting */
            Ashiato__PacketResponse resp = ASHIATO__PACKET_RESPONSE__INIT;
            resp.request_id = env->packet_request->request_id;
            resp.status = ASHIATO__PACKET_RESPONSE__STATUS__NOT_FOUND;
            resp.error = (char *)"this sensor keeps no packets (pcap_dir is not set)";
            ship_reply(s, &resp);
        }
    }
    wire_free(env);
}

/* fdatasync what the capture thread appended, off its path and outside ob_lock (outbox.h) */
static void sync_journal(struct ship *s)
{
    struct outbox_sync job;
    pthread_mutex_lock(s->ob_lock);
    int need = outbox_sync_prepare(s->ob, &job);
    pthread_mutex_unlock(s->ob_lock);
    if (!need)
        return;
    outbox_sync_run(&job);
    pthread_mutex_lock(s->ob_lock);
    if (outbox_sync_done(s->ob, &job) < 0)
        log_error("ship", "%s", outbox_error(s->ob));
    pthread_mutex_unlock(s->ob_lock);
    s->st.syncs++;
}

static void send_window(struct ship *s)
{
    if (s->st.connected && s->sent_upto - s->acked < (uint64_t)s->cfg.window)
        sync_journal(s);             /* one fdatasync covers every batch appended so far */
    while (s->st.connected && s->sent_upto - s->acked < (uint64_t)s->cfg.window) {
        uint8_t *data = NULL;
        size_t len = 0;
        pthread_mutex_lock(s->ob_lock);
        uint64_t next = outbox_next_pending(s->ob, s->sent_upto);
        if (next && !outbox_is_durable(s->ob, next))
            next = 0;                /* appended since sync_journal: the next turn sends it */
        int rc = next ? outbox_read(s->ob, next, &data, &len) : -1;
        if (next && rc < 0 && rc != OUTBOX_ERR_GONE)
            log_error("ship", "%s", outbox_error(s->ob));
        pthread_mutex_unlock(s->ob_lock);
        if (!next || rc < 0)
            return;
        uint64_t prev = s->sent_upto > s->acked ? s->sent_upto : s->acked;
        size_t flen;
        uint8_t *frame = wire_frame_batch(data, len, prev, &flen);
        free(data);
        if (!frame || send_bytes(s, frame, flen) < 0) {
            free(frame);
            return;                  /* not connected or no room: try on the next turn */
        }
        free(frame);
        s->sent_upto = next;
        s->st.sent++;
    }
}

static void send_stats(struct ship *s)
{
    Ashiato__SensorStats st;
    pthread_mutex_lock(&s->lock);
    bool have = s->have_stats;
    st = s->pending_stats;
    pthread_mutex_unlock(&s->lock);
    if (!have || !s->st.connected)
        return;
    struct outbox_stats os;
    pthread_mutex_lock(s->ob_lock);
    outbox_stats(s->ob, &os);
    pthread_mutex_unlock(s->ob_lock);
    st.sensor = s->sensor;
    st.outbox_batches = os.pending_batches;
    st.outbox_bytes = os.pending_bytes;
    st.outbox_dropped = os.dropped_records;
    Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
    env.body_case = ASHIATO__ENVELOPE__BODY_STATS;
    env.stats = &st;
    size_t len;
    uint8_t *buf = wire_pack(&env, &len);
    if (buf)
        send_bytes(s, buf, len);
    free(buf);
}

static void *ship_main(void *arg)
{
    struct ship *s = arg;
    while (!s->stop) {
        zmq_pollitem_t items[2] = { { s->sock, 0, ZMQ_POLLIN, 0 }, { s->mon, 0, ZMQ_POLLIN, 0 } };
        zmq_poll(items, 2, 20);
        while (items[1].revents & ZMQ_POLLIN) {
            handle_monitor(s);
            zmq_pollitem_t m = { s->mon, 0, ZMQ_POLLIN, 0 };
            if (zmq_poll(&m, 1, 0) <= 0 || !(m.revents & ZMQ_POLLIN))
                break;
        }
        for (int i = 0; i < 1000; i++) {
            int ev = 0;
            size_t evlen = sizeof ev;
            if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &ev, &evlen) < 0 || !(ev & ZMQ_POLLIN))
                break;
            handle_message(s);
        }
        int64_t now = clock_mono_ms();
        if (s->reconnect_at_ms && now >= s->reconnect_at_ms) {
            s->reconnect_at_ms = 0;
            if (zmq_connect(s->sock, s->cfg.endpoint) != 0)
                log_error("ship", "connect %s: %s", s->cfg.endpoint, zmq_strerror(zmq_errno()));
        }
        if (!s->st.connected && s->down_since_ms && !s->down_logged &&
            now - s->down_since_ms >= SHIP_UNREACHABLE_MS) {
            s->down_logged = true;
            log_warn("ship", "no connection to endpoint=%s for %d s (aggregator down or "
                     "unreachable?): batches wait in the outbox, still trying",
                     s->cfg.endpoint, SHIP_UNREACHABLE_MS / 1000);
        }
        if (s->sent_upto > s->acked && now - s->last_progress_ms > s->cfg.resend_ms) {
            s->sent_upto = s->acked;         /* silence: resend from the watermark */
            s->last_progress_ms = now;
            s->st.resent++;
        }
        send_window(s);
        if (now - s->last_sync_ms >= SHIP_SYNC_MS) {
            s->last_sync_ms = now;   /* not connected: still on disk within a second */
            sync_journal(s);
        }
        pthread_mutex_lock(&s->lock);
        bool asked = s->stats_now;
        pthread_mutex_unlock(&s->lock);
        if (asked || now - s->last_stats_ms >= s->cfg.stats_interval_ms) {
            s->last_stats_ms = now;
            send_stats(s);
            pthread_mutex_lock(&s->lock);
            s->stats_now = false;
            pthread_mutex_unlock(&s->lock);
        }
    }
    return NULL;
}

struct ship *ship_start(const struct ship_config *cfg, const char *sensor, struct outbox *ob,
                        pthread_mutex_t *ob_lock, char err[ASH_ERR_LEN])
{
    struct ship *s = calloc(1, sizeof *s);
    char mon_ep[64];
    if (!s) {
        snprintf(err, ASH_ERR_LEN, "ship: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->sensor, sizeof s->sensor, "%s", sensor);
    s->ob = ob;
    s->ob_lock = ob_lock;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_lock(ob_lock);
    struct outbox_stats os;
    outbox_stats(ob, &os);
    pthread_mutex_unlock(ob_lock);
    s->epoch = os.epoch;
    s->acked = s->sent_upto = os.acked;
    s->zctx = zmq_ctx_new();
    s->sock = s->zctx ? zmq_socket(s->zctx, ZMQ_DEALER) : NULL;
    if (!s->sock) {
        snprintf(err, ASH_ERR_LEN, "ship: zmq: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int one = 1;
    zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    if (wire_liveness(s->sock, (int)cfg->heartbeat_ms, (int)cfg->heartbeat_ms * 3, err) < 0)
        goto fail;
    if (!cfg->insecure) {
        struct curve_keypair kp;
        char server[CURVE_Z85_LEN];
        if (!cfg->key_file[0] || !cfg->server_key[0]) {
            snprintf(err, ASH_ERR_LEN, "ship: key_file and server_key are required (or insecure = true)");
            goto fail;
        }
        if (curve_read_keyfile(cfg->key_file, &kp, err) < 0 ||
            load_server_key(cfg->server_key, server, err) < 0 ||
            wire_curve_client(s->sock, &kp, server, err) < 0)
            goto fail;
    }
    snprintf(mon_ep, sizeof mon_ep, "inproc://ship-monitor-%p", (void *)s);
    if (zmq_socket_monitor(s->sock, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(s->mon = zmq_socket(s->zctx, ZMQ_PAIR)) || zmq_connect(s->mon, mon_ep) != 0) {
        snprintf(err, ASH_ERR_LEN, "ship: monitor: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_connect(s->sock, cfg->endpoint) != 0) {
        snprintf(err, ASH_ERR_LEN, "ship: connect %s: %s", cfg->endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    s->last_progress_ms = s->last_stats_ms = s->down_since_ms = clock_mono_ms();
    if (pthread_create(&s->thread, NULL, ship_main, s) != 0) {
        snprintf(err, ASH_ERR_LEN, "ship: cannot start thread");
        goto fail;
    }
    log_info("ship", "shipping to endpoint=%s security=%s acked=%" PRIu64 " pending=%" PRIu64,
             cfg->endpoint, cfg->insecure ? "none (insecure)" : "curve", os.acked, os.pending_batches);
    return s;
fail:
    if (s->mon) zmq_close(s->mon);
    if (s->sock) zmq_close(s->sock);
    if (s->zctx) zmq_ctx_term(s->zctx);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

int ship_drain(struct ship *s, long long timeout_ms)
{
    int64_t until = clock_mono_ms() + timeout_ms;
    for (;;) {
        struct outbox_stats os;
        pthread_mutex_lock(s->ob_lock);
        outbox_stats(s->ob, &os);
        pthread_mutex_unlock(s->ob_lock);
        if (os.pending_batches == 0)
            return 0;
        if (clock_mono_ms() >= until)
            return -1;
        usleep(10000);
    }
}

void ship_stop(struct ship *s)
{
    if (!s)
        return;
    s->stop = true;
    pthread_join(s->thread, NULL);
    zmq_socket_monitor(s->sock, NULL, 0);
    zmq_close(s->mon);
    zmq_close(s->sock);
    zmq_ctx_term(s->zctx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void ship_set_request_handler(struct ship *s, ship_request_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->lock);
    s->on_request = fn;
    s->request_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

void ship_publish_stats(struct ship *s, const Ashiato__SensorStats *st)
{
    pthread_mutex_lock(&s->lock);
    s->pending_stats = *st;
    s->have_stats = true;
    pthread_mutex_unlock(&s->lock);
}

int ship_flush_stats(struct ship *s, long long timeout_ms)
{
    int64_t until = clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&s->lock);
    s->stats_now = true;
    pthread_mutex_unlock(&s->lock);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool pending = s->stats_now;
        pthread_mutex_unlock(&s->lock);
        if (!pending)
            return 0;
        if (clock_mono_ms() >= until)
            return -1;
        usleep(10000);
    }
}

void ship_stats(struct ship *s, struct ship_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    pthread_mutex_unlock(&s->lock);
}
