/* store_es_stats.c -- the Elasticsearch store's sensor stats read back for the HTTP API
 * (stats.json: the latest sample per sensor; sensors/history.json: every sample), the same
 * rows as store_sqlite_meta.c and store_sqlite_stats.c give; and the history's pruning.
 * Owns:  the query DSL of these reads; nothing across calls.
 * Lends: documents to the caller's store_row_fn, valid during that call only; samples to a
 *        store_stats_fn by value.
 * Never: writes, but to prune the stats history (store_es.c writes the stats indices).
 * Trap:  near real time, as every ES read: a sample is found once its index refreshes (1 s
 *        by default). The history pages with search_after (by sensor, then time: unique, as
 *        a sample's _id is time@sensor) up to ES_HISTORY_MAX samples. A sample's time is its
 *        @timestamp (microseconds, as record_json_time wrote it). */
#include "store_es.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "record_json.h"

#define ES_STATS_SENSORS 10000     /* sensors in one terms aggregation */
#define ES_HISTORY_PAGE  5000
#define ES_HISTORY_MAX   4000000   /* samples: 8 days of 5 s samples from 28 sensors */

/* "2026-12-07T05:48:49.123456Z" -> microseconds since the epoch; 0 if it is not such a time */
static int64_t meta_time_us(const char *t)
{
    struct tm tm = { 0 };
    int n = 0;
    if (!t || sscanf(t, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t us = (int64_t)timegm(&tm) * 1000000, frac = 0, scale = 100000;
    if (t[n] == '.')
        for (const char *p = t + n + 1; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += scale ? (*p - '0') * scale : 0;
    return us + frac;
}

static int64_t meta_int(json_object *o, const char *k)
{
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *const stat_names[] = {
    "pcap_received", "pcap_dropped", "pcap_if_dropped", "packets", "malformed",
    "sessions_active", "sessions_total", "sessions_evicted", "outbox_batches", "outbox_bytes",
    "outbox_dropped", "disk_used_bytes", "disk_free_bytes", "oldest_packet_us",
    "stats_interval_ms",
};

int es_latest_stats(struct store *st, store_row_fn cb, void *ctx)
{
    /* one bucket per sensor (by name), its newest sample */
    json_object *sort = json_object_new_array();
    es_sort_add(sort, "@timestamp", "desc", "date_nanos");
    json_object *top = json_object_new_object();
    json_object_object_add(top, "size", json_object_new_int(1));
    json_object_object_add(top, "sort", sort);
    json_object *terms = json_object_new_object();
    json_object_object_add(terms, "field", json_object_new_string("observer.name"));
    json_object_object_add(terms, "size", json_object_new_int(ES_STATS_SENSORS));
    json_object_object_add(terms, "order", es_obj1("_key", json_object_new_string("asc")));
    json_object *by = es_obj1("terms", terms);
    json_object_object_add(by, "aggs", es_obj1("last", es_obj1("top_hits", top)));
    json_object *body = json_object_new_object();
    json_object_object_add(body, "size", json_object_new_int(0));
    json_object_object_add(body, "aggs", es_obj1("s", by));
    char path[256];
    snprintf(path, sizeof path, "/%s-stats-*/_search?filter_path=aggregations.s.buckets.key,"
             "aggregations.s.buckets.last.hits.hits._source", ES(st)->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "latest stats", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    static const char *const buckets_path[] = { "aggregations", "s", "buckets" };
    static const char *const src_path[] = { "last", "hits", "hits" };
    static const char *const stats_path[] = { "ashiato", "stats" };
    json_object *b = es_path(ans, buckets_path, 3);
    size_t n = b ? json_object_array_length(b) : 0;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        json_object *bucket = json_object_array_get_idx(b, i), *key, *src;
        json_object *hits = es_path(bucket, src_path, 3);
        if (!json_object_object_get_ex(bucket, "key", &key) || !hits ||
            !json_object_array_length(hits) ||
            !json_object_object_get_ex(json_object_array_get_idx(hits, 0), "_source", &src))
            continue;
        json_object *ts, *stats = es_path(src, stats_path, 2);
        int64_t us = json_object_object_get_ex(src, "@timestamp", &ts) ?
            meta_time_us(json_object_get_string(ts)) : 0;
        json_object *o = json_object_new_object();
        char t[40];
        record_json_time(us, t);
        json_object_object_add(o, "sensor", json_object_new_string(json_object_get_string(key)));
        json_object_object_add(o, "time", json_object_new_string(t));
        json_object_object_add(o, "time_us", json_object_new_int64(us));
        for (size_t k = 0; k < ASH_ARRAY_LEN(stat_names); k++)
            json_object_object_add(o, stat_names[k], json_object_new_int64(meta_int(stats, stat_names[k])));
        size_t len = 0;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        int stop = 0;
        if (!text)
            rc = store_fail(st, STORE_ERR_RETRY, "latest stats: out of memory");
        else
            stop = cb(ctx, text, len);
        json_object_put(o);
        if (stop)
            break;
    }
    json_object_put(ans);
    return rc;
}

int es_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                     void *ctx)
{
    static const char *const fields[] = {
        "@timestamp", "observer.name", "ashiato.stats.packets", "ashiato.stats.pcap_dropped",
        "ashiato.stats.pcap_if_dropped", "ashiato.stats.outbox_dropped",
        "ashiato.stats.outbox_batches", "ashiato.stats.stats_interval_ms",
    };
    static const char *const hits_path[] = { "hits", "hits" };
    static const char *const stats_path[] = { "ashiato", "stats" };
    static const char *const name_path[] = { "observer", "name" };
    char path[256];
    snprintf(path, sizeof path, "/%s-stats-*/_search?filter_path=hits.hits._source,hits.hits.sort",
             ES(st)->prefix);
    json_object *after = NULL;       /* the last hit's sort values */
    int rc = STORE_OK, stop = 0;
    for (size_t seen = 0; !stop && rc == STORE_OK && seen < ES_HISTORY_MAX; ) {
        json_object *range = json_object_new_object();
        char t[40];
        if (start_us > 0) {
            record_json_time(start_us, t);
            json_object_object_add(range, "gte", json_object_new_string(t));
        }
        if (end_us > 0) {
            record_json_time(end_us, t);
            json_object_object_add(range, "lt", json_object_new_string(t));
        }
        json_object *filters = json_object_new_array();
        json_object_array_add(filters, es_obj1("range", es_obj1("@timestamp", range)));
        json_object *body = json_object_new_object();
        json_object_object_add(body, "query", es_obj1("bool", es_obj1("filter", filters)));
        json_object_object_add(body, "size", json_object_new_int(ES_HISTORY_PAGE));
        json_object *sort = json_object_new_array();
        es_sort_add(sort, "observer.name", "asc", "keyword");
        es_sort_add(sort, "@timestamp", "asc", "date_nanos");
        json_object_object_add(body, "sort", sort);
        json_object *src = json_object_new_array();
        for (size_t k = 0; k < ASH_ARRAY_LEN(fields); k++)
            json_object_array_add(src, json_object_new_string(fields[k]));
        json_object_object_add(body, "_source", src);
        if (after)
            json_object_object_add(body, "search_after", json_object_get(after));
        json_object *ans = es_post(st, path, body, 0, "stats history", &rc);
        json_object_put(body);
        json_object_put(after);
        after = NULL;
        if (!ans)
            break;
        json_object *hits = es_path(ans, hits_path, 2);
        size_t n = hits ? json_object_array_length(hits) : 0;
        for (size_t i = 0; i < n && !stop; i++) {
            json_object *h = json_object_array_get_idx(hits, i), *s, *ts, *srt;
            if (json_object_object_get_ex(h, "sort", &srt) && i + 1 == n)
                after = json_object_get(srt);
            if (!json_object_object_get_ex(h, "_source", &s))
                continue;
            json_object *x = es_path(s, stats_path, 2), *name = es_path(s, name_path, 2);
            struct store_stats_sample smp = {
                .time_us = json_object_object_get_ex(s, "@timestamp", &ts) ?
                    meta_time_us(json_object_get_string(ts)) : 0,
                .packets = (uint64_t)meta_int(x, "packets"),
                .dropped = (uint64_t)meta_int(x, "pcap_dropped") +
                    (uint64_t)meta_int(x, "pcap_if_dropped") + (uint64_t)meta_int(x, "outbox_dropped"),
                .outbox_batches = (uint64_t)meta_int(x, "outbox_batches"),
                .interval_ms = (uint32_t)meta_int(x, "stats_interval_ms"),
            };
            stop = cb(ctx, name ? json_object_get_string(name) : "", &smp);
        }
        seen += n;
        json_object_put(ans);
        if (n < ES_HISTORY_PAGE || !after)
            break;
    }
    json_object_put(after);
    return rc;
}

int es_delete_stats_older(struct store *st, int64_t before_us)
{
    /* each sensor's newest sample stays (as on SQLite): its _id, from the latest per sensor */
    json_object *top = json_object_new_object(), *sort = json_object_new_array();
    es_sort_add(sort, "@timestamp", "desc", "date_nanos");
    json_object_object_add(top, "size", json_object_new_int(1));
    json_object_object_add(top, "sort", sort);
    json_object_object_add(top, "_source", json_object_new_boolean(0));
    json_object *terms = json_object_new_object();
    json_object_object_add(terms, "field", json_object_new_string("observer.name"));
    json_object_object_add(terms, "size", json_object_new_int(ES_STATS_SENSORS));
    json_object *by = es_obj1("terms", terms);
    json_object_object_add(by, "aggs", es_obj1("last", es_obj1("top_hits", top)));
    json_object *body = json_object_new_object();
    json_object_object_add(body, "size", json_object_new_int(0));
    json_object_object_add(body, "aggs", es_obj1("s", by));
    char t[40], path[256];
    snprintf(path, sizeof path, "/%s-stats-*/_search?filter_path=aggregations.s.buckets.last."
             "hits.hits._id", ES(st)->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "prune stats history: newest", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    static const char *const buckets_path[] = { "aggregations", "s", "buckets" };
    static const char *const hits_path[] = { "last", "hits", "hits" };
    json_object *keep = json_object_new_array(), *b = es_path(ans, buckets_path, 3), *id;
    for (size_t i = 0, n = b ? json_object_array_length(b) : 0; i < n; i++) {
        json_object *hits = es_path(json_object_array_get_idx(b, i), hits_path, 3);
        if (hits && json_object_array_length(hits) &&
            json_object_object_get_ex(json_object_array_get_idx(hits, 0), "_id", &id))
            json_object_array_add(keep, json_object_get(id));
    }
    json_object_put(ans);
    record_json_time(before_us, t);
    json_object *range = es_obj1("@timestamp", es_obj1("lt", json_object_new_string(t)));
    json_object *q = json_object_new_object();
    json_object_object_add(q, "filter", es_obj1("range", range));
    json_object_object_add(q, "must_not", es_obj1("ids", es_obj1("values", keep)));
    body = es_obj1("query", es_obj1("bool", q));
    snprintf(path, sizeof path, "/%s-stats-*/_delete_by_query?conflicts=proceed", ES(st)->prefix);
    ans = es_post(st, path, body, 0, "prune stats history", &rc);
    json_object_put(body);
    json_object_put(ans);
    return rc;
}
