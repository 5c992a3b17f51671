/* cursor.h -- bounded reading of untrusted bytes (packets, files, frames, requests).
 * Owns:  struct cursor and its inline readers.
 * Lends: pointers into the caller's buffer (cursor_bytes), valid as long as that buffer.
 * Never: reads past `end`; allocates; fails loudly. The first overrun sets `bad` for good,
 *        returns 0 (or NULL) and makes every later read do nothing, so a header is read
 *        through and checked once (Arkime's bsb.h, not masscan's -1 that aliases 0xFFFF).
 * Trap:  check `bad` before trusting any value read since the last check. */
#ifndef ASHIATO_CURSOR_H
#define ASHIATO_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cursor {
    const uint8_t *p, *end;
    bool bad;
};

static inline struct cursor cursor_make(const void *buf, size_t len)
{
    struct cursor c = { (const uint8_t *)buf, (const uint8_t *)buf + len, false };
    return c;
}

static inline size_t cursor_left(const struct cursor *c)
{
    return c->bad ? 0 : (size_t)(c->end - c->p);
}

static inline bool cursor_need(struct cursor *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        c->p = c->end;
        return false;
    }
    return true;
}

static inline uint8_t cursor_u8(struct cursor *c)
{
    if (!cursor_need(c, 1))
        return 0;
    return *c->p++;
}

static inline uint16_t cursor_be16(struct cursor *c)
{
    if (!cursor_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
    c->p += 2;
    return v;
}

static inline uint16_t cursor_le16(struct cursor *c)
{
    if (!cursor_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)((uint16_t)c->p[1] << 8 | c->p[0]);
    c->p += 2;
    return v;
}

static inline uint32_t cursor_be24(struct cursor *c)
{
    if (!cursor_need(c, 3))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
    c->p += 3;
    return v;
}

static inline uint32_t cursor_be32(struct cursor *c)
{
    if (!cursor_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
    c->p += 4;
    return v;
}

static inline uint32_t cursor_le32(struct cursor *c)
{
    if (!cursor_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[3] << 24 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[1] << 8 | c->p[0];
    c->p += 4;
    return v;
}

static inline void cursor_skip(struct cursor *c, size_t n)
{
    if (cursor_need(c, n))
        c->p += n;
}

/* pointer to the next n bytes (and advance), or NULL if fewer remain */
static inline const uint8_t *cursor_bytes(struct cursor *c, size_t n)
{
    if (!cursor_need(c, n))
        return NULL;
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

/* a child cursor over the next n bytes, the parent advanced past them. If fewer than n
 * remain the child is clamped to what is there (masscan's clamp) and the parent is not marked
 * bad: callers that need all n check cursor_left(&child) themselves. */
static inline struct cursor cursor_sub(struct cursor *c, size_t n)
{
    struct cursor s;
    size_t left = cursor_left(c);
    if (n > left)
        n = left;
    s.p = c->p;
    s.end = c->p + n;
    s.bad = c->bad;
    if (!c->bad)
        c->p += n;
    return s;
}

#endif
