/* capture.c -- packets from files or an interface through libpcap, or from a mapped classic
 *              pcap file (see capture.h).
 * Owns:  the pcap_t, its filter program and error text, the mapped reader of the file, and for
 *        a live nflog:N capture the list of packets one netlink read handed over.
 * Never: decodes or allocates per packet; waits longer than the timeout on a quiet link.
 * Trap:  a live capture waits in our own poll(), never in libpcap's: libpcap polls a
 *        TPACKET_V3 ring without a time limit (the kernel's block timer only runs once a
 *        packet came), and its netfilter reader ignores the timeout. Poll only when libpcap
 *        holds nothing: a TPACKET ring in non-blocking mode says so by returning 0, and the
 *        nflog reader is emptied by one pcap_dispatch per wakeup (one recv() may carry many
 *        log messages; polling with some left in libpcap's buffer strands them). */
#include "capture.h"
#include "pcap_mmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <pcap/pcap.h>

#define CAPTURE_FILE_BUFFER (1 << 20)
#define CAPTURE_HELD_FIRST 256       /* nflog: packets one read hands over, first allocation */

struct capture_held {                /* an nflog packet, in libpcap's buffer until its next read */
    struct pcap_pkthdr h;
    const u_char *data;
};

struct capture {
    pcap_t *p;
    char name[512];
    bool live;
    bool nano;                       /* tv_usec holds nanoseconds */
    char *iobuf;                     /* the file's stdio buffer; freed after pcap_close */
    struct pcap_mmap *map;           /* the file mapped: packets come from here, not from p */
    struct bpf_program prog;         /* the filter, applied by hand to mapped packets */
    bool has_prog;
    uint64_t file_size;
    int wait_fd;                     /* live: poll this when libpcap has nothing (-1 files) */
    volatile sig_atomic_t broken;    /* capture_breakloop() was called (signal-safe) */
    int timeout_ms;
    struct capture_held *held;       /* live nflog: the last read's packets (NULL otherwise) */
    size_t held_n, held_at, held_cap;
    bool held_full;                  /* a read had more than held_cap and growing failed */
    char err[ASH_ERR_LEN];
};

static int apply_filter(struct capture *c, const char *bpf, char err[ASH_ERR_LEN])
{
    struct bpf_program prog;
    if (!bpf || !*bpf)
        return 0;
    if (pcap_compile(c->p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, ASH_ERR_LEN, "bpf '%s': %s", bpf, pcap_geterr(c->p));
        return -1;
    }
    int rc = pcap_setfilter(c->p, &prog);
    if (rc == 0 && c->map) {
        c->prog = prog;              /* pcap_offline_filter() runs it on mapped packets */
        c->has_prog = true;
    } else {
        pcap_freecode(&prog);
    }
    if (rc < 0) {
        snprintf(err, ASH_ERR_LEN, "bpf '%s': %s", bpf, pcap_geterr(c->p));
        return -1;
    }
    return 0;
}

struct capture *capture_open_file(const char *path, const char *bpf, char err[ASH_ERR_LEN])
{
    return capture_open_file_flags(path, bpf, 0, err);
}

struct capture *capture_open_file_flags(const char *path, const char *bpf, unsigned flags,
                                        char err[ASH_ERR_LEN])
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct stat st;
    struct capture *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
        return NULL;
    }
    c->wait_fd = -1;
    snprintf(c->name, sizeof c->name, "%s", path);
    if (stat(path, &st) < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        goto fail;
    }
    c->file_size = (uint64_t)st.st_size;
    /* our own FILE with a 1 MiB buffer: libpcap's default stdio buffer made one read(2) per
     * 4 KiB (300,000 system calls for a 1.2 GB file) */
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        goto fail;
    }
    /* a classic pcap file is mapped and walked in place (pcap_mmap.h); libpcap still opens
     * it, for its checks and messages of the file header, the link type and the filter */
    char merr[ASH_ERR_LEN];
    if (!(flags & CAPTURE_FILE_NO_MMAP) && S_ISREG(st.st_mode))
        c->map = pcap_mmap_open(fileno(f), c->file_size, merr);
    if (!c->map && (!(c->iobuf = malloc(CAPTURE_FILE_BUFFER)) ||
                    setvbuf(f, c->iobuf, _IOFBF, CAPTURE_FILE_BUFFER) != 0)) {
        fclose(f);
        snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
        goto fail;
    }
    c->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (!c->p) {
        fclose(f);
        /* libpcap names the file itself in some messages: do not say it twice */
        if (strncmp(perr, path, strlen(path)) == 0)
            snprintf(err, ASH_ERR_LEN, "%s", perr);
        else
            snprintf(err, ASH_ERR_LEN, "%s: %s", path, perr);
        goto fail;
    }
    if (c->map && (pcap_mmap_dlt(c->map) != pcap_datalink(c->p) ||
                   pcap_mmap_snapshot(c->map) != (uint32_t)pcap_snapshot(c->p))) {
        pcap_mmap_release(c->map);   /* the two disagree on the header: libpcap reads it */
        c->map = NULL;
    }
    if (apply_filter(c, bpf, err) < 0)
        goto fail;
    c->nano = pcap_get_tstamp_precision(c->p) == PCAP_TSTAMP_PRECISION_NANO;
    return c;
fail:
    capture_close(c);
    return NULL;
}

struct capture *capture_open_live(const struct capture_live_config *cfg, char err[ASH_ERR_LEN])
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct capture *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, ASH_ERR_LEN, "%s: out of memory", cfg->interface);
        return NULL;
    }
    c->live = true;
    c->wait_fd = -1;
    snprintf(c->name, sizeof c->name, "%s", cfg->interface);
    c->p = pcap_create(cfg->interface, perr);
    if (!c->p) {
        snprintf(err, ASH_ERR_LEN, "interface %s: %s", cfg->interface, perr);
        goto fail;
    }
    if (pcap_set_snaplen(c->p, (int)cfg->snaplen) != 0 ||
        pcap_set_promisc(c->p, cfg->promisc) != 0 ||
        pcap_set_buffer_size(c->p, (int)cfg->buffer_size) != 0 ||
        pcap_set_timeout(c->p, (int)cfg->timeout_ms) != 0 ||
        pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO) != 0) {
        /* nanosecond stamps are optional: fall back quietly to microseconds */
        pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_MICRO);
    }
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        const char *why = rc == PCAP_ERROR_NO_SUCH_DEVICE ? "no such interface"
                        : rc == PCAP_ERROR_PERM_DENIED   ? "permission denied (run as root or "
                                                           "grant CAP_NET_RAW)"
                        : rc == PCAP_ERROR_IFACE_NOT_UP   ? "interface is down"
                                                          : pcap_geterr(c->p);
        snprintf(err, ASH_ERR_LEN, "interface %s: %s", cfg->interface, why);
        goto fail;
    }
    if (apply_filter(c, cfg->bpf, err) < 0)
        goto fail;
    c->nano = pcap_get_tstamp_precision(c->p) == PCAP_TSTAMP_PRECISION_NANO;
    c->timeout_ms = cfg->timeout_ms > 0 ? (int)cfg->timeout_ms : 100;
    if (pcap_datalink(c->p) == DLT_NFLOG) {
        /* libpcap's netfilter reader fails on EAGAIN when non-blocking: it stays blocking, and
         * each wakeup takes every message of one recv() in one pcap_dispatch */
        c->held_cap = CAPTURE_HELD_FIRST;
        if (!(c->held = malloc(c->held_cap * sizeof *c->held))) {
            snprintf(err, ASH_ERR_LEN, "interface %s: out of memory", cfg->interface);
            goto fail;
        }
    } else if (pcap_setnonblock(c->p, 1, perr) < 0) {
        snprintf(err, ASH_ERR_LEN, "interface %s: non-blocking mode: %s", cfg->interface, perr);
        goto fail;
    }
    c->wait_fd = pcap_get_selectable_fd(c->p);
    if (c->wait_fd < 0) {
        snprintf(err, ASH_ERR_LEN, "interface %s: libpcap gives no descriptor to wait on",
                 cfg->interface);
        goto fail;
    }
    return c;
fail:
    capture_close(c);
    return NULL;
}

void capture_close(struct capture *c)
{
    if (!c)
        return;
    if (c->has_prog)
        pcap_freecode(&c->prog);
    if (c->p)
        pcap_close(c->p);
    pcap_mmap_release(c->map);
    free(c->iobuf);
    free(c->held);
    free(c);
}

struct pcap_mmap *capture_source(const struct capture *c) { return c->map; }

static enum capture_next_result next_mapped(struct capture *c, struct capture_packet *pkt)
{
    struct pcap_mmap_pkt mp;
    int rc;
    while ((rc = pcap_mmap_next(c->map, &mp)) == 1) {
        if (c->has_prog) {
            struct pcap_pkthdr h;
            h.ts.tv_sec = (time_t)(mp.ts_us / 1000000);
            h.ts.tv_usec = (suseconds_t)(mp.ts_us % 1000000);
            h.caplen = mp.caplen;
            h.len = mp.wirelen;
            if (!pcap_offline_filter(&c->prog, &h, mp.data))
                continue;
        }
        pkt->ts_us = mp.ts_us;
        pkt->caplen = mp.caplen;
        pkt->wirelen = mp.wirelen;
        pkt->data = mp.data;
        pkt->file_record = mp.canonical;
        pkt->stored = 0;
        return CAPTURE_PACKET;
    }
    /* the mapping is the file as it was at open: one that grew meanwhile (tcpdump -w still
     * writing) is read up to that size, and its end may be a record cut short; say what
     * happened rather than "truncated" (issue 14 L5) */
    struct stat st;
    FILE *f = pcap_file(c->p);
    if (f && fstat(fileno(f), &st) == 0 && (uint64_t)st.st_size > c->file_size) {
        snprintf(c->err, sizeof c->err, "%s: file grew while read: read %llu bytes as of open, it "
                 "has %llu now; the rest is not read (read it again once it is complete, or "
                 "capture live)", c->name, (unsigned long long)c->file_size,
                 (unsigned long long)st.st_size);
        return CAPTURE_ERROR;
    }
    if (rc == 0)
        return CAPTURE_EOF;
    snprintf(c->err, sizeof c->err, "%s: %s", c->name, pcap_mmap_error(c->map));
    return CAPTURE_ERROR;
}

int capture_dlt(const struct capture *c) { return pcap_datalink(c->p); }
const char *capture_name(const struct capture *c) { return c->name; }
const char *capture_error(const struct capture *c) { return c->err; }

static enum capture_next_result packet_from(struct capture *c, const struct pcap_pkthdr *h,
                                            const u_char *data, struct capture_packet *pkt)
{
    int64_t frac = c->nano ? h->ts.tv_usec / 1000 : h->ts.tv_usec;
    /* a file's 32-bit ts_sec is unsigned, as pcap_mmap reads it: a libpcap that widens it
     * with its sign would make 2^31 and above a time before 1970 (issue 14 M1) */
    int64_t sec = (int64_t)h->ts.tv_sec;
    if (!c->live && sec < 0 && sec >= INT32_MIN)
        sec += 1LL << 32;
    if (sec > INT64_MAX / 1000000 - 1)   /* a pcapng time past any range: the pipeline
                                             counts it (decoder.frame.time_out_of_range) */
        sec = INT64_MAX / 1000000 - 1;
    pkt->ts_us = sec * 1000000 + frac;
    pkt->caplen = h->caplen;
    pkt->wirelen = h->len;
    pkt->data = data;
    pkt->file_record = false;
    pkt->stored = 0;
    return CAPTURE_PACKET;
}

static enum capture_next_result pcap_failed(struct capture *c, int rc)
{
    if (rc == PCAP_ERROR_BREAK)
        return CAPTURE_EOF;
    snprintf(c->err, sizeof c->err, "%s: %s", c->name, pcap_geterr(c->p));
    return CAPTURE_ERROR;
}

/* 1 readable, 2 an error condition on the descriptor (libpcap's read says which), 0 nothing
 * within the timeout, -1 stop requested */
static int wait_readable(struct capture *c)
{
    struct pollfd pfd = { .fd = c->wait_fd, .events = POLLIN };
    if (c->broken)
        return -1;
    int n = poll(&pfd, 1, c->timeout_ms);
    if (c->broken)
        return -1;
    if (n < 0)
        return errno == EINTR ? 0 : 2;
    if (n == 0)
        return 0;
    return pfd.revents & (POLLERR | POLLHUP | POLLNVAL) ? 2 : 1;
}

/* the descriptor reported an error that libpcap's read did not turn into one: wait out the
 * timeout rather than spin on a descriptor that stays ready */
static enum capture_next_result quiet_after(struct capture *c, int w)
{
    if (w == 2)
        poll(NULL, 0, c->timeout_ms);
    return CAPTURE_TIMEOUT;
}

static void hold_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct capture *c = (struct capture *)user;
    if (c->held_n == c->held_cap) {
        /* more messages in one recv() than ever before: grow once, not per packet */
        struct capture_held *more = realloc(c->held, 2 * c->held_cap * sizeof *c->held);
        if (!more) {
            c->held_full = true;
            return;
        }
        c->held = more;
        c->held_cap *= 2;
    }
    c->held[c->held_n].h = *h;
    c->held[c->held_n].data = data;
    c->held_n++;
}

/* nflog: hand out the packets of the last read; when none is left, wait for the socket and
 * read every message one recv() brings (count -1: libpcap keeps none back for later) */
static enum capture_next_result next_nflog(struct capture *c, struct capture_packet *pkt)
{
    if (c->held_at == c->held_n) {
        c->held_at = c->held_n = 0;
        int w = wait_readable(c);
        if (w <= 0)
            return w < 0 ? CAPTURE_EOF : CAPTURE_TIMEOUT;
        int rc = pcap_dispatch(c->p, -1, hold_packet, (u_char *)c);
        if (rc < 0 && c->held_n == 0)
            return pcap_failed(c, rc);
        if (c->held_full) {
            snprintf(c->err, sizeof c->err, "%s: out of memory for the packets of one read",
                     c->name);
            return CAPTURE_ERROR;
        }
        if (c->held_n == 0)          /* a message that was no packet, or filtered out */
            return quiet_after(c, w);
    }
    const struct capture_held *hp = &c->held[c->held_at++];
    return packet_from(c, &hp->h, hp->data, pkt);
}

enum capture_next_result capture_next(struct capture *c, struct capture_packet *pkt)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (c->map)
        return next_mapped(c, pkt);
    if (ASH_UNLIKELY(c->held != NULL))
        return next_nflog(c, pkt);
    int rc = pcap_next_ex(c->p, &h, &data);
    if (rc == 0 && c->live) {
        /* non-blocking and the ring is empty: wait here, where the timeout holds */
        int w = wait_readable(c);
        if (w <= 0)
            return w < 0 ? CAPTURE_EOF : CAPTURE_TIMEOUT;
        rc = pcap_next_ex(c->p, &h, &data);
        if (rc == 0)
            return quiet_after(c, w);
    }
    if (rc == 1)
        return packet_from(c, h, data, pkt);
    if (rc == 0)
        return CAPTURE_TIMEOUT;
    return pcap_failed(c, rc);
}

int capture_stats(struct capture *c, struct capture_stats *out)
{
    struct pcap_stat ps;
    memset(out, 0, sizeof *out);
    if (!c->live)
        return 0;
    if (pcap_stats(c->p, &ps) < 0) {
        snprintf(c->err, sizeof c->err, "%s: %s", c->name, pcap_geterr(c->p));
        return -1;
    }
    out->received = ps.ps_recv;
    out->dropped = ps.ps_drop;
    out->if_dropped = ps.ps_ifdrop;
    return 0;
}

uint64_t capture_file_offset(struct capture *c)
{
    if (c->live)
        return 0;
    if (c->map)
        return pcap_mmap_offset(c->map);
    FILE *f = pcap_file(c->p);
    long off = f ? ftell(f) : -1;
    return off > 0 ? (uint64_t)off : 0;
}

uint64_t capture_file_size(const struct capture *c) { return c->file_size; }

void capture_breakloop(struct capture *c)
{
    if (c && c->p) {
        c->broken = 1;               /* our poll() never reaches libpcap's check */
        pcap_breakloop(c->p);
    }
}
