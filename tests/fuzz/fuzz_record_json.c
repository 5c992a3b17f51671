/* fuzz_record_json.c -- libFuzzer over common/record_json.c's hand-written session document:
 * any bytes protobuf-c takes as a SessionRecord must render byte for byte as the json-c
 * renderer it replaced (tests/unit/record_json_jsonc.c, the oracle) does, through both
 * record_json_render and record_json_append, and as JSON that json-c's strict parser (UTF-8
 * checked) takes whole. Any difference aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "record_json.h"
#include "../unit/record_json_jsonc.h"

static void differ(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0;
    while (i < an && i < bn && a[i] == b[i])
        i++;
    fprintf(stderr, "%s: differs at byte %zu (hand %zu bytes, json-c %zu)\n  hand:   %.*s\n"
            "  json-c: %.*s\n", what, i, an, bn, (int)an, a, (int)bn, b);
    abort();
}

static void check(const Ashiato__SessionRecord *r, const char *observer)
{
    static struct record_json_buf buf;   /* reused, as the bulk loader does */
    size_t hn = 0, on = 0;
    char *h = record_json_render(r, observer, &hn);
    char *o = record_json_render_jsonc(r, observer, &on);
    if (!h || !o)
        abort();
    if (hn != on || memcmp(h, o, hn) != 0)
        differ("record_json_render", h, hn, o, on);
    buf.len = buf.len > 4096 ? 0 : buf.len;
    size_t before = buf.len;
    if (record_json_append(&buf, r, observer) < 0 || buf.len - before != on ||
        memcmp(buf.data + before, o, on) != 0 || buf.data[buf.len] != '\0')
        differ("record_json_append", buf.data + before, buf.len - before, o, on);

    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *doc = json_tokener_parse_ex(tok, h, (int)hn);
    if (!doc || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != hn || !json_object_is_type(doc, json_type_object)) {
        fprintf(stderr, "not JSON (%s): %.*s\n",
                json_tokener_error_desc(json_tokener_get_error(tok)), (int)hn, h);
        abort();
    }
    json_object_put(doc);
    json_tokener_free(tok);
    free(h);
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ashiato__SessionRecord *r = ashiato__session_record__unpack(NULL, size, data);
    if (!r)
        return 0;
    check(r, NULL);
    check(r, r->n_tags ? r->tags[0] : "fuzz");    /* an observer from the input */
    ashiato__session_record__free_unpacked(r, NULL);
    return 0;
}
