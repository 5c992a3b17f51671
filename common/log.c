/* log.c -- one-line logging (see log.h).
 * Owns:  the level and the output stream.
 * Never: allocates; writes partial lines (one fprintf per line on an unbuffered stream). */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

enum log_level log_level_current = LOG_LEVEL_INFO;
static FILE *log_out;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level) { log_level_current = level; }

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < ASH_ARRAY_LEN(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void log_set_file(FILE *f) { log_out = f; }

int log_level_apply(const char *name, char err[ASH_ERR_LEN])
{
    int lvl = log_level_parse(name);
    if (lvl < 0) {
        snprintf(err, ASH_ERR_LEN, "log_level: expected error, warn, info or debug, got '%s'", name);
        return -1;
    }
    log_set_level((enum log_level)lvl);
    return 0;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    char msg[1024], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    fprintf(log_out ? log_out : stderr, "%s %s %s: %s\n", stamp, level_names[level], module, msg);
    fflush(log_out ? log_out : stderr);
    pthread_mutex_unlock(&log_lock);
}
