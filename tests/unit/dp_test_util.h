/* Helpers shared by the data plane's unit tests (test_dataplane.c: sealing and sequencing;
 * test_dp_tags.c: region tags; test_dp_seal.c, test_rekey.c): a client/server pair with keys,
 * its set-ups, and a stand-in for the TLS exporter. */
#ifndef SRDMA_TEST_DP_UTIL_H
#define SRDMA_TEST_DP_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dataplane.h"
#include "msg.h"
#include "wire.h"

#define KEY_PART (SRDMA_AEAD_KEY_LEN + SRDMA_AEAD_IV_LEN)

struct pair {
	struct srdma_dataplane client;
	struct srdma_dataplane server;
};

/* Stand-in exporter bytes: a hash of seed, label and context stretched by xorshift, so both
 * sides get the same bytes for the same label and context and others for anything else. */
static inline void fake_export_bytes(uint64_t seed, const char *label, const uint8_t *ctx,
				     size_t ctx_len, uint8_t *out, size_t len)
{
	uint64_t x = seed;

	for (const char *l = label; *l; l++)
		x = (x ^ (uint8_t)*l) * 0x100000001b3ull;
	for (size_t i = 0; i < ctx_len; i++)
		x = (x ^ ctx[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		out[i] = (uint8_t)x;
	}
}

static inline void fill_material(uint8_t material[SRDMA_DP_KEY_MATERIAL], uint8_t salt)
{
	for (size_t i = 0; i < SRDMA_DP_KEY_MATERIAL; i++)
		material[i] = (uint8_t)(i * 7u + 3u + salt);
}

static inline void pair_key(struct pair *p, enum srdma_dp_mode mode, uint8_t salt)
{
	uint8_t material[SRDMA_DP_KEY_MATERIAL];

	fill_material(material, salt);
	srdma_dp_init(&p->client, mode);
	srdma_dp_init(&p->server, mode);
	assert_int_equal(srdma_dp_set_keys(&p->client, 1, material), 0);
	assert_int_equal(srdma_dp_set_keys(&p->server, 0, material), 0);
}

/* The algorithm a sealed mode uses, for the tests that build what it should send by hand. */
static inline enum srdma_aead_alg alg_of(enum srdma_dp_mode mode)
{
	return mode == SRDMA_DP_CHACHA20 ? SRDMA_AEAD_CHACHA20_POLY1305 : SRDMA_AEAD_AES_256_GCM;
}

static inline int setup_sealed(void **state, enum srdma_dp_mode mode)
{
	struct pair *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	pair_key(p, mode, 0);
	*state = p;
	return 0;
}

static inline int setup_aead(void **state)
{
	return setup_sealed(state, SRDMA_DP_AEAD);
}

static inline int setup_chacha20(void **state)
{
	return setup_sealed(state, SRDMA_DP_CHACHA20);
}

/* Plain mode needs no keys (srdma_dp_derive installs none). */
static inline int setup_plain(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	srdma_dp_init(&p->client, SRDMA_DP_PLAIN);
	srdma_dp_init(&p->server, SRDMA_DP_PLAIN);
	*state = p;
	return 0;
}

static inline int teardown_pair(void **state)
{
	struct pair *p = *state;

	srdma_dp_cleanup(&p->client);
	srdma_dp_cleanup(&p->server);
	free(p);
	return 0;
}

/* Deterministic bytes standing for a region's contents. */
static inline void region(uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bytes[i] = (uint8_t)(i * 31u + 5u);
}

/* A chacha20 twin of an aead test. */
#define chacha20_test(title, f)                                                                    \
	{                                                                                          \
		title, f, setup_chacha20, teardown_pair, NULL                                      \
	}

#endif
