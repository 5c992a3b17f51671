/* receive_arena.c -- the bump allocator of receive.c's groups (see receive_arena.h).
 * Never: is used from two threads (one per receive instance). */
#include "receive_arena.h"

#include <stdlib.h>
#include <string.h>

/* n bytes (a multiple of 16) from the chunks, NULL past RECEIVE_ARENA_LIMIT. */
void *receive_arena_bump(struct receive_arena *a, size_t n)
{
    struct receive_arena_chunk *c = a->cur;
    while (c && c->used + n > c->size)
        c = c->next;                 /* later chunks are empty after a reset */
    if (!c) {
        size_t size = n > RECEIVE_ARENA_CHUNK ? n : RECEIVE_ARENA_CHUNK;
        if (a->bytes + size > RECEIVE_ARENA_LIMIT || !(c = malloc(sizeof *c + size))) {
            a->exhausted = true;
            return NULL;
        }
        c->size = size;
        c->used = 0;
        c->next = NULL;
        if (a->cur) {                /* append after the last chunk */
            struct receive_arena_chunk *last = a->cur;
            while (last->next)
                last = last->next;
            last->next = c;
        } else {
            a->first = c;
        }
        a->bytes += size;
    }
    a->cur = c;
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* protobuf-c's allocator: bump, and remember big blocks so that a freed one is reused. */
void *receive_arena_alloc(void *data, size_t n)
{
    struct receive_arena *a = data;
    n = (n + 15) & ~(size_t)15;
    if (n < RECEIVE_ARENA_BIG)
        return receive_arena_bump(a, n);
    for (size_t i = a->nbig; i-- > 0;)       /* a recycled scratch block of about this size? */
        if (a->big[i].free && a->big[i].size >= n && a->big[i].size <= 2 * n) {
            a->big[i].free = false;
            return a->big[i].p;
        }
    void *p = receive_arena_bump(a, n);
    if (p && a->nbig == RECEIVE_ARENA_BIGS) {        /* full: keep only the free blocks */
        size_t k = 0;
        for (size_t i = 0; i < a->nbig; i++)
            if (a->big[i].free)
                a->big[k++] = a->big[i];
        a->nbig = k;
    }
    if (p && a->nbig < RECEIVE_ARENA_BIGS) {
        a->big[a->nbig].p = p;
        a->big[a->nbig].size = n;
        a->big[a->nbig].free = false;
        a->nbig++;
    }
    return p;
}

void receive_arena_free(void *data, void *p)
{
    struct receive_arena *a = data;
    for (size_t i = a->nbig; p && i-- > 0;)
        if (a->big[i].p == p) {
            a->big[i].free = true;
            return;
        }
}

/* Forget every allocation; keep up to RECEIVE_ARENA_KEEP bytes of chunks for the next group. */
void receive_arena_reset(struct receive_arena *a)
{
    size_t kept = 0;
    struct receive_arena_chunk **link = &a->first;
    while (*link) {
        struct receive_arena_chunk *c = *link;
        if (kept + c->size <= RECEIVE_ARENA_KEEP) {
            kept += c->size;
            c->used = 0;
            link = &c->next;
        } else {
            *link = c->next;
            free(c);
        }
    }
    a->bytes = kept;
    a->cur = a->first;
    a->nbig = 0;
    a->exhausted = false;
}

void receive_arena_release(struct receive_arena *a)
{
    while (a->first) {
        struct receive_arena_chunk *c = a->first;
        a->first = c->next;
        free(c);
    }
    memset(a, 0, sizeof *a);
}
