/* test_record_json.c -- common/record_json.c's hand-written session document against its json-c
 * predecessor (tests/unit/record_json_jsonc.c, the oracle): byte for byte the same text, and
 * text json-c's parser takes, for
 * - hand-made edge records: the empty record, NULL strings and sub-messages, every kind of
 *   invalid UTF-8, control bytes, quotes and backslashes, times at and past years 1 and 9999,
 *   IPv6 forms, VLANs, every combination of the optional blocks, counts at their maximum;
 * - 10000 records from random field values (fixed seed) packed and unpacked by protobuf-c;
 * - every record of the journal bench/ingest.sh leaves in bench/.cache/ingest/journal-s1 (a
 *   real capture through the sensor), when it is there; skipped with a message otherwise.
 * Also: the time and IP text forms on their own (random and edge values), and
 * record_json_append into a buffer that already holds text and is reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "record_json.h"
#include "record_json_jsonc.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)                  /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static void fail_diff(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0;
    while (i < an && i < bn && a[i] == b[i])
        i++;
    size_t from = i > 60 ? i - 60 : 0;
    print_error("%s: differs at byte %zu (hand %zu bytes, json-c %zu)\n  hand:   %.*s\n"
                "  json-c: %.*s\n", what, i, an, bn, (int)((an < i + 60 ? an : i + 60) - from),
                a + from, (int)((bn < i + 60 ? bn : i + 60) - from), b + from);
    fail();
}

static void assert_json(const char *s, size_t n)
{
    struct json_tokener *tok = json_tokener_new();
    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != n) {
        print_error("not JSON: %s\n  %.*s\n", json_tokener_error_desc(json_tokener_get_error(tok)),
                    (int)n, s);
        fail();
    }
    assert_true(json_object_is_type(o, json_type_object));
    json_object_put(o);
    json_tokener_free(tok);
}

static uint64_t checked;                   /* documents compared */

/* Both renderers, and record_json_append after whatever `buf` holds, give the same bytes. */
static void check_buf(const Ashiato__SessionRecord *r, const char *observer,
                      struct record_json_buf *buf, bool parse)
{
    size_t hn = 0, on = 0;
    char *h = record_json_render(r, observer, &hn);
    char *o = record_json_render_jsonc(r, observer, &on);
    assert_non_null(h);
    assert_non_null(o);
    if (hn != on || memcmp(h, o, hn) != 0)
        fail_diff("record_json_render", h, hn, o, on);
    assert_int_equal(strlen(h), hn);

    size_t before = buf->len;
    assert_int_equal(record_json_append(buf, r, observer), 0);
    assert_int_equal(buf->len - before, on);
    assert_memory_equal(buf->data + before, o, on);
    assert_int_equal(buf->data[buf->len], '\0');
    if (parse)
        assert_json(h, hn);
    free(h);
    free(o);
    checked++;
}

static void check(const Ashiato__SessionRecord *r, const char *observer)
{
    struct record_json_buf b = { 0 };
    check_buf(r, observer, &b, true);
    record_json_buf_free(&b);
}

/* A record with every block present and ordinary values, for tests to spoil one field of. */
struct full {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    Ashiato__TcpFlagCounts flags;
    Ashiato__PacketFile pf[2], *pfp[2];
    uint8_t sip[16], dip[16], smac[6], dmac[6], id[20], root[20], pos[11];
    uint32_t vlan[3], status[2];
    char *hosts[2], *methods[2], *uas[1], *queries[2], *snis[1], *tags[3];
    ProtobufCBinaryData linked[2];
};

static void full_init(struct full *f)
{
    memset(f, 0, sizeof *f);
    ashiato__session_record__init(&f->r);
    ashiato__endpoint__init(&f->src);
    ashiato__endpoint__init(&f->dst);
    ashiato__tcp_flag_counts__init(&f->flags);
    Ashiato__SessionRecord *r = &f->r;
    memcpy(f->sip, (uint8_t[]){ 10, 0, 0, 1 }, 4);
    memcpy(f->dip, (uint8_t[]){ 192, 168, 200, 254 }, 4);
    memcpy(f->smac, (uint8_t[]){ 0, 0x1b, 0x2c, 0xa0, 0xff, 9 }, 6);
    memcpy(f->dmac, (uint8_t[]){ 0xde, 0xad, 0xbe, 0xef, 0, 1 }, 6);
    f->src = (Ashiato__Endpoint)ASHIATO__ENDPOINT__INIT;
    f->src.ip = (ProtobufCBinaryData){ 4, f->sip };
    f->src.port = 49152;
    f->src.bytes = 1234;
    f->src.packets = 7;
    f->src.data_bytes = 800;
    f->src.mac = (ProtobufCBinaryData){ 6, f->smac };
    f->dst = (Ashiato__Endpoint)ASHIATO__ENDPOINT__INIT;
    f->dst.ip = (ProtobufCBinaryData){ 4, f->dip };
    f->dst.port = 443;
    f->dst.bytes = 5678;
    f->dst.packets = 9;
    f->dst.data_bytes = 4000;
    f->dst.mac = (ProtobufCBinaryData){ 6, f->dmac };
    r->source = &f->src;
    r->destination = &f->dst;
    for (size_t i = 0; i < sizeof f->id; i++)
        f->id[i] = (uint8_t)('a' + i), f->root[i] = (uint8_t)('A' + i);
    r->id = (ProtobufCBinaryData){ sizeof f->id, f->id };
    r->root_id = (ProtobufCBinaryData){ sizeof f->root, f->root };
    r->observer_name = "sensor-1";
    r->start_us = 1385391358382123LL;
    r->end_us = 1385391359000001LL;
    r->iana_number = 6;
    r->ip_version = 4;
    r->community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
    f->vlan[0] = 100, f->vlan[1] = 4095, f->vlan[2] = 0;
    r->n_vlan = 2;
    r->vlan = f->vlan;
    r->protocol = "http";
    f->tags[0] = "smb", f->tags[1] = "krb5", f->tags[2] = "gre/ip";
    r->n_tags = 3;
    r->tags = f->tags;
    f->flags = (Ashiato__TcpFlagCounts)ASHIATO__TCP_FLAG_COUNTS__INIT;
    f->flags.syn = 1, f->flags.syn_ack = 1, f->flags.ack = 10, f->flags.psh = 3;
    f->flags.fin = 2, f->flags.rst = 0, f->flags.urg = 0;
    r->tcp_flags = &f->flags;
    r->conn_state = "SF";
    r->history = "ShADadfF";
    r->segment = 2;
    f->hosts[0] = "www.example.com", f->hosts[1] = "cdn.example.net:8080";
    r->n_http_host = 2;
    r->http_host = f->hosts;
    f->methods[0] = "GET", f->methods[1] = "POST";
    r->n_http_method = 2;
    r->http_method = f->methods;
    f->uas[0] = "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" back\\slash";
    r->n_user_agent = 1;
    r->user_agent = f->uas;
    f->status[0] = 200, f->status[1] = 404;
    r->n_http_status = 2;
    r->http_status = f->status;
    f->queries[0] = "example.com", f->queries[1] = "_ldap._tcp.dc._msdcs.campus.local";
    r->n_dns_query = 2;
    r->dns_query = f->queries;
    r->dns_rcode = "NXDOMAIN";
    f->snis[0] = "login.example.org";
    r->n_tls_sni = 1;
    r->tls_sni = f->snis;
    r->tls_version = "1.3";
    r->ssh_client = "SSH-2.0-OpenSSH_9.2p1 Debian-2";
    r->ssh_server = "SSH-2.0-dropbear";
    r->truncated_fields = 1;
    for (size_t i = 0; i < sizeof f->pos; i++)
        f->pos[i] = (uint8_t)(i * 37 + 200);
    r->packet_pos = (ProtobufCBinaryData){ sizeof f->pos, f->pos };
    for (int i = 0; i < 2; i++) {
        ashiato__packet_file__init(&f->pf[i]);
        f->pf[i].file_id = (uint64_t)i * 1000 + 7;
        f->pfp[i] = &f->pf[i];
    }
    r->n_packet_files = 2;
    r->packet_files = f->pfp;
    f->linked[0] = (ProtobufCBinaryData){ 5, (uint8_t *)"abcde" };
    f->linked[1] = (ProtobufCBinaryData){ 3, (uint8_t *)"x\0y" };
    r->n_linked = 2;
    r->linked = f->linked;
    r->segment_name = "dept-physics";
    static uint8_t qsrc[4] = { 198, 51, 100, 7 }, qdst[4] = { 203, 0, 113, 9 };
    r->icmp_quoted_src_ip = (ProtobufCBinaryData){ 4, qsrc };
    r->icmp_quoted_dst_ip = (ProtobufCBinaryData){ 4, qdst };
    r->icmp_quoted_src_port = 40000;
    r->icmp_quoted_dst_port = 161;
    r->icmp_quoted_iana_number = 17;
    r->icmp_quoted_community_id = "1:QgaF728A+Y22s+Hk96vEcjTwgOM=";
    r->icmp_quoted_count = 2;
    r->icmp_error_type = 3;
    r->icmp_error_code = 3;
}

static void empty_record(void **state)
{
    Ashiato__SessionRecord r = ASHIATO__SESSION_RECORD__INIT;
    check(&r, NULL);
    check(&r, "");
    check(&r, "aggregator-named");
    r.observer_name = NULL;
    r.community_id = r.protocol = r.conn_state = r.history = r.dns_rcode = NULL;
    r.tls_version = r.ssh_client = r.ssh_server = r.segment_name = NULL;
    check(&r, NULL);
}

static void full_record(void **state)
{
    struct full f;
    full_init(&f);
    check(&f.r, NULL);
    check(&f.r, "sensor \"quoted\"\n");
    f.r.ip_version = 6;
    f.r.source->ip.len = 16;
    f.r.destination->ip.len = 16;
    check(&f.r, NULL);
}

static void null_parts(void **state)
{
    struct full f;
    full_init(&f);
    f.r.source = NULL;
    check(&f.r, NULL);
    f.r.destination = NULL;
    check(&f.r, NULL);
    f.r.tcp_flags = NULL;
    check(&f.r, NULL);
    full_init(&f);
    f.hosts[1] = NULL;          /* hand-made only: protobuf-c never leaves one NULL */
    f.tags[0] = NULL;
    f.queries[0] = NULL;
    check(&f.r, NULL);
    full_init(&f);
    f.r.n_packet_files = 0;     /* packet_pos without files: an empty array */
    check(&f.r, NULL);
    f.r.packet_pos.len = 0;     /* files without packet_pos: neither is written */
    f.r.n_packet_files = 2;
    check(&f.r, NULL);
}

/* Each of the 2^12 combinations of the optional blocks present or absent. */
static void optional_blocks(void **state)
{
    for (unsigned mask = 0; mask < 1u << 12; mask++) {
        struct full f;
        full_init(&f);
        Ashiato__SessionRecord *r = &f.r;
        if (mask & 1) r->n_http_host = 0;
        if (mask & 2) r->n_http_method = 0;
        if (mask & 4) r->n_http_status = 0;
        if (mask & 8) r->n_user_agent = 0;
        if (mask & 16) r->n_dns_query = 0;
        if (mask & 32) r->dns_rcode = (mask & 64) ? "" : NULL;
        if (mask & 64) r->n_tls_sni = 0, r->tls_version = "";
        if (mask & 128) r->ssh_client = "", r->community_id = "";
        if (mask & 256) r->ssh_server = "", r->protocol = "", r->n_vlan = 0;
        if (mask & 512) r->id.len = 0, r->conn_state = "", r->truncated_fields = 0;
        if (mask & 1024) r->root_id.len = 0, r->history = "", r->n_tags = 0, r->segment_name = "";
        if (mask & 2048) r->packet_pos.len = 0, r->n_linked = 0, r->tcp_flags = NULL;
        if ((mask & 3) == 3) f.src.mac.len = 5, f.dst.ip.len = 0;
        check(r, (mask & 4) ? NULL : "obs");
    }
}

static void max_counts(void **state)
{
    struct full f;
    full_init(&f);
    f.src.bytes = f.src.packets = f.src.data_bytes = UINT64_MAX;
    f.dst.bytes = f.dst.packets = (uint64_t)INT64_MAX;
    f.dst.data_bytes = (uint64_t)INT64_MAX + 1;
    f.src.port = f.dst.port = UINT32_MAX;
    f.flags.syn = f.flags.syn_ack = f.flags.ack = f.flags.psh = UINT32_MAX;
    f.flags.fin = f.flags.rst = f.flags.urg = UINT32_MAX;
    f.r.segment = UINT32_MAX;
    f.vlan[0] = f.vlan[1] = f.vlan[2] = UINT32_MAX;
    f.r.n_vlan = 3;
    f.status[0] = UINT32_MAX, f.status[1] = 0;
    f.pf[0].file_id = UINT64_MAX, f.pf[1].file_id = (uint64_t)INT64_MAX + 1;
    f.r.start_us = INT64_MIN, f.r.end_us = INT64_MAX;
    static const uint32_t iana[] = { 0, 1, 6, 17, 47, 50, 58, 132, 255, 256, 9999999,
                                     10000000, 123456789, UINT32_MAX };
    for (size_t i = 0; i < sizeof iana / sizeof *iana; i++) {
        f.r.iana_number = iana[i];
        f.r.ip_version = (uint32_t)i;
        check(&f.r, NULL);
    }
}

/* Every string field (and every bytes field shown as text) carrying s. */
static void check_everywhere(const char *s, size_t n)
{
    char z[256];
    assert_true(n < sizeof z);
    memcpy(z, s, n);
    z[n] = '\0';                    /* a C string stops at the first NUL, as protobuf-c's do */
    struct full f;
    full_init(&f);
    Ashiato__SessionRecord *r = &f.r;
    r->observer_name = r->community_id = r->protocol = r->conn_state = r->history = z;
    r->dns_rcode = r->tls_version = r->ssh_client = r->ssh_server = r->segment_name = z;
    f.hosts[0] = f.methods[1] = f.uas[0] = f.queries[1] = f.snis[0] = f.tags[2] = z;
    r->id = (ProtobufCBinaryData){ n, (uint8_t *)s };
    r->root_id = (ProtobufCBinaryData){ n, (uint8_t *)s };
    f.linked[1] = (ProtobufCBinaryData){ n, (uint8_t *)s };
    check(r, NULL);
    check(r, z);
}

static void invalid_utf8(void **state)
{
    static const struct { const char *s; size_t n; } v[] = {
#define V(x) { x, sizeof(x) - 1 }
        V("\x80"), V("\xbf"), V("a\x80z"), V("\x80\x80\x80"),      /* lone continuations */
        V("\xc0\x80"), V("\xc1\xbf"), V("\xe0\x80\x80"), V("\xe0\x9f\xbf"),  /* overlong */
        V("\xf0\x80\x80\x80"), V("\xf0\x8f\xbf\xbf"),
        V("\xed\xa0\x80"), V("\xed\xbf\xbf"), V("\xed\x9f\xbf"),  /* surrogates; last one ok */
        V("\xf4\x90\x80\x80"), V("\xf4\x8f\xbf\xbf"), V("\xf5\x80\x80\x80"),  /* past U+10FFFF */
        V("\xf8\x88\x80\x80\x80"), V("\xfc\x84\x80\x80\x80\x80"), V("\xfe"), V("\xff"),
        V("\xc3"), V("\xe2\x82"), V("\xf0\x9f\x98"), V("x\xe2\x82"),   /* cut at the end */
        V("\xc3z"), V("\xe2\x82z"), V("\xf0\x9f\x98z"), V("\xe2z\x82\xac"),  /* cut midway */
        V("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), V("\xef\xbf\xbd"), V("\xef\xbb\xbf"), /* valid */
        V("\xc2\x80"), V("\xdf\xbf"), V("\xe0\xa0\x80"), V("\xf0\x90\x80\x80"),
        V("\xf4\x8f\xbf\xbf"),
        V("caf\xc3\xa9 \xff\xfe na\xefve \xe6\x97\xa5\xe6\x9c\xac"),
        V("\x00\x80"), V("a\x00\xff"),                              /* NUL inside bytes */
#undef V
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        check_everywhere(v[i].s, v[i].n);
}

static void control_chars(void **state)
{
    char s[160];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++)
        s[n++] = (char)c;
    static const char tail[] = "\x7f\"\\/\\\"</script>'";
    memcpy(s + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    check_everywhere(s, n);
    for (int c = 0; c < 0x100; c++)              /* each byte at each place of 8-byte runs */
        for (size_t at = 0; at < 19; at++) {
            char run[19];
            memset(run, 'a' + (int)at, sizeof run);
            run[at] = (char)c;
            check_everywhere(run, sizeof run);
        }
    char all[128];
    for (int c = 0; c < 128; c++)
        all[c] = (char)(c + 128);
    check_everywhere(all, 127);
}

static const int64_t LO = -62135596800LL * 1000000, HI = 253402300799LL * 1000000 + 999999;

static void check_time(int64_t us)
{
    char a[40], b[40];
    record_json_time(us, a);
    record_json_time_jsonc(us, b);
    if (strcmp(a, b) != 0) {
        print_error("time %lld: hand %s, strftime %s\n", (long long)us, a, b);
        fail();
    }
}

static void times(void **state)
{
    static const int64_t t[] = {
        0, 1, -1, 999999, 1000000, -999999, -1000000, -1000001, INT64_MIN, INT64_MAX,
        LO - 1, LO, LO + 1, HI - 1, HI, HI + 1, 951782400000000LL /* 2000-02-29 */,
        -2203891200000000LL /* 1900-03-01 */, 4107542400000000LL /* 2100-03-01 */,
        -62162035200000000LL, 1385391358382123LL, 86399999999LL, -86400000000LL,
    };
    struct full f;
    full_init(&f);
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        check_time(t[i]);
        for (size_t j = 0; j < sizeof t / sizeof *t; j++) {
            f.r.start_us = t[i];
            f.r.end_us = t[j];
            check(&f.r, NULL);
        }
    }
    for (int i = 0; i < 200000; i++) {
        int64_t us = (int64_t)rnd();
        check_time(us);                          /* anywhere: mostly clamped */
        check_time(LO + (int64_t)(rnd() % (uint64_t)(HI - LO + 1)));    /* years 1..9999 */
        check_time((int64_t)(rnd() % 4102444800000000ULL));            /* 1970..2100 */
    }
    /* every day of years 1..9999 at its first and last microsecond */
    for (int64_t d = LO; d <= HI; d += 86400LL * 1000000) {
        check_time(d);
        check_time(d + 86400LL * 1000000 - 1);
    }
}

static void check_ip(const uint8_t *ip, size_t len)
{
    char a[48], b[48];
    record_json_ip(ip, len, a);
    record_json_ip_jsonc(ip, len, b);
    if (strcmp(a, b) != 0) {
        print_error("ip (%zu bytes): hand %s, inet_ntop %s\n", len, a, b);
        fail();
    }
}

static void ips(void **state)
{
    uint8_t ip[16] = { 0 };
    for (size_t len = 0; len <= 17 && len <= sizeof ip; len++)
        check_ip(ip, len);
    /* each of the 2^8 patterns of zero and non-zero words, with small and large words */
    for (unsigned mask = 0; mask < 256; mask++)
        for (int variant = 0; variant < 4; variant++) {
            for (int i = 0; i < 8; i++) {
                uint16_t w = 0;
                if (mask & 1u << i)
                    w = variant == 0 ? 1 : variant == 1 ? 0xffff : variant == 2 ? 0x0a0
                                                                               : (uint16_t)rnd();
                if (w == 0 && (mask & 1u << i))
                    w = 0x100;
                ip[2 * i] = (uint8_t)(w >> 8), ip[2 * i + 1] = (uint8_t)w;
            }
            check_ip(ip, 16);
            ip[10] = ip[11] = 0xff;          /* the ::ffff:a.b.c.d form */
            check_ip(ip, 16);
        }
    for (int i = 0; i < 100000; i++) {
        for (int k = 0; k < 16; k += 2) {
            uint64_t x = rnd();
            bool zero = x & 1;
            ip[k] = zero ? 0 : (uint8_t)(x >> 8 & (x & 2 ? 0 : 0xff));
            ip[k + 1] = zero ? 0 : (uint8_t)(x >> 16);
        }
        check_ip(ip, 16);
        check_ip(ip, 4);
    }
    struct full f;
    full_init(&f);
    static const uint8_t v6[][16] = {
        { 0 }, { [15] = 1 }, { [10] = 0xff, [11] = 0xff, [12] = 1, [13] = 2, [14] = 3, [15] = 4 },
        { [12] = 1, [13] = 2, [14] = 3, [15] = 4 }, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
        { 0xfe, 0x80, [8] = 0x02, [9] = 0x1b, [10] = 0x2c, [11] = 0xff, [12] = 0xfe },
    };
    for (size_t i = 0; i < sizeof v6 / sizeof *v6; i++) {
        f.src.ip = (ProtobufCBinaryData){ 16, (uint8_t *)v6[i] };
        f.dst.ip = (ProtobufCBinaryData){ 16, (uint8_t *)v6[(i + 1) % 6] };
        check(&f.r, NULL);
    }
}

static void base64_lengths(void **state)
{
    uint8_t pos[64];
    for (size_t i = 0; i < sizeof pos; i++)
        pos[i] = (uint8_t)rnd();
    struct full f;
    full_init(&f);
    for (size_t n = 1; n <= sizeof pos; n++) {
        f.r.packet_pos = (ProtobufCBinaryData){ n, pos };
        check(&f.r, NULL);
    }
}

/* append: after other text, reusing one buffer, across growth, and the buffer's release */
static void append_reuse(void **state)
{
    struct full f;
    full_init(&f);
    struct record_json_buf b = { 0 };
    check_buf(&f.r, NULL, &b, true);           /* from an empty buffer */
    size_t one = b.len;
    for (int i = 0; i < 200; i++) {            /* documents one after the other, growing */
        b.data[b.len++] = '\n';
        check_buf(&f.r, i & 1 ? "x" : NULL, &b, false);
    }
    assert_true(b.len > 200 * one);
    b.len = 0;                                 /* reused from the start */
    check_buf(&f.r, NULL, &b, true);
    assert_int_equal(b.len, one);
    record_json_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    record_json_buf_free(NULL);

    /* a caller's buffer that is exactly full, and one with a single byte free */
    for (size_t extra = 0; extra < 2; extra++) {
        struct record_json_buf c = { malloc(10 + extra), 10, 10 + extra };
        assert_non_null(c.data);
        memcpy(c.data, "0123456789", 10);
        check_buf(&f.r, NULL, &c, false);
        assert_memory_equal(c.data, "0123456789", 10);
        record_json_buf_free(&c);
    }
}

/* ---- random records through protobuf-c ------------------------------------------------ */

/* A random string: mostly ASCII words, sometimes UTF-8, control bytes or invalid bytes. */
static size_t rnd_text(char *s, size_t cap)
{
    static const char *const pieces[] = {
        "www", "example", ".", "com", "-", "_", "GET", "Mozilla/5.0", " ", "\xc3\xa9",
        "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\"", "\\", "/", "\t", "\n", "\x01", "\x7f",
        "\x80", "\xff", "\xed\xa0\x80", "\xe2\x82", "1.3", "NXDOMAIN", "SSH-2.0-OpenSSH_9.2",
    };
    size_t n = 0, parts = rnd() % 8;
    for (size_t i = 0; i < parts; i++) {
        uint64_t x = rnd();
        const char *p = pieces[x % 8 < 6 ? x % 9 : (x >> 8) % (sizeof pieces / sizeof *pieces)];
        size_t l = strlen(p);
        if (n + l + 1 > cap)
            break;
        memcpy(s + n, p, l);
        n += l;
    }
    s[n] = '\0';
    return n;
}

struct gen {
    struct full f;
    char strs[40][64];
    size_t ns;
    char *arr[6][4];
    uint8_t bin[8][40];
    ProtobufCBinaryData linked[3];
};

static char *gen_str(struct gen *g)
{
    char *s = g->strs[g->ns++ % 40];
    rnd_text(s, 64);
    return s;
}

static void gen_bin(struct gen *g, int k, ProtobufCBinaryData *out, size_t maxlen)
{
    size_t n = rnd() % (maxlen + 1);
    for (size_t i = 0; i < n; i++)
        g->bin[k][i] = (uint8_t)(rnd() % 4 ? 'a' + rnd() % 26 : rnd());
    *out = (ProtobufCBinaryData){ n, g->bin[k] };
}

static size_t gen_arr(struct gen *g, int k, char ***out)
{
    size_t n = rnd() % 3 ? 0 : 1 + rnd() % 4;
    for (size_t i = 0; i < n; i++)
        g->arr[k][i] = gen_str(g);
    *out = g->arr[k];
    return n;
}

static int64_t gen_time(void)
{
    uint64_t x = rnd();
    switch (x % 16) {
    case 0: return (int64_t)rnd();
    case 1: return -(int64_t)(rnd() % 100000000000000000ULL);
    default: return 1300000000000000LL + (int64_t)(rnd() % 1000000000000000ULL);
    }
}

static uint64_t gen_count(void)
{
    uint64_t x = rnd();
    return x % 32 == 0 ? rnd() : x % 8 == 0 ? rnd() % 100000000000ULL : rnd() % 100000;
}

static void gen_record(struct gen *g)
{
    struct full *f = &g->f;
    full_init(f);
    Ashiato__SessionRecord *r = &f->r;
    g->ns = 0;
    for (int e = 0; e < 2; e++) {
        Ashiato__Endpoint *ep = e ? &f->dst : &f->src;
        uint8_t *ip = e ? f->dip : f->sip;
        for (int i = 0; i < 16; i++)
            ip[i] = (uint8_t)(rnd() % 3 ? 0 : rnd());
        uint64_t x = rnd();
        ep->ip.len = x % 8 == 0 ? 0 : x % 3 == 0 ? 16 : 4;
        ep->port = (uint32_t)(rnd() % 10 == 0 ? rnd() : rnd() % 65536);
        ep->bytes = gen_count();
        ep->packets = gen_count();
        ep->data_bytes = gen_count();
        ep->mac.len = rnd() % 4 ? 6 : rnd() % 7;
    }
    if (rnd() % 16 == 0) r->source = NULL;
    if (rnd() % 16 == 0) r->destination = NULL;
    gen_bin(g, 0, &r->id, 32);
    gen_bin(g, 1, &r->root_id, 32);
    r->observer_name = gen_str(g);
    r->start_us = gen_time();
    r->end_us = rnd() % 4 ? r->start_us + (int64_t)(rnd() % 100000000000ULL) : gen_time();
    r->iana_number = (uint32_t)(rnd() % 2 ? (uint64_t[]){ 6, 17, 1, 58, 132, 47, 50, 0 }[rnd() % 8]
                                          : rnd() % 4 ? rnd() % 256 : rnd());
    r->ip_version = rnd() % 2 ? 4 : 6;
    r->community_id = gen_str(g);
    r->n_vlan = rnd() % 4;
    for (size_t i = 0; i < r->n_vlan; i++)
        f->vlan[i] = (uint32_t)(rnd() % 8 ? rnd() % 4096 : rnd());
    r->protocol = gen_str(g);
    r->n_tags = gen_arr(g, 0, &r->tags);
    if (rnd() % 4 == 0) r->tcp_flags = NULL;
    f->flags.syn = (uint32_t)gen_count(), f->flags.ack = (uint32_t)rnd(), f->flags.urg = 0;
    r->conn_state = gen_str(g);
    r->history = gen_str(g);
    r->segment = (uint32_t)(rnd() % 8 ? rnd() % 3 : rnd());
    r->n_http_host = gen_arr(g, 1, &r->http_host);
    r->n_http_method = gen_arr(g, 2, &r->http_method);
    r->n_user_agent = gen_arr(g, 3, &r->user_agent);
    r->n_http_status = rnd() % 3 ? 0 : 1 + rnd() % 2;
    for (size_t i = 0; i < r->n_http_status; i++)
        f->status[i] = (uint32_t)(rnd() % 8 ? 100 + rnd() % 500 : rnd());
    r->n_dns_query = gen_arr(g, 4, &r->dns_query);
    r->dns_rcode = rnd() % 2 ? "" : gen_str(g);
    r->n_tls_sni = gen_arr(g, 5, &r->tls_sni);
    r->tls_version = rnd() % 2 ? "" : gen_str(g);
    r->ssh_client = rnd() % 2 ? "" : gen_str(g);
    r->ssh_server = rnd() % 2 ? "" : gen_str(g);
    r->truncated_fields = rnd() % 4 == 0;
    gen_bin(g, 2, &r->packet_pos, 40);
    r->n_packet_files = rnd() % 3;
    f->pf[0].file_id = gen_count(), f->pf[1].file_id = rnd();
    r->n_linked = rnd() % 4;
    for (size_t i = 0; i < r->n_linked; i++)
        gen_bin(g, 3 + (int)i, &g->linked[i], 32);
    r->linked = g->linked;
    r->segment_name = rnd() % 2 ? "" : gen_str(g);
    r->icmp_quoted_count = (uint32_t)(rnd() % 3 ? 0 : rnd() % 4 ? 1 + rnd() % 100 : rnd());
    r->icmp_error_type = (uint32_t)(rnd() % 2 ? 0 : rnd() % 4 ? rnd() % 256 : rnd());
    r->icmp_error_code = (uint32_t)(rnd() % 2 ? 0 : rnd() % 4 ? rnd() % 256 : rnd());
    gen_bin(g, 6, &r->icmp_quoted_src_ip, 17);
    gen_bin(g, 7, &r->icmp_quoted_dst_ip, 17);
    r->icmp_quoted_src_port = (uint32_t)(rnd() % 2 ? rnd() % 65536 : rnd());
    r->icmp_quoted_dst_port = (uint32_t)(rnd() % 2 ? rnd() % 65536 : rnd());
    r->icmp_quoted_iana_number = (uint32_t)(rnd() % 2 ? rnd() % 256 : rnd());
    r->icmp_quoted_community_id = rnd() % 2 ? "" : gen_str(g);
}

static void random_records(void **state)
{
    static struct gen g;
    static uint8_t packed[1 << 16];
    struct record_json_buf buf = { 0 };
    rng = 0x2545f4914f6cdd1dULL;               /* fixed: the same 10000 records each run */
    for (int i = 0; i < 10000; i++) {
        gen_record(&g);
        size_t n = ashiato__session_record__get_packed_size(&g.f.r);
        assert_true(n <= sizeof packed);
        assert_int_equal(ashiato__session_record__pack(&g.f.r, packed), n);
        check(&g.f.r, i % 3 ? NULL : "obs");   /* as built, and as the wire gives it back */
        Ashiato__SessionRecord *u = ashiato__session_record__unpack(NULL, n, packed);
        assert_non_null(u);
        buf.len = 0;
        check_buf(u, i % 5 ? NULL : "aggregator", &buf, true);
        ashiato__session_record__free_unpacked(u, NULL);
    }
    record_json_buf_free(&buf);
}

/* ---- the sensor's journal of a real capture (bench/ingest.sh) --------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int seg_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries as sensor/outbox.c writes them: "ASHJ", payload length u32, seq u64, records u32,
 * crc32 u32 (little-endian), then a packed Batch. Read-only: the bench's cache stays as it is. */
static uint64_t check_segment(const char *path, struct record_json_buf *buf)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint8_t hdr[24];
    uint8_t *payload = NULL;
    size_t cap = 0;
    uint64_t records = 0;
    while (fread(hdr, 1, sizeof hdr, fp) == sizeof hdr && le32(hdr) == 0x4a485341u) {
        uint32_t len = le32(hdr + 4);
        if (len > cap) {
            assert_non_null(payload = realloc(payload, len));
            cap = len;
        }
        if (fread(payload, 1, len, fp) != len)
            break;                               /* a torn tail: the outbox cuts it too */
        Ashiato__Batch *b = ashiato__batch__unpack(NULL, len, payload);
        assert_non_null(b);
        assert_int_equal(b->n_records, le32(hdr + 16));
        for (size_t i = 0; i < b->n_records; i++) {
            buf->len = 0;
            check_buf(b->records[i], i % 2 ? b->sensor : NULL, buf, i % 64 == 0);
        }
        records += b->n_records;
        ashiato__batch__free_unpacked(b, NULL);
    }
    free(payload);
    fclose(fp);
    return records;
}

static void journal_records(void **state)
{
    const char *src = getenv("ASHIATO_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bench/.cache/ingest/journal-s1", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        print_message("SKIP: %s not found (bench/ingest.sh leaves a sensor journal there; "
                      "ASHIATO_SOURCE_DIR names the source tree)\n", dir);
        skip();
    }
    char *segs[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (!strncmp(de->d_name, "seg-", 4) && strstr(de->d_name, ".journal"))
            assert_non_null(segs[n++] = strdup(de->d_name));
    closedir(d);
    qsort(segs, n, sizeof *segs, seg_cmp);
    struct record_json_buf buf = { 0 };
    uint64_t records = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, segs[i]);
        records += check_segment(path, &buf);
        free(segs[i]);
    }
    record_json_buf_free(&buf);
    print_message("journal-s1: %llu records in %zu segments, each byte-identical\n",
                  (unsigned long long)records, n);
    assert_true(records > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_record),
        cmocka_unit_test(full_record),
        cmocka_unit_test(null_parts),
        cmocka_unit_test(optional_blocks),
        cmocka_unit_test(max_counts),
        cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(control_chars),
        cmocka_unit_test(times),
        cmocka_unit_test(ips),
        cmocka_unit_test(base64_lengths),
        cmocka_unit_test(append_reuse),
        cmocka_unit_test(random_records),
        cmocka_unit_test(journal_records),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    print_message("record_json: %llu documents compared with the json-c oracle\n",
                  (unsigned long long)checked);
    return rc;
}
