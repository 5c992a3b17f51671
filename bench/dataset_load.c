/* dataset_load.c -- the 10M-session benchmark dataset: real sensor journals (campusgen
 * captures of several seeds, read by ashiato-sensor) replicated by shifting time and ids, put
 * into a store through store_put_batches_packed, as the aggregator puts them. For
 * bench/dataset_10m.sh; bench/api_queries.sh and bench/web_query.sh query what it loads.
 * Owns:  the journal segments it reads (whole files in memory), their unpacked batches and
 *        the originals of the fields it rewrites per copy. It reads segments, packs records
 *        and times the store's calls as bench/store_replay.c does (journal_replay.h).
 * Never: part of the product or of ctest; invents a session field: every copy is a real
 *        sensor record with only its times and ids moved.
 * Trap:  a copy keeps each id's "YYMMDD-" date prefix consistent with the moved start (the
 *        SQLite store finds an id by that prefix), and changes the id's last two base64url
 *        characters by the slot number (copy * blocks + block), so ids stay unique across
 *        copies and seeds: two seeds can hold the same flow at the same time (the scan), and
 *        the same id twice in one day is one document in OpenSearch (the sensor's ids are
 *        "YYMMDD-" + 16 base64url characters, session_record.c).
 *
 *   dataset_load URL TARGET DAYS GROUP BLOCK:SENSOR:SEGMENT...
 *     TARGET  sessions to store (the last copy is cut short to hit it exactly)
 *     DAYS    the copies are spread evenly over this many days from the first session
 *     GROUP   journal batches per store_put_batches call (one transaction / bulk load)
 *     BLOCK   the seed the segment belongs to (0, 1, ...): one block = one seed's sensors,
 *             moved as a whole; copy c of block b starts (c * BLOCKS + b) * DAYS days /
 *             (COPIES * BLOCKS) after the original
 *     SENSOR  the authenticated sensor name its batches are stored under
 * For an http(s) URL it first creates the daily session indices it will fill with
 * number_of_replicas 0, refresh_interval -1 and translog durability async (the template gives
 * the mapping; the caller restores refresh and durability and refreshes afterwards).
 * Prints one progress line per 2M sessions and a final "records=N seconds=S rate=R/s cpu_rate=C/s first_us=F last_us=L". */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal_replay.h"
#include "clock.h"
#include "store.h"

#define MAX_SEG 512

struct seg {                     /* the batches of one journal segment */
    int block;
    char sensor[64];
    Ashiato__Batch **b;
    size_t n;
};

static int64_t day_of_us(int64_t us)
{
    int64_t s = us / 1000000 - (us % 1000000 < 0);
    return s / 86400 - (s % 86400 < 0);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* out = orig with its date prefix moved by `days` and its last two characters changed by
 * `slot` (see Trap); an id not of the sensor's shape is copied with only the tail changed. */
static void move_id(const ProtobufCBinaryData *orig, ProtobufCBinaryData *out, int64_t days,
                    unsigned slot)
{
    memcpy(out->data, orig->data, orig->len);
    out->len = orig->len;
    char *t = (char *)out->data;
    if (orig->len >= 9 && t[6] == '-') {
        int y = 2000 + (t[0] - '0') * 10 + (t[1] - '0');
        unsigned m = (unsigned)((t[2] - '0') * 10 + (t[3] - '0'));
        unsigned d = (unsigned)((t[4] - '0') * 10 + (t[5] - '0'));
        clock_civil_from_days(clock_days_from_civil(y, m, d) + days, &y, &m, &d);
        unsigned yy = (unsigned)(y % 100);
        char p[7] = { (char)('0' + yy / 10), (char)('0' + yy % 10), (char)('0' + m / 10),
                      (char)('0' + m % 10), (char)('0' + d / 10), (char)('0' + d % 10), 0 };
        memcpy(t, p, 6);
    }
    for (int k = 1; k <= 2 && (size_t)k <= orig->len; k++) {
        const char *at = strchr(b64url, t[orig->len - (size_t)k]);
        unsigned part = (slot >> (6 * (k - 1))) & 63;
        if (at && *at)
            t[orig->len - (size_t)k] = b64url[((unsigned)(at - b64url)) ^ part];
    }
}

struct orig {                    /* what a copy rewrites, as the sensor wrote it */
    int64_t start_us, end_us;
    ProtobufCBinaryData id, root_id;
};

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* PUT <url>/ashiato-sessions-YYYY.MM.DD for every day in [d0, d1] with loading settings;
 * an index that exists already (400) is left as it is. */
static int es_prepare(const char *url, int64_t d0, int64_t d1)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    static const char body[] =
        "{\"settings\":{\"index\":{\"number_of_replicas\":0,\"refresh_interval\":\"-1\","
        "\"translog\":{\"durability\":\"async\"}}}}";
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    int rc = 0;
    for (int64_t d = d0; d <= d1 && rc == 0; d++) {
        int y;
        unsigned m, dd;
        char u[1200];
        long status = 0;
        clock_civil_from_days(d, &y, &m, &dd);
        snprintf(u, sizeof u, "%s/ashiato-sessions-%04d.%02u.%02u", url, y, m, dd);
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        if (curl_easy_perform(c) != CURLE_OK ||
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            (status != 200 && status != 400)) {
            fprintf(stderr, "dataset_load: PUT %s: status %ld\n", u, status);
            rc = -1;
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

int main(int argc, char **argv)
{
    bool help = argc > 1 && !strcmp(argv[1], "--help");
    if (argc < 6 || help) {
        fprintf(help ? stdout : stderr,
                "usage: dataset_load URL TARGET DAYS GROUP BLOCK:SENSOR:SEGMENT...\n");
        return help ? 0 : 2;
    }
    long long target = atoll(argv[2]);
    int days = atoi(argv[3]), group = atoi(argv[4]);
    if (target < 1 || days < 1 || days > 365 || group < 1 || group > 256 || argc - 5 > MAX_SEG) {
        fprintf(stderr, "dataset_load: TARGET >= 1, DAYS 1..365, GROUP 1..256, <= %d segments\n",
                MAX_SEG);
        return 2;
    }
    static struct seg segs[MAX_SEG];
    int nseg = 0, blocks = 0;
    size_t base = 0;
    int64_t first = INT64_MAX;
    for (int a = 5; a < argc; a++, nseg++) {
        struct seg *s = &segs[nseg];
        char *c1 = strchr(argv[a], ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2 - c1 - 1 >= (long)sizeof s->sensor) {
            fprintf(stderr, "dataset_load: %s: expected BLOCK:SENSOR:SEGMENT\n", argv[a]);
            return 2;
        }
        s->block = atoi(argv[a]);
        snprintf(s->sensor, sizeof s->sensor, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        if (journal_replay_load("dataset_load", c2 + 1, &s->b, &s->n) < 0)
            return 1;
        blocks = s->block + 1 > blocks ? s->block + 1 : blocks;
        for (size_t i = 0; i < s->n; i++)
            for (size_t k = 0; k < s->b[i]->n_records; k++) {
                base++;
                if (s->b[i]->records[k]->start_us < first)
                    first = s->b[i]->records[k]->start_us;
            }
    }
    if (!base) {
        fprintf(stderr, "dataset_load: no records in the segments\n");
        return 1;
    }
    /* originals, and each record's id buffers made private (the unpacked ones are views) */
    struct orig *org = calloc(base, sizeof *org);
    size_t oi = 0;
    for (int g = 0; org && g < nseg; g++)
        for (size_t i = 0; i < segs[g].n; i++)
            for (size_t k = 0; k < segs[g].b[i]->n_records; k++, oi++) {
                Ashiato__SessionRecord *r = segs[g].b[i]->records[k];
                struct orig *o = &org[oi];
                o->start_us = r->start_us;
                o->end_us = r->end_us;
                o->id.len = r->id.len;
                o->root_id.len = r->root_id.len;
                o->id.data = malloc(r->id.len + 1);
                o->root_id.data = malloc(r->root_id.len + 1);
                if (!o->id.data || !o->root_id.data) {
                    fprintf(stderr, "dataset_load: out of memory\n");
                    return 1;
                }
                memcpy(o->id.data, r->id.data, r->id.len);
                memcpy(o->root_id.data, r->root_id.data, r->root_id.len);
                r->id.data = malloc(r->id.len + 1);
                r->root_id.data = malloc(r->root_id.len + 1);
                if (!r->id.data || !r->root_id.data) {
                    fprintf(stderr, "dataset_load: out of memory\n");
                    return 1;
                }
            }
    if (!org) {
        fprintf(stderr, "dataset_load: out of memory\n");
        return 1;
    }
    unsigned copies = (unsigned)((target + (long long)base - 1) / (long long)base);
    if (copies > 4096) {
        fprintf(stderr, "dataset_load: %u copies of %zu records: too many\n", copies, base);
        return 2;
    }
    int64_t span_us = (int64_t)days * 86400000000LL, slots = (int64_t)copies * blocks;
    printf("base=%zu records in %d segments, %d blocks, %u copies, a copy every %.0f s\n", base,
           nseg, blocks, copies, (double)span_us / (double)slots / 1e6);
    fflush(stdout);

    struct store_config cfg = { .batch_max = 10000000 };
    char err[ASH_ERR_LEN];
    snprintf(cfg.url, sizeof cfg.url, "%s", argv[1]);
    bool es = !strncmp(argv[1], "http://", 7) || !strncmp(argv[1], "https://", 8);
    struct store *st = store_open(&cfg, err);
    if (!st) {
        fprintf(stderr, "dataset_load: %s\n", err);
        return 1;
    }
    if (es && (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
               es_prepare(argv[1], day_of_us(first), day_of_us(first + span_us) + 1) < 0)) {
        store_close(st);
        return 1;
    }

    struct store_batch sb[256];
    const ProtobufCBinaryData *sbp[256];
    ProtobufCBinaryData *packed[256] = { 0 };
    size_t packed_cap[256] = { 0 };
    long long total = 0, mark = 0;
    struct journal_replay_timer t = { 0 };
    int64_t last = 0;
    /* per segment: where its originals start in org[] */
    size_t org_at[MAX_SEG], at = 0;
    for (int g = 0; g < nseg; g++) {
        org_at[g] = at;
        for (size_t i = 0; i < segs[g].n; i++)
            at += segs[g].b[i]->n_records;
    }
    for (unsigned c = 0; c < copies && total < target; c++)
        for (int blk = 0; blk < blocks && total < target; blk++) {
            unsigned slot = c * (unsigned)blocks + (unsigned)blk;
            int64_t delta = span_us / slots * (int64_t)slot;
            /* the block's segments, their batches taken round-robin (sensors interleaved) */
            size_t next[MAX_SEG] = { 0 }, nb = 0, left = 1;
            while (left && total < target) {
                left = 0;
                for (int g = 0; g < nseg && total < target; g++) {
                    if (segs[g].block != blk || next[g] >= segs[g].n)
                        continue;
                    left = 1;
                    size_t bi = next[g]++;
                    Ashiato__Batch *b = segs[g].b[bi];
                    size_t o0 = org_at[g];
                    for (size_t j = 0; j < bi; j++)
                        o0 += segs[g].b[j]->n_records;
                    size_t n = b->n_records;
                    if ((long long)n > target - total)
                        n = (size_t)(target - total);
                    if (packed_cap[nb] < n) {
                        ProtobufCBinaryData *p = realloc(packed[nb], n * sizeof *p);
                        if (!p) {
                            fprintf(stderr, "dataset_load: out of memory\n");
                            return 1;
                        }
                        memset(p + packed_cap[nb], 0, (n - packed_cap[nb]) * sizeof *p);
                        packed[nb] = p;
                        packed_cap[nb] = n;
                    }
                    for (size_t k = 0; k < n; k++) {
                        Ashiato__SessionRecord *r = b->records[k];
                        const struct orig *o = &org[o0 + k];
                        int64_t dd = day_of_us(o->start_us + delta) - day_of_us(o->start_us);
                        r->start_us = o->start_us + delta;
                        r->end_us = o->end_us + delta;
                        last = r->start_us > last ? r->start_us : last;
                        move_id(&o->id, &r->id, dd, slot);
                        move_id(&o->root_id, &r->root_id, dd, slot);
                        if (journal_replay_pack(r, &packed[nb][k]) < 0) {
                            fprintf(stderr, "dataset_load: out of memory\n");
                            return 1;
                        }
                    }
                    sb[nb] = (struct store_batch){ segs[g].sensor, NULL, 0,
                        (const Ashiato__SessionRecord *const *)b->records, n };
                    sbp[nb] = packed[nb];
                    total += (long long)n;
                    if (++nb == (size_t)group || total >= target) {
                        if (journal_replay_put("dataset_load", st, sb, nb, sbp, &t) < 0) {
                            store_close(st);
                            return 1;
                        }
                        nb = 0;
                        if (total - mark >= 2000000) {
                            printf("rows=%lld rate=%.0f/s\n", total, (double)total / t.wall);
                            fflush(stdout);
                            mark = total;
                        }
                    }
                }
            }
            if (nb && journal_replay_put("dataset_load", st, sb, nb, sbp, &t) < 0) {
                store_close(st);
                return 1;
            }
        }
    store_close(st);
    printf("records=%lld seconds=%.3f rate=%.0f/s cpu_rate=%.0f/s first_us=%lld last_us=%lld\n",
           total, t.wall, (double)total / t.wall, (double)total / t.cpu, (long long)first,
           (long long)last);
    if (es)
        curl_global_cleanup();
    return 0;
}
