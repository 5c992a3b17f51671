/* store_es_template.c -- the index names and the index templates (explicit ECS mappings) of
 * the Elasticsearch backend, installed idempotently when a store opens.
 * Owns:  the mappings of <prefix>-sessions-YYYY.MM.DD (by the session's own start time, so a
 *        re-delivered record lands in the same index), <prefix>-stats-YYYY.MM,
 *        <prefix>-alerts-YYYY.MM and <prefix>-sensors (committed sequence numbers).
 * Lends: nothing.
 * Never: creates or deletes indices (the first write creates a day's index from its template).
 * Trap:  every field record_json.c writes must be in the sessions mapping: "dynamic": false
 *        keeps an unmapped field in _source but makes it unsearchable, silently
 *        (test_store_es.py checks the emitted documents against the mapping). Ports are
 *        "integer", not ECS's "long": TCP, UDP and SCTP ports are 16 bits, so a value over
 *        2^31 is a corrupt record and the node refuses it (dead-lettered), as it should. */
#include "store_es.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Times are date_nanos: the records carry microseconds and a range query on event.start must
 * cut where SQLite's start_us cuts (date keeps milliseconds only). */
static const char sessions_mapping[] =
    "{\"dynamic\":false,\"date_detection\":false,\"properties\":{"
    "\"@timestamp\":{\"type\":\"date_nanos\"},"
    "\"event\":{\"properties\":{\"start\":{\"type\":\"date_nanos\"},"
        "\"end\":{\"type\":\"date_nanos\"},\"duration\":{\"type\":\"long\"}}},"
    "\"source\":{\"properties\":{\"ip\":{\"type\":\"ip\"},\"port\":{\"type\":\"integer\"},"
        "\"bytes\":{\"type\":\"long\"},\"packets\":{\"type\":\"long\"},"
        "\"mac\":{\"type\":\"keyword\"}}},"
    "\"destination\":{\"properties\":{\"ip\":{\"type\":\"ip\"},\"port\":{\"type\":\"integer\"},"
        "\"bytes\":{\"type\":\"long\"},\"packets\":{\"type\":\"long\"},"
        "\"mac\":{\"type\":\"keyword\"}}},"
    "\"network\":{\"properties\":{\"transport\":{\"type\":\"keyword\"},"
        "\"iana_number\":{\"type\":\"keyword\"},\"type\":{\"type\":\"keyword\"},"
        "\"bytes\":{\"type\":\"long\"},\"packets\":{\"type\":\"long\"},"
        "\"community_id\":{\"type\":\"keyword\"},"
        "\"vlan\":{\"properties\":{\"id\":{\"type\":\"keyword\"}}},"
        "\"protocol\":{\"type\":\"keyword\"}}},"
    "\"observer\":{\"properties\":{\"name\":{\"type\":\"keyword\"}}},"
    "\"url\":{\"properties\":{\"domain\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
    "\"http\":{\"properties\":{"
        "\"request\":{\"properties\":{\"method\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
        "\"response\":{\"properties\":{\"status_code\":{\"type\":\"long\"}}}}},"
    "\"user_agent\":{\"properties\":{\"original\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
    "\"dns\":{\"properties\":{"
        "\"question\":{\"properties\":{\"name\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
        "\"response_code\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
    "\"tls\":{\"properties\":{"
        "\"client\":{\"properties\":{\"server_name\":{\"type\":\"keyword\","
            "\"ignore_above\":1024}}},"
        "\"version\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
    "\"ashiato\":{\"properties\":{"
        "\"session_id\":{\"type\":\"keyword\"},\"root_id\":{\"type\":\"keyword\"},"
        "\"segment\":{\"type\":\"long\"},\"conn_state\":{\"type\":\"keyword\"},"
        "\"history\":{\"type\":\"keyword\",\"ignore_above\":1024},"
        "\"tcp_flags\":{\"properties\":{\"syn\":{\"type\":\"long\"},"
            "\"syn_ack\":{\"type\":\"long\"},\"ack\":{\"type\":\"long\"},"
            "\"psh\":{\"type\":\"long\"},\"fin\":{\"type\":\"long\"},\"rst\":{\"type\":\"long\"},"
            "\"urg\":{\"type\":\"long\"}}},"
        "\"data_bytes\":{\"properties\":{\"source\":{\"type\":\"long\"},"
            "\"destination\":{\"type\":\"long\"}}},"
        "\"protocols\":{\"type\":\"keyword\",\"ignore_above\":1024},"
        "\"tunnel\":{\"type\":\"keyword\",\"ignore_above\":1024},"
        "\"ssh\":{\"properties\":{\"client\":{\"type\":\"keyword\",\"ignore_above\":1024},"
            "\"server\":{\"type\":\"keyword\",\"ignore_above\":1024}}},"
        "\"icmp_error\":{\"properties\":{\"type\":{\"type\":\"integer\"},"
            "\"code\":{\"type\":\"integer\"}}},"
        "\"icmp_quoted\":{\"properties\":{\"type\":{\"type\":\"integer\"},"
            "\"code\":{\"type\":\"integer\"},"
            "\"source\":{\"properties\":{\"ip\":{\"type\":\"ip\"},"
                "\"port\":{\"type\":\"integer\"}}},"
            "\"destination\":{\"properties\":{\"ip\":{\"type\":\"ip\"},"
                "\"port\":{\"type\":\"integer\"}}},"
            "\"iana_number\":{\"type\":\"keyword\"},"
            "\"community_id\":{\"type\":\"keyword\"},\"count\":{\"type\":\"long\"}}},"
        "\"truncated\":{\"type\":\"boolean\"},"
        /* packet positions: kept in _source for the packet broker, never indexed */
        "\"packet_pos\":{\"type\":\"object\",\"enabled\":false},"
        "\"packet_files\":{\"type\":\"object\",\"enabled\":false},"
        "\"segment_name\":{\"type\":\"keyword\"},"
        /* the map at index time (store.h); queries expand the current map instead */
        "\"segments\":{\"type\":\"keyword\"},"
        "\"linked\":{\"type\":\"keyword\"}}}"
    "}}";

static const char stats_mapping[] =
    "{\"dynamic\":false,\"date_detection\":false,\"properties\":{"
    "\"@timestamp\":{\"type\":\"date_nanos\"},"
    "\"observer\":{\"properties\":{\"name\":{\"type\":\"keyword\"}}},"
    "\"ashiato\":{\"properties\":{\"stats\":{\"properties\":{"
        "\"pcap_received\":{\"type\":\"long\"},\"pcap_dropped\":{\"type\":\"long\"},"
        "\"pcap_if_dropped\":{\"type\":\"long\"},\"packets\":{\"type\":\"long\"},"
        "\"malformed\":{\"type\":\"long\"},\"sessions_active\":{\"type\":\"long\"},"
        "\"sessions_total\":{\"type\":\"long\"},\"sessions_evicted\":{\"type\":\"long\"},"
        "\"outbox_batches\":{\"type\":\"long\"},\"outbox_bytes\":{\"type\":\"long\"},"
        "\"outbox_dropped\":{\"type\":\"long\"},\"disk_used_bytes\":{\"type\":\"long\"},"
        "\"disk_free_bytes\":{\"type\":\"long\"},\"oldest_packet_us\":{\"type\":\"long\"},"
        "\"stats_interval_ms\":{\"type\":\"long\"}}}}}"
    "}}";

/* The alert document is detect_alert_json()'s (docs/detection.md), stored as written; the
 * ashiato.alert block is the shape store_alert_json() builds for an Alert without a doc.
 * message is text (match queries) with a keyword sub-field, message.keyword, on which
 * alert expressions compare it whole, as SQLite does (FIELD_ESKEYWORD). */
static const char alerts_mapping[] =
    "{\"dynamic\":false,\"date_detection\":false,\"properties\":{"
    "\"@timestamp\":{\"type\":\"date_nanos\"},"
    "\"event\":{\"properties\":{\"kind\":{\"type\":\"keyword\"},\"id\":{\"type\":\"keyword\"},"
        "\"start\":{\"type\":\"date_nanos\"},\"end\":{\"type\":\"date_nanos\"}}},"
    "\"rule\":{\"properties\":{\"name\":{\"type\":\"keyword\"}}},"
    "\"source\":{\"properties\":{\"ip\":{\"type\":\"ip\"}}},"
    "\"destination\":{\"properties\":{\"ip\":{\"type\":\"ip\"},"
        "\"port\":{\"type\":\"integer\"}}},"
    "\"observer\":{\"properties\":{\"name\":{\"type\":\"keyword\"}}},"
    "\"tags\":{\"type\":\"keyword\"},"
    "\"message\":{\"type\":\"text\",\"fields\":{\"keyword\":{\"type\":\"keyword\","
        "\"ignore_above\":4096}}},"
    "\"ashiato\":{\"properties\":{"
        "\"segments\":{\"type\":\"keyword\"},\"score\":{\"type\":\"double\"},"
        "\"evidence\":{\"type\":\"keyword\"},"
        "\"targets\":{\"properties\":{\"hosts\":{\"type\":\"long\"},"
            "\"ports\":{\"type\":\"long\"}}},"
        "\"sessions\":{\"type\":\"long\"},\"successes\":{\"type\":\"long\"},"
        "\"failures\":{\"type\":\"long\"},\"sources\":{\"type\":\"ip\"},"
        "\"prefix\":{\"type\":\"keyword\"},"
        "\"alert\":{\"properties\":{"
            "\"kind\":{\"type\":\"keyword\"},\"sessions\":{\"type\":\"long\"},"
            "\"session_ids\":{\"type\":\"keyword\"}}}}}"
    "}}";

static const char sensors_mapping[] =
    "{\"dynamic\":false,\"properties\":{\"stream\":{\"type\":\"keyword\"},"
    "\"sensor\":{\"type\":\"keyword\"},\"seq\":{\"type\":\"long\"},"
    "\"updated\":{\"type\":\"date\"}}}";

static void utc(int64_t us, struct tm *tm)
{
    time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    gmtime_r(&secs, tm);
}

void es_index_day(struct es *es, const char *kind, int64_t us, char *out, size_t outsz)
{
    /* the records of a batch mostly share a day: one gmtime_r and snprintf per day, not per
     * record (index_kind starts empty, so the first call always computes) */
    int64_t day = us >= 0 ? us / 86400000000LL : (us + 1) / 86400000000LL - 1;
    if (day != es->index_day || strcmp(kind, es->index_kind) != 0) {
        struct tm tm;
        utc(us, &tm);
        snprintf(es->index_name, sizeof es->index_name, "%s-%s-%04d.%02d.%02d", es->prefix,
                 kind, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        snprintf(es->index_kind, sizeof es->index_kind, "%s", kind);
        es->index_day = day;
    }
    snprintf(out, outsz, "%s", es->index_name);
}

void es_index_month(const struct es *es, const char *kind, int64_t us, char *out, size_t outsz)
{
    struct tm tm;
    utc(us, &tm);
    snprintf(out, outsz, "%s-%s-%04d.%02d", es->prefix, kind, tm.tm_year + 1900, tm.tm_mon + 1);
}

/* One template: PUT _index_template/<name> (composable) or _template/<name> (ES < 7.8). */
static int put_template(struct store *st, const char *kind, const char *pattern_suffix,
                        const char *settings, const char *mapping)
{
    struct es *es = ES(st);
    char name[96], body[8192];
    int n;
    snprintf(name, sizeof name, "%s-%s", es->prefix, kind);
    /* priority above the 0..100 of stock templates (ES's logs-*-* is 100) so ours applies */
    if (es->composable)
        n = snprintf(body, sizeof body, "{\"index_patterns\":[\"%s%s\"],\"priority\":200,"
                     "\"template\":{\"settings\":%s,\"mappings\":%s},"
                     "\"_meta\":{\"managed_by\":\"ashiato\"}}", name, pattern_suffix, settings,
                     mapping);
    else
        n = snprintf(body, sizeof body, "{\"index_patterns\":[\"%s%s\"],\"order\":200,"
                     "\"settings\":%s,\"mappings\":%s}", name, pattern_suffix, settings, mapping);
    if (n < 0 || (size_t)n >= sizeof body)
        return store_fail(st, STORE_ERR, "elasticsearch: template %s: body longer than %zu",
                          name, sizeof body);
    struct es_call c = { .method = "PUT", .body = body, .body_len = (size_t)n };
    snprintf(c.path, sizeof c.path, "/%s/%s", es->composable ? "_index_template" : "_template",
             name);
    es_http_any(es->http, &c);
    int rc = STORE_OK;
    if (c.status != 200) {
        char what[128];
        snprintf(what, sizeof what, "install template %s", name);
        rc = es_fail_call(st, &c, what);
    }
    es_call_clear(&c);
    return rc;
}

int es_install_templates(struct store *st)
{
    /* translog durability "request" (the default, stated so no other template can loosen
     * it): a bulk answer means fsync'd, which is what lets the aggregator acknowledge. */
    static const char daily[] = "{\"index\":{\"translog\":{\"durability\":\"request\"}}}";
    static const char single[] = "{\"index\":{\"number_of_shards\":1,"
                                 "\"translog\":{\"durability\":\"request\"}}}";
    int rc;
    if ((rc = put_template(st, "sessions", "-*", daily, sessions_mapping)) != STORE_OK ||
        (rc = put_template(st, "stats", "-*", daily, stats_mapping)) != STORE_OK ||
        (rc = put_template(st, "alerts", "-*", daily, alerts_mapping)) != STORE_OK ||
        (rc = put_template(st, "sensors", "", single, sensors_mapping)) != STORE_OK)
        return rc;
    return STORE_OK;
}
