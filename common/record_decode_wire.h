/* record_decode_wire.h -- the protobuf wire as record_decode.c reads it: the block allocator
 * its parts are cut from (struct dec), one field at a time (struct field, next_field), and the
 * readers of scalars, strings, bytes, packed arrays and unknown fields, each by the rules of
 * libprotobuf-c 1.4.1 (see record_decode.h and the Trap in record_decode.c).
 * Owns:  nothing beyond struct dec's current block.
 * Never: reads at or past a cursor's end; is included anywhere but record_decode.c (its
 *        functions are static: one copy, inlined where record_decode.c's hot loop wants). */
#ifndef ASHIATO_RECORD_DECODE_WIRE_H
#define ASHIATO_RECORD_DECODE_WIRE_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "cursor.h"
#include "record_decode.h"

/* Small parts (structs, strings, arrays) are cut from blocks of DEC_BLOCK bytes taken from
 * the caller's allocator: a pointer bump each instead of a call through it (a campus record
 * has a dozen parts). Under AddressSanitizer every part is its own call, so that the fuzz
 * target's allocator puts a redzone around each. */
#if defined(__SANITIZE_ADDRESS__)
#define DEC_BLOCK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEC_BLOCK 0
#endif
#endif
#ifndef DEC_BLOCK
#define DEC_BLOCK ((size_t)64 << 10)
#endif

struct dec {
    record_decode_alloc_fn alloc;
    void *ctx;
    uint8_t *bp, *bend;              /* the current block: free space, bend 8-aligned */
    const uint8_t *base;             /* the caller's buffer: offsets in messages count from it */
    char *err;
    int rc;                          /* 0, or the first failure's code */
    long record;                     /* index into Batch.records being decoded, else -1 */
};

/* One field as read from the wire. */
struct field {
    uint32_t num;
    unsigned wt;
    const uint8_t *at;               /* its tag */
    const uint8_t *raw;              /* its value's encoding (a length prefix included) */
    const uint8_t *next;             /* the end of it: the next field */
    const uint8_t *val;              /* wire type 2: the payload */
    size_t len;
    uint64_t v;                      /* wire types 0, 1, 5: the value */
};

/* field numbers of each message, a bit each (all below 64) */
#define ENDPOINT_FIELDS  0x7eULL                                /* 1..6 */
#define FLAGS_FIELDS     0xfeULL                                /* 1..7 */
#define PFILE_FIELDS     0x2ULL                                 /* 1 */
#define BATCH_FIELDS     0x7eULL                                /* 1..6 */
#define RECORD_FIELDS    (((1ULL << 18) - 2) | (((1ULL << 31) - 1) & ~((1ULL << 20) - 1)) | \
                          1ULL << 40 | 1ULL << 41 | 1ULL << 50 | 1ULL << 51 | \
                          (((1ULL << 63) - 1) & ~((1ULL << 55) - 1)) | 1ULL << 63)

static inline bool is_known(uint64_t known, uint32_t num)
{
    return num < 64 && (known >> num & 1);
}

static bool fail(struct dec *d, const uint8_t *at, const char *fmt, ...) ASH_PRINTF(3, 4);

static bool fail(struct dec *d, const uint8_t *at, const char *fmt, ...)
{
    char what[ASH_ERR_LEN];
    va_list ap;
    if (d->rc)
        return false;                /* the first failure is the one to tell */
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    d->rc = RECORD_DECODE_ERR;
    if (d->record >= 0)
        snprintf(d->err, ASH_ERR_LEN, "offset %zu (Batch.records[%ld]): %s",
                 (size_t)(at - d->base), d->record, what);
    else
        snprintf(d->err, ASH_ERR_LEN, "offset %zu: %s", (size_t)(at - d->base), what);
    return false;
}

/* ---- memory ---------------------------------------------------------------------------- */

static void *more(struct dec *d, size_t n)
{
    void *p;
    if (DEC_BLOCK == 0 || n > DEC_BLOCK / 4) {
        p = d->alloc(d->ctx, n ? n : 1);      /* big parts alone; the block stays */
    } else {
        uint8_t *b = d->alloc(d->ctx, DEC_BLOCK);
        if (b) {
            d->bp = b + n;
            d->bend = b + DEC_BLOCK;
        }
        p = b;
    }
    if (!p && !d->rc) {
        d->rc = RECORD_DECODE_ERR_NOMEM;
        snprintf(d->err, ASH_ERR_LEN, "out of memory for %zu bytes", n);
    }
    return p;
}

/* n bytes aligned to align (1 or 8); NULL with d->rc set */
static inline void *take(struct dec *d, size_t n, size_t align)
{
    uintptr_t p = ((uintptr_t)d->bp + (align - 1)) & ~(uintptr_t)(align - 1);
    if (ASH_LIKELY(d->bp != NULL && n <= (uintptr_t)d->bend - p)) {
        d->bp = (uint8_t *)p + n;
        return (void *)p;
    }
    return more(d, n);
}

static void *take_array(struct dec *d, size_t count, size_t size)
{
    size_t n;
    if (!ash_mul_size(count, size, &n)) {
        if (!d->rc) {
            d->rc = RECORD_DECODE_ERR_NOMEM;
            snprintf(d->err, ASH_ERR_LEN, "out of memory for %zu x %zu bytes", count, size);
        }
        return NULL;
    }
    return take(d, n, 8);
}

/* An array of n elements for a repeated field whose pass-1 count is n; n back to 0 for pass 2
 * to count the elements in again. */
#define REP_ARRAY(d, arr, n) \
    ((n) == 0 || (((arr) = take_array((d), (n), sizeof *(arr))) != NULL && ((n) = 0, true)))

/* ---- the wire ---------------------------------------------------------------------------
 * Read by hand on a cursor's p and end rather than through cursor_u8(): a varint's bytes are
 * checked against the end once, not per byte, and protobuf-c's own limits (5-byte tags and
 * length prefixes, 10-byte varints) are not cursor.h's business. Nothing is
 * read at or past end: each loop stops at min(bytes left, its limit). */

/* next_field()'s every case, by the rules of protobuf-c 1.4.1 */
static bool next_field_slow(struct dec *d, struct cursor *c, struct field *f)
{
    const uint8_t *p = c->p, *end = c->end;
    size_t left = (size_t)(end - p), i, max;
    uint8_t b = p[0];
    f->at = p;
    if ((b & 0xf8) == 0)
        return fail(d, p, "field number 0 (tag byte 0x%02x)", b);
    f->wt = b & 7;
    if (ASH_LIKELY(!(b & 0x80))) {
        f->num = b >> 3;
        p++;
    } else {
        uint32_t num = (b & 0x7f) >> 3;
        max = left < 5 ? left : 5;
        for (i = 1; i < max; i++) {
            num |= (uint32_t)(p[i] & 0x7f) << (4 + 7 * (i - 1));
            if (!(p[i] & 0x80))
                break;
        }
        if (i == max)
            return fail(d, p, "tag longer than 5 bytes or cut short");
        f->num = num;
        p += i + 1;
    }
    left = (size_t)(end - p);
    f->raw = p;
    switch (f->wt) {
    case 0: {
        uint64_t v = 0;
        max = left < 10 ? left : 10;
        for (i = 0; i < max; i++) {
            v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            if (!(p[i] & 0x80))
                break;
        }
        if (i == max)
            return fail(d, p, "field %u: varint longer than 10 bytes or cut short", f->num);
        f->v = v;
        f->next = p + i + 1;
        break;
    }
    case 1:
        if (left < 8)
            return fail(d, p, "field %u: 8-byte value cut short (%zu left)", f->num, left);
        f->v = 0;
        for (i = 8; i-- > 0;)
            f->v = f->v << 8 | p[i];
        f->next = p + 8;
        break;
    case 5:
        if (left < 4)
            return fail(d, p, "field %u: 4-byte value cut short (%zu left)", f->num, left);
        f->v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        f->next = p + 4;
        break;
    case 2: {
        uint64_t n = 0;
        max = left < 5 ? left : 5;
        for (i = 0; i < max; i++) {
            n |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            if (!(p[i] & 0x80))
                break;
        }
        if (i == max)
            return fail(d, p, "field %u: length prefix longer than 5 bytes or cut short", f->num);
        if (n > left - (i + 1))
            return fail(d, p, "field %u: length %" PRIu64 " but %zu bytes left", f->num, n,
                        left - (i + 1));
        f->val = p + i + 1;
        f->len = (size_t)n;
        f->next = f->val + f->len;
        break;
    }
    default:
        return fail(d, f->at, "field %u: wire type %u (groups and types 6, 7 are refused)",
                    f->num, f->wt);
    }
    c->p = f->next;
    return true;
}

/* The next field at c->p (which is below c->end), its value checked to be all there. The
 * common cases here (a tag of 1 or 2 bytes, a varint of 1 byte or with 10 bytes left, a
 * length prefix of 1 or 2 bytes), anything else in next_field_slow(): this and the copies are
 * most of what decoding costs. */
static inline __attribute__((always_inline)) bool next_field(struct dec *d, struct cursor *c,
                                                             struct field *f)
{
    const uint8_t *p = c->p, *end = c->end;
    uint8_t b = p[0];
    f->at = p;
    f->wt = b & 7;
    if (ASH_LIKELY(!(b & 0x80))) {
        if (ASH_UNLIKELY(b < 8))
            return next_field_slow(d, c, f);
        f->num = b >> 3;
        p++;
    } else if (end - p >= 2 && !(p[1] & 0x80)) {
        f->num = (uint32_t)(b & 0x7f) >> 3 | (uint32_t)p[1] << 4;
        p += 2;
    } else {
        return next_field_slow(d, c, f);
    }
    if (ASH_UNLIKELY(p == end))
        return next_field_slow(d, c, f);
    f->raw = p;
    if (f->wt == 0) {
        uint64_t v = p[0];
        size_t i = 0;
        if (v & 0x80) {
            if (end - p < 10)
                return next_field_slow(d, c, f);
            v &= 0x7f;
            do {
                if (++i == 10)
                    return next_field_slow(d, c, f);
                v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            } while (p[i] & 0x80);
        }
        f->v = v;
        c->p = f->next = p + i + 1;
        return true;
    }
    if (f->wt == 2) {
        size_t n = p[0], h = 1;
        if (n & 0x80) {
            if (end - p < 2 || (p[1] & 0x80))
                return next_field_slow(d, c, f);
            n = (n & 0x7f) | (size_t)p[1] << 7;
            h = 2;
        }
        if (ASH_UNLIKELY(n > (size_t)(end - p) - h))
            return next_field_slow(d, c, f);
        f->val = p + h;
        f->len = n;
        c->p = f->next = p + h + n;
        return true;
    }
    return next_field_slow(d, c, f);
}

static bool want(struct dec *d, const struct field *f, unsigned wt, const char *name)
{
    if (ASH_LIKELY(f->wt == wt))
        return true;
    return fail(d, f->at, "%s (field %" PRIu32 "): wire type %u, expected %u", name, f->num,
                f->wt, wt);
}

/* the payload of a length-delimited field, empty for any other wire type (whose val is NULL
 * and len its number: a cursor over them would point nowhere; want() reports the type) */
static inline struct cursor field_cursor(const struct field *f)
{
    return f->wt == 2 ? cursor_make(f->val, f->len) : cursor_make("", 0);
}

/* a varint field: its value in f->v (a uint32 field keeps the low 32 bits, as protobuf-c) */
static inline bool get_varint(struct dec *d, const struct field *f, const char *name)
{
    return want(d, f, 0, name);
}

/* protobuf-c's parse_boolean: any wire type; true if any byte of the encoding (a length
 * prefix included) has a low bit set */
static bool get_bool(const struct field *f)
{
    for (const uint8_t *q = f->raw; q < f->next; q++)
        if (*q & 0x7f)
            return true;
    return false;
}

/* memcpy() inlined for the short strings and ids of a record (two overlapping loads and
 * stores, never outside [src, src + n)): a call per copy was 390 instructions per record */
static inline void copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n < 4) {
        if (n) {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
    } else {
        memcpy(dst, src, n);
    }
}

static char *copy_string(struct dec *d, const struct field *f)
{
    char *s = take(d, f->len + 1, 1);
    if (s) {
        copy((uint8_t *)s, f->val, f->len);
        s[f->len] = 0;
    }
    return s;
}

static inline bool get_string(struct dec *d, const struct field *f, char **dst, const char *name)
{
    char *s;
    if (!want(d, f, 2, name) || !(s = copy_string(d, f)))
        return false;
    *dst = s;                            /* an earlier one is garbage in the allocator */
    return true;
}

static bool copy_bytes(struct dec *d, const struct field *f, ProtobufCBinaryData *dst)
{
    uint8_t *b = NULL;
    if (f->len && !(b = take(d, f->len, 1)))
        return false;
    copy(b, f->val, f->len);
    dst->len = f->len;
    dst->data = b;                       /* empty: NULL, as protobuf-c */
    return true;
}

static inline bool get_bytes(struct dec *d, const struct field *f, ProtobufCBinaryData *dst,
                             const char *name)
{
    return want(d, f, 2, name) && copy_bytes(d, f, dst);
}

static bool add_unknown(struct dec *d, ProtobufCMessage *m, const struct field *f)
{
    size_t len = (size_t)(f->next - f->raw);
    uint8_t *data = take(d, len, 1);
    if (!data)
        return false;
    memcpy(data, f->raw, len);
    ProtobufCMessageUnknownField *u = &m->unknown_fields[m->n_unknown_fields++];
    u->tag = f->num;
    u->wire_type = (ProtobufCWireType)f->wt;
    u->len = len;
    u->data = data;
    return true;
}

/* Pass 2 of a message with no repeated fields: its n unknown fields (numbers not in known),
 * from the first of them at `from`. */
static bool collect_unknown(struct dec *d, ProtobufCMessage *m, const uint8_t *from,
                            const uint8_t *end, size_t n, uint64_t known)
{
    struct cursor c = cursor_make(from, (size_t)(end - from));
    struct field f;
    if (!(m->unknown_fields = take_array(d, n, sizeof *m->unknown_fields)))
        return false;
    while (c.p < c.end) {
        if (!next_field(d, &c, &f))
            return false;
        if (!is_known(known, f.num) && !add_unknown(d, m, &f))
            return false;
    }
    return true;
}

/* Pass 1 of a repeated uint32: one value, or as many as the packed bytes hold varints (the
 * bytes that end one, as protobuf-c counts them; pass 2 checks each). */
static bool count_u32s(struct dec *d, const struct field *f, size_t *n, const char *name)
{
    if (f->wt == 0) {
        (*n)++;
        return true;
    }
    if (f->wt != 2)
        return fail(d, f->at, "%s (field %" PRIu32 "): wire type %u, expected 0 or 2", name,
                    f->num, f->wt);
    for (size_t i = 0; i < f->len; i++)
        *n += !(f->val[i] & 0x80);
    return true;
}

static bool put_u32s(struct dec *d, const struct field *f, uint32_t *arr, size_t *n,
                     const char *name)
{
    if (f->wt == 0) {
        arr[(*n)++] = (uint32_t)f->v;
        return true;
    }
    const uint8_t *q = f->val, *end = f->val + f->len;
    while (q < end) {                    /* each varint holds one byte counted in pass 1 */
        size_t left = (size_t)(end - q), max = left < 10 ? left : 10, i;
        uint64_t v = 0;
        for (i = 0; i < max; i++) {
            v |= (uint64_t)(q[i] & 0x7f) << (7 * i);
            if (!(q[i] & 0x80))
                break;
        }
        if (i == max)
            return fail(d, q, "%s: packed varint longer than 10 bytes or cut short", name);
        arr[(*n)++] = (uint32_t)v;
        q += i + 1;
    }
    return true;
}

#endif
