/* curve.h -- CurveZMQ keys: generation, key files, and the aggregator's allow-list.
 * Owns:  the key file format (INI-like: "public = <Z85>" and "secret = <Z85>", plain ASCII,
 *        mode 0600 for secrets, written whole by rename), the allow-list format (one
 *        "name public-key" per line, '#' comments) and the sensor name rule both keygen and the
 *        allow-list apply (curve_name_check).
 * Lends: names from curve_allow_find(), valid until curve_allow_free().
 * Never: exits; keeps secret keys anywhere but the caller's buffers; logs, except one warning
 *        when a secret key file is readable by group or others.
 * Trap:  libzmq accepts any client that knows the server key unless a ZAP handler checks the
 *        client's key: the allow-list is only enforced where auth.c consults it. */
#ifndef ASHIATO_CURVE_H
#define ASHIATO_CURVE_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define CURVE_Z85_LEN 41             /* 40 characters + NUL */
#define CURVE_NAME_LEN 64

struct curve_keypair {
    char public_z85[CURVE_Z85_LEN];
    char secret_z85[CURVE_Z85_LEN];
};

int curve_generate(struct curve_keypair *kp, char err[ASH_ERR_LEN]);
/* Write path (secret, mode 0600) and path.pub (public only), each through a 0600 temporary
 * beside it, fsynced and renamed, the directory fsynced. */
int curve_write_keyfile(const char *path, const struct curve_keypair *kp, char err[ASH_ERR_LEN]);
/* Read a key file; a file holding only "public = ..." leaves secret_z85 empty. A byte that is
 * not printable ASCII (a BOM, say) is an error naming line, column and byte; a secret in a file
 * group or others can read is logged as a warning. */
int curve_read_keyfile(const char *path, struct curve_keypair *kp, char err[ASH_ERR_LEN]);

/* A public key to connect to: TEXT is the 40-character Z85 key itself, or a file holding only
 * a public key. A file that also holds a secret (the server's own key pair) is refused. */
int curve_read_public_keyfile(const char *text, char out[CURVE_Z85_LEN], char err[ASH_ERR_LEN]);

/* A sensor name as keygen prints it and the allow-list takes it: 1..63 ASCII letters and
 * digits, and '-', '_', '.' after the first. 0, or -1 and err naming the first bad byte. */
int curve_name_check(const char *name, char err[ASH_ERR_LEN]);

struct curve_allow;
struct curve_allow *curve_allow_load(const char *path, char err[ASH_ERR_LEN]);
void curve_allow_free(struct curve_allow *a);
size_t curve_allow_count(const struct curve_allow *a);
/* the name for a 32-byte public key, NULL if not allowed */
const char *curve_allow_find(const struct curve_allow *a, const uint8_t key[32]);

#endif
