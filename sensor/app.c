/* app.c -- application-layer fields of a session: the field pool and app_parse() dispatch.
 * Owns:  struct app_pool (one calloc holding every struct app_fields slot, free list threaded
 *        through the free slots; a second one holding the reassembly buffers, lent one per
 *        session at most and recorded in its fields), the protocol name table, the transport
 *        names that join them in ashiato.protocols (app_transport_name), the DNS RCODE names, and the per-packet dispatch: signature detection on the first payload
 *        packet of each direction (app_detect.c), then the parser of the protocol found
 *        (app_http.c, app_dns.c, app_tls.c, app_ssh.c, app_quic.c) for at most APP_MAX_PKTS
 *        packets per direction.
 * Lends: app_fields_of() pointers, valid until app_release() of that state.
 * Never: allocates after app_pool_new(); logs; looks at a session again once it is done.
 * Trap:  st->fields is slot + 1 so that a zeroed app_state means "no fields": never store a
 *        raw slot index there (app_fields.reasm likewise). A lent reassembly buffer comes
 *        back only through app_ctx_reasm_drop() or app_release(). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "app.h"
#include "app_internal.h"

_Static_assert(APP_PROTO_COUNT <= 32, "app_state.tags holds one bit per protocol");

/* reassembly buffers: one per this many fields slots, at least min(capacity, REASM_MIN) */
#define REASM_PER_SLOTS 64
#define REASM_MIN       8

struct app_pool {
    size_t   capacity;
    uint64_t in_use;
    uint64_t exhausted;
    uint32_t free_head;              /* slot + 1 of the first released slot, 0 if none */
    size_t   high;                   /* slots [0, high) have been handed out at least once */
    size_t   reasm_cap;
    uint64_t reasm_in_use;
    uint64_t reasm_exhausted;
    uint32_t reasm_free;             /* buffer + 1 of the first free buffer, 0 when dry */
    struct app_reasm *reasm;         /* a free buffer keeps the next free (buffer + 1) first */
    struct app_fields slots[];       /* a free slot keeps the next free (slot + 1) first */
};

static const char *const proto_names[APP_PROTO_COUNT] = {
#define APP_PROTO_NAME(sym, name) name,
    APP_PROTOS(APP_PROTO_NAME)
#undef APP_PROTO_NAME
};

const char *app_proto_name(enum app_proto p)
{
    if ((unsigned)p >= APP_PROTO_COUNT)
        return "";
    return proto_names[p];
}

const char *app_transport_name(unsigned iana)
{
    switch (iana) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1:
    case 58: return "icmp";          /* Arkime's icmp.c names ICMPv6 sessions "icmp" too */
    case 132: return "sctp";
    case 50: return "esp";
    case 2: return "igmp";
    case 89: return "ospf";
    case 103: return "pim";
    default: return NULL;
    }
}

/* RCODE names as Arkime's dns.status renders them (RFC 6895 section 2.3) */
static const char *const rcode_names[] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED", "YXDOMAIN",
    "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", NULL, NULL, NULL, NULL,
    "BADSIG_VERS", "BADKEY", "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC",
    "BADCOOKIE",
};

const char *app_dns_rcode_name(uint8_t rcode, char buf[8])
{
    if (rcode < ASH_ARRAY_LEN(rcode_names) && rcode_names[rcode])
        return rcode_names[rcode];
    snprintf(buf, 8, "%u", (unsigned)rcode);
    return buf;
}

static uint32_t slot_next(const void *slot)
{
    uint32_t next;
    memcpy(&next, slot, sizeof next);
    return next;
}

static void slot_set_next(void *slot, uint32_t next)
{
    memcpy(slot, &next, sizeof next);
}

struct app_pool *app_pool_new(size_t capacity, char err[ASH_ERR_LEN])
{
    size_t bytes;
    if (capacity == 0 || capacity >= UINT32_MAX) {
        snprintf(err, ASH_ERR_LEN, "app_pool: capacity: expected 1..%u, got %zu",
                 UINT32_MAX - 1u, capacity);
        return NULL;
    }
    if (!ash_mul_size(capacity, sizeof(struct app_fields), &bytes) ||
        bytes > SIZE_MAX - sizeof(struct app_pool)) {
        snprintf(err, ASH_ERR_LEN, "app_pool: %zu slots of %zu bytes overflow size_t",
                 capacity, sizeof(struct app_fields));
        return NULL;
    }
    struct app_pool *pool = calloc(1, sizeof *pool + bytes);
    if (!pool) {
        snprintf(err, ASH_ERR_LEN, "app_pool: cannot allocate %zu slots (%zu bytes)",
                 capacity, sizeof *pool + bytes);
        return NULL;
    }
    pool->capacity = capacity;
    /* no free list is written here: slots never used are handed out in order (high), so the
     * pages of a large pool stay unbacked until sessions need them (writing a list through
     * 131072 slots cost 44,000 page faults and 0.1 s before the first packet) */
    pool->free_head = 0;

    size_t n = capacity / REASM_PER_SLOTS, least = capacity < REASM_MIN ? capacity : REASM_MIN;
    if (n < least)
        n = least;
    if (!ash_mul_size(n, sizeof(struct app_reasm), &bytes) ||
        !(pool->reasm = calloc(n, sizeof(struct app_reasm)))) {
        snprintf(err, ASH_ERR_LEN, "app_pool: cannot allocate %zu reassembly buffers "
                 "(%zu bytes each)", n, sizeof(struct app_reasm));
        goto fail;
    }
    pool->reasm_cap = n;
    for (size_t i = 0; i < n; i++)
        slot_set_next(&pool->reasm[i], i + 1 < n ? (uint32_t)(i + 2) : 0);
    pool->reasm_free = 1;
    return pool;
fail:
    app_pool_free(pool);
    return NULL;
}

void app_pool_free(struct app_pool *pool)
{
    if (!pool)
        return;
    free(pool->reasm);
    free(pool);
}

void app_pool_stats(const struct app_pool *pool, struct app_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!pool)
        return;
    out->in_use = pool->in_use;
    out->capacity = pool->capacity;
    out->exhausted = pool->exhausted;
    out->reasm_in_use = pool->reasm_in_use;
    out->reasm_capacity = pool->reasm_cap;
    out->reasm_exhausted = pool->reasm_exhausted;
}

const struct app_fields *app_fields_of(const struct app_pool *pool, const struct app_state *st)
{
    if (!pool || !st || st->fields == 0 || st->fields > pool->capacity)
        return NULL;
    return &pool->slots[st->fields - 1];
}

static void reasm_give_back(struct app_pool *pool, struct app_fields *f)
{
    if (f->reasm == 0 || f->reasm > pool->reasm_cap)
        return;
    slot_set_next(&pool->reasm[f->reasm - 1], pool->reasm_free);
    pool->reasm_free = f->reasm;
    pool->reasm_in_use--;
    f->reasm = 0;
}

void app_release(struct app_pool *pool, struct app_state *st)
{
    if (!st)
        return;
    if (pool && st->fields != 0 && st->fields <= pool->capacity) {
        struct app_fields *f = &pool->slots[st->fields - 1];
        reasm_give_back(pool, f);
        slot_set_next(f, pool->free_head);
        pool->free_head = st->fields;
        pool->in_use--;
    }
    memset(st, 0, sizeof *st);
}

struct app_fields *app_ctx_fields(struct app_ctx *c)
{
    struct app_state *st = c->st;
    struct app_pool *pool = c->pool;
    if (st->fields != 0)
        return &pool->slots[st->fields - 1];
    uint32_t slot;
    struct app_fields *f;
    if (pool->free_head != 0) {
        slot = pool->free_head;
        f = &pool->slots[slot - 1];
        pool->free_head = slot_next(f);
    } else if (pool->high < pool->capacity) {
        slot = (uint32_t)++pool->high;
        f = &pool->slots[slot - 1];
    } else {
        if (!c->dry)
            pool->exhausted++;
        c->dry = true;
        return NULL;
    }
    memset(f, 0, sizeof *f);
    pool->in_use++;
    st->fields = slot;
    return f;
}

struct app_reasm *app_ctx_reasm(struct app_ctx *c, bool take)
{
    struct app_pool *pool = c->pool;
    struct app_fields *f = (c->st->fields != 0 || take) ? app_ctx_fields(c) : NULL;
    if (!f)
        return NULL;
    if (f->reasm != 0)
        return &pool->reasm[f->reasm - 1];
    if (!take)
        return NULL;
    if (pool->reasm_free == 0) {
        pool->reasm_exhausted++;
        return NULL;
    }
    uint32_t slot = pool->reasm_free;
    pool->reasm_free = slot_next(&pool->reasm[slot - 1]);
    pool->reasm_in_use++;
    f->reasm = slot;
    return &pool->reasm[slot - 1];
}

void app_ctx_reasm_drop(struct app_ctx *c)
{
    if (c->st->fields != 0)
        reasm_give_back(c->pool, &c->pool->slots[c->st->fields - 1]);
}

void app_tag(struct app_state *st, enum app_proto p)
{
    if (p == APP_UNKNOWN || (unsigned)p >= APP_PROTO_COUNT)
        return;
    st->tags |= 1u << p;
    if (st->proto == APP_UNKNOWN)
        st->proto = (uint8_t)p;
}

void app_untag(struct app_state *st, enum app_proto p)
{
    st->tags &= ~(1u << p);
    if (st->proto != p)
        return;
    st->proto = APP_UNKNOWN;
    for (unsigned i = 1; i < APP_PROTO_COUNT; i++)
        if (st->tags & (1u << i)) {
            st->proto = (uint8_t)i;
            break;
        }
}

static char fold(uint8_t ch, bool lower)
{
    if (lower && ch >= 'A' && ch <= 'Z')
        return (char)(ch + ('a' - 'A'));
    return (char)ch;
}

static bool same_fold(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = fold((uint8_t)*a, true), y = fold((uint8_t)*b, true);
        if (x != y)
            return false;
        if (x == 0)
            return true;
    }
}

/* copy val into dst[size], stopping at a control byte; returns false when cut */
static bool copy_value(char *dst, size_t size, const uint8_t *val, size_t len, bool lower)
{
    size_t i = 0;
    bool whole = true;
    for (; i < len; i++) {
        if (val[i] < 0x20 || val[i] == 0x7f)
            break;
        if (i + 1 >= size) {
            whole = false;
            break;
        }
        dst[i] = fold(val[i], lower);
    }
    dst[i] = 0;
    return whole;
}

bool app_list_add(struct app_fields *f, char *list, size_t size, uint8_t *n, uint8_t cap,
                  const uint8_t *val, size_t len, bool lower)
{
    char tmp[APP_UA_LEN > APP_NAME_LEN ? APP_UA_LEN : APP_NAME_LEN];
    if (size > sizeof tmp)
        size = sizeof tmp;
    bool whole = copy_value(tmp, size, val, len, lower);
    if (tmp[0] == 0)
        return false;
    for (uint8_t i = 0; i < *n; i++)
        if (same_fold(list + (size_t)i * size, tmp))
            return true;
    if (*n >= cap) {
        f->truncated = true;
        return false;
    }
    if (!whole)
        f->truncated = true;
    memcpy(list + (size_t)*n * size, tmp, size);
    (*n)++;
    return true;
}

void app_str_set(struct app_fields *f, char *dst, size_t size, const uint8_t *val, size_t len)
{
    if (!copy_value(dst, size, val, len, false))
        f->truncated = true;
}

/* does a tagged protocol's parser want this packet? */
static bool run_parsers(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    const uint32_t dns_family = (1u << APP_DNS) | (1u << APP_MDNS) | (1u << APP_LLMNR);
    uint32_t tags = c->st->tags;
    bool more = false;
    if (tags & (1u << APP_HTTP))
        more |= app_http_parse(c, p, len);
    if (tags & dns_family)
        more |= app_dns_parse(c, p, len);
    if (tags & (1u << APP_TLS))
        more |= app_tls_parse(c, p, len);
    if (tags & (1u << APP_SSH))
        more |= app_ssh_parse(c, p, len);
    if ((tags & (1u << APP_QUIC)) && !(c->st->flags & APP_F_TLS_CH)) {
        if (c->dir == 0 && c->st->seen[0] > 1)
            app_quic_initial(c, p, len);     /* a ClientHello that goes on in this datagram */
        more = true;
    }
    return more;
}

void app_parse(struct app_pool *pool, struct app_state *st, int dir, uint8_t ip_proto,
               uint16_t sport, uint16_t dport, const uint8_t *payload, uint32_t len)
{
    if (ASH_UNLIKELY(!pool || !st || !payload || len == 0))
        return;
    if (st->flags & APP_F_DONE)
        return;
    dir = dir ? 1 : 0;
    if (st->seen[dir] >= APP_MAX_PKTS) {
        if (st->seen[!dir] >= APP_MAX_PKTS)
            st->flags |= APP_F_DONE;
        return;
    }
    bool first = st->seen[dir] == 0;
    st->seen[dir]++;
    const uint8_t pending = APP_F_MYSQL_GREET | APP_F_FTP_MAYBE;
    if (!first && st->tags == 0 && !(st->flags & pending))
        return;   /* nothing recognised: only a direction's first packet is classified */

    struct app_ctx c = { pool, st, dir, ip_proto, sport, dport, false };
    if (st->flags & pending)
        app_detect_followup(&c, payload, len);   /* the other side's answer to a greeting */
    if (first)
        app_detect(&c, payload, len);

    bool more = run_parsers(&c, payload, len) || (st->flags & pending);
    if (!more && st->seen[0] > 0 && st->seen[1] > 0)
        st->flags |= APP_F_DONE;
}
