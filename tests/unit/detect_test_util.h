/* detect_test_util.h -- what the detection unit tests share (test_detect*.c): the alert
 * sink that keeps final alerts, rule lookups, an IPv4 address in the 16-byte form, a TCP
 * record by its Zeek conn_state, an engine over a config, and the six-department campus
 * placement ([segments] dept-1..6 and servers, [sensors] sensor-N = dept-N).
 * Never: mocks the engine (every test runs the real detectors). */
#ifndef ASHIATO_DETECT_TEST_UTIL_H
#define ASHIATO_DETECT_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"

#define S 1000000LL
#define T0 (1632830400LL * S)   /* a whole hour */

struct got {
    struct detect_alert v[256];
    size_t n;
    size_t updates;
};

static inline void sink(const struct detect_alert *a, bool final, void *ctx)
{
    struct got *g = ctx;
    if (!final) {
        g->updates++;
        return;
    }
    if (g->n < 256)
        g->v[g->n++] = *a;
}

static inline size_t count_rule(const struct got *g, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += !strcmp(g->v[i].rule, rule);
    return n;
}

static inline const struct detect_alert *find_rule(const struct got *g, const char *rule)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->v[i].rule, rule))
            return &g->v[i];
    return NULL;
}

static inline void ip4(uint8_t out[16], unsigned a, unsigned b, unsigned c, unsigned d)
{
    uint8_t v[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };
    detect_addr_set(out, v, 4);
}

/* a TCP record: state "S0" (no answer), "REJ", "SF" ... */
/* out of line: inlined, gcc's -Wstring-compare misreads the state compares */
static __attribute__((noinline, unused)) struct detect_record
tcp(const char *sensor, const uint8_t src[16], const uint8_t dst[16], uint16_t dport,
    const char *state, int64_t t)
{
    static unsigned seq;
    static char ids[64];        /* the last record's id */
    struct detect_record r;
    memset(&r, 0, sizeof r);
    snprintf(ids, sizeof ids, "id-%u", ++seq);
    r.sensor = sensor;
    r.session_id = ids;
    r.community_id = "";
    r.conn_state = state;
    r.start_us = r.end_us = t;
    memcpy(r.src, src, 16);
    memcpy(r.dst, dst, 16);
    r.sport = 40000;
    r.dport = dport;
    r.proto = 6;
    r.src_packets = 1;
    bool ok = !strcmp(state, "SF") || !strcmp(state, "S1") || !strcmp(state, "RSTO");
    r.dst_packets = ok ? 3 : !strcmp(state, "REJ");
    r.dst_bytes = ok ? 100 : 0;
    return r;
}

static inline struct detect *engine(struct detect_config *c, struct got *g)
{
    char err[ASH_ERR_LEN];
    memset(g, 0, sizeof *g);
    struct detect *d = detect_new(c, sink, g, err);
    assert_non_null(d);
    return d;
}

static inline void campus(struct detect_config *c)
{
    char err[ASH_ERR_LEN];
    detect_config_defaults(c);
    char seg[16], sen[16], pfx[32];
    for (int i = 1; i <= 6; i++) {
        snprintf(seg, sizeof seg, "dept-%d", i);
        snprintf(pfx, sizeof pfx, "198.18.%d.0/24", i);
        assert_int_equal(detect_config_set(c, "segments", seg, pfx, err), 0);
    }
    assert_int_equal(detect_config_set(c, "segments", "servers", "198.18.100.0/24", err), 0);
    for (int i = 1; i <= 6; i++) {
        snprintf(seg, sizeof seg, "dept-%d", i);
        snprintf(sen, sizeof sen, "sensor-%d", i);
        assert_int_equal(detect_config_set(c, "sensors", sen, seg, err), 0);
    }
}

#endif
