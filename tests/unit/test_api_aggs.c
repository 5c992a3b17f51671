/* test_api_aggs.c -- unique.txt and spigraph.json (aggregator/api_aggs.c) over a real SQLite
 * store, the handlers called as the HTTP server calls them: equal counts in the documented
 * order (count descending, then the value's text in byte order, so port 443 before 7 before
 * 80 before 9, where SQLite orders the integers by value), spigraph's cut at size through a tie, a
 * session with a value twice counted once and an empty value not at all, alike on the
 * store's buckets (port.dst, host.dns) and the walk over documents (starttime). */
#include "store_sqlite_fixtures.h"
#include "http_api.h"

#define MINUTE 60000000LL
#define NREC 9

/* 443 x2, 7 x2, 80 x2, 9 x2, 8080 x1; host.dns: [a, a, b], [b], ["", c], none after */
static struct store *fill(void)
{
    char path[256];
    struct store *st = open_fresh(path, NULL);
    static const uint32_t ports[NREC] = { 9, 80, 443, 8080, 9, 80, 443, 7, 7 };
    static char *dns0[] = { "a.example", "a.example", "b.example" }, *dns1[] = { "b.example" },
                *dns2[] = { "", "c.example" };
    struct rec x[NREC];
    const Ashiato__SessionRecord *recs[NREC];
    for (int i = 0; i < NREC; i++) {
        char id[32];
        snprintf(id, sizeof id, "aggs-%d", i);
        rec_init(&x[i], id, T0 + i * 20 * MINUTE, "http", 6, (uint8_t)(1 + i % 3));
        x[i].dst.port = ports[i];
        recs[i] = &x[i].r;
    }
    x[0].r.dns_query = dns0;
    x[0].r.n_dns_query = 3;
    x[1].r.dns_query = dns1;
    x[1].r.n_dns_query = 1;
    x[2].r.dns_query = dns2;
    x[2].r.n_dns_query = 2;
    assert_int_equal(store_put_batch(st, "s1", NULL, 1, recs, NREC), STORE_OK);
    return st;
}

/* the handler's reply to query string qs */
static struct http_reply call(struct store *st, int (*fn)(struct http_request *, struct http_reply *),
                              const char *qs)
{
    struct http_request rq = { .st = st, .now_us = T0 + 24 * HOUR, .path = "/x" };
    struct http_reply rp = { .status = 200, .count = -1 };
    char err[ASH_ERR_LEN];
    assert_int_equal(api_params_parse(qs, strlen(qs), &rq.params, err), 0);
    assert_int_equal(fn(&rq, &rp), 0);
    api_params_free(&rq.params);
    return rp;
}

static void unique_is(struct store *st, const char *qs, const char *want)
{
    struct http_reply rp = call(st, api_unique_txt, qs);
    assert_int_equal(rp.status, 200);
    assert_non_null(rp.body);
    assert_string_equal(rp.body, want);
    free(rp.body);
}

static void unique_order(void **state)
{
    (void)state;
    struct store *st = fill();
    unique_is(st, "date=-1&field=port.dst&counts=1", "443, 2\n7, 2\n80, 2\n9, 2\n8080, 1\n");
    unique_is(st, "date=-1&field=port.dst", "443\n7\n80\n9\n8080\n");
    unique_is(st, "date=-1&field=host.dns&counts=1", "b.example, 2\na.example, 1\nc.example, 1\n");
    unique_is(st, "date=-1&field=port.dst&counts=1&expression=port.dst%20%3E%3D%2080",
              "443, 2\n80, 2\n8080, 1\n");
    /* the walk (a time: count_by refuses it) counts as the store's buckets do */
    struct http_reply rp = call(st, api_unique_txt, "date=-1&field=starttime&counts=1");
    assert_int_equal(rp.status, 200);
    assert_int_equal(rp.count, NREC);
    int lines = 0;
    for (char *p = rp.body; (p = strstr(p, ", 1\n")); p++)
        lines++;
    assert_int_equal(lines, NREC);
    assert_non_null(strstr(rp.body, "2013-11-25T14:55:58"));
    free(rp.body);
    store_close(st);
}

static json_object *spigraph(struct store *st, const char *qs)
{
    struct http_reply rp = call(st, api_spigraph_json, qs);
    assert_int_equal(rp.status, 200);
    json_object *o = json_tokener_parse(rp.body);
    free(rp.body);
    assert_non_null(o);
    return o;
}

/* "name:count:histogram-total" of each item, comma separated */
static void items_are(json_object *o, const char *want, int64_t filtered)
{
    json_object *items, *v;
    char got[512] = "";
    assert_true(json_object_object_get_ex(o, "recordsFiltered", &v));
    assert_int_equal(json_object_get_int64(v), filtered);
    assert_true(json_object_object_get_ex(o, "items", &items));
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        json_object *it = json_object_array_get_idx(items, i), *n, *c, *g, *h;
        assert_true(json_object_object_get_ex(it, "name", &n));
        assert_true(json_object_object_get_ex(it, "count", &c));
        assert_true(json_object_object_get_ex(it, "graph", &g));
        assert_true(json_object_object_get_ex(g, "sessionsHisto", &h));
        int64_t sum = 0, last = INT64_MIN;
        for (size_t j = 0; j < json_object_array_length(h); j++) {
            json_object *pair = json_object_array_get_idx(h, j);
            int64_t ms = json_object_get_int64(json_object_array_get_idx(pair, 0));
            assert_true(ms > last && ms % 3600000 == 0);     /* date=-1: hourly, ascending */
            last = ms;
            sum += json_object_get_int64(json_object_array_get_idx(pair, 1));
        }
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s:%lld:%lld", i ? "," : "",
                 json_object_get_string(n), (long long)json_object_get_int64(c), (long long)sum);
    }
    assert_string_equal(got, want);
    json_object_put(o);
}

static void spigraph_cut(void **state)
{
    (void)state;
    struct store *st = fill();
    /* four values tie at 2: SQLite's LIMIT 3 gives 7, 9, 80; ours is 443, 7 */
    items_are(spigraph(st, "date=-1&field=port.dst&size=2"), "443:2:2,7:2:2", NREC);
    items_are(spigraph(st, "date=-1&field=port.dst&size=3"), "443:2:2,7:2:2,80:2:2", NREC);
    items_are(spigraph(st, "date=-1&field=port.dst"), "443:2:2,7:2:2,80:2:2,9:2:2,8080:1:1", NREC);
    items_are(spigraph(st, "date=-1&field=host.dns&size=1"), "b.example:2:2", NREC);
    items_are(spigraph(st, "date=-1&field=host.dns&expression=port.dst%20%3D%3D%209"),
              "a.example:1:1,b.example:1:1", 2);
    items_are(spigraph(st, "date=-1&field=ip.dst&size=1"), "10.180.156.1:3:3", NREC);
    store_close(st);
}

static void refused(void **state)
{
    (void)state;
    struct store *st = fill();
    struct http_reply rp = call(st, api_unique_txt, "date=-1&field=protocols");
    assert_int_equal(rp.status, 400);
    assert_non_null(strstr(rp.body, "several fields"));
    free(rp.body);
    rp = call(st, api_spigraph_json, "date=-1&field=nosuchfield");
    assert_int_equal(rp.status, 400);
    free(rp.body);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", "test_api_aggs");
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
        cmocka_unit_test(unique_order),
        cmocka_unit_test(spigraph_cut),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
