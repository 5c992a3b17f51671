/* alert_put.c -- put alert documents into a store through store_put_alert(), as the
 * aggregator's alert_out.c does, for the alert expression test (test_alert_query.py).
 *
 *   alert_put --store URL [--es-prefix P] FILE
 *
 * FILE holds one alert document per line, in detect_alert_json()'s shape (docs/detection.md).
 * Each becomes an Ashiato__Alert the way alert_out.c builds one: id, kind, times, source and
 * sensors, sessions, summary, and the document itself in Alert.doc. Prints "put N".
 * Owns:  its store handle.
 * Never: writes to the store any other way than store_put_alert(). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "store.h"

static json_object *at(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (b && !json_object_object_get_ex(x, b, &x))
        return NULL;
    return x;
}

/* "2026-12-07T05:00:01.250000Z" -> microseconds, -1 if not one */
static int64_t iso_us(const char *s)
{
    struct tm tm = { 0 };
    int us = 0, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.' && sscanf(s + n + 1, "%6d", &us) != 1)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + us;
}

int main(int argc, char **argv)
{
    struct store_config cfg = { 0 };
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: alert_put --store URL [--es-prefix P] FILE\n"
                   "Puts each alert document line of FILE through store_put_alert().\n");
            return 0;
        } else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
            snprintf(cfg.url, sizeof cfg.url, "%s", argv[++i]);
        } else if (!strcmp(argv[i], "--es-prefix") && i + 1 < argc) {
            snprintf(cfg.es_prefix, sizeof cfg.es_prefix, "%s", argv[++i]);
        } else {
            file = argv[i];
        }
    }
    if (!cfg.url[0] || !file) {
        fprintf(stderr, "usage: alert_put --store URL [--es-prefix P] FILE\n");
        return 2;
    }
    FILE *f = fopen(file, "r");
    char err[ASH_ERR_LEN];
    struct store *st = f ? store_open(&cfg, err) : NULL;
    if (!st) {
        fprintf(stderr, "alert_put: %s\n", f ? err : "cannot open the file");
        if (f)
            fclose(f);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0 && rc == 0) {
        json_object *o = json_tokener_parse(line), *v;
        if (!o) {
            fprintf(stderr, "alert_put: line %zu is not JSON\n", n + 1);
            rc = 1;
            break;
        }
        Ashiato__Alert a = ASHIATO__ALERT__INIT;
        char *sensors[64];
        uint8_t ip[16];
        a.id = (char *)json_object_get_string(at(o, "event", "id"));
        a.kind = (char *)json_object_get_string(at(o, "rule", "name"));
        a.start_us = iso_us(json_object_get_string(at(o, "event", "start")));
        a.end_us = iso_us(json_object_get_string(at(o, "event", "end")));
        if ((v = at(o, "source", "ip"))) {
            const char *t = json_object_get_string(v);
            if (inet_pton(AF_INET, t, ip) == 1)
                a.source_ip = (ProtobufCBinaryData){ 4, ip };
            else if (inet_pton(AF_INET6, t, ip) == 1)
                a.source_ip = (ProtobufCBinaryData){ 16, ip };
        }
        if ((v = at(o, "observer", "name")))
            for (size_t i = 0; i < json_object_array_length(v) && i < 64; i++)
                sensors[a.n_sensors++] = (char *)json_object_get_string(
                    json_object_array_get_idx(v, i));
        a.sensors = sensors;
        a.sessions = (uint64_t)json_object_get_int64(at(o, "ashiato", "sessions"));
        a.summary = (char *)json_object_get_string(at(o, "message", NULL));
        a.doc = (char *)json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
        if (store_put_alert(st, &a) != STORE_OK) {
            fprintf(stderr, "alert_put: line %zu: %s\n", n + 1, store_error(st));
            rc = 1;
        }
        json_object_put(o);
        n++;
    }
    free(line);
    fclose(f);
    store_close(st);
    printf("put %zu\n", n);
    return rc;
}
