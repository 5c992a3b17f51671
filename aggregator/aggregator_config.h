/* aggregator_config.h -- the aggregator's one config struct and its key table.
 * Owns:  every setting of ashiato-aggregator ([aggregator] section; flags; --help).
 * Never: reads files itself. */
#ifndef ASHIATO_AGGREGATOR_CONFIG_H
#define ASHIATO_AGGREGATOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "config.h"

struct aggregator_config {
    char listen[256];
    char key_file[1024];
    char allow_list[1024];
    bool insecure;
    char store[1024];
    char dead_letter[1024];
    long long credit;
    long long heartbeat_ms;
    long long retention_days;
    char es_prefix[64];
    char es_user[128], es_password[256], es_api_key[512], es_ca_file[1024];
    long long bulk_bytes, bulk_ms, bulk_inflight;
    char es_gzip[16];
    char log_level[16];
    long long exit_after_idle_ms;
    char packet_endpoint[256];
    /* the HTTP API (http_server.c) */
    char http_listen[256], http_realm[128], http_algorithm[16], http_users[1024];
    char http_tls_cert[1024], http_tls_key[1024], http_audit_log[1024];
    long long http_threads, http_pcap_timeout_ms;
    bool detect;
    char detect_config[1024];
};

extern const struct config_key aggregator_config_keys[];
extern const size_t aggregator_config_nkeys;

#endif
