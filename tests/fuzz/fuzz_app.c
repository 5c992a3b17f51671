/* fuzz_app.c -- libFuzzer target over app_parse(): detection and every app parser.
 * Input: byte 0: bit 0 TCP (1) or UDP (0), bits 1..6 pick the server port from `ports`,
 *        bit 7 with UDP: sealing mode (below);
 *        byte 1: direction of packets 0..7 (bit i set: packet i is the responder's);
 *        then packets, each a 2-byte big-endian length and that many bytes (a short last
 *        packet takes what is left). Each packet is copied to a buffer of its exact size,
 *        so AddressSanitizer sees a read one byte past the payload.
 * Sealing mode: each initiator packet is a selector byte (bit 0: a second DCID, as after a
 * Retry; bit 1: QUIC v2 rather than v1) and the plaintext frames of a client Initial, which
 * is sealed (tests/unit/quic_seal.h) into a 1252-byte datagram before app_parse() sees it,
 * so that mutated CRYPTO frames get past the AEAD tag to the reassembly in app_quic.c.
 * Checks after every packet: strings NUL-terminated, counts within their arrays, and the
 * pool's in_use and reasm_in_use back at 0 after app_release(). Seeds:
 * tests/fuzz/corpus/fuzz_app/, written by tests/unit/gen_app_vectors.py --seeds and
 * tests/unit/gen_quic_vectors.py --seeds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "../unit/quic_seal.h"

#define SEAL_DGRAM 1252

/* keep in step with SEED_PORTS in tests/unit/gen_app_vectors.py */
static const uint16_t ports[] = { 80, 443, 53, 5353, 5355, 88, 123, 137, 67, 3306, 445, 139,
                                  389, 25, 21, 22, 3389, 135, 2055, 161, 9999 };

static void check(const struct app_fields *f)
{
    if (!f)
        return;
    if (f->n_http_host > APP_MAX_HOSTS || f->n_http_method > APP_MAX_METHODS ||
        f->n_user_agent > 1 || f->n_http_status > APP_MAX_STATUS ||
        f->n_dns_query > APP_MAX_DNS || f->n_tls_sni > APP_MAX_SNI)
        __builtin_trap();
    for (int i = 0; i < f->n_http_host; i++)
        if (!memchr(f->http_host[i], 0, APP_NAME_LEN) || !f->http_host[i][0])
            __builtin_trap();
    for (int i = 0; i < f->n_dns_query; i++)
        if (!memchr(f->dns_query[i], 0, APP_NAME_LEN) || !f->dns_query[i][0])
            __builtin_trap();
    for (int i = 0; i < f->n_tls_sni; i++)
        if (!memchr(f->tls_sni[i], 0, APP_NAME_LEN))
            __builtin_trap();
    if (!memchr(f->ssh_client, 0, APP_BANNER_LEN) || !memchr(f->ssh_server, 0, APP_BANNER_LEN))
        __builtin_trap();
}

/* sealing mode: the client Initial that carries plain[0, len) (see the top) */
static size_t seal(const uint8_t *p, size_t len, uint64_t pn, uint8_t *out)
{
    static const uint8_t dcid[2][8] = { { 0x53, 0x54, 0xc4, 0x8b, 0xc7, 0x50, 0x80, 0xb2 },
                                        { 0x7e, 0x7e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 } };
    uint8_t sel = len ? p[0] : 0;
    struct quic_seal q = { (sel & 2) ? QUIC_SEAL_V2 : QUIC_SEAL_V1, dcid[sel & 1], 8,
                           (const uint8_t *)"token", (sel & 1) ? 5 : 0, pn, 2 };
    size_t plain = len ? len - 1 : 0;
    if (plain > SEAL_DGRAM - 64)
        plain = SEAL_DGRAM - 64;
    return quic_seal_initial(&q, p + (len ? 1 : 0), plain, SEAL_DGRAM, out, SEAL_DGRAM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct app_pool *pool;
    if (!pool) {
        char err[ASH_ERR_LEN];
        pool = app_pool_new(2, err);
        if (!pool)
            __builtin_trap();
    }
    if (size < 2)
        return 0;
    uint8_t proto = (data[0] & 1) ? 6 : 17;
    uint16_t server = ports[((data[0] >> 1) & 0x3f) % (sizeof ports / sizeof ports[0])];
    bool sealing = proto == 17 && (data[0] & 0x80);
    uint16_t client = 49152;
    uint8_t dirs = data[1];
    size_t off = 2;
    struct app_state st;
    memset(&st, 0, sizeof st);
    for (int i = 0; off < size && i < 64; i++) {
        size_t len = size - off;
        if (len >= 2) {
            size_t want = (size_t)data[off] << 8 | data[off + 1];
            off += 2;
            len = size - off < want ? size - off : want;
        } else {
            off += len;
            len = 0;
        }
        int dir = (dirs >> (i & 7)) & 1;
        uint8_t *pkt;
        if (sealing && dir == 0) {
            if (!(pkt = malloc(SEAL_DGRAM)))
                return 0;
            size_t sealed = seal(data + off, len, (uint64_t)i, pkt);
            off += len;
            len = sealed;
        } else {
            if (!(pkt = malloc(len ? len : 1)))
                return 0;
            memcpy(pkt, data + off, len);
            off += len;
        }
        if (dir)
            app_parse(pool, &st, 1, proto, server, client, pkt, (uint32_t)len);
        else
            app_parse(pool, &st, 0, proto, client, server, pkt, (uint32_t)len);
        free(pkt);
        check(app_fields_of(pool, &st));
        if (st.proto >= APP_PROTO_COUNT || (st.proto && !(st.tags & (1u << st.proto))))
            __builtin_trap();
    }
    app_release(pool, &st);
    struct app_pool_stats ps;
    app_pool_stats(pool, &ps);
    if (ps.in_use != 0 || ps.reasm_in_use != 0)
        __builtin_trap();
    return 0;
}
