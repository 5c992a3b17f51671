/* http_session.h -- the browser's login session on the HTTP API: after one successful digest
 *                   (or, over TLS, basic) check, a random cookie stands for the user.
 * Owns:  the table of live sessions (token, user, created, last used) behind its own mutex;
 *        at most `cap` of them, the least recently used evicted first.
 * Lends: the user entry of a session, owned by the server's userdb (read once at start).
 * Never: takes a session for a token it did not make, or one past its idle or absolute
 *        lifetime; writes a token anywhere but the Set-Cookie header.
 * Why:   libmicrohttpd 0.9.75 (Debian 12) binds each digest nonce to the URI it was issued
 *        for. A browser reuses its latest nonce for every request, so each new URI costs a
 *        401 "stale" round trip, and the page's parallel module loads and fetches race each
 *        other's fresh nonces until one gives up (test_web saw 401s at load 10). With the
 *        cookie, digest runs once per login, as in Arkime's viewer and Kibana. */
#ifndef ASHIATO_HTTP_SESSION_H
#define ASHIATO_HTTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "userdb.h"

#define HTTP_SESSION_COOKIE   "ashiato_session"
#define HTTP_SESSION_TOKEN_LEN 64              /* hex of 32 random bytes */

struct http_sessions;

/* idle_s: a session unused that long ends; max_s: it ends that long after login anyway */
struct http_sessions *http_sessions_new(size_t cap, int64_t idle_s, int64_t max_s);
void http_sessions_free(struct http_sessions *s);

/* A new session for u at now_us; token gets HTTP_SESSION_TOKEN_LEN hex digits and a NUL.
 * 0, or -1 when no random bytes could be had (then there is no session, only the digest). */
int http_sessions_create(struct http_sessions *s, const struct userdb_entry *u, int64_t now_us,
                         char token[HTTP_SESSION_TOKEN_LEN + 1]);
/* The user of a live session with this token (and the session counts as used), or NULL. */
const struct userdb_entry *http_sessions_find(struct http_sessions *s, const char *token,
                                              int64_t now_us);
/* seconds a new session's cookie may live (its Max-Age) */
int64_t http_sessions_max_age(const struct http_sessions *s);

#endif
