/* pcap_format.c -- pcap store files and their segment sidecars (see pcap_format.h).
 * Owns:  encoding and strict decoding of headers, the windowed reader, the boundary walk, the
 *        sidecar binary search and the whole-file scan used by repair.
 * Never: keeps state between calls (the reader's window is the caller's); logs. */
#include "pcap_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cursor.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t cursor_le64(struct cursor *c)
{
    uint64_t lo = cursor_le32(c);
    uint64_t hi = cursor_le32(c);
    return lo | hi << 32;
}

void pcap_format_file_header(uint8_t out[PCAP_FORMAT_FILE_HDR], uint32_t linktype, uint32_t snaplen)
{
    put_le32(out, PCAP_MAGIC_USEC);
    out[4] = 2, out[5] = 0;                  /* version 2.4 */
    out[6] = 4, out[7] = 0;
    put_le32(out + 8, 0);                    /* thiszone */
    put_le32(out + 12, 0);                   /* sigfigs */
    put_le32(out + 16, snaplen);
    put_le32(out + 20, linktype);
}

int pcap_format_parse_file_header(const uint8_t *p, size_t len, uint32_t *linktype, uint32_t *snaplen)
{
    struct cursor c = cursor_make(p, len);
    uint32_t magic = cursor_le32(&c);
    uint16_t major = cursor_le16(&c), minor = cursor_le16(&c);
    cursor_skip(&c, 8);
    uint32_t snap = cursor_le32(&c), link = cursor_le32(&c);
    if (c.bad || magic != PCAP_MAGIC_USEC || major != 2 || minor != 4 || snap == 0 ||
        snap > PCAP_FORMAT_MAX_SNAP || link > 0xffff)
        return -1;
    *linktype = link;
    *snaplen = snap;
    return 0;
}

void pcap_format_rec_header(uint8_t out[PCAP_FORMAT_REC_HDR], int64_t ts_us, uint32_t caplen,
                            uint32_t wirelen)
{
    if (ts_us < 0)
        ts_us = 0;
    put_le32(out, (uint32_t)(ts_us / 1000000));
    put_le32(out + 4, (uint32_t)(ts_us % 1000000));
    put_le32(out + 8, caplen);
    put_le32(out + 12, wirelen);
}

bool pcap_format_rec_parse(const uint8_t *p, uint32_t snaplen, struct pcap_format_rec *r)
{
    struct cursor c = cursor_make(p, PCAP_FORMAT_REC_HDR);
    uint32_t sec = cursor_le32(&c), usec = cursor_le32(&c);
    uint32_t caplen = cursor_le32(&c), wirelen = cursor_le32(&c);
    if (c.bad || usec >= 1000000 || caplen == 0 || caplen > snaplen || caplen > wirelen ||
        wirelen > PCAP_FORMAT_MAX_WIRE)
        return false;
    r->ts_us = (int64_t)sec * 1000000 + usec;
    r->caplen = caplen;
    r->wirelen = wirelen;
    return true;
}

void pcap_format_seg_put(uint8_t out[PCAP_FORMAT_SEG_LEN], const struct pcap_format_seg *s)
{
    put_le64(out, s->start);
    put_le64(out + 8, s->end);
    put_le64(out + 16, (uint64_t)s->min_us);
    put_le64(out + 24, (uint64_t)s->max_us);
}

void pcap_format_seg_get(const uint8_t *p, struct pcap_format_seg *s)
{
    struct cursor c = cursor_make(p, PCAP_FORMAT_SEG_LEN);
    s->start = cursor_le64(&c);
    s->end = cursor_le64(&c);
    s->min_us = (int64_t)cursor_le64(&c);
    s->max_us = (int64_t)cursor_le64(&c);
}

bool pcap_format_segb_add(struct pcap_format_segb *b, uint64_t off, uint64_t len, int64_t ts_us,
                          struct pcap_format_seg *done)
{
    if (!b->open) {
        b->cur.start = off;
        b->cur.end = off;
        b->cur.min_us = b->cur.max_us = ts_us;
        b->open = true;
    }
    b->cur.end = off + len;
    if (ts_us < b->cur.min_us)
        b->cur.min_us = ts_us;
    if (ts_us > b->cur.max_us)
        b->cur.max_us = ts_us;
    if (b->cur.end - b->cur.start < PCAP_FORMAT_SEGMENT)
        return false;
    *done = b->cur;
    b->open = false;
    return true;
}

bool pcap_format_segb_finish(struct pcap_format_segb *b, struct pcap_format_seg *done)
{
    if (!b->open)
        return false;
    *done = b->cur;
    b->open = false;
    return true;
}

void pcap_format_reader_init(struct pcap_format_reader *r, int fd, uint64_t size, uint8_t *buf,
                             size_t cap)
{
    r->fd = fd;
    r->size = size;
    r->buf = buf;
    r->cap = cap;
    r->win_off = 0;
    r->win_len = 0;
}

const uint8_t *pcap_format_reader_get(struct pcap_format_reader *r, uint64_t off, size_t len)
{
    if (len > r->cap || off > r->size || len > r->size - off) {
        errno = 0;
        return NULL;
    }
    if (off >= r->win_off && off - r->win_off + len <= r->win_len)
        return r->buf + (off - r->win_off);
    size_t want = r->cap;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r->win_len = 0;
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    r->win_off = off;
    r->win_len = got;
    if (got < len) {
        errno = EIO;                          /* the file is shorter than its catalogue size */
        return NULL;
    }
    return r->buf;
}

int pcap_format_walk(struct pcap_format_reader *r, uint32_t snaplen, uint64_t boundary,
                     uint64_t target, struct pcap_format_rec *rec)
{
    if (target < PCAP_FORMAT_FILE_HDR || target > r->size || r->size - target < PCAP_FORMAT_REC_HDR)
        return PCAP_FORMAT_OUTSIDE;
    if (boundary > target || boundary < PCAP_FORMAT_FILE_HDR)
        return PCAP_FORMAT_NOT_RECORD;
    uint64_t q = boundary;
    for (;;) {
        const uint8_t *p = pcap_format_reader_get(r, q, PCAP_FORMAT_REC_HDR);
        struct pcap_format_rec h;
        if (!p)
            return errno ? PCAP_FORMAT_IO : PCAP_FORMAT_DAMAGED;
        if (!pcap_format_rec_parse(p, snaplen, &h))
            return PCAP_FORMAT_DAMAGED;
        uint64_t next = q + PCAP_FORMAT_REC_HDR + h.caplen;
        if (q == target) {
            if (next > r->size)
                return PCAP_FORMAT_OUTSIDE;
            *rec = h;
            return PCAP_FORMAT_OK;
        }
        if (next > target)
            return PCAP_FORMAT_NOT_RECORD;
        q = next;
    }
}

static int read_seg(int fd, uint64_t i, struct pcap_format_seg *s)
{
    uint8_t b[PCAP_FORMAT_SEG_LEN];
    ssize_t n;
    do
        n = pread(fd, b, sizeof b, (off_t)(i * PCAP_FORMAT_SEG_LEN));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof b)
        return -1;
    pcap_format_seg_get(b, s);
    return s->start >= PCAP_FORMAT_FILE_HDR && s->end > s->start ? 0 : -1;
}

int pcap_format_seg_find(int idx_fd, uint64_t nseg, uint64_t off, struct pcap_format_seg *out)
{
    uint64_t lo = 0, hi = nseg;
    struct pcap_format_seg s;
    if (idx_fd < 0 || nseg == 0)
        return -1;
    while (lo < hi) {                         /* first entry whose start is > off */
        uint64_t mid = lo + (hi - lo) / 2;
        if (read_seg(idx_fd, mid, &s) < 0)
            return -1;
        if (s.start <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || read_seg(idx_fd, lo - 1, &s) < 0 || off >= s.end)
        return -1;
    *out = s;
    return 0;
}

int pcap_format_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* buffered sidecar output during a scan */
struct seg_out {
    int fd;
    uint8_t buf[64 * PCAP_FORMAT_SEG_LEN];
    size_t len;
    int err;
};

static void seg_out_add(struct seg_out *o, const struct pcap_format_seg *s)
{
    if (o->fd < 0 || o->err)
        return;
    if (o->len == sizeof o->buf) {
        if (pcap_format_write_all(o->fd, o->buf, o->len) < 0)
            o->err = errno;
        o->len = 0;
    }
    pcap_format_seg_put(o->buf + o->len, s);
    o->len += PCAP_FORMAT_SEG_LEN;
}

int pcap_format_scan_file(int fd, int idx_fd, struct pcap_format_scan *out, char err[ASH_ERR_LEN])
{
    struct seg_out so = { .fd = idx_fd };
    struct pcap_format_segb sb = { 0 };
    struct pcap_format_seg done;
    uint8_t *buf = malloc(PCAP_FORMAT_READ_WIN);
    struct pcap_format_reader r;
    off_t end = lseek(fd, 0, SEEK_END);
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!buf) {
        snprintf(err, ASH_ERR_LEN, "out of memory");
        return -1;
    }
    if (end < 0) {
        snprintf(err, ASH_ERR_LEN, "seek: %s", strerror(errno));
        goto out;
    }
    pcap_format_reader_init(&r, fd, (uint64_t)end, buf, PCAP_FORMAT_READ_WIN);
    const uint8_t *h = pcap_format_reader_get(&r, 0, PCAP_FORMAT_FILE_HDR);
    if (!h || pcap_format_parse_file_header(h, PCAP_FORMAT_FILE_HDR, &out->linktype, &out->snaplen) < 0) {
        snprintf(err, ASH_ERR_LEN, "no store pcap header (file of %lld bytes)", (long long)end);
        goto out;
    }
    if (idx_fd >= 0 && (ftruncate(idx_fd, 0) < 0 || lseek(idx_fd, 0, SEEK_SET) < 0)) {
        snprintf(err, ASH_ERR_LEN, "sidecar: %s", strerror(errno));
        goto out;
    }
    uint64_t q = PCAP_FORMAT_FILE_HDR;
    for (;;) {
        struct pcap_format_rec rec;
        const uint8_t *p = pcap_format_reader_get(&r, q, PCAP_FORMAT_REC_HDR);
        if (!p && errno) {
            snprintf(err, ASH_ERR_LEN, "read at %llu: %s", (unsigned long long)q, strerror(errno));
            goto out;
        }
        if (!p || !pcap_format_rec_parse(p, out->snaplen, &rec) ||
            (uint64_t)end - q - PCAP_FORMAT_REC_HDR < rec.caplen)
            break;                            /* the end, a torn record or garbage */
        uint64_t len = PCAP_FORMAT_REC_HDR + rec.caplen;
        if (!out->packets || rec.ts_us < out->first_us)
            out->first_us = rec.ts_us;
        if (!out->packets || rec.ts_us > out->last_us)
            out->last_us = rec.ts_us;
        out->packets++;
        if (pcap_format_segb_add(&sb, q, len, rec.ts_us, &done))
            seg_out_add(&so, &done);
        q += len;
    }
    if (pcap_format_segb_finish(&sb, &done))
        seg_out_add(&so, &done);
    if (so.fd >= 0 && !so.err && so.len && pcap_format_write_all(so.fd, so.buf, so.len) < 0)
        so.err = errno;
    if (so.err) {
        snprintf(err, ASH_ERR_LEN, "sidecar write: %s", strerror(so.err));
        goto out;
    }
    out->good_end = q;
    rc = 0;
out:
    free(buf);
    return rc;
}
