/* fuzz_detect_json.c -- libFuzzer over `ashiato detect`'s input: each line of the input goes
 * through detect_json_record (aggregator/detect/detect_json.c, the session-JSON line reader of
 * cli/cmd_detect.c) and, when it makes a record, into a detection engine with small thresholds
 * (so the scan, TRW, lateral, spike and policy paths all run), then a tick and a flush that
 * render every alert as JSON. A record must come out within the documented bounds; any other
 * fault is ASan's/UBSan's to report. Seeds: real --emit-json lines (campusgen, the scan
 * captures) and the crashers found. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

static struct detect_config cfg;
static int ready;

static void sink(const struct detect_alert *a, bool final, void *ctx)
{
    (void)ctx;
    if (!final)
        return;
    char *doc = detect_alert_json(a, &cfg);
    if (!doc || doc[0] != '{')
        abort();
    free(doc);
}

static void setup(void)
{
    char err[ASH_ERR_LEN];
    detect_config_defaults(&cfg);
    static const char *const keys[][3] = {
        { "segments", "dept-1", "198.18.1.0/24, 2001:db8:1::/48" },
        { "segments", "dept-2", "198.18.2.0/24" },
        { "segments", "servers", "198.18.200.0/24" },
        { "sensors", "sensor-1", "dept-1" }, { "sensors", "sensor-2", "dept-2" },
        { "detect", "address_scan_hosts", "3" }, { "detect", "port_scan_ports", "3" },
        { "detect", "lateral_min_targets", "1" }, { "detect", "spike_min_count", "2" },
        { "detect", "spike_warmup_bins", "1" }, { "detect", "max_sources", "64" },
        { "detect", "approved", "198.18.2.9" }, { "detect", "darknet", "198.18.99.0/24" },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (detect_config_set(&cfg, keys[i][0], keys[i][1], keys[i][2], err) != 0)
            abort();
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    char err[ASH_ERR_LEN];
    struct detect *d = detect_new(&cfg, sink, NULL, err);
    if (!d)
        abort();
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t last = 0;
    for (char *line = text, *next; line; line = next) {
        next = memchr(line, '\n', (size_t)(text + size - line));
        if (next)
            *next++ = '\0';
        struct detect_record r;
        char *strings = NULL;
        if (detect_json_record(line, &r, &strings) < 0) {
            if (strings)
                abort();
            continue;
        }
        /* 1970..2100, ends not before starts, every string set */
        if (r.start_us < 0 || r.start_us > 4200000000LL * 1000000 || r.end_us < r.start_us ||
            !r.sensor || !r.session_id || !r.community_id || !r.conn_state)
            abort();
        detect_feed(d, &r);
        if (r.start_us > last)
            last = r.start_us;
        free(strings);
    }
    detect_tick(d, last + 120 * 1000000LL);
    detect_flush(d);
    detect_free(d);
    free(text);
    return 0;
}
