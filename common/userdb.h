/* userdb.h -- the HTTP API's users file: one line per user, digests only, never passwords.
 *   name:realm:HA1-MD5:HA1-SHA256:permissions
 * HA1 = H(name ":" realm ":" password) in lowercase hex (RFC 7616), for both algorithms, so
 * the server may offer either; permissions is "pcap" (may download packets) or "nopcap".
 * '#' starts a comment line. The file must not be readable by group or others.
 * Owns:  struct userdb (the parsed lines), reading and writing the file (0600, written to a
 *        temporary file and renamed), HA1 computation (nettle).
 * Lends: entries, valid until the db is changed or freed.
 * Never: keeps or writes a password; logs.
 * Trap:  an HA1 is bound to its realm: changing the server's realm invalidates every line. */
#ifndef ASHIATO_USERDB_H
#define ASHIATO_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define USERDB_NAME_MAX  64
#define USERDB_REALM_MAX 128

struct userdb_entry {
    char name[USERDB_NAME_MAX + 1];
    char realm[USERDB_REALM_MAX + 1];
    uint8_t md5[16];
    uint8_t sha256[32];
    bool can_pcap;
};

struct userdb;

/* Read path. A missing file is an empty db when missing_ok. Refuses (NULL, err) a file that
 * group or others may read or write, and names the line of any malformed one. */
struct userdb *userdb_load(const char *path, bool missing_ok, char err[ASH_ERR_LEN]);
void userdb_free(struct userdb *db);                                 /* accepts NULL */
size_t userdb_count(const struct userdb *db);
const struct userdb_entry *userdb_at(const struct userdb *db, size_t i);
const struct userdb_entry *userdb_find(const struct userdb *db, const char *name);
/* Add or replace a user; -1 with err for a bad name (1..64 of [A-Za-z0-9._@-]) or realm. */
int userdb_put(struct userdb *db, const char *name, const char *realm, const char *password,
               bool can_pcap, char err[ASH_ERR_LEN]);
/* Remove a user; -1 if there is none. */
int userdb_del(struct userdb *db, const char *name);
/* Write the db to path (mode 0600, temp file + rename). 0 or -1 with err. */
int userdb_save(const struct userdb *db, const char *path, char err[ASH_ERR_LEN]);
/* HA1 of both algorithms. */
void userdb_ha1(const char *name, const char *realm, const char *password, uint8_t md5[16],
                uint8_t sha256[32]);
bool userdb_name_ok(const char *name);

#endif
