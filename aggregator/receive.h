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
 *        unacknowledged, and the sensors resend it. */
#ifndef ASHIATO_RECEIVE_H
#define ASHIATO_RECEIVE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "curve.h"
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
};

struct receive_stats {
    uint64_t batches, records, duplicates, gaps, store_retries, store_errors;
    uint64_t bad_messages, stats_messages, handshake_failures, sensors;
    uint64_t groups;                 /* store transactions that committed batches */
};

struct receive;

struct receive *receive_open(void *zctx, const struct receive_config *cfg, struct store *st,
                             char err[ASH_ERR_LEN]);
/* Commits nothing that is still pending (those batches stay unacknowledged and the sensors
 * resend them to the next aggregator). Accepts NULL. */
void receive_close(struct receive *r);
/* Handle whatever arrives within timeout_ms, commit it, acknowledge it; 0, or -1 on a socket
 * error. */
int receive_poll(struct receive *r, int timeout_ms);
void receive_stats(const struct receive *r, struct receive_stats *out);

/* Packet requests travel to sensors over their own connections (packet_broker.c). */
typedef void (*receive_response_fn)(void *ctx, const char *sensor,
                                    const Ashiato__PacketResponse *resp);
/* every PacketResponse a sensor sends goes to fn (NULL: they are counted and dropped) */
void receive_set_response_handler(struct receive *r, receive_response_fn fn, void *ctx);
/* send a packed Envelope to the connected sensor called name; -1 if it is not connected */
int receive_send_to_sensor(struct receive *r, const char *name, const uint8_t *data, size_t len);
/* poll this extra socket too; receive_poll() reports whether it is readable */
void receive_watch(struct receive *r, void *sock);
bool receive_watched_ready(const struct receive *r);

#endif
