/* receive.h -- the aggregator's end of the sensor connections.
 * Owns:  the ROUTER socket (CURVE server unless insecure) and its monitor, each sensor's
 *        stream state (authenticated name, journal epoch, committed sequence, routing id),
 *        committing batches to the store in sequence and acknowledging them only after, and
 *        sensor stats into the store.
 * Lends: nothing.
 * Never: acknowledges a batch the store has not confirmed; lets one sensor's garbage disturb
 *        another (a bad message is counted, logged at most once a minute per sensor, dropped).
 * Trap:  a batch is committed only if the sensor's previous batch (prev_seq) is; otherwise
 *        the answer is an ack of what is committed, and the sensor resends from there. */
#ifndef ASHIATO_RECEIVE_H
#define ASHIATO_RECEIVE_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "curve.h"
#include "store.h"

struct receive_config {
    char listen[256];                /* tcp://0.0.0.0:5555 */
    bool insecure;
    const struct curve_keypair *server_keys;   /* NULL when insecure */
    long long credit;                /* batches a sensor may have in flight */
    long long heartbeat_ms;
};

struct receive_stats {
    uint64_t batches, records, duplicates, gaps, store_retries, store_errors;
    uint64_t bad_messages, stats_messages, handshake_failures, sensors;
};

struct receive;

struct receive *receive_open(void *zctx, const struct receive_config *cfg, struct store *st,
                             char err[ASH_ERR_LEN]);
void receive_close(struct receive *r);
/* Handle whatever arrives within timeout_ms; 0, or -1 on a socket error. */
int receive_poll(struct receive *r, int timeout_ms);
void receive_stats(const struct receive *r, struct receive_stats *out);

#endif
