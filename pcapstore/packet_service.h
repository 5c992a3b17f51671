/* packet_service.h -- answers packet requests from the pcap store: one request in, a pcap
 *                     stream out in PacketResponse chunks (proto/ashiato.proto).
 * Owns:  request validation, the two ways to ask (a session's positions, SessionRecord
 *        .packet_pos; or a time range plus a BPF filter over the catalogue, the Stenographer
 *        way: a flow key is a BPF such as "host A and host B and tcp port P and port Q"),
 *        the limits on bytes and packets, and the answer's statuses:
 *          OK / MORE    pcap bytes; the first chunk starts with the 24-byte file header
 *          EXPIRED      a file the request needs was deleted by retention
 *          NOT_FOUND    unknown file id, or every asked packet was lost in a crash
 *          BAD_REQUEST  malformed message or positions, an offset outside its file or not at
 *                       the start of a packet record, both or neither kind of query, bad BPF
 *          TOO_LARGE    more packets or bytes than the limits (a time query sends what fits
 *                       first, then ends with TOO_LARGE)
 *          ERROR        a damaged file or an I/O error
 *        Every non-OK answer carries one line of error text.
 * Lends: each emitted PacketResponse (and its pcap bytes) only for the emit call.
 * Never: takes a path from a request (file ids only); reads outside a file's catalogued size;
 *        serves bytes from an offset that a walk from a known record boundary does not reach
 *        (pcap_format.h Trap); crashes, exits or logs on bad input (answers it, counts it).
 * Trap:  answering is synchronous and one at a time (a mutex): a 256 MiB answer holds the
 *        service for as long as the emit callback takes to send it. */
#ifndef ASHIATO_PACKET_SERVICE_H
#define ASHIATO_PACKET_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"
#include "ashiato.pb-c.h"
#include "pcap_store.h"

struct packet_service_config {
    long long max_bytes;                      /* pcap bytes per answer at most (256 MiB) */
    long long max_packets;                    /* packets per answer at most (1,000,000) */
    long long chunk_size;                     /* pcap bytes per PacketResponse (1 MiB) */
    long long sync_ms;                        /* wait this long for the writer (1000) */
};

void packet_service_config_defaults(struct packet_service_config *cfg);

/* Called once per chunk, in order; the last chunk's status is not MORE. Return 0, or -1 to
 * abandon the answer (the peer is gone). */
typedef int (*packet_service_emit_fn)(void *ctx, const Ashiato__PacketResponse *resp);

struct packet_service_stats {
    uint64_t requests;
    uint64_t by_status[8];                    /* by final Ashiato__PacketResponse__Status */
    uint64_t packets, bytes;                  /* served */
    uint64_t lost;                            /* asked packets lost in a crash or I/O error */
    uint64_t abandoned;                       /* emit returned -1 */
};

struct packet_service;

struct packet_service *packet_service_new(const struct packet_service_config *cfg,
                                          struct pcap_store *store, char err[ASH_ERR_LEN]);
void packet_service_free(struct packet_service *svc);

/* Answer req. Returns the final status sent, or -1 if emit gave up. */
int packet_service_answer(struct packet_service *svc, const Ashiato__PacketRequest *req,
                          packet_service_emit_fn emit, void *ctx);
/* Unpack a PacketRequest from untrusted bytes and answer it (BAD_REQUEST if it does not
 * unpack). */
int packet_service_answer_bytes(struct packet_service *svc, const uint8_t *buf, size_t len,
                                packet_service_emit_fn emit, void *ctx);

void packet_service_stats(struct packet_service *svc, struct packet_service_stats *out);

const char *packet_service_status_name(int status);

#endif
