/* pcap_format.h -- the on-disk format of the sensor's pcap store: classic pcap files and the
 *                  segment sidecar beside each, read and checked the same way by the writer,
 *                  the crash repair and the packet service.
 * Owns:  the byte layout (a file header of 24 bytes, records of a 16-byte header plus data,
 *        all little-endian, microsecond timestamps), the strict sanity test of a record
 *        header, the segment sidecar (`NAME.pcap.idx`: one 32-byte entry per ~64 KiB run of
 *        whole records: where it starts and ends, its earliest and latest packet time), a
 *        windowed reader over a file, the walk from a known record boundary to an offset, and
 *        the scan that finds a file's last whole record (repair).
 * Lends: pcap_format_reader_get() pointers into the reader's window, valid until the next
 *        call on that reader.
 * Never: trusts a byte of a file (everything goes through common/cursor.h); writes a pcap
 *        file (pcap_store.c does); allocates per record.
 * Trap:  an offset is "a packet" only when a walk from a record boundary lands on it: a header
 *        that merely looks sane may sit inside another packet's payload, whose bytes an outsider
 *        chose. Segment entries are boundaries the writer saw; nothing else is. */
#ifndef ASHIATO_PCAP_FORMAT_H
#define ASHIATO_PCAP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define PCAP_FORMAT_FILE_HDR   24
#define PCAP_FORMAT_REC_HDR    16
#define PCAP_FORMAT_MAX_SNAP   262144u        /* libpcap's MAXIMUM_SNAPLEN */
#define PCAP_FORMAT_MAX_WIRE   (16u << 20)    /* a frame longer than this is not a frame */
#define PCAP_FORMAT_SEGMENT    65536u         /* a sidecar entry closes past this many bytes */
#define PCAP_FORMAT_SEG_LEN    32             /* bytes of one sidecar entry */
#define PCAP_FORMAT_READ_WIN   (1u << 20)     /* reader window: > max record + a segment */

enum pcap_format_result {
    PCAP_FORMAT_OK = 0,
    PCAP_FORMAT_OUTSIDE = -2,                 /* offset not inside the file */
    PCAP_FORMAT_NOT_RECORD = -3,              /* a walk from a boundary steps over the offset */
    PCAP_FORMAT_DAMAGED = -4,                 /* an insane header between boundary and offset */
    PCAP_FORMAT_IO = -5,                      /* read error (errno kept) */
};

struct pcap_format_rec {
    int64_t ts_us;
    uint32_t caplen, wirelen;
};

struct pcap_format_seg {
    uint64_t start, end;                      /* [start, end): whole records */
    int64_t min_us, max_us;                   /* earliest and latest packet time inside */
};

/* the 24-byte file header (magic a1b2c3d4 little-endian, version 2.4) */
void pcap_format_file_header(uint8_t out[PCAP_FORMAT_FILE_HDR], uint32_t linktype, uint32_t snaplen);
/* parse a store file header; -1 unless it is one this module writes (little-endian, usec) */
int pcap_format_parse_file_header(const uint8_t *p, size_t len, uint32_t *linktype, uint32_t *snaplen);

void pcap_format_rec_header(uint8_t out[PCAP_FORMAT_REC_HDR], int64_t ts_us, uint32_t caplen,
                            uint32_t wirelen);
/* read a record header from p (16 bytes) and check it strictly against the file's snaplen:
 * usec below 10^6, seconds not negative, 0 < caplen <= snaplen, caplen <= wirelen <= 16 MiB */
bool pcap_format_rec_parse(const uint8_t *p, uint32_t snaplen, struct pcap_format_rec *r);

/* sidecar entries */
void pcap_format_seg_put(uint8_t out[PCAP_FORMAT_SEG_LEN], const struct pcap_format_seg *s);
void pcap_format_seg_get(const uint8_t *p, struct pcap_format_seg *s);

/* Segment builder: feed each record (offset, length, time) in file order; returns true and
 * fills *done when a segment closes. pcap_format_segb_finish() closes the last one (file end). */
struct pcap_format_segb {
    struct pcap_format_seg cur;
    bool open;
};
bool pcap_format_segb_add(struct pcap_format_segb *b, uint64_t off, uint64_t len, int64_t ts_us,
                          struct pcap_format_seg *done);
bool pcap_format_segb_finish(struct pcap_format_segb *b, struct pcap_format_seg *done);

/* A window over one open file. size is the number of bytes the caller trusts to be there (the
 * catalogue's size for a file being written). buf is the caller's (PCAP_FORMAT_READ_WIN). */
struct pcap_format_reader {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t win_off;
    size_t win_len;
};
void pcap_format_reader_init(struct pcap_format_reader *r, int fd, uint64_t size, uint8_t *buf,
                             size_t cap);
/* pointer to bytes [off, off + len) of the file, or NULL if they are not all inside `size`
 * (errno 0) or a read failed (errno set). len <= cap. */
const uint8_t *pcap_format_reader_get(struct pcap_format_reader *r, uint64_t off, size_t len);

/* Walk whole records from `boundary` (a known record start) to `target`. PCAP_FORMAT_OK when
 * target starts a record that lies wholly inside the file (its header in *rec). */
int pcap_format_walk(struct pcap_format_reader *r, uint32_t snaplen, uint64_t boundary,
                     uint64_t target, struct pcap_format_rec *rec);

/* Sidecar lookup: the entry of the sidecar fd (nseg entries) that contains off, by binary
 * search; -1 if off is before the first or past the last entry's end (or the sidecar is bad). */
int pcap_format_seg_find(int idx_fd, uint64_t nseg, uint64_t off, struct pcap_format_seg *out);

/* Scan a whole file from its header: the end of the last whole, sane record, the number of
 * packets and the time range; if idx_fd >= 0 the sidecar is rewritten from scratch. */
struct pcap_format_scan {
    uint64_t good_end, packets;
    int64_t first_us, last_us;                /* 0 when no packets */
    uint32_t linktype, snaplen;
};
int pcap_format_scan_file(int fd, int idx_fd, struct pcap_format_scan *out, char err[ASH_ERR_LEN]);

/* write all of buf at the fd's position (retries short writes and EINTR); 0 or -1 (errno) */
int pcap_format_write_all(int fd, const void *buf, size_t len);

#endif
