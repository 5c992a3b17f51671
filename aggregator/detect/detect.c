/* detect.c -- the detection engine: works out each record's facts once (segments, outcome,
 * discovery, approval, whether another sensor's copy was counted), hands them to every
 * detector, expires state on record time and sends new and grown alerts to the sink.
 * Owns:  struct detect and the order detectors run in.
 * Never: changes a record; reads a clock (time is the records' and detect_tick's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define EXPIRE_EVERY_US (10 * 1000000LL)

struct detect *detect_new(const struct detect_config *cfg, detect_sink_fn sink, void *ctx,
                          char err[ASH_ERR_LEN])
{
    struct detect *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, ASH_ERR_LEN, "detect: out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    detect_segidx_build(&d->segidx, &d->cfg);
    d->sink = sink;
    d->sink_ctx = ctx;
    d->first_us = INT64_MAX;
    d->now_us = INT64_MIN;
    d->wall_us = INT64_MIN;
    if (!(d->link = detect_link_new(cfg)) || detect_scan_init(d) < 0 || detect_trw_init(d) < 0 ||
        detect_lateral_init(d) < 0 || detect_policy_init(d) < 0 || detect_spike_init(d) < 0) {
        snprintf(err, ASH_ERR_LEN, "detect: out of memory building the detectors");
        detect_free(d);
        return NULL;
    }
    return d;
}

static void free_user(void *p)
{
    free(p);
}

void detect_free(struct detect *d)
{
    if (!d)
        return;
    detect_link_free(d->link);
    window_free(d->addr_scan, NULL);
    window_free(d->port_scan, NULL);
    window_free(d->dark_scan, NULL);
    window_free(d->trw, free_user);
    window_free(d->lateral, free_user);
    window_free(d->servers, NULL);
    window_free(d->policy, NULL);
    detect_spike_free(d->spike);
    detect_alert_free_all(d);
    free(d);
}

void detect_set_placement(struct detect *d, const struct detect_config *cfg)
{
    detect_config_placement(&d->cfg, cfg);
    detect_segidx_build(&d->segidx, &d->cfg);
    d->last_sensor = NULL;      /* its cached segment came from the old [sensors] */
    detect_spike_placement_changed(d);
}

/* an open alert of this source (not policy or spike) learns of another sensor's copy */
static void add_sensor_to_alerts(struct detect *d, const struct detect_facts *f)
{
    for (size_t i = 0; i < d->alerts.n; i++) {
        struct detect_alert *a = d->alerts.v[i];
        if (a->has_source && !memcmp(a->source, f->r->src, 16) &&
            strcmp(a->rule, "address_policy") && strcmp(a->rule, "session_spike"))
            detect_alert_sensor(a, f->r->sensor);
    }
}

int detect_sensor_index(struct detect *d, const char *sensor)
{
    if (!sensor)
        sensor = "";
    for (size_t i = 0; i < d->n_sensor_names; i++)
        if (!strcmp(d->sensor_names[i], sensor))
            return (int)i;
    if (d->n_sensor_names >= 64 || strlen(sensor) >= DETECT_NAME_LEN)
        return -1;
    snprintf(d->sensor_names[d->n_sensor_names], DETECT_NAME_LEN, "%s", sensor);
    d->sensor_newest[d->n_sensor_names] = INT64_MIN;
    return (int)d->n_sensor_names++;
}

/* State expires on the slowest sensor's time, not the fastest's: sensors' records arrive at
 * their own pace (a sensor reading a file, or catching up), and a flow or a scan seen by a
 * slower sensor must still find its state. A sensor more than SENSOR_LAG_US behind the newest
 * (offline) does not hold expiry back; its records come late and are counted as such. */
#define SENSOR_LAG_US (3600 * 1000000LL)

static int64_t low_watermark(const struct detect *d)
{
    int64_t low = d->now_us;
    for (size_t i = 0; i < d->n_sensor_names; i++) {
        int64_t t = d->sensor_newest[i];
        if (t != INT64_MIN && t < low && t >= d->now_us - SENSOR_LAG_US)
            low = t;
    }
    return low;
}

static void expire(struct detect *d)
{
    int64_t now = low_watermark(d);
    window_expire(d->addr_scan, now, detect_window_close, d);
    window_expire(d->port_scan, now, detect_window_close, d);
    window_expire(d->dark_scan, now, detect_window_close, d);
    window_expire(d->policy, now, detect_window_close, d);
    window_expire(d->trw, now, detect_trw_close, d);
    window_expire(d->lateral, now, detect_lateral_close, d);
    window_expire(d->servers, now, NULL, NULL);
    detect_link_expire(d->link, now);
    d->last_expire_us = d->now_us;
}

void detect_set_link_sink(struct detect *d, detect_link_fn fn, void *ctx)
{
    d->link_sink = fn;
    d->link_ctx = ctx;
}

/* does TRW count r, maybe: its hashes are worth taking ahead (detect_trw_feed decides) */
static bool trw_maybe(const struct detect_record *r)
{
    return r->proto == 6 || r->icmp_error;
}

uint64_t detect_source_hash(const uint8_t src[16])
{
    uint64_t h = hmap_hash_bytes(src, 16, DETECT_SRC_SEED);
    return h ? h : 1;
}

static void hashes_of(const struct detect_record *r, struct detect_hashes *h)
{
    h->link = detect_link_hash(r->community_id);
    h->src = detect_source_hash(r->src);
    h->trw = trw_maybe(r);
    if (h->trw)
        h->trw_value = detect_trw_value(r);
    h->trw_entry = NULL;
}

/* one record, with its hashes */
static void feed(struct detect *d, const struct detect_record *r, const struct detect_hashes *h)
{
    uint64_t link_hash = h->link;
    d->st.records++;
    if (r->src_packets + r->dst_packets == 0) {
        d->st.ignored_zero++;   /* a record with no packets is no attempt */
        return;
    }
    if (r->start_us > d->now_us)
        d->now_us = r->start_us;
    if (r->start_us < d->first_us)
        d->first_us = r->start_us;
    const struct detect_config *c = &d->cfg;
    struct detect_facts f = { .r = r, .h = h };
    f.src_seg = detect_segidx_of(&d->segidx, r->src);
    f.dst_seg = detect_segidx_of(&d->segidx, r->dst);
    const char *sn = r->sensor ? r->sensor : "";
    if (!d->last_sensor || (sn != d->last_sensor && strcmp(sn, d->last_sensor))) {
        d->last_index = detect_sensor_index(d, sn);
        d->last_segment = detect_sensor_segment(c, sn);
        if (d->last_index >= 0)
            d->last_sensor = d->sensor_names[d->last_index];
    }
    int si = d->last_index;
    f.sensor_seg = d->last_segment;
    if (si >= 0 && r->start_us > d->sensor_newest[si])
        d->sensor_newest[si] = r->start_us;
    f.approved = detect_in_list(c->approved, c->n_approved, r->src);
    detect_outcome(c, &d->segidx, r, &f);
    /* Only a flow that two sensors can see needs the link table: with sensors placed on
     * segments' uplinks, one between two different segments (or any flow at a sensor with
     * no segment, or when no sensor is placed). Most records are not, and skip it. */
    struct detect_link_pair pair = { NULL, -1, 0 };
    if (!c->n_sensors || f.sensor_seg < 0 ||
        (f.src_seg >= 0 && f.dst_seg >= 0 && f.src_seg != f.dst_seg))
        f.duplicate = detect_link_seen(d->link, r, link_hash, si, d->now_us, &pair);
    if (pair.other_id && d->link_sink && pair.other_sensor >= 0 && r->session_id)
        d->link_sink(pair.other_id, d->sensor_names[pair.other_sensor], pair.other_start_us,
                     r->session_id, sn, r->start_us, d->link_ctx);

    detect_policy_feed(d, &f);
    detect_spike_feed(d, &f);
    if (f.duplicate) {
        d->st.linked++;
        detect_lateral_dup(d, &f);
        add_sensor_to_alerts(d, &f);
    } else {
        if (f.attempt && f.outcome == OUTCOME_SUCCESS)
            d->st.attempts_ok++;
        else if (f.attempt && f.outcome == OUTCOME_FAILURE)
            d->st.attempts_failed++;
        else
            d->st.attempts_unknown++;
        detect_scan_feed(d, &f);
        detect_trw_feed(d, &f);
        detect_lateral_feed(d, &f);
    }
    if (d->now_us - d->last_expire_us >= EXPIRE_EVERY_US)
        expire(d);
}

void detect_feed(struct detect *d, const struct detect_record *r)
{
    struct detect_hashes h;
    hashes_of(r, &h);
    feed(d, r, &h);
}

/* Records ahead by PREFETCH_AHEAD have their link-index slot and their source's TRW entry
 * slot prefetched, so the cache misses of those lookups overlap the work on the records
 * before them (the misses are most of detection's cost per record). */
#define PREFETCH_AHEAD 8

void detect_feed_batch(struct detect *d, const struct detect_record *const *r, size_t n)
{
    /* ring slots by record number: record i - PREFETCH_AHEAD is fed before record i's go in */
    struct detect_hashes h[PREFETCH_AHEAD];
    const char *pf_name = NULL;         /* spike: the sensor of the record prefetched */
    int pf_index = -1;
    for (size_t i = 0; i < n + PREFETCH_AHEAD; i++) {
        if (i >= PREFETCH_AHEAD)
            feed(d, r[i - PREFETCH_AHEAD], &h[(i - PREFETCH_AHEAD) % PREFETCH_AHEAD]);
        if (i >= 6 && i - 6 < n && h[(i - 6) % PREFETCH_AHEAD].trw) {
            struct detect_hashes *q = &h[(i - 6) % PREFETCH_AHEAD];   /* found: kept */
            q->trw_entry = window_prefetch_entry(d->trw, r[i - 6]->src, q->src, q->trw_value);
            q->trw_gen = window_generation(d->trw);
        }
        if (i >= 4 && i - 4 < n) {      /* spike: the bin's slot for the source */
            const struct detect_record *q = r[i - 4];
            if (q->sensor != pf_name) {         /* looked up, never registered here */
                pf_name = q->sensor;
                pf_index = -1;
                for (size_t k = 0; q->sensor && k < d->n_sensor_names && pf_index < 0; k++)
                    if (!strcmp(d->sensor_names[k], q->sensor))
                        pf_index = (int)k;
            }
            detect_spike_prefetch(d, pf_index, q, h[(i - 4) % PREFETCH_AHEAD].src);
            detect_link_prefetch_entry(d->link, h[(i - 4) % PREFETCH_AHEAD].link);
        }
        if (i >= 3 && i - 3 < n && h[(i - 3) % PREFETCH_AHEAD].trw)   /* TRW: the entry */
            window_prefetch_step(d->trw, r[i - 3]->src, h[(i - 3) % PREFETCH_AHEAD].src, 0, 1);
        if (i < n) {                    /* the link slot and TRW's map slot */
            struct detect_hashes *q = &h[i % PREFETCH_AHEAD];
            hashes_of(r[i], q);
            detect_link_prefetch(d->link, q->link);
            if (q->trw)
                window_prefetch_step(d->trw, r[i]->src, q->src, 0, 0);
        }
    }
}

void detect_tick(struct detect *d, int64_t now_us)
{
    if (now_us > d->now_us)
        d->now_us = now_us;
    if (d->now_us == INT64_MIN)
        return;
    if (d->now_us - d->last_expire_us >= EXPIRE_EVERY_US)
        expire(d);
    detect_spike_tick(d, d->now_us, false);
    detect_spike_wall(d);
    detect_alert_send_dirty(d);
}

void detect_set_wall(struct detect *d, int64_t wall_us)
{
    if (wall_us > d->wall_us)
        d->wall_us = wall_us;
}

void detect_flush(struct detect *d)
{
    if (d->now_us == INT64_MIN)
        return;
    detect_spike_tick(d, d->now_us, true);
    window_expire(d->addr_scan, INT64_MAX, detect_window_close, d);
    window_expire(d->port_scan, INT64_MAX, detect_window_close, d);
    window_expire(d->dark_scan, INT64_MAX, detect_window_close, d);
    window_expire(d->policy, INT64_MAX, detect_window_close, d);
    window_expire(d->trw, INT64_MAX, detect_trw_close, d);
    window_expire(d->lateral, INT64_MAX, detect_lateral_close, d);
    detect_alert_close_all(d);
}

struct detect_stats detect_stats(const struct detect *d)
{
    struct detect_stats s = d->st;
    s.cap_hits += detect_link_full(d->link);
    struct window *ws[] = { d->addr_scan, d->port_scan, d->dark_scan, d->trw, d->lateral, d->servers,
                            d->policy };
    s.bytes = sizeof *d + detect_link_bytes(d->link) + detect_spike_bytes(d->spike) +
              d->alerts.n * sizeof(struct detect_alert);
    s.sources = 0;
    for (size_t i = 0; i < ASH_ARRAY_LEN(ws); i++) {
        struct window_stats w = window_stats(ws[i]);
        s.bytes += w.bytes;
        s.sources += w.entries;
    }
    return s;
}
