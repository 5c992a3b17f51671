/* wire.h -- what crosses the ZeroMQ connection between sensors and the aggregator.
 * Owns:  packing and unpacking of Envelope messages with size limits, the cheap framing the
 *        shipper uses to send a journalled Batch without re-encoding it, and the socket
 *        options both ends share (CURVE roles, heartbeats, reconnect backoff, limits).
 * Lends: nothing; wire_unpack() returns a message freed with wire_free().
 * Never: logs; trusts a frame (garbage becomes NULL and an error naming the byte count). */
#ifndef ASHIATO_WIRE_H
#define ASHIATO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "curve.h"

#define WIRE_MAX_MESSAGE (64 << 20)

Ashiato__Envelope *wire_unpack(const uint8_t *data, size_t len, char err[ASH_ERR_LEN]);
void wire_free(Ashiato__Envelope *env);
/* malloc'd packed envelope; NULL when out of memory */
uint8_t *wire_pack(const Ashiato__Envelope *env, size_t *len);

/* Envelope{batch} from a packed Batch plus its prev_seq field, into out (malloc'd). */
uint8_t *wire_frame_batch(const uint8_t *batch, size_t len, uint64_t prev_seq, size_t *out_len);

/* protobuf varint helpers for hand-framed messages; return bytes written (<= 10) */
size_t wire_put_varint(uint8_t *p, uint64_t v);

/* CURVE: the aggregator is the server; sensors know its public key. */
int wire_curve_server(void *sock, const struct curve_keypair *server, char err[ASH_ERR_LEN]);
int wire_curve_client(void *sock, const struct curve_keypair *client, const char *server_public_z85,
                      char err[ASH_ERR_LEN]);
/* heartbeats every ivl_ms, peer dead after timeout_ms; reconnect backoff; message size cap */
int wire_liveness(void *sock, int ivl_ms, int timeout_ms, char err[ASH_ERR_LEN]);

#endif
