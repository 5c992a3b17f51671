/* session_record.c -- a session as a protobuf SessionRecord (see session_record.h).
 * Owns:  the session id, conn_state and history rules, the mapping of session fields to the
 *        wire contract.
 * Never: allocates; runs per packet (once per emitted session). */
#include "session_record.h"
#include "clock.h"

#include <stdio.h>
#include <string.h>

#include "community_id.h"
#include "decode.h"

void session_record_id(const char *sensor, const struct session *s, unsigned segment,
                       char out[SESSION_ID_LEN])
{
    /* 96 bits of two independent multiply-xorshift chains over sensor, key, first-packet time
     * and segment. Not a cryptographic hash: the id only has to be deterministic and not
     * collide by chance (2^-48 at 16M sessions a day); SHA-1 here cost 14% of the sensor's
     * instructions (bench/RESULTS.md, callgrind profile). */
    uint64_t h1 = 0x9e3779b97f4a7c15ULL, h2 = 0xd6e8feb86659fd93ULL;
    for (const unsigned char *p = (const unsigned char *)sensor; *p; p++) {
        h1 = (h1 ^ *p) * 0x100000001b3ULL;
        h2 = (h2 ^ *p) * 0x9e3779b97f4a7c15ULL;
    }
    const uint8_t *k = (const uint8_t *)&s->key;
    for (size_t i = 0; i < sizeof s->key; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        h1 = ash_mix64(h1 ^ w);
        h2 = ash_mix64(h2 + w + 0x632be59bd9b4e019ULL);
    }
    uint64_t t = (uint64_t)s->first_us ^ ((uint64_t)segment << 52);
    h1 = ash_mix64(h1 ^ t);
    h2 = ash_mix64(h2 ^ ash_mix64(t + 0x94d049bb133111ebULL));
    uint8_t digest[12];
    for (int i = 0; i < 8; i++)
        digest[i] = (uint8_t)(h1 >> (8 * i));
    for (int i = 0; i < 4; i++)
        digest[8 + i] = (uint8_t)(h2 >> (8 * i));

    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int64_t secs = s->first_us / 1000000 - (s->first_us % 1000000 < 0);
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    int y;
    unsigned m, d;
    clock_civil_from_days(days, &y, &m, &d);   /* not gmtime_r: 7% of the sensor's instructions */
    unsigned yy = (unsigned)(((y % 100) + 100) % 100);
    char *o = out;
    *o++ = (char)('0' + yy / 10);
    *o++ = (char)('0' + yy % 10);
    *o++ = (char)('0' + m / 10);
    *o++ = (char)('0' + m % 10);
    *o++ = (char)('0' + d / 10);
    *o++ = (char)('0' + d % 10);
    *o++ = '-';
    for (int i = 0; i < 12; i += 3) {          /* 12 bytes -> 16 characters */
        uint32_t v = (uint32_t)digest[i] << 16 | (uint32_t)digest[i + 1] << 8 | digest[i + 2];
        for (int j = 0; j < 4; j++)
            *o++ = b64url[(v >> (18 - 6 * j)) & 63];
    }
    *o = '\0';
}

const char *session_record_conn_state(const struct session *s)
{
    uint16_t h = s->history;
    if (s->key.proto != 6) {
        if (s->packets[0] && s->packets[1]) return "SF";
        if (s->packets[0]) return "S0";
        return "OTH";
    }
    bool syn = h & HIST_ORIG_SYN, synack = h & HIST_RESP_SYNACK;
    if (syn && !synack) {
        if (h & HIST_RESP_RST) return "REJ";
        if (h & HIST_ORIG_RST) return "RSTOS0";
        if (h & HIST_ORIG_FIN) return "SH";
        return "S0";
    }
    if (!syn && synack) {
        if (h & HIST_RESP_RST) return "RSTRH";
        if (h & HIST_RESP_FIN) return "SHR";
        return "OTH";
    }
    if (!syn && !synack)
        return "OTH";
    if (h & HIST_ORIG_RST) return "RSTO";
    if (h & HIST_RESP_RST) return "RSTR";
    if ((h & HIST_ORIG_FIN) && (h & HIST_RESP_FIN)) return "SF";
    if (h & HIST_ORIG_FIN) return "S2";
    if (h & HIST_RESP_FIN) return "S3";
    return "S1";
}

/* Zeek's history letters, in a fixed order (Zeek's is chronological; ours is a set) */
static void history_text(uint16_t h, char out[16])
{
    static const struct { uint16_t bit; char c; } letters[] = {
        { HIST_ORIG_SYN, 'S' }, { HIST_RESP_SYNACK, 'h' }, { HIST_RESP_SYN, 's' },
        { HIST_ORIG_ACK, 'A' }, { HIST_RESP_ACK, 'a' }, { HIST_ORIG_DATA, 'D' },
        { HIST_RESP_DATA, 'd' }, { HIST_ORIG_FIN, 'F' }, { HIST_RESP_FIN, 'f' },
        { HIST_ORIG_RST, 'R' }, { HIST_RESP_RST, 'r' },
    };
    size_t n = 0;
    for (size_t i = 0; i < ASH_ARRAY_LEN(letters); i++)
        if (h & letters[i].bit)
            out[n++] = letters[i].c;
    out[n] = '\0';
}

static const char *const tunnel_names[] = { "gre", "ppp", "vxlan", "geneve", "ipip", "6in4",
                                            "ip6ip", "mpls", "gtp" };
_Static_assert(APP_PROTO_COUNT - 1 + 1 + ASH_ARRAY_LEN(tunnel_names) <=
               ASH_ARRAY_LEN(((struct session_record_buf *)0)->tags),
               "session_record_buf.tags holds every protocol, the transport and every tunnel");

/* ICMP errors: an ICMP session's quoted flow, or the error that answered another session */
static void fill_icmp(struct session_record_buf *b, const struct session *s, bool icmp,
                      size_t alen, size_t aoff)
{
    Ashiato__SessionRecord *r = &b->rec;
    r->icmp_quoted_community_id = (char *)"";
    if (!icmp) {
        if (s->flags & SESSION_F_ICMP_ERROR) {
            r->icmp_error_type = s->icmp_type;
            r->icmp_error_code = s->icmp_code;
        }
        return;
    }
    const struct session_quote *q = &s->quote;
    if (!q->count)
        return;
    const uint8_t *src = q->src_b ? s->key.b : s->key.a;
    memcpy(b->quoted_src, src + aoff, alen);
    memcpy(b->quoted_dst, q->dst + aoff, alen);
    r->icmp_quoted_src_ip.data = b->quoted_src;
    r->icmp_quoted_src_ip.len = alen;
    r->icmp_quoted_dst_ip.data = b->quoted_dst;
    r->icmp_quoted_dst_ip.len = alen;
    r->icmp_quoted_src_port = q->sport;
    r->icmp_quoted_dst_port = q->dport;
    r->icmp_quoted_iana_number = q->proto;
    r->icmp_quoted_count = q->count;
    r->icmp_error_type = q->type;
    r->icmp_error_code = q->code;
    bool qicmp = q->proto == 1 || q->proto == 58;
    bool ports = qicmp || ((q->proto == 6 || q->proto == 17 || q->proto == 132) &&
                           (q->sport || q->dport));   /* not a non-first fragment */
    community_id_v1(s->key.ip_version, src, q->dst, q->proto, q->sport, q->dport, ports, 0,
                    b->quoted_community_id);
    r->icmp_quoted_community_id = b->quoted_community_id;
}

void session_record_fill(struct session_record_buf *b, const char *sensor,
                         const struct session *s, const struct app_fields *f)
{
    Ashiato__SessionRecord *r = &b->rec;
    const uint8_t *sa = s->src_is_b ? s->key.b : s->key.a;
    const uint8_t *da = s->src_is_b ? s->key.a : s->key.b;
    uint16_t sp = s->src_is_b ? s->key.port_b : s->key.port_a;
    uint16_t dp = s->src_is_b ? s->key.port_a : s->key.port_b;
    size_t alen = s->key.ip_version == 4 ? 4 : 16;
    size_t aoff = s->key.ip_version == 4 ? 12 : 0;

    ashiato__session_record__init(r);
    ashiato__endpoint__init(&b->src);
    ashiato__endpoint__init(&b->dst);
    ashiato__tcp_flag_counts__init(&b->flags);

    session_record_id(sensor, s, s->segment, b->id);
    if (s->segment == 1)
        memcpy(b->root_id, b->id, sizeof b->id);
    else
        session_record_id(sensor, s, 1, b->root_id);
    r->id.data = (uint8_t *)b->id;
    r->id.len = strlen(b->id);
    r->root_id.data = (uint8_t *)b->root_id;
    r->root_id.len = strlen(b->root_id);
    r->observer_name = (char *)sensor;
    r->start_us = s->first_us;
    r->end_us = s->last_us;
    r->segment = s->segment;

    memcpy(b->ip_src, sa + aoff, alen);
    memcpy(b->ip_dst, da + aoff, alen);
    b->src.ip.data = b->ip_src;
    b->src.ip.len = alen;
    b->dst.ip.data = b->ip_dst;
    b->dst.ip.len = alen;
    b->src.port = sp;
    b->dst.port = dp;
    b->src.packets = s->packets[0];
    b->dst.packets = s->packets[1];
    b->src.bytes = s->bytes[0];
    b->dst.bytes = s->bytes[1];
    b->src.data_bytes = s->data_bytes[0];
    b->dst.data_bytes = s->data_bytes[1];
    if (s->flags & SESSION_F_HAS_MAC) {
        memcpy(b->mac_src, s->mac_src, 6);
        b->src.mac.data = b->mac_src;
        b->src.mac.len = 6;
    }
    r->source = &b->src;
    r->destination = &b->dst;
    r->iana_number = s->key.proto;
    r->ip_version = s->key.ip_version;

    /* Community ID: hashed in the initiator's direction, ICMP with the first packet's type
     * and code; the key's ports are 0 for ICMP */
    bool icmp = s->key.proto == 1 || s->key.proto == 58;
    bool ports = icmp || s->key.proto == 6 || s->key.proto == 17 || s->key.proto == 132;
    if (s->flags & SESSION_F_NO_PORTS) {
        r->community_id = (char *)"";     /* a flow without readable ports has no ID */
    } else {
        community_id_v1(s->key.ip_version, sa, da, s->key.proto, icmp ? s->icmp_type : sp,
                        icmp ? s->icmp_code : dp, ports, 0, b->community_id);
        r->community_id = b->community_id;
    }

    fill_icmp(b, s, icmp, alen, aoff);

    for (int i = 0; i < s->vlan_count; i++)
        b->vlan[i] = s->vlan[i];
    r->vlan = b->vlan;
    r->n_vlan = s->vlan_count;

    /* tags (ashiato.protocols): every application protocol recognised, the transport as
     * Arkime names it (not for a flow whose ports could not be read: Arkime's corrupt-ip),
     * then tunnels */
    size_t nt = 0;
    for (int p = 1; p < APP_PROTO_COUNT; p++)
        if (s->app.tags & (1u << p))
            b->tags[nt++] = (char *)app_proto_name((enum app_proto)p);
    if (app_transport_name(s->key.proto) && !(s->flags & SESSION_F_NO_PORTS))
        b->tags[nt++] = (char *)app_transport_name(s->key.proto);
    for (size_t i = 0; i < ASH_ARRAY_LEN(tunnel_names); i++)
        if (s->tunnels & (1u << i))
            b->tags[nt++] = (char *)tunnel_names[i];
    r->tags = b->tags;
    r->n_tags = nt;
    r->protocol = (char *)app_proto_name((enum app_proto)s->app.proto);

    if (s->key.proto == 6) {
        b->flags.syn = s->syn;
        b->flags.syn_ack = s->syn_ack;
        b->flags.ack = s->ack;
        b->flags.psh = s->psh;
        b->flags.fin = s->fin;
        b->flags.rst = s->rst;
        b->flags.urg = s->urg;
        r->tcp_flags = &b->flags;
    }
    r->conn_state = (char *)session_record_conn_state(s);
    history_text(s->history, b->history);
    r->history = b->history;

    r->dns_rcode = (char *)"";
    r->tls_version = (char *)"";
    r->ssh_client = (char *)"";
    r->ssh_server = (char *)"";
    r->segment_name = (char *)"";
    if (!f)
        return;
    for (int i = 0; i < f->n_http_host; i++)
        b->http_host[i] = (char *)f->http_host[i];
    r->http_host = b->http_host;
    r->n_http_host = f->n_http_host;
    for (int i = 0; i < f->n_http_method; i++)
        b->http_method[i] = (char *)f->http_method[i];
    r->http_method = b->http_method;
    r->n_http_method = f->n_http_method;
    for (int i = 0; i < f->n_user_agent; i++)
        b->user_agent[i] = (char *)f->user_agent[i];
    r->user_agent = b->user_agent;
    r->n_user_agent = f->n_user_agent;
    for (int i = 0; i < f->n_http_status; i++)
        b->http_status[i] = f->http_status[i];
    r->http_status = b->http_status;
    r->n_http_status = f->n_http_status;
    for (int i = 0; i < f->n_dns_query; i++)
        b->dns_query[i] = (char *)f->dns_query[i];
    r->dns_query = b->dns_query;
    r->n_dns_query = f->n_dns_query;
    for (int i = 0; i < f->n_tls_sni; i++)
        b->tls_sni[i] = (char *)f->tls_sni[i];
    r->tls_sni = b->tls_sni;
    r->n_tls_sni = f->n_tls_sni;
    if (f->has_dns_rcode) {
        char num[8];
        snprintf(b->dns_rcode, sizeof b->dns_rcode, "%s", app_dns_rcode_name(f->dns_rcode, num));
        r->dns_rcode = b->dns_rcode;
    }
    if (f->tls_version >= 0x0301 && f->tls_version <= 0x0304) {
        snprintf(b->tls_version, sizeof b->tls_version, "1.%d", f->tls_version - 0x0301);
        r->tls_version = b->tls_version;
    } else if (f->tls_version == 0x0300) {
        r->tls_version = (char *)"3.0";   /* SSL 3.0 */
    }
    r->ssh_client = (char *)f->ssh_client;
    r->ssh_server = (char *)f->ssh_server;
    r->truncated_fields = f->truncated;
}
