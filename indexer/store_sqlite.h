/* store_sqlite.h -- what the files of the SQLite backend share (store_sqlite.c: open, schema,
 * writing; store_sqlite_read.c: queries; store_sqlite_postings.c: the postings of the fields
 * analysts filter on). Private to indexer/ (query_sql.c, the later query compiler, may include
 * it for the postings SQL below).
 * Owns:  struct sq (the backend's state behind st->impl), the postings field codes and the
 *        SQL contract of the table-valued function session_match().
 * Lends: nothing beyond what store_backend.h lends.
 * Never: seen outside indexer/.
 * Trap:  session_match() answers rowids of `sessions` whose field holds the value, for whole
 *        hours of event.start: a caller keeps its own start_us bounds, and the condition on
 *        the row's column where the postings are coarser (source ports, see below). */
#ifndef ASHIATO_STORE_SQLITE_H
#define ASHIATO_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "store_backend.h"

#define SQ_SCHEMA_VERSION 7      /* 5: session_minutes; 6: session_links (store_put_links);
                                  * 7: postings of tags and packets */
/* A session row's links (sessions AS s), newline-separated "id@sensor", NULL for none: the
 * fourth column of every SELECT whose rows become documents (emit_doc). */
#define SQ_LINKED_COL "(SELECT group_concat(other, char(10)) FROM session_links AS l" \
    " WHERE l.sensor = s.sensor AND l.id = s.id)"
#define SQ_HOUR_US 3600000000LL     /* the postings' time bucket: one hour of event.start */

/* Postings: for each group commit, one row of session_postings per (field, value, hour of
 * event.start) listing the rowids of the sessions that have it, instead of one b-tree entry
 * per session per field (see store_sqlite.c for the figures). Field codes as stored. */
enum sq_field {
    SQ_F_SRC_IP = 1,                 /* IPv4 INTEGER (a.b.c.d = a<<24|...), IPv6 BLOB(16) */
    SQ_F_DST_IP = 2,
    SQ_F_SRC_PORT = 3,               /* INTEGER: src_port >> SQ_SRC_PORT_SHIFT (see below) */
    SQ_F_DST_PORT = 4,
    SQ_F_SENSOR = 5,                 /* TEXT, the sessions.sensor column */
    SQ_F_PROTOCOL = 6,               /* TEXT, sessions.protocol (network.protocol) if any */
    SQ_F_TRANSPORT = 7,              /* TEXT, sessions.transport ("tcp", "udp", "icmp", "47") */
    SQ_F_TAG = 8,                    /* TEXT, each of ashiato.protocols (schema 7) */
    SQ_F_PACKETS = 9,                /* INTEGER, sessions.packets (schema 7) */
    SQ_F_COUNT
};
enum { SQ_VT_INT = 1, SQ_VT_TEXT = 2, SQ_VT_BLOB = 3 };  /* a posting value's type in its key */

/* The hour of event.start a posting is filed under (floor, also before 1970). */
static inline int64_t sq_hour_of(int64_t start_us)
{
    return start_us >= 0 ? start_us / SQ_HOUR_US : -((-start_us + SQ_HOUR_US - 1) / SQ_HOUR_US);
}

/* Source ports are mostly ephemeral: exact postings were 0.48 per session (725,830 rows for
 * 1.5M campus sessions, 152k sessions per CPU-second); one per block of 64 ports 0.009 (14,175
 * rows, 233k). session_match() answers a source port with its whole block. */
#define SQ_SRC_PORT_SHIFT 6

/* The SQL a query compiler uses to restrict `sessions` to the rows whose FIELD equals a value
 * without scanning the table (unit test: postings_answer_without_scan, EXPLAIN QUERY PLAN):
 *
 *   SELECT ... FROM sessions WHERE rowid IN (SELECT rid FROM session_match(?1, ?2, ?3, ?4))
 *          AND start_us >= ?3 AND start_us < ?4 AND <the condition on the column> ...
 *
 * ?1 a field name: src_ip dst_ip ip (either) src_port dst_port port (either) sensor protocol
 * transport tags packets protocols (transport, protocol or tags); ?2 the value: an IP as text
 * ("10.1.2.3", "2001:db8::1") or as stored, or a CIDR block as text ("10.1.0.0/16",
 * "2001:db8::/32"), a port or packet count as an integer, text otherwise; ?3, ?4 (optional,
 * NULL or 0 = open) the event.start bounds in microseconds. Up to SQ_MATCH_TERMS - 1 further
 * (field, value) pairs may follow (?5, ?6, ...): the answer is then the rows that hold every
 * pair, found from the pair with the fewest postings (session_postings' sizes) and intersected
 * with the others while they are not much larger (a superset still: the caller keeps every
 * condition). Arguments only: other constraints on its hidden columns match nothing. Rows come
 * back as a superset: by time (whole hours) and, for src_port and the source side of port, by
 * value (blocks of 64 ports); exact by value for the other fields. */
#define SQ_MATCH_FN "session_match"
#define SQ_MATCH_TERMS 4

enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INS_SESSION, ST_UPD_SEQ, ST_GET_SEQ, ST_INS_STATS,
       ST_INS_ALERT, ST_GET_DOC, ST_GET_DOC_DAY, ST_DEL_SESSIONS, ST_DEL_STATS, ST_DEL_ALERTS,
       ST_DEL_POSTINGS, ST_INS_POSTING, ST_GET_NEXT, ST_SET_NEXT, ST_FIND_ROW, ST_INS_AT,
       ST_INS_LINK, ST_DEL_LINKS, ST_INS_ROWS, ST_UPS_MINUTE, ST_DEL_MINUTES, ST_COUNT };

/* Rows per INSERT statement. One statement per record spent ~20% of the insert path opening
 * and closing its b-tree cursors (sqlite3VdbeHalt and cursor allocation, callgrind); 32 rows
 * per statement took 119k-129k sessions per CPU-second against 102k-106k for one (schema v2,
 * 1.5M sessions, two runs each). */
#define SQ_ROWS 32

struct sq_row {                      /* text bound with SQLITE_STATIC for one row */
    char id[STORE_ID_LEN], sip[48], dip[48], tbuf[8];
};

struct sq_postings;                  /* store_sqlite_postings.c */
struct sq_agg;                       /* store_sqlite_minutes.c */

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char path[1024];
    struct sq_row rows[SQ_ROWS];
    uint8_t *pack;                   /* the records being inserted, packed */
    size_t pack_cap;
    struct sq_postings *post;        /* the open transaction's postings */
    struct sq_agg *minutes;          /* the open transaction's new sessions per minute */
};

static inline struct sq *SQ(struct store *st) { return st->impl; }

/* store_sqlite.c */
int sq_fail(struct store *st, int rc, const char *what);   /* st->err from the db; a store code */
int sq_classify(int rc);                                   /* SQLite code -> store code */
int sq_run(sqlite3_stmt *stmt);                            /* step + reset; SQLITE_OK or the code */

/* store_sqlite_read.c: the backend's read entries */
int sq_query_sessions(struct store *st, const struct store_query *q, store_row_fn cb,
                      void *ctx, uint64_t *total);
int sq_count_by(struct store *st, const struct store_query *q, const struct field_def *field,
                store_row_fn cb, void *ctx);
int sq_get_session(struct store *st, const char *sensor, const char *id, store_row_fn cb,
                   void *ctx);
int sq_delete_older(struct store *st, int64_t before_us, uint64_t *deleted);
int sq_histogram(struct store *st, const struct store_query *q, int64_t width_us,
                 bool by_sensor, store_histo_fn cb, void *ctx);
/* store_sqlite_meta.c: sensor stats and alerts read back (for the HTTP API) */
int sq_latest_stats(struct store *st, store_row_fn cb, void *ctx);
/* store_sqlite_stats.c: the stats history */
int sq_stats_history(struct store *st, int64_t start_us, int64_t end_us, store_stats_fn cb,
                     void *ctx);
int sq_delete_stats_older(struct store *st, int64_t before_us);
/* sensor_stats of any schema version gets the columns oldest_packet_us and stats_interval_ms
 * (ALTER TABLE when they are missing; a read-only check otherwise) */
int sq_stats_columns(sqlite3 *db);
int sq_query_alerts(struct store *st, const struct store_query *q, store_row_fn cb, void *ctx,
                    uint64_t *total);

/* store_sqlite_minutes.c: session_minutes (schema 5) holds, per minute of event.start
 * (start_us / 60 s) and sensor, the sessions and their STORE_SUM_* sums; SQ_MINUTES_UPSERT
 * adds to a row (?1 minute, ?2 sensor, ?3 sessions, ?4..?9 the sums). */
#define SQ_MINUTES_UPSERT "INSERT INTO session_minutes (minute, sensor, n, src_packets," \
    " dst_packets, src_bytes, dst_bytes, src_data, dst_data) VALUES (?1, ?2, ?3, ?4, ?5, ?6," \
    " ?7, ?8, ?9) ON CONFLICT (minute, sensor) DO UPDATE SET n = n + excluded.n," \
    " src_packets = src_packets + excluded.src_packets, dst_packets = dst_packets +" \
    " excluded.dst_packets, src_bytes = src_bytes + excluded.src_bytes, dst_bytes =" \
    " dst_bytes + excluded.dst_bytes, src_data = src_data + excluded.src_data, dst_data =" \
    " dst_data + excluded.dst_data"
/* An aggregation of sessions into (series, bucket of width_us) counts and sums; series are
 * sensors when by_sensor, else one. NULL when out of memory. */
struct sq_agg *sq_agg_new(int64_t width_us, bool by_sensor);
void sq_agg_free(struct sq_agg *a);                        /* accepts NULL */
void sq_agg_reset(struct sq_agg *a);                       /* forget what was added; accepts NULL */
/* Add one session (or n, with their sums); -1 when out of memory. */
int sq_agg_add(struct sq_agg *a, const char *sensor, int64_t start_us, uint64_t n,
               const uint64_t sums[STORE_SUM_COUNT]);
int sq_agg_add_record(struct sq_agg *a, const char *sensor, const Ashiato__SessionRecord *r);
/* Step stmt (columns start_us, sensor, doc) and add each row; SQLITE_DONE or the code. */
int sq_agg_rows(struct sq_agg *a, sqlite3_stmt *stmt);
/* Add the session_minutes rows of minutes [m_lo, m_hi) (of one sensor, NULL = all). */
int sq_agg_minutes(struct sq_agg *a, sqlite3 *db, int64_t m_lo, int64_t m_hi, const char *sensor);
/* Hand each (series, bucket) to cb, by series name then key; 1 when cb stopped, -1 out of
 * memory. The aggregation takes no more adds after this. */
int sq_agg_emit(struct sq_agg *a, store_histo_fn cb, void *ctx);
/* Add a (by sensor, minute-wide) aggregation to session_minutes with ups (SQ_MINUTES_UPSERT)
 * and reset it; SQLITE_OK or the failing step's code. */
int sq_agg_flush(struct sq_agg *a, sqlite3_stmt *ups);
/* Recompute session_minutes for the minutes that [from_us, to_us) touches (to_us 0 = open)
 * from the sessions table; SQLITE_OK or a code. */
int sq_minutes_rebuild(sqlite3 *db, int64_t from_us, int64_t to_us);

/* store_sqlite_postings.c. A builder collects (field, value, hour, rowid) for one transaction
 * and writes them as session_postings rows; no SQLite call until sq_postings_flush(). */
struct sq_postings *sq_postings_new(void);
void sq_postings_free(struct sq_postings *p);              /* accepts NULL */
void sq_postings_reset(struct sq_postings *p);             /* forget what was added */
/* Add rowid (ascending from call to call) under each field of one session row; -1 when out of
 * memory. sip/dip: the raw address (4 or 16 bytes, else none); protocol "" = none. */
int sq_postings_add_row(struct sq_postings *p, int64_t rowid, int64_t start_us,
                        const uint8_t *sip, size_t siplen, const uint8_t *dip, size_t diplen,
                        uint32_t sport, uint32_t dport, const char *sensor, const char *protocol,
                        const char *transport, int64_t packets, char *const *tags,
                        size_t ntags);
/* The same from a stored row's columns (IPs as text, as in the sessions table): migration to
 * version 4; without schema 7's postings (sq_postings_backfill adds those). */
int sq_postings_add_columns(struct sq_postings *p, int64_t rowid, int64_t start_us,
                            const char *sip, const char *dip, int64_t sport, int64_t dport,
                            const char *sensor, const char *protocol, const char *transport);
size_t sq_postings_pending(const struct sq_postings *p);   /* rows added since the reset */
/* Write every posting with ins (ST_INS_POSTING: field, value, hour, first, rows) and reset;
 * SQLITE_OK or the failing step's code (the caller rolls back). */
int sq_postings_flush(struct sq_postings *p, sqlite3_stmt *ins);
/* Schema 7's postings (packets, tags) of every stored row, flushed with ins every flush_rows
 * rows (migration); SQLITE_OK or a code. */
int sq_postings_backfill(struct sq_postings *p, sqlite3 *db, sqlite3_stmt *ins, size_t flush_rows);
size_t sq_parse_ip(const char *text, uint8_t out[16]);     /* 4 or 16 bytes; 0: not an address */
/* store_sqlite_match.c: register session_match() on db; SQLITE_OK or a code. */
int sq_postings_register(sqlite3 *db);

#endif
