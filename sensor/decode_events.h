/* decode_events.h -- every way a packet can fail to decode, as one X-macro list.
 * Owns:  the list that generates both enum decode_event and the counter names
 *        ("decoder.ipv4.truncated"), so the two cannot drift (Suricata's decode-events.c).
 * Never: holds state. Add an event here and nowhere else.
 * Rule:  DECODE_OK stays first (0); names are "decoder.<layer>.<what>". */
#ifndef ASHIATO_DECODE_EVENTS_H
#define ASHIATO_DECODE_EVENTS_H

#define DECODE_EVENTS(X)                                              \
    X(OK,                   "decoder.ok")                             \
    X(LINK_UNSUPPORTED,     "decoder.link.unsupported")               \
    X(FRAME_BAD_LENGTH,     "decoder.frame.caplen_exceeds_len")       \
    X(FRAME_BAD_TIME,       "decoder.frame.time_out_of_range")        \
    X(ETHER_TRUNCATED,      "decoder.ether.truncated")                \
    X(ETHER_UNKNOWN_TYPE,   "decoder.ether.unknown_type")             \
    X(VLAN_TRUNCATED,       "decoder.vlan.truncated")                 \
    X(VLAN_TOO_MANY,        "decoder.vlan.too_many")                  \
    X(SLL_TRUNCATED,        "decoder.sll.truncated")                  \
    X(SLL2_TRUNCATED,       "decoder.sll2.truncated")                 \
    X(NULL_TRUNCATED,       "decoder.null.truncated")                 \
    X(FR_TRUNCATED,         "decoder.frame_relay.truncated")          \
    X(FR_UNSUPPORTED,       "decoder.frame_relay.unsupported")        \
    X(NFLOG_TRUNCATED,      "decoder.nflog.truncated")                \
    X(NFLOG_BAD_TLV,        "decoder.nflog.bad_tlv")                  \
    X(NFLOG_NO_PAYLOAD,     "decoder.nflog.no_payload")               \
    X(RADIOTAP_TRUNCATED,   "decoder.radiotap.truncated")             \
    X(RADIOTAP_BAD_HEADER,  "decoder.radiotap.bad_header")            \
    X(WLAN_TRUNCATED,       "decoder.wlan.truncated")                 \
    X(WLAN_PROTECTED,       "decoder.wlan.protected")                 \
    X(PPP_TRUNCATED,        "decoder.ppp.truncated")                  \
    X(PPP_UNSUPPORTED,      "decoder.ppp.unsupported")                \
    X(MPLS_TRUNCATED,       "decoder.mpls.truncated")                 \
    X(IPV4_TRUNCATED,       "decoder.ipv4.truncated")                 \
    X(IPV4_BAD_VERSION,     "decoder.ipv4.bad_version")               \
    X(IPV4_BAD_HLEN,        "decoder.ipv4.bad_header_length")         \
    X(IPV4_BAD_TOTAL_LEN,   "decoder.ipv4.bad_total_length")          \
    X(IPV6_TRUNCATED,       "decoder.ipv6.truncated")                 \
    X(IPV6_BAD_VERSION,     "decoder.ipv6.bad_version")               \
    X(IPV6_EXTHDR_TRUNCATED,"decoder.ipv6.exthdr_truncated")          \
    X(IPV6_TOO_MANY_EXTHDRS,"decoder.ipv6.too_many_exthdrs")          \
    X(TCP_TRUNCATED,        "decoder.tcp.truncated")                  \
    X(TCP_BAD_HLEN,         "decoder.tcp.bad_header_length")          \
    X(UDP_TRUNCATED,        "decoder.udp.truncated")                  \
    X(UDP_BAD_LEN,          "decoder.udp.bad_length")                 \
    X(ICMP_TRUNCATED,       "decoder.icmp.truncated")                 \
    X(ICMPV6_TRUNCATED,     "decoder.icmpv6.truncated")               \
    X(ICMP_QUOTE_TRUNCATED, "decoder.icmp.quote_truncated")           \
    X(ICMP_QUOTE_BAD,       "decoder.icmp.quote_bad")                 \
    X(SCTP_TRUNCATED,       "decoder.sctp.truncated")                 \
    X(GRE_TRUNCATED,        "decoder.gre.truncated")                  \
    X(GRE_UNSUPPORTED,      "decoder.gre.unsupported")                \
    X(VXLAN_TRUNCATED,      "decoder.vxlan.truncated")                \
    X(GENEVE_TRUNCATED,     "decoder.geneve.truncated")               \
    X(GTP_TRUNCATED,        "decoder.gtp.truncated")                  \
    X(TUNNEL_TOO_DEEP,      "decoder.tunnel.too_deep")                \
    X(FRAG_OVERLAP,         "decoder.ip_frag.overlap")                \
    X(FRAG_TOO_BIG,         "decoder.ip_frag.too_big")                \
    X(FRAG_TOO_MANY,        "decoder.ip_frag.too_many")               \
    X(NOT_IP,               "decoder.not_ip")

enum decode_event {
#define DECODE_EVENT_ENUM(sym, name) DECODE_##sym,
    DECODE_EVENTS(DECODE_EVENT_ENUM)
#undef DECODE_EVENT_ENUM
    DECODE_EVENT_COUNT
};

/* "decoder.ipv4.truncated" for DECODE_IPV4_TRUNCATED */
const char *decode_event_name(enum decode_event e);

#endif
