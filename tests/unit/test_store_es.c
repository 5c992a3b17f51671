/* test_store_es.c -- the Elasticsearch/OpenSearch store (indexer/store_es*.c) against store.h.
 * Always: what open says when it cannot work (no node there, with the password masked; a bad
 * index prefix; a bulk size over the node's limit).
 * With ASHIATO_TEST_ES_URL (tests/integration/test_store_es.py starts a real OpenSearch node
 * and runs this binary with it; nothing here is mocked): one scenario run on the ES store and
 * on a fresh SQLite store must give the same answers (counters, committed seq, documents by
 * id, pages of sessions within and past the 10000-hit window, counts by sensor, transport,
 * protocol and hour, retention), and a document the mapping refuses goes to the dead-letter
 * file while the rest of its batch is stored. With ASHIATO_TEST_SQLITE_DB as well, the
 * sessions the aggregator loaded into both stores (campus traffic from real sensors) must
 * give the same counts. Without the variables those tests are skipped. The comparisons
 * themselves are in store_es_compare.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "store.h"
#include "store_es_compare.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    if (tmpdir[0])
        return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_store_es.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static int gzip_mode;              /* store_config.es_gzip of the next open_url() */

static struct store *open_url(const char *url, const char *prefix, const char *dead_letter,
                              char err[ASH_ERR_LEN])
{
    struct store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.es_gzip = gzip_mode;
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    snprintf(cfg.es_prefix, sizeof cfg.es_prefix, "%s", prefix ? prefix : "");
    snprintf(cfg.dead_letter, sizeof cfg.dead_letter, "%s", dead_letter ? dead_letter : "");
    return store_open(&cfg, err);
}

/* ---- without a cluster ------------------------------------------------------------- */

static void open_unreachable_masks_password(void **state)
{
    char err[ASH_ERR_LEN] = "";
    struct store *st = open_url("http://elastic:s3cret@127.0.0.1:1", NULL, NULL, err);
    assert_null(st);
    assert_non_null(strstr(err, "GET /"));
    assert_non_null(strstr(err, "no answer from http://***@127.0.0.1:1"));
    assert_null(strstr(err, "s3cret"));
}

static void open_rejects_bad_prefix_and_bulk_size(void **state)
{
    char err[ASH_ERR_LEN] = "";
    assert_null(open_url("http://127.0.0.1:1", "Ashiato", NULL, err));
    assert_non_null(strstr(err, "es_prefix 'Ashiato'"));
    struct store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.url, sizeof cfg.url, "http://127.0.0.1:1");
    cfg.bulk_bytes = 200LL << 20;
    assert_null(store_open(&cfg, err));
    assert_non_null(strstr(err, "bulk_bytes"));
}

/* ---- the scenario on both backends ------------------------------------------------- */

#define T0 1385391358000000LL          /* 2013-11-25T14:55:58Z */
#define HOUR 3600000000LL
#define NREC 12500                     /* past the 10000-hit window */
#define PREFIX "unit-scenario"

struct recs {
    Ashiato__SessionRecord r[NREC];
    Ashiato__Endpoint src[NREC], dst[NREC];
    uint8_t ip[NREC][8];
    char id[NREC][16];
};

static void make_records(struct recs *x)
{
    static const char *const protos[] = { "http", "dns", "tls", "" };
    for (int i = 0; i < NREC; i++) {
        Ashiato__SessionRecord *r = &x->r[i];
        ashiato__session_record__init(r);
        ashiato__endpoint__init(&x->src[i]);
        ashiato__endpoint__init(&x->dst[i]);
        snprintf(x->id[i], sizeof x->id[i], "u-%05d", (i * 7919) % NREC);   /* not in time order */
        r->id.data = (uint8_t *)x->id[i];
        r->id.len = strlen(x->id[i]);
        r->observer_name = "ignored";
        r->start_us = T0 + (int64_t)i * (3 * 24 * HOUR / NREC) + (i % 5 == 0 ? 0 : 123);
        if (i % 97 == 0 && i)
            r->start_us = x->r[i - 1].start_us;                        /* ties in start time */
        r->end_us = r->start_us + 1000 * (i % 50);
        r->iana_number = i % 3 == 0 ? 17 : 6;
        r->ip_version = 4;
        r->protocol = (char *)protos[i % 4];
        r->community_id = "1:5FhVg97ow4NPd5Q5nqaxA/Bx83A=";
        uint8_t *ip = x->ip[i];
        memcpy(ip, (uint8_t[]){ 10, 1, (uint8_t)(i >> 8), (uint8_t)i, 192, 0, 2, 7 }, 8);
        x->src[i].ip.data = ip;
        x->src[i].ip.len = 4;
        x->src[i].port = 1024 + (uint32_t)i;
        x->src[i].packets = (uint64_t)i % 13;
        x->src[i].bytes = 60 * ((uint64_t)i % 13);
        x->dst[i].ip.data = ip + 4;
        x->dst[i].ip.len = 4;
        x->dst[i].port = i % 4 == 1 ? 53 : 443;
        r->source = &x->src[i];
        r->destination = &x->dst[i];
    }
}

/* Put the records as batches of 2500 per sensor s1..s3 (record i goes to sensor i % 3). */
static void put_all(struct store *st, struct recs *x, const char *what)
{
    static const char *const sensors[] = { "s1", "s2", "s3" };
    const Ashiato__SessionRecord *batch[NREC];
    for (int s = 0; s < 3; s++) {
        size_t n = 0;
        uint64_t seq = 0;
        for (int i = s; i < NREC; i += 3) {
            batch[n++] = &x->r[i];
            if (n == 2500 || i + 3 >= NREC) {
                char stream[32];
                snprintf(stream, sizeof stream, "%s#42", sensors[s]);
                int rc = store_put_batch(st, sensors[s], stream, ++seq, batch, n);
                if (rc != STORE_OK)
                    fail_msg("%s: put %s seq %llu: %s", what, sensors[s],
                             (unsigned long long)seq, store_error(st));
                n = 0;
            }
        }
    }
}

static void scenario_same_answers(void **state)
{
    if (!es_url())
        skip();
    make_tmpdir();
    char err[ASH_ERR_LEN], path[128], url[160];
    struct recs *x = calloc(1, sizeof *x);
    assert_non_null(x);
    make_records(x);
    http("DELETE", "/" PREFIX "-*", NULL);
    snprintf(path, sizeof path, "%s/scenario.db", tmpdir);
    unlink(path);
    snprintf(url, sizeof url, "sqlite://%s", path);
    struct store *sq = open_url(url, NULL, NULL, err);
    assert_non_null(sq);
    gzip_mode = 1;                 /* gzip'd bodies even to the loopback node: that path too */
    struct store *es = open_url(es_url(), PREFIX, NULL, err);
    gzip_mode = 0;
    if (!es)
        fail_msg("open: %s", err);
    assert_string_equal(store_kind(es), "opensearch");
    assert_non_null(strstr(store_info(es), "opensearch 2.19"));
    assert_non_null(strstr(store_info(es), ", gzip"));
    print_message("store_info: %s\n", store_info(es));

    put_all(sq, x, "sqlite");
    put_all(es, x, "elasticsearch");
    /* a re-delivered batch is stored once and counted as duplicates */
    const Ashiato__SessionRecord *again[3] = { &x->r[0], &x->r[3], &x->r[6] };
    assert_int_equal(store_put_batch(sq, "s1", "s1#42", 2, again, 3), STORE_OK);
    assert_int_equal(store_put_batch(es, "s1", "s1#42", 2, again, 3), STORE_OK);
    struct store_counters ca, cb;
    store_counters(sq, &ca);
    store_counters(es, &cb);
    assert_int_equal(ca.inserted, NREC);
    assert_int_equal(cb.inserted, NREC);
    assert_int_equal(ca.duplicates, 3);
    assert_int_equal(cb.duplicates, 3);
    /* the committed seq only grows */
    uint64_t sa = 0, sb = 0;
    assert_int_equal(store_sensor_seq(sq, "s1#42", &sa), STORE_OK);
    assert_int_equal(store_sensor_seq(es, "s1#42", &sb), STORE_OK);
    assert_int_equal(sa, 2);
    assert_int_equal(sb, 2);
    assert_int_equal(store_sensor_seq(es, "s9#1", &sb), STORE_OK);
    assert_int_equal(sb, 0);
    assert_int_equal(store_sensor_seq(es, "s\xc3\xa9\"x#1", &sb), STORE_OK);    /* odd name */
    assert_int_equal(sb, 0);
    assert_int_equal(store_put_batch(es, "s\xc3\xa9\"x", "s\xc3\xa9\"x#1", 7, NULL, 0), STORE_OK);
    assert_int_equal(store_sensor_seq(es, "s\xc3\xa9\"x#1", &sb), STORE_OK);
    assert_int_equal(sb, 7);

    refresh(PREFIX);
    struct store_query q;
    memset(&q, 0, sizeof q);
    same_query(sq, es, &q, "all, count only", false);
    q.limit = 20;
    same_query(sq, es, &q, "first page", true);
    q.offset = 9990;
    q.limit = 30;
    same_query(sq, es, &q, "page across the 10000 window", true);
    q.offset = 11000;
    q.limit = 0;
    same_query(sq, es, &q, "everything after 11000", true);
    q.offset = 100;
    q.limit = 15;
    q.newest_first = true;
    same_query(sq, es, &q, "newest first", true);
    memset(&q, 0, sizeof q);
    same_query(sq, es, &q, "everything", true);
    q.sensor = "s2";
    q.start_us = T0 + 24 * HOUR + 1;
    q.end_us = T0 + 48 * HOUR;
    same_query(sq, es, &q, "s2 on the second day", true);
    q.start_us = x->r[4].start_us;            /* bounds cut between microseconds */
    q.end_us = x->r[40].start_us;
    q.sensor = NULL;
    same_query(sq, es, &q, "microsecond bounds", true);

    /* sessions.json's reads in one call */
    memset(&q, 0, sizeof q);
    q.limit = 50;
    same_page(sq, es, &q, HOUR, "page: first 50, hourly", true);
    q.offset = 9990;
    q.limit = 30;
    same_page(sq, es, &q, 3600 * 1000000LL * 6, "page: across the 10000 window", true);
    q.offset = NREC + 5;
    q.limit = 10;
    same_page(sq, es, &q, HOUR, "page: past the last match", true);
    q.offset = 7;
    q.limit = 25;
    q.newest_first = true;
    q.sensor = "s1";
    q.start_us = T0 + 24 * HOUR + 1;
    q.end_us = T0 + 48 * HOUR;
    same_page(sq, es, &q, 60 * 1000000LL, "page: s1 on the second day, newest first", true);
    q.limit = 0;
    same_page(sq, es, &q, HOUR, "page: counts only", false);
    static const char *const some[] = { "source.ip", "destination.port", "event.start",
                                        "ashiato.session_id", "network.protocol" };
    q.limit = 40;
    q.fields = some;
    q.nfields = ASH_ARRAY_LEN(some);
    same_fields(sq, es, &q, "fields: s1 on the second day, newest first");
    q.fields = NULL;
    q.nfields = 0;
    q.limit = 0;
    struct buckets *none = calloc(1, sizeof *none);
    uint64_t m0 = 1, t0 = 1;
    assert_non_null(none);
    assert_int_equal(store_query_page(es, &q, 1500000, NULL, NULL, collect_bucket, none, &m0,
                                      &t0), STORE_ERR);          /* not whole seconds */
    assert_int_equal(store_query_page(es, &q, HOUR, collect_doc, NULL, collect_bucket, none,
                                      &m0, &t0), STORE_ERR);     /* a page without a limit */
    assert_int_equal(none->n, 0);
    free(none);

    static const char *const fields[] = { "observer.name", "network.transport",
                                          "network.protocol", "hour" };
    memset(&q, 0, sizeof q);
    for (size_t f = 0; f < 4; f++) {
        same_counts(sq, es, &q, fields[f], "all");
        q.sensor = "s3";
        q.start_us = T0 + 5 * HOUR;
        same_counts(sq, es, &q, fields[f], "s3 from hour 5");
        q.limit = 2;
        same_counts(sq, es, &q, fields[f], "s3, two buckets");
        memset(&q, 0, sizeof q);
    }
    assert_int_equal(same_counts(sq, es, &q, "hour", "all"), 73);   /* 14:00 day 0 .. 14:00 day 3 */

    struct rows a = { 0 }, b = { 0 };
    assert_int_equal(store_get_session(sq, "u-00042", collect, &a), STORE_OK);
    assert_int_equal(store_get_session(es, "u-00042", collect, &b), STORE_OK);
    assert_rows_equal(&a, &b, "get_session");
    rows_free(&a);
    rows_free(&b);
    assert_int_equal(store_get_session(es, "no-such-id", collect, &b), STORE_ERR_NOT_FOUND);

    Ashiato__SensorStats stats = ASHIATO__SENSOR_STATS__INIT;
    stats.time_us = T0 + HOUR;
    stats.packets = 12345;
    assert_int_equal(store_put_stats(es, "s1", &stats), STORE_OK);
    Ashiato__Alert alert = ASHIATO__ALERT__INIT;
    alert.id = "alert-1";
    alert.kind = "scan.horizontal";
    alert.start_us = T0;
    alert.end_us = T0 + HOUR;
    assert_int_equal(store_put_alert(es, &alert), STORE_OK);
    alert.sessions = 99;                      /* a re-put replaces it */
    assert_int_equal(store_put_alert(es, &alert), STORE_OK);

    /* retention: a whole day's index dropped, the next one trimmed */
    uint64_t da = 0, db = 0;
    int64_t cut = T0 + 36 * HOUR + 17;
    assert_int_equal(store_delete_older(sq, cut, &da), STORE_OK);
    if (store_delete_older(es, cut, &db) != STORE_OK)
        fail_msg("delete_older: %s", store_error(es));
    assert_int_equal(da, db);
    assert_true(da > 0);
    print_message("retention: %llu sessions deleted from each store\n", (unsigned long long)da);
    refresh(PREFIX);
    memset(&q, 0, sizeof q);
    same_query(sq, es, &q, "after retention", false);
    same_counts(sq, es, &q, "hour", "after retention");
    store_close(sq);
    store_close(es);
    free(x);
}

/* A document the mapping refuses (a port over 2^31 into an integer field) goes to the
 * dead-letter file with the node's reason; the rest of its batch is stored and acked. */
static void rejected_document_is_dead_lettered(void **state)
{
    if (!es_url())
        skip();
    make_tmpdir();
    char err[ASH_ERR_LEN], dl[128];
    struct recs *x = calloc(1, sizeof *x);
    assert_non_null(x);
    make_records(x);
    http("DELETE", "/unit-dead-*", NULL);
    snprintf(dl, sizeof dl, "%s/dead.jsonl", tmpdir);
    unlink(dl);
    struct store *es = open_url(es_url(), "unit-dead", dl, err);
    if (!es)
        fail_msg("open: %s", err);
    x->src[2].port = 4000000000u;
    const Ashiato__SessionRecord *batch[5] = { &x->r[0], &x->r[1], &x->r[2], &x->r[3], &x->r[4] };
    assert_int_equal(store_put_batch(es, "s1", "s1#1", 1, batch, 5), STORE_OK);
    struct store_counters c;
    store_counters(es, &c);
    assert_int_equal(c.inserted, 4);
    assert_int_equal(c.dead_lettered, 1);
    uint64_t seq = 0;
    assert_int_equal(store_sensor_seq(es, "s1#1", &seq), STORE_OK);
    assert_int_equal(seq, 1);
    FILE *f = fopen(dl, "r");
    assert_non_null(f);
    char line[8192];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    json_object *o = json_tokener_parse(line), *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "reason", &v));
    print_message("dead letter reason: %s\n", json_object_get_string(v));
    assert_non_null(strstr(json_object_get_string(v), "mapper_parsing_exception"));
    assert_non_null(strstr(json_object_get_string(v), "source.port"));
    assert_true(json_object_object_get_ex(o, "id", &v));
    assert_string_equal(json_object_get_string(v), x->id[2]);
    assert_true(json_object_object_get_ex(o, "doc", &v));     /* the document itself */
    json_object_put(o);
    refresh("unit-dead");
    struct store_query q;
    memset(&q, 0, sizeof q);
    uint64_t total = 0;
    assert_int_equal(store_query_sessions(es, &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 4);
    store_close(es);
    free(x);
}

/* A URL list with a dead node first: open, write and read go to the live one. */
static void dead_node_in_the_list(void **state)
{
    if (!es_url())
        skip();
    char err[ASH_ERR_LEN], url[1100];
    struct recs *x = calloc(1, sizeof *x);
    assert_non_null(x);
    make_records(x);
    http("DELETE", "/unit-two-*", NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:1,%s", es_url());
    struct store *es = open_url(url, "unit-two", NULL, err);
    if (!es)
        fail_msg("open: %s", err);
    const Ashiato__SessionRecord *batch[3] = { &x->r[0], &x->r[1], &x->r[2] };
    for (int i = 0; i < 4; i++)            /* every call meets the dead node in turn */
        if (store_put_batch(es, "s1", "s1#1", (uint64_t)i + 1, batch, 3) != STORE_OK)
            fail_msg("put %d: %s", i, store_error(es));
    uint64_t seq = 0;
    assert_int_equal(store_sensor_seq(es, "s1#1", &seq), STORE_OK);
    assert_int_equal(seq, 4);
    refresh("unit-two");
    struct store_counters c;
    store_counters(es, &c);
    assert_int_equal(c.inserted, 3);
    assert_int_equal(c.duplicates, 9);
    struct rows r = { 0 };
    assert_int_equal(store_get_session(es, x->id[1], collect, &r), STORE_OK);
    assert_int_equal(r.n, 1);
    rows_free(&r);
    store_close(es);
    free(x);
}

/* Issue 14, H1, on both backends alike: sensor dept-1 stores records under dept-3's ids (a
 * public hash) first; dept-3's records are still stored, as dept-3's (SQLite's unique key and
 * the ES _id carry the sensor), re-deliveries stay one document, and every read answers the
 * same from both stores. */
static void test_h1_other_sensor_cannot_displace_rows(void **state)
{
    if (!es_url())
        skip();
    make_tmpdir();
    char err[ASH_ERR_LEN], path[128], url[160];
    struct recs *x = calloc(1, sizeof *x), *forged = calloc(1, sizeof *forged);
    assert_non_null(x);
    assert_non_null(forged);
    make_records(x);
    make_records(forged);
    const Ashiato__SessionRecord *real[20], *fake[20];
    for (int i = 0; i < 20; i++) {
        forged->r[i].protocol = "forged";
        forged->dst[i].port = 6666;
        real[i] = &x->r[i];
        fake[i] = &forged->r[i];
    }
    static uint8_t bin[4] = { 0x00, 0xff, 0x10, 0x2f };     /* a binary id: hex "00ff102f" */
    x->r[19].id = forged->r[19].id = (ProtobufCBinaryData){ sizeof bin, bin };
    http("DELETE", "/unit-h1-*", NULL);
    snprintf(path, sizeof path, "%s/h1.db", tmpdir);
    unlink(path);
    snprintf(url, sizeof url, "sqlite://%s", path);
    struct store *st[2] = { open_url(url, NULL, NULL, err), open_url(es_url(), "unit-h1", NULL,
                                                                      err) };
    assert_non_null(st[0]);
    if (!st[1])
        fail_msg("open: %s", err);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(store_put_batch(st[k], "dept-1", NULL, 1, fake, 20), STORE_OK);
        assert_int_equal(store_put_batch(st[k], "dept-3", NULL, 1, real, 20), STORE_OK);
        assert_int_equal(store_put_batch(st[k], "dept-3", NULL, 2, real, 20), STORE_OK);
        assert_int_equal(store_put_batch(st[k], "dept-1", NULL, 2, fake + 5, 5), STORE_OK);
        struct store_counters c;
        store_counters(st[k], &c);
        assert_int_equal(c.inserted, 40);
        assert_int_equal(c.duplicates, 25);
    }
    refresh("unit-h1");
    struct rows a = { 0 }, b = { 0 };
    for (int i = 0; i < 20; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s", i == 19 ? "00ff102f" : x->id[i]);
        for (int k = 0; k < 2; k++) {
            struct rows *r = k ? &b : &a;
            if (store_get_session_of(st[k], "dept-3", id, collect, r) != STORE_OK)
                fail_msg("%s: get_session_of(dept-3, %s): %s", k ? "es" : "sqlite", id,
                         store_error(st[k]));
            assert_int_equal(r->n, 1);
            assert_non_null(strstr(r->v[0], "\"observer\":{\"name\":\"dept-3\"}"));
            assert_null(strstr(r->v[0], "forged"));
            assert_null(strstr(r->v[0], "6666"));
            rows_free(r);
            assert_int_equal(store_get_session_of(st[k], "dept-1", id, collect, r), STORE_OK);
            assert_int_equal(r->n, 1);
            assert_non_null(strstr(r->v[0], "forged"));
            rows_free(r);
            assert_int_equal(store_get_session_of(st[k], "dept-2", id, collect, r),
                             STORE_ERR_NOT_FOUND);
        }
        if (i == 19)
            continue;                       /* by id alone: text ids only on ES (store_es_query) */
        assert_int_equal(store_get_session(st[0], id, collect, &a), STORE_OK);
        assert_int_equal(store_get_session(st[1], id, collect, &b), STORE_OK);
        assert_int_equal(a.n, 2);
        assert_non_null(strstr(a.v[0], "dept-1"));   /* same start: by sensor name */
        assert_non_null(strstr(a.v[1], "dept-3"));
        assert_rows_equal(&a, &b, "get_session of two sensors");
        rows_free(&a);
        rows_free(&b);
    }
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 100;
    same_query(st[0], st[1], &q, "h1 all, ties by sensor", true);
    q.newest_first = true;
    same_query(st[0], st[1], &q, "h1 all, newest first", true);
    memset(&q, 0, sizeof q);
    q.sensor = "dept-3";
    uint64_t total = 0;
    assert_int_equal(store_query_sessions(st[1], &q, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, 20);
    same_query(st[0], st[1], &q, "h1 dept-3", true);
    memset(&q, 0, sizeof q);
    assert_int_equal(same_counts(st[0], st[1], &q, "observer.name", "h1"), 2);
    print_message("h1: 40 documents for 20 ids of two sensors in each store, 25 re-deliveries "
                  "stored once; dept-3's documents are dept-3's on sqlite and opensearch\n");
    store_close(st[0]);
    store_close(st[1]);
    free(x);
    free(forged);
}

/* The campus sessions loaded by the aggregator into both stores: the same counts. */
static void campus_same_counts(void **state)
{
    const char *db = getenv("ASHIATO_TEST_SQLITE_DB");
    const char *prefix = getenv("ASHIATO_TEST_ES_PREFIX");
    if (!es_url() || !db)
        skip();
    char err[ASH_ERR_LEN], url[1100];
    snprintf(url, sizeof url, "sqlite://%s", db);
    struct store *sq = open_url(url, NULL, NULL, err);
    assert_non_null(sq);
    struct store *es = open_url(es_url(), prefix, NULL, err);
    if (!es)
        fail_msg("open: %s", err);
    refresh(prefix ? prefix : "ashiato");
    static const char *const fields[] = { "observer.name", "network.transport",
                                          "network.protocol", "hour" };
    static const char *const sensors[] = { NULL, "s1", "s2", "s3" };
    struct store_query q;
    for (size_t s = 0; s < 4; s++) {
        memset(&q, 0, sizeof q);
        q.sensor = sensors[s];
        char what[32];
        snprintf(what, sizeof what, "campus %s", sensors[s] ? sensors[s] : "all");
        same_query(sq, es, &q, what, false);
        for (size_t f = 0; f < 4; f++) {
            size_t n = same_counts(sq, es, &q, fields[f], what);
            print_message("%s: count_by %s: %zu buckets, equal\n", what, fields[f], n);
        }
    }
    memset(&q, 0, sizeof q);
    q.limit = 200;
    same_query(sq, es, &q, "campus first 200 documents", true);
    q.newest_first = true;
    same_query(sq, es, &q, "campus last 200 documents", true);
    store_close(sq);
    store_close(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_unreachable_masks_password),
        cmocka_unit_test(open_rejects_bad_prefix_and_bulk_size),
        cmocka_unit_test(scenario_same_answers),
        cmocka_unit_test(rejected_document_is_dead_lettered),
        cmocka_unit_test(dead_node_in_the_list),
        cmocka_unit_test(test_h1_other_sensor_cannot_displace_rows),
        cmocka_unit_test(campus_same_counts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            rc = rc ? rc : 1;
    }
    return rc;
}
