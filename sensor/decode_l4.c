/* decode_l4.c -- what follows the IP header: TCP, UDP, ICMP, ICMPv6 and SCTP headers, and the
 *                hand-off to the tunnel decoders (GRE, IP in IP, UDP tunnels).
 * Owns:  the L4 fields of struct decoded (ports or ICMP type/code, TCP flags and numbers,
 *        payload, and an ICMP error's quoted flow).
 * Never: allocates or logs; reports a payload longer than the capture or than the IP layer.
 * Trap:  for ICMP and ICMPv6 sport/dport are type/code and the payload is the whole message,
 *        header included (Arkime counts it so). TCP options cut by the snaplen are not an
 *        event: nothing here needs them; the payload is then empty in the capture. UDP
 *        tunnels are recognised by destination port only, as Arkime does. */
#include "decode_internal.h"

#define PROTO_ICMP    1
#define PROTO_IPIP    4
#define PROTO_TCP     6
#define PROTO_UDP     17
#define PROTO_IPV6    41
#define PROTO_GRE     47
#define PROTO_ICMPV6  58
#define PROTO_SCTP    132

static int decode_tcp(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;
    const uint8_t *h = cursor_bytes(c, 20);
    if (h == NULL)
        return decode_fail(x, DECODE_TCP_TRUNCATED);
    uint32_t doff = (uint32_t)(h[12] >> 4) * 4;
    if (doff < 20 || doff > wire)
        return decode_fail(x, DECODE_TCP_BAD_HLEN);

    d->has_ports = true;
    d->sport = (uint16_t)(h[0] << 8 | h[1]);
    d->dport = (uint16_t)(h[2] << 8 | h[3]);
    d->tcp_seq = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    d->tcp_ack = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
    d->tcp_flags = h[13];
    d->tcp_window = (uint16_t)(h[14] << 8 | h[15]);

    cursor_skip(c, doff - 20);                /* options */
    bool cut = c->bad;                        /* the snaplen cut the header itself */
    decode_set_payload(d, c, wire - doff);
    return cut ? decode_fail(x, DECODE_TCP_TRUNCATED) : 0;
}

static int decode_udp(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;
    const uint8_t *h = cursor_bytes(c, 8);
    if (h == NULL)
        return decode_fail(x, DECODE_UDP_TRUNCATED);
    uint32_t ulen = (uint32_t)h[4] << 8 | h[5];
    if (ulen < 8)
        return decode_fail(x, DECODE_UDP_BAD_LEN);
    if (!d->is_fragment) {
        /* a first fragment's UDP length covers the datagram, not this fragment */
        if (ulen > wire)
            return decode_fail(x, DECODE_UDP_BAD_LEN);
        wire = ulen;
        *c = cursor_sub(c, ulen - 8);
    }

    uint16_t dport = (uint16_t)(h[2] << 8 | h[3]);
    d->has_ports = true;
    d->sport = (uint16_t)(h[0] << 8 | h[1]);
    d->dport = dport;
    decode_set_payload(d, c, wire - 8);

    if (!d->is_fragment && (dport == 4789 || dport == 4790 || dport == 6081 || dport == 2152))
        decode_udp_tunnel(x, dport, c, wire - 8);
    return 0;
}

static bool proto_has_ports(uint8_t proto)
{
    return proto == PROTO_TCP || proto == PROTO_UDP || proto == PROTO_SCTP ||
           proto == PROTO_ICMP || proto == PROTO_ICMPV6;
}

/* The quoted packet's first 4 transport bytes: ports, or an ICMP message's type and code.
 * RFC 792 promises 8 bytes of the quoted transport header; 4 are all a flow key needs. */
static int quote_ports(struct decode_ctx *x, struct cursor *q, uint8_t proto, bool first)
{
    struct decoded *d = x->d;
    d->quote_sport = d->quote_dport = 0;
    if (first && proto_has_ports(proto)) {
        if (proto == PROTO_ICMP || proto == PROTO_ICMPV6) {
            d->quote_sport = cursor_u8(q);
            d->quote_dport = cursor_u8(q);
        } else {
            d->quote_sport = cursor_be16(q);
            d->quote_dport = cursor_be16(q);
        }
        if (q->bad)
            return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
    }
    d->quote_proto = proto;
    d->has_quote = true;
    return 0;
}

/* An ICMPv4 error quotes the IPv4 header and the first 8 bytes after it (RFC 792). */
static int quote_ipv4(struct decode_ctx *x, struct cursor *q)
{
    struct decoded *d = x->d;
    uint8_t vhl = cursor_u8(q);
    uint32_t hlen = (uint32_t)(vhl & 0x0f) * 4;
    if (!q->bad && (vhl >> 4 != 4 || hlen < 20))
        return decode_fail(x, DECODE_ICMP_QUOTE_BAD);
    cursor_skip(q, 5);                                    /* tos, total length, id */
    uint16_t frag = cursor_be16(q);
    cursor_skip(q, 1);                                    /* ttl */
    uint8_t proto = cursor_u8(q);
    cursor_skip(q, 2);                                    /* checksum */
    const uint8_t *src = cursor_bytes(q, 4), *dst = cursor_bytes(q, 4);
    if (q->bad)
        return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
    cursor_skip(q, hlen - 20);                            /* options */
    if (q->bad)
        return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
    memset(d->quote_src, 0, 10);
    memset(d->quote_src + 10, 0xff, 2);
    memcpy(d->quote_src + 12, src, 4);
    memset(d->quote_dst, 0, 10);
    memset(d->quote_dst + 10, 0xff, 2);
    memcpy(d->quote_dst + 12, dst, 4);
    return quote_ports(x, q, proto, (frag & 0x1fff) == 0);
}

/* An ICMPv6 error quotes as much of the packet as fits (RFC 4443): the IPv6 header, its
 * extension headers (walked as decode_ipv6.c does), then the transport header. */
static int quote_ipv6(struct decode_ctx *x, struct cursor *q)
{
    struct decoded *d = x->d;
    uint8_t v = cursor_u8(q);
    if (!q->bad && v >> 4 != 6)
        return decode_fail(x, DECODE_ICMP_QUOTE_BAD);
    cursor_skip(q, 5);                                    /* class, flow label, length */
    uint8_t next = cursor_u8(q);
    cursor_skip(q, 1);                                    /* hop limit */
    const uint8_t *src = cursor_bytes(q, 16), *dst = cursor_bytes(q, 16);
    if (q->bad)
        return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
    bool first = true;
    for (int n = 0; next == 0 || next == 43 || next == 44 || next == 60; n++) {
        if (n == DECODE_MAX_EXTHDRS)
            return decode_fail(x, DECODE_ICMP_QUOTE_BAD);
        uint8_t nh = cursor_u8(q), len = cursor_u8(q);
        if (next == 44) {                                 /* fragment: 8 bytes */
            uint16_t off = cursor_be16(q);
            first = first && (off & 0xfff8) == 0;
            cursor_skip(q, 4);
        } else {
            cursor_skip(q, (size_t)len * 8 + 6);
        }
        if (q->bad)
            return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
        next = nh;
    }
    memcpy(d->quote_src, src, 16);
    memcpy(d->quote_dst, dst, 16);
    return quote_ports(x, q, next, first);
}

/* ICMP and ICMPv6 share a layout: type, code, checksum, then the message. An error's quote
 * is decoded after the ICMP fields are in place: a bad quote is an event, never a lost
 * packet, and leaves has_quote false. */
static int decode_icmp(struct decode_ctx *x, struct cursor *c, uint32_t wire, bool v6,
                       enum decode_event trunc)
{
    struct decoded *d = x->d;
    const uint8_t *h = c->p;
    if (cursor_left(c) < 4)
        return decode_fail(x, trunc);
    d->has_ports = true;
    d->sport = h[0];
    d->dport = h[1];
    decode_set_payload(d, c, wire);
    bool error = v6 ? h[0] >= 1 && h[0] <= 4 : h[0] == 3 || h[0] == 11 || h[0] == 12;
    if (!error || d->is_fragment || d->ip_version != (v6 ? 6 : 4))
        return 0;                /* (ICMPv6 over IPv4 or ICMP over IPv6: no quote read) */
    struct cursor q = *c;
    cursor_skip(&q, 8);                                   /* type, code, checksum, unused */
    if (q.bad)
        return decode_fail(x, DECODE_ICMP_QUOTE_TRUNCATED);
    return v6 ? quote_ipv6(x, &q) : quote_ipv4(x, &q);
}

static int decode_sctp(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;
    const uint8_t *h = cursor_bytes(c, 12);   /* ports, verification tag, checksum */
    if (h == NULL)
        return decode_fail(x, DECODE_SCTP_TRUNCATED);
    d->has_ports = true;
    d->sport = (uint16_t)(h[0] << 8 | h[1]);
    d->dport = (uint16_t)(h[2] << 8 | h[3]);
    decode_set_payload(d, c, wire - 12);
    return 0;
}

int decode_ip_payload(struct decode_ctx *x, uint8_t proto, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;

    switch (proto) {
    case PROTO_TCP:
        return decode_tcp(x, c, wire);
    case PROTO_UDP:
        return decode_udp(x, c, wire);
    case PROTO_ICMP:
        return decode_icmp(x, c, wire, false, DECODE_ICMP_TRUNCATED);
    case PROTO_ICMPV6:
        return decode_icmp(x, c, wire, true, DECODE_ICMPV6_TRUNCATED);
    case PROTO_SCTP:
        return decode_sctp(x, c, wire);
    default:
        break;
    }

    /* any other protocol: the packet keys on addresses and protocol, its payload is the
     * rest; for the tunnels that stays so when what is inside cannot be decoded */
    decode_set_payload(d, c, wire);
    if (d->is_fragment)
        return 0;
    switch (proto) {
    case PROTO_GRE:
        return decode_gre(x, c, wire);
    case PROTO_IPIP:
    case PROTO_IPV6:
        return decode_ip_in_ip(x, proto, c, wire);
    default:
        return 0;
    }
}
