/* test_field_catalog.c -- the field catalogue: unique names, parts that exist, every ECS path
 * mapped by the ES template, fields.json's shape, and docs/fields.md current.
 * `test_field_catalog --write docs/fields.md` regenerates the doc (run from the source tree). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "field_catalog.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = realloc(buf, cap);
            assert_non_null(b);
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* names, aliases and ECS paths unique within table t and found there; parts and port fields
 * in t */
static void check_table(const struct field_table *t)
{
    size_t n = t->n;
    const struct field_def *all = t->defs;
    char names[512][64];
    size_t owner[512], nn = 0;
    for (size_t i = 0; i < n; i++) {
        const struct field_def *f = &all[i];
        assert_ptr_equal(field_catalog_table_of(f), t);
        assert_ptr_equal(field_catalog_find_in(t, f->name, (size_t)-1), f);
        snprintf(names[nn], sizeof names[0], "%s", f->name);
        owner[nn++] = i;
        if (f->ecs[0]) {
            assert_ptr_equal(field_catalog_find_in(t, f->ecs, (size_t)-1), f);
            snprintf(names[nn], sizeof names[0], "%s", f->ecs);
            owner[nn++] = i;
        }
        char al[128];
        snprintf(al, sizeof al, "%s", f->aliases);
        for (char *save = NULL, *w = strtok_r(al, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            assert_ptr_equal(field_catalog_find_in(t, w, (size_t)-1), f);
            snprintf(names[nn], sizeof names[0], "%s", w);
            owner[nn++] = i;
        }
        /* pseudo-fields and sums have parts, others an ECS path and no parts */
        if (f->flags & (FIELD_PSEUDO | FIELD_SUM)) {
            assert_string_equal(f->ecs, "");
            assert_non_null(field_catalog_part(f, 0));
            assert_non_null(field_catalog_part(f, 1));
            for (int k = 0; field_catalog_part(f, k); k++) {
                assert_false(field_catalog_part(f, k)->flags & FIELD_PSEUDO);
                assert_ptr_equal(field_catalog_table_of(field_catalog_part(f, k)), t);
            }
        } else {
            assert_true(strlen(f->ecs) > 0);
            assert_null(field_catalog_part(f, 0));
        }
        if (f->port)
            assert_int_equal(field_catalog_port(f)->type, FIELD_INTEGER);
        assert_true(strlen(f->help) > 0);
    }
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i + 1; j < nn; j++)
            if (strcmp(names[i], names[j]) == 0 && owner[i] != owner[j])
                fail_msg("%s: name '%s' names two fields", t->name, names[i]);
}

static void names_are_unique_and_found(void **state)
{
    (void)state;
    size_t n;
    field_catalog_all(&n);
    assert_true(n >= 40);
    check_table(&field_catalog_sessions);
    /* the Arkime names the issue lists */
    static const char *const arkime[] = {
        "ip.src", "ip.dst", "port.src", "port.dst", "ip.protocol", "packets", "bytes",
        "databytes", "packets.src", "packets.dst", "bytes.src", "bytes.dst", "host.http",
        "host.dns", "tls.sni", "node", "protocols", "tags", "communityId", "vlan",
        "tcpflags.syn", "tcpflags.rst", "starttime", "stoptime", "http.method",
        "http.user-agent", "ip", "port", "host",
    };
    for (size_t i = 0; i < sizeof arkime / sizeof arkime[0]; i++)
        if (!field_catalog_find(arkime[i], (size_t)-1))
            fail_msg("Arkime field %s missing", arkime[i]);
    assert_null(field_catalog_find("ip.sr", (size_t)-1));
    assert_null(field_catalog_find("", 0));
    assert_ptr_equal(field_catalog_find("ip.srcXX", 6), field_catalog_find("ip.src", (size_t)-1));
}

static void nearest_names(void **state)
{
    (void)state;
    const char *near[3];
    assert_int_equal(field_catalog_nearest("ip.sr", 5, near, 3), 3);
    assert_string_equal(near[0], "ip.src");
    assert_string_equal(near[1], "ip.dst");
    assert_int_equal(field_catalog_nearest("hots.http", 9, near, 1), 1);
    assert_string_equal(near[0], "host.http");
    assert_int_equal(field_catalog_nearest("hots.http", (size_t)-1, near, 1), 1);
    assert_string_equal(near[0], "host.http");
    assert_int_equal(field_catalog_nearest(NULL, 0, near, 1), 0);
    assert_int_equal(field_catalog_nearest("tcpflags.sin", 12, near, 2), 2);
    assert_string_equal(near[0], "tcpflags.syn");
}

/* every ECS path is in the ES template's mapping (store_es_template.c) */
static void ecs_paths_are_mapped(void **state)
{
    (void)state;
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/indexer/store_es_template.c", getenv("ASHIATO_SOURCE_DIR")
             ? getenv("ASHIATO_SOURCE_DIR") : ".");
    char *src = slurp(path, &len);
    if (!src)
        skip();
    size_t n;
    const struct field_def *all = field_catalog_all(&n);
    for (size_t i = 0; i < n; i++) {
        if (!all[i].ecs[0])
            continue;
        /* the last component as a quoted key, e.g. \"server_name\" */
        const char *last = strrchr(all[i].ecs, '.');
        char key[80];
        snprintf(key, sizeof key, "\\\"%s\\\"", last ? last + 1 : all[i].ecs);
        if (!strstr(src, key))
            fail_msg("%s (%s) is not in the ES mapping", all[i].name, all[i].ecs);
    }
    free(src);
}

/* the alerts' table: the fields issue 11 names, found in it and not in the sessions', its
 * ECS paths in the alerts mapping, fields.json of it, and the lookups by table name */
static void alert_table(void **state)
{
    (void)state;
    const struct field_table *t = &field_catalog_alerts;
    check_table(t);
    assert_ptr_equal(field_catalog_table("alerts"), t);
    assert_ptr_equal(field_catalog_table("sessions"), &field_catalog_sessions);
    assert_null(field_catalog_table("bogus"));
    assert_null(field_catalog_table(NULL));
    static const char *const wanted[] = {
        "rule.name", "source.ip", "destination.ip", "destination.port", "observer.name",
        "ashiato.segments", "ashiato.score", "tags", "event.start", "event.end", "message",
        "ashiato.evidence", "id", "ip", "score", "node", "evidence",
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (!field_catalog_find_in(t, wanted[i], (size_t)-1))
            fail_msg("alert field %s missing", wanted[i]);
    assert_null(field_catalog_find("rule.name", (size_t)-1));
    assert_null(field_catalog_find_in(t, "packets", (size_t)-1));
    assert_int_equal(field_catalog_find_in(t, "score", (size_t)-1)->type, FIELD_FLOAT);
    const char *near[2];
    assert_int_equal(field_catalog_nearest_in(t, "rule.nam", (size_t)-1, near, 2), 2);
    assert_string_equal(near[0], "rule.name");
    char buf[64];
    const struct field_def *m = field_catalog_find_in(t, "message", (size_t)-1);
    assert_string_equal(field_catalog_es(m, buf, sizeof buf), "message.keyword");
    assert_string_equal(field_catalog_es(field_catalog_find_in(t, "tags", (size_t)-1), buf,
                                         sizeof buf), "tags");
    /* every ECS path's last component is a key of the alerts mapping */
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/indexer/store_es_template.c", getenv("ASHIATO_SOURCE_DIR")
             ? getenv("ASHIATO_SOURCE_DIR") : ".");
    char *src = slurp(path, &len);
    if (src) {
        const char *am = strstr(src, "alerts_mapping[] =");
        assert_non_null(am);
        for (size_t i = 0; i < t->n; i++) {
            const char *last = t->defs[i].ecs[0] ? strrchr(t->defs[i].ecs, '.') : NULL;
            char key[80];
            if (!t->defs[i].ecs[0])
                continue;
            snprintf(key, sizeof key, "\\\"%s\\\"", last ? last + 1 : t->defs[i].ecs);
            if (!strstr(am, key))
                fail_msg("%s (%s) is not in the alerts mapping", t->defs[i].name,
                         t->defs[i].ecs);
        }
        free(src);
    }
    char *text = field_catalog_json_of(t, &len);
    json_object *arr = json_tokener_parse(text);
    assert_non_null(arr);
    assert_int_equal(json_object_array_length(arr), t->n);
    bool seen = false;
    for (size_t i = 0; i < t->n; i++) {
        json_object *o = json_object_array_get_idx(arr, i), *v;
        json_object_object_get_ex(o, "exp", &v);
        if (strcmp(json_object_get_string(v), "message") == 0) {
            json_object_object_get_ex(o, "dbField", &v);
            assert_string_equal(json_object_get_string(v), "message.keyword");
            seen = true;
        }
        if (strcmp(json_object_get_string(v), "ashiato.score") == 0) {
            json_object_object_get_ex(o, "ashiatoType", &v);
            assert_string_equal(json_object_get_string(v), "float");
        }
    }
    assert_true(seen);
    json_object_put(arr);
    free(text);
}

static void fields_json_shape(void **state)
{
    (void)state;
    size_t len = 0, n;
    char *text = field_catalog_json(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_object *arr = json_tokener_parse(text);
    assert_non_null(arr);
    field_catalog_all(&n);
    assert_int_equal(json_object_array_length(arr), n);
    bool seen_ip_src = false;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(arr, i), *v;
        static const char *const keys[] = { "exp", "dbField", "dbField2", "type", "group",
                                            "friendlyName", "help", "aliases" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_true(json_object_object_get_ex(o, keys[k], &v));
        json_object_object_get_ex(o, "exp", &v);
        if (strcmp(json_object_get_string(v), "ip.src") == 0) {
            seen_ip_src = true;
            json_object_object_get_ex(o, "dbField", &v);
            assert_string_equal(json_object_get_string(v), "source.ip");
            json_object_object_get_ex(o, "type", &v);
            assert_string_equal(json_object_get_string(v), "ip");
            json_object_object_get_ex(o, "portField", &v);
            assert_string_equal(json_object_get_string(v), "port.src");
        }
    }
    assert_true(seen_ip_src);
    json_object_put(arr);
    free(text);
}

static void fields_md_is_current(void **state)
{
    (void)state;
    char path[1024];
    size_t len = 0, have_len = 0;
    char *want = field_catalog_markdown(&len);
    assert_non_null(want);
    assert_non_null(strstr(want, "| `ip.src` |"));
    snprintf(path, sizeof path, "%s/docs/fields.md", getenv("ASHIATO_SOURCE_DIR")
             ? getenv("ASHIATO_SOURCE_DIR") : ".");
    char *have = slurp(path, &have_len);
    if (!have)
        fail_msg("%s missing: run test_field_catalog --write docs/fields.md", path);
    if (have_len != len || memcmp(have, want, len) != 0)
        fail_msg("%s is stale: run build/tests/test_field_catalog --write docs/fields.md", path);
    free(have);
    free(want);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        size_t len;
        char *md = field_catalog_markdown(&len);
        FILE *f = md ? fopen(argv[2], "wb") : NULL;
        if (!f || fwrite(md, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "test_field_catalog: cannot write %s\n", argv[2]);
            return 1;
        }
        free(md);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--json") == 0) {
        char *j = field_catalog_json(NULL);
        if (!j)
            return 1;
        puts(j);
        free(j);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_unique_and_found),
        cmocka_unit_test(nearest_names),
        cmocka_unit_test(ecs_paths_are_mapped),
        cmocka_unit_test(fields_json_shape),
        cmocka_unit_test(alert_table),
        cmocka_unit_test(fields_md_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
