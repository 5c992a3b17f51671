/* store_null.c -- a store that accepts everything and keeps nothing but sequence numbers, to
 * measure transport and decode without a database (URL "null:").
 * Owns:  each sensor's committed seq, in memory for the life of the handle, so that the
 *        aggregator's resend logic behaves as with a real store.
 * Never: renders documents or touches disk; finds any session (queries return no rows). */
#include "store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct null_seq {
    char *sensor;
    uint64_t seq;
};

struct null_store {
    struct null_seq *v;
    size_t n, cap;
};

static int null_open(struct store *st, const char *target, char err[ASH_ERR_LEN])
{
    st->impl = calloc(1, sizeof(struct null_store));
    if (!st->impl) {
        snprintf(err, ASH_ERR_LEN, "null store: out of memory");
        return -1;
    }
    return 0;
}

static void null_close(struct store *st)
{
    struct null_store *ns = st->impl;
    if (!ns)
        return;
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i].sensor);
    free(ns->v);
    free(ns);
    st->impl = NULL;
}

/* The entry of sensor (linear: a handful of sensors per aggregator), NULL if unknown. */
static struct null_seq *find(struct null_store *ns, const char *sensor)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].sensor, sensor) == 0)
            return &ns->v[i];
    return NULL;
}

static int null_put_batches(struct store *st, const struct store_batch *b, size_t nb)
{
    struct null_store *ns = st->impl;
    for (size_t bi = 0; bi < nb; bi++) {
        struct null_seq *e = b[bi].seq ? find(ns, b[bi].sensor) : NULL;
        if (b[bi].seq && !e) {
            if (ns->n == ns->cap) {
                size_t cap = ns->cap ? 2 * ns->cap : 8, bytes;
                struct null_seq *v;
                if (!ash_mul_size(cap, sizeof *v, &bytes) || !(v = realloc(ns->v, bytes)))
                    return store_fail(st, STORE_ERR_RETRY, "null store: out of memory");
                ns->v = v;
                ns->cap = cap;
            }
            char *name = strdup(b[bi].sensor);
            if (!name)
                return store_fail(st, STORE_ERR_RETRY, "null store: out of memory");
            e = &ns->v[ns->n++];
            e->sensor = name;
            e->seq = 0;
        }
        if (e && b[bi].seq > e->seq)
            e->seq = b[bi].seq;
        st->counters.inserted += b[bi].n;
    }
    return STORE_OK;
}

static int null_sensor_seq(struct store *st, const char *sensor, uint64_t *seq)
{
    struct null_seq *e = find(st->impl, sensor);
    *seq = e ? e->seq : 0;
    return STORE_OK;
}

static int null_put_stats(struct store *st, const char *sensor, const Ashiato__SensorStats *s)
{
    return STORE_OK;
}

static int null_put_alert(struct store *st, const Ashiato__Alert *a) { return STORE_OK; }

static int null_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                               void *ctx, uint64_t *total)
{
    (void)q;                         /* nothing is stored: no expression matches anything */
    return STORE_OK;
}

static int null_count_by(struct store *st, const struct store_query *q,
                         const struct field_def *field,
                         store_row_fn cb, void *ctx)
{
    return null_query_sessions(st, q, NULL, NULL, NULL);
}

static int null_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                          bool by_sensor, store_histo_fn cb, void *ctx)
{
    (void)width_us;
    (void)by_sensor;
    return null_query_sessions(st, q, NULL, NULL, NULL);
}

static int null_get_session(struct store *st, const char *sensor, const char *id,
                            store_row_fn cb, void *ctx)
{
    return store_fail(st, STORE_ERR_NOT_FOUND, "session %.*s: not found (null store)",
                      STORE_ID_MAX, id);
}

static int null_delete_older(struct store *st, int64_t before_us, uint64_t *deleted)
{
    return STORE_OK;
}

const struct store_backend store_null_backend = {
    .kind = "null",
    .open = null_open,
    .close = null_close,
    .put_batches = null_put_batches,
    .sensor_seq = null_sensor_seq,
    .put_stats = null_put_stats,
    .put_alert = null_put_alert,
    .query_sessions = null_query_sessions,
    .count_by = null_count_by,
    .histogram = null_histogram,
    .get_session = null_get_session,
    .delete_older = null_delete_older,
};
