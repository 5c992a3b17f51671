/* pcap_retention.h -- which pcap files of the store go, and when: free space, quota, age.
 * Owns:  the retention rules (keep min_free_percent / min_free_bytes of the file system free,
 *        keep the store's pcap bytes under quota, delete files whose last packet is older than
 *        max_age), the deletion of a file and its sidecar, and the counters of what went why.
 * Lends: nothing.
 * Never: deletes the file being written (nor any file still marked open); deletes anything
 *        but the catalogue's own files; forgets a deleted file (its catalogue entry becomes
 *        state "expired", so a request for its packets is answered EXPIRED).
 * Trap:  oldest first means lowest id first: ids grow with time. Each deletion is one log
 *        line at info (a file is at most one every few seconds, never per packet). */
#ifndef ASHIATO_PCAP_RETENTION_H
#define ASHIATO_PCAP_RETENTION_H

#include <stdbool.h>
#include <stdint.h>
#include "ashiato.h"
#include "pcap_catalog.h"

struct pcap_retention_config {
    long long min_free_percent;               /* 0..99; 0 = off */
    long long min_free_bytes;                 /* 0 = off */
    long long quota;                          /* bytes of pcap files; 0 = off */
    long long max_age;                        /* seconds since a file's last packet; 0 = off */
    long long reserve_bytes;                  /* with either free-space rule on: keep at least
                                                 this much free as well (the store sets one
                                                 file's size: the file being written needs it) */
};

enum pcap_retention_reason {
    PCAP_RETENTION_FREE_SPACE = 0,
    PCAP_RETENTION_QUOTA,
    PCAP_RETENTION_MAX_AGE,
    PCAP_RETENTION_REASONS,
};

struct pcap_retention_stats {
    uint64_t runs;
    uint64_t deleted_files, deleted_bytes;
    uint64_t by_reason[PCAP_RETENTION_REASONS];      /* files */
    uint64_t errors;                                  /* unlink / catalogue failures */
    uint64_t starved;                                 /* runs below free space with nothing to delete */
};

struct pcap_retention;

struct pcap_retention *pcap_retention_new(const struct pcap_retention_config *cfg,
                                          struct pcap_catalog *cat, char err[ASH_ERR_LEN]);
void pcap_retention_free(struct pcap_retention *r);

/* Apply the rules once at time now_us (the store's clock: wall time, or packet time for
 * replays); current_id is the file being written (0 if none). Returns files deleted. */
int pcap_retention_run(struct pcap_retention *r, int64_t now_us, uint64_t current_id);

void pcap_retention_stats(struct pcap_retention *r, struct pcap_retention_stats *out);

/* true if the file system is below a free-space rule (the reserve included) now */
bool pcap_retention_low_on_space(struct pcap_retention *r);

const char *pcap_retention_reason_name(enum pcap_retention_reason why);

#endif
