/* store_es_compare.h -- what test_store_es.c compares with: one request to the test node,
 * rows and buckets collected from a store, and the checks that SQLite and OpenSearch give the
 * same rows (store_query_sessions), the same page with its histogram (store_query_page,
 * store_query_docs) and the same asked-for fields.
 * Owns:  nothing past a call: every collection is freed by the function that made it.
 * Never: included by more than one suite (static functions: each suite is its own binary);
 *        mocks a node (ASHIATO_TEST_ES_URL names a real one). */
#ifndef ASHIATO_STORE_ES_COMPARE_H
#define ASHIATO_STORE_ES_COMPARE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "store.h"

static const char *es_url(void) { return getenv("ASHIATO_TEST_ES_URL"); }

/* One request to the test node (the first URL of the list); its HTTP status. */
static long http(const char *method, const char *path, const char *body)
{
    char url[1024];
    const char *base = es_url();
    size_t blen = strcspn(base, ",");
    snprintf(url, sizeof url, "%.*s%s", (int)blen, base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    fclose(sink);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void refresh(const char *prefix)
{
    char path[128];
    snprintf(path, sizeof path, "/%s-*/_refresh", prefix);
    assert_int_equal(http("POST", path, NULL), 200);
}

struct rows {
    char **v;
    size_t n, cap;
};

static int collect(void *ctx, const char *doc, size_t len)
{
    struct rows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    r->v[r->n] = strndup(doc, len);
    assert_non_null(r->v[r->n]);
    r->n++;
    return 0;
}

/* a store_doc_fn: the lent document as json-c writes it (the text a store_row_fn gets) */
static int collect_doc(void *ctx, json_object *doc)
{
    size_t len = 0;
    const char *t = json_object_to_json_string_length(doc, JSON_C_TO_STRING_PLAIN |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    assert_non_null(t);
    return collect(ctx, t, len);
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* The same rows in the same order, else fail naming the first difference. */
static void assert_rows_equal(const struct rows *a, const struct rows *b, const char *what)
{
    if (a->n != b->n)
        fail_msg("%s: %zu rows from sqlite, %zu from elasticsearch", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            fail_msg("%s: row %zu differs:\nsqlite:        %.400s\nelasticsearch: %.400s", what,
                     i, a->v[i], b->v[i]);
}

static void same_query(struct store *sq, struct store *es, const struct store_query *q,
                       const char *what, bool rows)
{
    struct rows a = { 0 }, b = { 0 };
    uint64_t ta = 0, tb = 0;
    int ra = store_query_sessions(sq, q, rows ? collect : NULL, &a, &ta);
    int rb = store_query_sessions(es, q, rows ? collect : NULL, &b, &tb);
    if (ra != STORE_OK || rb != STORE_OK)
        fail_msg("%s: sqlite %d (%s), elasticsearch %d (%s)", what, ra, store_error(sq), rb,
                 store_error(es));
    if (ta != tb)
        fail_msg("%s: total %llu from sqlite, %llu from elasticsearch", what,
                 (unsigned long long)ta, (unsigned long long)tb);
    assert_rows_equal(&a, &b, what);
    rows_free(&a);
    rows_free(&b);
}

struct buckets {
    struct store_histo_bucket v[4096];
    size_t n;
};

static int collect_bucket(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct buckets *bs = ctx;
    assert_null(series);
    assert_true(bs->n < 4096);
    bs->v[bs->n++] = *b;
    return 0;
}

/* store_query_page (on ES one _search with the histogram, the count of all beside it; on
 * SQLite the three calls in turn) gives the same page, counts and buckets on both, and the
 * same as store_query_sessions and store_histogram on ES. */
static void same_page(struct store *sq, struct store *es, const struct store_query *q,
                      int64_t width_us, const char *what, bool rows)
{
    struct rows a = { 0 }, b = { 0 }, c = { 0 };
    struct buckets *ha = calloc(1, sizeof *ha), *hb = calloc(1, sizeof *hb);
    struct buckets *hc = calloc(1, sizeof *hc);
    assert_true(ha && hb && hc);
    uint64_t ma = 0, mb = 0, ta = 0, tb = 0, tc = 0;
    int ra = store_query_page(sq, q, width_us, rows ? collect_doc : NULL, &a, collect_bucket,
                              ha, &ma, &ta);
    int rb = store_query_page(es, q, width_us, rows ? collect_doc : NULL, &b, collect_bucket,
                              hb, &mb, &tb);
    if (ra != STORE_OK || rb != STORE_OK)
        fail_msg("%s: query_page: sqlite %d (%s), elasticsearch %d (%s)", what, ra,
                 store_error(sq), rb, store_error(es));
    if (ma != mb || ta != tb)
        fail_msg("%s: matched/total %llu/%llu from sqlite, %llu/%llu from elasticsearch", what,
                 (unsigned long long)ma, (unsigned long long)ta, (unsigned long long)mb,
                 (unsigned long long)tb);
    assert_rows_equal(&a, &b, what);
    if (ha->n != hb->n || memcmp(ha->v, hb->v, ha->n * sizeof ha->v[0]))
        fail_msg("%s: %zu buckets from sqlite, %zu from elasticsearch, or other sums", what,
                 ha->n, hb->n);
    uint64_t sum = 0;
    for (size_t i = 0; i < hb->n; i++)
        sum += hb->v[i].sessions;
    assert_int_equal(sum, mb);
    /* the separate calls on ES agree */
    assert_int_equal(store_histogram(es, q, width_us, false, collect_bucket, hc), STORE_OK);
    assert_int_equal(hc->n, hb->n);
    assert_memory_equal(hc->v, hb->v, hb->n * sizeof hb->v[0]);
    assert_int_equal(store_query_sessions(es, &(struct store_query){ 0 }, NULL, NULL, &tc),
                     STORE_OK);
    assert_int_equal(tc, tb);
    if (rows && q->offset < mb) {
        assert_int_equal(store_query_sessions(es, q, collect, &c, NULL), STORE_OK);
        assert_rows_equal(&c, &b, what);
        rows_free(&c);
        assert_int_equal(store_query_docs(es, q, collect_doc, &c, NULL), STORE_OK);
        assert_rows_equal(&c, &b, what);
    } else {
        assert_int_equal(b.n, 0);
    }
    if (getenv("ASHIATO_TEST_VERBOSE"))
        print_message("%s: query_page rows %zu matched %llu total %llu buckets %zu\n", what,
                      b.n, (unsigned long long)mb, (unsigned long long)tb, hb->n);
    rows_free(&a);
    rows_free(&b);
    rows_free(&c);
    free(ha);
    free(hb);
    free(hc);
}

/* the value at a dotted path of nested objects, or NULL */
static json_object *at_path(json_object *o, const char *path)
{
    char key[128];
    while (o && *path) {
        size_t l = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)l, path);
        if (!json_object_object_get_ex(o, key, &o))
            return NULL;
        path += l + (path[l] == '.');
    }
    return o;
}

struct docs {
    json_object *v[64];
    size_t n;
};

static int keep_doc(void *ctx, json_object *doc)
{
    struct docs *d = ctx;
    assert_true(d->n < 64);
    d->v[d->n++] = json_object_get(doc);
    return 0;
}

/* q->fields set: SQLite hands whole documents, ES only those paths (_source includes, in
 * store_query_page and store_query_docs alike); the values at the paths agree document by
 * document, and ES's documents hold no other top-level key. */
static void same_fields(struct store *sq, struct store *es, const struct store_query *q,
                        const char *what)
{
    struct docs d[3] = { { .n = 0 }, { .n = 0 }, { .n = 0 } };    /* sqlite, es page, es docs */
    struct buckets *h = calloc(1, sizeof *h);
    uint64_t m = 0, t = 0;
    assert_non_null(h);
    assert_int_equal(store_query_docs(sq, q, keep_doc, &d[0], NULL), STORE_OK);
    assert_int_equal(store_query_page(es, q, 3600 * 1000000LL, keep_doc, &d[1], collect_bucket,
                                      h, &m, &t), STORE_OK);
    assert_int_equal(store_query_docs(es, q, keep_doc, &d[2], NULL), STORE_OK);
    assert_true(d[0].n > 0 && d[0].n == d[1].n && d[0].n == d[2].n);
    for (size_t i = 0; i < d[0].n; i++) {
        for (size_t f = 0; f < q->nfields; f++)
            for (int k = 1; k < 3; k++)
                if (!json_object_equal(at_path(d[0].v[i], q->fields[f]),
                                       at_path(d[k].v[i], q->fields[f])))
                    fail_msg("%s: document %zu, %s: sqlite %s, es %s", what, i, q->fields[f],
                             json_object_to_json_string(at_path(d[0].v[i], q->fields[f])),
                             json_object_to_json_string(at_path(d[k].v[i], q->fields[f])));
        for (int k = 1; k < 3; k++) {
            json_object_object_foreach(d[k].v[i], key, val) {
                size_t kl = strlen(key), f = 0;
                (void)val;
                while (f < q->nfields && !(strncmp(q->fields[f], key, kl) == 0 &&
                                           strchr(".", q->fields[f][kl])))  /* '.' or NUL */
                    f++;
                if (f == q->nfields)
                    fail_msg("%s: document %zu from es holds '%s', not asked for", what, i, key);
            }
            assert_true(json_object_object_length(d[k].v[i]) <
                        json_object_object_length(d[0].v[i]));
        }
    }
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < d[k].n; i++)
            json_object_put(d[k].v[i]);
    free(h);
}

static size_t same_counts(struct store *sq, struct store *es, const struct store_query *q,
                          const char *field, const char *what)
{
    struct rows a = { 0 }, b = { 0 };
    char label[160];
    snprintf(label, sizeof label, "%s: count_by %s", what, field);
    int ra = store_count_by(sq, q, field, collect, &a);
    int rb = store_count_by(es, q, field, collect, &b);
    if (ra != STORE_OK || rb != STORE_OK)
        fail_msg("%s: sqlite %d (%s), elasticsearch %d (%s)", label, ra, store_error(sq), rb,
                 store_error(es));
    assert_rows_equal(&a, &b, label);
    size_t n = a.n;
    if (getenv("ASHIATO_TEST_VERBOSE"))
        for (size_t i = 0; i < a.n; i++)
            print_message("%s %s\n", label, a.v[i]);
    rows_free(&a);
    rows_free(&b);
    return n;
}

#endif
