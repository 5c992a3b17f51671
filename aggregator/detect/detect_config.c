/* detect_config.c -- the detection settings: defaults (see docs/detection.md for where each
 * comes from) and the INI sections [detect], [segments] and [sensors].
 * Owns:  struct detect_config's values and their validation.
 * Never: keeps state; reads any file but the one detect_config_load is given (through
 *        common/config.c's config_ini_walk, so the same line rules as every ashiato INI). */
#include "detect.h"

#include "config.h"
#include "segmap.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void detect_config_defaults(struct detect_config *c)
{
    memset(c, 0, sizeof *c);
    c->link_skew_us = 1000000;
    c->scan_window_us = 300 * 1000000LL;
    c->address_scan_hosts = 25;
    c->address_scan_hosts_internal = 100;
    c->address_scan_hosts_darknet = 3;
    c->darknet_window_us = 3600 * 1000000LL;
    c->port_scan_ports = 15;
    c->trw_theta0 = 0.8;
    c->trw_theta1 = 0.2;
    c->trw_alpha = 0.01;
    c->trw_beta = 0.99;
    c->trw_memory_us = 3600 * 1000000LL;
    c->lateral_window_us = 3600 * 1000000LL;
    c->lateral_segments = 2;
    c->lateral_min_targets = 4;
    c->known_server_clients = 3;
    c->lateral_baseline_us = 600 * 1000000LL;
    static const uint16_t admin[] = { 22, 135, 139, 445, 3389, 5985, 5986 };
    memcpy(c->admin_ports, admin, sizeof admin);
    c->n_admin_ports = ASH_ARRAY_LEN(admin);
    c->spike_bin_us = 60 * 1000000LL;
    c->spike_lambda = 0.25;
    c->spike_sigmas = 3.0;
    c->spike_min_count = 100;
    c->spike_min_ratio = 1.5;
    c->spike_warmup_bins = 5;
    c->spike_grace_us = 600 * 1000000LL;
    c->policy_private = true;
    c->policy_foreign_segment = true;
    c->policy_period_us = 3600 * 1000000LL;
    c->max_sources = 262144;
    c->max_targets = 20;
    c->webhook_retries = 3;
}

int detect_addr_set(uint8_t out[16], const uint8_t *ip, size_t len)
{
    return segmap_addr(out, ip, len);
}

bool detect_addr_is_v4(const uint8_t a[16])
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    return memcmp(a, mapped, 12) == 0;
}

void detect_addr_text(const uint8_t a[16], char out[48])
{
    if (detect_addr_is_v4(a))
        inet_ntop(AF_INET, a + 12, out, 48);
    else
        inet_ntop(AF_INET6, a, out, 48);
}

int detect_prefix_parse(const char *text, struct detect_prefix *p)
{
    char buf[80];
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    while (n && isspace((unsigned char)*text)) {
        text++;
        n--;
    }
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1)
            return -1;
    }
    uint8_t raw[16];
    memset(p, 0, sizeof *p);
    p->segment = -1;
    if (inet_pton(AF_INET, buf, raw) == 1) {
        if (bits > 32)
            return -1;
        detect_addr_set(p->addr, raw, 4);
        p->bits = (uint8_t)(96 + (bits < 0 ? 32 : bits));
    } else if (inet_pton(AF_INET6, buf, raw) == 1) {
        if (bits > 128)
            return -1;
        memcpy(p->addr, raw, 16);
        p->bits = (uint8_t)(bits < 0 ? 128 : bits);
    } else {
        return -1;
    }
    for (unsigned i = p->bits; i < 128; i++)        /* host bits off */
        p->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    return 0;
}

/* the prefix's host bits are off (detect_prefix_parse); common/segmap.c matches */
bool detect_prefix_match(const struct detect_prefix *p, const uint8_t addr[16])
{
    return segmap_prefix_match(p->addr, p->bits, addr);
}

/* "a, b c" -> each prefix into list; -1 with err on a bad one or too many */
static int prefix_list(const char *value, struct detect_prefix *list, size_t *n, int segment,
                       const char *key, char err[ASH_ERR_LEN])
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", value);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (*n >= DETECT_MAX_PREFIXES) {
            snprintf(err, ASH_ERR_LEN, "%s: more than %d prefixes", key, DETECT_MAX_PREFIXES);
            return -1;
        }
        if (detect_prefix_parse(tok, &list[*n]) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: expected an address or prefix, got '%s'", key, tok);
            return -1;
        }
        list[(*n)++].segment = (int16_t)segment;
    }
    return 0;
}

static int segment_index(struct detect_config *c, const char *name, bool add)
{
    for (size_t i = 0; i < c->n_segments; i++)
        if (!strcmp(c->segments[i], name))
            return (int)i;
    if (!add || c->n_segments >= DETECT_MAX_SEGMENTS || strlen(name) >= DETECT_NAME_LEN)
        return -1;
    snprintf(c->segments[c->n_segments], DETECT_NAME_LEN, "%s", name);
    return (int)c->n_segments++;
}

static int num(const char *key, const char *v, double lo, double hi, double *out,
               char err[ASH_ERR_LEN])
{
    double x;
    if (config_parse_double(v, &x) < 0 || x < lo || x > hi) {
        snprintf(err, ASH_ERR_LEN, "%s: expected a number %g..%g, got '%s'", key, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int detect_config_set(struct detect_config *c, const char *section, const char *key,
                      const char *value, char err[ASH_ERR_LEN])
{
    if (!strcmp(section, "segments")) {
        int s = segment_index(c, key, true);
        if (s < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: too many segments or name too long", key);
            return -1;
        }
        return prefix_list(value, c->prefixes, &c->n_prefixes, s, key, err);
    }
    if (!strcmp(section, "sensors")) {
        int s = segment_index(c, value, false);
        if (s < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: segment '%s' is not in [segments] (list it first)",
                     key, value);
            return -1;
        }
        if (c->n_sensors >= ASH_ARRAY_LEN(c->sensors) || strlen(key) >= DETECT_NAME_LEN) {
            snprintf(err, ASH_ERR_LEN, "%s: too many sensors or name too long", key);
            return -1;
        }
        snprintf(c->sensors[c->n_sensors].sensor, DETECT_NAME_LEN, "%s", key);
        c->sensors[c->n_sensors++].segment = s;
        return 0;
    }
    if (strcmp(section, "detect"))
        return 1;
    if (!strcmp(key, "approved"))
        return prefix_list(value, c->approved, &c->n_approved, -1, key, err);
    if (!strcmp(key, "darknet"))
        return prefix_list(value, c->darknet, &c->n_darknet, -1, key, err);
    if (!strcmp(key, "admin_ports")) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", value);
        c->n_admin_ports = 0;
        char *save = NULL;
        for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
            double p;
            if (num(key, t, 1, 65535, &p, err) < 0)
                return -1;
            if (c->n_admin_ports >= DETECT_ADMIN_PORTS) {
                snprintf(err, ASH_ERR_LEN, "%s: at most %d ports", key, DETECT_ADMIN_PORTS);
                return -1;
            }
            c->admin_ports[c->n_admin_ports++] = (uint16_t)p;
        }
        return 0;
    }
    if (!strcmp(key, "alert_webhook")) {
        if (strlen(value) >= sizeof c->alert_webhook ||
            (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))) {
            snprintf(err, ASH_ERR_LEN, "%s: expected an http(s):// URL under %zu bytes", key,
                     sizeof c->alert_webhook);
            return -1;
        }
        snprintf(c->alert_webhook, sizeof c->alert_webhook, "%s", value);
        return 0;
    }
    if (!strcmp(key, "alert_syslog")) {
        c->alert_syslog = !strcasecmp(value, "true") || !strcmp(value, "1") ||
                          !strcasecmp(value, "yes");
        if (!c->alert_syslog && strcasecmp(value, "false") && strcmp(value, "0") &&
            strcasecmp(value, "no")) {
            snprintf(err, ASH_ERR_LEN, "%s: expected true or false, got '%s'", key, value);
            return -1;
        }
        return 0;
    }
    if (!strcmp(key, "policy_private") || !strcmp(key, "policy_foreign_segment")) {
        bool on;
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            on = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            on = false;
        else {
            snprintf(err, ASH_ERR_LEN, "%s: expected true or false, got '%s'", key, value);
            return -1;
        }
        *(key[7] == 'p' ? &c->policy_private : &c->policy_foreign_segment) = on;
        return 0;
    }
    static const struct {
        const char *key;
        char kind;              /* s: seconds -> us, u: uint32, z: size, d: double */
        size_t off;
        double lo, hi;
    } keys[] = {
#define K(k, kind, field, lo, hi) { k, kind, offsetof(struct detect_config, field), lo, hi }
        K("link_skew", 's', link_skew_us, 0, 3600),
        K("scan_window", 's', scan_window_us, 1, 86400),
        K("address_scan_hosts", 'u', address_scan_hosts, 2, 1e6),
        K("address_scan_hosts_internal", 'u', address_scan_hosts_internal, 2, 1e6),
        K("address_scan_hosts_darknet", 'u', address_scan_hosts_darknet, 1, 1e6),
        K("darknet_window", 's', darknet_window_us, 1, 7 * 86400),
        K("port_scan_ports", 'u', port_scan_ports, 2, 65536),
        K("trw_theta0", 'd', trw_theta0, 0.001, 0.999),
        K("trw_theta1", 'd', trw_theta1, 0.001, 0.999),
        K("trw_alpha", 'd', trw_alpha, 1e-6, 0.5),
        K("trw_beta", 'd', trw_beta, 0.5, 0.999999),
        K("trw_memory", 's', trw_memory_us, 1, 7 * 86400),
        K("lateral_window", 's', lateral_window_us, 1, 7 * 86400),
        K("lateral_segments", 'u', lateral_segments, 1, DETECT_MAX_SEGMENTS),
        K("lateral_min_targets", 'u', lateral_min_targets, 1, 1e6),
        K("known_server_clients", 'u', known_server_clients, 1, 1e6),
        K("lateral_baseline", 's', lateral_baseline_us, 0, 7 * 86400),
        K("spike_bin", 's', spike_bin_us, 1, 86400),
        K("spike_lambda", 'd', spike_lambda, 0.01, 1),
        K("spike_sigmas", 'd', spike_sigmas, 0.5, 100),
        K("spike_min_count", 'u', spike_min_count, 0, 1e9),
        K("spike_min_ratio", 'd', spike_min_ratio, 1, 1000),
        K("spike_warmup_bins", 'u', spike_warmup_bins, 1, 60),
        K("spike_grace", 's', spike_grace_us, 0, 86400),
        K("policy_period", 's', policy_period_us, 1, 7 * 86400),
        K("max_sources", 'z', max_sources, 16, 1e9),
        K("max_targets", 'u', max_targets, 1, DETECT_TARGETS_MAX),
        K("webhook_retries", 'u', webhook_retries, 0, 100),
#undef K
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(keys); i++) {
        if (strcmp(key, keys[i].key))
            continue;
        double x;
        if (num(key, value, keys[i].lo, keys[i].hi, &x, err) < 0)
            return -1;
        void *p = (char *)c + keys[i].off;
        switch (keys[i].kind) {
        case 's': *(int64_t *)p = (int64_t)(x * 1e6); break;
        case 'u': *(uint32_t *)p = (uint32_t)x; break;
        case 'z': *(size_t *)p = (size_t)x; break;
        default: *(double *)p = x; break;
        }
        return 0;
    }
    snprintf(err, ASH_ERR_LEN, "%s: unknown key in [detect]", key);
    return -1;
}

/* one key of the file (common/config.c's walker: its line rules, "file:line" in where) */
static int on_key(void *user, const char *section, const char *key, const char *value,
                  const char *where, char err[ASH_ERR_LEN])
{
    char e[ASH_ERR_LEN];
    if (detect_config_set(user, section, key, value, e) < 0) {
        snprintf(err, ASH_ERR_LEN, "%.100s: %.150s", where, e);
        return -1;
    }
    return 0;
}

void detect_config_placement(struct detect_config *dst, const struct detect_config *src)
{
    memcpy(dst->segments, src->segments, sizeof dst->segments);
    dst->n_segments = src->n_segments;
    memcpy(dst->prefixes, src->prefixes, sizeof dst->prefixes);
    dst->n_prefixes = src->n_prefixes;
    memcpy(dst->sensors, src->sensors, sizeof dst->sensors);
    dst->n_sensors = src->n_sensors;
    memcpy(dst->approved, src->approved, sizeof dst->approved);
    dst->n_approved = src->n_approved;
    memcpy(dst->darknet, src->darknet, sizeof dst->darknet);
    dst->n_darknet = src->n_darknet;
}

int detect_config_load(struct detect_config *c, const char *path, char err[ASH_ERR_LEN])
{
    return config_ini_walk(path, on_key, c, err) < 0 ? -1 : 0;
}
