/* record_json.c -- SessionRecord to ECS JSON (see record_json.h), written by hand straight into
 * a byte buffer. Hand-written because it is the Elasticsearch loader's hot path: json-c took
 * 9.37 of the loader's 9.94 us of CPU per document (bench/RESULTS.md "es_bulk
 * 2026-11-26T03:36Z": one json-c object per field, gmtime_r + strftime per time, a final
 * strndup). On 100000 records of a real capture (~880-byte documents) json-c took 9.0-9.3 us and
 * 124k instructions (callgrind) per document, record_json_append 0.32 us and 5.0k.
 * The text is byte for byte json-c's with JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE: keys in insertion order, no spaces, \" \\ \b \f \n \r \t,
 * other bytes below 0x20 as \u00xx (lower-case hex), 0x7f and '/' as they are; invalid UTF-8
 * becomes U+FFFD one byte at a time; times as strftime's "%Y-%m-%dT%H:%M:%S" (the year
 * unpadded) clamped to years 1..9999; IPs as glibc's inet_ntop; base64 as nettle's.
 * Owns:  field names and shapes of the session document, and its text forms (time, IP, MAC).
 * Never: keeps state; allocates except to grow the caller's buffer; is used per packet.
 * Trap:  the old json-c renderer is the oracle (tests/unit/record_json_jsonc.c): a change to
 *        the document goes into both, and test_record_json and fuzz_record_json compare them. */
#include "record_json.h"
#include "segmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- text forms ----------------------------------------------------------------------- */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static char *put_u64(char *p, uint64_t v)
{
    static const uint64_t pow10[20] = {
        1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
        10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL,
    };
    int n = 1;
    while (n < 20 && v >= pow10[n])
        n++;
    char *q = p + n;
    while (v >= 100) {
        q -= 2;
        memcpy(q, digit_pairs + v % 100 * 2, 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(q - 2, digit_pairs + v * 2, 2);
    else
        q[-1] = (char)('0' + v);
    return p + n;
}

static char *put_i64(char *p, int64_t v)
{
    if (v >= 0)
        return put_u64(p, (uint64_t)v);
    *p++ = '-';
    return put_u64(p, 0 - (uint64_t)v);
}

static char *put_2(char *p, unsigned v)
{
    memcpy(p, digit_pairs + v * 2, 2);
    return p + 2;
}

static char *put_ip4(char *p, const uint8_t *ip)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = ip[i];
        if (i)
            *p++ = '.';
        if (v >= 100) {
            *p++ = (char)('0' + v / 100);
            v %= 100;
            memcpy(p, digit_pairs + v * 2, 2);
            p += 2;
        } else if (v >= 10) {
            memcpy(p, digit_pairs + v * 2, 2);
            p += 2;
        } else {
            *p++ = (char)('0' + v);
        }
    }
    return p;
}

/* glibc's inet_ntop6: the longest run (the first of equals) of two or more zero words becomes
 * "::"; ::a.b.c.d and ::ffff:a.b.c.d keep the IPv4 form. */
static char *put_ip6(char *p, const uint8_t *ip)
{
    static const char hex[] = "0123456789abcdef";
    unsigned w[8];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
        if (w[i] == 0) {
            if (cur < 0)
                cur = i, cur_len = 0;
            cur_len++;
        } else if (cur >= 0) {
            if (best < 0 || cur_len > best_len)
                best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (cur >= 0 && (best < 0 || cur_len > best_len))
        best = cur, best_len = cur_len;
    if (best >= 0 && best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *p++ = ':';
            continue;
        }
        if (i)
            *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return put_ip4(p, ip + 12);
        int shift = w[i] >= 0x1000 ? 12 : w[i] >= 0x100 ? 8 : w[i] >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            *p++ = hex[w[i] >> shift & 0xf];
    }
    if (best >= 0 && best + best_len == 8)
        *p++ = ':';
    return p;
}

static char *put_ip(char *p, const uint8_t *ip, size_t len)
{
    return len == 4 ? put_ip4(p, ip) : len == 16 ? put_ip6(p, ip) : p;
}

void record_json_ip(const uint8_t *ip, size_t len, char out[48])
{
    *put_ip(out, ip, len) = '\0';
}

/* At most 27 bytes ("9999-12-31T23:59:59.999999Z"). Days to a date by Howard Hinnant's
 * civil_from_days (proleptic Gregorian, as gmtime_r). */
static char *put_time(char *p, int64_t us)
{
    /* a hostile record may carry any int64: keep to years 0001..9999 */
    const int64_t lo = -62135596800LL * 1000000, hi = 253402300799LL * 1000000 + 999999;
    us = us < lo ? lo : us > hi ? hi : us;
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;

    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                 /* [0, 11], from March */
    unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);

    p = put_u64(p, (uint64_t)y);
    *p++ = '-';
    p = put_2(p, m);
    *p++ = '-';
    p = put_2(p, d);
    *p++ = 'T';
    p = put_2(p, (unsigned)(sod / 3600));
    *p++ = ':';
    p = put_2(p, (unsigned)(sod / 60 % 60));
    *p++ = ':';
    p = put_2(p, (unsigned)(sod % 60));
    *p++ = '.';
    unsigned f = (unsigned)frac;
    p = put_2(p, f / 10000);
    p = put_2(p, f / 100 % 100);
    p = put_2(p, f % 100);
    *p++ = 'Z';
    return p;
}

void record_json_time(int64_t us, char out[40])
{
    *put_time(out, us) = '\0';
}

/* The number as snprintf(buf, 8, "%u") writes it: cut to 7 digits. */
static size_t iana_text(uint32_t iana, char buf[8])
{
    char tmp[20];
    size_t n = (size_t)(put_u64(tmp, iana) - tmp);
    n = n > 7 ? 7 : n;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

const char *record_json_transport(uint32_t iana, char buf[8])
{
    switch (iana) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    case 47: return "gre";
    case 50: return "esp";
    default: iana_text(iana, buf); return buf;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* ---- the writer ----------------------------------------------------------------------- */

/* the small writers are inlined so that each key's memcpy of a constant length becomes moves */
#define ALWAYS_INLINE inline __attribute__((always_inline))

struct w {
    struct record_json_buf *b;
    char *p, *end;               /* next byte; end of b's capacity less one byte for the '\0' */
    bool bad;                    /* out of memory: the document is dropped at the end */
    bool first;                  /* no member yet in the object being written */
    const struct segmap *seg;    /* ashiato.segments from this map, or NULL: none */
};

static __attribute__((noinline)) bool grow(struct w *w, size_t n)
{
    struct record_json_buf *b = w->b;
    if (w->bad)
        return false;
    size_t used = w->p ? (size_t)(w->p - b->data) : b->len;
    size_t cap = b->cap > 1024 ? b->cap : 1024;
    if (used > SIZE_MAX / 4 || n > SIZE_MAX / 4 - used)
        goto fail;
    while (cap < used + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        goto fail;
    b->data = d;
    b->cap = cap;
    w->p = d + used;
    w->end = d + cap - 1;
    return true;
fail:
    w->bad = true;
    return false;
}

/* n more bytes fit (the caller then writes through w->p without further checks) */
static ALWAYS_INLINE bool room(struct w *w, size_t n)
{
    return (size_t)(w->end - w->p) >= n || grow(w, n);
}

static ALWAYS_INLINE void raw(struct w *w, const char *s, size_t n)
{
    if (!room(w, n))
        return;
    memcpy(w->p, s, n);
    w->p += n;
}
#define LIT(w, s) raw(w, s, sizeof(s) - 1)

/* `"k":` after a ',' unless it is the object's first member */
static ALWAYS_INLINE void key(struct w *w, const char *k, size_t n)
{
    if (!room(w, n + 1))
        return;
    if (!w->first)
        *w->p++ = ',';
    w->first = false;
    memcpy(w->p, k, n);
    w->p += n;
}
#define KEY(w, k) key(w, "\"" k "\":", sizeof("\"" k "\":") - 1)

static ALWAYS_INLINE void open_obj(struct w *w, const char *k, size_t n)
{
    key(w, k, n);
    LIT(w, "{");
    w->first = true;
}
#define OPEN(w, k) open_obj(w, "\"" k "\":", sizeof("\"" k "\":") - 1)

static ALWAYS_INLINE void close_obj(struct w *w)
{
    LIT(w, "}");
    w->first = false;
}

static ALWAYS_INLINE void num(struct w *w, int64_t v)
{
    if (room(w, 20))
        w->p = put_i64(w->p, v);
}
#define KNUM(w, k, v) (KEY(w, k), num(w, v))

/* 0: as it is; 1: escaped; 2: start of a UTF-8 sequence to check */
static const uint8_t text_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Whether any of the 8 bytes in x is below 0x20, '"', '\\' or 0x80 and up. Bit Twiddling
 * Hacks' hasless(x, 0x20) and haszero(x ^ c), exact for "any" once no byte has its high bit
 * set; a byte that has makes the answer yes anyway, so the ~x masks fold into "| x". */
static inline bool special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    return ((x - ones * 0x20) | ((x ^ ones * '"') - ones) | ((x ^ ones * '\\') - ones) | x) &
           highs;
}

/* A JSON string from bytes that came off the wire: invalid UTF-8 becomes U+FFFD, so the
 * document stays valid JSON for every consumer (Elasticsearch rejects it otherwise). */
static void text(struct w *w, const char *v, size_t len)
{
    if (len > SIZE_MAX / 8 || !room(w, len * 6 + 2)) {  /* "\u0000" is the longest per byte */
        w->bad = true;
        return;
    }
    /* (an empty field may come as NULL with length 0: no arithmetic on it) */
    const unsigned char *s = (const unsigned char *)v, *e = len ? s + len : s;
    char *p = w->p;
    *p++ = '"';
    while (s < e) {
        while (e - s >= 8) {                  /* runs of bytes that stay as they are */
            uint64_t x;
            memcpy(&x, s, 8);
            if (special8(x))
                break;
            memcpy(p, &x, 8);
            p += 8;
            s += 8;
        }
        unsigned char c = 0;                  /* then up to and including the next other one */
        while (s < e && !text_class[c = *s]) {
            *p++ = (char)c;
            s++;
        }
        if (s == e)
            break;
        if (text_class[c] == 2) {
            size_t n = utf8_seq(s, (size_t)(e - s));
            if (n) {
                memcpy(p, s, n);
                p += n;
                s += n;
            } else {
                memcpy(p, "\xef\xbf\xbd", 3);
                p += 3;
                s++;
            }
            continue;
        }
        s++;
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            memcpy(p, "u00", 3);
            p[3] = "0123456789abcdef"[c >> 4];
            p[4] = "0123456789abcdef"[c & 0xf];
            p += 5;
        }
    }
    *p++ = '"';
    w->p = p;
}

static void str(struct w *w, const char *k, size_t kn, const char *v)
{
    if (!v || !*v)
        return;
    key(w, k, kn);
    text(w, v, strlen(v));
}
#define STR(w, k, v) str(w, "\"" k "\":", sizeof("\"" k "\":") - 1, v)

static void str_array(struct w *w, const char *k, size_t kn, char **v, size_t n)
{
    key(w, k, kn);
    LIT(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            LIT(w, ",");
        text(w, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
    }
    LIT(w, "]");
}
#define STR_ARRAY(w, k, v, n) str_array(w, "\"" k "\":", sizeof("\"" k "\":") - 1, v, n)

static void u32_array(struct w *w, const uint32_t *v, size_t n)
{
    LIT(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (!room(w, 12))
            return;
        if (i)
            *w->p++ = ',';
        w->p = put_u64(w->p, v[i]);
    }
    LIT(w, "]");
}

/* a time's text between quotes, already formatted (t, n) or formatted here (t NULL) */
static void quoted_time(struct w *w, int64_t us, const char *t, size_t n)
{
    if (!room(w, 40))
        return;
    *w->p++ = '"';
    if (t) {
        memcpy(w->p, t, n);
        w->p += n;
    } else {
        w->p = put_time(w->p, us);
    }
    *w->p++ = '"';
}

static void endpoint(struct w *w, const Ashiato__Endpoint *e)
{
    if (!e)
        return;
    if (e->ip.len == 4 || e->ip.len == 16) {
        KEY(w, "ip");
        if (room(w, 50)) {
            *w->p++ = '"';
            w->p = put_ip(w->p, e->ip.data, e->ip.len);
            *w->p++ = '"';
        }
    }
    KNUM(w, "port", e->port);
    KNUM(w, "bytes", (int64_t)e->bytes);
    KNUM(w, "packets", (int64_t)e->packets);
    if (e->mac.len == 6) {
        static const char hex[] = "0123456789abcdef";
        KEY(w, "mac");
        if (room(w, 19)) {
            char *p = w->p;
            *p++ = '"';
            for (int i = 0; i < 6; i++) {
                if (i)
                    *p++ = ':';
                *p++ = hex[e->mac.data[i] >> 4];
                *p++ = hex[e->mac.data[i] & 0xf];
            }
            *p++ = '"';
            w->p = p;
        }
    }
}

static void bytes_text(struct w *w, const char *k, size_t kn, ProtobufCBinaryData b)
{
    if (!b.len)
        return;
    key(w, k, kn);
    text(w, (const char *)b.data, b.len);
}
#define BYTES_TEXT(w, k, b) bytes_text(w, "\"" k "\":", sizeof("\"" k "\":") - 1, b)

/* nettle's base64_encode_raw: standard alphabet, padded */
static void base64(struct w *w, const uint8_t *s, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > SIZE_MAX / 2 || !room(w, (len + 2) / 3 * 4 + 2)) {
        w->bad = true;
        return;
    }
    char *p = w->p;
    *p++ = '"';
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *p++ = abc[v >> 18];
        *p++ = abc[v >> 12 & 63];
        *p++ = abc[v >> 6 & 63];
        *p++ = abc[v & 63];
    }
    if (len - i == 1) {
        *p++ = abc[s[i] >> 2];
        *p++ = abc[(s[i] & 3) << 4];
        *p++ = '=';
        *p++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)s[i] << 8 | s[i + 1];
        *p++ = abc[v >> 10];
        *p++ = abc[v >> 4 & 63];
        *p++ = abc[(v & 15) << 2];
        *p++ = '=';
    }
    *p++ = '"';
    w->p = p;
}

/* ---- the document --------------------------------------------------------------------- */

static void network(struct w *w, const Ashiato__SessionRecord *r)
{
    char buf[8];
    const char *tr = record_json_transport(r->iana_number, buf);
    OPEN(w, "network");
    KEY(w, "transport");
    text(w, tr, strlen(tr));
    KEY(w, "iana_number");
    size_t n = iana_text(r->iana_number, buf);
    text(w, buf, n);
    KEY(w, "type");
    if (r->ip_version == 6)
        LIT(w, "\"ipv6\"");
    else
        LIT(w, "\"ipv4\"");
    const Ashiato__Endpoint *src = r->source, *dst = r->destination;
    uint64_t bytes = (src ? src->bytes : 0) + (dst ? dst->bytes : 0);
    uint64_t pkts = (src ? src->packets : 0) + (dst ? dst->packets : 0);
    KNUM(w, "bytes", (int64_t)bytes);
    KNUM(w, "packets", (int64_t)pkts);
    STR(w, "community_id", r->community_id);
    if (r->n_vlan) {
        OPEN(w, "vlan");
        KEY(w, "id");
        u32_array(w, r->vlan, r->n_vlan);
        close_obj(w);
    }
    STR(w, "protocol", r->protocol);
    close_obj(w);
}

static void app_fields(struct w *w, const Ashiato__SessionRecord *r)
{
    if (r->n_http_host) {
        OPEN(w, "url");
        STR_ARRAY(w, "domain", r->http_host, r->n_http_host);
        close_obj(w);
    }
    if (r->n_http_method || r->n_http_status) {
        OPEN(w, "http");
        if (r->n_http_method) {
            OPEN(w, "request");
            STR_ARRAY(w, "method", r->http_method, r->n_http_method);
            close_obj(w);
        }
        if (r->n_http_status) {
            OPEN(w, "response");
            KEY(w, "status_code");
            u32_array(w, r->http_status, r->n_http_status);
            close_obj(w);
        }
        close_obj(w);
    }
    if (r->n_user_agent) {
        OPEN(w, "user_agent");
        STR_ARRAY(w, "original", r->user_agent, r->n_user_agent);
        close_obj(w);
    }
    if (r->n_dns_query || (r->dns_rcode && *r->dns_rcode)) {
        OPEN(w, "dns");
        if (r->n_dns_query) {
            OPEN(w, "question");
            STR_ARRAY(w, "name", r->dns_query, r->n_dns_query);
            close_obj(w);
        }
        STR(w, "response_code", r->dns_rcode);
        close_obj(w);
    }
    if (r->n_tls_sni || (r->tls_version && *r->tls_version)) {
        OPEN(w, "tls");
        if (r->n_tls_sni) {
            OPEN(w, "client");
            STR_ARRAY(w, "server_name", r->tls_sni, r->n_tls_sni);
            close_obj(w);
        }
        STR(w, "version", r->tls_version);
        close_obj(w);
    }
}

/* one end of an ICMP error's quoted flow: {"ip":..,"port":..} */
static void quoted_end(struct w *w, ProtobufCBinaryData ip, uint32_t port)
{
    if (ip.len == 4 || ip.len == 16) {
        KEY(w, "ip");
        if (room(w, 50)) {
            *w->p++ = '"';
            w->p = put_ip(w->p, ip.data, ip.len);
            *w->p++ = '"';
        }
    }
    KNUM(w, "port", port);
    close_obj(w);
}

/* ICMP errors: an ICMP session's quoted flow, or the error that answered this session */
static void icmp_error(struct w *w, const Ashiato__SessionRecord *r)
{
    if (r->icmp_quoted_count) {
        char buf[8];
        OPEN(w, "icmp_quoted");
        KNUM(w, "type", r->icmp_error_type);
        KNUM(w, "code", r->icmp_error_code);
        OPEN(w, "source");
        quoted_end(w, r->icmp_quoted_src_ip, r->icmp_quoted_src_port);
        OPEN(w, "destination");
        quoted_end(w, r->icmp_quoted_dst_ip, r->icmp_quoted_dst_port);
        KEY(w, "iana_number");
        size_t n = iana_text(r->icmp_quoted_iana_number, buf);
        text(w, buf, n);
        STR(w, "community_id", r->icmp_quoted_community_id);
        KNUM(w, "count", r->icmp_quoted_count);
        close_obj(w);
    } else if (r->icmp_error_type) {
        OPEN(w, "icmp_error");
        KNUM(w, "type", r->icmp_error_type);
        KNUM(w, "code", r->icmp_error_code);
        close_obj(w);
    }
}

/* ashiato.segments: the source's segment, then the destination's (each side with an
 * address), by the map the document is rendered with */
static void segments(struct w *w, const Ashiato__SessionRecord *r)
{
    const char *names[2] = {
        r->source ? segmap_name_of(w->seg, r->source->ip.data, r->source->ip.len) : NULL,
        r->destination ? segmap_name_of(w->seg, r->destination->ip.data,
                                        r->destination->ip.len) : NULL,
    };
    if (!names[0] && !names[1])
        return;
    KEY(w, "segments");
    LIT(w, "[");
    for (int i = 0, n = 0; i < 2; i++) {
        if (!names[i])
            continue;
        if (n++)
            LIT(w, ",");
        text(w, names[i], strlen(names[i]));
    }
    LIT(w, "]");
}

static void ashiato(struct w *w, const Ashiato__SessionRecord *r)
{
    OPEN(w, "ashiato");
    BYTES_TEXT(w, "session_id", r->id);
    BYTES_TEXT(w, "root_id", r->root_id);
    KNUM(w, "segment", r->segment);
    STR(w, "conn_state", r->conn_state);
    STR(w, "history", r->history);
    if (r->tcp_flags) {
        const Ashiato__TcpFlagCounts *f = r->tcp_flags;
        OPEN(w, "tcp_flags");
        KNUM(w, "syn", f->syn);
        KNUM(w, "syn_ack", f->syn_ack);
        KNUM(w, "ack", f->ack);
        KNUM(w, "psh", f->psh);
        KNUM(w, "fin", f->fin);
        KNUM(w, "rst", f->rst);
        KNUM(w, "urg", f->urg);
        close_obj(w);
    }
    OPEN(w, "data_bytes");
    KNUM(w, "source", r->source ? (int64_t)r->source->data_bytes : 0);
    KNUM(w, "destination", r->destination ? (int64_t)r->destination->data_bytes : 0);
    close_obj(w);
    if (r->n_tags)
        STR_ARRAY(w, "protocols", r->tags, r->n_tags);
    if ((r->ssh_client && *r->ssh_client) || (r->ssh_server && *r->ssh_server)) {
        OPEN(w, "ssh");
        STR(w, "client", r->ssh_client);
        STR(w, "server", r->ssh_server);
        close_obj(w);
    }
    icmp_error(w, r);
    if (r->truncated_fields) {
        KEY(w, "truncated");
        LIT(w, "true");
    }
    STR(w, "segment_name", r->segment_name);
    segments(w, r);
    if (r->packet_pos.len) {
        /* the sensor's store positions, base64 (standard, padded): ashiato pcap reads them */
        KEY(w, "packet_pos");
        base64(w, r->packet_pos.data, r->packet_pos.len);
        KEY(w, "packet_files");
        LIT(w, "[");
        for (size_t i = 0; i < r->n_packet_files; i++) {
            if (i)
                LIT(w, ",");
            num(w, (int64_t)r->packet_files[i]->file_id);
        }
        LIT(w, "]");
    }
    if (r->n_linked) {
        KEY(w, "linked");
        LIT(w, "[");
        for (size_t i = 0; i < r->n_linked; i++) {
            if (i)
                LIT(w, ",");
            text(w, (const char *)r->linked[i].data, r->linked[i].len);
        }
        LIT(w, "]");
    }
    close_obj(w);
}

int record_json_append(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                       const char *observer)
{
    return record_json_append_in(b, r, observer, NULL);
}

int record_json_append_in(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                          const char *observer, const struct segmap *seg)
{
    struct w w = { b, NULL, NULL, false, true, seg };
    size_t start = b->len;
    if (b->data && b->cap > b->len) {
        w.p = b->data + b->len;
        w.end = b->data + b->cap - 1;
    } else if (!grow(&w, 1)) {
        return -1;
    }

    char t1[40];
    size_t t1n = (size_t)(put_time(t1, r->start_us) - t1);
    LIT(&w, "{");
    KEY(&w, "@timestamp");
    quoted_time(&w, r->start_us, t1, t1n);
    OPEN(&w, "event");
    KEY(&w, "start");
    quoted_time(&w, r->start_us, t1, t1n);
    KEY(&w, "end");
    quoted_time(&w, r->end_us, NULL, 0);
    int64_t dur_ns;
    if (__builtin_sub_overflow(r->end_us, r->start_us, &dur_ns) ||
        __builtin_mul_overflow(dur_ns, 1000, &dur_ns))
        dur_ns = r->end_us >= r->start_us ? INT64_MAX : INT64_MIN;
    KNUM(&w, "duration", dur_ns);
    close_obj(&w);

    OPEN(&w, "source");
    endpoint(&w, r->source);
    close_obj(&w);
    OPEN(&w, "destination");
    endpoint(&w, r->destination);
    close_obj(&w);
    network(&w, r);
    OPEN(&w, "observer");
    STR(&w, "name", observer ? observer : r->observer_name);
    close_obj(&w);
    app_fields(&w, r);
    ashiato(&w, r);
    LIT(&w, "}");

    if (w.bad) {
        b->len = start;
        if (b->data && b->cap > start)
            b->data[start] = '\0';
        return -1;
    }
    *w.p = '\0';
    b->len = (size_t)(w.p - b->data);
    return 0;
}

char *record_json_render(const Ashiato__SessionRecord *r, const char *observer, size_t *len)
{
    return record_json_render_in(r, observer, NULL, len);
}

char *record_json_render_in(const Ashiato__SessionRecord *r, const char *observer,
                            const struct segmap *seg, size_t *len)
{
    struct record_json_buf b = { 0 };
    if (record_json_append_in(&b, r, observer, seg) < 0) {
        record_json_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}

void record_json_buf_free(struct record_json_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}
