/* aggregator_config.c -- the aggregator's key table (see aggregator_config.h).
 * Never: holds state. */
#include "aggregator_config.h"

#define K(key, flag, sh, type, field, size, lo, hi, def, metavar, help) \
    { "aggregator", key, flag, sh, type, offsetof(struct aggregator_config, field), size, lo, hi, def, help, metavar }
#define SZ(field) sizeof(((struct aggregator_config *)0)->field)

const struct config_key aggregator_config_keys[] = {
    K("listen", "listen", 'l', CONFIG_STR, listen, SZ(listen), 0, 0, "tcp://0.0.0.0:5555", "ENDPOINT",
      "where sensors connect (ZeroMQ ROUTER)"),
    K("key_file", "key-file", 'k', CONFIG_STR, key_file, SZ(key_file), 0, 0, NULL, "FILE",
      "the aggregator's CurveZMQ keypair (ashiato keygen)"),
    K("allow_list", "allow-list", 'a', CONFIG_STR, allow_list, SZ(allow_list), 0, 0, NULL, "FILE",
      "sensors allowed in: one 'name public-key' per line"),
    K("insecure", "insecure", 0, CONFIG_BOOL, insecure, 0, 0, 0, "false", NULL,
      "accept plaintext sensors with no keys (tests and labs only)"),
    K("store", "store", 's', CONFIG_STR, store, SZ(store), 0, 0, "sqlite://ashiato-sessions.db", "URL",
      "sqlite:///path.db, http(s)://host:9200[,...] (Elasticsearch/OpenSearch) or null:"),
    K("dead_letter", "dead-letter", 0, CONFIG_STR, dead_letter, SZ(dead_letter), 0, 0, NULL, "FILE",
      "records the store rejects for good (a time outside 1970..2100, a bad id) go here with "
      "the reason; default: beside a SQLite store (PATH.db.dead-letter.jsonl); without one, a "
      "batch holding such a record is dropped, counted and its sensor told"),
    K("credit", NULL, 0, CONFIG_INT, credit, 0, 1, 1024, "8", NULL,
      "batches a sensor may have in flight"),
    K("heartbeat_ms", NULL, 0, CONFIG_INT, heartbeat_ms, 0, 100, 60000, "1000", NULL,
      "ZMTP heartbeat interval; a peer is dead after three missed"),
    K("retention_days", NULL, 0, CONFIG_INT, retention_days, 0, 0, 36500, "0", NULL,
      "delete sessions older than this many days (0 = keep)"),
    K("es_prefix", NULL, 0, CONFIG_STR, es_prefix, SZ(es_prefix), 0, 0, "ashiato", NULL,
      "Elasticsearch index prefix"),
    K("es_user", NULL, 0, CONFIG_STR, es_user, SZ(es_user), 0, 0, NULL, NULL, "Elasticsearch user (basic auth)"),
    K("es_password", NULL, 0, CONFIG_STR, es_password, SZ(es_password), 0, 0, NULL, NULL, "Elasticsearch password"),
    K("es_api_key", NULL, 0, CONFIG_STR, es_api_key, SZ(es_api_key), 0, 0, NULL, NULL, "Elasticsearch API key"),
    K("es_ca_file", NULL, 0, CONFIG_STR, es_ca_file, SZ(es_ca_file), 0, 0, NULL, NULL, "CA bundle for https"),
    K("bulk_bytes", NULL, 0, CONFIG_SIZE, bulk_bytes, 0, 0, 1LL << 30, "0", NULL,
      "Elasticsearch bulk request size (0 = measured default)"),
    K("bulk_ms", NULL, 0, CONFIG_INT, bulk_ms, 0, 0, 600000, "0", NULL, "bulk flush interval"),
    K("es_gzip", NULL, 0, CONFIG_STR, es_gzip, SZ(es_gzip), 0, 0, "auto", NULL,
      "gzip bulk bodies: auto (to every node but a loopback one), always or never"),
    K("bulk_inflight", NULL, 0, CONFIG_INT, bulk_inflight, 0, 0, 64, "0", NULL, "bulk requests in flight"),
    K("log_level", "log-level", 0, CONFIG_STR, log_level, SZ(log_level), 0, 0, "info", "LEVEL",
      "error, warn, info or debug"),
    K("exit_after_idle_ms", "exit-after-idle", 0, CONFIG_INT, exit_after_idle_ms, 0, 0, 86400000, "0", "MS",
      "exit when nothing arrived for this long (batch jobs and tests; 0 = run until signalled)"),
    K("packet_endpoint", "packet-endpoint", 0, CONFIG_STR, packet_endpoint, SZ(packet_endpoint), 0, 0,
      NULL, "ENDPOINT", "take packet requests here (ipc:///DIR/FILE, a socket made 0660 in a DIR of this "
      "user or root closed to others: owner and group may ask for every sensor's packets) and "
      "pass them to the sensor named in each, over that sensor's own connection"),
    K("detect", NULL, 0, CONFIG_BOOL, detect, 0, 0, 0, "true", NULL,
      "run the detectors on committed records and store their alerts (docs/detection.md)"),
    K("detect_config", "detect-config", 0, CONFIG_STR, detect_config, SZ(detect_config), 0, 0,
      NULL, "FILE", "the INI file with [detect], [segments] and [sensors] (may be this one); SIGHUP "
      "reads its [segments], [sensors] and approved/darknet lists again"),
    K("http_listen", "http-listen", 0, CONFIG_STR, http_listen, SZ(http_listen), 0, 0, "0.0.0.0:8005",
      "ADDR:PORT", "serve the HTTP API here (\"\" disables it)"),
    K("http_realm", "http-realm", 0, CONFIG_STR, http_realm, SZ(http_realm), 0, 0, "ashiato", "REALM",
      "digest auth realm (the users file's HA1 digests are bound to it)"),
    K("http_algorithm", "http-algorithm", 0, CONFIG_STR, http_algorithm, SZ(http_algorithm), 0, 0, "md5",
      "ALG", "digest algorithm offered: md5 (what curl --anyauth and Arkime use) or sha256"),
    K("http_users", "http-users", 0, CONFIG_STR, http_users, SZ(http_users), 0, 0, NULL, "FILE",
      "HTTP API users: HA1 digests only, mode 0600 (ashiato user add)"),
    K("http_tls_cert", "http-tls-cert", 0, CONFIG_STR, http_tls_cert, SZ(http_tls_cert), 0, 0, NULL, "FILE",
      "PEM certificate: serve HTTPS (then basic auth is accepted too)"),
    K("http_tls_key", "http-tls-key", 0, CONFIG_STR, http_tls_key, SZ(http_tls_key), 0, 0, NULL, "FILE",
      "PEM private key of http_tls_cert"),
    K("http_audit_log", "http-audit-log", 0, CONFIG_STR, http_audit_log, SZ(http_audit_log), 0, 0, NULL,
      "FILE", "one JSON line per HTTP request and pcap download (\"\" = the log, as info)"),
    K("http_threads", NULL, 0, CONFIG_INT, http_threads, 0, 1, 64, "4", NULL,
      "HTTP API threads, each with its own store handle"),
    K("http_pcap_timeout_ms", NULL, 0, CONFIG_INT, http_pcap_timeout_ms, 0, 100, 600000, "4000", NULL,
      "how long sessions.pcap waits for a sensor before naming it failed"),
};

const size_t aggregator_config_nkeys = sizeof aggregator_config_keys / sizeof aggregator_config_keys[0];
