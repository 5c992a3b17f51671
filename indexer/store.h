/* store.h -- the aggregator's one interface to where sessions, alerts and sensor stats live.
 * Owns:  struct store (opaque), chosen at store_open() by a URL:
 *          sqlite:///abs/path.db  sqlite://relative.db    embedded SQLite (store_sqlite.c)
 *          http(s)://host:9200[,http(s)://host2:9200]     Elasticsearch / OpenSearch (store_es.c)
 *          null:                                          accept and discard (store_null.c)
 *        An empty URL means STORE_URL_DEFAULT. Backends fill the table in store_backend.h;
 *        callers never ask which one they got (store_kind() is for logs and /metrics).
 * Lends: store_error() and store_kind() strings, valid until the next call on the handle;
 *        the json_doc given to a store_row_fn and the document given to a store_doc_fn,
 *        valid only during that call (a store_doc_fn may keep a reference of its own).
 * Never: logs, prints or exits; keeps a pointer to the caller's records or config.
 * Trap:  a handle is not thread-safe: give each thread its own (SQLite in WAL mode lets one
 *        writer and any number of readers work side by side), and a store_row_fn must not
 *        call into the handle that is calling it. STORE_ERR_RETRY means "nothing you must
 *        not repeat was written": never acknowledge the batch, try again later. */
#ifndef ASHIATO_STORE_H
#define ASHIATO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"

#define STORE_URL_DEFAULT "sqlite://ashiato-sessions.db"

/* Return codes. */
#define STORE_OK             0
#define STORE_ERR           -1   /* permanent: bad argument, bad record, corrupt store */
#define STORE_ERR_RETRY     -2   /* transient: locked, busy, I/O, disk full, 429, cluster down */
#define STORE_ERR_NOT_FOUND -3   /* store_get_session: no session with that id */

/* Limits every backend enforces alike (store_write.c checks them before a backend sees a record). */
#define STORE_SENSOR_MAX   255   /* bytes of a sensor identity */
#define STORE_ID_MAX       128   /* characters of a session id as text (see store_backend.h) */
#define STORE_GET_MAX       64   /* documents store_get_session() gives for one id at most */
#define STORE_KEYWORD_MAX 1024   /* bytes of a keyword field (protocol, community_id, ...) */
#define STORE_TIME_MAX 4102444800000000LL   /* start_us/end_us: 2100-01-01T00:00:00Z */
#define STORE_BATCH_MAX_DEFAULT 100000
#define STORE_HISTO_WIDTH_MAX (366LL * 86400 * 1000000)   /* store_histogram's widest bucket */

struct store;
struct query_expr;               /* the query language's AST (query_parse.h) */

struct store_config {
    char url[1024];              /* see above; "" = STORE_URL_DEFAULT */
    long long batch_max;         /* records accepted in one store_put_batch(es) call; 0 = default */
    long long retention_days;    /* store_apply_retention(); 0 = keep forever */
    char es_prefix[64];          /* ES: index name prefix, "" = "ashiato" */
    char user[128], password[256];   /* ES: basic auth */
    char api_key[512];           /* ES: "ApiKey" header value (base64 id:key) */
    char ca_file[1024];          /* ES: CA bundle for https */
    char dead_letter[1024];      /* file that receives records rejected for good, "" = none */
    long long bulk_bytes, bulk_ms, inflight;  /* ES bulk sizing; 0 = the backend's default */
    int es_gzip;                 /* ES: gzip request bodies: 0 = to every node but a loopback
                                  * one, 1 = always, -1 = never */
    /* The aggregator's [segments] (common/segmap.h), or NULL: none. Not owned; it outlives
     * the handle, and a reload's segmap_live_set reaches every handle that shares it. Session
     * documents get ashiato.segments (source's and destination's segment) when rendered:
     * SQLite at read, with the current map; ES in the bulk document, with the map at index
     * time. `ashiato.segments` in an expression always means the current map, on every
     * backend (store_segments.c expands it into ip.src / ip.dst prefixes). */
    struct segmap_live *segments;
};

/* Counters since store_open(), for stats.json and /metrics. */
struct store_counters {
    uint64_t batches;            /* batches stored (each of a store_put_batches call counts) */
    uint64_t records;            /* records in those batches */
    uint64_t inserted;           /* records newly stored */
    uint64_t duplicates;         /* records already present (re-delivery), stored once */
    uint64_t dead_lettered;      /* records rejected for good and written to dead_letter */
    uint64_t retries;            /* calls that returned STORE_ERR_RETRY */
    uint64_t errors;             /* calls that returned STORE_ERR */
};

/* Open the store named by cfg->url (cfg may be NULL: all defaults). NULL on failure with one
 * sentence in err, e.g. "store url 'ftp://x': unknown scheme 'ftp' (expected ...)". */
struct store *store_open(const struct store_config *cfg, char err[ASH_ERR_LEN]);
void store_close(struct store *st);                        /* accepts NULL */
const char *store_error(const struct store *st);           /* last error message, "" if none */
/* "sqlite", "null", "elasticsearch" or "opensearch" */
const char *store_kind(const struct store *st);
/* One line about what store_open() found, for the caller to log at start, e.g. "opensearch
 * 2.19.6, cluster ashiato-test, at http://127.0.0.1:9200" (credentials masked); "" if the
 * backend has nothing to say. */
const char *store_info(const struct store *st);
void store_counters(const struct store *st, struct store_counters *out);

/* Store one batch of a sensor atomically with the sensor's committed sequence number.
 * Returns STORE_OK once every record AND the new seq are durable; STORE_ERR_RETRY when nothing
 * (or only idempotent parts) was written and the caller must retry later without acking;
 * STORE_ERR when the batch can never be stored. Re-putting a record with the same id stores it
 * once. `sensor` is the authenticated identity: it overrides each record's observer_name. The
 * stored seq only grows (max of old and new); seq 0 stores the records and leaves it alone.
 * A record rejected for good (empty or oversized id, oversized keyword, a time outside
 * 1970..2100) goes to the dead_letter file with its reason and the rest of the batch is
 * stored; without a dead_letter file the whole batch fails with STORE_ERR naming the record
 * and field. */
int store_put_batch(struct store *st, const char *sensor, const char *stream, uint64_t seq,
                    const Ashiato__SessionRecord *const *recs, size_t n);

/* Group commit: several batches (of one or several sensors) in one transaction / one bulk
 * load, all or nothing, with the semantics of store_put_batch for each. This is how to keep
 * up under load: a commit rewrites every index page it touched, so one commit of 20 batches
 * of 1000 records was about 3x faster than 20 commits (see store_sqlite.c). On
 * STORE_ERR the message names the batch ("batches[2] ..."); put them one by one to isolate
 * it. The same sensor may appear in several batches (in seq order). */
struct store_batch {
    const char *sensor;
    const char *stream;          /* key of the committed sequence ("name#epoch"); NULL = sensor */
    uint64_t seq;
    const Ashiato__SessionRecord *const *recs;
    size_t n;
};
int store_put_batches(struct store *st, const struct store_batch *batches, size_t nbatches);
/* store_put_batches, given also each record's packed bytes: packed[bi][i] is
 * batches[bi].recs[i] as packed protobuf (as the sensor sent it; packed[bi] may be NULL).
 * The SQLite store keeps these bytes instead of packing the record again (that was 16% of
 * its insert path); the other backends ignore them. */
int store_put_batches_packed(struct store *st, const struct store_batch *batches,
                             size_t nbatches, const ProtobufCBinaryData *const *packed);
/* The highest seq committed for a stream (or sensor); 0 if unknown. A sensor's stream is its
 * name and its journal's epoch: a sensor whose journal was wiped starts a new stream. */
int store_sensor_seq(struct store *st, const char *stream, uint64_t *seq);
/* Sensor stats; `sensor` overrides st->sensor. One row per (sensor, time_us), last wins. */
int store_put_stats(struct store *st, const char *sensor, const Ashiato__SensorStats *stats);
/* The stats history: every SensorStats stored is a sample, kept STORE_STATS_KEEP_DAYS (older
 * ones are pruned by store_put_stats, at most every STORE_STATS_PRUNE_US, but for each
 * sensor's newest) or less when retention_days is shorter. */
#define STORE_STATS_KEEP_DAYS 8
#define STORE_STATS_PRUNE_US (600LL * 1000000)
struct store_stats_sample {
    int64_t time_us;             /* the sensor's clock when it took the sample */
    uint64_t packets;            /* packets seen */
    uint64_t dropped;            /* pcap_dropped + pcap_if_dropped + outbox_dropped */
    uint64_t outbox_batches;     /* outbox depth */
    uint32_t interval_ms;        /* the sensor's stats interval, 0 = not reported */
};
typedef int (*store_stats_fn)(void *ctx, const char *sensor, const struct store_stats_sample *s);
/* Every sample with time_us in [start_us, end_us) (a bound of 0 is open), by sensor name then
 * time, until cb returns nonzero. STORE_ERR on a backend that keeps none (null:). */
int store_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                        void *ctx);
/* An alert; one per id, a re-put with the same id replaces it (alerts grow while they run). */
int store_put_alert(struct store *st, const Ashiato__Alert *alert);
/* Cross-sensor links: session id_a of sensor_a and id_b of sensor_b are one flow seen by two
 * sensors (detection found it after both were stored). Each stored session then names the
 * other in ashiato.linked as "id@sensor" (the records themselves are never rewritten: SQLite
 * keeps them in a table of their own, read back when a document is built; Elasticsearch /
 * OpenSearch get a partial update of both documents, found by _id "id@sensor" in the index
 * of their event.start). Putting a link again changes nothing. A session not (yet) stored is skipped. */
struct store_link {
    const char *sensor_a, *id_a, *sensor_b, *id_b;
    int64_t start_a_us, start_b_us;     /* each session's event.start (its index, retention) */
};
int store_put_links(struct store *st, const struct store_link *links, size_t n);

/* Reading. Sessions match when event.start lies in [start_us, end_us); a bound of 0 is open.
 * expr is a tree from query_parse() (NULL = match all), compiled by each backend (query_sql.h,
 * query_es.h) with the same answers; the caller keeps it until the call returns. limit 0 =
 * no limit. */
struct store_query {
    int64_t start_us, end_us;
    /* event.end in [end_min_us, end_max_us) too (0 = open): the API's bounding last/both/
     * either, so a page's offset counts only sessions it keeps */
    int64_t end_min_us, end_max_us;
    const char *sensor;          /* observer.name, NULL = any */
    const struct query_expr *expr;
    size_t offset, limit;
    bool newest_first;
    /* The document paths the caller will read (ECS, dotted: "source.ip", "ashiato"), NULL =
     * all. Only a hint: a backend may hand documents that hold just these (ES asks the node
     * for these _source fields alone, as Arkime does) or whole ones (SQLite); a caller that
     * sets it reads nothing else. */
    const char *const *fields;
    size_t nfields;
};

/* Called once per row with a JSON document (not NUL-terminated); nonzero stops the scan. */
typedef int (*store_row_fn)(void *ctx, const char *json_doc, size_t len);

/* Called once per row with the document already parsed (json-c's json_object), lent for the
 * call: the callback may take its own reference (json_object_get) to keep it, and may change
 * it once it holds one; the store drops its own reference when the callback returns. Nonzero
 * stops the scan. A backend that holds parsed documents (ES: the node's answer) hands them as
 * they are, with no text in between; the others parse the text they would give a
 * store_row_fn (a row that does not parse is skipped). */
struct json_object;
typedef int (*store_doc_fn)(void *ctx, struct json_object *doc);

/* Session documents in event.start order (ties by id). cb may be NULL to only count; total
 * (may be NULL) receives the number of matches before offset/limit. */
int store_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                         void *ctx, uint64_t *total);
/* store_query_sessions with each document parsed (store_doc_fn): the same documents, in the
 * same order, on every backend. */
int store_query_docs(struct store *st, const struct store_query *q, store_doc_fn cb,
                     void *ctx, uint64_t *total);
/* Buckets of the matching sessions by one field: any field of the catalogue by its Arkime or
 * ECS name ("node", "observer.name", "ip.protocol", "port.dst", "host.dns", ...) except
 * pseudo-fields (ip, port, host, protocols), sums (databytes) and times, or "hour". Sessions
 * without a value are not counted (as in an ES terms aggregation); a session with several
 * values counts once under each. One callback per bucket with {"key":"tcp","count":42} (a
 * number for integer fields), for "hour"
 * {"key":1385388000000000,"count":42} (key = start of the hour in microseconds, UTC).
 * Terms come by count descending then key; hours ascending. q->limit caps the buckets
 * (0 = all), q->offset is ignored. */
int store_count_by(struct store *st, const struct store_query *q, const char *field,
                   store_row_fn cb, void *ctx);
/* The sums a histogram bucket carries, by the session document paths they add up. */
enum store_sum {
    STORE_SUM_SRC_PACKETS,       /* source.packets */
    STORE_SUM_DST_PACKETS,       /* destination.packets */
    STORE_SUM_SRC_BYTES,         /* source.bytes */
    STORE_SUM_DST_BYTES,         /* destination.bytes */
    STORE_SUM_SRC_DATA,          /* ashiato.data_bytes.source (Arkime client.bytes) */
    STORE_SUM_DST_DATA,          /* ashiato.data_bytes.destination (server.bytes) */
    STORE_SUM_COUNT
};
struct store_histo_bucket {
    int64_t key_us;              /* the bucket's start: floor(event.start / width) * width */
    uint64_t sessions;
    uint64_t sums[STORE_SUM_COUNT];
};
/* series: NULL for the whole query, the sensor's name (observer.name) when split by sensor;
 * valid during the call. Nonzero stops. */
typedef int (*store_histo_fn)(void *ctx, const char *series, const struct store_histo_bucket *b);
/* The matching sessions counted and summed per bucket of event.start of width_us (whole
 * seconds, 1 s..STORE_HISTO_WIDTH_MAX, UTC, from the epoch), without handing out documents: SQLite groups rows (whole
 * minutes of a query without expression or event.end bounds come from its per-minute rollup),
 * ES runs a date_histogram with sum sub-aggregations. Only buckets that hold a session, each
 * series in ascending key order. by_sensor: one series per sensor (sensors in name order);
 * else one series (NULL). q->offset/q->limit are ignored. */
int store_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                    bool by_sensor, store_histo_fn cb, void *ctx);
/* sessions.json's reads in one call: q's page (q->offset, q->limit; cb NULL = none) to cb as
 * store_query_docs, q's histogram at width_us to hcb as store_histogram (one series),
 * *matched = the sessions of q (the histogram's sum), *total = every session stored. ES
 * asks one _search for the page and the date_histogram together (the count of all beside
 * it on another connection when the handle's is older than 1 s); a backend without its own
 * way makes the three calls in turn. */
int store_query_page(struct store *st, const struct store_query *q, int64_t width_us,
                     store_doc_fn cb, void *ctx, store_histo_fn hcb, void *hctx,
                     uint64_t *matched, uint64_t *total);
/* The session of one sensor (its authenticated name, observer.name) with an id; as
 * store_get_session() (below) otherwise (several only if that sensor stored the id at several
 * starts). */
int store_get_session_of(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                         void *ctx);
/* The documents of the sessions with an id (as text, see store_backend.h), one callback each,
 * by event.start then observer.name, until cb returns nonzero (a caller wanting one returns
 * 1: it gets the earliest, ties by sensor name); at most STORE_GET_MAX. A session is unique
 * per (authenticated sensor, id): two sensors may hold the same id (issue 14, H1: the id is a
 * public hash, so a sensor can forge another's), and neither displaces the other. Use
 * store_get_session_of() for one sensor's. STORE_ERR_NOT_FOUND if none. */
int store_get_session(struct store *st, const char *id, store_row_fn cb, void *ctx);
/* The latest SensorStats of each sensor, one callback per sensor (by name) with
 * {"sensor":"dept-3","time":"...Z","time_us":N,"pcap_received":N,...every SensorStats
 * counter and gauge, "oldest_packet_us":N,"stats_interval_ms":N} (0: not reported).
 * Elasticsearch: near real time (a sample is seen once its index refreshed). */
int store_latest_stats(struct store *st, store_row_fn cb, void *ctx);
/* Alert documents (store_alert_json's) whose start lies in [q->start_us, q->end_us) and that
 * match q->expr (NULL = all; a tree of query_parse_in(&field_catalog_alerts, ...), STORE_ERR
 * for any other), newest first, q->offset/q->limit applied; total (may be NULL) gets the
 * matches. q->sensor is ignored. STORE_ERR on a backend that cannot read them back yet. */
int store_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb,
                       void *ctx, uint64_t *total);
/* Remove sessions whose event.start is before before_us (and stats and alerts older than
 * that); *deleted (may be NULL) receives the number of sessions removed. */
int store_delete_older(struct store *st, int64_t before_us, uint64_t *deleted);
/* store_delete_older(now_us - retention_days) when retention_days > 0, else nothing. */
int store_apply_retention(struct store *st, int64_t now_us, uint64_t *deleted);

#endif
