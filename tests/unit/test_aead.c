/* Known-answer tests of the AEAD primitives under the data plane (srdma_aead_* in
 * src/crypto.c): AES-256-GCM against McGrew and Viega's GCM test cases, ChaCha20-Poly1305
 * against RFC 8439, with our nonce construction (IV XOR the sequence number). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16: AES-256,
 * 96-bit IV, 20 bytes of additional data, 60 bytes of plaintext (not a whole block). */
static const char tc16_key[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char tc16_iv[] = "cafebabefacedbaddecaf888";
static const char tc16_aad[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
static const char tc16_pt[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
			      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
static const char tc16_ct[] = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
			      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
static const char tc16_tag[] = "76fc6ece0f4e1768cddf8853bb2d551b";
/* Test case 13: AES-256, zero key and IV, nothing to encrypt or authenticate. */
static const char tc13_tag[] = "530f8afbc74536b9a963b4f1c4cb738b";

/* A known-answer vector and what our AEAD contexts must do with it. */
struct kat {
	enum srdma_aead_alg alg;
	uint8_t key[32], iv[12], tag[16];
	const uint8_t *aad, *pt, *ct;
	size_t aad_len, len;
};

/* Sealing at sequence number 0 (nonce = IV) gives the vector's ciphertext and tag; opening
 * gives the plaintext back; another sequence number, additional data, ciphertext byte or tag is
 * refused, and the context stays usable; a context seals or opens, never both; an IV
 * pre-XORed with a sequence number, used with it, gives the vector again (the nonce is the IV
 * XOR the big-endian sequence number in its last 8 bytes). */
static void check_vector(const struct kat *v)
{
	const uint64_t seq = 0x0102030405060708ull;
	uint8_t *buf = malloc(v->len), *aad = malloc(v->aad_len), iv[12], out[16];
	struct srdma_aead *seal, *open;

	assert_non_null(buf);
	assert_non_null(aad);
	memcpy(aad, v->aad, v->aad_len);
	assert_int_equal(srdma_aead_create_alg(v->alg, v->key, v->iv, 1, &seal), 0);
	assert_int_equal(srdma_aead_create_alg(v->alg, v->key, v->iv, 0, &open), 0);
	memcpy(buf, v->pt, v->len);
	assert_int_equal(srdma_aead_seal(seal, 0, aad, v->aad_len, buf, v->len, out), 0);
	assert_memory_equal(buf, v->ct, v->len);
	assert_memory_equal(out, v->tag, sizeof(out));
	assert_int_equal(srdma_aead_open(open, 0, aad, v->aad_len, buf, v->len, v->tag), 0);
	assert_memory_equal(buf, v->pt, v->len);

	memcpy(buf, v->ct, v->len);
	assert_int_equal(srdma_aead_open(open, 1, aad, v->aad_len, buf, v->len, v->tag), -EBADMSG);
	memcpy(buf, v->ct, v->len);
	aad[v->aad_len - 1] ^= 1;
	assert_int_equal(srdma_aead_open(open, 0, aad, v->aad_len, buf, v->len, v->tag), -EBADMSG);
	aad[v->aad_len - 1] ^= 1;
	memcpy(buf, v->ct, v->len);
	buf[v->len - 1] ^= 0x80;
	assert_int_equal(srdma_aead_open(open, 0, aad, v->aad_len, buf, v->len, v->tag), -EBADMSG);
	memcpy(buf, v->ct, v->len);
	memcpy(out, v->tag, sizeof(out));
	out[0] ^= 1;
	assert_int_equal(srdma_aead_open(open, 0, aad, v->aad_len, buf, v->len, out), -EBADMSG);
	memcpy(buf, v->ct, v->len);
	assert_int_equal(srdma_aead_open(open, 0, aad, v->aad_len, buf, v->len, v->tag), 0);
	assert_memory_equal(buf, v->pt, v->len);

	assert_true(srdma_aead_open(seal, 0, aad, v->aad_len, buf, v->len, v->tag) != 0);
	assert_true(srdma_aead_seal(open, 0, aad, v->aad_len, buf, v->len, out) != 0);
	srdma_aead_destroy(seal);
	srdma_aead_destroy(open);

	memcpy(iv, v->iv, sizeof(iv));
	for (int i = 0; i < 8; i++)
		iv[11 - i] ^= (uint8_t)(seq >> (8 * i));
	assert_int_equal(srdma_aead_create_alg(v->alg, v->key, iv, 1, &seal), 0);
	memcpy(buf, v->pt, v->len);
	assert_int_equal(srdma_aead_seal(seal, seq, aad, v->aad_len, buf, v->len, out), 0);
	assert_memory_equal(buf, v->ct, v->len);
	assert_memory_equal(out, v->tag, sizeof(out));
	srdma_aead_destroy(seal);
	free(buf);
	free(aad);
}

static void test_aead_known_answer(void **state)
{
	uint8_t aad[20], pt[60], ct[60], out[16], tag[16];
	uint8_t zero_key[32] = {0}, zero_iv[12] = {0}, none[1] = {0};
	struct kat v = {.alg = SRDMA_AEAD_AES_256_GCM,
			.aad = aad,
			.aad_len = sizeof(aad),
			.pt = pt,
			.ct = ct,
			.len = sizeof(pt)};
	struct srdma_aead *seal;

	(void)state;
	hex_to_bytes(tc16_key, v.key, sizeof(v.key));
	hex_to_bytes(tc16_iv, v.iv, sizeof(v.iv));
	hex_to_bytes(tc16_aad, aad, sizeof(aad));
	hex_to_bytes(tc16_pt, pt, sizeof(pt));
	hex_to_bytes(tc16_ct, ct, sizeof(ct));
	hex_to_bytes(tc16_tag, v.tag, sizeof(v.tag));
	check_vector(&v);

	/* GMAC of nothing at all is test case 13's tag. */
	hex_to_bytes(tc13_tag, tag, sizeof(tag));
	assert_int_equal(srdma_aead_create(zero_key, zero_iv, 1, &seal), 0);
	assert_int_equal(srdma_aead_mac(seal, 0, NULL, 0, none, 0, out), 0);
	assert_memory_equal(out, tag, sizeof(tag));
	assert_int_equal(srdma_aead_seal(seal, 0, NULL, 0, none, 0, out), 0);
	assert_memory_equal(out, tag, sizeof(tag));
	srdma_aead_destroy(seal);
}

/* RFC 8439, section 2.8.2: ChaCha20-Poly1305 with 12 bytes of additional data and 114 bytes of
 * plaintext (not a whole 64-byte block). The RFC's nonce is the constant 07000000 followed by
 * the 8-byte IV 4041...47; ours is our 12-byte IV XOR the sequence number, so with sequence
 * number 0 the RFC's nonce is our IV. */
static const char rfc8439_key[] =
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char rfc8439_nonce[] = "070000004041424344454647";
static const char rfc8439_aad[] = "50515253c0c1c2c3c4c5c6c7";
static const char rfc8439_pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				 "only one tip for the future, sunscreen would be it.";
static const char rfc8439_ct[] = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
				 "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
				 "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
				 "3ff4def08e4b7a9de576d26586cec64b6116";
static const char rfc8439_tag[] = "1ae10b594f09e26a7e902ecbd0600691";
_Static_assert(sizeof(rfc8439_pt) == 115, "the RFC's plaintext is 114 bytes");

static void test_chacha20_known_answer(void **state)
{
	uint8_t aad[12], pt[114], ct[114], buf[114], out[16];
	struct kat v = {.alg = SRDMA_AEAD_CHACHA20_POLY1305,
			.aad = aad,
			.aad_len = sizeof(aad),
			.pt = pt,
			.ct = ct,
			.len = sizeof(pt)};
	struct srdma_aead *seal, *open;

	(void)state;
	hex_to_bytes(rfc8439_key, v.key, sizeof(v.key));
	hex_to_bytes(rfc8439_nonce, v.iv, sizeof(v.iv));
	hex_to_bytes(rfc8439_aad, aad, sizeof(aad));
	memcpy(pt, rfc8439_pt, sizeof(pt));
	hex_to_bytes(rfc8439_ct, ct, sizeof(ct));
	hex_to_bytes(rfc8439_tag, v.tag, sizeof(v.tag));
	check_vector(&v);

	/* Same key and nonce under AES-256-GCM: another ciphertext and tag, and an AES-256-GCM
	 * opener refuses the ChaCha20-Poly1305 message. */
	assert_int_equal(srdma_aead_create_alg(SRDMA_AEAD_AES_256_GCM, v.key, v.iv, 1, &seal), 0);
	assert_int_equal(srdma_aead_create_alg(SRDMA_AEAD_AES_256_GCM, v.key, v.iv, 0, &open), 0);
	memcpy(buf, pt, sizeof(buf));
	assert_int_equal(srdma_aead_seal(seal, 0, aad, sizeof(aad), buf, sizeof(buf), out), 0);
	assert_memory_not_equal(buf, ct, sizeof(ct));
	assert_memory_not_equal(out, v.tag, sizeof(out));
	memcpy(buf, ct, sizeof(buf));
	assert_int_equal(srdma_aead_open(open, 0, aad, sizeof(aad), buf, sizeof(buf), v.tag),
			 -EBADMSG);
	srdma_aead_destroy(seal);
	srdma_aead_destroy(open);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aead_known_answer),
	    cmocka_unit_test(test_chacha20_known_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
