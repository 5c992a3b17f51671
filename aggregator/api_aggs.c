/* api_aggs.c -- unique.txt, spigraph.json and connections.json: counts over the values of
 *               fields of the matching sessions.
 * Owns:  the per-request tallies: the store's buckets (store_count_by) re-sorted, or, for the
 *        fields count_by does not answer alike (times, booleans, decimals, ashiato.segments,
 *        ashiato.linked) and for connections.json, json-c objects used as hash maps
 *        (value -> count) filled by a walk over the matching documents.
 * Never: keeps a document past its callback; pastes a value into expression text (spigraph's
 *        per-value histograms AND a comparison node built here onto the request's tree).
 * Trap:  both ways count a session once under each of its distinct non-empty values, and
 *        sort by count descending then by the value's text in byte order (strcmp), whatever
 *        order the store gives equal counts in: integers tie as text ("443" before "80"). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "field_catalog.h"
#include "query_parse.h"

struct tally {
    struct api_query *aq;
    char path[128], path2[128];      /* the field; connections: the destination field */
    bool dst_port;                   /* connections: dstField "X:port" */
    json_object *counts;             /* value -> {"n":count, "h":{ms:count}} or link map */
    json_object *nodes, *links;      /* connections */
    uint64_t matched;
    bool histo;
};

static json_object *parse(const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    return doc;
}

static void bump(json_object *map, const char *key, int64_t by)
{
    json_object *v;
    if (json_object_object_get_ex(map, key, &v))
        json_object_set_int64(v, json_object_get_int64(v) + by);
    else
        json_object_object_add(map, key, json_object_new_int64(by));
}

struct one_doc {
    struct tally *t;
    int64_t key_ms;
    json_object *seen;               /* the document's values counted already */
};

static int count_value(void *ctx, json_object *v)
{
    struct one_doc *od = ctx;
    char buf[64], key[32];
    const char *text = api_value_text(v, buf);
    json_object *e;
    /* a session counts once under each distinct non-empty value, as store_count_by */
    if (!*text || json_object_object_get_ex(od->seen, text, NULL))
        return 0;
    json_object_object_add(od->seen, text, NULL);
    if (!json_object_object_get_ex(od->t->counts, text, &e)) {
        e = json_object_new_object();
        json_object_object_add(e, "n", json_object_new_int64(0));
        json_object_object_add(e, "h", json_object_new_object());
        json_object_object_add(od->t->counts, text, e);
    }
    bump(e, "n", 1);
    if (od->t->histo) {
        json_object *h;
        json_object_object_get_ex(e, "h", &h);
        snprintf(key, sizeof key, "%lld", (long long)od->key_ms);
        bump(h, key, 1);
    }
    return 0;
}

static int on_value_doc(void *ctx, json_object *doc)
{
    struct tally *t = ctx;
    if (api_query_in_window(t->aq, doc)) {
        t->matched++;
        int64_t iv = t->aq->interval_s * 1000, ms = api_doc_time(doc, "event.start") / 1000;
        struct one_doc od = { t, (ms >= 0 ? ms / iv : -((-ms + iv - 1) / iv)) * iv,
                              json_object_new_object() };
        api_doc_each(doc, t->path, count_value, &od);
        json_object_put(od.seen);
    }
    return 0;
}

struct kv {
    const char *key;
    json_object *e;
    int64_t n;
};

static int cmp_kv(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->key, y->key);
}

/* the tally as an array sorted by count descending, then value */
static struct kv *sorted(json_object *counts, size_t *n)
{
    *n = (size_t)json_object_object_length(counts);
    struct kv *a = ash_calloc_array(*n ? *n : 1, sizeof *a);
    if (!a)
        return NULL;
    size_t i = 0;
    json_object_object_foreach(counts, k, v) {
        json_object *nv;
        a[i].key = k;
        a[i].e = v;
        a[i].n = json_object_object_get_ex(v, "n", &nv) ? json_object_get_int64(nv)
                                                         : json_object_get_int64(v);
        i++;
    }
    qsort(a, *n, sizeof *a, cmp_kv);
    return a;
}

/* ---- the store's buckets ---------------------------------------------------------------- */

/* The catalogue field when store_count_by answers for it exactly what the walk would tally:
 * addresses, integers and keywords (their keys print alike from both); NULL for the others. */
static const struct field_def *countable(const char *name)
{
    const struct field_def *f = field_catalog_find(name, (size_t)-1);
    if (!f || (f->flags & (FIELD_PSEUDO | FIELD_SUM | FIELD_SEGMAP | FIELD_LINKS)))
        return NULL;
    return f->type == FIELD_IP || f->type == FIELD_INTEGER || f->type == FIELD_KEYWORD ? f : NULL;
}

struct buckets {
    struct kv *a;                    /* key points into a string of keep */
    size_t n, cap;
    json_object *keep;               /* the keys' texts */
    int oom;
};

static int on_bucket(void *ctx, const char *text, size_t len)
{
    struct buckets *bs = ctx;
    json_object *o = parse(text, len), *k, *c;
    if (!o || !json_object_object_get_ex(o, "key", &k) ||
        !json_object_object_get_ex(o, "count", &c)) {
        json_object_put(o);
        return 0;
    }
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 64, bytes;
        struct kv *na;
        if (!ash_mul_size(cap, sizeof *na, &bytes) || !(na = realloc(bs->a, bytes))) {
            json_object_put(o);
            return bs->oom = 1;
        }
        bs->a = na;
        bs->cap = cap;
    }
    char buf[64];
    json_object *key = json_object_new_string(api_value_text(k, buf));
    if (!key || json_object_array_add(bs->keep, key) < 0) {
        json_object_put(key);
        json_object_put(o);
        return bs->oom = 1;
    }
    bs->a[bs->n].key = json_object_get_string(key);
    bs->a[bs->n].e = NULL;
    bs->a[bs->n++].n = json_object_get_int64(c);
    json_object_put(o);
    return 0;
}

static void buckets_free(struct buckets *bs)
{
    free(bs->a);
    json_object_put(bs->keep);
    memset(bs, 0, sizeof *bs);
}

/* store_count_by of q over f into bs, sorted as the walk sorts (cmp_kv). top 0: every bucket;
 * else at least the first top are those of that order: the store may order equal counts
 * otherwise, so when the bucket after the top-th has its count, all buckets are asked for.
 * STORE_OK, or the store's code (STORE_ERR_RETRY with bs->oom out of memory). */
static int count_buckets(struct store *st, const struct store_query *q, const struct field_def *f,
                         size_t top, struct buckets *bs)
{
    struct store_query cq = *q;
    memset(bs, 0, sizeof *bs);
    if (!(bs->keep = json_object_new_array()))
        return bs->oom = 1, STORE_ERR_RETRY;
    cq.offset = 0;
    cq.limit = top ? top + 1 : 0;
    int rc = store_count_by(st, &cq, f->name, on_bucket, bs);
    if (rc == STORE_OK && !bs->oom && top && bs->n == top + 1 && bs->a[top].n == bs->a[top - 1].n) {
        buckets_free(bs);
        if (!(bs->keep = json_object_new_array()))
            return bs->oom = 1, STORE_ERR_RETRY;
        cq.limit = 0;
        rc = store_count_by(st, &cq, f->name, on_bucket, bs);
    }
    if (rc == STORE_OK && bs->oom)
        rc = STORE_ERR_RETRY;
    if (rc == STORE_OK && bs->n > 1)
        qsort(bs->a, bs->n, sizeof *bs->a, cmp_kv);
    return rc;
}

/* v: `f == key` for one key count_by gave (its text); false when it does not read back */
static bool value_of(const struct field_def *f, const char *key, struct query_value *v)
{
    memset(v, 0, sizeof *v);
    v->port = -1;
    if (f->type == FIELD_INTEGER) {
        char *end;
        v->kind = QUERY_V_INT;
        v->lo = v->hi = strtoll(key, &end, 10);
        return *key && !*end;
    }
    if (f->type == FIELD_IP) {
        v->kind = QUERY_V_IP;
        uint8_t a4[4];
        if (inet_pton(AF_INET, key, a4) == 1) {
            v->v4 = true;
            v->prefix = 32;
            v->ip_lo[10] = v->ip_lo[11] = 0xff;
            memcpy(v->ip_lo + 12, a4, 4);
        } else if (inet_pton(AF_INET6, key, v->ip_lo) == 1) {
            v->prefix = 128;
        } else {
            return false;
        }
        memcpy(v->ip_hi, v->ip_lo, 16);
        return true;
    }
    v->kind = QUERY_V_TEXT;
    v->text = (char *)key;           /* lent for the call; the tree is never freed */
    return true;
}

static int sum_sessions(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    (void)series;
    *(uint64_t *)ctx += b->sessions;
    return 0;
}

/* [[ms, sessions], ...] of the sessions of aq whose field f holds key; NULL with rp filled */
static json_object *value_histo(struct http_request *rq, struct http_reply *rp,
                                const struct api_query *aq, const struct field_def *f,
                                const char *key)
{
    struct query_value v;
    if (!value_of(f, key, &v)) {
        http_reply_error(rp, 500, -1, "spigraph.json: value '%.80s' of %s does not read back",
                         key, f->name);
        return NULL;
    }
    struct query_expr cmp = { .kind = QUERY_CMP, .field = f, .op = QUERY_EQ, .n = 1, .v = &v };
    struct query_expr both = { .kind = QUERY_AND, .left = aq->expr, .right = &cmp };
    struct store_query q = aq->q;
    q.expr = aq->expr ? &both : &cmp;
    struct api_graph_buckets gb = { 0 };
    if (store_histogram(rq->st, &q, aq->interval_s * 1000000LL, false, api_graph_bucket,
                        &gb) != STORE_OK) {
        free(gb.b);
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        return NULL;
    }
    json_object *a = json_object_new_array();
    for (size_t i = 0; a && i < gb.n; i++) {
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_int64(gb.b[i].key_us / 1000));
        json_object_array_add(pair, json_object_new_int64((int64_t)gb.b[i].sessions));
        json_object_array_add(a, pair);
    }
    free(gb.b);
    if (!a || gb.oom) {
        json_object_put(a);
        http_reply_error(rp, 500, -1, "out of memory");
        return NULL;
    }
    return a;
}

static int start_tally(struct http_request *rq, struct http_reply *rp, struct api_query *aq,
                       struct tally *t, const char *field, const char *what)
{
    char err[ASH_ERR_LEN];
    memset(t, 0, sizeof *t);
    t->aq = aq;
    if (!field || !*field) {
        http_reply_error(rp, 400, -1, "%s: the field parameter is required (field=ip.dst)", what);
        return -1;
    }
    if (api_field_path(field, t->path, err) < 0) {
        http_reply_error(rp, 400, -1, "field: %s", err);
        return -1;
    }
    if (api_query_build(rq, rp, aq) < 0)
        return -1;
    t->counts = json_object_new_object();
    return 0;
}

/* The values of the request's field with their counts, sorted (cmp_kv): the store's buckets
 * when it counts the field, else a walk over the documents (*walked then holds its tally,
 * t->matched the documents). top as count_buckets. -1 with rp filled. */
static int values_of(struct http_request *rq, struct http_reply *rp, struct tally *t, size_t top,
                     struct buckets *bs, struct kv **walked, size_t *n)
{
    const struct field_def *f = countable(rq->params.field);
    *walked = NULL;
    memset(bs, 0, sizeof *bs);
    if (f) {
        if (count_buckets(rq->st, &t->aq->q, f, top, bs) != STORE_OK) {
            if (bs->oom)
                http_reply_error(rp, 500, -1, "out of memory");
            else
                http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
            return -1;
        }
        *n = bs->n;
        return 0;
    }
    if (store_query_docs(rq->st, &t->aq->q, on_value_doc, t, NULL) != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        return -1;
    }
    if (!(*walked = sorted(t->counts, n))) {
        http_reply_error(rp, 500, -1, "out of memory");
        return -1;
    }
    return 0;
}

int api_unique_txt(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq = { 0 };
    struct tally t;
    struct buckets bs = { 0 };
    struct kv *walked = NULL;
    size_t n;
    if (start_tally(rq, rp, &aq, &t, rq->params.field, "unique.txt") < 0 ||
        values_of(rq, rp, &t, 0, &bs, &walked, &n) < 0)
        goto out;
    const struct kv *a = walked ? walked : bs.a;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        http_reply_error(rp, 500, -1, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (rq->params.counts)
            fprintf(f, "%s, %lld\n", a[i].key, (long long)a[i].n);
        else
            fprintf(f, "%s\n", a[i].key);
    }
    fclose(f);
    rp->count = (long long)n;
    http_reply_take(rp, "text/plain; charset=utf-8", buf, len);
out:
    free(walked);
    buckets_free(&bs);
    json_object_put(t.counts);
    api_query_free(&aq);
    return 0;
}

static json_object *histo_of(json_object *h)
{
    size_t n = (size_t)json_object_object_length(h), i = 0;
    int64_t *keys = ash_calloc_array(n ? n : 1, sizeof *keys * 2);
    json_object *a = json_object_new_array();
    if (!keys)
        return a;
    json_object_object_foreach(h, k, v) {
        keys[2 * i] = strtoll(k, NULL, 10);
        keys[2 * i + 1] = json_object_get_int64(v);
        i++;
    }
    /* insertion sort: a histogram has few buckets per value */
    for (size_t x = 1; x < n; x++)
        for (size_t y = x; y > 0 && keys[2 * (y - 1)] > keys[2 * y]; y--) {
            int64_t k0 = keys[2 * y], c0 = keys[2 * y + 1];
            keys[2 * y] = keys[2 * (y - 1)];
            keys[2 * y + 1] = keys[2 * (y - 1) + 1];
            keys[2 * (y - 1)] = k0;
            keys[2 * (y - 1) + 1] = c0;
        }
    for (size_t x = 0; x < n; x++) {
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_int64(keys[2 * x]));
        json_object_array_add(pair, json_object_new_int64(keys[2 * x + 1]));
        json_object_array_add(a, pair);
    }
    free(keys);
    return a;
}

int api_spigraph_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq = { 0 };
    struct tally t;
    struct buckets bs = { 0 };
    struct kv *walked = NULL;
    json_object *items = NULL;
    size_t n, size = rq->params.size ? (size_t)rq->params.size : 20;
    if (start_tally(rq, rp, &aq, &t, rq->params.field, "spigraph.json") < 0)
        goto out;
    t.histo = true;
    if (values_of(rq, rp, &t, size, &bs, &walked, &n) < 0)
        goto out;
    const struct field_def *f = walked ? NULL : countable(rq->params.field);
    if (f && store_histogram(rq->st, &aq.q, aq.interval_s * 1000000LL, false, sum_sessions,
                             &t.matched) != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    const struct kv *a = walked ? walked : bs.a;
    items = json_object_new_array();
    for (size_t i = 0; i < n && i < size; i++) {
        json_object *it = json_object_new_object(), *h = NULL, *g = json_object_new_object();
        if (f) {
            if (!(h = value_histo(rq, rp, &aq, f, a[i].key))) {
                json_object_put(it);
                json_object_put(g);
                goto out;
            }
        } else {
            json_object *w;
            json_object_object_get_ex(a[i].e, "h", &w);
            h = histo_of(w);
        }
        json_object_object_add(g, "interval", json_object_new_int64(aq.interval_s));
        json_object_object_add(g, "sessionsHisto", h);
        json_object_object_add(it, "name", json_object_new_string(a[i].key));
        json_object_object_add(it, "count", json_object_new_int64(a[i].n));
        json_object_object_add(it, "graph", g);
        json_object_array_add(items, it);
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "field", json_object_new_string(rq->params.field));
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)t.matched));
    json_object_object_add(o, "interval", json_object_new_int64(aq.interval_s));
    json_object_object_add(o, "items", items);
    items = NULL;
    rp->count = (long long)t.matched;
    http_reply_json(rp, 200, o);
out:
    json_object_put(items);
    free(walked);
    buckets_free(&bs);
    json_object_put(t.counts);
    api_query_free(&aq);
    return 0;
}

/* ---- connections --------------------------------------------------------------------- */

struct conn_doc {
    struct tally *t;
    json_object *doc;
    const char *src;
};

static int node_of(struct tally *t, const char *id, int type)
{
    json_object *e;
    if (!json_object_object_get_ex(t->counts, id, &e)) {
        e = json_object_new_object();
        json_object_object_add(e, "idx", json_object_new_int((int)json_object_array_length(t->nodes)));
        json_object_object_add(t->counts, id, e);
        json_object *node = json_object_new_object();
        json_object_object_add(node, "id", json_object_new_string(id));
        json_object_object_add(node, "cnt", json_object_new_int64(0));
        json_object_object_add(node, "sessions", json_object_new_int64(0));
        json_object_object_add(node, "type", json_object_new_int(0));
        json_object_array_add(t->nodes, node);
    }
    json_object *idx;
    json_object_object_get_ex(e, "idx", &idx);
    int i = json_object_get_int(idx);
    json_object *node = json_object_array_get_idx(t->nodes, (size_t)i), *ty;
    json_object_object_get_ex(node, "type", &ty);
    json_object_set_int(ty, json_object_get_int(ty) | type);   /* 1 source, 2 destination, 3 both */
    bump(node, "sessions", 1);
    return i;
}

static int on_dst(void *ctx, json_object *v)
{
    struct conn_doc *cd = ctx;
    struct tally *t = cd->t;
    char buf[64], id[600];
    snprintf(id, sizeof id, "%s", api_value_text(v, buf));
    if (t->dst_port) {
        json_object *port = api_doc_get(cd->doc, "destination.port");
        char pb[64];
        size_t l = strlen(id);
        snprintf(id + l, sizeof id - l, "%s%s", strchr(id, ':') ? "." : ":", api_value_text(port, pb));
    }
    int s = node_of(t, cd->src, 1), d = node_of(t, id, 2);
    char key[32];
    snprintf(key, sizeof key, "%d>%d", s, d);
    json_object *link;
    if (!json_object_object_get_ex(t->links, key, &link)) {
        link = json_object_new_object();
        json_object_object_add(link, "source", json_object_new_int(s));
        json_object_object_add(link, "target", json_object_new_int(d));
        json_object_object_add(link, "value", json_object_new_int64(0));
        json_object_object_add(t->links, key, link);
    }
    bump(link, "value", 1);
    return 0;
}

static int on_src(void *ctx, json_object *v)
{
    struct conn_doc *cd = ctx;
    char buf[64], src[600];
    snprintf(src, sizeof src, "%s", api_value_text(v, buf));
    cd->src = src;
    api_doc_each(cd->doc, cd->t->path2, on_dst, cd);
    return 0;
}

static int on_conn_doc(void *ctx, const char *text, size_t len)
{
    struct tally *t = ctx;
    json_object *doc = parse(text, len);
    if (!doc)
        return 0;
    if (api_query_in_window(t->aq, doc)) {
        t->matched++;
        struct conn_doc cd = { t, doc, NULL };
        api_doc_each(doc, t->path, on_src, &cd);
    }
    json_object_put(doc);
    return 0;
}

int api_connections_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq = { 0 };
    struct tally t;
    char err[ASH_ERR_LEN], dst[128];
    const char *src = rq->params.src_field ? rq->params.src_field : "ip.src";
    snprintf(dst, sizeof dst, "%s", rq->params.dst_field ? rq->params.dst_field : "ip.dst:port");
    bool dst_port = strlen(dst) > 5 && !strcmp(dst + strlen(dst) - 5, ":port");
    if (dst_port)
        dst[strlen(dst) - 5] = '\0';
    if (start_tally(rq, rp, &aq, &t, src, "connections.json") < 0)
        goto out;
    t.dst_port = dst_port;
    if (api_field_path(dst, t.path2, err) < 0) {
        http_reply_error(rp, 400, -1, "dstField: %s", err);
        goto out;
    }
    t.nodes = json_object_new_array();
    t.links = json_object_new_object();
    if (store_query_sessions(rq->st, &aq.q, on_conn_doc, &t, NULL) != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    json_object *links = json_object_new_array();
    json_object_object_foreach(t.links, k, v) {
        (void)k;
        json_object_array_add(links, json_object_get(v));
    }
    size_t nn = json_object_array_length(t.nodes);
    for (size_t i = 0; i < nn; i++) {
        json_object *node = json_object_array_get_idx(t.nodes, i), *s;
        json_object_object_get_ex(node, "sessions", &s);
        json_object_object_add(node, "cnt", json_object_new_int64(json_object_get_int64(s)));
        json_object_object_add(node, "pos", json_object_new_int((int)i));
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)t.matched));
    json_object_object_add(o, "nodes", json_object_get(t.nodes));
    json_object_object_add(o, "links", links);
    rp->count = (long long)t.matched;
    http_reply_json(rp, 200, o);
out:
    json_object_put(t.nodes);
    json_object_put(t.links);
    json_object_put(t.counts);
    api_query_free(&aq);
    return 0;
}
