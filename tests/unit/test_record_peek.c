/* test_record_peek.c -- common/record_peek.c: the fields detection reads, from records packed
 * by protobuf-c here (the real library, no mock): every field it reads, a record with app
 * fields around them (skipped), a second source merged as protobuf-c merges it, a string cut
 * at its first NUL, absent endpoints, and bytes cut short (refused, nothing read past them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ashiato.pb-c.h"
#include "record_peek.h"

static uint8_t *pack(const Ashiato__SessionRecord *r, size_t *len)
{
    *len = ashiato__session_record__get_packed_size(r);
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    assert_int_equal(ashiato__session_record__pack(r, b), *len);
    return b;
}

static void every_field_read_others_skipped(void **s)
{
    (void)s;
    Ashiato__SessionRecord r = ASHIATO__SESSION_RECORD__INIT;
    Ashiato__Endpoint src = ASHIATO__ENDPOINT__INIT, dst = ASHIATO__ENDPOINT__INIT;
    uint8_t sip[4] = { 198, 18, 1, 7 }, dip[16] = { 0x20, 1, 0xd, 0xb8, [15] = 9 };
    uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    char *hosts[] = { "a.example", "b.example" };
    uint32_t vlan[] = { 10, 20 };
    r.id = (ProtobufCBinaryData){ 23, (uint8_t *)"211207-AbCdEfGhIjKlMnOp" };
    r.observer_name = "sensor-1";
    r.start_us = 1632830400000000LL;
    r.end_us = 1632830401234567LL;
    src.ip = (ProtobufCBinaryData){ 4, sip };
    src.port = 51234;
    src.bytes = 9000;
    src.packets = 300;
    src.data_bytes = 70000;
    src.mac = (ProtobufCBinaryData){ 6, mac };
    dst.ip = (ProtobufCBinaryData){ 16, dip };
    dst.port = 445;
    dst.packets = 1;
    r.source = &src;
    r.destination = &dst;
    r.iana_number = 6;
    r.ip_version = 4;
    r.community_id = "1:wCb3OG7yAFWelaUydu0D+125CLM=";
    r.n_vlan = 2;
    r.vlan = vlan;
    r.conn_state = "RSTOS0";
    r.history = "ShR";
    r.n_http_host = 2;
    r.http_host = hosts;
    r.icmp_quoted_count = 2;
    r.icmp_error_type = 3;
    size_t len;
    uint8_t *b = pack(&r, &len);
    struct record_peek p;
    assert_int_equal(record_peek(b, len, &p), 0);
    assert_int_equal(p.id_len, 23);
    assert_memory_equal(p.id, "211207-AbCdEfGhIjKlMnOp", 23);
    assert_int_equal(p.community_id_len, strlen(r.community_id));
    assert_memory_equal(p.community_id, r.community_id, p.community_id_len);
    assert_int_equal(p.conn_state_len, 6);
    assert_memory_equal(p.conn_state, "RSTOS0", 6);
    assert_int_equal(p.start_us, r.start_us);
    assert_int_equal(p.end_us, r.end_us);
    assert_int_equal(p.iana_number, 6);
    assert_int_equal(p.icmp_quoted_count, 2);
    assert_int_equal(p.icmp_error_type, 3);
    assert_true(p.has_source && p.has_destination);
    assert_int_equal(p.source.ip_len, 4);
    assert_memory_equal(p.source.ip, sip, 4);
    assert_int_equal(p.source.port, 51234);
    assert_int_equal(p.source.packets, 300);
    assert_int_equal(p.source.data_bytes, 70000);
    assert_int_equal(p.destination.ip_len, 16);
    assert_memory_equal(p.destination.ip, dip, 16);
    assert_int_equal(p.destination.port, 445);
    assert_int_equal(p.destination.packets, 1);
    assert_int_equal(p.destination.data_bytes, 0);
    /* every prefix of the bytes: refused or read within it, never past (ASan) */
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, b, n);
        struct record_peek q;
        (void)record_peek(cut, n, &q);
        free(cut);
    }
    free(b);
}

/* a source given twice: the later one's numbers, the earlier one's ip when the later has
 * none (protobuf-c 1.4.1's merge); a string ends at its first NUL; no destination */
static void merged_source_and_nul_string(void **s)
{
    (void)s;
    Ashiato__SessionRecord r = ASHIATO__SESSION_RECORD__INIT;
    Ashiato__Endpoint a = ASHIATO__ENDPOINT__INIT, b = ASHIATO__ENDPOINT__INIT;
    uint8_t ip[4] = { 10, 0, 0, 1 };
    a.ip = (ProtobufCBinaryData){ 4, ip };
    a.port = 1000;
    a.packets = 5;
    b.port = 2000;
    r.source = &a;
    size_t l1, l2;
    uint8_t *p1 = pack(&r, &l1);
    r.source = &b;
    uint8_t *p2 = pack(&r, &l2);
    uint8_t both[256], tail[] = { 0x72, 4, 'S', '0', 0, 'x' };   /* conn_state (14): "S0\0x" */
    assert_true(l1 + l2 + sizeof tail <= sizeof both);
    memcpy(both, p1, l1);
    memcpy(both + l1, p2, l2);
    memcpy(both + l1 + l2, tail, sizeof tail);
    struct record_peek p;
    assert_int_equal(record_peek(both, l1 + l2 + sizeof tail, &p), 0);
    Ashiato__SessionRecord *u = ashiato__session_record__unpack(NULL, l1 + l2 + sizeof tail, both);
    assert_non_null(u);
    assert_true(p.has_source && !p.has_destination);
    assert_int_equal(p.source.ip_len, u->source->ip.len);
    assert_memory_equal(p.source.ip, u->source->ip.data, 4);
    assert_int_equal(p.source.port, u->source->port);
    assert_int_equal(p.source.port, 2000);
    assert_int_equal(p.source.packets, u->source->packets);
    assert_int_equal(p.conn_state_len, strlen(u->conn_state));
    assert_int_equal(p.conn_state_len, 2);
    ashiato__session_record__free_unpacked(u, NULL);
    free(p1);
    free(p2);
    /* a group wire type is refused */
    const uint8_t group[] = { 0x0b, 0x0c };
    assert_int_equal(record_peek(group, sizeof group, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_read_others_skipped),
        cmocka_unit_test(merged_source_and_nul_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
