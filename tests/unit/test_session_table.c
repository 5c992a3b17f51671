/* test_session_table.c -- the session table against its header: keys both ways, initiator
 * rules, timeouts in Arkime's order, closing, segments, eviction when full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "session_table.h"

#define MAX_EMITTED 64

struct emitted {
    struct session s;
    enum session_end why;
};

static struct emitted out[MAX_EMITTED];
static int nout;

static void capture_emit(void *ctx, struct session *s, enum session_end why)
{
    (void)ctx;
    assert_true(nout < MAX_EMITTED);
    out[nout].s = *s;
    out[nout].why = why;
    nout++;
}

static const struct session_table_config defaults = {
    .max_sessions = 16, .tcp_timeout = 480, .udp_timeout = 60, .icmp_timeout = 10,
    .sctp_timeout = 60, .other_timeout = 60, .tcp_close_timeout = 5, .tcp_save_timeout = 480,
    .max_packets = 10000, .key_vlan = false,
};

static struct session_table *table(const struct session_table_config *cfg)
{
    char err[ASH_ERR_LEN];
    nout = 0;
    struct session_table *t = session_table_new(cfg, NULL, capture_emit, NULL, err);
    assert_non_null(t);
    return t;
}

static struct decoded pkt(uint8_t proto, uint8_t s4, uint16_t sport, uint8_t d4, uint16_t dport,
                          uint8_t flags, uint32_t payload)
{
    struct decoded d;
    memset(&d, 0, sizeof d);
    d.ip_version = 4;
    d.ip_proto = proto;
    d.src[10] = d.src[11] = 0xff;
    d.dst[10] = d.dst[11] = 0xff;
    d.src[12] = 10, d.src[15] = s4;
    d.dst[12] = 10, d.dst[15] = d4;
    d.has_ports = true;
    d.sport = sport;
    d.dport = dport;
    d.tcp_flags = flags;
    d.cap_len = 60 + payload;
    d.payload_len = d.payload_wire_len = payload;
    return d;
}

static struct session *feed(struct session_table *t, struct decoded d, int64_t ts, int *dir)
{
    struct session *s = session_table_packet(t, &d, ts, dir);
    session_table_after_packet(t, s, ts);
    return s;
}

#define SEC 1000000LL

static void both_directions_one_session(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    struct session *a = feed(t, pkt(6, 9, 40000, 1, 80, DECODE_TCP_SYN, 0), 1 * SEC, &dir);
    assert_int_equal(dir, 0);
    struct session *b = feed(t, pkt(6, 1, 80, 9, 40000, DECODE_TCP_SYN | DECODE_TCP_ACK, 0), 1 * SEC + 10, &dir);
    assert_ptr_equal(a, b);
    assert_int_equal(dir, 1);
    feed(t, pkt(6, 9, 40000, 1, 80, DECODE_TCP_ACK | DECODE_TCP_PSH, 100), 1 * SEC + 20, &dir);
    assert_int_equal(dir, 0);
    assert_int_equal(a->packets[0], 2);
    assert_int_equal(a->packets[1], 1);
    assert_int_equal(a->data_bytes[0], 100);
    assert_int_equal(a->syn, 1);
    assert_int_equal(a->syn_ack, 1);
    assert_int_equal(a->psh, 1);
    session_table_flush(t);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_FLUSH);
    session_table_free(t);
}

static void synack_first_makes_receiver_initiator(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    struct session *s = feed(t, pkt(6, 1, 80, 9, 40000, DECODE_TCP_SYN | DECODE_TCP_ACK, 0), SEC, &dir);
    assert_int_equal(dir, 1);                /* sent by the responder */
    assert_int_equal(s->packets[1], 1);
    assert_int_equal(s->packets[0], 0);
    /* the initiator is 10.0.0.9:40000 */
    const uint8_t *src = s->src_is_b ? s->key.b : s->key.a;
    assert_int_equal(src[15], 9);
    session_table_free(t);
}

static void udp_idle_timeout_after_packet(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    feed(t, pkt(17, 9, 5353, 1, 53, 0, 30), 100 * SEC, &dir);
    /* 60 s later exactly: not yet (Arkime: last + timeout < now) */
    feed(t, pkt(17, 7, 1000, 1, 53, 0, 30), 160 * SEC, &dir);
    assert_int_equal(nout, 0);
    feed(t, pkt(17, 7, 1000, 1, 53, 0, 30), 161 * SEC, &dir);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_IDLE);
    assert_int_equal(out[0].s.key.port_b == 5353 || out[0].s.key.port_a == 5353, 1);
    session_table_free(t);
}

static void stale_session_joins_then_segments(void **state)
{
    (void)state;
    /* Arkime's long-session.pcap: a packet 908 s later still joins, then the save timeout
     * cuts a segment, and the next packet starts segment 2 with the first time kept */
    struct session_table *t = table(&defaults);
    int dir;
    feed(t, pkt(6, 1, 54869, 2, 80, DECODE_TCP_SYN, 0), 1000 * SEC, &dir);
    feed(t, pkt(6, 1, 54869, 2, 80, DECODE_TCP_ACK | DECODE_TCP_PSH, 5), 1000 * SEC + 1, &dir);
    struct session *s = feed(t, pkt(6, 1, 54869, 2, 80, DECODE_TCP_ACK, 0), 1908 * SEC, &dir);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_SEGMENT);
    assert_int_equal(out[0].s.packets[0], 3);
    assert_int_equal(s->segment, 2);
    feed(t, pkt(6, 2, 80, 1, 54869, DECODE_TCP_RST, 0), 1908 * SEC + 2, &dir);
    assert_int_equal(s->packets[1], 1);
    assert_int_equal(s->packets[0], 0);
    assert_int_equal(s->first_us, 1000 * SEC);
    session_table_free(t);
}

/* Issue 14 S1: a SYN and its retransmission a second later, no answer. The save timer
 * (first packet + 480 s) fires before the idle timeout (last packet + 480 s): the two packets
 * are saved as a segment, and the empty rest of the session used to be emitted at its idle
 * expiry as a second record with 0 packets (segment 2, same start, new id). One record, with
 * both packets, and none with no packets, whatever ends the session. */
static void test_s1_unanswered_syn_one_record_never_empty(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    feed(t, pkt(6, 1, 40000, 2, 445, DECODE_TCP_SYN, 0), 1000 * SEC, &dir);
    feed(t, pkt(6, 1, 40000, 2, 445, DECODE_TCP_SYN, 0), 1001 * SEC, &dir);
    for (int64_t sec = 1002; sec <= 1700; sec++)      /* the clock runs past both timers */
        session_table_advance(t, sec * SEC);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].s.packets[0] + out[0].s.packets[1], 2);
    assert_int_equal(out[0].s.syn, 2);
    struct session_table_stats st;
    session_table_stats(t, &st);
    assert_int_equal(st.active, 0);

    /* the same at the end of input and at eviction: a segment's empty rest is no record */
    nout = 0;
    feed(t, pkt(6, 1, 40001, 2, 445, DECODE_TCP_SYN, 0), 2000 * SEC, &dir);
    feed(t, pkt(6, 1, 40001, 2, 445, DECODE_TCP_SYN, 0), 2001 * SEC, &dir);
    session_table_advance(t, 2481 * SEC);            /* saved as a segment, not yet idle */
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_SEGMENT);
    session_table_flush(t);
    assert_int_equal(nout, 1);
    for (int i = 0; i < nout; i++)
        assert_true(out[i].s.packets[0] + out[i].s.packets[1] > 0);
    session_table_free(t);
}

static void rst_closes_after_close_timeout(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    feed(t, pkt(6, 9, 40000, 1, 80, DECODE_TCP_SYN, 0), 10 * SEC, &dir);
    feed(t, pkt(6, 1, 80, 9, 40000, DECODE_TCP_RST | DECODE_TCP_ACK, 0), 10 * SEC, &dir);
    feed(t, pkt(17, 3, 1, 4, 2, 0, 1), 15 * SEC, &dir);
    assert_int_equal(nout, 0);
    feed(t, pkt(17, 3, 1, 4, 2, 0, 1), 16 * SEC, &dir);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_CLOSED);
    assert_int_equal(out[0].s.rst, 1);
    session_table_free(t);
}

static void new_syn_on_closing_session_restarts(void **state)
{
    (void)state;
    struct session_table *t = table(&defaults);
    int dir;
    feed(t, pkt(6, 9, 40000, 1, 80, DECODE_TCP_SYN, 0), 10 * SEC, &dir);
    feed(t, pkt(6, 1, 80, 9, 40000, DECODE_TCP_RST | DECODE_TCP_ACK, 0), 10 * SEC, &dir);
    struct session *s = feed(t, pkt(6, 9, 40000, 1, 80, DECODE_TCP_SYN, 0), 11 * SEC, &dir);
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_RESTART);
    assert_int_equal(s->packets[0], 1);
    assert_int_equal(s->first_us, 11 * SEC);
    session_table_free(t);
}

static void max_packets_cuts_segments(void **state)
{
    (void)state;
    struct session_table_config cfg = defaults;
    cfg.max_packets = 3;
    struct session_table *t = table(&cfg);
    int dir;
    for (int i = 0; i < 7; i++)
        feed(t, pkt(17, 9, 1000, 1, 2000, 0, 10), SEC + i, &dir);
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].s.packets[0], 3);
    assert_int_equal(out[0].s.segment, 1);
    assert_int_equal(out[1].s.segment, 2);
    session_table_flush(t);
    assert_int_equal(nout, 3);
    assert_int_equal(out[2].s.packets[0], 1);
    session_table_free(t);
}

static void full_table_evicts_oldest(void **state)
{
    (void)state;
    struct session_table_config cfg = defaults;
    cfg.max_sessions = 4;
    struct session_table *t = table(&cfg);
    int dir;
    for (int i = 0; i < 4; i++)
        feed(t, pkt(17, (uint8_t)(10 + i), 1000, 1, 53, 0, 10), SEC + i, &dir);
    feed(t, pkt(17, 10, 1000, 1, 53, 0, 10), SEC + 10, &dir);   /* refresh the first */
    feed(t, pkt(17, 50, 1000, 1, 53, 0, 10), SEC + 20, &dir);   /* a fifth flow */
    assert_int_equal(nout, 1);
    assert_int_equal(out[0].why, SESSION_END_EVICTED);
    const uint8_t *src = out[0].s.src_is_b ? out[0].s.key.b : out[0].s.key.a;
    assert_int_equal(src[15], 11);            /* the oldest idle, not the refreshed one */
    struct session_table_stats st;
    session_table_stats(t, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.active, 4);
    session_table_free(t);
}

static void vlan_in_key_only_when_asked(void **state)
{
    (void)state;
    struct session_table_config cfg = defaults;
    int dir;
    struct decoded a = pkt(1, 1, 8, 2, 0, 0, 8), b = a;
    a.vlan_count = b.vlan_count = 1;
    a.vlan[0] = 10;
    b.vlan[0] = 20;
    struct session_table *t = table(&cfg);
    assert_ptr_equal(feed(t, a, SEC, &dir), feed(t, b, SEC, &dir));
    session_table_free(t);
    cfg.key_vlan = true;
    t = table(&cfg);
    assert_ptr_not_equal(feed(t, a, SEC, &dir), feed(t, b, SEC, &dir));
    session_table_free(t);
}

static void memory_per_session_within_goal(void **state)
{
    (void)state;
    struct session_table_config cfg = defaults;
    cfg.max_sessions = 1000000;
    struct session_table *t = table(&cfg);
    size_t per = session_table_memory(t) / 1000000;
    assert_true(per <= 256);
    session_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_directions_one_session),
        cmocka_unit_test(synack_first_makes_receiver_initiator),
        cmocka_unit_test(udp_idle_timeout_after_packet),
        cmocka_unit_test(stale_session_joins_then_segments),
        cmocka_unit_test(test_s1_unanswered_syn_one_record_never_empty),
        cmocka_unit_test(rst_closes_after_close_timeout),
        cmocka_unit_test(new_syn_on_closing_session_restarts),
        cmocka_unit_test(max_packets_cuts_segments),
        cmocka_unit_test(full_table_evicts_oldest),
        cmocka_unit_test(vlan_in_key_only_when_asked),
        cmocka_unit_test(memory_per_session_within_goal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
