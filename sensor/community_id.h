/* community_id.h -- Community ID v1 flow hashes (github.com/corelight/community-id-spec).
 * Owns:  community_id_v1(), the ICMP/ICMPv6 type-to-port mapping the spec takes from Zeek.
 * Lends: nothing.
 * Never: allocates, logs, or fails: every tuple has an ID.
 * Trap:  IPv4 addresses arrive v4-mapped (16 bytes, ::ffff:a.b.c.d) but are hashed as their
 *        4 bytes; hashing all 16 gives a valid-looking ID that no other tool shares. */
#ifndef ASHIATO_COMMUNITY_ID_H
#define ASHIATO_COMMUNITY_ID_H

#include <stdbool.h>
#include <stdint.h>

/* "1:" + base64 of a 20-byte SHA-1 (28 characters) + NUL */
#define COMMUNITY_ID_LEN 31

/* Write the Community ID of one flow into out (NUL-terminated).
 * ip_version is 4 or 6; src and dst are 16 bytes (v4-mapped for IPv4). For ICMP (1) and
 * ICMPv6 (58), sport carries the message type and dport the code: request/reply types are
 * paired so both directions share an ID, other types are hashed one-way (not reordered).
 * has_ports false (protocols without ports, non-first fragments) hashes addresses and
 * protocol only. seed is the spec's 16-bit seed, 0 by default. */
void community_id_v1(uint8_t ip_version, const uint8_t src[16], const uint8_t dst[16],
                     uint8_t proto, uint16_t sport, uint16_t dport, bool has_ports, uint16_t seed,
                     char out[COMMUNITY_ID_LEN]);

#endif
