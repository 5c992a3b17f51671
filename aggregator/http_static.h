/* http_static.h -- the analyst page (aggregator/web/) as the HTTP API serves it.
 * Owns:  nothing at run time: the assets are constant bytes compiled in (web_assets.c, made
 *        by aggregator/web/embed.cmake from the files in aggregator/web/).
 * Lends: the asset bytes, static, to the reply (copied: the server frees reply bodies).
 * Never: reads files at run time or serves a name that is not in the table.
 * Trap:  every answer carries the strict Content-Security-Policy: the page must never need
 *        an inline script or style, nor anything from another origin. */
#ifndef ASHIATO_HTTP_STATIC_H
#define ASHIATO_HTTP_STATIC_H

#include <stddef.h>

struct http_static_asset {
    const char *name;              /* "app.js": the file name under aggregator/web/ */
    const char *type;              /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct http_static_asset http_static_assets[];
extern const size_t http_static_nassets;

/* The policy sent with the page and its assets. */
#define HTTP_STATIC_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; " \
    "form-action 'self'; frame-ancestors 'none'"

/* The asset called name, or NULL. */
const struct http_static_asset *http_static_find(const char *name);

#endif
