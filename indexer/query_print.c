/* query_print.c -- a query tree back as text (query_expr_print, see query_parse.h): fully
 * parenthesised, canonical field names, values in the form the parser reads back.
 * Owns:  nothing: it writes into the caller's buffer.
 * Lends: nothing.
 * Never: allocates; writes past len; logs.
 * Trap:  a value must print as the parser reads it: text quoted with its escapes, a wildcard
 *        word with what a list would otherwise read escaped, a regex with its own escapes,
 *        IPv6 never with a dotted tail (::1.2.3.4 would read as address.port). */
#include "query_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct out {
    char *buf;
    size_t len, at;
};

static void put(struct out *o, const char *fmt, ...) ASH_PRINTF(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->at < o->len ? o->buf + o->at : NULL, o->at < o->len ? o->len - o->at : 0,
                      fmt, ap);
    va_end(ap);
    if (n > 0)
        o->at += (size_t)n;
}

static void put_time(struct out *o, int64_t us)
{
    int64_t s = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    time_t t = (time_t)s;
    struct tm tm;
    char b[40];
    gmtime_r(&t, &tm);
    strftime(b, sizeof b, "%Y/%m/%d %H:%M:%S", &tm);
    if (us - s * 1000000)
        put(o, "\"%s.%06lld\"", b, (long long)(us - s * 1000000));
    else
        put(o, "\"%s\"", b);
}

static void put_text(struct out *o, const char *s, char close)
{
    for (; *s; s++) {
        if (close == '/' && *s == '\\' && s[1]) {     /* a regex keeps its escapes */
            put(o, "\\%c", s[1]);
            s++;
            continue;
        }
        if (*s == close || (close != '/' && *s == '\\'))
            put(o, "\\");
        put(o, "%c", *s);
    }
}

/* A wildcard word: as it is outside a list (only word characters); in a list with what the
 * list would read otherwise escaped: separators, brackets, a leading quote or slash, blanks
 * at either end. */
static void put_word(struct out *o, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (strchr(",[]\\", c) || (i == 0 && (c == '"' || c == '/')) ||
            ((i == 0 || i == n - 1) && isspace(c)))
            put(o, "\\");
        put(o, "%c", c);
    }
}

/* A decimal the parser reads back to the same double: the fewest fixed decimals that do (the
 * parser takes no exponent, so never %g). */
static void put_decimal(struct out *o, double d)
{
    char b[96];
    for (int prec = 0; prec <= 40; prec++) {
        snprintf(b, sizeof b, "%.*f", prec, d);
        if (strtod(b, NULL) == d)
            break;
    }
    put(o, "%s", b);
}

static void put_value(struct out *o, const struct query_value *v)
{
    char a[INET6_ADDRSTRLEN];
    switch (v->kind) {
    case QUERY_V_INT:
        if (v->lo == v->hi)
            put(o, "%lld", (long long)v->lo);
        else
            put(o, "%lld-%lld", (long long)v->lo, (long long)v->hi);
        break;
    case QUERY_V_IP:
        inet_ntop(v->v4 ? AF_INET : AF_INET6, v->v4 ? v->ip_lo + 12 : v->ip_lo, a, sizeof a);
        if (!v->v4 && strchr(a, '.'))   /* ::1.2.3.4 would read as a port: all hex groups */
            snprintf(a, sizeof a, "%x:%x:%x:%x:%x:%x:%x:%x", v->ip_lo[0] << 8 | v->ip_lo[1],
                     v->ip_lo[2] << 8 | v->ip_lo[3], v->ip_lo[4] << 8 | v->ip_lo[5],
                     v->ip_lo[6] << 8 | v->ip_lo[7], v->ip_lo[8] << 8 | v->ip_lo[9],
                     v->ip_lo[10] << 8 | v->ip_lo[11], v->ip_lo[12] << 8 | v->ip_lo[13],
                     v->ip_lo[14] << 8 | v->ip_lo[15]);
        put(o, "%s", a);
        if (v->prefix != (v->v4 ? 32 : 128))
            put(o, "/%d", v->prefix);
        if (v->port >= 0)
            put(o, "%c%d", v->v4 ? ':' : '.', v->port);
        break;
    case QUERY_V_TEXT:
        put(o, "\"");
        put_text(o, v->text, '"');
        put(o, "\"");
        break;
    case QUERY_V_WILD:
        put_word(o, v->text);
        break;
    case QUERY_V_REGEX:
        put(o, "/");
        put_text(o, v->text, '/');
        put(o, "/");
        break;
    case QUERY_V_TIME:
        put_time(o, v->lo);
        break;
    case QUERY_V_BOOL:
        put(o, v->lo ? "true" : "false");
        break;
    case QUERY_V_FLOAT:
        put_decimal(o, v->flo);
        if (v->fhi != v->flo) {
            put(o, "-");
            put_decimal(o, v->fhi);
        }
        break;
    }
}

static const char *op_text(enum query_op op)
{
    static const char *const t[] = { "==", "!=", "<", "<=", ">", ">=" };
    return t[op];
}

static void print_node(struct out *o, const struct query_expr *e);

/* a left-leaning chain of one operator prints flat: (a && b && c) */
static void print_chain(struct out *o, const struct query_expr *e, enum query_kind kind)
{
    if (e->kind != kind) {
        print_node(o, e);
        return;
    }
    print_chain(o, e->left, kind);
    put(o, kind == QUERY_AND ? " && " : " || ");
    print_node(o, e->right);
}

static void print_node(struct out *o, const struct query_expr *e)
{
    switch (e->kind) {
    case QUERY_AND:
    case QUERY_OR:
        put(o, "(");
        print_chain(o, e->left, e->kind);
        put(o, e->kind == QUERY_AND ? " && " : " || ");
        print_node(o, e->right);
        put(o, ")");
        break;
    case QUERY_NOT:
        put(o, e->left->kind == QUERY_CMP || e->left->kind == QUERY_EXISTS ? "!(" : "!");
        print_node(o, e->left);
        put(o, e->left->kind == QUERY_CMP || e->left->kind == QUERY_EXISTS ? ")" : "");
        break;
    case QUERY_EXISTS:
        put(o, "%s %s EXISTS!", e->field->name, op_text(e->op));
        break;
    case QUERY_CMP:
        put(o, "%s %s ", e->field->name, op_text(e->op));
        if (e->list)
            put(o, e->all ? "]" : "[");
        for (size_t i = 0; i < e->n; i++) {
            if (i)
                put(o, ",");
            put_value(o, &e->v[i]);
        }
        if (e->list)
            put(o, e->all ? "[" : "]");
        break;
    }
}

int query_expr_print(const struct query_expr *e, char *buf, size_t len)
{
    struct out o = { buf, len, 0 };
    if (!e)
        return -1;
    if (buf && len)
        buf[0] = '\0';
    print_node(&o, e);
    return o.at > INT32_MAX ? INT32_MAX : (int)o.at;
}
