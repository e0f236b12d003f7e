/* The adaptive busy-poll rule (src/spin.h) shared by the client and the server's workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../src/spin.h"

#define US 1000ull

/* A completion that came soon after sleeping: spin a quarter longer than that next time. */
static void test_short_gap_sets_the_spin(void **state)
{
	(void)state;
	assert_int_equal(srdma__spin_after_sleep(6 * US, 200 * US, 40 * US), 50 * US);
	assert_int_equal(srdma__spin_after_sleep(200 * US, 200 * US, 40 * US), 50 * US);
	/* Exactly at the bound still fits. */
	assert_int_equal(srdma__spin_after_sleep(6 * US, 200 * US, 160 * US), 200 * US);
}

/* Never below 1/32 of the bound, so that a spin can always grow back. */
static void test_floor(void **state)
{
	(void)state;
	assert_int_equal(srdma__spin_after_sleep(200 * US, 320 * US, 1 * US), 10 * US);
	assert_int_equal(srdma__spin_after_sleep(10 * US, 320 * US, 10000 * US), 10 * US);
}

/* Waits longer than spinning is allowed to last: halve. */
static void test_long_gap_halves(void **state)
{
	uint64_t spin = 200 * US;
	unsigned i;

	(void)state;
	assert_int_equal(srdma__spin_after_sleep(spin, 200 * US, 161 * US), 100 * US);
	for (i = 0; i < 10; i++)
		spin = srdma__spin_after_sleep(spin, 200 * US, 5000 * US);
	assert_int_equal(spin, 200 * US / 32);
}

/* busy_poll_us 0: never spin, whatever the gap. */
static void test_zero_bound(void **state)
{
	(void)state;
	assert_int_equal(srdma__spin_after_sleep(0, 0, 0), 0);
	assert_int_equal(srdma__spin_after_sleep(0, 0, 50 * US), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_gap_sets_the_spin),
	    cmocka_unit_test(test_floor),
	    cmocka_unit_test(test_long_gap_halves),
	    cmocka_unit_test(test_zero_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
