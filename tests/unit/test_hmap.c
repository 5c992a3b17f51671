/* test_hmap.c -- common/hmap.c: put/get/replace/remove against a reference array, growth,
 * the cap and its counter, removal while iterating (backward shift), string keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hmap.h"

struct item {
    uint32_t key;
    int val;
    bool in;
};

static uint64_t u32_hash(const void *k, uint64_t seed)
{
    return hmap_hash_bytes(k, 4, seed);
}

/* a bad hash puts everything in few chains: exercises probing and backward shift */
static uint64_t u32_bad_hash(const void *k, uint64_t seed)
{
    (void)seed;
    return (*(const uint32_t *)k % 7) * 0x100000001ULL + 1;
}

static bool u32_equal(const void *a, const void *b)
{
    return *(const uint32_t *)a == *(const uint32_t *)b;
}

static const struct hmap_type good = { u32_hash, u32_equal }, bad = { u32_bad_hash, u32_equal };

static void churn(const struct hmap_type *t)
{
    enum { N = 5000 };
    struct item *items = calloc(N, sizeof *items);
    assert_non_null(items);
    struct hmap *m = hmap_new(t, 0, 42);
    assert_non_null(m);
    uint32_t r = 1;
    size_t live = 0;
    for (int step = 0; step < 60000; step++) {
        r = r * 1103515245u + 12345u;
        struct item *it = &items[(r >> 8) % N];
        it->key = (uint32_t)(it - items) * 2654435761u;
        if (it->in && (r & 1)) {
            assert_ptr_equal(hmap_remove(m, &it->key), it);
            it->in = false;
            live--;
        } else if (!it->in) {
            assert_int_equal(hmap_put(m, &it->key, it), 0);
            it->in = true;
            live++;
        }
        if (step % 997 == 0)
            for (int i = 0; i < N; i++) {
                uint32_t k = (uint32_t)i * 2654435761u;
                assert_ptr_equal(hmap_get(m, &k), items[i].in ? &items[i] : NULL);
            }
    }
    assert_int_equal(hmap_count(m), live);
    hmap_free(m);
    free(items);
}

static void put_get_remove_good_hash(void **s)
{
    (void)s;
    churn(&good);
}

static void put_get_remove_colliding_hash(void **s)
{
    (void)s;
    churn(&bad);
}

static void replace_returns_one(void **s)
{
    (void)s;
    struct hmap *m = hmap_new(&good, 0, 1);
    uint32_t k1 = 7, k2 = 7;
    int a = 1, b = 2;
    assert_int_equal(hmap_put(m, &k1, &a), 0);
    assert_int_equal(hmap_put(m, &k2, &b), 1);
    assert_ptr_equal(hmap_get(m, &k1), &b);
    assert_int_equal(hmap_count(m), 1);
    assert_null(hmap_remove(m, &(uint32_t){ 8 }));
    hmap_free(m);
    hmap_free(NULL);
}

static void cap_is_counted(void **s)
{
    (void)s;
    uint32_t keys[20];
    struct hmap *m = hmap_new(&good, 10, 1);
    for (uint32_t i = 0; i < 20; i++) {
        keys[i] = i;
        assert_int_equal(hmap_put(m, &keys[i], &keys[i]), i < 10 ? 0 : HMAP_ERR_FULL);
    }
    struct hmap_stats st = hmap_stats(m);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.full, 10);
    assert_true(st.slots <= 32);
    assert_null(hmap_get(m, &keys[15]));
    hmap_free(m);
}

static void remove_while_iterating(void **s)
{
    (void)s;
    for (int pass = 0; pass < 2; pass++) {
        enum { N = 3000 };
        uint32_t *keys = calloc(N, sizeof *keys);
        struct hmap *m = hmap_new(pass ? &bad : &good, 0, 9);
        for (uint32_t i = 0; i < N; i++) {
            keys[i] = i;
            assert_int_equal(hmap_put(m, &keys[i], &keys[i]), 0);
        }
        size_t it = 0, kept = 0;
        uint32_t *v;
        while ((v = hmap_next(m, &it, NULL))) {
            if (*v % 3 == 0)
                hmap_remove_iter(m, &it);
        }
        for (uint32_t i = 0; i < N; i++) {
            bool present = hmap_get(m, &keys[i]) != NULL;
            assert_int_equal(present, i % 3 != 0);
            kept += present;
        }
        assert_int_equal(hmap_count(m), kept);
        hmap_free(m);
        free(keys);
    }
}

static void string_keys(void **s)
{
    (void)s;
    static const struct hmap_type st = { hmap_hash_str, hmap_equal_str };
    struct hmap *m = hmap_new(&st, 0, 3);
    char a[] = "dept-1", b[] = "dept-1";
    assert_int_equal(hmap_put(m, a, a), 0);
    assert_ptr_equal(hmap_get(m, b), a);
    assert_null(hmap_get(m, "dept-2"));
    hmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_remove_good_hash),
        cmocka_unit_test(put_get_remove_colliding_hash),
        cmocka_unit_test(replace_returns_one),
        cmocka_unit_test(cap_is_counted),
        cmocka_unit_test(remove_while_iterating),
        cmocka_unit_test(string_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
