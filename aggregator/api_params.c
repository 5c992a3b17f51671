/* api_params.c -- the HTTP API's query string into struct api_params (see api_params.h).
 * Owns:  percent-decoding, the parameter table and each value's check.
 * Never: trusts a length or a digit it has not read through the cursor. */
#include "api_params.h"
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cursor.h"

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode application/x-www-form-urlencoded bytes (%XX, '+' = space) into a malloc'd string.
 * A '%' not followed by two hex digits is kept as it is (browsers send such). NUL bytes are
 * refused: every consumer treats values as C strings. */
static char *decode(const uint8_t *s, size_t n, char err[ASH_ERR_LEN], const char *what)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out) {
        snprintf(err, ASH_ERR_LEN, "%s: out of memory", what);
        return NULL;
    }
    struct cursor c = cursor_make(s, n);
    while (cursor_left(&c)) {
        uint8_t ch = cursor_u8(&c);
        if (ch == '+')
            ch = ' ';
        else if (ch == '%' && cursor_left(&c) >= 2 && hexval(c.p[0]) >= 0 && hexval(c.p[1]) >= 0) {
            ch = (uint8_t)(hexval(c.p[0]) << 4 | hexval(c.p[1]));
            cursor_skip(&c, 2);
        }
        if (ch == 0) {
            free(out);
            snprintf(err, ASH_ERR_LEN, "%s: a NUL byte is not allowed", what);
            return NULL;
        }
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return out;
}

static int integer(const char *name, const char *v, long long lo, long long hi, long long *out,
                   char err[ASH_ERR_LEN])
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        snprintf(err, ASH_ERR_LEN, "%s: expected an integer %lld..%lld, got '%.40s'", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int api_params_time(const char *s, int64_t *us)
{
    char *end;
    errno = 0;
    double sec = strtod(s, &end);
    if (*s && !*end && !errno && end != s && sec > -1e10 && sec < 1e11 && s[0] != ' ') {
        /* digits only (Arkime's /^-?[0-9]+$/) or with a fraction; no "inf", "nan", hex */
        for (const char *p = s; *p; p++)
            if (!((*p >= '0' && *p <= '9') || *p == '.' || (p == s && *p == '-')))
                return -1;
        *us = (int64_t)(sec * 1e6);
        return 0;
    }
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    int n = 0;
    if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2u:%2u:%2u%n", &h, &mi, &se, &m) != 3 || m != 8)
            return -1;
        p += 1 + m;
    }
    long frac_us = 0;
    if (*p == '.') {
        long scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            if (scale)
                frac_us += (*p - '0') * scale;
    }
    if (*p == 'Z')
        p++;
    if (*p || y < 1970 || y > 2100 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    int64_t days = clock_days_from_civil(y, mo, d);
    *us = ((days * 86400 + h * 3600 + mi * 60 + se) * 1000000LL) + frac_us;
    return 0;
}

bool api_params_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

static int split_ids(struct api_params *p, const char *v, char err[ASH_ERR_LEN])
{
    size_t n = 1;
    for (const char *q = v; *q; q++)
        n += *q == ',';
    if (n > API_PARAMS_IDS_MAX) {
        snprintf(err, ASH_ERR_LEN, "ids: at most %d ids, got %zu", API_PARAMS_IDS_MAX, n);
        return -1;
    }
    for (size_t i = 0; i < p->nids; i++)
        free(p->ids[i]);
    free(p->ids);
    p->nids = 0;
    if (!(p->ids = ash_calloc_array(n, sizeof *p->ids))) {
        snprintf(err, ASH_ERR_LEN, "ids: out of memory");
        return -1;
    }
    const char *s = v;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l) {
            if (!api_params_id_ok(s, l)) {
                snprintf(err, ASH_ERR_LEN, "ids: '%.*s' is not a session id (expected 1..128 of "
                         "A-Za-z0-9._:-)", (int)(l > 60 ? 60 : l), s);
                return -1;
            }
            if (!(p->ids[p->nids] = strndup(s, l))) {
                snprintf(err, ASH_ERR_LEN, "ids: out of memory");
                return -1;
            }
            p->nids++;
        }
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

static int set_string(char **slot, char *v)
{
    free(*slot);
    *slot = v;
    return 0;
}

/* One decoded name=value pair; v is malloc'd and owned by this function from here. */
static int apply(struct api_params *p, const char *k, char *v, char err[ASH_ERR_LEN])
{
    long long x;
    int rc = 0;
    if (!strcmp(k, "expression")) {
        if (strlen(v) > API_PARAMS_TEXT_MAX) {
            snprintf(err, ASH_ERR_LEN, "expression: at most %d bytes, got %zu", API_PARAMS_TEXT_MAX,
                     strlen(v));
            rc = -1;
        } else
            return set_string(&p->expression, v);
    } else if (!strcmp(k, "fields"))
        return set_string(&p->fields, v);
    else if (!strcmp(k, "bounding")) {
        static const char *const ok[] = { "last", "first", "both", "either", "database" };
        for (size_t i = 0; i < ASH_ARRAY_LEN(ok); i++)
            if (!strcmp(v, ok[i]))
                return set_string(&p->bounding, v);
        snprintf(err, ASH_ERR_LEN, "bounding: expected last, first, both, either or database, "
                 "got '%.40s'", v);
        rc = -1;
    } else if (!strcmp(k, "field") || !strcmp(k, "exp"))
        return set_string(&p->field, v);
    else if (!strcmp(k, "srcField"))
        return set_string(&p->src_field, v);
    else if (!strcmp(k, "type"))
        return set_string(&p->type, v);
    else if (!strcmp(k, "dstField"))
        return set_string(&p->dst_field, v);
    else if (!strcmp(k, "date")) {
        if ((rc = integer("date", v, -1, 24LL * 365 * 200, &x, err)) == 0) {
            p->have_date = true;
            p->date_hours = x;
        }
    } else if (!strcmp(k, "startTime") || !strcmp(k, "stopTime")) {
        int64_t us;
        bool start = k[1] == 't' && k[2] == 'a';
        if (api_params_time(v, &us) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: expected epoch seconds or ISO 8601 "
                     "(2021-09-28T13:00:00Z), got '%.40s'", k, v);
            rc = -1;
        } else if (start) {
            p->have_start = true;
            p->start_us = us;
        } else {
            p->have_stop = true;
            p->stop_us = us;
        }
    } else if (!strcmp(k, "length")) {
        if ((rc = integer("length", v, 0, API_PARAMS_LENGTH_MAX, &x, err)) == 0)
            p->length = x;
    } else if (!strcmp(k, "start")) {
        if ((rc = integer("start", v, 0, 1LL << 40, &x, err)) == 0)
            p->start = x;
    } else if (!strcmp(k, "size")) {
        if ((rc = integer("size", v, 1, API_PARAMS_SIZE_MAX, &x, err)) == 0)
            p->size = x;
    } else if (!strcmp(k, "counts"))
        p->counts = !strcmp(v, "1") || !strcmp(v, "true");
    else if (!strcmp(k, "order")) {
        /* "firstPacket:desc" (Arkime), "event.start:desc"; only the direction is honoured:
         * sessions come in event.start order */
        const char *colon = strrchr(v, ':');
        if (colon && strcmp(colon, ":desc") && strcmp(colon, ":asc")) {
            snprintf(err, ASH_ERR_LEN, "order: expected FIELD:asc or FIELD:desc, got '%.40s'", v);
            rc = -1;
        } else
            p->newest_first = colon && !strcmp(colon, ":desc");
    } else if (!strcmp(k, "interval")) {
        static const struct { const char *n; long long s; } iv[] = {
            { "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", 86400 },
            { "week", 604800 }, { "auto", 0 },
        };
        rc = -1;
        for (size_t i = 0; i < ASH_ARRAY_LEN(iv); i++)
            if (!strcmp(v, iv[i].n)) {
                p->interval_s = iv[i].s;
                rc = 0;
            }
        if (rc)
            snprintf(err, ASH_ERR_LEN, "interval: expected second, minute, hour, day, week or "
                     "auto, got '%.40s'", v);
    } else if (!strcmp(k, "baseline")) {
        if ((rc = integer("baseline", v, 0, 24LL * 365 * 10, &x, err)) == 0)
            p->baseline_hours = x;
    } else if (!strcmp(k, "stack")) {
        if (!strcmp(v, "sensor") || !strcmp(v, "segment"))
            return set_string(&p->stack, v);
        snprintf(err, ASH_ERR_LEN, "stack: expected sensor or segment, got '%.40s'", v);
        rc = -1;
    } else if (!strcmp(k, "sensor")) {
        size_t l = strlen(v);
        bool ok = l >= 1 && l <= 255;
        for (size_t i = 0; ok && i < l; i++)
            ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
        if (ok)
            return set_string(&p->sensor, v);
        snprintf(err, ASH_ERR_LEN, "sensor: expected 1..255 printable bytes, got %zu", l);
        rc = -1;
    } else if (!strcmp(k, "ids"))
        rc = split_ids(p, v, err);
    free(v);
    return rc;
}

int api_params_parse(const char *qs, size_t len, struct api_params *p, char err[ASH_ERR_LEN])
{
    if (!p->length)
        p->length = API_PARAMS_LENGTH_DEF;
    struct cursor c = cursor_make(qs, len);
    while (cursor_left(&c)) {
        const uint8_t *pair = c.p;
        size_t n = 0;
        while (n < cursor_left(&c) && pair[n] != '&' && pair[n] != ';')
            n++;
        cursor_skip(&c, n);
        if (cursor_left(&c))
            cursor_skip(&c, 1);          /* the separator */
        if (n == 0)
            continue;
        size_t klen = 0;
        while (klen < n && pair[klen] != '=')
            klen++;
        char *k = decode(pair, klen, err, "parameter name");
        if (!k)
            return -1;
        const uint8_t *vs = klen < n ? pair + klen + 1 : pair + n;
        char *v = decode(vs, (size_t)(pair + n - vs), err, k);
        if (!v) {
            char name[48];
            snprintf(name, sizeof name, "%.40s", k);
            free(k);
            snprintf(err, ASH_ERR_LEN, "%s: a NUL byte is not allowed", name);
            return -1;
        }
        int rc = apply(p, k, v, err);
        free(k);
        if (rc < 0)
            return -1;
    }
    if (p->have_start != p->have_stop && !p->have_date) {
        snprintf(err, ASH_ERR_LEN, "%s: startTime and stopTime go together",
                 p->have_start ? "stopTime" : "startTime");
        return -1;
    }
    if (p->have_start && p->have_stop && p->stop_us < p->start_us) {
        snprintf(err, ASH_ERR_LEN, "stopTime: before startTime");
        return -1;
    }
    return 0;
}

void api_params_free(struct api_params *p)
{
    if (!p)
        return;
    free(p->expression);
    free(p->fields);
    free(p->bounding);
    free(p->field);
    free(p->type);
    free(p->src_field);
    free(p->dst_field);
    free(p->stack);
    free(p->sensor);
    for (size_t i = 0; i < p->nids; i++)
        free(p->ids[i]);
    free(p->ids);
    memset(p, 0, sizeof *p);
}
