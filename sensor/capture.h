/* capture.h -- where packets come from: pcap/pcapng files or a live interface, via libpcap;
 *              classic pcap files mapped and walked in place (pcap_mmap.h).
 * Owns:  the pcap_t handle, nanosecond timestamps, the BPF filter, drop statistics, and for a
 *        mapped file the caller's reference to the mapping.
 * Lends: packet bytes and header from capture_next(), valid until the next call (libpcap's
 *        own rule for pcap_next_ex); from a mapped file (capture_source() not NULL) the bytes
 *        stay valid as long as a reference to the mapping is held (capture_close drops the
 *        capture's own).
 * Never: decodes; allocates per packet; prints. Errors go to err / capture_error().
 * Trap:  live capture on Linux gets TPACKET_V3 from libpcap itself; buffer_size sets the
 *        ring size. capture_next returns CAPTURE_TIMEOUT at least every timeout_ms on a quiet
 *        link, for every live type (nflog:N too), so the caller runs its timers: it waits in
 *        its own poll(), never in libpcap's, which has no time limit for TPACKET_V3 and none
 *        at all for netfilter. An nflog:N capture's packets lie in libpcap's buffer of one
 *        recv() and stay valid until the next read, as pcap_next_ex's do. A
 *        mapped file is read as it was at open: one that grew meanwhile ends with
 *        CAPTURE_ERROR saying "file grew while read" (libpcap's path reads to the end as
 *        tcpdump does); one cut while read ends with "file truncated while read". A file's
 *        32-bit ts_sec is unsigned on both paths. */
#ifndef ASHIATO_CAPTURE_H
#define ASHIATO_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"

struct capture;

struct capture_live_config {
    const char *interface;
    const char *bpf;                 /* "" or NULL for none */
    long long snaplen;
    long long buffer_size;           /* bytes of kernel ring */
    bool promisc;
    long long timeout_ms;            /* how long capture_next waits before returning 0 */
};

struct capture_packet {
    int64_t ts_us;                   /* microseconds since the epoch (ns files are truncated) */
    uint32_t caplen, wirelen;
    const uint8_t *data;
    bool file_record;                /* a mapped file's packet whose record header before data
                                        is canonical (pcap_mmap_pkt.canonical) */
    int8_t stored;                   /* the reader thread kept it in the pcap store already
                                        (prefetch.h): 1 at (store_file, store_off), -1 the
                                        store refused it; 0 not asked: the packet path does */
    uint64_t store_file, store_off;
};

struct capture_stats {
    uint64_t received, dropped, if_dropped;   /* pcap_stats; zero for files */
};

enum capture_next_result {
    CAPTURE_PACKET = 1,
    CAPTURE_TIMEOUT = 0,             /* live: nothing in timeout_ms */
    CAPTURE_EOF = -2,
    CAPTURE_ERROR = -1,              /* capture_error() says what; a truncated file ends here */
};

enum capture_file_flags {
    CAPTURE_FILE_NO_MMAP = 1,        /* read with libpcap even when the file could be mapped */
};

struct capture *capture_open_file(const char *path, const char *bpf, char err[ASH_ERR_LEN]);
struct capture *capture_open_file_flags(const char *path, const char *bpf, unsigned flags,
                                        char err[ASH_ERR_LEN]);
struct capture *capture_open_live(const struct capture_live_config *cfg, char err[ASH_ERR_LEN]);
void capture_close(struct capture *c);

int capture_dlt(const struct capture *c);
const char *capture_name(const struct capture *c);
enum capture_next_result capture_next(struct capture *c, struct capture_packet *pkt);
const char *capture_error(const struct capture *c);
int capture_stats(struct capture *c, struct capture_stats *out);
/* files only: bytes read so far and the file's size (progress); 0 for live */
uint64_t capture_file_offset(struct capture *c);
uint64_t capture_file_size(const struct capture *c);
/* the mapping the packets of a mapped file lie in, else NULL (libpcap reads the file, or live);
 * valid until capture_close() unless the caller holds it (pcap_mmap_hold) */
struct pcap_mmap *capture_source(const struct capture *c);
/* interrupt a blocking capture_next from a signal handler */
void capture_breakloop(struct capture *c);

#endif
