/* event_loop.h -- the aggregator's one poll set with timers (Redis ae.c: file events and
 *                 time events in one loop, on one thread).
 * Owns:  the table of watched sockets (ZeroMQ sockets or plain file descriptors), each with
 *        its callback, and the table of periodic timers; one zmq_poll() per turn over all of
 *        them, with the wait cut to the next timer's due time.
 * Lends: nothing; callbacks get back the ctx they were registered with.
 * Never: owns or closes a socket it watches; runs a callback on another thread; calls a
 *        removed callback (removal during a turn takes effect at once).
 * Trap:  ZeroMQ sockets belong to one thread: everything registered here must be used only
 *        from the thread that runs the loop. A callback runs when its socket is readable
 *        (ZMQ_POLLIN) and should drain what is there (a ZeroMQ socket is level-triggered
 *        through zmq_poll, but one turn handles one readiness). Timers are periodic and
 *        monotonic-clock driven; a timer that falls behind fires once, not once per missed
 *        period. A callback may add or remove sockets and timers, its own included. */
#ifndef ASHIATO_EVENT_LOOP_H
#define ASHIATO_EVENT_LOOP_H

#include <stdint.h>
#include "ashiato.h"

struct event_loop;

/* A watched socket is readable (or in error, for a plain fd). */
typedef void (*event_loop_socket_fn)(void *ctx);
/* A timer is due; now_ms is clock_mono_ms() at the turn. */
typedef void (*event_loop_timer_fn)(void *ctx, int64_t now_ms);

struct event_loop *event_loop_new(char err[ASH_ERR_LEN]);
void event_loop_free(struct event_loop *l);          /* accepts NULL; closes nothing */

/* Watch a ZeroMQ socket (zsock != NULL) or a plain file descriptor (zsock NULL, fd >= 0) for
 * input. Returns an id (>= 0) for event_loop_remove(), or -1 (out of memory, bad argument). */
int event_loop_add_socket(struct event_loop *l, void *zsock, int fd, event_loop_socket_fn fn,
                          void *ctx);
/* Call fn every interval_ms (>= 1), the first time interval_ms from now. Returns an id
 * (>= 0) for event_loop_remove(), or -1. */
int event_loop_add_timer(struct event_loop *l, int64_t interval_ms, event_loop_timer_fn fn,
                         void *ctx);
/* Stop watching a socket or timer (id from the add calls); unknown ids are ignored. */
void event_loop_remove(struct event_loop *l, int id);

/* One turn: wait up to max_wait_ms (or until the next timer; -1 = no bound but the timers)
 * for input, run the callbacks of readable sockets, then of due timers. 0, or -1 when
 * zmq_poll failed (errno kept; EINTR is not a failure: 0). */
int event_loop_run_once(struct event_loop *l, int max_wait_ms);
/* Turns until event_loop_stop() (from a callback) or a failure; 0 or -1. */
int event_loop_run(struct event_loop *l);
void event_loop_stop(struct event_loop *l);
/* sockets and timers registered */
void event_loop_counts(const struct event_loop *l, size_t *sockets, size_t *timers);

#endif
