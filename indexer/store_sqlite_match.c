/* store_sqlite_match.c -- session_match(), the table-valued function that reads the SQLite
 * store's postings back (store_sqlite.h has its SQL contract): the rowids of the sessions
 * holding one or several (field, value) pairs in a range of event.start hours.
 * Owns:  its prepared statements (per connection, finalized on disconnect) and each cursor's
 *        rowid array.
 * Lends: nothing: rows are copied out of SQLite before they are returned.
 * Never: writes; logs; answers fewer rows than hold every pair (callers trim a superset).
 * Trap:  several pairs are intersected from the one with the fewest postings, and a pair
 *        whose postings are much larger than what is left is not decoded at all (its rows
 *        are trimmed by the caller's condition): `ip.src == 198.18.2.0/24 && port.dst ==
 *        3389` decoded the whole /24 (millions of rowids) before this, 3.8 s on 10M sessions
 *        (bench/RESULTS.md, api_queries 2026-12-07T07:21Z). */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VT_INT = SQ_VT_INT, VT_TEXT = SQ_VT_TEXT, VT_BLOB = SQ_VT_BLOB };
/* columns: rid, then field, value, start_us, end_us, then (field, value) pairs 2.. */
enum { COL_RID, COL_FIELD, COL_VALUE, COL_START, COL_END, COL_MORE };
#define NCOLS (COL_MORE + 2 * (SQ_MATCH_TERMS - 1))
/* a pair is decoded and intersected only while its postings are at most this many times the
 * rows left (and at least SKIP_MIN rows): beyond that, reading the rows is cheaper */
#define SKIP_FACTOR 16
#define SKIP_MIN 4096

struct mtab {
    sqlite3_vtab base;
    sqlite3 *db;
    sqlite3_stmt *get;               /* the postings of one field, value and range of hours */
    sqlite3_stmt *range;             /* the same for a range of values (a CIDR block) */
    sqlite3_stmt *size_get, *size_range;   /* their sizes: rows + varint bytes / 2 */
};

struct mcur {
    sqlite3_vtab_cursor base;
    int64_t *rid;
    size_t n, i, cap;
};

/* A value as session_postings stores it. */
struct mval {
    int type;                        /* VT_INT, VT_TEXT or VT_BLOB */
    int64_t i;
    const void *p;
    int len;
};

/* One (field, value) pair as session_postings holds it: up to three field codes (a
 * pseudo-field stands for its parts), the value or the block [v, top]. */
struct term {
    int codes[3];
    struct mval v, top;
    bool block, none;                /* none: the value cannot be the field's: no rows */
    uint8_t ip[16], ip_hi[16];
    int64_t size;                    /* estimate of its rowids */
};

static int m_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    char decl[512] = "CREATE TABLE x(rid INTEGER, field HIDDEN, value HIDDEN, start_us HIDDEN,"
                     " end_us HIDDEN";
    (void)aux, (void)argc, (void)argv, (void)err;
    for (int i = 2; i <= SQ_MATCH_TERMS; i++)
        snprintf(decl + strlen(decl), sizeof decl - strlen(decl),
                 ", field%d HIDDEN, value%d HIDDEN", i, i);
    strcat(decl, ")");
    int rc = sqlite3_declare_vtab(db, decl);
    if (rc != SQLITE_OK)
        return rc;
    struct mtab *t = sqlite3_malloc(sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->db = db;
    *out = &t->base;
    return SQLITE_OK;
}

static int m_disconnect(sqlite3_vtab *v)
{
    struct mtab *t = (struct mtab *)v;
    sqlite3_finalize(t->get);
    sqlite3_finalize(t->range);
    sqlite3_finalize(t->size_get);
    sqlite3_finalize(t->size_range);
    sqlite3_free(t);
    return SQLITE_OK;
}

/* field and value are required (equality: the function's arguments), the rest optional;
 * idxNum bit (col - COL_FIELD) set for each hidden column given, in column order in argv. */
static int m_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    int at[NCOLS];
    (void)v;
    for (int i = 0; i < NCOLS; i++)
        at[i] = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn >= COL_FIELD && c->iColumn < NCOLS &&
            c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
            if (!c->usable)
                return SQLITE_CONSTRAINT;
            at[c->iColumn] = i;
        }
    }
    if (at[COL_FIELD] < 0 || at[COL_VALUE] < 0)
        return SQLITE_CONSTRAINT;
    int arg = 1;
    info->idxNum = 0;
    for (int col = COL_FIELD; col < NCOLS; col++) {
        if (at[col] < 0)
            continue;
        info->aConstraintUsage[at[col]].argvIndex = arg++;
        info->aConstraintUsage[at[col]].omit = 1;
        info->idxNum |= 1 << (col - COL_FIELD);
    }
    info->estimatedCost = 100;
    info->estimatedRows = 1000;
    return SQLITE_OK;
}

static int m_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    struct mcur *c = sqlite3_malloc(sizeof *c);
    (void)v;
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int m_close(sqlite3_vtab_cursor *cur)
{
    struct mcur *c = (struct mcur *)cur;
    sqlite3_free(c->rid);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int push(struct mcur *c, int64_t r)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        int64_t *n = sqlite3_realloc64(c->rid, cap * sizeof *n);
        if (!n)
            return SQLITE_NOMEM;
        c->rid = n;
        c->cap = cap;
    }
    c->rid[c->n++] = r;
    return SQLITE_OK;
}

/* Sort and drop repeats. */
static void sort_unique(struct mcur *c)
{
    if (c->n == 0)
        return;
    qsort(c->rid, c->n, sizeof *c->rid, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++)
        if (w == 0 || c->rid[i] != c->rid[w - 1])
            c->rid[w++] = c->rid[i];
    c->n = w;
}

static void bind_mval(sqlite3_stmt *q, int col, const struct mval *v)
{
    if (v->type == VT_INT)
        sqlite3_bind_int64(q, col, v->i);
    else if (v->type == VT_TEXT)
        sqlite3_bind_text(q, col, v->p, v->len, SQLITE_STATIC);
    else
        sqlite3_bind_blob(q, col, v->p, v->len, SQLITE_STATIC);
}

/* The statement of field code f's postings with a value in [*v, *top] (top NULL: = v) and an
 * hour in [lo, hi], bound; `size`: the one that estimates their rowids instead. */
static int query_of(struct mtab *t, bool size, int f, const struct mval *v,
                    const struct mval *top, int64_t lo, int64_t hi, sqlite3_stmt **out)
{
    static const char *const sql[2][2] = {
        { "SELECT first, rows FROM session_postings WHERE field = ?1 AND value = ?2 AND"
          " hour >= ?3 AND hour <= ?4",
          "SELECT first, rows FROM session_postings WHERE field = ?1 AND value >= ?2 AND"
          " value <= ?5 AND hour >= ?3 AND hour <= ?4" },
        { "SELECT count(*) + coalesce(sum(length(rows)), 0) / 2 FROM session_postings WHERE"
          " field = ?1 AND value = ?2 AND hour >= ?3 AND hour <= ?4",
          "SELECT count(*) + coalesce(sum(length(rows)), 0) / 2 FROM session_postings WHERE"
          " field = ?1 AND value >= ?2 AND value <= ?5 AND hour >= ?3 AND hour <= ?4" },
    };
    sqlite3_stmt **q = size ? (top ? &t->size_range : &t->size_get)
                            : (top ? &t->range : &t->get);
    int rc;
    if (!*q && (rc = sqlite3_prepare_v2(t->db, sql[size][top != NULL], -1, q, NULL)) !=
               SQLITE_OK)
        return rc;
    sqlite3_bind_int(*q, 1, f);
    bind_mval(*q, 2, v);
    sqlite3_bind_int64(*q, 3, lo);
    sqlite3_bind_int64(*q, 4, hi);
    if (top)
        bind_mval(*q, 5, top);
    *out = *q;
    return SQLITE_OK;
}

static void done_with(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* The value of a code as stored: source ports by blocks. */
static struct mval value_for(int code, const struct mval *v)
{
    struct mval w = *v;
    if (code == SQ_F_SRC_PORT && w.type == VT_INT)
        w.i = v->i >> SQ_SRC_PORT_SHIFT;
    return w;
}

/* Append the rowids of term x's postings in hours [lo, hi] to c (unsorted). */
static int collect(struct mtab *t, struct mcur *c, const struct term *x, int64_t lo, int64_t hi)
{
    int rc = SQLITE_OK;
    for (int k = 0; k < 3 && x->codes[k] && rc == SQLITE_OK; k++) {
        struct mval v = value_for(x->codes[k], &x->v), top = value_for(x->codes[k], &x->top);
        sqlite3_stmt *get;
        if ((rc = query_of(t, false, x->codes[k], &v, x->block ? &top : NULL, lo, hi, &get)) !=
            SQLITE_OK)
            return rc;
        while ((rc = sqlite3_step(get)) == SQLITE_ROW) {
            int64_t r = sqlite3_column_int64(get, 0);
            const uint8_t *b = sqlite3_column_blob(get, 1);
            size_t len = (size_t)sqlite3_column_bytes(get, 1);
            uint64_t gap = 0;
            unsigned shift = 0;
            if ((rc = push(c, r)) != SQLITE_OK)
                break;
            for (size_t i = 0; i < len && rc == SQLITE_OK; i++) {
                if (shift < 64)
                    gap |= (uint64_t)(b[i] & 0x7f) << shift;
                shift += 7;
                if (b[i] & 0x80)
                    continue;
                r += (int64_t)gap;
                rc = push(c, r);
                gap = 0;
                shift = 0;
            }
            if (rc != SQLITE_OK)
                break;
        }
        done_with(get);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    return rc;
}

/* x->size: about how many rowids term x's postings in hours [lo, hi] hold. */
static int estimate(struct mtab *t, struct term *x, int64_t lo, int64_t hi)
{
    int rc = SQLITE_OK;
    x->size = 0;
    for (int k = 0; k < 3 && x->codes[k] && rc == SQLITE_OK; k++) {
        struct mval v = value_for(x->codes[k], &x->v), top = value_for(x->codes[k], &x->top);
        sqlite3_stmt *q;
        if ((rc = query_of(t, true, x->codes[k], &v, x->block ? &top : NULL, lo, hi, &q)) !=
            SQLITE_OK)
            return rc;
        if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            x->size += sqlite3_column_int64(q, 0);
            rc = SQLITE_OK;
        }
        done_with(q);
    }
    return rc;
}

/* "a.b.c.d/n" or "x:..:y/n" -> the block's first and last address (4 or 16 bytes each);
 * 0 when not such a block. */
static size_t parse_cidr(const char *text, uint8_t lo[16], uint8_t hi[16])
{
    const char *slash = text ? strchr(text, '/') : NULL;
    char addr[64];
    if (!slash || (size_t)(slash - text) >= sizeof addr)
        return 0;
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    size_t len = sq_parse_ip(addr, lo);
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (len == 0 || end == slash + 1 || *end || bits < 0 || bits > (long)len * 8)
        return 0;
    for (size_t i = 0; i < len; i++) {
        long keep = bits - (long)i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        lo[i] &= mask;
        hi[i] = lo[i] | (uint8_t)~mask;
    }
    return len;
}

/* The stored code of a posting name (field_catalog.c's `posting`), 0 if none: the one
 * mapping that is the postings' own, as it is on disk. */
static int posting_code(const char *name)
{
    static const struct { const char *name; int code; } codes[] = {
        { "src_ip", SQ_F_SRC_IP }, { "dst_ip", SQ_F_DST_IP }, { "src_port", SQ_F_SRC_PORT },
        { "dst_port", SQ_F_DST_PORT }, { "sensor", SQ_F_SENSOR },
        { "protocol", SQ_F_PROTOCOL }, { "transport", SQ_F_TRANSPORT }, { "tags", SQ_F_TAG },
        { "packets", SQ_F_PACKETS },
    };
    for (size_t i = 0; name && i < ASH_ARRAY_LEN(codes); i++)
        if (strcmp(name, codes[i].name) == 0)
            return codes[i].code;
    return 0;
}

/* The catalogue's field whose posting is `name` (a pseudo-field's stands for its parts':
 * "ip" is src_ip and dst_ip), its codes in codes[3]; NULL when none. */
static const struct field_def *posting_field(const char *name, int codes[3])
{
    size_t n;
    const struct field_def *all = field_catalog_all(&n);
    for (size_t i = 0; name && i < n; i++) {
        const struct field_def *f = &all[i], *p;
        if (!f->posting || strcmp(f->posting, name) != 0)
            continue;
        int k = 0;
        codes[0] = codes[1] = codes[2] = 0;
        if (!(f->flags & FIELD_PSEUDO)) {
            codes[k++] = posting_code(f->posting);
        } else {
            for (int j = 0; (p = field_catalog_part(f, j)) != NULL && k < 3; j++)
                if ((codes[k] = posting_code(p->posting)) != 0)
                    k++;
        }
        return codes[0] ? f : NULL;
    }
    return NULL;
}

static int unknown_field(struct mtab *t, const char *name)
{
    char known[200] = "";
    size_t n;
    const struct field_def *all = field_catalog_all(&n);
    for (size_t i = 0; i < n; i++)
        if (all[i].posting)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     known[0] ? ", " : "", all[i].posting);
    sqlite3_free(t->base.zErrMsg);
    t->base.zErrMsg = sqlite3_mprintf(SQ_MATCH_FN ": unknown field '%s' (expected one of %s)",
                                      name ? name : "NULL", known);
    return SQLITE_ERROR;
}

static struct mval ip_mval(size_t len, const uint8_t *ip)
{
    return len == 4 ? (struct mval){ VT_INT, (int64_t)ip[0] << 24 | ip[1] << 16 | ip[2] << 8 |
                                     ip[3], NULL, 0 }
                    : (struct mval){ VT_BLOB, 0, ip, 16 };
}

/* The pair (name, arg) as stored: an address as its integer or 16-byte blob, a CIDR block as
 * its first and last, a port or count as an integer; x->none when the value cannot be one. */
static int term_of(struct mtab *t, const char *name, sqlite3_value *arg, struct term *x)
{
    memset(x, 0, sizeof *x);
    const struct field_def *fd = posting_field(name, x->codes);
    if (!fd)
        return unknown_field(t, name);
    bool ip = fd->type == FIELD_IP, num = fd->type == FIELD_INTEGER;
    int type = sqlite3_value_type(arg);
    size_t block = ip && type == SQLITE_TEXT
                   ? parse_cidr((const char *)sqlite3_value_text(arg), x->ip, x->ip_hi) : 0;
    if (block) {                                     /* every address of a CIDR block */
        x->v = ip_mval(block, x->ip);
        x->top = ip_mval(block, x->ip_hi);
        x->block = true;
    } else if (ip && type == SQLITE_TEXT) {
        size_t len = sq_parse_ip((const char *)sqlite3_value_text(arg), x->ip);
        x->none = len == 0;
        x->v = ip_mval(len, x->ip);
    } else if (ip && type == SQLITE_BLOB) {
        int len = sqlite3_value_bytes(arg);
        x->none = len != 4 && len != 16;
        if (!x->none)
            memcpy(x->ip, sqlite3_value_blob(arg), (size_t)len);
        x->v = ip_mval((size_t)len, x->ip);
    } else if (ip || num) {
        x->none = sqlite3_value_numeric_type(arg) != SQLITE_INTEGER;
        x->v = (struct mval){ VT_INT, sqlite3_value_int64(arg), NULL, 0 };
    } else {
        x->v = (struct mval){ VT_TEXT, 0, sqlite3_value_text(arg), sqlite3_value_bytes(arg) };
        x->none = x->v.p == NULL;
    }
    return SQLITE_OK;
}

static int cmp_size(const void *a, const void *b)
{
    const struct term *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* Keep in c only the rowids also in the sorted o. */
static void intersect(struct mcur *c, const struct mcur *o)
{
    size_t w = 0, j = 0;
    for (size_t i = 0; i < c->n; i++) {
        while (j < o->n && o->rid[j] < c->rid[i])
            j++;
        if (j < o->n && o->rid[j] == c->rid[i])
            c->rid[w++] = c->rid[i];
    }
    c->n = w;
}

static int m_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                    sqlite3_value **argv)
{
    struct mcur *c = (struct mcur *)cur;
    struct mtab *t = (struct mtab *)cur->pVtab;
    int64_t bound[2] = { INT64_MIN, INT64_MAX };
    struct term terms[SQ_MATCH_TERMS];
    int nterms = 0, a = 0, rc = SQLITE_OK;
    (void)idx_str, (void)argc;
    c->n = c->i = 0;
    /* argv holds the given columns in column order: field, value, start, end, pairs */
    const char *name = NULL;
    sqlite3_value *pair_name = NULL;
    for (int col = COL_FIELD; col < NCOLS; col++) {
        if (!(idx_num & (1 << (col - COL_FIELD))))
            continue;
        sqlite3_value *v = argv[a++];
        if (col == COL_START || col == COL_END) {
            if (sqlite3_value_type(v) != SQLITE_NULL && sqlite3_value_int64(v) > 0)
                bound[col - COL_START] = sq_hour_of(sqlite3_value_int64(v) - (col == COL_END));
            continue;
        }
        bool is_name = col == COL_FIELD || (col >= COL_MORE && (col - COL_MORE) % 2 == 0);
        if (is_name) {
            pair_name = v;
            continue;
        }
        if (!pair_name)                                /* a value without its field: none */
            continue;
        name = (const char *)sqlite3_value_text(pair_name);
        pair_name = NULL;
        if (col != COL_VALUE && !name)                 /* an unused pair (NULL field) */
            continue;
        if ((rc = term_of(t, name, v, &terms[nterms])) != SQLITE_OK)
            return rc;
        if (terms[nterms].none)
            return SQLITE_OK;                          /* a pair nothing holds: no rows */
        nterms++;
    }
    if (nterms == 0)
        return SQLITE_OK;
    for (int k = 0; nterms > 1 && k < nterms; k++)
        if ((rc = estimate(t, &terms[k], bound[0], bound[1])) != SQLITE_OK)
            return rc;
    if (nterms > 1)
        qsort(terms, (size_t)nterms, sizeof *terms, cmp_size);
    if ((rc = collect(t, c, &terms[0], bound[0], bound[1])) != SQLITE_OK)
        return rc;
    sort_unique(c);
    struct mcur o = { .rid = NULL };
    for (int k = 1; k < nterms && c->n > 0; k++) {
        if (terms[k].size > SKIP_MIN && terms[k].size / SKIP_FACTOR > (int64_t)c->n)
            break;                                     /* sorted by size: the rest too */
        o.n = 0;
        if ((rc = collect(t, &o, &terms[k], bound[0], bound[1])) != SQLITE_OK)
            break;
        sort_unique(&o);
        intersect(c, &o);
    }
    sqlite3_free(o.rid);
    return rc;
}

static int m_next(sqlite3_vtab_cursor *cur)
{
    ((struct mcur *)cur)->i++;
    return SQLITE_OK;
}

static int m_eof(sqlite3_vtab_cursor *cur)
{
    struct mcur *c = (struct mcur *)cur;
    return c->i >= c->n;
}

static int m_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct mcur *c = (struct mcur *)cur;
    if (col == COL_RID)
        sqlite3_result_int64(ctx, c->rid[c->i]);
    else
        sqlite3_result_null(ctx);
    return SQLITE_OK;
}

static int m_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
    struct mcur *c = (struct mcur *)cur;
    *rowid = c->rid[c->i];
    return SQLITE_OK;
}

static const sqlite3_module match_module = {
    .iVersion = 0,
    .xCreate = NULL,                 /* eponymous only: no CREATE VIRTUAL TABLE */
    .xConnect = m_connect,
    .xBestIndex = m_best_index,
    .xDisconnect = m_disconnect,
    .xDestroy = m_disconnect,
    .xOpen = m_open,
    .xClose = m_close,
    .xFilter = m_filter,
    .xNext = m_next,
    .xEof = m_eof,
    .xColumn = m_column,
    .xRowid = m_rowid,
};

int sq_postings_register(sqlite3 *db)
{
    return sqlite3_create_module(db, SQ_MATCH_FN, &match_module, NULL);
}
