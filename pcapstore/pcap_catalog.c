/* pcap_catalog.c -- the catalogue of pcap files (see pcap_catalog.h for the file format and
 *                   why it is not SQLite).
 * Owns:  the lock fd, the append fd, the sorted in-memory table and its mutex.
 * Never: logs (the store logs what it did with the catalogue); reads pcap files. */
#include "pcap_catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cursor.h"
#include "pcap_format.h"

#define CATALOG_FILE "catalogue"
#define CATALOG_TMP  "catalogue.tmp"
#define CATALOG_LOCK ".lock"
#define CATALOG_MAX_BYTES (256u << 20)
#define CATALOG_LINE_MAX 512
/* Blocks kept allocated past the catalogue's end (fallocate KEEP_SIZE): appends land in them,
 * so a store whose file system is full still records the state of the files it finishes.
 * 1 MiB is about 5000 lines; the reserve is topped up whenever less than half is left. */
#define CATALOG_RESERVE (1u << 20)

struct pcap_catalog {
    char dir[1024];
    int lock_fd, fd;
    off_t end, reserved;                      /* append offset; end of the allocated blocks */
    pthread_mutex_t mu;
    struct pcap_catalog_file *v;
    size_t n, cap;
    struct pcap_catalog_stats stats;
    uint64_t store_id;                        /* the store line's; 0 until loaded or made */
};

static const char *const state_names[] = { "open", "closed", "expired" };

const char *pcap_catalog_state_name(enum pcap_catalog_state s)
{
    return (unsigned)s < ASH_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

/* CRC-32 (IEEE 802.3, reflected), bitwise: a catalogue line is checked a few thousand times
 * per start, never per packet */
static uint32_t crc32_ieee(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t crc = 0xffffffffu;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static int mkdirs(const char *dir, char err[ASH_ERR_LEN])
{
    char tmp[1024];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof tmp) {
        snprintf(err, ASH_ERR_LEN, "pcap_dir: expected a directory path of 1..1023 bytes");
        return -1;
    }
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
            snprintf(err, ASH_ERR_LEN, "pcap_dir %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
        snprintf(err, ASH_ERR_LEN, "pcap_dir %s: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static int format_line(const struct pcap_catalog_file *f, char out[CATALOG_LINE_MAX])
{
    int n = snprintf(out, CATALOG_LINE_MAX,
                     "file id=%" PRIu64 " state=%s first_us=%" PRId64 " last_us=%" PRId64
                     " size=%" PRIu64 " packets=%" PRIu64 " linktype=%u snaplen=%u cut=%d"
                     " changed_us=%" PRId64 " name=%s",
                     f->id, pcap_catalog_state_name(f->state), f->first_us, f->last_us, f->size,
                     f->packets, f->linktype, f->snaplen, f->cut ? 1 : 0, f->changed_us, f->name);
    if (n < 0 || n + 14 >= CATALOG_LINE_MAX)
        return -1;
    n += snprintf(out + n, (size_t)(CATALOG_LINE_MAX - n), " crc=%08x\n",
                  crc32_ieee(out, (size_t)n));
    return n;
}

static int format_store_line(uint64_t id, char out[CATALOG_LINE_MAX])
{
    int n = snprintf(out, CATALOG_LINE_MAX, "store id=%016" PRIx64, id);
    n += snprintf(out + n, (size_t)(CATALOG_LINE_MAX - n), " crc=%08x\n", crc32_ieee(out, (size_t)n));
    return n;
}

/* "store id=HEX16 crc=HEX8" without its newline: the id, or 0 if it is not such a line */
static uint64_t parse_store_line(struct cursor line)
{
    char want[CATALOG_LINE_MAX];
    size_t len = cursor_left(&line);
    if (len != 38 || memcmp(line.p, "store id=", 9) != 0)
        return 0;
    uint64_t id = 0;
    for (size_t i = 9; i < 25; i++) {
        uint8_t ch = line.p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        id = id << 4 | (uint64_t)d;
    }
    int n = format_store_line(id, want);
    return n == 39 && memcmp(want, line.p, 38) == 0 ? id : 0;
}

/* a decimal number (optionally negative) from the cursor up to the end */
static bool parse_num(struct cursor c, bool allow_neg, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0;
    size_t digits = 0;
    if (cursor_left(&c) && *c.p == '-' && allow_neg) {
        neg = true;
        cursor_skip(&c, 1);
    }
    while (cursor_left(&c)) {
        uint8_t ch = cursor_u8(&c);
        if (ch < '0' || ch > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(ch - '0');
        digits++;
    }
    if (!digits || v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool key_is(struct cursor k, const char *name)
{
    size_t len = strlen(name);
    return cursor_left(&k) == len && memcmp(k.p, name, len) == 0;
}

/* one line without its newline; false if it is not a valid, CRC-checked file line */
static bool parse_line(struct cursor line, struct pcap_catalog_file *f)
{
    const uint8_t *start = line.p;
    size_t len = cursor_left(&line);
    const char *tag = " crc=";
    if (len < 14 || memcmp(line.p + len - 13, tag, 5) != 0)
        return false;
    uint32_t want = 0;
    for (size_t i = len - 8; i < len; i++) {
        uint8_t ch = start[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        want = want << 4 | (uint32_t)d;
    }
    if (crc32_ieee(start, len - 13) != want)
        return false;
    struct cursor c = cursor_make(start, len - 13);
    struct cursor word = cursor_sub(&c, 4);
    if (!key_is(word, "file"))
        return false;
    memset(f, 0, sizeof *f);
    unsigned seen = 0;
    while (cursor_left(&c)) {
        if (cursor_u8(&c) != ' ')
            return false;
        size_t tok = 0;
        while (tok < cursor_left(&c) && c.p[tok] != ' ')
            tok++;
        struct cursor t = cursor_sub(&c, tok);
        size_t eq = 0;
        while (eq < cursor_left(&t) && t.p[eq] != '=')
            eq++;
        if (eq == cursor_left(&t))
            return false;
        struct cursor k = cursor_sub(&t, eq);
        cursor_skip(&t, 1);
        int64_t v = 0;
        if (key_is(k, "name")) {
            size_t n = cursor_left(&t);
            if (n == 0 || n >= sizeof f->name || memchr(t.p, '/', n))
                return false;
            memcpy(f->name, t.p, n);
            f->name[n] = '\0';
            seen |= 1u << 0;
        } else if (key_is(k, "state")) {
            size_t i;
            for (i = 0; i < ASH_ARRAY_LEN(state_names); i++)
                if (key_is(t, state_names[i]))
                    break;
            if (i == ASH_ARRAY_LEN(state_names))
                return false;
            f->state = (enum pcap_catalog_state)i;
            seen |= 1u << 1;
        } else {
            bool neg = key_is(k, "first_us") || key_is(k, "last_us") || key_is(k, "changed_us");
            if (!parse_num(t, neg, &v))
                return false;
            if (key_is(k, "id") && v > 0)
                f->id = (uint64_t)v, seen |= 1u << 2;
            else if (key_is(k, "first_us"))
                f->first_us = v;
            else if (key_is(k, "last_us"))
                f->last_us = v;
            else if (key_is(k, "size"))
                f->size = (uint64_t)v;
            else if (key_is(k, "packets"))
                f->packets = (uint64_t)v;
            else if (key_is(k, "linktype") && v <= 0xffff)
                f->linktype = (uint32_t)v;
            else if (key_is(k, "snaplen") && v <= 262144)
                f->snaplen = (uint32_t)v;
            else if (key_is(k, "cut") && v <= 1)
                f->cut = v == 1;
            else if (key_is(k, "changed_us"))
                f->changed_us = v;
            else
                return false;
        }
    }
    return seen == 7;
}

/* index of id, or of where it would go */
static size_t find_pos(const struct pcap_catalog *c, uint64_t id)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int table_set(struct pcap_catalog *c, const struct pcap_catalog_file *f)
{
    size_t i = find_pos(c, f->id);
    if (i < c->n && c->v[i].id == f->id) {
        c->v[i] = *f;
        return 0;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64, bytes;
        if (!ash_mul_size(ncap, sizeof *c->v, &bytes))
            return -1;
        struct pcap_catalog_file *nv = realloc(c->v, bytes);
        if (!nv)
            return -1;
        c->v = nv;
        c->cap = ncap;
    }
    memmove(c->v + i + 1, c->v + i, (c->n - i) * sizeof *c->v);
    c->v[i] = *f;
    c->n++;
    return 0;
}

static int load(struct pcap_catalog *c, char err[ASH_ERR_LEN])
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", c->dir, CATALOG_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > (off_t)CATALOG_MAX_BYTES) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, st.st_size > (off_t)CATALOG_MAX_BYTES ?
                 "larger than 256 MiB" : strerror(errno));
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    struct cursor c_all = cursor_make(buf, got);
    int rc = 0;
    while (cursor_left(&c_all)) {
        size_t len = 0;
        while (len < cursor_left(&c_all) && c_all.p[len] != '\n')
            len++;
        struct cursor line = cursor_sub(&c_all, len);
        bool complete = cursor_left(&c_all) > 0;
        cursor_skip(&c_all, 1);
        struct pcap_catalog_file f;
        if (len == 0 || line.p[0] == '#')
            continue;
        c->stats.lines++;
        if (len >= 6 && memcmp(line.p, "store ", 6) == 0) {
            uint64_t id = parse_store_line(line);
            if (id)
                c->store_id = id;
            else
                c->stats.bad_lines++;
            continue;
        }
        if (!complete || !parse_line(line, &f)) {
            c->stats.bad_lines++;
            continue;
        }
        if (table_set(c, &f) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

int pcap_catalog_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* rewrite the catalogue with one line per file, atomically */
static int compact(struct pcap_catalog *c, char err[ASH_ERR_LEN])
{
    char tmp[1100], path[1100], line[CATALOG_LINE_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s", c->dir, CATALOG_TMP);
    snprintf(path, sizeof path, "%s/%s", c->dir, CATALOG_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *head = "# ashiato pcap catalogue v1: one line per file state, last line per id wins\n";
    int rc = pcap_format_write_all(fd, head, strlen(head));
    int sn = format_store_line(c->store_id, line);
    if (rc == 0)
        rc = pcap_format_write_all(fd, line, (size_t)sn);
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        int n = format_line(&c->v[i], line);
        rc = n < 0 ? -1 : pcap_format_write_all(fd, line, (size_t)n);
    }
    if (rc < 0 || fsync(fd) < 0) {
        int e = errno;
        snprintf(err, ASH_ERR_LEN, "%s: %s", tmp, strerror(e));
        close(fd);
        errno = e;                            /* the caller tells a full disk apart */
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0 || pcap_catalog_fsync_dir(c->dir) < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* top up the blocks allocated past the end; a file system without fallocate (or one that
 * is full already) just has no reserve, and appends allocate as they go */
static void reserve(struct pcap_catalog *c)
{
    if (c->reserved - c->end >= (off_t)(CATALOG_RESERVE / 2))
        return;
    if (fallocate(c->fd, FALLOC_FL_KEEP_SIZE, c->end, CATALOG_RESERVE) == 0)
        c->reserved = c->end + (off_t)CATALOG_RESERVE;
    else
        c->stats.reserve_failures++;
}

struct pcap_catalog *pcap_catalog_open(const char *dir, char err[ASH_ERR_LEN])
{
    struct pcap_catalog *c = calloc(1, sizeof *c);
    char path[1100];
    if (!c) {
        snprintf(err, ASH_ERR_LEN, "pcap_catalog: out of memory");
        return NULL;
    }
    c->lock_fd = c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    if (mkdirs(dir, err) < 0)
        goto fail;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    snprintf(path, sizeof path, "%s/%s", dir, CATALOG_LOCK);
    if ((c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, ASH_ERR_LEN, "pcap_dir %s: %s", dir, errno == EWOULDBLOCK ?
                 "in use by another process (its .lock is held)" : strerror(errno));
        goto fail;
    }
    if (load(c, err) < 0)
        goto fail;
    bool had_store_line = c->store_id != 0;
    while (c->store_id == 0) {                /* a new store (or one from before store ids) */
        if (getrandom(&c->store_id, sizeof c->store_id, 0) != (ssize_t)sizeof c->store_id) {
            snprintf(err, ASH_ERR_LEN, "pcap_catalog: getrandom: %s", strerror(errno));
            goto fail;
        }
    }
    if (compact(c, err) < 0) {
        /* a full file system: the catalogue as it is serves (last line per id wins), and
         * the store's retention makes room once it runs; a catalogue that still needs its
         * store line cannot do without the rewrite */
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s/%s", dir, CATALOG_TMP);
        unlink(tmp);
        if (!had_store_line || (errno != ENOSPC && errno != EDQUOT))
            goto fail;
        c->stats.compact_skipped = 1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, CATALOG_FILE);
    struct stat sb;
    if ((c->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0 || fstat(c->fd, &sb) < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        goto fail;
    }
    c->end = c->reserved = sb.st_size;
    reserve(c);
    return c;
fail:
    pcap_catalog_close(c);
    return NULL;
}

void pcap_catalog_close(struct pcap_catalog *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    if (c->lock_fd >= 0)
        close(c->lock_fd);            /* releases the flock */
    pthread_mutex_destroy(&c->mu);
    free(c->v);
    free(c);
}

const char *pcap_catalog_dir(const struct pcap_catalog *c)
{
    return c->dir;
}

void pcap_catalog_stats(struct pcap_catalog *c, struct pcap_catalog_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    out->files = c->n;
    pthread_mutex_unlock(&c->mu);
}

int pcap_catalog_put(struct pcap_catalog *c, const struct pcap_catalog_file *f, char err[ASH_ERR_LEN])
{
    char line[CATALOG_LINE_MAX];
    int n = format_line(f, line);
    if (n < 0 || f->id == 0 || !f->name[0] || strchr(f->name, '/') || strchr(f->name, ' ')) {
        snprintf(err, ASH_ERR_LEN, "pcap_catalog: file %" PRIu64 ": bad entry (name '%s')",
                 f->id, f->name);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    reserve(c);
    int rc = pcap_format_write_all(c->fd, line, (size_t)n);
    if (rc == 0)
        rc = fdatasync(c->fd);
    if (rc < 0) {
        int e = errno;
        snprintf(err, ASH_ERR_LEN, "%s/%s: %s", c->dir, CATALOG_FILE, strerror(e));
        c->stats.write_errors++;
        /* no torn line stays for the next append to be glued to (a truncate also frees
         * the reserve: the next put tries to take it again) */
        if (ftruncate(c->fd, c->end) == 0)
            c->reserved = c->end;
        errno = e;
    } else {
        c->end += n;
    }
    /* the table holds the truth even when the line could not be written: the writer,
     * retention and the packet service go on from it, and the repair at the next open
     * reconciles the file with the catalogue */
    if (table_set(c, f) < 0 && rc == 0) {
        snprintf(err, ASH_ERR_LEN, "pcap_catalog: out of memory");
        rc = -1;
    }
    c->stats.lines++;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void pcap_catalog_update(struct pcap_catalog *c, const struct pcap_catalog_file *f)
{
    pthread_mutex_lock(&c->mu);
    size_t i = find_pos(c, f->id);
    if (i < c->n && c->v[i].id == f->id)
        c->v[i] = *f;
    pthread_mutex_unlock(&c->mu);
}

int pcap_catalog_get(struct pcap_catalog *c, uint64_t id, struct pcap_catalog_file *out)
{
    int rc = -1;
    pthread_mutex_lock(&c->mu);
    size_t i = find_pos(c, id);
    if (i < c->n && c->v[i].id == id) {
        *out = c->v[i];
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int pcap_catalog_snapshot(struct pcap_catalog *c, struct pcap_catalog_file **out, size_t *n)
{
    pthread_mutex_lock(&c->mu);
    struct pcap_catalog_file *v = ash_calloc_array(c->n, sizeof *v);
    if (v) {
        if (c->n)
            memcpy(v, c->v, c->n * sizeof *v);
        *n = c->n;
    }
    pthread_mutex_unlock(&c->mu);
    *out = v;
    return v ? 0 : -1;
}

uint64_t pcap_catalog_max_id(struct pcap_catalog *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t id = c->n ? c->v[c->n - 1].id : 0;
    pthread_mutex_unlock(&c->mu);
    return id;
}

uint64_t pcap_catalog_store_id(const struct pcap_catalog *c)
{
    return c->store_id;
}

int pcap_catalog_path(const struct pcap_catalog *c, const char *name, const char *suffix,
                      char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s%s", c->dir, name, suffix ? suffix : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
