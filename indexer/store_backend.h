/* store_backend.h -- what a store backend fills in, and the helpers store*.c lend to backends
 * (like Redis's ConnectionType in src/connection.h). Only indexer/store*.c include this.
 * Owns:  struct store_backend (one const table per backend) and the layout of struct store.
 * Lends: st->cfg to the backend for the life of the handle.
 * Never: seen by callers of store.h.
 * Trap:  store_write.c and store_read.c validate arguments and records before calling a
 *        backend (sensor length, batch size, record ids, times and keyword lengths, count_by
 *        field, that q->expr is a tree of query_parse.h, with ashiato.segments expanded) and
 *        dead-letter the bad records, so a backend receives only records that store_id_text()
 *        accepts with times in 0..STORE_TIME_MAX; it sets st->err through store_fail(). */
#ifndef ASHIATO_STORE_BACKEND_H
#define ASHIATO_STORE_BACKEND_H

#include "store.h"

#include "field_catalog.h"

struct store_backend {
    const char *kind;            /* default store_kind(); open() may set st->kind instead */
    /* target: sqlite: the file path; null: ""; elasticsearch: the normalised URL list
     * "http://a:9200,https://b:9200" (each checked for scheme, host and port). Set st->impl.
     * On failure write err and leave nothing allocated (close() is not called). */
    int (*open)(struct store *st, const char *target, char err[ASH_ERR_LEN]);
    void (*close)(struct store *st);                    /* frees st->impl */
    /* all batches in one transaction; every record valid (see Trap) */
    int (*put_batches)(struct store *st, const struct store_batch *b, size_t nb);
    int (*sensor_seq)(struct store *st, const char *sensor, uint64_t *seq);
    int (*put_stats)(struct store *st, const char *sensor, const Ashiato__SensorStats *stats);
    int (*put_alert)(struct store *st, const Ashiato__Alert *alert);
    int (*query_sessions)(struct store *st, const struct store_query *q, store_row_fn cb,
                          void *ctx, uint64_t *total);
    /* field: a catalogue field that is neither pseudo, sum nor time (store_read.c checks);
     * NULL: by hour of event.start */
    int (*count_by)(struct store *st, const struct store_query *q, const struct field_def *field,
                    store_row_fn cb, void *ctx);
    /* width_us checked by store_read.c (1 s..STORE_HISTO_WIDTH_MAX) */
    int (*histogram)(struct store *st, const struct store_query *q, int64_t width_us,
                     bool by_sensor, store_histo_fn cb, void *ctx);
    /* optional (NULL: query_sessions with each row's text parsed, store_read.c):
     * store_query_docs, for a backend that holds the documents parsed already */
    int (*query_docs)(struct store *st, const struct store_query *q, store_doc_fn cb,
                      void *ctx, uint64_t *total);
    /* optional (NULL: histogram, query_sessions of all, query_docs of q's page in turn):
     * store_query_page with hcb already wrapped to sum *matched; q->limit > 0 when cb */
    int (*query_page)(struct store *st, const struct store_query *q, int64_t width_us,
                      store_doc_fn cb, void *ctx, store_histo_fn hcb, void *hctx,
                      uint64_t *total);
    /* sensor NULL: every sensor's session with the id (see store_get_session) */
    int (*get_session)(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                       void *ctx);
    int (*delete_older)(struct store *st, int64_t before_us, uint64_t *deleted);
    /* optional (NULL: put_batches is called instead): put_batches with packed[bi][i], the
     * bytes of b[bi].recs[i] as packed protobuf (packed[bi] may be NULL) */
    int (*put_batches_packed)(struct store *st, const struct store_batch *b, size_t nb,
                              const ProtobufCBinaryData *const *packed);
    /* optional (NULL: STORE_ERR "not supported"): store_latest_stats, store_query_alerts */
    int (*latest_stats)(struct store *st, store_row_fn cb, void *ctx);
    int (*query_alerts)(struct store *st, const struct store_query *q, store_row_fn cb,
                        void *ctx, uint64_t *total);
    /* optional (NULL: accepted, nothing kept): store_put_links, arguments checked */
    int (*put_links)(struct store *st, const struct store_link *links, size_t n);
    /* optional: store_stats_history (NULL: STORE_ERR "not supported"); the pruning of stats
     * samples older than before_us (NULL: none) */
    int (*stats_history)(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                         void *ctx);
    int (*delete_stats_older)(struct store *st, int64_t before_us);
};

struct store {
    const struct store_backend *be;
    void *impl;                  /* the backend's state */
    const char *kind;            /* static string */
    struct store_config cfg;     /* copy of the caller's, batch_max defaulted */
    struct store_counters counters;  /* batches/records/retries/errors by store.c;
                                      * inserted/duplicates/dead_lettered by the backend */
    char err[ASH_ERR_LEN];
    char info[256];              /* store_info(): filled by the backend's open(), if at all */
    int64_t stats_pruned_us;     /* wall clock of the last delete_stats_older (store_write.c) */
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_null_backend;
#ifdef STORE_HAVE_ES
extern const struct store_backend store_es_backend;   /* store_es.c, built with libcurl */
#endif

/* Count rc in st->counters (retries, errors) and return it (store.c). */
int store_counted(struct store *st, int rc);

/* Format st->err and return code (for `return store_fail(st, STORE_ERR_RETRY, ...)`). */
int store_fail(struct store *st, int code, const char *fmt, ...) ASH_PRINTF(3, 4);

/* The session id as text, the same in every backend (SQLite primary key, ES _id, the `id`
 * of store_get_session): an id of 1..STORE_ID_MAX bytes drawn from [A-Za-z0-9._:-] is used as
 * it is (the sensor's ids are such text); any other id of 1..STORE_ID_MAX/2 bytes becomes
 * lowercase hex. Returns the length, or -1 for an empty or oversized id. */
#define STORE_ID_LEN (STORE_ID_MAX + 1)
int store_id_text(const ProtobufCBinaryData *id, char out[STORE_ID_LEN]);

/* The alert's JSON document (ECS-like: @timestamp, event.{kind,id,start,end}, rule.name,
 * source.ip, observer.name[], message, ashiato.alert.{sessions,session_ids[]}), malloc'd,
 * caller frees; NULL when out of memory. */
char *store_alert_json(const Ashiato__Alert *a, size_t *len);

/* Append one line to cfg.dead_letter and fsync it:
 * {"time":"...","sensor":"...","seq":N,"id":"...","reason":"...","doc":{...}|"record":"<hex>"}
 * doc (JSON text) may be NULL, then rec (may be NULL) is written as packed protobuf in hex.
 * A doc that is not valid JSON goes in as the string "doc_text". Counts
 * st->counters.dead_lettered. STORE_ERR when no file is configured, STORE_ERR_RETRY on an
 * I/O error or no memory; either way the record's batch must not be acknowledged. */
int store_dead_letter(struct store *st, const char *sensor, uint64_t seq, const char *id,
                      const char *reason, const char *doc, size_t doc_len,
                      const Ashiato__SessionRecord *rec);

#endif
