/* record_json.h -- a SessionRecord as its ECS JSON document (docs/session-json.md).
 * Owns:  the one mapping from the wire record to the document that --emit-json writes, the
 *        SQLite store keeps and Elasticsearch indexes, so the three cannot drift.
 * Lends: nothing; record_json_render's text is malloc'd and the caller frees it;
 *        record_json_append grows the caller's buffer, which the caller frees.
 * Never: reads anything but the record; is used per packet. */
#ifndef ASHIATO_RECORD_JSON_H
#define ASHIATO_RECORD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.pb-c.h"

/* Render r. observer, when not NULL, replaces r->observer_name (the aggregator stores the
 * authenticated sensor identity). Returns NULL only when out of memory. */
char *record_json_render(const Ashiato__SessionRecord *r, const char *observer, size_t *len);

/* A growable byte buffer the caller keeps across documents (start it zeroed: { 0 }). */
struct record_json_buf {
    char *data;
    size_t len, cap;
};

/* Append r's document (no newline) at b->data + b->len, growing b when needed; afterwards
 * b->data[b->len] is '\0'. The same text as record_json_render. -1 out of memory, and then
 * b->len is as it was. */
int record_json_append(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                       const char *observer);

/* record_json_render / record_json_append with ashiato.segments: the source's and the
 * destination's segment names by seg (common/segmap.h; "outside" for an address in none).
 * seg NULL (or with no segment): no ashiato.segments, as the calls above. The aggregator's
 * stores render with it; the record itself never carries the names. */
struct segmap;
char *record_json_render_in(const Ashiato__SessionRecord *r, const char *observer,
                            const struct segmap *seg, size_t *len);
int record_json_append_in(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                          const char *observer, const struct segmap *seg);

/* Frees b's memory and zeroes it; accepts NULL. */
void record_json_buf_free(struct record_json_buf *b);

/* "10.0.0.1" / "2001:db8::1" from 4 or 16 bytes; "" for any other length */
void record_json_ip(const uint8_t *ip, size_t len, char out[48]);

/* "2013-11-25T14:55:58.382123Z" (the year unpadded, as strftime's %Y: "1-01-01T...");
 * times outside years 1..9999 are clamped to them */
void record_json_time(int64_t us, char out[40]);

/* the transport's name: "tcp", "udp", "icmp", "ipv6-icmp", "sctp", else the number */
const char *record_json_transport(uint32_t iana, char buf[8]);

#endif
