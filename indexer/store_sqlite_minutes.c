/* store_sqlite_minutes.c -- the SQLite store's histograms: sessions counted and summed per
 * (series, bucket of event.start), and the per-minute rollup that answers them without
 * reading rows.
 * Owns:  struct sq_agg (a hash of (sensor, bucket) to a count and the STORE_SUM_* sums, with
 *        its own copies of the sensor names), the session_minutes table's rows: added at
 *        each commit from the new sessions (sq_agg_flush), rebuilt from the sessions table
 *        for a time range (sq_minutes_rebuild: migration, retention's boundary minute).
 * Lends: sensor names to a store_histo_fn, valid during that call.
 * Never: reads a value of the query (store_sqlite_read.c compiles the WHERE clause).
 * Trap:  a row of session_minutes is exact only while every write path keeps it: a session
 *        inserted without sq_agg_add, or deleted without a rebuild of its minute, makes the
 *        rollup and a row scan disagree (test_store_histogram compares them). Without the
 *        rollup a one-day histogram over 3M synthetic rows took 8.5 s by GROUP BY with the
 *        sums as columns (2.1 s counting only), so the minutes are what meets the 500 ms
 *        target (issue 10). */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#define SQ_MINUTE_US 60000000LL

struct agg_entry {
    int64_t key_us;
    uint32_t series;                 /* index into names; 0 when not by sensor */
    uint64_t n, sums[STORE_SUM_COUNT];
};

struct sq_agg {
    int64_t width_us;
    bool by_sensor;
    char **names;                    /* series names (sensors), strdup'd */
    size_t nnames, cap_names;
    uint32_t last_name;              /* the last sensor looked up: batches are of one sensor */
    struct agg_entry *e;
    size_t n, cap;
    uint32_t *slots;                 /* open addressing: entry index + 1, 0 = free */
    size_t nslots;                   /* power of two, >= 2 * cap */
};

struct sq_agg *sq_agg_new(int64_t width_us, bool by_sensor)
{
    struct sq_agg *a = calloc(1, sizeof *a);
    if (a) {
        a->width_us = width_us;
        a->by_sensor = by_sensor;
    }
    return a;
}

void sq_agg_reset(struct sq_agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nnames; i++)
        free(a->names[i]);
    a->nnames = 0;
    a->n = 0;
    if (a->slots)
        memset(a->slots, 0, a->nslots * sizeof *a->slots);
}

void sq_agg_free(struct sq_agg *a)
{
    if (!a)
        return;
    sq_agg_reset(a);
    free(a->names);
    free(a->e);
    free(a->slots);
    free(a);
}

static int64_t floor_to(int64_t v, int64_t w)
{
    int64_t q = v / w;
    if (v % w && v < 0)
        q--;
    return q * w;
}

static int name_index(struct sq_agg *a, const char *sensor, uint32_t *out)
{
    if (!a->by_sensor) {
        *out = 0;
        return 0;
    }
    if (!sensor)
        sensor = "";
    if (a->last_name < a->nnames && !strcmp(a->names[a->last_name], sensor)) {
        *out = a->last_name;
        return 0;
    }
    for (size_t i = 0; i < a->nnames; i++)
        if (!strcmp(a->names[i], sensor)) {
            *out = a->last_name = (uint32_t)i;
            return 0;
        }
    if (a->nnames == a->cap_names) {
        size_t cap = a->cap_names ? a->cap_names * 2 : 8;
        char **n = realloc(a->names, cap * sizeof *n);
        if (!n)
            return -1;
        a->names = n;
        a->cap_names = cap;
    }
    if (!(a->names[a->nnames] = strdup(sensor)))
        return -1;
    *out = a->last_name = (uint32_t)a->nnames++;
    return 0;
}

static size_t hash(int64_t key, uint32_t series, size_t mask)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull ^ (uint64_t)series * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29)) & mask;
}

static int grow(struct sq_agg *a)
{
    size_t cap = a->cap ? a->cap * 2 : 256, bytes;
    if (!ash_mul_size(cap, sizeof *a->e, &bytes))
        return -1;
    struct agg_entry *e = realloc(a->e, bytes);
    if (!e)
        return -1;
    a->e = e;
    a->cap = cap;
    uint32_t *slots = ash_calloc_array(cap * 2, sizeof *slots);
    if (!slots || cap * 2 > UINT32_MAX) {
        free(slots);
        return -1;
    }
    free(a->slots);
    a->slots = slots;
    a->nslots = cap * 2;
    for (size_t i = 0; i < a->n; i++) {
        size_t h = hash(a->e[i].key_us, a->e[i].series, a->nslots - 1);
        while (a->slots[h])
            h = (h + 1) & (a->nslots - 1);
        a->slots[h] = (uint32_t)i + 1;
    }
    return 0;
}

int sq_agg_add(struct sq_agg *a, const char *sensor, int64_t start_us, uint64_t n,
               const uint64_t sums[STORE_SUM_COUNT])
{
    uint32_t series;
    if (name_index(a, sensor, &series) < 0 || (a->n == a->cap && grow(a) < 0))
        return -1;
    int64_t key = floor_to(start_us, a->width_us);
    size_t h = hash(key, series, a->nslots - 1);
    struct agg_entry *e = NULL;
    for (; a->slots[h]; h = (h + 1) & (a->nslots - 1)) {
        struct agg_entry *c = &a->e[a->slots[h] - 1];
        if (c->key_us == key && c->series == series) {
            e = c;
            break;
        }
    }
    if (!e) {
        e = &a->e[a->n++];
        memset(e, 0, sizeof *e);
        e->key_us = key;
        e->series = series;
        a->slots[h] = (uint32_t)a->n;
    }
    e->n += n;
    for (int i = 0; i < STORE_SUM_COUNT; i++)
        e->sums[i] += sums[i];
    return 0;
}

int sq_agg_add_record(struct sq_agg *a, const char *sensor, const Ashiato__SessionRecord *r)
{
    const Ashiato__Endpoint *s = r->source, *d = r->destination;
    const uint64_t sums[STORE_SUM_COUNT] = {
        [STORE_SUM_SRC_PACKETS] = s ? s->packets : 0, [STORE_SUM_DST_PACKETS] = d ? d->packets : 0,
        [STORE_SUM_SRC_BYTES] = s ? s->bytes : 0, [STORE_SUM_DST_BYTES] = d ? d->bytes : 0,
        [STORE_SUM_SRC_DATA] = s ? s->data_bytes : 0, [STORE_SUM_DST_DATA] = d ? d->data_bytes : 0,
    };
    return sq_agg_add(a, sensor, r->start_us, 1, sums);
}

/* The sums of a schema-1 row, whose document is JSON text. */
static void json_sums(const char *text, size_t len, uint64_t sums[STORE_SUM_COUNT])
{
    static const char *const path[STORE_SUM_COUNT][3] = {
        { "source", "packets", NULL }, { "destination", "packets", NULL },
        { "source", "bytes", NULL }, { "destination", "bytes", NULL },
        { "ashiato", "data_bytes", "source" }, { "ashiato", "data_bytes", "destination" },
    };
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    for (int i = 0; i < STORE_SUM_COUNT; i++) {
        json_object *o = doc;
        for (int k = 0; k < 3 && path[i][k] && o; k++)
            if (!json_object_object_get_ex(o, path[i][k], &o))
                o = NULL;
        sums[i] = o ? (uint64_t)json_object_get_int64(o) : 0;
    }
    json_object_put(doc);
}

/* A varint at *p (before end) into *v; false when cut short or longer than 10 bytes. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *p < end && shift < 70; shift += 7) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Skip a value of wire type wt at *p; false when malformed or a group. */
static bool skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0: return varint(p, end, &v);
    case 1: if (end - *p < 8) return false; *p += 8; return true;
    case 5: if (end - *p < 4) return false; *p += 4; return true;
    case 2:
        if (!varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        *p += v;
        return true;
    default: return false;
    }
}

/* The histogram sums of a packed SessionRecord without unpacking it: source (5) and
 * destination (6), each an Endpoint whose bytes (3), packets (4) and data_bytes (5) are read;
 * a later copy of either replaces the earlier, as protobuf-c 1.4.1 keeps a later
 * sub-message's numbers. false on anything unexpected (the caller unpacks instead).
 * Written by hand for speed: protobuf-c's unpack (allocating every field) was most of a
 * histogram over `packets == 1`'s 89,742 rows at 10M sessions (bench/RESULTS.md, api_queries
 * 2026-12-07 "qsql" section). Stored records are ones protobuf-c accepts (store_put checks
 * them), so the sums agree with unpacking (test_store_histogram compares with a brute force). */
static bool packed_sums(const uint8_t *p, size_t len, uint64_t sums[STORE_SUM_COUNT])
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, n;
        if (!varint(&p, end, &tag) || tag > UINT32_MAX || (tag >> 3) == 0)
            return false;
        unsigned field = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
        if ((field != 5 && field != 6) || wt != 2) {
            if (field == 5 || field == 6 || !skip(&p, end, wt))
                return false;
            continue;
        }
        if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
            return false;
        const uint8_t *q = p, *qend = p + n;
        uint64_t side[3] = { 0, 0, 0 };              /* bytes, packets, data_bytes */
        while (q < qend) {
            uint64_t t, v;
            if (!varint(&q, qend, &t) || t > UINT32_MAX || (t >> 3) == 0)
                return false;
            unsigned f = (unsigned)(t >> 3), w = (unsigned)(t & 7);
            if (f >= 3 && f <= 5) {
                if (w != 0 || !varint(&q, qend, &v))
                    return false;
                side[f - 3] = v;
            } else if (!skip(&q, qend, w)) {
                return false;
            }
        }
        bool src = field == 5;
        sums[src ? STORE_SUM_SRC_BYTES : STORE_SUM_DST_BYTES] = side[0];
        sums[src ? STORE_SUM_SRC_PACKETS : STORE_SUM_DST_PACKETS] = side[1];
        sums[src ? STORE_SUM_SRC_DATA : STORE_SUM_DST_DATA] = side[2];
        p = qend;
    }
    return true;
}

int sq_agg_rows(struct sq_agg *a, sqlite3_stmt *stmt)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(stmt, 0);
        const char *sensor = (const char *)sqlite3_column_text(stmt, 1);
        const void *doc = sqlite3_column_blob(stmt, 2);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
        uint64_t sums[STORE_SUM_COUNT] = { 0 };
        if (sqlite3_column_type(stmt, 2) == SQLITE_BLOB && packed_sums(doc, len, sums)) {
            if (sq_agg_add(a, sensor, start, 1, sums) < 0)
                return SQLITE_NOMEM;
            continue;
        }
        memset(sums, 0, sizeof sums);
        if (sqlite3_column_type(stmt, 2) == SQLITE_BLOB) {
            Ashiato__SessionRecord *r = ashiato__session_record__unpack(NULL, len, doc);
            if (r) {
                r->start_us = start;     /* the row's time decides the bucket */
                int e = sq_agg_add_record(a, sensor, r);
                ashiato__session_record__free_unpacked(r, NULL);
                if (e < 0)
                    return SQLITE_NOMEM;
                continue;
            }
        } else if (doc) {
            json_sums(doc, len, sums);
        }
        if (sq_agg_add(a, sensor, start, 1, sums) < 0)
            return SQLITE_NOMEM;
    }
    return rc;
}

int sq_agg_minutes(struct sq_agg *a, sqlite3 *db, int64_t m_lo, int64_t m_hi, const char *sensor)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db, "SELECT minute, sensor, n, src_packets, dst_packets,"
                                " src_bytes, dst_bytes, src_data, dst_data FROM session_minutes"
                                " WHERE minute >= ?1 AND minute < ?2 AND (?3 IS NULL OR"
                                " sensor = ?3)", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(q, 1, m_lo);
    sqlite3_bind_int64(q, 2, m_hi);
    if (sensor)
        sqlite3_bind_text(q, 3, sensor, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t sums[STORE_SUM_COUNT];
        for (int i = 0; i < STORE_SUM_COUNT; i++)
            sums[i] = (uint64_t)sqlite3_column_int64(q, 3 + i);
        if (sq_agg_add(a, (const char *)sqlite3_column_text(q, 1),
                       sqlite3_column_int64(q, 0) * SQ_MINUTE_US,
                       (uint64_t)sqlite3_column_int64(q, 2), sums) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int cmp_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmp_entry(const void *x, const void *y)
{
    const struct agg_entry *a = x, *b = y;
    if (a->series != b->series)
        return (a->series > b->series) - (a->series < b->series);
    return (a->key_us > b->key_us) - (a->key_us < b->key_us);
}

int sq_agg_emit(struct sq_agg *a, store_histo_fn cb, void *ctx)
{
    if (!a->n)
        return 0;
    /* series renumbered in name order, then entries sorted by (series, key); the hash index
     * is spent after this */
    if (a->nnames > 1) {
        uint32_t *rank = ash_calloc_array(a->nnames, sizeof *rank);
        char **old = ash_calloc_array(a->nnames, sizeof *old);
        if (!rank || !old) {
            free(rank);
            free(old);
            return -1;
        }
        memcpy(old, a->names, a->nnames * sizeof *old);
        qsort(a->names, a->nnames, sizeof *a->names, cmp_name);
        for (size_t i = 0; i < a->nnames; i++) {
            char **at = bsearch(&old[i], a->names, a->nnames, sizeof *a->names, cmp_name);
            rank[i] = (uint32_t)(at - a->names);
        }
        for (size_t i = 0; i < a->n; i++)
            a->e[i].series = rank[a->e[i].series];
        free(rank);
        free(old);
        a->last_name = 0;
    }
    qsort(a->e, a->n, sizeof *a->e, cmp_entry);
    memset(a->slots, 0, a->nslots * sizeof *a->slots);
    for (size_t i = 0; i < a->n; i++) {
        struct store_histo_bucket b = { .key_us = a->e[i].key_us, .sessions = a->e[i].n };
        memcpy(b.sums, a->e[i].sums, sizeof b.sums);
        if (cb(ctx, a->by_sensor ? a->names[a->e[i].series] : NULL, &b))
            return 1;
    }
    return 0;
}

int sq_agg_flush(struct sq_agg *a, sqlite3_stmt *ups)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < a->n && rc == SQLITE_OK; i++) {
        const struct agg_entry *e = &a->e[i];
        sqlite3_bind_int64(ups, 1, floor_to(e->key_us, SQ_MINUTE_US) / SQ_MINUTE_US);
        sqlite3_bind_text(ups, 2, a->names[e->series], -1, SQLITE_STATIC);
        sqlite3_bind_int64(ups, 3, (int64_t)e->n);
        for (int k = 0; k < STORE_SUM_COUNT; k++)
            sqlite3_bind_int64(ups, 4 + k, (int64_t)e->sums[k]);
        rc = sq_run(ups);
    }
    sq_agg_reset(a);
    return rc;
}

int sq_minutes_rebuild(sqlite3 *db, int64_t from_us, int64_t to_us)
{
    int64_t m_lo = floor_to(from_us, SQ_MINUTE_US) / SQ_MINUTE_US;
    int64_t m_hi = to_us ? floor_to(to_us + SQ_MINUTE_US - 1, SQ_MINUTE_US) / SQ_MINUTE_US
                         : INT64_MAX;
    sqlite3_stmt *del = NULL, *rows = NULL, *ups = NULL;
    struct sq_agg *a = sq_agg_new(SQ_MINUTE_US, true);
    int rc = SQLITE_NOMEM;
    if (!a)
        return rc;
    if ((rc = sqlite3_prepare_v2(db, "DELETE FROM session_minutes WHERE minute >= ?1 AND"
                                 " minute < ?2", -1, &del, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db, "SELECT start_us, sensor, doc FROM sessions WHERE"
                                 " start_us >= ?1 AND start_us < ?2", -1, &rows, NULL)) !=
            SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db, SQ_MINUTES_UPSERT, -1, &ups, NULL)) != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(del, 1, m_lo);
    sqlite3_bind_int64(del, 2, m_hi);
    if ((rc = sq_run(del)) != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(rows, 1, m_lo * SQ_MINUTE_US);
    sqlite3_bind_int64(rows, 2, m_hi == INT64_MAX ? INT64_MAX : m_hi * SQ_MINUTE_US);
    if ((rc = sq_agg_rows(a, rows)) != SQLITE_DONE)
        goto done;
    rc = sq_agg_flush(a, ups);
done:
    sqlite3_finalize(del);
    sqlite3_finalize(rows);
    sqlite3_finalize(ups);
    sq_agg_free(a);
    return rc;
}
