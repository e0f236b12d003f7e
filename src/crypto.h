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

/* An AEAD (AES-256-GCM or ChaCha20-Poly1305) with a fixed key and a per-message nonce: the
 * 12-byte IV XOR the 64-bit sequence number (big-endian, in the last 8 bytes), as TLS 1.3
 * builds its nonces. A context
 * either seals or opens, never both; one thread at a time. A sequence number must never be
 * used twice with one key: callers derive it from a per-direction message counter. */
#define SRDMA_AEAD_KEY_LEN 32
#define SRDMA_AEAD_IV_LEN  12
#define SRDMA_AEAD_TAG_LEN 16

struct srdma_aead;

enum srdma_aead_alg {
	SRDMA_AEAD_AES_256_GCM = 0,
	SRDMA_AEAD_CHACHA20_POLY1305 = 1,
};

int srdma_aead_create_alg(enum srdma_aead_alg alg, const uint8_t key[SRDMA_AEAD_KEY_LEN],
			  const uint8_t iv[SRDMA_AEAD_IV_LEN], int seal, struct srdma_aead **out);
/* AES-256-GCM. */
int srdma_aead_create(const uint8_t key[SRDMA_AEAD_KEY_LEN], const uint8_t iv[SRDMA_AEAD_IV_LEN],
		      int seal, struct srdma_aead **out);
void srdma_aead_destroy(struct srdma_aead *a);

/* Encrypt buf[0..len) in place, authenticating aad too; the tag goes to tag. 0 or -EIO. */
int srdma_aead_seal(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		    uint8_t *buf, size_t len, uint8_t tag[SRDMA_AEAD_TAG_LEN]);

/* The same from in[0..len) into out[0..len): in and out are the same buffer or do not overlap
 * at all (OpenSSL refuses a partial overlap: -EIO). One pass over the bytes, where copying them
 * first and sealing in place takes two. */
int srdma_aead_seal_to(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		       const uint8_t *in, size_t len, uint8_t *out,
		       uint8_t tag[SRDMA_AEAD_TAG_LEN]);

/* Check tag and decrypt buf[0..len) in place: 0, or -EBADMSG if anything (aad, ciphertext,
 * tag, sequence number) differs from what was sealed; buf is then garbage. */
int srdma_aead_open(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		    uint8_t *buf, size_t len, const uint8_t tag[SRDMA_AEAD_TAG_LEN]);

/* The tag of aad followed by data, nothing encrypted (GMAC with AES-256-GCM), with a sealing
 * context. */
int srdma_aead_mac(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		   const uint8_t *data, size_t len, uint8_t tag[SRDMA_AEAD_TAG_LEN]);

/* Constant-time comparison: 0 if equal. */
int srdma_crypto_memcmp(const void *a, const void *b, size_t n);

#endif
