/* test_detect.c -- aggregator/detect/: the config keys and their errors, lateral movement
 * (benign cross-department clients vs a sweep, reported once), address policy, approved
 * sources, and 1M distinct sources (state under its cap, the cap counter moving), on
 * synthetic records through the real engine (no mock). The other detectors' tests:
 * test_detect_scan.c (scans, TRW, outcomes), test_detect_link.c (cross-sensor counting and
 * links), test_detect_spike.c (session-count spikes), test_detect_icmp.c (ICMP errors). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"
#include "detect_internal.h"
#include "detect_test_util.h"

static void config_keys_and_errors(void **s)
{
    (void)s;
    struct detect_config c;
    char err[ASH_ERR_LEN];
    campus(&c);
    assert_int_equal(c.n_segments, 7);
    assert_int_equal(detect_config_set(&c, "detect", "port_scan_ports", "5", err), 0);
    assert_int_equal(c.port_scan_ports, 5);
    assert_int_equal(detect_config_set(&c, "detect", "link_skew", "0.5", err), 0);
    assert_int_equal(c.link_skew_us, 500000);
    assert_int_equal(detect_config_set(&c, "detect", "port_scan_ports", "1", err), -1);
    assert_non_null(strstr(err, "port_scan_ports"));
    assert_int_equal(detect_config_set(&c, "detect", "nope", "1", err), -1);
    assert_int_equal(detect_config_set(&c, "sensors", "s9", "no-such-segment", err), -1);
    assert_int_equal(detect_config_set(&c, "segments", "x", "10.0.0.0/33", err), -1);
    assert_int_equal(detect_config_set(&c, "aggregator", "listen", "x", err), 1);
    struct detect_prefix p;
    uint8_t a[16];
    assert_int_equal(detect_prefix_parse("2001:db8:1::/48", &p), 0);
    uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
    assert_true(detect_prefix_match(&p, v6));
    ip4(a, 198, 18, 1, 7);
    assert_int_equal(detect_prefix_parse("198.18.1.0/24", &p), 0);
    assert_true(detect_prefix_match(&p, a));
    ip4(a, 198, 18, 2, 7);
    assert_false(detect_prefix_match(&p, a));
}
static void lateral_sweep_once_benign_clients_never(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    c.lateral_baseline_us = 600 * S;
    struct detect *d = engine(&c, &g);
    uint8_t cl[16], srv[16], h[16], sweeper[16];
    char sensor[16], dsensor[16];
    /* 15 minutes of benign use: clients of every department use every department's file
     * server (.5, SMB) and SSH server (.7), and the server segment's */
    int64_t t = T0;
    for (int min = 0; min < 15; min++)
        for (unsigned dept = 1; dept <= 6; dept++)
            for (unsigned k = 10; k < 30; k++) {
                t = T0 + min * 60 * S + (dept * 20 + k) * 100000;
                unsigned other = 1 + (dept + k) % 6;
                ip4(cl, 198, 18, dept, k);
                ip4(srv, 198, 18, other, k % 2 ? 5 : 7);
                snprintf(sensor, sizeof sensor, "sensor-%u", dept);
                struct detect_record r = tcp(sensor, cl, srv, k % 2 ? 445 : 22, "SF", t);
                detect_feed(d, &r);
                ip4(srv, 198, 18, 100, 20);
                r = tcp(sensor, cl, srv, 445, "SF", t);
                detect_feed(d, &r);
            }
    detect_tick(d, 0);
    assert_int_equal(count_rule(&g, "lateral_movement"), 0);
    /* then one host of dept 2 sweeps 445 and 3389 over depts 1, 4, 5; 3 succeed */
    ip4(sweeper, 198, 18, 2, 245);
    t += 60 * S;
    for (unsigned dept = 1; dept <= 5; dept++) {
        if (dept == 2 || dept == 3)
            continue;
        for (unsigned k = 100; k < 110; k++) {
            ip4(h, 198, 18, dept, k);
            snprintf(dsensor, sizeof dsensor, "sensor-%u", dept);
            struct detect_record r = tcp("sensor-2", sweeper, h, 445, k == 100 ? "SF" : "S0", t);
            detect_feed(d, &r);
            r = tcp(dsensor, sweeper, h, 445, k == 100 ? "SF" : "S0", t + 150);
            r.community_id = "";            /* no Community ID: not linked, counted again */
            detect_feed(d, &r);
            r = tcp("sensor-2", sweeper, h, 3389, "REJ", t + 50000);
            detect_feed(d, &r);
            t += 50000;
        }
    }
    detect_flush(d);
    size_t lat = 0;
    for (size_t i = 0; i < g.n; i++)
        if (!strcmp(g.v[i].rule, "lateral_movement")) {
            lat++;
            assert_memory_equal(g.v[i].source, sweeper, 16);
        }
    assert_int_equal(lat, 1);
    const struct detect_alert *x = find_rule(&g, "lateral_movement");
    /* segments dept-1, dept-4, dept-5 (indexes 0, 3, 4) and every sensor that saw it */
    assert_int_equal(x->segments, (1u << 0) | (1u << 3) | (1u << 4));
    assert_true(x->n_sensors >= 4);
    assert_true(x->successes >= 3 && x->failures >= 30);
    assert_int_equal(x->total_hosts, 30);
    /* its id whole: "lateral_movement-" and 24 hex digits (cut to 39 in a 40-byte field) */
    assert_int_equal(strlen(x->id), strlen("lateral_movement-") + 24);
    for (size_t i = 0; i < g.n; i++)        /* the benign clients raised nothing */
        assert_true(!memcmp(g.v[i].source, sweeper, 16));
    detect_free(d);
}

/* a mixed stream (a port scan, an address sweep, flows seen by two sensors, a source that
 * answers, benign clients) of n records into v; strings in the static arrays below */
static void address_policy_per_sensor_prefix_hour(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t priv[16], out[16], dept2[16];
    ip4(out, 203, 0, 113, 9);
    ip4(dept2, 198, 18, 2, 40);
    /* 8 SYNs from 192.168.1.1 at sensor-6 within an hour, then 2 an hour later */
    for (unsigned i = 0; i < 10; i++) {
        ip4(priv, 192, 168, 1, 1);
        struct detect_record r = tcp("sensor-6", priv, out, 80, "S0",
                                     T0 - T0 % (3600 * S) + (i < 8 ? i * 60 * S : 3700 * S + i * S));
        detect_feed(d, &r);
    }
    /* dept-2's prefix at sensor-3, toward the outside: neither end is dept-3's */
    struct detect_record r = tcp("sensor-3", dept2, out, 443, "SF", T0 + 10 * S);
    detect_feed(d, &r);
    /* a sensor with no segment is not judged */
    r = tcp("lab", priv, out, 80, "S0", T0);
    detect_feed(d, &r);
    detect_flush(d);
    assert_int_equal(count_rule(&g, "address_policy"), 3);
    size_t eight = 0, foreign = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (strcmp(g.v[i].rule, "address_policy"))
            continue;
        eight += g.v[i].sessions == 8 && !strcmp(g.v[i].prefix, "192.168.0.0/16");
        foreign += !strcmp(g.v[i].prefix, "segment dept-2") && !strcmp(g.v[i].sensors[0], "sensor-3");
    }
    assert_int_equal(eight, 1);
    assert_int_equal(foreign, 1);
    detect_free(d);
}

static void approved_sources_are_tagged_not_dropped(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    char err[ASH_ERR_LEN];
    detect_config_defaults(&c);
    assert_int_equal(detect_config_set(&c, "detect", "approved", "198.18.3.250, 10.9.0.0/16", err), 0);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(a, 198, 18, 3, 250);
    ip4(b, 198, 18, 100, 10);
    for (uint16_t p = 1; p <= 100; p++) {
        struct detect_record r = tcp("s", a, b, p, "REJ", T0 + p * 1000);
        detect_feed(d, &r);
    }
    detect_flush(d);
    const struct detect_alert *x = find_rule(&g, "port_scan");
    assert_non_null(x);
    assert_true(x->approved);
    char *doc = detect_alert_json(x, &c);
    assert_non_null(strstr(doc, "\"tags\":[\"approved\"]"));
    assert_non_null(strstr(doc, "\"rule\":{\"name\":\"port_scan\"}"));
    assert_non_null(strstr(doc, "\"kind\":\"alert\""));
    free(doc);
    detect_free(d);
}

/* 1M distinct sources, each one failed attempt: state stays under the cap (max_sources per
 * table) and the cap counter moves; memory measured by the engine's own accounting. */
static void million_sources_bounded(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(b, 198, 51, 100, 1);
    size_t peak = 0;
    for (uint32_t i = 0; i < 1000000; i++) {
        ip4(a, 10 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct detect_record r = tcp("s", a, b, (uint16_t)(1 + i % 1000), "S0", T0 + i * 100);
        detect_feed(d, &r);
        if (i % 100000 == 0) {
            size_t bytes = detect_stats(d).bytes;
            if (bytes > peak)
                peak = bytes;
        }
    }
    struct detect_stats st = detect_stats(d);
    if (st.bytes > peak)
        peak = st.bytes;
    printf("1M sources: state %zu bytes (%.1f MiB), entries %zu, cap hits %llu\n", peak,
           peak / 1048576.0, st.sources, (unsigned long long)st.cap_hits);
    assert_true(st.cap_hits > 0);
    assert_true(st.sources <= 7 * c.max_sources);
    /* documented bound (docs/detection.md): 400 MiB at the default max_sources */
    assert_true(peak < 400u * 1048576u);
    detect_free(d);
}

/* the compiled segment index (one probe per prefix length) answers what the linear
 * definitions answer: overlapping IPv4 and IPv6 prefixes, the same prefix under two segments
 * (the first listed wins), /1, /32 and /128, directed broadcasts; addresses drawn around the
 * prefixes and anywhere */
static void segment_index_is_linear(void **s)
{
    (void)s;
    static const char *const segs[][2] = {
        { "wide", "10.0.0.0/8, 2001:db8::/32" }, { "mid", "10.1.0.0/16, 2001:db8:1::/48" },
        { "narrow", "10.1.2.0/24, 10.1.3.0/25, 2001:db8:1:2::/64" },
        { "again", "10.1.2.0/24, 192.0.2.7/32" }, { "hosts", "2001:db8:1:2::5/128" },
        { "odd", "172.16.0.0/12, 100.64.0.0/10, 198.18.0.0/15" }, { "half6", "8000::/1" },
    };
    struct detect_config c;
    char err[ASH_ERR_LEN];
    detect_config_defaults(&c);
    for (size_t i = 0; i < ASH_ARRAY_LEN(segs); i++)
        assert_int_equal(detect_config_set(&c, "segments", segs[i][0], segs[i][1], err), 0);
    struct detect_segidx *x = malloc(sizeof *x);
    assert_non_null(x);
    detect_segidx_build(x, &c);
    uint64_t st = 42;
    size_t inside = 0, outside = 0, bcast = 0;
    for (int n = 0; n < 200000; n++) {
        uint8_t a[16];
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t r = st >> 11;
        const struct detect_prefix *p = &c.prefixes[r % c.n_prefixes];
        memcpy(a, p->addr, 16);                 /* near a prefix: its bits, then noise */
        unsigned keep = (unsigned)(r >> 8) % 129;
        for (unsigned b = keep; b < 128; b++)
            if ((r >> (b % 53)) & 1 || (r >> 50) == 7)    /* now and then all ones */
                a[b / 8] |= (uint8_t)(0x80u >> (b % 8));
            else
                a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
        if ((r & 7) == 0) {                     /* or anywhere, IPv4 or IPv6 */
            uint8_t v[16];
            for (int k = 0; k < 16; k++)
                v[k] = (uint8_t)(st >> (k * 4));
            detect_addr_set(a, v, (r & 8) ? 16 : 4);
        }
        int want = detect_segment_of(&c, a);
        assert_int_equal(detect_segidx_of(x, a), want);
        bool d = detect_addr_discovery(a, &c);
        assert_int_equal(detect_segidx_discovery(x, a), d);
        inside += want >= 0;
        outside += want < 0;
        bcast += d;
    }
    /* every answer was exercised */
    assert_true(inside > 50000 && outside > 10000 && bcast > 1000);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_keys_and_errors),
        cmocka_unit_test(lateral_sweep_once_benign_clients_never),
        cmocka_unit_test(address_policy_per_sensor_prefix_hour),
        cmocka_unit_test(approved_sources_are_tagged_not_dropped),
        cmocka_unit_test(million_sources_bounded),
        cmocka_unit_test(segment_index_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
