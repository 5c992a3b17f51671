/* packet_broker.h -- analysts' packet requests, passed to the sensor that holds the packets.
 * Owns:  a local ZeroMQ ROUTER endpoint (ipc:///PATH, a socket file of mode 0660 in a closed
 *        directory: packet_endpoint_local_check) that takes PacketRequests
 *        naming a sensor (PacketRequest.sensor), the table of requests in flight (broker id ->
 *        client, its own request id, deadline), and the relay of each answer chunk back.
 * Lends: nothing.
 * Never: opens a connection to a sensor: requests go over the sensor's own outbound
 *        connection (receive.c), so sensors need no inbound port; binds tcp:// or an abstract
 *        name (the endpoint has no authentication of its own: who may open the socket file
 *        may ask for every sensor's packets); takes an answer from another sensor than the
 *        one asked, or chunks out of order (two connections answering under one name: the
 *        request fails with ERROR rather than mixing their packets).
 * Trap:  runs on the receive loop's thread (one ZeroMQ socket per thread); a sensor that
 *        never answers is timed out and the client told so. */
#ifndef ASHIATO_PACKET_BROKER_H
#define ASHIATO_PACKET_BROKER_H

#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "receive.h"

struct packet_broker;

struct packet_broker_stats {
    uint64_t requests, forwarded, unknown_sensor, answers, timeouts, bad_requests;
    uint64_t out_of_order;           /* answers whose chunks came out of order: refused */
};

struct packet_broker *packet_broker_open(void *zctx, const char *endpoint, struct receive *r,
                                         char err[ASH_ERR_LEN]);
void packet_broker_close(struct packet_broker *b);   /* accepts NULL */
/* the socket to poll for client requests */
void *packet_broker_socket(struct packet_broker *b);
/* a client request is waiting (the receive loop polled the socket) */
void packet_broker_on_request(struct packet_broker *b);
/* a sensor's answer chunk (receive.c hands every PacketResponse here) */
void packet_broker_on_response(void *b, const char *sensor, const Ashiato__PacketResponse *resp);
/* time out requests whose sensor went quiet */
void packet_broker_tick(struct packet_broker *b);
void packet_broker_stats(const struct packet_broker *b, struct packet_broker_stats *out);

#endif
