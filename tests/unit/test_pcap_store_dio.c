/* test_pcap_store_dio.c -- the pcap store's direct-I/O writer (pcap_store_dio.c) through
 * pcap_store.h: files written with O_DIRECT equal, byte for byte, the files of the buffered
 * writer; ring bytes mostly go to the disk where they lie; every packet handed out can be read
 * back before its file is finished; a writer killed with SIGKILL leaves a zero-padded last block
 * that the repair at the next open cuts; and a directory whose file system has no direct I/O
 * (tmpfs) is written buffered without being asked.
 *
 * Direct I/O needs a file system that has it: the temporary directories are made under
 * TMPDIR or /var/tmp (a disk file system on Debian), and each test asks statx itself whether
 * the directory supports direct I/O; where it does not, the test says so and checks the
 * buffered path instead (it never passes without checking something). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "pcap_format.h"
#include "pcap_store.h"
#include "test_dir.h"

#define T0 1632833400000000LL                 /* 2021-09-28T12:50:00Z */
#define N 3000

struct placed {
    uint64_t file, off;
    int64_t ts;
    uint32_t len;
};

static char base[300];

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);
    const char *t = getenv("TMPDIR");
    return test_dir_make(base, sizeof base, t && *t ? t : "/var/tmp", "test_pcap_store_dio");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(base);
    return 0;
}

/* the test's own answer to "does this directory's file system do direct I/O": statx of a file */
static size_t dio_align(const char *d)
{
    char p[400];
    snprintf(p, sizeof p, "%s/.probe", d);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    long rc = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx);
    close(fd);
    unlink(p);
    if (rc < 0 || !(sx.stx_mask & STATX_DIOALIGN) || !sx.stx_dio_mem_align)
        return 0;
    return sx.stx_dio_mem_align > sx.stx_dio_offset_align ? sx.stx_dio_mem_align : sx.stx_dio_offset_align;
}

static struct pcap_store_config config(const char *d, bool direct)
{
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = d;
    c.max_file_size = 256 << 10;
    c.ring_size = 1 << 20;
    c.flush_ms = 5;
    c.wait_when_full = true;
    c.direct_io = direct;
    return c;
}

static struct pcap_store *open_store(const struct pcap_store_config *c)
{
    char err[ASH_ERR_LEN] = "";
    struct pcap_store *st = pcap_store_open(c, "dio", 1, 65535, err);
    if (!st)
        fail_msg("open %s: %s", c->dir, err);
    return st;
}

static void subdir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", base, name);
    assert_int_equal(mkdir(out, 0700), 0);
}

static void packet_bytes(uint8_t *buf, uint32_t len, uint32_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 31 + i * 7);
}

/* packets of odd sizes (no record lands on a block boundary by design) */
static void append_all(struct pcap_store *st, struct placed *p, int from, int to)
{
    uint8_t buf[2000];
    for (int i = from; i < to; i++) {
        p[i].len = 43 + (uint32_t)(i * 389 % 1457);
        p[i].ts = T0 + i * 1000;
        packet_bytes(buf, p[i].len, (uint32_t)i);
        assert_int_equal(pcap_store_append(st, p[i].ts, buf, p[i].len, p[i].len, &p[i].file, &p[i].off), 0);
    }
}

static void read_back(struct pcap_store *st, const struct placed *p, int from, int to)
{
    struct pcap_catalog *cat = pcap_store_catalog(st);
    uint8_t got[2000 + PCAP_FORMAT_REC_HDR], want[2000];
    for (int i = from; i < to; i++) {
        struct pcap_catalog_file f;
        char path[1300];
        assert_int_equal(pcap_catalog_get(cat, p[i].file, &f), 0);
        assert_true(p[i].off + PCAP_FORMAT_REC_HDR + p[i].len <= f.size);
        pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, got, PCAP_FORMAT_REC_HDR + p[i].len, (off_t)p[i].off),
                         PCAP_FORMAT_REC_HDR + p[i].len);
        close(fd);
        struct pcap_format_rec r;
        assert_true(pcap_format_rec_parse(got, f.snaplen, &r));
        assert_int_equal(r.ts_us, p[i].ts);
        assert_int_equal(r.caplen, p[i].len);
        packet_bytes(want, p[i].len, (uint32_t)i);
        assert_memory_equal(got + PCAP_FORMAT_REC_HDR, want, p[i].len);
    }
}

/* the bytes of the file named name in directory d (NULL when absent); *len its size */
static uint8_t *slurp(const char *d, const char *name, size_t *len)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d, name);
    FILE *fp = fopen(p, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* every .pcap and .pcap.idx file of a is in b with the same bytes, and the other way round */
static int same_files(const char *a, const char *b)
{
    struct dirent **names;
    int n = scandir(a, &names, NULL, alphasort), files = 0;
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (strstr(nm, ".pcap")) {
            size_t la, lb;
            uint8_t *x = slurp(a, nm, &la), *y = slurp(b, nm, &lb);
            if (!y)
                fail_msg("%s is in %s, not in %s", nm, a, b);
            if (la != lb || memcmp(x, y, la) != 0)
                fail_msg("%s: %zu bytes direct, %zu buffered, or the bytes differ", nm, la, lb);
            free(x);
            free(y);
            files++;
        }
        free(names[i]);
    }
    free(names);
    return files;
}

static void direct_files_equal_buffered_files(void **state)
{
    (void)state;
    char da[400], db[400];
    subdir("direct", da, sizeof da);
    subdir("buffered", db, sizeof db);
    size_t align = dio_align(da);
    if (!align)
        print_message("note: %s has no direct I/O (statx): both stores write buffered\n", base);
    struct pcap_store_config ca = config(da, true), cb = config(db, false);
    struct pcap_store *sa = open_store(&ca), *sb = open_store(&cb);
    static struct placed pa[N], pb[N];
    /* half, then every position readable before any file is finished, then the rest */
    append_all(sa, pa, 0, N / 2);
    append_all(sb, pb, 0, N / 2);
    assert_int_equal(pcap_store_sync(sa, 5000), 0);
    read_back(sa, pa, 0, N / 2);
    append_all(sa, pa, N / 2, N);
    append_all(sb, pb, N / 2, N);
    assert_int_equal(pcap_store_wait_closed(sa, 5000), 0);
    assert_int_equal(pcap_store_wait_closed(sb, 5000), 0);
    read_back(sa, pa, 0, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pa[i].file, pb[i].file);
        assert_int_equal(pa[i].off, pb[i].off);
    }
    struct pcap_store_stats a, b;
    pcap_store_stats(sa, &a);
    pcap_store_stats(sb, &b);
    pcap_store_close(sa);
    pcap_store_close(sb);
    assert_int_equal(a.bytes_written, b.bytes_written);
    assert_int_equal(a.write_errors, 0);
    assert_true(a.files_opened >= 8);             /* ~2.2 MB in 256 KiB files */
    assert_int_equal(b.bytes_direct + b.bytes_staged, 0);
    if (align) {
        /* each byte once, either way; the file headers are staged too */
        assert_int_equal(a.bytes_direct + a.bytes_staged, a.bytes_written + a.files_opened * PCAP_FORMAT_FILE_HDR);
        /* the ring is laid out at each rotation so that its bytes go out where they lie */
        assert_true(a.bytes_direct > a.bytes_written / 2);
        print_message("direct I/O (align %zu): %llu bytes from the ring, %llu staged\n", align,
                      (unsigned long long)a.bytes_direct, (unsigned long long)a.bytes_staged);
    } else {
        assert_int_equal(a.bytes_direct + a.bytes_staged, 0);
    }
    /* finished files are exactly their records: no padding left */
    assert_true(same_files(da, db) >= 16);
    assert_true(same_files(db, da) >= 16);
}

static void sigkill_leaves_zero_tail_that_repair_cuts(void **state)
{
    (void)state;
    char d[400];
    subdir("crash", d, sizeof d);
    size_t align = dio_align(d);
    if (!align)
        print_message("note: %s has no direct I/O (statx): the crash is of the buffered writer\n", base);
    static struct placed p[N];
    struct pcap_store_config c = config(d, true);
    c.max_file_size = 1 << 30;                    /* one file, open at the kill */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {                               /* no cmocka asserts in the child */
        char err[ASH_ERR_LEN];
        uint8_t buf[2000];
        struct pcap_store *st = pcap_store_open(&c, "dio", 1, 65535, err);
        if (!st)
            _exit(2);
        for (int i = 0; i < N; i++) {
            uint32_t len = 43 + (uint32_t)(i * 389 % 1457);
            uint64_t f, o;
            packet_bytes(buf, len, (uint32_t)i);
            if (pcap_store_append(st, T0 + i * 1000, buf, len, len, &f, &o) != 0)
                _exit(3);
        }
        if (pcap_store_sync(st, 5000) < 0)
            _exit(4);
        raise(SIGKILL);                           /* no close: no final truncate */
        _exit(5);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* the parent's own copy of the positions (the same arithmetic as the child's) */
    uint64_t size = PCAP_FORMAT_FILE_HDR;
    for (int i = 0; i < N; i++) {
        p[i].len = 43 + (uint32_t)(i * 389 % 1457);
        p[i].ts = T0 + i * 1000;
        p[i].file = 1;
        p[i].off = size;
        size += PCAP_FORMAT_REC_HDR + p[i].len;
    }
    struct dirent **names;
    int n = scandir(d, &names, NULL, alphasort);
    char pcap[300] = "";
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]->d_name);
        if (l > 5 && !strcmp(names[i]->d_name + l - 5, ".pcap"))
            snprintf(pcap, sizeof pcap, "%s", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    assert_true(pcap[0]);
    size_t len;
    uint8_t *b = slurp(d, pcap, &len);
    assert_non_null(b);
    if (align) {
        /* what the kill left: whole blocks, the last one padded with zeros */
        assert_int_equal(len % align, 0);
        assert_true(len > size && len - size < align);
        for (size_t i = size; i < len; i++)
            assert_int_equal(b[i], 0);
    } else {
        assert_int_equal(len, size);
    }
    free(b);

    struct pcap_store *st = open_store(&c);
    struct pcap_catalog_file f;
    assert_int_equal(pcap_catalog_get(pcap_store_catalog(st), 1, &f), 0);
    assert_int_equal(f.state, PCAP_CATALOG_CLOSED);
    assert_int_equal(f.size, size);
    assert_int_equal(f.packets, N);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_int_equal(ss.repaired_files, 1);
    assert_int_equal(ss.repaired_bytes_dropped, align ? len - size : 0);
    read_back(st, p, 0, N);
    pcap_store_close(st);
    b = slurp(d, pcap, &len);
    assert_int_equal(len, size);                  /* the zeros are gone from the disk too */
    free(b);
}

static void tmpfs_is_written_buffered(void **state)
{
    (void)state;
    char d[300];
    if (test_dir_make(d, sizeof d, "/dev/shm", "test_pcap_store_dio") < 0)
        skip();                                   /* no /dev/shm here */
    size_t align = dio_align(d);
    struct pcap_store_config c = config(d, true);
    struct pcap_store *st = open_store(&c);
    static struct placed p[N];
    append_all(st, p, 0, N);
    assert_int_equal(pcap_store_wait_closed(st, 5000), 0);
    read_back(st, p, 0, N);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    pcap_store_close(st);
    test_dir_remove(d);
    print_message("/dev/shm: statx direct-I/O alignment %zu, %llu bytes direct, %llu staged\n", align,
                  (unsigned long long)ss.bytes_direct, (unsigned long long)ss.bytes_staged);
    if (align)
        assert_true(ss.bytes_direct + ss.bytes_staged > ss.bytes_written);
    else
        assert_int_equal(ss.bytes_direct + ss.bytes_staged, 0);
    assert_int_equal(ss.write_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(direct_files_equal_buffered_files, setup, teardown),
        cmocka_unit_test_setup_teardown(sigkill_leaves_zero_tail_that_repair_cuts, setup, teardown),
        cmocka_unit_test_setup_teardown(tmpfs_is_written_buffered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
