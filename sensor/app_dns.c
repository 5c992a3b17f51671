/* app_dns.c -- DNS, mDNS and LLMNR messages over UDP and TCP (2-byte length prefix).
 * Owns:  the reading of one packet's DNS messages: the names of every question, the CNAME
 *        targets of the answer section (Arkime lists both in dns.host), and the RCODE of the
 *        session's first response, extended by an EDNS OPT record (BADVERS is 16).
 * Lends: nothing.
 * Never: follows a compression pointer that does not point strictly before the label
 *        sequence holding it (so a loop cannot be built), or more than DNS_MAX_JUMPS of them;
 *        walks more than DNS_MAX_RRS records of a message; reassembles TCP.
 * Trap:  a name of 0 labels (the root) is not a host name and is not kept. */
#include <string.h>

#include "app_internal.h"
#include "cursor.h"

#define DNS_MAX_JUMPS  16
#define DNS_MAX_RRS    64
#define DNS_MAX_QD     10
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_OPT   41

struct dns_name {
    char   text[APP_NAME_LEN];
    size_t len;
    bool   cut;          /* did not fit text */
};

static void put(struct dns_name *nm, char ch)
{
    if (nm->len + 1 < sizeof nm->text)
        nm->text[nm->len++] = ch;
    else
        nm->cut = true;
}

/* one label byte as Arkime renders it: lower case, "M-" for 8-bit, "^" for control */
static void put_label_byte(struct dns_name *nm, uint8_t ch)
{
    if (ch & 0x80) {
        put(nm, 'M');
        put(nm, '-');
        ch &= 0x7f;
    }
    if (ch < 0x20 || ch == 0x7f) {
        put(nm, '^');
        ch ^= 0x40;
    }
    if (ch >= 'A' && ch <= 'Z')
        ch = (uint8_t)(ch + ('a' - 'A'));
    put(nm, (char)ch);
}

/* Read the name at *c (a cursor inside msg[0, msglen)), leaving *c after it. Returns false
 * when the name is malformed or runs past the message. */
static bool read_name(const uint8_t *msg, size_t msglen, struct cursor *c, struct dns_name *nm)
{
    struct cursor at = *c;          /* where labels are read now (moves on pointers) */
    bool jumped = false;
    int jumps = 0;
    size_t total = 0;
    size_t seq_start = (size_t)(at.p - msg);   /* offset where the current sequence began */
    nm->len = 0;
    nm->cut = false;
    for (;;) {
        uint8_t l = cursor_u8(&at);
        if (at.bad)
            return false;
        if (l == 0)
            break;
        if ((l & 0xc0) == 0xc0) {
            size_t target = ((size_t)(l & 0x3f) << 8) | cursor_u8(&at);
            if (at.bad || target >= seq_start || target >= msglen || ++jumps > DNS_MAX_JUMPS)
                return false;
            if (!jumped) {
                c->p = at.p;        /* the caller's cursor resumes after the first pointer */
                jumped = true;
            }
            at = cursor_make(msg + target, msglen - target);
            seq_start = target;
            continue;
        }
        if (l & 0xc0)
            return false;           /* extended label types (RFC 6891) are not names */
        total += (size_t)l + 1;
        if (total > 255)
            return false;
        const uint8_t *lab = cursor_bytes(&at, l);
        if (!lab)
            return false;
        if (nm->len > 0)
            put(nm, '.');
        for (uint8_t i = 0; i < l; i++)
            put_label_byte(nm, lab[i]);
    }
    if (!jumped)
        c->p = at.p;
    nm->text[nm->len] = 0;
    return true;
}

static void keep_name(struct app_ctx *c, const struct dns_name *nm)
{
    if (nm->len == 0)
        return;
    struct app_fields *f = app_ctx_fields(c);
    if (!f)
        return;
    app_list_add(f, &f->dns_query[0][0], APP_NAME_LEN, &f->n_dns_query, APP_MAX_DNS,
                 (const uint8_t *)nm->text, nm->len, true);
    if (nm->cut)
        f->truncated = true;
}

struct dns_header {
    uint16_t id, flags, qd, an, ns, ar;
};

static bool read_header(struct cursor *c, struct dns_header *h)
{
    h->id = cursor_be16(c);
    h->flags = cursor_be16(c);
    h->qd = cursor_be16(c);
    h->an = cursor_be16(c);
    h->ns = cursor_be16(c);
    h->ar = cursor_be16(c);
    if (c->bad)
        return false;
    unsigned opcode = (h->flags >> 11) & 0xf;
    if (opcode > 6 || h->qd > DNS_MAX_QD || (h->qd == 0 && h->an == 0))
        return false;
    return true;
}

/* a plausible DNS message at msg: header and the first question (or answer) read cleanly */
static bool plausible(const uint8_t *msg, size_t len)
{
    struct cursor c = cursor_make(msg, len);
    struct dns_header h;
    struct dns_name nm;
    if (len < 17 || !read_header(&c, &h))
        return false;
    if ((h.flags & 0x0040) != 0 && !(h.flags & 0x8000))
        return false;               /* the Z bit is zero in queries */
    if (h.an > DNS_MAX_RRS || h.ns > DNS_MAX_RRS || h.ar > DNS_MAX_RRS)
        return false;
    if (!read_name(msg, len, &c, &nm))
        return false;
    cursor_skip(&c, 4);
    return !c.bad;
}

bool app_dns_sniff(const struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    if (c->ip_proto == 6) {
        struct cursor cur = cursor_make(p, len);
        uint16_t mlen = cursor_be16(&cur);
        if (cur.bad || mlen < 17)
            return false;
        size_t have = cursor_left(&cur) < mlen ? cursor_left(&cur) : mlen;
        return plausible(cur.p, have);
    }
    return plausible(p, len);
}

/* One message: questions, answer CNAMEs, and the RCODE of the first response. */
static void message(struct app_ctx *c, const uint8_t *msg, size_t len)
{
    struct cursor cur = cursor_make(msg, len);
    struct dns_header h;
    struct dns_name nm;
    if (!read_header(&cur, &h))
        return;
    for (unsigned i = 0; i < h.qd; i++) {
        if (!read_name(msg, len, &cur, &nm))
            return;
        cursor_skip(&cur, 4);           /* qtype, qclass */
        if (cur.bad)
            return;
        keep_name(c, &nm);
    }
    if (!(h.flags & 0x8000))
        return;                         /* a query carries nothing more that we keep */

    struct app_fields *f = app_ctx_fields(c);
    bool first_response = f && !f->has_dns_rcode;
    unsigned rcode = h.flags & 0xf;
    unsigned total = (unsigned)h.an + h.ns + h.ar;
    if (total > DNS_MAX_RRS)
        total = DNS_MAX_RRS;
    for (unsigned i = 0; i < total; i++) {
        if (!read_name(msg, len, &cur, &nm))
            break;
        uint16_t type = cursor_be16(&cur);
        cursor_skip(&cur, 2);           /* class */
        uint32_t ttl = cursor_be32(&cur);
        uint16_t rdlen = cursor_be16(&cur);
        if (cur.bad)
            break;
        struct cursor rd = cursor_sub(&cur, rdlen);
        if (cursor_left(&rd) < rdlen)
            break;
        if (i < h.an && type == DNS_TYPE_CNAME) {
            if (read_name(msg, len, &rd, &nm))
                keep_name(c, &nm);
        } else if (i >= (unsigned)h.an + h.ns && type == DNS_TYPE_OPT) {
            rcode |= (ttl >> 24) << 4;  /* extended RCODE: upper 8 bits */
        }
    }
    if (first_response) {
        f->has_dns_rcode = true;
        f->dns_rcode = rcode > 255 ? 255 : (uint8_t)rcode;
    }
}

bool app_dns_parse(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    if (c->ip_proto != 6) {
        message(c, p, len);
        return true;
    }
    struct cursor cur = cursor_make(p, len);
    for (int i = 0; i < 8 && cursor_left(&cur) >= 2; i++) {
        uint16_t mlen = cursor_be16(&cur);
        struct cursor m = cursor_sub(&cur, mlen);
        if (mlen < 12)
            break;
        message(c, m.p, cursor_left(&m));   /* a message cut by the packet end: what is there */
    }
    return true;
}
