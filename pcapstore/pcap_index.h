/* pcap_index.h -- where a session's packets are in the pcap store: (file id, byte offset of
 *                 the packet's pcap record header) for each packet, kept compactly.
 * Owns:  a pool of fixed 64-byte chunks allocated once (pcap_index_new), the per-session
 *        chains of chunks (a session holds one uint32_t handle: struct session.pos), and the
 *        encoding carried in SessionRecord.packet_pos and PacketRequest.packet_pos:
 *
 *          byte 0   version: 2 (1: the same without the store id, still read)
 *          byte 1   flags: bit 0 = incomplete (a packet of the session is not in the store,
 *                   or the index pool was empty when it came)
 *          bytes 2..9 (version 2) the store id, big-endian: the random identity of the
 *                   pcap_dir that wrote the positions (pcap_catalog_store_id). File ids
 *                   restart at 1 when pcap_dir is wiped; the id tells such positions apart,
 *                   and the packet service refuses them (MISMATCH) instead of serving
 *                   another session's packets
 *          then one token per packet, in capture order, each an unsigned LEB128 varint t:
 *            t odd : the packet is in a later file: file id += t >> 1 (>= 1), followed by
 *                    a varint holding the packet's absolute offset in that file
 *            t even: same file as the previous packet: offset += t >> 1 (>= 1)
 *          (the file id starts at 0, so the first token is always odd).
 *        A typical packet costs 2 to 4 bytes. SessionRecord.packet_files lists the distinct
 *        file ids (pcap_index_files) so that a reader can tell expired files without decoding.
 * Lends: nothing: encode and files copy into the caller's buffers.
 * Never: allocates after pcap_index_new() (pcap_index_add is on the per-packet path); locks
 *        (one index per capture shard); trusts an encoded string it did not make (the
 *        iterator below checks every varint and every sum).
 * Trap:  a handle must be released (pcap_index_release) when its session leaves the table
 *        and after each segment's record is made, or its chunks leak until the pool runs dry
 *        (counted: pcap_index_stats.full). The session's handle starts at 0 (none). */
#ifndef ASHIATO_PCAP_INDEX_H
#define ASHIATO_PCAP_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "cursor.h"

#define PCAP_INDEX_VERSION 2
#define PCAP_INDEX_VERSION_NO_STORE 1         /* older records: no store id */
#define PCAP_INDEX_F_INCOMPLETE 0x01
#define PCAP_INDEX_CHUNK 64                   /* bytes of one pool chunk */

struct pcap_index;

struct pcap_index_stats {
    uint64_t chunks, chunks_used, chunks_high_water;
    uint64_t lists;                           /* sessions holding a handle now */
    uint64_t positions;                       /* added since start */
    uint64_t full;                            /* positions lost: the pool was empty */
    uint64_t gaps;                            /* pcap_index_mark_gap calls, out-of-order adds */
};

/* a pool of `chunks` chunks of PCAP_INDEX_CHUNK bytes (sessions x packets x ~3 bytes) */
struct pcap_index *pcap_index_new(size_t chunks, char err[ASH_ERR_LEN]);
void pcap_index_free(struct pcap_index *idx);

/* The store the positions point into (pcap_catalog_store_id): encodings made from now on are
 * version 2 and carry it. 0 (the default): version 1, no store id. */
void pcap_index_set_store_id(struct pcap_index *idx, uint64_t store_id);

/* Append one position to *handle's list (a new list if *handle is 0). 0, or -1 when the pool
 * is empty (the position is lost, the list is flagged incomplete, pcap_index_stats.full++). */
int pcap_index_add(struct pcap_index *idx, uint32_t *handle, uint64_t file_id, uint64_t offset);

/* A packet of this session is not in the store (pcap_store_append failed): flag the list. */
void pcap_index_mark_gap(struct pcap_index *idx, uint32_t *handle);

/* bytes pcap_index_encode() needs (0 for handle 0) */
size_t pcap_index_encoded_size(const struct pcap_index *idx, uint32_t handle);
/* Write the encoding into buf. Returns its length, or 0 if handle is 0 or cap is too small. */
size_t pcap_index_encode(const struct pcap_index *idx, uint32_t handle, uint8_t *buf, size_t cap);
/* number of positions in the list */
uint32_t pcap_index_count(const struct pcap_index *idx, uint32_t handle);
/* The distinct file ids of the list, in order, into ids[cap]. Returns how many there are
 * (which may be more than cap: only cap are written). */
size_t pcap_index_files(const struct pcap_index *idx, uint32_t handle, uint64_t *ids, size_t cap);

/* Give the list's chunks back and set *handle to 0. Accepts a 0 handle. */
void pcap_index_release(struct pcap_index *idx, uint32_t *handle);

void pcap_index_stats(const struct pcap_index *idx, struct pcap_index_stats *out);

/* ---- decoding an encoded string (untrusted: a request, a record from the network) ---- */

struct pcap_index_iter {
    struct cursor c;
    const uint8_t *start;
    uint64_t file, off;
    uint8_t flags;
    uint8_t version;
    uint64_t store_id;                        /* version 2; 0 for version 1 */
};

/* -1 if buf does not start with a known version (1 or 2) */
int pcap_index_iter_init(struct pcap_index_iter *it, const uint8_t *buf, size_t len);
/* 1 and the next position; 0 at the end; -1 on a malformed token (pcap_index_iter_at says
 * where) */
int pcap_index_next(struct pcap_index_iter *it, uint64_t *file_id, uint64_t *offset);
/* byte offset of the iterator in the encoded string */
size_t pcap_index_iter_at(const struct pcap_index_iter *it);

#endif
