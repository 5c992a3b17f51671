/* log.h -- one-line logging for every ashiato binary.
 * Owns:  the process log level and where lines go (stderr, or a file set by main.c).
 * Never: is called per packet or per record (those are counters); allocates.
 * Lines: "2026-11-26T01:02:03Z info sensor: started interface=eth0 snaplen=65535". */
#ifndef ASHIATO_LOG_H
#define ASHIATO_LOG_H

#include <stdio.h>
#include "ashiato.h"

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern enum log_level log_level_current;

void log_set_level(enum log_level level);
/* parse "error", "warn", "info", "debug"; -1 if unknown */
int log_level_parse(const char *name);
void log_set_file(FILE *f);
/* set the level by name; -1 and err "log_level: expected ..." if unknown */
int log_level_apply(const char *name, char err[ASH_ERR_LEN]);
void log_write(enum log_level level, const char *module, const char *fmt, ...) ASH_PRINTF(3, 4);

#define log_at(lvl, module, ...) \
    do { if ((lvl) <= log_level_current) log_write((lvl), (module), __VA_ARGS__); } while (0)
#define log_error(module, ...) log_at(LOG_LEVEL_ERROR, module, __VA_ARGS__)
#define log_warn(module, ...)  log_at(LOG_LEVEL_WARN, module, __VA_ARGS__)
#define log_info(module, ...)  log_at(LOG_LEVEL_INFO, module, __VA_ARGS__)
#ifdef NDEBUG_LOG
#define log_debug(module, ...) do { } while (0)
#else
#define log_debug(module, ...) log_at(LOG_LEVEL_DEBUG, module, __VA_ARGS__)
#endif

#endif
