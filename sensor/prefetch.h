/* prefetch.h -- a reader thread in front of a capture: libpcap reads on one core while the
 *               packet path decodes and keeps sessions on another (Arkime's reader thread).
 *               From a mapped file (capture_source()) it walks the records and can decode
 *               them too, so that the two cores share the work.
 * Owns:  the reader thread and a single-producer single-consumer byte ring of packet records
 *        (header + captured bytes; for a mapped file header + pointer into the mapping,
 *        and the struct decoded with PREFETCH_DECODE), allocated once at prefetch_start().
 * Lends: capture_packet.data from prefetch_next(), valid until the next prefetch_next() (from a
 *        mapped file: as long as the mapping, see capture.h; kept by the pcap store: its ring
 *        bytes, released at the next call); prefetch_decoded(), valid until the next
 *        prefetch_next(), writable by the caller.
 * Never: drops a packet (a full ring makes the reader wait; on a live interface the kernel
 *        ring then drops, and pcap_stats counts it); allocates per packet; reorders.
 * Trap:  the capture belongs to the caller but is used by the thread until prefetch_stop();
 *        prefetch_error() is only valid after prefetch_next() returned CAPTURE_ERROR. */
#ifndef ASHIATO_PREFETCH_H
#define ASHIATO_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "capture.h"

struct prefetch;
struct decoded;

enum prefetch_flags {
    PREFETCH_DECODE = 1,             /* mapped files: decode_packet() runs on the reader thread */
};

/* store: NULL, or (live capture) the pcap store the reader thread then keeps each packet in
 * before the packet path sees it: the reader becomes the store's producer (pcap_store_lend),
 * the packet's one copy is the one in the store's ring, capture_packet.stored says where it
 * went, and the store's bytes are released as prefetch_next() moves past them. */
struct pcap_store;
struct prefetch *prefetch_start(struct capture *c, size_t ring_bytes, unsigned flags,
                                struct pcap_store *store, char err[ASH_ERR_LEN]);
/* CAPTURE_PACKET, CAPTURE_TIMEOUT (live, nothing for a while), CAPTURE_EOF, CAPTURE_ERROR */
enum capture_next_result prefetch_next(struct prefetch *pf, struct capture_packet *pkt);
/* the packet prefetch_next() just returned, decoded by the reader thread (decode_packet() of the
 * capture's link type); NULL when the reader did not decode it */
struct decoded *prefetch_decoded(struct prefetch *pf);
const char *prefetch_error(const struct prefetch *pf);
/* bytes of the file the reader has consumed (progress); 0 for live */
uint64_t prefetch_file_offset(const struct prefetch *pf);
/* the capture's pcap_stats as the reader thread last read them (libpcap handles are not
 * thread-safe, so only the reader asks; about once a second and at the end) */
void prefetch_stats(const struct prefetch *pf, struct capture_stats *out);
/* stop the reader (it may be blocked on a full ring or the interface) and join it */
void prefetch_stop(struct prefetch *pf);

#endif
