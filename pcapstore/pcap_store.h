/* pcap_store.h -- every captured packet kept in rotating pcap files on the sensor's disk.
 * Owns:  the ring between the capture thread and the writer thread (and, for packets of a
 *        mapped input, references the writer writes from the mapping: no copy, see
 *        pcap_store_set_source and pcap_store_internal.h), the writer thread, the
 *        file being written (named SENSOR-YYYYmmddTHHMMSSZ-ID.pcap after the sensor and its
 *        first packet's time, plus its segment sidecar NAME.pcap.idx, see pcap_format.h),
 *        rotation by size and age with an fsync of each finished file (by a closer thread, so
 *        the writer never waits for the disk), the repair at open of files a crash cut short
 *        (pcap_repair.h: truncated to their last whole packet, sidecar rebuilt), and the
 *        catalogue and retention instances of the store directory (retention runs as each
 *        file closes and every retention_interval seconds).
 * Lends: pcap_store_catalog(): the catalogue, valid until pcap_store_close().
 * Never: allocates, locks or makes a system call in pcap_store_append() (one memcpy into the
 *        ring, or none for a packet of a mapped input, and one release store; the only
 *        exception is the wait_when_full path when the ring is full); writes from the capture
 *        thread; logs per packet.
 * Trap:  one producer: pcap_store_append*(), pcap_store_set_link(), pcap_store_set_source() and
 *        pcap_store_close() must be called from one thread (the capture shard; in a live
 *        capture with lending, its reader thread), or close after that thread stopped.
 *        Several shards need one store (and pcap_dir) each.
 *        A position is handed out before its bytes reach the disk: readers of the file being
 *        written call pcap_store_sync() before reading past the catalogue's size.
 *
 * Wiring (sensor): pcap_store_open() at start, pcap_store_set_source() as each mapped input
 * file begins and ends, pcap_store_append() per packet (then pcap_index_add() with the file id
 * and offset it returns), pcap_store_close() at the end. */
#ifndef ASHIATO_PCAP_STORE_H
#define ASHIATO_PCAP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "pcap_catalog.h"
#include "pcap_retention.h"

struct pcap_store_config {
    const char *dir;                          /* pcap_dir */
    long long max_file_size;                  /* pcap_max_file_size: bytes (default 1 GiB) */
    long long max_file_age;                   /* pcap_max_file_age: seconds of packet time a
                                                 file spans at most; 0 = size only (3600) */
    long long ring_size;                      /* pcap_ring_size: bytes, rounded up to a power
                                                 of two (64 MiB) */
    long long flush_ms;                       /* queued bytes reach the file within this (100) */
    long long retention_interval;             /* seconds between retention runs besides the
                                                 one after each file closes (10) */
    bool wait_when_full;                      /* offline input: wait for the writer instead of
                                                 dropping when the ring is full */
    bool packet_clock;                        /* retention ages files by packet time (replays of
                                                 old captures); else by the wall clock */
    bool direct_io;                           /* pcap_direct_io: write files with O_DIRECT where
                                                 the file system supports it (true) */
    struct pcap_retention_config retention;
};

/* the defaults above (dir NULL, retention off) */
void pcap_store_config_defaults(struct pcap_store_config *cfg);

enum pcap_store_err {
    PCAP_STORE_ERR_FULL = -2,                 /* ring full: packet not stored, counted */
    PCAP_STORE_ERR_PACKET = -3,               /* zero length or larger than the ring allows */
    PCAP_STORE_ERR_BUSY = -4,                 /* lending: the ring is full of bytes the consumer
                                                 has not released; nothing done, try again */
};

struct pcap_store_stats {
    uint64_t packets, bytes;                  /* queued for disk (records, with headers) */
    uint64_t dropped;                         /* ring full, or lost to a write failure (a full
                                                 disk): every packet not kept */
    uint64_t lost_to_errors;                  /* of those, lost to write failures, counted by
                                                 64 KiB segments as the writer passes them: up
                                                 to one segment's packets that did reach the
                                                 disk are counted too, and the last segment of a
                                                 file still failing counts when it ends */
    uint64_t rejected;                        /* PCAP_STORE_ERR_PACKET */
    uint64_t waits;                           /* wait_when_full: times the capture thread waited */
    uint64_t ring_high_water;                 /* bytes queued at most */
    uint64_t files_opened, files_closed;
    uint64_t bytes_written, write_errors, fsyncs;
    uint64_t bytes_direct, bytes_staged;      /* O_DIRECT files: bytes the device read where
                                                 they lay (ring, mapped input), bytes copied into
                                                 the aligned stage first */
    uint64_t repaired_files, repaired_bytes_dropped;   /* at open */
    uint64_t current_file;                    /* id of the file being written, 0 = none */
    uint64_t segments_lost;                   /* sidecar entries dropped (lookups walk more) */
    uint64_t by_reference;                    /* packets written from a mapped input, not copied */
    struct pcap_retention_stats retention;
};

struct pcap_store;

/* Open (or create) the store in cfg->dir for packets of link type dlt and snaplen, repair
 * what a crash left, and start the writer thread. sensor_name names the files. */
struct pcap_store *pcap_store_open(const struct pcap_store_config *cfg, const char *sensor_name,
                                   int dlt, int snaplen, char err[ASH_ERR_LEN]);
/* Drain the ring, fsync and close the current file, stop the writer. Accepts NULL. */
void pcap_store_close(struct pcap_store *st);

/* Queue one packet. 0 and its position (file id, byte offset of its pcap record header in
 * that file), or a negative enum pcap_store_err. caplen is cut to the store's snaplen. */
int pcap_store_append(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                      uint32_t wirelen, uint64_t *file_id, uint64_t *offset);
/* The same, told whether the 16 bytes before data in the mapped input are already the record
 * header the store would write (pcap_mmap_pkt.canonical, found by the reader thread while the
 * bytes were in its cache): pcap_store_append() reads them to find out, a cache miss per packet
 * on the capture thread (0.17 s of the 2M-packet benchmark). Only a caller that knows may say
 * true; false is always safe (the header is then written from the ring). */
int pcap_store_append_packet(struct pcap_store *st, int64_t ts_us, const uint8_t *data,
                             uint32_t caplen, uint32_t wirelen, bool file_record,
                             uint64_t *file_id, uint64_t *offset);

/* Lending (live capture: the reader thread is the producer, the packet thread the consumer).
 * After pcap_store_lend(), pcap_store_append_lent() also lends the packet's bytes in the ring
 * (*lent, NULL when the record wraps around the ring's end or its caplen was cut: copy it
 * then), which stay unchanged until the consumer calls pcap_store_release() with a position at
 * or past *lent_end. So the packet is copied once, from the kernel's ring into the store's,
 * and the packet path reads it there. A ring full of unreleased bytes is
 * PCAP_STORE_ERR_BUSY (the producer waits for the consumer, as for any full queue); full of
 * unwritten bytes is PCAP_STORE_ERR_FULL (the disk is behind: dropped and counted). lend and
 * append_lent: producer thread; release: the consumer's, in order of lent_end. */
void pcap_store_lend(struct pcap_store *st);
int pcap_store_append_lent(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                           uint32_t wirelen, uint64_t *file_id, uint64_t *offset,
                           const uint8_t **lent, uint64_t *lent_end);
void pcap_store_release(struct pcap_store *st, uint64_t pos);

/* The link type or snaplen changes (offline input of several files): the next packet starts
 * a new file. Capture thread only. */
void pcap_store_set_link(struct pcap_store *st, int dlt, int snaplen);

/* How the store holds a mapped input it writes packets from: the owner's reference counting,
 * lent to the store (the sensor lends its pcap_mmap reader through sensor/mmap_lend.c). */
struct pcap_store_lender {
    void (*hold)(void *src);
    void (*release)(void *src);                /* the last reference may unmap */
    void (*keep_behind)(void *src, uint64_t bytes);   /* keep this much mapped behind the walk */
    const uint8_t *(*bytes)(void *src, uint64_t *size);   /* the whole mapping */
};

/* Packets appended from now on may lie in src, a mapped input file (NULL: none): those are
 * not copied but written from the mapping by the writer. The store holds src (ops->hold)
 * until its writer is past the last of them, so the caller may release its own reference
 * after the next set_source (or close). ops must outlive the store. Capture thread only. */
void pcap_store_set_source(struct pcap_store *st, void *src, const struct pcap_store_lender *ops);

/* Wait until every packet appended before the call is in its file (not fsync'd). 0, or -1
 * after timeout_ms. Any thread. */
int pcap_store_sync(struct pcap_store *st, int timeout_ms);

/* pcap_store_sync, then wait until every file finished before the call has been fsync'd,
 * closed in the catalogue and looked at by retention (shutdown reports, tests). 0 or -1. */
int pcap_store_wait_closed(struct pcap_store *st, int timeout_ms);

/* Run retention now (tests, and main loops that want it on their own timer). Any thread. */
int pcap_store_retention_now(struct pcap_store *st);

struct pcap_catalog *pcap_store_catalog(struct pcap_store *st);
void pcap_store_stats(struct pcap_store *st, struct pcap_store_stats *out);

#endif
