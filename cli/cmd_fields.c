/* cmd_fields.c -- `ashiato fields`: the fields expressions may use (the API's fields.json,
 *                 made from the one field catalogue).
 * Owns:  the table it prints. Never: keeps a field list of its own. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "api_client.h"
#include "cmd.h"

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "";
}

int cmd_fields(int argc, char **argv)
{
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 1 && !json) {
        FILE *out = strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? stderr : stdout;
        fprintf(out, "Usage: ashiato fields [--json]\nThe fields query expressions may use: name, "
                "type, ECS field and help (the API's fields.json).\n");
        return out == stdout ? 0 : 1;
    }
    struct api_answer a;
    int rc = api_client_fetch("ashiato fields", "/fields.json", NULL, 0, json ? stdout : NULL, &a);
    if (rc != 0 || json) {
        if (rc == 0)
            api_answer_free(&a);
        return rc;
    }
    json_object *o = json_tokener_parse(a.body ? a.body : "");
    api_answer_free(&a);
    if (!o || !json_object_is_type(o, json_type_array)) {
        fprintf(stderr, "ashiato fields: the answer is not fields.json\n");
        json_object_put(o);
        return 1;
    }
    printf("%-22s %-9s %-32s %s\n", "name", "type", "ECS field", "help");
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        json_object *f = json_object_array_get_idx(o, i);
        printf("%-22s %-9s %-32s %s\n", str(f, "exp"), str(f, "type"), str(f, "ecs"), str(f, "help"));
    }
    json_object_put(o);
    return 0;
}
