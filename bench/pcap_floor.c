/* pcap_floor.c -- the floor of the offline benchmarks: the fastest anything can read a capture
 * through libpcap. A pcap_open_offline + pcap_next_ex loop that only counts packets and bytes.
 * Built by bench/sensor_offline.sh into a temporary directory (cc -O2 bench/pcap_floor.c -lpcap),
 * never by the product build.
 *   pcap_floor FILE      prints "N packets B bytes"; exit 1 with libpcap's message on error */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcap_floor: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned long long packets = 0, bytes = 0;
    int r;
    while ((r = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->caplen;
    }
    if (r == PCAP_ERROR) {
        fprintf(stderr, "pcap_floor: %s: %s\n", argv[1], pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("%llu packets %llu bytes\n", packets, bytes);
    return 0;
}
