/* wire.c -- envelopes and socket options (see wire.h).
 * Never: logs; allocates per packet. */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

Ashiato__Envelope *wire_unpack(const uint8_t *data, size_t len, char err[ASH_ERR_LEN])
{
    if (len > WIRE_MAX_MESSAGE) {
        snprintf(err, ASH_ERR_LEN, "message of %zu bytes exceeds %d", len, WIRE_MAX_MESSAGE);
        return NULL;
    }
    Ashiato__Envelope *env = ashiato__envelope__unpack(NULL, len, data);
    if (!env) {
        snprintf(err, ASH_ERR_LEN, "garbage message of %zu bytes: not an Envelope", len);
        return NULL;
    }
    if (env->body_case == ASHIATO__ENVELOPE__BODY__NOT_SET) {
        snprintf(err, ASH_ERR_LEN, "empty Envelope of %zu bytes", len);
        ashiato__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    return env;
}

void wire_free(Ashiato__Envelope *env)
{
    if (env)
        ashiato__envelope__free_unpacked(env, NULL);
}

uint8_t *wire_pack(const Ashiato__Envelope *env, size_t *len)
{
    size_t n = ashiato__envelope__get_packed_size(env);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    *len = ashiato__envelope__pack(env, buf);
    return buf;
}

size_t wire_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

uint8_t *wire_frame_batch(const uint8_t *batch, size_t len, uint64_t prev_seq, size_t *out_len)
{
    /* Envelope field 1 (batch), length-delimited; Batch field 6 (prev_seq) appended to the
     * batch bytes: protobuf merges concatenated encodings, so no re-encoding is needed */
    uint8_t tail[11], head[11];
    size_t nt = 0;
    tail[nt++] = (6 << 3) | 0;
    nt += wire_put_varint(tail + nt, prev_seq);
    size_t nh = 0;
    head[nh++] = (1 << 3) | 2;
    nh += wire_put_varint(head + nh, len + nt);
    uint8_t *out = malloc(nh + len + nt);
    if (!out)
        return NULL;
    memcpy(out, head, nh);
    memcpy(out + nh, batch, len);
    memcpy(out + nh + len, tail, nt);
    *out_len = nh + len + nt;
    return out;
}

static int setopt(void *sock, int opt, const void *v, size_t n, const char *name, char err[ASH_ERR_LEN])
{
    if (zmq_setsockopt(sock, opt, v, n) != 0) {
        snprintf(err, ASH_ERR_LEN, "zmq %s: %s", name, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int wire_curve_server(void *sock, const struct curve_keypair *server, char err[ASH_ERR_LEN])
{
    int one = 1;
    if (!server->secret_z85[0]) {
        snprintf(err, ASH_ERR_LEN, "curve server: the key file has no secret key");
        return -1;
    }
    return setopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "CURVE_SERVER", err) ||
           setopt(sock, ZMQ_CURVE_SECRETKEY, server->secret_z85, 40, "CURVE_SECRETKEY", err) ||
           setopt(sock, ZMQ_ZAP_DOMAIN, "ashiato", 7, "ZAP_DOMAIN", err) ? -1 : 0;
}

int wire_curve_client(void *sock, const struct curve_keypair *client, const char *server_public_z85,
                      char err[ASH_ERR_LEN])
{
    if (!client->secret_z85[0]) {
        snprintf(err, ASH_ERR_LEN, "curve client: the key file has no secret key");
        return -1;
    }
    if (strlen(server_public_z85) != 40) {
        snprintf(err, ASH_ERR_LEN, "curve client: server key: expected 40 Z85 characters, got %zu",
                 strlen(server_public_z85));
        return -1;
    }
    return setopt(sock, ZMQ_CURVE_SERVERKEY, server_public_z85, 40, "CURVE_SERVERKEY", err) ||
           setopt(sock, ZMQ_CURVE_PUBLICKEY, client->public_z85, 40, "CURVE_PUBLICKEY", err) ||
           setopt(sock, ZMQ_CURVE_SECRETKEY, client->secret_z85, 40, "CURVE_SECRETKEY", err) ? -1 : 0;
}

int wire_liveness(void *sock, int ivl_ms, int timeout_ms, char err[ASH_ERR_LEN])
{
    int ttl = timeout_ms, rmin = 100, rmax = 5000, linger = 0;
    int64_t maxmsg = WIRE_MAX_MESSAGE;
    return setopt(sock, ZMQ_HEARTBEAT_IVL, &ivl_ms, sizeof ivl_ms, "HEARTBEAT_IVL", err) ||
           setopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout_ms, sizeof timeout_ms, "HEARTBEAT_TIMEOUT", err) ||
           setopt(sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof ttl, "HEARTBEAT_TTL", err) ||
           setopt(sock, ZMQ_RECONNECT_IVL, &rmin, sizeof rmin, "RECONNECT_IVL", err) ||
           setopt(sock, ZMQ_RECONNECT_IVL_MAX, &rmax, sizeof rmax, "RECONNECT_IVL_MAX", err) ||
           setopt(sock, ZMQ_LINGER, &linger, sizeof linger, "LINGER", err) ||
           setopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg, "MAXMSGSIZE", err) ? -1 : 0;
}
