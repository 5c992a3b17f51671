/* curve.c -- CurveZMQ keys and the allow-list (see curve.h).
 * Owns:  parsing of key files and allow-lists, with "file:line:" errors.
 * Never: logs; prints secrets. */
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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

static int write_file(const char *path, mode_t mode, const char *text, char err[ASH_ERR_LEN])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && fchmod(fd, mode) == 0;
    close(fd);
    if (!ok) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return -1;
    }
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

int curve_read_keyfile(const char *path, struct curve_keypair *kp, char err[ASH_ERR_LEN])
{
    char line[512];
    int lineno = 0;
    FILE *f = fopen(path, "r");
    memset(kp, 0, sizeof *kp);
    if (!f) {
        snprintf(err, ASH_ERR_LEN, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: expected 'public = KEY' or 'secret = KEY'", path, lineno);
            goto fail;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        char *dst = !strcmp(key, "public") ? kp->public_z85 : !strcmp(key, "secret") ? kp->secret_z85 : NULL;
        if (!dst) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: %s: unknown key", path, lineno, key);
            goto fail;
        }
        if (!valid_z85_key(val)) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: %s: expected a 40-character Z85 key", path, lineno, key);
            goto fail;
        }
        memcpy(dst, val, 41);
    }
    fclose(f);
    if (!kp->public_z85[0]) {
        snprintf(err, ASH_ERR_LEN, "%s: no 'public = KEY' line", path);
        return -1;
    }
    return 0;
fail:
    fclose(f);
    return -1;
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
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        int n = sscanf(s, "%255s %255s %7s", name, key, extra);
        if (n != 2) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: expected 'sensor-name public-key'", path, lineno);
            goto fail;
        }
        if (strlen(name) >= CURVE_NAME_LEN) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: name longer than %d characters", path, lineno,
                     CURVE_NAME_LEN - 1);
            goto fail;
        }
        struct allow_entry en;
        if (strlen(key) != 40 || !zmq_z85_decode(en.key, key)) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: %s: expected a 40-character Z85 public key", path,
                     lineno, name);
            goto fail;
        }
        snprintf(en.name, sizeof en.name, "%s", name);
        for (size_t i = 0; i < a->n; i++)   /* H2: one name, one key (packets go by name) */
            if (!strcmp(a->e[i].name, en.name) || !memcmp(a->e[i].key, en.key, 32)) {
                snprintf(err, ASH_ERR_LEN, "%s:%d: %s: %s already on line %d", path, lineno,
                         name, strcmp(a->e[i].name, en.name) ? "this key is" : "this name is",
                         a->e[i].line);
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
