/* auth.h -- the aggregator's ZAP handler: who may connect.
 * Owns:  a thread answering libzmq's ZAP requests on inproc://zeromq.zap.01: CURVE clients
 *        are accepted only when their public key is in the allow-list, and the sensor name
 *        from the list becomes the connection's User-Id (every record is attributed to it);
 *        plaintext (NULL mechanism) clients only when insecure mode is on.
 * Lends: nothing.
 * Never: accepts an unknown key; logs a refused key more than once a minute per key.
 * Trap:  without this handler libzmq accepts any client that knows the server key. */
#ifndef ASHIATO_AUTH_H
#define ASHIATO_AUTH_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "curve.h"

struct auth;

struct auth_stats {
    uint64_t accepted, refused;
};

/* allow may be NULL only when insecure; the handler keeps a pointer to it (the caller frees
 * it after auth_stop) */
struct auth *auth_start(void *zctx, const struct curve_allow *allow, bool insecure,
                        char err[ASH_ERR_LEN]);
void auth_stop(struct auth *a);
/* Swap in a new allow-list (SIGHUP reload); the old one may be freed once this returns.
 * Connections already accepted stay up: only new handshakes see the new list. */
void auth_set_allow(struct auth *a, const struct curve_allow *allow);
void auth_stats(struct auth *a, struct auth_stats *out);

#endif
