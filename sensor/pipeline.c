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
#include "mmap_lend.h"
#include "pcap_index.h"
#include "pcap_store.h"
#include "record_json.h"
#include "session_record.h"

#define PIPELINE_MAX_OUTPUTS 4
/* packet times the sensor takes: 1970-01-01 up to 2100-01-01 (the aggregator refuses a record
 * outside, and one such record held a sensor's whole stream, issue 14 M1) */
#define PIPELINE_TS_MAX_US (4102444800LL * 1000000)

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
    struct pcap_store *store;
    struct pcap_index *idx;
    uint8_t *pos_buf;                /* a record's encoded packet positions */
    size_t pos_cap;
    Ashiato__PacketFile *files;      /* and the files they are in */
    Ashiato__PacketFile **file_ptrs;
    uint64_t *file_ids;
    size_t files_cap;
    struct pipeline_stats stats;
};

/* the record's packet positions and files, from the session's index handle */
static void fill_positions(struct pipeline *p, const struct session *s)
{
    Ashiato__SessionRecord *r = &p->rec.rec;
    if (!p->idx || !s->pos)
        return;
    r->packet_pos.data = p->pos_buf;
    r->packet_pos.len = pcap_index_encode(p->idx, s->pos, p->pos_buf, p->pos_cap);
    size_t n = pcap_index_files(p->idx, s->pos, p->file_ids, p->files_cap);
    if (n > p->files_cap)
        n = p->files_cap;
    for (size_t i = 0; i < n; i++) {
        ashiato__packet_file__init(&p->files[i]);
        p->files[i].file_id = p->file_ids[i];
        p->file_ptrs[i] = &p->files[i];
    }
    r->packet_files = p->file_ptrs;
    r->n_packet_files = n;
}

static void emit_session(void *ctx, struct session *s, enum session_end why)
{
    struct pipeline *p = ctx;
    (void)why;
    if (s->app.proto < ASH_ARRAY_LEN(p->stats.sessions_by_app))
        p->stats.sessions_by_app[s->app.proto]++;
    if (p->nout) {                   /* nobody takes records: do not build them */
        session_record_fill(&p->rec, p->cfg.sensor_name, s, app_fields_of(p->pool, &s->app));
        fill_positions(p, s);
        for (int i = 0; i < p->nout; i++)
            if (p->out[i].fn(p->out[i].ctx, &p->rec.rec) != 0)
                p->stats.output_errors++;
    }
    if (p->idx)
        pcap_index_release(p->idx, &s->pos);   /* each record carries its own packets */
}

void pipeline_set_store(struct pipeline *p, struct pcap_store *store, struct pcap_index *idx)
{
    p->store = store;
    p->idx = idx;
}

void pipeline_set_source(struct pipeline *p, struct pcap_mmap *src)
{
    if (p->store)
        mmap_lend_to_store(p->store, src);
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
    /* a record lists at most max_packets positions (a segment is cut there) */
    size_t maxp = (size_t)cfg->table.max_packets;
    p->pos_cap = 10 + 20 * maxp;              /* version, flags, store id (pcap_index.h) */
    p->files_cap = maxp;
    p->pos_buf = malloc(p->pos_cap);
    p->files = ash_calloc_array(maxp, sizeof *p->files);
    p->file_ptrs = ash_calloc_array(maxp, sizeof *p->file_ptrs);
    p->file_ids = ash_calloc_array(maxp, sizeof *p->file_ids);
    if (!p->pos_buf || !p->files || !p->file_ptrs || !p->file_ids) {
        snprintf(err, ASH_ERR_LEN, "pipeline: out of memory for %zu packet positions", maxp);
        goto fail;
    }
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
    free(p->pos_buf);
    free(p->files);
    free(p->file_ptrs);
    free(p->file_ids);
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

void pipeline_packet(struct pipeline *p, int dlt, const struct capture_packet *pkt)
{
    struct decoded d;
    decode_packet(dlt, pkt->data, pkt->caplen, pkt->wirelen, &d);
    pipeline_packet_decoded(p, pkt, &d);
}

void pipeline_packet_decoded(struct pipeline *p, const struct capture_packet *pkt, struct decoded *d)
{
    int dir;
    int64_t ts_us = pkt->ts_us;
    uint32_t caplen = pkt->caplen;

    p->stats.packets++;
    p->stats.bytes += caplen;
    if (ASH_UNLIKELY((uint64_t)ts_us >= (uint64_t)PIPELINE_TS_MAX_US)) {
        /* counted, and neither a session nor the clock sees it: a time far off would expire
         * every live session, and a record of it would be refused downstream */
        p->stats.events[DECODE_FRAME_BAD_TIME]++;
        p->stats.malformed++;
        return;
    }
    if (d->event != DECODE_OK) {
        p->stats.events[d->event]++;
        if (d->event == DECODE_NOT_IP)
            p->stats.not_ip++;
        else
            p->stats.malformed++;
    }
    if (d->ip_version == 0) {
        if (p->store && !pkt->stored) {   /* kept on disk even when it belongs to no session */
            uint64_t f, o;
            pcap_store_append_packet(p->store, ts_us, pkt->data, caplen, pkt->wirelen,
                                     pkt->file_record, &f, &o);
        }
        session_table_after_packet(p->table, NULL, ts_us);
        return;
    }
    p->stats.ip_packets++;
    p->stats.by_transport[d->ip_proto]++;
    if (d->is_fragment && !frag_table_ports(p->frags, d, ts_us))
        p->stats.frag_orphans++;
    struct session *s = session_table_packet(p->table, d, ts_us, &dir);
    if (d->payload_len && (d->ip_proto == 6 || d->ip_proto == 17 || d->ip_proto == 132))
        app_parse(p->pool, &s->app, dir, d->ip_proto, d->sport, d->dport, d->payload, d->payload_len);
    if (p->store) {
        /* before the segment check: a segment cut at this packet must include it */
        uint64_t f = pkt->store_file, o = pkt->store_off;
        int rc = pkt->stored ? (pkt->stored > 0 ? 0 : -1)
                             : pcap_store_append_packet(p->store, ts_us, pkt->data, caplen, pkt->wirelen,
                                                        pkt->file_record, &f, &o);
        if (rc == 0)
            pcap_index_add(p->idx, &s->pos, f, o);
        else
            pcap_index_mark_gap(p->idx, &s->pos);
    }
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
