/* api_client.h -- the CLI's side of the aggregator's HTTP API (libcurl).
 * Owns:  libcurl itself: dlopen'ed (API_CLIENT_LIBCURL) by the first api_client_load or
 *        api_client_get, never linked, so that the commands that do not speak HTTP
 *        (`pcap --sensor`, keygen, detect, user) start without it and the 20 libraries only
 *        it brings (21 of 54 shared objects, ~3 ms of every start: bench/RESULTS.md,
 *        pcap_retrieval 2026-12-07 09:35); the package Depends on it;
 *        where the URL and credentials come from (~/.config/ashiato/cli.ini section [cli]:
 *        url, user, password; then the environment ASHIATO_URL, ASHIATO_USER,
 *        ASHIATO_PASSWORD, which win; never argv, where other users could read them), the
 *        curl handle (digest or basic, whichever the server offers: CURLAUTH_ANY), and the
 *        answer buffer.
 * Lends: nothing; api_client_get's body is malloc'd and the caller frees it.
 * Never: prints a password; sends credentials in a URL.
 * Trap:  a cli.ini that holds a password and that others can read is refused. libcurl is
 *        called through function pointers, so curl.h's compile-time check of
 *        curl_easy_setopt's argument types does not apply: pass longs as (long). It is never
 *        dlclose'd once loaded. */
#ifndef ASHIATO_API_CLIENT_H
#define ASHIATO_API_CLIENT_H

#include <stddef.h>
#include <stdio.h>
#include "ashiato.h"

/* the soname opened: libcurl4's (OpenSSL), whatever the headers built against */
#define API_CLIENT_LIBCURL "libcurl.so.4"

struct api_client {
    char url[1024];              /* http://127.0.0.1:8005 (no trailing slash) */
    char user[128];
    char password[256];
    char cafile[1024];           /* [cli] ca_file: a CA for https, "" = system */
    long timeout_s;
};

/* Fill c from the file and environment, and load libcurl. 0, or -1 with err (libcurl
 * missing, no URL, unreadable file). */
int api_client_load(struct api_client *c, char err[ASH_ERR_LEN]);

struct api_param {
    const char *name, *value;    /* value NULL: left out */
};

struct api_answer {
    long status;                 /* HTTP status, 0 if no answer */
    char *body;                  /* malloc'd, NUL-terminated (or written to `to`) */
    size_t len;
    char failed_sensors[1024];   /* X-Ashiato-Failed-Sensors, "" if none */
};

/* GET url + path with the params URL-encoded. The body goes to `to` when not NULL (then only
 * an error answer's body is kept in a->body). 0 when an answer came (any status), -1 with
 * err on a transport error. */
int api_client_get(const struct api_client *c, const char *path, const struct api_param *params,
                   size_t nparams, FILE *to, struct api_answer *a, char err[ASH_ERR_LEN]);
void api_answer_free(struct api_answer *a);
/* One line for a failed answer: the JSON error's message (and position), or the status. */
void api_answer_error(const struct api_answer *a, const char *what, FILE *out);
/* api_client_load, api_client_get, and the answer as an exit status: 0 (HTTP 200: a holds
 * the answer, the caller api_answer_free's it), 1 (no client or a transport error) or 2 (the
 * server refused: its message); 1 and 2 are said on stderr after "WHAT: ", a freed. */
int api_client_fetch(const char *what, const char *path, const struct api_param *params,
                     size_t nparams, FILE *to, struct api_answer *a);
/* A time for --since/--until: ISO 8601, epoch seconds, or relative "30m", "2h", "7d" ago;
 * the answer in epoch seconds as text. -1 when it is none of those. */
int api_client_time_arg(const char *s, char out[32]);
/* --since/--until (either may be NULL) as the API's startTime/stopTime: with either, from
 * (default 0) and to (default a second from now) and 1; with neither, "" and 0; -1 when a
 * time is none of api_client_time_arg's. */
int api_client_window(const char *since, const char *until, char from[32], char to[32]);

#endif
