/* store_sqlite_fixtures.h -- what the SQLite store's suites share (test_store_sqlite.c,
 * test_store_sqlite_file.c): session records, a fresh database per test in a mkdtemp dir,
 * and SQL read straight from the file.
 * Owns:  the suite's temporary directory name (tmpdir, made by its setup).
 * Never: shared between processes: each suite is its own executable. */
#ifndef ASHIATO_STORE_SQLITE_FIXTURES_H
#define ASHIATO_STORE_SQLITE_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <json-c/json.h>

#include "test_dir.h"
#include "store.h"
#include "query_parse.h"

static char tmpdir[64];
static int dbcount;

struct rec {
    Ashiato__SessionRecord r;
    Ashiato__Endpoint src, dst;
    uint8_t sip[16], dip[16];
    char id[64];
};

#define T0 1385391358000000LL       /* 2013-11-25T14:55:58Z */
#define HOUR 3600000000LL

static inline void rec_init(struct rec *x, const char *id, int64_t start_us, const char *proto,
                     uint32_t iana, uint8_t last_octet)
{
    memset(x, 0, sizeof *x);
    ashiato__session_record__init(&x->r);
    ashiato__endpoint__init(&x->src);
    ashiato__endpoint__init(&x->dst);
    snprintf(x->id, sizeof x->id, "%s", id);
    x->r.id.data = (uint8_t *)x->id;
    x->r.id.len = strlen(x->id);
    x->r.observer_name = "what-the-record-says";
    x->r.start_us = start_us;
    x->r.end_us = start_us + 5000;
    x->r.iana_number = iana;
    x->r.ip_version = 4;
    x->r.protocol = (char *)proto;
    x->r.community_id = "1:5FhVg97ow4NPd5Q5nqaxA/Bx83A=";
    memcpy(x->sip, (uint8_t[]){ 10, 180, 156, 141 }, 4);
    memcpy(x->dip, (uint8_t[]){ 10, 180, 156, last_octet }, 4);
    x->src.ip.data = x->sip;
    x->src.ip.len = 4;
    x->src.port = 61450;
    x->src.packets = 8;
    x->src.bytes = 692;
    x->dst.ip.data = x->dip;
    x->dst.ip.len = 4;
    x->dst.port = 80;
    x->dst.packets = 8;
    x->dst.bytes = 5773;
    x->r.source = &x->src;
    x->r.destination = &x->dst;
}

static inline struct store *open_url(const char *url, const char *dead_letter)
{
    struct store_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    if (dead_letter)
        snprintf(cfg.dead_letter, sizeof cfg.dead_letter, "%s", dead_letter);
    struct store *st = store_open(&cfg, err);
    if (!st)
        fail_msg("store_open(%s): %s", url, err);
    return st;
}

/* a fresh database file; its path in path */
static inline struct store *open_fresh(char path[256], const char *dead_letter)
{
    char url[300];
    snprintf(path, 256, "%s/t%d.db", tmpdir, ++dbcount);
    snprintf(url, sizeof url, "sqlite://%s", path);
    return open_url(url, dead_letter);
}

/* collects documents handed to a store_row_fn */
struct rows {
    int n, stop_after;
    char doc[16][2048];
};

static inline int collect(void *ctx, const char *doc, size_t len)
{
    struct rows *r = ctx;
    if (r->n < 16)
        snprintf(r->doc[r->n], sizeof r->doc[0], "%.*s", (int)len, doc);
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

/* a string at a dotted path of a JSON document, into out ("" if absent) */
static inline const char *json_at(const char *doc, const char *path, char *out, size_t outsz)
{
    json_object *root = json_tokener_parse(doc), *o = root;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    out[0] = '\0';
    for (char *save = NULL, *k = strtok_r(copy, ".", &save); o && k;
         k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    if (o)
        snprintf(out, outsz, "%s", json_object_get_string(o));
    json_object_put(root);
    return out;
}

static inline long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    long long v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_type(q, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* the text of a query's first column (strdup'd, "" when none) */
static inline char *sql_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    char *v = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        v = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v ? v : strdup("");
}

/* three sessions at T0, T0+1h, T0+2h (http, dns, none) */
static inline void three(struct rec x[3], const Ashiato__SessionRecord *p[3])
{
    rec_init(&x[0], "131125-aaaa", T0, "http", 6, 1);
    rec_init(&x[1], "131125-bbbb", T0 + HOUR, "dns", 17, 2);
    rec_init(&x[2], "131125-cccc", T0 + 2 * HOUR + 7, "", 6, 3);
    for (int i = 0; i < 3; i++)
        p[i] = &x[i].r;
}

static inline int fixtures_setup(const char *name)
{
    return test_dir_make(tmpdir, sizeof tmpdir, "/tmp", name);
}

static inline int fixtures_teardown(void)
{
    test_dir_remove(tmpdir);
    return 0;
}

#endif
