/* pcap_store_dio.c -- the pcap store's direct-I/O writes (O_DIRECT), used by the writer thread
 *                    for files on file systems that support it (see pcap_store_internal.h).
 * Owns:  the probe of a file's direct-I/O alignment (statx STATX_DIOALIGN), the aligned staging
 *        block, and the rule that decides, span by span, whether bytes go to the disk straight
 *        from where they lie (the store's ring, a mapped input file) or through the stage.
 * Never: reads or changes what it writes (records are bytes to it), runs on the capture
 *        thread, leaves the file longer than its records once the file is finished.
 *
 * Why: a buffered write copies every byte into the page cache (allocating a page for each 4 KiB)
 * and the kernel's flusher writes it out later; on the benchmark VM that cost 3.1 s of system
 * time per 1.2 GB on ext4, more than the sensor's whole packet path. With O_DIRECT the device
 * reads the bytes where they are (about 0.04 s of system time for the same 1.2 GB). Arkime
 * writes its pcap with O_DIRECT by default and Stenographer does too, for the same reason.
 *
 * The rule: the kernel takes a direct write only when the memory address, the file offset and
 * the length are multiples of the file system's alignment A. A span of record bytes whose
 * address and file offset are congruent modulo A (the ring is laid out that way at each
 * rotation, and a mapped input's first file is too) goes out directly in whole blocks; the
 * bytes before its first block boundary and after its last one go through the stage. Other
 * spans are copied into the stage, which is written whenever it fills. At the end of each batch
 * the stage's whole blocks are written and its last, partial block is written padded with
 * zeros, so every byte handed over is on disk (readers never read past the catalogue's size,
 * so they never see the padding); the next batch rewrites that block. Finishing a file
 * truncates it to its records; a crash before that leaves at most A-1 zero bytes, which the
 * repair at open cuts (a zero record header has caplen 0, never a record of the store). */
#include "pcap_store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

size_t store_dio_probe(int fd)
{
#if defined(SYS_statx) && defined(STATX_DIOALIGN)
    struct statx sx;
    memset(&sx, 0, sizeof sx);
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) < 0 ||
        !(sx.stx_mask & STATX_DIOALIGN) || !sx.stx_dio_mem_align || !sx.stx_dio_offset_align)
        return 0;                             /* unknown or unsupported: buffered */
    size_t a = sx.stx_dio_mem_align > sx.stx_dio_offset_align ? sx.stx_dio_mem_align : sx.stx_dio_offset_align;
    if (a & (a - 1) || a > STORE_DIO_STAGE / 4)
        return 0;                             /* not a power of two, or absurd: do not guess */
    return a < 512 ? 512 : a;
#else
    (void)fd;
    return 0;
#endif
}

/* A short direct write (the file system filled up) that did not end on a block boundary
 * cannot be continued with O_DIRECT: the rest would be refused as misaligned (EINVAL, which
 * the writer takes for "no direct I/O here"). It is reported as what it is, ENOSPC. */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off, size_t align)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0 || ((size_t)w < n && ((size_t)w & (align - 1)))) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* the stage's bytes, a whole number of blocks, to the file; the stage is then empty */
static int stage_write(struct store_dio *d, int fd)
{
    if (d->stage_len && pwrite_all(fd, d->stage, d->stage_len, d->stage_off, d->align) < 0)
        return -1;
    d->stage_off += d->stage_len;
    d->stage_len = 0;
    return 0;
}

static int stage_put(struct store_dio *d, int fd, const uint8_t *p, size_t n)
{
    while (n) {
        size_t c = STORE_DIO_STAGE - d->stage_len;
        if (c > n)
            c = n;
        memcpy(d->stage + d->stage_len, p, c);
        d->stage_len += c;
        d->staged += c;
        p += c;
        n -= c;
        if (d->stage_len == STORE_DIO_STAGE && stage_write(d, fd) < 0)
            return -1;
    }
    return 0;
}

/* the stage's whole blocks out, and its partial last block padded, so that every byte handed
 * over is in the file; the partial block stays staged for the next batch */
static int stage_flush(struct store_dio *d, int fd)
{
    size_t a = d->align, whole = d->stage_len & ~(a - 1), rest = d->stage_len - whole;
    if (whole) {
        if (pwrite_all(fd, d->stage, whole, d->stage_off, d->align) < 0)
            return -1;
        memmove(d->stage, d->stage + whole, rest);
        d->stage_off += whole;
        d->stage_len = rest;
    }
    if (!rest)
        return 0;
    memset(d->stage + rest, 0, a - rest);
    return pwrite_all(fd, d->stage, a, d->stage_off, a);
}

int store_dio_begin(struct store_dio *d, int fd, size_t align, const uint8_t *hdr, size_t len)
{
    d->align = align;
    d->stage_off = 0;
    d->stage_len = 0;
    memcpy(d->stage, hdr, len);
    d->stage_len = len;
    d->staged += len;
    return stage_flush(d, fd);
}

int store_dio_writev(struct store_dio *d, int fd, const struct iovec *iov, int n)
{
    const uint64_t a = d->align;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        uint64_t off = d->stage_off + d->stage_len;           /* where p goes in the file */
        size_t head = (size_t)(-off & (a - 1));               /* bytes to the next boundary */
        if ((((uintptr_t)p - off) & (a - 1)) == 0 && len >= head + a) {
            /* congruent: complete the stage's block, then whole blocks straight from p */
            if (stage_put(d, fd, p, head) < 0 || stage_write(d, fd) < 0)
                return -1;
            p += head;
            len -= head;
            size_t k = len & ~(size_t)(a - 1);
            if (pwrite_all(fd, p, k, d->stage_off, (size_t)a) < 0)
                return -1;
            d->stage_off += k;
            d->direct += k;
            p += k;
            len -= k;
        }
        if (stage_put(d, fd, p, len) < 0)
            return -1;
    }
    return stage_flush(d, fd);
}

int store_dio_finish(struct store_dio *d, int fd)
{
    uint64_t size = d->stage_off + d->stage_len;
    d->align = 0;
    return ftruncate(fd, (off_t)size);        /* the padding of the last block goes */
}
