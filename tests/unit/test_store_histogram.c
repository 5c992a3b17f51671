/* test_store_histogram.c -- store_histogram() (indexer/store.h) on the SQLite backend: the
 * per-minute rollup (session_minutes) and the row scan against a brute-force count over the
 * test's own records, for windows cut inside minutes, widths of 1 s to a day, by sensor,
 * event.end bounds, re-delivered records, retention's boundary minute and the migration of
 * a version-4 database. Prints the time of a rollup and a row-scan answer over HISTO_BIG
 * sessions (ASHIATO_HISTO_N overrides). Databases live in a mkdtemp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <json-c/json.h>

#include "test_dir.h"
#include "store.h"
#include "query_parse.h"

#define T0 1700000000000000LL        /* 2023-11-14T22:13:20Z, not on a minute */
#define MIN 60000000LL
#define NREC 3000
#define HISTO_BIG 200000

static char tmpdir[64];
static int dbcount;

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    uint8_t sip[4], dip[4];
    char id[32];
    const char *sensor;
    bool deleted;
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const sensors[] = { "dept-1", "dept-2", "dept-3" };

/* n records over `span_us` from T0, three sensors, varied sums; src 10.<s>.x.y */
static struct rec *make(size_t n, int64_t span_us)
{
    struct rec *x = calloc(n, sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        struct rec *e = &x[i];
        ashiato__session_record__init(&e->r);
        ashiato__endpoint__init(&e->src);
        ashiato__endpoint__init(&e->dst);
        snprintf(e->id, sizeof e->id, "231114-h%zu", i);
        e->r.id.data = (uint8_t *)e->id;
        e->r.id.len = strlen(e->id);
        e->sensor = sensors[next() % 3];
        e->r.start_us = T0 + (int64_t)(next() % (uint64_t)span_us);
        e->r.end_us = e->r.start_us + (int64_t)(next() % (20 * MIN));
        e->r.iana_number = next() % 2 ? 6 : 17;
        e->r.ip_version = 4;
        memcpy(e->sip, (uint8_t[]){ 10, (uint8_t)(next() % 3), (uint8_t)next(), 1 }, 4);
        memcpy(e->dip, (uint8_t[]){ 192, 168, 0, (uint8_t)next() }, 4);
        e->src.ip.data = e->sip;
        e->src.ip.len = 4;
        e->dst.ip.data = e->dip;
        e->dst.ip.len = 4;
        e->src.port = 1024 + next() % 60000;
        e->dst.port = next() % 2 ? 80 : 53;
        e->src.packets = next() % 50;
        e->dst.packets = next() % 50;
        e->src.bytes = next() % 100000;
        e->dst.bytes = next() % 100000;
        e->src.data_bytes = next() % 1000;
        e->dst.data_bytes = next() % 1000;
        e->r.source = &e->src;
        e->r.destination = &e->dst;
    }
    return x;
}

static struct store *open_fresh(char path[256])
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(path, 256, "%s/h%d.db", tmpdir, ++dbcount);
    snprintf(cfg.url, sizeof cfg.url, "sqlite://%s", path);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open: %s", err);
    return st;
}

static struct store *reopen(const char *path)
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(cfg.url, sizeof cfg.url, "sqlite://%s", path);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open: %s", err);
    return st;
}

/* put the records, each sensor's in batches of up to 1000, in group commits */
static void put_all(struct store *st, struct rec *x, size_t n)
{
    const Ashiato__SessionRecord **p = calloc(n, sizeof *p);
    struct store_batch b[3];
    assert_non_null(p);
    for (size_t k = 0, at = 0; k < 3; k++) {
        size_t first = at;
        for (size_t i = 0; i < n; i++)
            if (x[i].sensor == sensors[k])
                p[at++] = &x[i].r;
        b[k] = (struct store_batch){ .sensor = sensors[k], .seq = 0, .recs = p + first,
                                     .n = at - first };
    }
    /* group commits of up to 50 batches: a commit per batch spent the test's time in fsync */
    struct store_batch group[50];
    size_t ng = 0;
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < b[k].n; i += 1000) {
            group[ng] = b[k];
            group[ng].recs = b[k].recs + i;
            group[ng].n = b[k].n - i < 1000 ? b[k].n - i : 1000;
            if (++ng == 50) {
                assert_int_equal(store_put_batches(st, group, ng), STORE_OK);
                ng = 0;
            }
        }
    if (ng)
        assert_int_equal(store_put_batches(st, group, ng), STORE_OK);
    free(p);
}

/* ---- answers ------------------------------------------------------------------------ */

struct bucket {
    char series[16];
    int64_t key;
    uint64_t n, sums[STORE_SUM_COUNT];
};

struct answer {
    struct bucket b[20000];
    size_t n;
};

static int collect(void *ctx, const char *series, const struct store_histo_bucket *h)
{
    struct answer *a = ctx;
    assert_true(a->n < 20000);
    struct bucket *b = &a->b[a->n++];
    snprintf(b->series, sizeof b->series, "%s", series ? series : "");
    b->key = h->key_us;
    b->n = h->sessions;
    memcpy(b->sums, h->sums, sizeof b->sums);
    return 0;
}

static int cmp_bucket(const void *x, const void *y)
{
    const struct bucket *a = x, *b = y;
    int c = strcmp(a->series, b->series);
    return c ? c : (a->key > b->key) - (a->key < b->key);
}

static bool keeps(const struct rec *e, const struct store_query *q)
{
    const Ashiato__SessionRecord *r = &e->r;
    return !e->deleted && (!q->start_us || r->start_us >= q->start_us) &&
           (!q->end_us || r->start_us < q->end_us) &&
           (!q->end_min_us || r->end_us >= q->end_min_us) &&
           (!q->end_max_us || r->end_us < q->end_max_us) &&
           (!q->sensor || !strcmp(q->sensor, e->sensor));
}

/* the brute-force answer over the records (the filter of q without its expression) */
static void brute(const struct rec *x, size_t n, const struct store_query *q, int64_t width,
                  bool by_sensor, bool (*extra)(const struct rec *), struct answer *a)
{
    a->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keeps(&x[i], q) || (extra && !extra(&x[i])))
            continue;
        int64_t key = x[i].r.start_us / width * width;
        const char *series = by_sensor ? x[i].sensor : "";
        struct bucket *b = NULL;
        for (size_t j = 0; j < a->n && !b; j++)
            if (a->b[j].key == key && !strcmp(a->b[j].series, series))
                b = &a->b[j];
        if (!b) {
            assert_true(a->n < 20000);
            b = &a->b[a->n++];
            memset(b, 0, sizeof *b);
            snprintf(b->series, sizeof b->series, "%s", series);
            b->key = key;
        }
        const Ashiato__Endpoint *s = x[i].r.source, *d = x[i].r.destination;
        b->n++;
        b->sums[STORE_SUM_SRC_PACKETS] += s->packets;
        b->sums[STORE_SUM_DST_PACKETS] += d->packets;
        b->sums[STORE_SUM_SRC_BYTES] += s->bytes;
        b->sums[STORE_SUM_DST_BYTES] += d->bytes;
        b->sums[STORE_SUM_SRC_DATA] += s->data_bytes;
        b->sums[STORE_SUM_DST_DATA] += d->data_bytes;
    }
    qsort(a->b, a->n, sizeof a->b[0], cmp_bucket);
}

static void same(const struct answer *got, const struct answer *want, const char *what)
{
    if (got->n != want->n)
        fail_msg("%s: %zu buckets, want %zu", what, got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        const struct bucket *g = &got->b[i], *w = &want->b[i];
        if (strcmp(g->series, w->series) || g->key != w->key || g->n != w->n ||
            memcmp(g->sums, w->sums, sizeof g->sums))
            fail_msg("%s: bucket %zu: got %s %lld n=%llu sp=%llu, want %s %lld n=%llu sp=%llu",
                     what, i, g->series, (long long)g->key, (unsigned long long)g->n,
                     (unsigned long long)g->sums[0], w->series, (long long)w->key,
                     (unsigned long long)w->n, (unsigned long long)w->sums[0]);
    }
}

static struct answer got, want;

/* the store's answer for q (optionally with an expression) equals the brute force */
static void check(struct store *st, const struct rec *x, size_t n, struct store_query q,
                  int64_t width, bool by_sensor, const char *expr, bool (*extra)(const struct rec *),
                  const char *what)
{
    struct query_error qe;
    struct query_expr *e = expr ? query_parse(expr, &qe) : NULL;
    if (expr && !e)
        fail_msg("%s: %s", expr, qe.msg);
    q.expr = e;
    got.n = 0;
    assert_int_equal(store_histogram(st, &q, width, by_sensor, collect, &got), STORE_OK);
    if (!by_sensor)          /* one series: NULL */
        for (size_t i = 0; i < got.n; i++)
            assert_string_equal(got.b[i].series, "");
    brute(x, n, &q, width, by_sensor, extra, &want);
    /* the store's order is the brute force's order already: by series name, then key */
    same(&got, &want, what);
    assert_true(want.n > 0);
    query_expr_free(e);
}

static bool src_dept1(const struct rec *e) { return e->sip[1] == 1; }
static bool all(const struct rec *e) { (void)e; return true; }
static bool dst80(const struct rec *e) { return e->dst.port == 80; }

/* whole minutes from the rollup and the cut minutes at both ends from rows, against the
 * same query answered only from rows (an expression that every session matches) */
static void rollup_equals_rows(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_fresh(path);
    struct rec *x = make(NREC, 6 * 3600 * 1000000LL);
    put_all(st, x, NREC);
    struct store_query q = { .start_us = T0 + 17 * MIN + 123456, .end_us = T0 + 5 * 3600000000LL + 7 };
    static const int64_t widths[] = { 1000000, 60000000, 300000000, 3600000000LL, 86400000000LL };
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        check(st, x, NREC, q, widths[w], false, NULL, NULL, "rollup");
        check(st, x, NREC, q, widths[w], false, "ip.dst == 192.168.0.0/16", all, "rows");
        check(st, x, NREC, q, widths[w], true, NULL, NULL, "rollup by sensor");
        check(st, x, NREC, q, widths[w], true, "ip.src == 10.1.0.0/16", src_dept1,
              "rows by sensor");
    }
    /* a count alone comes from the minutes too (sessions.json's recordsTotal) */
    uint64_t total = 0, n = 0;
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    for (size_t i = 0; i < NREC; i++)
        n += keeps(&x[i], &q);
    assert_int_equal(total, n);
    struct store_query open = { 0 }, one = { .sensor = "dept-2", .start_us = T0 + 30 * MIN };
    assert_int_equal(store_query_sessions(st, &open, NULL, NULL, &total), STORE_OK);
    assert_int_equal(total, NREC);
    check(st, x, NREC, open, 60000000, false, NULL, NULL, "all time");
    check(st, x, NREC, one, 3600000000LL, true, NULL, NULL, "one sensor");
    /* inside one minute: rows only */
    struct store_query tiny = { .start_us = T0 + 61 * MIN + 1, .end_us = T0 + 62 * MIN - 1 };
    got.n = 0;
    assert_int_equal(store_histogram(st, &tiny, 1000000, false, collect, &got), STORE_OK);
    brute(x, NREC, &tiny, 1000000, false, NULL, &want);
    same(&got, &want, "tiny");
    /* bad widths */
    assert_int_equal(store_histogram(st, &q, 500000, false, collect, &got), STORE_ERR);
    assert_non_null(strstr(store_error(st), "width"));
    assert_int_equal(store_histogram(st, &q, 0, false, collect, &got), STORE_ERR);
    /* re-delivery counts once */
    put_all(st, x, NREC / 2);
    check(st, x, NREC, open, 60000000, true, NULL, NULL, "after re-delivery");
    store_close(st);
    free(x);
}

struct page_rows {
    char *v[64];
    size_t n;
};

static int page_row(void *ctx, const char *doc, size_t len)
{
    struct page_rows *r = ctx;
    assert_true(r->n < 64);
    r->v[r->n] = strndup(doc, len);
    assert_non_null(r->v[r->n]);
    r->n++;
    return 0;
}

static void page_rows_free(struct page_rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    r->n = 0;
}

/* store_query_page hands documents parsed (store_doc_fn): kept by reference */
struct page_docs {
    json_object *v[64];
    size_t n;
};

static int page_doc(void *ctx, json_object *doc)
{
    struct page_docs *d = ctx;
    assert_true(d->n < 64);
    d->v[d->n++] = json_object_get(doc);
    return 0;
}

static void page_docs_free(struct page_docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        json_object_put(d->v[i]);
    d->n = 0;
}

/* store_query_page on SQLite (the three calls in turn): the page of store_query_sessions,
 * the buckets of the brute force, matched = their sum, total = every session */
static void query_page_equals_parts(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_fresh(path);
    struct rec *x = make(NREC, 6 * 3600 * 1000000LL);
    put_all(st, x, NREC);
    struct store_query q = { .start_us = T0 + 17 * MIN + 123456, .end_us = T0 + 5 * 3600000000LL,
                             .offset = 5, .limit = 20, .sensor = "dept-3" };
    struct page_rows b = { .n = 0 };
    struct page_docs a = { .n = 0 };
    uint64_t matched = 0, total = 0, n = 0;
    got.n = 0;
    assert_int_equal(store_query_page(st, &q, 60000000, page_doc, &a, collect, &got, &matched,
                                      &total), STORE_OK);
    brute(x, NREC, &q, 60000000, false, NULL, &want);
    same(&got, &want, "query_page buckets");
    for (size_t i = 0; i < NREC; i++)
        n += keeps(&x[i], &q);
    assert_true(n > 25);
    assert_int_equal(matched, n);
    assert_int_equal(total, NREC);
    assert_int_equal(store_query_sessions(st, &q, page_row, &b, NULL), STORE_OK);
    assert_int_equal(a.n, 20);
    assert_int_equal(b.n, 20);
    for (size_t i = 0; i < a.n; i++) {      /* the same documents as the rows' text */
        json_object *t = json_tokener_parse(b.v[i]);
        assert_non_null(t);
        assert_true(json_object_equal(a.v[i], t));
        json_object_put(t);
    }
    page_docs_free(&a);
    page_rows_free(&b);
    q.offset = (size_t)n;                     /* past the last match: no rows, same counts */
    got.n = 0;
    assert_int_equal(store_query_page(st, &q, 3600000000LL, page_doc, &a, collect, &got,
                                      &matched, &total), STORE_OK);
    assert_int_equal(a.n, 0);
    assert_int_equal(matched, n);
    q.limit = 0;                              /* a page needs a limit */
    assert_int_equal(store_query_page(st, &q, 60000000, page_doc, &a, collect, &got, &matched,
                                      &total), STORE_ERR);
    assert_int_equal(store_query_page(st, &q, 60000000, NULL, NULL, collect, &got, &matched,
                                      &total), STORE_OK);
    assert_int_equal(matched, n);
    store_close(st);
    free(x);
}

/* bounding last/both/either: event.end bounds in the store, for the histogram and queries */
static void end_bounds(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_fresh(path);
    struct rec *x = make(NREC, 3 * 3600 * 1000000LL);
    put_all(st, x, NREC);
    struct store_query q = { .start_us = T0, .end_us = T0 + 2 * 3600000000LL,
                             .end_min_us = T0 + 40 * MIN, .end_max_us = T0 + 100 * MIN };
    check(st, x, NREC, q, 60000000, false, NULL, NULL, "end bounds");
    check(st, x, NREC, q, 60000000, true, "port.dst == 80", dst80, "end bounds expr");
    uint64_t total = 0, n = 0;
    assert_int_equal(store_query_sessions(st, &q, NULL, NULL, &total), STORE_OK);
    for (size_t i = 0; i < NREC; i++)
        n += keeps(&x[i], &q);
    assert_int_equal(total, n);
    store_close(st);
    free(x);
}

/* retention cuts inside a minute: that minute is counted again from what is left */
static void retention_boundary(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_fresh(path);
    struct rec *x = make(NREC, 2 * 3600 * 1000000LL);
    put_all(st, x, NREC);
    int64_t cut = T0 + 45 * MIN + 29000000;
    uint64_t deleted = 0, n = 0;
    assert_int_equal(store_delete_older(st, cut, &deleted), STORE_OK);
    for (size_t i = 0; i < NREC; i++)
        if (x[i].r.start_us < cut) {
            x[i].deleted = true;
            n++;
        }
    assert_int_equal(deleted, n);
    struct store_query open = { 0 };
    check(st, x, NREC, open, 60000000, true, NULL, NULL, "after retention");
    store_close(st);
    free(x);
}

/* a version-4 database (no session_minutes) gets them at open */
static void migrates_v4(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_fresh(path);
    struct rec *x = make(NREC, 3600 * 1000000LL);
    put_all(st, x, NREC);
    store_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE session_minutes; PRAGMA user_version = 4",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = reopen(path);
    struct store_query q = { .start_us = T0 + 90000000 };
    check(st, x, NREC, q, 60000000, true, NULL, NULL, "migrated");
    store_close(st);
    free(x);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* a day of sessions: the rollup's answer against the row scan's, timed */
static void timing(void **state)
{
    (void)state;
    char path[256];
    const char *env = getenv("ASHIATO_HISTO_N");
    size_t n = env && atol(env) > 0 ? (size_t)atol(env) : HISTO_BIG;
    struct store *st = open_fresh(path);
    struct rec *x = make(n, 86400 * 1000000LL);
    double t = now_s();
    put_all(st, x, n);
    double put_s = now_s() - t;
    struct store_query day = { .start_us = T0 - 1, .end_us = T0 + 86400 * 1000000LL };
    struct query_error qe;
    struct query_expr *e = query_parse("ip.dst == 192.168.0.0/16", &qe);
    struct answer *rows = calloc(1, sizeof *rows);
    assert_non_null(e);
    assert_non_null(rows);
    t = now_s();
    got.n = 0;
    assert_int_equal(store_histogram(st, &day, 60000000, false, collect, &got), STORE_OK);
    double rollup_ms = (now_s() - t) * 1000;
    day.expr = e;
    t = now_s();
    assert_int_equal(store_histogram(st, &day, 60000000, false, collect, rows), STORE_OK);
    double rows_ms = (now_s() - t) * 1000;
    same(&got, rows, "timing");
    uint64_t sum = 0;
    for (size_t i = 0; i < got.n; i++)
        sum += got.b[i].n;
    assert_int_equal(sum, n);
    print_message("histogram: %zu sessions over a day (put in %.1f s): one-day graph by minute"
                  " (%zu buckets) %.1f ms from session_minutes, %.1f ms by row scan\n", n, put_s,
                  got.n, rollup_ms, rows_ms);
    query_expr_free(e);
    free(rows);
    store_close(st);
    free(x);
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", "test_store_histogram");
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
        cmocka_unit_test(rollup_equals_rows),
        cmocka_unit_test(end_bounds),
        cmocka_unit_test(query_page_equals_parts),
        cmocka_unit_test(retention_boundary),
        cmocka_unit_test(migrates_v4),
        cmocka_unit_test(timing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
