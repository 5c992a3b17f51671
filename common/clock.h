/* clock.h -- the two clocks ashiato reads: wall time (records, stats) and monotonic time
 * (timeouts, pacing, rates), as inline helpers so no module writes its own.
 * Never: is used per packet for packet times (those come from the capture). */
#ifndef ASHIATO_CLOCK_H
#define ASHIATO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* microseconds since the epoch */
static inline int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* milliseconds of the monotonic clock */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* seconds of the monotonic clock, with fractions */
static inline double clock_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
