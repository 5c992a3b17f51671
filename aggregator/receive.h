/* receive.h -- the aggregator's end of the sensor connections.
 * Owns:  the ROUTER socket (CURVE server unless insecure) and its monitor, each sensor's
 *        stream state (authenticated name, journal epoch, committed sequence, routing id),
 *        committing batches to the store in sequence and acknowledging them only after, and
 *        sensor stats into the store.
 * Lends: nothing.
 * Never: acknowledges a batch the store has not confirmed; lets one sensor's garbage disturb
 *        another (a bad message is counted, dropped, and logged at most once every 10 s with
 *        the number rejected since).
 * Trap:  a batch is committed only if the sensor's previous batch (prev_seq) is; otherwise
 *        the answer is an ack of what is committed, and the sensor resends from there.
 *        Batches are committed in groups (group commit): everything that arrived while the
 *        previous group was being committed goes into one store transaction, and only then
 *        are those batches acknowledged (one cumulative ack per sensor stream). A group that
 *        the store refuses for good (STORE_ERR) is put again batch by batch, so one bad batch
 *        holds only its own sensor back; STORE_ERR_RETRY leaves the whole group
 *        unacknowledged, and the sensors resend it.
 *        Identity: a batch whose Batch.sensor or any record's observer_name is not the
 *        authenticated (allow-list) name is refused: not committed, counted
 *        (identity_refused), logged at most once every 10 s per sensor stream, and answered
 *        with an Ack whose reason says why (at most once a second per stream). A record with a time outside
 *        1970..2100 is the store's to dead-letter; a batch the store refuses for good alone
 *        (no dead-letter file) is committed without its records, counted (dropped_batches,
 *        dropped_records) and the sensor told why: one bad record never stalls a stream.
 *        Store file: when store_path is set, its device and inode are taken at open and
 *        compared on every tick and before every commit; once the file is gone or replaced
 *        (someone deleted the database directory) nothing more is committed or acknowledged
 *        and an error is logged once a minute: the sensors keep their batches. */
#ifndef ASHIATO_RECEIVE_H
#define ASHIATO_RECEIVE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "curve.h"
#include "event_loop.h"
#include "store.h"

/* Records in one store transaction at most: below the store's batch_max (100000). With the
 * default credit (8 batches of 2000 records per sensor) a group is what the sensors have in
 * flight, ~48k records for three; with credit 32, groups reached this bound. */
#define RECEIVE_GROUP_RECORDS_DEFAULT 65536

struct receive_config {
    char listen[256];                /* tcp://0.0.0.0:5555 */
    bool insecure;
    const struct curve_keypair *server_keys;   /* NULL when insecure */
    long long credit;                /* batches a sensor may have in flight */
    long long heartbeat_ms;
    long long group_records;         /* records in one store transaction at most; 0 = default
                                      * (a single larger batch is still committed alone) */
    char store_path[1024];           /* the SQLite file to watch (device, inode); "" = none */
};

struct receive_stats {
    uint64_t batches, records, duplicates, gaps, store_retries, store_errors;
    uint64_t bad_messages, stats_messages, handshake_failures, sensors;
    uint64_t groups;                 /* store transactions that committed batches */
    uint64_t identity_refused;       /* batches refused: sensor/observer_name not the
                                      * authenticated name */
    uint64_t dropped_batches, dropped_records;   /* refused for good by the store: committed
                                                  * empty so that the stream goes on */
    uint64_t bad_time_records;       /* records with a time outside 1970..2100 (the store
                                      * dead-letters them) */
    bool store_lost;                 /* the store file was removed or replaced: no more acks */
};

struct receive;

struct receive *receive_open(void *zctx, const struct receive_config *cfg, struct store *st,
                             char err[ASH_ERR_LEN]);
/* Commits nothing that is still pending (those batches stay unacknowledged and the sensors
 * resend them to the next aggregator). Accepts NULL. */
void receive_close(struct receive *r);
/* Register the ROUTER, its monitor and a 1 s tick (store-file check, ingest burst line) on
 * the loop; everything then runs from event_loop_run*(). 0, or -1 (err filled). Call once;
 * receive_close() does not unregister: free the loop first or remove nothing after close. */
int receive_attach(struct receive *r, struct event_loop *loop, char err[ASH_ERR_LEN]);
/* Without a loop (tests, tools): handle whatever arrives within timeout_ms, commit it,
 * acknowledge it, and tick when due; 0, or -1 on a socket error. */
int receive_poll(struct receive *r, int timeout_ms);
void receive_stats(const struct receive *r, struct receive_stats *out);

/* Packet requests travel to sensors over their own connections (packet_broker.c). */
typedef void (*receive_response_fn)(void *ctx, const char *sensor,
                                    const Ashiato__PacketResponse *resp);
/* every PacketResponse a sensor sends goes to fn (NULL: they are counted and dropped) */
void receive_set_response_handler(struct receive *r, receive_response_fn fn, void *ctx);
/* send a packed Envelope to the connected sensor called name; -1 if it is not connected */
int receive_send_to_sensor(struct receive *r, const char *name, const uint8_t *data, size_t len);

/* The post-commit hook (detectors, counters): called on the receive thread right after a
 * store transaction SUCCEEDED, once per transaction, with the batches it committed, in the
 * order they were committed (a sensor's batches in sequence order).
 *   - Only newly committed batches: a re-delivered batch (seq at or below what is committed
 *     or pending for its stream) never reaches the store nor the hook, so nothing is seen
 *     twice through this hook, across reconnects and resends. (A sensor whose journal was
 *     wiped starts a new epoch: its replayed records are new batches; the store dedupes them
 *     by id, the hook sees them again. Dedupe by record id if that matters.)
 *   - Never for refused batches (identity) or batches the store dropped for good; records
 *     of a committed batch that the store dead-lettered (time outside 1970..2100, bad id)
 *     are still in records[] (check start_us against STORE_TIME_MAX if that matters).
 *   - sensor is the authenticated name (what the store files the rows under); records are
 *     the decoded records exactly as stored, valid ONLY during the call (they live in the
 *     receive arena, reset after the commit): copy what you keep. The store's transaction
 *     is over: the hook may use the same store handle (store_put_alert, links), on this
 *     thread; it must not call into receive, and must not block (it runs between the
 *     commit and the acknowledgements: its time is added to every ack's latency).
 * fn NULL removes the hook. */
struct receive_committed {
    const char *sensor;
    uint64_t epoch, seq;
    const Ashiato__SessionRecord *const *records;
    size_t n_records;
};
typedef void (*receive_commit_fn)(void *ctx, const struct receive_committed *batches, size_t n);
void receive_set_commit_hook(struct receive *r, receive_commit_fn fn, void *ctx);

#endif
