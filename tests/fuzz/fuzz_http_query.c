/* fuzz_http_query.c -- libFuzzer target for the HTTP API's query-string handling:
 * api_params_parse() (percent-decoding, every parameter's check, the ids list, times) on
 * arbitrary bytes, as the server hands it the raw text after '?'.
 * Checks: no crash, no leak, and on success the request is within its documented bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_params p;
    char err[ASH_ERR_LEN];
    memset(&p, 0, sizeof p);
    if (api_params_parse((const char *)data, size, &p, err) == 0) {
        if (p.length < 0 || p.length > API_PARAMS_LENGTH_MAX || p.start < 0 ||
            p.nids > API_PARAMS_IDS_MAX ||
            (p.expression && strlen(p.expression) > API_PARAMS_TEXT_MAX) ||
            (p.have_start && p.have_stop && p.stop_us < p.start_us))
            abort();
        for (size_t i = 0; i < p.nids; i++)
            if (!api_params_id_ok(p.ids[i], strlen(p.ids[i])))
                abort();
    } else if (!memchr(err, '\0', sizeof err) || !err[0]) {
        abort();                         /* a refusal always says why */
    }
    api_params_free(&p);
    /* the time parser alone, on the input as text */
    char text[64];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    int64_t us;
    (void)api_params_time(text, &us);
    return 0;
}
