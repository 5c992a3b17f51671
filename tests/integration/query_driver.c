/* query_driver.c -- run query expressions against a store through store.h, the way the HTTP
 * API does, for the differential test (test_query_differential.py) and by hand.
 *
 *   query_driver --store URL [--es-prefix P] [--start US] [--end US] [--count-by FIELD]
 *                [--segments INI] [--docs] [--explain] (EXPR | --file FILE)
 *
 * Each expression (or each line of FILE) gives one JSON line on stdout:
 *   {"expr":"...","total":N,"ids":["...",...]}  (ids in event.start order)
 *   {"expr":"...","error":"...","pos":N}        (a parse error, or "store": the store's)
 * --count-by prints {"expr":"...","buckets":[{"key":..,"count":..},...]} instead; --explain
 * adds "explain":"..." (query_explain()); --docs adds "docs":[...] (the whole documents).
 * --segments INI gives the store the [segments] of that file, as the aggregator does.
 * Owns:  its store handle and parsed trees, one at a time.
 * Never: evaluates an expression itself: every answer comes from the store. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "store.h"
#include "query.h"
#include "detect.h"
#include "segmap.h"

struct collect {
    json_object *arr;
    bool docs;                       /* rows are session documents (else count_by buckets) */
    json_object *whole;              /* --docs: the documents too, or NULL */
};

static bool want_docs;

static int on_row(void *ctx, const char *doc, size_t len)
{
    struct collect *c = ctx;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, doc, (int)len) : NULL, *a, *id;
    json_tokener_free(tok);
    if (!o)
        return 1;
    if (!c->docs)
        json_object_array_add(c->arr, o);
    else {
        if (json_object_object_get_ex(o, "ashiato", &a) &&
            json_object_object_get_ex(a, "session_id", &id))
            json_object_array_add(c->arr, json_object_get(id));
        if (c->whole)
            json_object_array_add(c->whole, json_object_get(o));
        json_object_put(o);
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: query_driver --store URL [--es-prefix P] [--start US] [--end US]\n"
               "                    [--count-by FIELD] [--segments INI] [--docs] [--explain]\n"
               "                    (EXPR | --file FILE)\n"
               "Runs Arkime expressions against the store; one JSON line per expression.\n");
}

static int run(struct store *st, const char *expr, const struct store_query *base,
               const char *count_by, bool explain)
{
    struct query_error err;
    json_object *out = json_object_new_object();
    json_object_object_add(out, "expr", json_object_new_string(expr));
    struct query_expr *e = query_parse(expr, &err);
    int rc = 0;
    if (!e) {
        json_object_object_add(out, "error", json_object_new_string(err.msg));
        json_object_object_add(out, "pos", json_object_new_int(err.pos));
    } else {
        struct store_query q = *base;
        struct collect c = { json_object_new_array(), count_by == NULL,
                             want_docs && !count_by ? json_object_new_array() : NULL };
        uint64_t total = 0;
        q.expr = e;
        int src = count_by ? store_count_by(st, &q, count_by, on_row, &c)
                           : store_query_sessions(st, &q, on_row, &c, &total);
        if (src != STORE_OK) {
            json_object_object_add(out, "error", json_object_new_string(store_error(st)));
            json_object_object_add(out, "store", json_object_new_boolean(1));
            json_object_put(c.arr);
            json_object_put(c.whole);
            rc = 1;
        } else {
            if (!count_by)
                json_object_object_add(out, "total", json_object_new_int64((int64_t)total));
            json_object_object_add(out, count_by ? "buckets" : "ids", c.arr);
            if (c.whole)
                json_object_object_add(out, "docs", c.whole);
        }
        if (explain) {
            char *x = query_explain(e);
            json_object_object_add(out, "explain", json_object_new_string(x ? x : ""));
            free(x);
        }
        query_expr_free(e);
    }
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN |
                                        JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(out);
    return rc;
}

int main(int argc, char **argv)
{
    struct store_config cfg = { 0 };
    struct store_query base = { 0 };
    const char *file = NULL, *expr = NULL, *count_by = NULL, *segments = NULL;
    bool explain = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--docs") == 0) {
            want_docs = true;
        } else if (v && strcmp(a, "--segments") == 0) {
            segments = v, i++;
        } else if (strcmp(a, "--explain") == 0) {
            explain = true;
        } else if (v && strcmp(a, "--store") == 0) {
            snprintf(cfg.url, sizeof cfg.url, "%s", v), i++;
        } else if (v && strcmp(a, "--es-prefix") == 0) {
            snprintf(cfg.es_prefix, sizeof cfg.es_prefix, "%s", v), i++;
        } else if (v && strcmp(a, "--start") == 0) {
            base.start_us = strtoll(v, NULL, 10), i++;
        } else if (v && strcmp(a, "--end") == 0) {
            base.end_us = strtoll(v, NULL, 10), i++;
        } else if (v && strcmp(a, "--count-by") == 0) {
            count_by = v, i++;
        } else if (v && strcmp(a, "--file") == 0) {
            file = v, i++;
        } else if (a[0] != '-' || (a[0] == '-' && !expr && i == argc - 1)) {
            expr = a;
        } else {
            fprintf(stderr, "query_driver: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!cfg.url[0] || (!file && !expr)) {
        usage(stderr);
        return 2;
    }
    char err[ASH_ERR_LEN];
    struct segmap_live *live = segments ? segmap_live_new() : NULL;
    if (segments) {              /* as the aggregator's main.c: detect_config's [segments] */
        static struct detect_config dc;
        static struct segmap m;
        detect_config_defaults(&dc);
        if (!live || detect_config_load(&dc, segments, err) < 0) {
            fprintf(stderr, "query_driver: %s\n", live ? err : "out of memory");
            segmap_live_free(live);
            return 1;
        }
        detect_config_segmap(&dc, &m);
        segmap_live_set(live, &m);
        cfg.segments = live;
    }
    struct store *st = store_open(&cfg, err);
    if (!st) {
        fprintf(stderr, "query_driver: %s\n", err);
        segmap_live_free(live);
        return 1;
    }
    int rc = 0;
    if (expr) {
        rc = run(st, expr, &base, count_by, explain);
    } else {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
        if (!f) {
            fprintf(stderr, "query_driver: %s: %s\n", file, strerror(errno));
            store_close(st);
            segmap_live_free(live);
            return 1;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) >= 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n == 0)
                continue;
            rc |= run(st, line, &base, count_by, explain);
            fflush(stdout);
        }
        free(line);
        if (f != stdin)
            fclose(f);
    }
    store_close(st);
    segmap_live_free(live);
    return rc;
}
