/* main.c -- ashiato-sensor: reads packets (files or a live interface), makes sessions, and
 *           writes their records.
 * Owns:  the process: configuration, signals, the choice of input, progress and the final
 *        totals, and the exit status. The only sensor file that prints or exits.
 * Never: decodes or keeps sessions itself (pipeline.c does). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "app.h"
#include "capture.h"
#include "decode.h"
#include "log.h"
#include "packet_keep.h"
#include "packet_service.h"
#include "pcap_store.h"
#include "pipeline.h"
#include "prefetch.h"
#include "sensor_config.h"
#include "shipping.h"

/* the reader thread's ring: a few thousand packets of slack between libpcap and decoding */
#define PREFETCH_RING_BYTES (8u << 20)

/* SIGINT/SIGTERM received so far: the first stops the input, one during the offline drain
 * stops the drain (shipping_close) */
static volatile sig_atomic_t stop_requested;
static struct capture *live_capture;
static struct shipping *shipping;
static struct packet_keep *keep;

/* bytes a stored packet may have: the largest snaplen libpcap writes */
#define KEEP_SNAPLEN 262144

/* the store is opened with the first input's link type; later files may change it */
static int keep_link(const struct sensor_config *cfg, struct pipeline *p, int dlt, int snaplen,
                     bool offline, char err[ASH_ERR_LEN])
{
    if (!cfg->pcap_dir[0])
        return 0;
    if (keep) {
        packet_keep_set_link(keep, dlt, snaplen);
        return 0;
    }
    if (!(keep = packet_keep_open(cfg, p, dlt, snaplen, offline, err)))
        return -1;
    shipping_serve_packets(shipping, packet_keep_service(keep));
    if (packet_keep_store(keep))
        shipping_report_catalog(shipping, pcap_store_catalog(packet_keep_store(keep)));
    return 0;
}
static struct capture_stats live_totals;     /* pcap_stats at the end of a live capture */
static bool live_ran;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested++;
    capture_breakloop(live_capture);
}

/* --emit-json: the first write error (a full disk, /dev/full, a closed pipe) stops the input
 * and the run ends non-zero naming it (issue 14 M6); without this the error was counted in
 * output_errors and the sensor exited 0 */
struct json_out {
    FILE *f;
    int err;                         /* errno of the first failed write */
};

static int json_write(void *ctx, const Ashiato__SessionRecord *rec)
{
    struct json_out *j = ctx;
    if (j->err)
        return -1;
    errno = 0;
    if (pipeline_output_json(j->f, rec) == 0)
        return 0;
    j->err = errno ? errno : EIO;
    stop_requested++;
    capture_breakloop(live_capture);
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_capture_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    return dot && (!strcmp(dot, ".pcap") || !strcmp(dot, ".pcapng") || !strcmp(dot, ".cap"));
}

/* the --read files, then --read-dir's capture files in name order */
static int input_files(const struct sensor_config *cfg, struct config_strlist *out, char err[ASH_ERR_LEN])
{
    for (size_t i = 0; i < cfg->read.n; i++) {
        struct stat st;
        if (stat(cfg->read.v[i], &st) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: %s", cfg->read.v[i], strerror(errno));
            return -1;
        }
        if (!(out->v = realloc(out->v, (out->n + 1) * sizeof *out->v)) ||
            !(out->v[out->n++] = strdup(cfg->read.v[i])))
            goto nomem;
    }
    if (!cfg->read_dir[0])
        return 0;
    DIR *d = opendir(cfg->read_dir);
    if (!d) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", cfg->read_dir, strerror(errno));
        return -1;
    }
    size_t first = out->n;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_capture_name(e->d_name))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", cfg->read_dir, e->d_name);
        /* a FIFO would block the run forever and a directory would end it: only regular
         * files (or links to them) are read from a directory (issue 14 L10) */
        struct stat st;
        const char *why = stat(path, &st) < 0 ? strerror(errno)
                        : S_ISREG(st.st_mode) ? NULL
                        : S_ISDIR(st.st_mode) ? "a directory, not a regular file"
                        : S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file" : "not a regular file";
        if (why) {
            log_warn("sensor", "read-dir: skipping %s: %s", path, why);
            continue;
        }
        if (!(out->v = realloc(out->v, (out->n + 1) * sizeof *out->v)) ||
            !(out->v[out->n++] = strdup(path))) {
            closedir(d);
            goto nomem;
        }
    }
    closedir(d);
    qsort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
    if (out->n == first) {
        snprintf(err, ASH_ERR_LEN, "%s: no .pcap, .pcapng or .cap regular files", cfg->read_dir);
        return -1;
    }
    return 0;
nomem:
    snprintf(err, ASH_ERR_LEN, "out of memory listing inputs");
    return -1;
}

struct progress {
    bool on;
    double started, last;
    uint64_t total_bytes, done_bytes;
};

static void progress_show(struct progress *pr, struct pipeline *p, uint64_t file_off, bool final)
{
    double t = clock_mono_s();
    if (!pr->on || (!final && t - pr->last < 0.5))
        return;
    pr->last = t;
    struct pipeline_stats st;
    pipeline_stats(p, &st);
    double pct = pr->total_bytes ? 100.0 * (double)(pr->done_bytes + file_off) / (double)pr->total_bytes : 0;
    double el = t - pr->started;
    fprintf(stderr, "\rashiato-sensor: %5.1f%%  %llu packets  %.2f Mpps  %llu sessions (%llu active)%s",
            pct > 100 ? 100 : pct, (unsigned long long)st.packets,
            el > 0 ? (double)st.packets / el / 1e6 : 0.0, (unsigned long long)st.table.created,
            (unsigned long long)st.table.active, final ? "\n" : "   ");
}

/* --realtime: sleep until packet time (scaled) catches up with the wall clock */
struct pacing {
    double factor;
    int64_t first_ts;
    double started;
};

static void pace(struct pacing *pc, int64_t ts_us)
{
    if (pc->factor <= 0)
        return;
    if (!pc->first_ts) {
        pc->first_ts = ts_us;
        pc->started = clock_mono_s();
        return;
    }
    double due = pc->started + (double)(ts_us - pc->first_ts) / 1e6 / pc->factor;
    double wait = due - clock_mono_s();
    if (wait > 0.0005 && !stop_requested) {
        struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
        nanosleep(&ts, NULL);
        shipping_tick(shipping, clock_wall_us(), 0, 0, 0);
    }
}

static int run_files(const struct sensor_config *cfg, struct pipeline *p, const struct config_strlist *files,
                     struct progress *pr, uint64_t *truncated, char err[ASH_ERR_LEN])
{
    struct capture_packet pkt;
    char *end, empty[ASH_ERR_LEN] = "";
    struct pacing pc = { strtod(cfg->realtime, &end), 0, 0 };
    if (config_parse_double(cfg->realtime, &pc.factor) < 0 || pc.factor < 0) {   /* no NaN, inf */
        snprintf(err, ASH_ERR_LEN, "realtime: expected a factor >= 0 such as 1 or 20, got '%s'", cfg->realtime);
        return -1;
    }
    for (size_t i = 0; i < files->n; i++) {
        struct stat st;
        if (stat(files->v[i], &st) == 0)
            pr->total_bytes += (uint64_t)st.st_size;
    }
    for (size_t i = 0; i < files->n && !stop_requested; i++) {
        struct capture *c = capture_open_file(files->v[i], cfg->bpf, err);
        if (!c)
            return -1;
        int dlt = capture_dlt(c);
        if (!decode_dlt_supported(dlt)) {
            snprintf(err, ASH_ERR_LEN, "%s: unsupported link type %d", files->v[i], dlt);
            capture_close(c);
            return -1;
        }
        if (keep_link(cfg, p, dlt, KEEP_SNAPLEN, true, err) < 0) {
            capture_close(c);
            return -1;
        }
        struct prefetch *pf = prefetch_start(c, PREFETCH_RING_BYTES, PREFETCH_DECODE, NULL, err);
        if (!pf) {
            capture_close(c);
            return -1;
        }
        pipeline_set_source(p, capture_source(c));
        enum capture_next_result rc = CAPTURE_EOF;
        uint64_t n = 0;
        while (!stop_requested && (rc = prefetch_next(pf, &pkt)) == CAPTURE_PACKET) {
            pace(&pc, pkt.ts_us);
            struct decoded *d = prefetch_decoded(pf);
            if (d)
                pipeline_packet_decoded(p, &pkt, d);
            else
                pipeline_packet(p, dlt, &pkt);
            if ((++n & 0xffff) == 0) {
                progress_show(pr, p, prefetch_file_offset(pf), false);
                shipping_tick(shipping, clock_wall_us(), 0, 0, 0);
            }
        }
        if (rc == CAPTURE_ERROR && n == 0 && !empty[0]) {
            /* nothing came out of it (garbage after the header, pcapng interfaces of two link
             * types): an error, not a short file (issue 14 L6); the other inputs still run */
            snprintf(empty, ASH_ERR_LEN, "no packets read: %s", prefetch_error(pf));
        } else if (rc == CAPTURE_ERROR) {
            /* a file cut short (crash, copy in progress, cut while read): what was read
             * counts, its sessions are kept, and the rest is reported once */
            log_warn("sensor", "input ended early: %s; the %llu packets before are kept",
                     prefetch_error(pf), (unsigned long long)n);
        }
        if (rc == CAPTURE_ERROR)
            (*truncated)++;
        prefetch_stop(pf);
        pipeline_set_source(p, NULL);  /* the store holds the mapping while it still needs it */
        pr->done_bytes += capture_file_size(c);
        capture_close(c);
    }
    if (empty[0]) {
        snprintf(err, ASH_ERR_LEN, "%s", empty);
        return -1;
    }
    return 0;
}

static int run_live(const struct sensor_config *cfg, struct pipeline *p, char err[ASH_ERR_LEN])
{
    struct capture_live_config lc = { cfg->interface, cfg->bpf, cfg->snaplen, cfg->buffer_size,
                                      cfg->promisc, 100 };
    struct capture_packet pkt;
    struct capture *c = capture_open_live(&lc, err);
    if (!c)
        return -1;
    int dlt = capture_dlt(c);
    if (!decode_dlt_supported(dlt)) {
        snprintf(err, ASH_ERR_LEN, "interface %s: unsupported link type %d", cfg->interface, dlt);
        capture_close(c);
        return -1;
    }
    if (keep_link(cfg, p, dlt, (int)cfg->snaplen, false, err) < 0) {
        capture_close(c);
        return -1;
    }
    live_capture = c;
    /* the reader thread keeps the packets: one copy, from the kernel's ring into the store's */
    struct prefetch *pf = prefetch_start(c, PREFETCH_RING_BYTES, 0, packet_keep_store(keep), err);
    if (!pf) {
        capture_close(c);
        return -1;
    }
    log_info("sensor", "capturing interface=%s snaplen=%lld buffer=%lld bpf='%s'", cfg->interface,
             cfg->snaplen, cfg->buffer_size, cfg->bpf);
    double last_stats = clock_mono_s(), last_ship = last_stats;
    uint64_t last_drop = 0;
    int rc = 0;
    /* a signal breaks libpcap's loop: the reader then queues an end marker behind the packets
     * it already has, so everything captured is counted before the sessions are flushed */
    for (;;) {
        enum capture_next_result r = prefetch_next(pf, &pkt);
        if (r == CAPTURE_PACKET) {
            pipeline_packet(p, dlt, &pkt);
        } else if (r == CAPTURE_TIMEOUT) {
            pipeline_tick(p, clock_wall_us());
        } else if (r == CAPTURE_EOF) {
            break;
        } else {
            snprintf(err, ASH_ERR_LEN, "%s", prefetch_error(pf));
            rc = -1;
            break;
        }
        double t = clock_mono_s();
        if (shipping && t - last_ship >= 0.1) {
            struct capture_stats cs = { 0 };
            last_ship = t;
            prefetch_stats(pf, &cs);
            shipping_tick(shipping, clock_wall_us(), cs.received, cs.dropped, cs.if_dropped);
        }
        if (t - last_stats >= 5) {
            struct capture_stats cs;
            last_stats = t;
            pipeline_tick(p, clock_wall_us());
            prefetch_stats(pf, &cs);
            if (cs.dropped > last_drop) {
                log_warn("sensor", "capture drops interface=%s dropped=%llu received=%llu",
                         cfg->interface, (unsigned long long)cs.dropped, (unsigned long long)cs.received);
                last_drop = cs.dropped;
            }
        }
    }
    prefetch_stop(pf);               /* the reader read the final stats before it ended */
    struct capture_stats cs;
    if (capture_stats(c, &cs) == 0) {
        live_totals = cs;
        live_ran = true;
    }
    if (live_ran)
        log_info("sensor", "capture stopped interface=%s received=%llu dropped=%llu if_dropped=%llu",
                 cfg->interface, (unsigned long long)cs.received, (unsigned long long)cs.dropped,
                 (unsigned long long)cs.if_dropped);
    live_capture = NULL;
    capture_close(c);
    return rc;
}

static void print_shipping(const struct shipping_totals *t)
{
    const struct outbox_stats *o = &t->outbox;
    fprintf(stderr, "outbox: records %llu, journalled %llu batches (%llu records), dropped at "
            "outbox_max_bytes %llu batches (%llu records), not journalled %llu batches (%llu "
            "records), pending %llu batches (%llu records), on disk %llu bytes\n",
            (unsigned long long)t->records, (unsigned long long)o->appended_batches,
            (unsigned long long)o->appended_records, (unsigned long long)o->dropped_batches,
            (unsigned long long)o->dropped_records, (unsigned long long)o->failed_batches,
            (unsigned long long)o->failed_records, (unsigned long long)o->pending_batches,
            (unsigned long long)o->pending_records, (unsigned long long)o->disk_bytes);
    fprintf(stderr, "shipping: sent %llu batches (resent %llu), acknowledged %llu batches (%llu "
            "records), lost %llu records\n", (unsigned long long)t->ship.sent,
            (unsigned long long)t->ship.resent, (unsigned long long)o->acked_batches,
            (unsigned long long)o->acked_records, (unsigned long long)shipping_lost_records(t));
}

static void print_stats(struct pipeline *p, uint64_t truncated, const struct shipping_totals *ship)
{
    struct pipeline_stats st;
    pipeline_stats(p, &st);
    fprintf(stderr, "packets: %llu (%llu bytes), ip: %llu, not ip: %llu, malformed: %llu, "
            "truncated inputs: %llu\n",
            (unsigned long long)st.packets, (unsigned long long)st.bytes,
            (unsigned long long)st.ip_packets, (unsigned long long)st.not_ip,
            (unsigned long long)st.malformed, (unsigned long long)truncated);
    fprintf(stderr, "sessions: %llu (records %llu, segments %llu, evicted %llu), fragment orphans: %llu\n",
            (unsigned long long)st.table.created, (unsigned long long)st.table.emitted +
            st.table.segments, (unsigned long long)st.table.segments,
            (unsigned long long)st.table.evicted, (unsigned long long)st.frag_orphans);
    fprintf(stderr, "packets by transport:");
    for (int i = 0; i < 256; i++)
        if (st.by_transport[i])
            fprintf(stderr, " %d=%llu", i, (unsigned long long)st.by_transport[i]);
    fprintf(stderr, "\nsessions by application:");
    for (int i = 0; i < APP_PROTO_COUNT && i < 32; i++)
        if (st.sessions_by_app[i])
            fprintf(stderr, " %s=%llu", i ? app_proto_name((enum app_proto)i) : "unknown",
                    (unsigned long long)st.sessions_by_app[i]);
    fprintf(stderr, "\n");
    for (int e = 1; e < DECODE_EVENT_COUNT; e++)
        if (st.events[e])
            fprintf(stderr, "%s: %llu\n", decode_event_name((enum decode_event)e),
                    (unsigned long long)st.events[e]);
    if (live_ran)
        fprintf(stderr, "capture: received %llu, dropped %llu, interface dropped %llu\n",
                (unsigned long long)live_totals.received, (unsigned long long)live_totals.dropped,
                (unsigned long long)live_totals.if_dropped);
    if (st.output_errors)
        fprintf(stderr, "output errors: %llu\n", (unsigned long long)st.output_errors);
    if (ship)
        print_shipping(ship);
}

int main(int argc, char **argv)
{
    struct sensor_config cfg = { 0 };
    char err[ASH_ERR_LEN] = "";
    struct config_strlist files = { 0 };
    struct pipeline *p = NULL;
    FILE *json = NULL;
    struct json_out jout = { 0 };
    struct shipping_totals ship_totals;
    int status = 1;
    uint64_t truncated = 0;

    int shown = config_main(sensor_config_keys, sensor_config_nkeys, &cfg, argc, argv, "ashiato-sensor",
                            "Capture packets (live or from files), assemble sessions, write their "
                            "records, keep the packets and ship the records to the aggregator.", err);
    if (shown) {
        status = shown > 0 ? 0 : 1;
        if (shown < 0)
            goto fail;
        goto out;
    }
    if (log_level_apply(cfg.log_level, err) < 0)
        goto fail;
    int sources = (cfg.interface[0] != 0) + (cfg.read.n > 0 || cfg.read_dir[0] != 0);
    if (sources != 1) {
        snprintf(err, sizeof err, sources ? "give either --interface or --read/--read-dir, not both"
                                          : "nothing to read: give --interface, --read or --read-dir");
        goto fail;
    }
    if (!cfg.name[0] && gethostname(cfg.name, sizeof cfg.name - 1) < 0)
        snprintf(cfg.name, sizeof cfg.name, "sensor");
    if (!cfg.interface[0] && input_files(&cfg, &files, err) < 0)
        goto fail;

    struct pipeline_config pc = {
        .table = { cfg.max_sessions, cfg.tcp_timeout, cfg.udp_timeout, cfg.icmp_timeout,
                   cfg.sctp_timeout, cfg.other_timeout, cfg.tcp_close_timeout,
                   cfg.tcp_save_timeout, cfg.max_packets, cfg.session_key_vlan },
        .app_fields_max = cfg.app_fields_max,
        .sensor_name = cfg.name,
    };
    static uint16_t vlan_map[SENSOR_VLAN_IDS];          /* [vlan-vni-collapse] */
    int vlan_groups = sensor_config_vlan_collapse(sensor_config_path(argc, argv), vlan_map, err);
    if (vlan_groups < 0)
        goto fail;
    if (!(p = pipeline_new(&pc, err)))
        goto fail;
    if (vlan_groups)
        pipeline_set_vlan_map(p, vlan_map);
    if (cfg.emit_json[0]) {
        json = strcmp(cfg.emit_json, "-") == 0 ? stdout : fopen(cfg.emit_json, "w");
        if (!json) {
            snprintf(err, sizeof err, "%s: %s", cfg.emit_json, strerror(errno));
            goto fail;
        }
        /* live: each session is written as it ends (a reader tailing the file sees sessions
         * time out on a quiet link); files: one write per MiB */
        setvbuf(json, NULL, cfg.interface[0] ? _IOLBF : _IOFBF, 1 << 20);
        jout.f = json;
        pipeline_add_output(p, json_write, &jout);
    }

    if (cfg.aggregator[0] && !(shipping = shipping_open(&cfg, p, err)))
        goto fail;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct progress pr = { cfg.progress || isatty(STDERR_FILENO), clock_mono_s(), 0, 0, 0 };
    int rc = cfg.interface[0] ? run_live(&cfg, p, err) : run_files(&cfg, p, &files, &pr, &truncated, err);
    pipeline_flush(p);
    if (!cfg.interface[0])
        progress_show(&pr, p, 0, true);
    if (json && (fflush(json) != 0 || ferror(json)) && !jout.err)
        jout.err = errno ? errno : EIO;
    if (jout.err) {
        /* this error wins: the input was stopped because of it */
        snprintf(err, sizeof err, "emit-json %s: write failed: %s%s", cfg.emit_json,
                 strerror(jout.err), jout.err == EPIPE ? " (the reader closed the pipe)" : "");
        rc = -1;
    }
    if (rc == 0 && cfg.serve && !cfg.interface[0] && keep) {
        if (packet_keep_sync(keep, 60000) < 0)
            log_warn("sensor", "pcap writer still behind after 60 s");
        log_info("sensor", "input done: answering packet requests until signalled");
        while (!stop_requested) {
            struct timespec ts = { 0, 100000000 };
            nanosleep(&ts, NULL);
            shipping_tick(shipping, clock_wall_us(), 0, 0, 0);   /* the last batch, stats */
        }
    }
    /* offline input waits for every acknowledgement; a stopped live capture does not */
    char ship_err[ASH_ERR_LEN] = "";
    struct shipping *sh = shipping;
    shipping = NULL;
    shipping_serve_packets(sh, NULL);
    bool shipped = sh != NULL;
    int ship_rc = shipping_close(sh, !cfg.interface[0] || !stop_requested, &stop_requested,
                                 &ship_totals, ship_err);
    if (cfg.stats) {
        print_stats(p, truncated, shipped ? &ship_totals : NULL);
        if (keep) {
            char line[384];
            packet_keep_report(keep, line, sizeof line);
            fprintf(stderr, "%s\n", line);
        }
    }
    packet_keep_close(keep);         /* after the flush: the last records read the index */
    keep = NULL;
    if (rc < 0 && ship_rc < 0)
        log_error("sensor", "%s", ship_err);
    if (rc == 0 && ship_rc < 0) {
        snprintf(err, sizeof err, "%s", ship_err);
        rc = -1;
    }
    if (rc < 0)
        goto fail;
    status = 0;
    goto out;
fail:
    fprintf(stderr, "ashiato-sensor: %s\n", err);
out:
    shipping_close(shipping, false, NULL, NULL, err);
    packet_keep_close(keep);
    if (json && json != stdout)
        fclose(json);
    pipeline_free(p);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    config_free(sensor_config_keys, sensor_config_nkeys, &cfg);
    return status;
}
