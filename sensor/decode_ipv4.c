/* decode_ipv4.c -- the IPv4 header: addresses (v4-mapped), TTL, protocol, fragments.
 * Owns:  the IP fields of struct decoded while the packet's innermost IPv4 layer is decoded.
 * Never: allocates or logs; lets link padding or bytes past the total length into the
 *        payload.
 * Trap:  the addresses are written as soon as the version nibble is right, before the
 *        length checks: from there on a failure still returns 0 (the packet belongs to its
 *        flow, flagged). A fragment with a non-zero offset carries no L4 header: it gets
 *        has_ports = false and its fragment data as payload; a first fragment has its ports
 *        but opens no tunnel (the inner packet is not all there). */
#include "decode_internal.h"

static inline void v4_mapped(uint8_t out[16], const uint8_t *a)
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, a, 4);
}

int decode_ipv4(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;

    if (ASH_UNLIKELY((size_t)(c->p - x->frame) >= DECODE_MAX_IP_OFFSET))
        return decode_fail(x, DECODE_TUNNEL_TOO_DEEP);

    /* the fixed header, taken whole through the cursor and indexed within its 20 bytes */
    const uint8_t *h = cursor_bytes(c, 20);
    if (h == NULL)
        return decode_fail(x, DECODE_IPV4_TRUNCATED);
    if ((h[0] >> 4) != 4)
        return decode_fail(x, DECODE_IPV4_BAD_VERSION);

    d->ip_version = 4;
    d->ether_type = DECODE_ETHERTYPE_IPV4;
    d->ip_proto = h[9];
    d->ttl = h[8];
    v4_mapped(d->src, h + 12);
    v4_mapped(d->dst, h + 16);
    d->is_fragment = false;
    d->frag_more = false;
    d->frag_offset = 0;
    d->frag_id = 0;
    d->frag_hdr_len = 0;
    d->frag_len = 0;
    decode_reset_l4(d);

    uint32_t hlen = (uint32_t)(h[0] & 0x0f) * 4;
    uint32_t total = (uint32_t)h[2] << 8 | h[3];
    if (hlen < 20)
        return decode_fail(x, DECODE_IPV4_BAD_HLEN);
    if (total < hlen)
        return decode_fail(x, DECODE_IPV4_BAD_TOTAL_LEN);
    if (total > wire)
        return decode_fail(x, DECODE_IPV4_TRUNCATED);

    /* from here on: only the IP packet's own bytes, never the link's padding */
    struct cursor p = cursor_sub(c, total - 20);
    cursor_skip(&p, hlen - 20);                /* options */
    if (p.bad)
        return decode_fail(x, DECODE_IPV4_TRUNCATED);
    uint32_t pwire = total - hlen;

    uint16_t off = (uint16_t)(h[6] << 8 | h[7]);
    if (off & 0x3fff) {                        /* MF set or offset non-zero */
        d->is_fragment = true;
        d->frag_more = (off & 0x2000) != 0;
        d->frag_offset = (uint16_t)((off & 0x1fff) << 3);
        d->frag_id = (uint32_t)h[4] << 8 | h[5];
        d->frag_hdr_len = (uint16_t)(p.p - x->frame);   /* < DECODE_MAX_IP_OFFSET + 60 */
        d->frag_len = pwire;
        if (d->frag_offset != 0) {
            decode_set_payload(d, &p, pwire);
            return 0;
        }
    }
    return decode_ip_payload(x, h[9], &p, pwire);
}
