/* pcap_index.c -- per-session packet positions in a fixed chunk pool (see pcap_index.h).
 * Owns:  the pool, its free list, the chunk layout.
 * Never: allocates after pcap_index_new(); logs.
 *
 * A list is a chain of chunks. The first (head) chunk carries the list's state (tail chunk,
 * counts, the last position for the deltas) and 30 bytes of encoded tokens; the others carry
 * 60. Tokens never straddle a failed allocation: the room a token needs is secured before it
 * is copied, so a list is always a whole number of tokens. */
#include "pcap_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_DATA 30
#define BODY_DATA (PCAP_INDEX_CHUNK - 4)

struct head {
    uint32_t next, tail;
    uint32_t count, bytes;                    /* positions, token bytes */
    uint64_t last_file, last_off;
    uint8_t tail_used, flags;
    uint8_t data[HEAD_DATA];
};

struct body {
    uint32_t next;
    uint8_t data[BODY_DATA];
};

union chunk {
    struct head h;
    struct body b;
};

_Static_assert(sizeof(union chunk) == PCAP_INDEX_CHUNK, "a pcap_index chunk must be 64 bytes");

struct pcap_index {
    union chunk *pool;                        /* [0] unused: 0 means "none" */
    uint32_t nchunks, free_head;              /* released chunks, a list through next */
    uint32_t fresh;                           /* chunks from here on were never used: taking
                                                 them in order leaves the pool's pages untouched
                                                 (not faulted in) until they are needed */
    struct pcap_index_stats stats;
    uint64_t store_id;                        /* 0: encode version 1 */
};

void pcap_index_set_store_id(struct pcap_index *idx, uint64_t store_id)
{
    idx->store_id = store_id;
}

struct pcap_index *pcap_index_new(size_t chunks, char err[ASH_ERR_LEN])
{
    if (chunks < 16 || chunks > UINT32_MAX - 1) {
        snprintf(err, ASH_ERR_LEN, "pcap_index: expected 16..4294967294 chunks, got %zu", chunks);
        return NULL;
    }
    struct pcap_index *idx = calloc(1, sizeof *idx);
    if (!idx || !(idx->pool = ash_calloc_array(chunks + 1, sizeof *idx->pool))) {
        snprintf(err, ASH_ERR_LEN, "pcap_index: cannot allocate %zu chunks of %d bytes", chunks,
                 PCAP_INDEX_CHUNK);
        free(idx);
        return NULL;
    }
    idx->nchunks = (uint32_t)chunks;
    idx->free_head = 0;
    idx->fresh = 1;
    idx->stats.chunks = chunks;
    return idx;
}

void pcap_index_free(struct pcap_index *idx)
{
    if (!idx)
        return;
    free(idx->pool);
    free(idx);
}

static uint32_t chunk_take(struct pcap_index *idx)
{
    uint32_t i = idx->free_head;
    if (i) {
        idx->free_head = idx->pool[i].b.next;
    } else if (idx->fresh <= idx->nchunks) {
        i = idx->fresh++;                     /* calloc'd: already zero */
    } else {
        return 0;
    }
    idx->pool[i].b.next = 0;
    if (++idx->stats.chunks_used > idx->stats.chunks_high_water)
        idx->stats.chunks_high_water = idx->stats.chunks_used;
    return i;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static uint8_t *chunk_data(union chunk *c, bool is_head, size_t *cap)
{
    *cap = is_head ? HEAD_DATA : BODY_DATA;
    return is_head ? c->h.data : c->b.data;
}

int pcap_index_add(struct pcap_index *idx, uint32_t *handle, uint64_t file_id, uint64_t offset)
{
    uint8_t tok[20];
    size_t n;
    if (!*handle) {
        uint32_t h = chunk_take(idx);
        if (!h) {
            idx->stats.full++;
            return -1;
        }
        memset(&idx->pool[h], 0, sizeof idx->pool[h]);
        idx->pool[h].h.tail = h;
        idx->stats.lists++;
        *handle = h;
    }
    struct head *hd = &idx->pool[*handle].h;
    if (file_id > hd->last_file) {
        n = put_varint(tok, (file_id - hd->last_file) << 1 | 1);
        n += put_varint(tok + n, offset);
    } else if (file_id == hd->last_file && offset > hd->last_off) {
        n = put_varint(tok, (offset - hd->last_off) << 1);
    } else {
        hd->flags |= PCAP_INDEX_F_INCOMPLETE;     /* out of order: not representable */
        idx->stats.gaps++;
        return -1;
    }
    size_t cap;
    uint8_t *data = chunk_data(&idx->pool[hd->tail], hd->tail == *handle, &cap);
    size_t room = cap - hd->tail_used;
    if (room < n) {
        uint32_t next = chunk_take(idx);
        if (!next) {
            hd->flags |= PCAP_INDEX_F_INCOMPLETE;
            idx->stats.full++;
            return -1;
        }
        memcpy(data + hd->tail_used, tok, room);
        idx->pool[hd->tail].b.next = next;
        hd->tail = next;
        memcpy(idx->pool[next].b.data, tok + room, n - room);
        hd->tail_used = (uint8_t)(n - room);
    } else {
        memcpy(data + hd->tail_used, tok, n);
        hd->tail_used = (uint8_t)(hd->tail_used + n);
    }
    hd->bytes += (uint32_t)n;
    hd->count++;
    hd->last_file = file_id;
    hd->last_off = offset;
    idx->stats.positions++;
    return 0;
}

void pcap_index_mark_gap(struct pcap_index *idx, uint32_t *handle)
{
    idx->stats.gaps++;
    if (!*handle) {
        uint32_t h = chunk_take(idx);
        if (!h) {
            idx->stats.full++;
            return;
        }
        memset(&idx->pool[h], 0, sizeof idx->pool[h]);
        idx->pool[h].h.tail = h;
        idx->stats.lists++;
        *handle = h;
    }
    idx->pool[*handle].h.flags |= PCAP_INDEX_F_INCOMPLETE;
}

size_t pcap_index_encoded_size(const struct pcap_index *idx, uint32_t handle)
{
    return handle ? 2 + (idx->store_id ? 8 : 0) + (size_t)idx->pool[handle].h.bytes : 0;
}

size_t pcap_index_encode(const struct pcap_index *idx, uint32_t handle, uint8_t *buf, size_t cap)
{
    if (!handle || cap < pcap_index_encoded_size(idx, handle))
        return 0;
    const struct head *hd = &idx->pool[handle].h;
    size_t out = 0, left = hd->bytes;
    buf[out++] = idx->store_id ? PCAP_INDEX_VERSION : PCAP_INDEX_VERSION_NO_STORE;
    buf[out++] = hd->flags;
    for (int k = 56; idx->store_id && k >= 0; k -= 8)
        buf[out++] = (uint8_t)(idx->store_id >> k);
    for (uint32_t i = handle; i && left; i = idx->pool[i].b.next) {
        size_t ccap;
        const uint8_t *data = chunk_data(&idx->pool[i], i == handle, &ccap);
        size_t n = left < ccap ? left : ccap;
        memcpy(buf + out, data, n);
        out += n;
        left -= n;
    }
    return out;
}

uint32_t pcap_index_count(const struct pcap_index *idx, uint32_t handle)
{
    return handle ? idx->pool[handle].h.count : 0;
}

size_t pcap_index_files(const struct pcap_index *idx, uint32_t handle, uint64_t *ids, size_t cap)
{
    size_t n = 0, left = handle ? idx->pool[handle].h.bytes : 0;
    uint64_t file = 0, v = 0;
    unsigned shift = 0;
    bool want_off = false;
    /* tokens may straddle chunks: feed the bytes through one small varint state machine */
    for (uint32_t i = handle; i && left; i = idx->pool[i].b.next) {
        size_t ccap;
        const uint8_t *data = chunk_data((union chunk *)&idx->pool[i], i == handle, &ccap);
        size_t take = left < ccap ? left : ccap;
        for (size_t k = 0; k < take; k++) {
            v |= (uint64_t)(data[k] & 0x7f) << shift;
            shift += 7;
            if (data[k] & 0x80)
                continue;
            if (want_off) {
                want_off = false;
            } else if (v & 1) {
                file += v >> 1;
                if (n < cap)
                    ids[n] = file;
                n++;
                want_off = true;
            }
            v = 0;
            shift = 0;
        }
        left -= take;
    }
    return n;
}

void pcap_index_release(struct pcap_index *idx, uint32_t *handle)
{
    uint32_t i = *handle;
    if (!i)
        return;
    idx->stats.lists--;
    while (i) {
        uint32_t next = idx->pool[i].b.next;
        idx->pool[i].b.next = idx->free_head;
        idx->free_head = i;
        idx->stats.chunks_used--;
        i = next;
    }
    *handle = 0;
}

void pcap_index_stats(const struct pcap_index *idx, struct pcap_index_stats *out)
{
    *out = idx->stats;
}

/* ---- decoding ------------------------------------------------------------------------- */

int pcap_index_iter_init(struct pcap_index_iter *it, const uint8_t *buf, size_t len)
{
    memset(it, 0, sizeof *it);
    it->c = cursor_make(buf, len);
    it->start = buf;
    it->version = cursor_u8(&it->c);
    it->flags = cursor_u8(&it->c);
    if (it->version == PCAP_INDEX_VERSION) {
        uint32_t hi = cursor_be32(&it->c);
        it->store_id = (uint64_t)hi << 32 | cursor_be32(&it->c);
        if (it->store_id == 0)
            return -1;
    }
    return it->c.bad || (it->version != PCAP_INDEX_VERSION && it->version != PCAP_INDEX_VERSION_NO_STORE) ? -1 : 0;
}

/* LEB128, at most 10 bytes, no bits beyond 64 */
static bool get_varint(struct cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = cursor_u8(c);
        if (c->bad || (shift == 63 && b > 1))
            return false;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

int pcap_index_next(struct pcap_index_iter *it, uint64_t *file_id, uint64_t *offset)
{
    uint64_t t, off;
    if (it->c.bad)
        return -1;
    if (!cursor_left(&it->c))
        return 0;
    if (!get_varint(&it->c, &t))
        return -1;
    uint64_t delta = t >> 1;
    if (t & 1) {
        if (delta == 0 || it->file > UINT64_MAX - delta || !get_varint(&it->c, &off))
            goto bad;
        it->file += delta;
        it->off = off;
    } else {
        if (it->file == 0 || delta == 0 || it->off > UINT64_MAX - delta)
            goto bad;
        it->off += delta;
    }
    *file_id = it->file;
    *offset = it->off;
    return 1;
bad:
    it->c.bad = true;
    return -1;
}

size_t pcap_index_iter_at(const struct pcap_index_iter *it)
{
    return (size_t)(it->c.p - it->start);
}
