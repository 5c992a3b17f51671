/* http_api.h -- what the HTTP server hands an endpoint handler, and what it gets back.
 * Owns:  struct http_request (one per request, on the serving thread's stack), struct
 *        http_reply (the body the handler fills, freed by the server), the handlers' names.
 * Lends: rq->st, the serving thread's own store handle (never shared across threads), and
 *        rq->user, valid for the request.
 * Never: a handler writes to the socket, logs the audit line or checks auth: http_server.c
 *        does, from its one route table.
 * Trap:  handlers run on MHD's pool threads, never on the receive loop's; they may block
 *        (the store, the packet broker) without delaying ingest. */
#ifndef ASHIATO_HTTP_API_H
#define ASHIATO_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "api_params.h"
#include "store.h"
#include "userdb.h"

struct http_server;

struct http_request {
    struct http_server *srv;
    struct store *st;                 /* this thread's store handle */
    const struct userdb_entry *user;
    struct api_params params;
    const char *path;                 /* "/sessions.json" */
    char id[STORE_ID_MAX + 1];        /* session/<id>.json: the id */
    int64_t now_us;
};

struct http_reply {
    int status;                       /* 200 unless set */
    const char *type;                 /* Content-Type, static */
    char *body;                       /* malloc'd, the server frees */
    size_t len;
    char extra_name[64], extra_value[1024];  /* one extra header, e.g. X-Ashiato-Failed-Sensors */
    long long count;                  /* results, for the audit log; -1 = not applicable */
    char audit_note[256];             /* extra audit text (failed sensors) */
    char set_cookie[192];             /* a new login session's Set-Cookie value, or "" */
};

typedef int (*http_handler)(struct http_request *rq, struct http_reply *rp);

/* Fill rp with o as JSON (takes o's reference); always 0 (out of memory becomes 500). */
int http_reply_json(struct http_reply *rp, int status, json_object *o);
/* {"error": msg} or {"error": msg, "position": N} when position >= 0; always 0. */
int http_reply_error(struct http_reply *rp, int status, int position, const char *fmt, ...)
    ASH_PRINTF(4, 5);
/* Take a malloc'd body as it is. */
int http_reply_take(struct http_reply *rp, const char *type, char *body, size_t len);

/* What the server knows beyond the request (thread-safe). */
struct http_shared_stats {
    uint64_t batches, records, duplicates, gaps, store_retries, store_errors, bad_messages,
             stats_messages, handshake_failures, sensors, groups;
    uint64_t http_requests, http_errors, http_auth_failures, pcap_downloads;
    int64_t started_us, published_us;
};
void http_server_stats(struct http_server *srv, struct http_shared_stats *out);
const char *http_server_packet_endpoint(const struct http_server *srv);
long long http_server_pcap_timeout_ms(const struct http_server *srv);
void *http_server_zctx(const struct http_server *srv);
/* The aggregator's segment map (main.c reads detect_config's [segments] at start and on
 * SIGHUP; the stores render and expand ashiato.segments by the same one): segmap_live_get
 * for the map in force (NULL: none), segmap_live_put when done. NULL when there is none. */
struct segmap_live;
struct segmap_live *http_server_segments(const struct http_server *srv);

/* Endpoints (api_*.c). */
int api_sessions_json(struct http_request *rq, struct http_reply *rp);
int api_sessions_csv(struct http_request *rq, struct http_reply *rp);
int api_session_json(struct http_request *rq, struct http_reply *rp);
int api_unique_txt(struct http_request *rq, struct http_reply *rp);
int api_spigraph_json(struct http_request *rq, struct http_reply *rp);
int api_connections_json(struct http_request *rq, struct http_reply *rp);
int api_fields_json(struct http_request *rq, struct http_reply *rp);
int api_stats_json(struct http_request *rq, struct http_reply *rp);
int api_sensors_history_json(struct http_request *rq, struct http_reply *rp);   /* api_history.c */
int api_metrics(struct http_request *rq, struct http_reply *rp);
int api_alerts_json(struct http_request *rq, struct http_reply *rp);
int api_sessions_pcap(struct http_request *rq, struct http_reply *rp);
int api_session_pcap(struct http_request *rq, struct http_reply *rp);
/* The analyst page (http_static.c): GET / and GET /web/<file>. */
int api_matrix_json(struct http_request *rq, struct http_reply *rp);   /* api_matrix.c */
int http_static_index(struct http_request *rq, struct http_reply *rp);
int http_static_file(struct http_request *rq, struct http_reply *rp);

#endif
