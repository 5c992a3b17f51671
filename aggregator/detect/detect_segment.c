/* detect_segment.c -- which segment an address or a sensor belongs to, and the address
 * classes detection treats apart (private space, multicast/broadcast).
 * Owns:  the compiled segment index (struct detect_segidx, in the engine): the [segments]
 *        prefixes in a hash table keyed on (network, length), probed once per distinct
 *        length, longest first: a campus has tens of prefixes but a few lengths, and every
 *        record asks three times (its source's and destination's segment, and whether the
 *        destination is a segment's broadcast address).
 * Never: allocates. detect_segment_of and detect_addr_discovery are the linear definitions
 *        (the longest match wins, the first listed among equals) that the index answers
 *        alike; the engine uses the index. */
#include <stdio.h>
#include <string.h>

#include "detect_internal.h"

/* a with the bits from bits on cleared */
static void masked(uint8_t out[16], const uint8_t a[16], unsigned bits)
{
    memcpy(out, a, 16);
    for (unsigned i = bits / 8; i < 16; i++)
        out[i] = i == bits / 8 ? (uint8_t)(out[i] & (0xff00u >> (bits % 8))) : 0;
}

static size_t slot_of(const uint8_t net[16], unsigned bits)
{
    return hmap_hash_bytes(net, 16, bits) & (SEGIDX_SLOTS - 1);
}

static const struct segidx_slot *find(const struct detect_segidx *x, const uint8_t net[16],
                                      unsigned bits)
{
    for (size_t i = slot_of(net, bits); x->slot[i].used; i = (i + 1) & (SEGIDX_SLOTS - 1))
        if (x->slot[i].bits == bits && !memcmp(x->slot[i].net, net, 16))
            return &x->slot[i];
    return NULL;
}

static void add_len(uint8_t *v, size_t *n, uint8_t len)
{
    size_t i = 0;
    while (i < *n && v[i] > len)
        i++;
    if (i < *n && v[i] == len)
        return;
    memmove(v + i + 1, v + i, *n - i);
    v[i] = len;
    (*n)++;
}

void detect_segidx_build(struct detect_segidx *x, const struct detect_config *c)
{
    memset(x, 0, sizeof *x);
    for (size_t k = 0; k < c->n_prefixes && k < DETECT_MAX_PREFIXES; k++) {
        const struct detect_prefix *p = &c->prefixes[k];
        uint8_t net[16];
        masked(net, p->addr, p->bits);
        if (p->bits > 128 || memcmp(net, p->addr, 16) || find(x, net, p->bits))
            continue;   /* host bits set: never matches; listed before: the first wins */
        size_t i = slot_of(net, p->bits);
        while (x->slot[i].used)
            i = (i + 1) & (SEGIDX_SLOTS - 1);
        memcpy(x->slot[i].net, net, 16);
        x->slot[i].bits = p->bits;
        x->slot[i].used = 1;
        x->slot[i].segment = p->segment;
        add_len(x->lens, &x->n_lens, p->bits);
        if (p->bits >= 96 && p->bits < 127 && detect_addr_is_v4(net))
            add_len(x->bcast, &x->n_bcast, p->bits);
    }
}

int detect_segidx_of(const struct detect_segidx *x, const uint8_t a[16])
{
    for (size_t k = 0; k < x->n_lens; k++) {
        uint8_t net[16];
        masked(net, a, x->lens[k]);
        const struct segidx_slot *s = find(x, net, x->lens[k]);
        if (s)
            return s->segment;
    }
    return SEG_OUTSIDE;
}

/* the host bits of a from bits on all ones */
static bool host_ones(const uint8_t a[16], unsigned bits)
{
    for (unsigned b = bits; b < 128; b++)
        if (!((a[b / 8] >> (7 - b % 8)) & 1))
            return false;
    return true;
}

bool detect_segidx_discovery(const struct detect_segidx *x, const uint8_t a[16])
{
    if (!detect_addr_is_v4(a))
        return a[0] == 0xff;
    const uint8_t *v = a + 12;
    if ((v[0] & 0xf0) == 224 || (v[0] == 255 && v[1] == 255 && v[2] == 255 && v[3] == 255))
        return true;
    for (size_t k = 0; k < x->n_bcast; k++) {
        uint8_t net[16];
        if (!host_ones(a, x->bcast[k]))
            continue;
        masked(net, a, x->bcast[k]);
        if (find(x, net, x->bcast[k]))
            return true;
    }
    return false;
}

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
