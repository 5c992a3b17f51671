/* http_static.c -- GET / (the analyst page) and GET /web/<file> (its scripts and styles).
 * Owns:  the lookup in the compiled-in asset table and the reply's headers (CSP).
 * Never: touches the store or the file system; answers a name outside the table but 404.
 * Trap:  the route table (http_server.c) puts these behind the same digest auth as the API,
 *        so the page is never shown to someone who could not read its data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"
#include "http_static.h"

const struct http_static_asset *http_static_find(const char *name)
{
    for (size_t i = 0; i < http_static_nassets; i++)
        if (!strcmp(http_static_assets[i].name, name))
            return &http_static_assets[i];
    return NULL;
}

static int reply_asset(struct http_reply *rp, const struct http_static_asset *a)
{
    char *copy = malloc(a->len ? a->len : 1);
    if (!copy)
        return http_reply_error(rp, 500, -1, "out of memory");
    memcpy(copy, a->data, a->len);
    rp->status = 200;
    snprintf(rp->extra_name, sizeof rp->extra_name, "Content-Security-Policy");
    snprintf(rp->extra_value, sizeof rp->extra_value, "%s", HTTP_STATIC_CSP);
    return http_reply_take(rp, a->type, copy, a->len);
}

int http_static_index(struct http_request *rq, struct http_reply *rp)
{
    (void)rq;
    const struct http_static_asset *a = http_static_find("index.html");
    if (!a)
        return http_reply_error(rp, 404, -1, "the page was not built in");
    return reply_asset(rp, a);
}

int http_static_file(struct http_request *rq, struct http_reply *rp)
{
    const struct http_static_asset *a = http_static_find(rq->id);
    if (!a)
        return http_reply_error(rp, 404, -1, "/web/%s: no such file", rq->id);
    return reply_asset(rp, a);
}
