/* detect_segmap.c -- the detection config's [segments] as a common/segmap.h map, the form the
 * store renders ashiato.segments and compiles `ashiato.segments == X` with.
 * Owns:  nothing (copies names and prefixes into the caller's map).
 * Never: allocates; reads files (detect_config_load does). */
#include "detect.h"

#include <stdio.h>
#include <string.h>

#include "segmap.h"

_Static_assert(DETECT_MAX_SEGMENTS <= SEGMAP_MAX_SEGMENTS, "segment names fit a segmap");
_Static_assert(DETECT_MAX_PREFIXES <= SEGMAP_MAX_PREFIXES, "segment prefixes fit a segmap");
_Static_assert(DETECT_NAME_LEN <= SEGMAP_NAME_LEN, "segment name length fits a segmap");

void detect_config_segmap(const struct detect_config *c, struct segmap *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < c->n_segments; i++)
        snprintf(out->names[i], SEGMAP_NAME_LEN, "%s", c->segments[i]);
    out->n_names = c->n_segments;
    for (size_t i = 0; i < c->n_prefixes; i++) {
        if (c->prefixes[i].segment < 0)
            continue;
        struct segmap_prefix *p = &out->prefixes[out->n_prefixes++];
        memcpy(p->addr, c->prefixes[i].addr, 16);
        p->bits = c->prefixes[i].bits;
        p->segment = c->prefixes[i].segment;
    }
}
