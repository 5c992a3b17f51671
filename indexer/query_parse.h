/* query_parse.h -- Arkime's viewer expression language, parsed into an AST that both store
 * compilers (query_sql.c, query_es.c) read.
 * Owns:  struct query_expr trees (query_parse makes them, query_expr_free frees them) and the
 *        text they print as.
 * Lends: field pointers into the static field catalogue (field_catalog.h).
 * Never: logs; touches a store; reads the clock except query_parse() for relative times.
 * Trap:  `!=` is kept as written (printing shows it) but means NOT(==) everywhere: on a field
 *        with several values "none of them", and a session without the field matches it. A
 *        time value is resolved when parsed: "-1h" is an hour before the parse.
 *
 * Grammar (Arkime's, viewer/arkime.jison): e := e '&&' e | e '||' e | '!' e | '(' e ')'
 * | FIELD OP VALUE | FIELD ('=='|'!=') 'EXISTS!'; '&&' binds tighter than '||'; '=' '&' '|'
 * are accepted for '==' '&&' '||'. VALUE := word | "quoted \"text\"" | /regex/ | [a,b] (any)
 * | ]a,b[ (all). Nesting deeper than QUERY_DEPTH_MAX is an error, not a deep recursion,
 * and so are more than QUERY_TERMS_MAX comparisons. */
#ifndef ASHIATO_QUERY_PARSE_H
#define ASHIATO_QUERY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "field_catalog.h"

#define QUERY_DEPTH_MAX 64           /* nested parentheses and '!' */
#define QUERY_TEXT_MAX  65536        /* bytes of an expression */
#define QUERY_LIST_MAX  1024         /* values in one list */
#define QUERY_TERMS_MAX 1024         /* comparisons in one expression (bounds the tree) */

struct query_error {
    int pos;                         /* 0-based byte offset in the text, -1 if none */
    char msg[ASH_ERR_LEN];           /* "expected ..., found ..." */
};

enum query_kind { QUERY_AND, QUERY_OR, QUERY_NOT, QUERY_CMP, QUERY_EXISTS };
enum query_op { QUERY_EQ, QUERY_NE, QUERY_LT, QUERY_LE, QUERY_GT, QUERY_GE };

enum query_vkind {
    QUERY_V_INT,                     /* lo..hi inclusive (80 is 80..80, 80-90 a range) */
    QUERY_V_IP,                      /* ip_lo..ip_hi (16 bytes, IPv4 as ::ffff:a.b.c.d) */
    QUERY_V_TEXT,                    /* exact text */
    QUERY_V_WILD,                    /* '*' any run, '?' any one character */
    QUERY_V_REGEX,                   /* the whole value matches (anchored), POSIX ERE subset */
    QUERY_V_TIME,                    /* lo..hi microseconds inclusive (== is the whole second) */
    QUERY_V_BOOL,                    /* lo: 0 or 1 */
    QUERY_V_FLOAT,                   /* flo..fhi inclusive (1.5 is 1.5..1.5, 1-2.5 a range) */
};

struct query_value {
    enum query_vkind kind;
    int64_t lo, hi;
    uint8_t ip_lo[16], ip_hi[16];
    bool v4;                         /* IP: an IPv4 block */
    int prefix;                      /* IP: prefix length within its family */
    int port;                        /* IP: the port of ip:port, -1 if none */
    char *text;                      /* TEXT, WILD, REGEX: unescaped, NUL-terminated */
    double flo, fhi;                 /* FLOAT */
};

struct query_expr {
    enum query_kind kind;
    int pos;                         /* offset of the node's first character */
    struct query_expr *left, *right; /* AND, OR: both; NOT: left */
    const struct field_def *field;   /* CMP, EXISTS */
    enum query_op op;                /* CMP: any; EXISTS: EQ or NE */
    bool list, all;                  /* CMP: written as [..] (any) or ]..[ (all) */
    size_t n;                        /* CMP: values */
    struct query_value *v;
};

/* Parse text; NULL with err filled (err->pos, err->msg) when it is not an expression. An
 * empty or all-blank text is an error too (callers treat "no expression" themselves). */
struct query_expr *query_parse(const char *text, struct query_error *err);
/* The same with "now" given, for relative times ("-1h"): microseconds since the epoch. */
struct query_expr *query_parse_at(const char *text, int64_t now_us, struct query_error *err);
/* The same over the fields of table t (field_catalog.h: &field_catalog_alerts for alert
 * expressions); query_parse and query_parse_at use the sessions table. The tree's fields
 * point into t, and both compilers read the document the way t says. */
struct query_expr *query_parse_in(const struct field_table *t, const char *text, int64_t now_us,
                                  struct query_error *err);
void query_expr_free(struct query_expr *e);                /* accepts NULL */
/* Whether every field of e is one of table t's (a store checks the tree it is handed). */
bool query_expr_in(const struct query_expr *e, const struct field_table *t);

/* The tree back as text, fully parenthesised, with canonical field names, e.g.
 * `(ip.src == 10.1.0.0/16 && !(port.dst == [80,443]))`. It parses back to the same text,
 * unless its parentheses take a tree near QUERY_DEPTH_MAX past it. Writes at most len bytes with the
 * NUL; returns the length it needed (as snprintf), or -1 for a NULL tree. */
int query_expr_print(const struct query_expr *e, char *buf, size_t len);

#endif
