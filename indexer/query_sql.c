/* query_sql.c -- the query AST to parameterised SQL for the SQLite store (query_sql.h).
 * Owns:  the SQL text of each node kind, the ash_doc / ash_ip / ash_regexp functions.
 * Lends: argument pointers into the AST (see query_sql.h).
 * Never: puts a value from the expression into the SQL text; logs.
 * Trap:  a field the row has as a column is compared on the column; any other is read from
 *        the session's rendered document with json_each over its ECS path, so a field with
 *        several values matches when any value does and a missing field has no values (its
 *        EXISTS (...) is false, its NOT EXISTS (...) true). The postable conditions of the
 *        top-level AND chain (== on a field with a posting) become ONE session_match() call
 *        (store_sqlite_match.c intersects them from the smallest) ahead of the exact
 *        condition of every operand: a superset trimmed by the row, so results never depend
 *        on the postings (test_query_differential). */
#include "query_sql.h"

#include <arpa/inet.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record_json.h"
#include "store_sqlite.h"
#include "ashiato.pb-c.h"

struct ctx {
    struct query_sql *q;
    int64_t start_us, end_us;
    bool oom;
};

static void sql(struct ctx *c, const char *fmt, ...) ASH_PRINTF(2, 3);

static void sql(struct ctx *c, const char *fmt, ...)
{
    struct query_sql *q = c->q;
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(q->text ? q->text + q->len : NULL, q->text ? q->cap - q->len : 0, fmt,
                          ap);
        va_end(ap);
        if (n < 0) {
            c->oom = true;
            return;
        }
        if (q->text && q->len + (size_t)n < q->cap) {
            q->len += (size_t)n;
            return;
        }
        size_t cap = (q->cap ? q->cap * 2 : 1024) + (size_t)n;
        char *t = realloc(q->text, cap);
        if (!t) {
            c->oom = true;
            return;
        }
        q->text = t;
        q->cap = cap;
    }
}

static struct query_sql_arg *arg(struct ctx *c)
{
    struct query_sql *q = c->q;
    if (q->nargs == q->cap_args) {
        size_t cap = q->cap_args ? q->cap_args * 2 : 16;
        struct query_sql_arg *a = realloc(q->args, cap * sizeof *a);
        if (!a) {
            c->oom = true;
            return NULL;
        }
        q->args = a;
        q->cap_args = cap;
    }
    struct query_sql_arg *a = &q->args[q->nargs++];
    memset(a, 0, sizeof *a);
    return a;
}

/* Append "?" and its value. */
static void p_int(struct ctx *c, int64_t v)
{
    struct query_sql_arg *a = arg(c);
    if (a) {
        a->type = SQLITE_INTEGER;
        a->i = v;
    }
    sql(c, "?");
}

static void p_float(struct ctx *c, double v)
{
    struct query_sql_arg *a = arg(c);
    if (a) {
        a->type = SQLITE_FLOAT;
        a->d = v;
    }
    sql(c, "?");
}

static void p_text(struct ctx *c, const char *s, char *own)
{
    struct query_sql_arg *a = arg(c);
    if (a) {
        a->type = SQLITE_TEXT;
        a->p = s;
        a->len = (int)strlen(s);
        a->own = own;
    } else {
        free(own);
    }
    sql(c, "?");
}

static void p_blob(struct ctx *c, const uint8_t *b, int len)
{
    struct query_sql_arg *a = arg(c);
    if (a) {
        a->type = SQLITE_BLOB;
        a->p = b;
        a->len = len;
    }
    sql(c, "?");
}

static void p_bound(struct ctx *c, int64_t us)
{
    if (us)
        p_int(c, us);
    else
        sql(c, "NULL");
}

/* The SQL that reads the document of f's row (its table's: sessions render theirs with
 * ash_doc, alerts keep theirs as text). */
static const char *doc_of(const struct field_def *f)
{
    return field_catalog_sql_doc(f);     /* ashiato.linked: its session_links rows */
}

/* "a GLOB pattern" for a wildcard: '*' and '?' as they are, '[' taken literally. */
static char *glob_of(const char *w)
{
    size_t n = strlen(w);
    char *g = malloc(3 * n + 1), *o = g;
    if (!g)
        return NULL;
    for (; *w; w++) {
        if (*w == '[') {
            memcpy(o, "[[]", 3);
            o += 3;
        } else {
            *o++ = *w;
        }
    }
    *o = '\0';
    return g;
}

static const char *op_sql(enum query_op op)
{
    switch (op) {
    case QUERY_LT: return "<";
    case QUERY_LE: return "<=";
    case QUERY_GT: return ">";
    case QUERY_GE: return ">=";
    default: return "=";
    }
}

/* The condition on one value expression `x` (a column or json_each's value) of field f. */
static void value_cond(struct ctx *c, const struct field_def *f, const char *x,
                       enum query_op op, const struct query_value *v)
{
    switch (v->kind) {
    case QUERY_V_IP:
        sql(c, "ash_ip(%s) BETWEEN ", x);
        p_blob(c, v->ip_lo, 16);
        sql(c, " AND ");
        p_blob(c, v->ip_hi, 16);
        break;
    case QUERY_V_INT:
    case QUERY_V_TIME:
        if (op == QUERY_EQ && v->lo == v->hi) {
            sql(c, "%s = ", x);
            p_int(c, v->lo);
        } else if (op == QUERY_EQ) {
            sql(c, "%s BETWEEN ", x);
            p_int(c, v->lo);
            sql(c, " AND ");
            p_int(c, v->hi);
        } else {
            sql(c, "%s %s ", x, op_sql(op));
            p_int(c, v->lo);
        }
        break;
    case QUERY_V_TEXT:
        sql(c, "%s = ", x);
        p_text(c, v->text, NULL);
        break;
    case QUERY_V_WILD: {
        char *g = glob_of(v->text);
        if (!g) {
            c->oom = true;
            return;
        }
        sql(c, "%s GLOB ", x);
        p_text(c, g, g);
        break;
    }
    case QUERY_V_REGEX:
        sql(c, "ash_regexp(");
        p_text(c, v->text, NULL);
        sql(c, ", %s)", x);
        break;
    case QUERY_V_BOOL:
        sql(c, "%s = 1", x);
        break;
    case QUERY_V_FLOAT:
        if (op == QUERY_EQ) {
            sql(c, "%s BETWEEN ", x);
            p_float(c, v->flo);
            sql(c, " AND ");
            p_float(c, v->fhi);
        } else {
            sql(c, "%s %s ", x, op_sql(op));
            p_float(c, v->flo);
        }
        break;
    }
    (void)f;
}

/* One field (not pseudo), one value: the exact condition, never NULL. */
static void leaf(struct ctx *c, const struct field_def *f, enum query_op op,
                 const struct query_value *v)
{
    char x[512];
    if (f->flags & FIELD_SUM) {
        const struct field_def *a = field_catalog_part(f, 0), *b = field_catalog_part(f, 1);
        snprintf(x, sizeof x, "(coalesce(json_extract(%s, '$.%s'), 0) + "
                 "coalesce(json_extract(%s, '$.%s'), 0))", doc_of(a), a->ecs, doc_of(b), b->ecs);
        sql(c, "coalesce(");
        value_cond(c, f, x, op, v);
        sql(c, ", 0)");
    } else if (f->sql) {
        snprintf(x, sizeof x, "s.%s", f->sql);
        sql(c, "coalesce(");
        value_cond(c, f, x, op, v);
        sql(c, ", 0)");
    } else if (v->kind == QUERY_V_BOOL && v->lo == 0) {
        sql(c, "NOT EXISTS (SELECT 1 FROM json_each(%s, '$.%s') WHERE value = 1)", doc_of(f),
            f->ecs);
    } else {
        sql(c, "EXISTS (SELECT 1 FROM json_each(%s, '$.%s') WHERE ", doc_of(f), f->ecs);
        value_cond(c, f, "value", op, v);
        sql(c, ")");
    }
    if (v->kind == QUERY_V_IP && v->port >= 0 && field_catalog_port(f)) {
        const struct field_def *pf = field_catalog_port(f);
        struct query_value pv = { .kind = QUERY_V_INT, .lo = v->port, .hi = v->port };
        sql(c, " AND ");
        leaf(c, pf, QUERY_EQ, &pv);
    }
}

/* Whether the postings can answer (f, op, v): a superset the exact condition then trims. */
static bool postable(const struct field_def *f, enum query_op op, const struct query_value *v)
{
    if (!f->posting || op != QUERY_EQ)
        return false;
    return v->kind == QUERY_V_IP || v->kind == QUERY_V_TEXT ||
           (v->kind == QUERY_V_INT && v->lo == v->hi);
}

/* "?" bound to v as session_match() takes it: an address block as "a/prefix", an integer,
 * else text. */
static void posting_value(struct ctx *c, const struct query_value *v)
{
    if (v->kind == QUERY_V_IP) {
        char a[INET6_ADDRSTRLEN], *t = malloc(INET6_ADDRSTRLEN + 8);
        if (!t) {
            c->oom = true;
            return;
        }
        inet_ntop(v->v4 ? AF_INET : AF_INET6, v->v4 ? v->ip_lo + 12 : v->ip_lo, a, sizeof a);
        snprintf(t, INET6_ADDRSTRLEN + 8, "%s/%d", a, v->prefix);
        p_text(c, t, t);
    } else if (v->kind == QUERY_V_INT) {
        p_int(c, v->lo);
    } else {
        p_text(c, v->text, NULL);
    }
}

static void posting(struct ctx *c, const struct field_def *f, const struct query_value *v)
{
    sql(c, "s.rowid IN (SELECT rid FROM " SQ_MATCH_FN "(");
    p_text(c, f->posting, NULL);
    sql(c, ", ");
    posting_value(c, v);
    sql(c, ", ");
    p_bound(c, c->start_us);
    sql(c, ", ");
    p_bound(c, c->end_us);
    sql(c, ")) AND ");
}

/* ashiato.linked's prefilter, as the postings' for other fields: the rows that have links,
 * found from session_links (small) through the sessions_start index, since every link row
 * carries its session's event.start (store.h, store_put_links); the exact condition after it
 * trims. CROSS JOIN keeps that order (the planner, without statistics, scanned the sessions
 * index instead). On 1M sessions with 2000 linked (load 16): EXISTS! 1.8 s without, 0.04 s
 * with; == an id 4.8 s, 0.01 s. */
static void links_rows(struct ctx *c)
{
    sql(c, "s.rowid IN (SELECT x.rowid FROM session_links AS l CROSS JOIN sessions AS x ON "
        "x.start_us = l.start_us AND x.id = l.id AND x.sensor = l.sensor) AND ");
}

/* Field f (perhaps pseudo), one value, op not NE. `top`: not under a NOT. */
static void one_value(struct ctx *c, const struct field_def *f, enum query_op op,
                      const struct query_value *v, bool top)
{
    bool pseudo = (f->flags & FIELD_PSEUDO) != 0;
    sql(c, "(");
    if (top && postable(f, op, v))
        posting(c, f, v);
    else if (top && op == QUERY_EQ && (f->flags & FIELD_LINKS))
        links_rows(c);
    if (!pseudo) {
        leaf(c, f, op, v);
    } else {
        sql(c, "(");
        const struct field_def *p;
        for (int i = 0; (p = field_catalog_part(f, i)) != NULL; i++) {
            sql(c, i ? " OR " : "");
            /* the parts: their own postings only when the pseudo-field has none */
            one_value(c, p, op, v, top && !postable(f, op, v));
        }
        sql(c, ")");
    }
    sql(c, ")");
}

static void exists(struct ctx *c, const struct field_def *f)
{
    const struct field_def *p;
    if (f->flags & (FIELD_PSEUDO | FIELD_SUM)) {
        sql(c, "(");
        for (int i = 0; (p = field_catalog_part(f, i)) != NULL; i++) {
            sql(c, i ? " OR " : "");
            exists(c, p);
        }
        sql(c, ")");
    } else if (f->sql && f->type == FIELD_IP) {
        sql(c, "(ash_ip(s.%s) IS NOT NULL)", f->sql);
    } else if (f->sql && (f->type == FIELD_INTEGER || f->type == FIELD_TIME ||
                          f->type == FIELD_FLOAT)) {
        sql(c, "(s.%s IS NOT NULL)", f->sql);
    } else if (f->sql) {
        sql(c, "(coalesce(s.%s, '') != '')", f->sql);
    } else {
        sql(c, "EXISTS (SELECT 1 FROM json_each(%s, '$.%s'))", doc_of(f), f->ecs);
    }
}

static void node(struct ctx *c, const struct query_expr *e, bool top);

/* The operands of a chain of one operator (a && b && c is left-deep), in order; false when
 * out of memory. */
static bool chain(const struct query_expr *e, enum query_kind kind,
                  const struct query_expr ***items, size_t *n, size_t *cap)
{
    if (e->kind == kind)
        return chain(e->left, kind, items, n, cap) && chain(e->right, kind, items, n, cap);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        const struct query_expr **it = realloc(*items, nc * sizeof *it);
        if (!it)
            return false;
        *items = it;
        *cap = nc;
    }
    (*items)[(*n)++] = e;
    return true;
}

/* items[lo..hi) joined by AND / OR as a balanced tree: SQLite limits expression depth (1000)
 * and its parser's stack, which a left-deep chain of a few hundred terms exceeds. */
static void balanced(struct ctx *c, const struct query_expr **items, size_t lo, size_t hi,
                     enum query_kind kind, bool top)
{
    if (hi - lo == 1) {
        node(c, items[lo], top);
        return;
    }
    size_t mid = lo + (hi - lo) / 2;
    sql(c, "(");
    balanced(c, items, lo, mid, kind, top);
    sql(c, kind == QUERY_AND ? " AND " : " OR ");
    balanced(c, items, mid, hi, kind, top);
    sql(c, ")");
}

static void node(struct ctx *c, const struct query_expr *e, bool top)
{
    switch (e->kind) {
    case QUERY_AND:
    case QUERY_OR: {
        const struct query_expr **items = NULL;
        size_t n = 0, cap = 0;
        if (!chain(e, e->kind, &items, &n, &cap))
            c->oom = true;
        else
            balanced(c, items, 0, n, e->kind, top);
        free(items);
        break;
    }
    case QUERY_NOT:
        sql(c, "NOT ");
        node(c, e->left, false);
        break;
    case QUERY_EXISTS:
        if (top && e->op == QUERY_EQ && (e->field->flags & FIELD_LINKS)) {
            sql(c, "(");
            links_rows(c);
            exists(c, e->field);
            sql(c, ")");
            break;
        }
        sql(c, e->op == QUERY_NE ? "NOT " : "");
        exists(c, e->field);
        break;
    case QUERY_CMP: {
        bool ne = e->op == QUERY_NE;
        enum query_op op = ne ? QUERY_EQ : e->op;
        sql(c, ne ? "NOT (" : "(");
        for (size_t i = 0; i < e->n; i++) {
            sql(c, i == 0 ? "" : e->all ? " AND " : " OR ");
            one_value(c, e->field, op, &e->v[i], top && !ne && (e->all || e->n == 1));
        }
        sql(c, ")");
        break;
    }
    }
}

/* Whether the comparison e is answered by postings, every value of it (== a, or ]a,b[),
 * fitting in the `room` pairs left. */
static bool postable_cmp(const struct query_expr *e, size_t room)
{
    if (e->kind != QUERY_CMP || e->op != QUERY_EQ || (e->n != 1 && !e->all) || e->n > room)
        return false;
    for (size_t i = 0; i < e->n; i++)
        if (!postable(e->field, QUERY_EQ, &e->v[i]))
            return false;
    return true;
}

/* The whole expression: the postable comparisons of its top-level AND chain (up to
 * SQ_MATCH_TERMS values) become one session_match() call, which intersects them from the
 * smallest (store_sqlite_match.c), followed by the exact condition of every operand; with
 * none, each operand as node() compiles it (an OR's branches with postings of their own). */
static void top_level(struct ctx *c, const struct query_expr *e)
{
    const struct query_expr **items = NULL;
    size_t n = 0, cap = 0, used = 0;
    if (!chain(e, QUERY_AND, &items, &n, &cap)) {
        c->oom = true;
        free(items);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!postable_cmp(items[i], SQ_MATCH_TERMS - used))
            continue;
        for (size_t k = 0; k < items[i]->n; k++, used++) {
            if (used == 0) {
                sql(c, "s.rowid IN (SELECT rid FROM " SQ_MATCH_FN "(");
            } else {
                sql(c, ", ");
            }
            p_text(c, items[i]->field->posting, NULL);
            sql(c, ", ");
            posting_value(c, &items[i]->v[k]);
            if (used == 0) {
                sql(c, ", ");
                p_bound(c, c->start_us);
                sql(c, ", ");
                p_bound(c, c->end_us);
            }
        }
    }
    if (used == 0) {
        node(c, e, true);
    } else {
        sql(c, ")) AND (");
        balanced(c, items, 0, n, QUERY_AND, false);
        sql(c, ")");
    }
    free(items);
}

int query_sql_compile(const struct query_expr *e, int64_t start_us, int64_t end_us,
                      struct query_sql *q)
{
    struct ctx c = { q, start_us, end_us, false };
    q->err[0] = '\0';
    if (!e) {
        snprintf(q->err, sizeof q->err, "query: no expression");
        return -1;
    }
    top_level(&c, e);
    if (c.oom) {
        snprintf(q->err, sizeof q->err, "query: out of memory compiling to SQL");
        return -1;
    }
    return 0;
}

void query_sql_clear(struct query_sql *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nargs; i++)
        free(q->args[i].own);
    free(q->args);
    free(q->text);
    memset(q, 0, sizeof *q);
}

int query_sql_bind(const struct query_sql *q, sqlite3_stmt *stmt, int first)
{
    for (size_t i = 0; i < q->nargs; i++, first++) {
        const struct query_sql_arg *a = &q->args[i];
        if (a->type == SQLITE_INTEGER)
            sqlite3_bind_int64(stmt, first, a->i);
        else if (a->type == SQLITE_FLOAT)
            sqlite3_bind_double(stmt, first, a->d);
        else if (a->type == SQLITE_TEXT)
            sqlite3_bind_text(stmt, first, a->p, a->len, SQLITE_STATIC);
        else if (a->type == SQLITE_BLOB)
            sqlite3_bind_blob(stmt, first, a->p, a->len, SQLITE_STATIC);
        else
            sqlite3_bind_null(stmt, first);
    }
    return first;
}

/* ---- SQL functions ---------------------------------------------------------------------- */

struct doc_cache {
    int64_t rowid;
    bool valid;
    char *doc;
    size_t len;
};

static void doc_cache_free(void *p)
{
    struct doc_cache *d = p;
    if (d)
        free(d->doc);
    free(d);
}

/* ash_doc(rowid, doc, sensor): the document as the store hands it out (store_sqlite_read.c's
 * emit_doc: a packed record rendered with the sensor as observer.name; text as it is). Rows
 * are immutable and rowids never reused, so the last row's document is kept for the next
 * call on the same row (a query with several document fields asks several times a row). */
static void fn_doc(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct doc_cache *d = sqlite3_user_data(ctx);
    (void)argc;
    int64_t rowid = sqlite3_value_int64(argv[0]);
    if (sqlite3_value_type(argv[1]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    if (!d->valid || d->rowid != rowid) {
        const void *data = sqlite3_value_blob(argv[1]);
        size_t len = (size_t)sqlite3_value_bytes(argv[1]);
        Ashiato__SessionRecord *r = ashiato__session_record__unpack(NULL, len, data);
        if (!r) {
            sqlite3_result_null(ctx);
            return;
        }
        size_t n = 0;
        char *doc = record_json_render(r, (const char *)sqlite3_value_text(argv[2]), &n);
        ashiato__session_record__free_unpacked(r, NULL);
        if (!doc) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        free(d->doc);
        d->doc = doc;
        d->len = n;
        d->rowid = rowid;
        d->valid = true;
    }
    sqlite3_result_text(ctx, d->doc, (int)d->len, SQLITE_TRANSIENT);
}

static void fn_ip(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint8_t ip[16] = { 0 };
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    (void)argc;
    if (!t) {
        sqlite3_result_null(ctx);
        return;
    }
    if (inet_pton(AF_INET, t, ip + 12) == 1) {
        ip[10] = ip[11] = 0xff;
    } else if (inet_pton(AF_INET6, t, ip) != 1) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_blob(ctx, ip, 16, SQLITE_TRANSIENT);
}

static void regex_free(void *p)
{
    regfree(p);
    free(p);
}

static void fn_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    regex_t *re = sqlite3_get_auxdata(ctx, 0);
    const char *text = (const char *)sqlite3_value_text(argv[1]);
    if (!re) {
        const char *pat = (const char *)sqlite3_value_text(argv[0]);
        size_t n = pat ? strlen(pat) : 0;
        char *anchored = malloc(n + 5);
        re = malloc(sizeof *re);
        if (!anchored || !re) {
            free(anchored);
            free(re);
            sqlite3_result_error_nomem(ctx);
            return;
        }
        snprintf(anchored, n + 5, "^(%s)$", pat ? pat : "");
        int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0) {
            free(re);
            sqlite3_result_error(ctx, "ash_regexp: not a valid regular expression", -1);
            return;
        }
        sqlite3_set_auxdata(ctx, 0, re, regex_free);
        re = sqlite3_get_auxdata(ctx, 0);       /* NULL if SQLite dropped it on OOM */
        if (!re) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    if (!text) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_int(ctx, regexec(re, text, 0, NULL, 0) == 0);
}

int query_sql_register(sqlite3 *db)
{
    struct doc_cache *d = calloc(1, sizeof *d);
    if (!d)
        return SQLITE_NOMEM;
    int rc = sqlite3_create_function_v2(db, "ash_doc", 3, SQLITE_UTF8, d, fn_doc, NULL, NULL,
                                        doc_cache_free);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "ash_ip", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, fn_ip, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "ash_regexp", 2, SQLITE_UTF8 |
                                        SQLITE_DETERMINISTIC, NULL, fn_regexp, NULL, NULL, NULL);
    return rc;
}
