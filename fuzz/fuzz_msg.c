/* libFuzzer target for the message codec (src/msg.c).
 *
 * The input is one received message (a RECV's bytes). Besides "no crash" (libFuzzer hands over
 * an exact-size heap copy, so ASan catches any read past len), each run checks the contract and
 * aborts on a violation:
 *  - only 0, -EBADMSG or -EMSGSIZE come back, and -EMSGSIZE only for an APP above max_payload:
 *    decoding with a small bound differs from an unbounded one in nothing else;
 *  - only APP and CREDIT decode: every other type number is -EBADMSG;
 *  - a decoded message describes exactly the input (payload pointer, length, raw header fields,
 *    an ack of at most SRDMA_MAX_RECV_DEPTH);
 *  - it re-encodes to the identical bytes, needing exactly that much buffer;
 *  - srdma_msg_put_hdr reproduces the header but for the ack, which it writes as 0;
 *  - the same bytes, read as a struct, make the encoder agree with an independent range check,
 *    and whatever it encodes decodes back to the same fields.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
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

/* Small enough that the fuzzer easily builds APP messages on both sides of it. */
#define SMALL_MAX 64u

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The type whose payload max_payload bounds. */
static int bounded(enum srdma_msg_type t)
{
	return t == SRDMA_MSG_APP;
}

static void check_fields(const struct srdma_msg *m)
{
	switch (m->type) {
	case SRDMA_MSG_APP:
		break;
	case SRDMA_MSG_CREDIT:
		CHECK(m->len == 0);
		break;
	default:
		CHECK(!"decoded an unknown message type");
	}
}

static void check_decode(const uint8_t *data, size_t size)
{
	struct srdma_msg m;
	struct srdma_msg small;
	uint8_t hdr[SRDMA_MSG_HDR_LEN];
	uint8_t *re;
	int ret;
	int ret_small;

	/* Logs name whatever a peer sent: the table must cope with any value. */
	if (size > 2)
		CHECK(srdma_msg_type_name(data[2]) != NULL);

	ret = srdma_msg_decode(data, size, UINT32_MAX, &m);
	ret_small = srdma_msg_decode(data, size, SMALL_MAX, &small);
	CHECK(ret == 0 || ret == -EBADMSG);
	if (size > 2 && data[2] != SRDMA_MSG_APP && data[2] != SRDMA_MSG_CREDIT)
		CHECK(ret == -EBADMSG);
	if (ret < 0) {
		/* Malformed stays malformed under any bound, with the same code. */
		CHECK(ret_small == ret);
		return;
	}
	if (ret_small == -EMSGSIZE)
		CHECK(bounded(m.type) && m.len > SMALL_MAX);
	else
		CHECK(ret_small == 0 && !(bounded(m.type) && m.len > SMALL_MAX));

	CHECK(size >= SRDMA_MSG_HDR_LEN);
	CHECK(m.payload == data + SRDMA_MSG_HDR_LEN);
	CHECK(m.len == size - SRDMA_MSG_HDR_LEN);
	CHECK((unsigned)m.type == data[2]);
	CHECK(m.seq == be32(data + 4));
	CHECK(m.ack == be32(data + 12) && m.ack <= SRDMA_MAX_RECV_DEPTH);
	check_fields(&m);

	srdma_msg_put_hdr(hdr, m.type, m.seq, m.len);
	CHECK(memcmp(hdr, data, 12) == 0);
	CHECK(be32(hdr + 12) == 0);

	/* Exact-size heap buffer: an encoder overrun is an ASan report. */
	re = malloc(size);
	CHECK(re != NULL);
	if (bounded(m.type) && m.len > SRDMA_MAX_MSG) {
		/* Decodable with a huge max_payload, but no peer may send it: encode refuses. */
		CHECK(srdma_msg_encode(&m, re, size) == -EINVAL);
	} else {
		CHECK(srdma_msg_encode(&m, re, size - 1) == -ENOBUFS);
		CHECK(srdma_msg_encode(&m, re, size) == (ssize_t)size);
		CHECK(memcmp(re, data, size) == 0);
	}
	free(re);
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

/* An independent statement of what the encoder must accept: APP (11) up to 1 MiB and CREDIT
 * (12), with an ack of at most 1024. */
static int expect_valid(const struct srdma_msg *m)
{
	if (m->ack > 1024)
		return 0;
	if ((unsigned)m->type == 11)
		return m->len <= (1u << 20);
	return (unsigned)m->type == 12;
}

/* The same bytes read as a struct: the encoder agrees with expect_valid, refuses short buffers,
 * and what it writes decodes back to the same message. */
static void check_encode(const uint8_t *data, size_t size)
{
	struct cursor c = {data, size};
	struct srdma_msg m;
	struct srdma_msg back;
	uint8_t *buf;
	size_t cap;
	size_t need;
	ssize_t n;
	uint8_t t;

	memset(&m, 0, sizeof(m));
	/* Type byte: top bit set, APP or CREDIT by the low bit; otherwise that number as it is
	 * (0..127: every one but 11 and 12 invalid). */
	t = (uint8_t)take(&c, 1);
	if (t & 0x80)
		m.type = t & 1 ? SRDMA_MSG_CREDIT : SRDMA_MSG_APP;
	else
		m.type = (enum srdma_msg_type)t;
	m.seq = (uint32_t)take(&c, 4);
	m.ack = (uint32_t)take(&c, 2) & 0x7ff; /* above 1024 is invalid */
	/* The rest is the payload; the encoder must ignore it for CREDIT. */
	m.payload = c.left ? c.p : NULL;
	m.len = (uint32_t)c.left;
	need = SRDMA_MSG_HDR_LEN + (m.type == SRDMA_MSG_APP ? m.len : 0);
	/* Exact-size heap buffers, one byte short or exactly enough. */
	cap = need - (m.seq & 1);
	buf = malloc(cap);
	CHECK(buf != NULL);
	n = srdma_msg_encode(&m, buf, cap);
	if (!expect_valid(&m)) {
		CHECK(n == -EINVAL);
	} else if (cap < need) {
		CHECK(n == -ENOBUFS);
	} else {
		CHECK(n == (ssize_t)need);
		CHECK(srdma_msg_decode(buf, need, UINT32_MAX, &back) == 0);
		CHECK(back.type == m.type && back.seq == m.seq && back.ack == m.ack);
		CHECK(back.payload == buf + SRDMA_MSG_HDR_LEN);
		if (m.type == SRDMA_MSG_APP) {
			CHECK(back.len == m.len);
			CHECK(m.len == 0 || memcmp(back.payload, m.payload, m.len) == 0);
		} else {
			CHECK(back.len == 0);
		}
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_encode(data, size);
	return 0;
}
