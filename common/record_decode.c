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
 *        (sized as protobuf-c sizes them), going back to just those fields.
 * Files: record_decode_wire.h (the block allocator, the field reader and the scalar, string,
 *        bytes, packed and unknown-field readers); this file, the messages (Endpoint,
 *        TcpFlagCounts, PacketFile, SessionRecord, Batch, Envelope) and the entry points. */
#include "record_decode.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "record_decode_wire.h"

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
