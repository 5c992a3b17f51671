/* packet_client.c -- packet requests from the analyst's side (see packet_client.h).
 * Owns:  the query building (session documents, time ranges), the DEALER socket, the probe
 *        that tells a missing socket from a refused one, and the check of every answer to a
 *        session query against the session's time range and flow.
 * Never: prints or exits (callers report); keeps a byte of an answer that failed its check. */
#include "packet_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <zmq.h>

#include "ashiato.pb-c.h"
#include "cursor.h"
#include "packet_match.h"

#define PCAP_HDR 24
#define REC_HDR 16
#define ST(x) ASHIATO__PACKET_RESPONSE__STATUS__##x

struct packet_client {
    char endpoint[512];
    void *zctx, *sock;
    uint64_t next_id;
};

static const char *const status_names[] = {
    "OK", "EXPIRED", "MISMATCH", "NOT_FOUND", "BAD_REQUEST", "TOO_LARGE", "ERROR",
    "NO_SOCKET", "DENIED", "REFUSED", "NO_ANSWER", "LOCAL",
};

const char *packet_client_status_name(enum packet_client_status s)
{
    return (unsigned)s < ASH_ARRAY_LEN(status_names) ? status_names[s] : "?";
}

bool packet_client_answered(enum packet_client_status s)
{
    return s <= PACKET_CLIENT_REMOTE_ERROR;
}

int packet_client_parse_time(const char *s, int64_t *us)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    char *end;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) >= 6) {
        if (s[n] != '\0' && strcmp(s + n, "Z") != 0)
            return -1;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                         .tm_min = mi, .tm_sec = 0 };
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || !(sec >= 0 && sec < 61))
            return -1;
        *us = (int64_t)t * 1000000 + (int64_t)(sec * 1e6 + 0.5);
        return 0;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0 || v > 1e11)
        return -1;
    *us = (int64_t)(v * 1e6 + 0.5);
    return 0;
}

/* ---- queries ---- */

static json_object *path_get(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
    json_object *x = path_get(o, a, b);
    return x && json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

/* a JSON integer, or a string of decimal digits (network.iana_number is an ECS keyword) */
static int64_t int_value(json_object *x)
{
    if (json_object_is_type(x, json_type_int))
        return json_object_get_int64(x);
    const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
    int64_t v = 0;
    if (!s || !*s || strlen(s) > 9)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* an integer field in [lo, hi]; absent: *out = dflt, 0; present and out of range: -1 */
static int int_at(json_object *o, const char *a, const char *b, int lo, int hi, int dflt, int *out)
{
    json_object *x = path_get(o, a, b);
    *out = dflt;
    if (!x)
        return 0;
    int64_t v = int_value(x);
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int appendf(char *out, size_t cap, size_t *n, const char *fmt, ...) ASH_PRINTF(4, 5);
static int appendf(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *n)
        return -1;
    *n += (size_t)k;
    return 0;
}

/* The session's flow: addresses checked with inet_pton (a crafted document must not widen
 * the filter: "1.2.3.4 or net 0/0" is not an address), ports and protocol as numbers. Fills
 * q->bpf (the flow, for a by-flow request) and the check filters. */
static int flow_from_json(json_object *doc, struct packet_client_query *q, char err[ASH_ERR_LEN])
{
    const char *sip = str_at(doc, "source", "ip"), *dip = str_at(doc, "destination", "ip");
    int proto, p1, p2;
    if (!sip || !dip || !path_get(doc, "network", "iana_number")) {
        snprintf(err, ASH_ERR_LEN, "the session has neither ashiato.packet_pos nor source.ip, "
                 "destination.ip and network.iana_number");
        return -1;
    }
    int fam = strchr(sip, ':') ? AF_INET6 : AF_INET;
    q->addr_len = fam == AF_INET6 ? 16 : 4;
    if (inet_pton(fam, sip, q->addr_a) != 1) {
        snprintf(err, ASH_ERR_LEN, "source.ip: expected an IPv4 or IPv6 address, got '%.64s'", sip);
        return -1;
    }
    if (inet_pton(fam, dip, q->addr_b) != 1) {
        snprintf(err, ASH_ERR_LEN, "destination.ip: expected an IPv%d address like source.ip, got '%.64s'",
                 fam == AF_INET6 ? 6 : 4, dip);
        return -1;
    }
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];        /* canonical forms, not the input */
    inet_ntop(fam, q->addr_a, a, sizeof a);
    inet_ntop(fam, q->addr_b, b, sizeof b);
    if (int_at(doc, "network", "iana_number", 0, 255, 0, &proto) < 0 ||
        int_at(doc, "source", "port", 0, 65535, 0, &p1) < 0 ||
        int_at(doc, "destination", "port", 0, 65535, 0, &p2) < 0) {
        snprintf(err, ASH_ERR_LEN, "network.iana_number, source.port or destination.port: "
                 "expected 0..255 and 0..65535");
        return -1;
    }
    char vl[256] = "";
    size_t nv = 0;
    json_object *ids = path_get(doc, "network", "vlan");
    ids = ids ? path_get(ids, "id", NULL) : NULL;
    if (ids && !json_object_is_type(ids, json_type_array))
        ids = NULL;
    for (size_t i = 0; ids && i < json_object_array_length(ids); i++) {
        json_object *v = json_object_array_get_idx(ids, i);
        int64_t id = int_value(v);
        if (id < 0 || id > 4095 || q->check_nvlan >= ASH_ARRAY_LEN(q->check_vlan) ||
            appendf(vl, sizeof vl, &nv, "vlan %d and ", (int)id) < 0) {
            snprintf(err, ASH_ERR_LEN, "network.vlan.id: expected up to 8 ids of 0..4095");
            return -1;
        }
        q->check_vlan[q->check_nvlan++] = (uint16_t)id;
    }
    const char *pname = proto == 6 ? "tcp" : proto == 17 ? "udp" : proto == 132 ? "sctp" : NULL;
    const char *ipv = fam == AF_INET6 ? "ip6" : "ip";
    size_t n = 0;
    int rc;
    if (pname && (p1 || p2))
        rc = appendf(q->check_bpf, sizeof q->check_bpf, &n, "%s%s and ((src host %s and src port %d and "
                     "dst host %s and dst port %d) or (src host %s and src port %d and dst host %s and "
                     "dst port %d))", vl, pname, a, p1, b, p2, b, p2, a, p1);
    else
        rc = appendf(q->check_bpf, sizeof q->check_bpf, &n, "%s%s proto %d and host %s and host %s",
                     vl, ipv, proto, a, b);
    /* packets whose ports a filter can see: only those must match the 5-tuple (a tunnelled
     * or fragmented packet of the session is checked by its addresses alone) */
    n = 0;
    q->check_ports = pname && (p1 || p2);
    q->check_proto = (uint8_t)proto;
    q->check_port_a = (uint16_t)p1;
    q->check_port_b = (uint16_t)p2;
    if (rc == 0 && q->check_ports)
        rc = appendf(q->check_l4, sizeof q->check_l4, &n, "%s((ip and ip[6:2] & 0x1fff = 0) or ip6) "
                     "and (tcp or udp or sctp)", vl);
    snprintf(q->bpf, sizeof q->bpf, "%s", q->check_bpf);
    return rc;
}

static int positions_from_json(json_object *doc, const char *pos, struct packet_client_query *q,
                               char err[ASH_ERR_LEN])
{
    size_t len = strlen(pos), out = BASE64_DECODE_LENGTH(len);
    struct base64_decode_ctx b;
    if (!(q->pos = malloc(out + 1))) {
        snprintf(err, ASH_ERR_LEN, "out of memory");
        return -1;
    }
    base64_decode_init(&b);
    if (!base64_decode_update(&b, &out, q->pos, len, pos) || !base64_decode_final(&b)) {
        snprintf(err, ASH_ERR_LEN, "ashiato.packet_pos: not base64");
        return -1;
    }
    q->pos_len = out;
    json_object *files = path_get(doc, "ashiato", "packet_files");
    size_t nf = files && json_object_is_type(files, json_type_array) ? json_object_array_length(files) : 0;
    if (nf) {
        if (!(q->files = ash_calloc_array(nf, sizeof *q->files))) {
            snprintf(err, ASH_ERR_LEN, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < nf; i++) {
            json_object *v = json_object_array_get_idx(files, i);
            int64_t id = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
            if (id <= 0) {
                snprintf(err, ASH_ERR_LEN, "ashiato.packet_files: expected file ids >= 1");
                return -1;
            }
            q->files[i] = (uint64_t)id;
        }
        q->nfiles = nf;
    }
    return 0;
}

int packet_client_query_from_json(struct packet_client_query *q, const char *json, size_t len,
                                  char err[ASH_ERR_LEN])
{
    memset(q, 0, sizeof *q);
    struct json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, json, (int)(len > INT32_MAX ? INT32_MAX : len)) : NULL;
    int rc = -1;
    if (!doc || !json_object_is_type(doc, json_type_object)) {
        snprintf(err, ASH_ERR_LEN, "not a JSON object%s%s", tok ? ": " : "",
                 tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "");
        goto out;
    }
    const char *observer = str_at(doc, "observer", "name"), *sid = str_at(doc, "ashiato", "session_id");
    const char *pos = str_at(doc, "ashiato", "packet_pos");
    const char *start = str_at(doc, "event", "start"), *end = str_at(doc, "event", "end");
    snprintf(q->sensor, sizeof q->sensor, "%s", observer ? observer : "");
    snprintf(q->name, sizeof q->name, "%s", sid ? sid : "session");
    if (!start || !end || packet_client_parse_time(start, &q->check_start_us) < 0 ||
        packet_client_parse_time(end, &q->check_end_us) < 0 || q->check_end_us < q->check_start_us) {
        snprintf(err, ASH_ERR_LEN, "event.start/event.end: expected ISO 8601 times, start <= end");
        goto out;
    }
    if (flow_from_json(doc, q, err) < 0)
        goto out;
    q->check = true;
    if (pos && *pos) {
        q->bpf[0] = '\0';                     /* asked by positions: the flow only checks */
        rc = positions_from_json(doc, pos, q, err);
    } else {
        /* no positions (a sensor without a store, an old record): time range and flow */
        q->by_flow = true;
        q->start_us = q->check_start_us;
        q->end_us = q->check_end_us;
        rc = 0;
    }
out:
    if (rc < 0)
        packet_client_query_free(q);
    json_object_put(doc);
    if (tok)
        json_tokener_free(tok);
    return rc;
}

int packet_client_query_range(struct packet_client_query *q, int64_t start_us, int64_t end_us,
                              const char *bpf, const char *sensor, char err[ASH_ERR_LEN])
{
    memset(q, 0, sizeof *q);
    if (end_us < start_us) {
        snprintf(err, ASH_ERR_LEN, "time range: the end is before the start");
        return -1;
    }
    if (bpf && strlen(bpf) >= sizeof q->bpf) {
        snprintf(err, ASH_ERR_LEN, "filter: longer than %zu bytes", sizeof q->bpf - 1);
        return -1;
    }
    q->start_us = start_us;
    q->end_us = end_us;
    snprintf(q->bpf, sizeof q->bpf, "%s", bpf ? bpf : "");
    snprintf(q->sensor, sizeof q->sensor, "%s", sensor ? sensor : "");
    snprintf(q->name, sizeof q->name, "time-range");
    return 0;
}

void packet_client_query_free(struct packet_client_query *q)
{
    free(q->pos);
    free(q->files);
    q->pos = NULL;
    q->files = NULL;
    q->pos_len = q->nfiles = 0;
}

/* ---- the connection ---- */

struct packet_client *packet_client_open(const char *endpoint, char err[ASH_ERR_LEN])
{
    struct packet_client *c = calloc(1, sizeof *c);
    if (!c || strlen(endpoint) >= sizeof c->endpoint) {
        snprintf(err, ASH_ERR_LEN, c ? "endpoint: longer than 511 bytes" : "out of memory");
        free(c);
        return NULL;
    }
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    c->next_id = 1;
    return c;
}

void packet_client_close(struct packet_client *c)
{
    if (!c)
        return;
    if (c->sock)
        zmq_close(c->sock);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    free(c);
}

/* An ipc:// socket path is tried with connect(2) first, so that the answer says which of
 * "no such socket", "permission denied" and "nobody listens" it is (ZeroMQ would retry
 * silently and every case would look like a timeout). */
static enum packet_client_status probe(const char *ep, char err[ASH_ERR_LEN])
{
    if (strncmp(ep, "ipc://", 6) != 0)
        return PACKET_CLIENT_OK;
    const char *path = ep + 6;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (path[0] == '@' || strlen(path) >= sizeof sa.sun_path)
        return PACKET_CLIENT_OK;              /* abstract or too long: left to ZeroMQ */
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PACKET_CLIENT_OK;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa), e = errno;
    close(fd);
    if (rc == 0)
        return PACKET_CLIENT_OK;
    if (e == ENOENT || e == ENOTDIR) {
        snprintf(err, ASH_ERR_LEN, "%s: no such socket (is the sensor or aggregator running, with "
                 "this packet_endpoint?)", path);
        return PACKET_CLIENT_NO_SOCKET;
    }
    if (e == EACCES || e == EPERM) {
        snprintf(err, ASH_ERR_LEN, "%s: permission denied (the endpoint admits its owner and its "
                 "group only)", path);
        return PACKET_CLIENT_DENIED;
    }
    if (e == ECONNREFUSED) {
        snprintf(err, ASH_ERR_LEN, "%s: nobody listens (a socket left by a sensor or aggregator "
                 "that stopped)", path);
        return PACKET_CLIENT_REFUSED;
    }
    snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(e));
    return PACKET_CLIENT_LOCAL;
}

static enum packet_client_status connect_once(struct packet_client *c, char err[ASH_ERR_LEN])
{
    if (c->sock)
        return PACKET_CLIENT_OK;              /* probed when it connected */
    enum packet_client_status s = probe(c->endpoint, err);
    if (s != PACKET_CLIENT_OK)
        return s;
    int zero = 0;
    if (!(c->zctx = zmq_ctx_new()) || !(c->sock = zmq_socket(c->zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(c->sock, c->endpoint) != 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", c->endpoint, zmq_strerror(zmq_errno()));
        if (c->sock)
            zmq_close(c->sock);
        c->sock = NULL;
        return PACKET_CLIENT_LOCAL;
    }
    return PACKET_CLIENT_OK;
}

/* ---- the check ---- */

static bool contains(const uint8_t *p, size_t n, const uint8_t *x, size_t xn)
{
    for (size_t i = 0; i + xn <= n; i++)
        if (p[i] == x[0] && memcmp(p + i, x, xn) == 0)
            return true;
    return false;
}

/* Every packet of the answer must lie in the session's time range and carry its addresses;
 * one whose ports a filter can see must be the session's 5-tuple, either direction. -1 and
 * err at the first packet that fails (the answer is then refused whole). */
int packet_client_check(const struct packet_client_query *q, const uint8_t *buf, size_t len,
                        uint64_t *packets, char err[ASH_ERR_LEN])
{
    struct cursor c = cursor_make(buf, len);
    uint32_t magic = cursor_le32(&c);
    bool swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
    bool nano = magic == 0xa1b23c4du || magic == 0x4d3cb2a1u;
    if (c.bad || !(swap || nano || magic == 0xa1b2c3d4u)) {
        snprintf(err, ASH_ERR_LEN, "the answer is not a pcap file");
        return -1;
    }
    cursor_skip(&c, 16);                      /* version, zone, sigfigs, snaplen */
    uint32_t link = cursor_le32(&c);
    if (swap)
        link = __builtin_bswap32(link);
    struct packet_match m;
    if (packet_match_init(&m, link, q->check_ports, q->check_proto, q->check_port_a, q->check_port_b,
                          q->addr_a, q->addr_b, q->addr_len, q->check_vlan, q->check_nvlan, err) < 0)
        return -1;
    *packets = 0;
    while (cursor_left(&c)) {
        uint32_t sec = cursor_le32(&c), frac = cursor_le32(&c), incl = cursor_le32(&c);
        cursor_skip(&c, 4);                   /* the original length: no filter reads it */
        if (swap) {
            sec = __builtin_bswap32(sec);
            frac = __builtin_bswap32(frac);
            incl = __builtin_bswap32(incl);
        }
        const uint8_t *data = cursor_bytes(&c, incl);
        if (c.bad) {
            snprintf(err, ASH_ERR_LEN, "packet %" PRIu64 ": a record cut short", *packets + 1);
            return -1;
        }
        int64_t ts = (int64_t)sec * 1000000 + (nano ? frac / 1000 : frac);
        if (ts < q->check_start_us || ts > q->check_end_us) {
            snprintf(err, ASH_ERR_LEN, "packet %" PRIu64 " at %" PRId64 " us lies outside the session's "
                     "time range %" PRId64 "..%" PRId64, *packets + 1, ts, q->check_start_us, q->check_end_us);
            return -1;
        }
        if (!contains(data, incl, q->addr_a, q->addr_len) || !contains(data, incl, q->addr_b, q->addr_len) ||
            (m.ports && packet_match_l4(&m, data, incl) && !packet_match_flow(&m, data, incl))) {
            snprintf(err, ASH_ERR_LEN, "packet %" PRIu64 " is not of the session's flow (%s)",
                     *packets + 1, q->check_bpf);
            return -1;
        }
        (*packets)++;
    }
    return 0;
}

/* ---- one request ---- */

static enum packet_client_status from_wire(int st)
{
    switch (st) {
    case ST(OK): return PACKET_CLIENT_OK;
    case ST(EXPIRED): return PACKET_CLIENT_EXPIRED;
    case ST(MISMATCH): return PACKET_CLIENT_MISMATCH;
    case ST(NOT_FOUND): return PACKET_CLIENT_NOT_FOUND;
    case ST(BAD_REQUEST): return PACKET_CLIENT_BAD_REQUEST;
    case ST(TOO_LARGE): return PACKET_CLIENT_TOO_LARGE;
    default: return PACKET_CLIENT_REMOTE_ERROR;
    }
}

static int append(struct packet_client_result *r, size_t *cap, const uint8_t *p, size_t n)
{
    if (r->len + n > *cap) {
        size_t ncap = *cap ? *cap : 65536;
        while (ncap < r->len + n)
            ncap *= 2;
        uint8_t *nb = realloc(r->pcap, ncap);
        if (!nb)
            return -1;
        r->pcap = nb;
        *cap = ncap;
    }
    memcpy(r->pcap + r->len, p, n);
    r->len += n;
    return 0;
}

static enum packet_client_status finish(struct packet_client_result *r, enum packet_client_status s)
{
    r->status = s;
    if (s != PACKET_CLIENT_OK) {
        free(r->pcap);
        r->pcap = NULL;
        r->len = 0;
        r->packets = 0;
    }
    return s;
}

static int send_request(struct packet_client *c, const struct packet_client_query *q, uint64_t id)
{
    Ashiato__PacketRequest req = ASHIATO__PACKET_REQUEST__INIT;
    Ashiato__PacketFile pf[64], *pfp[64];
    req.request_id = id;
    req.session_id.data = (uint8_t *)q->name;
    req.session_id.len = strlen(q->name);
    req.sensor = (char *)q->sensor;
    req.max_packets = q->max_packets;
    req.max_bytes = q->max_bytes;
    if (q->pos_len) {
        req.packet_pos.data = q->pos;
        req.packet_pos.len = q->pos_len;
        size_t nf = q->nfiles < 64 ? q->nfiles : 64;  /* the list only speeds up "expired" */
        for (size_t i = 0; i < nf; i++) {
            ashiato__packet_file__init(&pf[i]);
            pf[i].file_id = q->files[i];
            pfp[i] = &pf[i];
        }
        req.n_packet_files = nf;
        req.packet_files = pfp;
    } else {
        req.start_us = q->start_us;
        req.end_us = q->end_us;
        req.bpf = (char *)q->bpf;
    }
    size_t len = ashiato__packet_request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    ashiato__packet_request__pack(&req, buf);
    int rc = zmq_send(c->sock, buf, len, 0);
    free(buf);
    return rc < 0 ? -1 : 0;
}

enum packet_client_status packet_client_fetch(struct packet_client *c, const struct packet_client_query *q,
                                              int timeout_ms, struct packet_client_result *r)
{
    memset(r, 0, sizeof *r);
    enum packet_client_status s = connect_once(c, r->error);
    if (s != PACKET_CLIENT_OK)
        return finish(r, s);
    uint64_t id = c->next_id++;
    if (send_request(c, q, id) < 0) {
        snprintf(r->error, sizeof r->error, "send: %s", zmq_strerror(zmq_errno()));
        return finish(r, PACKET_CLIENT_LOCAL);
    }
    size_t cap = 0;
    uint32_t expect = 0;
    for (;;) {
        zmq_pollitem_t it = { c->sock, 0, ZMQ_POLLIN, 0 };
        int pr = zmq_poll(&it, 1, timeout_ms);
        if (pr <= 0) {
            snprintf(r->error, sizeof r->error, "%s: no answer within %d s (the endpoint is up; the "
                     "sensor behind it may be busy or disconnected)", c->endpoint, (timeout_ms + 999) / 1000);
            /* a late answer must not be taken for the next request's: start afresh */
            zmq_close(c->sock);
            zmq_ctx_term(c->zctx);
            c->sock = c->zctx = NULL;
            return finish(r, PACKET_CLIENT_NO_ANSWER);
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, 0) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        Ashiato__PacketResponse *resp = ashiato__packet_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!resp || resp->request_id != id) {  /* a late answer to an old request */
            if (resp)
                ashiato__packet_response__free_unpacked(resp, NULL);
            continue;
        }
        int st = (int)resp->status;
        if (resp->chunk != expect++) {
            snprintf(r->error, sizeof r->error, "chunk %u out of order", resp->chunk);
            ashiato__packet_response__free_unpacked(resp, NULL);
            return finish(r, PACKET_CLIENT_LOCAL);
        }
        if (resp->pcap.len && append(r, &cap, resp->pcap.data, resp->pcap.len) < 0) {
            snprintf(r->error, sizeof r->error, "out of memory for the answer");
            ashiato__packet_response__free_unpacked(resp, NULL);
            return finish(r, PACKET_CLIENT_LOCAL);
        }
        if (st != ST(MORE)) {
            const char *why = resp->error ? resp->error : "";
            if (st == ST(OK))
                snprintf(r->note, sizeof r->note, "%s", why);
            else
                snprintf(r->error, sizeof r->error, "%s", why);
            ashiato__packet_response__free_unpacked(resp, NULL);
            s = from_wire(st);
            break;
        }
        ashiato__packet_response__free_unpacked(resp, NULL);
    }
    if (s != PACKET_CLIENT_OK)
        return finish(r, s);
    if (r->len && r->len < PCAP_HDR) {
        snprintf(r->error, sizeof r->error, "the answer is %zu bytes: not a pcap file", r->len);
        return finish(r, PACKET_CLIENT_LOCAL);
    }
    /* a time query is taken as it comes (r->packets stays 0: not walked) */
    if (q->check && r->len && packet_client_check(q, r->pcap, r->len, &r->packets, r->error) < 0)
        return finish(r, PACKET_CLIENT_MISMATCH);
    return finish(r, PACKET_CLIENT_OK);
}

void packet_client_result_free(struct packet_client_result *r)
{
    free(r->pcap);
    r->pcap = NULL;
    r->len = 0;
}
