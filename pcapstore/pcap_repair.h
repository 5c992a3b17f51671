/* pcap_repair.h -- the pcap store directory after an unclean stop (kill -9, power loss):
 *                  every catalogue entry brought in line with its file before writing resumes.
 * Owns:  the repair pass: a file still marked open, a file whose size differs from its
 *        catalogue entry, or a missing or malformed sidecar is scanned from its header;
 *        whatever follows the last whole, sane record (a torn record, garbage) is truncated,
 *        the sidecar is rebuilt, and the entry becomes "closed" with its true size, packets
 *        and times, and cut=1 when bytes may have been lost. A file that is gone, or has no
 *        store header, becomes "expired". Each repair is one log line at warn.
 * Lends: nothing.
 * Never: serves or deletes anything; runs beside a writer of the same directory.
 * Trap:  "cut" is set for every file that was open at the crash: packets whose positions were
 *        handed out but never reached the disk are then answered "lost", not "bad request". */
#ifndef ASHIATO_PCAP_REPAIR_H
#define ASHIATO_PCAP_REPAIR_H

#include <stdint.h>
#include "ashiato.h"
#include "pcap_catalog.h"

struct pcap_repair_stats {
    uint64_t files;                           /* scanned and rewritten */
    uint64_t bytes_dropped;                   /* truncated: torn records and garbage */
    uint64_t missing;                         /* files gone from disk: marked expired */
};

/* Check and repair every entry of cat that is not expired. -1 only when out of memory. */
int pcap_repair_all(struct pcap_catalog *cat, struct pcap_repair_stats *out, char err[ASH_ERR_LEN]);

#endif
