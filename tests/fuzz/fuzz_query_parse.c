/* fuzz_query_parse.c -- libFuzzer over the query language's entry point, query_parse_in(),
 * with the sessions' and then the alerts' field table (sessions.json and alerts.json): any
 * bytes (cut at the first NUL, as the HTTP API hands it a C string) either fail with a
 * position inside the text and a message, or give a tree whose printed form parses back to
 * the same printed form (unless the printer's parentheses take it past the depth bound),
 * compiles to SQL (with one bound value per '?') and to query DSL, and explains. Anything
 * else aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "query_parse.h"
#include "query_sql.h"
#include "query_es.h"

static void die(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_query_parse: %s: %s\n", what, text);
    abort();
}

static void one(const struct field_table *t, char *text)
{
    struct query_error err;
    struct query_expr *e = query_parse_in(t, text, 1632830400000000LL, &err);
    if (!e) {
        if (err.pos < 0 || (size_t)err.pos > strlen(text) || !err.msg[0])
            die("error without a position in the text or a message", text);
        return;
    }
    if (!query_expr_in(e, t))
        die("a field from another table", text);
    int n = query_expr_print(e, NULL, 0);
    char *p1 = malloc((size_t)n + 1), *p2 = NULL;
    if (!p1)
        die("out of memory", text);
    query_expr_print(e, p1, (size_t)n + 1);
    struct query_expr *again = query_parse_in(t, p1, 1632830400000000LL, &err);
    /* the printer parenthesises every && / || and every negated comparison, so a tree near
     * the depth or length bound may print past it: then only those errors are allowed */
    if (!again && !strstr(err.msg, "nested deeper than") && !strstr(err.msg, "longer than"))
        die("the printed tree does not parse", p1);
    if (again) {
        int n2 = query_expr_print(again, NULL, 0);
        p2 = malloc((size_t)n2 + 1);
        if (!p2)
            die("out of memory", text);
        query_expr_print(again, p2, (size_t)n2 + 1);
        if (strcmp(p1, p2) != 0)
            die("printed twice differently", p1);
    }
    struct query_sql q = { 0 };
    if (query_sql_compile(e, 0, 0, &q) < 0)
        die("sql", q.err);
    size_t marks = 0;
    for (size_t i = 0; i < q.len; i++)
        marks += q.text[i] == '?';
    if (marks != q.nargs)
        die("a '?' without its value", q.text);
    char ebuf[ASH_ERR_LEN];
    json_object *es = query_es_compile(e, ebuf);
    if (!es)
        die("es", ebuf);
    char *x = query_explain(e);
    if (!x)
        die("explain", text);
    free(x);
    json_object_put(es);
    query_sql_clear(&q);
    query_expr_free(again);
    query_expr_free(e);
    free(p1);
    free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    one(&field_catalog_sessions, text);
    one(&field_catalog_alerts, text);
    free(text);
    return 0;
}
