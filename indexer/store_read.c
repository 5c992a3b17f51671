/* store_read.c -- the reading half of store.h: argument checks, then the backend's query,
 * with `ashiato.segments` expanded by the current segment map (store_segments.c) first; the
 * parsed documents of store_query_docs for a backend that has only text.
 * Owns:  the expanded tree of one call (freed before returning); the json_tokener and each
 *        document parsed for a store_doc_fn (dropped when the callback returns).
 * Lends: nothing past a call.
 * Never: touches a database or the network itself; logs.
 * Trap:  every query entry point that takes a store_query goes through with_segments(), or
 *        `ashiato.segments` would reach a compiler that reads it from the document. */
#include "store_backend.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "segmap.h"
#include "store_segments.h"

#define counted store_counted

/* ---- reading ----------------------------------------------------------------------- */

static const struct store_query match_all;

/* *use = q, with ashiato.segments expanded by the current map into *owned (the caller frees
 * it with query_expr_free after the backend's call); STORE_ERR with st->err on failure. */
static int with_segments(struct store *st, const struct store_query *q, struct store_query *use,
                         struct query_expr **owned)
{
    char err[ASH_ERR_LEN];
    *use = q ? *q : match_all;
    *owned = NULL;
    if (!use->expr)
        return STORE_OK;
    const struct segmap *m = segmap_live_get(st->cfg.segments);
    int rc = store_segments_expand(use->expr, m, owned, err);
    segmap_live_put(m);
    if (rc < 0)
        return store_fail(st, STORE_ERR, "%s", err);
    if (rc > 0)
        use->expr = *owned;
    return STORE_OK;
}

int store_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                         void *ctx, uint64_t *total)
{
    if (!st)
        return STORE_ERR;
    if (total)
        *total = 0;
    struct store_query use;
    struct query_expr *owned;
    if (with_segments(st, q, &use, &owned) != STORE_OK)
        return counted(st, STORE_ERR);
    int rc = st->be->query_sessions(st, &use, cb, ctx, total);
    query_expr_free(owned);
    return counted(st, rc);
}

/* A store_row_fn that parses each row and hands the document to a store_doc_fn. */
struct parsed {
    store_doc_fn cb;
    void *ctx;
    json_tokener *tok;
};

static int parse_row(void *ctx, const char *text, size_t len)
{
    struct parsed *p = ctx;
    json_tokener_reset(p->tok);
    json_object *doc = json_tokener_parse_ex(p->tok, text, len > INT_MAX ? INT_MAX : (int)len);
    if (!doc || json_tokener_get_error(p->tok) != json_tokener_success) {
        json_object_put(doc);
        return 0;                    /* a stored document that does not parse is skipped */
    }
    int stop = p->cb(p->ctx, doc);
    json_object_put(doc);
    return stop;
}

/* the backend's query_docs, else its query_sessions through parse_row (q expanded) */
static int query_docs(struct store *st, const struct store_query *q, store_doc_fn cb,
                      void *ctx, uint64_t *total)
{
    if (st->be->query_docs)
        return st->be->query_docs(st, q, cb, ctx, total);
    if (!cb)
        return st->be->query_sessions(st, q, NULL, NULL, total);
    struct parsed p = { .cb = cb, .ctx = ctx, .tok = json_tokener_new() };
    if (!p.tok)
        return store_fail(st, STORE_ERR_RETRY, "query: out of memory");
    int rc = st->be->query_sessions(st, q, parse_row, &p, total);
    json_tokener_free(p.tok);
    return rc;
}

int store_query_docs(struct store *st, const struct store_query *q, store_doc_fn cb,
                     void *ctx, uint64_t *total)
{
    if (!st)
        return STORE_ERR;
    if (total)
        *total = 0;
    struct store_query use;
    struct query_expr *owned;
    if (with_segments(st, q, &use, &owned) != STORE_OK)
        return counted(st, STORE_ERR);
    int rc = query_docs(st, &use, cb, ctx, total);
    query_expr_free(owned);
    return counted(st, rc);
}

int store_count_by(struct store *st, const struct store_query *q, const char *field,
                   store_row_fn cb, void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb)
        return counted(st, store_fail(st, STORE_ERR, "count_by: no callback"));
    const struct field_def *f = NULL;
    if (!(field && strcmp(field, "hour") == 0) &&
        !(f = field_catalog_find(field, (size_t)-1))) {
        const char *near[3] = { "", "", "" };
        field_catalog_nearest(field ? field : "", field ? strlen(field) : 0, near, 3);
        return counted(st, store_fail(st, STORE_ERR, "count_by: unknown field '%.64s' "
                                      "(nearest: %s, %s, %s; or hour)", field ? field : "(null)",
                                      near[0], near[1], near[2]));
    }
    if (f && (f->flags & (FIELD_PSEUDO | FIELD_SUM) || f->type == FIELD_TIME))
        return counted(st, store_fail(st, STORE_ERR, "count_by: %s: cannot count by a %s",
                                      f->name, f->type == FIELD_TIME ? "time (use hour)" :
                                      (f->flags & FIELD_SUM) ? "sum" : "field of several fields"));
    if (f && (f->flags & (FIELD_SEGMAP | FIELD_LINKS)))
        return counted(st, store_fail(st, STORE_ERR, "count_by: %s: not countable (its values "
                                      "are not in the stored documents alike on every store; "
                                      "matrix.json counts sessions between segments)", f->name));
    struct store_query use;
    struct query_expr *owned;
    if (with_segments(st, q, &use, &owned) != STORE_OK)
        return counted(st, STORE_ERR);
    int rc = st->be->count_by(st, &use, f, cb, ctx);
    query_expr_free(owned);
    return counted(st, rc);
}

int store_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                    bool by_sensor, store_histo_fn cb, void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb)
        return counted(st, store_fail(st, STORE_ERR, "histogram: no callback"));
    if (width_us < 1000000 || width_us > STORE_HISTO_WIDTH_MAX || width_us % 1000000)
        return counted(st, store_fail(st, STORE_ERR, "histogram: width: expected whole seconds "
                                      "1..%lld, got %lld us", STORE_HISTO_WIDTH_MAX / 1000000,
                                      (long long)width_us));
    struct store_query use;
    struct query_expr *owned;
    if (with_segments(st, q, &use, &owned) != STORE_OK)
        return counted(st, STORE_ERR);
    int rc = st->be->histogram(st, &use, width_us, by_sensor, cb, ctx);
    query_expr_free(owned);
    return counted(st, rc);
}

struct page_sum {
    store_histo_fn cb;
    void *ctx;
    uint64_t n;
};

static int page_sum(void *ctx, const char *series, const struct store_histo_bucket *b)
{
    struct page_sum *ps = ctx;
    ps->n += b->sessions;
    return ps->cb(ps->ctx, series, b);
}

int store_query_page(struct store *st, const struct store_query *q, int64_t width_us,
                     store_doc_fn cb, void *ctx, store_histo_fn hcb, void *hctx,
                     uint64_t *matched, uint64_t *total)
{
    struct page_sum ps = { .cb = hcb, .ctx = hctx };
    *matched = *total = 0;
    if (!st)
        return STORE_ERR;
    if (!q)
        q = &match_all;
    if (!hcb)
        return counted(st, store_fail(st, STORE_ERR, "query_page: no histogram callback"));
    if (cb && !q->limit)
        return counted(st, store_fail(st, STORE_ERR, "query_page: a page needs a limit"));
    int rc;
    if (st->be->query_page) {
        if (width_us < 1000000 || width_us > STORE_HISTO_WIDTH_MAX || width_us % 1000000)
            return store_histogram(st, q, width_us, false, hcb, hctx);  /* its message */
        struct store_query use;
        struct query_expr *owned;
        if (with_segments(st, q, &use, &owned) != STORE_OK)
            return counted(st, STORE_ERR);
        rc = counted(st, st->be->query_page(st, &use, width_us, cb, ctx, page_sum, &ps, total));
        query_expr_free(owned);
    } else if ((rc = store_histogram(st, q, width_us, false, page_sum, &ps)) == STORE_OK &&
               (rc = store_query_sessions(st, NULL, NULL, NULL, total)) == STORE_OK &&
               cb && q->offset < ps.n) {
        rc = store_query_docs(st, q, cb, ctx, NULL);
    }
    *matched = ps.n;
    return rc;
}

int store_latest_stats(struct store *st, store_row_fn cb, void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb || !st->be->latest_stats)
        return store_fail(st, STORE_ERR, "latest_stats: %s", cb ? "not supported by this store"
                          " yet" : "no callback");
    return counted(st, st->be->latest_stats(st, cb, ctx));
}

int store_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                        void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb || !st->be->stats_history)
        return store_fail(st, STORE_ERR, "stats_history: %s", cb ? "not supported by this store"
                          : "no callback");
    return counted(st, st->be->stats_history(st, start_us, end_us, cb, ctx));
}

int store_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb,
                       void *ctx, uint64_t *total)
{
    if (!st)
        return STORE_ERR;
    if (!st->be->query_alerts)
        return store_fail(st, STORE_ERR, "query_alerts: not supported by this store yet");
    return counted(st, st->be->query_alerts(st, q ? q : &match_all, cb, ctx, total));
}

int store_get_session(struct store *st, const char *id, store_row_fn cb, void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb)
        return counted(st, store_fail(st, STORE_ERR, "get_session: no callback"));
    size_t len = id ? strnlen(id, STORE_ID_MAX + 1) : 0;
    if (len == 0 || len > STORE_ID_MAX)
        return store_fail(st, STORE_ERR_NOT_FOUND, "session id: expected 1..%d characters",
                          STORE_ID_MAX);
    return counted(st, st->be->get_session(st, NULL, id, cb, ctx));
}

int store_get_session_of(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                         void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb)
        return counted(st, store_fail(st, STORE_ERR, "get_session: no callback"));
    size_t len = id ? strnlen(id, STORE_ID_MAX + 1) : 0;
    size_t slen = sensor ? strnlen(sensor, STORE_SENSOR_MAX + 1) : 0;
    if (len == 0 || len > STORE_ID_MAX || slen == 0 || slen > STORE_SENSOR_MAX)
        return store_fail(st, STORE_ERR_NOT_FOUND, "session id or sensor: expected 1..%d and "
                          "1..%d characters", STORE_ID_MAX, STORE_SENSOR_MAX);
    return counted(st, st->be->get_session(st, sensor, id, cb, ctx));
}

int store_delete_older(struct store *st, int64_t before_us, uint64_t *deleted)
{
    uint64_t dummy;
    if (!st)
        return STORE_ERR;
    if (!deleted)
        deleted = &dummy;
    *deleted = 0;
    return counted(st, st->be->delete_older(st, before_us, deleted));
}

int store_apply_retention(struct store *st, int64_t now_us, uint64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (!st)
        return STORE_ERR;
    if (st->cfg.retention_days <= 0)
        return STORE_OK;
    return store_delete_older(st, now_us - st->cfg.retention_days * 86400LL * 1000000LL, deleted);
}
