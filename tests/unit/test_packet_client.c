/* test_packet_client.c -- packet_client against its header, without a network: queries built
 * from session documents (positions, or time range and flow; addresses checked with
 * inet_pton, L11), and the check of an answer against the session (H2: time range and flow,
 * either direction; a tunnelled packet by its inner addresses), on pcap bytes made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "packet_client.h"

#define T0 1632833400u                        /* 2021-09-28T12:50:00Z */

static char doc[2048];

static const char *make_doc(const char *sip, const char *dip, const char *proto, bool pos)
{
    snprintf(doc, sizeof doc,
             "{\"event\":{\"start\":\"2021-09-28T12:50:00.000000Z\",\"end\":\"2021-09-28T12:50:10.000000Z\"},"
             "\"source\":{\"ip\":\"%s\",\"port\":1111},\"destination\":{\"ip\":\"%s\",\"port\":80},"
             "\"network\":{\"iana_number\":%s},\"observer\":{\"name\":\"s1\"},"
             "\"ashiato\":{\"session_id\":\"210928-x\"%s}}",
             sip, dip, proto, pos ? ",\"packet_pos\":\"AQADGA==\",\"packet_files\":[1]" : "");
    return doc;
}

/* Ethernet + IPv4 + TCP (or GRE carrying IPv4 + TCP when outer is set) */
static size_t frame(uint8_t *f, const uint8_t src[4], const uint8_t dst[4], uint16_t sp, uint16_t dp,
                    const uint8_t *outer)
{
    size_t n = 0;
    memset(f, 0, 200);
    f[12] = 0x08, n = 14;
    if (outer) {                              /* outer IPv4 + GRE (proto 0x0800) */
        f[n] = 0x45, f[n + 3] = 64, f[n + 8] = 64, f[n + 9] = 47;
        memcpy(f + n + 12, outer, 4), memcpy(f + n + 16, outer + 4, 4);
        n += 20;
        f[n + 2] = 0x08, n += 4;
    }
    f[n] = 0x45, f[n + 3] = 40, f[n + 8] = 64, f[n + 9] = 6;
    memcpy(f + n + 12, src, 4), memcpy(f + n + 16, dst, 4);
    n += 20;
    f[n] = (uint8_t)(sp >> 8), f[n + 1] = (uint8_t)sp, f[n + 2] = (uint8_t)(dp >> 8), f[n + 3] = (uint8_t)dp;
    f[n + 12] = 0x50;
    return n + 20;
}

static uint8_t pcap[8192];
static size_t plen;

static void le32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24); }

static void pcap_start(void)
{
    memset(pcap, 0, 24);
    le32(pcap, 0xa1b2c3d4), pcap[4] = 2, pcap[6] = 4;
    le32(pcap + 16, 65535), le32(pcap + 20, 1);
    plen = 24;
}

static void pcap_add(uint32_t sec, const uint8_t *f, size_t n)
{
    le32(pcap + plen, T0 + sec), le32(pcap + plen + 4, 0), le32(pcap + plen + 8, (uint32_t)n);
    le32(pcap + plen + 12, (uint32_t)n);
    memcpy(pcap + plen + 16, f, n);
    plen += 16 + n;
}

static const uint8_t A[4] = { 10, 0, 0, 1 }, B[4] = { 10, 0, 0, 2 }, C[4] = { 10, 0, 0, 3 };

static void check(const char *d, int want, const char *why)
{
    struct packet_client_query q;
    char err[ASH_ERR_LEN] = "";
    assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), 0);
    uint64_t n = 0;
    int rc = packet_client_check(&q, pcap, plen, &n, err);
    if (rc != want)
        fail_msg("check: %d, expected %d: %s", rc, want, err);
    if (why)
        assert_non_null(strstr(err, why));
    packet_client_query_free(&q);
}

/* H2: an answer is the session's packets or it is refused */
static void test_h2_answer_checked_against_the_session(void **state)
{
    (void)state;
    uint8_t f[200];
    const char *d = make_doc("10.0.0.1", "10.0.0.2", "\"6\"", true);
    pcap_start();
    pcap_add(1, f, frame(f, A, B, 1111, 80, NULL));
    pcap_add(2, f, frame(f, B, A, 80, 1111, NULL));          /* the other direction */
    const uint8_t outer[8] = { 192, 0, 2, 1, 192, 0, 2, 2 };
    pcap_add(3, f, frame(f, A, B, 1111, 80, outer));         /* tunnelled: inner addresses */
    check(d, 0, NULL);
    pcap_add(4, f, frame(f, A, B, 2222, 80, NULL));          /* another flow of the same hosts */
    check(d, -1, "packet 4 is not of the session's flow");
    pcap_start();
    pcap_add(1, f, frame(f, A, C, 1111, 80, NULL));          /* another host */
    check(d, -1, "packet 1 is not of the session's flow");
    pcap_start();
    pcap_add(11, f, frame(f, A, B, 1111, 80, NULL));         /* after event.end */
    check(d, -1, "outside the session's time range");
    pcap_start();
    pcap_add(1, f, frame(f, A, B, 1111, 80, NULL));
    plen -= 3;                                               /* a record cut short */
    check(d, -1, "cut short");
}

/* L11: addresses reach a filter only as inet_pton parsed them */
static void test_l11_addresses_checked(void **state)
{
    (void)state;
    static const char *const bad[] = { "10.0.0.1 or net 0/0", "0/0", "10.0.0.1 and not host 1.1.1.1",
                                       "", "10.0.0.256", "2001:db8::1 or ip" };
    struct packet_client_query q;
    char err[ASH_ERR_LEN];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *d = make_doc(bad[i], "10.0.0.2", "6", false);
        assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), -1);
        assert_non_null(strstr(err, "source.ip: expected"));
        d = make_doc("10.0.0.1", bad[i], "6", false);
        assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), -1);
        assert_non_null(strstr(err, "destination.ip: expected"));
    }
    const char *d = make_doc("2001:db8::1", "2001:DB8:0::2", "17", false);
    assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), 0);
    assert_true(q.by_flow);
    assert_string_equal(q.bpf, "udp and ((src host 2001:db8::1 and src port 1111 and dst host 2001:db8::2 "
                        "and dst port 80) or (src host 2001:db8::2 and src port 80 and dst host "
                        "2001:db8::1 and dst port 1111))");
    packet_client_query_free(&q);
    d = make_doc("10.0.0.1", "10.0.0.2", "\"6; drop\"", false);
    assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), -1);
}

static void queries_from_documents(void **state)
{
    (void)state;
    struct packet_client_query q;
    char err[ASH_ERR_LEN];
    const char *d = make_doc("10.0.0.1", "10.0.0.2", "6", true);
    assert_int_equal(packet_client_query_from_json(&q, d, strlen(d), err), 0);
    assert_false(q.by_flow);
    assert_int_equal(q.pos_len, 4);
    assert_int_equal(q.nfiles, 1);
    assert_string_equal(q.sensor, "s1");
    assert_string_equal(q.name, "210928-x");
    assert_true(q.check_end_us - q.check_start_us == 10000000);
    packet_client_query_free(&q);
    assert_int_equal(packet_client_query_from_json(&q, "{not json", 9, err), -1);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(packet_client_query_from_json(&q, "[1]", 3, err), -1);
    assert_int_equal(packet_client_query_range(&q, 10, 5, NULL, NULL, err), -1);
    assert_int_equal(packet_client_query_range(&q, 5, 10, "tcp", "s2", err), 0);
    assert_false(q.check);
    int64_t us;
    assert_int_equal(packet_client_parse_time("nan", &us), -1);
    assert_int_equal(packet_client_parse_time("2021-09-28T12:50:00.5Z", &us), 0);
    assert_true(us == (int64_t)T0 * 1000000 + 500000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_answer_checked_against_the_session),
        cmocka_unit_test(test_l11_addresses_checked),
        cmocka_unit_test(queries_from_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
