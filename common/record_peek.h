/* record_peek.h -- the few fields detection reads, straight from one packed SessionRecord
 * (the bytes a sensor sent, as record_decode.c lends them), without building the record.
 * Owns:  nothing; the result points into the caller's bytes.
 * Lends: id, community_id, conn_state and the endpoints' ip: pointers into buf, valid as long
 *        as it (not NUL-ended: use the lengths).
 * Never: allocates; reads past len; logs.
 * Trap:  it answers as protobuf-c 1.4.1 would for the same bytes, for the fields it reads: the
 *        last of a repeated scalar wins; a second source/destination replaces the first's
 *        numbers but keeps its ip when the later one has none (protobuf-c's merge); a string
 *        ends at its first NUL (a C string). It checks wire types only as far as it must to
 *        walk the bytes: feed it records that record_decode_batch() accepted (the fuzz target
 *        tests/fuzz/fuzz_record_decode.c compares the two on every record it decodes). */
#ifndef ASHIATO_RECORD_PEEK_H
#define ASHIATO_RECORD_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct record_peek_endpoint {
    const uint8_t *ip;          /* NULL when empty */
    size_t ip_len;
    uint32_t port;
    uint64_t packets, data_bytes;
};

struct record_peek {
    const uint8_t *id;          /* SessionRecord.id (bytes), NULL when empty */
    size_t id_len;
    const char *community_id;   /* up to its first NUL; NULL when empty */
    size_t community_id_len;
    const char *conn_state;
    size_t conn_state_len;
    int64_t start_us, end_us;
    uint32_t iana_number, icmp_quoted_count, icmp_error_type;
    bool has_source, has_destination;       /* the field was there (even empty) */
    struct record_peek_endpoint source, destination;
};

/* buf[0, len): one SessionRecord's bytes (no tag or length prefix of its own). 0, or -1 when
 * the bytes cannot be walked (cut short, a group or reserved wire type). */
int record_peek(const uint8_t *buf, size_t len, struct record_peek *out);

#endif
