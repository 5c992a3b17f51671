/* decode_link.c -- the link layers that are not Ethernet: Linux cooked (SLL, SLL2), BSD
 *                  null/loopback, raw IP, Frame Relay and PPP (also PPP inside GRE/PPPoE).
 * Owns:  nothing beyond the fields of struct decoded these headers lead to.
 * Never: allocates or logs; trusts a length it has not checked against the cursor.
 * Trap:  DLT_NULL stores the address family in the byte order of the machine that captured,
 *        DLT_LOOP in network order: both orders are accepted for both, as libpcap does.
 *        Frame Relay follows Arkime: after the Q.922 address comes either a Cisco ethertype
 *        or RFC 2427's UI control byte 0x03 and an NLPID (0xcc IPv4, 0x8e IPv6, 0x80 SNAP). */
#include "decode_internal.h"

/* SLL: packet type, ARPHRD, address length, 8 address bytes, protocol (an ethertype). */
int decode_sll(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 16);
    if (h == NULL)
        return decode_fail(x, DECODE_SLL_TRUNCATED);
    uint16_t proto = (uint16_t)(h[14] << 8 | h[15]);
    /* protocol values below 0x0600 are Linux's pseudo types (802.3, 802.2 LLC, CAN...) */
    if (proto < 0x0600)
        return decode_fail(x, DECODE_NOT_IP);
    return decode_ethertype(x, proto, c, wire - 16, DECODE_ETHER_UNKNOWN_TYPE);
}

/* SLL2: protocol, reserved, interface index, ARPHRD, packet type, address length, address. */
int decode_sll2(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 20);
    if (h == NULL)
        return decode_fail(x, DECODE_SLL2_TRUNCATED);
    uint16_t proto = (uint16_t)(h[0] << 8 | h[1]);
    if (proto < 0x0600)
        return decode_fail(x, DECODE_NOT_IP);
    return decode_ethertype(x, proto, c, wire - 20, DECODE_ETHER_UNKNOWN_TYPE);
}

/* BSD AF_INET6 differs by system: 24 (NetBSD, OpenBSD, BSD/OS), 28 (FreeBSD), 30 (Darwin) */
static int null_family(uint32_t af)
{
    switch (af) {
    case 2:
        return 4;
    case 24:
    case 28:
    case 30:
        return 6;
    default:
        return 0;
    }
}

int decode_null(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    uint32_t af = cursor_be32(c);
    if (c->bad)
        return decode_fail(x, DECODE_NULL_TRUNCATED);
    int v = null_family(af);
    if (v == 0)
        v = null_family(__builtin_bswap32(af));
    if (v == 4)
        return decode_ipv4(x, c, wire - 4);
    if (v == 6)
        return decode_ipv6(x, c, wire - 4);
    return decode_fail(x, DECODE_NOT_IP);
}

/* Raw IP: the version nibble says which. */
int decode_raw(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    if (cursor_left(c) > 0 && (c->p[0] >> 4) == 6)
        return decode_ipv6(x, c, wire);
    return decode_ipv4(x, c, wire);
}

/* SNAP header after NLPID 0x80: OUI 00-00-00 carries an ethertype, 00-80-C2 bridged frames
 * (PID 0x0001 with FCS, 0x0007 without) carry Ethernet. */
static int decode_frelay_snap(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *s = cursor_bytes(c, 5);
    if (s == NULL)
        return decode_fail(x, DECODE_FR_TRUNCATED);
    uint16_t pid = (uint16_t)(s[3] << 8 | s[4]);
    wire -= 5;
    if (s[0] == 0 && s[1] == 0 && s[2] == 0)
        return decode_ethertype(x, pid, c, wire, DECODE_FR_UNSUPPORTED);
    if (s[0] == 0x00 && s[1] == 0x80 && s[2] == 0xc2 && (pid == 0x0001 || pid == 0x0007)) {
        if (decode_enter(x, 0))
            return x->d->event;
        return decode_ether(x, c, wire);
    }
    return decode_fail(x, DECODE_FR_UNSUPPORTED);
}

int decode_frelay(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    /* Q.922 address: 2 to 4 bytes, the last one has its EA bit (bit 0) set */
    uint32_t alen = 0;
    uint8_t b;
    do {
        b = cursor_u8(c);
        if (c->bad)
            return decode_fail(x, DECODE_FR_TRUNCATED);
        alen++;
    } while ((b & 0x01) == 0 && alen < 4);
    if ((b & 0x01) == 0 || alen < 2)
        return decode_fail(x, DECODE_FR_UNSUPPORTED);
    wire -= alen;

    uint8_t b0 = cursor_u8(c);
    uint8_t b1 = cursor_u8(c);
    if (c->bad)
        return decode_fail(x, DECODE_FR_TRUNCATED);
    wire -= 2;
    if (b0 != 0x03)                        /* Cisco encapsulation: an ethertype */
        return decode_ethertype(x, (uint16_t)(b0 << 8 | b1), c, wire, DECODE_FR_UNSUPPORTED);

    uint8_t nlpid = b1;
    if (nlpid == 0x00) {                   /* optional pad before the NLPID */
        nlpid = cursor_u8(c);
        if (c->bad)
            return decode_fail(x, DECODE_FR_TRUNCATED);
        wire -= 1;
    }
    switch (nlpid) {
    case 0xcc:
        return decode_ipv4(x, c, wire);
    case 0x8e:
        return decode_ipv6(x, c, wire);
    case 0x80:
        return decode_frelay_snap(x, c, wire);
    case 0x08:                             /* Q.933 signalling (LMI) */
    case 0x09:
        return decode_fail(x, DECODE_NOT_IP);
    default:
        return decode_fail(x, DECODE_FR_UNSUPPORTED);
    }
}

int decode_ppp_proto(struct decode_ctx *x, uint16_t proto, struct cursor *c, uint32_t wire)
{
    switch (proto) {
    case 0x0021:
        return decode_ipv4(x, c, wire);
    case 0x0057:
        return decode_ipv6(x, c, wire);
    case 0x0281:                           /* MPLS unicast */
    case 0x0283:
        return decode_ethertype(x, 0x8847, c, wire, DECODE_PPP_UNSUPPORTED);
    default:
        /* 0x8000 and up are control protocols (LCP, IPCP, CHAP...): no IP in them */
        if (proto >= 0x8000)
            return decode_fail(x, DECODE_NOT_IP);
        return decode_fail(x, DECODE_PPP_UNSUPPORTED);
    }
}

/* PPP in HDLC-like framing (RFC 1662): address 0xff and control 0x03 may be omitted (ACFC),
 * the protocol may be one byte when odd (PFC). Cisco HDLC (0x0f/0x8f) shows up on DLT_PPP
 * too and carries an ethertype. */
int decode_ppp(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    if (cursor_left(c) < 2)
        return decode_fail(x, DECODE_PPP_TRUNCATED);
    if ((c->p[0] == 0x0f || c->p[0] == 0x8f) && c->p[1] == 0x00) {
        cursor_skip(c, 2);
        uint16_t type = cursor_be16(c);
        if (c->bad)
            return decode_fail(x, DECODE_PPP_TRUNCATED);
        return decode_ethertype(x, type, c, wire - 4, DECODE_PPP_UNSUPPORTED);
    }
    if (c->p[0] == 0xff && c->p[1] == 0x03) {
        cursor_skip(c, 2);
        wire -= 2;
    }
    uint16_t proto = cursor_u8(c);
    if (c->bad)
        return decode_fail(x, DECODE_PPP_TRUNCATED);
    wire -= 1;
    if ((proto & 0x01) == 0) {
        proto = (uint16_t)(proto << 8 | cursor_u8(c));
        if (c->bad)
            return decode_fail(x, DECODE_PPP_TRUNCATED);
        wire -= 1;
    }
    return decode_ppp_proto(x, proto, c, wire);
}
