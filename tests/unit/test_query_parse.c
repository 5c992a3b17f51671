/* test_query_parse.c -- the expression parser: good expressions and their printed trees
 * (precedence, lists, IPs, ranges, times), bad ones with their exact positions and messages,
 * and the bounds (nesting depth, comparisons, length). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_parse.h"

#define NOW 1632834000000000LL          /* 2021-09-28T13:00:00Z */

/* the printed tree of text, or "ERR <pos>: <msg>" */
static const char *parsed(const char *text, char *buf, size_t len)
{
    struct query_error err;
    struct query_expr *e = query_parse_at(text, NOW, &err);
    if (!e) {
        snprintf(buf, len, "ERR %d: %s", err.pos, err.msg);
        return buf;
    }
    int n = query_expr_print(e, buf, len);
    assert_true(n >= 0 && (size_t)n < len);
    /* the printed form parses back to the same tree */
    char again[4096];
    struct query_expr *e2 = query_parse_at(buf, NOW, &err);
    if (!e2)
        fail_msg("printed '%s' does not parse: %d %s", buf, err.pos, err.msg);
    query_expr_print(e2, again, sizeof again);
    assert_string_equal(again, buf);
    query_expr_free(e2);
    query_expr_free(e);
    return buf;
}

static void good_expressions(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        /* the seed's expression */
        { "packets == 1 && ip.protocol == tcp && ip.src != 131.206.0.0/16 && "
          "ip.dst != 131.206.0.0/16",
          "(packets == 1 && ip.protocol == \"tcp\" && ip.src != 131.206.0.0/16 && "
          "ip.dst != 131.206.0.0/16)" },
        /* && binds tighter than || */
        { "port.dst == 1 || port.dst == 2 && port.src == 3",
          "(port.dst == 1 || (port.dst == 2 && port.src == 3))" },
        { "(port.dst == 1 || port.dst == 2) && port.src == 3",
          "((port.dst == 1 || port.dst == 2) && port.src == 3)" },
        { "port.dst==1&port.src=2|packets>3", "((port.dst == 1 && port.src == 2) || packets > 3)" },
        { "!port.dst == 1 && !(ip.src == 10.0.0.1 || node == a)",
          "(!(port.dst == 1) && !(ip.src == 10.0.0.1 || node == \"a\"))" },
        { "!!(tags == x)", "!!(tags == \"x\")" },
        /* lists, ranges */
        { "port.dst == [80, 443 ,8000-8080]", "port.dst == [80,443,8000-8080]" },
        { "host.dns == ]a.example,b.example[", "host.dns == ]\"a.example\",\"b.example\"[" },
        { "port != 80-90", "port != 80-90" },
        { "packets >= 10 && bytes < 1000 && packets.src <= 5 && bytes.dst > 0",
          "(packets >= 10 && bytes < 1000 && packets.src <= 5 && bytes.dst > 0)" },
        /* IPs: CIDR, partial, ip:port, IPv6 */
        { "ip == 10.1", "ip == 10.1.0.0/16" },
        { "ip.src == 10", "ip.src == 10.0.0.0/8" },
        { "ip.src == 10.1.2", "ip.src == 10.1.2.0/24" },
        { "ip.src == 10.1.2.3/20", "ip.src == 10.1.0.0/20" },
        { "ip == 1.2.3.4:80", "ip == 1.2.3.4:80" },
        { "ip.dst == [10.1.0.0/16:53, 2001:db8::/32]", "ip.dst == [10.1.0.0/16:53,2001:db8::/32]" },
        { "ip == 2001:db8::1.443", "ip == 2001:db8::1.443" },
        /* text: quoted with escapes, wildcards, regex, the transport's names */
        { "host.http == \"a \\\"q\\\" \\\\ b\"", "host.http == \"a \\\"q\\\" \\\\ b\"" },
        { "host == *.example.com", "host == *.example.com" },
        { "tls.sni == /www\\.[a-z]+\\.com/", "tls.sni == /www\\.[a-z]+\\.com/" },
        { "http.user-agent == [\"curl/7.88\", /Mozilla.*/]",
          "http.user-agent == [\"curl/7.88\",/Mozilla.*/]" },
        { "ip.protocol == [6, UDP, icmpv6]", "ip.protocol == [\"tcp\",\"udp\",\"ipv6-icmp\"]" },
        /* EXISTS!, times, booleans */
        { "host.http == EXISTS! || tls.sni != EXISTS!",
          "(host.http == EXISTS! || tls.sni != EXISTS!)" },
        { "starttime >= \"2021/09/28 13:00:00\" && stoptime < 2021-09-28T14:00:00.5Z",
          "(starttime >= \"2021/09/28 13:00:00\" && stoptime < \"2021/09/28 14:00:00.500000\")" },
        { "starttime > -1h && starttime <= +30m && stoptime == 1632834000",
          "(starttime > \"2021/09/28 12:00:00\" && starttime <= \"2021/09/28 13:30:00\" && "
          "stoptime == \"2021/09/28 13:00:00\")" },
        { "truncated == true || truncated != 0", "(truncated == true || truncated != false)" },
        /* ECS names and aliases find the same fields */
        { "source.ip == 1.2.3.4 && observer.name == s1 && firstPacket > 0",
          "(ip.src == 1.2.3.4 && node == \"s1\" && starttime > \"1970/01/01 00:00:00\")" },
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = parsed(cases[i][0], buf, sizeof buf);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i][0], got, cases[i][1]);
    }
}

static void bad_expressions(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "", "ERR 0: empty expression: expected a field name, '(' or '!'" },
        { "   ", "ERR 0: empty expression: expected a field name, '(' or '!'" },
        { "ip.sr == 1.2.3.4", "ERR 0: unknown field 'ip.sr' (nearest: ip.src, ip.dst, ip)" },
        { "port.dst == 80 && hots.http == x",
          "ERR 18: unknown field 'hots.http' (nearest: host.http, host, port.dst)" },
        { "port.dst 80",
          "ERR 9: expected an operator (== != < <= > >=) after 'port.dst', found '80'" },
        { "port.dst ==", "ERR 11: expected a value after 'port.dst ==', found end of expression" },
        { "port.dst == 80 &&", "ERR 17: expected a field name, '(' or '!', found end of expression" },
        { "(port.dst == 80", "ERR 15: expected ')' to close the '(' at 0, found end of expression" },
        { "port.dst == 80)", "ERR 14: expected '&&', '||' or the end, found ')'" },
        { "port.dst == http", "ERR 12: port.dst: expected an integer or a range (80-90), found 'http'" },
        { "port.dst == 90-80", "ERR 12: port.dst: expected an integer range low-high (80-90), found '90-80'" },
        { "port.dst > [1,2]", "ERR 11: port.dst: a list only goes with == or !=" },
        { "host.http < a", "ERR 12: host.http: < <= > >= apply to numbers and times only, found 'a'" },
        { "ip.src == 10.0.0.0/33", "ERR 10: ip.src: expected an IPv4 prefix length 0..32, found '10.0.0.0/33'" },
        { "ip.src == 1.2.3.4.5", "ERR 10: ip.src: expected an IP address, CIDR block or partial address (10.1), found '1.2.3.4.5'" },
        { "ip.src == 1.2.3.4:99999", "ERR 10: ip.src: expected a port 0..65535 after the address, found '1.2.3.4:99999'" },
        { "ip == *", "ERR 6: ip: '*' alone: use EXISTS! to test that a field is present, found '*'" },
        { "ip.src == 10.*", "ERR 10: ip.src: wildcards only apply to text fields, found '10.*'" },
        { "port == /8./", "ERR 8: port: a /regex/ only applies to text fields, found '/8./'" },
        { "host.http == \"abc", "ERR 13: host.http: unclosed quote" },
        { "host.http == /abc", "ERR 13: host.http: unclosed regex" },
        { "host.http == [a,b", "ERR 13: host.http: unclosed list" },
        { "host.http == [a,,b]", "ERR 16: host.http: empty value in the list" },
        { "host.http == []", "ERR 13: host.http: empty list" },
        { "host.http < EXISTS!", "ERR 10: EXISTS! goes with == or != only" },
        { "starttime > yesterday", "ERR 12: starttime: expected a time: \"2021/09/28 13:00:00\", 2021-09-28T13:00:00Z, epoch seconds or -1h (s m h d w), found 'yesterday'" },
        { "starttime > \"2021/13/01 00:00:00\"", "ERR 13: starttime: expected a time: \"2021/09/28 13:00:00\", 2021-09-28T13:00:00Z, epoch seconds or -1h (s m h d w), found '2021/13/01 00:00:00'" },
        { "truncated == maybe", "ERR 13: truncated: expected true or false, found 'maybe'" },
        { "vlan == 100-200", "ERR 8: vlan: ranges do not apply to this field, found '100-200'" },
        { "port.dst == 80 ; drop", "ERR 15: expected '&&', '||' or the end, found ';'" },
        { "== 80", "ERR 0: expected a field name, '(' or '!', found '=='" },
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = parsed(cases[i][0], buf, sizeof buf);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i][0], got, cases[i][1]);
    }
    /* NULL text and NULL err are accepted */
    struct query_error err;
    assert_null(query_parse(NULL, &err));
    assert_int_equal(err.pos, 0);
    assert_null(query_parse("ip ==", NULL));
    query_expr_free(NULL);
    assert_int_equal(query_expr_print(NULL, buf, sizeof buf), -1);
}

/* the alerts' table through the same parser: its names and aliases, decimals, its own
 * unknown-field suggestions, and session fields refused (and alert fields in sessions) */
static void alert_expressions(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "rule == port_scan && tags != approved",
          "(rule.name == \"port_scan\" && tags != \"approved\")" },
        { "ip.dst == 10.2.3.0/24 || port == [22,3389] || node == dept-*",
          "(destination.ip == 10.2.3.0/24 || destination.port == [22,3389] || "
          "observer.name == dept-*)" },
        { "score >= 1.5 && ashiato.score == 0.25-1 && score != 3", "(ashiato.score >= 1.5 && "
          "ashiato.score == 0.25-1 && ashiato.score != 3)" },
        { "score == 0.1", "ashiato.score == 0.1" },
        { "score < 000012.50", "ashiato.score < 12.5" },
        { "starttime >= \"2026/12/06 10:00:00\" && evidence == EXISTS!",
          "(event.start >= \"2026/12/06 10:00:00\" && ashiato.evidence == EXISTS!)" },
        { "message == /.*from 10\\.1\\..*/", "message == /.*from 10\\.1\\..*/" },
        { "rule.nam == x", "ERR 0: unknown field 'rule.nam' (nearest: rule.name, source.ip, message)" },
        { "packets == 1", "ERR 0: unknown field 'packets' (nearest: tags, id, ip)" },
        { "score >= abc", "ERR 9: ashiato.score: expected a decimal number (1.5), found 'abc'" },
        { "score == 2-1", "ERR 9: ashiato.score: expected a decimal range low-high (0.5-2), "
          "found '2-1'" },
        { "score == 1.", "ERR 9: ashiato.score: expected a decimal number (1.5) or a range "
          "(0.5-2), found '1.'" },
        { "score == *", "ERR 9: ashiato.score: '*' alone: use EXISTS! to test that a field is "
          "present, found '*'" },
        { "source.ip == 10.1.2.3:80", "ERR 13: source.ip: ip:port needs a field with a port "
          "(this one has none), found '10.1.2.3:80'" },
        { "message > abc", "ERR 10: message: < <= > >= apply to numbers and times only, "
          "found 'abc'" },
    };
    char buf[4096], again[4096];
    struct query_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct query_expr *e = query_parse_in(&field_catalog_alerts, cases[i][0], NOW, &err);
        if (!e) {
            snprintf(buf, sizeof buf, "ERR %d: %s", err.pos, err.msg);
        } else {
            assert_true(query_expr_in(e, &field_catalog_alerts));
            assert_false(query_expr_in(e, &field_catalog_sessions));
            query_expr_print(e, buf, sizeof buf);
            struct query_expr *e2 = query_parse_in(&field_catalog_alerts, buf, NOW, &err);
            if (!e2)
                fail_msg("printed '%s' does not parse: %d %s", buf, err.pos, err.msg);
            query_expr_print(e2, again, sizeof again);
            assert_string_equal(again, buf);
            query_expr_free(e2);
            query_expr_free(e);
        }
        if (strcmp(buf, cases[i][1]) != 0)
            fail_msg("%s\n  got  %s\n  want %s", cases[i][0], buf, cases[i][1]);
    }
    /* the decimal's value, and the sessions' table knows no alert field */
    struct query_expr *e = query_parse_in(&field_catalog_alerts, "score == 0.5-2", NOW, &err);
    assert_non_null(e);
    assert_int_equal(e->v[0].kind, QUERY_V_FLOAT);
    assert_true(e->v[0].flo == 0.5 && e->v[0].fhi == 2.0);
    query_expr_free(e);
    assert_null(query_parse_at("rule.name == scanner", NOW, &err));
    assert_int_equal(err.pos, 0);
    assert_null(query_parse_at("score > 1", NOW, &err));
    e = query_parse_at("ip.src == 10.0.0.1:22", NOW, &err);    /* sessions keep ip:port */
    assert_non_null(e);
    assert_true(query_expr_in(e, &field_catalog_sessions));
    query_expr_free(e);
}

static void bounds(void **state)
{
    (void)state;
    struct query_error err;
    size_t n = 100000;
    char *deep = malloc(2 * n + 32);
    assert_non_null(deep);
    /* 100000 '(' : an error at the 65th, not a stack overflow */
    memset(deep, '(', n);
    strcpy(deep + n, "port == 1");
    assert_null(query_parse(deep, &err));
    assert_int_equal(err.pos, QUERY_TEXT_MAX);
    assert_string_equal(err.msg, "expression longer than 65536 bytes");
    deep[200] = '\0';
    assert_null(query_parse(deep, &err));
    assert_int_equal(err.pos, QUERY_DEPTH_MAX);
    assert_string_equal(err.msg, "expression nested deeper than 64");
    memset(deep, '!', 200);
    assert_null(query_parse(deep, &err));
    assert_int_equal(err.pos, QUERY_DEPTH_MAX);
    /* 64 levels are fine */
    memset(deep, '(', 64);
    strcpy(deep + 64, "port == 1");
    memset(deep + 73, ')', 64);
    deep[137] = '\0';
    struct query_expr *e = query_parse(deep, &err);
    assert_non_null(e);
    query_expr_free(e);
    /* 1024 comparisons are fine, 1025 are not */
    size_t at = 0;
    for (int i = 0; i < QUERY_TERMS_MAX + 1; i++)
        at += (size_t)sprintf(deep + at, "%sport==%d", i ? "||" : "", i);
    assert_null(query_parse(deep, &err));
    assert_string_equal(err.msg, "more than 1024 comparisons in one expression");
    deep[at - strlen("||port==1024")] = '\0';
    e = query_parse(deep, &err);
    assert_non_null(e);
    char *out = malloc(65536);
    assert_true(query_expr_print(e, out, 65536) > 0);
    assert_non_null(strstr(out, "port == 1023)"));
    /* a short buffer gets a cut, terminated text and the length needed */
    char tiny[8];
    int need = query_expr_print(e, tiny, sizeof tiny);
    assert_int_equal(need, (int)strlen(out));
    assert_int_equal(strlen(tiny), 7);
    query_expr_free(e);
    free(out);
    free(deep);
}

static void values_in_the_tree(void **state)
{
    (void)state;
    struct query_error err;
    struct query_expr *e = query_parse_at("ip.src == 10.1 && port.dst == ]80-90,443[", NOW, &err);
    assert_non_null(e);
    assert_int_equal(e->kind, QUERY_AND);
    const struct query_expr *ip = e->left, *port = e->right;
    assert_int_equal(ip->kind, QUERY_CMP);
    assert_string_equal(ip->field->name, "ip.src");
    assert_int_equal(ip->v[0].kind, QUERY_V_IP);
    assert_true(ip->v[0].v4);
    assert_int_equal(ip->v[0].prefix, 16);
    static const uint8_t lo[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0 };
    static const uint8_t hi[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 255, 255 };
    assert_memory_equal(ip->v[0].ip_lo, lo, 16);
    assert_memory_equal(ip->v[0].ip_hi, hi, 16);
    assert_int_equal(ip->v[0].port, -1);
    assert_true(port->all);
    assert_int_equal(port->n, 2);
    assert_int_equal(port->v[0].lo, 80);
    assert_int_equal(port->v[0].hi, 90);
    assert_int_equal(port->v[1].lo, 443);
    assert_int_equal(port->pos, 18);
    query_expr_free(e);
    /* a time == covers its second; one with a fraction is that instant */
    e = query_parse_at("starttime == \"2021/09/28 13:00:00\"", NOW, &err);
    assert_int_equal(e->v[0].lo, NOW);
    assert_int_equal(e->v[0].hi, NOW + 999999);
    query_expr_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_expressions),
        cmocka_unit_test(bad_expressions),
        cmocka_unit_test(alert_expressions),
        cmocka_unit_test(bounds),
        cmocka_unit_test(values_in_the_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
