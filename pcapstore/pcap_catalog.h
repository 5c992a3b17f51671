/* pcap_catalog.h -- the catalogue of the sensor's pcap files: id, name, first/last packet
 *                   time, size, packets, state; survives restarts and crashes.
 * Owns:  the store directory's lock (`.lock`, flock: one sensor per pcap_dir), the catalogue
 *        file `catalogue` and the in-memory table loaded from it, behind one mutex (the
 *        writer thread adds and updates, retention expires, the packet service reads).
 * Lends: nothing; pcap_catalog_get() and _snapshot() copy entries out.
 * Never: touches the pcap files themselves (pcap_store.c writes and repairs them,
 *        pcap_retention.c deletes them); is called per packet.
 *
 * Why an append-only text file with a CRC per line and not SQLite: the catalogue is small
 * (one line per state change of a file: a few thousand lines a year at 1 GiB files), is read
 * whole at start and otherwise only appended to, and must not bring a database library into
 * the capture binary's core for that. Each line is a complete record of one file's state, so
 * replay is "last line per id wins"; a line torn by a crash fails its CRC-32 and is dropped
 * (the file it described is then repaired from what is on disk); the file is rewritten
 * compactly (temp file, fsync, rename, fsync of the directory) at every open. Lines look like
 *   file id=7 state=closed first_us=... last_us=... size=... packets=... linktype=1
 *        snaplen=65535 cut=0 changed_us=... name=dept3-20210928T125000Z-000007.pcap crc=1a2b3c4d
 *   store id=9f3c0a17d2e4b5c6 crc=...
 *        The store line holds the store's identity: 64 random bits made when the catalogue
 *        is created. Positions carry it (pcap_index.h), so that after pcap_dir is wiped and
 *        file ids restart at 1, old positions are refused instead of naming new packets.
 * Trap:  ids are never reused: an expired file keeps its line (state=expired) so that a
 *        request for it can be told "expired" rather than "not found". A catalogue without a
 *        store line (older versions) gets a new id at open. */
#ifndef ASHIATO_PCAP_CATALOG_H
#define ASHIATO_PCAP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define PCAP_CATALOG_NAME_LEN 160

enum pcap_catalog_state {
    PCAP_CATALOG_OPEN = 0,                    /* being written (or the writer died: repair) */
    PCAP_CATALOG_CLOSED = 1,                  /* complete, fsynced */
    PCAP_CATALOG_EXPIRED = 2,                 /* deleted by retention (or found missing) */
};

struct pcap_catalog_file {
    uint64_t id;                              /* 1, 2, ...; never reused */
    enum pcap_catalog_state state;
    char name[PCAP_CATALOG_NAME_LEN];         /* inside the store directory; never a path */
    int64_t first_us, last_us;                /* earliest and latest packet time; 0 if none */
    uint64_t size;                            /* bytes of whole records (and the header) */
    uint64_t packets;
    uint32_t linktype, snaplen;
    bool cut;                                 /* bytes past `size` were lost (crash, I/O) */
    int64_t changed_us;                       /* wall clock of the last state change */
};

struct pcap_catalog_stats {
    uint64_t lines, bad_lines, files;
    uint64_t write_errors;                    /* lines that could not be appended */
    uint64_t reserve_failures;                /* fallocate of the append reserve refused */
    uint64_t compact_skipped;                 /* 1: opened on a full disk, not rewritten */
};

struct pcap_catalog;

/* Lock dir (creating it if needed) and load its catalogue. */
struct pcap_catalog *pcap_catalog_open(const char *dir, char err[ASH_ERR_LEN]);
void pcap_catalog_close(struct pcap_catalog *c);

const char *pcap_catalog_dir(const struct pcap_catalog *c);
/* fsync a directory (a file created or renamed in it is then durable); 0 or -1 with errno */
int pcap_catalog_fsync_dir(const char *dir);
void pcap_catalog_stats(struct pcap_catalog *c, struct pcap_catalog_stats *out);

/* Record f's state durably (one line appended and fdatasync'd, into blocks reserved ahead
 * so that a full file system does not refuse it) and in memory. On -1 (err set, errno kept)
 * the memory table still takes f, and no partial line is left in the file. */
int pcap_catalog_put(struct pcap_catalog *c, const struct pcap_catalog_file *f, char err[ASH_ERR_LEN]);
/* Memory only: the file being written grew (size, packets, times). Durable at the next put. */
void pcap_catalog_update(struct pcap_catalog *c, const struct pcap_catalog_file *f);

/* 0 and a copy of entry id, or -1 if there is none */
int pcap_catalog_get(struct pcap_catalog *c, uint64_t id, struct pcap_catalog_file *out);
/* a malloc'd copy of every entry in id order (caller frees *out); -1 when out of memory */
int pcap_catalog_snapshot(struct pcap_catalog *c, struct pcap_catalog_file **out, size_t *n);
uint64_t pcap_catalog_max_id(struct pcap_catalog *c);
/* the store's identity (never 0), fixed for the life of the catalogue file */
uint64_t pcap_catalog_store_id(const struct pcap_catalog *c);

/* "DIR/NAME" + suffix into out; -1 if it does not fit */
int pcap_catalog_path(const struct pcap_catalog *c, const char *name, const char *suffix,
                      char *out, size_t cap);

const char *pcap_catalog_state_name(enum pcap_catalog_state s);

#endif
