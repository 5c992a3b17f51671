/* field_catalog.h -- the tables of the fields analysts query: the Arkime names that find
 * them, their ECS name in the document, their type, how each store reads them, and a line of
 * help. Two tables: the sessions' (field_catalog_sessions, what sessions.json and the
 * field_catalog_* calls without a table use) and the alerts' (field_catalog_alerts, for
 * alerts.json: the documents of detect_alert_json). The query parser, both query compilers,
 * store_count_by, fields.json and docs/fields.md all read these tables and nothing else.
 * Owns:  the static tables (field_catalog.c) and their lookups; the fields.json and
 *        fields.md renderings of them.
 * Lends: const struct field_def pointers, valid for the life of the program.
 * Never: allocates (except the rendered fields.json / fields.md text the caller frees); logs.
 * Trap:  a field whose `sql` is NULL is read from the rendered document in SQLite (json_each
 *        over its ECS path, see query_sql.c): add a column to `sessions` only with a posting
 *        or a measured need. A pseudo-field (FIELD_PSEUDO) matches when ANY of its `any`
 *        fields matches; each compiler expands it, so it has no column and no ES field. */
#ifndef ASHIATO_FIELD_CATALOG_H
#define ASHIATO_FIELD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

enum field_type {
    FIELD_IP,                        /* an IPv4 or IPv6 address */
    FIELD_INTEGER,
    FIELD_KEYWORD,                   /* exact text: ==, wildcards, /regex/ */
    FIELD_TIME,                      /* microseconds since the epoch in SQLite, date_nanos in ES */
    FIELD_BOOLEAN,                   /* true when present and true; absent = false */
    FIELD_FLOAT,                     /* a decimal number (REAL in SQLite, double in ES) */
};

#define FIELD_MULTI    0x01u         /* may hold several values: == means any of them */
#define FIELD_PSEUDO   0x02u         /* stands for any of `any` (ip, port, host, protocols) */
#define FIELD_NORANGE  0x04u         /* no < <= > >= (stored as keyword in ES) */
#define FIELD_IPPROTO  0x08u         /* values are IP protocols: "tcp", "6" and "TCP" alike */
#define FIELD_SUM      0x10u         /* the sum of the two integer fields in `any` */
#define FIELD_ESKEYWORD 0x20u        /* text in ES: queries use its "<ecs>.keyword" sub-field */
#define FIELD_SEGMAP   0x40u         /* ashiato.segments: store_segments.c rewrites it into
                                      * ip.src / ip.dst prefixes of the current segment map
                                      * before either compiler sees it; not for count_by */
#define FIELD_LINKS    0x80u         /* ashiato.linked: SQLite reads the session_links rows
                                      * (field_catalog_sql_doc), not the stored record */

#define FIELD_ANY_MAX 3

struct field_def {
    const char *name;                /* the Arkime expression name, e.g. "ip.src" */
    const char *aliases;             /* further accepted names, space separated, or "" */
    const char *ecs;                 /* path in the session document / ES field; "" if pseudo
                                      * or a sum. Also accepted as a name. */
    enum field_type type;
    unsigned flags;                  /* FIELD_* */
    const char *sql;                 /* SQLite: a column of `sessions`, or NULL: the document */
    const char *posting;             /* session_match() field (store_sqlite.h), or NULL */
    const char *port;                /* ip fields: the port field of the same side (ip:port) */
    const char *any[FIELD_ANY_MAX];  /* FIELD_PSEUDO / FIELD_SUM: the fields it stands for */
    const char *group;               /* fields.json group */
    const char *help;
};

/* One table: its rows, and how the SQLite store reads a row's document. */
struct field_table {
    const char *name;                /* "sessions", "alerts" (fields.json?type=) */
    const struct field_def *defs;
    size_t n;
    const char *sql_doc;             /* SQL giving the JSON document of the row `s` */
};

extern const struct field_table field_catalog_sessions;
extern const struct field_table field_catalog_alerts;

/* The table named `name` ("sessions", "alerts"), or NULL. */
const struct field_table *field_catalog_table(const char *name);
/* The table a field belongs to (by address; the sessions' for a pointer in neither). */
const struct field_table *field_catalog_table_of(const struct field_def *f);
/* field_catalog_find / _nearest / _json in table t. */
const struct field_def *field_catalog_find_in(const struct field_table *t, const char *name,
                                              size_t len);
size_t field_catalog_nearest_in(const struct field_table *t, const char *name, size_t len,
                                const char **out, size_t max);
char *field_catalog_json_of(const struct field_table *t, size_t *len);
/* The field ES queries for f: its ecs path, or "<ecs>.keyword" (FIELD_ESKEYWORD) written
 * into buf. */
const char *field_catalog_es(const struct field_def *f, char *buf, size_t len);
/* SQLite: the SQL giving the JSON document json_each reads f's ecs path from, for the row
 * `s`: its table's sql_doc, or for FIELD_LINKS an object built from session_links. */
const char *field_catalog_sql_doc(const struct field_def *f);
/* An ip field's port field of the same side (ip:port), in f's table, or NULL. */
const struct field_def *field_catalog_port(const struct field_def *f);

/* Every session field, in the order docs/fields.md lists them; *n gets the count. The calls
 * below without a table are the sessions table's. */
const struct field_def *field_catalog_all(size_t *n);

/* The field named `name` (Arkime name, alias or ECS name; case-sensitive), or NULL. len may
 * be (size_t)-1 for a NUL-terminated name. */
const struct field_def *field_catalog_find(const char *name, size_t len);

/* The field of a pseudo-field's or sum's part i (0..FIELD_ANY_MAX-1), or NULL past the last. */
const struct field_def *field_catalog_part(const struct field_def *f, int i);

/* Up to max (at most 8) names closest to `name` by edit distance (ties by table order), for
 * "unknown field" messages: "ip.sr" -> "ip.src", "ip.dst". len may be (size_t)-1 for a
 * NUL-terminated name. Returns how many were written. */
size_t field_catalog_nearest(const char *name, size_t len, const char **out, size_t max);

/* "ip", "integer", "keyword", "time", "boolean", "float" */
const char *field_catalog_type_name(enum field_type t);

/* fields.json as Arkime's viewer answers it: an array of {exp, dbField, dbField2, type,
 * group, friendlyName, help, aliases, ecs, ashiatoType, multi}. malloc'd NUL-terminated text
 * (caller frees), *len its length; NULL when out of memory. */
char *field_catalog_json(size_t *len);

/* docs/fields.md, both tables (generated; tests/unit/test_field_catalog.c checks the
 * committed file). */
char *field_catalog_markdown(size_t *len);

#endif
