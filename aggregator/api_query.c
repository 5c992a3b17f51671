/* api_query.c -- the session endpoints' shared parts (see api_query.h).
 * Owns:  Arkime's time rules (date=N hours back, -1 all; startTime/stopTime; the graph
 *        interval: date=-1 an hour, a span under 30 min a second, up to 5 days a minute,
 *        else an hour, as viewer/vueapp's determineQueryTimes), bounding, and the walk of
 *        dotted paths through session documents.
 * Never: pastes request text into anything but the query parser. */
#include "api_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_params.h"
#include "field_catalog.h"
#include "query_parse.h"

#define HOUR_US 3600000000LL

int api_query_build(struct http_request *rq, struct http_reply *rp, struct api_query *aq)
{
    const struct api_params *p = &rq->params;
    memset(aq, 0, sizeof *aq);
    aq->bounding = API_BOUND_FIRST;
    if (p->bounding) {
        if (!strcmp(p->bounding, "last"))
            aq->bounding = API_BOUND_LAST;
        else if (!strcmp(p->bounding, "both"))
            aq->bounding = API_BOUND_BOTH;
        else if (!strcmp(p->bounding, "either"))
            aq->bounding = API_BOUND_EITHER;
    }
    if (p->have_date && p->date_hours == -1) {
        aq->interval_s = 3600;
    } else if (p->have_start && p->have_stop && !p->have_date) {
        aq->from_us = p->start_us;
        aq->to_us = p->stop_us + 1;    /* stopTime is inclusive */
        int64_t span = (p->stop_us - p->start_us) / 1000000;
        aq->interval_s = span < 30 * 60 ? 1 : span <= 5 * 24 * 3600 ? 60 : 3600;
    } else {
        long long hours = p->have_date ? p->date_hours : 1;
        aq->to_us = rq->now_us + 1;
        aq->from_us = rq->now_us - hours * HOUR_US;
        aq->interval_s = hours <= 5 * 24 ? 60 : 3600;
    }
    if (p->interval_s)
        aq->interval_s = p->interval_s;
    /* the store filters on event.start; last and either need sessions that started before
     * the window: look a day further back and keep what bounding keeps (api_query_in_window) */
    aq->q.start_us = aq->from_us;
    aq->q.end_us = aq->to_us;
    if (aq->from_us && (aq->bounding == API_BOUND_LAST || aq->bounding == API_BOUND_EITHER))
        aq->q.start_us = aq->from_us - 24 * HOUR_US > 0 ? aq->from_us - 24 * HOUR_US : 1;
    /* and the store keeps only what bounding keeps (event.end bounds), so counts, graphs
     * and page offsets come from the store without a pass over the documents */
    if (aq->bounding != API_BOUND_FIRST && (aq->from_us || aq->to_us)) {
        aq->q.end_min_us = aq->from_us;
        aq->q.end_max_us = aq->bounding == API_BOUND_EITHER ? 0 : aq->to_us;
    }
    aq->q.newest_first = p->newest_first;
    if (p->expression && p->expression[strspn(p->expression, " \t\r\n")]) {
        struct query_error qe = { .pos = -1 };
        if (!(aq->expr = query_parse_at(p->expression, rq->now_us, &qe))) {
            http_reply_error(rp, 400, qe.pos, "expression: %s", qe.msg);
            return -1;
        }
        aq->q.expr = aq->expr;
    }
    return 0;
}

void api_query_free(struct api_query *aq)
{
    if (aq->expr)
        query_expr_free(aq->expr);
    aq->expr = NULL;
}

bool api_query_in_window(const struct api_query *aq, json_object *doc)
{
    if (aq->bounding == API_BOUND_FIRST || (!aq->from_us && !aq->to_us))
        return true;
    int64_t s = api_doc_time(doc, "event.start"), e = api_doc_time(doc, "event.end");
    bool s_in = (!aq->from_us || s >= aq->from_us) && (!aq->to_us || s < aq->to_us);
    bool e_in = (!aq->from_us || e >= aq->from_us) && (!aq->to_us || e < aq->to_us);
    switch (aq->bounding) {
    case API_BOUND_LAST:
        return e_in;
    case API_BOUND_BOTH:
        return s_in && e_in;
    case API_BOUND_EITHER:
        return (!aq->to_us || s < aq->to_us) && (!aq->from_us || e >= aq->from_us);
    default:
        return s_in;
    }
}

int api_field_path(const char *name, char out[128], char err[ASH_ERR_LEN])
{
    const struct field_def *f = field_catalog_find(name, (size_t)-1);
    if (!f) {
        const char *near[3];
        size_t n = field_catalog_nearest(name, (size_t)-1, near, 3);
        snprintf(err, ASH_ERR_LEN, "unknown field '%.60s'%s%s%s%s%s%s", name,
                 n ? " (nearest: " : "", n ? near[0] : "", n > 1 ? ", " : "", n > 1 ? near[1] : "",
                 n > 2 ? ", " : "", n > 2 ? near[2] : "");
        if (n)
            strncat(err, ")", ASH_ERR_LEN - strlen(err) - 1);
        return -1;
    }
    if (!f->ecs || !f->ecs[0]) {
        snprintf(err, ASH_ERR_LEN, "field '%.60s' stands for several fields (%s%s%s); name one of "
                 "them", name, f->any[0] ? f->any[0] : "", f->any[1] ? ", " : "",
                 f->any[1] ? f->any[1] : "");
        return -1;
    }
    snprintf(out, 128, "%s", f->ecs);
    return 0;
}

static void each_at(json_object *o, const char *path, int (*fn)(void *, json_object *), void *ctx,
                    int *stop)
{
    if (*stop || !o)
        return;
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n && !*stop; i++)
            each_at(json_object_array_get_idx(o, i), path, fn, ctx, stop);
        return;
    }
    if (!*path) {
        *stop = fn(ctx, o);
        return;
    }
    if (!json_object_is_type(o, json_type_object))
        return;
    /* the longest key that prefixes path ("@timestamp", "source" then "ip") */
    const char *dot = strchr(path, '.');
    char key[128];
    while (1) {
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        if (l >= sizeof key)
            return;
        memcpy(key, path, l);
        key[l] = '\0';
        json_object *child;
        if (json_object_object_get_ex(o, key, &child)) {
            each_at(child, dot ? dot + 1 : "", fn, ctx, stop);
            return;
        }
        if (!dot)
            return;
        dot = strchr(dot + 1, '.');   /* a key with a dot in it, e.g. "client.bytes" flat */
    }
}

void api_doc_each(json_object *doc, const char *path, int (*fn)(void *ctx, json_object *v),
                  void *ctx)
{
    int stop = 0;
    each_at(doc, path, fn, ctx, &stop);
}

static int first_fn(void *ctx, json_object *v)
{
    *(json_object **)ctx = v;
    return 1;
}

json_object *api_doc_get(json_object *doc, const char *path)
{
    json_object *v = NULL;
    api_doc_each(doc, path, first_fn, &v);
    return v;
}

const char *api_value_text(json_object *v, char buf[64])
{
    if (!v)
        return "";
    switch (json_object_get_type(v)) {
    case json_type_string:
        return json_object_get_string(v);
    case json_type_int:
        snprintf(buf, 64, "%lld", (long long)json_object_get_int64(v));
        return buf;
    case json_type_boolean:
        return json_object_get_boolean(v) ? "true" : "false";
    case json_type_double:
        snprintf(buf, 64, "%.17g", json_object_get_double(v));
        return buf;
    default:
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    }
}

int64_t api_doc_time(json_object *doc, const char *path)
{
    json_object *v = api_doc_get(doc, path);
    int64_t us;
    if (!v || !json_object_is_type(v, json_type_string) ||
        api_params_time(json_object_get_string(v), &us) < 0)
        return 0;
    return us;
}
