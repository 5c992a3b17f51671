/* auth.h -- the aggregator's ZAP handler: who may connect.
 * Owns:  a thread answering libzmq's ZAP requests on inproc://zeromq.zap.01: CURVE clients
 *        are accepted only when their public key is in the allow-list, and the sensor name
 *        from the list becomes the connection's User-Id (every record is attributed to it);
 *        plaintext (NULL mechanism) clients only when insecure mode is on.
 * Lends: nothing.
 * Never: accepts an unknown key; logs more than 5 refused keys a minute one by one (the rest
 *        are counted and summed up in one line per minute: how many, the last key).
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
    uint64_t refused_quiet;          /* refusals only counted, not logged one by one */
};

/* allow may be NULL only when insecure; the handler keeps a pointer to it (the caller frees
 * it after auth_stop) */
struct auth *auth_start(void *zctx, const struct curve_allow *allow, bool insecure,
                        char err[ASH_ERR_LEN]);
void auth_stop(struct auth *a);
void auth_stats(struct auth *a, struct auth_stats *out);
/* log the summary line of the refusals not logged one by one, now (auth_stop does too) */
void auth_log_summary(struct auth *a);

#endif
