/* test_detect_link.c -- aggregator/detect/'s cross-sensor linking on synthetic records
 * through the real engine (no mock): detect_feed_batch says what detect_feed says, the link
 * sink names both records of a flow two sensors saw, such a flow counts once, and session
 * ids of any length link in full (none cut to a fixed size, none confused with another). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"
#include "detect_test_util.h"

static char mix_ids[6000][16], mix_cids[6000][16];

static size_t mixed_stream(struct detect_record *v, size_t n)
{
    uint8_t scanner[16], client[16], server[16], dst[16];
    ip4(scanner, 198, 18, 3, 250);
    ip4(server, 198, 18, 100, 10);
    for (size_t i = 0; i < n; i++) {
        int64_t t = T0 + (int64_t)i * (S / 10);
        unsigned k = (unsigned)(i % 5);
        ip4(client, 198, 18, 1 + (unsigned)(i % 6), 20 + (unsigned)(i % 40));
        ip4(dst, 198, 18, 100, 1 + (unsigned)(i / 5 % 200));
        if (k == 0)
            v[i] = tcp("sensor-3", scanner, server, (uint16_t)(1 + i % 1000), "REJ", t);
        else if (k == 1)
            v[i] = tcp("sensor-3", scanner, dst, 445, "S0", t);
        else if (k == 2)
            v[i] = tcp(i % 2 ? "sensor-1" : "sensor-2", client, server, 22, "SF", t);
        else
            v[i] = tcp("sensor-4", client, dst, 80, i % 7 ? "SF" : "S0", t);
        snprintf(mix_ids[i], sizeof mix_ids[i], "m-%zu", i);
        snprintf(mix_cids[i], sizeof mix_cids[i], "1:c%zu", k == 2 ? i / 10 : i);
        v[i].session_id = mix_ids[i];
        v[i].community_id = mix_cids[i];
    }
    return n;
}

struct links {
    char a[64][48], b[64][48];
    size_t n, total;
};

static void link_sink(const char *id_a, const char *sensor_a, int64_t start_a,
                      const char *id_b, const char *sensor_b, int64_t start_b, void *ctx)
{
    struct links *l = ctx;
    assert_true(start_a >= T0 && start_b >= start_a - S && start_b <= start_a + S);
    if (l->n < 64) {
        snprintf(l->a[l->n], sizeof l->a[0], "%s@%s", id_a, sensor_a);
        snprintf(l->b[l->n], sizeof l->b[0], "%s@%s", id_b, sensor_b);
        l->n++;
    }
    l->total++;
}

/* detect_feed_batch (prefetching the records ahead) says what detect_feed says, record by
 * record: the same stats, the same final alerts, the same links */
static void batch_feeds_as_single(void **s)
{
    (void)s;
    static struct detect_record v[6000];
    static struct got g1, g2;
    static struct links l1, l2;
    struct detect_config c;
    campus(&c);
    size_t n = mixed_stream(v, 6000);
    struct detect *d1 = engine(&c, &g1), *d2 = engine(&c, &g2);
    memset(&l1, 0, sizeof l1);
    memset(&l2, 0, sizeof l2);
    detect_set_link_sink(d1, link_sink, &l1);
    detect_set_link_sink(d2, link_sink, &l2);
    for (size_t i = 0; i < n; i++)
        detect_feed(d1, &v[i]);
    const struct detect_record *run[997];
    for (size_t i = 0; i < n;) {        /* runs of odd sizes, as the queue hands them */
        size_t k = 0;
        for (; k < 997 && i < n && k < 1 + i % 997; k++, i++)
            run[k] = &v[i];
        detect_feed_batch(d2, run, k);
    }
    detect_flush(d1);
    detect_flush(d2);
    struct detect_stats a = detect_stats(d1), b = detect_stats(d2);
    assert_int_equal(a.records, b.records);
    assert_int_equal(a.linked, b.linked);
    assert_true(a.linked > 0);
    assert_int_equal(a.attempts_failed, b.attempts_failed);
    assert_int_equal(a.attempts_ok, b.attempts_ok);
    assert_int_equal(a.alerts, b.alerts);
    assert_int_equal(g1.n, g2.n);
    assert_true(count_rule(&g1, "port_scan") >= 1 && count_rule(&g1, "address_scan") >= 1);
    for (size_t i = 0; i < g1.n; i++) {
        assert_string_equal(g1.v[i].id, g2.v[i].id);
        assert_int_equal(g1.v[i].sessions, g2.v[i].sessions);
        assert_int_equal(g1.v[i].total_hosts, g2.v[i].total_hosts);
        assert_int_equal(g1.v[i].total_ports, g2.v[i].total_ports);
    }
    assert_int_equal(l1.total, a.linked);       /* every cross-sensor copy is named */
    assert_int_equal(l1.total, l2.total);
    for (size_t i = 0; i < l1.n; i++) {
        assert_string_equal(l1.a[i], l2.a[i]);
        assert_string_equal(l1.b[i], l2.b[i]);
    }
    detect_free(d1);
    detect_free(d2);
}

/* the link sink names both records of a flow seen by two sensors, and nothing else: not the
 * same sensor's later record, not a copy beyond link_skew */
static void link_sink_names_pairs(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    static struct links l;
    memset(&l, 0, sizeof l);
    campus(&c);
    struct detect *d = engine(&c, &g);
    detect_set_link_sink(d, link_sink, &l);
    uint8_t a[16], b[16];
    ip4(a, 198, 18, 2, 9);
    ip4(b, 198, 18, 1, 9);
    struct detect_record r = tcp("sensor-2", a, b, 445, "SF", T0);
    r.session_id = "first";
    r.community_id = "1:pair";
    detect_feed(d, &r);
    r.sensor = "sensor-2";              /* the same sensor's later record of it */
    r.session_id = "again";
    detect_feed(d, &r);
    r.sensor = "sensor-1";
    r.session_id = "second";
    r.start_us = T0 + 200000;
    detect_feed(d, &r);
    r.session_id = "late";              /* another flow on the same 5-tuple, 5 s later */
    r.start_us = T0 + 5 * S;
    detect_feed(d, &r);
    assert_int_equal(l.total, 1);
    assert_string_equal(l.a[0], "first@sensor-2");
    assert_string_equal(l.b[0], "second@sensor-1");
    detect_free(d);
}

static void linked_flow_counts_once(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(a, 198, 18, 2, 9);
    ip4(b, 198, 18, 1, 9);
    char cid[16];
    for (unsigned i = 0; i < 10; i++) {
        snprintf(cid, sizeof cid, "1:flow%u", i);
        struct detect_record r = tcp("sensor-2", a, b, 445, "SF", T0 + i * S);
        r.community_id = cid;
        detect_feed(d, &r);
        r = tcp("sensor-1", a, b, 445, "SF", T0 + i * S + 150);
        r.community_id = cid;
        detect_feed(d, &r);
        r = tcp("sensor-1", a, b, 445, "SF", T0 + i * S + 3 * S);   /* beyond 1 s skew */
        r.community_id = cid;
        detect_feed(d, &r);
    }
    struct detect_stats st = detect_stats(d);
    assert_int_equal(st.linked, 10);
    assert_int_equal(st.attempts_ok, 20);
    detect_free(d);
}

struct long_links {
    char a[8][320], b[8][320];
    size_t n;
};

static void long_link_sink(const char *id_a, const char *sensor_a, int64_t start_a,
                           const char *id_b, const char *sensor_b, int64_t start_b, void *ctx)
{
    struct long_links *l = ctx;
    (void)start_a;
    (void)start_b;
    assert_true(l->n < 8);
    assert_string_equal(sensor_a, "sensor-2");
    assert_string_equal(sensor_b, "sensor-1");
    snprintf(l->a[l->n], sizeof l->a[0], "%s", id_a);
    snprintf(l->b[l->n], sizeof l->b[0], "%s", id_b);
    l->n++;
}

/* Session ids of 39 characters and more (another sensor's format, JSON input) link in full:
 * ids 39, 40, 41, 100 and 300 characters long that share their first 60 characters, each
 * flow seen by two sensors, are named whole and each with its own pair. A 5-tuple reused by a
 * later flow replaces a long id (ASan: nothing leaks). */
static void long_session_ids_link_in_full(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    static struct long_links l;
    memset(&l, 0, sizeof l);
    campus(&c);
    struct detect *d = engine(&c, &g);
    detect_set_link_sink(d, long_link_sink, &l);
    static const size_t lens[] = { 39, 40, 41, 100, 300 };
    static char ida[5][320], idb[5][320], cid[5][16];
    uint8_t a[16], b[16];
    ip4(a, 198, 18, 2, 9);
    ip4(b, 198, 18, 1, 9);
    for (size_t i = 0; i < 5; i++) {
        memset(ida[i], 'x', lens[i]);           /* the same 60 first characters for all */
        memset(idb[i], 'x', lens[i]);
        ida[i][lens[i]] = idb[i][lens[i]] = '\0';
        ida[i][lens[i] - 1] = (char)('a' + i);  /* they differ at their last character only */
        idb[i][lens[i] - 1] = (char)('A' + i);
        snprintf(cid[i], sizeof cid[i], "1:long%zu", i);
        struct detect_record r = tcp("sensor-2", a, b, 445, "SF", T0 + (int64_t)i * S);
        r.sport = (uint16_t)(50000 + i);
        r.session_id = ida[i];
        r.community_id = cid[i];
        detect_feed(d, &r);
        r.sensor = "sensor-1";
        r.session_id = idb[i];
        r.start_us += 100000;
        detect_feed(d, &r);
    }
    assert_int_equal(l.n, 5);
    assert_int_equal(detect_stats(d).linked, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(strlen(l.a[i]), lens[i]);
        assert_string_equal(l.a[i], ida[i]);
        assert_string_equal(l.b[i], idb[i]);
    }
    /* a later flow on flow 4's 5-tuple: its long id replaces the one kept */
    struct detect_record r = tcp("sensor-2", a, b, 445, "SF", T0 + 30 * S);
    r.sport = 50004;
    r.session_id = idb[3];
    r.community_id = cid[4];
    detect_feed(d, &r);
    r.sensor = "sensor-1";
    r.session_id = ida[2];
    r.start_us += 200000;
    detect_feed(d, &r);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.a[5], idb[3]);
    assert_string_equal(l.b[5], ida[2]);
    detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_feeds_as_single),
        cmocka_unit_test(link_sink_names_pairs),
        cmocka_unit_test(linked_flow_counts_once),
        cmocka_unit_test(long_session_ids_link_in_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
