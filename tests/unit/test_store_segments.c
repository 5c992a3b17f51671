/* test_store_segments.c -- ashiato.segments and ashiato.linked through a real SQLite store:
 * the documents name the source's and the destination's segment by the map in force (nested
 * prefixes, the first of equal prefixes, IPv6, "outside"), an expression on the field selects
 * exactly what a brute-force reading of the map selects, a reload of the live map changes
 * both without reopening, no map means no field, and linked sessions are found by
 * `ashiato.linked`. Nothing is mocked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include <sqlite3.h>

#include "test_dir.h"
#include "query_parse.h"
#include "query_sql.h"
#include "segmap.h"
#include "store.h"
#include "store_segments.h"

static char tmpdir[64];

#define T0 1385391358000000LL
#define NREC 150

/* the address pool: each nesting case on some record's either side */
static const char *const pool[] = {
    "10.0.0.5", "10.200.1.1",                     /* campus (10/8) */
    "10.1.0.9", "10.1.77.3",                      /* dept-1 (10.1/16) */
    "10.1.2.5", "10.1.2.100",                     /* dept-2 (10.1.2/24 inside dept-1) */
    "10.1.2.130", "10.1.2.255",                   /* dept-1 again (10.1.2.128/25) */
    "10.9.0.1", "10.9.255.254",                   /* dup-a (10.9/16, listed before dup-b's) */
    "192.0.2.1", "198.51.100.7", "8.8.8.8",       /* outside */
    "2001:db8:1::1", "2001:db8:1:ff::2",          /* dept-1 (v6) */
    "2001:db8:2::1",                              /* outside (v6) */
};
#define NPOOL (sizeof pool / sizeof pool[0])

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    uint8_t sip[16], dip[16];
    char id[32];
};

static struct rec recs[NREC];

static size_t ip_bytes(const char *text, uint8_t out[16])
{
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    assert_int_equal(inet_pton(AF_INET6, text, out), 1);
    return 16;
}

/* src and dst of record i from the pool, both of one family */
static void make_records(void)
{
    for (size_t i = 0; i < NREC; i++) {
        struct rec *x = &recs[i];
        memset(x, 0, sizeof *x);
        ashiato__session_record__init(&x->r);
        ashiato__endpoint__init(&x->src);
        ashiato__endpoint__init(&x->dst);
        snprintf(x->id, sizeof x->id, "131125-seg%03zu", i);
        x->r.id.data = (uint8_t *)x->id;
        x->r.id.len = strlen(x->id);
        x->r.start_us = T0 + (int64_t)i * 1000;
        x->r.end_us = x->r.start_us + 500;
        x->r.iana_number = 6;
        x->r.protocol = "http";
        size_t s = i % NPOOL, d = (i * 7 + 3) % NPOOL;
        x->src.ip.len = ip_bytes(pool[s], x->sip);
        x->dst.ip.len = ip_bytes(pool[d], x->dip);
        if (x->src.ip.len != x->dst.ip.len)          /* keep a family per record */
            x->dst.ip.len = ip_bytes(x->src.ip.len == 4 ? "8.8.8.8" : "2001:db8:2::1", x->dip);
        x->r.ip_version = x->src.ip.len == 4 ? 4 : 6;
        x->src.ip.data = x->sip;
        x->dst.ip.data = x->dip;
        x->src.port = 40000 + (uint32_t)i;
        x->dst.port = i % 2 ? 80 : 445;
        x->src.packets = x->dst.packets = 1;
        x->r.source = &x->src;
        x->r.destination = &x->dst;
    }
}

static void add_prefix(struct segmap *m, const char *name, const char *cidr)
{
    size_t s = 0;
    while (s < m->n_names && strcmp(m->names[s], name))
        s++;
    if (s == m->n_names)
        snprintf(m->names[m->n_names++], SEGMAP_NAME_LEN, "%s", name);
    char a[64];
    snprintf(a, sizeof a, "%s", cidr);
    char *slash = strchr(a, '/');
    *slash = '\0';
    uint8_t raw[16];
    struct segmap_prefix *p = &m->prefixes[m->n_prefixes++];
    size_t len = ip_bytes(a, raw);
    assert_int_equal(segmap_addr(p->addr, raw, len), 0);
    p->bits = (uint8_t)(atoi(slash + 1) + (len == 4 ? 96 : 0));
    p->segment = (int16_t)s;
}

static void campus_map(struct segmap *m, bool with_dept2)
{
    memset(m, 0, sizeof *m);
    add_prefix(m, "campus", "10.0.0.0/8");
    add_prefix(m, "dept-1", "10.1.0.0/16");
    if (with_dept2)
        add_prefix(m, "dept-2", "10.1.2.0/24");
    add_prefix(m, "dept-1", "10.1.2.128/25");
    add_prefix(m, "dept-1", "2001:db8:1::/48");
    add_prefix(m, "dup-a", "10.9.0.0/16");
    add_prefix(m, "dup-b", "10.9.0.0/16");
}

/* the brute force: the segment of an address by reading the pool's comments, not segmap */
static const char *expected_segment(const char *ip, bool with_dept2)
{
    if (!strncmp(ip, "10.1.2.", 7))
        return atoi(ip + 7) >= 128 ? "dept-1" : with_dept2 ? "dept-2" : "dept-1";
    if (!strncmp(ip, "10.1.", 5) || !strncmp(ip, "2001:db8:1:", 11))
        return "dept-1";
    if (!strncmp(ip, "10.9.", 5))
        return "dup-a";
    if (!strncmp(ip, "10.", 3))
        return "campus";
    return "outside";
}

static void rec_segments(const struct rec *x, bool with_dept2, const char *out[2])
{
    char s[64], d[64];
    inet_ntop(x->src.ip.len == 4 ? AF_INET : AF_INET6, x->sip, s, sizeof s);
    inet_ntop(x->dst.ip.len == 4 ? AF_INET : AF_INET6, x->dip, d, sizeof d);
    out[0] = expected_segment(s, with_dept2);
    out[1] = expected_segment(d, with_dept2);
}

struct found {
    bool hit[NREC];
    size_t n;
    char segs[NREC][2][16];          /* from the documents */
    char linked[NREC][64];
};

static int on_doc(void *ctx, const char *doc, size_t len)
{
    struct found *f = ctx;
    json_object *o = json_tokener_parse(doc), *a, *v;
    (void)len;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "ashiato", &a));
    assert_true(json_object_object_get_ex(a, "session_id", &v));
    int i = atoi(json_object_get_string(v) + 10);
    assert_true(i >= 0 && i < NREC);
    assert_false(f->hit[i]);
    f->hit[i] = true;
    f->n++;
    if (json_object_object_get_ex(a, "segments", &v)) {
        assert_int_equal(json_object_array_length(v), 2);
        for (int k = 0; k < 2; k++)
            snprintf(f->segs[i][k], sizeof f->segs[i][k], "%s",
                     json_object_get_string(json_object_array_get_idx(v, (size_t)k)));
    }
    if (json_object_object_get_ex(a, "linked", &v))
        snprintf(f->linked[i], sizeof f->linked[i], "%s",
                 json_object_get_string(json_object_array_get_idx(v, 0)));
    json_object_put(o);
    return 0;
}

static void run(struct store *st, const char *expr, struct found *f)
{
    struct query_error qe;
    struct query_expr *e = expr ? query_parse(expr, &qe) : NULL;
    if (expr && !e)
        fail_msg("%s: %s at %d", expr, qe.msg, qe.pos);
    struct store_query q = { .expr = e };
    uint64_t total = 0;
    memset(f, 0, sizeof *f);
    if (store_query_sessions(st, &q, on_doc, f, &total) != STORE_OK)
        fail_msg("%s: %s", expr, store_error(st));
    assert_int_equal(total, f->n);
    query_expr_free(e);
}

enum mode { ANY, NONE, ALL };
struct tcase {
    const char *expr;
    enum mode mode;
    const char *names[4];            /* what the value names, resolved by hand */
};

static const struct tcase cases[] = {
    { "ashiato.segments == campus", ANY, { "campus" } },
    { "ashiato.segments == dept-1", ANY, { "dept-1" } },
    { "ashiato.segments == dept-2", ANY, { "dept-2" } },
    { "segments == outside", ANY, { "outside" } },
    { "ashiato.segments == dup-a", ANY, { "dup-a" } },
    { "ashiato.segments == dup-b", ANY, { "dup-b" } },      /* never: dup-a listed first */
    { "ashiato.segments != dept-1", NONE, { "dept-1" } },
    { "ashiato.segments != outside", NONE, { "outside" } },
    { "ashiato.segments == [dept-2, outside]", ANY, { "dept-2", "outside" } },
    { "ashiato.segments == ]dept-1,outside[", ALL, { "dept-1", "outside" } },
    { "ashiato.segments == dept-*", ANY, { "dept-1", "dept-2" } },
    { "ashiato.segments == /dup-.|camp.s/", ANY, { "dup-a", "dup-b", "campus" } },
    { "ashiato.segments != [campus, dept-2]", NONE, { "campus", "dept-2" } },
    { "ashiato.segments == no-such", ANY, { 0 } },
};

static bool names_has(const struct tcase *c, const char *seg)
{
    for (int k = 0; k < 4 && c->names[k]; k++)
        if (!strcmp(c->names[k], seg))
            return true;
    return false;
}

static bool expect(const struct tcase *c, const char *segs[2])
{
    if (c->mode == ALL) {
        for (int k = 0; k < 4 && c->names[k]; k++)
            if (strcmp(segs[0], c->names[k]) && strcmp(segs[1], c->names[k]))
                return false;
        return true;
    }
    bool any = names_has(c, segs[0]) || names_has(c, segs[1]);
    return c->mode == ANY ? any : !any;
}

static void check_cases(struct store *st, bool with_dept2)
{
    struct found *f = malloc(sizeof *f);
    assert_non_null(f);
    size_t nonempty = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (!with_dept2 && (names_has(&cases[k], "dept-2") && cases[k].mode == ALL))
            continue;
        run(st, cases[k].expr, f);
        size_t want = 0;
        for (size_t i = 0; i < NREC; i++) {
            const char *segs[2];
            rec_segments(&recs[i], with_dept2, segs);
            bool e = expect(&cases[k], segs);
            want += e;
            if (e != f->hit[i])
                fail_msg("%s (dept-2 %s): record %zu %s..%s: store %d, brute force %d",
                         cases[k].expr, with_dept2 ? "on" : "off", i, segs[0], segs[1],
                         f->hit[i], e);
        }
        assert_int_equal(f->n, want);
        printf("  map %s: %3zu of %d  %s\n", with_dept2 ? "A" : "B", want, NREC,
               cases[k].expr);
        nonempty += want > 0 && want < NREC;
        /* and the negation selects the rest */
        char neg[256];
        snprintf(neg, sizeof neg, "!(%s)", cases[k].expr);
        run(st, neg, f);
        assert_int_equal(f->n, NREC - want);
    }
    assert_true(nonempty >= 8);      /* the table is not trivial */
    free(f);
}

static void check_documents(struct store *st, bool with_dept2)
{
    struct found *f = malloc(sizeof *f);
    assert_non_null(f);
    run(st, NULL, f);
    assert_int_equal(f->n, NREC);
    for (size_t i = 0; i < NREC; i++) {
        const char *segs[2];
        rec_segments(&recs[i], with_dept2, segs);
        assert_string_equal(f->segs[i][0], segs[0]);
        assert_string_equal(f->segs[i][1], segs[1]);
    }
    free(f);
}

static struct store *open_with(const char *name, struct segmap_live *live)
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(cfg.url, sizeof cfg.url, "sqlite://%s/%s.db", tmpdir, name);
    cfg.segments = live;
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open: %s", err);
    return st;
}

static void put_all(struct store *st)
{
    const Ashiato__SessionRecord *p[NREC];
    for (size_t i = 0; i < NREC; i++)
        p[i] = &recs[i].r;
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, p, NREC), STORE_OK);
}

/* store_segments_condition (the API's stack=segment): each side's segments partition the
 * sessions, each part exactly the brute force's, nested three deep included */
static void check_partition(struct store *st, const struct segmap *m, bool with_dept2)
{
    struct found *f = malloc(sizeof *f);
    assert_non_null(f);
    for (int side = 0; side < 2; side++) {
        size_t sum = 0;
        for (int seg = SEGMAP_OUTSIDE; seg < (int)m->n_names; seg++) {
            const char *name = seg < 0 ? SEGMAP_OUTSIDE_NAME : m->names[seg];
            struct query_expr *e = store_segments_condition(m, side == 0, seg);
            assert_non_null(e);
            struct store_query q = { .expr = e };
            memset(f, 0, sizeof *f);
            assert_int_equal(store_query_sessions(st, &q, on_doc, f, NULL), STORE_OK);
            for (size_t i = 0; i < NREC; i++) {
                const char *segs[2];
                rec_segments(&recs[i], with_dept2, segs);
                if (f->hit[i] != !strcmp(segs[side], name))
                    fail_msg("%s of record %zu: %s, condition for %s %d", side ? "dst" : "src",
                             i, segs[side], name, f->hit[i]);
            }
            sum += f->n;
            query_expr_free(e);
        }
        assert_int_equal(sum, NREC);
    }
    assert_null(store_segments_condition(m, true, (int)m->n_names));
    free(f);
}

/* the map's answers equal the brute force's, for documents and for expressions */
static void segments_by_map(void **state)
{
    (void)state;
    struct segmap_live *live = segmap_live_new();
    struct segmap *m = malloc(sizeof *m);
    assert_non_null(live);
    assert_non_null(m);
    campus_map(m, true);
    assert_int_equal(segmap_live_set(live, m), 0);
    struct store *st = open_with("map", live);
    put_all(st);
    check_documents(st, true);
    check_cases(st, true);
    check_partition(st, m, true);
    /* a reload (the aggregator's SIGHUP): the same handle follows the new map */
    campus_map(m, false);
    assert_int_equal(segmap_live_set(live, m), 0);
    check_documents(st, false);
    check_cases(st, false);
    check_partition(st, m, false);
    /* a bad /regex/ is the store's error; ranges are the parser's */
    struct query_error qe;
    struct query_expr *bad = query_parse("ashiato.segments == /dept-(/", &qe);
    assert_non_null(bad);
    struct store_query bq = { .expr = bad };
    assert_int_equal(store_query_sessions(st, &bq, on_doc, NULL, NULL), STORE_ERR);
    assert_non_null(strstr(store_error(st), "not a valid regular expression"));
    query_expr_free(bad);
    assert_null(query_parse("ashiato.segments > dept-1", &qe));
    assert_non_null(strstr(qe.msg, "< <= > >= apply to numbers and times only"));
    /* ashiato.segments is not countable (its values are the map's, not the documents') */
    struct store_query q = { 0 };
    assert_int_equal(store_count_by(st, &q, "ashiato.segments", on_doc, NULL), STORE_ERR);
    assert_non_null(strstr(store_error(st), "not countable"));
    store_close(st);
    segmap_live_free(live);
    free(m);
}

/* without a map: no field in the documents, == matches nothing, != everything */
static void no_map(void **state)
{
    (void)state;
    struct found *f = malloc(sizeof *f);
    assert_non_null(f);
    struct store *st = open_with("nomap", NULL);
    put_all(st);
    run(st, NULL, f);
    assert_int_equal(f->n, NREC);
    for (size_t i = 0; i < NREC; i++)
        assert_string_equal(f->segs[i][0], "");
    run(st, "ashiato.segments == outside", f);
    assert_int_equal(f->n, 0);
    run(st, "ashiato.segments == EXISTS!", f);
    assert_int_equal(f->n, 0);
    run(st, "ashiato.segments != campus", f);
    assert_int_equal(f->n, NREC);
    store_close(st);
    free(f);
}

/* linked sessions: each names the other, and ashiato.linked finds exactly them */
static void linked_sessions(void **state)
{
    (void)state;
    struct found *f = malloc(sizeof *f);
    assert_non_null(f);
    struct store *st = open_with("linked", NULL);
    put_all(st);
    struct store_link l = { "s1", recs[3].id, "s1", recs[40].id, recs[3].r.start_us,
                            recs[40].r.start_us };
    assert_int_equal(store_put_links(st, &l, 1), STORE_OK);
    run(st, "ashiato.linked == EXISTS!", f);
    assert_int_equal(f->n, 2);
    assert_true(f->hit[3] && f->hit[40]);
    char want[64];
    snprintf(want, sizeof want, "%s@s1", recs[40].id);
    assert_string_equal(f->linked[3], want);
    snprintf(want, sizeof want, "%s@s1", recs[3].id);
    assert_string_equal(f->linked[40], want);
    char expr[128];
    snprintf(expr, sizeof expr, "ashiato.linked == \"%s@s1\"", recs[40].id);
    run(st, expr, f);
    assert_int_equal(f->n, 1);
    assert_true(f->hit[3]);
    run(st, "linked == *@s1 && port.dst == 445", f);   /* record 40 has port 445, 3 has 80 */
    assert_int_equal(f->n, 1);
    assert_true(f->hit[40]);
    run(st, "ashiato.linked != EXISTS!", f);
    assert_int_equal(f->n, NREC - 2);
    store_close(st);
    free(f);
    /* the query plan: from session_links through the time index, never a scan of sessions */
    char path[128];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/linked.db", tmpdir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(query_sql_register(db), SQLITE_OK);
    const char *exprs[] = { "ashiato.linked == EXISTS!", "linked == \"131125-seg040@s1\"" };
    for (size_t k = 0; k < 2; k++) {
        struct query_error qe;
        struct query_expr *e = query_parse(exprs[k], &qe);
        struct query_sql qs = { 0 };
        assert_non_null(e);
        assert_int_equal(query_sql_compile(e, 0, 0, &qs), 0);
        char sql[4096];
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN SELECT count(*) FROM sessions AS s "
                 "WHERE %.*s", (int)qs.len, qs.text);
        sqlite3_stmt *stmt;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
        query_sql_bind(&qs, stmt, 1);
        bool rowid = false;
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(stmt, 3);
            printf("  plan of %s: %s\n", exprs[k], d);
            assert_false(!strcmp(d, "SCAN s") || !strncmp(d, "SCAN s USING", 12));
            rowid |= !strncmp(d, "SEARCH s USING INTEGER PRIMARY KEY", 34);
        }
        assert_true(rowid);
        sqlite3_finalize(stmt);
        query_sql_clear(&qs);
        query_expr_free(e);
    }
    sqlite3_close(db);
}

static int setup(void **state)
{
    (void)state;
    make_records();
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", "test_store_segments");
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
        cmocka_unit_test(segments_by_map),
        cmocka_unit_test(no_map),
        cmocka_unit_test(linked_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
