/* test_receive.c -- aggregator/receive.c driven for real: a receive instance on a real ZeroMQ
 * ROUTER (inproc:// for the plaintext cases, ipc:// with CURVE and the real ZAP handler of
 * auth.c where the authenticated name matters), a real SQLite store in a mkdtemp directory,
 * and a DEALER playing the sensor with hand-built batches. No mocks.
 * Covers: batches in order, duplicates, gaps, acks only after the store committed (a locked
 * database), bad messages, the post-commit hook (never twice for a re-delivered batch), and
 * the defects of the hardening issue: H1 (identity bound to the allow-list name), M1 (one bad
 * record never stalls a stream), M7 (the database deleted under a running aggregator). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <zmq.h>

#include "test_dir.h"
#include "auth.h"
#include "clock.h"
#include "curve.h"
#include "event_loop.h"
#include "receive.h"
#include "store.h"
#include "wire.h"

#define T0 1700000000000000LL        /* 2023-11-14T22:13:20Z */
#define NREC 5

struct fx {
    char dir[256], db[320], url[340], dead[340], ep[340];
    struct store *st;
    void *zctx, *dealer;
    struct receive *r;
    struct auth *auth;
    struct curve_allow *allow;
    struct curve_keypair server, client;
};

/* ---- fixtures --------------------------------------------------------------------------- */

static void fx_store(struct fx *f, bool dead_letter)
{
    struct store_config sc = { 0 };
    char err[ASH_ERR_LEN] = "";
    snprintf(f->db, sizeof f->db, "%s/sessions.db", f->dir);
    snprintf(f->dead, sizeof f->dead, "%s/dead.jsonl", f->dir);
    snprintf(sc.url, sizeof sc.url, "sqlite://%s", f->db);
    if (dead_letter)
        snprintf(sc.dead_letter, sizeof sc.dead_letter, "%s", f->dead);
    f->st = store_open(&sc, err);
    if (!f->st)
        fail_msg("store_open: %s", err);
}

/* plaintext receive on inproc://, the name is the batch's own (insecure mode) */
static struct fx *fx_open(bool dead_letter, bool watch_file)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[ASH_ERR_LEN] = "";
    assert_non_null(f);
    assert_int_equal(test_dir_make(f->dir, sizeof f->dir, NULL, "test_receive"), 0);
    fx_store(f, dead_letter);
    f->zctx = zmq_ctx_new();
    struct receive_config rc = { .insecure = true, .credit = 8, .heartbeat_ms = 1000 };
    snprintf(rc.listen, sizeof rc.listen, "inproc://receive-%p", (void *)f);
    if (watch_file)
        snprintf(rc.store_path, sizeof rc.store_path, "%s", f->db);
    f->r = receive_open(f->zctx, &rc, f->st, err);
    if (!f->r)
        fail_msg("receive_open: %s", err);
    f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(f->dealer, rc.listen), 0);
    return f;
}

/* CURVE receive on ipc:// behind auth.c: the sensor's key is allowed as allowed_as */
static struct fx *fx_open_curve(const char *allowed_as)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[ASH_ERR_LEN] = "", path[400];
    assert_non_null(f);
    assert_int_equal(test_dir_make(f->dir, sizeof f->dir, NULL, "test_receive"), 0);
    fx_store(f, true);
    assert_int_equal(curve_generate(&f->server, err), 0);
    assert_int_equal(curve_generate(&f->client, err), 0);
    snprintf(path, sizeof path, "%s/allow.txt", f->dir);
    FILE *af = fopen(path, "w");
    assert_non_null(af);
    fprintf(af, "%s %s\n", allowed_as, f->client.public_z85);
    fclose(af);
    f->allow = curve_allow_load(path, err);
    if (!f->allow)
        fail_msg("curve_allow_load: %s", err);
    f->zctx = zmq_ctx_new();
    f->auth = auth_start(f->zctx, f->allow, false, err);
    assert_non_null(f->auth);
    struct receive_config rc = { .insecure = false, .server_keys = &f->server, .credit = 8,
                                 .heartbeat_ms = 1000 };
    snprintf(rc.listen, sizeof rc.listen, "ipc://%s/rx.sock", f->dir);
    f->r = receive_open(f->zctx, &rc, f->st, err);
    if (!f->r)
        fail_msg("receive_open: %s", err);
    f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(wire_curve_client(f->dealer, &f->client, f->server.public_z85, err), 0);
    assert_int_equal(zmq_connect(f->dealer, rc.listen), 0);
    return f;
}

static void fx_close(struct fx *f)
{
    zmq_close(f->dealer);
    receive_close(f->r);
    auth_stop(f->auth);
    zmq_ctx_term(f->zctx);
    store_close(f->st);
    curve_allow_free(f->allow);
    test_dir_remove(f->dir);
    free(f);
}

/* One batch as the shipper sends it: records named by `observer`, ids "<tag>-<seq>-<i>". */
static void send_batch(struct fx *f, const char *sensor, const char *observer, uint64_t epoch,
                       uint64_t seq, uint64_t prev, int64_t bad_start_at /* index or -1 */)
{
    Ashiato__SessionRecord recs[NREC], *rp[NREC];
    char ids[NREC][48];
    for (int i = 0; i < NREC; i++) {
        ashiato__session_record__init(&recs[i]);
        snprintf(ids[i], sizeof ids[i], "%s-%llu-%d", observer, (unsigned long long)seq, i);
        recs[i].id.data = (uint8_t *)ids[i];
        recs[i].id.len = strlen(ids[i]);
        recs[i].observer_name = (char *)observer;
        recs[i].start_us = T0 + (int64_t)seq * 1000 + i;
        recs[i].end_us = recs[i].start_us + 10;
        recs[i].iana_number = 6;
        recs[i].ip_version = 4;
        if (i == bad_start_at)
            recs[i].start_us = recs[i].end_us = 4200000000000000LL;   /* 2103 */
        rp[i] = &recs[i];
    }
    Ashiato__Batch b = ASHIATO__BATCH__INIT;
    b.sensor = (char *)sensor;
    b.seq = seq;
    b.prev_seq = prev;
    b.epoch = epoch;
    b.records = rp;
    b.n_records = NREC;
    Ashiato__Envelope env = ASHIATO__ENVELOPE__INIT;
    env.body_case = ASHIATO__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    size_t len;
    uint8_t *buf = wire_pack(&env, &len);
    assert_non_null(buf);
    assert_int_equal(zmq_send(f->dealer, buf, len, 0), (int)len);
    free(buf);
}

struct ack {
    uint64_t seq, reason_seq;
    bool refused;
    char reason[256];
};

/* Run receive for up to ms, or (want >= 0) until an ack of at least seq want came back;
 * the last ack that came back in *last; the number of acks. */
static int pump_until(struct fx *f, int ms, int64_t want, struct ack *last)
{
    int got = 0;
    int64_t until = clock_mono_ms() + ms;
    while (clock_mono_ms() < until && !(want >= 0 && got && last && last->seq >= (uint64_t)want)) {
        assert_int_equal(receive_poll(f->r, 10), 0);
        uint8_t buf[1024];
        int n;
        while ((n = zmq_recv(f->dealer, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
            char err[ASH_ERR_LEN];
            Ashiato__Envelope *env = wire_unpack(buf, (size_t)n, err);
            assert_non_null(env);
            assert_int_equal(env->body_case, ASHIATO__ENVELOPE__BODY_ACK);
            if (last) {
                last->seq = env->ack->seq;
                last->reason_seq = env->ack->reason_seq;
                last->refused = env->ack->refused;
                snprintf(last->reason, sizeof last->reason, "%s",
                         env->ack->reason ? env->ack->reason : "");
            }
            got++;
            wire_free(env);
        }
    }
    return got;
}

/* run receive for ms whatever comes back (for "nothing is acked" and the time to pass) */
static int pump(struct fx *f, int ms, struct ack *last) { return pump_until(f, ms, -1, last); }

/* run receive until an ack of at least seq comes back (10 s at most: a loaded machine) */
static int ack_of(struct fx *f, int64_t seq, struct ack *last)
{
    return pump_until(f, 10000, seq, last);
}

static uint64_t rows(struct fx *f)
{
    struct store_query q = { 0 };
    uint64_t total = 0;
    assert_int_equal(store_query_sessions(f->st, &q, NULL, NULL, &total), STORE_OK);
    return total;
}

static uint64_t committed(struct fx *f, const char *stream)
{
    uint64_t seq = 0;
    assert_int_equal(store_sensor_seq(f->st, stream, &seq), STORE_OK);
    return seq;
}

/* ---- the post-commit hook's recorder ------------------------------------------------------ */

struct seen {
    struct store *st;                /* the hook puts an alert through the same handle */
    int alerts_ok;
    int calls;
    size_t batches, records;
    uint64_t seqs[64];
    char first_id[48], sensor[64];
};

static void on_commit(void *ctx, const struct receive_committed *b, size_t n)
{
    struct seen *s = ctx;
    s->calls++;
    if (s->st) {
        Ashiato__Alert al = ASHIATO__ALERT__INIT;
        char id[32];
        snprintf(id, sizeof id, "hook-%d", s->calls);
        al.id = id;
        al.kind = "test";
        al.start_us = al.end_us = T0;
        s->alerts_ok += store_put_alert(s->st, &al) == STORE_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (s->batches < 64)
            s->seqs[s->batches] = b[i].seq;
        s->batches++;
        s->records += b[i].n_records;
        snprintf(s->sensor, sizeof s->sensor, "%s", b[i].sensor);
        if (!s->first_id[0] && b[i].n_records)
            snprintf(s->first_id, sizeof s->first_id, "%.*s", (int)b[i].records[0]->id.len,
                     (const char *)b[i].records[0]->id.data);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void batches_in_order_are_committed_then_acked(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    for (uint64_t seq = 1; seq <= 3; seq++)
        send_batch(f, "s1", "s1", 77, seq, seq - 1, -1);
    assert_true(ack_of(f, 3, &a) >= 1);
    assert_int_equal(a.seq, 3);
    assert_string_equal(a.reason, "");
    assert_int_equal(rows(f), 3 * NREC);
    assert_int_equal(committed(f, "s1#77"), 3);
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(rs.batches, 3);
    assert_int_equal(rs.records, 3 * NREC);
    printf("in order: batches=%llu records=%llu groups=%llu last ack=%llu\n",
           (unsigned long long)rs.batches, (unsigned long long)rs.records,
           (unsigned long long)rs.groups, (unsigned long long)a.seq);
    fx_close(f);
}

static void duplicates_are_acked_not_stored_twice(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    send_batch(f, "s1", "s1", 5, 1, 0, -1);
    send_batch(f, "s1", "s1", 5, 2, 1, -1);
    ack_of(f, 2, &a);
    assert_int_equal(a.seq, 2);
    send_batch(f, "s1", "s1", 5, 1, 0, -1);          /* both again, as after a reconnect */
    send_batch(f, "s1", "s1", 5, 2, 1, -1);
    memset(&a, 0, sizeof a);
    assert_true(ack_of(f, 2, &a) >= 1);
    assert_int_equal(a.seq, 2);                       /* the ack of what is committed */
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(rs.duplicates, 2);
    assert_int_equal(rs.batches, 2);
    assert_int_equal(rows(f), 2 * NREC);
    fx_close(f);
}

static void a_gap_is_not_committed(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    send_batch(f, "s1", "s1", 9, 1, 0, -1);
    ack_of(f, 1, &a);
    send_batch(f, "s1", "s1", 9, 3, 2, -1);           /* 2 never arrived */
    memset(&a, 0, sizeof a);
    assert_true(ack_of(f, 1, &a) >= 1);
    assert_int_equal(a.seq, 1);                       /* "resend from 1" */
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(rs.gaps, 1);
    assert_int_equal(committed(f, "s1#9"), 1);
    assert_int_equal(rows(f), NREC);
    /* a batch whose journal bound dropped its predecessor says so (prev_seq) and goes in */
    send_batch(f, "s1", "s1", 9, 3, 1, -1);
    ack_of(f, 3, &a);
    assert_int_equal(a.seq, 3);
    assert_int_equal(rows(f), 2 * NREC);
    fx_close(f);
}

static void acks_only_after_the_store_committed(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    send_batch(f, "s1", "s1", 3, 1, 0, -1);
    int acks = pump(f, 500, &a);
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(acks == 0 || a.seq == 0, true);  /* nothing acked while locked */
    assert_true(rs.store_retries >= 1);
    assert_int_equal(rs.batches, 0);
    printf("locked store: acks=%d last=%llu store_retries=%llu\n", acks,
           (unsigned long long)a.seq, (unsigned long long)rs.store_retries);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    send_batch(f, "s1", "s1", 3, 1, 0, -1);           /* the sensor's resend */
    ack_of(f, 1, &a);
    assert_int_equal(a.seq, 1);
    assert_int_equal(rows(f), NREC);
    fx_close(f);
}

static void bad_messages_are_counted_and_the_stream_goes_on(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    const char garbage[] = "\x0a\xff\xff\xff\xff\x0fnot protobuf at all";
    zmq_send(f->dealer, garbage, sizeof garbage, 0);
    zmq_send(f->dealer, "", 0, 0);                    /* empty Envelope */
    zmq_send(f->dealer, "x", 1, ZMQ_SNDMORE);         /* an extra frame */
    zmq_send(f->dealer, "y", 1, 0);
    send_batch(f, "s1", "s1", 1, 1, 0, -1);          /* handled after them, in order */
    ack_of(f, 1, &a);
    assert_int_equal(a.seq, 1);
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_true(rs.bad_messages >= 3);
    assert_int_equal(rows(f), NREC);
    fx_close(f);
}

static void commit_hook_sees_each_batch_once(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct seen seen = { .st = f->st };
    struct ack a = { 0 };
    receive_set_commit_hook(f->r, on_commit, &seen);
    send_batch(f, "s1", "s1", 4, 1, 0, -1);
    send_batch(f, "s1", "s1", 4, 2, 1, -1);
    ack_of(f, 2, &a);
    assert_int_equal(seen.batches, 2);
    assert_int_equal(seen.records, 2 * NREC);
    assert_int_equal(seen.seqs[0], 1);
    assert_int_equal(seen.seqs[1], 2);
    assert_string_equal(seen.first_id, "s1-1-0");
    assert_string_equal(seen.sensor, "s1");
    assert_int_equal(seen.alerts_ok, seen.calls);    /* the store handle is usable in it */
    /* re-delivered (the ack was lost): stored once, seen once */
    send_batch(f, "s1", "s1", 4, 2, 1, -1);
    send_batch(f, "s1", "s1", 4, 1, 0, -1);
    ack_of(f, 2, &a);
    pump(f, 100, &a);
    assert_int_equal(seen.batches, 2);
    /* refused batches are never seen */
    send_batch(f, "s1", "s9", 4, 3, 2, -1);
    memset(&a, 0, sizeof a);
    for (int i = 0; i < 5 && !a.refused; i++)        /* a late duplicate's ack may come first */
        ack_of(f, 2, &a);
    assert_true(a.refused);
    assert_int_equal(seen.batches, 2);
    printf("commit hook: calls=%d batches=%zu records=%zu after 2 re-deliveries and a "
           "refusal\n", seen.calls, seen.batches, seen.records);
    receive_set_commit_hook(f->r, NULL, NULL);
    fx_close(f);
}

/* H1: sensor A's key is allowed as dept-1; it runs with --name dept-3. Its batches are
 * refused (Batch.sensor, then observer_name), told why, counted; its own name works. */
static void test_h1_identity_is_the_allow_list_name(void **state)
{
    (void)state;
    struct fx *f = fx_open_curve("dept-1");
    struct ack a = { 0 };
    send_batch(f, "dept-3", "dept-3", 11, 1, 0, -1);
    assert_true(ack_of(f, 0, &a) >= 1);                /* CURVE handshake, ZAP, then the ack */
    assert_true(a.refused);
    assert_int_equal(a.seq, 0);
    assert_int_equal(a.reason_seq, 1);
    assert_non_null(strstr(a.reason, "Batch.sensor is 'dept-3'"));
    assert_non_null(strstr(a.reason, "'dept-1'"));
    printf("H1 reason: %s\n", a.reason);
    /* right Batch.sensor, spoofed records: refused just the same */
    pump(f, 1100, NULL);                              /* refusals are answered once a second */
    send_batch(f, "dept-1", "dept-3", 11, 1, 0, -1);
    memset(&a, 0, sizeof a);
    ack_of(f, 0, &a);
    assert_true(a.refused);
    assert_non_null(strstr(a.reason, "observer_name of records[0] is 'dept-3'"));
    assert_int_equal(rows(f), 0);
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(rs.identity_refused, 2);
    /* the same key under its own name is stored, filed under it */
    send_batch(f, "dept-1", "dept-1", 11, 1, 0, -1);
    ack_of(f, 1, &a);
    assert_false(a.refused);
    assert_int_equal(a.seq, 1);
    assert_int_equal(rows(f), NREC);
    assert_int_equal(committed(f, "dept-1#11"), 1);
    assert_int_equal(committed(f, "dept-3#11"), 0);
    printf("H1: identity_refused=%llu stored=%llu\n", (unsigned long long)rs.identity_refused,
           (unsigned long long)rows(f));
    fx_close(f);
}

/* M1 without a dead-letter file: the store refuses the batch for good; the batch is
 * committed empty, counted, the sensor told why, and the next batches go in. */
static void test_m1_bad_time_never_stalls_the_stream(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    struct ack a = { 0 };
    send_batch(f, "s1", "s1", 2, 1, 0, 2);            /* records[2] starts in 2103 */
    send_batch(f, "s1", "s1", 2, 2, 1, -1);
    ack_of(f, 2, &a);
    assert_int_equal(a.seq, 2);
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_int_equal(rs.dropped_batches, 1);
    assert_int_equal(rs.dropped_records, NREC);
    assert_int_equal(rs.bad_time_records, 1);
    assert_int_equal(rows(f), NREC);                  /* batch 2's */
    assert_int_equal(committed(f, "s1#2"), 2);
    /* what the sensor was told, about seq 1 (the ack that carried it may not be the last) */
    send_batch(f, "s1", "s1", 2, 3, 2, 0);
    memset(&a, 0, sizeof a);
    ack_of(f, 3, &a);
    assert_int_equal(a.seq, 3);
    assert_int_equal(a.reason_seq, 3);
    assert_false(a.refused);
    assert_non_null(strstr(a.reason, "batch dropped (5 records)"));
    assert_non_null(strstr(a.reason, "start_us"));
    printf("M1 (no dead letter): %s\n", a.reason);
    fx_close(f);
}

/* M1 with the dead-letter file (the aggregator's default beside the database): the bad record
 * goes there, the rest is stored, and the sensor is told. */
static void test_m1_bad_time_is_dead_lettered(void **state)
{
    (void)state;
    struct fx *f = fx_open(true, false);
    struct ack a = { 0 };
    send_batch(f, "s1", "s1", 2, 1, 0, 4);
    ack_of(f, 1, &a);
    assert_int_equal(a.seq, 1);
    assert_int_equal(a.reason_seq, 1);
    assert_non_null(strstr(a.reason, "1 record(s) with a time outside 1970..2100"));
    assert_int_equal(rows(f), NREC - 1);
    FILE *dl = fopen(f->dead, "r");
    assert_non_null(dl);
    char line[4096] = "";
    assert_non_null(fgets(line, sizeof line, dl));
    fclose(dl);
    assert_non_null(strstr(line, "start_us"));
    printf("M1 (dead letter): %s\n", a.reason);
    fx_close(f);
}

/* M7: the database directory is deleted under a running receive: nothing more is acked. */
static void test_m7_deleted_database_stops_acks(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, true);
    struct ack a = { 0 };
    send_batch(f, "s1", "s1", 8, 1, 0, -1);
    ack_of(f, 1, &a);
    assert_int_equal(a.seq, 1);
    char wal[400], shm[400];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    assert_int_equal(unlink(f->db), 0);
    unlink(wal);
    unlink(shm);
    assert_int_equal(rmdir(f->dir), 0);
    send_batch(f, "s1", "s1", 8, 2, 1, -1);
    memset(&a, 0, sizeof a);
    pump(f, 500, &a);
    assert_true(a.seq < 2);                           /* never acked into the unlinked file */
    struct receive_stats rs;
    receive_stats(f->r, &rs);
    assert_true(rs.store_lost);
    assert_int_equal(rs.batches, 1);
    printf("M7: store_lost=%d batches=%llu last ack=%llu\n", rs.store_lost,
           (unsigned long long)rs.batches, (unsigned long long)a.seq);
    fx_close(f);
}

/* the same instance driven by the event loop (as main.c does) instead of receive_poll */
static void runs_on_the_event_loop(void **state)
{
    (void)state;
    struct fx *f = fx_open(false, false);
    char err[ASH_ERR_LEN];
    struct event_loop *l = event_loop_new(err);
    assert_non_null(l);
    assert_int_equal(receive_attach(f->r, l, err), 0);
    size_t socks, timers;
    event_loop_counts(l, &socks, &timers);
    assert_int_equal(socks, 2);
    assert_int_equal(timers, 1);
    send_batch(f, "s1", "s1", 6, 1, 0, -1);
    uint8_t buf[256];
    int n = -1;
    for (int i = 0; i < 100 && n < 0; i++) {
        assert_int_equal(event_loop_run_once(l, 10), 0);
        n = zmq_recv(f->dealer, buf, sizeof buf, ZMQ_DONTWAIT);
    }
    assert_true(n > 0);
    Ashiato__Envelope *env = wire_unpack(buf, (size_t)n, err);
    assert_non_null(env);
    assert_int_equal(env->ack->seq, 1);
    wire_free(env);
    event_loop_free(l);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_in_order_are_committed_then_acked),
        cmocka_unit_test(duplicates_are_acked_not_stored_twice),
        cmocka_unit_test(a_gap_is_not_committed),
        cmocka_unit_test(acks_only_after_the_store_committed),
        cmocka_unit_test(bad_messages_are_counted_and_the_stream_goes_on),
        cmocka_unit_test(commit_hook_sees_each_batch_once),
        cmocka_unit_test(test_h1_identity_is_the_allow_list_name),
        cmocka_unit_test(test_m1_bad_time_never_stalls_the_stream),
        cmocka_unit_test(test_m1_bad_time_is_dead_lettered),
        cmocka_unit_test(test_m7_deleted_database_stops_acks),
        cmocka_unit_test(runs_on_the_event_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
