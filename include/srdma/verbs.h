/* RDMA verbs: the device, completion queues, and one connection's endpoint (PD, RC QP, MRs)
 * with its INIT -> RTR -> RTS transitions. The main user of <infiniband/verbs.h>.
 *
 * Ownership: the server opens one srdma_dev at start-up and closes it last; each worker owns
 * one srdma_cq; each connection owns one srdma_ep (which uses, but does not own, a dev and a
 * cq). Objects are used by one thread at a time. Functions return 0 or a negative errno and,
 * where they take err/errlen, write a reason a user can act on. Nothing here logs. */
#ifndef SRDMA_VERBS_H
#define SRDMA_VERBS_H

#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include <srdma/registry.h>
#include <srdma/wire.h>

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

struct srdma_cq {
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	unsigned unacked; /* events taken but not yet acknowledged (acked in batches) */
	int cqe;
	struct srdma_registry *reg;
};

/* A CQ with its own non-blocking completion channel (its fd goes into an event loop). */
int srdma_cq_create(struct srdma_dev *dev, int cqe, struct srdma_registry *reg,
		    struct srdma_cq **out);
/* Accepts NULL and a partly built cq; acknowledges pending events first. Returns first error. */
int srdma_cq_destroy(struct srdma_cq *cq);
/* Request a notification for the next completion. */
int srdma_cq_arm(struct srdma_cq *cq);
/* Consume pending channel events (non-blocking): 1 if one was consumed, 0 if none. */
int srdma_cq_take_event(struct srdma_cq *cq);
int srdma_cq_fd(const struct srdma_cq *cq);

/* wr_id of every work request: the kind in the high 32 bits, the buffer slot in the low. */
enum srdma_wr_kind {
	SRDMA_WR_RECV = 1,
	SRDMA_WR_SEND = 2,
	SRDMA_WR_WRITE = 3,
};
#define SRDMA_WR_ID(kind, slot) (((uint64_t)(kind) << 32) | (uint32_t)(slot))
#define SRDMA_WR_KIND(id)	((unsigned)((id) >> 32))
#define SRDMA_WR_SLOT(id)	((unsigned)((id)&0xffffffffu))

/* Room after a message for a future trailer (an AEAD tag). */
#define SRDMA_MSG_TRAILER_MAX 16u

struct srdma_ep_opts {
	uint32_t max_msg;     /* largest payload a message of ours or the peer's may carry */
	unsigned recv_depth;  /* receives kept posted */
	unsigned send_depth;  /* sends in flight at most */
	unsigned write_depth; /* RDMA writes in flight at most beside the sends (0 = 1) */
	uint32_t write_len;   /* size of the RDMA-write region, 0 for none */
	int write_remote;     /* 1: the region is a target the peer writes into (remote write
			       * access); 0: a local source we RDMA-write from (no remote access) */
	void *qp_context;     /* stored in ibv_qp->qp_context */
};

struct srdma_ep {
	struct srdma_dev *dev;
	struct srdma_cq *cq;
	struct srdma_registry *reg;
	struct ibv_pd *pd;
	struct ibv_qp *qp;
	uint32_t slot_size;
	unsigned recv_depth;
	unsigned send_depth;
	uint8_t *recv_buf;
	struct ibv_mr *recv_mr;
	uint8_t *send_buf;
	struct ibv_mr *send_mr;
	uint8_t *write_buf;
	struct ibv_mr *write_mr;
	uint32_t write_len;
	int write_remote;
	enum ibv_mtu mtu; /* path MTU after connect */
};

/* Build PD, MRs (least access each needs) and an RC QP on cq, move the QP to INIT and post
 * recv_depth receives. reg (may be NULL) counts the resources. */
int srdma_ep_create(struct srdma_dev *dev, struct srdma_cq *cq, struct srdma_registry *reg,
		    const struct srdma_ep_opts *opts, struct srdma_ep **out, char *err,
		    size_t errlen);
/* Destroy in reverse order of creation; accepts NULL and partly built endpoints, keeps going
 * past a failure and returns the first error. */
int srdma_ep_destroy(struct srdma_ep *ep);

/* Our side of PARAMS (QPN, LID, GID, MTU, depths, the write region if it is a target). */
void srdma_ep_local_params(const struct srdma_ep *ep, struct srdma_params *out);

/* INIT -> RTR (remote QPN/GID/LID, rq_psn = remote_psn) -> RTS (sq_psn = local_psn). */
int srdma_ep_connect(struct srdma_ep *ep, const struct srdma_params *remote, uint32_t local_psn,
		     uint32_t remote_psn, char *err, size_t errlen);

/* Move the QP to the error state, flushing every posted work request. */
int srdma_ep_set_error(struct srdma_ep *ep);
/* Current QP state, or -errno. */
int srdma_ep_qp_state(struct srdma_ep *ep);

static inline uint8_t *srdma_ep_recv_slot(const struct srdma_ep *ep, unsigned slot)
{
	return ep->recv_buf + (size_t)slot * ep->slot_size;
}

static inline uint8_t *srdma_ep_send_slot(const struct srdma_ep *ep, unsigned slot)
{
	return ep->send_buf + (size_t)slot * ep->slot_size;
}

int srdma_ep_post_recv(struct srdma_ep *ep, unsigned slot);
/* Send len bytes of send slot `slot` (signaled). */
int srdma_ep_post_send(struct srdma_ep *ep, unsigned slot, uint32_t len);
/* Send n slots (lens[i] bytes of slots[i]) with one ibv_post_send: only the last is signaled,
 * with last_wr_id, and its completion stands for all n. n is 1..SRDMA_POST_LIST_MAX. */
#define SRDMA_POST_LIST_MAX 32u
int srdma_ep_post_sends(struct srdma_ep *ep, const unsigned *slots, const uint32_t *lens,
			unsigned n, uint64_t last_wr_id);
/* RDMA-write write_buf[offset..offset+len) to raddr/rkey on the peer (signaled). */
int srdma_ep_post_write(struct srdma_ep *ep, uint32_t offset, uint32_t len, uint64_t raddr,
			uint32_t rkey);

#endif
