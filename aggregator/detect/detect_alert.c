/* detect_alert.c -- alerts while they grow: open, add targets/sensors/evidence (capped, with
 * totals), send new or grown ones to the sink, close; and the ECS JSON document.
 * Owns:  every open struct detect_alert (malloc'd, listed in d->alerts).
 * Lends: alerts to the sink during the call.
 * Never: decides what is an alert (the detectors do). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"
#include "record_json.h"

struct detect_alert *detect_alert_open(struct detect *d, const char *rule, const uint8_t *src,
                                       const char *key, int64_t t_us)
{
    if (d->alerts.n == d->alerts.cap) {
        size_t nc = d->alerts.cap ? d->alerts.cap * 2 : 64, bytes;
        if (!ash_mul_size(nc, sizeof *d->alerts.v, &bytes))
            return NULL;
        struct detect_alert **v = realloc(d->alerts.v, bytes);
        if (!v)
            return NULL;
        d->alerts.v = v;
        d->alerts.cap = nc;
    }
    struct detect_alert *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rule = rule;
    if (src) {
        memcpy(a->source, src, 16);
        a->has_source = true;
        a->approved = detect_in_list(d->cfg.approved, d->cfg.n_approved, src);
    }
    a->start_us = a->end_us = t_us;
    /* the id: rule, source, the detector's key and the first time, hashed */
    uint8_t buf[256];
    size_t n = 0, kl = key ? strlen(key) : 0, rl = strlen(rule);
    if (kl > 128)
        kl = 128;
    memcpy(buf + n, rule, rl);
    n += rl;
    if (src) {
        memcpy(buf + n, src, 16);
        n += 16;
    }
    memcpy(buf + n, key, kl);
    n += kl;
    memcpy(buf + n, &t_us, 8);
    n += 8;
    uint64_t h1 = hmap_hash_bytes(buf, n, 0x616c657274), h2 = hmap_hash_bytes(buf, n, 7);
    snprintf(a->id, sizeof a->id, "%.20s-%016llx%08llx", rule, (unsigned long long)h1,
             (unsigned long long)(h2 >> 32));
    a->dirty = true;
    d->alerts.v[d->alerts.n++] = a;
    d->st.alerts++;
    return a;
}

void detect_alert_host(struct detect_alert *a, const uint8_t ip[16], uint32_t max)
{
    for (uint32_t i = 0; i < a->n_hosts; i++)
        if (!memcmp(a->hosts[i], ip, 16))
            return;
    if (a->n_hosts < max && a->n_hosts < DETECT_TARGETS_MAX)
        memcpy(a->hosts[a->n_hosts++], ip, 16);
    a->dirty = true;
}

void detect_alert_port(struct detect_alert *a, uint16_t port, uint32_t max)
{
    for (uint32_t i = 0; i < a->n_ports; i++)
        if (a->ports[i] == port)
            return;
    if (a->n_ports < max && a->n_ports < DETECT_TARGETS_MAX)
        a->ports[a->n_ports++] = port;
    a->dirty = true;
}

void detect_alert_sensor(struct detect_alert *a, const char *sensor)
{
    if (!sensor || !sensor[0])
        return;
    for (uint32_t i = 0; i < a->n_sensors; i++)
        if (!strcmp(a->sensors[i], sensor))
            return;
    if (a->n_sensors < ASH_ARRAY_LEN(a->sensors)) {
        snprintf(a->sensors[a->n_sensors++], DETECT_NAME_LEN, "%s", sensor);
        a->dirty = true;
    }
}

_Static_assert(DETECT_EVIDENCE_BYTES <= UINT16_MAX + 1, "evidence offsets fit evidence_at");

void detect_alert_evidence(struct detect_alert *a, const char *id, uint32_t max)
{
    if (!id || !id[0] || a->n_evidence >= max || a->n_evidence >= DETECT_TARGETS_MAX)
        return;
    size_t n = strlen(id) + 1;
    if (n > sizeof a->evidence_ids - a->evidence_len)
        return;                 /* whole or not at all */
    memcpy(a->evidence_ids + a->evidence_len, id, n);
    a->evidence_at[a->n_evidence++] = (uint16_t)a->evidence_len;
    a->evidence_len += (uint32_t)n;
    a->dirty = true;
}

const char *detect_alert_evidence_id(const struct detect_alert *a, uint32_t i)
{
    return a->evidence_ids + a->evidence_at[i];
}

/* A record that belongs to the alert: times, sensor, evidence, counts, segments. */
void detect_alert_touch(struct detect *d, struct detect_alert *a, const struct detect_facts *f)
{
    const struct detect_record *r = f->r;
    if (r->start_us < a->start_us)
        a->start_us = r->start_us;
    int64_t end = r->end_us > r->start_us ? r->end_us : r->start_us;
    if (end > a->end_us)
        a->end_us = end;
    detect_alert_sensor(a, r->sensor);
    detect_alert_evidence(a, r->session_id, d->cfg.max_targets);
    a->sessions++;
    if (f->outcome == OUTCOME_SUCCESS)
        a->successes++;
    else if (f->outcome == OUTCOME_FAILURE)
        a->failures++;
    if (f->dst_seg >= 0)
        a->segments |= 1ULL << f->dst_seg;
    else
        a->outside = true;
    a->dirty = true;
}

static void segment_names(const struct detect *d, const struct detect_alert *a, char *out,
                          size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->cfg.n_segments && i < 64 && n < len; i++)
        if (a->segments & (1ULL << i))
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", d->cfg.segments[i]);
    if (a->outside && n < len)
        snprintf(out + n, len - n, "%soutside", n ? ", " : "");
}

/* the human sentence, from what the alert holds now */
static void describe(struct detect *d, struct detect_alert *a)
{
    char src[48] = "", host[48] = "", t0[40], t1[40], segs[256], sensors[128] = "";
    if (a->has_source)
        detect_addr_text(a->source, src);
    if (a->n_hosts)
        detect_addr_text(a->hosts[0], host);
    record_json_time(a->start_us, t0);
    record_json_time(a->end_us, t1);
    segment_names(d, a, segs, sizeof segs);
    for (uint32_t i = 0, n = 0; i < a->n_sensors && n < sizeof sensors; i++)
        n += (size_t)snprintf(sensors + n, sizeof sensors - n, "%s%s", i ? ", " : "",
                              a->sensors[i]);
    const char *r = a->rule;
    if (!strcmp(r, "address_scan"))
        snprintf(a->message, sizeof a->message, "%s scanned %llu hosts on port %u (%llu failed "
                 "attempts) from %s to %s", src, (unsigned long long)a->total_hosts,
                 a->n_ports ? a->ports[0] : 0, (unsigned long long)a->failures, t0, t1);
    else if (!strcmp(r, "port_scan"))
        snprintf(a->message, sizeof a->message, "%s scanned %llu ports of %s (%llu failed "
                 "attempts) from %s to %s", src, (unsigned long long)a->total_ports, host,
                 (unsigned long long)a->failures, t0, t1);
    else if (!strcmp(r, "scanner"))
        snprintf(a->message, sizeof a->message, "%s is a scanner by threshold random walk: "
                 "%llu of its first contacts failed, %llu succeeded, %llu hosts, from %s to %s",
                 src, (unsigned long long)a->failures, (unsigned long long)a->successes,
                 (unsigned long long)a->total_hosts, t0, t1);
    else if (!strcmp(r, "lateral_movement"))
        snprintf(a->message, sizeof a->message, "%s reached %llu hosts in other segments (%s): "
                 "%llu successful and %llu failed sessions, seen by %s, from %s to %s", src,
                 (unsigned long long)a->total_hosts, segs, (unsigned long long)a->successes,
                 (unsigned long long)a->failures, sensors, t0, t1);
    else if (!strcmp(r, "session_spike"))
        snprintf(a->message, sizeof a->message, "segment %s: %llu sessions in the minute from "
                 "%s, baseline %.1f (sigma %.1f); %u sources account for the excess, first %s",
                 a->prefix, (unsigned long long)a->sessions, t0, a->baseline, a->sigma,
                 a->n_sources, src);
    else
        snprintf(a->message, sizeof a->message, "%s saw %llu sessions with addresses of %s that "
                 "should not appear there (first %s) from %s to %s", sensors,
                 (unsigned long long)a->sessions, a->prefix, src, t0, t1);
}

static void send(struct detect *d, struct detect_alert *a, bool final)
{
    describe(d, a);
    if (d->sink)
        d->sink(a, final, d->sink_ctx);
    if (!final)
        d->st.alert_updates++;
    a->dirty = false;
}

static void drop_at(struct detect *d, size_t i)
{
    free(d->alerts.v[i]);
    d->alerts.v[i] = d->alerts.v[--d->alerts.n];
}

void detect_alert_close(struct detect *d, struct detect_alert *a)
{
    for (size_t i = 0; i < d->alerts.n; i++)
        if (d->alerts.v[i] == a) {
            send(d, a, true);
            drop_at(d, i);
            return;
        }
}

void detect_alert_send_dirty(struct detect *d)
{
    for (size_t i = 0; i < d->alerts.n; i++)
        if (d->alerts.v[i]->dirty)
            send(d, d->alerts.v[i], false);
}

void detect_alert_close_all(struct detect *d)
{
    while (d->alerts.n) {
        send(d, d->alerts.v[d->alerts.n - 1], true);
        drop_at(d, d->alerts.n - 1);
    }
}

void detect_alert_free_all(struct detect *d)
{
    for (size_t i = 0; i < d->alerts.n; i++)
        free(d->alerts.v[i]);
    free(d->alerts.v);
    d->alerts.v = NULL;
    d->alerts.n = d->alerts.cap = 0;
}

void detect_window_close(struct window_entry *e, void *ctx)
{
    if (e->user)
        detect_alert_close(ctx, e->user);
    e->user = NULL;
}

static json_object *str(const char *s)
{
    return json_object_new_string(s);
}

char *detect_alert_json(const struct detect_alert *a, const struct detect_config *cfg)
{
    char t[40], ip[48];
    json_object *root = json_object_new_object(), *o, *arr;
    if (!root)
        return NULL;
    record_json_time(a->start_us, t);
    json_object_object_add(root, "@timestamp", str(t));
    o = json_object_new_object();
    json_object_object_add(o, "kind", str("alert"));
    json_object_object_add(o, "id", str(a->id));
    json_object_object_add(o, "start", str(t));
    record_json_time(a->end_us, t);
    json_object_object_add(o, "end", str(t));
    json_object_object_add(root, "event", o);
    o = json_object_new_object();
    json_object_object_add(o, "name", str(a->rule));
    json_object_object_add(root, "rule", o);
    if (a->has_source) {
        o = json_object_new_object();
        detect_addr_text(a->source, ip);
        json_object_object_add(o, "ip", str(ip));
        json_object_object_add(root, "source", o);
    }
    o = json_object_new_object();
    arr = json_object_new_array();
    for (uint32_t i = 0; i < a->n_hosts; i++) {
        detect_addr_text(a->hosts[i], ip);
        json_object_array_add(arr, str(ip));
    }
    json_object_object_add(o, "ip", arr);
    arr = json_object_new_array();
    for (uint32_t i = 0; i < a->n_ports; i++)
        json_object_array_add(arr, json_object_new_int(a->ports[i]));
    json_object_object_add(o, "port", arr);
    json_object_object_add(root, "destination", o);
    o = json_object_new_object();
    arr = json_object_new_array();
    for (uint32_t i = 0; i < a->n_sensors; i++)
        json_object_array_add(arr, str(a->sensors[i]));
    json_object_object_add(o, "name", arr);
    json_object_object_add(root, "observer", o);
    arr = json_object_new_array();
    if (a->approved)
        json_object_array_add(arr, str("approved"));
    json_object_object_add(root, "tags", arr);
    json_object_object_add(root, "message", str(a->message));

    json_object *ash = json_object_new_object();
    arr = json_object_new_array();
    for (size_t i = 0; i < cfg->n_segments && i < 64; i++)
        if (a->segments & (1ULL << i))
            json_object_array_add(arr, str(cfg->segments[i]));
    if (a->outside)
        json_object_array_add(arr, str("outside"));
    json_object_object_add(ash, "segments", arr);
    json_object_object_add(ash, "score", json_object_new_double(a->score));
    arr = json_object_new_array();
    for (uint32_t i = 0; i < a->n_evidence; i++)
        json_object_array_add(arr, str(detect_alert_evidence_id(a, i)));
    json_object_object_add(ash, "evidence", arr);
    o = json_object_new_object();
    json_object_object_add(o, "hosts", json_object_new_int64((int64_t)a->total_hosts));
    json_object_object_add(o, "ports", json_object_new_int64((int64_t)a->total_ports));
    json_object_object_add(ash, "targets", o);
    json_object_object_add(ash, "sessions", json_object_new_int64((int64_t)a->sessions));
    json_object_object_add(ash, "successes", json_object_new_int64((int64_t)a->successes));
    json_object_object_add(ash, "failures", json_object_new_int64((int64_t)a->failures));
    if (a->n_sources) {
        arr = json_object_new_array();
        for (uint32_t i = 0; i < a->n_sources; i++) {
            detect_addr_text(a->sources[i], ip);
            json_object_array_add(arr, str(ip));
        }
        json_object_object_add(ash, "sources", arr);
    }
    if (a->prefix[0])
        json_object_object_add(ash, "prefix", str(a->prefix));
    json_object_object_add(root, "ashiato", ash);
    size_t n = 0;
    const char *text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = text ? strndup(text, n) : NULL;
    json_object_put(root);
    return out;
}
