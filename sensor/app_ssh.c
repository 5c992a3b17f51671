/* app_ssh.c -- SSH identification banners ("SSH-2.0-OpenSSH_9.6", RFC 4253 section 4.2).
 * Owns:  the reading of the banner line of each side: the initiator's into ssh_client, the
 *        responder's into ssh_server, without the CR LF. A server may send other lines
 *        before its banner; up to SSH_MAX_LINES of them are passed over.
 * Lends: nothing.
 * Never: reads the binary packets that follow the banners (key exchange is not parsed).
 * Trap:  "SSH-1.99-" is a valid version (a server that speaks 1 and 2); the banner is cut at
 *        APP_BANNER_LEN - 1 bytes with `truncated` set. */
#include <string.h>

#include "app_internal.h"
#include "cursor.h"

#define SSH_MAX_LINES 4

/* "SSH-" digits "." digits "-" at p */
static bool banner_start(const uint8_t *p, size_t len)
{
    size_t i = 4;
    if (len < 8 || memcmp(p, "SSH-", 4) != 0)
        return false;
    size_t d = i;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == d || i >= len || p[i] != '.')
        return false;
    d = ++i;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    return i > d && i < len && p[i] == '-';
}

bool app_ssh_sniff(const uint8_t *p, uint32_t len)
{
    return banner_start(p, len);
}

bool app_ssh_parse(struct app_ctx *c, const uint8_t *p, uint32_t len)
{
    uint8_t mine = c->dir ? APP_F_SSH_S : APP_F_SSH_C;
    if (!(c->st->flags & mine)) {
        struct cursor cur = cursor_make(p, len);
        for (int i = 0; i < SSH_MAX_LINES && cursor_left(&cur) > 0; i++) {
            size_t left = cursor_left(&cur);
            const uint8_t *nl = memchr(cur.p, '\n', left);
            size_t n = nl ? (size_t)(nl - cur.p) : left;
            const uint8_t *line = cursor_bytes(&cur, nl ? n + 1 : n);
            if (n > 0 && line[n - 1] == '\r')
                n--;
            if (!banner_start(line, n))
                continue;
            c->st->flags |= mine;
            struct app_fields *f = app_ctx_fields(c);
            if (f)
                app_str_set(f, c->dir ? f->ssh_server : f->ssh_client, APP_BANNER_LEN, line, n);
            break;
        }
    }
    uint8_t both = APP_F_SSH_C | APP_F_SSH_S;
    return (c->st->flags & both) != both;
}
