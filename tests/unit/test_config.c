/* test_config.c -- common/config.c: defaults, INI with file:line errors, flags over the file,
 * lists, sizes, and --help/--version. */
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
};

static const struct config_key keys[] = {
    { "sensor", "name", "name", 'n', CONFIG_STR, offsetof(struct cfg, name), 16, 0, 0, "def", "h", "N" },
    { "sensor", "snaplen", "snaplen", 's', CONFIG_INT, offsetof(struct cfg, snaplen), 0, 64, 262144, "65535", "h", "N" },
    { "sensor", "size", "size", 0, CONFIG_SIZE, offsetof(struct cfg, size), 0, 0, 1LL << 40, "1G", "h", "B" },
    { "sensor", "flag", "flag", 0, CONFIG_BOOL, offsetof(struct cfg, flag), 0, 0, 0, "false", "h", NULL },
    { "sensor", "read", "read", 'r', CONFIG_STRLIST, offsetof(struct cfg, read), 0, 0, 0, NULL, "h", "F" },
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
    write_ini("# comment\n[other]\nwhatever = 1\n[sensor]\nname = fromfile\nsnaplen = 1500\n"
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
