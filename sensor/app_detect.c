/* app_detect.c -- which application protocol a session speaks, from payload signatures.
 * Owns:  the detectors run on the first payload packet of each direction (as Arkime
 *        classifies): HTTP, TLS, SSH, SMB, RDP, DCE/RPC, Kerberos, MySQL, NetFlow, SMTP, FTP,
 *        LDAP, QUIC (gQUIC by its version, IETF QUIC by an Initial packet that decrypts,
 *        app_quic.c) by their bytes alone; DNS/mDNS/LLMNR, NBNS, DHCP, NTP and Kerberos over
 *        UDP, whose bytes have nothing distinctive, by a structural check that must pass
 *        AND their well-known port (the port alone never tags). Also the follow-ups whose
 *        proof spans both directions: MySQL (greeting, then the client's login), and FTP
 *        versus SMTP (a "220" banner without "SMTP" is FTP until the client says EHLO).
 * Lends: nothing.
 * Never: reads outside the packet (cursor); keeps anything but tags and app_state.flags.
 * Trap:  every detector must reject random bytes: each checks lengths against the packet
 *        and at least 24 bits of fixed values; test_app_detect.c feeds it random payloads. */
#include <string.h>

#include "app_internal.h"
#include "cursor.h"

/* ---- helpers ---------------------------------------------------------------------- */

static bool has_str(const uint8_t *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || len < n)
        return false;
    for (size_t i = 0; i + n <= len; i++)
        if (p[i] == (uint8_t)s[0] && memcmp(p + i, s, n) == 0)
            return true;
    return false;
}

/* a BER tag and definite length (at most 4 length bytes); false on anything else */
static bool ber_tl(struct cursor *c, uint8_t *tag, size_t *len)
{
    *tag = cursor_u8(c);
    uint8_t l = cursor_u8(c);
    if (c->bad || (*tag & 0x1f) == 0x1f)
        return false;                    /* multi-byte tags are not used here */
    if (l < 0x80) {
        *len = l;
        return true;
    }
    unsigned nb = l & 0x7f;
    if (nb == 0 || nb > 4)
        return false;
    size_t v = 0;
    for (unsigned i = 0; i < nb; i++)
        v = v << 8 | cursor_u8(c);
    *len = v;
    return !c->bad;
}

/* BER INTEGER of 1..4 bytes with value `want` (or any value when want < 0) */
static bool ber_int(struct cursor *c, long want)
{
    uint8_t tag;
    size_t len;
    if (!ber_tl(c, &tag, &len) || tag != 0x02 || len < 1 || len > 4)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++)
        v = v << 8 | cursor_u8(c);
    return !c->bad && (want < 0 || v == want);
}

/* ---- TCP signatures ----------------------------------------------------------------- */

/* NetBIOS session message carrying an SMB1 (\xffSMB) or SMB2/3 (\xfeSMB) header */
static bool is_smb(const uint8_t *p, uint32_t len)
{
    if (len < 8 || p[0] != 0x00)
        return false;
    uint32_t nb = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (p[4] == 0xff || p[4] == 0xfe) && memcmp(p + 5, "SMB", 3) == 0 && nb >= 32;
}

/* TPKT + X.224 Connection Request/Confirm carrying an RDP cookie or negotiation */
static bool is_rdp(const uint8_t *p, uint32_t len)
{
    if (len < 11 || p[0] != 0x03 || p[1] != 0x00)
        return false;
    uint32_t tpkt = (uint32_t)p[2] << 8 | p[3];
    if (tpkt < 11 || tpkt > len + 100 || p[4] + 5u != tpkt)
        return false;
    if (p[5] != 0xe0 && p[5] != 0xd0)
        return false;
    if (len >= 28 && memcmp(p + 11, "Cookie: mstshash=", 17) == 0)
        return true;
    return len >= 19 && p[11] >= 1 && p[11] <= 3 && p[13] == 8 && p[14] == 0;
}

/* DCE/RPC connection-oriented v5.0: request, response, bind, bind_ack, alter_context */
static bool is_dcerpc(const uint8_t *p, uint32_t len)
{
    if (len < 16 || p[0] != 5 || p[1] != 0)
        return false;
    if (p[2] != 0 && p[2] != 2 && p[2] != 11 && p[2] != 12 && p[2] != 14 && p[2] != 15)
        return false;
    if ((p[4] & 0xee) != 0 || p[5] > 3 || p[6] != 0 || p[7] != 0)
        return false;                    /* data representation: int/char/float formats */
    bool le = p[4] & 0x10;
    uint16_t frag = le ? (uint16_t)(p[8] | p[9] << 8) : (uint16_t)(p[8] << 8 | p[9]);
    uint16_t auth = le ? (uint16_t)(p[10] | p[11] << 8) : (uint16_t)(p[10] << 8 | p[11]);
    return frag >= 16 && auth <= frag;
}

/* Kerberos KDC-REQ: [APPLICATION 10|12] SEQUENCE { [1] pvno 5, [2] msg-type, [3]?, [4] } */
static bool is_krb5_req(const uint8_t *p, size_t len)
{
    struct cursor c = cursor_make(p, len);
    uint8_t tag;
    size_t n;
    if (!ber_tl(&c, &tag, &n) || (tag != 0x6a && tag != 0x6c))
        return false;
    long type = tag == 0x6a ? 10 : 12;
    if (!ber_tl(&c, &tag, &n) || tag != 0x30)
        return false;
    if (!ber_tl(&c, &tag, &n) || tag != 0xa1 || !ber_int(&c, 5))
        return false;
    if (!ber_tl(&c, &tag, &n) || tag != 0xa2 || !ber_int(&c, type))
        return false;
    if (!ber_tl(&c, &tag, &n))
        return false;
    if (tag == 0xa3) {                   /* padata: skip to req-body */
        cursor_skip(&c, n);
        if (!ber_tl(&c, &tag, &n))
            return false;
    }
    return tag == 0xa4 && n > 0;
}

/* MySQL server greeting: 3-byte length, sequence 0, protocol 10, NUL-ended version */
static bool is_mysql_greeting(const uint8_t *p, uint32_t len)
{
    if (len < 40 || p[3] != 0 || p[4] != 0x0a)
        return false;
    uint32_t plen = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    if (plen + 4 != len && !(plen + 4 < len && plen >= 36))
        return false;
    uint32_t i = 5;
    while (i < len && p[i] >= 0x20 && p[i] < 0x7f)
        i++;
    return i > 5 && i < len && p[i] == 0 && p[5] >= '0' && p[5] <= '9';
}

/* MySQL handshake response (client login): sequence 1, room for the fixed 32 bytes */
static bool is_mysql_login(const uint8_t *p, uint32_t len)
{
    if (len < 36 || p[3] < 1 || p[3] > 2)
        return false;
    uint32_t plen = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    if (plen < 32 || plen + 4 > len)
        return false;
    for (uint32_t i = 36; i < plen + 4; i++) {
        if (p[i] == 0)
            return true;
        if (p[i] < 0x20 || p[i] >= 0x7f)
            return false;
    }
    return true;
}

/* LDAPMessage: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION 0..25] constructed } */
static bool is_ldap(const uint8_t *p, uint32_t len)
{
    struct cursor c = cursor_make(p, len);
    uint8_t tag;
    size_t seq, op;
    if (len < 7 || !ber_tl(&c, &tag, &seq) || tag != 0x30)
        return false;
    size_t body = cursor_left(&c);
    if (seq < 5)
        return false;
    if (!ber_int(&c, -1) || !ber_tl(&c, &tag, &op))
        return false;
    size_t used = body - cursor_left(&c);
    return tag >= 0x60 && tag <= 0x79 && op + used <= seq;
}

/* "220 " or "220-" banner line, printable up to its CR LF */
static bool is_220(const uint8_t *p, uint32_t len)
{
    if (len < 6 || memcmp(p, "220", 3) != 0 || (p[3] != ' ' && p[3] != '-'))
        return false;
    for (uint32_t i = 4; i < len; i++) {
        if (p[i] == '\n')
            return true;
        if ((p[i] < 0x20 && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
            return false;
    }
    return false;
}

static bool is_helo(const uint8_t *p, uint32_t len)
{
    return len >= 6 && (memcmp(p, "EHLO ", 5) == 0 || memcmp(p, "HELO ", 5) == 0 ||
                        memcmp(p, "ehlo ", 5) == 0 || memcmp(p, "helo ", 5) == 0);
}

/* ---- UDP signatures ----------------------------------------------------------------- */

/* NetFlow v1/v5/v7 (fixed records) and v9 (flowsets that tile the datagram) */
static bool is_netflow(const uint8_t *p, uint32_t len)
{
    if (len < 20 || p[0] != 0)
        return false;
    uint16_t count = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t hdr, rec, max;
    switch (p[1]) {
    case 1: hdr = 16; rec = 48; max = 24; break;
    case 5: hdr = 24; rec = 48; max = 30; break;
    case 7: hdr = 24; rec = 52; max = 28; break;
    case 9: {
        if (count == 0)
            return false;
        struct cursor c = cursor_make(p + 20, len - 20);
        int sets = 0;
        while (cursor_left(&c) >= 4 && sets < 64) {
            uint16_t id = cursor_be16(&c), slen = cursor_be16(&c);
            if ((id > 1 && id < 256) || slen < 4)
                return false;
            cursor_skip(&c, slen - 4u);
            if (c.bad)
                return false;
            sets++;
        }
        return sets > 0 && cursor_left(&c) == 0;
    }
    default:
        return false;
    }
    /* whole records, tolerating less than one record of trailing padding */
    return count >= 1 && count <= max && len >= hdr + count * rec && len < hdr + (count + 1) * rec;
}

/* NTP v1..4, mode 1..7, stratum <= 16, at least the 48-byte header; random bytes pass those
 * 3% of the time, so also: poll <= 17, precision 0 or -1..-32, and root delay and root
 * dispersion under 256 seconds (their first byte is zero) */
static bool is_ntp(const uint8_t *p, uint32_t len)
{
    if (len < 48)
        return false;
    unsigned vn = (p[0] >> 3) & 7, mode = p[0] & 7;
    return vn >= 1 && vn <= 4 && mode != 0 && p[1] <= 16 && p[2] <= 17 &&
           (p[3] == 0 || p[3] >= 0xe0) && p[4] == 0 && p[8] == 0;
}

/* NBNS (RFC 1002): DNS-like header, then a 32-byte first-level encoded name (A..P) */
static bool is_nbns(const uint8_t *p, uint32_t len)
{
    if (len < 50 || p[12] != 0x20)
        return false;
    uint16_t qd = (uint16_t)(p[4] << 8 | p[5]), an = (uint16_t)(p[6] << 8 | p[7]);
    if (qd > 1 || an > 1 || qd + an == 0)
        return false;
    for (int i = 13; i < 45; i++)
        if (p[i] < 'A' || p[i] > 'P')
            return false;
    return true;
}

/* BOOTP/DHCP with the magic cookie (Arkime wants at least 256 bytes) */
static bool is_dhcp(const uint8_t *p, uint32_t len)
{
    return len >= 256 && (p[0] == 1 || p[0] == 2) && p[2] <= 16 &&
           memcmp(p + 236, "\x63\x82\x53\x63", 4) == 0;
}

/* gQUIC: version flag, 8-byte connection id, "Q0nn" (Arkime's test, length over 100) */
static bool is_gquic(const uint8_t *p, uint32_t len)
{
    return len > 100 && (p[0] & 0x89) == 0x09 && !(p[0] & 0x82) && p[9] == 'Q' &&
           p[10] == '0' && p[11] >= '0' && p[11] <= '9' && p[12] >= '0' && p[12] <= '9';
}

/* ---- dispatch ----------------------------------------------------------------------- */

static bool detect_tcp(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    struct app_state *st = c->st;
    if (app_http_sniff(p, len)) {
        app_tag(st, APP_HTTP);
    } else if (app_tls_sniff(p, len)) {
        app_tag(st, APP_TLS);
    } else if (app_ssh_sniff(p, len)) {
        app_tag(st, APP_SSH);
    } else if (is_smb(p, len)) {
        app_tag(st, APP_SMB);
    } else if (is_rdp(p, len)) {
        app_tag(st, APP_RDP);
    } else if (is_dcerpc(p, len)) {
        app_tag(st, APP_DCERPC);
    } else if (len > 4 && p[0] == 0 && p[1] == 0 && is_krb5_req(p + 4, len - 4)) {
        app_tag(st, APP_KRB5);
    } else if (is_mysql_greeting(p, len)) {
        st->flags |= APP_F_MYSQL_GREET | (c->dir ? APP_F_MYSQL_GDIR : 0);
    } else if (is_220(p, len)) {
        if (has_str(p, len, "SMTP")) {
            app_tag(st, APP_SMTP);
        } else if (!has_str(p, len, "LMTP") && !has_str(p, len, " TLS")) {
            app_tag(st, APP_FTP);
            st->flags |= APP_F_FTP_MAYBE;
        }
    } else if (is_helo(p, len)) {
        app_tag(st, APP_SMTP);
    } else if (is_ldap(p, len)) {
        app_tag(st, APP_LDAP);
    } else if (app_ctx_port(c, 53) && app_dns_sniff(c, p, len)) {
        app_tag(st, APP_DNS);
    } else {
        return false;
    }
    return true;
}

static bool detect_udp(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    struct app_state *st = c->st;
    if (is_gquic(p, len) || app_quic_initial(c, p, len)) {
        app_tag(st, APP_QUIC);
    } else if (is_netflow(p, len)) {
        app_tag(st, APP_NETFLOW);
    } else if (is_ldap(p, len)) {
        app_tag(st, APP_LDAP);
    } else if (app_ctx_port(c, 88) && is_krb5_req(p, len)) {
        app_tag(st, APP_KRB5);
    } else if (app_ctx_port(c, 137) && is_nbns(p, len)) {
        app_tag(st, APP_NBNS);
    } else if ((app_ctx_port(c, 67) || app_ctx_port(c, 68)) && is_dhcp(p, len)) {
        app_tag(st, APP_DHCP);
    } else if (app_ctx_port(c, 123) && is_ntp(p, len)) {
        app_tag(st, APP_NTP);
    } else if (app_ctx_port(c, 53) && app_dns_sniff(c, p, len)) {
        app_tag(st, APP_DNS);
    } else if (app_ctx_port(c, 5353) && app_dns_sniff(c, p, len)) {
        app_tag(st, APP_MDNS);
    } else if (app_ctx_port(c, 5355) && app_dns_sniff(c, p, len)) {
        app_tag(st, APP_LLMNR);
    } else {
        return false;
    }
    return true;
}

void app_detect(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    if (c->ip_proto == 6)
        detect_tcp(c, p, len);
    else if (c->ip_proto == 17)
        detect_udp(c, p, len);
}

void app_detect_followup(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    struct app_state *st = c->st;
    if (st->flags & APP_F_MYSQL_GREET) {
        int gdir = (st->flags & APP_F_MYSQL_GDIR) ? 1 : 0;
        if (c->dir != gdir) {
            if (is_mysql_login(p, len))
                app_tag(st, APP_MYSQL);
            st->flags &= (uint8_t)~(APP_F_MYSQL_GREET | APP_F_MYSQL_GDIR);
        }
    }
    if ((st->flags & APP_F_FTP_MAYBE) && st->seen[c->dir] == 1) {
        /* the other side's first words decide: EHLO/HELO make the "220" banner SMTP's */
        if (is_helo(p, len)) {
            app_untag(st, APP_FTP);
            app_tag(st, APP_SMTP);
        }
        st->flags &= (uint8_t)~APP_F_FTP_MAYBE;
    }
}
