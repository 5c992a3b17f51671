/* store_es_query.c -- reading the Elasticsearch store: session pages (from/size, search_after
 * past the result window), counts by sensor, transport, protocol and hour (terms and
 * date_histogram aggregations), one session by id, and retention (whole old indices dropped,
 * the boundary index trimmed by delete-by-query).
 * Owns:  the query DSL of these reads; nothing across calls.
 * Lends: each row's JSON to the caller's store_row_fn, or its _source as parsed to a
 *        store_doc_fn, for the duration of the call.
 * Never: reads the sequence index (store_es.c does); deletes an index whose name it cannot
 *        parse as one of ours.
 * Trap:  searches are near real time: a session is found after the index refreshes (1 s by
 *        default), while SQLite finds it on commit. Ties in event.start are ordered by
 *        ashiato.session_id then observer.name, as SQLite's (start_us, id, sensor), for every
 *        id a sensor makes (text ids); a binary id (hex in SQLite and _id, its raw text in
 *        ashiato.session_id) may tie-break differently from SQLite. Terms
 *        aggregations return at most ES_BUCKETS_MAX buckets (search.max_buckets). The
 *        count of every session that es_query_page answers may be up to ES_TOTAL_TTL_MS old. */
#include "store_es.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "record_json.h"
#include "query_es.h"

#define ES_WINDOW        10000     /* index.max_result_window: from + size beyond it fails */
#define ES_PAGE          5000      /* hits per search_after page */
#define ES_BUCKETS_MAX   65535     /* search.max_buckets (default) */
#define ES_LONG_MS       600000    /* delete-by-query, refresh: may take minutes */
#define ES_SENSORS_MAX   1000      /* series of a histogram by sensor */

static json_object *str(const char *s) { return json_object_new_string(s); }


/* The filter of q as a query object (caller owns); NULL with st->err when the expression does
 * not compile (out of memory). */
static json_object *filter_of(struct store *st, const struct store_query *q)
{
    json_object *filters = json_object_new_array();
    char t[40];
    if (q->start_us || q->end_us) {
        json_object *range = json_object_new_object();
        if (q->start_us) {
            record_json_time(q->start_us, t);
            json_object_object_add(range, "gte", str(t));
        }
        if (q->end_us) {
            record_json_time(q->end_us, t);
            json_object_object_add(range, "lt", str(t));
        }
        json_object_array_add(filters, es_obj1("range", es_obj1("event.start", range)));
    }
    if (q->end_min_us || q->end_max_us) {
        json_object *range = json_object_new_object();
        if (q->end_min_us) {
            record_json_time(q->end_min_us, t);
            json_object_object_add(range, "gte", str(t));
        }
        if (q->end_max_us) {
            record_json_time(q->end_max_us, t);
            json_object_object_add(range, "lt", str(t));
        }
        json_object_array_add(filters, es_obj1("range", es_obj1("event.end", range)));
    }
    if (q->sensor)
        json_object_array_add(filters, es_obj1("term", es_obj1("observer.name", str(q->sensor))));
    if (q->expr) {
        char err[ASH_ERR_LEN];
        json_object *e = query_es_compile(q->expr, err);
        if (!e) {
            store_fail(st, STORE_ERR_RETRY, "%s", err);
            json_object_put(filters);
            return NULL;
        }
        json_object_array_add(filters, e);
    }
    return es_obj1("bool", es_obj1("filter", filters));
}

static json_object *get_path(json_object *o, const char *a, const char *b, const char *c)
{
    const char *keys[] = { a, b, c };
    for (size_t i = 0; i < 3 && o && keys[i]; i++)
        if (!json_object_object_get_ex(o, keys[i], &o))
            return NULL;
    return o;
}

/* The page order: (start, id, sensor), as SQLite's */
static json_object *sort_of(const char *dir)
{
    json_object *sort = json_object_new_array();
    es_sort_add(sort, "event.start", dir, "date_nanos");
    es_sort_add(sort, "ashiato.session_id", dir, "keyword");
    es_sort_add(sort, "observer.name", dir, "keyword");
    return sort;
}

/* Where the hits go: each _source as text to a store_row_fn, or as parsed to a store_doc_fn
 * (no text in between: the node's answer is parsed once). */
struct sink {
    store_row_fn row;
    store_doc_fn doc;
    void *ctx;
};

/* Hand one _source to the sink: 0 go on, 1 the callback stopped, -1 out of memory. */
static int sink_one(const struct sink *k, json_object *src)
{
    if (k->doc)
        return k->doc(k->ctx, src) != 0;
    size_t len = 0;
    const char *text = es_json_text(src, &len);
    if (!text)
        return -1;
    return k->row(k->ctx, text, len) != 0;
}

/* Hand each hit's _source to the sink; STORE_OK, or an error when out of memory. */
static int hand_hits(struct store *st, json_object *hits, const struct sink *k)
{
    size_t n = hits ? json_object_array_length(hits) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *src;
        if (!json_object_object_get_ex(json_object_array_get_idx(hits, i), "_source", &src))
            continue;
        int r = sink_one(k, src);
        if (r < 0)
            return store_fail(st, STORE_ERR_RETRY, "search sessions: out of memory");
        if (r)
            break;
    }
    return STORE_OK;
}

/* "_source": {"includes": q->fields} when the caller named the paths it reads */
static void source_of(json_object *body, const struct store_query *q)
{
    if (!q->fields || !q->nfields)
        return;
    json_object *inc = json_object_new_array();
    for (size_t i = 0; i < q->nfields; i++)
        json_object_array_add(inc, str(q->fields[i]));
    json_object_object_add(body, "_source", es_obj1("includes", inc));
}

static int query_hits(struct store *st, const struct store_query *q, const struct sink *k,
                      uint64_t *total)
{
    struct es *es = ES(st);
    char path[256];
    const char *dir = q->newest_first ? "desc" : "asc";
    size_t skip = q->offset, want = q->limit ? q->limit : SIZE_MAX;
    bool window = q->limit && q->offset < ES_WINDOW && q->limit <= ES_WINDOW - q->offset;
    bool any = k->row || k->doc;
    json_object *after = NULL;
    bool first = true;
    if (window)
        skip = 0;                    /* the node skips them: "from" */
    int rc = STORE_OK;

    snprintf(path, sizeof path, "/%s-sessions-*/_search?filter_path=hits.total.value,"
             "hits.hits._source,hits.hits.sort", es->prefix);
    for (;;) {
        json_object *filter = filter_of(st, q);
        if (!filter) {
            rc = STORE_ERR_RETRY;
            break;
        }
        json_object *body = json_object_new_object();
        json_object_object_add(body, "query", filter);
        json_object_object_add(body, "track_total_hits", json_object_new_boolean(first));
        size_t size;
        if (!any) {
            size = 0;
        } else if (window) {         /* one page: from/size */
            size = q->limit;
            json_object_object_add(body, "from", json_object_new_int64((int64_t)q->offset));
            source_of(body, q);
        } else {                     /* search_after pages; skipped rows without _source */
            size_t left = skip ? skip : want;
            size = left < ES_PAGE ? left : ES_PAGE;
            if (skip)
                json_object_object_add(body, "_source", json_object_new_boolean(0));
            else
                source_of(body, q);
        }
        json_object_object_add(body, "size", json_object_new_int64((int64_t)size));
        if (size)
            json_object_object_add(body, "sort", sort_of(dir));
        if (after)
            json_object_object_add(body, "search_after", json_object_get(after));
        json_object *ans = es_post(st, path, body, 0, "search sessions", &rc);
        json_object_put(body);
        if (!ans)
            break;
        json_object *v = get_path(ans, "hits", "total", "value");
        if (first && total)
            *total = v ? (uint64_t)json_object_get_int64(v) : 0;
        first = false;
        json_object *hits = get_path(ans, "hits", "hits", NULL);
        size_t n = hits ? json_object_array_length(hits) : 0;
        bool stop = n == 0 || n < size;
        for (size_t i = 0; i < n; i++) {
            json_object *h = json_object_array_get_idx(hits, i), *src, *sort;
            if (skip) {
                skip--;
            } else if (json_object_object_get_ex(h, "_source", &src)) {
                int r = sink_one(k, src);
                want--;
                if (r < 0)
                    rc = store_fail(st, STORE_ERR_RETRY, "search sessions: out of memory");
                if (r || want == 0) {
                    stop = true;
                    break;
                }
            }
            if (i + 1 == n && json_object_object_get_ex(h, "sort", &sort)) {
                json_object_put(after);
                after = json_object_get(sort);
            }
        }
        json_object_put(ans);
        if (!any || window || stop)
            break;
    }
    json_object_put(after);
    return rc;
}

int es_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                      uint64_t *total)
{
    return query_hits(st, q, &(struct sink){ .row = cb, .ctx = ctx }, total);
}

int es_query_docs(struct store *st, const struct store_query *q, store_doc_fn cb, void *ctx,
                  uint64_t *total)
{
    return query_hits(st, q, &(struct sink){ .doc = cb, .ctx = ctx }, total);
}

int es_count_by(struct store *st, const struct store_query *q, const struct field_def *field,
                store_row_fn cb, void *ctx)
{
    struct es *es = ES(st);
    char path[256];
    json_object *filter = filter_of(st, q);
    if (!filter)
        return STORE_ERR_RETRY;
    json_object *agg = json_object_new_object(), *body = json_object_new_object();
    if (!field) {
        /* fixed_interval arrived in 7.2; UTC hours, empty hours left out as in SQLite */
        bool old = strcmp(es->dist, "elasticsearch") == 0 && es->major == 7 && es->minor < 2;
        json_object_object_add(agg, "field", str("event.start"));
        json_object_object_add(agg, old ? "interval" : "fixed_interval", str("1h"));
        json_object_object_add(agg, "min_doc_count", json_object_new_int(1));
        agg = es_obj1("date_histogram", agg);
    } else {
        size_t size = q->limit && q->limit < ES_BUCKETS_MAX ? q->limit : ES_BUCKETS_MAX;
        json_object *order = json_object_new_array();
        json_object_array_add(order, es_obj1("_count", str("desc")));
        json_object_array_add(order, es_obj1("_key", str("asc")));
        json_object_object_add(agg, "field", str(field->ecs));
        json_object_object_add(agg, "size", json_object_new_int64((int64_t)size));
        json_object_object_add(agg, "order", order);
        agg = es_obj1("terms", agg);
    }
    json_object_object_add(body, "size", json_object_new_int(0));
    json_object_object_add(body, "track_total_hits", json_object_new_boolean(0));
    json_object_object_add(body, "query", filter);
    json_object_object_add(body, "aggs", es_obj1("k", agg));
    snprintf(path, sizeof path, "/%s-sessions-*/_search?filter_path=aggregations.k.buckets.key,"
             "aggregations.k.buckets.doc_count", es->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "count sessions", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    json_object *buckets = get_path(ans, "aggregations", "k", "buckets");
    size_t n = buckets ? json_object_array_length(buckets) : 0;
    if (q->limit && n > q->limit)
        n = q->limit;
    for (size_t i = 0; i < n; i++) {
        json_object *bk = json_object_array_get_idx(buckets, i), *k, *c;
        if (!json_object_object_get_ex(bk, "key", &k) ||
            !json_object_object_get_ex(bk, "doc_count", &c))
            continue;
        json_object *row = json_object_new_object();
        if (!field)
            json_object_object_add(row, "key",
                                   json_object_new_int64(json_object_get_int64(k) * 1000));
        else if (field->type == FIELD_INTEGER && json_object_is_type(k, json_type_string))
            /* an integer kept as keyword (network.vlan.id): a number, as SQLite answers */
            json_object_object_add(row, "key", json_object_new_int64(json_object_get_int64(k)));
        else
            json_object_object_add(row, "key", json_object_get(k));
        json_object_object_add(row, "count", json_object_get(c));
        size_t len = 0;
        const char *text = es_json_text(row, &len);
        int stop = text ? cb(ctx, text, len) : 0;
        json_object_put(row);
        if (!text) {
            rc = store_fail(st, STORE_ERR_RETRY, "count_by: out of memory");
            break;
        }
        if (stop)
            break;
    }
    json_object_put(ans);
    return rc;
}

/* the sum sub-aggregations of a histogram bucket, in enum store_sum order */
static const char *const sum_field[STORE_SUM_COUNT] = {
    "source.packets", "destination.packets", "source.bytes", "destination.bytes",
    "ashiato.data_bytes.source", "ashiato.data_bytes.destination",
};
static const char *const sum_name[STORE_SUM_COUNT] = { "sp", "dp", "sb", "db", "sd", "dd" };

/* Hand the date_histogram buckets of one series to cb; 1 when cb stopped. */
static int histo_buckets(json_object *buckets, const char *series, store_histo_fn cb, void *ctx)
{
    size_t n = buckets ? json_object_array_length(buckets) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *bk = json_object_array_get_idx(buckets, i), *k, *c, *v;
        if (!json_object_object_get_ex(bk, "key", &k) ||
            !json_object_object_get_ex(bk, "doc_count", &c) || json_object_get_int64(c) <= 0)
            continue;
        struct store_histo_bucket b = { .key_us = json_object_get_int64(k) * 1000,
                                        .sessions = (uint64_t)json_object_get_int64(c) };
        for (int j = 0; j < STORE_SUM_COUNT; j++) {
            v = get_path(bk, sum_name[j], "value", NULL);
            double d = v ? json_object_get_double(v) : 0;
            b.sums[j] = d > 0 ? (uint64_t)(d + 0.5) : 0;
        }
        if (cb(ctx, series, &b))
            return 1;
    }
    return 0;
}

/* The date_histogram of event.start at width_us with the sums of each bucket */
static json_object *histo_agg(const struct es *es, int64_t width_us)
{
    char iv[32];
    bool old = strcmp(es->dist, "elasticsearch") == 0 && es->major == 7 && es->minor < 2;
    snprintf(iv, sizeof iv, "%llds", (long long)(width_us / 1000000));
    json_object *dh = json_object_new_object(), *sums = json_object_new_object();
    json_object_object_add(dh, "field", str("event.start"));
    json_object_object_add(dh, old ? "interval" : "fixed_interval", str(iv));
    json_object_object_add(dh, "min_doc_count", json_object_new_int(1));
    for (int j = 0; j < STORE_SUM_COUNT; j++)
        json_object_object_add(sums, sum_name[j], es_obj1("sum", es_obj1("field", str(sum_field[j]))));
    json_object *h = es_obj1("date_histogram", dh);
    json_object_object_add(h, "aggs", sums);
    return h;
}

/* A date_histogram of event.start (epoch-aligned fixed_interval, empty buckets left out, as
 * SQLite), each bucket with the sums; by sensor under a terms aggregation by name. */
int es_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                 bool by_sensor, store_histo_fn cb, void *ctx)
{
    struct es *es = ES(st);
    char path[256];
    json_object *filter = filter_of(st, q);
    if (!filter)
        return STORE_ERR_RETRY;
    json_object *h = histo_agg(es, width_us), *aggs;
    if (by_sensor) {
        json_object *terms = json_object_new_object();
        json_object_object_add(terms, "field", str("observer.name"));
        json_object_object_add(terms, "size", json_object_new_int(ES_SENSORS_MAX));
        json_object_object_add(terms, "order", es_obj1("_key", str("asc")));
        json_object *s = es_obj1("terms", terms);
        json_object_object_add(s, "aggs", es_obj1("h", h));
        aggs = es_obj1("s", s);
    } else {
        aggs = es_obj1("h", h);
    }
    json_object *body = json_object_new_object();
    json_object_object_add(body, "size", json_object_new_int(0));
    json_object_object_add(body, "track_total_hits", json_object_new_boolean(0));
    json_object_object_add(body, "query", filter);
    json_object_object_add(body, "aggs", aggs);
    snprintf(path, sizeof path, "/%s-sessions-*/_search?filter_path=aggregations", es->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "histogram", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    if (!by_sensor) {
        histo_buckets(get_path(ans, "aggregations", "h", "buckets"), NULL, cb, ctx);
    } else {
        json_object *series = get_path(ans, "aggregations", "s", "buckets");
        size_t n = series ? json_object_array_length(series) : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *sb = json_object_array_get_idx(series, i), *k;
            if (json_object_object_get_ex(sb, "key", &k) &&
                histo_buckets(get_path(sb, "h", "buckets", NULL), json_object_get_string(k), cb,
                              ctx))
                break;
        }
    }
    json_object_put(ans);
    return rc;
}

/* sessions.json's reads: one _search with the page and the date_histogram as an aggregation
 * (what a hand-written query does); the count of every session, when the handle's is older
 * than ES_TOTAL_TTL_MS, sent at the same time on another connection. A page past the result
 * window goes the long way (search_after). */
int es_query_page(struct store *st, const struct store_query *q, int64_t width_us,
                  store_doc_fn cb, void *ctx, store_histo_fn hcb, void *hctx, uint64_t *total)
{
    struct es *es = ES(st);
    if (cb && !(q->offset < ES_WINDOW && q->limit <= ES_WINDOW - q->offset)) {
        int rc = es_histogram(st, q, width_us, false, hcb, hctx);
        if (rc == STORE_OK)
            rc = es_query_sessions(st, &(struct store_query){ 0 }, NULL, NULL, total);
        return rc == STORE_OK ? es_query_docs(st, q, cb, ctx, NULL) : rc;
    }
    json_object *filter = filter_of(st, q);
    if (!filter)
        return STORE_ERR_RETRY;
    json_object *body = json_object_new_object();
    json_object_object_add(body, "query", filter);
    json_object_object_add(body, "track_total_hits", json_object_new_boolean(0));
    json_object_object_add(body, "size", json_object_new_int64(cb ? (int64_t)q->limit : 0));
    if (cb) {
        json_object_object_add(body, "from", json_object_new_int64((int64_t)q->offset));
        json_object_object_add(body, "sort", sort_of(q->newest_first ? "desc" : "asc"));
        source_of(body, q);
    }
    json_object_object_add(body, "aggs", es_obj1("h", histo_agg(es, width_us)));
    struct es_call c[2] = {
        { .method = "POST" },
        { .method = "GET" },
    };
    snprintf(c[0].path, sizeof c[0].path, "/%s-sessions-*/_search?filter_path=hits.hits._source,"
             "aggregations.h.buckets", es->prefix);
    snprintf(c[1].path, sizeof c[1].path, "/%s-sessions-*/_search?size=0&track_total_hits=true"
             "&filter_path=hits.total.value", es->prefix);
    c[0].body = es_json_text(body, &c[0].body_len);
    char err[ASH_ERR_LEN];
    int rc = STORE_OK;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    /* the count of all only when the handle's is stale: it costs the node a search and
     * this thread a second transfer (bench/RESULTS.md "osdoc") */
    size_t ncalls = es->total_at_ms && now_ms - es->total_at_ms < ES_TOTAL_TTL_MS ? 1 : 2;
    if (!c[0].body)
        rc = store_fail(st, STORE_ERR_RETRY, "search sessions: out of memory");
    else if (es_http_run(es->http, c, ncalls, 2, err) < 0)
        rc = store_fail(st, STORE_ERR_RETRY, "%s", err);
    for (size_t i = 0; i < ncalls && rc == STORE_OK; i++) {
        if (c[i].status == 0)                   /* no answer: the other nodes in turn */
            es_http_any(es->http, &c[i]);
        if (c[i].status != 200)
            rc = es_fail_call(st, &c[i], i ? "count sessions" : "search sessions");
    }
    json_object *ans = NULL, *cnt = NULL, *v;
    if (rc == STORE_OK && (!(ans = es_call_json(&c[0])) ||
                           (ncalls > 1 && !(cnt = es_call_json(&c[1])))))
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: search sessions: answer is not "
                        "JSON: %.100s", ans ? c[1].resp : c[0].resp);
    if (rc == STORE_OK && ncalls > 1) {
        v = get_path(cnt, "hits", "total", "value");
        es->total = v ? (uint64_t)json_object_get_int64(v) : 0;
        es->total_at_ms = now_ms;
    }
    if (rc == STORE_OK) {
        *total = es->total;
        if (!histo_buckets(get_path(ans, "aggregations", "h", "buckets"), NULL, hcb, hctx) &&
            cb)
            rc = hand_hits(st, get_path(ans, "hits", "hits", NULL),
                           &(struct sink){ .doc = cb, .ctx = ctx });
    }
    json_object_put(ans);
    json_object_put(cnt);
    json_object_put(body);
    es_call_clear(&c[0]);
    es_call_clear(&c[1]);
    return rc;
}

/* By a term query on ashiato.session_id (the _id is "<id>@<sensor>"), and on observer.name
 * for one sensor's; sorted as sq_get_session. A binary id (not text, so hex here) is not in
 * ashiato.session_id as such: it is found only with its sensor, through the _id. */
int es_get_session(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                   void *ctx)
{
    char path[256];
    json_object *filter = json_object_new_array(), *body = json_object_new_object();
    json_object *sort = json_object_new_array(), *s1 = json_object_new_object();
    if (sensor) {
        char docid[ES_DOC_ID_LEN];
        json_object *values = json_object_new_array();
        snprintf(docid, sizeof docid, "%s@%s", id, sensor);
        json_object_array_add(values, str(docid));
        json_object *either = json_object_new_array();
        json_object_array_add(either, es_obj1("ids", es_obj1("values", values)));
        json_object *term = es_obj1("term", es_obj1("ashiato.session_id", str(id)));
        json_object_array_add(either, es_obj1("bool", es_obj1("filter", term)));
        json_object *b = es_obj1("should", either);
        json_object_object_add(b, "minimum_should_match", json_object_new_int(1));
        json_object_array_add(filter, es_obj1("bool", b));
        json_object_array_add(filter, es_obj1("term", es_obj1("observer.name", str(sensor))));
    } else {
        json_object_array_add(filter, es_obj1("term", es_obj1("ashiato.session_id", str(id))));
    }
    json_object_object_add(s1, "order", str("asc"));
    json_object_object_add(s1, "unmapped_type", str("date_nanos"));
    json_object_array_add(sort, es_obj1("event.start", s1));
    json_object_array_add(sort, es_obj1("observer.name", str("asc")));
    json_object_object_add(body, "size", json_object_new_int(STORE_GET_MAX));
    json_object_object_add(body, "query", es_obj1("bool", es_obj1("filter", filter)));
    json_object_object_add(body, "sort", sort);
    snprintf(path, sizeof path, "/%s-sessions-*/_search?filter_path=hits.hits._source",
             ES(st)->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "get session", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    json_object *hits = get_path(ans, "hits", "hits", NULL), *src;
    size_t n = hits ? json_object_array_length(hits) : 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *h = json_object_array_get_idx(hits, i);
        if (!json_object_object_get_ex(h, "_source", &src))
            continue;
        size_t len = 0;
        const char *text = es_json_text(src, &len);
        if (!text) {
            rc = store_fail(st, STORE_ERR_RETRY, "get session: out of memory");
            break;
        }
        found++;
        if (cb(ctx, text, len))
            break;
    }
    if (rc == STORE_OK && !found)
        rc = store_fail(st, STORE_ERR_NOT_FOUND, "session %.*s%s%.*s: not found", STORE_ID_MAX,
                        id, sensor ? " of " : "", STORE_SENSOR_MAX, sensor ? sensor : "");
    json_object_put(ans);
    return rc;
}

/* ---- retention ------------------------------------------------------------------------ */

/* The time span of index `name` of kind (sessions: a day, stats and alerts: a month), from
 * its name; false when the name is not <prefix>-<kind>-<date> exactly. */
static bool index_span(const struct es *es, const char *name, const char *kind, int64_t *lo,
                       int64_t *hi)
{
    char head[128];
    snprintf(head, sizeof head, "%s-%s-", es->prefix, kind);
    size_t hl = strlen(head);
    if (strncmp(name, head, hl) != 0)
        return false;
    const char *d = name + hl;
    bool daily = strcmp(kind, "sessions") == 0;
    int y, m, day = 1, used = 0;
    if ((daily ? sscanf(d, "%4d.%2d.%2d%n", &y, &m, &day, &used) != 3
               : sscanf(d, "%4d.%2d%n", &y, &m, &used) != 2) || d[used] != '\0' ||
        m < 1 || m > 12 || day < 1 || day > 31 || y < 1970 || y > 2200)
        return false;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = day };
    *lo = (int64_t)timegm(&tm) * 1000000;
    if (daily)
        tm.tm_mday++;
    else
        tm.tm_mon++;
    *hi = (int64_t)timegm(&tm) * 1000000;
    return true;
}

/* A call without a body whose answer only needs to be 200. */
static int simple(struct store *st, const char *method, const char *path, const char *what,
                  json_object **answer)
{
    struct es_call c = { .method = method, .timeout_ms = ES_LONG_MS };
    snprintf(c.path, sizeof c.path, "%s", path);
    es_http_any(ES(st)->http, &c);
    int rc = c.status == 200 ? STORE_OK : es_fail_call(st, &c, what);
    if (rc == STORE_OK && answer && !(*answer = es_call_json(&c)))
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: %s: answer is not JSON", what);
    es_call_clear(&c);
    return rc;
}

/* What _delete_by_query does, for a node without it (the reindex module provides it, and a
 * bare node such as the test launcher's has no modules): find the matching ids page by page
 * and bulk-delete them, until a search after a refresh finds none. */
static int delete_by_search(struct store *st, const char *name, json_object *query,
                            uint64_t *n)
{
    char path[320];
    int rc = STORE_OK;
    snprintf(path, sizeof path, "/%s/_search?filter_path=hits.hits._id", name);
    json_object *body = json_object_get(query);
    json_object_object_add(body, "size", json_object_new_int(ES_PAGE));
    json_object_object_add(body, "_source", json_object_new_boolean(0));
    for (;;) {
        json_object *ans = es_post(st, path, body, ES_LONG_MS, "find expired sessions", &rc);
        if (!ans)
            break;
        json_object *hits = get_path(ans, "hits", "hits", NULL), *id;
        size_t nh = hits ? json_object_array_length(hits) : 0;
        struct es_bulk bulk;
        es_bulk_init(&bulk, st);
        for (size_t i = 0; i < nh && rc == STORE_OK; i++)
            if (json_object_object_get_ex(json_object_array_get_idx(hits, i), "_id", &id) &&
                es_bulk_add(&bulk, "delete", name, json_object_get_string(id), -1, NULL, 0) < 0)
                rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
        json_object_put(ans);
        if (rc == STORE_OK && bulk.n && (rc = es_bulk_run(st, &bulk)) == STORE_OK)
            for (size_t i = 0; i < bulk.n; i++)
                *n += bulk.items[i].status >= 200 && bulk.items[i].status < 300;
        es_bulk_free(&bulk);
        snprintf(path, sizeof path, "/%s/_refresh", name);
        if (rc != STORE_OK || nh == 0 ||
            (rc = simple(st, "POST", path, "refresh after deleting", NULL)) != STORE_OK)
            break;
        snprintf(path, sizeof path, "/%s/_search?filter_path=hits.hits._id", name);
    }
    json_object_put(body);
    return rc;
}

/* Trim or drop one index; *n receives the documents removed. */
static int expire_index(struct store *st, const char *name, const char *field, int64_t lo,
                        int64_t hi, int64_t before_us, uint64_t *n)
{
    char path[320], t[40];
    json_object *ans = NULL, *v;
    int rc;
    *n = 0;
    if (lo >= before_us)
        return STORE_OK;
    snprintf(path, sizeof path, "/%s/_refresh", name);  /* count and delete what was written */
    if ((rc = simple(st, "POST", path, "refresh before retention", NULL)) != STORE_OK)
        return rc;
    if (hi <= before_us) {                              /* all of it is older: drop it */
        snprintf(path, sizeof path, "/%s/_count", name);
        if ((rc = simple(st, "GET", path, "count before retention", &ans)) != STORE_OK)
            return rc;
        *n = json_object_object_get_ex(ans, "count", &v) ? (uint64_t)json_object_get_int64(v)
                                                         : 0;
        json_object_put(ans);
        snprintf(path, sizeof path, "/%s", name);
        return simple(st, "DELETE", path, "delete an expired index", NULL);
    }
    json_object *range = json_object_new_object(), *body;
    record_json_time(before_us, t);
    json_object_object_add(range, "lt", str(t));
    body = es_obj1("query", es_obj1("range", es_obj1(field, range)));
    snprintf(path, sizeof path, "/%s/_delete_by_query?refresh=true&conflicts=proceed"
             "&filter_path=deleted", name);
    ans = es_post(st, path, body, ES_LONG_MS, "delete expired sessions", &rc);
    if (!ans && strstr(st->err, "no handler found"))     /* a node without the reindex module */
        rc = delete_by_search(st, name, body, n);
    json_object_put(body);
    if (!ans)
        return rc;
    *n = json_object_object_get_ex(ans, "deleted", &v) ? (uint64_t)json_object_get_int64(v) : 0;
    json_object_put(ans);
    return STORE_OK;
}

int es_delete_older(struct store *st, int64_t before_us, uint64_t *deleted)
{
    static const struct { const char *kind, *field; } kinds[] = {
        { "sessions", "event.start" }, { "stats", "@timestamp" }, { "alerts", "event.start" },
    };
    struct es *es = ES(st);
    char path[320];
    json_object *list = NULL;
    int rc;
    snprintf(path, sizeof path, "/_cat/indices/%s-sessions-*,%s-stats-*,%s-alerts-*"
             "?format=json&h=index", es->prefix, es->prefix, es->prefix);
    if ((rc = simple(st, "GET", path, "list indices", &list)) != STORE_OK)
        return rc;
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        json_object *x;
        if (!json_object_object_get_ex(json_object_array_get_idx(list, i), "index", &x))
            continue;
        const char *name = json_object_get_string(x);
        for (size_t k = 0; k < ASH_ARRAY_LEN(kinds); k++) {
            int64_t lo, hi;
            uint64_t removed = 0;
            if (!index_span(es, name, kinds[k].kind, &lo, &hi))
                continue;
            rc = expire_index(st, name, kinds[k].field, lo, hi, before_us, &removed);
            if (k == 0)
                *deleted += removed;
            break;
        }
    }
    json_object_put(list);
    return rc;
}
