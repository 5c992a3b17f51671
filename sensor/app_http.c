/* app_http.c -- HTTP/1.x request and status lines and the Host and User-Agent headers.
 * Owns:  the method table and the line-by-line reading of one packet's HTTP messages:
 *        request line (method), Host (lower case, port cut), User-Agent, status code of
 *        responses. Several messages per packet and per connection (keep-alive, pipelining)
 *        are read as long as each starts a packet or follows a complete message.
 * Lends: nothing.
 * Never: reassembles: a header that continues in the next packet is simply not recorded;
 *        reads past the packet (every read goes through a cursor).
 * Trap:  a message body is skipped by Content-Length only within the packet; chunked bodies
 *        end the packet's parse, and the next packet must start a new message to be read. */
#include <string.h>

#include "app_internal.h"
#include "cursor.h"

/* llhttp's method set: a request line with any other token is not HTTP (RPC_IN_DATA ...) */
static const char *const methods[] = {
    "GET", "POST", "HEAD", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND",
    "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH",
    "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE",
    "PRI", "QUERY",
};

/* length of the known method at p followed by a space, or 0 */
static size_t method_len(const uint8_t *p, size_t len)
{
    size_t n = 0;
    while (n < len && n < APP_METHOD_LEN && ((p[n] >= 'A' && p[n] <= 'Z') || p[n] == '-'))
        n++;
    if (n == 0 || n >= len || p[n] != ' ')
        return 0;
    for (size_t i = 0; i < ASH_ARRAY_LEN(methods); i++)
        if (strlen(methods[i]) == n && memcmp(methods[i], p, n) == 0)
            return n;
    return 0;
}

static bool is_digit(uint8_t ch)
{
    return ch >= '0' && ch <= '9';
}

/* "HTTP/d.d" (or "HTTP/d") at p */
static size_t version_len(const uint8_t *p, size_t len)
{
    if (len < 6 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]))
        return 0;
    if (len >= 8 && p[6] == '.' && is_digit(p[7]))
        return 8;
    return 6;
}

/* the next line (CR LF or LF cut off) or NULL when the packet ends inside it */
static const uint8_t *next_line(struct cursor *c, size_t *n)
{
    size_t left = cursor_left(c);
    const uint8_t *nl = left ? memchr(c->p, '\n', left) : NULL;
    if (!nl)
        return NULL;
    size_t take = (size_t)(nl - c->p) + 1;
    const uint8_t *line = cursor_bytes(c, take);
    *n = take - 1;
    if (*n > 0 && line[*n - 1] == '\r')
        (*n)--;
    return line;
}

/* a request line: known method, a target, and an HTTP version at its end */
static bool request_line(const uint8_t *l, size_t n, size_t *mlen)
{
    size_t m = method_len(l, n);
    if (m == 0)
        return false;
    const uint8_t *sp = NULL;
    for (size_t i = n; i > m + 1; i--)
        if (l[i - 1] == ' ') {
            sp = l + i - 1;
            break;
        }
    if (!sp || sp == l + m)
        return false;
    size_t vlen = (size_t)(l + n - (sp + 1));
    if (version_len(sp + 1, vlen) != vlen)
        return false;
    *mlen = m;
    return true;
}

/* a status line "HTTP/d.d NNN ..." */
static bool status_line(const uint8_t *l, size_t n, uint16_t *code)
{
    size_t v = version_len(l, n);
    if (v == 0 || n < v + 4 || l[v] != ' ' || !is_digit(l[v + 1]) || !is_digit(l[v + 2]) ||
        !is_digit(l[v + 3]) || (n > v + 4 && l[v + 4] != ' '))
        return false;
    *code = (uint16_t)((l[v + 1] - '0') * 100 + (l[v + 2] - '0') * 10 + (l[v + 3] - '0'));
    return *code >= 100;
}

/* Detection, as Arkime's classifier: a known method followed by a space or the end of the
 * line ("GET\r\n" of a broken client still is HTTP), or a status line. A method alone does
 * not record a method: app_http_parse() wants a whole request line for that. */
bool app_http_sniff(const uint8_t *p, uint32_t len)
{
    struct cursor c = cursor_make(p, len);
    size_t n, m = 0;
    uint16_t code;
    const uint8_t *l = next_line(&c, &n);
    if (l && status_line(l, n, &code))
        return true;
    while (m < len && m < APP_METHOD_LEN && ((p[m] >= 'A' && p[m] <= 'Z') || p[m] == '-'))
        m++;
    if (m == 0 || m >= len || (p[m] != ' ' && p[m] != '\r' && p[m] != '\n'))
        return false;
    for (size_t i = 0; i < ASH_ARRAY_LEN(methods); i++)
        if (strlen(methods[i]) == m && memcmp(methods[i], p, m) == 0)
            return true;
    return false;
}

static bool header_is(const uint8_t *l, size_t n, const char *name, const uint8_t **val,
                      size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || l[k] != ':')
        return false;
    for (size_t i = 0; i < k; i++) {
        uint8_t ch = l[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (uint8_t)(ch + ('a' - 'A'));
        if (ch != (uint8_t)name[i])
            return false;
    }
    const uint8_t *v = l + k + 1, *end = l + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *vlen = (size_t)(end - v);
    return true;
}

/* Host without its port: "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]" */
static size_t host_len(const uint8_t *v, size_t n)
{
    if (n > 0 && v[0] == '[') {
        const uint8_t *close = memchr(v, ']', n);
        return close ? (size_t)(close - v) + 1 : n;
    }
    const uint8_t *colon = memchr(v, ':', n);
    if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - v)) == NULL)
        return (size_t)(colon - v);
    return n;
}

static uint64_t content_length(const uint8_t *v, size_t n)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && is_digit(v[i]) && x < (1ull << 40); i++)
        x = x * 10 + (uint64_t)(v[i] - '0');
    return x;
}

/* read the headers that follow a request or status line; false if the packet ended first */
static bool headers(struct app_ctx *c, struct cursor *cur, bool request, uint64_t *body)
{
    size_t n, vlen;
    const uint8_t *l, *v;
    *body = 0;
    while ((l = next_line(cur, &n)) != NULL) {
        if (n == 0)
            return true;
        if (header_is(l, n, "content-length", &v, &vlen)) {
            *body = content_length(v, vlen);
        } else if (request && header_is(l, n, "host", &v, &vlen)) {
            struct app_fields *f = app_ctx_fields(c);
            if (f)
                app_list_add(f, &f->http_host[0][0], APP_NAME_LEN, &f->n_http_host,
                             APP_MAX_HOSTS, v, host_len(v, vlen), true);
        } else if (request && header_is(l, n, "user-agent", &v, &vlen)) {
            struct app_fields *f = app_ctx_fields(c);
            if (f)
                app_list_add(f, &f->user_agent[0][0], APP_UA_LEN, &f->n_user_agent, 1, v,
                             vlen, false);
        }
    }
    return false;
}

bool app_http_parse(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    struct cursor cur = cursor_make(p, len);
    /* a bound on messages per packet keeps a packet of tiny pipelined requests cheap */
    for (int msg = 0; msg < 16 && cursor_left(&cur) > 0; msg++) {
        size_t n, m;
        uint16_t code;
        uint64_t body;
        const uint8_t *l = next_line(&cur, &n);
        if (!l)
            break;
        bool request = request_line(l, n, &m);
        if (request) {
            struct app_fields *f = app_ctx_fields(c);
            if (f)
                app_list_add(f, &f->http_method[0][0], APP_METHOD_LEN, &f->n_http_method,
                             APP_MAX_METHODS, l, m, false);
        } else if (status_line(l, n, &code)) {
            struct app_fields *f = app_ctx_fields(c);
            if (f) {
                bool dup = false;
                for (uint8_t i = 0; i < f->n_http_status; i++)
                    dup |= f->http_status[i] == code;
                if (!dup && f->n_http_status < APP_MAX_STATUS)
                    f->http_status[f->n_http_status++] = code;
                else if (!dup)
                    f->truncated = true;
            }
        } else {
            break;   /* the packet starts inside a body or is not HTTP */
        }
        if (!headers(c, &cur, request, &body))
            break;
        if (body >= cursor_left(&cur))
            break;
        cursor_skip(&cur, (size_t)body);
    }
    return true;
}
