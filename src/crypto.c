/* Small crypto primitives over libcrypto. With src/tls.c, the only file that includes OpenSSL. */
#include "srdma/crypto.h"

#include <errno.h>
#include <limits.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "srdma/log.h"

/* Report the oldest queued OpenSSL error once, then empty this thread's queue: a stale entry would
 * otherwise be picked up by the next SSL_get_error() on the same thread and blamed on TLS. */
static void log_openssl_failure(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	srdma_err("%s failed: %s", what, e ? buf : "no OpenSSL error queued");
	ERR_clear_error();
}

int srdma_crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	/* RAND_bytes takes an int count. */
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, chunk) != 1) {
			log_openssl_failure("RAND_bytes");
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
		log_openssl_failure("SHA-256");
		return -EIO;
	}
	return 0;
}
