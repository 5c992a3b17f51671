/* packet_client.h -- asks a packet endpoint (a sensor's packet_endpoint, or the aggregator's,
 *                    which relays to the sensor named by observer.name) for packets, and gets
 *                    pcap bytes back or a typed error. Shared by `ashiato pcap` and the HTTP API.
 * Owns:  one DEALER socket and its ZeroMQ context per client; the queries it builds from a
 *        session document (ashiato.packet_pos, else the session's time range and flow as a
 *        BPF filter) or from a time range and filter; each answer's buffer until freed.
 * Lends: nothing: results are malloc'd and freed by packet_client_result_free.
 * Never: reads a sensor's files; returns packets that are not the session's: an answer to a
 *        session query is checked packet by packet against the session's time range and
 *        flow (either direction), and refused as MISMATCH, with no bytes, if one fails;
 *        pastes an unchecked address into a filter (inet_pton first).
 * Trap:  one client per thread (ZeroMQ sockets are not thread safe); an answer is held whole
 *        in memory (at most the query's max_bytes, the sensor's 256 MiB by default). */
#ifndef ASHIATO_PACKET_CLIENT_H
#define ASHIATO_PACKET_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

enum packet_client_status {
    PACKET_CLIENT_OK = 0,
    /* the endpoint answered with a refusal */
    PACKET_CLIENT_EXPIRED,                    /* retention removed the packets */
    PACKET_CLIENT_MISMATCH,                   /* the positions are another store's (pcap_dir
                                                 recreated), or what came back is not the
                                                 session's packets */
    PACKET_CLIENT_NOT_FOUND,                  /* no such file, or sensor not connected */
    PACKET_CLIENT_BAD_REQUEST,
    PACKET_CLIENT_TOO_LARGE,
    PACKET_CLIENT_REMOTE_ERROR,               /* the sensor's ERROR: damaged file, I/O, busy */
    /* nobody answered */
    PACKET_CLIENT_NO_SOCKET,                  /* an ipc:// path that does not exist */
    PACKET_CLIENT_DENIED,                     /* permission denied on the endpoint */
    PACKET_CLIENT_REFUSED,                    /* nothing listens there (sensor stopped) */
    PACKET_CLIENT_NO_ANSWER,                  /* connected, no answer within the timeout */
    PACKET_CLIENT_LOCAL,                      /* bad endpoint, out of memory, a broken answer */
};

/* true for statuses where the endpoint answered (the request reached a store) */
bool packet_client_answered(enum packet_client_status s);
const char *packet_client_status_name(enum packet_client_status s);

struct packet_client_query {
    char name[128];                           /* session id, or a label for messages */
    char sensor[128];                         /* observer.name: routes through an aggregator */
    uint8_t *pos;                             /* positions (malloc'd), pos_len bytes */
    size_t pos_len;
    uint64_t *files;                          /* ashiato.packet_files (malloc'd) */
    size_t nfiles;
    int64_t start_us, end_us;                 /* time range (with bpf), or the session's */
    char bpf[1024];
    uint64_t max_packets, max_bytes;          /* 0: the sensor's limits */
    /* the session's own time range and flow, to check what comes back (session queries) */
    bool check;
    int64_t check_start_us, check_end_us;
    char check_bpf[1024];                     /* the 5-tuple, either direction */
    char check_l4[512];                       /* outer TCP/UDP with ports visible */
    uint8_t addr_a[16], addr_b[16];
    size_t addr_len;                          /* 4 or 16 */
    /* the same flow as numbers, for packet_match.h (check_bpf/check_l4 say what it means) */
    bool check_ports;                         /* check_l4 is set */
    uint8_t check_proto;
    uint16_t check_port_a, check_port_b;      /* source.port, destination.port */
    uint16_t check_vlan[24];                  /* network.vlan.id, as "vlan N and" prefixes */
    size_t check_nvlan;
    bool by_flow;                             /* no positions: asked by time range and flow */
};

/* A query from one session document (a JSON object as --emit-json writes it). 0, or -1 and
 * err (not JSON, no usable positions or flow, an address that is not an IP address). */
int packet_client_query_from_json(struct packet_client_query *q, const char *json, size_t len,
                                  char err[ASH_ERR_LEN]);
/* A time-range query: packets in [start_us, end_us] matching bpf (NULL or "" for all). */
int packet_client_query_range(struct packet_client_query *q, int64_t start_us, int64_t end_us,
                              const char *bpf, const char *sensor, char err[ASH_ERR_LEN]);
void packet_client_query_free(struct packet_client_query *q);   /* the query's buffers */

struct packet_client_result {
    enum packet_client_status status;
    uint8_t *pcap;                            /* a pcap file: header + records; NULL if none */
    size_t len;
    uint64_t packets;                         /* checked packets (session queries; 0 else) */
    char error[ASH_ERR_LEN];                  /* why, when status is not OK */
    char note[ASH_ERR_LEN];                   /* an OK answer's remark (incomplete, ...) */
};

struct packet_client;

/* A client of endpoint (ipc:///PATH, as the endpoints bind: see packet_endpoint.h). NULL
 * and err when out of memory. Connects at the first fetch, whose result then tells a missing
 * socket, a refused permission and a stopped sensor apart. */
struct packet_client *packet_client_open(const char *endpoint, char err[ASH_ERR_LEN]);
void packet_client_close(struct packet_client *c);   /* accepts NULL */

/* Ask for q's packets, waiting up to timeout_ms for each answer chunk. Fills *r (always; free
 * it with packet_client_result_free) and returns r->status. */
enum packet_client_status packet_client_fetch(struct packet_client *c, const struct packet_client_query *q,
                                              int timeout_ms, struct packet_client_result *r);
void packet_client_result_free(struct packet_client_result *r);

/* The check packet_client_fetch applies to an answer of a session query (q->check): every
 * packet of the pcap bytes in the session's time range and of its flow (packet_match.h: the
 * verdicts of check_bpf/check_l4 without libpcap; a link type it cannot check is refused). 0 and *packets, or -1
 * and err naming the first packet that fails (or a malformed file). Untrusted bytes. */
int packet_client_check(const struct packet_client_query *q, const uint8_t *pcap, size_t len,
                        uint64_t *packets, char err[ASH_ERR_LEN]);

/* ISO 8601 UTC (2021-09-28T13:00:00.5Z) or epoch seconds (1632834000.5); 0 or -1 */
int packet_client_parse_time(const char *s, int64_t *us);

#endif
