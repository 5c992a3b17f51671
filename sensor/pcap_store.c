/* pcap_store.c -- the sensor's pcap store (see pcap_store.h).
 * Owns:  the byte ring (single producer: the capture thread; single consumer: the writer)
 *        and the two small queues beside it (rotation markers, finished sidecar segments),
 *        the writer thread and the file it writes, the closer thread that fsyncs finished
 *        files. The repair pass at open is pcap_repair.c's.
 * Never: mallocs, locks, logs or calls the kernel on the append path.
 *
 * The ring holds pcap records exactly as they go to disk, so the writer hands contiguous
 * spans of it to write(2) without a copy and never reads a record itself. Positions are
 * counters that only grow (the ring index is pos & mask). A rotation is a marker {ring
 * position, file id, first packet time} pushed before the first record of the new file; the
 * writer switches files when its read position reaches the marker. The capture thread
 * decides rotations (it knows each file's size and age in packet time), so it can hand out
 * (file id, offset) at once, and it cuts the sidecar segments (it has each header at hand). */
#include "pcap_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pcap_format.h"
#include "pcap_repair.h"

#define STORE_MARKERS 64                      /* rotations in flight; a power of two */
#define STORE_CLOSING 8                       /* finished files waiting for their fsync */
#define STORE_WRITE_MIN (1u << 20)            /* the writer waits for this much, or flush_ms */
#define STORE_POLL_MS 2

struct marker {
    uint64_t pos, id;
    int64_t first_us;
    uint32_t linktype, snaplen;
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
    struct marker mk[STORE_MARKERS];
    struct segment *sq;                       /* segments queue, sq_mask + 1 entries */
    uint32_t sq_mask;

    /* shared positions, each on its own cache line */
    _Alignas(64) _Atomic uint64_t head;       /* written by the producer */
    _Atomic uint32_t mk_head, sq_head;
    _Alignas(64) _Atomic uint64_t tail;       /* written by the writer */
    _Atomic uint32_t mk_tail, sq_tail;
    _Atomic bool rotate_req;                  /* writer asks for a new file (after an error) */
    _Atomic uint64_t current_id;

    /* producer (capture thread) only, plus its counters read by stats (relaxed) */
    _Alignas(64) struct {
        uint64_t head, tail_cache;
        uint64_t file_id, file_size, file_packets, next_id;
        int64_t file_first_us;
        uint32_t linktype, snaplen;
        bool link_changed;
        struct pcap_format_segb segb;
        uint64_t seg_packets;
        int64_t newest_us;
    } p;
    _Atomic uint64_t n_packets, n_bytes, n_dropped, n_rejected, n_waits, high_water, n_seg_lost;
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
    struct pcap_catalog_file cur;
    uint8_t *segbuf;
    size_t seglen, segcap;
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

void pcap_store_config_defaults(struct pcap_store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_file_size = 1LL << 30;
    cfg->max_file_age = 3600;
    cfg->ring_size = 64LL << 20;
    cfg->flush_ms = 100;
    cfg->retention_interval = 10;
}

/* the absolute CLOCK_REALTIME time pthread_cond_timedwait wants, ms from now */
static struct timespec deadline(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += ms % 1000 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void relaxed_add(_Atomic uint64_t *c, uint64_t v)
{
    /* single writer: a plain load and store, no locked read-modify-write on the hot path */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

/* ---- ring ---------------------------------------------------------------------------- */

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

/* ---- producer -------------------------------------------------------------------------- */

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

static void finish_segment(struct pcap_store *st)
{
    struct pcap_format_seg done;
    if (st->p.file_id && pcap_format_segb_finish(&st->p.segb, &done))
        push_segment(st, &done);
}

static bool push_rotation(struct pcap_store *st, int64_t ts_us)
{
    uint32_t h = atomic_load_explicit(&st->mk_head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&st->mk_tail, memory_order_acquire);
    if (h - t >= STORE_MARKERS)
        return false;
    finish_segment(st);                       /* the old file's last segment goes first */
    struct marker *m = &st->mk[h & (STORE_MARKERS - 1)];
    m->pos = st->p.head;
    m->id = st->p.next_id;
    m->first_us = ts_us;
    m->linktype = st->p.linktype;
    m->snaplen = st->p.snaplen;
    atomic_store_explicit(&st->mk_head, h + 1, memory_order_release);
    st->p.file_id = st->p.next_id++;
    st->p.file_size = PCAP_FORMAT_FILE_HDR;
    st->p.file_packets = 0;
    st->p.file_first_us = ts_us;
    st->p.link_changed = false;
    return true;
}

static void wait_for_writer(struct pcap_store *st)
{
    struct timespec ts = { 0, 50000 };
    pthread_cond_signal(&st->wake);
    nanosleep(&ts, NULL);
}

int pcap_store_append(struct pcap_store *st, int64_t ts_us, const uint8_t *data, uint32_t caplen,
                      uint32_t wirelen, uint64_t *file_id, uint64_t *offset)
{
    if (caplen > st->p.snaplen)
        caplen = st->p.snaplen;
    if (wirelen < caplen)
        wirelen = caplen;
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
    if (st->cap - (st->p.head - st->p.tail_cache) < rec) {
        st->p.tail_cache = atomic_load_explicit(&st->tail, memory_order_acquire);
        while (st->cap - (st->p.head - st->p.tail_cache) < rec) {
            if (!st->cfg.wait_when_full)
                goto drop;
            relaxed_add(&st->n_waits, 1);
            wait_for_writer(st);
            st->p.tail_cache = atomic_load_explicit(&st->tail, memory_order_acquire);
        }
    }
    uint8_t hdr[PCAP_FORMAT_REC_HDR];
    pcap_format_rec_header(hdr, ts_us, caplen, wirelen);
    ring_put(st, st->p.head, hdr, sizeof hdr);
    ring_put(st, st->p.head + sizeof hdr, data, caplen);
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
    st->p.head += rec;
    atomic_store_explicit(&st->head, st->p.head, memory_order_release);
    relaxed_add(&st->n_packets, 1);
    relaxed_add(&st->n_bytes, rec);
    uint64_t queued = st->p.head - st->p.tail_cache;
    if (queued > atomic_load_explicit(&st->high_water, memory_order_relaxed))
        atomic_store_explicit(&st->high_water, queued, memory_order_relaxed);
    return 0;
drop:
    relaxed_add(&st->n_dropped, 1);
    return PCAP_STORE_ERR_FULL;
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

/* ---- writer ------------------------------------------------------------------------------ */

static void take_segments(struct pcap_store *st, bool all);

static void file_name(const struct pcap_store *st, uint64_t id, int64_t first_us, char *out, size_t cap)
{
    time_t sec = (time_t)(first_us > 0 ? first_us / 1000000 : 0);
    struct tm tm;
    char stamp[32];
    gmtime_r(&sec, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s-%s-%06" PRIu64 ".pcap", st->sensor, stamp, id);
}

static void count(struct pcap_store *st, uint64_t *field, uint64_t v)
{
    pthread_mutex_lock(&st->mu);
    *field += v;
    pthread_mutex_unlock(&st->mu);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void flush_segments(struct pcap_store *st)
{
    if (st->idx_fd >= 0 && st->seglen && pcap_format_write_all(st->idx_fd, st->segbuf, st->seglen) < 0) {
        log_error("pcap_store", "sidecar write failed file=%s.idx: %s (lookups in it walk from "
                  "the file start)", st->cur.name, strerror(errno));
        count(st, &st->w.write_errors, 1);
        close(st->idx_fd);
        st->idx_fd = -1;
    }
    st->seglen = 0;
}

static void add_segment(struct pcap_store *st, const struct pcap_format_seg *s)
{
    if (st->seglen + PCAP_FORMAT_SEG_LEN > st->segcap)
        flush_segments(st);
    pcap_format_seg_put(st->segbuf + st->seglen, s);
    st->seglen += PCAP_FORMAT_SEG_LEN;
}

/* the current file failed at st->cur.size: keep what is whole, skip the rest of its bytes */
static void fail_file(struct pcap_store *st, const char *what, int e)
{
    char err[ASH_ERR_LEN];
    log_error("pcap_store", "%s failed file=%s id=%" PRIu64 ": %s; its remaining packets are "
              "lost and a new file is started", what, st->cur.name, st->cur.id, strerror(e));
    count(st, &st->w.write_errors, 1);
    if (st->fd >= 0 && ftruncate(st->fd, (off_t)st->cur.size) < 0)
        log_warn("pcap_store", "truncate file=%s: %s", st->cur.name, strerror(errno));
    st->discard = true;
    st->cur.cut = true;
    st->cur.state = st->fd >= 0 ? PCAP_CATALOG_CLOSED : PCAP_CATALOG_EXPIRED;
    st->cur.changed_us = clock_wall_us();
    if (pcap_catalog_put(st->cat, &st->cur, err) < 0)
        log_error("pcap_store", "%s", err);
    if (st->fd >= 0)
        close(st->fd);
    if (st->idx_fd >= 0)
        close(st->idx_fd);
    st->fd = st->idx_fd = -1;
    int64_t now = clock_wall_us();
    if (now - st->last_fail_us >= 1000000) {     /* at most one new attempt a second */
        st->last_fail_us = now;
        atomic_store_explicit(&st->rotate_req, true, memory_order_relaxed);
    }
}

/* fsync a finished file and its sidecar, close them, mark the file closed (closer thread) */
static void close_one(struct pcap_store *st, struct closing *c)
{
    char err[ASH_ERR_LEN];
    if (fsync(c->fd) < 0) {
        log_error("pcap_store", "fsync failed file=%s id=%" PRIu64 ": %s", c->f.name, c->f.id,
                  strerror(errno));
        count(st, &st->w.write_errors, 1);
    }
    if (c->idx_fd >= 0 && fsync(c->idx_fd) < 0)
        log_warn("pcap_store", "fsync sidecar file=%s.idx: %s", c->f.name, strerror(errno));
    fsync_dir(st->dir);
    close(c->fd);
    if (c->idx_fd >= 0)
        close(c->idx_fd);
    c->f.state = PCAP_CATALOG_CLOSED;
    c->f.changed_us = clock_wall_us();
    if (pcap_catalog_put(st->cat, &c->f, err) < 0)
        log_error("pcap_store", "%s", err);
    pthread_mutex_lock(&st->mu);
    st->w.fsyncs++;
    st->w.files_closed++;
    pthread_mutex_unlock(&st->mu);
    log_info("pcap_store", "closed file=%s id=%" PRIu64 " packets=%" PRIu64 " bytes=%" PRIu64,
             c->f.name, c->f.id, c->f.packets, c->f.size);
    pthread_mutex_lock(&st->mu);
    bool stopping = st->stop;
    pthread_mutex_unlock(&st->mu);
    if (!stopping)                            /* at shutdown the next open's run does it */
        pcap_store_retention_now(st);         /* a closed file is the first that may go */
}

static void *closer_main(void *arg)
{
    struct pcap_store *st = arg;
    pthread_mutex_lock(&st->cmu);
    for (;;) {
        while (st->cq_head == st->cq_tail && !st->cstop)
            pthread_cond_wait(&st->cwake, &st->cmu);
        if (st->cq_head == st->cq_tail)
            break;
        struct closing c = st->cq[st->cq_tail % STORE_CLOSING];
        pthread_mutex_unlock(&st->cmu);
        close_one(st, &c);
        pthread_mutex_lock(&st->cmu);
        st->cq_tail++;
        pthread_cond_broadcast(&st->cdone);
    }
    pthread_mutex_unlock(&st->cmu);
    return NULL;
}

/* the current file is complete: hand it to the closer (which waits for the disk, not us) */
static void finish_file(struct pcap_store *st)
{
    if (st->fd < 0) {
        st->discard = false;
        return;
    }
    take_segments(st, true);
    flush_segments(st);
    pcap_catalog_update(st->cat, &st->cur);
    struct closing c = { st->fd, st->idx_fd, st->cur };
    st->fd = st->idx_fd = -1;
    if (!st->closer_started) {
        close_one(st, &c);
        return;
    }
    pthread_mutex_lock(&st->cmu);
    while (st->cq_head - st->cq_tail >= STORE_CLOSING)     /* the disk is that far behind */
        pthread_cond_wait(&st->cdone, &st->cmu);
    st->cq[st->cq_head++ % STORE_CLOSING] = c;
    pthread_cond_signal(&st->cwake);
    pthread_mutex_unlock(&st->cmu);
}

static void open_file(struct pcap_store *st, const struct marker *m)
{
    char path[1300], err[ASH_ERR_LEN];
    uint8_t hdr[PCAP_FORMAT_FILE_HDR];
    memset(&st->cur, 0, sizeof st->cur);
    st->cur.id = m->id;
    st->cur.state = PCAP_CATALOG_OPEN;
    file_name(st, m->id, m->first_us, st->cur.name, sizeof st->cur.name);
    st->cur.size = PCAP_FORMAT_FILE_HDR;
    st->cur.linktype = m->linktype;
    st->cur.snaplen = m->snaplen;
    st->cur.first_us = st->cur.last_us = m->first_us;  /* the counters follow per segment */
    st->cur.changed_us = clock_wall_us();
    st->discard = false;
    atomic_store_explicit(&st->current_id, m->id, memory_order_relaxed);
    /* the catalogue learns of the file before it exists: a crash in between leaves an
     * entry that the repair at open finds missing, never a file nobody knows of */
    if (pcap_catalog_put(st->cat, &st->cur, err) < 0) {
        log_error("pcap_store", "%s", err);
        fail_file(st, "catalogue", errno);
        return;
    }
    pcap_catalog_path(st->cat, st->cur.name, NULL, path, sizeof path);
    st->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (st->fd < 0) {
        fail_file(st, "create", errno);
        return;
    }
    pcap_format_file_header(hdr, m->linktype, m->snaplen);
    if (pcap_format_write_all(st->fd, hdr, sizeof hdr) < 0) {
        st->cur.size = 0;
        fail_file(st, "write", errno);
        return;
    }
    pcap_catalog_path(st->cat, st->cur.name, ".idx", path, sizeof path);
    st->idx_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (st->idx_fd < 0)
        log_warn("pcap_store", "sidecar %s: %s (lookups walk from the file start)", path, strerror(errno));
    count(st, &st->w.files_opened, 1);
    log_info("pcap_store", "opened file=%s id=%" PRIu64 " linktype=%u snaplen=%u", st->cur.name,
             st->cur.id, st->cur.linktype, st->cur.snaplen);
}

/* write ring bytes [from, to), which may wrap around the ring's end */
static int write_ring(struct pcap_store *st, uint64_t from, uint64_t to)
{
    size_t i = (size_t)(from & st->mask), n = (size_t)(to - from);
    size_t first = n < st->cap - i ? n : (size_t)(st->cap - i);
    if (pcap_format_write_all(st->fd, st->ring + i, first) < 0)
        return -1;
    return n > first ? pcap_format_write_all(st->fd, st->ring, n - first) : 0;
}

/* Take the producer's finished segments of the current file whose bytes are on disk (all of
 * them when the file is complete) into the sidecar and the file's counters; drop any of an
 * older file. The writer never reads the ring's record headers itself: each would be a cache
 * miss per packet (bench/RESULTS.md, pcap_store_overhead). */
static void take_segments(struct pcap_store *st, bool all)
{
    uint32_t t = atomic_load_explicit(&st->sq_tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&st->sq_head, memory_order_acquire);
    for (; t != h; t++) {
        const struct segment *e = &st->sq[t & st->sq_mask];
        if (e->file_id == st->cur.id) {
            if (!all && e->seg.end > st->cur.size)
                break;
            add_segment(st, &e->seg);
            if (!st->cur.packets || e->seg.min_us < st->cur.first_us)
                st->cur.first_us = e->seg.min_us;
            if (!st->cur.packets || e->seg.max_us > st->cur.last_us)
                st->cur.last_us = e->seg.max_us;
            st->cur.packets += e->packets;
        } else if (e->file_id > st->cur.id) {
            break;                            /* the next file's: after its marker */
        }
    }
    atomic_store_explicit(&st->sq_tail, t, memory_order_release);
}

/* write ring bytes [a, b) (whole records of the current file) to it */
static void write_span(struct pcap_store *st, uint64_t a, uint64_t b)
{
    if (st->discard || st->fd < 0)
        return;
    if (write_ring(st, a, b) < 0) {
        fail_file(st, "write", errno);
        return;
    }
    st->cur.size += b - a;
    take_segments(st, false);
    flush_segments(st);
    pcap_catalog_update(st->cat, &st->cur);
    count(st, &st->w.bytes_written, b - a);
}

/* move everything up to ring position upto from the ring into files */
static void drain(struct pcap_store *st, uint64_t upto)
{
    uint64_t tail = atomic_load_explicit(&st->tail, memory_order_relaxed);
    for (;;) {
        uint32_t mt = atomic_load_explicit(&st->mk_tail, memory_order_relaxed);
        uint32_t mh = atomic_load_explicit(&st->mk_head, memory_order_acquire);
        const struct marker *m = mt != mh ? &st->mk[mt & (STORE_MARKERS - 1)] : NULL;
        if (m && m->pos == tail) {
            finish_file(st);
            open_file(st, m);
            atomic_store_explicit(&st->mk_tail, mt + 1, memory_order_release);
            continue;
        }
        if (tail >= upto)
            break;
        uint64_t limit = m && m->pos < upto ? m->pos : upto;
        write_span(st, tail, limit);
        tail = limit;
        atomic_store_explicit(&st->tail, tail, memory_order_release);
    }
}

static void *writer_main(void *arg)
{
    struct pcap_store *st = arg;
    int64_t last_drain = clock_mono_ms(), last_retention = last_drain;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        uint64_t head = atomic_load_explicit(&st->head, memory_order_acquire);
        uint64_t pending = head - atomic_load_explicit(&st->tail, memory_order_relaxed);
        bool markers = atomic_load_explicit(&st->mk_head, memory_order_acquire) !=
                       atomic_load_explicit(&st->mk_tail, memory_order_relaxed);
        int64_t now = clock_mono_ms();
        if (pending >= STORE_WRITE_MIN || pending >= st->cap / 4 ||
            ((pending || markers) && (now - last_drain >= st->cfg.flush_ms || st->flush_req || st->stop))) {
            st->flush_req = false;
            pthread_mutex_unlock(&st->mu);
            drain(st, head);
            pthread_mutex_lock(&st->mu);
            last_drain = now;
            st->drain_gen++;
            pthread_cond_broadcast(&st->drained);
            continue;
        }
        if (st->flush_req) {                      /* nothing to write: answer the waiter */
            st->flush_req = false;
            st->drain_gen++;
            pthread_cond_broadcast(&st->drained);
        }
        if (st->stop)
            break;
        if (now - last_retention >= st->cfg.retention_interval * 1000) {
            last_retention = now;
            pthread_mutex_unlock(&st->mu);
            pcap_store_retention_now(st);
            pthread_mutex_lock(&st->mu);
            continue;
        }
        struct timespec ts = deadline(STORE_POLL_MS);
        pthread_cond_timedwait(&st->wake, &st->mu, &ts);
    }
    pthread_mutex_unlock(&st->mu);
    finish_file(st);
    atomic_store_explicit(&st->current_id, 0, memory_order_relaxed);
    return NULL;
}

/* ---- open / close / misc ------------------------------------------------------------- */

struct pcap_store *pcap_store_open(const struct pcap_store_config *cfg, const char *sensor_name,
                                   int dlt, int snaplen, char err[ASH_ERR_LEN])
{
    if (!cfg->dir || !cfg->dir[0] || strlen(cfg->dir) >= sizeof ((struct pcap_store *)0)->dir) {
        snprintf(err, ASH_ERR_LEN, "pcap_dir: expected a directory of 1..1023 bytes");
        return NULL;
    }
    if (cfg->max_file_size < (64 << 10) || cfg->max_file_size > (1LL << 40) ||
        cfg->ring_size < (1 << 20) || cfg->ring_size > (1LL << 36) || cfg->max_file_age < 0 ||
        cfg->flush_ms < 1 || cfg->flush_ms > 60000 || cfg->retention_interval < 1) {
        snprintf(err, ASH_ERR_LEN, "pcap store: expected pcap_max_file_size 64K..1T, ring 1M..64G, "
                 "max_file_age >= 0, flush_ms 1..60000, got %lld, %lld, %lld, %lld",
                 cfg->max_file_size, cfg->ring_size, cfg->max_file_age, cfg->flush_ms);
        return NULL;
    }
    struct pcap_store *st = aligned_alloc(64, (sizeof *st + 63) / 64 * 64);
    if (!st) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: out of memory");
        return NULL;
    }
    memset(st, 0, sizeof *st);
    st->cfg = *cfg;
    snprintf(st->dir, sizeof st->dir, "%s", cfg->dir);
    st->cfg.dir = st->dir;
    st->fd = st->idx_fd = -1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->ret_mu, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_cond_init(&st->drained, NULL);
    pthread_mutex_init(&st->cmu, NULL);
    pthread_cond_init(&st->cwake, NULL);
    pthread_cond_init(&st->cdone, NULL);
    size_t k = 0;
    for (const char *s = sensor_name && *sensor_name ? sensor_name : "sensor"; *s && k < sizeof st->sensor - 1; s++)
        st->sensor[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                 (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' ? *s : '_');
    for (st->cap = 1 << 20; st->cap < (uint64_t)cfg->ring_size; st->cap <<= 1)
        ;
    st->mask = st->cap - 1;
    st->segcap = (size_t)(st->cap / PCAP_FORMAT_SEGMENT + 4) * PCAP_FORMAT_SEG_LEN;
    /* at most one segment per SEGMENT bytes of queued ring, plus one per queued rotation */
    for (st->sq_mask = 1; st->sq_mask < st->cap / PCAP_FORMAT_SEGMENT + 2 * STORE_MARKERS + 4; st->sq_mask <<= 1)
        ;
    st->sq_mask--;
    /* the ring is mapped and touched now, so that the capture path never page-faults */
    st->ring = mmap(NULL, st->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (st->ring == MAP_FAILED)
        st->ring = NULL;
    else
        madvise(st->ring, st->cap, MADV_HUGEPAGE);
    if (!st->ring || !(st->segbuf = malloc(st->segcap)) ||
        !(st->sq = ash_calloc_array((size_t)st->sq_mask + 1, sizeof *st->sq))) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: cannot allocate a ring of %" PRIu64 " bytes", st->cap);
        goto fail;
    }
    if (!(st->cat = pcap_catalog_open(cfg->dir, err)))
        goto fail;
    struct pcap_repair_stats rs;
    if (pcap_repair_all(st->cat, &rs, err) < 0)
        goto fail;
    st->w.repaired_files = rs.files;
    st->w.repaired_bytes_dropped = rs.bytes_dropped;
    if (!(st->ret = pcap_retention_new(&cfg->retention, st->cat, err)))
        goto fail;
    st->p.next_id = pcap_catalog_max_id(st->cat) + 1;
    st->p.linktype = (uint32_t)dlt;
    st->p.snaplen = snaplen > 0 && snaplen <= (int)PCAP_FORMAT_MAX_SNAP ? (uint32_t)snaplen : PCAP_FORMAT_MAX_SNAP;
    int e = pthread_create(&st->closer, NULL, closer_main, st);
    if (e) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: closer thread: %s", strerror(e));
        goto fail;
    }
    st->closer_started = true;
    e = pthread_create(&st->thread, NULL, writer_main, st);
    if (e) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: writer thread: %s", strerror(e));
        goto fail;
    }
    st->thread_started = true;
    log_info("pcap_store", "open dir=%s next_id=%" PRIu64 " max_file_size=%lld max_file_age=%lld "
             "ring=%" PRIu64 " repaired=%" PRIu64, st->dir, st->p.next_id, cfg->max_file_size,
             cfg->max_file_age, st->cap, st->w.repaired_files);
    pcap_store_retention_now(st);
    return st;
fail:
    pcap_store_close(st);
    return NULL;
}

void pcap_store_close(struct pcap_store *st)
{
    if (!st)
        return;
    if (st->thread_started) {
        finish_segment(st);                   /* the caller is (or has replaced) the producer */
        pthread_mutex_lock(&st->mu);
        st->stop = true;
        pthread_cond_signal(&st->wake);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
    }
    if (st->closer_started) {
        pthread_mutex_lock(&st->cmu);
        st->cstop = true;
        pthread_cond_signal(&st->cwake);
        pthread_mutex_unlock(&st->cmu);
        pthread_join(st->closer, NULL);
    }
    pcap_retention_free(st->ret);
    pcap_catalog_close(st->cat);
    pthread_cond_destroy(&st->wake);
    pthread_cond_destroy(&st->drained);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->ret_mu);
    pthread_mutex_destroy(&st->cmu);
    pthread_cond_destroy(&st->cwake);
    pthread_cond_destroy(&st->cdone);
    if (st->ring)
        munmap(st->ring, st->cap);
    free(st->segbuf);
    free(st->sq);
    free(st);
}

int pcap_store_sync(struct pcap_store *st, int timeout_ms)
{
    uint64_t target = atomic_load_explicit(&st->head, memory_order_acquire);
    struct timespec dl = deadline(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->drain_gen;
    st->flush_req = true;
    pthread_cond_signal(&st->wake);
    while (rc == 0 && (st->drain_gen == gen ||
                       atomic_load_explicit(&st->tail, memory_order_acquire) < target)) {
        if (pthread_cond_timedwait(&st->drained, &st->mu, &dl) == ETIMEDOUT)
            rc = -1;
        else if (st->drain_gen != gen && atomic_load_explicit(&st->tail, memory_order_acquire) < target) {
            st->flush_req = true;                     /* a drain that began before us */
            gen = st->drain_gen;
            pthread_cond_signal(&st->wake);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int pcap_store_wait_closed(struct pcap_store *st, int timeout_ms)
{
    if (pcap_store_sync(st, timeout_ms) < 0)
        return -1;
    struct timespec dl = deadline(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&st->cmu);
    unsigned want = st->cq_head;              /* every file finished by now */
    while (rc == 0 && (int)(want - st->cq_tail) > 0)
        if (pthread_cond_timedwait(&st->cdone, &st->cmu, &dl) == ETIMEDOUT)
            rc = -1;
    pthread_mutex_unlock(&st->cmu);
    return rc;
}

int pcap_store_retention_now(struct pcap_store *st)
{
    pthread_mutex_lock(&st->ret_mu);
    int64_t now;
    if (st->cfg.packet_clock)
        now = atomic_load_explicit(&st->newest_us, memory_order_relaxed);
    else
        now = clock_wall_us();
    int n = now ? pcap_retention_run(st->ret, now, atomic_load(&st->current_id)) : 0;
    pthread_mutex_unlock(&st->ret_mu);
    return n;
}

struct pcap_catalog *pcap_store_catalog(struct pcap_store *st)
{
    return st->cat;
}

void pcap_store_stats(struct pcap_store *st, struct pcap_store_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->w;
    pthread_mutex_unlock(&st->mu);
    out->packets = atomic_load_explicit(&st->n_packets, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&st->n_bytes, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&st->n_dropped, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&st->n_rejected, memory_order_relaxed);
    out->waits = atomic_load_explicit(&st->n_waits, memory_order_relaxed);
    out->ring_high_water = atomic_load_explicit(&st->high_water, memory_order_relaxed);
    out->current_file = atomic_load_explicit(&st->current_id, memory_order_relaxed);
    out->segments_lost = atomic_load_explicit(&st->n_seg_lost, memory_order_relaxed);
    pcap_retention_stats(st->ret, &out->retention);
}
