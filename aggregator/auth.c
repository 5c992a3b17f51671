/* auth.c -- the ZAP handler (see auth.h; RFC 27/ZAP).
 * Owns:  the handler thread and its REP socket.
 * Never: blocks the receive loop; accepts a request it cannot parse. */
#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"

#define AUTH_MAX_FRAMES 8
/* L1: a stranger cycling keys wrote one warning per key (300 keys, 300 lines in 3 s). Now at
 * most AUTH_LOG_BURST refusals are logged one by one per AUTH_LOG_WINDOW_S; the rest are
 * counted and summed up in one line when the window ends (count, distinct last key). */
#define AUTH_LOG_BURST 5
#define AUTH_LOG_WINDOW_S 60

struct auth {
    void *zctx, *rep;
    const struct curve_allow *allow;
    bool insecure;
    pthread_t thread;
    _Atomic bool stop;                 /* set by auth_stop, read by the ZAP thread */
    pthread_mutex_t lock;
    struct auth_stats st;
    uint8_t last_refused[32];
    char last_address[64];
    time_t window_start;             /* of the current logging window */
    uint64_t window_logged, window_quiet;   /* refusals logged / only counted in it */
};

/* the refusals of the window that were only counted, in one line; under a->lock */
static void summary_locked(struct auth *a, time_t now)
{
    if (a->window_quiet) {
        char z85[41];
        zmq_z85_encode(z85, a->last_refused, 32);
        log_warn("auth", "sensors refused: %llu more unknown keys in the last %lld s not logged "
                 "one by one (refused in all: %llu), the last key=%s address=%s",
                 (unsigned long long)a->window_quiet, (long long)(now - a->window_start),
                 (unsigned long long)a->st.refused, z85, a->last_address);
    }
    a->window_start = now;
    a->window_logged = a->window_quiet = 0;
}

static void reply(struct auth *a, zmq_msg_t *version, zmq_msg_t *request_id, const char *code,
                  const char *text, const char *user)
{
    zmq_send(a->rep, zmq_msg_data(version), zmq_msg_size(version), ZMQ_SNDMORE);
    zmq_send(a->rep, zmq_msg_data(request_id), zmq_msg_size(request_id), ZMQ_SNDMORE);
    zmq_send(a->rep, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(a->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(a->rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(a->rep, "", 0, 0);
}

static void handle(struct auth *a)
{
    zmq_msg_t f[AUTH_MAX_FRAMES];
    int n = 0, more = 1;
    while (more && n < AUTH_MAX_FRAMES) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], a->rep, 0) < 0) {
            zmq_msg_close(&f[n]);
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) {                   /* drain an oversized request */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, a->rep, 0);
        more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    if (n < 6) {
        /* not a ZAP request: REP must still answer something */
        if (n >= 2)
            reply(a, &f[0], &f[1], "500", "malformed request", "");
        else
            zmq_send(a->rep, "", 0, 0);
        goto done;
    }
    /* version, request id, domain, address, identity, mechanism, credentials... */
    char address[64] = "", mech[16] = "";
    snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
    snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&f[5]), (char *)zmq_msg_data(&f[5]));
    if (strcmp(mech, "CURVE") == 0 && n >= 7 && zmq_msg_size(&f[6]) == 32 && a->allow) {
        const uint8_t *key = zmq_msg_data(&f[6]);
        const char *name = curve_allow_find(a->allow, key);
        pthread_mutex_lock(&a->lock);
        if (name) {
            a->st.accepted++;
            pthread_mutex_unlock(&a->lock);
            reply(a, &f[0], &f[1], "200", "OK", name);
            log_info("auth", "sensor accepted name=%s address=%s", name, address);
            goto done;
        }
        a->st.refused++;
        time_t now = time(NULL);
        if (now - a->window_start >= AUTH_LOG_WINDOW_S)
            summary_locked(a, now);
        bool say = a->window_logged < AUTH_LOG_BURST;
        if (say)
            a->window_logged++;
        else
            a->window_quiet++, a->st.refused_quiet++;
        memcpy(a->last_refused, key, 32);
        snprintf(a->last_address, sizeof a->last_address, "%s", address);
        pthread_mutex_unlock(&a->lock);
        if (say) {
            char z85[41];
            zmq_z85_encode(z85, key, 32);
            log_warn("auth", "sensor refused: key not in allow-list key=%s address=%s", z85, address);
        }
        reply(a, &f[0], &f[1], "400", "key not allowed", "");
        goto done;
    }
    if (strcmp(mech, "NULL") == 0 && a->insecure) {
        pthread_mutex_lock(&a->lock);
        a->st.accepted++;
        pthread_mutex_unlock(&a->lock);
        reply(a, &f[0], &f[1], "200", "OK", "");
        goto done;
    }
    pthread_mutex_lock(&a->lock);
    a->st.refused++;
    pthread_mutex_unlock(&a->lock);
    log_warn("auth", "client refused mechanism=%s address=%s (plaintext needs insecure = true)",
             mech, address);
    reply(a, &f[0], &f[1], "400", "mechanism not allowed", "");
done:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *auth_main(void *arg)
{
    struct auth *a = arg;
    while (!a->stop) {
        zmq_pollitem_t it = { a->rep, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 100) > 0 && (it.revents & ZMQ_POLLIN))
            handle(a);
        time_t now = time(NULL);
        pthread_mutex_lock(&a->lock);
        if (a->window_quiet && now - a->window_start >= AUTH_LOG_WINDOW_S)
            summary_locked(a, now);
        pthread_mutex_unlock(&a->lock);
    }
    return NULL;
}

struct auth *auth_start(void *zctx, const struct curve_allow *allow, bool insecure,
                        char err[ASH_ERR_LEN])
{
    struct auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, ASH_ERR_LEN, "auth: out of memory");
        return NULL;
    }
    a->zctx = zctx;
    a->allow = allow;
    a->insecure = insecure;
    pthread_mutex_init(&a->lock, NULL);
    a->rep = zmq_socket(zctx, ZMQ_REP);
    if (!a->rep || zmq_bind(a->rep, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, ASH_ERR_LEN, "auth: cannot bind the ZAP endpoint: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int linger = 0;
    zmq_setsockopt(a->rep, ZMQ_LINGER, &linger, sizeof linger);
    if (pthread_create(&a->thread, NULL, auth_main, a) != 0) {
        snprintf(err, ASH_ERR_LEN, "auth: cannot start thread");
        goto fail;
    }
    return a;
fail:
    if (a->rep)
        zmq_close(a->rep);
    pthread_mutex_destroy(&a->lock);
    free(a);
    return NULL;
}

void auth_stop(struct auth *a)
{
    if (!a)
        return;
    a->stop = true;
    pthread_join(a->thread, NULL);
    auth_log_summary(a);
    zmq_close(a->rep);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void auth_stats(struct auth *a, struct auth_stats *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->st;
    pthread_mutex_unlock(&a->lock);
}

void auth_log_summary(struct auth *a)
{
    pthread_mutex_lock(&a->lock);
    summary_locked(a, time(NULL));
    pthread_mutex_unlock(&a->lock);
}
