/* detect_internal.h -- what the detection library's files share, and nobody else.
 * Owns:  struct detect and the per-record facts (struct detect_facts) every detector reads.
 * Never: is included outside aggregator/detect/. */
#ifndef ASHIATO_DETECT_INTERNAL_H
#define ASHIATO_DETECT_INTERNAL_H

#include "detect.h"
#include "hmap.h"
#include "window.h"

enum detect_outcome { OUTCOME_UNKNOWN = 0, OUTCOME_SUCCESS, OUTCOME_FAILURE };

#define SEG_OUTSIDE (-1)

/* detect_segment.c: the [segments] prefixes compiled for lookups (detect_segidx_build, at
 * detect_new and each placement change): one hash probe per distinct prefix length, longest
 * first, instead of a pass over every prefix; the same answers as detect_segment_of and
 * detect_addr_discovery (test_detect `segment_index_is_linear`). */
#define SEGIDX_SLOTS 1024       /* >= 2 x DETECT_MAX_PREFIXES: at most half full */
struct detect_segidx {
    uint8_t lens[129];          /* distinct prefix lengths, longest first */
    size_t n_lens;
    uint8_t bcast[32];          /* those of IPv4 prefixes with a directed broadcast (/0../30) */
    size_t n_bcast;
    struct segidx_slot { uint8_t net[16]; uint8_t bits, used; int16_t segment; } slot[SEGIDX_SLOTS];
};
void detect_segidx_build(struct detect_segidx *x, const struct detect_config *c);
int detect_segidx_of(const struct detect_segidx *x, const uint8_t a[16]);
bool detect_segidx_discovery(const struct detect_segidx *x, const uint8_t a[16]);

/* What the engine works out once per record, for every detector. */
struct detect_facts {
    const struct detect_record *r;
    int src_seg, dst_seg;       /* segment index or SEG_OUTSIDE */
    int sensor_seg;             /* the sensor's segment, or SEG_OUTSIDE when unmapped */
    enum detect_outcome outcome;
    bool attempt;               /* an initiator's attempt that scan detectors count */
    bool discovery;             /* multicast/broadcast or service discovery: never an attempt */
    bool duplicate;             /* a second sensor's record of a flow already counted */
    int icmp_type;              /* -1 unless ICMP/ICMPv6 and recognised */
    bool icmp_failed;           /* an ICMP error answered the attempt: a sure failure */
    bool approved;              /* the source is on the allow-list */
    const struct detect_hashes *h;  /* hashes taken once for the record */
};

/* What the engine hashes once per record (detect_feed_batch takes them a few records ahead,
 * to prefetch with): each detector reuses them instead of hashing the record again. */
struct detect_hashes {
    uint64_t link;              /* detect_link_hash of the Community ID */
    uint64_t src;               /* detect_source_hash: every table keyed on the source alone */
    uint64_t trw_value;         /* TRW's host value (detect_trw_value), when trw */
    bool trw;                   /* TRW may count the record: trw_value was taken */
    struct window_entry *trw_entry; /* the source's TRW entry found ahead (NULL: look it up) */
    uint64_t trw_gen;           /* the TRW window's generation when it was found */
};

/* The source's hash, one for every table keyed on the source address alone (TRW's and the
 * lateral window's maps, made with DETECT_SRC_SEED, and the spike bins' source tables), so a
 * record's source is hashed once. Never 0 (as hmap's hashes). */
#define DETECT_SRC_SEED 0x737263ULL
uint64_t detect_source_hash(const uint8_t src[16]);

struct detect_alerts {          /* detect_alert.c: every open alert */
    struct detect_alert **v;
    size_t n, cap;
};

struct detect {
    struct detect_config cfg;
    detect_sink_fn sink;
    void *sink_ctx;
    struct detect_stats st;
    int64_t now_us;             /* newest record time seen */
    int64_t wall_us;            /* detect_set_wall's, INT64_MIN when never given */
    int64_t first_us;           /* oldest first record time (lateral baseline) */
    int64_t last_expire_us;
    char sensor_names[64][DETECT_NAME_LEN];     /* sensors met, for bit masks */
    int64_t sensor_newest[64];                  /* each one's newest record time */
    size_t n_sensor_names;
    const char *last_sensor;    /* the previous record's sensor: index and segment cached */
    int last_index, last_segment;
    struct detect_alerts alerts;
    struct detect_link *link;
    detect_link_fn link_sink;
    void *link_ctx;
    struct window *addr_scan, *port_scan, *dark_scan, *trw, *lateral, *servers, *policy;
    struct detect_spike *spike;
    double trw_up, trw_down, trw_eta1, trw_eta0;   /* TRW's steps and bounds (logs, once) */
    struct detect_segidx segidx;                   /* cfg's [segments], compiled */
};

/* detect.c: the sensor's index (< 64) among those met, -1 past 64 */
int detect_sensor_index(struct detect *d, const char *sensor);

/* detect_segment.c */
int detect_segment_of(const struct detect_config *c, const uint8_t a[16]);
int detect_sensor_segment(const struct detect_config *c, const char *sensor);
bool detect_in_list(const struct detect_prefix *list, size_t n, const uint8_t a[16]);
bool detect_addr_private(const uint8_t a[16]);
bool detect_addr_discovery(const uint8_t a[16], const struct detect_config *c);

/* detect_outcome.c */
void detect_outcome(const struct detect_config *c, const struct detect_segidx *x,
                    const struct detect_record *r, struct detect_facts *f);

/* detect_link.c: true when the flow was already counted (another sensor's record, then
 * pair->other_id names that record: valid until the next call; NULL for the same sensor's) */
struct detect_link_pair {
    const char *other_id;
    int other_sensor;           /* index into struct detect's sensor_names */
    int64_t other_start_us;
};
struct detect_link *detect_link_new(const struct detect_config *c);
void detect_link_free(struct detect_link *l);
uint64_t detect_link_hash(const char *community_id);
void detect_link_prefetch(const struct detect_link *l, uint64_t hash);
void detect_link_prefetch_entry(const struct detect_link *l, uint64_t hash);
bool detect_link_seen(struct detect_link *l, const struct detect_record *r, uint64_t hash,
                      int sensor, int64_t now_us, struct detect_link_pair *pair);
uint64_t detect_link_full(const struct detect_link *l);
void detect_link_expire(struct detect_link *l, int64_t now_us);
size_t detect_link_bytes(const struct detect_link *l);

/* detect_alert.c */
struct detect_alert *detect_alert_open(struct detect *d, const char *rule, const uint8_t *src,
                                       const char *key, int64_t t_us);
void detect_alert_touch(struct detect *d, struct detect_alert *a, const struct detect_facts *f);
void detect_alert_host(struct detect_alert *a, const uint8_t ip[16], uint32_t max);
void detect_alert_port(struct detect_alert *a, uint16_t port, uint32_t max);
void detect_alert_sensor(struct detect_alert *a, const char *sensor);
void detect_alert_evidence(struct detect_alert *a, const char *id, uint32_t max);
void detect_alert_close(struct detect *d, struct detect_alert *a);
void detect_alert_send_dirty(struct detect *d);
void detect_alert_close_all(struct detect *d);
void detect_alert_free_all(struct detect *d);

/* the detectors: each takes the facts of one counted record */
int detect_scan_init(struct detect *d);
void detect_scan_feed(struct detect *d, const struct detect_facts *f);
int detect_trw_init(struct detect *d);
void detect_trw_feed(struct detect *d, const struct detect_facts *f);
uint64_t detect_trw_value(const struct detect_record *r);     /* what TRW counts: the host */
void detect_trw_close(struct window_entry *e, void *ctx);
int detect_lateral_init(struct detect *d);
void detect_lateral_feed(struct detect *d, const struct detect_facts *f);
void detect_lateral_dup(struct detect *d, const struct detect_facts *f);
void detect_lateral_close(struct window_entry *e, void *ctx);
int detect_policy_init(struct detect *d);
void detect_policy_feed(struct detect *d, const struct detect_facts *f);
int detect_spike_init(struct detect *d);
void detect_spike_feed(struct detect *d, const struct detect_facts *f);
void detect_spike_prefetch(const struct detect *d, int sensor, const struct detect_record *r,
                           uint64_t src_hash);
void detect_spike_tick(struct detect *d, int64_t now_us, bool flush);
void detect_spike_wall(struct detect *d);
void detect_spike_placement_changed(struct detect *d);
void detect_spike_free(struct detect_spike *s);
size_t detect_spike_bytes(const struct detect_spike *s);

/* window expiry callback shared by detectors whose entries own an alert (e->user) */
void detect_window_close(struct window_entry *e, void *ctx);
/* a window's key from parts */
struct detect_key { uint8_t a[16]; uint8_t b[16]; uint16_t port; uint8_t proto; uint8_t pad; };

#endif
