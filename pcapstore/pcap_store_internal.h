/* pcap_store_internal.h -- what the pcap store's four files share (see pcap_store.h):
 *   pcap_store.c         open, close, sync, retention, statistics
 *   pcap_store_ring.c    the producer: append, rotation decisions, sidecar segments, references
 *   pcap_store_writer.c  the writer thread (ring and references into files) and the closer
 *   pcap_store_dio.c     the writer's direct-I/O (O_DIRECT) writes: alignment, staging block
 * Owns:  struct pcap_store and the queues' element types.
 * Never: is included outside pcap_store*.c.
 *
 * Two queues carry what goes to disk, both single producer (the capture thread), single
 * consumer (the writer). The byte ring holds pcap records exactly as they go to disk, so the
 * writer hands contiguous spans of it to the kernel without a copy and never reads a record
 * itself. The marker queue holds, in order, what is not ring bytes: a rotation to a new file,
 * a reference to record bytes that lie in a mapped input file (lent through a
 * struct pcap_store_lender: the store does not copy them, the writer writes them straight from the mapping), and the release of such a
 * mapping once the writer is past its last reference. Each marker carries the ring position it
 * applies at; the writer writes ring bytes up to it, then applies it. Positions are counters
 * that only grow (the ring index is pos & mask). A rotation also skips len ring bytes: the
 * producer pads the ring so that the new file's first record lies at a ring index congruent to
 * its file offset modulo STORE_ALIGN, and the writer can hand ring bytes to O_DIRECT as they
 * are (pcap_store_dio.c). */
#ifndef ASHIATO_PCAP_STORE_INTERNAL_H
#define ASHIATO_PCAP_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "pcap_format.h"
#include "pcap_store.h"

#define STORE_ROTATIONS 64                    /* marker slots kept free for rotations */
#define STORE_CLOSING 8                       /* finished files waiting for their fsync */
#define STORE_WRITE_MIN (8u << 20)            /* the writer waits for this much, or flush_ms */
#define STORE_POLL_MS 10
#define STORE_IOV 1024                        /* spans per writev (IOV_MAX on Linux) */
#define STORE_ALIGN 4096u                     /* ring index = file offset modulo this */
#define STORE_DIO_STAGE (4u << 20)            /* the direct writer's staging block */

enum store_marker_kind {
    STORE_MARK_ROTATE = 1,                    /* the ring bytes after len of padding start
                                                 file rot.id */
    STORE_MARK_REF,                           /* len bytes of records at ref (a mapping) */
    STORE_MARK_RELEASE,                       /* the writer is done with src */
};

struct marker {
    uint64_t pos;
    uint32_t kind, len;
    union {
        struct {
            uint64_t id;
            int64_t first_us;
            uint32_t linktype, snaplen;
        } rot;
        const uint8_t *ref;
        struct {
            void *src;
            const struct pcap_store_lender *ops;
        } lend;
    } u;
};

/* the direct writer of the current file (pcap_store_dio.c); align 0 = buffered writes */
struct store_dio {
    size_t align;                             /* offset, length and address alignment */
    uint8_t *stage;                           /* STORE_DIO_STAGE bytes, page aligned */
    uint64_t stage_off;                       /* file offset of stage[0], a multiple of align */
    size_t stage_len;
    uint64_t direct, staged;                  /* bytes written from where they lay, staged */
};

/* a finished file on its way to disk: fsync, close, catalogue "closed" (closer thread) */
struct closing {
    int fd, idx_fd;
    struct pcap_catalog_file f;
};

/* a finished sidecar segment, made by the producer (it has each record header at hand) */
struct segment {
    uint64_t file_id, packets;
    struct pcap_format_seg seg;
};

struct pcap_store {
    struct pcap_store_config cfg;
    char dir[1024];
    char sensor[64];
    struct pcap_catalog *cat;
    struct pcap_retention *ret;

    uint8_t *ring;
    uint64_t cap, mask;
    struct marker *mk;                        /* marker queue, mk_mask + 1 entries */
    uint32_t mk_mask;
    struct segment *sq;                       /* segments queue, sq_mask + 1 entries */
    uint32_t sq_mask;

    /* shared positions, each on its own cache line */
    _Alignas(64) _Atomic uint64_t head;       /* written by the producer */
    _Atomic uint32_t mk_head, sq_head;
    _Alignas(64) _Atomic uint64_t tail;       /* written by the writer */
    _Atomic uint32_t mk_tail, sq_tail;
    _Atomic uint64_t ref_out;                 /* bytes of references written (or skipped) */
    _Alignas(64) _Atomic uint64_t released;   /* lending: the consumer is done before this */
    _Atomic uint64_t rot_done;                /* rotation markers the writer applied */
    _Atomic bool rotate_req;                  /* writer asks for a new file (after an error) */
    _Atomic uint64_t current_id;

    /* producer (capture thread) only, plus its counters read by stats (relaxed) */
    _Alignas(64) struct {
        uint64_t head, tail_cache;
        bool lend;                            /* pcap_store_lend(): room also waits for released */
        uint64_t released_cache;
        uint64_t file_id, file_size, file_packets, next_id;
        int64_t file_first_us;
        uint32_t linktype, snaplen;
        bool link_changed;
        struct pcap_format_segb segb;
        uint64_t seg_packets;
        int64_t newest_us;
        void *src;                            /* the mapped input packets may lie in */
        const struct pcap_store_lender *src_ops;   /* ... how to hold and release it */
        uintptr_t src_lo, src_hi;             /* ... its bytes */
        uint64_t ref_in, ref_out_cache;       /* bytes of references queued, written */
        uint64_t rot_in;                      /* rotation markers pushed */
        uint32_t mk_tail_cache;
    } p;
    _Atomic uint64_t n_packets, n_bytes, n_dropped, n_rejected, n_waits, high_water, n_seg_lost,
                     n_refs;
    _Atomic int64_t newest_us;                /* latest packet time appended (packet clock) */

    /* writer thread */
    _Alignas(64) pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;                       /* stop, flush_req, drain_gen, wstats */
    pthread_cond_t wake, drained;
    bool stop, flush_req;
    uint64_t drain_gen;
    pthread_mutex_t ret_mu;                   /* one retention run at a time */
    int fd, idx_fd;
    bool discard;                             /* current file failed: skip its bytes */
    bool dio_off;                             /* direct I/O failed once: buffered from now */
    struct store_dio dio;
    struct pcap_catalog_file cur;
    uint8_t *segbuf;
    size_t seglen, segcap;
    struct iovec *iov;                        /* the batch of spans for one writev */
    int niov;
    uint64_t iov_bytes;
    uint64_t w_done;                          /* record bytes written or skipped, in all */
    struct pcap_store_stats w;                /* writer's and closer's counters (under mu) */

    /* closer thread: fsyncs finished files so that the writer never waits for the disk */
    pthread_t closer;
    bool closer_started, cstop;
    pthread_mutex_t cmu;
    pthread_cond_t cwake, cdone;
    struct closing cq[STORE_CLOSING];
    unsigned cq_head, cq_tail;
    int64_t last_fail_us;
};

/* the absolute CLOCK_REALTIME time pthread_cond_timedwait wants, ms from now (pcap_store.c) */
struct timespec pcap_store_deadline(long ms);
/* the producer's segment of the current file closed: queue it (pcap_store_ring.c) */
void pcap_store_finish_segment(struct pcap_store *st);
/* Direct I/O (pcap_store_dio.c). probe: the alignment O_DIRECT needs for fd's file, or 0 when
 * its file system has none. begin: fd was just opened O_DIRECT, its first len bytes are hdr.
 * writev: the spans to the file after what it holds; every byte is in the file on return.
 * finish: truncate fd to its records. Each -1 with errno on failure. */
size_t store_dio_probe(int fd);
int store_dio_begin(struct store_dio *d, int fd, size_t align, const uint8_t *hdr, size_t len);
int store_dio_writev(struct store_dio *d, int fd, const struct iovec *iov, int n);
int store_dio_finish(struct store_dio *d, int fd);
/* writer and closer threads (pcap_store_writer.c) */
void *pcap_store_writer_main(void *arg);
void *pcap_store_closer_main(void *arg);

#endif
