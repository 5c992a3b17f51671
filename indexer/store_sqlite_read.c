/* store_sqlite_read.c -- the SQLite store's answers: session queries, counts by field, one
 * session by id, and retention.
 * Owns:  the statements it prepares per call (finalized before returning).
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: writes sessions (store_sqlite.c does), except delete_older.
 * Trap:  sessions.doc is packed protobuf, not JSON: SQL outside the store cannot read it
 *        (json_extract does not apply); every document leaves through emit_doc(), which
 *        renders it with record_json_render() and the sensor column as observer.name, the
 *        same text the sensor's --emit-json writes. A row of schema version 1 holds its JSON
 *        text and is handed out as it is. */
#include "store_sqlite.h"
#include "clock.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "record_json.h"
#include "segmap.h"
#include "query_sql.h"

#define SQ_DELETE_CHUNK   10000   /* rows per retention transaction, so writers get turns */

/* The WHERE clause of q over `sessions AS s`, "?"-parameterised: the time and sensor bounds,
 * then q->expr compiled (query_sql.c). bind_where() binds it from parameter 1. */
struct where {
    char text[128];
    struct query_sql expr;
};

static int where_sql(struct store *st, const struct store_query *q, struct where *w)
{
    memset(&w->expr, 0, sizeof w->expr);
    snprintf(w->text, sizeof w->text, " WHERE 1%s%s%s%s%s%s",
             q->start_us ? " AND start_us >= ?" : "", q->end_us ? " AND start_us < ?" : "",
             q->end_min_us ? " AND end_us >= ?" : "", q->end_max_us ? " AND end_us < ?" : "",
             q->sensor ? " AND sensor = ?" : "", q->expr ? " AND " : "");
    if (q->expr && query_sql_compile(q->expr, q->start_us, q->end_us, &w->expr) < 0) {
        store_fail(st, STORE_ERR, "%s", w->expr.err);
        query_sql_clear(&w->expr);
        return -1;
    }
    return 0;
}

/* The SQL head + WHERE clause + tail; NULL when out of memory. Caller frees. */
static char *where_fill(const struct where *w, const char *head, const char *tail)
{
    size_t h = strlen(head), c = strlen(w->text), t = strlen(tail);
    char *out = malloc(h + c + w->expr.len + t + 1), *o = out;
    if (!out)
        return NULL;
    memcpy(o, head, h);
    memcpy(o += h, w->text, c);
    if (w->expr.len)
        memcpy(o += c, w->expr.text, w->expr.len);
    else
        o += c;
    memcpy(o += w->expr.len, tail, t + 1);
    return out;
}

/* Bind the WHERE clause's values from parameter i on; returns the next free index. */
static int bind_where_at(sqlite3_stmt *stmt, const struct store_query *q, const struct where *w,
                         int i)
{
    if (q->start_us)
        sqlite3_bind_int64(stmt, i++, q->start_us);
    if (q->end_us)
        sqlite3_bind_int64(stmt, i++, q->end_us);
    if (q->end_min_us)
        sqlite3_bind_int64(stmt, i++, q->end_min_us);
    if (q->end_max_us)
        sqlite3_bind_int64(stmt, i++, q->end_max_us);
    if (q->sensor)
        sqlite3_bind_text(stmt, i++, q->sensor, -1, SQLITE_STATIC);
    return query_sql_bind(&w->expr, stmt, i);
}

static int bind_where(sqlite3_stmt *stmt, const struct store_query *q, const struct where *w)
{
    return bind_where_at(stmt, q, w, 1);
}

static int64_t limit_of(size_t limit)
{
    return limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit;
}

/* The document of a row whose column col is doc and col + 1 is sensor: a packed record is
 * rendered here (record_json_render, the sensor as observer.name); text is a document stored
 * as it is by schema version 1. Hands it to cb; *stop gets cb's answer. */
static int emit_doc(struct store *st, sqlite3_stmt *stmt, int col, store_row_fn cb, void *ctx,
                    int *stop)
{
    const void *data = sqlite3_column_blob(stmt, col);
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    if (sqlite3_column_type(stmt, col) != SQLITE_BLOB) {
        *stop = cb(ctx, data ? data : "", len);
        return STORE_OK;
    }
    Ashiato__SessionRecord *r = ashiato__session_record__unpack(NULL, len, data);
    if (!r)
        return store_fail(st, STORE_ERR, "sqlite %s: session %s: stored record of %zu bytes "
                          "does not unpack", SQ(st)->path, sqlite3_column_text(stmt, col + 2)
                          ? (const char *)sqlite3_column_text(stmt, col + 2) : "?", len);
    /* its links (store_put_links) join the record's own for the document only */
    const char *links = sqlite3_column_count(stmt) > col + 3 &&
                        sqlite3_column_type(stmt, col + 3) == SQLITE_TEXT
                        ? (const char *)sqlite3_column_text(stmt, col + 3) : NULL;
    ProtobufCBinaryData *own = r->linked, *all = NULL;
    size_t n_own = r->n_linked, n = 0;
    if (links) {
        size_t k = 1;
        for (const char *p = links; *p; p++)
            k += *p == '\n';
        if (!(all = calloc(n_own + k, sizeof *all))) {
            ashiato__session_record__free_unpacked(r, NULL);
            return store_fail(st, STORE_ERR_RETRY, "out of memory rendering a session");
        }
        if (n_own)
            memcpy(all, own, n_own * sizeof *all);
        k = n_own;
        for (const char *p = links; *p;) {
            size_t m = strcspn(p, "\n");
            bool dup = false;
            for (size_t i = 0; i < n_own && !dup; i++)
                dup = own[i].len == m && !memcmp(own[i].data, p, m);
            if (!dup && m)
                all[k++] = (ProtobufCBinaryData){ m, (uint8_t *)p };
            p += m + (p[m] == '\n');
        }
        r->linked = all;
        r->n_linked = k;
    }
    /* ashiato.segments at read, by the current map: the stored bytes stay the sensor's */
    const struct segmap *seg = segmap_live_get(st->cfg.segments);
    char *doc = record_json_render_in(r, (const char *)sqlite3_column_text(stmt, col + 1), seg,
                                      &n);
    segmap_live_put(seg);
    r->linked = own;            /* the unpacked record frees its own */
    r->n_linked = n_own;
    free(all);
    ashiato__session_record__free_unpacked(r, NULL);
    if (!doc)
        return store_fail(st, STORE_ERR_RETRY, "out of memory rendering a session");
    *stop = cb(ctx, doc, n);
    free(doc);
    return STORE_OK;
}

/* Step stmt (columns doc, sensor, id) and hand each row's document to cb; stops when cb
 * returns nonzero. */
static int each_row(struct store *st, sqlite3_stmt *stmt, store_row_fn cb, void *ctx)
{
    int rc, stop = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int e = emit_doc(st, stmt, 0, cb, ctx, &stop);
        if (e != STORE_OK)
            return e;
        if (stop)
            return STORE_OK;
    }
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(st, rc, "query");
}

static int add_count(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    (void)series;
    *(uint64_t *)ctx += b->sessions;
    return 0;
}

int sq_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                             void *ctx, uint64_t *total)
{
    struct sq *s = SQ(st);
    struct where w;
    char *sql = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = STORE_OK, src;

    /* only a count of a query session_minutes can answer: from it (count(*) read the whole
     * time index, ~1 s per 10M sessions, for sessions.json's recordsTotal) */
    if (!cb && total && !q->expr && !q->end_min_us && !q->end_max_us)
        return sq_histogram(st, q, STORE_HISTO_WIDTH_MAX, false, add_count, total);

    if (where_sql(st, q, &w) < 0)
        return STORE_ERR;
    /* one read transaction: the total and the rows come from the same snapshot */
    if ((src = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) {
        query_sql_clear(&w.expr);
        return sq_fail(st, src, "begin read");
    }
    if (total) {
        if (!(sql = where_fill(&w, "SELECT count(*) FROM sessions AS s", ""))) {
            rc = store_fail(st, STORE_ERR_RETRY, "query: out of memory");
            goto done;
        }
        if ((src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL)) != SQLITE_OK) {
            rc = sq_fail(st, src, "prepare count");
            goto done;
        }
        bind_where(stmt, q, &w);
        if ((src = sqlite3_step(stmt)) != SQLITE_ROW) {
            rc = sq_fail(st, src, "count");
            goto done;
        }
        *total = (uint64_t)sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        stmt = NULL;
        free(sql);
        sql = NULL;
    }
    if (cb) {
        sql = where_fill(&w, "SELECT doc, sensor, id, " SQ_LINKED_COL " FROM sessions AS s",
                         q->newest_first
                         ? " ORDER BY start_us DESC, id DESC, sensor DESC LIMIT ? OFFSET ?"
                         : " ORDER BY start_us ASC, id ASC, sensor ASC LIMIT ? OFFSET ?");
        if (!sql) {
            rc = store_fail(st, STORE_ERR_RETRY, "query: out of memory");
            goto done;
        }
        if ((src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL)) != SQLITE_OK) {
            rc = sq_fail(st, src, "prepare query");
            goto done;
        }
        int i = bind_where(stmt, q, &w);
        sqlite3_bind_int64(stmt, i, limit_of(q->limit));
        sqlite3_bind_int64(stmt, i + 1, q->offset > INT64_MAX ? INT64_MAX : (int64_t)q->offset);
        rc = each_row(st, stmt, cb, ctx);
    }
done:
    sqlite3_finalize(stmt);
    free(sql);
    query_sql_clear(&w.expr);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

int sq_count_by(struct store *st, const struct store_query *q, const struct field_def *field,
                       store_row_fn cb, void *ctx)
{
    struct sq *s = SQ(st);
    struct where w;
    char path[128];
    char *sql;
    sqlite3_stmt *stmt;
    int src, rc = STORE_OK;

    if (where_sql(st, q, &w) < 0)
        return STORE_ERR;
    if (!field) {
        /* floor to the hour, also for times before 1970 */
        sql = where_fill(&w, "SELECT start_us - (((start_us % 3600000000) + 3600000000)"
                         " % 3600000000) AS k, count(*) FROM sessions AS s",
                         " GROUP BY k ORDER BY k LIMIT ?");
    } else if (field->sql) {
        snprintf(path, sizeof path, "SELECT k, count(*) AS c FROM (SELECT s.%s AS k FROM"
                 " sessions AS s", field->sql);
        sql = where_fill(&w, path, ") WHERE coalesce(k, '') != '' GROUP BY k ORDER BY c DESC,"
                         " k LIMIT ?");
    } else {
        /* a field of the document: each of its values counts the session once */
        snprintf(path, sizeof path, "$.%s", field->ecs);
        sql = where_fill(&w, "SELECT j.value AS k, count(DISTINCT s.rowid) AS c FROM sessions AS s,"
                         " json_each(ash_doc(s.rowid, s.doc, s.sensor), ?) AS j",
                         " AND j.type NOT IN ('object', 'array', 'null') AND j.value != ''"
                         " GROUP BY k ORDER BY c DESC, k LIMIT ?");
    }
    if (!sql) {
        query_sql_clear(&w.expr);
        return store_fail(st, STORE_ERR_RETRY, "count_by: out of memory");
    }
    src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    free(sql);
    if (src != SQLITE_OK) {
        query_sql_clear(&w.expr);
        return sq_fail(st, src, "prepare count_by");
    }
    int at = 1;
    if (field && !field->sql)
        sqlite3_bind_text(stmt, at++, path, -1, SQLITE_STATIC);
    /* the WHERE clause's parameters come after the json path's */
    int i = bind_where_at(stmt, q, &w, at);
    sqlite3_bind_int64(stmt, i, limit_of(q->limit));
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_object *o = json_object_new_object();
        if (!o) {
            rc = store_fail(st, STORE_ERR_RETRY, "count_by: out of memory");
            break;
        }
        if (sqlite3_column_type(stmt, 0) == SQLITE_INTEGER)
            json_object_object_add(o, "key", json_object_new_int64(sqlite3_column_int64(stmt, 0)));
        else
            json_object_object_add(o, "key", json_object_new_string_len(
                (const char *)sqlite3_column_text(stmt, 0), sqlite3_column_bytes(stmt, 0)));
        json_object_object_add(o, "count", json_object_new_int64(sqlite3_column_int64(stmt, 1)));
        size_t len = 0;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        int stop = text ? cb(ctx, text, len) : 0;
        json_object_put(o);
        if (stop) {
            src = SQLITE_DONE;
            break;
        }
    }
    if (rc == STORE_OK && src != SQLITE_DONE)
        rc = sq_fail(st, src, "count_by");
    sqlite3_finalize(stmt);
    query_sql_clear(&w.expr);
    return rc;
}

/* The rows of q (all of them, or those with event.start in [lo, hi) when lo < hi) into a. */
static int histo_rows(struct store *st, const struct store_query *q, int64_t lo, int64_t hi,
                      struct sq_agg *a)
{
    struct store_query part = *q;
    struct where w;
    sqlite3_stmt *stmt = NULL;
    if (lo < hi) {
        part.start_us = lo;
        part.end_us = hi;
    }
    if (where_sql(st, &part, &w) < 0)
        return STORE_ERR;
    char *sql = where_fill(&w, "SELECT start_us, sensor, doc FROM sessions AS s", "");
    int src = sql ? sqlite3_prepare_v2(SQ(st)->db, sql, -1, &stmt, NULL) : SQLITE_NOMEM;
    free(sql);
    if (src == SQLITE_OK) {
        bind_where(stmt, &part, &w);
        src = sq_agg_rows(a, stmt);
        src = src == SQLITE_DONE ? SQLITE_OK : src;
    }
    sqlite3_finalize(stmt);
    query_sql_clear(&w.expr);
    return src == SQLITE_OK ? STORE_OK : sq_fail(st, src, "histogram");
}

/* Whole minutes of a query with neither expression nor event.end bounds come from
 * session_minutes (when the width is whole minutes); the partial minutes at its ends and
 * every other query from the rows. */
int sq_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                 bool by_sensor, store_histo_fn cb, void *ctx)
{
    const int64_t minute = 60000000LL;
    struct sq *s = SQ(st);
    struct sq_agg *a = sq_agg_new(width_us, by_sensor);
    int rc = STORE_OK, src;
    if (!a)
        return store_fail(st, STORE_ERR_RETRY, "histogram: out of memory");
    /* one read transaction: the minutes and the edge rows come from the same snapshot */
    if ((src = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) {
        sq_agg_free(a);
        return sq_fail(st, src, "begin read");
    }
    bool rollup = !q->expr && !q->end_min_us && !q->end_max_us && width_us % minute == 0;
    int64_t m_lo = q->start_us > 0 ? (q->start_us + minute - 1) / minute : 0;
    int64_t m_hi = q->end_us > 0 ? q->end_us / minute : STORE_TIME_MAX / minute + 1;
    if (rollup && m_lo < m_hi) {
        if ((src = sq_agg_minutes(a, s->db, m_lo, m_hi, q->sensor)) != SQLITE_OK)
            rc = sq_fail(st, src, "histogram minutes");
        if (rc == STORE_OK && q->start_us > 0 && q->start_us < m_lo * minute)
            rc = histo_rows(st, q, q->start_us, m_lo * minute, a);
        if (rc == STORE_OK && q->end_us > 0 && m_hi * minute < q->end_us)
            rc = histo_rows(st, q, m_hi * minute, q->end_us, a);
    } else {
        rc = histo_rows(st, q, 0, 0, a);
    }
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == STORE_OK && sq_agg_emit(a, cb, ctx) < 0)
        rc = store_fail(st, STORE_ERR_RETRY, "histogram: out of memory");
    sq_agg_free(a);
    return rc;
}

/* The sessions of an id (of one sensor, or of all when sensor is NULL), by start_us then
 * sensor. Without an index on id alone (see schema_sql), an id that starts "YYMMDD-", the UTC
 * day of event.start, as ashiato-sensor's and Arkime's ids do, is looked for on that day (20YY,
 * then 19YY if none) through sessions_start; any other id is looked for by a scan of that
 * index. */
int sq_get_session(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                   void *ctx)
{
    struct sq *s = SQ(st);
    int rc = SQLITE_DONE, ret = STORE_OK, stop = 0, found = 0;
    unsigned v[6];
    bool dated = strlen(id) > 7 && id[6] == '-';
    for (int i = 0; dated && i < 6; i++) {
        dated = id[i] >= '0' && id[i] <= '9';
        v[i] = (unsigned)(id[i] - '0');
    }
    unsigned yy = dated ? v[0] * 10 + v[1] : 0, mm = dated ? v[2] * 10 + v[3] : 0,
             dd = dated ? v[4] * 10 + v[5] : 0;
    sqlite3_stmt *q = s->st[ST_GET_DOC];
    dated = dated && mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
    for (int century = 2000; century >= 1900 && !found && ret == STORE_OK; century -= 100) {
        if (dated) {
            q = s->st[ST_GET_DOC_DAY];
            int64_t day = clock_days_from_civil(century + yy, mm, dd);
            sqlite3_bind_int64(q, 1, day * 86400000000LL);
            sqlite3_bind_int64(q, 2, (day + 1) * 86400000000LL);
            sqlite3_bind_text(q, 3, id, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
            century = 0;                                /* one pass */
        }
        if (sensor)
            sqlite3_bind_text(q, 4, sensor, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 4);
        while (!stop && ret == STORE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            found++;
            ret = emit_doc(st, q, 0, cb, ctx, &stop);
        }
        if (ret == STORE_OK && !stop && rc != SQLITE_DONE)
            ret = sq_fail(st, rc, "get session");
        sqlite3_reset(q);
    }
    if (ret == STORE_OK && !found)
        ret = store_fail(st, STORE_ERR_NOT_FOUND, "session %.*s%s%.*s: not found", STORE_ID_MAX,
                         id, sensor ? " of " : "", STORE_SENSOR_MAX, sensor ? sensor : "");
    return ret;
}

int sq_delete_older(struct store *st, int64_t before_us, uint64_t *deleted)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *del = s->st[ST_DEL_SESSIONS];
    int rc, n;

    /* in chunks, each its own transaction, so the aggregator's writes get turns */
    sqlite3_bind_int64(del, 1, before_us);
    sqlite3_bind_int64(del, 2, SQ_DELETE_CHUNK);
    do {
        if ((rc = sq_run(del)) != SQLITE_OK)
            return sq_fail(st, rc, "delete old sessions");
        n = sqlite3_changes(s->db);
        *deleted += (uint64_t)n;
    } while (n >= SQ_DELETE_CHUNK);
    /* the postings of whole hours before the cutoff; those of the cutoff's own hour keep
     * pointing at rowids that no longer exist (never reused), which session_match's callers
     * find no row for */
    int64_t hour = before_us >= 0 ? before_us / SQ_HOUR_US
                                  : -((-before_us + SQ_HOUR_US - 1) / SQ_HOUR_US);
    sqlite3_bind_int64(s->st[ST_DEL_POSTINGS], 1, hour);
    if ((rc = sq_run(s->st[ST_DEL_POSTINGS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old postings");
    /* the minutes before the cutoff's; the cutoff's own minute is counted again from what
     * is left of it, in one transaction so no insert in between is lost */
    sqlite3_bind_int64(s->st[ST_DEL_MINUTES], 1, before_us >= 0 ? before_us / 60000000LL
                       : -((-before_us + 60000000LL - 1) / 60000000LL));
    if ((rc = sq_run(s->st[ST_DEL_MINUTES])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old session_minutes");
    if (before_us > 0 && before_us % 60000000LL) {
        if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
            return sq_fail(st, rc, "begin session_minutes rebuild");
        if ((rc = sq_minutes_rebuild(s->db, before_us, before_us)) != SQLITE_OK ||
            (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
            sq_fail(st, rc, "rebuild the cutoff's minute of session_minutes");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return sq_classify(rc);
        }
    }
    sqlite3_bind_int64(s->st[ST_DEL_STATS], 1, before_us);
    if ((rc = sq_run(s->st[ST_DEL_STATS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old sensor_stats");
    sqlite3_bind_int64(s->st[ST_DEL_LINKS], 1, before_us);
    if ((rc = sq_run(s->st[ST_DEL_LINKS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old links");
    sqlite3_bind_int64(s->st[ST_DEL_ALERTS], 1, before_us);
    if ((rc = sq_run(s->st[ST_DEL_ALERTS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old alerts");
    return STORE_OK;
}

