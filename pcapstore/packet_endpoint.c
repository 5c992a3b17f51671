/* packet_endpoint.c -- local ZeroMQ endpoint of the packet service (see packet_endpoint.h).
 * Owns:  the context, the ROUTER socket (created and bound by the opening thread, then used
 *        only by the endpoint thread), the thread, its counters.
 * Never: logs per request (counters); blocks longer than the send timeout on a client. */
#include "packet_endpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

#define EP_MAX_FRAMES 8
#define EP_MAX_REQUEST (64 << 20)
#define EP_SEND_TIMEOUT_MS 5000
#define EP_POLL_MS 100

struct packet_endpoint {
    void *zctx, *sock;
    struct packet_service *svc;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    char address[256];
    pthread_mutex_t mu;
    struct packet_endpoint_stats stats;
};

/* the envelope of the request being answered */
struct reply {
    struct packet_endpoint *ep;
    zmq_msg_t *id;
    bool delimiter;
};

int packet_endpoint_local_check(const char *endpoint, char err[ASH_ERR_LEN])
{
    struct sockaddr_un sa;
    const char *path = endpoint && strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : NULL;
    if (!path || path[0] != '/') {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint: expected ipc:///PATH, a socket file (tcp:// and "
                 "ipc://@ have no authentication: any local user could fetch every packet), got '%.80s'",
                 endpoint ? endpoint : "");
        return -1;
    }
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: the path is longer than %zu bytes", path,
                 sizeof sa.sun_path - 1);
        return -1;
    }
    char dir[sizeof sa.sun_path];
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';                      /* "/x.sock": the root directory */
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: directory %s: %s", path, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 0027)) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint: directory not closed to others (owner %u, mode "
                 "%04o; expected this user or root, 0750 or tighter): %s",
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), dir);
        return -1;
    }
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: exists and is not a socket", path);
        return -1;
    }
    return 0;
}

int packet_endpoint_local_restrict(const char *endpoint, char err[ASH_ERR_LEN])
{
    const char *path = endpoint + 6;
    struct stat st;
    if (chmod(path, 0660) < 0 || lstat(path, &st) < 0) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0777) != 0660) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: expected a socket of ours with mode 0660, "
                 "found owner %u mode %04o", path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

static int send_chunk(void *arg, const Ashiato__PacketResponse *resp)
{
    struct reply *r = arg;
    zmq_msg_t id, body;
    size_t len = ashiato__packet_response__get_packed_size(resp);
    if (zmq_msg_init(&id) != 0 || zmq_msg_copy(&id, r->id) != 0)
        return -1;
    if (zmq_msg_send(&id, r->ep->sock, ZMQ_SNDMORE) < 0) {
        zmq_msg_close(&id);
        return -1;
    }
    if (r->delimiter && zmq_send(r->ep->sock, "", 0, ZMQ_SNDMORE) < 0)
        return -1;
    if (zmq_msg_init_size(&body, len) != 0)
        return -1;
    ashiato__packet_response__pack(resp, zmq_msg_data(&body));
    if (zmq_msg_send(&body, r->ep->sock, 0) < 0) {
        zmq_msg_close(&body);
        return -1;
    }
    return 0;
}

static void count(struct packet_endpoint *ep, uint64_t *field)
{
    pthread_mutex_lock(&ep->mu);
    (*field)++;
    pthread_mutex_unlock(&ep->mu);
}

static void handle_message(struct packet_endpoint *ep)
{
    zmq_msg_t f[EP_MAX_FRAMES];
    int n = 0, more = 1;
    bool bad = false;
    zmq_msg_t spare;
    while (more) {
        zmq_msg_t *m = n < EP_MAX_FRAMES ? &f[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, ep->sock, 0) < 0) {
            zmq_msg_close(m);
            bad = true;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &spare) {
            zmq_msg_close(m);
            bad = true;
        } else {
            n++;
        }
    }
    count(ep, &ep->stats.messages);
    /* [identity] [empty delimiter]? [request]: anything else is not from a client of ours */
    bool delim = n == 3 && zmq_msg_size(&f[1]) == 0;
    if (bad || n < 2 || n > 3 || (n == 3 && !delim)) {
        count(ep, &ep->stats.malformed);
    } else {
        struct reply r = { ep, &f[0], delim };
        zmq_msg_t *req = &f[n - 1];
        if (packet_service_answer_bytes(ep->svc, zmq_msg_data(req), zmq_msg_size(req), send_chunk, &r) < 0)
            count(ep, &ep->stats.abandoned);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *endpoint_main(void *arg)
{
    struct packet_endpoint *ep = arg;
    while (!atomic_load(&ep->stop)) {
        zmq_pollitem_t it = { ep->sock, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll(&it, 1, EP_POLL_MS);
        if (rc < 0 && zmq_errno() == ETERM)
            break;
        if (rc > 0 && (it.revents & ZMQ_POLLIN))
            handle_message(ep);
    }
    return NULL;
}

struct packet_endpoint *packet_endpoint_open(const char *endpoint, struct packet_service *svc,
                                             char err[ASH_ERR_LEN])
{
    if (packet_endpoint_local_check(endpoint, err) < 0)
        return NULL;
    struct packet_endpoint *ep = calloc(1, sizeof *ep);
    if (!ep) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint: out of memory");
        return NULL;
    }
    pthread_mutex_init(&ep->mu, NULL);
    ep->svc = svc;
    int one = 1, zero = 0, timeout = EP_SEND_TIMEOUT_MS, hwm = 64;
    int64_t maxmsg = EP_MAX_REQUEST;
    size_t alen = sizeof ep->address;
    if (!(ep->zctx = zmq_ctx_new()) || !(ep->sock = zmq_socket(ep->zctx, ZMQ_ROUTER))) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    zmq_setsockopt(ep->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(ep->sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(ep->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(ep->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(ep->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_bind(ep->sock, endpoint) != 0) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (packet_endpoint_local_restrict(endpoint, err) < 0)
        goto fail;
    if (zmq_getsockopt(ep->sock, ZMQ_LAST_ENDPOINT, ep->address, &alen) != 0)
        snprintf(ep->address, sizeof ep->address, "%s", endpoint);
    int e = pthread_create(&ep->thread, NULL, endpoint_main, ep);
    if (e) {
        snprintf(err, ASH_ERR_LEN, "packet_endpoint: thread: %s", strerror(e));
        goto fail;
    }
    ep->started = true;
    log_info("packet_endpoint", "listening endpoint=%s", ep->address);
    return ep;
fail:
    packet_endpoint_close(ep);
    return NULL;
}

void packet_endpoint_close(struct packet_endpoint *ep)
{
    if (!ep)
        return;
    if (ep->started) {
        atomic_store(&ep->stop, true);
        pthread_join(ep->thread, NULL);
    }
    if (ep->sock)
        zmq_close(ep->sock);
    if (ep->zctx)
        zmq_ctx_term(ep->zctx);
    pthread_mutex_destroy(&ep->mu);
    free(ep);
}

const char *packet_endpoint_address(const struct packet_endpoint *ep)
{
    return ep->address;
}

void packet_endpoint_stats(struct packet_endpoint *ep, struct packet_endpoint_stats *out)
{
    pthread_mutex_lock(&ep->mu);
    *out = ep->stats;
    pthread_mutex_unlock(&ep->mu);
}
