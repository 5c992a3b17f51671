/* fuzz_config.c -- libFuzzer over INI files given to the sensor's key table: whatever the
 * file says, config_load_file() either fills the struct or names file:line and key, in
 * printable ASCII (issue 14 L9: invisible bytes are shown as \xHH, never echoed raw).
 * Seeds m4_* and l8_* are the long, indented, sectionless and misspelled files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sensor_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz_config.%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct sensor_config cfg;
    char err[ASH_ERR_LEN] = "";
    memset(&cfg, 0, sizeof cfg);
    if (config_load_file(sensor_config_keys, sensor_config_nkeys, &cfg, path, err) < 0 &&
        strncmp(err, path, strlen(path)) != 0)
        abort();                     /* every error names the file */
    for (const char *p = err; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            abort();                 /* and shows every byte it quotes */
    config_free(sensor_config_keys, sensor_config_nkeys, &cfg);
    return 0;
}
