/* test_http_static.c -- the analyst page as compiled in (web_assets.c from aggregator/web/)
 * and as http_static.c serves it: every file of aggregator/web/ is in the table byte for
 * byte with its Content-Type, unknown names are 404, every answer carries the CSP, and the
 * page itself keeps to that CSP (no inline script, no style attribute, no other origin). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"
#include "http_static.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static const char *web_dir(char out[1024])
{
    const char *src = getenv("ASHIATO_SOURCE_DIR");
    snprintf(out, 1024, "%s/aggregator/web", src ? src : ".");
    return out;
}

static void test_every_file_embedded(void **state)
{
    (void)state;
    char dir[1024], path[2048];
    DIR *d = opendir(web_dir(dir));
    assert_non_null(d);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || !(strcmp(dot, ".html") == 0 || strcmp(dot, ".js") == 0 || strcmp(dot, ".css") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *want = slurp(path, &len);
        assert_non_null(want);
        const struct http_static_asset *a = http_static_find(e->d_name);
        assert_non_null(a);
        assert_int_equal(a->len, len);
        assert_memory_equal(a->data, want, len);
        if (!strcmp(dot, ".js"))
            assert_string_equal(a->type, "text/javascript; charset=utf-8");
        else if (!strcmp(dot, ".css"))
            assert_string_equal(a->type, "text/css; charset=utf-8");
        else
            assert_string_equal(a->type, "text/html; charset=utf-8");
        free(want);
        files++;
    }
    closedir(d);
    assert_int_equal(files, http_static_nassets);
    assert_true(files >= 8);
    assert_null(http_static_find("nothere.js"));
    assert_null(http_static_find("embed.cmake"));
}

static void test_page_keeps_to_its_csp(void **state)
{
    (void)state;
    const struct http_static_asset *a = http_static_find("index.html");
    assert_non_null(a);
    char *html = strndup((const char *)a->data, a->len);
    /* every <script> has a src; no style attribute, no <style>, nothing from elsewhere */
    for (const char *p = html; (p = strstr(p, "<script")); p++) {
        const char *end = strchr(p, '>');
        assert_non_null(end);
        assert_non_null(memmem(p, (size_t)(end - p), "src=\"/web/", 10));
    }
    assert_null(strstr(html, " style="));
    assert_null(strstr(html, "<style"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    for (const char *p = html; (p = strstr(p, " on")); p++) {   /* no onclick= handlers */
        size_t n = 3;
        while (p[n] >= 'a' && p[n] <= 'z')
            n++;
        assert_false(n > 3 && p[n] == '=');
    }
    free(html);
    /* every module import names a file that is compiled in */
    for (size_t i = 0; i < http_static_nassets; i++) {
        const char *s = (const char *)http_static_assets[i].data;
        for (const char *p = s; (p = strstr(p, "from './")); p++) {
            char name[64];
            assert_int_equal(sscanf(p + 8, "%63[^']", name), 1);
            assert_non_null(http_static_find(name));
        }
    }
    assert_non_null(strstr(HTTP_STATIC_CSP, "default-src 'self'"));
    assert_null(strstr(HTTP_STATIC_CSP, "unsafe"));
}

static void test_handlers(void **state)
{
    (void)state;
    struct http_request rq = { 0 };
    struct http_reply rp = { .status = 200 };
    snprintf(rq.id, sizeof rq.id, "app.js");
    assert_int_equal(http_static_file(&rq, &rp), 0);
    assert_int_equal(rp.status, 200);
    assert_string_equal(rp.extra_name, "Content-Security-Policy");
    assert_string_equal(rp.extra_value, HTTP_STATIC_CSP);
    const struct http_static_asset *a = http_static_find("app.js");
    assert_int_equal(rp.len, a->len);
    assert_memory_equal(rp.body, a->data, a->len);
    free(rp.body);

    struct http_reply r2 = { .status = 200 };
    snprintf(rq.id, sizeof rq.id, "secret.db");
    assert_int_equal(http_static_file(&rq, &r2), 0);
    assert_int_equal(r2.status, 404);
    assert_non_null(strstr(r2.body, "no such file"));
    free(r2.body);

    struct http_reply r3 = { .status = 200 };
    assert_int_equal(http_static_index(&rq, &r3), 0);
    assert_int_equal(r3.status, 200);
    assert_string_equal(r3.type, "text/html; charset=utf-8");
    assert_non_null(memmem(r3.body, r3.len, "/web/app.js", 11));
    free(r3.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_embedded),
        cmocka_unit_test(test_page_keeps_to_its_csp),
        cmocka_unit_test(test_handlers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
