/* store.c -- store URL parsing, backend dispatch, and the checks every backend shares.
 * Owns:  struct store (allocated here), the choice of backend from the URL, argument and
 *        record validation, the counters; helpers for the backends: the dead-letter file
 *        writer, the session id as text, the alert document.
 * Lends: st->cfg and st->err to the backends (store_backend.h).
 * Never: touches a database or the network itself; logs (callers log store_error()).
 * Trap:  ES URLs may carry user:password@; every message that quotes a URL masks it. */
#include "store_backend.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "record_json.h"

#define URL_HINT "expected sqlite:///abs/path.db, sqlite://relative.db, null: or " \
                 "http(s)://host:9200[,http(s)://host2:9200]"

int store_fail(struct store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- URLs ---------------------------------------------------------------------------- */

/* Copy url into out with any "user:password@" replaced by "***@", cut to fit. */
static void mask_url(const char *url, size_t len, char *out, size_t outsz)
{
    const char *sep = NULL, *host = url, *end = url + len;
    for (const char *p = url; p + 2 < end; p++)
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') { sep = p + 3; break; }
    if (sep) {
        host = sep;
        for (const char *p = sep; p < end && *p != '/' && *p != ','; p++)
            if (*p == '@')
                host = p + 1;
    }
    if (host != url && host != sep)
        snprintf(out, outsz, "%.*s***@%.*s", (int)(sep - url), url, (int)(end - host), host);
    else
        snprintf(out, outsz, "%.*s", (int)len, url);
}

/* One element "http(s)://[user:pass@]host[:port][/path]" of an ES URL list: host must be
 * present, a port must be 1..65535. 0 or -1 with err. */
static int check_http_url(const char *u, size_t len, char err[ASH_ERR_LEN])
{
    char shown[200];
    mask_url(u, len, shown, sizeof shown);
    size_t skip = (len >= 7 && strncasecmp(u, "http://", 7) == 0) ? 7
                : (len >= 8 && strncasecmp(u, "https://", 8) == 0) ? 8 : 0;
    if (!skip) {
        snprintf(err, ASH_ERR_LEN, "store url '%s': every URL of a list must start with "
                 "http:// or https://", shown);
        return -1;
    }
    const char *p = u + skip, *end = u + len, *auth_end = p;
    for (const char *q = p; q < end && *q != '/'; q++)
        if (*q == '@')
            auth_end = q + 1;
    p = auth_end;
    const char *host = p;
    if (p < end && *p == '[') {                 /* [IPv6 literal] */
        while (p < end && *p != ']')
            p++;
        if (p == end) {
            snprintf(err, ASH_ERR_LEN, "store url '%s': unclosed '[' in host", shown);
            return -1;
        }
        p++;
    } else {
        while (p < end && *p != ':' && *p != '/')
            p++;
    }
    if (p == host) {
        snprintf(err, ASH_ERR_LEN, "store url '%s': no host", shown);
        return -1;
    }
    if (p < end && *p != ':' && *p != '/') {
        snprintf(err, ASH_ERR_LEN, "store url '%s': expected ':' or '/' after the host", shown);
        return -1;
    }
    if (p < end && *p == ':') {
        long port = 0;
        const char *d = ++p;
        while (p < end && isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == d || port < 1 || port > 65535 || (p < end && *p != '/')) {
            snprintf(err, ASH_ERR_LEN, "store url '%s': port: expected 1..65535", shown);
            return -1;
        }
    }
    return 0;
}

/* Trim, split on ',', check each URL, and join them without blanks into out. */
static int parse_http_list(const char *url, char *out, size_t outsz, char err[ASH_ERR_LEN])
{
    size_t used = 0;
    const char *p = url;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && isspace((unsigned char)*p))
            p++;
        while (e > p && isspace((unsigned char)e[-1]))
            e--;
        while (e - p > 1 && e[-1] == '/' && e[-2] != '/')   /* "host:9200/", not "http://" */
            e--;
        if (e == p) {
            snprintf(err, ASH_ERR_LEN, "store url: empty element in the URL list (" URL_HINT ")");
            return -1;
        }
        if (check_http_url(p, (size_t)(e - p), err) < 0)
            return -1;
        size_t len = (size_t)(e - p);
        if (used + len + 2 > outsz) {
            snprintf(err, ASH_ERR_LEN, "store url: URL list longer than %zu bytes", outsz - 1);
            return -1;
        }
        if (used)
            out[used++] = ',';
        memcpy(out + used, p, len);
        used += len;
        out[used] = '\0';
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Choose the backend for url and the target string it gets. */
static int parse_url(const char *url, const struct store_backend **be, char *target,
                     size_t tsz, char err[ASH_ERR_LEN])
{
    while (isspace((unsigned char)*url))
        url++;
    size_t len = strlen(url);
    while (len && isspace((unsigned char)url[len - 1]))
        len--;
    if (len == 0) {
        url = STORE_URL_DEFAULT;
        len = strlen(url);
    }
    char shown[200];
    mask_url(url, len, shown, sizeof shown);
    const char *colon = memchr(url, ':', len);
    if (!colon || colon == url) {
        snprintf(err, ASH_ERR_LEN, "store url '%s': no scheme (%s%s)", shown,
                 url[0] == '/' ? "did you mean sqlite://" : URL_HINT, url[0] == '/' ? shown : "");
        return -1;
    }
    size_t slen = (size_t)(colon - url);
    const char *rest = colon + 1;
    size_t rlen = len - slen - 1;
    if (slen == 6 && strncasecmp(url, "sqlite", 6) == 0) {
        if (rlen < 2 || strncmp(rest, "//", 2) != 0 || rlen == 2) {
            snprintf(err, ASH_ERR_LEN, "store url '%s': expected sqlite:///abs/path.db or "
                     "sqlite://relative.db", shown);
            return -1;
        }
        if (rlen - 2 >= tsz) {
            snprintf(err, ASH_ERR_LEN, "store url: path longer than %zu bytes", tsz - 1);
            return -1;
        }
        memcpy(target, rest + 2, rlen - 2);
        target[rlen - 2] = '\0';
        *be = &store_sqlite_backend;
        return 0;
    }
    if (slen == 4 && strncasecmp(url, "null", 4) == 0) {
        if (!(rlen == 0 || (rlen == 2 && strncmp(rest, "//", 2) == 0))) {
            snprintf(err, ASH_ERR_LEN, "store url '%s': the null store takes no path, "
                     "expected null:", shown);
            return -1;
        }
        target[0] = '\0';
        *be = &store_null_backend;
        return 0;
    }
    if ((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
        (slen == 5 && strncasecmp(url, "https", 5) == 0)) {
        char copy[sizeof ((struct store_config *)0)->url];
        snprintf(copy, sizeof copy, "%.*s", (int)len, url);
        if (parse_http_list(copy, target, tsz, err) < 0)
            return -1;
#ifdef STORE_HAVE_ES
        *be = &store_es_backend;
        return 0;
#else
        snprintf(err, ASH_ERR_LEN, "store url '%s': the Elasticsearch/OpenSearch backend is "
                 "not built into this binary (it needs libcurl and indexer/store_es.c)", shown);
        return -1;
#endif
    }
    snprintf(err, ASH_ERR_LEN, "store url '%s': unknown scheme '%.*s' (" URL_HINT ")", shown,
             (int)(slen > 20 ? 20 : slen), url);
    return -1;
}

/* ---- open / close ------------------------------------------------------------------- */

static int check_range(const char *key, long long v, long long lo, long long hi,
                       char err[ASH_ERR_LEN])
{
    if (v >= lo && v <= hi)
        return 0;
    snprintf(err, ASH_ERR_LEN, "store: %s: expected %lld..%lld, got %lld", key, lo, hi, v);
    return -1;
}

struct store *store_open(const struct store_config *cfg, char err[ASH_ERR_LEN])
{
    static const struct store_config defaults;
    const struct store_backend *be = NULL;
    char target[sizeof defaults.url];
    struct store *st;

    if (!cfg)
        cfg = &defaults;
    const struct { const char *name; const char *v; size_t size; } strs[] = {
        { "url", cfg->url, sizeof cfg->url },
        { "es_prefix", cfg->es_prefix, sizeof cfg->es_prefix },
        { "user", cfg->user, sizeof cfg->user },
        { "password", cfg->password, sizeof cfg->password },
        { "api_key", cfg->api_key, sizeof cfg->api_key },
        { "ca_file", cfg->ca_file, sizeof cfg->ca_file },
        { "dead_letter", cfg->dead_letter, sizeof cfg->dead_letter },
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(strs); i++)
        if (memchr(strs[i].v, '\0', strs[i].size) == NULL) {
            snprintf(err, ASH_ERR_LEN, "store: %s: not NUL-terminated", strs[i].name);
            return NULL;
        }
    if (check_range("batch_max", cfg->batch_max, 0, 10000000, err) < 0 ||
        check_range("retention_days", cfg->retention_days, 0, 36500, err) < 0 ||
        check_range("bulk_bytes", cfg->bulk_bytes, 0, 1LL << 31, err) < 0 ||
        check_range("bulk_ms", cfg->bulk_ms, 0, 3600000, err) < 0 ||
        check_range("inflight", cfg->inflight, 0, 1024, err) < 0 ||
        check_range("es_gzip", cfg->es_gzip, -1, 1, err) < 0)
        return NULL;
    if (parse_url(cfg->url, &be, target, sizeof target, err) < 0)
        return NULL;
    st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, ASH_ERR_LEN, "store: out of memory");
        return NULL;
    }
    st->cfg = *cfg;
    if (st->cfg.batch_max == 0)
        st->cfg.batch_max = STORE_BATCH_MAX_DEFAULT;
    st->be = be;
    st->kind = be->kind;
    if (be->open(st, target, err) < 0) {
        free(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    st->be->close(st);
    free(st);
}

const char *store_error(const struct store *st) { return st ? st->err : "no store"; }
const char *store_kind(const struct store *st) { return st ? st->kind : "none"; }
const char *store_info(const struct store *st) { return st ? st->info : ""; }

void store_counters(const struct store *st, struct store_counters *out)
{
    memset(out, 0, sizeof *out);
    if (st)
        *out = st->counters;
}

/* ---- shared helpers --------------------------------------------------------------- */

int store_id_text(const ProtobufCBinaryData *id, char out[STORE_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    bool text = id->len > 0 && id->len <= STORE_ID_MAX;
    for (size_t i = 0; text && i < id->len; i++) {
        uint8_t c = id->data[i];
        text = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               c == '.' || c == '_' || c == ':' || c == '-';          /* not locale's isalnum */
    }
    if (text) {
        memcpy(out, id->data, id->len);
        out[id->len] = '\0';
        return (int)id->len;
    }
    if (id->len == 0 || id->len > STORE_ID_MAX / 2)
        return -1;
    for (size_t i = 0; i < id->len; i++) {
        out[2 * i] = hex[id->data[i] >> 4];
        out[2 * i + 1] = hex[id->data[i] & 15];
    }
    out[2 * id->len] = '\0';
    return (int)(2 * id->len);
}

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

static int counted(struct store *st, int rc)
{
    if (rc == STORE_ERR_RETRY)
        st->counters.retries++;
    else if (rc < 0 && rc != STORE_ERR_NOT_FOUND)
        st->counters.errors++;
    return rc;
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

/* ---- reading ----------------------------------------------------------------------- */

static const struct store_query match_all;

int store_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                         void *ctx, uint64_t *total)
{
    if (!st)
        return STORE_ERR;
    if (total)
        *total = 0;
    return counted(st, st->be->query_sessions(st, q ? q : &match_all, cb, ctx, total));
}

int store_count_by(struct store *st, const struct store_query *q, const char *field,
                   store_row_fn cb, void *ctx)
{
    if (!st)
        return STORE_ERR;
    if (!cb)
        return counted(st, store_fail(st, STORE_ERR, "count_by: no callback"));
    if (field && strcmp(field, "hour") == 0)
        return counted(st, st->be->count_by(st, q ? q : &match_all, NULL, cb, ctx));
    const struct field_def *f = field_catalog_find(field, (size_t)-1);
    if (!f) {
        const char *near[3] = { "", "", "" };
        field_catalog_nearest(field ? field : "", field ? strlen(field) : 0, near, 3);
        return counted(st, store_fail(st, STORE_ERR, "count_by: unknown field '%.64s' "
                                      "(nearest: %s, %s, %s; or hour)", field ? field : "(null)",
                                      near[0], near[1], near[2]));
    }
    if (f->flags & (FIELD_PSEUDO | FIELD_SUM) || f->type == FIELD_TIME)
        return counted(st, store_fail(st, STORE_ERR, "count_by: %s: cannot count by a %s",
                                      f->name, f->type == FIELD_TIME ? "time (use hour)" :
                                      (f->flags & FIELD_SUM) ? "sum" : "field of several fields"));
    return counted(st, st->be->count_by(st, q ? q : &match_all, f, cb, ctx));
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
    return counted(st, st->be->histogram(st, q ? q : &match_all, width_us, by_sensor, cb, ctx));
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
                     store_row_fn cb, void *ctx, store_histo_fn hcb, void *hctx,
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
        rc = counted(st, st->be->query_page(st, q, width_us, cb, ctx, page_sum, &ps, total));
    } else if ((rc = store_histogram(st, q, width_us, false, page_sum, &ps)) == STORE_OK &&
               (rc = store_query_sessions(st, NULL, NULL, NULL, total)) == STORE_OK &&
               cb && q->offset < ps.n) {
        rc = store_query_sessions(st, q, cb, ctx, NULL);
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
