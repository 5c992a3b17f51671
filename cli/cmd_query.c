/* cmd_query.c -- `ashiato query EXPR`: sessions that match an expression, from the
 *                aggregator's HTTP API (sessions.json / sessions.csv).
 * Owns:  its own flags (--fields, --reverse), its table's columns, and the csv output
 *        (the flags and outputs it shares with `ashiato alerts`: api_list.h)
 * Never: reads the store itself; takes credentials from argv (api_client.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "api_list.h"
#include "cmd.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: ashiato query [options] [EXPRESSION]\n"
        "Sessions matching an Arkime-style expression, from the aggregator's HTTP API, e.g.\n"
        "  ashiato query 'packets == 1 && ip.protocol == tcp && ip.src != 10.0.0.0/8'\n"
        "  -f, --fields LIST      comma-separated fields (ip.src,port.dst,...; ashiato fields)\n"
        "  -F, --format FMT       table (default), json (one session per line) or csv\n"
        "  -r, --reverse          newest first\n"
        API_LIST_HELP);
}

/* a value as table text: a one-element array as its element */
static const char *cell(json_object *v, char *buf, size_t len)
{
    if (json_object_is_type(v, json_type_array)) {
        if (json_object_array_length(v) == 1)
            v = json_object_array_get_idx(v, 0);
        else
            return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    }
    return json_object_get_string(v);
}

/* CSV (RFC 4180) to tab-separated lines: quotes removed, "" unescaped */
static void print_tsv(const char *s)
{
    bool quoted = false;
    for (; *s; s++) {
        if (quoted) {
            if (*s == '"' && s[1] == '"')
                putchar(*s++);
            else if (*s == '"')
                quoted = false;
            else
                putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
        } else if (*s == '"')
            quoted = true;
        else if (*s == ',')
            putchar('\t');
        else if (*s != '\r')
            putchar(*s);
    }
}

/* Arkime names of the table's default columns and where they are in a document */
static const struct api_list_column columns[] = {
    { "start", 27, "event.start" }, { "sensor", 12, "observer.name" },
    { "src", 15, "source.ip" }, { "sport", 5, "source.port" },
    { "dst", 15, "destination.ip" }, { "dport", 5, "destination.port" },
    { "proto", 5, "network.transport" }, { "pkts", 6, "network.packets" },
    { "bytes", 8, "network.bytes" }, { "id", 0, "ashiato.session_id" },
};

int cmd_query(int argc, char **argv)
{
    static const char *const formats[] = { "table", "json", "csv", NULL };
    struct api_list l = { .cmd = "ashiato query", .usage = usage, .formats = formats };
    const char *fields = NULL, *expr;
    bool reverse = false;
    const struct api_list_flag flags[] = {
        { "fields", 'f', &fields, NULL }, { "reverse", 'r', NULL, &reverse },
    };
    int rc = api_list_parse(&l, argc, argv, flags, ASH_ARRAY_LEN(flags), &expr);
    if (rc >= 0)
        return rc;
    struct api_param p[3 + API_LIST_PARAMS] = {
        { "expression", expr }, { "fields", fields },
        { "order", reverse ? "event.start:desc" : "event.start:asc" },
    };
    api_list_params(&l, p + 3);
    bool csv = !strcmp(l.format, "csv");
    bool tsv = !csv && fields && !strcmp(l.format, "table");   /* the server's columns, aligned */
    if (!csv && !tsv)
        return api_list_run(&l, "/sessions.json", p, ASH_ARRAY_LEN(p), columns,
                            ASH_ARRAY_LEN(columns), cell, "sessions");
    struct api_answer a;
    rc = api_client_fetch(l.cmd, "/sessions.csv", p, ASH_ARRAY_LEN(p), csv ? stdout : NULL, &a);
    if (rc == 0 && tsv)
        print_tsv(a.body ? a.body : "");
    if (rc == 0)
        api_answer_free(&a);
    return rc;
}
