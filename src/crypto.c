/* Small crypto primitives over libcrypto. With src/tls.c, the only file that includes OpenSSL. */
#include "crypto.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Empty this thread's OpenSSL error queue after a failure: a stale entry would otherwise be
 * picked up by the next SSL_get_error() on the same thread and blamed on TLS. The failure itself
 * reaches the caller as a return value (the library never logs). */
static void drop_openssl_errors(void)
{
	ERR_clear_error();
}

int srdma_crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	/* RAND_bytes takes an int count. */
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, chunk) != 1) {
			drop_openssl_errors();
			return -EIO;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int srdma_crypto_sha256(const void *buf, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(buf, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) {
		drop_openssl_errors();
		return -EIO;
	}
	return 0;
}

struct srdma_aead {
	EVP_CIPHER_CTX *ctx;
	uint8_t iv[SRDMA_AEAD_IV_LEN];
	int seal;
};

int srdma_aead_create_alg(enum srdma_aead_alg alg, const uint8_t key[SRDMA_AEAD_KEY_LEN],
			  const uint8_t iv[SRDMA_AEAD_IV_LEN], int seal, struct srdma_aead **out)
{
	const EVP_CIPHER *cipher =
	    alg == SRDMA_AEAD_CHACHA20_POLY1305 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
	struct srdma_aead *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->seal = seal;
	memcpy(a->iv, iv, sizeof(a->iv));
	a->ctx = EVP_CIPHER_CTX_new();
	/* The key is set once here; each message then only sets its nonce. */
	if (!a->ctx || EVP_CipherInit_ex(a->ctx, cipher, NULL, key, NULL, seal) != 1) {
		drop_openssl_errors();
		srdma_aead_destroy(a);
		return -EIO;
	}
	*out = a;
	return 0;
}

int srdma_aead_create(const uint8_t key[SRDMA_AEAD_KEY_LEN], const uint8_t iv[SRDMA_AEAD_IV_LEN],
		      int seal, struct srdma_aead **out)
{
	return srdma_aead_create_alg(SRDMA_AEAD_AES_256_GCM, key, iv, seal, out);
}

void srdma_aead_destroy(struct srdma_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a->iv, sizeof(a->iv));
	free(a);
}

/* Set this message's nonce and feed the additional data. */
static int aead_start(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len)
{
	uint8_t nonce[SRDMA_AEAD_IV_LEN];
	int outl, i;

	memcpy(nonce, a->iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[SRDMA_AEAD_IV_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
	if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, a->seal) != 1)
		return -EIO;
	if (aad_len > INT_MAX ||
	    (aad_len && EVP_CipherUpdate(a->ctx, NULL, &outl, aad, (int)aad_len) != 1))
		return -EIO;
	return 0;
}

int srdma_aead_seal_to(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		       const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[SRDMA_AEAD_TAG_LEN])
{
	int outl = 0, fin = 0;

	if (!a->seal || len > INT_MAX || aead_start(a, seq, aad, aad_len) ||
	    (len && EVP_EncryptUpdate(a->ctx, out, &outl, in, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(a->ctx, out + outl, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, SRDMA_AEAD_TAG_LEN, tag) != 1) {
		drop_openssl_errors();
		return -EIO;
	}
	return 0;
}

int srdma_aead_seal(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		    uint8_t *buf, size_t len, uint8_t tag[SRDMA_AEAD_TAG_LEN])
{
	return srdma_aead_seal_to(a, seq, aad, aad_len, buf, len, buf, tag);
}

int srdma_aead_open(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		    uint8_t *buf, size_t len, const uint8_t tag[SRDMA_AEAD_TAG_LEN])
{
	int outl = 0, fin = 0;

	if (a->seal || len > INT_MAX || aead_start(a, seq, aad, aad_len) ||
	    (len && EVP_DecryptUpdate(a->ctx, buf, &outl, buf, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, SRDMA_AEAD_TAG_LEN, (void *)tag) !=
		1) {
		drop_openssl_errors();
		return -EIO;
	}
	/* A tag mismatch is the peer's doing, not ours: no log, just the verdict. */
	if (EVP_DecryptFinal_ex(a->ctx, buf + outl, &fin) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

int srdma_aead_mac(struct srdma_aead *a, uint64_t seq, const uint8_t *aad, size_t aad_len,
		   const uint8_t *data, size_t len, uint8_t tag[SRDMA_AEAD_TAG_LEN])
{
	int outl = 0, fin = 0;
	uint8_t none[1];

	if (!a->seal || len > INT_MAX || aead_start(a, seq, aad, aad_len) ||
	    (len && EVP_EncryptUpdate(a->ctx, NULL, &outl, data, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(a->ctx, none, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, SRDMA_AEAD_TAG_LEN, tag) != 1) {
		drop_openssl_errors();
		return -EIO;
	}
	return 0;
}

int srdma_crypto_memcmp(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n);
}
