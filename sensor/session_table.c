/* session_table.c -- the sensor's table of live sessions (see session_table.h).
 * Owns:  the slots, the free list, the flow hash, the timer lists and the TCP save list
 *        (their links live inside sessions), segment saving and eviction.
 * Never: allocates after session_table_new(); logs; formats output.
 * Trap:  a session taken off a list must go back on one or be freed; links are slot + 1 so
 *        that a zeroed session is on no list. */
#include "session_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct session) <= SESSION_SIZE_GOAL, "struct session outgrew its goal");

struct dlist {
    uint32_t head, tail;             /* slot + 1 */
};

/* a DHCP conversation (client MAC and transaction id) and the session it started */
#define DHCP_REFS 256
struct dhcp_ref {
    uint8_t chaddr[6];
    uint32_t xid;
    uint32_t slot;                   /* slot + 1, 0 = unused */
    uint32_t hash;                   /* the session's, to tell a reused slot */
    int64_t first_us;
};

struct session_table {
    struct session_table_config cfg;
    struct dhcp_ref dhcp[DHCP_REFS];
    const uint16_t *vlan_map;        /* [4096] or NULL (session_table_set_vlan_map) */
    struct session *slots;
    uint32_t nslots;
    uint32_t free_head;              /* slot + 1 */
    uint32_t high;                   /* slots [0, high) have been used at least once */
    uint32_t *buckets;               /* slot + 1, chained through session.hnext */
    uint32_t bucket_mask;
    struct dlist queue[SESSION_Q_COUNT];
    struct dlist save;               /* TCP sessions by save_us */
    int64_t timeout_us[SESSION_Q_COUNT];
    int64_t last_check_sec;
    struct app_pool *pool;
    session_emit_fn emit;
    void *emit_ctx;
    struct session_table_stats stats;
};

/* ---- lists (index based) ------------------------------------------------------------ */

#define SLOT(t, i) (&(t)->slots[(i) - 1])

static void q_remove(struct session_table *t, struct session *s)
{
    if (s->queue >= SESSION_Q_COUNT)
        return;
    struct dlist *l = &t->queue[s->queue];
    if (s->qprev) SLOT(t, s->qprev)->qnext = s->qnext; else l->head = s->qnext;
    if (s->qnext) SLOT(t, s->qnext)->qprev = s->qprev; else l->tail = s->qprev;
    s->qprev = s->qnext = 0;
    s->queue = SESSION_Q_NONE;
}

static void q_push_tail(struct session_table *t, struct session *s, enum session_queue q)
{
    uint32_t me = (uint32_t)(s - t->slots) + 1;
    struct dlist *l = &t->queue[q];
    s->queue = (uint8_t)q;
    s->qnext = 0;
    s->qprev = l->tail;
    if (l->tail) SLOT(t, l->tail)->qnext = me; else l->head = me;
    l->tail = me;
}

static void save_remove(struct session_table *t, struct session *s)
{
    if (!s->sprev && !s->snext && t->save.head != (uint32_t)(s - t->slots) + 1)
        return;                      /* not on the save list */
    if (s->sprev) SLOT(t, s->sprev)->snext = s->snext; else t->save.head = s->snext;
    if (s->snext) SLOT(t, s->snext)->sprev = s->sprev; else t->save.tail = s->sprev;
    s->sprev = s->snext = 0;
}

static void save_push_tail(struct session_table *t, struct session *s)
{
    uint32_t me = (uint32_t)(s - t->slots) + 1;
    s->snext = 0;
    s->sprev = t->save.tail;
    if (t->save.tail) SLOT(t, t->save.tail)->snext = me; else t->save.head = me;
    t->save.tail = me;
}

/* ---- keys and hashing ----------------------------------------------------------------- */

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Hand-written for the per-packet path: the five key words are multiplied by odd constants,
 * summed, and mixed once (about 15 instructions). Five full mixes cost three times that and
 * showed in the profile (bench/RESULTS.md, callgrind of the sensor). */
static inline uint32_t key_hash(const struct session_key *k)
{
    const uint8_t *p = (const uint8_t *)k;
    _Static_assert(sizeof(struct session_key) == 40, "key layout changed: update key_hash");
    uint64_t h = load64(p) * 0x9e3779b97f4a7c15ULL + load64(p + 8) * 0xc2b2ae3d27d4eb4fULL +
                 load64(p + 16) * 0x165667b19e3779f9ULL + load64(p + 24) * 0xd6e8feb86659fd93ULL +
                 load64(p + 32) * 0xff51afd7ed558ccdULL;
    return (uint32_t)ash_mix64(h);
}

static inline bool key_equal(const struct session_key *x, const struct session_key *y)
{
    const uint8_t *a = (const uint8_t *)x, *b = (const uint8_t *)y;
    return ((load64(a) ^ load64(b)) | (load64(a + 8) ^ load64(b + 8)) |
            (load64(a + 16) ^ load64(b + 16)) | (load64(a + 24) ^ load64(b + 24)) |
            (load64(a + 32) ^ load64(b + 32))) == 0;
}

static bool proto_has_key_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132;
}

/* Build the canonical key; *from_b = 1 when the packet's sender is key side b. */
static void key_build(const struct session_table *t, const struct decoded *d,
                      struct session_key *k, int *from_b)
{
    uint16_t sp = 0, dp = 0;
    if (d->has_ports && proto_has_key_ports(d->ip_proto)) {
        sp = d->sport;
        dp = d->dport;
    }
    int c = memcmp(d->src, d->dst, 16);
    bool swap = c > 0 || (c == 0 && sp > dp);
    if (!swap) {
        memcpy(k->a, d->src, 16);
        memcpy(k->b, d->dst, 16);
        k->port_a = sp;
        k->port_b = dp;
    } else {
        memcpy(k->a, d->dst, 16);
        memcpy(k->b, d->src, 16);
        k->port_a = dp;
        k->port_b = sp;
    }
    k->proto = d->ip_proto;
    k->ip_version = d->ip_version;
    uint16_t vlan = 0;
    if (t->cfg.key_vlan && d->vlan_count) {
        vlan = d->vlan[0] & 0x0fff;
        if (t->vlan_map)             /* ids of one collapse group key as one */
            vlan = t->vlan_map[vlan];
    }
    k->vlan = vlan;
    *from_b = swap;
}

static enum session_queue queue_of(uint8_t proto)
{
    switch (proto) {
    case 6: return SESSION_Q_TCP;
    case 17: return SESSION_Q_UDP;
    case 1: case 58: return SESSION_Q_ICMP;
    case 132: return SESSION_Q_SCTP;
    default: return SESSION_Q_OTHER;
    }
}

/* ---- life cycle ------------------------------------------------------------------------ */

struct session_table *session_table_new(const struct session_table_config *cfg,
                                        struct app_pool *pool, session_emit_fn emit, void *ctx,
                                        char err[ASH_ERR_LEN])
{
    struct session_table *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, ASH_ERR_LEN, "session_table: out of memory");
        return NULL;
    }
    if (cfg->max_sessions < 1 || cfg->max_sessions > 0x7fffffff) {
        snprintf(err, ASH_ERR_LEN, "session_table: max_sessions: expected 1..2147483647, got %lld",
                 cfg->max_sessions);
        goto fail;
    }
    t->cfg = *cfg;
    t->nslots = (uint32_t)cfg->max_sessions;
    uint64_t nb = 1;
    while (nb < (uint64_t)t->nslots * 2)
        nb <<= 1;
    t->bucket_mask = (uint32_t)(nb - 1);
    /* calloc: the kernel backs pages only as slots are first used */
    t->slots = ash_calloc_array(t->nslots, sizeof *t->slots);
    t->buckets = ash_calloc_array(nb, sizeof *t->buckets);
    if (!t->slots || !t->buckets) {
        snprintf(err, ASH_ERR_LEN, "session_table: cannot allocate %u sessions (%zu MiB)",
                 t->nslots, (size_t)t->nslots * (sizeof(struct session) + 8) >> 20);
        goto fail;
    }
    t->timeout_us[SESSION_Q_TCP] = cfg->tcp_timeout * 1000000LL;
    t->timeout_us[SESSION_Q_UDP] = cfg->udp_timeout * 1000000LL;
    t->timeout_us[SESSION_Q_ICMP] = cfg->icmp_timeout * 1000000LL;
    t->timeout_us[SESSION_Q_SCTP] = cfg->sctp_timeout * 1000000LL;
    t->timeout_us[SESSION_Q_OTHER] = cfg->other_timeout * 1000000LL;
    t->timeout_us[SESSION_Q_CLOSING] = cfg->tcp_close_timeout * 1000000LL;
    t->last_check_sec = INT64_MIN;
    t->pool = pool;
    t->emit = emit;
    t->emit_ctx = ctx;
    return t;
fail:
    session_table_free(t);
    return NULL;
}

void session_table_free(struct session_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->buckets);
    free(t);
}

void session_table_set_vlan_map(struct session_table *t, const uint16_t *map)
{
    t->vlan_map = map;
}

/* Slots never used are handed out in order, so pages of the slot array that no session has
 * touched stay unbacked by memory. */
static struct session *slot_take(struct session_table *t)
{
    if (t->free_head) {
        struct session *s = SLOT(t, t->free_head);
        t->free_head = s->hnext;
        return s;
    }
    if (t->high < t->nslots)
        return &t->slots[t->high++];
    return NULL;
}

static void hash_remove(struct session_table *t, struct session *s)
{
    uint32_t me = (uint32_t)(s - t->slots) + 1;
    uint32_t *link = &t->buckets[s->hash & t->bucket_mask];
    while (*link && *link != me)
        link = &SLOT(t, *link)->hnext;
    if (*link)
        *link = s->hnext;
    s->hnext = 0;
}

static void session_release(struct session_table *t, struct session *s)
{
    q_remove(t, s);
    save_remove(t, s);
    hash_remove(t, s);
    if (t->pool)
        app_release(t->pool, &s->app);
    memset(s, 0, sizeof *s);
    s->queue = SESSION_Q_NONE;
    s->hnext = t->free_head;
    t->free_head = (uint32_t)(s - t->slots) + 1;
    t->stats.active--;
}

/* A session's record, then its slot back. The rest of a session after a segment was saved
 * may hold no packet: the save timer (tcp_save_timeout after the first packet) can fire
 * before the idle timeout (after the last), so a SYN and its retransmission a second later
 * were saved as a segment at 480 s and the empty remainder emitted at 481 s, a second record
 * with 0 packets and a new id (issue 14 S1). A record says what packets did: none, none. */
static void session_finish(struct session_table *t, struct session *s, enum session_end why)
{
    /* (nothing to release either: the segment's emit released its packet positions, and
     * positions only come with packets) */
    if (s->packets[0] || s->packets[1]) {
        t->emit(t->emit_ctx, s, why);
        t->stats.emitted++;
    }
    session_release(t, s);
}

/* Save a segment of a long session and start the next one: counters restart, the first
 * packet time and the key stay (Arkime's mid-save keeps firstPacket). */
static void session_segment(struct session_table *t, struct session *s, int64_t now_us)
{
    /* a segment with no packets says nothing: only the save clock moves on */
    if (s->packets[0] || s->packets[1]) {
        t->emit(t->emit_ctx, s, SESSION_END_SEGMENT);
        t->stats.segments++;
    }
    memset(s->bytes, 0, sizeof s->bytes);
    memset(s->data_bytes, 0, sizeof s->data_bytes);
    memset(s->packets, 0, sizeof s->packets);
    s->syn = s->syn_ack = s->ack = s->psh = s->fin = s->rst = s->urg = 0;
    s->segment++;
    if (t->pool)
        app_release(t->pool, &s->app);
    if (s->key.proto == 6) {
        save_remove(t, s);
        s->save_us = now_us + t->cfg.tcp_save_timeout * 1000000LL;
        save_push_tail(t, s);
    }
}

static struct session *oldest_idle(struct session_table *t)
{
    struct session *best = NULL;
    for (int q = 0; q < SESSION_Q_COUNT; q++) {
        if (!t->queue[q].head)
            continue;
        struct session *s = SLOT(t, t->queue[q].head);
        if (!best || s->last_us < best->last_us)
            best = s;
    }
    return best;
}

static struct session *session_create(struct session_table *t, const struct session_key *k,
                                      uint32_t h, const struct decoded *d, int from_b,
                                      int64_t ts_us)
{
    struct session *s = slot_take(t);
    if (!s) {
        /* full: every slot is on a list, so there is an oldest */
        struct session *victim = oldest_idle(t);
        t->stats.evicted++;
        session_finish(t, victim, SESSION_END_EVICTED);
        s = slot_take(t);
        if (!s)
            s = victim;
    }
    memset(s, 0, sizeof *s);
    s->key = *k;
    s->hash = h;
    s->first_us = s->last_us = ts_us;
    s->segment = 1;
    /* the initiator: the SYN sender; a SYN-ACK seen first was sent by the responder; a TCP
     * session picked up mid-stream from a well-known port to an ephemeral one was started by
     * the receiver (Arkime makes the client the source of a lone HTTP response) */
    bool tcp = d->ip_proto == 6;
    bool synack = tcp && (d->tcp_flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) ==
                             (DECODE_TCP_SYN | DECODE_TCP_ACK);
    bool from_server = tcp && !(d->tcp_flags & DECODE_TCP_SYN) && d->has_ports &&
                       d->sport < 1024 && d->dport >= 1024;
    s->src_is_b = (uint8_t)(synack || from_server ? !from_b : from_b);
    if (tcp && !(d->tcp_flags & DECODE_TCP_SYN))
        s->flags |= SESSION_F_MIDSTREAM;
    if (proto_has_key_ports(d->ip_proto) && !d->has_ports)
        s->flags |= SESSION_F_NO_PORTS;
    if (d->ip_proto == 1 || d->ip_proto == 58) {
        s->icmp_type = (uint8_t)d->sport;
        s->icmp_code = (uint8_t)d->dport;
    }
    s->vlan_count = d->vlan_count < 2 ? d->vlan_count : 2;
    for (int i = 0; i < s->vlan_count; i++)
        s->vlan[i] = d->vlan[i];
    uint32_t *bucket = &t->buckets[h & t->bucket_mask];
    s->hnext = *bucket;
    *bucket = (uint32_t)(s - t->slots) + 1;
    q_push_tail(t, s, queue_of(k->proto));
    if (k->proto == 6) {
        s->save_us = ts_us + t->cfg.tcp_save_timeout * 1000000LL;
        save_push_tail(t, s);
    }
    t->stats.created++;
    t->stats.active++;
    return s;
}

static struct session *session_lookup(struct session_table *t, const struct session_key *k,
                                      uint32_t h)
{
    for (uint32_t i = t->buckets[h & t->bucket_mask]; i; i = SLOT(t, i)->hnext) {
        struct session *s = SLOT(t, i);
        if (s->hash == h && key_equal(&s->key, k))
            return s;
    }
    return NULL;
}

/* TCP: flag counts, history, and moving a session to the closing list */
static void tcp_update(struct session_table *t, struct session *s, const struct decoded *d,
                       int dir)
{
    uint8_t f = d->tcp_flags;
    if (f & DECODE_TCP_SYN) {
        if (f & DECODE_TCP_ACK) {
            s->syn_ack++;
            s->history |= dir ? HIST_RESP_SYNACK : HIST_ORIG_SYNACK;
        } else {
            s->syn++;
            s->history |= dir ? HIST_RESP_SYN : HIST_ORIG_SYN;
            if (!(s->flags & SESSION_F_SYN_SEQ)) {
                s->syn_seq = d->tcp_seq;
                s->flags |= SESSION_F_SYN_SEQ;
            }
        }
    } else if ((f & (DECODE_TCP_FIN | DECODE_TCP_RST | DECODE_TCP_PSH | DECODE_TCP_ACK)) ==
               DECODE_TCP_ACK) {
        s->ack++;
    }
    if ((f & DECODE_TCP_ACK) && !(f & DECODE_TCP_SYN))
        s->history |= dir ? HIST_RESP_ACK : HIST_ORIG_ACK;
    if (f & DECODE_TCP_PSH) s->psh++;
    if (f & DECODE_TCP_URG) s->urg++;
    if (f & DECODE_TCP_FIN) {
        s->fin++;
        s->history |= dir ? HIST_RESP_FIN : HIST_ORIG_FIN;
    }
    if (f & DECODE_TCP_RST) {
        s->rst++;
        s->history |= dir ? HIST_RESP_RST : HIST_ORIG_RST;
    }
    if (s->queue != SESSION_Q_CLOSING &&
        ((f & DECODE_TCP_RST) ||
         ((s->history & HIST_ORIG_FIN) && (s->history & HIST_RESP_FIN)))) {
        q_remove(t, s);
        q_push_tail(t, s, SESSION_Q_CLOSING);
    }
}

/* Expire by idle time and save long sessions' segments; Arkime compares whole seconds. */
static void run_timers(struct session_table *t, int64_t now_us)
{
    int64_t now_sec = now_us / 1000000;
    if (now_sec == t->last_check_sec)
        return;
    t->last_check_sec = now_sec;
    for (int q = 0; q < SESSION_Q_COUNT; q++) {
        int64_t timeout_sec = t->timeout_us[q] / 1000000;
        while (t->queue[q].head) {
            struct session *s = SLOT(t, t->queue[q].head);
            if (s->last_us / 1000000 + timeout_sec >= now_sec)
                break;
            session_finish(t, s, q == SESSION_Q_CLOSING ? SESSION_END_CLOSED : SESSION_END_IDLE);
        }
    }
    while (t->save.head) {
        struct session *s = SLOT(t, t->save.head);
        if (s->save_us / 1000000 >= now_sec)
            break;
        session_segment(t, s, now_us);
    }
}

/* A BOOTP/DHCP message as Arkime's dhcp.c accepts one (ports 67/68, 256 bytes or more,
 * op 1 or 2, Ethernet addresses, the magic cookie): its client MAC and transaction id. */
static bool dhcp_id(const struct decoded *d, uint8_t chaddr[6], uint32_t *xid)
{
    if (d->ip_proto != 17 || d->ip_version != 4 || !d->has_ports ||
        (d->sport != 67 && d->sport != 68) || (d->dport != 67 && d->dport != 68))
        return false;
    const uint8_t *p = d->payload;
    if (p == NULL || d->payload_len < 256 || (p[0] != 1 && p[0] != 2) || p[1] != 1 ||
        p[2] != 6 || memcmp(p + 236, "\x63\x82\x53\x63", 4) != 0)
        return false;
    *xid = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    memcpy(chaddr, p + 28, 6);
    return true;
}

static struct dhcp_ref *dhcp_slot(struct session_table *t, const uint8_t chaddr[6], uint32_t xid)
{
    uint32_t h = xid * 0x9e3779b1u;
    for (int i = 0; i < 6; i++)
        h = (h ^ chaddr[i]) * 0x01000193u;
    return &t->dhcp[(h >> 8) % DHCP_REFS];
}

/* As Arkime: the messages of one DHCP conversation are one session, whatever their addresses
 * (the OFFER to the new address joins the DISCOVER from 0.0.0.0). The live session the
 * conversation started, or NULL. */
static struct session *dhcp_conversation(struct session_table *t, const struct decoded *d,
                                         struct dhcp_ref **ref)
{
    uint8_t chaddr[6];
    uint32_t xid;
    *ref = NULL;
    if (!dhcp_id(d, chaddr, &xid))
        return NULL;
    struct dhcp_ref *r = dhcp_slot(t, chaddr, xid);
    *ref = r;
    if (!r->slot || r->xid != xid || memcmp(r->chaddr, chaddr, 6) != 0)
        return NULL;
    struct session *s = SLOT(t, r->slot);
    if (s->queue == SESSION_Q_NONE || s->hash != r->hash || s->first_us != r->first_us)
        return NULL;                 /* that session has ended */
    return s;
}

/* An ICMP error packet d (in ICMP session s) quotes the packet it answers. The quote's
 * source must be the error's receiver: the error went back to whoever sent the packet (RFC
 * 792, 4443); another quote (forged, or a router's confusion) is ignored. The ICMP session
 * keeps the segment's first quote and counts the rest; the quoted session, if still live and
 * the quoted packet its initiator's, is marked answered by the error (link the two: the
 * attempt it made failed). A quoted ICMP flow is not marked: its icmp_type is its key's. */
static void icmp_quote(struct session_table *t, struct session *s, const struct decoded *d)
{
    if (memcmp(d->quote_src, d->dst, 16) != 0)
        return;
    struct session_quote *qt = &s->quote;
    if (qt->count == 0) {
        memcpy(qt->dst, d->quote_dst, 16);
        qt->sport = d->quote_sport;
        qt->dport = d->quote_dport;
        qt->proto = d->quote_proto;
        qt->type = (uint8_t)d->sport;
        qt->code = (uint8_t)d->dport;
        qt->src_b = memcmp(d->dst, s->key.b, 16) == 0;
    }
    if (qt->count < UINT32_MAX)
        qt->count++;
    if (!proto_has_key_ports(d->quote_proto) || (!d->quote_sport && !d->quote_dport))
        return;                      /* ICMP, other protocols, or a non-first fragment */
    struct decoded q;
    q.ip_version = d->ip_version;
    q.ip_proto = d->quote_proto;
    q.has_ports = true;
    q.sport = d->quote_sport;
    q.dport = d->quote_dport;
    memcpy(q.src, d->quote_src, 16);
    memcpy(q.dst, d->quote_dst, 16);
    q.vlan_count = d->vlan_count;
    q.vlan[0] = d->vlan[0];
    struct session_key k;
    int from_b;
    key_build(t, &q, &k, &from_b);
    struct session *a = session_lookup(t, &k, key_hash(&k));
    if (!a || session_dir(a, from_b) != 0 || (a->flags & SESSION_F_ICMP_ERROR))
        return;
    a->flags |= SESSION_F_ICMP_ERROR;
    a->icmp_type = (uint8_t)d->sport;
    a->icmp_code = (uint8_t)d->dport;
    t->stats.icmp_answered++;
}

struct session *session_table_packet(struct session_table *t, const struct decoded *d,
                                     int64_t ts_us, int *dir)
{
    struct session_key k;
    int from_b;

    key_build(t, d, &k, &from_b);
    uint32_t h = key_hash(&k);
    struct session *s = session_lookup(t, &k, h);
    /* A SYN on a closed session (RST or both FINs seen) is a new connection on the same
     * 5-tuple, unless it repeats the first SYN's sequence number: then it is that SYN
     * retransmitted and joins (Arkime keeps the first SYN's sequence number per direction). */
    if (s && s->queue == SESSION_Q_CLOSING && d->ip_proto == 6 &&
        (d->tcp_flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) == DECODE_TCP_SYN &&
        !((s->flags & SESSION_F_SYN_SEQ) && s->syn_seq == d->tcp_seq)) {
        session_finish(t, s, SESSION_END_RESTART);
        s = NULL;
    }
    int d_ir = -1;
    if (ASH_UNLIKELY(!s && d->ip_proto == 17 && (d->dport == 67 || d->dport == 68))) {
        struct dhcp_ref *ref;
        s = dhcp_conversation(t, d, &ref);
        if (s) {                     /* the initiator sent from its first port */
            d_ir = d->sport != (s->src_is_b ? s->key.port_b : s->key.port_a);
        } else if (ref) {
            s = session_create(t, &k, h, d, from_b, ts_us);
            uint32_t xid;
            dhcp_id(d, ref->chaddr, &xid);
            ref->xid = xid;
            ref->slot = (uint32_t)(s - t->slots) + 1;
            ref->hash = s->hash;
            ref->first_us = s->first_us;
        }
    }
    if (!s)
        s = session_create(t, &k, h, d, from_b, ts_us);

    if (d_ir < 0)
        d_ir = session_dir(s, from_b);
    s->packets[d_ir]++;
    s->bytes[d_ir] += d->cap_len;
    s->data_bytes[d_ir] += d->payload_wire_len;
    s->tunnels |= d->tunnels;
    if (ts_us > s->last_us)
        s->last_us = ts_us;
    if (d_ir == 0 && !(s->flags & SESSION_F_HAS_MAC) && d->has_mac) {
        memcpy(s->mac_src, d->mac_src, 6);
        s->flags |= SESSION_F_HAS_MAC;
    }
    if (d->ip_proto == 6)
        tcp_update(t, s, d, d_ir);
    if (d->payload_wire_len)
        s->history |= d_ir ? HIST_RESP_DATA : HIST_ORIG_DATA;
    if (ASH_UNLIKELY(d->has_quote) && (s->key.proto == 1 || s->key.proto == 58))
        icmp_quote(t, s, d);
    /* move to the tail of its timer list: lists stay ordered by last packet */
    if (t->queue[s->queue].tail != (uint32_t)(s - t->slots) + 1) {
        enum session_queue q = (enum session_queue)s->queue;
        q_remove(t, s);
        q_push_tail(t, s, q);
    }
    t->stats.packets++;
    *dir = d_ir;
    return s;
}

struct session *session_table_find(struct session_table *t, const struct decoded *d)
{
    struct session_key k;
    int from_b;
    if (proto_has_key_ports(d->ip_proto) && !d->has_ports)
        return NULL;                 /* its flow is not known yet */
    key_build(t, d, &k, &from_b);
    return session_lookup(t, &k, key_hash(&k));
}

/* Called by the pipeline after app parsing of the packet: segment by packet count, then
 * the timers. Split from session_table_packet() so the packet's payload reaches the app
 * parsers of the segment it belongs to. */
void session_table_after_packet(struct session_table *t, struct session *s, int64_t ts_us)
{
    if (s && (int64_t)s->packets[0] + s->packets[1] >= t->cfg.max_packets)
        session_segment(t, s, ts_us);
    run_timers(t, ts_us);
}

void session_table_advance(struct session_table *t, int64_t now_us)
{
    run_timers(t, now_us);
}

void session_table_flush(struct session_table *t)
{
    for (int q = 0; q < SESSION_Q_COUNT; q++)
        while (t->queue[q].head)
            session_finish(t, SLOT(t, t->queue[q].head), SESSION_END_FLUSH);
}

void session_table_stats(const struct session_table *t, struct session_table_stats *out)
{
    *out = t->stats;
}

size_t session_table_memory(const struct session_table *t)
{
    return (size_t)t->nslots * sizeof(struct session) +
           ((size_t)t->bucket_mask + 1) * sizeof(uint32_t);
}
