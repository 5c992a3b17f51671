/* alert_out.c -- detection in the aggregator: the detectors (aggregator/detect/) fed from
 * receive's commit hook with the newly committed records, ticked by an event-loop timer, and
 * their alerts put in the store (store_put_alert, the ECS document in Alert.doc), optionally
 * to syslog and to a JSON webhook (libcurl multi, retried with backoff).
 * Owns:  the struct detect engine, the webhook queue and its curl handles.
 * Lends: nothing.
 * Never: changes a record or calls back into receive; blocks the loop (the webhook is driven
 *        by the timer through curl_multi_perform).
 * Trap:  the hook's records live only during the call. The hook extracts from each one a
 *        compact fixed event (struct qev: only what detectors read) and its id and Community ID
 *        (NUL-ended, whole) into fixed chunks, one lock round trip per chunk; the detection
 *        thread feeds the engine records that point into the chunk (no copy, no parsing). */
#include "alert_out.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "clock.h"
#include "detect.h"
#include "log.h"

#define WEBHOOK_QUEUE 256
#define PENDING_MAX   4096      /* alerts waiting for the next tick */
#define CHUNK_RECS    1024      /* records per chunk: the thread feeds a chunk per lock trip */
#define CHUNK_STRS    (64u << 10)   /* ids and Community IDs per chunk (~56 bytes a record) */
#define STR_MAX       (CHUNK_STRS / 4)  /* a longer id or Community ID is taken as none */
/* Chunks between the hook and the thread: room for a whole group commit's records
 * (RECEIVE_GROUP_RECORDS_DEFAULT, 64 chunks) and more, 13.8 MiB. With fewer, the hook of
 * every big group waits for the thread to feed the group's first chunks, and the ingest
 * thread (no acks meanwhile, so the sensors too) stands still while detection runs:
 * detection and ingest then take turns instead of sharing the cores. */
#define CHUNKS        80
_Static_assert(CHUNKS * CHUNK_RECS > RECEIVE_GROUP_RECORDS_DEFAULT, "a whole group fits");
#define SENSORS_MAX   256
#define LINKS_MAX     (1 << 20) /* links waiting for the next tick */

/* what the detectors read of one record (detect_record without its pointers) */
struct qev {
    int64_t start_us, end_us;
    uint64_t src_packets, dst_packets, src_bytes, dst_bytes;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint8_t proto, icmp_error;
    uint16_t sensor;                    /* interned in sensors[] */
    uint32_t id, cid;                   /* offsets into the chunk's strs, NUL-ended */
    char state[8];                      /* conn_state, up to 7 characters */
};

struct chunk {
    struct qev ev[CHUNK_RECS];
    uint32_t n, used;                   /* events, bytes of strs */
    char strs[CHUNK_STRS];
};

/* what the detection thread feeds from one chunk: records pointing into it */
struct run {
    struct detect_record rec[CHUNK_RECS];
    const struct detect_record *ptr[CHUNK_RECS];
};

struct post {
    char *body;
    uint32_t tries;
    int64_t due_ms;
    CURL *easy;                 /* non-NULL while in flight */
    struct curl_slist *hdr;
};

struct alert_out {
    struct detect *d;
    /* the queue: the hook fills a free chunk unlocked and publishes it under the lock, the
     * detection thread takes published chunks and gives them back */
    pthread_t thread;
    bool started, stop, tick;
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    struct chunk *chunks;       /* CHUNKS of them */
    size_t full[CHUNKS], full_head, full_n;     /* published, in order */
    size_t free_[CHUNKS], n_free;
    struct chunk *fill;         /* the hook's, while it fills it (hook thread only) */
    struct run *run;            /* the detection thread's */
    uint64_t long_strings;      /* ids or Community IDs over STR_MAX, taken as none */
    char sensors[SENSORS_MAX][DETECT_NAME_LEN];  /* interned; written before published */
    size_t n_sensors;
    pthread_mutex_t plock;      /* pending alerts (from the detection thread) */
    struct detect_config cfg;   /* the loop thread's copy (names segments in put) */
    struct detect_config *next; /* a reload's, until the detection thread takes it */
    struct store *st;
    uint64_t put_failed, webhook_failed, webhook_dropped, webhook_sent;
    CURLM *multi;
    struct post q[WEBHOOK_QUEUE];
    size_t nq;
    /* alerts sent by the engine, put at the next tick: the commit hook may not call the
     * store, and the engine sends from inside the hook (state expiring on record time) */
    struct pending { struct detect_alert a; bool final; } *pending;
    size_t npending, cap_pending;
    uint64_t dropped;
    /* links found by the engine (ashiato.linked), put at the next tick like the alerts */
    struct pending_link {
        char *id_a, *id_b;              /* malloc'd: ids of any length link in full */
        uint16_t sensor_a, sensor_b;    /* interned in sensors[] */
        int64_t start_a, start_b;
    } *links;
    size_t nlinks, cap_links;
    uint64_t links_put, links_dropped;
    int64_t thread_cpu_ns;      /* the detection thread's CPU time, when it ended */
};

static uint16_t sensor_slot(struct alert_out *o, const char *name)
{
    for (size_t i = 0; i < o->n_sensors; i++)
        if (!strcmp(o->sensors[i], name))
            return (uint16_t)i;
    if (o->n_sensors == SENSORS_MAX)
        return SENSORS_MAX - 1;         /* more than 256 sensors share the last name */
    snprintf(o->sensors[o->n_sensors], DETECT_NAME_LEN, "%s", name);
    return (uint16_t)o->n_sensors++;
}

/* the hook's chunk goes to the detection thread (hook thread) */
static void publish(struct alert_out *o)
{
    if (!o->fill)
        return;
    pthread_mutex_lock(&o->lock);
    o->full[(o->full_head + o->full_n++) % CHUNKS] = (size_t)(o->fill - o->chunks);
    pthread_cond_signal(&o->nonempty);
    pthread_mutex_unlock(&o->lock);
    o->fill = NULL;
}

/* a free chunk for the hook, waiting while the detection thread holds them all */
static void take_free(struct alert_out *o)
{
    pthread_mutex_lock(&o->lock);
    while (!o->n_free)
        pthread_cond_wait(&o->nonfull, &o->lock);
    o->fill = &o->chunks[o->free_[--o->n_free]];
    pthread_mutex_unlock(&o->lock);
    o->fill->n = 0;
    o->fill->used = 0;
}

/* room for one more event with strs bytes of strings in the hook's chunk */
static void room(struct alert_out *o, size_t strs)
{
    if (o->fill && (o->fill->n == CHUNK_RECS || o->fill->used + strs > CHUNK_STRS))
        publish(o);
    if (!o->fill)
        take_free(o);
}

static uint32_t put_str(struct chunk *c, const void *s, size_t n)
{
    uint32_t at = c->used;
    if (n)
        memcpy(c->strs + at, s, n);
    c->strs[at + n] = '\0';
    c->used += (uint32_t)n + 1;
    return at;
}

/* 4 or 16 bytes, else zeros (as detect_addr_set leaves them) */
static void addr_of(uint8_t out[16], const ProtobufCBinaryData *ip)
{
    if (!ip->data || detect_addr_set(out, ip->data, ip->len) < 0)
        memset(out, 0, 16);
}

/* one record into the hook's chunk: the fields detectors read, the whole id when it is text */
static void add(struct alert_out *o, const Ashiato__SessionRecord *s, uint16_t sensor)
{
    size_t idn = s->id.len;
    bool text = idn > 0;
    for (size_t i = 0; i < idn && text; i++)
        text = s->id.data[i] >= 0x21 && s->id.data[i] < 0x7f;
    const char *cid = s->community_id ? s->community_id : "";
    size_t cidn = strlen(cid);
    if (!text || idn > STR_MAX) {
        o->long_strings += text;
        idn = 0;
    }
    if (cidn > STR_MAX) {
        o->long_strings++;
        cidn = 0;
    }
    room(o, idn + cidn + 2);
    struct chunk *c = o->fill;
    struct qev *e = &c->ev[c->n++];
    e->id = put_str(c, s->id.data, idn);
    e->cid = put_str(c, cid, cidn);
    const char *cs = s->conn_state ? s->conn_state : "";
    size_t n = strnlen(cs, sizeof e->state - 1);
    memcpy(e->state, cs, n);
    e->state[n] = '\0';
    e->start_us = s->start_us;
    e->end_us = s->end_us > s->start_us ? s->end_us : s->start_us;
    e->proto = (uint8_t)s->iana_number;
    e->icmp_error = s->icmp_quoted_count ? 0 : (uint8_t)s->icmp_error_type;   /* an ICMP
                                        * session's own type is its quote's error */
    e->sensor = sensor;
    addr_of(e->src, &s->source->ip);
    e->sport = (uint16_t)s->source->port;
    e->src_packets = s->source->packets;
    e->src_bytes = s->source->data_bytes;
    addr_of(e->dst, &s->destination->ip);
    e->dport = (uint16_t)s->destination->port;
    e->dst_packets = s->destination->packets;
    e->dst_bytes = s->destination->data_bytes;
}

/* the commit hook: each record's event into chunks (waiting while none is free). The
 * decoded records have gone cold in the cache since the decode (a group is tens of MiB of
 * them), and each takes several lines: the record PREFETCH_AHEAD on has the lines of its
 * struct that add() reads loaded (0, 1, 2 and 6 of protobuf-c's 448 bytes), the one half as
 * far its parts (the endpoints' two lines each, their addresses, the id, Community ID and
 * conn_state), and the chunk's slots ahead are loaded for writing. */
#define PREFETCH_AHEAD 16

static void prefetch_record(const Ashiato__SessionRecord *q)
{
    const char *p = (const char *)q;
    __builtin_prefetch(p);
    __builtin_prefetch(p + offsetof(Ashiato__SessionRecord, community_id));
    __builtin_prefetch(p + offsetof(Ashiato__SessionRecord, conn_state));
    __builtin_prefetch(p + offsetof(Ashiato__SessionRecord, icmp_error_type));
}

static void prefetch_parts(const Ashiato__SessionRecord *q)
{
    if (q->source) {
        __builtin_prefetch(q->source);
        __builtin_prefetch(&q->source->data_bytes);
        __builtin_prefetch(q->source->ip.data);
    }
    if (q->destination) {
        __builtin_prefetch(q->destination);
        __builtin_prefetch(&q->destination->data_bytes);
        __builtin_prefetch(q->destination->ip.data);
    }
    __builtin_prefetch(q->id.data);
    __builtin_prefetch(q->community_id);
    __builtin_prefetch(q->conn_state);
}

static void on_commit(void *ctx, const struct receive_committed *b, size_t n)
{
    struct alert_out *o = ctx;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&o->lock);           /* sensors[] grows under it */
        uint16_t sensor = sensor_slot(o, b[i].sensor ? b[i].sensor : "");
        pthread_mutex_unlock(&o->lock);
        const Ashiato__SessionRecord *const *v = b[i].records;
        size_t nr = b[i].n_records;
        for (size_t j = 0; j < nr; j++) {
            if (j + PREFETCH_AHEAD < nr && v[j + PREFETCH_AHEAD])
                prefetch_record(v[j + PREFETCH_AHEAD]);
            if (j + PREFETCH_AHEAD / 2 < nr && v[j + PREFETCH_AHEAD / 2])
                prefetch_parts(v[j + PREFETCH_AHEAD / 2]);
            const struct chunk *c = o->fill;
            if (c && c->n + PREFETCH_AHEAD < CHUNK_RECS) {
                __builtin_prefetch(&c->ev[c->n + PREFETCH_AHEAD], 1);
                if (c->used + 1024 < CHUNK_STRS)
                    __builtin_prefetch(c->strs + c->used + 1024, 1);
            }
            const Ashiato__SessionRecord *s = v[j];
            if (s && s->source && s->destination)
                add(o, s, sensor);
        }
    }
    publish(o);
}

/* one chunk's events into the engine (detection thread): records pointing into the chunk */
static void feed_chunk(struct alert_out *o, const struct chunk *c)
{
    struct run *run = o->run;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct qev *e = &c->ev[i];
        struct detect_record *r = &run->rec[i];
        r->sensor = o->sensors[e->sensor];
        r->session_id = c->strs + e->id;
        r->community_id = c->strs + e->cid;
        r->conn_state = e->state;
        r->start_us = e->start_us;
        r->end_us = e->end_us;
        memcpy(r->src, e->src, 16);
        memcpy(r->dst, e->dst, 16);
        r->sport = e->sport;
        r->dport = e->dport;
        r->proto = e->proto;
        r->src_packets = e->src_packets;
        r->dst_packets = e->dst_packets;
        r->src_bytes = e->src_bytes;
        r->dst_bytes = e->dst_bytes;
        r->icmp_error = e->icmp_error;
        run->ptr[i] = r;
    }
    detect_feed_batch(o->d, run->ptr, c->n);
}

/* Chunks are fed where the hook wrote them: the thread takes one under the lock, feeds it
 * unlocked and gives it back. One lock round trip per chunk. */
static void *detect_thread(void *arg)
{
    struct alert_out *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->full_n && !o->tick && !o->stop && !o->next)
            pthread_cond_wait(&o->nonempty, &o->lock);
        if (o->next) {          /* a reload, between two chunks */
            detect_set_placement(o->d, o->next);
            free(o->next);
            o->next = NULL;
        }
        if (!o->full_n && o->stop && !o->tick)
            break;
        struct chunk *c = NULL;
        if (o->full_n) {
            c = &o->chunks[o->full[o->full_head]];
            o->full_head = (o->full_head + 1) % CHUNKS;
            o->full_n--;
        }
        bool tick = o->tick;
        o->tick = false;
        pthread_mutex_unlock(&o->lock);
        if (c) {
            detect_set_wall(o->d, clock_wall_us());  /* when these records arrived, about */
            feed_chunk(o, c);
        }
        if (tick)
            detect_tick(o->d, 0);
        pthread_mutex_lock(&o->lock);
        if (c) {
            o->free_[o->n_free++] = (size_t)(c - o->chunks);
            pthread_cond_signal(&o->nonfull);
        }
    }
    pthread_mutex_unlock(&o->lock);
    struct timespec cpu;        /* what detection cost, apart from the rest of the process */
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
        o->thread_cpu_ns = cpu.tv_sec * 1000000000LL + cpu.tv_nsec;
    return NULL;
}

static void webhook_queue(struct alert_out *o, const char *doc)
{
    if (!o->multi)
        return;
    if (o->nq == WEBHOOK_QUEUE) {
        o->webhook_dropped++;
        return;
    }
    char *body = strdup(doc);
    if (!body) {
        o->webhook_dropped++;
        return;
    }
    o->q[o->nq++] = (struct post){ body, 0, 0, NULL, NULL };
}

/* the engine's link sink, on the detection thread: the pair waits for the loop's timer. The
 * engine names sensors it was given, which the hook interned: found again in sensors[]. */
static void on_link(const char *id_a, const char *sensor_a, int64_t start_a, const char *id_b,
                    const char *sensor_b, int64_t start_b, void *ctx)
{
    struct alert_out *o = ctx;
    pthread_mutex_lock(&o->lock);               /* sensors[] grows under it */
    size_t ns = o->n_sensors;
    pthread_mutex_unlock(&o->lock);
    int sa = -1, sb = -1;
    for (size_t i = 0; i < ns && (sa < 0 || sb < 0); i++) {
        if (sa < 0 && !strcmp(o->sensors[i], sensor_a))
            sa = (int)i;
        if (sb < 0 && !strcmp(o->sensors[i], sensor_b))
            sb = (int)i;
    }
    char *a = sa >= 0 && sb >= 0 ? strdup(id_a) : NULL, *b = a ? strdup(id_b) : NULL;
    pthread_mutex_lock(&o->plock);
    if (!b) {
        o->links_dropped++;     /* an unknown sensor, or out of memory */
        pthread_mutex_unlock(&o->plock);
        free(a);
        return;
    }
    if (o->nlinks == o->cap_links) {
        size_t nc = o->cap_links ? o->cap_links * 2 : 64;
        struct pending_link *p = nc <= LINKS_MAX ? realloc(o->links, nc * sizeof *p) : NULL;
        if (!p) {
            o->links_dropped++;
            pthread_mutex_unlock(&o->plock);
            free(a);
            free(b);
            return;
        }
        o->links = p;
        o->cap_links = nc;
    }
    struct pending_link *l = &o->links[o->nlinks++];
    l->id_a = a;
    l->id_b = b;
    l->sensor_a = (uint16_t)sa;
    l->sensor_b = (uint16_t)sb;
    l->start_a = start_a;
    l->start_b = start_b;
    pthread_mutex_unlock(&o->plock);
}

static void free_links(struct pending_link *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].id_a);
        free(p[i].id_b);
    }
    free(p);
}

/* on the loop's thread: the links found since the last tick, in one store call */
static void put_links(struct alert_out *o)
{
    pthread_mutex_lock(&o->plock);
    struct pending_link *p = o->links;
    size_t n = o->nlinks;
    o->links = NULL;
    o->nlinks = o->cap_links = 0;
    pthread_mutex_unlock(&o->plock);
    if (!n) {
        free(p);
        return;
    }
    struct store_link *v = calloc(n, sizeof *v);
    bool ok = false;
    if (v) {
        for (size_t i = 0; i < n; i++)      /* sensors[] entries never change once written */
            v[i] = (struct store_link){ o->sensors[p[i].sensor_a], p[i].id_a,
                                        o->sensors[p[i].sensor_b], p[i].id_b, p[i].start_a,
                                        p[i].start_b };
        ok = store_put_links(o->st, v, n) == STORE_OK;
        if (!ok)
            log_warn("alert_out", "store %zu links: %s", n, store_error(o->st));
    }
    pthread_mutex_lock(&o->plock);
    if (ok)
        o->links_put += n;
    else
        o->links_dropped += n;
    pthread_mutex_unlock(&o->plock);
    free(v);
    free_links(p, n);
}

/* the engine's sink, on the detection thread: the alert waits for the loop's timer */
static void on_alert(const struct detect_alert *a, bool final, void *ctx)
{
    struct alert_out *o = ctx;
    pthread_mutex_lock(&o->plock);
    for (size_t i = 0; i < o->npending; i++)
        if (!strcmp(o->pending[i].a.id, a->id)) {       /* grown again before the tick */
            o->pending[i].a = *a;
            o->pending[i].final |= final;
            pthread_mutex_unlock(&o->plock);
            return;
        }
    if (o->npending == o->cap_pending) {
        size_t nc = o->cap_pending ? o->cap_pending * 2 : 16;
        struct pending *p = nc <= PENDING_MAX ? realloc(o->pending, nc * sizeof *p) : NULL;
        if (!p) {
            o->dropped++;
            pthread_mutex_unlock(&o->plock);
            return;
        }
        o->pending = p;
        o->cap_pending = nc;
    }
    o->pending[o->npending++] = (struct pending){ *a, final };
    pthread_mutex_unlock(&o->plock);
}

static void put(struct alert_out *o, const struct detect_alert *a, bool final)
{
    char *doc = detect_alert_json(a, &o->cfg);
    if (!doc) {
        o->put_failed++;
        return;
    }
    Ashiato__Alert al = ASHIATO__ALERT__INIT;
    char *sensors[16];
    ProtobufCBinaryData ids[DETECT_TARGETS_MAX];
    uint8_t src4[4];
    al.id = (char *)a->id;
    al.kind = (char *)a->rule;
    al.start_us = a->start_us;
    al.end_us = a->end_us;
    if (a->has_source) {
        if (detect_addr_is_v4(a->source)) {
            memcpy(src4, a->source + 12, 4);
            al.source_ip = (ProtobufCBinaryData){ 4, src4 };
        } else {
            al.source_ip = (ProtobufCBinaryData){ 16, (uint8_t *)a->source };
        }
    }
    for (uint32_t i = 0; i < a->n_sensors; i++)
        sensors[i] = (char *)a->sensors[i];
    al.n_sensors = a->n_sensors;
    al.sensors = sensors;
    al.sessions = a->sessions;
    al.summary = (char *)a->message;
    for (uint32_t i = 0; i < a->n_evidence; i++) {
        const char *id = detect_alert_evidence_id(a, i);
        ids[i] = (ProtobufCBinaryData){ strlen(id), (uint8_t *)id };
    }
    al.n_session_ids = a->n_evidence;
    al.session_ids = ids;
    al.doc = doc;
    if (store_put_alert(o->st, &al) != STORE_OK) {
        o->put_failed++;
        log_warn("alert_out", "store alert id=%s: %s", a->id, store_error(o->st));
    }
    if (final && o->cfg.alert_syslog)
        syslog(LOG_WARNING | LOG_DAEMON, "ashiato alert %s: %s", a->rule, a->message);
    if (o->cfg.alert_webhook[0])
        webhook_queue(o, doc);
    free(doc);
}

struct alert_out *alert_out_open(const char *config_path, struct store *st, struct receive *rx,
                                 char err[ASH_ERR_LEN])
{
    struct alert_out *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, ASH_ERR_LEN, "alert_out: out of memory");
        return NULL;
    }
    o->st = st;
    pthread_mutex_init(&o->lock, NULL);
    pthread_mutex_init(&o->plock, NULL);
    pthread_cond_init(&o->nonempty, NULL);
    pthread_cond_init(&o->nonfull, NULL);
    detect_config_defaults(&o->cfg);
    if (config_path && config_path[0] && detect_config_load(&o->cfg, config_path, err) < 0)
        goto fail;
    if (!(o->d = detect_new(&o->cfg, on_alert, o, err)))
        goto fail;
    detect_set_link_sink(o->d, on_link, o);
    if (o->cfg.alert_webhook[0] && !(o->multi = curl_multi_init())) {
        snprintf(err, ASH_ERR_LEN, "alert_out: curl_multi_init failed");
        goto fail;
    }
    if (o->cfg.alert_syslog)
        openlog("ashiato-aggregator", LOG_PID, LOG_DAEMON);
    if (!(o->chunks = ash_calloc_array(CHUNKS, sizeof *o->chunks)) ||
        !(o->run = malloc(sizeof *o->run))) {
        snprintf(err, ASH_ERR_LEN, "alert_out: out of memory for the record queue");
        goto fail;
    }
    for (size_t i = 0; i < CHUNKS; i++)
        o->free_[o->n_free++] = i;
    if (pthread_create(&o->thread, NULL, detect_thread, o) != 0) {
        snprintf(err, ASH_ERR_LEN, "alert_out: cannot start the detection thread");
        goto fail;
    }
    o->started = true;
    receive_set_commit_hook(rx, on_commit, o);
    log_info("alert_out", "detection on segments=%zu sensors=%zu approved=%zu syslog=%s webhook=%s",
             o->cfg.n_segments, o->cfg.n_sensors, o->cfg.n_approved,
             o->cfg.alert_syslog ? "yes" : "no", o->cfg.alert_webhook[0] ? "yes" : "no");
    return o;
fail:
    alert_out_close(o, NULL);
    return NULL;
}

int alert_out_reload(struct alert_out *o, const char *config_path, char err[ASH_ERR_LEN])
{
    struct detect_config *fresh = malloc(sizeof *fresh), *same = malloc(sizeof *same);
    if (!fresh || !same) {
        snprintf(err, ASH_ERR_LEN, "alert_out: out of memory");
        goto fail;
    }
    detect_config_defaults(fresh);
    if (config_path && config_path[0] && detect_config_load(fresh, config_path, err) < 0)
        goto fail;
    *same = o->cfg;             /* what is in force, with the new placement */
    detect_config_placement(same, fresh);
    bool others = memcmp(same, fresh, sizeof *same) != 0;
    o->cfg = *same;
    pthread_mutex_lock(&o->lock);
    free(o->next);              /* one not taken yet is replaced */
    o->next = fresh;
    pthread_cond_signal(&o->nonempty);
    pthread_mutex_unlock(&o->lock);
    free(same);
    log_info("alert_out", "reload: detection segments=%zu sensors=%zu approved=%zu darknet=%zu%s",
             o->cfg.n_segments, o->cfg.n_sensors, o->cfg.n_approved, o->cfg.n_darknet,
             others ? " (other [detect] settings changed: they apply at restart)" : "");
    return 0;
fail:
    free(fresh);
    free(same);
    return -1;
}

static void post_done(struct post *p)
{
    curl_slist_free_all(p->hdr);
    p->hdr = NULL;
    p->easy = NULL;
}

static void webhook_drive(struct alert_out *o, int64_t now_ms)
{
    if (!o->multi)
        return;
    for (size_t i = 0; i < o->nq; i++) {
        struct post *p = &o->q[i];
        if (!p->body || p->easy || p->due_ms > now_ms)
            continue;                   /* a finished post's hole, in flight, or not due */
        CURL *e = curl_easy_init();
        if (!e)
            break;
        p->hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_URL, o->cfg.alert_webhook);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdr);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PRIVATE, p);
        p->easy = e;
        curl_multi_add_handle(o->multi, e);
    }
    int running;
    curl_multi_perform(o->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(o->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct post *p = NULL;
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        bool ok = m->data.result == CURLE_OK && code >= 200 && code < 300;
        curl_multi_remove_handle(o->multi, m->easy_handle);
        curl_easy_cleanup(m->easy_handle);
        if (!p)
            continue;
        post_done(p);
        if (!ok && p->tries++ < o->cfg.webhook_retries) {
            p->due_ms = now_ms + (500LL << p->tries);           /* 1 s, 2 s, 4 s, ... */
            continue;
        }
        if (ok)
            o->webhook_sent++;
        else {
            o->webhook_failed++;
            log_warn("alert_out", "webhook %s: gave up after %u tries (%s, HTTP %ld)",
                     o->cfg.alert_webhook, p->tries, curl_easy_strerror(m->data.result), code);
        }
        free(p->body);
        p->body = NULL;
    }
    /* compact (drop finished posts) only when none is in flight: a curl handle's PRIVATE
     * points at its post's slot, which must not move under it (a moved post was freed
     * twice: a double free at close) */
    size_t k = 0, flying = 0;
    for (size_t i = 0; i < o->nq; i++)
        flying += o->q[i].easy != NULL;
    if (flying)
        return;
    for (size_t i = 0; i < o->nq; i++)
        if (o->q[i].body)
            o->q[k++] = o->q[i];
    o->nq = k;
}

/* on the loop's thread: put what the detection thread sent (copied out under the lock, put
 * outside it, so the detection thread never waits for the store) */
static void put_pending(struct alert_out *o)
{
    pthread_mutex_lock(&o->plock);
    size_t n = o->npending;
    struct pending *p = NULL;
    if (n && (p = malloc(n * sizeof *p)))
        memcpy(p, o->pending, n * sizeof *p);
    else if (n)
        o->dropped += n;
    o->npending = 0;
    pthread_mutex_unlock(&o->plock);
    for (size_t i = 0; p && i < n; i++)
        put(o, &p[i].a, p[i].final);
    free(p);
}

void alert_out_tick(void *ctx, int64_t now_ms)
{
    struct alert_out *o = ctx;
    pthread_mutex_lock(&o->lock);
    o->tick = true;             /* the detection thread ticks the engine */
    pthread_cond_signal(&o->nonempty);
    pthread_mutex_unlock(&o->lock);
    put_pending(o);
    put_links(o);
    webhook_drive(o, now_ms);
}

void alert_out_close(struct alert_out *o, struct alert_out_stats *out)
{
    if (!o)
        return;
    if (o->started) {           /* the thread feeds what is queued, then ends */
        pthread_mutex_lock(&o->lock);
        o->stop = true;
        pthread_cond_signal(&o->nonempty);
        pthread_mutex_unlock(&o->lock);
        pthread_join(o->thread, NULL);
        o->started = false;
        uint64_t n = detect_stats(o->d).records;
        log_info("alert_out", "detection thread cpu=%.3f s records=%llu ns_per_record=%.0f "
                 "long_strings=%llu", o->thread_cpu_ns / 1e9, (unsigned long long)n,
                 n ? (double)o->thread_cpu_ns / (double)n : 0.0,
                 (unsigned long long)o->long_strings);
    }
    if (o->d) {
        if (out)
            alert_out_stats(o, out);
        detect_flush(o->d);
        put_pending(o);
        put_links(o);
        log_info("alert_out", "links put=%llu dropped=%llu", (unsigned long long)o->links_put,
                 (unsigned long long)o->links_dropped);
        if (out)
            out->alerts = detect_stats(o->d).alerts;
    }
    if (o->multi) {             /* last chance for the final alerts: up to 2 s */
        for (int i = 0; i < 200 && o->nq; i++) {
            int64_t t = clock_mono_ms();
            for (size_t j = 0; j < o->nq; j++)
                o->q[j].due_ms = 0;
            webhook_drive(o, t);
            curl_multi_wait(o->multi, NULL, 0, 10, NULL);
        }
        for (size_t i = 0; i < o->nq; i++) {
            if (o->q[i].easy) {
                curl_multi_remove_handle(o->multi, o->q[i].easy);
                curl_easy_cleanup(o->q[i].easy);
            }
            post_done(&o->q[i]);
            free(o->q[i].body);
        }
        curl_multi_cleanup(o->multi);
    }
    if (o->cfg.alert_syslog)
        closelog();
    detect_free(o->d);
    free(o->next);
    free(o->pending);
    free_links(o->links, o->nlinks);
    free(o->chunks);
    free(o->run);
    pthread_mutex_destroy(&o->lock);
    pthread_mutex_destroy(&o->plock);
    pthread_cond_destroy(&o->nonempty);
    pthread_cond_destroy(&o->nonfull);
    free(o);
}

void alert_out_stats(const struct alert_out *o, struct alert_out_stats *out)
{
    struct detect_stats s = detect_stats(o->d);
    out->records = s.records;
    out->alerts = s.alerts;
    out->cap_hits = s.cap_hits;
    out->state_bytes = s.bytes;
    out->put_failed = o->put_failed;
    out->dropped = o->dropped;
}
