/* test_decode_linktypes.c -- the link types of issue 15, NFLOG (DLT 239) and 802.11 behind
 * radiotap (DLT 127) or bare (DLT 105): frames built byte by byte as the kernel and a
 * monitor-mode driver write them, decoded by the real decoder and counted by the real session
 * table (both directions of one UDP flow make one session), and their decoder events. */
#include "decode_frames.h"

#include "session_table.h"

/* ---- NFLOG ----------------------------------------------------------------------------- */

static void tlv(struct fb *f, bool le, uint16_t type, const uint8_t *v, size_t n)
{
    uint16_t len = (uint16_t)(4 + n);
    if (le) {
        put8(f, (uint8_t)len); put8(f, (uint8_t)(len >> 8));
        put8(f, (uint8_t)type); put8(f, (uint8_t)(type >> 8));
    } else {
        put16(f, len); put16(f, type);
    }
    for (size_t i = 0; i < n; i++)
        put8(f, v[i]);
    while (f->n % 4)
        put8(f, 0);
}

/* NFLOG record of a UDP packet 10.0.0.<s>:sp -> 10.0.0.<t>:dp with 5 bytes of data */
static void nflog_udp(struct fb *f, bool le, uint8_t s, uint8_t t, uint16_t sp, uint16_t dp)
{
    struct fb ip = { .n = 0 };
    size_t at = ip4(&ip, 17, s, t);
    size_t u = udp(&ip, sp, dp);
    putn(&ip, 'n', 5);
    udp_end(&ip, u);
    ip4_end(&ip, at);

    f->n = 0;
    put8(f, 2); put8(f, 0); put16(f, 7);                 /* AF_INET, version 0, group 7 */
    static const uint8_t hdr[4] = { 0x08, 0x00, 3, 0 };  /* NFULA_PACKET_HDR: IPv4, hook */
    tlv(f, le, 1, hdr, sizeof hdr);
    tlv(f, le, 10, (const uint8_t *)"ashiato", 8);       /* NFULA_PREFIX, padded to 12 */
    tlv(f, le, 9, ip.b, ip.n);                            /* NFULA_PAYLOAD */
}

static struct session_table *table(int *emitted)
{
    static const struct session_table_config cfg = {
        .max_sessions = 16, .tcp_timeout = 480, .udp_timeout = 60, .icmp_timeout = 10,
        .sctp_timeout = 60, .other_timeout = 60, .tcp_close_timeout = 5,
        .tcp_save_timeout = 480, .max_packets = 10000,
    };
    char err[ASH_ERR_LEN];
    struct session_table *t = session_table_new(&cfg, NULL, NULL, NULL, err);
    assert_non_null(t);
    *emitted = 0;
    return t;
}

static void nflog_frames_make_one_session(void **state)
{
    (void)state;
    int dummy;
    struct session_table *t = table(&dummy);
    struct fb f;
    struct decoded d;
    int dir;
    struct session *s = NULL;
    /* the request logged on a little-endian host, the answer as a big-endian one writes it */
    nflog_udp(&f, true, 1, 2, 40000, 53);
    assert_int_equal(dec(DECODE_DLT_NFLOG, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_int_equal(d.ip_version, 4);
    assert_v4(d.src, 1);
    assert_v4(d.dst, 2);
    assert_int_equal(d.sport, 40000);
    assert_int_equal(d.payload_wire_len, 5);
    assert_false(d.has_mac);
    s = session_table_packet(t, &d, 1000000, &dir);
    nflog_udp(&f, false, 2, 1, 53, 40000);
    assert_int_equal(dec(DECODE_DLT_NFLOG, &f, &d), 0);
    assert_int_equal(d.dport, 40000);
    assert_ptr_equal(session_table_packet(t, &d, 1000001, &dir), s);
    assert_int_equal(dir, 1);
    assert_int_equal(s->packets[0], 1);
    assert_int_equal(s->packets[1], 1);
    assert_int_equal(s->key.proto, 17);
    session_table_free(t);
}

static void nflog_events(void **state)
{
    (void)state;
    struct fb f = { .n = 0 };
    put8(&f, 2); put8(&f, 0);
    expect_event(DECODE_DLT_NFLOG, &f, DECODE_NFLOG_TRUNCATED, false);

    f.n = 0;                                              /* a record without a payload TLV */
    put8(&f, 2); put8(&f, 0); put16(&f, 7);
    tlv(&f, true, 10, (const uint8_t *)"x", 2);
    expect_event(DECODE_DLT_NFLOG, &f, DECODE_NFLOG_NO_PAYLOAD, false);

    f.n = 0;                                              /* a length that fits no order */
    put8(&f, 2); put8(&f, 0); put16(&f, 7);
    put8(&f, 0xff); put8(&f, 0x7f); put8(&f, 9); put8(&f, 0);
    putn(&f, 0, 8);
    expect_event(DECODE_DLT_NFLOG, &f, DECODE_NFLOG_BAD_TLV, false);

    nflog_udp(&f, true, 1, 2, 1, 2);                      /* payload cut by the snaplen */
    struct decoded d;
    assert_int_equal(dec_wire(DECODE_DLT_NFLOG, &f, 40, f.n, &d), DECODE_IPV4_TRUNCATED);
}

/* ---- radiotap + 802.11 ----------------------------------------------------------------- */

static const uint8_t STA[6] = { 0x02, 0xaa, 0, 0, 0, 0x01 };
static const uint8_t AP[6] = { 0x02, 0xbb, 0, 0, 0, 0x02 };
static const uint8_t GW[6] = { 0x02, 0xcc, 0, 0, 0, 0x03 };

static void mac(struct fb *f, const uint8_t m[6]) { for (int i = 0; i < 6; i++) put8(f, m[i]); }

/* radiotap (flags with FCS, rate), a QoS data frame to or from the AP, LLC/SNAP, IPv4 UDP,
 * then the 4-byte FCS. to_ds: the station sends; else the AP delivers to the station. */
static void wlan_udp(struct fb *f, bool radiotap, bool to_ds, uint8_t fc_flags_extra)
{
    f->n = 0;
    if (radiotap) {
        put8(f, 0); put8(f, 0); put8(f, 12); put8(f, 0);  /* version, pad, length 12 */
        put8(f, 0x06); put8(f, 0); put8(f, 0); put8(f, 0); /* present: flags, rate */
        put8(f, 0x10);                                    /* flags: FCS at the end */
        put8(f, 0x6c);                                    /* 54 Mb/s */
        put16(f, 0);                                      /* padding to length 12 */
    }
    put8(f, 0x88);                                        /* data, subtype QoS data */
    put8(f, (uint8_t)((to_ds ? 0x01 : 0x02) | fc_flags_extra));
    put16(f, 0x2c00);                                     /* duration */
    if (to_ds) {
        mac(f, AP); mac(f, STA); mac(f, GW);              /* BSSID, SA, DA */
    } else {
        mac(f, STA); mac(f, AP); mac(f, GW);              /* DA, BSSID, SA */
    }
    put16(f, 0x1000);                                     /* sequence control */
    put16(f, 0);                                          /* QoS control */
    put8(f, 0xaa); put8(f, 0xaa); put8(f, 0x03);          /* LLC/SNAP, IPv4 */
    put8(f, 0); put8(f, 0); put8(f, 0); put16(f, 0x0800);
    size_t at = ip4(f, 17, to_ds ? 9 : 1, to_ds ? 1 : 9);
    size_t u = udp(f, to_ds ? 5353 : 53, to_ds ? 53 : 5353);
    putn(f, 'w', 20);
    udp_end(f, u);
    ip4_end(f, at);
    put32(f, 0xdeadbeef);                                 /* FCS */
}

static void radiotap_frames_make_one_session(void **state)
{
    (void)state;
    int dummy;
    struct session_table *t = table(&dummy);
    struct fb f;
    struct decoded d;
    int dir;
    wlan_udp(&f, true, true, 0);
    assert_int_equal(dec(DECODE_DLT_RADIOTAP, &f, &d), 0);
    assert_int_equal(d.event, DECODE_OK);
    assert_v4(d.src, 9);
    assert_int_equal(d.sport, 5353);
    assert_int_equal(d.payload_wire_len, 20);             /* the FCS is not payload */
    assert_true(d.has_mac);
    assert_memory_equal(d.mac_src, STA, 6);
    assert_memory_equal(d.mac_dst, GW, 6);
    struct session *s = session_table_packet(t, &d, 1000000, &dir);
    assert_memory_equal(s->mac_src, STA, 6);

    wlan_udp(&f, true, false, 0);                         /* the answer, from the AP */
    assert_int_equal(dec(DECODE_DLT_RADIOTAP, &f, &d), 0);
    assert_memory_equal(d.mac_src, GW, 6);
    assert_memory_equal(d.mac_dst, STA, 6);
    assert_ptr_equal(session_table_packet(t, &d, 1000001, &dir), s);
    assert_int_equal(dir, 1);
    assert_int_equal(s->packets[0] + s->packets[1], 2);

    /* the same frame without radiotap (DLT_IEEE802_11) joins too */
    struct fb bare;
    wlan_udp(&bare, false, true, 0);
    assert_int_equal(dec(DECODE_DLT_IEEE802_11, &bare, &d), 0);
    assert_ptr_equal(session_table_packet(t, &d, 1000002, &dir), s);
    assert_int_equal(s->packets[0], 2);
    session_table_free(t);
}

static void radiotap_events(void **state)
{
    (void)state;
    struct fb f;
    wlan_udp(&f, true, true, 0x40);                       /* protected: encrypted body */
    expect_event(DECODE_DLT_RADIOTAP, &f, DECODE_WLAN_PROTECTED, false);

    wlan_udp(&f, true, true, 0);
    f.b[2] = 0xff; f.b[3] = 0x7f;                         /* radiotap longer than the frame */
    expect_event(DECODE_DLT_RADIOTAP, &f, DECODE_RADIOTAP_BAD_HEADER, false);

    wlan_udp(&f, true, true, 0);
    struct decoded d;
    assert_int_equal(dec_wire(DECODE_DLT_RADIOTAP, &f, 20, f.n, &d), DECODE_WLAN_TRUNCATED);

    f.n = 0;                                              /* a beacon: management */
    put8(&f, 0); put8(&f, 0); put8(&f, 8); put8(&f, 0); put32(&f, 0);
    put8(&f, 0x80); put8(&f, 0); putn(&f, 0xff, 30);
    expect_event(DECODE_DLT_RADIOTAP, &f, DECODE_NOT_IP, false);

    wlan_udp(&f, false, true, 0);                         /* LLC that is not SNAP */
    f.b[26] = 0x42;
    expect_event(DECODE_DLT_IEEE802_11, &f, DECODE_NOT_IP, false);

    assert_true(decode_dlt_supported(DECODE_DLT_NFLOG));
    assert_true(decode_dlt_supported(DECODE_DLT_RADIOTAP));
    assert_string_equal(decode_event_name(DECODE_WLAN_PROTECTED), "decoder.wlan.protected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nflog_frames_make_one_session),
        cmocka_unit_test(nflog_events),
        cmocka_unit_test(radiotap_frames_make_one_session),
        cmocka_unit_test(radiotap_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
