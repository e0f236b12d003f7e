/* srdma-tls-first-use: what OpenSSL's first use costs a fresh process, before any connection,
 * for bench/client-cost.sh ("where a one-message session's time goes").
 *
 *   srdma-tls-first-use CA.pem
 *
 * In this order, each timed on CLOCK_MONOTONIC: OPENSSL_init_ssl with the system configuration
 * (what any TLS program pays once: openssl.cnf, the default provider), the first SSL_CTX_new
 * for a TLS client (its first fetch of every cipher, digest, group and signature algorithm), the
 * CA file into it, a second SSL_CTX_new (what a context costs once OpenSSL is warm), then
 * srdma_ctx_create for a client with that CA (the library's own context, OpenSSL warm).
 * Prints one JSON object (microseconds); exit status 0, 1 if a step failed. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/ssl.h>

#include "srdma.h"

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static double us(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1000.0;
}

int main(int argc, char **argv)
{
	struct srdma_ctx_opts o;
	struct srdma_ctx *ctx = NULL;
	SSL_CTX *first, *second;
	uint64_t t[6];
	char err[256];
	int ok;

	if (argc != 2) {
		fprintf(stderr, "usage: srdma-tls-first-use CA.pem\n");
		return 1;
	}
	t[0] = now_ns();
	ok = OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1;
	t[1] = now_ns();
	first = SSL_CTX_new(TLS_client_method());
	t[2] = now_ns();
	ok = ok && first && SSL_CTX_load_verify_locations(first, argv[1], NULL) == 1;
	t[3] = now_ns();
	second = SSL_CTX_new(TLS_client_method());
	t[4] = now_ns();
	srdma_ctx_opts_init(&o);
	o.ca = argv[1];
	if (srdma_ctx_create(&o, &ctx, err, sizeof(err))) {
		fprintf(stderr, "srdma-tls-first-use: %s\n", err);
		ok = 0;
	}
	t[5] = now_ns();
	ok = ok && second;
	printf("{\"ok\": %s, \"openssl_init_us\": %.1f, \"first_ssl_ctx_us\": %.1f, "
	       "\"load_ca_us\": %.1f, \"second_ssl_ctx_us\": %.1f, \"srdma_ctx_create_us\": %.1f, "
	       "\"first_use_us\": %.1f}\n",
	       ok ? "true" : "false", us(t[0], t[1]), us(t[1], t[2]), us(t[2], t[3]),
	       us(t[3], t[4]), us(t[4], t[5]), us(t[0], t[3]));
	srdma_ctx_destroy(ctx);
	SSL_CTX_free(second);
	SSL_CTX_free(first);
	return ok ? 0 : 1;
}
