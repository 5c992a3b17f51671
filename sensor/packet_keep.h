/* packet_keep.h -- the sensor's packet keeping assembled: pcap store, position index, packet
 *                  service and its local endpoint.
 * Owns:  the four and their order of opening and closing; wiring them into the pipeline.
 * Lends: packet_keep_service(), valid until packet_keep_close().
 * Never: runs per packet itself (the pipeline calls the store and index directly).
 * Trap:  close only after the pipeline is flushed: its last records still read the index. */
#ifndef ASHIATO_PACKET_KEEP_H
#define ASHIATO_PACKET_KEEP_H

#include <stdbool.h>
#include "ashiato.h"
#include "pipeline.h"
#include "sensor_config.h"

struct packet_keep;
struct packet_service;

/* offline: never drop (wait for the writer) and age files by packet time */
struct packet_keep *packet_keep_open(const struct sensor_config *cfg, struct pipeline *p, int dlt,
                                     int snaplen, bool offline, char err[ASH_ERR_LEN]);
/* the next file of offline input has this link type */
void packet_keep_set_link(struct packet_keep *k, int dlt, int snaplen);
struct packet_service *packet_keep_service(struct packet_keep *k);
/* the pcap store (NULL when packets are not kept, or k is NULL); valid until packet_keep_close() */
struct pcap_store;
struct pcap_store *packet_keep_store(struct packet_keep *k);
/* wait until every packet kept so far is in its file and catalogued (0, or -1 on timeout) */
int packet_keep_sync(struct packet_keep *k, int timeout_ms);
/* one line of totals for --stats */
void packet_keep_report(struct packet_keep *k, char *out, size_t len);
void packet_keep_close(struct packet_keep *k);   /* accepts NULL */

#endif
