/* test_store_sqlite.c -- the store interface (indexer/store.h) on its SQLite and null backends:
 * URLs, put/get/query/count/delete, idempotent re-put, seq semantics, a locked database,
 * hostile records, the dead-letter file, group commit. Databases live in a mkdtemp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <json-c/json.h>

#include "test_dir.h"
#include "store.h"
#include "query_parse.h"

static char tmpdir[64];
static int dbcount;

/* ---- fixtures ---------------------------------------------------------------------- */

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    uint8_t sip[16], dip[16];
    char id[64];
};

#define T0 1385391358000000LL       /* 2013-11-25T14:55:58Z */
#define HOUR 3600000000LL

static void rec_init(struct rec *x, const char *id, int64_t start_us, const char *proto,
                     uint32_t iana, uint8_t last_octet)
{
    memset(x, 0, sizeof *x);
    ashiato__session_record__init(&x->r);
    ashiato__endpoint__init(&x->src);
    ashiato__endpoint__init(&x->dst);
    snprintf(x->id, sizeof x->id, "%s", id);
    x->r.id.data = (uint8_t *)x->id;
    x->r.id.len = strlen(x->id);
    x->r.observer_name = "what-the-record-says";
    x->r.start_us = start_us;
    x->r.end_us = start_us + 5000;
    x->r.iana_number = iana;
    x->r.ip_version = 4;
    x->r.protocol = (char *)proto;
    x->r.community_id = "1:5FhVg97ow4NPd5Q5nqaxA/Bx83A=";
    memcpy(x->sip, (uint8_t[]){ 10, 180, 156, 141 }, 4);
    memcpy(x->dip, (uint8_t[]){ 10, 180, 156, last_octet }, 4);
    x->src.ip.data = x->sip;
    x->src.ip.len = 4;
    x->src.port = 61450;
    x->src.packets = 8;
    x->src.bytes = 692;
    x->dst.ip.data = x->dip;
    x->dst.ip.len = 4;
    x->dst.port = 80;
    x->dst.packets = 8;
    x->dst.bytes = 5773;
    x->r.source = &x->src;
    x->r.destination = &x->dst;
}

static struct store *open_url(const char *url, const char *dead_letter)
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    if (dead_letter)
        snprintf(cfg.dead_letter, sizeof cfg.dead_letter, "%s", dead_letter);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open(%s): %s", url, err);
    return st;
}

/* a fresh database file; its path in path */
static struct store *open_fresh(char path[256], const char *dead_letter)
{
    char url[300];
    snprintf(path, 256, "%s/t%d.db", tmpdir, ++dbcount);
    snprintf(url, sizeof url, "sqlite://%s", path);
    return open_url(url, dead_letter);
}

/* collects documents handed to a store_row_fn */
struct rows {
    int n, stop_after;
    char doc[16][2048];
};

static int collect(void *ctx, const char *doc, size_t len)
{
    struct rows *r = ctx;
    if (r->n < 16)
        snprintf(r->doc[r->n], sizeof r->doc[0], "%.*s", (int)len, doc);
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

/* a string at a dotted path of a JSON document, into out ("" if absent) */
static const char *json_at(const char *doc, const char *path, char *out, size_t outsz)
{
    json_object *root = json_tokener_parse(doc), *o = root;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    out[0] = '\0';
    for (char *save = NULL, *k = strtok_r(copy, ".", &save); o && k;
         k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    if (o)
        snprintf(out, outsz, "%s", json_object_get_string(o));
    json_object_put(root);
    return out;
}

static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    long long v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_type(q, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* the text of a query's first column (strdup'd, "" when none) */
static char *sql_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    char *v = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        v = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v ? v : strdup("");
}

/* three sessions at T0, T0+1h, T0+2h (http, dns, none) */
static void three(struct rec x[3], const Ashiato__SessionRecord *p[3])
{
    rec_init(&x[0], "131125-aaaa", T0, "http", 6, 1);
    rec_init(&x[1], "131125-bbbb", T0 + HOUR, "dns", 17, 2);
    rec_init(&x[2], "131125-cccc", T0 + 2 * HOUR + 7, "", 6, 3);
    for (int i = 0; i < 3; i++)
        p[i] = &x[i].r;
}

/* ---- tests ------------------------------------------------------------------------- */

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
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", "test_store_sqlite");
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
        cmocka_unit_test(url_errors),
        cmocka_unit_test(default_url),
        cmocka_unit_test(null_backend),
        cmocka_unit_test(put_get_query),
        cmocka_unit_test(count_by),
        cmocka_unit_test(idempotent_and_seq),
        cmocka_unit_test(group_commit),
        cmocka_unit_test(test_h1_other_sensor_cannot_displace_rows),
        cmocka_unit_test(migrates_v3_to_v5),
        cmocka_unit_test(links_named_in_documents),
        cmocka_unit_test(locked_database),
        cmocka_unit_test(delete_older),
        cmocka_unit_test(hostile_records),
        cmocka_unit_test(stats_and_alerts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
