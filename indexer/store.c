/* store.c -- store URL parsing, opening and closing, and what the other store*.c share.
 * Owns:  struct store (allocated here), the choice of backend from the URL, the counters
 *        (store_counted), the session id as text. Writing is store_write.c's (record checks,
 *        dead letters, alerts, links), reading store_read.c's (dispatch, segment expansion).
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

int store_counted(struct store *st, int rc)
{
    if (rc == STORE_ERR_RETRY)
        st->counters.retries++;
    else if (rc < 0 && rc != STORE_ERR_NOT_FOUND)
        st->counters.errors++;
    return rc;
}
