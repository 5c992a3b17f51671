/* store_es.h -- what the files of the Elasticsearch/OpenSearch backend share (store_es.c,
 * store_es_http.c, store_es_bulk.c, store_es_template.c, store_es_query.c). Private to them.
 * Owns:  struct es (the backend's state behind st->impl) and struct es_call (one HTTP request
 *        and its answer).
 * Lends: es_call.resp to the caller until es_call_clear().
 * Never: seen outside indexer/store_es*.c.
 * Trap:  a handle is single-threaded like every store handle; the curl multi handle inside it
 *        runs several requests at once on the calling thread, never on another thread. */
#ifndef ASHIATO_STORE_ES_H
#define ASHIATO_STORE_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "store_backend.h"

/* Bulk sizing, measured by bench/es_bulk.sh (bench/RESULTS.md "es_bulk 2026-11-26T03:11Z" and
 * "03:36Z": one OpenSearch 2.19.6 node, 1 GiB heap, on the same 2-CPU host; 100000 ~850-byte
 * documents per run in 20000-record calls, 5 runs each). Median docs/s at 2 in flight, first
 * run / second run: 512 KiB 15.4k / 15.5k, 1 MiB 17.5k / 15.4k, 2 MiB 18.1k / 22.3k, 4 MiB
 * 17.5k / 21.3k, 8 MiB 17.9k / 17.6k; at 2 MiB 1 in flight 16.5k / 20.4k, 4 in flight
 * 16.7k / 20.1k. 2 MiB x 2 was the fastest in both runs, though 1..8 MiB lie within the
 * run-to-run noise of that shared host; it is also at the low end of what is safe (less
 * memory per request in flight, a shorter stall when a node rejects one). Each request keeps
 * a write thread of the node busy: more in flight than a node has write threads only queues
 * (or is refused with 429s). */
#define ES_BULK_BYTES_DEFAULT  (2LL << 20)
#define ES_INFLIGHT_DEFAULT    2
#define ES_BULK_BYTES_MAX      (90LL << 20)  /* under http.max_content_length (100mb) */
#define ES_BULK_MIN_SPLIT      (64 << 10)    /* a tail is not split below this to fill slots */
#define ES_BULK_EARLY          (256 << 10)   /* an idle slot gets a partial block this big */
#define ES_BULK_MIN_CUT        (4 << 10)     /* requests are not cut smaller after 429s */
#define ES_RETRY_BUDGET_MS     8000          /* no progress this long: STORE_ERR_RETRY */
#define ES_BACKOFF_FIRST_MS    100
#define ES_BACKOFF_MAX_MS      2000
#define ES_CONNECT_TIMEOUT_MS  3000
#define ES_REQUEST_TIMEOUT_MS  60000
#define ES_PREFIX_DEFAULT      "ashiato"
#define ES_URLS_MAX            16
/* sessions.json's recordsTotal (the count of every session) is reused for this long: no
 * longer than the default refresh_interval, within which a search sees new documents
 * anyway; it spares each request a search over every index. */
#define ES_TOTAL_TTL_MS        1000
#define ES_SPARE_BLOCKS        8             /* blocks of bulk_bytes kept between calls: no
                                              * page faults for fresh memory on every bulk */

struct es_http;                  /* store_es_http.c */

/* The NDJSON of a bulk lives in blocks of about bulk_bytes that never move once written, so a
 * request can point into one while the next block is being filled. */
struct es_block {
    char *buf;
    size_t len, cap;
};


struct es {
    struct es_http *http;
    char prefix[64];
    long long bulk_bytes, inflight;
    char dist[16];               /* "opensearch" or "elasticsearch" */
    int major, minor;
    bool composable;             /* _index_template (ES >= 7.8, OpenSearch) or legacy _template */
    bool degraded;               /* the last write ran out of retries: the next one tries once */
    long long window;            /* requests in flight now: halved on a 429, +1 after a clean
                                  * round, within 1..inflight (AIMD, as TCP) */
    long long cut_bytes;         /* request size now: halved when a whole request is refused
                                  * (429), doubled after a clean round, up to bulk_bytes */
    uint64_t rng;                /* backoff jitter */
    struct es_block spare[ES_SPARE_BLOCKS];   /* blocks kept for the next bulk */
    size_t nspare;
    int64_t index_day;           /* es_index_day's last answer: day (since 1970), kind, name */
    char index_kind[16], index_name[96];
    uint64_t total;              /* es_query_page: every session, counted at total_at_ms */
    int64_t total_at_ms;         /* CLOCK_MONOTONIC ms; 0 = never */
};

static inline struct es *ES(struct store *st) { return st->impl; }

/* ---- store_es_http.c: libcurl (multi handle, keep-alive, gzip bodies) ------------------- */

struct es_call {
    /* filled by the caller */
    const char *method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    char path[512];              /* "/_bulk?filter_path=..." (already URL-safe) */
    const char *body;            /* NULL = none; lent until es_http_run returns */
    size_t body_len;
    bool ndjson;                 /* Content-Type application/x-ndjson, else application/json */
    long timeout_ms;             /* 0 = ES_REQUEST_TIMEOUT_MS */
    /* answered by es_http_run / es_http_step */
    bool done;
    long status;                 /* HTTP status; 0 = no answer (see error) */
    char *resp;                  /* body, malloc'd, NUL-terminated ("" when none) */
    size_t resp_len;
    char error[192];             /* curl's message when status == 0 */
    char where[96];              /* the node asked, credentials masked */
};

struct es_http_config {
    const char *urls;            /* "http://a:9200,https://u:p@b:9200" (store.c checked them) */
    const char *user, *password, *api_key, *ca_file;
    long long inflight;
    int gzip;                    /* store_config.es_gzip: 0 auto (not to loopback), 1, -1 */
};

struct es_http *es_http_new(const struct es_http_config *cfg, char err[ASH_ERR_LEN]);
void es_http_free(struct es_http *h);
/* Run the n calls, at most `limit` (0 = inflight) at a time; every call gets a status (or an
 * error). 0, or -1 with err when out of memory (then the calls are abandoned). */
int es_http_run(struct es_http *h, struct es_call *calls, size_t n, size_t limit,
                char err[ASH_ERR_LEN]);
/* The same in pieces, for a caller that has more to do meanwhile (rendering the next bulk):
 * start one call in a free slot (-1: no free slot, or out of memory); step: move every
 * transfer on and wait up to timeout_ms (0: not at all) for one to end, returns how many
 * ended (their `done` is set); abandon: end every running call as failed. A started call
 * must stay where it is until it is done. */
size_t es_http_busy(const struct es_http *h);
size_t es_http_slots(const struct es_http *h);
int es_http_start(struct es_http *h, struct es_call *c);
size_t es_http_step(struct es_http *h, int timeout_ms);
void es_http_abandon(struct es_http *h);
/* One call; its status (0 = no answer). */
long es_http_one(struct es_http *h, struct es_call *c);
/* One call, tried on the next node while a node gives no answer (each node once at most):
 * for reads and set-up, which have no retry loop of their own. */
long es_http_any(struct es_http *h, struct es_call *c);
void es_call_clear(struct es_call *c);               /* frees resp; keeps the request */
/* A status worth another try: no answer, 408, 429, 5xx. */
bool es_http_transient(long status);
/* "HTTP 429: es_rejected_execution_exception: rejected execution of ..." or the curl error */
void es_call_describe(const struct es_call *c, char *out, size_t outsz);
/* The first node's URL with credentials masked, for messages. */
const char *es_http_where(const struct es_http *h);
/* How the answer is parsed: NULL when it is not JSON. Caller puts the object. */
json_object *es_call_json(const struct es_call *c);

/* ---- store_es_template.c: index names, templates --------------------------------------- */

/* "<prefix>-sessions-2013.11.25" from a time in microseconds (UTC) */
void es_index_day(struct es *es, const char *kind, int64_t us, char *out, size_t outsz);
/* "<prefix>-stats-2013.11" */
void es_index_month(const struct es *es, const char *kind, int64_t us, char *out, size_t outsz);
/* Install (or overwrite with the same content) the four templates; STORE_OK or a store code. */
int es_install_templates(struct store *st);

/* ---- store_es_bulk.c: _bulk with retries ------------------------------------------------ */

/* One action + document, as two NDJSON lines in a block. */
struct es_item {
    size_t block, off, len;      /* the action line and the source line, '\n' after each */
    int status;                  /* 0 = not answered yet; else the item's HTTP status */
    char *reason;                /* "HTTP 400: mapper_parsing_exception: failed to parse ..."
                                  * malloc'd for an item that failed (not for 409), else NULL */
};

static inline const char *es_item_reason(const struct es_item *it)
{
    return it->reason ? it->reason : "";
}

struct es_flight;                /* a first-round request (store_es_bulk.c) */

struct es_bulk {
    struct es *es;               /* its bulk size, its spare blocks */
    struct es_block *blocks;
    size_t nblocks, cap_blocks;
    struct es_item *items;
    size_t n, cap_items;
    /* the first round, sent while items are still added (es_bulk_push) */
    size_t sent;                 /* items [0, sent) are in a request */
    struct es_flight **fl;
    size_t nfl, cap_fl;
    int rc;                      /* a request the cluster refused for good */
    bool oom, rejected, unanswered;   /* this round: out of memory, a 429, no answer */
    char why[400];               /* the last transient failure, for the message */
};

void es_bulk_init(struct es_bulk *b, struct store *st);
/* Frees b (its blocks go back to the spare list). No request of b may be in flight: a caller
 * that stops between es_bulk_add and es_bulk_run calls es_bulk_abort first. */
void es_bulk_free(struct es_bulk *b);
void es_bulk_abort(struct store *st, struct es_bulk *b);
/* Append `{"<op>":{"_index":...,"_id":...[,version]}}\n<doc>\n`; doc is JSON text without a
 * newline, or NULL for an action without a source line (delete). version >= 0 adds
 * "version":N,"version_type":"external_gte". -1 out of memory. */
int es_bulk_add(struct es_bulk *b, const char *op, const char *index, const char *id,
                int64_t version, const char *doc, size_t doc_len);
/* The item's two lines (action, then source), it->len bytes. */
static inline const char *es_item_text(const struct es_bulk *b, const struct es_item *it)
{
    return b->blocks[it->block].buf + it->off;
}
/* After es_bulk_add: send each block once it is full and a slot is free, and move the requests
 * in flight on, without waiting (rendering the next documents overlaps the node's work on the
 * previous ones). Errors surface in es_bulk_run. */
void es_bulk_push(struct store *st, struct es_bulk *b);
/* Send every item until each has a final status (2xx, 409, or an error that no retry can cure),
 * retrying whole requests (no answer, 429, 5xx) and single items (429, 5xx) with exponential
 * backoff and jitter. STORE_OK when every item has a final status; STORE_ERR_RETRY when nothing
 * was stored for ES_RETRY_BUDGET_MS (st->err says why); STORE_ERR for a request the cluster
 * refuses for good (401, 403, 413, ...). */
int es_bulk_run(struct store *st, struct es_bulk *b);
/* A final status that means "stored" (2xx, or 409: already there) */
static inline bool es_item_ok(const struct es_item *it)
{
    return (it->status >= 200 && it->status < 300) || it->status == 409;
}

/* ---- store_es_query.c: reading and retention -------------------------------------------- */

int es_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                      uint64_t *total);
/* es_query_sessions handing each hit's _source as the answer's parser made it */
int es_query_docs(struct store *st, const struct store_query *q, store_doc_fn cb, void *ctx,
                  uint64_t *total);
int es_count_by(struct store *st, const struct store_query *q, const struct field_def *field,
                store_row_fn cb, void *ctx);
int es_query_page(struct store *st, const struct store_query *q, int64_t width_us,
                  store_doc_fn cb, void *ctx, store_histo_fn hcb, void *hctx, uint64_t *total);
int es_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                 bool by_sensor, store_histo_fn cb, void *ctx);
int es_get_session(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                   void *ctx);
int es_delete_older(struct store *st, int64_t before_us, uint64_t *deleted);

/* ---- store_es_meta.c: alerts read back (store_query_alerts) ---------------------------- */

int es_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                    uint64_t *total);

/* ---- store_es_stats.c: sensor stats read back (store_latest_stats, store_stats_history) and
 * the stats history pruned ------------------------------------------------------------------ */

int es_latest_stats(struct store *st, store_row_fn cb, void *ctx);
int es_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                     void *ctx);
int es_delete_stats_older(struct store *st, int64_t before_us);

/* ---- store_es.c: shared helpers -------------------------------------------------------- */

/* Fail with the call's description: STORE_ERR_RETRY when transient, else STORE_ERR. */
int es_fail_call(struct store *st, const struct es_call *c, const char *what);
/* The read requests' scaffold (store_es_query.c, store_es_meta.c, store_es_stats.c): POST
 * body (NULL = none) to path; the parsed answer (caller puts), or NULL with st->err set and
 * *rc the store code (out of memory, no answer, a status but 200, an answer not JSON).
 * timeout_ms 0 = ES_REQUEST_TIMEOUT_MS. */
json_object *es_post(struct store *st, const char *path, json_object *body, long timeout_ms,
                     const char *what, int *rc);
/* {k: v} (takes v) */
json_object *es_obj1(const char *k, json_object *v);
/* o[keys[0]][keys[1]]...; NULL when one is missing (borrowed) */
json_object *es_path(json_object *o, const char *const *keys, size_t n);
/* appends {field: {"order": dir, "unmapped_type": type}} to a sort array */
void es_sort_add(json_object *arr, const char *field, const char *dir, const char *type);
/* The _id of a session document: "<id as text>@<sensor>" (see store_es.c's Trap). */
#define ES_DOC_ID_LEN (STORE_ID_LEN + 1 + STORE_SENSOR_MAX)
void es_session_doc_id(const ProtobufCBinaryData *id, const char *sensor,
                       char out[ES_DOC_ID_LEN]);

/* s as the inside of a JSON string: '"', '\\' and controls escaped, and every byte above
 * 0x7e as \u00XX, so the text stays valid UTF-8 whatever a sensor sent (ids and names are
 * only compared with themselves). Writes at most outsz - 1 bytes and a NUL (6 per byte of s
 * are always enough); returns the length written. */
size_t es_escape(const char *s, char *out, size_t outsz);
/* JSON object -> text for a request body (json-c owns the text until the object is put). */
const char *es_json_text(json_object *o, size_t *len);

#endif
