/* test_app_tls.c -- ClientHello SNI, ServerHello version (supported_versions), bad records. */
#include "app_test_util.h"
#include "app_vectors.h"

static void tls13(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 62510, 443, v_tls13_client_hello, sizeof v_tls13_client_hello);
    const struct app_fields *f = fields(&h);
    assert_int_equal(h.st.proto, APP_TLS);
    assert_non_null(f);
    assert_int_equal(f->n_tls_sni, 1);
    assert_string_equal(f->tls_sni[0], "blog.cloudflare.com");
    assert_int_equal(f->tls_version, 0);       /* the client's offer is not the version */
    feed(&h, 1, TCP, 62510, 443, v_tls13_server_hello, sizeof v_tls13_server_hello);
    assert_int_equal(f->tls_version, 0x0304);  /* supported_versions: draft 18 (0x7f12) */
    /* both hellos taken: the session is left alone from now on */
    feed(&h, 0, TCP, 62510, 443, v_tls12_client_hello, sizeof v_tls12_client_hello);
    feed(&h, 1, TCP, 62510, 443, v_tls12_server_hello, sizeof v_tls12_server_hello);
    assert_int_equal(f->tls_version, 0x0304);
    h_close(&h);
}

static void tls12(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 57413, 443, v_tls12_client_hello, sizeof v_tls12_client_hello);
    feed(&h, 1, TCP, 57413, 443, v_tls12_server_hello, sizeof v_tls12_server_hello);
    const struct app_fields *f = fields(&h);
    assert_true(tagged(&h, APP_TLS));
    assert_non_null(f);
    assert_int_equal(f->n_tls_sni, 0);
    assert_int_equal(f->tls_version, 0x0303);
    h_close(&h);
}

static void every_truncation(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    size_t want_sni = 0;
    for (size_t n = 0; n <= sizeof v_tls13_client_hello; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, v_tls13_client_hello, n);
        feed(&h, 0, TCP, 62510, 443, copy, n);
        const struct app_fields *f = fields(&h);
        check_sane(f);
        if (f && f->n_tls_sni) {
            assert_string_equal(f->tls_sni[0], "blog.cloudflare.com");
            if (!want_sni)
                want_sni = n;
        }
        free(copy);
        h_reset(&h);
    }
    assert_true(want_sni > 0 && want_sni < sizeof v_tls13_client_hello);
    for (size_t n = 0; n <= sizeof v_tls13_server_hello; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, v_tls13_server_hello, n);
        feed(&h, 1, TCP, 62510, 443, copy, n);
        const struct app_fields *f = fields(&h);
        check_sane(f);
        if (f && f->tls_version)
            assert_true(f->tls_version == 0x0304 || f->tls_version == 0x0303);
        free(copy);
        h_reset(&h);
    }
    h_close(&h);
}

static void bogus_lengths(void **state)
{
    (void)state;
    uint8_t m[sizeof v_tls13_client_hello];
    struct harness h;
    h_open(&h, 1);
    /* every single 16-bit length field in turn set to 0xffff, then to 0 */
    for (size_t i = 0; i + 1 < sizeof m; i++) {
        for (int v = 0; v < 2; v++) {
            memcpy(m, v_tls13_client_hello, sizeof m);
            m[i] = m[i + 1] = v ? 0xff : 0x00;
            feed(&h, 0, TCP, 62510, 443, m, sizeof m);
            check_sane(fields(&h));
            h_reset(&h);
        }
    }
    /* records claiming more than TLS allows are not TLS */
    memcpy(m, v_tls13_client_hello, sizeof m);
    m[3] = 0x7f;
    feed(&h, 0, TCP, 62510, 443, m, sizeof m);
    assert_false(tagged(&h, APP_TLS));
    h_close(&h);
}

static void not_tls(void **state)
{
    (void)state;
    static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28 };
    static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00 };
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 40000, 443, alert, sizeof alert);
    feed(&h, 1, TCP, 40000, 443, sslv2, sizeof sslv2);
    assert_int_equal(h.st.tags, 0);
    assert_null(fields(&h));
    h_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls13),
        cmocka_unit_test(tls12),
        cmocka_unit_test(every_truncation),
        cmocka_unit_test(bogus_lengths),
        cmocka_unit_test(not_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
