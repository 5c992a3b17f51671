/* store_sqlite_postings.c -- the SQLite store's postings: which sessions hold a value of a
 * field analysts filter on (IPs, ports, sensor, protocol, transport), per hour of event.start.
 * Owns:  the in-memory builder of one transaction's postings (a hash of (field, value, hour)
 *        and the rowids added under each), their encoding as session_postings rows, and the
 *        table-valued function session_match() that reads them back (store_sqlite.h). Its
 *        field names and types are the field catalogue's (`posting`); only the stored field
 *        codes are this file's.
 * Lends: nothing: session_match's rows are copied out of SQLite before they are returned.
 * Never: allocates per row once the arrays have grown to a transaction's size; logs.
 * Trap:  session_postings.rows is the row list after `first`, as LEB128 varints of the gap to
 *        the previous rowid (first itself is in the key); a posting with one row has an
 *        empty blob. Rowids are never reused (store_meta.next_rowid), so a posting whose rows
 *        were deleted by retention can only point at nothing, never at another session. */
#include "store_sqlite.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VT_INT = 1, VT_TEXT = 2, VT_BLOB = 3 };     /* the value's SQLite type in the key */

#define KEY_HEAD 10                  /* field, type, hour (8 bytes, host order) */
#define KEY_MAX (KEY_HEAD + STORE_KEYWORD_MAX + STORE_SENSOR_MAX)

struct entry {
    uint64_t hash;
    size_t key_off;                  /* into keys */
    uint32_t key_len, count, pos;
    size_t blob_off, blob_len;       /* flush: its rows' varints in blob */
};

struct sq_postings {
    uint8_t *keys;                   /* arena of entry keys */
    size_t keys_len, keys_cap;
    struct entry *e;
    uint32_t ne, e_cap;
    uint32_t *slot;                  /* open addressing: entry index + 1, 0 = empty */
    uint32_t slot_cap;               /* a power of two, at least 2 * ne */
    uint32_t *pair_entry;            /* pair i: rowid pair_rowid[i] is under entry pair_entry[i] */
    int64_t *pair_rowid;
    size_t np, pair_cap;
    uint32_t *order;                 /* flush: pair indexes grouped by entry */
    size_t order_cap;
    uint8_t *blob;                   /* flush: every posting's varints */
    size_t blob_cap;
    uint32_t last[SQ_F_COUNT];       /* entry + 1 of the field's last key: values repeat */
    size_t rows;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024, bytes;
    while (n < need)
        n *= 2;
    if (!ash_mul_size(n, elem, &bytes))
        return -1;
    void *q = realloc(*p, bytes);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

struct sq_postings *sq_postings_new(void)
{
    return calloc(1, sizeof(struct sq_postings));
}

void sq_postings_free(struct sq_postings *p)
{
    if (!p)
        return;
    free(p->keys);
    free(p->e);
    free(p->slot);
    free(p->pair_entry);
    free(p->pair_rowid);
    free(p->order);
    free(p->blob);
    free(p);
}

void sq_postings_reset(struct sq_postings *p)
{
    if (p->slot && p->ne)
        memset(p->slot, 0, p->slot_cap * sizeof *p->slot);
    p->ne = 0;
    p->keys_len = 0;
    p->np = 0;
    p->rows = 0;
    memset(p->last, 0, sizeof p->last);
}

size_t sq_postings_pending(const struct sq_postings *p) { return p->rows; }

static uint64_t hash_key(const uint8_t *k, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {                   /* 8 bytes a step: FNV-1a byte by byte */
        memcpy(&w, k + i, 8);                        /* was ~1/3 of sq_postings_add_row */
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, k + i, len - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static int rehash(struct sq_postings *p)
{
    uint32_t cap = p->slot_cap ? p->slot_cap * 2 : 4096;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (uint32_t i = 0; i < p->ne; i++) {
        uint32_t j = (uint32_t)p->e[i].hash & (cap - 1);
        while (s[j])
            j = (j + 1) & (cap - 1);
        s[j] = i + 1;
    }
    free(p->slot);
    p->slot = s;
    p->slot_cap = cap;
    return 0;
}

/* The entry of key[0..len), made when new; -1 when out of memory. */
static int64_t entry_of(struct sq_postings *p, const uint8_t *key, size_t len)
{
    uint32_t f = key[0], last = p->last[f];
    if (last && p->e[last - 1].key_len == len &&
        memcmp(p->keys + p->e[last - 1].key_off, key, len) == 0)
        return last - 1;
    if (2 * ((size_t)p->ne + 1) > p->slot_cap && rehash(p) < 0)
        return -1;
    uint64_t h = hash_key(key, len);
    uint32_t j = (uint32_t)h & (p->slot_cap - 1);
    for (; p->slot[j]; j = (j + 1) & (p->slot_cap - 1)) {
        const struct entry *e = &p->e[p->slot[j] - 1];
        if (e->hash == h && e->key_len == len && memcmp(p->keys + e->key_off, key, len) == 0) {
            p->last[f] = p->slot[j];
            return p->slot[j] - 1;
        }
    }
    size_t ecap = p->e_cap;
    if (p->ne == UINT32_MAX - 1 ||
        grow((void **)&p->e, &ecap, (size_t)p->ne + 1, sizeof *p->e) < 0 ||
        grow((void **)&p->keys, &p->keys_cap, p->keys_len + len, 1) < 0)
        return -1;
    p->e_cap = (uint32_t)ecap;
    memcpy(p->keys + p->keys_len, key, len);
    p->e[p->ne] = (struct entry){ h, p->keys_len, (uint32_t)len, 0, 0, 0, 0 };
    p->keys_len += len;
    p->slot[j] = ++p->ne;
    p->last[f] = p->ne;
    return p->ne - 1;
}

/* Add rowid under the key made of field, type, hour and value[0..len). */
static int add(struct sq_postings *p, int field, int type, int64_t hour, const void *value,
               size_t len, int64_t rowid)
{
    uint8_t key[KEY_MAX];
    if (len > KEY_MAX - KEY_HEAD)
        len = KEY_MAX - KEY_HEAD;                    /* store.c bounds keywords below this */
    key[0] = (uint8_t)field;
    key[1] = (uint8_t)type;
    memcpy(key + 2, &hour, 8);
    memcpy(key + KEY_HEAD, value, len);
    int64_t k = entry_of(p, key, KEY_HEAD + len);
    if (k < 0)
        return -1;
    if (p->np == p->pair_cap) {
        size_t c1 = p->pair_cap, c2 = p->pair_cap;
        if (grow((void **)&p->pair_entry, &c1, p->np + 1, sizeof *p->pair_entry) < 0 ||
            grow((void **)&p->pair_rowid, &c2, p->np + 1, sizeof *p->pair_rowid) < 0)
            return -1;
        p->pair_cap = c1 < c2 ? c1 : c2;
    }
    p->pair_entry[p->np] = (uint32_t)k;
    p->pair_rowid[p->np++] = rowid;
    p->e[k].count++;
    return 0;
}

static int add_int(struct sq_postings *p, int field, int64_t hour, int64_t v, int64_t rowid)
{
    return add(p, field, VT_INT, hour, &v, sizeof v, rowid);
}

static int add_text(struct sq_postings *p, int field, int64_t hour, const char *v, int64_t rowid)
{
    return v && *v ? add(p, field, VT_TEXT, hour, v, strlen(v), rowid) : 0;
}

/* An address of 4 bytes as its integer, of 16 as a blob; other lengths have no posting. */
static int add_ip(struct sq_postings *p, int field, int64_t hour, const uint8_t *ip, size_t len,
                  int64_t rowid)
{
    if (len == 4)
        return add_int(p, field, hour, (int64_t)ip[0] << 24 | ip[1] << 16 | ip[2] << 8 | ip[3],
                       rowid);
    if (len == 16)
        return add(p, field, VT_BLOB, hour, ip, 16, rowid);
    return 0;
}

static int64_t hour_of(int64_t start_us)
{
    return start_us >= 0 ? start_us / SQ_HOUR_US : -((-start_us + SQ_HOUR_US - 1) / SQ_HOUR_US);
}

int sq_postings_add_row(struct sq_postings *p, int64_t rowid, int64_t start_us,
                        const uint8_t *sip, size_t siplen, const uint8_t *dip, size_t diplen,
                        uint32_t sport, uint32_t dport, const char *sensor, const char *protocol,
                        const char *transport)
{
    int64_t h = hour_of(start_us);
    p->rows++;
    if (add_ip(p, SQ_F_SRC_IP, h, sip, siplen, rowid) < 0 ||
        add_ip(p, SQ_F_DST_IP, h, dip, diplen, rowid) < 0 ||
        add_int(p, SQ_F_SRC_PORT, h, sport >> SQ_SRC_PORT_SHIFT, rowid) < 0 ||
        add_int(p, SQ_F_DST_PORT, h, dport, rowid) < 0 ||
        add_text(p, SQ_F_SENSOR, h, sensor, rowid) < 0 ||
        add_text(p, SQ_F_PROTOCOL, h, protocol, rowid) < 0 ||
        add_text(p, SQ_F_TRANSPORT, h, transport, rowid) < 0)
        return -1;
    return 0;
}

/* text -> 4 or 16 bytes; 0 when not an address */
static size_t parse_ip(const char *text, uint8_t out[16])
{
    if (!text || !*text)
        return 0;
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    return inet_pton(AF_INET6, text, out) == 1 ? 16 : 0;
}

int sq_postings_add_columns(struct sq_postings *p, int64_t rowid, int64_t start_us,
                            const char *sip, const char *dip, int64_t sport, int64_t dport,
                            const char *sensor, const char *protocol, const char *transport)
{
    uint8_t a[16], b[16];
    size_t alen = parse_ip(sip, a), blen = parse_ip(dip, b);
    return sq_postings_add_row(p, rowid, start_us, a, alen, b, blen, (uint32_t)sport,
                               (uint32_t)dport, sensor, protocol, transport);
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

/* Bind entry e as the row at parameters base+1..base+5 of an insert into session_postings. */
static void bind_entry(const struct sq_postings *p, const struct entry *e, sqlite3_stmt *ins,
                       int base)
{
    const uint8_t *key = p->keys + e->key_off;
    int64_t hour, v;
    memcpy(&hour, key + 2, 8);
    sqlite3_bind_int(ins, base + 1, key[0]);
    if (key[1] == VT_INT) {
        memcpy(&v, key + KEY_HEAD, 8);
        sqlite3_bind_int64(ins, base + 2, v);
    } else if (key[1] == VT_TEXT) {
        sqlite3_bind_text(ins, base + 2, (const char *)key + KEY_HEAD,
                          (int)(e->key_len - KEY_HEAD), SQLITE_STATIC);
    } else {
        sqlite3_bind_blob(ins, base + 2, key + KEY_HEAD, (int)(e->key_len - KEY_HEAD),
                          SQLITE_STATIC);
    }
    sqlite3_bind_int64(ins, base + 3, hour);
    sqlite3_bind_int64(ins, base + 4, p->pair_rowid[p->order[e->pos - e->count]]);
    sqlite3_bind_blob(ins, base + 5, p->blob + e->blob_off, (int)e->blob_len, SQLITE_STATIC);
}

int sq_postings_flush(struct sq_postings *p, sqlite3_stmt *ins)
{
    int rc = SQLITE_OK;
    if (grow((void **)&p->order, &p->order_cap, p->np, sizeof *p->order) < 0 ||
        grow((void **)&p->blob, &p->blob_cap, p->np * 10 + 1, 1) < 0) {
        sq_postings_reset(p);
        return SQLITE_NOMEM;
    }
    uint32_t at = 0;
    for (uint32_t k = 0; k < p->ne; k++) {         /* pos: where entry k's rowids go */
        p->e[k].pos = at;
        at += p->e[k].count;
    }
    for (size_t i = 0; i < p->np; i++)              /* stable: rowids stay ascending */
        p->order[p->e[p->pair_entry[i]].pos++] = (uint32_t)i;
    size_t n = 0;
    for (uint32_t k = 0; k < p->ne; k++) {         /* every posting's varints, then insert */
        struct entry *e = &p->e[k];
        const uint32_t *ix = p->order + (e->pos - e->count);
        int64_t prev = p->pair_rowid[ix[0]];
        e->blob_off = n;
        for (uint32_t j = 1; j < e->count; j++) {
            int64_t r = p->pair_rowid[ix[j]];
            if (r > prev)
                n += put_varint(p->blob + n, (uint64_t)(r - prev));
            prev = r;
        }
        e->blob_len = n - e->blob_off;
    }
    for (uint32_t k = 0; k < p->ne && rc == SQLITE_OK; k++) {
        bind_entry(p, &p->e[k], ins, 0);
        rc = sq_run(ins);
    }
    sq_postings_reset(p);
    return rc;
}

/* ---- session_match(field, value, start_us, end_us): the rowids of the postings ---------- */

enum { COL_RID, COL_FIELD, COL_VALUE, COL_START, COL_END };

struct mtab {
    sqlite3_vtab base;
    sqlite3 *db;
    sqlite3_stmt *get;               /* the postings of one field, value and range of hours */
    sqlite3_stmt *range;             /* the same for a range of values (a CIDR block) */
};

struct mcur {
    sqlite3_vtab_cursor base;
    int64_t *rid;
    size_t n, i, cap;
};

static int m_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(rid INTEGER, field HIDDEN, value HIDDEN,"
                                      " start_us HIDDEN, end_us HIDDEN)");
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
    sqlite3_free(t);
    return SQLITE_OK;
}

/* field and value are required (equality: the function's arguments), the bounds optional;
 * idxNum bit 1: a start bound, bit 2: an end bound. */
static int m_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    int at[5] = { -1, -1, -1, -1, -1 };
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn >= COL_FIELD && c->iColumn <= COL_END &&
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
    for (int col = COL_FIELD; col <= COL_END; col++) {
        if (at[col] < 0)
            continue;
        info->aConstraintUsage[at[col]].argvIndex = arg++;
        info->aConstraintUsage[at[col]].omit = 1;
        info->idxNum |= col == COL_START ? 1 : col == COL_END ? 2 : 0;
    }
    info->estimatedCost = 100;
    info->estimatedRows = 1000;
    return SQLITE_OK;
}

static int m_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    struct mcur *c = sqlite3_malloc(sizeof *c);
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

/* A value as session_postings stores it. */
struct mval {
    int type;                        /* VT_INT, VT_TEXT or VT_BLOB */
    int64_t i;
    const void *p;
    int len;
};

static void bind_mval(sqlite3_stmt *q, int col, const struct mval *v)
{
    if (v->type == VT_INT)
        sqlite3_bind_int64(q, col, v->i);
    else if (v->type == VT_TEXT)
        sqlite3_bind_text(q, col, v->p, v->len, SQLITE_STATIC);
    else
        sqlite3_bind_blob(q, col, v->p, v->len, SQLITE_STATIC);
}

/* Append the rowids of the postings of field code f with a value in [*v, *top] (top NULL: =
 * v) and an hour in [lo, hi]. */
static int collect(struct mtab *t, struct mcur *c, int f, const struct mval *v,
                   const struct mval *top, int64_t lo, int64_t hi)
{
    int rc;
    sqlite3_stmt **q = top ? &t->range : &t->get;
    if (!*q && (rc = sqlite3_prepare_v2(t->db, top
                                        ? "SELECT first, rows FROM session_postings WHERE"
                                          " field = ?1 AND value >= ?2 AND value <= ?5 AND"
                                          " hour >= ?3 AND hour <= ?4"
                                        : "SELECT first, rows FROM session_postings WHERE"
                                          " field = ?1 AND value = ?2 AND hour >= ?3 AND"
                                          " hour <= ?4", -1, q, NULL)) != SQLITE_OK)
        return rc;
    sqlite3_stmt *get = *q;
    sqlite3_bind_int(get, 1, f);
    bind_mval(get, 2, v);
    sqlite3_bind_int64(get, 3, lo);
    sqlite3_bind_int64(get, 4, hi);
    if (top)
        bind_mval(get, 5, top);
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
    sqlite3_reset(get);
    sqlite3_clear_bindings(get);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
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
    size_t len = parse_ip(addr, lo);
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
        { "protocol", SQ_F_PROTOCOL }, { "transport", SQ_F_TRANSPORT },
    };
    for (size_t i = 0; name && i < ASH_ARRAY_LEN(codes); i++)
        if (strcmp(name, codes[i].name) == 0)
            return codes[i].code;
    return 0;
}

/* The catalogue's field whose posting is `name` (a pseudo-field's stands for its parts':
 * "ip" is src_ip and dst_ip), its codes in f1/f2; NULL when none. */
static const struct field_def *posting_field(const char *name, int *f1, int *f2)
{
    size_t n;
    const struct field_def *all = field_catalog_all(&n);
    for (size_t i = 0; name && i < n; i++) {
        const struct field_def *f = &all[i], *p;
        if (!f->posting || strcmp(f->posting, name) != 0)
            continue;
        *f1 = *f2 = 0;
        if (!(f->flags & FIELD_PSEUDO)) {
            *f1 = posting_code(f->posting);
        } else {
            for (int k = 0; (p = field_catalog_part(f, k)) != NULL; k++)
                *(*f1 ? f2 : f1) = posting_code(p->posting);
        }
        return *f1 ? f : NULL;
    }
    return NULL;
}

static int m_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                    sqlite3_value **argv)
{
    struct mcur *c = (struct mcur *)cur;
    struct mtab *t = (struct mtab *)cur->pVtab;
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_value *arg = argv[1];
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    int a = 2, rc = SQLITE_OK;
    uint8_t ip[16];
    c->n = c->i = 0;
    if ((idx_num & 1) && sqlite3_value_type(argv[a]) != SQLITE_NULL &&
        sqlite3_value_int64(argv[a]) > 0)
        lo = hour_of(sqlite3_value_int64(argv[a]));
    a += idx_num & 1;
    if ((idx_num & 2) && sqlite3_value_type(argv[a]) != SQLITE_NULL &&
        sqlite3_value_int64(argv[a]) > 0)
        hi = hour_of(sqlite3_value_int64(argv[a]) - 1);
    int f1, f2;
    const struct field_def *fd = posting_field(name, &f1, &f2);
    if (!fd) {
        char known[160] = "";
        size_t n;
        const struct field_def *all = field_catalog_all(&n);
        for (size_t i = 0; i < n; i++)
            if (all[i].posting)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                         known[0] ? ", " : "", all[i].posting);
        sqlite3_free(t->base.zErrMsg);
        t->base.zErrMsg = sqlite3_mprintf(SQ_MATCH_FN ": unknown field '%s' (expected one of "
                                          "%s)", name ? name : "NULL", known);
        return SQLITE_ERROR;
    }
    const struct { bool ip, num; int f1, f2; } field = {
        fd->type == FIELD_IP, fd->type == FIELD_INTEGER, f1, f2,
    };
    /* the value as stored: an address as its integer or 16-byte blob, a port as an integer;
     * a value that cannot be one matches nothing */
    struct mval v = { VT_TEXT, 0, NULL, 0 };
    int type = sqlite3_value_type(arg);
    uint8_t ip_hi[16];
    struct mval top = { 0, 0, NULL, 0 };
    size_t block = field.ip && type == SQLITE_TEXT
                   ? parse_cidr((const char *)sqlite3_value_text(arg), ip, ip_hi) : 0;
    if (block) {                                     /* every address of a CIDR block */
        v = block == 4 ? (struct mval){ VT_INT, (int64_t)ip[0] << 24 | ip[1] << 16 | ip[2] << 8 |
                                        ip[3], NULL, 0 } : (struct mval){ VT_BLOB, 0, ip, 16 };
        top = block == 4 ? (struct mval){ VT_INT, (int64_t)ip_hi[0] << 24 | ip_hi[1] << 16 |
                                          ip_hi[2] << 8 | ip_hi[3], NULL, 0 }
                         : (struct mval){ VT_BLOB, 0, ip_hi, 16 };
    } else if (field.ip && type == SQLITE_TEXT) {
        size_t len = parse_ip((const char *)sqlite3_value_text(arg), ip);
        if (len == 0)
            return SQLITE_OK;
        v = len == 4 ? (struct mval){ VT_INT, (int64_t)ip[0] << 24 | ip[1] << 16 | ip[2] << 8 |
                                      ip[3], NULL, 0 }
                     : (struct mval){ VT_BLOB, 0, ip, 16 };
    } else if (field.ip && type == SQLITE_BLOB) {
        v = (struct mval){ VT_BLOB, 0, sqlite3_value_blob(arg), sqlite3_value_bytes(arg) };
        if (v.len == 4) {
            const uint8_t *b = v.p;
            v = (struct mval){ VT_INT, (int64_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3],
                               NULL, 0 };
        }
    } else if (field.ip || field.num) {
        if (sqlite3_value_numeric_type(arg) != SQLITE_INTEGER)
            return SQLITE_OK;
        v = (struct mval){ VT_INT, sqlite3_value_int64(arg), NULL, 0 };
    } else {
        v.p = sqlite3_value_text(arg);
        v.len = sqlite3_value_bytes(arg);
        if (!v.p)
            return SQLITE_OK;
    }
    const int codes[2] = { field.f1, field.f2 };
    for (int i = 0; i < 2 && codes[i] && rc == SQLITE_OK; i++) {
        struct mval w = v;
        if (codes[i] == SQ_F_SRC_PORT)              /* its postings are per block of ports */
            w.i = v.i >> SQ_SRC_PORT_SHIFT;
        rc = collect(t, c, codes[i], &w, block ? &top : NULL, lo, hi);
    }
    if (rc != SQLITE_OK || c->n == 0)
        return rc;
    qsort(c->rid, c->n, sizeof *c->rid, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++)
        if (w == 0 || c->rid[i] != c->rid[w - 1])
            c->rid[w++] = c->rid[i];
    c->n = w;
    return SQLITE_OK;
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
