/* quic_seal.h -- build protected QUIC client Initial packets for the tests (test_app_quic.c)
 *                and the fuzz target (fuzz_app.c): RFC 9001 section 5 with nettle, written
 *                apart from sensor/app_quic.c so that each checks the other; test_app_quic.c
 *                checks this one against tshark (quic_vectors.h).
 * Owns:  quic_seal_initial() and the CRYPTO frame / varint writers.
 * Never: allocates; writes past out[cap]. */
#ifndef ASHIATO_QUIC_SEAL_H
#define ASHIATO_QUIC_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <nettle/aes.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>

#define QUIC_SEAL_V1      0x00000001u
#define QUIC_SEAL_V2      0x6b3343cfu
#define QUIC_SEAL_DRAFT29 0xff00001du

struct quic_seal {
    uint32_t       version;      /* QUIC_SEAL_V1, _V2 or _DRAFT29 */
    const uint8_t *dcid;
    uint8_t        dcid_len;     /* 0..20 */
    const uint8_t *token;        /* after a Retry */
    size_t         token_len;    /* < 64 */
    uint64_t       pn;
    unsigned       pn_len;       /* 1..4 */
};

static inline void quic_seal_label(const uint8_t secret[32], const char *label, uint8_t *out,
                                   size_t out_len)
{
    uint8_t info[64];
    size_t ll = strlen(label), n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, ll);
    n += 6 + ll;
    info[n++] = 0;
    struct hmac_sha256_ctx mac;
    hmac_sha256_set_key(&mac, 32, secret);
    hkdf_expand(&mac, (nettle_hash_update_func *)hmac_sha256_update,
                (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, n, info,
                out_len, out);
}

/* A client Initial of exactly `size` bytes (at least 1200 for a sensor to look at it):
 * the plaintext frames, then PADDING up to the size. Returns size, or 0 when the header
 * and plaintext do not fit in size or size in cap. */
static inline size_t quic_seal_initial(const struct quic_seal *q, const uint8_t *plain,
                                       size_t plain_len, size_t size, uint8_t *out, size_t cap)
{
    static const uint8_t salt_v1[20] = {
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
        0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a };
    static const uint8_t salt_v2[20] = {
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
        0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9 };
    static const uint8_t salt_d29[20] = {
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
        0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99 };
    bool v2 = q->version == QUIC_SEAL_V2;
    const uint8_t *salt = v2 ? salt_v2 : q->version == QUIC_SEAL_DRAFT29 ? salt_d29 : salt_v1;
    if (q->dcid_len > 20 || q->token_len >= 64 || q->pn_len < 1 || q->pn_len > 4 || size > cap)
        return 0;

    size_t n = 0;
    out[n++] = (uint8_t)(0xc0 | (v2 ? 0x10 : 0x00) | (q->pn_len - 1));
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(q->version >> (24 - 8 * i));
    out[n++] = q->dcid_len;
    memcpy(out + n, q->dcid, q->dcid_len);
    n += q->dcid_len;
    out[n++] = 0;                                     /* no source connection id */
    out[n++] = (uint8_t)q->token_len;
    if (q->token_len)
        memcpy(out + n, q->token, q->token_len);
    n += q->token_len;
    if (n + 2 + q->pn_len + plain_len + 16 > size || size - n - 2 >= 0x4000)
        return 0;
    size_t length = size - n - 2;                     /* packet number, payload, tag */
    out[n++] = (uint8_t)(0x40 | length >> 8);
    out[n++] = (uint8_t)length;
    size_t pn_off = n;
    for (unsigned i = 0; i < q->pn_len; i++)
        out[n++] = (uint8_t)(q->pn >> (8 * (q->pn_len - 1 - i)));
    size_t ct_len = length - q->pn_len - 16;
    uint8_t *ct = out + n;
    memcpy(ct, plain, plain_len);
    memset(ct + plain_len, 0, ct_len - plain_len);    /* PADDING frames */

    uint8_t initial[32], secret[32], key[16], iv[12], hp[16], nonce[12];
    struct hmac_sha256_ctx mac;
    hmac_sha256_set_key(&mac, 20, salt);
    hkdf_extract(&mac, (nettle_hash_update_func *)hmac_sha256_update,
                 (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE,
                 q->dcid_len, q->dcid, initial);
    quic_seal_label(initial, "client in", secret, sizeof secret);
    quic_seal_label(secret, v2 ? "quicv2 key" : "quic key", key, sizeof key);
    quic_seal_label(secret, v2 ? "quicv2 iv" : "quic iv", iv, sizeof iv);
    quic_seal_label(secret, v2 ? "quicv2 hp" : "quic hp", hp, sizeof hp);
    memcpy(nonce, iv, sizeof nonce);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(q->pn >> (8 * i));

    struct gcm_aes128_ctx gcm;
    gcm_aes128_set_key(&gcm, key);
    gcm_aes128_set_iv(&gcm, sizeof nonce, nonce);
    gcm_aes128_update(&gcm, n, out);                  /* the header, unprotected */
    gcm_aes128_encrypt(&gcm, ct_len, ct, ct);
    gcm_aes128_digest(&gcm, 16, ct + ct_len);

    uint8_t mask[16];
    struct aes128_ctx aes;
    aes128_set_encrypt_key(&aes, hp);
    aes128_encrypt(&aes, 16, mask, out + pn_off + 4);
    out[0] ^= mask[0] & 0x0f;
    for (unsigned i = 0; i < q->pn_len; i++)
        out[pn_off + i] ^= mask[1 + i];
    return size;
}

/* a QUIC variable-length integer in `bytes` bytes (1, 2, 4 or 8; fewer: the fewest) */
static inline size_t quic_put_varint(uint8_t *out, uint64_t v, unsigned bytes)
{
    unsigned least = v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x40000000 ? 4 : 8;
    if (bytes < least)
        bytes = least;
    unsigned code = bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : 3;
    for (unsigned i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    out[0] = (uint8_t)((out[0] & 0x3f) | code << 6);
    return bytes;
}

/* a CRYPTO frame carrying data at stream offset off; returns its length */
static inline size_t quic_put_crypto(uint8_t *out, uint64_t off, const uint8_t *data, size_t len,
                                     unsigned varint_bytes)
{
    size_t n = 0;
    out[n++] = 0x06;
    n += quic_put_varint(out + n, off, varint_bytes);
    n += quic_put_varint(out + n, len, varint_bytes);
    memcpy(out + n, data, len);
    return n + len;
}

#endif
