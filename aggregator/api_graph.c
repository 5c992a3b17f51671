/* api_graph.c -- sessions.json's graph: sessionsHisto and the packets/bytes histograms
 * (Arkime's shape, keys in ms) from the store's aggregation, and graph.stack, the same
 * buckets split by sensor or by source segment (stack=sensor|segment, docs/api.md).
 * Owns:  the buckets of one request; the segment conditions (query_parse.h trees that
 *        store_segments_condition builds from the aggregator's segment map, never printed
 *        and parsed back).
 * Never: walks session documents (store_histogram counts and sums in the store); frees the
 *        caller's expression (a segment's tree borrows it as its left branch); reads the
 *        detect config or keeps a map: the map is the aggregator's one (http_server_segments:
 *        read at start and on SIGHUP, the stores' own), held for one request.
 * Trap:  a source belongs to the segment of its longest matching prefix (as matrix.json, the
 *        detectors and ashiato.segments say): each of a segment's prefixes counts its
 *        addresses that no longer (or equal, earlier listed) prefix takes, whatever segment
 *        that one is; "outside" is "in none". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "query_parse.h"
#include "segmap.h"
#include "store_segments.h"

/* the graph's histograms: their Arkime names and the store's sums */
static const struct { const char *name; int sum; } histos[] = {
    { "source.packetsHisto", STORE_SUM_SRC_PACKETS },
    { "destination.packetsHisto", STORE_SUM_DST_PACKETS },
    { "source.bytesHisto", STORE_SUM_SRC_BYTES },
    { "destination.bytesHisto", STORE_SUM_DST_BYTES },
    { "client.bytesHisto", STORE_SUM_SRC_DATA },
    { "server.bytesHisto", STORE_SUM_DST_DATA },
};

struct series {
    char *name;
    struct store_histo_bucket *b;    /* ascending keys */
    size_t n, cap;
};

struct graph {
    struct series all;               /* the query's buckets */
    struct series *s;                /* stack series */
    size_t ns, cap;
    bool merge;                      /* by-sensor answers summed into `all` too */
    int oom;
};

static int push(struct series *se, const struct store_histo_bucket *b)
{
    if (se->n && se->b[se->n - 1].key_us == b->key_us) {
        struct store_histo_bucket *t = &se->b[se->n - 1];
        t->sessions += b->sessions;
        for (int i = 0; i < STORE_SUM_COUNT; i++)
            t->sums[i] += b->sums[i];
        return 0;
    }
    if (se->n == se->cap) {
        size_t cap = se->cap ? se->cap * 2 : 64, bytes;
        if (!ash_mul_size(cap, sizeof *se->b, &bytes))
            return -1;
        struct store_histo_bucket *nb = realloc(se->b, bytes);
        if (!nb)
            return -1;
        se->b = nb;
        se->cap = cap;
    }
    se->b[se->n++] = *b;
    return 0;
}

static struct series *new_series(struct graph *g, const char *name)
{
    if (g->ns == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct series *s = realloc(g->s, cap * sizeof *s);
        if (!s)
            return NULL;
        g->s = s;
        g->cap = cap;
    }
    struct series *se = &g->s[g->ns];
    memset(se, 0, sizeof *se);
    if (!(se->name = strdup(name)))
        return NULL;
    g->ns++;
    return se;
}

static int on_all(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct graph *g = ctx;
    (void)series;
    if (push(&g->all, b) < 0)
        g->oom = 1;
    return g->oom;
}

/* by sensor: one series per sensor, in order; `all` is their sum per key */
static int on_sensor(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct graph *g = ctx;
    struct series *se = g->ns && !strcmp(g->s[g->ns - 1].name, series ? series : "")
                        ? &g->s[g->ns - 1] : new_series(g, series ? series : "");
    if (!se || push(se, b) < 0)
        g->oom = 1;
    return g->oom;
}

static int on_segment(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct graph *g = ctx;
    (void)series;
    if (push(&g->s[g->ns - 1], b) < 0)
        g->oom = 1;
    return g->oom;
}

static int cmp_bucket(const void *a, const void *b)
{
    int64_t x = ((const struct store_histo_bucket *)a)->key_us;
    int64_t y = ((const struct store_histo_bucket *)b)->key_us;
    return (x > y) - (x < y);
}

/* `all` as the per-key sum of the sensor series */
static int merge_series(struct graph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->ns; i++)
        n += g->s[i].n;
    if (!n)
        return 0;
    struct store_histo_bucket *tmp = ash_calloc_array(n, sizeof *tmp);
    if (!tmp)
        return -1;
    n = 0;
    for (size_t i = 0; i < g->ns; i++) {
        memcpy(tmp + n, g->s[i].b, g->s[i].n * sizeof *tmp);
        n += g->s[i].n;
    }
    qsort(tmp, n, sizeof *tmp, cmp_bucket);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = push(&g->all, &tmp[i]);
    free(tmp);
    return rc;
}

/* ---- segments ------------------------------------------------------------------------ */

static int by_segment(struct http_request *rq, struct http_reply *rp, const struct api_query *aq,
                      struct graph *g, int64_t width_us)
{
    const struct segmap *m = segmap_live_get(http_server_segments(rq->srv));
    if (!m) {
        http_reply_error(rp, 400, -1, "stack=segment: no segments configured (detect_config "
                         "with [segments])");
        return -1;
    }
    int rc = 0;
    for (int seg = 0; seg <= (int)m->n_names && rc == 0; seg++) {
        bool outside = seg == (int)m->n_names;
        /* the source's segment (store_segments.c: the stores' own rule); the caller's tree is
         * borrowed as the left branch of an AND on the stack */
        struct query_expr *cond = store_segments_condition(m, true, outside ? SEGMAP_OUTSIDE
                                                                           : seg);
        struct query_expr and = { .kind = QUERY_AND, .pos = -1,
                                  .left = (struct query_expr *)aq->q.expr, .right = cond };
        struct store_query q = aq->q;
        q.expr = aq->q.expr ? &and : cond;
        if (!cond || !new_series(g, outside ? SEGMAP_OUTSIDE_NAME : m->names[seg])) {
            http_reply_error(rp, 500, -1, "out of memory");
            rc = -1;
        } else if (store_histogram(rq->st, &q, width_us, false, on_segment, g) != STORE_OK) {
            http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
            rc = -1;
        }
        query_expr_free(cond);
    }
    segmap_live_put(m);
    return rc;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static json_object *pair(int64_t key_us, uint64_t v)
{
    json_object *p = json_object_new_array();
    json_object_array_add(p, json_object_new_int64(key_us / 1000));
    json_object_array_add(p, json_object_new_int64((int64_t)v));
    return p;
}

static json_object *histo_array(const struct series *se, int which)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < se->n; i++)
        json_object_array_add(a, pair(se->b[i].key_us, which < 0 ? se->b[i].sessions
                                                                  : se->b[i].sums[which]));
    return a;
}

/* a series on the keys of `all`, 0 where it has none */
static json_object *aligned(const struct series *all, const struct series *se)
{
    json_object *a = json_object_new_array();
    size_t j = 0;
    for (size_t i = 0; i < all->n; i++) {
        while (j < se->n && se->b[j].key_us < all->b[i].key_us)
            j++;
        uint64_t v = j < se->n && se->b[j].key_us == all->b[i].key_us ? se->b[j].sessions : 0;
        json_object_array_add(a, pair(all->b[i].key_us, v));
    }
    return a;
}

static json_object *graph_json(const char *stack, const struct api_query *aq, struct graph *g,
                               uint64_t *matched);
static void graph_free(struct graph *g);

json_object *api_graph_build(struct http_request *rq, struct http_reply *rp,
                             const struct api_query *aq, uint64_t *matched)
{
    struct graph g = { .all = { .name = NULL } };
    const char *stack = rq->params.stack;
    int64_t width_us = aq->interval_s * 1000000LL;
    json_object *graph = NULL;
    int rc;
    if (stack && !strcmp(stack, "sensor"))
        rc = store_histogram(rq->st, &aq->q, width_us, true, on_sensor, &g);
    else
        rc = store_histogram(rq->st, &aq->q, width_us, false, on_all, &g);
    if (rc != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    if (!g.oom && stack && !strcmp(stack, "sensor") && merge_series(&g) < 0)
        g.oom = 1;
    if (!g.oom && stack && !strcmp(stack, "segment") && by_segment(rq, rp, aq, &g, width_us) < 0)
        goto out;
    if (g.oom) {
        http_reply_error(rp, 500, -1, "out of memory building the graph");
        goto out;
    }
    graph = graph_json(stack, aq, &g, matched);
out:
    graph_free(&g);
    return graph;
}

/* the buckets a store_query_page call handed over (no stack): api_graph_build's answer */
int api_graph_bucket(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct api_graph_buckets *gb = ctx;
    if (gb->n == gb->cap) {
        size_t cap = gb->cap ? gb->cap * 2 : 64, bytes;
        struct store_histo_bucket *nb;
        if (!ash_mul_size(cap, sizeof *nb, &bytes) || !(nb = realloc(gb->b, bytes)))
            return gb->oom = 1;
        gb->b = nb;
        gb->cap = cap;
    }
    (void)series;
    gb->b[gb->n++] = *b;
    return 0;
}

json_object *api_graph_of(struct http_reply *rp, const struct api_query *aq,
                          struct api_graph_buckets *gb, uint64_t *matched)
{
    struct graph g = { .all = { .b = gb->b, .n = gb->n, .cap = gb->cap } };
    if (gb->oom) {
        http_reply_error(rp, 500, -1, "out of memory building the graph");
        return NULL;
    }
    return graph_json(NULL, aq, &g, matched);
}

static json_object *graph_json(const char *stack, const struct api_query *aq, struct graph *gp,
                               uint64_t *matched)
{
    struct graph g = *gp;
    json_object *graph;
    uint64_t total = 0, packets = 0, bytes = 0;
    for (size_t i = 0; i < g.all.n; i++) {
        total += g.all.b[i].sessions;
        packets += g.all.b[i].sums[STORE_SUM_SRC_PACKETS] + g.all.b[i].sums[STORE_SUM_DST_PACKETS];
        bytes += g.all.b[i].sums[STORE_SUM_SRC_BYTES] + g.all.b[i].sums[STORE_SUM_DST_BYTES];
    }
    graph = json_object_new_object();
    json_object_object_add(graph, "xmin", aq->from_us ? json_object_new_int64(aq->from_us / 1000)
                                                      : NULL);
    json_object_object_add(graph, "xmax", aq->to_us ? json_object_new_int64(aq->to_us / 1000)
                                                    : NULL);
    json_object_object_add(graph, "interval", json_object_new_int64(aq->interval_s));
    json_object_object_add(graph, "sessionsHisto", histo_array(&g.all, -1));
    json_object_object_add(graph, "sessionsTotal", json_object_new_int64((int64_t)total));
    for (size_t i = 0; i < ASH_ARRAY_LEN(histos); i++)
        json_object_object_add(graph, histos[i].name, histo_array(&g.all, histos[i].sum));
    json_object_object_add(graph, "network.packetsTotal", json_object_new_int64((int64_t)packets));
    json_object_object_add(graph, "network.bytesTotal", json_object_new_int64((int64_t)bytes));
    if (stack) {
        json_object *st = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(st, "by", json_object_new_string(stack));
        for (size_t i = 0; i < g.ns; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(g.s[i].name));
            json_object_object_add(o, "sessionsHisto", aligned(&g.all, &g.s[i]));
            json_object_array_add(arr, o);
        }
        json_object_object_add(st, "series", arr);
        json_object_object_add(graph, "stack", st);
    }
    *matched = total;
    return graph;
}

static void graph_free(struct graph *g)
{
    for (size_t i = 0; i < g->ns; i++) {
        free(g->s[i].name);
        free(g->s[i].b);
    }
    free(g->s);
    free(g->all.b);
}
