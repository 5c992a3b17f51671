/* pcap_store.c -- the sensor's pcap store (see pcap_store.h): opening and closing it, and
 *                 what other threads ask of it (sync, retention, statistics).
 * Owns:  the store's memory (byte ring, marker and segment queues, the writer's batch), the
 *        start and stop of the writer and closer threads (pcap_store_writer.c), the reference
 *        the producer holds on a mapped input (pcap_store_ring.c) after the writer stopped.
 *        The repair pass at open is pcap_repair.c's.
 * Never: runs per packet (pcap_store_ring.c does). */
#include "pcap_store_internal.h"

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
#include "pcap_repair.h"

void pcap_store_config_defaults(struct pcap_store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_file_size = 1LL << 30;
    cfg->max_file_age = 3600;
    cfg->ring_size = 64LL << 20;
    cfg->flush_ms = 100;
    cfg->retention_interval = 10;
    cfg->direct_io = true;
}

struct timespec pcap_store_deadline(long ms)
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
    /* references in flight: one per 1 KiB of ring (64 Ki for the default 64 MiB), each a
     * packet whose bytes stay in the mapped input; rotations keep STORE_ROTATIONS slots */
    for (st->mk_mask = 1; st->mk_mask < st->cap / 1024 || st->mk_mask < 4 * STORE_ROTATIONS; st->mk_mask <<= 1)
        ;
    st->mk_mask--;
    /* at most one segment per SEGMENT bytes of queued ring and of queued references (each
     * bounded by the ring size), plus one per queued rotation */
    for (st->sq_mask = 1; st->sq_mask < 2 * (st->cap / PCAP_FORMAT_SEGMENT) + 2 * STORE_ROTATIONS + 4; st->sq_mask <<= 1)
        ;
    st->sq_mask--;
    /* The ring is mapped and touched now, so that the capture path never page-faults, and in
     * huge pages (asked for before the pages exist: MAP_POPULATE first gave 4 KiB pages, 16,384
     * TLB entries for the default 64 MiB that the copy in and the packet path walk through). */
    st->ring = mmap(NULL, st->cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (st->ring == MAP_FAILED) {
        st->ring = NULL;
    } else {
        madvise(st->ring, st->cap, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
        if (madvise(st->ring, st->cap, MADV_POPULATE_WRITE) < 0)
#endif
            memset(st->ring, 0, st->cap);     /* kernels before 5.14 */
    }
    if (cfg->direct_io && !(st->dio.stage = aligned_alloc(STORE_ALIGN, STORE_DIO_STAGE))) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: cannot allocate the direct-I/O stage");
        goto fail;
    }
    if (!st->ring || !(st->segbuf = malloc(st->segcap)) ||
        !(st->sq = ash_calloc_array((size_t)st->sq_mask + 1, sizeof *st->sq)) ||
        !(st->mk = ash_calloc_array((size_t)st->mk_mask + 1, sizeof *st->mk)) ||
        !(st->iov = ash_calloc_array(STORE_IOV, sizeof *st->iov))) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: cannot allocate a ring of %" PRIu64 " bytes", st->cap);
        goto fail;
    }
    if (!(st->cat = pcap_catalog_open(cfg->dir, err)))
        goto fail;
    struct pcap_catalog_stats cs;
    pcap_catalog_stats(st->cat, &cs);
    if (cs.compact_skipped)
        log_warn("pcap_store", "dir=%s is full: the catalogue is used as it is, not rewritten",
                 cfg->dir);
    if (cs.reserve_failures)
        log_warn("pcap_store", "dir=%s: no blocks could be reserved for the catalogue; on a "
                 "full disk its last lines may be lost (the repair at the next open redoes "
                 "them)", cfg->dir);
    struct pcap_repair_stats rs;
    if (pcap_repair_all(st->cat, &rs, err) < 0)
        goto fail;
    st->w.repaired_files = rs.files;
    st->w.repaired_bytes_dropped = rs.bytes_dropped;
    /* free-space retention keeps room for one whole file (and a quarter, for its sidecar, the
     * catalogue and the file system's own blocks) more than asked: 5% of a disk under 20 GiB
     * is less than one 1 GiB file, and the file being written would hit a full disk. The
     * writer runs retention as each file opens, so the room is there before it is needed. */
    struct pcap_retention_config rc = cfg->retention;
    rc.reserve_bytes = cfg->max_file_size + cfg->max_file_size / 4;
    if (!(st->ret = pcap_retention_new(&rc, st->cat, err)))
        goto fail;
    st->p.next_id = pcap_catalog_max_id(st->cat) + 1;
    st->p.linktype = (uint32_t)dlt;
    st->p.snaplen = snaplen > 0 && snaplen <= (int)PCAP_FORMAT_MAX_SNAP ? (uint32_t)snaplen : PCAP_FORMAT_MAX_SNAP;
    int e = pthread_create(&st->closer, NULL, pcap_store_closer_main, st);
    if (e) {
        snprintf(err, ASH_ERR_LEN, "pcap_store: closer thread: %s", strerror(e));
        goto fail;
    }
    st->closer_started = true;
    e = pthread_create(&st->thread, NULL, pcap_store_writer_main, st);
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
        pcap_store_finish_segment(st);        /* the caller is (or has replaced) the producer */
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
    if (st->p.src)                            /* the writer wrote all its references */
        st->p.src_ops->release(st->p.src);
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
    free(st->dio.stage);
    free(st->sq);
    free(st->mk);
    free(st->iov);
    free(st);
}

/* everything up to ring position ring and marker mk is in its file */
static bool written(struct pcap_store *st, uint64_t ring, uint32_t mk)
{
    return atomic_load_explicit(&st->tail, memory_order_acquire) >= ring &&
           (int32_t)(atomic_load_explicit(&st->mk_tail, memory_order_acquire) - mk) >= 0;
}

int pcap_store_sync(struct pcap_store *st, int timeout_ms)
{
    uint32_t mk = atomic_load_explicit(&st->mk_head, memory_order_acquire);
    uint64_t target = atomic_load_explicit(&st->head, memory_order_acquire);
    struct timespec dl = pcap_store_deadline(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->drain_gen;
    st->flush_req = true;
    pthread_cond_signal(&st->wake);
    while (rc == 0 && (st->drain_gen == gen || !written(st, target, mk))) {
        if (pthread_cond_timedwait(&st->drained, &st->mu, &dl) == ETIMEDOUT)
            rc = -1;
        else if (st->drain_gen != gen && !written(st, target, mk)) {
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
    struct timespec dl = pcap_store_deadline(timeout_ms);
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
    out->dropped = atomic_load_explicit(&st->n_dropped, memory_order_relaxed) + out->lost_to_errors;
    out->rejected = atomic_load_explicit(&st->n_rejected, memory_order_relaxed);
    out->waits = atomic_load_explicit(&st->n_waits, memory_order_relaxed);
    out->ring_high_water = atomic_load_explicit(&st->high_water, memory_order_relaxed);
    out->current_file = atomic_load_explicit(&st->current_id, memory_order_relaxed);
    out->segments_lost = atomic_load_explicit(&st->n_seg_lost, memory_order_relaxed);
    out->by_reference = atomic_load_explicit(&st->n_refs, memory_order_relaxed);
    pcap_retention_stats(st->ret, &out->retention);
}
