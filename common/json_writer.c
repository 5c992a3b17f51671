/* json_writer.c -- JSON text into a growable buffer, and the text forms (see json_writer.h).
 * Hand-written for record_json.c's hot path: json-c took 9.37 of the Elasticsearch loader's
 * 9.94 us of CPU per document (bench/RESULTS.md "es_bulk 2026-11-26T03:36Z").
 * Owns:  the buffer's growth (realloc, doubling from 1 KiB), escaping, base64, time and IP text.
 * Never: knows a field name (record_json.c does); allocates except to grow the buffer; logs.
 * Trap:  the text must stay byte for byte json-c's (tests/unit/record_json_jsonc.c is the
 *        oracle that test_record_json and fuzz_record_json compare record_json.c's output
 *        with): times as strftime's "%Y-%m-%dT%H:%M:%S" (the year unpadded), IPs as glibc's
 *        inet_ntop, base64 as nettle's. */
#include "json_writer.h"

#include <stdlib.h>

/* ---- text forms ----------------------------------------------------------------------- */

const char json_writer_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static char *put_2(char *p, unsigned v)
{
    memcpy(p, json_writer_digit_pairs + v * 2, 2);
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
            memcpy(p, json_writer_digit_pairs + v * 2, 2);
            p += 2;
        } else if (v >= 10) {
            memcpy(p, json_writer_digit_pairs + v * 2, 2);
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

char *json_writer_put_ip(char *p, const uint8_t *ip, size_t len)
{
    return len == 4 ? put_ip4(p, ip) : len == 16 ? put_ip6(p, ip) : p;
}

/* At most 27 bytes ("9999-12-31T23:59:59.999999Z"). Days to a date by Howard Hinnant's
 * civil_from_days (proleptic Gregorian, as gmtime_r). */
char *json_writer_put_time(char *p, int64_t us)
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

    p = json_writer_put_u64(p, (uint64_t)y);
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

__attribute__((noinline)) bool json_writer_grow(struct json_writer *w, size_t n)
{
    if (w->bad)
        return false;
    size_t used = w->p ? (size_t)(w->p - *w->data) : w->len0;
    size_t cap = *w->cap > 1024 ? *w->cap : 1024;
    if (used > SIZE_MAX / 4 || n > SIZE_MAX / 4 - used)
        goto fail;
    while (cap < used + n + 1)
        cap *= 2;
    char *d = realloc(*w->data, cap);
    if (!d)
        goto fail;
    *w->data = d;
    *w->cap = cap;
    w->p = d + used;
    w->end = d + cap - 1;
    return true;
fail:
    w->bad = true;
    return false;
}

bool json_writer_begin(struct json_writer *w, char **data, size_t *cap, size_t len)
{
    *w = (struct json_writer){ .data = data, .cap = cap, .len0 = len, .first = true };
    if (*data && *cap > len) {
        w->p = *data + len;
        w->end = *data + *cap - 1;
        return true;
    }
    return json_writer_grow(w, 1);
}

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
void json_writer_text(struct json_writer *w, const char *v, size_t len)
{
    if (len > SIZE_MAX / 8 || !json_writer_room(w, len * 6 + 2)) {  /* "\u0000" is the longest per byte */
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

void json_writer_str_array(struct json_writer *w, char **v, size_t n)
{
    json_writer_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            json_writer_raw(w, ",", 1);
        json_writer_text(w, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
    }
    json_writer_raw(w, "]", 1);
}

void json_writer_u32_array(struct json_writer *w, const uint32_t *v, size_t n)
{
    json_writer_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (!json_writer_room(w, 12))
            return;
        if (i)
            *w->p++ = ',';
        w->p = json_writer_put_u64(w->p, v[i]);
    }
    json_writer_raw(w, "]", 1);
}

/* nettle's base64_encode_raw: standard alphabet, padded */
void json_writer_base64(struct json_writer *w, const uint8_t *s, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > SIZE_MAX / 2 || !json_writer_room(w, (len + 2) / 3 * 4 + 2)) {
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

