/* test_detect.c -- aggregator/detect/: each detector on synthetic records built here (the
 * engine's real code; no mock): outcomes keyed on the initiator, backscatter, zero-packet
 * records, address and port scans (one alert that grows), TRW (and a source that changes
 * behaviour), lateral movement (benign cross-department clients vs a sweep, reported once),
 * spikes on record time (a sensor offline for an hour), address policy, approved sources,
 * cross-sensor counting, service discovery, config parsing, and 1M distinct sources (state
 * under its cap, the cap counter moving). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"

#define S 1000000LL
#define T0 (1632830400LL * S)   /* a whole hour */

struct got {
    struct detect_alert v[256];
    size_t n;
    size_t updates;
};

static void sink(const struct detect_alert *a, bool final, void *ctx)
{
    struct got *g = ctx;
    if (!final) {
        g->updates++;
        return;
    }
    if (g->n < 256)
        g->v[g->n++] = *a;
}

static size_t count_rule(const struct got *g, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += !strcmp(g->v[i].rule, rule);
    return n;
}

static const struct detect_alert *find_rule(const struct got *g, const char *rule)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->v[i].rule, rule))
            return &g->v[i];
    return NULL;
}

static void ip4(uint8_t out[16], unsigned a, unsigned b, unsigned c, unsigned d)
{
    uint8_t v[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };
    detect_addr_set(out, v, 4);
}

static char ids[64];

/* a TCP record: state "S0" (no answer), "REJ", "SF" ... */
static struct detect_record tcp(const char *sensor, const uint8_t src[16], const uint8_t dst[16],
                                uint16_t dport, const char *state, int64_t t)
{
    static unsigned seq;
    struct detect_record r;
    memset(&r, 0, sizeof r);
    snprintf(ids, sizeof ids, "id-%u", ++seq);
    r.sensor = sensor;
    r.session_id = ids;
    r.community_id = "";
    r.conn_state = state;
    r.start_us = r.end_us = t;
    memcpy(r.src, src, 16);
    memcpy(r.dst, dst, 16);
    r.sport = 40000;
    r.dport = dport;
    r.proto = 6;
    r.src_packets = 1;
    bool ok = !strcmp(state, "SF") || !strcmp(state, "S1") || !strcmp(state, "RSTO");
    r.dst_packets = ok ? 3 : !strcmp(state, "REJ");
    r.dst_bytes = ok ? 100 : 0;
    return r;
}

static struct detect *engine(struct detect_config *c, struct got *g)
{
    char err[ASH_ERR_LEN];
    memset(g, 0, sizeof *g);
    struct detect *d = detect_new(c, sink, g, err);
    assert_non_null(d);
    return d;
}

static void campus(struct detect_config *c)
{
    char err[ASH_ERR_LEN];
    detect_config_defaults(c);
    char seg[16], sen[16], pfx[32];
    for (int i = 1; i <= 6; i++) {
        snprintf(seg, sizeof seg, "dept-%d", i);
        snprintf(pfx, sizeof pfx, "198.18.%d.0/24", i);
        assert_int_equal(detect_config_set(c, "segments", seg, pfx, err), 0);
    }
    assert_int_equal(detect_config_set(c, "segments", "servers", "198.18.100.0/24", err), 0);
    for (int i = 1; i <= 6; i++) {
        snprintf(seg, sizeof seg, "dept-%d", i);
        snprintf(sen, sizeof sen, "sensor-%d", i);
        assert_int_equal(detect_config_set(c, "sensors", sen, seg, err), 0);
    }
}

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

static void port_scan_one_alert_that_grows(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(a, 203, 0, 113, 5);
    ip4(b, 198, 51, 100, 9);
    for (uint16_t p = 1; p <= 14; p++) {
        struct detect_record r = tcp("s", a, b, p, p % 2 ? "S0" : "REJ", T0 + p * S);
        detect_feed(d, &r);
    }
    detect_tick(d, 0);
    assert_int_equal(count_rule(&g, "port_scan"), 0);
    assert_int_equal(g.updates, 0);            /* 14 ports: below 15 */
    for (uint16_t p = 15; p <= 200; p++) {
        struct detect_record r = tcp("s", a, b, p, "S0", T0 + 20 * S + p * 100000);
        detect_feed(d, &r);
        if (p % 50 == 0)
            detect_tick(d, 0);
    }
    detect_flush(d);
    assert_int_equal(count_rule(&g, "port_scan"), 1);
    const struct detect_alert *x = find_rule(&g, "port_scan");
    assert_int_equal(x->total_ports, 200);
    assert_int_equal(x->n_ports, 20);          /* capped at max_targets */
    assert_int_equal(x->failures, 200);
    assert_int_equal(x->start_us, T0 + S);
    assert_true(g.updates >= 2);               /* sent while it grew, same id */
    detect_free(d);
}

static void address_scan_thresholds(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t ext[16], in[16], dst[16];
    ip4(ext, 203, 0, 113, 5);
    ip4(in, 198, 18, 3, 50);
    /* 30 hosts on 445: external source (threshold 25) alerts; internal (100) does not */
    for (unsigned h = 1; h <= 30; h++) {
        ip4(dst, 198, 18, 1, h);
        struct detect_record r = tcp("sensor-1", ext, dst, 445, "S0", T0 + h * S);
        detect_feed(d, &r);
        r = tcp("sensor-3", in, dst, 445, "S0", T0 + h * S);
        detect_feed(d, &r);
    }
    detect_flush(d);
    size_t ext_alerts = 0, in_alerts = 0;
    for (size_t i = 0; i < g.n; i++)
        if (!strcmp(g.v[i].rule, "address_scan")) {
            ext_alerts += !memcmp(g.v[i].source, ext, 16);
            in_alerts += !memcmp(g.v[i].source, in, 16);
        }
    assert_int_equal(ext_alerts, 1);
    assert_int_equal(in_alerts, 0);
    detect_free(d);
}

static void slow_probes_leave_the_window(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(a, 203, 0, 113, 5);
    ip4(b, 198, 51, 100, 9);
    /* one port every 30 s: never 15 inside 5 minutes (TRW sees one host only) */
    for (uint16_t p = 1; p <= 60; p++) {
        struct detect_record r = tcp("s", a, b, p, "S0", T0 + p * 30 * S);
        detect_feed(d, &r);
    }
    detect_flush(d);
    assert_int_equal(count_rule(&g, "port_scan"), 0);
    detect_free(d);
}

static void backscatter_and_zero_packets_never_count(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t victim[16], dst[16];
    ip4(victim, 202, 229, 120, 98);
    for (unsigned h = 1; h <= 200; h++) {
        ip4(dst, 192, 150, h / 200, h % 200);
        /* the sensor made the SYN-ACK's receiver the source: OTH, no SYN seen */
        struct detect_record r = tcp("s", dst, victim, 80, "OTH", T0 + h * S);
        detect_feed(d, &r);
        r = tcp("s", victim, dst, 80, "RSTRH", T0 + h * S);
        detect_feed(d, &r);
        r = tcp("s", victim, dst, 1000 + h, "S0", T0 + h * S);
        r.src_packets = r.dst_packets = 0;      /* zero-packet record */
        detect_feed(d, &r);
    }
    detect_flush(d);
    assert_int_equal(g.n, 0);
    struct detect_stats st = detect_stats(d);
    assert_int_equal(st.ignored_zero, 200);
    assert_int_equal(st.attempts_failed, 0);
    detect_free(d);
}

static void trw_flags_and_changes_behaviour(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], dst[16];
    ip4(a, 203, 0, 113, 77);
    /* 40 successful first contacts: benign (the walk restarts at 0 each time it says so) */
    for (unsigned h = 1; h <= 40; h++) {
        ip4(dst, 198, 51, 100, h);
        struct detect_record r = tcp("s", a, dst, 443, "SF", T0 + h * S);
        detect_feed(d, &r);
    }
    detect_tick(d, 0);
    assert_int_equal(count_rule(&g, "scanner"), 0);
    assert_int_equal(g.updates, 0);
    /* then it changes: 4 failed first contacts (ln 4 each > ln 99) make it a scanner */
    for (unsigned h = 1; h <= 4; h++) {
        ip4(dst, 198, 51, 101, h);
        struct detect_record r = tcp("s", a, dst, 22, "S0", T0 + 100 * S + h * S);
        detect_feed(d, &r);
    }
    detect_flush(d);
    assert_int_equal(count_rule(&g, "scanner"), 1);
    const struct detect_alert *x = find_rule(&g, "scanner");
    assert_int_equal(x->failures, 4);
    assert_int_equal(x->total_hosts, 4);
    detect_free(d);
}

static void service_discovery_is_no_attempt(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], mdns[16], ssdp[16], bcast[16];
    ip4(a, 198, 18, 1, 20);
    ip4(mdns, 224, 0, 0, 251);
    ip4(ssdp, 239, 255, 255, 250);
    ip4(bcast, 198, 18, 1, 255);
    for (unsigned i = 0; i < 500; i++) {
        struct detect_record r = tcp("sensor-1", a, i % 3 == 0 ? mdns : i % 3 == 1 ? ssdp : bcast,
                                     (uint16_t)(5353 + i % 3), "S0", T0 + i * S / 10);
        r.proto = 17;
        r.dport = i % 3 == 0 ? 5353 : i % 3 == 1 ? 1900 : (uint16_t)(137 + i % 2);
        r.dst_packets = 0;
        detect_feed(d, &r);
        /* NetBIOS name queries to many unicast hosts (UDP 137), never answered */
        uint8_t h[16];
        ip4(h, 198, 18, 1, 1 + i % 200);
        r = tcp("sensor-1", a, h, 137, "S0", T0 + i * S / 10);
        r.proto = 17;
        r.dst_packets = 0;
        detect_feed(d, &r);
    }
    detect_flush(d);
    assert_int_equal(g.n, 0);
    detect_free(d);
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
    for (size_t i = 0; i < g.n; i++)        /* the benign clients raised nothing */
        assert_true(!memcmp(g.v[i].source, sweeper, 16));
    detect_free(d);
}

/* a mixed stream (a port scan, an address sweep, flows seen by two sensors, a source that
 * answers, benign clients) of n records into v; strings in the static arrays below */
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

static void spike_on_record_time(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t cl[16], srv[16], burst[16];
    ip4(srv, 203, 0, 113, 80);
    ip4(burst, 198, 18, 4, 66);
    /* 90 minutes of dept-4 at 200 sessions a minute; sensor-4's first hour arrives only
     * after sensor-1 has sent its 90 minutes (offline for an hour, then its journal), and a
     * burst of 2000 sessions from one host at minute 70 */
    for (int pass = 0; pass < 2; pass++)
        for (int min = 0; min < 90; min++) {
            const char *sensor = pass == 0 ? "sensor-1" : "sensor-4";
            unsigned dept = pass == 0 ? 1 : 4;
            for (unsigned k = 0; k < 200; k++) {
                ip4(cl, 198, 18, dept, 10 + k % 50);
                struct detect_record r = tcp(sensor, cl, srv, 443, "SF",
                                             T0 + min * 60 * S + k * 300000);
                detect_feed(d, &r);
            }
            if (pass == 1 && min == 70)
                for (unsigned k = 0; k < 2000; k++) {
                    struct detect_record r = tcp(sensor, burst, srv, 443, "SF",
                                                 T0 + min * 60 * S + k * 20000);
                    detect_feed(d, &r);
                }
            detect_tick(d, 0);
        }
    detect_flush(d);
    assert_int_equal(count_rule(&g, "session_spike"), 1);
    const struct detect_alert *x = find_rule(&g, "session_spike");
    assert_string_equal(x->prefix, "dept-4");
    assert_int_equal(x->start_us, T0 + 70 * 60 * S);
    assert_memory_equal(x->sources[0], burst, 16);
    assert_int_equal(x->n_sources, 1);
    assert_int_equal(x->n_evidence, 1);
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_free(d);
}

struct spike_seen {
    size_t updates, finals;
    uint64_t sessions;          /* of the dept-1 spike, as last sent */
    char id[40];
};

static void spike_sink(const struct detect_alert *a, bool final, void *ctx)
{
    struct spike_seen *w = ctx;
    if (strcmp(a->rule, "session_spike"))
        return;
    w->finals += final;
    w->updates += !final;
    if (!strcmp(a->prefix, "dept-1")) {
        if (w->id[0])
            assert_string_equal(w->id, a->id);  /* one alert that grows, never a second */
        snprintf(w->id, sizeof w->id, "%s", a->id);
        w->sessions = a->sessions;
    }
}

/* 200 sessions a minute of dept-dept at sensor, minutes [from, to), arriving at wall (each
 * record's own time + lag when lag >= 0; at now otherwise); a burst of n from one host */
static void feed_minutes(struct detect *d, const char *sensor, unsigned dept, int from, int to,
                         int64_t lag, int64_t now, int burst_min, unsigned n)
{
    uint8_t cl[16], srv[16], burst[16];
    ip4(srv, 203, 0, 113, 80);
    ip4(burst, 198, 18, dept, 66);
    for (int min = from; min < to; min++) {
        for (unsigned k = 0; k < 200 + (min == burst_min ? n : 0); k++) {
            bool b = k >= 200;
            ip4(cl, 198, 18, dept, 10 + k % 50);
            int64_t t = T0 + min * 60 * S + (b ? (k - 200) * 20000 : k * 300000);
            struct detect_record r = tcp(sensor, b ? burst : cl, srv, 443, "SF", t);
            detect_set_wall(d, lag >= 0 ? t + lag : now);
            detect_feed(d, &r);
        }
        detect_tick(d, 0);
    }
}

/* A spike in the last minute of traffic is raised by the wall clock once the bin's end +
 * spike_grace has passed, with no newer record; the bin stays open to late records (counted
 * into the same alert), and a sensor back after an hour still has its bins judged on record
 * time (its spike found, no record late). */
static void spike_on_wall_clock(void **s)
{
    (void)s;
    struct detect_config c;
    struct spike_seen w;
    char err[ASH_ERR_LEN];
    memset(&w, 0, sizeof w);
    campus(&c);
    struct detect *d = detect_new(&c, spike_sink, &w, err);
    assert_non_null(d);
    /* sensor-1 live (arrival 2 s after start) for 20 minutes, the burst in minute 19 */
    feed_minutes(d, "sensor-1", 1, 0, 20, 2 * S, 0, 19, 2000);
    int64_t bin_end = T0 + 20 * 60 * S;
    detect_set_wall(d, bin_end + 60 * S);           /* a minute after: not yet */
    detect_tick(d, 0);
    assert_int_equal(w.updates, 0);
    detect_set_wall(d, bin_end + c.spike_grace_us - S);
    detect_tick(d, 0);
    assert_int_equal(w.updates, 0);
    detect_set_wall(d, bin_end + c.spike_grace_us + 3 * S);   /* end + grace (+ the 2 s lag) */
    detect_tick(d, 0);
    assert_int_equal(w.updates, 1);
    assert_int_equal(w.sessions, 2200);
    assert_int_equal(detect_stats(d).wall_judged, 1);
    detect_tick(d, 0);                              /* judged once, not at every tick */
    assert_int_equal(detect_stats(d).wall_judged, 1);
    /* 100 late records of minute 19 arrive now: still counted, into the same alert */
    uint8_t cl[16], srv[16];
    ip4(srv, 203, 0, 113, 80);
    for (unsigned k = 0; k < 100; k++) {
        ip4(cl, 198, 18, 1, 200 + k % 20);
        struct detect_record r = tcp("sensor-1", cl, srv, 443, "SF", T0 + 19 * 60 * S + k * S / 2);
        detect_feed(d, &r);
    }
    /* sensor-4 was offline for that hour: its journal arrives now, oldest first, with a burst
     * in its minute 15 */
    int64_t now = bin_end + c.spike_grace_us + 2 * S;
    feed_minutes(d, "sensor-4", 4, 0, 20, -1, now, 15, 2000);
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_flush(d);
    assert_int_equal(w.finals, 2);                  /* dept-1's and dept-4's */
    assert_int_equal(w.sessions, 2300);             /* the late ones joined dept-1's alert */
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_free(d);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_keys_and_errors),
        cmocka_unit_test(port_scan_one_alert_that_grows),
        cmocka_unit_test(address_scan_thresholds),
        cmocka_unit_test(slow_probes_leave_the_window),
        cmocka_unit_test(backscatter_and_zero_packets_never_count),
        cmocka_unit_test(trw_flags_and_changes_behaviour),
        cmocka_unit_test(service_discovery_is_no_attempt),
        cmocka_unit_test(lateral_sweep_once_benign_clients_never),
        cmocka_unit_test(linked_flow_counts_once),
        cmocka_unit_test(spike_on_wall_clock),
        cmocka_unit_test(batch_feeds_as_single),
        cmocka_unit_test(link_sink_names_pairs),
        cmocka_unit_test(spike_on_record_time),
        cmocka_unit_test(address_policy_per_sensor_prefix_hour),
        cmocka_unit_test(approved_sources_are_tagged_not_dropped),
        cmocka_unit_test(million_sources_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
