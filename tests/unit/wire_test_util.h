/* Helpers shared by the frame codec's unit tests (test_wire.c: the frame header, the type
 * numbers, READY and ERROR; test_wire_cm.c: the other frames). Header-only: static inline. */
#ifndef SRDMA_TEST_WIRE_UTIL_H
#define SRDMA_TEST_WIRE_UTIL_H

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A frame's bytes, for tables of test vectors. */
struct frame_bytes {
	const uint8_t *bytes;
	size_t len;
};

/* READY, written by hand from wire.h; both files use it. */
static const uint8_t ready_golden[] = {0x53, 0x52, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00};

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Encode into a heap buffer of exactly the frame's size, so ASan sees any overrun. */
static inline size_t encode_exact(const struct srdma_frame *f, size_t expect, uint8_t *copy)
{
	uint8_t *buf = malloc(expect);
	ssize_t n;

	assert_non_null(buf);
	n = srdma_frame_encode(f, buf, expect);
	assert_int_equal(n, (ssize_t)expect);
	memcpy(copy, buf, expect);
	free(buf);
	return (size_t)n;
}

/* Decode from a heap buffer of exactly len bytes. */
static inline ssize_t decode_exact(const uint8_t *bytes, size_t len, struct srdma_frame *out)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	assert_non_null(buf);
	if (len)
		memcpy(buf, bytes, len);
	n = srdma_frame_decode(buf, len, out);
	free(buf);
	return n;
}

static inline void assert_frames_equal(const struct srdma_frame *a, const struct srdma_frame *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case SRDMA_FRAME_READY:
		break;
	case SRDMA_FRAME_ERROR:
		assert_int_equal(a->u.error.code, b->u.error.code);
		assert_string_equal(a->u.error.msg, b->u.error.msg);
		break;
	case SRDMA_FRAME_OPEN:
		assert_int_equal(a->u.open.features, b->u.open.features);
		assert_int_equal(a->u.open.nqp, b->u.open.nqp);
		assert_int_equal(a->u.open.msg_mask, b->u.open.msg_mask);
		break;
	case SRDMA_FRAME_QP:
		assert_int_equal(a->u.qp.index, b->u.qp.index);
		assert_int_equal(a->u.qp.driver, b->u.qp.driver);
		assert_int_equal(a->u.qp.lid, b->u.qp.lid);
		assert_int_equal(a->u.qp.qpn, b->u.qp.qpn);
		assert_int_equal(a->u.qp.psn, b->u.qp.psn);
		assert_int_equal(a->u.qp.mtu, b->u.qp.mtu);
		assert_int_equal(a->u.qp.rd_atomic, b->u.qp.rd_atomic);
		assert_memory_equal(a->u.qp.gid, b->u.qp.gid, 16);
		assert_int_equal(a->u.qp.max_msg, b->u.qp.max_msg);
		assert_int_equal(a->u.qp.rekey_log2, b->u.qp.rekey_log2);
		assert_int_equal(a->u.qp.depth, b->u.qp.depth);
		break;
	case SRDMA_FRAME_REGION:
		assert_int_equal(a->u.region.id, b->u.region.id);
		assert_int_equal(a->u.region.access, b->u.region.access);
		assert_true(a->u.region.addr == b->u.region.addr);
		assert_true(a->u.region.len == b->u.region.len);
		assert_int_equal(a->u.region.rkey, b->u.region.rkey);
		break;
	case SRDMA_FRAME_REVOKE:
		assert_int_equal(a->u.revoke_id, b->u.revoke_id);
		break;
	case SRDMA_FRAME_CTRL:
		assert_int_equal(a->u.ctrl.len, b->u.ctrl.len);
		assert_memory_equal(a->u.ctrl.data, b->u.ctrl.data, a->u.ctrl.len);
		break;
	case SRDMA_FRAME_QP_REFUSED:
		assert_int_equal(a->u.qp_refused.index, b->u.qp_refused.index);
		assert_int_equal(a->u.qp_refused.error.code, b->u.qp_refused.error.code);
		assert_string_equal(a->u.qp_refused.error.msg, b->u.qp_refused.error.msg);
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		break;
	}
}

static inline void round_trip(const struct srdma_frame *f, size_t expect_len)
{
	uint8_t bytes[SRDMA_FRAME_MAX_LEN];
	struct srdma_frame back;

	encode_exact(f, expect_len, bytes);
	assert_int_equal(decode_exact(bytes, expect_len, &back), (ssize_t)expect_len);
	assert_frames_equal(f, &back);
}

/* Build a frame of the given type whose header claims plen bytes, filled from a valid payload
 * (zero-padded or cut), and decode it. */
static inline ssize_t decode_with_payload_len(uint8_t type, const uint8_t *valid, size_t valid_len,
					      size_t plen)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	struct srdma_frame f;

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x53; /* magic "SR" */
	buf[1] = 0x52;
	buf[2] = SRDMA_PROTO_VERSION;
	buf[3] = type;
	put_be32(buf + 4, (uint32_t)plen);
	memcpy(buf + SRDMA_FRAME_HDR_LEN, valid, valid_len < plen ? valid_len : plen);
	return decode_exact(buf, SRDMA_FRAME_HDR_LEN + plen, &f);
}

static inline void expect_encode_einval(const struct srdma_frame *f)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];

	assert_int_equal(srdma_frame_encode(f, buf, sizeof(buf)), -EINVAL);
	/* Even with no room at all, the range error is what the caller needs to hear. */
	assert_int_equal(srdma_frame_encode(f, buf, 0), -EINVAL);
}

#endif
