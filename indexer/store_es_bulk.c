/* store_es_bulk.c -- _bulk requests that end with every item answered: NDJSON built once in an
 * arena, cut into requests of bulk_bytes, sent while the rest is still being rendered
 * (es_bulk_push), `window` of them at a time, retried until each item has a final status or
 * the retry budget is spent.
 * Owns:  the blocks of action and source lines (struct es_bulk; spare ones kept in struct es
 *        for the next bulk), the first round's requests, the retry loop, its backoff, the AIMD
 *        window (requests in flight) and request size.
 * Lends: nothing; items keep their status and reason for the caller to read.
 * Never: decides what an item's final status means (store_es.c: 409 is a duplicate for a
 *        session, a 400 goes to the dead-letter file); logs.
 * Trap:  a request that got no answer (or HTTP 429/5xx) may still have been applied in part:
 *        only idempotent operations go through here (create with a fixed _id, index with a
 *        fixed _id or an external version), so sending an item twice stores it once.
 *
 * Speed (bench/RESULTS.md "es_bulk 2026-11-26T03:36Z"): 0.81..0.94 of the curl floor (median
 * of per-round ratios) at 2 in flight, 0.99 of the floor run with the same rendering beside
 * it: the loader's own CPU is ~0.6 us per document on top of the ~9.4 us of
 * record_json_render, and on that 2-CPU host the client's CPU is the node's. Hence each block
 * goes out as soon as it is full, an idle slot gets a part of one early (the node works while
 * the next documents render), and blocks never move (no realloc'd arena copied into each
 * request, no fresh pages per bulk). The bulk sizes behind ES_BULK_BYTES_DEFAULT are in
 * store_es.h. */
#include "store_es.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BULK_PATH "/_bulk?filter_path=errors,items.*.status,items.*.error.type," \
                  "items.*.error.reason"

struct es_flight {               /* a first-round request: one block, or a piece of one */
    struct es_call call;
    size_t first, count;         /* items [first, first + count) */
    bool read;
};

void es_bulk_init(struct es_bulk *b, struct store *st)
{
    memset(b, 0, sizeof *b);
    b->es = ES(st);
}

static void flights_free(struct es_bulk *b)
{
    for (size_t i = 0; i < b->nfl; i++) {
        es_call_clear(&b->fl[i]->call);
        free(b->fl[i]);
    }
    free(b->fl);
    b->fl = NULL;
    b->nfl = b->cap_fl = 0;
}

void es_bulk_abort(struct store *st, struct es_bulk *b)
{
    if (b->nfl)
        es_http_abandon(ES(st)->http);
    flights_free(b);
}

void es_bulk_free(struct es_bulk *b)
{
    struct es *es = b->es;
    flights_free(b);
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].reason);
    for (size_t i = 0; i < b->nblocks; i++) {
        struct es_block *k = &b->blocks[i];
        if (es && es->nspare < ES_SPARE_BLOCKS && k->cap == (size_t)es->bulk_bytes)
            es->spare[es->nspare++] = (struct es_block){ k->buf, 0, k->cap };
        else
            free(k->buf);
    }
    free(b->blocks);
    free(b->items);
    memset(b, 0, sizeof *b);
    b->es = es;
}

/* The block to append `bound` bytes to: the last one, or a new one (a spare if one fits). */
static struct es_block *block_for(struct es_bulk *b, size_t bound)
{
    struct es *es = b->es;
    if (b->nblocks && b->blocks[b->nblocks - 1].cap - b->blocks[b->nblocks - 1].len >= bound)
        return &b->blocks[b->nblocks - 1];
    if (b->nblocks == b->cap_blocks) {
        size_t cap = b->cap_blocks ? b->cap_blocks * 2 : 8;
        struct es_block *n = realloc(b->blocks, cap * sizeof *n);
        if (!n)
            return NULL;
        b->blocks = n;
        b->cap_blocks = cap;
    }
    struct es_block k = { NULL, 0, (size_t)es->bulk_bytes };
    if (bound <= k.cap && es->nspare)
        k = es->spare[--es->nspare];
    else if (bound > k.cap)
        k.cap = bound;                          /* one document larger than a bulk */
    if (!k.buf && !(k.buf = malloc(k.cap)))
        return NULL;
    b->blocks[b->nblocks++] = k;
    return &b->blocks[b->nblocks - 1];
}

static void put(struct es_block *k, const char *s, size_t len)
{
    memcpy(k->buf + k->len, s, len);
    k->len += len;
}

int es_bulk_add(struct es_bulk *b, const char *op, const char *index, const char *id,
                int64_t version, const char *doc, size_t doc_len)
{
    char tail[96];
    if (b->n == b->cap_items) {
        size_t cap = b->cap_items ? b->cap_items * 2 : 256;
        struct es_item *n = cap < SIZE_MAX / sizeof *n ? realloc(b->items, cap * sizeof *n)
                                                       : NULL;
        if (!n)
            return -1;
        b->items = n;
        b->cap_items = cap;
    }
    int tl = version >= 0 ? snprintf(tail, sizeof tail, "\",\"version\":%lld,\"version_type\":"
                                     "\"external_gte\"}}\n", (long long)version)
                          : snprintf(tail, sizeof tail, "\"}}\n");
    size_t oplen = strlen(op), ilen = strlen(index), idlen = strlen(id);
    if (idlen > 4096 || doc_len > SIZE_MAX / 2)
        return -1;
    size_t bound = 24 + oplen + ilen + 6 * idlen + (size_t)tl + (doc ? doc_len + 1 : 0);
    struct es_block *k = block_for(b, bound);
    if (!k)
        return -1;
    size_t off = k->len;
    /* index names are [a-z0-9._-] (store_es.c checks the prefix): no escaping needed */
    put(k, "{\"", 2);
    put(k, op, oplen);
    put(k, "\":{\"_index\":\"", 13);
    put(k, index, ilen);
    put(k, "\",\"_id\":\"", 9);
    k->len += es_escape(id, k->buf + k->len, 6 * idlen + 1);
    put(k, tail, (size_t)tl);
    if (doc) {
        put(k, doc, doc_len);
        put(k, "\n", 1);
    }
    struct es_item *it = &b->items[b->n++];
    *it = (struct es_item){ (size_t)(k - b->blocks), off, k->len - off, 0, NULL };
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rnd(struct es *es)      /* xorshift64*, for jitter only */
{
    if (!es->rng) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        es->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)es;
        es->rng |= 1;
    }
    es->rng ^= es->rng >> 12;
    es->rng ^= es->rng << 25;
    es->rng ^= es->rng >> 27;
    return es->rng * 2685821657736338717ULL;
}

/* Exponential backoff with "equal jitter": half the step fixed, half random. */
static long backoff_ms(struct es *es, int attempt)
{
    long step = ES_BACKOFF_FIRST_MS;
    for (int i = 1; i < attempt && step < ES_BACKOFF_MAX_MS; i++)
        step *= 2;
    if (step > ES_BACKOFF_MAX_MS)
        step = ES_BACKOFF_MAX_MS;
    return step / 2 + (long)(rnd(es) % (uint64_t)(step / 2 + 1));
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void item_reason(struct es_item *it, json_object *body)
{
    json_object *e, *t, *r;
    const char *type = "", *reason = "";
    if (json_object_object_get_ex(body, "error", &e)) {
        if (json_object_object_get_ex(e, "type", &t))
            type = json_object_get_string(t);
        if (json_object_object_get_ex(e, "reason", &r))
            reason = json_object_get_string(r);
    }
    char text[400];
    snprintf(text, sizeof text, "HTTP %d: %s%s%s", it->status, type, *type && *reason ? ": " : "",
             reason);
    free(it->reason);
    it->reason = strdup(text);                  /* NULL when out of memory: "" is shown */
}

/* Read one answered bulk request over its n items (item k is idx[k], or first + k when idx is
 * NULL). Items that may succeed on a retry keep status 0; *rejected is set when one was
 * answered 429. Returns 0, or -1 when the answer is not a bulk answer (then all stay 0). */
static int read_answer(struct es_bulk *b, const size_t *idx, size_t first, size_t n,
                       const struct es_call *c, bool *rejected)
{
    /* the common answer, every item stored: filter_path leaves "errors" first, and parsing the
     * n items only to learn that would cost more than the rest of the answer's handling */
    static const char all_ok[] = "{\"errors\":false,";
    if (c->resp_len > sizeof all_ok && memcmp(c->resp, all_ok, sizeof all_ok - 1) == 0) {
        for (size_t k = 0; k < n; k++)
            b->items[idx ? idx[k] : first + k].status = 201;
        return 0;
    }
    json_object *o = es_call_json(c), *errors, *items;
    if (!o || !json_object_object_get_ex(o, "errors", &errors)) {
        snprintf(b->why, sizeof b->why, "answer from %s is not a bulk answer: %.100s",
                 c->where, c->resp ? c->resp : "");
        json_object_put(o);
        return -1;
    }
    if (!json_object_get_boolean(errors)) {
        for (size_t k = 0; k < n; k++)
            b->items[idx ? idx[k] : first + k].status = 201;
        json_object_put(o);
        return 0;
    }
    if (!json_object_object_get_ex(o, "items", &items) ||
        json_object_array_length(items) != n) {
        snprintf(b->why, sizeof b->why, "bulk answer from %s has %zu items for %zu actions",
                 c->where, items ? json_object_array_length(items) : 0, n);
        json_object_put(o);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        struct es_item *it = &b->items[idx ? idx[k] : first + k];
        json_object *one = json_object_array_get_idx(items, k), *body = NULL, *st;
        json_object_object_foreach(one, op, v) {
            (void)op;
            body = v;
            break;
        }
        int status = body && json_object_object_get_ex(body, "status", &st)
                         ? json_object_get_int(st) : 0;
        it->status = status;
        if ((status >= 200 && status < 300) || status == 409)   /* 409: already there */
            continue;
        item_reason(it, body);
        if (es_http_transient(status)) {
            snprintf(b->why, sizeof b->why, "an item answered %s", es_item_reason(it));
            *rejected |= status == 429;
            it->status = 0;
        }
    }
    json_object_put(o);
    return 0;
}

/* What an answered request says about the cluster and its items; a refusal for good goes to
 * b->rc (the first one wins). */
static void take_answer(struct store *st, struct es_bulk *b, const size_t *idx, size_t first,
                        size_t n, const struct es_call *c)
{
    struct es *es = ES(st);
    bool rejected = false;
    if (c->status == 200) {
        read_answer(b, idx, first, n, c, &rejected);
    } else if (es_http_transient(c->status)) {
        es_call_describe(c, b->why, sizeof b->why);
        rejected = c->status == 429;
        b->unanswered |= c->status == 0;
        /* a whole request refused (the coordinating node's memory: indexing pressure, or a
         * circuit breaker): smaller requests too, down to ES_BULK_MIN_CUT */
        if (c->status == 429 && es->cut_bytes > ES_BULK_MIN_CUT)
            es->cut_bytes = es->cut_bytes / 2 > ES_BULK_MIN_CUT ? es->cut_bytes / 2
                                                                 : ES_BULK_MIN_CUT;
    } else if (b->rc == STORE_OK) {
        char what[64];
        snprintf(what, sizeof what, "bulk request of %zu bytes", c->body_len);
        b->rc = es_fail_call(st, c, what);
    }
    /* the cluster said "too much": fewer requests at once (one more per clean round) */
    if (rejected) {
        es->window = es->window > 1 ? es->window / 2 : 1;
        b->rejected = true;
    }
}

/* First round: read the requests that have ended. */
static void collect(struct store *st, struct es_bulk *b)
{
    for (size_t i = 0; i < b->nfl; i++) {
        struct es_flight *f = b->fl[i];
        if (!f->call.done || f->read)
            continue;
        take_answer(st, b, NULL, f->first, f->count, &f->call);
        f->read = true;
        es_call_clear(&f->call);
    }
}

/* First round: send items [b->sent, end) (all in one block) as one request. */
static int send_flight(struct store *st, struct es_bulk *b, size_t end)
{
    struct es *es = ES(st);
    if (b->nfl == b->cap_fl) {
        size_t cap = b->cap_fl ? b->cap_fl * 2 : 16;
        struct es_flight **n = realloc(b->fl, cap * sizeof *n);
        if (!n)
            return -1;
        b->fl = n;
        b->cap_fl = cap;
    }
    struct es_flight *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const struct es_item *a = &b->items[b->sent], *z = &b->items[end - 1];
    f->first = b->sent;
    f->count = end - b->sent;
    f->call.method = "POST";
    snprintf(f->call.path, sizeof f->call.path, "%s", BULK_PATH);
    f->call.ndjson = true;
    f->call.body = es_item_text(b, a);
    f->call.body_len = z->off + z->len - a->off;
    if (es_http_start(es->http, &f->call) < 0) {
        free(f);
        return -1;
    }
    b->fl[b->nfl++] = f;
    b->sent = end;
    return 0;
}

/* The end of the next request from b->sent: items of b->sent's block up to `target` bytes,
 * at least one; *rest receives the bytes of that block left unsent after them. */
static size_t next_cut(const struct es_bulk *b, size_t target, size_t *rest)
{
    size_t end = b->sent, bytes = 0, blk = b->items[b->sent].block;
    while (end < b->n && b->items[end].block == blk &&
           (end == b->sent || bytes + b->items[end].len <= target)) {
        bytes += b->items[end].len;
        end++;
    }
    *rest = end < b->n && b->items[end].block == blk
                ? b->blocks[blk].len - b->items[end].off : 0;
    return end;
}

void es_bulk_push(struct store *st, struct es_bulk *b)
{
    struct es *es = ES(st);
    size_t rest;
    if (b->rc != STORE_OK || b->oom)
        return;
    if ((b->n & 31) == 0 && es_http_busy(es->http)) {   /* keep the transfers moving */
        es_http_step(es->http, 0);
        collect(st, b);
    }
    /* a block that is no longer the last one is full: it is the next request; and while a
     * slot idles (at the start of a call) a part of the last block goes already, once it
     * holds ES_BULK_EARLY bytes: the node starts instead of waiting for a whole block */
    size_t early = (size_t)es->bulk_bytes / 8 > ES_BULK_EARLY ? ES_BULK_EARLY
                                                               : (size_t)es->bulk_bytes / 8;
    while (b->rc == STORE_OK && !b->oom && b->sent < b->n &&
           es_http_busy(es->http) < (size_t)es->window) {
        const struct es_item *a = &b->items[b->sent];
        if (a->block + 1 == b->nblocks && b->blocks[a->block].len - a->off < early)
            break;
        if (send_flight(st, b, next_cut(b, (size_t)es->cut_bytes, &rest)) < 0)
            b->oom = true;
    }
}

/* First round, after the last es_bulk_add: send what is left, the last blocks cut so that the
 * slots free now fill (no lone request at the end while the others idle), and wait for every
 * answer. */
static void finish_first_round(struct store *st, struct es_bulk *b)
{
    struct es *es = ES(st);
    while (b->sent < b->n && b->rc == STORE_OK && !b->oom) {
        size_t busy = es_http_busy(es->http), window = (size_t)es->window, rest;
        if (busy >= window) {
            es_http_step(es->http, 1000);
            collect(st, b);
            continue;
        }
        size_t blocks = b->nblocks - b->items[b->sent].block, free_slots = window - busy;
        size_t target = (size_t)es->cut_bytes;
        if (blocks < free_slots) {   /* split this block into pieces for the idle slots */
            const struct es_item *a = &b->items[b->sent];
            size_t left = b->blocks[a->block].len - a->off;
            size_t k = free_slots - (blocks - 1), pieces = left / ES_BULK_MIN_SPLIT;
            k = pieces < k ? (pieces ? pieces : 1) : k;
            if ((left + k - 1) / k < target)
                target = (left + k - 1) / k;
        }
        if (send_flight(st, b, next_cut(b, target, &rest)) < 0)
            b->oom = true;
    }
    while (es_http_busy(es->http)) {
        es_http_step(es->http, 1000);
        collect(st, b);
    }
    collect(st, b);
    flights_free(b);
}

static size_t count_pending(const struct es_bulk *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->items[i].status == 0;
    return n;
}

/* Retry rounds: cut the pending items idx[0..np) into requests of at most bulk_bytes (at
 * least one item each): calls[] (*ncalls), first[r] = the index in idx of request r's first
 * item (first[*ncalls] = np), owned[r] = a body copied together from scattered items, or NULL
 * when they lie side by side in one block and the body points there. -1 when out of memory
 * (what was made is left for free_calls). */
static int cut(const struct es *es, const struct es_bulk *b, const size_t *idx, size_t np,
               struct es_call **calls, char ***owned, size_t **first, size_t *ncalls)
{
    size_t cap = 0, bytes = 0, most = (size_t)es->cut_bytes;
    for (size_t k = 0; k < np; k++) {
        size_t len = b->items[idx[k]].len;
        if (k == 0 || bytes + len > most) {
            cap++;
            bytes = 0;
        }
        bytes += len;
    }
    *calls = calloc(cap, sizeof **calls);
    *owned = calloc(cap, sizeof **owned);
    *first = calloc(cap + 1, sizeof **first);
    *ncalls = 0;
    if (!*calls || !*owned || !*first)
        return -1;
    for (size_t k = 0; k < np;) {
        size_t j = k, len = 0;
        bool contiguous = true;
        while (j < np && (j == k || len + b->items[idx[j]].len <= most)) {
            const struct es_item *p = &b->items[idx[j - (j > k)]], *q = &b->items[idx[j]];
            if (j > k && (q->block != p->block || q->off != p->off + p->len))
                contiguous = false;
            len += q->len;
            j++;
        }
        struct es_call *c = &(*calls)[*ncalls];
        c->method = "POST";
        snprintf(c->path, sizeof c->path, "%s", BULK_PATH);
        c->ndjson = true;
        c->body_len = len;
        if (contiguous) {
            c->body = es_item_text(b, &b->items[idx[k]]);
        } else {                     /* scattered items: copy them together */
            char *body = malloc(len);
            if (!body)
                return -1;
            for (size_t m = k, o = 0; m < j; o += b->items[idx[m]].len, m++)
                memcpy(body + o, es_item_text(b, &b->items[idx[m]]), b->items[idx[m]].len);
            (*owned)[*ncalls] = body;
            c->body = body;
        }
        (*first)[(*ncalls)++] = k;
        k = j;
    }
    (*first)[*ncalls] = np;
    return 0;
}

static void free_calls(struct es_call *calls, char **owned, size_t *first, size_t ncalls)
{
    for (size_t r = 0; calls && r < ncalls; r++) {
        es_call_clear(&calls[r]);
        if (owned)
            free(owned[r]);
    }
    free(calls);
    free(owned);
    free(first);
}

int es_bulk_run(struct store *st, struct es_bulk *b)
{
    struct es *es = ES(st);
    int64_t t0 = now_ms(), last_progress = t0;
    int attempt = 1, rounds = 1;
    size_t *idx = NULL, before = b->n;

    b->why[0] = '\0';
    finish_first_round(st, b);
    int rc = b->rc;
    if (rc == STORE_OK && b->oom)
        rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory sending a bulk");
    if (rc != STORE_OK)
        goto out;
    if (!(idx = malloc((b->n ? b->n : 1) * sizeof *idx)))
        return store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory");
    for (;;) {
        if (!b->rejected && !b->unanswered) {     /* a clean round: grow back */
            if (es->window < es->inflight)
                es->window++;
            if (es->cut_bytes < es->bulk_bytes)
                es->cut_bytes = es->cut_bytes * 2 < es->bulk_bytes ? es->cut_bytes * 2
                                                                   : es->bulk_bytes;
        }
        size_t left = count_pending(b);
        if (left == 0)
            break;
        if (left < before) {         /* progress: back off the least */
            last_progress = now_ms();
            attempt = 1;
        } else {
            attempt++;
        }
        /* give up when nothing was stored for the whole budget, or at once when the cluster
         * was unreachable at the last call too: a dead cluster then costs each call one
         * connection attempt, not the budget */
        long wait = backoff_ms(es, attempt);
        if ((es->degraded && b->unanswered) ||
            now_ms() - last_progress + wait > ES_RETRY_BUDGET_MS) {
            es->degraded = b->unanswered;
            rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: %zu of %zu bulk items not "
                            "stored after %d rounds in %lld ms: %s", left, b->n, rounds,
                            (long long)(now_ms() - t0), b->why);
            goto out;
        }
        sleep_ms(wait);
        before = left;
        rounds++;
        size_t np = 0, ncalls = 0, *first = NULL;
        struct es_call *calls = NULL;
        char **owned = NULL, err[ASH_ERR_LEN];
        for (size_t i = 0; i < b->n; i++)
            if (b->items[i].status == 0)
                idx[np++] = i;
        if (cut(es, b, idx, np, &calls, &owned, &first, &ncalls) < 0 ||
            es_http_run(es->http, calls, ncalls, (size_t)es->window, err) < 0) {
            free_calls(calls, owned, first, ncalls);
            rc = store_fail(st, STORE_ERR_RETRY, "elasticsearch: out of memory sending a bulk");
            goto out;
        }
        b->rejected = b->unanswered = false;
        for (size_t r = 0; r < ncalls; r++)
            take_answer(st, b, idx + first[r], 0, first[r + 1] - first[r], &calls[r]);
        free_calls(calls, owned, first, ncalls);
        if ((rc = b->rc) != STORE_OK)
            goto out;
    }
    es->degraded = false;
out:
    free(idx);
    return rc;
}
