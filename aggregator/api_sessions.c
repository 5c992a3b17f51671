/* api_sessions.c -- sessions.json, sessions.csv and session/<id>.json.
 * Owns:  one pass over the matching sessions that counts them (recordsFiltered), builds the
 *        graph (sessionsHisto and the packets/bytes histograms, keys in ms, Arkime's shape)
 *        and keeps the page [start, start + length); the field selection and CSV quoting.
 * Never: builds JSON by hand (json-c does the escaping); pastes a value into a CSV cell
 *        without quoting it, or lets a cell start a spreadsheet formula. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"

static const char *const default_csv[] = {
    "event.start", "event.end", "source.ip", "source.port", "destination.ip", "destination.port",
    "network.transport", "network.packets", "network.bytes", "observer.name", "ashiato.session_id",
};

/* the graph's histograms: their Arkime names and the document paths they sum */
static const struct { const char *name, *path; } histos[] = {
    { "source.packetsHisto", "source.packets" },
    { "destination.packetsHisto", "destination.packets" },
    { "source.bytesHisto", "source.bytes" },
    { "destination.bytesHisto", "destination.bytes" },
    { "client.bytesHisto", "ashiato.data_bytes.source" },
    { "server.bytesHisto", "ashiato.data_bytes.destination" },
};
#define NHISTO (sizeof histos / sizeof histos[0])

struct bucket {
    int64_t key_ms;
    uint64_t sessions, sums[NHISTO];
};

struct pass {
    struct http_request *rq;
    struct api_query *aq;
    uint64_t matched;                /* after bounding */
    struct bucket *b;                /* sorted by key as they come in order, merged at the end */
    size_t nb, cap;
    json_object *page;               /* array of documents kept */
    char (*paths)[128];              /* fields= resolved, NULL = whole documents */
    size_t npaths;
    int err;
};

static struct bucket *bucket_for(struct pass *ps, int64_t key_ms)
{
    for (size_t i = ps->nb; i-- > 0 && i + 8 >= ps->nb;)   /* documents arrive in time order */
        if (ps->b[i].key_ms == key_ms)
            return &ps->b[i];
    for (size_t i = 0; i + 8 < ps->nb; i++)
        if (ps->b[i].key_ms == key_ms)
            return &ps->b[i];
    if (ps->nb == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64, bytes;
        if (!ash_mul_size(cap, sizeof *ps->b, &bytes))
            return NULL;
        struct bucket *nb = realloc(ps->b, bytes);
        if (!nb)
            return NULL;
        ps->b = nb;
        ps->cap = cap;
    }
    struct bucket *b = &ps->b[ps->nb++];
    memset(b, 0, sizeof *b);
    b->key_ms = key_ms;
    return b;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Copy the value at path from doc into out, under the same nested keys. */
static void copy_path(json_object *doc, json_object *out, const char *path)
{
    json_object *v = NULL;
    const char *p = path, *dot;
    json_object *src = doc;
    while (src && json_object_is_type(src, json_type_object) && (dot = strchr(p, '.'))) {
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(dot - p), p);
        if (!json_object_object_get_ex(src, key, &src))
            return;
        json_object *next;
        if (!json_object_object_get_ex(out, key, &next)) {
            next = json_object_new_object();
            json_object_object_add(out, key, next);
        }
        out = next;
        p = dot + 1;
    }
    if (src && json_object_is_type(src, json_type_object) && json_object_object_get_ex(src, p, &v))
        json_object_object_add(out, p, json_object_get(v));
}

static int on_doc(void *ctx, const char *text, size_t len)
{
    struct pass *ps = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (!doc)
        return 0;                    /* a stored document that does not parse is skipped */
    if (!api_query_in_window(ps->aq, doc)) {
        json_object_put(doc);
        return 0;
    }
    uint64_t idx = ps->matched++;
    int64_t start_ms = api_doc_time(doc, "event.start") / 1000;
    int64_t iv = ps->aq->interval_s * 1000;
    struct bucket *b = bucket_for(ps, floor_div(start_ms, iv) * iv);
    if (!b) {
        ps->err = 1;
        json_object_put(doc);
        return 1;
    }
    b->sessions++;
    for (size_t i = 0; i < NHISTO; i++) {
        json_object *v = api_doc_get(doc, histos[i].path);
        if (v)
            b->sums[i] += (uint64_t)json_object_get_int64(v);
    }
    const struct api_params *p = &ps->rq->params;
    if (idx >= (uint64_t)p->start && idx < (uint64_t)(p->start + p->length)) {
        json_object *keep = doc;
        if (ps->paths) {
            keep = json_object_new_object();
            for (size_t i = 0; i < ps->npaths; i++)
                copy_path(doc, keep, ps->paths[i]);
        } else {
            json_object_get(doc);
        }
        json_object *id = api_doc_get(doc, "ashiato.session_id");
        if (id && !json_object_object_get_ex(keep, "id", NULL))
            json_object_object_add(keep, "id", json_object_new_string(json_object_get_string(id)));
        json_object_array_add(ps->page, keep);
    }
    json_object_put(doc);
    return 0;
}

static int cmp_bucket(const void *a, const void *b)
{
    int64_t x = ((const struct bucket *)a)->key_ms, y = ((const struct bucket *)b)->key_ms;
    return (x > y) - (x < y);
}

/* fields= into ECS paths; -1 with rp filled on an unknown field */
static int resolve_fields(const char *list, char (**paths)[128], size_t *n, struct http_reply *rp)
{
    *paths = NULL;
    *n = 0;
    if (!list || !*list)
        return 0;
    size_t cap = 1;
    for (const char *q = list; *q; q++)
        cap += *q == ',';
    if (cap > 256) {
        http_reply_error(rp, 400, -1, "fields: at most 256 fields, got %zu", cap);
        return -1;
    }
    if (!(*paths = ash_calloc_array(cap, sizeof **paths))) {
        http_reply_error(rp, 500, -1, "fields: out of memory");
        return -1;
    }
    const char *s = list;
    while (*s) {
        size_t l = strcspn(s, ",");
        char name[128], err[ASH_ERR_LEN];
        snprintf(name, sizeof name, "%.*s", (int)(l < 127 ? l : 127), s);
        if (l && api_field_path(name, (*paths)[*n], err) < 0) {
            http_reply_error(rp, 400, -1, "fields: %s", err);
            free(*paths);
            *paths = NULL;
            return -1;
        }
        *n += l != 0;
        s += l + (s[l] == ',');
    }
    return 0;
}

static json_object *histo_array(const struct pass *ps, int which)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < ps->nb; i++) {
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_int64(ps->b[i].key_ms));
        json_object_array_add(pair, json_object_new_int64(
            (int64_t)(which < 0 ? ps->b[i].sessions : ps->b[i].sums[which])));
        json_object_array_add(a, pair);
    }
    return a;
}

int api_sessions_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq;
    struct pass ps = { .rq = rq, .aq = &aq };
    uint64_t total = 0;
    if (api_query_build(rq, rp, &aq) < 0)
        return 0;
    if (resolve_fields(rq->params.fields, &ps.paths, &ps.npaths, rp) < 0)
        goto out;
    ps.page = json_object_new_array();
    struct store_query all = { 0 };
    if (store_query_sessions(rq->st, &all, NULL, NULL, &total) != STORE_OK ||
        store_query_sessions(rq->st, &aq.q, on_doc, &ps, NULL) != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    if (ps.err) {
        http_reply_error(rp, 500, -1, "out of memory building the graph");
        goto out;
    }
    if (ps.nb)
        qsort(ps.b, ps.nb, sizeof *ps.b, cmp_bucket);
    json_object *graph = json_object_new_object();
    json_object_object_add(graph, "xmin", aq.from_us ? json_object_new_int64(aq.from_us / 1000) : NULL);
    json_object_object_add(graph, "xmax", aq.to_us ? json_object_new_int64(aq.to_us / 1000) : NULL);
    json_object_object_add(graph, "interval", json_object_new_int64(aq.interval_s));
    json_object_object_add(graph, "sessionsHisto", histo_array(&ps, -1));
    json_object_object_add(graph, "sessionsTotal", json_object_new_int64((int64_t)ps.matched));
    uint64_t packets = 0, bytes = 0;
    for (size_t i = 0; i < NHISTO; i++)
        json_object_object_add(graph, histos[i].name, histo_array(&ps, (int)i));
    for (size_t i = 0; i < ps.nb; i++) {
        packets += ps.b[i].sums[0] + ps.b[i].sums[1];
        bytes += ps.b[i].sums[2] + ps.b[i].sums[3];
    }
    json_object_object_add(graph, "network.packetsTotal", json_object_new_int64((int64_t)packets));
    json_object_object_add(graph, "network.bytesTotal", json_object_new_int64((int64_t)bytes));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "recordsTotal", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)ps.matched));
    json_object_object_add(o, "graph", graph);
    json_object_object_add(o, "data", ps.page);
    ps.page = NULL;
    rp->count = (long long)ps.matched;
    http_reply_json(rp, 200, o);
out:
    json_object_put(ps.page);
    free(ps.b);
    free(ps.paths);
    api_query_free(&aq);
    return 0;
}

/* ---- CSV ----------------------------------------------------------------------------- */

struct csv {
    char *buf;
    size_t len, cap;
    char (*paths)[128];
    size_t npaths;
    struct api_query *aq;
    const struct api_params *p;
    uint64_t matched;
    int err;
};

static void put(struct csv *c, const char *s, size_t n)
{
    if (c->err)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *b = realloc(c->buf, cap);
        if (!b) {
            c->err = 1;
            return;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* RFC 4180 cell; a cell that a spreadsheet would run as a formula gets a leading quote */
static void cell(struct csv *c, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL || (*s && strchr("=+-@\t", *s) &&
                                                   !(*s == '-' && s[1] >= '0' && s[1] <= '9'));
    if (!quote) {
        put(c, s, strlen(s));
        return;
    }
    put(c, "\"", 1);
    if (*s && strchr("=+-@\t", *s))
        put(c, "'", 1);
    for (; *s; s++)
        put(c, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    put(c, "\"", 1);
}

struct joined {
    char text[4096];
    size_t len;
};

static int join_fn(void *ctx, json_object *v)
{
    struct joined *j = ctx;
    char buf[64];
    const char *t = api_value_text(v, buf);
    int n = snprintf(j->text + j->len, sizeof j->text - j->len, "%s%s", j->len ? ";" : "", t);
    if (n > 0)
        j->len = j->len + (size_t)n < sizeof j->text ? j->len + (size_t)n : sizeof j->text - 1;
    return 0;
}

static int on_csv_doc(void *ctx, const char *text, size_t len)
{
    struct csv *c = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (!doc)
        return 0;
    if (api_query_in_window(c->aq, doc)) {
        uint64_t idx = c->matched++;
        if (idx >= (uint64_t)c->p->start && idx < (uint64_t)(c->p->start + c->p->length)) {
            for (size_t i = 0; i < c->npaths; i++) {
                struct joined j = { .len = 0 };
                j.text[0] = '\0';
                api_doc_each(doc, c->paths[i], join_fn, &j);
                if (i)
                    put(c, ",", 1);
                cell(c, j.text);
            }
            put(c, "\r\n", 2);
        }
    }
    json_object_put(doc);
    return c->err;
}

int api_sessions_csv(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq;
    struct csv c = { .aq = &aq, .p = &rq->params };
    if (api_query_build(rq, rp, &aq) < 0)
        return 0;
    if (resolve_fields(rq->params.fields, &c.paths, &c.npaths, rp) < 0)
        goto out;
    if (!c.paths) {
        c.npaths = ASH_ARRAY_LEN(default_csv);
        if (!(c.paths = ash_calloc_array(c.npaths, sizeof *c.paths)))
            goto oom;
        for (size_t i = 0; i < c.npaths; i++)
            snprintf(c.paths[i], sizeof c.paths[i], "%s", default_csv[i]);
    }
    /* the header row names the fields as asked */
    if (rq->params.fields && *rq->params.fields) {
        const char *s = rq->params.fields;
        bool first = true;
        while (*s) {
            size_t l = strcspn(s, ",");
            if (l) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(l < 127 ? l : 127), s);
                if (!first)
                    put(&c, ",", 1);
                cell(&c, name);
                first = false;
            }
            s += l + (s[l] == ',');
        }
    } else {
        for (size_t i = 0; i < c.npaths; i++) {
            if (i)
                put(&c, ",", 1);
            cell(&c, c.paths[i]);
        }
    }
    put(&c, "\r\n", 2);
    if (store_query_sessions(rq->st, &aq.q, on_csv_doc, &c, NULL) != STORE_OK && !c.err) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    if (c.err)
        goto oom;
    rp->status = 200;
    rp->count = (long long)c.matched;
    http_reply_take(rp, "text/csv; charset=utf-8", c.buf, c.len);
    c.buf = NULL;
    goto out;
oom:
    http_reply_error(rp, 500, -1, "out of memory");
out:
    free(c.buf);
    free(c.paths);
    api_query_free(&aq);
    return 0;
}

/* ---- one session --------------------------------------------------------------------- */

static int keep_doc(void *ctx, const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new();
    *(json_object **)ctx = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    return 1;
}

int api_session_json(struct http_request *rq, struct http_reply *rp)
{
    json_object *doc = NULL;
    int rc = store_get_session(rq->st, rq->id, keep_doc, &doc);
    if (rc == STORE_ERR_NOT_FOUND) {
        rp->count = 0;
        return http_reply_error(rp, 404, -1, "session %s: not found", rq->id);
    }
    if (rc != STORE_OK || !doc) {
        json_object_put(doc);
        return http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
    }
    /* the sessions other sensors saw of the same flow (ashiato.linked), whole */
    json_object *linked = json_object_new_array();
    json_object *ids = api_doc_get(doc, "ashiato");
    if (ids && json_object_object_get_ex(ids, "linked", &ids) &&
        json_object_is_type(ids, json_type_array)) {
        size_t n = json_object_array_length(ids);
        for (size_t i = 0; i < n && i < 64; i++) {
            const char *lid = json_object_get_string(json_object_array_get_idx(ids, i));
            json_object *ld = NULL;
            /* "id@sensor" (store_put_links): that sensor's session; a bare id: any sensor's */
            const char *at = lid ? strchr(lid, '@') : NULL;
            size_t idlen = lid ? (at ? (size_t)(at - lid) : strlen(lid)) : 0;
            char one[STORE_ID_MAX + 1];
            if (!lid || !api_params_id_ok(lid, idlen) || idlen >= sizeof one)
                continue;
            memcpy(one, lid, idlen);
            one[idlen] = '\0';
            if ((at ? store_get_session_of(rq->st, at + 1, one, keep_doc, &ld)
                    : store_get_session(rq->st, one, keep_doc, &ld)) == STORE_OK && ld)
                json_object_array_add(linked, ld);
        }
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(rq->id));
    json_object_object_add(o, "data", doc);
    json_object_object_add(o, "linked", linked);
    rp->count = 1;
    return http_reply_json(rp, 200, o);
}
