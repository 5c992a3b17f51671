/* store_sqlite.c -- the embedded store: one SQLite database file in WAL mode.
 * Owns:  the sqlite3 connection, its prepared statements (reused for the handle's life), the
 *        schema (sessions, sensor_seq, sensor_stats, alerts) and its version (user_version).
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: blocks long on a lock (busy_timeout SQ_BUSY_MS, then STORE_ERR_RETRY); commits
 *        records without their batch's seq or the reverse (one transaction holds both).
 * Trap:  sessions.doc is packed protobuf, not JSON: SQL outside this file cannot read it
 *        (json_extract does not apply); every document leaves through emit_doc(), which
 *        renders it with record_json_render() and the sensor column as observer.name, the
 *        same text the sensor's --emit-json writes. Rendering at ingest was json-c at ~8.6 us
 *        per record and an ~800-byte document; packed, a campus record is ~220 bytes and
 *        ingest went from 41.9k to 94.5k sessions/s (218k sessions, 24 batches per commit).
 *        Durability is synchronous=FULL in WAL mode: COMMIT returns after the WAL is fsync'd,
 *        so an acknowledged batch survives a process crash, a kernel crash and a power loss.
 *        (NORMAL would survive a process crash only: a power loss could roll back the last
 *        commits since a checkpoint, after the sensor had dropped those acked batches.) FULL
 *        cost 12-15% against NORMAL here (1.5M sessions in 48k-record commits: 79.8k/90.4k
 *        vs 94.0k/103.1k sessions/s, two runs each): kept, an ack is a promise. Per record
 *        the cost is the b-trees: the table and six indexes, ~1.2 us each on this VM (one
 *        index-free table took 285k sessions/s, all six 93k), see bench/RESULTS.md. */
#include "store_backend.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <json-c/json.h>
#include "record_json.h"

#define SQ_SCHEMA_VERSION 2
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
#define SQ_BUSY_MS        100     /* a locked database answers STORE_ERR_RETRY after this */
#define SQ_SYNCHRONOUS    "FULL"
#define SQ_DELETE_CHUNK   10000   /* rows per retention transaction, so writers get turns */

/* Schema version 2. sessions.doc is the record as packed protobuf, rendered to its JSON
 * document on the way out (emit_doc); version 1 kept the JSON text, and its rows still read.
 * The unique key is (start_us, id), not id: a re-delivered record has the same id AND the same
 * start (the sensor derives the id from the first-packet time, and the ES backend picks the
 * daily index by that time, so both stores dedupe alike), and a time-ordered key is
 * time-local, where PRIMARY KEY(id) made every commit rewrite pages of a random index all
 * over the file: 69k against 92k sessions per CPU-second at 1.5M sessions. The same index
 * serves time ranges and the query order (start_us, id); an id alone is found through its
 * date prefix (sq_get_session). The other five are the fields analysts filter on. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " id TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port INTEGER,"
    " transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, community_id TEXT,"
    " doc BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS sessions_start ON sessions(start_us, id);"
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

/* Version 1 to 2: its sessions keep PRIMARY KEY(id) (still unique, so still deduping) and
 * their JSON documents; the time index becomes the unique (start_us, id). */
static const char migrate_v1_sql[] =
    "DROP INDEX IF EXISTS sessions_start;"
    "CREATE UNIQUE INDEX sessions_start ON sessions(start_us, id);";

enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INS_SESSION, ST_UPD_SEQ, ST_GET_SEQ, ST_INS_STATS,
       ST_INS_ALERT, ST_GET_DOC, ST_GET_DOC_DAY, ST_DEL_SESSIONS, ST_DEL_STATS, ST_DEL_ALERTS,
       ST_INS_ROWS, ST_COUNT };

#define STMT_INS_HEAD "INSERT OR IGNORE INTO sessions (id, start_us, end_us, sensor, src_ip," \
    " src_port, dst_ip, dst_port, transport, protocol, packets, bytes, community_id, doc) VALUES"
static const char stmt_sql_ins_head[] = STMT_INS_HEAD;   /* ST_INS_ROWS: built at open */

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SESSION] = STMT_INS_HEAD " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14)",
    [ST_UPD_SEQ] = "INSERT INTO sensor_seq (sensor, seq) VALUES (?1, ?2) ON CONFLICT(sensor)"
        " DO UPDATE SET seq = max(seq, excluded.seq)",
    [ST_GET_SEQ] = "SELECT seq FROM sensor_seq WHERE sensor = ?1",
    [ST_INS_STATS] = "INSERT OR REPLACE INTO sensor_stats VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_INS_ALERT] = "INSERT OR REPLACE INTO alerts (id, kind, start_us, end_us, source_ip,"
        " sessions, summary, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_GET_DOC] = "SELECT doc, sensor, id FROM sessions WHERE id = ?1 ORDER BY start_us LIMIT 1",
    [ST_GET_DOC_DAY] = "SELECT doc, sensor, id FROM sessions WHERE start_us >= ?1 AND"
        " start_us < ?2 AND id = ?3 ORDER BY start_us LIMIT 1",
    [ST_DEL_SESSIONS] = "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions"
        " WHERE start_us < ?1 LIMIT ?2)",
    [ST_DEL_STATS] = "DELETE FROM sensor_stats WHERE time_us < ?1",
    [ST_DEL_ALERTS] = "DELETE FROM alerts WHERE start_us < ?1",
};

/* Rows per INSERT statement. One statement per record spent ~20% of the insert path opening
 * and closing its seven b-tree cursors (sqlite3VdbeHalt and cursor allocation, callgrind);
 * 32 rows per statement took 119k-129k sessions per CPU-second against 102k-106k for one
 * (1.5M sessions, two runs each). */
#define SQ_ROWS 32
#define SQ_COLS 14                   /* bound per row, see stmt_sql[ST_INS_SESSION] */

struct sq_row {                      /* text bound with SQLITE_STATIC for one row */
    char id[STORE_ID_LEN], sip[48], dip[48], tbuf[8];
};

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char path[1024];
    struct sq_row rows[SQ_ROWS];
    uint8_t *pack;                   /* the records being inserted, packed */
    size_t pack_cap;
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
    free(s->pack);
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
     * 20000-record commits: 47.6k/55.1k/62.3k sessions/s per CPU second), and still beat
     * 4 KiB with ~220-byte packed records (1.5M sessions: 74k-79k vs 63k-67k). */
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
    /* Neither a 1 GiB cache (101k/100k against 110k/100k sessions/s) nor mmap_size = 4 GiB
     * (105k/104k against 108k/108k) helped ingest of 1.5M sessions: left out. */
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
        ((rc = sqlite3_exec(s->db, atoi(version) == 1 ? migrate_v1_sql : schema_sql, NULL, NULL,
                            NULL)) != SQLITE_OK ||
         (rc = sqlite3_exec(s->db, "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION), NULL,
                            NULL, NULL)) != SQLITE_OK ||
         (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)) {
        snprintf(err, ASH_ERR_LEN, "sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sq_close(st);
        return -1;
    }
    what = "prepare";
    char rows_sql[sizeof stmt_sql_ins_head + SQ_ROWS * (2 * SQ_COLS + 3)];
    size_t used = (size_t)snprintf(rows_sql, sizeof rows_sql, "%s", stmt_sql_ins_head);
    for (int r = 0; r < SQ_ROWS; r++) {
        rows_sql[used++] = r ? ',' : ' ';
        rows_sql[used++] = '(';
        for (int c = 0; c < SQ_COLS; c++) {
            rows_sql[used++] = '?';
            rows_sql[used++] = c + 1 < SQ_COLS ? ',' : ')';
        }
    }
    rows_sql[used] = '\0';
    for (int i = 0; i < ST_COUNT; i++)
        if ((rc = sqlite3_prepare_v3(s->db, i == ST_INS_ROWS ? rows_sql : stmt_sql[i], -1,
                                     SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL)) != SQLITE_OK)
            goto fail;
    return 0;
fail:
    snprintf(err, ASH_ERR_LEN, "sqlite %s: %s: %s", s->path, what,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sq_close(st);
    return -1;
}

/* ---- writing ----------------------------------------------------------------------- */

/* "10.0.0.1" (by hand: inet_ntop was 5% of the insert path, callgrind) or record_json_ip()'s
 * text for IPv6; "" for other lengths. Identical text to record_json_ip. */
static void ip_text(const ProtobufCBinaryData *ip, char out[48])
{
    if (ip->len != 4) {
        record_json_ip(ip->data, ip->len, out);
        return;
    }
    char *o = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = ip->data[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = i < 3 ? '.' : '\0';
    }
}

/* Bind record r, packed as packed[0..len), as row `row` (0-based) of stmt; the text it needs
 * lives in s->rows[row] (both stay put until the statement is stepped). */
static void bind_row(struct sq *s, sqlite3_stmt *stmt, int row, const char *sensor,
                     const Ashiato__SessionRecord *r, const uint8_t *packed, size_t len)
{
    struct sq_row *x = &s->rows[row];
    const Ashiato__Endpoint *src = r->source, *dst = r->destination;
    int c = row * SQ_COLS;
    int idlen = store_id_text(&r->id, x->id);   /* store.c checked it already */
    x->sip[0] = x->dip[0] = '\0';
    if (src)
        ip_text(&src->ip, x->sip);
    if (dst)
        ip_text(&dst->ip, x->dip);
    uint64_t packets = (src ? src->packets : 0) + (dst ? dst->packets : 0);
    uint64_t bytes = (src ? src->bytes : 0) + (dst ? dst->bytes : 0);

    sqlite3_bind_text(stmt, c + 1, x->id, idlen, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, c + 2, r->start_us);
    sqlite3_bind_int64(stmt, c + 3, r->end_us);
    sqlite3_bind_text(stmt, c + 4, sensor, -1, SQLITE_STATIC);
    bind_text_or_null(stmt, c + 5, x->sip);
    sqlite3_bind_int64(stmt, c + 6, src ? src->port : 0);
    bind_text_or_null(stmt, c + 7, x->dip);
    sqlite3_bind_int64(stmt, c + 8, dst ? dst->port : 0);
    sqlite3_bind_text(stmt, c + 9, record_json_transport(r->iana_number, x->tbuf), -1,
                      SQLITE_STATIC);
    bind_text_or_null(stmt, c + 10, r->protocol);
    sqlite3_bind_int64(stmt, c + 11, clamp64(packets));
    sqlite3_bind_int64(stmt, c + 12, clamp64(bytes));
    bind_text_or_null(stmt, c + 13, r->community_id);
    sqlite3_bind_blob(stmt, c + 14, packed, (int)len, SQLITE_STATIC);
}

/* Insert recs[0..n) (n is 1 or SQ_ROWS) with one statement, each stored as packed[i] when
 * the caller has the packed bytes (packed may be NULL); *inserted counts the new ones (a
 * record whose start_us and id are stored already is left alone). */
static int put_rows(struct store *st, const char *sensor, const Ashiato__SessionRecord *const *recs,
                    const ProtobufCBinaryData *packed, size_t n, size_t bi, size_t i0,
                    uint64_t *inserted)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *stmt = s->st[n == 1 ? ST_INS_SESSION : ST_INS_ROWS];
    size_t len[SQ_ROWS], total = 0;
    for (size_t i = 0; i < n; i++) {
        len[i] = packed ? packed[i].len : ashiato__session_record__get_packed_size(recs[i]);
        if (len[i] > INT32_MAX || total > SIZE_MAX / 2)
            return store_fail(st, STORE_ERR, "batches[%zu] records[%zu]: record of %zu bytes "
                              "is too large", bi, i0 + i, len[i]);
        total += len[i];
    }
    if (!packed && total > s->pack_cap) {
        size_t cap = total < 65536 ? 65536 : 2 * total;
        uint8_t *p = realloc(s->pack, cap);
        if (!p)
            return store_fail(st, STORE_ERR_RETRY, "batches[%zu] records[%zu]: out of memory "
                              "packing records", bi, i0);
        s->pack = p;
        s->pack_cap = cap;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *bytes = packed ? packed[i].data : s->pack + off;
        if (!packed)
            ashiato__session_record__pack(recs[i], s->pack + off);
        bind_row(s, stmt, (int)i, sensor, recs[i], bytes, len[i]);
        off += len[i];
    }
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        char what[64];
        snprintf(what, sizeof what, "insert batches[%zu] records[%zu..%zu]", bi, i0, i0 + n - 1);
        return sq_fail(st, rc, what);
    }
    *inserted += (uint64_t)sqlite3_changes(s->db);
    return STORE_OK;
}

static int sq_put_batches_packed(struct store *st, const struct store_batch *b, size_t nb,
                                 const ProtobufCBinaryData *const *packed)
{
    struct sq *s = SQ(st);
    uint64_t inserted = 0, total = 0;
    int rc;

    if ((rc = run(s->st[ST_BEGIN])) != SQLITE_OK)
        return sq_fail(st, rc, "begin");
    for (size_t bi = 0; bi < nb; bi++) {
        for (size_t i = 0; i < b[bi].n;) {
            size_t n = b[bi].n - i >= SQ_ROWS ? SQ_ROWS : 1;
            int r = put_rows(st, b[bi].sensor, b[bi].recs + i, packed && packed[bi]
                             ? packed[bi] + i : NULL, n, bi, i, &inserted);
            if (r < 0) {
                rollback(s);
                return r;
            }
            i += n;
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

static int sq_put_batches(struct store *st, const struct store_batch *b, size_t nb)
{
    return sq_put_batches_packed(st, b, nb, NULL);
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
    size_t n = 0;
    char *doc = record_json_render(r, (const char *)sqlite3_column_text(stmt, col + 1), &n);
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
        snprintf(sql, sizeof sql, "SELECT doc, sensor, id FROM sessions%s ORDER BY start_us %s, id %s"
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

/* Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The session of an id. Without an index on id alone (see schema_sql), an id that starts
 * "YYMMDD-", the UTC day of event.start, as ashiato-sensor's and Arkime's ids do, is looked
 * for on that day (19YY or 20YY) through sessions_start; any other id is looked for by a
 * scan of that index. A version-1 database answers through its PRIMARY KEY(id). */
static int sq_get_session(struct store *st, const char *id, store_row_fn cb, void *ctx)
{
    struct sq *s = SQ(st);
    int rc = SQLITE_DONE, ret = STORE_OK, stop;
    unsigned v[6];
    bool dated = strlen(id) > 7 && id[6] == '-';
    for (int i = 0; dated && i < 6; i++) {
        dated = id[i] >= '0' && id[i] <= '9';
        v[i] = (unsigned)(id[i] - '0');
    }
    unsigned yy = dated ? v[0] * 10 + v[1] : 0, mm = dated ? v[2] * 10 + v[3] : 0,
             dd = dated ? v[4] * 10 + v[5] : 0;
    sqlite3_stmt *q = NULL;
    if (dated && mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31) {
        q = s->st[ST_GET_DOC_DAY];
        for (int century = 2000; century >= 1900 && rc == SQLITE_DONE; century -= 100) {
            int64_t day = days_from_civil(century + yy, mm, dd);
            sqlite3_bind_int64(q, 1, day * 86400000000LL);
            sqlite3_bind_int64(q, 2, (day + 1) * 86400000000LL);
            sqlite3_bind_text(q, 3, id, -1, SQLITE_STATIC);
            if ((rc = sqlite3_step(q)) != SQLITE_ROW)
                sqlite3_reset(q);
        }
    } else {
        q = s->st[ST_GET_DOC];
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
    }
    if (rc == SQLITE_ROW)
        ret = emit_doc(st, q, 0, cb, ctx, &stop);
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
    .put_batches_packed = sq_put_batches_packed,
};
