/* cmd_keygen.c -- `ashiato keygen`: make a CurveZMQ keypair for a sensor or the aggregator.
 * Owns:  the subcommand's flags and output. Writes FILE (secret, mode 0600) and FILE.pub, and
 *        prints the allow-list line for a sensor ("name public-key").
 * Never: overwrites an existing key file unless --force; prints an allow-list line the
 *        aggregator would refuse (the name passes curve_name_check, the allow-list's rule). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "curve.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ashiato keygen --out FILE [--name NAME] [--force]\n"
            "Make a CurveZMQ keypair: FILE holds both keys (mode 0600), FILE.pub the public key.\n"
            "For a sensor, --name prints the line to add to the aggregator's allow-list.\n"
            "  -o, --out FILE    where to write the keypair\n"
            "  -n, --name NAME   sensor name for the allow-list line (letters, digits, and\n"
            "                    '-', '_', '.' after the first; at most 63)\n"
            "  -f, --force       replace an existing file\n"
            "  -h, --help        this text\n");
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        { "out", required_argument, NULL, 'o' }, { "name", required_argument, NULL, 'n' },
        { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *name = NULL;
    bool force = false;
    char err[ASH_ERR_LEN];
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "o:n:fh", opts, NULL)) != -1;) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'n': name = optarg; break;
        case 'f': force = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out || optind < argc) {
        fprintf(stderr, "ashiato keygen: %s\n", out ? "unexpected argument" : "--out FILE is required");
        return 2;
    }
    if (name && curve_name_check(name, err) < 0) {
        fprintf(stderr, "ashiato keygen: --%s\n", err);
        return 2;
    }
    if (!force && access(out, F_OK) == 0) {
        fprintf(stderr, "ashiato keygen: %s exists (use --force to replace it)\n", out);
        return 1;
    }
    struct curve_keypair kp;
    if (curve_generate(&kp, err) < 0 || curve_write_keyfile(out, &kp, err) < 0) {
        fprintf(stderr, "ashiato keygen: %s\n", err);
        return 1;
    }
    printf("public key %s written to %s and %s.pub\n", kp.public_z85, out, out);
    if (name)
        printf("allow-list line: %s %s\n", name, kp.public_z85);
    return 0;
}
