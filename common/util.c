/* util.c -- the stateless helpers declared in ashiato.h.
 * Never: keeps state. */
#include "ashiato.h"

#include <stdlib.h>

void *ash_calloc_array(size_t count, size_t size)
{
    size_t total;
    if (!ash_mul_size(count, size, &total))
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}
