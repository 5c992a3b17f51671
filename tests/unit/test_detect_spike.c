/* test_detect_spike.c -- aggregator/detect/'s session-count spikes on synthetic records
 * through the real engine (no mock): bins on record time (a sensor offline for an hour),
 * and the wall clock judging a spike at the end of traffic, one alert that grows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"
#include "detect_test_util.h"

static void spike_on_record_time(void **s)
{
    (void)s;
    struct detect_config c;
    struct got g;
    campus(&c);
    struct detect *d = engine(&c, &g);
    uint8_t cl[16], srv[16], burst[16];
    ip4(srv, 203, 0, 113, 80);
    ip4(burst, 198, 18, 4, 66);
    /* 90 minutes of dept-4 at 200 sessions a minute; sensor-4's first hour arrives only
     * after sensor-1 has sent its 90 minutes (offline for an hour, then its journal), and a
     * burst of 2000 sessions from one host at minute 70 */
    for (int pass = 0; pass < 2; pass++)
        for (int min = 0; min < 90; min++) {
            const char *sensor = pass == 0 ? "sensor-1" : "sensor-4";
            unsigned dept = pass == 0 ? 1 : 4;
            for (unsigned k = 0; k < 200; k++) {
                ip4(cl, 198, 18, dept, 10 + k % 50);
                struct detect_record r = tcp(sensor, cl, srv, 443, "SF",
                                             T0 + min * 60 * S + k * 300000);
                detect_feed(d, &r);
            }
            if (pass == 1 && min == 70)
                for (unsigned k = 0; k < 2000; k++) {
                    struct detect_record r = tcp(sensor, burst, srv, 443, "SF",
                                                 T0 + min * 60 * S + k * 20000);
                    detect_feed(d, &r);
                }
            detect_tick(d, 0);
        }
    detect_flush(d);
    assert_int_equal(count_rule(&g, "session_spike"), 1);
    const struct detect_alert *x = find_rule(&g, "session_spike");
    assert_string_equal(x->prefix, "dept-4");
    assert_int_equal(x->start_us, T0 + 70 * 60 * S);
    assert_memory_equal(x->sources[0], burst, 16);
    assert_int_equal(x->n_sources, 1);
    assert_int_equal(x->n_evidence, 1);
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_free(d);
}

struct spike_seen {
    size_t updates, finals;
    uint64_t sessions;          /* of the dept-1 spike, as last sent */
    char id[40];
};

static void spike_sink(const struct detect_alert *a, bool final, void *ctx)
{
    struct spike_seen *w = ctx;
    if (strcmp(a->rule, "session_spike"))
        return;
    w->finals += final;
    w->updates += !final;
    if (!strcmp(a->prefix, "dept-1")) {
        if (w->id[0])
            assert_string_equal(w->id, a->id);  /* one alert that grows, never a second */
        snprintf(w->id, sizeof w->id, "%s", a->id);
        w->sessions = a->sessions;
    }
}

/* 200 sessions a minute of dept-dept at sensor, minutes [from, to), arriving at wall (each
 * record's own time + lag when lag >= 0; at now otherwise); a burst of n from one host */
static void feed_minutes(struct detect *d, const char *sensor, unsigned dept, int from, int to,
                         int64_t lag, int64_t now, int burst_min, unsigned n)
{
    uint8_t cl[16], srv[16], burst[16];
    ip4(srv, 203, 0, 113, 80);
    ip4(burst, 198, 18, dept, 66);
    for (int min = from; min < to; min++) {
        for (unsigned k = 0; k < 200 + (min == burst_min ? n : 0); k++) {
            bool b = k >= 200;
            ip4(cl, 198, 18, dept, 10 + k % 50);
            int64_t t = T0 + min * 60 * S + (b ? (k - 200) * 20000 : k * 300000);
            struct detect_record r = tcp(sensor, b ? burst : cl, srv, 443, "SF", t);
            detect_set_wall(d, lag >= 0 ? t + lag : now);
            detect_feed(d, &r);
        }
        detect_tick(d, 0);
    }
}

/* A spike in the last minute of traffic is raised by the wall clock once the bin's end +
 * spike_grace has passed, with no newer record; the bin stays open to late records (counted
 * into the same alert), and a sensor back after an hour still has its bins judged on record
 * time (its spike found, no record late). */
static void spike_on_wall_clock(void **s)
{
    (void)s;
    struct detect_config c;
    struct spike_seen w;
    char err[ASH_ERR_LEN];
    memset(&w, 0, sizeof w);
    campus(&c);
    struct detect *d = detect_new(&c, spike_sink, &w, err);
    assert_non_null(d);
    /* sensor-1 live (arrival 2 s after start) for 20 minutes, the burst in minute 19 */
    feed_minutes(d, "sensor-1", 1, 0, 20, 2 * S, 0, 19, 2000);
    int64_t bin_end = T0 + 20 * 60 * S;
    detect_set_wall(d, bin_end + 60 * S);           /* a minute after: not yet */
    detect_tick(d, 0);
    assert_int_equal(w.updates, 0);
    detect_set_wall(d, bin_end + c.spike_grace_us - S);
    detect_tick(d, 0);
    assert_int_equal(w.updates, 0);
    detect_set_wall(d, bin_end + c.spike_grace_us + 3 * S);   /* end + grace (+ the 2 s lag) */
    detect_tick(d, 0);
    assert_int_equal(w.updates, 1);
    assert_int_equal(w.sessions, 2200);
    assert_int_equal(detect_stats(d).wall_judged, 1);
    detect_tick(d, 0);                              /* judged once, not at every tick */
    assert_int_equal(detect_stats(d).wall_judged, 1);
    /* 100 late records of minute 19 arrive now: still counted, into the same alert */
    uint8_t cl[16], srv[16];
    ip4(srv, 203, 0, 113, 80);
    for (unsigned k = 0; k < 100; k++) {
        ip4(cl, 198, 18, 1, 200 + k % 20);
        struct detect_record r = tcp("sensor-1", cl, srv, 443, "SF", T0 + 19 * 60 * S + k * S / 2);
        detect_feed(d, &r);
    }
    /* sensor-4 was offline for that hour: its journal arrives now, oldest first, with a burst
     * in its minute 15 */
    int64_t now = bin_end + c.spike_grace_us + 2 * S;
    feed_minutes(d, "sensor-4", 4, 0, 20, -1, now, 15, 2000);
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_flush(d);
    assert_int_equal(w.finals, 2);                  /* dept-1's and dept-4's */
    assert_int_equal(w.sessions, 2300);             /* the late ones joined dept-1's alert */
    assert_int_equal(detect_stats(d).late_records, 0);
    detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spike_on_record_time),
        cmocka_unit_test(spike_on_wall_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
