/* Packet Sequence Numbers for RC queue pairs.
 *
 * A PSN is 24 bits drawn from the CSPRNG (srdma_crypto_random, i.e. RAND_bytes) and masked with
 * SRDMA_PSN_MASK; never from lrand48, time or pid. Thread-safe. */
#ifndef SRDMA_PSN_H
#define SRDMA_PSN_H

#include <stdint.h>

/* Draw one PSN into *out. Returns 0 or -EIO if the RNG failed (never falls back to a weak one). */
int srdma_psn_generate(uint32_t *out);

/* 1 if psn fits in 24 bits, else 0. */
int srdma_psn_valid(uint32_t psn);

#endif
