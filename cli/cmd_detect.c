/* cmd_detect.c -- `ashiato detect`: the aggregator's detectors, offline, over session JSON
 * lines as `ashiato-sensor --emit-json` writes them (Zeek's `zeek -r trace.pcap` habit).
 * Owns:  the subcommand's flags, reading the files' lines (detect_json_record, detect_json.c,
 *        makes each a detect record), ordering them by event.start across files, and writing
 *        one alert per line.
 * Never: writes anything but alerts to stdout (errors and --stats go to stderr).
 * Trap:  every record is held in memory until the input ends, to feed them in record-time
 *        order whatever order the files and sensors wrote them in (a sensor writes a session
 *        when it ends). --stream feeds them as read instead, for unbounded input. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "detect.h"

struct rec {
    struct detect_record r;
    char *strings;              /* sensor, session id, community id, conn_state, one block */
    size_t order;
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ashiato detect [-c aggregator.ini] [--set KEY=VALUE]... [--stream] [--stats]\n"
            "                      FILE.json|- ...\n"
            "Run the aggregator's detectors (scans, TRW scanners, lateral movement across\n"
            "segments, session spikes, address policy) over session JSON lines from one or more\n"
            "sensors (observer.name tells them apart) and write one alert per line (ECS JSON).\n"
            "  -c, --config FILE   read [detect], [segments] and [sensors] from FILE\n"
            "  -s, --set K=V       one [detect] key, e.g. --set port_scan_ports=5\n"
            "      --stream        feed records as read (default: all, in event.start order)\n"
            "      --stats         counters and state memory on stderr at the end\n"
            "  -h, --help          this text\n"
            "Keys and defaults: docs/detection.md.\n");
}

struct out_ctx {
    const struct detect_config *cfg;
    unsigned long written;
    int failed;
};

static void on_alert(const struct detect_alert *a, bool final, void *ctx)
{
    struct out_ctx *oc = ctx;
    if (!final)
        return;             /* offline: each alert once, as it ended */
    char *doc = detect_alert_json(a, oc->cfg);
    if (!doc || printf("%s\n", doc) < 0)
        oc->failed = 1;
    free(doc);
    oc->written++;
}

static int by_start(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->r.start_us != y->r.start_us)
        return x->r.start_us < y->r.start_us ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int read_file(const char *path, struct recs *rs, struct detect *d, bool stream,
                     unsigned long *skipped)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fprintf(stderr, "ashiato detect: %s: cannot open\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n <= 1)
            continue;
        struct rec r = { 0 };
        if (detect_json_record(line, &r.r, &r.strings) < 0) {
            (*skipped)++;
            continue;
        }
        if (stream) {
            detect_feed(d, &r.r);
            free(r.strings);
            continue;
        }
        if (rs->n == rs->cap) {
            size_t nc = rs->cap ? rs->cap * 2 : 4096;
            struct rec *v = realloc(rs->v, nc * sizeof *v);
            if (!v) {
                free(r.strings);
                free(line);
                fprintf(stderr, "ashiato detect: out of memory\n");
                return -1;
            }
            rs->v = v;
            rs->cap = nc;
        }
        r.order = rs->n;
        rs->v[rs->n++] = r;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}

int cmd_detect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "set", required_argument, NULL, 's' },
        { "stream", no_argument, NULL, 'S' }, { "stats", no_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    static struct detect_config cfg;
    char err[ASH_ERR_LEN];
    bool stream = false, stats = false;
    detect_config_defaults(&cfg);
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1;) {
        switch (c) {
        case 'c':
            if (detect_config_load(&cfg, optarg, err) < 0) {
                fprintf(stderr, "ashiato detect: %s\n", err);
                return 2;
            }
            break;
        case 's': {
            char kv[512];
            snprintf(kv, sizeof kv, "%s", optarg);
            char *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "ashiato detect: --set %s: expected KEY=VALUE\n", optarg);
                return 2;
            }
            *eq = '\0';
            if (detect_config_set(&cfg, "detect", kv, eq + 1, err) != 0) {
                fprintf(stderr, "ashiato detect: --set %s\n", err);
                return 2;
            }
            break;
        }
        case 'S': stream = true; break;
        case 'T': stats = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ashiato detect: give one or more FILE.json (or - for stdin)\n");
        return 2;
    }
    struct out_ctx oc = { &cfg, 0, 0 };
    struct detect *d = detect_new(&cfg, on_alert, &oc, err);
    if (!d) {
        fprintf(stderr, "ashiato detect: %s\n", err);
        return 1;
    }
    struct recs rs = { 0 };
    unsigned long skipped = 0;
    int rc = 0;
    for (int i = optind; i < argc && rc == 0; i++)
        rc = read_file(argv[i], &rs, d, stream, &skipped);
    if (rc == 0 && !stream) {
        qsort(rs.v, rs.n, sizeof *rs.v, by_start);
        for (size_t i = 0; i < rs.n; i++)
            detect_feed(d, &rs.v[i].r);
    }
    struct detect_stats before = detect_stats(d);     /* state memory before the flush */
    if (rc == 0)
        detect_flush(d);
    if (stats) {
        struct detect_stats st = detect_stats(d);
        fprintf(stderr, "detect: records=%llu zero_packets=%llu linked=%llu failed=%llu ok=%llu "
                "unknown=%llu alerts=%llu cap_hits=%llu late=%llu skipped_lines=%lu state_bytes=%zu "
                "state_entries=%zu\n",
                (unsigned long long)st.records, (unsigned long long)st.ignored_zero,
                (unsigned long long)st.linked, (unsigned long long)st.attempts_failed,
                (unsigned long long)st.attempts_ok, (unsigned long long)st.attempts_unknown,
                (unsigned long long)st.alerts, (unsigned long long)st.cap_hits,
                (unsigned long long)st.late_records, skipped, before.bytes, before.sources);
    }
    for (size_t i = 0; i < rs.n; i++)
        free(rs.v[i].strings);
    free(rs.v);
    detect_free(d);
    if (oc.failed) {
        fprintf(stderr, "ashiato detect: cannot write alerts\n");
        return 1;
    }
    return rc ? 1 : 0;
}
