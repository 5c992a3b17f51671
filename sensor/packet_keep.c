/* packet_keep.c -- store, index, service and endpoint together (see packet_keep.h). */
#include "packet_keep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "packet_endpoint.h"
#include "packet_service.h"
#include "pcap_index.h"
#include "pcap_store.h"

struct packet_keep {
    struct pcap_store *store;
    struct pcap_index *idx;
    struct packet_service *svc;
    struct packet_endpoint *ep;
};

struct packet_keep *packet_keep_open(const struct sensor_config *cfg, struct pipeline *p, int dlt,
                                     int snaplen, bool offline, char err[ASH_ERR_LEN])
{
    struct packet_keep *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, ASH_ERR_LEN, "packet_keep: out of memory");
        return NULL;
    }
    struct pcap_store_config sc;
    pcap_store_config_defaults(&sc);
    sc.dir = cfg->pcap_dir;
    sc.max_file_size = cfg->pcap_max_file_size;
    sc.max_file_age = cfg->pcap_max_file_age;
    sc.ring_size = cfg->pcap_ring_size;
    sc.direct_io = cfg->pcap_direct_io;
    sc.retention.min_free_percent = cfg->pcap_min_free_percent;
    sc.retention.min_free_bytes = cfg->pcap_min_free_bytes;
    sc.retention.quota = cfg->pcap_quota;
    sc.retention.max_age = cfg->pcap_max_age;
    sc.wait_when_full = offline;
    sc.packet_clock = offline;
    if (!(k->store = pcap_store_open(&sc, cfg->name, dlt, snaplen, err)) ||
        !(k->idx = pcap_index_new((size_t)cfg->pcap_index_chunks, err)))
        goto fail;
    /* positions name this store, so that a recreated pcap_dir refuses them (H2) */
    pcap_index_set_store_id(k->idx, pcap_catalog_store_id(pcap_store_catalog(k->store)));
    /* the service answers the aggregator's requests (over the shipping connection) and, when
     * an endpoint is configured, local ones */
    struct packet_service_config pc;
    packet_service_config_defaults(&pc);
    if (!(k->svc = packet_service_new(&pc, k->store, err)))
        goto fail;
    if (cfg->packet_endpoint[0]) {
        if (!(k->ep = packet_endpoint_open(cfg->packet_endpoint, k->svc, err)))
            goto fail;
        log_info("sensor", "packet requests answered at endpoint=%s", packet_endpoint_address(k->ep));
    }
    pipeline_set_store(p, k->store, k->idx);
    log_info("sensor", "keeping packets dir=%s max_file_size=%lld quota=%lld min_free_percent=%lld",
             cfg->pcap_dir, cfg->pcap_max_file_size, cfg->pcap_quota, cfg->pcap_min_free_percent);
    return k;
fail:
    packet_keep_close(k);
    return NULL;
}

void packet_keep_set_link(struct packet_keep *k, int dlt, int snaplen)
{
    if (k)
        pcap_store_set_link(k->store, dlt, snaplen);
}

struct pcap_store *packet_keep_store(struct packet_keep *k)
{
    return k ? k->store : NULL;
}

struct packet_service *packet_keep_service(struct packet_keep *k)
{
    return k ? k->svc : NULL;
}

int packet_keep_sync(struct packet_keep *k, int timeout_ms)
{
    return k ? pcap_store_sync(k->store, timeout_ms) : 0;
}

void packet_keep_report(struct packet_keep *k, char *out, size_t len)
{
    struct pcap_store_stats st;
    pcap_store_wait_closed(k->store, 10000);    /* count what reached the disk */
    pcap_store_stats(k->store, &st);
    snprintf(out, len, "pcap store: packets %" PRIu64 ", dropped %" PRIu64 ", waits for the writer %"
             PRIu64 ", files opened %" PRIu64
             ", bytes written %" PRIu64 " (direct I/O: %" PRIu64 " from where they lay, %" PRIu64
             " staged), write errors %" PRIu64 ", repaired files %" PRIu64,
             st.packets, st.dropped, st.waits, st.files_opened, st.bytes_written, st.bytes_direct,
             st.bytes_staged, st.write_errors, st.repaired_files);
}

void packet_keep_close(struct packet_keep *k)
{
    if (!k)
        return;
    packet_endpoint_close(k->ep);
    packet_service_free(k->svc);
    pcap_store_close(k->store);
    pcap_index_free(k->idx);
    free(k);
}
