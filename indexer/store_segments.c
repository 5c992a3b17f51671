/* store_segments.c -- `ashiato.segments` (FIELD_SEGMAP) in a session expression, rewritten
 * into address conditions by the segment map in force (common/segmap.h) before a backend
 * compiles the tree, so SQLite (through the IP postings) and Elasticsearch answer alike and
 * both by the current map, whatever map a document was indexed with.
 * Owns:  the rewritten tree (a deep copy of the caller's; store.c frees it).
 * Never: changes the caller's tree; keeps the map past the call; logs.
 * Trap:  an address belongs to its longest prefix (segmap.h): segment S on one side is
 *        OR over S's prefixes p of "in p and in no prefix that takes from p" (longer inside
 *        it, or the same block listed first), "outside" is "has an address and in no prefix".
 *        The field holds the source's and the destination's segment, so `== S` is S on
 *        either side, `]a,b[` each of a, b on some side, and `!=` none of them. With no map
 *        the field is absent: `==` matches nothing, `!=` everything. */
#include "store_segments.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_catalog.h"
#include "segmap.h"

struct ctx {
    const struct segmap *m;          /* NULL: no segments */
    const struct field_def *src, *dst;
    bool oom;
    char *err;                       /* ASH_ERR_LEN */
    bool bad;
};

static struct query_expr *node_new(struct ctx *c, enum query_kind kind, struct query_expr *l,
                                   struct query_expr *r)
{
    struct query_expr *e = calloc(1, sizeof *e);
    if (!e) {
        c->oom = true;
        query_expr_free(l);
        query_expr_free(r);
        return NULL;
    }
    e->kind = kind;
    e->pos = -1;
    e->left = l;
    e->right = r;
    return e;
}

/* a && b, a || b; NULL operands (out of memory) make NULL */
static struct query_expr *join(struct ctx *c, enum query_kind kind, struct query_expr *a,
                               struct query_expr *b)
{
    if (!a || !b) {
        query_expr_free(a);
        query_expr_free(b);
        c->oom = true;
        return NULL;
    }
    return node_new(c, kind, a, b);
}

static struct query_expr *not(struct ctx *c, struct query_expr *a)
{
    if (!a) {
        c->oom = true;
        return NULL;
    }
    return node_new(c, QUERY_NOT, a, NULL);
}

static struct query_expr *exists(struct ctx *c, const struct field_def *f)
{
    struct query_expr *e = node_new(c, QUERY_EXISTS, NULL, NULL);
    if (e) {
        e->field = f;
        e->op = QUERY_EQ;
    }
    return e;
}

/* false: ip.src present and not present */
static struct query_expr *never(struct ctx *c)
{
    return join(c, QUERY_AND, exists(c, c->src), not(c, exists(c, c->src)));
}

static void ip_value(struct query_value *v, const struct segmap_prefix *p)
{
    memset(v, 0, sizeof *v);
    v->kind = QUERY_V_IP;
    v->port = -1;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    v->v4 = p->bits >= 96 && memcmp(p->addr, mapped, 12) == 0;
    v->prefix = v->v4 ? p->bits - 96 : p->bits;
    for (int i = 0; i < 16; i++) {
        int keep = p->bits - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        v->ip_lo[i] = p->addr[i] & mask;
        v->ip_hi[i] = v->ip_lo[i] | (uint8_t)~mask;
    }
}

/* f == [prefixes of `want`] (want[i] true), or NULL (none, or out of memory: c->oom) */
static struct query_expr *in_prefixes(struct ctx *c, const struct field_def *f, const bool *want)
{
    size_t n = 0;
    for (size_t i = 0; i < c->m->n_prefixes; i++)
        n += want[i];
    if (!n)
        return NULL;
    struct query_expr *e = node_new(c, QUERY_CMP, NULL, NULL);
    if (!e)
        return NULL;
    if (!(e->v = calloc(n, sizeof *e->v))) {
        free(e);
        c->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < c->m->n_prefixes; i++)
        if (want[i])
            ip_value(&e->v[e->n++], &c->m->prefixes[i]);
    e->field = f;
    e->op = QUERY_EQ;
    e->list = n > 1;
    return e;
}

/* Segment seg (or SEGMAP_OUTSIDE) on the side of ip field f. */
static struct query_expr *side(struct ctx *c, const struct field_def *f, int seg)
{
    size_t np = c->m->n_prefixes;
    bool *want = calloc(np + 1, sizeof *want), *takers = calloc(np + 1, sizeof *takers);
    struct query_expr *out = NULL;
    if (!want || !takers) {
        c->oom = true;
        goto done;
    }
    if (seg == SEGMAP_OUTSIDE) {                 /* an address, in no prefix */
        for (size_t i = 0; i < np; i++)
            want[i] = true;
        struct query_expr *any = in_prefixes(c, f, want);
        out = any ? join(c, QUERY_AND, exists(c, f), not(c, any)) : exists(c, f);
        goto done;
    }
    /* the prefixes nothing takes from, in one list; each other one with its takers */
    for (size_t i = 0; i < np; i++) {
        if (c->m->prefixes[i].segment != seg)
            continue;
        bool taken = false;
        for (size_t j = 0; j < np && !taken; j++)
            taken = segmap_takes(c->m, i, j);
        want[i] = !taken;
    }
    out = in_prefixes(c, f, want);
    for (size_t i = 0; i < np && !c->oom; i++) {
        if (c->m->prefixes[i].segment != seg || want[i])
            continue;
        memset(takers, 0, np * sizeof *takers);
        for (size_t j = 0; j < np; j++)
            takers[j] = segmap_takes(c->m, i, j);
        bool self[SEGMAP_MAX_PREFIXES] = { false };
        self[i] = true;
        struct query_expr *term = join(c, QUERY_AND, in_prefixes(c, f, self),
                                       not(c, in_prefixes(c, f, takers)));
        out = out ? join(c, QUERY_OR, out, term) : term;
    }
    if (!out && !c->oom)
        out = never(c);
done:
    free(want);
    free(takers);
    return out;
}

/* '*' any run, '?' any one character */
static bool glob(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            for (const char *t = s;; t++) {
                if (glob(p + 1, t))
                    return true;
                if (!*t)
                    return false;
            }
        }
        if (!*s || (*p != '?' && *p != *s))
            return false;
    }
    return !*s;
}

/* Whether a value of the expression names `name`; c->bad on a bad regex. */
static bool value_names(struct ctx *c, const struct query_value *v, const char *name)
{
    if (v->kind == QUERY_V_TEXT)
        return !strcmp(v->text, name);
    if (v->kind == QUERY_V_WILD)
        return glob(v->text, name);
    if (v->kind != QUERY_V_REGEX)
        return false;
    size_t n = strlen(v->text);
    char *anchored = malloc(n + 5);
    regex_t re;
    if (!anchored) {
        c->oom = true;
        return false;
    }
    snprintf(anchored, n + 5, "^(%s)$", v->text);          /* as SQLite's ash_regexp */
    int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        snprintf(c->err, ASH_ERR_LEN, "ashiato.segments: /%.100s/ is not a valid regular "
                 "expression", v->text);
        c->bad = true;
        return false;
    }
    bool hit = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
}

/* The sessions one value selects: its segments on either side. */
static struct query_expr *one_value(struct ctx *c, const struct query_value *v)
{
    struct query_expr *out = NULL;
    if (!c->m)
        return never(c);
    for (int s = -1; s < (int)c->m->n_names && !c->oom && !c->bad; s++) {
        if (!value_names(c, v, s < 0 ? SEGMAP_OUTSIDE_NAME : c->m->names[s]))
            continue;
        struct query_expr *t = join(c, QUERY_OR, side(c, c->src, s), side(c, c->dst, s));
        out = out ? join(c, QUERY_OR, out, t) : t;
    }
    return out || c->oom || c->bad ? out : never(c);
}

static struct query_expr *segments(struct ctx *c, const struct query_expr *e)
{
    struct query_expr *out = NULL;
    if (e->kind == QUERY_EXISTS) {
        out = c->m ? join(c, QUERY_OR, exists(c, c->src), exists(c, c->dst)) : never(c);
    } else {
        for (size_t i = 0; i < e->n && !c->oom && !c->bad; i++) {
            struct query_expr *t = one_value(c, &e->v[i]);
            out = out ? join(c, e->all ? QUERY_AND : QUERY_OR, out, t) : t;
        }
    }
    if (c->bad) {
        query_expr_free(out);
        return NULL;
    }
    return e->op == QUERY_NE ? not(c, out) : out;
}

static struct query_expr *copy(struct ctx *c, const struct query_expr *e)
{
    if (!e || c->oom || c->bad)
        return NULL;
    if (e->field && (e->field->flags & FIELD_SEGMAP))
        return segments(c, e);
    struct query_expr *o = node_new(c, e->kind, NULL, NULL);
    if (!o)
        return NULL;
    *o = *e;
    o->left = o->right = NULL;
    o->v = NULL;
    o->n = 0;
    if (e->n) {
        if (!(o->v = calloc(e->n, sizeof *o->v))) {
            c->oom = true;
            free(o);
            return NULL;
        }
        for (size_t i = 0; i < e->n; i++, o->n++) {
            o->v[i] = e->v[i];
            if (e->v[i].text && !(o->v[i].text = strdup(e->v[i].text))) {
                c->oom = true;
                break;
            }
        }
    }
    if (e->left)
        o->left = copy(c, e->left);
    if (e->right)
        o->right = copy(c, e->right);
    if (c->oom || c->bad) {
        query_expr_free(o);
        return NULL;
    }
    return o;
}

struct query_expr *store_segments_condition(const struct segmap *m, bool source, int seg)
{
    char err[ASH_ERR_LEN];
    struct ctx c = { .m = m, .err = err,
                     .src = field_catalog_find("ip.src", (size_t)-1),
                     .dst = field_catalog_find("ip.dst", (size_t)-1) };
    if (!m || !c.src || !c.dst || seg < SEGMAP_OUTSIDE || seg >= (int)m->n_names)
        return NULL;
    struct query_expr *e = side(&c, source ? c.src : c.dst, seg);
    if (c.oom) {
        query_expr_free(e);
        return NULL;
    }
    return e;
}

static bool uses_segments(const struct query_expr *e)
{
    for (; e; e = e->left) {
        if (e->field && (e->field->flags & FIELD_SEGMAP))
            return true;
        if (e->right && uses_segments(e->right))
            return true;
    }
    return false;
}

int store_segments_expand(const struct query_expr *e, const struct segmap *m,
                          struct query_expr **out, char err[ASH_ERR_LEN])
{
    *out = NULL;
    if (!uses_segments(e))
        return 0;
    struct ctx c = { .m = m, .err = err,
                     .src = field_catalog_find("ip.src", (size_t)-1),
                     .dst = field_catalog_find("ip.dst", (size_t)-1) };
    if (!c.src || !c.dst) {
        snprintf(err, ASH_ERR_LEN, "ashiato.segments: the catalogue has no ip.src / ip.dst");
        return -1;
    }
    *out = copy(&c, e);
    if (c.oom || c.bad || !*out) {
        query_expr_free(*out);
        *out = NULL;
        if (!c.bad)
            snprintf(err, ASH_ERR_LEN, "ashiato.segments: out of memory expanding the map");
        return -1;
    }
    return 1;
}
