/* detect_replay.c -- the detection engine alone over sensor journals: what detection costs per
 * record on the detection thread, without transport, decoding or a store, so that it can be
 * profiled (perf record) and compared build against build on a shared machine.
 * Owns:  the journal segments it reads (whole files in memory), their unpacked batches and
 *        the detect_record array built from them (as alert_out.c's hook and thread build them).
 * Never: part of the product or of ctest.
 * Trap:  batches are taken round-robin from the segments' directories (one journal per
 *        sensor, named after the directory's last "-" part: "journal-s1" -> "s1"), as an
 *        aggregator with all sensors connected at once receives them. Only the feed is timed,
 *        on the thread's CPU clock, as the aggregator's detection thread does it: chunks of
 *        1024 records copied into a run array, then detect_feed_batch; the records' strings
 *        lie side by side in arrival order as in the hook's chunks. The engine runs with its
 *        default config unless -c names an INI.
 *
 *   detect_replay [-c aggregator.ini] [-r ROUNDS] SEGMENT...
 * Prints "records=N rounds=R cpu_s=S ns_per_record=X links=L alerts=A cap_hits=C". With
 * ROUNDS > 1 the whole feed is repeated on a fresh engine each round and the best round is
 * reported (the others on stderr). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "journal_replay.h"

#define CHUNK 1024

struct src {
    char name[64];
    Ashiato__Batch **b;
    size_t n, next;
};

static void sensor_of(const char *path, char out[64])
{
    const char *slash = strrchr(path, '/'), *dir = path;
    size_t len = slash ? (size_t)(slash - path) : 0;
    for (const char *p = path; p < path + len; p++)
        if (*p == '/')
            dir = p + 1;
    len = (size_t)(path + len - dir);
    const char *dash = memrchr(dir, '-', len);
    const char *name = dash ? dash + 1 : dir;
    snprintf(out, 64, "%.*s", (int)(dir + len - name), name);
}

static uint64_t n_links, n_alerts;

static void on_alert(const struct detect_alert *a, bool final, void *ctx)
{
    (void)a;
    (void)ctx;
    n_alerts += final;
}

static void on_link(const char *ia, const char *sa, int64_t ta, const char *ib, const char *sb,
                    int64_t tb, void *ctx)
{
    (void)ia, (void)sa, (void)ta, (void)ib, (void)sb, (void)tb, (void)ctx;
    n_links++;
}

/* the record's strings side by side in one arena, as the aggregator's hook lays them out in
 * a chunk (ids and Community IDs in arrival order) */
static char *arena_put(const void *s, size_t n)
{
    static char *block;
    static size_t left;
    if (n + 1 > left) {
        left = 16u << 20;
        if (!(block = malloc(left)))
            exit(1);
    }
    char *at = block;
    memcpy(at, s, n);
    at[n] = '\0';
    block += n + 1;
    left -= n + 1;
    return at;
}

static void to_record(const Ashiato__SessionRecord *s, const char *sensor, struct detect_record *r)
{
    memset(r, 0, sizeof *r);
    const char *cid = s->community_id ? s->community_id : "";
    const char *cs = s->conn_state ? s->conn_state : "";
    r->sensor = sensor;
    r->session_id = arena_put(s->id.data, s->id.len);
    r->community_id = arena_put(cid, strlen(cid));
    r->conn_state = arena_put(cs, strlen(cs));
    r->start_us = s->start_us;
    r->end_us = s->end_us > s->start_us ? s->end_us : s->start_us;
    r->proto = (uint8_t)s->iana_number;
    r->icmp_error = s->icmp_quoted_count ? 0 : (uint8_t)s->icmp_error_type;
    detect_addr_set(r->src, s->source->ip.data, s->source->ip.len);
    detect_addr_set(r->dst, s->destination->ip.data, s->destination->ip.len);
    r->sport = (uint16_t)s->source->port;
    r->dport = (uint16_t)s->destination->port;
    r->src_packets = s->source->packets;
    r->dst_packets = s->destination->packets;
    r->src_bytes = s->source->data_bytes;
    r->dst_bytes = s->destination->data_bytes;
}

int main(int argc, char **argv)
{
    const char *ini = NULL;
    int rounds = 1, o;
    while ((o = getopt(argc, argv, "c:r:h")) != -1) {
        if (o == 'c')
            ini = optarg;
        else if (o == 'r')
            rounds = atoi(optarg);
        else {
            fprintf(stderr, "usage: detect_replay [-c aggregator.ini] [-r ROUNDS] SEGMENT...\n");
            return o == 'h' ? 0 : 2;
        }
    }
    struct src srcs[16];
    size_t ns = 0;
    for (int i = optind; i < argc; i++) {
        char name[64];
        sensor_of(argv[i], name);
        size_t k = 0;
        while (k < ns && strcmp(srcs[k].name, name))
            k++;
        if (k == ns) {
            if (ns == 16)
                return 2;
            memset(&srcs[ns], 0, sizeof srcs[ns]);
            snprintf(srcs[ns].name, 64, "%s", name);
            ns++;
        }
        if (journal_replay_load("detect_replay", argv[i], &srcs[k].b, &srcs[k].n) < 0)
            return 1;
    }
    size_t total = 0, cap = 0;
    struct detect_record *recs = NULL;
    for (bool more = true; more;) {
        more = false;
        for (size_t k = 0; k < ns; k++) {
            if (srcs[k].next == srcs[k].n)
                continue;
            more = true;
            Ashiato__Batch *b = srcs[k].b[srcs[k].next++];
            if (total + b->n_records > cap) {
                cap = (total + b->n_records) * 2;
                if (!(recs = realloc(recs, cap * sizeof *recs)))
                    return 1;
            }
            for (size_t j = 0; j < b->n_records; j++)
                if (b->records[j]->source && b->records[j]->destination)
                    to_record(b->records[j], srcs[k].name, &recs[total++]);
        }
    }
    static struct detect_record run[CHUNK];
    static const struct detect_record *run_ptr[CHUNK];
    for (size_t i = 0; i < CHUNK; i++)
        run_ptr[i] = &run[i];
    struct detect_config cfg;
    detect_config_defaults(&cfg);
    char err[ASH_ERR_LEN];
    if (ini && detect_config_load(&cfg, ini, err) < 0) {
        fprintf(stderr, "detect_replay: %s\n", err);
        return 1;
    }
    double best = 1e30;
    struct detect_stats st = { 0 };
    uint64_t links = 0, alerts = 0;
    for (int round = 0; round < rounds; round++) {
        n_links = n_alerts = 0;
        struct detect *d = detect_new(&cfg, on_alert, NULL, err);
        if (!d) {
            fprintf(stderr, "detect_replay: %s\n", err);
            return 1;
        }
        detect_set_link_sink(d, on_link, NULL);
        double c0 = journal_replay_now(CLOCK_THREAD_CPUTIME_ID);
        for (size_t i = 0; i < total; i += CHUNK) {
            /* as alert_out.c's detection thread: the chunk's records copied into its run */
            size_t n = total - i < CHUNK ? total - i : CHUNK;
            memcpy(run, recs + i, n * sizeof *run);
            detect_feed_batch(d, run_ptr, n);
        }
        double c = journal_replay_now(CLOCK_THREAD_CPUTIME_ID) - c0;
        detect_flush(d);
        fprintf(stderr, "round %d: cpu_s=%.3f ns_per_record=%.1f\n", round, c, c * 1e9 / total);
        if (c < best) {
            best = c;
            st = detect_stats(d);
            links = n_links;
            alerts = n_alerts;
        }
        detect_free(d);
    }
    printf("records=%zu rounds=%d cpu_s=%.3f ns_per_record=%.1f links=%llu alerts=%llu "
           "cap_hits=%llu linked=%llu failed=%llu ok=%llu unknown=%llu\n",
           total, rounds, best, best * 1e9 / total, (unsigned long long)links,
           (unsigned long long)alerts, (unsigned long long)st.cap_hits,
           (unsigned long long)st.linked, (unsigned long long)st.attempts_failed,
           (unsigned long long)st.attempts_ok, (unsigned long long)st.attempts_unknown);
    return 0;
}
