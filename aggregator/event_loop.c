/* event_loop.c -- one poll set with timers (see event_loop.h).
 * Owns:  the socket and timer tables and the zmq_pollitem_t array rebuilt from them.
 * Never: blocks beyond the next timer; frees an entry while a turn may still read it (removed
 *        entries are only marked, and swept after the turn). */
#include "event_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"

struct watch {
    int id;
    bool removed;
    void *zsock;
    int fd;
    event_loop_socket_fn fn;
    void *ctx;
};

struct timer {
    int id;
    bool removed;
    int64_t interval_ms, due_ms;
    event_loop_timer_fn fn;
    void *ctx;
};

struct event_loop {
    struct watch *w;
    size_t nw, capw;
    struct timer *t;
    size_t nt, capt;
    zmq_pollitem_t *items;
    size_t capitems;
    int next_id;
    bool stop, dirty;                /* dirty: something was removed, sweep after the turn */
};

struct event_loop *event_loop_new(char err[ASH_ERR_LEN])
{
    struct event_loop *l = calloc(1, sizeof *l);
    if (!l)
        snprintf(err, ASH_ERR_LEN, "event_loop: out of memory");
    return l;
}

void event_loop_free(struct event_loop *l)
{
    if (!l)
        return;
    free(l->w);
    free(l->t);
    free(l->items);
    free(l);
}

/* grow *p (n used of *cap, elements of size) by one; false when out of memory */
static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 8;
    void *q = realloc(*p, ncap * size);
    if (!q)
        return false;
    *p = q;
    *cap = ncap;
    return true;
}

int event_loop_add_socket(struct event_loop *l, void *zsock, int fd, event_loop_socket_fn fn,
                          void *ctx)
{
    if (!l || !fn || (!zsock && fd < 0) || l->next_id == INT32_MAX)
        return -1;
    if (!grow((void **)&l->w, &l->capw, l->nw, sizeof *l->w))
        return -1;
    l->w[l->nw++] = (struct watch){ l->next_id, false, zsock, zsock ? -1 : fd, fn, ctx };
    return l->next_id++;
}

int event_loop_add_timer(struct event_loop *l, int64_t interval_ms, event_loop_timer_fn fn,
                         void *ctx)
{
    if (!l || !fn || interval_ms < 1 || l->next_id == INT32_MAX)
        return -1;
    if (!grow((void **)&l->t, &l->capt, l->nt, sizeof *l->t))
        return -1;
    l->t[l->nt++] = (struct timer){ l->next_id, false, interval_ms,
                                    clock_mono_ms() + interval_ms, fn, ctx };
    return l->next_id++;
}

void event_loop_remove(struct event_loop *l, int id)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nw; i++)
        if (l->w[i].id == id && !l->w[i].removed) {
            l->w[i].removed = l->dirty = true;
            return;
        }
    for (size_t i = 0; i < l->nt; i++)
        if (l->t[i].id == id && !l->t[i].removed) {
            l->t[i].removed = l->dirty = true;
            return;
        }
}

static void sweep(struct event_loop *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->nw; i++)
        if (!l->w[i].removed)
            l->w[k++] = l->w[i];
    l->nw = k;
    k = 0;
    for (size_t i = 0; i < l->nt; i++)
        if (!l->t[i].removed)
            l->t[k++] = l->t[i];
    l->nt = k;
    l->dirty = false;
}

int event_loop_run_once(struct event_loop *l, int max_wait_ms)
{
    int64_t now = clock_mono_ms();
    int64_t wait = max_wait_ms;
    for (size_t i = 0; i < l->nt; i++) {
        int64_t left = l->t[i].due_ms - now;
        if (left < 0)
            left = 0;
        if (wait < 0 || left < wait)
            wait = left;
    }
    if (wait < 0 || wait > 60000)         /* nothing to wait for: still turn once a minute */
        wait = 60000;
    size_t n = l->nw;
    if (n > l->capitems) {
        zmq_pollitem_t *ni = realloc(l->items, n * sizeof *ni);
        if (!ni) {
            errno = ENOMEM;
            return -1;
        }
        l->items = ni;
        l->capitems = n;
    }
    for (size_t i = 0; i < n; i++)
        l->items[i] = (zmq_pollitem_t){ l->w[i].zsock, l->w[i].fd, ZMQ_POLLIN, 0 };
    int rc = zmq_poll(n ? l->items : NULL, (int)n, (long)wait);
    if (rc < 0) {
        if (zmq_errno() == EINTR)
            return 0;
        errno = zmq_errno();
        return -1;
    }
    /* sockets: index i of items is index i of w at poll time (adds go after, removes only
     * mark), so a callback that adds or removes does not shift what is checked next */
    for (size_t i = 0; i < n && rc > 0; i++)
        if ((l->items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) && !l->w[i].removed)
            l->w[i].fn(l->w[i].ctx);
    now = clock_mono_ms();
    size_t nt = l->nt;
    for (size_t i = 0; i < nt; i++) {
        if (l->t[i].removed || l->t[i].due_ms > now)
            continue;
        l->t[i].due_ms += l->t[i].interval_ms;
        if (l->t[i].due_ms <= now)           /* fell behind: once, then on schedule */
            l->t[i].due_ms = now + l->t[i].interval_ms;
        l->t[i].fn(l->t[i].ctx, now);
    }
    if (l->dirty)
        sweep(l);
    return 0;
}

int event_loop_run(struct event_loop *l)
{
    l->stop = false;
    while (!l->stop)
        if (event_loop_run_once(l, -1) < 0)
            return -1;
    return 0;
}

void event_loop_stop(struct event_loop *l) { l->stop = true; }

void event_loop_counts(const struct event_loop *l, size_t *sockets, size_t *timers)
{
    size_t s = 0, t = 0;
    for (size_t i = 0; i < l->nw; i++)
        s += !l->w[i].removed;
    for (size_t i = 0; i < l->nt; i++)
        t += !l->t[i].removed;
    if (sockets)
        *sockets = s;
    if (timers)
        *timers = t;
}
