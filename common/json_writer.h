/* json_writer.h -- JSON text written by hand into the caller's growable byte buffer: the
 * primitives record_json.c builds the session document from, in json-c's
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE form (no spaces; \" \\ \b \f \n \r
 * \t, other bytes below 0x20 as \u00xx in lower-case hex, 0x7f and '/' as they are; invalid
 * UTF-8 as U+FFFD one byte at a time), and the text forms of numbers, times and addresses.
 * Owns:  struct json_writer (on the caller's stack: where the next byte goes, whether the
 *        buffer ran out); string escaping, base64, decimal, time and IP text.
 * Lends: nothing: the buffer is the caller's (*data, *cap), grown here by realloc only.
 * Never: knows a field name or a document's shape (record_json.c does); allocates except to
 *        grow the buffer; keeps state between documents; logs.
 * Trap:  after json_writer_room(w, n) is true the caller may write n bytes through w->p
 *        unchecked, and no more. Running out of memory sets w->bad for good: the buffer
 *        never grows again (writes that still fit go on, into text the caller drops), so a
 *        document is checked once, at its end, as a cursor is read. The
 *        small writers are inline here on purpose: each key's memcpy of a constant length
 *        becomes moves (record_json.c's hot path, bench/RESULTS.md "es_bulk"). */
#ifndef ASHIATO_JSON_WRITER_H
#define ASHIATO_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JSON_WRITER_INLINE static inline __attribute__((always_inline))

struct json_writer {
    char **data;                 /* the caller's buffer (malloc'd or NULL) and its capacity */
    size_t *cap;
    size_t len0;                 /* bytes already in it when begun (until p is set) */
    char *p, *end;               /* next byte; end of the capacity less one byte for a '\0' */
    bool bad;                    /* out of memory: the caller drops the document */
    bool first;                  /* no member yet in the object being written */
};

/* Start writing at (*data)[len] of a buffer of *cap bytes (*data NULL and *cap 0 for none).
 * false when out of memory (w->bad). */
bool json_writer_begin(struct json_writer *w, char **data, size_t *cap, size_t len);
/* Make room for n more bytes (and a '\0'), growing the buffer; false (w->bad) when it can't. */
bool json_writer_grow(struct json_writer *w, size_t n);

/* "00" "01" ... "99": two digits at 2 * v */
extern const char json_writer_digit_pairs[201];

/* v in decimal at p (at most 20 bytes); returns the byte after it */
JSON_WRITER_INLINE char *json_writer_put_u64(char *p, uint64_t v)
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
        memcpy(q, json_writer_digit_pairs + v % 100 * 2, 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(q - 2, json_writer_digit_pairs + v * 2, 2);
    else
        q[-1] = (char)('0' + v);
    return p + n;
}

JSON_WRITER_INLINE char *json_writer_put_i64(char *p, int64_t v)
{
    if (v >= 0)
        return json_writer_put_u64(p, (uint64_t)v);
    *p++ = '-';
    return json_writer_put_u64(p, 0 - (uint64_t)v);
}

/* An address of 4 or 16 bytes as glibc's inet_ntop writes it (at most 45 bytes; nothing
 * for another length); returns the byte after it. */
char *json_writer_put_ip(char *p, const uint8_t *ip, size_t len);
/* "2013-11-25T14:55:58.382123Z" (at most 27 bytes; the year unpadded, as strftime's %Y),
 * clamped to years 1..9999; returns the byte after it. */
char *json_writer_put_time(char *p, int64_t us);

/* n more bytes fit (the caller then writes them through w->p without further checks) */
JSON_WRITER_INLINE bool json_writer_room(struct json_writer *w, size_t n)
{
    return (size_t)(w->end - w->p) >= n || json_writer_grow(w, n);
}

JSON_WRITER_INLINE void json_writer_raw(struct json_writer *w, const char *s, size_t n)
{
    if (!json_writer_room(w, n))
        return;
    memcpy(w->p, s, n);
    w->p += n;
}

/* k (n bytes, already `"name":`) after a ',' unless it is the object's first member */
JSON_WRITER_INLINE void json_writer_key(struct json_writer *w, const char *k, size_t n)
{
    if (!json_writer_room(w, n + 1))
        return;
    if (!w->first)
        *w->p++ = ',';
    w->first = false;
    memcpy(w->p, k, n);
    w->p += n;
}

/* a member that is an object: key k, then '{' */
JSON_WRITER_INLINE void json_writer_open(struct json_writer *w, const char *k, size_t n)
{
    json_writer_key(w, k, n);
    json_writer_raw(w, "{", 1);
    w->first = true;
}

JSON_WRITER_INLINE void json_writer_close(struct json_writer *w)
{
    json_writer_raw(w, "}", 1);
    w->first = false;
}

JSON_WRITER_INLINE void json_writer_num(struct json_writer *w, int64_t v)
{
    if (json_writer_room(w, 20))
        w->p = json_writer_put_i64(w->p, v);
}

/* A JSON string of len bytes that came off the wire (v may be NULL when len is 0). */
void json_writer_text(struct json_writer *w, const char *v, size_t len);
/* ["a","b"] of n strings (a NULL one as "") */
void json_writer_str_array(struct json_writer *w, char **v, size_t n);
/* [1,2] of n numbers */
void json_writer_u32_array(struct json_writer *w, const uint32_t *v, size_t n);
/* len bytes as a base64 string (nettle's base64_encode_raw: standard alphabet, padded) */
void json_writer_base64(struct json_writer *w, const uint8_t *s, size_t len);

#endif
