/* main.c -- ashiato-aggregator: receives sensors' session batches, commits them to the store,
 *           acknowledges them (and, in later stages, links, detects and serves queries).
 * Owns:  the process: configuration, keys, signals, the receive loop, the exit status. The only
 *        aggregator file that prints or exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "aggregator_config.h"
#include "auth.h"
#include "curve.h"
#include "log.h"
#include "packet_broker.h"
#include "receive.h"
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
    void *zctx = NULL;
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
    }
    struct store_config sc = { 0 };
    snprintf(sc.url, sizeof sc.url, "%s", cfg.store);
    snprintf(sc.dead_letter, sizeof sc.dead_letter, "%s", cfg.dead_letter);
    snprintf(sc.es_prefix, sizeof sc.es_prefix, "%s", cfg.es_prefix);
    snprintf(sc.user, sizeof sc.user, "%s", cfg.es_user);
    snprintf(sc.password, sizeof sc.password, "%s", cfg.es_password);
    snprintf(sc.api_key, sizeof sc.api_key, "%s", cfg.es_api_key);
    snprintf(sc.ca_file, sizeof sc.ca_file, "%s", cfg.es_ca_file);
    sc.retention_days = cfg.retention_days;
    sc.bulk_bytes = cfg.bulk_bytes;
    sc.bulk_ms = cfg.bulk_ms;
    sc.inflight = cfg.bulk_inflight;
    if (!strcmp(cfg.es_gzip, "auto"))
        sc.es_gzip = 0;
    else if (!strcmp(cfg.es_gzip, "always"))
        sc.es_gzip = 1;
    else if (!strcmp(cfg.es_gzip, "never"))
        sc.es_gzip = -1;
    else {
        snprintf(err, sizeof err, "[aggregator] es_gzip = '%s': expected auto, always or never",
                 cfg.es_gzip);
        goto fail;
    }
    if (!(st = store_open(&sc, err)))
        goto fail;
    log_info("aggregator", "store %s", store_info(st));
    if (!(zctx = zmq_ctx_new())) {
        snprintf(err, sizeof err, "zmq: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (!cfg.insecure && !(auth = auth_start(zctx, allow, false, err)))
        goto fail;
    struct receive_config rc = { .insecure = cfg.insecure, .server_keys = cfg.insecure ? NULL : &keys,
                                 .credit = cfg.credit, .heartbeat_ms = cfg.heartbeat_ms };
    snprintf(rc.listen, sizeof rc.listen, "%s", cfg.listen);
    if (!(rx = receive_open(zctx, &rc, st, err)))
        goto fail;
    if (cfg.packet_endpoint[0]) {
        if (!(broker = packet_broker_open(zctx, cfg.packet_endpoint, rx, err)))
            goto fail;
        receive_watch(rx, packet_broker_socket(broker));
        log_info("aggregator", "packet requests taken at endpoint=%s", cfg.packet_endpoint);
    }
    log_info("aggregator", "listening endpoint=%s security=%s sensors_allowed=%zu store=%s",
             cfg.listen, cfg.insecure ? "none (insecure)" : "curve", allow ? curve_allow_count(allow) : 0,
             store_kind(st));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int64_t last_activity = clock_mono_ms();
    uint64_t last_count = 0;
    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            reload_allow(&cfg, auth, &allow);
        }
        if (receive_poll(rx, 100) < 0) {
            snprintf(err, sizeof err, "receive: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (broker) {
            if (receive_watched_ready(rx))
                packet_broker_on_request(broker);
            packet_broker_tick(broker);
        }
        struct receive_stats rs;
        receive_stats(rx, &rs);
        uint64_t count = rs.batches + rs.duplicates + rs.stats_messages + rs.bad_messages;
        if (count != last_count) {
            last_count = count;
            last_activity = clock_mono_ms();
        } else if (cfg.exit_after_idle_ms && clock_mono_ms() - last_activity >= cfg.exit_after_idle_ms) {
            break;
        }
    }
    struct receive_stats rs;
    receive_stats(rx, &rs);
    log_info("aggregator", "stopping batches=%llu records=%llu duplicates=%llu gaps=%llu "
             "store_retries=%llu bad_messages=%llu",
             (unsigned long long)rs.batches, (unsigned long long)rs.records,
             (unsigned long long)rs.duplicates, (unsigned long long)rs.gaps,
             (unsigned long long)rs.store_retries, (unsigned long long)rs.bad_messages);
    status = 0;
    goto out;
fail:
    fprintf(stderr, "ashiato-aggregator: %s\n", err);
out:
    packet_broker_close(broker);
    receive_close(rx);
    auth_stop(auth);
    if (zctx)
        zmq_ctx_term(zctx);
    store_close(st);
    curve_allow_free(allow);
    config_free(aggregator_config_keys, aggregator_config_nkeys, &cfg);
    return status;
}
