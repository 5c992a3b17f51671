/* store_replay.c -- the store alone: replays sensor journals into a store through
 * store_put_batches_packed, as the aggregator calls it (with each record's packed bytes),
 * but without ZeroMQ or unpacking, for bench/aggregator_ingest.sh. Only the time inside
 * the store is counted.
 * Owns:  the journal segments it reads (whole files in memory) and their unpacked batches.
 * Never: part of the product or of ctest.
 * Trap:  with --rounds N the journals are stored N times, each round with the sessions moved
 *        one day later and their ids changed, so every round inserts new sessions (a round
 *        with the same ids would only find duplicates, which cost a fraction).
 *
 *   store_replay [--interleave] URL GROUP ROUNDS SEGMENT...
 *     GROUP   journal batches per store_put_batches call (one transaction)
 *     ROUNDS  times the journals are stored, see Trap
 *     --interleave  take the batches round-robin from the segments' directories (one
 *             journal per sensor, named after its directory's last "-" part, "journal-s1"
 *             -> "s1"), as an aggregator with all sensors connected at once receives them;
 *             without it the segments go in the order given, sensors named s1, s2, s3 in
 *             turn batch by batch (as bench/aggregator_ingest.sh runs it)
 * Prints one line per 16 calls ("rows=N rate=R/s" over that stretch) and a final
 * "records=N seconds=S rate=R/s cpu_rate=C/s longest_call_ms=M" (M: the slowest call, e.g. a
 * commit that also checkpointed the WAL). The segments are read, records packed and calls
 * timed as bench/dataset_load.c does them (journal_replay.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal_replay.h"
#include "store.h"

/* The sensor name of a segment path: its directory's name after the last '-'. */
static void sensor_of(const char *path, char out[64])
{
    const char *slash = strrchr(path, '/'), *dir = path, *dash;
    size_t len = slash ? (size_t)(slash - path) : 0;
    for (const char *p = path; p < path + len; p++)
        if (*p == '/')
            dir = p + 1;
    len = (size_t)(path + len - dir);
    dash = memrchr(dir, '-', len);
    if (dash) {
        len -= (size_t)(dash + 1 - dir);
        dir = dash + 1;
    }
    snprintf(out, 64, "%.*s", len ? (int)len : 2, len ? dir : "s1");
}

/* Reorder v (n batches, of[i] the journal of batch i, 0..journals-1) round-robin by journal:
 * the first batch of each journal, then the second of each, and so on; -1 out of memory. */
static int interleave(Ashiato__Batch **v, int *of, size_t n, int journals)
{
    Ashiato__Batch **out = malloc((n ? n : 1) * sizeof *out);
    int *oof = malloc((n ? n : 1) * sizeof *oof);
    size_t *next = calloc((size_t)journals, sizeof *next), k = 0;
    if (!out || !oof || !next) {
        free(out);
        free(oof);
        free(next);
        return -1;
    }
    while (k < n)
        for (int j = 0; j < journals; j++) {
            while (next[j] < n && of[next[j]] != j)
                next[j]++;
            if (next[j] < n) {
                oof[k] = j;
                out[k++] = v[next[j]++];
            }
        }
    memcpy(v, out, n * sizeof *v);
    memcpy(of, oof, n * sizeof *of);
    free(out);
    free(oof);
    free(next);
    return 0;
}

/* Each record of v packed again into p[i][k] (journal_replay_pack); -1 out of memory. */
static int pack_all(Ashiato__Batch **v, size_t n, ProtobufCBinaryData **p)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i]->n_records; k++)
            if (journal_replay_pack(v[i]->records[k], &p[i][k]) < 0)
                return -1;
    return 0;
}

/* The next round's sessions: a day later, the id's last two characters changed. */
static void next_round(Ashiato__Batch **v, size_t n, int round)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i]->n_records; k++) {
            Ashiato__SessionRecord *r = v[i]->records[k];
            r->start_us += 86400000000LL;
            r->end_us += 86400000000LL;
            if (r->id.len >= 2) {
                r->id.data[r->id.len - 1] ^= 1;
                if (round > 1)
                    r->id.data[r->id.len - 2] ^= 2;
            }
        }
}

int main(int argc, char **argv)
{
    bool mix = argc > 1 && strcmp(argv[1], "--interleave") == 0;
    argv += mix;
    argc -= mix;
    if (argc < 5) {
        fprintf(stderr, "usage: store_replay [--interleave] URL GROUP ROUNDS SEGMENT...\n");
        return 2;
    }
    struct store_config cfg = { .batch_max = 10000000 };
    char err[ASH_ERR_LEN];
    int group = atoi(argv[2]), rounds = atoi(argv[3]);
    snprintf(cfg.url, sizeof cfg.url, "%s", argv[1]);
    if (group < 1 || group > 256 || rounds < 1 || rounds > 3) {
        fprintf(stderr, "store_replay: GROUP 1..256, ROUNDS 1..3\n");
        return 2;
    }
    Ashiato__Batch **v = NULL;
    size_t nb = 0;
    int *of = NULL, journals = 0;
    char jname[64][64];
    for (int a = 4; a < argc; a++) {
        size_t before = nb;
        char name[64];
        int j = 0;
        if (journal_replay_load("store_replay", argv[a], &v, &nb) < 0)
            return 1;
        sensor_of(argv[a], name);
        while (j < journals && strcmp(jname[j], name) != 0)
            j++;
        if (j == journals && journals < 64)
            snprintf(jname[journals++], sizeof jname[0], "%s", name);
        int *nof = realloc(of, (nb ? nb : 1) * sizeof *of);
        if (!nof)
            return 1;
        of = nof;
        for (size_t i = before; i < nb; i++)
            of[i] = j < journals ? j : journals - 1;
    }
    if (mix && interleave(v, of, nb, journals) < 0) {
        fprintf(stderr, "store_replay: out of memory\n");
        return 1;
    }
    ProtobufCBinaryData **packed = calloc(nb ? nb : 1, sizeof *packed);
    for (size_t i = 0; packed && i < nb; i++)
        if (!(packed[i] = calloc(v[i]->n_records + 1, sizeof **packed)))
            packed = NULL;
    struct store *st = packed ? store_open(&cfg, err) : NULL;
    if (!st) {
        fprintf(stderr, "store_replay: %s\n", packed ? err : "out of memory");
        return 1;
    }
    static const char *const names[] = { "s1", "s2", "s3" };
    struct store_batch sb[256];
    const ProtobufCBinaryData *sbp[256];
    size_t total = 0, calls = 0, mark_rows = 0;
    struct journal_replay_timer t = { 0 };
    double mark_el = 0;
    for (int round = 0; round < rounds; round++) {
        if (round)
            next_round(v, nb, round);
        if (pack_all(v, nb, packed) < 0) {
            fprintf(stderr, "store_replay: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < nb; i += (size_t)group) {
            size_t k = 0;
            for (; k < (size_t)group && i + k < nb; k++) {
                const Ashiato__Batch *b = v[i + k];
                sb[k] = (struct store_batch){ mix ? jname[of[i + k]] : names[(i + k) % 3],
                    NULL, 0,
                    (const Ashiato__SessionRecord *const *)b->records, b->n_records };
                sbp[k] = packed[i + k];
                total += b->n_records;
            }
            if (journal_replay_put("store_replay", st, sb, k, sbp, &t) < 0) {
                store_close(st);
                return 1;
            }
            if (++calls % 16 == 0) {
                printf("rows=%zu rate=%.0f/s\n", total,
                       (double)(total - mark_rows) / (t.wall - mark_el));
                mark_el = t.wall;
                mark_rows = total;
            }
        }
    }
    printf("records=%zu seconds=%.3f rate=%.0f/s cpu_rate=%.0f/s longest_call_ms=%.0f\n", total,
           t.wall, (double)total / t.wall, (double)total / t.cpu, t.longest * 1000);
    store_close(st);
    for (size_t i = 0; i < nb; i++) {
        for (size_t k = 0; k < v[i]->n_records; k++)
            free(packed[i][k].data);
        free(packed[i]);
        ashiato__batch__free_unpacked(v[i], NULL);
    }
    free(packed);
    free(v);
    free(of);
    return 0;
}
