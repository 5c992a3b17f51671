/* store_write.c -- the writing half of store.h: the checks every backend shares before a
 * record, a batch, stats, an alert or a link reaches it; dead-lettering; the alert document.
 * Owns:  the record validation (record_problem), the batches without their bad records.
 * Lends: nothing past a call.
 * Never: touches a database or the network itself (the backends do); logs.
 * Trap:  a record rejected for good goes to the dead-letter file and the rest of its batch is
 *        stored; without the file the whole batch fails (store.h, store_put_batch). */
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "record_json.h"

#define counted store_counted

char *store_alert_json(const Ashiato__Alert *a, size_t *len)
{
    if (a->doc && a->doc[0]) {          /* the detectors' own document, kept as written */
        char *d = strdup(a->doc);
        if (d && len)
            *len = strlen(d);
        return d;
    }
    char t[40], ip[48], id[STORE_ID_LEN];
    json_object *root = json_object_new_object(), *o, *arr;
    if (!root)
        return NULL;
    record_json_time(a->start_us, t);
    json_object_object_add(root, "@timestamp", json_object_new_string(t));
    o = json_object_new_object();
    json_object_object_add(o, "kind", json_object_new_string("alert"));
    json_object_object_add(o, "id", json_object_new_string(a->id ? a->id : ""));
    json_object_object_add(o, "start", json_object_new_string(t));
    record_json_time(a->end_us, t);
    json_object_object_add(o, "end", json_object_new_string(t));
    json_object_object_add(root, "event", o);
    o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(a->kind ? a->kind : ""));
    json_object_object_add(root, "rule", o);
    record_json_ip(a->source_ip.data, a->source_ip.len, ip);
    if (ip[0]) {
        o = json_object_new_object();
        json_object_object_add(o, "ip", json_object_new_string(ip));
        json_object_object_add(root, "source", o);
    }
    arr = json_object_new_array();
    for (size_t i = 0; i < a->n_sensors; i++)
        json_object_array_add(arr, json_object_new_string(a->sensors[i] ? a->sensors[i] : ""));
    o = json_object_new_object();
    json_object_object_add(o, "name", arr);
    json_object_object_add(root, "observer", o);
    if (a->summary && a->summary[0])
        json_object_object_add(root, "message", json_object_new_string(a->summary));
    arr = json_object_new_array();
    for (size_t i = 0; i < a->n_session_ids; i++)
        if (store_id_text(&a->session_ids[i], id) >= 0)
            json_object_array_add(arr, json_object_new_string(id));
    o = json_object_new_object();
    json_object_object_add(o, "kind", json_object_new_string(a->kind ? a->kind : ""));
    json_object_object_add(o, "sessions", json_object_new_int64(
        a->sessions > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)a->sessions));
    json_object_object_add(o, "session_ids", arr);
    json_object *ash = json_object_new_object();
    json_object_object_add(ash, "alert", o);
    json_object_object_add(root, "ashiato", ash);
    size_t n = 0;
    const char *text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = text ? strndup(text, n) : NULL;
    if (out && len)
        *len = n;
    json_object_put(root);
    return out;
}

int store_dead_letter(struct store *st, const char *sensor, uint64_t seq, const char *id,
                      const char *reason, const char *doc, size_t doc_len,
                      const Ashiato__SessionRecord *rec)
{
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    int rc = STORE_OK;

    if (st->cfg.dead_letter[0] == '\0')
        return store_fail(st, STORE_ERR, "%s (no dead_letter file configured)", reason);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_object *o = json_object_new_object();
    if (!o)
        return store_fail(st, STORE_ERR_RETRY, "dead letter: out of memory");
    json_object_object_add(o, "time", json_object_new_string(stamp));
    json_object_object_add(o, "sensor", json_object_new_string(sensor));
    json_object_object_add(o, "seq", json_object_new_uint64(seq));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    json_object *d = doc ? json_tokener_parse(doc) : NULL;
    if (d) {
        json_object_object_add(o, "doc", d);
    } else if (doc) {
        json_object_object_add(o, "doc_text", json_object_new_string_len(doc, (int)doc_len));
    } else if (rec) {
        size_t plen = ashiato__session_record__get_packed_size(rec);
        uint8_t *packed = malloc(plen ? plen : 1);
        char *hexs = malloc(2 * plen + 1);
        if (packed && hexs) {
            ashiato__session_record__pack(rec, packed);
            for (size_t i = 0; i < plen; i++)
                sprintf(hexs + 2 * i, "%02x", packed[i]);
            hexs[2 * plen] = '\0';
            json_object_object_add(o, "record", json_object_new_string(hexs));
        } else {
            rc = store_fail(st, STORE_ERR_RETRY, "dead letter: out of memory");
        }
        free(packed);
        free(hexs);
    }
    size_t len = 0;
    const char *line = rc ? NULL : json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN,
                                                                     &len);
    if (line) {
        int fd = open(st->cfg.dead_letter, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        /* one write() of line + '\n' keeps lines whole even with several writers */
        char *buf = malloc(len + 1);
        if (fd < 0 || !buf) {
            rc = store_fail(st, STORE_ERR_RETRY, "dead letter %s: %s", st->cfg.dead_letter,
                            fd < 0 ? strerror(errno) : "out of memory");
        } else {
            memcpy(buf, line, len);
            buf[len] = '\n';
            ssize_t w = write(fd, buf, len + 1);
            if (w != (ssize_t)(len + 1) || fsync(fd) < 0)
                rc = store_fail(st, STORE_ERR_RETRY, "dead letter %s: %s", st->cfg.dead_letter,
                                w < 0 || w == (ssize_t)(len + 1) ? strerror(errno) : "short write");
        }
        free(buf);
        if (fd >= 0)
            close(fd);
    }
    json_object_put(o);
    if (rc == STORE_OK)
        st->counters.dead_lettered++;
    return rc;
}

/* ---- writing ----------------------------------------------------------------------- */

static int check_sensor(struct store *st, const char *sensor)
{
    size_t len = sensor ? strnlen(sensor, STORE_SENSOR_MAX + 1) : 0;
    if (len == 0 || len > STORE_SENSOR_MAX)
        return store_fail(st, STORE_ERR, "sensor: expected 1..%d bytes, got %s", STORE_SENSOR_MAX,
                          len ? "more" : "none");
    return 0;
}

/* Why a record can never be stored, or NULL. */
static const char *record_problem(const Ashiato__SessionRecord *r, char *why, size_t whysz)
{
    char idtext[STORE_ID_LEN];
    if (store_id_text(&r->id, idtext) < 0) {
        snprintf(why, whysz, "id: %zu bytes, expected 1..%d characters [A-Za-z0-9._:-] or "
                 "1..%d other bytes", r->id.len, STORE_ID_MAX, STORE_ID_MAX / 2);
        return why;
    }
    /* also keeps record_json_render's duration (end - start) * 1000 within int64 */
    const struct { const char *name; int64_t v; } times[] = {
        { "start_us", r->start_us }, { "end_us", r->end_us },
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(times); i++)
        if (times[i].v < 0 || times[i].v > STORE_TIME_MAX) {
            snprintf(why, whysz, "%s: expected 0..%lld (1970..2100), got %" PRId64,
                     times[i].name, STORE_TIME_MAX, times[i].v);
            return why;
        }
    const struct { const char *name; const char *v; } kw[] = {
        { "protocol", r->protocol }, { "community_id", r->community_id },
        { "conn_state", r->conn_state }, { "segment_name", r->segment_name },
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(kw); i++) {
        size_t len = kw[i].v ? strnlen(kw[i].v, STORE_KEYWORD_MAX + 1) : 0;
        if (len > STORE_KEYWORD_MAX) {
            snprintf(why, whysz, "%s: more than %d bytes", kw[i].name, STORE_KEYWORD_MAX);
            return why;
        }
    }
    return NULL;
}

/* Dead-letter the bad records of b, or fail; *bad counts them. */
static int reject_bad(struct store *st, const struct store_batch *b, size_t bi, size_t *bad)
{
    char why[160], reason[256], idhex[2 * 32 + 1];
    for (size_t i = 0; i < b->n; i++) {
        const char *problem = record_problem(b->recs[i], why, sizeof why);
        if (!problem)
            continue;
        size_t k;
        for (k = 0; k < b->recs[i]->id.len && k < 32; k++)
            snprintf(idhex + 2 * k, 3, "%02x", b->recs[i]->id.data[k]);
        idhex[2 * k] = '\0';
        snprintf(reason, sizeof reason, "batches[%zu] records[%zu] of %s seq %" PRIu64 ": %s",
                 bi, i, b->sensor, b->seq, problem);
        int rc = store_dead_letter(st, b->sensor, b->seq, idhex, reason, NULL, 0, b->recs[i]);
        if (rc < 0)
            return rc;
        (*bad)++;
    }
    return STORE_OK;
}

/* Copies of the batches without their bad records (already dead-lettered); NULL when out of
 * memory. One allocation: the batch array, then the record pointers. */
static struct store_batch *without_bad(const struct store_batch *b, size_t nb, size_t total)
{
    char why[160];
    size_t bytes, rbytes;
    if (!ash_mul_size(nb, sizeof *b, &bytes) || !ash_mul_size(total, sizeof(void *), &rbytes) ||
        bytes > SIZE_MAX - rbytes)
        return NULL;
    struct store_batch *out = malloc(bytes + rbytes);
    if (!out)
        return NULL;
    const Ashiato__SessionRecord **recs = (const Ashiato__SessionRecord **)(void *)(out + nb);
    for (size_t bi = 0; bi < nb; bi++) {
        out[bi] = b[bi];
        out[bi].recs = recs;
        out[bi].n = 0;
        for (size_t i = 0; i < b[bi].n; i++)
            if (!record_problem(b[bi].recs[i], why, sizeof why))
                recs[out[bi].n++] = b[bi].recs[i];
        recs += out[bi].n;
    }
    return out;
}

/* The backend's put, with the packed bytes when it takes them. */
static int backend_put(struct store *st, const struct store_batch *b, size_t nb,
                       const ProtobufCBinaryData *const *packed)
{
    if (packed && st->be->put_batches_packed)
        return st->be->put_batches_packed(st, b, nb, packed);
    return st->be->put_batches(st, b, nb);
}

int store_put_batches(struct store *st, const struct store_batch *b, size_t nb)
{
    return store_put_batches_packed(st, b, nb, NULL);
}

int store_put_batches_packed(struct store *st, const struct store_batch *b, size_t nb,
                             const ProtobufCBinaryData *const *packed)
{
    size_t total = 0, bad = 0;
    int rc;

    if (!st)
        return STORE_ERR;
    if (nb && !b)
        return counted(st, store_fail(st, STORE_ERR, "batches: NULL array of %zu", nb));
    for (size_t bi = 0; bi < nb; bi++) {
        if (check_sensor(st, b[bi].sensor) < 0)
            return counted(st, store_fail(st, STORE_ERR, "batches[%zu]: sensor: expected 1..%d "
                                          "bytes", bi, STORE_SENSOR_MAX));
        if (b[bi].seq > (uint64_t)INT64_MAX)
            return counted(st, store_fail(st, STORE_ERR, "batches[%zu] of %s: seq: expected at "
                                          "most %" PRId64 ", got %" PRIu64, bi, b[bi].sensor,
                                          INT64_MAX, b[bi].seq));
        if (b[bi].n && !b[bi].recs)
            return counted(st, store_fail(st, STORE_ERR, "batches[%zu] of %s: records: NULL "
                                          "array of %zu", bi, b[bi].sensor, b[bi].n));
        for (size_t i = 0; i < b[bi].n; i++)
            if (!b[bi].recs[i])
                return counted(st, store_fail(st, STORE_ERR, "batches[%zu] of %s: records[%zu]:"
                                              " NULL", bi, b[bi].sensor, i));
        total += b[bi].n;
        if (total > (size_t)st->cfg.batch_max)
            return counted(st, store_fail(st, STORE_ERR, "batches[%zu] of %s: more than "
                                          "batch_max %lld records in one call", bi,
                                          b[bi].sensor, st->cfg.batch_max));
    }
    /* rejected records go to the dead-letter file first: a retry may write them twice there,
     * but a crash can never ack a batch whose rejects were not recorded */
    for (size_t bi = 0; bi < nb; bi++)
        if ((rc = reject_bad(st, &b[bi], bi, &bad)) < 0)
            return counted(st, rc);
    if (bad) {
        struct store_batch *kept = without_bad(b, nb, total);
        if (!kept)
            return counted(st, store_fail(st, STORE_ERR_RETRY, "out of memory"));
        rc = st->be->put_batches(st, kept, nb);   /* records left out: packed[] no longer fits */
        free(kept);
    } else {
        rc = backend_put(st, b, nb, packed);
    }
    if (rc == STORE_OK) {
        st->counters.batches += nb;
        st->counters.records += total;
    }
    return counted(st, rc);
}

int store_put_batch(struct store *st, const char *sensor, const char *stream, uint64_t seq,
                    const Ashiato__SessionRecord *const *recs, size_t n)
{
    const struct store_batch b = { sensor, stream, seq, recs, n };
    if (!st)
        return STORE_ERR;
    if (check_sensor(st, sensor) < 0)     /* the plain message, without "batches[0]" */
        return counted(st, STORE_ERR);
    return store_put_batches(st, &b, 1);
}

int store_sensor_seq(struct store *st, const char *sensor, uint64_t *seq)
{
    if (!st)
        return STORE_ERR;
    *seq = 0;
    if (check_sensor(st, sensor) < 0)
        return counted(st, STORE_ERR);
    return counted(st, st->be->sensor_seq(st, sensor, seq));
}

int store_put_stats(struct store *st, const char *sensor, const Ashiato__SensorStats *stats)
{
    if (!st)
        return STORE_ERR;
    if (check_sensor(st, sensor) < 0)
        return counted(st, STORE_ERR);
    if (!stats)
        return counted(st, store_fail(st, STORE_ERR, "stats: NULL"));
    int rc = counted(st, st->be->put_stats(st, sensor, stats));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (rc == STORE_OK && st->be->delete_stats_older &&
        (now - st->stats_pruned_us >= STORE_STATS_PRUNE_US || now < st->stats_pruned_us)) {
        /* the history is bounded; a failed prune is tried again at the next interval and
         * does not fail the sample that was stored */
        st->stats_pruned_us = now;
        st->be->delete_stats_older(st, now - STORE_STATS_KEEP_DAYS * 86400LL * 1000000);
    }
    return rc;
}

int store_put_alert(struct store *st, const Ashiato__Alert *alert)
{
    if (!st)
        return STORE_ERR;
    if (!alert)
        return counted(st, store_fail(st, STORE_ERR, "alert: NULL"));
    size_t idlen = alert->id ? strnlen(alert->id, STORE_ID_MAX + 1) : 0;
    if (idlen == 0 || idlen > STORE_ID_MAX)
        return counted(st, store_fail(st, STORE_ERR, "alert id: expected 1..%d bytes",
                                      STORE_ID_MAX));
    if (alert->start_us < 0 || alert->start_us > STORE_TIME_MAX || alert->end_us < 0 ||
        alert->end_us > STORE_TIME_MAX)
        return counted(st, store_fail(st, STORE_ERR, "alert %s: start_us/end_us: expected "
                                      "0..%lld (1970..2100)", alert->id, STORE_TIME_MAX));
    if (alert->kind && strnlen(alert->kind, STORE_KEYWORD_MAX + 1) > STORE_KEYWORD_MAX)
        return counted(st, store_fail(st, STORE_ERR, "alert kind: more than %d bytes",
                                      STORE_KEYWORD_MAX));
    return counted(st, st->be->put_alert(st, alert));
}

static bool link_id_ok(const char *id)
{
    size_t n = id ? strnlen(id, STORE_ID_MAX + 1) : 0;
    if (n == 0 || n > STORE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)      /* the text form store_id_text gives, so no '@' */
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' || id[i] == ':' ||
              id[i] == '-'))
            return false;
    return true;
}

int store_put_links(struct store *st, const struct store_link *links, size_t n)
{
    if (!st)
        return STORE_ERR;
    if (n && !links)
        return counted(st, store_fail(st, STORE_ERR, "links: NULL"));
    for (size_t i = 0; i < n; i++) {
        const struct store_link *l = &links[i];
        if (!link_id_ok(l->id_a) || !link_id_ok(l->id_b))
            return counted(st, store_fail(st, STORE_ERR, "links[%zu]: a session id is not "
                                          "1..%d bytes of [A-Za-z0-9._:-]", i, STORE_ID_MAX));
        if (check_sensor(st, l->sensor_a) < 0 || check_sensor(st, l->sensor_b) < 0)
            return counted(st, STORE_ERR);
        if (l->start_a_us < 0 || l->start_a_us > STORE_TIME_MAX || l->start_b_us < 0 ||
            l->start_b_us > STORE_TIME_MAX)
            return counted(st, store_fail(st, STORE_ERR, "links[%zu]: start_us: expected "
                                          "0..%lld (1970..2100)", i, STORE_TIME_MAX));
    }
    if (!n || !st->be->put_links)
        return STORE_OK;
    return counted(st, st->be->put_links(st, links, n));
}
