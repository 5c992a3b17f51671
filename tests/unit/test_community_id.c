/* test_community_id.c -- Community ID v1 against the spec's examples and reference vectors.
 * The spec README's three tables always run. The reference vectors (baseline_*.json of
 * community-id-spec, in $ASHIATO_SHARED_DIR/corpus/community-id/) were made by the spec's
 * community-id-pcap tool from the pcaps beside them; this test reads those pcaps with
 * libpcap, decodes each frame with decode_packet() and checks every packet's ID against the
 * vector of its tuple, and that every vector was met. Skipped when the corpus is absent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <pcap/pcap.h>

#include "community_id.h"
#include "decode.h"

/* ---- helpers ---- */

/* text address to 16 bytes (v4-mapped for IPv4); returns the IP version, 0 on bad text */
static uint8_t parse_addr(const char *text, uint8_t out[16])
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
        memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return 4;
    }
    if (inet_pton(AF_INET6, text, out) == 1)
        return 6;
    return 0;
}

/* "1:<base64>" to "1:<hex>", the spec's no-base64 rendering */
static void to_hex_form(const char *id, char *hex, size_t hexlen)
{
    struct base64_decode_ctx ctx;
    uint8_t digest[BASE64_DECODE_LENGTH(COMMUNITY_ID_LEN)];
    size_t n = sizeof(digest);
    base64_decode_init(&ctx);
    assert_int_equal(base64_decode_update(&ctx, &n, digest, strlen(id + 2), id + 2), 1);
    assert_int_equal(base64_decode_final(&ctx), 1);
    assert_int_equal(n, 20);
    assert_true(hexlen >= 2 + 40 + 1);
    hex[0] = '1';
    hex[1] = ':';
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", digest[i]);
}

static void id_of(const char *saddr, const char *daddr, uint8_t proto, int sport, int dport,
                  uint16_t seed, char out[COMMUNITY_ID_LEN])
{
    uint8_t s[16], d[16];
    uint8_t ver = parse_addr(saddr, s);
    assert_int_not_equal(ver, 0);
    assert_int_equal(parse_addr(daddr, d), ver);
    bool ports = sport >= 0;
    community_id_v1(ver, s, d, proto, ports ? (uint16_t)sport : 0, ports ? (uint16_t)dport : 0,
                    ports, seed, out);
}

/* ---- the spec README's tables (default, seed=1, no base64) ---- */

struct spec_example {
    uint8_t proto;
    const char *saddr, *daddr;
    int sport, dport;          /* -1: no ports */
    const char *deflt, *seed1, *hex;
};

static const struct spec_example spec_examples[] = {
    { 6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM=",
      "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "1:c026f7386ef200559e95a53276ed03fb5db908b3" },
    { 6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM=",
      "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "1:c026f7386ef200559e95a53276ed03fb5db908b3" },
    { 17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
      "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8" },
    { 17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
      "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "1:d0cbbd227431eb3e1988264cffb1d78b658c84e8" },
    { 132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
      "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f" },
    { 132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
      "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "1:10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f" },
    /* ICMP: ports are type and code; echo request and reply pair up */
    { 1, "1.2.3.4", "5.6.7.8", 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
      "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d" },
    { 1, "5.6.7.8", "1.2.3.4", 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
      "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "1:72ba1d4472f6144b078dbbf752446b7dbb386d9d" },
    { 1, "1.2.3.4", "5.6.7.8", 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=",
      "1:1DD7cWGC/Yg91YGsQeni8du3pIA=", "1:7ff6224b25aa733ad381f5026650549ef1d170f9" },
    { 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
      128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
      "1:d1b7fb872309530b777cc103ef3f0b21f46905ea" },
    { 58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
      129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
      "1:d1b7fb872309530b777cc103ef3f0b21f46905ea" },
    { 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
      146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=",
      "1:7d80bcfa9cf6e04f8484034fd44661a57d03c35d" },
    /* RSVP: a port-less protocol */
    { 46, "1.2.3.4", "5.6.7.8", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768=",
      "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf" },
    { 46, "5.6.7.8", "1.2.3.4", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768=",
      "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "1:8a4bf79267fcf65b9fef758fcf58ceb38f52efaf" },
    { 46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
      -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=",
      "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed" },
    { 46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
      -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=",
      "1:c10ff69b0ae75cfe259897077462f978f8d1f9ed" },
};

static void test_spec_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(spec_examples) / sizeof(spec_examples[0]); i++) {
        const struct spec_example *e = &spec_examples[i];
        char id[COMMUNITY_ID_LEN], hex[64];
        id_of(e->saddr, e->daddr, e->proto, e->sport, e->dport, 0, id);
        assert_string_equal(id, e->deflt);
        to_hex_form(id, hex, sizeof(hex));
        assert_string_equal(hex, e->hex);
        id_of(e->saddr, e->daddr, e->proto, e->sport, e->dport, 1, id);
        assert_string_equal(id, e->seed1);
    }
}

/* Equal addresses are ordered by port; the value is Arkime's for its smb-smbclient.pcap. */
static void test_same_address_orders_by_port(void **state)
{
    (void)state;
    char a[COMMUNITY_ID_LEN], b[COMMUNITY_ID_LEN];
    id_of("127.0.0.1", "127.0.0.1", 6, 41823, 445, 0, a);
    id_of("127.0.0.1", "127.0.0.1", 6, 445, 41823, 0, b);
    assert_string_equal(a, "1:XipISkp35L7t47uOIP6tFb6wvUM=");
    assert_string_equal(b, a);
}

/* One-way ICMP keeps its direction: the reverse tuple is another flow. */
static void test_icmp_one_way_not_reordered(void **state)
{
    (void)state;
    char a[COMMUNITY_ID_LEN], b[COMMUNITY_ID_LEN];
    id_of("5.6.7.8", "1.2.3.4", 1, 11, 0, 0, a);
    id_of("1.2.3.4", "5.6.7.8", 1, 11, 0, 0, b);
    assert_string_not_equal(a, b);
    assert_string_equal(b, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=");
}

/* ---- the reference vectors, met through the pcaps they were computed from ---- */

#define MAX_VECTORS 64

struct vector {
    uint8_t proto, ip_version;
    uint8_t saddr[16], daddr[16];
    bool has_ports;
    uint16_t sport, dport;     /* for ICMP: type, and the mapped code */
    char id[64];
    int hits;
};

struct vector_set {
    const char *file;
    uint16_t seed;
    bool hex;
    struct vector v[MAX_VECTORS];
    size_t n;
};

static struct vector_set sets[] = {
    { "baseline_deflt.json", 0, false, { { 0 } }, 0 },
    { "baseline_seed1.json", 1, false, { { 0 } }, 0 },
    { "baseline_nob64.json", 0, true, { { 0 } }, 0 },
};

/* captures behind the vectors; arp.pcap has none (non-IP frames must be passed over) */
static const char *const pcaps[] = {
    "arp.pcap", "icmp.pcap", "icmp6.pcap", "ipv6.pcap", "rsvp.pcap", "sctp.pcap", "tcp.pcap",
    "udp.pcap",
};

static char corpus_dir[1024];

static bool find_corpus(void)
{
    const char *shared = getenv("ASHIATO_SHARED_DIR");
    struct stat st;
    if (shared == NULL || *shared == '\0')
        return false;
    snprintf(corpus_dir, sizeof(corpus_dir), "%s/corpus/community-id", shared);
    return stat(corpus_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static void load_vectors(struct vector_set *set)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, set->file);
    json_object *root = json_object_from_file(path);
    if (root == NULL)
        fail_msg("cannot read %s as JSON", path);
    assert_true(json_object_is_type(root, json_type_array));
    size_t n = json_object_array_length(root);
    assert_true(n > 0 && n <= MAX_VECTORS);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(root, i), *f;
        struct vector *v = &set->v[i];
        memset(v, 0, sizeof(*v));
        assert_true(json_object_object_get_ex(o, "proto", &f));
        v->proto = (uint8_t)json_object_get_int(f);
        assert_true(json_object_object_get_ex(o, "saddr", &f));
        v->ip_version = parse_addr(json_object_get_string(f), v->saddr);
        assert_true(json_object_object_get_ex(o, "daddr", &f));
        assert_int_equal(parse_addr(json_object_get_string(f), v->daddr), v->ip_version);
        assert_int_not_equal(v->ip_version, 0);
        assert_true(json_object_object_get_ex(o, "sport", &f));
        v->has_ports = f != NULL && !json_object_is_type(f, json_type_null);
        v->sport = v->has_ports ? (uint16_t)json_object_get_int(f) : 0;
        assert_true(json_object_object_get_ex(o, "dport", &f));
        v->dport = v->has_ports ? (uint16_t)json_object_get_int(f) : 0;
        assert_true(json_object_object_get_ex(o, "communityid", &f));
        snprintf(v->id, sizeof(v->id), "%s", json_object_get_string(f));
    }
    set->n = n;
    json_object_put(root);
}

/* The vector of one decoded packet. The vectors give ICMP as (type, mapped code), so ICMP
 * matches on the type; the corpus has one code per addresses and type. */
static struct vector *vector_for(struct vector_set *set, const struct decoded *d)
{
    bool icmp = d->ip_proto == 1 || d->ip_proto == 58;
    for (size_t i = 0; i < set->n; i++) {
        struct vector *v = &set->v[i];
        if (v->proto != d->ip_proto || v->ip_version != d->ip_version ||
            memcmp(v->saddr, d->src, 16) != 0 || memcmp(v->daddr, d->dst, 16) != 0 ||
            v->has_ports != d->has_ports)
            continue;
        if (v->has_ports && (v->sport != d->sport || (!icmp && v->dport != d->dport)))
            continue;
        return v;
    }
    return NULL;
}

static void check_pcap(const char *name, size_t *ip_packets)
{
    char path[1200], errbuf[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (p == NULL)
        fail_msg("%s: %s", path, errbuf);
    int dlt = pcap_datalink(p);
    assert_true(decode_dlt_supported(dlt));

    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned frame = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        struct decoded d;
        frame++;
        if (decode_packet(dlt, data, h->caplen, h->len, &d) != 0 || d.ip_version == 0)
            continue;   /* not IP: no Community ID */
        (*ip_packets)++;
        for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
            struct vector *v = vector_for(&sets[s], &d);
            if (v == NULL)
                fail_msg("%s frame %u: proto %u ports %u/%u has no vector in %s", name, frame,
                         d.ip_proto, d.sport, d.dport, sets[s].file);
            char id[COMMUNITY_ID_LEN], hex[64];
            community_id_v1(d.ip_version, d.src, d.dst, d.ip_proto, d.sport, d.dport,
                            d.has_ports, sets[s].seed, id);
            if (sets[s].hex) {
                to_hex_form(id, hex, sizeof(hex));
                if (strcmp(hex, v->id) != 0)
                    fail_msg("%s frame %u (%s): expected %s, got %s", name, frame, sets[s].file,
                             v->id, hex);
            } else if (strcmp(id, v->id) != 0) {
                fail_msg("%s frame %u (%s): expected %s, got %s", name, frame, sets[s].file,
                         v->id, id);
            }
            v->hits++;
        }
    }
    assert_int_equal(rc, PCAP_ERROR_BREAK);
    pcap_close(p);
}

static void test_reference_vectors_from_pcaps(void **state)
{
    (void)state;
    if (!find_corpus()) {
        print_message("SKIP: Community ID reference corpus not found (set ASHIATO_SHARED_DIR "
                      "to the folder holding corpus/community-id/); spec examples still ran\n");
        skip();
    }
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
        load_vectors(&sets[s]);

    size_t ip_packets = 0;
    for (size_t i = 0; i < sizeof(pcaps) / sizeof(pcaps[0]); i++)
        check_pcap(pcaps[i], &ip_packets);
    assert_true(ip_packets > 0);

    size_t checked = 0;
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
        for (size_t i = 0; i < sets[s].n; i++) {
            if (sets[s].v[i].hits == 0)
                fail_msg("%s vector %zu (%s) met by no packet", sets[s].file, i, sets[s].v[i].id);
            checked++;
        }
    }
    print_message("checked %zu IP packets against %zu reference vectors\n", ip_packets, checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_same_address_orders_by_port),
        cmocka_unit_test(test_icmp_one_way_not_reordered),
        cmocka_unit_test(test_reference_vectors_from_pcaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
