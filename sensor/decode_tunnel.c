/* decode_tunnel.c -- tunnels down to the inner flow: GRE (v0 with checksum/key/sequence, v1
 *                    enhanced GRE with PPP as PPTP uses it, ERSPAN I/II/III inside), IP in IP
 *                    (4in4, 6in4, 4in6, 6in6), VXLAN (UDP 4789), VXLAN-GPE (4790), Geneve
 *                    (6081).
 * Owns:  d->tunnels bits and d->tunnel_vni.
 * Never: allocates or logs; enters a tunnel past DECODE_MAX_LAYERS.
 * Trap:  once inside, a failure before the inner addresses leaves the OUTER flow in d
 *        (addresses, protocol) with the event set, as Arkime keys such packets. A UDP packet
 *        to a tunnel port whose header does not look like that tunnel stays plain UDP
 *        (Arkime's UNKNOWN); one that does loses its outer ports on the way in, so a
 *        tunnelled ARP keys on the outer addresses with no ports (vxlan.pcap). */
#include "decode_internal.h"

#define GRE_C    0x8000   /* checksum present */
#define GRE_R    0x4000   /* routing present (RFC 1701, obsolete) */
#define GRE_K    0x2000   /* key present */
#define GRE_S    0x1000   /* sequence number present */
#define GRE_A    0x0080   /* acknowledgment present (version 1) */
#define GRE_VER  0x0007

#define GRE_PROTO_ERSPAN2  0x88be   /* also type I when no sequence number */
#define GRE_PROTO_ERSPAN3  0x22eb

/* ERSPAN in GRE: type I (0x88be without a sequence number) has no header, type III 12 bytes
 * (+8 with the O bit); type II (0x88be with one) is left to decode_ethertype(). */
static int decode_erspan(struct decode_ctx *x, uint16_t proto, bool has_seq, struct cursor *c,
                         uint32_t wire)
{
    uint32_t hlen = 0;
    if (proto == GRE_PROTO_ERSPAN2 && has_seq)
        return decode_ethertype(x, proto, c, wire, DECODE_GRE_UNSUPPORTED);
    if (proto == GRE_PROTO_ERSPAN3) {
        if (cursor_left(c) < 12)
            return decode_fail(x, DECODE_GRE_TRUNCATED);
        hlen = (c->p[11] & 0x01) ? 20 : 12;
    }
    if (hlen > wire)
        return decode_fail(x, DECODE_GRE_TRUNCATED);
    cursor_skip(c, hlen);
    if (c->bad)
        return decode_fail(x, DECODE_GRE_TRUNCATED);
    return decode_ether(x, c, wire - hlen);
}

int decode_gre(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    uint16_t flags = cursor_be16(c);
    uint16_t proto = cursor_be16(c);
    if (c->bad)
        return decode_fail(x, DECODE_GRE_TRUNCATED);
    uint16_t ver = flags & GRE_VER;
    if (ver > 1 || (flags & GRE_R))
        return decode_fail(x, DECODE_GRE_UNSUPPORTED);

    uint32_t hlen = 4;
    if (flags & GRE_C)
        hlen += 4;                             /* checksum, reserved */
    if (flags & GRE_K)
        hlen += 4;                             /* key (v1: payload length, call id) */
    if (flags & GRE_S)
        hlen += 4;
    if (ver == 1 && (flags & GRE_A))
        hlen += 4;
    if (hlen > wire)
        return decode_fail(x, DECODE_GRE_TRUNCATED);
    cursor_skip(c, hlen - 4);
    if (c->bad)
        return decode_fail(x, DECODE_GRE_TRUNCATED);
    wire -= hlen;

    int rc = decode_enter(x, DECODE_TUNNEL_GRE);
    if (rc)
        return rc;
    switch (proto) {
    case DECODE_ETHERTYPE_TEB:
        return decode_ether(x, c, wire);
    case GRE_PROTO_ERSPAN2:
    case GRE_PROTO_ERSPAN3:
        return decode_erspan(x, proto, (flags & GRE_S) != 0, c, wire);
    default:
        return decode_ethertype(x, proto, c, wire, DECODE_GRE_UNSUPPORTED);
    }
}

int decode_ip_in_ip(struct decode_ctx *x, uint8_t proto, struct cursor *c, uint32_t wire)
{
    uint16_t bit;
    if (x->d->ip_version == 6)
        bit = DECODE_TUNNEL_IP6IP;
    else
        bit = proto == 4 ? DECODE_TUNNEL_IPIP : DECODE_TUNNEL_6IN4;
    int rc = decode_enter(x, bit);
    if (rc)
        return rc;
    return proto == 4 ? decode_ipv4(x, c, wire) : decode_ipv6(x, c, wire);
}

static inline uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Go inside: the outer UDP ports and payload no longer describe the packet. */
static int udp_tunnel_enter(struct decode_ctx *x, uint16_t bit)
{
    int rc = decode_enter(x, bit);
    if (rc == 0)
        decode_reset_l4(x->d);
    return rc;
}

/* VXLAN (RFC 7348): flags (I bit 0x08, G bit 0x80 of GBP), reserved, VNI, reserved. */
static int decode_vxlan(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = c->p;
    if (cursor_left(c) < 8)
        return decode_fail(x, DECODE_VXLAN_TRUNCATED);
    if ((h[0] & 0x77) != 0 || (h[1] & 0xb7) != 0)
        return 0;                              /* not VXLAN: plain UDP */
    if (udp_tunnel_enter(x, DECODE_TUNNEL_VXLAN))
        return 1;
    if (h[0] & 0x08)
        x->d->tunnel_vni = be24(h + 4);
    cursor_skip(c, 8);
    decode_ether(x, c, wire - 8);
    return 1;
}

/* VXLAN-GPE: like VXLAN with a next-protocol byte (1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH). */
static int decode_vxlan_gpe(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = c->p;
    if (cursor_left(c) < 8)
        return decode_fail(x, DECODE_VXLAN_TRUNCATED);
    if ((h[0] & 0xf0) != 0 || h[1] != 0 || h[3] < 1 || h[3] > 4)
        return 0;
    if (udp_tunnel_enter(x, DECODE_TUNNEL_VXLAN))
        return 1;
    if (h[0] & 0x08)
        x->d->tunnel_vni = be24(h + 4);
    cursor_skip(c, 8);
    wire -= 8;
    switch (h[3]) {
    case 1:
        decode_ipv4(x, c, wire);
        break;
    case 2:
        decode_ipv6(x, c, wire);
        break;
    case 3:
        decode_ether(x, c, wire);
        break;
    default:
        decode_ethertype(x, 0x894f, c, wire, DECODE_ETHER_UNKNOWN_TYPE);
        break;
    }
    return 1;
}

/* Geneve (RFC 8926): version, option length in 4-byte words, flags, protocol (an
 * ethertype), VNI, reserved, options. */
static int decode_geneve(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = c->p;
    if (cursor_left(c) < 8)
        return decode_fail(x, DECODE_GENEVE_TRUNCATED);
    if ((h[0] & 0xc0) != 0 || (h[1] & 0x3f) != 0)
        return 0;
    uint32_t hlen = 8 + (uint32_t)(h[0] & 0x3f) * 4;
    if (hlen > wire)
        return 0;                              /* options longer than the datagram */
    cursor_skip(c, hlen);
    if (c->bad)
        return decode_fail(x, DECODE_GENEVE_TRUNCATED);
    if (udp_tunnel_enter(x, DECODE_TUNNEL_GENEVE))
        return 1;
    x->d->tunnel_vni = be24(h + 4);
    uint16_t proto = (uint16_t)(h[2] << 8 | h[3]);
    wire -= hlen;
    if (proto == DECODE_ETHERTYPE_TEB)
        decode_ether(x, c, wire);
    else
        decode_ethertype(x, proto, c, wire, DECODE_ETHER_UNKNOWN_TYPE);
    return 1;
}

/* GTP-U (3GPP TS 29.281): version 1 with PT set, message type 0xff (T-PDU) carries an IP
 * packet; the optional sequence / N-PDU / next-extension word and the extension-header chain
 * (each a length in 4-byte words, content, next type) come before it. */
static int decode_gtp(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = c->p;
    if (cursor_left(c) < 8)
        return decode_fail(x, DECODE_GTP_TRUNCATED);
    if ((h[0] & 0xf0) != 0x30 || h[1] != 0xff)
        return 0;                              /* not a GTPv1 T-PDU: plain UDP */
    struct cursor g = *c;
    cursor_skip(&g, 8);
    uint32_t hlen = 8;
    if (h[0] & 0x07) {                         /* E, S or PN: one more word */
        cursor_skip(&g, 3);
        uint8_t next = cursor_u8(&g);
        hlen += 4;
        for (int n = 0; next && n < 8 && !g.bad; n++) {
            uint8_t words = cursor_u8(&g);
            if (words == 0)
                return decode_fail(x, DECODE_GTP_TRUNCATED);
            cursor_skip(&g, (size_t)words * 4 - 2);
            next = cursor_u8(&g);
            hlen += (uint32_t)words * 4;
        }
        if (next)
            return decode_fail(x, DECODE_GTP_TRUNCATED);
    }
    if (g.bad || hlen >= wire || cursor_left(&g) < 1)
        return decode_fail(x, DECODE_GTP_TRUNCATED);
    uint8_t version = g.p[0] >> 4;
    if (version != 4 && version != 6)
        return 0;
    if (udp_tunnel_enter(x, DECODE_TUNNEL_GTP))
        return 1;
    *c = g;
    if (version == 4)
        decode_ipv4(x, c, wire - hlen);
    else
        decode_ipv6(x, c, wire - hlen);
    return 1;
}

int decode_udp_tunnel(struct decode_ctx *x, uint16_t dport, struct cursor *c, uint32_t wire)
{
    /* Arkime looks only at datagrams with more than the 8-byte tunnel header */
    if (wire <= 8)
        return 0;
    switch (dport) {
    case 4789:
        return decode_vxlan(x, c, wire);
    case 4790:
        return decode_vxlan_gpe(x, c, wire);
    case 6081:
        return decode_geneve(x, c, wire);
    case 2152:
        return decode_gtp(x, c, wire);
    default:
        return 0;
    }
}
