/* store_sqlite.c -- the embedded store: one SQLite database file in WAL mode.
 * Owns:  the sqlite3 connection, its prepared statements (reused for the handle's life), the
 *        schema (sessions, sensor_seq, sensor_stats, alerts) and its version (user_version).
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: blocks long on a lock (busy_timeout SQ_BUSY_MS, then STORE_ERR_RETRY); commits
 *        records without their batch's seq or the reverse (one transaction holds both).
 * Trap:  durability is synchronous=FULL in WAL mode: COMMIT returns after the WAL is fsync'd,
 *        so an acknowledged batch survives a process crash, a kernel crash and a power loss.
 *        (NORMAL would survive a process crash only: a power loss could roll back the last
 *        commits since a checkpoint, after the sensor had dropped those acked batches.) FULL
 *        cost 0-8% against NORMAL on this VM (20000-record commits: 78.6k vs 78.9k sessions/s;
 *        1000-record commits: 26.9k vs 29.2k): a commit costs the index pages it rewrites
 *        (about one page per random index per record), not the fsync. Hence
 *        store_put_batches: commit big, about 3x faster in 20000-record commits. */
#include "store_backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <json-c/json.h>
#include "record_json.h"

#define SQ_SCHEMA_VERSION 1
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
#define SQ_BUSY_MS        100     /* a locked database answers STORE_ERR_RETRY after this */
#define SQ_SYNCHRONOUS    "FULL"
#define SQ_DELETE_CHUNK   10000   /* rows per retention transaction, so writers get turns */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " id TEXT PRIMARY KEY, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port INTEGER,"
    " transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, community_id TEXT,"
    " doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start_us);"
    "CREATE INDEX IF NOT EXISTS sessions_src_ip ON sessions(src_ip);"
    "CREATE INDEX IF NOT EXISTS sessions_dst_ip ON sessions(dst_ip);"
    "CREATE INDEX IF NOT EXISTS sessions_dst_port ON sessions(dst_port);"
    "CREATE INDEX IF NOT EXISTS sessions_sensor ON sessions(sensor, start_us);"
    "CREATE INDEX IF NOT EXISTS sessions_protocol ON sessions(protocol);"
    "CREATE TABLE IF NOT EXISTS sensor_seq (sensor TEXT PRIMARY KEY, seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sensor_stats ("
    " sensor TEXT NOT NULL, time_us INTEGER NOT NULL, pcap_received INTEGER,"
    " pcap_dropped INTEGER, pcap_if_dropped INTEGER, packets INTEGER, malformed INTEGER,"
    " sessions_active INTEGER, sessions_total INTEGER, sessions_evicted INTEGER,"
    " outbox_batches INTEGER, outbox_bytes INTEGER, outbox_dropped INTEGER,"
    " disk_used_bytes INTEGER, disk_free_bytes INTEGER, PRIMARY KEY (sensor, time_us));"
    "CREATE INDEX IF NOT EXISTS sensor_stats_time ON sensor_stats(time_us);"
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id TEXT PRIMARY KEY, kind TEXT, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " source_ip TEXT, sessions INTEGER, summary TEXT, doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_start ON alerts(start_us);";

enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INS_SESSION, ST_UPD_SEQ, ST_GET_SEQ, ST_INS_STATS,
       ST_INS_ALERT, ST_GET_DOC, ST_DEL_SESSIONS, ST_DEL_STATS, ST_DEL_ALERTS, ST_COUNT };

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SESSION] = "INSERT OR IGNORE INTO sessions (id, start_us, end_us, sensor, src_ip,"
        " src_port, dst_ip, dst_port, transport, protocol, packets, bytes, community_id, doc)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_UPD_SEQ] = "INSERT INTO sensor_seq (sensor, seq) VALUES (?1, ?2) ON CONFLICT(sensor)"
        " DO UPDATE SET seq = max(seq, excluded.seq)",
    [ST_GET_SEQ] = "SELECT seq FROM sensor_seq WHERE sensor = ?1",
    [ST_INS_STATS] = "INSERT OR REPLACE INTO sensor_stats VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_INS_ALERT] = "INSERT OR REPLACE INTO alerts (id, kind, start_us, end_us, source_ip,"
        " sessions, summary, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_GET_DOC] = "SELECT doc FROM sessions WHERE id = ?1",
    [ST_DEL_SESSIONS] = "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions"
        " WHERE start_us < ?1 LIMIT ?2)",
    [ST_DEL_STATS] = "DELETE FROM sensor_stats WHERE time_us < ?1",
    [ST_DEL_ALERTS] = "DELETE FROM alerts WHERE start_us < ?1",
};

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char path[1024];
};

static struct sq *SQ(struct store *st) { return st->impl; }

/* Map an SQLite result code to a store code: what a later try may cure is STORE_ERR_RETRY. */
static int classify(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_IOERR: case SQLITE_FULL:
    case SQLITE_CANTOPEN: case SQLITE_READONLY: case SQLITE_NOMEM: case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
        return STORE_ERR_RETRY;
    default:
        return STORE_ERR;
    }
}

static int sq_fail(struct store *st, int rc, const char *what)
{
    struct sq *s = SQ(st);
    return store_fail(st, classify(rc), "sqlite %s: %s: %s", s->path, what,
                      sqlite3_errmsg(s->db));
}

/* Roll back an open transaction (after a failure); keeps st->err. */
static void rollback(struct sq *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->st[ST_ROLLBACK]);
        sqlite3_reset(s->st[ST_ROLLBACK]);
    }
}

/* Run a statement that returns no rows; its result code. */
static int run(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int64_t clamp64(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }

static void bind_text_or_null(sqlite3_stmt *stmt, int col, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(stmt, col, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, col);
}

static void sq_close(struct store *st)
{
    struct sq *s = SQ(st);
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
    st->impl = NULL;
}

/* One pragma whose answer is a single text value; 0 or -1 with err. */
static int pragma_text(struct sq *s, const char *sql, char *out, size_t outsz)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && out)
        snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sq_open(struct store *st, const char *target, char err[ASH_ERR_LEN])
{
    struct sq *s = calloc(1, sizeof *s);
    char mode[32] = "", version[32] = "";
    const char *what;
    if (!s) {
        snprintf(err, ASH_ERR_LEN, "sqlite: out of memory");
        return -1;
    }
    snprintf(s->path, sizeof s->path, "%s", target);
    st->impl = s;
    int rc = sqlite3_open_v2(target, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        what = "open";
        goto fail;
    }
    sqlite3_busy_timeout(s->db, SQ_BUSY_MS);
    sqlite3_extended_result_codes(s->db, 1);
    /* page_size only takes effect on a new file, before WAL is switched on. 16 KiB pages were
     * the fastest of 4/8/16 KiB for ~800-byte documents and six indexes (1M sessions in
     * 20000-record commits: 47.6k/55.1k/62.3k sessions/s per CPU second). */
    what = "set pragmas";
    if (pragma_text(s, "PRAGMA page_size = 16384", NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA journal_mode = WAL", mode, sizeof mode) < 0)
        goto fail;
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        snprintf(err, ASH_ERR_LEN, "sqlite %s: cannot switch to WAL mode (journal_mode is %s; "
                 "a network file system?)", s->path, mode);
        sq_close(st);
        return -1;
    }
    if (pragma_text(s, "PRAGMA synchronous = " SQ_SYNCHRONOUS, NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA cache_size = -262144", NULL, 0) < 0 ||         /* 256 MiB */
        pragma_text(s, "PRAGMA temp_store = MEMORY", NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA wal_autocheckpoint = 8192", NULL, 0) < 0 ||     /* 128 MiB */
        pragma_text(s, "PRAGMA journal_size_limit = 268435456", NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA user_version", version, sizeof version) < 0)
        goto fail;
    if (atoi(version) > SQ_SCHEMA_VERSION) {
        snprintf(err, ASH_ERR_LEN, "sqlite %s: schema version %s is newer than this binary's %d",
                 s->path, version, SQ_SCHEMA_VERSION);
        sq_close(st);
        return -1;
    }
    /* a current schema needs no write lock: readers (the HTTP API) open while ingest runs */
    what = "create schema";
    if (atoi(version) < SQ_SCHEMA_VERSION &&
        (rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
        goto fail;
    if (atoi(version) < SQ_SCHEMA_VERSION &&
        ((rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK ||
         (rc = sqlite3_exec(s->db, "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION), NULL,
                            NULL, NULL)) != SQLITE_OK ||
         (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)) {
        snprintf(err, ASH_ERR_LEN, "sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sq_close(st);
        return -1;
    }
    what = "prepare";
    for (int i = 0; i < ST_COUNT; i++)
        if ((rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                     &s->st[i], NULL)) != SQLITE_OK)
            goto fail;
    return 0;
fail:
    snprintf(err, ASH_ERR_LEN, "sqlite %s: %s: %s", s->path, what,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sq_close(st);
    return -1;
}

/* ---- writing ----------------------------------------------------------------------- */

/* Bind and insert one record; 1 if new, 0 if its id was already stored, <0 store code. */
static int put_record(struct store *st, const char *sensor, const Ashiato__SessionRecord *r,
                      size_t bi, size_t idx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *ins = s->st[ST_INS_SESSION];
    char id[STORE_ID_LEN], sip[48] = "", dip[48] = "", tbuf[8];
    size_t doclen = 0;
    const Ashiato__Endpoint *src = r->source, *dst = r->destination;

    int idlen = store_id_text(&r->id, id);      /* store.c checked it already */
    char *doc = record_json_render(r, sensor, &doclen);
    if (doc && doclen > INT32_MAX) {
        free(doc);
        return store_fail(st, STORE_ERR, "batches[%zu] records[%zu]: document of %zu bytes is "
                          "too large", bi, idx, doclen);
    }
    if (idlen < 0 || !doc) {
        free(doc);
        return store_fail(st, idlen < 0 ? STORE_ERR : STORE_ERR_RETRY, "batches[%zu] records[%zu]:"
                          " %s", bi, idx, idlen < 0 ? "bad id" : "out of memory rendering the "
                          "document");
    }
    if (src)
        record_json_ip(src->ip.data, src->ip.len, sip);
    if (dst)
        record_json_ip(dst->ip.data, dst->ip.len, dip);
    uint64_t packets = (src ? src->packets : 0) + (dst ? dst->packets : 0);
    uint64_t bytes = (src ? src->bytes : 0) + (dst ? dst->bytes : 0);

    sqlite3_bind_text(ins, 1, id, idlen, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, r->start_us);
    sqlite3_bind_int64(ins, 3, r->end_us);
    sqlite3_bind_text(ins, 4, sensor, -1, SQLITE_STATIC);
    bind_text_or_null(ins, 5, sip);
    sqlite3_bind_int64(ins, 6, src ? src->port : 0);
    bind_text_or_null(ins, 7, dip);
    sqlite3_bind_int64(ins, 8, dst ? dst->port : 0);
    sqlite3_bind_text(ins, 9, record_json_transport(r->iana_number, tbuf), -1, SQLITE_TRANSIENT);
    bind_text_or_null(ins, 10, r->protocol);
    sqlite3_bind_int64(ins, 11, clamp64(packets));
    sqlite3_bind_int64(ins, 12, clamp64(bytes));
    bind_text_or_null(ins, 13, r->community_id);
    sqlite3_bind_text(ins, 14, doc, (int)doclen, free);   /* SQLite frees doc */
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE) {
        char what[48];
        snprintf(what, sizeof what, "insert batches[%zu] records[%zu]", bi, idx);
        return sq_fail(st, rc, what);
    }
    return sqlite3_changes(s->db) > 0;
}

static int sq_put_batches(struct store *st, const struct store_batch *b, size_t nb)
{
    struct sq *s = SQ(st);
    uint64_t inserted = 0, total = 0;
    int rc;

    if ((rc = run(s->st[ST_BEGIN])) != SQLITE_OK)
        return sq_fail(st, rc, "begin");
    for (size_t bi = 0; bi < nb; bi++) {
        for (size_t i = 0; i < b[bi].n; i++) {
            int r = put_record(st, b[bi].sensor, b[bi].recs[i], bi, i);
            if (r < 0) {
                rollback(s);
                return r;
            }
            inserted += (uint64_t)r;
        }
        total += b[bi].n;
        if (b[bi].seq == 0)
            continue;
        sqlite3_bind_text(s->st[ST_UPD_SEQ], 1, b[bi].stream ? b[bi].stream : b[bi].sensor, -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(s->st[ST_UPD_SEQ], 2, (int64_t)b[bi].seq);
        if ((rc = run(s->st[ST_UPD_SEQ])) != SQLITE_OK) {
            sq_fail(st, rc, "update sensor_seq");
            rollback(s);
            return classify(rc);
        }
    }
    if ((rc = run(s->st[ST_COMMIT])) != SQLITE_OK) {
        sq_fail(st, rc, "commit");
        rollback(s);
        return classify(rc);
    }
    st->counters.inserted += inserted;
    st->counters.duplicates += total - inserted;
    return STORE_OK;
}

static int sq_sensor_seq(struct store *st, const char *sensor, uint64_t *seq)
{
    sqlite3_stmt *q = SQ(st)->st[ST_GET_SEQ];
    sqlite3_bind_text(q, 1, sensor, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(st, rc, "read sensor_seq");
    return STORE_OK;
}

static int sq_put_stats(struct store *st, const char *sensor, const Ashiato__SensorStats *x)
{
    sqlite3_stmt *q = SQ(st)->st[ST_INS_STATS];
    const uint64_t v[] = { x->pcap_received, x->pcap_dropped, x->pcap_if_dropped, x->packets,
                           x->malformed, x->sessions_active, x->sessions_total,
                           x->sessions_evicted, x->outbox_batches, x->outbox_bytes,
                           x->outbox_dropped, x->disk_used_bytes, x->disk_free_bytes };
    int64_t t = x->time_us;
    if (t == 0) {                               /* no time from the sensor: now */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    sqlite3_bind_text(q, 1, sensor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, t);
    for (size_t i = 0; i < ASH_ARRAY_LEN(v); i++)
        sqlite3_bind_int64(q, (int)i + 3, clamp64(v[i]));
    int rc = run(q);
    return rc == SQLITE_OK ? STORE_OK : sq_fail(st, rc, "insert sensor_stats");
}

static int sq_put_alert(struct store *st, const Ashiato__Alert *a)
{
    sqlite3_stmt *q = SQ(st)->st[ST_INS_ALERT];
    char ip[48];
    size_t len = 0;
    char *doc = store_alert_json(a, &len);
    if (!doc)
        return store_fail(st, STORE_ERR_RETRY, "alert %s: out of memory", a->id);
    record_json_ip(a->source_ip.data, a->source_ip.len, ip);
    sqlite3_bind_text(q, 1, a->id, -1, SQLITE_STATIC);
    bind_text_or_null(q, 2, a->kind);
    sqlite3_bind_int64(q, 3, a->start_us);
    sqlite3_bind_int64(q, 4, a->end_us);
    bind_text_or_null(q, 5, ip);
    sqlite3_bind_int64(q, 6, clamp64(a->sessions));
    bind_text_or_null(q, 7, a->summary);
    sqlite3_bind_text(q, 8, doc, (int)len, free);
    int rc = run(q);
    return rc == SQLITE_OK ? STORE_OK : sq_fail(st, rc, "insert alert");
}

/* ---- reading ----------------------------------------------------------------------- */

/* The WHERE clause of q, "?"-parameterised; bind_where() binds it from parameter 1. */
static int where_sql(struct store *st, const struct store_query *q, char *out, size_t outsz)
{
    if (q->expr)
        return store_fail(st, STORE_ERR, "query expressions are not supported by the sqlite "
                          "store yet");
    snprintf(out, outsz, " WHERE 1%s%s%s", q->start_us ? " AND start_us >= ?" : "",
             q->end_us ? " AND start_us < ?" : "", q->sensor ? " AND sensor = ?" : "");
    return 0;
}

static int bind_where(sqlite3_stmt *stmt, const struct store_query *q)
{
    int i = 1;
    if (q->start_us)
        sqlite3_bind_int64(stmt, i++, q->start_us);
    if (q->end_us)
        sqlite3_bind_int64(stmt, i++, q->end_us);
    if (q->sensor)
        sqlite3_bind_text(stmt, i++, q->sensor, -1, SQLITE_STATIC);
    return i;
}

static int64_t limit_of(size_t limit)
{
    return limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit;
}

/* Step stmt and hand column 0 (text) of each row to cb; stops when cb returns nonzero. */
static int each_row(struct store *st, sqlite3_stmt *stmt, store_row_fn cb, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(stmt, 0);
        int len = sqlite3_column_bytes(stmt, 0);
        if (cb(ctx, doc ? doc : "", (size_t)len))
            return STORE_OK;
    }
    return rc == SQLITE_DONE ? STORE_OK : sq_fail(st, rc, "query");
}

static int sq_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                             void *ctx, uint64_t *total)
{
    struct sq *s = SQ(st);
    char where[128], sql[384];
    sqlite3_stmt *stmt = NULL;
    int rc = STORE_OK, src;

    if (where_sql(st, q, where, sizeof where) < 0)
        return STORE_ERR;
    /* one read transaction: the total and the rows come from the same snapshot */
    if ((src = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
        return sq_fail(st, src, "begin read");
    if (total) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions%s", where);
        if ((src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL)) != SQLITE_OK) {
            rc = sq_fail(st, src, "prepare count");
            goto done;
        }
        bind_where(stmt, q);
        if ((src = sqlite3_step(stmt)) != SQLITE_ROW) {
            rc = sq_fail(st, src, "count");
            goto done;
        }
        *total = (uint64_t)sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        stmt = NULL;
    }
    if (cb) {
        const char *dir = q->newest_first ? "DESC" : "ASC";
        snprintf(sql, sizeof sql, "SELECT doc FROM sessions%s ORDER BY start_us %s, id %s"
                 " LIMIT ? OFFSET ?", where, dir, dir);
        if ((src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL)) != SQLITE_OK) {
            rc = sq_fail(st, src, "prepare query");
            goto done;
        }
        int i = bind_where(stmt, q);
        sqlite3_bind_int64(stmt, i, limit_of(q->limit));
        sqlite3_bind_int64(stmt, i + 1, q->offset > INT64_MAX ? INT64_MAX : (int64_t)q->offset);
        rc = each_row(st, stmt, cb, ctx);
    }
done:
    sqlite3_finalize(stmt);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

static int sq_count_by(struct store *st, const struct store_query *q, enum store_field field,
                       store_row_fn cb, void *ctx)
{
    static const char *const col[] = {
        [STORE_FIELD_SENSOR] = "sensor", [STORE_FIELD_TRANSPORT] = "transport",
        [STORE_FIELD_PROTOCOL] = "protocol",
    };
    struct sq *s = SQ(st);
    char where[128], sql[512];
    sqlite3_stmt *stmt;
    int src, rc = STORE_OK;

    if (where_sql(st, q, where, sizeof where) < 0)
        return STORE_ERR;
    if (field == STORE_FIELD_HOUR)
        /* floor to the hour, also for times before 1970 */
        snprintf(sql, sizeof sql, "SELECT start_us - (((start_us %% 3600000000) + 3600000000)"
                 " %% 3600000000) AS k, count(*) FROM sessions%s GROUP BY k ORDER BY k"
                 " LIMIT ?", where);
    else
        snprintf(sql, sizeof sql, "SELECT %s AS k, count(*) AS c FROM sessions%s AND %s IS NOT"
                 " NULL GROUP BY k ORDER BY c DESC, k LIMIT ?", col[field], where, col[field]);
    if ((src = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL)) != SQLITE_OK)
        return sq_fail(st, src, "prepare count_by");
    sqlite3_bind_int64(stmt, bind_where(stmt, q), limit_of(q->limit));
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_object *o = json_object_new_object();
        if (!o) {
            rc = store_fail(st, STORE_ERR_RETRY, "count_by: out of memory");
            break;
        }
        if (field == STORE_FIELD_HOUR)
            json_object_object_add(o, "key", json_object_new_int64(sqlite3_column_int64(stmt, 0)));
        else
            json_object_object_add(o, "key", json_object_new_string_len(
                (const char *)sqlite3_column_text(stmt, 0), sqlite3_column_bytes(stmt, 0)));
        json_object_object_add(o, "count", json_object_new_int64(sqlite3_column_int64(stmt, 1)));
        size_t len = 0;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
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
    return rc;
}

static int sq_get_session(struct store *st, const char *id, store_row_fn cb, void *ctx)
{
    sqlite3_stmt *q = SQ(st)->st[ST_GET_DOC];
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q), ret = STORE_OK;
    if (rc == SQLITE_ROW)
        cb(ctx, (const char *)sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0));
    else if (rc == SQLITE_DONE)
        ret = store_fail(st, STORE_ERR_NOT_FOUND, "session %.*s: not found", STORE_ID_MAX, id);
    else
        ret = sq_fail(st, rc, "get session");
    sqlite3_reset(q);
    return ret;
}

static int sq_delete_older(struct store *st, int64_t before_us, uint64_t *deleted)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *del = s->st[ST_DEL_SESSIONS];
    int rc, n;

    /* in chunks, each its own transaction, so the aggregator's writes get turns */
    sqlite3_bind_int64(del, 1, before_us);
    sqlite3_bind_int64(del, 2, SQ_DELETE_CHUNK);
    do {
        if ((rc = run(del)) != SQLITE_OK)
            return sq_fail(st, rc, "delete old sessions");
        n = sqlite3_changes(s->db);
        *deleted += (uint64_t)n;
    } while (n >= SQ_DELETE_CHUNK);
    sqlite3_bind_int64(s->st[ST_DEL_STATS], 1, before_us);
    if ((rc = run(s->st[ST_DEL_STATS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old sensor_stats");
    sqlite3_bind_int64(s->st[ST_DEL_ALERTS], 1, before_us);
    if ((rc = run(s->st[ST_DEL_ALERTS])) != SQLITE_OK)
        return sq_fail(st, rc, "delete old alerts");
    return STORE_OK;
}

const struct store_backend store_sqlite_backend = {
    .kind = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .put_batches = sq_put_batches,
    .sensor_seq = sq_sensor_seq,
    .put_stats = sq_put_stats,
    .put_alert = sq_put_alert,
    .query_sessions = sq_query_sessions,
    .count_by = sq_count_by,
    .get_session = sq_get_session,
    .delete_older = sq_delete_older,
};
