/* test_batcher.c -- records into journalled batches (batcher.h) over a real outbox: batches
 * close by count, and a batch the outbox cannot journal is dropped and counted, never kept
 * open to grow and be retried (issue 14 H3). The full disk is RLIMIT_FSIZE on the journal's
 * segment (writes past it fail with EFBIG, as a full file system's fail with ENOSPC). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "batcher.h"
#include "outbox.h"
#include "test_dir.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return test_dir_make(dir, sizeof dir, "/tmp", "test_batcher");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

static void record_init(Ashiato__SessionRecord *r, char *name)
{
    ashiato__session_record__init(r);
    r->id.data = (uint8_t *)name;
    r->id.len = strlen(name);
    r->observer_name = name;
    r->start_us = 1632833400000000LL;
    r->end_us = r->start_us + 1000;
}

static void batches_close_by_count(void **state)
{
    (void)state;
    struct outbox_config oc = { .max_bytes = 1 << 24, .segment_bytes = 1 << 22 };
    snprintf(oc.dir, sizeof oc.dir, "%s/j", dir);
    char err[ASH_ERR_LEN];
    struct outbox *ob = outbox_open(&oc, err);
    assert_non_null(ob);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct batcher_config bc = { 10, 1 << 20, 1000 };
    struct batcher *b = batcher_new(&bc, "s1", ob, &lock, err);
    assert_non_null(b);
    Ashiato__SessionRecord r;
    char id[] = "abcdefabcdefabcdefab";
    record_init(&r, id);
    for (int i = 0; i < 25; i++)
        assert_int_equal(batcher_add(b, &r), 0);
    assert_int_equal(batcher_flush(b, 0, true), 0);
    struct batcher_stats bs;
    batcher_stats(b, &bs);
    assert_int_equal(bs.records, 25);
    assert_int_equal(bs.batches, 3);
    struct outbox_stats os;
    outbox_stats(ob, &os);
    assert_int_equal(os.appended_batches, 3);
    assert_int_equal(os.appended_records, 25);
    batcher_free(b);
    outbox_close(ob);
}

/* Before the fix a failed append left the batch open: every later record grew it and retried
 * the append of the whole batch (O(n^2), 100% CPU, memory growing). Now each closed batch is
 * tried once: the failures are at most records / batch size, and every record is either
 * journalled or counted lost. */
static void test_h3_failed_batch_is_dropped_not_retried(void **state)
{
    (void)state;
    struct outbox_config oc = { .max_bytes = 1 << 24, .segment_bytes = 1 << 22 };
    snprintf(oc.dir, sizeof oc.dir, "%s/j", dir);
    char err[ASH_ERR_LEN];
    struct outbox *ob = outbox_open(&oc, err);
    assert_non_null(ob);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct batcher_config bc = { 50, 1 << 20, 1000 };
    struct batcher *b = batcher_new(&bc, "s1", ob, &lock, err);
    assert_non_null(b);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 64 << 10;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    Ashiato__SessionRecord r;
    char id[] = "abcdefabcdefabcdefab";
    record_init(&r, id);
    const int total = 20000;
    int failed_adds = 0;
    for (int i = 0; i < total; i++)
        failed_adds += batcher_add(b, &r) != 0;
    failed_adds += batcher_flush(b, 0, true) != 0;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    struct batcher_stats bs;
    struct outbox_stats os;
    batcher_stats(b, &bs);
    outbox_stats(ob, &os);
    assert_true(os.appended_batches > 0);
    assert_true(bs.lost_batches > 0);
    assert_int_equal(bs.lost_batches, (uint64_t)failed_adds);
    assert_int_equal(os.failed_batches, bs.lost_batches);      /* one try per batch */
    assert_true(os.failed_batches <= (uint64_t)total / 50);
    assert_int_equal(os.failed_records, bs.lost_records);
    assert_int_equal(os.appended_records + os.failed_records, (uint64_t)total);
    assert_int_equal(os.appended_batches + os.failed_batches, (uint64_t)total / 50);
    assert_non_null(strstr(batcher_error(b), strerror(EFBIG)));
    printf("h3: %d records, %llu journalled in %llu batches, %llu lost in %llu batches: %s\n",
           total, (unsigned long long)os.appended_records, (unsigned long long)os.appended_batches,
           (unsigned long long)os.failed_records, (unsigned long long)os.failed_batches,
           batcher_error(b));
    batcher_free(b);
    outbox_close(ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(batches_close_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h3_failed_batch_is_dropped_not_retried, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
