/* ashiato.h -- the few definitions every ashiato module shares.
 * Owns:  ASH_ERR_LEN (size of the caller's error buffer, as PCAP_ERRBUF_SIZE), the version,
 *        and small helpers with no state (array size, overflow-checked multiply).
 * Never: declares anything with state, or pulls in a dependency's headers. */
#ifndef ASHIATO_H
#define ASHIATO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifndef ASHIATO_VERSION              /* CMake passes project(VERSION) */
#define ASHIATO_VERSION "0.1.0"
#endif
#define ASH_ERR_LEN 256

#define ASH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define ASH_LIKELY(x)   __builtin_expect(!!(x), 1)
#define ASH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ASH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ASH_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ASH_LIKELY(x) (x)
#define ASH_UNLIKELY(x) (x)
#define ASH_PRINTF(f, a)
#define ASH_WARN_UNUSED
#endif

/* count * size with overflow check; returns false (and leaves *out alone) on overflow */
static inline bool ash_mul_size(size_t count, size_t size, size_t *out)
{
    if (size != 0 && count > SIZE_MAX / size)
        return false;
    *out = count * size;
    return true;
}

/* a 64-bit finaliser (MurmurHash3's fmix64): every input bit moves every output bit */
static inline uint64_t ash_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* allocate a zeroed array of count elements, NULL on overflow or no memory */
void *ash_calloc_array(size_t count, size_t size);

#endif
