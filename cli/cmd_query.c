/* cmd_query.c -- `ashiato query EXPR`: sessions that match an expression, from the
 *                aggregator's HTTP API (sessions.json / sessions.csv).
 * Owns:  the subcommand's flags and the three output formats (table, json lines, csv).
 * Never: reads the store itself; takes credentials from argv (api_client.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "api_client.h"
#include "cmd.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: ashiato query [options] [EXPRESSION]\n"
        "Sessions matching an Arkime-style expression, from the aggregator's HTTP API, e.g.\n"
        "  ashiato query 'packets == 1 && ip.protocol == tcp && ip.src != 10.0.0.0/8'\n"
        "  -s, --since TIME      from: ISO 8601, epoch seconds, or 30m / 2h / 7d ago\n"
        "  -u, --until TIME      to (default now); without --since every session is searched\n"
        "  -f, --fields LIST     comma-separated fields (ip.src,port.dst,...; ashiato fields)\n"
        "  -F, --format FMT      table (default), json (one session per line) or csv\n"
        "  -n, --limit N         at most N sessions (default 100, 0 = the server's limit)\n"
        "  -r, --reverse         newest first\n"
        "  -h, --help            this text\n"
        "The server and credentials come from ~/.config/ashiato/cli.ini ([cli] url, user,\n"
        "password) or ASHIATO_URL, ASHIATO_USER, ASHIATO_PASSWORD (which win).\n"
        "Exit status: 0 answered, 1 usage or transport error, 2 the server refused the query.\n");
}

static json_object *walk(json_object *o, const char *path)
{
    char key[128];
    while (o && *path) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, 0);
        const char *dot = strchr(path, '.');
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)(l < sizeof key - 1 ? l : sizeof key - 1), path);
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &o))
            return NULL;
        path = dot ? dot + 1 : "";
    }
    return o;
}

static const char *text(json_object *o, const char *path)
{
    json_object *v = walk(o, path);
    if (!v)
        return "-";
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
static const struct { const char *head, *path; int width; } columns[] = {
    { "start", "event.start", 27 }, { "sensor", "observer.name", 12 },
    { "src", "source.ip", 15 }, { "sport", "source.port", 5 },
    { "dst", "destination.ip", 15 }, { "dport", "destination.port", 5 },
    { "proto", "network.transport", 5 }, { "pkts", "network.packets", 6 },
    { "bytes", "network.bytes", 8 }, { "id", "ashiato.session_id", 0 },
};

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
        { "fields", required_argument, NULL, 'f' }, { "format", required_argument, NULL, 'F' },
        { "limit", required_argument, NULL, 'n' }, { "reverse", no_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *since = NULL, *until = NULL, *fields = NULL, *format = "table", *limit = "100";
    bool reverse = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:u:f:F:n:rh", opts, NULL)) != -1) {
        switch (c) {
        case 's': since = optarg; break;
        case 'u': until = optarg; break;
        case 'f': fields = optarg; break;
        case 'F': format = optarg; break;
        case 'n': limit = optarg; break;
        case 'r': reverse = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc - 1 || (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv"))) {
        usage(stderr);
        return 1;
    }
    const char *expr = optind < argc ? argv[optind] : NULL;
    char from[32] = "", to[32] = "", err[ASH_ERR_LEN];
    if ((since && api_client_time_arg(since, from) < 0) || (until && api_client_time_arg(until, to) < 0)) {
        fprintf(stderr, "ashiato query: --since/--until: expected ISO 8601, epoch seconds or "
                "30m/2h/7d\n");
        return 1;
    }
    if (since && !until)
        snprintf(to, sizeof to, "%lld", (long long)time(NULL) + 1);
    struct api_client cl;
    if (api_client_load(&cl, err) < 0) {
        fprintf(stderr, "ashiato query: %s\n", err);
        return 1;
    }
    bool csv = !strcmp(format, "csv");
    bool tsv = !csv && fields && !strcmp(format, "table");   /* the server's columns, aligned */
    struct api_param p[] = {
        { "expression", expr }, { "date", since ? NULL : "-1" },
        { "startTime", since ? from : NULL }, { "stopTime", since ? to : NULL },
        { "fields", fields }, { "length", strcmp(limit, "0") ? limit : "100000" },
        { "order", reverse ? "event.start:desc" : "event.start:asc" },
    };
    struct api_answer a;
    if (api_client_get(&cl, csv || tsv ? "/sessions.csv" : "/sessions.json", p, ASH_ARRAY_LEN(p),
                       csv ? stdout : NULL, &a, err) < 0) {
        fprintf(stderr, "ashiato query: %s\n", err);
        api_answer_free(&a);
        return 1;
    }
    if (a.status != 200) {
        api_answer_error(&a, "ashiato query", stderr);
        api_answer_free(&a);
        return 2;
    }
    if (csv || tsv) {
        if (tsv)
            print_tsv(a.body ? a.body : "");
        api_answer_free(&a);
        return 0;
    }
    json_object *o = json_tokener_parse(a.body ? a.body : ""), *data, *tot;
    api_answer_free(&a);
    if (!o || !json_object_object_get_ex(o, "data", &data)) {
        fprintf(stderr, "ashiato query: the answer is not sessions.json\n");
        json_object_put(o);
        return 1;
    }
    size_t n = json_object_array_length(data);
    if (!strcmp(format, "json")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", json_object_to_json_string_ext(json_object_array_get_idx(data, i),
                                                          JSON_C_TO_STRING_PLAIN));
    } else {
        for (size_t k = 0; k < ASH_ARRAY_LEN(columns); k++)
            printf("%-*s ", columns[k].width, columns[k].head);
        printf("\n");
        for (size_t i = 0; i < n; i++) {
            json_object *d = json_object_array_get_idx(data, i);
            for (size_t k = 0; k < ASH_ARRAY_LEN(columns); k++)
                printf("%-*s ", columns[k].width, text(d, columns[k].path));
            printf("\n");
        }
    }
    if (json_object_object_get_ex(o, "recordsFiltered", &tot))
        fprintf(stderr, "%zu of %lld matching sessions shown\n", n, (long long)json_object_get_int64(tot));
    json_object_put(o);
    return 0;
}
