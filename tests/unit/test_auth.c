/* test_auth.c -- aggregator/auth.c (the ZAP handler) and the allow-list it reads, for real:
 * a CURVE ROUTER on ipc:// in a mkdtemp directory, the real handler thread, and DEALER
 * clients with freshly generated keys. The log goes to a file that the tests read back.
 * Covers L1 (a stranger cycling keys cannot fill the disk: the log is rate-limited and summed
 * up) and H2(b) (two allow-list lines with one name are refused at load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "test_dir.h"
#include "auth.h"
#include "clock.h"
#include "curve.h"
#include "log.h"
#include "wire.h"

#define STRANGERS 300

static int count_lines(const char *path, const char *needle, char *last, size_t lastsz)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) {
            n++;
            if (last)
                snprintf(last, lastsz, "%s", line);
        }
    fclose(f);
    return n;
}

static void test_l1_unknown_keys_are_rate_limited(void **state)
{
    (void)state;
    char dir[256], path[400], logpath[400], ep[400], err[ASH_ERR_LEN] = "";
    struct curve_keypair server, sensor;
    assert_int_equal(test_dir_make(dir, sizeof dir, NULL, "test_auth"), 0);
    assert_int_equal(curve_generate(&server, err), 0);
    assert_int_equal(curve_generate(&sensor, err), 0);
    snprintf(path, sizeof path, "%s/allow.txt", dir);
    FILE *af = fopen(path, "w");
    fprintf(af, "s1 %s\n", sensor.public_z85);
    fclose(af);
    struct curve_allow *allow = curve_allow_load(path, err);
    assert_non_null(allow);
    snprintf(logpath, sizeof logpath, "%s/log.txt", dir);
    FILE *logf = fopen(logpath, "w");
    assert_non_null(logf);
    setvbuf(logf, NULL, _IONBF, 0);
    log_set_file(logf);

    void *zctx = zmq_ctx_new();
    int maxs = 2 * STRANGERS + 64;
    zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, maxs);
    struct auth *a = auth_start(zctx, allow, false, err);
    assert_non_null(a);
    void *router = zmq_socket(zctx, ZMQ_ROUTER);
    snprintf(ep, sizeof ep, "ipc://%s/rx.sock", dir);
    assert_int_equal(wire_curve_server(router, &server, err), 0);
    assert_int_equal(zmq_bind(router, ep), 0);

    void **clients = calloc(STRANGERS, sizeof *clients);
    int zero = 0;
    for (int i = 0; i < STRANGERS; i++) {
        struct curve_keypair k;
        assert_int_equal(curve_generate(&k, err), 0);
        clients[i] = zmq_socket(zctx, ZMQ_DEALER);
        assert_non_null(clients[i]);
        zmq_setsockopt(clients[i], ZMQ_LINGER, &zero, sizeof zero);
        assert_int_equal(wire_curve_client(clients[i], &k, server.public_z85, err), 0);
        assert_int_equal(zmq_connect(clients[i], ep), 0);
    }
    struct auth_stats st = { 0 };
    int64_t until = clock_mono_ms() + 30000;
    while (clock_mono_ms() < until) {
        auth_stats(a, &st);
        if (st.refused >= STRANGERS)
            break;
        usleep(20000);
    }
    for (int i = 0; i < STRANGERS; i++)
        zmq_close(clients[i]);
    free(clients);
    assert_true(st.refused >= STRANGERS);
    int one_by_one = count_lines(logpath, "sensor refused: key not in allow-list", NULL, 0);
    assert_true(one_by_one >= 1 && one_by_one <= 5);
    assert_int_equal(st.refused_quiet, st.refused - (uint64_t)one_by_one);
    auth_log_summary(a);
    char summary[1024] = "";
    assert_int_equal(count_lines(logpath, "not logged one by one", summary, sizeof summary), 1);
    char expect[64];
    snprintf(expect, sizeof expect, "%llu more unknown keys", (unsigned long long)st.refused_quiet);
    assert_non_null(strstr(summary, expect));
    assert_non_null(strstr(summary, "the last key="));
    printf("L1: %llu unknown keys refused, %d lines one by one, then: %s",
           (unsigned long long)st.refused, one_by_one, strchr(summary, 'w'));
    zmq_close(router);
    auth_stop(a);
    zmq_ctx_term(zctx);
    log_set_file(NULL);
    fclose(logf);
    curve_allow_free(allow);
    test_dir_remove(dir);
}

static void test_h2_duplicate_allow_list_lines_refused_at_load(void **state)
{
    (void)state;
    char dir[256], path[400], err[ASH_ERR_LEN] = "";
    struct curve_keypair k1, k2;
    assert_int_equal(test_dir_make(dir, sizeof dir, NULL, "test_auth"), 0);
    assert_int_equal(curve_generate(&k1, err), 0);
    assert_int_equal(curve_generate(&k2, err), 0);
    snprintf(path, sizeof path, "%s/allow.txt", dir);

    FILE *f = fopen(path, "w");
    fprintf(f, "# sensors\ndept-1 %s\n\ndept-1 %s\n", k1.public_z85, k2.public_z85);
    fclose(f);
    assert_null(curve_allow_load(path, err));
    char expect[512];
    snprintf(expect, sizeof expect, "%s:4: dept-1: this name is already on line 2", path);
    assert_string_equal(err, expect);
    printf("H2: %s\n", err);

    f = fopen(path, "w");                         /* distinct: fine */
    fprintf(f, "dept-1 %s\ndept-2 %s\n", k1.public_z85, k2.public_z85);
    fclose(f);
    struct curve_allow *a = curve_allow_load(path, err);
    assert_non_null(a);
    assert_int_equal(curve_allow_count(a), 2);
    curve_allow_free(a);
    test_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2_duplicate_allow_list_lines_refused_at_load),
        cmocka_unit_test(test_l1_unknown_keys_are_rate_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
