/* test_decode.c -- decode_packet() on hand-built frames: every link type, every layer and
 *                  tunnel, with the fields each one fills. Failure events and truncation at
 *                  every byte length are in test_decode_events.c. */
#include "decode_frames.h"

/* ---- layers ------------------------------------------------------------------------------ */

static void test_tcp4(void **state)
{
    (void)state;
    struct fb f;
    struct decoded d;
    frame_tcp4(&f);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_true(d.has_mac);
    assert_memory_equal(d.mac_src, MAC_SRC, 6);
    assert_memory_equal(d.mac_dst, MAC_DST, 6);
    assert_int_equal(d.ether_type, 0x0800);
    assert_int_equal(d.ip_version, 4);
    assert_int_equal(d.ip_proto, 6);
    assert_int_equal(d.ttl, 64);
    assert_v4(d.src, 1);
    assert_v4(d.dst, 2);
    assert_true(d.has_ports);
    assert_int_equal(d.sport, 40000);
    assert_int_equal(d.dport, 80);
    assert_int_equal(d.tcp_flags, DECODE_TCP_SYN | DECODE_TCP_ACK);
    assert_int_equal(d.tcp_seq, 1000);
    assert_int_equal(d.tcp_ack, 2000);
    assert_int_equal(d.tcp_window, 512);
    assert_int_equal(g_payload_off, 14 + 20 + 24);
    assert_int_equal(d.payload_len, 10);
    assert_int_equal(d.payload_wire_len, 10);
    assert_false(d.is_fragment);
    assert_int_equal(d.tunnels, 0);
    assert_int_equal(d.vlan_count, 0);
    assert_int_equal(d.cap_len, f.n);
    assert_int_equal(d.wire_len, f.n);
}

static void test_udp_padding_and_snaplen(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 17, 5, 6);
    size_t u = udp(&f, 43444, 12345);
    put8(&f, 'x');
    udp_end(&f, u);
    ip4_end(&f, ip);
    putn(&f, 0, 60 - f.n);                 /* Ethernet padding: never payload */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.payload_len, 1);
    assert_int_equal(d.payload_wire_len, 1);

    /* cut by the snaplen: the wire length keeps the size the IP header claims */
    f.n = 0;
    eth(&f, 0x0800);
    ip = ip4(&f, 17, 5, 6);
    u = udp(&f, 1, 2);
    putn(&f, 'y', 1000);
    udp_end(&f, u);
    ip4_end(&f, ip);
    assert_int_equal(dec_wire(DECODE_DLT_EN10MB, &f, 64, f.n, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.payload_len, 64 - 42);
    assert_int_equal(d.payload_wire_len, 1000);
}

static void test_icmp(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 1, 1, 2);
    icmp(&f, 8, 0, 56);                    /* a 98-byte ping */
    ip4_end(&f, ip);
    assert_int_equal(f.n, 98);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.has_ports);
    assert_int_equal(d.sport, 8);
    assert_int_equal(d.dport, 0);
    assert_int_equal(g_payload_off, 34);
    assert_int_equal(d.payload_len, 64);   /* the whole ICMP message, as Arkime counts */

    f.n = 0;
    eth(&f, 0x86dd);
    ip = ip6(&f, 58, 1, 2);
    icmp(&f, 135, 0, 16);
    ip6_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.ip_proto, 58);
    assert_int_equal(d.sport, 135);
    assert_int_equal(d.payload_len, 24);
}

static void test_sctp(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 132, 1, 2);
    put16(&f, 38001); put16(&f, 38412); put32(&f, 1); put32(&f, 0);
    putn(&f, 'S', 16);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.ip_proto, 132);
    assert_int_equal(d.sport, 38001);
    assert_int_equal(d.dport, 38412);
    assert_int_equal(d.payload_len, 16);
}

static void test_unknown_proto(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 50, 1, 2);         /* ESP */
    putn(&f, 'E', 40);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.ip_proto, 50);
    assert_false(d.has_ports);
    assert_int_equal(d.payload_len, 40);

    f.n = 0;                               /* IPv4 AH stays the protocol, as in Arkime */
    eth(&f, 0x0800);
    ip = ip4(&f, 51, 1, 2);
    putn(&f, 0, 24);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.ip_proto, 51);
}

static void test_ipv4_fragments(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x0800);
    size_t ip = ip4(&f, 17, 1, 2);
    patch16(&f, ip + 6, 0x2000);           /* MF, offset 0 */
    size_t u = udp(&f, 1000, 2000);
    putn(&f, 'F', 32);
    patch16(&f, u + 4, 3000);              /* the datagram is longer than this fragment */
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_true(d.is_fragment);
    assert_true(d.frag_more);
    assert_int_equal(d.frag_offset, 0);
    assert_int_equal(d.frag_id, 0x1234);
    assert_true(d.has_ports);
    assert_int_equal(d.sport, 1000);
    assert_int_equal(d.payload_len, 32);

    patch16(&f, ip + 6, 0x0005);           /* last fragment at byte 40 */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.is_fragment);
    assert_false(d.frag_more);
    assert_int_equal(d.frag_offset, 40);
    assert_false(d.has_ports);
    assert_int_equal(d.ip_proto, 17);
    assert_int_equal(d.payload_len, 40);   /* the fragment's data */
}

static void test_ipv6_exthdrs(void **state)
{
    (void)state;
    struct fb f;
    struct decoded d;
    frame_udp6_exthdrs(&f);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.ip_version, 6);
    assert_int_equal(d.ether_type, 0x86dd);
    assert_int_equal(d.ttl, 55);
    assert_v6(d.src, 1);
    assert_v6(d.dst, 2);
    assert_int_equal(d.ip_proto, 17);
    assert_int_equal(d.sport, 5353);
    assert_int_equal(d.dport, 53);
    assert_int_equal(d.payload_len, 20);
    assert_int_equal(d.vlan_count, 1);
    assert_int_equal(d.vlan[0], 42);
}

static void test_ipv6_fragment(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x86dd);
    size_t ip = ip6(&f, 44, 1, 2);
    put8(&f, 6); put8(&f, 0); put16(&f, 0x0001); put32(&f, 0xdeadbeef);   /* first, M */
    tcp(&f, 1, 2, DECODE_TCP_ACK, 8);
    ip6_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.is_fragment);
    assert_true(d.frag_more);
    assert_int_equal(d.frag_id, 0xdeadbeef);
    assert_int_equal(d.ip_proto, 6);
    assert_true(d.has_ports);
    assert_int_equal(d.dport, 2);

    patch16(&f, 14 + 40 + 2, 0x00b0);      /* offset 176, last */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_true(d.is_fragment);
    assert_false(d.frag_more);
    assert_int_equal(d.frag_offset, 176);
    assert_false(d.has_ports);
    assert_int_equal(d.ip_proto, 6);
    assert_int_equal(d.payload_len, 32);

    patch16(&f, 14 + 40 + 2, 0x0000);      /* atomic fragment: not a fragment at all */
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.is_fragment);
    assert_true(d.has_ports);
}

static void test_vlans(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x88a8);                       /* 802.1ad S-tag, then C-tag, outermost first */
    tag(&f, 1525, 0x8100);
    tag(&f, 30, 0x0800);
    size_t ip = ip4(&f, 1, 1, 2);
    icmp(&f, 8, 0, 0);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.vlan_count, 2);
    assert_int_equal(d.vlan[0], 1525);
    assert_int_equal(d.vlan[1], 30);

    f.n = 0;
    eth(&f, 0x8100);
    for (int i = 0; i < DECODE_MAX_VLANS; i++)
        tag(&f, (uint16_t)(100 + i), i + 1 < DECODE_MAX_VLANS ? 0x8100 : 0x0800);
    ip = ip4(&f, 1, 1, 2);
    icmp(&f, 8, 0, 0);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.vlan_count, DECODE_MAX_VLANS);
    assert_int_equal(d.vlan[DECODE_MAX_VLANS - 1], 100 + DECODE_MAX_VLANS - 1);
}

static void test_mpls_pppoe_shims(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    eth(&f, 0x8847);
    put32(&f, 0x00010040); put32(&f, 0x00020140);   /* two labels, bottom of stack */
    size_t ip = ip4(&f, 1, 1, 2);
    icmp(&f, 8, 0, 0);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_MPLS);
    assert_int_equal(d.layers, 2);
    assert_v4(d.src, 1);

    f.n = 0;
    eth(&f, 0x8864);
    put8(&f, 0x11); put8(&f, 0); put16(&f, 1);
    size_t len = f.n;
    put16(&f, 0);
    put16(&f, 0x0021);
    ip = ip4(&f, 1, 7, 8);
    icmp(&f, 8, 0, 4);
    ip4_end(&f, ip);
    patch16(&f, len, (uint16_t)(f.n - len - 2));
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_PPP);
    assert_v4(d.src, 7);

    f.n = 0;                               /* Cisco MetaData, then NSH */
    eth(&f, 0x8909);
    put8(&f, 1); put8(&f, 1); put16(&f, 1); put16(&f, 7); put16(&f, 0x894f);
    put8(&f, 0x0f); put8(&f, 0xc4); put8(&f, 0x01); put8(&f, 0x01); putn(&f, 0, 12);
    ip = ip4(&f, 1, 9, 10);
    icmp(&f, 8, 0, 4);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_v4(d.src, 9);
    assert_int_equal(d.layers, 2);

    f.n = 0;                               /* ERSPAN II straight on Ethernet */
    eth(&f, 0x88be);
    put32(&f, 0x10000064); put32(&f, 0);
    eth(&f, 0x0800);
    ip = ip4(&f, 1, 11, 12);
    icmp(&f, 8, 0, 4);
    ip4_end(&f, ip);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_v4(d.src, 11);
    assert_memory_equal(d.mac_src, MAC_SRC, 6);

    f.n = 0;                               /* 802.3 + LLC/SNAP carrying IPv4 */
    eth(&f, 0);
    size_t l = f.n - 2;
    put8(&f, 0xaa); put8(&f, 0xaa); put8(&f, 0x03); put8(&f, 0); put8(&f, 0); put8(&f, 0);
    put16(&f, 0x0800);
    ip = ip4(&f, 17, 1, 2);
    size_t u = udp(&f, 1, 2);
    udp_end(&f, u);
    ip4_end(&f, ip);
    patch16(&f, l, (uint16_t)(f.n - l - 2));
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.sport, 1);
}

/* ---- link types -------------------------------------------------------------------------- */


static void expect_udp(int dlt, const struct fb *f, int version)
{
    struct decoded d;
    assert_int_equal(dec(dlt, f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.ip_version, version);
    assert_int_equal(d.sport, 1);
    assert_int_equal(d.dport, 2);
    assert_int_equal(d.payload_len, 5);
    assert_false(d.has_mac);
}

static void test_link_types(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };

    put16(&f, 0); put16(&f, 1); put16(&f, 6); putn(&f, 0x11, 8); put16(&f, 0x0800);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_LINUX_SLL, &f, 4);

    f.n = 0;
    put16(&f, 0x86dd); put16(&f, 0); put32(&f, 3); put16(&f, 1); put8(&f, 0); put8(&f, 6);
    putn(&f, 0x22, 8);
    udp6_packet(&f);
    expect_udp(DECODE_DLT_LINUX_SLL2, &f, 6);

    f.n = 0;
    put32(&f, 0x02000000);                 /* AF_INET, little-endian host */
    udp4_packet(&f);
    expect_udp(DECODE_DLT_NULL, &f, 4);
    f.n = 0;
    put32(&f, 30);                         /* Darwin AF_INET6, network order */
    udp6_packet(&f);
    expect_udp(DECODE_DLT_LOOP, &f, 6);
    f.n = 0;
    put32(&f, 0x18000000);                 /* OpenBSD AF_INET6, little-endian */
    udp6_packet(&f);
    expect_udp(DECODE_DLT_NULL, &f, 6);

    f.n = 0;
    udp4_packet(&f);
    expect_udp(DECODE_DLT_RAW, &f, 4);
    expect_udp(101, &f, 4);
    expect_udp(14, &f, 4);
    expect_udp(DECODE_DLT_IPV4, &f, 4);
    f.n = 0;
    udp6_packet(&f);
    expect_udp(DECODE_DLT_RAW, &f, 6);
    expect_udp(DECODE_DLT_IPV6, &f, 6);

    /* Frame Relay: Cisco ethertype (icmp-frame-relay.pcap), NLPID IPv4 and IPv6, SNAP */
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put16(&f, 0x0800);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_FRELAY, &f, 4);
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put8(&f, 0x03); put8(&f, 0xcc);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_FRELAY, &f, 4);
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put8(&f, 0x03); put8(&f, 0x8e);
    udp6_packet(&f);
    expect_udp(DECODE_DLT_FRELAY, &f, 6);
    f.n = 0;
    put8(&f, 0x18); put8(&f, 0x61); put8(&f, 0x03); put8(&f, 0x00); put8(&f, 0x80);
    put8(&f, 0); put16(&f, 0); put16(&f, 0x0800);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_FRELAY, &f, 4);

    /* PPP: full header, compressed (ACFC + PFC), IPv6, Cisco HDLC */
    f.n = 0;
    put8(&f, 0xff); put8(&f, 0x03); put16(&f, 0x0021);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_PPP, &f, 4);
    f.n = 0;
    put8(&f, 0x21);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_PPP, &f, 4);
    f.n = 0;
    put8(&f, 0xff); put8(&f, 0x03); put16(&f, 0x0057);
    udp6_packet(&f);
    expect_udp(DECODE_DLT_PPP, &f, 6);
    f.n = 0;
    put8(&f, 0x0f); put8(&f, 0x00); put16(&f, 0x0800);
    udp4_packet(&f);
    expect_udp(DECODE_DLT_PPP, &f, 4);
}

/* ---- tunnels ----------------------------------------------------------------------------- */

static void test_gre(void **state)
{
    (void)state;
    struct fb f;
    struct decoded d;
    frame_gre_icmp(&f);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GRE);
    assert_int_equal(d.layers, 1);
    assert_v4(d.src, 3);
    assert_v4(d.dst, 4);
    assert_int_equal(d.ip_proto, 1);
    assert_int_equal(d.sport, 8);
    assert_int_equal(d.payload_len, 24);

    /* IPv6 -> enhanced GRE (PPTP) -> PPP -> IPv4 UDP DNS, as 6-4-gre-ppp-udp-4-dns.pcap */
    f.n = 0;
    eth(&f, 0x8100);
    tag(&f, 100, 0x86dd);
    size_t o = ip6(&f, 47, 1, 2);
    put16(&f, 0x3081); put16(&f, 0x880b);
    put16(&f, 0); put16(&f, 6016); put32(&f, 430001); put32(&f, 539254);
    put8(&f, 0xff); put8(&f, 0x03); put16(&f, 0x0021);
    size_t in = ip4(&f, 17, 3, 8);
    size_t u = udp(&f, 40768, 53);
    putn(&f, 'q', 30);
    udp_end(&f, u);
    ip4_end(&f, in);
    ip6_end(&f, o);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GRE | DECODE_TUNNEL_PPP);
    assert_int_equal(d.ip_version, 4);
    assert_v4(d.src, 3);
    assert_int_equal(d.dport, 53);
    assert_int_equal(d.vlan[0], 100);

    /* GRE transparent bridging and ERSPAN II carry Ethernet */
    f.n = 0;
    eth(&f, 0x0800);
    o = ip4(&f, 47, 1, 2);
    put16(&f, 0x1000); put16(&f, 0x88be); put32(&f, 1);
    put32(&f, 0x10000064); put32(&f, 0);
    eth(&f, 0x0800);
    in = ip4(&f, 1, 5, 6);
    icmp(&f, 8, 0, 0);
    ip4_end(&f, in);
    ip4_end(&f, o);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_v4(d.src, 5);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GRE);

    /* ERSPAN type III (12-byte header) and type I (no header, no sequence number) */
    for (int type = 1; type <= 3; type += 2) {
        f.n = 0;
        eth(&f, 0x0800);
        o = ip4(&f, 47, 1, 2);
        put16(&f, type == 3 ? 0x1000 : 0x0000); put16(&f, type == 3 ? 0x22eb : 0x88be);
        if (type == 3) {
            put32(&f, 9);
            put32(&f, 0x20000064); put32(&f, 0); put32(&f, 0);
        }
        eth(&f, 0x0800);
        in = ip4(&f, 1, 5, (uint8_t)type);
        icmp(&f, 8, 0, 0);
        ip4_end(&f, in);
        ip4_end(&f, o);
        assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
        assert_int_equal(d.event, DECODE_OK);
        assert_v4(d.dst, (uint8_t)type);
    }
}

static void test_udp_tunnels(void **state)
{
    (void)state;
    struct fb f;
    struct decoded d;
    frame_vxlan(&f, 0x0800);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_VXLAN);
    assert_int_equal(d.tunnel_vni, 123);
    assert_v4(d.src, 3);
    assert_int_equal(d.ip_proto, 1);
    assert_memory_equal(d.mac_src, MAC_SRC, 6);

    /* ARP inside: the outer addresses, no ports (vxlan.pcap in Arkime) */
    frame_vxlan(&f, 0x0806);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_NOT_IP);
    assert_int_equal(d.ether_type, 0x0806);
    assert_v4(d.src, 1);
    assert_int_equal(d.ip_proto, 17);
    assert_false(d.has_ports);

    /* reserved flags set: not VXLAN, plain UDP */
    frame_vxlan(&f, 0x0800);
    f.b[42] = 0x01;
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, 0);
    assert_int_equal(d.dport, 4789);

    /* VXLAN-GPE next protocol IPv6 */
    f.n = 0;
    eth(&f, 0x0800);
    size_t o = ip4(&f, 17, 1, 2);
    size_t u = udp(&f, 5555, 4790);
    put32(&f, 0x0c000002); put32(&f, 0x00d43100);
    udp6_packet(&f);
    udp_end(&f, u);
    ip4_end(&f, o);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.ip_version, 6);
    assert_int_equal(d.tunnel_vni, 54321);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_VXLAN);

    /* Geneve with an option, Ethernet inside */
    f.n = 0;
    eth(&f, 0x0800);
    o = ip4(&f, 17, 1, 2);
    u = udp(&f, 5555, 6081);
    put8(&f, 0x02); put8(&f, 0x40); put16(&f, 0x6558); put32(&f, 0x00000a00);
    put32(&f, 0x00008001); put32(&f, 12);
    eth(&f, 0x0800);
    size_t in = ip4(&f, 6, 30, 31);
    tcp(&f, 51225, 22, DECODE_TCP_PSH | DECODE_TCP_ACK, 3);
    ip4_end(&f, in);
    udp_end(&f, u);
    ip4_end(&f, o);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.tunnels, DECODE_TUNNEL_GENEVE);
    assert_int_equal(d.tunnel_vni, 10);
    assert_v4(d.src, 30);
    assert_int_equal(d.dport, 22);
    assert_int_equal(d.payload_len, 3);
}

static void test_ip_in_ip(void **state)
{
    (void)state;
    static const struct { uint8_t outer, proto; uint16_t bit; int inner; } cases[] = {
        { 4, 4, DECODE_TUNNEL_IPIP, 4 },  { 4, 41, DECODE_TUNNEL_6IN4, 6 },
        { 6, 4, DECODE_TUNNEL_IP6IP, 4 }, { 6, 41, DECODE_TUNNEL_IP6IP, 6 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fb f = { .n = 0 };
        struct decoded d;
        eth(&f, cases[i].outer == 4 ? 0x0800 : 0x86dd);
        size_t o = cases[i].outer == 4 ? ip4(&f, cases[i].proto, 100, 101)
                                       : ip6(&f, cases[i].proto, 100, 101);
        if (cases[i].inner == 4)
            udp4_packet(&f);
        else
            udp6_packet(&f);
        if (cases[i].outer == 4)
            ip4_end(&f, o);
        else
            ip6_end(&f, o);
        assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
        assert_int_equal(d.event, DECODE_OK);
        assert_int_equal(d.tunnels, cases[i].bit);
        assert_int_equal(d.ip_version, cases[i].inner);
        assert_int_equal(d.src[15], 1);
        assert_int_equal(d.sport, 1);
    }
}

static void test_too_deep(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    struct decoded d;
    size_t at[DECODE_MAX_LAYERS + 2];
    eth(&f, 0x0800);
    for (int i = 0; i < DECODE_MAX_LAYERS + 2; i++)
        at[i] = ip4(&f, i + 1 < DECODE_MAX_LAYERS + 2 ? 4 : 17, (uint8_t)(i + 1), 200);
    size_t u = udp(&f, 1, 2);
    udp_end(&f, u);
    for (int i = DECODE_MAX_LAYERS + 1; i >= 0; i--)
        ip4_end(&f, at[i]);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_TUNNEL_TOO_DEEP);
    assert_int_equal(d.layers, DECODE_MAX_LAYERS);
    assert_v4(d.src, DECODE_MAX_LAYERS + 1);   /* the last header that was read */
    assert_false(d.has_ports);

    /* an inner IP header 2 KB into the frame is not decoded (Arkime's limit) */
    f.n = 0;
    eth(&f, 0x86dd);
    size_t o = ip6(&f, 60, 1, 2);
    put8(&f, 4); put8(&f, 255); putn(&f, 0, 2046);
    udp4_packet(&f);
    ip6_end(&f, o);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_int_equal(d.event, DECODE_TUNNEL_TOO_DEEP);
    assert_int_equal(d.ip_version, 6);
    assert_int_equal(d.ip_proto, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp4),
        cmocka_unit_test(test_udp_padding_and_snaplen),
        cmocka_unit_test(test_icmp),
        cmocka_unit_test(test_sctp),
        cmocka_unit_test(test_unknown_proto),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv6_exthdrs),
        cmocka_unit_test(test_ipv6_fragment),
        cmocka_unit_test(test_vlans),
        cmocka_unit_test(test_mpls_pppoe_shims),
        cmocka_unit_test(test_link_types),
        cmocka_unit_test(test_gre),
        cmocka_unit_test(test_udp_tunnels),
        cmocka_unit_test(test_ip_in_ip),
        cmocka_unit_test(test_too_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
