/* decode.c -- decode_packet(): pick the link-layer decoder for a pcap link type, then report.
 * Owns:  the link-type table (decode_dlt_supported) and the event names (decode_event_name).
 * Lends: nothing beyond what decode.h says (d->payload points into the caller's frame).
 * Never: allocates, logs, or makes a system call; this runs once per captured packet.
 * Trap:  the return value is 0 whenever IP addresses were read, even with d->event set
 *        (a truncated TCP header still counts for its session); callers that want "clean"
 *        must test d->event too. */
#include "decode_internal.h"

static const char *const event_names[DECODE_EVENT_COUNT] = {
#define DECODE_EVENT_NAME(sym, name) name,
    DECODE_EVENTS(DECODE_EVENT_NAME)
#undef DECODE_EVENT_NAME
};

const char *decode_event_name(enum decode_event e)
{
    if ((unsigned)e >= DECODE_EVENT_COUNT)
        return "decoder.invalid";
    return event_names[e];
}

bool decode_dlt_supported(int dlt)
{
    switch (dlt) {
    case DECODE_DLT_NULL:
    case DECODE_DLT_EN10MB:
    case DECODE_DLT_PPP:
    case DECODE_DLT_RAW:
    case 14:                        /* DLT_RAW on OpenBSD */
    case 101:                       /* LINKTYPE_RAW as written in pcap files */
    case DECODE_DLT_FRELAY:
    case DECODE_DLT_LOOP:
    case DECODE_DLT_LINUX_SLL:
    case DECODE_DLT_LINUX_SLL2:
    case DECODE_DLT_IPV4:
    case DECODE_DLT_IPV6:
    case DECODE_DLT_IEEE802_11:
    case DECODE_DLT_RADIOTAP:
    case DECODE_DLT_NFLOG:
        return true;
    default:
        return false;
    }
}

int decode_packet(int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                  struct decoded *d)
{
    static const uint8_t empty[1];
    static const struct decoded zero;

    /* a struct copy, not memset(): GCC 12 -O2 turns this 128-byte memset into `rep stos`;
     * the copy (8 SSE stores) was ~10% faster on the Arkime test corpus (36 -> 33 ns/pkt,
     * best of 5, decode alone; no bench/RESULTS.md entry yet) */
    *d = zero;
    d->cap_len = caplen;
    d->wire_len = wirelen;
    if (data == NULL) {
        data = empty;
        caplen = 0;
    }

    struct decode_ctx x = { d, data };
    if (wirelen < caplen)                     /* a record claiming more than the wire had */
        d->event = DECODE_FRAME_BAD_LENGTH;
    struct cursor c = cursor_make(data, caplen);
    uint32_t wire = wirelen > caplen ? wirelen : caplen;

    switch (dlt) {
    case DECODE_DLT_EN10MB:
        decode_ether(&x, &c, wire);
        break;
    case DECODE_DLT_RAW:
    case 14:
    case 101:
        decode_raw(&x, &c, wire);
        break;
    case DECODE_DLT_IPV4:
        decode_ipv4(&x, &c, wire);
        break;
    case DECODE_DLT_IPV6:
        decode_ipv6(&x, &c, wire);
        break;
    case DECODE_DLT_LINUX_SLL:
        decode_sll(&x, &c, wire);
        break;
    case DECODE_DLT_LINUX_SLL2:
        decode_sll2(&x, &c, wire);
        break;
    case DECODE_DLT_NULL:
    case DECODE_DLT_LOOP:
        decode_null(&x, &c, wire);
        break;
    case DECODE_DLT_FRELAY:
        decode_frelay(&x, &c, wire);
        break;
    case DECODE_DLT_PPP:
        decode_ppp(&x, &c, wire);
        break;
    case DECODE_DLT_NFLOG:
        decode_nflog(&x, &c, wire);
        break;
    case DECODE_DLT_RADIOTAP:
        decode_radiotap(&x, &c, wire);
        break;
    case DECODE_DLT_IEEE802_11:
        decode_wlan(&x, &c, wire);
        break;
    default:
        decode_fail(&x, DECODE_LINK_UNSUPPORTED);
        break;
    }

    if (ASH_LIKELY(d->ip_version != 0))
        return 0;
    if (d->event == DECODE_OK)        /* every non-IP path sets an event; be sure anyway */
        d->event = DECODE_NOT_IP;
    return (int)d->event;
}
