/* sensor_config.c -- the sensor's key table (see sensor_config.h).
 * Owns:  defaults, ranges and help text of every sensor setting.
 * Never: holds state. Defaults for session timeouts are Arkime's. */
#include "sensor_config.h"

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
};

const size_t sensor_config_nkeys = sizeof sensor_config_keys / sizeof sensor_config_keys[0];
