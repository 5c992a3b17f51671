/* query_es.c -- the query AST to Elasticsearch / OpenSearch query DSL (query_es.h), and the
 * explain text of both compilers.
 * Owns:  the DSL of each node kind.
 * Lends: nothing.
 * Never: formats a value into JSON text itself; logs.
 * Trap:  `term` on an ip field takes a CIDR block as it is ("10.1.0.0/16"); a text field
 *        (FIELD_ESKEYWORD: the alerts' message) is queried on its .keyword sub-field; a
 *        keyword field stored from integers (network.vlan.id) gets its values as strings; the
 *        sum fields (databytes) need a script query, which a cluster with scripting disabled
 *        refuses. */
#include "query_es.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "query_sql.h"
#include "record_json.h"

static json_object *obj1(const char *k, json_object *v)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, k, v);
    return o;
}

static json_object *obj2(const char *k1, json_object *v1, const char *k2, json_object *v2)
{
    json_object *o = obj1(k1, v1);
    json_object_object_add(o, k2, v2);
    return o;
}

/* {"bool": {kind: [items...]}} (should: at least one) */
static json_object *boolq(const char *kind, json_object *items)
{
    json_object *b = obj1(kind, items);
    if (strcmp(kind, "should") == 0)
        json_object_object_add(b, "minimum_should_match", json_object_new_int(1));
    return obj1("bool", b);
}

static json_object *not_q(json_object *q)
{
    json_object *a = json_object_new_array();
    json_object_array_add(a, q);
    return boolq("must_not", a);
}

static json_object *term(const char *field, json_object *v)
{
    return obj1("term", obj1(field, v));
}

static json_object *time_str(int64_t us)
{
    char t[40];
    record_json_time(us, t);
    return json_object_new_string(t);
}

/* A number as the field keeps it: a string for keyword fields (FIELD_NORANGE). */
static json_object *num(const struct field_def *f, int64_t v)
{
    if (f->flags & FIELD_NORANGE) {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)v);
        return json_object_new_string(b);
    }
    return json_object_new_int64(v);
}

/* A decimal field (FIELD_FLOAT): a range even for == (lo..hi, one value when equal). */
static json_object *frange(const struct field_def *f, enum query_op op,
                           const struct query_value *v)
{
    json_object *r = json_object_new_object();
    static const char *const key[] = { [QUERY_LT] = "lt", [QUERY_LE] = "lte", [QUERY_GT] = "gt",
                                       [QUERY_GE] = "gte" };
    if (op == QUERY_EQ || op == QUERY_NE) {
        json_object_object_add(r, "gte", json_object_new_double(v->flo));
        json_object_object_add(r, "lte", json_object_new_double(v->fhi));
    } else {
        json_object_object_add(r, key[op], json_object_new_double(v->flo));
    }
    char esb[160];
    return obj1("range", obj1(field_catalog_es(f, esb, sizeof esb), r));
}

static json_object *range(const struct field_def *f, enum query_op op,
                          const struct query_value *v)
{
    bool t = v->kind == QUERY_V_TIME;
    json_object *r = json_object_new_object();
    json_object *(*mk)(int64_t) = t ? time_str : json_object_new_int64;
    switch (op) {
    case QUERY_LT: json_object_object_add(r, "lt", mk(v->lo)); break;
    case QUERY_LE: json_object_object_add(r, "lte", mk(v->lo)); break;
    case QUERY_GT: json_object_object_add(r, "gt", mk(v->lo)); break;
    case QUERY_GE: json_object_object_add(r, "gte", mk(v->lo)); break;
    default:
        json_object_object_add(r, "gte", mk(v->lo));
        json_object_object_add(r, "lte", mk(v->hi));
        break;
    }
    char esb[160];
    return obj1("range", obj1(field_catalog_es(f, esb, sizeof esb), r));
}

/* databytes: a script over the two parts (absent counts 0, as in query_sql.c). */
static json_object *sum_q(const struct field_def *f, enum query_op op,
                          const struct query_value *v)
{
    const struct field_def *a = field_catalog_part(f, 0), *b = field_catalog_part(f, 1);
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (op) {
    case QUERY_LT: hi = v->lo - 1; break;
    case QUERY_LE: hi = v->lo; break;
    case QUERY_GT: lo = v->lo + 1; break;
    case QUERY_GE: lo = v->lo; break;
    default: lo = v->lo; hi = v->hi; break;
    }
    char src[512];
    snprintf(src, sizeof src, "long a = doc['%s'].size() == 0 ? 0 : doc['%s'].value; "
             "long b = doc['%s'].size() == 0 ? 0 : doc['%s'].value; long s = a + b; "
             "return s >= params.lo && s <= params.hi;", a->ecs, a->ecs, b->ecs, b->ecs);
    json_object *params = obj2("lo", json_object_new_int64(lo), "hi", json_object_new_int64(hi));
    json_object *script = obj2("source", json_object_new_string(src), "params", params);
    json_object_object_add(script, "lang", json_object_new_string("painless"));
    return obj1("script", obj1("script", script));
}

/* One field (not pseudo), one value, op not NE. */
static json_object *leaf(const struct field_def *f, enum query_op op, const struct query_value *v)
{
    char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN];
    json_object *q = NULL;
    char esb[160];
    const char *fe = field_catalog_es(f, esb, sizeof esb);
    if (f->flags & FIELD_SUM)
        return sum_q(f, op, v);
    switch (v->kind) {
    case QUERY_V_IP:
        inet_ntop(v->v4 ? AF_INET : AF_INET6, v->v4 ? v->ip_lo + 12 : v->ip_lo, b, sizeof b);
        if (v->prefix == (v->v4 ? 32 : 128))
            snprintf(a, sizeof a, "%s", b);
        else
            snprintf(a, sizeof a, "%s/%d", b, v->prefix);
        q = term(fe, json_object_new_string(a));
        if (v->port >= 0 && field_catalog_port(f)) {
            const struct field_def *pf = field_catalog_port(f);
            json_object *both = json_object_new_array();
            json_object_array_add(both, q);
            json_object_array_add(both, term(pf->ecs, json_object_new_int(v->port)));
            q = boolq("filter", both);
        }
        return q;
    case QUERY_V_INT:
    case QUERY_V_TIME:
        if (op == QUERY_EQ && v->lo == v->hi && v->kind == QUERY_V_INT)
            return term(fe, num(f, v->lo));
        return range(f, op, v);
    case QUERY_V_TEXT:
        return term(fe, json_object_new_string(v->text));
    case QUERY_V_WILD:
        return obj1("wildcard", obj1(fe, obj1("value", json_object_new_string(v->text))));
    case QUERY_V_REGEX:
        return obj1("regexp", obj1(fe, obj2("value", json_object_new_string(v->text),
                                                  "flags", json_object_new_string("NONE"))));
    case QUERY_V_BOOL:
        q = term(fe, json_object_new_boolean(1));
        return v->lo ? q : not_q(q);
    case QUERY_V_FLOAT:
        return frange(f, op, v);
    }
    return NULL;
}

static json_object *one_value(const struct field_def *f, enum query_op op,
                              const struct query_value *v)
{
    if (!(f->flags & FIELD_PSEUDO))
        return leaf(f, op, v);
    json_object *any = json_object_new_array();
    const struct field_def *p;
    for (int i = 0; (p = field_catalog_part(f, i)) != NULL; i++)
        json_object_array_add(any, one_value(p, op, v));
    return boolq("should", any);
}

static json_object *exists(const struct field_def *f)
{
    char esb[160];
    if (!(f->flags & (FIELD_PSEUDO | FIELD_SUM)))
        return obj1("exists", obj1("field", json_object_new_string(
            field_catalog_es(f, esb, sizeof esb))));
    json_object *any = json_object_new_array();
    const struct field_def *p;
    for (int i = 0; (p = field_catalog_part(f, i)) != NULL; i++)
        json_object_array_add(any, exists(p));
    return boolq("should", any);
}

static json_object *node(const struct query_expr *e);

/* The operands of a chain of one operator, each compiled, into items: one bool query for
 * a && b && c instead of one per &&, so the DSL stays shallow (Elasticsearch limits bool
 * nesting). */
static void chain(const struct query_expr *e, enum query_kind kind, json_object *items)
{
    if (e->kind == kind) {
        chain(e->left, kind, items);
        chain(e->right, kind, items);
    } else {
        json_object_array_add(items, node(e));
    }
}

static json_object *node(const struct query_expr *e)
{
    json_object *items;
    switch (e->kind) {
    case QUERY_AND:
    case QUERY_OR:
        items = json_object_new_array();
        chain(e, e->kind, items);
        return boolq(e->kind == QUERY_AND ? "filter" : "should", items);
    case QUERY_NOT:
        return not_q(node(e->left));
    case QUERY_EXISTS:
        return e->op == QUERY_NE ? not_q(exists(e->field)) : exists(e->field);
    case QUERY_CMP: {
        bool ne = e->op == QUERY_NE;
        enum query_op op = ne ? QUERY_EQ : e->op;
        json_object *q;
        if (e->n == 1) {
            q = one_value(e->field, op, &e->v[0]);
        } else {
            items = json_object_new_array();
            for (size_t i = 0; i < e->n; i++)
                json_object_array_add(items, one_value(e->field, op, &e->v[i]));
            q = boolq(e->all ? "filter" : "should", items);
        }
        return ne ? not_q(q) : q;
    }
    }
    return NULL;
}

json_object *query_es_compile(const struct query_expr *e, char err[ASH_ERR_LEN])
{
    json_object *q = e ? node(e) : NULL;
    if (!q)
        snprintf(err, ASH_ERR_LEN, "query: %s", e ? "out of memory compiling to the query DSL"
                                                  : "no expression");
    return q;
}

char *query_explain(const struct query_expr *e)
{
    struct query_sql q = { 0 };
    char err[ASH_ERR_LEN];
    int n = query_expr_print(e, NULL, 0);
    if (n < 0)
        return NULL;
    char *printed = malloc((size_t)n + 1);
    json_object *es = query_es_compile(e, err), *args = json_object_new_array();
    if (!printed || !es || query_sql_compile(e, 0, 0, &q) < 0 || !args) {
        free(printed);
        json_object_put(es);
        json_object_put(args);
        query_sql_clear(&q);
        return NULL;
    }
    query_expr_print(e, printed, (size_t)n + 1);
    for (size_t i = 0; i < q.nargs; i++) {
        const struct query_sql_arg *a = &q.args[i];
        if (a->type == SQLITE_INTEGER) {
            json_object_array_add(args, json_object_new_int64(a->i));
        } else if (a->type == SQLITE_FLOAT) {
            json_object_array_add(args, json_object_new_double(a->d));
        } else if (a->type == SQLITE_TEXT) {
            json_object_array_add(args, json_object_new_string_len(a->p, a->len));
        } else if (a->type == SQLITE_BLOB) {
            char hex[2 * 16 + 4] = "x'";          /* x'...' and the NUL */
            for (int k = 0; k < a->len && k < 16; k++)
                snprintf(hex + 2 + 2 * k, 3, "%02x", ((const uint8_t *)a->p)[k]);
            strcat(hex, "'");
            json_object_array_add(args, json_object_new_string(hex));
        } else {
            json_object_array_add(args, NULL);
        }
    }
    const char *es_text = json_object_to_json_string_ext(es, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
    const char *args_text = json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = strlen(printed) + q.len + strlen(es_text) + strlen(args_text) + 64;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "expression: %s\nsql: %.*s\nargs: %s\nes: %s\n", printed, (int)q.len,
                 q.text, args_text, es_text);
    free(printed);
    json_object_put(es);
    json_object_put(args);
    query_sql_clear(&q);
    return out;
}
