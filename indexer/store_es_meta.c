/* store_es_meta.c -- the Elasticsearch store's alerts, read back for the HTTP API
 * (alerts.json): the same rows as store_sqlite_meta.c gives, an expression over the alerts'
 * fields (field_catalog_alerts) compiled by query_es.c into the bool filter.
 * Owns:  the query DSL of this read; nothing across calls.
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: writes (store_es.c writes the alerts indices).
 * Trap:  near real time, as every ES read: an alert is found once its
 *        index refreshes (1 s by default). Alerts are paged with from/size, so at most
 *        ES_META_WINDOW (index.max_result_window) alerts past the first are reachable; the
 *        count is exact. Alert ties in event.start are ordered by event.id, the alert id that
 *        is SQLite's tie-break too. */
#include "store_es.h"

#include <stdio.h>
#include <string.h>
#include "record_json.h"
#include "query_es.h"

#define ES_META_WINDOW   10000     /* index.max_result_window */

int es_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                    uint64_t *total)
{
    json_object *cond = NULL;
    if (q->expr && !query_expr_in(q->expr, &field_catalog_alerts))
        return store_fail(st, STORE_ERR, "alerts: the expression is not over alert fields");
    if (q->expr) {
        char err[ASH_ERR_LEN];
        if (!(cond = query_es_compile(q->expr, err)))
            return store_fail(st, STORE_ERR_RETRY, "alerts: %s", err);
    }
    json_object *filters = json_object_new_array();
    if (cond)
        json_object_array_add(filters, cond);
    if (q->start_us || q->end_us) {
        json_object *range = json_object_new_object();
        char t[40];
        if (q->start_us) {
            record_json_time(q->start_us, t);
            json_object_object_add(range, "gte", json_object_new_string(t));
        }
        if (q->end_us) {
            record_json_time(q->end_us, t);
            json_object_object_add(range, "lt", json_object_new_string(t));
        }
        json_object_array_add(filters, es_obj1("range", es_obj1("event.start", range)));
    }
    size_t from = q->offset < ES_META_WINDOW ? q->offset : ES_META_WINDOW;
    size_t size = cb ? ES_META_WINDOW - from : 0;
    if (cb && q->limit && q->limit < size)
        size = q->limit;
    json_object *body = json_object_new_object();
    json_object_object_add(body, "query", es_obj1("bool", es_obj1("filter", filters)));
    json_object_object_add(body, "track_total_hits", json_object_new_boolean(1));
    json_object_object_add(body, "from", json_object_new_int64((int64_t)from));
    json_object_object_add(body, "size", json_object_new_int64((int64_t)size));
    json_object *sort = json_object_new_array();
    es_sort_add(sort, "event.start", "desc", "date_nanos");
    es_sort_add(sort, "event.id", "asc", "keyword");
    json_object_object_add(body, "sort", sort);
    char path[256];
    snprintf(path, sizeof path, "/%s-alerts-*/_search?filter_path=hits.total.value,"
             "hits.hits._source", ES(st)->prefix);
    int rc = STORE_OK;
    json_object *ans = es_post(st, path, body, 0, "search alerts", &rc);
    json_object_put(body);
    if (!ans)
        return rc;
    static const char *const total_path[] = { "hits", "total", "value" };
    static const char *const hits_path[] = { "hits", "hits" };
    json_object *v = es_path(ans, total_path, 3);
    if (total)
        *total = v ? (uint64_t)json_object_get_int64(v) : 0;
    json_object *hits = es_path(ans, hits_path, 2);
    size_t n = cb && hits && q->offset < ES_META_WINDOW ? json_object_array_length(hits) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *src;
        if (!json_object_object_get_ex(json_object_array_get_idx(hits, i), "_source", &src))
            continue;
        size_t len = 0;
        const char *text = json_object_to_json_string_length(
            src, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!text) {
            rc = store_fail(st, STORE_ERR_RETRY, "alerts: out of memory");
            break;
        }
        if (cb(ctx, text, len))
            break;
    }
    json_object_put(ans);
    return rc;
}
