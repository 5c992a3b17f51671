/* shipping.c -- outbox, batcher and shipper together (see shipping.h).
 * Owns:  their life cycle and the shared lock; the SensorStats it publishes; the rate-limited
 *        warnings about records lost on the way to the journal. */
#include "shipping.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "batcher.h"
#include "clock.h"
#include "log.h"
#include "outbox.h"
#include "packet_service.h"
#include "pcap_catalog.h"

struct shipping {
    const struct sensor_config *cfg;
    struct pipeline *p;
    pthread_mutex_t lock;
    struct outbox *ob;
    struct batcher *b;
    struct ship *ship;
    uint64_t reported_drops, reported_failed;
    int64_t last_tick_us;
    int64_t last_loss_log_us;        /* loss warnings: at most one per LOSS_LOG_US */
    struct pcap_catalog *catalog;    /* lent by the caller (shipping_report_catalog) */
    int64_t oldest_us, oldest_at_us; /* the oldest kept packet, and when it was looked up */
    uint64_t pcap_received, pcap_dropped, pcap_if_dropped;   /* the last tick's */
};

#define LOSS_LOG_US 10000000LL

uint64_t shipping_lost_records(const struct shipping_totals *t)
{
    return t->outbox.dropped_records + t->outbox.failed_records;
}

/* Say what was lost since the last report, at most every LOSS_LOG_US (force: now, if any):
 * a full disk fails every batch, and one line per batch would fill the next disk. */
static void report_loss(struct shipping *sh, int64_t now_us, bool force)
{
    struct outbox_stats os;
    char why[ASH_ERR_LEN];
    pthread_mutex_lock(&sh->lock);
    outbox_stats(sh->ob, &os);
    snprintf(why, sizeof why, "%s", outbox_error(sh->ob));
    pthread_mutex_unlock(&sh->lock);
    bool dropped = os.dropped_records > sh->reported_drops;
    bool failed = os.failed_records > sh->reported_failed;
    if (!dropped && !failed)
        return;
    if (!force && now_us - sh->last_loss_log_us < LOSS_LOG_US)
        return;
    sh->last_loss_log_us = now_us;
    if (dropped)
        log_warn("shipping", "journal bound reached: dropped the oldest unacknowledged batches, "
                 "%" PRIu64 " batches (%" PRIu64 " records) so far (outbox_max_bytes=%lld)",
                 os.dropped_batches, os.dropped_records, sh->cfg->outbox_max_bytes);
    if (failed)
        log_error("shipping", "records lost: %" PRIu64 " batches (%" PRIu64 " records) could not "
                  "be journalled so far; last: %s", os.failed_batches, os.failed_records, why);
    sh->reported_drops = os.dropped_records;
    sh->reported_failed = os.failed_records;
}

struct shipping *shipping_open(const struct sensor_config *cfg, struct pipeline *p,
                               char err[ASH_ERR_LEN])
{
    struct shipping *sh = calloc(1, sizeof *sh);
    if (!sh) {
        snprintf(err, ASH_ERR_LEN, "shipping: out of memory");
        return NULL;
    }
    sh->cfg = cfg;
    sh->p = p;
    pthread_mutex_init(&sh->lock, NULL);
    struct outbox_config oc = { .max_bytes = cfg->outbox_max_bytes,
                                .segment_bytes = 64 << 20, .sync = cfg->outbox_sync };
    snprintf(oc.dir, sizeof oc.dir, "%s", cfg->outbox_dir);
    if (!(sh->ob = outbox_open(&oc, err)))
        goto fail;
    struct batcher_config bc = { cfg->batch_records, 32 << 20, cfg->batch_ms };
    if (!(sh->b = batcher_new(&bc, cfg->name, sh->ob, &sh->lock, err)))
        goto fail;
    struct ship_config sc = { .insecure = cfg->insecure, .window = cfg->window,
                              .resend_ms = cfg->resend_ms, .heartbeat_ms = cfg->heartbeat_ms,
                              .stats_interval_ms = cfg->stats_interval_ms };
    snprintf(sc.endpoint, sizeof sc.endpoint, "%s", cfg->aggregator);
    snprintf(sc.key_file, sizeof sc.key_file, "%s", cfg->key_file);
    snprintf(sc.server_key, sizeof sc.server_key, "%s", cfg->server_key);
    if (!(sh->ship = ship_start(&sc, cfg->name, sh->ob, &sh->lock, err)))
        goto fail;
    pipeline_add_output(p, batcher_add, sh->b);
    return sh;
fail:
    batcher_free(sh->b);
    outbox_close(sh->ob);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
    return NULL;
}

static int reply_chunk(void *ship, const Ashiato__PacketResponse *resp)
{
    return ship_reply(ship, resp);
}

static void answer_request(void *svc, struct ship *s, const Ashiato__PacketRequest *req)
{
    packet_service_answer(svc, req, reply_chunk, s);
}

void shipping_report_catalog(struct shipping *sh, struct pcap_catalog *c)
{
    if (sh) {
        sh->catalog = c;
        sh->oldest_at_us = 0;
    }
}

/* The earliest first packet of the files not expired, looked up at most once per stats
 * interval (a copy of the catalogue: a few thousand entries a year, under its mutex). */
static int64_t oldest_kept(struct shipping *sh, int64_t now_us)
{
    int64_t every = sh->cfg->stats_interval_ms > 1000 ? sh->cfg->stats_interval_ms * 1000 : 1000000;
    if (!sh->catalog || (sh->oldest_at_us && now_us - sh->oldest_at_us < every && now_us >= sh->oldest_at_us))
        return sh->oldest_us;
    struct pcap_catalog_file *f = NULL;
    size_t n = 0;
    if (pcap_catalog_snapshot(sh->catalog, &f, &n) < 0)
        return sh->oldest_us;        /* out of memory: the last answer, tried again next time */
    int64_t oldest = 0;
    for (size_t i = 0; i < n; i++)
        if (f[i].state != PCAP_CATALOG_EXPIRED && f[i].first_us > 0 &&
            (!oldest || f[i].first_us < oldest))
            oldest = f[i].first_us;
    free(f);
    sh->oldest_us = oldest;
    sh->oldest_at_us = now_us;
    return oldest;
}

void shipping_serve_packets(struct shipping *sh, struct packet_service *svc)
{
    if (sh)
        ship_set_request_handler(sh->ship, svc ? answer_request : NULL, svc);
}

static void publish_stats(struct shipping *sh, int64_t now_us);

void shipping_tick(struct shipping *sh, int64_t now_us, uint64_t pcap_received, uint64_t pcap_dropped,
                   uint64_t pcap_if_dropped)
{
    if (!sh || now_us - sh->last_tick_us < 100000)
        return;
    sh->last_tick_us = now_us;
    batcher_flush(sh->b, now_us, false);   /* a failure is counted: report_loss says it */
    report_loss(sh, now_us, false);
    if (pcap_received || pcap_dropped || pcap_if_dropped) {
        sh->pcap_received = pcap_received;
        sh->pcap_dropped = pcap_dropped;
        sh->pcap_if_dropped = pcap_if_dropped;
    }
    publish_stats(sh, now_us);
}

static void publish_stats(struct shipping *sh, int64_t now_us)
{
    uint64_t pcap_received = sh->pcap_received, pcap_dropped = sh->pcap_dropped,
             pcap_if_dropped = sh->pcap_if_dropped;
    struct pipeline_stats ps;
    pipeline_stats(sh->p, &ps);
    Ashiato__SensorStats st = ASHIATO__SENSOR_STATS__INIT;
    st.time_us = now_us;
    st.pcap_received = pcap_received;
    st.pcap_dropped = pcap_dropped;
    st.pcap_if_dropped = pcap_if_dropped;
    st.packets = ps.packets;
    st.malformed = ps.malformed;
    st.sessions_active = ps.table.active;
    st.sessions_total = ps.table.created;
    st.sessions_evicted = ps.table.evicted;
    struct statvfs vfs;
    /* the disk that fills up: the pcap store's when the sensor keeps packets */
    if (statvfs(sh->cfg->pcap_dir[0] ? sh->cfg->pcap_dir : sh->cfg->outbox_dir, &vfs) == 0) {
        st.disk_free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        st.disk_used_bytes = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    }
    st.oldest_packet_us = oldest_kept(sh, now_us);
    st.stats_interval_ms = (uint32_t)sh->cfg->stats_interval_ms;
    ship_publish_stats(sh->ship, &st);
}

/* wait for every acknowledgement: 0, 1 stopped by *stop, -1 timed out */
static int drain(struct shipping *sh, const volatile sig_atomic_t *stop)
{
    sig_atomic_t stop0 = stop ? *stop : 0;
    int64_t until = clock_mono_ms() + sh->cfg->drain_timeout_ms;
    for (;;) {
        int64_t left = until - clock_mono_ms();
        if (ship_drain(sh->ship, left < 0 ? 0 : left < 100 ? left : 100) == 0)
            return 0;
        if (stop && *stop != stop0)
            return 1;
        if (left <= 0)
            return -1;
    }
}

int shipping_close(struct shipping *sh, bool drain_all, const volatile sig_atomic_t *stop,
                   struct shipping_totals *totals, char err[ASH_ERR_LEN])
{
    int rc = 0, dr = 0;
    struct shipping_totals t;
    if (!sh)
        return 0;
    memset(&t, 0, sizeof t);
    batcher_flush(sh->b, 0, true);   /* a failure is counted and stated below */
    /* the last stats, sent now: a short offline run ends before its first stats interval */
    sh->oldest_at_us = 0;
    publish_stats(sh, clock_wall_us());
    ship_flush_stats(sh->ship, 1000);
    if (drain_all) {
        struct outbox_stats os;
        pthread_mutex_lock(&sh->lock);
        outbox_stats(sh->ob, &os);
        pthread_mutex_unlock(&sh->lock);
        if (os.pending_batches)
            log_info("shipping", "input done: waiting up to %lld ms for %s to acknowledge %" PRIu64
                     " batches (%" PRIu64 " records); SIGINT or SIGTERM stops the wait, and the "
                     "batches stay journalled", sh->cfg->drain_timeout_ms, sh->cfg->aggregator,
                     os.pending_batches, os.pending_records);
        dr = drain(sh, stop);
    }
    report_loss(sh, 0, true);
    pthread_mutex_lock(&sh->lock);
    outbox_stats(sh->ob, &t.outbox);
    pthread_mutex_unlock(&sh->lock);
    ship_stats(sh->ship, &t.ship);
    struct batcher_stats bs;
    batcher_stats(sh->b, &bs);
    t.records = bs.records;
    t.drain_interrupted = dr == 1;
    uint64_t lost = shipping_lost_records(&t);
    /* the loss first: the journal's path may be long, and the message has ASH_ERR_LEN */
    char loss[160] = "";
    if (lost)
        snprintf(loss, sizeof loss, "lost %" PRIu64 " of %" PRIu64 " records (%" PRIu64 " dropped at "
                 "outbox_max_bytes, %" PRIu64 " not journalled: write errors); ", lost, t.records,
                 t.outbox.dropped_records, t.outbox.failed_records);
    if (dr == 1)
        log_warn("shipping", "drain stopped by a signal: %" PRIu64 " batches (%" PRIu64 " records) not "
                 "yet acknowledged stay journalled in %s and are sent at the next start; nothing is "
                 "lost by stopping", t.outbox.pending_batches, t.outbox.pending_records,
                 sh->cfg->outbox_dir);
    if (dr < 0) {
        snprintf(err, ASH_ERR_LEN, "%saggregator %s did not acknowledge %" PRIu64 " batches (%" PRIu64
                 " records) within %lld ms: they stay in %s for the next start", loss,
                 sh->cfg->aggregator, t.outbox.pending_batches, t.outbox.pending_records,
                 sh->cfg->drain_timeout_ms, sh->cfg->outbox_dir);
        rc = -1;
    } else if (lost) {
        snprintf(err, ASH_ERR_LEN, "%sshipping to %s", loss, sh->cfg->aggregator);
        rc = -1;
    }
    ship_stop(sh->ship);
    batcher_free(sh->b);
    outbox_close(sh->ob);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
    if (totals)
        *totals = t;
    return rc;
}
