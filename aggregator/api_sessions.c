/* api_sessions.c -- sessions.json, sessions.csv and session/<id>.json.
 * Owns:  the page [start, start + length) of the matching sessions (the store skips to it),
 *        with the graph and recordsFiltered from api_graph.c; the field selection and CSV
 *        quoting; which sensor's session an id names (?sensor=, else the only one).
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

struct pass {
    json_object *page;               /* array of documents kept */
    char (*paths)[128];              /* fields= resolved, NULL = whole documents */
    size_t npaths;
};

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

/* The store lends doc parsed (store_doc_fn): a whole document is kept by reference, not
 * copied; fields= builds a new one of those paths. */
static int on_doc(void *ctx, json_object *doc)
{
    struct pass *ps = ctx;
    json_object *keep;
    if (ps->paths) {
        keep = json_object_new_object();
        for (size_t i = 0; i < ps->npaths; i++)
            copy_path(doc, keep, ps->paths[i]);
    } else {
        keep = json_object_get(doc);
    }
    json_object *id = api_doc_get(doc, "ashiato.session_id");
    if (id && !json_object_object_get_ex(keep, "id", NULL))
        json_object_object_add(keep, "id", json_object_new_string(json_object_get_string(id)));
    json_object_array_add(ps->page, keep);
    return 0;
}

/* q->fields: the paths of fields= and the id's, so ES sends only those (NULL: whole
 * documents); the caller frees *want. -1 when out of memory. */
static int want_fields(struct store_query *q, char (*paths)[128], size_t n, const char ***want)
{
    *want = NULL;
    if (!paths)
        return 0;
    if (!(*want = ash_calloc_array(n + 1, sizeof **want)))
        return -1;
    for (size_t i = 0; i < n; i++)
        (*want)[i] = paths[i];
    (*want)[n] = "ashiato.session_id";
    q->fields = *want;
    q->nfields = n + 1;
    return 0;
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

/* sessions.json: the graph and the counts from the store's aggregation (api_graph.c), then
 * only the page's documents [start, start + length) */
int api_sessions_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq;
    struct pass ps = { .page = NULL };
    uint64_t total = 0, matched = 0;
    json_object *graph = NULL;
    const char **want = NULL;
    if (api_query_build(rq, rp, &aq) < 0)
        return 0;
    if (resolve_fields(rq->params.fields, &ps.paths, &ps.npaths, rp) < 0)
        goto out;
    ps.page = json_object_new_array();
    struct store_query all = { 0 }, page = aq.q;
    page.offset = (size_t)rq->params.start;
    page.limit = (size_t)rq->params.length;
    if (want_fields(&page, ps.paths, ps.npaths, &want) < 0) {
        http_reply_error(rp, 500, -1, "fields: out of memory");
        goto out;
    }
    if (!rq->params.stack) {         /* one store call: on ES one _search, as by hand */
        struct api_graph_buckets gb = { .b = NULL };
        int rc = store_query_page(rq->st, &page, aq.interval_s * 1000000LL,
                                  page.limit ? on_doc : NULL, &ps, api_graph_bucket, &gb,
                                  &matched, &total);
        if (rc == STORE_OK)
            graph = api_graph_of(rp, &aq, &gb, &matched);
        free(gb.b);
        if (rc != STORE_OK)
            http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        if (!graph)
            goto out;
    } else if (!(graph = api_graph_build(rq, rp, &aq, &matched))) {
        goto out;
    } else if (store_query_sessions(rq->st, &all, NULL, NULL, &total) != STORE_OK ||
               ((uint64_t)rq->params.start < matched && rq->params.length > 0 &&
                store_query_docs(rq->st, &page, on_doc, &ps, NULL) != STORE_OK)) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
        goto out;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "recordsTotal", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)matched));
    json_object_object_add(o, "graph", graph);
    json_object_object_add(o, "data", ps.page);
    graph = NULL;
    ps.page = NULL;
    rp->count = (long long)matched;
    http_reply_json(rp, 200, o);
out:
    json_object_put(graph);
    json_object_put(ps.page);
    free(want);
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

static int on_csv_doc(void *ctx, json_object *doc)
{
    struct csv *c = ctx;
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
    if (store_query_docs(rq->st, &aq.q, on_csv_doc, &c, NULL) != STORE_OK && !c.err) {
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

struct found {
    json_object *docs[STORE_GET_MAX];
    size_t n;
};

static int found_doc(void *ctx, const char *text, size_t len)
{
    struct found *f = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (doc && f->n < STORE_GET_MAX)
        f->docs[f->n++] = doc;
    else
        json_object_put(doc);
    return f->n >= STORE_GET_MAX;
}

static const char *doc_sensor(json_object *doc)
{
    json_object *o = api_doc_get(doc, "observer.name");
    return o ? json_object_get_string(o) : "";
}

json_object *api_session_find(struct http_request *rq, struct http_reply *rp, const char *id)
{
    struct found f = { .n = 0 };
    const char *sensor = rq->params.sensor;
    int rc = sensor ? store_get_session_of(rq->st, sensor, id, found_doc, &f)
                    : store_get_session(rq->st, id, found_doc, &f);
    json_object *doc = NULL;
    if (rc == STORE_ERR_NOT_FOUND || (rc == STORE_OK && !f.n)) {
        rp->count = 0;
        http_reply_error(rp, 404, -1, "session %s%s%s: not found", id, sensor ? " of " : "",
                         sensor ? sensor : "");
    } else if (rc != STORE_OK) {
        http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
    } else {
        /* the earliest; several sensors holding the id is ambiguous without ?sensor= */
        json_object *names = json_object_new_array();
        char list[512] = "";
        for (size_t i = 0; i < f.n; i++) {
            const char *si = doc_sensor(f.docs[i]);
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = !strcmp(si, doc_sensor(f.docs[j]));
            if (seen)
                continue;
            json_object_array_add(names, json_object_new_string(si));
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", si);
        }
        if (json_object_array_length(names) > 1) {
            char msg[768];
            snprintf(msg, sizeof msg, "session %s: held by %zu sensors (%s); name one with "
                     "?sensor=", id, json_object_array_length(names), list);
            json_object *o = json_object_new_object();
            json_object_object_add(o, "error", json_object_new_string(msg));
            json_object_object_add(o, "sensors", names);
            names = NULL;
            rp->count = 0;
            http_reply_json(rp, 409, o);
        } else {
            doc = json_object_get(f.docs[0]);
        }
        json_object_put(names);
    }
    for (size_t i = 0; i < f.n; i++)
        json_object_put(f.docs[i]);
    return doc;
}

int api_session_json(struct http_request *rq, struct http_reply *rp)
{
    json_object *doc = api_session_find(rq, rp, rq->id);
    if (!doc)
        return 0;
    /* the sessions other sensors saw of the same flow (ashiato.linked), whole: each id's
     * sessions but this one */
    const char *self = doc_sensor(doc);
    json_object *linked = json_object_new_array();
    json_object *ids = api_doc_get(doc, "ashiato");
    if (ids && json_object_object_get_ex(ids, "linked", &ids) &&
        json_object_is_type(ids, json_type_array)) {
        size_t n = json_object_array_length(ids);
        for (size_t i = 0; i < n && i < 64; i++) {
            const char *lid = json_object_get_string(json_object_array_get_idx(ids, i));
            /* "id@sensor" (store_put_links): that sensor's session; a bare id: every
             * sensor's session of that id but this one */
            const char *at = lid ? strchr(lid, '@') : NULL;
            size_t idlen = lid ? (at ? (size_t)(at - lid) : strlen(lid)) : 0;
            char one[STORE_ID_MAX + 1];
            if (!lid || !api_params_id_ok(lid, idlen) || idlen >= sizeof one)
                continue;
            memcpy(one, lid, idlen);
            one[idlen] = '\0';
            struct found f = { .n = 0 };
            if ((at ? store_get_session_of(rq->st, at + 1, one, found_doc, &f)
                    : store_get_session(rq->st, one, found_doc, &f)) != STORE_OK)
                continue;
            for (size_t k = 0; k < f.n; k++) {
                if (!strcmp(one, rq->id) && !strcmp(doc_sensor(f.docs[k]), self))
                    json_object_put(f.docs[k]);
                else
                    json_object_array_add(linked, f.docs[k]);
            }
        }
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(rq->id));
    json_object_object_add(o, "sensor", json_object_new_string(self));
    json_object_object_add(o, "data", doc);
    json_object_object_add(o, "linked", linked);
    rp->count = 1;
    return http_reply_json(rp, 200, o);
}
