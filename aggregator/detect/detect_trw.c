/* detect_trw.c -- Threshold Random Walk per source (Jung, Paxson, Berger, Balakrishnan,
 * "Fast Portscan Detection Using Sequential Hypothesis Testing", IEEE S&P 2004): each first
 * contact of a TCP destination host is a Bernoulli trial, success with probability theta0
 * for a benign host and theta1 for a scanner; the log-likelihood ratio walks to
 * ln(beta/alpha) (scanner) or ln((1-beta)/(1-alpha)) (benign).
 * Owns:  a window keyed by source whose distinct values are the hosts contacted (the first
 *        contact test) and, in e->user, the walk and the running alert.
 * Never: counts a host twice for one source within trw_memory, or a non-TCP session (but a
 *        UDP/SCTP attempt an ICMP error answered: ashiato.icmp_error).
 * Trap:  a benign verdict restarts the walk at 0 instead of ending it, so a source that turns
 *        into a scanner later is still caught (a source that changes behaviour). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"

struct trw_state {
    double llr;
    uint32_t ok, failed;        /* first contacts of the walk so far */
    struct detect_alert *alert;
};

int detect_trw_init(struct detect *d)
{
    const struct detect_config *c = &d->cfg;
    struct window_config w = { c->trw_memory_us, UINT32_MAX, 1024, c->max_sources };
    d->trw = window_new(&w, 16, DETECT_SRC_SEED);   /* its key hash is detect_source_hash */
    d->trw_up = log((1 - c->trw_theta1) / (1 - c->trw_theta0));     /* failure */
    d->trw_down = log(c->trw_theta1 / c->trw_theta0);               /* success */
    d->trw_eta1 = log(c->trw_beta / c->trw_alpha);
    d->trw_eta0 = log((1 - c->trw_beta) / (1 - c->trw_alpha));
    return d->trw ? 0 : -1;
}

uint64_t detect_trw_value(const struct detect_record *r)
{
    return hmap_hash_bytes(r->dst, 16, 1);
}

void detect_trw_feed(struct detect *d, const struct detect_facts *f)
{
    const struct detect_record *r = f->r;
    const struct detect_config *c = &d->cfg;
    if (!f->attempt || (r->proto != 6 && !f->icmp_failed) || f->outcome == OUTCOME_UNKNOWN)
        return;
    struct window_entry *e;
    const struct detect_hashes *h = f->h;
    int rc = h->trw_entry && h->trw_gen == window_generation(d->trw)
                 ? window_add_entry(d->trw, h->trw_entry, h->trw_value, r->start_us, 0, &e)
             : h->trw ? window_add_hash(d->trw, r->src, h->src, h->trw_value, r->start_us, 0, &e)
                      : window_add_hash(d->trw, r->src, h->src, detect_trw_value(r), r->start_us,
                                        0, &e);
    if (rc == WINDOW_ERR_FULL)
        d->st.cap_hits++;
    if (rc != WINDOW_NEW)
        return;                 /* not a first contact (or not tracked) */
    struct trw_state *s = e->user;
    if (!s && !(s = e->user = calloc(1, sizeof *s)))
        return;
    double up = d->trw_up, down = d->trw_down, eta1 = d->trw_eta1, eta0 = d->trw_eta0;
    if (!s->alert) {
        s->llr += f->outcome == OUTCOME_FAILURE ? up : down;
        s->failed += f->outcome == OUTCOME_FAILURE;
        s->ok += f->outcome == OUTCOME_SUCCESS;
        if (s->llr <= eta0)
            s->llr = s->ok = s->failed = 0;
        if (s->llr < eta1)
            return;
        s->alert = detect_alert_open(d, "scanner", r->src, "", e->first_us);
        if (!s->alert)
            return;
        /* the walk's earlier first contacts (this one is added below) */
        s->alert->failures = s->failed - (f->outcome == OUTCOME_FAILURE);
        s->alert->successes = s->ok - (f->outcome == OUTCOME_SUCCESS);
        s->alert->sessions = s->alert->total_hosts = s->ok + s->failed - 1;
    }
    struct detect_alert *a = s->alert;
    detect_alert_touch(d, a, f);
    detect_alert_host(a, r->dst, c->max_targets);
    detect_alert_port(a, r->dport, c->max_targets);
    a->total_hosts++;
    a->score = a->failures ? (double)a->failures / (a->failures + a->successes) : 0;
}

/* the trw window's expiry: close the alert, free the walk */
void detect_trw_close(struct window_entry *e, void *ctx)
{
    struct trw_state *s = e->user;
    if (s && s->alert)
        detect_alert_close(ctx, s->alert);
    free(s);
    e->user = NULL;
}
