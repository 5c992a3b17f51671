/* store_sqlite_postings.c -- the SQLite store's postings: which sessions hold a value of a
 * field analysts filter on (IPs, ports, sensor, protocol, transport, tags, packets), per hour
 * of event.start.
 * Owns:  the in-memory builder of one transaction's postings (a hash of (field, value, hour)
 *        and the rowids added under each), their encoding as session_postings rows, and the
 *        backfill of schema 7's postings (tags, packets) from stored rows. session_match(),
 *        which reads them back, is store_sqlite_match.c's.
 * Lends: nothing.
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
#include <json-c/json.h>

enum { VT_INT = SQ_VT_INT, VT_TEXT = SQ_VT_TEXT, VT_BLOB = SQ_VT_BLOB };

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

/* Schema 7's postings of one row: its packets and each of its tags (ashiato.protocols). */
static int add_extra(struct sq_postings *p, int64_t rowid, int64_t h, int64_t packets,
                     char *const *tags, size_t ntags)
{
    if (add_int(p, SQ_F_PACKETS, h, packets, rowid) < 0)
        return -1;
    for (size_t i = 0; i < ntags; i++)
        if (add_text(p, SQ_F_TAG, h, tags[i], rowid) < 0)
            return -1;
    return 0;
}

int sq_postings_add_row(struct sq_postings *p, int64_t rowid, int64_t start_us,
                        const uint8_t *sip, size_t siplen, const uint8_t *dip, size_t diplen,
                        uint32_t sport, uint32_t dport, const char *sensor, const char *protocol,
                        const char *transport, int64_t packets, char *const *tags,
                        size_t ntags)
{
    int64_t h = sq_hour_of(start_us);
    p->rows++;
    if (add_extra(p, rowid, h, packets, tags, ntags) < 0)
        return -1;
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

size_t sq_parse_ip(const char *text, uint8_t out[16])
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
    size_t alen = sq_parse_ip(sip, a), blen = sq_parse_ip(dip, b);
    int64_t h = sq_hour_of(start_us);
    p->rows++;
    if (add_ip(p, SQ_F_SRC_IP, h, a, alen, rowid) < 0 ||
        add_ip(p, SQ_F_DST_IP, h, b, blen, rowid) < 0 ||
        add_int(p, SQ_F_SRC_PORT, h, (uint32_t)sport >> SQ_SRC_PORT_SHIFT, rowid) < 0 ||
        add_int(p, SQ_F_DST_PORT, h, (uint32_t)dport, rowid) < 0 ||
        add_text(p, SQ_F_SENSOR, h, sensor, rowid) < 0 ||
        add_text(p, SQ_F_PROTOCOL, h, protocol, rowid) < 0 ||
        add_text(p, SQ_F_TRANSPORT, h, transport, rowid) < 0)
        return -1;
    return 0;
}

/* The tags of a version 1 row's JSON document (ashiato.protocols) into the postings. */
static int add_json_tags(struct sq_postings *p, int64_t rowid, int64_t h, const char *doc)
{
    json_object *o = doc ? json_tokener_parse(doc) : NULL, *a, *l;
    int rc = 0;
    if (o && json_object_object_get_ex(o, "ashiato", &a) &&
        json_object_object_get_ex(a, "protocols", &l) && json_object_is_type(l, json_type_array))
        for (size_t i = 0; rc == 0 && i < json_object_array_length(l); i++)
            rc = add_text(p, SQ_F_TAG, h, json_object_get_string(json_object_array_get_idx(l, i)),
                          rowid);
    json_object_put(o);
    return rc;
}

int sq_postings_backfill(struct sq_postings *p, sqlite3 *db, sqlite3_stmt *ins, size_t flush_rows)
{
    sqlite3_stmt *rows;
    int rc = sqlite3_prepare_v2(db, "SELECT rowid, start_us, coalesce(packets, 0), doc FROM"
                                " sessions ORDER BY rowid", -1, &rows, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(rows, 0);
        int64_t h = sq_hour_of(sqlite3_column_int64(rows, 1));
        int e = 0;
        p->rows++;
        if (sqlite3_column_type(rows, 3) == SQLITE_BLOB) {
            Ashiato__SessionRecord *r = ashiato__session_record__unpack(
                NULL, (size_t)sqlite3_column_bytes(rows, 3), sqlite3_column_blob(rows, 3));
            e = add_extra(p, rowid, h, sqlite3_column_int64(rows, 2), r ? r->tags : NULL,
                          r ? r->n_tags : 0);
            ashiato__session_record__free_unpacked(r, NULL);
        } else {
            e = add_int(p, SQ_F_PACKETS, h, sqlite3_column_int64(rows, 2), rowid) < 0 ||
                add_json_tags(p, rowid, h, (const char *)sqlite3_column_text(rows, 3)) < 0 ? -1 : 0;
        }
        if (e < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (p->rows >= flush_rows && (rc = sq_postings_flush(p, ins)) != SQLITE_OK)
            break;
    }
    sqlite3_finalize(rows);
    if (rc == SQLITE_DONE)
        rc = sq_postings_flush(p, ins);
    sq_postings_reset(p);
    return rc;
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
