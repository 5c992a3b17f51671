/* community_id.c -- Community ID v1 flow hashes (github.com/corelight/community-id-spec).
 * Owns:  the hash input layout, the endpoint ordering and the ICMP/ICMPv6 type pairing.
 * Lends: nothing.
 * Never: allocates (SHA-1 and base64 state live on the stack), logs, or fails.
 * Trap:  one-way ICMP messages keep their direction; reordering them like ports would
 *        give another tool's ID for the same packet. */
#include "community_id.h"

#include <string.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>

#define PROTO_ICMP   1
#define PROTO_ICMPV6 58

/* The request/reply pairs of the spec (its reference code mirrors Zeek's ICMP analyzer). A
 * message of a paired type gets its counterpart as "destination port", so the request and
 * the reply hash alike; any other type is one-way and keeps its code. */
static bool icmp_counterpart(uint8_t proto, uint16_t type, uint16_t *peer)
{
    static const uint8_t v4[][2] = {
        { 8, 0 },       /* echo request, echo reply */
        { 13, 14 },     /* timestamp request, reply */
        { 15, 16 },     /* information request, reply */
        { 10, 9 },      /* router solicitation, advertisement */
        { 17, 18 },     /* address mask request, reply */
    };
    static const uint8_t v6[][2] = {
        { 128, 129 },   /* echo request, echo reply */
        { 130, 131 },   /* multicast listener query, report */
        { 133, 134 },   /* router solicitation, advertisement */
        { 135, 136 },   /* neighbor solicitation, advertisement */
        { 139, 140 },   /* node information (who-are-you) query, reply */
        { 144, 145 },   /* home agent address discovery request, reply */
    };
    const uint8_t (*pairs)[2] = proto == PROTO_ICMP ? v4 : v6;
    size_t n = proto == PROTO_ICMP ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]);

    for (size_t i = 0; i < n; i++) {
        if (type == pairs[i][0]) {
            *peer = pairs[i][1];
            return true;
        }
        if (type == pairs[i][1]) {
            *peer = pairs[i][0];
            return true;
        }
    }
    return false;
}

void community_id_v1(uint8_t ip_version, const uint8_t src[16], const uint8_t dst[16],
                     uint8_t proto, uint16_t sport, uint16_t dport, bool has_ports, uint16_t seed,
                     char out[COMMUNITY_ID_LEN])
{
    /* IPv4 sits in the last 4 bytes of its v4-mapped form */
    size_t alen = ip_version == 4 ? 4 : 16;
    const uint8_t *a = ip_version == 4 ? src + 12 : src;
    const uint8_t *b = ip_version == 4 ? dst + 12 : dst;
    bool one_way = false;

    if (has_ports && (proto == PROTO_ICMP || proto == PROTO_ICMPV6)) {
        uint16_t peer;
        if (icmp_counterpart(proto, sport, &peer))
            dport = peer;
        else
            one_way = true;
    }

    if (!one_way) {
        int cmp = memcmp(a, b, alen);
        if (cmp > 0 || (cmp == 0 && (!has_ports || sport >= dport))) {
            /* the spec orders (smaller address, its port) first; equal tuples swap harmlessly */
            const uint8_t *t = a;
            uint16_t tp = sport;
            a = b;
            b = t;
            sport = dport;
            dport = tp;
        }
    }

    /* seed(2) saddr daddr proto(1) pad(1) [sport(2) dport(2)], all in network order */
    uint8_t buf[2 + 16 + 16 + 2 + 4];
    size_t n = 0;
    buf[n++] = (uint8_t)(seed >> 8);
    buf[n++] = (uint8_t)seed;
    memcpy(buf + n, a, alen);
    n += alen;
    memcpy(buf + n, b, alen);
    n += alen;
    buf[n++] = proto;
    buf[n++] = 0;
    if (has_ports) {
        buf[n++] = (uint8_t)(sport >> 8);
        buf[n++] = (uint8_t)sport;
        buf[n++] = (uint8_t)(dport >> 8);
        buf[n++] = (uint8_t)dport;
    }

    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, n, buf);
    sha1_digest(&ctx, sizeof(digest), digest);

    _Static_assert(2 + BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1 == COMMUNITY_ID_LEN,
                   "COMMUNITY_ID_LEN must hold 1: + base64(SHA-1) + NUL");
    out[0] = '1';
    out[1] = ':';
    base64_encode_raw(out + 2, sizeof(digest), digest);
    out[COMMUNITY_ID_LEN - 1] = '\0';
}
