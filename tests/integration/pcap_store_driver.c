/* pcap_store_driver.c -- test stand-in for the sensor's wiring of the pcap store (built only
 *                        for tests): reads capture files through decode, the session table,
 *                        the pcap store and the pcap index exactly as the sensor will, writes
 *                        each session's ECS document with ashiato.packet_pos, and serves the
 *                        packet endpoint. Also a raw client for crafted requests.
 * Owns:  the process (options, signals, exit status) like a main.c; prints and exits.
 * Never: is installed or used by the product. Once the sensor wires the store in, the
 *        integration test can run ashiato-sensor instead; this driver shows the calls.
 *
 *   pcap_store_driver --read F.pcap --pcap-dir D --name N [--emit-json OUT] [store options]
 *                     [--endpoint ipc://... --serve] [--pause-after N] [--stats]
 *   pcap_store_driver --pcap-dir D --endpoint ipc://... --serve      (restart: serve only)
 *   pcap_store_driver --send REQUEST.bin --endpoint ipc://...        (raw client) */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <zmq.h>

#include "app.h"
#include "capture.h"
#include "clock.h"
#include "config.h"
#include "decode.h"
#include "frag_table.h"
#include "log.h"
#include "packet_endpoint.h"
#include "packet_service.h"
#include "pcap_index.h"
#include "pcap_store.h"
#include "record_json.h"
#include "session_record.h"
#include "session_table.h"

#define MAX_FILES_PER_SESSION 4096

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct driver {
    const char *name;
    struct pcap_store *store;
    struct pcap_index *idx;
    struct app_pool *pool;
    FILE *json;
    struct session_record_buf rec;
    uint8_t *posbuf;
    size_t poscap;
    uint64_t files[MAX_FILES_PER_SESSION];
    Ashiato__PacketFile pf[MAX_FILES_PER_SESSION], *pfp[MAX_FILES_PER_SESSION];
    uint64_t sessions, store_failures;
};

static void die(const char *fmt, ...) ASH_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pcap_store_driver: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static long long size_arg(const char *text)
{
    long long v;
    if (config_parse_size(text, &v) < 0)
        die("bad size '%s'", text);
    return v;
}

/* the emit callback: what session_record / pipeline will do with the index */
static void emit(void *ctx, struct session *s, enum session_end why)
{
    struct driver *d = ctx;
    (void)why;
    /* the table lends s for the call; releasing the list here stands in for the table's own
     * release when a session or segment ends (the lead wires that in session_table.c) */
    uint32_t *pos = &((struct session *)s)->pos;
    session_record_fill(&d->rec, d->name, s, app_fields_of(d->pool, &s->app));
    Ashiato__SessionRecord *r = &d->rec.rec;
    size_t need = pcap_index_encoded_size(d->idx, *pos);
    if (need > d->poscap) {
        d->poscap = need * 2;
        if (!(d->posbuf = realloc(d->posbuf, d->poscap)))
            die("%s", "out of memory");
    }
    r->packet_pos.len = pcap_index_encode(d->idx, *pos, d->posbuf, d->poscap);
    r->packet_pos.data = d->posbuf;
    size_t nf = pcap_index_files(d->idx, *pos, d->files, MAX_FILES_PER_SESSION);
    if (nf > MAX_FILES_PER_SESSION)
        nf = MAX_FILES_PER_SESSION;
    for (size_t i = 0; i < nf; i++) {
        ashiato__packet_file__init(&d->pf[i]);
        d->pf[i].file_id = d->files[i];
        d->pfp[i] = &d->pf[i];
    }
    r->n_packet_files = nf;
    r->packet_files = d->pfp;
    d->sessions++;
    if (d->json) {
        size_t len;
        char *text = record_json_render(r, NULL, &len);
        json_object *doc = text ? json_tokener_parse(text) : NULL, *ash = NULL;
        if (!doc || !json_object_object_get_ex(doc, "ashiato", &ash))
            die("%s", "record_json_render gave no document");
        char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(r->packet_pos.len) + 1);
        base64_encode_raw(b64, r->packet_pos.len, r->packet_pos.data);
        b64[BASE64_ENCODE_RAW_LENGTH(r->packet_pos.len)] = '\0';
        json_object_object_add(ash, "packet_pos", json_object_new_string(b64));
        json_object *files = json_object_new_array();
        for (size_t i = 0; i < nf; i++)
            json_object_array_add(files, json_object_new_int64((int64_t)d->files[i]));
        json_object_object_add(ash, "packet_files", files);
        fprintf(d->json, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        free(b64);
        json_object_put(doc);
        free(text);
    }
    pcap_index_release(d->idx, pos);
}

/* send one raw request and print every answer chunk: the test's crafted-request client */
static int raw_client(const char *endpoint, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        die("cannot read %s", file);
    static uint8_t req[16 << 20];
    size_t n = fread(req, 1, sizeof req, f);
    fclose(f);
    void *zctx = zmq_ctx_new(), *s = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0, timeout = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect(s, endpoint) != 0 || zmq_send(s, req, n, 0) < 0)
        die("cannot send to %s", endpoint);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            die("no answer from %s", endpoint);
        Ashiato__PacketResponse *r = ashiato__packet_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!r)
            die("%s", "answer does not unpack");
        printf("chunk=%u status=%s bytes=%zu error=%s\n", r->chunk, packet_service_status_name(r->status),
               r->pcap.len, r->error);
        int last = r->status != ASHIATO__PACKET_RESPONSE__STATUS__MORE;
        ashiato__packet_response__free_unpacked(r, NULL);
        if (last)
            break;
    }
    zmq_close(s);
    zmq_ctx_term(zctx);
    return 0;
}

static void print_stats(struct pcap_store *st, struct pcap_index *idx, struct packet_service *svc,
                        uint64_t sessions, uint64_t packets, uint64_t store_failures, double secs,
                        double cpu)
{
    struct pcap_store_stats s = { 0 };
    struct pcap_index_stats is = { 0 };
    struct packet_service_stats ss = { 0 };
    if (st)
        pcap_store_stats(st, &s);
    if (idx)
        pcap_index_stats(idx, &is);
    if (svc)
        packet_service_stats(svc, &ss);
    printf("{\"packets\": %llu, \"sessions\": %llu, \"seconds\": %.3f, \"cpu_seconds\": %.3f, "
           "\"store_failures\": %llu, "
           "\"store\": {\"packets\": %llu, \"dropped\": %llu, \"lost_to_errors\": %llu, \"waits\": %llu, \"files_opened\": %llu, "
           "\"files_closed\": %llu, \"bytes_written\": %llu, \"write_errors\": %llu, "
           "\"repaired_files\": %llu, \"repaired_bytes_dropped\": %llu, \"current_file\": %llu}, "
           "\"retention\": {\"runs\": %llu, \"deleted_files\": %llu, \"deleted_bytes\": %llu, "
           "\"free_space\": %llu, \"quota\": %llu, \"max_age\": %llu, \"errors\": %llu}, "
           "\"index\": {\"full\": %llu, \"gaps\": %llu, \"chunks_high_water\": %llu}}\n",
           (unsigned long long)packets, (unsigned long long)sessions, secs, cpu,
           (unsigned long long)store_failures, (unsigned long long)s.packets,
           (unsigned long long)s.dropped, (unsigned long long)s.lost_to_errors, (unsigned long long)s.waits,
           (unsigned long long)s.files_opened, (unsigned long long)s.files_closed,
           (unsigned long long)s.bytes_written, (unsigned long long)s.write_errors,
           (unsigned long long)s.repaired_files, (unsigned long long)s.repaired_bytes_dropped,
           (unsigned long long)s.current_file, (unsigned long long)s.retention.runs,
           (unsigned long long)s.retention.deleted_files, (unsigned long long)s.retention.deleted_bytes,
           (unsigned long long)s.retention.by_reason[PCAP_RETENTION_FREE_SPACE],
           (unsigned long long)s.retention.by_reason[PCAP_RETENTION_QUOTA],
           (unsigned long long)s.retention.by_reason[PCAP_RETENTION_MAX_AGE],
           (unsigned long long)s.retention.errors, (unsigned long long)is.full,
           (unsigned long long)is.gaps, (unsigned long long)is.chunks_high_water);
    fflush(stdout);
}

/* CPU seconds (user + system) of the calling thread: the capture thread's cost */
static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    const char *reads[64], *json_path = NULL, *endpoint = NULL, *send = NULL;
    int nread = 0, loops = 1;
    bool serve = false, stats = false, no_store = false;
    long long pause_after = 0, chunks = 1 << 20, max_packets = 10000, loop_shift = 0;
    struct pcap_store_config sc;
    struct driver d = { .name = "driver" };
    pcap_store_config_defaults(&sc);
    sc.wait_when_full = true;
    sc.packet_clock = true;
    static const struct option opts[] = {
        { "read", 1, 0, 'r' }, { "pcap-dir", 1, 0, 'd' }, { "name", 1, 0, 'n' },
        { "emit-json", 1, 0, 'j' }, { "endpoint", 1, 0, 'e' }, { "serve", 0, 0, 's' },
        { "max-file-size", 1, 0, 1 }, { "max-file-age", 1, 0, 2 }, { "quota", 1, 0, 3 },
        { "min-free-bytes", 1, 0, 4 }, { "min-free-percent", 1, 0, 5 }, { "max-age", 1, 0, 6 },
        { "ring-size", 1, 0, 7 }, { "pause-after", 1, 0, 8 }, { "stats", 0, 0, 9 },
        { "send", 1, 0, 10 }, { "no-store", 0, 0, 11 }, { "index-chunks", 1, 0, 12 },
        { "max-packets", 1, 0, 13 }, { "loop", 1, 0, 14 }, { "loop-shift", 1, 0, 15 },
        { "wall-clock", 0, 0, 16 }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "r:d:n:j:e:sh", opts, NULL)) != -1;) {
        switch (c) {
        case 'r': if (nread < 64) reads[nread++] = optarg; break;
        case 'd': sc.dir = optarg; break;
        case 'n': d.name = optarg; break;
        case 'j': json_path = optarg; break;
        case 'e': endpoint = optarg; break;
        case 's': serve = true; break;
        case 1: sc.max_file_size = size_arg(optarg); break;
        case 2: sc.max_file_age = atoll(optarg); break;
        case 3: sc.retention.quota = size_arg(optarg); break;
        case 4: sc.retention.min_free_bytes = size_arg(optarg); break;
        case 5: sc.retention.min_free_percent = atoll(optarg); break;
        case 6: sc.retention.max_age = atoll(optarg); break;
        case 7: sc.ring_size = size_arg(optarg); break;
        case 8: pause_after = atoll(optarg); break;
        case 9: stats = true; break;
        case 10: send = optarg; break;
        case 11: no_store = true; break;
        case 12: chunks = atoll(optarg); break;
        case 13: max_packets = atoll(optarg); break;
        case 14: loops = atoi(optarg); break;
        case 15: loop_shift = atoll(optarg); break;
        case 16: sc.packet_clock = false; break;
        case 'h':
            printf("usage: pcap_store_driver --read F.pcap... --pcap-dir DIR [--name N] "
                   "[--emit-json FILE] [--max-file-size N] [--max-file-age S] [--quota N] "
                   "[--min-free-bytes N] [--min-free-percent P] [--max-age S] [--ring-size N] "
                   "[--index-chunks N] [--max-packets N] [--loop N --loop-shift S] "
                   "[--wall-clock] [--pause-after N] [--no-store] [--stats] "
                   "[--endpoint EP --serve]\n       pcap_store_driver --send REQUEST --endpoint EP\n");
            return 0;
        default:
            return 1;
        }
    }
    if (send)
        return raw_client(endpoint ? endpoint : "", send);
    if (!sc.dir && !no_store)
        die("%s", "--pcap-dir is required");
    log_set_level(LOG_LEVEL_INFO);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    char err[ASH_ERR_LEN] = "";
    struct session_table_config tc = { 1000000, 480, 60, 10, 60, 60, 5, 480, max_packets, false };
    struct frag_table *frags = frag_table_new(4096, err);
    struct session_table *table = NULL;
    struct packet_service *svc = NULL;
    struct packet_endpoint *ep = NULL;
    if (!frags || !(d.pool = app_pool_new(131072, err)) || !(d.idx = pcap_index_new((size_t)chunks, err)) ||
        !(table = session_table_new(&tc, d.pool, emit, &d, err)))
        die("%s", err);
    if (!no_store && !(d.store = pcap_store_open(&sc, d.name, 1, 262144, err)))
        die("%s", err);
    if (d.store)
        pcap_index_set_store_id(d.idx, pcap_catalog_store_id(pcap_store_catalog(d.store)));
    if (json_path && !(d.json = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout))
        die("cannot write %s", json_path);

    uint64_t packets = 0;
    double t0 = clock_mono_s(), c0 = thread_cpu_s();
    for (int l = 0; l < loops && !stop; l++) {
        for (int i = 0; i < nread && !stop; i++) {
            struct capture *cap = capture_open_file(reads[i], NULL, err);
            struct capture_packet pkt;
            if (!cap)
                die("%s", err);
            int dlt = capture_dlt(cap);
            if (d.store)
                pcap_store_set_link(d.store, dlt, 262144);
            while (!stop && capture_next(cap, &pkt) == CAPTURE_PACKET) {
                struct decoded dec;
                uint64_t file = 0, off = 0;
                int dir, stored = -1;
                int64_t ts = pkt.ts_us + (int64_t)l * loop_shift * 1000000;
                packets++;
                /* the order the sensor will use: decode and the session first (the packet is
                 * hot for them), then the copy into the store's ring, before after_packet (which
                 * may cut a segment that must include this packet) */
                if (decode_packet(dlt, pkt.data, pkt.caplen, pkt.wirelen, &dec) != 0) {
                    if (d.store && pcap_store_append(d.store, ts, pkt.data, pkt.caplen, pkt.wirelen,
                                                     &file, &off) != 0)
                        d.store_failures++;
                    session_table_after_packet(table, NULL, ts);
                } else {
                    if (dec.is_fragment)
                        frag_table_ports(frags, &dec, ts);
                    struct session *s = session_table_packet(table, &dec, ts, &dir);
                    if (dec.payload_len && (dec.ip_proto == 6 || dec.ip_proto == 17 || dec.ip_proto == 132))
                        app_parse(d.pool, &s->app, dir, dec.ip_proto, dec.sport, dec.dport, dec.payload,
                                  dec.payload_len);
                    if (d.store && (stored = pcap_store_append(d.store, ts, pkt.data, pkt.caplen,
                                                               pkt.wirelen, &file, &off)) != 0)
                        d.store_failures++;
                    if (stored == 0)
                        pcap_index_add(d.idx, &s->pos, file, off);
                    else if (d.store)
                        pcap_index_mark_gap(d.idx, &s->pos);
                    session_table_after_packet(table, s, ts);
                }
                if (pause_after && (long long)packets == pause_after) {
                    /* what a crash mid-write looks like: data in the file, the file still
                     * open in the catalogue; the test kills us with SIGKILL here */
                    pcap_store_wait_closed(d.store, 5000);
                    if (d.json)
                        fflush(d.json);
                    printf("paused packets=%llu\n", (unsigned long long)packets);
                    fflush(stdout);
                    while (!stop)
                        pause();
                }
            }
            capture_close(cap);
        }
    }
    session_table_flush(table);
    double secs = clock_mono_s() - t0, cpu = thread_cpu_s() - c0;
    if (d.json && d.json != stdout)
        fclose(d.json);
    if (d.store)
        pcap_store_wait_closed(d.store, 60000);
    if (serve && d.store) {
        struct packet_service_config pc;
        packet_service_config_defaults(&pc);
        if (!(svc = packet_service_new(&pc, d.store, err)) || !(ep = packet_endpoint_open(endpoint, svc, err)))
            die("%s", err);
        printf("ready endpoint=%s\n", packet_endpoint_address(ep));
        fflush(stdout);
        while (!stop)
            pause();
    }
    if (stats)
        print_stats(d.store, d.idx, svc, d.sessions, packets, d.store_failures, secs, cpu);
    packet_endpoint_close(ep);
    packet_service_free(svc);
    pcap_store_close(d.store);
    session_table_free(table);
    frag_table_free(frags);
    app_pool_free(d.pool);
    pcap_index_free(d.idx);
    free(d.posbuf);
    return 0;
}
