/* config.h -- one key table per binary drives defaults, the INI file, flags and --help.
 * Owns:  parsing of INI files (through inih) and command-line flags into the caller's config
 *        struct, validation with "file:line: key: expected ..., got ..." messages, and the
 *        usage text.
 * Lends: nothing; string values are copied into fixed buffers of the caller's struct, string
 *        lists are allocated and released by config_free().
 * Never: exits, prints (except config_usage to the FILE given and config_main's help and
 *        version on stdout), or reads the environment.
 *
 * A binary declares `static const struct config_key keys[]`, one row per setting:
 *   { "sensor", "snaplen", "snaplen", 's', CONFIG_INT, offsetof(struct cfg, snaplen), 0,
 *     64, 262144, "65535", "bytes kept of each packet", "N" }
 * The INI file is read from `-c FILE` / `--config FILE`; flags override the file. Keys in the
 * file's section [section] apply; a key in [default] applies to every section.
 * File rules (each breach is "file:line: ..."): every `key = value` sits whole on one line of
 * at most CONFIG_MAX_LINE characters, from column 1 (an indented line is refused: INI would
 * read it as a continuation); every key is under a [section]; a section is one of an ashiato
 * program (config.c's list: [default], [sensor], [aggregator], [cli], [detect], ...: a file
 * may be shared, each binary checks only the keys of its own sections). Numbers are decimal and finite (no NaN, inf, hex or octal). */
#ifndef ASHIATO_CONFIG_H
#define ASHIATO_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "ashiato.h"

enum config_type {
    CONFIG_STR,      /* char[size] in the struct */
    CONFIG_INT,      /* long long, checked against [min, max] */
    CONFIG_SIZE,     /* long long bytes, accepts K/M/G/T suffixes (powers of 1024) */
    CONFIG_BOOL,     /* bool: true/false/yes/no/1/0/on/off; as a flag takes no argument */
    CONFIG_STRLIST,  /* struct config_strlist; repeatable flag, comma or ';' separated in INI */
    CONFIG_DOUBLE,   /* double, finite, checked against [min, max] */
};

/* The longest INI line accepted, in characters without the newline. */
#define CONFIG_MAX_LINE 65536

struct config_strlist {
    char **v;
    size_t n;
};

struct config_key {
    const char *section;
    const char *key;
    const char *flag;        /* long option without "--", NULL for INI only */
    char short_flag;         /* 0 for none */
    enum config_type type;
    size_t offset;
    size_t size;             /* CONFIG_STR buffer size */
    long long min, max;      /* CONFIG_INT / CONFIG_SIZE */
    const char *def;         /* default as text, NULL for none */
    const char *help;
    const char *metavar;
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,         /* --help was given; print config_usage() and exit 0 */
    CONFIG_VERSION = 2,      /* --version */
    CONFIG_ERR = -1,         /* err holds one line naming the file:line or flag and the key */
};

/* Fill cfg: defaults, then the INI file named by -c/--config (if any), then flags.
 * Positional arguments are not accepted. */
enum config_result config_load(const struct config_key *keys, size_t nkeys, void *cfg,
                               int argc, char **argv, char err[ASH_ERR_LEN]);

/* Apply one INI file only (for tests and reloads). */
int config_load_file(const struct config_key *keys, size_t nkeys, void *cfg, const char *path,
                     char err[ASH_ERR_LEN]);

/* For a program that reads an INI file of its own shape (keys not known in advance, such as
 * [segments] name = prefixes): walk it with the same line rules as config_load_file (whole
 * lines up to CONFIG_MAX_LINE, no indented or continuation lines, every key under a known
 * [section], errors "file:line: ..." in printable ASCII). fn is called for each key with
 * `where` ("file:line"); it returns 0 to go on, or -1 with err filled (start it with where).
 * Use this, not inih directly: inih splits lines longer than 199 characters (issue 14, M4). */
typedef int (*config_ini_fn)(void *user, const char *section, const char *key, const char *value,
                             const char *where, char err[ASH_ERR_LEN]);
int config_ini_walk(const char *path, config_ini_fn fn, void *user, char err[ASH_ERR_LEN]);

/* Parse a size such as "1G", "512M", "4096". -1 on bad text. */
int config_parse_size(const char *text, long long *out);

/* Parse a finite decimal number ("0.5", "20", "1e3"). -1 on garbage, NaN or infinity. */
int config_parse_double(const char *text, double *out);

void config_usage(FILE *out, const char *prog, const char *summary,
                  const struct config_key *keys, size_t nkeys);

/* For a binary's main(): config_load, and on --help the usage on stdout, on --version
 * "PROG VERSION" on stdout. Returns 1 when main should exit 0 (help or version shown), 0 to go
 * on, -1 on error (err filled). */
int config_main(const struct config_key *keys, size_t nkeys, void *cfg, int argc, char **argv,
                const char *prog, const char *summary, char err[ASH_ERR_LEN]);

/* Release string lists allocated into cfg. Accepts NULL. */
void config_free(const struct config_key *keys, size_t nkeys, void *cfg);

#endif
