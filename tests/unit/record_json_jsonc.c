/* record_json_jsonc.c -- the json-c SessionRecord renderer that common/record_json.c replaced,
 * kept verbatim (its helpers renamed record_json_*_jsonc) as the oracle of the hand-written
 * one: test_record_json and fuzz_record_json demand byte-identical output.
 * Owns:  nothing but that old mapping (json-c objects, gmtime_r + strftime, inet_ntop, nettle).
 * Never: links into the product; changes unless the session document itself changes.
 * Trap:  a change to the document goes into both renderers, this one first. */
#include "record_json_jsonc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <nettle/base64.h>

void record_json_ip_jsonc(const uint8_t *ip, size_t len, char out[48])
{
    out[0] = '\0';
    if (len == 4)
        inet_ntop(AF_INET, ip, out, 48);
    else if (len == 16)
        inet_ntop(AF_INET6, ip, out, 48);
}

void record_json_time_jsonc(int64_t us, char out[40])
{
    /* a hostile record may carry any int64: keep to years 0001..9999, which gmtime handles */
    const int64_t lo = -62135596800LL * 1000000, hi = 253402300799LL * 1000000 + 999999;
    us = us < lo ? lo : us > hi ? hi : us;
    time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long frac = (long)(us - (int64_t)secs * 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06ldZ", frac);
}

const char *record_json_transport_jsonc(uint32_t iana, char buf[8])
{
    switch (iana) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    case 47: return "gre";
    case 50: return "esp";
    default: snprintf(buf, 8, "%u", iana); return buf;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* A JSON string from bytes that came off the wire: invalid UTF-8 becomes U+FFFD, so the
 * document stays valid JSON for every consumer (Elasticsearch rejects it otherwise). */
static json_object *new_text(const char *v, size_t len)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0, bad = 0;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i);
        if (!n) { bad++; n = 1; }
        i += n;
    }
    if (!bad)
        return json_object_new_string_len(v, (int)len);
    char *buf = malloc(len + bad * 2 + 1);
    if (!buf)
        return json_object_new_string("");
    size_t o = 0;
    for (i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        if (n) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    json_object *r = json_object_new_string_len(buf, (int)o);
    free(buf);
    return r;
}

static json_object *obj(json_object *parent, const char *key)
{
    json_object *o;
    if (json_object_object_get_ex(parent, key, &o))
        return o;
    o = json_object_new_object();
    json_object_object_add(parent, key, o);
    return o;
}

static void add_str(json_object *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_object_add(o, key, new_text(v, strlen(v)));
}

static void add_int(json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_str_array(json_object *o, const char *key, char **v, size_t n)
{
    if (!n)
        return;
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, new_text(v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0));
    json_object_object_add(o, key, a);
}

static void add_endpoint(json_object *root, const char *key, const Ashiato__Endpoint *e)
{
    char ip[48];
    json_object *o = obj(root, key);
    if (!e)
        return;
    record_json_ip_jsonc(e->ip.data, e->ip.len, ip);
    add_str(o, "ip", ip);
    add_int(o, "port", e->port);
    add_int(o, "bytes", (int64_t)e->bytes);
    add_int(o, "packets", (int64_t)e->packets);
    if (e->mac.len == 6) {
        char mac[18];
        const uint8_t *m = e->mac.data;
        snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                 m[5]);
        add_str(o, "mac", mac);
    }
}

static void add_bytes_text(json_object *o, const char *key, ProtobufCBinaryData b)
{
    if (!b.len)
        return;
    json_object_object_add(o, key, new_text((const char *)b.data, b.len));
}

char *record_json_render_jsonc(const Ashiato__SessionRecord *r, const char *observer, size_t *len)
{
    json_object *root = json_object_new_object();
    char t1[40], t2[40], buf[8];
    if (!root)
        return NULL;

    record_json_time_jsonc(r->start_us, t1);
    record_json_time_jsonc(r->end_us, t2);
    add_str(root, "@timestamp", t1);
    json_object *ev = obj(root, "event");
    add_str(ev, "start", t1);
    add_str(ev, "end", t2);
    int64_t dur_ns;
    if (__builtin_sub_overflow(r->end_us, r->start_us, &dur_ns) ||
        __builtin_mul_overflow(dur_ns, 1000, &dur_ns))
        dur_ns = r->end_us >= r->start_us ? INT64_MAX : INT64_MIN;
    add_int(ev, "duration", dur_ns);

    add_endpoint(root, "source", r->source);
    add_endpoint(root, "destination", r->destination);

    json_object *net = obj(root, "network");
    add_str(net, "transport", record_json_transport_jsonc(r->iana_number, buf));
    snprintf(buf, sizeof buf, "%u", r->iana_number);
    add_str(net, "iana_number", buf);
    add_str(net, "type", r->ip_version == 6 ? "ipv6" : "ipv4");
    uint64_t bytes = (r->source ? r->source->bytes : 0) + (r->destination ? r->destination->bytes : 0);
    uint64_t pkts = (r->source ? r->source->packets : 0) + (r->destination ? r->destination->packets : 0);
    add_int(net, "bytes", (int64_t)bytes);
    add_int(net, "packets", (int64_t)pkts);
    add_str(net, "community_id", r->community_id);
    if (r->n_vlan) {
        json_object *a = json_object_new_array_ext((int)r->n_vlan);
        for (size_t i = 0; i < r->n_vlan; i++)
            json_object_array_add(a, json_object_new_int64(r->vlan[i]));
        json_object_object_add(obj(net, "vlan"), "id", a);
    }
    add_str(net, "protocol", r->protocol);

    add_str(obj(root, "observer"), "name", observer ? observer : r->observer_name);

    if (r->n_http_host)
        add_str_array(obj(root, "url"), "domain", r->http_host, r->n_http_host);
    if (r->n_http_method || r->n_http_status) {
        json_object *http = obj(root, "http");
        if (r->n_http_method)
            add_str_array(obj(http, "request"), "method", r->http_method, r->n_http_method);
        if (r->n_http_status) {
            json_object *a = json_object_new_array_ext((int)r->n_http_status);
            for (size_t i = 0; i < r->n_http_status; i++)
                json_object_array_add(a, json_object_new_int64(r->http_status[i]));
            json_object_object_add(obj(http, "response"), "status_code", a);
        }
    }
    if (r->n_user_agent)
        add_str_array(obj(root, "user_agent"), "original", r->user_agent, r->n_user_agent);
    if (r->n_dns_query || (r->dns_rcode && *r->dns_rcode)) {
        json_object *dns = obj(root, "dns");
        if (r->n_dns_query)
            add_str_array(obj(dns, "question"), "name", r->dns_query, r->n_dns_query);
        add_str(dns, "response_code", r->dns_rcode);
    }
    if (r->n_tls_sni || (r->tls_version && *r->tls_version)) {
        json_object *tls = obj(root, "tls");
        if (r->n_tls_sni)
            add_str_array(obj(tls, "client"), "server_name", r->tls_sni, r->n_tls_sni);
        add_str(tls, "version", r->tls_version);
    }

    json_object *ash = obj(root, "ashiato");
    add_bytes_text(ash, "session_id", r->id);
    add_bytes_text(ash, "root_id", r->root_id);
    add_int(ash, "segment", r->segment);
    add_str(ash, "conn_state", r->conn_state);
    add_str(ash, "history", r->history);
    if (r->tcp_flags) {
        json_object *f = obj(ash, "tcp_flags");
        add_int(f, "syn", r->tcp_flags->syn);
        add_int(f, "syn_ack", r->tcp_flags->syn_ack);
        add_int(f, "ack", r->tcp_flags->ack);
        add_int(f, "psh", r->tcp_flags->psh);
        add_int(f, "fin", r->tcp_flags->fin);
        add_int(f, "rst", r->tcp_flags->rst);
        add_int(f, "urg", r->tcp_flags->urg);
    }
    json_object *db = obj(ash, "data_bytes");
    add_int(db, "source", r->source ? (int64_t)r->source->data_bytes : 0);
    add_int(db, "destination", r->destination ? (int64_t)r->destination->data_bytes : 0);
    if (r->n_tags)
        add_str_array(ash, "protocols", r->tags, r->n_tags);
    if ((r->ssh_client && *r->ssh_client) || (r->ssh_server && *r->ssh_server)) {
        json_object *ssh = obj(ash, "ssh");
        add_str(ssh, "client", r->ssh_client);
        add_str(ssh, "server", r->ssh_server);
    }
    if (r->icmp_quoted_count) {
        json_object *q = obj(ash, "icmp_quoted");
        add_int(q, "type", r->icmp_error_type);
        add_int(q, "code", r->icmp_error_code);
        const ProtobufCBinaryData *ips[2] = { &r->icmp_quoted_src_ip, &r->icmp_quoted_dst_ip };
        const uint32_t ports[2] = { r->icmp_quoted_src_port, r->icmp_quoted_dst_port };
        for (int i = 0; i < 2; i++) {
            json_object *e = obj(q, i ? "destination" : "source");
            if (ips[i]->len == 4 || ips[i]->len == 16) {
                char ip[48];
                record_json_ip_jsonc(ips[i]->data, ips[i]->len, ip);
                add_str(e, "ip", ip);
            }
            add_int(e, "port", ports[i]);
        }
        char num[8];   /* cut as network.iana_number's */
        snprintf(num, sizeof num, "%u", r->icmp_quoted_iana_number);
        add_str(q, "iana_number", num);
        add_str(q, "community_id", r->icmp_quoted_community_id);
        add_int(q, "count", r->icmp_quoted_count);
    } else if (r->icmp_error_type) {
        json_object *e = obj(ash, "icmp_error");
        add_int(e, "type", r->icmp_error_type);
        add_int(e, "code", r->icmp_error_code);
    }
    if (r->truncated_fields)
        json_object_object_add(ash, "truncated", json_object_new_boolean(1));
    add_str(ash, "segment_name", r->segment_name);
    if (r->packet_pos.len) {
        /* the sensor's store positions, base64 (standard, padded): ashiato pcap reads them */
        char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(r->packet_pos.len) + 1);
        if (b64) {
            base64_encode_raw(b64, r->packet_pos.len, r->packet_pos.data);
            json_object_object_add(ash, "packet_pos", json_object_new_string_len(
                b64, (int)BASE64_ENCODE_RAW_LENGTH(r->packet_pos.len)));
            free(b64);
        }
        json_object *a = json_object_new_array_ext((int)r->n_packet_files);
        for (size_t i = 0; i < r->n_packet_files; i++)
            json_object_array_add(a, json_object_new_int64((int64_t)r->packet_files[i]->file_id));
        json_object_object_add(ash, "packet_files", a);
    }
    if (r->n_linked) {
        json_object *a = json_object_new_array_ext((int)r->n_linked);
        for (size_t i = 0; i < r->n_linked; i++)
            json_object_array_add(a, new_text((const char *)r->linked[i].data, r->linked[i].len));
        json_object_object_add(ash, "linked", a);
    }

    size_t n;
    const char *text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = text ? strndup(text, n) : NULL;
    if (out && len)
        *len = n;
    json_object_put(root);
    return out;
}
