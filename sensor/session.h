/* session.h -- struct session: what the sensor knows about one bidirectional flow.
 * Owns:  the layout of a session and its flow key (shared by session_table.c, which keeps
 *        them, and session_record.c, which turns one into a protobuf record).
 * Never: grows past SESSION_SIZE_GOAL bytes (a static assert holds it): at 1M concurrent flows
 *        every byte here is a megabyte. Variable-length things (app fields, packet positions)
 *        live in pools and are referenced by index.
 * Trap:  side A/B is the canonical key order (lower address/port first), not the direction of
 *        the conversation; `src_is_b` says which side initiated. Use session_dir(). */
#ifndef ASHIATO_SESSION_H
#define ASHIATO_SESSION_H

#include <stdint.h>
#include "app.h"

#define SESSION_SIZE_GOAL 200   /* + 8 bytes of hash buckets per slot: under 256 */

/* The flow key, canonical: (a, port_a) sorts before (b, port_b). ICMP keys carry ports 0
 * (Arkime keys ICMP sessions on addresses only); vlan is 0 unless session_key_vlan is set. */
struct session_key {
    uint8_t  a[16], b[16];       /* v4-mapped for IPv4 */
    uint16_t port_a, port_b;
    uint16_t vlan;
    uint8_t  proto;
    uint8_t  ip_version;
};

/* which timer list a session is on; each has its own idle timeout */
enum session_queue {
    SESSION_Q_TCP = 0, SESSION_Q_UDP, SESSION_Q_ICMP, SESSION_Q_SCTP, SESSION_Q_OTHER,
    SESSION_Q_CLOSING,           /* TCP after RST or both FINs: tcp_close_timeout */
    SESSION_Q_COUNT,
    SESSION_Q_NONE = 0xff        /* on the free list */
};

/* Zeek-style history bits, per direction (orig = initiator) */
enum session_hist {
    HIST_ORIG_SYN    = 1 << 0,   /* S */
    HIST_RESP_SYNACK = 1 << 1,   /* H */
    HIST_ORIG_ACK    = 1 << 2,   /* A (pure ack / handshake completion) */
    HIST_RESP_ACK    = 1 << 3,   /* a */
    HIST_ORIG_DATA   = 1 << 4,   /* D */
    HIST_RESP_DATA   = 1 << 5,   /* d */
    HIST_ORIG_FIN    = 1 << 6,   /* F */
    HIST_RESP_FIN    = 1 << 7,   /* f */
    HIST_ORIG_RST    = 1 << 8,   /* R */
    HIST_RESP_RST    = 1 << 9,   /* r */
    HIST_RESP_SYN    = 1 << 10,  /* responder sent a SYN without ACK */
    HIST_ORIG_SYNACK = 1 << 11,  /* initiator sent a SYN-ACK (odd) */
};

/* An ICMP error session's first quoted flow in the current segment: the attempt its first
 * error answered. The quoted source is always the error's receiver, one end of the session
 * (an error quoting someone else's packet is counted, not kept), so only its side is kept. */
struct session_quote {
    uint8_t  dst[16];                /* the quoted destination, v4-mapped */
    uint16_t sport, dport;           /* quoted ports, or the quoted ICMP type/code */
    uint8_t  proto;                  /* quoted IP protocol */
    uint8_t  type, code;             /* the error that quoted it */
    uint8_t  src_b;                  /* the quoted source is key side b */
    uint32_t count;                  /* errors with a kept-able quote this segment; 0 = none */
};

struct session {
    struct session_key key;          /* 40 */
    uint32_t hash;                   /* hash of key */
    uint32_t hnext;                  /* next in bucket chain or free list (slot + 1, 0 = end) */
    uint32_t qprev, qnext;           /* timer list links (slot + 1, 0 = end) */
    uint32_t sprev, snext;           /* TCP save list links, ordered by save_us */
    int64_t  first_us;               /* first packet of the session (kept across segments) */
    int64_t  last_us;                /* last packet */
    int64_t  save_us;                /* when the current segment is saved (tcp_save_timeout) */
    uint64_t bytes[2];               /* frame bytes by direction: [0] initiator, [1] responder */
    uint64_t data_bytes[2];          /* L4 payload bytes by direction */
    uint32_t packets[2];
    union {
        struct { uint32_t syn, syn_ack, ack, psh, fin, rst, urg; };  /* TCP flag counts */
        struct session_quote quote;  /* ICMP/ICMPv6 sessions (no TCP flags): see below */
    };
    uint16_t history;                /* enum session_hist bits */
    uint16_t segment;                /* 1 for the first record of a session */
    uint16_t tunnels;                /* enum decode_tunnel bits seen */
    uint16_t vlan[2];                /* first two VLAN ids met (outermost first) */
    uint8_t  vlan_count;
    uint8_t  src_is_b;               /* the initiator is key side b */
    uint8_t  queue;                  /* enum session_queue */
    uint8_t  icmp_type, icmp_code;   /* ICMP: of the first packet (Community ID); others,
                                      * with SESSION_F_ICMP_ERROR: the first ICMP error
                                      * that quoted the initiator's packet */
    uint8_t  mac_src[6];             /* initiator's MAC (first seen) */
    uint8_t  flags;                  /* SESSION_F_* */
    struct app_state app;            /* 12 */
    uint32_t pos;                    /* packet-position list in the pcap index, 0 = none */
    uint32_t syn_seq;                /* sequence number of the first SYN (SESSION_F_SYN_SEQ) */
};

#define SESSION_F_HAS_MAC     0x01
#define SESSION_F_MIDSTREAM   0x02   /* first packet was not a SYN (TCP) */
#define SESSION_F_NO_PORTS    0x04   /* TCP/UDP/SCTP whose ports could not be read */
#define SESSION_F_SYN_SEQ     0x08   /* syn_seq holds the first SYN's sequence number */
#define SESSION_F_ICMP_ERROR  0x10   /* an ICMP error answered the initiator (icmp_type/code) */

/* 0 if a packet going from key side (a or b) `from_b` is sent by the initiator, 1 otherwise */
static inline int session_dir(const struct session *s, int from_b)
{
    return from_b ^ s->src_is_b;
}

#endif
