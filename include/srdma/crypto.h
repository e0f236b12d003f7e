/* Small crypto primitives over OpenSSL's libcrypto (the data-plane AEAD lives here too).
 * All functions are thread-safe. */
#ifndef SRDMA_CRYPTO_H
#define SRDMA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Fill buf with n bytes from OpenSSL's CSPRNG (RAND_bytes). Returns 0 or -EIO. */
int srdma_crypto_random(void *buf, size_t n);

/* SHA-256 of buf[0..n) into out[32]. Returns 0 or -EIO. */
int srdma_crypto_sha256(const void *buf, size_t n, uint8_t out[32]);

#endif
