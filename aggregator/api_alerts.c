/* api_alerts.c -- alerts.json: the stored alerts in a time window, filtered by an expression
 * over the alerts' own fields (field_catalog_alerts: rule.name, source.ip, destination.ip,
 * destination.port, observer.name, ashiato.segments, ashiato.score, tags, event.start, ...).
 * Owns:  the answer's shape: {"recordsTotal": every alert, "recordsFiltered": the matches,
 *        "data": [alert documents, newest first]}, and the parse of its expression.
 * Never: filters documents itself: the store compiles the expression (query_sql.c over the
 *        alerts table, query_es.c over the alerts indices), as sessions.json does.
 * Trap:  date / startTime / stopTime go through api_query_build, which would parse the
 *        expression with the sessions' fields: it is handed the request without it, and the
 *        expression is parsed here with the alerts' table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "field_catalog.h"
#include "query_parse.h"

static int collect_alert(void *ctx, const char *text, size_t len)
{
    json_object *arr = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (o)
        json_object_array_add(arr, o);
    return 0;
}

int api_alerts_json(struct http_request *rq, struct http_reply *rp)
{
    struct api_query aq;
    char *text = rq->params.expression;
    rq->params.expression = NULL;             /* the window only (see Trap) */
    int built = api_query_build(rq, rp, &aq);
    rq->params.expression = text;
    if (built < 0)
        return 0;
    struct query_expr *e = NULL;
    if (text && text[strspn(text, " \t\r\n")]) {
        struct query_error qe = { .pos = -1 };
        if (!(e = query_parse_in(&field_catalog_alerts, text, rq->now_us, &qe))) {
            api_query_free(&aq);
            return http_reply_error(rp, 400, qe.pos, "expression: %s", qe.msg);
        }
    }
    struct store_query q = { .start_us = aq.q.start_us, .end_us = aq.q.end_us, .expr = e,
                             .offset = (size_t)rq->params.start,
                             .limit = (size_t)rq->params.length };
    json_object *arr = json_object_new_array();
    uint64_t total = 0, all = 0;
    struct store_query everything = { 0 };
    if (!arr || store_query_alerts(rq->st, &everything, NULL, NULL, &all) != STORE_OK ||
        store_query_alerts(rq->st, &q, collect_alert, arr, &total) != STORE_OK) {
        json_object_put(arr);
        query_expr_free(e);
        api_query_free(&aq);
        return http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
    }
    query_expr_free(e);
    api_query_free(&aq);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "recordsTotal", json_object_new_int64((int64_t)all));
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "data", arr);
    rp->count = (long long)total;
    return http_reply_json(rp, 200, o);
}
