/* test_detect_scan.c -- aggregator/detect/'s scan detectors on synthetic records through
 * the real engine (no mock): outcomes keyed on the initiator, backscatter and zero-packet
 * records never counted, address and port scans (one alert that grows, thresholds, slow
 * probes leaving the window), TRW (and a source that changes behaviour), service discovery
 * never an attempt, evidence ids of any length kept whole. */
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

/* ids of i characters: "s" then digits of i and of k, padded with 'x' */
static void long_id(char *out, size_t len, unsigned k)
{
    snprintf(out, len + 1, "s%zu-%u-", len, k);
    size_t n = strlen(out);
    memset(out + n, 'x', len - n);
    out[len] = '\0';
}

/* evidence session ids of 40 characters and more are kept whole (an id cut short names no
 * session, and the analyst could not fetch it); ids that no longer fit are left out, never
 * cut; the alert's own id is whole too */
static void evidence_ids_whole(void **s)
{
    (void)s;
    static const size_t lens[] = { 39, 40, 41, 100, 300 };
    static char ids[40][301];
    struct detect_config c;
    struct got g;
    detect_config_defaults(&c);
    struct detect *d = engine(&c, &g);
    uint8_t a[16], b[16];
    ip4(a, 203, 0, 113, 7);
    ip4(b, 198, 51, 100, 7);
    for (unsigned p = 1; p <= 40; p++) {
        struct detect_record r = tcp("s", a, b, (uint16_t)p, "S0", T0 + p * S);
        long_id(ids[p - 1], lens[p % 5], p);
        r.session_id = ids[p - 1];
        detect_feed(d, &r);
    }
    detect_flush(d);
    const struct detect_alert *x = find_rule(&g, "port_scan");
    assert_non_null(x);
    assert_int_equal(x->n_evidence, 20);        /* max_targets */
    size_t longest = 0;
    for (uint32_t i = 0; i < x->n_evidence; i++) {
        const char *id = detect_alert_evidence_id(x, i);
        bool fed = false;
        for (unsigned p = 0; p < 40 && !fed; p++)
            fed = !strcmp(id, ids[p]);
        assert_true(fed);                       /* whole: equal to a fed record's id */
        if (strlen(id) > longest)
            longest = strlen(id);
    }
    assert_int_equal(longest, 300);
    assert_int_equal(strlen(x->id), strlen("port_scan-") + 24);
    char *doc = detect_alert_json(x, &c);
    assert_non_null(doc);
    for (uint32_t i = 0; i < x->n_evidence; i++)
        assert_non_null(strstr(doc, detect_alert_evidence_id(x, i)));
    free(doc);
    detect_free(d);

    /* ids of 1000 characters: as many as fit in DETECT_EVIDENCE_BYTES, each whole */
    static char big[40][1001];
    d = engine(&c, &g);
    for (unsigned p = 1; p <= 40; p++) {
        struct detect_record r = tcp("s", a, b, (uint16_t)p, "S0", T0 + p * S);
        long_id(big[p - 1], 1000, p);
        r.session_id = big[p - 1];
        detect_feed(d, &r);
    }
    detect_flush(d);
    x = find_rule(&g, "port_scan");
    assert_non_null(x);
    assert_int_equal(x->n_evidence, DETECT_EVIDENCE_BYTES / 1001);
    for (uint32_t i = 0; i < x->n_evidence; i++)
        assert_int_equal(strlen(detect_alert_evidence_id(x, i)), 1000);
    detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(port_scan_one_alert_that_grows),
        cmocka_unit_test(address_scan_thresholds),
        cmocka_unit_test(slow_probes_leave_the_window),
        cmocka_unit_test(backscatter_and_zero_packets_never_count),
        cmocka_unit_test(trw_flags_and_changes_behaviour),
        cmocka_unit_test(service_discovery_is_no_attempt),
        cmocka_unit_test(evidence_ids_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
