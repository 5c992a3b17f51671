/* app_quic.c -- QUIC Initial packets (RFC 9000, RFC 9001, RFC 9369): proof and SNI.
 * Owns:  removing the Initial protection, whose keys come from the Destination Connection
 *        ID alone (RFC 9001 section 5.2): HKDF-SHA256 for the secrets, AES-128 for header
 *        protection, AES-128-GCM for the payload, all from nettle. A packet whose tag
 *        verifies is QUIC beyond doubt (Arkime tags QUIC only then); the CRYPTO frames of a
 *        client Initial are put back in order and the ClientHello's SNI taken (app_tls.c).
 * Lends: nothing.
 * Never: keeps key material or plaintext after the call (both live on the stack); reads
 *        past the packet (cursor); decrypts anything but Initial packets of v1, v2 and
 *        draft-29, the first packet of a datagram only.
 * Trap:  a ClientHello longer than one Initial packet (post-quantum key shares) continues in
 *        the next datagram, and browsers scatter its CRYPTO frames; without a reassembly
 *        buffer, the bytes contiguous from offset 0 are read as a ClientHello and, failing
 *        that, each CRYPTO frame is searched for a self-consistent server_name extension. */
#include <string.h>

#include <nettle/aes.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "app_internal.h"
#include "cursor.h"

#define QUIC_MAX_PLAIN  1600      /* the protected payload of one Initial packet, at most */
#define QUIC_MAX_CRYPTO 1600      /* CRYPTO stream bytes put back in order */

struct quic_version {
    uint32_t    version;
    unsigned    initial_type;     /* long-header type bits of an Initial packet */
    const char *prefix;           /* HKDF label prefix after "tls13 " */
    uint8_t     salt[20];
};

static const struct quic_version versions[] = {
    { 0x00000001, 0, "quic ", { 0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a } },
    { 0x6b3343cf, 1, "quicv2 ", { 0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                  0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9 } },
    { 0xff00001d, 0, "quic ", { 0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
                                0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99 } },
};

/* HKDF-Expand-Label(secret, "tls13 " prefix label, "", out_len) */
static void expand_label(const uint8_t secret[32], const char *prefix, const char *label,
                         uint8_t *out, size_t out_len)
{
    uint8_t info[64];
    size_t pl = strlen(prefix), ll = strlen(label), n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + pl + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, prefix, pl);
    n += pl;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0;
    struct hmac_sha256_ctx mac;
    hmac_sha256_set_key(&mac, 32, secret);
    hkdf_expand(&mac, (nettle_hash_update_func *)hmac_sha256_update,
                (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, n, info,
                out_len, out);
}

static uint64_t varint(struct cursor *c)
{
    uint8_t b = cursor_u8(c);
    unsigned extra = (1u << (b >> 6)) - 1;
    uint64_t v = b & 0x3f;
    for (unsigned i = 0; i < extra; i++)
        v = v << 8 | cursor_u8(c);
    return v;
}

static bool host_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

/* A server_name extension inside a CRYPTO fragment that does not start the ClientHello:
 * type 0, length L, list length L - 2, name type 0, name length L - 5, a host name. The
 * three lengths must agree, so a chance match is rare; keep the first one found. */
static void scan_sni(struct app_ctx *c, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 9 < n; i++) {
        if (d[i] != 0 || d[i + 1] != 0 || d[i + 6] != 0)
            continue;
        size_t el = (size_t)d[i + 2] << 8 | d[i + 3];
        size_t ll = (size_t)d[i + 4] << 8 | d[i + 5];
        size_t nl = (size_t)d[i + 7] << 8 | d[i + 8];
        if (nl == 0 || ll != nl + 3 || el != ll + 2 || i + 9 + nl > n)
            continue;
        size_t k = 0;
        while (k < nl && host_char(d[i + 9 + k]))
            k++;
        if (k != nl)
            continue;
        struct app_fields *f = app_ctx_fields(c);
        if (f)
            app_list_add(f, &f->tls_sni[0][0], APP_NAME_LEN, &f->n_tls_sni, APP_MAX_SNI,
                         d + i + 9, nl, true);
        c->st->flags |= APP_F_TLS_CH;
        return;
    }
}

/* CRYPTO frames into crypto[]; returns the length contiguous from offset 0. With scan set,
 * each frame is searched for the server_name extension instead (see scan_sni). */
static size_t crypto_frames(struct app_ctx *ctx, const uint8_t *plain, size_t len,
                            uint8_t *crypto, bool scan)
{
    struct cursor c = cursor_make(plain, len);
    uint8_t have[QUIC_MAX_CRYPTO / 8 + 1];
    memset(have, 0, sizeof have);
    for (int frames = 0; frames < 256 && cursor_left(&c) > 0; frames++) {
        uint64_t type = varint(&c);
        if (c.bad)
            break;
        if (type == 0x00 || type == 0x01)        /* PADDING, PING */
            continue;
        if (type == 0x02 || type == 0x03) {      /* ACK: largest, delay, count, first, ranges */
            varint(&c);
            varint(&c);
            uint64_t ranges = varint(&c);
            varint(&c);
            for (uint64_t r = 0; r < ranges && !c.bad; r++) {
                varint(&c);
                varint(&c);
            }
            if (type == 0x03) {
                varint(&c);
                varint(&c);
                varint(&c);
            }
            continue;
        }
        if (type == 0x1c) {                      /* CONNECTION_CLOSE */
            break;
        }
        if (type != 0x06)
            break;                               /* nothing else is allowed in an Initial */
        uint64_t off = varint(&c), n = varint(&c);
        const uint8_t *data = c.bad || n > cursor_left(&c) ? NULL : cursor_bytes(&c, (size_t)n);
        if (!data)
            break;
        if (scan) {
            if (!(ctx->st->flags & APP_F_TLS_CH))
                scan_sni(ctx, data, (size_t)n);
            continue;
        }
        if (off >= QUIC_MAX_CRYPTO)
            continue;
        size_t take = n > QUIC_MAX_CRYPTO - off ? QUIC_MAX_CRYPTO - (size_t)off : (size_t)n;
        memcpy(crypto + off, data, take);
        for (size_t i = (size_t)off; i < off + take; i++)
            have[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    size_t contiguous = 0;
    while (contiguous < QUIC_MAX_CRYPTO && (have[contiguous / 8] & (1u << (contiguous % 8))))
        contiguous++;
    return contiguous;
}

bool app_quic_initial(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    if (len < 1200 || (p[0] & 0xc0) != 0xc0)
        return false;
    struct cursor cur = cursor_make(p + 1, len - 1);
    uint32_t version = cursor_be32(&cur);
    const struct quic_version *qv = NULL;
    for (size_t i = 0; i < ASH_ARRAY_LEN(versions); i++)
        if (versions[i].version == version)
            qv = &versions[i];
    if (!qv || ((p[0] >> 4) & 3) != qv->initial_type)
        return false;
    uint8_t dcid_len = cursor_u8(&cur);
    const uint8_t *dcid = cursor_bytes(&cur, dcid_len);
    cursor_skip(&cur, cursor_u8(&cur));                    /* source connection id */
    uint64_t token = varint(&cur);
    if (cur.bad || !dcid || dcid_len > 20 || token > cursor_left(&cur))
        return false;
    cursor_skip(&cur, (size_t)token);
    uint64_t plen = varint(&cur);
    if (cur.bad || plen < 20 || plen > cursor_left(&cur) || plen > QUIC_MAX_PLAIN + 4)
        return false;
    size_t pn_off = (size_t)(cur.p - p);

    /* secrets: the client's for packets of direction 0, the server's for direction 1 */
    uint8_t initial[32], secret[32], key[16], iv[12], hp[16];
    struct hmac_sha256_ctx mac;
    hmac_sha256_set_key(&mac, sizeof qv->salt, qv->salt);
    hkdf_extract(&mac, (nettle_hash_update_func *)hmac_sha256_update,
                 (nettle_hash_digest_func *)hmac_sha256_digest, SHA256_DIGEST_SIZE, dcid_len,
                 dcid, initial);
    expand_label(initial, "", c->dir ? "server in" : "client in", secret, sizeof secret);
    expand_label(secret, qv->prefix, "key", key, sizeof key);
    expand_label(secret, qv->prefix, "iv", iv, sizeof iv);
    expand_label(secret, qv->prefix, "hp", hp, sizeof hp);

    /* header protection: the sample starts 4 bytes after the packet number's start */
    uint8_t mask[16], header[512];
    struct aes128_ctx aes;
    aes128_set_encrypt_key(&aes, hp);
    aes128_encrypt(&aes, 16, mask, p + pn_off + 4);
    unsigned pn_len = ((p[0] ^ (mask[0] & 0x0f)) & 3) + 1;
    if (pn_off + pn_len > sizeof header || plen < pn_len + 16)
        return false;
    memcpy(header, p, pn_off + pn_len);
    header[0] = (uint8_t)(p[0] ^ (mask[0] & 0x0f));
    uint64_t pn = 0;
    for (unsigned i = 0; i < pn_len; i++) {
        header[pn_off + i] = (uint8_t)(p[pn_off + i] ^ mask[1 + i]);
        pn = pn << 8 | header[pn_off + i];
    }
    uint8_t nonce[12];
    memcpy(nonce, iv, sizeof nonce);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));

    size_t ct_len = (size_t)plen - pn_len - 16;
    const uint8_t *ct = p + pn_off + pn_len;
    uint8_t plain[QUIC_MAX_PLAIN], tag[16];
    struct gcm_aes128_ctx gcm;
    gcm_aes128_set_key(&gcm, key);
    gcm_aes128_set_iv(&gcm, sizeof nonce, nonce);
    gcm_aes128_update(&gcm, pn_off + pn_len, header);
    gcm_aes128_decrypt(&gcm, ct_len, plain, ct);
    gcm_aes128_digest(&gcm, sizeof tag, tag);
    if (!memeql_sec(tag, ct + ct_len, sizeof tag))
        return false;

    if (c->dir == 0 && !(c->st->flags & APP_F_TLS_CH)) {
        uint8_t crypto[QUIC_MAX_CRYPTO];
        size_t n = crypto_frames(c, plain, ct_len, crypto, false);
        if (n >= 4) {
            app_tls_client_hello(c, crypto, n);
            c->st->flags &= (uint8_t)~APP_F_TLS_CH;
            struct app_fields *f = c->st->fields ? app_ctx_fields(c) : NULL;
            if (f && f->n_tls_sni)
                c->st->flags |= APP_F_TLS_CH;    /* the SNI is in: no further Initials */
        }
        if (!(c->st->flags & APP_F_TLS_CH))
            crypto_frames(c, plain, ct_len, crypto, true);
    }
    return true;
}
