/* shipping.c -- outbox, batcher and shipper together (see shipping.h).
 * Owns:  their life cycle and the shared lock; the SensorStats it publishes. */
#include "shipping.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "batcher.h"
#include "log.h"
#include "outbox.h"
#include "packet_service.h"

struct shipping {
    const struct sensor_config *cfg;
    struct pipeline *p;
    pthread_mutex_t lock;
    struct outbox *ob;
    struct batcher *b;
    struct ship *ship;
    uint64_t reported_drops;
    int64_t last_tick_us;
};

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

void shipping_serve_packets(struct shipping *sh, struct packet_service *svc)
{
    if (sh)
        ship_set_request_handler(sh->ship, svc ? answer_request : NULL, svc);
}

void shipping_tick(struct shipping *sh, int64_t now_us, uint64_t pcap_received, uint64_t pcap_dropped,
                   uint64_t pcap_if_dropped)
{
    if (!sh || now_us - sh->last_tick_us < 100000)
        return;
    sh->last_tick_us = now_us;
    if (batcher_flush(sh->b, now_us, false) < 0)
        log_error("shipping", "%s", batcher_error(sh->b));
    struct outbox_stats os;
    pthread_mutex_lock(&sh->lock);
    outbox_stats(sh->ob, &os);
    pthread_mutex_unlock(&sh->lock);
    if (os.dropped_records > sh->reported_drops) {
        log_warn("shipping", "journal bound reached: dropped batches=%" PRIu64 " records=%" PRIu64
                 " (outbox_max_bytes=%lld)", os.dropped_batches, os.dropped_records,
                 sh->cfg->outbox_max_bytes);
        sh->reported_drops = os.dropped_records;
    }
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
    ship_publish_stats(sh->ship, &st);
}

int shipping_close(struct shipping *sh, bool drain, char err[ASH_ERR_LEN])
{
    int rc = 0;
    if (!sh)
        return 0;
    if (batcher_flush(sh->b, 0, true) < 0) {
        snprintf(err, ASH_ERR_LEN, "%s", batcher_error(sh->b));
        rc = -1;
    }
    if (drain && rc == 0 && ship_drain(sh->ship, sh->cfg->drain_timeout_ms) < 0) {
        struct outbox_stats os;
        pthread_mutex_lock(&sh->lock);
        outbox_stats(sh->ob, &os);
        pthread_mutex_unlock(&sh->lock);
        snprintf(err, ASH_ERR_LEN, "aggregator %s did not acknowledge %" PRIu64 " batches (%" PRIu64
                 " records) within %lld ms: they stay in %s for the next start", sh->cfg->aggregator,
                 os.pending_batches, os.pending_records, sh->cfg->drain_timeout_ms, sh->cfg->outbox_dir);
        rc = -1;
    }
    ship_stop(sh->ship);
    batcher_free(sh->b);
    outbox_close(sh->ob);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
    return rc;
}
