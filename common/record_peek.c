/* record_peek.c -- the fields detection reads from one packed SessionRecord, in one walk over
 * its bytes (see record_peek.h). The aggregator's commit hook copies each record's bytes as
 * the sensor sent them (one memcpy, sequential) and the detection thread peeks them here, so
 * the ingest thread never chases the decoded record's pointers for detection.
 * Owns:  nothing.
 * Never: allocates, reads at or past the end (each read is bounded by the bytes left). */
#include "record_peek.h"

#include <string.h>

#include "ashiato.h"

/* field numbers (proto/ashiato.proto) */
enum {
    SR_ID = 1, SR_START = 3, SR_END = 4, SR_SOURCE = 5, SR_DESTINATION = 6, SR_IANA = 7,
    SR_COMMUNITY_ID = 9, SR_CONN_STATE = 14, SR_ICMP_QUOTED_COUNT = 61, SR_ICMP_ERROR_TYPE = 62,
    EP_IP = 1, EP_PORT = 2, EP_PACKETS = 4, EP_DATA_BYTES = 5,
};

struct wire {
    const uint8_t *p, *end;
};

struct wfield {
    uint32_t num;
    unsigned wt;
    uint64_t v;                 /* wire type 0 */
    const uint8_t *val;         /* wire type 2 */
    size_t len;
};

/* a varint of at most max bytes, within the bytes left; false when longer or cut short */
static inline bool varint(struct wire *w, unsigned max, uint64_t *out)
{
    size_t left = (size_t)(w->end - w->p);
    if (left < max)
        max = (unsigned)left;
    uint64_t v = 0;
    for (unsigned i = 0; i < max; i++) {
        v |= (uint64_t)(w->p[i] & 0x7f) << (7 * i);
        if (!(w->p[i] & 0x80)) {
            w->p += i + 1;
            *out = v;
            return true;
        }
    }
    return false;
}

static bool next_slow(struct wire *w, struct wfield *f)
{
    uint64_t tag;
    if (!varint(w, 5, &tag))
        return false;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (unsigned)(tag & 7);
    switch (f->wt) {
    case 0:
        return varint(w, 10, &f->v);
    case 1:
    case 5: {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(w->end - w->p) < n)
            return false;
        w->p += n;
        return true;
    }
    case 2: {
        uint64_t n;
        if (!varint(w, 5, &n) || n > (uint64_t)(w->end - w->p))
            return false;
        f->val = w->p;
        f->len = (size_t)n;
        w->p += n;
        return true;
    }
    default:
        return false;
    }
}

/* The next field. With 16 bytes or more left, a tag of 1 or 2 bytes (field numbers up to
 * 2047) needs no bound check until a length is added: a tag (2) and a varint (10) fit. The
 * rest, and every bound check of the general case, in next_slow(). */
static inline bool next(struct wire *w, struct wfield *f)
{
    const uint8_t *p = w->p;
    if (ASH_LIKELY(w->end - p >= 16)) {
        unsigned t = p[0];
        uint32_t num = t >> 3;
        if (t & 0x80) {
            if (p[1] & 0x80)
                return next_slow(w, f);
            num = ((t & 0x7f) >> 3) | (uint32_t)p[1] << 4;
            p += 2;
        } else {
            p++;
        }
        f->num = num;
        f->wt = t & 7;
        switch (f->wt) {
        case 0: {
            uint64_t v = 0;
            for (unsigned i = 0; i < 10; i++) {
                v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
                if (!(p[i] & 0x80)) {
                    f->v = v;
                    w->p = p + i + 1;
                    return true;
                }
            }
            return false;
        }
        case 2: {
            uint64_t n = 0;
            for (unsigned i = 0; i < 5; i++) {
                n |= (uint64_t)(p[i] & 0x7f) << (7 * i);
                if (!(p[i] & 0x80)) {
                    p += i + 1;
                    if (n > (uint64_t)(w->end - p))
                        return false;
                    f->val = p;
                    f->len = (size_t)n;
                    w->p = p + n;
                    return true;
                }
            }
            return false;
        }
        default:
            break;
        }
    }
    return next_slow(w, f);
}

/* a string as protobuf-c gives it to C: up to its first NUL */
static void string_of(const struct wfield *f, const char **s, size_t *len)
{
    const uint8_t *nul = f->len ? memchr(f->val, 0, f->len) : NULL;
    *len = nul ? (size_t)(nul - f->val) : f->len;
    *s = *len ? (const char *)f->val : NULL;
}

/* one Endpoint message; a later one replaces the numbers of an earlier one (e), and its ip
 * unless it has none (protobuf-c 1.4.1's merge_messages) */
static int endpoint(const struct wfield *in, struct record_peek_endpoint *e)
{
    struct wire w = { in->val, in->val + in->len };
    struct record_peek_endpoint n = { NULL, 0, 0, 0, 0 };
    struct wfield f;
    while (w.p < w.end) {
        if (!next(&w, &f))
            return -1;
        switch (f.num) {
        case EP_IP:
            if (f.wt == 2) {
                n.ip = f.len ? f.val : NULL;
                n.ip_len = f.len;
            }
            break;
        case EP_PORT: if (f.wt == 0) n.port = (uint32_t)f.v; break;
        case EP_PACKETS: if (f.wt == 0) n.packets = f.v; break;
        case EP_DATA_BYTES: if (f.wt == 0) n.data_bytes = f.v; break;
        default: break;
        }
    }
    if (!n.ip) {
        n.ip = e->ip;
        n.ip_len = e->ip_len;
    }
    *e = n;
    return 0;
}

int record_peek(const uint8_t *buf, size_t len, struct record_peek *out)
{
    memset(out, 0, sizeof *out);
    struct wire w = { buf, buf + len };
    struct wfield f;
    while (w.p < w.end) {
        if (!next(&w, &f))
            return -1;
        if (f.wt == 0) {
            switch (f.num) {
            case SR_START: out->start_us = (int64_t)f.v; break;
            case SR_END: out->end_us = (int64_t)f.v; break;
            case SR_IANA: out->iana_number = (uint32_t)f.v; break;
            case SR_ICMP_QUOTED_COUNT: out->icmp_quoted_count = (uint32_t)f.v; break;
            case SR_ICMP_ERROR_TYPE: out->icmp_error_type = (uint32_t)f.v; break;
            default: break;
            }
        } else if (f.wt == 2) {
            switch (f.num) {
            case SR_ID:
                out->id = f.len ? f.val : NULL;
                out->id_len = f.len;
                break;
            case SR_COMMUNITY_ID: string_of(&f, &out->community_id, &out->community_id_len); break;
            case SR_CONN_STATE: string_of(&f, &out->conn_state, &out->conn_state_len); break;
            case SR_SOURCE:
                out->has_source = true;
                if (endpoint(&f, &out->source) < 0)
                    return -1;
                break;
            case SR_DESTINATION:
                out->has_destination = true;
                if (endpoint(&f, &out->destination) < 0)
                    return -1;
                break;
            default: break;
            }
        }
    }
    return 0;
}
