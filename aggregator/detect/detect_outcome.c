/* detect_outcome.c -- what a record says about its initiator's attempt: success, failure or
 * unknown (from Zeek's conn_state), and whether it is an attempt at all.
 * Owns:  the conn_state table and the ICMP type recognition.
 * Never: counts anything (the detectors do).
 * Trap:  the sensor's ICMP records carry port 0 on both sides; the type is inside the flow's
 *        Community ID, so it is recovered by hashing the candidate types (a copy of the
 *        spec's ICMP mapping, as sensor/community_id.c computes it; the aggregator may not
 *        include sensor/ headers). An ICMP error (unreachable, time exceeded) quotes the
 *        packet it answers; the sensor marks the quoted session with it (ashiato.icmp_error,
 *        r->icmp_error), which makes that one record a sure failure: one attempt, counted
 *        once. The error's own record (ashiato.icmp_quoted) is never an attempt of the host
 *        that sent it, nor of the quoted source: a quote whose packet the sensor never saw
 *        is what DoS backscatter looks like. */
#include <stdio.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

#include "detect_internal.h"

static void community_id(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                         uint16_t sport, uint16_t dport, bool one_way, char out[32])
{
    bool v4 = detect_addr_is_v4(src);
    size_t alen = v4 ? 4 : 16;
    const uint8_t *a = v4 ? src + 12 : src, *b = v4 ? dst + 12 : dst;
    if (!one_way) {
        int cmp = memcmp(a, b, alen);
        if (cmp > 0 || (cmp == 0 && sport >= dport)) {
            const uint8_t *t = a;
            uint16_t tp = sport;
            a = b;
            b = t;
            sport = dport;
            dport = tp;
        }
    }
    uint8_t buf[40];
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    memcpy(buf + n, a, alen);
    n += alen;
    memcpy(buf + n, b, alen);
    n += alen;
    buf[n++] = proto;
    buf[n++] = 0;
    buf[n++] = (uint8_t)(sport >> 8);
    buf[n++] = (uint8_t)sport;
    buf[n++] = (uint8_t)(dport >> 8);
    buf[n++] = (uint8_t)dport;
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, n, buf);
    sha1_digest(&ctx, sizeof digest, digest);
    out[0] = '1';
    out[1] = ':';
    base64_encode_raw(out + 2, sizeof digest, digest);
    out[2 + BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
}

/* ICMP types detection cares about: echo request/reply (two-way, request->reply port
 * mapping) and the errors (one-way, type and code). */
static int icmp_type(const struct detect_record *r)
{
    if (!r->community_id || !r->community_id[0])
        return -1;
    char cid[32];
    if (r->proto == 1) {
        community_id(r->src, r->dst, 1, 8, 0, false, cid);
        if (!strcmp(cid, r->community_id))
            return 8;       /* echo: request or reply hash alike; the initiator requested */
        static const uint8_t errors[] = { 3, 11, 5, 12 };
        for (size_t t = 0; t < sizeof errors; t++)
            for (uint16_t code = 0; code < 16; code++) {
                community_id(r->src, r->dst, 1, errors[t], code, true, cid);
                if (!strcmp(cid, r->community_id))
                    return errors[t];
            }
    } else if (r->proto == 58) {
        community_id(r->src, r->dst, 58, 128, 129, false, cid);
        if (!strcmp(cid, r->community_id))
            return 128;
        static const uint8_t errors[] = { 1, 2, 3, 4 };
        for (size_t t = 0; t < sizeof errors; t++)
            for (uint16_t code = 0; code < 8; code++) {
                community_id(r->src, r->dst, 58, errors[t], code, true, cid);
                if (!strcmp(cid, r->community_id))
                    return errors[t];
            }
    }
    return -1;
}

/* UDP ports of service discovery and broadcast protocols: NetBIOS name/datagram, mDNS,
 * LLMNR, SSDP, DHCP, WS-Discovery */
static bool discovery_port(uint16_t p)
{
    return p == 137 || p == 138 || p == 5353 || p == 5355 || p == 1900 || p == 67 ||
           p == 68 || p == 546 || p == 547 || p == 3702;
}

/* conn_state as a number (up to 8 characters), so the table is searched without strcmp */
static uint64_t code(const char *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && s[i]; i++)
        v = v << 8 | (uint8_t)s[i];
    return v;
}

#define C2(a, b) ((uint64_t)(a) << 8 | (b))
#define C3(a, b, c) (C2(a, b) << 8 | (c))
#define C4(a, b, c, d) (C3(a, b, c) << 8 | (d))

void detect_outcome(const struct detect_config *c, const struct detect_segidx *x,
                    const struct detect_record *r, struct detect_facts *f)
{
    (void)c;
    const char *cs = r->conn_state ? r->conn_state : "";
    f->outcome = OUTCOME_UNKNOWN;
    f->attempt = false;
    f->icmp_type = -1;
    f->discovery = detect_segidx_discovery(x, r->dst) ||
                   (r->proto == 17 && (discovery_port(r->dport) || discovery_port(r->sport)));
    if (r->proto == 6) {
        /* success: the responder answered the SYN (SYN-ACK) or sent data; failure: S0, REJ,
         * RSTOS0, SH */
        uint64_t k = code(cs);
        if (k == C2('S', '1') || k == C2('S', 'F') || k == C2('S', '2') || k == C2('S', '3') ||
            k == C4('R', 'S', 'T', 'O') || k == C4('R', 'S', 'T', 'R'))
            f->outcome = OUTCOME_SUCCESS;
        else if (k == C2('S', '0') || k == C3('R', 'E', 'J') || k == C2('S', 'H') ||
                 k == (C4('R', 'S', 'T', 'O') << 16 | C2('S', '0')))
            f->outcome = r->dst_bytes ? OUTCOME_SUCCESS : OUTCOME_FAILURE;
        /* OTH, RSTRH, SHR: no SYN from the initiator seen: not an attempt (backscatter) */
        f->attempt = f->outcome != OUTCOME_UNKNOWN;
    } else if (r->proto == 17 || r->proto == 132) {
        if (r->dst_packets)
            f->outcome = OUTCOME_SUCCESS;
        else if (!strcmp(cs, "S0") || r->icmp_error)
            f->outcome = OUTCOME_FAILURE;
        f->attempt = f->outcome != OUTCOME_UNKNOWN;
    } else if (r->proto == 1 || r->proto == 58) {
        f->icmp_type = icmp_type(r);
        if (f->icmp_type == 8 || f->icmp_type == 128) {     /* echo: sweeps count */
            f->outcome = r->dst_packets ? OUTCOME_SUCCESS : OUTCOME_FAILURE;
            f->attempt = true;
        }
    }
    /* the sensor linked an ICMP error to the attempt it quoted (ashiato.icmp_error): a
     * failure nobody answered otherwise is sure, and counts for TRW on UDP/SCTP too */
    f->icmp_failed = r->icmp_error && f->attempt && f->outcome == OUTCOME_FAILURE;
    if (f->discovery)
        f->attempt = false;
}
