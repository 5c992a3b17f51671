/* test_json_writer.c -- common/json_writer.h on its own (record_json.c's whole documents are
 * test_record_json's): each text form against the library that defines it, and the writer's
 * buffer and member rules.
 * - numbers against snprintf("%lld"/"%llu"), IPs against inet_ntop, times against gmtime_r +
 *   strftime (random and edge values; the clamp to years 1..9999), base64 against nettle's
 *   base64_encode_raw, strings against json-c's PLAIN | NOSLASHESCAPE for valid UTF-8;
 * - invalid UTF-8 as U+FFFD one byte at a time, control bytes, quotes and backslashes;
 * - the buffer: from none, from one already holding text (kept), growth past 1 KiB many
 *   times, and out of memory (an impossible size) sticks: the buffer never grows again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <nettle/base64.h>

#include "json_writer.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)                  /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

/* a writer over a fresh buffer; the text so far, NUL-ended */
struct buf {
    char *data;
    size_t cap;
    struct json_writer w;
};

static void buf_begin(struct buf *b)
{
    b->data = NULL;
    b->cap = 0;
    assert_true(json_writer_begin(&b->w, &b->data, &b->cap, 0));
}

static const char *buf_text(struct buf *b)
{
    assert_false(b->w.bad);
    *b->w.p = '\0';
    return b->data;
}

static void numbers(void **state)
{
    (void)state;
    int64_t edge[] = { 0, 1, -1, 9, 10, 99, 100, 12345, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                       1000000000000000000LL, -999999999999999999LL };
    char got[32], want[32];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0] + 100000; i++) {
        int64_t v = i < sizeof edge / sizeof edge[0] ? edge[i]
                    : (int64_t)(rnd() >> (rnd() % 64));
        if (i >= sizeof edge / sizeof edge[0] && i % 2 && v != INT64_MIN)
            v = -v;
        *json_writer_put_i64(got, v) = '\0';
        snprintf(want, sizeof want, "%" PRId64, v);
        assert_string_equal(got, want);
        uint64_t u = rnd() >> (rnd() % 64);
        *json_writer_put_u64(got, u) = '\0';
        snprintf(want, sizeof want, "%" PRIu64, u);
        assert_string_equal(got, want);
    }
    *json_writer_put_u64(got, UINT64_MAX) = '\0';
    assert_string_equal(got, "18446744073709551615");
}

static void check_ip(const uint8_t *ip, size_t len)
{
    char got[64], want[64];
    *json_writer_put_ip(got, ip, len) = '\0';
    assert_non_null(inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, want, sizeof want));
    assert_string_equal(got, want);
}

static void ips(void **state)
{
    (void)state;
    uint8_t a[16];
    char got[64];
    for (int i = 0; i < 100000; i++) {
        for (int j = 0; j < 16; j++)    /* mostly zero words, so "::" runs of every length */
            a[j] = rnd() % 3 ? 0 : (uint8_t)rnd();
        if (i % 7 == 0)
            memcpy(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);     /* ::ffff:a.b.c.d */
        check_ip(a, 16);
        check_ip(a + 12, 4);
    }
    memset(a, 0, 16);
    check_ip(a, 16);                              /* :: */
    a[15] = 1;
    check_ip(a, 16);                              /* ::1 */
    *json_writer_put_ip(got, a, 5) = '\0';       /* neither length: nothing */
    assert_string_equal(got, "");
}

static void check_time(int64_t us)
{
    char got[40], want[64];
    *json_writer_put_time(got, us) = '\0';
    const int64_t lo = -62135596800LL * 1000000, hi = 253402300799LL * 1000000 + 999999;
    int64_t c = us < lo ? lo : us > hi ? hi : us;
    int64_t s = c >= 0 ? c / 1000000 : (c - 999999) / 1000000;
    time_t t = (time_t)s;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(want + n, sizeof want - n, ".%06dZ", (int)(c - s * 1000000));
    assert_string_equal(got, want);
}

static void times(void **state)
{
    (void)state;
    int64_t edge[] = { 0, 1, -1, 999999, -999999, 1000000, 951782400000000LL /* 2000-02-29 */,
                       -62135596800LL * 1000000, 253402300799LL * 1000000 + 999999,
                       INT64_MIN, INT64_MAX, -62135596800LL * 1000000 - 1 };
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        check_time(edge[i]);
    for (int i = 0; i < 100000; i++)            /* years 1..9999 and a little past */
        check_time((int64_t)(rnd() % 320000000000ULL) * 1000000 - 63000000000LL * 1000000 +
                   (int64_t)(rnd() % 1000000));
    char got[40];
    *json_writer_put_time(got, INT64_MAX) = '\0';
    assert_string_equal(got, "9999-12-31T23:59:59.999999Z");
    *json_writer_put_time(got, INT64_MIN) = '\0';
    assert_string_equal(got, "1-01-01T00:00:00.000000Z");
}

static void base64(void **state)
{
    (void)state;
    uint8_t src[300];
    for (size_t len = 0; len < sizeof src; len++) {
        for (size_t i = 0; i < len; i++)
            src[i] = (uint8_t)rnd();
        struct buf b;
        buf_begin(&b);
        json_writer_base64(&b.w, src, len);
        char want[BASE64_ENCODE_RAW_LENGTH(sizeof src) + 3];
        want[0] = '"';
        base64_encode_raw((char *)want + 1, len, src);
        size_t n = BASE64_ENCODE_RAW_LENGTH(len);
        want[1 + n] = '"';
        want[2 + n] = '\0';
        assert_string_equal(buf_text(&b), want);
        free(b.data);
    }
}

/* json-c's text of the same string (valid UTF-8 only: json-c copies invalid bytes as is) */
static void check_string(const char *s, size_t n)
{
    struct buf b;
    buf_begin(&b);
    json_writer_text(&b.w, s, n);
    json_object *o = json_object_new_string_len(s, (int)n);
    const char *want = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    assert_string_equal(buf_text(&b), want);
    json_object_put(o);
    free(b.data);
}

static void strings(void **state)
{
    (void)state;
    static const char *const pieces[] = { "a", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t",
                                          "\x01", "\x1f", "\x7f", " ", "\xc3\xa9",
                                          "\xe2\x82\xac", "\xf0\x9f\x98\x80", "0123456789" };
    char s[512];
    for (int i = 0; i < 20000; i++) {
        size_t n = 0, k = rnd() % 40;
        for (size_t j = 0; j < k; j++) {
            const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        check_string(s, n);
    }
    check_string("", 0);
    struct buf b;
    buf_begin(&b);
    json_writer_text(&b.w, NULL, 0);               /* an empty field may come as NULL */
    assert_string_equal(buf_text(&b), "\"\"");
    free(b.data);
}

static void invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *in; size_t n; const char *want; } cases[] = {
        { "\xff", 1, "\"\xef\xbf\xbd\"" },
        { "a\x80z", 3, "\"a\xef\xbf\xbdz\"" },
        { "\xc3", 1, "\"\xef\xbf\xbd\"" },                              /* cut short */
        { "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },              /* overlong '/' */
        { "\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* a surrogate */
        { "\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
        { "\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
        { "\x00\x1f\"\\", 4, "\"\\u0000\\u001f\\\"\\\\\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_begin(&b);
        json_writer_text(&b.w, cases[i].in, cases[i].n);
        assert_string_equal(buf_text(&b), cases[i].want);
        free(b.data);
    }
}

#define MEMBER(k) "\"" k "\":", sizeof("\"" k "\":") - 1

static void members(void **state)
{
    (void)state;
    struct buf b;
    char *arr[] = { "x", NULL, "y\"" };
    uint32_t nums[] = { 0, 7, 4294967295u };
    buf_begin(&b);
    json_writer_raw(&b.w, "{", 1);
    b.w.first = true;
    json_writer_key(&b.w, MEMBER("a"));
    json_writer_num(&b.w, -5);
    json_writer_open(&b.w, MEMBER("b"));
    json_writer_key(&b.w, MEMBER("c"));
    json_writer_u32_array(&b.w, nums, 3);
    json_writer_open(&b.w, MEMBER("empty"));
    json_writer_close(&b.w);
    json_writer_close(&b.w);
    json_writer_key(&b.w, MEMBER("d"));
    json_writer_str_array(&b.w, arr, 3);
    json_writer_key(&b.w, MEMBER("e"));
    json_writer_str_array(&b.w, arr, 0);
    json_writer_close(&b.w);
    assert_string_equal(buf_text(&b), "{\"a\":-5,\"b\":{\"c\":[0,7,4294967295],\"empty\":{}},"
                                      "\"d\":[\"x\",\"\",\"y\\\"\"],\"e\":[]}");
    free(b.data);
}

static void buffer(void **state)
{
    (void)state;
    /* a buffer that already holds text: kept, writing goes on after it */
    char *data = malloc(8);
    size_t cap = 8;
    assert_non_null(data);
    memcpy(data, "[1,2]\n", 6);
    struct json_writer w;
    assert_true(json_writer_begin(&w, &data, &cap, 6));
    for (int i = 0; i < 5000; i++) {             /* many doublings past 1 KiB */
        json_writer_raw(&w, i ? "," : "[", 1);
        json_writer_num(&w, i);
    }
    json_writer_raw(&w, "]", 1);
    assert_false(w.bad);
    *w.p = '\0';
    assert_true(cap > 1024 && (size_t)(w.p - data) < cap);
    assert_memory_equal(data, "[1,2]\n[0,1,2,", 13);
    assert_string_equal(w.p - 10, "4998,4999]");

    /* the same buffer again, full to the byte: begin grows it */
    size_t len = (size_t)(w.p - data);
    assert_true(json_writer_begin(&w, &data, &cap, cap));
    assert_true(cap > len);

    /* out of memory (an impossible size): sticks, and the buffer never grows again */
    struct json_writer v;
    assert_true(json_writer_begin(&v, &data, &cap, 0));
    json_writer_raw(&v, "ab", 2);
    char *before = data;
    size_t cap_before = cap;
    assert_false(json_writer_room(&v, SIZE_MAX / 2));
    assert_true(v.bad);
    json_writer_num(&v, 42);                      /* fits: written, into text to be dropped */
    for (int i = 0; i < 1000; i++)                /* past the capacity: nothing more */
        json_writer_text(&v, "0123456789", 10);
    assert_true(v.bad);
    assert_ptr_equal(data, before);
    assert_int_equal(cap, cap_before);
    assert_true(v.p <= v.end);
    assert_memory_equal(data, "ab42", 4);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers),
        cmocka_unit_test(ips),
        cmocka_unit_test(times),
        cmocka_unit_test(base64),
        cmocka_unit_test(strings),
        cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(members),
        cmocka_unit_test(buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
