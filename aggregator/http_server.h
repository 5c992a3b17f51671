/* http_server.h -- the aggregator's HTTP API (Arkime-style endpoints) on threads of its own.
 * Owns:  the libmicrohttpd daemon (a thread pool), TLS, digest/basic auth against the users
 *        file, the audit log, the one route table, each pool thread's own store handle, and
 *        the copy of the receive loop's counters that stats.json and /metrics show.
 * Lends: nothing.
 * Never: touches the receive loop's store handle or sockets: handlers open their own store
 *        handle per thread and reach sensors through the packet broker's endpoint.
 * Trap:  http_server_publish() is the only call from the receive loop's thread; everything
 *        else in here runs on MHD's threads. */
#ifndef ASHIATO_HTTP_SERVER_H
#define ASHIATO_HTTP_SERVER_H

#include "ashiato.h"
#include "aggregator_config.h"
#include "receive.h"
#include "store.h"

struct http_server;

/* Start serving when cfg->http_listen is not empty (*out = the server), else *out = NULL.
 * store is copied (each pool thread opens its own handle from it); zctx is the process's
 * ZeroMQ context (packet requests go to cfg->packet_endpoint through it). 0 or -1 with err. */
int http_server_start(struct http_server **out, const struct aggregator_config *cfg,
                      const struct store_config *store, void *zctx, char err[ASH_ERR_LEN]);
/* Stop the daemon (waits for requests in progress), close the threads' store handles.
 * Accepts NULL. */
void http_server_close(struct http_server *srv);
/* The receive loop's counters, for stats.json and /metrics. Accepts a NULL srv. */
void http_server_publish(struct http_server *srv, const struct receive_stats *rs);

#endif
