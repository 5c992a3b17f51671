/* detect_json.c -- one session JSON line (as `ashiato-sensor --emit-json` writes it) into a
 * detect record: what `ashiato detect` reads, and what fuzz_detect_json feeds the engine.
 * Owns:  the strings block it mallocs for the record (sensor, session id, community id,
 *        conn_state), handed to the caller.
 * Never: trusts the line: any bytes either parse into a record the engine can take (times in
 *        1970..2100, addresses that parse) or are skipped.
 * Trap:  json-c's tokener stops at the first NUL, so a line with one is read up to it. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "detect.h"

#define DETECT_JSON_YEAR_MAX 2100

/* "2013-11-25T14:55:58.382123Z" -> microseconds; -1 when malformed or outside 1970..2100 */
static int64_t parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    if (y < 1970 || y > DETECT_JSON_YEAR_MAX || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = sec };
    int64_t us = (int64_t)timegm(&tm) * 1000000;
    const char *p = s + n;
    if (*p == '.') {
        int64_t frac = 0, scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            if (scale)
                frac += (*p - '0') * scale;
        us += frac;
    }
    return us;
}

static json_object *get(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static const char *gets(json_object *o, const char *a, const char *b)
{
    json_object *x = get(o, a, b);
    return x && json_object_is_type(x, json_type_string) ? json_object_get_string(x) : "";
}

static int64_t geti(json_object *o, const char *a, const char *b)
{
    json_object *x = get(o, a, b);
    return x ? json_object_get_int64(x) : 0;   /* "6" (iana_number is a string) parses too */
}

static int parse_ip(const char *text, uint8_t out[16])
{
    uint8_t raw[16];
    if (inet_pton(AF_INET, text, raw) == 1)
        return detect_addr_set(out, raw, 4);
    if (inet_pton(AF_INET6, text, raw) == 1)
        return detect_addr_set(out, raw, 16);
    return -1;
}

int detect_json_record(const char *line, struct detect_record *r, char **strings)
{
    *strings = NULL;
    memset(r, 0, sizeof *r);
    json_object *o = json_tokener_parse(line);
    if (!o)
        return -1;
    int rc = -1;
    if (!json_object_is_type(o, json_type_object))
        goto done;
    const char *s[4] = { gets(o, "observer", "name"), gets(o, "ashiato", "session_id"),
                         gets(o, "network", "community_id"), gets(o, "ashiato", "conn_state") };
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += (len[i] = strlen(s[i])) + 1;
    r->start_us = parse_time(gets(o, "event", "start"));
    r->end_us = parse_time(gets(o, "event", "end"));
    if (r->start_us < 0 || parse_ip(gets(o, "source", "ip"), r->src) < 0 ||
        parse_ip(gets(o, "destination", "ip"), r->dst) < 0 || !(*strings = malloc(total)))
        goto done;
    char *p = *strings;
    const char **dst[4] = { &r->sensor, &r->session_id, &r->community_id, &r->conn_state };
    for (int i = 0; i < 4; i++) {
        memcpy(p, s[i], len[i] + 1);
        *dst[i] = p;
        p += len[i] + 1;
    }
    r->sport = (uint16_t)geti(o, "source", "port");
    r->dport = (uint16_t)geti(o, "destination", "port");
    r->proto = (uint8_t)geti(o, "network", "iana_number");
    r->src_packets = (uint64_t)geti(o, "source", "packets");
    r->dst_packets = (uint64_t)geti(o, "destination", "packets");
    json_object *db = get(o, "ashiato", "data_bytes");
    r->src_bytes = (uint64_t)geti(db, "source", NULL);
    r->dst_bytes = (uint64_t)geti(db, "destination", NULL);
    r->icmp_error = (uint8_t)geti(get(o, "ashiato", "icmp_error"), "type", NULL);
    if (r->end_us < r->start_us)
        r->end_us = r->start_us;
    rc = 0;
done:
    json_object_put(o);
    if (rc < 0) {
        free(*strings);
        *strings = NULL;
    }
    return rc;
}
