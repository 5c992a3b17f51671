/* record_json.c -- SessionRecord to ECS JSON (see record_json.h), written by hand straight into
 * a byte buffer through common/json_writer.h. Hand-written because it is the Elasticsearch
 * loader's hot path: json-c took 9.37 of the loader's 9.94 us of CPU per document
 * (bench/RESULTS.md "es_bulk 2026-11-26T03:36Z": one json-c object per field, gmtime_r +
 * strftime per time, a final strndup). On 100000 records of a real capture (~880-byte
 * documents) json-c took 9.0-9.3 us and 124k instructions (callgrind) per document,
 * record_json_append 0.32 us and 5.0k.
 * The text is byte for byte json-c's with JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE (json_writer.h says how), keys in insertion order.
 * Owns:  field names, order and shapes of the session document; the transport's and the
 *        MAC's text; ashiato.segments by the map it is handed.
 * Never: writes JSON syntax, escapes or formats numbers, times or IPs itself (json_writer.c
 *        does); keeps state; allocates except to grow the caller's buffer; is used per packet.
 * Trap:  the old json-c renderer is the oracle (tests/unit/record_json_jsonc.c): a change to
 *        the document goes into both, and test_record_json and fuzz_record_json compare them. */
#include "record_json.h"
#include "json_writer.h"
#include "segmap.h"

#include <stdlib.h>
#include <string.h>

/* ---- text forms ----------------------------------------------------------------------- */

void record_json_ip(const uint8_t *ip, size_t len, char out[48])
{
    *json_writer_put_ip(out, ip, len) = '\0';
}

void record_json_time(int64_t us, char out[40])
{
    *json_writer_put_time(out, us) = '\0';
}

/* The number as snprintf(buf, 8, "%u") writes it: cut to 7 digits. */
static size_t iana_text(uint32_t iana, char buf[8])
{
    char tmp[20];
    size_t n = (size_t)(json_writer_put_u64(tmp, iana) - tmp);
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

/* ---- members, on json_writer.h ------------------------------------------------------- */

/* `"k":` and the like from a literal key: the lengths are constants, so the inline writers
 * copy them with moves */
#define MEMBER(k) "\"" k "\":", sizeof("\"" k "\":") - 1
#define LIT(w, s) json_writer_raw(w, s, sizeof(s) - 1)
#define KEY(w, k) json_writer_key(w, MEMBER(k))
#define OPEN(w, k) json_writer_open(w, MEMBER(k))
#define KNUM(w, k, v) (KEY(w, k), json_writer_num(w, v))
#define STR_ARRAY(w, k, v, n) (KEY(w, k), json_writer_str_array(w, v, n))

static void str(struct json_writer *w, const char *k, size_t kn, const char *v)
{
    if (!v || !*v)
        return;
    json_writer_key(w, k, kn);
    json_writer_text(w, v, strlen(v));
}
#define STR(w, k, v) str(w, MEMBER(k), v)

/* a time's text between quotes, already formatted (t, n) or formatted here (t NULL) */
static void quoted_time(struct json_writer *w, int64_t us, const char *t, size_t n)
{
    if (!json_writer_room(w, 40))
        return;
    *w->p++ = '"';
    if (t) {
        memcpy(w->p, t, n);
        w->p += n;
    } else {
        w->p = json_writer_put_time(w->p, us);
    }
    *w->p++ = '"';
}

static void endpoint(struct json_writer *w, const Ashiato__Endpoint *e)
{
    if (!e)
        return;
    if (e->ip.len == 4 || e->ip.len == 16) {
        KEY(w, "ip");
        if (json_writer_room(w, 50)) {
            *w->p++ = '"';
            w->p = json_writer_put_ip(w->p, e->ip.data, e->ip.len);
            *w->p++ = '"';
        }
    }
    KNUM(w, "port", e->port);
    KNUM(w, "bytes", (int64_t)e->bytes);
    KNUM(w, "packets", (int64_t)e->packets);
    if (e->mac.len == 6) {
        static const char hex[] = "0123456789abcdef";
        KEY(w, "mac");
        if (json_writer_room(w, 19)) {
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

static void bytes_text(struct json_writer *w, const char *k, size_t kn, ProtobufCBinaryData b)
{
    if (!b.len)
        return;
    json_writer_key(w, k, kn);
    json_writer_text(w, (const char *)b.data, b.len);
}
#define BYTES_TEXT(w, k, b) bytes_text(w, MEMBER(k), b)

/* ---- the document --------------------------------------------------------------------- */

static void network(struct json_writer *w, const Ashiato__SessionRecord *r)
{
    char buf[8];
    const char *tr = record_json_transport(r->iana_number, buf);
    OPEN(w, "network");
    KEY(w, "transport");
    json_writer_text(w, tr, strlen(tr));
    KEY(w, "iana_number");
    size_t n = iana_text(r->iana_number, buf);
    json_writer_text(w, buf, n);
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
        json_writer_u32_array(w, r->vlan, r->n_vlan);
        json_writer_close(w);
    }
    STR(w, "protocol", r->protocol);
    json_writer_close(w);
}

static void app_fields(struct json_writer *w, const Ashiato__SessionRecord *r)
{
    if (r->n_http_host) {
        OPEN(w, "url");
        STR_ARRAY(w, "domain", r->http_host, r->n_http_host);
        json_writer_close(w);
    }
    if (r->n_http_method || r->n_http_status) {
        OPEN(w, "http");
        if (r->n_http_method) {
            OPEN(w, "request");
            STR_ARRAY(w, "method", r->http_method, r->n_http_method);
            json_writer_close(w);
        }
        if (r->n_http_status) {
            OPEN(w, "response");
            KEY(w, "status_code");
            json_writer_u32_array(w, r->http_status, r->n_http_status);
            json_writer_close(w);
        }
        json_writer_close(w);
    }
    if (r->n_user_agent) {
        OPEN(w, "user_agent");
        STR_ARRAY(w, "original", r->user_agent, r->n_user_agent);
        json_writer_close(w);
    }
    if (r->n_dns_query || (r->dns_rcode && *r->dns_rcode)) {
        OPEN(w, "dns");
        if (r->n_dns_query) {
            OPEN(w, "question");
            STR_ARRAY(w, "name", r->dns_query, r->n_dns_query);
            json_writer_close(w);
        }
        STR(w, "response_code", r->dns_rcode);
        json_writer_close(w);
    }
    if (r->n_tls_sni || (r->tls_version && *r->tls_version)) {
        OPEN(w, "tls");
        if (r->n_tls_sni) {
            OPEN(w, "client");
            STR_ARRAY(w, "server_name", r->tls_sni, r->n_tls_sni);
            json_writer_close(w);
        }
        STR(w, "version", r->tls_version);
        json_writer_close(w);
    }
}

/* one end of an ICMP error's quoted flow: {"ip":..,"port":..} */
static void quoted_end(struct json_writer *w, ProtobufCBinaryData ip, uint32_t port)
{
    if (ip.len == 4 || ip.len == 16) {
        KEY(w, "ip");
        if (json_writer_room(w, 50)) {
            *w->p++ = '"';
            w->p = json_writer_put_ip(w->p, ip.data, ip.len);
            *w->p++ = '"';
        }
    }
    KNUM(w, "port", port);
    json_writer_close(w);
}

/* ICMP errors: an ICMP session's quoted flow, or the error that answered this session */
static void icmp_error(struct json_writer *w, const Ashiato__SessionRecord *r)
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
        json_writer_text(w, buf, n);
        STR(w, "community_id", r->icmp_quoted_community_id);
        KNUM(w, "count", r->icmp_quoted_count);
        json_writer_close(w);
    } else if (r->icmp_error_type) {
        OPEN(w, "icmp_error");
        KNUM(w, "type", r->icmp_error_type);
        KNUM(w, "code", r->icmp_error_code);
        json_writer_close(w);
    }
}

/* ashiato.segments: the source's segment, then the destination's (each side with an
 * address), by the map the document is rendered with */
static void segments(struct json_writer *w, const Ashiato__SessionRecord *r,
                     const struct segmap *seg)
{
    const char *names[2] = {
        r->source ? segmap_name_of(seg, r->source->ip.data, r->source->ip.len) : NULL,
        r->destination ? segmap_name_of(seg, r->destination->ip.data,
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
        json_writer_text(w, names[i], strlen(names[i]));
    }
    LIT(w, "]");
}

static void ashiato(struct json_writer *w, const Ashiato__SessionRecord *r,
                    const struct segmap *seg)
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
        json_writer_close(w);
    }
    OPEN(w, "data_bytes");
    KNUM(w, "source", r->source ? (int64_t)r->source->data_bytes : 0);
    KNUM(w, "destination", r->destination ? (int64_t)r->destination->data_bytes : 0);
    json_writer_close(w);
    if (r->n_tags)
        STR_ARRAY(w, "protocols", r->tags, r->n_tags);
    if ((r->ssh_client && *r->ssh_client) || (r->ssh_server && *r->ssh_server)) {
        OPEN(w, "ssh");
        STR(w, "client", r->ssh_client);
        STR(w, "server", r->ssh_server);
        json_writer_close(w);
    }
    icmp_error(w, r);
    if (r->truncated_fields) {
        KEY(w, "truncated");
        LIT(w, "true");
    }
    STR(w, "segment_name", r->segment_name);
    segments(w, r, seg);
    if (r->packet_pos.len) {
        /* the sensor's store positions, base64 (standard, padded): ashiato pcap reads them */
        KEY(w, "packet_pos");
        json_writer_base64(w, r->packet_pos.data, r->packet_pos.len);
        KEY(w, "packet_files");
        LIT(w, "[");
        for (size_t i = 0; i < r->n_packet_files; i++) {
            if (i)
                LIT(w, ",");
            json_writer_num(w, (int64_t)r->packet_files[i]->file_id);
        }
        LIT(w, "]");
    }
    if (r->n_linked) {
        KEY(w, "linked");
        LIT(w, "[");
        for (size_t i = 0; i < r->n_linked; i++) {
            if (i)
                LIT(w, ",");
            json_writer_text(w, (const char *)r->linked[i].data, r->linked[i].len);
        }
        LIT(w, "]");
    }
    json_writer_close(w);
}

int record_json_append(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                       const char *observer)
{
    return record_json_append_in(b, r, observer, NULL);
}

int record_json_append_in(struct record_json_buf *b, const Ashiato__SessionRecord *r,
                          const char *observer, const struct segmap *seg)
{
    struct json_writer w;
    size_t start = b->len;
    if (!json_writer_begin(&w, &b->data, &b->cap, b->len))
        return -1;

    char t1[40];
    size_t t1n = (size_t)(json_writer_put_time(t1, r->start_us) - t1);
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
    json_writer_close(&w);

    OPEN(&w, "source");
    endpoint(&w, r->source);
    json_writer_close(&w);
    OPEN(&w, "destination");
    endpoint(&w, r->destination);
    json_writer_close(&w);
    network(&w, r);
    OPEN(&w, "observer");
    STR(&w, "name", observer ? observer : r->observer_name);
    json_writer_close(&w);
    app_fields(&w, r);
    ashiato(&w, r, seg);
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
