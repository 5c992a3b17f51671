/* detect_lateral.c -- lateral movement across segments: one source that, within
 * lateral_window, reaches hosts in lateral_segments or more segments other than its own, with
 * evidence: failed attempts (scan evidence) or admin-protocol sessions (SMB, RDP, DCE/RPC,
 * WinRM, SSH: admin_ports) to hosts that are not known servers of that port.
 * Owns:  the known-server window (server, port) -> distinct clients that it answered, and the
 *        lateral window (source) -> distinct evidence hosts, whose e->user is the source's
 *        state (segments and sensors with evidence, first hosts, the running alert).
 * Never: takes a session to a known server, a success outside admin ports, or anything to
 *        the source's own segment or the outside as evidence; uses admin-protocol evidence
 *        before lateral_baseline of records has passed (servers are still being learnt).
 * Trap:  the alert is opened once per source and window and grows: every later evidence
 *        session and every sensor that saw one is added to it (reported once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

#define LAT_FIRST_HOSTS 8

struct lat_state {
    uint64_t seg_mask, sensor_mask;
    uint8_t hosts[LAT_FIRST_HOSTS][16];
    uint32_t n_hosts;
    uint64_t successes, failures;
    int64_t first_us;
    struct detect_alert *alert;
};

int detect_lateral_init(struct detect *d)
{
    const struct detect_config *c = &d->cfg;
    struct window_config srv = { 24 * 3600 * 1000000LL, c->known_server_clients, 64,
                                 c->max_sources };
    struct window_config lat = { c->lateral_window_us, UINT32_MAX, 1024, c->max_sources };
    d->servers = window_new(&srv, sizeof(struct detect_key), 0x73727672);
    d->lateral = window_new(&lat, 16, DETECT_SRC_SEED);   /* key hash: detect_source_hash */
    return d->servers && d->lateral ? 0 : -1;
}

static bool admin_port(const struct detect_config *c, uint16_t p)
{
    for (size_t i = 0; i < c->n_admin_ports; i++)
        if (c->admin_ports[i] == p)
            return true;
    return false;
}

static void server_key(struct detect_key *k, const struct detect_record *r)
{
    memset(k, 0, sizeof *k);
    memcpy(k->a, r->dst, 16);
    k->port = r->dport;
    k->proto = r->proto;
}

static uint64_t sensor_bit(struct detect *d, const char *sensor);

void detect_lateral_feed(struct detect *d, const struct detect_facts *f)
{
    const struct detect_record *r = f->r;
    const struct detect_config *c = &d->cfg;
    if (!f->attempt)
        return;
    struct detect_key k;
    server_key(&k, r);
    bool admin = r->proto == 6 && admin_port(c, r->dport);
    bool known = false;
    if (admin && f->outcome == OUTCOME_SUCCESS) {  /* learn: this host answers this port */
        /* one lookup: known is what the entry said before this add (a raise now is this
         * client's doing, so not known yet; an entry refused at the cap was not there) */
        struct window_entry *se = NULL;
        int rc = window_add(d->servers, &k, hmap_hash_bytes(r->src, 16, 2), r->start_us, 0, &se);
        if (rc == WINDOW_ERR_FULL)
            d->st.cap_hits++;
        known = rc != WINDOW_ERR_FULL && rc != WINDOW_RAISE && se && se->raised;
    } else if (admin) {
        struct window_entry *se = window_get(d->servers, &k);
        known = se && se->raised;
    }
    if (f->dst_seg < 0 || f->dst_seg == f->src_seg)
        return;
    bool learnt = d->now_us - d->first_us >= c->lateral_baseline_us;
    bool evidence = f->outcome == OUTCOME_FAILURE || (admin && !known && learnt);
    if (!evidence)
        return;
    struct window_entry *e;
    int rc = window_add_hash(d->lateral, r->src, f->h->src, hmap_hash_bytes(r->dst, 16, 3),
                             r->start_us, 0, &e);
    if (rc == WINDOW_ERR_FULL)
        d->st.cap_hits++;
    if (rc < 0)
        return;
    struct lat_state *s = e->user;
    if (!s && !(s = e->user = calloc(1, sizeof *s)))
        return;
    if (!s->first_us || r->start_us < s->first_us)
        s->first_us = r->start_us;
    s->seg_mask |= 1ULL << f->dst_seg;
    s->sensor_mask |= sensor_bit(d, r->sensor);
    if (f->outcome == OUTCOME_SUCCESS)
        s->successes++;
    else
        s->failures++;
    if (rc == WINDOW_NEW && s->n_hosts < LAT_FIRST_HOSTS)
        memcpy(s->hosts[s->n_hosts++], r->dst, 16);
    if (!s->alert) {
        if ((uint32_t)__builtin_popcountll(s->seg_mask) < c->lateral_segments ||
            e->distinct < c->lateral_min_targets)
            return;
        s->alert = detect_alert_open(d, "lateral_movement", r->src, "", s->first_us);
        if (!s->alert)
            return;
        struct detect_alert *a = s->alert;
        a->segments = s->seg_mask;
        for (uint32_t i = 0; i < s->n_hosts; i++)
            detect_alert_host(a, s->hosts[i], c->max_targets);
        for (size_t i = 0; i < d->n_sensor_names; i++)
            if (s->sensor_mask & (1ULL << i))
                detect_alert_sensor(a, d->sensor_names[i]);
        /* the sessions before the alert opened; this one is added by touch below */
        a->successes = s->successes - (f->outcome == OUTCOME_SUCCESS);
        a->failures = s->failures - (f->outcome != OUTCOME_SUCCESS);
        a->sessions = a->successes + a->failures;
    }
    struct detect_alert *a = s->alert;
    detect_alert_touch(d, a, f);
    detect_alert_host(a, r->dst, c->max_targets);
    detect_alert_port(a, r->dport, c->max_targets);
    a->total_hosts = e->total;
    a->score = (double)__builtin_popcountll(s->seg_mask);
}

/* a second sensor's record of a flow already counted: its sensor joins the source's state */
void detect_lateral_dup(struct detect *d, const struct detect_facts *f)
{
    struct window_entry *e = window_get(d->lateral, f->r->src);
    if (!e || !e->user)
        return;
    struct lat_state *s = e->user;
    s->sensor_mask |= sensor_bit(d, f->r->sensor);
    if (s->alert)
        detect_alert_sensor(s->alert, f->r->sensor);
}

void detect_lateral_close(struct window_entry *e, void *ctx)
{
    struct lat_state *s = e->user;
    if (s && s->alert)
        detect_alert_close(ctx, s->alert);
    free(s);
    e->user = NULL;
}

static uint64_t sensor_bit(struct detect *d, const char *sensor)
{
    int i = detect_sensor_index(d, sensor);
    return i < 0 ? 0 : 1ULL << i;
}
