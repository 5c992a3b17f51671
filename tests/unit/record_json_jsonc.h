/* record_json_jsonc.h -- the json-c session renderer, kept as the oracle of common/record_json.c
 * (tests and fuzz targets only; the product never links it).
 * Owns:  nothing; each function is the old record_json.c's, renamed with a _jsonc suffix.
 * Lends: nothing; record_json_render_jsonc's text is malloc'd and the caller frees it.
 * Never: differs from the old renderer's output. */
#ifndef ASHIATO_RECORD_JSON_JSONC_H
#define ASHIATO_RECORD_JSON_JSONC_H

#include <stddef.h>
#include <stdint.h>
#include "ashiato.pb-c.h"

char *record_json_render_jsonc(const Ashiato__SessionRecord *r, const char *observer, size_t *len);
void record_json_ip_jsonc(const uint8_t *ip, size_t len, char out[48]);
void record_json_time_jsonc(int64_t us, char out[40]);
const char *record_json_transport_jsonc(uint32_t iana, char buf[8]);

#endif
