/* app.h -- application-layer fields of a session: detection by payload signature and the
 *          parsers for HTTP, DNS, TLS, SSH and QUIC. SMB, RDP, DCE/RPC, Kerberos, MySQL, NTP,
 *          NetFlow, SMTP, FTP, LDAP, NBNS, DHCP, mDNS and LLMNR are recognised and tagged
 *          (ashiato.protocols) from their signatures, not parsed: they keep no fields.
 * Owns:  enum app_proto, the small per-session parse state (struct app_state, which lives
 *        inside struct session), the pool of struct app_fields (allocated from a fixed pool
 *        only when a parser has something to keep) with its few reassembly buffers (lent to
 *        a session while a message spans packets: a QUIC ClientHello), app_parse(), the
 *        one entry point the packet path calls for each payload-carrying packet, and the
 *        names that make up ashiato.protocols (app_proto_name, app_transport_name).
 * Lends: app_fields_of() pointers, valid until app_release() of that state.
 * Never: allocates after app_pool_new(); reads outside [payload, payload + len); strdup's a
 *        value (fields are fixed-size; a longer value is cut and `truncated` is set); logs.
 * Trap:  a session's app_state must be released (app_release) when the session is freed, or
 *        its pool slot leaks until the pool runs dry (counted in app_pool_stats). */
#ifndef ASHIATO_APP_H
#define ASHIATO_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ashiato.h"

#define APP_PROTOS(X)          \
    X(UNKNOWN, "")             \
    X(HTTP,    "http")         \
    X(DNS,     "dns")          \
    X(TLS,     "tls")          \
    X(SSH,     "ssh")          \
    X(SMB,     "smb")          \
    X(RDP,     "rdp")          \
    X(DCERPC,  "dcerpc")       \
    X(KRB5,    "krb5")         \
    X(NTP,     "ntp")          \
    X(MYSQL,   "mysql")        \
    X(NETFLOW, "netflow")      \
    X(SMTP,    "smtp")         \
    X(FTP,     "ftp")          \
    X(LDAP,    "ldap")         \
    X(NBNS,    "nbns")         \
    X(DHCP,    "dhcp")         \
    X(QUIC,    "quic")         \
    X(MDNS,    "mdns")         \
    X(LLMNR,   "llmnr")

enum app_proto {
#define APP_PROTO_ENUM(sym, name) APP_##sym,
    APP_PROTOS(APP_PROTO_ENUM)
#undef APP_PROTO_ENUM
    APP_PROTO_COUNT
};

/* "http" for APP_HTTP, "" for APP_UNKNOWN */
const char *app_proto_name(enum app_proto p);

/* The name Arkime puts in a session's protocols for its IP protocol (tcp, udp, icmp for ICMP
 * and ICMPv6, sctp, esp, igmp, ospf, pim); NULL for the others, which Arkime does not name. */
const char *app_transport_name(unsigned iana);

#define APP_NAME_LEN    128   /* host names, SNI, DNS names (longer ones are cut, flagged) */
#define APP_UA_LEN      192
#define APP_METHOD_LEN  16
#define APP_BANNER_LEN  96
#define APP_MAX_HOSTS   2
#define APP_MAX_METHODS 2
#define APP_MAX_STATUS  2
#define APP_MAX_DNS     4
#define APP_MAX_SNI     1

/* Per-session parse state: small, inside struct session. Zero means "nothing seen yet". */
struct app_state {
    uint8_t  proto;          /* enum app_proto decided for the session, APP_UNKNOWN if none */
    uint8_t  seen[2];        /* payload packets examined per direction (saturates) */
    uint8_t  flags;          /* parser-private bits */
    uint32_t tags;           /* bit (1u << enum app_proto) for every protocol recognised */
    uint32_t fields;         /* 0: no fields yet; else pool slot + 1 */
};

struct app_fields {
    uint8_t  n_http_host, n_http_method, n_user_agent, n_http_status, n_dns_query, n_tls_sni;
    bool     has_dns_rcode;
    bool     truncated;      /* some value did not fit its fixed size */
    uint8_t  dns_rcode;      /* DNS RCODE of the first response */
    uint16_t tls_version;    /* 0x0303 = TLS 1.2, 0x0304 = TLS 1.3 (from supported_versions) */
    uint16_t http_status[APP_MAX_STATUS];
    char     http_host[APP_MAX_HOSTS][APP_NAME_LEN];
    char     http_method[APP_MAX_METHODS][APP_METHOD_LEN];
    char     user_agent[1][APP_UA_LEN];
    char     dns_query[APP_MAX_DNS][APP_NAME_LEN];
    char     tls_sni[APP_MAX_SNI][APP_NAME_LEN];
    char     ssh_client[APP_BANNER_LEN];
    char     ssh_server[APP_BANNER_LEN];
    uint32_t reasm;          /* app.c: reassembly buffer lent to the session, slot + 1; 0 none */
};

struct app_pool;

struct app_pool_stats {
    uint64_t in_use;
    uint64_t capacity;
    uint64_t exhausted;      /* times a parser wanted fields and the pool was empty */
    uint64_t reasm_in_use;   /* reassembly buffers lent to sessions */
    uint64_t reasm_capacity;
    uint64_t reasm_exhausted; /* times a parser wanted a reassembly buffer and none was free */
};

/* A pool of `capacity` app_fields slots and of capacity / 64 reassembly buffers (at least
 * min(capacity, 8); about 4.5 KiB each), allocated once. NULL and err filled on failure. */
struct app_pool *app_pool_new(size_t capacity, char err[ASH_ERR_LEN]);
void app_pool_free(struct app_pool *pool);
void app_pool_stats(const struct app_pool *pool, struct app_pool_stats *out);

/* The fields of a session, or NULL if its parsers kept nothing. */
const struct app_fields *app_fields_of(const struct app_pool *pool, const struct app_state *st);

/* Return the session's fields slot (and reassembly buffer) to the pool and zero the state.
 * Accepts a zero state. */
void app_release(struct app_pool *pool, struct app_state *st);

/* Examine one payload-carrying packet of a session.
 * dir: 0 when sent by the initiator (the session's source), 1 by the responder.
 * ip_proto: 6, 17, 132...; sport/dport: the packet's own ports (sender, receiver).
 * The session is tagged with every protocol recognised; st->proto keeps the first. Parsers
 * stop looking after a fixed number of packets per direction, so this is cheap for bulk flows. */
void app_parse(struct app_pool *pool, struct app_state *st, int dir, uint8_t ip_proto,
               uint16_t sport, uint16_t dport, const uint8_t *payload, uint32_t len);

/* Render the DNS RCODE as its name ("NOERROR", "NXDOMAIN", ...); numbers beyond the table
 * become their decimal text in buf. */
const char *app_dns_rcode_name(uint8_t rcode, char buf[8]);

#endif
