/* packet_endpoint.h -- the sensor's local endpoint for packet requests: a ZeroMQ ROUTER on
 *                      ipc://PATH or tcp://127.0.0.1:PORT, served by one thread.
 * Owns:  its ZeroMQ context, the ROUTER socket and the thread that answers each request
 *        through the packet service.
 * Lends: nothing.
 * Never: binds to anything but a local address (the endpoint has no authentication: remote
 *        analysts reach the same service over the sensor's outbound, CURVE-protected
 *        connection, see the transport issue); answers more than one request at a time.
 *
 * Wire: a request is one message whose last frame is a packed PacketRequest (a DEALER sends
 * just that frame; a REQ socket's empty delimiter frame is echoed back). The answer is one
 * message per PacketResponse chunk, in order; the last chunk's status is not MORE. Use a
 * DEALER client: a REQ socket accepts only the first message of a multi-chunk answer.
 * A client that stops reading for 5 s is dropped (ZMQ_SNDTIMEO), the answer abandoned. */
#ifndef ASHIATO_PACKET_ENDPOINT_H
#define ASHIATO_PACKET_ENDPOINT_H

#include <stdint.h>
#include "ashiato.h"
#include "packet_service.h"

struct packet_endpoint_stats {
    uint64_t messages;                        /* requests received */
    uint64_t malformed;                       /* envelopes that were not [id][...][request] */
    uint64_t abandoned;                       /* answers cut short by a slow or gone client */
};

struct packet_endpoint;

/* Bind `endpoint` and start answering with svc (which must outlive the endpoint). */
struct packet_endpoint *packet_endpoint_open(const char *endpoint, struct packet_service *svc,
                                             char err[ASH_ERR_LEN]);
/* Stop the thread, close the socket. Accepts NULL. */
void packet_endpoint_close(struct packet_endpoint *ep);

/* the bound address (a tcp://127.0.0.1:* endpoint shows its port) */
const char *packet_endpoint_address(const struct packet_endpoint *ep);
void packet_endpoint_stats(struct packet_endpoint *ep, struct packet_endpoint_stats *out);

#endif
