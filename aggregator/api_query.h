/* api_query.h -- what every session endpoint shares: the request's time window and
 * expression as a store query, the graph interval Arkime would choose, and reading fields
 * out of session documents.
 * Owns:  struct api_query (the parsed expression inside it; api_query_free releases it).
 * Lends: json values found in a document, valid as long as the document.
 * Never: answers the client itself, except through the reply it is given on failure. */
#ifndef ASHIATO_API_QUERY_H
#define ASHIATO_API_QUERY_H

#include <json-c/json.h>
#include "http_api.h"

enum api_bounding { API_BOUND_FIRST, API_BOUND_LAST, API_BOUND_BOTH, API_BOUND_EITHER };

struct api_query {
    struct store_query q;        /* what the store is asked */
    struct query_expr *expr;     /* owned */
    int64_t from_us, to_us;      /* the window asked (0 = open), for bounding and the graph */
    enum api_bounding bounding;
    long long interval_s;        /* the graph's bucket, as Arkime chooses it */
};

/* From rq->params: date or startTime/stopTime (default: the last hour, as Arkime), bounding,
 * interval and the expression. On a bad expression, rp gets 400 with the position and -1
 * is returned. */
int api_query_build(struct http_request *rq, struct http_reply *rp, struct api_query *aq);
void api_query_free(struct api_query *aq);
/* Does the document's event.start/event.end lie in the window the way bounding asks? (The
 * store query of api_query_build keeps only those already: q.end_min_us/end_max_us.) */
bool api_query_in_window(const struct api_query *aq, json_object *doc);

/* sessions.json's graph (api_graph.c): the histograms of aq's sessions from the store, with
 * graph.stack when rq->params.stack asks; *matched gets the sessions counted. NULL with rp
 * filled (503 store, 400 stack=segment without segments, 500 out of memory). */
json_object *api_graph_build(struct http_request *rq, struct http_reply *rp,
                             const struct api_query *aq, uint64_t *matched);
/* The graph without a stack from buckets the caller collected with api_graph_bucket (a
 * store_histo_fn, ctx = the struct; the caller frees b): the JSON api_graph_build answers.
 * NULL with rp filled (500) when collecting ran out of memory. */
struct api_graph_buckets {
    struct store_histo_bucket *b;
    size_t n, cap;
    int oom;
};
int api_graph_bucket(void *ctx, const char *series, const struct store_histo_bucket *b);
json_object *api_graph_of(struct http_reply *rp, const struct api_query *aq,
                          struct api_graph_buckets *gb, uint64_t *matched);

/* The session `id` names: that of ?sensor= (rq->params.sensor) when given, else the one
 * sensor's that holds the id (the earliest if that sensor holds it at several starts).
 * NULL with rp filled: 404 none, 409 several sensors hold it ({"error", "sensors": [...]}),
 * 503 store. The caller puts the document. */
json_object *api_session_find(struct http_request *rq, struct http_reply *rp, const char *id);

/* The ECS path of a field name (an Arkime alias such as ip.src, or an ECS name); -1 with err
 * naming the field when the catalogue does not know it. */
int api_field_path(const char *name, char out[128], char err[ASH_ERR_LEN]);
/* Call fn for each value at the dotted path (arrays are walked), stop when it returns non-0. */
void api_doc_each(json_object *doc, const char *path, int (*fn)(void *ctx, json_object *v),
                  void *ctx);
/* The first value at path, or NULL. */
json_object *api_doc_get(json_object *doc, const char *path);
/* The value as text for keys and CSV: strings as they are, numbers in decimal. */
const char *api_value_text(json_object *v, char buf[64]);
/* An ISO 8601 time of a document ("event.start") in microseconds; 0 if absent. */
int64_t api_doc_time(json_object *doc, const char *path);

#endif
