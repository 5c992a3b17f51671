/* packet_service.c -- packet requests answered from the pcap store (see packet_service.h).
 * Owns:  the reader window and the chunk buffer (one request at a time), the compiled BPF
 *        program of a time query, the service counters.
 * Never: logs per request (counters); keeps a file open between requests.
 *
 * A session query is answered in two passes over its positions: the first checks every
 * position (file known and not expired, offset inside the file, a walk from a record
 * boundary lands on it, limits) and sends nothing; the second reads and sends. So a bad
 * request gets one clean error and never half a pcap. */
#include "packet_service.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pcap_format.h"
#include "pcap_index.h"

#define ST(x) ASHIATO__PACKET_RESPONSE__STATUS__##x
#define SVC_BPF_MAX 4096
#define SVC_MAX_FILES_LISTED 100000
#define SVC_SEG_BLOCK 1024                    /* sidecar entries read at once */

struct packet_service {
    struct packet_service_config cfg;
    struct pcap_store *store;
    struct pcap_catalog *cat;
    pthread_mutex_t mu;
    uint8_t *rbuf;                            /* reader window */
    uint8_t *out;                             /* chunk being built */
    size_t out_cap;
    uint8_t *segs;                            /* SVC_SEG_BLOCK sidecar entries */
    struct packet_service_stats stats;
};

/* the file a request is reading */
struct fctx {
    uint64_t id;                              /* 0: none open */
    struct pcap_catalog_file f;
    int fd, idx_fd;
    uint64_t nseg;
    uint64_t last_end;                        /* end of the last record checked: a boundary */
    struct pcap_format_reader r;
};

struct answer {
    struct packet_service *svc;
    packet_service_emit_fn emit;
    void *ctx;
    uint64_t request_id;
    size_t len;                               /* bytes in svc->out */
    uint32_t chunk;
    bool have_link, have_header, abandoned;
    uint32_t linktype, snaplen;
    uint64_t packets, bytes, max_packets, max_bytes, lost;
    char error[ASH_ERR_LEN];
};

static const char *const status_names[] = { "OK", "MORE", "EXPIRED", "NOT_FOUND", "BAD_REQUEST",
                                            "TOO_LARGE", "ERROR", "MISMATCH" };

const char *packet_service_status_name(int status)
{
    return status >= 0 && (size_t)status < ASH_ARRAY_LEN(status_names) ? status_names[status] : "?";
}

void packet_service_config_defaults(struct packet_service_config *cfg)
{
    cfg->max_bytes = 256LL << 20;
    cfg->max_packets = 1000000;
    cfg->chunk_size = 1LL << 20;
    cfg->sync_ms = 1000;
}

struct packet_service *packet_service_new(const struct packet_service_config *cfg,
                                          struct pcap_store *store, char err[ASH_ERR_LEN])
{
    if (!store || cfg->max_bytes < 1024 || cfg->max_packets < 1 || cfg->chunk_size < 4096 ||
        cfg->chunk_size > (64LL << 20) || cfg->sync_ms < 0) {
        snprintf(err, ASH_ERR_LEN, "packet_service: expected a store, max_bytes >= 1024, "
                 "max_packets >= 1, chunk_size 4K..64M, got %lld, %lld, %lld", cfg->max_bytes,
                 cfg->max_packets, cfg->chunk_size);
        return NULL;
    }
    struct packet_service *svc = calloc(1, sizeof *svc);
    if (!svc)
        goto nomem;
    svc->cfg = *cfg;
    svc->store = store;
    svc->cat = pcap_store_catalog(store);
    pthread_mutex_init(&svc->mu, NULL);
    svc->out_cap = (size_t)cfg->chunk_size + PCAP_FORMAT_FILE_HDR + PCAP_FORMAT_REC_HDR + PCAP_FORMAT_MAX_SNAP;
    svc->rbuf = malloc(PCAP_FORMAT_READ_WIN);
    svc->out = malloc(svc->out_cap);
    svc->segs = malloc(SVC_SEG_BLOCK * PCAP_FORMAT_SEG_LEN);
    if (svc->rbuf && svc->out && svc->segs)
        return svc;
    packet_service_free(svc);
nomem:
    snprintf(err, ASH_ERR_LEN, "packet_service: out of memory");
    return NULL;
}

void packet_service_free(struct packet_service *svc)
{
    if (!svc)
        return;
    pthread_mutex_destroy(&svc->mu);
    free(svc->rbuf);
    free(svc->out);
    free(svc->segs);
    free(svc);
}

/* ---- the answer being built -------------------------------------------------------------- */

static int fail(struct answer *a, int status, const char *fmt, ...) ASH_PRINTF(3, 4);
static int fail(struct answer *a, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    return status;
}

static int emit_chunk(struct answer *a, int status)
{
    Ashiato__PacketResponse r = ASHIATO__PACKET_RESPONSE__INIT;
    r.request_id = a->request_id;
    r.status = (Ashiato__PacketResponse__Status)status;
    r.error = a->error;
    r.chunk = a->chunk++;
    r.pcap.data = a->svc->out;
    r.pcap.len = a->len;
    a->len = 0;
    if (a->emit(a->ctx, &r) < 0) {
        a->abandoned = true;
        return -1;
    }
    return 0;
}

static void put_header(struct answer *a)
{
    if (a->have_header)
        return;
    pcap_format_file_header(a->svc->out + a->len, a->have_link ? a->linktype : 1,
                            a->have_link ? a->snaplen : PCAP_FORMAT_MAX_SNAP);
    a->len += PCAP_FORMAT_FILE_HDR;
    a->have_header = true;
}

/* one whole record (header and data); -1 if the answer was abandoned */
static int add_record(struct answer *a, const uint8_t *rec, size_t n)
{
    put_header(a);
    memcpy(a->svc->out + a->len, rec, n);
    a->len += n;
    a->packets++;
    a->bytes += n;
    if (a->len >= (size_t)a->svc->cfg.chunk_size)
        return emit_chunk(a, ST(MORE));
    return 0;
}

/* ---- files -------------------------------------------------------------------------------- */

static void fctx_close(struct fctx *fc)
{
    if (fc->fd >= 0)
        close(fc->fd);
    if (fc->idx_fd >= 0)
        close(fc->idx_fd);
    fc->fd = fc->idx_fd = -1;
    fc->id = 0;
}

static void refresh_nseg(struct fctx *fc)
{
    struct stat sb;
    fc->nseg = fc->idx_fd >= 0 && fstat(fc->idx_fd, &sb) == 0 ? (uint64_t)sb.st_size / PCAP_FORMAT_SEG_LEN : 0;
}

static int expired(struct answer *a, const struct pcap_catalog_file *f)
{
    char when[40] = "";
    time_t sec = (time_t)(f->changed_us / 1000000);
    struct tm tm;
    if (f->changed_us > 0 && gmtime_r(&sec, &tm))
        strftime(when, sizeof when, " at %Y-%m-%dT%H:%M:%SZ", &tm);
    return fail(a, ST(EXPIRED), "file %" PRIu64 " expired: removed from the store%s", f->id, when);
}

/* open file id for reading; OK or the status to answer */
static int fctx_open(struct packet_service *svc, struct fctx *fc, uint64_t id, struct answer *a)
{
    char path[1300];
    fctx_close(fc);
    if (pcap_catalog_get(svc->cat, id, &fc->f) < 0) {
        if (id > pcap_catalog_max_id(svc->cat))        /* perhaps being created right now */
            pcap_store_sync(svc->store, (int)svc->cfg.sync_ms);
        if (pcap_catalog_get(svc->cat, id, &fc->f) < 0)
            return fail(a, ST(NOT_FOUND), "file %" PRIu64 ": no such file in this sensor's store", id);
    }
    if (fc->f.state == PCAP_CATALOG_EXPIRED)
        return expired(a, &fc->f);
    if (a->have_link && fc->f.linktype != a->linktype)
        return fail(a, ST(ERROR), "file %" PRIu64 " has link type %u, the answer already %u",
                    id, fc->f.linktype, a->linktype);
    if (pcap_catalog_path(svc->cat, fc->f.name, NULL, path, sizeof path) < 0)
        return fail(a, ST(ERROR), "file %" PRIu64 ": path too long", id);
    fc->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fc->fd < 0 && errno == ENOENT && fc->f.state == PCAP_CATALOG_OPEN) {
        /* catalogued as the file being written but not on disk yet: the writer is behind */
        pcap_store_sync(svc->store, (int)svc->cfg.sync_ms);
        fc->fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fc->fd < 0) {
        if (errno == ENOENT)
            return fail(a, ST(EXPIRED), "file %" PRIu64 " expired: deleted while answering", id);
        return fail(a, ST(ERROR), "file %" PRIu64 ": open: %s", id, strerror(errno));
    }
    if (pcap_catalog_path(svc->cat, fc->f.name, ".idx", path, sizeof path) == 0)
        fc->idx_fd = open(path, O_RDONLY | O_CLOEXEC);
    refresh_nseg(fc);
    fc->id = id;
    fc->last_end = 0;
    pcap_format_reader_init(&fc->r, fc->fd, fc->f.size, svc->rbuf, PCAP_FORMAT_READ_WIN);
    if (!a->have_link) {
        a->have_link = true;
        a->linktype = fc->f.linktype;
        a->snaplen = fc->f.snaplen;
    }
    return ST(OK);
}

/* the file being written may have grown since the catalogue was read */
static void fctx_catch_up(struct packet_service *svc, struct fctx *fc)
{
    if (fc->f.state != PCAP_CATALOG_OPEN)
        return;
    pcap_store_sync(svc->store, (int)svc->cfg.sync_ms);
    struct pcap_catalog_file f;
    if (pcap_catalog_get(svc->cat, fc->id, &f) == 0 && f.size >= fc->f.size) {
        fc->f = f;
        fc->r.size = f.size;
        refresh_nseg(fc);
    }
}

static bool last_seg_end(const struct fctx *fc, uint64_t *end)
{
    uint8_t b[PCAP_FORMAT_SEG_LEN];
    struct pcap_format_seg s;
    if (fc->nseg == 0 || pread(fc->idx_fd, b, sizeof b, (off_t)((fc->nseg - 1) * PCAP_FORMAT_SEG_LEN)) != (ssize_t)sizeof b)
        return false;
    pcap_format_seg_get(b, &s);
    *end = s.end;
    return true;
}

enum { V_OK = 0, V_LOST = 1 };

/* check that off starts a whole packet record of the open file: V_OK (*rec filled), V_LOST
 * (past the end of a file a crash cut short), or a negative status (-status - 1) */
static int validate(struct packet_service *svc, struct fctx *fc, uint64_t off,
                    struct pcap_format_rec *rec, struct answer *a)
{
    if (off > fc->f.size || fc->f.size - off < PCAP_FORMAT_REC_HDR)
        fctx_catch_up(svc, fc);
    if (off > fc->f.size || fc->f.size - off < PCAP_FORMAT_REC_HDR || off < PCAP_FORMAT_FILE_HDR) {
        if (fc->f.cut && off >= fc->f.size)
            return V_LOST;
        return -1 - fail(a, ST(BAD_REQUEST), "offset %" PRIu64 " is outside file %" PRIu64
                         " (%" PRIu64 " bytes)", off, fc->id, fc->f.size);
    }
    uint64_t b = PCAP_FORMAT_FILE_HDR, end;
    struct pcap_format_seg seg;
    if (fc->last_end && fc->last_end <= off && off - fc->last_end <= 2 * PCAP_FORMAT_SEGMENT)
        b = fc->last_end;
    else if (pcap_format_seg_find(fc->idx_fd, fc->nseg, off, &seg) == 0)
        b = seg.start;
    else if (last_seg_end(fc, &end) && end <= off)
        b = end;
    switch (pcap_format_walk(&fc->r, fc->f.snaplen, b, off, rec)) {
    case PCAP_FORMAT_OK:
        fc->last_end = off + PCAP_FORMAT_REC_HDR + rec->caplen;
        return V_OK;
    case PCAP_FORMAT_OUTSIDE:
        if (fc->f.cut)
            return V_LOST;
        return -1 - fail(a, ST(BAD_REQUEST), "record at offset %" PRIu64 " runs past the end of "
                         "file %" PRIu64, off, fc->id);
    case PCAP_FORMAT_NOT_RECORD:
        return -1 - fail(a, ST(BAD_REQUEST), "offset %" PRIu64 " in file %" PRIu64 " does not "
                         "start a packet record", off, fc->id);
    case PCAP_FORMAT_IO:
        return -1 - fail(a, ST(ERROR), "file %" PRIu64 ": read: %s", fc->id, strerror(errno));
    default:
        return -1 - fail(a, ST(ERROR), "file %" PRIu64 " is damaged between offsets %" PRIu64
                         " and %" PRIu64, fc->id, b, off);
    }
}

/* ---- by session positions ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* the request's packet_files, sorted, so that each position is checked by binary search
 * (a linear search took 3.6 s for 20,000 positions x 100,000 files). NULL when out of memory
 * or none are listed (*n = 0). Caller frees. */
static uint64_t *listed_files(const Ashiato__PacketRequest *req, size_t *n)
{
    uint64_t *v = req->n_packet_files ? ash_calloc_array(req->n_packet_files, sizeof *v) : NULL;
    *n = 0;
    for (size_t i = 0; v && i < req->n_packet_files; i++)
        if (req->packet_files[i])
            v[(*n)++] = req->packet_files[i]->file_id;
    if (v)
        qsort(v, *n, sizeof *v, cmp_u64);
    return v;
}

static bool file_listed(const uint64_t *v, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == id;
}

static int answer_positions(struct packet_service *svc, const Ashiato__PacketRequest *req,
                            struct answer *a)
{
    struct pcap_index_iter it;
    struct fctx fc = { .fd = -1, .idx_fd = -1 };
    struct pcap_format_rec rec;
    uint64_t file, off, n = 0, bytes = 0;
    int r, status = ST(OK);

    if (req->start_us || req->end_us || (req->bpf && *req->bpf))
        return fail(a, ST(BAD_REQUEST), "give packet positions or a time range, not both");
    if (pcap_index_iter_init(&it, req->packet_pos.data, req->packet_pos.len) < 0)
        return fail(a, ST(BAD_REQUEST), "packet_pos: expected encoding version %d or %d",
                    PCAP_INDEX_VERSION, PCAP_INDEX_VERSION_NO_STORE);
    uint64_t here = pcap_catalog_store_id(svc->cat);
    if (it.store_id && it.store_id != here)
        return fail(a, ST(MISMATCH), "the positions were written by store %016" PRIx64 ", this is "
                    "store %016" PRIx64 " (pcap_dir was recreated since): those packets are gone",
                    it.store_id, here);
    size_t nlisted;
    uint64_t *listed = listed_files(req, &nlisted);
    if (req->n_packet_files && !listed)
        return fail(a, ST(ERROR), "out of memory");
    while ((r = pcap_index_next(&it, &file, &off)) == 1) {
        if (++n > a->max_packets) {
            free(listed);
            return fail(a, ST(TOO_LARGE), "more than %" PRIu64 " packets asked (the limit)",
                        a->max_packets);
        }
        if (listed && !file_listed(listed, nlisted, file)) {
            free(listed);
            return fail(a, ST(BAD_REQUEST), "packet_pos names file %" PRIu64 ", which "
                        "packet_files does not list", file);
        }
    }
    free(listed);
    if (r < 0)
        return fail(a, ST(BAD_REQUEST), "packet_pos: malformed position at byte %zu",
                    pcap_index_iter_at(&it));
    if (n == 0)
        return fail(a, ST(BAD_REQUEST), "packet_pos holds no positions");

    /* pass 1: check everything, send nothing */
    pcap_index_iter_init(&it, req->packet_pos.data, req->packet_pos.len);
    while (pcap_index_next(&it, &file, &off) == 1) {
        if (file != fc.id && (status = fctx_open(svc, &fc, file, a)) != ST(OK))
            goto out;
        int v = validate(svc, &fc, off, &rec, a);
        if (v < 0) {
            status = -1 - v;
            goto out;
        }
        if (v == V_LOST) {
            a->lost++;
            continue;
        }
        bytes += PCAP_FORMAT_REC_HDR + rec.caplen;
        if (bytes > a->max_bytes) {
            status = fail(a, ST(TOO_LARGE), "the packets asked hold more than %" PRIu64
                          " bytes (the limit)", a->max_bytes);
            goto out;
        }
    }
    if (a->lost == n) {
        status = fail(a, ST(NOT_FOUND), "all %" PRIu64 " packets were lost: their file was cut "
                      "short (crash or I/O error)", n);
        goto out;
    }

    /* pass 2: send */
    fctx_close(&fc);
    pcap_index_iter_init(&it, req->packet_pos.data, req->packet_pos.len);
    while (pcap_index_next(&it, &file, &off) == 1) {
        if (file != fc.id && (status = fctx_open(svc, &fc, file, a)) != ST(OK))
            goto out;
        if (fc.f.cut && off >= fc.f.size)
            continue;
        const uint8_t *p = pcap_format_reader_get(&fc.r, off, PCAP_FORMAT_REC_HDR);
        if (!p || !pcap_format_rec_parse(p, fc.f.snaplen, &rec) ||
            !(p = pcap_format_reader_get(&fc.r, off, PCAP_FORMAT_REC_HDR + rec.caplen))) {
            status = fail(a, ST(ERROR), "file %" PRIu64 " changed while answering (offset %" PRIu64 ")",
                          file, off);
            goto out;
        }
        if (add_record(a, p, PCAP_FORMAT_REC_HDR + rec.caplen) < 0)
            goto out;
    }
    if (a->lost)
        fail(a, ST(OK), "%" PRIu64 " of %" PRIu64 " packets were lost: their file was cut short "
             "(crash or I/O error)", a->lost, n);
out:
    fctx_close(&fc);
    return status;
}

/* ---- by time range and BPF -------------------------------------------------------------- */

struct tquery {
    int64_t start, end;
    uint64_t in_range;                        /* records seen inside [start, end] */
    struct bpf_program prog;
    bool have_prog;
};

/* walk whole records in [from, to) of the open file and send those that match */
static int scan_range(struct fctx *fc, uint64_t from, uint64_t to, struct tquery *q, struct answer *a)
{
    struct pcap_format_rec rec;
    uint64_t pos = from;
    while (pos < to) {
        const uint8_t *p = pcap_format_reader_get(&fc->r, pos, PCAP_FORMAT_REC_HDR);
        if (!p && errno)
            return fail(a, ST(ERROR), "file %" PRIu64 ": read: %s", fc->id, strerror(errno));
        if (!p || !pcap_format_rec_parse(p, fc->f.snaplen, &rec) ||
            to - pos - PCAP_FORMAT_REC_HDR < rec.caplen)
            return fail(a, ST(ERROR), "file %" PRIu64 " is damaged at offset %" PRIu64, fc->id, pos);
        size_t n = PCAP_FORMAT_REC_HDR + rec.caplen;
        if (rec.ts_us >= q->start && rec.ts_us <= q->end) {
            q->in_range++;
            if (!(p = pcap_format_reader_get(&fc->r, pos, n)))
                return fail(a, ST(ERROR), "file %" PRIu64 ": read at %" PRIu64, fc->id, pos);
            struct pcap_pkthdr h = { { (time_t)(rec.ts_us / 1000000), (suseconds_t)(rec.ts_us % 1000000) },
                                     rec.caplen, rec.wirelen };
            if (!q->have_prog || pcap_offline_filter(&q->prog, &h, p + PCAP_FORMAT_REC_HDR)) {
                if (a->packets + 1 > a->max_packets || a->bytes + n > a->max_bytes)
                    return fail(a, ST(TOO_LARGE), "stopped at the limit of %" PRIu64 " packets or %"
                                PRIu64 " bytes: narrow the time range or the filter",
                                a->max_packets, a->max_bytes);
                if (add_record(a, p, n) < 0)
                    return ST(ERROR);
            }
        }
        pos += n;
    }
    return ST(OK);
}

static int scan_file(struct packet_service *svc, struct fctx *fc, struct tquery *q, struct answer *a)
{
    uint64_t done = PCAP_FORMAT_FILE_HDR;     /* records before this were looked at */
    for (uint64_t i = 0; i < fc->nseg; i += SVC_SEG_BLOCK) {
        uint64_t k = fc->nseg - i < SVC_SEG_BLOCK ? fc->nseg - i : SVC_SEG_BLOCK;
        size_t want = (size_t)k * PCAP_FORMAT_SEG_LEN;
        if (pread(fc->idx_fd, svc->segs, want, (off_t)(i * PCAP_FORMAT_SEG_LEN)) != (ssize_t)want)
            break;                            /* sidecar unreadable: the rest is walked */
        for (uint64_t j = 0; j < k; j++) {
            struct pcap_format_seg s;
            pcap_format_seg_get(svc->segs + j * PCAP_FORMAT_SEG_LEN, &s);
            if (s.start != done || s.end <= s.start || s.end > fc->f.size)
                goto tail;                    /* not contiguous: trust walking instead */
            if (s.max_us >= q->start && s.min_us <= q->end) {
                int st = scan_range(fc, s.start, s.end, q, a);
                if (st != ST(OK))
                    return st;
            }
            done = s.end;
        }
    }
tail:
    return scan_range(fc, done, fc->f.size, q, a);
}

static int answer_time(struct packet_service *svc, const Ashiato__PacketRequest *req, struct answer *a)
{
    struct tquery q = { .start = req->start_us, .end = req->end_us };
    struct fctx fc = { .fd = -1, .idx_fd = -1 };
    struct pcap_catalog_file *v = NULL;
    size_t n = 0, used = 0, gone = 0;
    int status = ST(OK);
    const char *bpf = req->bpf ? req->bpf : "";

    if (req->end_us <= 0 || req->start_us < 0 || req->end_us < req->start_us)
        return fail(a, ST(BAD_REQUEST), "expected packet positions, or a time range with "
                    "0 <= start_us <= end_us and end_us > 0 (got %" PRId64 "..%" PRId64 ")",
                    req->start_us, req->end_us);
    if (strlen(bpf) > SVC_BPF_MAX)
        return fail(a, ST(BAD_REQUEST), "bpf: longer than %d bytes", SVC_BPF_MAX);
    if (req->n_packet_files > SVC_MAX_FILES_LISTED)
        return fail(a, ST(TOO_LARGE), "more than %d packet_files", SVC_MAX_FILES_LISTED);
    pcap_store_sync(svc->store, (int)svc->cfg.sync_ms);
    size_t nlisted;
    uint64_t *listed = listed_files(req, &nlisted);
    if ((req->n_packet_files && !listed) || pcap_catalog_snapshot(svc->cat, &v, &n) < 0) {
        free(listed);
        return fail(a, ST(ERROR), "out of memory");
    }
    for (size_t i = 0; i < n && status == ST(OK); i++) {
        const struct pcap_catalog_file *f = &v[i];
        if (listed && !file_listed(listed, nlisted, f->id))
            continue;
        /* the counters of the file being written lag its last segment: look in it unless it
         * starts after the range */
        bool open = f->state == PCAP_CATALOG_OPEN;
        if (open ? f->first_us > q.end : (!f->packets || f->first_us > q.end || f->last_us < q.start))
            continue;
        if (f->state == PCAP_CATALOG_EXPIRED) {
            gone++;
            continue;
        }
        if (a->have_link && f->linktype != a->linktype)
            continue;                         /* one link type per answer: the first file's */
        status = fctx_open(svc, &fc, f->id, a);
        if (status == ST(EXPIRED)) {
            gone++;
            status = ST(OK);
            continue;
        }
        if (status != ST(OK))
            break;
        if (*bpf && !q.have_prog) {
            pcap_t *dead = pcap_open_dead((int)fc.f.linktype, (int)fc.f.snaplen);
            if (!dead) {
                status = fail(a, ST(ERROR), "bpf: out of memory");
                break;
            }
            if (pcap_compile(dead, &q.prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
                status = fail(a, ST(BAD_REQUEST), "bpf: %s", pcap_geterr(dead));
                pcap_close(dead);
                break;
            }
            pcap_close(dead);
            q.have_prog = true;
        }
        uint64_t seen = q.in_range;
        status = scan_file(svc, &fc, &q, a);
        if (!open || q.in_range > seen)
            used++;                           /* this file covers (part of) the range */
    }
    fctx_close(&fc);
    free(v);
    free(listed);
    if (q.have_prog)
        pcap_freecode(&q.prog);
    if (status == ST(OK) && !used && gone)
        return fail(a, ST(EXPIRED), "the %zu files of this time range expired: deleted by retention", gone);
    if (status == ST(OK) && gone)
        fail(a, ST(OK), "%zu files of this time range expired: their packets are missing", gone);
    return status;
}

/* ---- entry points ------------------------------------------------------------------------- */

static int answer_locked(struct packet_service *svc, const Ashiato__PacketRequest *req,
                         struct answer *a)
{
    uint64_t cap_p = (uint64_t)svc->cfg.max_packets, cap_b = (uint64_t)svc->cfg.max_bytes;
    a->max_packets = req->max_packets && req->max_packets < cap_p ? req->max_packets : cap_p;
    a->max_bytes = req->max_bytes && req->max_bytes < cap_b ? req->max_bytes : cap_b;
    int status = req->packet_pos.len ? answer_positions(svc, req, a) : answer_time(svc, req, a);
    if (a->abandoned)
        return -1;
    if (status == ST(OK) || a->have_header)
        put_header(a);                        /* an empty answer is still a pcap */
    else
        a->len = 0;                           /* an error before any packet: no pcap at all */
    if (emit_chunk(a, status) < 0)
        return -1;
    return status;
}

static void count_answer(struct packet_service *svc, const struct answer *a, int status)
{
    svc->stats.requests++;
    if (status < 0)
        svc->stats.abandoned++;
    else if ((size_t)status < ASH_ARRAY_LEN(svc->stats.by_status))
        svc->stats.by_status[status]++;
    svc->stats.packets += a->packets;
    svc->stats.bytes += a->bytes;
    svc->stats.lost += a->lost;
}

int packet_service_answer(struct packet_service *svc, const Ashiato__PacketRequest *req,
                          packet_service_emit_fn emit, void *ctx)
{
    struct answer a = { .svc = svc, .emit = emit, .ctx = ctx, .request_id = req->request_id };
    pthread_mutex_lock(&svc->mu);
    int status = answer_locked(svc, req, &a);
    count_answer(svc, &a, status);
    pthread_mutex_unlock(&svc->mu);
    return status;
}

int packet_service_answer_bytes(struct packet_service *svc, const uint8_t *buf, size_t len,
                                packet_service_emit_fn emit, void *ctx)
{
    Ashiato__PacketRequest *req = ashiato__packet_request__unpack(NULL, len, buf);
    if (req) {
        int status = packet_service_answer(svc, req, emit, ctx);
        ashiato__packet_request__free_unpacked(req, NULL);
        return status;
    }
    struct answer a = { .svc = svc, .emit = emit, .ctx = ctx };
    pthread_mutex_lock(&svc->mu);
    fail(&a, ST(BAD_REQUEST), "malformed PacketRequest (%zu bytes that do not unpack)", len);
    int status = emit_chunk(&a, ST(BAD_REQUEST)) < 0 ? -1 : ST(BAD_REQUEST);
    count_answer(svc, &a, status);
    pthread_mutex_unlock(&svc->mu);
    return status;
}

void packet_service_stats(struct packet_service *svc, struct packet_service_stats *out)
{
    pthread_mutex_lock(&svc->mu);
    *out = svc->stats;
    pthread_mutex_unlock(&svc->mu);
}
