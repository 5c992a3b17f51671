/* record_json.h -- a SessionRecord as its ECS JSON document (docs/session-json.md).
 * Owns:  the one mapping from the wire record to the document that --emit-json writes, the
 *        SQLite store keeps and Elasticsearch indexes, so the three cannot drift.
 * Lends: nothing; the returned text is malloc'd and the caller frees it.
 * Never: reads anything but the record; is used per packet. */
#ifndef ASHIATO_RECORD_JSON_H
#define ASHIATO_RECORD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.pb-c.h"

/* Render r. observer, when not NULL, replaces r->observer_name (the aggregator stores the
 * authenticated sensor identity). Returns NULL only when out of memory. */
char *record_json_render(const Ashiato__SessionRecord *r, const char *observer, size_t *len);

/* "10.0.0.1" / "2001:db8::1" from 4 or 16 bytes; "" for any other length */
void record_json_ip(const uint8_t *ip, size_t len, char out[48]);

/* "2013-11-25T14:55:58.382123Z" */
void record_json_time(int64_t us, char out[40]);

/* the transport's name: "tcp", "udp", "icmp", "ipv6-icmp", "sctp", else the number */
const char *record_json_transport(uint32_t iana, char buf[8]);

#endif
