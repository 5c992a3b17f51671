/* frag_table.h -- IP fragments: which session a fragment belongs to, and when its datagram is
 *                 whole (Arkime counts a fragmented datagram as one packet).
 * Owns:  two fixed, direct-mapped tables: ports by (src, dst, protocol, id), for callers that
 *        only want fragments keyed (frag_table_ports), and datagrams being reassembled
 *        (frag_table_add): which byte ranges arrived, the first fragment's L4 fields, and
 *        where each fragment was put in the pcap store.
 * Lends: frag_table_take's *parts, valid until the next frag_table_add().
 * Never: keeps payload (a session counts the datagram; app parsers do not see it);
 *        allocates after frag_table_new(); holds more than FRAG_MAX_PARTS fragments or
 *        FRAG_MAX_BYTES bytes of one datagram.
 * Trap:  a datagram that never completes (a lost fragment, a slot taken by a newer datagram,
 *        FRAG_MAX_AGE_US passed) is counted in frag_table_dropped() and joins no session; its
 *        fragments stay in the pcap store like packets of no session. */
#ifndef ASHIATO_FRAG_TABLE_H
#define ASHIATO_FRAG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include "ashiato.h"
#include "decode.h"

#define FRAG_MAX_PARTS 48                    /* Arkime gives up past 50 */
#define FRAG_MAX_BYTES 65535                 /* an IP datagram's data cannot be longer */
#define FRAG_MAX_AGE_US (30LL * 1000000)

struct frag_table;
struct frag_dgram;

/* where one fragment went in the pcap store (stored = false: it could not be written) */
struct frag_position {
    uint64_t file, off;
    bool stored;
};

enum frag_result {
    FRAG_PENDING = 0,     /* kept; the datagram is not whole yet */
    FRAG_COMPLETE,        /* d now describes the whole datagram; *parts lists its fragments */
    FRAG_DROPPED,         /* the datagram was given up: *event says why */
};

struct frag_table *frag_table_new(size_t entries, char err[ASH_ERR_LEN]);
void frag_table_free(struct frag_table *t);

/* d is a fragment. The first fragment (ports read) is remembered; a later one gets its
 * ports filled in. Returns false for a later fragment whose first was never seen. */
bool frag_table_ports(struct frag_table *t, struct decoded *d, int64_t ts_us);

/* d is a fragment (d->is_fragment) that the store put at *pos; *dgram is set to its datagram
 * (NULL when dropped), for frag_table_take(). On FRAG_COMPLETE, d is rewritten as Arkime
 * counts the reassembled datagram: the first fragment's ports and TCP fields, cap_len = this
 * frame's bytes up to the fragment data + the datagram's data, payload_wire_len = the
 * datagram's L4 payload, no payload bytes. On FRAG_PENDING, d gets the first fragment's ports
 * once it has been seen (so the caller can find the session without making one). On
 * FRAG_DROPPED *event is DECODE_FRAG_OVERLAP, DECODE_FRAG_TOO_BIG or DECODE_FRAG_TOO_MANY. */
enum frag_result frag_table_add(struct frag_table *t, struct decoded *d, int64_t ts_us,
                                const struct frag_position *pos, enum decode_event *event,
                                struct frag_dgram **dgram);

/* The store positions of dgram's fragments not taken before, in arrival order (so a session
 * gets them in the order they were stored): *parts, the count returned. Valid until the next
 * frag_table_add(); dgram must be the one the last frag_table_add() gave. */
size_t frag_table_take(struct frag_table *t, struct frag_dgram *dgram,
                       const struct frag_position **parts);

/* datagrams given up so far (incomplete when their slot was reused or expired, or dropped) */
uint64_t frag_table_dropped(const struct frag_table *t);

#endif
