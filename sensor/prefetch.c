/* prefetch.c -- the reader thread and its ring (see prefetch.h).
 * Owns:  the ring: records of { length, kind, caplen, wirelen, ts, ref } + bytes (libpcap) or
 *        + struct decoded (a mapped file with PREFETCH_DECODE), 8-byte aligned; a record that
 *        does not fit before the end is preceded by a wrap marker.
 * Never: takes a lock on the packet path: head and tail are C11 atomics, published in
 *        batches so the two cores do not pass the cache line back and forth per packet.
 * Trap:  a mapped file's reader is faster than the packet thread: it sleeps on a futex when
 *        the ring is full (one wake per half ring), never spins, so that the core is free for
 *        the pcap store's writer.
 *
 * Hand-written because no library in the dependency list offers a lock-free SPSC byte ring,
 * and a mutex + condition variable per packet would cost more than decoding it. Measured:
 * bench/RESULTS.md, sensor offline (reader thread on vs off).
 *
 * Mapped files (2,001,854-packet campus capture, per-thread CPU, shared machine): a reader
 * that only walks the records leaves decode on the packet thread, which then takes every
 * first touch of the packet bytes: packet thread 0.51 s, reader 0.20 s, worse than libpcap's
 * two copies (0.41 s / 0.41 s). Without a reader thread one core does all: 0.59 s. Decoding on
 * the reader balances the two: packet thread 0.26-0.31 s, reader 0.21-0.22 s. */
#include "prefetch.h"
#include "clock.h"
#include "decode.h"
#include "pcap_store.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum rec_kind { REC_PACKET = 1, REC_TIMEOUT, REC_EOF, REC_ERROR, REC_WRAP };

struct rec {
    uint32_t len;                    /* whole record, header included, multiple of 8 */
    uint16_t kind;
    uint8_t file_record;             /* capture_packet.file_record */
    int8_t stored;                   /* capture_packet.stored */
    uint32_t caplen, wirelen;
    int64_t ts_us;
    const uint8_t *ref;              /* a mapped file's packet, or one lent by the pcap store:
                                        its bytes, not copied */
    uint64_t store_file, store_off;
    uint64_t store_end;              /* the store's ring position to release after it, or 0 */
};

#define PUBLISH_EVERY 32
#define DECODED_SIZE ((sizeof(struct decoded) + 7) & ~(size_t)7)
/* A mapped file's ring holds small records (~160 bytes with the decoded headers), and the
 * reader should stay near the packet thread: what it touched of a packet is then still in a
 * cache when the packet thread gets there. 512 KiB (~3,300 packets) measured best among 256 KiB
 * to 8 MiB (packet thread CPU with the store on: 0.44 s against 0.61 s at 8 MiB). */
#define PREFETCH_MAPPED_RING (512u << 10)

struct prefetch {
    struct capture *c;
    int dlt;
    bool mapped;                     /* packets lie in the file's mapping: pass pointers */
    bool decode;                     /* ... and decode them here */
    struct pcap_store *store;        /* live: the reader keeps packets in it (lending) */
    uint8_t *ring;
    size_t size;                     /* power of two */
    _Alignas(64) _Atomic size_t head;   /* written by the reader: bytes produced */
    _Alignas(64) _Atomic size_t tail;   /* written by the consumer: bytes consumed */
    _Atomic uint32_t r_sleeping;        /* the reader waits on a full ring (futex word) */
    _Alignas(64) _Atomic bool stop;
    _Atomic uint64_t file_offset;
    _Atomic uint64_t st_received, st_dropped, st_if_dropped;
    /* reader-private */
    size_t r_head, r_tail_seen;
    unsigned r_unpublished;
    /* consumer-private */
    size_t c_tail, c_head_seen;
    unsigned c_unpublished;
    struct decoded *c_decoded;
    uint64_t c_release;              /* store position to release once the lent packet is done */
    pthread_t thread;
    bool started;
    char err[ASH_ERR_LEN];
};

/* Wait for the other side: spin briefly (it is usually a few hundred nanoseconds away),
 * then sleep so a stalled side costs no CPU: 50 us at first, doubling every 16 sleeps up to
 * 1 ms. An idle live capture then wakes about 1,000 times a second; at a fixed 50 us it woke
 * 20,000 times and used 17-20% of a core doing nothing (bench/pcap_store_overhead.sh). The
 * kernel's capture buffer holds what arrives during the last sleep. */
static void nap(unsigned *spins)
{
    enum { SPIN = 256, PER_STEP = 16, STEPS = 5 };
    unsigned n = ++*spins;
    if (n < SPIN) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        return;
    }
    unsigned step = (n - SPIN) / PER_STEP;
    if (step >= STEPS) {
        step = STEPS;
        *spins = SPIN + STEPS * PER_STEP;     /* stay at the longest sleep */
    }
    struct timespec ts = { 0, step == STEPS ? 1000000L : 50000L << step };
    nanosleep(&ts, NULL);
}

static size_t rec_size(uint32_t caplen)
{
    return (sizeof(struct rec) + caplen + 7) & ~(size_t)7;
}

/* A mapped file is read faster than it is decoded: the reader would spend its core spinning
 * on a full ring, the core the pcap store's writer needs. It sleeps instead until the
 * consumer has emptied half of the ring (one futex call per half ring, not per packet). */
static void sleep_until_drained(struct prefetch *pf, size_t need)
{
    atomic_store_explicit(&pf->r_sleeping, 1, memory_order_seq_cst);
    pf->r_tail_seen = atomic_load_explicit(&pf->tail, memory_order_seq_cst);
    if (pf->r_head + need - pf->r_tail_seen > pf->size && !atomic_load_explicit(&pf->stop, memory_order_relaxed)) {
        struct timespec ts = { 0, 20000000 };           /* a lost wake-up costs 20 ms at worst */
        syscall(SYS_futex, (uint32_t *)&pf->r_sleeping, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
    }
    atomic_store_explicit(&pf->r_sleeping, 0, memory_order_relaxed);
}

/* the consumer published its tail: wake a sleeping reader once half of the ring is free */
static void wake_reader(struct prefetch *pf, size_t tail)
{
    if (atomic_load_explicit(&pf->r_sleeping, memory_order_seq_cst) &&
        atomic_load_explicit(&pf->head, memory_order_relaxed) - tail <= pf->size / 2 &&
        atomic_exchange_explicit(&pf->r_sleeping, 0, memory_order_relaxed))
        syscall(SYS_futex, (uint32_t *)&pf->r_sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void publish_tail(struct prefetch *pf, size_t tail)
{
    if (pf->mapped) {
        atomic_store_explicit(&pf->tail, tail, memory_order_seq_cst);
        wake_reader(pf, tail);
    } else {
        atomic_store_explicit(&pf->tail, tail, memory_order_release);
    }
}

/* room for n contiguous bytes at the reader's head, wrapping if needed; false if stopping */
static bool reserve(struct prefetch *pf, size_t n)
{
    unsigned spins = 0;
    for (;;) {
        size_t off = pf->r_head & (pf->size - 1);
        size_t to_end = pf->size - off;
        size_t need = n <= to_end ? n : to_end + n;   /* a wrap wastes the rest */
        if (pf->r_head + need - pf->r_tail_seen <= pf->size) {
            if (n > to_end) {
                /* only len and kind (8 bytes) of a wrap marker are written: to_end may be
                 * shorter than a whole header but is always a multiple of 8 */
                uint32_t wrap[2] = { (uint32_t)to_end, REC_WRAP };
                memcpy(pf->ring + off, wrap, sizeof wrap);
                pf->r_head += to_end;
            }
            return true;
        }
        pf->r_tail_seen = atomic_load_explicit(&pf->tail, memory_order_acquire);
        if (pf->r_head + need - pf->r_tail_seen <= pf->size)
            continue;
        atomic_store_explicit(&pf->head, pf->r_head, memory_order_release);
        pf->r_unpublished = 0;
        if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
            return false;
        if (pf->mapped)
            sleep_until_drained(pf, need);
        else
            nap(&spins);
    }
}

static bool put(struct prefetch *pf, uint32_t kind, const struct capture_packet *pkt, bool publish)
{
    uint32_t caplen = kind == REC_PACKET ? pkt->caplen : 0;
    uint64_t f = 0, o = 0, end = 0;
    const uint8_t *lent = NULL;
    int stored = 0;
    if (pf->store && kind == REC_PACKET) {
        /* into the store's ring, the packet's one copy; the packet path reads it there */
        unsigned spins = 0;
        int rc;
        while ((rc = pcap_store_append_lent(pf->store, pkt->ts_us, pkt->data, caplen, pkt->wirelen,
                                            &f, &o, &lent, &end)) == PCAP_STORE_ERR_BUSY) {
            /* the packet thread holds the store's ring: let it see all we have, then wait */
            atomic_store_explicit(&pf->head, pf->r_head, memory_order_release);
            pf->r_unpublished = 0;
            if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
                return false;
            nap(&spins);
        }
        stored = rc == 0 ? 1 : -1;
    }
    size_t n = lent ? sizeof(struct rec) : !pf->mapped ? rec_size(caplen)
             : pf->decode && kind == REC_PACKET ? sizeof(struct rec) + DECODED_SIZE : sizeof(struct rec);
    if (!reserve(pf, n))
        return false;
    struct rec *r = (struct rec *)(pf->ring + (pf->r_head & (pf->size - 1)));
    r->len = (uint32_t)n;
    r->kind = (uint16_t)kind;
    r->file_record = pkt && pkt->file_record;
    r->stored = (int8_t)stored;
    r->caplen = caplen;
    r->wirelen = pkt ? pkt->wirelen : 0;
    r->ts_us = pkt ? pkt->ts_us : 0;
    r->ref = NULL;
    r->store_file = f;
    r->store_off = o;
    r->store_end = end;
    if (lent) {
        r->ref = lent;
    } else if (pf->mapped) {
        r->ref = pkt ? pkt->data : NULL;
        if (pf->decode && kind == REC_PACKET)
            decode_packet(pf->dlt, pkt->data, caplen, pkt->wirelen, (struct decoded *)(r + 1));
    } else if (caplen) {
        memcpy(r + 1, pkt->data, caplen);
    }
    pf->r_head += n;
    if (publish || ++pf->r_unpublished >= PUBLISH_EVERY) {
        atomic_store_explicit(&pf->head, pf->r_head, memory_order_release);
        pf->r_unpublished = 0;
    }
    return true;
}

static void publish_stats(struct prefetch *pf)
{
    struct capture_stats cs;
    if (capture_stats(pf->c, &cs) == 0) {
        atomic_store_explicit(&pf->st_received, cs.received, memory_order_relaxed);
        atomic_store_explicit(&pf->st_dropped, cs.dropped, memory_order_relaxed);
        atomic_store_explicit(&pf->st_if_dropped, cs.if_dropped, memory_order_relaxed);
    }
}

static void *reader_main(void *arg)
{
    struct prefetch *pf = arg;
    struct capture_packet pkt;
    uint64_t n = 0;
    int64_t last_stats = clock_mono_ms();
    while (!atomic_load_explicit(&pf->stop, memory_order_relaxed)) {
        enum capture_next_result rc = capture_next(pf->c, &pkt);
        if (rc == CAPTURE_PACKET) {
            if (!put(pf, REC_PACKET, &pkt, false))
                break;
            if ((++n & 0x3fff) == 0) {
                atomic_store_explicit(&pf->file_offset, capture_file_offset(pf->c), memory_order_relaxed);
                if (clock_mono_ms() - last_stats >= 1000) {
                    publish_stats(pf);
                    last_stats = clock_mono_ms();
                }
            }
            continue;
        }
        if (rc == CAPTURE_TIMEOUT) {
            if (clock_mono_ms() - last_stats >= 1000) {
                publish_stats(pf);
                last_stats = clock_mono_ms();
            }
            if (!put(pf, REC_TIMEOUT, NULL, true))
                break;
            continue;
        }
        if (rc == CAPTURE_ERROR)
            snprintf(pf->err, sizeof pf->err, "%s", capture_error(pf->c));
        atomic_store_explicit(&pf->file_offset, capture_file_offset(pf->c), memory_order_relaxed);
        put(pf, rc == CAPTURE_ERROR ? REC_ERROR : REC_EOF, NULL, true);
        break;
    }
    publish_stats(pf);
    atomic_store_explicit(&pf->head, pf->r_head, memory_order_release);
    return NULL;
}

struct prefetch *prefetch_start(struct capture *c, size_t ring_bytes, unsigned flags,
                                struct pcap_store *store, char err[ASH_ERR_LEN])
{
    struct prefetch *pf = calloc(1, sizeof *pf);
    size_t size = 1 << 20;
    while (size < ring_bytes)
        size <<= 1;
    if (capture_source(c) && size > PREFETCH_MAPPED_RING)
        size = PREFETCH_MAPPED_RING;
    if (!pf || !(pf->ring = malloc(size))) {
        snprintf(err, ASH_ERR_LEN, "prefetch: cannot allocate a %zu byte ring", size);
        free(pf);
        return NULL;
    }
    pf->c = c;
    pf->size = size;
    pf->dlt = capture_dlt(c);
    pf->mapped = capture_source(c) != NULL;
    pf->decode = pf->mapped && (flags & PREFETCH_DECODE);
    if (store && !pf->mapped) {
        pf->store = store;
        pcap_store_lend(store);      /* the reader thread is the store's producer from now */
    }
    if (pthread_create(&pf->thread, NULL, reader_main, pf) != 0) {
        snprintf(err, ASH_ERR_LEN, "prefetch: cannot start the reader thread");
        free(pf->ring);
        free(pf);
        return NULL;
    }
    pf->started = true;
    return pf;
}

/* A packet that is not beside its record (a mapped file's, or one lent by the pcap store) was
 * last touched by the reader's core: ask for the start of the one FETCH_PACKET records ahead
 * (the headers and payload start the parsers read) and for the ring record FETCH_RING ahead
 * (from which that pointer will be read), so that neither is a cache miss when its turn comes.
 * Such records have one size; a wrap between here and there just skips the hint. */
#define FETCH_PACKET 4
#define FETCH_RING 8

static void fetch_ahead(struct prefetch *pf, size_t start, size_t len)
{
    size_t at = start & (pf->size - 1);
    if (at + FETCH_RING * len > pf->size || start + (FETCH_PACKET + 1) * len > pf->c_head_seen)
        return;
    __builtin_prefetch(pf->ring + at + FETCH_RING * len);
    const struct rec *r = (const struct rec *)(pf->ring + at + FETCH_PACKET * len);
    if (r->len == len && r->kind == REC_PACKET && r->ref) {   /* (not the end-of-file record) */
        __builtin_prefetch(r->ref);
        if (r->caplen > 64 - ((uintptr_t)r->ref & 63))
            __builtin_prefetch(r->ref + 64);
    }
}

enum capture_next_result prefetch_next(struct prefetch *pf, struct capture_packet *pkt)
{
    if (pf->c_release) {             /* the packet the store lent to the previous call */
        pcap_store_release(pf->store, pf->c_release);
        pf->c_release = 0;
    }
    for (;;) {
        /* the record lent by the previous call is done: everything before c_tail is free */
        if (pf->c_tail == pf->c_head_seen) {
            publish_tail(pf, pf->c_tail);
            pf->c_unpublished = 0;
            unsigned spins = 0;
            while ((pf->c_head_seen = atomic_load_explicit(&pf->head, memory_order_acquire)) ==
                   pf->c_tail)
                nap(&spins);
        }
        size_t start = pf->c_tail;
        struct rec *r = (struct rec *)(pf->ring + (start & (pf->size - 1)));
        pf->c_tail += r->len;
        if (++pf->c_unpublished >= PUBLISH_EVERY) {
            /* release up to this record, which stays lent until the next call */
            publish_tail(pf, start);
            pf->c_unpublished = 0;
        }
        switch (r->kind) {
        case REC_WRAP:
            continue;
        case REC_PACKET:
            pkt->ts_us = r->ts_us;
            pkt->caplen = r->caplen;
            pkt->wirelen = r->wirelen;
            pkt->data = r->ref ? r->ref : (const uint8_t *)(r + 1);
            pkt->file_record = r->file_record && r->ref;
            pkt->stored = r->stored;
            pkt->store_file = r->store_file;
            pkt->store_off = r->store_off;
            pf->c_release = r->store_end;
            pf->c_decoded = pf->decode ? (struct decoded *)(r + 1) : NULL;
            if (r->ref)                  /* mapped, or lent by the store: not beside r */
                fetch_ahead(pf, start, r->len);
            return CAPTURE_PACKET;
        case REC_TIMEOUT:
            return CAPTURE_TIMEOUT;
        case REC_ERROR:
            pf->c_tail = start;      /* stay on the terminal record */
            return CAPTURE_ERROR;
        default:
            pf->c_tail = start;
            return CAPTURE_EOF;
        }
    }
}

struct decoded *prefetch_decoded(struct prefetch *pf) { return pf->c_decoded; }

const char *prefetch_error(const struct prefetch *pf) { return pf->err; }

void prefetch_stats(const struct prefetch *pf, struct capture_stats *out)
{
    out->received = atomic_load_explicit(&pf->st_received, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&pf->st_dropped, memory_order_relaxed);
    out->if_dropped = atomic_load_explicit(&pf->st_if_dropped, memory_order_relaxed);
}

uint64_t prefetch_file_offset(const struct prefetch *pf)
{
    return atomic_load_explicit(&pf->file_offset, memory_order_relaxed);
}

void prefetch_stop(struct prefetch *pf)
{
    if (!pf)
        return;
    if (pf->started) {
        atomic_store(&pf->stop, true);
        capture_breakloop(pf->c);
        if (atomic_exchange(&pf->r_sleeping, 0))
            syscall(SYS_futex, (uint32_t *)&pf->r_sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        pthread_join(pf->thread, NULL);
    }
    free(pf->ring);
    free(pf);
}
