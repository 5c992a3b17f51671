/* test_packet_match.c -- packet_match (the client's hand-written flow check) against its oracle,
 * libpcap: for every packet compared, packet_match_l4 and packet_match_flow must give exactly
 * pcap_offline_filter's verdicts for the check_l4 and check_bpf strings that the real
 * packet_client_query_from_json builds for the session. libpcap is linked here as the oracle
 * only (the product's client no longer links it: packet_match.h says why).
 * Packets: every capture under $ASHIATO_SHARED_DIR/corpus (arkime-tests, community-id, scans,
 * when present) and the answers of this repository's fuzz seeds, with sessions taken from
 * their own packets (both directions, wrong ports, wrong addresses, their VLAN ids and wrong
 * ones); then packets made here over every link type packet_match knows (VLAN, QinQ, 0x9100
 * tags, IPv4 fragments and options, IPv6 with fragment and hop-by-hop headers, wrong families),
 * each cut at every length and mutated at random. Also: for every link type 0..300, the
 * matcher refuses a session exactly where libpcap cannot compile its filters, except 802.11
 * and radiotap with ports or VLANs (refused here, said in packet_match.c). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <cmocka.h>

#include "packet_client.h"
#include "packet_match.h"

static uint64_t compared, packets_seen, files_seen, mismatches, refused_compiling;

/* the link types the sensor decodes and so may store (sensor/decode.c) */
static bool sensor_link(int dlt)
{
    static const int l[] = { 0, 1, 9, 12, 14, 105, 107, 108, 113, 127, 228, 229, 239, 276 };
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (l[i] == dlt)
            return true;
    return false;
}

/* one session: a query as the client builds it, the oracle's programs and the matcher */
struct sess {
    struct packet_client_query q;
    struct bpf_program flow, l4;
    struct packet_match m;
    bool ok;
};

static bool sess_make(struct sess *s, int dlt, int fam, const uint8_t *a, const uint8_t *b, int proto,
                      int pa, int pb, const int *vlan, size_t nvlan)
{
    char sa[64], sb[64], vl[256] = "", doc[1024];
    inet_ntop(fam == 6 ? AF_INET6 : AF_INET, a, sa, sizeof sa);
    inet_ntop(fam == 6 ? AF_INET6 : AF_INET, b, sb, sizeof sb);
    for (size_t i = 0, n = 0; i < nvlan; i++)
        n += (size_t)snprintf(vl + n, sizeof vl - n, "%s%d", i ? "," : "", vlan[i]);
    snprintf(doc, sizeof doc, "{\"event\":{\"start\":\"0\",\"end\":\"99999999999\"},"
             "\"source\":{\"ip\":\"%s\",\"port\":%d},\"destination\":{\"ip\":\"%s\",\"port\":%d},"
             "\"network\":{\"iana_number\":%d%s%s%s}}", sa, pa, sb, pb, proto,
             nvlan ? ",\"vlan\":{\"id\":[" : "", vl, nvlan ? "]}" : "");
    char err[ASH_ERR_LEN];
    memset(s, 0, sizeof *s);
    assert_int_equal(packet_client_query_from_json(&s->q, doc, strlen(doc), err), 0);
    pcap_t *dead = pcap_open_dead(dlt, 262144);
    assert_non_null(dead);
    bool compiles = pcap_compile(dead, &s->flow, s->q.check_bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (compiles && s->q.check_l4[0] && pcap_compile(dead, &s->l4, s->q.check_l4, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        pcap_freecode(&s->flow);
        compiles = false;
    }
    pcap_close(dead);
    bool inits = packet_match_init(&s->m, (uint32_t)dlt, s->q.check_ports, s->q.check_proto,
                                   s->q.check_port_a, s->q.check_port_b, s->q.addr_a, s->q.addr_b,
                                   s->q.addr_len, s->q.check_vlan, s->q.check_nvlan, err) == 0;
    assert_int_equal(s->q.check_ports, s->q.check_l4[0] != '\0');
    if (inits && !compiles)
        fail_msg("dlt %d: the matcher takes '%s' that libpcap cannot compile", dlt, s->q.check_bpf);
    /* refused although libpcap compiles: link types the sensor never stores, and 802.11 and
     * radiotap with ports or VLANs (see the header); never another one the sensor stores */
    bool exotic = !sensor_link(dlt) || ((dlt == 105 || dlt == 127) && (s->q.check_ports || s->q.check_nvlan));
    if (compiles && !inits && !exotic)
        fail_msg("dlt %d: the matcher refuses '%s' (%s) that libpcap compiles", dlt, s->q.check_bpf, err);
    if (compiles && !inits) {
        refused_compiling++;
        pcap_freecode(&s->flow);
        if (s->q.check_l4[0])
            pcap_freecode(&s->l4);
    }
    s->ok = inits && compiles;
    return s->ok;
}

static void sess_free(struct sess *s)
{
    if (s->ok) {
        pcap_freecode(&s->flow);
        if (s->q.check_l4[0])
            pcap_freecode(&s->l4);
    }
    packet_client_query_free(&s->q);
}

static void compare(struct sess *s, const uint8_t *p, uint32_t caplen)
{
    if (!s->ok || !s->q.check_ports)
        return;                               /* without ports, no filter runs (addresses only) */
    struct pcap_pkthdr h = { .caplen = caplen, .len = caplen };
    bool want_l4 = pcap_offline_filter(&s->l4, &h, p) != 0, got_l4 = packet_match_l4(&s->m, p, caplen);
    bool want_fl = pcap_offline_filter(&s->flow, &h, p) != 0, got_fl = packet_match_flow(&s->m, p, caplen);
    compared++;
    if (want_l4 != got_l4 || want_fl != got_fl) {
        if (mismatches++ < 6) {
            char hex[200] = "";
            for (uint32_t i = 0, n = 0; i < caplen && n + 3 < sizeof hex; i++)
                n += (uint32_t)snprintf(hex + n, sizeof hex - n, "%02x", p[i]);
            print_message("MISMATCH dlt %u '%s': l4 %d/%d flow %d/%d caplen %u %s\n", s->m.dlt,
                          s->q.check_bpf, want_l4, got_l4, want_fl, got_fl, caplen, hex);
        }
    }
}

/* ---- sessions from a capture's own packets ---- */

struct flow {
    int fam, proto, sp, dp;
    uint8_t a[16], b[16];
    int vlan[2];
    size_t nvlan;
};

/* a plausible IP header at one of the usual link offsets (the session to ask about) */
static bool flow_of(int dlt, const uint8_t *p, uint32_t n, struct flow *f)
{
    static const uint32_t offs[] = { 0, 4, 14, 16, 18, 20, 22, 24 };
    memset(f, 0, sizeof *f);
    if (dlt == 1)
        for (uint32_t o = 12; f->nvlan < 2 && o + 4 <= n && (p[o] == 0x81 || p[o] == 0x88 || p[o] == 0x91); o += 4)
            f->vlan[f->nvlan++] = ((p[o + 2] << 8) | p[o + 3]) & 0x0fff;
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        uint32_t o = offs[i];
        if (o + 40 > n)
            break;
        if ((p[o] >> 4) == 4 && (p[o] & 15) >= 5) {
            uint32_t th = o + 4u * (p[o] & 15);
            f->fam = 4, f->proto = p[o + 9];
            memcpy(f->a, p + o + 12, 4), memcpy(f->b, p + o + 16, 4);
            if (th + 4 <= n)
                f->sp = (p[th] << 8) | p[th + 1], f->dp = (p[th + 2] << 8) | p[th + 3];
            return true;
        }
        if ((p[o] >> 4) == 6 && o + 44 <= n) {
            f->fam = 6, f->proto = p[o + 6];
            memcpy(f->a, p + o + 8, 16), memcpy(f->b, p + o + 24, 16);
            f->sp = (p[o + 40] << 8) | p[o + 41], f->dp = (p[o + 42] << 8) | p[o + 43];
            return true;
        }
    }
    return false;
}

#define MAXS 96

/* the sessions to ask about one flow: both directions, a wrong port, a wrong address, its
 * VLAN ids, a wrong one, none; TCP/UDP/SCTP as the packet says, else TCP */
static size_t sessions_for(int dlt, const struct flow *f, struct sess *s, size_t n)
{
    int proto = f->proto == 6 || f->proto == 17 || f->proto == 132 ? f->proto : 6;
    uint8_t wrong[16];
    memcpy(wrong, f->b, 16);
    wrong[f->fam == 6 ? 15 : 3] ^= 1;
    int vwrong[2] = { (f->vlan[0] + 1) & 0xfff, f->vlan[1] };
    struct { const uint8_t *a, *b; int pa, pb; const int *v; size_t nv; } c[] = {
        { f->a, f->b, f->sp, f->dp, NULL, 0 },
        { f->b, f->a, f->dp, f->sp, NULL, 0 },
        { f->a, f->b, f->sp, (f->dp + 1) & 0xffff, NULL, 0 },
        { f->a, wrong, f->sp, f->dp, NULL, 0 },
        { f->a, f->b, f->sp, f->dp, f->vlan, f->nvlan },
        { f->b, f->a, f->dp, f->sp, f->vlan, f->nvlan },
        { f->a, f->b, f->sp, f->dp, vwrong, f->nvlan ? f->nvlan : 1 },
        { f->a, f->b, f->sp, f->dp, f->vlan, f->nvlan ? 1 : 0 },
    };
    size_t k = 0;
    for (size_t i = 0; i < sizeof c / sizeof c[0] && n + k < MAXS; i++) {
        if (i >= 4 && i != 6 && !c[i].nv)
            continue;
        if (sess_make(&s[n + k], dlt, f->fam, c[i].a, c[i].b, proto, c[i].pa, c[i].pb, c[i].v, c[i].nv))
            k++;
        else
            sess_free(&s[n + k]);
    }
    return k;
}

static void run_capture(const char *path)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, eb);
    if (!p)
        return;                               /* not a capture libpcap reads */
    int dlt = pcap_datalink(p);
    static struct sess s[MAXS];
    size_t ns = 0, flows = 0;
    struct pcap_pkthdr *h;
    const u_char *d;
    /* first pass: sessions from up to 10 packets' flows */
    while (flows < 10 && pcap_next_ex(p, &h, &d) == 1) {
        struct flow f;
        if (flow_of(dlt, d, h->caplen, &f)) {
            ns += sessions_for(dlt, &f, s, ns);
            flows++;
        }
    }
    pcap_close(p);
    if (!(p = pcap_open_offline(path, eb)))
        return;
    files_seen++;
    while (pcap_next_ex(p, &h, &d) == 1) {
        packets_seen++;
        for (size_t i = 0; i < ns; i++)
            compare(&s[i], d, h->caplen);
    }
    pcap_close(p);
    for (size_t i = 0; i < ns; i++)
        sess_free(&s[i]);
}

/* a fuzz seed: the session document, a NUL, the answer's pcap bytes */
static void run_seed(const char *path)
{
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    uint8_t *nul = memchr(buf, 0, n);
    if (!nul || (size_t)(buf + n - nul - 1) < 24)
        return;
    char tmp[] = "/tmp/test_packet_match_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    FILE *o = fdopen(fd, "wb");
    fwrite(nul + 1, 1, (size_t)(buf + n - nul - 1), o);
    fclose(o);
    run_capture(tmp);
    unlink(tmp);
}

static void walk(const char *dir, bool seeds)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            walk(path, seeds);
        else if (seeds)
            run_seed(path);
        else if (strstr(e->d_name, ".pcap"))
            run_capture(path);
    }
    if (d)
        closedir(d);
}

static void test_captures(void **state)
{
    (void)state;
    const char *src = getenv("ASHIATO_SOURCE_DIR"), *shared = getenv("ASHIATO_SHARED_DIR");
    char path[4096];
    uint64_t before = compared;
    if (src) {
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/fuzz_packet_client", src);
        walk(path, true);
    }
    if (shared) {
        snprintf(path, sizeof path, "%s/corpus", shared);
        walk(path, false);
    }
    print_message("captures: %" PRIu64 " files, %" PRIu64 " packets, %" PRIu64 " verdict pairs compared, "
                  "%" PRIu64 " differ\n", files_seen, packets_seen, compared - before, mismatches);
    assert_int_equal(mismatches, 0);
    if (!shared)
        print_message("NOTE: ASHIATO_SHARED_DIR unset: the shared corpus was not compared\n");
    else
        assert_true(compared - before > 0);
}

/* ---- packets made here ---- */

static const uint8_t A4[4] = { 10, 0, 0, 1 }, B4[4] = { 192, 168, 7, 2 };
static const uint8_t A6[16] = { 0xfe, 0x80, [15] = 1 }, B6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

/* an IP packet (no link header); variant picks options, fragments, extension headers */
static size_t ip_packet(uint8_t *p, int fam, int proto, bool rev, int variant)
{
    memset(p, 0, 128);
    size_t n;
    uint16_t sp = rev ? 80 : 1111, dp = rev ? 1111 : 80;
    if (fam == 4) {
        int ihl = variant == 1 ? 6 : variant == 2 ? 0 : variant == 3 ? 15 : 5;
        p[0] = (uint8_t)(0x40 | ihl), p[9] = (uint8_t)proto;
        if (variant == 4)
            p[6] = 0x20;                      /* MF, offset 0: the first fragment */
        if (variant == 5)
            p[7] = 0x09;                      /* a later fragment */
        if (variant == 6)
            p[6] = 0x40;                      /* DF */
        memcpy(p + 12, rev ? B4 : A4, 4), memcpy(p + 16, rev ? A4 : B4, 4);
        n = (size_t)4 * (ihl >= 5 ? (size_t)ihl : 5);
        size_t th = (size_t)4 * (size_t)ihl;
        p[th] = (uint8_t)(sp >> 8), p[th + 1] = (uint8_t)sp, p[th + 2] = (uint8_t)(dp >> 8), p[th + 3] = (uint8_t)dp;
        return (th > n ? th : n) + 20;
    }
    p[0] = 0x60, p[6] = (uint8_t)proto;
    memcpy(p + 8, rev ? B6 : A6, 16), memcpy(p + 24, rev ? A6 : B6, 16);
    n = 40;
    if (variant == 4 || variant == 5)
        p[6] = variant == 4 ? 44 : 0, p[40] = (uint8_t)proto, n = 48;  /* fragment / hop-by-hop */
    p[n] = (uint8_t)(sp >> 8), p[n + 1] = (uint8_t)sp, p[n + 2] = (uint8_t)(dp >> 8), p[n + 3] = (uint8_t)dp;
    return n + 20;
}

/* the link header of dlt before an IP packet of family fam (kind: a wrong or odd variant) */
static size_t link_header(uint8_t *p, int dlt, int fam, int kind)
{
    uint16_t et = fam == 4 ? 0x0800 : 0x86dd;
    uint32_t af = fam == 4 ? 2 : 10;
    memset(p, 0, 32);
    switch (dlt) {
    case 1: {
        static const uint16_t tags[][3] = { { 0 }, { 0x8100 }, { 0x88a8, 0x8100 }, { 0x9100 }, { 0x8100, 0x8100 } };
        size_t o = 12, nt = kind == 0 ? 0 : kind == 2 || kind == 4 ? 2 : 1;
        for (size_t i = 0; i < nt; i++, o += 4) {
            p[o] = (uint8_t)(tags[kind][i] >> 8), p[o + 1] = (uint8_t)tags[kind][i];
            p[o + 2] = i ? 0x00 : 0xe0, p[o + 3] = (uint8_t)(5 + i);   /* PCP bits, VID 5 then 6 */
        }
        p[o] = (uint8_t)(et >> 8), p[o + 1] = (uint8_t)et;
        return o + 2;
    }
    case 0:
        if (kind == 1)
            af <<= 24;                        /* the other byte order */
        memcpy(p, &af, 4);
        return 4;
    case 108:
        p[3] = (uint8_t)(kind == 1 ? 24 : af);
        return 4;
    case 9:
        p[0] = 0xff, p[1] = 0x03, p[3] = fam == 4 ? 0x21 : 0x57;
        return 4;
    case 107:
        p[0] = 0x18, p[1] = 0x41, p[2] = 0x03, p[3] = fam == 4 ? 0xcc : 0x8e;
        return 4;
    case 113:
        p[14] = (uint8_t)(et >> 8), p[15] = (uint8_t)et;
        return 16;
    case 276:
        p[0] = (uint8_t)(et >> 8), p[1] = (uint8_t)et;
        return 20;
    default:                                  /* 12, 228, 229: the IP header itself */
        return 0;
    }
}

static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13, rnd_state ^= rnd_state >> 17, rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static void test_made(void **state)
{
    (void)state;
    static const int dlts[] = { 0, 1, 9, 12, 107, 108, 113, 228, 229, 276 };
    static const int protos[] = { 6, 17, 132 };
    static const int vl1[] = { 5 }, vl2[] = { 5, 6 }, vl3[] = { 6 };
    struct { const int *v; size_t n; } vls[] = { { NULL, 0 }, { vl1, 1 }, { vl2, 2 }, { vl3, 1 } };
    uint64_t before = compared, made = 0;
    for (size_t di = 0; di < sizeof dlts / sizeof dlts[0]; di++) {
        int dlt = dlts[di];
        for (int fam = 4; fam <= 6; fam += 2) {
            for (size_t pi = 0; pi < 3; pi++) {
                struct sess s[2 * 4];
                size_t ns = 0;
                for (size_t vi = 0; vi < (dlt == 1 ? 4u : 1u); vi++)
                    for (int wrongport = 0; wrongport < 2; wrongport++) {
                        if (sess_make(&s[ns], dlt, fam, fam == 4 ? A4 : A6, fam == 4 ? B4 : B6, protos[pi],
                                      1111, wrongport ? 81 : 80, vls[vi].v, vls[vi].n))
                            ns++;
                        else
                            sess_free(&s[ns]);
                    }
                for (int kind = 0; kind < (dlt == 1 ? 5 : 2); kind++)
                    for (int pf = 4; pf <= 6; pf += 2)          /* the packet's own family */
                        for (int pp = 0; pp < 4; pp++)          /* 6, 17, 132, and ICMP */
                            for (int variant = 0; variant < 7; variant++)
                                for (int rev = 0; rev < 2; rev++) {
                                    uint8_t pkt[256];
                                    size_t l = link_header(pkt, dlt, pf, kind);
                                    l += ip_packet(pkt + l, pf, pp < 3 ? protos[pp] : (pf == 4 ? 1 : 58),
                                                   rev, variant);
                                    made++;
                                    for (size_t cut = 0; cut <= l; cut++)      /* every length */
                                        for (size_t i = 0; i < ns; i++)
                                            compare(&s[i], pkt, (uint32_t)cut);
                                    for (int m = 0; m < 8; m++) {              /* random bytes */
                                        uint8_t mut[256];
                                        memcpy(mut, pkt, l);
                                        for (int k = 0; k < 1 + m % 3; k++)
                                            mut[rnd() % l] = (uint8_t)rnd();
                                        for (size_t i = 0; i < ns; i++)
                                            compare(&s[i], mut, (uint32_t)l);
                                    }
                                }
                for (size_t i = 0; i < ns; i++)
                    sess_free(&s[i]);
            }
        }
    }
    print_message("made: %" PRIu64 " packets (each cut at every length, 8 mutants), %" PRIu64
                  " verdict pairs compared, %" PRIu64 " differ\n", made, compared - before, mismatches);
    assert_int_equal(mismatches, 0);
    assert_true(compared - before > 100000);
}

/* link types: refused by the matcher exactly where libpcap cannot compile the filters */
static void test_link_types(void **state)
{
    (void)state;
    static const int vl[] = { 5 };
    size_t checked = 0, refused = 0;
    for (int dlt = 0; dlt <= 300; dlt++)
        for (int k = 0; k < 6; k++) {
            struct sess s;                    /* sess_make fails the test on a disagreement */
            bool ok = sess_make(&s, dlt, k & 1 ? 6 : 4, k & 1 ? A6 : A4, k & 1 ? B6 : B4,
                                k < 2 ? 6 : k < 4 ? 1 : 17, k < 4 ? 1111 : 53, 80, k >= 4 ? vl : NULL,
                                k >= 4 ? 1 : 0);
            checked++;
            refused += !ok;
            sess_free(&s);
        }
    print_message("link types: %zu sessions over link types 0..300, %zu refused, %" PRIu64 " of them "
                  "although libpcap compiles (not stored by the sensor, or 802.11/radiotap with ports "
                  "or VLANs)\n", checked, refused, refused_compiling);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_types),
        cmocka_unit_test(test_made),
        cmocka_unit_test(test_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
