/* test_pcap_mmap.c -- the mapped pcap reader (pcap_mmap.h) against libpcap, and what reads
 * from it: capture.c's mapped path against its libpcap path, and the pcap store's writes by
 * reference (pcap_store_set_source) against its writes of copies, byte for byte.
 *
 * Every file is written here, then read by pcap_mmap and by libpcap (pcap_open_offline at
 * nanosecond precision + pcap_next_ex, the way capture.c reads it): the two must give the same
 * packets (time, caplen, wirelen, bytes) and end the same way (end of file, or an error with the
 * same text). Cases: each classic variant (either byte order, micro- and nanosecond), odd
 * timestamps, caplen above the file's snaplen, caplen above 262144 (both of libpcap's messages),
 * a file cut in a record header and in record data, a header-only file, and files the reader
 * must leave to libpcap (empty, not a capture, pcapng, version 2.3, swapped Linux cooked). */
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
#include <pcap/pcap.h>

#include "capture.h"
#include "log.h"
#include "mmap_lend.h"
#include "pcap_format.h"
#include "pcap_mmap.h"
#include "pcap_store.h"
#include "test_dir.h"

#define T0 1632833400LL                       /* 2021-09-28T12:50:00Z, seconds */
#define MAXP 64

static char dir[256];

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);
    return test_dir_make(dir, sizeof dir, "/tmp", "test_pcap_mmap");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

/* ---- writing files ------------------------------------------------------------------------ */

struct file_spec {
    bool big_endian, nano;
    uint16_t major, minor;
    uint32_t magic;                           /* 0: the variant's own */
    uint32_t snaplen, linktype;
};

struct buf {
    uint8_t b[1 << 20];
    size_t n;
};

static void put32(struct buf *o, uint32_t v, bool be)
{
    for (int i = 0; i < 4; i++)
        o->b[o->n++] = (uint8_t)(be ? v >> (24 - 8 * i) : v >> (8 * i));
}

static void put16(struct buf *o, uint16_t v, bool be)
{
    o->b[o->n++] = (uint8_t)(be ? v >> 8 : v);
    o->b[o->n++] = (uint8_t)(be ? v : v >> 8);
}

static void file_header(struct buf *o, const struct file_spec *f)
{
    o->n = 0;
    put32(o, f->magic ? f->magic : f->nano ? 0xa1b23c4d : 0xa1b2c3d4, f->big_endian);
    put16(o, f->major ? f->major : 2, f->big_endian);
    put16(o, f->major ? f->minor : 4, f->big_endian);
    put32(o, 0, f->big_endian);
    put32(o, 0, f->big_endian);
    put32(o, f->snaplen, f->big_endian);
    put32(o, f->linktype, f->big_endian);
}

/* a record with caplen bytes of a frame-like pattern (an Ethernet/IPv4 header, then filler) */
static void record(struct buf *o, const struct file_spec *f, uint32_t sec, uint32_t frac, uint32_t caplen,
                   uint32_t wirelen, uint8_t seed)
{
    put32(o, sec, f->big_endian);
    put32(o, frac, f->big_endian);
    put32(o, caplen, f->big_endian);
    put32(o, wirelen, f->big_endian);
    static const uint8_t eth_ip[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0 };
    for (uint32_t i = 0; i < caplen; i++)
        o->b[o->n++] = i < sizeof eth_ip ? eth_ip[i] : (uint8_t)(seed + i * 13);
}

/* a few ordinary packets, then the odd ones */
static void sample_records(struct buf *o, const struct file_spec *f)
{
    uint32_t frac_max = f->nano ? 999999999u : 999999u;
    for (int i = 0; i < 20; i++)
        record(o, f, (uint32_t)(T0 + i), (uint32_t)(i * 12345) % frac_max, 60 + (uint32_t)i * 71 % 1400,
               60 + (uint32_t)i * 71 % 1400 + (i % 3 ? 0 : 100), (uint8_t)i);
    record(o, f, (uint32_t)T0, frac_max, 64, 64, 1);             /* last fraction of a second */
    record(o, f, 0x80000000u, 5, 64, 64, 2);                      /* seconds above INT32_MAX */
    record(o, f, (uint32_t)T0, 0xffffffffu, 64, 64, 3);          /* fraction out of range */
    record(o, f, (uint32_t)T0, f->nano ? 1000000000u : 1000000u, 64, 64, 4);
    record(o, f, (uint32_t)T0, 7, 0, 0, 5);                       /* nothing captured */
    record(o, f, (uint32_t)T0, 8, 100, 40, 6);                    /* caplen above wirelen */
    record(o, f, (uint32_t)T0, 9, 9000, 9000, 7);                 /* a jumbo frame */
}

static void write_file(const char *name, const struct buf *o, size_t len, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(o->b, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* ---- reading both ways --------------------------------------------------------------------- */

struct pkt {
    int64_t ts_us;
    uint32_t caplen, wirelen;
    uint8_t sum[8];                           /* first bytes, for a quick look on failure */
    uint32_t hash;
};

struct result {
    struct pkt p[MAXP];
    int n;
    int end;                                  /* 0 end of file, -1 error */
    char err[PCAP_ERRBUF_SIZE];
};

static uint32_t fnv(const uint8_t *d, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 16777619u;
    return h;
}

static void keep(struct result *r, int64_t ts, uint32_t caplen, uint32_t wirelen, const uint8_t *d)
{
    assert_true(r->n < MAXP);
    struct pkt *p = &r->p[r->n++];
    p->ts_us = ts;
    p->caplen = caplen;
    p->wirelen = wirelen;
    memset(p->sum, 0, sizeof p->sum);
    memcpy(p->sum, d, caplen < 8 ? caplen : 8);
    p->hash = fnv(d, caplen);
}

/* libpcap as capture.c uses it; false if it cannot open the file */
static bool read_libpcap(const char *path, struct result *r)
{
    char err[PCAP_ERRBUF_SIZE];
    memset(r, 0, sizeof *r);
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!pc)
        return false;
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    /* ts_sec is unsigned in the file: Debian 12's libpcap 1.10.3 widens it with its sign,
     * the sensor does not (issue 14 M1; capture.c corrects libpcap's value the same way) */
    while ((rc = pcap_next_ex(pc, &h, &d)) == 1) {
        int64_t sec = (int64_t)h->ts.tv_sec;
        if (sec < 0 && sec >= INT32_MIN)
            sec += 1LL << 32;
        keep(r, sec * 1000000 + h->ts.tv_usec / 1000, h->caplen, h->len, d);
    }
    r->end = rc == PCAP_ERROR ? -1 : 0;
    if (rc == PCAP_ERROR)
        snprintf(r->err, sizeof r->err, "%s", pcap_geterr(pc));
    pcap_close(pc);
    return true;
}

static struct pcap_mmap *map_file(const char *path)
{
    char err[ASH_ERR_LEN] = "x";
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct pcap_mmap *m = pcap_mmap_open(fd, (uint64_t)st.st_size, err);
    close(fd);
    if (!m)
        assert_string_equal(err, "");         /* declined, not failed */
    return m;
}

static void read_mapped(struct pcap_mmap *m, struct result *r)
{
    memset(r, 0, sizeof *r);
    struct pcap_mmap_pkt p;
    int rc;
    while ((rc = pcap_mmap_next(m, &p)) == 1)
        keep(r, p.ts_us, p.caplen, p.wirelen, p.data);
    r->end = rc;
    if (rc < 0)
        snprintf(r->err, sizeof r->err, "%s", pcap_mmap_error(m));
    assert_int_equal(pcap_mmap_next(m, &p), 0);            /* stays at the end */
}

static void same(const struct result *a, const struct result *b, const char *what)
{
    if (a->n != b->n)
        fail_msg("%s: %d packets mapped, %d by libpcap", what, a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        const struct pkt *x = &a->p[i], *y = &b->p[i];
        if (x->ts_us != y->ts_us || x->caplen != y->caplen || x->wirelen != y->wirelen || x->hash != y->hash)
            fail_msg("%s: packet %d: mapped ts %lld caplen %u wirelen %u, libpcap ts %lld caplen %u "
                     "wirelen %u%s", what, i, (long long)x->ts_us, x->caplen, x->wirelen,
                     (long long)y->ts_us, y->caplen, y->wirelen, x->hash != y->hash ? ", bytes differ" : "");
    }
    if (a->end != b->end || strcmp(a->err, b->err) != 0)
        fail_msg("%s: mapped ends %d '%s', libpcap %d '%s'", what, a->end, a->err, b->end, b->err);
}

/* write, read both ways, compare; returns the number of packets */
static int check_file(const char *name, const struct buf *o, size_t len, int want_dlt)
{
    char path[400];
    struct result a, b;
    write_file(name, o, len, path, sizeof path);
    struct pcap_mmap *m = map_file(path);
    if (!m)
        fail_msg("%s: the mapped reader declined it", name);
    assert_int_equal(pcap_mmap_dlt(m), want_dlt);
    read_mapped(m, &a);
    pcap_mmap_release(m);
    assert_true(read_libpcap(path, &b));
    same(&a, &b, name);
    return a.n;
}

/* ---- the reader ---------------------------------------------------------------------------- */

static void each_variant_reads_as_libpcap(void **state)
{
    (void)state;
    static struct buf o;
    for (int v = 0; v < 4; v++) {
        struct file_spec f = { .big_endian = v & 1, .nano = v & 2, .snaplen = 65535, .linktype = 1 };
        char name[64];
        snprintf(name, sizeof name, "variant-%s-%s.pcap", f.big_endian ? "be" : "le", f.nano ? "ns" : "us");
        file_header(&o, &f);
        sample_records(&o, &f);
        assert_int_equal(check_file(name, &o, o.n, 1), 27);
        /* the header alone: no packets, no error */
        assert_int_equal(check_file("header-only.pcap", &o, 24, 1), 0);
    }
    /* LINKTYPE_RAW is DLT_RAW for libpcap; Linux cooked capture of this host's byte order */
    struct file_spec raw = { .snaplen = 65535, .linktype = 101 };
    file_header(&o, &raw);
    sample_records(&o, &raw);
    check_file("raw.pcap", &o, o.n, 12);
    struct file_spec sll = { .snaplen = 65535, .linktype = 113 };
    file_header(&o, &sll);
    sample_records(&o, &sll);
    check_file("sll.pcap", &o, o.n, 113);
}

/* pcap_mmap_pkt.canonical is true only when the input's record header is the one the pcap store
 * writes for the packet as handed out (and the store would not change caplen or wirelen), and
 * always then for little-endian microsecond files */
static void canonical_flag_marks_store_ready_headers(void **state)
{
    (void)state;
    static struct buf o;
    for (int v = 0; v < 4; v++) {
        struct file_spec f = { .big_endian = v & 1, .nano = v & 2, .snaplen = 1000, .linktype = 1 };
        char name[64], path[400];
        snprintf(name, sizeof name, "canon-%d.pcap", v);
        file_header(&o, &f);
        sample_records(&o, &f);                   /* with caplens above the snaplen: cut */
        write_file(name, &o, o.n, path, sizeof path);
        struct pcap_mmap *m = map_file(path);
        assert_non_null(m);
        struct pcap_mmap_pkt p;
        int n = 0, yes = 0;
        while (pcap_mmap_next(m, &p) == 1) {
            uint8_t hdr[PCAP_FORMAT_REC_HDR];
            pcap_format_rec_header(hdr, p.ts_us, p.caplen, p.wirelen);
            bool want = !memcmp(p.data - PCAP_FORMAT_REC_HDR, hdr, sizeof hdr) && p.caplen <= p.wirelen &&
                        p.ts_us >= 0;
            /* never when the bytes differ; for little-endian microseconds, whenever they agree
             * (a nanosecond file's header may agree by chance: false is always safe) */
            if (v == 0 ? p.canonical != want : p.canonical && !want)
                fail_msg("%s: packet %d (ts %lld caplen %u wirelen %u): canonical %d, expected %d", name,
                         n, (long long)p.ts_us, p.caplen, p.wirelen, p.canonical, want);
            yes += p.canonical;
            n++;
        }
        pcap_mmap_release(m);
        assert_int_equal(n, 27);
        if (v == 0)
            assert_true(yes >= 15 && yes < n);    /* most, not the odd ones */
        else
            assert_int_equal(yes, 0);             /* big-endian or nanoseconds: never */
    }
}

static void cut_files_end_as_libpcap(void **state)
{
    (void)state;
    static struct buf o;
    for (int v = 0; v < 4; v++) {
        struct file_spec f = { .big_endian = v & 1, .nano = v & 2, .snaplen = 65535, .linktype = 1 };
        file_header(&o, &f);
        size_t rec1 = o.n;
        record(&o, &f, (uint32_t)T0, 1, 100, 100, 1);
        size_t rec2 = o.n;
        record(&o, &f, (uint32_t)T0, 2, 300, 300, 2);
        size_t cuts[] = { rec1 + 1, rec1 + 15, rec1 + 16, rec1 + 60, rec2 - 1, rec2 + 8, rec2 + 16 + 299 };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "cut-%d-%zu.pcap", v, cuts[i]);
            int n = check_file(name, &o, cuts[i], 1);
            assert_int_equal(n, cuts[i] < rec2 ? 0 : 1);
        }
    }
    /* the messages themselves */
    struct file_spec f = { .snaplen = 65535, .linktype = 1 };
    file_header(&o, &f);
    record(&o, &f, (uint32_t)T0, 1, 100, 100, 1);
    char path[400];
    struct result a;
    write_file("cut-header.pcap", &o, 24 + 5, path, sizeof path);
    struct pcap_mmap *m = map_file(path);
    assert_non_null(m);
    read_mapped(m, &a);
    pcap_mmap_release(m);
    assert_int_equal(a.end, -1);
    assert_string_equal(a.err, "truncated dump file; tried to read 16 header bytes, only got 5");
    write_file("cut-data.pcap", &o, 24 + 16 + 30, path, sizeof path);
    m = map_file(path);
    read_mapped(m, &a);
    pcap_mmap_release(m);
    assert_string_equal(a.err, "truncated dump file; tried to read 100 captured bytes, only got 30");
}

static void caplen_above_snaplen_is_cut_as_libpcap(void **state)
{
    (void)state;
    static struct buf o;
    for (int v = 0; v < 4; v++) {
        struct file_spec f = { .big_endian = v & 1, .nano = v & 2, .snaplen = 64, .linktype = 1 };
        file_header(&o, &f);
        record(&o, &f, (uint32_t)T0, 1, 40, 40, 1);
        record(&o, &f, (uint32_t)T0, 2, 100, 100, 2);           /* cut to 64 */
        record(&o, &f, (uint32_t)T0, 3, 5000, 6000, 3);
        size_t end = o.n;
        record(&o, &f, (uint32_t)T0, 4, 200, 200, 4);
        assert_int_equal(check_file("snap64.pcap", &o, o.n, 1), 4);
        /* cut inside the first snaplen bytes of a long record, then past them */
        assert_int_equal(check_file("snap64-cut1.pcap", &o, end + 16 + 30, 1), 3);
        assert_int_equal(check_file("snap64-cut2.pcap", &o, end + 16 + 100, 1), 3);
    }
}

static void caplen_above_262144_stops_as_libpcap(void **state)
{
    (void)state;
    static struct buf o;
    struct result a;
    char path[400];
    /* above the file's snaplen (0 in the header: libpcap takes 262144) */
    struct file_spec f = { .snaplen = 0, .linktype = 1 };
    file_header(&o, &f);
    record(&o, &f, (uint32_t)T0, 1, 60, 60, 1);
    put32(&o, (uint32_t)T0, false), put32(&o, 2, false), put32(&o, 262145, false), put32(&o, 262145, false);
    memset(o.b + o.n, 0xab, 1000);
    o.n += 1000;
    assert_int_equal(check_file("huge1.pcap", &o, o.n, 1), 1);
    write_file("huge1.pcap", &o, o.n, path, sizeof path);
    struct pcap_mmap *m = map_file(path);
    read_mapped(m, &a);
    pcap_mmap_release(m);
    assert_string_equal(a.err, "invalid packet capture length 262145, bigger than snaplen of 262144");
    /* within a larger snaplen, above the maximum */
    f.snaplen = 300000;
    file_header(&o, &f);
    record(&o, &f, (uint32_t)T0, 1, 60, 60, 1);
    put32(&o, (uint32_t)T0, false), put32(&o, 2, false), put32(&o, 270000, false), put32(&o, 270000, false);
    assert_int_equal(check_file("huge2.pcap", &o, o.n, 1), 1);
    write_file("huge2.pcap", &o, o.n, path, sizeof path);
    m = map_file(path);
    read_mapped(m, &a);
    pcap_mmap_release(m);
    assert_string_equal(a.err, "invalid packet capture length 270000, bigger than maximum of 262144");
    /* 0xffffffff */
    file_header(&o, &f);
    put32(&o, (uint32_t)T0, false), put32(&o, 2, false), put32(&o, 0xffffffffu, false), put32(&o, 1, false);
    assert_int_equal(check_file("huge3.pcap", &o, o.n, 1), 0);
}

static void other_files_are_left_to_libpcap(void **state)
{
    (void)state;
    static struct buf o;
    char path[400];
    struct file_spec f = { .snaplen = 65535, .linktype = 1 };
    /* empty, shorter than a file header */
    write_file("empty.pcap", &o, 0, path, sizeof path);
    assert_null(map_file(path));
    file_header(&o, &f);
    write_file("short.pcap", &o, 23, path, sizeof path);
    assert_null(map_file(path));
    /* not a capture */
    memcpy(o.b, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n", 38);
    write_file("text.pcap", &o, 38, path, sizeof path);
    assert_null(map_file(path));
    /* pcapng: a section header block */
    static const uint8_t shb[] = { 0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0 };
    memcpy(o.b, shb, sizeof shb);
    write_file("ng.pcapng", &o, sizeof shb, path, sizeof path);
    assert_null(map_file(path));
    /* version 2.3 (caplen and len may be swapped), Kuznetzov's magic, an unknown link type,
     * Linux cooked capture of the other byte order (libpcap rewrites CAN ids in it) */
    struct file_spec odd[] = {
        { .major = 2, .minor = 3, .snaplen = 65535, .linktype = 1 },
        { .magic = 0xa1b2cd34, .snaplen = 65535, .linktype = 1 },
        { .snaplen = 65535, .linktype = 147 },
        { .big_endian = true, .snaplen = 65535, .linktype = 113 },
        { .big_endian = true, .snaplen = 65535, .linktype = 276 },
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        file_header(&o, &odd[i]);
        record(&o, &odd[i], (uint32_t)T0, 1, 60, 60, 1);
        write_file("odd.pcap", &o, o.n, path, sizeof path);
        assert_null(map_file(path));
    }
}

/* ---- capture.c: mapped and libpcap paths ---------------------------------------------------- */

static void read_capture(const char *path, const char *bpf, unsigned flags, struct result *r, bool *mapped)
{
    char err[ASH_ERR_LEN] = "";
    memset(r, 0, sizeof *r);
    struct capture *c = capture_open_file_flags(path, bpf, flags, err);
    if (!c)
        fail_msg("%s: %s", path, err);
    *mapped = capture_source(c) != NULL;
    struct capture_packet p;
    enum capture_next_result rc;
    while ((rc = capture_next(c, &p)) == CAPTURE_PACKET)
        keep(r, p.ts_us, p.caplen, p.wirelen, p.data);
    r->end = rc == CAPTURE_ERROR ? -1 : 0;
    if (rc == CAPTURE_ERROR)
        snprintf(r->err, sizeof r->err, "%s", capture_error(c));
    capture_close(c);
}

static void capture_paths_agree(void **state)
{
    (void)state;
    static struct buf o;
    char path[400];
    struct result a, b;
    bool ma, mb;
    struct file_spec f = { .nano = true, .snaplen = 65535, .linktype = 1 };
    file_header(&o, &f);
    sample_records(&o, &f);
    size_t cut = o.n - 100;
    write_file("cap.pcap", &o, cut, path, sizeof path);
    read_capture(path, NULL, 0, &a, &ma);
    read_capture(path, NULL, CAPTURE_FILE_NO_MMAP, &b, &mb);
    assert_true(ma);
    assert_false(mb);
    same(&a, &b, "capture");
    assert_int_equal(a.end, -1);
    assert_non_null(strstr(a.err, path));     /* "FILE: libpcap's words" both ways */
    /* a filter runs on mapped packets too: only the 9000-byte frame is longer than 2000 */
    write_file("cap.pcap", &o, o.n, path, sizeof path);
    read_capture(path, "greater 2000", 0, &a, &ma);
    read_capture(path, "greater 2000", CAPTURE_FILE_NO_MMAP, &b, &mb);
    same(&a, &b, "capture with a filter");
    assert_int_equal(a.n, 1);
    assert_int_equal(a.p[0].caplen, 9000);
}

/* ---- the store: references against copies --------------------------------------------------- */

struct placed {
    uint64_t file, off;
};

static struct pcap_store *open_store(const char *sub, int max_file_size)
{
    char d[400], err[ASH_ERR_LEN] = "";
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    assert_int_equal(mkdir(d, 0700), 0);
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = strdup(d);
    c.max_file_size = max_file_size;
    c.ring_size = 1 << 20;
    c.flush_ms = 5;
    c.wait_when_full = true;
    c.packet_clock = true;
    struct pcap_store *st = pcap_store_open(&c, "mm", 1, 262144, err);
    free((char *)c.dir);
    if (!st)
        fail_msg("store: %s", err);
    return st;
}

/* the concatenation of the store's pcap files in id order (names sort by time, then id) */
static size_t store_bytes(const char *sub, uint8_t *out, size_t cap)
{
    char d[400];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    struct dirent **names;
    int n = scandir(d, &names, NULL, alphasort);
    assert_true(n > 0);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t l = strlen(nm);
        if ((l > 5 && !strcmp(nm + l - 5, ".pcap")) || (l > 9 && !strcmp(nm + l - 9, ".pcap.idx"))) {
            char p[800];
            snprintf(p, sizeof p, "%s/%s", d, nm);
            FILE *fp = fopen(p, "rb");
            assert_non_null(fp);
            len += fread(out + len, 1, cap - len, fp);
            fclose(fp);
        }
        free(names[i]);
    }
    free(names);
    return len;
}

enum fill_mode {
    FILL_COPY,                                /* packets copied out of the mapping first */
    FILL_REF,                                 /* by reference; the store compares headers */
    FILL_REF_FLAG,                            /* by reference; the reader's canonical flag */
};

/* Append every packet of the files to a store, from the mapping (set_source) or from copies,
 * with a packet from elsewhere (a copy either way) between the files. */
static int fill_store(struct pcap_store *st, char paths[][400], int nfiles, enum fill_mode mode,
                      struct placed *out)
{
    bool by_ref = mode != FILL_COPY;
    int k = 0;
    uint8_t other[80], copy[9100];
    memset(other, 0x5a, sizeof other);
    for (int i = 0; i < nfiles; i++) {
        char err[ASH_ERR_LEN];
        struct capture *c = capture_open_file(paths[i], NULL, err);
        assert_non_null(c);
        assert_non_null(capture_source(c));
        if (by_ref)
            mmap_lend_to_store(st, capture_source(c));
        struct capture_packet p;
        while (capture_next(c, &p) == CAPTURE_PACKET) {
            const uint8_t *d = p.data;
            if (!by_ref) {
                memcpy(copy, p.data, p.caplen);
                d = copy;
            }
            if (p.caplen == 0)
                continue;                     /* the store rejects empty packets either way */
            if (mode == FILL_REF_FLAG)
                assert_int_equal(pcap_store_append_packet(st, p.ts_us, d, p.caplen, p.wirelen, p.file_record,
                                                          &out[k].file, &out[k].off), 0);
            else
                assert_int_equal(pcap_store_append(st, p.ts_us, d, p.caplen, p.wirelen, &out[k].file,
                                                   &out[k].off), 0);
            k++;
        }
        if (by_ref)
            mmap_lend_to_store(st, NULL);
        capture_close(c);                     /* the store may still hold the mapping */
        assert_int_equal(pcap_store_append(st, T0 * 1000000 + 999, other, sizeof other, sizeof other,
                                           &out[k].file, &out[k].off), 0);
        k++;
    }
    return k;
}

/* Issue 14 M1: ts_sec is unsigned. A record at 2^31 s (2038) or 2^32 - 1 s (2106) is a time
 * after 1970, never a negative one: read signed, the sensor made a record the aggregator
 * refused, and that one record held its whole stream. */
static void test_m1_ts_sec_above_2_31_is_unsigned(void **state)
{
    (void)state;
    static struct buf o;
    struct file_spec f = { .snaplen = 65535, .linktype = 1 };
    char path[512];
    file_header(&o, &f);
    record(&o, &f, 0x80000000u, 5, 64, 64, 1);
    record(&o, &f, 0xffffffffu, 6, 64, 64, 2);
    write_file("m1.pcap", &o, o.n, path, sizeof path);
    struct pcap_mmap *m = map_file(path);
    assert_non_null(m);
    struct pcap_mmap_pkt p;
    assert_int_equal(pcap_mmap_next(m, &p), 1);
    assert_true(p.ts_us == 2147483648LL * 1000000 + 5);
    assert_true(p.canonical);
    assert_int_equal(pcap_mmap_next(m, &p), 1);
    assert_true(p.ts_us == 4294967295LL * 1000000 + 6);
    assert_int_equal(pcap_mmap_next(m, &p), 0);
    pcap_mmap_release(m);
    /* and through capture.c, either path (libpcap 1.10.3 widens the field with its sign) */
    for (unsigned flags = 0; flags <= CAPTURE_FILE_NO_MMAP; flags += CAPTURE_FILE_NO_MMAP) {
        char err[ASH_ERR_LEN];
        struct capture *c = capture_open_file_flags(path, "", flags, err);
        assert_non_null(c);
        struct capture_packet cp;
        assert_int_equal(capture_next(c, &cp), CAPTURE_PACKET);
        assert_true(cp.ts_us == 2147483648LL * 1000000 + 5);
        assert_int_equal(capture_next(c, &cp), CAPTURE_PACKET);
        assert_true(cp.ts_us == 4294967295LL * 1000000 + 6);
        capture_close(c);
    }
}

/* Issue 14 M3: a file truncated while mapped (logrotate copytruncate, tcpdump -w restarted)
 * killed the sensor with SIGBUS. Now the walk ends with "file truncated while read" after
 * the records that are still whole in the file, and every packet it gave is a real one. */
static void test_m3_truncated_while_mapped_ends_early(void **state)
{
    (void)state;
    static struct buf o;
    struct file_spec f = { .snaplen = 65535, .linktype = 1 };
    char path[512];
    file_header(&o, &f);
    for (int i = 0; i < 600; i++)
        record(&o, &f, (uint32_t)(T0 + i), 0, 1500, 1500, (uint8_t)i);
    write_file("m3.pcap", &o, o.n, path, sizeof path);
    struct pcap_mmap *m = map_file(path);
    assert_non_null(m);
    struct pcap_mmap_pkt p;
    int n = 0, rc;
    for (; n < 10; n++)
        assert_int_equal(pcap_mmap_next(m, &p), 1);
    const off_t cut_at = 100003;     /* inside a page, inside a record */
    assert_int_equal(truncate(path, cut_at), 0);
    uint64_t size;
    const uint8_t *base = pcap_mmap_bytes(m, &size);
    while ((rc = pcap_mmap_next(m, &p)) == 1) {
        assert_true(p.ts_us == (T0 + n) * 1000000);          /* a real header, never zeros */
        assert_true(p.data - base - 16 < cut_at);              /* which began before the end */
        n++;
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(pcap_mmap_error(m), "file truncated while read"));
    assert_non_null(strstr(pcap_mmap_error(m), "100003 now"));
    /* every whole record, and at most the one the cut goes through (its tail in the cut page
     * reads as zeros: no fault tells that page from a whole one) */
    int whole = (int)((cut_at - 24) / (16 + 1500));
    assert_true(n == whole || n == whole + 1);
    assert_int_equal(pcap_mmap_next(m, &p), 0);
    pcap_mmap_release(m);
}

static void store_writes_references_as_copies(void **state)
{
    (void)state;
    static struct buf o;
    static uint8_t a[4 << 20], b[4 << 20], c[4 << 20];
    static struct placed pa[600], pb[600], pc[600];
    char paths[5][400];
    /* the four variants (only little-endian microseconds goes by whole records), a file of
     * many packets that spans several store files, and the same file again */
    for (int v = 0; v < 4; v++) {
        struct file_spec f = { .big_endian = v & 1, .nano = v & 2, .snaplen = 65535, .linktype = 1 };
        file_header(&o, &f);
        sample_records(&o, &f);
        char name[32];
        snprintf(name, sizeof name, "in-%d.pcap", v);
        write_file(name, &o, o.n, paths[v], sizeof paths[v]);
    }
    struct file_spec f = { .snaplen = 65535, .linktype = 1 };
    file_header(&o, &f);
    for (int i = 0; i < 400; i++)
        record(&o, &f, (uint32_t)(T0 + i / 10), (uint32_t)(i * 997 % 1000000), 60 + (uint32_t)(i * 37 % 1400),
               60 + (uint32_t)(i * 37 % 1400), (uint8_t)i);
    write_file("in-many.pcap", &o, o.n, paths[4], sizeof paths[4]);

    struct pcap_store *sa = open_store("ref", 64 << 10), *sb = open_store("copy", 64 << 10);
    struct pcap_store *sc = open_store("flag", 64 << 10);
    int na = fill_store(sa, paths, 5, FILL_REF, pa);
    int nb = fill_store(sb, paths, 5, FILL_COPY, pb);
    int nc = fill_store(sc, paths, 5, FILL_REF_FLAG, pc);
    assert_int_equal(na, nb);
    assert_int_equal(na, nc);
    for (int i = 0; i < na; i++) {
        assert_int_equal(pa[i].file, pb[i].file);
        assert_int_equal(pa[i].off, pb[i].off);
        assert_int_equal(pc[i].file, pb[i].file);
        assert_int_equal(pc[i].off, pb[i].off);
    }
    struct pcap_store_stats sta, stb, stc;
    assert_int_equal(pcap_store_wait_closed(sa, 5000), 0);
    assert_int_equal(pcap_store_wait_closed(sc, 5000), 0);
    pcap_store_stats(sa, &sta);
    pcap_store_stats(sb, &stb);
    pcap_store_stats(sc, &stc);
    assert_int_equal(sta.by_reference, na - 5);      /* all but the five from elsewhere */
    assert_int_equal(stc.by_reference, na - 5);
    assert_int_equal(stb.by_reference, 0);
    assert_true(sta.files_opened > 3);
    pcap_store_close(sa);
    pcap_store_close(sb);
    pcap_store_close(sc);
    size_t la = store_bytes("ref", a, sizeof a), lb = store_bytes("copy", b, sizeof b);
    size_t lc = store_bytes("flag", c, sizeof c);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(lc, lb);
    assert_memory_equal(c, b, lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_variant_reads_as_libpcap, setup, teardown),
        cmocka_unit_test_setup_teardown(canonical_flag_marks_store_ready_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_files_end_as_libpcap, setup, teardown),
        cmocka_unit_test_setup_teardown(caplen_above_snaplen_is_cut_as_libpcap, setup, teardown),
        cmocka_unit_test_setup_teardown(caplen_above_262144_stops_as_libpcap, setup, teardown),
        cmocka_unit_test_setup_teardown(other_files_are_left_to_libpcap, setup, teardown),
        cmocka_unit_test_setup_teardown(capture_paths_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(store_writes_references_as_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_m1_ts_sec_above_2_31_is_unsigned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_m3_truncated_while_mapped_ends_early, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
