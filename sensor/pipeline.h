/* pipeline.h -- the packet path of one capture shard: decode, session table, app parsers,
 *               and what happens to a session when it ends (records out to the outputs).
 * Owns:  one shard's session table and app pool, its per-event decode counters, its
 *        protocol counters, and the list of record outputs (up to four: the JSON lines of
 *        --emit-json, the batcher that journals records into the outbox for shipping, tests).
 *        With a pcap store (pipeline_set_store), each packet's position in it and each
 *        record's list of positions.
 * Lends: nothing.
 * Never: allocates per packet; logs per packet (counters instead); exits; takes a packet
 *        whose time is outside 1970..2100 into a session (decoder.frame.time_out_of_range).
 * Trap:  outputs are called from the shard's thread with a record valid only during the call. */
#ifndef ASHIATO_PIPELINE_H
#define ASHIATO_PIPELINE_H

#include <stdint.h>
#include <stdio.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "capture.h"
#include "decode_events.h"
#include "session_table.h"

struct pipeline;

struct pipeline_config {
    struct session_table_config table;
    long long app_fields_max;        /* app_fields slots (sessions with HTTP/DNS/TLS/... values) */
    const char *sensor_name;
};

/* A sink for finished session records (JSON writer, outbox, tests). Return 0 or -1; a failing
 * output is counted (pipeline_stats.output_errors) and the others still run. */
typedef int (*pipeline_output_fn)(void *ctx, const Ashiato__SessionRecord *rec);

struct pipeline_stats {
    uint64_t packets, bytes, malformed, not_ip, ip_packets, output_errors, frag_orphans;
    uint64_t events[DECODE_EVENT_COUNT];
    uint64_t by_transport[256];      /* packets by IP protocol number */
    uint64_t sessions_by_app[32];    /* emitted sessions by enum app_proto of the record */
    struct session_table_stats table;
};

struct pipeline *pipeline_new(const struct pipeline_config *cfg, char err[ASH_ERR_LEN]);
void pipeline_free(struct pipeline *p);

struct pcap_store;
struct pcap_index;

/* Keep every packet in store and each session's packet positions in idx (both owned by the
 * caller, used from the pipeline's thread only). Call before the first packet. */
void pipeline_set_store(struct pipeline *p, struct pcap_store *store, struct pcap_index *idx);

/* The packets that follow lie in src, a mapped input file (NULL: no longer): the store keeps
 * them without a copy and holds src as long as it needs it (pcap_store_set_source). */
struct pcap_mmap;
void pipeline_set_source(struct pipeline *p, struct pcap_mmap *src);

/* add an output; up to 4 */
int pipeline_add_output(struct pipeline *p, pipeline_output_fn fn, void *ctx);

/* one captured frame of link type dlt */
void pipeline_packet(struct pipeline *p, int dlt, const struct capture_packet *pkt);

/* the same frame, already decoded by decode_packet() (the reader thread did it); d may be
 * changed (fragment ports) */
struct decoded;
void pipeline_packet_decoded(struct pipeline *p, const struct capture_packet *pkt, struct decoded *d);

/* the clock moved without packets (live capture) */
void pipeline_tick(struct pipeline *p, int64_t now_us);

/* end of input: every live session becomes a record */
void pipeline_flush(struct pipeline *p);

void pipeline_stats(const struct pipeline *p, struct pipeline_stats *out);

/* Output: JSON lines (one ECS document per session) to an open FILE. */
int pipeline_output_json(void *file, const Ashiato__SessionRecord *rec);

#endif
