/* store_sqlite.c -- the embedded store: one SQLite database file in WAL mode (open, schema and
 * its migrations, writing; store_sqlite_read.c answers, store_sqlite_postings.c indexes).
 * Owns:  the sqlite3 connection, its prepared statements (reused for the handle's life), the
 *        schema (sessions, session_postings, store_meta, sensor_seq, sensor_stats, alerts)
 *        and its version (user_version), the postings builder of the open transaction.
 * Lends: row documents to the caller's store_row_fn, valid during that call only.
 * Never: blocks long on a lock (busy_timeout SQ_BUSY_MS, then STORE_ERR_RETRY); commits
 *        records without their batch's seq or their postings, or the reverse (one
 *        transaction holds all three).
 * Trap:  a session costs the b-trees it enters. Schema v2 had seven per row (the table,
 *        UNIQUE(start_us, id), src_ip, dst_ip, dst_port, (sensor, start_us), protocol): 38.3k
 *        instructions per row in this file (callgrind, 506k campus sessions) and 81.9k
 *        sessions/s over 4.5M in one database, 73.1k over the last third (bench/store_replay.c,
 *        load 1.0). Now two (the table, appended to, and UNIQUE(start_us, id)) plus about 0.1
 *        postings rows per session per 48k-session commit (see schema_sql): 13.3k
 *        instructions per row (37.3k for v2 on the same 286k sessions), 234k-256k sessions/s
 *        over 4.5M and 220k-245k over the last third at load 2.1-2.7, 134k-147k and 112k-145k
 *        when others' jobs pushed the load to 3-3.9 (v2 in that hour: 50.9k and 44.8k); per
 *        CPU-second 263k-317k against v2's 93k-96k (see schema_sql for what was tried).
 *        These are version 3's figures; version 4 adds the sensor's name to the unique
 *        index's key (a few bytes per entry) and was not measured again.
 *        Durability is synchronous=FULL in WAL mode: COMMIT returns after the WAL is fsync'd,
 *        so an acknowledged batch survives a process crash, a kernel crash and a power loss.
 *        (NORMAL would survive a process crash only: a power loss could roll back the last
 *        commits since a checkpoint, after the sensor had dropped those acked batches.) FULL
 *        cost 12-15% against NORMAL (schema v2, 1.5M sessions in 48k-record commits:
 *        79.8k/90.4k vs 94.0k/103.1k sessions/s): kept, an ack is a promise. sessions.doc is
 *        packed protobuf (rendered on the way out, see store_sqlite_read.c): rendering JSON at
 *        ingest was ~8.6 us per record. */
#include "store_sqlite.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "record_json.h"
#include "query_sql.h"

#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
#define SQ_BUSY_MS        100     /* a locked database answers STORE_ERR_RETRY after this */
#define SQ_SYNCHRONOUS    "FULL"
#define SQ_MIGRATE_ROWS   65536   /* rows per postings flush while migrating */

/* Schema version 4.
 * sessions: a rowid table (rowids never reused, see SQ_COLS) whose rows carry the columns
 * queries filter on beside the packed record (doc); the only index on it is the unique
 * (start_us, id, sensor): it dedupes (a re-delivered record has the same sensor, the same id
 * AND the same start: the sensor derives the id from the first-packet time, and the ES
 * backend picks the daily index by that time and makes the _id of id and sensor, so both
 * stores dedupe alike, across streams and restarts), serves time ranges, the query order
 * (start_us, id, sensor), and an id through its date prefix (sq_get_session). The sensor is
 * in the key since version 4 (issue 14, H1): the id is a public hash of the sensor's name and
 * the flow, so with (start_us, id) alone an allowed sensor seeing the same traffic could
 * store a record under another sensor's id first and have that sensor's record ignored; now
 * it only adds a row of its own. Version 3 is migrated at open by rebuilding this index (its
 * rows and postings are kept: (start_us, id) unique implies (start_us, id, sensor) unique).
 * session_postings replaces the per-row indexes on src_ip, dst_ip, dst_port, (sensor,
 * start_us) and protocol of version 2 (store_sqlite.h, session_match()).
 * Versions 1 and 2 are migrated at open: their five field indexes are dropped and their rows'
 * postings built; their rows keep community_id (no longer written: no query reads it, and it
 * was ~30 of ~330 bytes a row) and version 1's JSON documents, which still read (version 1's
 * table is copied without its PRIMARY KEY(id), which would refuse another sensor's id).
 * Postings, per field, per group commit: the campus journals (bench/aggregator_ingest.sh) have
 * per 48k sessions 598 distinct source IPs, 783 destination IPs and 2818 destination ports
 * (0.013, 0.016 and 0.059 postings per session; per 2000 sessions 0.12, 0.28, 0.07; per 256
 * 0.44, 0.51, 0.08), sensor, protocol and transport a handful. Source ports are ephemeral:
 * exact postings were 0.48 per session and cut ingest to 152k sessions per CPU-second; one
 * posting per block of 64 ports (SQ_SRC_PORT_SHIFT) is 0.009 per session, 233k. A posting per
 * block of N consecutive rows instead of a rowid list would make a point query read N rows per
 * hit, and a busy server's address is in nearly every block.
 * Measured on the way (1.5M sessions, 48k per commit, sessions per CPU-second): the table with
 * UNIQUE(start_us, id) alone 331k; that plus the five field indexes with integer keys 139k; a
 * WITHOUT ROWID table keyed (start_us, id), which would be table, time index and uniqueness in
 * one b-tree, 224k alone (its ~240-byte rows arrive out of order and split half full) and 66k
 * with the five indexes (each carrying the 31-byte key): rejected. IPs as text in the row
 * against integers: 342k against 332k, no difference, so the columns stay readable text (the
 * postings hold them as integers). */
/* Version 6: cross-sensor links (store_put_links), one row per direction, read back into a
 * session's ashiato.linked when its document is built (store_sqlite_read.c). */
#define SCHEMA_LINKS_SQL \
    "CREATE TABLE IF NOT EXISTS session_links (" \
    " sensor TEXT NOT NULL, id TEXT NOT NULL, other TEXT NOT NULL, start_us INTEGER NOT NULL," \
    " PRIMARY KEY (sensor, id, other)) WITHOUT ROWID;" \
    "CREATE INDEX IF NOT EXISTS session_links_start ON session_links(start_us);"
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " id TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port INTEGER,"
    " transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, doc BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS sessions_start ON sessions(start_us, id, sensor);"
    "CREATE TABLE IF NOT EXISTS session_postings ("
    " field INTEGER NOT NULL, value NOT NULL, hour INTEGER NOT NULL, first INTEGER NOT NULL,"
    " rows BLOB NOT NULL, PRIMARY KEY (field, value, hour, first)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sensor_seq (sensor TEXT PRIMARY KEY, seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sensor_stats ("
    " sensor TEXT NOT NULL, time_us INTEGER NOT NULL, pcap_received INTEGER,"
    " pcap_dropped INTEGER, pcap_if_dropped INTEGER, packets INTEGER, malformed INTEGER,"
    " sessions_active INTEGER, sessions_total INTEGER, sessions_evicted INTEGER,"
    " outbox_batches INTEGER, outbox_bytes INTEGER, outbox_dropped INTEGER,"
    " disk_used_bytes INTEGER, disk_free_bytes INTEGER, oldest_packet_us INTEGER,"
    " stats_interval_ms INTEGER, PRIMARY KEY (sensor, time_us));"
    "CREATE INDEX IF NOT EXISTS sensor_stats_time ON sensor_stats(time_us);"
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id TEXT PRIMARY KEY, kind TEXT, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " source_ip TEXT, sessions INTEGER, summary TEXT, doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_start ON alerts(start_us);"
    SCHEMA_LINKS_SQL
    /* the sessions per minute and sensor, for histograms (store_sqlite_minutes.c) */
    "CREATE TABLE IF NOT EXISTS session_minutes ("
    " minute INTEGER NOT NULL, sensor TEXT NOT NULL, n INTEGER NOT NULL,"
    " src_packets INTEGER NOT NULL, dst_packets INTEGER NOT NULL, src_bytes INTEGER NOT NULL,"
    " dst_bytes INTEGER NOT NULL, src_data INTEGER NOT NULL, dst_data INTEGER NOT NULL,"
    " PRIMARY KEY (minute, sensor)) WITHOUT ROWID;";

/* Versions 1 to 3: the time index becomes the unique (start_us, id, sensor) (before
 * schema_sql, whose IF NOT EXISTS would keep the old one); then 2 to 3. */
/* Version 1's PRIMARY KEY(id) would still refuse another sensor's row with the same id: its
 * table is copied into version 2's (same columns, rowids kept for the postings). */
static const char migrate_v1_sql[] =
    "DROP INDEX IF EXISTS sessions_start; ALTER TABLE sessions RENAME TO sessions_v1;"
    "CREATE TABLE sessions ("
    " id TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL,"
    " sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port INTEGER,"
    " transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, community_id TEXT,"
    " doc BLOB NOT NULL);"
    "INSERT INTO sessions (rowid, id, start_us, end_us, sensor, src_ip, src_port, dst_ip,"
    " dst_port, transport, protocol, packets, bytes, community_id, doc) SELECT rowid, id,"
    " start_us, end_us, sensor, src_ip, src_port, dst_ip, dst_port, transport, protocol,"
    " packets, bytes, community_id, doc FROM sessions_v1;"
    "DROP TABLE sessions_v1;";
static const char migrate_v3_sql[] =
    "DROP INDEX IF EXISTS sessions_start;"
    "CREATE UNIQUE INDEX sessions_start ON sessions(start_us, id, sensor);";
static const char migrate_v2_sql[] =
    "DROP INDEX IF EXISTS sessions_src_ip; DROP INDEX IF EXISTS sessions_dst_ip;"
    "DROP INDEX IF EXISTS sessions_dst_port; DROP INDEX IF EXISTS sessions_sensor;"
    "DROP INDEX IF EXISTS sessions_protocol;";

/* Rows are inserted without a rowid: SQLite appends them after the last one (OP_NewRowid and
 * an append hint), where a rowid given by us cost a b-tree seek per row to check it is free
 * (~1.3k of ~15k instructions per row, callgrind). The rowids a statement took are then
 * last_insert_rowid() - n + 1 .. last_insert_rowid(). Only when retention deleted the highest
 * rowids (store_meta.next_rowid is past max(rowid) + 1) does the next row get its rowid
 * explicitly (ST_INS_AT), so that no rowid is ever handed out twice. */
#define SQ_COLS 13                   /* bound per row, see stmt_sql[ST_INS_SESSION] */
#define STMT_INS_COLS "id, start_us, end_us, sensor, src_ip, src_port, dst_ip, dst_port," \
    " transport, protocol, packets, bytes, doc"
#define STMT_INS_HEAD "INSERT OR IGNORE INTO sessions (" STMT_INS_COLS ") VALUES"
static const char stmt_sql_ins_head[] = STMT_INS_HEAD;   /* ST_INS_ROWS: built at open */

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INS_SESSION] = STMT_INS_HEAD " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_INS_AT] = "INSERT OR IGNORE INTO sessions (" STMT_INS_COLS ", rowid) VALUES (?1, ?2, ?3,"
        " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_UPD_SEQ] = "INSERT INTO sensor_seq (sensor, seq) VALUES (?1, ?2) ON CONFLICT(sensor)"
        " DO UPDATE SET seq = max(seq, excluded.seq)",
    [ST_GET_SEQ] = "SELECT seq FROM sensor_seq WHERE sensor = ?1",
    [ST_INS_STATS] = "INSERT OR REPLACE INTO sensor_stats (sensor, time_us, pcap_received,"
        " pcap_dropped, pcap_if_dropped, packets, malformed, sessions_active, sessions_total,"
        " sessions_evicted, outbox_batches, outbox_bytes, outbox_dropped, disk_used_bytes,"
        " disk_free_bytes, oldest_packet_us, stats_interval_ms) VALUES (?1, ?2, ?3, ?4, ?5,"
        " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [ST_INS_ALERT] = "INSERT OR REPLACE INTO alerts (id, kind, start_us, end_us, source_ip,"
        " sessions, summary, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* every sensor's session of an id (?4 NULL) or one sensor's, see sq_get_session */
    [ST_GET_DOC] = "SELECT doc, sensor, id, " SQ_LINKED_COL " FROM sessions AS s WHERE id = ?1"
        " AND (?4 IS NULL OR sensor = ?4) ORDER BY start_us, sensor LIMIT " SQ_STR(STORE_GET_MAX),
    [ST_GET_DOC_DAY] = "SELECT doc, sensor, id, " SQ_LINKED_COL " FROM sessions AS s WHERE"
        " start_us >= ?1 AND"
        " start_us < ?2 AND id = ?3 AND (?4 IS NULL OR sensor = ?4) ORDER BY start_us, sensor"
        " LIMIT " SQ_STR(STORE_GET_MAX),
    [ST_DEL_SESSIONS] = "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions"
        " WHERE start_us < ?1 LIMIT ?2)",
    [ST_DEL_STATS] = "DELETE FROM sensor_stats WHERE time_us < ?1",
    [ST_DEL_ALERTS] = "DELETE FROM alerts WHERE start_us < ?1",
    [ST_DEL_POSTINGS] = "DELETE FROM session_postings WHERE hour < ?1",
    /* one posting per statement: ~19.6k instructions each, ~1.6k per session (0.1 postings a
     * session at 48k per commit); 16 per statement took more, 644M against 470M instructions
     * for the 20k postings of 286k sessions (callgrind) */
    [ST_INS_POSTING] = "INSERT OR REPLACE INTO session_postings (field, value, hour, first, rows)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    /* the next rowid: never one that was handed out before, even if retention deleted it */
    [ST_GET_NEXT] = "SELECT coalesce((SELECT value FROM store_meta WHERE key = 'next_rowid'),"
        " 1), coalesce((SELECT max(rowid) FROM sessions), 0) + 1",
    [ST_SET_NEXT] = "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('next_rowid', ?1)",
    [ST_INS_LINK] = "INSERT OR IGNORE INTO session_links (sensor, id, other, start_us) VALUES"
        " (?1, ?2, ?3, ?4)",
    [ST_DEL_LINKS] = "DELETE FROM session_links WHERE start_us < ?1",
    [ST_FIND_ROW] = "SELECT rowid FROM sessions WHERE start_us = ?1 AND id = ?2 AND sensor = ?3",
    [ST_UPS_MINUTE] = SQ_MINUTES_UPSERT,
    [ST_DEL_MINUTES] = "DELETE FROM session_minutes WHERE minute < ?1",
};

/* Map an SQLite result code to a store code: what a later try may cure is STORE_ERR_RETRY. */
int sq_classify(int rc)
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

int sq_fail(struct store *st, int rc, const char *what)
{
    struct sq *s = SQ(st);
    return store_fail(st, sq_classify(rc), "sqlite %s: %s: %s", s->path, what,
                      sqlite3_errmsg(s->db));
}

/* Roll back an open transaction (after a failure); keeps st->err. */
static void rollback(struct sq *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->st[ST_ROLLBACK]);
        sqlite3_reset(s->st[ST_ROLLBACK]);
    }
    sq_postings_reset(s->post);
    sq_agg_reset(s->minutes);
}

int sq_run(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int64_t clamp64(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }

/* v bound as text, or NULL when empty; v must stay put until the statement is stepped (the
 * session rows' text lives in struct sq_row and the records: SQLITE_TRANSIENT's copy was
 * ~2.7k of the ~17.7k instructions per row of the insert path, callgrind) */
static void bind_text_or_null(sqlite3_stmt *stmt, int col, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(stmt, col, v, -1, SQLITE_STATIC);
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
    sq_postings_free(s->post);
    sq_agg_free(s->minutes);
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

/* Version 1, 2 or 3 to 4 inside the caller's transaction: the unique index with the sensor;
 * from 1 or 2 also drop the field indexes, then build the postings of every stored row from
 * its columns and start the rowids after the last one. */
static int migrate_v4(struct sq *s, int version)
{
    sqlite3_stmt *rows = NULL, *ins = NULL;
    int rc;
    if (version == 4)
        return sqlite3_exec(s->db, SCHEMA_LINKS_SQL, NULL, NULL, NULL);
    if ((version == 1 &&
         (rc = sqlite3_exec(s->db, migrate_v1_sql, NULL, NULL, NULL)) != SQLITE_OK) ||
        (rc = sqlite3_exec(s->db, migrate_v3_sql, NULL, NULL, NULL)) != SQLITE_OK ||
        (version == 3 && (rc = sqlite3_exec(s->db, SCHEMA_LINKS_SQL, NULL, NULL, NULL)) !=
                             SQLITE_OK) ||
        version == 3)
        return rc;
    if ((rc = sqlite3_exec(s->db, migrate_v2_sql, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(s->db, "SELECT rowid, start_us, src_ip, dst_ip, src_port,"
                                 " dst_port, sensor, protocol, transport FROM sessions ORDER BY"
                                 " rowid", -1, &rows, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(s->db, stmt_sql[ST_INS_POSTING], -1, &ins, NULL)) != SQLITE_OK)
        goto done;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        if (sq_postings_add_columns(s->post, sqlite3_column_int64(rows, 0),
                                    sqlite3_column_int64(rows, 1),
                                    (const char *)sqlite3_column_text(rows, 2),
                                    (const char *)sqlite3_column_text(rows, 3),
                                    sqlite3_column_int64(rows, 4), sqlite3_column_int64(rows, 5),
                                    (const char *)sqlite3_column_text(rows, 6),
                                    (const char *)sqlite3_column_text(rows, 7),
                                    (const char *)sqlite3_column_text(rows, 8)) < 0) {
            rc = SQLITE_NOMEM;
            goto done;
        }
        if (sq_postings_pending(s->post) >= SQ_MIGRATE_ROWS &&
            (rc = sq_postings_flush(s->post, ins)) != SQLITE_OK)
            goto done;
    }
    if (rc != SQLITE_DONE || (rc = sq_postings_flush(s->post, ins)) != SQLITE_OK)
        goto done;
    rc = sqlite3_exec(s->db, "INSERT OR REPLACE INTO store_meta (key, value) SELECT"
                      " 'next_rowid', coalesce(max(rowid), 0) + 1 FROM sessions", NULL, NULL, NULL);
done:
    sq_postings_reset(s->post);
    sqlite3_finalize(rows);
    sqlite3_finalize(ins);
    return rc;
}

/* Any older version to 7: to 4 first, then (before 5) session_minutes built from every
 * stored session, then (before 7) the postings of packets and tags (one pass over the table
 * each: a one-time cost of about a row scan; 7's unpacks every record). */
static int migrate(struct sq *s, int version)
{
    sqlite3_stmt *ins = NULL;
    int rc = version < 4 ? migrate_v4(s, version) : SQLITE_OK;
    if (rc == SQLITE_OK && (rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL)) == SQLITE_OK &&
        version < 5)
        rc = sq_minutes_rebuild(s->db, 0, 0);
    if (rc == SQLITE_OK && version < 7 &&
        (rc = sqlite3_prepare_v2(s->db, stmt_sql[ST_INS_POSTING], -1, &ins, NULL)) == SQLITE_OK)
        rc = sq_postings_backfill(s->post, s->db, ins, SQ_MIGRATE_ROWS);
    sqlite3_finalize(ins);
    return rc;
}

/* head followed by rows groups of cols parameters: "head (?,?),(?,?)" */
static void multi_row_sql(char *out, size_t outsz, const char *head, int rows, int cols)
{
    size_t used = (size_t)snprintf(out, outsz, "%s", head);
    for (int r = 0; r < rows; r++) {
        out[used++] = r ? ',' : ' ';
        out[used++] = '(';
        for (int c = 0; c < cols; c++) {
            out[used++] = '?';
            out[used++] = c + 1 < cols ? ',' : ')';
        }
    }
    out[used] = '\0';
}

static int sq_open(struct store *st, const char *target, char err[ASH_ERR_LEN])
{
    struct sq *s = calloc(1, sizeof *s);
    char mode[32] = "", version[32] = "";
    const char *what;
    if (!s || !(s->post = sq_postings_new()) ||
        !(s->minutes = sq_agg_new(60000000LL, true))) {
        if (s)
            sq_postings_free(s->post);
        free(s);
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
    what = "register " SQ_MATCH_FN;
    if ((rc = sq_postings_register(s->db)) != SQLITE_OK)
        goto fail;
    what = "register the query functions";
    if ((rc = query_sql_register(s->db)) != SQLITE_OK)
        goto fail;
    /* page_size only takes effect on a new file, before WAL is switched on. 16 KiB pages were
     * the fastest of 4/8/16 KiB for ~800-byte documents and six indexes (1M sessions in
     * 20000-record commits: 47.6k/55.1k/62.3k sessions/s per CPU second), still beat 4 KiB
     * with ~220-byte packed records (1.5M sessions: 74k-79k vs 63k-67k), and beat 8 KiB with
     * schema 3 (4.5M sessions, alternating runs: 293k/295k against 261k/272k per CPU-second,
     * 238k/247k against 198k/233k sessions/s). */
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
     * (105k/104k against 108k/108k) helped ingest of 1.5M sessions: left out. The checkpoint
     * stays SQLite's, on this thread: wal_autocheckpoint 2048 / 8192 / 32768 pages took
     * 187k / 215k / 206k sessions/s over 4.5M (one run each, load ~2.5), and a thread with its
     * own connection running PASSIVE checkpoints (autocheckpoint off) 235k and 234k against
     * 234k and 237k, with a longer slowest call (744 and 732 ms against 420 and 353: its
     * copying competes with the commit's fsync), so it was dropped. */
    if (pragma_text(s, "PRAGMA synchronous = " SQ_SYNCHRONOUS, NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA cache_size = -262144", NULL, 0) < 0 ||         /* 256 MiB */
        pragma_text(s, "PRAGMA temp_store = MEMORY", NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA wal_autocheckpoint = 8192", NULL, 0) < 0 ||     /* 128 MiB */
        pragma_text(s, "PRAGMA journal_size_limit = 268435456", NULL, 0) < 0 ||
        pragma_text(s, "PRAGMA user_version", version, sizeof version) < 0)
        goto fail;
    int v = atoi(version);
    if (v > SQ_SCHEMA_VERSION) {
        snprintf(err, ASH_ERR_LEN, "sqlite %s: schema version %d is newer than this binary's %d",
                 s->path, v, SQ_SCHEMA_VERSION);
        sq_close(st);
        return -1;
    }
    /* a current schema needs no write lock: readers (the HTTP API) open while ingest runs */
    if (v < SQ_SCHEMA_VERSION) {
        what = v ? "migrate the schema to version " SQ_STR(SQ_SCHEMA_VERSION) : "create schema";
        if ((rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
            goto fail;
        if ((rc = v ? migrate(s, v) : sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL)) !=
                SQLITE_OK ||
            (rc = sqlite3_exec(s->db, "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION), NULL,
                               NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
            snprintf(err, ASH_ERR_LEN, "sqlite %s: %s: %s", s->path, what,
                     rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            sq_close(st);
            return -1;
        }
    }
    what = "add the stats history's columns";
    if ((rc = sq_stats_columns(s->db)) != SQLITE_OK)
        goto fail;
    what = "prepare";
    char rows_sql[sizeof stmt_sql_ins_head + SQ_ROWS * (2 * SQ_COLS + 3)];
    multi_row_sql(rows_sql, sizeof rows_sql, stmt_sql_ins_head, SQ_ROWS, SQ_COLS);
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
    sqlite3_bind_blob(stmt, c + 13, packed, (int)len, SQLITE_STATIC);
}

/* The rowid of the stored session (start_us, id, sensor): > 0, 0 when none, or an SQLite
 * error code negated. */
static int64_t rowid_of(struct sq *s, int64_t start_us, const char *id, const char *sensor)
{
    sqlite3_stmt *q = s->st[ST_FIND_ROW];
    sqlite3_bind_int64(q, 1, start_us);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, sensor, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int64_t got = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? got : -(int64_t)rc;
}

/* The rowids handed out in a transaction: the next one, and whether it must be given
 * explicitly (see SQ_COLS). */
struct rowids {
    int64_t next;
    bool explicit;
};

/* Insert recs[0..n) (n is 1 or SQ_ROWS; 1 while ids->explicit) with one statement, each
 * stored as packed[i] when the caller has the packed bytes (packed may be NULL), and add the
 * new ones to the postings; *inserted counts them (a record whose start_us and id are stored
 * already for this sensor is left alone; another sensor's row with them is not this one). */
static int put_rows(struct store *st, const char *sensor, const Ashiato__SessionRecord *const *recs,
                    const ProtobufCBinaryData *packed, size_t n, size_t bi, size_t i0,
                    struct rowids *ids, uint64_t *inserted)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *stmt = s->st[ids->explicit ? ST_INS_AT : n == 1 ? ST_INS_SESSION : ST_INS_ROWS];
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
    if (ids->explicit)
        sqlite3_bind_int64(stmt, SQ_COLS + 1, ids->next);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        char what[64];
        snprintf(what, sizeof what, "insert batches[%zu] records[%zu..%zu]", bi, i0, i0 + n - 1);
        return sq_fail(st, rc, what);
    }
    size_t changes = (size_t)sqlite3_changes(s->db);
    if (changes == 0)
        return STORE_OK;                            /* all stored already */
    int64_t last = sqlite3_last_insert_rowid(s->db), first = ids->next;
    *inserted += changes;
    for (size_t i = 0; i < n; i++) {
        const Ashiato__SessionRecord *r = recs[i];
        const Ashiato__Endpoint *src = r->source, *dst = r->destination;
        int64_t rowid = last - (int64_t)(n - 1 - i);
        if (changes < n) {                          /* some were there already: which? */
            rowid = rowid_of(s, r->start_us, s->rows[i].id, sensor);
            if (rowid < 0)
                return sq_fail(st, (int)-rowid, "find a duplicate");
            if (rowid < first)
                continue;                           /* stored before this statement */
        }
        if (sq_postings_add_row(s->post, rowid, r->start_us, src ? src->ip.data : NULL,
                                src ? src->ip.len : 0, dst ? dst->ip.data : NULL,
                                dst ? dst->ip.len : 0, src ? src->port : 0, dst ? dst->port : 0,
                                sensor, r->protocol,
                                record_json_transport(r->iana_number, s->rows[i].tbuf),
                                clamp64((src ? src->packets : 0) + (dst ? dst->packets : 0)),
                                r->tags, r->n_tags) < 0)
            return store_fail(st, STORE_ERR_RETRY, "batches[%zu] records[%zu]: out of memory "
                              "for postings", bi, i0 + i);
        if (sq_agg_add_record(s->minutes, sensor, r) < 0)
            return store_fail(st, STORE_ERR_RETRY, "batches[%zu] records[%zu]: out of memory "
                              "for the minutes", bi, i0 + i);
    }
    ids->next = last + 1;
    ids->explicit = false;
    return STORE_OK;
}

static int sq_put_batches_packed(struct store *st, const struct store_batch *b, size_t nb,
                                 const ProtobufCBinaryData *const *packed)
{
    struct sq *s = SQ(st);
    uint64_t inserted = 0, total = 0;
    struct rowids ids = { 0, false };
    int64_t first;
    int rc;

    if ((rc = sq_run(s->st[ST_BEGIN])) != SQLITE_OK)
        return sq_fail(st, rc, "begin");
    sqlite3_stmt *q = s->st[ST_GET_NEXT];
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ids.next = sqlite3_column_int64(q, 1);                  /* max(rowid) + 1 */
        ids.explicit = sqlite3_column_int64(q, 0) > ids.next;   /* the top was deleted */
        if (ids.explicit)
            ids.next = sqlite3_column_int64(q, 0);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW) {
        sq_fail(st, rc, "read store_meta");
        rollback(s);
        return sq_classify(rc);
    }
    first = ids.next;
    for (size_t bi = 0; bi < nb; bi++) {
        for (size_t i = 0; i < b[bi].n;) {
            size_t n = b[bi].n - i >= SQ_ROWS && !ids.explicit ? SQ_ROWS : 1;
            int r = put_rows(st, b[bi].sensor, b[bi].recs + i, packed && packed[bi]
                             ? packed[bi] + i : NULL, n, bi, i, &ids, &inserted);
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
        if ((rc = sq_run(s->st[ST_UPD_SEQ])) != SQLITE_OK) {
            sq_fail(st, rc, "update sensor_seq");
            rollback(s);
            return sq_classify(rc);
        }
    }
    const char *what = "write postings";
    if ((rc = sq_postings_flush(s->post, s->st[ST_INS_POSTING])) == SQLITE_OK &&
        (what = "write session_minutes",
         rc = sq_agg_flush(s->minutes, s->st[ST_UPS_MINUTE])) == SQLITE_OK &&
        ids.next != first) {
        what = "update store_meta";
        sqlite3_bind_int64(s->st[ST_SET_NEXT], 1, ids.next);
        rc = sq_run(s->st[ST_SET_NEXT]);
    }
    if (rc == SQLITE_OK) {
        what = "commit";
        rc = sq_run(s->st[ST_COMMIT]);
    }
    if (rc != SQLITE_OK) {
        sq_fail(st, rc, what);
        rollback(s);
        return sq_classify(rc);
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
    sqlite3_bind_int64(q, 16, x->oldest_packet_us > 0 ? x->oldest_packet_us : 0);
    sqlite3_bind_int64(q, 17, x->stats_interval_ms);
    int rc = sq_run(q);
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
    int rc = sq_run(q);
    return rc == SQLITE_OK ? STORE_OK : sq_fail(st, rc, "insert alert");
}

/* both directions of each link, in one transaction */
static int sq_put_links(struct store *st, const struct store_link *links, size_t n)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = s->st[ST_INS_LINK];
    char other[STORE_ID_LEN + STORE_SENSOR_MAX + 2];
    int rc;
    if ((rc = sq_run(s->st[ST_BEGIN])) != SQLITE_OK)
        return sq_fail(st, rc, "begin links");
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        const struct store_link *l = &links[i];
        for (int dir = 0; dir < 2 && rc == SQLITE_OK; dir++) {
            const char *sensor = dir ? l->sensor_b : l->sensor_a, *id = dir ? l->id_b : l->id_a;
            snprintf(other, sizeof other, "%s@%s", dir ? l->id_a : l->id_b,
                     dir ? l->sensor_a : l->sensor_b);
            sqlite3_bind_text(q, 1, sensor, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 3, other, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 4, dir ? l->start_b_us : l->start_a_us);
            rc = sq_run(q);
        }
    }
    if (rc == SQLITE_OK && (rc = sq_run(s->st[ST_COMMIT])) == SQLITE_OK)
        return STORE_OK;
    int ret = sq_fail(st, rc, "store links");
    sq_run(s->st[ST_ROLLBACK]);
    return ret;
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
    .histogram = sq_histogram,
    .get_session = sq_get_session,
    .delete_older = sq_delete_older,
    .put_batches_packed = sq_put_batches_packed,
    .latest_stats = sq_latest_stats,
    .query_alerts = sq_query_alerts,
    .put_links = sq_put_links,
    .stats_history = sq_stats_history,
    .delete_stats_older = sq_delete_stats_older,
};
