/* test_query_compile.c -- both query compilers: the SQL text and its bound values, the query
 * DSL, values aimed at SQL and JSON that stay values, explain, and the plans SQLite makes of
 * the compiled SQL over a real store (selective conditions search through the postings and
 * never scan `sessions`). Results against the whole set of stores are the differential test's
 * (tests/integration/test_query_differential.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <json-c/json.h>

#include "test_dir.h"
#include "store.h"
#include "store_sqlite.h"
#include "query_parse.h"
#include "query_sql.h"
#include "query_es.h"

#define T0 1632830400000000LL       /* 2021-09-28T12:00:00Z */
#define HOUR 3600000000LL
#define NREC 500

static char tmpdir[64];

static struct query_expr *parse(const char *text)
{
    struct query_error err;
    struct query_expr *e = query_parse(text, &err);
    if (!e)
        fail_msg("%s: %d %s", text, err.pos, err.msg);
    return e;
}

static void seed_sql_is_parameterised(void **state)
{
    (void)state;
    struct query_expr *e = parse("packets == 1 && ip.protocol == tcp && ip.src != 131.206.0.0/16"
                                 " && ip.dst != 131.206.0.0/16");
    struct query_sql q = { 0 };
    assert_int_equal(query_sql_compile(e, 0, 0, &q), 0);
    /* one session_match() of both postable conditions (it intersects them from the smaller),
     * then every condition exactly */
    assert_string_equal(q.text,
        "s.rowid IN (SELECT rid FROM session_match(?, ?, NULL, NULL, ?, ?)) AND (((((coalesce("
        "s.packets = ?, 0))) AND ((coalesce(s.transport = ?, 0)))) AND (NOT ((coalesce(ash_ip("
        "s.src_ip) BETWEEN ? AND ?, 0))) AND NOT ((coalesce(ash_ip(s.dst_ip) BETWEEN ? AND ?,"
        " 0))))))");
    assert_int_equal(q.nargs, 10);
    assert_string_equal(q.args[0].p, "packets");
    assert_int_equal(q.args[1].type, SQLITE_INTEGER);
    assert_int_equal(q.args[1].i, 1);
    assert_string_equal(q.args[2].p, "transport");
    assert_string_equal(q.args[3].p, "tcp");
    assert_int_equal(q.args[4].i, 1);
    assert_string_equal(q.args[5].p, "tcp");
    assert_int_equal(q.args[6].type, SQLITE_BLOB);
    assert_int_equal(q.args[6].len, 16);
    static const uint8_t hi[16] = { [10] = 0xff, 0xff, 131, 206, 255, 255 };
    assert_memory_equal(q.args[7].p, hi, 16);
    query_sql_clear(&q);
    /* with time bounds the postings get them */
    assert_int_equal(query_sql_compile(e, T0, T0 + HOUR, &q), 0);
    assert_int_equal(q.args[2].i, T0);
    assert_int_equal(q.args[3].i, T0 + HOUR);
    query_sql_clear(&q);
    query_expr_free(e);
}

/* values aimed at SQL and at JSON never reach the text: they are bound / escaped by json-c */
static void hostile_values_stay_values(void **state)
{
    (void)state;
    const char *text = "host.http == \"x') OR 1=1; DROP TABLE sessions; --\\\\\\\"}\" || "
                       "tls.sni == [\"a\\\",\\\"b\", \"'\"] || http.method == /a'\\/b\"/";
    struct query_expr *e = parse(text);
    struct query_sql q = { 0 };
    assert_int_equal(query_sql_compile(e, 0, 0, &q), 0);
    assert_null(strstr(q.text, "DROP"));
    assert_null(strstr(q.text, "1=1"));
    assert_null(strchr(q.text, '"'));
    /* the only quotes in the SQL are the catalogue's JSON paths */
    for (const char *p = strchr(q.text, '\''); p; p = strchr(strchr(p + 1, '\'') + 1, '\''))
        assert_true(strncmp(p, "'$.", 3) == 0);
    bool seen = false;
    for (size_t i = 0; i < q.nargs; i++)
        if (q.args[i].type == SQLITE_TEXT &&
            strcmp(q.args[i].p, "x') OR 1=1; DROP TABLE sessions; --\\\"}") == 0)
            seen = true;
    assert_true(seen);
    query_sql_clear(&q);

    char err[ASH_ERR_LEN];
    json_object *es = query_es_compile(e, err);
    assert_non_null(es);
    const char *dsl = json_object_to_json_string_ext(es, JSON_C_TO_STRING_PLAIN);
    json_object *back = json_tokener_parse(dsl);
    assert_non_null(back);
    assert_true(json_object_equal(es, back));
    assert_non_null(strstr(dsl, "\"x') OR 1=1; DROP TABLE sessions; --\\\\\\\"}\""));
    assert_non_null(strstr(dsl, "{\"regexp\":{\"http.request.method\":{\"value\":\"a'\\/b\\\"\""));
    json_object_put(back);
    json_object_put(es);
    query_expr_free(e);
}

static void es_dsl(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "ip.src == 10.1 && port.dst != [80,443]",
          "{\"bool\":{\"filter\":[{\"term\":{\"source.ip\":\"10.1.0.0\\/16\"}},{\"bool\":{"
          "\"must_not\":[{\"bool\":{\"should\":[{\"term\":{\"destination.port\":80}},{\"term\":{"
          "\"destination.port\":443}}],\"minimum_should_match\":1}}]}}]}}" },
        { "ip == 1.2.3.4:53",
          "{\"bool\":{\"should\":[{\"bool\":{\"filter\":[{\"term\":{\"source.ip\":\"1.2.3.4\"}},"
          "{\"term\":{\"source.port\":53}}]}},{\"bool\":{\"filter\":[{\"term\":{"
          "\"destination.ip\":\"1.2.3.4\"}},{\"term\":{\"destination.port\":53}}]}}],"
          "\"minimum_should_match\":1}}" },
        { "host.dns == *.example && vlan == 101 && starttime < \"2021/09/28 13:00:00\"",
          "{\"bool\":{\"filter\":[{\"wildcard\":{\"dns.question.name\":{\"value\":\"*.example\"}}},"
          "{\"term\":{\"network.vlan.id\":\"101\"}},{\"range\":{\"event.start\":{\"lt\":"
          "\"2021-09-28T13:00:00.000000Z\"}}}]}}" },
        { "tags != EXISTS! && truncated == false",
          "{\"bool\":{\"filter\":[{\"bool\":{\"must_not\":[{\"exists\":{\"field\":"
          "\"ashiato.protocols\"}}]}},{\"bool\":{\"must_not\":[{\"term\":{\"ashiato.truncated\":"
          "true}}]}}]}}" },
        { "port.src == ]1-1024,5[",
          "{\"bool\":{\"filter\":[{\"range\":{\"source.port\":{\"gte\":1,\"lte\":1024}}},{\"term\""
          ":{\"source.port\":5}}]}}" },
    };
    char err[ASH_ERR_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct query_expr *e = parse(cases[i][0]);
        json_object *es = query_es_compile(e, err);
        const char *got = json_object_to_json_string_ext(es, JSON_C_TO_STRING_PLAIN);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i][0], got, cases[i][1]);
        json_object_put(es);
        query_expr_free(e);
    }
}

/* JSON nesting depth of a DSL text */
static int depth_of(const char *t)
{
    int d = 0, max = 0;
    bool in_str = false;
    for (; *t; t++) {
        if (in_str) {
            if (*t == '\\' && t[1])
                t++;
            else if (*t == '"')
                in_str = false;
        } else if (*t == '"') {
            in_str = true;
        } else if (*t == '{' || *t == '[') {
            max = ++d > max ? d : max;
        } else if (*t == '}' || *t == ']') {
            d--;
        }
    }
    return max;
}

/* 1000 comparisons in one chain: SQL nested as a balanced tree (SQLite's parser stack and
 * its expression depth limit of 1000), DSL as one bool query */
static void long_chains_stay_shallow(void **state)
{
    (void)state;
    size_t cap = 32768, at = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 1000; i++)
        at += (size_t)snprintf(text + at, cap - at, "%sport.dst != %d", i ? " && " : "", i);
    struct query_expr *e = parse(text);
    struct query_sql q = { 0 };
    assert_int_equal(query_sql_compile(e, 0, 0, &q), 0);
    int d = 0, max = 0;
    for (size_t i = 0; i < q.len; i++) {
        d += q.text[i] == '(' ? 1 : q.text[i] == ')' ? -1 : 0;
        max = d > max ? d : max;
    }
    assert_true(max <= 20);
    assert_int_equal(q.nargs, 1000);
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(query_sql_register(db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE sessions (id, start_us, sensor, src_ip,"
                                  " dst_ip, src_port, dst_port, transport, protocol, packets,"
                                  " bytes, end_us, doc); INSERT INTO sessions (dst_port) VALUES"
                                  " (5), (1005)", NULL, NULL, NULL), SQLITE_OK);
    char *sql = malloc(q.len + 64);
    snprintf(sql, q.len + 64, "SELECT count(*) FROM sessions AS s WHERE %s", q.text);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    query_sql_bind(&q, stmt, 1);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 1);          /* 1005 is none of 0..999 */
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    free(sql);
    query_sql_clear(&q);
    char err[ASH_ERR_LEN];
    json_object *es = query_es_compile(e, err);
    assert_int_equal(json_object_array_length(json_object_object_get(
        json_object_object_get(es, "bool"), "filter")), 1000);
    assert_true(depth_of(json_object_to_json_string(es)) <= 10);
    json_object_put(es);
    query_expr_free(e);
    free(text);
}

static void explain_shows_both(void **state)
{
    (void)state;
    struct query_expr *e = parse("databytes >= 100 || protocols == dns");
    char *x = query_explain(e);
    assert_non_null(x);
    assert_non_null(strstr(x, "expression: (databytes >= 100 || protocols == \"dns\")\n"));
    assert_non_null(strstr(x, "\nsql: ("));
    assert_non_null(strstr(x, "json_extract(ash_doc(s.rowid, s.doc, s.sensor), "
                              "'$.ashiato.data_bytes.source')"));
    assert_non_null(strstr(x, "\nargs: [100,"));
    assert_non_null(strstr(x, "\nes: {\"bool\":{\"should\":[{\"script\":"));
    free(x);
    query_expr_free(e);
}

/* an alert tree compiles over `alerts AS s`: its columns and its doc text, no ash_doc, a
 * decimal bound as a REAL; and the same DSL shapes on the alert documents' paths */
static void alert_sql_and_dsl(void **state)
{
    (void)state;
    struct query_error err;
    struct query_expr *e = query_parse_in(&field_catalog_alerts, "rule == port_scan && "
        "destination.ip == 10.2.3.0/24 && score >= 1.5 && message == *scan* && "
        "tags != EXISTS!", 0, &err);
    assert_non_null(e);
    struct query_sql q = { 0 };
    assert_int_equal(query_sql_compile(e, 0, 0, &q), 0);
    assert_string_equal(q.text,
        "((((coalesce(s.kind = ?, 0))) AND ((EXISTS (SELECT 1 FROM json_each(s.doc, "
        "'$.destination.ip') WHERE ash_ip(value) BETWEEN ? AND ?)))) AND (((EXISTS (SELECT 1 "
        "FROM json_each(s.doc, '$.ashiato.score') WHERE value >= ?))) AND (((EXISTS (SELECT 1 "
        "FROM json_each(s.doc, '$.message') WHERE value GLOB ?))) AND NOT EXISTS (SELECT 1 "
        "FROM json_each(s.doc, '$.tags')))))");
    assert_null(strstr(q.text, "ash_doc"));
    assert_int_equal(q.nargs, 5);
    assert_int_equal(q.args[3].type, SQLITE_FLOAT);
    assert_true(q.args[3].d == 1.5);
    query_sql_clear(&q);
    char ebuf[ASH_ERR_LEN];
    json_object *es = query_es_compile(e, ebuf);
    assert_string_equal(json_object_to_json_string_ext(es, JSON_C_TO_STRING_PLAIN),
        "{\"bool\":{\"filter\":[{\"term\":{\"rule.name\":\"port_scan\"}},{\"term\":{"
        "\"destination.ip\":\"10.2.3.0\\/24\"}},{\"range\":{\"ashiato.score\":{\"gte\":1.5}}},"
        "{\"wildcard\":{\"message.keyword\":{\"value\":\"*scan*\"}}},{\"bool\":{\"must_not\":[{"
        "\"exists\":{\"field\":\"tags\"}}]}}]}}");
    json_object_put(es);
    query_expr_free(e);
    /* a decimal == is its closed range on both */
    e = query_parse_in(&field_catalog_alerts, "score == 0.5-2", 0, &err);
    es = query_es_compile(e, ebuf);
    assert_string_equal(json_object_to_json_string_ext(es, JSON_C_TO_STRING_PLAIN),
        "{\"range\":{\"ashiato.score\":{\"gte\":0.5,\"lte\":2.0}}}");
    json_object_put(es);
    char *x = query_explain(e);
    assert_non_null(strstr(x, "args: [0.5,2.0]"));
    free(x);
    query_expr_free(e);
}

struct ids { char got[512]; };

static int alert_id_row(void *ctx, const char *doc, size_t len)
{
    struct ids *c = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, doc, (int)len), *ev = NULL, *id = NULL;
    json_tokener_free(tok);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "event", &ev) &&
                json_object_object_get_ex(ev, "id", &id));
    snprintf(c->got + strlen(c->got), sizeof c->got - strlen(c->got), "%s%s",
             c->got[0] ? "," : "", json_object_get_string(id));
    json_object_put(o);
    return 0;
}

/* store_query_alerts with an expression on a real SQLite store (alert_out.c's Alert shape:
 * columns from the Alert, the detector's document in doc); a session tree is refused */
static void alerts_in_sqlite(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"event\":{\"id\":\"a1\",\"start\":\"2021-09-28T12:00:00.000000Z\"},"
        "\"rule\":{\"name\":\"port_scan\"},\"source\":{\"ip\":\"10.1.2.3\"},\"destination\":"
        "{\"ip\":[\"10.2.3.4\"],\"port\":[22,80]},\"tags\":[],\"message\":\"port scan\","
        "\"ashiato\":{\"score\":1.6000000000000001,\"segments\":[\"dept-1\"]}}",
        "{\"event\":{\"id\":\"a2\",\"start\":\"2021-09-28T12:10:00.000000Z\"},"
        "\"rule\":{\"name\":\"session_spike\"},\"destination\":{\"ip\":[],\"port\":[]},"
        "\"tags\":[\"approved\"],\"message\":\"spike\",\"ashiato\":{\"score\":4.0,"
        "\"sources\":[\"10.1.9.9\"],\"segments\":[\"dept-1\",\"outside\"]}}",
        "{\"event\":{\"id\":\"a3\",\"start\":\"2021-09-28T12:20:00.000000Z\"},"
        "\"rule\":{\"name\":\"address_scan\"},\"source\":{\"ip\":\"2001:db8::1\"},"
        "\"destination\":{\"ip\":[\"10.2.3.5\",\"10.9.9.9\"],\"port\":[445]},\"tags\":[],"
        "\"message\":\"address scan\",\"ashiato\":{\"score\":0.5,\"segments\":[]}}",
    };
    static const char *const kinds[] = { "port_scan", "session_spike", "address_scan" };
    static const uint8_t v4[4] = { 10, 1, 2, 3 };
    static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    char url[256], err[ASH_ERR_LEN];
    snprintf(url, sizeof url, "sqlite://%s/alerts.db", tmpdir);
    struct store_config cfg = { 0 };
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    struct store *st = store_open(&cfg, err);
    assert_non_null(st);
    for (int i = 0; i < 3; i++) {
        Ashiato__Alert a = ASHIATO__ALERT__INIT;
        char id[4];
        snprintf(id, sizeof id, "a%d", i + 1);
        a.id = id;
        a.kind = (char *)kinds[i];
        a.start_us = a.end_us = T0 + i * 600000000LL;
        if (i == 0)
            a.source_ip = (ProtobufCBinaryData){ 4, (uint8_t *)v4 };
        if (i == 2)
            a.source_ip = (ProtobufCBinaryData){ 16, (uint8_t *)v6 };
        a.doc = (char *)docs[i];
        assert_int_equal(store_put_alert(st, &a), STORE_OK);
    }
    static const char *const cases[][2] = {
        { "rule.name == [port_scan,address_scan]", "a3,a1" },
        { "ip == 10.1.0.0/16", "a2,a1" },
        { "source.ip == 2001:db8::/32 || destination.port == 22", "a3,a1" },
        { "score == 1.6 || score > 3", "a2,a1" },
        { "score < 1.6", "a3" },
        { "tags != approved && destination.ip == 10.2.3.4", "a1" },
        { "segments != EXISTS! || segments == outside", "a3,a2" },
        { "message == /.* scan/ && starttime >= \"2021/09/28 12:20:00\"", "a3" },
        { "source.ip != EXISTS!", "a2" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct query_error qe;
        struct query_expr *e = query_parse_in(&field_catalog_alerts, cases[i][0], 0, &qe);
        if (!e)
            fail_msg("%s: %d %s", cases[i][0], qe.pos, qe.msg);
        struct store_query q = { .expr = e };
        struct ids c = { "" };
        uint64_t total = 0;
        assert_int_equal(store_query_alerts(st, &q, alert_id_row, &c, &total), STORE_OK);
        if (strcmp(c.got, cases[i][1]) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i][0], c.got, cases[i][1]);
        assert_int_equal(total, (uint64_t)(strlen(c.got) + 1) / 3);
        query_expr_free(e);
    }
    struct query_expr *e = parse("ip.src == 10.1.2.3");
    struct store_query q = { .expr = e };
    assert_int_equal(store_query_alerts(st, &q, alert_id_row, &(struct ids){ "" }, NULL),
                     STORE_ERR);
    assert_non_null(strstr(store_error(st), "not over alert fields"));
    query_expr_free(e);
    store_close(st);
}

/* ---- against a real store ------------------------------------------------------------- */

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    char id[40];
    uint8_t sip[4], dip[4];
    char *hosts[2];
    char *tags[2];
};
static struct rec recs[NREC];
static const Ashiato__SessionRecord *ptr[NREC];

static void make(int i)
{
    static const char *const protos[] = { "http", "dns", "", "tls", "smb" };
    static char *names[] = { "a.example", "b.example", "c.test" };
    struct rec *x = &recs[i];
    memset(x, 0, sizeof *x);
    ashiato__session_record__init(&x->r);
    ashiato__endpoint__init(&x->src);
    ashiato__endpoint__init(&x->dst);
    x->r.start_us = T0 + (int64_t)(i % 4) * HOUR + i * 1000;
    x->r.end_us = x->r.start_us + 5000;
    snprintf(x->id, sizeof x->id, "210928-%05d", i);
    x->r.id.data = (uint8_t *)x->id;
    x->r.id.len = strlen(x->id);
    x->r.iana_number = i % 9 == 0 ? 17 : 6;
    x->r.protocol = (char *)protos[i % 5];
    if (i % 5 == 0) {
        x->hosts[0] = names[i % 3];
        x->hosts[1] = names[(i + 1) % 3];
        x->r.http_host = x->hosts;
        x->r.n_http_host = 1 + (size_t)(i % 2);
    }
    static const uint32_t dports[] = { 80, 53, 443, 445, 22 };
    x->src.port = 40000 + (uint32_t)(i * 37 % 20000);
    x->dst.port = dports[i % 5];
    x->src.packets = (uint64_t)(i % 3);
    x->dst.packets = 1;
    memcpy(x->sip, (uint8_t[]){ 10, 1, 0, (uint8_t)(i % 7) }, 4);
    memcpy(x->dip, (uint8_t[]){ 10, 2, (uint8_t)(i % 2), (uint8_t)(i % 11) }, 4);
    x->src.ip.len = x->dst.ip.len = 4;
    x->r.ip_version = 4;
    x->src.ip.data = x->sip;
    x->dst.ip.data = x->dip;
    x->r.source = &x->src;
    x->r.destination = &x->dst;
    /* the sensor's tags: the transport, and rdp for some (no network.protocol says so) */
    x->tags[0] = x->r.iana_number == 17 ? "udp" : "tcp";
    x->tags[1] = "rdp";
    x->r.tags = x->tags;
    x->r.n_tags = i % 7 == 0 ? 2 : 1;
    ptr[i] = &x->r;
}

static bool has_host(const struct rec *x, const char *h)
{
    for (size_t k = 0; k < x->r.n_http_host; k++)
        if (strcmp(x->r.http_host[k], h) == 0)
            return true;
    return false;
}

/* the same conditions written in C, over the records as made */
static bool want(int which, int i)
{
    const struct rec *x = &recs[i];
    const char *sensor = i < NREC / 2 ? "s1" : "s2";
    switch (which) {
    case 0: return x->sip[3] == 3 && x->dst.port == 80;
    case 1: return x->dip[2] == 1 && x->r.iana_number == 17;
    case 2: return strcmp(sensor, "s2") == 0 && has_host(x, "b.example");
    case 3: return !has_host(x, "a.example");
    case 4: return (x->src.packets + x->dst.packets) == 1 && x->r.iana_number == 6 &&
                   x->dip[3] != 4;
    case 5: return has_host(x, "a.example") && has_host(x, "b.example");
    case 6: return i % 7 == 0;
    case 7: return x->src.packets + x->dst.packets == 2 && x->dst.port == 443;
    case 8: return i % 7 == 0 && x->sip[3] == 0 && x->dst.port == 445;
    default: return false;
    }
}

static const char *const exprs[] = {
    "ip.src == 10.1.0.3 && port.dst == 80",
    "ip == 10.2.1 && protocols == udp",
    "node == s2 && host.http == b.example",
    "host.http != a.example",
    "packets == 1 && ip.protocol == tcp && ip.dst != 10.2.0.4 && ip.dst != 10.2.1.4",
    "host == ]a.example,b.example[",
    "protocols == rdp",
    "packets == 2 && port.dst == 443",
    "tags == rdp && ip.src == 10.1.0.0/24 && ip.src == 10.1.0.0 && port.dst == 445",
};

static int count_row(void *ctx, const char *doc, size_t len)
{
    (void)doc, (void)len;
    (*(int *)ctx)++;
    return 0;
}

static void plans_and_results(void **state)
{
    (void)state;
    char path[256], url[300], err[ASH_ERR_LEN];
    snprintf(path, sizeof path, "%s/q.db", tmpdir);
    struct store_config cfg = { 0 };
    snprintf(cfg.url, sizeof cfg.url, "sqlite://%s", path);
    struct store *st = store_open(&cfg, err);
    assert_non_null(st);
    for (int i = 0; i < NREC; i++)
        make(i);
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, ptr, NREC / 2), STORE_OK);
    assert_int_equal(store_put_batch(st, "s2", NULL, 1, ptr + NREC / 2, NREC / 2), STORE_OK);

    /* results equal the same conditions in C */
    for (size_t k = 0; k < sizeof exprs / sizeof exprs[0]; k++) {
        struct query_expr *e = parse(exprs[k]);
        struct store_query q = { .expr = e };
        uint64_t total = 0;
        int rows = 0, expect = 0;
        for (int i = 0; i < NREC; i++)
            expect += want((int)k, i);
        assert_int_equal(store_query_sessions(st, &q, count_row, &rows, &total), STORE_OK);
        if ((int)total != expect || rows != expect)
            fail_msg("%s: total %d rows %d, expected %d", exprs[k], (int)total, rows, expect);
        assert_true(expect > 0 && expect < NREC);
        query_expr_free(e);
    }

    /* plans: the selective ones search sessions by rowid, never scan it */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sq_postings_register(db), SQLITE_OK);
    assert_int_equal(query_sql_register(db), SQLITE_OK);
    /* session_match() takes every posting the catalogue names, and answers by its type */
    size_t nf;
    const struct field_def *cat = field_catalog_all(&nf);
    int postings = 0;
    for (size_t i = 0; i < nf; i++) {
        if (!cat[i].posting)
            continue;
        sqlite3_stmt *m;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM session_match(?1, ?2)", -1,
                                            &m, NULL), SQLITE_OK);
        sqlite3_bind_text(m, 1, cat[i].posting, -1, SQLITE_STATIC);
        if (cat[i].type == FIELD_IP)
            sqlite3_bind_text(m, 2, "10.0.0.0/8", -1, SQLITE_STATIC);
        else if (cat[i].type == FIELD_INTEGER)  /* session 0's source port, packets, or 80 */
            sqlite3_bind_int(m, 2, strcmp(cat[i].posting, "src_port") == 0 ? 40000 :
                             strcmp(cat[i].posting, "packets") == 0 ? 1 : 80);
        else
            sqlite3_bind_text(m, 2, strcmp(cat[i].posting, "sensor") == 0 ? "s1" :
                              strcmp(cat[i].posting, "protocol") == 0 ? "http" : "tcp", -1,
                              SQLITE_STATIC);
        if (sqlite3_step(m) != SQLITE_ROW)
            fail_msg("session_match('%s'): %s", cat[i].posting, sqlite3_errmsg(db));
        assert_true(sqlite3_column_int(m, 0) > 0);
        sqlite3_finalize(m);
        postings++;
    }
    assert_int_equal(postings, 12);
    static const struct { const char *expr; bool scan; } plans[] = {
        { "ip.src == 10.1.0.3 && port.dst == 80", false },
        { "ip == 10.2.1.0/24 && host.http == a.example", false },
        { "port == 445 && starttime >= \"2021/09/28 13:00:00\"", false },
        { "node == s2 && !(ip.dst == 10.2.0.0/16)", false },
        { "ip.protocol == udp && packets > 1", false },
        { "network.protocol == smb", false },
        { "packets == 1 && ip.protocol == tcp && ip.src != 10.1.0.0/16 && "
          "ip.dst != 10.1.0.0/16", false },
        { "protocols == rdp", false },           /* transport, protocol and tags postings */
        { "tags == rdp && packets == 2", false },
        { "packets == 1", false },               /* a posting of its own since schema 7 */
        { "ip.src == 10.1.0.0/24 && port.dst == 3389", false },   /* one session_match */
        { "ip.src != 10.1.0.3", true },          /* a negation alone must read every row */
        { "host.http == a.example", true },      /* no postings for the document's fields */
    };
    for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
        struct query_expr *e = parse(plans[k].expr);
        struct query_sql q = { 0 };
        assert_int_equal(query_sql_compile(e, 0, 0, &q), 0);
        size_t n = q.len + 200;
        char *sql = malloc(n), all[4096] = "";
        snprintf(sql, n, "EXPLAIN QUERY PLAN SELECT doc, sensor, id FROM sessions AS s WHERE 1 AND "
                 "%s ORDER BY start_us, id LIMIT 50", q.text);
        sqlite3_stmt *stmt;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
            fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        query_sql_bind(&q, stmt, 1);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            strncat(all, (const char *)sqlite3_column_text(stmt, 3), sizeof all - strlen(all) - 2);
            strcat(all, "\n");
        }
        sqlite3_finalize(stmt);
        bool scans = strstr(all, "SCAN s\n") != NULL || strstr(all, "SCAN s USING") != NULL;
        bool by_rowid = strstr(all, "SEARCH s USING INTEGER PRIMARY KEY") != NULL;
        if (scans != plans[k].scan || by_rowid == plans[k].scan)
            fail_msg("%s: plan\n%s", plans[k].expr, all);
        printf("plan of %s:\n%s", plans[k].expr, all);
        free(sql);
        query_sql_clear(&q);
        query_expr_free(e);
    }
    sqlite3_close(db);
    snprintf(url, sizeof url, "%s", path);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, NULL, "ashiato-qc");
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
        cmocka_unit_test(seed_sql_is_parameterised),
        cmocka_unit_test(hostile_values_stay_values),
        cmocka_unit_test(es_dsl),
        cmocka_unit_test(long_chains_stay_shallow),
        cmocka_unit_test(explain_shows_both),
        cmocka_unit_test(alert_sql_and_dsl),
        cmocka_unit_test(alerts_in_sqlite),
        cmocka_unit_test(plans_and_results),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
