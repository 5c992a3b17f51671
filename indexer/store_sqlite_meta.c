/* store_sqlite_meta.c -- the SQLite store's sensor stats (latest and history) and alerts, read
 * back for the HTTP API (stats.json, sensors/history.json, /metrics, alerts.json).
 * Owns:  the statements it prepares per call (finalized before returning); the sensor_stats
 *        columns added after schema version 4 (sq_stats_columns).
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: writes, but to prune the stats history (store_sqlite.c writes both tables).
 * Trap:  sensor_stats rows of older aggregators have NULL in the added columns: read as 0. */
#include "store_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "record_json.h"

static const char *const stat_cols[] = {
    "pcap_received", "pcap_dropped", "pcap_if_dropped", "packets", "malformed",
    "sessions_active", "sessions_total", "sessions_evicted", "outbox_batches", "outbox_bytes",
    "outbox_dropped", "disk_used_bytes", "disk_free_bytes", "oldest_packet_us",
    "stats_interval_ms",
};

int sq_stats_columns(sqlite3 *db)
{
    static const char *const add[] = { "oldest_packet_us", "stats_interval_ms" };
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('sensor_stats')", -1,
                                &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    bool have[2] = { false, false };
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        for (size_t i = 0; i < ASH_ARRAY_LEN(add); i++)
            if (sqlite3_column_text(q, 0) && !strcmp((const char *)sqlite3_column_text(q, 0), add[i]))
                have[i] = true;
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return rc;
    for (size_t i = 0; i < ASH_ARRAY_LEN(add); i++) {
        if (have[i])
            continue;
        char sql[96];
        snprintf(sql, sizeof sql, "ALTER TABLE sensor_stats ADD COLUMN %s INTEGER", add[i]);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        /* another handle of this aggregator may have added it a moment ago */
        if (rc != SQLITE_OK && !strstr(sqlite3_errmsg(db), "duplicate column"))
            return rc;
    }
    return SQLITE_OK;
}

int sq_latest_stats(struct store *st, store_row_fn cb, void *ctx)
{
    /* the newest row per sensor: its primary key (sensor, time_us) makes max() a seek each */
    char sql[1024];
    size_t off = (size_t)snprintf(sql, sizeof sql, "SELECT s.sensor, s.time_us");
    for (size_t i = 0; i < ASH_ARRAY_LEN(stat_cols); i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, ", s.%s", stat_cols[i]);
    snprintf(sql + off, sizeof sql - off, " FROM sensor_stats s JOIN (SELECT sensor, max(time_us)"
             " AS t FROM sensor_stats GROUP BY sensor) m ON s.sensor = m.sensor AND s.time_us = m.t"
             " ORDER BY s.sensor");
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

int sq_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                     void *ctx)
{
    /* the primary key (sensor, time_us) gives the order; the time index the range */
    static const char sql[] = "SELECT sensor, time_us, packets, coalesce(pcap_dropped, 0) +"
        " coalesce(pcap_if_dropped, 0) + coalesce(outbox_dropped, 0), outbox_batches,"
        " stats_interval_ms FROM sensor_stats WHERE time_us >= ?1 AND time_us < ?2"
        " ORDER BY sensor, time_us";
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &q, NULL), ret = STORE_OK;
    if (rc != SQLITE_OK)
        return sq_fail(st, rc, "prepare stats history");
    sqlite3_bind_int64(q, 1, start_us > 0 ? start_us : INT64_MIN);
    sqlite3_bind_int64(q, 2, end_us > 0 ? end_us : INT64_MAX);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *sensor = (const char *)sqlite3_column_text(q, 0);
        struct store_stats_sample smp = {
            .time_us = sqlite3_column_int64(q, 1),
            .packets = (uint64_t)sqlite3_column_int64(q, 2),
            .dropped = (uint64_t)sqlite3_column_int64(q, 3),
            .outbox_batches = (uint64_t)sqlite3_column_int64(q, 4),
            .interval_ms = (uint32_t)sqlite3_column_int64(q, 5),
        };
        if (cb(ctx, sensor ? sensor : "", &smp)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        ret = sq_fail(st, rc, "stats history");
    sqlite3_finalize(q);
    return ret;
}

int sq_delete_stats_older(struct store *st, int64_t before_us)
{
    sqlite3_stmt *q;
    /* each sensor's newest sample stays: stats.json still says when a long-gone sensor
     * was last seen */
    int rc = sqlite3_prepare_v2(SQ(st)->db, "DELETE FROM sensor_stats WHERE time_us < ?1 AND"
                                " time_us < (SELECT max(time_us) FROM sensor_stats n WHERE"
                                " n.sensor = sensor_stats.sensor)", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(st, rc, "prepare prune stats history");
    sqlite3_bind_int64(q, 1, before_us);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(st, rc, "prune stats history");
}

int sq_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                    uint64_t *total)
{
    char where[96];
    snprintf(where, sizeof where, " WHERE 1%s%s", q->start_us ? " AND start_us >= ?1" : "",
             q->end_us ? " AND start_us < ?2" : "");
    char sql[256];
    sqlite3_stmt *s = NULL;
    int rc, ret = STORE_OK;
    if (total) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM alerts%s", where);
        if ((rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &s, NULL)) != SQLITE_OK)
            return sq_fail(st, rc, "prepare count alerts");
        if (q->start_us)
            sqlite3_bind_int64(s, 1, q->start_us);
        if (q->end_us)
            sqlite3_bind_int64(s, 2, q->end_us);
        if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
            sqlite3_finalize(s);
            return sq_fail(st, rc, "count alerts");
        }
        *total = (uint64_t)sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (!cb)
        return STORE_OK;
    snprintf(sql, sizeof sql, "SELECT doc FROM alerts%s ORDER BY start_us DESC, id LIMIT ?3 OFFSET ?4",
             where);
    if ((rc = sqlite3_prepare_v2(SQ(st)->db, sql, -1, &s, NULL)) != SQLITE_OK)
        return sq_fail(st, rc, "prepare alerts");
    if (q->start_us)
        sqlite3_bind_int64(s, 1, q->start_us);
    if (q->end_us)
        sqlite3_bind_int64(s, 2, q->end_us);
    sqlite3_bind_int64(s, 3, q->limit ? (int64_t)q->limit : -1);
    sqlite3_bind_int64(s, 4, (int64_t)q->offset);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0))) {
            rc = SQLITE_DONE;
            break;
        }
    if (rc != SQLITE_DONE)
        ret = sq_fail(st, rc, "alerts");
    sqlite3_finalize(s);
    return ret;
}
