/* fuzz_packet_client.c -- libFuzzer over the two untrusted inputs of pcapstore/packet_client.c:
 * a session document (packet_client_query_from_json: JSON, base64 positions, addresses that
 * must pass inet_pton before they reach a filter) and an answer's pcap bytes checked against
 * the session (packet_client_check: record walk, time range, flow check by packet_match.c).
 * Each input is also a differential test of packet_match against libpcap, its oracle (linked
 * here only): the check_bpf/check_l4 strings the query carries are compiled for the answer's
 * link type as the client did before packet_match, and every record's verdicts must agree
 * (and the matcher must refuse a link type exactly where libpcap cannot compile, except the
 * link types packet_match.c says it refuses on purpose); a disagreement traps.
 *
 * An input is split at its first NUL byte: the document before it, the answer after it. A
 * document that does not make a query is replaced by a fixed one, so that every input reaches
 * the answer check. Seeds: tests/fuzz/corpus/fuzz_packet_client/ (make_packet_client_seeds.py). */
#include <stdint.h>
#include <string.h>
#include <pcap/pcap.h>

#include "cursor.h"
#include "packet_client.h"
#include "packet_match.h"

static const char fixed_doc[] =
    "{\"event\":{\"start\":\"2021-09-28T12:50:00.000000Z\",\"end\":\"2021-09-28T12:50:10.000000Z\"},"
    "\"source\":{\"ip\":\"10.0.0.1\",\"port\":1111},\"destination\":{\"ip\":\"10.0.0.2\",\"port\":80},"
    "\"network\":{\"iana_number\":\"6\",\"vlan\":{\"id\":[7]}},\"ashiato\":{\"session_id\":\"s\","
    "\"packet_pos\":\"AgAAAAAAAAAAAQMY\",\"packet_files\":[1]}}";

static const int sensor_links[] = { 0, 1, 9, 12, 14, 105, 107, 108, 113, 127, 228, 229, 239, 276 };

/* packet_match against libpcap on the answer's records (the walk of packet_client_check) */
static void differential(const struct packet_client_query *q, const uint8_t *ans, size_t len)
{
    struct cursor c = cursor_make(ans, len);
    uint32_t magic = cursor_le32(&c);
    bool swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
    if (c.bad || !(swap || magic == 0xa1b23c4du || magic == 0xa1b2c3d4u))
        return;
    cursor_skip(&c, 12);
    uint32_t snap = cursor_le32(&c), link = cursor_le32(&c);
    if (c.bad)
        return;
    if (swap)
        snap = __builtin_bswap32(snap), link = __builtin_bswap32(link);
    char err[ASH_ERR_LEN];
    struct packet_match m;
    bool inits = packet_match_init(&m, link, q->check_ports, q->check_proto, q->check_port_a, q->check_port_b,
                                   q->addr_a, q->addr_b, q->addr_len, q->check_vlan, q->check_nvlan, err) == 0;
    pcap_t *dead = pcap_open_dead((int)(link & 0x0fffffff), snap ? (int)snap : 262144);
    struct bpf_program flow = { 0 }, l4 = { 0 };
    bool have_flow = dead && pcap_compile(dead, &flow, q->check_bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
    bool have_l4 = have_flow && q->check_l4[0] && pcap_compile(dead, &l4, q->check_l4, 1, PCAP_NETMASK_UNKNOWN) == 0;
    bool compiles = have_flow && (have_l4 || !q->check_l4[0]);
    uint32_t dlt = link & 0x0fffffff;
    bool known = false;
    for (size_t i = 0; i < sizeof sensor_links / sizeof sensor_links[0]; i++)
        known |= dlt == (uint32_t)sensor_links[i];
    bool exotic = !known || ((dlt == 105 || dlt == 127) && (q->check_ports || q->check_nvlan));
    if ((inits && !compiles) || (!inits && compiles && !exotic))
        __builtin_trap();
    while (inits && compiles && q->check_ports && cursor_left(&c)) {
        cursor_skip(&c, 8);
        uint32_t incl = cursor_le32(&c);
        cursor_skip(&c, 4);
        if (swap)
            incl = __builtin_bswap32(incl);
        const uint8_t *d = cursor_bytes(&c, incl);
        if (c.bad)
            break;
        struct pcap_pkthdr h = { .caplen = incl, .len = incl };
        if ((pcap_offline_filter(&l4, &h, d) != 0) != packet_match_l4(&m, d, incl) ||
            (pcap_offline_filter(&flow, &h, d) != 0) != packet_match_flow(&m, d, incl))
            __builtin_trap();
    }
    if (have_flow)
        pcap_freecode(&flow);
    if (have_l4)
        pcap_freecode(&l4);
    if (dead)
        pcap_close(dead);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t doc_len = nul ? (size_t)(nul - data) : size;
    const uint8_t *ans = nul ? nul + 1 : data + size;
    size_t ans_len = (size_t)(data + size - ans);
    struct packet_client_query q;
    char err[ASH_ERR_LEN];
    if (packet_client_query_from_json(&q, (const char *)data, doc_len, err) < 0 &&
        packet_client_query_from_json(&q, fixed_doc, sizeof fixed_doc - 1, err) < 0)
        __builtin_trap();                     /* the fixed document must always make a query */
    uint64_t packets = 0;
    if (q.check) {
        packet_client_check(&q, ans, ans_len, &packets, err);
        differential(&q, ans, ans_len);
    }
    packet_client_query_free(&q);
    return 0;
}
