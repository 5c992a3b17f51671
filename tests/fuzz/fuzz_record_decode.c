/* fuzz_record_decode.c -- libFuzzer, differential: every input goes to protobuf-c
 * (ashiato__batch__unpack, ashiato__envelope__unpack) and to record_decode.c (the aggregator's
 * hand-written decoder). It aborts when one accepts what the other refuses, when the structs
 * differ (tests/unit/record_compare.h, field by field, then their packed bytes), when a
 * refusal has no message, or when a record's raw bytes are not that record. Each accepted
 * record's raw bytes also go to record_peek.c (what the aggregator's detection reads), which
 * must give the decoded record's fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_decode.h"
#include "record_peek.h"
#include "../unit/record_compare.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_record_decode: %s: %s\n", what, detail);
    abort();
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (!alen || !memcmp(a, b, alen));
}

static void check_endpoint(const struct record_peek_endpoint *p, const Ashiato__Endpoint *e)
{
    if (!same_bytes(p->ip, p->ip_len, e->ip.data, e->ip.len) || p->port != e->port ||
        p->packets != e->packets || p->data_bytes != e->data_bytes)
        die("record_peek", "an endpoint differs from the decoded one");
}

/* record_peek over the record's bytes says what the decoder says, for the fields it reads */
static void check_peek(const ProtobufCBinaryData *raw, const Ashiato__SessionRecord *r)
{
    struct record_peek p;
    if (record_peek(raw->data, raw->len, &p) < 0)
        die("record_peek", "refuses a record the decoder took");
    const char *cid = r->community_id ? r->community_id : "";
    const char *cs = r->conn_state ? r->conn_state : "";
    if (!same_bytes(p.id, p.id_len, r->id.data, r->id.len) ||
        !same_bytes(p.community_id, p.community_id_len, cid, strlen(cid)) ||
        !same_bytes(p.conn_state, p.conn_state_len, cs, strlen(cs)) ||
        p.start_us != r->start_us || p.end_us != r->end_us || p.iana_number != r->iana_number ||
        p.icmp_quoted_count != r->icmp_quoted_count || p.icmp_error_type != r->icmp_error_type ||
        p.has_source != (r->source != NULL) || p.has_destination != (r->destination != NULL))
        die("record_peek", "a field differs from the decoded one");
    if (r->source)
        check_endpoint(&p.source, r->source);
    if (r->destination)
        check_endpoint(&p.destination, r->destination);
}

static void check_raw(const Ashiato__Batch *b, const ProtobufCBinaryData *raw,
                      const uint8_t *data, size_t size)
{
    char why[RC_WHY_LEN];
    if ((raw == NULL) != (b->n_records == 0))
        die("raw", "record spans missing or extra");
    for (size_t i = 0; i < b->n_records; i++) {
        if (raw[i].len && (raw[i].data < data || raw[i].data + raw[i].len > data + size))
            die("raw", "a record span outside the input");
        Ashiato__SessionRecord *r = ashiato__session_record__unpack(NULL, raw[i].len, raw[i].data);
        if (!r)
            die("raw", "a record span protobuf-c refuses");
        if (!rc_equal(&r->base, &b->records[i]->base, why))
            die("raw span is not its record", why);
        check_peek(&raw[i], b->records[i]);
        ashiato__session_record__free_unpacked(r, NULL);
    }
}

static void check_batch(const uint8_t *data, size_t size)
{
    char err[ASH_ERR_LEN] = "", why[RC_WHY_LEN];
    struct record_pool pl = { 0 };
    Ashiato__Batch *got = NULL;
    const ProtobufCBinaryData *raw = NULL;
    Ashiato__Batch *ref = ashiato__batch__unpack(NULL, size, data);
    int rc = record_decode_batch(data, size, record_pool_alloc, &pl, &got, &raw, err);
    if (rc == RECORD_DECODE_ERR_NOMEM)
        die("batch: out of memory", err);
    if (ref && rc != 0)
        die("batch: protobuf-c accepts, record_decode refuses", err);
    if (!ref && rc == 0)
        die("batch: protobuf-c refuses, record_decode accepts", "");
    if (rc != 0 && strncmp(err, "offset ", 7) != 0)
        die("batch: refusal without an offset", err);
    if (ref) {
        if (!rc_equal(&ref->base, &got->base, why))
            die("batch: structs differ", why);
        check_raw(got, raw, data, size);
        ashiato__batch__free_unpacked(ref, NULL);
    }
    record_pool_reset(&pl);
}

static void check_envelope(const uint8_t *data, size_t size)
{
    char err[ASH_ERR_LEN] = "", why[RC_WHY_LEN];
    struct record_pool pl = { 0 };
    Ashiato__Envelope *got = NULL;
    const ProtobufCBinaryData *raw = NULL;
    Ashiato__Envelope *ref = ashiato__envelope__unpack(NULL, size, data);
    int rc = record_decode_envelope(data, size, record_pool_alloc, &pl, &got, &raw, err);
    if (rc == RECORD_DECODE_ERR_NOMEM)
        die("envelope: out of memory", err);
    if (rc == 0 && !ref)
        die("envelope: protobuf-c refuses, record_decode accepts", "");
    if (rc < 0 && ref)
        die("envelope: protobuf-c accepts, record_decode refuses", err);
    if (rc < 0 && strncmp(err, "offset ", 7) != 0)
        die("envelope: refusal without an offset", err);
    if (rc == 0) {
        if (!rc_equal(&ref->base, &got->base, why))
            die("envelope: structs differ", why);
        check_raw(got->batch, raw, data, size);
    }
    if (ref)
        ashiato__envelope__free_unpacked(ref, NULL);
    record_pool_reset(&pl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_batch(data, size);
    check_envelope(data, size);
    return 0;
}
