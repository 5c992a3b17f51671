/* query_value.h -- the values of the query language (query_parse.c's helpers): numbers,
 * decimals, addresses in Arkime's forms, IP protocol names and times. Private to indexer/.
 * Owns:  nothing; ipproto's answer is the caller's to free.
 * Never: reads past n bytes; logs.
 * Trap:  a partial IPv4 ("10.1") is a block of its written octets (/16), as Arkime reads it. */
#ifndef ASHIATO_QUERY_VALUE_H
#define ASHIATO_QUERY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "query_parse.h"

/* Decimal digits s[0..n) (at most 19) up to max into *out. */
bool query_value_u64(const char *s, size_t n, int64_t max, int64_t *out);
/* A decimal without sign or exponent: "2", "1.5", "0.25" (digits on both sides of a '.',
 * at most 63 characters). */
bool query_value_decimal(const char *s, size_t n, double *out);
/* An address as Arkime reads one into v (QUERY_V_IP): "10.1.2.3", "10.1" (10.1.0.0/16),
 * "10.1.2/24", "10/8", "10.0.0.0/8:80", "2001:db8::/32", "2001:db8::1.80" (IPv6 port after
 * '.'); false with *why. */
bool query_value_ip(const char *s, size_t n, struct query_value *v, const char **why);
/* "tcp", "TCP", "6" -> the transport name the store keeps (malloc'd; NULL out of memory). */
char *query_value_ipproto(const char *s);
/* A time: "2021/09/28 13:00:00" or ISO "2021-09-28T13:00:00[.123456][Z]" (UTC), epoch
 * seconds, or relative to now_us: -1h, +30m, -2d, -1w, -90s. */
bool query_value_time(const char *s, int64_t now_us, int64_t *out);

#endif
