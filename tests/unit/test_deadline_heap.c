/* The deadline heap of srdma-server's workers (apps/deadline_heap.h), against a plain array
 * searched in full: the same minimum after every insert, move and removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../apps/deadline_heap.h"

#define N 500

struct item {
	struct dheap_node node;
	int in; /* the model: in the heap or not */
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The heap's shape: every parent no later than its children, every node where it says. */
static void check_heap(const struct dheap *h)
{
	size_t i;

	for (i = 1; i <= h->len; i++) {
		assert_int_equal(h->a[i]->pos, i);
		if (i > 1)
			assert_true(h->a[i / 2]->due <= h->a[i]->due);
	}
}

static void check_min(const struct dheap *h, const struct item *it)
{
	uint64_t min = UINT64_MAX;
	size_t i, in = 0;

	for (i = 0; i < N; i++)
		if (it[i].in) {
			in++;
			if (it[i].node.due < min)
				min = it[i].node.due;
			assert_true(it[i].node.pos >= 1 && it[i].node.pos <= h->len);
		} else {
			assert_int_equal(it[i].node.pos, 0);
		}
	assert_int_equal(h->len, in);
	if (!in)
		assert_null(dheap_min(h));
	else
		assert_int_equal(dheap_min(h)->due, min);
}

static void test_random_operations(void **state)
{
	struct item *it = calloc(N, sizeof(*it));
	struct dheap h = {0};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned step;

	(void)state;
	assert_non_null(it);
	for (step = 0; step < 20000; step++) {
		struct item *i = &it[rnd(&x) % N];
		unsigned op = (unsigned)(rnd(&x) % 4);

		if (op == 0 && i->in) {
			dheap_remove(&h, &i->node);
			i->in = 0;
		} else {
			/* Few distinct times, so ties are common. */
			assert_int_equal(dheap_set(&h, &i->node, 1 + rnd(&x) % 64), 0);
			i->in = 1;
		}
		if (step % 7 == 0 && dheap_min(&h)) {
			struct item *m = (struct item *)dheap_min(&h);

			dheap_remove(&h, &m->node);
			m->in = 0;
		}
		check_heap(&h);
		check_min(&h, it);
	}
	dheap_free(&h);
	free(it);
}

/* Taken out in order of their deadlines; removing what is not in the heap changes nothing. */
static void test_drains_in_order(void **state)
{
	static const uint64_t due[] = {50, 10, 40, 10, 30, 20, 60, 5};
	struct item it[8];
	struct dheap h = {0};
	uint64_t last = 0;
	size_t i;

	(void)state;
	memset(it, 0, sizeof(it));
	for (i = 0; i < 8; i++)
		assert_int_equal(dheap_set(&h, &it[i].node, due[i]), 0);
	/* Moves: later, earlier, the same. */
	assert_int_equal(dheap_set(&h, &it[7].node, 55), 0);
	assert_int_equal(dheap_set(&h, &it[6].node, 1), 0);
	assert_int_equal(dheap_set(&h, &it[2].node, 40), 0);
	assert_int_equal(dheap_min(&h)->due, 1);
	for (i = 0; i < 8; i++) {
		struct dheap_node *n = dheap_min(&h);

		assert_non_null(n);
		assert_true(n->due >= last);
		last = n->due;
		dheap_remove(&h, n);
		dheap_remove(&h, n);
		check_heap(&h);
	}
	assert_int_equal(last, 55);
	assert_null(dheap_min(&h));
	dheap_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_operations),
	    cmocka_unit_test(test_drains_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
