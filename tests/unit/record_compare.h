/* record_compare.h -- two unpacked protobuf-c messages equal, field by field, walked through
 * their descriptors: for test_record_decode.c and tests/fuzz/fuzz_record_decode.c, which hold
 * record_decode.c's structs against protobuf-c's own.
 * Equal means: same descriptor; every scalar equal; a string equal as a C string and the
 * shared default ("") exactly where the other has it; bytes of equal length and content, NULL
 * exactly where the other is NULL; sub-messages both absent or equal; repeated fields of equal
 * count, element by element; a oneof's case equal and its member equal; unknown fields equal
 * in number, order, tag, wire type and bytes. */
#ifndef ASHIATO_TEST_RECORD_COMPARE_H
#define ASHIATO_TEST_RECORD_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>

#define RC_WHY_LEN 512

static bool rc_message(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path,
                       char why[RC_WHY_LEN]);

static bool rc_differ(char why[RC_WHY_LEN], const char *path, const char *field, const char *what)
{
    snprintf(why, RC_WHY_LEN, "%s.%s: %s", path, field, what);
    return false;
}

static size_t rc_elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4;
    }
}

/* one value of field fd at x and y (a repeated field's element: no default applies) */
static bool rc_value(const ProtobufCFieldDescriptor *fd, const void *x, const void *y,
                     bool element, const char *path, char why[RC_WHY_LEN])
{
    char sub[RC_WHY_LEN];
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        if (!s || !t)
            return s == t ? true : rc_differ(why, path, fd->name, "NULL on one side");
        if (!element && (s == fd->default_value) != (t == fd->default_value))
            return rc_differ(why, path, fd->name, "the default string on one side only");
        if (strcmp(s, t) != 0) {
            snprintf(sub, sizeof sub, "\"%.100s\" != \"%.100s\"", s, t);
            return rc_differ(why, path, fd->name, sub);
        }
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = x, *t = y;
        if (s->len != t->len) {
            snprintf(sub, sizeof sub, "%zu bytes != %zu bytes", s->len, t->len);
            return rc_differ(why, path, fd->name, sub);
        }
        if ((s->data == NULL) != (t->data == NULL))
            return rc_differ(why, path, fd->name, "data NULL on one side only");
        if (s->len && memcmp(s->data, t->data, s->len) != 0)
            return rc_differ(why, path, fd->name, "bytes differ");
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *s = *(ProtobufCMessage *const *)x;
        const ProtobufCMessage *t = *(ProtobufCMessage *const *)y;
        if (!s || !t)
            return s == t ? true : rc_differ(why, path, fd->name, "absent on one side only");
        snprintf(sub, sizeof sub, "%s.%s", path, fd->name);
        return rc_message(s, t, sub, why);
    }
    default:
        if (memcmp(x, y, rc_elt_size(fd->type)) != 0)
            return rc_differ(why, path, fd->name, "values differ");
        return true;
    }
}

static bool rc_message(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path,
                       char why[RC_WHY_LEN])
{
    const ProtobufCMessageDescriptor *desc = a->descriptor;
    char sub[RC_WHY_LEN];
    if (a->descriptor != b->descriptor)
        return rc_differ(why, path, "descriptor", "differs");
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        const char *x = (const char *)a + fd->offset, *y = (const char *)b + fd->offset;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t ca = *(const uint32_t *)((const char *)a + fd->quantifier_offset);
            uint32_t cb = *(const uint32_t *)((const char *)b + fd->quantifier_offset);
            if (ca != cb)
                return rc_differ(why, path, fd->name, "oneof case differs");
            if (ca == fd->id && !rc_value(fd, x, y, false, path, why))
                return false;
        } else if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)((const char *)a + fd->quantifier_offset);
            size_t nb = *(const size_t *)((const char *)b + fd->quantifier_offset);
            const char *ea = *(char *const *)x, *eb = *(char *const *)y;
            size_t size = rc_elt_size(fd->type);
            if (na != nb) {
                snprintf(sub, sizeof sub, "%zu elements != %zu", na, nb);
                return rc_differ(why, path, fd->name, sub);
            }
            if ((na == 0) != (ea == NULL) || (nb == 0) != (eb == NULL))
                return rc_differ(why, path, fd->name, "array pointer and count disagree");
            for (size_t k = 0; k < na; k++) {
                snprintf(sub, sizeof sub, "%s.%s[%zu]", path, fd->name, k);
                if (!rc_value(fd, ea + k * size, eb + k * size, true, sub, why))
                    return false;
            }
        } else if (!rc_value(fd, x, y, false, path, why)) {
            return false;
        }
    }
    if (a->n_unknown_fields != b->n_unknown_fields) {
        snprintf(sub, sizeof sub, "%u != %u", a->n_unknown_fields, b->n_unknown_fields);
        return rc_differ(why, path, "unknown_fields", sub);
    }
    for (unsigned k = 0; k < a->n_unknown_fields; k++) {
        const ProtobufCMessageUnknownField *u = &a->unknown_fields[k], *v = &b->unknown_fields[k];
        if (u->tag != v->tag || u->wire_type != v->wire_type || u->len != v->len ||
            memcmp(u->data, v->data, u->len) != 0) {
            snprintf(sub, sizeof sub, "[%u] tag %u/%u wire type %d/%d len %zu/%zu", k, u->tag,
                     v->tag, (int)u->wire_type, (int)v->wire_type, u->len, v->len);
            return rc_differ(why, path, "unknown_fields", sub);
        }
    }
    return true;
}

/* equal, and packing both gives the same bytes */
static bool rc_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char why[RC_WHY_LEN])
{
    if (!rc_message(a, b, a->descriptor->short_name, why))
        return false;
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    if (na != nb) {
        snprintf(why, RC_WHY_LEN, "packed sizes differ: %zu != %zu", na, nb);
        return false;
    }
    uint8_t *pa = malloc(na ? na : 1), *pb = malloc(nb ? nb : 1);
    bool same = pa && pb && protobuf_c_message_pack(a, pa) == na &&
                protobuf_c_message_pack(b, pb) == nb && memcmp(pa, pb, na) == 0;
    if (!same)
        snprintf(why, RC_WHY_LEN, "packed bytes differ");
    free(pa);
    free(pb);
    return same;
}

/* ---- allocation for record_decode in tests: every part its own malloc (so ASan sees each
 * one's bounds), freed together by record_pool_reset; an optional byte limit (0 = none) ---- */
struct record_pool {
    void **p;
    size_t n, cap, bytes, limit;
};

static inline void *record_pool_alloc(void *ctx, size_t n)
{
    struct record_pool *pl = ctx;
    if (pl->limit && pl->bytes + n > pl->limit)
        return NULL;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? 2 * pl->cap : 256;
        void **np = realloc(pl->p, cap * sizeof *np);
        if (!np)
            return NULL;
        pl->p = np;
        pl->cap = cap;
    }
    void *p = malloc(n);
    if (p) {
        pl->p[pl->n++] = p;
        pl->bytes += n;
    }
    return p;
}

static inline void record_pool_reset(struct record_pool *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->p[i]);
    free(pl->p);
    memset(pl, 0, sizeof *pl);
}

#endif
