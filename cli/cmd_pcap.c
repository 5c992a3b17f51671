/* cmd_pcap.c -- `ashiato pcap`: ask a sensor's packet endpoint for the packets of sessions
 *               (or of a time range and BPF filter) and write them as a pcap file.
 * Owns:  the subcommand's flags, the PacketRequests it builds (from session documents:
 *        ashiato.packet_pos, base64, and ashiato.packet_files; or, for a document without
 *        positions, its time range and flow as a BPF filter), the DEALER socket to the sensor,
 *        and the output files.
 * Never: reads the sensor's files itself; keeps going after a transport failure.
 * Exit:  0 every request answered OK; 1 usage, local or transport error; 2 the sensor
 *        answered an error (EXPIRED, NOT_FOUND, BAD_REQUEST, TOO_LARGE, ERROR) for some
 *        request: each is reported on stderr, the others are still written. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <zmq.h>

#include "ashiato.pb-c.h"
#include "cmd.h"

#define PCAP_HDR 24
#define ST(x) ASHIATO__PACKET_RESPONSE__STATUS__##x

static const char *const status_names[] = { "OK", "MORE", "EXPIRED", "NOT_FOUND", "BAD_REQUEST",
                                            "TOO_LARGE", "ERROR" };

struct job {
    Ashiato__PacketRequest req;
    uint8_t *pos;
    Ashiato__PacketFile *pf;
    Ashiato__PacketFile **pfp;
    char bpf[1024];
    char name[128];                           /* session id, or "request-N" */
    char sensor[128];                         /* observer.name: routes a request through an
                                                 aggregator to the sensor holding the packets */
};

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
        "                            e.g. ipc:///run/ashiato/packets or tcp://127.0.0.1:5557),\n"
        "                            or the aggregator's (its packet_endpoint), which passes\n"
        "                            each request to the sensor named by observer.name over\n"
        "                            that sensor's own connection\n"
        "  -n, --name SENSOR         with --start/--end through an aggregator: which sensor\n"
        "  -j, --session-json ARG    a session document (one JSON line, as --emit-json writes),\n"
        "                            or a file of them, one per line ('-' for stdin); uses\n"
        "                            ashiato.packet_pos, else the session's time range and flow\n"
        "      --start TIME          time range start: ISO 8601 (2021-09-28T13:00:00.5Z) or\n"
        "      --end TIME            epoch seconds (1632834000.5)\n"
        "  -f, --bpf EXPR            with --start/--end: only packets matching this filter\n"
        "  -o, --out FILE            write every packet asked into FILE ('-' for stdout)\n"
        "  -d, --out-dir DIR         one file per session: DIR/SESSION_ID.pcap\n"
        "      --max-packets N       ask for at most N packets per request (sensor limit applies)\n"
        "      --max-bytes N         ask for at most N bytes per request\n"
        "  -t, --timeout SECONDS     wait this long for each answer chunk (default 30)\n"
        "  -h, --help                this text\n"
        "Exit status: 0 all answered, 1 usage or transport error, 2 the sensor refused some\n"
        "request (expired, not found, bad request, too large, error: reported on stderr).\n");
}

/* ISO 8601 UTC with optional fraction, or epoch seconds with optional fraction */
static int parse_time(const char *s, int64_t *us)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    char *end;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) >= 6) {
        if (s[n] != '\0' && strcmp(s + n, "Z") != 0)
            return -1;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                         .tm_min = mi, .tm_sec = 0 };
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || sec < 0 || sec >= 61)
            return -1;
        *us = (int64_t)t * 1000000 + (int64_t)(sec * 1e6 + 0.5);
        return 0;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v < 0 || v > 1e11)
        return -1;
    *us = (int64_t)(v * 1e6 + 0.5);
    return 0;
}

static json_object *path_get(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
    json_object *x = path_get(o, a, b);
    return x && json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

/* the flow of a session document as a BPF filter (both directions) */
static int flow_bpf(json_object *doc, char *out, size_t cap, char err[ASH_ERR_LEN])
{
    const char *sip = str_at(doc, "source", "ip"), *dip = str_at(doc, "destination", "ip");
    json_object *sp = path_get(doc, "source", "port"), *dp = path_get(doc, "destination", "port");
    json_object *ia = path_get(doc, "network", "iana_number"), *vl = path_get(doc, "network", "vlan");
    if (!sip || !dip || !ia) {
        snprintf(err, ASH_ERR_LEN, "the session has neither ashiato.packet_pos nor source.ip, "
                 "destination.ip and network.iana_number");
        return -1;
    }
    int proto = json_object_get_int(ia), p1 = sp ? json_object_get_int(sp) : 0;
    int p2 = dp ? json_object_get_int(dp) : 0;
    size_t n = 0;
    json_object *ids = vl ? path_get(vl, "id", NULL) : NULL;
    for (size_t i = 0; ids && i < json_object_array_length(ids); i++)
        n += (size_t)snprintf(out + n, cap - n, "vlan %d and ", json_object_get_int(json_object_array_get_idx(ids, i)));
    const char *pname = proto == 6 ? "tcp" : proto == 17 ? "udp" : proto == 132 ? "sctp" : NULL;
    if (pname && (p1 || p2))
        snprintf(out + n, cap - n, "%s and ((src host %s and src port %d and dst host %s and dst port %d) "
                 "or (src host %s and src port %d and dst host %s and dst port %d))", pname, sip, p1,
                 dip, p2, dip, p2, sip, p1);
    else
        snprintf(out + n, cap - n, "ip%s proto %d and host %s and host %s", strchr(sip, ':') ? "6" : "",
                 proto, sip, dip);
    return 0;
}

static int job_from_json(json_object *doc, struct job *j, char err[ASH_ERR_LEN])
{
    const char *observer = str_at(doc, "observer", "name");
    if (observer) {
        snprintf(j->sensor, sizeof j->sensor, "%s", observer);
        j->req.sensor = j->sensor;
    }
    const char *sid = str_at(doc, "ashiato", "session_id");
    const char *pos = str_at(doc, "ashiato", "packet_pos");
    json_object *files = path_get(doc, "ashiato", "packet_files");
    if (sid) {
        snprintf(j->name, sizeof j->name, "%s", sid);
        j->req.session_id.data = (uint8_t *)j->name;
        j->req.session_id.len = strlen(j->name);
    }
    if (pos && *pos) {
        size_t len = strlen(pos), out = BASE64_DECODE_LENGTH(len);
        struct base64_decode_ctx b;
        if (!(j->pos = malloc(out + 1)))
            return -1;
        base64_decode_init(&b);
        if (!base64_decode_update(&b, &out, j->pos, len, pos) || !base64_decode_final(&b)) {
            snprintf(err, ASH_ERR_LEN, "ashiato.packet_pos: not base64");
            return -1;
        }
        j->req.packet_pos.data = j->pos;
        j->req.packet_pos.len = out;
        size_t nf = files && json_object_is_type(files, json_type_array) ? json_object_array_length(files) : 0;
        if (nf) {
            j->pf = calloc(nf, sizeof *j->pf);
            j->pfp = calloc(nf, sizeof *j->pfp);
            if (!j->pf || !j->pfp)
                return -1;
            for (size_t i = 0; i < nf; i++) {
                ashiato__packet_file__init(&j->pf[i]);
                j->pf[i].file_id = (uint64_t)json_object_get_int64(json_object_array_get_idx(files, i));
                j->pfp[i] = &j->pf[i];
            }
            j->req.n_packet_files = nf;
            j->req.packet_files = j->pfp;
        }
        return 0;
    }
    /* no positions (a sensor without a store wired in, an old record): time range + flow */
    const char *start = str_at(doc, "event", "start"), *end = str_at(doc, "event", "end");
    if (!start || !end || parse_time(start, &j->req.start_us) < 0 || parse_time(end, &j->req.end_us) < 0) {
        snprintf(err, ASH_ERR_LEN, "the session has neither ashiato.packet_pos nor event.start/end");
        return -1;
    }
    if (flow_bpf(doc, j->bpf, sizeof j->bpf, err) < 0)
        return -1;
    j->req.bpf = j->bpf;
    fprintf(stderr, "ashiato pcap: %s: no packet_pos, asking by time range and flow: %s\n",
            j->name[0] ? j->name : "session", j->bpf);
    return 0;
}

static void job_free(struct job *j)
{
    free(j->pos);
    free(j->pf);
    free(j->pfp);
}

static FILE *open_out(struct output *o, const struct job *j)
{
    if (o->path)
        return o->f ? o->f : (o->f = strcmp(o->path, "-") ? fopen(o->path, "wb") : stdout);
    char path[4096], name[128];
    size_t k = 0;
    for (const char *s = j->name; *s && k < sizeof name - 1; s++)
        name[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                           *s == '-' || *s == '_' ? *s : '_');
    name[k] = '\0';
    snprintf(path, sizeof path, "%s/%s.pcap", o->dir, name);
    return fopen(path, "wb");
}

/* one request: send, receive its chunks, write them. 0 OK, 2 refused, 1 transport */
static int run_job(void *sock, struct job *j, struct output *o, int timeout_s)
{
    static uint64_t next_id = 1;
    j->req.request_id = next_id++;
    size_t len = ashiato__packet_request__get_packed_size(&j->req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 1;
    ashiato__packet_request__pack(&j->req, buf);
    int rc = zmq_send(sock, buf, len, 0);
    free(buf);
    if (rc < 0) {
        fprintf(stderr, "ashiato pcap: send: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    FILE *f = NULL;
    uint32_t expect = 0;
    int result = 1;
    for (;;) {
        zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, timeout_s * 1000L) <= 0) {
            fprintf(stderr, "ashiato pcap: no answer within %d s\n", timeout_s);
            break;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        Ashiato__PacketResponse *r = ashiato__packet_response__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!r || r->request_id != j->req.request_id) {     /* a late answer to an old request */
            if (r)
                ashiato__packet_response__free_unpacked(r, NULL);
            continue;
        }
        const uint8_t *data = r->pcap.data;
        size_t n = r->pcap.len;
        if (r->chunk != expect++) {
            fprintf(stderr, "ashiato pcap: %s: chunk %u out of order\n", j->name, r->chunk);
            ashiato__packet_response__free_unpacked(r, NULL);
            break;
        }
        if (r->chunk == 0 && n >= PCAP_HDR && o->path) {
            if (o->header_written && memcmp(o->header + 20, data + 20, 4) != 0)
                fprintf(stderr, "ashiato pcap: %s: link type differs from the first answer's\n", j->name);
            if (o->header_written) {
                data += PCAP_HDR;                /* one file header per output file */
                n -= PCAP_HDR;
            } else {
                memcpy(o->header, data, PCAP_HDR);
            }
        }
        if (r->pcap.len) {
            if (!f && !(f = open_out(o, j))) {
                fprintf(stderr, "ashiato pcap: %s: %s\n", o->path ? o->path : o->dir, strerror(errno));
                ashiato__packet_response__free_unpacked(r, NULL);
                break;
            }
            if (o->path)
                o->header_written = true;
            if (fwrite(data, 1, n, f) != n) {
                fprintf(stderr, "ashiato pcap: write: %s\n", strerror(errno));
                ashiato__packet_response__free_unpacked(r, NULL);
                break;
            }
        }
        int st = (int)r->status;
        if (st != ST(MORE)) {
            const char *sn = st >= 0 && st < 7 ? status_names[st] : "?";
            if (st == ST(OK) && r->error && *r->error)
                fprintf(stderr, "ashiato pcap: %s: note: %s\n", j->name, r->error);
            else if (st != ST(OK))
                fprintf(stderr, "ashiato pcap: %s: %s: %s\n", j->name, sn, r->error ? r->error : "");
            result = st == ST(OK) ? 0 : 2;
            ashiato__packet_response__free_unpacked(r, NULL);
            break;
        }
        ashiato__packet_response__free_unpacked(r, NULL);
    }
    if (f && !o->path)
        fclose(f);
    return result;
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
    unsigned long long max_packets = 0, max_bytes = 0;
    int timeout = 30;
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
        case 3: max_packets = strtoull(optarg, NULL, 10); break;
        case 4: max_bytes = strtoull(optarg, NULL, 10); break;
        case 't': timeout = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    const char *why = !sensor ? "--sensor is required"
                    : !sj == !(start || end) ? "give --session-json, or --start and --end"
                    : (start || end) && !(start && end) ? "give both --start and --end"
                    : !o.path == !o.dir ? "give --out or --out-dir"
                    : bpf && sj ? "--bpf goes with --start/--end"
                    : timeout < 1 ? "--timeout: expected seconds >= 1" : NULL;
    if (why || optind != argc) {
        fprintf(stderr, "ashiato pcap: %s (see ashiato pcap --help)\n", why ? why : "unexpected argument");
        return 1;
    }
    if (o.dir && mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", o.dir, strerror(errno));
        return 1;
    }

    void *zctx = zmq_ctx_new(), *sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    int zero = 0, status = 0, count = 0;
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(sock, sensor) != 0) {
        fprintf(stderr, "ashiato pcap: %s: %s\n", sensor, zmq_strerror(zmq_errno()));
        status = 1;
        goto out;
    }
    if (start) {
        struct job j = { .req = ASHIATO__PACKET_REQUEST__INIT };
        if (parse_time(start, &j.req.start_us) < 0 || parse_time(end, &j.req.end_us) < 0) {
            fprintf(stderr, "ashiato pcap: --start/--end: expected ISO 8601 or epoch seconds\n");
            status = 1;
            goto out;
        }
        snprintf(j.bpf, sizeof j.bpf, "%s", bpf ? bpf : "");
        snprintf(j.name, sizeof j.name, "time-range");
        j.req.bpf = j.bpf;
        if (name) {
            snprintf(j.sensor, sizeof j.sensor, "%s", name);
            j.req.sensor = j.sensor;
        }
        j.req.max_packets = max_packets;
        j.req.max_bytes = max_bytes;
        status = run_job(sock, &j, &o, timeout);
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
    for (ssize_t n; (n = getline(&line, &cap, in)) > 0 && status != 1;) {
        char err[ASH_ERR_LEN] = "out of memory";
        if (n <= 1)
            continue;
        struct job j = { .req = ASHIATO__PACKET_REQUEST__INIT };
        snprintf(j.name, sizeof j.name, "request-%d", ++count);
        json_object *doc = json_tokener_parse(line);
        if (!doc || job_from_json(doc, &j, err) < 0) {
            fprintf(stderr, "ashiato pcap: session %d: %s\n", count, doc ? err : "not a JSON document");
            status = 2;
        } else {
            j.req.max_packets = max_packets;
            j.req.max_bytes = max_bytes;
            int rc = run_job(sock, &j, &o, timeout);
            if (rc > status)
                status = rc;
        }
        json_object_put(doc);
        job_free(&j);
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
    if (sock)
        zmq_close(sock);
    if (zctx)
        zmq_ctx_term(zctx);
    return status;
}
