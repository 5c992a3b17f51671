/* test_packet_service.c -- packet_service against its header over a real store in a
 * temporary directory: a session's packets byte for byte (across files, in chunks, from the
 * file still being written), time range + BPF queries, limits, expired and lost files, and
 * every kind of bad request, including an offset aimed at a fake record header planted
 * inside a packet's payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "packet_service.h"
#include "pcap_format.h"
#include "pcap_index.h"

#define T0 1632833400000000LL
#define ST(x) ASHIATO__PACKET_RESPONSE__STATUS__##x
#define NFLOWS 3
#define NPKT 900

static char dir[256];
static struct pcap_store *store;
static struct pcap_index *idx;
static struct packet_service *svc;
static uint32_t handle[NFLOWS];
static struct sent { int flow; int64_t ts; uint32_t len; uint64_t file, off; uint8_t frame[1600]; } sent[NPKT];

/* everything the emit callback saw */
static struct {
    uint8_t *pcap;
    size_t len;
    int chunks, last_status;
    char error[ASH_ERR_LEN];
    bool bad_order;
} got;

static int collect(void *ctx, const Ashiato__PacketResponse *r)
{
    (void)ctx;
    if (r->chunk != (uint32_t)got.chunks || got.last_status != ST(MORE))
        got.bad_order = true;
    got.pcap = realloc(got.pcap, got.len + r->pcap.len + 1);
    memcpy(got.pcap + got.len, r->pcap.data, r->pcap.len);
    got.len += r->pcap.len;
    got.chunks++;
    got.last_status = (int)r->status;
    snprintf(got.error, sizeof got.error, "%s", r->error ? r->error : "");
    return 0;
}

static int ask(Ashiato__PacketRequest *req)
{
    free(got.pcap);
    memset(&got, 0, sizeof got);
    got.last_status = ST(MORE);
    int st = packet_service_answer(svc, req, collect, NULL);
    assert_false(got.bad_order);
    assert_int_equal(st, got.last_status);
    return st;
}

/* Ethernet + IPv4 + TCP from 10.0.0.1:port to 10.0.0.2:80, payload of `pay` bytes */
static uint32_t frame(uint8_t *f, uint16_t port, uint32_t pay, uint8_t fill)
{
    memset(f, 0, 54);
    f[12] = 0x08;
    f[14] = 0x45;
    uint32_t iplen = 40 + pay;
    f[16] = (uint8_t)(iplen >> 8), f[17] = (uint8_t)iplen;
    f[22] = 64, f[23] = 6;
    f[26] = 10, f[29] = 1, f[30] = 10, f[33] = 2;
    f[34] = (uint8_t)(port >> 8), f[35] = (uint8_t)port, f[37] = 80;
    f[46] = 0x50, f[47] = 0x18;
    for (uint32_t i = 0; i < pay; i++)
        f[54 + i] = (uint8_t)(fill + i);
    return 54 + pay;
}

static int setup(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "/tmp/test_packet_service.XXXXXX");
    assert_non_null(mkdtemp(dir));
    log_set_level(LOG_LEVEL_ERROR);
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = dir;
    c.max_file_size = 64 << 10;
    c.ring_size = 1 << 20;
    c.flush_ms = 5;
    c.wait_when_full = true;
    assert_non_null(store = pcap_store_open(&c, "svc", 1, 65535, err));
    assert_non_null(idx = pcap_index_new(1 << 14, err));
    pcap_index_set_store_id(idx, pcap_catalog_store_id(pcap_store_catalog(store)));
    struct packet_service_config sc;
    packet_service_config_defaults(&sc);
    sc.chunk_size = 8192;
    sc.sync_ms = 2000;
    assert_non_null(svc = packet_service_new(&sc, store, err));
    for (int i = 0; i < NPKT; i++) {
        struct sent *s = &sent[i];
        s->flow = i % NFLOWS;
        s->ts = T0 + i * 1000;
        s->len = frame(s->frame, (uint16_t)(1111 * (s->flow + 1)), (uint32_t)(i * 13 % 1200), (uint8_t)i);
        if (i == 10) {
            /* a payload that holds a perfectly sane record header: a trap for offsets */
            uint8_t fake[PCAP_FORMAT_REC_HDR];
            pcap_format_rec_header(fake, s->ts, 60, 60);
            memcpy(s->frame + 54, fake, sizeof fake);
        }
        assert_int_equal(pcap_store_append(store, s->ts, s->frame, s->len, s->len, &s->file, &s->off), 0);
        assert_int_equal(pcap_index_add(idx, &handle[s->flow], s->file, s->off), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    packet_service_free(svc);
    pcap_store_close(store);
    pcap_index_free(idx);
    free(got.pcap);
    memset(&got, 0, sizeof got);
    memset(handle, 0, sizeof handle);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' || e->d_name[1] == 'l')
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return 0;
}

/* the pcap records (no file header) the test expects for a predicate over sent[] */
static size_t expected(bool (*want)(const struct sent *, const void *), const void *arg, uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < NPKT; i++) {
        if (!want(&sent[i], arg))
            continue;
        pcap_format_rec_header(out + n, sent[i].ts, sent[i].len, sent[i].len);
        memcpy(out + n + PCAP_FORMAT_REC_HDR, sent[i].frame, sent[i].len);
        n += PCAP_FORMAT_REC_HDR + sent[i].len;
    }
    return n;
}

static bool of_flow(const struct sent *s, const void *arg) { return s->flow == *(const int *)arg; }

static void check_answer(bool (*want)(const struct sent *, const void *), const void *arg)
{
    static uint8_t exp[NPKT * 1700];
    size_t n = expected(want, arg, exp);
    uint32_t link, snap;
    assert_true(got.len >= PCAP_FORMAT_FILE_HDR);
    assert_int_equal(pcap_format_parse_file_header(got.pcap, got.len, &link, &snap), 0);
    assert_int_equal(link, 1);
    assert_int_equal(got.len - PCAP_FORMAT_FILE_HDR, n);
    assert_memory_equal(got.pcap + PCAP_FORMAT_FILE_HDR, exp, n);
}

static Ashiato__PacketRequest session_req(int flow, uint8_t *buf, size_t cap)
{
    Ashiato__PacketRequest r = ASHIATO__PACKET_REQUEST__INIT;
    r.request_id = 42;
    r.packet_pos.len = pcap_index_encode(idx, handle[flow], buf, cap);
    r.packet_pos.data = buf;
    assert_true(r.packet_pos.len > 2);
    return r;
}

static void session_packets_byte_identical(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    for (int flow = 0; flow < NFLOWS; flow++) {
        Ashiato__PacketRequest r = session_req(flow, buf, sizeof buf);
        assert_int_equal(ask(&r), ST(OK));
        assert_true(got.chunks > 1);              /* 8 KiB chunks */
        assert_string_equal(got.error, "");
        check_answer(of_flow, &flow);
    }
    assert_true(sent[NPKT - 1].file > 4);         /* the sessions span files */
    struct packet_service_stats ss;
    packet_service_stats(svc, &ss);
    assert_int_equal(ss.by_status[ST(OK)], NFLOWS);
    assert_int_equal(ss.packets, NPKT);
}

struct range { int64_t a, b; uint16_t port; };
static bool in_range(const struct sent *s, const void *arg)
{
    const struct range *r = arg;
    return s->ts >= r->a && s->ts <= r->b && (!r->port || 1111 * (s->flow + 1) == r->port);
}

static void time_range_and_bpf(void **state)
{
    (void)state;
    Ashiato__PacketRequest r = ASHIATO__PACKET_REQUEST__INIT;
    struct range rg = { T0 + 100000, T0 + 700000, 2222 };
    r.start_us = rg.a;
    r.end_us = rg.b;
    r.bpf = "tcp and port 2222 and host 10.0.0.2";
    assert_int_equal(ask(&r), ST(OK));
    check_answer(in_range, &rg);

    rg.port = 0;
    r.bpf = "";
    assert_int_equal(ask(&r), ST(OK));
    check_answer(in_range, &rg);

    r.start_us = T0 - 10000000;                   /* before anything: an empty pcap */
    r.end_us = T0 - 5000000;
    assert_int_equal(ask(&r), ST(OK));
    assert_int_equal(got.len, PCAP_FORMAT_FILE_HDR);

    r.start_us = T0;                              /* the limit: what fits, then TOO_LARGE */
    r.end_us = T0 + 10000000;
    r.max_packets = 50;
    assert_int_equal(ask(&r), ST(TOO_LARGE));
    assert_non_null(strstr(got.error, "limit"));
    rg.a = T0, rg.b = T0 + 49 * 1000, rg.port = 0;
    check_answer(in_range, &rg);

    r.max_packets = 0;
    r.bpf = "tcp and port";
    assert_int_equal(ask(&r), ST(BAD_REQUEST));
    assert_non_null(strstr(got.error, "bpf"));
    assert_int_equal(got.len, 0);
}

static void bad_requests_get_errors(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    uint8_t pos[32];
    Ashiato__PacketRequest r = session_req(0, buf, sizeof buf);

    r.max_packets = 5;
    assert_int_equal(ask(&r), ST(TOO_LARGE));
    r.max_packets = 0;
    r.max_bytes = 2000;
    assert_int_equal(ask(&r), ST(TOO_LARGE));
    assert_int_equal(got.len, 0);
    r.max_bytes = 0;
    r.start_us = T0;
    r.end_us = T0 + 1;
    assert_int_equal(ask(&r), ST(BAD_REQUEST));
    assert_non_null(strstr(got.error, "not both"));

    Ashiato__PacketRequest e = ASHIATO__PACKET_REQUEST__INIT;
    assert_int_equal(ask(&e), ST(BAD_REQUEST));            /* neither */
    e.start_us = 10, e.end_us = 5;
    assert_int_equal(ask(&e), ST(BAD_REQUEST));

    /* hand-made positions: (file, offset) */
    struct { uint64_t file, off; int status; const char *text; } cases[] = {
        { 99, 24, ST(NOT_FOUND), "no such file" },
        { 1, 5, ST(BAD_REQUEST), "outside" },
        { 1, 1ull << 40, ST(BAD_REQUEST), "outside" },
        { sent[3].file, sent[3].off + 1, ST(BAD_REQUEST), "does not start" },
        { sent[10].file, sent[10].off + PCAP_FORMAT_REC_HDR + 54, ST(BAD_REQUEST), "does not start" },
        { sent[11].file, sent[11].off, ST(OK), "" },
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(cases); i++) {
        uint32_t h = 0;
        assert_int_equal(pcap_index_add(idx, &h, cases[i].file, cases[i].off), 0);
        Ashiato__PacketRequest q = ASHIATO__PACKET_REQUEST__INIT;
        q.packet_pos.data = pos;
        q.packet_pos.len = pcap_index_encode(idx, h, pos, sizeof pos);
        pcap_index_release(idx, &h);
        assert_int_equal(ask(&q), cases[i].status);
        assert_non_null(strstr(got.error, cases[i].text));
    }

    /* packet_files that do not list the positions' file */
    Ashiato__PacketFile pf = ASHIATO__PACKET_FILE__INIT, *pfs[1] = { &pf };
    pf.file_id = 77;
    r.n_packet_files = 1;
    r.packet_files = pfs;
    r.start_us = r.end_us = 0;
    assert_int_equal(ask(&r), ST(BAD_REQUEST));
    assert_non_null(strstr(got.error, "packet_files"));

    /* malformed encodings and messages */
    const uint8_t bad_pos[] = { 1, 0, 3 };
    Ashiato__PacketRequest b = ASHIATO__PACKET_REQUEST__INIT;
    b.packet_pos.data = (uint8_t *)bad_pos;
    b.packet_pos.len = sizeof bad_pos;
    assert_int_equal(ask(&b), ST(BAD_REQUEST));
    assert_non_null(strstr(got.error, "malformed"));
    const uint8_t junk[] = { 0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 };
    free(got.pcap);
    memset(&got, 0, sizeof got);
    got.last_status = ST(MORE);
    assert_int_equal(packet_service_answer_bytes(svc, junk, sizeof junk, collect, NULL), ST(BAD_REQUEST));
    assert_non_null(strstr(got.error, "malformed PacketRequest"));
}

static void expired_and_lost(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    char err[ASH_ERR_LEN];
    assert_int_equal(pcap_store_sync(store, 2000), 0);
    /* expire file 1 by hand as retention would */
    struct pcap_catalog *cat = pcap_store_catalog(store);
    struct pcap_catalog_file f;
    char path[1300];
    assert_int_equal(pcap_catalog_get(cat, 1, &f), 0);
    pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
    unlink(path);
    f.state = PCAP_CATALOG_EXPIRED;
    assert_int_equal(pcap_catalog_put(cat, &f, err), 0);

    Ashiato__PacketRequest r = session_req(1, buf, sizeof buf);
    assert_int_equal(ask(&r), ST(EXPIRED));
    assert_non_null(strstr(got.error, "file 1 expired"));
    assert_int_equal(got.len, 0);

    Ashiato__PacketRequest t = ASHIATO__PACKET_REQUEST__INIT;
    t.start_us = f.first_us;
    t.end_us = f.last_us;
    struct pcap_catalog_file f2;
    assert_int_equal(pcap_catalog_get(cat, 2, &f2), 0);
    if (f2.first_us > f.last_us) {                /* only file 1 covers this range */
        assert_int_equal(ask(&t), ST(EXPIRED));
    }

    /* file 2 cut short by a crash: packets past its end are lost, not garbage */
    assert_int_equal(pcap_catalog_get(cat, 2, &f), 0);
    int last_in_2 = -1;
    for (int i = 0; i < NPKT; i++)
        if (sent[i].file == 2)
            last_in_2 = i;
    uint64_t cut_at = sent[last_in_2 - 5].off;
    pcap_catalog_path(cat, f.name, NULL, path, sizeof path);
    assert_int_equal(truncate(path, (off_t)cut_at), 0);
    f.size = cut_at;
    f.cut = true;
    assert_int_equal(pcap_catalog_put(cat, &f, err), 0);
    uint32_t h = 0;
    uint8_t pos[64];
    for (int i = last_in_2 - 7; i <= last_in_2; i++)
        assert_int_equal(pcap_index_add(idx, &h, sent[i].file, sent[i].off), 0);
    Ashiato__PacketRequest q = ASHIATO__PACKET_REQUEST__INIT;
    q.packet_pos.data = pos;
    q.packet_pos.len = pcap_index_encode(idx, h, pos, sizeof pos);
    pcap_index_release(idx, &h);
    assert_int_equal(ask(&q), ST(OK));
    assert_non_null(strstr(got.error, "6 of 8 packets were lost"));
    int two = 0;
    for (size_t o = PCAP_FORMAT_FILE_HDR; o < got.len; two++) {
        struct pcap_format_rec rec;
        assert_true(pcap_format_rec_parse(got.pcap + o, 65535, &rec));
        o += PCAP_FORMAT_REC_HDR + rec.caplen;
    }
    assert_int_equal(two, 2);
    for (int i = last_in_2 - 3; i <= last_in_2; i++)
        assert_int_equal(pcap_index_add(idx, &h, sent[i].file, sent[i].off), 0);
    q.packet_pos.len = pcap_index_encode(idx, h, pos, sizeof pos);
    pcap_index_release(idx, &h);
    assert_int_equal(ask(&q), ST(NOT_FOUND));
    assert_non_null(strstr(got.error, "lost"));
}

static void fresh_packets_of_the_open_file(void **state)
{
    (void)state;
    uint8_t f[200], pos[32];
    uint32_t len = frame(f, 4444, 100, 9), h = 0;
    uint64_t file, off;
    assert_int_equal(pcap_store_append(store, T0 + 5000000, f, len, len, &file, &off), 0);
    assert_int_equal(pcap_index_add(idx, &h, file, off), 0);
    Ashiato__PacketRequest q = ASHIATO__PACKET_REQUEST__INIT;
    q.packet_pos.data = pos;
    q.packet_pos.len = pcap_index_encode(idx, h, pos, sizeof pos);
    pcap_index_release(idx, &h);
    assert_int_equal(ask(&q), ST(OK));            /* the service waits for the writer */
    assert_int_equal(got.len, PCAP_FORMAT_FILE_HDR + PCAP_FORMAT_REC_HDR + len);
    assert_memory_equal(got.pcap + PCAP_FORMAT_FILE_HDR + PCAP_FORMAT_REC_HDR, f, len);
}

/* H2: positions name the store that wrote them. The same (file id, offset) pairs from another
 * store (pcap_dir wiped and recreated: ids restart at 1) are refused as MISMATCH with no
 * packet, never served from this store; older positions without a store id still work. */
static void test_h2_positions_of_another_store_refused(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    uint64_t here = pcap_catalog_store_id(pcap_store_catalog(store));
    assert_true(here != 0);
    Ashiato__PacketRequest r = session_req(0, buf, sizeof buf);
    assert_int_equal(buf[0], PCAP_INDEX_VERSION);
    struct pcap_index_iter it;
    assert_int_equal(pcap_index_iter_init(&it, buf, r.packet_pos.len), 0);
    assert_true(it.store_id == here);
    buf[9] ^= 0x5a;                               /* another store's id, same positions */
    assert_int_equal(ask(&r), ST(MISMATCH));
    assert_int_equal(got.len, 0);
    assert_non_null(strstr(got.error, "pcap_dir was recreated"));
    print_message("    another store's positions: %s: %s\n", packet_service_status_name(ST(MISMATCH)), got.error);
    /* version 1 (no store id): the same positions, still answered */
    static uint8_t v1[8192];
    v1[0] = PCAP_INDEX_VERSION_NO_STORE;
    v1[1] = buf[1];
    memcpy(v1 + 2, buf + 10, r.packet_pos.len - 10);
    r.packet_pos.data = v1;
    r.packet_pos.len -= 8;
    int flow = 0;
    assert_int_equal(ask(&r), ST(OK));
    check_answer(of_flow, &flow);
    /* a version 2 string whose store id is 0 is malformed */
    buf[9] ^= 0x5a;
    memset(buf + 2, 0, 8);
    r = session_req(0, buf, sizeof buf);
    memset(buf + 2, 0, 8);
    assert_int_equal(ask(&r), ST(BAD_REQUEST));
}

static int cmp_id(const void *a, const void *b)
{
    const Ashiato__PacketFile *x = *(Ashiato__PacketFile *const *)a, *y = *(Ashiato__PacketFile *const *)b;
    return x->file_id < y->file_id ? -1 : x->file_id > y->file_id;
}

/* L7: each position is checked against packet_files. 20,000 positions against 100,000 listed
 * files (the limit), listed in shuffled order: the answer is the session's packets; one
 * position in a file the list lacks is refused. (The time is a bench matter, not asserted:
 * it was 3.6 s of the service's only thread with the linear search.) */
static void test_l7_many_positions_many_files(void **state)
{
    (void)state;
    enum { NFILES = 100000, NPOS = 20000 };
    char err[ASH_ERR_LEN];
    struct pcap_index *big = pcap_index_new(1 << 16, err);
    assert_non_null(big);
    pcap_index_set_store_id(big, pcap_catalog_store_id(pcap_store_catalog(store)));
    uint32_t h = 0;
    uint64_t first = 0, last = 0;
    uint8_t f[80];
    for (int i = 0; i < NPOS; i++) {              /* a long session over some 25 files */
        uint64_t file, off;
        uint32_t len = frame(f, 4444, 10, (uint8_t)i);
        assert_int_equal(pcap_store_append(store, T0 + 10000000 + i, f, len, len, &file, &off), 0);
        assert_int_equal(pcap_index_add(big, &h, file, off), 0);
        first = first ? first : file;
        last = file;
    }
    assert_true(last - first > 10);
    Ashiato__PacketFile *pf = calloc(NFILES, sizeof *pf);
    Ashiato__PacketFile **pfp = calloc(NFILES, sizeof *pfp);
    assert_non_null(pf);
    assert_non_null(pfp);
    for (int i = 0; i < NFILES; i++) {
        ashiato__packet_file__init(&pf[i]);
        pf[i].file_id = (uint64_t)(i * 7919 % NFILES) + 1000;   /* shuffled, none is ours... */
        pfp[i] = &pf[i];
    }
    size_t cap = pcap_index_encoded_size(big, h);
    uint8_t *buf = malloc(cap);
    Ashiato__PacketRequest r = ASHIATO__PACKET_REQUEST__INIT;
    r.packet_pos.len = pcap_index_encode(big, h, buf, cap);
    r.packet_pos.data = buf;
    r.n_packet_files = NFILES;
    r.packet_files = pfp;
    assert_int_equal(ask(&r), ST(BAD_REQUEST));   /* ...so every position is unlisted */
    assert_non_null(strstr(got.error, "packet_files does not list"));
    for (uint64_t id = first; id <= last; id++)  /* now ours are listed, here and there */
        pf[(id * 4099) % NFILES].file_id = id;
    assert_int_equal(ask(&r), ST(OK));
    uint32_t link, snap;
    assert_int_equal(pcap_format_parse_file_header(got.pcap, got.len, &link, &snap), 0);
    size_t rec = 0;
    for (size_t off = PCAP_FORMAT_FILE_HDR; off < got.len; rec++) {
        struct pcap_format_rec pr;
        assert_true(pcap_format_rec_parse(got.pcap + off, snap, &pr));
        off += PCAP_FORMAT_REC_HDR + pr.caplen;
    }
    assert_int_equal(rec, NPOS);
    qsort(pfp, NFILES, sizeof *pfp, cmp_id);      /* sorted lists work the same */
    assert_int_equal(ask(&r), ST(OK));
    free(buf);
    free(pf);
    free(pfp);
    pcap_index_release(big, &h);
    pcap_index_free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(session_packets_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(time_range_and_bpf, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_and_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(fresh_packets_of_the_open_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h2_positions_of_another_store_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_many_positions_many_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
