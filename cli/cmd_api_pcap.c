/* cmd_api_pcap.c -- `ashiato pcap (EXPR | --id ID) -o FILE`: the packets of sessions through
 *                   the aggregator's HTTP API (sessions.pcap), which asks every sensor that
 *                   holds them; `ashiato pcap --sensor ...` stays the direct mode (cmd_pcap.c).
 * Owns:  the choice between the two modes, the API mode's flags, the output file.
 * Never: leaves a partial output file named as asked on failure (it writes FILE.part and
 *        renames it once the answer is whole).
 * Exit:  0 all packets; 1 usage or transport error; 2 the server refused (auth, bad
 *        expression, no permission); 3 a pcap came but some sensors failed (named on stderr). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "cmd.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: ashiato pcap [--since TIME] [--until TIME] EXPRESSION -o FILE.pcap\n"
        "       ashiato pcap --id SESSION_ID [--id ID ...] -o FILE.pcap\n"
        "       ashiato pcap --sensor ENDPOINT ...      (direct to a packet endpoint: --sensor --help)\n"
        "The packets of the matching sessions, through the aggregator's HTTP API: it asks each\n"
        "sensor holding some over that sensor's own connection and merges them in time order.\n"
        "  -i, --id ID           a session id (repeatable)\n"
        "      --since TIME      from: ISO 8601, epoch seconds, or 30m / 2h / 7d ago\n"
        "      --until TIME      ... and before (default now); with neither, all are searched\n"
        "  -o, --out FILE        the pcap file to write ('-' for stdout)\n"
        "  -h, --help            this text\n"
        "Server and credentials: ~/.config/ashiato/cli.ini or ASHIATO_URL/ASHIATO_USER/ASHIATO_PASSWORD.\n"
        "Exit status: 0 every sensor answered, 1 usage or transport error, 2 refused by the\n"
        "server, 3 a pcap was written but some sensors failed (named on stderr).\n");
}

static int api_pcap(int argc, char **argv)
{
    static const struct option opts[] = {
        { "id", required_argument, NULL, 'i' }, { "since", required_argument, NULL, 1000 },
        { "until", required_argument, NULL, 1001 }, { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *since = NULL, *until = NULL, *out = NULL;
    char *ids = NULL;
    size_t idlen = 0;
    int c, rc = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': {
            size_t l = strlen(optarg);
            char *n = realloc(ids, idlen + l + 2);
            if (!n) {
                free(ids);
                return 1;
            }
            ids = n;
            if (idlen)
                ids[idlen++] = ',';
            memcpy(ids + idlen, optarg, l + 1);
            idlen += l;
            break;
        }
        case 1000: since = optarg; break;
        case 1001: until = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); free(ids); return 0;
        default: usage(stderr); free(ids); return 1;
        }
    }
    const char *expr = optind < argc ? argv[optind] : NULL;
    if (!out || optind < argc - 1 || (!expr && !ids) || (expr && ids)) {
        usage(stderr);
        free(ids);
        return 1;
    }
    char from[32], to[32], err[ASH_ERR_LEN], part[4096];
    int window = api_client_window(since, until, from, to);
    if (window < 0) {
        fprintf(stderr, "ashiato pcap: --since/--until: expected ISO 8601, epoch seconds or 30m/2h/7d\n");
        free(ids);
        return 1;
    }
    struct api_client cl;
    if (api_client_load(&cl, err) < 0) {
        fprintf(stderr, "ashiato pcap: %s\n", err);
        free(ids);
        return 1;
    }
    bool to_stdout = !strcmp(out, "-");
    snprintf(part, sizeof part, "%s.part", out);
    FILE *f = to_stdout ? stdout : fopen(part, "wb");
    if (!f) {
        perror(part);
        free(ids);
        return 1;
    }
    struct api_param p[] = {
        { "ids", ids }, { "expression", expr }, { "date", ids || window ? NULL : "-1" },
        { "startTime", window ? from : NULL }, { "stopTime", window ? to : NULL },
    };
    struct api_answer a;
    if (api_client_get(&cl, "/sessions.pcap", p, ASH_ARRAY_LEN(p), f, &a, err) < 0) {
        fprintf(stderr, "ashiato pcap: %s\n", err);
    } else if (a.status != 200) {
        api_answer_error(&a, "ashiato pcap", stderr);
        rc = 2;
    } else {
        rc = 0;
        if (a.failed_sensors[0]) {
            fprintf(stderr, "ashiato pcap: some packets are missing: %s\n", a.failed_sensors);
            rc = 3;
        }
    }
    api_answer_free(&a);
    free(ids);
    if (!to_stdout) {
        if (fclose(f) != 0 && rc != 1) {
            perror(part);
            rc = 1;
        }
        if ((rc == 0 || rc == 3) && rename(part, out) < 0) {
            perror(out);
            rc = 1;
        }
        if (rc != 0 && rc != 3)
            unlink(part);
    }
    return rc;
}

int cmd_pcap_dispatch(int argc, char **argv)
{
    /* --help describes both modes, each with its own exit statuses */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            int rc = api_pcap(argc, argv);
            printf("\nFrom one sensor directly (--sensor ENDPOINT), without the HTTP API:\n\n");
            fflush(stdout);
            return rc | cmd_pcap(argc, argv);
        }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--sensor") || !strcmp(argv[i], "-s") ||
            !strncmp(argv[i], "--sensor=", 9))
            return cmd_pcap(argc, argv);
    return api_pcap(argc, argv);
}
