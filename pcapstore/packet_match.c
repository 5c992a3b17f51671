/* packet_match.c -- libpcap's verdicts for the client's flow check, by hand (see packet_match.h).
 * Owns:  the link-layer table (where the network header starts, which family it is) and the
 *        IPv4/IPv6 + TCP/UDP/SCTP tests, each a transcription of the BPF code libpcap 1.10
 *        generates (`tcpdump -d -y DLT '...'` shows it).
 * Never: reads a byte through anything but a cursor; accepts a packet the filter would reject
 *        for lack of captured bytes (every load the filter makes is a cursor read here). */
#include "packet_match.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cursor.h"

enum { FAM_NONE, FAM_V4, FAM_V6 };

/* link types (DLT values, as pcap_open_dead takes them) */
enum {
    L_NULL = 0, L_EN10MB = 1, L_PPP = 9, L_RAW = 12, L_IEEE802_11 = 105, L_FRELAY = 107,
    L_LOOP = 108, L_LINUX_SLL = 113, L_RADIOTAP = 127, L_IPV4 = 228, L_IPV6 = 229,
    L_LINUX_SLL2 = 276,
};

/* big-endian field of w (1, 2, 4) bytes at off; false when not captured (BPF rejects) */
static bool load(const uint8_t *pkt, size_t caplen, size_t off, int w, uint32_t *v)
{
    struct cursor c = cursor_make(pkt, caplen);
    cursor_skip(&c, off);
    *v = w == 1 ? cursor_u8(&c) : w == 2 ? cursor_be16(&c) : cursor_be32(&c);
    return !c.bad;
}

int packet_match_init(struct packet_match *m, uint32_t linktype, bool ports, uint8_t proto,
                      uint16_t port_a, uint16_t port_b, const uint8_t *addr_a, const uint8_t *addr_b,
                      size_t addr_len, const uint16_t *vlan, size_t nvlan, char err[ASH_ERR_LEN])
{
    memset(m, 0, sizeof *m);
    m->dlt = linktype & 0x0fffffffu;
    switch (m->dlt) {
    case L_NULL: case L_EN10MB: case L_PPP: case L_RAW: case L_FRELAY: case L_LOOP:
    case L_LINUX_SLL: case L_IPV4: case L_IPV6: case L_LINUX_SLL2:
        break;
    case L_IEEE802_11: case L_RADIOTAP:
        /* libpcap walks the variable 802.11/radiotap headers and LLC there: not reproduced.
         * Without ports and VLANs only the addresses are checked, which needs no filter. */
        if (ports || nvlan) {
            snprintf(err, ASH_ERR_LEN, "link type %u (802.11): the client cannot check a session's "
                     "ports or VLANs on it", m->dlt);
            return -1;
        }
        break;
    default:
        snprintf(err, ASH_ERR_LEN, "link type %u: the client cannot check packets of it", m->dlt);
        return -1;
    }
    if (nvlan && m->dlt != L_EN10MB) {
        snprintf(err, ASH_ERR_LEN, "link type %u: no VLAN support (the session has VLAN ids)", m->dlt);
        return -1;
    }
    if ((m->dlt == L_IPV4 && addr_len == 16) || (m->dlt == L_IPV6 && addr_len == 4)) {
        snprintf(err, ASH_ERR_LEN, "link type %u: IPv%d only, the session is IPv%d", m->dlt,
                 m->dlt == L_IPV4 ? 4 : 6, addr_len == 4 ? 4 : 6);
        return -1;
    }
    if (nvlan > PACKET_MATCH_MAX_VLAN || (addr_len != 4 && addr_len != 16)) {
        snprintf(err, ASH_ERR_LEN, "flow: more than %d VLAN ids, or no addresses", PACKET_MATCH_MAX_VLAN);
        return -1;
    }
    m->ports = ports;
    m->proto = proto;
    m->port_a = port_a;
    m->port_b = port_b;
    m->addr_len = addr_len;
    memcpy(m->addr_a, addr_a, addr_len);
    memcpy(m->addr_b, addr_b, addr_len);
    if (nvlan)
        memcpy(m->vlan, vlan, nvlan * sizeof *vlan);
    m->nvlan = nvlan;
    return 0;
}

/* The link layer: the network header's offset and family (FAM_NONE: not IP, or a field the
 * filter loads is not captured, which rejects the packet as well). */
static int link_family(const struct packet_match *m, const uint8_t *pkt, size_t caplen, size_t *pl)
{
    uint32_t t;
    switch (m->dlt) {
    case L_EN10MB: {
        size_t off = 12;
        for (size_t i = 0; i < m->nvlan; i++) {   /* libpcap's in-band "vlan N": TPID, VID, +4 */
            uint32_t tci;
            if (!load(pkt, caplen, off, 2, &t) || (t != 0x8100 && t != 0x88a8 && t != 0x9100) ||
                !load(pkt, caplen, off + 2, 2, &tci) || (tci & 0x0fff) != m->vlan[i])
                return FAM_NONE;
            off += 4;
        }
        if (!load(pkt, caplen, off, 2, &t))
            return FAM_NONE;
        *pl = off + 2;
        return t == 0x0800 ? FAM_V4 : t == 0x86dd ? FAM_V6 : FAM_NONE;
    }
    case L_NULL: {                            /* the family in this host's byte order */
        struct cursor c = cursor_make(pkt, caplen);
        const uint8_t *b = cursor_bytes(&c, 4);
        uint32_t fam;
        if (!b)
            return FAM_NONE;
        memcpy(&fam, b, 4);
        *pl = 4;
        return fam == AF_INET ? FAM_V4 : fam == AF_INET6 ? FAM_V6 : FAM_NONE;
    }
    case L_LOOP:                              /* network byte order */
        if (!load(pkt, caplen, 0, 4, &t))
            return FAM_NONE;
        *pl = 4;
        return t == AF_INET ? FAM_V4 : t == AF_INET6 ? FAM_V6 : FAM_NONE;
    case L_PPP:
        if (!load(pkt, caplen, 2, 2, &t))
            return FAM_NONE;
        *pl = 4;
        return t == 0x0021 ? FAM_V4 : t == 0x0057 ? FAM_V6 : FAM_NONE;
    case L_FRELAY:                            /* Q.933 NLPID: 0x03cc IP, 0x038e IPv6 */
        if (!load(pkt, caplen, 2, 2, &t))
            return FAM_NONE;
        *pl = 0;                              /* sic: libpcap 1.10 reads the IP header at 0 */
        return t == 0x03cc ? FAM_V4 : t == 0x038e ? FAM_V6 : FAM_NONE;
    case L_RAW:                               /* the version nibble */
        if (!load(pkt, caplen, 0, 1, &t))
            return FAM_NONE;
        *pl = 0;
        return (t & 0xf0) == 0x40 ? FAM_V4 : (t & 0xf0) == 0x60 ? FAM_V6 : FAM_NONE;
    case L_IPV4:
        *pl = 0;
        return FAM_V4;
    case L_IPV6:
        *pl = 0;
        return FAM_V6;
    case L_LINUX_SLL:
        if (!load(pkt, caplen, 14, 2, &t))
            return FAM_NONE;
        *pl = 16;
        return t == 0x0800 ? FAM_V4 : t == 0x86dd ? FAM_V6 : FAM_NONE;
    case L_LINUX_SLL2:
        if (!load(pkt, caplen, 0, 2, &t))
            return FAM_NONE;
        *pl = 20;
        return t == 0x0800 ? FAM_V4 : t == 0x86dd ? FAM_V6 : FAM_NONE;
    default:
        return FAM_NONE;                      /* refused at init */
    }
}

static bool l4_proto(uint32_t p)
{
    return p == 6 || p == 17 || p == 132;
}

bool packet_match_l4(const struct packet_match *m, const uint8_t *pkt, size_t caplen)
{
    size_t pl = 0;
    uint32_t v;
    switch (link_family(m, pkt, caplen, &pl)) {
    case FAM_V4:                              /* first fragment or none, then ip[9] */
        return load(pkt, caplen, pl + 6, 2, &v) && !(v & 0x1fff) &&
               load(pkt, caplen, pl + 9, 1, &v) && l4_proto(v);
    case FAM_V6:                              /* next header, or the one after a fragment header */
        if (!load(pkt, caplen, pl + 6, 1, &v))
            return false;
        if (l4_proto(v))
            return true;
        return v == 44 && load(pkt, caplen, pl + 40, 1, &v) && l4_proto(v);
    default:
        return false;
    }
}

static bool addr_at(const uint8_t *pkt, size_t caplen, size_t off, const uint8_t *a, size_t n)
{
    struct cursor c = cursor_make(pkt, caplen);
    cursor_skip(&c, off);
    const uint8_t *b = cursor_bytes(&c, n);
    return b && memcmp(b, a, n) == 0;
}

bool packet_match_flow(const struct packet_match *m, const uint8_t *pkt, size_t caplen)
{
    size_t pl = 0, src, dst, th;
    uint32_t v, sp, dp;
    int fam = link_family(m, pkt, caplen, &pl);
    if (fam == FAM_V4 && m->addr_len == 4) {
        /* "PROTO": ip[9]; each "port": ip[9] again and no fragment offset; ports after IHL */
        if (!load(pkt, caplen, pl + 9, 1, &v) || v != m->proto || !load(pkt, caplen, pl + 6, 2, &v) ||
            (v & 0x1fff) || !load(pkt, caplen, pl, 1, &v))
            return false;
        src = pl + 12;
        dst = pl + 16;
        th = pl + 4 * (v & 0x0f);
    } else if (fam == FAM_V6 && m->addr_len == 16) {
        /* "PROTO" admits a fragment header first, the port tests do not: ip6[6] itself */
        if (!load(pkt, caplen, pl + 6, 1, &v) || v != m->proto)
            return false;
        src = pl + 8;
        dst = pl + 24;
        th = pl + 40;
    } else {
        return false;                         /* "src host" of one family only */
    }
    if (!load(pkt, caplen, th, 2, &sp) || !load(pkt, caplen, th + 2, 2, &dp))
        return false;
    bool ab = addr_at(pkt, caplen, src, m->addr_a, m->addr_len) &&
              addr_at(pkt, caplen, dst, m->addr_b, m->addr_len) && sp == m->port_a && dp == m->port_b;
    bool ba = addr_at(pkt, caplen, src, m->addr_b, m->addr_len) &&
              addr_at(pkt, caplen, dst, m->addr_a, m->addr_len) && sp == m->port_b && dp == m->port_a;
    return ab || ba;
}
