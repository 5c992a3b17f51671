/* frag_table.h -- ports for IP fragments that carry none.
 * Owns:  a fixed, direct-mapped table from (src, dst, protocol, fragment id) to the ports the
 *        first fragment carried, so later fragments join the right session.
 * Never: reassembles or keeps payload (sessions count fragments as packets, like flow tools);
 *        allocates after frag_table_new().
 * Trap:  a fragment that arrives before its first fragment finds no entry: it keeps ports 0
 *        and the caller counts it as an orphan. */
#ifndef ASHIATO_FRAG_TABLE_H
#define ASHIATO_FRAG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include "ashiato.h"
#include "decode.h"

struct frag_table;

struct frag_table *frag_table_new(size_t entries, char err[ASH_ERR_LEN]);
void frag_table_free(struct frag_table *t);

/* d is a fragment. The first fragment (ports read) is remembered; a later one gets its
 * ports filled in. Returns false for a later fragment whose first was never seen. */
bool frag_table_ports(struct frag_table *t, struct decoded *d, int64_t ts_us);

#endif
