/* api_matrix.c -- matrix.json: sessions between network segments, for the page's segment
 * matrix (rows = source segment, columns = destination segment).
 * Owns:  the segment lookup (longest prefix of the detect config's [segments]; "outside"
 *        when none), the per-pair counts (sessions, failed sessions, distinct destination
 *        hosts), the baseline pass that marks pairs never seen before the window, and the
 *        expression that selects one pair's sessions.
 * Never: changes the detect config (it is read per request, as the detectors read it);
 *        answers without a window when a baseline is asked (new needs a "before").
 * Trap:  the baseline pass is a second scan of the store: baseline=N hours before the window.
 *        "failed" is Zeek's no-answer/refused family of conn_state: S0 REJ RSTOS0 RSTRH SH SHR. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "detect.h"

#define NSEG_MAX (DETECT_MAX_SEGMENTS + 1)     /* + "outside" */
#define HOUR_US  3600000000LL

struct cell {
    uint64_t sessions, failed;
    json_object *hosts;          /* set of destination addresses: keys only */
    bool before;                 /* seen in the baseline period */
};

struct matrix {
    struct detect_config cfg;
    struct api_query *aq;
    struct cell *cells;          /* NSEG_MAX * NSEG_MAX, index src * NSEG_MAX + dst */
    size_t nseg;                 /* cfg.n_segments + 1: the last is "outside" */
    uint64_t matched;
    bool baseline_pass;
};

static int segment_of(const struct matrix *m, const char *ip)
{
    uint8_t raw[16], a[16];
    size_t len = 4;
    if (inet_pton(AF_INET, ip, raw) != 1) {
        if (inet_pton(AF_INET6, ip, raw) != 1)
            return (int)m->nseg - 1;
        len = 16;
    }
    if (detect_addr_set(a, raw, len) < 0)
        return (int)m->nseg - 1;
    int best = -1, bits = -1;
    for (size_t i = 0; i < m->cfg.n_prefixes; i++) {
        const struct detect_prefix *p = &m->cfg.prefixes[i];
        if (p->segment >= 0 && p->bits > bits && detect_prefix_match(p, a)) {
            best = p->segment;
            bits = p->bits;
        }
    }
    return best >= 0 ? best : (int)m->nseg - 1;
}

static bool failed_state(const char *cs)
{
    static const char *const bad[] = { "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR" };
    for (size_t i = 0; cs && i < sizeof bad / sizeof bad[0]; i++)
        if (!strcmp(cs, bad[i]))
            return true;
    return false;
}

static int on_doc(void *ctx, const char *text, size_t len)
{
    struct matrix *m = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (!doc)
        return 0;
    json_object *s = api_doc_get(doc, "source.ip"), *d = api_doc_get(doc, "destination.ip");
    if (s && d && (m->baseline_pass || api_query_in_window(m->aq, doc))) {
        int si = segment_of(m, json_object_get_string(s));
        int di = segment_of(m, json_object_get_string(d));
        struct cell *c = &m->cells[si * NSEG_MAX + di];
        if (m->baseline_pass)
            c->before = true;
        else {
            m->matched++;
            c->sessions++;
            json_object *cs = api_doc_get(doc, "ashiato.conn_state");
            if (cs && failed_state(json_object_get_string(cs)))
                c->failed++;
            if (!c->hosts)
                c->hosts = json_object_new_object();
            if (c->hosts)
                json_object_object_add(c->hosts, json_object_get_string(d), NULL);
        }
    }
    json_object_put(doc);
    return 0;
}

static const char *seg_name(const struct matrix *m, size_t i)
{
    return i + 1 == m->nseg ? "outside" : m->cfg.segments[i];
}

/* "ip.src == [p1,p2]" for a segment, "ip.src != [every prefix]" for outside. */
static void seg_clause(const struct matrix *m, size_t seg, const char *field, char *out, size_t cap)
{
    bool outside = seg + 1 == m->nseg;
    size_t n = (size_t)snprintf(out, cap, "%s %s [", field, outside ? "!=" : "==");
    bool any = false;
    for (size_t i = 0; i < m->cfg.n_prefixes && n < cap; i++) {
        const struct detect_prefix *p = &m->cfg.prefixes[i];
        if (p->segment < 0 || (!outside && (size_t)p->segment != seg))
            continue;
        char a[48];
        detect_addr_text(p->addr, a);
        unsigned bits = detect_addr_is_v4(p->addr) ? p->bits - 96u : p->bits;
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s/%u", any ? "," : "", a, bits);
        any = true;
    }
    if (n < cap)
        snprintf(out + n, cap - n, "]");
    if (!any)
        snprintf(out, cap, "%s != 0.0.0.0/0", field);   /* a segment with no prefix: none */
}

int api_matrix_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq = { 0 };
    struct matrix *m = calloc(1, sizeof *m);
    char err[ASH_ERR_LEN];
    const char *path = http_server_detect_config(rq->srv);
    if (!m || !(m->cells = calloc((size_t)NSEG_MAX * NSEG_MAX, sizeof *m->cells))) {
        http_reply_error(rp, 500, -1, "out of memory");
        goto out;
    }
    detect_config_defaults(&m->cfg);
    if (!path || !path[0]) {
        http_reply_error(rp, 404, -1, "matrix.json: no segments configured (detect_config)");
        goto out;
    }
    if (detect_config_load(&m->cfg, path, err) < 0) {
        http_reply_error(rp, 503, -1, "matrix.json: %s", err);
        goto out;
    }
    m->nseg = m->cfg.n_segments + 1;
    if (api_query_build(rq, rp, &aq) < 0)
        goto out;
    m->aq = &aq;
    if (store_query_sessions(rq->st, &aq.q, on_doc, m, NULL) != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    long long base_h = rq->params.baseline_hours;
    bool baseline = aq.from_us > 0 && base_h > 0;
    if (baseline) {
        struct store_query bq = { .start_us = aq.from_us - base_h * HOUR_US, .end_us = aq.from_us };
        m->baseline_pass = true;
        if (store_query_sessions(rq->st, &bq, on_doc, m, NULL) != STORE_OK) {
            http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
            goto out;
        }
    }
    json_object *o = json_object_new_object(), *segs = json_object_new_array(),
                *cells = json_object_new_array(), *exprs = json_object_new_object();
    for (size_t i = 0; i < m->nseg; i++)
        json_object_array_add(segs, json_object_new_string(seg_name(m, i)));
    for (size_t si = 0; si < m->nseg; si++)
        for (size_t di = 0; di < m->nseg; di++) {
            struct cell *c = &m->cells[si * NSEG_MAX + di];
            if (!c->sessions)
                continue;
            json_object *e = json_object_new_object();
            json_object_object_add(e, "src", json_object_new_string(seg_name(m, si)));
            json_object_object_add(e, "dst", json_object_new_string(seg_name(m, di)));
            json_object_object_add(e, "sessions", json_object_new_int64((int64_t)c->sessions));
            json_object_object_add(e, "failed", json_object_new_int64((int64_t)c->failed));
            json_object_object_add(e, "hosts", json_object_new_int(c->hosts ? json_object_object_length(c->hosts) : 0));
            json_object_object_add(e, "new", json_object_new_boolean(baseline && !c->before));
            json_object_array_add(cells, e);
            char a[2048], b[2048], key[2 * DETECT_NAME_LEN + 2];
            seg_clause(m, si, "ip.src", a, sizeof a);
            seg_clause(m, di, "ip.dst", b, sizeof b);
            snprintf(key, sizeof key, "%s|%s", seg_name(m, si), seg_name(m, di));
            const char *x = rq->params.expression && rq->params.expression[0] ? rq->params.expression : NULL;
            size_t need = strlen(a) + strlen(b) + (x ? strlen(x) : 0) + 16;
            char *full = malloc(need);
            if (full) {
                snprintf(full, need, "%s%s%s%s && %s", x ? "(" : "", x ? x : "", x ? ") && " : "", a, b);
                json_object_object_add(exprs, key, json_object_new_string(full));
                free(full);
            }
        }
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)m->matched));
    json_object_object_add(o, "segments", segs);
    json_object_object_add(o, "cells", cells);
    json_object_object_add(o, "expressions", exprs);
    json_object_object_add(o, "baselineHours", baseline ? json_object_new_int64(base_h) : NULL);
    rp->count = (long long)m->matched;
    http_reply_json(rp, 200, o);
out:
    if (m && m->cells)
        for (size_t i = 0; i < (size_t)NSEG_MAX * NSEG_MAX; i++)
            json_object_put(m->cells[i].hosts);
    if (m)
        free(m->cells);
    free(m);
    api_query_free(&aq);
    return 0;
}
