/* app_quic.c -- QUIC Initial packets (RFC 9000, RFC 9001, RFC 9369): proof and SNI.
 * Owns:  removing the Initial protection, whose keys come from the Destination Connection
 *        ID alone (RFC 9001 section 5.2): HKDF-SHA256 for the secrets, AES-128 for header
 *        protection, AES-128-GCM for the payload, all from nettle. A packet whose tag
 *        verifies is QUIC beyond doubt (Arkime tags QUIC only then). The CRYPTO frames of the
 *        client's Initials are put back by offset (gaps, overlaps: the first byte in stays,
 *        duplicates, any order, any number of Initials up to APP_MAX_PKTS) in a reassembly
 *        buffer that app.c lends the session while its ClientHello is incomplete; once the
 *        bytes from offset 0 to the ClientHello's end are in, app_tls.c reads its SNI.
 * Lends: nothing.
 * Never: keeps key material after the call, nor plaintext beyond the CRYPTO bytes of an
 *        incomplete ClientHello (in the lent buffer); reads past the packet (cursor);
 *        writes outside the buffer (CRYPTO bytes past APP_REASM_LEN are dropped, a longer
 *        ClientHello is read as far as it fits); decrypts anything but Initial packets of
 *        v1, v2 and draft-29, the first packet of a datagram only.
 * Trap:  the buffer is keyed by version and DCID: an Initial after a Retry (new DCID, new
 *        keys, CRYPTO offsets from 0 again) must start afresh, never mix two ClientHellos.
 *        Until the ClientHello is whole the SNI is a guess (the bytes contiguous from 0 read
 *        as a ClientHello, else a self-consistent server_name extension in any run of
 *        bytes: what a session whose buffer is lost or never lent keeps); the whole
 *        ClientHello replaces it. The buffer goes back when the ClientHello is read, at the
 *        client's APP_MAX_PKTS-th packet, or in app_release(). */
#include <string.h>

#include <nettle/aes.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "app_internal.h"
#include "cursor.h"

#define QUIC_MAX_PLAIN  1600      /* the protected payload of one Initial packet, at most */
#define QUIC_MAX_CID    20

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

/* A server_name extension inside CRYPTO bytes that do not start the ClientHello: type 0,
 * length L, list length L - 2, name type 0, name length L - 5, a host name. The three
 * lengths must agree, so a chance match is rare; keep the first one found. */
static bool scan_sni(struct app_ctx *c, const uint8_t *d, size_t n)
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
        return true;
    }
    return false;
}

static bool have_byte(const struct app_reasm *r, size_t i)
{
    return (r->have[i / 8] >> (i % 8)) & 1u;
}

/* CRYPTO bytes at stream offset off; a byte already present stays, bytes past the buffer
 * are dropped */
static void reasm_put(struct app_reasm *r, uint64_t off, const uint8_t *d, size_t n)
{
    if (off >= APP_REASM_LEN)
        return;
    size_t end = n > APP_REASM_LEN - off ? APP_REASM_LEN : (size_t)off + n;
    for (size_t i = (size_t)off; i < end; i++) {
        if (have_byte(r, i))
            continue;
        r->data[i] = d[i - off];
        r->have[i / 8] |= (uint8_t)(1u << (i % 8));
    }
}

/* how many bytes from offset 0 are present */
static size_t reasm_prefix(const struct app_reasm *r)
{
    size_t i = 0;
    while (i < APP_REASM_LEN && r->have[i / 8] == 0xff)
        i += 8;
    while (i < APP_REASM_LEN && have_byte(r, i))
        i++;
    return i;
}

/* The CRYPTO frames of one Initial's plaintext into r; stops at the first frame that is
 * malformed or not allowed in an Initial. Each frame takes at least a byte, so the packet
 * bounds the loop (browsers strew hundreds of PADDING bytes between CRYPTO frames: no
 * frame count limit, it would stop short of the last ones). */
static void crypto_frames(const uint8_t *plain, size_t len, struct app_reasm *r)
{
    struct cursor c = cursor_make(plain, len);
    while (cursor_left(&c) > 0) {
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
            for (uint64_t i = 0; i < ranges && !c.bad; i++) {
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
        if (type != 0x06)
            break;                               /* CONNECTION_CLOSE, or not for an Initial */
        uint64_t off = varint(&c), n = varint(&c);
        const uint8_t *data = c.bad || n > cursor_left(&c) ? NULL : cursor_bytes(&c, (size_t)n);
        if (!data)
            break;
        reasm_put(r, off, data, (size_t)n);
    }
}

static bool has_sni(struct app_ctx *c)
{
    const struct app_fields *f = c->st->fields ? app_ctx_fields(c) : NULL;
    return f && f->n_tls_sni > 0;
}

/* The ClientHello is not whole yet: an SNI from what is there, as a guess (see Trap). */
static void guess_sni(struct app_ctx *c, const struct app_reasm *r, size_t prefix)
{
    if (has_sni(c))
        return;
    if (prefix >= 4) {
        app_tls_client_hello(c, r->data, prefix);
        c->st->flags &= (uint8_t)~APP_F_TLS_CH;  /* read, but not whole */
        if (has_sni(c))
            return;
    }
    for (size_t i = 0; i < APP_REASM_LEN;) {
        if (!have_byte(r, i)) {
            i++;
            continue;
        }
        size_t run = i;
        while (run < APP_REASM_LEN && have_byte(r, run))
            run++;
        if (scan_sni(c, r->data + i, run - i))
            return;
        i = run;
    }
}

/* the whole ClientHello (or as much as fits): its SNI replaces any guess */
static void read_client_hello(struct app_ctx *c, const struct app_reasm *r, size_t len)
{
    struct app_fields *f = c->st->fields ? app_ctx_fields(c) : NULL;
    if (f) {
        f->n_tls_sni = 0;
        memset(f->tls_sni, 0, sizeof f->tls_sni);
    }
    app_tls_client_hello(c, r->data, len);
    c->st->flags |= APP_F_TLS_CH;                /* whole: no further Initials */
}

/* One client Initial's plaintext: its CRYPTO frames join the session's stream (version and
 * DCID name it); a packet that leaves the ClientHello incomplete gets the session a buffer. */
static void client_crypto(struct app_ctx *c, uint32_t version, const uint8_t *dcid,
                          uint8_t dcid_len, const uint8_t *plain, size_t len)
{
    uint8_t key[APP_REASM_KEY];
    _Static_assert(5 + QUIC_MAX_CID <= APP_REASM_KEY, "version, DCID length, DCID");
    memset(key, 0, sizeof key);
    for (int i = 0; i < 4; i++)
        key[i] = (uint8_t)(version >> (24 - 8 * i));
    key[4] = dcid_len;
    memcpy(key + 5, dcid, dcid_len);

    struct app_reasm local, *r = app_ctx_reasm(c, false);
    if (!r || memcmp(r->key, key, sizeof key) != 0) {
        if (!r)
            r = &local;                          /* a buffer is lent only if this is not all */
        memcpy(r->key, key, sizeof key);         /* first Initial, or a new stream: afresh */
        memset(r->have, 0, sizeof r->have);
    }
    crypto_frames(plain, len, r);

    size_t prefix = reasm_prefix(r);
    if (prefix >= 4) {
        struct cursor hs = cursor_make(r->data, prefix);
        cursor_skip(&hs, 1);                     /* handshake type, then its 24-bit length */
        size_t want = 4 + (size_t)cursor_be24(&hs);
        if (want > APP_REASM_LEN)
            want = APP_REASM_LEN;
        if (prefix >= want) {
            read_client_hello(c, r, want);
            app_ctx_reasm_drop(c);
            return;
        }
    }
    if (r == &local) {
        struct app_reasm *held = app_ctx_reasm(c, true);
        if (held) {
            memcpy(held, &local, sizeof local);
            r = held;
        }
    }
    guess_sni(c, r, prefix);
}

static bool open_initial(struct app_ctx *c, const uint8_t *p, uint32_t len)
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
    if (cur.bad || !dcid || dcid_len > QUIC_MAX_CID || token > cursor_left(&cur))
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

    if (c->dir == 0 && !(c->st->flags & APP_F_TLS_CH))
        client_crypto(c, version, dcid, dcid_len, plain, ct_len);
    return true;
}

bool app_quic_initial(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    bool ok = open_initial(c, p, len);
    if (c->dir == 0 && c->st->seen[0] >= APP_MAX_PKTS)
        app_ctx_reasm_drop(c);                   /* app_parse looks no further */
    return ok;
}
