/* mmap_lend.h -- the sensor lends its mapped input files (pcap_mmap.h) to the pcap store
 *                (pcapstore/pcap_store.h), which writes packets straight from the mapping.
 * Owns:  nothing; it adapts pcap_mmap's reference counting to struct pcap_store_lender.
 * Never: lets the pcap store library depend on the sensor's reader (the store sees void *).
 * Trap:  the store takes its own reference; the caller keeps and releases its own. */
#ifndef ASHIATO_MMAP_LEND_H
#define ASHIATO_MMAP_LEND_H

struct pcap_store;
struct pcap_mmap;

/* pcap_store_set_source(st, m, the pcap_mmap lender); m NULL: packets are copied again.
 * Capture thread only, as pcap_store_set_source. */
void mmap_lend_to_store(struct pcap_store *st, struct pcap_mmap *m);

#endif
