/* session_record.h -- one struct session (plus its app fields) as a protobuf SessionRecord.
 * Owns:  struct session_record_buf, which holds the message and every byte it points to,
 *        the deterministic session id, Zeek's conn_state and history, the Community ID.
 * Lends: the filled record points into the buf and into the session's app fields: valid
 *        while both are (the session table's emit callback is that window).
 * Never: allocates (the buf is the caller's); touches sockets or files. */
#ifndef ASHIATO_SESSION_RECORD_H
#define ASHIATO_SESSION_RECORD_H

#include "ashiato.pb-c.h"
#include "app.h"
#include "session.h"

#define SESSION_ID_LEN 32            /* "YYMMDD-" + 16 base64url characters + NUL */

struct session_record_buf {
    Ashiato__SessionRecord rec;
    Ashiato__Endpoint src, dst;
    Ashiato__TcpFlagCounts flags;
    char id[SESSION_ID_LEN], root_id[SESSION_ID_LEN];
    char community_id[64];
    char history[16];
    uint8_t ip_src[16], ip_dst[16], mac_src[6];
    uint32_t vlan[2];
    char *tags[APP_PROTO_COUNT + 10];   /* protocols, the transport, tunnels */
    char *http_host[APP_MAX_HOSTS], *http_method[APP_MAX_METHODS], *user_agent[1];
    uint32_t http_status[APP_MAX_STATUS];
    char *dns_query[APP_MAX_DNS], *tls_sni[APP_MAX_SNI];
    char tls_version[8], dns_rcode[16];
    uint8_t quoted_src[16], quoted_dst[16];
    char quoted_community_id[64];
};

/* The session id of segment `segment` of the flow: "YYMMDD-" (first packet's UTC date) and 16
 * base64url characters of SHA-1 over sensor name, key and first-packet time. */
void session_record_id(const char *sensor, const struct session *s, unsigned segment,
                       char out[SESSION_ID_LEN]);

/* Zeek conn_state ("S0", "SF", "REJ", "RSTO", ...) of a session */
const char *session_record_conn_state(const struct session *s);

/* Fill buf->rec from the session. fields may be NULL. */
void session_record_fill(struct session_record_buf *buf, const char *sensor,
                         const struct session *s, const struct app_fields *fields);

#endif
