/* test_store_sqlite.c -- sessions through the store interface (indexer/store.h) on SQLite:
 * put/get/query/count/delete, idempotent re-put, seq semantics, another sensor's rows, hostile
 * records, the dead-letter file, group commit. The database file itself (URLs, the null
 * backend, schema migration, locking, links, stats and alerts) is test_store_sqlite_file.c's.
 * Databases live in a mkdtemp dir (store_sqlite_fixtures.h). */
#include "store_sqlite_fixtures.h"

static void put_get_query(void **state)
{
    char path[256], buf[128];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    struct rows rows = { 0 };
    uint64_t total = 0;
    three(x, p);
    assert_int_equal(store_put_batch(st, "sensor-a", NULL, 1, p, 2), STORE_OK);
    assert_int_equal(store_put_batch(st, "sensor-b", NULL, 1, p + 2, 1), STORE_OK);

    /* get: the document, attributed to the authenticated sensor */
    assert_int_equal(store_get_session(st, "131125-bbbb", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(json_at(rows.doc[0], "observer.name", buf, sizeof buf), "sensor-a");
    assert_string_equal(json_at(rows.doc[0], "ashiato.session_id", buf, sizeof buf),
                        "131125-bbbb");
    assert_string_equal(json_at(rows.doc[0], "network.transport", buf, sizeof buf), "udp");
    assert_int_equal(store_get_session(st, "131125-zzzz", collect, &rows), STORE_ERR_NOT_FOUND);
    assert_non_null(strstr(store_error(st), "not found"));
    assert_int_equal(store_get_session(st, "", collect, &rows), STORE_ERR_NOT_FOUND);

    /* the columns the indexes serve */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions WHERE src_ip = "
                             "'10.180.156.141' AND dst_ip = '10.180.156.3' AND dst_port = 80 "
                             "AND src_port = 61450 AND packets = 16 AND bytes = 6465 AND "
                             "transport = 'tcp' AND protocol IS NULL AND sensor = 'sensor-b'"), 1);
    /* one index on sessions, (start_us, id); the other fields have postings
     * (test_store_sqlite_postings.c) */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                             "AND name LIKE 'sessions_%'"), 1);
    /* 9 codes; none of these records has tags */
    assert_int_equal(sql_int(path, "SELECT count(DISTINCT field) FROM session_postings"), 8);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM session_postings WHERE field = 9 AND "
                             "value = 16"), 3);           /* packets = 16, in 3 hours */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM session_postings WHERE field = 1 AND "
                             "value = 179608717"), 3);    /* 10.180.156.141, in 3 hours */

    /* query: all, oldest first, with total */
    struct store_query q = { 0 };
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_query_sessions(st, &q, collect, &rows, &total), STORE_OK);
    assert_int_equal(total, 3);
    assert_int_equal(rows.n, 3);
    assert_string_equal(json_at(rows.doc[0], "ashiato.session_id", buf, sizeof buf),
                        "131125-aaaa");
    /* newest first, offset 1 limit 1 */
    q.newest_first = true;
    q.offset = 1;
    q.limit = 1;
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_query_sessions(st, &q, collect, &rows, &total), STORE_OK);
    assert_int_equal(total, 3);
    assert_int_equal(rows.n, 1);
    assert_string_equal(json_at(rows.doc[0], "ashiato.session_id", buf, sizeof buf),
                        "131125-bbbb");
    /* time range [T0+1h, T0+2h) and sensor */
    struct store_query r = { .start_us = T0 + HOUR, .end_us = T0 + 2 * HOUR };
    assert_int_equal(store_query_sessions(st, &r, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 1);
    struct store_query s = { .sensor = "sensor-a" };
    assert_int_equal(store_query_sessions(st, &s, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 2);
    /* the callback stops the scan */
    memset(&rows, 0, sizeof rows);
    rows.stop_after = 1;
    assert_int_equal(store_query_sessions(st, NULL, collect, &rows, NULL), STORE_OK);
    assert_int_equal(rows.n, 1);
    /* an expression: the UDP session, and the sessions on port 80 other than 10.180.156.3 */
    struct query_error qerr;
    struct query_expr *e = query_parse("ip.protocol == udp || (port.dst == 80 && "
                                       "ip.dst != 10.180.156.3 && protocols == tcp)", &qerr);
    assert_non_null(e);
    struct store_query qe = { .expr = e };
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_query_sessions(st, &qe, collect, &rows, &total), STORE_OK);
    assert_int_equal(total, 2);
    assert_string_equal(json_at(rows.doc[0], "ashiato.session_id", buf, sizeof buf),
                        "131125-aaaa");
    assert_string_equal(json_at(rows.doc[1], "ashiato.session_id", buf, sizeof buf),
                        "131125-bbbb");
    query_expr_free(e);
    store_close(st);
}

static void count_by(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    struct rows rows = { 0 };
    three(x, p);
    assert_int_equal(store_put_batch(st, "sensor-a", NULL, 1, p, 2), STORE_OK);
    assert_int_equal(store_put_batch(st, "sensor-b", NULL, 1, p + 2, 1), STORE_OK);

    assert_int_equal(store_count_by(st, NULL, "network.transport", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.doc[0], "{\"key\":\"tcp\",\"count\":2}");
    assert_string_equal(rows.doc[1], "{\"key\":\"udp\",\"count\":1}");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, NULL, "network.protocol", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 2);                     /* the session without one is left out */
    assert_string_equal(rows.doc[0], "{\"key\":\"dns\",\"count\":1}");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, NULL, "observer.name", collect, &rows), STORE_OK);
    assert_string_equal(rows.doc[0], "{\"key\":\"sensor-a\",\"count\":2}");
    assert_string_equal(rows.doc[1], "{\"key\":\"sensor-b\",\"count\":1}");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, NULL, "hour", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 3);
    char want[64];
    snprintf(want, sizeof want, "{\"key\":%lld,\"count\":1}", (T0 / HOUR) * HOUR + 2 * HOUR);
    assert_string_equal(rows.doc[2], want);
    memset(&rows, 0, sizeof rows);
    struct store_query lim = { .limit = 1, .sensor = "sensor-a" };
    assert_int_equal(store_count_by(st, &lim, "hour", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    /* any catalogue field, by its Arkime name; an expression narrows the count */
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, NULL, "ip.dst", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 3);
    memset(&rows, 0, sizeof rows);
    struct query_error qerr;
    struct query_expr *e = query_parse("protocols == [http,dns]", &qerr);
    struct store_query qe = { .expr = e };
    assert_int_equal(store_count_by(st, &qe, "port.dst", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.doc[0], "{\"key\":80,\"count\":2}");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, &qe, "communityId", collect, &rows), STORE_OK);
    assert_string_equal(rows.doc[0], "{\"key\":\"1:5FhVg97ow4NPd5Q5nqaxA/Bx83A=\",\"count\":2}");
    query_expr_free(e);
    assert_int_equal(store_count_by(st, NULL, "ip.sr", collect, &rows), STORE_ERR);
    assert_non_null(strstr(store_error(st), "unknown field 'ip.sr' (nearest: ip.src"));
    assert_int_equal(store_count_by(st, NULL, "ip", collect, &rows), STORE_ERR);
    store_close(st);
}

static void idempotent_and_seq(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    uint64_t seq = 7;
    struct store_counters c;
    three(x, p);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 0);                                         /* unknown sensor */
    assert_int_equal(store_put_batch(st, "s1", NULL, 5, p, 3), STORE_OK);
    assert_int_equal(store_put_batch(st, "s1", NULL, 5, p, 3), STORE_OK);   /* resent batch */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 3);
    store_counters(st, &c);
    assert_int_equal(c.inserted, 3);
    assert_int_equal(c.duplicates, 3);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 1), STORE_OK);   /* old seq: stays 5 */
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(store_put_batch(st, "s1", NULL, 0, NULL, 0), STORE_OK);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(store_put_batch(st, "s1", NULL, 6, NULL, 0), STORE_OK);   /* empty batch */
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 6);
    assert_int_equal(store_put_batch(st, "s1", NULL, UINT64_MAX, p, 1), STORE_ERR);
    assert_non_null(strstr(store_error(st), "seq: expected at most"));
    assert_int_equal(store_put_batch(st, "", NULL, 1, p, 1), STORE_ERR);
    assert_non_null(strstr(store_error(st), "sensor: expected 1..255 bytes"));
    assert_int_equal(store_put_batch(st, "s1", NULL, 8, NULL, 2), STORE_ERR);
    /* reopen: the seq is durable */
    store_close(st);
    char url[300];
    snprintf(url, sizeof url, "sqlite://%s", path);
    st = open_url(url, NULL);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 6);
    store_close(st);
}

static void group_commit(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    uint64_t seq;
    three(x, p);
    const struct store_batch b[] = {
        { "s1", NULL, 1, p, 1 }, { "s2", NULL, 9, p + 1, 1 }, { "s1", NULL, 2, p + 2, 1 },
        { "s3", "s3#77", 4, p, 1 },
    };
    assert_int_equal(store_put_batches(st, b, 4), STORE_OK);
    /* s3's record with s1's id is a session of its own (issue 14, H1) */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 4);
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(store_sensor_seq(st, "s2", &seq), STORE_OK);
    assert_int_equal(seq, 9);
    assert_int_equal(store_sensor_seq(st, "s3#77", &seq), STORE_OK);  /* a stream's own seq */
    assert_int_equal(seq, 4);
    assert_int_equal(store_sensor_seq(st, "s3", &seq), STORE_OK);
    assert_int_equal(seq, 0);
    const struct store_batch bad[] = { { "s1", NULL, 3, p, 1 }, { NULL, NULL, 1, p, 1 } };
    assert_int_equal(store_put_batches(st, bad, 2), STORE_ERR);
    assert_non_null(strstr(store_error(st), "batches[1]"));
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 2);                                          /* all or nothing */
    store_close(st);
}

/* Issue 14, H1: the id is a public hash of the sensor's name and the flow, so an allowed
 * sensor (dept-1) that sees dept-3's traffic can store a record under dept-3's id before
 * dept-3 does. dept-3's record must still be stored, as dept-3's, and a re-delivery of either
 * stays one row: the identity is (authenticated sensor, id). */
static void test_h1_other_sensor_cannot_displace_rows(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec forged, real;
    const Ashiato__SessionRecord *pf = &forged.r, *pr = &real.r;
    rec_init(&forged, "131125-b0b0", T0, "forged", 6, 66);
    rec_init(&real, "131125-b0b0", T0, "http", 6, 2);
    forged.r.observer_name = "dept-3";                 /* what the liar claims: overridden */
    assert_int_equal(store_put_batch(st, "dept-1", NULL, 1, &pf, 1), STORE_OK);
    assert_int_equal(store_put_batch(st, "dept-3", NULL, 1, &pr, 1), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 2);
    struct store_counters c;
    store_counters(st, &c);
    assert_int_equal(c.inserted, 2);
    assert_int_equal(c.duplicates, 0);
    /* dept-3's document is dept-3's */
    struct rows rows = { 0 };
    char buf[256];
    assert_int_equal(store_get_session_of(st, "dept-3", "131125-b0b0", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(json_at(rows.doc[0], "observer.name", buf, sizeof buf), "dept-3");
    assert_string_equal(json_at(rows.doc[0], "network.protocol", buf, sizeof buf), "http");
    assert_string_equal(json_at(rows.doc[0], "destination.ip", buf, sizeof buf), "10.180.156.2");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_get_session_of(st, "dept-1", "131125-b0b0", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(json_at(rows.doc[0], "network.protocol", buf, sizeof buf), "forged");
    assert_string_equal(json_at(rows.doc[0], "observer.name", buf, sizeof buf), "dept-1");
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_get_session_of(st, "dept-2", "131125-b0b0", collect, &rows),
                     STORE_ERR_NOT_FOUND);
    /* by id alone: both, by start then sensor name; a caller wanting one stops after it */
    assert_int_equal(store_get_session(st, "131125-b0b0", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 2);
    assert_string_equal(json_at(rows.doc[0], "observer.name", buf, sizeof buf), "dept-1");
    assert_string_equal(json_at(rows.doc[1], "observer.name", buf, sizeof buf), "dept-3");
    memset(&rows, 0, sizeof rows);
    rows.stop_after = 1;
    assert_int_equal(store_get_session(st, "131125-b0b0", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 1);
    /* re-delivery of each: stored once */
    assert_int_equal(store_put_batch(st, "dept-3", NULL, 2, &pr, 1), STORE_OK);
    assert_int_equal(store_put_batch(st, "dept-1", NULL, 2, &pf, 1), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 2);
    store_counters(st, &c);
    assert_int_equal(c.duplicates, 2);

    /* the multi-row path: dept-1 forges 40 ids first; dept-3 stores 16 of them, then all 40
     * (a statement of 32 rows where some are dept-3's already, some only dept-1's) */
    struct rec many[40];
    const Ashiato__SessionRecord *pm[40];
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "131125-m%02d", i);
        rec_init(&many[i], id, T0 + HOUR + i, "tls", 6, (uint8_t)(100 + i));
        pm[i] = &many[i].r;
    }
    assert_int_equal(store_put_batch(st, "dept-1", NULL, 3, pm, 40), STORE_OK);
    assert_int_equal(store_put_batch(st, "dept-3", NULL, 3, pm + 8, 16), STORE_OK);
    assert_int_equal(store_put_batch(st, "dept-3", NULL, 4, pm, 40), STORE_OK);
    assert_int_equal(store_put_batch(st, "dept-3", NULL, 5, pm, 40), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 82);
    store_counters(st, &c);
    assert_int_equal(c.inserted, 82);
    assert_int_equal(c.duplicates, 2 + 16 + 40);
    /* postings and queries see each sensor's rows */
    uint64_t total = 0;
    struct store_query q = { .sensor = "dept-3" };
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 41);
    q.sensor = "dept-1";
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 41);
    struct query_error qerr;
    struct query_expr *e = query_parse("node == dept-3 && port.dst == 80", &qerr);
    assert_non_null(e);
    q = (struct store_query){ .expr = e };
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 41);
    query_expr_free(e);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(store_count_by(st, NULL, "observer.name", collect, &rows), STORE_OK);
    assert_int_equal(rows.n, 2);
    assert_non_null(strstr(rows.doc[0], "\"count\":41"));
    assert_non_null(strstr(rows.doc[1], "\"count\":41"));
    print_message("h1: 82 rows for 41 ids of two sensors; get_session_of(dept-3) is dept-3's "
                  "(http, 10.180.156.2); %llu duplicates stored once\n",
                  (unsigned long long)c.duplicates);
    store_close(st);
}

static void delete_older(void **state)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[3];
    const Ashiato__SessionRecord *p[3];
    uint64_t deleted = 0, total;
    three(x, p);
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, p, 3), STORE_OK);
    assert_int_equal(store_delete_older(st, T0 + HOUR, &deleted), STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_query_sessions(st, NULL, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 2);
    assert_int_equal(store_get_session(st, "131125-aaaa", collect, &(struct rows){ 0 }),
                     STORE_ERR_NOT_FOUND);
    /* retention 0 keeps everything */
    assert_int_equal(store_apply_retention(st, T0 + 1000 * HOUR, &deleted), STORE_OK);
    assert_int_equal(deleted, 0);
    store_close(st);

    char url[300];
    struct store_config cfg = { .retention_days = 1 };
    char err[ASH_ERR_LEN];
    snprintf(url, sizeof url, "sqlite://%s", path);
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    st = store_open(&cfg, err);
    assert_non_null(st);
    assert_int_equal(store_apply_retention(st, T0 + 24 * HOUR + 2 * HOUR, &deleted), STORE_OK);
    assert_int_equal(deleted, 1);          /* T0+1h is older than a day, T0+2h+7us is not */
    store_close(st);
}

static void hostile_records(void **state)
{
    char path[256], buf[128], dl[256];
    struct store *st = open_fresh(path, NULL);
    struct rec x[4];
    const Ashiato__SessionRecord *p[4];
    char huge[3000];

    /* odd IP lengths and a missing destination: stored, with NULL IP columns */
    rec_init(&x[0], "131125-odd", T0, "http", 6, 1);
    x[0].src.ip.len = 5;
    x[0].r.destination = NULL;
    x[0].r.source->packets = UINT64_MAX;
    x[0].r.start_us = 0;                      /* 1970 */
    x[0].r.end_us = STORE_TIME_MAX;           /* 2100, a 130-year session */
    p[0] = &x[0].r;
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, p, 1), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT src_ip IS NULL AND dst_ip IS NULL FROM sessions"),
                     1);
    assert_int_equal(sql_int(path, "SELECT packets FROM sessions"), INT64_MAX);
    /* a binary id becomes hex text */
    rec_init(&x[1], "", T0, "http", 6, 1);
    static uint8_t binid[] = { 0x00, 0xff, 0x10, '/', '"' };
    x[1].r.id.data = binid;
    x[1].r.id.len = sizeof binid;
    p[0] = &x[1].r;
    assert_int_equal(store_put_batch(st, "s1", NULL, 2, p, 1), STORE_OK);
    assert_int_equal(store_get_session(st, "00ff102f22", collect, &(struct rows){ 0 }),
                     STORE_OK);

    /* bad records without a dead-letter file: the batch fails naming record and field */
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    rec_init(&x[2], "131125-huge", T0, huge, 6, 1);
    rec_init(&x[3], "131125-good", T0, "http", 6, 2);
    p[0] = &x[3].r;
    p[1] = &x[2].r;
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 2), STORE_ERR);
    assert_non_null(strstr(store_error(st), "records[1]"));
    assert_non_null(strstr(store_error(st), "protocol: more than 1024 bytes"));
    assert_non_null(strstr(store_error(st), "no dead_letter file"));
    x[2].r.protocol = "http";
    x[2].r.id.len = 0;
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 2), STORE_ERR);
    assert_non_null(strstr(store_error(st), "id: 0 bytes"));
    x[2].r.id.len = strlen(x[2].id);
    x[2].r.start_us = INT64_MIN;              /* would overflow event.duration */
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 2), STORE_ERR);
    assert_non_null(strstr(store_error(st), "start_us: expected 0..4102444800000000"));
    x[2].r.start_us = T0;
    x[2].r.end_us = INT64_MAX;
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 2), STORE_ERR);
    assert_non_null(strstr(store_error(st), "end_us: expected"));
    x[2].r.end_us = T0;
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 2);
    store_close(st);

    /* with a dead-letter file: the bad record goes there, the rest is stored */
    snprintf(dl, sizeof dl, "%s/dead-letter.ndjson", tmpdir);
    char url[300];
    snprintf(url, sizeof url, "sqlite://%s", path);
    st = open_url(url, dl);
    x[2].r.protocol = huge;
    assert_int_equal(store_put_batch(st, "s1", NULL, 3, p, 2), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sessions"), 3);
    uint64_t seq;
    assert_int_equal(store_sensor_seq(st, "s1", &seq), STORE_OK);
    assert_int_equal(seq, 3);
    struct store_counters c;
    store_counters(st, &c);
    assert_int_equal(c.dead_lettered, 1);
    FILE *f = fopen(dl, "r");
    assert_non_null(f);
    char line[16384];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(json_at(line, "reason", buf, sizeof buf), "protocol: more than"));
    assert_string_equal(json_at(line, "sensor", buf, sizeof buf), "s1");
    assert_string_equal(json_at(line, "seq", buf, sizeof buf), "3");
    assert_true(strlen(json_at(line, "record", line, sizeof line)) > 2 * sizeof huge);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return fixtures_setup("test_store_sqlite");
}

static int teardown(void **state)
{
    (void)state;
    return fixtures_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_query),
        cmocka_unit_test(count_by),
        cmocka_unit_test(idempotent_and_seq),
        cmocka_unit_test(group_commit),
        cmocka_unit_test(test_h1_other_sensor_cannot_displace_rows),
        cmocka_unit_test(delete_older),
        cmocka_unit_test(hostile_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
