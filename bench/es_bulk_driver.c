/* es_bulk_driver.c -- bench/es_bulk.sh's loader: the same synthetic session records either
 * through the store (store_put_batches into an Elasticsearch/OpenSearch URL, timed) or written
 * as the exact NDJSON bulk bodies the store sends, for curl to post as the floor.
 * Compiled by bench/es_bulk.sh against the build tree's static libraries; never part of ctest.
 *
 *   es_bulk_driver load   URL PREFIX N BULK_BYTES INFLIGHT CALL_RECORDS [GZIP]
 *       open the store (installs the templates), put N records in store_put_batches calls of
 *       CALL_RECORDS records (what the aggregator's group commit hands over), print one JSON
 *       line: {"docs":N,"seconds":S,"docs_per_s":R,"cpu_us_per_doc":C,"inserted":I} (C: this
 *       process's CPU time over the puts, rendering included); GZIP is store_config's
 *       es_gzip (0: not to loopback, the default; 1: always; -1: never)
 *   es_bulk_driver ndjson URL PREFIX N BULK_BYTES CALL_RECORDS OUTDIR
 *       open the store (templates for PREFIX), write OUTDIR/req-NNNNNN.ndjson: the same
 *       documents, action lines and cut into requests as the store makes; print
 *       {"requests":R,"render_cpu_us_per_doc":C} (C: record_json_render alone, CPU time)
 *
 * Records: deterministic, shaped like campusgen sessions as the sensor emits them (http, tls,
 * dns, ssh and unknown; ~830-byte documents), all on 2021-09-29 (one daily index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record_json.h"
#include "store.h"

#define DAY0 1632873600000000LL        /* 2021-09-29T00:00:00Z */

struct gen {
    Ashiato__SessionRecord *r;
    Ashiato__Endpoint *src, *dst;
    Ashiato__TcpFlagCounts *flags;
    uint8_t (*ip)[8], (*mac)[6];
    char (*id)[24], (*host)[48], (*cid)[32];
    char **host_p, **sni_p;
};

static const char *const methods[] = { "GET" };
static char *methods_p[] = { "GET" };
static uint32_t status_200[] = { 200 };
static char *ua_p[] = { "curl/7.74.0" };
static char *tags_http[] = { "http" }, *tags_tls[] = { "tls" }, *tags_dns[] = { "dns" };
static char *tags_ssh[] = { "ssh" };

static uint64_t mix(uint64_t x)                 /* splitmix64 */
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int make(struct gen *g, size_t n)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    g->r = calloc(n, sizeof *g->r);
    g->src = calloc(n, sizeof *g->src);
    g->dst = calloc(n, sizeof *g->dst);
    g->flags = calloc(n, sizeof *g->flags);
    g->ip = calloc(n, sizeof *g->ip);
    g->mac = calloc(n, sizeof *g->mac);
    g->id = calloc(n, sizeof *g->id);
    g->host = calloc(n, sizeof *g->host);
    g->cid = calloc(n, sizeof *g->cid);
    g->host_p = calloc(n, sizeof *g->host_p);
    if (!g->r || !g->src || !g->dst || !g->flags || !g->ip || !g->mac || !g->id || !g->host ||
        !g->cid || !g->host_p)
        return -1;
    (void)methods;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = mix(i);
        Ashiato__SessionRecord *r = &g->r[i];
        ashiato__session_record__init(r);
        ashiato__endpoint__init(&g->src[i]);
        ashiato__endpoint__init(&g->dst[i]);
        ashiato__tcp_flag_counts__init(&g->flags[i]);
        memcpy(g->id[i], "210929-", 7);
        for (int k = 0; k < 16; k++)
            g->id[i][7 + k] = b62[(mix(h + (uint64_t)k) >> 7) % 62];
        r->id.data = (uint8_t *)g->id[i];
        r->id.len = 23;
        r->root_id = r->id;
        r->segment = 1;
        r->observer_name = "bench";
        r->start_us = DAY0 + (int64_t)(h % (86400ULL * 1000000));
        r->end_us = r->start_us + (int64_t)(h % 3000000);
        uint8_t *ip = g->ip[i];
        memcpy(ip, (uint8_t[]){ 198, 18, (uint8_t)(1 + h % 6), (uint8_t)(h >> 8),
                                198, 18, (uint8_t)(1 + (h >> 16) % 6), (uint8_t)(1 + (h >> 24) % 20) }, 8);
        memcpy(g->mac[i], (uint8_t[]){ 0, 0x1b, 0x17, 0, (uint8_t)(h >> 32), 1 }, 6);
        g->src[i].ip = (ProtobufCBinaryData){ 4, ip };
        g->dst[i].ip = (ProtobufCBinaryData){ 4, ip + 4 };
        g->src[i].mac = (ProtobufCBinaryData){ 6, g->mac[i] };
        g->src[i].port = 32768 + (uint32_t)(h % 28000);
        g->src[i].packets = 2 + h % 20;
        g->src[i].bytes = g->src[i].packets * (60 + h % 400);
        g->dst[i].packets = 1 + h % 15;
        g->dst[i].bytes = g->dst[i].packets * (60 + h % 1200);
        g->src[i].data_bytes = g->src[i].bytes / 3;
        g->dst[i].data_bytes = g->dst[i].bytes / 2;
        r->source = &g->src[i];
        r->destination = &g->dst[i];
        r->ip_version = 4;
        for (int k = 0; k < 27; k++)
            g->cid[i][2 + k] = b62[(mix(h ^ (uint64_t)k) >> 9) % 62];
        memcpy(g->cid[i], "1:", 2);
        g->cid[i][29] = '=';
        r->community_id = g->cid[i];
        snprintf(g->host[i], sizeof g->host[i], "web.dept%u.campus.example.edu",
                 (unsigned)(1 + (h >> 40) % 6));
        g->host_p[i] = g->host[i];
        int kind = (int)(h % 10);
        r->iana_number = kind < 3 ? 17 : 6;
        if (r->iana_number == 6) {
            g->flags[i] = (Ashiato__TcpFlagCounts){ .base = g->flags[i].base, .syn = 1,
                .syn_ack = 1, .ack = (uint32_t)g->src[i].packets, .psh = 4, .fin = 2 };
            r->tcp_flags = &g->flags[i];
            r->conn_state = "SF";
            r->history = "ShAaDdFf";
        } else {
            r->conn_state = "SF";
            r->history = "Dd";
        }
        if (kind < 3) {
            g->dst[i].port = 53;
            r->protocol = "dns";
            r->n_dns_query = 1;
            r->dns_query = &g->host_p[i];
            r->dns_rcode = "NOERROR";
            r->n_tags = 1;
            r->tags = tags_dns;
        } else if (kind < 6) {
            g->dst[i].port = 443;
            r->protocol = "tls";
            r->n_tls_sni = 1;
            r->tls_sni = &g->host_p[i];
            r->tls_version = "1.3";
            r->n_tags = 1;
            r->tags = tags_tls;
        } else if (kind < 9) {
            g->dst[i].port = 80;
            r->protocol = "http";
            r->n_http_host = 1;
            r->http_host = &g->host_p[i];
            r->n_http_method = 1;
            r->http_method = methods_p;
            r->n_http_status = 1;
            r->http_status = status_200;
            r->n_user_agent = 1;
            r->user_agent = ua_p;
            r->n_tags = 1;
            r->tags = tags_http;
        } else {
            g->dst[i].port = 22;
            r->protocol = "ssh";
            r->ssh_client = "SSH-2.0-OpenSSH_8.4p1";
            r->ssh_server = "SSH-2.0-OpenSSH_7.9p1";
            r->n_tags = 1;
            r->tags = tags_ssh;
        }
    }
    return 0;
}

static struct store *open_store(const char *url, const char *prefix, long long bulk,
                                long long inflight, int gzip)
{
    struct store_config cfg;
    char err[ASH_ERR_LEN];
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.url, sizeof cfg.url, "%s", url);
    snprintf(cfg.es_prefix, sizeof cfg.es_prefix, "%s", prefix);
    cfg.bulk_bytes = bulk;
    cfg.inflight = inflight;
    cfg.es_gzip = gzip;
    cfg.batch_max = 10000000;
    struct store *st = store_open(&cfg, err);
    if (!st)
        fprintf(stderr, "es_bulk_driver: %s\n", err);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)                       /* CPU time of this process (ns exact) */
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int load(struct gen *g, size_t n, const char *url, const char *prefix, long long bulk,
                long long inflight, size_t call, int gzip)
{
    struct store *st = open_store(url, prefix, bulk, inflight, gzip);
    if (!st)
        return 1;
    const Ashiato__SessionRecord **p = malloc(n * sizeof *p);
    if (!p)
        return 1;
    for (size_t i = 0; i < n; i++)
        p[i] = &g->r[i];
    double t0 = now_s(), c0 = cpu_s();
    uint64_t seq = 0;
    for (size_t i = 0; i < n; i += call) {
        size_t k = n - i < call ? n - i : call;
        struct store_batch b = { "bench", "bench#1", ++seq, p + i, k };
        if (store_put_batches(st, &b, 1) != STORE_OK) {
            fprintf(stderr, "es_bulk_driver: put: %s\n", store_error(st));
            return 1;
        }
    }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    struct store_counters c;
    store_counters(st, &c);
    printf("{\"docs\":%zu,\"seconds\":%.3f,\"docs_per_s\":%.0f,\"cpu_us_per_doc\":%.2f,"
           "\"inserted\":%llu}\n", n, secs, (double)n / secs, cpu * 1e6 / (double)n,
           (unsigned long long)c.inserted);
    store_close(st);
    free(p);
    return 0;
}

/* The bodies the store makes: per call, `create` lines cut at bulk bytes (store_es_bulk.c). */
static int ndjson(struct gen *g, size_t n, const char *url, const char *prefix, long long bulk,
                  size_t call, const char *outdir)
{
    struct store *st = open_store(url, prefix, bulk, 1, 0);  /* the templates for prefix */
    if (!st)
        return 1;
    store_close(st);
    FILE *f = NULL;
    size_t nreq = 0, used = 0;
    double render = 0;
    for (size_t i = 0; i < n; i++) {
        char line[256], index[96], day[40], path[1100];
        size_t len = 0;
        double c0 = cpu_s();
        char *doc = record_json_render(&g->r[i], "bench", &len);
        render += cpu_s() - c0;
        record_json_time(g->r[i].start_us, day);
        snprintf(index, sizeof index, "%s-sessions-%.4s.%.2s.%.2s", prefix, day, day + 5,
                 day + 8);
        int ll = snprintf(line, sizeof line, "{\"create\":{\"_index\":\"%s\",\"_id\":\"%s\"}}\n",
                          index, g->id[i]);
        size_t item = (size_t)ll + len + 1;
        if (!f || i % call == 0 || used + item > (size_t)bulk) {
            if (f)
                fclose(f);
            snprintf(path, sizeof path, "%s/req-%06zu.ndjson", outdir, ++nreq);
            if (!(f = fopen(path, "w"))) {
                perror(path);
                return 1;
            }
            used = 0;
        }
        fwrite(line, 1, (size_t)ll, f);
        fwrite(doc, 1, len, f);
        fputc('\n', f);
        used += item;
        free(doc);
    }
    if (f)
        fclose(f);
    printf("{\"requests\":%zu,\"render_cpu_us_per_doc\":%.2f}\n", nreq, render * 1e6 / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    struct gen g;
    if (argc >= 8 && strcmp(argv[1], "load") == 0) {
        size_t n = strtoull(argv[4], NULL, 10);
        if (make(&g, n) < 0)
            return 1;
        return load(&g, n, argv[2], argv[3], atoll(argv[5]), atoll(argv[6]),
                    strtoull(argv[7], NULL, 10), argc > 8 ? atoi(argv[8]) : 0);
    }
    if (argc >= 8 && strcmp(argv[1], "ndjson") == 0) {
        size_t n = strtoull(argv[4], NULL, 10);
        if (make(&g, n) < 0)
            return 1;
        return ndjson(&g, n, argv[2], argv[3], atoll(argv[5]), strtoull(argv[6], NULL, 10),
                      argv[7]);
    }
    fprintf(stderr, "usage: es_bulk_driver load URL PREFIX N BULK_BYTES INFLIGHT CALL_RECORDS [GZIP]\n"
                    "       es_bulk_driver ndjson URL PREFIX N BULK_BYTES CALL_RECORDS OUTDIR\n");
    return 2;
}
