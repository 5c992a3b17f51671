/* shipping.h -- the sensor's outbound path assembled: outbox + batcher + shipper.
 * Owns:  the three and the lock they share; the stats message published to the aggregator.
 * Lends: nothing.
 * Never: runs per packet (per record at most, through the pipeline output).
 * Never: loses a record silently: a batch dropped at outbox_max_bytes or not journalled (a
 *        full disk) is counted, logged (at most every 10 s, with the strerror text) and
 *        stated in records at the end.
 * Trap:  shipping_close(drain = true) waits for acknowledgements up to drain_timeout_ms: what
 *        is not acknowledged stays in the journal for the next start. */
#ifndef ASHIATO_SHIPPING_H
#define ASHIATO_SHIPPING_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "outbox.h"
#include "pipeline.h"
#include "sensor_config.h"
#include "ship.h"

struct shipping;

struct shipping *shipping_open(const struct sensor_config *cfg, struct pipeline *p,
                               char err[ASH_ERR_LEN]);
/* time passes: close an old batch, publish stats (capture counters from the caller) */
void shipping_tick(struct shipping *sh, int64_t now_us, uint64_t pcap_received, uint64_t pcap_dropped,
                   uint64_t pcap_if_dropped);
/* the pcap catalogue whose oldest kept packet the stats report (NULL: none kept); it must
 * stay valid until shipping_close() (whose final stats read it) or the next call */
struct pcap_catalog;
void shipping_report_catalog(struct shipping *sh, struct pcap_catalog *c);
/* answer the aggregator's packet requests from svc (NULL: answer that no packets are kept) */
struct packet_service;
void shipping_serve_packets(struct shipping *sh, struct packet_service *svc);

/* what the outbound path did in this run (--stats, the exit message) */
struct shipping_totals {
    struct outbox_stats outbox;      /* journalled, acknowledged, dropped at the bound, failed
                                        writes, pending, bytes on disk */
    struct ship_stats ship;          /* sent, resent, acks, connects */
    uint64_t records;                /* records handed to the batcher */
    bool drain_interrupted;          /* a signal stopped the offline drain */
};

/* The records this run lost: dropped at outbox_max_bytes plus not journalled (write errors). */
uint64_t shipping_lost_records(const struct shipping_totals *t);

/* Close the open batch; when drain, wait for the aggregator to acknowledge everything, up to
 * drain_timeout_ms or until *stop (a signal counter, may be NULL) changes from its value at
 * the call: what is unacknowledged stays journalled for the next start, so a signal loses
 * nothing (issue 14 L3). Fills *totals (may be NULL). Returns -1, err saying what is
 * unacknowledged and what was lost in records, if the drain timed out or records were lost;
 * an interrupted drain alone is not an error (totals->drain_interrupted). Accepts NULL. */
int shipping_close(struct shipping *sh, bool drain, const volatile sig_atomic_t *stop,
                   struct shipping_totals *totals, char err[ASH_ERR_LEN]);

#endif
