/* Unit tests of the data plane's region tags (src/dataplane.c, behind srdma_tag()), in both
 * sealed modes and in plain mode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include "dp_test_util.h"

/* Region tags (srdma_tag): both sides compute the same tag for the same inputs, and any change
 * of direction, sequence number, offset, length or bytes changes it. */
static void test_region_tag(void **state)
{
	struct pair *p = *state;
	uint8_t bytes[300], c[SRDMA_DIGEST_LEN], s[SRDMA_DIGEST_LEN], o[SRDMA_DIGEST_LEN];
	uint8_t zero[SRDMA_DIGEST_LEN - SRDMA_AEAD_TAG_LEN] = {0};
	struct pair other;

	region(bytes, sizeof(bytes));
	for (int dir = 0; dir < 2; dir++) {
		assert_int_equal(
		    srdma_dp_region_tag(&p->client, dir, 7, 4096, bytes, sizeof(bytes), c), 0);
		assert_int_equal(
		    srdma_dp_region_tag(&p->server, dir, 7, 4096, bytes, sizeof(bytes), s), 0);
		assert_memory_equal(c, s, SRDMA_DIGEST_LEN);
		assert_memory_equal(c + SRDMA_AEAD_TAG_LEN, zero, sizeof(zero));
		/* The other direction, with everything else the same. */
		assert_int_equal(
		    srdma_dp_region_tag(&p->server, !dir, 7, 4096, bytes, sizeof(bytes), o), 0);
		assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
		assert_int_equal(
		    srdma_dp_region_tag(&p->client, dir, 8, 4096, bytes, sizeof(bytes), o), 0);
		assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
		/* Offsets differ above 32 bits too. */
		assert_int_equal(srdma_dp_region_tag(&p->client, dir, 7, 4096 + (1ull << 32), bytes,
						     sizeof(bytes), o),
				 0);
		assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
		assert_int_equal(
		    srdma_dp_region_tag(&p->client, dir, 7, 4096, bytes, sizeof(bytes) - 1, o), 0);
		assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
		bytes[299] ^= 0x80;
		assert_int_equal(
		    srdma_dp_region_tag(&p->client, dir, 7, 4096, bytes, sizeof(bytes), o), 0);
		assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
		bytes[299] ^= 0x80;
		assert_int_equal(
		    srdma_dp_region_tag(&p->client, dir, 7, 4096, bytes, sizeof(bytes), o), 0);
		assert_memory_equal(c, o, SRDMA_DIGEST_LEN);
	}
	/* Computing a tag changes nothing in the session's message state. */
	assert_int_equal(p->client.tx_seq, 0);
	assert_int_equal(p->client.rx_seq, 0);
	assert_int_equal(p->server.tx_seq, 0);
	assert_int_equal(p->server.rx_seq, 0);
	/* The empty region still gets a keyed tag (of its offset and length). */
	assert_int_equal(srdma_dp_region_tag(&p->client, 1, 0, 0, NULL, 0, c), 0);
	assert_int_equal(srdma_dp_region_tag(&p->server, 1, 0, 0, NULL, 0, s), 0);
	assert_memory_equal(c, s, SRDMA_DIGEST_LEN);
	assert_memory_equal(c + SRDMA_AEAD_TAG_LEN, zero, sizeof(zero));
	assert_int_equal(srdma_dp_region_tag(&p->client, 1, 0, 1, NULL, 0, o), 0);
	assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);

	/* Another session's tag key gives another tag. */
	pair_key(&other, p->client.mode, 1);
	assert_int_equal(srdma_dp_region_tag(&p->client, 1, 7, 4096, bytes, sizeof(bytes), c), 0);
	assert_int_equal(srdma_dp_region_tag(&other.client, 1, 7, 4096, bytes, sizeof(bytes), o),
			 0);
	assert_memory_not_equal(c, o, SRDMA_AEAD_TAG_LEN);
	srdma_dp_cleanup(&other.client);
	srdma_dp_cleanup(&other.server);
}

/* The region tag is the mode's AEAD tag of nothing encrypted (GMAC in aead mode, Poly1305 in
 * chacha20 mode) over be64 offset | be64 length | bytes under the third key part of the material
 * (not either message key), nonce 1 << 63 | from_client << 32 | seq: what both peers must compute
 * alike. Checked through srdma_aead_seal with everything as additional data. */
static void test_region_tag_construction(void **state)
{
	struct pair *p = *state;
	uint8_t material[SRDMA_DP_KEY_MATERIAL], bytes[100], aad[16 + sizeof(bytes)];
	uint8_t tag[SRDMA_DIGEST_LEN], want[SRDMA_AEAD_TAG_LEN], none[1] = {0};
	struct srdma_aead *a;

	fill_material(material, 0);
	region(bytes, sizeof(bytes));
	put_be32(aad, 0x00000001);
	put_be32(aad + 4, 0x00000010); /* offset 2^32 + 16 */
	put_be32(aad + 8, 0);
	put_be32(aad + 12, sizeof(bytes));
	memcpy(aad + 16, bytes, sizeof(bytes));
	for (int k = 0; k < 3; k++) {
		const uint8_t *part = material + k * KEY_PART;

		assert_int_equal(srdma_aead_create_alg(alg_of(p->client.mode), part,
						       part + SRDMA_AEAD_KEY_LEN, 1, &a),
				 0);
		for (int dir = 0; dir < 2; dir++) {
			uint64_t nonce = 1ull << 63 | (uint64_t)dir << 32 | 0xfffffffeu;

			assert_int_equal(srdma_dp_region_tag(&p->server, dir, 0xfffffffeu,
							     (1ull << 32) + 16, bytes,
							     sizeof(bytes), tag),
					 0);
			assert_int_equal(srdma_aead_seal(a, nonce, aad, sizeof(aad), none, 0, want),
					 0);
			if (k == 2)
				assert_memory_equal(tag, want, SRDMA_AEAD_TAG_LEN);
			else
				assert_memory_not_equal(tag, want, SRDMA_AEAD_TAG_LEN);
		}
		srdma_aead_destroy(a);
	}
}

/* Plain mode: the SHA-256 of the bytes, whatever the direction, seq and offset. */
static void test_region_tag_plain(void **state)
{
	struct pair *p = *state;
	uint8_t bytes[500], t[SRDMA_DIGEST_LEN], sha[SRDMA_DIGEST_LEN];

	region(bytes, sizeof(bytes));
	assert_int_equal(srdma_crypto_sha256(bytes, sizeof(bytes), sha), 0);
	assert_int_equal(srdma_dp_region_tag(&p->client, 1, 3, 64, bytes, sizeof(bytes), t), 0);
	assert_memory_equal(t, sha, SRDMA_DIGEST_LEN);
	assert_int_equal(srdma_dp_region_tag(&p->server, 0, 9, 1, bytes, sizeof(bytes), t), 0);
	assert_memory_equal(t, sha, SRDMA_DIGEST_LEN);
	bytes[0] ^= 1;
	assert_int_equal(srdma_dp_region_tag(&p->server, 0, 9, 1, bytes, sizeof(bytes), t), 0);
	assert_memory_not_equal(t, sha, SRDMA_DIGEST_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_region_tag, setup_aead, teardown_pair),
	    cmocka_unit_test_setup_teardown(test_region_tag_construction, setup_aead,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(test_region_tag_plain, setup_plain, teardown_pair),
	    chacha20_test("test_chacha20_region_tag", test_region_tag),
	    chacha20_test("test_chacha20_region_tag_construction", test_region_tag_construction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
