/* pcap_mmap.h -- classic pcap files read in place: the file mapped, its records walked without
 *                a copy, each packet lent as a pointer into the mapping.
 * Owns:  the read-only private mapping of one file, its reference count, and the walk (the
 *        next record's offset, the error of a damaged file).
 * Lends: pcap_mmap_pkt.data, valid while anyone holds the mapping (pcap_mmap_hold/release):
 *        past the next call, so a packet can travel to other threads without being copied.
 * Never: writes to the file or the mapping; reads a byte outside the file as it was at open;
 *        accepts a file libpcap would read differently (see pcap_mmap_open).
 * Trap:  another process that truncates the file while it is mapped makes a read of a page
 *        past the new end raise SIGBUS: a process-wide handler (installed at the first open,
 *        chained to any earlier one) maps zero pages there instead, and the walk ends with
 *        "file truncated while read" (-1), as libpcap's short read would (the one record the
 *        cut goes through may come first, its tail in the cut page read as zeros: nothing
 *        faults inside that page, and fstat per record would cost). A file that grows
 *        is read as it was at open (capture.c says so when it ends). The walk belongs to one
 *        thread; hold and release may come from any. At most 64 files are mapped at once
 *        (more are left to libpcap). */
#ifndef ASHIATO_PCAP_MMAP_H
#define ASHIATO_PCAP_MMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

struct pcap_mmap;

struct pcap_mmap_pkt {
    int64_t ts_us;                   /* as capture.h: microseconds, nanosecond files truncated */
    uint32_t caplen, wirelen;        /* caplen cut to the file's snaplen, as libpcap does */
    const uint8_t *data;
    bool canonical;                  /* the 16 bytes before data are this packet's record header
                                        as pcap_format_rec_header() writes it: little-endian,
                                        microseconds below 10^6, time not negative, caplen
                                        neither cut nor above wirelen (the pcap store may then
                                        write header and data as they lie, unread) */
};

/* Map the capture open at fd (size bytes, from fstat) if it is a classic pcap file this reader
 * takes: magic a1b2c3d4 (microseconds) or a1b23c4d (nanoseconds) in either byte order,
 * version 2.4, and a link type the sensor decodes whose packets libpcap hands over unchanged
 * (Linux cooked capture of the other byte order is left to libpcap: it rewrites CAN headers).
 * NULL with err[0] == 0: not such a file (the caller reads it with libpcap, which also gives
 * the messages for broken headers); NULL with err set: mmap failed. One reference, the
 * caller's. fd may be closed afterwards. */
struct pcap_mmap *pcap_mmap_open(int fd, uint64_t size, char err[ASH_ERR_LEN]);

void pcap_mmap_hold(struct pcap_mmap *m);
/* Keep page tables at least `bytes` behind the walk (default 8 MiB; only grows): a consumer
 * that trails the walk further, such as the pcap store's writer (its ring size behind), would
 * otherwise fault dropped pages back in. Any thread, any time. */
void pcap_mmap_keep_behind(struct pcap_mmap *m, uint64_t bytes);
/* drop a reference; the last one unmaps. Accepts NULL. */
void pcap_mmap_release(struct pcap_mmap *m);

/* The next packet: 1, or 0 at the end of the file, or -1 for a damaged record (the same
 * conditions and wording as libpcap 1.10's sf-pcap.c: a short record header, caplen above
 * 262144, caplen above the file's snaplen cut to it, a record cut short) or a file cut while
 * read. After -1 the walk stays at the end. Record times are read unsigned, as libpcap does. */
int pcap_mmap_next(struct pcap_mmap *m, struct pcap_mmap_pkt *pkt);
const char *pcap_mmap_error(const struct pcap_mmap *m);

/* the link type as libpcap reports it (pcap_datalink) and the snaplen it applies
 * (pcap_snapshot) */
int pcap_mmap_dlt(const struct pcap_mmap *m);
uint32_t pcap_mmap_snapshot(const struct pcap_mmap *m);
/* bytes walked so far (progress) */
uint64_t pcap_mmap_offset(const struct pcap_mmap *m);
/* true if [p, p + len) lies inside the mapping */
bool pcap_mmap_contains(const struct pcap_mmap *m, const uint8_t *p, size_t len);
/* the mapping: the whole file from its first byte, *size bytes */
const uint8_t *pcap_mmap_bytes(const struct pcap_mmap *m, uint64_t *size);

#endif
