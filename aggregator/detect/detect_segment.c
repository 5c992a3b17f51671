/* detect_segment.c -- which segment an address or a sensor belongs to, and the address
 * classes detection treats apart (private space, multicast/broadcast).
 * Owns:  nothing (reads the config's prefix tables).
 * Never: allocates. Lookups are linear over the configured prefixes: a campus has tens of
 *        them, and the longest match wins. */
#include <stdio.h>
#include <string.h>

#include "detect_internal.h"

int detect_segment_of(const struct detect_config *c, const uint8_t a[16])
{
    int best = SEG_OUTSIDE, bits = -1;
    for (size_t i = 0; i < c->n_prefixes; i++)
        if ((int)c->prefixes[i].bits > bits && detect_prefix_match(&c->prefixes[i], a)) {
            best = c->prefixes[i].segment;
            bits = c->prefixes[i].bits;
        }
    return best;
}

int detect_sensor_segment(const struct detect_config *c, const char *sensor)
{
    for (size_t i = 0; i < c->n_sensors; i++)
        if (!strcmp(c->sensors[i].sensor, sensor))
            return c->sensors[i].segment;
    return SEG_OUTSIDE;
}

bool detect_in_list(const struct detect_prefix *list, size_t n, const uint8_t a[16])
{
    for (size_t i = 0; i < n; i++)
        if (detect_prefix_match(&list[i], a))
            return true;
    return false;
}

/* RFC 1918, shared address space (RFC 6598), IPv6 unique local (RFC 4193) */
bool detect_addr_private(const uint8_t a[16])
{
    if (detect_addr_is_v4(a)) {
        const uint8_t *v = a + 12;
        return v[0] == 10 || (v[0] == 172 && (v[1] & 0xf0) == 16) ||
               (v[0] == 192 && v[1] == 168) || (v[0] == 100 && (v[1] & 0xc0) == 64);
    }
    return (a[0] & 0xfe) == 0xfc;
}

/* Multicast, limited broadcast, and the last address of a configured segment's IPv4 prefix
 * (directed broadcast): mDNS, LLMNR, SSDP and NetBIOS go there, never to be counted as
 * attempts (the false positives Zeek and Slips users report). */
bool detect_addr_discovery(const uint8_t a[16], const struct detect_config *c)
{
    if (detect_addr_is_v4(a)) {
        const uint8_t *v = a + 12;
        if ((v[0] & 0xf0) == 224 || (v[0] == 255 && v[1] == 255 && v[2] == 255 && v[3] == 255))
            return true;
        for (size_t i = 0; i < c->n_prefixes; i++) {
            const struct detect_prefix *p = &c->prefixes[i];
            if (p->bits < 96 || p->bits >= 127 || !detect_prefix_match(p, a))
                continue;
            bool all_ones = true;
            for (unsigned b = p->bits; b < 128 && all_ones; b++)
                all_ones = (a[b / 8] >> (7 - b % 8)) & 1;
            if (all_ones)
                return true;
        }
        return false;
    }
    return a[0] == 0xff;
}
