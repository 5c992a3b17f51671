/* query_parse.c -- text to AST for Arkime's expression language (see query_parse.h).
 * Owns:  the lexer, the recursive-descent parser (depth-bounded) over a field table, which
 *        values each field type takes (the value readers themselves are query_value.c:
 *        IPs, CIDR and partial IPs, ip:port, ranges, decimals, times). The printer is
 *        query_print.c.
 * Lends: nothing: every node and value text is the caller's to free with query_expr_free.
 * Never: reads past the text's NUL; recurses deeper than QUERY_DEPTH_MAX; logs.
 * Trap:  error positions are byte offsets into the text as given, which the HTTP API hands
 *        back; keep every error on the token that caused it. */
#include "query_parse.h"
#include "query_value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum tok {
    T_END, T_WORD, T_QUOTED, T_REGEX, T_LIST_ANY, T_LIST_ALL, T_EXISTS,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_NOT, T_LP, T_RP, T_BAD
};

struct lexer {
    const char *s;
    size_t len, at;
    enum tok t;                      /* the current token */
    size_t tpos, tlen;               /* its span */
    int depth, terms;
    int64_t now_us;
    const struct field_table *table;
    struct query_error *err;
};

static void fail(struct lexer *lx, size_t pos, const char *fmt, ...) ASH_PRINTF(3, 4);

static void fail(struct lexer *lx, size_t pos, const char *fmt, ...)
{
    va_list ap;
    if (lx->err->msg[0])
        return;                      /* the first error wins */
    lx->err->pos = (int)pos;
    va_start(ap, fmt);
    vsnprintf(lx->err->msg, sizeof lx->err->msg, fmt, ap);
    va_end(ap);
}

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '+' || c == '_' || c == '.' || c == '@' || c == ':' ||
           c == '*' || c == '?' || c == '/' || c >= 0x80;
}

/* Skip a delimited run from lx->at (at the opening char) to its closing char, honouring
 * backslash escapes; false if it never closes. */
static bool skip_delimited(struct lexer *lx, char close)
{
    size_t i = lx->at + 1;
    while (i < lx->len && lx->s[i] != close) {
        if (lx->s[i] == '\\' && i + 1 < lx->len)
            i++;
        i++;
    }
    if (i >= lx->len)
        return false;
    lx->at = i + 1;
    return true;
}

/* Skip a list from lx->at (at '[' or ']') to its closing char (']' or '['): quoted and /regex/
 * items are skipped whole, so "a]b" and /[a-z]+/ may sit in a list; false if it never closes. */
static bool skip_list(struct lexer *lx, char close)
{
    size_t i = lx->at + 1;
    bool item_start = true;
    while (i < lx->len && lx->s[i] != close) {
        char c = lx->s[i];
        if (item_start && (c == '"' || c == '/')) {
            for (i++; i < lx->len && lx->s[i] != c; i++)
                if (lx->s[i] == '\\' && i + 1 < lx->len)
                    i++;
            if (i >= lx->len)
                return false;
            item_start = false;
        } else if (c == '\\' && i + 1 < lx->len) {
            i++;
            item_start = false;
        } else if (c == ',') {
            item_start = true;
        } else if (!isspace((unsigned char)c)) {
            item_start = false;
        }
        i++;
    }
    if (i >= lx->len)
        return false;
    lx->at = i + 1;
    return true;
}

/* Read the next token. `value` says a value may come (lists and regexes start here). */
static void next(struct lexer *lx, bool value)
{
    const char *s = lx->s;
    while (lx->at < lx->len && isspace((unsigned char)s[lx->at]))
        lx->at++;
    lx->tpos = lx->at;
    if (lx->at >= lx->len) {
        lx->t = T_END;
        lx->tlen = 0;
        return;
    }
    char c = s[lx->at], d = lx->at + 1 < lx->len ? s[lx->at + 1] : '\0';
    static const struct { const char *text; enum tok t; } ops[] = {
        { "EXISTS!", T_EXISTS }, { "<=", T_LE }, { ">=", T_GE }, { "!=", T_NE },
        { "==", T_EQ }, { "&&", T_AND }, { "||", T_OR }, { "<", T_LT }, { ">", T_GT },
        { "=", T_EQ }, { "&", T_AND }, { "|", T_OR }, { "!", T_NOT }, { "(", T_LP },
        { ")", T_RP },
    };
    if (value && c == '"') {
        lx->t = skip_delimited(lx, '"') ? T_QUOTED : T_BAD;
    } else if (value && c == '/' && d != '\0') {
        lx->t = skip_delimited(lx, '/') ? T_REGEX : T_BAD;
    } else if (value && c == '[') {
        lx->t = skip_list(lx, ']') ? T_LIST_ANY : T_BAD;
    } else if (value && c == ']') {
        lx->t = skip_list(lx, '[') ? T_LIST_ALL : T_BAD;
    } else {
        lx->t = T_BAD;
        for (size_t i = 0; i < ASH_ARRAY_LEN(ops); i++) {
            size_t n = strlen(ops[i].text);
            if (lx->len - lx->at >= n && memcmp(s + lx->at, ops[i].text, n) == 0) {
                lx->t = ops[i].t;
                lx->at += n;
                break;
            }
        }
        if (lx->t == T_BAD && word_char((unsigned char)c)) {
            while (lx->at < lx->len && word_char((unsigned char)s[lx->at]))
                lx->at++;
            lx->t = T_WORD;
        } else if (lx->t == T_BAD) {
            lx->at++;
        }
    }
    if (lx->t == T_BAD && lx->at == lx->tpos)
        lx->at = lx->len;
    lx->tlen = lx->at - lx->tpos;
}

/* How the current token reads in a message: 'text' or "end of expression". */
static const char *found(const struct lexer *lx, char *buf, size_t sz)
{
    if (lx->t == T_END)
        return "end of expression";
    size_t n = lx->tlen > 40 ? 40 : lx->tlen;
    snprintf(buf, sz, "'%.*s%s'", (int)n, lx->s + lx->tpos, lx->tlen > 40 ? "..." : "");
    return buf;
}

/* ---- values -------------------------------------------------------------------------- */

/* Unescape s[0..n) into a new string: a backslash takes the next char as it is (in a regex
 * only before '/': "\\." stays the regex's escaped dot). */
static char *unescape(const char *s, size_t n, bool regex)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (!regex || s[i + 1] == '/'))
            i++;
        else if (s[i] == '\\' && i + 1 < n)
            *o++ = s[i++];
        *o++ = s[i];
    }
    *o = '\0';
    return out;
}

/* Whether an ip:port value applies to f: an ip field with a port field, or a pseudo-field
 * with such a part. */
static bool has_port(const struct field_def *f)
{
    const struct field_def *p;
    if (field_catalog_port(f))
        return true;
    for (int i = 0; (p = field_catalog_part(f, i)) != NULL; i++)
        if (field_catalog_port(p))
            return true;
    return false;
}

/* One value of field f from raw text s[0..n) (kind: the token it came from). */
static bool make_value(struct lexer *lx, const struct field_def *f, enum query_op op,
                       enum tok kind, const char *s, size_t n, size_t pos, struct query_value *v)
{
    memset(v, 0, sizeof *v);
    v->port = -1;
    if (kind == T_QUOTED) {
        s++;
        n -= 2;
        pos++;
    }
    bool regex = kind == T_REGEX;
    char *text = regex ? unescape(s + 1, n - 2, true) : unescape(s, n, false);
    if (!text) {
        fail(lx, pos, "out of memory");
        return false;
    }
    const char *why = NULL;
    bool wild = kind == T_WORD && strpbrk(text, "*?") != NULL;
    bool ordered = op != QUERY_EQ && op != QUERY_NE;
    if (kind == T_WORD && strcmp(text, "*") == 0) {
        why = "'*' alone: use EXISTS! to test that a field is present";
    } else if ((regex || wild) && f->type != FIELD_KEYWORD) {
        why = regex ? "a /regex/ only applies to text fields" :
                      "wildcards only apply to text fields";
    } else if (ordered && (f->type == FIELD_KEYWORD || f->type == FIELD_IP ||
                           f->type == FIELD_BOOLEAN || (f->flags & FIELD_NORANGE))) {
        why = "< <= > >= apply to numbers and times only";
    } else if (regex) {
        v->kind = QUERY_V_REGEX;
        v->text = text;
        text = NULL;
    } else if (wild) {
        v->kind = QUERY_V_WILD;
        v->text = text;
        text = NULL;
    } else if (f->type == FIELD_KEYWORD) {
        v->kind = QUERY_V_TEXT;
        v->text = (f->flags & FIELD_IPPROTO) ? query_value_ipproto(text) : text;
        if (f->flags & FIELD_IPPROTO)
            free(text);
        text = NULL;
        if (!v->text)
            why = "out of memory";
    } else if (f->type == FIELD_IP) {
        if (!query_value_ip(text, strlen(text), v, &why))
            ;
        else if (v->port >= 0 && !has_port(f))
            why = "ip:port needs a field with a port (this one has none)";
        else
            why = NULL;
    } else if (f->type == FIELD_INTEGER) {
        char *dash = ordered ? NULL : strchr(text, '-');
        v->kind = QUERY_V_INT;
        if (dash && dash != text && (f->flags & FIELD_NORANGE)) {
            why = "ranges do not apply to this field";
        } else if (dash && dash != text) {
            if (!query_value_u64(text, (size_t)(dash - text), INT64_MAX / 2, &v->lo) ||
                !query_value_u64(dash + 1, strlen(dash + 1), INT64_MAX / 2, &v->hi) || v->hi < v->lo)
                why = "expected an integer range low-high (80-90)";
        } else if (!query_value_u64(text, strlen(text), INT64_MAX / 2, &v->lo)) {
            why = ordered ? "expected an integer" : "expected an integer or a range (80-90)";
        } else {
            v->hi = v->lo;
        }
    } else if (f->type == FIELD_FLOAT) {
        char *dash = ordered ? NULL : strchr(text, '-');
        v->kind = QUERY_V_FLOAT;
        if (dash && dash != text) {
            if (!query_value_decimal(text, (size_t)(dash - text), &v->flo) ||
                !query_value_decimal(dash + 1, strlen(dash + 1), &v->fhi) || v->fhi < v->flo)
                why = "expected a decimal range low-high (0.5-2)";
        } else if (!query_value_decimal(text, strlen(text), &v->flo)) {
            why = ordered ? "expected a decimal number (1.5)" :
                            "expected a decimal number (1.5) or a range (0.5-2)";
        } else {
            v->fhi = v->flo;
        }
    } else if (f->type == FIELD_TIME) {
        v->kind = QUERY_V_TIME;
        if (!query_value_time(text, lx->now_us, &v->lo))
            why = "expected a time: \"2021/09/28 13:00:00\", 2021-09-28T13:00:00Z, epoch "
                  "seconds or -1h (s m h d w)";
        v->hi = v->lo + (v->lo % 1000000 ? 0 : 999999);   /* == a whole second */
    } else {
        v->kind = QUERY_V_BOOL;
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            v->lo = 1;
        else if (strcmp(text, "false") != 0 && strcmp(text, "0") != 0)
            why = "expected true or false";
    }
    free(text);
    if (why) {
        fail(lx, pos, "%s: %s, found '%.*s'", f->name, why, (int)(n > 60 ? 60 : n), s);
        return false;
    }
    return true;
}

/* Split a list token ([a,b] or ]a,b[) into values. */
static bool list_values(struct lexer *lx, struct query_expr *e, enum query_op op)
{
    const char *s = lx->s + lx->tpos + 1, *end = lx->s + lx->tpos + lx->tlen - 1;
    if (op != QUERY_EQ && op != QUERY_NE) {
        fail(lx, lx->tpos, "%s: a list only goes with == or !=", e->field->name);
        return false;
    }
    const char *blank = s;
    while (blank < end && isspace((unsigned char)*blank))
        blank++;
    if (blank == end) {
        fail(lx, lx->tpos, "%s: empty list", e->field->name);
        return false;
    }
    while (s <= end) {
        while (s < end && isspace((unsigned char)*s))
            s++;
        const char *p = s;
        enum tok kind = T_WORD;
        if (*p == '"' || (*p == '/' && p + 1 < end)) {
            char close = *p;
            kind = close == '"' ? T_QUOTED : T_REGEX;
            for (p++; p < end && *p != close; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
            if (p >= end) {
                fail(lx, (size_t)(s - lx->s), "%s: unclosed %s in the list", e->field->name,
                     close == '"' ? "quote" : "regex");
                return false;
            }
            p++;
        } else {
            for (; p < end && *p != ','; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
        }
        const char *ve = p;
        while (ve > s && kind == T_WORD && isspace((unsigned char)ve[-1]))
            ve--;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p < end && *p != ',') {
            fail(lx, (size_t)(p - lx->s), "%s: expected ',' or the end of the list",
                 e->field->name);
            return false;
        }
        if (ve == s) {
            fail(lx, (size_t)(s - lx->s), "%s: empty value in the list", e->field->name);
            return false;
        }
        if (e->n == QUERY_LIST_MAX) {
            fail(lx, (size_t)(s - lx->s), "%s: more than %d values in a list", e->field->name,
                 QUERY_LIST_MAX);
            return false;
        }
        if (e->n % 16 == 0) {
            struct query_value *nv = realloc(e->v, (e->n + 16) * sizeof *nv);
            if (!nv) {
                fail(lx, lx->tpos, "out of memory");
                return false;
            }
            e->v = nv;
        }
        if (!make_value(lx, e->field, op, kind, s, (size_t)(ve - s), (size_t)(s - lx->s),
                        &e->v[e->n]))
            return false;
        e->n++;
        s = p + 1;
    }
    if (e->n == 0) {
        fail(lx, lx->tpos, "%s: empty list", e->field->name);
        return false;
    }
    return true;
}

/* ---- the grammar ---------------------------------------------------------------------- */

static struct query_expr *node(struct lexer *lx, enum query_kind k, size_t pos)
{
    struct query_expr *e = calloc(1, sizeof *e);
    if (!e)
        fail(lx, pos, "out of memory");
    else {
        e->kind = k;
        e->pos = (int)pos;
    }
    return e;
}

static struct query_expr *parse_or(struct lexer *lx);

static struct query_expr *parse_cmp(struct lexer *lx)
{
    char buf[64];
    if (lx->t != T_WORD) {
        fail(lx, lx->tpos, "expected a field name, '(' or '!', found %s",
             found(lx, buf, sizeof buf));
        return NULL;
    }
    size_t fpos = lx->tpos, flen = lx->tlen;
    if (++lx->terms > QUERY_TERMS_MAX) {
        fail(lx, fpos, "more than %d comparisons in one expression", QUERY_TERMS_MAX);
        return NULL;
    }
    const struct field_def *f = field_catalog_find_in(lx->table, lx->s + fpos, flen);
    if (!f) {
        const char *near[3];
        size_t k = field_catalog_nearest_in(lx->table, lx->s + fpos, flen, near, 3);
        fail(lx, fpos, "unknown field '%.*s' (nearest: %s%s%s%s%s)", (int)(flen > 60 ? 60 : flen),
             lx->s + fpos, k > 0 ? near[0] : "", k > 1 ? ", " : "", k > 1 ? near[1] : "",
             k > 2 ? ", " : "", k > 2 ? near[2] : "");
        return NULL;
    }
    next(lx, false);
    static const enum query_op ops[] = {
        [T_EQ] = QUERY_EQ, [T_NE] = QUERY_NE, [T_LT] = QUERY_LT, [T_LE] = QUERY_LE,
        [T_GT] = QUERY_GT, [T_GE] = QUERY_GE,
    };
    if (lx->t < T_EQ || lx->t > T_GE) {
        fail(lx, lx->tpos, "expected an operator (== != < <= > >=) after '%s', found %s",
             f->name, found(lx, buf, sizeof buf));
        return NULL;
    }
    enum query_op op = ops[lx->t];
    size_t oppos = lx->tpos;
    next(lx, true);
    struct query_expr *e = node(lx, QUERY_CMP, fpos);
    if (!e)
        return NULL;
    e->field = f;
    e->op = op;
    if (lx->t == T_EXISTS) {
        if (op != QUERY_EQ && op != QUERY_NE) {
            fail(lx, oppos, "EXISTS! goes with == or != only");
            query_expr_free(e);
            return NULL;
        }
        e->kind = QUERY_EXISTS;
    } else if (lx->t == T_LIST_ANY || lx->t == T_LIST_ALL) {
        e->list = true;
        e->all = lx->t == T_LIST_ALL;
        if (!list_values(lx, e, op)) {
            query_expr_free(e);
            return NULL;
        }
    } else if (lx->t == T_WORD || lx->t == T_QUOTED || lx->t == T_REGEX) {
        e->v = malloc(sizeof *e->v);
        if (!e->v || !make_value(lx, f, op, lx->t, lx->s + lx->tpos, lx->tlen, lx->tpos,
                                 e->v)) {
            fail(lx, lx->tpos, "out of memory");
            query_expr_free(e);
            return NULL;
        }
        e->n = 1;
    } else {
        const char *what = lx->t == T_BAD && lx->s[lx->tpos] == '"' ? "unclosed quote" :
                           lx->t == T_BAD && lx->s[lx->tpos] == '/' ? "unclosed regex" :
                           lx->t == T_BAD && (lx->s[lx->tpos] == '[' || lx->s[lx->tpos] == ']')
                           ? "unclosed list" : NULL;
        if (what)
            fail(lx, lx->tpos, "%s: %s", f->name, what);
        else
            fail(lx, lx->tpos, "expected a value after '%s %.*s', found %s", f->name,
                 (int)(lx->tpos - oppos), lx->s + oppos, found(lx, buf, sizeof buf));
        query_expr_free(e);
        return NULL;
    }
    next(lx, false);
    return e;
}

static struct query_expr *parse_unary(struct lexer *lx)
{
    char buf[64];
    if (lx->t != T_NOT && lx->t != T_LP)
        return parse_cmp(lx);
    if (++lx->depth > QUERY_DEPTH_MAX) {
        fail(lx, lx->tpos, "expression nested deeper than %d", QUERY_DEPTH_MAX);
        return NULL;
    }
    size_t pos = lx->tpos;
    struct query_expr *e;
    if (lx->t == T_NOT) {
        next(lx, false);
        struct query_expr *in = parse_unary(lx);
        if (!in)
            return NULL;
        if (!(e = node(lx, QUERY_NOT, pos))) {
            query_expr_free(in);
            return NULL;
        }
        e->left = in;
    } else {
        next(lx, false);
        if (!(e = parse_or(lx)))
            return NULL;
        if (lx->t != T_RP) {
            fail(lx, lx->tpos, "expected ')' to close the '(' at %zu, found %s", pos,
                 found(lx, buf, sizeof buf));
            query_expr_free(e);
            return NULL;
        }
        next(lx, false);
    }
    lx->depth--;
    return e;
}

static struct query_expr *parse_binary(struct lexer *lx, enum tok op, enum query_kind kind)
{
    struct query_expr *l = op == T_OR ? parse_binary(lx, T_AND, QUERY_AND) : parse_unary(lx);
    while (l && lx->t == op) {
        size_t pos = lx->tpos;
        next(lx, false);
        struct query_expr *r = op == T_OR ? parse_binary(lx, T_AND, QUERY_AND) : parse_unary(lx);
        struct query_expr *e = r ? node(lx, kind, pos) : NULL;
        if (!e) {
            query_expr_free(l);
            query_expr_free(r);
            return NULL;
        }
        e->pos = l->pos;
        e->left = l;
        e->right = r;
        l = e;
    }
    return l;
}

static struct query_expr *parse_or(struct lexer *lx) { return parse_binary(lx, T_OR, QUERY_OR); }

struct query_expr *query_parse_at(const char *text, int64_t now_us, struct query_error *err)
{
    return query_parse_in(&field_catalog_sessions, text, now_us, err);
}

struct query_expr *query_parse_in(const struct field_table *t, const char *text, int64_t now_us,
                                  struct query_error *err)
{
    char buf[64];
    struct query_error scratch;
    if (!err)
        err = &scratch;
    err->pos = -1;
    err->msg[0] = '\0';
    struct lexer lx = { .s = text ? text : "", .now_us = now_us, .table = t, .err = err };
    lx.len = strnlen(lx.s, QUERY_TEXT_MAX + 1);
    if (lx.len > QUERY_TEXT_MAX) {
        fail(&lx, QUERY_TEXT_MAX, "expression longer than %d bytes", QUERY_TEXT_MAX);
        return NULL;
    }
    next(&lx, false);
    if (lx.t == T_END) {
        fail(&lx, 0, "empty expression: expected a field name, '(' or '!'");
        return NULL;
    }
    struct query_expr *e = parse_or(&lx);
    if (e && lx.t != T_END) {
        fail(&lx, lx.tpos, "expected '&&', '||' or the end, found %s", found(&lx, buf, sizeof buf));
        query_expr_free(e);
        return NULL;
    }
    if (!e && !err->msg[0])
        fail(&lx, lx.tpos, "not an expression");
    return e;
}

struct query_expr *query_parse(const char *text, struct query_error *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return query_parse_at(text, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, err);
}

void query_expr_free(struct query_expr *e)
{
    /* iterative along the left spine: a long && chain is deep on the left */
    while (e) {
        struct query_expr *l = e->left;
        query_expr_free(e->right);
        for (size_t i = 0; i < e->n; i++)
            free(e->v[i].text);
        free(e->v);
        free(e);
        e = l;
    }
}

bool query_expr_in(const struct query_expr *e, const struct field_table *t)
{
    for (; e; e = e->left) {                 /* iterative on the left, as query_expr_free */
        if (e->field && field_catalog_table_of(e->field) != t)
            return false;
        if (e->right && !query_expr_in(e->right, t))
            return false;
    }
    return true;
}
