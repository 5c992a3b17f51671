/* api_list.c -- see api_list.h. */
#include "api_list.h"

#include <getopt.h>
#include <string.h>

#define MAX_FLAGS 8

static const struct option shared[] = {
    { "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
    { "format", required_argument, NULL, 'F' }, { "limit", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
};

/* the shared values' checks (see api_list_parse); 0 or -1 said on stderr */
static int check(struct api_list *l)
{
    size_t k = 0;
    while (l->formats[k] && strcmp(l->formats[k], l->format))
        k++;
    if (!l->formats[k]) {
        fprintf(stderr, "%s: --format: expected", l->cmd);
        for (k = 0; l->formats[k]; k++)
            fprintf(stderr, "%s %s", k ? (l->formats[k + 1] ? "," : " or") : "", l->formats[k]);
        fprintf(stderr, ", got '%s'\n", l->format);
        return -1;
    }
    if (!*l->limit || strspn(l->limit, "0123456789") != strlen(l->limit)) {
        fprintf(stderr, "%s: --limit: expected a number, got '%s'\n", l->cmd, l->limit);
        return -1;
    }
    if (api_client_window(l->since, l->until, l->from, l->to) < 0) {
        fprintf(stderr, "%s: --since/--until: expected ISO 8601, epoch seconds or 30m/2h/7d\n",
                l->cmd);
        return -1;
    }
    return 0;
}

/* one of the shared flags with a value: taken (true), or not one of them */
static bool take_shared(struct api_list *l, int c, const char *arg)
{
    switch (c) {
    case 's': l->since = arg; return true;
    case 'u': l->until = arg; return true;
    case 'F': l->format = arg; return true;
    case 'n': l->limit = arg; return true;
    default: return false;
    }
}

int api_list_parse(struct api_list *l, int argc, char **argv, const struct api_list_flag *flags,
                   size_t nflags, const char **operand)
{
    struct option opts[ASH_ARRAY_LEN(shared) + MAX_FLAGS + 1];
    char shorts[2 * ASH_ARRAY_LEN(shared) + 2 * MAX_FLAGS + 1] = "s:u:F:n:h";
    if (nflags > MAX_FLAGS)
        return 1;
    memcpy(opts, shared, sizeof shared);
    for (size_t i = 0; i < nflags; i++) {
        opts[ASH_ARRAY_LEN(shared) + i] = (struct option){ flags[i].name,
            flags[i].value ? required_argument : no_argument, NULL, flags[i].letter };
        size_t at = strlen(shorts);
        shorts[at++] = flags[i].letter;
        if (flags[i].value)
            shorts[at++] = ':';
        shorts[at] = '\0';
    }
    opts[ASH_ARRAY_LEN(shared) + nflags] = (struct option){ NULL, 0, NULL, 0 };
    l->format = l->formats[0];
    l->limit = "100";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        size_t i = 0;
        while (i < nflags && flags[i].letter != c)
            i++;
        if (i < nflags && flags[i].value)
            *flags[i].value = optarg;
        else if (i < nflags)
            *flags[i].on = true;
        else if (!take_shared(l, c, optarg)) {
            l->usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 1;
        }
    }
    if (optind < argc - 1) {
        l->usage(stderr);
        return 1;
    }
    *operand = optind < argc ? argv[optind] : NULL;
    return check(l) < 0 ? 1 : -1;
}

void api_list_params(const struct api_list *l, struct api_param p[API_LIST_PARAMS])
{
    bool window = l->from[0] != '\0';
    p[0] = (struct api_param){ "date", window ? NULL : "-1" };
    p[1] = (struct api_param){ "startTime", window ? l->from : NULL };
    p[2] = (struct api_param){ "stopTime", window ? l->to : NULL };
    p[3] = (struct api_param){ "length", strcmp(l->limit, "0") ? l->limit : "100000" };
}

json_object *api_list_field(json_object *d, const char *path)
{
    char key[128];
    while (d && *path) {
        if (json_object_is_type(d, json_type_array))
            d = json_object_array_get_idx(d, 0);
        const char *dot = strchr(path, '.');
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        snprintf(key, sizeof key, "%.*s", (int)(l < sizeof key - 1 ? l : sizeof key - 1), path);
        if (!json_object_is_type(d, json_type_object) || !json_object_object_get_ex(d, key, &d))
            return NULL;
        path = dot ? dot + 1 : "";
    }
    return d;
}

static void print_page(const struct api_list *l, json_object *data,
                       const struct api_list_column *cols, size_t ncols, api_list_cell_fn *cell)
{
    size_t n = json_object_array_length(data);
    if (!strcmp(l->format, "json")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", json_object_to_json_string_ext(json_object_array_get_idx(data, i),
                                                          JSON_C_TO_STRING_PLAIN));
        return;
    }
    for (size_t k = 0; k < ncols; k++)
        printf("%-*s ", cols[k].width, cols[k].head);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(data, i);
        for (size_t k = 0; k < ncols; k++) {
            char buf[256];
            json_object *v = api_list_field(d, cols[k].path);
            printf("%-*s ", cols[k].width, v ? cell(v, buf, sizeof buf) : "-");
        }
        printf("\n");
    }
}

int api_list_run(const struct api_list *l, const char *path, const struct api_param *p,
                 size_t np, const struct api_list_column *cols, size_t ncols,
                 api_list_cell_fn *cell, const char *what)
{
    struct api_answer a;
    int rc = api_client_fetch(l->cmd, path, p, np, NULL, &a);
    if (rc != 0)
        return rc;
    json_object *o = json_tokener_parse(a.body ? a.body : ""), *data, *tot;
    api_answer_free(&a);
    if (!o || !json_object_object_get_ex(o, "data", &data) ||
        !json_object_is_type(data, json_type_array)) {
        fprintf(stderr, "%s: the answer of %s is not a page of documents\n", l->cmd, path);
        json_object_put(o);
        return 1;
    }
    print_page(l, data, cols, ncols, cell);
    if (json_object_object_get_ex(o, "recordsFiltered", &tot))
        fprintf(stderr, "%zu of %lld matching %s shown\n", json_object_array_length(data),
                (long long)json_object_get_int64(tot), what);
    json_object_put(o);
    return 0;
}
