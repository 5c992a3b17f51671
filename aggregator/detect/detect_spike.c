/* detect_spike.c -- session-count spikes per segment: sessions counted in spike_bin bins on
 * record time (event.start), per segment of the sensor that saw them (a sensor with no
 * segment counts on its own); the baseline is an EWMA (spike_lambda) with a robust sigma
 * (1.4826 x the median absolute deviation of the last SPIKE_HISTORY bins, at least the
 * Poisson sqrt(mean)); a bin above mean + spike_sigmas x sigma and above spike_min_count is a
 * spike if it is also spike_min_ratio x the mean (3 sigma alone, over 6 segments and 60 bins an
 * hour, is a Poisson false alarm every few hours), named with the sources that account for
 * the excess (count - mean).
 * Owns:  one series per segment: pending bins (counts and per-source counts) and history.
 * Never: evaluates a bin before the newest record of its series is spike_grace past its end
 *        (late records from a sensor's batching are still counted), nor counts by arrival.
 * Trap:  records older than the last evaluated bin are late: counted in late_records, not in
 *        a bin. A sensor back after an hour sends its journal oldest first, so its segment's
 *        bins are evaluated in order as its records come. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define SPIKE_SERIES   128
#define SPIKE_PENDING  64       /* bins kept ahead of the evaluated one */
#define SPIKE_HISTORY  30
#define SPIKE_SOURCES  4096     /* per-source counts kept per bin */

/* a bin's count for one source: a slot of the bin's open-addressing table (linear probing,
 * found by detect_source_hash; n == 0 marks an empty slot) */
struct src_count {
    uint8_t ip[16];
    uint32_t n;
    uint32_t first_id;          /* the source's first session in the bin (evidence): its id at
                                 * this offset of the bin's ids, whole; NO_ID when none */
};

#define NO_ID UINT32_MAX
#define SOURCES_MIN 64          /* the table's first size (slots, a power of two) */

struct bin {
    int64_t index;              /* bin number since the epoch, -1 unused */
    uint32_t count;
    struct src_count *src;      /* the sources' table: n_slots slots, n_src used */
    uint32_t n_slots, n_src;
    char *ids;                  /* the first ids, NUL-ended, side by side */
    size_t ids_len, ids_cap;
    bool raised;                /* in the series' alert (what it added, to take back when the
                                 * bin is judged again with more records) */
    uint64_t raised_sessions, raised_hosts;
};

/* the EWMA and the history of the series' judged bins */
struct baseline {
    double mean;
    uint32_t history[SPIKE_HISTORY], n_history, evaluated;
};

struct series {
    char name[DETECT_NAME_LEN];
    int segment;
    int64_t next;               /* next bin to evaluate; INT64_MIN before the first record */
    int64_t newest_us;
    int64_t newest_wall_us;     /* when newest_us arrived (detect_set_wall), INT64_MIN unknown */
    int64_t peeked;             /* bins before it were judged on the wall clock already */
    struct baseline bl;
    struct bin bins[SPIKE_PENDING];
    struct detect_alert *alert; /* open while consecutive bins spike */
    int64_t alert_bin;
};

struct detect_spike {
    struct series *s[SPIKE_SERIES];
    struct series *by_sensor[64];       /* by the engine's sensor index, once found */
    size_t n;
    size_t bytes;
};

int detect_spike_init(struct detect *d)
{
    d->spike = calloc(1, sizeof *d->spike);
    return d->spike ? 0 : -1;
}

static void bin_clear(struct detect_spike *sp, struct bin *b)
{
    sp->bytes -= b->n_slots * sizeof *b->src + b->ids_cap;
    free(b->src);
    free(b->ids);
    b->src = NULL;
    b->ids = NULL;
    b->n_slots = b->n_src = 0;
    b->ids_len = b->ids_cap = 0;
    b->count = 0;
    b->index = -1;
    b->raised = false;
    b->raised_sessions = b->raised_hosts = 0;
}

void detect_spike_free(struct detect_spike *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->n; i++) {
        for (int b = 0; b < SPIKE_PENDING; b++)
            bin_clear(sp, &sp->s[i]->bins[b]);
        free(sp->s[i]);
    }
    free(sp);
}

size_t detect_spike_bytes(const struct detect_spike *sp)
{
    return sizeof *sp + sp->n * sizeof(struct series) + sp->bytes;
}

/* The placement changed (SIGHUP): which series each sensor feeds is found again, and each
 * series' segment number is looked up by its name in the new [segments] (-1: now none). */
void detect_spike_placement_changed(struct detect *d)
{
    struct detect_spike *sp = d->spike;
    if (!sp)
        return;
    memset(sp->by_sensor, 0, sizeof sp->by_sensor);
    for (size_t i = 0; i < sp->n; i++) {
        sp->s[i]->segment = -1;
        for (size_t k = 0; k < d->cfg.n_segments; k++)
            if (!strcmp(d->cfg.segments[k], sp->s[i]->name))
                sp->s[i]->segment = (int)k;
    }
}

static struct series *series_find(struct detect *d, const struct detect_facts *f);

static struct series *series_for(struct detect *d, const struct detect_facts *f)
{
    struct detect_spike *sp = d->spike;
    if (d->last_index >= 0 && sp->by_sensor[d->last_index])
        return sp->by_sensor[d->last_index];
    struct series *s = series_find(d, f);
    if (s && d->last_index >= 0)
        sp->by_sensor[d->last_index] = s;   /* until a reload (placement_changed) */
    return s;
}

/* a hint for a record fed soon: start loading its bin's slot for its source */
void detect_spike_prefetch(const struct detect *d, int sensor, const struct detect_record *r,
                           uint64_t src_hash)
{
    const struct series *s = sensor >= 0 && sensor < 64 ? d->spike->by_sensor[sensor] : NULL;
    if (!s || r->start_us < 0)
        return;
    int64_t idx = r->start_us / d->cfg.spike_bin_us;
    const struct bin *b = &s->bins[idx % SPIKE_PENDING];
    if (b->index == idx && b->src)
        __builtin_prefetch(&b->src[src_hash & (b->n_slots - 1)]);
}

/* the slot of ip in b's table: its own, or the empty one where it goes */
static struct src_count *source_slot(const struct bin *b, const uint8_t ip[16], uint64_t hash)
{
    uint32_t m = b->n_slots - 1, i = (uint32_t)hash & m;
    while (b->src[i].n && memcmp(b->src[i].ip, ip, 16))
        i = (i + 1) & m;
    return &b->src[i];
}

/* b's table at n_slots slots (the sources laid out again); -1 when out of memory */
static int sources_resize(struct detect_spike *sp, struct bin *b, uint32_t n_slots)
{
    struct src_count *old = b->src;
    uint32_t old_n = b->n_slots;
    if (!(b->src = calloc(n_slots, sizeof *b->src))) {
        b->src = old;
        return -1;
    }
    b->n_slots = n_slots;
    for (uint32_t i = 0; i < old_n; i++)
        if (old[i].n)
            *source_slot(b, old[i].ip, detect_source_hash(old[i].ip)) = old[i];
    free(old);
    sp->bytes += (n_slots - old_n) * sizeof *b->src;
    return 0;
}

/* keep id (whole) among b's first ids: its offset, NO_ID when none or out of memory */
static uint32_t keep_id(struct detect_spike *sp, struct bin *b, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (!n || b->ids_len + n + 1 >= NO_ID)
        return NO_ID;
    if (b->ids_len + n + 1 > b->ids_cap) {
        size_t cap = b->ids_cap ? b->ids_cap * 2 : 4096;
        while (cap < b->ids_len + n + 1)
            cap *= 2;
        char *ni = realloc(b->ids, cap);
        if (!ni)
            return NO_ID;
        sp->bytes += cap - b->ids_cap;
        b->ids = ni;
        b->ids_cap = cap;
    }
    uint32_t at = (uint32_t)b->ids_len;
    memcpy(b->ids + at, id, n + 1);
    b->ids_len += n + 1;
    return at;
}

static struct series *series_find(struct detect *d, const struct detect_facts *f)
{
    struct detect_spike *sp = d->spike;
    const char *name = f->sensor_seg >= 0 ? d->cfg.segments[f->sensor_seg]
                                          : (f->r->sensor ? f->r->sensor : "");
    for (size_t i = 0; i < sp->n; i++)
        if (!strcmp(sp->s[i]->name, name))
            return sp->s[i];
    if (sp->n >= SPIKE_SERIES)
        return NULL;
    struct series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->segment = f->sensor_seg;
    s->next = INT64_MIN;
    s->newest_wall_us = INT64_MIN;
    s->peeked = INT64_MIN;
    for (int b = 0; b < SPIKE_PENDING; b++)
        s->bins[b].index = -1;
    sp->s[sp->n++] = s;
    return s;
}

static int by_count_desc(const void *a, const void *b)
{
    const struct src_count *x = *(const struct src_count *const *)a;
    const struct src_count *y = *(const struct src_count *const *)b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : memcmp(x->ip, y->ip, 16);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double robust_sigma(const struct baseline *s)
{
    uint32_t v[SPIKE_HISTORY], n = s->n_history < SPIKE_HISTORY ? s->n_history : SPIKE_HISTORY;
    if (n == 0)
        return sqrt(s->mean > 1 ? s->mean : 1);
    memcpy(v, s->history, n * sizeof *v);
    qsort(v, n, sizeof *v, u32_cmp);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    double dev[SPIKE_HISTORY] = { 0 };
    for (uint32_t i = 0; i < n; i++)
        dev[i] = fabs(v[i] - med);
    for (uint32_t i = 1; i < n; i++)        /* insertion sort: n <= 30 */
        for (uint32_t j = i; j > 0 && dev[j] < dev[j - 1]; j--) {
            double t = dev[j];
            dev[j] = dev[j - 1];
            dev[j - 1] = t;
        }
    double mad = n % 2 ? dev[n / 2] : (dev[n / 2 - 1] + dev[n / 2]) / 2.0;
    double sigma = 1.4826 * mad, poisson = sqrt(s->mean > 1 ? s->mean : 1);
    return sigma > poisson ? sigma : poisson;
}

static void raise_spike(struct detect *d, struct series *s, struct bin *b, double sigma,
                        double mean)
{
    const struct detect_config *c = &d->cfg;
    int64_t t0 = b->index * c->spike_bin_us;
    /* sources sorted by their count in the bin, until they cover the excess */
    size_t n = b->n_src, k = 0;
    struct src_count **v = n ? calloc(n, sizeof *v) : NULL;
    for (uint32_t i = 0; v && i < b->n_slots && k < n; i++)
        if (b->src[i].n)
            v[k++] = &b->src[i];
    if (v)
        qsort(v, k, sizeof *v, by_count_desc);
    double excess = b->count - mean, covered = 0;
    uint32_t needed = 0;
    while (needed < k && covered < excess)
        covered += v[needed++]->n;
    struct detect_alert *a = s->alert;
    if (a && b->raised) {       /* judged again (on record time, after the wall clock) */
        a->sessions -= b->raised_sessions;
        a->total_hosts -= b->raised_hosts;
    } else if (!a || s->alert_bin != b->index - 1) {
        if (a)
            detect_alert_close(d, a);
        char key[80];
        snprintf(key, sizeof key, "%s", s->name);
        a = s->alert = detect_alert_open(d, "session_spike", k ? v[0]->ip : NULL, key, t0);
        if (!a) {
            free(v);
            return;
        }
        snprintf(a->prefix, sizeof a->prefix, "%s", s->name);
        a->baseline = mean;
        a->sigma = sigma;
        if (s->segment >= 0)
            a->segments = 1ULL << s->segment;
    }
    if (b->index > s->alert_bin)
        s->alert_bin = b->index;
    if (t0 + c->spike_bin_us > a->end_us)
        a->end_us = t0 + c->spike_bin_us;
    a->sessions += b->count;
    a->total_hosts += needed;
    b->raised = true;
    b->raised_sessions = b->count;
    b->raised_hosts = needed;
    for (uint32_t i = 0; i < needed && a->n_sources < c->max_targets; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < a->n_sources && !dup; j++)
            dup = !memcmp(a->sources[j], v[i]->ip, 16);
        if (!dup) {
            memcpy(a->sources[a->n_sources++], v[i]->ip, 16);
            if (v[i]->first_id != NO_ID)
                detect_alert_evidence(a, b->ids + v[i]->first_id, c->max_targets);
        }
    }
    double score = (b->count - mean) / sigma;
    if (score > a->score)
        a->score = score;
    a->dirty = true;
    free(v);
}

/* Judge a bin of count sessions against the baseline bl, then fold it into bl. True when it
 * spiked (*sigma and *mean: the baseline it was judged against). */
static bool judge(const struct detect_config *c, struct baseline *bl, uint32_t count,
                  double *sigma, double *mean)
{
    bool spiked = false;
    *mean = bl->mean;
    *sigma = 0;
    if (bl->evaluated >= c->spike_warmup_bins) {
        *sigma = robust_sigma(bl);
        if (count > bl->mean + c->spike_sigmas * *sigma && count > c->spike_min_count &&
            count >= c->spike_min_ratio * bl->mean) {
            spiked = true;
            /* the baseline takes the bin at its limit, not the spike itself */
            count = (uint32_t)(bl->mean + c->spike_sigmas * *sigma);
        }
    }
    bl->mean = bl->evaluated ? c->spike_lambda * count + (1 - c->spike_lambda) * bl->mean
                             : count;
    bl->history[bl->n_history++ % SPIKE_HISTORY] = count;
    bl->evaluated++;
    return spiked;
}

/* bin idx (b: its counts, NULL when it had no record) judged on record time, for good */
static void evaluate(struct detect *d, struct series *s, struct bin *b, int64_t idx,
                     uint32_t count)
{
    double sigma, mean;
    bool spiked = judge(&d->cfg, &s->bl, count, &sigma, &mean);
    if (spiked && b)
        raise_spike(d, s, b, sigma, mean);
    /* an alert that a later bin (judged on the wall clock) is part of stays open */
    if (!spiked && s->alert && s->alert_bin < idx) {
        detect_alert_close(d, s->alert);
        s->alert = NULL;
    }
}

/* evaluate every bin of s that ends spike_grace before its newest record (all on flush) */
static void advance(struct detect *d, struct series *s, bool flush)
{
    const struct detect_config *c = &d->cfg;
    if (s->next == INT64_MIN)
        return;
    int64_t upto = flush ? INT64_MAX : (s->newest_us - c->spike_grace_us) / c->spike_bin_us;
    int guard = 0;
    while (s->next < upto) {
        struct bin *b = &s->bins[s->next % SPIKE_PENDING];
        bool have = b->index == s->next;
        if (flush && !have) {
            /* nothing pending beyond here? */
            bool more = false;
            for (int i = 0; i < SPIKE_PENDING; i++)
                more |= s->bins[i].index > s->next;
            if (!more)
                break;
        }
        evaluate(d, s, have ? b : NULL, s->next, have ? b->count : 0);
        if (have)
            bin_clear(d->spike, b);
        s->next++;
        if (++guard > 100000)           /* a jump of years: skip empty bins at once */
            break;
    }
}

/* the record's source counted in its bin (at most SPIKE_SOURCES sources a bin: more are
 * counted in cap_hits, as the bin's total still counts them) */
static void count_source(struct detect *d, struct bin *b, const struct detect_facts *f)
{
    struct detect_spike *sp = d->spike;
    if (!b->src && sources_resize(sp, b, SOURCES_MIN) < 0)
        return;
    struct src_count *sc = source_slot(b, f->r->src, f->h->src);
    if (sc->n) {
        sc->n++;
        return;
    }
    if (b->n_src >= SPIKE_SOURCES) {
        d->st.cap_hits++;
        return;
    }
    if ((b->n_src + 1) * 4 > b->n_slots * 3) {      /* past 3/4: grow, then find the slot */
        if (sources_resize(sp, b, b->n_slots * 2) < 0)
            return;
        sc = source_slot(b, f->r->src, f->h->src);
    }
    memcpy(sc->ip, f->r->src, 16);
    sc->n = 1;
    sc->first_id = keep_id(sp, b, f->r->session_id);
    b->n_src++;
}

void detect_spike_feed(struct detect *d, const struct detect_facts *f)
{
    const struct detect_config *c = &d->cfg;
    struct series *s = series_for(d, f);
    if (!s)
        return;
    int64_t idx = f->r->start_us / c->spike_bin_us;
    if (s->next == INT64_MIN)
        s->next = idx;
    if (idx < s->next) {
        d->st.late_records++;
        return;
    }
    if (idx >= s->next + SPIKE_PENDING) {   /* far ahead: evaluate up to make room */
        s->newest_us = (idx - SPIKE_PENDING + 1) * c->spike_bin_us + c->spike_grace_us;
        advance(d, s, false);
        if (idx >= s->next + SPIKE_PENDING)
            s->next = idx - SPIKE_PENDING + 1;
    }
    if (f->r->start_us > s->newest_us) {
        s->newest_us = f->r->start_us;
        s->newest_wall_us = d->wall_us;
    }
    struct bin *b = &s->bins[idx % SPIKE_PENDING];
    if (b->index != idx) {
        bin_clear(d->spike, b);
        b->index = idx;
    }
    b->count++;
    count_source(d, b, f);
    advance(d, s, false);
}

void detect_spike_tick(struct detect *d, int64_t now_us, bool flush)
{
    (void)now_us;
    for (size_t i = 0; i < d->spike->n; i++) {
        advance(d, d->spike->s[i], flush);
        if (flush && d->spike->s[i]->alert) {
            detect_alert_close(d, d->spike->s[i]->alert);
            d->spike->s[i]->alert = NULL;
        }
    }
}

/* The wall clock: a series whose newest record arrived at newest_wall_us is taken to be at
 * record time newest_us + (wall - newest_wall_us) now (a live sensor's records arrive about
 * when they start; a file read fast stops moving when its input ends). Its pending bins whose
 * end + spike_grace has passed on that clock are judged now, each once, on a copy of the
 * baseline: a spike is raised (and grows later); the baseline itself, and which bins are
 * pending, still move on record time only, so late records (a sensor back after an hour, its
 * journal oldest first) still land in their bins, which are judged again then. */
void detect_spike_wall(struct detect *d)
{
    const struct detect_config *c = &d->cfg;
    if (d->wall_us == INT64_MIN)
        return;
    for (size_t i = 0; i < d->spike->n; i++) {
        struct series *s = d->spike->s[i];
        if (s->next == INT64_MIN || s->newest_wall_us == INT64_MIN ||
            d->wall_us <= s->newest_wall_us)
            continue;
        int64_t est = s->newest_us + (d->wall_us - s->newest_wall_us);
        int64_t upto = (est - c->spike_grace_us) / c->spike_bin_us;
        if (upto > s->next + SPIKE_PENDING)
            upto = s->next + SPIKE_PENDING;     /* only pending bins can be judged */
        if (upto <= s->next || upto <= s->peeked)
            continue;
        struct baseline bl = s->bl;
        for (int64_t idx = s->next; idx < upto; idx++) {
            struct bin *b = &s->bins[idx % SPIKE_PENDING];
            bool have = b->index == idx;
            double sigma, mean;
            bool spiked = judge(c, &bl, have ? b->count : 0, &sigma, &mean);
            if (spiked && have && idx >= s->peeked) {
                raise_spike(d, s, b, sigma, mean);
                d->st.wall_judged++;
            }
        }
        s->peeked = upto;
    }
}
