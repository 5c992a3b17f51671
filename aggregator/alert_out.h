/* alert_out.h -- detection in the aggregator: the detectors on committed records, their
 * alerts into the store (and syslog, a webhook). See alert_out.c.
 * Owns:  the detection engine of the running aggregator.
 * Never: touches a record before it is stored (it is fed after the commit). */
#ifndef ASHIATO_ALERT_OUT_H
#define ASHIATO_ALERT_OUT_H

#include <stdint.h>

#include "ashiato.h"
#include "receive.h"
#include "store.h"

struct alert_out;

struct alert_out_stats {
    uint64_t records, alerts, cap_hits, put_failed, dropped;
    size_t state_bytes;
};

/* Detection with the settings of config_path ([detect], [segments], [sensors]; NULL or "" for
 * the defaults), alerts into st, fed by rx's commit hook. NULL and err on failure. */
struct alert_out *alert_out_open(const char *config_path, struct store *st, struct receive *rx,
                                 char err[ASH_ERR_LEN]);
/* SIGHUP: read config_path again (NULL or "" for the defaults) and hand its placement
 * ([segments], [sensors], approved, darknet) to the detection thread, which takes it before
 * its next run of records. Other changed settings wait for a restart (said in the log line).
 * 0, or -1 with err ("file:line: key: ...") and the settings in force kept. */
int alert_out_reload(struct alert_out *o, const char *config_path, char err[ASH_ERR_LEN]);
/* The event-loop timer (every second): expire state, put new and grown alerts, drive the
 * webhook. ctx is the struct alert_out. */
void alert_out_tick(void *ctx, int64_t now_ms);
/* End: every open alert is put as final (the store must still be open); stats if out. */
void alert_out_close(struct alert_out *o, struct alert_out_stats *out);
void alert_out_stats(const struct alert_out *o, struct alert_out_stats *out);

#endif
