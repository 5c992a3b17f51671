/* fuzz_pcap_mmap.c -- libFuzzer target for the mapped pcap reader (pcap_mmap.h) against
 * libpcap itself. Each input is a whole capture file: written to a memfd, walked by
 * pcap_mmap_next() and read by libpcap (pcap_fopen_offline at nanosecond precision +
 * pcap_next_ex, the way capture.c reads files). When the mapped reader takes the file, libpcap
 * must open it too and both must give the same packets (time as capture.c computes it,
 * caplen, wirelen, bytes) up to where libpcap stops, and stop the same way (end of file, or an
 * error with the same text); any difference aborts. Out-of-bounds reads abort under ASan: the
 * mapping is exactly the input, so a read past its end is past the mapping. Files the reader
 * leaves to libpcap only have to be declined cleanly (NULL, no error text).
 * Seeds: tests/fuzz/corpus/fuzz_pcap_mmap/, made by tests/fuzz/make_pcap_mmap_seeds.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pcap/pcap.h>

#include "pcap_mmap.h"

static int memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("fuzz_pcap_mmap", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("fuzz_pcap_mmap: memfd_create");
        abort();
    }
    return 0;
}

static void load(const uint8_t *data, size_t size)
{
    if (ftruncate(memfd, 0) < 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size) ||
        lseek(memfd, 0, SEEK_SET) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASH_ERR_LEN] = "x";
    load(data, size);
    struct pcap_mmap *m = pcap_mmap_open(memfd, size, err);
    if (!m) {
        if (err[0])
            abort();                          /* a mapping of a memfd does not fail */
        return 0;
    }
    char perr[PCAP_ERRBUF_SIZE];
    int fd = dup(memfd);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f)
        abort();
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (!p)
        abort();                              /* taken by one, refused by the other */
    if (pcap_datalink(p) != pcap_mmap_dlt(m) || (uint32_t)pcap_snapshot(p) != pcap_mmap_snapshot(m))
        abort();
    for (;;) {
        struct pcap_mmap_pkt mp;
        struct pcap_pkthdr *h;
        const u_char *d;
        int rm = pcap_mmap_next(m, &mp);
        int rp = pcap_next_ex(p, &h, &d);
        if (rp == 1) {
            /* the file's ts_sec is unsigned (M1: read as libpcap 1.10.4+ does); Debian 12's
             * libpcap 1.10.3 sign-extends it, so take its low 32 bits back as unsigned */
            int64_t ts = (int64_t)(uint32_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec / 1000;
            if (rm != 1 || mp.ts_us != ts || mp.caplen != h->caplen || mp.wirelen != h->len ||
                memcmp(mp.data, d, h->caplen) != 0)
                abort();
            continue;
        }
        if (rp == PCAP_ERROR) {
            if (rm != -1 || strcmp(pcap_mmap_error(m), pcap_geterr(p)) != 0)
                abort();
        } else if (rm != 0) {
            abort();
        }
        if (pcap_mmap_next(m, &mp) != 0)      /* stays at the end */
            abort();
        break;
    }
    pcap_close(p);
    pcap_mmap_release(m);
    return 0;
}
