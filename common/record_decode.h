/* record_decode.h -- a sensor's Batch (or the Envelope around it) from protobuf bytes into
 * protobuf-c's own generated structs, by hand, for the aggregator's ingest path.
 * Owns:  nothing after it returns; what it builds lives in the caller's allocator.
 * Lends: each record's bytes (raw), pointers into the caller's buffer: valid as long as it.
 * Never: reads past len; frees; keeps state between calls; logs.
 * Trap:  the result must stay what ashiato__batch__unpack() (protobuf-c 1.4.1) gives for the
 *        same bytes, accepted or refused alike: tests/fuzz/fuzz_record_decode.c compares the
 *        two field by field. A new field in proto/ashiato.proto is an unknown field here (kept,
 *        as protobuf-c keeps it, but not decoded) until it is added to record_decode.c.
 *
 * Why by hand: protobuf-c's generic unpack costs 9.4k instructions per campus record, 91% of
 * the aggregator's main thread with the null store (bench/RESULTS.md, aggregator_ingest).
 *
 * What protobuf-c does, and so what this does (checked against libprotobuf-c 1.4.1):
 * - Structs are initialised as ASHIATO__..._INIT: an absent string is the shared
 *   protobuf_c_empty_string (the pointer, not a copy), absent bytes {0, NULL}, absent
 *   sub-messages NULL, absent repeated fields n_x = 0 and x = NULL.
 * - A string keeps all its bytes plus a NUL (so one with an embedded NUL reads, as a C string,
 *   up to it). Bytes of length 0 are {0, NULL}.
 * - Fields come in any order. A scalar, string or bytes field given twice: the last wins.
 *   A sub-message field given twice (source, destination, tcp_flags) is merged as protobuf-c
 *   1.4.1 merges: the later message wins, except that a bytes field (Endpoint.ip, .mac) left
 *   empty in the later one keeps the earlier one's bytes. Its numbers are NOT merged (protobuf-c
 *   tests a proto3 field's presence through a quantifier it does not have). Repeated fields are
 *   appended in wire order. The Envelope's body is a oneof: the last batch wins, unmerged.
 * - Repeated uint32 fields (vlan, http_status) may come packed, unpacked or both.
 * - A varint is at most 10 bytes (overlong encodings of small values are fine); one into a
 *   uint32 field keeps its low 32 bits. A bool is true if any byte of its encoding, whatever
 *   the wire type, has one of its low 7 bits set. A tag is at most 5 bytes and its first byte
 *   must not be 0x00..0x07 (field number 0), so 0x80 0x00 (field 0 in two bytes) is an
 *   unknown field; a length prefix is at most 5 bytes and must fit in what is left.
 * - A known field with the wrong wire type is refused (a bool takes any). Wire types 3 and 4
 *   (groups), 6 and 7 are refused anywhere.
 * - Unknown fields (a newer sensor's) are KEPT in each message's unknown_fields, as protobuf-c
 *   keeps them (tag, wire type, the value's bytes with their length prefix). Nothing in the
 *   aggregator or indexer reads them, but a store that packs a record again (the fallback
 *   when a record's own bytes are not at hand) writes them out, as it would with protobuf-c.
 *   A sub-message replaced by a later one loses its unknown fields, as in protobuf-c.
 * - Limits: none beyond len and the allocator (whose NULL is RECORD_DECODE_ERR_NOMEM), so a
 *   message protobuf-c refuses for want of memory may decode here (this takes about 12% less
 *   of an arena per campus record). protobuf-c also refuses a message of more than about
 *   134M fields, which no frame of WIRE_MAX_MESSAGE (64 MiB) can hold. */
#ifndef ASHIATO_RECORD_DECODE_H
#define ASHIATO_RECORD_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"

#define RECORD_DECODE_OTHER        1    /* an Envelope whose body is not (only) a Batch */
#define RECORD_DECODE_ERR          (-1) /* malformed: err says what and at which offset */
#define RECORD_DECODE_ERR_NOMEM    (-2) /* the allocator returned NULL */

/* n bytes aligned for any protobuf-c struct (8), or NULL; never freed one by one. The
 * signature of ProtobufCAllocator.alloc, so a bump arena's hook serves both. */
typedef void *(*record_decode_alloc_fn)(void *ctx, size_t n);

/* A packed Batch in buf[0, len) into *out, every part of it from alloc(ctx, ...). If raw is
 * not NULL, *raw is each record's own bytes (n_records long, NULL if none), pointing into buf.
 * 0, or RECORD_DECODE_ERR / _ERR_NOMEM with err filled (then *out and *raw are unset and what
 * was allocated is garbage for the caller's allocator to drop). */
int record_decode_batch(const uint8_t *buf, size_t len, record_decode_alloc_fn alloc, void *ctx,
                        Ashiato__Batch **out, const ProtobufCBinaryData **raw,
                        char err[ASH_ERR_LEN]);

/* The same for an Envelope whose body is a Batch. RECORD_DECODE_OTHER (nothing decoded, err
 * untouched) when it has no batch field, any other body field, or a batch field that is not
 * length-delimited: the caller unpacks those with protobuf-c. */
int record_decode_envelope(const uint8_t *buf, size_t len, record_decode_alloc_fn alloc,
                           void *ctx, Ashiato__Envelope **out, const ProtobufCBinaryData **raw,
                           char err[ASH_ERR_LEN]);

#endif
