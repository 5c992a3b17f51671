/* app_test_util.h -- helpers shared by the test_app_*.c suites (cmocka).
 * Owns:  a tiny session harness: one pool, one app_state, feed() and fields().
 * Never: depends on ../shared at run time (vectors are compiled in from app_vectors.h). */
#ifndef ASHIATO_APP_TEST_UTIL_H
#define ASHIATO_APP_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "app.h"

#define TCP 6
#define UDP 17

struct harness {
    struct app_pool *pool;
    struct app_state st;
};

static inline void h_open(struct harness *h, size_t slots)
{
    char err[ASH_ERR_LEN];
    h->pool = app_pool_new(slots, err);
    assert_non_null(h->pool);
    memset(&h->st, 0, sizeof h->st);
}

static inline void h_close(struct harness *h)
{
    struct app_pool_stats ps;
    app_release(h->pool, &h->st);
    app_pool_stats(h->pool, &ps);
    assert_int_equal(ps.in_use, 0);
    app_pool_free(h->pool);
}

/* a fresh session in the same pool */
static inline void h_reset(struct harness *h)
{
    app_release(h->pool, &h->st);
}

/* dir 0: initiator (cport -> sport), dir 1: responder (sport -> cport) */
static inline void feed(struct harness *h, int dir, uint8_t proto, uint16_t cport,
                        uint16_t sport, const void *p, size_t len)
{
    if (dir == 0)
        app_parse(h->pool, &h->st, 0, proto, cport, sport, p, (uint32_t)len);
    else
        app_parse(h->pool, &h->st, 1, proto, sport, cport, p, (uint32_t)len);
}

static inline const struct app_fields *fields(const struct harness *h)
{
    return app_fields_of(h->pool, &h->st);
}

static inline bool tagged(const struct harness *h, enum app_proto p)
{
    return (h->st.tags & (1u << p)) != 0;
}

/* every string of a fields struct is NUL-terminated and every count within its array */
static inline void check_sane(const struct app_fields *f)
{
    if (!f)
        return;
    assert_true(f->n_http_host <= APP_MAX_HOSTS);
    assert_true(f->n_http_method <= APP_MAX_METHODS);
    assert_true(f->n_user_agent <= 1);
    assert_true(f->n_http_status <= APP_MAX_STATUS);
    assert_true(f->n_dns_query <= APP_MAX_DNS);
    assert_true(f->n_tls_sni <= APP_MAX_SNI);
    for (int i = 0; i < f->n_http_host; i++)
        assert_true(memchr(f->http_host[i], 0, APP_NAME_LEN) != NULL);
    for (int i = 0; i < f->n_dns_query; i++)
        assert_true(memchr(f->dns_query[i], 0, APP_NAME_LEN) != NULL);
    for (int i = 0; i < f->n_tls_sni; i++)
        assert_true(memchr(f->tls_sni[i], 0, APP_NAME_LEN) != NULL);
    assert_true(memchr(f->ssh_client, 0, APP_BANNER_LEN) != NULL);
    assert_true(memchr(f->ssh_server, 0, APP_BANNER_LEN) != NULL);
}

#endif
