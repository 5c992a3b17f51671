/* decode_wlan.c -- the capture link types of a Linux host that are not a wire: NFLOG (a
 *                  netfilter log rule's packets, `nflog:N`) and 802.11 with or without a
 *                  radiotap header (a monitor-mode interface), down to LLC/SNAP.
 * Owns:  nothing beyond the fields of struct decoded these headers lead to (802.11 gives the
 *        frame's source and destination MAC addresses).
 * Never: allocates or logs; trusts a TLV or radiotap length it has not checked against the
 *        cursor.
 * Trap:  NFLOG's TLV length and type are in the byte order of the capturing host (libpcap
 *        swaps them only when it reads a file of the other order itself): little-endian is
 *        tried first, then big-endian, and a length that fits neither is malformed. The
 *        radiotap length is little-endian by definition. A trailing 802.11 FCS needs no
 *        parsing of radiotap's flags: the IP length already keeps it out of the payload. */
#include "decode_internal.h"

#define NFLOG_HDR        4        /* family, version, resource id */
#define NFULA_PAYLOAD    9        /* the packet, from its network header on */
#define NFLOG_MAX_TLVS   64       /* the kernel sends about a dozen */

int decode_nflog(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, NFLOG_HDR);
    if (h == NULL)
        return decode_fail(x, DECODE_NFLOG_TRUNCATED);
    uint8_t family = h[0];
    wire -= NFLOG_HDR;
    for (int n = 0; n < NFLOG_MAX_TLVS && cursor_left(c) > 0; n++) {
        const uint8_t *t = cursor_bytes(c, 4);
        if (t == NULL)
            return decode_fail(x, DECODE_NFLOG_TRUNCATED);
        size_t left = cursor_left(c) + 4;
        uint16_t len = (uint16_t)(t[0] | t[1] << 8), type = (uint16_t)(t[2] | t[3] << 8);
        if (len < 4 || len > wire) {              /* not little-endian: the other order */
            len = (uint16_t)(t[0] << 8 | t[1]);
            type = (uint16_t)(t[2] << 8 | t[3]);
        }
        if (len < 4 || len > wire)
            return decode_fail(x, DECODE_NFLOG_BAD_TLV);
        uint32_t vlen = len - 4u;
        if ((type & 0x7fff) == NFULA_PAYLOAD) {
            struct cursor p = cursor_sub(c, vlen < left - 4 ? vlen : left - 4);
            switch (family) {
            case 2:
                return decode_ipv4(x, &p, vlen);
            case 10:
                return decode_ipv6(x, &p, vlen);
            default:
                return decode_raw(x, &p, vlen);
            }
        }
        uint32_t padded = (len + 3u) & ~3u;       /* TLVs are 4-byte aligned */
        if (padded > wire)
            padded = len;
        if (len > left)
            return decode_fail(x, DECODE_NFLOG_TRUNCATED);
        cursor_skip(c, (padded < left ? padded : left) - 4);
        wire -= padded;
    }
    return decode_fail(x, DECODE_NFLOG_NO_PAYLOAD);
}

/* 802.11 frame control, byte 0: type in bits 2-3, subtype in bits 4-7; byte 1: flags */
#define WLAN_TYPE_DATA     2
#define WLAN_TO_DS         0x01
#define WLAN_FROM_DS       0x02
#define WLAN_PROTECTED     0x40
#define WLAN_ORDER         0x80

int decode_wlan(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    struct decoded *d = x->d;
    const uint8_t *h = cursor_bytes(c, 24);
    if (h == NULL)
        return decode_fail(x, DECODE_WLAN_TRUNCATED);
    uint8_t type = (h[0] >> 2) & 3, subtype = h[0] >> 4, flags = h[1];
    if (type != WLAN_TYPE_DATA || (subtype & 0x04))     /* management, control, null data */
        return decode_fail(x, DECODE_NOT_IP);
    uint32_t hlen = 24;
    bool ds4 = (flags & (WLAN_TO_DS | WLAN_FROM_DS)) == (WLAN_TO_DS | WLAN_FROM_DS);
    const uint8_t *a4 = NULL;
    if (ds4) {
        a4 = cursor_bytes(c, 6);
        hlen += 6;
    }
    if (subtype & 0x08) {                                  /* QoS data: QoS control */
        cursor_skip(c, 2);
        hlen += 2;
        if (flags & WLAN_ORDER) {                          /* and an HT control field */
            cursor_skip(c, 4);
            hlen += 4;
        }
    }
    if (c->bad || (ds4 && a4 == NULL))
        return decode_fail(x, DECODE_WLAN_TRUNCATED);
    if (flags & WLAN_PROTECTED)                            /* WEP/WPA: nothing readable */
        return decode_fail(x, DECODE_WLAN_PROTECTED);

    /* addresses 1-3 at 4, 10, 16: destination and source by the DS bits */
    const uint8_t *da = h + 4, *sa = h + 10;
    switch (flags & (WLAN_TO_DS | WLAN_FROM_DS)) {
    case WLAN_TO_DS:
        da = h + 16;
        break;
    case WLAN_FROM_DS:
        sa = h + 16;
        break;
    case WLAN_TO_DS | WLAN_FROM_DS:
        da = h + 16;
        sa = a4;
        break;
    default:
        break;
    }
    if (!d->has_mac) {
        d->has_mac = true;
        memcpy(d->mac_dst, da, 6);
        memcpy(d->mac_src, sa, 6);
    }
    return decode_llc(x, c, wire - hlen);
}

/* radiotap: version 0, pad, length (little-endian, the whole radiotap header), present
 * bitmaps; the 802.11 frame follows the length. */
int decode_radiotap(struct decode_ctx *x, struct cursor *c, uint32_t wire)
{
    const uint8_t *h = cursor_bytes(c, 8);
    if (h == NULL)
        return decode_fail(x, DECODE_RADIOTAP_TRUNCATED);
    uint32_t len = (uint32_t)(h[2] | h[3] << 8);
    if (h[0] != 0 || len < 8 || len > wire)
        return decode_fail(x, DECODE_RADIOTAP_BAD_HEADER);
    cursor_skip(c, len - 8);
    if (c->bad)
        return decode_fail(x, DECODE_RADIOTAP_TRUNCATED);
    return decode_wlan(x, c, wire - len);
}
