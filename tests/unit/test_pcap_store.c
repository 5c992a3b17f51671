/* test_pcap_store.c -- pcap_store (with pcap_catalog, pcap_format and pcap_retention) against
 * their headers, in a temporary directory: positions read back byte for byte, rotation by
 * size, age and link type, the catalogue across restarts, crash repair (a file left open and
 * cut mid-record, a torn catalogue line), retention by quota, age and free space, the ring
 * under pressure, and the directory lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "pcap_format.h"
#include "pcap_store.h"
#include "test_dir.h"

#define T0 1632833400000000LL                 /* 2021-09-28T12:50:00Z */

struct placed {
    uint64_t file, off;
    int64_t ts;
    uint32_t len;
    uint8_t fill;
};

static char dir[256];

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);
    return test_dir_make(dir, sizeof dir, "/tmp", "test_pcap_store");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

static struct pcap_store_config config(void)
{
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = dir;
    c.max_file_size = 64 << 10;
    c.ring_size = 1 << 20;
    c.flush_ms = 5;
    c.wait_when_full = true;
    return c;
}

static struct pcap_store *open_store(const struct pcap_store_config *c)
{
    char err[ASH_ERR_LEN] = "";
    struct pcap_store *st = pcap_store_open(c, "unit test/1", 1, 65535, err);
    if (!st)
        fail_msg("open: %s", err);
    return st;
}

static void packet_bytes(uint8_t *buf, uint32_t len, uint8_t fill)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(fill + i * 7);
}

static void append_n(struct pcap_store *st, struct placed *out, int n, int64_t t0, int64_t step_us)
{
    uint8_t buf[2000];
    for (int i = 0; i < n; i++) {
        struct placed *p = &out[i];
        p->len = 60 + (uint32_t)(i * 37 % 1400);
        p->fill = (uint8_t)i;
        p->ts = t0 + i * step_us;
        packet_bytes(buf, p->len, p->fill);
        assert_int_equal(pcap_store_append(st, p->ts, buf, p->len, p->len + 4, &p->file, &p->off), 0);
    }
}

/* read the record at a position through the catalogue and compare with what went in */
static void check_placed(struct pcap_catalog *cat, const struct placed *p)
{
    struct pcap_catalog_file f;
    char path[1300];
    uint8_t want[2000], got[2000 + PCAP_FORMAT_REC_HDR];
    assert_int_equal(pcap_catalog_get(cat, p->file, &f), 0);
    assert_int_equal(pcap_catalog_path(cat, f.name, NULL, path, sizeof path), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, got, PCAP_FORMAT_REC_HDR + p->len, (off_t)p->off),
                     PCAP_FORMAT_REC_HDR + p->len);
    close(fd);
    struct pcap_format_rec r;
    assert_true(pcap_format_rec_parse(got, f.snaplen, &r));
    assert_int_equal(r.ts_us, p->ts);
    assert_int_equal(r.caplen, p->len);
    assert_int_equal(r.wirelen, p->len + 4);
    packet_bytes(want, p->len, p->fill);
    assert_memory_equal(got + PCAP_FORMAT_REC_HDR, want, p->len);
}

static size_t snapshot(struct pcap_catalog *cat, struct pcap_catalog_file **v)
{
    size_t n;
    assert_int_equal(pcap_catalog_snapshot(cat, v, &n), 0);
    return n;
}

static void positions_read_back_and_files_rotate(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    struct pcap_store *st = open_store(&c);
    enum { N = 600 };
    static struct placed p[N];
    append_n(st, p, N, T0, 1000);
    assert_int_equal(pcap_store_sync(st, 2000), 0);
    struct pcap_catalog *cat = pcap_store_catalog(st);
    for (int i = 0; i < N; i++)
        check_placed(cat, &p[i]);                 /* readable before the file is closed */
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_int_equal(ss.packets, N);
    assert_int_equal(ss.dropped, 0);
    assert_int_not_equal(ss.current_file, 0);
    pcap_store_close(st);

    /* restart: the catalogue is intact, every file closed, sizes and names as written */
    st = open_store(&c);
    cat = pcap_store_catalog(st);
    struct pcap_catalog_file *v;
    size_t n = snapshot(cat, &v);
    assert_true(n >= 6);                          /* ~450 KiB in 64 KiB files */
    uint64_t packets = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        char path[1300];
        assert_int_equal(v[i].id, i + 1);
        assert_int_equal(v[i].state, PCAP_CATALOG_CLOSED);
        assert_false(v[i].cut);
        assert_true(v[i].size <= (uint64_t)c.max_file_size);
        assert_non_null(strstr(v[i].name, "unit_test_1-20210928T1250"));
        pcap_catalog_path(cat, v[i].name, NULL, path, sizeof path);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal((uint64_t)sb.st_size, v[i].size);
        assert_true(v[i].first_us <= v[i].last_us);
        packets += v[i].packets;
    }
    assert_int_equal(packets, N);
    for (int i = 0; i < N; i += 7)
        check_placed(cat, &p[i]);
    /* new packets go to a new file with the next id */
    struct placed more;
    uint8_t buf[100] = { 0 };
    assert_int_equal(pcap_store_append(st, T0 + 10000000, buf, 100, 100, &more.file, &more.off), 0);
    assert_int_equal(more.file, n + 1);
    assert_int_equal(more.off, PCAP_FORMAT_FILE_HDR);
    free(v);
    pcap_store_close(st);
}

static void rotation_by_age_and_link(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    c.max_file_size = 1 << 20;
    c.max_file_age = 10;
    struct pcap_store *st = open_store(&c);
    static struct placed p[40];
    append_n(st, p, 40, T0, 1000000);             /* 40 s of packets, one a second */
    pcap_store_set_link(st, 101, 2000);           /* raw IP from now on */
    uint8_t buf[3000];
    memset(buf, 0x45, sizeof buf);
    struct placed q;
    assert_int_equal(pcap_store_append(st, T0 + 41000000, buf, 3000, 3000, &q.file, &q.off), 0);
    pcap_store_close(st);

    st = open_store(&c);
    struct pcap_catalog_file *v;
    size_t n = snapshot(pcap_store_catalog(st), &v);
    assert_int_equal(n, 5);                       /* 4 of 10 s, then the raw IP file */
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(v[i].packets, 10);
        assert_true(v[i].last_us - v[i].first_us < 10000000);
        assert_int_equal(v[i].linktype, 1);
    }
    assert_int_equal(v[4].linktype, 101);
    assert_int_equal(v[4].snaplen, 2000);
    assert_int_equal(v[4].size, PCAP_FORMAT_FILE_HDR + PCAP_FORMAT_REC_HDR + 2000);   /* cut */
    assert_int_equal(q.file, 5);
    free(v);
    pcap_store_close(st);
}

static void crash_repair_truncates_to_last_whole_packet(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    c.max_file_size = 1 << 20;
    struct pcap_store *st = open_store(&c);
    static struct placed p[100];
    append_n(st, p, 100, T0, 1000);
    pcap_store_close(st);

    /* what a kill -9 leaves: the catalogue says open, the file ends mid-record, the sidecar
     * is gone, and the catalogue's last line is torn */
    char err[ASH_ERR_LEN], path[1300];
    struct pcap_catalog *cat = pcap_catalog_open(dir, err);
    assert_non_null(cat);
    struct pcap_catalog_file f;
    assert_int_equal(pcap_catalog_get(cat, 1, &f), 0);
    uint64_t full = f.size;
    f.state = PCAP_CATALOG_OPEN;
    f.size = PCAP_FORMAT_FILE_HDR;
    f.packets = 0;
    assert_int_equal(pcap_catalog_put(cat, &f, err), 0);
    pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
    assert_int_equal(truncate(path, (off_t)(p[90].off + 20)), 0);     /* inside record 90 */
    pcap_catalog_path(cat, f.name, ".idx", path, sizeof path);
    unlink(path);
    pcap_catalog_close(cat);
    snprintf(path, sizeof path, "%s/catalogue", dir);
    FILE *fp = fopen(path, "a");
    fputs("file id=1 state=expired first_us=0 last_us=0 size=0 pack", fp);
    fclose(fp);

    st = open_store(&c);
    cat = pcap_store_catalog(st);
    assert_int_equal(pcap_catalog_get(cat, 1, &f), 0);
    assert_int_equal(f.state, PCAP_CATALOG_CLOSED);   /* the torn line did not expire it */
    assert_true(f.cut);
    assert_int_equal(f.packets, 90);
    assert_int_equal(f.size, p[90].off);
    assert_true(f.size < full);
    assert_int_equal(f.first_us, p[0].ts);
    assert_int_equal(f.last_us, p[89].ts);
    struct stat sb;
    pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, p[90].off);
    pcap_catalog_path(cat, f.name, ".idx", path, sizeof path);
    assert_int_equal(stat(path, &sb), 0);             /* sidecar rebuilt */
    assert_true(sb.st_size > 0 && sb.st_size % PCAP_FORMAT_SEG_LEN == 0);
    for (int i = 0; i < 90; i++)
        check_placed(cat, &p[i]);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_int_equal(ss.repaired_files, 1);
    assert_int_equal(ss.repaired_bytes_dropped, 20);
    struct pcap_catalog_stats cs;
    pcap_catalog_stats(cat, &cs);
    assert_true(cs.bad_lines >= 1);
    pcap_store_close(st);

    /* garbage after whole records (a torn write of junk) goes too */
    cat = pcap_catalog_open(dir, err);
    assert_int_equal(pcap_catalog_get(cat, 1, &f), 0);
    f.state = PCAP_CATALOG_OPEN;
    assert_int_equal(pcap_catalog_put(cat, &f, err), 0);
    pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
    pcap_catalog_close(cat);
    fp = fopen(path, "a");
    fwrite("\xff\xff\xff\x7f garbage garbage garbage", 1, 28, fp);
    fclose(fp);
    st = open_store(&c);
    assert_int_equal(pcap_catalog_get(pcap_store_catalog(st), 1, &f), 0);
    assert_int_equal(f.size, p[90].off);
    assert_int_equal(f.packets, 90);
    pcap_store_close(st);
}

static void missing_file_becomes_expired(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    struct pcap_store *st = open_store(&c);
    static struct placed p[200];
    append_n(st, p, 200, T0, 1000);
    pcap_store_close(st);
    char path[1300];
    st = open_store(&c);
    struct pcap_catalog_file f;
    assert_int_equal(pcap_catalog_get(pcap_store_catalog(st), 1, &f), 0);
    pcap_catalog_path(pcap_store_catalog(st), f.name, NULL, path, sizeof path);
    pcap_store_close(st);
    unlink(path);
    st = open_store(&c);
    assert_int_equal(pcap_catalog_get(pcap_store_catalog(st), 1, &f), 0);
    assert_int_equal(f.state, PCAP_CATALOG_EXPIRED);
    pcap_store_close(st);
}

static void retention_quota_keeps_newest(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    c.retention.quota = 200 << 10;
    struct pcap_store *st = open_store(&c);
    static struct placed p[1500];
    append_n(st, p, 1500, T0, 1000);              /* ~1.1 MiB in 64 KiB files */
    assert_int_equal(pcap_store_sync(st, 2000), 0);
    struct pcap_store_stats ss;
    struct pcap_catalog_file *v = NULL;
    size_t n = 0;
    uint64_t live = 0, expired = 0;
    /* finished files are deleted once the closer thread has fsync'd and closed them */
    for (int tries = 0; tries < 500; tries++) {
        pcap_store_retention_now(st);
        free(v);
        n = snapshot(pcap_store_catalog(st), &v);
        live = 0;
        for (size_t i = 0; i < n; i++)
            live += v[i].state != PCAP_CATALOG_EXPIRED ? v[i].size : 0;
        if (live <= (uint64_t)c.retention.quota)
            break;
        usleep(10000);
    }
    pcap_store_stats(st, &ss);
    live = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1300];
        struct stat sb;
        pcap_catalog_path(pcap_store_catalog(st), v[i].name, NULL, path, sizeof path);
        if (v[i].state == PCAP_CATALOG_EXPIRED) {
            expired++;
            assert_int_equal(stat(path, &sb), -1);
            assert_true(i == 0 || v[i - 1].state == PCAP_CATALOG_EXPIRED);   /* oldest first */
        } else {
            live += v[i].size;
        }
    }
    assert_true(expired >= 10);
    assert_true(live <= (uint64_t)c.retention.quota);
    assert_int_equal(v[n - 1].state, PCAP_CATALOG_OPEN);    /* never the file being written */
    assert_int_equal(ss.retention.by_reason[PCAP_RETENTION_QUOTA], expired);
    assert_int_equal(ss.retention.deleted_files, expired);
    free(v);
    pcap_store_close(st);
}

static void retention_age_and_free_space(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    c.packet_clock = true;
    c.retention.max_age = 60;
    struct pcap_store *st = open_store(&c);
    static struct placed p[400];
    append_n(st, p, 400, T0, 1000000);            /* 400 s of packet time */
    /* retention only looks at closed files: wait for the closer thread, not just the writer
     * (with pcap_store_sync alone this raced on a loaded machine) */
    assert_int_equal(pcap_store_wait_closed(st, 10000), 0);
    pcap_store_retention_now(st);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_true(ss.retention.by_reason[PCAP_RETENTION_MAX_AGE] >= 1);
    struct pcap_catalog_file *v;
    size_t n = snapshot(pcap_store_catalog(st), &v);
    int64_t newest = p[399].ts;
    for (size_t i = 0; i < n; i++)
        if (v[i].state == PCAP_CATALOG_CLOSED)
            assert_true(v[i].last_us >= newest - 60000000);
    free(v);
    pcap_store_close(st);

    /* a threshold no disk meets: everything but the file being written goes */
    c.retention.max_age = 0;
    c.retention.min_free_percent = 99;
    st = open_store(&c);
    append_n(st, p, 100, T0 + 500000000, 1000);
    assert_int_equal(pcap_store_sync(st, 2000), 0);
    v = NULL;
    for (int tries = 0; tries < 500; tries++) {   /* until the closer has closed the others */
        pcap_store_retention_now(st);
        free(v);
        n = snapshot(pcap_store_catalog(st), &v);
        size_t gone = 0;
        for (size_t i = 0; i < n; i++)
            gone += v[i].state == PCAP_CATALOG_EXPIRED;
        if (gone + 1 == n)
            break;
        usleep(10000);
    }
    pcap_store_stats(st, &ss);
    assert_true(ss.retention.by_reason[PCAP_RETENTION_FREE_SPACE] >= 1);
    assert_true(ss.retention.starved >= 1);
    for (size_t i = 0; i + 1 < n; i++)
        assert_int_equal(v[i].state, PCAP_CATALOG_EXPIRED);
    assert_int_equal(v[n - 1].state, PCAP_CATALOG_OPEN);
    assert_int_equal(v[n - 1].id, ss.current_file);
    free(v);
    pcap_store_close(st);
}

static void small_ring_never_drops_when_waiting(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    c.max_file_size = 4 << 20;
    struct pcap_store *st = open_store(&c);
    uint8_t buf[1500];
    memset(buf, 0xab, sizeof buf);
    uint64_t f, o, last_f = 0, last_o = 0;
    for (int i = 0; i < 20000; i++) {             /* 30 MB through a 1 MiB ring */
        assert_int_equal(pcap_store_append(st, T0 + i, buf, sizeof buf, sizeof buf, &f, &o), 0);
        assert_true(f > last_f || o > last_o);
        last_f = f, last_o = o;
    }
    assert_int_equal(pcap_store_append(st, T0, buf, 0, 0, &f, &o), PCAP_STORE_ERR_PACKET);
    pcap_store_close(st);
    st = open_store(&c);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    struct pcap_catalog_file *v;
    size_t n = snapshot(pcap_store_catalog(st), &v);
    uint64_t packets = 0;
    for (size_t i = 0; i < n; i++)
        packets += v[i].packets;
    assert_int_equal(packets, 20000);
    free(v);
    pcap_store_close(st);
}

static void directory_is_locked(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    struct pcap_store *st = open_store(&c);
    char err[ASH_ERR_LEN] = "";
    assert_null(pcap_store_open(&c, "other", 1, 65535, err));
    assert_non_null(strstr(err, "in use"));
    c.max_file_size = 1000;
    assert_null(pcap_store_open(&c, "other", 1, 65535, err));
    assert_non_null(strstr(err, "pcap_max_file_size"));
    pcap_store_close(st);
}

/* The catalogue appends into blocks allocated ahead of its end (a full disk must not refuse
 * the line that records a finished file: test_pcap_retrieval's full-disk test saw that), and
 * a store whose catalogue cannot be rewritten at open on a full disk still opens. */
static void catalogue_appends_into_reserved_blocks(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN] = "", path[512];
    struct pcap_catalog *cat = pcap_catalog_open(dir, err);
    assert_non_null(cat);
    struct pcap_catalog_stats cs;
    pcap_catalog_stats(cat, &cs);
    snprintf(path, sizeof path, "%s/catalogue", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    if (cs.reserve_failures == 0)             /* a file system with fallocate (ext4, tmpfs) */
        assert_true((uint64_t)sb.st_blocks * 512 >= (uint64_t)sb.st_size + (512u << 10));
    struct pcap_catalog_file f = { .id = 1, .state = PCAP_CATALOG_CLOSED, .size = 24,
                                   .linktype = 1, .snaplen = 65535 };
    snprintf(f.name, sizeof f.name, "t-000001.pcap");
    for (int i = 0; i < 3000; i++) {          /* past the first reserve: it is topped up */
        f.packets = (uint64_t)i;
        assert_int_equal(pcap_catalog_put(cat, &f, err), 0);
    }
    pcap_catalog_stats(cat, &cs);
    assert_int_equal(cs.write_errors, 0);
    assert_int_equal(stat(path, &sb), 0);
    if (cs.reserve_failures == 0)
        assert_true((uint64_t)sb.st_blocks * 512 >= (uint64_t)sb.st_size + (512u << 10));
    pcap_catalog_close(cat);
    cat = pcap_catalog_open(dir, err);
    assert_non_null(cat);
    struct pcap_catalog_file g;
    assert_int_equal(pcap_catalog_get(cat, 1, &g), 0);
    assert_int_equal(g.packets, 2999);
    pcap_catalog_close(cat);
}

/* H2: a store has an identity, made at creation and kept in the catalogue across restarts;
 * the same directory wiped and recreated is another store (its file ids restart at 1). */
static void test_h2_store_id_kept_and_renewed(void **state)
{
    (void)state;
    struct pcap_store_config c = config();
    struct pcap_store *st = open_store(&c);
    struct placed p[3];
    append_n(st, p, 3, T0, 1000);
    uint64_t id = pcap_catalog_store_id(pcap_store_catalog(st));
    assert_true(id != 0);
    pcap_store_close(st);
    st = open_store(&c);                      /* restart: the same store */
    assert_true(pcap_catalog_store_id(pcap_store_catalog(st)) == id);
    pcap_store_close(st);
    test_dir_remove(dir);                     /* pcap_dir wiped, recreated at the same path */
    st = open_store(&c);
    uint64_t again = pcap_catalog_store_id(pcap_store_catalog(st));
    assert_true(again != 0 && again != id);
    print_message("    store id %016llx, after a wipe %016llx\n", (unsigned long long)id,
                  (unsigned long long)again);
    pcap_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(positions_read_back_and_files_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_by_age_and_link, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_repair_truncates_to_last_whole_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_becomes_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_quota_keeps_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_age_and_free_space, setup, teardown),
        cmocka_unit_test_setup_teardown(small_ring_never_drops_when_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(catalogue_appends_into_reserved_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_store_id_kept_and_renewed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
