/* api_pcap.c -- sessions.pcap and session/<id>.pcap: the packets of sessions, fetched from
 *               the sensors that hold them and merged in time order under one pcap header.
 * Owns:  the per-request fetch: sessions grouped by sensor (observer.name), one thread and
 *        one packet_client per sensor, all through the aggregator's packet broker (which
 *        reaches each sensor over that sensor's own connection), one deadline for all; the
 *        merge of the answers' records by timestamp.
 * Never: waits past the deadline (http_pcap_timeout_ms): a sensor that has not answered by
 *        then is named failed in X-Ashiato-Failed-Sensors and the audit log; opens a socket
 *        to a sensor itself.
 * Trap:  pcap answers may be microsecond or nanosecond files; records are ordered by their
 *        time in nanoseconds and written under the first answer's header, and an answer of
 *        another link type or precision is refused (named in the failed list), not mixed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_query.h"
#include "clock.h"
#include "packet_client.h"

#define PCAP_SESSIONS_MAX 10000
#define PCAP_SENSORS_MAX  64
#define PCAP_HDR 24
#define REC_HDR 16

struct sensor_job {
    char name[128];
    char **docs;                 /* the session documents of this sensor (malloc'd text) */
    size_t *lens;
    size_t n, cap;
    const char *endpoint;
    int64_t deadline_ms;
    /* results */
    struct packet_client_result *res;   /* one per doc */
    char failed[ASH_ERR_LEN];    /* "" = every session answered */
    pthread_t th;
    bool started;
};

struct gather {
    struct sensor_job *jobs;
    size_t njobs;
    size_t sessions;
    bool too_many;
    int err;
};

static struct sensor_job *job_for(struct gather *g, const char *sensor)
{
    for (size_t i = 0; i < g->njobs; i++)
        if (!strcmp(g->jobs[i].name, sensor))
            return &g->jobs[i];
    if (g->njobs == PCAP_SENSORS_MAX)
        return NULL;
    struct sensor_job *j = &g->jobs[g->njobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", sensor);
    return j;
}

static int add_doc(void *ctx, const char *text, size_t len)
{
    struct gather *g = ctx;
    if (g->sessions >= PCAP_SESSIONS_MAX) {
        g->too_many = true;
        return 1;
    }
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    json_object *obs = doc ? api_doc_get(doc, "observer.name") : NULL;
    struct sensor_job *j = job_for(g, obs ? json_object_get_string(obs) : "");
    json_object_put(doc);
    if (!j) {
        g->err = 1;
        return 1;
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        char **d = realloc(j->docs, cap * sizeof *d);
        if (d)
            j->docs = d;
        size_t *l = d ? realloc(j->lens, cap * sizeof *l) : NULL;
        if (!l) {
            g->err = 1;
            return 1;
        }
        j->lens = l;
        j->cap = cap;
    }
    if (!(j->docs[j->n] = strndup(text, len))) {
        g->err = 1;
        return 1;
    }
    j->lens[j->n++] = len;
    g->sessions++;
    return 0;
}

static void *fetch_sensor(void *arg)
{
    struct sensor_job *j = arg;
    char err[ASH_ERR_LEN];
    j->res = ash_calloc_array(j->n ? j->n : 1, sizeof *j->res);
    struct packet_client *pc = j->res ? packet_client_open(j->endpoint, err) : NULL;
    if (!pc) {
        snprintf(j->failed, sizeof j->failed, "%s", j->res ? err : "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < j->n; i++) {
        int64_t left = j->deadline_ms - clock_mono_ms();
        if (left <= 0) {
            snprintf(j->failed, sizeof j->failed, "no answer within the deadline");
            break;
        }
        struct packet_client_query q;
        memset(&q, 0, sizeof q);
        if (packet_client_query_from_json(&q, j->docs[i], j->lens[i], err) < 0) {
            snprintf(j->failed, sizeof j->failed, "session %zu: %s", i, err);
            packet_client_query_free(&q);
            continue;
        }
        enum packet_client_status s = packet_client_fetch(pc, &q, (int)left, &j->res[i]);
        packet_client_query_free(&q);
        if (s != PACKET_CLIENT_OK) {
            snprintf(j->failed, sizeof j->failed, "%s: %s", packet_client_status_name(s),
                     j->res[i].error);
            /* not answering, or not connected: its other sessions would fail the same way */
            if (!packet_client_answered(s) || s == PACKET_CLIENT_NOT_FOUND)
                break;
        }
    }
    packet_client_close(pc);
    return NULL;
}

struct rec {
    const uint8_t *p;            /* record header + data */
    size_t len;
    int64_t ns;
    size_t seq;                  /* stable order among equal times */
};

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->ns != y->ns)
        return x->ns < y->ns ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static uint32_t rd32(const uint8_t *p, bool swap)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return swap ? __builtin_bswap32(v) : v;
}

/* The merge. Returns the pcap (malloc'd) or NULL when out of memory; note gets the sensors
 * whose answers were left out for their header (another link type or time precision). */
static uint8_t *merge(struct gather *g, size_t *out_len, uint64_t *packets, char *note, size_t notesz)
{
    uint8_t header[PCAP_HDR];
    bool have_header = false, swap = false, nano = false;
    size_t nrec = 0, cap = 0, bytes = PCAP_HDR;
    struct rec *recs = NULL;
    for (size_t i = 0; i < g->njobs; i++) {
        struct sensor_job *j = &g->jobs[i];
        for (size_t k = 0; j->res && k < j->n; k++) {
            const struct packet_client_result *r = &j->res[k];
            if (r->status != PACKET_CLIENT_OK || !r->pcap || r->len < PCAP_HDR)
                continue;
            uint32_t magic = rd32(r->pcap, false);
            bool s = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
            bool ns = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
            if (!have_header) {
                memcpy(header, r->pcap, PCAP_HDR);
                have_header = true;
                swap = s;
                nano = ns;
            } else if (s != swap || ns != nano || rd32(r->pcap + 20, s) != rd32(header + 20, swap)) {
                size_t l = strlen(note);
                snprintf(note + l, notesz - l, "%s%s (answer of another link type or time "
                         "precision left out)", l ? "; " : "", j->name);
                continue;
            }
            const uint8_t *p = r->pcap + PCAP_HDR, *end = r->pcap + r->len;
            while (end - p >= REC_HDR) {
                uint32_t caplen = rd32(p + 8, s);
                if ((size_t)(end - p - REC_HDR) < caplen)
                    break;
                if (nrec == cap) {
                    cap = cap ? cap * 2 : 256;
                    struct rec *nr = realloc(recs, cap * sizeof *nr);
                    if (!nr) {
                        free(recs);
                        return NULL;
                    }
                    recs = nr;
                }
                int64_t t = (int64_t)rd32(p, s) * 1000000000LL +
                            (int64_t)rd32(p + 4, s) * (ns ? 1 : 1000);
                recs[nrec] = (struct rec){ p, REC_HDR + caplen, t, nrec };
                nrec++;
                bytes += REC_HDR + caplen;
                p += REC_HDR + caplen;
            }
        }
    }
    if (!have_header) {
        /* no packets at all: an empty microsecond Ethernet capture */
        static const uint8_t empty[PCAP_HDR] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0 };
        memcpy(header, empty, PCAP_HDR);
    }
    if (nrec)
        qsort(recs, nrec, sizeof *recs, cmp_rec);
    uint8_t *out = malloc(bytes);
    if (!out) {
        free(recs);
        return NULL;
    }
    memcpy(out, header, PCAP_HDR);
    size_t o = PCAP_HDR;
    for (size_t i = 0; i < nrec; i++) {
        memcpy(out + o, recs[i].p, recs[i].len);
        o += recs[i].len;
    }
    free(recs);
    *out_len = o;
    *packets = nrec;
    return out;
}

static void gather_free(struct gather *g)
{
    for (size_t i = 0; i < g->njobs; i++) {
        struct sensor_job *j = &g->jobs[i];
        for (size_t k = 0; k < j->n; k++) {
            free(j->docs[k]);
            if (j->res)
                packet_client_result_free(&j->res[k]);
        }
        free(j->docs);
        free(j->lens);
        free(j->res);
    }
    free(g->jobs);
}

static int serve_pcap(struct http_request *rq, struct http_reply *rp, struct gather *g)
{
    const char *endpoint = http_server_packet_endpoint(rq->srv);
    if (!endpoint[0])
        return http_reply_error(rp, 503, -1, "packets are not reachable: the aggregator has no "
                                "packet_endpoint (set it to let the API ask sensors)");
    int64_t deadline = clock_mono_ms() + http_server_pcap_timeout_ms(rq->srv);
    for (size_t i = 0; i < g->njobs; i++) {
        g->jobs[i].endpoint = endpoint;
        g->jobs[i].deadline_ms = deadline;
        g->jobs[i].started = pthread_create(&g->jobs[i].th, NULL, fetch_sensor, &g->jobs[i]) == 0;
        if (!g->jobs[i].started)
            snprintf(g->jobs[i].failed, sizeof g->jobs[i].failed, "no thread");
    }
    for (size_t i = 0; i < g->njobs; i++)
        if (g->jobs[i].started)
            pthread_join(g->jobs[i].th, NULL);
    char failed[sizeof rp->extra_value] = "";
    size_t nfailed = 0;
    for (size_t i = 0; i < g->njobs; i++)
        if (g->jobs[i].failed[0]) {
            size_t l = strlen(failed);
            snprintf(failed + l, sizeof failed - l, "%s%s (%.120s)", l ? "; " : "",
                     g->jobs[i].name[0] ? g->jobs[i].name : "(no observer.name)", g->jobs[i].failed);
            nfailed++;
        }
    size_t len = 0;
    uint64_t packets = 0;
    char note[256] = "";
    uint8_t *pcap = merge(g, &len, &packets, note, sizeof note);
    if (!pcap)
        return http_reply_error(rp, 500, -1, "out of memory merging packets");
    if (note[0]) {
        size_t l = strlen(failed);
        snprintf(failed + l, sizeof failed - l, "%s%s", l ? "; " : "", note);
    }
    if (failed[0]) {
        snprintf(rp->extra_name, sizeof rp->extra_name, "X-Ashiato-Failed-Sensors");
        snprintf(rp->extra_value, sizeof rp->extra_value, "%s", failed);
        snprintf(rp->audit_note, sizeof rp->audit_note, "failed sensors: %.230s", failed);
    }
    if (nfailed && nfailed == g->njobs && packets == 0) {
        free(pcap);
        http_reply_error(rp, 502, -1, "no packets: every sensor asked failed: %s", failed);
        snprintf(rp->audit_note, sizeof rp->audit_note, "failed sensors: %.230s", failed);
        return 0;
    }
    rp->status = 200;
    rp->count = (long long)packets;
    return http_reply_take(rp, "application/vnd.tcpdump.pcap", (char *)pcap, len);
}

int api_sessions_pcap(struct http_request *rq, struct http_reply *rp)
{
    struct gather g = { .jobs = ash_calloc_array(PCAP_SENSORS_MAX, sizeof(struct sensor_job)) };
    struct api_query aq = { 0 };
    if (!g.jobs)
        return http_reply_error(rp, 500, -1, "out of memory");
    if (rq->params.nids) {
        for (size_t i = 0; i < rq->params.nids && !g.err; i++) {
            /* ?sensor= names whose sessions the ids are (ids are unique per sensor) */
            int rc = rq->params.sensor
                     ? store_get_session_of(rq->st, rq->params.sensor, rq->params.ids[i],
                                            add_doc, &g)
                     : store_get_session(rq->st, rq->params.ids[i], add_doc, &g);
            if (rc == STORE_ERR_NOT_FOUND) {
                http_reply_error(rp, 404, -1, "session %s: not found", rq->params.ids[i]);
                goto out;
            }
            if (rc != STORE_OK) {
                http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
                goto out;
            }
        }
    } else {
        if (api_query_build(rq, rp, &aq) < 0)
            goto out;
        if (store_query_sessions(rq->st, &aq.q, add_doc, &g, NULL) != STORE_OK && !g.too_many &&
            !g.err) {
            http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
            goto out;
        }
    }
    if (g.too_many) {
        http_reply_error(rp, 413, -1, "more than %d sessions match; narrow the expression or the "
                         "time range", PCAP_SESSIONS_MAX);
        goto out;
    }
    if (g.err) {
        http_reply_error(rp, 500, -1, "out of memory, or sessions of more than %d sensors",
                         PCAP_SENSORS_MAX);
        goto out;
    }
    serve_pcap(rq, rp, &g);
out:
    api_query_free(&aq);
    gather_free(&g);
    return 0;
}

int api_session_pcap(struct http_request *rq, struct http_reply *rp)
{
    struct gather g = { .jobs = ash_calloc_array(PCAP_SENSORS_MAX, sizeof(struct sensor_job)) };
    if (!g.jobs)
        return http_reply_error(rp, 500, -1, "out of memory");
    /* one sensor's session: ?sensor=, or the only sensor holding the id (api_sessions.c) */
    json_object *doc = api_session_find(rq, rp, rq->id);
    size_t len = 0;
    const char *text = doc ? json_object_to_json_string_length(doc, JSON_C_TO_STRING_PLAIN,
                                                               &len) : NULL;
    if (doc && (!text || (add_doc(&g, text, len), g.err)))
        http_reply_error(rp, 500, -1, "out of memory");
    else if (doc)
        serve_pcap(rq, rp, &g);
    json_object_put(doc);
    gather_free(&g);
    return 0;
}
