/* app_corpus_driver.c -- feeds sessions' payloads to app_parse() and prints what it kept.
 * Used by check_app_corpus.py, which builds it with cc against sensor/app*.c; not a ctest.
 * Input lines:  "S"  (new session)
 *               "P <dir> <ip_proto> <sport> <dport> <hex payload>"
 *               "E"  (end of session: print one JSON line, release the fields)
 * Output: {"tags":[...],"proto":"...","http_host":[...],...} per session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_list(const char *name, const char *base, size_t size, int n)
{
    printf(",\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        if (i)
            putchar(',');
        json_str(base + (size_t)i * size);
    }
    putchar(']');
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int main(void)
{
    char err[ASH_ERR_LEN];
    struct app_pool *pool = app_pool_new(64, err);
    if (!pool) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static char line[1 << 20];
    static uint8_t buf[1 << 19];
    struct app_state st;
    memset(&st, 0, sizeof st);
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'S') {
            app_release(pool, &st);
        } else if (line[0] == 'P') {
            int dir, proto, sport, dport, off = 0;
            if (sscanf(line, "P %d %d %d %d %n", &dir, &proto, &sport, &dport, &off) < 4)
                continue;
            uint32_t n = 0;
            for (char *h = line + off; hexval(h[0]) >= 0 && hexval(h[1]) >= 0 && n < sizeof buf; h += 2)
                buf[n++] = (uint8_t)(hexval(h[0]) << 4 | hexval(h[1]));
            if (n)
                app_parse(pool, &st, dir, (uint8_t)proto, (uint16_t)sport, (uint16_t)dport, buf, n);
        } else if (line[0] == 'E') {
            printf("{\"proto\":");
            json_str(app_proto_name((enum app_proto)st.proto));
            printf(",\"tags\":[");
            int k = 0;
            for (int p = 1; p < APP_PROTO_COUNT; p++)
                if (st.tags & (1u << p)) {
                    if (k++)
                        putchar(',');
                    json_str(app_proto_name((enum app_proto)p));
                }
            putchar(']');
            const struct app_fields *f = app_fields_of(pool, &st);
            if (f) {
                char num[8];
                json_list("http_host", &f->http_host[0][0], APP_NAME_LEN, f->n_http_host);
                json_list("http_method", &f->http_method[0][0], APP_METHOD_LEN, f->n_http_method);
                json_list("user_agent", &f->user_agent[0][0], APP_UA_LEN, f->n_user_agent);
                json_list("dns_query", &f->dns_query[0][0], APP_NAME_LEN, f->n_dns_query);
                json_list("tls_sni", &f->tls_sni[0][0], APP_NAME_LEN, f->n_tls_sni);
                printf(",\"http_status\":[");
                for (int i = 0; i < f->n_http_status; i++)
                    printf("%s%u", i ? "," : "", f->http_status[i]);
                printf("],\"tls_version\":%u", f->tls_version);
                if (f->has_dns_rcode) {
                    printf(",\"dns_rcode\":");
                    json_str(app_dns_rcode_name(f->dns_rcode, num));
                }
                printf(",\"ssh_client\":");
                json_str(f->ssh_client);
                printf(",\"ssh_server\":");
                json_str(f->ssh_server);
                printf(",\"truncated\":%s", f->truncated ? "true" : "false");
            }
            printf("}\n");
            app_release(pool, &st);
        }
    }
    struct app_pool_stats ps;
    app_pool_stats(pool, &ps);
    app_pool_free(pool);
    return ps.in_use == 0 ? 0 : 2;
}
