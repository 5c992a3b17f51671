/* test_store_sqlite_file.c -- the SQLite store's file through the store interface
 * (indexer/store.h): URLs and the null backend, schema migration (to version 7, with the
 * postings it adds), a locked database, cross-sensor links, sensor stats and alerts. The
 * sessions' put/get/query path is test_store_sqlite.c's. Databases live in a mkdtemp dir
 * (store_sqlite_fixtures.h). */
#include "store_sqlite_fixtures.h"

static void url_errors(void **state)
{
    static const struct { const char *url, *expect; } bad[] = {
        { "ftp://x", "unknown scheme 'ftp'" },
        { "/var/lib/x.db", "did you mean sqlite:///var/lib/x.db" },
        { "relative.db", "no scheme" },
        { "sqlite:rel.db", "expected sqlite:///abs/path.db or sqlite://relative.db" },
        { "sqlite://", "expected sqlite:///abs/path.db" },
        { "null:/x", "the null store takes no path" },
        { "http://", "no host" },
        { "http://es:99999", "port: expected 1..65535" },
        { "http://es:9200,,http://es2:9200", "empty element" },
        { "http://es:9200,ftp://es2:9200", "must start with http:// or https://" },
        /* with the Elasticsearch backend built the host does not resolve, without it the
         * backend is missing: either way an error naming the masked URL */
        { "https://elastic:s3cret@es:9200", "https://***@es:9200" },
        { "sqlite:///nonexistent-dir-ashiato/x.db", "unable to open" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct store_config cfg = { 0 };
        char err[ASH_ERR_LEN] = "";
        snprintf(cfg.url, sizeof cfg.url, "%s", bad[i].url);
        struct store *st = store_open(&cfg, err);
        if (st || !strstr(err, bad[i].expect))
            fail_msg("url %s: expected error containing \"%s\", got \"%s\"", bad[i].url,
                     bad[i].expect, st ? "(opened)" : err);
        assert_null(strstr(err, "s3cret"));        /* credentials are masked */
    }
    struct store_config cfg = { .batch_max = -1 };
    char err[ASH_ERR_LEN];
    assert_null(store_open(&cfg, err));
    assert_non_null(strstr(err, "batch_max: expected 0..10000000, got -1"));
    store_close(NULL);                                /* accepted */
}

static void default_url(void **state)
{
    char cwd[512], err[ASH_ERR_LEN];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    struct store *st = store_open(NULL, err);
    assert_non_null(st);
    assert_string_equal(store_kind(st), "sqlite");
    assert_int_equal(access("ashiato-sessions.db", F_OK), 0);
    store_close(st);
    assert_int_equal(chdir(cwd), 0);
}

static void null_backend(void **state)
{
    struct store *st = open_url(" null: ", NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    struct rows rows = { 0 };
    uint64_t seq = 99, total = 99;
    three(x, p);
    assert_string_equal(store_kind(st), "null");
    assert_int_equal(store_put_batch(st, "s1", NULL, 4, p, 3), STORE_OK);
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, p, 3), STORE_OK);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 4);
    assert_int_equal(store_sensor_seq(st, "s2", &seq), STORE_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(store_query_sessions(st, NULL, collect, &rows, &total), STORE_OK);
    assert_int_equal(rows.n, 0);
    assert_int_equal(total, 0);
    assert_int_equal(store_get_session(st, "131125-aaaa", collect, &rows), STORE_ERR_NOT_FOUND);
    struct store_counters c;
    store_counters(st, &c);
    assert_int_equal(c.batches, 2);
    assert_int_equal(c.records, 6);
    store_close(st);
    st = open_url("null://", NULL);
    store_close(st);
}

/* A version-3 database (its unique index (start_us, id) without the sensor) migrates to
 * version 7 at open, keeping its rows (and counting them into session_minutes). */
static void migrates_v3_to_v5(void **state)
{
    char path[256], url[300];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    three(x, p);
    static char *tags[] = { "tcp", "http" };
    x[0].r.tags = tags;
    x[0].r.n_tags = 2;
    assert_int_equal(store_put_batch(st, "s1", NULL, 7, p, 3), STORE_OK);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM session_postings WHERE field = 8"), 2);
    /* version 7's postings (packets, tags) are built again from the rows */
    const char *extra = "SELECT count(*) || ':' || sum(length(rows)) FROM session_postings"
                        " WHERE field IN (8, 9)";
    char *want = sql_text(path, extra);
    assert_true(sql_int(path, "SELECT count(*) FROM session_postings WHERE field = 9") > 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP INDEX sessions_start; CREATE UNIQUE INDEX"
                                  " sessions_start ON sessions(start_us, id);"
                                  " DELETE FROM session_postings WHERE field IN (8, 9);"
                                  " PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof url, "sqlite://%s", path);
    st = open_url(url, NULL);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 7);
    char *have = sql_text(path, extra);
    assert_string_equal(have, want);
    free(have);
    free(want);
    assert_int_equal(sql_int(path, "SELECT sum(n) FROM session_minutes"), 3);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name ="
                             " 'sessions_start' AND sql LIKE '%id, sensor)%'"), 1);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 3);
    uint64_t seq = 0;
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 7);
    struct rows rows = { 0 };
    assert_int_equal(store_get_session(st, "131125-bbbb", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_int_equal(store_put_batch(st, "s1", NULL, 8, p, 3), STORE_OK);     /* re-delivery */
    assert_int_equal(store_put_batch(st, "s2", NULL, 1, p, 1), STORE_OK);     /* another's */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 4);
    uint64_t total = 0;
    struct store_query q = { .sensor = "s2" };
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 1);
    store_close(st);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void locked_database(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    uint64_t seq, total;
    sqlite3 *other;
    three(x, p);
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, p, 1), STORE_OK);

    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    double t = now_s();
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, p + 1, 2), STORE_ERR_RETRY);
    assert_true(now_s() - t < 2.0);                     /* quickly, not blocked */
    assert_non_null(strstr(store_error(st), "locked"));
    /* readers are not blocked, and nothing of the failed batch is there */
    assert_int_equal(store_query_sessions(st, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 1);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    struct store_counters c;
    store_counters(st, &c);
    assert_int_equal(c.retries, 1);
    /* a reader (the HTTP API) can open the store meanwhile */
    char url[300];
    snprintf(url, sizeof url, "sqlite://%s", path);
    struct store *reader = open_url(url, NULL);
    assert_int_equal(store_query_sessions(reader, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 1);
    store_close(reader);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, p + 1, 2), STORE_OK);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(store_query_sessions(st, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 3);
    sqlite3_close(other);
    store_close(st);
}

/* store_put_links: each of two sessions (two sensors) names the other in ashiato.linked, in
 * store_get_session and store_query_sessions documents; a third names nobody; a link put
 * twice is kept once; a version-4 database (no session_links) migrates and keeps its rows. */
static void links_named_in_documents(void **state)
{
    char path[256], url[300], v[128];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    three(x, p);
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, p, 2), STORE_OK);
    assert_int_equal(store_put_batch(st, "s2", NULL, 1, p + 2, 1), STORE_OK);
    store_close(st);
    sqlite3 *db;                        /* back to version 4, as an older binary left it */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE session_links; PRAGMA user_version = 4",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof url, "sqlite://%s", path);
    st = open_url(url, NULL);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 7);
    struct store_link l = { "s1", "131125-aaaa", "s2", "131125-cccc", T0, T0 + 2 * HOUR + 7 };
    assert_int_equal(store_put_links(st, &l, 1), STORE_OK);
    assert_int_equal(store_put_links(st, &l, 1), STORE_OK);        /* again: no change */
    struct store_link bad = l;
    bad.id_b = "no@such";
    assert_int_equal(store_put_links(st, &bad, 1), STORE_ERR);
    struct rows rows = { 0 };
    assert_int_equal(store_get_session_of(st, "s1", "131125-aaaa", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_non_null(strstr(json_at(rows.doc[0], "ashiato.linked", v, sizeof v),
                           "\"131125-cccc@s2\""));
    assert_null(strstr(v, "aaaa"));
    memset(&rows, 0, sizeof rows);
    struct store_query q = { 0 };
    assert_int_equal(store_query_sessions(st, &q, collect, &rows, NULL), STORE_OK);
    assert_int_equal(rows.n, 3);
    assert_non_null(strstr(rows.doc[0], "\"linked\":[\"131125-cccc@s2\"]"));
    assert_null(strstr(rows.doc[1], "linked"));
    assert_non_null(strstr(rows.doc[2], "\"linked\":[\"131125-aaaa@s1\"]"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM session_links"), 2);
    store_close(st);
}

static void stats_and_alerts(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    Ashiato__SensorStats s = ASHIATO__SENSOR_STATS__INIT;
    s.sensor = "liar";
    s.time_us = T0;
    s.pcap_received = 1000;
    s.outbox_dropped = 3;
    assert_int_equal(store_put_stats(st, "s1", &s), STORE_OK);
    s.pcap_received = 1001;
    assert_int_equal(store_put_stats(st, "s1", &s), STORE_OK);       /* same time: replaced */
    assert_int_equal(sql_int(path, "SELECT pcap_received FROM sensor_stats WHERE sensor = 's1'"),
                     1001);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sensor_stats"), 1);

    Ashiato__Alert a = ASHIATO__ALERT__INIT;
    char *sensors[] = { "s1", "s2" };
    uint8_t ip[] = { 10, 0, 0, 9 };
    a.id = "scan-1";
    a.kind = "scan.vertical";
    a.start_us = T0;
    a.end_us = T0 + 1000;
    a.source_ip.data = ip;
    a.source_ip.len = 4;
    a.n_sensors = 2;
    a.sensors = sensors;
    a.sessions = 100;
    a.summary = "10.0.0.9 probed 100 ports";
    assert_int_equal(store_put_alert(st, &a), STORE_OK);
    a.sessions = 250;
    assert_int_equal(store_put_alert(st, &a), STORE_OK);              /* grows: replaced */
    assert_int_equal(sql_int(path, "SELECT sessions FROM alerts WHERE id = 'scan-1' AND "
                             "source_ip = '10.0.0.9' AND json_extract(doc, "
                             "'$.ashiato.alert.sessions') = 250"), 250);
    a.id = "";
    assert_int_equal(store_put_alert(st, &a), STORE_ERR);
    assert_non_null(strstr(store_error(st), "alert id"));
    uint64_t deleted;
    assert_int_equal(store_delete_older(st, T0 + 1, &deleted), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM alerts"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sensor_stats"), 0);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return fixtures_setup("test_store_sqlite_file");
}

static int teardown(void **state)
{
    (void)state;
    return fixtures_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_errors),
        cmocka_unit_test(default_url),
        cmocka_unit_test(null_backend),
        cmocka_unit_test(migrates_v3_to_v5),
        cmocka_unit_test(locked_database),
        cmocka_unit_test(links_named_in_documents),
        cmocka_unit_test(stats_and_alerts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
