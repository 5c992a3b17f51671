/* record_decode.c -- a Batch's protobuf bytes into protobuf-c's structs, by hand (see
 * record_decode.h: what it accepts, and why it exists).
 * Owns:  per call, the block its small parts are cut from (struct dec).
 * Lends: each record's bytes, pointers into the caller's buffer.
 * Never: reads past the buffer; allocates but through the caller's function; logs.
 * Trap:  every rule below mirrors libprotobuf-c 1.4.1 (protobuf-c.c: parse_tag_and_wiretype,
 *        scan_length_prefixed_data, parse_required_member, parse_packed_repeated_member,
 *        merge_messages). Change one only with tests/fuzz/fuzz_record_decode running for
 *        minutes, not seconds. A message is read in two passes: the first sets the singular
 *        fields and counts the repeated and unknown ones, the second fills their arrays
 *        (sized as protobuf-c sizes them), going back to just those fields. */
#include "record_decode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"

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

/* ---- messages -------------------------------------------------------------------------- */

/* An Endpoint from f's payload. A later one replaces an earlier one but for its empty bytes
 * fields (protobuf-c's merge_messages; its numbers are never merged, see the header). */
static Ashiato__Endpoint *dec_endpoint(struct dec *d, const struct field *in,
                                       const Ashiato__Endpoint *earlier, const char *name)
{
    static const Ashiato__Endpoint init = ASHIATO__ENDPOINT__INIT;
    struct cursor c = field_cursor(in);
    const uint8_t *first_unknown = NULL;
    size_t nunknown = 0;
    struct field f;
    bool ok = true;
    if (!want(d, in, 2, name))
        return NULL;
    Ashiato__Endpoint *e = take(d, sizeof *e, 8);
    if (!e)
        return NULL;
    *e = init;
    while (ok && c.p < c.end) {
        if (!next_field(d, &c, &f))
            return NULL;
        switch (f.num) {
        case 1: ok = get_bytes(d, &f, &e->ip, "Endpoint.ip"); break;
        case 2: if ((ok = get_varint(d, &f, "Endpoint.port"))) e->port = (uint32_t)f.v; break;
        case 3: if ((ok = get_varint(d, &f, "Endpoint.bytes"))) e->bytes = f.v; break;
        case 4: if ((ok = get_varint(d, &f, "Endpoint.packets"))) e->packets = f.v; break;
        case 5: if ((ok = get_varint(d, &f, "Endpoint.data_bytes"))) e->data_bytes = f.v; break;
        case 6: ok = get_bytes(d, &f, &e->mac, "Endpoint.mac"); break;
        default:
            if (!nunknown++)
                first_unknown = f.at;
            break;
        }
    }
    if (!ok || (nunknown && !collect_unknown(d, &e->base, first_unknown, c.end, nunknown,
                                             ENDPOINT_FIELDS)))
        return NULL;
    if (earlier) {
        if (!e->ip.data && earlier->ip.data)
            e->ip = earlier->ip;
        if (!e->mac.data && earlier->mac.data)
            e->mac = earlier->mac;
    }
    return e;
}

#define TF "TcpFlagCounts."

/* TcpFlagCounts: a later one replaces an earlier one whole (numbers only) */
static Ashiato__TcpFlagCounts *dec_flags(struct dec *d, const struct field *in)
{
    static const Ashiato__TcpFlagCounts init = ASHIATO__TCP_FLAG_COUNTS__INIT;
    struct cursor c = field_cursor(in);
    const uint8_t *first_unknown = NULL;
    size_t nunknown = 0;
    struct field f;
    bool ok = true;
    if (!want(d, in, 2, "SessionRecord.tcp_flags"))
        return NULL;
    Ashiato__TcpFlagCounts *t = take(d, sizeof *t, 8);
    if (!t)
        return NULL;
    *t = init;
    while (ok && c.p < c.end) {
        if (!next_field(d, &c, &f))
            return NULL;
        switch (f.num) {
        case 1: if ((ok = get_varint(d, &f, TF "syn"))) t->syn = (uint32_t)f.v; break;
        case 2: if ((ok = get_varint(d, &f, TF "syn_ack"))) t->syn_ack = (uint32_t)f.v; break;
        case 3: if ((ok = get_varint(d, &f, TF "ack"))) t->ack = (uint32_t)f.v; break;
        case 4: if ((ok = get_varint(d, &f, TF "psh"))) t->psh = (uint32_t)f.v; break;
        case 5: if ((ok = get_varint(d, &f, TF "fin"))) t->fin = (uint32_t)f.v; break;
        case 6: if ((ok = get_varint(d, &f, TF "rst"))) t->rst = (uint32_t)f.v; break;
        case 7: if ((ok = get_varint(d, &f, TF "urg"))) t->urg = (uint32_t)f.v; break;
        default:
            if (!nunknown++)
                first_unknown = f.at;
            break;
        }
    }
    if (!ok || (nunknown && !collect_unknown(d, &t->base, first_unknown, c.end, nunknown,
                                             FLAGS_FIELDS)))
        return NULL;
    return t;
}

static Ashiato__PacketFile *dec_packet_file(struct dec *d, const struct field *in)
{
    static const Ashiato__PacketFile init = ASHIATO__PACKET_FILE__INIT;
    struct cursor c = field_cursor(in);
    const uint8_t *first_unknown = NULL;
    size_t nunknown = 0;
    struct field f;
    bool ok = true;
    Ashiato__PacketFile *pf = take(d, sizeof *pf, 8);
    if (!pf)
        return NULL;
    *pf = init;
    while (ok && c.p < c.end) {
        if (!next_field(d, &c, &f))
            return NULL;
        if (f.num == 1) {
            if ((ok = get_varint(d, &f, "PacketFile.file_id"))) pf->file_id = f.v;
        } else if (!nunknown++) {
            first_unknown = f.at;
        }
    }
    if (!ok || (nunknown && !collect_unknown(d, &pf->base, first_unknown, c.end, nunknown,
                                             PFILE_FIELDS)))
        return NULL;
    return pf;
}

static bool put_string(struct dec *d, const struct field *f, char **arr, size_t *n)
{
    char *s = copy_string(d, f);
    if (!s)
        return false;
    arr[(*n)++] = s;
    return true;
}

/* Pass 2 of a record, one field: a repeated or unknown one goes into its array (sized in
 * pass 1, where the wire types were checked) */
static bool put_record_field(struct dec *d, Ashiato__SessionRecord *r, const struct field *f)
{
    switch (f->num) {
    case 10: return put_u32s(d, f, r->vlan, &r->n_vlan, "SessionRecord.vlan");
    case 12: return put_string(d, f, r->tags, &r->n_tags);
    case 20: return put_string(d, f, r->http_host, &r->n_http_host);
    case 21: return put_string(d, f, r->http_method, &r->n_http_method);
    case 22: return put_string(d, f, r->user_agent, &r->n_user_agent);
    case 23: return put_u32s(d, f, r->http_status, &r->n_http_status, "SessionRecord.http_status");
    case 24: return put_string(d, f, r->dns_query, &r->n_dns_query);
    case 26: return put_string(d, f, r->tls_sni, &r->n_tls_sni);
    case 41:
        return (r->packet_files[r->n_packet_files++] = dec_packet_file(d, f)) != NULL;
    case 50: return copy_bytes(d, f, &r->linked[r->n_linked++]);
    default:
        return is_known(RECORD_FIELDS, f->num) || add_unknown(d, &r->base, f);
    }
}

/* the arrays of a record's repeated and unknown fields, as counted in pass 1 */
static bool record_arrays(struct dec *d, Ashiato__SessionRecord *r, size_t nunknown)
{
    return REP_ARRAY(d, r->vlan, r->n_vlan) && REP_ARRAY(d, r->tags, r->n_tags) &&
           REP_ARRAY(d, r->http_host, r->n_http_host) &&
           REP_ARRAY(d, r->http_method, r->n_http_method) &&
           REP_ARRAY(d, r->user_agent, r->n_user_agent) &&
           REP_ARRAY(d, r->http_status, r->n_http_status) &&
           REP_ARRAY(d, r->dns_query, r->n_dns_query) && REP_ARRAY(d, r->tls_sni, r->n_tls_sni) &&
           REP_ARRAY(d, r->packet_files, r->n_packet_files) &&
           REP_ARRAY(d, r->linked, r->n_linked) &&
           (!nunknown || (r->base.unknown_fields =
                              take_array(d, nunknown, sizeof *r->base.unknown_fields)) != NULL);
}

/* a repeated string, bytes or message field: length-delimited, counted in pass 1 */
static inline bool count_rep(struct dec *d, const struct field *f, size_t *n, const char *name)
{
    (*n)++;
    return want(d, f, 2, name);
}

#define REC_OCC 16
#define SR "SessionRecord."

static bool dec_record(struct dec *d, const uint8_t *p, size_t len, Ashiato__SessionRecord *r)
{
    static const Ashiato__SessionRecord init = ASHIATO__SESSION_RECORD__INIT;
    struct cursor c = cursor_make(p, len);
    /* the repeated and unknown fields, for pass 2: where each is, for up to REC_OCC of them
     * (a campus record has two or three), else where the first is */
    const uint8_t *occ[REC_OCC];
    size_t nocc = 0, nunknown = 0;
    struct field f;
    *r = init;
    while (c.p < c.end) {
        bool ok, rep = false;
        if (!next_field(d, &c, &f))
            return false;
        switch (f.num) {
        case 1: ok = get_bytes(d, &f, &r->id, SR "id"); break;
        case 2: ok = get_string(d, &f, &r->observer_name, SR "observer_name"); break;
        case 3: if ((ok = get_varint(d, &f, SR "start_us"))) r->start_us = (int64_t)f.v; break;
        case 4: if ((ok = get_varint(d, &f, SR "end_us"))) r->end_us = (int64_t)f.v; break;
        case 5: ok = (r->source = dec_endpoint(d, &f, r->source, SR "source")) != NULL; break;
        case 6:
            ok = (r->destination = dec_endpoint(d, &f, r->destination, SR "destination")) != NULL;
            break;
        case 7: if ((ok = get_varint(d, &f, SR "iana_number"))) r->iana_number = (uint32_t)f.v;
            break;
        case 8: if ((ok = get_varint(d, &f, SR "ip_version"))) r->ip_version = (uint32_t)f.v; break;
        case 9: ok = get_string(d, &f, &r->community_id, SR "community_id"); break;
        case 10: ok = count_u32s(d, &f, &r->n_vlan, SR "vlan"); rep = true; break;
        case 11: ok = get_string(d, &f, &r->protocol, SR "protocol"); break;
        case 12: ok = count_rep(d, &f, &r->n_tags, SR "tags"); rep = true; break;
        case 13: ok = (r->tcp_flags = dec_flags(d, &f)) != NULL; break;
        case 14: ok = get_string(d, &f, &r->conn_state, SR "conn_state"); break;
        case 15: ok = get_string(d, &f, &r->history, SR "history"); break;
        case 16: if ((ok = get_varint(d, &f, SR "segment"))) r->segment = (uint32_t)f.v; break;
        case 17: ok = get_bytes(d, &f, &r->root_id, SR "root_id"); break;
        case 20: ok = count_rep(d, &f, &r->n_http_host, SR "http_host"); rep = true; break;
        case 21: ok = count_rep(d, &f, &r->n_http_method, SR "http_method"); rep = true; break;
        case 22: ok = count_rep(d, &f, &r->n_user_agent, SR "user_agent"); rep = true; break;
        case 23: ok = count_u32s(d, &f, &r->n_http_status, SR "http_status"); rep = true; break;
        case 24: ok = count_rep(d, &f, &r->n_dns_query, SR "dns_query"); rep = true; break;
        case 25: ok = get_string(d, &f, &r->dns_rcode, SR "dns_rcode"); break;
        case 26: ok = count_rep(d, &f, &r->n_tls_sni, SR "tls_sni"); rep = true; break;
        case 27: ok = get_string(d, &f, &r->tls_version, SR "tls_version"); break;
        case 28: ok = get_string(d, &f, &r->ssh_client, SR "ssh_client"); break;
        case 29: ok = get_string(d, &f, &r->ssh_server, SR "ssh_server"); break;
        case 30: r->truncated_fields = get_bool(&f); ok = true; break;
        case 40: ok = get_bytes(d, &f, &r->packet_pos, SR "packet_pos"); break;
        case 41: ok = count_rep(d, &f, &r->n_packet_files, SR "packet_files"); rep = true; break;
        case 50: ok = count_rep(d, &f, &r->n_linked, SR "linked"); rep = true; break;
        case 51: ok = get_string(d, &f, &r->segment_name, SR "segment_name"); break;
        case 55: ok = get_bytes(d, &f, &r->icmp_quoted_src_ip, SR "icmp_quoted_src_ip"); break;
        case 56: ok = get_bytes(d, &f, &r->icmp_quoted_dst_ip, SR "icmp_quoted_dst_ip"); break;
#define ICMP_U32(n, field)                                                              \
        case n: if ((ok = get_varint(d, &f, SR #field))) r->field = (uint32_t)f.v; break;
        ICMP_U32(57, icmp_quoted_src_port)
        ICMP_U32(58, icmp_quoted_dst_port)
        ICMP_U32(59, icmp_quoted_iana_number)
        ICMP_U32(61, icmp_quoted_count)
        ICMP_U32(62, icmp_error_type)
        ICMP_U32(63, icmp_error_code)
#undef ICMP_U32
        case 60:
            ok = get_string(d, &f, &r->icmp_quoted_community_id, SR "icmp_quoted_community_id");
            break;
        default:
            nunknown++;
            ok = rep = true;
            break;
        }
        if (!ok)
            return false;
        if (rep && nocc++ < REC_OCC)
            occ[nocc - 1] = f.at;
    }
    if (!nocc)
        return true;
    if (!record_arrays(d, r, nunknown))
        return false;
    if (nocc <= REC_OCC) {
        for (size_t k = 0; k < nocc; k++) {
            c = cursor_make(occ[k], (size_t)(p + len - occ[k]));
            if (!next_field(d, &c, &f) || !put_record_field(d, r, &f))
                return false;
        }
        return true;
    }
    c = cursor_make(occ[0], (size_t)(p + len - occ[0]));
    while (c.p < c.end)
        if (!next_field(d, &c, &f) || !put_record_field(d, r, &f))
            return false;
    return true;
}

static Ashiato__Batch *dec_batch(struct dec *d, const uint8_t *p, size_t len,
                                 const ProtobufCBinaryData **raw)
{
    static const Ashiato__Batch init = ASHIATO__BATCH__INIT;
    struct cursor c = cursor_make(p, len);
    const uint8_t *second = NULL;        /* the first record or unknown field */
    size_t nunknown = 0;
    struct field f;
    bool ok = true;
    Ashiato__Batch *b = take(d, sizeof *b, 8);
    if (!b)
        return NULL;
    *b = init;
    while (ok && c.p < c.end) {
        if (!next_field(d, &c, &f))
            return NULL;
        switch (f.num) {
        case 1: ok = get_string(d, &f, &b->sensor, "Batch.sensor"); break;
        case 2: if ((ok = get_varint(d, &f, "Batch.seq"))) b->seq = f.v; break;
        case 3: ok = count_rep(d, &f, &b->n_records, "Batch.records"); break;
        case 4: if ((ok = get_varint(d, &f, "Batch.created_us"))) b->created_us = f.v; break;
        case 5: if ((ok = get_varint(d, &f, "Batch.epoch"))) b->epoch = f.v; break;
        case 6: if ((ok = get_varint(d, &f, "Batch.prev_seq"))) b->prev_seq = f.v; break;
        default: nunknown++; break;
        }
        if (!second && (f.num == 3 || !is_known(BATCH_FIELDS, f.num)))
            second = f.at;
    }
    if (!ok)
        return NULL;
    ProtobufCBinaryData *spans = NULL;
    Ashiato__SessionRecord *recs = NULL;
    if (b->n_records) {
        if (!(recs = take_array(d, b->n_records, sizeof *recs)) ||
            (raw && !(spans = take_array(d, b->n_records, sizeof *spans))) ||
            !REP_ARRAY(d, b->records, b->n_records))
            return NULL;
    }
    if (nunknown && !(b->base.unknown_fields = take_array(d, nunknown,
                                                          sizeof *b->base.unknown_fields)))
        return NULL;
    if (second) {
        c = cursor_make(second, (size_t)(c.end - second));
        while (c.p < c.end) {
            if (!next_field(d, &c, &f))
                return NULL;
            if (f.num == 3) {
                size_t i = b->n_records;
                d->record = (long)i;
                if (!dec_record(d, f.val, f.len, &recs[i]))
                    return NULL;
                d->record = -1;
                b->records[i] = &recs[i];
                if (spans)
                    spans[i] = (ProtobufCBinaryData){ f.len, (uint8_t *)f.val };
                b->n_records++;
            } else if (!is_known(BATCH_FIELDS, f.num) && !add_unknown(d, &b->base, &f)) {
                return NULL;
            }
        }
    }
    if (raw)
        *raw = spans;
    return b;
}

static int finish(struct dec *d, const void *out)
{
    if (out)
        return 0;
    if (!d->rc) {                        /* every path that returns NULL sets rc */
        d->rc = RECORD_DECODE_ERR;
        snprintf(d->err, ASH_ERR_LEN, "malformed");
    }
    return d->rc;
}

int record_decode_batch(const uint8_t *buf, size_t len, record_decode_alloc_fn alloc, void *ctx,
                        Ashiato__Batch **out, const ProtobufCBinaryData **raw,
                        char err[ASH_ERR_LEN])
{
    struct dec d = { alloc, ctx, NULL, NULL, buf, err, 0, -1 };
    Ashiato__Batch *b = dec_batch(&d, buf, len, raw);
    if (b)
        *out = b;
    return finish(&d, b);
}

int record_decode_envelope(const uint8_t *buf, size_t len, record_decode_alloc_fn alloc,
                           void *ctx, Ashiato__Envelope **out, const ProtobufCBinaryData **raw,
                           char err[ASH_ERR_LEN])
{
    static const Ashiato__Envelope init = ASHIATO__ENVELOPE__INIT;
    struct dec d = { alloc, ctx, NULL, NULL, buf, err, 0, -1 };
    struct cursor c = cursor_make(buf, len);
    size_t nbatch = 0, nunknown = 0;
    struct field f;
    while (c.p < c.end) {
        if (!next_field(&d, &c, &f))
            return d.rc;
        if (f.num == 1 && f.wt == 2)
            nbatch++;
        else if (f.num >= 1 && f.num <= 5)
            return RECORD_DECODE_OTHER;  /* another body, or a batch protobuf-c refuses */
        else
            nunknown++;
    }
    if (!nbatch)
        return RECORD_DECODE_OTHER;
    Ashiato__Envelope *env = take(&d, sizeof *env, 8);
    if (!env)
        return d.rc;
    *env = init;
    if (nunknown && !(env->base.unknown_fields = take_array(&d, nunknown,
                                                            sizeof *env->base.unknown_fields)))
        return d.rc;
    c = cursor_make(buf, len);
    while (c.p < c.end) {
        if (!next_field(&d, &c, &f))
            return d.rc;
        if (f.num == 1) {
            /* a oneof: each batch must decode, the last one stays (protobuf-c clears the
             * earlier one, it does not merge them) */
            if (!(env->batch = dec_batch(&d, f.val, f.len, raw)))
                return finish(&d, NULL);
            env->body_case = ASHIATO__ENVELOPE__BODY_BATCH;
        } else if (!add_unknown(&d, &env->base, &f)) {
            return d.rc;
        }
    }
    *out = env;
    return 0;
}
