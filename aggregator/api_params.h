/* api_params.h -- the HTTP API's query string (Arkime's parameter names) as one request struct.
 * Owns:  struct api_params: its strings are copies it frees in api_params_free(); the
 *        percent-decoding and the checks of every value (numbers, times, lengths, ids).
 * Lends: nothing.
 * Never: touches the store, the network or the query language (the expression stays text).
 * Trap:  the raw query string is untrusted bytes (fuzz_http_query feeds it); it is read
 *        through a cursor and a value that fails its check stops the parse with an error
 *        naming the parameter, expected and found, which the server answers with 400. */
#ifndef ASHIATO_API_PARAMS_H
#define ASHIATO_API_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define API_PARAMS_LENGTH_MAX   100000    /* sessions per page (Arkime clamps; we refuse) */
#define API_PARAMS_LENGTH_DEF   100
#define API_PARAMS_TEXT_MAX     16384     /* bytes of an expression (decoded) */
#define API_PARAMS_IDS_MAX      10000     /* ids in one ids= list */
#define API_PARAMS_SIZE_MAX     10000     /* spigraph/unique/connections buckets */

struct api_params {
    char *expression;           /* NULL = match all */
    bool have_date;
    long long date_hours;       /* date=N: the last N hours; -1 = all time */
    bool have_start, have_stop;
    int64_t start_us, stop_us;  /* startTime/stopTime */
    char *fields;               /* comma list, NULL = whole documents */
    long long length;           /* page size, default API_PARAMS_LENGTH_DEF */
    long long start;            /* offset */
    bool newest_first;          /* order=firstPacket:desc (or any *:desc) */
    char *bounding;             /* last|first|both|either|database (kept, see api_sessions.c) */
    long long interval_s;       /* interval=second|minute|hour|day|week, 0 = Arkime's choice */
    char **ids;                 /* ids=a,b,c */
    size_t nids;
    char *field;                /* unique.txt / spigraph.json (field= or exp=) */
    bool counts;                /* unique.txt counts=1 */
    char *type;                 /* fields.json type=sessions|alerts (field_catalog_table) */
    char *src_field, *dst_field;   /* connections.json srcField/dstField */
    long long size;             /* buckets (spigraph, connections), default 20 / 100 */
    long long baseline_hours;   /* matrix.json baseline=N: pairs seen N hours before are not new */
    char *stack;                /* sessions.json stack=sensor|segment, NULL = none */
    char *sensor;               /* session/<id>.json|pcap sensor=NAME: that sensor's session */
};

/* Parse a raw query string (the part after '?', no '#', not NUL-terminated) into p, which the
 * caller zeroes first. Unknown parameters are ignored, as Arkime does. 0, or -1 with err
 * ("length: expected 0..100000, got 9999999"). p must be freed in either case. */
int api_params_parse(const char *qs, size_t len, struct api_params *p, char err[ASH_ERR_LEN]);
void api_params_free(struct api_params *p);                 /* accepts NULL */

/* A time as Arkime takes it: epoch seconds (optionally fractional, may be negative) or ISO
 * 8601 UTC "2021-09-28T13:00:00Z" / "2021-09-28 13:00:00". 0 or -1. */
int api_params_time(const char *s, int64_t *us);

/* True for a session id the API accepts: 1..128 bytes of [A-Za-z0-9._:-]. */
bool api_params_id_ok(const char *s, size_t len);

#endif
