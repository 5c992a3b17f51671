/* store_segments.h -- `ashiato.segments` in a session expression expanded by a segment map
 * (store_segments.c). Private to indexer/: store.c calls it before any backend compiles.
 * Owns:  nothing past the call; *out is the caller's (query_expr_free).
 * Never: changes e. */
#ifndef ASHIATO_STORE_SEGMENTS_H
#define ASHIATO_STORE_SEGMENTS_H

#include "ashiato.h"
#include "query_parse.h"

struct segmap;

/* 0: e has no FIELD_SEGMAP field (*out NULL, use e); 1: *out is e with each such comparison
 * replaced by ip.src / ip.dst conditions of map m (NULL: no segments); -1 with err (a bad
 * /regex/, out of memory). */
int store_segments_expand(const struct query_expr *e, const struct segmap *m,
                          struct query_expr **out, char err[ASH_ERR_LEN]);

#endif
