/* detect_policy.c -- address policy: addresses that should never appear at a sensor. At a
 * sensor watching a segment's uplink: private space that belongs to no segment (the seed's
 * hand-typed query, `packets == 1 && ip.src != campus && ip.dst != campus`, generalised), and
 * a session with neither end in the sensor's segment whose end lies in another segment
 * (that segment's prefix seen at the wrong sensor). One alert per sensor, prefix and period.
 * Owns:  a window keyed by (sensor, prefix, period) whose e->user is the running alert.
 * Never: looks at sensors with no segment in [sensors] (nothing is known of their uplink). */
#include <stdio.h>
#include <string.h>

#include "detect_internal.h"

int detect_policy_init(struct detect *d)
{
    struct window_config w = { d->cfg.policy_period_us, 1, 16, d->cfg.max_sources };
    d->policy = window_new(&w, 24, 0x706f6c);
    return d->policy ? 0 : -1;
}

static const char *private_block(const uint8_t a[16])
{
    if (!detect_addr_is_v4(a))
        return "fc00::/7";
    const uint8_t *v = a + 12;
    if (v[0] == 10)
        return "10.0.0.0/8";
    if (v[0] == 172)
        return "172.16.0.0/12";
    if (v[0] == 192)
        return "192.168.0.0/16";
    return "100.64.0.0/10";
}

static void violation(struct detect *d, const struct detect_facts *f, const char *prefix,
                      const uint8_t addr[16])
{
    const struct detect_record *r = f->r;
    struct { uint64_t sensor, prefix; int64_t period; } k = {
        hmap_hash_str(r->sensor ? r->sensor : "", 1), hmap_hash_str(prefix, 2),
        r->start_us / d->cfg.policy_period_us };
    struct window_entry *e;
    int rc = window_add(d->policy, &k, hmap_hash_str(r->session_id ? r->session_id : "", 3),
                        r->start_us, 0, &e);
    if (rc == WINDOW_ERR_FULL)
        d->st.cap_hits++;
    if (rc < 0)
        return;
    if (!e->user) {
        char key[128];
        snprintf(key, sizeof key, "%s %s %lld", r->sensor ? r->sensor : "", prefix,
                 (long long)k.period);
        struct detect_alert *a = detect_alert_open(d, "address_policy", addr, key, r->start_us);
        if (!(e->user = a))
            return;
        snprintf(a->prefix, sizeof a->prefix, "%s", prefix);
    }
    struct detect_alert *a = e->user;
    detect_alert_touch(d, a, f);
    detect_alert_host(a, addr, d->cfg.max_targets);
    detect_alert_host(a, addr == r->src ? r->dst : r->src, d->cfg.max_targets);
    detect_alert_port(a, r->dport, d->cfg.max_targets);
    a->total_hosts = a->n_hosts;
    a->total_ports = a->n_ports;
    a->score = (double)a->sessions;
}

void detect_policy_feed(struct detect *d, const struct detect_facts *f)
{
    const struct detect_record *r = f->r;
    const struct detect_config *c = &d->cfg;
    if (f->sensor_seg < 0)
        return;
    const uint8_t *ends[2] = { r->src, r->dst };
    int segs[2] = { f->src_seg, f->dst_seg };
    if (c->policy_private)
        for (int i = 0; i < 2; i++)
            if (segs[i] < 0 && detect_addr_private(ends[i])) {
                violation(d, f, private_block(ends[i]), ends[i]);
                return;
            }
    if (c->policy_foreign_segment && segs[0] != f->sensor_seg && segs[1] != f->sensor_seg &&
        !f->discovery)
        for (int i = 0; i < 2; i++)
            if (segs[i] >= 0) {
                char p[64];
                snprintf(p, sizeof p, "segment %s", c->segments[segs[i]]);
                violation(d, f, p, ends[i]);
                return;
            }
}
