/* store_sqlite_meta.c -- the SQLite store's sensor stats and alerts, read back for the HTTP
 * API (stats.json, /metrics, alerts.json; an alerts.json expression compiles through
 * query_sql.c over `alerts AS s`, its fields from field_catalog_alerts).
 * Owns:  the statements it prepares per call (finalized before returning).
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: writes (store_sqlite.c writes both tables).
 * Trap:  an alert expression scans the alerts in the window (no postings for alerts): fine
 *        for thousands of alerts, which is what detectors that aggregate produce. */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "record_json.h"
#include "query_sql.h"

static const char *const stat_cols[] = {
    "pcap_received", "pcap_dropped", "pcap_if_dropped", "packets", "malformed",
    "sessions_active", "sessions_total", "sessions_evicted", "outbox_batches", "outbox_bytes",
    "outbox_dropped", "disk_used_bytes", "disk_free_bytes", "oldest_packet_us",
    "stats_interval_ms",     /* added after schema v4: last in the table (store_sqlite_stats.c) */
};

int sq_latest_stats(struct store *st, store_row_fn cb, void *ctx)
{
    /* the newest row per sensor: its primary key (sensor, time_us) makes max() a seek each */
    static const char sql[] = "SELECT s.* FROM sensor_stats s JOIN (SELECT sensor, max(time_us)"
        " AS t FROM sensor_stats GROUP BY sensor) m ON s.sensor = m.sensor AND s.time_us = m.t"
        " ORDER BY s.sensor";
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &q, NULL), ret = STORE_OK;
    if (rc != SQLITE_OK)
        return sq_fail(st, rc, "prepare latest stats");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_object *o = json_object_new_object();
        char t[40];
        if (!o) {
            ret = store_fail(st, STORE_ERR_RETRY, "latest stats: out of memory");
            break;
        }
        int64_t us = sqlite3_column_int64(q, 1);
        record_json_time(us, t);
        json_object_object_add(o, "sensor", json_object_new_string(
            (const char *)sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : ""));
        json_object_object_add(o, "time", json_object_new_string(t));
        json_object_object_add(o, "time_us", json_object_new_int64(us));
        for (size_t i = 0; i < ASH_ARRAY_LEN(stat_cols); i++)
            json_object_object_add(o, stat_cols[i], json_object_new_int64(sqlite3_column_int64(q, (int)i + 2)));
        size_t len = 0;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        int stop = text ? cb(ctx, text, len) : 0;
        json_object_put(o);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (ret == STORE_OK && rc != SQLITE_DONE)
        ret = sq_fail(st, rc, "latest stats");
    sqlite3_finalize(q);
    return ret;
}

/* Bind the window (if any) then the expression's values from parameter 1; the next index. */
static int bind_alert_where(sqlite3_stmt *s, const struct store_query *q,
                            const struct query_sql *expr)
{
    int i = 1;
    if (q->start_us)
        sqlite3_bind_int64(s, i++, q->start_us);
    if (q->end_us)
        sqlite3_bind_int64(s, i++, q->end_us);
    return q->expr ? query_sql_bind(expr, s, i) : i;
}

int sq_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                    uint64_t *total)
{
    struct query_sql expr = { 0 };
    if (q->expr && !query_expr_in(q->expr, &field_catalog_alerts))
        return store_fail(st, STORE_ERR, "alerts: the expression is not over alert fields");
    if (q->expr && query_sql_compile(q->expr, 0, 0, &expr) < 0) {
        int rc = store_fail(st, STORE_ERR_RETRY, "alerts: %s", expr.err);
        query_sql_clear(&expr);
        return rc;
    }
    /* alerts AS s: the compiled condition reads s.<column> and s.doc */
    size_t wlen = 64 + (q->expr ? expr.len : 0);
    char *sql = malloc(wlen + 128), *where = malloc(wlen);
    if (!sql || !where) {
        free(sql);
        free(where);
        query_sql_clear(&expr);
        return store_fail(st, STORE_ERR_RETRY, "alerts: out of memory");
    }
    snprintf(where, wlen, " WHERE 1%s%s%s%.*s", q->start_us ? " AND s.start_us >= ?" : "",
             q->end_us ? " AND s.start_us < ?" : "", q->expr ? " AND " : "",
             q->expr ? (int)expr.len : 0, q->expr ? expr.text : "");
    sqlite3_stmt *s = NULL;
    int rc, ret = STORE_OK;
    if (total) {
        snprintf(sql, wlen + 128, "SELECT count(*) FROM alerts AS s%s", where);
        if ((rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &s, NULL)) != SQLITE_OK) {
            ret = sq_fail(st, rc, "prepare count alerts");
            goto done;
        }
        bind_alert_where(s, q, &expr);
        if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
            ret = sq_fail(st, rc, "count alerts");
            goto done;
        }
        *total = (uint64_t)sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        s = NULL;
    }
    if (!cb)
        goto done;
    snprintf(sql, wlen + 128, "SELECT s.doc FROM alerts AS s%s ORDER BY s.start_us DESC, s.id"
             " LIMIT ? OFFSET ?", where);
    if ((rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &s, NULL)) != SQLITE_OK) {
        ret = sq_fail(st, rc, "prepare alerts");
        goto done;
    }
    int i = bind_alert_where(s, q, &expr);
    sqlite3_bind_int64(s, i, q->limit ? (int64_t)q->limit : -1);
    sqlite3_bind_int64(s, i + 1, (int64_t)q->offset);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0))) {
            rc = SQLITE_DONE;
            break;
        }
    if (rc != SQLITE_DONE)
        ret = sq_fail(st, rc, "alerts");
done:
    sqlite3_finalize(s);
    query_sql_clear(&expr);
    free(sql);
    free(where);
    return ret;
}
