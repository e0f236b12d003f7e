/* Unit tests for the echo protocol's codec (apps/echo_proto.c): round trips of every message,
 * golden layouts written by hand from echo_proto.h, and every -EBADMSG / -EINVAL / -ENOBUFS
 * rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "echo_proto.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t buf[ECHO_HDR_LEN + ECHO_WELCOME_FIXED + ECHO_TEXT_MAX + 64];

/* Encode m, decode it back into *out; returns the encoded length. */
static size_t round_trip(const struct echo_msg *m, struct echo_msg *out)
{
	ssize_t n = echo_encode(m, buf, sizeof(buf));

	assert_true(n >= (ssize_t)ECHO_HDR_LEN);
	assert_int_equal(echo_decode(buf, (size_t)n, out), 0);
	assert_int_equal(out->op, m->op);
	return (size_t)n;
}

static void test_welcome_round_trip(void **state)
{
	static const char text[] = "secure-rdma echo server 0.2.0";
	struct echo_msg m = {.op = ECHO_OP_WELCOME, .body = (const uint8_t *)text}, d;
	static const uint8_t golden[] = {
	    0x01, 0x00, 0x00, 0x00, /* WELCOME */
	    0x00, 0x01, 0x00, 0x00, /* max_data 65536 */
	    0x12, 0x34, 0x56, 0x78, /* write_len */
	    0x00, 0x00, 0x00, 0x10, /* window 16 */
	    'h',  'i',
	};

	(void)state;
	m.len = (uint32_t)strlen(text);
	m.u.welcome.max_data = 65536;
	m.u.welcome.write_len = 0x12345678;
	m.u.welcome.window = 16;
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_WELCOME_FIXED + m.len);
	assert_int_equal(d.u.welcome.max_data, 65536);
	assert_int_equal(d.u.welcome.write_len, 0x12345678);
	assert_int_equal(d.u.welcome.window, 16);
	assert_int_equal(d.len, m.len);
	assert_memory_equal(d.body, text, m.len);

	/* Empty text, then the golden bytes both ways. */
	m.len = 0;
	m.body = NULL;
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_WELCOME_FIXED);
	assert_int_equal(d.len, 0);
	assert_int_equal(echo_decode(golden, sizeof(golden), &d), 0);
	assert_int_equal(d.op, ECHO_OP_WELCOME);
	assert_int_equal(d.u.welcome.max_data, 65536);
	assert_int_equal(d.u.welcome.write_len, 0x12345678);
	assert_int_equal(d.u.welcome.window, 16);
	assert_int_equal(d.len, 2);
	assert_memory_equal(d.body, "hi", 2);
	m = (struct echo_msg){.op = ECHO_OP_WELCOME, .body = (const uint8_t *)"hi", .len = 2};
	m.u.welcome.max_data = 65536;
	m.u.welcome.write_len = 0x12345678;
	m.u.welcome.window = 16;
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));

	/* The longest text. */
	{
		uint8_t text_max[ECHO_TEXT_MAX];

		memset(text_max, 'x', sizeof(text_max));
		m.body = text_max;
		m.len = ECHO_TEXT_MAX;
		assert_int_equal(round_trip(&m, &d),
				 ECHO_HDR_LEN + ECHO_WELCOME_FIXED + ECHO_TEXT_MAX);
		assert_int_equal(d.len, ECHO_TEXT_MAX);
	}
}

static void test_bytes_round_trip(void **state)
{
	static const enum echo_op ops[] = {ECHO_OP_DATA, ECHO_OP_ECHO, ECHO_OP_PUSH};
	uint8_t payload[64];
	struct echo_msg m, d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7); /* includes 0x00 and bytes >= 0x80 */
	for (i = 0; i < ARRAY_LEN(ops); i++) {
		m = (struct echo_msg){.op = ops[i], .body = payload, .len = sizeof(payload)};
		assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + sizeof(payload));
		assert_int_equal(buf[0], ops[i]);
		assert_int_equal(d.len, sizeof(payload));
		assert_ptr_equal(d.body, buf + ECHO_HDR_LEN);
		assert_memory_equal(d.body, payload, sizeof(payload));
		/* Empty bodies are allowed. */
		m = (struct echo_msg){.op = ops[i]};
		assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN);
		assert_int_equal(d.len, 0);
	}
}

/* DATA built in place (echo_put_hdr), and echo_encode with the body already at buf + 4. */
static void test_in_place(void **state)
{
	struct echo_msg m, d;

	(void)state;
	memcpy(buf + ECHO_HDR_LEN, "abcdef", 6);
	echo_put_hdr(buf, ECHO_OP_DATA);
	assert_int_equal(echo_decode(buf, ECHO_HDR_LEN + 6, &d), 0);
	assert_int_equal(d.op, ECHO_OP_DATA);
	assert_memory_equal(d.body, "abcdef", 6);
	m = (struct echo_msg){.op = ECHO_OP_ECHO, .body = buf + ECHO_HDR_LEN, .len = 6};
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), ECHO_HDR_LEN + 6);
	assert_int_equal(buf[0], ECHO_OP_ECHO);
	assert_memory_equal(buf + ECHO_HDR_LEN, "abcdef", 6);
}

static void test_write_done_round_trip(void **state)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_DONE}, d;
	uint8_t golden[ECHO_HDR_LEN + ECHO_WRITE_DONE_LEN] = {
	    0x04, 0x00, 0x00, 0x00, /* WRITE_DONE */
	    0x00, 0x00, 0x10, 0x00, /* offset 4096 */
	    0x00, 0x01, 0x00, 0x00, /* length 65536 */
	};
	unsigned i;

	(void)state;
	for (i = 0; i < ECHO_TAG_LEN; i++) {
		m.u.write_done.tag[i] = (uint8_t)(0xa0 + i);
		golden[12 + i] = (uint8_t)(0xa0 + i);
	}
	m.u.write_done.offset = 4096;
	m.u.write_done.length = 65536;
	assert_int_equal(round_trip(&m, &d), sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	assert_int_equal(d.u.write_done.offset, 4096);
	assert_int_equal(d.u.write_done.length, 65536);
	assert_memory_equal(d.u.write_done.tag, m.u.write_done.tag, ECHO_TAG_LEN);
}

static void test_write_result_round_trip(void **state)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_RESULT}, d;
	uint32_t st;

	(void)state;
	memset(m.u.write_result.sha256, 0x5a, ECHO_TAG_LEN);
	m.u.write_result.offset = 0xdeadbeef;
	m.u.write_result.length = 0x01020304;
	for (st = ECHO_WRITE_OK; st <= ECHO_WRITE_TOO_LONG; st++) {
		m.u.write_result.status = st;
		assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_WRITE_RES_LEN);
		assert_int_equal(buf[7], st); /* big-endian status */
		assert_int_equal(buf[8], 0xde);
		assert_int_equal(d.u.write_result.status, st);
		assert_int_equal(d.u.write_result.offset, 0xdeadbeef);
		assert_int_equal(d.u.write_result.length, 0x01020304);
		assert_memory_equal(d.u.write_result.sha256, m.u.write_result.sha256, ECHO_TAG_LEN);
	}
}

static void test_ping_pong_quit_bye(void **state)
{
	static const uint8_t ping_golden[] = {0x06, 0,	  0,	0,    0x01, 0x23,
					      0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	struct echo_msg m = {.op = ECHO_OP_PING}, d;

	(void)state;
	m.u.token = 0x0123456789abcdefull;
	assert_int_equal(round_trip(&m, &d), sizeof(ping_golden));
	assert_memory_equal(buf, ping_golden, sizeof(ping_golden));
	assert_true(d.u.token == 0x0123456789abcdefull);
	m.op = ECHO_OP_PONG;
	m.u.token = UINT64_MAX;
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_PING_LEN);
	assert_true(d.u.token == UINT64_MAX);
	m = (struct echo_msg){.op = ECHO_OP_QUIT};
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN);
	m = (struct echo_msg){.op = ECHO_OP_BYE};
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN);
	/* A fixed-size message ignores body/len when encoding. */
	m = (struct echo_msg){.op = ECHO_OP_QUIT, .body = (const uint8_t *)"x", .len = 1};
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), ECHO_HDR_LEN);
}

static void test_region_round_trip(void **state)
{
	static const uint8_t golden[] = {
	    0x0b, 0x00, 0x00, 0x00, /* REGION */
	    0x00, 0x01, 0x00, 0x01, /* length 65537 */
	};
	static const uint32_t lengths[] = {0, 1, 4096, 65537, UINT32_MAX};
	struct echo_msg m = {.op = ECHO_OP_REGION}, d;
	size_t i;

	(void)state;
	m.u.region.length = 65537;
	assert_int_equal(round_trip(&m, &d), sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	assert_int_equal(echo_decode(golden, sizeof(golden), &d), 0);
	assert_int_equal(d.op, ECHO_OP_REGION);
	assert_int_equal(d.u.region.length, 65537);
	/* Any length decodes (0 and too large are the server's to refuse, with RANGE). */
	for (i = 0; i < ARRAY_LEN(lengths); i++) {
		m.u.region.length = lengths[i];
		assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_REGION_LEN);
		assert_true(d.u.region.length == lengths[i]);
	}
}

static void test_region_ready_round_trip(void **state)
{
	static const uint8_t golden[] = {
	    0x0c, 0x00, 0x00, 0x00, /* REGION_READY */
	    0x00, 0x00, 0x00, 0x00, /* status OK */
	    0x00, 0x01, 0x10, 0x00, /* length 69632 */
	};
	static const uint8_t refused[] = {
	    0x0c, 0x00, 0x00, 0x00, /* REGION_READY */
	    0x00, 0x00, 0x00, 0x04, /* status NO_REGION */
	    0x00, 0x00, 0x00, 0x00, /* length 0 */
	};
	struct echo_msg m = {.op = ECHO_OP_REGION_READY}, d;

	(void)state;
	m.u.region_ready.status = ECHO_WRITE_OK;
	m.u.region_ready.length = 69632;
	assert_int_equal(round_trip(&m, &d), sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	assert_int_equal(d.u.region_ready.status, ECHO_WRITE_OK);
	assert_int_equal(d.u.region_ready.length, 69632);
	m.u.region_ready.length = UINT32_MAX;
	round_trip(&m, &d);
	assert_true(d.u.region_ready.length == UINT32_MAX);
	/* The refusals carry no length. */
	m.u.region_ready.status = ECHO_WRITE_RANGE;
	m.u.region_ready.length = 0;
	assert_int_equal(round_trip(&m, &d), ECHO_HDR_LEN + ECHO_REGION_RDY_LEN);
	assert_int_equal(d.u.region_ready.status, ECHO_WRITE_RANGE);
	assert_int_equal(d.u.region_ready.length, 0);
	m.u.region_ready.status = ECHO_WRITE_NO_REGION;
	assert_int_equal(round_trip(&m, &d), sizeof(refused));
	assert_memory_equal(buf, refused, sizeof(refused));
	assert_int_equal(echo_decode(refused, sizeof(refused), &d), 0);
	assert_int_equal(d.op, ECHO_OP_REGION_READY);
	assert_int_equal(d.u.region_ready.status, ECHO_WRITE_NO_REGION);
	assert_int_equal(d.u.region_ready.length, 0);
}

/* A valid message of op with the right body length, in b; its length. */
static size_t valid(enum echo_op op, uint8_t *b)
{
	struct echo_msg m = {.op = op};
	ssize_t n;

	if (op == ECHO_OP_DATA || op == ECHO_OP_ECHO || op == ECHO_OP_PUSH) {
		m.body = (const uint8_t *)"data";
		m.len = 4;
	}
	if (op == ECHO_OP_REGION_READY)
		m.u.region_ready.length = 4096; /* OK needs a length */
	n = echo_encode(&m, b, sizeof(buf));
	assert_true(n > 0);
	return (size_t)n;
}

static void test_decode_header_rules(void **state)
{
	struct echo_msg d;
	unsigned op;
	size_t n;

	(void)state;
	/* Short: fewer than 4 bytes, and NULL. */
	for (n = 0; n < ECHO_HDR_LEN; n++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = ECHO_OP_DATA;
		assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
	}
	assert_int_equal(echo_decode(NULL, 4, &d), -EBADMSG);
	/* Unknown ops: 0 and everything past REGION_READY. */
	for (op = 0; op < 256; op++) {
		if (op >= ECHO_OP_WELCOME && op <= ECHO_OP_LAST)
			continue;
		memset(buf, 0, sizeof(buf));
		buf[0] = (uint8_t)op;
		assert_int_equal(echo_decode(buf, ECHO_HDR_LEN, &d), -EBADMSG);
		assert_int_equal(echo_decode(buf, ECHO_HDR_LEN + ECHO_PING_LEN, &d), -EBADMSG);
	}
	/* Nonzero flags or reserved bytes, for every op. */
	for (op = ECHO_OP_WELCOME; op <= ECHO_OP_LAST; op++) {
		unsigned k;

		for (k = 1; k < ECHO_HDR_LEN; k++) {
			n = valid((enum echo_op)op, buf);
			assert_int_equal(echo_decode(buf, n, &d), 0);
			buf[k] = 0x01;
			assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
			buf[k] = 0x80;
			assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
		}
	}
}

/* Every fixed-size body one byte short and one byte long. */
static void test_decode_fixed_lengths(void **state)
{
	static const struct {
		enum echo_op op;
		size_t body;
	} fixed[] = {
	    {ECHO_OP_WRITE_DONE, ECHO_WRITE_DONE_LEN},
	    {ECHO_OP_WRITE_RESULT, ECHO_WRITE_RES_LEN},
	    {ECHO_OP_PING, ECHO_PING_LEN},
	    {ECHO_OP_PONG, ECHO_PING_LEN},
	    {ECHO_OP_QUIT, 0},
	    {ECHO_OP_BYE, 0},
	    {ECHO_OP_REGION, ECHO_REGION_LEN},
	    {ECHO_OP_REGION_READY, ECHO_REGION_RDY_LEN},
	};
	struct echo_msg d;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(fixed); i++) {
		size_t n = valid(fixed[i].op, buf);

		assert_int_equal(n, ECHO_HDR_LEN + fixed[i].body);
		assert_int_equal(echo_decode(buf, n, &d), 0);
		buf[n] = 0;
		assert_int_equal(echo_decode(buf, n + 1, &d), -EBADMSG); /* QUIT/BYE: a body */
		if (fixed[i].body)
			assert_int_equal(echo_decode(buf, n - 1, &d), -EBADMSG);
	}
}

static void test_decode_welcome_rules(void **state)
{
	struct echo_msg m = {.op = ECHO_OP_WELCOME}, d;
	uint8_t text[ECHO_TEXT_MAX + 1];
	size_t n, k;

	(void)state;
	/* Shorter than its 12 fixed bytes. */
	n = valid(ECHO_OP_WELCOME, buf);
	for (k = ECHO_HDR_LEN; k < n; k++)
		assert_int_equal(echo_decode(buf, k, &d), -EBADMSG);
	assert_int_equal(echo_decode(buf, n, &d), 0);
	/* Text one byte too long. */
	memset(text, 'a', sizeof(text));
	memset(buf, 0, sizeof(buf));
	buf[0] = ECHO_OP_WELCOME;
	memcpy(buf + ECHO_HDR_LEN + ECHO_WELCOME_FIXED, text, sizeof(text));
	assert_int_equal(echo_decode(buf, ECHO_HDR_LEN + ECHO_WELCOME_FIXED + ECHO_TEXT_MAX, &d),
			 0);
	assert_int_equal(
	    echo_decode(buf, ECHO_HDR_LEN + ECHO_WELCOME_FIXED + ECHO_TEXT_MAX + 1, &d), -EBADMSG);
	/* Not printable: control characters, DEL, bytes >= 0x80, NUL. */
	{
		static const uint8_t bad[] = {0x00, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0xff};

		for (k = 0; k < ARRAY_LEN(bad); k++) {
			m.body = text;
			m.len = 5;
			memcpy(text, "hello", 5);
			n = (size_t)echo_encode(&m, buf, sizeof(buf));
			buf[n - 2] = bad[k];
			assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
		}
	}
	/* The printable edges: space and '~'. */
	m.body = (const uint8_t *)" ~";
	m.len = 2;
	n = (size_t)echo_encode(&m, buf, sizeof(buf));
	assert_int_equal(echo_decode(buf, n, &d), 0);
}

static void test_decode_write_result_status(void **state)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_RESULT}, d;
	size_t n;

	(void)state;
	n = (size_t)echo_encode(&m, buf, sizeof(buf));
	buf[7] = ECHO_WRITE_TOO_LONG + 1;
	assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
	buf[7] = 0;
	buf[4] = 0x80; /* a huge status */
	assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
	/* NO_REGION answers REGION only. */
	buf[4] = 0;
	buf[7] = ECHO_WRITE_NO_REGION;
	assert_int_equal(echo_decode(buf, n, &d), -EBADMSG);
	m.u.write_result.status = ECHO_WRITE_NO_REGION;
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
}

/* REGION and REGION_READY of every length from empty to one byte too long but their own. */
static void test_decode_region_lengths(void **state)
{
	static const enum echo_op ops[] = {ECHO_OP_REGION, ECHO_OP_REGION_READY};
	struct echo_msg d;
	size_t i, n, k;

	(void)state;
	for (i = 0; i < ARRAY_LEN(ops); i++) {
		n = valid(ops[i], buf);
		for (k = ECHO_HDR_LEN; k <= ECHO_HDR_LEN + ECHO_REGION_RDY_LEN + 1; k++)
			assert_int_equal(echo_decode(buf, k, &d), k == n ? 0 : -EBADMSG);
	}
}

/* REGION_READY: OK with a length, RANGE or NO_REGION without one; nothing else. */
static void test_decode_region_ready_status(void **state)
{
	static const struct {
		uint32_t status, length;
		int ok;
	} cases[] = {
	    {ECHO_WRITE_OK, 1, 1},
	    {ECHO_WRITE_OK, 0, 0},
	    {ECHO_WRITE_RANGE, 0, 1},
	    {ECHO_WRITE_RANGE, 4096, 0},
	    {ECHO_WRITE_NO_REGION, 0, 1},
	    {ECHO_WRITE_NO_REGION, 1, 0},
	    {ECHO_WRITE_MISMATCH, 0, 0},
	    {ECHO_WRITE_TOO_LONG, 0, 0},
	    {ECHO_WRITE_NO_REGION + 1, 0, 0},
	    {0x80000000u, 0, 0},
	    {UINT32_MAX, 0, 0},
	};
	struct echo_msg m = {.op = ECHO_OP_REGION_READY}, d;
	size_t i;
	unsigned k;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = ECHO_OP_REGION_READY;
		for (k = 0; k < 4; k++) { /* big-endian */
			buf[4 + k] = (uint8_t)(cases[i].status >> (24 - 8 * k));
			buf[8 + k] = (uint8_t)(cases[i].length >> (24 - 8 * k));
		}
		assert_int_equal(echo_decode(buf, ECHO_HDR_LEN + ECHO_REGION_RDY_LEN, &d),
				 cases[i].ok ? 0 : -EBADMSG);
		/* The encoder refuses what the decoder would. */
		m.u.region_ready.status = cases[i].status;
		m.u.region_ready.length = cases[i].length;
		assert_int_equal(echo_encode(&m, buf, sizeof(buf)),
				 cases[i].ok ? (ssize_t)(ECHO_HDR_LEN + ECHO_REGION_RDY_LEN)
					     : -EINVAL);
	}
}

static void test_encode_errors(void **state)
{
	struct echo_msg m = {.op = ECHO_OP_DATA, .body = (const uint8_t *)"abcd", .len = 4};
	uint8_t small[ECHO_HDR_LEN + ECHO_PING_LEN];
	uint8_t text[ECHO_TEXT_MAX + 1];

	(void)state;
	/* -ENOBUFS: the header or the body does not fit. */
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + 3), -ENOBUFS);
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + 4), ECHO_HDR_LEN + 4);
	assert_int_equal(echo_encode(&m, small, 3), -ENOBUFS);
	m = (struct echo_msg){.op = ECHO_OP_PING};
	assert_int_equal(echo_encode(&m, small, sizeof(small) - 1), -ENOBUFS);
	assert_int_equal(echo_encode(&m, small, sizeof(small)), sizeof(small));
	m = (struct echo_msg){.op = ECHO_OP_WRITE_DONE};
	assert_int_equal(echo_encode(&m, small, sizeof(small)), -ENOBUFS);
	m = (struct echo_msg){.op = ECHO_OP_REGION};
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + ECHO_REGION_LEN - 1), -ENOBUFS);
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + ECHO_REGION_LEN),
			 ECHO_HDR_LEN + ECHO_REGION_LEN);
	m = (struct echo_msg){.op = ECHO_OP_REGION_READY};
	m.u.region_ready.length = 1;
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + ECHO_REGION_RDY_LEN - 1), -ENOBUFS);
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + ECHO_REGION_RDY_LEN),
			 ECHO_HDR_LEN + ECHO_REGION_RDY_LEN);
	m = (struct echo_msg){.op = ECHO_OP_WELCOME};
	assert_int_equal(echo_encode(&m, small, ECHO_HDR_LEN + ECHO_WELCOME_FIXED - 1), -ENOBUFS);
	/* -EINVAL: unknown op, NULL arguments, text too long or not printable, body missing. */
	m = (struct echo_msg){.op = (enum echo_op)0};
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.op = (enum echo_op)(ECHO_OP_LAST + 1);
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.op = ECHO_OP_QUIT;
	assert_int_equal(echo_encode(NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(echo_encode(&m, NULL, sizeof(buf)), -EINVAL);
	memset(text, 'a', sizeof(text));
	m = (struct echo_msg){.op = ECHO_OP_WELCOME, .body = text, .len = ECHO_TEXT_MAX + 1};
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	text[0] = '\n';
	m.len = 3;
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.body = NULL;
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = (struct echo_msg){.op = ECHO_OP_DATA, .len = 3};
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* A WRITE_RESULT status the decoder would refuse. */
	m = (struct echo_msg){.op = ECHO_OP_WRITE_RESULT};
	m.u.write_result.status = ECHO_WRITE_TOO_LONG + 1;
	assert_int_equal(echo_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(echo_op_name(ECHO_OP_WELCOME), "WELCOME");
	assert_string_equal(echo_op_name(ECHO_OP_WRITE_RESULT), "WRITE_RESULT");
	assert_string_equal(echo_op_name(ECHO_OP_PUSH), "PUSH");
	assert_string_equal(echo_op_name(ECHO_OP_REGION), "REGION");
	assert_string_equal(echo_op_name(ECHO_OP_REGION_READY), "REGION_READY");
	assert_string_equal(echo_op_name(0), "?");
	assert_string_equal(echo_op_name(ECHO_OP_LAST + 1), "?");
	assert_string_equal(echo_op_name(0xffffffffu), "?");
	assert_string_not_equal(echo_write_status_text(ECHO_WRITE_NO_REGION), "an unknown status");
	assert_string_equal(echo_write_status_text(ECHO_WRITE_NO_REGION + 1), "an unknown status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_welcome_round_trip),
	    cmocka_unit_test(test_bytes_round_trip),
	    cmocka_unit_test(test_in_place),
	    cmocka_unit_test(test_write_done_round_trip),
	    cmocka_unit_test(test_write_result_round_trip),
	    cmocka_unit_test(test_ping_pong_quit_bye),
	    cmocka_unit_test(test_region_round_trip),
	    cmocka_unit_test(test_region_ready_round_trip),
	    cmocka_unit_test(test_decode_header_rules),
	    cmocka_unit_test(test_decode_fixed_lengths),
	    cmocka_unit_test(test_decode_welcome_rules),
	    cmocka_unit_test(test_decode_write_result_status),
	    cmocka_unit_test(test_decode_region_lengths),
	    cmocka_unit_test(test_decode_region_ready_status),
	    cmocka_unit_test(test_encode_errors),
	    cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
