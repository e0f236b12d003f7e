/* Unit tests of one-pass region sealing (src/dataplane.c srdma_dp_tag_seal / srdma_dp_tag_open,
 * behind srdma_tag_seal() / srdma_tag_open()), in both sealed modes and in plain mode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "test_util.h"

#include "byteorder.h"
#include "dp_test_util.h"

#define LEN 3000 /* not a multiple of the block size */

/* A stand-in for the TLS exporter: the same bytes on both sides for the same label and context,
 * others for any other label or context (salt: another session). Records the last label. */
struct exporter {
	uint8_t salt;
	char label[64];
	unsigned calls;
};

static int fake_export(void *arg, const char *label, const uint8_t *ctx, size_t ctx_len,
		       uint8_t *out, size_t len)
{
	struct exporter *e = arg;

	fake_export_bytes(0xcbf29ce484222325ull ^ e->salt, label, ctx, ctx_len, out, len);
	snprintf(e->label, sizeof(e->label), "%s", label);
	e->calls++;
	return 0;
}

static const uint8_t kctx[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

struct fixture {
	struct pair p;
	struct exporter ex; /* both sides' (one session) */
	uint8_t orig[LEN], buf[LEN], tag[SRDMA_DIGEST_LEN];
};

static int setup_mode(void **state, enum srdma_dp_mode mode)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (mode == SRDMA_DP_PLAIN) {
		srdma_dp_init(&f->p.client, mode);
		srdma_dp_init(&f->p.server, mode);
	} else {
		pair_key(&f->p, mode, 0);
		srdma_dp_set_exporter(&f->p.client, 1, fake_export, &f->ex, kctx);
		srdma_dp_set_exporter(&f->p.server, 0, fake_export, &f->ex, kctx);
	}
	region(f->orig, sizeof(f->orig));
	*state = f;
	return 0;
}

static int setup_seal_aead(void **state)
{
	return setup_mode(state, SRDMA_DP_AEAD);
}

static int setup_seal_chacha20(void **state)
{
	return setup_mode(state, SRDMA_DP_CHACHA20);
}

static int setup_seal_plain(void **state)
{
	return setup_mode(state, SRDMA_DP_PLAIN);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	srdma_dp_cleanup(&f->p.client);
	srdma_dp_cleanup(&f->p.server);
	free(f);
	return 0;
}

/* f->buf: the original bytes sealed by side from at (seq, offset), f->tag their tag. */
static void seal_fresh(struct fixture *f, struct srdma_dataplane *from, uint32_t seq,
		       uint64_t offset)
{
	memcpy(f->buf, f->orig, LEN);
	assert_int_equal(srdma_dp_tag_seal(from, seq, offset, f->buf, LEN, f->tag), 0);
}

/* Both directions: the bytes are encrypted in place (the tag's padding is zeros) and the other
 * side gets them back exactly. */
static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct srdma_dataplane *side[2] = {&f->p.client, &f->p.server};
	uint8_t zeros[8] = {0};

	for (int d = 0; d < 2; d++) {
		seal_fresh(f, side[d], 7, 4096);
		assert_memory_not_equal(f->buf, f->orig, 16);
		assert_memory_not_equal(f->buf + LEN - 16, f->orig + LEN - 16, 16);
		assert_memory_equal(f->tag + 24, zeros, sizeof(zeros));
		assert_int_equal(srdma_dp_tag_open(side[!d], 7, 4096, f->buf, LEN, f->tag), 0);
		assert_memory_equal(f->buf, f->orig, LEN);
	}
	/* Nothing of the message state moved; the exporter gave the sealing label. */
	assert_int_equal(f->p.client.tx_seq, 0);
	assert_int_equal(f->p.server.rx_seq, 0);
	assert_string_equal(f->ex.label, f->p.client.mode == SRDMA_DP_CHACHA20
					     ? SRDMA_DP_LABEL_SEAL_CHACHA20
					     : SRDMA_DP_LABEL_SEAL);
	/* An empty region still gets a tag, bound to its place. */
	assert_int_equal(srdma_dp_tag_seal(&f->p.client, 1, 2, NULL, 0, f->tag), 0);
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 1, 3, NULL, 0, f->tag), -EBADMSG);
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 1, 2, NULL, 0, f->tag), 0);
}

/* Anything changed fails with -EBADMSG: a byte of the data, any byte of the tag, the offset
 * (low or high half), the seq, the length, the key of the other direction, another session's
 * key. */
static void test_tampering(void **state)
{
	struct fixture *f = *state;
	struct srdma_dataplane *c = &f->p.client, *s = &f->p.server;
	struct pair other;
	struct exporter ox = {.salt = 1};

	for (size_t i = 0; i < LEN; i += LEN / 5) {
		seal_fresh(f, c, 7, 4096);
		f->buf[i] ^= 0x01;
		assert_int_equal(srdma_dp_tag_open(s, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	}
	for (size_t i = 0; i < SRDMA_DIGEST_LEN; i++) {
		seal_fresh(f, c, 7, 4096);
		f->tag[i] ^= 0x80;
		assert_int_equal(srdma_dp_tag_open(s, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	}
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 7, 4097, f->buf, LEN, f->tag), -EBADMSG);
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 7, 4096 + (1ull << 32), f->buf, LEN, f->tag),
			 -EBADMSG);
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 8, 4096, f->buf, LEN, f->tag), -EBADMSG);
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 7, 4096, f->buf, LEN - 1, f->tag), -EBADMSG);
	/* Our own bytes handed back to us: opened with the peer's key, they fail. */
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(c, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	seal_fresh(f, s, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	/* Another session (another exporter secret) with the same message keys and context. */
	pair_key(&other, c->mode, 0);
	srdma_dp_set_exporter(&other.server, 0, fake_export, &ox, kctx);
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(&other.server, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	srdma_dp_cleanup(&other.client);
	srdma_dp_cleanup(&other.server);
	/* A failed open leaves the session usable. */
	seal_fresh(f, c, 7, 4096);
	assert_int_equal(srdma_dp_tag_open(s, 7, 4096, f->buf, LEN, f->tag), 0);
	assert_memory_equal(f->buf, f->orig, LEN);
}

/* The same bytes at the same seq and offset sealed twice never share a nonce: the counter in the
 * tag differs, so do the ciphertexts, and each opens. */
static void test_no_nonce_reuse(void **state)
{
	struct fixture *f = *state;
	uint8_t first[LEN], tag1[SRDMA_DIGEST_LEN];

	seal_fresh(f, &f->p.client, 7, 4096);
	memcpy(first, f->buf, LEN);
	memcpy(tag1, f->tag, sizeof(tag1));
	seal_fresh(f, &f->p.client, 7, 4096);
	assert_memory_not_equal(first, f->buf, LEN);
	assert_memory_not_equal(tag1 + 16, f->tag + 16, 8);
	assert_true(srdma__get_u64(f->tag + 16) == srdma__get_u64(tag1 + 16) + 1);
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 7, 4096, f->buf, LEN, f->tag), 0);
	assert_memory_equal(f->buf, f->orig, LEN);
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 7, 4096, first, LEN, tag1), 0);
	assert_memory_equal(first, f->orig, LEN);
}

/* The documented construction: the mode's AEAD under the client's part of the exporter's
 * output for epoch 0 (label SRDMA_DP_LABEL_SEAL, context kctx | be32 0), nonce IV XOR counter,
 * additional data be32 seq | be64 offset | be64 len | be64 counter, the AEAD tag in tag[0..16). */
static void test_construction(void **state)
{
	struct fixture *f = *state;
	const char *label = f->p.client.mode == SRDMA_DP_CHACHA20 ? SRDMA_DP_LABEL_SEAL_CHACHA20
								  : SRDMA_DP_LABEL_SEAL;
	uint8_t ctx[20], material[SRDMA_DP_SEAL_MATERIAL], aad[28], want[LEN], wtag[16];
	struct srdma_aead *a = NULL;

	memcpy(ctx, kctx, 16);
	srdma__put_u32(ctx + 16, 0);
	fake_export(&f->ex, label, ctx, sizeof(ctx), material, sizeof(material));
	assert_int_equal(srdma_aead_create_alg(alg_of(f->p.client.mode), material,
					       material + SRDMA_AEAD_KEY_LEN, 1, &a),
			 0);
	srdma__put_u32(aad, 0xa1b2c3d4u);
	srdma__put_u64(aad + 4, 0x0102030405060708ull);
	srdma__put_u64(aad + 12, LEN);
	srdma__put_u64(aad + 20, 0);
	memcpy(want, f->orig, LEN);
	assert_int_equal(srdma_aead_seal(a, 0, aad, sizeof(aad), want, LEN, wtag), 0);
	srdma_aead_destroy(a);
	seal_fresh(f, &f->p.client, 0xa1b2c3d4u, 0x0102030405060708ull);
	assert_memory_equal(f->buf, want, LEN);
	assert_memory_equal(f->tag, wtag, sizeof(wtag));
	assert_true(srdma__get_u64(f->tag + 16) == 0);
}

/* Key change: past SRDMA_DP_SEAL_EPOCH_BYTES, or when 2^32 seals carry into the next epoch, the
 * sealer moves to the next epoch's key; the opener follows from the tag alone, back and
 * forth. */
static void test_epochs(void **state)
{
	struct fixture *f = *state;
	struct srdma_dataplane *c = &f->p.client, *s = &f->p.server;
	uint8_t old[LEN], oldtag[SRDMA_DIGEST_LEN];

	seal_fresh(f, c, 1, 0);
	memcpy(old, f->buf, LEN);
	memcpy(oldtag, f->tag, sizeof(oldtag));
	/* Bytes: the next seal would pass the limit. */
	c->seal_bytes = SRDMA_DP_SEAL_EPOCH_BYTES - 10;
	seal_fresh(f, c, 1, LEN);
	assert_true(srdma__get_u64(f->tag + 16) == 1ull << 32);
	assert_int_equal(c->seal_tx_epoch, 1);
	assert_int_equal(srdma_dp_tag_open(s, 1, LEN, f->buf, LEN, f->tag), 0);
	assert_memory_equal(f->buf, f->orig, LEN);
	assert_int_equal(s->seal_rx_epoch, 1);
	/* The old epoch's chunk still opens (the opener derives its key again). */
	assert_int_equal(srdma_dp_tag_open(s, 1, 0, old, LEN, oldtag), 0);
	assert_memory_equal(old, f->orig, LEN);
	/* Count: the last index of epoch 1, then the first of epoch 2. */
	c->seal_next = (1ull << 32) | 0xffffffffu;
	seal_fresh(f, c, 1, 2 * LEN);
	assert_true(srdma__get_u64(f->tag + 16) == ((1ull << 32) | 0xffffffffu));
	assert_int_equal(srdma_dp_tag_open(s, 1, 2 * LEN, f->buf, LEN, f->tag), 0);
	seal_fresh(f, c, 1, 3 * LEN);
	assert_true(srdma__get_u64(f->tag + 16) == 2ull << 32);
	assert_int_equal(c->seal_tx_epoch, 2);
	assert_int_equal(srdma_dp_tag_open(s, 1, 3 * LEN, f->buf, LEN, f->tag), 0);
	assert_memory_equal(f->buf, f->orig, LEN);
	/* The very last counter value is never used. */
	c->seal_next = UINT64_MAX;
	memcpy(f->buf, f->orig, LEN);
	assert_int_equal(srdma_dp_tag_seal(c, 1, 0, f->buf, LEN, f->tag), -EOVERFLOW);
	assert_memory_equal(f->buf, f->orig, LEN);
}

/* Without an exporter (keys not derived yet) both calls refuse. */
static void test_no_exporter(void **state)
{
	struct pair p;
	uint8_t buf[16] = {0}, tag[SRDMA_DIGEST_LEN] = {0};

	(void)state;
	pair_key(&p, SRDMA_DP_AEAD, 0);
	assert_int_equal(srdma_dp_tag_seal(&p.client, 0, 0, buf, sizeof(buf), tag), -EINVAL);
	assert_int_equal(srdma_dp_tag_open(&p.server, 0, 0, buf, sizeof(buf), tag), -EINVAL);
	srdma_dp_cleanup(&p.client);
	srdma_dp_cleanup(&p.server);
}

/* Plain mode, as documented: nothing is encrypted, the tag is the SHA-256 of the bytes (what
 * srdma_tag gives in plain mode), and open compares it: a changed byte fails with -EBADMSG. */
static void test_plain(void **state)
{
	struct fixture *f = *state;
	uint8_t sha[32], rt[SRDMA_DIGEST_LEN];

	seal_fresh(f, &f->p.client, 7, 4096);
	assert_memory_equal(f->buf, f->orig, LEN);
	assert_int_equal(srdma_crypto_sha256(f->orig, LEN, sha), 0);
	assert_memory_equal(f->tag, sha, 32);
	assert_int_equal(srdma_dp_region_tag(&f->p.client, 1, 7, 4096, f->orig, LEN, rt), 0);
	assert_memory_equal(f->tag, rt, SRDMA_DIGEST_LEN);
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 7, 4096, f->buf, LEN, f->tag), 0);
	assert_memory_equal(f->buf, f->orig, LEN);
	f->buf[100] ^= 1;
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
	f->buf[100] ^= 1;
	f->tag[31] ^= 1;
	assert_int_equal(srdma_dp_tag_open(&f->p.server, 7, 4096, f->buf, LEN, f->tag), -EBADMSG);
}

#define both_modes(f)                                                                              \
	cmocka_unit_test_setup_teardown(f, setup_seal_aead, teardown),                             \
	{                                                                                          \
		"chacha20_" #f, f, setup_seal_chacha20, teardown, NULL                             \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    both_modes(test_round_trip),
	    both_modes(test_tampering),
	    both_modes(test_no_nonce_reuse),
	    both_modes(test_construction),
	    both_modes(test_epochs),
	    cmocka_unit_test(test_no_exporter),
	    cmocka_unit_test_setup_teardown(test_plain, setup_seal_plain, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
