/* mmap_lend.c -- pcap_mmap's reference counting, lent to the pcap store (see mmap_lend.h). */
#include "mmap_lend.h"

#include "pcap_mmap.h"
#include "pcap_store.h"

static void lend_hold(void *src) { pcap_mmap_hold(src); }
static void lend_release(void *src) { pcap_mmap_release(src); }
static void lend_keep_behind(void *src, uint64_t bytes) { pcap_mmap_keep_behind(src, bytes); }
static const uint8_t *lend_bytes(void *src, uint64_t *size) { return pcap_mmap_bytes(src, size); }

static const struct pcap_store_lender mmap_lend_ops = {
    .hold = lend_hold,
    .release = lend_release,
    .keep_behind = lend_keep_behind,
    .bytes = lend_bytes,
};

void mmap_lend_to_store(struct pcap_store *st, struct pcap_mmap *m)
{
    pcap_store_set_source(st, m, &mmap_lend_ops);
}
