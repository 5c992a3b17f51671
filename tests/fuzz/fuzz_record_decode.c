/* fuzz_record_decode.c -- libFuzzer, differential: every input goes to protobuf-c
 * (ashiato__batch__unpack, ashiato__envelope__unpack) and to record_decode.c (the aggregator's
 * hand-written decoder). It aborts when one accepts what the other refuses, when the structs
 * differ (tests/unit/record_compare.h, field by field, then their packed bytes), when a
 * refusal has no message, or when a record's raw bytes are not that record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "record_decode.h"
#include "../unit/record_compare.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_record_decode: %s: %s\n", what, detail);
    abort();
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
