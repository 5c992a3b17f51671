/* query_value.c -- the query language's values (see query_value.h): numbers, decimals,
 * addresses, IP protocol names and times, for query_parse.c.
 * Owns:  nothing across calls.
 * Never: reads past the bytes it is given; logs.
 * Trap:  times are UTC and the year is kept to 1970..2099 (the stores' range). */
#include "query_value.h"
#include "clock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool query_value_u64(const char *s, size_t n, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

/* A decimal without sign or exponent: "2", "1.5", "0.25" (digits on both sides of a '.',
 * at most 63 characters). */
bool query_value_decimal(const char *s, size_t n, double *out)
{
    char buf[64];
    size_t i = 0;
    if (n == 0 || n >= sizeof buf)
        return false;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0)
        return false;
    if (i < n && s[i] == '.') {
        size_t frac = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == frac)
            return false;
    }
    if (i != n)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

static void block(struct query_value *v, int bits)
{
    int total = v->v4 ? 32 : 128, skip = v->v4 ? 96 : 0;
    v->prefix = bits;
    for (int i = 0; i < 16; i++) {
        int keep = skip + bits - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (i * 8 < skip)
            mask = 0xff;
        v->ip_lo[i] &= mask;
        v->ip_hi[i] = v->ip_lo[i] | (uint8_t)~mask;
    }
    (void)total;
}

/* An address as Arkime reads one: "10.1.2.3", "10.1" (10.1.0.0/16), "10.1.2/24", "10/8",
 * "10.0.0.0/8:80", "2001:db8::/32", "2001:db8::1.80" (IPv6 port after '.'). */
bool query_value_ip(const char *s, size_t n, struct query_value *v, const char **why)
{
    char buf[80];
    *why = "expected an IP address, CIDR block or partial address (10.1)";
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    v->kind = QUERY_V_IP;
    v->port = -1;
    int colons = 0;
    for (char *p = buf; *p; p++)
        colons += *p == ':';
    char *port = NULL;
    if (colons > 1) {                   /* IPv6: a port after a '.' that ends no address */
        char *slash6 = strchr(buf, '/');
        uint8_t scratch[16];
        port = strrchr(slash6 ? slash6 : buf, '.');
        if (port && !slash6 && inet_pton(AF_INET6, buf, scratch) == 1)
            port = NULL;                /* ::ffff:1.2.3.4 is an address */
    } else if (colons == 1) {
        port = strchr(buf, ':');
    }
    if (port) {
        int64_t pv;
        *port++ = '\0';
        if (!query_value_u64(port, strlen(port), 65535, &pv)) {
            *why = "expected a port 0..65535 after the address";
            return false;
        }
        v->port = (int)pv;
    }
    char *slash = strchr(buf, '/');
    int64_t bits = -1;
    if (slash) {
        *slash++ = '\0';
        if (!query_value_u64(slash, strlen(slash), 128, &bits)) {
            *why = "expected a prefix length after '/'";
            return false;
        }
    }
    memset(v->ip_lo, 0, 16);
    if (colons > 1) {
        v->v4 = false;
        if (inet_pton(AF_INET6, buf, v->ip_lo) != 1)
            return false;
        if (bits > 128)
            return false;
        block(v, bits < 0 ? 128 : (int)bits);
        return true;
    }
    /* IPv4, perhaps partial */
    int parts = 0;
    int64_t oct[4] = { 0 };
    for (char *p = buf, *e; parts < 4; p = e + 1) {
        e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!query_value_u64(p, len, 255, &oct[parts++]))
            return false;
        if (!e)
            break;
        if (parts == 4)
            return false;
    }
    if (bits > 32) {
        *why = "expected an IPv4 prefix length 0..32";
        return false;
    }
    v->v4 = true;
    v->ip_lo[10] = v->ip_lo[11] = 0xff;
    for (int i = 0; i < 4; i++)
        v->ip_lo[12 + i] = (uint8_t)oct[i];
    block(v, bits >= 0 ? (int)bits : parts * 8);
    return true;
}

/* "tcp", "TCP", "6" -> the transport name the store keeps (record_json_transport). */
char *query_value_ipproto(const char *s)
{
    static const struct { const char *in, *out; } names[] = {
        { "6", "tcp" }, { "17", "udp" }, { "1", "icmp" }, { "58", "ipv6-icmp" },
        { "132", "sctp" }, { "47", "gre" }, { "50", "esp" }, { "icmp6", "ipv6-icmp" },
        { "icmpv6", "ipv6-icmp" },
    };
    char low[32];
    size_t n = strlen(s);
    if (n >= sizeof low)
        return strdup(s);
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    for (size_t i = 0; i < ASH_ARRAY_LEN(names); i++)
        if (strcmp(low, names[i].in) == 0)
            return strdup(names[i].out);
    return strdup(low);
}

/* A time: "2021/09/28 13:00:00" or ISO "2021-09-28T13:00:00[.123456][Z]" (UTC), epoch
 * seconds, or relative to now: -1h, +30m, -2d, -1w, -90s (units s m h d w). */
bool query_value_time(const char *s, int64_t now_us, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v;
    if (n >= 2 && (s[0] == '-' || s[0] == '+')) {
        static const struct { char u; int64_t us; } units[] = {
            { 's', 1000000LL }, { 'm', 60000000LL }, { 'h', 3600000000LL },
            { 'd', 86400000000LL }, { 'w', 604800000000LL },
        };
        size_t digits = 1;
        while (digits < n && isdigit((unsigned char)s[digits]))
            digits++;
        if (digits + 1 != n)
            return false;
        int64_t k = 1;
        if (digits > 1 && !query_value_u64(s + 1, digits - 1, 1000000, &k))
            return false;
        for (size_t i = 0; i < ASH_ARRAY_LEN(units); i++)
            if (s[n - 1] == units[i].u) {
                *out = now_us + (s[0] == '-' ? -1 : 1) * k * units[i].us;
                return true;
            }
        return false;
    }
    if (query_value_u64(s, n, 4102444800LL, &v)) {
        *out = v * 1000000LL;
        return true;
    }
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    char sep1, sep2, t;
    int used = 0;
    if (sscanf(s, "%4u%c%2u%c%2u%n", &y, &sep1, &mo, &sep2, &d, &used) != 5 || sep1 != sep2 ||
        (sep1 != '/' && sep1 != '-'))
        return false;
    const char *p = s + used;
    int64_t frac = 0;
    if (*p == ' ' || *p == 'T') {
        t = *p;
        used = 0;
        if (sscanf(p + 1, "%2u:%2u%n", &h, &mi, &used) != 2)
            return false;
        p += 1 + used;
        if (*p == ':') {
            used = 0;
            if (sscanf(p + 1, "%2u%n", &se, &used) != 1)
                return false;
            p += 1 + used;
            if (*p == '.') {
                int64_t scale = 100000;
                for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
                    frac += scale * (*p - '0');
            }
        }
        (void)t;
    }
    if (*p == 'Z')
        p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        y < 1970 || y > 2099)
        return false;
    *out = ((clock_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000000LL) + frac;
    return true;
}

