/* api_history.c -- sensors/history.json: when each sensor was down or dropping packets, from
 * the stats history (every SensorStats stored), for the page's chart to shade.
 * Owns:  the rules that turn samples into intervals and the answer's shape:
 *          {"startTime":ms|null,"stopTime":ms,"sensors":[{"name":"dept-3","intervalMs":500,
 *           "samples":N,"lastSeen":ms|null,"packetsPerSecond":X|null (the last two samples),
 *           "down":[[startMs,stopMs],...],
 *           "dropping":[[startMs,stopMs,dropped],...]}]}
 *        down: a gap between two samples longer than API_HISTORY_DOWN_FACTOR stats intervals,
 *        and from the last sample to the window's end (or now) when that is as long;
 *        dropping: a sample interval in which the drop counters (pcap_dropped +
 *        pcap_if_dropped + outbox_dropped) rose, by how much.
 * Never: asks the store for more than the window and API_HISTORY_PAD_US before it (the sample
 *        before the window tells whether a gap crosses its start).
 * Trap:  a sensor's interval is what its samples say (stats_interval_ms), else the median gap
 *        between them, else API_HISTORY_DEFAULT_MS (the sensor's default); a restarted sensor
 *        starts its counters at 0, which is not a drop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "http_server.h"

#define API_HISTORY_DOWN_FACTOR 3
#define API_HISTORY_PAD_US (3600LL * 1000000)
#define API_HISTORY_DEFAULT_MS 5000
#define API_HISTORY_MAX_INTERVALS 5000   /* per sensor and kind; "truncated": true beyond */

struct sample {
    int64_t t;
    uint64_t dropped, packets;
};

struct sensor_hist {
    char name[STORE_SENSOR_MAX + 1];
    struct sample *s;
    size_t n, cap;
    uint32_t interval_ms;            /* the last sample's that said it */
    int64_t latest_us;               /* stats.json's time of the sensor (0 = unknown) */
};

struct hist {
    struct sensor_hist *v;
    size_t n, cap;
    bool oom;
};

static struct sensor_hist *find_or_add(struct hist *h, const char *name)
{
    if (h->n && !strcmp(h->v[h->n - 1].name, name))
        return &h->v[h->n - 1];
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->v[i].name, name))
            return &h->v[i];
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct sensor_hist *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return NULL;
        h->v = v;
        h->cap = cap;
    }
    struct sensor_hist *x = &h->v[h->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

static int on_sample(void *ctx, const char *sensor, const struct store_stats_sample *smp)
{
    struct hist *h = ctx;
    struct sensor_hist *x = find_or_add(h, sensor);
    if (x && x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        struct sample *s = realloc(x->s, cap * sizeof *s);
        if (s) {
            x->s = s;
            x->cap = cap;
        }
    }
    if (!x || x->n == x->cap) {
        h->oom = true;
        return 1;
    }
    x->s[x->n++] = (struct sample){ smp->time_us, smp->dropped, smp->packets };
    if (smp->interval_ms)
        x->interval_ms = smp->interval_ms;
    return 0;
}

static int on_latest(void *ctx, const char *text, size_t len)
{
    struct hist *h = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL, *name, *t;
    json_tokener_free(tok);
    if (o && json_object_object_get_ex(o, "sensor", &name) &&
        json_object_object_get_ex(o, "time_us", &t)) {
        struct sensor_hist *x = find_or_add(h, json_object_get_string(name));
        if (x)
            x->latest_us = json_object_get_int64(t);
        else
            h->oom = true;
    }
    json_object_put(o);
    return h->oom;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct sensor_hist *)a)->name, ((const struct sensor_hist *)b)->name);
}

/* the sensor's stats interval in microseconds (see the Trap) */
static int64_t interval_us(const struct sensor_hist *x)
{
    if (x->interval_ms)
        return (int64_t)x->interval_ms * 1000;
    if (x->n < 3)
        return API_HISTORY_DEFAULT_MS * 1000LL;
    int64_t *d = malloc((x->n - 1) * sizeof *d);
    if (!d)
        return API_HISTORY_DEFAULT_MS * 1000LL;
    for (size_t i = 1; i < x->n; i++)
        d[i - 1] = x->s[i].t - x->s[i - 1].t;
    qsort(d, x->n - 1, sizeof *d, cmp_i64);
    int64_t m = d[(x->n - 1) / 2];
    free(d);
    return m > 0 ? m : API_HISTORY_DEFAULT_MS * 1000LL;
}

/* [a, b] (and n when with_n) clipped to [lo, hi], merged into the last entry if they touch */
static void add_interval(json_object *arr, int64_t a, int64_t b, uint64_t n, bool with_n,
                         int64_t lo, int64_t hi, bool *truncated)
{
    if (lo && a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    if (b <= a)
        return;
    size_t len = json_object_array_length(arr);
    if (len) {
        json_object *last = json_object_array_get_idx(arr, len - 1);
        if (json_object_get_int64(json_object_array_get_idx(last, 1)) >= a / 1000) {
            json_object_array_put_idx(last, 1, json_object_new_int64(b / 1000));
            if (with_n)
                json_object_array_put_idx(last, 2, json_object_new_int64((int64_t)n +
                    json_object_get_int64(json_object_array_get_idx(last, 2))));
            return;
        }
    }
    if (len >= API_HISTORY_MAX_INTERVALS) {
        *truncated = true;
        return;
    }
    json_object *iv = json_object_new_array();
    json_object_array_add(iv, json_object_new_int64(a / 1000));
    json_object_array_add(iv, json_object_new_int64(b / 1000));
    if (with_n)
        json_object_array_add(iv, json_object_new_int64((int64_t)n));
    json_object_array_add(arr, iv);
}

/* lo, hi: the window (lo 0 = open); hi is never past now */
static json_object *sensor_obj(const struct sensor_hist *x, int64_t lo, int64_t hi)
{
    json_object *o = json_object_new_object();
    json_object *down = json_object_new_array(), *dropping = json_object_new_array();
    int64_t iv = interval_us(x), gap = API_HISTORY_DOWN_FACTOR * iv;
    bool truncated = false;
    for (size_t i = 1; i < x->n; i++) {
        const struct sample *a = &x->s[i - 1], *b = &x->s[i];
        if (b->t - a->t > gap)
            add_interval(down, a->t, b->t, 0, false, lo, hi, &truncated);
        if (b->dropped > a->dropped)
            add_interval(dropping, a->t, b->t, b->dropped - a->dropped, true, lo, hi, &truncated);
    }
    int64_t last = x->n ? x->s[x->n - 1].t : 0;
    if (x->n && hi - last > gap)
        add_interval(down, last, hi, 0, false, lo, hi, &truncated);
    else if (!x->n && x->latest_us && hi - lo > gap)
        /* no sample in the window or just before: down all through it */
        add_interval(down, x->latest_us < lo ? lo : x->latest_us > hi ? lo : x->latest_us, hi,
                     0, false, lo, hi, &truncated);
    size_t in_window = 0;
    for (size_t i = 0; i < x->n; i++)
        in_window += x->s[i].t >= lo && x->s[i].t < hi;
    json_object_object_add(o, "name", json_object_new_string(x->name));
    json_object_object_add(o, "intervalMs", json_object_new_int64(iv / 1000));
    json_object_object_add(o, "samples", json_object_new_int64((int64_t)in_window));
    int64_t seen = x->latest_us ? x->latest_us : last;
    json_object_object_add(o, "lastSeen", seen ? json_object_new_int64(seen / 1000) : NULL);
    const struct sample *p = x->n >= 2 ? &x->s[x->n - 2] : NULL, *q = p ? p + 1 : NULL;
    json_object_object_add(o, "packetsPerSecond", p && q->t > p->t && q->packets >= p->packets ?
        json_object_new_double((double)(q->packets - p->packets) * 1e6 / (double)(q->t - p->t)) : NULL);
    json_object_object_add(o, "down", down);
    json_object_object_add(o, "dropping", dropping);
    if (truncated)
        json_object_object_add(o, "truncated", json_object_new_boolean(1));
    return o;
}

int api_sensors_history_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq;
    if (api_query_build(rq, rp, &aq) < 0)
        return 0;
    api_query_free(&aq);             /* the expression plays no part: stats are per sensor */
    int64_t lo = aq.from_us, hi = aq.to_us && aq.to_us < rq->now_us ? aq.to_us : rq->now_us;
    struct hist h = { 0 };
    int rc = store_stats_history(rq->st, lo > API_HISTORY_PAD_US ? lo - API_HISTORY_PAD_US : 0,
                                 hi, on_sample, &h);
    if (rc == STORE_OK && !h.oom)
        rc = store_latest_stats(rq->st, on_latest, &h);
    json_object *o = NULL;
    if (rc != STORE_OK || h.oom) {
        http_reply_error(rp, h.oom ? 500 : 503, -1, "%s", h.oom ? "sensors/history.json: out of "
                         "memory" : store_error(rq->st));
        goto done;
    }
    qsort(h.v, h.n, sizeof *h.v, cmp_name);
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < h.n; i++)
        json_object_array_add(arr, sensor_obj(&h.v[i], lo, hi));
    o = json_object_new_object();
    json_object_object_add(o, "startTime", lo ? json_object_new_int64(lo / 1000) : NULL);
    json_object_object_add(o, "stopTime", json_object_new_int64(hi / 1000));
    json_object_object_add(o, "sensors", arr);
    rp->count = (long long)h.n;
    http_reply_json(rp, 200, o);
done:
    for (size_t i = 0; i < h.n; i++)
        free(h.v[i].s);
    free(h.v);
    return 0;
}
