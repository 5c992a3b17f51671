/* test_frag_table.c -- IP fragments (issue 15): a fragmented datagram is one packet with the
 * bytes Arkime counts (its reassembled frame), in any arrival order; overlapping, oversized
 * and too many fragments are decoder events, not a crash; and through the packet path with a
 * real pcap store, the session's record lists every fragment's position while counting one
 * packet. Frames are built with decode_frames.h and decoded by the real decoder. */
#include "decode_frames.h"
#include "test_dir.h"

#include "frag_table.h"
#include "pcap_index.h"
#include "pcap_store.h"
#include "pipeline.h"

#define DGRAM 3000                       /* UDP header + 2992 bytes of data */

/* Ethernet + IPv4 fragment of a UDP datagram 10.0.0.1:5000 -> 10.0.0.2:53, id 0x4242:
 * [off, off + len) of the datagram's data (the first 8 bytes are the UDP header) */
static uint16_t frag_id = 0x4242;

static void frag4(struct fb *f, uint32_t off, uint32_t len, bool more)
{
    f->n = 0;
    eth(f, 0x0800);
    size_t at = f->n;
    put8(f, 0x45); put8(f, 0); put16(f, 0); put16(f, frag_id);
    put16(f, (uint16_t)((more ? 0x2000 : 0) | (off / 8)));
    put8(f, 64); put8(f, 17); put16(f, 0);
    put8(f, 10); put8(f, 0); put8(f, 0); put8(f, 1);
    put8(f, 10); put8(f, 0); put8(f, 0); put8(f, 2);
    uint32_t i = 0;
    if (off == 0) {
        put16(f, 5000); put16(f, 53); put16(f, DGRAM); put16(f, 0);
        i = 8;
    }
    for (; i < len; i++)
        put8(f, (uint8_t)(off + i));
    ip4_end(f, at);
}

static enum frag_result add(struct frag_table *t, uint32_t off, uint32_t len, bool more,
                            uint64_t at, struct decoded *d, enum decode_event *ev,
                            const struct frag_position **parts, size_t *n)
{
    struct fb f;
    frag4(&f, off, len, more);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, d), 0);
    assert_true(d->is_fragment);
    assert_int_equal(d->frag_len, len);
    assert_int_equal(d->frag_hdr_len, 34);
    struct frag_position pos = { 7, at, true };
    struct frag_dgram *g;
    enum frag_result r = frag_table_add(t, d, 1000000, &pos, ev, &g);
    assert_true((r == FRAG_DROPPED) == (g == NULL));
    *n = 0;
    *parts = NULL;
    if (r == FRAG_COMPLETE)
        *n = frag_table_take(t, g, parts);
    return r;
}

static struct frag_table *table(void)
{
    char err[ASH_ERR_LEN];
    struct frag_table *t = frag_table_new(64, err);
    assert_non_null(t);
    return t;
}

static void datagram_is_one_packet_in_any_order(void **state)
{
    (void)state;
    struct frag_table *t = table();
    struct decoded d;
    enum decode_event ev;
    const struct frag_position *parts;
    size_t n;
    /* the middle, the last, then the first: whole only when the first arrives */
    assert_int_equal(add(t, 1480, 1480, true, 200, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 2960, 40, false, 300, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 0, 1480, true, 100, &d, &ev, &parts, &n), FRAG_COMPLETE);
    assert_int_equal(ev, DECODE_OK);
    assert_true(d.has_ports);
    assert_int_equal(d.sport, 5000);
    assert_int_equal(d.dport, 53);
    assert_int_equal(d.cap_len, 14 + 20 + DGRAM);      /* Arkime's reassembled frame */
    assert_int_equal(d.payload_wire_len, DGRAM - 8);
    assert_int_equal(n, 3);
    assert_int_equal(parts[0].off, 200);                 /* in arrival order */
    assert_int_equal(parts[1].off, 300);
    assert_int_equal(parts[2].off, 100);
    assert_int_equal(frag_table_dropped(t), 0);
    frag_table_free(t);
}

/* a later fragment learns the flow's ports once the first is in; take hands each position
 * out once, in arrival order */
static void pending_fragments_know_their_flow(void **state)
{
    (void)state;
    struct frag_table *t = table();
    struct decoded d;
    enum decode_event ev;
    const struct frag_position *parts;
    size_t n;
    assert_int_equal(add(t, 2960, 40, false, 300, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_false(d.has_ports);                           /* the first is not there yet */
    struct fb f;
    frag4(&f, 0, 1480, true);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    struct frag_position pos = { 7, 400, true };
    struct frag_dgram *g;
    assert_int_equal(frag_table_add(t, &d, 1000000, &pos, &ev, &g), FRAG_PENDING);
    assert_int_equal(frag_table_take(t, g, &parts), 2);  /* both so far */
    assert_int_equal(parts[0].off, 300);
    assert_int_equal(parts[1].off, 400);
    frag4(&f, 1480, 1480, true);
    assert_int_equal(dec(DECODE_DLT_EN10MB, &f, &d), 0);
    assert_false(d.has_ports);
    pos.off = 500;
    assert_int_equal(frag_table_add(t, &d, 1000000, &pos, &ev, &g), FRAG_COMPLETE);
    assert_true(d.has_ports);
    assert_int_equal(d.dport, 53);
    assert_int_equal(frag_table_take(t, g, &parts), 1);  /* only the one not taken */
    assert_int_equal(parts[0].off, 500);
    frag_table_free(t);
}

static void overlap_is_an_event(void **state)
{
    (void)state;
    struct frag_table *t = table();
    struct decoded d;
    enum decode_event ev;
    const struct frag_position *parts;
    size_t n;
    assert_int_equal(add(t, 0, 1480, true, 1, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 1472, 1480, true, 2, &d, &ev, &parts, &n), FRAG_DROPPED);
    assert_int_equal(ev, DECODE_FRAG_OVERLAP);
    assert_string_equal(decode_event_name(ev), "decoder.ip_frag.overlap");
    assert_int_equal(frag_table_dropped(t), 1);
    /* the slot is free again: a clean datagram completes */
    assert_int_equal(add(t, 0, 1480, true, 3, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 1480, 1520, false, 4, &d, &ev, &parts, &n), FRAG_COMPLETE);
    frag_table_free(t);
}

static void oversized_and_too_many_are_events(void **state)
{
    (void)state;
    struct frag_table *t = table();
    struct decoded d;
    enum decode_event ev;
    const struct frag_position *parts;
    size_t n;
    /* data past 65535 bytes: no IP datagram is that long */
    assert_int_equal(add(t, 65528, 64, false, 1, &d, &ev, &parts, &n), FRAG_DROPPED);
    assert_int_equal(ev, DECODE_FRAG_TOO_BIG);
    /* a fragment past the end the last fragment set */
    assert_int_equal(add(t, 80, 16, false, 2, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 96, 16, true, 3, &d, &ev, &parts, &n), FRAG_DROPPED);
    assert_int_equal(ev, DECODE_FRAG_TOO_BIG);
    /* FRAG_MAX_PARTS fragments of 16 bytes and one more */
    for (uint32_t i = 0; i < FRAG_MAX_PARTS; i++)
        assert_int_equal(add(t, 16 + i * 16, 16, true, i, &d, &ev, &parts, &n), FRAG_PENDING);
    assert_int_equal(add(t, 16 + FRAG_MAX_PARTS * 16, 16, true, 99, &d, &ev, &parts, &n),
                     FRAG_DROPPED);
    assert_int_equal(ev, DECODE_FRAG_TOO_MANY);
    assert_int_equal(frag_table_dropped(t), 3);
    frag_table_free(t);
}

/* ---- through the packet path, with a real pcap store -------------------------------------- */

static int records;
static uint64_t rec_packets, rec_bytes, rec_positions;

static int take(void *ctx, const Ashiato__SessionRecord *rec)
{
    (void)ctx;
    records++;
    rec_packets = rec->source->packets + rec->destination->packets;
    rec_bytes = rec->source->bytes + rec->destination->bytes;
    struct pcap_index_iter it;
    assert_int_equal(pcap_index_iter_init(&it, rec->packet_pos.data, rec->packet_pos.len), 0);
    uint64_t f, o, last = 0;
    rec_positions = 0;
    while (pcap_index_next(&it, &f, &o) == 1) {
        assert_true(rec_positions == 0 || o > last);
        last = o;
        rec_positions++;
    }
    return 0;
}

static void pipeline_counts_one_packet_stores_every_fragment(void **state)
{
    (void)state;
    char dir[256], err[ASH_ERR_LEN] = "";
    assert_int_equal(test_dir_make(dir, sizeof dir, NULL, "test_frag_table"), 0);
    struct pcap_store_config sc;
    pcap_store_config_defaults(&sc);
    sc.dir = dir;
    sc.ring_size = 1 << 20;
    sc.flush_ms = 5;
    sc.wait_when_full = true;
    struct pcap_store *st = pcap_store_open(&sc, "frag", 1, 65535, err);
    assert_non_null(st);
    struct pcap_index *idx = pcap_index_new(64, err);
    assert_non_null(idx);
    struct pipeline_config pc = {
        .table = { .max_sessions = 16, .tcp_timeout = 480, .udp_timeout = 60,
                   .icmp_timeout = 10, .sctp_timeout = 60, .other_timeout = 60,
                   .tcp_close_timeout = 5, .tcp_save_timeout = 480, .max_packets = 100 },
        .app_fields_max = 16, .sensor_name = "frag",
    };
    struct pipeline *p = pipeline_new(&pc, err);
    assert_non_null(p);
    pipeline_set_store(p, st, idx);
    assert_int_equal(pipeline_add_output(p, take, NULL), 0);

    static const uint32_t offs[3] = { 0, 1480, 2960 }, lens[3] = { 1480, 1480, 40 };
    for (int i = 0; i < 3; i++) {
        struct fb f;
        frag4(&f, offs[i], lens[i], i < 2);
        struct capture_packet pkt = { .ts_us = 1700000000000000LL + i, .caplen = (uint32_t)f.n,
                                      .wirelen = (uint32_t)f.n, .data = f.b };
        pipeline_packet(p, DECODE_DLT_EN10MB, &pkt);
    }
    /* then two datagrams of the same flow, interleaved (NFS over UDP does this): A1 B1 A2 B2;
     * the session exists, so each position joins it as stored, in store order */
    static const uint16_t ids[4] = { 0x5001, 0x5002, 0x5001, 0x5002 };
    for (int i = 0; i < 4; i++) {
        struct fb f;
        frag_id = ids[i];
        frag4(&f, i < 2 ? 0 : 1480, i < 2 ? 1480 : 1520, i < 2);
        struct capture_packet pkt = { .ts_us = 1700000000100000LL + i, .caplen = (uint32_t)f.n,
                                      .wirelen = (uint32_t)f.n, .data = f.b };
        pipeline_packet(p, DECODE_DLT_EN10MB, &pkt);
    }
    frag_id = 0x4242;
    pipeline_flush(p);
    assert_int_equal(records, 1);
    assert_int_equal(rec_packets, 3);
    assert_int_equal(rec_bytes, 3 * (14 + 20 + DGRAM));
    assert_int_equal(rec_positions, 7);                  /* increasing: checked in take() */

    assert_int_equal(pcap_store_sync(st, 2000), 0);
    struct pcap_store_stats ss;
    pcap_store_stats(st, &ss);
    assert_int_equal(ss.packets, 7);                     /* every fragment is on disk */
    struct pcap_index_stats is;
    pcap_index_stats(idx, &is);
    assert_int_equal(is.gaps, 0);
    struct pipeline_stats ps;
    pipeline_stats(p, &ps);
    assert_int_equal(ps.packets, 7);
    assert_int_equal(ps.frag_orphans, 0);

    pipeline_free(p);
    pcap_index_free(idx);
    pcap_store_close(st);
    test_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(datagram_is_one_packet_in_any_order),
        cmocka_unit_test(pending_fragments_know_their_flow),
        cmocka_unit_test(overlap_is_an_event),
        cmocka_unit_test(oversized_and_too_many_are_events),
        cmocka_unit_test(pipeline_counts_one_packet_stores_every_fragment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
