/* cmd_pcap.c -- `ashiato pcap`: ask a sensor's packet endpoint (or the aggregator's) for the
 *               packets of sessions, or of a time range and BPF filter, and write them as pcap.
 * Owns:  the subcommand's flags and the output files; the requests themselves, the socket
 *        and the check of each answer belong to pcapstore/packet_client.h.
 * Never: reads the sensor's files itself; keeps going after a transport failure; writes a
 *        packet of an answer that failed its check.
 * Exit:  0 every request answered OK; 1 usage, a bad session document, a local or transport
 *        error; 2 the endpoint refused some request (EXPIRED, MISMATCH, NOT_FOUND,
 *        BAD_REQUEST, TOO_LARGE, ERROR), or what came back was not the session's packets
 *        (MISMATCH): each is reported on stderr, the others are still written. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "packet_client.h"

#define PCAP_HDR 24

struct output {
    const char *path, *dir;                   /* one of them */
    FILE *f;                                  /* the single output, once opened */
    bool header_written;
    uint8_t header[PCAP_HDR];
};

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: ashiato pcap --sensor ENDPOINT --session-json LINE|FILE|- (--out FILE.pcap | --out-dir DIR)\n"
        "       ashiato pcap --sensor ENDPOINT --start TIME --end TIME [--bpf EXPR] --out FILE.pcap\n"
        "Ask a sensor for packets from its pcap store and write them as a pcap file.\n"
        "  -s, --sensor ENDPOINT     the sensor's packet endpoint (its packet_endpoint setting,\n"
        "                            an ipc:// socket path such as ipc:///run/ashiato/packets,\n"
        "                            which only its owner and group may use), or the\n"
        "                            aggregator's (its packet_endpoint), which passes each\n"
        "                            request to the sensor named by observer.name over that\n"
        "                            sensor's own connection\n"
        "  -n, --name SENSOR         with --start/--end through an aggregator: which sensor\n"
        "  -j, --session-json ARG    a session document (one JSON line, as --emit-json writes),\n"
        "                            or a file of them, one per line ('-' for stdin); uses\n"
        "                            ashiato.packet_pos, else the session's time range and flow;\n"
        "                            what comes back is checked against the session's time\n"
        "                            range and flow, and refused (MISMATCH) if it is not its own\n"
        "      --start TIME          time range start: ISO 8601 (2021-09-28T13:00:00.5Z) or\n"
        "      --end TIME            epoch seconds (1632834000.5)\n"
        "  -f, --bpf EXPR            with --start/--end: only packets matching this filter\n"
        "  -o, --out FILE            write every packet asked into FILE ('-' for stdout)\n"
        "  -d, --out-dir DIR         one file per session: DIR/SESSION_ID.pcap\n"
        "      --max-packets N       ask for at most N packets per request, N >= 1 (the\n"
        "                            sensor's limit applies too)\n"
        "      --max-bytes N         ask for at most N bytes per request, N >= 1\n"
        "  -t, --timeout SECONDS     wait this long for each answer chunk, 1..3600 (default 30)\n"
        "  -h, --help                this text\n"
        "Exit status: 0 all answered; 1 usage error, a bad session document (not JSON, no\n"
        "positions or flow, a bad address), a local or transport error (no such socket,\n"
        "permission denied, nobody listening, no answer); 2 the endpoint refused some request\n"
        "or its answer was not the session's packets (expired, mismatch, not found, bad\n"
        "request, too large, error: reported on stderr).\n");
}

/* a whole decimal number in [lo, hi]; -1 for anything else ("abc", "-1", "1e3", "") */
static int parse_count(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
    char *end;
    if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static FILE *open_out(struct output *o, const char *job)
{
    if (o->path)
        return o->f ? o->f : (o->f = strcmp(o->path, "-") ? fopen(o->path, "wb") : stdout);
    char path[4096], name[128];
    size_t k = 0;
    for (const char *s = job; *s && k < sizeof name - 1; s++)
        name[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                           *s == '-' || *s == '_' ? *s : '_');
    name[k] = '\0';
    snprintf(path, sizeof path, "%s/%s.pcap", o->dir, name);
    return fopen(path, "wb");
}

/* write one checked answer: one file header per output file. 0, or -1 (reported) */
static int write_answer(struct output *o, const char *job, const struct packet_client_result *r)
{
    if (!r->len)
        return 0;
    const uint8_t *data = r->pcap;
    size_t n = r->len;
    FILE *f = open_out(o, job);
    if (!f) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", o->path ? o->path : o->dir, strerror(errno));
        return -1;
    }
    if (o->path) {
        if (o->header_written) {
            if (memcmp(o->header + 20, data + 20, 4) != 0)
                fprintf(stderr, "ashiato pcap: %s: link type differs from the first answer's\n", job);
            data += PCAP_HDR;
            n -= PCAP_HDR;
        } else {
            memcpy(o->header, data, PCAP_HDR);
            o->header_written = true;
        }
    }
    int rc = fwrite(data, 1, n, f) == n ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "ashiato pcap: write: %s\n", strerror(errno));
    if (!o->path && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", job, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* one query: 0 OK, 2 refused or not the session's, 1 transport or local */
static int run(struct packet_client *c, const struct packet_client_query *q, struct output *o, int timeout_s)
{
    struct packet_client_result r;
    enum packet_client_status s = packet_client_fetch(c, q, timeout_s * 1000, &r);
    int rc;
    if (s == PACKET_CLIENT_OK) {
        if (r.note[0])
            fprintf(stderr, "ashiato pcap: %s: note: %s\n", q->name, r.note);
        rc = write_answer(o, q->name, &r) < 0 ? 1 : 0;
    } else {
        fprintf(stderr, "ashiato pcap: %s: %s: %s\n", q->name, packet_client_status_name(s), r.error);
        rc = packet_client_answered(s) ? 2 : 1;
    }
    packet_client_result_free(&r);
    return rc;
}

int cmd_pcap(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sensor", 1, NULL, 's' }, { "session-json", 1, NULL, 'j' }, { "start", 1, NULL, 1 },
        { "end", 1, NULL, 2 }, { "bpf", 1, NULL, 'f' }, { "out", 1, NULL, 'o' },
        { "out-dir", 1, NULL, 'd' }, { "max-packets", 1, NULL, 3 }, { "max-bytes", 1, NULL, 4 },
        { "timeout", 1, NULL, 't' }, { "name", 1, NULL, 'n' }, { "help", 0, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sensor = NULL, *sj = NULL, *start = NULL, *end = NULL, *bpf = NULL, *name = NULL;
    struct output o = { 0 };
    unsigned long long max_packets = 0, max_bytes = 0, timeout = 30;
    const char *bad = NULL;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "s:j:f:o:d:t:n:h", opts, NULL)) != -1;) {
        switch (c) {
        case 'n': name = optarg; break;
        case 's': sensor = optarg; break;
        case 'j': sj = optarg; break;
        case 1: start = optarg; break;
        case 2: end = optarg; break;
        case 'f': bpf = optarg; break;
        case 'o': o.path = optarg; break;
        case 'd': o.dir = optarg; break;
        case 3:
            if (parse_count(optarg, 1, UINT64_MAX, &max_packets) < 0)
                bad = "--max-packets: expected a whole number >= 1";
            break;
        case 4:
            if (parse_count(optarg, 1, UINT64_MAX, &max_bytes) < 0)
                bad = "--max-bytes: expected a whole number >= 1";
            break;
        case 't':
            if (parse_count(optarg, 1, 3600, &timeout) < 0)
                bad = "--timeout: expected whole seconds 1..3600";
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    const char *why = bad ? bad
                    : !sensor ? "--sensor is required"
                    : !sj == !(start || end) ? "give --session-json, or --start and --end"
                    : (start || end) && !(start && end) ? "give both --start and --end"
                    : !o.path == !o.dir ? "give --out or --out-dir"
                    : bpf && sj ? "--bpf goes with --start/--end" : NULL;
    if (why || optind != argc) {
        fprintf(stderr, "ashiato pcap: %s (see ashiato pcap --help)\n", why ? why : "unexpected argument");
        return 1;
    }
    if (o.dir && mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    char err[ASH_ERR_LEN];
    struct packet_client *c = packet_client_open(sensor, err);
    int status = 0, count = 0;
    if (!c) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", sensor, err);
        return 1;
    }
    if (start) {
        struct packet_client_query q;
        int64_t s_us, e_us;
        if (packet_client_parse_time(start, &s_us) < 0 || packet_client_parse_time(end, &e_us) < 0) {
            fprintf(stderr, "ashiato pcap: --start/--end: expected ISO 8601 or epoch seconds\n");
            status = 1;
        } else if (packet_client_query_range(&q, s_us, e_us, bpf, name, err) < 0) {
            fprintf(stderr, "ashiato pcap: %s\n", err);
            status = 1;
        } else {
            q.max_packets = max_packets;
            q.max_bytes = max_bytes;
            status = run(c, &q, &o, (int)timeout);
            packet_client_query_free(&q);
        }
        goto out;
    }
    FILE *in = sj[0] == '{' ? fmemopen((void *)sj, strlen(sj), "r") : strcmp(sj, "-") ? fopen(sj, "r") : stdin;
    if (!in) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", sj, strerror(errno));
        status = 1;
        goto out;
    }
    char *line = NULL;
    size_t cap = 0;
    bool transport_down = false;
    for (ssize_t n; !transport_down && (n = getline(&line, &cap, in)) > 0;) {
        if (n <= 1)
            continue;
        struct packet_client_query q;
        count++;
        int rc;
        if (packet_client_query_from_json(&q, line, (size_t)n, err) < 0) {
            fprintf(stderr, "ashiato pcap: session %d: %s\n", count, err);
            rc = 1;
        } else {
            if (q.by_flow)
                fprintf(stderr, "ashiato pcap: %s: no packet_pos, asking by time range and flow: %s\n",
                        q.name, q.bpf);
            q.max_packets = max_packets;
            q.max_bytes = max_bytes;
            rc = run(c, &q, &o, (int)timeout);
            transport_down = rc == 1;         /* the endpoint is gone: stop asking */
            packet_client_query_free(&q);
        }
        /* a refusal (2) is reported but a local failure (1) decides the status */
        if (rc == 1 || (rc == 2 && status == 0))
            status = rc;
    }
    free(line);
    if (in != stdin)
        fclose(in);
out:
    if (o.f && o.f != stdout && fclose(o.f) != 0 && status == 0) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", o.path, strerror(errno));
        status = 1;
    } else if (o.f == stdout) {
        fflush(stdout);
    }
    packet_client_close(c);
    return status;
}
