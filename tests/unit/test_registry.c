/* Client registry: the client limit, slot reuse, PSN uniqueness among live slots (also with
 * forced collisions through the test seam), resource counts, and the same under 8 threads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srdma/psn.h"
#include "srdma/registry.h"
#include "../../src/registry_internal.h"

/* Scripted PSN source: hands out script[] in order, then fails (a test that runs off the end of
 * its script is wrong, and -EIO makes that visible). Single-threaded tests only. */
static const uint32_t *script;
static size_t script_len, script_pos;

static int scripted_psn(uint32_t *psn)
{
	if (script_pos >= script_len)
		return -EIO;
	*psn = script[script_pos++];
	return 0;
}

static void use_script(const uint32_t *values, size_t n)
{
	script = values;
	script_len = n;
	script_pos = 0;
	srdma__registry_set_psn_source(scripted_psn);
}

#define USE_SCRIPT(...)                                                                            \
	do {                                                                                       \
		static const uint32_t values_[] = {__VA_ARGS__};                                   \
		use_script(values_, sizeof(values_) / sizeof(values_[0]));                         \
	} while (0)

/* A real random source squeezed into 2^bits values, so that collisions are frequent. Thread-safe:
 * one xorshift64 state per thread, seeded from the CSPRNG. */
static unsigned small_space_bits;
static _Thread_local uint64_t xs_state;

static int small_space_psn(uint32_t *psn)
{
	if (!xs_state) {
		uint32_t a, b;

		if (srdma_psn_generate(&a) || srdma_psn_generate(&b))
			return -EIO;
		xs_state = ((uint64_t)a << 32 | b) | 1;
	}
	xs_state ^= xs_state << 13;
	xs_state ^= xs_state >> 7;
	xs_state ^= xs_state << 17;
	*psn = (uint32_t)(xs_state >> 11) & ((1u << small_space_bits) - 1);
	return 0;
}

static int always_five(uint32_t *psn)
{
	script_pos++;
	*psn = 5;
	return 0;
}

static int failing_rng(uint32_t *psn)
{
	(void)psn;
	return -EIO;
}

static int too_wide(uint32_t *psn)
{
	*psn = 0x1000000;
	return 0;
}

static int restore_source(void **state)
{
	(void)state;
	srdma__registry_set_psn_source(NULL);
	return 0;
}

static struct srdma_registry *make(unsigned max)
{
	struct srdma_registry *reg = NULL;

	assert_int_equal(srdma_registry_create(max, &reg), 0);
	assert_non_null(reg);
	return reg;
}

static struct srdma_registry_stats stats_of(struct srdma_registry *reg)
{
	struct srdma_registry_stats st;

	memset(&st, 0xA5, sizeof(st));
	srdma_registry_stats(reg, &st);
	return st;
}

static unsigned take(struct srdma_registry *reg)
{
	unsigned slot = UINT_MAX;

	assert_int_equal(srdma_registry_acquire(reg, &slot), 0);
	return slot;
}

static uint32_t psn_for(struct srdma_registry *reg, unsigned slot)
{
	uint32_t psn = UINT32_MAX;

	assert_int_equal(srdma_registry_assign_psn(reg, slot, &psn), 0);
	assert_true(srdma_psn_valid(psn));
	return psn;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void assert_all_distinct(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 1; i < n; i++) {
		if (v[i] == v[i - 1])
			fail_msg("PSN %#x held by two live slots", v[i]);
	}
}

static void test_create_bad_args(void **state)
{
	struct srdma_registry *reg = NULL;

	(void)state;
	assert_int_equal(srdma_registry_create(0, &reg), -EINVAL);
	assert_null(reg);
	/* Above the max_clients ceiling the PSN space could no longer be kept sparse. */
	assert_int_equal(srdma_registry_create(1000001, &reg), -EINVAL);
	assert_int_equal(srdma_registry_create(UINT_MAX, &reg), -EINVAL);
	assert_null(reg);
	srdma_registry_destroy(NULL);

	reg = make(1);
	assert_int_equal(stats_of(reg).max_clients, 1);
	srdma_registry_destroy(reg);
}

static void test_fill_then_busy(void **state)
{
	struct srdma_registry *reg = make(5);
	struct srdma_registry_stats st;
	int seen[5] = {0};
	unsigned slot = 12345;

	(void)state;
	st = stats_of(reg);
	assert_int_equal(st.max_clients, 5);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.refused, 0);

	for (int i = 0; i < 5; i++) {
		unsigned s = take(reg);

		assert_in_range(s, 0, 4);
		assert_int_equal(seen[s], 0);
		seen[s] = 1;
	}
	assert_int_equal(srdma_registry_acquire(reg, &slot), -EBUSY);
	assert_int_equal(srdma_registry_acquire(reg, &slot), -EBUSY);
	assert_int_equal(slot, 12345);

	st = stats_of(reg);
	assert_int_equal(st.active, 5);
	assert_int_equal(st.accepted, 5);
	assert_int_equal(st.refused, 2);
	srdma_registry_destroy(reg);
}

static void test_release_then_acquire(void **state)
{
	struct srdma_registry *reg = make(3);
	unsigned slot;

	(void)state;
	for (int i = 0; i < 3; i++)
		take(reg);
	srdma_registry_release(reg, 1);
	assert_int_equal(stats_of(reg).active, 2);
	assert_int_equal(take(reg), 1);
	assert_int_equal(srdma_registry_acquire(reg, &slot), -EBUSY);

	/* Cycling far more clients than slots. */
	for (int i = 0; i < 1000; i++) {
		srdma_registry_release(reg, (unsigned)i % 3);
		assert_int_equal(take(reg), (unsigned)i % 3);
	}
	assert_int_equal(stats_of(reg).accepted, 1004);
	assert_int_equal(stats_of(reg).refused, 1);
	srdma_registry_destroy(reg);
}

static void test_release_of_free_slot_ignored(void **state)
{
	struct srdma_registry *reg = make(2);
	unsigned a, b, slot;

	(void)state;
	/* Nothing held yet. */
	srdma_registry_release(reg, 0);
	srdma_registry_release(reg, 1);
	assert_int_equal(stats_of(reg).active, 0);

	a = take(reg);
	b = take(reg);
	assert_int_not_equal(a, b);
	srdma_registry_release(reg, a);
	/* A second release must not put a on the free list twice... */
	srdma_registry_release(reg, a);
	srdma_registry_release(reg, 2);
	srdma_registry_release(reg, UINT_MAX);
	assert_int_equal(stats_of(reg).active, 1);
	/* ...or a would now be handed to two clients. */
	assert_int_equal(take(reg), a);
	assert_int_equal(srdma_registry_acquire(reg, &slot), -EBUSY);
	assert_int_equal(stats_of(reg).active, 2);
	srdma_registry_destroy(reg);
}

static void test_assign_psn_needs_held_slot(void **state)
{
	struct srdma_registry *reg = make(4);
	uint32_t psn = 77;
	unsigned s;

	(void)state;
	assert_int_equal(srdma_registry_assign_psn(reg, 0, &psn), -EINVAL);
	assert_int_equal(srdma_registry_assign_psn(reg, 4, &psn), -EINVAL);
	assert_int_equal(srdma_registry_assign_psn(reg, UINT_MAX, &psn), -EINVAL);
	assert_int_equal(psn, 77);

	s = take(reg);
	psn_for(reg, s);
	srdma_registry_release(reg, s);
	assert_int_equal(srdma_registry_assign_psn(reg, s, &psn), -EINVAL);
	assert_int_equal(psn, 77);
	srdma_registry_destroy(reg);
}

static void test_psns_unique_real_rng(void **state)
{
	enum { N = 2000 };
	struct srdma_registry *reg = make(N);
	uint32_t *psn = malloc(N * sizeof(*psn));

	(void)state;
	assert_non_null(psn);
	for (unsigned i = 0; i < N; i++)
		psn[i] = psn_for(reg, take(reg));
	assert_all_distinct(psn, N);
	free(psn);
	srdma_registry_destroy(reg);
}

static void test_forced_collisions(void **state)
{
	struct srdma_registry *reg = make(3);
	unsigned s0, s1;

	(void)state;
	s0 = take(reg);
	s1 = take(reg);

	USE_SCRIPT(5, 5, 5, 7);
	assert_int_equal(psn_for(reg, s0), 5);
	/* 5 is live in s0: redrawn twice, then 7. */
	assert_int_equal(psn_for(reg, s1), 7);
	assert_int_equal(script_pos, 4);

	/* Releasing s0 frees 5; the slot's next client draws 7 (live in s1), then 5. */
	srdma_registry_release(reg, s0);
	assert_int_equal(take(reg), s0);
	USE_SCRIPT(7, 5);
	assert_int_equal(psn_for(reg, s0), 5);

	/* A slot may draw its own current PSN again: no other slot has it. */
	USE_SCRIPT(7);
	assert_int_equal(psn_for(reg, s1), 7);
	/* Reassigning replaces the old PSN: 5 is s0's, so 9; and 7 is free again afterwards. */
	USE_SCRIPT(5, 9);
	assert_int_equal(psn_for(reg, s1), 9);
	USE_SCRIPT(9, 7);
	assert_int_equal(psn_for(reg, s0), 7);
	assert_int_equal(script_pos, 2);
	/* And s0's old 5 went with it. */
	USE_SCRIPT(5);
	assert_int_equal(psn_for(reg, take(reg)), 5);
	srdma_registry_destroy(reg);
}

static void test_redraw_is_bounded(void **state)
{
	struct srdma_registry *reg = make(2);
	unsigned s0 = take(reg), s1 = take(reg);
	uint32_t psn = 1;

	(void)state;
	srdma__registry_set_psn_source(always_five);
	assert_int_equal(psn_for(reg, s0), 5);
	script_pos = 0;
	assert_int_equal(srdma_registry_assign_psn(reg, s1, &psn), -EIO);
	assert_in_range(script_pos, 2, 1000);
	assert_int_equal(psn, 1);

	/* s1 got nothing: once s0 lets go of 5, s1 can have it. */
	srdma_registry_release(reg, s0);
	assert_int_equal(psn_for(reg, s1), 5);
	srdma_registry_destroy(reg);
}

static void test_rng_failure(void **state)
{
	struct srdma_registry *reg = make(2);
	unsigned s = take(reg);
	uint32_t psn = 1;

	(void)state;
	srdma__registry_set_psn_source(failing_rng);
	assert_int_equal(srdma_registry_assign_psn(reg, s, &psn), -EIO);
	/* A value past 24 bits from a broken source is refused, not used as a bitmap index. */
	srdma__registry_set_psn_source(too_wide);
	assert_int_equal(srdma_registry_assign_psn(reg, s, &psn), -EIO);
	assert_int_equal(psn, 1);
	srdma__registry_set_psn_source(NULL);
	psn_for(reg, s);
	srdma_registry_destroy(reg);
}

/* Random acquire/release/assign on a PSN space of 512 values shared by up to 256 live slots, so
 * that a large share of the draws collide; a shadow table checks uniqueness at every step. */
static void test_small_space_churn(void **state)
{
	enum { SLOTS = 256, SPACE_BITS = 9, STEPS = 20000 };
	struct srdma_registry *reg = make(SLOTS);
	int held[SLOTS] = {0};
	int64_t psn_of[SLOTS];
	unsigned char owner[1u << SPACE_BITS] = {0};
	unsigned seed = 1;

	(void)state;
	small_space_bits = SPACE_BITS;
	srdma__registry_set_psn_source(small_space_psn);
	for (int i = 0; i < SLOTS; i++)
		psn_of[i] = -1;

	for (int step = 0; step < STEPS; step++) {
		unsigned op = (unsigned)rand_r(&seed) % 3, s = (unsigned)rand_r(&seed) % SLOTS;
		uint32_t p;

		if (op == 0) {
			if (srdma_registry_acquire(reg, &s) == 0) {
				assert_false(held[s]);
				held[s] = 1;
			}
		} else if (op == 1) {
			if (held[s] && psn_of[s] >= 0)
				owner[psn_of[s]] = 0;
			srdma_registry_release(reg, s);
			held[s] = 0;
			psn_of[s] = -1;
		} else if (held[s]) {
			if (psn_of[s] >= 0)
				owner[psn_of[s]] = 0;
			p = psn_for(reg, s);
			assert_true(p < (1u << SPACE_BITS));
			assert_int_equal(owner[p], 0);
			owner[p] = 1;
			psn_of[s] = p;
		} else {
			assert_int_equal(srdma_registry_assign_psn(reg, s, &p), -EINVAL);
		}
	}
	srdma_registry_destroy(reg);
}

static void test_resource_counts(void **state)
{
	struct srdma_registry *reg = make(2);
	struct srdma_registry_stats st;

	(void)state;
	srdma_registry_count(reg, SRDMA_RES_PD, 1);
	srdma_registry_count(reg, SRDMA_RES_PD, 1);
	srdma_registry_count(reg, SRDMA_RES_PD, -1);
	srdma_registry_count(reg, SRDMA_RES_QP, 1);
	srdma_registry_count(reg, SRDMA_RES_MR, 3);
	srdma_registry_count(reg, SRDMA_RES_CQ, -1);
	/* Not a kind: ignored. */
	srdma_registry_count(reg, SRDMA_RES_KINDS, 1);
	srdma_registry_count(reg, (enum srdma_res_kind) - 1, 1);

	st = stats_of(reg);
	assert_int_equal(st.res[SRDMA_RES_PD], 1);
	assert_int_equal(st.res[SRDMA_RES_QP], 1);
	assert_int_equal(st.res[SRDMA_RES_MR], 3);
	/* Signed: a destroy counted without its create shows up instead of wrapping. */
	assert_true(st.res[SRDMA_RES_CQ] == -1);
	assert_int_equal(st.active, 0);

	srdma_registry_count(reg, SRDMA_RES_PD, -1);
	srdma_registry_count(reg, SRDMA_RES_QP, -1);
	srdma_registry_count(reg, SRDMA_RES_MR, -3);
	srdma_registry_count(reg, SRDMA_RES_CQ, 1);
	st = stats_of(reg);
	for (int k = 0; k < SRDMA_RES_KINDS; k++)
		assert_true(st.res[k] == 0);
	srdma_registry_destroy(reg);
}

enum { THREADS = 8, ITERS = 20000, MT_SLOTS = 16, MT_SPACE_BITS = 6 };

struct mt_shared {
	struct srdma_registry *reg;
	atomic_int slot_owner[MT_SLOTS];
	atomic_int psn_owner[1u << MT_SPACE_BITS];
	atomic_long accepted, refused, errors;
};

/* cmocka's asserts must not fire off the main thread, so workers count what goes wrong. The
 * shadow tables are claimed after the registry hands something out and cleared before it is
 * given back, so two live holders of one slot or one PSN show up as a claim that finds it taken. */
static void *mt_worker(void *arg)
{
	struct mt_shared *sh = arg;
	long accepted = 0, refused = 0, errors = 0;

	for (int i = 0; i < ITERS; i++) {
		unsigned s;
		uint32_t p, q;

		if (srdma_registry_acquire(sh->reg, &s) == -EBUSY) {
			refused++;
			continue;
		}
		accepted++;
		if (s >= MT_SLOTS || atomic_exchange(&sh->slot_owner[s], 1)) {
			errors++;
			continue;
		}
		if (srdma_registry_assign_psn(sh->reg, s, &p)) {
			errors++;
			goto release;
		}
		errors += atomic_exchange(&sh->psn_owner[p], 1);
		srdma_registry_count(sh->reg, SRDMA_RES_PD, 1);
		srdma_registry_count(sh->reg, SRDMA_RES_QP, 1);
		srdma_registry_count(sh->reg, SRDMA_RES_MR, 2);
		if (i % 4 == 0) {
			atomic_store(&sh->psn_owner[p], 0);
			if (srdma_registry_assign_psn(sh->reg, s, &q)) {
				/* Still p: a failed draw leaves the PSN as it was. */
				errors++;
				q = p;
			}
			errors += atomic_exchange(&sh->psn_owner[q], 1);
			p = q;
		}
		srdma_registry_count(sh->reg, SRDMA_RES_MR, -2);
		srdma_registry_count(sh->reg, SRDMA_RES_QP, -1);
		srdma_registry_count(sh->reg, SRDMA_RES_PD, -1);
		atomic_store(&sh->psn_owner[p], 0);
	release:
		atomic_store(&sh->slot_owner[s], 0);
		srdma_registry_release(sh->reg, s);
	}
	atomic_fetch_add(&sh->accepted, accepted);
	atomic_fetch_add(&sh->refused, refused);
	atomic_fetch_add(&sh->errors, errors);
	return NULL;
}

static void test_threads(void **state)
{
	static struct mt_shared sh;
	pthread_t tid[THREADS];
	struct srdma_registry_stats st;

	(void)state;
	memset(&sh, 0, sizeof(sh));
	sh.reg = make(MT_SLOTS);
	/* 16 live slots in 64 PSNs: a quarter of the draws collide at worst. */
	small_space_bits = MT_SPACE_BITS;
	srdma__registry_set_psn_source(small_space_psn);

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, mt_worker, &sh), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);

	st = stats_of(sh.reg);
	assert_int_equal(atomic_load(&sh.errors), 0);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.accepted, atomic_load(&sh.accepted));
	assert_int_equal(st.refused, atomic_load(&sh.refused));
	assert_int_equal(st.accepted + st.refused, (uint64_t)THREADS * ITERS);
	for (int k = 0; k < SRDMA_RES_KINDS; k++)
		assert_true(st.res[k] == 0);
	/* Everything was given back: all 16 slots can be taken again, with distinct PSNs. */
	for (int i = 0; i < MT_SLOTS; i++)
		psn_for(sh.reg, take(sh.reg));
	srdma_registry_destroy(sh.reg);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 10^6 clients: acquiring them all must be O(1) each (a free-slot scan would take ~10^12 steps
 * here), and 10^6 PSNs drawn through the real RNG are all distinct. */
static void test_million(void **state)
{
	enum { N = 1000000 };
	struct srdma_registry *reg = make(N);
	unsigned char *seen = calloc(N, 1);
	uint32_t *psn = malloc(N * sizeof(*psn));
	unsigned slot;
	double t;

	(void)state;
	assert_non_null(seen);
	assert_non_null(psn);

	t = now_s();
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(srdma_registry_acquire(reg, &slot), 0);
		assert_true(slot < N && !seen[slot]);
		seen[slot] = 1;
	}
	t = now_s() - t;
	if (t > 3.0)
		fail_msg("acquiring %d slots took %.2f s", N, t);
	assert_int_equal(srdma_registry_acquire(reg, &slot), -EBUSY);
	assert_int_equal(stats_of(reg).active, N);

	for (unsigned i = 0; i < N; i++)
		assert_int_equal(srdma_registry_assign_psn(reg, i, &psn[i]), 0);
	assert_all_distinct(psn, N);

	for (unsigned i = 0; i < N; i++)
		srdma_registry_release(reg, i);
	assert_int_equal(stats_of(reg).active, 0);
	free(psn);
	free(seen);
	srdma_registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_bad_args),
	    cmocka_unit_test(test_fill_then_busy),
	    cmocka_unit_test(test_release_then_acquire),
	    cmocka_unit_test(test_release_of_free_slot_ignored),
	    cmocka_unit_test(test_assign_psn_needs_held_slot),
	    cmocka_unit_test(test_psns_unique_real_rng),
	    cmocka_unit_test_teardown(test_forced_collisions, restore_source),
	    cmocka_unit_test_teardown(test_redraw_is_bounded, restore_source),
	    cmocka_unit_test_teardown(test_rng_failure, restore_source),
	    cmocka_unit_test_teardown(test_small_space_churn, restore_source),
	    cmocka_unit_test(test_resource_counts),
	    cmocka_unit_test_teardown(test_threads, restore_source),
	    cmocka_unit_test(test_million),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
