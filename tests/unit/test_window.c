/* test_window.c -- common/window.c: distinct counting, the threshold raised once, the sliding
 * window (old values do not count), duplicates, expiry through the callback, the key cap, an
 * entry found ahead (window_prefetch_entry, window_add_entry, window_generation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "window.h"

#define S 1000000LL

static const struct window_config cfg = { 300 * S, 5, 64, 4 };

static void raises_once_at_threshold(void **s)
{
    (void)s;
    struct window *w = window_new(&cfg, 4, 1);
    uint32_t key = 10;
    struct window_entry *e;
    for (uint64_t x = 1; x <= 4; x++)
        assert_int_equal(window_add(w, &key, x, (int64_t)x * S, 0, &e), WINDOW_NEW);
    assert_int_equal(window_add(w, &key, 4, 5 * S, 0, &e), WINDOW_DUP);
    assert_int_equal(window_add(w, &key, 5, 6 * S, 0, &e), WINDOW_RAISE);
    assert_true(e->raised);
    assert_int_equal(window_add(w, &key, 6, 7 * S, 0, &e), WINDOW_NEW);
    assert_int_equal(e->total, 6);
    assert_int_equal(e->first_us, 1 * S);
    assert_int_equal(e->last_us, 7 * S);
    window_free(w, NULL);
}

static void old_values_leave_the_window(void **s)
{
    (void)s;
    struct window *w = window_new(&cfg, 4, 1);
    uint32_t key = 10;
    /* one value every 100 s: never more than 4 inside 300 s */
    for (uint64_t x = 1; x <= 20; x++)
        assert_int_equal(window_add(w, &key, x, (int64_t)x * 100 * S, 0, NULL), WINDOW_NEW);
    /* then 5 within a minute */
    int rc = 0;
    for (uint64_t x = 100; x < 105; x++)
        rc = window_add(w, &key, x, 3000 * S + (int64_t)x * S, 0, NULL);
    assert_int_equal(rc, WINDOW_RAISE);
    window_free(w, NULL);
}

static void own_threshold_per_add(void **s)
{
    (void)s;
    struct window *w = window_new(&cfg, 4, 1);
    uint32_t key = 1;
    assert_int_equal(window_add(w, &key, 1, S, 2, NULL), WINDOW_NEW);
    assert_int_equal(window_add(w, &key, 2, S, 2, NULL), WINDOW_RAISE);
    window_free(w, NULL);
}

static int expired;
static void on_expire(struct window_entry *e, void *ctx)
{
    (void)ctx;
    expired++;
    free(e->user);
}

static void expiry_and_cap(void **s)
{
    (void)s;
    struct window *w = window_new(&cfg, 4, 1);
    struct window_entry *e;
    for (uint32_t k = 0; k < 6; k++) {
        int rc = window_add(w, &k, 1, k * S, 0, &e);
        assert_int_equal(rc, k < 4 ? WINDOW_NEW : WINDOW_ERR_FULL);
        if (rc == WINDOW_NEW)
            e->user = malloc(8);
    }
    struct window_stats st = window_stats(w);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.full, 2);
    assert_true(st.bytes > 0);
    expired = 0;
    /* keys 0 and 1 are older than 300 s at 302 s */
    assert_int_equal(window_expire(w, 302 * S, on_expire, NULL), 2);
    assert_int_equal(expired, 2);
    assert_null(window_get(w, &(uint32_t){ 0 }));
    assert_non_null(window_get(w, &(uint32_t){ 3 }));
    window_free(w, free);
}

static void values_beyond_max_distinct_are_counted(void **s)
{
    (void)s;
    struct window *w = window_new(&cfg, 4, 1);
    uint32_t key = 1;
    struct window_entry *e = NULL;
    for (uint64_t x = 0; x < 100; x++)
        assert_true(window_add(w, &key, x * 7919, S, 0, &e) >= WINDOW_NEW);
    assert_int_equal(e->total, 100);
    assert_int_equal(e->distinct, 64);
    assert_int_equal(window_stats(w).dropped_values, 36);
    window_free(w, NULL);
}

/* an entry found ahead (window_prefetch_entry) takes adds as window_add would, and stays
 * valid while window_generation does not move: only an expiry that removes entries moves it */
static void entry_found_ahead(void **s)
{
    (void)s;
    const struct window_config c = { 1000000, 3, 16, 0 };
    struct window *w = window_new(&c, 16, 9), *ref = window_new(&c, 16, 9);
    uint8_t k[16] = { 1, 2, 3 };
    uint64_t h = window_key_hash(w, k);
    assert_null(window_prefetch_entry(w, k, h, 5));          /* no entry yet */
    assert_int_equal(window_add_hash(w, k, h, 5, 100, 0, NULL), WINDOW_NEW);
    assert_int_equal(window_add(ref, k, 5, 100, 0, NULL), WINDOW_NEW);
    uint64_t gen = window_generation(w);
    struct window_entry *e = window_prefetch_entry(w, k, h, 6);
    assert_non_null(e);
    assert_ptr_equal(e, window_get(w, k));
    static const uint64_t xs[] = { 6, 5, 7, 8 };
    for (size_t i = 0; i < 4; i++) {
        struct window_entry *o1, *o2;
        assert_int_equal(window_add_entry(w, e, xs[i], 200 + (int64_t)i, 0, &o1),
                         window_add(ref, k, xs[i], 200 + (int64_t)i, 0, &o2));
        assert_ptr_equal(o1, e);
        assert_int_equal(o1->distinct, o2->distinct);
        assert_int_equal(o1->total, o2->total);
        assert_int_equal(o1->raised, o2->raised);
    }
    assert_int_equal(window_expire(w, 500000, NULL, NULL), 0);   /* nothing went */
    assert_int_equal(window_generation(w), gen);
    assert_int_equal(window_expire(w, 5000000, NULL, NULL), 1);
    assert_true(window_generation(w) != gen);                  /* e is gone: look it up */
    assert_null(window_prefetch_entry(w, k, h, 5));
    window_free(w, NULL);
    window_free(ref, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raises_once_at_threshold),
        cmocka_unit_test(old_values_leave_the_window),
        cmocka_unit_test(own_threshold_per_add),
        cmocka_unit_test(expiry_and_cap),
        cmocka_unit_test(values_beyond_max_distinct_are_counted),
        cmocka_unit_test(entry_found_ahead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
