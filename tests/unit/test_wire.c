/* Unit tests for the control-channel frame codec (src/wire.c): the frame header, the type
 * numbers, READY and ERROR; the connection manager's other frames are in test_wire_cm.c. */
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
static const uint8_t error_golden[] = {
    0x53, 0x52, 0x03, 0x04, 0x00, 0x00, 0x00, 0x0b, /* magic, v3, ERROR, len 11 */
    0x00, 0x01,					    /* code SERVER_FULL */
    0x00, 0x07,					    /* n = 7 */
    'f',  'u',	'l',  'l',  ' ',  '4',	'2',
};

/* What a peer of the former demo protocol sent: HELLO (type 1: u32 features | u32 psn | u32 0)
 * and PARAMS (type 2, 48 bytes). Neither type exists any more: both are unknown types. */
static const uint8_t former_hello[] = {
    0x53, 0x52, 0x01, 0x01, 0x00, 0x00, 0x00, 0x0c, /* magic "SR", v1, type 1, len 12 */
    0x00, 0x00, 0x00, 0x01,			    /* features AEAD */
    0x00, 0xab, 0xcd, 0xef,			    /* psn 0xabcdef */
    0x00, 0x00, 0x00, 0x00,			    /* reserved */
};

static const uint8_t former_params[] = {
    0x53, 0x52, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, /* magic, v1, type 2, len 48 */
    0x00, 0x12, 0x34, 0x56, 0xbe, 0xef, 0x03, 0x00, /* qpn, lid, mtu, reserved */
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* gid */
    0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, /* gid (cont.) */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, /* recv_depth, reserved, max_msg */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* write_addr */
    0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x10, 0x00, 0x00, /* write_rkey, write_len */
};

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

static void test_encode_rejects_unknown_types(void **state)
{
	struct srdma_frame f;

	(void)state;

	memset(&f, 0, sizeof(f));
	for (unsigned t = 0; t < SRDMA_FRAME_FIRST; t++) {
		f.type = (enum srdma_frame_type)t;
		expect_encode_einval(&f);
	}
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
		assert_int_equal(srdma_frame_decode_hdr(error_golden, len, &h), -EAGAIN);
	assert_int_equal(srdma_frame_decode_hdr(error_golden, SRDMA_FRAME_HDR_LEN, &h), 0);
	assert_int_equal(h.magic, SRDMA_WIRE_MAGIC);
	assert_int_equal(h.version, SRDMA_PROTO_VERSION);
	assert_int_equal(h.type, SRDMA_FRAME_ERROR);
	assert_int_equal(h.length, sizeof(error_golden) - SRDMA_FRAME_HDR_LEN);
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
		memcpy(b, error_golden, sizeof(b));
		put_be16(b, magics[i]);
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EBADMSG);
		assert_int_equal(h.magic, magics[i]);
		assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EBADMSG);
	}

	/* Every other version, and the header still says which one the peer spoke. */
	for (unsigned v = 0; v < 256; v++) {
		if (v == SRDMA_PROTO_VERSION)
			continue;
		memcpy(b, error_golden, sizeof(b));
		b[2] = (uint8_t)v;
		assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EPROTONOSUPPORT);
		assert_int_equal(h.version, v);
		assert_int_equal(h.magic, SRDMA_WIRE_MAGIC);
		assert_int_equal(h.type, SRDMA_FRAME_ERROR);
		assert_int_equal(h.length, sizeof(error_golden) - SRDMA_FRAME_HDR_LEN);
		/* No payload needed to refuse it. */
		assert_int_equal(srdma_frame_decode(b, sizeof(b), &f), -EPROTONOSUPPORT);
	}
	/* A future version may use types and sizes we do not know: still a version error. */
	memcpy(b, error_golden, sizeof(b));
	b[2] = SRDMA_PROTO_VERSION + 1;
	b[3] = 77;
	put_be32(b + 4, 100000);
	assert_int_equal(srdma_frame_decode_hdr(b, sizeof(b), &h), -EPROTONOSUPPORT);
	assert_int_equal(h.version, SRDMA_PROTO_VERSION + 1);
	assert_int_equal(h.type, 77);
	assert_int_equal(h.length, 100000);

	/* Unknown types: 0, the former demo protocol's 1 and 2, and everything above PONG. */
	assert_int_equal(SRDMA_FRAME_FIRST, 3);
	for (unsigned t = 0; t < 256; t++) {
		int expect = t >= SRDMA_FRAME_FIRST && t <= SRDMA_FRAME_LAST ? 0 : -EBADMSG;

		memcpy(b, error_golden, sizeof(b));
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

		/* Types 0, 1 and 2 (the former HELLO and PARAMS): unknown, whatever the length. */
		for (uint8_t t = 0; t < SRDMA_FRAME_FIRST; t++)
			assert_int_equal(decode_with_payload_len(t, former_params + 8,
								 sizeof(former_params) - 8, plen),
					 -EBADMSG);
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
	uint8_t b[] = {0x53, 0x52, 0x03, 0x04, 0, 0, 0, 7, 0, 3, 0, 3, 'a', 'X', 'z'};
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

static void test_decode_truncated_prefixes(void **state)
{
	static const struct frame_bytes frames[] = {
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

/* The former demo protocol's HELLO and PARAMS: as sent (version 1), another version, refused
 * from the header alone; under the current version, unknown types, refused from the header
 * alone too, complete or not. */
static void test_former_frames_unknown(void **state)
{
	static const struct frame_bytes former[] = {
	    {former_hello, sizeof(former_hello)},
	    {former_params, sizeof(former_params)},
	};
	uint8_t stream[2 * SRDMA_FRAME_MAX_LEN], cur[SRDMA_FRAME_MAX_LEN];
	struct srdma_frame_hdr h;
	struct srdma_frame f;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(former); i++) {
		/* The header alone is enough to refuse it: no waiting for the payload. */
		assert_int_equal(srdma_frame_decode_hdr(former[i].bytes, SRDMA_FRAME_HDR_LEN, &h),
				 -EPROTONOSUPPORT);
		assert_int_equal(h.version, 1);
		memcpy(cur, former[i].bytes, former[i].len);
		cur[2] = SRDMA_PROTO_VERSION;
		assert_int_equal(srdma_frame_decode_hdr(cur, SRDMA_FRAME_HDR_LEN, &h), -EBADMSG);
		assert_int_equal(h.magic, SRDMA_WIRE_MAGIC);
		assert_int_equal(h.version, SRDMA_PROTO_VERSION);
		assert_int_equal(h.type, i + 1);
		assert_int_equal(h.length, former[i].len - SRDMA_FRAME_HDR_LEN);
		assert_string_equal(srdma_frame_type_name(h.type), "unknown");
		for (size_t len = SRDMA_FRAME_HDR_LEN; len <= former[i].len; len++)
			assert_int_equal(decode_exact(cur, len, &f), -EBADMSG);
	}

	memcpy(stream, former_hello, sizeof(former_hello));
	stream[2] = SRDMA_PROTO_VERSION;
	memcpy(stream + sizeof(former_hello), ready_golden, sizeof(ready_golden));
	assert_int_equal(
	    srdma_frame_decode(stream, sizeof(former_hello) + sizeof(ready_golden), &f), -EBADMSG);
	/* The decoder keeps no state: the READY behind it decodes as ever. */
	assert_int_equal(
	    srdma_frame_decode(stream + sizeof(former_hello), sizeof(ready_golden), &f),
	    (ssize_t)sizeof(ready_golden));
	assert_int_equal(f.type, SRDMA_FRAME_READY);
}

static void test_decode_back_to_back(void **state)
{
	uint8_t stream[4 * SRDMA_FRAME_MAX_LEN];
	size_t total = 0;
	size_t off = 0;
	struct srdma_frame f;

	(void)state;
	memcpy(stream + total, ready_golden, sizeof(ready_golden));
	total += sizeof(ready_golden);
	memcpy(stream + total, error_golden, sizeof(error_golden));
	total += sizeof(error_golden);
	memcpy(stream + total, ready_golden, sizeof(ready_golden));
	total += sizeof(ready_golden);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(ready_golden));
	assert_int_equal(f.type, SRDMA_FRAME_READY);
	off += sizeof(ready_golden);

	/* A stream cut inside the second frame: the first is done, the second needs more. */
	assert_int_equal(srdma_frame_decode(stream + off, sizeof(error_golden) - 1, &f), 0);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(error_golden));
	assert_int_equal(f.type, SRDMA_FRAME_ERROR);
	assert_string_equal(f.u.error.msg, "full 42");
	off += sizeof(error_golden);

	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), sizeof(ready_golden));
	assert_int_equal(f.type, SRDMA_FRAME_READY);
	off += sizeof(ready_golden);

	assert_int_equal(off, total);
	assert_int_equal(srdma_frame_decode(stream + off, total - off, &f), 0);
}

static void test_encode_enobufs(void **state)
{
	struct srdma_frame frames[3];
	size_t need[3];

	(void)state;
	memset(frames, 0, sizeof(frames));
	frames[0].type = SRDMA_FRAME_READY;
	need[0] = sizeof(ready_golden);
	srdma_frame_error(&frames[1], SRDMA_ERR_SHUTDOWN, "full %d", 42);
	need[1] = sizeof(error_golden);
	srdma_frame_error(&frames[2], SRDMA_ERR_SHUTDOWN, "%0200d", 7);
	need[2] = SRDMA_FRAME_HDR_LEN + 4 + SRDMA_ERROR_MSG_MAX;

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
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_READY), "READY");
	assert_string_equal(srdma_frame_type_name(SRDMA_FRAME_ERROR), "ERROR");
	assert_string_equal(srdma_frame_type_name(0), "unknown");
	assert_string_equal(srdma_frame_type_name(1), "unknown"); /* the former HELLO */
	assert_string_equal(srdma_frame_type_name(2), "unknown"); /* the former PARAMS */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready_error_golden),
	    cmocka_unit_test(test_ready_error_round_trip_bounds),
	    cmocka_unit_test(test_encode_rejects_unknown_types),
	    cmocka_unit_test(test_encode_error_truncates_and_sanitizes),
	    cmocka_unit_test(test_frame_error_helper),
	    cmocka_unit_test(test_decode_hdr_short),
	    cmocka_unit_test(test_decode_hdr_errors_report_raw_fields),
	    cmocka_unit_test(test_decode_payload_lengths),
	    cmocka_unit_test(test_decode_error_lengths),
	    cmocka_unit_test(test_decode_error_text_must_be_printable),
	    cmocka_unit_test(test_decode_truncated_prefixes),
	    cmocka_unit_test(test_former_frames_unknown),
	    cmocka_unit_test(test_decode_back_to_back),
	    cmocka_unit_test(test_encode_enobufs),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
