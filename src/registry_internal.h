/* Test-only seam of the client registry (src/registry.c); not part of the public API. */
#ifndef SRDMA_REGISTRY_INTERNAL_H
#define SRDMA_REGISTRY_INTERNAL_H

#include <stdint.h>

/* Replace the PSN source that srdma_registry_assign_psn draws from (default srdma_psn_generate),
 * so that tests can force collisions and RNG failures; NULL restores the default. The source
 * must behave like srdma_psn_generate (0 or a negative errno) and be thread-safe. Call only while
 * no thread uses any registry. */
void srdma__registry_set_psn_source(int (*source)(uint32_t *psn));

#endif
