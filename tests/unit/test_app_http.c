/* test_app_http.c -- HTTP request/status lines, Host, User-Agent, keep-alive, malformed input. */
#include "app_test_util.h"
#include "app_vectors.h"

static void get_and_403(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    feed(&h, 0, TCP, 61450, 80, v_http_get, sizeof v_http_get);
    feed(&h, 1, TCP, 61450, 80, v_http_403, sizeof v_http_403);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(h.st.proto, APP_HTTP);
    assert_true(tagged(&h, APP_HTTP));
    assert_int_equal(f->n_http_host, 1);
    assert_string_equal(f->http_host[0], "xxxxxxxxxxxxx.xxx.com");
    assert_int_equal(f->n_http_method, 1);
    assert_string_equal(f->http_method[0], "GET");
    assert_int_equal(f->n_user_agent, 1);
    assert_string_equal(f->user_agent[0], "curl/7.24.0 (x86_64-apple-darwin12.0) libcurl/7.24.0 "
                                          "OpenSSL/0.9.8y zlib/1.2.5");
    assert_int_equal(f->n_http_status, 1);
    assert_int_equal(f->http_status[0], 403);
    assert_false(f->truncated);
    h_close(&h);
}

static void ipv6_get(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 59201, 80, v_http_v6_get, sizeof v_http_v6_get);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_string_equal(f->http_host[0], "cl-1985.ham-01.de.sixxs.net");
    assert_string_equal(f->user_agent[0], "Lynx/2.8.6rel.2 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/0.9.8b");
    h_close(&h);
}

/* RPC_IN_DATA is no HTTP method (Arkime records nothing for it); the response is HTTP */
static void unknown_method(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 51001, 80, v_http_rpc_in_data, sizeof v_http_rpc_in_data);
    assert_false(tagged(&h, APP_HTTP));
    assert_null(fields(&h));
    feed(&h, 1, TCP, 51001, 80, v_http_rpc_200, sizeof v_http_rpc_200);
    assert_true(tagged(&h, APP_HTTP));
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(f->n_http_method, 0);
    assert_int_equal(f->n_http_status, 1);
    assert_int_equal(f->http_status[0], 200);
    h_close(&h);
}

static void keep_alive_and_pipelining(void **state)
{
    (void)state;
    static const char r1[] = "GET /a HTTP/1.1\r\nHost: One.Example:8080\r\nUser-Agent: ua/1\r\n\r\n";
    static const char r2[] = "POST /b HTTP/1.1\r\nHost: [2001:db8::1]:443\r\nContent-Length: 3\r\n\r\nabc"
                             "PUT /c HTTP/1.1\r\nHost: third.example\r\n\r\n";
    static const char s1[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Nope\r\n\r\n";
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 40000, 80, r1, sizeof r1 - 1);
    feed(&h, 1, TCP, 40000, 80, s1, sizeof s1 - 1);
    feed(&h, 0, TCP, 40000, 80, r2, sizeof r2 - 1);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(f->n_http_host, 2);
    assert_string_equal(f->http_host[0], "one.example");
    assert_string_equal(f->http_host[1], "[2001:db8::1]");
    assert_int_equal(f->n_http_method, 2);
    assert_string_equal(f->http_method[0], "GET");
    assert_string_equal(f->http_method[1], "POST");
    assert_int_equal(f->n_http_status, 2);
    assert_int_equal(f->http_status[0], 200);
    assert_int_equal(f->http_status[1], 404);
    assert_true(f->truncated);          /* a third host and method did not fit */
    check_sane(f);
    h_close(&h);
}

/* a header cut by the end of the packet is simply not recorded */
static void split_header(void **state)
{
    (void)state;
    static const char a[] = "GET / HTTP/1.1\r\nUser-Agent: early\r\nHo";
    static const char b[] = "st: late.example\r\n\r\n";
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 40001, 80, a, sizeof a - 1);
    feed(&h, 0, TCP, 40001, 80, b, sizeof b - 1);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(f->n_http_host, 0);
    assert_string_equal(f->user_agent[0], "early");
    h_close(&h);
}

static void long_values_are_cut(void **state)
{
    (void)state;
    char req[1024];
    char ua[400];
    memset(ua, 'u', sizeof ua - 1);
    ua[sizeof ua - 1] = 0;
    int n = snprintf(req, sizeof req, "GET / HTTP/1.0\r\nUser-Agent: %s\r\n\r\n", ua);
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 40002, 8080, req, (size_t)n);
    const struct app_fields *f = fields(&h);
    assert_non_null(f);
    assert_int_equal(strlen(f->user_agent[0]), APP_UA_LEN - 1);
    assert_true(f->truncated);
    h_close(&h);
}

/* "GET\r\n" (a broken client in long-session.pcap) is HTTP to Arkime, but has no method */
static void bare_method(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    feed(&h, 0, TCP, 54869, 80, "GET\r\n", 5);
    assert_true(tagged(&h, APP_HTTP));
    assert_null(fields(&h));
    h_close(&h);
}

/* after APP_MAX_PKTS (8) payload packets per direction a session is left alone */
static void bounded_packets(void **state)
{
    (void)state;
    static const char r[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    static const char late[] = "GET / HTTP/1.1\r\nHost: late.example\r\n\r\n";
    struct harness h;
    h_open(&h, 1);
    for (int i = 0; i < 8; i++)
        feed(&h, 0, TCP, 40003, 80, r, sizeof r - 1);
    feed(&h, 0, TCP, 40003, 80, late, sizeof late - 1);
    assert_int_equal(fields(&h)->n_http_host, 1);
    h_close(&h);
}

static void every_truncation(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 1);
    for (size_t n = 0; n <= sizeof v_http_get; n++) {
        uint8_t *copy = malloc(n ? n : 1);     /* exact size: ASan sees any overread */
        memcpy(copy, v_http_get, n);
        feed(&h, 0, TCP, 61450, 80, copy, n);
        const struct app_fields *f = fields(&h);
        check_sane(f);
        if (f && f->n_http_host)
            assert_string_equal(f->http_host[0], "xxxxxxxxxxxxx.xxx.com");
        free(copy);
        h_reset(&h);
    }
    for (size_t n = 0; n <= sizeof v_http_403; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, v_http_403, n);
        feed(&h, 1, TCP, 61450, 80, copy, n);
        check_sane(fields(&h));
        free(copy);
        h_reset(&h);
    }
    h_close(&h);
}

static void bogus_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET  HTTP/1.1\r\n\r\n", "GET / HTTP/\r\n", "GET / FTP/1.0\r\n", "HTTP/1.1 20 OK\r\n",
        "HTTP/1.1 2000 OK\r\n", "HTTP/x.1 200 OK\r\n", "get / HTTP/1.1\r\n", "HTTP/1.1 099 Low\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nGET / HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / HTTP/1.1\r\nHost: \x01\x02\r\n\r\n",
    };
    struct harness h;
    h_open(&h, 1);
    for (size_t i = 0; i < ASH_ARRAY_LEN(bad); i++) {
        feed(&h, 0, TCP, 40004, 80, bad[i], strlen(bad[i]));
        const struct app_fields *f = fields(&h);
        check_sane(f);
        if (f) {
            assert_int_equal(f->n_http_host, 0);
            assert_int_equal(f->n_http_status, 0);
        }
        h_reset(&h);
    }
    h_close(&h);
}

/* sessions with nothing to keep take no pool slot; a dry pool still tags */
static void pool_use(void **state)
{
    (void)state;
    struct harness h, other;
    struct app_pool_stats ps;
    h_open(&h, 1);
    feed(&h, 0, TCP, 40005, 80, "\x00\x01\x02\x03", 4);
    app_pool_stats(h.pool, &ps);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.capacity, 1);
    feed(&h, 0, TCP, 40006, 80, v_http_get, sizeof v_http_get);
    app_pool_stats(h.pool, &ps);
    assert_int_equal(ps.in_use, 0);            /* first direction packet was binary */
    h_reset(&h);
    feed(&h, 0, TCP, 40006, 80, v_http_get, sizeof v_http_get);
    app_pool_stats(h.pool, &ps);
    assert_int_equal(ps.in_use, 1);
    other.pool = h.pool;
    memset(&other.st, 0, sizeof other.st);
    feed(&other, 0, TCP, 40007, 80, v_http_get, sizeof v_http_get);
    assert_true(tagged(&other, APP_HTTP));
    assert_null(fields(&other));
    app_pool_stats(h.pool, &ps);
    assert_int_equal(ps.exhausted, 1);
    app_release(h.pool, &other.st);
    h_close(&h);
}

static void names(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN];
    assert_string_equal(app_proto_name(APP_HTTP), "http");
    assert_string_equal(app_proto_name(APP_UNKNOWN), "");
    assert_string_equal(app_proto_name((enum app_proto)200), "");
    assert_null(app_pool_new(0, err));
    assert_non_null(strstr(err, "capacity"));
    assert_null(app_fields_of(NULL, NULL));
    app_release(NULL, NULL);
    app_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_and_403),
        cmocka_unit_test(ipv6_get),
        cmocka_unit_test(unknown_method),
        cmocka_unit_test(keep_alive_and_pipelining),
        cmocka_unit_test(split_header),
        cmocka_unit_test(long_values_are_cut),
        cmocka_unit_test(bare_method),
        cmocka_unit_test(bounded_packets),
        cmocka_unit_test(every_truncation),
        cmocka_unit_test(bogus_lines),
        cmocka_unit_test(pool_use),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
