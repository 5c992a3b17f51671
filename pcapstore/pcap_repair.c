/* pcap_repair.c -- the store directory after an unclean stop (see pcap_repair.h).
 * Owns:  the decision per catalogue entry (in order, repair, or gone) and the scan, truncation
 *        and sidecar rebuild of a file that needs it.
 * Never: runs while a writer is active (pcap_store_open calls it before starting one). */
#include "pcap_repair.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pcap_format.h"

/* bring one catalogue entry in line with its file after an unclean stop */
static void repair_one(struct pcap_catalog *cat, struct pcap_catalog_file *f, struct pcap_repair_stats *rs)
{
    char path[1300], ipath[1300], err[ASH_ERR_LEN];
    struct stat sb, ib;
    pcap_catalog_path(cat, f->name, NULL, path, sizeof path);
    pcap_catalog_path(cat, f->name, ".idx", ipath, sizeof ipath);
    bool was_open = f->state == PCAP_CATALOG_OPEN;
    if (stat(path, &sb) < 0) {
        log_warn("pcap_repair", "file missing file=%s id=%" PRIu64 " state=%s: marked expired",
                 f->name, f->id, pcap_catalog_state_name(f->state));
        rs->missing++;
        f->state = PCAP_CATALOG_EXPIRED;
        f->cut = true;
        f->changed_us = clock_wall_us();
        if (pcap_catalog_put(cat, f, err) < 0)
            log_error("pcap_repair", "%s", err);
        return;
    }
    bool idx_ok = stat(ipath, &ib) == 0 && ib.st_size % PCAP_FORMAT_SEG_LEN == 0 &&
                  (ib.st_size > 0 || (uint64_t)sb.st_size <= PCAP_FORMAT_FILE_HDR);
    if (!was_open && (uint64_t)sb.st_size == f->size && idx_ok)
        return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int ifd = open(ipath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct pcap_format_scan sc;
    if (fd < 0 || pcap_format_scan_file(fd, ifd, &sc, err) < 0) {
        log_error("pcap_repair", "cannot repair file=%s id=%" PRIu64 ": %s; marked expired", f->name,
                  f->id, fd < 0 ? strerror(errno) : err);
        f->state = PCAP_CATALOG_EXPIRED;
        f->cut = true;
    } else {
        uint64_t dropped = (uint64_t)sb.st_size - sc.good_end;
        if (dropped && ftruncate(fd, (off_t)sc.good_end) < 0)
            log_error("pcap_repair", "truncate file=%s: %s", f->name, strerror(errno));
        fsync(fd);
        if (ifd >= 0)
            fsync(ifd);
        f->state = PCAP_CATALOG_CLOSED;
        f->cut = f->cut || was_open || dropped;
        f->size = sc.good_end;
        f->packets = sc.packets;
        f->first_us = sc.first_us;
        f->last_us = sc.last_us;
        f->linktype = sc.linktype;
        f->snaplen = sc.snaplen;
        rs->files++;
        rs->bytes_dropped += dropped;
        log_warn("pcap_repair", "repaired file=%s id=%" PRIu64 " was=%s kept_packets=%" PRIu64
                 " kept_bytes=%" PRIu64 " dropped_bytes=%" PRIu64, f->name, f->id,
                 was_open ? "open" : "closed", sc.packets, sc.good_end, dropped);
    }
    f->changed_us = clock_wall_us();
    if (pcap_catalog_put(cat, f, err) < 0)
        log_error("pcap_repair", "%s", err);
    if (fd >= 0)
        close(fd);
    if (ifd >= 0)
        close(ifd);
}

int pcap_repair_all(struct pcap_catalog *cat, struct pcap_repair_stats *out, char err[ASH_ERR_LEN])
{
    struct pcap_catalog_file *v;
    size_t n;
    memset(out, 0, sizeof *out);
    if (pcap_catalog_snapshot(cat, &v, &n) < 0) {
        snprintf(err, ASH_ERR_LEN, "pcap_repair: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].state != PCAP_CATALOG_EXPIRED)
            repair_one(cat, &v[i], out);
    free(v);
    return 0;
}
