/* decode.h -- from a captured frame to the fields a session needs, in one pass.
 * Owns:  struct decoded (filled on the caller's stack) and decode_packet(), which walks the
 *        link layer (Ethernet, 802.1Q, 802.1ad/QinQ, Linux SLL and SLL2, raw IP, Frame
 *        Relay, PPP, null/loopback, NFLOG, 802.11 with or without radiotap), IPv4 (fragments
 *        flagged) and IPv6 (extension headers),
 *        the tunnels GRE (incl. PPP inside), VXLAN, Geneve, IP-in-IP and 6in4 down to the
 *        innermost flow, and TCP, UDP, ICMP, ICMPv6 and SCTP headers.
 * Lends: d->payload points into the caller's frame, valid as long as the frame.
 * Never: allocates, logs, or reads outside [data, data + caplen); reads a length field
 *        without checking it against what is there. Tunnel nesting stops at DECODE_MAX_LAYERS.
 * Trap:  IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d) so every key is 16 bytes;
 *        d->ip_version says which family to print. */
#ifndef ASHIATO_DECODE_H
#define ASHIATO_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include "decode_events.h"

#define DECODE_MAX_LAYERS 8     /* encapsulations walked before DECODE_TUNNEL_TOO_DEEP */
#define DECODE_MAX_VLANS  4

/* link types we accept (pcap DLT values, see pcap/dlt.h) */
#define DECODE_DLT_NULL        0
#define DECODE_DLT_EN10MB      1
#define DECODE_DLT_RAW         12     /* also 14 and 101 (LINKTYPE_RAW) */
#define DECODE_DLT_LOOP        108
#define DECODE_DLT_FRELAY      107
#define DECODE_DLT_PPP         9
#define DECODE_DLT_LINUX_SLL   113
#define DECODE_DLT_LINUX_SLL2  276
#define DECODE_DLT_IPV4        228
#define DECODE_DLT_IPV6        229
#define DECODE_DLT_IEEE802_11  105
#define DECODE_DLT_RADIOTAP    127    /* DLT_IEEE802_11_RADIO */
#define DECODE_DLT_NFLOG       239

/* tunnels crossed on the way to the inner flow (bits of d->tunnels) */
enum decode_tunnel {
    DECODE_TUNNEL_GRE    = 1 << 0,
    DECODE_TUNNEL_PPP    = 1 << 1,
    DECODE_TUNNEL_VXLAN  = 1 << 2,
    DECODE_TUNNEL_GENEVE = 1 << 3,
    DECODE_TUNNEL_IPIP   = 1 << 4,   /* IPv4 in IPv4 */
    DECODE_TUNNEL_6IN4   = 1 << 5,   /* IPv6 in IPv4 (protocol 41) */
    DECODE_TUNNEL_IP6IP  = 1 << 6,   /* anything in IPv6 (4in6, 6in6) */
    DECODE_TUNNEL_MPLS   = 1 << 7,
    DECODE_TUNNEL_GTP    = 1 << 8,   /* GTP-U (UDP 2152) */
};

#define DECODE_TCP_FIN 0x01
#define DECODE_TCP_SYN 0x02
#define DECODE_TCP_RST 0x04
#define DECODE_TCP_PSH 0x08
#define DECODE_TCP_ACK 0x10
#define DECODE_TCP_URG 0x20
#define DECODE_TCP_ECE 0x40
#define DECODE_TCP_CWR 0x80

struct decoded {
    uint32_t cap_len;              /* bytes captured of the frame */
    uint32_t wire_len;             /* bytes the frame had on the wire */

    /* link layer (outermost Ethernet header, if any) */
    bool     has_mac;
    uint8_t  mac_src[6], mac_dst[6];
    uint8_t  vlan_count;           /* VLAN ids in the order met, outermost first */
    uint16_t vlan[DECODE_MAX_VLANS];
    uint16_t ether_type;           /* ethertype of the innermost network layer */

    /* tunnels */
    uint16_t tunnels;              /* enum decode_tunnel bits */
    uint32_t tunnel_vni;           /* VXLAN / Geneve network id of the innermost tunnel */
    uint8_t  layers;               /* encapsulations walked */

    /* innermost IP layer */
    uint8_t  ip_version;           /* 4, 6, or 0 when the frame carries no IP */
    uint8_t  ip_proto;             /* L4 protocol (6 tcp, 17 udp, 1 icmp, 58 icmpv6, 132 sctp) */
    uint8_t  ttl;                  /* TTL / hop limit */
    uint8_t  src[16], dst[16];     /* v4-mapped for IPv4 */
    bool     is_fragment;          /* IPv4 or IPv6 fragment (any part) */
    bool     frag_more;            /* more fragments follow */
    uint16_t frag_offset;          /* in bytes */
    uint32_t frag_id;
    uint16_t frag_hdr_len;         /* fragment: frame bytes before its data (link + IP headers) */
    uint32_t frag_len;             /* fragment: bytes of data the IP header says it carries */

    /* L4: ports for TCP, UDP, SCTP; type and code for ICMP and ICMPv6 */
    bool     has_ports;            /* false for non-first fragments and unknown protocols */
    uint16_t sport, dport;
    uint8_t  tcp_flags;            /* DECODE_TCP_* */
    uint32_t tcp_seq, tcp_ack;
    uint16_t tcp_window;

    /* ICMP/ICMPv6 errors (v4 types 3, 11, 12; v6 types 1-4): the flow of the packet the error
     * quotes, the attempt it answers. quote_sport/dport are ports (TCP, UDP, SCTP) or the
     * quoted ICMP type/code; both 0 when the quote is a non-first fragment. */
    bool     has_quote;
    uint8_t  quote_proto;
    uint16_t quote_sport, quote_dport;
    uint8_t  quote_src[16], quote_dst[16];   /* same family as the error, v4-mapped */

    /* L4 payload: after the TCP/UDP/SCTP header; for ICMP/ICMPv6 the whole ICMP message.
     * Clamped to the IP length (link padding is never payload) and to what was captured. */
    const uint8_t *payload;
    uint32_t payload_len;          /* bytes present in the capture */
    uint32_t payload_wire_len;     /* bytes the IP header says there were (>= payload_len) */

    enum decode_event event;       /* first failure met, DECODE_OK if none */
};

/* Decode one frame of link type dlt. Zeroes *d first. Returns 0 when d describes an IP packet
 * that can join a session (ip_version != 0), otherwise the enum decode_event that stopped it
 * (also in d->event). A truncated inner layer still returns 0 with d->event set when the IP
 * addresses were read: the packet counts for its session and as malformed. */
int decode_packet(int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                  struct decoded *d);

/* true if dlt is a link type decode_packet() understands */
bool decode_dlt_supported(int dlt);

#endif
