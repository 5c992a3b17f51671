/* test_record_decode.c -- record_decode.c, the aggregator's hand-written Batch decoder,
 * against protobuf-c: each rule of record_decode.h on a hand-made message (decoded both ways
 * and compared field by field, then one assert on the rule itself), the allocator's limit,
 * the records' raw bytes, and every batch of one real journal segment of
 * bench/.cache/ingest/journal-s1 (skipped when the benchmark's cache is absent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <cmocka.h>

#include "record_decode.h"
#include "record_compare.h"

static struct record_pool pool;     /* record_compare.h */

static Ashiato__Batch *ref;              /* protobuf-c's result of the last decode_both */

static int teardown(void **state)
{
    (void)state;
    record_pool_reset(&pool);
    if (ref)
        ashiato__batch__free_unpacked(ref, NULL);
    ref = NULL;
    return 0;
}

/* ---- building messages ---------------------------------------------------------------- */

struct msg {
    uint8_t b[2048];
    size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put_varint(struct msg *m, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        b |= v ? 0x80 : 0;
        put(m, &b, 1);
    } while (v);
}

static void put_u(struct msg *m, uint32_t num, uint64_t v)
{
    put_varint(m, (uint64_t)num << 3);
    put_varint(m, v);
}

static void put_b(struct msg *m, uint32_t num, const void *p, size_t n)
{
    put_varint(m, (uint64_t)num << 3 | 2);
    put_varint(m, n);
    put(m, p, n);
}

static void put_s(struct msg *m, uint32_t num, const char *s) { put_b(m, num, s, strlen(s)); }
static void put_m(struct msg *m, uint32_t num, const struct msg *sub)
{
    put_b(m, num, sub->b, sub->n);
}

/* a batch holding rec (seq 7) */
static struct msg batch_of(const struct msg *rec)
{
    struct msg b = { .n = 0 };
    put_s(&b, 1, "s1");
    put_u(&b, 2, 7);
    put_m(&b, 3, rec);
    return b;
}

/* both decoders accept m and agree; mine returned (protobuf-c's in ref) */
static Ashiato__Batch *decode_both(const struct msg *m)
{
    char err[ASH_ERR_LEN] = "", why[RC_WHY_LEN] = "";
    Ashiato__Batch *b = NULL;
    const ProtobufCBinaryData *raw = NULL;
    ref = ashiato__batch__unpack(NULL, m->n, m->b);
    assert_non_null(ref);
    int rc = record_decode_batch(m->b, m->n, record_pool_alloc, &pool, &b, &raw, err);
    if (rc != 0)
        fail_msg("record_decode_batch: %s", err);
    if (!rc_equal(&ref->base, &b->base, why))
        fail_msg("differs from protobuf-c: %s", why);
    return b;
}

static Ashiato__SessionRecord *record_both(const struct msg *rec)
{
    struct msg b = batch_of(rec);
    return decode_both(&b)->records[0];
}

/* both refuse m; my message in err */
static void refuse_both(const struct msg *m, char err[ASH_ERR_LEN])
{
    Ashiato__Batch *b = NULL;
    Ashiato__Batch *r = ashiato__batch__unpack(NULL, m->n, m->b);
    if (r)
        ashiato__batch__free_unpacked(r, NULL);
    assert_null(r);
    assert_int_equal(record_decode_batch(m->b, m->n, record_pool_alloc, &pool, &b, NULL, err),
                     RECORD_DECODE_ERR);
}

static struct msg endpoint(void)
{
    struct msg e = { .n = 0 };
    put_b(&e, 1, "\x0a\x00\x00\x01", 4);
    put_u(&e, 2, 443);
    put_u(&e, 3, 1500);
    put_u(&e, 4, 3);
    put_u(&e, 5, 1200);
    put_b(&e, 6, "\x00\x01\x02\x03\x04\x05", 6);
    return e;
}

static struct msg full_record(void)
{
    struct msg r = { .n = 0 }, ep = endpoint(), fl = { .n = 0 }, pf = { .n = 0 };
    put_u(&fl, 1, 1);
    put_u(&fl, 3, 5);
    put_u(&pf, 1, 9);
    put_b(&r, 1, "0123456789abcdef", 16);
    put_s(&r, 2, "s1");
    put_u(&r, 3, 1632833400000000);
    put_u(&r, 4, 1632833400500000);
    put_m(&r, 5, &ep);
    put_m(&r, 6, &ep);
    put_u(&r, 7, 6);
    put_u(&r, 8, 4);
    put_s(&r, 9, "1:abc=");
    put_u(&r, 10, 12);
    put_s(&r, 11, "http");
    put_s(&r, 12, "tls");
    put_m(&r, 13, &fl);
    put_s(&r, 14, "SF");
    put_s(&r, 15, "ShADadFf");
    put_u(&r, 16, 1);
    put_b(&r, 17, "0123456789abcdef", 16);
    put_s(&r, 20, "example.org");
    put_s(&r, 21, "GET");
    put_s(&r, 22, "curl/8");
    put_u(&r, 23, 200);
    put_s(&r, 24, "example.org");
    put_s(&r, 25, "NOERROR");
    put_s(&r, 26, "example.org");
    put_s(&r, 27, "1.3");
    put_s(&r, 28, "SSH-2.0-a");
    put_s(&r, 29, "SSH-2.0-b");
    put_u(&r, 30, 1);
    put_b(&r, 40, "\x01\x00\x18", 3);
    put_m(&r, 41, &pf);
    put_b(&r, 50, "fedcba9876543210", 16);
    put_s(&r, 51, "campus");
    put_b(&r, 55, "\xc6\x33\x64\x07", 4);
    put_b(&r, 56, "\xcb\x00\x71\x09", 4);
    put_u(&r, 57, 40000);
    put_u(&r, 58, 161);
    put_u(&r, 59, 17);
    put_s(&r, 60, "1:QgaF728A+Y22s+Hk96vEcjTwgOM=");
    put_u(&r, 61, 20);
    put_u(&r, 62, 3);
    put_u(&r, 63, 3);
    return r;
}

/* ---- the rules ------------------------------------------------------------------------- */

static void every_field(void **state)
{
    (void)state;
    struct msg r = full_record();
    const Ashiato__SessionRecord *rec = record_both(&r);
    assert_string_equal(rec->segment_name, "campus");
    assert_int_equal(rec->icmp_quoted_src_ip.len, 4);
    assert_int_equal(rec->icmp_quoted_dst_port, 161);
    assert_int_equal(rec->icmp_quoted_count, 20);
    assert_int_equal(rec->icmp_error_code, 3);
    assert_string_equal(rec->icmp_quoted_community_id, "1:QgaF728A+Y22s+Hk96vEcjTwgOM=");
}

static void absent_string_is_the_shared_default(void **state)
{
    (void)state;
    struct msg b = { .n = 0 };
    put_u(&b, 2, 7);
    assert_ptr_equal(decode_both(&b)->sensor, protobuf_c_empty_string);
}

static void absent_record_fields_are_init(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    Ashiato__SessionRecord *rec = record_both(&r);
    assert_true(rec->observer_name == protobuf_c_empty_string && rec->id.data == NULL &&
                rec->source == NULL && rec->vlan == NULL && rec->n_vlan == 0);
}

static void empty_batch(void **state)
{
    (void)state;
    struct msg b = { .n = 0 };
    assert_int_equal(decode_both(&b)->n_records, 0);
}

static void fields_in_any_order(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, ep = endpoint();
    put_s(&r, 51, "campus");
    put_b(&r, 50, "x", 1);
    put_u(&r, 23, 404);
    put_s(&r, 12, "b");
    put_m(&r, 6, &ep);
    put_s(&r, 12, "a");
    put_u(&r, 3, 5);
    put_b(&r, 1, "id", 2);
    assert_string_equal(record_both(&r)->tags[1], "a");
}

static void scalar_twice_last_wins(void **state)
{
    (void)state;
    struct msg r = full_record();
    put_u(&r, 7, 17);
    assert_int_equal(record_both(&r)->iana_number, 17);
}

static void string_twice_last_wins(void **state)
{
    (void)state;
    struct msg r = full_record();
    put_s(&r, 2, "later");
    assert_string_equal(record_both(&r)->observer_name, "later");
}

static void sub_message_twice_merges_bytes_only(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, a = { .n = 0 }, b = { .n = 0 };
    put_b(&a, 1, "\x0a\x00\x00\x01", 4);
    put_u(&a, 2, 5);
    put_u(&b, 3, 7);
    put_m(&r, 5, &a);
    put_m(&r, 5, &b);
    Ashiato__Endpoint *e = record_both(&r)->source;
    /* protobuf-c 1.4.1: the earlier ip kept, the earlier port not (proto3 numbers) */
    assert_true(e->ip.len == 4 && e->port == 0 && e->bytes == 7);
}

static void flags_twice_later_whole(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, a = { .n = 0 }, b = { .n = 0 };
    put_u(&a, 1, 3);
    put_u(&b, 2, 4);
    put_m(&r, 13, &a);
    put_m(&r, 13, &b);
    Ashiato__TcpFlagCounts *t = record_both(&r)->tcp_flags;
    assert_true(t->syn == 0 && t->syn_ack == 4);
}

static void vlan_packed_and_unpacked(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, packed = { .n = 0 };
    put_varint(&packed, 8);
    put_varint(&packed, 4095);
    put_u(&r, 10, 7);
    put_m(&r, 10, &packed);
    put_u(&r, 10, 10);
    put_b(&r, 10, "", 0);
    Ashiato__SessionRecord *rec = record_both(&r);
    assert_true(rec->n_vlan == 4 && rec->vlan[0] == 7 && rec->vlan[1] == 8 &&
                rec->vlan[2] == 4095 && rec->vlan[3] == 10);
}

static void packed_varint_too_long_refused(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, b;
    put_b(&r, 23, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    b = batch_of(&r);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "packed varint"));
}

static void unknown_fields_kept(void **state)
{
    (void)state;
    struct msg r = full_record();
    put_u(&r, 18, 5);
    put_varint(&r, 19 << 3 | 1);
    put(&r, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    put_varint(&r, 99 << 3 | 5);
    put(&r, "\x01\x02\x03\x04", 4);
    put_s(&r, 1000, "new");
    assert_int_equal(record_both(&r)->base.n_unknown_fields, 4);
}

static void unknown_fields_in_batch_and_sub_messages(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, ep = endpoint(), b;
    put_u(&ep, 7, 1);
    put_m(&r, 5, &ep);
    b = batch_of(&r);
    put_s(&b, 500, "x");
    Ashiato__Batch *got = decode_both(&b);
    assert_true(got->base.n_unknown_fields == 1 &&
                got->records[0]->source->base.n_unknown_fields == 1);
}

static void group_refused(void **state)
{
    (void)state;
    struct msg r = full_record(), b;
    put_varint(&r, 60 << 3 | 3);
    put_varint(&r, 60 << 3 | 4);
    b = batch_of(&r);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "wire type 3"));
}

static void wrong_wire_type_refused(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, b;
    put_varint(&r, 7 << 3 | 2);          /* iana_number, length-delimited */
    put_varint(&r, 0);
    b = batch_of(&r);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "SessionRecord.iana_number"));
}

static void overlong_varint_accepted(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_varint(&r, 7 << 3);
    put(&r, "\x86\x80\x80\x80\x80\x80\x80\x80\x80\x00", 10);
    assert_int_equal(record_both(&r)->iana_number, 6);
}

static void varint_of_11_bytes_refused(void **state)
{
    (void)state;
    struct msg r = { .n = 0 }, b;
    put_varint(&r, 7 << 3);
    put(&r, "\x86\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
    b = batch_of(&r);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "varint longer than 10 bytes"));
}

static void u64_into_u32_keeps_low_bits(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_u(&r, 16, (uint64_t)1 << 32 | 5);
    assert_int_equal(record_both(&r)->segment, 5);
}

static void bool_from_any_varint(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_u(&r, 30, 256);                  /* 0x80 0x02 */
    assert_true(record_both(&r)->truncated_fields);
}

static void bool_from_other_wire_types(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_varint(&r, 30 << 3 | 1);         /* fixed64 whose only set bit is a high bit */
    put(&r, "\x00\x00\x00\x00\x00\x00\x00\x80", 8);
    assert_false(record_both(&r)->truncated_fields);
}

static void bool_length_delimited_counts_its_prefix(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_b(&r, 30, "\x00", 1);            /* the prefix byte 0x01 makes it true */
    assert_true(record_both(&r)->truncated_fields);
}

static void empty_bytes_are_null(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_b(&r, 1, "", 0);
    Ashiato__SessionRecord *rec = record_both(&r);
    assert_true(rec->id.len == 0 && rec->id.data == NULL);
}

static void empty_string_is_not_the_default(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_s(&r, 2, "");
    Ashiato__SessionRecord *rec = record_both(&r);
    assert_true(rec->observer_name[0] == 0 && rec->observer_name != protobuf_c_empty_string);
}

static void string_with_nul_reads_up_to_it(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put_b(&r, 2, "a\0b", 3);
    assert_string_equal(record_both(&r)->observer_name, "a");
}

static void field_number_zero_refused(void **state)
{
    (void)state;
    struct msg r = full_record(), b;
    put(&r, "\x00\x01", 2);
    b = batch_of(&r);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "field number 0"));
}

static void field_number_zero_in_two_bytes_is_unknown(void **state)
{
    (void)state;
    struct msg r = { .n = 0 };
    put(&r, "\x80\x00\x01", 3);          /* protobuf-c checks only the first byte */
    assert_int_equal(record_both(&r)->base.unknown_fields[0].tag, 0);
}

static void tag_of_five_bytes(void **state)
{
    (void)state;
    struct msg b = { .n = 0 };
    put(&b, "\x90\x80\x80\x80\x00\x07", 6);   /* field 2 (seq) in 5 bytes */
    assert_int_equal(decode_both(&b)->seq, 7);
}

static void length_prefix_of_five_bytes(void **state)
{
    (void)state;
    struct msg b = { .n = 0 };
    put(&b, "\x0a\x82\x80\x80\x80\x00s1", 8);
    assert_string_equal(decode_both(&b)->sensor, "s1");
}

static void length_prefix_beyond_32_bits_refused(void **state)
{
    (void)state;
    struct msg b = { .n = 0 };
    char err[ASH_ERR_LEN];
    put(&b, "\x0a\x82\x80\x80\x80\x10s1", 8);  /* 2 + 2^32, not 2 */
    refuse_both(&b, err);
    assert_non_null(strstr(err, "length 4294967298"));
}

static void truncated_refused_with_offset(void **state)
{
    (void)state;
    struct msg r = full_record(), b = batch_of(&r);
    char err[ASH_ERR_LEN];
    b.n -= 3;
    refuse_both(&b, err);
    assert_non_null(strstr(err, "offset "));
}

static void error_names_the_record(void **state)
{
    (void)state;
    struct msg r = full_record(), bad = { .n = 0 }, b = { .n = 0 };
    put_varint(&bad, 5 << 3);            /* source as a varint */
    put_varint(&bad, 1);
    put_m(&b, 3, &r);
    put_m(&b, 3, &bad);
    char err[ASH_ERR_LEN];
    refuse_both(&b, err);
    assert_non_null(strstr(err, "Batch.records[1]"));
}

static void allocator_limit(void **state)
{
    (void)state;
    struct msg r = full_record(), b = batch_of(&r);
    Ashiato__Batch *out = NULL;
    char err[ASH_ERR_LEN];
    pool.limit = 64;
    assert_int_equal(record_decode_batch(b.b, b.n, record_pool_alloc, &pool, &out, NULL, err),
                     RECORD_DECODE_ERR_NOMEM);
}

static void raw_bytes_are_each_record(void **state)
{
    (void)state;
    struct msg r1 = full_record(), r2 = { .n = 0 }, b = { .n = 0 };
    put_s(&r2, 2, "second");
    put_m(&b, 3, &r1);
    put_u(&b, 2, 9);
    put_m(&b, 3, &r2);
    Ashiato__Batch *out = NULL;
    const ProtobufCBinaryData *raw = NULL;
    char err[ASH_ERR_LEN];
    assert_int_equal(record_decode_batch(b.b, b.n, record_pool_alloc, &pool, &out, &raw, err), 0);
    assert_true(raw[1].len == r2.n && memcmp(raw[1].data, r2.b, r2.n) == 0 &&
                raw[0].data == b.b + 3 && raw[0].len == r1.n);
}

/* ---- the Envelope ---------------------------------------------------------------------- */

static int envelope_both(const struct msg *m, Ashiato__Envelope **got, bool *pc_accepts)
{
    char err[ASH_ERR_LEN], why[RC_WHY_LEN] = "";
    const ProtobufCBinaryData *raw = NULL;
    Ashiato__Envelope *env = ashiato__envelope__unpack(NULL, m->n, m->b);
    int rc = record_decode_envelope(m->b, m->n, record_pool_alloc, &pool, got, &raw, err);
    *pc_accepts = env != NULL;
    if (rc == 0 && (!env || !rc_equal(&env->base, &(*got)->base, why)))
        fail_msg("envelope differs from protobuf-c: %s", env ? why : "protobuf-c refuses");
    if (env)
        ashiato__envelope__free_unpacked(env, NULL);
    return rc;
}

static void envelope_of_a_batch(void **state)
{
    (void)state;
    struct msg r = full_record(), b = batch_of(&r), e = { .n = 0 };
    Ashiato__Envelope *got = NULL;
    bool ok;
    put_u(&b, 6, 6);                     /* as wire_frame_batch appends prev_seq */
    put_m(&e, 1, &b);
    assert_true(envelope_both(&e, &got, &ok) == 0 && got->batch->prev_seq == 6);
}

static void envelope_two_batches_last_wins_unmerged(void **state)
{
    (void)state;
    struct msg b1 = { .n = 0 }, b2 = { .n = 0 }, e = { .n = 0 };
    Ashiato__Envelope *got = NULL;
    bool ok;
    put_u(&b1, 2, 5);
    put_u(&b2, 4, 9);
    put_m(&e, 1, &b1);
    put_m(&e, 1, &b2);
    assert_true(envelope_both(&e, &got, &ok) == 0 && got->batch->seq == 0 &&
                got->batch->created_us == 9);
}

static void envelope_other_body_left_to_protobuf_c(void **state)
{
    (void)state;
    struct msg b = { .n = 0 }, st = { .n = 0 }, e = { .n = 0 };
    Ashiato__Envelope *got = NULL;
    bool ok;
    put_u(&b, 2, 5);
    put_s(&st, 1, "s1");
    put_m(&e, 1, &b);
    put_m(&e, 2, &st);
    assert_int_equal(envelope_both(&e, &got, &ok), RECORD_DECODE_OTHER);
}

static void envelope_empty_left_to_protobuf_c(void **state)
{
    (void)state;
    struct msg e = { .n = 0 };
    Ashiato__Envelope *got = NULL;
    bool ok;
    assert_int_equal(envelope_both(&e, &got, &ok), RECORD_DECODE_OTHER);
}

static void envelope_bad_batch_refused_by_both(void **state)
{
    (void)state;
    struct msg b = { .n = 0 }, e = { .n = 0 };
    Ashiato__Envelope *got = NULL;
    bool pc_accepts = true;
    put_varint(&b, 3 << 3);              /* records as a varint */
    put_varint(&b, 1);
    put_m(&e, 1, &b);
    int rc = envelope_both(&e, &got, &pc_accepts);
    assert_true(rc == RECORD_DECODE_ERR && !pc_accepts);
}

/* ---- a real journal segment ------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void journal_segment_both_ways(void **state)
{
    (void)state;
    const char *src = getenv("ASHIATO_SOURCE_DIR");
    char pattern[4096];
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s/bench/.cache/ingest/journal-s1/seg-*.journal",
             src ? src : ".");
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        print_message("skipped: no journal segment at %s (made by bench/aggregator_ingest.sh; "
                      "bench/.cache is not in git)\n", pattern);
        skip();
    }
    FILE *f = fopen(g.gl_pathv[g.gl_pathc - 1], "rb");   /* the last, smaller segment */
    assert_non_null(f);
    size_t batches = 0, records = 0, cap = 0;
    uint8_t hdr[24], *buf = NULL;
    char err[ASH_ERR_LEN], why[RC_WHY_LEN];
    bool all_equal = true;
    while (all_equal && fread(hdr, 1, sizeof hdr, f) == sizeof hdr && memcmp(hdr, "ASHJ", 4) == 0) {
        uint32_t len = le32(hdr + 4);
        if (len > cap) {
            uint8_t *nb = realloc(buf, len);
            assert_non_null(nb);
            buf = nb;
            cap = len;
        }
        if (fread(buf, 1, len, f) != len)
            break;                       /* a torn tail */
        Ashiato__Batch *pc = ashiato__batch__unpack(NULL, len, buf), *mine = NULL;
        const ProtobufCBinaryData *raw = NULL;
        int rc = record_decode_batch(buf, len, record_pool_alloc, &pool, &mine, &raw, err);
        all_equal = pc && rc == 0 && rc_equal(&pc->base, &mine->base, why);
        if (!all_equal)
            print_message("batch %zu: %s\n", batches, !pc ? "protobuf-c refuses" :
                          rc ? err : why);
        for (size_t i = 0; all_equal && i < mine->n_records; i++) {
            Ashiato__SessionRecord *one = ashiato__session_record__unpack(NULL, raw[i].len,
                                                                          raw[i].data);
            all_equal = one && rc_equal(&one->base, &mine->records[i]->base, why);
            ashiato__session_record__free_unpacked(one, NULL);
        }
        records += pc ? pc->n_records : 0;
        batches++;
        if (pc)
            ashiato__batch__free_unpacked(pc, NULL);
        record_pool_reset(&pool);
    }
    fclose(f);
    free(buf);
    print_message("%s: %zu batches, %zu records decoded both ways\n",
                  g.gl_pathv[g.gl_pathc - 1], batches, records);
    globfree(&g);
    assert_true(all_equal && batches > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(every_field, teardown),
        cmocka_unit_test_teardown(absent_string_is_the_shared_default, teardown),
        cmocka_unit_test_teardown(absent_record_fields_are_init, teardown),
        cmocka_unit_test_teardown(empty_batch, teardown),
        cmocka_unit_test_teardown(fields_in_any_order, teardown),
        cmocka_unit_test_teardown(scalar_twice_last_wins, teardown),
        cmocka_unit_test_teardown(string_twice_last_wins, teardown),
        cmocka_unit_test_teardown(sub_message_twice_merges_bytes_only, teardown),
        cmocka_unit_test_teardown(flags_twice_later_whole, teardown),
        cmocka_unit_test_teardown(vlan_packed_and_unpacked, teardown),
        cmocka_unit_test_teardown(packed_varint_too_long_refused, teardown),
        cmocka_unit_test_teardown(unknown_fields_kept, teardown),
        cmocka_unit_test_teardown(unknown_fields_in_batch_and_sub_messages, teardown),
        cmocka_unit_test_teardown(group_refused, teardown),
        cmocka_unit_test_teardown(wrong_wire_type_refused, teardown),
        cmocka_unit_test_teardown(overlong_varint_accepted, teardown),
        cmocka_unit_test_teardown(varint_of_11_bytes_refused, teardown),
        cmocka_unit_test_teardown(u64_into_u32_keeps_low_bits, teardown),
        cmocka_unit_test_teardown(bool_from_any_varint, teardown),
        cmocka_unit_test_teardown(bool_from_other_wire_types, teardown),
        cmocka_unit_test_teardown(bool_length_delimited_counts_its_prefix, teardown),
        cmocka_unit_test_teardown(empty_bytes_are_null, teardown),
        cmocka_unit_test_teardown(empty_string_is_not_the_default, teardown),
        cmocka_unit_test_teardown(string_with_nul_reads_up_to_it, teardown),
        cmocka_unit_test_teardown(field_number_zero_refused, teardown),
        cmocka_unit_test_teardown(field_number_zero_in_two_bytes_is_unknown, teardown),
        cmocka_unit_test_teardown(tag_of_five_bytes, teardown),
        cmocka_unit_test_teardown(length_prefix_of_five_bytes, teardown),
        cmocka_unit_test_teardown(length_prefix_beyond_32_bits_refused, teardown),
        cmocka_unit_test_teardown(truncated_refused_with_offset, teardown),
        cmocka_unit_test_teardown(error_names_the_record, teardown),
        cmocka_unit_test_teardown(allocator_limit, teardown),
        cmocka_unit_test_teardown(raw_bytes_are_each_record, teardown),
        cmocka_unit_test_teardown(envelope_of_a_batch, teardown),
        cmocka_unit_test_teardown(envelope_two_batches_last_wins_unmerged, teardown),
        cmocka_unit_test_teardown(envelope_other_body_left_to_protobuf_c, teardown),
        cmocka_unit_test_teardown(envelope_empty_left_to_protobuf_c, teardown),
        cmocka_unit_test_teardown(envelope_bad_batch_refused_by_both, teardown),
        cmocka_unit_test_teardown(journal_segment_both_ways, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
