/* test_app_detect.c -- payload signatures (and SSH banners): every corpus vector tags its
 * protocol, the near misses Arkime rejects are rejected too, random payloads tag nothing. */
#include "app_test_util.h"
#include "app_vectors.h"

struct vec {
    const char    *name;
    const uint8_t *p;
    size_t         len;
    int            dir;
    uint8_t        proto;
    uint16_t       cport, sport;
    enum app_proto want;
};

#define V(name, dir, proto, cport, sport, want) \
    { #name, v_##name, sizeof v_##name, dir, proto, cport, sport, want }

static const struct vec positives[] = {
    V(http_get, 0, TCP, 61450, 80, APP_HTTP),
    V(http_403, 1, TCP, 61450, 80, APP_HTTP),
    V(tls13_client_hello, 0, TCP, 62510, 443, APP_TLS),
    V(tls12_server_hello, 1, TCP, 57413, 443, APP_TLS),
    V(ssh_server_banner, 1, TCP, 61672, 22, APP_SSH),
    V(ssh_client_banner, 0, TCP, 61672, 22, APP_SSH),
    V(smb1_negotiate, 0, TCP, 41823, 445, APP_SMB),
    V(smb2_negotiate, 0, TCP, 49671, 445, APP_SMB),
    V(rdp_cr, 0, TCP, 50400, 3389, APP_RDP),
    V(dcerpc_bind, 0, TCP, 50100, 135, APP_DCERPC),
    V(krb5_tcp_as_req, 0, TCP, 49501, 88, APP_KRB5),
    V(krb5_udp_as_req, 0, UDP, 49700, 88, APP_KRB5),
    V(ntp_client, 0, UDP, 123, 123, APP_NTP),
    V(netflow_v5, 0, UDP, 40000, 2055, APP_NETFLOW),
    V(netflow_v7, 0, UDP, 40001, 2055, APP_NETFLOW),
    V(netflow_v9, 0, UDP, 40002, 2055, APP_NETFLOW),
    V(smtp_banner, 1, TCP, 55005, 25, APP_SMTP),
    V(smtp_ehlo, 0, TCP, 55005, 25, APP_SMTP),
    V(ftp_banner, 1, TCP, 56007, 21, APP_FTP),
    V(ldap_bind, 0, TCP, 55013, 389, APP_LDAP),
    V(nbns_query, 0, UDP, 49200, 137, APP_NBNS),
    V(dhcp_request, 0, UDP, 68, 67, APP_DHCP),
    V(quic_initial, 0, UDP, 10000, 443, APP_QUIC),
    V(gquic_chlo, 0, UDP, 52001, 443, APP_QUIC),
    V(dns_udp_query, 0, UDP, 62563, 53, APP_DNS),
};

/* near misses: what Arkime does not tag must not be tagged */
static const struct vec negatives[] = {
    V(krb5_tcp_no_prefix, 0, TCP, 55011, 88, APP_UNKNOWN),   /* TCP needs the length prefix */
    V(krb5_udp_garbage, 0, UDP, 54340, 88, APP_UNKNOWN),     /* no KDC-REQ-BODY */
    V(dhcp_short, 0, UDP, 68, 67, APP_UNKNOWN),              /* under 256 bytes */
    V(mysql_greeting, 1, TCP, 40041, 3306, APP_UNKNOWN),     /* a greeting alone */
    V(nbss_request, 0, TCP, 49671, 139, APP_UNKNOWN),        /* session request, no SMB yet */
    V(snmp_get, 0, UDP, 55008, 161, APP_UNKNOWN),            /* BER, but not LDAP */
    V(udp_text, 0, UDP, 40100, 9999, APP_UNKNOWN),
    V(http_rpc_in_data, 0, TCP, 51001, 80, APP_UNKNOWN),     /* unknown method */
    V(krb5_udp_as_req, 0, UDP, 49700, 8888, APP_UNKNOWN),    /* Kerberos/UDP wants port 88 */
    V(ntp_client, 0, UDP, 40000, 40001, APP_UNKNOWN),        /* NTP wants port 123 */
    V(nbns_query, 0, UDP, 49200, 4000, APP_UNKNOWN),
};

static void signatures(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 2);
    for (size_t i = 0; i < ASH_ARRAY_LEN(positives); i++) {
        const struct vec *v = &positives[i];
        feed(&h, v->dir, v->proto, v->cport, v->sport, v->p, v->len);
        if (!tagged(&h, v->want) || h.st.proto != v->want)
            fail_msg("%s: want %s, tags 0x%x proto %s", v->name, app_proto_name(v->want),
                     h.st.tags, app_proto_name((enum app_proto)h.st.proto));
        h_reset(&h);
    }
    for (size_t i = 0; i < ASH_ARRAY_LEN(negatives); i++) {
        const struct vec *v = &negatives[i];
        feed(&h, v->dir, v->proto, v->cport, v->sport, v->p, v->len);
        if (h.st.tags != 0)
            fail_msg("%s: tagged 0x%x", v->name, h.st.tags);
        h_reset(&h);
    }
    h_close(&h);
}

static void mysql_needs_login(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 1, TCP, 40041, 3306, v_mysql_greeting, sizeof v_mysql_greeting);
    assert_int_equal(h.st.tags, 0);
    feed(&h, 0, TCP, 40041, 3306, v_mysql_login, sizeof v_mysql_login);
    assert_int_equal(h.st.proto, APP_MYSQL);
    h_reset(&h);
    /* the greeting's own side cannot log in */
    feed(&h, 1, TCP, 40041, 3306, v_mysql_greeting, sizeof v_mysql_greeting);
    feed(&h, 1, TCP, 40041, 3306, v_mysql_login, sizeof v_mysql_login);
    assert_int_equal(h.st.tags, 0);
    h_close(&h);
}

static void ftp_or_smtp(void **state)
{
    (void)state;
    static const char banner[] = "220 mail.example.net ready\r\n";
    struct harness h;
    h_open(&h, 1);
    feed(&h, 1, TCP, 56007, 21, v_ftp_banner, sizeof v_ftp_banner);
    feed(&h, 0, TCP, 56007, 21, v_ftp_user, sizeof v_ftp_user);
    assert_int_equal(h.st.proto, APP_FTP);
    assert_int_equal(h.st.tags, 1u << APP_FTP);
    h_reset(&h);
    /* a banner without "SMTP" is FTP until the client says EHLO */
    feed(&h, 1, TCP, 56008, 25, banner, sizeof banner - 1);
    assert_int_equal(h.st.proto, APP_FTP);
    feed(&h, 0, TCP, 56008, 25, v_smtp_ehlo, sizeof v_smtp_ehlo);
    assert_int_equal(h.st.proto, APP_SMTP);
    assert_int_equal(h.st.tags, 1u << APP_SMTP);
    h_close(&h);
}

static void ssh_banners(void **state)
{
    (void)state;
    static const char pre[] = "Please wait\r\nSSH-2.0-Banner_After_Text\r\n";
    struct harness h;
    h_open(&h, 1);
    feed(&h, 1, TCP, 61672, 22, v_ssh_server_banner, sizeof v_ssh_server_banner);
    feed(&h, 0, TCP, 61672, 22, v_ssh_client_banner, sizeof v_ssh_client_banner);
    const struct app_fields *f = fields(&h);
    assert_int_equal(h.st.proto, APP_SSH);
    assert_string_equal(f->ssh_server, "SSH-1.99-OpenSSH_3.9p1");
    assert_string_equal(f->ssh_client, "SSH-2.0-OpenSSH_5.3");
    h_reset(&h);
    feed(&h, 0, TCP, 40000, 22, "SSH-2.0-x\r\n", 11);
    feed(&h, 1, TCP, 40000, 22, pre, sizeof pre - 1);
    assert_string_equal(fields(&h)->ssh_server, "SSH-2.0-Banner_After_Text");
    h_reset(&h);
    char longb[300] = "SSH-2.0-";
    memset(longb + 8, 'z', 250);
    feed(&h, 0, TCP, 40000, 22, longb, 258);
    assert_int_equal(strlen(fields(&h)->ssh_client), APP_BANNER_LEN - 1);
    assert_true(fields(&h)->truncated);
    h_reset(&h);
    static const char *const bad[] = { "SSH-", "SSH-2.0", "SSH-x.0-a\r\n", "SSH-2.-a\r\n", "ssh-2.0-a\r\n" };
    for (size_t i = 0; i < ASH_ARRAY_LEN(bad); i++) {
        feed(&h, 0, TCP, 40000, 22, bad[i], strlen(bad[i]));
        assert_int_equal(h.st.tags, 0);
        h_reset(&h);
    }
    h_close(&h);
}

/* IETF QUIC is tagged only when the Initial's protection comes off: one flipped bit, a
 * short datagram or another connection id leave the session untagged */
static void quic_must_decrypt(void **state)
{
    (void)state;
    static uint8_t m[sizeof v_quic_initial];
    struct harness h;
    h_open(&h, 1);
    size_t spots[] = { 7, 30, 600, sizeof m - 1 };
    for (size_t i = 0; i < ASH_ARRAY_LEN(spots); i++) {
        memcpy(m, v_quic_initial, sizeof m);
        m[spots[i]] ^= 0x01;
        feed(&h, 0, UDP, 10000, 443, m, sizeof m);
        assert_int_equal(h.st.tags, 0);
        h_reset(&h);
    }
    feed(&h, 0, UDP, 10000, 443, v_quic_initial, 1199);
    assert_int_equal(h.st.tags, 0);
    h_reset(&h);
    feed(&h, 1, UDP, 10000, 443, v_quic_initial, sizeof v_quic_initial); /* server keys */
    assert_int_equal(h.st.tags, 0);
    h_close(&h);
}

/* every truncation of every vector: no read outside, sane fields */
static void every_truncation(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    for (size_t i = 0; i < ASH_ARRAY_LEN(positives); i++) {
        const struct vec *v = &positives[i];
        for (size_t n = 0; n <= v->len; n++) {
            uint8_t *copy = malloc(n ? n : 1);
            memcpy(copy, v->p, n);
            feed(&h, v->dir, v->proto, v->cport, v->sport, copy, n);
            check_sane(fields(&h));
            free(copy);
            h_reset(&h);
        }
    }
    h_close(&h);
}

/* xorshift64*: a fixed stream so a failure reproduces */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void random_payloads_tag_nothing(void **state)
{
    (void)state;
    static const uint16_t ports[] = { 80, 443, 53, 5353, 5355, 88, 123, 137, 67, 68, 3306,
                                      445, 139, 389, 25, 21, 22, 3389, 135, 2055, 40000 };
    static uint8_t buf[1500];
    struct harness h;
    h_open(&h, 4);
    unsigned hits = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = (size_t)(rng() % sizeof buf);
        for (size_t k = 0; k < len; k += 8) {
            uint64_t r = rng();
            memcpy(buf + k, &r, len - k < 8 ? len - k : 8);
        }
        uint8_t proto = (rng() & 1) ? TCP : UDP;
        uint16_t sport = ports[rng() % ASH_ARRAY_LEN(ports)];
        for (int d = 0; d < 2; d++)
            feed(&h, d, proto, 50000, sport, buf, len);
        if (h.st.tags) {
            hits++;
            print_message("random payload %d (len %zu, proto %u, port %u) tagged %s\n", i, len,
                          proto, sport, app_proto_name((enum app_proto)h.st.proto));
        }
        h_reset(&h);
    }
    assert_int_equal(hits, 0);
    h_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signatures),
        cmocka_unit_test(mysql_needs_login),
        cmocka_unit_test(ftp_or_smtp),
        cmocka_unit_test(ssh_banners),
        cmocka_unit_test(quic_must_decrypt),
        cmocka_unit_test(every_truncation),
        cmocka_unit_test(random_payloads_tag_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
