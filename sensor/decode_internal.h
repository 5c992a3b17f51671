/* decode_internal.h -- what the decode_*.c files share with each other and nobody else.
 * Owns:  struct decode_ctx (the frame being decoded and the struct decoded being filled),
 *        decode_fail() and decode_enter(), and the entry point of every layer decoder.
 * Never: is included outside sensor/decode*.c; allocates; logs.
 * Trap:  each layer decoder gets a cursor over the bytes its layer has in the CAPTURE and
 *        `wire`, the bytes that layer had on the WIRE (always >= what the cursor holds).
 *        A length field larger than `wire` is malformed; one larger than the capture only
 *        means the snaplen cut the frame. Keep the invariant when descending: consume the
 *        header through the cursor first (so it was captured), then subtract it from wire.
 *        A decoder writes a layer's fields only once the layer has passed its checks, so a
 *        failing inner layer leaves the outer flow in place (Arkime's "corrupt-ip" session). */
#ifndef ASHIATO_DECODE_INTERNAL_H
#define ASHIATO_DECODE_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "ashiato.h"
#include "cursor.h"
#include "decode.h"

/* An IP header that starts this many bytes or more into the frame is not decoded
 * (DECODE_TUNNEL_TOO_DEEP): Arkime keeps IP offsets in 11 bits and does the same, so such a
 * packet stays on its outer flow, flagged (arkime_synthetic->pcap, 2 KB of IPv6 options). */
#define DECODE_MAX_IP_OFFSET 2048
#define DECODE_MAX_EXTHDRS   8     /* IPv6 extension headers before TOO_MANY_EXTHDRS */

#define DECODE_ETHERTYPE_IPV4     0x0800
#define DECODE_ETHERTYPE_IPV6     0x86dd
#define DECODE_ETHERTYPE_TEB      0x6558   /* transparent Ethernet bridging (GRE, Geneve) */

struct decode_ctx {
    struct decoded *d;
    const uint8_t  *frame;    /* first byte of the frame, for DECODE_MAX_IP_OFFSET */
};

/* Record the first failure and return it (non-zero) so a decoder can `return decode_fail()`. */
static inline int decode_fail(struct decode_ctx *x, enum decode_event e)
{
    if (x->d->event == DECODE_OK)
        x->d->event = e;
    return (int)e;
}

/* Enter one more encapsulation: sets the tunnel bit (0 for shims that have none) and fails
 * with TUNNEL_TOO_DEEP past DECODE_MAX_LAYERS. Every path that recurses goes through here. */
static inline int decode_enter(struct decode_ctx *x, uint16_t tunnel_bit)
{
    struct decoded *d = x->d;
    if (ASH_UNLIKELY(d->layers >= DECODE_MAX_LAYERS))
        return decode_fail(x, DECODE_TUNNEL_TOO_DEEP);
    d->layers++;
    d->tunnels |= tunnel_bit;
    return 0;
}

/* Forget the L4 fields of an outer layer (a tunnel's UDP ports, an outer IP's payload). */
static inline void decode_reset_l4(struct decoded *d)
{
    d->has_ports = false;
    d->sport = d->dport = 0;
    d->tcp_flags = 0;
    d->tcp_seq = d->tcp_ack = 0;
    d->tcp_window = 0;
    d->has_quote = false;
    d->payload = NULL;
    d->payload_len = d->payload_wire_len = 0;
}

/* The rest of the layer as the L4 payload (unknown protocols, non-first fragments). */
static inline void decode_set_payload(struct decoded *d, const struct cursor *c, uint32_t wire)
{
    d->payload = c->p;
    d->payload_len = (uint32_t)cursor_left(c);
    d->payload_wire_len = wire;
}

/* Decoders take the cursor by pointer and consume it. Passed by value (24 bytes, on the
 * stack) every layer paid a store-forwarding stall on the `bad` byte: 75 ns/pkt against
 * 33 ns/pkt by pointer on the Arkime test corpus (decode alone, perf on this machine). */

/* decode_ether.c */
int decode_ether(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_ethertype(struct decode_ctx *x, uint16_t type, struct cursor *c, uint32_t wire,
                     enum decode_event unknown);

/* LLC/SNAP (802.3 with a length, 802.11 data): an ethertype after AA-AA-03 and an OUI */
int decode_llc(struct decode_ctx *x, struct cursor *c, uint32_t wire);

/* decode_wlan.c */
int decode_nflog(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_wlan(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_radiotap(struct decode_ctx *x, struct cursor *c, uint32_t wire);

/* decode_link.c */
int decode_sll(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_sll2(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_null(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_raw(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_frelay(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_ppp(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_ppp_proto(struct decode_ctx *x, uint16_t proto, struct cursor *c, uint32_t wire);

/* decode_ipv4.c, decode_ipv6.c */
int decode_ipv4(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_ipv6(struct decode_ctx *x, struct cursor *c, uint32_t wire);

/* decode_l4.c: everything after the IP header(s), protocol `proto` */
int decode_ip_payload(struct decode_ctx *x, uint8_t proto, struct cursor *c, uint32_t wire);

/* decode_tunnel.c */
int decode_gre(struct decode_ctx *x, struct cursor *c, uint32_t wire);
int decode_ip_in_ip(struct decode_ctx *x, uint8_t proto, struct cursor *c, uint32_t wire);
/* UDP payload c to destination port dport: returns 0 if it is plain UDP (d untouched),
 * non-zero if it was taken for a tunnel (d describes what was inside, or the outer flow with
 * d->event set). */
int decode_udp_tunnel(struct decode_ctx *x, uint16_t dport, struct cursor *c, uint32_t wire);

#endif
