/* packet_endpoint.h -- the sensor's local endpoint for packet requests: a ZeroMQ ROUTER on
 *                      ipc:///PATH, a socket file, served by one thread.
 * Owns:  its ZeroMQ context, the ROUTER socket and the thread that answers each request
 *        through the packet service.
 * Lends: nothing.
 * Never: binds to anything but a socket file that only its owner and group may open: the
 *        endpoint has no authentication of its own, so who may ask is who may open the file
 *        (mode 0660, in a directory of this user or root that is closed to others and
 *        writable by its owner only). tcp:// and abstract ipc://@ names are refused: any
 *        local user could reach them (issue 14, M2). Remote analysts reach the same service
 *        over the sensor's outbound, CURVE-protected connection. Answers one request at a time.
 * Trap:  between bind and chmod the socket has the umask's mode; the directory, closed to
 *        others, is what keeps strangers out in that moment.
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

/* Before binding: endpoint is ipc:///PATH, its directory belongs to this user or root, is
 * writable by its owner only and closed to others (0750 or tighter), and PATH is absent or a
 * socket (never a file ZeroMQ would unlink). 0, or -1 and err saying which. The aggregator's
 * packet broker checks its endpoint the same way. */
int packet_endpoint_local_check(const char *endpoint, char err[ASH_ERR_LEN]);
/* After binding: the socket file to mode 0660 (owner and group), checked. 0, or -1 and err. */
int packet_endpoint_local_restrict(const char *endpoint, char err[ASH_ERR_LEN]);

/* Bind `endpoint` and start answering with svc (which must outlive the endpoint). */
struct packet_endpoint *packet_endpoint_open(const char *endpoint, struct packet_service *svc,
                                             char err[ASH_ERR_LEN]);
/* Stop the thread, close the socket. Accepts NULL. */
void packet_endpoint_close(struct packet_endpoint *ep);

/* the bound address (a tcp://127.0.0.1:* endpoint shows its port) */
const char *packet_endpoint_address(const struct packet_endpoint *ep);
void packet_endpoint_stats(struct packet_endpoint *ep, struct packet_endpoint_stats *out);

#endif
