/* cmd_sensors.c -- `ashiato sensors`: each sensor's health (its last SensorStats, when it was
 *                  last seen) and the aggregator's counters, from the API's stats.json.
 * Owns:  the table it prints. Never: reads the store itself. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "api_client.h"
#include "cmd.h"

static long long num(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? (long long)json_object_get_int64(v) : 0;
}

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "-";
}

int cmd_sensors(int argc, char **argv)
{
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 1 && !json) {
        FILE *out = strcmp(argv[1], "--help") && strcmp(argv[1], "-h") ? stderr : stdout;
        fprintf(out, "Usage: ashiato sensors [--json]\nEach sensor's last stats and when it was last "
                "seen, and the aggregator's counters (the API's stats.json).\nServer and credentials: "
                "~/.config/ashiato/cli.ini or ASHIATO_URL/ASHIATO_USER/ASHIATO_PASSWORD.\n");
        return out == stdout ? 0 : 1;
    }
    struct api_answer a;
    int rc = api_client_fetch("ashiato sensors", "/stats.json", NULL, 0, json ? stdout : NULL, &a);
    if (rc != 0 || json) {
        if (rc == 0)
            api_answer_free(&a);
        return rc;
    }
    json_object *o = json_tokener_parse(a.body ? a.body : ""), *data, *agg;
    api_answer_free(&a);
    if (!o || !json_object_object_get_ex(o, "data", &data)) {
        fprintf(stderr, "ashiato sensors: the answer is not stats.json\n");
        json_object_put(o);
        return 1;
    }
    printf("%-16s %-28s %8s %12s %10s %10s %12s %12s\n", "sensor", "last seen", "ago(s)", "packets",
           "dropped", "sessions", "outbox", "disk free");
    for (size_t i = 0; i < json_object_array_length(data); i++) {
        json_object *s = json_object_array_get_idx(data, i);
        printf("%-16s %-28s %8lld %12lld %10lld %10lld %12lld %12lld\n", str(s, "sensor"),
               str(s, "lastSeen"), num(s, "lastSeenAgoSeconds"), num(s, "packets"),
               num(s, "pcap_dropped") + num(s, "pcap_if_dropped"), num(s, "sessions_total"),
               num(s, "outbox_batches"), num(s, "disk_free_bytes"));
    }
    if (json_object_object_get_ex(o, "aggregator", &agg))
        printf("aggregator: store=%s up=%llds sensors connected=%lld batches=%lld records=%lld "
               "duplicates=%lld\n", str(agg, "store"), num(agg, "uptimeSeconds"),
               num(agg, "sensorsConnected"), num(agg, "batches"), num(agg, "records"),
               num(agg, "duplicates"));
    json_object_put(o);
    return 0;
}
