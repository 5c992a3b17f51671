/* query_es.h -- the query AST (query_parse.h) compiled to Elasticsearch / OpenSearch query
 * DSL, and the explain text that shows a tree with both of its compilations.
 * Owns:  nothing across calls.
 * Lends: nothing: the returned json_object and text are the caller's.
 * Never: builds JSON as text by hand (json-c escapes every value); logs.
 * Trap:  must give the same sessions as query_sql.c for every tree: `!=` is must_not of the
 *        `==` query (so a document without the field matches), a boolean that is absent is
 *        false, and a time `==` is its whole second. The differential test
 *        (tests/integration/test_query_differential.py) holds the two to it. */
#ifndef ASHIATO_QUERY_ES_H
#define ASHIATO_QUERY_ES_H

#include <json-c/json.h>
#include "query_parse.h"

/* The query object of e (for a bool filter), or NULL with err when out of memory. */
json_object *query_es_compile(const struct query_expr *e, char err[ASH_ERR_LEN]);

/* "expression: ...\nsql: ...\nargs: ...\nes: {...}\n": the printed tree, the SQLite
 * condition with its bound values, and the ES query. malloc'd (caller frees); NULL when out
 * of memory. */
char *query_explain(const struct query_expr *e);

#endif
