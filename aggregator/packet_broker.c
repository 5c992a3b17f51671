/* packet_broker.c -- packet requests relayed to sensors (see packet_broker.h).
 * Owns:  the client ROUTER and the in-flight table (a small array: analysts ask for a few
 *        sessions at a time).
 * Never: blocks the receive loop: every send is non-blocking; a client gone is dropped. */
#include "packet_broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "packet_endpoint.h"
#include "wire.h"

#define BROKER_MAX_INFLIGHT 256
#define BROKER_TIMEOUT_MS 60000
#define BROKER_RID_MAX 256

struct inflight {
    uint64_t broker_id;              /* 0 = free */
    uint64_t client_request_id;
    char sensor[128];
    uint8_t rid[BROKER_RID_MAX];
    size_t rid_len;
    int64_t deadline_ms;
    uint32_t next_chunk;             /* the chunk the answer must go on with */
};

struct packet_broker {
    void *sock;
    struct receive *r;
    uint64_t next_id;
    struct inflight fl[BROKER_MAX_INFLIGHT];
    struct packet_broker_stats st;
};

struct packet_broker *packet_broker_open(void *zctx, const char *endpoint, struct receive *r,
                                         char err[ASH_ERR_LEN])
{
    if (packet_endpoint_local_check(endpoint, err) < 0)   /* M2: who may open the file */
        return NULL;
    struct packet_broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, ASH_ERR_LEN, "packet_broker: out of memory");
        return NULL;
    }
    int zero = 0;
    b->r = r;
    b->next_id = 1;
    b->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!b->sock || zmq_setsockopt(b->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(b->sock, endpoint) != 0) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: %s", endpoint, zmq_strerror(zmq_errno()));
        packet_broker_close(b);
        return NULL;
    }
    if (packet_endpoint_local_restrict(endpoint, err) < 0) {
        packet_broker_close(b);
        return NULL;
    }
    receive_set_response_handler(r, packet_broker_on_response, b);
    return b;
}

void packet_broker_close(struct packet_broker *b)
{
    if (!b)
        return;
    if (b->r)
        receive_set_response_handler(b->r, NULL, NULL);
    if (b->sock)
        zmq_close(b->sock);
    free(b);
}

void *packet_broker_socket(struct packet_broker *b) { return b->sock; }

/* answer the client directly (unknown sensor, bad request, timeout) */
static void reply(struct packet_broker *b, const uint8_t *rid, size_t rid_len,
                  const Ashiato__PacketResponse *resp)
{
    size_t n = ashiato__packet_response__get_packed_size(resp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return;
    ashiato__packet_response__pack(resp, buf);
    zmq_send(b->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(b->sock, buf, n, ZMQ_DONTWAIT);
    free(buf);
}

static void refuse(struct packet_broker *b, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                   Ashiato__PacketResponse__Status status, const char *why)
{
    Ashiato__PacketResponse resp = ASHIATO__PACKET_RESPONSE__INIT;
    resp.request_id = request_id;
    resp.status = status;
    resp.error = (char *)why;
    reply(b, rid, rid_len, &resp);
}

void packet_broker_on_request(struct packet_broker *b)
{
    for (int budget = 0; budget < 64; budget++) {
        zmq_msg_t frames[4];
        int n = 0, more = 1;
        while (more && n < 4) {
            zmq_msg_init(&frames[n]);
            if (zmq_msg_recv(&frames[n], b->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&frames[n]);
                return;
            }
            more = zmq_msg_more(&frames[n]);
            n++;
        }
        while (more) {               /* more frames than any request has: drain them */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, b->sock, 0);
            more = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        b->st.requests++;
        const uint8_t *rid = zmq_msg_data(&frames[0]);
        size_t rid_len = zmq_msg_size(&frames[0]);
        zmq_msg_t *body = &frames[n - 1];
        Ashiato__PacketRequest *req = n >= 2 && rid_len <= BROKER_RID_MAX
            ? ashiato__packet_request__unpack(NULL, zmq_msg_size(body), zmq_msg_data(body)) : NULL;
        if (!req) {
            b->st.bad_requests++;
            if (rid_len <= BROKER_RID_MAX)
                refuse(b, rid, rid_len, 0, ASHIATO__PACKET_RESPONSE__STATUS__BAD_REQUEST,
                       "not a PacketRequest");
        } else if (!req->sensor || !*req->sensor) {
            b->st.bad_requests++;
            refuse(b, rid, rid_len, req->request_id, ASHIATO__PACKET_RESPONSE__STATUS__BAD_REQUEST,
                   "the request names no sensor (PacketRequest.sensor, the session's observer.name)");
        } else {
            struct inflight *slot = NULL;
            for (int i = 0; i < BROKER_MAX_INFLIGHT && !slot; i++)
                if (!b->fl[i].broker_id)
                    slot = &b->fl[i];
            uint64_t client_id = req->request_id;
            uint64_t id = b->next_id++;
            req->request_id = id;
            Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
            env.body_case = ASHIATO__ENVELOPE__BODY_PACKET_REQUEST;
            env.packet_request = req;
            size_t len;
            uint8_t *buf = slot ? wire_pack(&env, &len) : NULL;
            int rc = buf ? receive_send_to_sensor(b->r, req->sensor, buf, len) : -1;
            free(buf);
            if (!slot) {
                refuse(b, rid, rid_len, client_id, ASHIATO__PACKET_RESPONSE__STATUS__ERROR,
                       "too many packet requests in flight; try again");
            } else if (rc < 0) {
                b->st.unknown_sensor++;
                refuse(b, rid, rid_len, client_id, ASHIATO__PACKET_RESPONSE__STATUS__NOT_FOUND,
                       "that sensor is not connected to this aggregator");
            } else {
                b->st.forwarded++;
                slot->broker_id = id;
                slot->client_request_id = client_id;
                snprintf(slot->sensor, sizeof slot->sensor, "%s", req->sensor);
                memcpy(slot->rid, rid, rid_len);
                slot->rid_len = rid_len;
                slot->deadline_ms = clock_mono_ms() + BROKER_TIMEOUT_MS;
                slot->next_chunk = 0;
            }
            ashiato__packet_request__free_unpacked(req, NULL);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}

void packet_broker_on_response(void *ctx, const char *sensor, const Ashiato__PacketResponse *resp)
{
    struct packet_broker *b = ctx;
    for (int i = 0; i < BROKER_MAX_INFLIGHT; i++) {
        struct inflight *f = &b->fl[i];
        if (f->broker_id != resp->request_id || strcmp(f->sensor, sensor) != 0)
            continue;
        if (resp->chunk != f->next_chunk++) {
            /* two connections answer under one name (an allow-list duplicate, a sensor
             * restarted mid-answer): never splice their packets into one answer */
            b->st.out_of_order++;
            log_warn("packet_broker", "answer chunks out of order sensor=%s expected=%u got=%u: request "
                     "failed", sensor, f->next_chunk - 1, resp->chunk);
            refuse(b, f->rid, f->rid_len, f->client_request_id, ASHIATO__PACKET_RESPONSE__STATUS__ERROR,
                   "the sensor's answer came out of order (two connections under its name?)");
            f->broker_id = 0;
            return;
        }
        Ashiato__PacketResponse out = *resp;
        out.request_id = f->client_request_id;
        reply(b, f->rid, f->rid_len, &out);
        b->st.answers++;
        f->deadline_ms = clock_mono_ms() + BROKER_TIMEOUT_MS;
        if (resp->status != ASHIATO__PACKET_RESPONSE__STATUS__MORE)
            f->broker_id = 0;
        return;
    }
    /* an answer nobody waits for (timed out): dropped */
}

void packet_broker_tick(struct packet_broker *b)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < BROKER_MAX_INFLIGHT; i++) {
        struct inflight *f = &b->fl[i];
        if (f->broker_id && now > f->deadline_ms) {
            b->st.timeouts++;
            refuse(b, f->rid, f->rid_len, f->client_request_id, ASHIATO__PACKET_RESPONSE__STATUS__ERROR,
                   "the sensor did not answer in time");
            f->broker_id = 0;
        }
    }
}

void packet_broker_stats(const struct packet_broker *b, struct packet_broker_stats *out) { *out = b->st; }
