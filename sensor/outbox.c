/* outbox.c -- the sensor's durable spool (see outbox.h).
 * Owns:  the journal files and their in-memory index (seq -> segment, offset, length).
 * Never: logs (the shipper reports its counters); keeps batch bodies in memory; calls
 *        fdatasync in outbox_append() (the capture thread's path): durability is made by
 *        outbox_sync_*() on the shipping thread, before a batch is sent.
 * Trap:  with cfg.sync an appended batch survives a crash of the process at once (it is in the
 *        page cache) and a power loss only once outbox_is_durable() says so; ship.c sends
 *        nothing that is not durable. fdatasync per append on the capture thread cost the
 *        sensor +40% wall on an 8M-packet capture (bench/RESULTS.md, aggregator_ingest).
 *
 * Entry on disk, little-endian: magic "ASHJ" u32, payload length u32, seq u64, records u32,
 * crc32 u32 (zlib, over seq, records and payload), then the payload (a packed Batch). */
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define ENTRY_MAGIC 0x4a485341u      /* "ASHJ" little-endian */
#define ENTRY_HDR 24
#define ENTRY_MAX (64u << 20)
#define OUTBOX_RETIRED_MAX (OUTBOX_SYNC_FDS_MAX - 1)   /* plus a dup of the write segment */

struct entry {
    uint64_t seq, off;
    uint32_t len, records;
    uint64_t seg_id;
};

struct segment {
    uint64_t id, first_seq, last_seq, size;
    uint32_t batches, records;
};

struct outbox {
    struct outbox_config cfg;
    uint64_t epoch, next_seq, acked;
    struct entry *e;
    size_t ne, e_start, e_cap;
    struct segment *segs;
    size_t nsegs, segs_cap;
    int wfd;                         /* current (last) segment, open for append */
    int lock_fd;                     /* DIR/.lock, flock'd exclusively while open */
    uint64_t synced;                 /* every seq <= synced is on disk (cfg.sync) */
    int retired[OUTBOX_RETIRED_MAX]; /* closed segments not yet fdatasync'd (cfg.sync) */
    size_t nretired;
    struct outbox_stats st;
    char err[ASH_ERR_LEN];
};

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static uint32_t entry_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, hdr + 8, 12);       /* seq and records */
    c = crc32(c, payload, len);
    return (uint32_t)c;
}

static void seg_path(const struct outbox *ob, uint64_t id, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%020" PRIu64 ".journal", ob->cfg.dir, id);
}

static int write_small_file(struct outbox *ob, const char *name, const char *text)
{
    char path[1200], tmp[1210];
    snprintf(path, sizeof path, "%s/%s", ob->cfg.dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n || (ob->cfg.sync && fdatasync(fd) < 0)) {
        close(fd);
        goto fail;
    }
    close(fd);
    if (rename(tmp, path) < 0)
        goto fail;
    return 0;
fail:
    snprintf(ob->err, sizeof ob->err, "outbox: %s: %s", path, strerror(errno));
    return OUTBOX_ERR_IO;
}

static int read_u64_file(const struct outbox *ob, const char *name, const char *key, uint64_t *v)
{
    char path[1200], word[32];
    snprintf(path, sizeof path, "%s/%s", ob->cfg.dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%31s %" SCNu64, word, v) == 2 && strcmp(word, key) == 0;
    fclose(f);
    return ok ? 0 : -1;
}

/* mkdir -p: the default outbox_dir (/var/lib/ashiato/outbox) may not have a parent yet */
static int mkdirs(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* the whole entry or an errno: a disk that fills mid-entry gives a short count first, and the
 * write of the rest then says why (ENOSPC), which is what the operator must read */
static int write_entry(int fd, const uint8_t *hdr, size_t hlen, const uint8_t *data, size_t len)
{
    struct iovec iov[2] = { { (void *)hdr, hlen }, { (void *)data, len } };
    struct iovec *v = iov;
    int n = 2;
    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int push_entry(struct outbox *ob, const struct entry *en)
{
    if (ob->ne == ob->e_cap) {
        if (ob->e_start > ob->ne / 2) {   /* compact before growing */
            memmove(ob->e, ob->e + ob->e_start, (ob->ne - ob->e_start) * sizeof *ob->e);
            ob->ne -= ob->e_start;
            ob->e_start = 0;
        } else {
            size_t cap = ob->e_cap ? ob->e_cap * 2 : 1024;
            struct entry *ne = realloc(ob->e, cap * sizeof *ne);
            if (!ne)
                return -1;
            ob->e = ne;
            ob->e_cap = cap;
        }
    }
    ob->e[ob->ne++] = *en;
    return 0;
}

static struct segment *push_segment(struct outbox *ob, uint64_t id)
{
    if (ob->nsegs == ob->segs_cap) {
        size_t cap = ob->segs_cap ? ob->segs_cap * 2 : 16;
        struct segment *ns = realloc(ob->segs, cap * sizeof *ns);
        if (!ns)
            return NULL;
        ob->segs = ns;
        ob->segs_cap = cap;
    }
    struct segment *s = &ob->segs[ob->nsegs++];
    memset(s, 0, sizeof *s);
    s->id = id;
    return s;
}

/* Read a segment's entries into the index; cut a torn or corrupt tail. */
static int scan_segment(struct outbox *ob, struct segment *sg)
{
    char path[1200];
    uint8_t hdr[ENTRY_HDR];
    seg_path(ob, sg->id, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(ob->err, sizeof ob->err, "outbox: %s: %s", path, strerror(errno));
        return OUTBOX_ERR_IO;
    }
    /* a previous run may have died before syncing what it appended */
    if (ob->cfg.sync && fdatasync(fd) < 0) {
        snprintf(ob->err, sizeof ob->err, "outbox: %s: fdatasync: %s", path, strerror(errno));
        close(fd);
        return OUTBOX_ERR_IO;
    }
    uint8_t *buf = NULL;
    uint64_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, hdr, sizeof hdr, (off_t)off);
        if (n == 0)
            break;
        uint32_t len = n == ENTRY_HDR ? get32(hdr + 4) : 0;
        bool ok = n == ENTRY_HDR && get32(hdr) == ENTRY_MAGIC && len <= ENTRY_MAX;
        if (ok) {
            uint8_t *nb = realloc(buf, len ? len : 1);
            ok = nb != NULL;
            buf = nb ? nb : buf;
            ok = ok && pread(fd, buf, len, (off_t)(off + ENTRY_HDR)) == (ssize_t)len &&
                 entry_crc(hdr, buf, len) == get32(hdr + 20);
        }
        if (!ok) {                       /* torn write or corruption: keep what was whole */
            ob->st.torn_entries++;
            if (ftruncate(fd, (off_t)off) < 0) {
                snprintf(ob->err, sizeof ob->err, "outbox: %s: cannot cut torn tail: %s", path,
                         strerror(errno));
                free(buf);
                close(fd);
                return OUTBOX_ERR_IO;
            }
            break;
        }
        struct entry en = { get64(hdr + 8), off, len, get32(hdr + 16), sg->id };
        if (!sg->batches)
            sg->first_seq = en.seq;
        sg->last_seq = en.seq;
        sg->batches++;
        sg->records += en.records;
        if (en.seq >= ob->next_seq)
            ob->next_seq = en.seq + 1;
        if (en.seq > ob->acked) {
            if (push_entry(ob, &en) < 0) {
                snprintf(ob->err, sizeof ob->err, "outbox: out of memory");
                free(buf);
                close(fd);
                return -1;
            }
            ob->st.pending_bytes += len + ENTRY_HDR;
            ob->st.pending_records += en.records;
        }
        off += ENTRY_HDR + len;
    }
    sg->size = off;
    free(buf);
    close(fd);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A full segment is closed on the appending thread: with cfg.sync and batches in it not yet
 * on disk, its descriptor waits for the next outbox_sync_prepare() instead (the rare case of
 * more full segments than slots syncs here). */
static void retire_write_segment(struct outbox *ob)
{
    if (ob->wfd < 0)
        return;
    if (!ob->cfg.sync || ob->synced + 1 >= ob->next_seq)
        close(ob->wfd);
    else if (ob->nretired < OUTBOX_RETIRED_MAX)
        ob->retired[ob->nretired++] = ob->wfd;
    else {
        if (fdatasync(ob->wfd) < 0) { /* reported by the next sync of the segment after it */ }
        close(ob->wfd);
    }
    ob->wfd = -1;
}

static int open_write_segment(struct outbox *ob, bool fresh)
{
    retire_write_segment(ob);
    if (fresh || !ob->nsegs) {
        uint64_t id = ob->nsegs ? ob->segs[ob->nsegs - 1].id + 1 : 1;
        if (!push_segment(ob, id)) {
            snprintf(ob->err, sizeof ob->err, "outbox: out of memory");
            return -1;
        }
    }
    char path[1200];
    seg_path(ob, ob->segs[ob->nsegs - 1].id, path, sizeof path);
    ob->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ob->wfd < 0) {
        snprintf(ob->err, sizeof ob->err, "outbox: %s: %s", path, strerror(errno));
        return OUTBOX_ERR_IO;
    }
    return 0;
}

/* delete segment i (not the write segment); dropped = true counts its unacked batches */
static void remove_segment(struct outbox *ob, size_t i, bool dropped)
{
    struct segment *sg = &ob->segs[i];
    char path[1200];
    seg_path(ob, sg->id, path, sizeof path);
    unlink(path);
    /* forget index entries of this segment */
    size_t w = ob->e_start;
    for (size_t r = ob->e_start; r < ob->ne; r++) {
        if (ob->e[r].seg_id == sg->id) {
            ob->st.pending_bytes -= ob->e[r].len + ENTRY_HDR;
            ob->st.pending_records -= ob->e[r].records;
            if (dropped) {
                ob->st.dropped_batches++;
                ob->st.dropped_records += ob->e[r].records;
            }
            continue;
        }
        ob->e[w++] = ob->e[r];
    }
    ob->ne = w;
    memmove(&ob->segs[i], &ob->segs[i + 1], (ob->nsegs - i - 1) * sizeof *ob->segs);
    ob->nsegs--;
}

struct outbox *outbox_open(const struct outbox_config *cfg, char err[ASH_ERR_LEN])
{
    struct outbox *ob = calloc(1, sizeof *ob);
    uint64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    DIR *d = NULL;
    if (!ob) {
        snprintf(err, ASH_ERR_LEN, "outbox: out of memory");
        return NULL;
    }
    ob->cfg = *cfg;
    ob->wfd = ob->lock_fd = -1;
    if (mkdirs(cfg->dir) < 0) {
        snprintf(err, ASH_ERR_LEN, "outbox: %s: %s", cfg->dir, strerror(errno));
        goto fail;
    }
    /* one sensor per journal: two interleave segments with the same sequence numbers and
     * each acknowledges (deletes) the other's batches (issue 14 M5); as pcap_dir does */
    char lock_path[1100];
    snprintf(lock_path, sizeof lock_path, "%s/.lock", cfg->dir);
    if ((ob->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, ASH_ERR_LEN, "outbox: %s: %s", lock_path, strerror(errno));
        goto fail;
    }
    if (flock(ob->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, ASH_ERR_LEN, "outbox_dir %s: %s", cfg->dir, errno == EWOULDBLOCK ?
                 "in use by another process (its .lock is held): give each sensor its own "
                 "outbox_dir" : strerror(errno));
        goto fail;
    }
    if (read_u64_file(ob, "epoch", "epoch", &ob->epoch) < 0 || ob->epoch == 0) {
        char text[64];
        while (ob->epoch == 0 && getrandom(&ob->epoch, sizeof ob->epoch, 0) != sizeof ob->epoch)
            ;
        snprintf(text, sizeof text, "epoch %" PRIu64 "\n", ob->epoch);
        if (write_small_file(ob, "epoch", text) < 0)
            goto fail_err;
    }
    if (read_u64_file(ob, "acked", "acked", &ob->acked) < 0)
        ob->acked = 0;
    ob->next_seq = ob->acked + 1;
    if (!(d = opendir(cfg->dir))) {
        snprintf(err, ASH_ERR_LEN, "outbox: %s: %s", cfg->dir, strerror(errno));
        goto fail;
    }
    for (struct dirent *de; (de = readdir(d));) {
        uint64_t id;
        char tail[16];
        if (sscanf(de->d_name, "seg-%" SCNu64 ".%15s", &id, tail) != 2 || strcmp(tail, "journal"))
            continue;
        if (nids == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *n = realloc(ids, cap * sizeof *n);
            if (!n)
                goto nomem;
            ids = n;
        }
        ids[nids++] = id;
    }
    closedir(d);
    d = NULL;
    if (nids)
        qsort(ids, nids, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < nids; i++) {
        struct segment *sg = push_segment(ob, ids[i]);
        if (!sg)
            goto nomem;
        if (scan_segment(ob, sg) < 0)
            goto fail_err;
    }
    /* segments holding only acknowledged batches go now */
    for (size_t i = 0; i + 1 < ob->nsegs;) {
        if (ob->segs[i].batches == 0 || ob->segs[i].last_seq <= ob->acked)
            remove_segment(ob, i, false);
        else
            i++;
    }
    ob->synced = ob->next_seq - 1;  /* scan_segment synced what it found */
    bool fresh = !ob->nsegs || ob->segs[ob->nsegs - 1].size >= (uint64_t)cfg->segment_bytes;
    if (open_write_segment(ob, fresh) < 0)
        goto fail_err;
    free(ids);
    return ob;
nomem:
    snprintf(ob->err, sizeof ob->err, "outbox: out of memory");
fail_err:
    snprintf(err, ASH_ERR_LEN, "%s", ob->err);
fail:
    if (d)
        closedir(d);
    free(ids);
    outbox_close(ob);
    return NULL;
}

void outbox_close(struct outbox *ob)
{
    if (!ob)
        return;
    struct outbox_sync job;
    if (outbox_sync_prepare(ob, &job))
        outbox_sync_run(&job);       /* the last appends, unsent: keep them across a power loss */
    for (size_t i = 0; i < ob->nretired; i++)
        close(ob->retired[i]);
    if (ob->wfd >= 0)
        close(ob->wfd);
    if (ob->lock_fd >= 0)
        close(ob->lock_fd);          /* releases the flock */
    free(ob->e);
    free(ob->segs);
    free(ob);
}

const char *outbox_error(const struct outbox *ob) { return ob->err; }
uint64_t outbox_next_seq(const struct outbox *ob) { return ob->next_seq; }
uint64_t outbox_epoch(const struct outbox *ob) { return ob->epoch; }

int outbox_append(struct outbox *ob, uint64_t seq, const uint8_t *data, size_t len,
                  uint32_t records)
{
    uint8_t hdr[ENTRY_HDR];
    if (seq != ob->next_seq || len > ENTRY_MAX) {
        snprintf(ob->err, sizeof ob->err, "outbox: append seq %" PRIu64 " len %zu: expected seq %"
                 PRIu64 " and at most %u bytes", seq, len, ob->next_seq, ENTRY_MAX);
        return -1;
    }
    uint64_t need = len + ENTRY_HDR;
    /* a segment that could not be opened (a full disk at rotation) is tried again now */
    if (ob->wfd < 0 && open_write_segment(ob, false) < 0)
        goto failed;
    /* the bound: close the current segment and drop the oldest until the new batch fits */
    if (ob->st.pending_bytes + need > (uint64_t)ob->cfg.max_bytes) {
        if (ob->segs[ob->nsegs - 1].batches && open_write_segment(ob, true) < 0)
            goto failed;
        while (ob->st.pending_bytes + need > (uint64_t)ob->cfg.max_bytes && ob->nsegs > 1)
            remove_segment(ob, 0, true);
    }
    put32(hdr, ENTRY_MAGIC);
    put32(hdr + 4, (uint32_t)len);
    put64(hdr + 8, seq);
    put32(hdr + 16, records);
    put32(hdr + 20, entry_crc(hdr, data, (uint32_t)len));
    struct segment *sg = &ob->segs[ob->nsegs - 1];
    int werr = write_entry(ob->wfd, hdr, sizeof hdr, data, len);
    if (werr && sg->batches && sg->last_seq <= ob->acked) {
        /* the write segment holds only acknowledged batches: on a small disk they would keep
         * it full until segment_bytes; start a fresh segment, delete the old, try again */
        if (ftruncate(ob->wfd, (off_t)sg->size) < 0) { /* the segment goes anyway */ }
        if (open_write_segment(ob, true) == 0) {
            remove_segment(ob, ob->nsegs - 2, false);
            sg = &ob->segs[ob->nsegs - 1];
            werr = write_entry(ob->wfd, hdr, sizeof hdr, data, len);
        } else {
            werr = errno ? errno : EIO;
        }
    }
    if (werr) {
        snprintf(ob->err, sizeof ob->err, "outbox: %s: segment %" PRIu64 ": write of batch %" PRIu64
                 " (%u records, %zu bytes) failed: %s", ob->cfg.dir, sg->id, seq, records,
                 len + ENTRY_HDR, strerror(werr));
        /* cut what may have been written so the journal stays whole */
        if (ob->wfd >= 0 && ftruncate(ob->wfd, (off_t)sg->size) < 0) { /* the scan at next open cuts it */ }
        goto failed;
    }
    struct entry en = { seq, sg->size, (uint32_t)len, records, sg->id };
    if (push_entry(ob, &en) < 0) {
        snprintf(ob->err, sizeof ob->err, "outbox: out of memory");
        return -1;
    }
    if (!sg->batches)
        sg->first_seq = seq;
    sg->last_seq = seq;
    sg->batches++;
    sg->records += records;
    sg->size += need;
    ob->st.pending_bytes += need;
    ob->st.pending_records += records;
    ob->st.appended_batches++;
    ob->st.appended_records += records;
    ob->next_seq = seq + 1;
    /* this batch is written either way: a failed open is retried by the next append */
    if (sg->size >= (uint64_t)ob->cfg.segment_bytes)
        (void)open_write_segment(ob, true);
    return 0;
failed:
    ob->st.failed_batches++;
    ob->st.failed_records += records;
    return OUTBOX_ERR_IO;
}

int outbox_sync_prepare(struct outbox *ob, struct outbox_sync *job)
{
    job->n = 0;
    job->upto = ob->next_seq - 1;
    job->err = 0;
    if (!ob->cfg.sync || ob->synced >= job->upto)
        return 0;
    for (size_t i = 0; i < ob->nretired; i++)
        job->fds[job->n++] = ob->retired[i];
    ob->nretired = 0;
    if (ob->wfd >= 0) {
        int fd = dup(ob->wfd);       /* the appender may rotate and close wfd meanwhile */
        if (fd >= 0)
            job->fds[job->n++] = fd;
        else if (fdatasync(ob->wfd) < 0)
            job->err = errno;
    }
    return 1;
}

int outbox_sync_run(struct outbox_sync *job)
{
    for (size_t i = 0; i < job->n; i++) {
        if (fdatasync(job->fds[i]) < 0 && !job->err)
            job->err = errno;
        close(job->fds[i]);
    }
    job->n = 0;
    return job->err ? OUTBOX_ERR_IO : 0;
}

int outbox_sync_done(struct outbox *ob, const struct outbox_sync *job)
{
    if (job->err) {
        snprintf(ob->err, sizeof ob->err, "outbox: fdatasync of the journal failed: %s",
                 strerror(job->err));
        return OUTBOX_ERR_IO;
    }
    if (job->upto > ob->synced)
        ob->synced = job->upto;
    return 0;
}

bool outbox_is_durable(const struct outbox *ob, uint64_t seq)
{
    return !ob->cfg.sync || seq <= ob->synced;
}

int outbox_ack(struct outbox *ob, uint64_t seq)
{
    char text[64];
    if (seq <= ob->acked)
        return 0;
    if (seq >= ob->next_seq)
        seq = ob->next_seq - 1;      /* never ack what was not written */
    snprintf(text, sizeof text, "acked %" PRIu64 "\n", seq);
    if (write_small_file(ob, "acked", text) < 0)
        return OUTBOX_ERR_IO;
    ob->acked = seq;
    while (ob->e_start < ob->ne && ob->e[ob->e_start].seq <= seq) {
        ob->st.pending_bytes -= ob->e[ob->e_start].len + ENTRY_HDR;
        ob->st.pending_records -= ob->e[ob->e_start].records;
        ob->st.acked_batches++;
        ob->st.acked_records += ob->e[ob->e_start].records;
        ob->e_start++;
    }
    while (ob->nsegs > 1 && ob->segs[0].last_seq <= seq)
        remove_segment(ob, 0, false);
    return 0;
}

static const struct entry *find(const struct outbox *ob, uint64_t seq, bool greater)
{
    size_t lo = ob->e_start, hi = ob->ne;
    while (lo < hi) {                /* first entry with e.seq >= seq */
        size_t mid = lo + (hi - lo) / 2;
        if (ob->e[mid].seq < seq) lo = mid + 1; else hi = mid;
    }
    if (lo >= ob->ne)
        return NULL;
    if (!greater && ob->e[lo].seq != seq)
        return NULL;
    return &ob->e[lo];
}

uint64_t outbox_next_pending(const struct outbox *ob, uint64_t after)
{
    const struct entry *en = find(ob, after + 1, true);
    return en ? en->seq : 0;
}

int outbox_read(struct outbox *ob, uint64_t seq, uint8_t **data, size_t *len)
{
    const struct entry *en = find(ob, seq, false);
    char path[1200];
    if (!en || seq <= ob->acked)
        return OUTBOX_ERR_GONE;
    seg_path(ob, en->seg_id, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = malloc(en->len ? en->len : 1);
    if (fd < 0 || !buf || pread(fd, buf, en->len, (off_t)(en->off + ENTRY_HDR)) != (ssize_t)en->len) {
        snprintf(ob->err, sizeof ob->err, "outbox: %s: read of seq %" PRIu64 " failed: %s", path,
                 seq, fd < 0 ? strerror(errno) : "short read");
        if (fd >= 0)
            close(fd);
        free(buf);
        return OUTBOX_ERR_IO;
    }
    close(fd);
    *data = buf;
    *len = en->len;
    return 0;
}

void outbox_stats(const struct outbox *ob, struct outbox_stats *out)
{
    *out = ob->st;
    out->epoch = ob->epoch;
    out->next_seq = ob->next_seq;
    out->acked = ob->acked;
    out->pending_batches = ob->ne - ob->e_start;
    out->segments = ob->nsegs;
    out->disk_bytes = 0;
    for (size_t i = 0; i < ob->nsegs; i++)
        out->disk_bytes += ob->segs[i].size;
}
