/* userdb.c -- the users file of HA1 digests (see userdb.h).
 * Owns:  the line format and its checks, the file's mode check.
 * Never: holds a password longer than userdb_put's call. */
#include "userdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/md5.h>
#include <nettle/sha2.h>

struct userdb {
    struct userdb_entry *e;
    size_t n, cap;
};

bool userdb_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > USERDB_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '@' || *p == '-'))
            return false;
    return true;
}

static bool realm_ok(const char *realm)
{
    size_t n = strlen(realm);
    if (n == 0 || n > USERDB_REALM_MAX)
        return false;
    for (const char *p = realm; *p; p++)
        if (*p == ':' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return false;
    return true;
}

void userdb_ha1(const char *name, const char *realm, const char *password, uint8_t md5[16],
                uint8_t sha256[32])
{
    struct md5_ctx m;
    struct sha256_ctx s;
    md5_init(&m);
    sha256_init(&s);
    const char *parts[] = { name, ":", realm, ":", password };
    for (size_t i = 0; i < ASH_ARRAY_LEN(parts); i++) {
        md5_update(&m, strlen(parts[i]), (const uint8_t *)parts[i]);
        sha256_update(&s, strlen(parts[i]), (const uint8_t *)parts[i]);
    }
    md5_digest(&m, 16, md5);
    sha256_digest(&s, 32, sha256);
}

static int unhex(const char *s, size_t len, uint8_t *out, size_t outlen)
{
    if (len != outlen * 2)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static struct userdb_entry *grow(struct userdb *db)
{
    if (db->n == db->cap) {
        size_t cap = db->cap ? db->cap * 2 : 8, bytes;
        if (!ash_mul_size(cap, sizeof *db->e, &bytes))
            return NULL;
        struct userdb_entry *e = realloc(db->e, bytes);
        if (!e)
            return NULL;
        db->e = e;
        db->cap = cap;
    }
    memset(&db->e[db->n], 0, sizeof db->e[0]);
    return &db->e[db->n++];
}

struct userdb *userdb_load(const char *path, bool missing_ok, char err[ASH_ERR_LEN])
{
    struct userdb *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, ASH_ERR_LEN, "users file %s: out of memory", path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && missing_ok)
            return db;
        snprintf(err, ASH_ERR_LEN, "users file %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077)) {
        snprintf(err, ASH_ERR_LEN, "users file %s: mode %04o lets group or others read it "
                 "(chmod 600 %s)", path, (unsigned)(sb.st_mode & 07777), path);
        goto fail;
    }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (!l || line[0] == '#')
            continue;
        char *field[5];
        int nf = 0;
        char *save = line;
        for (char *tok; nf < 5 && (tok = strsep(&save, ":"));)
            field[nf++] = tok;
        struct userdb_entry *e = NULL;
        if (nf != 5 || save) {
            snprintf(err, ASH_ERR_LEN, "users file %s:%d: expected name:realm:HA1-MD5:"
                     "HA1-SHA256:pcap|nopcap", path, lineno);
            goto fail;
        }
        if (!userdb_name_ok(field[0]) || !realm_ok(field[1])) {
            snprintf(err, ASH_ERR_LEN, "users file %s:%d: bad user name or realm", path, lineno);
            goto fail;
        }
        if (userdb_find(db, field[0])) {
            snprintf(err, ASH_ERR_LEN, "users file %s:%d: user %s appears twice", path, lineno,
                     field[0]);
            goto fail;
        }
        if (!(e = grow(db))) {
            snprintf(err, ASH_ERR_LEN, "users file %s: out of memory", path);
            goto fail;
        }
        snprintf(e->name, sizeof e->name, "%s", field[0]);
        snprintf(e->realm, sizeof e->realm, "%s", field[1]);
        if (unhex(field[2], strlen(field[2]), e->md5, 16) < 0 ||
            unhex(field[3], strlen(field[3]), e->sha256, 32) < 0) {
            snprintf(err, ASH_ERR_LEN, "users file %s:%d: HA1 digests must be 32 and 64 hex "
                     "characters", path, lineno);
            goto fail;
        }
        if (!strcmp(field[4], "pcap"))
            e->can_pcap = true;
        else if (strcmp(field[4], "nopcap")) {
            snprintf(err, ASH_ERR_LEN, "users file %s:%d: permissions: expected pcap or nopcap, "
                     "got '%.20s'", path, lineno, field[4]);
            goto fail;
        }
    }
    fclose(f);
    return db;
fail:
    if (f)
        fclose(f);
    userdb_free(db);
    return NULL;
}

void userdb_free(struct userdb *db)
{
    if (!db)
        return;
    free(db->e);
    free(db);
}

size_t userdb_count(const struct userdb *db)
{
    return db->n;
}

const struct userdb_entry *userdb_at(const struct userdb *db, size_t i)
{
    return i < db->n ? &db->e[i] : NULL;
}

const struct userdb_entry *userdb_find(const struct userdb *db, const char *name)
{
    for (size_t i = 0; i < db->n; i++)
        if (!strcmp(db->e[i].name, name))
            return &db->e[i];
    return NULL;
}

int userdb_put(struct userdb *db, const char *name, const char *realm, const char *password,
               bool can_pcap, char err[ASH_ERR_LEN])
{
    if (!userdb_name_ok(name)) {
        snprintf(err, ASH_ERR_LEN, "user name '%.64s': expected 1..64 of A-Za-z0-9._@-", name);
        return -1;
    }
    if (!realm_ok(realm)) {
        snprintf(err, ASH_ERR_LEN, "realm '%.64s': expected 1..128 characters, no ':' or quotes",
                 realm);
        return -1;
    }
    struct userdb_entry *e = (struct userdb_entry *)userdb_find(db, name);
    if (!e && !(e = grow(db))) {
        snprintf(err, ASH_ERR_LEN, "out of memory");
        return -1;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->realm, sizeof e->realm, "%s", realm);
    userdb_ha1(name, realm, password, e->md5, e->sha256);
    e->can_pcap = can_pcap;
    return 0;
}

int userdb_del(struct userdb *db, const char *name)
{
    const struct userdb_entry *e = userdb_find(db, name);
    if (!e)
        return -1;
    size_t i = (size_t)(e - db->e);
    memmove(&db->e[i], &db->e[i + 1], (db->n - i - 1) * sizeof db->e[0]);
    db->n--;
    return 0;
}

int userdb_save(const struct userdb *db, const char *path, char err[ASH_ERR_LEN])
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, ASH_ERR_LEN, "users file %s: %s", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        snprintf(err, ASH_ERR_LEN, "users file %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "# ashiato HTTP API users: name:realm:HA1-MD5:HA1-SHA256:pcap|nopcap "
            "(ashiato user add|del|list)\n");
    for (size_t i = 0; i < db->n; i++) {
        const struct userdb_entry *e = &db->e[i];
        fprintf(f, "%s:%s:", e->name, e->realm);
        for (int k = 0; k < 16; k++)
            fprintf(f, "%02x", e->md5[k]);
        fputc(':', f);
        for (int k = 0; k < 32; k++)
            fprintf(f, "%02x", e->sha256[k]);
        fprintf(f, ":%s\n", e->can_pcap ? "pcap" : "nopcap");
    }
    int bad = fflush(f) != 0 || fsync(fd) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) < 0) {
        snprintf(err, ASH_ERR_LEN, "users file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
