/* test_decode_events.c -- every decode failure event from a hand-built frame, whether the
 *                         packet still joins a flow (addresses read), truncation of valid
 *                         frames at every byte length, and the event names. */
#include "decode_frames.h"

/* ---- every event --------------------------------------------------------------------------- */

static void test_link_events(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };

    frame_tcp4(&f);
    expect_event(999, &f, DECODE_LINK_UNSUPPORTED, false);

    f.n = 10;
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_ETHER_TRUNCATED, false);
    expect_event(DECODE_DLT_LINUX_SLL, &f, DECODE_SLL_TRUNCATED, false);
    expect_event(DECODE_DLT_LINUX_SLL2, &f, DECODE_SLL2_TRUNCATED, false);
    f.n = 3;
    expect_event(DECODE_DLT_NULL, &f, DECODE_NULL_TRUNCATED, false);

    f.n = 0;
    eth(&f, 0x1234);
    putn(&f, 0, 40);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_ETHER_UNKNOWN_TYPE, false);

    f.n = 0;
    eth(&f, 0x0806);                       /* ARP */
    putn(&f, 0, 28);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_NOT_IP, false);
    f.n = 0;
    eth(&f, 60);                           /* 802.3 with a non-SNAP LLC (STP) */
    put8(&f, 0x42); put8(&f, 0x42); put8(&f, 0x03); putn(&f, 0, 57);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_NOT_IP, false);
    f.n = 0;
    put32(&f, 7);                          /* AF 7 on DLT_NULL */
    putn(&f, 0, 20);
    expect_event(DECODE_DLT_NULL, &f, DECODE_NOT_IP, false);

    f.n = 0;
    eth(&f, 0x8100);
    put16(&f, 5);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_VLAN_TRUNCATED, false);
    f.n = 0;
    eth(&f, 0x8100);
    for (int i = 0; i <= DECODE_MAX_VLANS; i++)
        tag(&f, (uint16_t)i, i < DECODE_MAX_VLANS ? 0x8100 : 0x0800);
    udp4_packet(&f);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_VLAN_TOO_MANY, false);

    f.n = 0;
    eth(&f, 0x8847);
    put16(&f, 1);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_MPLS_TRUNCATED, false);
    f.n = 0;
    eth(&f, 0x8847);
    put32(&f, 0x00010140);                 /* bottom of stack, then nothing */
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_MPLS_TRUNCATED, false);

    f.n = 1;
    f.b[0] = 0x18;
    expect_event(DECODE_DLT_FRELAY, &f, DECODE_FR_TRUNCATED, false);
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put8(&f, 0x03); put8(&f, 0x81); putn(&f, 0, 20);
    expect_event(DECODE_DLT_FRELAY, &f, DECODE_FR_UNSUPPORTED, false);
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put8(&f, 0x03); put8(&f, 0x08); putn(&f, 0, 20);
    expect_event(DECODE_DLT_FRELAY, &f, DECODE_NOT_IP, false);   /* Q.933 signalling */

    f.n = 1;
    f.b[0] = 0xff;
    expect_event(DECODE_DLT_PPP, &f, DECODE_PPP_TRUNCATED, false);
    f.n = 0;
    put8(&f, 0xff); put8(&f, 0x03); put16(&f, 0x002b); putn(&f, 0, 20);   /* IPX */
    expect_event(DECODE_DLT_PPP, &f, DECODE_PPP_UNSUPPORTED, false);
    f.n = 0;
    put8(&f, 0xff); put8(&f, 0x03); put16(&f, 0xc021); putn(&f, 0, 20);   /* LCP */
    expect_event(DECODE_DLT_PPP, &f, DECODE_NOT_IP, false);
    f.n = 0;
    eth(&f, 0x8864);                       /* PPPoE with a bad version */
    put8(&f, 0x22); put8(&f, 0); put16(&f, 1); put16(&f, 2); put16(&f, 0x0021);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_PPP_UNSUPPORTED, false);
}

static void test_ip_events(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };

    eth(&f, 0x0800);
    putn(&f, 0x45, 10);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_IPV4_TRUNCATED, false);

    f.n = 0;                               /* total length beyond the frame: addresses read */
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 17, 1, 2);
    patch16(&f, ip + 2, 200);
    putn(&f, 0, 20);
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_IPV4_TRUNCATED, true);

    f.n = 0;
    udp4_packet(&f);
    f.b[0] = 0x55;
    expect_event(DECODE_DLT_RAW, &f, DECODE_IPV4_BAD_VERSION, false);
    f.b[0] = 0x44;
    expect_event(DECODE_DLT_RAW, &f, DECODE_IPV4_BAD_HLEN, true);
    f.b[0] = 0x45;
    patch16(&f, 2, 10);
    expect_event(DECODE_DLT_RAW, &f, DECODE_IPV4_BAD_TOTAL_LEN, true);
    f.n = 0;                               /* options announced, not there */
    udp4_packet(&f);
    f.b[0] = 0x4f;
    patch16(&f, 2, 60);
    f.n = 40;
    expect_event(DECODE_DLT_RAW, &f, DECODE_IPV4_TRUNCATED, true);

    f.n = 20;
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_TRUNCATED, false);
    f.n = 0;
    udp6_packet(&f);
    expect_event(DECODE_DLT_IPV6, &f, DECODE_OK, true);
    f.b[0] = 0x40;
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_BAD_VERSION, false);
    f.b[0] = 0x60;
    patch16(&f, 4, 500);
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_TRUNCATED, true);

    f.n = 0;
    ip = ip6(&f, 0, 1, 2);
    put8(&f, 17); put8(&f, 0); putn(&f, 0, 2);   /* hop-by-hop cut at 4 of 8 bytes */
    ip6_end(&f, ip);
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_EXTHDR_TRUNCATED, true);
    f.n = 0;
    ip = ip6(&f, 60, 1, 2);
    put8(&f, 17); put8(&f, 3); putn(&f, 0, 6);   /* claims 32 bytes, has 8 */
    ip6_end(&f, ip);
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_EXTHDR_TRUNCATED, true);
    f.n = 0;
    ip = ip6(&f, 60, 1, 2);
    for (int i = 0; i <= 8; i++) {
        put8(&f, i < 8 ? 60 : 17); put8(&f, 0); putn(&f, 0, 6);
    }
    size_t u = udp(&f, 1, 2);
    udp_end(&f, u);
    ip6_end(&f, ip);
    expect_event(DECODE_DLT_IPV6, &f, DECODE_IPV6_TOO_MANY_EXTHDRS, true);
}

/* an IPv4 packet of protocol proto whose payload is n bytes of fill, then patched */
static void ip4_with(struct fb *f, uint8_t proto, size_t n)
{
    f->n = 0;
    size_t ip = ip4(f, proto, 1, 2);
    putn(f, 0, n);
    ip4_end(f, ip);
}

static void test_l4_events(void **state)
{
    (void)state;
    struct fb f;

    ip4_with(&f, 6, 10);
    expect_event(DECODE_DLT_RAW, &f, DECODE_TCP_TRUNCATED, true);
    ip4_with(&f, 6, 20);
    f.b[20 + 12] = 0x40;                   /* data offset 4 words */
    expect_event(DECODE_DLT_RAW, &f, DECODE_TCP_BAD_HLEN, true);
    f.b[20 + 12] = 0xf0;                   /* 60 bytes, more than the segment */
    expect_event(DECODE_DLT_RAW, &f, DECODE_TCP_BAD_HLEN, true);

    ip4_with(&f, 17, 4);
    expect_event(DECODE_DLT_RAW, &f, DECODE_UDP_TRUNCATED, true);
    ip4_with(&f, 17, 8);
    patch16(&f, 24, 4);
    expect_event(DECODE_DLT_RAW, &f, DECODE_UDP_BAD_LEN, true);
    patch16(&f, 24, 9);                    /* one byte more than the IP payload */
    expect_event(DECODE_DLT_RAW, &f, DECODE_UDP_BAD_LEN, true);
    struct decoded d;
    dec(DECODE_DLT_RAW, &f, &d);
    assert_false(d.has_ports);             /* a failed layer leaves nothing behind */

    ip4_with(&f, 1, 2);
    expect_event(DECODE_DLT_RAW, &f, DECODE_ICMP_TRUNCATED, true);
    ip4_with(&f, 58, 3);
    expect_event(DECODE_DLT_RAW, &f, DECODE_ICMPV6_TRUNCATED, true);
    ip4_with(&f, 132, 8);
    expect_event(DECODE_DLT_RAW, &f, DECODE_SCTP_TRUNCATED, true);
}

static void test_tunnel_events(void **state)
{
    (void)state;
    struct fb f;
    struct decoded d;

    ip4_with(&f, 47, 2);
    expect_event(DECODE_DLT_RAW, &f, DECODE_GRE_TRUNCATED, true);
    ip4_with(&f, 47, 6);
    patch16(&f, 20, 0x2000);               /* key announced, missing */
    patch16(&f, 22, 0x0800);
    expect_event(DECODE_DLT_RAW, &f, DECODE_GRE_TRUNCATED, true);
    patch16(&f, 20, 0x0002);               /* version 2 */
    expect_event(DECODE_DLT_RAW, &f, DECODE_GRE_UNSUPPORTED, true);
    patch16(&f, 20, 0x4000);               /* source routing */
    expect_event(DECODE_DLT_RAW, &f, DECODE_GRE_UNSUPPORTED, true);
    patch16(&f, 20, 0x0000);
    patch16(&f, 22, 0x1234);               /* unknown payload protocol */
    expect_event(DECODE_DLT_RAW, &f, DECODE_GRE_UNSUPPORTED, true);
    dec(DECODE_DLT_RAW, &f, &d);
    assert_int_equal(d.ip_proto, 47);      /* the outer flow stays */
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GRE);

    /* GRE -> inner IPv4 with a bad version: the outer flow, flagged */
    frame_gre_icmp(&f);
    f.b[14 + 20 + 16] = 0x35;
    expect_event(DECODE_DLT_EN10MB, &f, DECODE_IPV4_BAD_VERSION, true);
    dec(DECODE_DLT_EN10MB, &f, &d);
    assert_v4(d.src, 1);

    /* VXLAN and Geneve headers cut by the snaplen */
    frame_vxlan(&f, 0x0800);
    dec_wire(DECODE_DLT_EN10MB, &f, 14 + 20 + 8 + 4, f.n, &d);
    assert_int_equal(d.event, DECODE_VXLAN_TRUNCATED);
    assert_true(d.has_ports);              /* still the outer UDP flow */
    assert_int_equal(d.dport, 4789);

    f.n = 0;
    eth(&f, 0x0800);
    size_t o = ip4(&f, 17, 1, 2);
    size_t u = udp(&f, 5555, 6081);
    put8(&f, 0x04); put8(&f, 0); put16(&f, 0x0800); put32(&f, 0x100);
    putn(&f, 0, 16);
    udp4_packet(&f);
    udp_end(&f, u);
    ip4_end(&f, o);
    dec_wire(DECODE_DLT_EN10MB, &f, 14 + 20 + 8 + 12, f.n, &d);
    assert_int_equal(d.event, DECODE_GENEVE_TRUNCATED);
    assert_int_equal(decode_packet(DECODE_DLT_EN10MB, f.b, (uint32_t)f.n, (uint32_t)f.n, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GENEVE);
}

/* ---- truncation at every byte length ------------------------------------------------------- */

struct cut_case {
    void (*build)(struct fb *f);
    size_t ip_end;        /* first length at which the outer addresses are there */
    size_t payload_at;    /* where the innermost L4 payload starts */
    size_t ok_from;       /* first snaplen at which nothing needed is missing (TCP options
                           * count: a snaplen inside them is malformed, decoder.tcp.truncated) */
};

static void build_vxlan(struct fb *f) { frame_vxlan(f, 0x0800); }

static void test_truncation(void **state)
{
    (void)state;
    static const struct cut_case cases[] = {
        { frame_tcp4, 34, 58, 58 },   /* options cut by the snaplen: malformed */
        { frame_gre_icmp, 34, 70, 74 },
        { build_vxlan, 34, 84, 88 },
        { frame_udp6_exthdrs, 58, 110, 110 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cut_case *k = &cases[i];
        struct fb f;
        struct decoded d;
        k->build(&f);
        size_t full = f.n;
        dec(DECODE_DLT_EN10MB, &f, &d);
        assert_int_equal(d.event, DECODE_OK);
        assert_int_equal(d.payload_wire_len, full - k->payload_at);

        for (size_t n = 0; n < full; n++) {
            /* cut on the wire: always malformed, in a flow once the addresses are there */
            int rc = dec_wire(DECODE_DLT_EN10MB, &f, n, n, &d);
            assert_int_not_equal(d.event, DECODE_OK);
            assert_int_equal(rc == 0, n >= k->ip_end);

            /* cut by the snaplen: malformed only while something needed is missing */
            rc = dec_wire(DECODE_DLT_EN10MB, &f, n, full, &d);
            assert_int_equal(rc == 0, n >= k->ip_end);
            if (n >= k->ok_from) {
                assert_int_equal(d.event, DECODE_OK);
                assert_int_equal(d.payload_wire_len, full - k->payload_at);
                if (n >= k->payload_at) {
                    assert_int_equal(g_payload_off, (long)k->payload_at);
                    assert_int_equal(d.payload_len, n - k->payload_at);
                } else {
                    assert_int_equal(d.payload_len, 0);
                }
            } else {
                assert_int_not_equal(d.event, DECODE_OK);
            }
        }
    }
}

/* ---- names and link types ----------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(decode_event_name(DECODE_OK), "decoder.ok");
    assert_string_equal(decode_event_name(DECODE_IPV4_TRUNCATED), "decoder.ipv4.truncated");
    for (int i = 0; i < DECODE_EVENT_COUNT; i++) {
        const char *a = decode_event_name((enum decode_event)i);
        assert_non_null(a);
        assert_int_equal(strncmp(a, "decoder.", 8), 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a, decode_event_name((enum decode_event)j));
    }
    assert_string_equal(decode_event_name(DECODE_EVENT_COUNT), "decoder.invalid");

    static const int ok[] = { 0, 1, 9, 12, 14, 101, 105, 107, 108, 113, 127, 239, 276, 228, 229 };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(decode_dlt_supported(ok[i]));
    assert_false(decode_dlt_supported(147));   /* DLT_USER0 */
    assert_false(decode_dlt_supported(-1));

    struct decoded d;
    assert_int_equal(decode_packet(DECODE_DLT_EN10MB, NULL, 0, 0, &d), DECODE_ETHER_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_events),
        cmocka_unit_test(test_ip_events),
        cmocka_unit_test(test_l4_events),
        cmocka_unit_test(test_tunnel_events),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
