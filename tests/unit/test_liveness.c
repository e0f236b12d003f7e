/* The heartbeat's arithmetic (src/liveness.h) against a model of CLOCK_MONOTONIC_COARSE: a
 * caller that sleeps what srdma__live_wait_ms says, on the precise clock, wakes when the time
 * counts as come (never early, so one wake-up serves it) and at most a tick and a millisecond
 * late; the TCP settings stay in the kernel's ranges; the silence bound does not overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>

#include <cmocka.h>

#include "../../src/liveness.h"

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The coarse clock at precise time t: the last tick boundary at or before it. */
static uint64_t coarse(uint64_t t, uint64_t tick)
{
	return t - t % tick;
}

static void test_wait_never_early(void **state)
{
	static const uint64_t ticks[] = {1000000, 4000000, 10000000};
	uint64_t x = 88172645463325252ull;
	unsigned i, k, wakeups_max = 0;

	(void)state;
	for (k = 0; k < sizeof(ticks) / sizeof(ticks[0]); k++) {
		uint64_t tick = ticks[k];

		for (i = 0; i < 100000; i++) {
			/* Now, on the precise clock, and a time to wait for up to 20 s ahead (some
			 * already within a tick, some past). */
			uint64_t real = 1000000000ull + rnd(&x) % 1000000000000ull;
			uint64_t at = coarse(real, tick) + rnd(&x) % 20000000000ull;
			unsigned wakeups = 0;
			int ms;

			if (rnd(&x) % 8 == 0)
				at = coarse(real, tick) - rnd(&x) % (2 * tick);
			while ((ms = srdma__live_wait_ms(coarse(real, tick), tick, at)) > 0) {
				real += (uint64_t)ms * 1000000ull; /* poll sleeps at least ms */
				wakeups++;
			}
			assert_true(srdma__live_due(coarse(real, tick), tick, at));
			if (wakeups) {
				/* Woken late by at most a tick (the coarse clock's lag when the
				 * wait was counted) and the millisecond rounding. */
				assert_true(real >= at || real + tick >= at);
				assert_true(real <= at + tick + 1000000ull);
			}
			if (wakeups > wakeups_max)
				wakeups_max = wakeups;
		}
	}
	/* One wake-up serves every time: the caller never comes back to find it not yet due. */
	assert_int_equal(wakeups_max, 1);
}

static void test_wait_clamped(void **state)
{
	(void)state;
	assert_int_equal(srdma__live_wait_ms(0, 0, 1), 1);
	assert_int_equal(srdma__live_wait_ms(0, 0, 1000000), 1);
	assert_int_equal(srdma__live_wait_ms(0, 0, 1000001), 2);
	assert_int_equal(srdma__live_wait_ms(5, 0, 5), 0);
	assert_int_equal(srdma__live_wait_ms(10, 4000000, 4000010), 0);
	assert_int_equal(srdma__live_wait_ms(0, 0, UINT64_MAX / 2), INT_MAX);
	/* The longest heartbeat the library takes, once, and its whole silence bound. */
	assert_int_equal(srdma__live_wait_ms(0, 0, srdma__live_bound_ns(UINT32_MAX - 1, 1)),
			 INT_MAX);
}

static void test_bound(void **state)
{
	(void)state;
	assert_true(srdma__live_bound_ns(5000, 3) == 15000000000ull);
	/* The largest bound srdma_ctx_create accepts does not wrap. */
	assert_true(srdma__live_bound_ns(UINT32_MAX - 1, SRDMA_HEARTBEAT_MAX_MISSES) /
			SRDMA_HEARTBEAT_MAX_MISSES / 1000000ull ==
		    UINT32_MAX - 1);
}

static void test_tcp(void **state)
{
	struct srdma_live_tcp t;

	(void)state;
	t = srdma__live_tcp(5000, 3);
	assert_int_equal(t.idle_s, 5);
	assert_int_equal(t.intvl_s, 5);
	assert_int_equal(t.cnt, 3);
	assert_int_equal(t.user_timeout_ms, 15000);
	t = srdma__live_tcp(SRDMA_HEARTBEAT_MIN_MS, 1);
	assert_int_equal(t.idle_s, 1);
	assert_int_equal(t.cnt, 1);
	assert_int_equal(t.user_timeout_ms, SRDMA_HEARTBEAT_MIN_MS);
	/* The kernel refuses TCP_KEEPIDLE and TCP_KEEPINTVL over 32767 s, TCP_KEEPCNT over 127
	 * and TCP_USER_TIMEOUT over INT_MAX ms (srdma-server accepts 3600000 x 1000). */
	t = srdma__live_tcp(3600000, 1000);
	assert_int_equal(t.idle_s, 3600);
	assert_int_equal(t.cnt, 127);
	assert_int_equal(t.user_timeout_ms, INT_MAX);
	t = srdma__live_tcp(UINT32_MAX - 1, SRDMA_HEARTBEAT_MAX_MISSES);
	assert_int_equal(t.idle_s, 32767);
	assert_int_equal(t.intvl_s, 32767);
	assert_int_equal(t.user_timeout_ms, INT_MAX);
	/* 65536 x 65536 ms once wrapped to 0 (the kernel's default). */
	t = srdma__live_tcp(65536, 1000);
	assert_true(t.user_timeout_ms > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wait_never_early),
	    cmocka_unit_test(test_wait_clamped),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
