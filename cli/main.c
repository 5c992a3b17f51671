/* main.c -- `ashiato`, the analyst's and operator's command line: dispatches subcommands.
 * Owns:  the subcommand table and the top-level --help.
 * Never: does a subcommand's work itself. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    { "keygen", cmd_keygen, "make a CurveZMQ keypair for a sensor or the aggregator" },
    { "detect", cmd_detect, "run the detectors offline over session JSON lines, alerts as JSON" },
    { "pcap", cmd_pcap_dispatch, "packets of sessions as pcap: through the API (EXPR or --id), "
      "or from a sensor (--sensor)" },
    { "query", cmd_query, "sessions matching an expression (the aggregator's HTTP API)" },
    { "sensors", cmd_sensors, "each sensor's health and when it was last seen (HTTP API)" },
    { "alerts", cmd_alerts, "the detectors' alerts, filtered by an expression (HTTP API)" },
    { "fields", cmd_fields, "the fields query expressions may use (HTTP API)" },
    { "user", cmd_user, "add, delete or list the HTTP API's users (a users file of digests)" },
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: ashiato COMMAND [options]   (ashiato COMMAND --help for each)\n\nCommands:\n");
    for (size_t i = 0; i < ASH_ARRAY_LEN(subcommands); i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ashiato %s\n", ASHIATO_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ASH_ARRAY_LEN(subcommands); i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ashiato: unknown command '%s' (see ashiato --help)\n", argv[1]);
    return 2;
}
