/* fuzz_wire.c -- libFuzzer over what arrives on the aggregator's socket: an Envelope from a
 * sensor (wire_unpack), and for a batch every record rendered as the stored JSON document
 * (record_json_render), since a hostile sensor controls every field of it. */
#include <stdint.h>
#include <stdlib.h>

#include "record_json.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASH_ERR_LEN];
    Ashiato__Envelope *env = wire_unpack(data, size, err);
    if (!env)
        return 0;
    if (env->body_case == ASHIATO__ENVELOPE__BODY_BATCH) {
        for (size_t i = 0; i < env->batch->n_records; i++) {
            size_t len;
            free(record_json_render(env->batch->records[i], "fuzz", &len));
        }
    }
    size_t len;
    free(wire_pack(env, &len));
    wire_free(env);
    return 0;
}
