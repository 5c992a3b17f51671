/* test_vlan_collapse.c -- Arkime's [vlan-vni-collapse] (issue 15): the section as
 * sensor_config_vlan_collapse() reads it from a real INI file, and a router-on-a-stick flow
 * (one direction on VLAN 50, the other on VLAN 100) through the session table: one session
 * with the two ids in one group, two without. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sensor_config.h"
#include "session_table.h"
#include "test_dir.h"

static int nout;
static struct session last;

static void emit(void *ctx, struct session *s, enum session_end why)
{
    (void)ctx, (void)why;
    last = *s;
    nout++;
}

static char dir[256];

static int write_ini(const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/sensor.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return test_dir_make(dir, sizeof dir, NULL, "test_vlan_collapse");
}

static int teardown(void **state)
{
    (void)state;
    test_dir_remove(dir);
    return 0;
}

static void reads_arkime_section(void **state)
{
    (void)state;
    char path[512], err[ASH_ERR_LEN] = "";
    static uint16_t map[SENSOR_VLAN_IDS];
    write_ini("[sensor]\nsession_key_vlan = true\n\n[vlan-vni-collapse]\n"
              "0=50,100,300,400,500\n7 = 8, 9 ,16000000\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), 2);
    assert_int_equal(map[50], 0);
    assert_int_equal(map[500], 0);
    assert_int_equal(map[8], 7);
    assert_int_equal(map[9], 7);
    assert_int_equal(map[7], 7);                       /* not listed: itself */
    assert_int_equal(map[51], 51);

    /* the argv scan finds the file config_main() reads */
    char *argv[] = { "ashiato-sensor", "-c", path, "--read", "x.pcap" };
    assert_string_equal(sensor_config_path(5, argv), path);
    char *argv2[] = { "ashiato-sensor", "--read", "x.pcap" };
    assert_null(sensor_config_path(3, argv2));
    assert_int_equal(sensor_config_vlan_collapse(NULL, map, err), 0);
    assert_int_equal(map[50], 50);
}

static void refuses_bad_groups(void **state)
{
    (void)state;
    char path[512], err[ASH_ERR_LEN] = "";
    static uint16_t map[SENSOR_VLAN_IDS];
    write_ini("[vlan-vni-collapse]\n0=50,abc\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), -1);
    assert_non_null(strstr(err, "sensor.ini:2"));
    write_ini("[vlan-vni-collapse]\n5000=1,2\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), -1);
    assert_non_null(strstr(err, "VLAN id 0..4095"));
    write_ini("[vlan-vni-collapse]\n1=10,20\n2=20,30\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), -1);
    assert_non_null(strstr(err, "already in the group"));
}

static struct decoded tcp_on_vlan(uint16_t vlan, int reply, uint8_t flags)
{
    struct decoded d;
    memset(&d, 0, sizeof d);
    d.ip_version = 4;
    d.ip_proto = 6;
    uint8_t *a = reply ? d.dst : d.src, *b = reply ? d.src : d.dst;
    a[10] = a[11] = b[10] = b[11] = 0xff;
    a[12] = 10, a[15] = 9;
    b[12] = 10, b[15] = 1;
    d.has_ports = true;
    d.sport = reply ? 80 : 40000;
    d.dport = reply ? 40000 : 80;
    d.tcp_flags = flags;
    d.vlan_count = 1;
    d.vlan[0] = vlan;
    d.cap_len = 64;
    return d;
}

static int sessions_of_mirrored_flow(const uint16_t *map)
{
    struct session_table_config cfg = {
        .max_sessions = 16, .tcp_timeout = 480, .udp_timeout = 60, .icmp_timeout = 10,
        .sctp_timeout = 60, .other_timeout = 60, .tcp_close_timeout = 5,
        .tcp_save_timeout = 480, .max_packets = 10000, .key_vlan = true,
    };
    char err[ASH_ERR_LEN];
    nout = 0;
    struct session_table *t = session_table_new(&cfg, NULL, emit, NULL, err);
    assert_non_null(t);
    session_table_set_vlan_map(t, map);
    int dir_;
    /* the router forwards the client's packets on VLAN 50, the server's on VLAN 100 */
    struct decoded p[4] = {
        tcp_on_vlan(50, 0, 0x02), tcp_on_vlan(100, 1, 0x12),
        tcp_on_vlan(50, 0, 0x10), tcp_on_vlan(100, 1, 0x18),
    };
    for (int i = 0; i < 4; i++) {
        struct session *s = session_table_packet(t, &p[i], 1000000 + i, &dir_);
        session_table_after_packet(t, s, 1000000 + i);
    }
    struct session_table_stats st;
    session_table_stats(t, &st);
    session_table_flush(t);
    session_table_free(t);
    assert_int_equal(nout, (int)st.created);
    return (int)st.created;
}

static void two_vlan_flow_is_one_session_with_collapse(void **state)
{
    (void)state;
    char path[512], err[ASH_ERR_LEN] = "";
    static uint16_t map[SENSOR_VLAN_IDS];
    write_ini("[vlan-vni-collapse]\n0=50,100,300,400,500\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), 1);
    assert_int_equal(sessions_of_mirrored_flow(map), 1);
    assert_int_equal(last.packets[0], 2);
    assert_int_equal(last.packets[1], 2);
    assert_int_equal(last.vlan[0], 50);                /* the record keeps the id met first */

    assert_int_equal(sessions_of_mirrored_flow(NULL), 2);   /* without collapse: two */
    assert_int_equal(last.packets[0] + last.packets[1], 2);

    /* a group that leaves one of the two VLANs out: still two */
    write_ini("[vlan-vni-collapse]\n0=50,300\n", path, sizeof path);
    assert_int_equal(sensor_config_vlan_collapse(path, map, err), 1);
    assert_int_equal(sessions_of_mirrored_flow(map), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_arkime_section),
        cmocka_unit_test(refuses_bad_groups),
        cmocka_unit_test(two_vlan_flow_is_one_session_with_collapse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
