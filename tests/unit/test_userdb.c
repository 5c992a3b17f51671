/* test_userdb.c -- the users file of HA1 digests (common/userdb.c): RFC 7616 digests, the
 * file format and its checks, mode 0600, refusal of a file others can read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_dir.h"
#include "userdb.h"

static char dir[512], path[600];

static int setup(void **state)
{
    (void)state;
    if (test_dir_make(dir, sizeof dir, NULL, "test_userdb") < 0)
        return -1;
    snprintf(path, sizeof path, "%s/users", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void ha1_is_rfc7616(void **state)
{
    (void)state;
    uint8_t md5[16], sha[32];
    char h[65];
    /* RFC 7616 section 3.9.1's user, realm and password; HA1 = H(user:realm:password)
     * (section 3.4.2), the expected digests computed apart with Python's hashlib */
    userdb_ha1("Mufasa", "http-auth@example.org", "Circle of Life", md5, sha);
    hex(md5, 16, h);
    assert_string_equal(h, "3d78807defe7de2157e2b0b6573a855f");
    hex(sha, 32, h);
    assert_string_equal(h, "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
}

static void save_load_roundtrip(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN];
    struct userdb *db = userdb_load(path, true, err);
    assert_non_null(db);
    assert_int_equal(userdb_count(db), 0);
    assert_int_equal(userdb_put(db, "alice", "ashiato", "secret", true, err), 0);
    assert_int_equal(userdb_put(db, "bob", "ashiato", "pw", false, err), 0);
    assert_int_equal(userdb_put(db, "alice", "ashiato", "other", true, err), 0);   /* replace */
    assert_int_equal(userdb_put(db, "bad:name", "ashiato", "x", true, err), -1);
    assert_int_equal(userdb_put(db, "eve", "re:alm", "x", true, err), -1);
    assert_int_equal(userdb_save(db, path, err), 0);
    userdb_free(db);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    char text[2048] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_null(strstr(text, "secret"));
    assert_null(strstr(text, "other"));
    db = userdb_load(path, false, err);
    assert_non_null(db);
    assert_int_equal(userdb_count(db), 2);
    const struct userdb_entry *a = userdb_find(db, "alice"), *b = userdb_find(db, "bob");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->can_pcap);
    assert_false(b->can_pcap);
    uint8_t md5[16], sha[32];
    userdb_ha1("alice", "ashiato", "other", md5, sha);
    assert_memory_equal(a->md5, md5, 16);
    assert_memory_equal(a->sha256, sha, 32);
    assert_int_equal(userdb_del(db, "alice"), 0);
    assert_int_equal(userdb_del(db, "alice"), -1);
    assert_null(userdb_find(db, "alice"));
    userdb_free(db);
}

static void refusals(void **state)
{
    (void)state;
    char err[ASH_ERR_LEN];
    static const struct { const char *text, *want; } bad[] = {
        { "alice:ashiato:00:11:pcap\n", "HA1 digests" },
        { "alice:ashiato\n", "expected name:realm" },
        { "alice:ashiato:" "00000000000000000000000000000000:"
          "0000000000000000000000000000000000000000000000000000000000000000:root\n", "permissions" },
        { "a:r:00000000000000000000000000000000:"
          "0000000000000000000000000000000000000000000000000000000000000000:pcap\n"
          "a:r:00000000000000000000000000000000:"
          "0000000000000000000000000000000000000000000000000000000000000000:pcap\n", "twice" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i].text, f);
        fclose(f);
        chmod(path, 0600);
        assert_null(userdb_load(path, false, err));
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: got '%s'", i, err);
    }
    chmod(path, 0644);
    assert_null(userdb_load(path, false, err));
    assert_non_null(strstr(err, "chmod 600"));
    unlink(path);
    assert_null(userdb_load(path, false, err));          /* missing, not missing_ok */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ha1_is_rfc7616),
        cmocka_unit_test(save_load_roundtrip),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
