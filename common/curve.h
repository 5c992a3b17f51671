/* curve.h -- CurveZMQ keys: generation, key files, and the aggregator's allow-list.
 * Owns:  the key file format (INI-like: "public = <Z85>" and "secret = <Z85>", mode 0600 for
 *        secrets) and the allow-list format (one "name public-key" per line, '#' comments).
 * Lends: names from curve_allow_find(), valid until curve_allow_free().
 * Never: logs or exits; keeps secret keys anywhere but the caller's buffers.
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
/* Write path (secret, mode 0600) and path.pub (public only). */
int curve_write_keyfile(const char *path, const struct curve_keypair *kp, char err[ASH_ERR_LEN]);
/* Read a key file; a file holding only "public = ..." leaves secret_z85 empty. */
int curve_read_keyfile(const char *path, struct curve_keypair *kp, char err[ASH_ERR_LEN]);

struct curve_allow;
struct curve_allow *curve_allow_load(const char *path, char err[ASH_ERR_LEN]);
void curve_allow_free(struct curve_allow *a);
size_t curve_allow_count(const struct curve_allow *a);
/* the name for a 32-byte public key, NULL if not allowed */
const char *curve_allow_find(const struct curve_allow *a, const uint8_t key[32]);

#endif
