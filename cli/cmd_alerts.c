/* cmd_alerts.c -- `ashiato alerts`: the detectors' stored alerts from the aggregator's HTTP
 *                 API (alerts.json), filtered by an expression over the alert fields.
 * Owns:  its own flags (--expression, --list-fields), its table's columns and the field list
 *        (the flags and outputs it shares with `ashiato query`: api_list.h).
 * Never: reads the store itself; takes credentials from argv (api_client.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "api_list.h"
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
        "  -F, --format FMT       table (default) or json (one alert document per line)\n"
        "  -L, --list-fields      the alert fields an expression may use, then exit\n"
        API_LIST_HELP);
}

/* a value as table text: a number with two decimals, arrays joined with ',' (into buf) */
static const char *cell(json_object *v, char *buf, size_t len)
{
    if (json_object_is_type(v, json_type_double)) {
        snprintf(buf, len, "%.2f", json_object_get_double(v));
        return buf;
    }
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

static const struct api_list_column columns[] = {
    { "start", 27, "event.start" }, { "rule", 16, "rule.name" }, { "source", 15, "source.ip" },
    { "score", 6, "ashiato.score" }, { "segments", 20, "ashiato.segments" },
    { "tags", 8, "tags" }, { "id", 24, "event.id" }, { "message", 0, "message" },
};

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

/* fields.json?type=alerts as "name  type  help" lines */
static int list_fields(const char *cmd)
{
    struct api_param p[] = { { "type", "alerts" } };
    struct api_answer a;
    int rc = api_client_fetch(cmd, "/fields.json", p, 1, NULL, &a);
    if (rc != 0)
        return rc;
    json_object *o = json_tokener_parse(a.body ? a.body : "");
    api_answer_free(&a);
    if (!o || !json_object_is_type(o, json_type_array)) {
        fprintf(stderr, "%s: the answer is not fields.json\n", cmd);
        json_object_put(o);
        return 1;
    }
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        json_object *f = json_object_array_get_idx(o, i);
        printf("%-22s %-8s %s\n", str(f, "exp"), str(f, "ashiatoType"), str(f, "help"));
    }
    json_object_put(o);
    return 0;
}

int cmd_alerts(int argc, char **argv)
{
    static const char *const formats[] = { "table", "json", NULL };
    struct api_list l = { .cmd = "ashiato alerts", .usage = usage, .formats = formats };
    const char *expr = NULL, *operand;
    bool fields = false;
    const struct api_list_flag flags[] = {
        { "expression", 'e', &expr, NULL }, { "list-fields", 'L', NULL, &fields },
    };
    int rc = api_list_parse(&l, argc, argv, flags, ASH_ARRAY_LEN(flags), &operand);
    if (rc >= 0)
        return rc;
    if (expr && operand) {
        fprintf(stderr, "%s: the expression twice (--expression and an operand)\n", l.cmd);
        return 1;
    }
    if (fields)
        return list_fields(l.cmd);
    struct api_param p[1 + API_LIST_PARAMS] = { { "expression", expr ? expr : operand } };
    api_list_params(&l, p + 1);
    return api_list_run(&l, "/alerts.json", p, ASH_ARRAY_LEN(p), columns, ASH_ARRAY_LEN(columns),
                        cell, "alerts");
}
