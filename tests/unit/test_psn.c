/* PSN source: 24-bit values from the CSPRNG, every bit balanced, collisions at the birthday rate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "psn.h"

#define DRAWS 100000

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Newton's square root, so that the test needs no libm (CMake links it with libsrdma only). */
static double root(double x)
{
	double r = x > 1 ? x : 1;

	for (int i = 0; i < 100; i++)
		r = (r + x / r) / 2;
	return r;
}

static uint32_t *draw_many(size_t n)
{
	uint32_t *v = malloc(n * sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(srdma_psn_generate(&v[i]), 0);
	return v;
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(srdma_psn_valid(0));
	assert_true(srdma_psn_valid(1));
	assert_true(srdma_psn_valid(0xFFFFFF));
	assert_false(srdma_psn_valid(0x1000000));
	assert_false(srdma_psn_valid(0x80000000u));
	assert_false(srdma_psn_valid(UINT32_MAX));
}

static void test_values_fit_24_bits(void **state)
{
	uint32_t *v = draw_many(DRAWS);

	(void)state;
	for (size_t i = 0; i < DRAWS; i++) {
		assert_true(v[i] <= 0xFFFFFF);
		assert_true(srdma_psn_valid(v[i]));
	}
	free(v);
}

/* Each of the 24 bits is a fair coin: set in Binomial(n, 1/2) draws. Six standard deviations
 * either side fails a correct generator with probability about 2e-9 per bit. A masked-off or
 * stuck bit (a 16-bit source, a counter, a byte-order slip) lands far outside. */
static void test_bits_balanced(void **state)
{
	uint32_t *v = draw_many(DRAWS);
	double mean = DRAWS / 2.0, sigma = root(DRAWS * 0.25);
	long lo = (long)(mean - 6 * sigma), hi = (long)(mean + 6 * sigma) + 1;

	(void)state;
	for (int bit = 0; bit < 24; bit++) {
		long ones = 0;

		for (size_t i = 0; i < DRAWS; i++)
			ones += (v[i] >> bit) & 1;
		if (ones < lo || ones > hi)
			fail_msg("bit %d set in %ld of %d draws, outside [%ld, %ld]", bit, ones,
				 DRAWS, lo, hi);
	}
	free(v);
}

/* n uniform draws from N = 2^24 values repeat a value about lambda = n(n-1)/2N times (~298 for
 * n = 10^5), Poisson-distributed. Too many repeats means a small or skewed source; too few
 * means a permutation such as a full-period LCG or a counter, which an attacker can predict. */
static void test_duplicates_at_birthday_rate(void **state)
{
	uint32_t *v = draw_many(DRAWS);
	double lambda = (double)DRAWS * (DRAWS - 1) / 2.0 / (double)(1u << 24);
	long ceiling = (long)(lambda + 6 * root(lambda)) + 1;
	long floor_ = (long)(lambda - 6 * root(lambda));
	long dups = 0;

	(void)state;
	qsort(v, DRAWS, sizeof(*v), cmp_u32);
	for (size_t i = 1; i < DRAWS; i++)
		dups += v[i] == v[i - 1];
	if (dups > ceiling || dups < floor_)
		fail_msg("%ld repeated values in %d draws, expected %.0f (allowed %ld..%ld)", dups,
			 DRAWS, lambda, floor_, ceiling);
	free(v);
}

#define QUALITY_DRAWS 1000000
/* Standard normal quantile for a one-sided tail of 1e-6: a correct generator fails a bound
 * about once in a million runs per bound. */
#define Z_1E6 4.753

/* Wilson-Hilferty: the chi-square value with df degrees of freedom at normal quantile z. */
static double chi2_quantile(double df, double z)
{
	double a = 2.0 / (9.0 * df), t = 1.0 - a + z * root(a);

	return df * t * t * t;
}

/* Chi-square statistic of the values (v >> shift) & (bins - 1) over n draws. */
static double chi2_of(const uint32_t *v, size_t n, unsigned shift, unsigned bins)
{
	double expect = (double)n / bins, chi2 = 0;
	size_t *count = calloc(bins, sizeof(*count));

	assert_non_null(count);
	for (size_t i = 0; i < n; i++)
		count[(v[i] >> shift) & (bins - 1)]++;
	for (unsigned b = 0; b < bins; b++) {
		double d = (double)count[b] - expect;

		chi2 += d * d / expect;
	}
	free(count);
	return chi2;
}

/* 10^6 PSNs: each of the three bytes and the low 1, 4 and 12 bits are uniform. Both tails are
 * checked: a counter or a short-period generator is too uniform, a biased one too lumpy. */
static void test_chi_square(void **state)
{
	static const struct {
		const char *what;
		unsigned shift, bins;
	} cases[] = {
	    {"byte 0 (bits 0-7)", 0, 256},
	    {"byte 1 (bits 8-15)", 8, 256},
	    {"byte 2 (bits 16-23)", 16, 256},
	    {"low bit", 0, 2},
	    {"low 4 bits", 0, 16},
	    {"low 12 bits", 0, 4096},
	};
	uint32_t *v = draw_many(QUALITY_DRAWS);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double df = cases[i].bins - 1,
		       chi2 = chi2_of(v, QUALITY_DRAWS, cases[i].shift, cases[i].bins);
		double lo = df > 1 ? chi2_quantile(df, -Z_1E6) : 0, hi = chi2_quantile(df, Z_1E6);

		print_message("chi-square %-20s df %4.0f: %9.2f (accepted %.2f..%.2f)\n",
			      cases[i].what, df, chi2, lo, hi);
		assert_true(chi2 >= lo);
		assert_true(chi2 <= hi);
	}
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_values_fit_24_bits),
	    cmocka_unit_test(test_bits_balanced),
	    cmocka_unit_test(test_duplicates_at_birthday_rate),
	    cmocka_unit_test(test_chi_square),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
