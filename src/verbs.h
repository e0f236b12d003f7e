/* RDMA verbs helpers of the connection manager (cm_*.c): the device, opened once per context
 * and closed last, with its port and GID choice; and the wr_id layout of the work requests the
 * library posts on its message QPs. Functions return 0 or a negative errno and, where they take
 * err/errlen, write a reason a user can act on. Nothing here logs. */
#ifndef SRDMA_VERBS_H
#define SRDMA_VERBS_H

#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "wire.h"

struct srdma_dev {
	struct ibv_context *ctx;
	struct ibv_device_attr attr;
	struct ibv_port_attr port_attr;
	uint8_t port;
	int gid_index; /* -1 on InfiniBand ports that route by LID only */
	union ibv_gid gid;
	int is_roce;
	char name[IBV_SYSFS_NAME_MAX];
	char gid_desc[64]; /* e.g. "RoCE v2, IPv4-mapped" (no address: that is a secret) */
};

/* Open device name (NULL or "" = the first one), query port, choose the GID: gid_index < 0
 * picks the first RoCE v2 IPv4-mapped GID on RoCE ports. -ENODEV when there is no device. */
int srdma_dev_open(const char *name, uint8_t port, int gid_index, struct srdma_dev **out, char *err,
		   size_t errlen);
/* Accepts NULL. Every PD, CQ and QP made on dev must be gone first. */
void srdma_dev_close(struct srdma_dev *dev);

/* wr_id of every work request: the kind in the high 32 bits, the buffer slot in the low. */
enum srdma_wr_kind {
	SRDMA_WR_RECV = 1,
	SRDMA_WR_SEND = 2,
	SRDMA_WR_WRITE = 3,
};
#define SRDMA_WR_ID(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))
#define SRDMA_WR_KIND(id)	((unsigned)((id) >> 32))
#define SRDMA_WR_SLOT(id)	((unsigned)((id)&0xffffffffu))

#endif
