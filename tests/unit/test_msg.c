/* Unit tests for the data-plane message codec (src/msg.c): the header rules, APP and CREDIT,
 * and every other type number refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "wire.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Golden vectors, written by hand from the layout in msg.h (not produced by the encoder). */

/* APP with a payload and an ack, CREDIT with an ack only (the credits of messages QPs). */
static const uint8_t app_golden[] = {
    0x53, 0x4d, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x00, /* magic "SM", APP, flags, seq 256 */
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, /* len 3, ack 5 */
    0x00, 0xff, 0x7f,
};

static const uint8_t credit_golden[] = {
    0x53, 0x4d, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x09, /* CREDIT, seq 9 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, /* len 0, ack 1024 */
};

/* A PING of the former demo protocol (type 6, an 8-byte token): now an unknown type. */
static const uint8_t former_ping[] = {
    0x53, 0x4d, 0x06, 0x00, 0x01, 0x02, 0x03, 0x04, /* type 6, seq */
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, /* len 8 */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* token */
};

static const uint8_t all_types[] = {SRDMA_MSG_APP, SRDMA_MSG_CREDIT};

/* Decode from a heap buffer of exactly len bytes, so ASan sees any read past the message. */
static int decode_exact(const uint8_t *bytes, size_t len, uint32_t max_payload,
			struct srdma_msg *out, uint8_t **keep)
{
	uint8_t *buf = malloc(len ? len : 1);
	int ret;

	assert_non_null(buf);
	if (len)
		memcpy(buf, bytes, len);
	ret = srdma_msg_decode(buf, len, max_payload, out);
	if (keep)
		*keep = buf; /* out->payload points into it */
	else
		free(buf);
	return ret;
}

static void assert_msgs_equal(const struct srdma_msg *a, const struct srdma_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	if (a->type == SRDMA_MSG_APP) {
		assert_int_equal(a->len, b->len);
		if (a->len)
			assert_memory_equal(a->payload, b->payload, a->len);
	} else {
		assert_int_equal(b->len, 0);
	}
}

/* Encode into a buffer of exactly expect_len bytes, decode it back, compare. */
static void round_trip(const struct srdma_msg *m, size_t expect_len, uint32_t max_payload)
{
	uint8_t *buf = malloc(expect_len);
	struct srdma_msg back;

	assert_non_null(buf);
	assert_int_equal(srdma_msg_encode(m, buf, expect_len), (ssize_t)expect_len);
	assert_int_equal(srdma_msg_decode(buf, expect_len, max_payload, &back), 0);
	assert_msgs_equal(m, &back);
	assert_ptr_equal(back.payload, buf + SRDMA_MSG_HDR_LEN);
	assert_int_equal(back.len, expect_len - SRDMA_MSG_HDR_LEN);
	free(buf);
}

/* A valid message of each type, with its encoded length. */
static size_t sample_msg(uint8_t type, struct srdma_msg *m)
{
	static const uint8_t bytes[] = "opaque\0bytes\xff";

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->seq = 42;
	m->ack = type; /* either type may carry credits back */
	if (type == SRDMA_MSG_APP) {
		m->payload = bytes;
		m->len = sizeof(bytes) - 1;
	}
	return SRDMA_MSG_HDR_LEN + m->len;
}

static void test_golden(void **state)
{
	struct srdma_msg m;
	struct srdma_msg back;
	uint8_t buf[128];
	uint8_t *keep;

	(void)state;
	/* The type numbers are the wire's. */
	assert_int_equal(SRDMA_MSG_APP, 11);
	assert_int_equal(SRDMA_MSG_CREDIT, 12);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_APP;
	m.seq = 256;
	m.ack = 5;
	m.payload = (const uint8_t *)"\x00\xff\x7f";
	m.len = 3;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(app_golden));
	assert_memory_equal(buf, app_golden, sizeof(app_golden));
	assert_int_equal(decode_exact(app_golden, sizeof(app_golden), 3, &back, &keep), 0);
	assert_msgs_equal(&m, &back);
	/* No copy: the payload is the caller's buffer. */
	assert_ptr_equal(back.payload, keep + SRDMA_MSG_HDR_LEN);
	free(keep);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_CREDIT;
	m.seq = 9;
	m.ack = SRDMA_MAX_RECV_DEPTH;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(credit_golden));
	assert_memory_equal(buf, credit_golden, sizeof(credit_golden));
	assert_int_equal(decode_exact(credit_golden, sizeof(credit_golden), 0, &back, NULL), 0);
	assert_msgs_equal(&m, &back);
}

static void test_put_hdr_golden(void **state)
{
	static const uint8_t expect[SRDMA_MSG_HDR_LEN] = {0x53, 0x4d, 0x0b, 0x00, 0x89, 0xab,
							  0xcd, 0xef, 0x00, 0x10, 0x00, 0x00,
							  0x00, 0x00, 0x00, 0x00};
	uint8_t buf[SRDMA_MSG_HDR_LEN + 1];

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	srdma_msg_put_hdr(buf, SRDMA_MSG_APP, 0x89abcdef, 1u << 20);
	assert_memory_equal(buf, expect, sizeof(expect));
	assert_int_equal(buf[SRDMA_MSG_HDR_LEN], 0xff); /* writes the header and nothing else */
}

static void test_round_trip_bounds(void **state)
{
	static const uint32_t seqs[] = {0, 1, 0x7fffffff, UINT32_MAX};
	static const uint32_t lens[] = {0, 1, 4096, SRDMA_MAX_MSG - 1, SRDMA_MAX_MSG};
	static const uint32_t acks[] = {0, 1, SRDMA_MAX_RECV_DEPTH};
	uint8_t *big = malloc(SRDMA_MAX_MSG);
	struct srdma_msg m;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < SRDMA_MAX_MSG; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));

	for (size_t s = 0; s < ARRAY_LEN(seqs); s++) {
		for (size_t a = 0; a < ARRAY_LEN(acks); a++) {
			memset(&m, 0, sizeof(m));
			m.seq = seqs[s];
			m.ack = acks[a];
			m.type = SRDMA_MSG_APP;
			m.payload = big;
			for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
				m.len = lens[i];
				/* max_payload is inclusive */
				round_trip(&m, SRDMA_MSG_HDR_LEN + m.len, m.len);
				round_trip(&m, SRDMA_MSG_HDR_LEN + m.len, SRDMA_MAX_MSG);
			}
			m.type = SRDMA_MSG_CREDIT;
			m.payload = NULL;
			m.len = 0;
			round_trip(&m, SRDMA_MSG_HDR_LEN, 0);
		}
	}
	free(big);
}

/* Which payload lengths each type accepts; -EMSGSIZE only for APP above max_payload. */
static void test_payload_lengths(void **state)
{
	enum { MAXP = 100, SPAN = 320 };
	uint8_t buf[SRDMA_MSG_HDR_LEN + SPAN];
	struct srdma_msg m;

	(void)state;
	memset(buf, 0, sizeof(buf)); /* opaque bytes: zeros are fine */
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		for (size_t plen = 0; plen <= SPAN; plen++) {
			int want;

			if (all_types[t] == SRDMA_MSG_APP)
				want = plen <= MAXP ? 0 : -EMSGSIZE;
			else
				want = plen == 0 ? 0 : -EBADMSG;
			srdma_msg_put_hdr(buf, all_types[t], 9, (uint32_t)plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, MAXP, &m, NULL), want);
			if (want == 0) {
				assert_int_equal(m.type, all_types[t]);
				assert_int_equal(m.seq, 9);
				assert_int_equal(m.len, plen);
			}
		}
	}
}

static void test_truncated_and_padded(void **state)
{
	(void)state;
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		struct srdma_msg m;
		struct srdma_msg back;
		uint8_t buf[128];
		size_t n = sample_msg(all_types[t], &m);

		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), n);
		/* A RECV always holds one whole message: any prefix is malformed, not partial. */
		for (size_t len = 0; len < n; len++)
			assert_int_equal(decode_exact(buf, len, 1024, &back, NULL), -EBADMSG);
		assert_int_equal(decode_exact(buf, n, 1024, &back, NULL), 0);
		assert_msgs_equal(&m, &back);
		/* Trailing bytes the header does not account for. */
		buf[n] = 0;
		assert_int_equal(decode_exact(buf, n + 1, 1024, &back, NULL), -EBADMSG);
	}
}

static void test_header_errors(void **state)
{
	uint8_t buf[128];
	struct srdma_msg m;
	size_t n;

	(void)state;
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		uint8_t copy[128];

		n = sample_msg(all_types[t], &m);
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), n);

		/* Every single-bit change to magic or flags. */
		static const size_t offs[] = {0, 1, 3};
		for (size_t o = 0; o < ARRAY_LEN(offs); o++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				memcpy(copy, buf, n);
				copy[offs[o]] ^= (uint8_t)(1u << bit);
				assert_int_equal(decode_exact(copy, n, 1024, &m, NULL), -EBADMSG);
			}
		}
		/* The ack word: up to SRDMA_MAX_RECV_DEPTH (no peer posts more receives). */
		static const uint32_t acks_ok[] = {0, 1, 0x3ff, SRDMA_MAX_RECV_DEPTH};
		static const uint32_t acks_bad[] = {
		    SRDMA_MAX_RECV_DEPTH + 1, 0x800, 0x10000, 0x01000000, 0x80000000u, UINT32_MAX};
		for (size_t a = 0; a < ARRAY_LEN(acks_ok); a++) {
			struct srdma_msg back;

			memcpy(copy, buf, n);
			put_be32(copy + 12, acks_ok[a]);
			assert_int_equal(decode_exact(copy, n, 1024, &back, NULL), 0);
			assert_int_equal(back.ack, acks_ok[a]);
		}
		for (size_t a = 0; a < ARRAY_LEN(acks_bad); a++) {
			memcpy(copy, buf, n);
			put_be32(copy + 12, acks_bad[a]);
			assert_int_equal(decode_exact(copy, n, UINT32_MAX, &m, NULL), -EBADMSG);
		}

		/* Any sequence number decodes: checking it is the data plane's job. */
		memcpy(copy, buf, n);
		put_be32(copy + 4, UINT32_MAX);
		assert_int_equal(decode_exact(copy, n, 1024, &m, NULL), 0);
		assert_int_equal(m.seq, UINT32_MAX);

		/* The frame-channel magic is not a message magic. */
		memcpy(copy, buf, n);
		copy[0] = 0x53;
		copy[1] = 0x52;
		assert_int_equal(decode_exact(copy, n, 1024, &m, NULL), -EBADMSG);

		/* A len field that disagrees with the received byte count, either way. */
		static const int64_t deltas[] = {-1, 1, 16, 0x10000};
		for (size_t d = 0; d < ARRAY_LEN(deltas); d++) {
			int64_t v = (int64_t)(n - SRDMA_MSG_HDR_LEN) + deltas[d];

			if (v < 0)
				continue;
			memcpy(copy, buf, n);
			put_be32(copy + 8, (uint32_t)v);
			assert_int_equal(decode_exact(copy, n, 1024, &m, NULL), -EBADMSG);
		}
		memcpy(copy, buf, n);
		put_be32(copy + 8, UINT32_MAX);
		assert_int_equal(decode_exact(copy, n, UINT32_MAX, &m, NULL), -EBADMSG);
	}
}

/* Every type number but APP and CREDIT is unknown, the former demo protocol's 1 to 10 included:
 * -EBADMSG whatever the payload length, max_payload or ack, and the encoder refuses it. */
static void test_unknown_types(void **state)
{
	static const size_t plens[] = {0, 1, 8, 40, 44, 256};
	uint8_t buf[SRDMA_MSG_HDR_LEN + 256];
	struct srdma_msg m;

	(void)state;
	memset(buf, 'p', sizeof(buf));
	for (unsigned t = 0; t < 256; t++) {
		if (t == SRDMA_MSG_APP || t == SRDMA_MSG_CREDIT)
			continue;
		for (size_t i = 0; i < ARRAY_LEN(plens); i++) {
			srdma_msg_put_hdr(buf, (enum srdma_msg_type)t, 0, (uint32_t)plens[i]);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plens[i], UINT32_MAX, &m, NULL),
			    -EBADMSG);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plens[i], 0, &m, NULL), -EBADMSG);
		}
		memset(&m, 0, sizeof(m));
		m.type = (enum srdma_msg_type)t;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
		assert_int_equal(srdma_msg_encode(&m, buf, 0), -EINVAL);
		assert_string_equal(srdma_msg_type_name(t), "unknown");
	}
	/* A former PING, byte for byte. */
	assert_int_equal(decode_exact(former_ping, sizeof(former_ping), UINT32_MAX, &m, NULL),
			 -EBADMSG);
	/* Numbers that do not even fit the type byte. */
	static const unsigned wide[] = {256 + SRDMA_MSG_APP, 0x10000, UINT_MAX};
	for (size_t i = 0; i < ARRAY_LEN(wide); i++) {
		memset(&m, 0, sizeof(m));
		m.type = (enum srdma_msg_type)wide[i];
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	}
}

static void test_app_max_payload(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + 64];
	struct srdma_msg m;

	(void)state;
	memset(buf, 0x00, sizeof(buf)); /* opaque bytes: zeros and controls are fine */
	for (uint32_t maxp = 0; maxp <= 64; maxp++) {
		for (uint32_t plen = 0; plen <= 64; plen++) {
			int want = plen <= maxp ? 0 : -EMSGSIZE;

			srdma_msg_put_hdr(buf, SRDMA_MSG_APP, 1, plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, maxp, &m, NULL), want);
		}
	}
	/* max_payload bounds APP only: a CREDIT is fine with max_payload 0. */
	srdma_msg_put_hdr(buf, SRDMA_MSG_CREDIT, 1, 0);
	assert_int_equal(decode_exact(buf, SRDMA_MSG_HDR_LEN, 0, &m, NULL), 0);
}

static void test_encode_einval(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + 8];
	uint8_t bytes[8] = {0};
	struct srdma_msg m;

	(void)state;
	/* A length with no bytes behind it. */
	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_APP;
	m.len = 1;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* An empty payload needs no pointer. */
	m.len = 0;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), SRDMA_MSG_HDR_LEN);

	/* Beyond the protocol ceiling no peer can accept, even with no room at all. */
	m.payload = bytes;
	m.len = SRDMA_MAX_MSG + 1;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(srdma_msg_encode(&m, buf, 0), -EINVAL);
	m.len = UINT32_MAX;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* An ack no peer could have: refused for both types, even with no room at all. */
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		sample_msg(all_types[t], &m);
		m.ack = SRDMA_MAX_RECV_DEPTH + 1;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
		assert_int_equal(srdma_msg_encode(&m, buf, 0), -EINVAL);
		m.ack = UINT32_MAX;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	}
}

/* payload/len belong to APP only (msg.h): a CREDIT ignores them. */
static void test_credit_ignores_payload(void **state)
{
	static const uint8_t junk[64] = {1};
	uint8_t a[128];
	uint8_t b[128];
	struct srdma_msg m;
	size_t n = sample_msg(SRDMA_MSG_CREDIT, &m);

	(void)state;
	assert_int_equal(srdma_msg_encode(&m, a, sizeof(a)), n);
	m.payload = junk;
	m.len = sizeof(junk);
	assert_int_equal(srdma_msg_encode(&m, b, SRDMA_MSG_HDR_LEN), n);
	assert_memory_equal(a, b, n);
	m.payload = NULL;
	m.len = SRDMA_MAX_MSG + 1;
	assert_int_equal(srdma_msg_encode(&m, b, sizeof(b)), n);
	assert_memory_equal(a, b, n);
}

static void test_encode_in_place(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + 32];
	struct srdma_msg m;
	struct srdma_msg back;

	(void)state;
	/* Build the payload where it will be sent from, then add the header. */
	for (size_t i = 0; i < 32; i++)
		buf[SRDMA_MSG_HDR_LEN + i] = (uint8_t)(0xf0 ^ i);
	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_APP;
	m.seq = 3;
	m.payload = buf + SRDMA_MSG_HDR_LEN;
	m.len = 32;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(srdma_msg_decode(buf, sizeof(buf), 32, &back), 0);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(back.payload[i], 0xf0 ^ i);

	/* A payload that overlaps both the header and its own destination still comes out
	 * intact. */
	for (size_t i = 0; i < 32; i++)
		buf[4 + i] = (uint8_t)(0x0f ^ i);
	m.payload = buf + 4;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(srdma_msg_decode(buf, sizeof(buf), 32, &back), 0);
	assert_int_equal(back.seq, 3);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(back.payload[i], 0x0f ^ i);
}

static void test_encode_enobufs(void **state)
{
	(void)state;
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		struct srdma_msg m;
		uint8_t buf[128];
		size_t n = sample_msg(all_types[t], &m);

		for (size_t cap = 0; cap < n; cap++) {
			memset(buf, 0xa5, sizeof(buf));
			assert_int_equal(srdma_msg_encode(&m, buf, cap), -ENOBUFS);
			/* A refused encode leaves the buffer alone. */
			for (size_t k = 0; k < sizeof(buf); k++)
				assert_int_equal(buf[k], 0xa5);
		}
		round_trip(&m, n, 1024); /* exactly n is enough, in an ASan-tight buffer */
	}
}

static void test_empty_payload_pointer(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN];
	struct srdma_msg m;

	(void)state;
	/* Never NULL, so memcpy(dst, m.payload, m.len) is always defined. */
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		srdma_msg_put_hdr(buf, all_types[t], 0, 0);
		assert_int_equal(srdma_msg_decode(buf, sizeof(buf), 0, &m), 0);
		assert_ptr_equal(m.payload, buf + SRDMA_MSG_HDR_LEN);
		assert_int_equal(m.len, 0);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(srdma_msg_type_name(SRDMA_MSG_APP), "APP");
	assert_string_equal(srdma_msg_type_name(SRDMA_MSG_CREDIT), "CREDIT");
	assert_string_equal(srdma_msg_type_name(0), "unknown");
	assert_string_equal(srdma_msg_type_name(10), "unknown");
	assert_string_equal(srdma_msg_type_name(13), "unknown");
	assert_string_equal(srdma_msg_type_name(256 + SRDMA_MSG_APP), "unknown");
	assert_string_equal(srdma_msg_type_name(UINT_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_put_hdr_golden),
	    cmocka_unit_test(test_round_trip_bounds),
	    cmocka_unit_test(test_payload_lengths),
	    cmocka_unit_test(test_truncated_and_padded),
	    cmocka_unit_test(test_header_errors),
	    cmocka_unit_test(test_unknown_types),
	    cmocka_unit_test(test_app_max_payload),
	    cmocka_unit_test(test_encode_einval),
	    cmocka_unit_test(test_credit_ignores_payload),
	    cmocka_unit_test(test_encode_in_place),
	    cmocka_unit_test(test_encode_enobufs),
	    cmocka_unit_test(test_empty_payload_pointer),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
