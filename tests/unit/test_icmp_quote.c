/* test_icmp_quote.c -- ICMP/ICMPv6 errors' quoted flows (issue 11 point 2): the decoder reads
 * the quote through the cursor (good, truncated, bad, fragments), the session table keeps the
 * ICMP session's first quote and marks the quoted session answered, and session_record turns
 * both into the record fields (ashiato.icmp_quoted.*, ashiato.icmp_error.*). Real frames,
 * real decoder, real table: nothing is mocked. */
#include "decode_frames.h"

#include "session_record.h"
#include "session_table.h"

/* ---- frames ---------------------------------------------------------------------------- */

/* a UDP probe 10.0.0.<s>:sp -> 10.0.0.<t>:dp (IPv4 header + 8 bytes + 2 of data) */
static void udp4_probe(struct fb *f, uint8_t s, uint16_t sp, uint8_t t, uint16_t dp)
{
    size_t ip = ip4(f, 17, s, t);
    size_t u = udp(f, sp, dp);
    put16(f, 0x4142);
    udp_end(f, u);
    ip4_end(f, ip);
}

/* Ethernet + IPv4 ICMP error from 10.0.0.<from> to 10.0.0.<to> quoting `keep` bytes of q */
static void icmp4_error(struct fb *f, uint8_t type, uint8_t code, uint8_t from, uint8_t to,
                        const struct fb *q, size_t keep)
{
    f->n = 0;
    eth(f, 0x0800);
    size_t ip = ip4(f, 1, from, to);
    put8(f, type); put8(f, code); put16(f, 0); put32(f, 0);
    memcpy(f->b + f->n, q->b, keep);
    f->n += keep;
    ip4_end(f, ip);
}

static void udp6_probe(struct fb *f, uint8_t s, uint16_t sp, uint8_t t, uint16_t dp, int frag)
{
    size_t ip = ip6(f, frag >= 0 ? 44 : 17, s, t);
    if (frag >= 0) {                       /* fragment header: offset frag * 8, more */
        put8(f, 17); put8(f, 0); put16(f, (uint16_t)(frag << 3 | 1)); put32(f, 77);
    }
    size_t u = udp(f, sp, dp);
    put16(f, 0x4142);
    udp_end(f, u);
    ip6_end(f, ip);
}

static void icmp6_error(struct fb *f, uint8_t type, uint8_t code, uint8_t from, uint8_t to,
                        const struct fb *q, size_t keep)
{
    f->n = 0;
    eth(f, 0x86dd);
    size_t ip = ip6(f, 58, from, to);
    put8(f, type); put8(f, code); put16(f, 0); put32(f, 0);
    memcpy(f->b + f->n, q->b, keep);
    f->n += keep;
    ip6_end(f, ip);
}

/* ---- decoder --------------------------------------------------------------------------- */

static void icmp4_good_quote(void **state)
{
    (void)state;
    struct fb q = { .n = 0 }, f;
    struct decoded d;
    udp4_probe(&q, 9, 40000, 1, 161);
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);   /* RFC 792: IP header + 8 bytes */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.sport, 3);
    assert_int_equal(d.dport, 3);
    assert_int_equal(d.payload_len, 8 + 28);        /* the ICMP message is still the payload */
    assert_true(d.has_quote);
    assert_int_equal(d.quote_proto, 17);
    assert_int_equal(d.quote_sport, 40000);
    assert_int_equal(d.quote_dport, 161);
    assert_v4(d.quote_src, 9);
    assert_v4(d.quote_dst, 1);

    /* time exceeded and parameter problem quote too; a whole quoted packet as well */
    icmp4_error(&f, 11, 0, 7, 9, &q, q.n);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote && d.quote_dport == 161 && d.event == DECODE_OK);
    icmp4_error(&f, 12, 0, 7, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote);

    /* a quoted ICMP echo: its type and code in the ports */
    struct fb e = { .n = 0 };
    size_t ip = ip4(&e, 1, 9, 200);
    icmp(&e, 8, 0, 8);
    ip4_end(&e, ip);
    icmp4_error(&f, 3, 1, 254, 9, &e, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote);
    assert_int_equal(d.quote_proto, 1);
    assert_int_equal(d.quote_sport, 8);
    assert_int_equal(d.quote_dport, 0);

    /* a quoted non-first fragment: the flow without ports */
    patch16(&q, 6, 0x0010);                /* fragment offset 128 bytes */
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote && d.quote_sport == 0 && d.quote_dport == 0);
    assert_int_equal(d.event, DECODE_OK);

    /* not an error: an echo reply and a redirect (type 5) carry no quote */
    icmp4_error(&f, 0, 0, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_quote);
    icmp4_error(&f, 5, 1, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_quote);
}

static void icmp4_truncated_quote(void **state)
{
    (void)state;
    struct fb q = { .n = 0 }, f;
    struct decoded d;
    udp4_probe(&q, 9, 40000, 1, 161);
    /* the ICMP header cut inside its unused word: the error counts, its quote is missing */
    f.n = 0;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 1, 1, 9);
    put8(&f, 3); put8(&f, 3); put16(&f, 0); put16(&f, 0);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.sport, 3);
    assert_false(d.has_quote);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_TRUNCATED);
    /* every cut of the quoted IP header and of its ports */
    for (size_t keep = 0; keep < 24; keep++) {
        icmp4_error(&f, 3, 3, 1, 9, &q, keep);
        assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);   /* the packet still counts */
        assert_int_equal(d.ip_proto, 1);
        assert_int_equal(d.sport, 3);
        assert_false(d.has_quote);
        assert_int_equal(d.event, DECODE_ICMP_QUOTE_TRUNCATED);
    }
    /* the snaplen cuts the quote: the same event */
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);
    assert_int_equal(dec_wire(DECODE_DLT_EN10MB, &f, f.n - 6, f.n, &d), 0);
    assert_false(d.has_quote);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_TRUNCATED);
    /* a quoted header with options longer than what is there */
    q.b[0] = 0x4f;
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_TRUNCATED);
    /* not IPv4 inside ICMPv4, or a header length below 20: a bad quote */
    q.b[0] = 0x65;
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_quote);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_BAD);
    q.b[0] = 0x44;
    icmp4_error(&f, 3, 3, 1, 9, &q, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_BAD);
    assert_string_equal(decode_event_name(DECODE_ICMP_QUOTE_TRUNCATED),
                        "decoder.icmp.quote_truncated");
}

static void icmp6_quotes(void **state)
{
    (void)state;
    struct fb q = { .n = 0 }, f;
    struct decoded d;
    size_t ip;
    udp6_probe(&q, 9, 40000, 1, 53, -1);
    icmp6_error(&f, 1, 4, 1, 9, &q, q.n);  /* port unreachable, the whole probe */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_true(d.has_quote);
    assert_int_equal(d.quote_proto, 17);
    assert_int_equal(d.quote_sport, 40000);
    assert_int_equal(d.quote_dport, 53);
    assert_v6(d.quote_src, 9);
    assert_v6(d.quote_dst, 1);
    for (uint8_t type = 2; type <= 4; type++) {     /* too big, time exceeded, parameter */
        icmp6_error(&f, type, 0, 1, 9, &q, 48);
        assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
        assert_true(d.has_quote);
    }
    icmp6_error(&f, 129, 0, 1, 9, &q, 48);          /* echo reply: no quote */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_quote);

    /* through a fragment header: a first fragment keeps its ports, a later one has none */
    q.n = 0;
    udp6_probe(&q, 9, 40000, 1, 53, 0);
    icmp6_error(&f, 1, 4, 1, 9, &q, q.n);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote && d.quote_proto == 17 && d.quote_dport == 53);
    q.n = 0;
    udp6_probe(&q, 9, 40000, 1, 53, 20);
    icmp6_error(&f, 1, 4, 1, 9, &q, q.n);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_quote && d.quote_proto == 17 && d.quote_dport == 0);

    /* truncated: every cut of the 40-byte header and the 8-byte fragment header (a later
     * fragment needs no ports) */
    for (size_t keep = 0; keep < 48; keep++) {
        icmp6_error(&f, 1, 4, 1, 9, &q, keep);
        assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
        assert_false(d.has_quote);
        assert_int_equal(d.event, DECODE_ICMP_QUOTE_TRUNCATED);
    }
    /* ICMPv6 carried over IPv4 (protocol 58 in an IPv4 header): no quote is read */
    f.n = 0;
    eth(&f, 0x0800);
    ip = ip4(&f, 58, 1, 9);
    put8(&f, 1); put8(&f, 4); put16(&f, 0); put32(&f, 0);
    memcpy(f.b + f.n, q.b, 48);
    f.n += 48;
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_quote);
    assert_int_equal(d.event, DECODE_OK);
    /* an IPv4 header inside ICMPv6: bad */
    struct fb q4 = { .n = 0 };
    udp4_probe(&q4, 9, 40000, 1, 161);
    icmp6_error(&f, 1, 4, 1, 9, &q4, 28);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_BAD);
    /* a chain of extension headers longer than the decoder walks: bad, not a loop */
    q.n = 0;
    ip = ip6(&q, 60, 9, 1);
    for (int i = 0; i < 12; i++) {
        put8(&q, 60); put8(&q, 0); putn(&q, 0, 6);
    }
    ip6_end(&q, ip);
    icmp6_error(&f, 1, 4, 1, 9, &q, q.n);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_ICMP_QUOTE_BAD);
}

/* ---- sessions and records -------------------------------------------------------------- */

#define MAX_EMITTED 16
static struct session out[MAX_EMITTED];
static int nout;

static void capture_emit(void *ctx, struct session *s, enum session_end why)
{
    (void)ctx;
    (void)why;
    assert_true(nout < MAX_EMITTED);
    out[nout++] = *s;
}

static struct session_table *table(void)
{
    static const struct session_table_config cfg = {
        .max_sessions = 16, .tcp_timeout = 480, .udp_timeout = 60, .icmp_timeout = 10,
        .sctp_timeout = 60, .other_timeout = 60, .tcp_close_timeout = 5,
        .tcp_save_timeout = 480, .max_packets = 10000,
    };
    char err[ASH_ERR_LEN];
    nout = 0;
    struct session_table *t = session_table_new(&cfg, NULL, capture_emit, NULL, err);
    assert_non_null(t);
    return t;
}

static void feed(struct session_table *t, const struct fb *f, int64_t ts)
{
    struct decoded d;
    assert_int_equal(dec(DECODE_DLT_EN10MB, f, &d), 0);
    int dir;
    struct session *s = session_table_packet(t, &d, ts, &dir);
    session_table_after_packet(t, s, ts);
}

static const struct session *emitted(uint8_t proto, uint16_t port)
{
    for (int i = 0; i < nout; i++)
        if (out[i].key.proto == proto && (out[i].key.port_a == port || out[i].key.port_b == port))
            return &out[i];
    fail_msg("no session proto %u port %u", proto, port);
    return NULL;
}

static void error_marks_the_attempt(void **state)
{
    (void)state;
    struct session_table *t = table();
    struct fb q1 = { .n = 0 }, q2 = { .n = 0 }, f = { .n = 0 }, other = { .n = 0 };
    eth(&f, 0x0800);
    udp4_probe(&f, 9, 40000, 1, 161);
    memcpy(q1.b, f.b + 14, f.n - 14);
    q1.n = f.n - 14;
    feed(t, &f, 1000000);
    f.n = 0;
    eth(&f, 0x0800);
    udp4_probe(&f, 9, 40000, 1, 162);
    memcpy(q2.b, f.b + 14, f.n - 14);
    q2.n = f.n - 14;
    feed(t, &f, 1000100);
    icmp4_error(&f, 3, 3, 1, 9, &q1, 28);
    feed(t, &f, 1000200);
    icmp4_error(&f, 3, 3, 1, 9, &q2, 28);
    feed(t, &f, 1000300);
    /* a quote of someone else's packet (forged, or 10.0.0.5's): not kept, nothing marked */
    udp4_probe(&other, 5, 40000, 1, 163);
    icmp4_error(&f, 3, 3, 1, 9, &other, 28);
    feed(t, &f, 1000400);
    struct session_table_stats st;
    session_table_stats(t, &st);
    assert_int_equal(st.icmp_answered, 2);
    session_table_flush(t);
    assert_int_equal(nout, 3);

    const struct session *u1 = emitted(17, 161), *u2 = emitted(17, 162), *ic = emitted(1, 0);
    assert_true(u1->flags & SESSION_F_ICMP_ERROR);
    assert_true(u2->flags & SESSION_F_ICMP_ERROR);
    assert_int_equal(ic->quote.count, 2);  /* the forged quote is not counted */

    static struct session_record_buf bu, bi;
    session_record_fill(&bu, "s1", u1, NULL);
    session_record_fill(&bi, "s1", ic, NULL);
    assert_int_equal(bu.rec.icmp_error_type, 3);
    assert_int_equal(bu.rec.icmp_error_code, 3);
    assert_int_equal(bu.rec.icmp_quoted_count, 0);
    assert_string_equal(bu.rec.conn_state, "S0");
    const Ashiato__SessionRecord *r = &bi.rec;
    assert_int_equal(r->icmp_quoted_count, 2);
    assert_int_equal(r->icmp_error_type, 3);
    assert_int_equal(r->icmp_quoted_iana_number, 17);
    assert_int_equal(r->icmp_quoted_src_port, 40000);
    assert_int_equal(r->icmp_quoted_dst_port, 161);    /* the first quote */
    assert_int_equal(r->icmp_quoted_src_ip.len, 4);
    assert_int_equal(r->icmp_quoted_src_ip.data[3], 9);
    assert_int_equal(r->icmp_quoted_dst_ip.data[3], 1);
    /* the quoted flow's Community ID is the attempt's own */
    assert_string_equal(r->icmp_quoted_community_id, bu.rec.community_id);
    /* the ICMP session's own Community ID still hashes its own type and code */
    assert_string_not_equal(r->community_id, bu.rec.community_id);
    session_table_free(t);
}

static void reply_direction_not_marked(void **state)
{
    (void)state;
    struct session_table *t = table();
    struct fb f = { .n = 0 }, q = { .n = 0 };
    eth(&f, 0x0800);                       /* 10.0.0.9 asks 10.0.0.1:53 */
    udp4_probe(&f, 9, 40000, 1, 53);
    feed(t, &f, 1000000);
    /* 10.0.0.1's answer bounced: the error quotes the responder's packet, to the responder */
    udp4_probe(&q, 1, 53, 9, 40000);
    icmp4_error(&f, 3, 3, 9, 1, &q, 28);
    feed(t, &f, 1000100);
    session_table_flush(t);
    const struct session *u = emitted(17, 53), *ic = emitted(1, 0);
    assert_false(u->flags & SESSION_F_ICMP_ERROR);
    assert_int_equal(ic->quote.count, 1);  /* the ICMP record still carries the quote */
    session_table_free(t);
}

static void icmp6_marks_the_attempt(void **state)
{
    (void)state;
    struct session_table *t = table();
    struct fb f = { .n = 0 }, q = { .n = 0 };
    eth(&f, 0x86dd);
    udp6_probe(&f, 9, 40000, 1, 500, -1);
    memcpy(q.b, f.b + 14, f.n - 14);
    q.n = f.n - 14;
    feed(t, &f, 1000000);
    icmp6_error(&f, 1, 4, 1, 9, &q, q.n);
    feed(t, &f, 1000100);
    session_table_flush(t);
    const struct session *u = emitted(17, 500), *ic = emitted(58, 0);
    assert_true(u->flags & SESSION_F_ICMP_ERROR);
    static struct session_record_buf bu, bi;
    session_record_fill(&bu, "s1", u, NULL);
    session_record_fill(&bi, "s1", ic, NULL);
    assert_int_equal(bu.rec.icmp_error_type, 1);
    assert_int_equal(bu.rec.icmp_error_code, 4);
    assert_int_equal(bi.rec.icmp_quoted_src_ip.len, 16);
    assert_int_equal(bi.rec.icmp_quoted_dst_port, 500);
    assert_string_equal(bi.rec.icmp_quoted_community_id, bu.rec.community_id);
    session_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(icmp4_good_quote),
        cmocka_unit_test(icmp4_truncated_quote),
        cmocka_unit_test(icmp6_quotes),
        cmocka_unit_test(error_marks_the_attempt),
        cmocka_unit_test(reply_direction_not_marked),
        cmocka_unit_test(icmp6_marks_the_attempt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
