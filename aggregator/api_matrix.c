/* api_matrix.c -- matrix.json: sessions between network segments, for the page's segment
 * matrix (rows = source segment, columns = destination segment).
 * Owns:  the per-pair counts (sessions, failed sessions, distinct destination hosts), the
 *        baseline pass that marks pairs never seen before the window, and the expression
 *        that selects one pair's sessions.
 * Never: keeps a segment map of its own or reads the detect config: the map is the
 *        aggregator's one (http_server_segments: read at start and on SIGHUP, the map the
 *        stores render and expand ashiato.segments by), held for one request; answers
 *        without a window when a baseline is asked (new needs a "before").
 * Trap:  an address belongs to its LONGEST matching prefix (common/segmap.h), so a pair's
 *        expression is store_segments_condition's exact tree printed, never "ip.src == [the
 *        segment's prefixes]" (that takes in a nested prefix of another segment).
 *        The baseline pass is a second scan of the store: baseline=N hours before the window.
 *        "failed" is Zeek's no-answer/refused family of conn_state: S0 REJ RSTOS0 RSTRH SH SHR. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "query_parse.h"
#include "segmap.h"
#include "store_segments.h"

#define NSEG_MAX (SEGMAP_MAX_SEGMENTS + 1)     /* + "outside" */
#define HOUR_US  3600000000LL

struct cell {
    uint64_t sessions, failed;
    json_object *hosts;          /* set of destination addresses: keys only */
    bool before;                 /* seen in the baseline period */
};

struct matrix {
    const struct segmap *map;    /* the map in force, held for the request */
    struct api_query *aq;
    struct cell *cells;          /* NSEG_MAX * NSEG_MAX, index src * NSEG_MAX + dst */
    size_t nseg;                 /* map->n_names + 1: the last is "outside" */
    uint64_t matched;
    bool baseline_pass;
};

/* the row/column of an address in text: its segment's index, or the last for "outside" */
static size_t segment_of(const struct matrix *m, const char *ip)
{
    uint8_t raw[16], a[16];
    size_t len = 4;
    if (inet_pton(AF_INET, ip, raw) != 1) {
        if (inet_pton(AF_INET6, ip, raw) != 1)
            return m->nseg - 1;
        len = 16;
    }
    if (segmap_addr(a, raw, len) < 0)
        return m->nseg - 1;
    int s = segmap_find(m->map, a);
    return s >= 0 && (size_t)s < m->map->n_names ? (size_t)s : m->nseg - 1;
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
        size_t si = segment_of(m, json_object_get_string(s));
        size_t di = segment_of(m, json_object_get_string(d));
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
    return i + 1 == m->nseg ? SEGMAP_OUTSIDE_NAME : m->map->names[i];
}

/* The expression of one pair: "(expression) && " when one was asked, then the source's and
 * the destination's exact longest-prefix conditions (store_segments.c), printed. A new
 * string (free), or NULL when out of memory. */
static char *pair_expression(const struct matrix *m, size_t si, size_t di, const char *x)
{
    int s = si + 1 == m->nseg ? SEGMAP_OUTSIDE : (int)si;
    int d = di + 1 == m->nseg ? SEGMAP_OUTSIDE : (int)di;
    struct query_expr *src = store_segments_condition(m->map, true, s);
    struct query_expr *dst = store_segments_condition(m->map, false, d);
    struct query_expr both = { .kind = QUERY_AND, .pos = -1, .left = src, .right = dst };
    char *out = NULL;
    int need = src && dst ? query_expr_print(&both, NULL, 0) : -1;
    size_t xl = x ? strlen(x) + 6 : 0, cap = (size_t)need + xl + 1;
    if (need >= 0 && (out = malloc(cap))) {
        size_t n = x ? (size_t)snprintf(out, cap, "(%s) && ", x) : 0;
        query_expr_print(&both, out + n, cap - n);
    }
    query_expr_free(src);
    query_expr_free(dst);
    return out;
}

int api_matrix_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq = { 0 };
    struct matrix *m = calloc(1, sizeof *m);
    if (!m || !(m->cells = calloc((size_t)NSEG_MAX * NSEG_MAX, sizeof *m->cells))) {
        http_reply_error(rp, 500, -1, "out of memory");
        goto out;
    }
    if (!(m->map = segmap_live_get(http_server_segments(rq->srv)))) {
        http_reply_error(rp, 404, -1, "matrix.json: no segments configured (detect_config "
                         "with [segments])");
        goto out;
    }
    m->nseg = m->map->n_names + 1;
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
    const char *x = rq->params.expression && rq->params.expression[0] ? rq->params.expression
                                                                       : NULL;
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
            char key[2 * SEGMAP_NAME_LEN + 2];
            snprintf(key, sizeof key, "%s|%s", seg_name(m, si), seg_name(m, di));
            char *full = pair_expression(m, si, di, x);
            if (!full) {
                json_object_put(o);
                json_object_put(segs);
                json_object_put(cells);
                json_object_put(exprs);
                http_reply_error(rp, 500, -1, "out of memory");
                goto out;
            }
            json_object_object_add(exprs, key, json_object_new_string(full));
            free(full);
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
    if (m) {
        segmap_live_put(m->map);
        free(m->cells);
    }
    free(m);
    api_query_free(&aq);
    return 0;
}
