/* test_curve.c -- common/curve.c: key files (written whole, 0600, by rename; read with visible
 * errors and a warning when others can read a secret), the public-key reader that refuses a
 * secret key file, and the one name rule shared by `ashiato keygen` and the allow-list.
 * The issue-14 regressions are the test_l8_* / test_l9_* / test_curve_keyfile_* cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "curve.h"
#include "log.h"
#include "test_dir.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make(f->dir, sizeof f->dir, NULL, "ashiato-test-curve") < 0)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/k.key", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_dir_remove(f->dir);
    free(f);
    return 0;
}

static void put(const char *path, mode_t mode, const char *text, size_t n)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, n, fp), n);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void keyfile_round_trip(void **state)
{
    struct fixture *f = *state;
    struct curve_keypair kp, back;
    char err[ASH_ERR_LEN] = "", pub[160];
    assert_int_equal(curve_generate(&kp, err), 0);
    assert_int_equal(curve_write_keyfile(f->path, &kp, err), 0);
    assert_int_equal(curve_read_keyfile(f->path, &back, err), 0);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_string_equal(back.secret_z85, kp.secret_z85);
    snprintf(pub, sizeof pub, "%s.pub", f->path);
    assert_int_equal(curve_read_keyfile(pub, &back, err), 0);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_string_equal(back.secret_z85, "");
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(f->dir), 2);            /* no temporary file left */
}

/* The secret used to be written into the existing file (O_TRUNC, then fchmod 0600): an old
 * 0644 file showed it for a moment, every hard link to it got it, and a crash left it cut
 * short. Now a new 0600 file takes the name by rename: the old inode never sees the secret. */
static void test_curve_keyfile_replaced_whole_by_rename(void **state)
{
    struct fixture *f = *state;
    char err[ASH_ERR_LEN] = "", other[160];
    const char *old = "# an old public file\n";
    put(f->path, 0644, old, strlen(old));
    snprintf(other, sizeof other, "%s/other-name", f->dir);
    assert_int_equal(link(f->path, other), 0);               /* a second name for the old inode */
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    struct curve_keypair kp;
    assert_int_equal(curve_generate(&kp, err), 0);
    assert_int_equal(curve_write_keyfile(f->path, &kp, err), 0);
    assert_int_equal(stat(f->path, &after), 0);
    assert_true(after.st_ino != before.st_ino);
    assert_int_equal(after.st_mode & 0777, 0600);
    char buf[256] = "";
    FILE *fp = fopen(other, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, old);                          /* the secret never reached it */
    assert_null(strstr(buf, kp.secret_z85));
    assert_int_equal(count_entries(f->dir), 3);             /* k.key, k.key.pub, other-name */
}

/* L8: a secret key file that group or others can read gets a warning naming it and its mode */
static void test_l8_secret_key_readable_by_others_warns(void **state)
{
    struct fixture *f = *state;
    struct curve_keypair kp;
    char err[ASH_ERR_LEN] = "", logbuf[1024] = "";
    assert_int_equal(curve_generate(&kp, err), 0);
    assert_int_equal(curve_write_keyfile(f->path, &kp, err), 0);
    FILE *logf = fmemopen(logbuf, sizeof logbuf - 1, "w");
    assert_non_null(logf);
    log_set_file(logf);
    assert_int_equal(curve_read_keyfile(f->path, &kp, err), 0);      /* 0600: quiet */
    fflush(logf);
    assert_string_equal(logbuf, "");
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(curve_read_keyfile(f->path, &kp, err), 0);      /* still usable */
    fflush(logf);
    log_set_file(stderr);
    fclose(logf);
    assert_non_null(strstr(logbuf, "warn"));
    assert_non_null(strstr(logbuf, f->path));
    assert_non_null(strstr(logbuf, "mode=0644"));
}

/* L9: a byte order mark (or any invisible byte) used to give "k.key:1: public: unknown key"
 * with the BOM printed raw, so the message looked like nonsense */
static void test_l9_bom_in_key_file_is_named(void **state)
{
    struct fixture *f = *state;
    struct curve_keypair kp, made;
    char err[ASH_ERR_LEN] = "", text[256], want[200];
    assert_int_equal(curve_generate(&made, err), 0);
    int n = snprintf(text, sizeof text, "\xEF\xBB\xBFpublic = %s\n", made.public_z85);
    put(f->path, 0600, text, (size_t)n);
    assert_int_equal(curve_read_keyfile(f->path, &kp, err), -1);
    snprintf(want, sizeof want, "%s:1:1: byte 0xEF", f->path);
    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "byte order mark"))
        fail_msg("got '%s'", err);
    n = snprintf(text, sizeof text, "public = %.20s\x7f%s\n", made.public_z85, made.public_z85 + 21);
    put(f->path, 0600, text, (size_t)n);
    assert_int_equal(curve_read_keyfile(f->path, &kp, err), -1);
    snprintf(want, sizeof want, "%s:1:30: byte 0x7F", f->path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got '%s'", err);
    for (const char *p = err; *p; p++)                    /* the message itself is plain text */
        assert_true(*p >= 0x20 && *p < 0x7f);
    n = snprintf(text, sizeof text, "pub\tlic = %s\n", made.public_z85);   /* found by fuzz_keyfile */
    put(f->path, 0600, text, (size_t)n);
    assert_int_equal(curve_read_keyfile(f->path, &kp, err), -1);
    snprintf(want, sizeof want, "%s:1: pub\\x09lic: unknown key", f->path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got '%s'", err);
}

/* L8: --server-key given the aggregator's own key file (public AND secret) was accepted */
static void test_l8_server_key_refuses_a_secret_key_file(void **state)
{
    struct fixture *f = *state;
    struct curve_keypair kp;
    char err[ASH_ERR_LEN] = "", pub[160], out[CURVE_Z85_LEN];
    assert_int_equal(curve_generate(&kp, err), 0);
    assert_int_equal(curve_write_keyfile(f->path, &kp, err), 0);
    assert_int_equal(curve_read_public_keyfile(f->path, out, err), -1);
    assert_non_null(strstr(err, "secret key"));
    assert_non_null(strstr(err, ".pub"));
    snprintf(pub, sizeof pub, "%s.pub", f->path);
    assert_int_equal(curve_read_public_keyfile(pub, out, err), 0);
    assert_string_equal(out, kp.public_z85);
    assert_int_equal(curve_read_public_keyfile(kp.public_z85, out, err), 0);   /* the key itself */
    assert_string_equal(out, kp.public_z85);
}

/* L8: `keygen --name 'a b'` printed an allow-list line that then stopped the aggregator; one
 * rule now decides for both, and every name it accepts loads from the allow-list */
static void test_l8_keygen_names_follow_the_allow_list_rule(void **state)
{
    struct fixture *f = *state;
    char err[ASH_ERR_LEN] = "", text[512];
    static const char bom_name[] = "\xEF\xBB\xBF" "dept-3";   /* a BOM before the name */
    static const char *const bad[] = { "a b", "", "-dash", "tab\there", "dépt", "a/b", bom_name,
                                       "x123456789012345678901234567890123456789012345678901234567890123" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (curve_name_check(bad[i], err) == 0)
            fail_msg("accepted '%s'", bad[i]);
        for (const char *p = err; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(curve_name_check("a b", err), -1);
    assert_non_null(strstr(err, "' ' at 2"));
    struct curve_keypair kp;
    assert_int_equal(curve_generate(&kp, err), 0);
    static const char *const good[] = { "dept-3", "sensor_A.campus", "9lab", "h" };
    int n = 0;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(curve_name_check(good[i], err), 0);
        n += snprintf(text + n, sizeof text - (size_t)n, "%s %s\n", good[i], kp.public_z85);
    }
    put(f->path, 0600, text, (size_t)n);
    struct curve_allow *a = curve_allow_load(f->path, err);
    assert_non_null(a);
    assert_int_equal(curve_allow_count(a), 4);
    curve_allow_free(a);
    /* the allow-list refuses by the same rule, naming the line and the byte */
    n = snprintf(text, sizeof text, "\xEF\xBB\xBF" "dept-3 %s\n", kp.public_z85);
    put(f->path, 0600, text, (size_t)n);
    assert_null(curve_allow_load(f->path, err));
    char want[160];
    snprintf(want, sizeof want, "%s:1: ", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_non_null(strstr(err, "0xEF"));
}

/* M4's fault in the allow-list and key files: fgets read 511 bytes at a time, so the tail of a
 * long comment line was read as a line of its own, here an allow-list entry */
static void test_m4_allow_list_long_line_is_an_error(void **state)
{
    struct fixture *f = *state;
    char err[ASH_ERR_LEN] = "", want[160];
    struct curve_keypair kp;
    assert_int_equal(curve_generate(&kp, err), 0);
    static char text[2048];
    int n = snprintf(text, sizeof text, "# ");
    while (n < 511)
        text[n++] = '-';
    n += snprintf(text + n, sizeof text - (size_t)n, "evil %s\n", kp.public_z85);
    put(f->path, 0600, text, (size_t)n);
    struct curve_allow *a = curve_allow_load(f->path, err);
    if (a) {
        size_t count = curve_allow_count(a);
        curve_allow_free(a);
        fail_msg("loaded %zu entries from one comment line", count);
    }
    snprintf(want, sizeof want, "%s:1: line longer than", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    n = snprintf(text, sizeof text, "# ");
    while (n < 600)
        text[n++] = '-';
    n += snprintf(text + n, sizeof text - (size_t)n, "\npublic = %s\n", kp.public_z85);
    put(f->path, 0600, text, (size_t)n);
    struct curve_keypair back;
    assert_int_equal(curve_read_keyfile(f->path, &back, err), -1);
    snprintf(want, sizeof want, "%s:1: line longer than", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keyfile_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve_keyfile_replaced_whole_by_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l8_secret_key_readable_by_others_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l9_bom_in_key_file_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l8_server_key_refuses_a_secret_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l8_keygen_names_follow_the_allow_list_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_m4_allow_list_long_line_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
