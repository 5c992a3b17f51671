/* cmd_alerts.c -- `ashiato alerts`: the detectors' stored alerts from the aggregator's HTTP
 *                 API (alerts.json), filtered by an expression over the alert fields.
 * Owns:  the subcommand's flags and its two output formats (table, json lines).
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
        "Usage: ashiato alerts [options] [EXPRESSION]\n"
        "The detectors' alerts, newest first, from the aggregator's HTTP API (alerts.json).\n"
        "EXPRESSION (or --expression) uses the sessions' grammar over the alert fields, e.g.\n"
        "  ashiato alerts 'rule.name == [address_scan,port_scan] && tags != approved'\n"
        "  ashiato alerts --expression 'destination.ip == 10.1.0.0/16 && score >= 2'\n"
        "  -e, --expression EXPR  the filter (ashiato alerts --list-fields names the fields)\n"
        "  -s, --since TIME       alerts that started from: ISO 8601, epoch seconds, or\n"
        "                         30m / 2h / 7d ago (default: all)\n"
        "  -u, --until TIME       ... and before (default now)\n"
        "  -F, --format FMT       table (default) or json (one alert document per line)\n"
        "  -n, --limit N          at most N alerts (default 100, 0 = the server's limit)\n"
        "  -L, --list-fields      the alert fields an expression may use, then exit\n"
        "  -h, --help             this text\n"
        "The server and credentials come from ~/.config/ashiato/cli.ini ([cli] url, user,\n"
        "password) or ASHIATO_URL, ASHIATO_USER, ASHIATO_PASSWORD (which win).\n"
        "Exit status: 0 answered, 1 usage or transport error, 2 the server refused the query.\n");
}

static json_object *at(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (b && !json_object_object_get_ex(x, b, &x))
        return NULL;
    return x;
}

/* a value as table text: arrays joined with ',' (into buf), absent "-" */
static const char *cell(json_object *v, char *buf, size_t len)
{
    if (!v)
        return "-";
    if (!json_object_is_type(v, json_type_array))
        return json_object_get_string(v);
    size_t n = json_object_array_length(v), at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at + 1 < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", i ? "," : "",
                         json_object_get_string(json_object_array_get_idx(v, i)));
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return n ? buf : "-";
}

static const struct { const char *head, *a, *b; int width; } columns[] = {
    { "start", "event", "start", 27 }, { "rule", "rule", "name", 16 },
    { "source", "source", "ip", 15 }, { "score", "ashiato", "score", 6 },
    { "segments", "ashiato", "segments", 20 }, { "tags", "tags", NULL, 8 },
    { "id", "event", "id", 24 }, { "message", "message", NULL, 0 },
};

/* fields.json?type=alerts as "name  type  help" lines */
static int list_fields(const struct api_client *cl)
{
    char err[ASH_ERR_LEN];
    struct api_param p[] = { { "type", "alerts" } };
    struct api_answer a;
    if (api_client_get(cl, "/fields.json", p, 1, NULL, &a, err) < 0) {
        fprintf(stderr, "ashiato alerts: %s\n", err);
        api_answer_free(&a);
        return 1;
    }
    if (a.status != 200) {
        api_answer_error(&a, "ashiato alerts", stderr);
        api_answer_free(&a);
        return 2;
    }
    json_object *o = json_tokener_parse(a.body ? a.body : "");
    api_answer_free(&a);
    if (!o || !json_object_is_type(o, json_type_array)) {
        fprintf(stderr, "ashiato alerts: the answer is not fields.json\n");
        json_object_put(o);
        return 1;
    }
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        json_object *f = json_object_array_get_idx(o, i);
        printf("%-22s %-8s %s\n", json_object_get_string(at(f, "exp", NULL)),
               json_object_get_string(at(f, "ashiatoType", NULL)),
               json_object_get_string(at(f, "help", NULL)));
    }
    json_object_put(o);
    return 0;
}

int cmd_alerts(int argc, char **argv)
{
    static const struct option opts[] = {
        { "expression", required_argument, NULL, 'e' }, { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' }, { "format", required_argument, NULL, 'F' },
        { "limit", required_argument, NULL, 'n' }, { "list-fields", no_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *expr = NULL, *since = NULL, *until = NULL, *format = "table", *limit = "100";
    bool fields = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:s:u:F:n:Lh", opts, NULL)) != -1) {
        switch (c) {
        case 'e': expr = optarg; break;
        case 's': since = optarg; break;
        case 'u': until = optarg; break;
        case 'F': format = optarg; break;
        case 'n': limit = optarg; break;
        case 'L': fields = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc - 1 || (expr && optind < argc) ||
        (strcmp(format, "table") && strcmp(format, "json")) ||
        strspn(limit, "0123456789") != strlen(limit) || !*limit) {
        usage(stderr);
        return 1;
    }
    if (!expr && optind < argc)
        expr = argv[optind];
    char from[32] = "", to[32] = "", err[ASH_ERR_LEN];
    if ((since && api_client_time_arg(since, from) < 0) ||
        (until && api_client_time_arg(until, to) < 0)) {
        fprintf(stderr, "ashiato alerts: --since/--until: expected ISO 8601, epoch seconds or "
                "30m/2h/7d\n");
        return 1;
    }
    if ((since || until) && !since)
        snprintf(from, sizeof from, "0");
    if ((since || until) && !until)
        snprintf(to, sizeof to, "%lld", (long long)time(NULL) + 1);
    struct api_client cl;
    if (api_client_load(&cl, err) < 0) {
        fprintf(stderr, "ashiato alerts: %s\n", err);
        return 1;
    }
    if (fields)
        return list_fields(&cl);
    bool window = since || until;
    struct api_param p[] = {
        { "expression", expr }, { "date", window ? NULL : "-1" },
        { "startTime", window ? from : NULL }, { "stopTime", window ? to : NULL },
        { "length", strcmp(limit, "0") ? limit : "100000" },
    };
    struct api_answer a;
    if (api_client_get(&cl, "/alerts.json", p, ASH_ARRAY_LEN(p), NULL, &a, err) < 0) {
        fprintf(stderr, "ashiato alerts: %s\n", err);
        api_answer_free(&a);
        return 1;
    }
    if (a.status != 200) {
        api_answer_error(&a, "ashiato alerts", stderr);
        api_answer_free(&a);
        return 2;
    }
    json_object *o = json_tokener_parse(a.body ? a.body : ""), *data, *tot;
    api_answer_free(&a);
    if (!o || !json_object_object_get_ex(o, "data", &data) ||
        !json_object_is_type(data, json_type_array)) {
        fprintf(stderr, "ashiato alerts: the answer is not alerts.json\n");
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
            for (size_t k = 0; k < ASH_ARRAY_LEN(columns); k++) {
                char buf[256];
                json_object *v = at(d, columns[k].a, columns[k].b);
                if (v && json_object_is_type(v, json_type_double))
                    snprintf(buf, sizeof buf, "%.2f", json_object_get_double(v));
                printf("%-*s ", columns[k].width, v && json_object_is_type(v, json_type_double)
                       ? buf : cell(v, buf, sizeof buf));
            }
            printf("\n");
        }
    }
    if (json_object_object_get_ex(o, "recordsFiltered", &tot))
        fprintf(stderr, "%zu of %lld matching alerts shown\n", n,
                (long long)json_object_get_int64(tot));
    json_object_put(o);
    return 0;
}
