/* decode_ipv6.c -- the IPv6 header and its extension headers (hop-by-hop, routing, fragment,
 *                  destination options, AH), at most DECODE_MAX_EXTHDRS of them.
 * Owns:  the IP fields of struct decoded while the packet's innermost IPv6 layer is decoded.
 * Never: allocates or logs; reads past the payload length (link padding is not payload).
 * Trap:  AH is walked over here like any extension header (d->ip_proto is what follows it);
 *        IPv4 keeps AH as the protocol, as Arkime does. A fragment header with a non-zero
 *        offset ends the walk: no L4 header follows, has_ports stays false. */
#include "decode_internal.h"

enum {
    NH_HOPOPTS  = 0,
    NH_ROUTING  = 43,
    NH_FRAGMENT = 44,
    NH_AH       = 51,
    NH_DSTOPTS  = 60,
};

int decode_ipv6(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;

    if (ASH_UNLIKELY((size_t)(c->p - x->frame) >= DECODE_MAX_IP_OFFSET))
        return decode_fail(x, DECODE_TUNNEL_TOO_DEEP);

    /* the fixed header, taken whole through the cursor and indexed within its 40 bytes */
    const uint8_t *h = cursor_bytes(c, 40);
    if (h == NULL)
        return decode_fail(x, DECODE_IPV6_TRUNCATED);
    if ((h[0] >> 4) != 6)
        return decode_fail(x, DECODE_IPV6_BAD_VERSION);

    uint8_t nh = h[6];
    d->ip_version = 6;
    d->ether_type = DECODE_ETHERTYPE_IPV6;
    d->ip_proto = nh;
    d->ttl = h[7];
    memcpy(d->src, h + 8, 16);
    memcpy(d->dst, h + 24, 16);
    d->is_fragment = false;
    d->frag_more = false;
    d->frag_offset = 0;
    d->frag_id = 0;
    d->frag_hdr_len = 0;
    d->frag_len = 0;
    decode_reset_l4(d);

    uint32_t plen = (uint32_t)h[4] << 8 | h[5];
    if (plen > wire - 40)
        return decode_fail(x, DECODE_IPV6_TRUNCATED);
    struct cursor p = cursor_sub(c, plen);

    for (unsigned n = 0;; n++) {
        uint32_t elen;
        switch (nh) {
        case NH_HOPOPTS:
        case NH_ROUTING:
        case NH_DSTOPTS:
        case NH_AH:
        case NH_FRAGMENT:
            break;
        default:
            d->ip_proto = nh;
            return decode_ip_payload(x, nh, &p, plen);
        }
        if (n >= DECODE_MAX_EXTHDRS)
            return decode_fail(x, DECODE_IPV6_TOO_MANY_EXTHDRS);

        if (cursor_left(&p) < 8)   /* every extension header is at least 8 bytes */
            return decode_fail(x, DECODE_IPV6_EXTHDR_TRUNCATED);
        const uint8_t *e = p.p;
        bool was_frag = nh == NH_FRAGMENT;
        if (was_frag) {
            elen = 8;
            uint16_t off = (uint16_t)(e[2] << 8 | e[3]);
            if (off & 0xfff9) {    /* offset non-zero or M set; else an atomic fragment */
                d->is_fragment = true;
                d->frag_more = (off & 0x0001) != 0;
                d->frag_offset = off & 0xfff8;
                d->frag_id = (uint32_t)e[4] << 24 | (uint32_t)e[5] << 16 |
                             (uint32_t)e[6] << 8 | e[7];
            }
        } else if (nh == NH_AH) {
            elen = ((uint32_t)e[1] + 2) * 4;
        } else {
            elen = ((uint32_t)e[1] + 1) * 8;
        }
        if (elen > plen)
            return decode_fail(x, DECODE_IPV6_EXTHDR_TRUNCATED);
        cursor_skip(&p, elen);
        if (p.bad)
            return decode_fail(x, DECODE_IPV6_EXTHDR_TRUNCATED);
        plen -= elen;
        nh = e[0];
        d->ip_proto = nh;
        if (d->is_fragment && was_frag) {    /* where the fragment's data starts */
            d->frag_hdr_len = (uint16_t)(p.p - x->frame);
            d->frag_len = plen;
        }
        if (d->is_fragment && d->frag_offset != 0) {
            decode_set_payload(d, &p, plen);
            return 0;
        }
    }
}
