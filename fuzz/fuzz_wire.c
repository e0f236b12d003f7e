/* libFuzzer target for the frame codec (src/wire.c).
 *
 * Besides "no crash" (ASan/UBSan catch reads past len, since libFuzzer hands over an exact-size
 * heap copy), every run checks the codec's contract and aborts on a violation:
 *  - return codes are only the documented ones, and decode agrees with decode_hdr;
 *  - only the types READY..QP_REFUSED (3..13) decode: 0, 1, 2 and 14..255 are refused from the
 *    header;
 *  - decode_hdr reports the raw header fields in network byte order, whatever it returns;
 *  - 0 (need more) only when the frame is really incomplete;
 *  - anything that decodes re-encodes to exactly the consumed bytes, needs exactly that many
 *    bytes of buffer, and each of its strict prefixes decodes to 0. ERROR frames are no
 *    exception: the decoder only accepts printable text of at most SRDMA_ERROR_MSG_MAX bytes,
 *    which the encoder's truncation and '?' substitution leave unchanged;
 *  - the same bytes, read as a struct, make the encoder agree with an independent range check,
 *    and whatever it encodes decodes back to the same fields.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int printable(char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static void check_frame_fields(const struct srdma_frame *f, size_t plen)
{
	switch (f->type) {
	case SRDMA_FRAME_READY:
		CHECK(plen == 0);
		break;
	case SRDMA_FRAME_ERROR:
		CHECK(plen >= 4);
		CHECK(strlen(f->u.error.msg) == plen - 4);
		CHECK(plen - 4 <= SRDMA_ERROR_MSG_MAX);
		for (const char *c = f->u.error.msg; *c; c++)
			CHECK(printable(*c));
		break;
	case SRDMA_FRAME_OPEN:
		CHECK(plen == SRDMA_OPEN_LEN);
		CHECK(f->u.open.nqp >= 1 && f->u.open.nqp <= SRDMA_WIRE_MAX_QPS);
		CHECK(((uint32_t)f->u.open.msg_mask >> f->u.open.nqp) == 0);
		break;
	case SRDMA_FRAME_QP:
		CHECK(plen == SRDMA_QP_LEN);
		CHECK(f->u.qp.index < SRDMA_WIRE_MAX_QPS);
		CHECK(f->u.qp.qpn >= 1 && f->u.qp.qpn <= SRDMA_PSN_MASK);
		CHECK(f->u.qp.psn <= SRDMA_PSN_MASK);
		CHECK(f->u.qp.mtu >= 1 && f->u.qp.mtu <= 5);
		CHECK(f->u.qp.rd_atomic <= SRDMA_WIRE_MAX_RD_ATOMIC);
		if (f->u.qp.driver == 0) {
			CHECK(f->u.qp.max_msg == 0 && f->u.qp.depth == 0 &&
			      f->u.qp.rekey_log2 == 0 && f->u.qp.max_send == 0);
		} else {
			CHECK(f->u.qp.driver == 1);
			CHECK(f->u.qp.max_msg >= 1 && f->u.qp.max_msg <= SRDMA_MAX_MSG);
			CHECK(f->u.qp.depth >= 2 && f->u.qp.depth <= SRDMA_MAX_RECV_DEPTH);
			CHECK(f->u.qp.rekey_log2 <= SRDMA_WIRE_MAX_REKEY_LOG2);
			CHECK(f->u.qp.max_send <= SRDMA_MAX_MSG);
		}
		break;
	case SRDMA_FRAME_REGION:
		CHECK(plen == SRDMA_REGION_LEN);
		CHECK(f->u.region.access >= 1 && f->u.region.access <= 7);
		CHECK(f->u.region.len != 0);
		CHECK(f->u.region.addr + f->u.region.len > f->u.region.addr);
		break;
	case SRDMA_FRAME_REVOKE:
		CHECK(plen == SRDMA_REVOKE_LEN);
		break;
	case SRDMA_FRAME_CTRL:
		CHECK(plen >= 1 && plen <= SRDMA_CTRL_MSG_MAX);
		CHECK(f->u.ctrl.len == plen);
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		CHECK(plen == 0);
		break;
	case SRDMA_FRAME_QP_REFUSED:
		CHECK(plen >= 6);
		CHECK(f->u.qp_refused.index < SRDMA_WIRE_MAX_QPS);
		CHECK(f->u.qp_refused.error.code != 0);
		CHECK(strlen(f->u.qp_refused.error.msg) == plen - 6);
		CHECK(plen - 6 <= SRDMA_ERROR_MSG_MAX);
		for (const char *c = f->u.qp_refused.error.msg; *c; c++)
			CHECK(printable(*c));
		break;
	default:
		CHECK(!"decoded an unknown frame type");
	}
}

/* Decode one frame at the start of buf and check everything the contract promises. The prefix
 * check costs a decode per byte, so the caller asks for it on the first frame only. */
static ssize_t check_decode(const uint8_t *buf, size_t len, int check_prefixes)
{
	struct srdma_frame_hdr h;
	struct srdma_frame f;
	uint8_t *re;
	int hret;
	ssize_t n;

	hret = srdma_frame_decode_hdr(buf, len, &h);
	n = srdma_frame_decode(buf, len, &f);
	if (len < SRDMA_FRAME_HDR_LEN) {
		CHECK(hret == -EAGAIN);
		CHECK(n == 0);
		return 0;
	}
	CHECK(hret == 0 || hret == -EBADMSG || hret == -EPROTONOSUPPORT || hret == -EMSGSIZE);
	CHECK(h.magic == (uint16_t)(buf[0] << 8 | buf[1]));
	CHECK(h.version == buf[2]);
	CHECK(h.type == buf[3]);
	CHECK(h.length == be32(buf + 4));
	/* Logs name whatever a peer sent: the tables must cope with any value. */
	CHECK(srdma_frame_type_name(h.type) != NULL);
	CHECK(srdma_error_code_name(h.length) != NULL);
	if (h.magic == SRDMA_WIRE_MAGIC && h.version == SRDMA_PROTO_VERSION &&
	    (h.type < 3 || h.type > 13))
		CHECK(hret == -EBADMSG);
	if (hret < 0) {
		CHECK(n == hret);
		return n;
	}
	CHECK(h.length <= SRDMA_FRAME_MAX_PAYLOAD);
	if (n == 0) {
		CHECK(len < SRDMA_FRAME_HDR_LEN + h.length);
		return 0;
	}
	CHECK(len >= SRDMA_FRAME_HDR_LEN + h.length);
	CHECK(n > 0 || n == -EBADMSG);
	if (n < 0)
		return n;

	CHECK((size_t)n == SRDMA_FRAME_HDR_LEN + h.length);
	CHECK((unsigned)f.type == h.type);
	check_frame_fields(&f, h.length);

	/* Exact-size heap buffer: an encoder overrun is an ASan report. */
	re = malloc((size_t)n);
	CHECK(re != NULL);
	CHECK(srdma_frame_encode(&f, re, (size_t)n - 1) == -ENOBUFS);
	CHECK(srdma_frame_encode(&f, re, (size_t)n) == n);
	CHECK(memcmp(re, buf, (size_t)n) == 0);
	free(re);

	for (size_t cut = 0; check_prefixes && cut < (size_t)n; cut++)
		CHECK(srdma_frame_decode(buf, cut, &f) == 0);
	return n;
}

/* Reads fields for the encoder from the input; zeros once it runs out. */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct cursor *c, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (c->left) {
			v |= *c->p++;
			c->left--;
		}
	}
	return v;
}

static int expect_valid(const struct srdma_frame *f)
{
	const struct srdma_wire_qp *q = &f->u.qp;
	const struct srdma_wire_region *r = &f->u.region;

	switch (f->type) {
	case SRDMA_FRAME_OPEN:
		return f->u.open.nqp >= 1 && f->u.open.nqp <= 16 &&
		       f->u.open.msg_mask < (1u << f->u.open.nqp);
	case SRDMA_FRAME_QP:
		if (q->index >= 16 || q->qpn == 0 || q->qpn >= (1u << 24) || q->psn >= (1u << 24) ||
		    q->mtu < 1 || q->mtu > 5 || q->rd_atomic > 16)
			return 0;
		if (q->driver == 0)
			return q->max_msg == 0 && q->depth == 0 && q->rekey_log2 == 0 &&
			       q->max_send == 0;
		return q->driver == 1 && q->max_msg >= 1 && q->max_msg <= (1u << 20) &&
		       q->depth >= 2 && q->depth <= 1024 && q->rekey_log2 <= 31 &&
		       q->max_send <= (1u << 20);
	case SRDMA_FRAME_REGION:
		/* With len != 0 the sum wraps below addr exactly when addr + len > 2^64 - 1. */
		return r->access >= 1 && r->access <= 7 && r->len != 0 &&
		       r->addr + r->len > r->addr;
	case SRDMA_FRAME_CTRL:
		return f->u.ctrl.len >= 1 && f->u.ctrl.len <= 240;
	case SRDMA_FRAME_QP_REFUSED:
		return f->u.qp_refused.index < 16 && f->u.qp_refused.error.code != 0;
	case SRDMA_FRAME_READY:
	case SRDMA_FRAME_ERROR:
	case SRDMA_FRAME_REVOKE:
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		return 1;
	}
	return 0;
}

static void check_encode(const uint8_t *data, size_t size)
{
	struct cursor c = {data, size};
	struct srdma_frame f;
	struct srdma_frame back;
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	size_t cap;
	size_t need = 0;
	ssize_t n;

	memset(&f, 0, sizeof(f));
	/* 0, 1, 2 (the former HELLO and PARAMS) and LAST + 1: invalid. */
	f.type = (enum srdma_frame_type)(take(&c, 1) % (SRDMA_FRAME_LAST + 2));
	cap = (size_t)(take(&c, 2) % (SRDMA_FRAME_MAX_LEN + 1));
	switch (f.type) {
	case SRDMA_FRAME_READY:
		need = SRDMA_FRAME_HDR_LEN;
		break;
	case SRDMA_FRAME_ERROR: {
		size_t n_msg;

		f.u.error.code = (uint16_t)take(&c, 2);
		/* Raw bytes, any value, possibly filling the array with no terminator. */
		n_msg = c.left < sizeof(f.u.error.msg) ? c.left : sizeof(f.u.error.msg);
		if (n_msg)
			memcpy(f.u.error.msg, c.p, n_msg);
		need = SRDMA_FRAME_HDR_LEN + 4 + strnlen(f.u.error.msg, SRDMA_ERROR_MSG_MAX);
		break;
	}
	case SRDMA_FRAME_OPEN:
		f.u.open.features = (uint32_t)take(&c, 4);
		f.u.open.nqp = (uint8_t)take(&c, 1);
		f.u.open.msg_mask = (uint16_t)take(&c, 2);
		need = SRDMA_FRAME_HDR_LEN + SRDMA_OPEN_LEN;
		break;
	case SRDMA_FRAME_QP:
		f.u.qp.index = (uint8_t)take(&c, 1);
		f.u.qp.driver = (uint8_t)take(&c, 1);
		f.u.qp.lid = (uint16_t)take(&c, 2);
		f.u.qp.qpn = (uint32_t)take(&c, 4);
		f.u.qp.psn = (uint32_t)take(&c, 4);
		f.u.qp.mtu = (uint8_t)take(&c, 1);
		f.u.qp.rd_atomic = (uint8_t)take(&c, 1);
		for (size_t i = 0; i < sizeof(f.u.qp.gid); i++)
			f.u.qp.gid[i] = (uint8_t)take(&c, 1);
		f.u.qp.max_msg = (uint32_t)take(&c, 4);
		f.u.qp.depth = (uint16_t)take(&c, 2);
		f.u.qp.rekey_log2 = (uint8_t)take(&c, 1);
		f.u.qp.max_send = (uint32_t)take(&c, 4);
		need = SRDMA_FRAME_HDR_LEN + SRDMA_QP_LEN;
		break;
	case SRDMA_FRAME_REGION:
		f.u.region.id = (uint32_t)take(&c, 4);
		f.u.region.access = (uint32_t)take(&c, 4);
		f.u.region.addr = take(&c, 8);
		f.u.region.len = take(&c, 8);
		f.u.region.rkey = (uint32_t)take(&c, 4);
		need = SRDMA_FRAME_HDR_LEN + SRDMA_REGION_LEN;
		break;
	case SRDMA_FRAME_REVOKE:
		f.u.revoke_id = (uint32_t)take(&c, 4);
		need = SRDMA_FRAME_HDR_LEN + SRDMA_REVOKE_LEN;
		break;
	case SRDMA_FRAME_CTRL:
		/* Any length, the out-of-range ones included; the bytes are whatever is left. */
		f.u.ctrl.len = (uint16_t)take(&c, 2);
		for (size_t i = 0; i < sizeof(f.u.ctrl.data); i++)
			f.u.ctrl.data[i] = (uint8_t)take(&c, 1);
		need = SRDMA_FRAME_HDR_LEN + f.u.ctrl.len;
		break;
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		need = SRDMA_FRAME_HDR_LEN;
		break;
	case SRDMA_FRAME_QP_REFUSED: {
		size_t n_msg;

		f.u.qp_refused.index = (uint8_t)take(&c, 1);
		f.u.qp_refused.error.code = (uint16_t)take(&c, 2);
		n_msg = c.left < sizeof(f.u.qp_refused.error.msg)
			    ? c.left
			    : sizeof(f.u.qp_refused.error.msg);
		if (n_msg)
			memcpy(f.u.qp_refused.error.msg, c.p, n_msg);
		need = SRDMA_FRAME_HDR_LEN + 6 +
		       strnlen(f.u.qp_refused.error.msg, SRDMA_ERROR_MSG_MAX);
		break;
	}
	}

	n = srdma_frame_encode(&f, buf, cap);
	if (!expect_valid(&f)) {
		CHECK(n == -EINVAL);
		return;
	}
	if (cap < need) {
		CHECK(n == -ENOBUFS);
		return;
	}
	CHECK(n == (ssize_t)need);
	CHECK(srdma_frame_decode(buf, (size_t)n, &back) == n);
	CHECK(back.type == f.type);
	switch (f.type) {
	case SRDMA_FRAME_READY:
		break;
	case SRDMA_FRAME_ERROR: {
		size_t len = need - SRDMA_FRAME_HDR_LEN - 4;

		CHECK(back.u.error.code == f.u.error.code);
		CHECK(strlen(back.u.error.msg) == len);
		for (size_t i = 0; i < len; i++)
			CHECK(back.u.error.msg[i] ==
			      (printable(f.u.error.msg[i]) ? f.u.error.msg[i] : '?'));
		break;
	}
	case SRDMA_FRAME_OPEN:
		CHECK(back.u.open.features == f.u.open.features);
		CHECK(back.u.open.nqp == f.u.open.nqp);
		CHECK(back.u.open.msg_mask == f.u.open.msg_mask);
		break;
	case SRDMA_FRAME_QP:
		CHECK(back.u.qp.index == f.u.qp.index);
		CHECK(back.u.qp.driver == f.u.qp.driver);
		CHECK(back.u.qp.lid == f.u.qp.lid);
		CHECK(back.u.qp.qpn == f.u.qp.qpn);
		CHECK(back.u.qp.psn == f.u.qp.psn);
		CHECK(back.u.qp.mtu == f.u.qp.mtu);
		CHECK(back.u.qp.rd_atomic == f.u.qp.rd_atomic);
		CHECK(memcmp(back.u.qp.gid, f.u.qp.gid, sizeof(f.u.qp.gid)) == 0);
		CHECK(back.u.qp.max_msg == f.u.qp.max_msg);
		CHECK(back.u.qp.depth == f.u.qp.depth);
		CHECK(back.u.qp.rekey_log2 == f.u.qp.rekey_log2);
		CHECK(back.u.qp.max_send == f.u.qp.max_send);
		break;
	case SRDMA_FRAME_REGION:
		CHECK(back.u.region.id == f.u.region.id);
		CHECK(back.u.region.access == f.u.region.access);
		CHECK(back.u.region.addr == f.u.region.addr);
		CHECK(back.u.region.len == f.u.region.len);
		CHECK(back.u.region.rkey == f.u.region.rkey);
		break;
	case SRDMA_FRAME_REVOKE:
		CHECK(back.u.revoke_id == f.u.revoke_id);
		break;
	case SRDMA_FRAME_CTRL:
		CHECK(back.u.ctrl.len == f.u.ctrl.len);
		CHECK(memcmp(back.u.ctrl.data, f.u.ctrl.data, f.u.ctrl.len) == 0);
		break;
	case SRDMA_FRAME_QP_REFUSED: {
		size_t len = need - SRDMA_FRAME_HDR_LEN - 6;

		CHECK(back.u.qp_refused.index == f.u.qp_refused.index);
		CHECK(back.u.qp_refused.error.code == f.u.qp_refused.error.code);
		CHECK(strlen(back.u.qp_refused.error.msg) == len);
		for (size_t i = 0; i < len; i++)
			CHECK(back.u.qp_refused.error.msg[i] ==
			      (printable(f.u.qp_refused.error.msg[i]) ? f.u.qp_refused.error.msg[i]
								      : '?'));
		break;
	}
	case SRDMA_FRAME_CLOSE:
	case SRDMA_FRAME_PING:
	case SRDMA_FRAME_PONG:
		break;
	}
}

static void check_error_helper(const uint8_t *data, size_t size)
{
	char text[512];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	struct srdma_frame f;
	struct srdma_frame back;
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	ssize_t len;

	if (n)
		memcpy(text, data, n);
	text[n] = '\0';
	srdma_frame_error(&f, 7, "peer said: %s", text);
	CHECK(f.type == SRDMA_FRAME_ERROR);
	CHECK(strlen(f.u.error.msg) <= SRDMA_ERROR_MSG_MAX);
	len = srdma_frame_encode(&f, buf, sizeof(buf));
	CHECK(len > 0);
	CHECK(srdma_frame_decode(buf, (size_t)len, &back) == len);
	CHECK(strcmp(back.u.error.msg, f.u.error.msg) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;

	if (size == 0)
		return 0;
	/* As a stream: frames back to back, each consumed exactly. */
	while ((n = check_decode(data + off, size - off, off == 0)) > 0)
		off += (size_t)n;

	check_encode(data, size);
	check_error_helper(data, size);
	return 0;
}
