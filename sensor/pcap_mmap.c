/* pcap_mmap.c -- classic pcap files walked in place (see pcap_mmap.h).
 * Owns:  the mapping, its reference count, the walk's offset and error text.
 * Never: allocates or makes a system call per packet (one madvise per 4 MiB of file).
 * Trap:  the walk is a chain of dependent loads (each header says where the next one is);
 *        without the prefetch of the lines ahead the reader thread spent 0.38 s instead of
 *        0.22 s on the 2M-packet capture.
 *
 * Hand-written because it is the sensor's hot path (DESIGN.md): libpcap copies every packet
 * twice on its way in (read(2) into the stdio buffer, fread into its packet buffer) and the
 * reader thread copied it a third time into its ring; here the kernel only maps the page
 * cache and the walk reads 16 bytes per record. Measured (bench/.cache/campus2m/sensor-3.pcap,
 * 2,001,854 packets; shared machine, load average ~3, per-thread CPU from schedstat, medians
 * of 7): the reader thread went from 0.37 s (libpcap, copy into the ring) to 0.21 s while also
 * decoding every packet (prefetch.c), the packet thread from 0.33 s to 0.26 s; callgrind on
 * the first 200,000 packets: reader 702 -> 509 instructions per packet (decode_packet's 279
 * included), packet thread 883 -> 614. */
#include "pcap_mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cursor.h"

#define MAGIC_USEC 0xa1b2c3d4u
#define MAGIC_NSEC 0xa1b23c4du
#define MAX_SNAPLEN 262144u                   /* libpcap's MAXIMUM_SNAPLEN */
#define FILE_HDR 24
#define REC_HDR 16
#define WINDOW (4u << 20)                     /* page tables are filled and emptied by this much */
#define KEEP_BEHIND (8u << 20)                /* page tables kept behind the walk: the packet
                                                 thread trails it by the prefetch ring only.
                                                 With 64 MiB for every file, peak RSS was 105 MB
                                                 and bench/session_memory.sh counted those clean
                                                 file pages as ~72 bytes per session (294.7 B) */
#define FETCH_AHEAD 4096                      /* cache lines asked for this far ahead */

struct pcap_mmap {
    _Atomic unsigned refs;
    const uint8_t *base;
    uint64_t size;                            /* the file's size at open: the mapping */
    _Atomic uint64_t valid;                   /* bytes still in the file: size until it is cut
                                                 while mapped (the SIGBUS handler, shrunk()) */
    int fd;                                   /* a dup of the file, for fstat when it is cut */
    int slot;                                 /* in live_maps */
    uint64_t off;                             /* the next record header */
    uint64_t populated;                       /* page tables are filled up to here */
    uint64_t dropped;                         /* ... and emptied below here */
    uint64_t next_slide;                      /* the walk's offset that moves both */
    uint64_t fetched;                         /* cache lines are asked for up to here */
    _Atomic uint64_t keep_behind;             /* pcap_mmap_keep_behind() */
    uint32_t snapshot;
    int dlt;
    bool swapped, nano, populate;
    char err[ASH_ERR_LEN];
};

/* ---- a file cut while mapped (logrotate copytruncate, a restarted tcpdump -w) -------------
 * Reading a page past the new end raises SIGBUS, which killed the sensor with every open
 * session (issue 14 M3). The handler below maps zero pages over the rest of the mapping, so
 * the reading thread (the walk, a decoder, the store's writer) goes on, and lowers `valid`;
 * the walk then ends with "file truncated while read" and the caller flushes its sessions as
 * for any file that ended early. A fault outside every mapping of this file goes to the
 * handler that was there before (a sanitizer's) or kills as it would have. */
#define MAPS_MAX 64
static struct pcap_mmap *_Atomic live_maps[MAPS_MAX];
static struct sigaction prev_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void lower_valid(struct pcap_mmap *m, uint64_t to)
{
    uint64_t cur = atomic_load(&m->valid);
    while (to < cur && !atomic_compare_exchange_weak(&m->valid, &cur, to))
        ;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    long pg = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < MAPS_MAX; i++) {
        struct pcap_mmap *m = atomic_load(&live_maps[i]);
        uintptr_t b = m ? (uintptr_t)m->base : 0;
        if (!m || a < b || a - b >= m->size)
            continue;
        uint64_t at = (uint64_t)(a - b) & ~(uint64_t)(pg - 1);
        /* fstat and mmap are system calls, safe in a handler */
        struct stat st;
        uint64_t now = fstat(m->fd, &st) == 0 && (uint64_t)st.st_size < at ? (uint64_t)st.st_size : at;
        if (mmap((void *)(b + at), (size_t)(m->size - at), PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
            break;
        lower_valid(m, now);
        return;                      /* the read is made again, and finds zeros */
    }
    if ((prev_bus.sa_flags & SA_SIGINFO) && prev_bus.sa_sigaction)
        prev_bus.sa_sigaction(sig, si, uc);
    else if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN)
        prev_bus.sa_handler(sig);
    else
        signal(SIGBUS, SIG_DFL);     /* the access faults again and the process dies of it */
}

static void install_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &prev_bus);
}

/* the file is shorter than `need` now: fstat said so (an all-zero record header, which the
 * zero page past a cut end also looks like) */
static bool shrunk(struct pcap_mmap *m, uint64_t need)
{
    struct stat st;
    if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size >= need)
        return false;
    lower_valid(m, (uint64_t)st.st_size);
    return true;
}

/* Link types (the number in the file) read here and the DLT libpcap reports for each
 * (linktype_to_dlt: LINKTYPE_RAW 101 is DLT_RAW 12 on Linux). The DLT_RAW values 12 and 14
 * in a file, and everything else, stay with libpcap. None of these has a maximum snaplen
 * other than 262144 (max_snaplen_for_dlt). */
static int dlt_of(uint32_t linktype, bool swapped)
{
    switch (linktype) {
    case 0: case 1: case 9: case 107: case 108: case 228: case 229:
        return (int)linktype;
    case 101:
        return 12;
    case 113: case 276:                       /* pcap_post_process swaps CAN ids in these */
        return swapped ? -1 : (int)linktype;
    default:
        return -1;
    }
}

struct pcap_mmap *pcap_mmap_open(int fd, uint64_t size, char err[ASH_ERR_LEN])
{
    uint8_t hdr[FILE_HDR];
    err[0] = 0;
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return NULL;     /* "swapped" below means big-endian: libpcap's sense on little-endian hosts */
#endif
    if (size < FILE_HDR || size > SIZE_MAX || pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        return NULL;
    /* the magic in the file's byte order tells how to read the rest */
    struct cursor c = cursor_make(hdr, sizeof hdr);
    uint32_t magic = cursor_le32(&c);
    bool swapped = magic != MAGIC_USEC && magic != MAGIC_NSEC;
    if (swapped) {
        c = cursor_make(hdr, sizeof hdr);
        magic = cursor_be32(&c);
        if (magic != MAGIC_USEC && magic != MAGIC_NSEC)
            return NULL;                      /* pcapng, Kuznetzov's format, not a capture */
    }
    uint16_t major = swapped ? cursor_be16(&c) : cursor_le16(&c);
    uint16_t minor = swapped ? cursor_be16(&c) : cursor_le16(&c);
    cursor_skip(&c, 8);                       /* thiszone, sigfigs */
    uint32_t snaplen = swapped ? cursor_be32(&c) : cursor_le32(&c);
    uint32_t linktype = swapped ? cursor_be32(&c) : cursor_le32(&c);
    if (c.bad)
        return NULL;
    /* 2.0-2.3 and 543.0 may have caplen and len swapped: libpcap's guess, not ours */
    if (major != 2 || minor != 4)
        return NULL;
    int dlt = dlt_of(linktype & 0x03FFFFFFu, swapped);
    if (dlt < 0)
        return NULL;
    struct pcap_mmap *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, ASH_ERR_LEN, "out of memory");
        return NULL;
    }
    pthread_once(&bus_once, install_sigbus);
    m->slot = -1;
    for (int i = 0; i < MAPS_MAX && m->slot < 0; i++) {
        struct pcap_mmap *none = NULL;
        if (atomic_compare_exchange_strong(&live_maps[i], &none, m))
            m->slot = i;
    }
    if (m->slot < 0) {               /* 64 files mapped at once: libpcap reads this one */
        free(m);
        return NULL;
    }
    if ((m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        snprintf(err, ASH_ERR_LEN, "dup: %s", strerror(errno));
        atomic_store(&live_maps[m->slot], NULL);
        free(m);
        return NULL;
    }
    m->size = size;                  /* before base: the handler reads both */
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) {
        snprintf(err, ASH_ERR_LEN, "mmap of %llu bytes: %s", (unsigned long long)size, strerror(errno));
        atomic_store(&live_maps[m->slot], NULL);
        close(m->fd);
        free(m);
        return NULL;
    }
    madvise(base, (size_t)size, MADV_SEQUENTIAL);
    atomic_init(&m->refs, 1);
    atomic_init(&m->valid, size);
    m->base = base;
    m->off = FILE_HDR;
    m->dlt = dlt;
    m->swapped = swapped;
    m->nano = magic == MAGIC_NSEC;
    /* pcap_adjust_snapshot: 0 or above INT_MAX means "the maximum for the link type" */
    m->snapshot = snaplen == 0 || snaplen > 0x7fffffffu ? MAX_SNAPLEN : snaplen;
    m->populate = true;
    atomic_init(&m->keep_behind, KEEP_BEHIND);
    return m;
}

void pcap_mmap_hold(struct pcap_mmap *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void pcap_mmap_release(struct pcap_mmap *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    atomic_store(&live_maps[m->slot], NULL);
    munmap((void *)m->base, (size_t)m->size);
    close(m->fd);
    free(m);
}

/* Every WINDOW bytes of walk: fill the page tables of the next two windows before the walk
 * gets there, so that no thread takes a page fault per 64 KiB of file, and empty those more
 * than KEEP_BEHIND behind it, so that the mapping does not count the whole file as resident
 * (a page dropped here is the page cache's still: a late reader, such as a pcap store writer
 * that far behind, just faults it back in). */
static void slide(struct pcap_mmap *m)
{
    m->next_slide = m->off + WINDOW;
    if (m->populate) {
        uint64_t from = m->populated & ~(uint64_t)4095;
        uint64_t want = m->off + 2 * (uint64_t)WINDOW;
        if (want >= m->size) {
            want = m->size;
            m->populate = false;              /* the last window */
        }
        if (want > from && madvise((void *)(m->base + from), (size_t)(want - from), MADV_POPULATE_READ) < 0)
            m->populate = false;              /* kernels before 5.14: page faults it is */
        m->populated = want;
    }
    uint64_t behind = atomic_load_explicit(&m->keep_behind, memory_order_relaxed);
    if (m->off > behind) {
        uint64_t to = (m->off - behind) & ~(uint64_t)4095;
        if (to > m->dropped && madvise((void *)(m->base + m->dropped), (size_t)(to - m->dropped), MADV_DONTNEED) == 0)
            m->dropped = to;
    }
}

static int fail(struct pcap_mmap *m)
{
    m->off = m->size;
    return -1;
}

static int cut(struct pcap_mmap *m)
{
    uint64_t now = atomic_load(&m->valid);
    snprintf(m->err, sizeof m->err, "file truncated while read (%llu bytes at open, %llu now): "
             "read up to byte %llu", (unsigned long long)m->size,
             (unsigned long long)now, (unsigned long long)(m->off < now ? m->off : now));
    return fail(m);
}

void pcap_mmap_keep_behind(struct pcap_mmap *m, uint64_t bytes)
{
    if (bytes > atomic_load_explicit(&m->keep_behind, memory_order_relaxed))
        atomic_store_explicit(&m->keep_behind, bytes, memory_order_relaxed);
}

int pcap_mmap_next(struct pcap_mmap *m, struct pcap_mmap_pkt *pkt)
{
    if (ASH_UNLIKELY(m->off >= m->next_slide))
        slide(m);
    /* Each record header is where the previous one says: a chain of dependent loads, one
     * cache miss per packet that no hardware prefetcher foresees. Ask for every line of the
     * file a little way ahead instead, in file order (the stream libpcap's copy made). */
    uint64_t end = m->size & ~(uint64_t)255;  /* (the last few lines come on demand) */
    uint64_t ahead = m->off + FETCH_AHEAD < end ? m->off + FETCH_AHEAD : end;
    for (; m->fetched < ahead; m->fetched += 256) {
        const uint8_t *l = m->base + m->fetched;
        __builtin_prefetch(l);
        __builtin_prefetch(l + 64);
        __builtin_prefetch(l + 128);
        __builtin_prefetch(l + 192);
    }
    uint64_t left = m->size - m->off;
    if (ASH_UNLIKELY(left < REC_HDR)) {
        if (left == 0)
            return 0;
        snprintf(m->err, sizeof m->err, "truncated dump file; tried to read %d header bytes, only got %llu",
                 REC_HDR, (unsigned long long)left);
        return fail(m);
    }
    /* a cursor over exactly the header: the compiler sees its bounds and drops the checks */
    struct cursor h = cursor_make(m->base + m->off, REC_HDR);
    uint32_t sec, frac, caplen, len;
    if (m->swapped) {
        sec = cursor_be32(&h), frac = cursor_be32(&h);
        caplen = cursor_be32(&h), len = cursor_be32(&h);
    } else {
        sec = cursor_le32(&h), frac = cursor_le32(&h);
        caplen = cursor_le32(&h), len = cursor_le32(&h);
    }
    /* the messages are libpcap's (sf-pcap.c), so a damaged file reads the same either way */
    if (ASH_UNLIKELY(caplen > MAX_SNAPLEN)) {
        if (caplen > m->snapshot)
            snprintf(m->err, sizeof m->err, "invalid packet capture length %u, bigger than snaplen of %d",
                     caplen, (int)m->snapshot);
        else
            snprintf(m->err, sizeof m->err, "invalid packet capture length %u, bigger than maximum of %u",
                     caplen, MAX_SNAPLEN);
        return fail(m);
    }
    struct cursor body = cursor_make(m->base + m->off + REC_HDR, (size_t)(left - REC_HDR));
    const uint8_t *data = cursor_bytes(&body, caplen);
    if (ASH_UNLIKELY(!data)) {
        /* above the snaplen libpcap reads snaplen bytes first, then skips the rest */
        uint64_t got = left - REC_HDR;
        uint32_t tried = caplen > m->snapshot && got < m->snapshot ? m->snapshot : caplen;
        snprintf(m->err, sizeof m->err, "truncated dump file; tried to read %u captured bytes, only got %llu",
                 tried, (unsigned long long)got);
        return fail(m);
    }
    /* a file cut while mapped: the last byte of the record is touched here, so that a page
     * past the new end faults now (the handler lowers valid) and not in a decoder later;
     * the bytes of the cut page past the end read as zeros, and so does an all-zero header,
     * which fstat then tells from a real one */
    if (caplen)
        (void)*(const volatile uint8_t *)(data + caplen - 1);
    uint64_t rec_end = m->off + REC_HDR + (uint64_t)caplen;
    if (ASH_UNLIKELY(rec_end > atomic_load_explicit(&m->valid, memory_order_relaxed) ||
                     ((sec | frac | caplen | len) == 0 && shrunk(m, rec_end))))
        return cut(m);
    m->off = rec_end;
    /* ts_sec is unsigned (issue 14 M1: read signed, 2^31 and above became a time before
     * 1970, and one such record held the sensor's whole stream at the aggregator); libpcap
     * 1.10.3 widens it with its sign, newer ones do not, and capture.c reads libpcap's value
     * unsigned too. The fraction keeps libpcap's reading (signed, unsigned when swapped);
     * the sensor opens files at nanosecond precision and divides by 1000 (capture.c). */
    int64_t s = (int64_t)sec;
    int64_t f = m->swapped ? (int64_t)frac : (int64_t)(int32_t)frac;
    pkt->ts_us = s * 1000000 + (m->nano ? f / 1000 : f);
    pkt->caplen = caplen > m->snapshot ? m->snapshot : caplen;
    pkt->wirelen = len;
    pkt->data = data;
    pkt->canonical = !m->swapped && !m->nano && frac < 1000000 && s * 1000000 + f >= 0 &&
                     caplen <= m->snapshot &&
                     caplen <= len;
    return 1;
}

const char *pcap_mmap_error(const struct pcap_mmap *m) { return m->err; }
int pcap_mmap_dlt(const struct pcap_mmap *m) { return m->dlt; }
uint32_t pcap_mmap_snapshot(const struct pcap_mmap *m) { return m->snapshot; }
uint64_t pcap_mmap_offset(const struct pcap_mmap *m) { return m->off; }

bool pcap_mmap_contains(const struct pcap_mmap *m, const uint8_t *p, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)m->base;
    return a >= b && a - b <= m->size && len <= m->size - (a - b);
}

const uint8_t *pcap_mmap_bytes(const struct pcap_mmap *m, uint64_t *size)
{
    *size = m->size;
    return m->base;
}
