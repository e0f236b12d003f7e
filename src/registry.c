/* The server's client registry: a slot table, a free-slot stack and a PSN bitmap under one mutex.
 */
#include "srdma/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "registry_internal.h"
#include "srdma/log.h"
#include "srdma/psn.h"
#include "srdma/wire.h"

/* Same ceiling as the max_clients setting. It keeps the live PSNs at most 10^6 / 2^24 (6%) of
 * the PSN space, which is what makes the bounded redraw below safe. */
#define REGISTRY_MAX_CLIENTS 1000000u

/* A fresh draw collides with a live PSN with probability at most 6%, so needing more than 64
 * draws happens with probability below 0.06^64 (about 10^-78): in practice only a broken RNG
 * gets there, and then failing beats spinning under the lock. */
#define PSN_DRAWS_MAX 64

#define PSN_SPACE	 (SRDMA_PSN_MASK + 1u)
#define WORD_BITS	 64u
#define PSN_BITMAP_BYTES (PSN_SPACE / 8u)

struct slot {
	uint32_t psn;
	uint8_t held;
	uint8_t has_psn;
};

struct srdma_registry {
	pthread_mutex_t lock;
	unsigned max_clients;
	struct slot *slots;
	/* Indices of the free slots; the top is free[nfree - 1]. Pop and push are O(1), where a
	 * scan for a free slot would be O(max_clients) per client at 10^6 clients. */
	unsigned *free;
	unsigned nfree;
	/* One bit per possible PSN, set while a held slot has it: an O(1) worst-case membership
	 * test with no hashing and no resizing. 2^24 bits is 2 MiB of address space whatever
	 * max_clients is; it is mapped anonymously (not calloc'd, which may memset a reused heap
	 * chunk) so that only the pages holding live PSNs, 4 KiB per 32768 PSNs, ever become
	 * resident. A hash set sized for 10^6 clients would need more than 2 MiB at the top end. */
	uint64_t *psn_live;
	uint64_t accepted;
	uint64_t refused;
	long res[SRDMA_RES_KINDS];
};

static int (*psn_source)(uint32_t *psn) = srdma_psn_generate;

void srdma__registry_set_psn_source(int (*source)(uint32_t *psn))
{
	psn_source = source ? source : srdma_psn_generate;
}

static int psn_is_live(const struct srdma_registry *reg, uint32_t psn)
{
	return (reg->psn_live[psn / WORD_BITS] >> (psn % WORD_BITS)) & 1u;
}

static void psn_mark(struct srdma_registry *reg, uint32_t psn, int live)
{
	uint64_t bit = UINT64_C(1) << (psn % WORD_BITS);

	if (live)
		reg->psn_live[psn / WORD_BITS] |= bit;
	else
		reg->psn_live[psn / WORD_BITS] &= ~bit;
}

int srdma_registry_create(unsigned max_clients, struct srdma_registry **out)
{
	struct srdma_registry *reg;
	int ret;

	if (max_clients < 1 || max_clients > REGISTRY_MAX_CLIENTS)
		return -EINVAL;

	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->max_clients = max_clients;

	reg->slots = calloc(max_clients, sizeof(*reg->slots));
	if (!reg->slots) {
		ret = -ENOMEM;
		goto err_free_reg;
	}
	reg->free = malloc(max_clients * sizeof(*reg->free));
	if (!reg->free) {
		ret = -ENOMEM;
		goto err_free_slots;
	}
	reg->psn_live = mmap(NULL, PSN_BITMAP_BYTES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (reg->psn_live == MAP_FAILED) {
		ret = -errno;
		goto err_free_free;
	}
	ret = -pthread_mutex_init(&reg->lock, NULL);
	if (ret)
		goto err_unmap_psn_live;

	/* Stacked in reverse so that a fresh registry hands out 0, 1, 2, ... */
	for (unsigned i = 0; i < max_clients; i++)
		reg->free[i] = max_clients - 1 - i;
	reg->nfree = max_clients;

	*out = reg;
	return 0;

err_unmap_psn_live:
	munmap(reg->psn_live, PSN_BITMAP_BYTES);
err_free_free:
	free(reg->free);
err_free_slots:
	free(reg->slots);
err_free_reg:
	free(reg);
	return ret;
}

void srdma_registry_destroy(struct srdma_registry *reg)
{
	if (!reg)
		return;
	pthread_mutex_destroy(&reg->lock);
	munmap(reg->psn_live, PSN_BITMAP_BYTES);
	free(reg->free);
	free(reg->slots);
	free(reg);
}

int srdma_registry_acquire(struct srdma_registry *reg, unsigned *slot)
{
	unsigned s;

	pthread_mutex_lock(&reg->lock);
	if (reg->nfree == 0) {
		reg->refused++;
		pthread_mutex_unlock(&reg->lock);
		return -EBUSY;
	}
	s = reg->free[--reg->nfree];
	reg->slots[s].held = 1;
	reg->slots[s].has_psn = 0;
	reg->accepted++;
	pthread_mutex_unlock(&reg->lock);

	*slot = s;
	return 0;
}

void srdma_registry_release(struct srdma_registry *reg, unsigned slot)
{
	struct slot *s;

	pthread_mutex_lock(&reg->lock);
	/* Checking held is what keeps a double release from pushing a slot twice, which would
	 * later hand one slot to two clients. */
	if (slot < reg->max_clients && reg->slots[slot].held) {
		s = &reg->slots[slot];
		if (s->has_psn)
			psn_mark(reg, s->psn, 0);
		s->held = 0;
		s->has_psn = 0;
		reg->free[reg->nfree++] = slot;
	}
	pthread_mutex_unlock(&reg->lock);
}

int srdma_registry_assign_psn(struct srdma_registry *reg, unsigned slot, uint32_t *psn)
{
	struct slot *s;
	uint32_t p;
	int ret = -EIO;

	/* The draws happen under the lock: a 4-byte RAND_bytes costs well under a microsecond and
	 * this runs once per connection set-up, so holding the lock keeps "not held" and "taken
	 * meanwhile" out of the picture at no measurable cost. */
	pthread_mutex_lock(&reg->lock);
	if (slot >= reg->max_clients || !reg->slots[slot].held) {
		ret = -EINVAL;
		goto out;
	}
	s = &reg->slots[slot];
	for (int i = 0; i < PSN_DRAWS_MAX; i++) {
		ret = psn_source(&p);
		if (ret)
			goto out;
		/* An out-of-range value would index past the bitmap. */
		if (!srdma_psn_valid(p)) {
			ret = -EIO;
			goto out;
		}
		/* The slot's own current PSN is not "another held slot's". */
		if (psn_is_live(reg, p) && !(s->has_psn && s->psn == p))
			continue;
		if (s->has_psn)
			psn_mark(reg, s->psn, 0);
		psn_mark(reg, p, 1);
		s->psn = p;
		s->has_psn = 1;
		*psn = p;
		ret = 0;
		goto out;
	}
	srdma_err("registry: no unused PSN after %d draws for slot %u; is the RNG broken?",
		  PSN_DRAWS_MAX, slot);
	ret = -EIO;
out:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

void srdma_registry_count(struct srdma_registry *reg, enum srdma_res_kind kind, int delta)
{
	if ((unsigned)kind >= SRDMA_RES_KINDS)
		return;
	pthread_mutex_lock(&reg->lock);
	reg->res[kind] += delta;
	pthread_mutex_unlock(&reg->lock);
}

void srdma_registry_stats(struct srdma_registry *reg, struct srdma_registry_stats *out)
{
	pthread_mutex_lock(&reg->lock);
	out->max_clients = reg->max_clients;
	out->active = reg->max_clients - reg->nfree;
	out->accepted = reg->accepted;
	out->refused = reg->refused;
	memcpy(out->res, reg->res, sizeof(out->res));
	pthread_mutex_unlock(&reg->lock);
}
