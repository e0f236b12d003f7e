/* Data-plane key update (srdma_dp_set_rekey): both sides switch keys at the same sequence
 * numbers with nothing on the wire, every message across many epochs opens and carries its
 * bytes, the keys really change, and sides that disagree on the interval cannot talk. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

#include <string.h>

#include "dataplane.h"
#include "dp_test_util.h"
#include "msg.h"

#define SLOT (SRDMA_MSG_HDR_LEN + 64 + SRDMA_AEAD_TAG_LEN)

/* A stand-in for the TLS exporter: the same bytes for the same label and context on both sides,
 * others for any other label or context. Records the last epoch it was asked for. */
struct fake_exporter {
	uint32_t last_epoch;
	unsigned calls;
};

static int fake_export(void *arg, const char *label, const uint8_t *ctx, size_t ctx_len,
		       uint8_t *out, size_t len)
{
	struct fake_exporter *e = arg;

	fake_export_bytes(0x9e3779b97f4a7c15ull, label, ctx, ctx_len, out, len);
	if (ctx_len == 20)
		e->last_epoch = (uint32_t)ctx[16] << 24 | (uint32_t)ctx[17] << 16 |
				(uint32_t)ctx[18] << 8 | ctx[19];
	e->calls++;
	return 0;
}

struct side {
	struct srdma_dataplane dp;
	struct fake_exporter ex;
};

/* Client and server with the same epoch-0 keys and exporter, client sending every 2^c_log2,
 * server every 2^s_log2 (each side told both). */
static void setup(struct side *c, struct side *s, enum srdma_dp_mode mode, unsigned c_log2,
		  unsigned s_log2, unsigned s_thinks_c)
{
	static const uint8_t kctx[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t material[SRDMA_DP_KEY_MATERIAL];

	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	fake_export(&c->ex, mode == SRDMA_DP_CHACHA20 ? SRDMA_DP_LABEL_CHACHA20 : SRDMA_DP_LABEL,
		    kctx, sizeof(kctx), material, sizeof(material));
	srdma_dp_init(&c->dp, mode);
	srdma_dp_init(&s->dp, mode);
	assert_int_equal(srdma_dp_set_keys(&c->dp, 1, material), 0);
	assert_int_equal(srdma_dp_set_keys(&s->dp, 0, material), 0);
	srdma_dp_set_exporter(&c->dp, 1, fake_export, &c->ex, kctx);
	srdma_dp_set_exporter(&s->dp, 0, fake_export, &s->ex, kctx);
	srdma_dp_set_rekey(&c->dp, c_log2, s_log2);
	srdma_dp_set_rekey(&s->dp, s_log2, s_thinks_c);
	c->ex.calls = s->ex.calls = 0;
}

/* from sends message i (payload: i repeated) to to; returns srdma_dp_get's result. */
static int deliver(struct side *from, struct side *to, uint32_t i)
{
	uint8_t buf[SLOT], payload[32];
	struct srdma_msg m = {.type = SRDMA_MSG_APP, .payload = payload, .len = sizeof(payload)};
	struct srdma_msg got;
	ssize_t n;
	int ret;

	memset(payload, (int)(i & 0xff), sizeof(payload));
	n = srdma_dp_put(&from->dp, &m, buf, sizeof(buf));
	assert_true(n > 0);
	ret = srdma_dp_get(&to->dp, buf, (size_t)n, 64, &got);
	if (ret)
		return ret;
	assert_int_equal(got.seq, i);
	assert_int_equal(got.len, sizeof(payload));
	assert_memory_equal(got.payload, payload, sizeof(payload));
	return 0;
}

static void many_epochs(enum srdma_dp_mode mode)
{
	struct side c, s;

	/* Client every 4 messages, server every 8: 200 each way cross 49 and 24 epochs. */
	setup(&c, &s, mode, 2, 3, 2);
	for (uint32_t i = 0; i < 200; i++) {
		assert_int_equal(deliver(&c, &s, i), 0);
		assert_int_equal(deliver(&s, &c, i), 0);
	}
	assert_int_equal(c.dp.tx_epoch, 199 >> 2);
	assert_int_equal(s.dp.rx_epoch, 199 >> 2);
	assert_int_equal(s.dp.tx_epoch, 199 >> 3);
	assert_int_equal(c.dp.rx_epoch, 199 >> 3);
	/* Each side: its own 49 or 24 updates and the peer's 24 or 49. */
	assert_int_equal(c.dp.rekeys, 49 + 24);
	assert_int_equal(s.dp.rekeys, 24 + 49);
	assert_int_equal(c.ex.calls, 73);
	/* The epoch is in the exporter's context. */
	assert_int_equal(c.ex.last_epoch == 49 || c.ex.last_epoch == 24, 1);
	srdma_dp_cleanup(&c.dp);
	srdma_dp_cleanup(&s.dp);
}

static void test_many_epochs_aead(void **state)
{
	(void)state;
	many_epochs(SRDMA_DP_AEAD);
}

static void test_many_epochs_chacha20(void **state)
{
	(void)state;
	many_epochs(SRDMA_DP_CHACHA20);
}

/* A receiver that does not update (or updates at another interval) cannot open the first
 * message of the sender's new epoch: the keys really changed. */
static void test_disagreeing_sides_fail(void **state)
{
	struct side c, s;

	(void)state;
	setup(&c, &s, SRDMA_DP_AEAD, 2, 0, 0); /* the server thinks the client never updates */
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(deliver(&c, &s, i), 0);
	assert_int_equal(deliver(&c, &s, 4), -EBADMSG);
	srdma_dp_cleanup(&c.dp);
	srdma_dp_cleanup(&s.dp);

	setup(&c, &s, SRDMA_DP_AEAD, 2, 0, 3); /* every 8 where the client does every 4 */
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(deliver(&c, &s, i), 0);
	assert_int_equal(deliver(&c, &s, 4), -EBADMSG);
	srdma_dp_cleanup(&c.dp);
	srdma_dp_cleanup(&s.dp);
}

/* Plain mode has no keys: key update is a no-op there and nothing is exported. */
static void test_plain_has_no_keys(void **state)
{
	struct side c, s;

	(void)state;
	setup(&c, &s, SRDMA_DP_PLAIN, 1, 1, 1);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(deliver(&c, &s, i), 0);
	assert_int_equal(c.ex.calls, 0);
	assert_int_equal(c.dp.rekeys, 0);
	srdma_dp_cleanup(&c.dp);
	srdma_dp_cleanup(&s.dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_epochs_aead),
	    cmocka_unit_test(test_many_epochs_chacha20),
	    cmocka_unit_test(test_disagreeing_sides_fail),
	    cmocka_unit_test(test_plain_has_no_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
