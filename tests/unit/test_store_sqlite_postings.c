/* test_store_sqlite_postings.c -- what the SQLite store promises beyond test_store_sqlite.c:
 * the postings (indexer/store_sqlite_postings.c) answer each filtered field exactly and
 * without a scan of sessions (EXPLAIN QUERY PLAN), across commits, duplicates, restarts and
 * retention; a record re-put under another stream is stored once; a batch acknowledged with
 * STORE_OK survives the writer being killed; schema version 1 and 2 databases migrate and
 * read. Databases live in a mkdtemp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "test_dir.h"
#include "store.h"
#include "store_sqlite.h"

static char tmpdir[64];
static int dbcount;

#define T0 1385391358000000LL       /* 2013-11-25T14:55:58Z */
#define HOUR 3600000000LL
#define NREC 600

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    uint8_t sip[16], dip[16];
    char id[64];
};

static struct rec recs[NREC];
static const Ashiato__SessionRecord *ptr[NREC];
static const char *const protos[] = { "http", "dns", "", "tls", "smb" };

/* Session i: spread over 5 hours, 7 source and 11 destination addresses (one IPv6 pair),
 * destination ports 80/53/443/445/22, ephemeral source ports, protocols cycling. */
static void make(int i, int64_t shift_us)
{
    struct rec *x = &recs[i];
    memset(x, 0, sizeof *x);
    ashiato__session_record__init(&x->r);
    ashiato__endpoint__init(&x->src);
    ashiato__endpoint__init(&x->dst);
    x->r.start_us = T0 + shift_us + (int64_t)(i % 5) * HOUR + i * 1000;
    x->r.end_us = x->r.start_us + 5000;
    snprintf(x->id, sizeof x->id, "131125-%05d-%lld", i, (long long)(shift_us / HOUR));
    x->r.id.data = (uint8_t *)x->id;
    x->r.id.len = strlen(x->id);
    x->r.iana_number = i % 9 == 0 ? 17 : 6;
    x->r.protocol = (char *)protos[i % 5];
    static const uint32_t dports[] = { 80, 53, 443, 445, 22 };
    x->src.port = 40000 + (uint32_t)(i * 37 % 20000);
    x->dst.port = dports[i % 5];
    x->src.packets = x->dst.packets = 1;
    if (i % 50 == 7) {                                /* IPv6 */
        static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
        static const uint8_t b6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
        memcpy(x->sip, a6, 16);
        memcpy(x->dip, b6, 16);
        x->src.ip.len = x->dst.ip.len = 16;
        x->r.ip_version = 6;
    } else {
        memcpy(x->sip, (uint8_t[]){ 10, 1, 0, (uint8_t)(i % 7) }, 4);
        memcpy(x->dip, (uint8_t[]){ 10, 2, 0, (uint8_t)(i % 11) }, 4);
        x->src.ip.len = x->dst.ip.len = 4;
        x->r.ip_version = 4;
    }
    x->src.ip.data = x->sip;
    x->dst.ip.data = x->dip;
    x->r.source = &x->src;
    x->r.destination = &x->dst;
    ptr[i] = &x->r;
}

static struct store *open_path(const char *path)
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(cfg.url, sizeof cfg.url, "sqlite://%s", path);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open(%s): %s", path, err);
    return st;
}

static void fresh_path(char path[256])
{
    snprintf(path, 256, "%s/p%d.db", tmpdir, ++dbcount);
}

static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* A second connection on the store's file with session_match() registered, as the query
 * compiler's connection will have it (the store registers it on its own). */
static sqlite3 *reader(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sq_postings_register(db), SQLITE_OK);
    return db;
}

/* The rowids session_match finds for (field, value) in [lo, hi) with the exact condition,
 * compared with a plain scan of the columns: both lists equal; their length. */
static long long match_equals_scan(sqlite3 *db, const char *field, const char *value,
                                   int64_t lo, int64_t hi, const char *column_cond)
{
    char a[1024], b[1024];
    if (hi == 0)
        hi = INT64_MAX;
    snprintf(a, sizeof a, "SELECT group_concat(rowid) FROM (SELECT rowid FROM sessions WHERE "
             "rowid IN (SELECT rid FROM " SQ_MATCH_FN "('%s', %s, %lld, %lld)) AND start_us >= "
             "%lld AND start_us < %lld AND (%s) ORDER BY rowid)", field, value, (long long)lo,
             (long long)hi, (long long)lo, (long long)hi, column_cond);
    snprintf(b, sizeof b, "SELECT group_concat(rowid) FROM (SELECT rowid FROM sessions NOT "
             "INDEXED WHERE start_us >= %lld AND start_us < %lld AND (%s) ORDER BY rowid)",
             (long long)lo, (long long)hi, column_cond);
    sqlite3_stmt *qa = NULL, *qb = NULL;
    if (sqlite3_prepare_v2(db, a, -1, &qa, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, b, -1, &qb, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(qa), SQLITE_ROW);
    assert_int_equal(sqlite3_step(qb), SQLITE_ROW);
    const char *ra = (const char *)sqlite3_column_text(qa, 0);
    const char *rb = (const char *)sqlite3_column_text(qb, 0);
    if ((ra == NULL) != (rb == NULL) || (ra && strcmp(ra, rb) != 0))
        fail_msg("%s == %s: postings give [%s], a scan gives [%s]", field, value,
                 ra ? ra : "", rb ? rb : "");
    long long n = 0;
    for (const char *p = ra; p && *p; p++)
        n += *p == ',';
    n += ra != NULL;
    sqlite3_finalize(qa);
    sqlite3_finalize(qb);
    return n;
}

/* Every filtered field, through session_match, gives what a scan of the columns gives; with
 * all, each of them finds some sessions. */
static void check_fields(sqlite3 *db, int64_t lo, int64_t hi, bool all)
{
    static const struct { const char *field, *value, *cond; } f[] = {
        { "src_ip", "'10.1.0.3'", "src_ip = '10.1.0.3'" },
        { "dst_ip", "'10.2.0.10'", "dst_ip = '10.2.0.10'" },
        { "ip", "'10.2.0.4'", "src_ip = '10.2.0.4' OR dst_ip = '10.2.0.4'" },
        { "ip", "'2001:db8::2'", "src_ip = '2001:db8::2' OR dst_ip = '2001:db8::2'" },
        { "dst_port", "445", "dst_port = 445" },
        { "src_port", "40074", "src_port = 40074" },
        { "port", "22", "src_port = 22 OR dst_port = 22" },
        { "sensor", "'s2'", "sensor = 's2'" },
        { "protocol", "'smb'", "protocol = 'smb'" },
        { "transport", "'udp'", "transport = 'udp'" },
        /* CIDR blocks */
        { "dst_ip", "'10.2.0.0/29'", "dst_ip IN ('10.2.0.0', '10.2.0.1', '10.2.0.2', '10.2.0.3',"
          " '10.2.0.4', '10.2.0.5', '10.2.0.6', '10.2.0.7')" },
        { "ip", "'10.1.0.0/16'", "src_ip LIKE '10.1.%' OR dst_ip LIKE '10.1.%'" },
        { "ip", "'2001:db8::/126'", "src_ip IN ('2001:db8::1', '2001:db8::2') OR"
          " dst_ip IN ('2001:db8::1', '2001:db8::2')" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        long long n = match_equals_scan(db, f[i].field, f[i].value, lo, hi, f[i].cond);
        if (all && n == 0)
            fail_msg("%s == %s: no sessions", f[i].field, f[i].value);
    }
    assert_int_equal(match_equals_scan(db, "ip", "'10.9.9.9'", lo, hi, "src_ip = '10.9.9.9'"), 0);
    assert_int_equal(match_equals_scan(db, "ip", "'not an address'", lo, hi, "0"), 0);
    assert_int_equal(match_equals_scan(db, "ip", "'10.1.0.0/33'", lo, hi, "0"), 0);
    assert_int_equal(match_equals_scan(db, "ip", "'10.9.0.0/16'", lo, hi, "src_ip LIKE '10.9.%'"),
                     0);
}

/* ---- tests ------------------------------------------------------------------------- */

static void postings_answer_without_scan(void **state)
{
    char path[256];
    fresh_path(path);
    struct store *st = open_path(path);
    for (int i = 0; i < NREC; i++)
        make(i, 0);
    /* several commits: one group of three sensors, then single batches, then a restart */
    const struct store_batch group[] = {
        { "s1", NULL, 1, ptr, 150 }, { "s2", NULL, 1, ptr + 150, 100 },
        { "s3", NULL, 1, ptr + 250, 50 },
    };
    assert_int_equal(store_put_batches(st, group, 3), STORE_OK);
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, ptr + 300, 100), STORE_OK);
    assert_int_equal(store_put_batch(st, "s2", NULL, 2, ptr + 400, 1), STORE_OK);
    store_close(st);
    st = open_path(path);
    assert_int_equal(store_put_batch(st, "s2", NULL, 3, ptr + 401, 199), STORE_OK);
    sqlite3 *db = reader(path);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM sessions"), NREC);
    check_fields(db, T0 - HOUR, T0 + 6 * HOUR, true);                  /* everything */
    check_fields(db, T0 + HOUR + 30 * 60000000LL, T0 + 3 * HOUR, false); /* parts of hours */
    /* open bounds (0 and NULL) */
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's3', 0, 0)"),
                     50);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's3')"), 50);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('protocol', 'dns',"
                             " NULL, NULL)"), NREC / 5);
    /* an address as stored (an integer) and a port as text work too */
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('src_ip', 167837699)"),
                     sql_int(db, "SELECT count(*) FROM sessions WHERE src_ip = '10.1.0.3'"));
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('dst_port', '53')"),
                     NREC / 5);
    /* an unknown field is an error that names it */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rid FROM " SQ_MATCH_FN "('ip.src', 'x')",
                                        -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ERROR);
    assert_non_null(strstr(sqlite3_errmsg(db), "unknown field 'ip.src'"));
    sqlite3_finalize(q);

    /* the plan: sessions is searched by rowid from the postings, never scanned */
    static const char *const plans[] = {
        "SELECT doc FROM sessions WHERE rowid IN (SELECT rid FROM " SQ_MATCH_FN
        "('ip', ?1, ?2, ?3)) AND start_us >= ?2 AND start_us < ?3 AND (src_ip = ?1 OR"
        " dst_ip = ?1) ORDER BY start_us, id LIMIT 50",
        "SELECT count(*) FROM sessions WHERE rowid IN (SELECT rid FROM " SQ_MATCH_FN
        "('port', ?1, ?2, ?3)) AND start_us >= ?2 AND start_us < ?3",
        "SELECT doc FROM sessions WHERE rowid IN (SELECT rid FROM " SQ_MATCH_FN
        "('protocol', ?1)) AND rowid IN (SELECT rid FROM " SQ_MATCH_FN "('sensor', ?2))",
    };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        char eqp[1200], all[2048] = "";
        snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", plans[i]);
        assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &q, NULL), SQLITE_OK);
        while (sqlite3_step(q) == SQLITE_ROW) {
            strncat(all, (const char *)sqlite3_column_text(q, 3), sizeof all - strlen(all) - 2);
            strcat(all, "\n");
        }
        sqlite3_finalize(q);
        if (strstr(all, "SCAN sessions") || !strstr(all, "SEARCH sessions USING INTEGER "
                                                        "PRIMARY KEY (rowid=?)"))
            fail_msg("plan of %s:\n%s", plans[i], all);
        print_message("plan %zu:\n%s", i, all);
    }
    /* and a time range alone goes by the (start_us, id) index */
    assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT doc FROM sessions WHERE"
                                        " start_us >= ?1 AND start_us < ?2 ORDER BY start_us,"
                                        " id", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_non_null(strstr((const char *)sqlite3_column_text(q, 3), "USING INDEX sessions_start"));
    sqlite3_finalize(q);
    sqlite3_close(db);
    store_close(st);
}

static void once_across_streams_and_restarts(void **state)
{
    char path[256];
    uint64_t seq, total;
    struct store_counters c;
    fresh_path(path);
    struct store *st = open_path(path);
    for (int i = 0; i < 40; i++)
        make(i, 24 * HOUR);
    assert_int_equal(store_put_batch(st, "s1", "s1#100", 1, ptr, 40), STORE_OK);
    store_close(st);
    /* the sensor's journal was wiped: a new stream resends the same records */
    st = open_path(path);
    const struct store_batch again[] = {
        { "s1", "s1#200", 1, ptr + 10, 30 }, { "s1", "s1#200", 2, ptr, 20 },
    };
    assert_int_equal(store_put_batches(st, again, 2), STORE_OK);
    store_counters(st, &c);
    assert_int_equal(c.inserted, 0);
    assert_int_equal(c.duplicates, 50);
    assert_int_equal(store_sensor_seq(st, "s1#200", &seq), STORE_OK);
    assert_int_equal(seq, 2);
    /* a batch half new, half old; and a record twice in one batch */
    make(40, 24 * HOUR);
    make(41, 24 * HOUR);
    const Ashiato__SessionRecord *mixed[] = { ptr[5], ptr[40], ptr[6], ptr[41], ptr[40] };
    assert_int_equal(store_put_batch(st, "s1", "s1#200", 3, mixed, 5), STORE_OK);
    store_counters(st, &c);
    assert_int_equal(c.inserted, 2);
    assert_int_equal(store_query_sessions(st, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 42);
    /* the postings list each session once, duplicates none */
    sqlite3 *db = reader(path);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's1')"), 42);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's1') WHERE"
                             " rid NOT IN (SELECT rowid FROM sessions)"), 0);
    check_fields(db, 0, 0, false);
    sqlite3_close(db);
    store_close(st);
}

static void retention_drops_postings(void **state)
{
    char path[256];
    uint64_t deleted;
    fresh_path(path);
    struct store *st = open_path(path);
    for (int i = 0; i < 100; i++)
        make(i, 48 * HOUR);
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, ptr, 100), STORE_OK);
    int64_t cut = T0 + 48 * HOUR + 2 * HOUR + HOUR / 2;
    assert_int_equal(store_delete_older(st, cut, &deleted), STORE_OK);
    sqlite3 *db = reader(path);
    assert_int_equal((long long)deleted, 100 - sql_int(db, "SELECT count(*) FROM sessions"));
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM session_postings WHERE hour < %lld",
             (long long)(cut / HOUR));
    assert_int_equal(sql_int(db, sql), 0);
    check_fields(db, 0, 0, false);          /* stale rowids of the cut hour find nothing */
    /* new sessions never take a deleted session's rowid */
    long long before = sql_int(db, "SELECT value FROM store_meta WHERE key = 'next_rowid'");
    assert_int_equal(store_delete_older(st, T0 + 100 * HOUR, &deleted), STORE_OK);
    for (int i = 0; i < 40; i++)
        make(i, 72 * HOUR);
    const Ashiato__SessionRecord *again[41];
    again[0] = ptr[0];                           /* the first one twice: not stored twice */
    memcpy(again + 1, ptr, 40 * sizeof *ptr);
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, again, 41), STORE_OK);
    assert_int_equal(sql_int(db, "SELECT min(rowid) FROM sessions"), before);
    assert_int_equal(sql_int(db, "SELECT max(rowid) - min(rowid) + 1 FROM sessions"), 40);
    check_fields(db, 0, 0, false);
    sqlite3_close(db);
    store_close(st);
}

/* A child stores a batch, gets STORE_OK and is killed before it closes anything: the batch and
 * its seq are there for the next open (WAL, synchronous FULL, one transaction). */
static void acked_batch_survives_a_kill(void **state)
{
    char path[256];
    fresh_path(path);
    for (int i = 0; i < 64; i++)
        make(i, 96 * HOUR);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_config cfg = { 0 };
        char err[ASH_ERR_LEN];
        snprintf(cfg.url, sizeof cfg.url, "sqlite://%s", path);
        struct store *st = store_open(&cfg, err);
        if (!st || store_put_batch(st, "s1", "s1#5", 9, ptr, 64) != STORE_OK)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct store *st = open_path(path);
    uint64_t seq = 0, total = 0;
    assert_int_equal(store_sensor_seq(st, "s1#5", &seq), STORE_OK);
    assert_int_equal(seq, 9);
    assert_int_equal(store_query_sessions(st, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 64);
    sqlite3 *db = reader(path);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's1')"), 64);
    sqlite3_close(db);
    store_close(st);
}

static int count_rows(void *ctx, const char *doc, size_t len)
{
    (*(int *)ctx)++;
    return 0;
}

struct doc { char text[4096]; };

static int keep_doc(void *ctx, const char *doc, size_t len)
{
    snprintf(((struct doc *)ctx)->text, sizeof ((struct doc *)ctx)->text, "%.*s", (int)len, doc);
    return 0;
}

/* A database as version 1 or 2 wrote it (their DDL, a packed or a JSON row), opened now. */
static void migrates_old_versions(void **state)
{
    static const char *const v1 =
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, start_us INTEGER NOT NULL, end_us INTEGER"
        " NOT NULL, sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port"
        " INTEGER, transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, community_id"
        " TEXT, doc TEXT NOT NULL);"
        "CREATE INDEX sessions_start ON sessions(start_us);";
    static const char *const v2 =
        "CREATE TABLE sessions (id TEXT NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT"
        " NULL, sensor TEXT NOT NULL, src_ip TEXT, src_port INTEGER, dst_ip TEXT, dst_port"
        " INTEGER, transport TEXT, protocol TEXT, packets INTEGER, bytes INTEGER, community_id"
        " TEXT, doc BLOB NOT NULL);"
        "CREATE UNIQUE INDEX sessions_start ON sessions(start_us, id);";
    static const char *const common =
        "CREATE INDEX sessions_src_ip ON sessions(src_ip);"
        "CREATE INDEX sessions_dst_ip ON sessions(dst_ip);"
        "CREATE INDEX sessions_dst_port ON sessions(dst_port);"
        "CREATE INDEX sessions_sensor ON sessions(sensor, start_us);"
        "CREATE INDEX sessions_protocol ON sessions(protocol);"
        "CREATE TABLE sensor_seq (sensor TEXT PRIMARY KEY, seq INTEGER NOT NULL);"
        "INSERT INTO sensor_seq VALUES ('s1', 41);"
        "CREATE TABLE sensor_stats (sensor TEXT NOT NULL, time_us INTEGER NOT NULL,"
        " pcap_received INTEGER, pcap_dropped INTEGER, pcap_if_dropped INTEGER, packets INTEGER,"
        " malformed INTEGER, sessions_active INTEGER, sessions_total INTEGER, sessions_evicted"
        " INTEGER, outbox_batches INTEGER, outbox_bytes INTEGER, outbox_dropped INTEGER,"
        " disk_used_bytes INTEGER, disk_free_bytes INTEGER, PRIMARY KEY (sensor, time_us));"
        "CREATE TABLE alerts (id TEXT PRIMARY KEY, kind TEXT, start_us INTEGER NOT NULL, end_us"
        " INTEGER NOT NULL, source_ip TEXT, sessions INTEGER, summary TEXT, doc TEXT NOT NULL);";
    for (int version = 1; version <= 2; version++) {
        char path[256];
        fresh_path(path);
        make(1, 0);
        make(2, 0);
        make(3, 0);
        sqlite3 *db;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL",
                                      NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, version == 1 ? v1 : v2, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, common, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_stmt *ins;
        assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO sessions VALUES (?1, ?2, ?3, 'old',"
                                            " ?4, ?5, ?6, ?7, 'tcp', ?8, 2, 100, 'cid', ?9)", -1,
                                            &ins, NULL), SQLITE_OK);
        for (int i = 1; i <= 2; i++) {            /* session 1 packed, 2 as version 1's JSON */
            const Ashiato__SessionRecord *r = ptr[i];
            uint8_t packed[1024];
            size_t len = ashiato__session_record__pack(r, packed);
            char sip[48], dip[48];
            snprintf(sip, sizeof sip, "%u.%u.%u.%u", recs[i].sip[0], recs[i].sip[1],
                     recs[i].sip[2], recs[i].sip[3]);
            snprintf(dip, sizeof dip, "%u.%u.%u.%u", recs[i].dip[0], recs[i].dip[1],
                     recs[i].dip[2], recs[i].dip[3]);
            sqlite3_bind_text(ins, 1, recs[i].id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, r->start_us);
            sqlite3_bind_int64(ins, 3, r->end_us);
            sqlite3_bind_text(ins, 4, sip, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 5, recs[i].src.port);
            sqlite3_bind_text(ins, 6, dip, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 7, recs[i].dst.port);
            sqlite3_bind_text(ins, 8, r->protocol, -1, SQLITE_STATIC);
            if (i == 1)
                sqlite3_bind_blob(ins, 9, packed, (int)len, SQLITE_TRANSIENT);
            else
                sqlite3_bind_text(ins, 9, "{\"v1\":true}", -1, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
            sqlite3_reset(ins);
        }
        sqlite3_finalize(ins);
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
        assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        struct store *st = open_path(path);
        db = reader(path);
        assert_int_equal(sql_int(db, "PRAGMA user_version"), SQ_SCHEMA_VERSION);
        assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                 " AND name LIKE 'sessions%'"), 1);  /* sessions_start alone */
        assert_int_equal(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name ="
                                 " 'sessions_start' AND sql LIKE '%UNIQUE%'"), 1);
        /* the old rows read, as they were stored */
        struct doc d = { "" };
        assert_int_equal(store_get_session(st, recs[2].id, keep_doc, &d), STORE_OK);
        assert_string_equal(d.text, "{\"v1\":true}");
        assert_int_equal(store_get_session(st, recs[1].id, keep_doc, &d), STORE_OK);
        assert_non_null(strstr(d.text, "\"observer\":{\"name\":\"old\"}"));
        uint64_t seq = 0;
        assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
        assert_int_equal(seq, 41);
        /* the old rows have postings; a re-put of an old session by its sensor stays one row,
         * another sensor's record with an old id is a row of its own (no PRIMARY KEY(id)) */
        assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 'old')"), 2);
        assert_int_equal(store_put_batch(st, "old", "s1", 42, ptr + 1, 3), STORE_OK);
        int n = 0;
        assert_int_equal(store_query_sessions(st, NULL, count_rows, &n, NULL), STORE_OK);
        assert_int_equal(n, 3);
        assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 'old')"), 3);
        assert_int_equal(store_put_batch(st, "s1", NULL, 0, ptr + 1, 1), STORE_OK);
        n = 0;
        assert_int_equal(store_query_sessions(st, NULL, count_rows, &n, NULL), STORE_OK);
        assert_int_equal(n, 4);
        assert_int_equal(sql_int(db, "SELECT count(*) FROM " SQ_MATCH_FN "('sensor', 's1')"), 1);
        check_fields(db, 0, 0, false);
        sqlite3_close(db);
        store_close(st);
        st = open_path(path);                     /* and opens again without migrating */
        store_close(st);
    }
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", "test_store_sqlite_postings");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postings_answer_without_scan),
        cmocka_unit_test(once_across_streams_and_restarts),
        cmocka_unit_test(retention_drops_postings),
        cmocka_unit_test(acked_batch_survives_a_kill),
        cmocka_unit_test(migrates_old_versions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
