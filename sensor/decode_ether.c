/* decode_ether.c -- Ethernet II and 802.3/SNAP headers, and everything an ethertype selects
 *                   short of IP: 802.1Q/802.1ad tags, MPLS, PPPoE, NSH, Cisco MetaData,
 *                   ERSPAN II.
 * Owns:  the outermost MAC addresses and the VLAN ids (outermost first) in struct decoded.
 * Never: allocates or logs; reads a byte the cursor has not vouched for.
 * Trap:  decode_ethertype() loops over tags instead of recursing; anything that does recurse
 *        (MPLS, PPPoE, NSH, Cisco MetaData, Ethernet in Ethernet) goes through decode_enter()
 *        so that a frame made of nothing but shims ends at DECODE_MAX_LAYERS, not on the
 *        stack's floor. */
#include "decode_internal.h"

#define ETHERTYPE_VLAN      0x8100
#define ETHERTYPE_QINQ      0x88a8
#define ETHERTYPE_QINQ_OLD  0x9100
#define ETHERTYPE_MPLS      0x8847
#define ETHERTYPE_MPLS_MC   0x8848
#define ETHERTYPE_PPPOE     0x8864
#define ETHERTYPE_NSH       0x894f
#define ETHERTYPE_CMD       0x8909   /* Cisco MetaData (TrustSec SGT) */
#define ETHERTYPE_PPP       0x880b
#define ETHERTYPE_ERSPAN2   0x88be   /* ERSPAN type II straight on Ethernet */

/* well-known ethertypes that carry no IP: DECODE_NOT_IP rather than an unknown type */
static bool ethertype_known_not_ip(uint16_t type)
{
    switch (type) {
    case 0x0806:    /* ARP */
    case 0x0842:    /* Wake-on-LAN */
    case 0x22f3:    /* TRILL */
    case 0x6002:    /* DEC MOP */
    case 0x8035:    /* RARP */
    case 0x80f3:    /* AppleTalk AARP */
    case 0x8137:    /* IPX */
    case 0x8808:    /* Ethernet flow control */
    case 0x8809:    /* slow protocols (LACP) */
    case 0x8863:    /* PPPoE discovery */
    case 0x888e:    /* EAPOL */
    case 0x8892:    /* PROFINET */
    case 0x88a4:    /* EtherCAT */
    case 0x88cc:    /* LLDP */
    case 0x88e5:    /* MACsec */
    case 0x88f7:    /* PTP */
    case 0x8902:    /* CFM */
    case 0x8906:    /* FCoE */
    case 0x8914:    /* FIP */
    case 0x893a:    /* IEEE 1905 */
    case 0x9000:    /* loopback */
        return true;
    default:
        return false;
    }
}

/* MPLS label stack, then a guess at the payload from its first nibble (as everyone does). */
static int decode_mpls(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    for (;;) {
        if (decode_enter(x, DECODE_TUNNEL_MPLS))
            return x->d->event;
        uint32_t label = cursor_be32(c);
        if (c->bad)
            return decode_fail(x, DECODE_MPLS_TRUNCATED);
        wire -= 4;
        if (label & 0x100)                     /* bottom of stack */
            break;
    }
    if (cursor_left(c) == 0)
        return decode_fail(x, DECODE_MPLS_TRUNCATED);
    switch (c->p[0] >> 4) {
    case 4:
        return decode_ipv4(x, c, wire);
    case 6:
        return decode_ipv6(x, c, wire);
    case 0:                                    /* pseudowire control word, then Ethernet */
        cursor_skip(c, 4);
        if (c->bad)
            return decode_fail(x, DECODE_MPLS_TRUNCATED);
        if (decode_enter(x, 0))
            return x->d->event;
        return decode_ether(x, c, wire - 4);
    default:
        return decode_fail(x, DECODE_NOT_IP);
    }
}

/* PPPoE session stage (RFC 2516): 6-byte header, its length clamps the PPP frame. */
static int decode_pppoe(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 6);
    if (h == NULL)
        return decode_fail(x, DECODE_PPP_TRUNCATED);
    if (h[0] != 0x11 || h[1] != 0x00)
        return decode_fail(x, DECODE_PPP_UNSUPPORTED);
    uint32_t len = (uint32_t)h[4] << 8 | h[5];
    if (len > wire - 6)
        return decode_fail(x, DECODE_PPP_TRUNCATED);
    if (decode_enter(x, DECODE_TUNNEL_PPP))
        return x->d->event;
    struct cursor p = cursor_sub(c, len);
    uint16_t proto = cursor_be16(&p);
    if (p.bad)
        return decode_fail(x, DECODE_PPP_TRUNCATED);
    return decode_ppp_proto(x, proto, &p, len - 2);
}

/* Network Service Header (RFC 8300): length in 4-byte words, then a next protocol. */
static int decode_nsh(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 8);
    if (h == NULL)
        return decode_fail(x, DECODE_ETHER_TRUNCATED);
    uint32_t hlen = (uint32_t)(h[1] & 0x3f) * 4;
    if ((h[0] >> 6) != 0 || hlen < 8 || hlen > wire)
        return decode_fail(x, DECODE_ETHER_UNKNOWN_TYPE);
    cursor_skip(c, hlen - 8);
    if (c->bad)
        return decode_fail(x, DECODE_ETHER_TRUNCATED);
    if (decode_enter(x, 0))
        return x->d->event;
    wire -= hlen;
    switch (h[3]) {
    case 1:
        return decode_ipv4(x, c, wire);
    case 2:
        return decode_ipv6(x, c, wire);
    case 3:
        return decode_ether(x, c, wire);
    case 4:
        return decode_nsh(x, c, wire);
    case 5:
        return decode_mpls(x, c, wire);
    default:
        return decode_fail(x, DECODE_NOT_IP);
    }
}

int decode_ethertype(struct decode_ctx *x, uint16_t type, struct cursor *c, uint32_t wire,
                     enum decode_event unknown)
{
    struct decoded *d = x->d;

    for (;;) {
        d->ether_type = type;
        switch (type) {
        case DECODE_ETHERTYPE_IPV4:
            return decode_ipv4(x, c, wire);
        case DECODE_ETHERTYPE_IPV6:
            return decode_ipv6(x, c, wire);
        case ETHERTYPE_VLAN:
        case ETHERTYPE_QINQ:
        case ETHERTYPE_QINQ_OLD: {
            uint16_t tci = cursor_be16(c);
            type = cursor_be16(c);
            if (c->bad)
                return decode_fail(x, DECODE_VLAN_TRUNCATED);
            if (d->vlan_count >= DECODE_MAX_VLANS)
                return decode_fail(x, DECODE_VLAN_TOO_MANY);
            d->vlan[d->vlan_count++] = tci & 0x0fff;
            wire -= 4;
            unknown = DECODE_ETHER_UNKNOWN_TYPE;
            continue;
        }
        case ETHERTYPE_CMD: {
            /* version, length, option type, SGT: 6 bytes, then the next ethertype */
            cursor_skip(c, 6);
            type = cursor_be16(c);
            if (c->bad)
                return decode_fail(x, DECODE_ETHER_TRUNCATED);
            if (decode_enter(x, 0))
                return d->event;
            wire -= 8;
            continue;
        }
        case ETHERTYPE_MPLS:
        case ETHERTYPE_MPLS_MC:
            return decode_mpls(x, c, wire);
        case ETHERTYPE_PPPOE:
            return decode_pppoe(x, c, wire);
        case ETHERTYPE_NSH:
            return decode_nsh(x, c, wire);
        case DECODE_ETHERTYPE_TEB:
            if (decode_enter(x, 0))
                return d->event;
            return decode_ether(x, c, wire);
        case ETHERTYPE_PPP:
            if (decode_enter(x, DECODE_TUNNEL_PPP))
                return d->event;
            return decode_ppp(x, c, wire);
        case ETHERTYPE_ERSPAN2:
            /* 8-byte header, then the mirrored frame (arkime_synthetic.pcap); inside GRE,
             * decode_gre() sorts out types I and III first */
            cursor_skip(c, 8);
            if (c->bad)
                return decode_fail(x, DECODE_ETHER_TRUNCATED);
            if (decode_enter(x, 0))
                return d->event;
            return decode_ether(x, c, wire - 8);
        default:
            if (ethertype_known_not_ip(type) || type < 0x0600)
                return decode_fail(x, DECODE_NOT_IP);
            return decode_fail(x, unknown);
        }
    }
}

/* 802.3 frame (type field is a length) or 802.11 data: only LLC/SNAP with an ethertype can
 * carry IP. */
int decode_llc(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 3);
    if (h == NULL)
        return decode_fail(x, DECODE_ETHER_TRUNCATED);
    if (h[0] != 0xaa || h[1] != 0xaa || h[2] != 0x03)
        return decode_fail(x, DECODE_NOT_IP);
    const uint8_t *snap = cursor_bytes(c, 5);
    if (snap == NULL)
        return decode_fail(x, DECODE_ETHER_TRUNCATED);
    if (snap[0] != 0 || snap[1] != 0 || (snap[2] != 0 && snap[2] != 0xf8))
        return decode_fail(x, DECODE_NOT_IP);
    uint16_t type = (uint16_t)(snap[3] << 8 | snap[4]);
    if (type < 0x0600)
        return decode_fail(x, DECODE_NOT_IP);
    return decode_ethertype(x, type, c, wire - 8, DECODE_ETHER_UNKNOWN_TYPE);
}

int decode_ether(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;
    const uint8_t *h = cursor_bytes(c, 14);

    if (h == NULL)
        return decode_fail(x, DECODE_ETHER_TRUNCATED);
    if (!d->has_mac) {
        d->has_mac = true;
        memcpy(d->mac_dst, h, 6);
        memcpy(d->mac_src, h + 6, 6);
    }
    uint16_t type = (uint16_t)(h[12] << 8 | h[13]);
    wire -= 14;
    if (type < 0x0600) {
        /* the length clamps the frame (Ethernet pads short frames) */
        if (type < wire)
            wire = type;
        *c = cursor_sub(c, wire);
        return decode_llc(x, c, wire);
    }
    return decode_ethertype(x, type, c, wire, DECODE_ETHER_UNKNOWN_TYPE);
}
