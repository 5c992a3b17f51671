/* app_internal.h -- what the app_*.c files share and nobody else includes.
 * Owns:  struct app_ctx (one packet's view of a session during app_parse), the parser-private
 *        bits of app_state.flags, and the helpers parsers use to tag a session and keep values.
 * Lends: app_ctx_fields() pointers into the pool, valid for the app_parse call that made them.
 * Never: allocates (fields come from the pool fixed at app_pool_new); reads outside the packet.
 * Trap:  app_ctx_fields() returns NULL when the pool is dry: every parser must cope with that
 *        and still tag the session, so detection keeps working when field storage runs out. */
#ifndef ASHIATO_APP_INTERNAL_H
#define ASHIATO_APP_INTERNAL_H

#include "app.h"

/* payload packets examined per direction before a session is left alone */
#define APP_MAX_PKTS 8

/* app_state.flags */
#define APP_F_DONE        0x01u  /* nothing more to take: app_parse returns at once */
#define APP_F_MYSQL_GREET 0x02u  /* a MySQL server greeting was seen ... */
#define APP_F_MYSQL_GDIR  0x04u  /* ... sent by direction 1 when set */
#define APP_F_FTP_MAYBE   0x08u  /* a "220" banner that may still turn out to be SMTP */
#define APP_F_TLS_CH      0x10u  /* TLS (or QUIC) ClientHello parsed */
#define APP_F_TLS_SH      0x20u  /* TLS ServerHello parsed */
#define APP_F_SSH_C       0x40u  /* SSH banner of direction 0 taken */
#define APP_F_SSH_S       0x80u  /* SSH banner of direction 1 taken */

struct app_ctx {
    struct app_pool  *pool;
    struct app_state *st;
    int               dir;        /* 0 initiator, 1 responder */
    uint8_t           ip_proto;
    uint16_t          sport, dport;
    bool              dry;        /* the pool was found empty during this packet (counted once) */
};

static inline bool app_ctx_port(const struct app_ctx *c, uint16_t port)
{
    return c->sport == port || c->dport == port;
}

static inline bool app_has_tag(const struct app_state *st, enum app_proto p)
{
    return (st->tags & (1u << p)) != 0;
}

/* tag the session with p; the first protocol tagged becomes st->proto */
void app_tag(struct app_state *st, enum app_proto p);

/* drop tag p (an FTP guess that turned out to be SMTP); st->proto follows the tags left */
void app_untag(struct app_state *st, enum app_proto p);

/* the session's fields, taken from the pool on first use; NULL when the pool is dry */
struct app_fields *app_ctx_fields(struct app_ctx *c);

/* A reassembly buffer: bytes of one stream put back by offset, for a message that spans
 * packets (the CRYPTO stream of QUIC Initials). app.c lends at most one per session, from
 * a small second pool fixed at app_pool_new, and takes it back in app_release. */
#define APP_REASM_LEN 4096
#define APP_REASM_KEY 28
struct app_reasm {
    uint8_t key[APP_REASM_KEY];         /* the stream the bytes belong to (the parser's choice) */
    uint8_t have[APP_REASM_LEN / 8];    /* bit i % 8 of have[i / 8]: data[i] is present */
    uint8_t data[APP_REASM_LEN];
};

/* The session's reassembly buffer. With take, one is lent if the session has none (its
 * contents undefined: the caller fills all of it); NULL when the session has none and take
 * is false, or when the buffers or the fields slot that records the loan ran out. */
struct app_reasm *app_ctx_reasm(struct app_ctx *c, bool take);

/* give the session's reassembly buffer back, if it holds one */
void app_ctx_reasm_drop(struct app_ctx *c);

/* Append a string value to one of the fixed-size lists of struct app_fields (http_host,
 * dns_query, ...): `cap` slots of `size` bytes at `list`, `*n` of them used. Control bytes
 * and NUL stop the value; `lower` folds ASCII case. Duplicates (case-insensitive) are
 * skipped; a value longer than size - 1 is cut and f->truncated set; a full list sets it too.
 * Returns true when the value is present in the list afterwards. */
bool app_list_add(struct app_fields *f, char *list, size_t size, uint8_t *n, uint8_t cap,
                  const uint8_t *val, size_t len, bool lower);

/* Copy a single value into dst[size] (banners); cut values set f->truncated. */
void app_str_set(struct app_fields *f, char *dst, size_t size, const uint8_t *val, size_t len);

/* Signature detection on the first payload packet of each direction (app_detect.c): tags
 * the session with the protocol whose signature matches, or sets a pending flag. */
void app_detect(struct app_ctx *c, const uint8_t *p, uint32_t len);

/* Follow-up for protocols whose proof spans both directions (MySQL login after greeting,
 * SMTP's EHLO after a "220" banner). Called for every packet while a flag is pending. */
void app_detect_followup(struct app_ctx *c, const uint8_t *p, uint32_t len);

/* The parsers. Each reads one packet's payload, keeps what it finds in the session's
 * fields, and returns true while it wants more packets of this session. */
bool app_http_parse(struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_http_sniff(const uint8_t *p, uint32_t len);     /* request or status line? */
bool app_dns_parse(struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_dns_sniff(const struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_tls_parse(struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_tls_sniff(const uint8_t *p, uint32_t len);      /* TLS handshake record? */
/* a TLS handshake message (type, 24-bit length, body) that may be a ClientHello: its SNI */
void app_tls_client_hello(struct app_ctx *c, const uint8_t *p, size_t len);
/* QUIC: an IETF Initial packet whose protection removes cleanly (true), and its SNI */
bool app_quic_initial(struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_ssh_parse(struct app_ctx *c, const uint8_t *p, uint32_t len);
bool app_ssh_sniff(const uint8_t *p, uint32_t len);      /* "SSH-x.y-" banner? */

#endif
