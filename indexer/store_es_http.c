/* store_es_http.c -- the Elasticsearch backend's HTTP: libcurl's multi interface running
 * several requests at once over kept-alive connections to the cluster's nodes, request bodies
 * gzip'd, answers collected whole.
 * Owns:  the CURLM handle and its connection cache, a pool of easy handles (one per request in
 *        flight), the node list (round robin, one node per request; gzip to every node but a
 *        loopback one), the header lists (content type, gzip, API key), each request's gzip'd
 *        body until its answer is in.
 * Lends: es_call.resp to the caller (freed by es_call_clear).
 * Never: retries (store_es_bulk.c decides); logs; follows redirects; lets a hostile node make
 *        it hold more than ES_RESP_MAX bytes of one answer.
 * Trap:  curl parses "user:password@" in a node URL itself, so every URL shown in a message
 *        goes through mask() first. "Expect: 100-continue" is switched off: curl would wait
 *        for a "100 Continue" on every body over 1 MiB, a round trip per bulk request. */
#include "store_es.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <zlib.h>

#define ES_RESP_MAX    (512u << 20)  /* the largest answer kept (a 10000-hit page is ~10 MiB) */
#define ES_GZIP_MIN    1024          /* smaller bodies go as they are */
/* zlib level 1: on the bench's documents (ECS JSON, ~700 bytes each) it shrinks a bulk body
 * about 8x at ~150 MB/s of one core; higher levels cost 2-3x the CPU for a few percent less. */
#define ES_GZIP_LEVEL  1
#define ES_NODE_DOWN_MS 5000         /* a node that gave no answer is asked last for this long */
struct es_node {
    char url[1024];              /* as configured, credentials and all: curl reads them */
    char shown[96];              /* masked, for messages */
    bool gzip;                   /* compress bodies to this node (not to a loopback one) */
    int64_t down_until;          /* no answer last time: others first until then (ms) */
};

struct es_slot {
    CURL *easy;
    struct es_call *call;        /* NULL = free */
    struct es_node *node;        /* the node asked */
    unsigned char *gz;           /* the gzip'd body, freed when the answer is in */
    char errbuf[CURL_ERROR_SIZE];
};

struct es_http {
    CURLM *multi;
    struct es_node nodes[ES_URLS_MAX];
    size_t nnodes, next;
    struct es_slot *slots;
    size_t nslots, busy;
    struct curl_slist *hdr[2][2];    /* [ndjson][gzip] */
    char user[128], password[256], ca_file[1024];
};

static int global_init_done;

/* Whether the URL's host is the loopback: localhost, 127.0.0.0/8 or [::1]. */
static bool loopback(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *host = sep ? sep + 3 : url, *end = host;
    while (*end && *end != '/')
        end++;
    for (const char *p = host; p < end; p++)       /* skip user:password@ */
        if (*p == '@')
            host = p + 1;
    size_t len = strcspn(host, host[0] == '[' ? "]/" : ":/");
    if (host[0] == '[')
        return strncmp(host, "[::1]", 5) == 0;
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (len >= 4 && strncmp(host, "127.", 4) == 0);
}

/* The URL with any user:password before the host replaced by three stars. */
static void mask(const char *url, char *out, size_t outsz)
{
    const char *sep = strstr(url, "://");
    const char *host = sep ? sep + 3 : url;
    const char *at = NULL;
    size_t o = 0;
    for (const char *p = host; *p && *p != '/'; p++)
        if (*p == '@')
            at = p;
    const char *rest = url;
    if (sep && at) {
        size_t head = (size_t)(host - url);
        for (size_t i = 0; i < head && o + 1 < outsz; i++)
            out[o++] = url[i];
        for (const char *s = "***"; *s && o + 1 < outsz; s++)
            out[o++] = *s;
        rest = at;
    }
    for (; *rest && o + 1 < outsz; rest++)
        out[o++] = *rest;
    out[o] = '\0';
}

static struct curl_slist *headers(bool ndjson, bool gzip, const char *api_key)
{
    char auth[600];
    struct curl_slist *l = NULL, *t;
    const char *lines[4] = { ndjson ? "Content-Type: application/x-ndjson"
                                    : "Content-Type: application/json",
                             "Expect:", gzip ? "Content-Encoding: gzip" : NULL, NULL };
    if (api_key && *api_key) {
        snprintf(auth, sizeof auth, "Authorization: ApiKey %s", api_key);
        lines[3] = auth;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!lines[i])
            continue;
        if (!(t = curl_slist_append(l, lines[i]))) {
            curl_slist_free_all(l);
            return NULL;
        }
        l = t;
    }
    return l;
}

void es_http_free(struct es_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nslots; i++) {
        if (h->slots[i].easy) {
            if (h->slots[i].call)
                curl_multi_remove_handle(h->multi, h->slots[i].easy);
            curl_easy_cleanup(h->slots[i].easy);
        }
        free(h->slots[i].gz);
    }
    free(h->slots);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            curl_slist_free_all(h->hdr[a][b]);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h);
}

struct es_http *es_http_new(const struct es_http_config *cfg, char err[ASH_ERR_LEN])
{
    if (!global_init_done) {     /* not thread-safe by libcurl's own rule: open stores first */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, ASH_ERR_LEN, "elasticsearch: curl_global_init failed");
            return NULL;
        }
        global_init_done = 1;
    }
    struct es_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: out of memory");
        return NULL;
    }
    const char *p = cfg->urls;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (h->nnodes == ES_URLS_MAX || len >= sizeof h->nodes[0].url) {
            snprintf(err, ASH_ERR_LEN, "elasticsearch: more than %d URLs, or one too long",
                     ES_URLS_MAX);
            goto fail;
        }
        struct es_node *n = &h->nodes[h->nnodes++];
        memcpy(n->url, p, len);
        n->url[len] = '\0';
        mask(n->url, n->shown, sizeof n->shown);
        /* to a node on the loopback bodies go as they are by default: no network to save,
         * and gzip costs CPU at both ends, which share the host (bench/RESULTS.md es_bulk) */
        n->gzip = cfg->gzip > 0 || (cfg->gzip == 0 && !loopback(n->url));
        p += len + (e ? 1 : 0);
    }
    if (!h->nnodes) {
        snprintf(err, ASH_ERR_LEN, "elasticsearch: no URL");
        goto fail;
    }
    snprintf(h->user, sizeof h->user, "%s", cfg->user ? cfg->user : "");
    snprintf(h->password, sizeof h->password, "%s", cfg->password ? cfg->password : "");
    snprintf(h->ca_file, sizeof h->ca_file, "%s", cfg->ca_file ? cfg->ca_file : "");
    h->nslots = cfg->inflight > 0 ? (size_t)cfg->inflight : 1;
    h->slots = calloc(h->nslots, sizeof *h->slots);
    h->multi = curl_multi_init();
    if (!h->slots || !h->multi)
        goto oom;
    for (size_t i = 0; i < h->nslots; i++)
        if (!(h->slots[i].easy = curl_easy_init()))
            goto oom;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            if (!(h->hdr[a][b] = headers(a, b, cfg->api_key)))
                goto oom;
    /* one connection per request in flight and node, kept alive between calls */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->nslots);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)(h->nslots * h->nnodes));
    return h;
oom:
    snprintf(err, ASH_ERR_LEN, "elasticsearch: out of memory setting up libcurl");
fail:
    es_http_free(h);
    return NULL;
}

const char *es_http_where(const struct es_http *h) { return h->nodes[0].shown; }

void es_call_clear(struct es_call *c)
{
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
}

bool es_http_transient(long status)
{
    return status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct es_call *c = ud;
    size_t n = size * nmemb;
    if (n > ES_RESP_MAX - c->resp_len)
        return 0;                               /* curl fails the transfer: CURLE_WRITE_ERROR */
    char *r = realloc(c->resp, c->resp_len + n + 1);
    if (!r)
        return 0;
    memcpy(r + c->resp_len, data, n);
    c->resp = r;
    c->resp_len += n;
    r[c->resp_len] = '\0';
    return n;
}

/* A gzip member of body; NULL when out of memory. */
static unsigned char *gzip(const char *body, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, ES_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *out = malloc(cap);
    if (!out) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)(uintptr_t)body;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next node in turn that answered last time; if none did, the next in turn. */
static struct es_node *pick(struct es_http *h)
{
    int64_t now = mono_ms();
    for (size_t i = 0; i < h->nnodes; i++) {
        struct es_node *n = &h->nodes[(h->next + i) % h->nnodes];
        if (n->down_until <= now) {
            h->next += i + 1;
            return n;
        }
    }
    return &h->nodes[h->next++ % h->nnodes];
}

/* Set up slot s for call c; -1 when out of memory. */
static int start(struct es_http *h, struct es_slot *s, struct es_call *c)
{
    char url[1600];
    CURL *e = s->easy;
    struct es_node *n = pick(h);
    const char *body = c->body;
    size_t body_len = c->body ? c->body_len : 0;
    bool gz = false;

    c->status = 0;
    c->error[0] = '\0';
    es_call_clear(c);
    snprintf(c->where, sizeof c->where, "%s", n->shown);
    if (n->gzip && body && body_len >= ES_GZIP_MIN && body_len <= UINT32_MAX) {
        size_t glen;
        if (!(s->gz = gzip(body, body_len, &glen)))
            return -1;
        body = (const char *)s->gz;
        body_len = glen;
        gz = true;
    }
    snprintf(url, sizeof url, "%s%s", n->url, c->path);
    curl_easy_reset(e);                         /* keeps the connection cache */
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ES_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms > 0 ? c->timeout_ms
                                                              : (long)ES_REQUEST_TIMEOUT_MS);
    if (n->gzip)                    /* gzip'd answers too (curl decodes them) */
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdr[c->ndjson][gz]);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h->user[0]) {
        curl_easy_setopt(e, CURLOPT_USERNAME, h->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, h->password);
    }
    if (h->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    if (strcmp(c->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(c->method, "GET") != 0 || body)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    s->errbuf[0] = '\0';
    s->call = c;
    s->node = n;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        s->call = NULL;
        free(s->gz);
        s->gz = NULL;
        return -1;
    }
    return 0;
}

static void finish(struct es_http *h, struct es_slot *s, CURLcode cc)
{
    struct es_call *c = s->call;
    curl_multi_remove_handle(h->multi, s->easy);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &c->status);
        s->node->down_until = 0;
    } else {
        if (cc != CURLE_ABORTED_BY_CALLBACK)
            s->node->down_until = mono_ms() + ES_NODE_DOWN_MS;
        c->status = 0;
        snprintf(c->error, sizeof c->error, "%s", s->errbuf[0] ? s->errbuf
                                                                 : curl_easy_strerror(cc));
        size_t l = strlen(c->error);
        if (l && c->error[l - 1] == '\n')
            c->error[l - 1] = '\0';
    }
    if (!c->resp && (c->resp = malloc(1)))
        c->resp[0] = '\0';
    c->done = true;
    free(s->gz);
    s->gz = NULL;
    s->call = NULL;
}

size_t es_http_busy(const struct es_http *h) { return h->busy; }

size_t es_http_slots(const struct es_http *h) { return h->nslots; }

int es_http_start(struct es_http *h, struct es_call *c)
{
    c->done = false;
    for (size_t i = 0; i < h->nslots; i++)
        if (!h->slots[i].call) {
            if (start(h, &h->slots[i], c) < 0)
                return -1;
            h->busy++;
            return 0;
        }
    return -1;
}

/* Collect the transfers curl has finished; how many. */
static size_t reap(struct es_http *h)
{
    CURLMsg *m;
    int left;
    size_t n = 0;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        for (size_t i = 0; i < h->nslots; i++)
            if (h->slots[i].call && h->slots[i].easy == m->easy_handle) {
                finish(h, &h->slots[i], m->data.result);
                h->busy--;
                n++;
                break;
            }
    }
    return n;
}

size_t es_http_step(struct es_http *h, int timeout_ms)
{
    int still = 0;
    curl_multi_perform(h->multi, &still);
    size_t n = reap(h);
    if (n == 0 && h->busy && timeout_ms > 0) {
        curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(h->multi, &still);
        n = reap(h);
    }
    return n;
}

int es_http_run(struct es_http *h, struct es_call *calls, size_t n, size_t limit,
                char err[ASH_ERR_LEN])
{
    size_t next = 0;
    if (limit == 0 || limit > h->nslots)
        limit = h->nslots;
    while (next < n || h->busy) {
        while (next < n && h->busy < limit) {
            if (es_http_start(h, &calls[next]) < 0) {
                snprintf(err, ASH_ERR_LEN, "elasticsearch: out of memory starting a request");
                es_http_abandon(h);
                return -1;
            }
            next++;
        }
        es_http_step(h, 1000);
    }
    return 0;
}

void es_http_abandon(struct es_http *h)
{
    for (size_t j = 0; j < h->nslots; j++)
        if (h->slots[j].call) {
            finish(h, &h->slots[j], CURLE_ABORTED_BY_CALLBACK);
            h->busy--;
        }
}

long es_http_any(struct es_http *h, struct es_call *c)
{
    for (size_t i = 0; i < h->nnodes; i++)
        if (es_http_one(h, c) != 0)
            break;
    return c->status;
}

long es_http_one(struct es_http *h, struct es_call *c)
{
    char err[ASH_ERR_LEN];
    if (es_http_run(h, c, 1, 1, err) < 0) {
        c->status = 0;
        snprintf(c->error, sizeof c->error, "%s", err);
    }
    return c->status;
}

json_object *es_call_json(const struct es_call *c)
{
    if (!c->resp || !c->resp_len)
        return NULL;
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, c->resp, (int)(c->resp_len > INT32_MAX
                                                               ? INT32_MAX : c->resp_len));
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

void es_call_describe(const struct es_call *c, char *out, size_t outsz)
{
    if (c->status == 0) {
        snprintf(out, outsz, "no answer from %s: %s", c->where, c->error[0] ? c->error : "?");
        return;
    }
    json_object *o = es_call_json(c), *e, *t, *r;
    const char *type = NULL, *reason = NULL;
    if (o && json_object_object_get_ex(o, "error", &e)) {
        if (json_object_is_type(e, json_type_string)) {
            reason = json_object_get_string(e);
        } else {
            json_object *root;           /* the first root cause names the index and field */
            if (json_object_object_get_ex(e, "root_cause", &root) &&
                json_object_array_length(root) > 0)
                e = json_object_array_get_idx(root, 0);
            if (json_object_object_get_ex(e, "type", &t))
                type = json_object_get_string(t);
            if (json_object_object_get_ex(e, "reason", &r))
                reason = json_object_get_string(r);
        }
    }
    if (type || reason)
        snprintf(out, outsz, "HTTP %ld from %s: %s%s%s", c->status, c->where, type ? type : "",
                 type && reason ? ": " : "", reason ? reason : "");
    else
        snprintf(out, outsz, "HTTP %ld from %s: %.120s", c->status, c->where,
                 c->resp ? c->resp : "");
    json_object_put(o);
}
