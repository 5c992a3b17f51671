/* api_client.c -- see api_client.h. */
#include "api_client.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <curl/curl.h>
#include <ini.h>
#include <json-c/json.h>

/* libcurl, opened on the first API command (see api_client.h). The functions are called
 * through these pointers only; curl.h gives their types. */
struct libcurl {
    void *lib;
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    char *(*easy_escape)(CURL *, const char *, int);
    void (*free)(void *);
    const char *(*easy_strerror)(CURLcode);
};
static struct libcurl lc;
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym results fit a function pointer");

/* The dlopen is declared for packaging tools as an ELF note (https://systemd.io/
 * ELF_DLOPEN_METADATA/: owner "FDO", type 0x407c0c0a, a JSON list of what is dlopen'ed);
 * the .deb states it by hand (packaging/packaging.cmake). */
#define DLOPEN_NOTE_JSON                                                                        \
    "[{\"feature\":\"http-api\",\"description\":\"the HTTP API's commands (query, alerts, "         \
    "fields, sensors, pcap EXPR)\",\"priority\":\"required\",\"soname\":[\"" API_CLIENT_LIBCURL \
    "\"]}]"
__attribute__((used, section(".note.dlopen"))) _Alignas(4) static const struct {
    struct {
        uint32_t n_namesz, n_descsz, n_type;
    } nhdr;
    char name[sizeof "FDO"];
    _Alignas(4) char json[sizeof DLOPEN_NOTE_JSON];
} dlopen_note = {
    { sizeof "FDO", sizeof DLOPEN_NOTE_JSON, 0x407c0c0au }, "FDO", DLOPEN_NOTE_JSON,
};

static int libcurl_open(char err[ASH_ERR_LEN])
{
    if (lc.lib)
        return 0;
    void *lib = dlopen(API_CLIENT_LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, ASH_ERR_LEN, "the HTTP API's commands need libcurl, which did not load "
                 "(%s); install it (Debian: apt install libcurl4)", dlerror());
        return -1;
    }
    static const struct { const char *name; size_t at; } syms[] = {
        { "curl_easy_init", offsetof(struct libcurl, easy_init) },
        { "curl_easy_setopt", offsetof(struct libcurl, easy_setopt) },
        { "curl_easy_perform", offsetof(struct libcurl, easy_perform) },
        { "curl_easy_getinfo", offsetof(struct libcurl, easy_getinfo) },
        { "curl_easy_cleanup", offsetof(struct libcurl, easy_cleanup) },
        { "curl_easy_escape", offsetof(struct libcurl, easy_escape) },
        { "curl_free", offsetof(struct libcurl, free) },
        { "curl_easy_strerror", offsetof(struct libcurl, easy_strerror) },
    };
    for (size_t i = 0; i < ASH_ARRAY_LEN(syms); i++) {
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            snprintf(err, ASH_ERR_LEN, "%s: no %s in it (%s)", API_CLIENT_LIBCURL, syms[i].name,
                     dlerror());
            dlclose(lib);
            return -1;
        }
        /* POSIX: a dlsym address converts to a function pointer of the same size */
        memcpy((char *)&lc + syms[i].at, &f, sizeof f);
    }
    lc.lib = lib;
    return 0;
}

struct ini_ctx {
    struct api_client *c;
    bool has_password;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    if (strcmp(section, "cli"))
        return 1;
    if (!strcmp(name, "url"))
        snprintf(x->c->url, sizeof x->c->url, "%s", value);
    else if (!strcmp(name, "user"))
        snprintf(x->c->user, sizeof x->c->user, "%s", value);
    else if (!strcmp(name, "password")) {
        snprintf(x->c->password, sizeof x->c->password, "%s", value);
        x->has_password = true;
    } else if (!strcmp(name, "ca_file"))
        snprintf(x->c->cafile, sizeof x->c->cafile, "%s", value);
    else if (!strcmp(name, "timeout"))
        x->c->timeout_s = strtol(value, NULL, 10);
    return 1;
}

int api_client_load(struct api_client *c, char err[ASH_ERR_LEN])
{
    memset(c, 0, sizeof *c);
    if (libcurl_open(err) < 0)
        return -1;
    c->timeout_s = 120;
    char path[1024] = "";
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/ashiato/cli.ini", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.config/ashiato/cli.ini", home);
    struct ini_ctx x = { c, false };
    struct stat sb;
    if (path[0] && stat(path, &sb) == 0) {
        int line = ini_parse(path, on_ini, &x);
        if (line != 0) {
            snprintf(err, ASH_ERR_LEN, "%s:%d: cannot read it", path, line > 0 ? line : 0);
            return -1;
        }
        if (x.has_password && (sb.st_mode & 077)) {
            snprintf(err, ASH_ERR_LEN, "%s holds a password and others may read it (mode %04o): "
                     "chmod 600 %s", path, (unsigned)(sb.st_mode & 07777), path);
            return -1;
        }
    }
    const char *e;
    if ((e = getenv("ASHIATO_URL")) && *e)
        snprintf(c->url, sizeof c->url, "%s", e);
    if ((e = getenv("ASHIATO_USER")) && *e)
        snprintf(c->user, sizeof c->user, "%s", e);
    if ((e = getenv("ASHIATO_PASSWORD")) && *e)
        snprintf(c->password, sizeof c->password, "%s", e);
    if (!c->url[0])
        snprintf(c->url, sizeof c->url, "http://127.0.0.1:8005");
    size_t n = strlen(c->url);
    while (n && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) {
        snprintf(err, ASH_ERR_LEN, "url '%s': expected http://HOST:PORT or https://HOST:PORT "
                 "(ASHIATO_URL or [cli] url in %s)", c->url, path[0] ? path : "cli.ini");
        return -1;
    }
    return 0;
}

struct sink {
    FILE *to;
    char *buf;
    size_t len, cap;
    bool fail;
    long status;
    struct api_answer *a;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->to && s->status == 200)
        return fwrite(p, 1, n, s->to) == n ? n : 0;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    long st;
    if (n > 9 && !strncmp(p, "HTTP/", 5) && sscanf(p, "HTTP/%*s %ld", &st) == 1)
        s->status = st;
    static const char h[] = "X-Ashiato-Failed-Sensors:";
    if (n > sizeof h && !strncasecmp(p, h, sizeof h - 1)) {
        size_t l = n - (sizeof h - 1);
        const char *v = p + sizeof h - 1;
        while (l && (*v == ' ')) {
            v++;
            l--;
        }
        while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'))
            l--;
        snprintf(s->a->failed_sensors, sizeof s->a->failed_sensors, "%.*s", (int)l, v);
    }
    return n;
}

int api_client_get(const struct api_client *c, const char *path, const struct api_param *params,
                   size_t nparams, FILE *to, struct api_answer *a, char err[ASH_ERR_LEN])
{
    memset(a, 0, sizeof *a);
    if (libcurl_open(err) < 0)
        return -1;
    CURL *h = lc.easy_init();
    if (!h) {
        snprintf(err, ASH_ERR_LEN, "curl: cannot start");
        return -1;
    }
    char *url = NULL;
    size_t ulen = 0;
    FILE *u = open_memstream(&url, &ulen);
    if (!u) {
        lc.easy_cleanup(h);
        snprintf(err, ASH_ERR_LEN, "out of memory");
        return -1;
    }
    fprintf(u, "%s%s", c->url, path);
    char sep = '?';
    for (size_t i = 0; i < nparams; i++) {
        if (!params[i].value)
            continue;
        char *v = lc.easy_escape(h, params[i].value, 0);
        fprintf(u, "%c%s=%s", sep, params[i].name, v ? v : "");
        lc.free(v);
        sep = '&';
    }
    fclose(u);
    struct sink s = { .to = to, .a = a };
    lc.easy_setopt(h, CURLOPT_URL, url);
    lc.easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_ANY);
    if (c->user[0]) {
        lc.easy_setopt(h, CURLOPT_USERNAME, c->user);
        lc.easy_setopt(h, CURLOPT_PASSWORD, c->password);
    }
    if (c->cafile[0])
        lc.easy_setopt(h, CURLOPT_CAINFO, c->cafile);
    lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    lc.easy_setopt(h, CURLOPT_WRITEDATA, &s);
    lc.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    lc.easy_setopt(h, CURLOPT_HEADERDATA, &s);
    lc.easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = lc.easy_perform(h);
    lc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    lc.easy_cleanup(h);
    free(url);
    a->body = s.buf;
    a->len = s.len;
    if (rc != CURLE_OK) {
        snprintf(err, ASH_ERR_LEN, "%s%s: %s", c->url, path, lc.easy_strerror(rc));
        return -1;
    }
    return 0;
}

void api_answer_free(struct api_answer *a)
{
    free(a->body);
    a->body = NULL;
}

void api_answer_error(const struct api_answer *a, const char *what, FILE *out)
{
    json_object *o = a->body ? json_tokener_parse(a->body) : NULL, *m, *pos;
    if (o && json_object_object_get_ex(o, "error", &m)) {
        fprintf(out, "%s: %s", what, json_object_get_string(m));
        if (json_object_object_get_ex(o, "position", &pos))
            fprintf(out, " (at character %d)", json_object_get_int(pos));
        fprintf(out, " [HTTP %ld]\n", a->status);
    } else if (a->status == 401) {
        fprintf(out, "%s: HTTP 401: authentication failed (ASHIATO_USER/ASHIATO_PASSWORD or [cli] "
                "user/password)\n", what);
    } else {
        fprintf(out, "%s: HTTP %ld\n", what, a->status);
    }
    json_object_put(o);
}

int api_client_fetch(const char *what, const char *path, const struct api_param *params,
                     size_t nparams, FILE *to, struct api_answer *a)
{
    struct api_client c;
    char err[ASH_ERR_LEN];
    memset(a, 0, sizeof *a);
    if (api_client_load(&c, err) < 0 || api_client_get(&c, path, params, nparams, to, a, err) < 0) {
        fprintf(stderr, "%s: %s\n", what, err);
        api_answer_free(a);
        return 1;
    }
    if (a->status != 200) {
        api_answer_error(a, what, stderr);
        api_answer_free(a);
        return 2;
    }
    return 0;
}

int api_client_window(const char *since, const char *until, char from[32], char to[32])
{
    from[0] = to[0] = '\0';
    if (!since && !until)
        return 0;
    if (since ? api_client_time_arg(since, from) < 0 : snprintf(from, 32, "0") < 0)
        return -1;
    if (until ? api_client_time_arg(until, to) < 0
              : snprintf(to, 32, "%lld", (long long)time(NULL) + 1) < 0)
        return -1;
    return 1;
}

int api_client_time_arg(const char *s, char out[32])
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && !errno) {
        long long mult = 0;
        if (!strcmp(end, "s"))
            mult = 1;
        else if (!strcmp(end, "m"))
            mult = 60;
        else if (!strcmp(end, "h"))
            mult = 3600;
        else if (!strcmp(end, "d"))
            mult = 86400;
        if (mult && v >= 0) {
            snprintf(out, 32, "%lld", (long long)time(NULL) - (long long)(v * (double)mult));
            return 0;
        }
        if (!*end) {
            snprintf(out, 32, "%s", s);
            return 0;
        }
    }
    unsigned y, mo, d;
    if (sscanf(s, "%4u-%2u-%2u", &y, &mo, &d) == 3 && strlen(s) < 32) {
        snprintf(out, 32, "%s", s);   /* the server parses ISO 8601 */
        return 0;
    }
    return -1;
}
