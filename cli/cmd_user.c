/* cmd_user.c -- `ashiato user add|del|list --users FILE [NAME]`: the HTTP API's users file.
 * Owns:  reading the password (stdin, never argv: twice from a terminal, once from a pipe)
 *        and the file's updates through userdb (HA1 digests only, mode 0600).
 * Never: writes or echoes a password. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "userdb.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: ashiato user add --users FILE [--realm REALM] [--no-pcap] NAME   (password on stdin)\n"
        "       ashiato user del --users FILE NAME\n"
        "       ashiato user list --users FILE\n"
        "The aggregator's HTTP API users (its http_users file): HA1 digests (MD5 and SHA-256) of\n"
        "name:realm:password, never the password; the file is written with mode 0600.\n"
        "  -U, --users FILE      the users file\n"
        "  -r, --realm REALM     the aggregator's http_realm (default ashiato)\n"
        "      --no-pcap         this user may not download packets\n"
        "  -h, --help            this text\n");
}

static int read_password(char *buf, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
        fprintf(stderr, "password: ");
    }
    char again[512];
    bool ok = fgets(buf, (int)cap, stdin) != NULL;
    if (ok && tty) {
        fprintf(stderr, "\nagain: ");
        ok = fgets(again, sizeof again, stdin) != NULL && !strcmp(again, buf);
        explicit_bzero(again, sizeof again);
        if (!ok)
            fprintf(stderr, "\nashiato user: the passwords differ");
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    if (!ok)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? 0 : -1;
}

int cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {
        { "users", required_argument, NULL, 'U' }, { "realm", required_argument, NULL, 'r' },
        { "no-pcap", no_argument, NULL, 1000 }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *users = NULL, *realm = "ashiato";
    bool pcap = true;
    int c;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *verb = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "U:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'U': users = optarg; break;
        case 'r': realm = optarg; break;
        case 1000: pcap = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    const char *name = optind < argc ? argv[optind] : NULL;
    bool list = !strcmp(verb, "list");
    if (!users || (!list && strcmp(verb, "add") && strcmp(verb, "del")) || (!list && !name) ||
        optind < argc - (list ? 0 : 1)) {
        usage(stderr);
        return 1;
    }
    char err[ASH_ERR_LEN];
    struct userdb *db = userdb_load(users, !strcmp(verb, "add"), err);
    if (!db) {
        fprintf(stderr, "ashiato user: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (list) {
        for (size_t i = 0; i < userdb_count(db); i++) {
            const struct userdb_entry *e = userdb_at(db, i);
            printf("%s\trealm=%s\t%s\n", e->name, e->realm, e->can_pcap ? "pcap" : "nopcap");
        }
    } else if (!strcmp(verb, "del")) {
        if (userdb_del(db, name) < 0) {
            fprintf(stderr, "ashiato user: %s: no such user in %s\n", name, users);
            rc = 1;
        } else if (userdb_save(db, users, err) < 0) {
            fprintf(stderr, "ashiato user: %s\n", err);
            rc = 1;
        }
    } else {
        char pw[512];
        if (read_password(pw, sizeof pw) < 0) {
            fprintf(stderr, "ashiato user: no password on stdin\n");
            rc = 1;
        } else if (userdb_put(db, name, realm, pw, pcap, err) < 0 || userdb_save(db, users, err) < 0) {
            fprintf(stderr, "ashiato user: %s\n", err);
            rc = 1;
        } else {
            fprintf(stderr, "ashiato user: %s %s (realm %s, %s) in %s\n", name,
                    userdb_find(db, name) ? "saved" : "?", realm, pcap ? "may download packets" :
                    "no packet download", users);
        }
        explicit_bzero(pw, sizeof pw);
    }
    userdb_free(db);
    return rc;
}
