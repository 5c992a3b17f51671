/* http_session.c -- the browser's login session (see http_session.h). A linear table: it
 * holds a few hundred analysts' sessions at most, and each lookup is one request's cost
 * next to a store query. */
#include "http_session.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct session {
    char token[HTTP_SESSION_TOKEN_LEN + 1];   /* "" = free slot */
    const struct userdb_entry *user;
    int64_t created_us, used_us;
};

struct http_sessions {
    pthread_mutex_t mu;
    struct session *v;
    size_t cap;
    int64_t idle_us, max_us;
};

struct http_sessions *http_sessions_new(size_t cap, int64_t idle_s, int64_t max_s)
{
    struct http_sessions *s = calloc(1, sizeof *s);
    if (!s || !cap || !(s->v = calloc(cap, sizeof *s->v))) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->cap = cap;
    s->idle_us = idle_s * 1000000;
    s->max_us = max_s * 1000000;
    return s;
}

void http_sessions_free(struct http_sessions *s)
{
    if (!s)
        return;
    explicit_bzero(s->v, s->cap * sizeof *s->v);
    free(s->v);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int64_t http_sessions_max_age(const struct http_sessions *s)
{
    return s->max_us / 1000000;
}

static bool live(const struct http_sessions *s, const struct session *e, int64_t now_us)
{
    return e->token[0] && now_us - e->used_us < s->idle_us && now_us - e->created_us < s->max_us;
}

/* the same time for every token of the right length, whatever its first wrong digit */
static bool token_equal(const char *a, const char *b)
{
    unsigned char d = 0;
    for (size_t i = 0; i < HTTP_SESSION_TOKEN_LEN; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int http_sessions_create(struct http_sessions *s, const struct userdb_entry *u, int64_t now_us,
                         char token[HTTP_SESSION_TOKEN_LEN + 1])
{
    uint8_t rnd[HTTP_SESSION_TOKEN_LEN / 2];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -1;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    explicit_bzero(rnd, sizeof rnd);
    pthread_mutex_lock(&s->mu);
    size_t slot = 0;
    for (size_t i = 0; i < s->cap; i++) {     /* a free or ended slot, else the least used */
        if (!live(s, &s->v[i], now_us)) {
            slot = i;
            break;
        }
        if (s->v[i].used_us < s->v[slot].used_us)
            slot = i;
    }
    struct session *e = &s->v[slot];
    memcpy(e->token, token, HTTP_SESSION_TOKEN_LEN + 1);
    e->user = u;
    e->created_us = e->used_us = now_us;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

const struct userdb_entry *http_sessions_find(struct http_sessions *s, const char *token,
                                              int64_t now_us)
{
    if (!token || strlen(token) != HTTP_SESSION_TOKEN_LEN)
        return NULL;
    const struct userdb_entry *u = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->cap; i++) {
        struct session *e = &s->v[i];
        if (e->token[0] && token_equal(e->token, token)) {
            if (live(s, e, now_us)) {
                e->used_us = now_us;
                u = e->user;
            } else {
                explicit_bzero(e, sizeof *e);  /* ended: the slot is free again */
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return u;
}
