/* fuzz_decode.c -- libFuzzer target for decode_packet(), and frag_table_add() for the
 * fragments it finds (one table across inputs, so fragments of several inputs meet).
 * Input: the first byte picks the link type among those decode_dlt_supported() accepts
 * (index modulo the table below, the order tests/fuzz/make_decode_seeds.py writes), the
 * rest is the frame. Each frame is decoded twice: as captured whole, and as if the snaplen
 * had cut it (wire length larger than the capture). Invariants that must hold for any input
 * are checked and abort on failure. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "frag_table.h"

static struct frag_table *frags;
static uint64_t nfrag;

/* a fragment into the table: a completed datagram must stay within what IP allows */
static void feed_fragment(struct decoded *d)
{
    if (!frags) {
        char err[ASH_ERR_LEN];
        if (!(frags = frag_table_new(16, err)))
            abort();
    }
    struct frag_position pos = { 1, nfrag++, true };
    const struct frag_position *parts;
    struct frag_dgram *g;
    enum decode_event ev;
    enum frag_result r = frag_table_add(frags, d, (int64_t)nfrag, &pos, &ev, &g);
    if ((r == FRAG_DROPPED) != (g == NULL))
        abort();
    size_t n = g ? frag_table_take(frags, g, &parts) : 0;
    if (n > FRAG_MAX_PARTS || (n && parts[n - 1].off != pos.off))
        abort();
    if (r == FRAG_COMPLETE && d->cap_len > 65535u + 65535u)
        abort();
    if (r == FRAG_DROPPED && ev != DECODE_FRAG_OVERLAP && ev != DECODE_FRAG_TOO_BIG &&
        ev != DECODE_FRAG_TOO_MANY)
        abort();
}

static const int dlts[] = {
    DECODE_DLT_EN10MB, DECODE_DLT_NULL, DECODE_DLT_LOOP, DECODE_DLT_RAW, DECODE_DLT_IPV4,
    DECODE_DLT_IPV6, DECODE_DLT_LINUX_SLL, DECODE_DLT_LINUX_SLL2, DECODE_DLT_FRELAY,
    DECODE_DLT_PPP, 14, 101, DECODE_DLT_NFLOG, DECODE_DLT_RADIOTAP, DECODE_DLT_IEEE802_11,
};

static void check(const uint8_t *frame, size_t len, const struct decoded *d, int rc)
{
    if ((rc == 0) != (d->ip_version != 0))
        abort();
    if (rc != 0 && rc != (int)d->event)
        abort();
    if ((unsigned)d->event >= DECODE_EVENT_COUNT)
        abort();
    if (d->ip_version != 0 && d->ip_version != 4 && d->ip_version != 6)
        abort();
    if (d->vlan_count > DECODE_MAX_VLANS || d->layers > DECODE_MAX_LAYERS)
        abort();
    if (d->payload_len > d->payload_wire_len)
        abort();
    if (d->payload != NULL &&
        (d->payload < frame || d->payload > frame + len || d->payload_len > (size_t)(frame + len - d->payload)))
        abort();
    if (d->payload == NULL && d->payload_len != 0)
        abort();
    /* an error's quote: only on ICMP/ICMPv6; an ICMPv4 error's quote is IPv4 (v4-mapped; an
     * IPv6 quote may hold any address, a v4-mapped one too) */
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (d->has_quote && ((d->ip_proto != 1 && d->ip_proto != 58) ||
                         (d->ip_version == 4 && (memcmp(d->quote_src, v4mapped, 12) ||
                                                 memcmp(d->quote_dst, v4mapped, 12)))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
    const uint8_t *frame = data + 1;
    uint32_t len = (uint32_t)(size - 1);
    struct decoded d;

    int rc = decode_packet(dlt, frame, len, len, &d);
    check(frame, len, &d, rc);
    if (rc == 0 && d.is_fragment)
        feed_fragment(&d);
    rc = decode_packet(dlt, frame, len, len + 1500, &d);
    check(frame, len, &d, rc);
    return 0;
}
