/* pcap_retention.c -- retention of the pcap store (see pcap_retention.h).
 * Owns:  the rules, the deletions and their counters (behind a mutex: the writer thread runs
 *        retention, any thread may read the counters).
 * Never: runs on the capture thread. */
#include "pcap_retention.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct pcap_retention {
    struct pcap_retention_config cfg;
    struct pcap_catalog *cat;
    pthread_mutex_t mu;
    struct pcap_retention_stats stats;
    bool starving;                            /* logged once until space comes back */
};

static const char *const reason_names[] = { "free_space", "quota", "max_age" };

const char *pcap_retention_reason_name(enum pcap_retention_reason why)
{
    return (unsigned)why < ASH_ARRAY_LEN(reason_names) ? reason_names[why] : "?";
}

struct pcap_retention *pcap_retention_new(const struct pcap_retention_config *cfg,
                                          struct pcap_catalog *cat, char err[ASH_ERR_LEN])
{
    if (cfg->min_free_percent < 0 || cfg->min_free_percent > 99 || cfg->min_free_bytes < 0 ||
        cfg->quota < 0 || cfg->max_age < 0) {
        snprintf(err, ASH_ERR_LEN, "pcap retention: expected pcap_min_free_percent 0..99 and "
                 "non-negative bytes and seconds, got %lld%%, %lld, %lld, %lld",
                 cfg->min_free_percent, cfg->min_free_bytes, cfg->quota, cfg->max_age);
        return NULL;
    }
    struct pcap_retention *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, ASH_ERR_LEN, "pcap_retention: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->cat = cat;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void pcap_retention_free(struct pcap_retention *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* true if the file system holding the store is below a free-space threshold */
static bool low_on_space(const struct pcap_retention *r, unsigned long long *free_bytes)
{
    struct statvfs vfs;
    if (!r->cfg.min_free_percent && !r->cfg.min_free_bytes)
        return false;
    if (statvfs(pcap_catalog_dir(r->cat), &vfs) < 0 || vfs.f_blocks == 0)
        return false;
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    *free_bytes = avail;
    if (r->cfg.min_free_bytes && avail < (unsigned long long)r->cfg.min_free_bytes)
        return true;
    if (r->cfg.reserve_bytes > 0 && avail < (unsigned long long)r->cfg.reserve_bytes)
        return true;
    return r->cfg.min_free_percent &&
           (unsigned long long)vfs.f_bavail * 100 < (unsigned long long)vfs.f_blocks * (unsigned long long)r->cfg.min_free_percent;
}

bool pcap_retention_low_on_space(struct pcap_retention *r)
{
    unsigned long long free_bytes;
    return low_on_space(r, &free_bytes);
}

static int delete_file(struct pcap_retention *r, struct pcap_catalog_file *f,
                       enum pcap_retention_reason why, int64_t now_us)
{
    char path[1300], err[ASH_ERR_LEN];
    int rc = 0;
    if (pcap_catalog_path(r->cat, f->name, NULL, path, sizeof path) == 0 &&
        unlink(path) < 0 && errno != ENOENT) {
        log_error("pcap_retention", "cannot delete file=%s id=%" PRIu64 ": %s", path, f->id,
                  strerror(errno));
        return -1;
    }
    if (pcap_catalog_path(r->cat, f->name, ".idx", path, sizeof path) == 0 &&
        unlink(path) < 0 && errno != ENOENT)
        rc = -1;                                     /* the pcap is gone: still expired */
    f->state = PCAP_CATALOG_EXPIRED;
    f->changed_us = clock_wall_us();
    if (pcap_catalog_put(r->cat, f, err) < 0) {
        log_error("pcap_retention", "catalogue: %s", err);
        rc = -1;
    }
    log_info("pcap_retention", "deleted file=%s id=%" PRIu64 " reason=%s bytes=%" PRIu64
             " packets=%" PRIu64 " last_packet_age_s=%" PRId64, f->name, f->id,
             pcap_retention_reason_name(why), f->size, f->packets,
             f->last_us ? (now_us - f->last_us) / 1000000 : 0);
    return rc;
}

int pcap_retention_run(struct pcap_retention *r, int64_t now_us, uint64_t current_id)
{
    struct pcap_catalog_file *v;
    size_t n;
    int deleted = 0, errors = 0;
    uint64_t bytes_deleted = 0, by_reason[PCAP_RETENTION_REASONS] = { 0 };
    bool starved = false;

    if (pcap_catalog_snapshot(r->cat, &v, &n) < 0)
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].state != PCAP_CATALOG_EXPIRED)
            total += v[i].size;
    for (size_t i = 0; i < n; i++) {
        struct pcap_catalog_file *f = &v[i];
        unsigned long long avail = 0;
        enum pcap_retention_reason why;
        if (f->state != PCAP_CATALOG_CLOSED || f->id == current_id)
            continue;                                /* never the file being written */
        if (r->cfg.max_age && f->last_us < now_us - r->cfg.max_age * 1000000LL)
            why = PCAP_RETENTION_MAX_AGE;
        else if (r->cfg.quota && total > (uint64_t)r->cfg.quota)
            why = PCAP_RETENTION_QUOTA;
        else if (low_on_space(r, &avail))
            why = PCAP_RETENTION_FREE_SPACE;
        else
            break;                                   /* the oldest left may stay: done */
        if (delete_file(r, f, why, now_us) < 0)
            errors++;
        if (f->state == PCAP_CATALOG_EXPIRED) {
            total -= f->size;
            bytes_deleted += f->size;
            by_reason[why]++;
            deleted++;
        }
    }
    unsigned long long avail = 0;
    if (low_on_space(r, &avail)) {
        starved = true;
        if (!r->starving)
            log_warn("pcap_retention", "free space below threshold (free=%llu bytes, "
                     "min_free_bytes=%lld, min_free_percent=%lld) and only the file being "
                     "written is left", avail, r->cfg.min_free_bytes, r->cfg.min_free_percent);
    } else if (r->starving) {
        log_info("pcap_retention", "free space above threshold again (free=%llu bytes)", avail);
    }
    r->starving = starved;
    free(v);

    pthread_mutex_lock(&r->mu);
    r->stats.runs++;
    r->stats.deleted_files += (uint64_t)deleted;
    r->stats.deleted_bytes += bytes_deleted;
    for (int k = 0; k < PCAP_RETENTION_REASONS; k++)
        r->stats.by_reason[k] += by_reason[k];
    r->stats.errors += (uint64_t)errors;
    r->stats.starved += starved;
    pthread_mutex_unlock(&r->mu);
    return deleted;
}

void pcap_retention_stats(struct pcap_retention *r, struct pcap_retention_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}
