/* decode_frames.h -- frame writer and decode helpers shared by test_decode.c and
 *                    test_decode_events.c (static inline: each test file takes what it uses).
 * Frames are built with a tiny writer (struct fb) and copied into a heap buffer of exactly
 * caplen bytes before decoding, so AddressSanitizer catches any read past the capture. */
#ifndef ASHIATO_TEST_DECODE_FRAMES_H
#define ASHIATO_TEST_DECODE_FRAMES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "decode.h"

/* ---- frame writer ---------------------------------------------------------------------- */

struct fb {
    uint8_t b[4200];
    size_t n;
};

static inline void put8(struct fb *f, uint8_t v) { f->b[f->n++] = v; }
static inline void put16(struct fb *f, uint16_t v) { put8(f, (uint8_t)(v >> 8)); put8(f, (uint8_t)v); }
static inline void put32(struct fb *f, uint32_t v) { put16(f, (uint16_t)(v >> 16)); put16(f, (uint16_t)v); }
static inline void putn(struct fb *f, uint8_t v, size_t n) { while (n--) put8(f, v); }
static inline void patch16(struct fb *f, size_t at, uint16_t v)
{
    f->b[at] = (uint8_t)(v >> 8);
    f->b[at + 1] = (uint8_t)v;
}

static const uint8_t MAC_DST[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t MAC_SRC[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static inline void eth(struct fb *f, uint16_t type)
{
    for (int i = 0; i < 6; i++) put8(f, MAC_DST[i]);
    for (int i = 0; i < 6; i++) put8(f, MAC_SRC[i]);
    put16(f, type);
}

static inline void tag(struct fb *f, uint16_t vid, uint16_t next)
{
    put16(f, (uint16_t)(0x2000 | vid));    /* priority 1, so the id must be masked */
    put16(f, next);
}

/* IPv4 header src 10.0.0.<s> dst 10.0.0.<t>; ip4_end() fills in the total length */
static inline size_t ip4(struct fb *f, uint8_t proto, uint8_t s, uint8_t t)
{
    size_t at = f->n;
    put8(f, 0x45); put8(f, 0); put16(f, 0); put16(f, 0x1234); put16(f, 0x4000);
    put8(f, 64); put8(f, proto); put16(f, 0);
    put8(f, 10); put8(f, 0); put8(f, 0); put8(f, s);
    put8(f, 10); put8(f, 0); put8(f, 0); put8(f, t);
    return at;
}
static inline void ip4_end(struct fb *f, size_t at) { patch16(f, at + 2, (uint16_t)(f->n - at)); }

/* IPv6 header 2001:db8::<s> -> 2001:db8::<t>; ip6_end() fills in the payload length */
static inline size_t ip6(struct fb *f, uint8_t nh, uint8_t s, uint8_t t)
{
    size_t at = f->n;
    put32(f, 0x60000000); put16(f, 0); put8(f, nh); put8(f, 55);
    put16(f, 0x2001); put16(f, 0x0db8); putn(f, 0, 11); put8(f, s);
    put16(f, 0x2001); put16(f, 0x0db8); putn(f, 0, 11); put8(f, t);
    return at;
}
static inline void ip6_end(struct fb *f, size_t at) { patch16(f, at + 4, (uint16_t)(f->n - at - 40)); }

static inline void tcp(struct fb *f, uint16_t sp, uint16_t dp, uint8_t flags, size_t plen)
{
    put16(f, sp); put16(f, dp); put32(f, 1000); put32(f, 2000);
    put8(f, 0x60); put8(f, flags); put16(f, 512); put32(f, 0);
    put32(f, 0x020405b4);                  /* MSS option: data offset 6 */
    putn(f, 'A', plen);
}

static inline size_t udp(struct fb *f, uint16_t sp, uint16_t dp)
{
    size_t at = f->n;
    put16(f, sp); put16(f, dp); put16(f, 0); put16(f, 0);
    return at;
}
static inline void udp_end(struct fb *f, size_t at) { patch16(f, at + 4, (uint16_t)(f->n - at)); }

static inline void icmp(struct fb *f, uint8_t type, uint8_t code, size_t plen)
{
    put8(f, type); put8(f, code); put16(f, 0); put32(f, 0x00010001);
    putn(f, 'P', plen);
}

/* ---- decoding -------------------------------------------------------------------------- */

static long g_payload_off;     /* d->payload - frame of the last dec(), -1 for NULL */

static inline int dec_wire(int dlt, const struct fb *f, size_t caplen, size_t wirelen,
                    struct decoded *d)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    assert_non_null(copy);
    memcpy(copy, f->b, caplen);
    int rc = decode_packet(dlt, copy, (uint32_t)caplen, (uint32_t)wirelen, d);
    if (d->payload != NULL) {
        assert_true(d->payload >= copy && d->payload + d->payload_len <= copy + caplen);
        g_payload_off = (long)(d->payload - copy);
    } else {
        g_payload_off = -1;
    }
    assert_true(d->payload_len <= d->payload_wire_len);
    assert_int_equal(rc == 0, d->ip_version != 0);
    if (rc != 0)
        assert_int_equal(rc, d->event);
    d->payload = NULL;                     /* the copy is gone */
    free(copy);
    return rc;
}

static inline int dec(int dlt, const struct fb *f, struct decoded *d)
{
    return dec_wire(dlt, f, f->n, f->n, d);
}

static inline void assert_v4(const uint8_t a[16], uint8_t last)
{
    static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    assert_memory_equal(a, pre, 12);
    assert_int_equal(a[12], 10);
    assert_int_equal(a[15], last);
}

static inline void assert_v6(const uint8_t a[16], uint8_t last)
{
    assert_int_equal(a[0], 0x20);
    assert_int_equal(a[1], 0x01);
    assert_int_equal(a[15], last);
}

/* decode f, expect event ev and whether addresses were read (rc 0) */
static inline void expect_event(int dlt, const struct fb *f, enum decode_event ev, bool ip_read)
{
    struct decoded d;
    int rc = dec(dlt, f, &d);
    assert_string_equal(decode_event_name(d.event), decode_event_name(ev));
    assert_int_equal(rc == 0, ip_read);
}

/* ---- frames used by several tests -------------------------------------------------------- */

static inline void frame_tcp4(struct fb *f)
{
    f->n = 0;
    eth(f, 0x0800);
    size_t ip = ip4(f, 6, 1, 2);
    tcp(f, 40000, 80, DECODE_TCP_SYN | DECODE_TCP_ACK, 10);
    ip4_end(f, ip);
}

static inline void frame_gre_icmp(struct fb *f)
{
    f->n = 0;
    eth(f, 0x0800);
    size_t o = ip4(f, 47, 1, 2);
    put16(f, 0xb000); put16(f, 0x0800);    /* C, K, S */
    put32(f, 0); put32(f, 0xabcd); put32(f, 7);
    size_t in = ip4(f, 1, 3, 4);
    icmp(f, 8, 0, 16);
    ip4_end(f, in);
    ip4_end(f, o);
}

static inline void frame_vxlan(struct fb *f, uint16_t inner_type)
{
    f->n = 0;
    eth(f, 0x0800);
    size_t o = ip4(f, 17, 1, 2);
    size_t u = udp(f, 5555, 4789);
    put32(f, 0x08000000); put32(f, 0x00007b00);    /* I flag, VNI 123 */
    eth(f, inner_type);
    if (inner_type == 0x0800) {
        size_t in = ip4(f, 1, 3, 4);
        icmp(f, 0, 0, 8);
        ip4_end(f, in);
    } else {
        putn(f, 0, 28);                    /* an ARP body */
    }
    udp_end(f, u);
    ip4_end(f, o);
}

static inline void frame_udp6_exthdrs(struct fb *f)
{
    f->n = 0;
    eth(f, 0x8100);
    tag(f, 42, 0x86dd);
    size_t ip = ip6(f, 0, 1, 2);
    put8(f, 43); put8(f, 0); putn(f, 0, 6);          /* hop-by-hop -> routing */
    put8(f, 60); put8(f, 1); putn(f, 0, 14);         /* routing (16 bytes) -> dest opts */
    put8(f, 51); put8(f, 0); putn(f, 0, 6);          /* dest opts -> AH */
    put8(f, 17); put8(f, 1); putn(f, 0, 10);         /* AH (12 bytes) -> UDP */
    size_t u = udp(f, 5353, 53);
    putn(f, 'D', 20);
    udp_end(f, u);
    ip6_end(f, ip);
}


/* append an IPv4/UDP packet 10.0.0.1:1 -> 10.0.0.2:2 */
static inline void udp4_packet(struct fb *f)
{
    size_t ip = ip4(f, 17, 1, 2);
    size_t u = udp(f, 1, 2);
    putn(f, 'u', 5);
    udp_end(f, u);
    ip4_end(f, ip);
}

static inline void udp6_packet(struct fb *f)
{
    size_t ip = ip6(f, 17, 1, 2);
    size_t u = udp(f, 1, 2);
    putn(f, 'u', 5);
    udp_end(f, u);
    ip6_end(f, ip);
}

#endif
