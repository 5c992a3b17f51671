/* ship.h -- the sensor's connection to the aggregator: one DEALER socket, connected out.
 * Owns:  the shipper thread, its ZeroMQ context and socket (CURVE client unless insecure,
 *        heartbeats, reconnect with backoff, ZMQ_IMMEDIATE), the send window over the outbox,
 *        acknowledgements (outbox_ack), resends after silence or reconnect, the periodic
 *        SensorStats message, and packet requests that arrive on the same connection.
 * Lends: nothing.
 *        Logs: the aggregator's reasons (Ack.reason: a refused batch, dropped records) at
 *        most once per 10 s; a refused handshake once per attempt, attempts backed off from
 *        1 s doubling to 60 s; "no connection" once after 10 s down, and the reconnection.
 * Never: drops a batch (only outbox.c's bound does, counted); touches the capture path;
 *        resends a refused batch at once (only after resend_ms of silence).
 * Trap:  the outbox is shared with the batcher: every outbox call holds ob_lock. */
#ifndef ASHIATO_SHIP_H
#define ASHIATO_SHIP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "outbox.h"

struct ship_config {
    char endpoint[256];              /* tcp://aggregator:5555 */
    char key_file[1024];             /* this sensor's keypair (ashiato keygen) */
    char server_key[1024];           /* the aggregator's public key: 40 Z85 chars or a .pub file */
    bool insecure;                   /* plaintext: only when the aggregator allows it too */
    long long window;                /* batches in flight before waiting for acks */
    long long resend_ms;             /* no ack progress for this long: resend from the watermark */
    long long heartbeat_ms;          /* ZMTP heartbeats; the peer is dead after 3 missed */
    long long stats_interval_ms;
};

struct ship;

/* A packet request from the aggregator: answer with zero or more responses through
 * ship_reply(). Runs on the shipper thread. */
typedef void (*ship_request_fn)(void *ctx, struct ship *s, const Ashiato__PacketRequest *req);

struct ship_stats {
    bool connected;
    uint64_t sent, resent, acks, connects, disconnects, bad_messages, handshake_failures;
    uint64_t syncs;                  /* journal fdatasyncs (outbox_sync = true) */
};

struct ship *ship_start(const struct ship_config *cfg, const char *sensor, struct outbox *ob,
                        pthread_mutex_t *ob_lock, char err[ASH_ERR_LEN]);
/* Wait until every journalled batch is acknowledged; 0, or -1 after timeout_ms. */
int ship_drain(struct ship *s, long long timeout_ms);
void ship_stop(struct ship *s);      /* accepts NULL */

void ship_set_request_handler(struct ship *s, ship_request_fn fn, void *ctx);
/* send a packet response (from the request handler, on the shipper thread) */
int ship_reply(struct ship *s, const Ashiato__PacketResponse *resp);

/* the latest stats to send; copied under a lock, sent every stats_interval_ms */
void ship_publish_stats(struct ship *s, const Ashiato__SensorStats *st);
/* send the published stats now (if connected) rather than at the next interval, and wait up to
 * timeout_ms for the shipper thread to have done it: 0, or -1 on timeout */
int ship_flush_stats(struct ship *s, long long timeout_ms);
void ship_stats(struct ship *s, struct ship_stats *out);

#endif
