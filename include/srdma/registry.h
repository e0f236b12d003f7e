/* The server's client registry: a slot table under one mutex.
 *
 * It enforces the client limit (a slot is taken before any RDMA resource is made for a client),
 * hands out PSNs unique among live slots, and keeps the counts of live RDMA resources that
 * shutdown and tests check. All functions are thread-safe; the registry is owned by the server
 * and must outlive every worker that uses it. */
#ifndef SRDMA_REGISTRY_H
#define SRDMA_REGISTRY_H

#include <stdint.h>

struct srdma_registry;

enum srdma_res_kind { SRDMA_RES_PD = 0, SRDMA_RES_CQ, SRDMA_RES_QP, SRDMA_RES_MR, SRDMA_RES_KINDS };

struct srdma_registry_stats {
	unsigned max_clients;
	unsigned active;	   /* slots held */
	uint64_t accepted;	   /* slots ever acquired */
	uint64_t refused;	   /* acquire attempts refused because full */
	long res[SRDMA_RES_KINDS]; /* live RDMA resources, by kind */
};

/* max_clients >= 1. Returns 0, -EINVAL or -ENOMEM. */
int srdma_registry_create(unsigned max_clients, struct srdma_registry **out);
/* Frees the registry; accepts NULL. Slots still held are simply dropped. */
void srdma_registry_destroy(struct srdma_registry *reg);

/* Take a free slot: 0 and *slot in [0, max_clients), or -EBUSY when every slot is held. */
int srdma_registry_acquire(struct srdma_registry *reg, unsigned *slot);
/* Give a slot back (and forget its PSN). Releasing a free or out-of-range slot is ignored. */
void srdma_registry_release(struct srdma_registry *reg, unsigned slot);

/* Draw a fresh PSN for a held slot that no other held slot currently has, record it, and return
 * it in *psn. Returns 0, -EINVAL for a slot not held, -EIO if the RNG failed. */
int srdma_registry_assign_psn(struct srdma_registry *reg, unsigned slot, uint32_t *psn);

/* Count a live resource created (+1) or destroyed (-1). */
void srdma_registry_count(struct srdma_registry *reg, enum srdma_res_kind kind, int delta);

void srdma_registry_stats(struct srdma_registry *reg, struct srdma_registry_stats *out);

#endif
