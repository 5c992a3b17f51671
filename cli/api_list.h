/* api_list.h -- what `ashiato query` and `ashiato alerts` share: their command lines (the
 *               shared flags -s/--since, -u/--until, -F/--format, -n/--limit, -h/--help, the
 *               command's own flags from a table, one operand), the request of a page of
 *               documents from an API path that answers {"data": [...], "recordsFiltered": N},
 *               and its two outputs: one document per JSON line, or a table of columns.
 * Owns:  the parsing of those command lines and the checks of the shared values; the parsed
 *        answer, from the request until it is printed.
 * Never: knows a document's fields (the caller's columns and cell function name them);
 *        takes credentials from argv (api_client.h). */
#ifndef ASHIATO_API_LIST_H
#define ASHIATO_API_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <json-c/json.h>

#include "api_client.h"

struct api_list {
    const char *cmd;                  /* "ashiato query": the prefix of every message */
    void (*usage)(FILE *out);         /* the command's --help text */
    const char *const *formats;       /* what --format takes, NULL-terminated; [0] the default */
    const char *since, *until, *format, *limit;
    char from[32], to[32];            /* after api_list_parse: the window, "" for none */
};

/* the shared flags' lines for a command's --help */
#define API_LIST_HELP                                                                           \
    "  -s, --since TIME       from: ISO 8601, epoch seconds, or 30m / 2h / 7d ago\n"           \
    "  -u, --until TIME       ... and before (default now); with neither, all are searched\n"  \
    "  -n, --limit N          at most N (default 100, 0 = the server's limit)\n"              \
    "  -h, --help             this text\n"                                                     \
    "The server and credentials come from ~/.config/ashiato/cli.ini ([cli] url, user,\n"       \
    "password) or ASHIATO_URL, ASHIATO_USER, ASHIATO_PASSWORD (which win).\n"                  \
    "Exit status: 0 answered, 1 usage or transport error, 2 the server refused the query.\n"

/* A command's own flag: one with a value (*value = the value) or a switch (*on = true). */
struct api_list_flag {
    const char *name;                 /* "fields" for --fields */
    char letter;                      /* 'f' for -f */
    const char **value;
    bool *on;
};

/* Parse argv (argv[0] the command's name): the shared flags into l, the command's own
 * through flags, at most one operand (*operand, NULL if none); then check the format, the
 * limit and the times (made into l->from/to). -1 to go on; otherwise the exit status: 0
 * after --help (printed), 1 after a usage error (said on stderr). */
int api_list_parse(struct api_list *l, int argc, char **argv, const struct api_list_flag *flags,
                   size_t nflags, const char **operand);

/* The window and the limit as the API's parameters (date, startTime, stopTime, length). */
#define API_LIST_PARAMS 4
void api_list_params(const struct api_list *l, struct api_param p[API_LIST_PARAMS]);

struct api_list_column {
    const char *head;
    int width;                        /* 0: the last, unpadded */
    const char *path;                 /* where in a document: "source.ip" (api_list_field) */
};
/* the table text of a value found at a column's path (never NULL); buf (len bytes) for text
 * it makes up */
typedef const char *api_list_cell_fn(json_object *v, char *buf, size_t len);
/* The value at a dotted path ("event.start") of a document, the first element of an array
 * met on the way; NULL when absent. Lent: d's. */
json_object *api_list_field(json_object *d, const char *path);

/* GET path with params (api_client_fetch), then the page's documents as JSON lines (format
 * "json") or as a table (an absent value "-"), and on stderr "N of M matching WHAT shown".
 * The exit status: 0, 1 (transport error, or the answer is not a page), 2 (refused). */
int api_list_run(const struct api_list *l, const char *path, const struct api_param *p,
                 size_t np, const struct api_list_column *cols, size_t ncols,
                 api_list_cell_fn *cell, const char *what);

#endif
