/* shipping.h -- the sensor's outbound path assembled: outbox + batcher + shipper.
 * Owns:  the three and the lock they share; the stats message published to the aggregator.
 * Lends: nothing.
 * Never: runs per packet (per record at most, through the pipeline output).
 * Trap:  shipping_close(drain = true) waits for acknowledgements up to drain_timeout_ms: what
 *        is not acknowledged stays in the journal for the next start. */
#ifndef ASHIATO_SHIPPING_H
#define ASHIATO_SHIPPING_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "pipeline.h"
#include "sensor_config.h"
#include "ship.h"

struct shipping;

struct shipping *shipping_open(const struct sensor_config *cfg, struct pipeline *p,
                               char err[ASH_ERR_LEN]);
/* time passes: close an old batch, publish stats (capture counters from the caller) */
void shipping_tick(struct shipping *sh, int64_t now_us, uint64_t pcap_received, uint64_t pcap_dropped,
                   uint64_t pcap_if_dropped);
/* answer the aggregator's packet requests from svc (NULL: answer that no packets are kept) */
struct packet_service;
void shipping_serve_packets(struct shipping *sh, struct packet_service *svc);

/* close the open batch; when drain, wait for the aggregator to acknowledge everything.
 * Returns -1 if batches remain unacknowledged (they stay journalled). Accepts NULL. */
int shipping_close(struct shipping *sh, bool drain, char err[ASH_ERR_LEN]);

#endif
