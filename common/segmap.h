/* segmap.h -- the network segments by address: names and prefixes (the aggregator's
 * [segments]), the longest-prefix lookup the detectors, the store's documents and its
 * queries share, and a live copy that a reload swaps while other threads read it.
 * Owns:  struct segmap values (plain data, copyable); struct segmap_live and the snapshots
 *        it hands out (refcounted, immutable).
 * Lends: segmap_live_get's snapshot until segmap_live_put; names inside a map for its life.
 * Never: parses INI text (aggregator/detect/detect_config.c does: [segments]); logs.
 * Trap:  an address belongs to its LONGEST matching prefix; of equal prefixes the first
 *        listed wins; an address in none is SEGMAP_OUTSIDE ("outside", as the detectors and
 *        docs/detection.md call it). A map with no segment names nothing at all. */
#ifndef ASHIATO_SEGMAP_H
#define ASHIATO_SEGMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEGMAP_MAX_SEGMENTS 64
#define SEGMAP_MAX_PREFIXES 256
#define SEGMAP_NAME_LEN     48
#define SEGMAP_OUTSIDE      (-1)
#define SEGMAP_OUTSIDE_NAME "outside"

struct segmap_prefix {
    uint8_t addr[16];                /* IPv4 as ::ffff:a.b.c.d, host bits off */
    uint8_t bits;                    /* over the 128-bit form (IPv4 /24 is 120) */
    int16_t segment;                 /* index into names */
};

struct segmap {
    char names[SEGMAP_MAX_SEGMENTS][SEGMAP_NAME_LEN];
    size_t n_names;
    struct segmap_prefix prefixes[SEGMAP_MAX_PREFIXES];
    size_t n_prefixes;
};

/* Whether addr (16-byte form) lies in net/bits (net's host bits off). */
bool segmap_prefix_match(const uint8_t net[16], unsigned bits, const uint8_t addr[16]);
/* 4 or 16 network-order bytes into the 16-byte form; -1 for another length. */
int segmap_addr(uint8_t out[16], const uint8_t *ip, size_t len);
/* The segment index of addr (longest prefix, first listed of equals), or SEGMAP_OUTSIDE. */
int segmap_find(const struct segmap *m, const uint8_t addr[16]);
/* The segment name of an address of 4 or 16 bytes: its segment's, "outside", or NULL when
 * the map has no segment or the length is neither. */
const char *segmap_name_of(const struct segmap *m, const uint8_t *ip, size_t len);
/* Index of a segment name, or SEGMAP_OUTSIDE for "outside", or -2 for an unknown name. */
int segmap_index(const struct segmap *m, const char *name);
/* Whether prefix j is taken from an address of prefix i: j is inside i and longer, or the
 * same block listed first (so prefix i's addresses are "in i and in no j that takes"). */
bool segmap_takes(const struct segmap *m, size_t i, size_t j);

struct segmap_live;
struct segmap_live *segmap_live_new(void);             /* NULL when out of memory */
void segmap_live_free(struct segmap_live *l);           /* accepts NULL; snapshots stay valid */
/* Make a copy of m (NULL or no segments: none) the current map. -1 when out of memory. */
int segmap_live_set(struct segmap_live *l, const struct segmap *m);
/* The current map (held until segmap_live_put), or NULL when there is none (l NULL too). */
const struct segmap *segmap_live_get(struct segmap_live *l);
void segmap_live_put(const struct segmap *m);           /* accepts NULL */

#endif
