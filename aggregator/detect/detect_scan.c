/* detect_scan.c -- address scans (distinct failed hosts per source, port and protocol) and
 * port scans (distinct failed ports per source and destination), as Zeek's scan.zeek and
 * bro-simple-scan count them: failed attempts only, within scan_window.
 * Owns:  two windows (common/window.c) whose entries hold their running alert (e->user).
 * Never: counts a success, an unknown outcome, a discovery destination or a second sensor's
 *        copy of a flow. */
#include <stdio.h>
#include <string.h>

#include "detect_internal.h"

int detect_scan_init(struct detect *d)
{
    const struct detect_config *c = &d->cfg;
    uint32_t lo = c->address_scan_hosts;
    if (c->address_scan_hosts_internal < lo)
        lo = c->address_scan_hosts_internal;
    struct window_config a = { c->scan_window_us, lo, 4096, c->max_sources };
    struct window_config p = { c->scan_window_us, c->port_scan_ports, 4096, c->max_sources };
    struct window_config k = { c->darknet_window_us, c->address_scan_hosts_darknet, 256,
                               c->max_sources };
    d->addr_scan = window_new(&a, sizeof(struct detect_key), 0x61646472);
    d->port_scan = window_new(&p, sizeof(struct detect_key), 0x706f7274);
    d->dark_scan = window_new(&k, sizeof(struct detect_key), 0x6461726b);
    return d->addr_scan && d->port_scan && d->dark_scan ? 0 : -1;
}

static uint64_t addr_hash(const uint8_t a[16])
{
    return hmap_hash_bytes(a, 16, 0x686f7374);
}

static void count(struct detect *d, int rc)
{
    if (rc == WINDOW_ERR_FULL)
        d->st.cap_hits++;
}

void detect_scan_feed(struct detect *d, const struct detect_facts *f)
{
    const struct detect_record *r = f->r;
    const struct detect_config *c = &d->cfg;
    if (!f->attempt || f->outcome != OUTCOME_FAILURE)
        return;
    struct window_entry *e;
    char key[64];

    /* address scan: (source, port, protocol) -> distinct hosts */
    struct detect_key k;
    memset(&k, 0, sizeof k);
    memcpy(k.a, r->src, 16);
    k.port = r->dport;
    k.proto = r->proto;
    uint32_t thr = f->src_seg >= 0 ? c->address_scan_hosts_internal : c->address_scan_hosts;
    snprintf(key, sizeof key, "%u/%u", r->dport, r->proto);
    int rc = window_add(d->addr_scan, &k, addr_hash(r->dst), r->start_us, thr, &e);
    count(d, rc);
    if (rc >= 0)        /* the segments of every target, also those before the alert */
        e->mask |= f->dst_seg >= 0 ? 1ULL << f->dst_seg : 1ULL << 63;
    struct window_entry *dark = NULL;
    if (c->n_darknet && detect_in_list(c->darknet, c->n_darknet, r->dst)) {
        /* darknet hits (addresses where nothing lives): a low threshold over a long window,
         * as bro-simple-scan's knock-knock with darknet hits */
        int drc = window_add(d->dark_scan, &k, addr_hash(r->dst), r->start_us, 0, &dark);
        count(d, drc);
        if (drc == WINDOW_RAISE && !(rc >= 0 && e->user)) {
            dark->user = detect_alert_open(d, "address_scan", r->src, key, dark->first_us);
            if (dark->user) {
                detect_alert_port(dark->user, r->dport, c->max_targets);
                ((struct detect_alert *)dark->user)->failures = dark->total - 1;
                ((struct detect_alert *)dark->user)->sessions = dark->total - 1;
            }
        }
        if (drc >= 0 && dark->user) {
            struct detect_alert *a = dark->user;
            detect_alert_touch(d, a, f);
            detect_alert_host(a, r->dst, c->max_targets);
            if (a->total_hosts < dark->total)
                a->total_hosts = dark->total;
            a->total_ports = 1;
            a->score = (double)dark->total / c->address_scan_hosts_darknet;
        }
    }
    if (rc == WINDOW_RAISE && !(dark && dark->user)) {
        e->user = detect_alert_open(d, "address_scan", r->src, key, e->first_us);
        if (e->user) {
            detect_alert_port(e->user, r->dport, c->max_targets);
            ((struct detect_alert *)e->user)->failures = e->total - 1;
            ((struct detect_alert *)e->user)->sessions = e->total - 1;
        }
    }
    if (rc >= 0 && e->user) {
        struct detect_alert *a = e->user;
        detect_alert_touch(d, a, f);
        if (e->first_us < a->start_us)
            a->start_us = e->first_us;
        a->segments |= e->mask & ~(1ULL << 63);
        a->outside |= (e->mask >> 63) != 0;
        detect_alert_host(a, r->dst, c->max_targets);
        a->total_hosts = e->total;
        a->total_ports = 1;
        a->score = (double)e->total / thr;
    }

    /* port scan: (source, destination, protocol) -> distinct ports */
    memset(&k, 0, sizeof k);
    memcpy(k.a, r->src, 16);
    memcpy(k.b, r->dst, 16);
    k.proto = r->proto;
    if (r->proto != 6 && r->proto != 17 && r->proto != 132)
        return;
    rc = window_add(d->port_scan, &k, r->dport, r->start_us, 0, &e);
    count(d, rc);
    if (rc == WINDOW_RAISE) {
        char dst[48];
        detect_addr_text(r->dst, dst);
        snprintf(key, sizeof key, "%s/%u", dst, r->proto);
        e->user = detect_alert_open(d, "port_scan", r->src, key, e->first_us);
        if (e->user) {
            detect_alert_host(e->user, r->dst, c->max_targets);
            ((struct detect_alert *)e->user)->failures = e->total - 1;
            ((struct detect_alert *)e->user)->sessions = e->total - 1;
        }
    }
    if (rc >= 0 && e->user) {
        struct detect_alert *a = e->user;
        detect_alert_touch(d, a, f);
        if (e->first_us < a->start_us)
            a->start_us = e->first_us;
        detect_alert_port(a, r->dport, c->max_targets);
        a->total_ports = e->total;
        a->total_hosts = 1;
        a->score = (double)e->total / c->port_scan_ports;
    }
}
