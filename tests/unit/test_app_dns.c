/* test_app_dns.c -- DNS over UDP and TCP: names, CNAME targets, RCODE, hostile compression. */
#include "app_test_util.h"
#include "app_vectors.h"

static void udp_cname(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, UDP, 62563, 53, v_dns_udp_query, sizeof v_dns_udp_query);
    feed(&h, 1, UDP, 62563, 53, v_dns_udp_cname, sizeof v_dns_udp_cname);
    const struct app_fields *f = fields(&h);
    assert_int_equal(h.st.proto, APP_DNS);
    assert_non_null(f);
    assert_int_equal(f->n_dns_query, 2);       /* Arkime's dns.host: query and CNAME target */
    assert_string_equal(f->dns_query[0], "www.github.com");
    assert_string_equal(f->dns_query[1], "github.com");
    assert_true(f->has_dns_rcode);
    assert_int_equal(f->dns_rcode, 0);
    h_close(&h);
}

static void tcp_prefix(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 49342, 53, v_dns_tcp_query, sizeof v_dns_tcp_query);
    feed(&h, 1, TCP, 49342, 53, v_dns_tcp_answer, sizeof v_dns_tcp_answer);
    const struct app_fields *f = fields(&h);
    assert_true(tagged(&h, APP_DNS));
    assert_int_equal(f->n_dns_query, 1);
    assert_string_equal(f->dns_query[0], "google.com");
    assert_true(f->has_dns_rcode);
    h_close(&h);
}

static void rcodes(void **state)
{
    (void)state;
    char buf[8];
    struct harness h;
    h_open(&h, 1);
    feed(&h, 1, UDP, 33001, 53, v_dns_badvers, sizeof v_dns_badvers);   /* EDNS BADVERS */
    assert_int_equal(fields(&h)->dns_rcode, 16);
    assert_string_equal(app_dns_rcode_name(fields(&h)->dns_rcode, buf), "BADSIG_VERS");
    h_reset(&h);
    feed(&h, 1, UDP, 40768, 53, v_dns_nxdomain, sizeof v_dns_nxdomain);
    assert_string_equal(app_dns_rcode_name(fields(&h)->dns_rcode, buf), "NXDOMAIN");
    /* only the first response counts */
    feed(&h, 1, UDP, 40768, 53, v_dns_udp_cname, sizeof v_dns_udp_cname);
    assert_int_equal(fields(&h)->dns_rcode, 3);
    h_close(&h);
    assert_string_equal(app_dns_rcode_name(0, buf), "NOERROR");
    assert_string_equal(app_dns_rcode_name(2, buf), "SERVFAIL");
    assert_string_equal(app_dns_rcode_name(12, buf), "12");
    assert_string_equal(app_dns_rcode_name(255, buf), "255");
}

static void mdns_and_llmnr(void **state)
{
    (void)state;
    static const uint8_t llmnr[] = "\x20\x0c\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04mypc\x00\x00\x01\x00\x01";
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, UDP, 5353, 5353, v_mdns_query, sizeof v_mdns_query);
    assert_int_equal(h.st.proto, APP_MDNS);
    assert_false(tagged(&h, APP_DNS));
    assert_int_equal(fields(&h)->n_dns_query, 2);   /* every question, not only the first */
    assert_string_equal(fields(&h)->dns_query[1], "linux.local");
    h_reset(&h);
    feed(&h, 0, UDP, 5355, 5355, llmnr, sizeof llmnr - 1);
    assert_int_equal(h.st.proto, APP_LLMNR);
    assert_string_equal(fields(&h)->dns_query[0], "mypc");
    h_reset(&h);
    /* port 53 wins over 5353 (dns-udp.pcap: 5353 -> 53 is dns) */
    feed(&h, 0, UDP, 5353, 53, v_dns_udp_query, sizeof v_dns_udp_query);
    assert_int_equal(h.st.proto, APP_DNS);
    h_close(&h);
}

/* header: id, flags, qd, an, ns, ar */
static size_t msg(uint8_t *out, uint16_t flags, uint16_t qd, uint16_t an, const void *body, size_t n)
{
    uint8_t hdr[12] = { 0x12, 0x34, (uint8_t)(flags >> 8), (uint8_t)flags, (uint8_t)(qd >> 8),
                        (uint8_t)qd, (uint8_t)(an >> 8), (uint8_t)an, 0, 0, 0, 0 };
    memcpy(out, hdr, 12);
    memcpy(out + 12, body, n);
    return 12 + n;
}

static void hostile_compression(void **state)
{
    (void)state;
    uint8_t m[600];
    struct harness h;
    h_open(&h, 1);
    /* a pointer to itself, a forward pointer, a pointer past the end, reserved label types */
    static const char *const bodies[] = {
        "\xc0\x0c\x00\x01\x00\x01",
        "\x03""abc\xc0\x12\x00\x01\x00\x01\x01x\x00",
        "\x03""abc\xff\xff\x00\x01\x00\x01",
        "\x41""abc\x00\x00\x01\x00\x01",
        "\x81""abc\x00\x00\x01\x00\x01",
    };
    static const size_t lens[] = { 6, 13, 10, 9, 9 };
    for (size_t i = 0; i < ASH_ARRAY_LEN(bodies); i++) {
        size_t n = msg(m, 0x0100, 1, 0, bodies[i], lens[i]);
        feed(&h, 0, UDP, 40000, 53, m, n);
        const struct app_fields *f = fields(&h);
        assert_true(f == NULL || f->n_dns_query == 0);
        h_reset(&h);
    }

    /* a chain of answers, each owner pointing at the previous one: 40 jumps deep at the end */
    size_t n = 12;
    memcpy(m + n, "\x01q\x00\x00\x01\x00\x01", 7);
    size_t prev = n;
    n += 7;
    for (int i = 0; i < 40 && n + 20 < sizeof m; i++) {
        size_t here = n;
        m[n++] = 1;
        m[n++] = 'a';
        m[n++] = (uint8_t)(0xc0 | prev >> 8);
        m[n++] = (uint8_t)prev;
        memcpy(m + n, "\x00\x05\x00\x01\x00\x00\x00\x10\x00\x02", 10);   /* CNAME, rdlen 2 */
        n += 10;
        m[n++] = (uint8_t)(0xc0 | here >> 8);
        m[n++] = (uint8_t)here;
        prev = here;
    }
    msg(m, 0x8180, 1, 40, m + 12, 0);
    feed(&h, 1, UDP, 40000, 53, m, n);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    check_sane(f);
    assert_string_equal(f->dns_query[0], "q");
    assert_true(f->has_dns_rcode);
    h_close(&h);
}

static void long_names(void **state)
{
    (void)state;
    uint8_t body[300], m[400];
    size_t n = 0;
    for (int l = 0; l < 4; l++) {              /* 4 labels of 40: 163 characters */
        body[n++] = 40;
        memset(body + n, 'A' + l, 40);
        n += 40;
    }
    body[n++] = 0;
    memcpy(body + n, "\x00\x01\x00\x01", 4);
    n += 4;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, UDP, 40001, 53, m, msg(m, 0x0100, 1, 0, body, n));
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(strlen(f->dns_query[0]), APP_NAME_LEN - 1);
    assert_int_equal(f->dns_query[0][0], 'a');       /* lower case */
    assert_true(f->truncated);
    h_reset(&h);
    /* 7 labels of 40: more than 255 bytes on the wire is no name */
    n = 0;
    for (int l = 0; l < 7; l++) {
        body[n++] = 40;
        memset(body + n, 'b', 40);
        n += 40;
    }
    body[n++] = 0;
    memcpy(body + n, "\x00\x01\x00\x01", 4);
    n += 4;
    feed(&h, 0, UDP, 40001, 53, m, msg(m, 0x0100, 1, 0, body, n));
    assert_true(fields(&h) == NULL || fields(&h)->n_dns_query == 0);
    h_close(&h);
}

static void feed_prefixes(const uint8_t *v, size_t len, int dir, uint8_t proto, uint16_t cport,
                          uint16_t sport)
{
    struct harness h;
    h_open(&h, 1);
    for (size_t n = 0; n <= len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, v, n);
        feed(&h, dir, proto, cport, sport, copy, n);
        check_sane(fields(&h));
        free(copy);
        h_reset(&h);
    }
    h_close(&h);
}

static void every_truncation(void **state)
{
    (void)state;
    feed_prefixes(v_dns_udp_query, sizeof v_dns_udp_query, 0, UDP, 62563, 53);
    feed_prefixes(v_dns_udp_cname, sizeof v_dns_udp_cname, 1, UDP, 62563, 53);
    feed_prefixes(v_dns_tcp_answer, sizeof v_dns_tcp_answer, 1, TCP, 49342, 53);
    feed_prefixes(v_dns_badvers, sizeof v_dns_badvers, 1, UDP, 33001, 53);
    feed_prefixes(v_mdns_query, sizeof v_mdns_query, 0, UDP, 5353, 5353);
}

static void bogus_lengths(void **state)
{
    (void)state;
    uint8_t m[sizeof v_dns_tcp_query];
    struct harness h;
    h_open(&h, 1);
    memcpy(m, v_dns_tcp_query, sizeof m);
    m[0] = 0xff;                                 /* TCP prefix far beyond the packet */
    m[1] = 0xff;
    feed(&h, 0, TCP, 49342, 53, m, sizeof m);
    assert_true(tagged(&h, APP_DNS));
    assert_string_equal(fields(&h)->dns_query[0], "google.com");
    h_reset(&h);
    memcpy(m, v_dns_tcp_query, sizeof m);
    m[6] = 0xff;                                 /* qdcount 65535 */
    m[7] = 0xff;
    feed(&h, 0, TCP, 49342, 53, m, sizeof m);
    assert_false(tagged(&h, APP_DNS));
    h_reset(&h);
    uint8_t a[sizeof v_dns_udp_cname];
    memcpy(a, v_dns_udp_cname, sizeof a);
    a[7] = 0xff;                                 /* ancount far beyond the records present */
    feed(&h, 1, UDP, 62563, 53, a, sizeof a);
    check_sane(fields(&h));
    h_close(&h);
}

static void not_dns(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, UDP, 40100, 53, v_udp_text, sizeof v_udp_text);
    feed(&h, 0, UDP, 40100, 53, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    assert_int_equal(h.st.tags, 0);
    h_reset(&h);
    feed(&h, 0, UDP, 62563, 9999, v_dns_udp_query, sizeof v_dns_udp_query);   /* no DNS port */
    assert_int_equal(h.st.tags, 0);
    h_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_cname),
        cmocka_unit_test(tcp_prefix),
        cmocka_unit_test(rcodes),
        cmocka_unit_test(mdns_and_llmnr),
        cmocka_unit_test(hostile_compression),
        cmocka_unit_test(long_names),
        cmocka_unit_test(every_truncation),
        cmocka_unit_test(bogus_lengths),
        cmocka_unit_test(not_dns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
