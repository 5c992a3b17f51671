/* pcap_store_writer.c -- the pcap store's writer and closer threads (see pcap_store.h and
 *                       pcap_store_internal.h).
 * Owns:  the file being written and its sidecar, the batch of spans (ring bytes and references
 *        into mapped inputs) handed to one writev (or, for a file opened O_DIRECT, to
 *        pcap_store_dio.c), the release of a mapping once the writer is past its last
 *        reference, and the closer thread that fsyncs finished files.
 * Never: reads a record header in the ring (each would be a cache miss per packet: the
 *        producer hands over the segments), runs on the capture thread. */
#include "pcap_store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define STORE_BATCH_MAX (8u << 20)            /* bytes per writev before tails are published */

static void take_segments(struct pcap_store *st, bool all);
static void retry_file(struct pcap_store *st);

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
    log_error("pcap_store", "%s failed file=%s id=%" PRIu64 ": %s; packets are lost (counted as "
              "dropped) until a new file opens", what, st->cur.name, st->cur.id, strerror(e));
    count(st, &st->w.write_errors, 1);
    if (st->fd >= 0 && ftruncate(st->fd, (off_t)st->cur.size) < 0)
        log_warn("pcap_store", "truncate file=%s: %s", st->cur.name, strerror(errno));
    if (st->dio.align && e == EINVAL) {      /* the file system refused what statx promised */
        log_error("pcap_store", "direct I/O refused dir=%s: writing buffered from now on", st->dir);
        st->dio_off = true;
    }
    st->dio.align = 0;
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
    if (e == ENOSPC || e == EDQUOT)
        pcap_store_retention_now(st);             /* make room before the next file */
    retry_file(st);
}

/* While the current file is failed, ask the producer for a new file, at most once a second
 * (each attempt on a full disk costs a catalogue line and a create). */
static void retry_file(struct pcap_store *st)
{
    int64_t now = clock_wall_us();
    if (now - st->last_fail_us >= 1000000 && !atomic_load_explicit(&st->rotate_req, memory_order_relaxed)) {
        st->last_fail_us = now;
        atomic_store_explicit(&st->rotate_req, true, memory_order_relaxed);
        log_warn("pcap_store", "starting a new file after a failed one (lost so far=%" PRIu64 ")",
                 st->w.lost_to_errors);
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
    pcap_catalog_fsync_dir(st->dir);
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

void *pcap_store_closer_main(void *arg)
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

/* the segments of a failed current file (and any older one's): their packets are not on
 * disk, count them as lost */
static void lose_segments(struct pcap_store *st)
{
    uint32_t t = atomic_load_explicit(&st->sq_tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&st->sq_head, memory_order_acquire);
    uint64_t lost = 0;
    for (; t != h && st->sq[t & st->sq_mask].file_id <= st->cur.id; t++)
        lost += st->sq[t & st->sq_mask].packets;
    atomic_store_explicit(&st->sq_tail, t, memory_order_release);
    if (lost)
        count(st, &st->w.lost_to_errors, lost);
}

/* the current file is complete: hand it to the closer (which waits for the disk, not us) */
static void finish_file(struct pcap_store *st)
{
    if (st->fd < 0) {
        lose_segments(st);
        st->discard = false;
        return;
    }
    take_segments(st, true);
    flush_segments(st);
    if (st->dio.align && store_dio_finish(&st->dio, st->fd) < 0) {
        /* the file keeps up to one block of zeros after its records: the repair at the next
         * open cuts them (its size differs from the catalogue's) */
        log_error("pcap_store", "truncate file=%s to %" PRIu64 " bytes: %s", st->cur.name,
                  st->cur.size, strerror(errno));
        count(st, &st->w.write_errors, 1);
    }
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

/* Switch the new file st->fd to O_DIRECT and write its header hdr that way: true, or false
 * when the file stays buffered (configured so, no direct I/O on this file system, or refused:
 * then the file is empty again and the caller writes the header). */
static bool start_direct(struct pcap_store *st, const uint8_t *hdr, size_t len)
{
    st->dio.align = 0;
    if (!st->cfg.direct_io || st->dio_off || !st->dio.stage)
        return false;
    size_t align = store_dio_probe(st->fd);
    int fl = fcntl(st->fd, F_GETFL);
    if (!align || fl < 0 || fcntl(st->fd, F_SETFL, fl | O_DIRECT) < 0)
        return false;
    if (store_dio_begin(&st->dio, st->fd, align, hdr, len) == 0)
        return true;
    log_error("pcap_store", "direct write file=%s: %s; writing buffered from now on", st->cur.name,
              strerror(errno));
    st->dio_off = true;
    st->dio.align = 0;
    if (fcntl(st->fd, F_SETFL, fl) < 0 || ftruncate(st->fd, 0) < 0)
        log_warn("pcap_store", "file=%s: %s", st->cur.name, strerror(errno));
    return false;
}

static void open_file(struct pcap_store *st, const struct marker *m)
{
    char path[1300], err[ASH_ERR_LEN];
    uint8_t hdr[PCAP_FORMAT_FILE_HDR];
    memset(&st->cur, 0, sizeof st->cur);
    st->cur.id = m->u.rot.id;
    st->cur.state = PCAP_CATALOG_OPEN;
    file_name(st, m->u.rot.id, m->u.rot.first_us, st->cur.name, sizeof st->cur.name);
    st->cur.size = PCAP_FORMAT_FILE_HDR;
    st->cur.linktype = m->u.rot.linktype;
    st->cur.snaplen = m->u.rot.snaplen;
    st->cur.first_us = st->cur.last_us = m->u.rot.first_us;  /* the counters follow per segment */
    st->cur.changed_us = clock_wall_us();
    st->discard = false;
    atomic_store_explicit(&st->current_id, m->u.rot.id, memory_order_relaxed);
    if (pcap_retention_low_on_space(st->ret)) {
        /* room for this file before it is written: the files waiting for their fsync may be
         * the oldest, and retention never deletes a file before it is closed */
        pthread_mutex_lock(&st->cmu);
        while (st->closer_started && st->cq_head != st->cq_tail)
            pthread_cond_wait(&st->cdone, &st->cmu);
        pthread_mutex_unlock(&st->cmu);
        pcap_store_retention_now(st);
    }
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
    pcap_format_file_header(hdr, m->u.rot.linktype, m->u.rot.snaplen);
    if (!start_direct(st, hdr, sizeof hdr) && pcap_format_write_all(st->fd, hdr, sizeof hdr) < 0) {
        st->cur.size = 0;
        fail_file(st, "write", errno);
        return;
    }
    pcap_catalog_path(st->cat, st->cur.name, ".idx", path, sizeof path);
    st->idx_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (st->idx_fd < 0)
        log_warn("pcap_store", "sidecar %s: %s (lookups walk from the file start)", path, strerror(errno));
    count(st, &st->w.files_opened, 1);
    log_info("pcap_store", "opened file=%s id=%" PRIu64 " linktype=%u snaplen=%u direct_io=%zu",
             st->cur.name, st->cur.id, st->cur.linktype, st->cur.snaplen, st->dio.align);
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
        } else {
            count(st, &st->w.lost_to_errors, e->packets);   /* a failed file's: not on disk */
        }
    }
    atomic_store_explicit(&st->sq_tail, t, memory_order_release);
}

/* writev all of iov[0..n), retrying short writes and EINTR; 0 or -1 (errno) */
static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* The batch (whole records of the current file) to the file, then the sidecar and the
 * catalogue follow. A failed file skips its bytes (fail_file). */
static void flush_batch(struct pcap_store *st)
{
    uint64_t n = st->iov_bytes;
    if (!n)
        return;
    if (st->discard || st->fd < 0) {
        lose_segments(st);                    /* a failed file: its bytes go nowhere */
        retry_file(st);
    } else {
        int rc = st->dio.align ? store_dio_writev(&st->dio, st->fd, st->iov, st->niov)
                               : writev_all(st->fd, st->iov, st->niov);
        if (rc < 0) {
            fail_file(st, "write", errno);
        } else {
            st->cur.size += n;
            take_segments(st, false);
            flush_segments(st);
            pcap_catalog_update(st->cat, &st->cur);
            pthread_mutex_lock(&st->mu);
            st->w.bytes_written += n;
            st->w.bytes_direct = st->dio.direct;
            st->w.bytes_staged = st->dio.staged;
            pthread_mutex_unlock(&st->mu);
        }
    }
    st->w_done += n;
    st->niov = 0;
    st->iov_bytes = 0;
}

/* Add len bytes at p to the batch: joined to the last span when they follow it (records that
 * follow each other in the ring or in a mapped input become one span). */
static void batch_add(struct pcap_store *st, const uint8_t *p, size_t len)
{
    struct iovec *last = st->niov ? &st->iov[st->niov - 1] : NULL;
    if (last && (const uint8_t *)last->iov_base + last->iov_len == p) {
        last->iov_len += len;
    } else {
        if (st->niov == STORE_IOV)
            flush_batch(st);
        st->iov[st->niov].iov_base = (void *)p;
        st->iov[st->niov].iov_len = len;
        st->niov++;
    }
    st->iov_bytes += len;
}

/* ring bytes [from, to), which may wrap around the ring's end */
static void batch_ring(struct pcap_store *st, uint64_t from, uint64_t to)
{
    size_t i = (size_t)(from & st->mask), n = (size_t)(to - from);
    size_t first = n < st->cap - i ? n : (size_t)(st->cap - i);
    batch_add(st, st->ring + i, first);
    if (n > first)
        batch_add(st, st->ring, n - first);
}

/* write the batch, then hand the ring bytes, marker slots and reference budget it used back
 * to the producer */
static void flush_and_publish(struct pcap_store *st, uint64_t tail, uint32_t mt, uint64_t ref_out)
{
    flush_batch(st);
    atomic_store_explicit(&st->ref_out, ref_out, memory_order_release);
    atomic_store_explicit(&st->mk_tail, mt, memory_order_release);
    atomic_store_explicit(&st->tail, tail, memory_order_release);
}

/* move everything up to ring position upto and marker mk_upto into files */
static void drain(struct pcap_store *st, uint64_t upto, uint32_t mk_upto)
{
    uint64_t tail = atomic_load_explicit(&st->tail, memory_order_relaxed);
    uint32_t mt = atomic_load_explicit(&st->mk_tail, memory_order_relaxed);
    uint64_t ref_out = atomic_load_explicit(&st->ref_out, memory_order_relaxed);
    for (;;) {
        const struct marker *m = mt != mk_upto ? &st->mk[mt & st->mk_mask] : NULL;
        if (m && m->pos == tail) {
            if (m->kind == STORE_MARK_REF) {
                batch_add(st, m->u.ref, m->len);
                ref_out += m->len;
            } else {
                flush_and_publish(st, tail, mt, ref_out);
                if (m->kind == STORE_MARK_ROTATE) {
                    finish_file(st);
                    open_file(st, m);
                    tail += m->len;           /* the producer's alignment padding */
                    atomic_fetch_add_explicit(&st->rot_done, 1, memory_order_release);
                } else {
                    m->u.lend.ops->release(m->u.lend.src);   /* nothing of it is queued any more */
                }
            }
            mt++;
            if (st->iov_bytes >= STORE_BATCH_MAX)
                flush_and_publish(st, tail, mt, ref_out);
            continue;
        }
        if (tail >= upto)
            break;
        uint64_t limit = m && m->pos < upto ? m->pos : upto;
        batch_ring(st, tail, limit);
        tail = limit;
        if (st->iov_bytes >= STORE_BATCH_MAX)
            flush_and_publish(st, tail, mt, ref_out);
    }
    flush_and_publish(st, tail, mt, ref_out);
}

void *pcap_store_writer_main(void *arg)
{
    struct pcap_store *st = arg;
    int64_t last_drain = clock_mono_ms(), last_retention = last_drain;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        /* the ring's head first: the producer pushes a marker before it publishes any ring
         * byte that follows it, so no ring byte of this snapshot overtakes its marker */
        uint64_t head = atomic_load_explicit(&st->head, memory_order_acquire);
        uint32_t mk_head = atomic_load_explicit(&st->mk_head, memory_order_acquire);
        uint64_t tail = atomic_load_explicit(&st->tail, memory_order_relaxed);
        uint64_t pending = head > tail ? head - tail : 0;   /* tail may pass a padded head */
        uint32_t markers = mk_head - atomic_load_explicit(&st->mk_tail, memory_order_relaxed);
        /* record bytes queued, in the ring or by reference (the count trails the queues) */
        uint64_t in = atomic_load_explicit(&st->n_bytes, memory_order_relaxed);
        uint64_t queued = in > st->w_done ? in - st->w_done : 0;
        int64_t now = clock_mono_ms();
        if (queued >= STORE_WRITE_MIN || pending >= st->cap / 4 || markers > st->mk_mask / 4 ||
            ((pending || markers) && (now - last_drain >= st->cfg.flush_ms || st->flush_req || st->stop))) {
            st->flush_req = false;
            pthread_mutex_unlock(&st->mu);
            drain(st, head, mk_head);
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
        struct timespec ts = pcap_store_deadline(STORE_POLL_MS);
        pthread_cond_timedwait(&st->wake, &st->mu, &ts);
    }
    pthread_mutex_unlock(&st->mu);
    finish_file(st);
    atomic_store_explicit(&st->current_id, 0, memory_order_relaxed);
    return NULL;
}

