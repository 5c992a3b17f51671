/* sensor_config.c -- the sensor's key table and [vlan-vni-collapse] (see sensor_config.h).
 * Owns:  defaults, ranges and help text of every sensor setting.
 * Never: holds state. Defaults for session timeouts are Arkime's. */
#include "sensor_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K(key, flag, sh, type, field, size, lo, hi, def, metavar, help) \
    { "sensor", key, flag, sh, type, offsetof(struct sensor_config, field), size, lo, hi, def, help, metavar }
#define SZ(field) sizeof(((struct sensor_config *)0)->field)

const struct config_key sensor_config_keys[] = {
    K("name", "name", 'n', CONFIG_STR, name, SZ(name), 0, 0, NULL, "NAME",
      "sensor name (observer.name); default the host name"),
    K("interface", "interface", 'i', CONFIG_STR, interface, SZ(interface), 0, 0, NULL, "IF",
      "capture live on this interface"),
    K("read", "read", 'r', CONFIG_STRLIST, read, 0, 0, 0, NULL, "FILE",
      "read a pcap or pcapng file (repeatable; sessions span files in the order given)"),
    K("read_dir", "read-dir", 0, CONFIG_STR, read_dir, SZ(read_dir), 0, 0, NULL, "DIR",
      "read every .pcap/.pcapng/.cap file of DIR, in name order"),
    K("bpf", "bpf", 'f', CONFIG_STR, bpf, SZ(bpf), 0, 0, NULL, "EXPR",
      "BPF filter applied before decoding"),
    K("snaplen", "snaplen", 's', CONFIG_INT, snaplen, 0, 64, 262144, "65535", "N",
      "bytes kept of each live packet"),
    K("buffer_size", "buffer-size", 0, CONFIG_SIZE, buffer_size, 0, 1 << 20, 1LL << 34, "256M",
      "BYTES", "kernel capture ring (TPACKET_V3) size"),
    K("promisc", NULL, 0, CONFIG_BOOL, promisc, 0, 0, 0, "true", NULL,
      "put the interface in promiscuous mode"),
    K("emit_json", "emit-json", 'j', CONFIG_STR, emit_json, SZ(emit_json), 0, 0, NULL, "FILE|-",
      "write one ECS JSON document per session per line"),
    K("stats", "stats", 0, CONFIG_BOOL, stats, 0, 0, 0, "false", NULL,
      "print totals at the end (packets, malformed, sessions, by protocol)"),
    K("progress", "progress", 0, CONFIG_BOOL, progress, 0, 0, 0, "false", NULL,
      "show progress even when stderr is not a terminal"),
    K("realtime", "realtime", 0, CONFIG_STR, realtime, SZ(realtime), 0, 0, "0", "FACTOR",
      "offline: pace reading by packet time, FACTOR times faster than captured (0 = as fast as "
      "possible; like Zeek's pseudo-realtime)"),
    K("log_level", "log-level", 0, CONFIG_STR, log_level, SZ(log_level), 0, 0, "info",
      "LEVEL", "error, warn, info or debug"),
    K("max_sessions", "max-sessions", 0, CONFIG_INT, max_sessions, 0, 1, 100000000, "1000000",
      "N", "session slots (about 200 bytes each); a full table evicts the oldest idle"),
    K("app_fields_max", NULL, 0, CONFIG_INT, app_fields_max, 0, 16, 100000000, "131072", NULL,
      "sessions that may hold application fields at once (about 1.2 KiB each)"),
    K("tcp_timeout", NULL, 0, CONFIG_INT, tcp_timeout, 0, 1, 86400, "480", NULL,
      "idle seconds before a TCP session is saved (Arkime tcpTimeout)"),
    K("udp_timeout", NULL, 0, CONFIG_INT, udp_timeout, 0, 1, 86400, "60", NULL,
      "idle seconds for UDP (Arkime udpTimeout)"),
    K("icmp_timeout", NULL, 0, CONFIG_INT, icmp_timeout, 0, 1, 86400, "10", NULL,
      "idle seconds for ICMP (Arkime icmpTimeout)"),
    K("sctp_timeout", NULL, 0, CONFIG_INT, sctp_timeout, 0, 1, 86400, "60", NULL,
      "idle seconds for SCTP (Arkime sctpTimeout)"),
    K("other_timeout", NULL, 0, CONFIG_INT, other_timeout, 0, 1, 86400, "60", NULL,
      "idle seconds for other IP protocols"),
    K("tcp_close_timeout", NULL, 0, CONFIG_INT, tcp_close_timeout, 0, 0, 3600, "5", NULL,
      "seconds a TCP session is kept after RST or both FINs (Arkime tcpClosingTimeout)"),
    K("tcp_save_timeout", NULL, 0, CONFIG_INT, tcp_save_timeout, 0, 10, 86400, "480", NULL,
      "a long TCP session is saved as a segment every N seconds (Arkime tcpSaveTimeout)"),
    K("max_packets", NULL, 0, CONFIG_INT, max_packets, 0, 1, 10000000, "10000", NULL,
      "a session is saved as a segment every N packets (Arkime maxPackets)"),
    K("session_key_vlan", NULL, 0, CONFIG_BOOL, session_key_vlan, 0, 0, 0, "false", NULL,
      "the VLAN id is part of the session key (Arkime sessionIdTracking=vlan)"),
    K("aggregator", "aggregator", 'A', CONFIG_STR, aggregator, SZ(aggregator), 0, 0, NULL, "ENDPOINT",
      "send session batches to this aggregator (tcp://host:5555)"),
    K("key_file", "key-file", 'k', CONFIG_STR, key_file, SZ(key_file), 0, 0, NULL, "FILE",
      "this sensor's CurveZMQ keypair (ashiato keygen)"),
    K("server_key", "server-key", 0, CONFIG_STR, server_key, SZ(server_key), 0, 0, NULL, "KEY|FILE",
      "the aggregator's public key (40 Z85 characters, or its .pub file)"),
    K("insecure", "insecure", 0, CONFIG_BOOL, insecure, 0, 0, 0, "false", NULL,
      "plaintext to the aggregator (tests and labs only)"),
    K("outbox_dir", "outbox-dir", 0, CONFIG_STR, outbox_dir, SZ(outbox_dir), 0, 0, "/var/lib/ashiato/outbox",
      "DIR", "journal of batches not yet acknowledged by the aggregator (made if missing; locked: "
      "one sensor per directory)"),
    K("outbox_max_bytes", NULL, 0, CONFIG_SIZE, outbox_max_bytes, 0, 1 << 20, 1LL << 42, "4G", NULL,
      "journal bound; past it the oldest batches are dropped and counted"),
    K("outbox_sync", NULL, 0, CONFIG_BOOL, outbox_sync, 0, 0, 0, "true", NULL,
      "fdatasync each batch (survives power loss, not only a crash)"),
    K("batch_records", NULL, 0, CONFIG_INT, batch_records, 0, 1, 1000000, "2000", NULL,
      "records per batch"),
    K("batch_ms", NULL, 0, CONFIG_INT, batch_ms, 0, 10, 600000, "1000", NULL,
      "a batch is sent at the latest this long after its first record"),
    K("window", NULL, 0, CONFIG_INT, window, 0, 1, 1024, "8", NULL,
      "batches in flight before waiting for acknowledgements"),
    K("resend_ms", NULL, 0, CONFIG_INT, resend_ms, 0, 100, 600000, "3000", NULL,
      "no acknowledgement for this long: resend from the last acknowledged batch"),
    K("heartbeat_ms", NULL, 0, CONFIG_INT, heartbeat_ms, 0, 100, 60000, "1000", NULL,
      "ZMTP heartbeat interval; the aggregator is dead after three missed"),
    K("stats_interval_ms", NULL, 0, CONFIG_INT, stats_interval_ms, 0, 100, 3600000, "5000", NULL,
      "how often sensor statistics are sent"),
    K("drain_timeout_ms", "drain-timeout", 0, CONFIG_INT, drain_timeout_ms, 0, 0, 86400000, "60000", "MS",
      "offline: at the end of input wait this long for every batch to be acknowledged"),
    K("pcap_dir", "pcap-dir", 0, CONFIG_STR, pcap_dir, SZ(pcap_dir), 0, 0, NULL, "DIR",
      "keep every packet in rotating pcap files in DIR (off when empty); offline input too"),
    K("pcap_max_file_size", NULL, 0, CONFIG_SIZE, pcap_max_file_size, 0, 64 << 10, 1LL << 40, "1G", NULL,
      "start a new pcap file at this size"),
    K("pcap_max_file_age", NULL, 0, CONFIG_INT, pcap_max_file_age, 0, 0, 604800, "3600", NULL,
      "start a new pcap file after this many seconds of packet time (0: size only)"),
    K("pcap_min_free_percent", NULL, 0, CONFIG_INT, pcap_min_free_percent, 0, 0, 99, "5", NULL,
      "delete the oldest pcap files while the file system has less free space"),
    K("pcap_min_free_bytes", NULL, 0, CONFIG_SIZE, pcap_min_free_bytes, 0, 0, 1LL << 50, "0", NULL,
      "the same, in bytes (0: off)"),
    K("pcap_quota", NULL, 0, CONFIG_SIZE, pcap_quota, 0, 0, 1LL << 50, "0", NULL,
      "delete the oldest pcap files while they hold more than this (0: no quota)"),
    K("pcap_max_age", NULL, 0, CONFIG_INT, pcap_max_age, 0, 0, 315360000, "0", NULL,
      "delete pcap files whose last packet is older than this many seconds (0: keep)"),
    K("pcap_direct_io", NULL, 0, CONFIG_BOOL, pcap_direct_io, 0, 0, 0, "true", NULL,
      "write pcap files with O_DIRECT where the file system supports it (else buffered)"),
    K("pcap_ring_size", NULL, 0, CONFIG_SIZE, pcap_ring_size, 0, 1 << 20, 1LL << 36, "64M", NULL,
      "memory between the capture thread and the pcap writer"),
    K("pcap_index_chunks", NULL, 0, CONFIG_INT, pcap_index_chunks, 0, 16, 4000000000LL, "1048576", NULL,
      "64-byte chunks for live sessions' packet positions (about 20 positions each)"),
    K("packet_endpoint", "packet-endpoint", 0, CONFIG_STR, packet_endpoint, SZ(packet_endpoint), 0, 0,
      NULL, "ENDPOINT", "answer packet requests here: ipc:///DIR/FILE, a socket made 0660 (owner and group "
      "may ask) in a DIR of this user or root, closed to others (0750); no tcp://"),
    K("serve", "serve", 0, CONFIG_BOOL, serve, 0, 0, 0, "false", NULL,
      "offline: keep answering packet requests after the input ends, until signalled"),
};

const size_t sensor_config_nkeys = sizeof sensor_config_keys / sizeof sensor_config_keys[0];

const char *sensor_config_path(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(a, "--config=", 9) == 0)
            path = a + 9;
        else if (strncmp(a, "-c", 2) == 0 && a[2])
            path = a + 2;
    }
    return path;
}

struct collapse_ctx {
    uint16_t *map;
    uint8_t *taken;                  /* ids already in a group */
    int groups;
};

/* a decimal id in [0, max]; -1 if not */
static long parse_id(const char *s, size_t n, long max)
{
    if (n == 0 || n > 8)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

static int collapse_line(void *user, const char *section, const char *key, const char *value,
                         const char *where, char err[ASH_ERR_LEN])
{
    struct collapse_ctx *c = user;
    if (strcmp(section, "vlan-vni-collapse") != 0)
        return 0;
    long k = parse_id(key, strlen(key), SENSOR_VLAN_IDS - 1);
    if (k < 0) {
        snprintf(err, ASH_ERR_LEN, "%s: [vlan-vni-collapse] %.32s: expected a VLAN id 0..4095 "
                 "as the key", where, key);
        return -1;
    }
    c->groups++;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t;");
        long id = parse_id(p, n, 16777215);
        if (id < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: [vlan-vni-collapse] %ld: expected ids 0..16777215 "
                     "separated by commas, got '%.40s'", where, k, value);
            return -1;
        }
        if (id < SENSOR_VLAN_IDS) {
            if (c->taken[id] && c->map[id] != (uint16_t)k) {
                snprintf(err, ASH_ERR_LEN, "%s: [vlan-vni-collapse] %ld: id %ld is already in "
                         "the group of %u", where, k, id, c->map[id]);
                return -1;
            }
            c->taken[id] = 1;
            c->map[id] = (uint16_t)k;
        }
        p += n;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return 0;
        p++;                         /* the separator */
    }
}

int sensor_config_vlan_collapse(const char *path, uint16_t map[SENSOR_VLAN_IDS],
                                char err[ASH_ERR_LEN])
{
    uint8_t taken[SENSOR_VLAN_IDS] = { 0 };
    for (int i = 0; i < SENSOR_VLAN_IDS; i++)
        map[i] = (uint16_t)i;
    if (!path)
        return 0;
    struct collapse_ctx c = { map, taken, 0 };
    if (config_ini_walk(path, collapse_line, &c, err) < 0)
        return -1;
    return c.groups;
}
