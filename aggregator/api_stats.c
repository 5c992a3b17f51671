/* api_stats.c -- stats.json, /metrics (Prometheus text) and fields.json (alerts.json is
 * api_alerts.c).
 * Owns:  the shapes of those answers and the Prometheus metric names (ashiato_*).
 * Never: reads the receive loop's state except through http_server_stats().
 * Trap:  /metrics sits behind the same auth as every route (a Prometheus scrape needs a
 *        user: basic_auth over TLS, see README "The HTTP API"); it is never open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_query.h"
#include "http_server.h"
#include "field_catalog.h"
#include "record_json.h"

struct collect {
    json_object *arr;
};

static int collect_doc(void *ctx, const char *text, size_t len)
{
    struct collect *c = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (o)
        json_object_array_add(c->arr, o);
    return 0;
}

static json_object *aggregator_obj(struct http_request *rq)
{
    struct http_shared_stats s;
    struct store_counters sc;
    http_server_stats(rq->srv, &s);
    store_counters(rq->st, &sc);
    json_object *a = json_object_new_object();
    char t[40];
    record_json_time(s.started_us, t);
    json_object_object_add(a, "started", json_object_new_string(t));
    json_object_object_add(a, "uptimeSeconds", json_object_new_int64((rq->now_us - s.started_us) / 1000000));
    json_object_object_add(a, "store", json_object_new_string(store_kind(rq->st)));
#define C(name, v) json_object_object_add(a, name, json_object_new_int64((int64_t)(v)))
    C("batches", s.batches);
    C("records", s.records);
    C("duplicates", s.duplicates);
    C("gaps", s.gaps);
    C("storeRetries", s.store_retries);
    C("storeErrors", s.store_errors);
    C("badMessages", s.bad_messages);
    C("statsMessages", s.stats_messages);
    C("handshakeFailures", s.handshake_failures);
    C("sensorsConnected", s.sensors);
    C("groups", s.groups);
    C("httpRequests", s.http_requests);
    C("httpErrors", s.http_errors);
    C("httpAuthFailures", s.http_auth_failures);
    C("pcapDownloads", s.pcap_downloads);
#undef C
    return a;
}

int api_stats_json(struct http_request *rq, struct http_reply *rp)
{
    struct collect c = { json_object_new_array() };
    if (store_latest_stats(rq->st, collect_doc, &c) != STORE_OK) {
        json_object_put(c.arr);
        return http_reply_error(rp, 503, -1, "store: %s", store_error(rq->st));
    }
    size_t n = json_object_array_length(c.arr);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(c.arr, i), *v;
        if (json_object_object_get_ex(o, "sensor", &v))
            json_object_object_add(o, "nodeName", json_object_new_string(json_object_get_string(v)));
        if (json_object_object_get_ex(o, "time", &v))
            json_object_object_add(o, "lastSeen", json_object_new_string(json_object_get_string(v)));
        if (json_object_object_get_ex(o, "time_us", &v))
            json_object_object_add(o, "lastSeenAgoSeconds", json_object_new_int64(
                (rq->now_us - json_object_get_int64(v)) / 1000000));
        /* the oldest packet the sensor still keeps (its pcap catalogue), if it keeps any */
        if (json_object_object_get_ex(o, "oldest_packet_us", &v) && json_object_get_int64(v) > 0) {
            char t[40];
            record_json_time(json_object_get_int64(v), t);
            json_object_object_add(o, "oldestPacket", json_object_new_string(t));
        }
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "aggregator", aggregator_obj(rq));
    json_object_object_add(o, "recordsTotal", json_object_new_int64((int64_t)n));
    json_object_object_add(o, "recordsFiltered", json_object_new_int64((int64_t)n));
    json_object_object_add(o, "data", c.arr);
    rp->count = (long long)n;
    return http_reply_json(rp, 200, o);
}

/* a Prometheus label value: backslash, quote and newline escaped */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

int api_metrics(struct http_request *rq, struct http_reply *rp)
{
    struct collect c = { json_object_new_array() };
    int src = store_latest_stats(rq->st, collect_doc, &c);
    struct http_shared_stats s;
    struct store_counters sc;
    http_server_stats(rq->srv, &s);
    store_counters(rq->st, &sc);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        json_object_put(c.arr);
        return http_reply_error(rp, 500, -1, "out of memory");
    }
    static const struct { const char *name, *help; size_t off; } agg[] = {
#define M(n, h, fld) { n, h, offsetof(struct http_shared_stats, fld) }
        M("ashiato_aggregator_batches_total", "sensor batches committed", batches),
        M("ashiato_aggregator_records_total", "session records committed", records),
        M("ashiato_aggregator_duplicates_total", "batches delivered again and stored once", duplicates),
        M("ashiato_aggregator_gaps_total", "batches that arrived before their predecessor", gaps),
        M("ashiato_aggregator_store_retries_total", "store commits to retry", store_retries),
        M("ashiato_aggregator_store_errors_total", "store commits refused for good", store_errors),
        M("ashiato_aggregator_bad_messages_total", "messages from sensors that did not decode", bad_messages),
        M("ashiato_aggregator_handshake_failures_total", "CurveZMQ handshakes refused", handshake_failures),
        M("ashiato_http_requests_total", "HTTP API requests", http_requests),
        M("ashiato_http_errors_total", "HTTP API answers with status >= 400", http_errors),
        M("ashiato_http_auth_failures_total", "HTTP API requests refused for authentication", http_auth_failures),
        M("ashiato_http_pcap_downloads_total", "pcap answers served", pcap_downloads),
#undef M
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(agg); i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", agg[i].name, agg[i].help,
                agg[i].name, agg[i].name,
                (unsigned long long)*(const uint64_t *)((const char *)&s + agg[i].off));
    fprintf(f, "# HELP ashiato_aggregator_sensors_connected sensors connected now\n"
            "# TYPE ashiato_aggregator_sensors_connected gauge\n"
            "ashiato_aggregator_sensors_connected %llu\n", (unsigned long long)s.sensors);
    static const char *const sensor_counters[] = {
        "pcap_received", "pcap_dropped", "pcap_if_dropped", "packets", "malformed",
        "sessions_total", "sessions_evicted", "outbox_dropped",
    };
    static const char *const sensor_gauges[] = {
        "sessions_active", "outbox_batches", "outbox_bytes", "disk_used_bytes", "disk_free_bytes",
    };
    size_t n = src == STORE_OK ? json_object_array_length(c.arr) : 0;
    for (int kind = 0; kind < 2; kind++) {
        const char *const *names = kind ? sensor_gauges : sensor_counters;
        size_t nn = kind ? ASH_ARRAY_LEN(sensor_gauges) : ASH_ARRAY_LEN(sensor_counters);
        for (size_t k = 0; k < nn; k++) {
            fprintf(f, "# HELP ashiato_sensor_%s%s the sensor's last SensorStats %s\n"
                    "# TYPE ashiato_sensor_%s%s %s\n", names[k], kind ? "" : "_total", names[k],
                    names[k], kind ? "" : "_total", kind ? "gauge" : "counter");
            for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(c.arr, i), *v, *name;
                if (!json_object_object_get_ex(o, names[k], &v) ||
                    !json_object_object_get_ex(o, "sensor", &name))
                    continue;
                fprintf(f, "ashiato_sensor_%s%s{sensor=\"", names[k], kind ? "" : "_total");
                label(f, json_object_get_string(name));
                fprintf(f, "\"} %lld\n", (long long)json_object_get_int64(v));
            }
        }
    }
    fprintf(f, "# HELP ashiato_sensor_last_seen_seconds when the sensor's last stats were taken "
            "(epoch seconds)\n# TYPE ashiato_sensor_last_seen_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(c.arr, i), *v, *name;
        if (json_object_object_get_ex(o, "time_us", &v) && json_object_object_get_ex(o, "sensor", &name)) {
            fprintf(f, "ashiato_sensor_last_seen_seconds{sensor=\"");
            label(f, json_object_get_string(name));
            fprintf(f, "\"} %.3f\n", (double)json_object_get_int64(v) / 1e6);
        }
    }
    fprintf(f, "# HELP ashiato_sensor_oldest_packet_seconds the oldest packet the sensor keeps "
            "(epoch seconds; absent when it keeps none)\n# TYPE ashiato_sensor_oldest_packet_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(c.arr, i), *v, *name;
        if (json_object_object_get_ex(o, "oldest_packet_us", &v) && json_object_get_int64(v) > 0 &&
            json_object_object_get_ex(o, "sensor", &name)) {
            fprintf(f, "ashiato_sensor_oldest_packet_seconds{sensor=\"");
            label(f, json_object_get_string(name));
            fprintf(f, "\"} %.3f\n", (double)json_object_get_int64(v) / 1e6);
        }
    }
    fclose(f);
    json_object_put(c.arr);
    rp->count = (long long)n;
    rp->status = 200;
    return http_reply_take(rp, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}

int api_fields_json(struct http_request *rq, struct http_reply *rp)
{
    /* type=alerts: the fields of alerts.json expressions */
    const struct field_table *t = field_catalog_table(rq->params.type ? rq->params.type
                                                                      : "sessions");
    if (!t)
        return http_reply_error(rp, 400, -1, "type: expected sessions or alerts, got '%.40s'",
                                rq->params.type);
    size_t len = 0;
    char *text = field_catalog_json_of(t, &len);
    if (!text)
        return http_reply_error(rp, 500, -1, "fields: out of memory");
    rp->status = 200;
    rp->count = (long long)t->n;
    return http_reply_take(rp, "application/json", text, len);
}
