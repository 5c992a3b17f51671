/* test_app_quic.c -- QUIC Initials: the ClientHello's CRYPTO stream put back across packets.
 * Real packets: the two client Initials of a Chrome-style session whose ClientHello is
 * scattered over both (quic_vectors.h, from gen_quic_vectors.py): both orders, alone,
 * truncated, damaged, repeated. Built packets (quic_seal.h, first checked to rebuild the real
 * ones byte for byte from tshark's plaintext): the same ClientHello in random pieces with
 * overlaps, duplicates and gaps; offsets past the buffer; a ClientHello longer than it; a
 * Retry; v2 and draft-29; conflicting overlaps; a dry buffer pool. */
#include "app_test_util.h"
#include "app_internal.h"        /* APP_REASM_LEN, APP_MAX_PKTS: the limits under test */
#include "quic_seal.h"
#include "quic_vectors.h"

#define CPORT     10000
#define SPORT     443
#define DGRAM     1252           /* built datagrams: over the 1200 a client must send */
#define MAX_PLAIN 1100           /* plaintext per built Initial */

static const uint8_t dcid_retry[] = { 0x7e, 0x7e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                      0x08, 0x09, 0x0a };

/* ---------------------------------------------------------------- helpers */

static size_t reasm_in_use(const struct harness *h)
{
    struct app_pool_stats ps;
    app_pool_stats(h->pool, &ps);
    return (size_t)ps.reasm_in_use;
}

static const char *sni(const struct harness *h)
{
    const struct app_fields *f = fields(h);
    check_sane(f);
    return f && f->n_tls_sni ? f->tls_sni[0] : "";
}

/* feed a copy of exactly len bytes, so AddressSanitizer sees a read past the payload */
static void feed_copy(struct harness *h, int dir, const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, p, len);
    feed(h, dir, UDP, CPORT, SPORT, copy, len);
    free(copy);
}

/* client Initials built one at a time: frames added to plain, then sealed and fed */
struct builder {
    struct quic_seal q;
    uint8_t          plain[MAX_PLAIN + 64];
    size_t           n;
    int              sent;
};

static void b_init(struct builder *b, uint32_t version, const uint8_t *dcid, uint8_t dcid_len)
{
    memset(b, 0, sizeof *b);
    b->q.version = version;
    b->q.dcid = dcid;
    b->q.dcid_len = dcid_len;
    b->q.pn = 0;
    b->q.pn_len = 2;
}

static void b_crypto(struct builder *b, uint64_t off, const uint8_t *d, size_t len, unsigned vb)
{
    assert_true(b->n + 1 + 16 + len <= sizeof b->plain);
    b->n += quic_put_crypto(b->plain + b->n, off, d, len, vb);
}

static void b_raw(struct builder *b, const void *d, size_t len)
{
    assert_true(b->n + len <= sizeof b->plain);
    memcpy(b->plain + b->n, d, len);
    b->n += len;
}

static void b_send(struct harness *h, struct builder *b)
{
    uint8_t pkt[DGRAM];
    assert_int_equal(quic_seal_initial(&b->q, b->plain, b->n, DGRAM, pkt, sizeof pkt), DGRAM);
    feed_copy(h, 0, pkt, DGRAM);
    b->q.pn++;
    b->n = 0;
    b->sent++;
}

/* A ClientHello (handshake header included) naming `name`, with a padding extension of
 * pad_before bytes ahead of server_name and one of pad_after behind it (0: none). */
static size_t make_ch(uint8_t *out, size_t cap, const char *name, size_t pad_before,
                      size_t pad_after)
{
    size_t nl = strlen(name), n = 4, ext;
    assert_true(80 + nl + pad_before + pad_after <= cap);
#define PUT16(v) (out[n] = (uint8_t)((v) >> 8), out[n + 1] = (uint8_t)(v), n += 2)
    PUT16(0x0303);
    memset(out + n, 0x5a, 32);                      /* random */
    n += 32;
    out[n++] = 0;                                   /* session id */
    PUT16(2);
    PUT16(0x1301);                                  /* TLS_AES_128_GCM_SHA256 */
    out[n++] = 1;
    out[n++] = 0;                                   /* null compression */
    ext = n;
    n += 2;
    if (pad_before) {
        PUT16(0x0015);
        PUT16(pad_before);
        memset(out + n, 0, pad_before);
        n += pad_before;
    }
    PUT16(0x0000);                                  /* server_name */
    PUT16(nl + 5);
    PUT16(nl + 3);
    out[n++] = 0;
    PUT16(nl);
    memcpy(out + n, name, nl);
    n += nl;
    if (pad_after) {
        PUT16(0x0015);
        PUT16(pad_after);
        memset(out + n, 0, pad_after);
        n += pad_after;
    }
    PUT16(0x002b);                                  /* supported_versions: TLS 1.3 */
    PUT16(3);
    out[n++] = 2;
    PUT16(0x0304);
#undef PUT16
    out[ext] = (uint8_t)((n - ext - 2) >> 8);
    out[ext + 1] = (uint8_t)(n - ext - 2);
    out[0] = 1;
    out[1] = (uint8_t)((n - 4) >> 16);
    out[2] = (uint8_t)((n - 4) >> 8);
    out[3] = (uint8_t)(n - 4);
    return n;
}

/* ---------------------------------------------------------------- the real packets */

static void sealer_rebuilds_the_real_packets(void **state)
{
    (void)state;
    uint8_t out[DGRAM];
    struct quic_seal q = { QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid, NULL, 0,
                           QUIC_V_PN1, QUIC_V_PNLEN1 };
    assert_int_equal(quic_seal_initial(&q, v_quic_plain1, sizeof v_quic_plain1,
                                       sizeof v_quic_init1, out, sizeof out),
                     sizeof v_quic_init1);
    assert_memory_equal(out, v_quic_init1, sizeof v_quic_init1);
    q.pn = QUIC_V_PN2;
    q.pn_len = QUIC_V_PNLEN2;
    assert_int_equal(quic_seal_initial(&q, v_quic_plain2, sizeof v_quic_plain2,
                                       sizeof v_quic_init2, out, sizeof out),
                     sizeof v_quic_init2);
    assert_memory_equal(out, v_quic_init2, sizeof v_quic_init2);
}

static void real_both_orders(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
    assert_true(tagged(&h, APP_QUIC));
    assert_string_equal(sni(&h), "");              /* the name is cut at offset 80 */
    assert_int_equal(reasm_in_use(&h), 1);
    feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    assert_int_equal(reasm_in_use(&h), 0);         /* back as soon as the hello is read */
    feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    assert_int_equal(reasm_in_use(&h), 0);

    h_reset(&h);
    feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
    assert_true(tagged(&h, APP_QUIC));
    assert_string_equal(sni(&h), "");
    feed_copy(&h, 1, v_quic_init1, sizeof v_quic_init1);   /* the server's: not the client's */
    assert_string_equal(sni(&h), "");
    feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    assert_int_equal(reasm_in_use(&h), 0);

    for (int which = 0; which < 2; which++) {      /* alone: held until the session ends */
        h_reset(&h);
        if (which == 0)
            feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
        else
            feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
        assert_string_equal(sni(&h), "");
        assert_int_equal(reasm_in_use(&h), 1);
        h_reset(&h);
        assert_int_equal(reasm_in_use(&h), 0);
    }
    h_close(&h);
}

/* every cut of either Initial (and every damaged byte of the second) fails its tag and
 * leaves the stream as it was */
static void real_truncated_and_damaged(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    static uint8_t bad[sizeof v_quic_init2];
    for (size_t n = 0; n < sizeof v_quic_init2; n++) {
        h_reset(&h);
        feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
        feed_copy(&h, 0, v_quic_init2, n);
        assert_string_equal(sni(&h), "");
        memcpy(bad, v_quic_init2, sizeof bad);
        bad[n] ^= 0x04;
        feed_copy(&h, 0, bad, sizeof bad);
        assert_string_equal(sni(&h), "");
        feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
        assert_string_equal(sni(&h), QUIC_V_SNI);
    }
    for (size_t n = 0; n < sizeof v_quic_init1; n++) {
        h_reset(&h);
        feed_copy(&h, 0, v_quic_init1, n);
        feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
        feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
        /* a cut first packet that is still a datagram is not QUIC: nothing is looked at */
        if (tagged(&h, APP_QUIC))
            assert_string_equal(sni(&h), QUIC_V_SNI);
        else
            assert_string_equal(sni(&h), "");
    }
    h_close(&h);
}

static void real_repeated(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    for (int i = 0; i < APP_MAX_PKTS - 1; i++)     /* duplicates: the hello ends in the last */
        feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
    feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    assert_int_equal(reasm_in_use(&h), 0);

    h_reset(&h);                                   /* the client's packets run out first */
    for (int i = 0; i < APP_MAX_PKTS; i++)
        feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);
    assert_int_equal(reasm_in_use(&h), 0);
    feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
    assert_string_equal(sni(&h), "");
    h_close(&h);
}

/* ---------------------------------------------------------------- built packets */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

struct piece {
    uint32_t off, len;
};

/* Cut stream into random pieces, add copies of random ranges (overlaps, duplicates), leave
 * out [gap, gap + gap_len), shuffle, and send them in as few Initials as hold them, with
 * PING and PADDING frames and varints of random widths strewn in. */
static void send_scattered(struct harness *h, struct builder *b, const uint8_t *stream,
                           size_t len, size_t gap, size_t gap_len)
{
    static struct piece p[256];
    size_t np = 0;
    for (size_t off = 0; off < len;) {
        size_t n = 1 + rnd(300);
        if (n > len - off)
            n = len - off;
        p[np++] = (struct piece){ (uint32_t)off, (uint32_t)n };
        off += n;
        assert_true(np < ASH_ARRAY_LEN(p) / 2);
    }
    for (uint32_t extra = rnd(7); extra > 0; extra--) {
        uint32_t off = rnd((uint32_t)len), n = 1 + rnd(200);
        p[np++] = (struct piece){ off, off + n > len ? (uint32_t)(len - off) : n };
    }
    size_t kept = 0;                               /* the gap: keep what lies either side */
    for (size_t i = 0; i < np; i++) {
        size_t a = p[i].off, z = p[i].off + p[i].len;
        if (z <= gap || a >= gap + gap_len) {
            p[kept++] = p[i];
            continue;
        }
        struct piece left = { (uint32_t)a, (uint32_t)(gap - a) };
        struct piece right = { (uint32_t)(gap + gap_len), (uint32_t)(z - gap - gap_len) };
        if (a < gap)
            p[kept++] = left;
        if (z > gap + gap_len)
            p[np++] = right;                       /* checked again further on */
    }
    np = kept;
    for (size_t i = np; i > 1; i--) {
        size_t j = rnd((uint32_t)i);
        struct piece t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    static const unsigned widths[] = { 1, 2, 4, 8 };
    for (size_t i = 0; i < np; i++) {
        if (b->n + 20 + p[i].len > MAX_PLAIN)
            b_send(h, b);
        if (rnd(4) == 0)
            b_raw(b, "\x01\x00\x00", 1 + rnd(3));  /* PING, PADDING */
        b_crypto(b, p[i].off, stream + p[i].off, p[i].len, widths[rnd(4)]);
    }
    if (b->n)
        b_send(h, b);
}

static void random_pieces(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    for (int round = 0; round < 300; round++) {
        h_reset(&h);
        b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
        send_scattered(&h, &b, v_quic_crypto, sizeof v_quic_crypto, 0, 0);
        assert_true(b.sent <= APP_MAX_PKTS);
        assert_string_equal(sni(&h), QUIC_V_SNI);
        assert_int_equal(reasm_in_use(&h), 0);
    }
    h_close(&h);
}

/* with a gap the hello is never whole: no name, or the right one; the gap filled, the right
 * one whatever came before */
static void random_pieces_with_gap(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    const size_t len = sizeof v_quic_crypto, nl = strlen(QUIC_V_SNI);
    const uint8_t *name = NULL;
    for (size_t i = 0; i + nl <= len && !name; i++)
        if (memcmp(v_quic_crypto + i, QUIC_V_SNI, nl) == 0)
            name = v_quic_crypto + i;
    assert_non_null(name);
    size_t name_off = (size_t)(name - v_quic_crypto);
    for (int round = 0; round < 300; round++) {
        h_reset(&h);
        b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
        bool over_name = round % 2 == 0;
        size_t gap, gap_len;
        if (over_name) {                           /* a gap with a byte of the name in it */
            size_t pos = name_off + rnd((uint32_t)nl);
            gap = pos - rnd(20);
            gap_len = pos - gap + 1 + rnd(20);
        } else {
            gap = rnd((uint32_t)len);
            gap_len = 1 + rnd(300);
        }
        if (gap + gap_len > len)
            gap_len = len - gap;
        send_scattered(&h, &b, v_quic_crypto, len, gap, gap_len);
        assert_true(b.sent < APP_MAX_PKTS);
        if (over_name)
            assert_string_equal(sni(&h), "");
        else if (sni(&h)[0])
            assert_string_equal(sni(&h), QUIC_V_SNI);
        assert_int_equal(reasm_in_use(&h), 1);
        b_crypto(&b, gap, v_quic_crypto + gap, gap_len, 0);
        b_send(&h, &b);
        assert_string_equal(sni(&h), QUIC_V_SNI);
        assert_int_equal(reasm_in_use(&h), 0);
    }
    h_close(&h);
}

static void offsets_past_the_buffer(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static uint8_t junk[400];
    memset(junk, 'z', sizeof junk);
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, APP_REASM_LEN, junk, 100, 0);
    b_crypto(&b, APP_REASM_LEN - 7, junk, 300, 0); /* straddles the end */
    b_crypto(&b, (1ull << 62) - 1, junk, 10, 8);   /* the largest offset a varint holds */
    b_crypto(&b, 1ull << 32, junk, 10, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), "");
    assert_int_equal(reasm_in_use(&h), 1);
    b_crypto(&b, 0, v_quic_crypto, 900, 0);
    b_send(&h, &b);
    /* a frame longer than its packet ends the packet's frames: nothing of it is taken */
    static const uint8_t liar[] = { 0x06, 0x43, 0x84, 0x7f, 0xff, 'z', 'z', 'z' };
    b_raw(&b, liar, sizeof liar);
    b_send(&h, &b);
    b_crypto(&b, 900, v_quic_crypto + 900, sizeof v_quic_crypto - 900, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    assert_int_equal(reasm_in_use(&h), 0);

    /* frames after one not allowed in an Initial are not read */
    h_reset(&h);
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, 0, v_quic_crypto, 900, 0);
    b_send(&h, &b);
    b_raw(&b, "\x08", 1);                          /* STREAM */
    b_crypto(&b, 900, v_quic_crypto + 900, sizeof v_quic_crypto - 900, 0);
    b_send(&h, &b);
    assert_int_equal(reasm_in_use(&h), 1);         /* not whole: the name is a guess */
    assert_string_equal(sni(&h), QUIC_V_SNI);
    h_close(&h);
}

/* a hello longer than the buffer is read as far as it fits, once all of that is in */
static void longer_than_the_buffer(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static uint8_t ch[6000];
    for (int late = 0; late < 2; late++) {
        size_t n = make_ch(ch, sizeof ch, "long.example", late ? 5000 : 0, late ? 0 : 5000);
        assert_true(n > APP_REASM_LEN);
        h_reset(&h);
        b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
        for (size_t off = n - n % 1000; ; off -= 1000) {   /* last piece first */
            size_t len = n - off < 1000 ? n - off : 1000;
            b_crypto(&b, off, ch + off, len, 0);
            b_send(&h, &b);
            if (off == 0)
                break;
            assert_int_equal(reasm_in_use(&h), 1);
            assert_string_equal(sni(&h), "");
        }
        assert_string_equal(sni(&h), late ? "" : "long.example");
        assert_int_equal(reasm_in_use(&h), 0);
    }
    h_close(&h);
}

/* after a Retry the client starts its CRYPTO stream again under the new DCID's keys: the
 * two hellos must not mix (A's first half and B's second would make a whole hello) */
static void retry_starts_afresh(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static uint8_t a[1200], c[1200];
    size_t na = make_ch(a, sizeof a, "first.example", 0, 900);
    size_t nc = make_ch(c, sizeof c, "later.example", 0, 900);
    assert_int_equal(na, nc);
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, 0, a, 500, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), "first.example");          /* a guess from the prefix */
    assert_int_equal(reasm_in_use(&h), 1);

    static const uint8_t retry[] = { 0xf0, 0, 0, 0, 1, 0, 12, 0x7e, 0x7e, 1, 2, 3, 4, 5, 6, 7,
                                     8, 9, 10, 't', 'o', 'k', 'e', 'n' };
    feed_copy(&h, 1, retry, sizeof retry);                   /* the server's Retry */
    b.q.dcid = dcid_retry;
    b.q.dcid_len = sizeof dcid_retry;
    b.q.token = (const uint8_t *)"token";
    b.q.token_len = 5;
    b_crypto(&b, 500, c + 500, nc - 500, 0);
    b_send(&h, &b);
    assert_int_equal(reasm_in_use(&h), 1);                   /* not whole: a new stream */
    b_crypto(&b, 0, c, 500, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), "later.example");
    assert_int_equal(reasm_in_use(&h), 0);
    h_close(&h);
}

static void versions_and_more_initials(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static const uint32_t versions[] = { QUIC_SEAL_V1, QUIC_SEAL_V2, QUIC_SEAL_DRAFT29 };
    for (size_t v = 0; v < ASH_ARRAY_LEN(versions); v++) {
        h_reset(&h);
        b_init(&b, versions[v], v_quic_dcid, sizeof v_quic_dcid);
        for (size_t off = 1500; ; off -= 250) {            /* seven Initials, last piece first */
            size_t len = off == 1500 ? sizeof v_quic_crypto - 1500 : 250;
            b_crypto(&b, off, v_quic_crypto + off, len, 0);
            b_send(&h, &b);
            if (off == 0)
                break;
        }
        assert_int_equal(b.sent, 7);
        assert_true(tagged(&h, APP_QUIC));
        assert_string_equal(sni(&h), QUIC_V_SNI);
        assert_int_equal(reasm_in_use(&h), 0);
    }
    h_close(&h);
}

/* overlapping bytes that disagree: the first in stays */
static void conflicting_overlap(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static uint8_t junk[200];
    memset(junk, 'z', sizeof junk);
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, 0, v_quic_crypto, 800, 0);
    b_send(&h, &b);
    b_crypto(&b, 40, junk, sizeof junk, 0);                 /* over the name */
    b_crypto(&b, 800, v_quic_crypto + 800, sizeof v_quic_crypto - 800, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), QUIC_V_SNI);
    h_close(&h);
}

/* a stream that is not a ClientHello is read once whole, then left alone */
static void not_a_client_hello(void **state)
{
    (void)state;
    struct harness h;
    h_open(&h, 4);
    struct builder b;
    static uint8_t msg[1500];
    memcpy(msg, v_quic_crypto, sizeof msg);
    msg[0] = 2;                                             /* ServerHello */
    msg[1] = 0;
    msg[2] = (sizeof msg - 4) >> 8;
    msg[3] = (sizeof msg - 4) & 0xff;
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, 700, msg + 700, sizeof msg - 700, 0);
    b_send(&h, &b);
    assert_int_equal(reasm_in_use(&h), 1);
    b_crypto(&b, 0, msg, 700, 0);
    b_send(&h, &b);
    assert_string_equal(sni(&h), "");
    assert_int_equal(reasm_in_use(&h), 0);
    feed_copy(&h, 0, v_quic_init1, sizeof v_quic_init1);   /* done: not looked at */
    feed_copy(&h, 0, v_quic_init2, sizeof v_quic_init2);
    assert_string_equal(sni(&h), "");
    assert_int_equal(reasm_in_use(&h), 0);
    h_close(&h);
}

/* the buffers run out: sessions without one still read a hello that fits one packet */
static void dry_buffer_pool(void **state)
{
    (void)state;
    static const struct { size_t slots, buffers; } sizes[] = {
        { 1, 1 }, { 2, 2 }, { 8, 8 }, { 16, 8 }, { 64 * 100, 100 },
    };
    char err[ASH_ERR_LEN];
    struct app_pool_stats ps;
    for (size_t i = 0; i < ASH_ARRAY_LEN(sizes); i++) {
        struct app_pool *pool = app_pool_new(sizes[i].slots, err);
        assert_non_null(pool);
        app_pool_stats(pool, &ps);
        assert_int_equal(ps.reasm_capacity, sizes[i].buffers);
        app_pool_free(pool);
    }

    struct harness h[10];
    struct app_pool *pool = app_pool_new(16, err);
    assert_non_null(pool);
    for (int i = 0; i < 10; i++) {
        h[i].pool = pool;
        memset(&h[i].st, 0, sizeof h[i].st);
    }
    for (int i = 0; i < 9; i++)
        feed_copy(&h[i], 0, v_quic_init1, sizeof v_quic_init1);
    app_pool_stats(pool, &ps);
    assert_int_equal(ps.reasm_in_use, 8);
    assert_int_equal(ps.reasm_exhausted, 1);
    feed_copy(&h[8], 0, v_quic_init2, sizeof v_quic_init2);
    assert_string_equal(sni(&h[8]), "");                    /* each packet on its own */

    static uint8_t ch[600];
    size_t n = make_ch(ch, sizeof ch, "whole.example", 0, 300);
    struct builder b;
    b_init(&b, QUIC_SEAL_V1, v_quic_dcid, sizeof v_quic_dcid);
    b_crypto(&b, 0, ch, n, 0);
    b_send(&h[9], &b);
    assert_string_equal(sni(&h[9]), "whole.example");

    for (int i = 0; i < 8; i++) {
        feed_copy(&h[i], 0, v_quic_init2, sizeof v_quic_init2);
        assert_string_equal(sni(&h[i]), QUIC_V_SNI);
    }
    app_pool_stats(pool, &ps);
    assert_int_equal(ps.reasm_in_use, 0);
    for (int i = 0; i < 10; i++)
        app_release(pool, &h[i].st);
    app_pool_stats(pool, &ps);
    assert_int_equal(ps.in_use, 0);
    app_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sealer_rebuilds_the_real_packets),
        cmocka_unit_test(real_both_orders),
        cmocka_unit_test(real_truncated_and_damaged),
        cmocka_unit_test(real_repeated),
        cmocka_unit_test(random_pieces),
        cmocka_unit_test(random_pieces_with_gap),
        cmocka_unit_test(offsets_past_the_buffer),
        cmocka_unit_test(longer_than_the_buffer),
        cmocka_unit_test(retry_starts_afresh),
        cmocka_unit_test(versions_and_more_initials),
        cmocka_unit_test(conflicting_overlap),
        cmocka_unit_test(not_a_client_hello),
        cmocka_unit_test(dry_buffer_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
