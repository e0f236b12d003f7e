/* Unit tests for the data-plane message codec (src/msg.c). */
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
static const uint8_t ping_golden[] = {
    0x53, 0x4d, 0x06, 0x00,			    /* magic "SM", PING, flags */
    0x01, 0x02, 0x03, 0x04,			    /* seq */
    0x00, 0x00, 0x00, 0x08,			    /* len 8 */
    0x00, 0x00, 0x00, 0x00,			    /* ack */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* token */
};

static const uint8_t write_result_golden[] = {
    0x53, 0x4d, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, /* WRITE_RESULT, seq UINT32_MAX */
    0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, /* len 44 */
    0x00, 0x00, 0x00, 0x02,			    /* status RANGE */
    0x00, 0x00, 0x10, 0x00,			    /* offset 4096 */
    0x80, 0x00, 0x00, 0x01,			    /* length */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* digest */
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static const uint8_t write_done_golden[] = {
    0x53, 0x4d, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07, /* WRITE_DONE, seq 7 */
    0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, /* len 40 */
    0xde, 0xad, 0xbe, 0xef,			    /* offset */
    0x00, 0x00, 0x01, 0x00,			    /* length 256 */
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
};

static const uint8_t welcome_golden[] = {
    0x53, 0x4d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, /* WELCOME, seq 0 */
    0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, /* len 5 */
    'h',  'e',	'l',  'l',  'o',
};

/* APP with a payload and an ack, CREDIT with an ack only (the credits of messages QPs). */
static const uint8_t app_golden[] = {
    0x53, 0x4d, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x00, /* APP, seq 256 */
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, /* len 3, ack 5 */
    0x00, 0xff, 0x7f,
};

static const uint8_t credit_golden[] = {
    0x53, 0x4d, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x09, /* CREDIT, seq 9 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, /* len 0, ack 1024 */
};

static const uint8_t all_types[] = {
    SRDMA_MSG_WELCOME,	    SRDMA_MSG_DATA, SRDMA_MSG_ECHO, SRDMA_MSG_WRITE_DONE,
    SRDMA_MSG_WRITE_RESULT, SRDMA_MSG_PING, SRDMA_MSG_PONG, SRDMA_MSG_QUIT,
    SRDMA_MSG_BYE,	    SRDMA_MSG_PUSH, SRDMA_MSG_APP,  SRDMA_MSG_CREDIT,
};

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
	switch (a->type) {
	case SRDMA_MSG_WELCOME:
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		assert_int_equal(a->len, b->len);
		if (a->len)
			assert_memory_equal(a->payload, b->payload, a->len);
		break;
	case SRDMA_MSG_WRITE_DONE:
		assert_int_equal(a->u.write_done.offset, b->u.write_done.offset);
		assert_int_equal(a->u.write_done.length, b->u.write_done.length);
		assert_memory_equal(a->u.write_done.digest, b->u.write_done.digest,
				    SRDMA_DIGEST_LEN);
		break;
	case SRDMA_MSG_WRITE_RESULT:
		assert_int_equal(a->u.write_result.status, b->u.write_result.status);
		assert_int_equal(a->u.write_result.offset, b->u.write_result.offset);
		assert_int_equal(a->u.write_result.length, b->u.write_result.length);
		assert_memory_equal(a->u.write_result.digest, b->u.write_result.digest,
				    SRDMA_DIGEST_LEN);
		break;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		assert_true(a->u.token == b->u.token);
		break;
	case SRDMA_MSG_QUIT:
	case SRDMA_MSG_BYE:
	case SRDMA_MSG_CREDIT:
		break;
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
	static const uint8_t text[] = "welcome to srdma";

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->seq = 42;
	m->ack = type; /* any type may carry credits back */
	switch (type) {
	case SRDMA_MSG_WELCOME:
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		m->payload = text;
		m->len = sizeof(text) - 1;
		return SRDMA_MSG_HDR_LEN + m->len;
	case SRDMA_MSG_WRITE_DONE:
		m->u.write_done.offset = 8;
		m->u.write_done.length = 16;
		memset(m->u.write_done.digest, 0x5a, SRDMA_DIGEST_LEN);
		return SRDMA_MSG_HDR_LEN + SRDMA_WRITE_DONE_LEN;
	case SRDMA_MSG_WRITE_RESULT:
		m->u.write_result.status = SRDMA_WRITE_MISMATCH;
		memset(m->u.write_result.digest, 0xa5, SRDMA_DIGEST_LEN);
		return SRDMA_MSG_HDR_LEN + SRDMA_WRITE_RESULT_LEN;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		m->u.token = 0x0102030405060708ull;
		return SRDMA_MSG_HDR_LEN + SRDMA_PING_LEN;
	}
	return SRDMA_MSG_HDR_LEN; /* QUIT, BYE, CREDIT */
}

static void test_golden(void **state)
{
	struct srdma_msg m;
	struct srdma_msg back;
	uint8_t buf[128];
	uint8_t *keep;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_PING;
	m.seq = 0x01020304;
	m.u.token = 0x1122334455667788ull;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(ping_golden));
	assert_memory_equal(buf, ping_golden, sizeof(ping_golden));
	assert_int_equal(decode_exact(ping_golden, sizeof(ping_golden), 0, &back, NULL), 0);
	assert_msgs_equal(&m, &back);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_WRITE_RESULT;
	m.seq = UINT32_MAX;
	m.u.write_result.status = SRDMA_WRITE_RANGE;
	m.u.write_result.offset = 4096;
	m.u.write_result.length = 0x80000001u;
	for (unsigned i = 0; i < SRDMA_DIGEST_LEN; i++)
		m.u.write_result.digest[i] = (uint8_t)i;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(write_result_golden));
	assert_memory_equal(buf, write_result_golden, sizeof(write_result_golden));
	assert_int_equal(
	    decode_exact(write_result_golden, sizeof(write_result_golden), 0, &back, NULL), 0);
	assert_msgs_equal(&m, &back);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_WRITE_DONE;
	m.seq = 7;
	m.u.write_done.offset = 0xdeadbeef;
	m.u.write_done.length = 256;
	memset(m.u.write_done.digest, 0xaa, SRDMA_DIGEST_LEN);
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(write_done_golden));
	assert_memory_equal(buf, write_done_golden, sizeof(write_done_golden));
	assert_int_equal(decode_exact(write_done_golden, sizeof(write_done_golden), 0, &back, NULL),
			 0);
	assert_msgs_equal(&m, &back);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_WELCOME;
	m.payload = (const uint8_t *)"hello";
	m.len = 5;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(welcome_golden));
	assert_memory_equal(buf, welcome_golden, sizeof(welcome_golden));
	assert_int_equal(decode_exact(welcome_golden, sizeof(welcome_golden), 0, &back, &keep), 0);
	assert_int_equal(back.type, SRDMA_MSG_WELCOME);
	assert_int_equal(back.len, 5);
	/* No copy: the payload is the caller's buffer. */
	assert_ptr_equal(back.payload, keep + SRDMA_MSG_HDR_LEN);
	assert_memory_equal(back.payload, "hello", 5);
	free(keep);

	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_APP;
	m.seq = 256;
	m.ack = 5;
	m.payload = (const uint8_t *)"\x00\xff\x7f";
	m.len = 3;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), sizeof(app_golden));
	assert_memory_equal(buf, app_golden, sizeof(app_golden));
	assert_int_equal(decode_exact(app_golden, sizeof(app_golden), 3, &back, NULL), 0);
	assert_msgs_equal(&m, &back);

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
	static const uint8_t expect[SRDMA_MSG_HDR_LEN] = {0x53, 0x4d, 0x02, 0x00, 0x89, 0xab,
							  0xcd, 0xef, 0x00, 0x10, 0x00, 0x00,
							  0x00, 0x00, 0x00, 0x00};
	uint8_t buf[SRDMA_MSG_HDR_LEN + 1];

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	srdma_msg_put_hdr(buf, SRDMA_MSG_DATA, 0x89abcdef, 1u << 20);
	assert_memory_equal(buf, expect, sizeof(expect));
	assert_int_equal(buf[SRDMA_MSG_HDR_LEN], 0xff); /* writes the header and nothing else */
}

static void test_round_trip_bounds(void **state)
{
	static const uint32_t seqs[] = {0, 1, 0x7fffffff, UINT32_MAX};
	uint8_t text[SRDMA_MSG_TEXT_MAX];
	uint8_t *big = malloc(SRDMA_MAX_MSG);
	struct srdma_msg m;

	(void)state;
	assert_non_null(big);
	/* Every printable character, both ends included. */
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(0x20 + i % 95);
	for (size_t i = 0; i < SRDMA_MAX_MSG; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));

	for (size_t s = 0; s < ARRAY_LEN(seqs); s++) {
		memset(&m, 0, sizeof(m));
		m.seq = seqs[s];

		m.type = SRDMA_MSG_WELCOME;
		m.payload = text;
		for (uint32_t len = 0; len <= SRDMA_MSG_TEXT_MAX; len++) {
			m.len = len;
			round_trip(&m, SRDMA_MSG_HDR_LEN + len, 0);
		}

		static const uint32_t data_lens[] = {0, 1, 4096, SRDMA_MAX_MSG - 1, SRDMA_MAX_MSG};
		for (size_t i = 0; i < ARRAY_LEN(data_lens); i++) {
			m.payload = big;
			m.len = data_lens[i];
			m.type = SRDMA_MSG_DATA;
			round_trip(&m, SRDMA_MSG_HDR_LEN + m.len,
				   m.len); /* max_payload inclusive */
			m.type = SRDMA_MSG_ECHO;
			round_trip(&m, SRDMA_MSG_HDR_LEN + m.len, SRDMA_MAX_MSG);
			m.type = SRDMA_MSG_PUSH;
			round_trip(&m, SRDMA_MSG_HDR_LEN + m.len, m.len);
			m.type = SRDMA_MSG_APP;
			round_trip(&m, SRDMA_MSG_HDR_LEN + m.len, m.len);
		}

		memset(&m.u, 0, sizeof(m.u));
		m.payload = NULL;
		m.len = 0;
		m.type = SRDMA_MSG_WRITE_DONE;
		round_trip(&m, SRDMA_MSG_HDR_LEN + SRDMA_WRITE_DONE_LEN, 0);
		m.u.write_done.offset = UINT32_MAX;
		m.u.write_done.length = UINT32_MAX;
		memset(m.u.write_done.digest, 0xff, SRDMA_DIGEST_LEN);
		round_trip(&m, SRDMA_MSG_HDR_LEN + SRDMA_WRITE_DONE_LEN, 0);

		m.type = SRDMA_MSG_WRITE_RESULT;
		for (uint32_t st = SRDMA_WRITE_OK; st <= SRDMA_WRITE_RANGE; st++) {
			memset(&m.u, st ? 0xff : 0, sizeof(m.u));
			m.u.write_result.status = st;
			round_trip(&m, SRDMA_MSG_HDR_LEN + SRDMA_WRITE_RESULT_LEN, 0);
		}

		static const uint64_t tokens[] = {0, 1, 0x8000000000000000ull, UINT64_MAX};
		for (size_t i = 0; i < ARRAY_LEN(tokens); i++) {
			m.u.token = tokens[i];
			m.type = SRDMA_MSG_PING;
			round_trip(&m, SRDMA_MSG_HDR_LEN + SRDMA_PING_LEN, 0);
			m.type = SRDMA_MSG_PONG;
			round_trip(&m, SRDMA_MSG_HDR_LEN + SRDMA_PING_LEN, 0);
		}

		m.type = SRDMA_MSG_QUIT;
		round_trip(&m, SRDMA_MSG_HDR_LEN, 0);
		m.type = SRDMA_MSG_BYE;
		round_trip(&m, SRDMA_MSG_HDR_LEN, 0);
		static const uint32_t acks[] = {0, 1, SRDMA_MAX_RECV_DEPTH};
		for (size_t i = 0; i < ARRAY_LEN(acks); i++) {
			m.ack = acks[i];
			m.type = SRDMA_MSG_CREDIT;
			round_trip(&m, SRDMA_MSG_HDR_LEN, 0);
			m.type = SRDMA_MSG_BYE;
			round_trip(&m, SRDMA_MSG_HDR_LEN, 0);
		}
		m.ack = 0;
	}
	free(big);
}

/* Which payload lengths each type accepts; -EMSGSIZE only for DATA/ECHO above max_payload. */
static int expected_for_len(uint8_t type, size_t plen, uint32_t max_payload)
{
	switch (type) {
	case SRDMA_MSG_WELCOME:
		return plen <= SRDMA_MSG_TEXT_MAX ? 0 : -EBADMSG;
	case SRDMA_MSG_DATA:
	case SRDMA_MSG_ECHO:
	case SRDMA_MSG_PUSH:
	case SRDMA_MSG_APP:
		return plen <= max_payload ? 0 : -EMSGSIZE;
	case SRDMA_MSG_WRITE_DONE:
		return plen == SRDMA_WRITE_DONE_LEN ? 0 : -EBADMSG;
	case SRDMA_MSG_WRITE_RESULT:
		return plen == SRDMA_WRITE_RESULT_LEN ? 0 : -EBADMSG;
	case SRDMA_MSG_PING:
	case SRDMA_MSG_PONG:
		return plen == SRDMA_PING_LEN ? 0 : -EBADMSG;
	}
	return plen == 0 ? 0 : -EBADMSG; /* QUIT, BYE, CREDIT */
}

static void test_payload_lengths(void **state)
{
	enum { MAXP = 100, SPAN = 320 };
	uint8_t buf[SRDMA_MSG_HDR_LEN + SPAN];
	struct srdma_msg m;

	(void)state;
	/* Payload bytes that are printable and make WRITE_RESULT's status 0 (OK): only the length
	 * decides. */
	memset(buf, 0, sizeof(buf));
	for (size_t i = SRDMA_MSG_HDR_LEN + 4; i < sizeof(buf); i++)
		buf[i] = 'p';
	buf[SRDMA_MSG_HDR_LEN] = 0;
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		for (size_t plen = 0; plen <= SPAN; plen++) {
			int want = expected_for_len(all_types[t], plen, MAXP);

			/* WELCOME text must be printable; the zero status bytes are not. */
			if (all_types[t] == SRDMA_MSG_WELCOME)
				memset(buf + SRDMA_MSG_HDR_LEN, 'p', 4);
			else
				memset(buf + SRDMA_MSG_HDR_LEN, 0, 4);
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

	/* Unknown types, including 0 and everything above CREDIT. */
	for (unsigned t = 0; t < 256; t++) {
		int known = t >= SRDMA_MSG_WELCOME && t <= SRDMA_MSG_CREDIT;

		if (known)
			continue;
		srdma_msg_put_hdr(buf, (enum srdma_msg_type)t, 0, 0);
		assert_int_equal(decode_exact(buf, SRDMA_MSG_HDR_LEN, 1024, &m, NULL), -EBADMSG);
	}
}

static void test_data_max_payload(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + 64];
	struct srdma_msg m;

	(void)state;
	memset(buf, 0x00, sizeof(buf)); /* opaque bytes: zeros and controls are fine */
	for (uint32_t maxp = 0; maxp <= 64; maxp++) {
		for (uint32_t plen = 0; plen <= 64; plen++) {
			int want = plen <= maxp ? 0 : -EMSGSIZE;

			srdma_msg_put_hdr(buf, SRDMA_MSG_DATA, 1, plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, maxp, &m, NULL), want);
			srdma_msg_put_hdr(buf, SRDMA_MSG_ECHO, 1, plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, maxp, &m, NULL), want);
			srdma_msg_put_hdr(buf, SRDMA_MSG_PUSH, 1, plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, maxp, &m, NULL), want);
			srdma_msg_put_hdr(buf, SRDMA_MSG_APP, 1, plen);
			assert_int_equal(
			    decode_exact(buf, SRDMA_MSG_HDR_LEN + plen, maxp, &m, NULL), want);
		}
	}
	/* max_payload bounds DATA and ECHO only; a full WELCOME is fine with max_payload 0. */
	memset(buf + SRDMA_MSG_HDR_LEN, 'w', 64);
	srdma_msg_put_hdr(buf, SRDMA_MSG_WELCOME, 1, 64);
	assert_int_equal(decode_exact(buf, sizeof(buf), 0, &m, NULL), 0);
}

static void test_welcome_printable(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + 3];
	struct srdma_msg m;

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		int ok = c >= 0x20 && c <= 0x7e;

		for (size_t pos = 0; pos < 3; pos++) {
			struct srdma_msg enc;
			uint8_t text[3] = {'a', 'b', 'c'};
			uint8_t out[sizeof(buf)];

			text[pos] = (uint8_t)c;
			srdma_msg_put_hdr(buf, SRDMA_MSG_WELCOME, 0, 3);
			memcpy(buf + SRDMA_MSG_HDR_LEN, text, 3);
			assert_int_equal(decode_exact(buf, sizeof(buf), 0, &m, NULL),
					 ok ? 0 : -EBADMSG);

			memset(&enc, 0, sizeof(enc));
			enc.type = SRDMA_MSG_WELCOME;
			enc.payload = text;
			enc.len = 3;
			assert_int_equal(srdma_msg_encode(&enc, out, sizeof(out)),
					 ok ? (ssize_t)sizeof(out) : -EINVAL);
		}
	}
}

static void test_write_result_status(void **state)
{
	static const uint32_t bad[] = {3, 4, 0x100, 0x01000000, 0x80000000u, UINT32_MAX};
	uint8_t buf[sizeof(write_result_golden)];
	struct srdma_msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		memcpy(buf, write_result_golden, sizeof(buf));
		put_be32(buf + SRDMA_MSG_HDR_LEN, bad[i]);
		assert_int_equal(decode_exact(buf, sizeof(buf), 0, &m, NULL), -EBADMSG);

		sample_msg(SRDMA_MSG_WRITE_RESULT, &m);
		m.u.write_result.status = bad[i];
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
		assert_int_equal(srdma_msg_encode(&m, buf, 0), -EINVAL);
	}
}

static void test_encode_einval(void **state)
{
	uint8_t buf[SRDMA_MSG_HDR_LEN + SRDMA_MSG_TEXT_MAX + 8];
	uint8_t text[SRDMA_MSG_TEXT_MAX + 1];
	struct srdma_msg m;

	(void)state;
	memset(text, 't', sizeof(text));
	memset(&m, 0, sizeof(m));
	m.type = SRDMA_MSG_WELCOME;
	m.payload = text;
	m.len = SRDMA_MSG_TEXT_MAX + 1;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.len = SRDMA_MSG_TEXT_MAX;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), SRDMA_MSG_HDR_LEN + m.len);

	/* A length with no bytes behind it. */
	m.payload = NULL;
	m.len = 1;
	for (uint8_t t = SRDMA_MSG_WELCOME; t <= SRDMA_MSG_ECHO; t++) {
		m.type = t;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	}
	/* Empty payloads need no pointer. */
	m.len = 0;
	for (uint8_t t = SRDMA_MSG_WELCOME; t <= SRDMA_MSG_ECHO; t++) {
		m.type = t;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), SRDMA_MSG_HDR_LEN);
	}

	/* Beyond the protocol ceiling no peer can accept. */
	m.payload = text;
	m.len = SRDMA_MAX_MSG + 1;
	m.type = SRDMA_MSG_DATA;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = SRDMA_MSG_ECHO;
	m.len = UINT32_MAX;
	assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);

	static const unsigned bad_types[] = {0, 13, 255, 0x10000};
	for (size_t i = 0; i < ARRAY_LEN(bad_types); i++) {
		memset(&m, 0, sizeof(m));
		m.type = (enum srdma_msg_type)bad_types[i];
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	}

	/* An ack no peer could have: refused for every type, even with no room at all. */
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		sample_msg(all_types[t], &m);
		m.ack = SRDMA_MAX_RECV_DEPTH + 1;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
		assert_int_equal(srdma_msg_encode(&m, buf, 0), -EINVAL);
		m.ack = UINT32_MAX;
		assert_int_equal(srdma_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	}
}

static void test_encode_fixed_types_ignore_payload(void **state)
{
	static const uint8_t junk[64] = {1};
	uint8_t a[128];
	uint8_t b[128];

	(void)state;
	/* payload/len belong to WELCOME, DATA, ECHO and PUSH only (msg.h). */
	for (size_t t = 0; t < ARRAY_LEN(all_types); t++) {
		struct srdma_msg m;
		size_t n = sample_msg(all_types[t], &m);

		if (all_types[t] <= SRDMA_MSG_ECHO || all_types[t] == SRDMA_MSG_PUSH ||
		    all_types[t] == SRDMA_MSG_APP)
			continue;
		assert_int_equal(srdma_msg_encode(&m, a, sizeof(a)), n);
		m.payload = junk;
		m.len = sizeof(junk);
		assert_int_equal(srdma_msg_encode(&m, b, sizeof(b)), n);
		assert_memory_equal(a, b, n);
	}
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
	m.type = SRDMA_MSG_ECHO;
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
	srdma_msg_put_hdr(buf, SRDMA_MSG_DATA, 0, 0);
	assert_int_equal(srdma_msg_decode(buf, sizeof(buf), 0, &m), 0);
	assert_ptr_equal(m.payload, buf + SRDMA_MSG_HDR_LEN);
	assert_int_equal(m.len, 0);
}

static void test_names(void **state)
{
	static const char *const names[] = {
	    "unknown", "WELCOME", "DATA", "ECHO", "WRITE_DONE", "WRITE_RESULT", "PING",
	    "PONG",    "QUIT",	  "BYE",  "PUSH", "APP",	"CREDIT",	"unknown",
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_LEN(names); i++)
		assert_string_equal(srdma_msg_type_name(i), names[i]);
	assert_string_equal(srdma_msg_type_name(255), "unknown");
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
	    cmocka_unit_test(test_data_max_payload),
	    cmocka_unit_test(test_welcome_printable),
	    cmocka_unit_test(test_write_result_status),
	    cmocka_unit_test(test_encode_einval),
	    cmocka_unit_test(test_encode_fixed_types_ignore_payload),
	    cmocka_unit_test(test_encode_in_place),
	    cmocka_unit_test(test_encode_enobufs),
	    cmocka_unit_test(test_empty_payload_pointer),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
