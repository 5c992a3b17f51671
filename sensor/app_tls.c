/* app_tls.c -- TLS handshake records: ClientHello SNI and the version the server chose.
 * Owns:  the reading of the TLS records that start a packet (and those that follow them in
 *        the same packet): server_name of the ClientHello, the ServerHello's version or,
 *        for TLS 1.3, its supported_versions extension. app_quic.c hands it the ClientHello
 *        of a QUIC Initial packet.
 * Lends: nothing.
 * Never: reassembles: a ClientHello longer than its packet yields the extensions that are in
 *        that packet; reads past the packet (cursor); decrypts anything.
 * Trap:  TLS 1.3 drafts (0x7fNN) are kept as 0x0304, the release they became, so that
 *        consumers that know 0x0301..0x0304 render them; Arkime prints "TLSv1.3-draft-NN". */
#include "app_internal.h"
#include "cursor.h"

#define TLS_HANDSHAKE      22
#define TLS_CLIENT_HELLO   1
#define TLS_SERVER_HELLO   2
#define TLS_EXT_SNI        0
#define TLS_EXT_VERSIONS   43
#define TLS_MAX_RECORD     (16384 + 2048)
#define TLS_MAX_RECORDS    8

static bool version_ok(uint8_t major, uint8_t minor)
{
    return major == 3 && minor <= 4;
}

bool app_tls_sniff(const uint8_t *p, uint32_t len)
{
    struct cursor c = cursor_make(p, len);
    uint8_t type = cursor_u8(&c), major = cursor_u8(&c), minor = cursor_u8(&c);
    uint16_t rlen = cursor_be16(&c);
    uint8_t hs = cursor_u8(&c);
    uint32_t hlen = cursor_be24(&c);
    uint8_t vmaj = cursor_u8(&c), vmin = cursor_u8(&c);
    if (c.bad || type != TLS_HANDSHAKE || !version_ok(major, minor) || rlen < 4 ||
        rlen > TLS_MAX_RECORD)
        return false;
    if (hs != TLS_CLIENT_HELLO && hs != TLS_SERVER_HELLO)
        return false;
    /* a hello is at least version + random + session id length + ... */
    return hlen >= 38 && version_ok(vmaj, vmin);
}

static uint16_t normal_version(uint16_t v)
{
    if ((v & 0xff00) == 0x7f00)
        return 0x0304;             /* TLS 1.3 draft NN */
    return v;
}

static void client_hello(struct app_ctx *c, struct cursor *h)
{
    cursor_skip(h, 2 + 32);                           /* legacy_version, random */
    cursor_skip(h, cursor_u8(h));                     /* session id */
    cursor_skip(h, cursor_be16(h));                   /* cipher suites */
    cursor_skip(h, cursor_u8(h));                     /* compression methods */
    struct cursor exts = cursor_sub(h, cursor_be16(h));
    if (h->bad)
        return;
    c->st->flags |= APP_F_TLS_CH;
    while (cursor_left(&exts) >= 4) {
        uint16_t type = cursor_be16(&exts);
        struct cursor e = cursor_sub(&exts, cursor_be16(&exts));
        if (type != TLS_EXT_SNI)
            continue;
        struct cursor list = cursor_sub(&e, cursor_be16(&e));
        while (cursor_left(&list) >= 3) {
            uint8_t ntype = cursor_u8(&list);
            uint16_t nlen = cursor_be16(&list);
            const uint8_t *name = cursor_bytes(&list, nlen);
            if (!name || ntype != 0 || nlen == 0)
                continue;
            struct app_fields *f = app_ctx_fields(c);
            if (f)
                app_list_add(f, &f->tls_sni[0][0], APP_NAME_LEN, &f->n_tls_sni, APP_MAX_SNI,
                             name, nlen, true);
        }
        break;
    }
}

static void server_hello(struct app_ctx *c, struct cursor *h)
{
    uint16_t version = cursor_be16(h);
    cursor_skip(h, 32);                               /* random */
    cursor_skip(h, cursor_u8(h));                     /* session id */
    cursor_skip(h, 2 + 1);                            /* cipher suite, compression */
    if (h->bad)
        return;
    struct cursor exts = cursor_sub(h, cursor_be16(h));
    while (!h->bad && cursor_left(&exts) >= 4) {
        uint16_t type = cursor_be16(&exts);
        struct cursor e = cursor_sub(&exts, cursor_be16(&exts));
        if (type == TLS_EXT_VERSIONS && cursor_left(&e) == 2) {
            version = cursor_be16(&e);
            break;
        }
    }
    c->st->flags |= APP_F_TLS_SH;
    struct app_fields *f = app_ctx_fields(c);
    if (f && f->tls_version == 0)
        f->tls_version = normal_version(version);
}

void app_tls_client_hello(struct app_ctx *c, const uint8_t *p, size_t len)
{
    struct cursor h = cursor_make(p, len);
    uint8_t hs = cursor_u8(&h);
    struct cursor body = cursor_sub(&h, cursor_be24(&h));
    if (!h.bad && hs == TLS_CLIENT_HELLO)
        client_hello(c, &body);
}

bool app_tls_parse(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    struct cursor cur = cursor_make(p, len);
    for (int i = 0; i < TLS_MAX_RECORDS && cursor_left(&cur) >= 5; i++) {
        uint8_t type = cursor_u8(&cur), major = cursor_u8(&cur), minor = cursor_u8(&cur);
        uint16_t rlen = cursor_be16(&cur);
        if (type < 20 || type > 24 || !version_ok(major, minor) || rlen > TLS_MAX_RECORD)
            break;                                    /* not a record start: not ours */
        struct cursor rec = cursor_sub(&cur, rlen);
        if (type != TLS_HANDSHAKE)
            continue;
        uint8_t hs = cursor_u8(&rec);
        struct cursor body = cursor_sub(&rec, cursor_be24(&rec));
        if (rec.bad)
            break;
        if (hs == TLS_CLIENT_HELLO && !(c->st->flags & APP_F_TLS_CH))
            client_hello(c, &body);
        else if (hs == TLS_SERVER_HELLO && !(c->st->flags & APP_F_TLS_SH))
            server_hello(c, &body);
    }
    uint8_t both = APP_F_TLS_CH | APP_F_TLS_SH;
    return (c->st->flags & both) != both;
}
