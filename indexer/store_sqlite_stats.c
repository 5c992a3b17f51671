/* store_sqlite_stats.c -- the SQLite store's sensor stats history: its columns added after
 * schema version 4, the samples read back for sensors/history.json, and its pruning.
 * Owns:  the statements it prepares per call (finalized before returning).
 * Lends: nothing; samples go to the caller's store_stats_fn by value.
 * Never: writes, but to add the columns and prune the history (store_sqlite.c inserts).
 * Trap:  rows of older aggregators have NULL in the added columns: read as 0. */
#include "store_sqlite.h"

#include <stdio.h>
#include <string.h>

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
