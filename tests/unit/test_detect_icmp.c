/* test_detect_icmp.c -- the detection library's use of ICMP errors (issue 11 point 2): a
 * record the sensor marked answered by an ICMP error (detect_record.icmp_error, from
 * ashiato.icmp_error) is a sure failure, counted once, and feeds TRW on UDP/SCTP; without
 * the mark an unanswered UDP datagram is a failure for the scan counters but not for TRW; a
 * reply still makes success; discovery ports stay out. Synthetic records through the real
 * engine (detect_new/detect_feed/detect_flush): nothing is mocked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"

#define S 1000000LL
#define T0 (1632830400LL * S)

struct got {
    char rules[32][24];
    uint64_t failures[32], successes[32];
    size_t n;
};

static void sink(const struct detect_alert *a, bool final, void *ctx)
{
    struct got *g = ctx;
    if (!final || g->n >= 32)
        return;
    snprintf(g->rules[g->n], sizeof g->rules[0], "%s", a->rule);
    g->failures[g->n] = a->failures;
    g->successes[g->n++] = a->successes;
}

static int find(const struct got *g, const char *rule)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->rules[i], rule))
            return (int)i;
    return -1;
}

static char idbuf[64][16];

/* a UDP (or SCTP) record 198.51.100.7:40000 -> 203.0.113.<host>:port, unanswered (S0) or
 * answered, marked by an ICMP error of type `icmp` (0: none) */
static struct detect_record rec(uint8_t proto, unsigned host, uint16_t port, bool answered,
                                uint8_t icmp, int64_t t)
{
    static unsigned seq;
    uint8_t s[4] = { 198, 51, 100, 7 }, d[4] = { 203, 0, 113, (uint8_t)host };
    struct detect_record r;
    memset(&r, 0, sizeof r);
    char *id = idbuf[seq++ % 64];
    snprintf(id, 16, "id-%u", seq);
    r.sensor = "s1";
    r.session_id = id;
    r.community_id = "";
    r.conn_state = answered ? "SF" : "S0";
    r.start_us = r.end_us = t;
    detect_addr_set(r.src, s, 4);
    detect_addr_set(r.dst, d, 4);
    r.sport = 40000;
    r.dport = port;
    r.proto = proto;
    r.src_packets = 1;
    r.dst_packets = answered;
    r.icmp_error = icmp;
    return r;
}

static struct detect *engine(struct got *g)
{
    struct detect_config c;
    char err[ASH_ERR_LEN];
    detect_config_defaults(&c);
    c.max_sources = 4096;
    memset(g, 0, sizeof *g);
    struct detect *d = detect_new(&c, sink, g, err);
    assert_non_null(d);
    return d;
}

/* 40 hosts on UDP 161: with the ICMP mark TRW walks (scanner) and the address scan counts
 * each probe once; without it, only the address scan */
static void answered_sweep_feeds_trw(void **state)
{
    (void)state;
    for (int marked = 0; marked < 2; marked++) {
        struct got g;
        struct detect *d = engine(&g);
        for (unsigned h = 1; h <= 40; h++) {
            struct detect_record r = rec(17, h, 161, false, marked ? 3 : 0, T0 + h * S / 10);
            detect_feed(d, &r);
        }
        struct detect_stats st = detect_stats(d);
        assert_int_equal(st.attempts_failed, 40);
        detect_flush(d);
        int a = find(&g, "address_scan"), s = find(&g, "scanner");
        assert_true(a >= 0);
        assert_int_equal(g.failures[a], 40);
        if (marked) {
            assert_true(s >= 0);
            assert_int_equal(g.successes[s], 0);
        } else {
            assert_int_equal(s, -1);
        }
        detect_free(d);
    }
}

/* the mark makes a failure only of a record nobody answered; SCTP counts like UDP; a
 * discovery port stays out whatever the mark */
static void mark_rules(void **state)
{
    (void)state;
    struct got g;
    struct detect *d = engine(&g);
    struct detect_record r = rec(17, 1, 53, true, 3, T0);      /* answered, then an error */
    detect_feed(d, &r);
    struct detect_stats st = detect_stats(d);
    assert_int_equal(st.attempts_ok, 1);
    assert_int_equal(st.attempts_failed, 0);
    r = rec(132, 2, 2905, false, 3, T0 + S);                   /* SCTP, answered by ICMP */
    r.conn_state = "";                                         /* not even S0 */
    detect_feed(d, &r);
    st = detect_stats(d);
    assert_int_equal(st.attempts_failed, 1);
    r = rec(17, 3, 5353, false, 3, T0 + 2 * S);                /* mDNS: discovery */
    detect_feed(d, &r);
    st = detect_stats(d);
    assert_int_equal(st.attempts_failed, 1);
    assert_int_equal(st.attempts_unknown, 1);
    detect_flush(d);
    assert_int_equal(g.n, 0);
    detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answered_sweep_feeds_trw),
        cmocka_unit_test(mark_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
