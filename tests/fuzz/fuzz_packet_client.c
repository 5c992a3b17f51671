/* fuzz_packet_client.c -- libFuzzer over the two untrusted inputs of pcapstore/packet_client.c:
 * a session document (packet_client_query_from_json: JSON, base64 positions, addresses that
 * must pass inet_pton before they reach a filter) and an answer's pcap bytes checked against
 * the session (packet_client_check: record walk, time range, flow filter).
 *
 * An input is split at its first NUL byte: the document before it, the answer after it. A
 * document that does not make a query is replaced by a fixed one, so that every input reaches
 * the answer check. Seeds: tests/fuzz/corpus/fuzz_packet_client/ (make_packet_client_seeds.py). */
#include <stdint.h>
#include <string.h>

#include "packet_client.h"

static const char fixed_doc[] =
    "{\"event\":{\"start\":\"2021-09-28T12:50:00.000000Z\",\"end\":\"2021-09-28T12:50:10.000000Z\"},"
    "\"source\":{\"ip\":\"10.0.0.1\",\"port\":1111},\"destination\":{\"ip\":\"10.0.0.2\",\"port\":80},"
    "\"network\":{\"iana_number\":\"6\",\"vlan\":{\"id\":[7]}},\"ashiato\":{\"session_id\":\"s\","
    "\"packet_pos\":\"AgAAAAAAAAAAAQMY\",\"packet_files\":[1]}}";

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
    if (q.check)
        packet_client_check(&q, ans, ans_len, &packets, err);
    packet_client_query_free(&q);
    return 0;
}
