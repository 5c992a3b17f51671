/* detect.h -- the detection library: scans, scanners (TRW), lateral movement across segments,
 * session-count spikes and address policy, over a stream of session records. The aggregator
 * feeds it what a group commit stored; `ashiato detect` feeds it session JSON lines.
 * Owns:  the engine (struct detect): its config copy, segment table, cross-sensor link table,
 *        per-detector state (common/window.c entries in common/hmap.c maps, all capped) and
 *        the alerts while they grow.
 * Lends: alerts to the sink callback, valid during the call only.
 * Never: changes or stores a record; reads files, sockets or the clock (time comes from the
 *        records and from detect_tick's argument); logs (counters in detect_stats instead).
 * Trap:  records are keyed on the initiator (source), so a host that only answers (DoS
 *        backscatter) is never a scanner; a record with zero packets is no attempt; a flow seen
 *        by two sensors (same Community ID, starts within link_skew) counts once.
 *
 * Files: detect.c (engine), detect_config.c (defaults, INI keys), detect_segment.c
 * (prefixes), detect_outcome.c (success/failure/unknown, ICMP types), detect_link.c,
 * detect_scan.c (address and port scans), detect_trw.c, detect_lateral.c, detect_spike.c,
 * detect_policy.c, detect_alert.c (alert objects, JSON, protobuf). */
#ifndef ASHIATO_DETECT_H
#define ASHIATO_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ashiato.h"

#define DETECT_MAX_SEGMENTS   64
#define DETECT_MAX_PREFIXES   256
#define DETECT_NAME_LEN       48
#define DETECT_ADMIN_PORTS    16

struct detect_prefix {
    uint8_t addr[16];           /* IPv4 as ::ffff:a.b.c.d */
    uint8_t bits;               /* over the 128-bit form */
    int16_t segment;            /* index into segments, -1 for lists (approved, darknet) */
};

struct detect_config {
    /* [segments] name = prefix, prefix ... ; [sensors] sensor = segment */
    char segments[DETECT_MAX_SEGMENTS][DETECT_NAME_LEN];
    size_t n_segments;
    struct detect_prefix prefixes[DETECT_MAX_PREFIXES];
    size_t n_prefixes;
    struct { char sensor[DETECT_NAME_LEN]; int segment; } sensors[DETECT_MAX_SEGMENTS * 4];
    size_t n_sensors;
    /* [detect] approved = ..., darknet = ... (prefix lists) */
    struct detect_prefix approved[DETECT_MAX_PREFIXES], darknet[DETECT_MAX_PREFIXES];
    size_t n_approved, n_darknet;

    int64_t link_skew_us;               /* link_skew (s), default 1 */
    int64_t scan_window_us;             /* scan_window (s), default 300 */
    uint32_t address_scan_hosts;        /* 25 */
    uint32_t address_scan_hosts_internal;   /* 100 */
    uint32_t address_scan_hosts_darknet;    /* 3 */
    int64_t darknet_window_us;          /* darknet_window (s), default 3600 */
    uint32_t port_scan_ports;           /* 15 */
    double trw_theta0, trw_theta1, trw_alpha, trw_beta;  /* 0.8 0.2 0.01 0.99 */
    int64_t trw_memory_us;              /* trw_memory (s): per-source state, default 3600 */
    int64_t lateral_window_us;          /* lateral_window (s), 3600 */
    uint32_t lateral_segments;          /* other segments reached, 2 */
    uint32_t lateral_min_targets;       /* hosts with evidence, 4 */
    uint32_t known_server_clients;      /* distinct clients that make a known server, 3 */
    int64_t lateral_baseline_us;        /* lateral_baseline (s): learning time, 600 */
    uint16_t admin_ports[DETECT_ADMIN_PORTS];   /* 22 135 139 445 3389 5985 5986 */
    size_t n_admin_ports;
    int64_t spike_bin_us;               /* spike_bin (s), 60 */
    double spike_lambda;                /* 0.25 */
    double spike_sigmas;                /* 3 */
    uint32_t spike_min_count;           /* 100 */
    double spike_min_ratio;             /* count >= ratio x baseline too, 1.5 */
    uint32_t spike_warmup_bins;         /* 5 */
    int64_t spike_grace_us;             /* spike_grace (s): wait for late records, 600 */
    bool policy_private;                /* private space not in any segment, true */
    bool policy_foreign_segment;        /* a segment's prefix at another's sensor, true */
    int64_t policy_period_us;           /* aggregation period, 3600 */
    size_t max_sources;                 /* entries per detector table, 262144 */
    /* outputs (the aggregator's; the library ignores them) */
    bool alert_syslog;                  /* also send each final alert to syslog */
    char alert_webhook[512];            /* POST each new, grown and final alert's JSON here */
    uint32_t webhook_retries;           /* 3 */
    uint32_t max_targets;               /* targets and evidence ids kept per alert, 20 */
};

/* Defaults (documented in docs/detection.md with their sources). */
void detect_config_defaults(struct detect_config *c);
/* One INI key (an inih handler's arguments): sections detect, segments, sensors. 0 done,
 * 1 not a detection key (section unknown: the caller's), -1 bad value (err says why). */
int detect_config_set(struct detect_config *c, const char *section, const char *key,
                      const char *value, char err[ASH_ERR_LEN]);
/* Read an INI file's detection sections (others ignored). 0 or -1 with err "file:line: ...". */
int detect_config_load(struct detect_config *c, const char *path, char err[ASH_ERR_LEN]);
/* Copy the placement settings ([segments], [sensors], [detect] approved and darknet) from src
 * into dst, leaving dst's other settings as they are. */
void detect_config_placement(struct detect_config *dst, const struct detect_config *src);
/* The [segments] of c as a common/segmap.h map (detect_segmap.c): the store's ashiato.segments. */
struct segmap;
void detect_config_segmap(const struct detect_config *c, struct segmap *out);

/* "10.1.2.0/24" or "2001:db8::/48" or a bare address into p; 0 or -1. */
int detect_prefix_parse(const char *text, struct detect_prefix *p);
bool detect_prefix_match(const struct detect_prefix *p, const uint8_t addr[16]);

/* One session record, as the engine reads it (the caller's storage; strings NUL-ended). */
struct detect_record {
    const char *sensor;         /* observer.name (the authenticated identity in the aggregator) */
    const char *session_id;     /* text form, as in ashiato.session_id */
    const char *community_id;   /* "" when unknown */
    const char *conn_state;     /* Zeek code, "" when unknown */
    int64_t start_us, end_us;
    uint8_t src[16], dst[16];   /* IPv4 as ::ffff:a.b.c.d */
    uint16_t sport, dport;
    uint8_t proto;              /* IANA number */
    uint64_t src_packets, dst_packets, src_bytes, dst_bytes;   /* bytes: L4 payload */
    uint8_t icmp_error;         /* ashiato.icmp_error.type: an ICMP error that quoted the
                                 * initiator's packet answered it (the attempt failed); 0 none */
};

/* One session JSON line (NUL-ended) into r. The record's strings point into *strings (one
 * malloc'd block, the caller frees it). 0, or -1 when the line is no session (nothing to free:
 * *strings is NULL): not JSON, no parseable event.start or source/destination ip. */
int detect_json_record(const char *line, struct detect_record *r, char **strings);

/* 4 or 16 bytes (network order) into the 16-byte form; -1 for other lengths */
int detect_addr_set(uint8_t out[16], const uint8_t *ip, size_t len);
bool detect_addr_is_v4(const uint8_t a[16]);
void detect_addr_text(const uint8_t a[16], char out[48]);

/* ---- alerts ---- */
#define DETECT_TARGETS_MAX 64
#define DETECT_EVIDENCE_BYTES 4096      /* evidence ids, each whole and NUL-ended */

struct detect_alert {
    char id[48];                /* stable while the alert grows: "rule-" and 24 hex digits */
    const char *rule;           /* address_scan, port_scan, scanner, lateral_movement,
                                 * session_spike, address_policy */
    uint8_t source[16];
    bool has_source;
    int64_t start_us, end_us;
    uint8_t hosts[DETECT_TARGETS_MAX][16];
    uint32_t n_hosts;           /* kept (<= max_targets) */
    uint64_t total_hosts;       /* distinct, counted */
    uint16_t ports[DETECT_TARGETS_MAX];
    uint32_t n_ports;
    uint64_t total_ports;
    uint8_t sources[DETECT_TARGETS_MAX][16];   /* session_spike: the sources of the excess */
    uint32_t n_sources;
    uint64_t segments;          /* bit i: config segment i */
    bool outside;               /* "outside" is among the segments */
    char sensors[16][DETECT_NAME_LEN];
    uint32_t n_sensors;
    /* the evidence sessions' ids (detect_alert_evidence_id), whole however long: side by
     * side in evidence_ids (inside the struct: an alert is copied by value, by its sinks and
     * across threads, so it owns no heap memory); an id that no longer fits is not kept
     * (never cut: a cut id would name no session) */
    uint16_t evidence_at[DETECT_TARGETS_MAX];
    uint32_t n_evidence;
    uint32_t evidence_len;      /* bytes of evidence_ids in use */
    char evidence_ids[DETECT_EVIDENCE_BYTES];
    uint64_t sessions, successes, failures;
    double score;
    bool approved;
    char prefix[64];            /* address_policy: the prefix; session_spike: the segment */
    double baseline, sigma;     /* session_spike: the EWMA and robust sigma of the bin */
    char message[320];
    bool dirty;                 /* changed since last sent to the sink */
};

/* The sink: each new or grown alert (final: the alert's state ended and it will not change
 * again, or detect_flush). */
typedef void (*detect_sink_fn)(const struct detect_alert *a, bool final, void *ctx);

struct detect_stats {
    uint64_t records, ignored_zero, linked, attempts_failed, attempts_ok, attempts_unknown;
    uint64_t alerts, alert_updates, cap_hits, late_records;
    uint64_t wall_judged;       /* spike bins raised on the wall clock (detect_set_wall) */
    size_t bytes;               /* state memory (maps, entries, alerts) */
    size_t sources;             /* per-source entries across detectors */
};

struct detect;

/* cfg is copied. NULL and err on failure. */
struct detect *detect_new(const struct detect_config *cfg, detect_sink_fn sink, void *ctx,
                          char err[ASH_ERR_LEN]);
void detect_free(struct detect *d);         /* accepts NULL; sends nothing */
/* A reload (the aggregator's SIGHUP): take cfg's placement (detect_config_placement); the
 * other settings size the state and keep detect_new's values. Call between records, on the
 * thread that feeds. Open alerts keep their segment bits, named from the new list. */
void detect_set_placement(struct detect *d, const struct detect_config *cfg);

/* Feed one committed record. */
void detect_feed(struct detect *d, const struct detect_record *r);
/* Feed n records in order, as n detect_feed calls would (the same results), with the
 * lookups of the records ahead prefetched. */
void detect_feed_batch(struct detect *d, const struct detect_record *const *r, size_t n);

/* The link sink: a record (id_b at sensor_b, starting at start_b_us) that is another
 * sensor's copy of a flow already counted (id_a at sensor_a): the two name each other
 * (ashiato.linked). Strings valid during the call only. */
typedef void (*detect_link_fn)(const char *id_a, const char *sensor_a, int64_t start_a_us,
                               const char *id_b, const char *sensor_b, int64_t start_b_us,
                               void *ctx);
void detect_set_link_sink(struct detect *d, detect_link_fn fn, void *ctx);
/* Advance to now_us (record time: the newest record time seen, or the wall clock in the
 * aggregator): close spike bins, expire state, send grown alerts. */
void detect_tick(struct detect *d, int64_t now_us);
/* The wall clock (us) when the records fed next arrived (the aggregator's; the engine never
 * reads a clock). With it, detect_tick also judges the spike bins whose end + spike_grace
 * has passed on the wall clock since their segment's newest record arrived (a spike at the
 * end of traffic is raised without waiting for newer records); the baselines still move on
 * record time only. Offline (never called) nothing changes. */
void detect_set_wall(struct detect *d, int64_t wall_us);
/* End of input: evaluate what is pending and send every alert as final. */
void detect_flush(struct detect *d);
struct detect_stats detect_stats(const struct detect *d);

/* The i-th evidence session id of a (i < a->n_evidence), NUL-ended, whole. */
const char *detect_alert_evidence_id(const struct detect_alert *a, uint32_t i);

/* Render an alert as its ECS JSON document (one line, no newline); malloc'd, NULL if out of
 * memory. cfg names the segments. */
char *detect_alert_json(const struct detect_alert *a, const struct detect_config *cfg);

#endif
