/* test_api_params.c -- the HTTP API's query string (aggregator/api_params.c): Arkime's
 * parameter names, percent-decoding, and the refusal of every bad value with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api_params.h"

static int parse(const char *qs, struct api_params *p, char err[ASH_ERR_LEN])
{
    memset(p, 0, sizeof *p);
    err[0] = '\0';
    return api_params_parse(qs, strlen(qs), p, err);
}

static void arkime_parameters(void **state)
{
    (void)state;
    struct api_params p;
    char err[ASH_ERR_LEN];
    assert_int_equal(parse("date=-1&expression=packets+%3D%3D+1+%26%26+ip.src+!%3D+10.0.0.0%2F8"
                           "&length=50&start=10&order=firstPacket:desc&fields=ip.src,port.dst"
                           "&bounding=either&interval=minute&stack=segment&sensor=dept-3",
                           &p, err), 0);
    assert_true(p.have_date);
    assert_int_equal(p.date_hours, -1);
    assert_string_equal(p.expression, "packets == 1 && ip.src != 10.0.0.0/8");
    assert_int_equal(p.length, 50);
    assert_int_equal(p.start, 10);
    assert_true(p.newest_first);
    assert_string_equal(p.fields, "ip.src,port.dst");
    assert_string_equal(p.bounding, "either");
    assert_int_equal(p.interval_s, 60);
    assert_string_equal(p.stack, "segment");
    assert_string_equal(p.sensor, "dept-3");
    api_params_free(&p);
    /* defaults; unknown parameters are ignored, as Arkime does */
    assert_int_equal(parse("whatever=1&&;", &p, err), 0);
    assert_int_equal(p.length, API_PARAMS_LENGTH_DEF);
    assert_null(p.expression);
    assert_false(p.newest_first);
    api_params_free(&p);
}

static void times(void **state)
{
    (void)state;
    struct api_params p;
    char err[ASH_ERR_LEN];
    assert_int_equal(parse("startTime=1632834000&stopTime=2021-09-28T13:05:00.5Z", &p, err), 0);
    assert_int_equal(p.start_us, 1632834000LL * 1000000);
    assert_int_equal(p.stop_us, 1632834300LL * 1000000 + 500000);
    api_params_free(&p);
    int64_t us;
    assert_int_equal(api_params_time("2021-09-28 13:00:00", &us), 0);
    assert_int_equal(us, 1632834000LL * 1000000);
    assert_int_equal(api_params_time("-1.5", &us), 0);
    assert_int_equal(us, -1500000);
    assert_int_equal(api_params_time("inf", &us), -1);
    assert_int_equal(api_params_time("0x10", &us), -1);
    assert_int_equal(api_params_time("2021-13-01", &us), -1);
    assert_int_equal(api_params_time("2021-09-28T25:00:00Z", &us), -1);
    assert_int_equal(api_params_time("", &us), -1);
}

static void ids(void **state)
{
    (void)state;
    struct api_params p;
    char err[ASH_ERR_LEN];
    assert_int_equal(parse("ids=210928-AAAA,,210928-BB_b", &p, err), 0);
    assert_int_equal(p.nids, 2);
    assert_string_equal(p.ids[0], "210928-AAAA");
    assert_string_equal(p.ids[1], "210928-BB_b");
    api_params_free(&p);
    assert_int_equal(parse("ids=ok,..%2F..%2Fetc", &p, err), -1);
    assert_non_null(strstr(err, "not a session id"));
    api_params_free(&p);
    assert_true(api_params_id_ok("a", 1));
    assert_false(api_params_id_ok("a b", 3));
    assert_false(api_params_id_ok("", 0));
}

static void refusals(void **state)
{
    (void)state;
    static const struct { const char *qs, *want; } bad[] = {
        { "length=100001", "length: expected an integer 0..100000" },
        { "length=-1", "length" },
        { "length=12abc", "length" },
        { "start=-5", "start" },
        { "date=x", "date" },
        { "date=-2", "date" },
        { "startTime=now&stopTime=1", "startTime: expected epoch seconds or ISO 8601" },
        { "startTime=1", "stopTime: startTime and stopTime go together" },
        { "startTime=5&stopTime=4", "stopTime: before startTime" },
        { "order=a:b", "order" },
        { "bounding=middle", "bounding" },
        { "interval=fortnight", "interval" },
        { "expression=a%00b", "NUL" },
        { "size=0", "size" },
        { "stack=node", "stack: expected sensor or segment" },
        { "sensor=", "sensor: expected 1..255 printable bytes" },
        { "sensor=a%0Ab", "sensor" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct api_params p;
        char err[ASH_ERR_LEN];
        assert_int_equal(parse(bad[i].qs, &p, err), -1);
        if (!strstr(err, bad[i].want))
            fail_msg("%s: got '%s', want '%s'", bad[i].qs, err, bad[i].want);
        api_params_free(&p);
    }
    /* an expression over the limit */
    static char big[API_PARAMS_TEXT_MAX + 64];
    memcpy(big, "expression=", 11);
    memset(big + 11, 'a', API_PARAMS_TEXT_MAX + 1);
    struct api_params p;
    char err[ASH_ERR_LEN];
    assert_int_equal(parse(big, &p, err), -1);
    assert_non_null(strstr(err, "expression: at most"));
    api_params_free(&p);
}

static void decoding(void **state)
{
    (void)state;
    struct api_params p;
    char err[ASH_ERR_LEN];
    /* a stray '%' stays as it is; '+' is a space; %22 and %5C reach the value unchanged */
    assert_int_equal(parse("expression=100%25+%zz+%22a%5C%22%27", &p, err), 0);
    assert_string_equal(p.expression, "100% %zz \"a\\\"'");
    api_params_free(&p);
    /* the last of a repeated parameter wins */
    assert_int_equal(parse("field=ip.src&exp=ip.dst", &p, err), 0);
    assert_string_equal(p.field, "ip.dst");
    api_params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arkime_parameters),
        cmocka_unit_test(times),
        cmocka_unit_test(ids),
        cmocka_unit_test(refusals),
        cmocka_unit_test(decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
