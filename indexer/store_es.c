/* store_es.c -- the Elasticsearch / OpenSearch store: sessions, stats and alerts bulk-loaded
 * over libcurl into daily (sessions) and monthly (stats, alerts) indices, the committed
 * sequence of each sensor stream in <prefix>-sensors.
 * Owns:  struct es behind st->impl (store_es.h): the HTTP client, the flavour and version
 *        found at open, the bulk sizing; what a bulk item's final status means.
 * Lends: nothing beyond store.h's rules.
 * Never: logs (store_info() carries "opensearch 2.19.6, cluster ..., at URL" for the caller's
 *        start line); acknowledges anything itself: STORE_OK means every record of every
 *        batch is in the cluster (HTTP 2xx per item, or 409: the create found it already
 *        there) or in the dead-letter file, and only then is the stream's seq written.
 * Trap:  sessions go in with op "create" and _id = "<id>@<sensor>" (es_session_doc_id: '@' is
 *        never in an id's text, so no two (id, sensor) pairs share an _id): a re-delivered
 *        record gets 409 and is counted as a duplicate, never rewritten, as SQLite's INSERT OR
 *        IGNORE on (start_us, id, sensor) (first write wins), while another sensor's record
 *        with the same id is a document of its own (issue 14, H1: the id is a public hash, and
 *        an _id of the id alone let one sensor pre-empt another's sessions). "index" would
 *        rewrite the same document on every re-delivery: a deleted Lucene doc per resend
 *        (merge work) and a version bump for nothing. The index is chosen by the
 *        session's own start day, so the resend meets its first copy.
 *        The stream seq uses version_type external_gte with version = seq: the cluster keeps
 *        the max of old and new without a script (409 = a higher seq is already there). */
#include "store_es.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "record_json.h"
#include "segmap.h"

void es_session_doc_id(const ProtobufCBinaryData *id, const char *sensor,
                       char out[ES_DOC_ID_LEN])
{
    int n = store_id_text(id, out);
    snprintf(out + (n > 0 ? n : 0), ES_DOC_ID_LEN - (size_t)(n > 0 ? n : 0), "@%s", sensor);
}

size_t es_escape(const char *s, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[6];
        size_t n;
        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p > 0x7e) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hex[*p >> 4];
            tmp[5] = hex[*p & 15];
            n = 6;
        } else {
            tmp[0] = (char)*p;
            n = 1;
        }
        if (o + n >= outsz)
            break;
        memcpy(out + o, tmp, n);
        o += n;
    }
    if (outsz)
        out[o] = '\0';
    return o;
}

int es_fail_call(struct store *st, const struct es_call *c, const char *what)
{
    char desc[400];
    es_call_describe(c, desc, sizeof desc);
    return store_fail(st, es_http_transient(c->status) ? STORE_ERR_RETRY : STORE_ERR,
                      "elasticsearch: %s: %s", what, desc);
}

const char *es_json_text(json_object *o, size_t *len)
{
    return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
                                             JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

json_object *es_obj1(const char *k, json_object *v)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, k, v);
    return o;
}

json_object *es_path(json_object *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && o; i++)
        if (!json_object_object_get_ex(o, keys[i], &o))
            return NULL;
    return o;
}

void es_sort_add(json_object *arr, const char *field, const char *dir, const char *type)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "order", json_object_new_string(dir));
    json_object_object_add(s, "unmapped_type", json_object_new_string(type));
    json_object_array_add(arr, es_obj1(field, s));
}

json_object *es_post(struct store *st, const char *path, json_object *body, long timeout_ms,
                     const char *what, int *rc)
{
    struct es_call c = { .method = "POST", .timeout_ms = timeout_ms };
    snprintf(c.path, sizeof c.path, "%s", path);
    if (body && !(c.body = es_json_text(body, &c.body_len))) {
        *rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: %s: out of memory", what);
        return NULL;
    }
    es_http_any(ES(st)->http, &c);
    json_object *o = NULL;
    if (c.status != 200)
        *rc = es_fail_call(st, &c, what);
    else if (!(o = es_call_json(&c)))
        *rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: %s: answer is not JSON: %.100s",
                         what, c.resp);
    es_call_clear(&c);
    return o;
}

/* ---- open / close ------------------------------------------------------------------- */

static void es_close(struct store *st)
{
    struct es *es = ES(st);
    if (!es)
        return;
    es_http_free(es->http);
    for (size_t i = 0; i < es->nspare; i++)
        free(es->spare[i].buf);
    free(es);
    st->impl = NULL;
}

/* An index prefix the cluster accepts and that needs no escaping anywhere. */
static int check_prefix(const char *p, char err[ASH_ERR_LEN])
{
    size_t len = strlen(p);
    bool ok = len >= 1 && len <= 48 && p[0] != '-' && p[0] != '_' && p[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
             p[i] == '_' || p[i] == '.';
    if (!ok)
        snprintf(err, ASH_ERR_LEN, "elasticsearch: es_prefix '%.64s': expected 1..48 of "
                 "[a-z0-9._-], not starting with '-', '_' or '.'", p);
    return ok ? 0 : -1;
}

/* GET /: flavour, version and cluster name; which template API the cluster has. */
static int detect(struct store *st, char err[ASH_ERR_LEN])
{
    struct es *es = ES(st);
    struct es_call c = { .method = "GET", .path = "/", .timeout_ms = 10000 };
    char desc[400];
    json_object *o = NULL, *v, *x;
    int rc = -1;

    es_http_any(es->http, &c);
    if (c.status != 200) {
        es_call_describe(&c, desc, sizeof desc);
        snprintf(err, ASH_ERR_LEN, "elasticsearch: GET /: %s", desc);
        goto out;
    }
    o = es_call_json(&c);
    const char *number = NULL, *dist = NULL, *cluster = "?";
    if (o && json_object_object_get_ex(o, "version", &v)) {
        if (json_object_object_get_ex(v, "number", &x))
            number = json_object_get_string(x);
        if (json_object_object_get_ex(v, "distribution", &x))
            dist = json_object_get_string(x);
    }
    if (o && json_object_object_get_ex(o, "cluster_name", &x))
        cluster = json_object_get_string(x);
    if (!number || sscanf(number, "%d.%d", &es->major, &es->minor) != 2) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: GET / on %s: no version.number in the "
                 "answer (not Elasticsearch or OpenSearch?): %.80s", es_http_where(es->http),
                 c.resp);
        goto out;
    }
    bool opensearch = dist && strcmp(dist, "opensearch") == 0;
    snprintf(es->dist, sizeof es->dist, "%s", opensearch ? "opensearch" : "elasticsearch");
    if (opensearch) {
        es->composable = true;                          /* every OpenSearch (1.0+) */
    } else if (es->major < 7) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: %s at %s: version %s is too old (7.0 or "
                 "newer needed: typeless mappings, date_nanos)", es->dist,
                 es_http_where(es->http), number);
        goto out;
    } else {
        es->composable = es->major > 7 || es->minor >= 8;   /* _index_template since 7.8 */
    }
    st->kind = opensearch ? "opensearch" : "elasticsearch";
    snprintf(st->info, sizeof st->info, "%s %s, cluster %.64s, at %s%s, bulk %lld bytes x %lld "
             "in flight, %s", es->dist, number, cluster, es_http_where(es->http),
             es->composable ? "" : " (legacy _template)", es->bulk_bytes, es->inflight,
             st->cfg.es_gzip > 0 ? "gzip" : st->cfg.es_gzip < 0 ? "no gzip"
                                             : "gzip (not to loopback)");
    rc = 0;
out:
    json_object_put(o);
    es_call_clear(&c);
    return rc;
}

static int es_open(struct store *st, const char *target, char err[ASH_ERR_LEN])
{
    const struct store_config *cfg = &st->cfg;
    struct es *es = calloc(1, sizeof *es);
    if (!es) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: out of memory");
        return -1;
    }
    st->impl = es;
    snprintf(es->prefix, sizeof es->prefix, "%s", cfg->es_prefix[0] ? cfg->es_prefix
                                                                     : ES_PREFIX_DEFAULT);
    if (check_prefix(es->prefix, err) < 0)
        goto fail;
    es->bulk_bytes = cfg->bulk_bytes ? cfg->bulk_bytes : ES_BULK_BYTES_DEFAULT;
    es->inflight = cfg->inflight ? cfg->inflight : ES_INFLIGHT_DEFAULT;
    es->window = es->inflight;
    es->cut_bytes = es->bulk_bytes;
    if (es->bulk_bytes < 1024 || es->bulk_bytes > ES_BULK_BYTES_MAX) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: bulk_bytes: expected 1024..%lld (under the "
                 "node's http.max_content_length of 100mb), got %lld", ES_BULK_BYTES_MAX,
                 es->bulk_bytes);
        goto fail;
    }
    const struct es_http_config hc = { target, cfg->user, cfg->password, cfg->api_key,
                                       cfg->ca_file, es->inflight, cfg->es_gzip };
    if (!(es->http = es_http_new(&hc, err)) || detect(st, err) < 0)
        goto fail;
    if (es_install_templates(st) != STORE_OK) {
        snprintf(err, ASH_ERR_LEN, "%s", st->err);
        goto fail;
    }
    st->err[0] = '\0';
    return 0;
fail:
    es_close(st);
    return -1;
}

/* ---- writing ----------------------------------------------------------------------- */

static void now_text(char out[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    record_json_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, out);
}

/* What a final item status other than 2xx/409 means: 400 is this document's fault (dead
 * letter); anything else (404 no index and no auto-create, 401/403 no privilege, ...) is the
 * cluster's, and no document is to blame. */
static bool blames_document(const struct es_item *it) { return it->status == 400; }

/* Write each stream's new seq, now that its batch's sessions are stored. */
static int put_seqs(struct store *st, const struct store_batch *b, size_t nb)
{
    struct es *es = ES(st);
    struct es_bulk bulk;
    char index[96], now[40], key[STORE_SENSOR_MAX * 6 + 64], sensor[STORE_SENSOR_MAX * 6 + 1];
    char doc[sizeof key + sizeof sensor + 128];
    int rc = STORE_OK;

    snprintf(index, sizeof index, "%s-sensors", es->prefix);
    now_text(now);
    es_bulk_init(&bulk, st);
    for (size_t bi = 0; bi < nb; bi++) {
        if (b[bi].seq == 0)
            continue;
        const char *stream = b[bi].stream ? b[bi].stream : b[bi].sensor;
        es_escape(stream, key, sizeof key);
        es_escape(b[bi].sensor, sensor, sizeof sensor);
        int n = snprintf(doc, sizeof doc, "{\"stream\":\"%s\",\"sensor\":\"%s\",\"seq\":%" PRIu64
                         ",\"updated\":\"%s\"}", key, sensor, b[bi].seq, now);
        if (es_bulk_add(&bulk, "index", index, stream, (int64_t)b[bi].seq, doc, (size_t)n) < 0) {
            es_bulk_free(&bulk);
            return store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
        }
    }
    if (bulk.n && (rc = es_bulk_run(st, &bulk)) == STORE_OK)
        for (size_t i = 0; i < bulk.n; i++)
            if (!es_item_ok(&bulk.items[i])) {
                rc = store_fail(st, STORE_ERR, "elasticsearch: %s: sequence not stored: %s",
                                index, es_item_reason(&bulk.items[i]));
                break;
            }
    es_bulk_free(&bulk);
    return rc;
}

struct origin {                   /* where bulk item i came from */
    size_t batch, rec;
};

static int es_put_batches(struct store *st, const struct store_batch *b, size_t nb)
{
    struct es *es = ES(st);
    struct es_bulk bulk;
    struct origin *from = NULL;
    struct record_json_buf json = { 0 };  /* each document rendered here, then into its block */
    size_t total = 0;
    int rc = STORE_OK;

    for (size_t bi = 0; bi < nb; bi++)
        total += b[bi].n;
    es_bulk_init(&bulk, st);
    if (total && !(from = malloc(total * sizeof *from)))
        return store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
    /* ashiato.segments by the map in force now (index time; queries expand the current
     * map instead: store_segments.c) */
    const struct segmap *seg = segmap_live_get(st->cfg.segments);
    for (size_t bi = 0; bi < nb; bi++)
        for (size_t i = 0; i < b[bi].n; i++) {
            const Ashiato__SessionRecord *r = b[bi].recs[i];
            char id[ES_DOC_ID_LEN], index[96];
            es_session_doc_id(&r->id, b[bi].sensor, id);   /* store.c checked both */
            es_index_day(es, "sessions", r->start_us, index, sizeof index);
            json.len = 0;
            if (record_json_append_in(&json, r, b[bi].sensor, seg) < 0 ||
                es_bulk_add(&bulk, "create", index, id, -1, json.data, json.len) < 0) {
                rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory rendering "
                                "batches[%zu] records[%zu]", bi, i);
                goto out;
            }
            from[bulk.n - 1] = (struct origin){ bi, i };
            es_bulk_push(st, &bulk);          /* sends while the rest is rendered */
        }
    if (bulk.n && (rc = es_bulk_run(st, &bulk)) != STORE_OK)
        goto out;
    /* a cluster-side refusal first: no document goes to the dead-letter file for it */
    for (size_t k = 0; k < bulk.n; k++) {
        const struct es_item *it = &bulk.items[k];
        if (!es_item_ok(it) && !blames_document(it)) {
            rc = store_fail(st, STORE_ERR, "elasticsearch: batches[%zu] records[%zu] of %s: %s",
                            from[k].batch, from[k].rec, b[from[k].batch].sensor, es_item_reason(it));
            goto out;
        }
    }
    uint64_t inserted = 0, dups = 0;
    for (size_t k = 0; k < bulk.n; k++) {
        const struct es_item *it = &bulk.items[k];
        const struct store_batch *bb = &b[from[k].batch];
        if (it->status == 409) {
            dups++;
        } else if (es_item_ok(it)) {
            inserted++;
        } else {
            char id[STORE_ID_LEN], reason[320];
            store_id_text(&bb->recs[from[k].rec]->id, id);
            snprintf(reason, sizeof reason, "batches[%zu] records[%zu] of %s seq %" PRIu64
                     ": elasticsearch refused the document: %s", from[k].batch, from[k].rec,
                     bb->sensor, bb->seq, es_item_reason(it));
            const char *lines = es_item_text(&bulk, it);
            const char *nl = memchr(lines, '\n', it->len);
            const char *doc = nl + 1;
            size_t doc_len = it->len - (size_t)(doc - lines) - 1;
            if ((rc = store_dead_letter(st, bb->sensor, bb->seq, id, reason, doc, doc_len,
                                        NULL)) != STORE_OK)
                goto out;
        }
    }
    st->counters.inserted += inserted;
    st->counters.duplicates += dups;
    rc = put_seqs(st, b, nb);
out:
    segmap_live_put(seg);
    free(from);
    record_json_buf_free(&json);
    es_bulk_abort(st, &bulk);
    es_bulk_free(&bulk);
    return rc;
}

static int es_sensor_seq(struct store *st, const char *stream, uint64_t *seq)
{
    struct es *es = ES(st);
    char id[STORE_SENSOR_MAX * 6 + 64], body[sizeof id + 160];
    es_escape(stream, id, sizeof id);
    int n = snprintf(body, sizeof body, "{\"docs\":[{\"_index\":\"%s-sensors\",\"_id\":\"%s\"}]}",
                     es->prefix, id);
    struct es_call c = { .method = "POST", .path = "/_mget?filter_path=docs.found,"
                         "docs._version,docs.error.type", .body = body, .body_len = (size_t)n };
    es_http_any(es->http, &c);
    int rc = STORE_OK;
    json_object *o = c.status == 200 ? es_call_json(&c) : NULL, *docs, *x;
    if (!o) {
        rc = es_fail_call(st, &c, "read the committed sequence");
        goto out;
    }
    json_object *d = json_object_object_get_ex(o, "docs", &docs) ?
                     json_object_array_get_idx(docs, 0) : NULL;
    if (d && json_object_object_get_ex(d, "found", &x) && json_object_get_boolean(x) &&
        json_object_object_get_ex(d, "_version", &x)) {
        *seq = (uint64_t)json_object_get_int64(x);
    } else if (d && json_object_object_get_ex(d, "error", &x)) {
        json_object *t;
        const char *type = json_object_object_get_ex(x, "type", &t) ? json_object_get_string(t)
                                                                     : "?";
        if (strcmp(type, "index_not_found_exception") != 0)   /* no stream stored yet: 0 */
            rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: read the committed sequence "
                            "of %.64s: %s", stream, type);
    } else if (!d) {
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: read the committed sequence: "
                        "unexpected answer %.100s", c.resp);
    }
out:
    json_object_put(o);
    es_call_clear(&c);
    return rc;
}

/* One document with op "index" (replace), every item ok or STORE_ERR. */
static int put_one(struct store *st, const char *index, const char *id, const char *doc,
                   size_t len)
{
    struct es_bulk bulk;
    int rc;
    es_bulk_init(&bulk, st);
    if (es_bulk_add(&bulk, "index", index, id, -1, doc, len) < 0)
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
    else if ((rc = es_bulk_run(st, &bulk)) == STORE_OK && !es_item_ok(&bulk.items[0]))
        rc = store_fail(st, STORE_ERR, "elasticsearch: %s: document %.64s refused: %s", index,
                        id, es_item_reason(&bulk.items[0]));
    es_bulk_free(&bulk);
    return rc;
}

static int64_t clamp64(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }

static int es_put_stats(struct store *st, const char *sensor, const Ashiato__SensorStats *x)
{
    static const char *const names[] = {
        "pcap_received", "pcap_dropped", "pcap_if_dropped", "packets", "malformed",
        "sessions_active", "sessions_total", "sessions_evicted", "outbox_batches",
        "outbox_bytes", "outbox_dropped", "disk_used_bytes", "disk_free_bytes",
    };
    const uint64_t v[] = { x->pcap_received, x->pcap_dropped, x->pcap_if_dropped, x->packets,
                           x->malformed, x->sessions_active, x->sessions_total,
                           x->sessions_evicted, x->outbox_batches, x->outbox_bytes,
                           x->outbox_dropped, x->disk_used_bytes, x->disk_free_bytes };
    char t[40], index[96], id[STORE_SENSOR_MAX + 32];
    int64_t us = x->time_us;
    if (us <= 0 || us > STORE_TIME_MAX) {       /* no (usable) time from the sensor: now */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    json_object *root = json_object_new_object(), *obs = json_object_new_object();
    json_object *ash = json_object_new_object(), *stats = json_object_new_object();
    if (!root || !obs || !ash || !stats) {
        json_object_put(root);
        json_object_put(obs);
        json_object_put(ash);
        json_object_put(stats);
        return store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
    }
    record_json_time(us, t);
    json_object_object_add(root, "@timestamp", json_object_new_string(t));
    json_object_object_add(obs, "name", json_object_new_string(sensor));
    json_object_object_add(root, "observer", obs);
    for (size_t i = 0; i < ASH_ARRAY_LEN(v); i++)
        json_object_object_add(stats, names[i], json_object_new_int64(clamp64(v[i])));
    json_object_object_add(stats, "oldest_packet_us",
                           json_object_new_int64(x->oldest_packet_us > 0 ? x->oldest_packet_us : 0));
    json_object_object_add(stats, "stats_interval_ms", json_object_new_int64(x->stats_interval_ms));
    json_object_object_add(ash, "stats", stats);
    json_object_object_add(root, "ashiato", ash);
    es_index_month(ES(st), "stats", us, index, sizeof index);
    snprintf(id, sizeof id, "%" PRId64 "@%s", us, sensor);
    size_t len = 0;
    const char *doc = es_json_text(root, &len);
    int rc = doc ? put_one(st, index, id, doc, len)
                 : store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
    json_object_put(root);
    return rc;
}

static int es_put_alert(struct store *st, const Ashiato__Alert *a)
{
    char index[96];
    size_t len = 0;
    char *doc = store_alert_json(a, &len);
    if (!doc)
        return store_fail(st, STORE_ERR_RETRY, "elasticsearch: alert %s: out of memory", a->id);
    es_index_month(ES(st), "alerts", a->start_us, index, sizeof index);
    int rc = put_one(st, index, a->id, doc, len);
    free(doc);
    return rc;
}

/* Each linked document gets a partial update ("doc" merge) of ashiato.linked: the union of
 * what it holds (read by _mget) and the new names. No script: a node may run without its
 * scripting module (the tests' node has none), and the aggregator is the only writer of
 * links, one call at a time, so read-then-write loses nothing. A document not found (not
 * stored) is skipped. */
struct link_target {
    char index[96], id[ES_DOC_ID_LEN];
    json_object *add;           /* the names to add: array of strings */
};

static int link_targets(struct store *st, const struct store_link *links, size_t n,
                        struct link_target *t, size_t *nt)
{
    *nt = 0;
    for (size_t i = 0; i < n; i++)
        for (int dir = 0; dir < 2; dir++) {
            const struct store_link *l = &links[i];
            char id[ES_DOC_ID_LEN], other[ES_DOC_ID_LEN];
            snprintf(id, sizeof id, "%s@%s", dir ? l->id_b : l->id_a,
                     dir ? l->sensor_b : l->sensor_a);
            snprintf(other, sizeof other, "%s@%s", dir ? l->id_a : l->id_b,
                     dir ? l->sensor_a : l->sensor_b);
            size_t k = 0;
            while (k < *nt && strcmp(t[k].id, id))
                k++;
            if (k == *nt) {
                struct link_target *x = &t[(*nt)++];
                snprintf(x->id, sizeof x->id, "%s", id);
                es_index_day(ES(st), "sessions", dir ? l->start_b_us : l->start_a_us, x->index,
                             sizeof x->index);
                if (!(x->add = json_object_new_array()))
                    return store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
            }
            json_object_array_add(t[k].add, json_object_new_string(other));
        }
    return STORE_OK;
}

static bool list_has(json_object *list, const char *s)
{
    for (size_t i = 0; i < json_object_array_length(list); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(list, i)), s))
            return true;
    return false;
}

static int es_put_links(struct store *st, const struct store_link *links, size_t n)
{
    struct link_target *t = calloc(2 * n, sizeof *t);
    json_object *req = json_object_new_object(), *docs = json_object_new_array(), *o = NULL;
    struct es_call c = { 0 };
    struct es_bulk bulk;
    size_t nt = 0;
    int rc = STORE_OK;
    es_bulk_init(&bulk, st);
    if (!t || !req || !docs) {
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: links: out of memory");
        goto out;
    }
    if ((rc = link_targets(st, links, n, t, &nt)) != STORE_OK)
        goto out;
    for (size_t k = 0; k < nt; k++) {
        json_object *d = json_object_new_object(), *src = json_object_new_array();
        json_object_array_add(src, json_object_new_string("ashiato.linked"));
        json_object_object_add(d, "_index", json_object_new_string(t[k].index));
        json_object_object_add(d, "_id", json_object_new_string(t[k].id));
        json_object_object_add(d, "_source", src);
        json_object_array_add(docs, d);
    }
    json_object_object_add(req, "docs", docs);
    docs = NULL;
    size_t len = 0;
    const char *body = es_json_text(req, &len);
    c = (struct es_call){ .method = "POST", .path = "/_mget", .body = body, .body_len = len };
    es_http_any(ES(st)->http, &c);
    json_object *got;
    if (!(o = c.status == 200 ? es_call_json(&c) : NULL) ||
        !json_object_object_get_ex(o, "docs", &got) ||
        json_object_array_length(got) != nt) {
        rc = es_fail_call(st, &c, "read linked sessions");
        goto out;
    }
    for (size_t k = 0; k < nt; k++) {
        json_object *d = json_object_array_get_idx(got, k), *x, *have = NULL;
        if (!json_object_object_get_ex(d, "found", &x) || !json_object_get_boolean(x))
            continue;                           /* not stored: skipped */
        json_object *list = json_object_new_array();
        if (json_object_object_get_ex(d, "_source", &x) &&
            json_object_object_get_ex(x, "ashiato", &x) &&
            json_object_object_get_ex(x, "linked", &have)) {
            if (json_object_is_type(have, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(have); i++) {
                    json_object *v = json_object_array_get_idx(have, i);
                    json_object_array_add(list, json_object_get(v));
                }
            } else {
                json_object_array_add(list, json_object_get(have));
            }
        }
        size_t before = json_object_array_length(list);
        for (size_t i = 0; i < json_object_array_length(t[k].add); i++) {
            const char *name = json_object_get_string(json_object_array_get_idx(t[k].add, i));
            if (!list_has(list, name))
                json_object_array_add(list, json_object_new_string(name));
        }
        if (json_object_array_length(list) == before) {
            json_object_put(list);              /* named already: nothing to write */
            continue;
        }
        json_object *upd = json_object_new_object(), *ash = json_object_new_object();
        json_object_object_add(ash, "linked", list);
        json_object_object_add(upd, "doc", json_object_new_object());
        json_object_object_get_ex(upd, "doc", &x);
        json_object_object_add(x, "ashiato", ash);
        size_t ulen = 0;
        const char *u = es_json_text(upd, &ulen);
        int e = u ? es_bulk_add(&bulk, "update", t[k].index, t[k].id, -1, u, ulen) : -1;
        json_object_put(upd);
        if (e < 0) {
            rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: links: out of memory");
            goto out;
        }
    }
    if (bulk.n && (rc = es_bulk_run(st, &bulk)) == STORE_OK)
        for (size_t i = 0; i < bulk.n; i++)
            if (!es_item_ok(&bulk.items[i]) && bulk.items[i].status != 404) {
                rc = store_fail(st, STORE_ERR, "elasticsearch: link update refused: %s",
                                es_item_reason(&bulk.items[i]));
                break;
            }
out:
    for (size_t k = 0; t && k < nt; k++)
        json_object_put(t[k].add);
    free(t);
    json_object_put(o);
    json_object_put(docs);
    json_object_put(req);
    es_call_clear(&c);
    es_bulk_free(&bulk);
    return rc;
}

const struct store_backend store_es_backend = {
    .kind = "elasticsearch",
    .open = es_open,
    .close = es_close,
    .put_batches = es_put_batches,
    .sensor_seq = es_sensor_seq,
    .put_stats = es_put_stats,
    .put_alert = es_put_alert,
    .query_sessions = es_query_sessions,
    .query_docs = es_query_docs,
    .count_by = es_count_by,
    .histogram = es_histogram,
    .query_page = es_query_page,
    .get_session = es_get_session,
    .delete_older = es_delete_older,
    .query_alerts = es_query_alerts,
    .put_links = es_put_links,
    .latest_stats = es_latest_stats,
    .stats_history = es_stats_history,
    .delete_stats_older = es_delete_stats_older,
};
