/* test_pcap_index.c -- pcap_index against its header: round trips of positions through the
 * chunk pool and the encoding, files lists, pool exhaustion and release, and the decoder's
 * refusal of malformed strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pcap_index.h"

struct pos {
    uint64_t file, off;
};

static struct pcap_index *make(size_t chunks)
{
    char err[ASH_ERR_LEN];
    struct pcap_index *idx = pcap_index_new(chunks, err);
    assert_non_null(idx);
    return idx;
}

/* decode buf fully into out[]; returns the count, fails the test on a malformed token */
static size_t decode_all(const uint8_t *buf, size_t len, struct pos *out, size_t cap, uint8_t *flags)
{
    struct pcap_index_iter it;
    uint64_t f, o;
    size_t n = 0;
    int r;
    assert_int_equal(pcap_index_iter_init(&it, buf, len), 0);
    while ((r = pcap_index_next(&it, &f, &o)) == 1) {
        assert_true(n < cap);
        out[n].file = f;
        out[n].off = o;
        n++;
    }
    assert_int_equal(r, 0);
    if (flags)
        *flags = it.flags;
    return n;
}

static void round_trip_many_positions(void **state)
{
    (void)state;
    struct pcap_index *idx = make(4096);
    enum { N = 5000 };
    static struct pos want[N], got[N];
    uint32_t h = 0;
    uint64_t file = 1, off = 24;
    srand(7);
    for (int i = 0; i < N; i++) {
        if (rand() % 97 == 0) {
            file += 1 + (uint64_t)(rand() % 3);
            off = 24 + (uint64_t)(rand() % 1000);
        } else {
            off += 16 + (uint64_t)(rand() % (i % 10 == 0 ? 5000000 : 1500));
        }
        want[i].file = file;
        want[i].off = off;
        assert_int_equal(pcap_index_add(idx, &h, file, off), 0);
    }
    assert_int_not_equal(h, 0);
    assert_int_equal(pcap_index_count(idx, h), N);
    size_t need = pcap_index_encoded_size(idx, h);
    uint8_t *buf = malloc(need);
    assert_int_equal(pcap_index_encode(idx, h, buf, need - 1), 0);   /* too small: nothing */
    assert_int_equal(pcap_index_encode(idx, h, buf, need), need);
    assert_true(need < (size_t)N * 4);                                   /* compact */
    uint8_t flags = 0xff;
    assert_int_equal(decode_all(buf, need, got, N, &flags), N);
    assert_int_equal(flags, 0);
    assert_memory_equal(want, got, sizeof want);

    size_t distinct = 1;
    for (int i = 1; i < N; i++)
        distinct += want[i].file != want[i - 1].file;
    uint64_t ids[256];
    assert_true(distinct <= 256);
    assert_int_equal(pcap_index_files(idx, h, ids, 256), distinct);
    assert_int_equal(pcap_index_files(idx, h, ids, 2), distinct);     /* count beyond cap */
    assert_int_equal(pcap_index_files(idx, h, ids, 256), distinct);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[distinct - 1], file);
    for (size_t i = 1; i < distinct; i++)
        assert_true(ids[i] > ids[i - 1]);

    struct pcap_index_stats st;
    pcap_index_stats(idx, &st);
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.positions, N);
    pcap_index_release(idx, &h);
    assert_int_equal(h, 0);
    pcap_index_stats(idx, &st);
    assert_int_equal(st.chunks_used, 0);
    assert_int_equal(st.lists, 0);
    pcap_index_release(idx, &h);          /* a 0 handle is fine */
    free(buf);
    pcap_index_free(idx);
}

static void first_token_names_the_file(void **state)
{
    (void)state;
    struct pcap_index *idx = make(16);
    uint32_t h = 0;
    uint8_t buf[64];
    assert_int_equal(pcap_index_add(idx, &h, 3, 24), 0);
    assert_int_equal(pcap_index_add(idx, &h, 3, 24 + 100), 0);
    size_t n = pcap_index_encode(idx, h, buf, sizeof buf);
    /* version, flags, (3<<1|1)=7, 24, (100<<1)=200 as two varint bytes */
    const uint8_t want[] = { 1, 0, 7, 24, 0xc8, 0x01 };
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    uint64_t ids[4];
    assert_int_equal(pcap_index_files(idx, h, ids, 4), 1);
    assert_int_equal(ids[0], 3);
    pcap_index_free(idx);
}

static void pool_exhaustion_flags_incomplete(void **state)
{
    (void)state;
    struct pcap_index *idx = make(16);
    uint32_t h = 0, other = 0;
    int failures = 0;
    uint64_t added = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        if (pcap_index_add(idx, &h, 1, 24 + i * 70000) == 0)
            added++;
        else
            failures++;
    }
    assert_true(failures > 0);
    assert_int_equal(pcap_index_add(idx, &other, 1, 24), -1);   /* no chunk for a new list */
    assert_int_equal(other, 0);
    struct pcap_index_stats st;
    pcap_index_stats(idx, &st);
    assert_int_equal(st.full, (uint64_t)failures + 1);
    assert_int_equal(st.chunks_used, 16);

    uint8_t buf[2048];
    static struct pos got[2000];
    uint8_t flags = 0;
    size_t n = pcap_index_encode(idx, h, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(decode_all(buf, n, got, 2000, &flags), added);
    assert_int_equal(flags & PCAP_INDEX_F_INCOMPLETE, PCAP_INDEX_F_INCOMPLETE);
    for (uint64_t i = 0; i < added; i++)
        assert_int_equal(got[i].off, 24 + i * 70000);      /* whole tokens only */

    pcap_index_release(idx, &h);
    assert_int_equal(pcap_index_add(idx, &other, 1, 24), 0);   /* chunks came back */
    pcap_index_release(idx, &other);
    pcap_index_free(idx);
}

static void gap_and_disorder_flag_the_list(void **state)
{
    (void)state;
    struct pcap_index *idx = make(32);
    uint32_t h = 0;
    uint8_t buf[64];
    pcap_index_mark_gap(idx, &h);
    assert_int_not_equal(h, 0);
    assert_int_equal(pcap_index_add(idx, &h, 2, 500), 0);
    assert_int_equal(pcap_index_add(idx, &h, 2, 400), -1);       /* backwards: refused */
    assert_int_equal(pcap_index_add(idx, &h, 1, 900), -1);
    size_t n = pcap_index_encode(idx, h, buf, sizeof buf);
    assert_int_equal(buf[1], PCAP_INDEX_F_INCOMPLETE);
    struct pos got[4];
    assert_int_equal(decode_all(buf, n, got, 4, NULL), 1);
    assert_int_equal(got[0].file, 2);
    assert_int_equal(got[0].off, 500);
    pcap_index_release(idx, &h);
    pcap_index_free(idx);
}

/* H2: with a store id set, the encoding is version 2 and carries it (big-endian, after the
 * flags); the iterator gives it back; version 1 strings still decode (store id 0); a version
 * 2 string cut inside its store id or holding id 0 is refused. */
static void test_h2_positions_carry_the_store_id(void **state)
{
    (void)state;
    struct pcap_index *idx = make(16);
    pcap_index_set_store_id(idx, 0x0102030405060708ull);
    uint32_t h = 0;
    uint8_t buf[64];
    assert_int_equal(pcap_index_add(idx, &h, 3, 24), 0);
    assert_int_equal(pcap_index_add(idx, &h, 3, 24 + 100), 0);
    size_t n = pcap_index_encode(idx, h, buf, sizeof buf);
    const uint8_t want[] = { 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 7, 24, 0xc8, 0x01 };
    assert_int_equal(n, sizeof want);
    assert_int_equal(pcap_index_encoded_size(idx, h), sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    struct pos got[4];
    assert_int_equal(decode_all(buf, n, got, 4, NULL), 2);
    assert_true(got[1].file == 3 && got[1].off == 124);
    struct pcap_index_iter it;
    assert_int_equal(pcap_index_iter_init(&it, buf, n), 0);
    assert_true(it.store_id == 0x0102030405060708ull);
    assert_int_equal(pcap_index_iter_init(&it, buf, 7), -1);      /* cut inside the id */
    const uint8_t zero_id[] = { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 24 };
    assert_int_equal(pcap_index_iter_init(&it, zero_id, sizeof zero_id), -1);
    const uint8_t v1[] = { 1, 0, 7, 24, 0xc8, 0x01 };
    assert_int_equal(pcap_index_iter_init(&it, v1, sizeof v1), 0);
    assert_true(it.store_id == 0);
    assert_int_equal(decode_all(v1, sizeof v1, got, 4, NULL), 2);
    pcap_index_release(idx, &h);
    pcap_index_free(idx);
}

static void decoder_refuses_malformed(void **state)
{
    (void)state;
    struct pcap_index_iter it;
    uint64_t f, o;
    const uint8_t bad_version[] = { 3, 0, 3, 24 };
    assert_int_equal(pcap_index_iter_init(&it, bad_version, sizeof bad_version), -1);
    assert_int_equal(pcap_index_iter_init(&it, bad_version, 1), -1);

    const uint8_t same_file_first[] = { 1, 0, 4 };                 /* even token, no file yet */
    assert_int_equal(pcap_index_iter_init(&it, same_file_first, sizeof same_file_first), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);            /* stays bad */

    const uint8_t truncated[] = { 1, 0, 3, 0x80 };                 /* offset varint cut */
    assert_int_equal(pcap_index_iter_init(&it, truncated, sizeof truncated), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);

    const uint8_t zero_delta[] = { 1, 0, 3, 24, 0 };               /* offset += 0 */
    assert_int_equal(pcap_index_iter_init(&it, zero_delta, sizeof zero_delta), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), 1);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);
    assert_int_equal(pcap_index_iter_at(&it), 5);

    const uint8_t zero_file_delta[] = { 1, 0, 1, 24 };             /* file += 0 */
    assert_int_equal(pcap_index_iter_init(&it, zero_file_delta, sizeof zero_file_delta), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);

    /* 11-byte varint and a 10-byte one with bits past 64 */
    const uint8_t too_long[] = { 1, 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
    assert_int_equal(pcap_index_iter_init(&it, too_long, sizeof too_long), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);
    const uint8_t overflow[] = { 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0 };
    assert_int_equal(pcap_index_iter_init(&it, overflow, sizeof overflow), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);

    /* offset sum overflowing 64 bits */
    const uint8_t sum_overflow[] = { 1, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                     0x02 };
    assert_int_equal(pcap_index_iter_init(&it, sum_overflow, sizeof sum_overflow), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), 1);
    assert_int_equal(o, UINT64_MAX);
    assert_int_equal(pcap_index_next(&it, &f, &o), -1);

    const uint8_t empty[] = { 1, 0 };
    assert_int_equal(pcap_index_iter_init(&it, empty, sizeof empty), 0);
    assert_int_equal(pcap_index_next(&it, &f, &o), 0);
}

static void bad_pool_sizes_refused(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN];
    assert_null(pcap_index_new(3, err));
    assert_non_null(strstr(err, "chunks"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_many_positions),
        cmocka_unit_test(first_token_names_the_file),
        cmocka_unit_test(pool_exhaustion_flags_incomplete),
        cmocka_unit_test(gap_and_disorder_flag_the_list),
        cmocka_unit_test(decoder_refuses_malformed),
        cmocka_unit_test(bad_pool_sizes_refused),
        cmocka_unit_test(test_h2_positions_carry_the_store_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
