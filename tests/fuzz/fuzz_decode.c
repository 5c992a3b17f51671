/* fuzz_decode.c -- libFuzzer target for decode_packet().
 * Input: the first byte picks the link type among those decode_dlt_supported() accepts
 * (index modulo the table below, the order tests/fuzz/make_decode_seeds.py writes), the
 * rest is the frame. Each frame is decoded twice: as captured whole, and as if the snaplen
 * had cut it (wire length larger than the capture). Invariants that must hold for any input
 * are checked and abort on failure. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "decode.h"

static const int dlts[] = {
    DECODE_DLT_EN10MB, DECODE_DLT_NULL, DECODE_DLT_LOOP, DECODE_DLT_RAW, DECODE_DLT_IPV4,
    DECODE_DLT_IPV6, DECODE_DLT_LINUX_SLL, DECODE_DLT_LINUX_SLL2, DECODE_DLT_FRELAY,
    DECODE_DLT_PPP, 14, 101,
};

static void check(const uint8_t *frame, size_t len, const struct decoded *d, int rc)
{
    if ((rc == 0) != (d->ip_version != 0))
        abort();
    if (rc != 0 && rc != (int)d->event)
        abort();
    if ((unsigned)d->event >= DECODE_EVENT_COUNT)
        abort();
    if (d->ip_version != 0 && d->ip_version != 4 && d->ip_version != 6)
        abort();
    if (d->vlan_count > DECODE_MAX_VLANS || d->layers > DECODE_MAX_LAYERS)
        abort();
    if (d->payload_len > d->payload_wire_len)
        abort();
    if (d->payload != NULL &&
        (d->payload < frame || d->payload > frame + len || d->payload_len > (size_t)(frame + len - d->payload)))
        abort();
    if (d->payload == NULL && d->payload_len != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
    const uint8_t *frame = data + 1;
    uint32_t len = (uint32_t)(size - 1);
    struct decoded d;

    int rc = decode_packet(dlt, frame, len, len, &d);
    check(frame, len, &d, rc);
    rc = decode_packet(dlt, frame, len, len + 1500, &d);
    check(frame, len, &d, rc);
    return 0;
}
