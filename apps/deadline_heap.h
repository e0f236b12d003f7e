/* A binary min-heap of deadlines (intrusive: the caller embeds a struct dheap_node in its own
 * object and finds the object again with its own container-of). Each operation is O(log n);
 * a node knows its place, so it can be moved or taken out without a search. Pure; srdma-server's
 * workers keep their sessions' timers in one (apps/server_worker.c). */
#ifndef SRDMA_DEADLINE_HEAP_H
#define SRDMA_DEADLINE_HEAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct dheap_node {
	uint64_t due;
	size_t pos; /* 1-based place in the heap; 0: not in it */
};

struct dheap {
	struct dheap_node **a; /* a[1..len]; the children of i are 2i and 2i + 1 */
	size_t len, cap;
};

static inline void dheap__put(struct dheap *h, size_t i, struct dheap_node *n)
{
	h->a[i] = n;
	n->pos = i;
}

static inline void dheap__up(struct dheap *h, size_t i)
{
	struct dheap_node *n = h->a[i];

	while (i > 1 && h->a[i / 2]->due > n->due) {
		dheap__put(h, i, h->a[i / 2]);
		i /= 2;
	}
	dheap__put(h, i, n);
}

static inline void dheap__down(struct dheap *h, size_t i)
{
	struct dheap_node *n = h->a[i];
	size_t c;

	while ((c = 2 * i) <= h->len) {
		if (c < h->len && h->a[c + 1]->due < h->a[c]->due)
			c++;
		if (h->a[c]->due >= n->due)
			break;
		dheap__put(h, i, h->a[c]);
		i = c;
	}
	dheap__put(h, i, n);
}

/* The earliest node, or NULL when the heap is empty. */
static inline struct dheap_node *dheap_min(const struct dheap *h)
{
	return h->len ? h->a[1] : NULL;
}

static inline void dheap_remove(struct dheap *h, struct dheap_node *n)
{
	size_t i = n->pos;
	struct dheap_node *last;

	if (!i)
		return;
	n->pos = 0;
	last = h->a[h->len--];
	if (last == n)
		return;
	dheap__put(h, i, last);
	dheap__up(h, i);
	dheap__down(h, last->pos);
}

/* Put n in the heap at due, or move it there if it is in already. Returns 0, or -ENOMEM if the
 * heap cannot grow (n is then not in it). */
static inline int dheap_set(struct dheap *h, struct dheap_node *n, uint64_t due)
{
	struct dheap_node **a;
	uint64_t was = n->due;
	size_t cap;

	if (n->pos) {
		n->due = due;
		if (due < was)
			dheap__up(h, n->pos);
		else if (due > was)
			dheap__down(h, n->pos);
		return 0;
	}
	if (h->len + 1 >= h->cap) {
		cap = h->cap ? 2 * h->cap : 64;
		a = realloc(h->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		h->a = a;
		h->cap = cap;
	}
	n->due = due;
	h->a[++h->len] = n;
	dheap__up(h, h->len);
	return 0;
}

/* Free the heap's array (its nodes are the caller's). */
static inline void dheap_free(struct dheap *h)
{
	free(h->a);
	h->a = NULL;
	h->len = h->cap = 0;
}

#endif
