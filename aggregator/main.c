/* main.c -- ashiato-aggregator: receives sensors' session batches, commits them to the store,
 *           acknowledges them, runs the detectors on what it committed and serves the HTTP API.
 * Owns:  the process: configuration, keys, signals, the event loop (event_loop.h) that
 *        everything on the receive thread registers on (receive, the packet broker, ticks),
 *        the exit status. The only aggregator file that prints or exits.
 * Trap:  ZeroMQ sockets registered on the loop are used only on this thread; a part that
 *        wants its own thread (the HTTP API) starts it after the loop is built and stops it
 *        before the loop is freed, in the `out:` order below. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "aggregator_config.h"
#include "alert_out.h"
#include "auth.h"
#include "curve.h"
#include "detect.h"
#include "event_loop.h"
#include "http_server.h"
#include "log.h"
#include "packet_broker.h"
#include "receive.h"
#include "segmap.h"
#include "store.h"

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

/* SIGHUP: read the allow-list again; a list that does not parse leaves the old one in force.
 * Sensors already connected stay connected (a removed key is refused at its next handshake;
 * restart the aggregator to drop it at once). */
static void reload_allow(const struct aggregator_config *cfg, struct auth *auth,
                         struct curve_allow **allow)
{
    char err[ASH_ERR_LEN] = "";
    struct curve_allow *fresh;
    if (!auth || !(fresh = curve_allow_load(cfg->allow_list, err))) {
        log_warn("aggregator", "reload: allow-list kept: %s", auth ? err : "insecure mode has none");
        return;
    }
    auth_set_allow(auth, fresh);
    curve_allow_free(*allow);
    *allow = fresh;
    log_info("aggregator", "reload: allow-list file=%s sensors_allowed=%zu", cfg->allow_list,
             curve_allow_count(fresh));
}

/* SIGHUP: read detect_config again; the segments map, the sensors' segments and the approved
 * and darknet lists change between two runs of records. A file that does not parse leaves the
 * old settings in force (the log line names the file, line and key). */
static void reload_detect(const struct aggregator_config *cfg, struct alert_out *detect)
{
    char err[ASH_ERR_LEN] = "";
    if (detect && alert_out_reload(detect, cfg->detect_config, err) < 0)
        log_warn("aggregator", "reload: detection config kept: %s", err);
}

/* The stores' segment map (ashiato.segments in documents and queries) from detect_config's
 * [segments], at start and on SIGHUP; with no file, none. 0 or -1 with err (the old map
 * stays in force). */
static int load_segments(const char *path, struct segmap_live *live, size_t *n,
                         char err[ASH_ERR_LEN])
{
    struct detect_config *dc = malloc(sizeof *dc);
    struct segmap *m = malloc(sizeof *m);
    int rc = -1;
    if (!dc || !m) {
        snprintf(err, ASH_ERR_LEN, "segments: out of memory");
        goto out;
    }
    detect_config_defaults(dc);
    if (path && path[0] && detect_config_load(dc, path, err) < 0)
        goto out;
    detect_config_segmap(dc, m);
    if (segmap_live_set(live, m) < 0) {
        snprintf(err, ASH_ERR_LEN, "segments: out of memory");
        goto out;
    }
    *n = m->n_names;
    rc = 0;
out:
    free(dc);
    free(m);
    return rc;
}

static void reload_segments(const struct aggregator_config *cfg, struct segmap_live *live)
{
    char err[ASH_ERR_LEN] = "";
    size_t n = 0;
    if (load_segments(cfg->detect_config, live, &n, err) < 0)
        log_warn("aggregator", "reload: store segments kept: %s", err);
    else
        log_info("aggregator", "reload: store segments=%zu (ashiato.segments)", n);
}

/* what the loop's housekeeping tick looks at */
struct idle_watch {
    struct event_loop *loop;
    struct receive *rx;
    long long exit_after_idle_ms;
    int64_t last_activity_ms;
    uint64_t last_count;
    const struct aggregator_config *cfg;     /* SIGHUP: the allow-list is read again */
    struct auth *auth;
    struct curve_allow **allow;
    struct alert_out *detect;                /* SIGHUP: detect_config too */
    struct segmap_live *segments;            /* SIGHUP: the stores' [segments] too */
};

/* every 100 ms: SIGHUP reloads the allow-list and the detection config; SIGINT/SIGTERM stop the loop, and so does
 * exit_after_idle_ms of silence */
static void on_housekeeping(void *ctx, int64_t now_ms)
{
    struct idle_watch *w = ctx;
    if (stop_requested) {
        event_loop_stop(w->loop);
        return;
    }
    if (reload_requested) {
        reload_requested = 0;
        reload_allow(w->cfg, w->auth, w->allow);
        reload_detect(w->cfg, w->detect);
        reload_segments(w->cfg, w->segments);
    }
    struct receive_stats rs;
    receive_stats(w->rx, &rs);
    uint64_t count = rs.batches + rs.duplicates + rs.stats_messages + rs.bad_messages +
                     rs.identity_refused;
    if (count != w->last_count) {
        w->last_count = count;
        w->last_activity_ms = now_ms;
    } else if (w->exit_after_idle_ms && now_ms - w->last_activity_ms >= w->exit_after_idle_ms) {
        event_loop_stop(w->loop);
    }
}

/* every second: the receive loop's counters, for stats.json and /metrics */
struct http_feed {
    struct receive *rx;
    struct http_server *http;
};
static void on_http_feed(void *ctx, int64_t now_ms)
{
    struct http_feed *f = ctx;
    struct receive_stats rs;
    (void)now_ms;
    receive_stats(f->rx, &rs);
    http_server_publish(f->http, &rs);
}

static void on_broker_request(void *broker) { packet_broker_on_request(broker); }
static void on_broker_tick(void *broker, int64_t now_ms)
{
    (void)now_ms;
    packet_broker_tick(broker);
}

/* The SQLite file behind a sqlite:// url (for receive's device/inode watch and the default
 * dead-letter file beside it); "" for other stores. */
static void sqlite_path(const char *url, char *out, size_t cap)
{
    out[0] = '\0';
    if (!url[0])
        url = STORE_URL_DEFAULT;
    if (strncasecmp(url, "sqlite://", 9) != 0)
        return;
    size_t len = strlen(url + 9);
    while (len && isspace((unsigned char)url[9 + len - 1]))
        len--;
    if (len < cap)
        snprintf(out, cap, "%.*s", (int)len, url + 9);
}

/* The store's settings from the aggregator's; 0, or -1 with err. */
static int store_config_fill(const struct aggregator_config *cfg, const char *db_path,
                             struct store_config *sc, char err[ASH_ERR_LEN])
{
    snprintf(sc->url, sizeof sc->url, "%s", cfg->store);
    /* M1: by default records the store can never take go to a file beside the database,
     * instead of holding their sensor's stream */
    if (cfg->dead_letter[0])
        snprintf(sc->dead_letter, sizeof sc->dead_letter, "%s", cfg->dead_letter);
    else if (db_path[0] && (size_t)snprintf(sc->dead_letter, sizeof sc->dead_letter,
                                            "%s.dead-letter.jsonl", db_path) >= sizeof sc->dead_letter) {
        snprintf(err, ASH_ERR_LEN, "[aggregator] store: path too long for the dead-letter file "
                 "beside it: set dead_letter");
        return -1;
    }
    snprintf(sc->es_prefix, sizeof sc->es_prefix, "%s", cfg->es_prefix);
    snprintf(sc->user, sizeof sc->user, "%s", cfg->es_user);
    snprintf(sc->password, sizeof sc->password, "%s", cfg->es_password);
    snprintf(sc->api_key, sizeof sc->api_key, "%s", cfg->es_api_key);
    snprintf(sc->ca_file, sizeof sc->ca_file, "%s", cfg->es_ca_file);
    sc->retention_days = cfg->retention_days;
    sc->bulk_bytes = cfg->bulk_bytes;
    sc->bulk_ms = cfg->bulk_ms;
    sc->inflight = cfg->bulk_inflight;
    if (!strcmp(cfg->es_gzip, "auto"))
        sc->es_gzip = 0;
    else if (!strcmp(cfg->es_gzip, "always"))
        sc->es_gzip = 1;
    else if (!strcmp(cfg->es_gzip, "never"))
        sc->es_gzip = -1;
    else {
        snprintf(err, ASH_ERR_LEN, "[aggregator] es_gzip = '%s': expected auto, always or never",
                 cfg->es_gzip);
        return -1;
    }
    return 0;
}

/* every hour: sessions, stats and alerts older than retention_days go */
static void on_retention(void *ctx, int64_t now_ms)
{
    (void)now_ms;
    struct store *st = ctx;
    uint64_t deleted = 0;
    if (store_apply_retention(st, clock_wall_us(), &deleted) != STORE_OK)
        log_warn("aggregator", "retention: %s (tried again in an hour)", store_error(st));
    else if (deleted)
        log_info("aggregator", "retention: deleted sessions=%llu", (unsigned long long)deleted);
}

int main(int argc, char **argv)
{
    struct aggregator_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    struct curve_keypair keys;
    struct curve_allow *allow = NULL;
    struct store *st = NULL;
    struct auth *auth = NULL;
    struct receive *rx = NULL;
    struct packet_broker *broker = NULL;
    struct event_loop *loop = NULL;
    struct alert_out *detect = NULL;
    struct http_server *http = NULL;
    struct segmap_live *segments = NULL;
    void *zctx = NULL;
    char db_path[1024];
    int status = 1;

    int shown = config_main(aggregator_config_keys, aggregator_config_nkeys, &cfg, argc, argv,
                            "ashiato-aggregator", "Receive session batches from sensors over "
                            "CurveZMQ, store them (SQLite or Elasticsearch/OpenSearch), acknowledge "
                            "after commit.", err);
    if (shown > 0) {
        config_free(aggregator_config_keys, aggregator_config_nkeys, &cfg);
        return 0;
    }
    if (shown < 0 || log_level_apply(cfg.log_level, err) < 0)
        goto fail;
    if (!cfg.insecure) {
        if (!cfg.key_file[0] || !cfg.allow_list[0]) {
            snprintf(err, sizeof err, "key_file and allow_list are required (ashiato keygen makes "
                     "keys), or insecure = true for plaintext");
            goto fail;
        }
        if (curve_read_keyfile(cfg.key_file, &keys, err) < 0 || !(allow = curve_allow_load(cfg.allow_list, err)))
            goto fail;
        if (curve_allow_count(allow) == 0)
            log_warn("aggregator", "allow_list %s names no sensor: every sensor will be refused",
                     cfg.allow_list);
    }
    sqlite_path(cfg.store, db_path, sizeof db_path);
    struct store_config sc = { 0 };
    if (store_config_fill(&cfg, db_path, &sc, err) < 0)
        goto fail;
    size_t nseg = 0;
    if (!(segments = segmap_live_new())) {
        snprintf(err, sizeof err, "segments: out of memory");
        goto fail;
    }
    if (load_segments(cfg.detect_config, segments, &nseg, err) < 0)
        goto fail;
    sc.segments = segments;          /* every handle (ingest, API threads) shares it */
    if (nseg)
        log_info("aggregator", "store segments=%zu from %s (ashiato.segments)", nseg,
                 cfg.detect_config);
    if (!(st = store_open(&sc, err)))
        goto fail;
    log_info("aggregator", "store kind=%s %s%s dead_letter=%s%s%s", store_kind(st),
             db_path[0] ? "path=" : "url=", db_path[0] ? db_path : cfg.store,
             sc.dead_letter[0] ? sc.dead_letter : "none (a batch the store refuses for good is "
             "dropped, counted)", store_info(st)[0] ? " " : "", store_info(st));
    if (!(zctx = zmq_ctx_new())) {
        snprintf(err, sizeof err, "zmq: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (!cfg.insecure && !(auth = auth_start(zctx, allow, false, err)))
        goto fail;
    struct receive_config rc = { .insecure = cfg.insecure, .server_keys = cfg.insecure ? NULL : &keys,
                                 .credit = cfg.credit, .heartbeat_ms = cfg.heartbeat_ms };
    snprintf(rc.listen, sizeof rc.listen, "%s", cfg.listen);
    snprintf(rc.store_path, sizeof rc.store_path, "%s", db_path);
    if (!(loop = event_loop_new(err)) || !(rx = receive_open(zctx, &rc, st, err)) ||
        receive_attach(rx, loop, err) < 0)
        goto fail;
    if (cfg.detect && (!(detect = alert_out_open(cfg.detect_config, st, rx, err)) ||
                       event_loop_add_timer(loop, 1000, alert_out_tick, detect) < 0)) {
        if (detect)
            snprintf(err, sizeof err, "event loop: out of memory");
        goto fail;
    }
    if (cfg.packet_endpoint[0]) {
        if (!(broker = packet_broker_open(zctx, cfg.packet_endpoint, rx, err)))
            goto fail;
        if (event_loop_add_socket(loop, packet_broker_socket(broker), -1, on_broker_request,
                                  broker) < 0 ||
            event_loop_add_timer(loop, 100, on_broker_tick, broker) < 0) {
            snprintf(err, sizeof err, "event loop: out of memory");
            goto fail;
        }
        log_info("aggregator", "packet requests taken at endpoint=%s", cfg.packet_endpoint);
    }
    if (http_server_start(&http, &cfg, &sc, zctx, err) < 0)
        goto fail;
    struct http_feed feed = { rx, http };
    if (http && event_loop_add_timer(loop, 1000, on_http_feed, &feed) < 0) {
        snprintf(err, sizeof err, "event loop: out of memory");
        goto fail;
    }
    log_info("aggregator", "listening endpoint=%s security=%s sensors_allowed=%zu store=%s",
             cfg.listen, cfg.insecure ? "none (insecure)" : "curve", allow ? curve_allow_count(allow) : 0,
             db_path[0] ? db_path : store_kind(st));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    struct idle_watch idle = { loop, rx, cfg.exit_after_idle_ms, clock_mono_ms(), 0, &cfg, auth, &allow,
                                detect, segments };
    if (cfg.retention_days > 0)
        on_retention(st, 0);         /* at start, then hourly */
    if (event_loop_add_timer(loop, 100, on_housekeeping, &idle) < 0 ||
        (cfg.retention_days > 0 && event_loop_add_timer(loop, 3600 * 1000, on_retention, st) < 0)) {
        snprintf(err, sizeof err, "event loop: out of memory");
        goto fail;
    }
    if (event_loop_run(loop) < 0) {
        snprintf(err, sizeof err, "event loop: %s", zmq_strerror(errno));
        goto fail;
    }
    struct receive_stats rs;
    receive_stats(rx, &rs);
    log_info("aggregator", "stopping batches=%llu records=%llu duplicates=%llu gaps=%llu "
             "store_retries=%llu bad_messages=%llu identity_refused=%llu dropped_records=%llu",
             (unsigned long long)rs.batches, (unsigned long long)rs.records,
             (unsigned long long)rs.duplicates, (unsigned long long)rs.gaps,
             (unsigned long long)rs.store_retries, (unsigned long long)rs.bad_messages,
             (unsigned long long)rs.identity_refused, (unsigned long long)rs.dropped_records);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "ashiato-aggregator: %s\n", err);
out:
    http_server_close(http);
    packet_broker_close(broker);
    receive_close(rx);
    if (detect) {               /* after receive (its hook feeds detect), before the store */
        struct alert_out_stats as;
        alert_out_close(detect, &as);
        log_info("aggregator", "detection records=%llu alerts=%llu cap_hits=%llu state_bytes=%zu "
                 "put_failed=%llu dropped=%llu", (unsigned long long)as.records,
                 (unsigned long long)as.alerts, (unsigned long long)as.cap_hits, as.state_bytes,
                 (unsigned long long)as.put_failed, (unsigned long long)as.dropped);
    }
    event_loop_free(loop);
    auth_stop(auth);
    if (zctx)
        zmq_ctx_term(zctx);
    store_close(st);
    segmap_live_free(segments);      /* after every handle that shares it */
    curve_allow_free(allow);
    config_free(aggregator_config_keys, aggregator_config_nkeys, &cfg);
    return status;
}
