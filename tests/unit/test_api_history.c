/* test_api_history.c -- sensors/history.json (aggregator/api_history.c) over a real SQLite
 * store: the handler is called as the HTTP server calls it, with samples written through
 * store_put_stats. Down: a gap longer than three stats intervals, and from the last sample to
 * now; dropping: intervals where the drop counters rose (touching ones merged, a restart's
 * reset ignored); a sensor without stats_interval_ms gets its median gap; the window clips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "test_dir.h"
#include "http_api.h"
#include "store.h"

#define SEC 1000000LL

static char tmpdir[64];

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static void put(struct store *st, const char *sensor, int64_t t, uint64_t dropped,
                uint32_t interval_ms)
{
    Ashiato__SensorStats s = ASHIATO__SENSOR_STATS__INIT;
    s.time_us = t;
    s.packets = 1000;
    s.pcap_dropped = dropped;
    s.stats_interval_ms = interval_ms;
    assert_int_equal(store_put_stats(st, sensor, &s), STORE_OK);
}

/* the handler's answer for query string qs at now */
static json_object *history(struct store *st, const char *qs, int64_t now)
{
    struct http_request rq = { .st = st, .now_us = now, .path = "/sensors/history.json" };
    struct http_reply rp = { .status = 200, .count = -1 };
    char err[ASH_ERR_LEN];
    assert_int_equal(api_params_parse(qs, strlen(qs), &rq.params, err), 0);
    assert_int_equal(api_sensors_history_json(&rq, &rp), 0);
    api_params_free(&rq.params);
    assert_int_equal(rp.status, 200);
    json_object *o = json_tokener_parse(rp.body);
    free(rp.body);
    assert_non_null(o);
    return o;
}

static json_object *sensor(json_object *h, const char *name)
{
    json_object *arr;
    assert_true(json_object_object_get_ex(h, "sensors", &arr));
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *s = json_object_array_get_idx(arr, i), *n;
        if (json_object_object_get_ex(s, "name", &n) && !strcmp(json_object_get_string(n), name))
            return s;
    }
    fail_msg("no sensor %s in %s", name, json_object_to_json_string(h));
    return NULL;
}

static int64_t at(json_object *s, const char *k, size_t i, size_t j)
{
    json_object *a;
    assert_true(json_object_object_get_ex(s, k, &a));
    return json_object_get_int64(json_object_array_get_idx(json_object_array_get_idx(a, i), j));
}

static size_t count(json_object *s, const char *k)
{
    json_object *a;
    assert_true(json_object_object_get_ex(s, k, &a));
    return json_object_array_length(a);
}

static void intervals(void **state)
{
    (void)state;
    char url[300], err[ASH_ERR_LEN];
    struct store_config cfg = { 0 };
    snprintf(url, sizeof url, "sqlite://%s/h.db", tmpdir);
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    struct store *st = store_open(&cfg, err);
    assert_non_null(st);
    int64_t now = now_us(), t0 = now / SEC * SEC - 60 * SEC;   /* whole seconds: %.3f below */
    /* steady: every 500 ms up to now */
    for (int64_t t = t0; t <= now - SEC / 4; t += SEC / 2)
        put(st, "steady", t, 0, 500);
    /* gappy: 500 ms, then nothing for 5 s (> 1.5 s), then again */
    for (int64_t t = t0; t <= t0 + 10 * SEC; t += SEC / 2)
        put(st, "gappy", t, 0, 500);
    for (int64_t t = t0 + 15 * SEC; t <= now - SEC / 4; t += SEC / 2)
        put(st, "gappy", t, 0, 500);
    /* dropper: drops rise over two touching intervals (merged, 3 + 4), then a restart (reset
     * to 0: no drop), then 2 more */
    static const uint64_t drops[] = { 0, 0, 3, 7, 7, 0, 0, 2, 2 };
    for (size_t i = 0; i < ASH_ARRAY_LEN(drops); i++)
        put(st, "dropper", now - 9 * SEC + (int64_t)i * SEC, drops[i], 1000);
    /* gone: stopped 20 s ago; no interval reported: the median gap (2 s) */
    for (int64_t t = t0; t <= now - 20 * SEC; t += 2 * SEC)
        put(st, "gone", t, 0, 0);

    json_object *h = history(st, "date=1", now);
    json_object *s = sensor(h, "steady");
    assert_int_equal(count(s, "down"), 0);
    assert_int_equal(count(s, "dropping"), 0);
    s = sensor(h, "gappy");
    assert_int_equal(count(s, "down"), 1);
    assert_int_equal(at(s, "down", 0, 0), (t0 + 10 * SEC) / 1000);
    assert_int_equal(at(s, "down", 0, 1), (t0 + 15 * SEC) / 1000);
    s = sensor(h, "dropper");
    assert_int_equal(count(s, "down"), 0);
    assert_int_equal(count(s, "dropping"), 2);
    assert_int_equal(at(s, "dropping", 0, 0), (now - 8 * SEC) / 1000);
    assert_int_equal(at(s, "dropping", 0, 1), (now - 6 * SEC) / 1000);
    assert_int_equal(at(s, "dropping", 0, 2), 7);
    assert_int_equal(at(s, "dropping", 1, 0), (now - 3 * SEC) / 1000);
    assert_int_equal(at(s, "dropping", 1, 2), 2);
    s = sensor(h, "gone");
    json_object *v;
    assert_true(json_object_object_get_ex(s, "intervalMs", &v));
    assert_int_equal(json_object_get_int64(v), 2000);
    assert_int_equal(count(s, "down"), 1);
    assert_int_equal(at(s, "down", 0, 1), now / 1000);
    assert_true(at(s, "down", 0, 0) >= (now - 22 * SEC) / 1000 &&
                at(s, "down", 0, 0) <= (now - 20 * SEC) / 1000);
    json_object_put(h);

    /* a window inside the gap of gappy: down all through it, clipped */
    char qs[128];
    snprintf(qs, sizeof qs, "startTime=%.3f&stopTime=%.3f", (double)(t0 + 11 * SEC) / 1e6,
             (double)(t0 + 13 * SEC) / 1e6);
    h = history(st, qs, now);
    s = sensor(h, "gappy");
    assert_int_equal(count(s, "down"), 1);
    assert_int_equal(at(s, "down", 0, 0), (t0 + 11 * SEC) / 1000);
    assert_int_equal(at(s, "down", 0, 1), (t0 + 13 * SEC + 1) / 1000);   /* stopTime inclusive */
    assert_true(json_object_object_get_ex(s, "samples", &v));
    assert_int_equal(json_object_get_int64(v), 0);
    json_object_put(h);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, NULL, "ashiato-history");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(intervals) };
    return cmocka_run_group_tests(tests, setup, teardown);
}
