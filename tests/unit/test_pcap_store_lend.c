/* test_pcap_store_lend.c -- the pcap store's lending (pcap_store_lend, _append_lent, _release:
 * live capture's reader thread keeps each packet in the store's ring and the packet thread reads
 * it there): lent bytes are the packet's and stay so until released, a ring full of unreleased
 * bytes answers BUSY (nothing dropped, nothing changed) and works again after a release, a
 * record that wraps around the ring's end or was cut to the snaplen is not lent, and a producer
 * and a consumer thread (slow now and then) lending and releasing 200,000 packets of random
 * sizes through a 1 MiB ring see every byte right, and the files hold every packet in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "pcap_format.h"
#include "pcap_store.h"
#include "test_dir.h"

#define T0 1632833400000000LL

static char dir[256];

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);
    return test_dir_make(dir, sizeof dir, NULL, "test_pcap_store_lend");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

static struct pcap_store *open_store(int snaplen, bool wait)
{
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = dir;
    c.max_file_size = 4 << 20;
    c.ring_size = 1 << 20;
    c.flush_ms = 5;
    c.wait_when_full = wait;
    char err[ASH_ERR_LEN] = "";
    struct pcap_store *st = pcap_store_open(&c, "lend", 1, snaplen, err);
    if (!st)
        fail_msg("open: %s", err);
    pcap_store_lend(st);
    return st;
}

static uint32_t len_of(uint32_t i)
{
    return 40 + (uint32_t)((i * 2654435761u) >> 7) % 1461;    /* 40..1500, scattered */
}

static void fill(uint8_t *b, uint32_t len, uint32_t i)
{
    for (uint32_t k = 0; k < len; k++)
        b[k] = (uint8_t)(i * 13 + k * 7);
}

static bool same(const uint8_t *b, uint32_t len, uint32_t i)
{
    for (uint32_t k = 0; k < len; k++)
        if (b[k] != (uint8_t)(i * 13 + k * 7))
            return false;
    return true;
}

/* every record of the store's files, in file order, must be packet i = 0, 1, ... n-1 */
static void check_files(struct pcap_store *st, uint32_t n)
{
    struct pcap_catalog_file *v;
    size_t nf;
    assert_int_equal(pcap_catalog_snapshot(pcap_store_catalog(st), &v, &nf), 0);
    uint32_t i = 0;
    static uint8_t buf[8 << 20];
    for (size_t f = 0; f < nf; f++) {
        char path[1300];
        pcap_catalog_path(pcap_store_catalog(st), v[f].name, NULL, path, sizeof path);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        /* (the file being written may hold a zero-padded block past its catalogue size) */
        ssize_t got = pread(fd, buf, v[f].size, 0);
        close(fd);
        assert_int_equal(got, (ssize_t)v[f].size);
        for (size_t off = PCAP_FORMAT_FILE_HDR; off < (size_t)got; i++) {
            struct pcap_format_rec r;
            assert_true(pcap_format_rec_parse(buf + off, 65535, &r));
            if (r.caplen != len_of(i) || !same(buf + off + PCAP_FORMAT_REC_HDR, r.caplen, i))
                fail_msg("file %s: record of packet %u differs", v[f].name, i);
            off += PCAP_FORMAT_REC_HDR + r.caplen;
        }
    }
    free(v);
    assert_int_equal(i, n);
}

static void unreleased_bytes_make_busy_not_drops(void **state)
{
    (void)state;
    struct pcap_store *st = open_store(65535, false);
    enum { MAXN = 4000 };
    static const uint8_t *lent[MAXN];
    static uint64_t end[MAXN];
    uint8_t buf[1600];
    uint32_t n = 0, wrapped = 0;
    int rc;
    for (;;) {
        uint64_t f, o;
        fill(buf, len_of(n), n);
        rc = pcap_store_append_lent(st, T0 + n, buf, len_of(n), len_of(n), &f, &o, &lent[n], &end[n]);
        if (rc != 0)
            break;
        assert_true(end[n] > (n ? end[n - 1] : 0));
        wrapped += !lent[n];
        n++;
        assert_true(n < MAXN);
    }
    assert_int_equal(rc, PCAP_STORE_ERR_BUSY);
    assert_true(n > 600);                     /* ~1 MiB of packets of ~800 bytes */
    assert_int_equal(wrapped, 0);             /* nothing released: the ring never came round */
    assert_int_equal(pcap_store_sync(st, 5000), 0);   /* the writer is done with them ... */
    for (uint32_t i = 0; i < n; i++)          /* ... and they are still the packets */
        if (!same(lent[i], len_of(i), i))
            fail_msg("lent packet %u was overwritten before its release", i);
    uint64_t f, o;
    const uint8_t *l;
    uint64_t e;
    fill(buf, len_of(n), n);
    assert_int_equal(pcap_store_append_lent(st, T0 + n, buf, len_of(n), len_of(n), &f, &o, &l, &e),
                     PCAP_STORE_ERR_BUSY);    /* still busy: nothing changed */
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_int_equal(ss.dropped, 0);
    assert_int_equal(ss.packets, n);

    /* the consumer is done with the first half: room again, and the ring comes round */
    pcap_store_release(st, end[n / 2]);
    uint32_t m = n;
    for (;; m++) {
        fill(buf, len_of(m), m);
        rc = pcap_store_append_lent(st, T0 + m, buf, len_of(m), len_of(m), &f, &o, &l, &e);
        if (rc != 0)
            break;
        wrapped += !l;
        if (l && !same(l, len_of(m), m))
            fail_msg("lent packet %u: not its bytes", m);
    }
    assert_int_equal(rc, PCAP_STORE_ERR_BUSY);
    assert_true(m > n + n / 3);
    assert_int_equal(wrapped, 1);             /* the one record across the ring's end */
    for (uint32_t i = n / 2 + 1; i < n; i++)  /* the unreleased half is untouched */
        if (!same(lent[i], len_of(i), i))
            fail_msg("unreleased packet %u was overwritten", i);
    pcap_store_release(st, e);
    assert_int_equal(pcap_store_wait_closed(st, 5000), 0);
    check_files(st, m);
    pcap_store_close(st);
}

static void cut_packets_are_stored_not_lent(void **state)
{
    (void)state;
    struct pcap_store *st = open_store(100, false);
    uint8_t buf[500];
    uint64_t f, o, e;
    const uint8_t *l;
    fill(buf, sizeof buf, 1);
    assert_int_equal(pcap_store_append_lent(st, T0, buf, 500, 500, &f, &o, &l, &e), 0);
    assert_null(l);                           /* 100 bytes kept: not the packet the caller has */
    assert_true(e > 0);
    fill(buf, 80, 2);
    assert_int_equal(pcap_store_append_lent(st, T0 + 1, buf, 80, 80, &f, &o, &l, &e), 0);
    assert_non_null(l);
    assert_true(same(l, 80, 2));
    pcap_store_release(st, e);
    pcap_store_close(st);
}

/* ---- two threads ----------------------------------------------------------------------------- */

#define NPKT 200000

struct handoff {
    struct pcap_store *st;
    const uint8_t *lent[NPKT];
    uint64_t end[NPKT];
    _Atomic uint32_t produced;
    uint32_t busy;
    bool bad;
};

static void *producer(void *arg)
{
    struct handoff *h = arg;
    uint8_t buf[1600];
    for (uint32_t i = 0; i < NPKT; i++) {
        uint64_t f, o;
        fill(buf, len_of(i), i);
        int rc;
        while ((rc = pcap_store_append_lent(h->st, T0 + i, buf, len_of(i), len_of(i), &f, &o, &h->lent[i],
                                            &h->end[i])) == PCAP_STORE_ERR_BUSY) {
            h->busy++;
            sched_yield();
        }
        if (rc != 0) {
            h->bad = true;
            break;
        }
        atomic_store_explicit(&h->produced, i + 1, memory_order_release);
    }
    return NULL;
}

static void lending_between_two_threads(void **state)
{
    (void)state;
    static struct handoff h;
    memset(&h, 0, sizeof h);
    h.st = open_store(65535, true);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &h), 0);
    uint32_t seen = 0, lent = 0;
    while (seen < NPKT && !h.bad) {
        uint32_t p = atomic_load_explicit(&h.produced, memory_order_acquire);
        if (p == seen) {
            sched_yield();
            continue;
        }
        for (; seen < p; seen++) {
            if (h.lent[seen]) {
                lent++;
                if (!same(h.lent[seen], len_of(seen), seen))
                    fail_msg("packet %u: lent bytes differ", seen);
            }
            pcap_store_release(h.st, h.end[seen]);
            if (seen % 25000 == 0)
                usleep(5000);                 /* a slow moment: the producer must wait */
        }
    }
    pthread_join(t, NULL);
    assert_false(h.bad);
    assert_true(lent > NPKT - 1000);          /* all but the wrapped ones */
    assert_true(h.busy > 0);
    assert_int_equal(pcap_store_wait_closed(h.st, 10000), 0);
    struct pcap_store_stats ss;
    pcap_store_stats(h.st, &ss);
    assert_int_equal(ss.packets, NPKT);
    assert_int_equal(ss.dropped, 0);
    print_message("200000 packets lent and released (%u lent, producer busy %u times, %llu files)\n", lent,
                  h.busy, (unsigned long long)ss.files_opened);
    check_files(h.st, NPKT);
    pcap_store_close(h.st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unreleased_bytes_make_busy_not_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_packets_are_stored_not_lent, setup, teardown),
        cmocka_unit_test_setup_teardown(lending_between_two_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
