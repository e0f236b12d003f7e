/* Unit tests for the control-channel frame codec (src/wire.c): the frame header, ERROR and
 * the demo frames; the connection manager's frames are in test_wire_cm.c. */
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

#include "wire.h"
#include "wire_test_util.h"

/* Golden vectors, written by hand from the layout in wire.h (not produced by the encoder). */
static const uint8_t hello_golden[] = {
    0x53, 0x52, 0x01, 0x01, 0x00, 0x00, 0x00, 0x0c, /* magic "SR", v1, HELLO, len 12 */
    0x80, 0x00, 0x00, 0x01,			    /* features: AEAD + unknown bit 31 */
    0x00, 0xab, 0xcd, 0xef,			    /* psn 0xabcdef */
    0x00, 0x00, 0x00, 0x00,			    /* reserved */
};

/* A chacha20 client's HELLO: features AEAD | CHACHA20, nothing else. */
static const uint8_t hello_chacha20_golden[] = {
    0x53, 0x52, 0x01, 0x01, 0x00, 0x00, 0x00, 0x0c, /* magic "SR", v1, HELLO, len 12 */
    0x00, 0x00, 0x00, 0x03,			    /* features: AEAD (bit 0) + CHACHA20 (bit 1) */
    0x00, 0x00, 0x00, 0x01,			    /* psn 1 */
    0x00, 0x00, 0x00, 0x00,			    /* reserved */
};

static const uint8_t params_golden[] = {
    0x53, 0x52, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, /* magic, v1, PARAMS, len 48 */
    0x00, 0x12, 0x34, 0x56,			    /* qpn 0x123456 */
    0xbe, 0xef,					    /* lid 0xbeef */
    0x03,					    /* mtu IBV_MTU_1024 */
    0x00,					    /* reserved */
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* gid */
    0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, /* gid (cont.) */
    0x01, 0x00,					    /* recv_depth 256 */
    0x00, 0x00,					    /* reserved */
    0x00, 0x01, 0x00, 0x00,			    /* max_msg 65536 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* write_addr */
    0xa1, 0xb2, 0xc3, 0xd4,			    /* write_rkey */
    0x00, 0x10, 0x00, 0x00,			    /* write_len 1 MiB */
};

static const uint8_t error_golden[] = {
    0x53, 0x52, 0x01, 0x04, 0x00, 0x00, 0x00, 0x0b, /* magic, v1, ERROR, len 11 */
    0x00, 0x01,					    /* code SERVER_FULL */
    0x00, 0x07,					    /* n = 7 */
    'f',  'u',	'l',  'l',  ' ',  '4',	'2',
};

static const uint8_t golden_gid[16] = {0xfe, 0x80, 0,	 0,    0,    0,	   0,	 0,
				       0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};

/* Offsets of fields inside a whole PARAMS frame (header included). */
enum {
	P_QPN = 8,
	P_MTU = 14,
	P_RSVD8 = 15,
	P_DEPTH = 32,
	P_RSVD16 = 34,
	P_MAXMSG = 36,
	P_WLEN = 52,
};

static struct srdma_frame golden_params_frame(void)
{
	struct srdma_frame f;

	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_PARAMS;
	f.u.params.qpn = 0x123456;
	f.u.params.lid = 0xbeef;
	f.u.params.mtu = 3;
	memcpy(f.u.params.gid, golden_gid, sizeof(golden_gid));
	f.u.params.recv_depth = 256;
	f.u.params.max_msg = 65536;
	f.u.params.write_addr = 0x0102030405060708ull;
	f.u.params.write_rkey = 0xa1b2c3d4;
	f.u.params.write_len = 1u << 20;
	return f;
}

static void test_hello_golden(void **state)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_HELLO};
	struct srdma_frame back;
	uint8_t buf[64];

	(void)state;
	f.u.hello.features = SRDMA_FEAT_AEAD | 0x80000000u;
	f.u.hello.psn = 0xabcdef;
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), sizeof(hello_golden));
	assert_memory_equal(buf, hello_golden, sizeof(hello_golden));

	assert_int_equal(decode_exact(hello_golden, sizeof(hello_golden), &back),
			 sizeof(hello_golden));
	assert_int_equal(back.type, SRDMA_FRAME_HELLO);
	/* Unknown feature bits pass the codec: the receiver decides what to do with them. */
	assert_int_equal(back.u.hello.features, 0x80000001u);
	assert_int_equal(back.u.hello.psn, 0xabcdef);
}

/* The feature bits travel in HELLO: their values are part of the protocol. */
static void test_hello_feature_bits_golden(void **state)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_HELLO};
	struct srdma_frame back;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(SRDMA_FEAT_AEAD, 1u << 0);
	assert_int_equal(SRDMA_FEAT_CHACHA20, 1u << 1);
	assert_int_equal(SRDMA_FEAT_KNOWN, SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20);
	f.u.hello.features = SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20;
	f.u.hello.psn = 1;
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), sizeof(hello_chacha20_golden));
	assert_memory_equal(buf, hello_chacha20_golden, sizeof(hello_chacha20_golden));
	assert_int_equal(decode_exact(hello_chacha20_golden, sizeof(hello_chacha20_golden), &back),
			 sizeof(hello_chacha20_golden));
	assert_int_equal(back.u.hello.features, SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20);
	assert_int_equal(back.u.hello.psn, 1);
	/* CHACHA20 alone is no mode, but the codec passes it: the receiver refuses it. */
	f.u.hello.features = SRDMA_FEAT_CHACHA20;
	round_trip(&f, SRDMA_FRAME_HDR_LEN + SRDMA_HELLO_LEN);
}

static void test_params_golden(void **state)
{
	struct srdma_frame f = golden_params_frame();
	struct srdma_frame back;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(sizeof(params_golden), SRDMA_FRAME_HDR_LEN + SRDMA_PARAMS_LEN);
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), sizeof(params_golden));
	assert_memory_equal(buf, params_golden, sizeof(params_golden));

	assert_int_equal(decode_exact(params_golden, sizeof(params_golden), &back),
			 sizeof(params_golden));
	assert_frames_equal(&f, &back);
}

static void test_ready_error_golden(void **state)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_READY};
	struct srdma_frame back;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), sizeof(ready_golden));
	assert_memory_equal(buf, ready_golden, sizeof(ready_golden));
	assert_int_equal(decode_exact(ready_golden, sizeof(ready_golden), &back), 8);
	assert_int_equal(back.type, SRDMA_FRAME_READY);

	srdma_frame_error(&f, SRDMA_ERR_SERVER_FULL, "full %d", 42);
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), sizeof(error_golden));
	assert_memory_equal(buf, error_golden, sizeof(error_golden));
	assert_int_equal(decode_exact(error_golden, sizeof(error_golden), &back),
			 sizeof(error_golden));
	assert_int_equal(back.type, SRDMA_FRAME_ERROR);
	assert_int_equal(back.u.error.code, SRDMA_ERR_SERVER_FULL);
	assert_string_equal(back.u.error.msg, "full 42");
}

static void test_hello_round_trip_bounds(void **state)
{
	static const uint32_t features[] = {0,
					    SRDMA_FEAT_AEAD,
					    SRDMA_FEAT_AEAD | SRDMA_FEAT_CHACHA20,
					    SRDMA_FEAT_CHACHA20,
					    0xfffffffeu,
					    0xffffffffu};
	static const uint32_t psns[] = {0, 1, 0x7fffff, 0xfffffe, SRDMA_PSN_MASK};
	struct srdma_frame f = {.type = SRDMA_FRAME_HELLO};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(features); i++) {
		for (size_t j = 0; j < ARRAY_LEN(psns); j++) {
			f.u.hello.features = features[i];
			f.u.hello.psn = psns[j];
			round_trip(&f, SRDMA_FRAME_HDR_LEN + SRDMA_HELLO_LEN);
		}
	}
}

static void test_params_round_trip_bounds(void **state)
{
	(void)state;
	/* Every combination of each field's lowest and highest legal value. */
	for (unsigned mask = 0; mask < (1u << 8); mask++) {
		struct srdma_frame f = {.type = SRDMA_FRAME_PARAMS};
		struct srdma_params *p = &f.u.params;

		p->qpn = mask & 1 ? SRDMA_PSN_MASK : 0;
		p->lid = mask & 2 ? 0xffff : 0;
		p->mtu = mask & 4 ? 5 : 1;
		p->recv_depth = mask & 8 ? SRDMA_MAX_RECV_DEPTH : 1;
		p->max_msg = mask & 16 ? SRDMA_MAX_MSG : 1;
		p->write_addr = mask & 32 ? UINT64_MAX : 0;
		p->write_rkey = mask & 64 ? UINT32_MAX : 0;
		p->write_len = mask & 128 ? SRDMA_MAX_WRITE_LEN : 0;
		memset(p->gid, mask & 1 ? 0xff : 0x00, sizeof(p->gid));
		round_trip(&f, SRDMA_FRAME_HDR_LEN + SRDMA_PARAMS_LEN);
	}
	for (uint8_t mtu = 1; mtu <= 5; mtu++) {
		struct srdma_frame f = golden_params_frame();

		f.u.params.mtu = mtu;
		round_trip(&f, SRDMA_FRAME_HDR_LEN + SRDMA_PARAMS_LEN);
	}
}

static void test_ready_error_round_trip_bounds(void **state)
{
	static const uint16_t codes[] = {0, SRDMA_ERR_SERVER_FULL, SRDMA_ERR_RDMA, 0xffff};
	static const size_t lens[] = {0, 1, 99, SRDMA_ERROR_MSG_MAX - 1, SRDMA_ERROR_MSG_MAX};
	struct srdma_frame f = {.type = SRDMA_FRAME_READY};

	(void)state;
	round_trip(&f, SRDMA_FRAME_HDR_LEN);
	for (size_t i = 0; i < ARRAY_LEN(codes); i++) {
		for (size_t j = 0; j < ARRAY_LEN(lens); j++) {
			memset(&f, 0, sizeof(f));
			f.type = SRDMA_FRAME_ERROR;
			f.u.error.code = codes[i];
			/* Cycle through every printable character, both ends included. */
			for (size_t k = 0; k < lens[j]; k++)
				f.u.error.msg[k] = (char)(0x20 + k % 95);
			round_trip(&f, SRDMA_FRAME_HDR_LEN + 4 + lens[j]);
		}
	}
}

static void test_encode_rejects_out_of_range(void **state)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_HELLO};

	(void)state;
	f.u.hello.psn = SRDMA_PSN_MASK + 1;
	expect_encode_einval(&f);
	f.u.hello.psn = UINT32_MAX;
	expect_encode_einval(&f);

#define BAD_PARAM(field, value)                                                                    \
	do {                                                                                       \
		struct srdma_frame g = golden_params_frame();                                      \
		g.u.params.field = (value);                                                        \
		expect_encode_einval(&g);                                                          \
	} while (0)
	BAD_PARAM(qpn, SRDMA_PSN_MASK + 1);
	BAD_PARAM(qpn, UINT32_MAX);
	BAD_PARAM(mtu, 0);
	BAD_PARAM(mtu, 6);
	BAD_PARAM(mtu, 255);
	BAD_PARAM(recv_depth, 0);
	BAD_PARAM(recv_depth, SRDMA_MAX_RECV_DEPTH + 1);
	BAD_PARAM(recv_depth, UINT16_MAX);
	BAD_PARAM(max_msg, 0);
	BAD_PARAM(max_msg, SRDMA_MAX_MSG + 1);
	BAD_PARAM(max_msg, UINT32_MAX);
	BAD_PARAM(write_len, SRDMA_MAX_WRITE_LEN + 1);
	BAD_PARAM(write_len, UINT32_MAX);
#undef BAD_PARAM

	memset(&f, 0, sizeof(f));
	f.type = 0;
	expect_encode_einval(&f);
	f.type = SRDMA_FRAME_LAST + 1;
	expect_encode_einval(&f);
	f.type = 255;
	expect_encode_einval(&f);
}

static void test_encode_error_truncates_and_sanitizes(void **state)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_ERROR};
	struct srdma_frame back;
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	ssize_t n;

	(void)state;
	/* Unterminated array: the encoder must stop at SRDMA_ERROR_MSG_MAX, not run off the end. */
	memset(f.u.error.msg, 'x', sizeof(f.u.error.msg));
	n = srdma_frame_encode(&f, buf, sizeof(buf));
	assert_int_equal(n, SRDMA_FRAME_HDR_LEN + 4 + SRDMA_ERROR_MSG_MAX);
	assert_int_equal(srdma_frame_decode(buf, (size_t)n, &back), n);
	assert_int_equal(strlen(back.u.error.msg), SRDMA_ERROR_MSG_MAX);

	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_ERROR;
	f.u.error.code = SRDMA_ERR_PROTOCOL;
	/* "\?" in the expected strings: a literal "??" followed by '[' or '\'' is a trigraph. */
	strcpy(f.u.error.msg, "a\tb\x7f\x80\xff\x1b[0mc");
	n = srdma_frame_encode(&f, buf, sizeof(buf));
	assert_int_equal(n, SRDMA_FRAME_HDR_LEN + 4 + 11);
	assert_memory_equal(buf + 12, "a?b\?\?\?\?[0mc", 11);
	assert_int_equal(srdma_frame_decode(buf, (size_t)n, &back), n);
	assert_string_equal(back.u.error.msg, "a?b\?\?\?\?[0mc");
}

static void test_frame_error_helper(void **state)
{
	struct srdma_frame f;
	struct srdma_frame back;
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	char longstr[600];
	ssize_t n;

	(void)state;
	memset(&f, 0xa5, sizeof(f)); /* stale contents must not leak into the frame */
	srdma_frame_error(&f, SRDMA_ERR_TIMEOUT, "peer %s timed out after %u s", "10.0.0.2", 5u);
	assert_int_equal(f.type, SRDMA_FRAME_ERROR);
	assert_int_equal(f.u.error.code, SRDMA_ERR_TIMEOUT);
	assert_string_equal(f.u.error.msg, "peer 10.0.0.2 timed out after 5 s");

	/* Peer-supplied text with control characters and escapes comes out printable. */
	srdma_frame_error(&f, SRDMA_ERR_PROTOCOL, "bad name '%s'", "x\ny\x1b[31m\xc3\xa9");
	assert_string_equal(f.u.error.msg, "bad name 'x?y?[31m\?\?'");

	memset(longstr, 'L', sizeof(longstr) - 1);
	longstr[sizeof(longstr) - 1] = '\0';
	srdma_frame_error(&f, SRDMA_ERR_INTERNAL, "%s!", longstr);
	assert_int_equal(strlen(f.u.error.msg), SRDMA_ERROR_MSG_MAX);

	/* Whatever the helper produced must travel unchanged. */
	n = srdma_frame_encode(&f, buf, sizeof(buf));
	assert_int_equal(n, SRDMA_FRAME_HDR_LEN + 4 + SRDMA_ERROR_MSG_MAX);
	assert_int_equal(srdma_frame_decode(buf, (size_t)n, &back), n);
	assert_string_equal(back.u.error.msg, f.u.error.msg);

	srdma_frame_error(&f, 0xffff, "%s", "");
	assert_string_equal(f.u.error.msg, "");
	assert_int_equal(srdma_frame_encode(&f, buf, sizeof(buf)), SRDMA_FRAME_HDR_LEN + 4);
}

static void test_decode_hdr_short(void **state)
{
	struct srdma_frame_hdr h;

	(void)state;
	for (size_t len = 0; len < SRDMA_FRAME_HDR_LEN; len++)
		assert_int_equal(srdma_frame_decode_hdr(hello_golden, len, &h), -EAGAIN);
	assert_int_equal(srdma_frame_decode_hdr(hello_golden, SRDMA_FRAME_HDR_LEN, &h), 0);
	assert_int_equal(h.magic, SRDMA_WIRE_MAGIC);
	assert_int_equal(h.version, SRDMA_PROTO_VERSION);
	assert_int_equal(h.type, SRDMA_FRAME_HELLO);
	assert_int_equal(h.length, SRDMA_HELLO_LEN);
}

static void test_decode_hdr_errors_report_raw_fields(void **state)
{
	uint8_t b[SRDMA_FRAME_HDR_LEN];
	struct srdma_frame_hdr h;
	struct srdma_frame f;

	(void)state;
	/* Wrong magic, including a byte-swapped one. */
	static const uint16_t magics[] = {0x0000, 0x5253, 0x5353, 0xffff, 0x4d53};
	for (size_t i = 0; i < ARRAY_LEN(magics); i++) {
		memcpy(b, hello_golden, sizeof(b));
		put_be16(b, magics[i]);
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EBADMSG);
		assert_int_equal(h.magic, magics[i]);
		assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EBADMSG);
	}

	/* Every other version, and the header still says which one the peer spoke. */
	for (unsigned v = 0; v < 256; v++) {
		if (v == SRDMA_PROTO_VERSION)
			continue;
		memcpy(b, hello_golden, sizeof(b));
		b[2] = (uint8_t)v;
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EPROTONOSUPPORT);
		assert_int_equal(h.version, v);
		assert_int_equal(h.magic, SRDMA_WIRE_MAGIC);
		assert_int_equal(h.type, SRDMA_FRAME_HELLO);
		assert_int_equal(h.length, SRDMA_HELLO_LEN);
		/* No payload needed to refuse it. */
		assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EPROTONOSUPPORT);
	}
	/* A future version may use types and sizes we do not know: still a version error. */
	memcpy(b, hello_golden, sizeof(b));
	b[2] = 2;
	b[3] = 77;
	put_be32(b + 4, 100000);
	assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EPROTONOSUPPORT);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.type, 77);
	assert_int_equal(h.length, 100000);

	/* Unknown types. */
	for (unsigned t = 0; t < 256; t++) {
		int expect = t >= SRDMA_FRAME_HELLO && t <= SRDMA_FRAME_LAST ? 0 : -EBADMSG;

		memcpy(b, hello_golden, sizeof(b));
		b[3] = (uint8_t)t;
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), expect);
		assert_int_equal(h.type, t);
		if (expect)
			assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EBADMSG);
	}

	/* Oversized length: refused from the header alone, before any payload arrives. */
	static const uint32_t lens[] = {SRDMA_FRAME_MAX_PAYLOAD + 1, 0x10000, 0x7fffffff,
					UINT32_MAX};
	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		memcpy(b, error_golden, sizeof(b));
		put_be32(b + 4, lens[i]);
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EMSGSIZE);
		assert_int_equal(h.length, lens[i]);
		assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EMSGSIZE);
	}
	memcpy(b, error_golden, sizeof(b));
	put_be32(b + 4, SRDMA_FRAME_MAX_PAYLOAD);
	assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), 0);
	assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), 0); /* legal size, not here yet */
}

static void test_decode_payload_lengths(void **state)
{
	(void)state;
	for (size_t plen = 0; plen <= SRDMA_FRAME_MAX_PAYLOAD; plen++) {
		ssize_t want;

		want = plen == SRDMA_HELLO_LEN ? (ssize_t)(8 + plen) : -EBADMSG;
		assert_int_equal(decode_with_payload_len(SRDMA_FRAME_HELLO, hello_golden + 8,
							 SRDMA_HELLO_LEN, plen),
				 want);
		want = plen == SRDMA_PARAMS_LEN ? (ssize_t)(8 + plen) : -EBADMSG;
		assert_int_equal(decode_with_payload_len(SRDMA_FRAME_PARAMS, params_golden + 8,
							 SRDMA_PARAMS_LEN, plen),
				 want);
		want = plen == 0 ? 8 : -EBADMSG;
		assert_int_equal(decode_with_payload_len(SRDMA_FRAME_READY, ready_golden, 0, plen),
				 want);
		/* ERROR "full 42" has n = 7: only a frame length of 4 + 7 agrees with it. */
		want = plen == 11 ? (ssize_t)(8 + plen) : -EBADMSG;
		assert_int_equal(
		    decode_with_payload_len(SRDMA_FRAME_ERROR, error_golden + 8, 11, plen), want);
	}
}

static void test_decode_error_lengths(void **state)
{
	uint8_t p[SRDMA_FRAME_MAX_PAYLOAD];

	(void)state;
	memset(p, 'e', sizeof(p));
	/* For every message length n the frame could carry, only length == 4 + n with
	 * n <= SRDMA_ERROR_MSG_MAX decodes. */
	for (unsigned n = 0; n <= SRDMA_FRAME_MAX_PAYLOAD - 4; n++) {
		put_be16(p, SRDMA_ERR_PROTOCOL);
		put_be16(p + 2, (uint16_t)n);
		for (size_t plen = 0; plen <= SRDMA_FRAME_MAX_PAYLOAD; plen++) {
			int ok = n <= SRDMA_ERROR_MSG_MAX && plen == 4 + n;
			ssize_t got =
			    decode_with_payload_len(SRDMA_FRAME_ERROR, p, sizeof(p), plen);

			assert_int_equal(got, ok ? (ssize_t)(8 + plen) : -EBADMSG);
		}
	}
	/* n far beyond what the frame holds. */
	put_be16(p + 2, 0xffff);
	assert_int_equal(decode_with_payload_len(SRDMA_FRAME_ERROR, p, sizeof(p), 256), -EBADMSG);
}

static void test_decode_error_text_must_be_printable(void **state)
{
	uint8_t b[] = {0x53, 0x52, 0x01, 0x04, 0, 0, 0, 7, 0, 3, 0, 3, 'a', 'X', 'z'};
	struct srdma_frame f;

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		int ok = c >= 0x20 && c <= 0x7e;

		for (size_t pos = 12; pos < sizeof(b); pos++) {
			uint8_t copy[sizeof(b)];

			memcpy(copy, b, sizeof(b));
			copy[pos] = (uint8_t)c;
			assert_int_equal(decode_exact(copy, sizeof(copy), &f),
					 ok ? (ssize_t)sizeof(b) : -EBADMSG);
			if (ok) {
				assert_int_equal(f.u.error.msg[pos - 12], (char)c);
				assert_int_equal(strlen(f.u.error.msg), 3);
			}
		}
	}
}

static void expect_patched_params(size_t off, const uint8_t *bytes, size_t n, ssize_t want)
{
	uint8_t b[sizeof(params_golden)];
	struct srdma_frame f;

	memcpy(b, params_golden, sizeof(b));
	memcpy(b + off, bytes, n);
	assert_int_equal(decode_exact(b, sizeof(b), &f), want);
}

static void test_decode_out_of_range_fields(void **state)
{
	const ssize_t ok = sizeof(params_golden);
	uint8_t v[4];
	struct srdma_frame f;

	(void)state;
	/* PSN and QPN: any bit in the top byte is refused. */
	for (unsigned bit = 24; bit < 32; bit++) {
		uint8_t h[sizeof(hello_golden)];

		memcpy(h, hello_golden, sizeof(h));
		put_be32(h + 12, (1u << bit) | 0xabcdef);
		assert_int_equal(decode_exact(h, sizeof(h), &f), -EBADMSG);

		put_be32(v, (1u << bit) | 0x123456);
		expect_patched_params(P_QPN, v, 4, -EBADMSG);
	}
	put_be32(v, SRDMA_PSN_MASK);
	expect_patched_params(P_QPN, v, 4, ok);

	for (unsigned mtu = 0; mtu < 256; mtu++) {
		uint8_t m = (uint8_t)mtu;

		expect_patched_params(P_MTU, &m, 1, mtu >= 1 && mtu <= 5 ? ok : -EBADMSG);
	}

	static const struct {
		uint32_t value;
		int ok;
	} depths[] = {{0, 0},
		      {1, 1},
		      {SRDMA_MAX_RECV_DEPTH, 1},
		      {SRDMA_MAX_RECV_DEPTH + 1, 0},
		      {0xffff, 0}},
	  maxmsgs[] = {{0, 0}, {1, 1}, {SRDMA_MAX_MSG, 1}, {SRDMA_MAX_MSG + 1, 0}, {UINT32_MAX, 0}},
	  wlens[] = {{0, 1},
		     {SRDMA_MAX_WRITE_LEN, 1},
		     {SRDMA_MAX_WRITE_LEN + 1, 0},
		     {0x80000000u, 0},
		     {UINT32_MAX, 0}};
	for (size_t i = 0; i < ARRAY_LEN(depths); i++) {
		put_be16(v, (uint16_t)depths[i].value);
		expect_patched_params(P_DEPTH, v, 2, depths[i].ok ? ok : -EBADMSG);
	}
	for (size_t i = 0; i < ARRAY_LEN(maxmsgs); i++) {
		put_be32(v, maxmsgs[i].value);
		expect_patched_params(P_MAXMSG, v, 4, maxmsgs[i].ok ? ok : -EBADMSG);
	}
	for (size_t i = 0; i < ARRAY_LEN(wlens); i++) {
		put_be32(v, wlens[i].value);
		expect_patched_params(P_WLEN, v, 4, wlens[i].ok ? ok : -EBADMSG);
	}
}

static void test_decode_nonzero_reserved(void **state)
{
	struct srdma_frame f;

	(void)state;
	/* Every bit of every reserved byte. */
	for (unsigned bit = 0; bit < 8; bit++) {
		uint8_t v = (uint8_t)(1u << bit);

		for (size_t off = 16; off < 20; off++) {
			uint8_t h[sizeof(hello_golden)];

			memcpy(h, hello_golden, sizeof(h));
			h[off] = v;
			assert_int_equal(decode_exact(h, sizeof(h), &f), -EBADMSG);
		}
		expect_patched_params(P_RSVD8, &v, 1, -EBADMSG);
		expect_patched_params(P_RSVD16, &v, 1, -EBADMSG);
		expect_patched_params(P_RSVD16 + 1, &v, 1, -EBADMSG);
	}
}

static void test_decode_truncated_prefixes(void **state)
{
	static const struct {
		const uint8_t *bytes;
		size_t len;
	} frames[] = {
	    {hello_golden, sizeof(hello_golden)},
	    {params_golden, sizeof(params_golden)},
	    {ready_golden, sizeof(ready_golden)},
	    {error_golden, sizeof(error_golden)},
	};
	struct srdma_frame f;
	uint8_t big[SRDMA_FRAME_MAX_LEN];
	ssize_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(frames); i++) {
		for (size_t len = 0; len < frames[i].len; len++)
			assert_int_equal(decode_exact(frames[i].bytes, len, &f), 0);
		assert_int_equal(decode_exact(frames[i].bytes, frames[i].len, &f),
				 (ssize_t)frames[i].len);
	}

	/* The largest frame too. */
	srdma_frame_error(&f, SRDMA_ERR_INTERNAL, "%0200d", 0);
	n = srdma_frame_encode(&f, big, sizeof(big));
	assert_int_equal(n, SRDMA_FRAME_HDR_LEN + 4 + SRDMA_ERROR_MSG_MAX);
	for (size_t len = 0; len < (size_t)n; len++)
		assert_int_equal(decode_exact(big, len, &f), 0);
	assert_int_equal(decode_exact(big, (size_t)n, &f), n);
}

static void test_decode_back_to_back(void **state)
{
	uint8_t stream[4 * SRDMA_FRAME_MAX_LEN];
	size_t total = 0;
	size_t off = 0;
	struct srdma_frame f;
	struct srdma_frame expect_params = golden_params_frame();

	(void)state;
	memcpy(stream + total, hello_golden, sizeof(hello_golden));
	total += sizeof(hello_golden);
	memcpy(stream + total, params_golden, sizeof(params_golden));
	total += sizeof(params_golden);
	memcpy(stream + total, ready_golden, sizeof(ready_golden));
	total += sizeof(ready_golden);
	memcpy(stream + total, error_golden, sizeof(error_golden));
	total += sizeof(error_golden);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(hello_golden));
	assert_int_equal(f.type, SRDMA_FRAME_HELLO);
	assert_int_equal(f.u.hello.psn, 0xabcdef);
	off += sizeof(hello_golden);

	/* A stream cut inside the second frame: the first is done, the second needs more. */
	assert_int_equal(srdma_frame_decode(stream + off, sizeof(params_golden) - 1, &f), 0);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(params_golden));
	assert_frames_equal(&f, &expect_params);
	off += sizeof(params_golden);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(ready_golden));
	assert_int_equal(f.type, SRDMA_FRAME_READY);
	off += sizeof(ready_golden);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(error_golden));
	assert_int_equal(f.type, SRDMA_FRAME_ERROR);
	assert_string_equal(f.u.error.msg, "full 42");
	off += sizeof(error_golden);

	assert_int_equal(off, total);
	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), 0);
}

static void test_encode_enobufs(void **state)
{
	struct srdma_frame frames[4];
	size_t need[4];

	(void)state;
	memset(frames, 0, sizeof(frames));
	frames[0].type = SRDMA_FRAME_HELLO;
	frames[0].u.hello.psn = 1;
	need[0] = sizeof(hello_golden);
	frames[1] = golden_params_frame();
	need[1] = sizeof(params_golden);
	frames[2].type = SRDMA_FRAME_READY;
	need[2] = sizeof(ready_golden);
	srdma_frame_error(&frames[3], SRDMA_ERR_SHUTDOWN, "%0200d", 7);
	need[3] = SRDMA_FRAME_HDR_LEN + 4 + SRDMA_ERROR_MSG_MAX;

	for (size_t i = 0; i < ARRAY_LEN(frames); i++) {
		uint8_t buf[SRDMA_FRAME_MAX_LEN];

		for (size_t cap = 0; cap < need[i]; cap++) {
			memset(buf, 0xa5, sizeof(buf));
			assert_int_equal(srdma_frame_encode(&frames[i], buf, cap), -ENOBUFS);
			/* A refused encode leaves the buffer alone. */
			for (size_t k = 0; k < sizeof(buf); k++)
				assert_int_equal(buf[k], 0xa5);
		}
		encode_exact(&frames[i], need[i], buf);
		assert_int_equal(srdma_frame_encode(&frames[i], buf, sizeof(buf)), need[i]);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_HELLO), "HELLO");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_PARAMS), "PARAMS");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_READY), "READY");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_ERROR), "ERROR");
	assert_string_equal(srdma_frame_type_name(0), "unknown");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_OPEN), "OPEN");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_QP), "QP");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_REGION), "REGION");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_REVOKE), "REVOKE");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_CTRL), "CTRL");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_CLOSE), "CLOSE");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_PING), "PING");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_PONG), "PONG");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_LAST + 1), "unknown");
	assert_string_equal(srdma_frame_type_name(UINT_MAX), "unknown");

	assert_string_equal(srdma_error_code_name(SRDMA_ERR_SERVER_FULL), "SERVER_FULL");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_VERSION), "VERSION");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_PROTOCOL), "PROTOCOL");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_RESOURCES), "RESOURCES");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_SHUTDOWN), "SHUTDOWN");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_TIMEOUT), "TIMEOUT");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_FEATURE), "FEATURE");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_INTERNAL), "INTERNAL");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_RDMA), "RDMA");
	assert_string_equal(srdma_error_code_name(0), "unknown");
	assert_string_equal(srdma_error_code_name(SRDMA_ERR_REFUSED), "REFUSED");
	assert_string_equal(srdma_error_code_name(11), "unknown");
	assert_string_equal(srdma_error_code_name(UINT_MAX), "unknown");
}

/* Connection-manager frames. Golden vectors written by hand from the layouts in wire.h. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_golden),
	    cmocka_unit_test(test_hello_feature_bits_golden),
	    cmocka_unit_test(test_params_golden),
	    cmocka_unit_test(test_ready_error_golden),
	    cmocka_unit_test(test_hello_round_trip_bounds),
	    cmocka_unit_test(test_params_round_trip_bounds),
	    cmocka_unit_test(test_ready_error_round_trip_bounds),
	    cmocka_unit_test(test_encode_rejects_out_of_range),
	    cmocka_unit_test(test_encode_error_truncates_and_sanitizes),
	    cmocka_unit_test(test_frame_error_helper),
	    cmocka_unit_test(test_decode_hdr_short),
	    cmocka_unit_test(test_decode_hdr_errors_report_raw_fields),
	    cmocka_unit_test(test_decode_payload_lengths),
	    cmocka_unit_test(test_decode_error_lengths),
	    cmocka_unit_test(test_decode_error_text_must_be_printable),
	    cmocka_unit_test(test_decode_out_of_range_fields),
	    cmocka_unit_test(test_decode_nonzero_reserved),
	    cmocka_unit_test(test_decode_truncated_prefixes),
	    cmocka_unit_test(test_decode_back_to_back),
	    cmocka_unit_test(test_encode_enobufs),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
