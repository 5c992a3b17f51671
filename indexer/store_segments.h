/* store_segments.h -- `ashiato.segments` in a session expression expanded by a segment map
 * (store_segments.c): store_read.c calls it before any backend compiles; the API's
 * stack=segment takes one side's condition.
 * Owns:  nothing past the call; *out is the caller's (query_expr_free).
 * Never: changes e. */
#ifndef ASHIATO_STORE_SEGMENTS_H
#define ASHIATO_STORE_SEGMENTS_H

#include <stdbool.h>

#include "ashiato.h"
#include "query_parse.h"

struct segmap;

/* 0: e has no FIELD_SEGMAP field (*out NULL, use e); 1: *out is e with each such comparison
 * replaced by ip.src / ip.dst conditions of map m (NULL: no segments); -1 with err (a bad
 * /regex/, out of memory). */
int store_segments_expand(const struct query_expr *e, const struct segmap *m,
                          struct query_expr **out, char err[ASH_ERR_LEN]);

/* The sessions whose source (source true) or destination address is in segment seg of m
 * (an index into m->names, or SEGMAP_OUTSIDE): the exact longest-prefix condition as a new
 * tree over ip.src / ip.dst (the caller frees it with query_expr_free); NULL when out of
 * memory or seg is not one of m's. */
struct query_expr *store_segments_condition(const struct segmap *m, bool source, int seg);

#endif
