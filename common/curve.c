/* curve.c -- CurveZMQ keys and the allow-list (see curve.h).
 * Owns:  parsing of key files and allow-lists, with "file:line:" errors; writing key files
 *        (a 0600 temporary in the same directory, written, fsynced, renamed over the name, the
 *        directory fsynced: a crash leaves the old file or the new one, never a cut one, and no
 *        other name of the old file ever holds the secret); the sensor name rule.
 * Never: prints secrets; logs anything but the one warning about a secret key file others can
 *        read (every caller should say it, so it is said here). */
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

struct allow_entry {
    char name[CURVE_NAME_LEN];
    uint8_t key[32];
    int line;                        /* in the allow-list file */
};

struct curve_allow {
    struct allow_entry *e;
    size_t n;
};

int curve_generate(struct curve_keypair *kp, char err[ASH_ERR_LEN])
{
    if (zmq_curve_keypair(kp->public_z85, kp->secret_z85) != 0) {
        snprintf(err, ASH_ERR_LEN, "curve: cannot make a keypair: %s (libzmq built without CURVE?)",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *text, size_t n)
{
    while (n) {
        ssize_t w = write(fd, text, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        text += w;
        n -= (size_t)w;
    }
    return 0;
}

/* path's directory ("." for a bare name) into dir */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Write text to path whole: mkostemp makes PATH.tmp.XXXXXX with O_CREAT|O_EXCL and mode 0600
 * before a byte is written; mode is set, the data fsynced, the name renamed over path and the
 * directory fsynced. On failure the temporary is removed and path is untouched. */
static int write_file(const char *path, mode_t mode, const char *text, char err[ASH_ERR_LEN])
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *step = "create";
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(err, ASH_ERR_LEN, "%.200s: path too long", path);
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, ASH_ERR_LEN, "%.200s: cannot create a file beside it: %s", path, strerror(errno));
        return -1;
    }
    if ((step = "chmod", fchmod(fd, mode) < 0) || (step = "write", write_all(fd, text, strlen(text)) < 0) ||
        (step = "fsync", fsync(fd) < 0)) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        snprintf(err, ASH_ERR_LEN, "%.200s: %s: %s", tmp, step, strerror(e));
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        snprintf(err, ASH_ERR_LEN, "%.200s: cannot replace it: %s", path, strerror(e));
        return -1;
    }
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        snprintf(err, ASH_ERR_LEN, "%.200s: written, but its directory %.200s could not be synced: %s",
                 path, dir, strerror(e));
        return -1;
    }
    close(dfd);
    return 0;
}

int curve_write_keyfile(const char *path, const struct curve_keypair *kp, char err[ASH_ERR_LEN])
{
    char text[256], pub[1100];
    snprintf(text, sizeof text, "# ashiato CurveZMQ keypair: keep this file secret\npublic = %s\nsecret = %s\n",
             kp->public_z85, kp->secret_z85);
    if (write_file(path, 0600, text, err) < 0)
        return -1;
    snprintf(pub, sizeof pub, "%s.pub", path);
    snprintf(text, sizeof text, "# ashiato CurveZMQ public key\npublic = %s\n", kp->public_z85);
    return write_file(pub, 0644, text, err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool valid_z85_key(const char *z)
{
    uint8_t bin[32];
    return strlen(z) == 40 && zmq_z85_decode(bin, z) != NULL;
}

/* at most 32 bytes of s for a message, a byte that is not printable ASCII (a tab) as \xHH */
static const char *shown(const char *s, char out[32 * 4 + 4])
{
    size_t o = 0, i = 0;
    for (; s[i] && i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02X", c);
    }
    if (s[i])
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
    return out;
}

/* fgets filled line without reaching its end: the rest would be read as a line of its own */
static bool cut_line(FILE *f, const char *line)
{
    return !strchr(line, '\n') && !feof(f);
}

/* NULL when every byte of s is printable ASCII, tab or line end; else what the first other one
 * is, with its 1-based column in *col and the byte in *byte. */
static const char *odd_byte(const char *s, int *col, unsigned *byte)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 0x20 && *p < 0x7f) || *p == '\t' || *p == '\n' || *p == '\r')
            continue;
        *col = (int)(p - (const unsigned char *)s) + 1;
        *byte = *p;
        if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
            return "a UTF-8 byte order mark: save the file as plain ASCII";
        return *p >= 0x80 ? "not ASCII: keys and names are plain ASCII" : "a control character";
    }
    return NULL;
}

/* Parse an open key file; fills kp. */
static int read_keyfile(FILE *f, const char *path, struct curve_keypair *kp, char err[ASH_ERR_LEN])
{
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (cut_line(f, line)) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: line longer than %zu characters", path, lineno,
                     sizeof line - 2);
            return -1;
        }
        int col;
        unsigned byte;
        const char *why = odd_byte(line, &col, &byte);
        if (why) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d:%d: byte 0x%02X (%s)", path, lineno, col, byte, why);
            return -1;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: expected 'public = KEY' or 'secret = KEY'", path, lineno);
            return -1;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        char *dst = !strcmp(key, "public") ? kp->public_z85 : !strcmp(key, "secret") ? kp->secret_z85 : NULL;
        if (!dst) {
            char sh[32 * 4 + 4];
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: %s: unknown key (expected public or secret)", path,
                     lineno, shown(key, sh));
            return -1;
        }
        if (!valid_z85_key(val)) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: %s: expected a 40-character Z85 key, got %zu characters",
                     path, lineno, key, strlen(val));
            return -1;
        }
        memcpy(dst, val, 41);
    }
    if (ferror(f)) {
        snprintf(err, ASH_ERR_LEN, "%.200s: %s", path, strerror(errno ? errno : EIO));
        return -1;
    }
    if (!kp->public_z85[0]) {
        snprintf(err, ASH_ERR_LEN, "%.200s: no 'public = KEY' line", path);
        return -1;
    }
    return 0;
}

static FILE *open_keyfile(const char *path, struct stat *st, char err[ASH_ERR_LEN])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, ASH_ERR_LEN, "%.200s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), st) < 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, ASH_ERR_LEN, "%.200s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    return f;
}

int curve_read_keyfile(const char *path, struct curve_keypair *kp, char err[ASH_ERR_LEN])
{
    struct stat st;
    memset(kp, 0, sizeof *kp);
    FILE *f = open_keyfile(path, &st, err);
    if (!f)
        return -1;
    int rc = read_keyfile(f, path, kp, err);
    fclose(f);
    if (rc < 0) {
        memset(kp, 0, sizeof *kp);
        return -1;
    }
    if (kp->secret_z85[0] && (st.st_mode & 077))
        log_warn("curve", "secret key file readable by others: file=%s mode=%04o (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777), path);
    return 0;
}

int curve_read_public_keyfile(const char *text, char out[CURVE_Z85_LEN], char err[ASH_ERR_LEN])
{
    if (strlen(text) == 40 && access(text, F_OK) != 0) {   /* Z85 may hold '/' */
        if (!valid_z85_key(text)) {
            snprintf(err, ASH_ERR_LEN, "server key: '%.40s' is neither a file nor a Z85 key", text);
            return -1;
        }
        memcpy(out, text, 41);
        return 0;
    }
    struct curve_keypair kp;
    struct stat st;
    memset(&kp, 0, sizeof kp);
    FILE *f = open_keyfile(text, &st, err);
    if (!f)
        return -1;
    int rc = read_keyfile(f, text, &kp, err);
    fclose(f);
    if (rc == 0 && kp.secret_z85[0]) {
        const char *base = strrchr(text, '/');
        snprintf(err, ASH_ERR_LEN, "%.150s holds a secret key (a key pair such as the aggregator's own): "
                 "give its public key file, %.60s.pub", text, base ? base + 1 : text);
        rc = -1;
    }
    if (rc == 0)
        memcpy(out, kp.public_z85, sizeof kp.public_z85);
    memset(&kp, 0, sizeof kp);
    return rc;
}

int curve_name_check(const char *name, char err[ASH_ERR_LEN])
{
    size_t n = strlen(name);
    if (n == 0 || n >= CURVE_NAME_LEN) {
        snprintf(err, ASH_ERR_LEN, "name: expected 1..%d characters, got %zu", CURVE_NAME_LEN - 1, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isalnum(c) && c < 0x80)
            continue;
        if (i > 0 && (c == '-' || c == '_' || c == '.'))
            continue;
        char what[24];
        if (c >= 0x20 && c < 0x7f)
            snprintf(what, sizeof what, "'%c'", c);
        else
            snprintf(what, sizeof what, "byte 0x%02X", c);
        snprintf(err, ASH_ERR_LEN, "name: %s at %zu: expected letters, digits, and '-', '_' or '.' "
                 "after the first%s", what, i + 1, c == 0xEF && i == 0 ? " (a UTF-8 byte order mark?)" : "");
        return -1;
    }
    return 0;
}

struct curve_allow *curve_allow_load(const char *path, char err[ASH_ERR_LEN])
{
    char line[512];
    int lineno = 0;
    struct curve_allow *a = calloc(1, sizeof *a);
    FILE *f = fopen(path, "r");
    if (!a || !f) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, a ? strerror(errno) : "out of memory");
        goto fail;
    }
    while (fgets(line, sizeof line, f)) {
        char name[256], key[256], extra[8];
        lineno++;
        if (cut_line(f, line)) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: line longer than %zu characters", path, lineno,
                     sizeof line - 2);
            goto fail;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        int n = sscanf(s, "%255s %255s %7s", name, key, extra);
        if (n != 2) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: expected 'sensor-name public-key'", path, lineno);
            goto fail;
        }
        char why[ASH_ERR_LEN];
        if (curve_name_check(name, why) < 0) {
            snprintf(err, ASH_ERR_LEN, "%.200s:%d: %s", path, lineno, why);
            goto fail;
        }
        struct allow_entry en;
        if (strlen(key) != 40 || !zmq_z85_decode(en.key, key)) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: %s: expected a 40-character Z85 public key", path,
                     lineno, name);
            goto fail;
        }
        snprintf(en.name, sizeof en.name, "%s", name);
        for (size_t i = 0; i < a->n; i++)   /* H2: one line per name (packets go by name) */
            if (!strcmp(a->e[i].name, en.name)) {
                snprintf(err, ASH_ERR_LEN, "%.200s:%d: %s: this name is already on line %d",
                         path, lineno, name, a->e[i].line);
                goto fail;
            }
        en.line = lineno;
        struct allow_entry *ne = realloc(a->e, (a->n + 1) * sizeof *ne);
        if (!ne) {
            snprintf(err, ASH_ERR_LEN, "%s: out of memory", path);
            goto fail;
        }
        a->e = ne;
        a->e[a->n++] = en;
    }
    fclose(f);
    return a;
fail:
    if (f)
        fclose(f);
    curve_allow_free(a);
    return NULL;
}

void curve_allow_free(struct curve_allow *a)
{
    if (!a)
        return;
    free(a->e);
    free(a);
}

size_t curve_allow_count(const struct curve_allow *a) { return a->n; }

const char *curve_allow_find(const struct curve_allow *a, const uint8_t key[32])
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->e[i].key, key, 32) == 0)
            return a->e[i].name;
    return NULL;
}
