/* config.c -- defaults, INI (inih) and flags into one config struct (see config.h).
 * Owns:  the conversion and validation of every configured value; the line reader that feeds
 *        inih.
 * Never: exits or prints; keeps state between calls (apart from inih's global knobs, set to
 *        the same values on every call).
 * Trap:  inih reads lines into a buffer of INI_MAX_LINE (200 in Debian's build) and, when a
 *        line is longer, hands the rest to the parser as the next line: a long `bpf` followed
 *        by "name = x" set the name (issue 14, M4). With INI_ALLOW_MULTILINE (on in Debian's
 *        build) an indented line is a continuation that *replaces* the previous value.
 *
 * How lines reach inih, and why. Debian 12's libinih 55 is compiled with the defaults above,
 * but Debian patches them into run-time variables (ini_max_line, ini_allow_multiline,
 * ini_stop_on_first_error; upstream inih has only the compile-time macros). CMake looks for
 * them (ASHIATO_INIH_KNOBS): where they exist, config.c raises the line buffer to
 * CONFIG_MAX_LINE and turns continuation lines off. Independently of that, inih gets its lines
 * from checked_reader() through ini_parse_stream(): the reader reads each physical line whole
 * (getline) and refuses, at its own line number, what inih would misread: a line longer than
 * CONFIG_MAX_LINE or than the buffer inih offers, an indented line (continuation or not: it
 * is ambiguous), a NUL byte, an unknown [section]. So with an inih that has no knobs, long
 * lines are an error instead of working, and nothing is ever split. Parsing INI by hand was
 * the alternative; inih still does the parsing (sections, '=' and ':', comments, trimming). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <ini.h>

/* Every [section] an ashiato program reads. A file may be shared by several binaries, so each
 * accepts the others' sections (without checking their keys); any other name is a typo.
 * The sections of the key table being loaded are always accepted too. [cli] is `ashiato`'s;
 * [detect], [segments] and [sensors] are the detectors' (aggregator/detect/, which may read
 * the aggregator's own file); [vlan-vni-collapse] the sensor's (sensor_config.h). A new section anywhere must be added here. */
static const char *const config_known_sections[] = { "default", "sensor", "aggregator", "cli",
                                                     "detect", "segments", "sensors",
                                                     "vlan-vni-collapse" };

static void *field(void *cfg, const struct config_key *k) { return (char *)cfg + k->offset; }

/* text for an error message: at most 80 bytes of s (then "..."), every byte that is not
 * printable ASCII shown as \xHH, so that a BOM or a control character is seen, not hidden */
#define SHOWN_LEN (80 * 4 + 4)
static const char *shown(const char *s, size_t n, char out[SHOWN_LEN])
{
    size_t o = 0, i = 0;
    for (; i < n && s[i] && i < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02X", c);
    }
    if (i < n && s[i])
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
    return out;
}

int config_parse_double(const char *text, double *out)
{
    char *end;
    if (!*text || isspace((unsigned char)*text) || strpbrk(text, "xX"))
        return -1;                 /* strtod would take hexadecimal floats too */
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v))
        return -1;                 /* strtod takes "nan", "inf" and 1e999 (ERANGE) */
    *out = v;
    return 0;
}

int config_parse_size(const char *text, long long *out)
{
    char *end;
    if (!*text || isspace((unsigned char)*text) || strpbrk(text, "xX"))
        return -1;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0 || signbit(v))
        return -1;
    while (*end == ' ')
        end++;
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024.0; end++; break;
    case 'M': mult = 1024.0 * 1024; end++; break;
    case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'I')
        end++;
    if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end != '\0' || v * mult > 9.0e18)
        return -1;
    *out = (long long)(v * mult);
    return 0;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = { "true", "yes", "1", "on" };
    static const char *const no[] = { "false", "no", "0", "off" };
    for (size_t i = 0; i < ASH_ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(text, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

static int strlist_add(struct config_strlist *l, const char *text)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    if (!(l->v[l->n] = strdup(text)))
        return -1;
    l->n++;
    return 0;
}

static void strlist_clear(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Set one key from text. `where` names the source ("ashiato.ini:12" or "--snaplen"). */
static int set_value(const struct config_key *k, void *cfg, const char *text, bool split_list,
                     const char *where, char err[ASH_ERR_LEN])
{
    void *f = field(cfg, k);
    long long v;
    char *end, sh[SHOWN_LEN];

    switch (k->type) {
    case CONFIG_STR:
        if (strlen(text) >= k->size) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected at most %zu characters, got %zu",
                     where, k->key, k->size - 1, strlen(text));
            return -1;
        }
        memcpy(f, text, strlen(text) + 1);
        return 0;
    case CONFIG_INT:
    case CONFIG_SIZE:
        if (k->type == CONFIG_INT) {
            errno = 0;
            v = strtoll(text, &end, 10);   /* base 10: "010" is ten, not octal eight */
            if (end == text || *end != '\0' || errno || isspace((unsigned char)*text)) {
                snprintf(err, ASH_ERR_LEN, "%s: %s: expected a whole number, got '%s'", where, k->key,
                         shown(text, SIZE_MAX, sh));
                return -1;
            }
        } else if (config_parse_size(text, &v) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected a size such as 512M or 1G, got '%s'",
                     where, k->key, shown(text, SIZE_MAX, sh));
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected %lld..%lld, got %lld", where, k->key, k->min,
                     k->max, v);
            return -1;
        }
        *(long long *)f = v;
        return 0;
    case CONFIG_DOUBLE: {
        double d;
        if (config_parse_double(text, &d) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected a number, got '%s'", where, k->key,
                     shown(text, SIZE_MAX, sh));
            return -1;
        }
        if (d < (double)k->min || d > (double)k->max) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected %lld..%lld, got %g", where, k->key, k->min,
                     k->max, d);
            return -1;
        }
        *(double *)f = d;
        return 0;
    }
    case CONFIG_BOOL:
        if (parse_bool(text, (bool *)f) < 0) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: expected true or false, got '%s'", where, k->key,
                     shown(text, SIZE_MAX, sh));
            return -1;
        }
        return 0;
    case CONFIG_STRLIST: {
        struct config_strlist *l = f;
        if (!split_list)
            return strlist_add(l, text);
        char buf[4096];
        if (strlen(text) >= sizeof buf) {
            snprintf(err, ASH_ERR_LEN, "%s: %s: value too long", where, k->key);
            return -1;
        }
        strcpy(buf, text);
        for (char *save, *tok = strtok_r(buf, ",;", &save); tok; tok = strtok_r(NULL, ",;", &save)) {
            while (isspace((unsigned char)*tok))
                tok++;
            size_t n = strlen(tok);
            while (n && isspace((unsigned char)tok[n - 1]))
                tok[--n] = '\0';
            if (n && strlist_add(l, tok) < 0) {
                snprintf(err, ASH_ERR_LEN, "%s: %s: out of memory", where, k->key);
                return -1;
            }
        }
        return 0;
    }
    }
    return -1;
}

struct ini_ctx {
    const struct config_key *keys;   /* their sections are known too (may be none) */
    size_t nkeys;
    config_ini_fn fn;
    void *user;
    const char *path;
    char *err;
    bool failed;
    FILE *file;
    int lineno;
    char *line;              /* getline's buffer */
    size_t cap;
};

static bool section_known(const struct ini_ctx *ctx, const char *name, size_t n)
{
    for (size_t i = 0; i < ASH_ARRAY_LEN(config_known_sections); i++)
        if (strlen(config_known_sections[i]) == n && !memcmp(config_known_sections[i], name, n))
            return true;
    for (size_t i = 0; i < ctx->nkeys; i++)
        if (strlen(ctx->keys[i].section) == n && !memcmp(ctx->keys[i].section, name, n))
            return true;
    return false;
}

static char *reader_fail(struct ini_ctx *ctx, const char *what)
{
    snprintf(ctx->err, ASH_ERR_LEN, "%.200s:%d: %s", ctx->path, ctx->lineno, what);
    ctx->failed = true;
    return NULL;
}

/* inih's reader: one whole physical line per call, or NULL (end, or an error in ctx->err).
 * The handler runs while the line just read is current, so ctx->lineno is its line. */
static char *checked_reader(char *str, int num, void *stream)
{
    struct ini_ctx *ctx = stream;
    char msg[ASH_ERR_LEN];
    if (ctx->failed)
        return NULL;
    errno = 0;
    ssize_t got = getline(&ctx->line, &ctx->cap, ctx->file);
    if (got < 0) {
        if (ferror(ctx->file)) {
            ctx->lineno++;
            snprintf(msg, sizeof msg, "cannot read config: %s", strerror(errno ? errno : EIO));
            return reader_fail(ctx, msg);
        }
        return NULL;
    }
    ctx->lineno++;
    char *s = ctx->line;
    size_t n = (size_t)got;
    if (memchr(s, '\0', n))
        return reader_fail(ctx, "NUL byte in the line (not a text file?)");
    if (ctx->lineno == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
        s += 3;                    /* a UTF-8 byte order mark, as inih allows */
        n -= 3;
    }
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    size_t room = num > 3 ? (size_t)num - 3 : 0;   /* inih: 3 more than the longest line */
    if (n > CONFIG_MAX_LINE || n > room) {
        snprintf(msg, sizeof msg, "line of %zu characters is longer than the %zu allowed", n,
                 room < CONFIG_MAX_LINE ? room : (size_t)CONFIG_MAX_LINE);
        return reader_fail(ctx, msg);
    }
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead]))
        lead++;
    bool blank = lead == n, comment = !blank && (s[lead] == '#' || s[lead] == ';');
    if (lead && !blank && !comment)
        return reader_fail(ctx, "indented line: INI would read it as a continuation of the value "
                                "above; write each 'key = value' whole on one line, from column 1");
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close && !section_known(ctx, s + 1, (size_t)(close - s - 1))) {
            char sh[SHOWN_LEN];
            snprintf(msg, sizeof msg, "[%.96s]: unknown section (expected [sensor], [aggregator], "
                     "[default] or another ashiato section)", shown(s + 1, (size_t)(close - s - 1), sh));
            return reader_fail(ctx, msg);
        }
    }
    memcpy(str, s, n + 1);
    return str;
}

static int walk_handler(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    char where[ASH_ERR_LEN];
    snprintf(where, sizeof where, "%.200s:%d", ctx->path, ctx->lineno);
    if (ctx->failed)
        return 0;
    if (!*section) {
        char sh[SHOWN_LEN];
        snprintf(ctx->err, ASH_ERR_LEN, "%s: %.64s: key before any [section] (put it under [%s])",
                 where, shown(name, SIZE_MAX, sh), ctx->nkeys ? ctx->keys[0].section : "its section");
        ctx->failed = true;
        return 0;
    }
    if (ctx->fn(ctx->user, section, name, value, where, ctx->err) < 0) {
        ctx->failed = true;
        return 0;
    }
    return 1;
}

static int ini_walk(const char *path, const struct config_key *keys, size_t nkeys, config_ini_fn fn,
                    void *user, char err[ASH_ERR_LEN])
{
    struct ini_ctx ctx = { .keys = keys, .nkeys = nkeys, .fn = fn, .user = user, .path = path,
                           .err = err };
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f) {
        snprintf(err, ASH_ERR_LEN, "%s: cannot open config: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) < 0 || S_ISDIR(st.st_mode)) {
        snprintf(err, ASH_ERR_LEN, "%s: cannot read config: %s", path,
                 S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        fclose(f);
        return -1;
    }
#if ASHIATO_INIH_KNOBS
    ini_max_line = CONFIG_MAX_LINE + 3;
    ini_allow_multiline = false;
    ini_stop_on_first_error = true;
#endif
    ctx.file = f;
    int rc = ini_parse_stream(checked_reader, &ctx, walk_handler, &ctx);
    fclose(f);
    free(ctx.line);
    if (ctx.failed)
        return -1;
    if (rc != 0) {
        snprintf(err, ASH_ERR_LEN, "%s:%d: not an INI line (expected 'key = value' or '[section]')",
                 path, rc);
        return -1;
    }
    return 0;
}

int config_ini_walk(const char *path, config_ini_fn fn, void *user, char err[ASH_ERR_LEN])
{
    return ini_walk(path, NULL, 0, fn, user, err);
}

struct load_ctx {
    const struct config_key *keys;
    size_t nkeys;
    void *cfg;
    bool *touched_lists;     /* a list key from the file replaces its default */
};

static int load_key(void *user, const char *section, const char *name, const char *value,
                    const char *where, char err[ASH_ERR_LEN])
{
    struct load_ctx *lc = user;
    for (size_t i = 0; i < lc->nkeys; i++) {
        const struct config_key *k = &lc->keys[i];
        if (strcmp(k->key, name) != 0)
            continue;
        if (strcmp(section, k->section) != 0 && strcmp(section, "default") != 0)
            continue;
        if (k->type == CONFIG_STRLIST && !lc->touched_lists[i]) {
            strlist_clear(field(lc->cfg, k));
            lc->touched_lists[i] = true;
        }
        return set_value(k, lc->cfg, value, true, where, err);
    }
    /* keys of other binaries' sections are theirs; an unknown key in ours is an error */
    for (size_t i = 0; i < lc->nkeys; i++) {
        if (strcmp(section, lc->keys[i].section) == 0) {
            char sh[SHOWN_LEN];
            snprintf(err, ASH_ERR_LEN, "%s: [%s] %.96s: unknown key", where, section,
                     shown(name, SIZE_MAX, sh));
            return -1;
        }
    }
    return 0;
}

int config_load_file(const struct config_key *keys, size_t nkeys, void *cfg, const char *path,
                     char err[ASH_ERR_LEN])
{
    bool touched[nkeys ? nkeys : 1];
    memset(touched, 0, sizeof touched);
    struct load_ctx lc = { keys, nkeys, cfg, touched };
    return ini_walk(path, keys, nkeys, load_key, &lc, err);
}

static int apply_defaults(const struct config_key *keys, size_t nkeys, void *cfg,
                          char err[ASH_ERR_LEN])
{
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].def && set_value(&keys[i], cfg, keys[i].def, true, "default", err) < 0)
            return -1;
    }
    return 0;
}

enum config_result config_load(const struct config_key *keys, size_t nkeys, void *cfg,
                               int argc, char **argv, char err[ASH_ERR_LEN])
{
    struct option *opts = NULL;
    char shortopts[256];
    size_t sp = 0, nopt = 0;
    enum config_result result = CONFIG_ERR;
    const char *config_path = NULL;
    bool list_touched[nkeys ? nkeys : 1];

    memset(list_touched, 0, sizeof list_touched);
    opts = calloc(nkeys + 4, sizeof *opts);
    if (!opts) {
        snprintf(err, ASH_ERR_LEN, "config: out of memory");
        return CONFIG_ERR;
    }
    shortopts[sp++] = ':';
    shortopts[sp++] = 'h';
    shortopts[sp++] = 'c';
    shortopts[sp++] = ':';
    opts[nopt++] = (struct option){ "help", no_argument, NULL, 'h' };
    opts[nopt++] = (struct option){ "config", required_argument, NULL, 'c' };
    opts[nopt++] = (struct option){ "version", no_argument, NULL, 'V' };
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i].flag)
            continue;
        int has_arg = keys[i].type == CONFIG_BOOL ? no_argument : required_argument;
        opts[nopt++] = (struct option){ keys[i].flag, has_arg, NULL, 1000 + (int)i };
        if (keys[i].short_flag && sp + 3 < sizeof shortopts) {
            shortopts[sp++] = keys[i].short_flag;
            if (has_arg == required_argument)
                shortopts[sp++] = ':';
        }
    }
    shortopts[sp] = '\0';

    if (apply_defaults(keys, nkeys, cfg, err) < 0)
        goto done;

    /* pass 1: find --help, --version and the config file */
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1;) {
        if (c == 'h') { result = CONFIG_HELP; goto done; }
        if (c == 'V') { result = CONFIG_VERSION; goto done; }
        if (c == 'c')
            config_path = optarg;
        if (c == '?') {
            snprintf(err, ASH_ERR_LEN, "unknown option '%s' (see --help)", argv[optind - 1]);
            goto done;
        }
        if (c == ':') {
            snprintf(err, ASH_ERR_LEN, "option '%s' needs a value", argv[optind - 1]);
            goto done;
        }
    }
    if (optind < argc) {
        snprintf(err, ASH_ERR_LEN, "unexpected argument '%s' (see --help)", argv[optind]);
        goto done;
    }
    if (config_path && config_load_file(keys, nkeys, cfg, config_path, err) < 0)
        goto done;

    /* pass 2: flags override the file */
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1;) {
        int idx = -1;
        if (c >= 1000)
            idx = c - 1000;
        else if (c != 'c')
            for (size_t i = 0; i < nkeys; i++)
                if (keys[i].short_flag == c && keys[i].flag)
                    idx = (int)i;
        if (idx < 0)
            continue;
        const struct config_key *k = &keys[idx];
        char where[128];
        snprintf(where, sizeof where, "--%s", k->flag);
        if (k->type == CONFIG_STRLIST && !list_touched[idx]) {
            strlist_clear(field(cfg, k));
            list_touched[idx] = true;
        }
        if (set_value(k, cfg, k->type == CONFIG_BOOL ? "true" : optarg, false, where, err) < 0)
            goto done;
    }
    result = CONFIG_OK;
done:
    free(opts);
    return result;
}

void config_usage(FILE *out, const char *prog, const char *summary,
                  const struct config_key *keys, size_t nkeys)
{
    fprintf(out, "Usage: %s [options]\n%s\n\nOptions (flag, INI [section] key, default):\n",
            prog, summary);
    fprintf(out, "  -h, --help                     this text\n");
    fprintf(out, "      --version                  print the version\n");
    fprintf(out, "  -c, --config FILE              INI file; flags override it\n");
    for (size_t i = 0; i < nkeys; i++) {
        const struct config_key *k = &keys[i];
        char left[64];
        if (k->flag)
            snprintf(left, sizeof left, "%c%c%s--%s %s", k->short_flag ? '-' : ' ',
                     k->short_flag ? k->short_flag : ' ', k->short_flag ? ", " : "  ", k->flag,
                     k->type == CONFIG_BOOL ? "" : (k->metavar ? k->metavar : "VALUE"));
        else
            snprintf(left, sizeof left, "    (INI only)");
        fprintf(out, "  %-30s %s\n  %-30s [%s] %s%s%s%s\n", left, k->help, "", k->section, k->key,
                k->type == CONFIG_STRLIST ? " (repeatable)" : "", k->def ? ", default " : "",
                k->def ? k->def : "");
    }
}

int config_main(const struct config_key *keys, size_t nkeys, void *cfg, int argc, char **argv,
                const char *prog, const char *summary, char err[ASH_ERR_LEN])
{
    switch (config_load(keys, nkeys, cfg, argc, argv, err)) {
    case CONFIG_HELP:
        config_usage(stdout, prog, summary, keys, nkeys);
        return 1;
    case CONFIG_VERSION:
        printf("%s %s\n", prog, ASHIATO_VERSION);
        return 1;
    case CONFIG_OK:
        return 0;
    default:
        return -1;
    }
}

void config_free(const struct config_key *keys, size_t nkeys, void *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].type == CONFIG_STRLIST)
            strlist_clear(field(cfg, &keys[i]));
}
