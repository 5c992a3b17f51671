/* field_catalog.c -- the field tables (see field_catalog.h) and their renderings.
 * Owns:  the sessions' and the alerts' tables below, the name lookups, nearest-name
 *        suggestions, fields.json, fields.md.
 * Lends: pointers into the static table.
 * Never: logs; reads files or the environment.
 * Trap:  names must be unique across name, aliases and ecs (test_field_catalog checks it), and
 *        every ecs path must be one record_json.c writes and the ES template maps. */
#include "field_catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "ashiato.h"

#define I FIELD_IP
#define N FIELD_INTEGER
#define K FIELD_KEYWORD
#define T FIELD_TIME
#define B FIELD_BOOLEAN
#define M FIELD_MULTI
#define F FIELD_FLOAT

/* ashiato.linked in SQLite: the session's rows of session_links (store_put_links) as the
 * object json_each reads '$.ashiato.linked' from, by the links' primary key (sensor, id) */
#define LINKED_DOC "(SELECT json_object('ashiato', json_object('linked', " \
    "json_group_array(l.other))) FROM session_links AS l WHERE l.sensor = s.sensor AND " \
    "l.id = s.id)"

static const struct field_def catalog[] = {
    /* name, aliases, ecs, type, flags, sql column, posting, port, any, group, help */
    { "ip", "", "", I, FIELD_PSEUDO, NULL, "ip", NULL, { "ip.src", "ip.dst" }, "general",
      "Either address of the session (ip.src or ip.dst); CIDR, partial (10.1) and ip:port" },
    { "ip.src", "", "source.ip", I, 0, "src_ip", "src_ip", "port.src", { 0 }, "general",
      "The address that sent the first packet" },
    { "ip.dst", "", "destination.ip", I, 0, "dst_ip", "dst_ip", "port.dst", { 0 }, "general",
      "The address the first packet went to" },
    { "port", "", "", N, FIELD_PSEUDO, NULL, "port", NULL, { "port.src", "port.dst" },
      "general", "Either port of the session (port.src or port.dst)" },
    { "port.src", "", "source.port", N, 0, "src_port", "src_port", NULL, { 0 }, "general",
      "The source port (0 for protocols without ports)" },
    { "port.dst", "", "destination.port", N, 0, "dst_port", "dst_port", NULL, { 0 }, "general",
      "The destination port (0 for protocols without ports)" },
    { "ip.protocol", "", "network.transport", K, FIELD_IPPROTO, "transport", "transport", NULL,
      { 0 }, "general", "The IP protocol: tcp, udp, icmp, ipv6-icmp, sctp, or its number" },
    { "protocols", "", "", K, FIELD_PSEUDO, NULL, "protocols", NULL,
      { "ip.protocol", "network.protocol", "tags" }, "general",
      "Any protocol of the session: its transport (tcp, udp, ...), application protocol or tags" },
    { "network.protocol", "protocol", "network.protocol", K, 0, "protocol", "protocol", NULL,
      { 0 }, "general", "The application protocol the sensor recognised (http, dns, tls, ...)" },
    { "tags", "", "ashiato.protocols", K, M, NULL, "tags", NULL, { 0 }, "general",
      "Further protocol tags the sensor set (smb, rdp, krb5, tunnel names)" },
    { "node", "observer.name", "observer.name", K, 0, "sensor", "sensor", NULL, { 0 }, "general",
      "The sensor that recorded the session (its authenticated name)" },
    { "segment", "", "ashiato.segment_name", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "The network segment the sensor watches" },
    { "id", "", "ashiato.session_id", K, 0, "id", NULL, NULL, { 0 }, "general",
      "The session id" },
    { "rootId", "", "ashiato.root_id", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "The id of the first segment of a long session" },
    { "communityId", "", "network.community_id", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "The Community ID flow hash (1:...)" },
    { "vlan", "", "network.vlan.id", N, M | FIELD_NORANGE, NULL, NULL, NULL, { 0 }, "general",
      "802.1Q VLAN ids, outermost first" },
    { "ip.version", "", "network.type", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "ipv4 or ipv6" },
    { "mac.src", "", "source.mac", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "The source MAC address (aa-bb-cc-dd-ee-ff)" },
    { "mac.dst", "", "destination.mac", K, 0, NULL, NULL, NULL, { 0 }, "general",
      "The destination MAC address" },
    { "starttime", "firstPacket", "event.start", T, 0, "start_us", NULL, NULL, { 0 }, "general",
      "Time of the first packet: \"2021/09/28 13:00:00\", ISO 8601, epoch seconds, or -1h" },
    { "stoptime", "lastPacket", "event.end", T, 0, "end_us", NULL, NULL, { 0 }, "general",
      "Time of the last packet" },
    { "packets", "", "network.packets", N, 0, "packets", "packets", NULL, { 0 }, "general",
      "Packets in both directions" },
    { "packets.src", "", "source.packets", N, 0, NULL, NULL, NULL, { 0 }, "general",
      "Packets sent by the source" },
    { "packets.dst", "", "destination.packets", N, 0, NULL, NULL, NULL, { 0 }, "general",
      "Packets sent by the destination" },
    { "bytes", "", "network.bytes", N, 0, "bytes", NULL, NULL, { 0 }, "general",
      "Bytes on the wire in both directions" },
    { "bytes.src", "", "source.bytes", N, 0, NULL, NULL, NULL, { 0 }, "general",
      "Bytes on the wire sent by the source" },
    { "bytes.dst", "", "destination.bytes", N, 0, NULL, NULL, NULL, { 0 }, "general",
      "Bytes on the wire sent by the destination" },
    { "databytes", "", "", N, FIELD_SUM, NULL, NULL, NULL, { "databytes.src", "databytes.dst" },
      "general", "Payload bytes in both directions" },
    { "databytes.src", "", "ashiato.data_bytes.source", N, 0, NULL, NULL, NULL, { 0 },
      "general", "Payload bytes sent by the source" },
    { "databytes.dst", "", "ashiato.data_bytes.destination", N, 0, NULL, NULL, NULL, { 0 },
      "general", "Payload bytes sent by the destination" },
    { "tcpflags.syn", "", "ashiato.tcp_flags.syn", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with SYN (and not ACK)" },
    { "tcpflags.syn-ack", "", "ashiato.tcp_flags.syn_ack", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with SYN and ACK" },
    { "tcpflags.ack", "", "ashiato.tcp_flags.ack", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with ACK only" },
    { "tcpflags.psh", "", "ashiato.tcp_flags.psh", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with PSH" },
    { "tcpflags.fin", "", "ashiato.tcp_flags.fin", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with FIN" },
    { "tcpflags.rst", "", "ashiato.tcp_flags.rst", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with RST" },
    { "tcpflags.urg", "", "ashiato.tcp_flags.urg", N, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "TCP packets with URG" },
    { "conn.state", "", "ashiato.conn_state", K, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "Zeek-style connection state: S0, S1, SF, REJ, RSTO, RSTR, OTH, ..." },
    { "conn.history", "", "ashiato.history", K, 0, NULL, NULL, NULL, { 0 }, "tcp",
      "Zeek-style history letters" },
    { "host", "", "", K, FIELD_PSEUDO, NULL, NULL, NULL, { "host.http", "host.dns", "tls.sni" },
      "general", "Any host name of the session: HTTP Host, DNS query or TLS SNI" },
    { "host.http", "", "url.domain", K, M, NULL, NULL, NULL, { 0 }, "http",
      "HTTP Host headers" },
    { "http.method", "", "http.request.method", K, M, NULL, NULL, NULL, { 0 }, "http",
      "HTTP request methods" },
    { "http.user-agent", "", "user_agent.original", K, M, NULL, NULL, NULL, { 0 }, "http",
      "HTTP User-Agent headers" },
    { "http.statuscode", "", "http.response.status_code", N, M, NULL, NULL, NULL, { 0 }, "http",
      "HTTP response status codes" },
    { "host.dns", "", "dns.question.name", K, M, NULL, NULL, NULL, { 0 }, "dns",
      "DNS query names" },
    { "dns.status", "", "dns.response_code", K, 0, NULL, NULL, NULL, { 0 }, "dns",
      "DNS response code: NOERROR, NXDOMAIN, ..." },
    { "tls.sni", "host.tls", "tls.client.server_name", K, M, NULL, NULL, NULL, { 0 }, "tls",
      "TLS server names (SNI) the client asked for" },
    { "tls.version", "", "tls.version", K, 0, NULL, NULL, NULL, { 0 }, "tls",
      "TLS version: 1.2, 1.3, ..." },
    { "ssh.client", "", "ashiato.ssh.client", K, 0, NULL, NULL, NULL, { 0 }, "ssh",
      "The SSH client's banner" },
    { "ssh.server", "", "ashiato.ssh.server", K, 0, NULL, NULL, NULL, { 0 }, "ssh",
      "The SSH server's banner" },
    { "truncated", "", "ashiato.truncated", B, 0, NULL, NULL, NULL, { 0 }, "general",
      "true when some application field was cut to its fixed size" },
    { "icmp.error.type", "", "ashiato.icmp_error.type", N, 0, NULL, NULL, NULL, { 0 }, "icmp",
      "TCP/UDP/SCTP: the type of the ICMP error that quoted the initiator's packet (3, 11, 12; "
      "ICMPv6 1-4): the attempt failed" },
    { "icmp.error.code", "", "ashiato.icmp_error.code", N, 0, NULL, NULL, NULL, { 0 }, "icmp",
      "TCP/UDP/SCTP: that ICMP error's code (3/3: port unreachable)" },
    { "icmp.quoted.type", "", "ashiato.icmp_quoted.type", N, 0, NULL, NULL, NULL, { 0 }, "icmp",
      "ICMP error sessions: the type of the first error with a quote" },
    { "icmp.quoted.code", "", "ashiato.icmp_quoted.code", N, 0, NULL, NULL, NULL, { 0 }, "icmp",
      "ICMP error sessions: that error's code" },
    { "icmp.quoted.ip.src", "", "ashiato.icmp_quoted.source.ip", I, 0, NULL, NULL,
      "icmp.quoted.port.src", { 0 }, "icmp",
      "ICMP error sessions: the source of the packet the error quoted (the error's receiver)" },
    { "icmp.quoted.ip.dst", "", "ashiato.icmp_quoted.destination.ip", I, 0, NULL, NULL,
      "icmp.quoted.port.dst", { 0 }, "icmp",
      "ICMP error sessions: the destination of the quoted packet" },
    { "icmp.quoted.port.src", "", "ashiato.icmp_quoted.source.port", N, 0, NULL, NULL, NULL,
      { 0 }, "icmp", "The quoted packet's source port (a quoted ICMP message: its type)" },
    { "icmp.quoted.port.dst", "", "ashiato.icmp_quoted.destination.port", N, 0, NULL, NULL,
      NULL, { 0 }, "icmp",
      "The quoted packet's destination port (a quoted ICMP message: its code)" },
    { "icmp.quoted.iana", "", "ashiato.icmp_quoted.iana_number", K, 0, NULL, NULL, NULL, { 0 },
      "icmp", "The quoted packet's IP protocol number (\"17\" for UDP)" },
    { "icmp.quoted.communityId", "", "ashiato.icmp_quoted.community_id", K, 0, NULL, NULL, NULL,
      { 0 }, "icmp", "The quoted flow's Community ID: the failed session's communityId" },
    { "icmp.quoted.count", "", "ashiato.icmp_quoted.count", N, 0, NULL, NULL, NULL, { 0 },
      "icmp", "ICMP errors in the record that quoted a packet of the error's receiver" },
    { "ashiato.segments", "segments", "ashiato.segments", K, M | FIELD_NORANGE | FIELD_SEGMAP,
      NULL, NULL, NULL, { 0 }, "general",
      "The source's and the destination's network segment by the aggregator's [segments] "
      "(longest prefix; \"outside\" for an address in none). Queries use the current map on "
      "both stores (expanded into ip.src/ip.dst prefixes); see docs/api.md" },
    { "ashiato.linked", "linked", "ashiato.linked", K, M | FIELD_LINKS, NULL, NULL, NULL, { 0 },
      "general", "The same flow seen by another sensor, as \"id@sensor\" (cross-sensor links "
      "found by detection)" },
};

/* The alert documents as detect_alert_json() writes them (docs/detection.md). A column of
 * `alerts` where store_sqlite.c fills one from the same Alert fields the document comes from
 * (id, kind, start_us, end_us, source_ip); the rest from the document. */
static const struct field_def alert_catalog[] = {
    /* name, aliases, ecs, type, flags, sql column, posting, port, any, group, help */
    { "id", "alert.id", "event.id", K, 0, "id", NULL, NULL, { 0 }, "alert",
      "The alert's id (it keeps it while it grows)" },
    { "rule.name", "rule type", "rule.name", K, 0, "kind", NULL, NULL, { 0 }, "alert",
      "The detector: address_scan, port_scan, scanner, lateral_movement, session_spike, "
      "address_policy" },
    { "ip", "", "", I, FIELD_PSEUDO, NULL, NULL, NULL,
      { "source.ip", "destination.ip", "ashiato.sources" }, "alert",
      "Any address of the alert: its source, a target or a spike's source" },
    { "source.ip", "ip.src", "source.ip", I, 0, "source_ip", NULL, NULL, { 0 }, "alert",
      "The source the alert is about (none for a spike)" },
    { "destination.ip", "ip.dst", "destination.ip", I, M, NULL, NULL, NULL, { 0 }, "alert",
      "Target hosts (capped; ashiato.targets.hosts is the total)" },
    { "destination.port", "port.dst port", "destination.port", N, M, NULL, NULL, NULL, { 0 },
      "alert", "Target ports (capped; ashiato.targets.ports is the total)" },
    { "observer.name", "node sensor", "observer.name", K, M, NULL, NULL, NULL, { 0 }, "alert",
      "The sensors that saw the evidence" },
    { "ashiato.segments", "segment segments", "ashiato.segments", K, M, NULL, NULL, NULL, { 0 },
      "alert", "The segments involved (\"outside\" for addresses in none)" },
    { "ashiato.score", "score", "ashiato.score", F, 0, NULL, NULL, NULL, { 0 }, "alert",
      "The detector's score: a scan's count over its threshold (1.5 = 50% past it), a "
      "spike's sigmas, a lateral movement's segments, a policy alert's sessions" },
    { "tags", "", "tags", K, M, NULL, NULL, NULL, { 0 }, "alert",
      "Tags: approved (the source is on the allow-list)" },
    { "event.start", "starttime firstPacket", "event.start", T, 0, "start_us", NULL, NULL,
      { 0 }, "alert", "Time of the first evidence" },
    { "event.end", "stoptime lastPacket", "event.end", T, 0, "end_us", NULL, NULL, { 0 },
      "alert", "Time of the last evidence (it moves while the alert grows)" },
    { "message", "", "message", K, FIELD_ESKEYWORD, NULL, NULL, NULL, { 0 }, "alert",
      "The alert's sentence (exact text, wildcards or /regex/)" },
    { "ashiato.evidence", "evidence", "ashiato.evidence", K, M, NULL, NULL, NULL, { 0 },
      "alert", "Ids of the evidence sessions (capped)" },
    { "ashiato.sessions", "sessions", "ashiato.sessions", N, 0, NULL, NULL, NULL, { 0 },
      "alert", "Sessions counted as evidence" },
    { "ashiato.successes", "successes", "ashiato.successes", N, 0, NULL, NULL, NULL, { 0 },
      "alert", "Evidence sessions that succeeded" },
    { "ashiato.failures", "failures", "ashiato.failures", N, 0, NULL, NULL, NULL, { 0 },
      "alert", "Evidence sessions that failed" },
    { "ashiato.targets.hosts", "targets.hosts", "ashiato.targets.hosts", N, 0, NULL, NULL, NULL,
      { 0 }, "alert", "Distinct target hosts in total" },
    { "ashiato.targets.ports", "targets.ports", "ashiato.targets.ports", N, 0, NULL, NULL, NULL,
      { 0 }, "alert", "Distinct target ports in total" },
    { "ashiato.sources", "sources", "ashiato.sources", I, M, NULL, NULL, NULL, { 0 }, "alert",
      "A spike's sources that account for its excess" },
    { "ashiato.prefix", "prefix", "ashiato.prefix", K, 0, NULL, NULL, NULL, { 0 }, "alert",
      "An address policy alert's prefix" },
};

const struct field_table field_catalog_sessions = {
    "sessions", catalog, ASH_ARRAY_LEN(catalog), "ash_doc(s.rowid, s.doc, s.sensor)"
};
const struct field_table field_catalog_alerts = {
    "alerts", alert_catalog, ASH_ARRAY_LEN(alert_catalog), "s.doc"
};

#undef F
#undef I
#undef N
#undef K
#undef T
#undef B
#undef M

const struct field_def *field_catalog_all(size_t *n)
{
    *n = ASH_ARRAY_LEN(catalog);
    return catalog;
}

static bool word_in(const char *list, const char *name, size_t len)
{
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t wl = e ? (size_t)(e - p) : strlen(p);
        if (wl == len && memcmp(p, name, len) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

const struct field_table *field_catalog_table(const char *name)
{
    if (name && !strcmp(name, field_catalog_sessions.name))
        return &field_catalog_sessions;
    if (name && !strcmp(name, field_catalog_alerts.name))
        return &field_catalog_alerts;
    return NULL;
}

const struct field_table *field_catalog_table_of(const struct field_def *f)
{
    const struct field_table *t = &field_catalog_alerts;
    if (f >= t->defs && f < t->defs + t->n)
        return t;
    return &field_catalog_sessions;
}

const char *field_catalog_sql_doc(const struct field_def *f)
{
    return (f->flags & FIELD_LINKS) ? LINKED_DOC : field_catalog_table_of(f)->sql_doc;
}

const char *field_catalog_es(const struct field_def *f, char *buf, size_t len)
{
    if (!(f->flags & FIELD_ESKEYWORD))
        return f->ecs;
    snprintf(buf, len, "%s.keyword", f->ecs);
    return buf;
}

const struct field_def *field_catalog_find(const char *name, size_t len)
{
    return field_catalog_find_in(&field_catalog_sessions, name, len);
}

const struct field_def *field_catalog_find_in(const struct field_table *t, const char *name,
                                              size_t len)
{
    if (!name)
        return NULL;
    if (len == (size_t)-1)
        len = strlen(name);
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const struct field_def *f = &t->defs[i];
        if ((strlen(f->name) == len && memcmp(f->name, name, len) == 0) ||
            (f->ecs[0] && strlen(f->ecs) == len && memcmp(f->ecs, name, len) == 0) ||
            word_in(f->aliases, name, len))
            return f;
    }
    return NULL;
}

const struct field_def *field_catalog_part(const struct field_def *f, int i)
{
    if (!(f->flags & (FIELD_PSEUDO | FIELD_SUM)) || i < 0 || i >= FIELD_ANY_MAX || !f->any[i])
        return NULL;
    return field_catalog_find_in(field_catalog_table_of(f), f->any[i], (size_t)-1);
}

const struct field_def *field_catalog_port(const struct field_def *f)
{
    return f->port ? field_catalog_find_in(field_catalog_table_of(f), f->port, (size_t)-1) : NULL;
}

/* Levenshtein distance of a[0..al) and b, capped at 99 for long inputs. */
static unsigned distance(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);
    unsigned row[64];
    if (al >= 63 || bl >= 63)
        return 99;
    for (size_t j = 0; j <= bl; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= al; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= bl; j++) {
            unsigned up = row[j];
            unsigned best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bl];
}

size_t field_catalog_nearest(const char *name, size_t len, const char **out, size_t max)
{
    return field_catalog_nearest_in(&field_catalog_sessions, name, len, out, max);
}

size_t field_catalog_nearest_in(const struct field_table *t, const char *name, size_t len,
                                const char **out, size_t max)
{
    unsigned best[8];
    size_t n = 0;
    if (!name)
        return 0;
    if (len == (size_t)-1)
        len = strlen(name);
    if (max > 8)
        max = 8;
    for (size_t i = 0; i < t->n && max; i++) {
        unsigned d = distance(name, len, t->defs[i].name);
        size_t at = n;
        while (at > 0 && best[at - 1] > d)
            at--;
        if (at >= max)
            continue;
        if (n == max)
            n--;
        memmove(best + at + 1, best + at, (n - at) * sizeof *best);
        memmove(out + at + 1, out + at, (n - at) * sizeof *out);
        best[at] = d;
        out[at] = t->defs[i].name;
        n++;
    }
    return n;
}

const char *field_catalog_type_name(enum field_type t)
{
    switch (t) {
    case FIELD_IP: return "ip";
    case FIELD_INTEGER: return "integer";
    case FIELD_KEYWORD: return "keyword";
    case FIELD_TIME: return "time";
    case FIELD_BOOLEAN: return "boolean";
    case FIELD_FLOAT: return "float";
    }
    return "?";
}

/* Arkime's type names in fields.json */
static const char *arkime_type(enum field_type t)
{
    switch (t) {
    case FIELD_IP: return "ip";
    case FIELD_INTEGER: return "integer";
    case FIELD_TIME: return "seconds";
    case FIELD_FLOAT: return "float";
    case FIELD_KEYWORD:
    case FIELD_BOOLEAN: return "termfield";
    }
    return "termfield";
}

/* The ES field of f, or "" (pseudo-fields and sums have none). */
static const char *db_field(const struct field_def *f, char *buf, size_t len)
{
    return field_catalog_es(f, buf, len);
}

char *field_catalog_json(size_t *len)
{
    return field_catalog_json_of(&field_catalog_sessions, len);
}

char *field_catalog_json_of(const struct field_table *t, size_t *len)
{
    json_object *arr = json_object_new_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const struct field_def *f = &t->defs[i];
        json_object *o = json_object_new_object(), *al = json_object_new_array();
        json_object_object_add(o, "exp", json_object_new_string(f->name));
        char es[128];
        const char *dbf = db_field(f, es, sizeof es);
        json_object_object_add(o, "dbField", json_object_new_string(dbf));
        json_object_object_add(o, "dbField2", json_object_new_string(dbf));
        json_object_object_add(o, "type", json_object_new_string(arkime_type(f->type)));
        json_object_object_add(o, "group", json_object_new_string(f->group));
        json_object_object_add(o, "friendlyName", json_object_new_string(f->name));
        json_object_object_add(o, "help", json_object_new_string(f->help));
        for (const char *p = f->aliases; *p;) {
            const char *e = strchr(p, ' ');
            size_t wl = e ? (size_t)(e - p) : strlen(p);
            json_object_array_add(al, json_object_new_string_len(p, (int)wl));
            p = e ? e + 1 : p + wl;
        }
        json_object_object_add(o, "aliases", al);
        json_object_object_add(o, "ecs", json_object_new_string(f->ecs));
        json_object_object_add(o, "ashiatoType",
                               json_object_new_string(field_catalog_type_name(f->type)));
        json_object_object_add(o, "multi", json_object_new_boolean(
            (f->flags & (FIELD_MULTI | FIELD_PSEUDO)) != 0));
        if (f->flags & (FIELD_PSEUDO | FIELD_SUM)) {
            json_object *parts = json_object_new_array();
            for (int k = 0; k < FIELD_ANY_MAX && f->any[k]; k++)
                json_object_array_add(parts, json_object_new_string(f->any[k]));
            json_object_object_add(o, (f->flags & FIELD_SUM) ? "sumOf" : "anyOf", parts);
        }
        if (f->port)
            json_object_object_add(o, "portField", json_object_new_string(f->port));
        json_object_array_add(arr, o);
    }
    size_t n = 0;
    const char *text = json_object_to_json_string_length(arr, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = text ? strndup(text, n) : NULL;
    if (out && len)
        *len = n;
    json_object_put(arr);
    return out;
}

/* Append printf text to a malloc'd buffer; false when out of memory (buffer freed). */
static bool add(char **buf, size_t *len, size_t *cap, const char *fmt, ...) ASH_PRINTF(4, 5);

static bool add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            break;
        if (*buf && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return true;
        }
        size_t want = (*cap ? *cap * 2 : 4096) + (size_t)n;
        char *b = realloc(*buf, want);
        if (!b)
            break;
        *buf = b;
        *cap = want;
    }
    free(*buf);
    *buf = NULL;
    return false;
}

/* The rows of one table's markdown. */
static bool table_rows(const struct field_table *t, char **b, size_t *n, size_t *cap)
{
    bool ok = true;
    for (size_t i = 0; ok && i < t->n; i++) {
        const struct field_def *f = &t->defs[i];
        char ecs[96], sq[96];
        if (f->flags & (FIELD_PSEUDO | FIELD_SUM)) {
            snprintf(ecs, sizeof ecs, "%s of %s, %s%s%s", (f->flags & FIELD_SUM) ? "sum" : "any",
                     f->any[0], f->any[1], f->any[2] ? ", " : "", f->any[2] ? f->any[2] : "");
            snprintf(sq, sizeof sq, "(its parts)");
        } else {
            if (f->flags & FIELD_ESKEYWORD)
                snprintf(ecs, sizeof ecs, "`%s` (ES `%s.keyword`)", f->ecs, f->ecs);
            else
                snprintf(ecs, sizeof ecs, "`%s`", f->ecs);
            if (f->sql)
                snprintf(sq, sizeof sq, "column `%s`", f->sql);
            else if (f->flags & FIELD_SEGMAP)
                snprintf(sq, sizeof sq, "`ip.src`/`ip.dst` by the current map (both stores)");
            else if (f->flags & FIELD_LINKS)
                snprintf(sq, sizeof sq, "table `session_links`");
            else
                snprintf(sq, sizeof sq, "document");
        }
        if (f->posting)
            snprintf(sq + strlen(sq), sizeof sq - strlen(sq), ", postings `%s`", f->posting);
        ok = add(b, n, cap, "| `%s` | %s | %s%s | %s | %s | %s |\n", f->name, f->aliases,
                 field_catalog_type_name(f->type), (f->flags & FIELD_MULTI) ? " (several)" : "",
                 ecs, sq, f->help);
    }
    return ok;
}

char *field_catalog_markdown(size_t *len)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    bool ok = add(&b, &n, &cap, "# Query fields\n\n"
                  "Generated from `indexer/field_catalog.c`; do not edit by hand. Regenerate with\n"
                  "`build/tests/test_field_catalog --write docs/fields.md` (the same unit test "
                  "fails when\nthis file is stale).\n\n"
                  "Expressions use Arkime's viewer grammar: `==` `!=` `<` "
                  "`<=` `>` `>=`,\n`&&` `||` `!` and parentheses, lists `[a,b]` (any) and "
                  "`]a,b[` (all), `\"quoted\"`,\n`wild*cards`, `/regex/`, integer ranges "
                  "`80-90`, CIDR and partial IPs, `ip:port`, `EXISTS!`.\n"
                  "On a field with several values `==` matches when any value matches, and `!=` "
                  "when none does\n(a session without the field counts as none). Times are UTC; `==` "
                  "on a time is its whole second.\nUnlike Arkime, a quoted value is literal "
                  "text (`\"a*\"` has no wildcard), and `protocols`\nmatches the transport "
                  "(tcp, udp, ...) whether or not the sensor wrote it into "
                  "`ashiato.protocols`.\n\n"
                  "| Name | Also | Type | ECS / ES field | SQLite reads | Help |\n"
                  "| --- | --- | --- | --- | --- | --- |\n");
    ok = ok && table_rows(&field_catalog_sessions, &b, &n, &cap);
    ok = ok && add(&b, &n, &cap, "\n## Alert fields\n\n"
                   "`alerts.json?expression=...` and `ashiato alerts --expression` take the same "
                   "grammar over\nthe alert documents (docs/detection.md); `fields.json?type=alerts` "
                   "lists these. SQLite\nreads the `alerts` table's columns or its `doc`. "
                   "`ashiato.score` is a decimal (`score >= 1.5`,\n`score == 0.5-2`).\n\n"
                   "| Name | Also | Type | ECS / ES field | SQLite reads | Help |\n"
                   "| --- | --- | --- | --- | --- | --- |\n");
    ok = ok && table_rows(&field_catalog_alerts, &b, &n, &cap);
    if (ok && len)
        *len = n;
    return ok ? b : NULL;
}
