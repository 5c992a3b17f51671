/* http_server.c -- the HTTP API's daemon: threads, TLS, auth, audit, and the route table.
 * Owns:  the MHD daemon (MHD_USE_INTERNAL_POLLING_THREAD with a pool of http_threads), the
 *        users file (read once at start), the login sessions (http_session.c: a cookie after
 *        one digest check), the nonce seed (getrandom), the audit log file,
 *        every pool thread's store handle (opened on its first request, closed at stop),
 *        the one table of routes (method, path, permission, handler).
 * Lends: the thread's store handle and the user entry to handlers, for one request.
 * Never: answers an unknown user differently from a wrong password; accepts basic auth
 *        without TLS; keeps a password (the users file holds HA1 digests).
 * Trap:  MHD calls the access handler on a pool thread; nothing here may touch the receive
 *        loop's state except the published counters under srv->lock. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http_api.h"
#include "http_session.h"
#include "log.h"
#include "record_json.h"

#define NONCE_TIMEOUT_S   300
#define NONCE_NC_SIZE     4096
#define CONN_MEMORY      (64 * 1024)     /* headers + URI; beyond that MHD answers 431/414 */
#define MAX_STORES         64
#define SESSIONS_MAX     1024            /* browser logins at once (least recently used go) */
#define SESSION_IDLE_S   1800            /* a login unused for 30 minutes ends */
#define SESSION_MAX_S   43200            /* and any login after 12 hours */

enum perm { PERM_READ, PERM_PCAP };

struct route {
    const char *method;
    const char *path;            /* exact, or "prefix*suffix" with a session id for '*' */
    enum perm perm;
    http_handler fn;
};

/* The one route table: every endpoint, its permission and its handler. */
static const struct route routes[] = {
    { "GET", "/sessions.json",     PERM_READ, api_sessions_json },
    { "GET", "/api/sessions",      PERM_READ, api_sessions_json },
    { "GET", "/sessions.csv",      PERM_READ, api_sessions_csv },
    { "GET", "/api/sessions/csv",  PERM_READ, api_sessions_csv },
    { "GET", "/sessions.pcap",     PERM_PCAP, api_sessions_pcap },
    { "GET", "/api/sessions/pcap", PERM_PCAP, api_sessions_pcap },
    { "GET", "/session/*.json",    PERM_READ, api_session_json },
    { "GET", "/session/*.pcap",    PERM_PCAP, api_session_pcap },
    { "GET", "/unique.txt",        PERM_READ, api_unique_txt },
    { "GET", "/spigraph.json",     PERM_READ, api_spigraph_json },
    { "GET", "/connections.json",  PERM_READ, api_connections_json },
    { "GET", "/fields.json",       PERM_READ, api_fields_json },
    { "GET", "/stats.json",        PERM_READ, api_stats_json },
    { "GET", "/sensors/history.json", PERM_READ, api_sensors_history_json },
    { "GET", "/metrics",           PERM_READ, api_metrics },
    { "GET", "/alerts.json",       PERM_READ, api_alerts_json },
    { "GET", "/matrix.json",       PERM_READ, api_matrix_json },
    { "GET", "/",                  PERM_READ, http_static_index },   /* the page (web/) */
    { "GET", "/web/*",             PERM_READ, http_static_file },
};

struct http_server {
    struct MHD_Daemon *d;
    struct userdb *users;
    struct http_sessions *sessions; /* logins by cookie, after one digest check */
    char realm[USERDB_REALM_MAX + 1];
    enum MHD_DigestAuthAlgorithm algo;
    bool tls;
    char opaque[33];
    uint8_t nonce_seed[32];
    uint8_t dummy_ha1[32];       /* checked for unknown users, so they cost what a user costs */
    char *cert_pem, *key_pem;
    struct store_config store_cfg;
    char packet_endpoint[256];
    long long pcap_timeout_ms;
    void *zctx;
    FILE *audit;
    pthread_mutex_t lock;        /* audit, stores[], stats */
    struct store *stores[MAX_STORES];
    size_t nstores;
    struct http_shared_stats stats;
};

/* Per connection: the raw URI (from MHD's URI log callback, before MHD splits it). */
struct conn_ctx {
    char *uri;
    int64_t t0_us;
    bool headers_seen;           /* the first call (headers only) was answered MHD_YES */
};

static __thread struct store *tls_store;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- replies ------------------------------------------------------------------------- */

int http_reply_take(struct http_reply *rp, const char *type, char *body, size_t len)
{
    free(rp->body);
    rp->body = body;
    rp->len = len;
    rp->type = type;
    return 0;
}

int http_reply_json(struct http_reply *rp, int status, json_object *o)
{
    size_t len = 0;
    const char *text = o ? json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len) : NULL;
    char *copy = text ? malloc(len + 1) : NULL;
    if (!copy) {
        json_object_put(o);
        static const char oom[] = "{\"error\":\"out of memory\"}";
        rp->status = 500;
        return http_reply_take(rp, "application/json", strdup(oom), sizeof oom - 1);
    }
    memcpy(copy, text, len + 1);
    json_object_put(o);
    rp->status = status;
    return http_reply_take(rp, "application/json", copy, len);
}

int http_reply_error(struct http_reply *rp, int status, int position, const char *fmt, ...)
{
    char msg[ASH_ERR_LEN * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, "error", json_object_new_string(msg));
        if (position >= 0)
            json_object_object_add(o, "position", json_object_new_int(position));
    }
    snprintf(rp->audit_note, sizeof rp->audit_note, "%s", msg);
    return http_reply_json(rp, status, o);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_server *srv,
                                  struct http_reply *rp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(rp->len, rp->body,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    rp->body = NULL;             /* the response owns it now */
    MHD_add_response_header(r, "Content-Type", rp->type ? rp->type : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (rp->extra_name[0])
        MHD_add_response_header(r, rp->extra_name, rp->extra_value);
    if (rp->set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", rp->set_cookie);
    (void)srv;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rp->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- audit --------------------------------------------------------------------------- */

static void client_addr(struct MHD_Connection *c, char out[64])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, 64);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, 64);
}

static void audit(struct http_server *srv, struct MHD_Connection *c, const char *user,
                  const char *method, const char *path, const struct api_params *p,
                  const struct http_reply *rp, int64_t t0_us)
{
    char client[64], when[40];
    client_addr(c, client);
    int64_t t = now_us();
    record_json_time(t, when);
    json_object *o = json_object_new_object();
    if (!o)
        return;
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "client", json_object_new_string(client));
    json_object_object_add(o, "user", json_object_new_string(user ? user : "-"));
    json_object_object_add(o, "method", json_object_new_string(method));
    json_object_object_add(o, "endpoint", json_object_new_string(path));
    if (p && p->expression)
        json_object_object_add(o, "expression", json_object_new_string(p->expression));
    if (p && p->nids)
        json_object_object_add(o, "ids", json_object_new_int64((int64_t)p->nids));
    json_object_object_add(o, "status", json_object_new_int(rp->status));
    if (rp->count >= 0)
        json_object_object_add(o, "count", json_object_new_int64(rp->count));
    char ms[32];
    snprintf(ms, sizeof ms, "%.3f", (double)(t - t0_us) / 1000.0);
    json_object_object_add(o, "ms", json_object_new_double_s((double)(t - t0_us) / 1000.0, ms));
    if (rp->audit_note[0])
        json_object_object_add(o, "note", json_object_new_string(rp->audit_note));
    const char *line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    pthread_mutex_lock(&srv->lock);
    srv->stats.http_requests++;
    if (rp->status >= 400)
        srv->stats.http_errors++;
    if (rp->status == 401)
        srv->stats.http_auth_failures++;
    if (strstr(path, ".pcap") && rp->status == 200)
        srv->stats.pcap_downloads++;
    if (srv->audit) {
        fprintf(srv->audit, "%s\n", line);
        fflush(srv->audit);
    } else {
        log_info("audit", "%s", line);
    }
    pthread_mutex_unlock(&srv->lock);
    json_object_put(o);
}

/* ---- auth ---------------------------------------------------------------------------- */

static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

static enum MHD_Result challenge(struct MHD_Connection *c, struct http_server *srv, bool stale,
                                 struct http_reply *rp)
{
    if (!rp->body)
        http_reply_error(rp, 401, -1, "authentication required");
    rp->status = 401;
    struct MHD_Response *r = MHD_create_response_from_buffer(rp->len, rp->body,
                                                             MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    rp->body = NULL;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_auth_fail_response2(c, srv->realm, srv->opaque, r,
                                                       stale ? MHD_YES : MHD_NO, srv->algo);
    MHD_destroy_response(r);
    return ok;
}

/* The authenticated user, or NULL (then *stale tells whether the nonce had expired, and
 * rp may hold a more specific 401 message). An unknown user goes through the same digest
 * check against a random HA1, so it fails the same way in about the same time. */
static const struct userdb_entry *authenticate(struct MHD_Connection *c, struct http_server *srv,
                                               bool *stale, char claimed[USERDB_NAME_MAX + 1],
                                               struct http_reply *rp, bool *by_cookie)
{
    *stale = *by_cookie = false;
    claimed[0] = '\0';
    const char *token = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, HTTP_SESSION_COOKIE);
    const struct userdb_entry *su = token ? http_sessions_find(srv->sessions, token, now_us()) : NULL;
    if (su) {
        snprintf(claimed, USERDB_NAME_MAX + 1, "%.64s", su->name);
        *by_cookie = true;
        return su;
    }
    const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!hdr)
        return NULL;
    if (!strncasecmp(hdr, "Basic ", 6)) {
        if (!srv->tls) {
            http_reply_error(rp, 401, -1, "basic auth is accepted only over TLS; use digest "
                             "(curl --anyauth or --digest)");
            return NULL;
        }
        char *pass = NULL;
        char *name = MHD_basic_auth_get_username_password(c, &pass);
        const struct userdb_entry *u = name ? userdb_find(srv->users, name) : NULL;
        uint8_t md5[16], sha[32];
        userdb_ha1(name ? name : "", srv->realm, pass ? pass : "", md5, sha);
        bool ok = u && !strcmp(u->realm, srv->realm) && ct_equal(sha, u->sha256, 32);
        if (name)
            snprintf(claimed, USERDB_NAME_MAX + 1, "%.64s", name);
        if (pass) {
            explicit_bzero(pass, strlen(pass));
            MHD_free(pass);
        }
        MHD_free(name);
        return ok ? u : NULL;
    }
    char *name = MHD_digest_auth_get_username(c);
    if (!name)
        return NULL;
    snprintf(claimed, USERDB_NAME_MAX + 1, "%.64s", name);
    const struct userdb_entry *u = userdb_find(srv->users, name);
    if (u && strcmp(u->realm, srv->realm))
        u = NULL;                /* an HA1 of another realm cannot match */
    const uint8_t *ha1 = srv->dummy_ha1;
    size_t ha1_len = srv->algo == MHD_DIGEST_ALG_SHA256 ? 32 : 16;
    if (u)
        ha1 = srv->algo == MHD_DIGEST_ALG_SHA256 ? u->sha256 : u->md5;
    int rc = MHD_digest_auth_check_digest2(c, srv->realm, name, ha1, ha1_len, NONCE_TIMEOUT_S,
                                           srv->algo);
    MHD_free(name);
    if (rc == MHD_INVALID_NONCE)
        *stale = true;
    return rc == MHD_YES ? u : NULL;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static struct store *thread_store(struct http_server *srv, char err[ASH_ERR_LEN])
{
    if (tls_store)
        return tls_store;
    pthread_mutex_lock(&srv->lock);
    bool room = srv->nstores < MAX_STORES;
    pthread_mutex_unlock(&srv->lock);
    if (!room) {
        snprintf(err, ASH_ERR_LEN, "too many store handles");
        return NULL;
    }
    /* analysts wait, sensors must not: this thread yields the CPU to the receive loop (a
     * nice of +5 for this thread only; Linux nices threads one by one) */
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (errno == 0 && nice_now < 5)
        setpriority(PRIO_PROCESS, (id_t)gettid(), 5);
    struct store *st = store_open(&srv->store_cfg, err);
    if (!st)
        return NULL;
    pthread_mutex_lock(&srv->lock);
    srv->stores[srv->nstores++] = st;
    pthread_mutex_unlock(&srv->lock);
    tls_store = st;
    return st;
}

/* Match path against a route pattern; a '*' takes a session id into id. */
static bool route_match(const char *pattern, const char *path, char id[STORE_ID_MAX + 1])
{
    const char *star = strchr(pattern, '*');
    if (!star)
        return !strcmp(pattern, path);
    size_t pre = (size_t)(star - pattern), suf = strlen(star + 1), n = strlen(path);
    if (n <= pre + suf || strncmp(path, pattern, pre) || strcmp(path + n - suf, star + 1))
        return false;
    size_t idlen = n - pre - suf;
    if (!api_params_id_ok(path + pre, idlen))
        return false;
    memcpy(id, path + pre, idlen);
    id[idlen] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *srv = cls;
    struct conn_ctx *cc = *con_cls;
    struct http_request rq = { .srv = srv, .now_us = now_us() };
    struct http_reply rp = { .status = 200, .count = -1 };
    char claimed[USERDB_NAME_MAX + 1] = "", err[ASH_ERR_LEN] = "";
    int64_t t0 = cc ? cc->t0_us : rq.now_us;
    enum MHD_Result ok;
    (void)version;
    (void)upload_data;

    /* a request without a body is answered at the next call, once it is complete: a reply
     * queued at the headers-only first call makes libmicrohttpd close the connection
     * ("Connection: close"), a TCP connect per request for every keep-alive client. One
     * with a body (no endpoint takes one) is still answered at once, its body unread. */
    if (cc && !cc->headers_seen) {
        cc->headers_seen = true;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
            (!cl || !strcmp(cl, "0")))
            return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;   /* a body is not used by any endpoint: drop it */
        return MHD_YES;
    }
    rq.path = url;
    /* the route first, so a wrong method answers 405 and an unknown path 404 (after auth) */
    const struct route *rt = NULL;
    bool path_known = false;
    for (size_t i = 0; i < ASH_ARRAY_LEN(routes); i++)
        if (route_match(routes[i].path, url, rq.id)) {
            path_known = true;
            if (!strcmp(routes[i].method, method) || (!strcmp(method, "HEAD") &&
                                                       !strcmp(routes[i].method, "GET"))) {
                rt = &routes[i];
                break;
            }
        }
    bool stale, by_cookie;
    rq.user = authenticate(c, srv, &stale, claimed, &rp, &by_cookie);
    if (!rq.user) {
        audit(srv, c, claimed[0] ? claimed : NULL, method, url, NULL,
              &(struct http_reply){ .status = 401, .count = -1 }, t0);
        ok = challenge(c, srv, stale, &rp);
        free(rp.body);
        return ok;
    }
    char token[HTTP_SESSION_TOKEN_LEN + 1];
    if (!by_cookie && http_sessions_create(srv->sessions, rq.user, now_us(), token) == 0)
        snprintf(rp.set_cookie, sizeof rp.set_cookie,
                 "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", HTTP_SESSION_COOKIE,
                 token, (long long)http_sessions_max_age(srv->sessions), srv->tls ? "; Secure" : "");
    if (!rt) {
        if (path_known)
            http_reply_error(&rp, 405, -1, "%s: method %s not allowed (GET)", url, method);
        else
            http_reply_error(&rp, 404, -1, "%s: no such endpoint", url);
        goto reply;
    }
    if (rt->perm == PERM_PCAP && !rq.user->can_pcap) {
        http_reply_error(&rp, 403, -1, "user %s may not download packets", rq.user->name);
        goto reply;
    }
    const char *q = cc && cc->uri ? strchr(cc->uri, '?') : NULL;
    if (q) {
        size_t qlen = strcspn(q + 1, "#");
        if (api_params_parse(q + 1, qlen, &rq.params, err) < 0) {
            http_reply_error(&rp, 400, -1, "%s", err);
            goto reply;
        }
    } else if (api_params_parse("", 0, &rq.params, err) < 0) {
        http_reply_error(&rp, 400, -1, "%s", err);
        goto reply;
    }
    if (!(rq.st = thread_store(srv, err))) {
        http_reply_error(&rp, 503, -1, "store: %s", err);
        goto reply;
    }
    rt->fn(&rq, &rp);
    if (!rp.body)
        http_reply_error(&rp, 500, -1, "%s: no answer", url);
reply:
    audit(srv, c, rq.user ? rq.user->name : NULL, method, url, &rq.params, &rp, t0);
    ok = send_reply(c, srv, &rp);
    free(rp.body);
    api_params_free(&rq.params);
    return ok;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct conn_ctx *cc = calloc(1, sizeof *cc);
    if (cc) {
        cc->uri = strdup(uri);
        cc->t0_us = now_us();
    }
    return cc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn_ctx *cc = *con_cls;
    if (cc) {
        free(cc->uri);
        free(cc);
        *con_cls = NULL;
    }
}

ASH_PRINTF(2, 0) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("http", "libmicrohttpd: %s", msg);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static char *slurp(const char *path, char err[ASH_ERR_LEN])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
                return NULL;
            }
            buf = b;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf || len > 1 << 20) {
        free(buf);
        snprintf(err, ASH_ERR_LEN, "%s: empty or larger than 1 MiB", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* "ADDR:PORT" or "[V6]:PORT" into a sockaddr. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *loopback,
                        char err[ASH_ERR_LEN])
{
    char host[128];
    const char *colon = strrchr(s, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || !colon[1] || *end || port < 1 || port > 65535 || (size_t)(colon - s) >= sizeof host) {
        snprintf(err, ASH_ERR_LEN, "http_listen '%s': expected ADDR:PORT (e.g. 0.0.0.0:8005)", s);
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            goto bad;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a->sin_addr) != 1)
        goto bad;
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return 0;
bad:
    snprintf(err, ASH_ERR_LEN, "http_listen '%s': '%s' is not an IP address", s, host);
    return -1;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

int http_server_start(struct http_server **out, const struct aggregator_config *cfg,
                      const struct store_config *store, void *zctx, char err[ASH_ERR_LEN])
{
    *out = NULL;
    if (!cfg->http_listen[0])
        return 0;
    struct sockaddr_storage ss;
    bool loopback = false;
    if (parse_listen(cfg->http_listen, &ss, &loopback, err) < 0)
        return -1;
    if (!cfg->http_users[0]) {
        /* nobody could log in: say how to turn it on, and keep the aggregator running */
        log_warn("http", "HTTP API off: http_users is not set (make a users file with 'ashiato "
                 "user add --users FILE NAME', then http_users = FILE; http_listen = \"\" "
                 "silences this)");
        return 0;
    }
    enum MHD_DigestAuthAlgorithm algo;
    if (!strcasecmp(cfg->http_algorithm, "md5"))
        algo = MHD_DIGEST_ALG_MD5;
    else if (!strcasecmp(cfg->http_algorithm, "sha256") || !strcasecmp(cfg->http_algorithm, "sha-256"))
        algo = MHD_DIGEST_ALG_SHA256;
    else {
        snprintf(err, ASH_ERR_LEN, "http_algorithm '%s': expected md5 or sha256", cfg->http_algorithm);
        return -1;
    }
    if (!cfg->http_tls_cert[0] != !cfg->http_tls_key[0]) {
        snprintf(err, ASH_ERR_LEN, "http_tls_cert and http_tls_key go together");
        return -1;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, ASH_ERR_LEN, "http: out of memory");
        return -1;
    }
    pthread_mutex_init(&srv->lock, NULL);
    srv->algo = algo;
    srv->zctx = zctx;
    srv->store_cfg = *store;
    srv->pcap_timeout_ms = cfg->http_pcap_timeout_ms;
    srv->stats.started_us = now_us();
    snprintf(srv->packet_endpoint, sizeof srv->packet_endpoint, "%s", cfg->packet_endpoint);
    snprintf(srv->realm, sizeof srv->realm, "%s", cfg->http_realm);
    if (!(srv->users = userdb_load(cfg->http_users, false, err)))
        goto fail;
    if (!(srv->sessions = http_sessions_new(SESSIONS_MAX, SESSION_IDLE_S, SESSION_MAX_S))) {
        snprintf(err, ASH_ERR_LEN, "http: out of memory");
        goto fail;
    }
    size_t usable = 0;
    for (size_t i = 0; i < userdb_count(srv->users); i++)
        usable += !strcmp(userdb_at(srv->users, i)->realm, srv->realm);
    if (usable < userdb_count(srv->users))
        log_warn("http", "users file %s: %zu of %zu users are of another realm than '%s' and "
                 "cannot log in", cfg->http_users, userdb_count(srv->users) - usable,
                 userdb_count(srv->users), srv->realm);
    uint8_t opaque[16];
    if (getrandom(srv->nonce_seed, sizeof srv->nonce_seed, 0) != sizeof srv->nonce_seed ||
        getrandom(srv->dummy_ha1, sizeof srv->dummy_ha1, 0) != sizeof srv->dummy_ha1 ||
        getrandom(opaque, sizeof opaque, 0) != sizeof opaque) {
        snprintf(err, ASH_ERR_LEN, "http: getrandom: %s", strerror(errno));
        goto fail;
    }
    hex(opaque, sizeof opaque, srv->opaque);
    if (cfg->http_audit_log[0] && !(srv->audit = fopen(cfg->http_audit_log, "ae"))) {
        snprintf(err, ASH_ERR_LEN, "http_audit_log %s: %s", cfg->http_audit_log, strerror(errno));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cfg->http_tls_cert[0]) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, ASH_ERR_LEN, "http_tls_cert: this libmicrohttpd has no TLS");
            goto fail;
        }
        if (!(srv->cert_pem = slurp(cfg->http_tls_cert, err)) ||
            !(srv->key_pem = slurp(cfg->http_tls_key, err)))
            goto fail;
        flags |= MHD_USE_TLS;
        srv->tls = true;
    }
    struct MHD_OptionItem opts[] = {
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL },   /* first, as MHD asks */
        { MHD_OPTION_SOCK_ADDR, 0, &ss },
        { MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->http_threads, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL },
        { MHD_OPTION_DIGEST_AUTH_RANDOM, sizeof srv->nonce_seed, srv->nonce_seed },
        { MHD_OPTION_NONCE_NC_SIZE, NONCE_NC_SIZE, NULL },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
        { srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->cert_pem },
        { srv->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->key_pem },
        { MHD_OPTION_END, 0, NULL },
    };
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                              MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, ASH_ERR_LEN, "http_listen %s: cannot start the HTTP server (address in use, "
                 "or bad TLS certificate/key; see the log)", cfg->http_listen);
        goto fail;
    }
    if (!srv->tls && !loopback)
        log_warn("http", "serving plaintext HTTP on a non-loopback address %s: digest auth "
                 "protects passwords but not the answers; set http_tls_cert/http_tls_key",
                 cfg->http_listen);
    log_info("http", "serving the API listen=%s tls=%s realm=%s algorithm=%s users=%zu threads=%lld "
             "audit=%s packets=%s", cfg->http_listen, srv->tls ? "yes" : "no", srv->realm,
             algo == MHD_DIGEST_ALG_SHA256 ? "sha256" : "md5", userdb_count(srv->users),
             cfg->http_threads, cfg->http_audit_log[0] ? cfg->http_audit_log : "(log)",
             srv->packet_endpoint[0] ? srv->packet_endpoint : "(none: packet_endpoint unset)");
    *out = srv;
    return 0;
fail:
    http_server_close(srv);
    return -1;
}

void http_server_close(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->d)
        MHD_stop_daemon(srv->d);
    for (size_t i = 0; i < srv->nstores; i++)
        store_close(srv->stores[i]);
    if (srv->audit)
        fclose(srv->audit);
    userdb_free(srv->users);
    http_sessions_free(srv->sessions);
    if (srv->key_pem)
        explicit_bzero(srv->key_pem, strlen(srv->key_pem));
    free(srv->key_pem);
    free(srv->cert_pem);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

void http_server_publish(struct http_server *srv, const struct receive_stats *rs)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    struct http_shared_stats *s = &srv->stats;
    s->batches = rs->batches;
    s->records = rs->records;
    s->duplicates = rs->duplicates;
    s->gaps = rs->gaps;
    s->store_retries = rs->store_retries;
    s->store_errors = rs->store_errors;
    s->bad_messages = rs->bad_messages;
    s->stats_messages = rs->stats_messages;
    s->handshake_failures = rs->handshake_failures;
    s->sensors = rs->sensors;
    s->groups = rs->groups;
    s->published_us = now_us();
    pthread_mutex_unlock(&srv->lock);
}

void http_server_stats(struct http_server *srv, struct http_shared_stats *out)
{
    pthread_mutex_lock(&srv->lock);
    *out = srv->stats;
    pthread_mutex_unlock(&srv->lock);
}

const char *http_server_packet_endpoint(const struct http_server *srv)
{
    return srv->packet_endpoint;
}

long long http_server_pcap_timeout_ms(const struct http_server *srv)
{
    return srv->pcap_timeout_ms;
}

void *http_server_zctx(const struct http_server *srv)
{
    return srv->zctx;
}

struct segmap_live *http_server_segments(const struct http_server *srv)
{
    return srv->store_cfg.segments;
}
