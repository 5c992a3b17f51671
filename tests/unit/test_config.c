/* test_config.c -- common/config.c: defaults, INI with file:line errors, flags over the file,
 * lists, sizes, numbers, and --help/--version; the issue-14 regressions M4 (long and indented
 * lines) and L8 (directories, sections, NaN) are the test_m4_* and test_l8_* cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

struct cfg {
    char name[16];
    long long snaplen;
    long long size;
    bool flag;
    struct config_strlist read;
    char bpf[8192];
    double factor;
};

static const struct config_key keys[] = {
    { "sensor", "name", "name", 'n', CONFIG_STR, offsetof(struct cfg, name), 16, 0, 0, "def", "h", "N" },
    { "sensor", "snaplen", "snaplen", 's', CONFIG_INT, offsetof(struct cfg, snaplen), 0, 64, 262144, "65535", "h", "N" },
    { "sensor", "size", "size", 0, CONFIG_SIZE, offsetof(struct cfg, size), 0, 0, 1LL << 40, "1G", "h", "B" },
    { "sensor", "flag", "flag", 0, CONFIG_BOOL, offsetof(struct cfg, flag), 0, 0, 0, "false", "h", NULL },
    { "sensor", "read", "read", 'r', CONFIG_STRLIST, offsetof(struct cfg, read), 0, 0, 0, NULL, "h", "F" },
    { "sensor", "bpf", "bpf", 0, CONFIG_STR, offsetof(struct cfg, bpf), 8192, 0, 0, NULL, "h", "E" },
    { "sensor", "factor", "factor", 0, CONFIG_DOUBLE, offsetof(struct cfg, factor), 0, 0, 1000, "0", "h", "F" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

static char ini_path[64];

static void write_ini(const char *text)
{
    strcpy(ini_path, "/tmp/ashiato-test-config-XXXXXX");
    int fd = mkstemp(ini_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static enum config_result load(struct cfg *c, char err[ASH_ERR_LEN], int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    return config_load(keys, NKEYS, c, argc, argv, err);
}

static void defaults_apply(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    char *argv[] = { "prog", NULL };
    assert_int_equal(load(&c, err, 1, argv), CONFIG_OK);
    assert_string_equal(c.name, "def");
    assert_int_equal(c.snaplen, 65535);
    assert_int_equal(c.size, 1LL << 30);
    assert_false(c.flag);
    assert_int_equal(c.read.n, 0);
}

static void ini_then_flags(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    write_ini("# comment\n[aggregator]\nwhatever = 1\n[sensor]\nname = fromfile\nsnaplen = 1500\n"
              "size = 512M\nflag = yes\nread = a.pcap, b.pcap\n");
    char *argv[] = { "prog", "-c", ini_path, "--snaplen", "9000", "--read", "x.pcap", NULL };
    assert_int_equal(load(&c, err, 7, argv), CONFIG_OK);
    assert_string_equal(c.name, "fromfile");
    assert_int_equal(c.snaplen, 9000);
    assert_int_equal(c.size, 512LL << 20);
    assert_true(c.flag);
    assert_int_equal(c.read.n, 1);            /* the flag list replaces the file's */
    assert_string_equal(c.read.v[0], "x.pcap");
    config_free(keys, NKEYS, &c);
    unlink(ini_path);
}

static void ini_list_splits(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    write_ini("[sensor]\nread = a.pcap; b.pcap , c.pcap\n");
    char *argv[] = { "prog", "--config", ini_path, NULL };
    assert_int_equal(load(&c, err, 3, argv), CONFIG_OK);
    assert_int_equal(c.read.n, 3);
    assert_string_equal(c.read.v[2], "c.pcap");
    config_free(keys, NKEYS, &c);
    unlink(ini_path);
}

static void bad_value_names_file_line_and_key(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "", want[128];
    write_ini("[sensor]\nname = ok\n\nsnaplen = 9\n");
    char *argv[] = { "prog", "-c", ini_path, NULL };
    assert_int_equal(load(&c, err, 3, argv), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:4: snaplen: expected 64..262144, got 9", ini_path);
    assert_string_equal(err, want);
    unlink(ini_path);
}

static void unknown_key_and_syntax_errors(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "", want[128];
    write_ini("[sensor]\nsnaplenn = 100\n");
    char *argv[] = { "prog", "-c", ini_path, NULL };
    assert_int_equal(load(&c, err, 3, argv), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:2: [sensor] snaplenn: unknown key", ini_path);
    assert_string_equal(err, want);
    unlink(ini_path);
    write_ini("[sensor]\nname = a\nthis is not ini\n");
    assert_int_equal(load(&c, err, 3, argv), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:3:", ini_path);
    assert_non_null(strstr(err, want));
    unlink(ini_path);
}

static void bad_flags(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    char *a1[] = { "prog", "--snaplen", "abc", NULL };
    assert_int_equal(load(&c, err, 3, a1), CONFIG_ERR);
    assert_string_equal(err, "--snaplen: snaplen: expected a whole number, got 'abc'");
    char *a2[] = { "prog", "--nosuch", NULL };
    assert_int_equal(load(&c, err, 2, a2), CONFIG_ERR);
    assert_non_null(strstr(err, "--nosuch"));
    char *a3[] = { "prog", "--name", "waytoolongforsixteen", NULL };
    assert_int_equal(load(&c, err, 3, a3), CONFIG_ERR);
    assert_non_null(strstr(err, "expected at most 15 characters"));
    char *a4[] = { "prog", "-c", "/nonexistent/x.ini", NULL };
    assert_int_equal(load(&c, err, 3, a4), CONFIG_ERR);
    assert_non_null(strstr(err, "/nonexistent/x.ini: cannot open config"));
    char *a5[] = { "prog", "stray", NULL };
    assert_int_equal(load(&c, err, 2, a5), CONFIG_ERR);
    assert_non_null(strstr(err, "stray"));
}

static void help_and_version(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    char *a1[] = { "prog", "--snaplen", "100", "--help", NULL };
    assert_int_equal(load(&c, err, 4, a1), CONFIG_HELP);
    char *a2[] = { "prog", "--version", NULL };
    assert_int_equal(load(&c, err, 2, a2), CONFIG_VERSION);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    config_usage(f, "prog", "does things", keys, NKEYS);
    fclose(f);
    assert_non_null(strstr(buf, "--snaplen N"));
    assert_non_null(strstr(buf, "[sensor] snaplen, default 65535"));
}

static void sizes(void **state)
{
    (void)state;
    long long v;
    assert_int_equal(config_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(config_parse_size("1.5G", &v), 0);
    assert_int_equal(v, 3LL << 29);
    assert_int_equal(config_parse_size("2 MiB", &v), 0);
    assert_int_equal(v, 2LL << 20);
    assert_int_equal(config_parse_size("12Q", &v), -1);
    assert_int_equal(config_parse_size("", &v), -1);
    assert_int_equal(config_parse_size("-1", &v), -1);
}

/* load ini_path through "-c" into c; returns what config_load returned */
static enum config_result load_ini(struct cfg *c, char err[ASH_ERR_LEN])
{
    char *argv[] = { "prog", "-c", ini_path, NULL };
    return load(c, err, 3, argv);
}

static void expect_error_at(const char *text, int line, const char *needle)
{
    struct cfg c;
    char err[ASH_ERR_LEN] = "", want[128];
    write_ini(text);
    assert_int_equal(load_ini(&c, err), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:%d: ", ini_path, line);
    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, needle))
        fail_msg("want '%s...%s', got '%s'", want, needle, err);
    config_free(keys, NKEYS, &c);
    unlink(ini_path);
}

/* M4: inih split a line at 199 characters and parsed the tail as a setting of its own */
static void test_m4_long_bpf_tail_is_not_a_setting(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "", text[1024], bpf[512];
    int n = snprintf(bpf, sizeof bpf, "not host 10.0.0.1");
    while (n < 194)                     /* "bpf = " + 194 = 200: the tail starts a new "line" */
        n += snprintf(bpf + n, sizeof bpf - (size_t)n, " ");
    snprintf(bpf + n, sizeof bpf - (size_t)n, "name = injected");
    snprintf(text, sizeof text, "[sensor]\nbpf = %s\n", bpf);
    write_ini(text);
    assert_int_equal(load_ini(&c, err), CONFIG_OK);
    assert_string_equal(c.name, "def");
    size_t len = strlen(bpf);
    while (bpf[len - 1] == ' ')
        len--;
    assert_memory_equal(c.bpf, bpf, strlen(bpf));
    config_free(keys, NKEYS, &c);
    unlink(ini_path);
}

/* M4: a realistic exclusion filter of 312 characters, and values of several KiB */
static void test_m4_long_values_load_whole(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    static const char bpf[] =
        "not (host 10.20.0.5 or host 10.20.0.6 or host 10.20.0.7) and not (net 192.168.100.0/24 and port"
        " 9200) and not (src host 10.1.1.1 and dst port 514) and not (udp port 123) and not (tcp port 22"
        " and host 10.30.4.40) and not (ip multicast or ip broadcast) and not (tcp port 3128 and src net 10.9.0.0/8) and not port 5";
    assert_int_equal(strlen(bpf), 312);
    static char text[8192 + 64];
    snprintf(text, sizeof text, "[sensor]\nbpf = %s\nname = after\n", bpf);
    write_ini(text);
    assert_int_equal(load_ini(&c, err), CONFIG_OK);
    assert_string_equal(c.bpf, bpf);
    assert_string_equal(c.name, "after");
    unlink(ini_path);

    static char big[6001];
    for (size_t i = 0; i < 6000; i++)
        big[i] = "host 10.0.0.1 or "[i % 17];
    big[6000] = '\0';
    snprintf(text, sizeof text, "[sensor]\nbpf = %s\nsnaplen = 9\n", big);
    write_ini(text);
    assert_int_equal(load_ini(&c, err), CONFIG_ERR);         /* the line after is line 3 */
    char want[128];
    snprintf(want, sizeof want, "%s:3: snaplen: expected 64..262144, got 9", ini_path);
    assert_string_equal(err, want);
    unlink(ini_path);
    snprintf(text, sizeof text, "[sensor]\nbpf = %s\n", big);
    write_ini(text);
    assert_int_equal(load_ini(&c, err), CONFIG_OK);
    size_t len = strlen(big);
    while (big[len - 1] == ' ')
        big[--len] = '\0';                                  /* inih trims the value */
    assert_string_equal(c.bpf, big);
    unlink(ini_path);
}

/* M4: an indented line replaced the value before it (inih's multi-line values) */
static void test_m4_indented_line_is_an_error(void **state)
{
    (void)state;
    expect_error_at("[sensor]\nbpf = not port 53\n  udp\n", 3, "indented");
    expect_error_at("[sensor]\nname = a\n\tsnaplen = 100\n", 3, "indented");
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    write_ini("[sensor]\n  # an indented comment is still a comment\nname = a\n   \n");
    assert_int_equal(load_ini(&c, err), CONFIG_OK);
    assert_string_equal(c.name, "a");
    unlink(ini_path);
}

/* M4: a line longer than CONFIG_MAX_LINE is refused at its own line, never split */
static void test_m4_overlong_line_is_an_error_at_its_line(void **state)
{
    (void)state;
    size_t n = CONFIG_MAX_LINE + 100;
    char *text = malloc(n + 64);
    assert_non_null(text);
    int k = snprintf(text, n + 64, "[sensor]\nname = a\nbpf = ");
    memset(text + k, 'x', n);
    strcpy(text + k + n, "\nname = b\n");
    expect_error_at(text, 3, "longer than");
    free(text);
}

/* L8: `-c DIR` read as an empty file */
static void test_l8_config_directory_is_an_error(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    char *argv[] = { "prog", "-c", "/tmp", NULL };
    assert_int_equal(load(&c, err, 3, argv), CONFIG_ERR);
    assert_non_null(strstr(err, "/tmp: "));
    assert_non_null(strstr(err, "directory"));
}

/* L8: a misspelled section and keys before any section were ignored */
static void test_l8_unknown_section_and_sectionless_key(void **state)
{
    (void)state;
    expect_error_at("[sensor]\nname = a\n\n[sensorx]\nsnaplen = 100\n", 4, "[sensorx]: unknown section");
    expect_error_at("# top\nname = a\n[sensor]\n", 2, "before any [section]");
    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    write_ini("[default]\nsnaplen = 128\n[aggregator]\nlisten = x\n[detect]\nx = 1\n[segments]\n"
              "lab = 10.0.0.0/8\n[sensors]\ns1 = lab\n[cli]\nurl = x\n[sensor]\nname = a\n");
    assert_int_equal(load_ini(&c, err), CONFIG_OK);      /* other binaries' sections are fine */
    assert_int_equal(c.snaplen, 128);
    unlink(ini_path);
}

/* L8: NaN, infinities and garbage in numbers */
static void test_l8_numbers_reject_nan_inf_and_garbage(void **state)
{
    (void)state;
    long long v;
    double d;
    assert_int_equal(config_parse_size("nan", &v), -1);
    assert_int_equal(config_parse_size("inf", &v), -1);
    assert_int_equal(config_parse_size("-0.5K", &v), -1);
    assert_int_equal(config_parse_double("nan", &d), -1);
    assert_int_equal(config_parse_double("-inf", &d), -1);
    assert_int_equal(config_parse_double("1e999", &d), -1);
    assert_int_equal(config_parse_double("2x", &d), -1);
    assert_int_equal(config_parse_double("", &d), -1);
    assert_int_equal(config_parse_double(" 2", &d), -1);
    assert_int_equal(config_parse_double("0x10", &d), -1);
    assert_int_equal(config_parse_size("0x10", &v), -1);
    assert_int_equal(config_parse_double("2.5", &d), 0);
    assert_true(d == 2.5);

    struct cfg c;
    char err[ASH_ERR_LEN] = "";
    char *a1[] = { "prog", "--factor", "nan", NULL };
    assert_int_equal(load(&c, err, 3, a1), CONFIG_ERR);
    assert_string_equal(err, "--factor: factor: expected a number, got 'nan'");
    char *a2[] = { "prog", "--factor", "-1", NULL };
    assert_int_equal(load(&c, err, 3, a2), CONFIG_ERR);
    assert_string_equal(err, "--factor: factor: expected 0..1000, got -1");
    char *a3[] = { "prog", "--factor", "20", "--snaplen", "0x100", NULL };
    assert_int_equal(load(&c, err, 5, a3), CONFIG_ERR);
    assert_string_equal(err, "--snaplen: snaplen: expected a whole number, got '0x100'");
    char *a4[] = { "prog", "--factor", "20", "--size", "nan", NULL };
    assert_int_equal(load(&c, err, 5, a4), CONFIG_ERR);
    char *a5[] = { "prog", "--factor", "0.5", NULL };
    assert_int_equal(load(&c, err, 3, a5), CONFIG_OK);
    assert_true(c.factor == 0.5);
}

static void assert_printable(const char *err)
{
    for (const char *p = err; *p; p++)
        if (!(*p >= 0x20 && *p < 0x7f))
            fail_msg("byte 0x%02X in '%s'", (unsigned char)*p, err);
}

/* L9 (in the config): a value or key with invisible bytes (a BOM pasted mid-file, a control
 * character) was echoed raw, so the message looked right and was not; now they show as \xHH */
static void test_l9_invisible_bytes_are_shown(void **state)
{
    (void)state;
    struct cfg c;
    char err[ASH_ERR_LEN] = "", want[160];
    write_ini("[sensor]\nsnaplen = \xEF\xBB\xBF" "100\n");
    assert_int_equal(load_ini(&c, err), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:2: snaplen: expected a whole number, got '\\xEF\\xBB\\xBF100'", ini_path);
    assert_string_equal(err, want);
    unlink(ini_path);
    write_ini("[sensor]\n\xEF\xBB\xBFname = x\n");
    assert_int_equal(load_ini(&c, err), CONFIG_ERR);
    snprintf(want, sizeof want, "%s:2: [sensor] \\xEF\\xBB\\xBFname: unknown key", ini_path);
    assert_string_equal(err, want);
    unlink(ini_path);
    write_ini("[sens\x01or]\n");
    assert_int_equal(load_ini(&c, err), CONFIG_ERR);
    assert_printable(err);
    assert_non_null(strstr(err, "[sens\\x01or]"));
    unlink(ini_path);
    char *a1[] = { "prog", "--flag", "--snaplen", "1\x7f", NULL };
    assert_int_equal(load(&c, err, 4, a1), CONFIG_ERR);
    assert_string_equal(err, "--snaplen: snaplen: expected a whole number, got '1\\x7F'");
}

struct walked {
    char text[512];
    int calls;
};

static int walk_collect(void *user, const char *section, const char *key, const char *value,
                        const char *where, char err[ASH_ERR_LEN])
{
    struct walked *w = user;
    w->calls++;
    if (!strcmp(value, "stop")) {
        snprintf(err, ASH_ERR_LEN, "%s: %s: stop here", where, key);
        return -1;
    }
    size_t n = strlen(w->text);
    snprintf(w->text + n, sizeof w->text - n, "%s.%s=%zu;", section, key, strlen(value));
    return 0;
}

/* config_ini_walk: the same line rules for programs whose keys are not in a table (the
 * detectors' [segments], the CLI's [cli]), so they need not call inih and meet M4 again */
static void test_m4_ini_walk_keeps_the_line_rules(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN] = "", want[160];
    struct walked w = { "", 0 };
    static char text[1024];
    char prefixes[400];
    int n = 0;
    for (int i = 0; n < 300; i++)
        n += snprintf(prefixes + n, sizeof prefixes - (size_t)n, "10.%d.0.0/16, ", i);
    snprintf(text, sizeof text, "[segments]\nlab = %s\n[sensors]\ns1 = lab\n", prefixes);
    write_ini(text);
    assert_int_equal(config_ini_walk(ini_path, walk_collect, &w, err), 0);
    snprintf(want, sizeof want, "segments.lab=%zu;sensors.s1=3;", strlen(prefixes) - 1);  /* the last space trimmed */
    assert_string_equal(w.text, want);
    unlink(ini_path);

    write_ini("[segments]\nlab = 10.0.0.0/8\n  10.1.0.0/16\n");
    w.text[0] = '\0';
    assert_int_equal(config_ini_walk(ini_path, walk_collect, &w, err), -1);
    snprintf(want, sizeof want, "%s:3: indented line", ini_path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    unlink(ini_path);

    write_ini("[detect]\na = 1\nb = stop\nc = 3\n");
    w.calls = 0;
    assert_int_equal(config_ini_walk(ini_path, walk_collect, &w, err), -1);
    snprintf(want, sizeof want, "%s:3: b: stop here", ini_path);
    assert_string_equal(err, want);
    assert_int_equal(w.calls, 2);                     /* nothing after the error */
    unlink(ini_path);

    write_ini("lab = 1\n");
    assert_int_equal(config_ini_walk(ini_path, walk_collect, &w, err), -1);
    assert_non_null(strstr(err, ":1: lab: key before any [section]"));
    unlink(ini_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(ini_then_flags),
        cmocka_unit_test(ini_list_splits),
        cmocka_unit_test(bad_value_names_file_line_and_key),
        cmocka_unit_test(unknown_key_and_syntax_errors),
        cmocka_unit_test(bad_flags),
        cmocka_unit_test(help_and_version),
        cmocka_unit_test(sizes),
        cmocka_unit_test(test_m4_long_bpf_tail_is_not_a_setting),
        cmocka_unit_test(test_m4_long_values_load_whole),
        cmocka_unit_test(test_m4_indented_line_is_an_error),
        cmocka_unit_test(test_m4_overlong_line_is_an_error_at_its_line),
        cmocka_unit_test(test_l8_config_directory_is_an_error),
        cmocka_unit_test(test_l8_unknown_section_and_sectionless_key),
        cmocka_unit_test(test_l8_numbers_reject_nan_inf_and_garbage),
        cmocka_unit_test(test_l9_invisible_bytes_are_shown),
        cmocka_unit_test(test_m4_ini_walk_keeps_the_line_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
