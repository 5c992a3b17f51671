/* query_sql.h -- the query AST (query_parse.h) compiled to a parameterised SQLite condition
 * over `sessions AS s` (or `alerts AS s` for a tree of the alerts' fields: each field's table
 * says how its row's document is read), and the SQL functions that condition calls.
 * Owns:  struct query_sql (the condition's text and its bound values, some owned copies).
 * Lends: bound values that point into the AST: keep the tree until the statement is done.
 * Never: pastes a value into SQL text (only catalogue column names and JSON paths); logs.
 * Trap:  the condition is never NULL-valued (every comparison is wrapped in coalesce(..., 0))
 *        so NOT works as Arkime's "none of them"; the postings (session_match) are used only
 *        where a condition is not under a NOT, which is where they can drive the search. */
#ifndef ASHIATO_QUERY_SQL_H
#define ASHIATO_QUERY_SQL_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "query_parse.h"

struct query_sql_arg {
    int type;                        /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB,
                                      * SQLITE_NULL */
    int64_t i;
    double d;
    const void *p;                   /* text or blob (into the AST or `own`) */
    int len;
    char *own;                       /* a copy this arg owns, or NULL */
};

struct query_sql {
    char *text;                      /* "(...)": a condition on sessions (alerts) AS s */
    size_t len, cap;
    struct query_sql_arg *args;
    size_t nargs, cap_args;
    char err[ASH_ERR_LEN];
};

/* Compile e; start_us/end_us (0 = open) bound the postings' hours. 0, or -1 with q->err.
 * q must be zeroed before the first call; query_sql_clear() frees it. */
int query_sql_compile(const struct query_expr *e, int64_t start_us, int64_t end_us,
                      struct query_sql *q);
void query_sql_clear(struct query_sql *q);
/* Bind q's values at parameters first, first+1, ...; returns the next free index. */
int query_sql_bind(const struct query_sql *q, sqlite3_stmt *stmt, int first);

/* Register on db the functions the compiled SQL calls: ash_doc(rowid, doc, sensor) (the
 * session's JSON document, cached for the last row), ash_ip(text) (an address as 16 bytes,
 * IPv4 as ::ffff:a.b.c.d, NULL if not one) and ash_regexp(pattern, text) (the whole text
 * matches the POSIX extended pattern). SQLITE_OK or a code. */
int query_sql_register(sqlite3 *db);

#endif
