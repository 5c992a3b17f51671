/* test_store_stats.c -- the sensor stats through indexer/store.h on the SQLite backend: the
 * latest sample per sensor with the oldest packet kept and the stats interval, the history
 * (order, range, summed drop counters), its pruning (8 days, each sensor's newest kept), and
 * the columns added to a sensor_stats table made before them. Databases live in a mkdtemp
 * dir. (The OpenSearch side runs against a real node: test_http_api_opensearch.py.) */
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

static char tmpdir[64];
static int dbcount;

#define SEC 1000000LL
#define DAY (86400 * SEC)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static struct store *open_db(char path[256], bool fresh)
{
    char url[300], err[ASH_ERR_LEN] = "";
    if (fresh)
        snprintf(path, 256, "%s/s%d.db", tmpdir, ++dbcount);
    snprintf(url, sizeof url, "sqlite://%s", path);
    struct store_config cfg = { 0 };
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open %s: %s", url, err);
    return st;
}

static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    long long v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void put(struct store *st, const char *sensor, int64_t t, uint64_t packets,
                uint64_t dropped, uint64_t if_dropped, uint64_t outbox_dropped, int64_t oldest)
{
    Ashiato__SensorStats s = ASHIATO__SENSOR_STATS__INIT;
    s.time_us = t;
    s.packets = packets;
    s.pcap_dropped = dropped;
    s.pcap_if_dropped = if_dropped;
    s.outbox_dropped = outbox_dropped;
    s.outbox_batches = packets / 100;
    s.oldest_packet_us = oldest;
    s.stats_interval_ms = 500;
    assert_int_equal(store_put_stats(st, sensor, &s), STORE_OK);
}

struct seen {
    int n;
    char sensor[16][32];
    struct store_stats_sample s[16];
};

static int on_sample(void *ctx, const char *sensor, const struct store_stats_sample *smp)
{
    struct seen *x = ctx;
    if (x->n < 16) {
        snprintf(x->sensor[x->n], sizeof x->sensor[0], "%s", sensor);
        x->s[x->n] = *smp;
    }
    x->n++;
    return 0;
}

struct docs {
    int n;
    json_object *o[8];
};

static int on_doc(void *ctx, const char *text, size_t len)
{
    struct docs *d = ctx;
    if (d->n < 8)
        d->o[d->n] = json_tokener_parse(text);
    d->n++;
    (void)len;
    return 0;
}

static int64_t field(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static void latest_and_history(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_db(path, true);
    int64_t t0 = now_us() - 60 * SEC, oldest = t0 - 3600 * SEC;
    put(st, "s2", t0, 100, 0, 0, 0, oldest);
    put(st, "s1", t0, 500, 1, 0, 0, oldest);
    put(st, "s1", t0 + SEC / 2, 600, 4, 2, 1, oldest + 7);
    put(st, "s1", t0 + 10 * SEC, 700, 4, 2, 1, oldest + 7);
    struct docs d = { 0 };
    assert_int_equal(store_latest_stats(st, on_doc, &d), STORE_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(field(d.o[0], "time_us"), t0 + 10 * SEC);          /* s1 first, newest */
    assert_int_equal(field(d.o[0], "oldest_packet_us"), oldest + 7);
    assert_int_equal(field(d.o[0], "stats_interval_ms"), 500);
    assert_int_equal(field(d.o[1], "oldest_packet_us"), oldest);
    for (int i = 0; i < 2; i++)
        json_object_put(d.o[i]);

    struct seen x = { 0 };
    assert_int_equal(store_stats_history(st, 0, 0, on_sample, &x), STORE_OK);
    assert_int_equal(x.n, 4);
    assert_string_equal(x.sensor[0], "s1");                             /* by sensor, then time */
    assert_string_equal(x.sensor[3], "s2");
    assert_int_equal(x.s[0].time_us, t0);
    assert_int_equal(x.s[1].time_us, t0 + SEC / 2);
    assert_int_equal(x.s[0].dropped, 1);
    assert_int_equal(x.s[1].dropped, 4 + 2 + 1);                        /* every drop counter */
    assert_int_equal(x.s[1].packets, 600);
    assert_int_equal(x.s[1].outbox_batches, 6);
    assert_int_equal(x.s[1].interval_ms, 500);
    memset(&x, 0, sizeof x);                                            /* [start, end) */
    assert_int_equal(store_stats_history(st, t0 + 1, t0 + 10 * SEC, on_sample, &x), STORE_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.s[0].time_us, t0 + SEC / 2);
    store_close(st);
}

static void prunes_after_eight_days(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_db(path, true);
    int64_t now = now_us();
    /* the first put of a handle prunes (then at most every STORE_STATS_PRUNE_US) */
    put(st, "gone", now - 9 * DAY, 1, 0, 0, 0, 0);          /* its newest: kept */
    store_close(st);
    st = open_db(path, false);
    put(st, "s1", now - 9 * DAY, 1, 0, 0, 0, 0);
    put(st, "s1", now - 7 * DAY, 2, 0, 0, 0, 0);
    store_close(st);
    st = open_db(path, false);
    put(st, "s1", now, 3, 0, 0, 0, 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sensor_stats WHERE sensor = 's1'"), 2);
    assert_int_equal(sql_int(path, "SELECT min(time_us) FROM sensor_stats WHERE sensor = 's1'"),
                     now - 7 * DAY);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sensor_stats WHERE sensor = 'gone'"), 1);
    store_close(st);
}

static void adds_columns_to_an_older_table(void **state)
{
    (void)state;
    char path[256];
    struct store *st = open_db(path, true);
    put(st, "s1", now_us(), 5, 0, 0, 0, 42);
    store_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE sensor_stats DROP COLUMN oldest_packet_us;"
                                  "ALTER TABLE sensor_stats DROP COLUMN stats_interval_ms;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = open_db(path, false);                              /* the columns come back */
    struct docs d = { 0 };
    assert_int_equal(store_latest_stats(st, on_doc, &d), STORE_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(field(d.o[0], "oldest_packet_us"), 0);             /* NULL: not reported */
    json_object_put(d.o[0]);
    put(st, "s1", now_us() + SEC, 6, 0, 0, 0, 43);
    assert_int_equal(sql_int(path, "SELECT max(oldest_packet_us) FROM sensor_stats"), 43);
    store_close(st);
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(tmpdir, sizeof tmpdir, NULL, "ashiato-stats");
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
        cmocka_unit_test(latest_and_history),
        cmocka_unit_test(prunes_after_eight_days),
        cmocka_unit_test(adds_columns_to_an_older_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
