/* session_table.h -- the sensor's table of live sessions (one per capture shard).
 * Owns:  every struct session from first packet to expiry: the slot array and its free
 *        list, the flow hash, the timer lists (one per protocol, each ordered by last packet,
 *        plus the TCP closing list), segment saving of long sessions, and eviction when full.
 * Lends: session pointers, valid until the next session_table_packet() / _advance() / _flush();
 *        the emit callback's session is valid only during the call.
 * Never: allocates after session_table_new(); touches disk, sockets, JSON or protobuf (the
 *        emit callback does); logs per packet.
 * Trap:  timeouts follow packet time, checked after a packet is counted (Arkime's order: a
 *        packet that arrives after a long gap still joins its stale session, which is then
 *        saved by the save timeout). A session leaving the table must release its app fields. */
#ifndef ASHIATO_SESSION_TABLE_H
#define ASHIATO_SESSION_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "decode.h"
#include "session.h"

struct session_table_config {
    long long max_sessions;          /* slots; a full table evicts its oldest idle session */
    long long tcp_timeout;           /* idle seconds, Arkime's defaults: 480 */
    long long udp_timeout;           /* 60 */
    long long icmp_timeout;          /* 10 */
    long long sctp_timeout;          /* 60 */
    long long other_timeout;         /* 60 */
    long long tcp_close_timeout;     /* after RST or both FINs: 5 */
    long long tcp_save_timeout;      /* a TCP session is saved as a segment every N s: 480 */
    long long max_packets;           /* ... or every N packets: 10000 */
    bool key_vlan;                   /* VLAN id is part of the key (Arkime sessionIdTracking=vlan) */
};

/* why a session record is emitted */
enum session_end {
    SESSION_END_IDLE = 0,            /* idle timeout */
    SESSION_END_CLOSED,              /* TCP closed and close timeout passed */
    SESSION_END_SEGMENT,             /* long session: a segment saved, the session goes on */
    SESSION_END_EVICTED,             /* table full */
    SESSION_END_FLUSH,               /* end of input / shutdown */
    SESSION_END_RESTART,             /* a new SYN on a closing session */
};

struct session_table_stats {
    uint64_t active, created, emitted, segments, evicted, packets;
    uint64_t icmp_answered;          /* sessions an ICMP error quoting them marked */
};

/* The callback may release what the session holds per record (packet positions): after it
 * returns, the table resets counters (a segment) or frees the session. */
typedef void (*session_emit_fn)(void *ctx, struct session *s, enum session_end why);

struct session_table;

/* pool may be NULL (no app fields); its slots are released as sessions leave. */
struct session_table *session_table_new(const struct session_table_config *cfg,
                                        struct app_pool *pool, session_emit_fn emit, void *ctx,
                                        char err[ASH_ERR_LEN]);
void session_table_free(struct session_table *t);

/* With key_vlan: map[4096] gives the id each VLAN id keys as (Arkime's [vlan-vni-collapse],
 * sensor_config_vlan_collapse()); NULL, the default, keys each id as itself. The map is the
 * caller's and must outlive the table. Call before the first packet. */
void session_table_set_vlan_map(struct session_table *t, const uint16_t *map);

/* Count one decoded IP packet (decode_packet() returned 0) at time ts_us. Returns its session
 * and sets *dir (0 from the initiator, 1 from the responder). Never fails: a full table
 * evicts its oldest idle session. */
struct session *session_table_packet(struct session_table *t, const struct decoded *d,
                                     int64_t ts_us, int *dir);

/* The live session d would join, or NULL; counts nothing, makes nothing (a fragment whose
 * datagram is not whole yet: its stored position can join the session already). */
struct session *session_table_find(struct session_table *t, const struct decoded *d);

/* After the caller has looked at the packet (app parsers): save a segment if the session
 * reached max_packets, then run the timers (see Trap). s may be NULL (a packet with no
 * session still moves the clock). */
void session_table_after_packet(struct session_table *t, struct session *s, int64_t ts_us);

/* Run the timers up to now_us without a packet (live capture idles, the clock goes on). */
void session_table_advance(struct session_table *t, int64_t now_us);

/* Emit and free every session, oldest first on each timer list (end of input, shutdown). */
void session_table_flush(struct session_table *t);

void session_table_stats(const struct session_table *t, struct session_table_stats *out);

/* bytes the table allocated at start (slots + buckets), for the memory benchmark */
size_t session_table_memory(const struct session_table *t);

#endif
