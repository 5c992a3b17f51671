/* pipeline.c -- one shard's packet path (see pipeline.h).
 * Owns:  the decode -> fragment ports -> session table -> app parsers sequence, the emit
 *        callback that turns sessions into records, and the shard's counters.
 * Never: allocates or logs per packet. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "decode.h"
#include "frag_table.h"
#include "record_json.h"
#include "session_record.h"

#define PIPELINE_MAX_OUTPUTS 4

struct pipeline {
    struct pipeline_config cfg;
    struct session_table *table;
    struct app_pool *pool;
    struct frag_table *frags;
    struct {
        pipeline_output_fn fn;
        void *ctx;
    } out[PIPELINE_MAX_OUTPUTS];
    int nout;
    struct session_record_buf rec;   /* one record at a time: outputs copy what they keep */
    struct pipeline_stats stats;
};

static void emit_session(void *ctx, const struct session *s, enum session_end why)
{
    struct pipeline *p = ctx;
    (void)why;
    if (s->app.proto < ASH_ARRAY_LEN(p->stats.sessions_by_app))
        p->stats.sessions_by_app[s->app.proto]++;
    if (!p->nout)
        return;                      /* nobody takes records: do not build them */
    session_record_fill(&p->rec, p->cfg.sensor_name, s, app_fields_of(p->pool, &s->app));
    for (int i = 0; i < p->nout; i++)
        if (p->out[i].fn(p->out[i].ctx, &p->rec.rec) != 0)
            p->stats.output_errors++;
}

struct pipeline *pipeline_new(const struct pipeline_config *cfg, char err[ASH_ERR_LEN])
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, ASH_ERR_LEN, "pipeline: out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    if (!(p->pool = app_pool_new((size_t)cfg->app_fields_max, err)))
        goto fail;
    if (!(p->frags = frag_table_new(4096, err)))
        goto fail;
    if (!(p->table = session_table_new(&cfg->table, p->pool, emit_session, p, err)))
        goto fail;
    return p;
fail:
    pipeline_free(p);
    return NULL;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    session_table_free(p->table);
    frag_table_free(p->frags);
    app_pool_free(p->pool);
    free(p);
}

int pipeline_add_output(struct pipeline *p, pipeline_output_fn fn, void *ctx)
{
    if (p->nout >= PIPELINE_MAX_OUTPUTS)
        return -1;
    p->out[p->nout].fn = fn;
    p->out[p->nout].ctx = ctx;
    p->nout++;
    return 0;
}

void pipeline_packet(struct pipeline *p, int dlt, int64_t ts_us, const uint8_t *data,
                     uint32_t caplen, uint32_t wirelen)
{
    struct decoded d;
    int dir;

    p->stats.packets++;
    p->stats.bytes += caplen;
    int rc = decode_packet(dlt, data, caplen, wirelen, &d);
    if (d.event != DECODE_OK) {
        p->stats.events[d.event]++;
        if (d.event == DECODE_NOT_IP)
            p->stats.not_ip++;
        else
            p->stats.malformed++;
    }
    if (rc != 0) {
        session_table_after_packet(p->table, NULL, ts_us);
        return;
    }
    p->stats.ip_packets++;
    p->stats.by_transport[d.ip_proto]++;
    if (d.is_fragment && !frag_table_ports(p->frags, &d, ts_us))
        p->stats.frag_orphans++;
    struct session *s = session_table_packet(p->table, &d, ts_us, &dir);
    if (d.payload_len && (d.ip_proto == 6 || d.ip_proto == 17 || d.ip_proto == 132))
        app_parse(p->pool, &s->app, dir, d.ip_proto, d.sport, d.dport, d.payload, d.payload_len);
    session_table_after_packet(p->table, s, ts_us);
}

void pipeline_tick(struct pipeline *p, int64_t now_us)
{
    session_table_advance(p->table, now_us);
}

void pipeline_flush(struct pipeline *p)
{
    session_table_flush(p->table);
}

void pipeline_stats(const struct pipeline *p, struct pipeline_stats *out)
{
    *out = p->stats;
    session_table_stats(p->table, &out->table);
}

int pipeline_output_json(void *file, const Ashiato__SessionRecord *rec)
{
    size_t len;
    char *text = record_json_render(rec, NULL, &len);
    if (!text)
        return -1;
    int rc = (fwrite(text, 1, len, file) == len && fputc('\n', file) != EOF) ? 0 : -1;
    free(text);
    return rc;
}
