/* The per-client message rate limit of srdma-server (apps/ratelimit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../apps/ratelimit.h"

#define MS 1000000ull

/* 100 messages/s (10 ms apart), bursts of 4: four at once, the fifth waits 10 ms. */
static void test_burst_then_wait(void **state)
{
	uint64_t tat = 0, now = 1000 * MS;
	unsigned i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(srdma__rate_take(&tat, now, 10 * MS, 4), 0);
	assert_int_equal(srdma__rate_take(&tat, now, 10 * MS, 4), 10 * MS);
	/* A refusal takes nothing: the wait is the same a little later, less the time passed. */
	assert_int_equal(srdma__rate_take(&tat, now + 3 * MS, 10 * MS, 4), 7 * MS);
	assert_int_equal(srdma__rate_take(&tat, now + 10 * MS, 10 * MS, 4), 0);
	assert_int_equal(srdma__rate_take(&tat, now + 10 * MS, 10 * MS, 4), 10 * MS);
}

/* Over a long run the rate holds: in 1 s at most rate + burst messages pass. */
static void test_average_rate(void **state)
{
	uint64_t tat = 0, start = 5000 * MS, t;
	unsigned taken = 0;

	(void)state;
	for (t = start; t < start + 1000 * MS; t += MS / 10)
		if (srdma__rate_take(&tat, t, 10 * MS, 4) == 0)
			taken++;
	assert_in_range(taken, 100, 104);
}

/* Idle time does not bank more than the burst. */
static void test_idle_banks_only_the_burst(void **state)
{
	uint64_t tat = 0, now = 100 * MS;
	unsigned i;

	(void)state;
	assert_int_equal(srdma__rate_take(&tat, now, 10 * MS, 2), 0);
	now += 60000 * MS;
	for (i = 0; i < 2; i++)
		assert_int_equal(srdma__rate_take(&tat, now, 10 * MS, 2), 0);
	assert_true(srdma__rate_take(&tat, now, 10 * MS, 2) > 0);
}

/* Burst 1: strictly one per interval. */
static void test_burst_one(void **state)
{
	uint64_t tat = 0, now = 7 * MS;

	(void)state;
	assert_int_equal(srdma__rate_take(&tat, now, 2 * MS, 1), 0);
	assert_int_equal(srdma__rate_take(&tat, now + MS, 2 * MS, 1), MS);
	assert_int_equal(srdma__rate_take(&tat, now + 2 * MS, 2 * MS, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_wait),
	    cmocka_unit_test(test_average_rate),
	    cmocka_unit_test(test_idle_banks_only_the_burst),
	    cmocka_unit_test(test_burst_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
