/* packet_match.h -- the client's flow check of one returned packet, hand-written: the verdicts
 *                   of the two libpcap filters packet_client builds for a session
 *                   (check_l4: "[vlan N and ...]((ip and ip[6:2] & 0x1fff = 0) or ip6) and
 *                   (tcp or udp or sctp)", and check_bpf: "[vlan N and ...]PROTO and ((src host A
 *                   and src port P and dst host B and dst port Q) or (the reverse))"), as
 *                   libpcap 1.10 compiles them for a pcap_open_dead handle and bpf_filter runs
 *                   them (a load past the captured bytes rejects the packet).
 *                   Why not libpcap: the `ashiato` CLI would link it, and Debian's libpcap
 *                   pulls libdbus, libsystemd, libgcrypt and five more: +0.7 ms of process
 *                   start and ~0.3 ms of compiling, on every `ashiato pcap` (bench/RESULTS.md).
 * Owns:  nothing (a matcher is a plain struct filled from a query).
 * Never: reads past the captured bytes (a cursor over untrusted bytes); guesses: a link type
 *        whose verdicts it does not reproduce exactly is refused at packet_match_init.
 * Trap:  exact for the link types of packet_match_init's table only; tests/unit/
 *        test_packet_match.c holds it against pcap_offline_filter, keep the two together. */
#ifndef ASHIATO_PACKET_MATCH_H
#define ASHIATO_PACKET_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define PACKET_MATCH_MAX_VLAN 24

struct packet_match {
    uint32_t dlt;                             /* the file's link type, & 0x0fffffff */
    bool ports;                               /* check_l4 exists: TCP/UDP/SCTP with a port */
    uint8_t proto;                            /* 6, 17 or 132 when ports */
    uint16_t port_a, port_b;                  /* source and destination port of the session */
    uint8_t addr_a[16], addr_b[16];
    size_t addr_len;                          /* 4 or 16 */
    uint16_t vlan[PACKET_MATCH_MAX_VLAN];     /* "vlan N and" prefixes, outermost first */
    size_t nvlan;
};

/* Fills m for packets of link type linktype (a pcap header's, FCS bits included). 0, or -1
 * and err when the filters would not compile for it (libpcap's verdict: no VLAN support,
 * unknown link type) or when this matcher does not reproduce libpcap's verdicts for it. */
int packet_match_init(struct packet_match *m, uint32_t linktype, bool ports, uint8_t proto,
                      uint16_t port_a, uint16_t port_b, const uint8_t *addr_a, const uint8_t *addr_b,
                      size_t addr_len, const uint16_t *vlan, size_t nvlan, char err[ASH_ERR_LEN]);

/* check_l4's verdict on a packet of caplen captured bytes (m->ports only) */
bool packet_match_l4(const struct packet_match *m, const uint8_t *pkt, size_t caplen);
/* check_bpf's verdict (m->ports only: without ports the client checks the addresses alone) */
bool packet_match_flow(const struct packet_match *m, const uint8_t *pkt, size_t caplen);

#endif
