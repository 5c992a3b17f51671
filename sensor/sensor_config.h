/* sensor_config.h -- the sensor's one config struct and the key table that fills it.
 * Owns:  every setting of ashiato-sensor: its INI key ([sensor] section), flag, default,
 *        range and help line (the table also prints --help); and the [vlan-vni-collapse]
 *        section, whose keys are not known in advance (Arkime's: `ID = ID,ID,...`).
 * Never: reads files or the environment itself (common/config.c does, once, at start). */
#ifndef ASHIATO_SENSOR_CONFIG_H
#define ASHIATO_SENSOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct sensor_config {
    char name[128];
    char interface[64];
    struct config_strlist read;
    char read_dir[1024];
    char bpf[2048];
    long long snaplen;
    long long buffer_size;
    bool promisc;
    char emit_json[1024];
    bool stats;
    bool progress;
    char realtime[32];
    char log_level[16];
    /* sessions */
    long long max_sessions;
    long long app_fields_max;
    long long tcp_timeout, udp_timeout, icmp_timeout, sctp_timeout, other_timeout;
    long long tcp_close_timeout, tcp_save_timeout, max_packets;
    bool session_key_vlan;
    /* shipping to the aggregator (empty aggregator: records stay local) */
    char aggregator[256];
    char key_file[1024];
    char server_key[1024];
    bool insecure;
    char outbox_dir[1024];
    long long outbox_max_bytes;
    bool outbox_sync;
    long long batch_records;
    long long batch_ms;
    long long window;
    long long resend_ms;
    long long heartbeat_ms;
    long long stats_interval_ms;
    long long drain_timeout_ms;
    /* packets kept on the sensor's disk and served back */
    char pcap_dir[1024];
    char packet_endpoint[256];
    long long pcap_max_file_size, pcap_max_file_age, pcap_ring_size, pcap_index_chunks;
    long long pcap_min_free_percent, pcap_min_free_bytes, pcap_quota, pcap_max_age;
    bool serve;
    bool pcap_direct_io;
};

extern const struct config_key sensor_config_keys[];
extern const size_t sensor_config_nkeys;

#define SENSOR_VLAN_IDS 4096

/* The INI file given with -c/--config in argv (the last one), or NULL. */
const char *sensor_config_path(int argc, char **argv);

/* Read [vlan-vni-collapse] of the INI file at path, as Arkime's: each line `KEY = ID,ID,...`
 * makes the VLAN ids listed one segment, keyed as the VLAN id KEY (0..4095) when
 * session_key_vlan is on; map[4096] is filled with each id's key (an id of no group keys as
 * itself). Ids above 4095 are VXLAN/Geneve VNIs (up to 16777215), accepted for Arkime's files:
 * ashiato never keys sessions on a VNI, so they are one segment already. An id in two groups
 * is an error. Returns the number of groups (0: map is the identity), or -1 with err. */
int sensor_config_vlan_collapse(const char *path, uint16_t map[SENSOR_VLAN_IDS],
                                char err[ASH_ERR_LEN]);

#endif
