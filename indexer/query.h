/* query.h -- what a caller of the query language includes: parsing, printing and freeing a
 * tree (query_parse.h), explaining it (query_explain in query_es.h) and the field catalogue
 * (field_catalog.h: lookups, fields.json). The trees go to the store in store_query.expr
 * (store.h); each backend compiles them itself.
 * Owns:  nothing; it only gathers the headers.
 * Never: grows declarations of its own. */
#ifndef ASHIATO_QUERY_H
#define ASHIATO_QUERY_H

#include "field_catalog.h"
#include "query_parse.h"
#include "query_es.h"

#endif
