/* pcap_store_ring.c -- the pcap store's producer side: pcap_store_append() on the capture
 *                     thread (see pcap_store.h and pcap_store_internal.h).
 * Owns:  the decisions made per packet: which file and offset it gets, when a file rotates,
 *        where a sidecar segment closes, and how its bytes reach the writer: copied into the
 *        byte ring, or, when they lie in the mapped input file (pcap_store_set_source), as a
 *        reference the writer writes from the mapping itself.
 * Never: mallocs, locks, logs or calls the kernel on the append path (the one exception is the
 *        wait_when_full path when the ring or the reference budget is full).
 *
 * A rotation is a marker {ring position, file id, first packet time} pushed before the first
 * record of the new file; the writer switches files when its read position reaches it. The
 * capture thread decides rotations (it knows each file's size and age in packet time), so it
 * can hand out (file id, offset) at once, and it cuts the sidecar segments (it has each header
 * at hand).
 *
 * Zero copy from a mapped input: a packet whose 16-byte record header in the input file is
 * byte for byte the one the store writes (classic little-endian microsecond pcap, caplen within
 * the store's snaplen, caplen <= wirelen) is queued as one reference to header and data, and
 * the writer joins references that follow each other in the input into one span of its writev.
 * Any other packet of a mapped input gets its header copied into the ring (16 bytes) and a
 * reference to its data. The references in flight are bounded by the ring size in bytes, so the
 * writer lags no further behind than with copies. Hand-written: it is the capture thread's hot
 * path. Measured on the 2M-packet campus capture into tmpfs (per-thread CPU, shared machine):
 * the packet thread's share of the store went from 0.27 s (a memcpy of every packet into the
 * ring) to 0.17 s, and the writer writes 8 MiB spans straight from the input's page cache
 * (0.52 s of kernel time, the same as before: the copy into tmpfs pages is the kernel's). */
#include "pcap_store_internal.h"

#include <string.h>
#include <time.h>


static void relaxed_add(_Atomic uint64_t *c, uint64_t v)
{
    /* single writer: a plain load and store, no locked read-modify-write on the hot path */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

static void ring_put(struct pcap_store *st, uint64_t pos, const void *src, size_t len)
{
    size_t i = (size_t)(pos & st->mask), first = (size_t)(st->cap - i);
    if (first >= len) {
        memcpy(st->ring + i, src, len);
    } else {
        memcpy(st->ring + i, src, first);
        memcpy(st->ring, (const uint8_t *)src + first, len - first);
    }
}

/* the producer's segment of the current file closed: queue it for the writer */
static void push_segment(struct pcap_store *st, const struct pcap_format_seg *seg)
{
    uint32_t h = atomic_load_explicit(&st->sq_head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&st->sq_tail, memory_order_acquire);
    if (h - t > st->sq_mask) {               /* cannot happen with the queue sized to the ring */
        relaxed_add(&st->n_seg_lost, 1);
    } else {
        struct segment *e = &st->sq[h & st->sq_mask];
        e->file_id = st->p.file_id;
        e->packets = st->p.seg_packets;
        e->seg = *seg;
        atomic_store_explicit(&st->sq_head, h + 1, memory_order_release);
    }
    st->p.seg_packets = 0;
}

void pcap_store_finish_segment(struct pcap_store *st)
{
    struct pcap_format_seg done;
    if (st->p.file_id && pcap_format_segb_finish(&st->p.segb, &done))
        push_segment(st, &done);
}

/* free marker slots, keeping `keep` of them for what must not wait behind references */
static bool marker_room(struct pcap_store *st, uint32_t keep)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    if (h - st->p.mk_tail_cache < st->mk_mask + 1 - keep)
        return true;
    st->p.mk_tail_cache = atomic_load_explicit(&st->mk_tail, memory_order_acquire);
    return h - st->p.mk_tail_cache < st->mk_mask + 1 - keep;
}

/* the next marker slot; publish it with push_marker() */
static struct marker *next_marker(struct pcap_store *st)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    return &st->mk[h & st->mk_mask];
}

static void push_marker(struct pcap_store *st)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    atomic_store_explicit(&st->mk_head, h + 1, memory_order_release);
}

/* free ring bytes as last seen: behind both the writer and, when lending, the consumer */
static inline uint64_t ring_free(const struct pcap_store *st)
{
    uint64_t lo = st->p.tail_cache;
    if (st->p.lend && st->p.released_cache < lo)
        lo = st->p.released_cache;
    return st->cap - (st->p.head - lo);
}

static bool push_rotation(struct pcap_store *st, int64_t ts_us)
{
    /* STORE_ROTATIONS in flight at most: the segment queue is sized for that many */
    if (st->p.rot_in - atomic_load_explicit(&st->rot_done, memory_order_acquire) >= STORE_ROTATIONS ||
        !marker_room(st, 0))
        return false;
    pcap_store_finish_segment(st);            /* the old file's last segment goes first */
    /* the new file's first record (file offset 24) at a ring index congruent to it, so that a
     * file of ring bytes goes to O_DIRECT without a copy; no room to pad: it is staged */
    uint32_t pad = (uint32_t)((PCAP_FORMAT_FILE_HDR - st->p.head) & (STORE_ALIGN - 1));
    st->p.tail_cache = atomic_load_explicit(&st->tail, memory_order_acquire);
    if (st->p.lend)
        st->p.released_cache = atomic_load_explicit(&st->released, memory_order_acquire);
    if (ring_free(st) < pad)
        pad = 0;
    struct marker *m = next_marker(st);
    m->pos = st->p.head;
    m->kind = STORE_MARK_ROTATE;
    m->len = pad;
    m->u.rot.id = st->p.next_id;
    m->u.rot.first_us = ts_us;
    m->u.rot.linktype = st->p.linktype;
    m->u.rot.snaplen = st->p.snaplen;
    push_marker(st);
    st->p.head += pad;
    atomic_store_explicit(&st->head, st->p.head, memory_order_release);   /* after the marker */
    st->p.rot_in++;
    st->p.file_id = st->p.next_id++;
    st->p.file_size = PCAP_FORMAT_FILE_HDR;
    st->p.file_packets = 0;
    st->p.file_first_us = ts_us;
    st->p.link_changed = false;
    return true;
}

/* The ring (or the reference budget) is full: wake the writer and sleep, 50 us at first and
 * twice as long each time up to 1 ms (naps counts the waits of this one stall). A full ring is
 * 64 MiB by default, tens of milliseconds of writing, so a millisecond late is no loss; at a
 * fixed 50 us an offline run stalled on the disk woke ~20,000 times a second for nothing. */
static void wait_for_writer(struct pcap_store *st, unsigned *naps)
{
    unsigned k = *naps < 5 ? (*naps)++ : 5;
    struct timespec ts = { 0, k == 5 ? 1000000L : 50000L << k };
    pthread_cond_signal(&st->wake);
    nanosleep(&ts, NULL);
}

/* room for len more ring bytes: 1; -1 when lending and the consumer holds the oldest bytes
 * (it is at least as far behind as the writer: wait for it, never drop for it); 0 when the
 * writer is behind and the store may not wait */
static int ring_room_slow(struct pcap_store *st, uint64_t len)
{
    unsigned naps = 0;
    for (;;) {
        st->p.tail_cache = atomic_load_explicit(&st->tail, memory_order_acquire);
        if (st->p.lend)
            st->p.released_cache = atomic_load_explicit(&st->released, memory_order_acquire);
        if (ring_free(st) >= len)
            return 1;
        if (st->p.lend && st->p.released_cache <= st->p.tail_cache)
            return -1;
        if (!st->cfg.wait_when_full)
            return 0;
        relaxed_add(&st->n_waits, 1);
        wait_for_writer(st, &naps);
    }
}

static inline int ring_room(struct pcap_store *st, uint64_t len)
{
    if (ASH_LIKELY(ring_free(st) >= len))
        return 1;
    return ring_room_slow(st, len);
}

/* Room for a reference of len bytes: a marker slot and the byte budget. Offline input waits
 * for the writer; otherwise the packet is copied instead. */
static bool ref_room_slow(struct pcap_store *st, uint64_t len)
{
    unsigned naps = 0;
    for (;;) {
        st->p.ref_out_cache = atomic_load_explicit(&st->ref_out, memory_order_acquire);
        if (st->p.ref_in - st->p.ref_out_cache + len <= st->cap && marker_room(st, STORE_ROTATIONS))
            return true;
        if (!st->cfg.wait_when_full)
            return false;
        relaxed_add(&st->n_waits, 1);
        wait_for_writer(st, &naps);
    }
}

static inline bool ref_room(struct pcap_store *st, uint64_t len)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    if (ASH_LIKELY(st->p.ref_in - st->p.ref_out_cache + len <= st->cap &&
                   h - st->p.mk_tail_cache < st->mk_mask + 1 - STORE_ROTATIONS))
        return true;
    return ref_room_slow(st, len);
}

static inline void push_ref(struct pcap_store *st, const uint8_t *p, uint32_t len)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    struct marker *m = &st->mk[h & st->mk_mask];
    m->pos = st->p.head;
    m->kind = STORE_MARK_REF;
    m->len = len;
    m->u.ref = p;
    atomic_store_explicit(&st->mk_head, h + 1, memory_order_release);
    st->p.ref_in += len;
}

/* Queue the record (hdr, then data) by reference if its bytes lie in the mapped input: true,
 * or false when it must be copied. same: the input's header before data is hdr (1), is not
 * (0), or is to be compared (-1: a read of the input on this thread). */
static inline bool queue_ref(struct pcap_store *st, const uint8_t hdr[PCAP_FORMAT_REC_HDR],
                             const uint8_t *data, uint32_t caplen, int same)
{
    uintptr_t d = (uintptr_t)data;
    if (d < st->p.src_lo + PCAP_FORMAT_REC_HDR || d > st->p.src_hi || caplen > st->p.src_hi - d)
        return false;
    if (same < 0)
        same = memcmp(data - PCAP_FORMAT_REC_HDR, hdr, PCAP_FORMAT_REC_HDR) == 0;
    if (same) {
        /* the input's own record: header and data go to disk as they are */
        if (!ref_room(st, PCAP_FORMAT_REC_HDR + (uint64_t)caplen))
            return false;
        push_ref(st, data - PCAP_FORMAT_REC_HDR, PCAP_FORMAT_REC_HDR + caplen);
        return true;
    }
    if (!ref_room(st, caplen) || ring_room(st, PCAP_FORMAT_REC_HDR) <= 0)
        return false;
    ring_put(st, st->p.head, hdr, PCAP_FORMAT_REC_HDR);
    st->p.head += PCAP_FORMAT_REC_HDR;
    push_ref(st, data, caplen);
    return true;
}

/* file_record: 1 the input's header before data is canonical for (ts_us, caplen, wirelen), 0
 * it is not, -1 unknown (pcap_store_append_packet). lent: NULL, or where the record's data
 * lies in the ring when it was copied there whole and uncut (pcap_store_append_lent). */
static inline int append(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                         uint32_t wirelen, int file_record, uint64_t *file_id, uint64_t *offset,
                         const uint8_t **lent)
{
    if (caplen > st->p.snaplen) {
        caplen = st->p.snaplen;
        file_record = 0;                          /* the store's header differs: caplen cut */
        lent = NULL;
    }
    if (wirelen < caplen) {
        wirelen = caplen;
        file_record = 0;
    }
    uint64_t rec = PCAP_FORMAT_REC_HDR + (uint64_t)caplen;
    if (ASH_UNLIKELY(caplen == 0 || wirelen > PCAP_FORMAT_MAX_WIRE || rec > st->cap / 4)) {
        relaxed_add(&st->n_rejected, 1);
        return PCAP_STORE_ERR_PACKET;
    }
    bool rotate = !st->p.file_id || st->p.link_changed;
    if (st->p.file_packets) {
        rotate |= st->p.file_size + rec > (uint64_t)st->cfg.max_file_size;
        rotate |= st->cfg.max_file_age && ts_us - st->p.file_first_us >= st->cfg.max_file_age * 1000000LL;
        rotate |= atomic_load_explicit(&st->rotate_req, memory_order_relaxed);
    }
    if (ASH_UNLIKELY(rotate)) {
        if (push_rotation(st, ts_us))
            atomic_store_explicit(&st->rotate_req, false, memory_order_relaxed);
        else if (!st->p.file_id)
            goto drop;                            /* no file at all yet: cannot place it */
    }
    uint8_t hdr[PCAP_FORMAT_REC_HDR];
    pcap_format_rec_header(hdr, ts_us, caplen, wirelen);
    if (st->p.src && queue_ref(st, hdr, data, caplen, file_record)) {
        relaxed_add(&st->n_refs, 1);
    } else {
        int room = ring_room(st, rec);
        if (room <= 0) {
            if (room < 0)
                return PCAP_STORE_ERR_BUSY;       /* nothing done: the caller tries again */
            goto drop;
        }
        ring_put(st, st->p.head, hdr, sizeof hdr);
        ring_put(st, st->p.head + sizeof hdr, data, caplen);
        if (lent) {
            size_t i = (size_t)((st->p.head + sizeof hdr) & st->mask);
            *lent = i + caplen <= st->cap ? st->ring + i : NULL;
        }
        st->p.head += rec;
    }
    *file_id = st->p.file_id;
    *offset = st->p.file_size;
    struct pcap_format_seg done;
    st->p.seg_packets++;
    if (pcap_format_segb_add(&st->p.segb, st->p.file_size, rec, ts_us < 0 ? 0 : ts_us, &done))
        push_segment(st, &done);
    st->p.file_size += rec;
    st->p.file_packets++;
    if (ts_us > st->p.newest_us) {
        st->p.newest_us = ts_us;
        atomic_store_explicit(&st->newest_us, ts_us, memory_order_relaxed);
    }
    atomic_store_explicit(&st->head, st->p.head, memory_order_release);
    relaxed_add(&st->n_packets, 1);
    relaxed_add(&st->n_bytes, rec);
    uint64_t queued = st->p.head - st->p.tail_cache + (st->p.ref_in - st->p.ref_out_cache);
    if (queued > atomic_load_explicit(&st->high_water, memory_order_relaxed))
        atomic_store_explicit(&st->high_water, queued, memory_order_relaxed);
    return 0;
drop:
    relaxed_add(&st->n_dropped, 1);
    return PCAP_STORE_ERR_FULL;
}

int pcap_store_append(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                      uint32_t wirelen, uint64_t *file_id, uint64_t *offset)
{
    return append(st, ts_us, data, caplen, wirelen, -1, file_id, offset, NULL);
}

int pcap_store_append_packet(struct pcap_store *st, int64_t ts_us, const uint8_t *data,
                             uint32_t caplen, uint32_t wirelen, bool file_record,
                             uint64_t *file_id, uint64_t *offset)
{
    return append(st, ts_us, data, caplen, wirelen, file_record, file_id, offset, NULL);
}

void pcap_store_lend(struct pcap_store *st)
{
    st->p.lend = true;
    st->p.released_cache = st->p.head;
    atomic_store_explicit(&st->released, st->p.head, memory_order_release);
}

int pcap_store_append_lent(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                           uint32_t wirelen, uint64_t *file_id, uint64_t *offset,
                           const uint8_t **lent, uint64_t *lent_end)
{
    *lent = NULL;
    *lent_end = 0;
    int rc = append(st, ts_us, data, caplen, wirelen, 0, file_id, offset, lent);
    if (rc == 0)
        *lent_end = st->p.head;                   /* release up to here frees this record */
    return rc;
}

void pcap_store_release(struct pcap_store *st, uint64_t pos)
{
    atomic_store_explicit(&st->released, pos, memory_order_release);
}

void pcap_store_set_link(struct pcap_store *st, int dlt, int snaplen)
{
    if (snaplen <= 0 || snaplen > (int)PCAP_FORMAT_MAX_SNAP)
        snaplen = (int)PCAP_FORMAT_MAX_SNAP;
    if ((uint32_t)dlt == st->p.linktype && (uint32_t)snaplen == st->p.snaplen)
        return;
    st->p.linktype = (uint32_t)dlt;
    st->p.snaplen = (uint32_t)snaplen;
    st->p.link_changed = true;
}

void pcap_store_set_source(struct pcap_store *st, void *src, const struct pcap_store_lender *ops)
{
    if (src == st->p.src)
        return;
    if (st->p.src) {
        /* the writer lets go of the old mapping once it is past its last reference */
        unsigned naps = 0;
        while (!marker_room(st, 0))
            wait_for_writer(st, &naps);
        struct marker *m = next_marker(st);
        m->pos = st->p.head;
        m->kind = STORE_MARK_RELEASE;
        m->len = 0;
        m->u.lend.src = st->p.src;
        m->u.lend.ops = st->p.src_ops;
        push_marker(st);
        pthread_cond_signal(&st->wake);
    }
    st->p.src = src;
    st->p.src_ops = src ? ops : NULL;
    st->p.src_lo = st->p.src_hi = 0;
    if (src) {
        uint64_t size;
        ops->hold(src);
        /* the writer trails the walk by up to the ring's size: keep that much mapped (at 16 MiB
         * it faulted pages back in, writer CPU +30%) */
        ops->keep_behind(src, st->cap);
        st->p.src_lo = (uintptr_t)ops->bytes(src, &size);
        st->p.src_hi = st->p.src_lo + (uintptr_t)size;
    }
}
