/* fuzz_packet_request.c -- libFuzzer over the packet service's request parser and its
 * validation of positions, against a small real store made in a temporary directory at
 * startup: four files of 100-byte frames (records of 116 bytes from offset 24), file 1
 * expired, file 2 cut short by a "crash" at offset 10000, file 4 still being written, and a
 * sane-looking record header planted in every 7th packet's payload.
 *
 * Each input is tried twice: as a whole PacketRequest message (the wire), and as the
 * packet_pos bytes of a request (so mutations reach the position checks directly).
 * Seeds: tests/fuzz/corpus/fuzz_packet_request/, made by tests/fuzz/seeds_packet_request.py. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "packet_service.h"
#include "pcap_format.h"

#define FRAME 100
#define PACKETS 2000
#define T0 1632833400000000LL

static char dir[64];
static struct pcap_store *store;
static struct packet_service *svc;

static void cleanup(void)
{
    packet_service_free(svc);
    pcap_store_close(store);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void bail(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_packet_request: %s: %s\n", what, err);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char err[ASH_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "/tmp/fuzz_packet_request.XXXXXX");
    if (!mkdtemp(dir))
        bail("mkdtemp", dir);
    log_set_level(LOG_LEVEL_ERROR);
    struct pcap_store_config c;
    pcap_store_config_defaults(&c);
    c.dir = dir;
    c.max_file_size = 64 << 10;
    c.ring_size = 1 << 20;
    c.flush_ms = 1;
    c.wait_when_full = true;
    if (!(store = pcap_store_open(&c, "fuzz", 1, 65535, err)))
        bail("store", err);
    uint8_t f[FRAME];
    for (int i = 0; i < PACKETS; i++) {
        uint64_t file, off;
        memset(f, 0, sizeof f);
        f[12] = 0x08, f[14] = 0x45, f[17] = FRAME - 14, f[23] = 6;
        f[26] = 10, f[29] = (uint8_t)(i % 5 + 1), f[30] = 10, f[33] = 2;
        f[35] = (uint8_t)(i % 3 + 1), f[37] = 80, f[46] = 0x50;
        if (i % 7 == 0)
            pcap_format_rec_header(f + 54, T0 + i * 1000, 30, 30);
        if (pcap_store_append(store, T0 + i * 1000, f, FRAME, FRAME, &file, &off) != 0)
            bail("append", "failed");
    }
    if (pcap_store_sync(store, 5000) < 0)
        bail("sync", "timed out");
    /* file 1 expired, file 2 cut at 10000 (what retention and a crash repair leave) */
    struct pcap_catalog *cat = pcap_store_catalog(store);
    struct pcap_catalog_file e;
    char path[1300];
    if (pcap_catalog_get(cat, 1, &e) < 0 || pcap_catalog_path(cat, e.name, NULL, path, sizeof path) < 0)
        bail("catalogue", "no file 1");
    unlink(path);
    e.state = PCAP_CATALOG_EXPIRED;
    if (pcap_catalog_put(cat, &e, err) < 0)
        bail("catalogue", err);
    if (pcap_catalog_get(cat, 2, &e) < 0 || pcap_catalog_path(cat, e.name, NULL, path, sizeof path) < 0 ||
        truncate(path, 10000) < 0)
        bail("catalogue", "no file 2");
    e.size = 24 + (10000 - 24) / (16 + FRAME) * (16 + FRAME);
    e.cut = true;
    if (truncate(path, (off_t)e.size) < 0 || pcap_catalog_put(cat, &e, err) < 0)
        bail("catalogue", err);
    struct packet_service_config sc;
    packet_service_config_defaults(&sc);
    sc.max_packets = 5000;
    sc.max_bytes = 4 << 20;
    sc.chunk_size = 16384;
    sc.sync_ms = 100;
    if (!(svc = packet_service_new(&sc, store, err)))
        bail("service", err);
    atexit(cleanup);
    return 0;
}

/* every answer chunk must be well formed: a known status, pcap bytes only in OK/MORE/
 * TOO_LARGE answers, each chunk made of whole records after the first's file header */
static int sink(void *ctx, const Ashiato__PacketResponse *r)
{
    (void)ctx;
    if ((int)r->status < 0 || (int)r->status > ASHIATO__PACKET_RESPONSE__STATUS__MISMATCH)
        abort();
    if (r->status != ASHIATO__PACKET_RESPONSE__STATUS__OK && r->status != ASHIATO__PACKET_RESPONSE__STATUS__MORE &&
        r->status != ASHIATO__PACKET_RESPONSE__STATUS__TOO_LARGE && r->status != ASHIATO__PACKET_RESPONSE__STATUS__ERROR &&
        r->pcap.len)
        abort();
    if (r->status != ASHIATO__PACKET_RESPONSE__STATUS__OK && r->status != ASHIATO__PACKET_RESPONSE__STATUS__MORE &&
        !r->error[0])
        abort();                              /* every refusal says why */
    size_t o = r->chunk == 0 && r->pcap.len ? PCAP_FORMAT_FILE_HDR : 0;
    while (o < r->pcap.len) {
        struct pcap_format_rec rec;
        if (r->pcap.len - o < PCAP_FORMAT_REC_HDR || !pcap_format_rec_parse(r->pcap.data + o, 65535, &rec) ||
            rec.caplen != FRAME || r->pcap.len - o - PCAP_FORMAT_REC_HDR < rec.caplen)
            abort();                          /* served something that is not one of our packets */
        o += PCAP_FORMAT_REC_HDR + rec.caplen;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    packet_service_answer_bytes(svc, data, size, sink, NULL);
    Ashiato__PacketRequest r = ASHIATO__PACKET_REQUEST__INIT;
    r.packet_pos.data = (uint8_t *)data;
    r.packet_pos.len = size;
    if (size)
        packet_service_answer(svc, &r, sink, NULL);
    return 0;
}
