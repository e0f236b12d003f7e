/* A connection's queue pairs: options, creation in INIT, and INIT -> RTR -> RTS by hand with the
 * PSNs exchanged under TLS. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cm_internal.h"

/* ---- Queue pairs ---------------------------------------------------------------------- */

/* libsrdma 0.5 put max_send in what was padding after remote_access: the struct keeps the
 * size and the offsets 0.4 applications were built with. */
_Static_assert(sizeof(void *) != 8 || (sizeof(struct srdma_qp_opts) == 56 &&
				       offsetof(struct srdma_qp_opts, send_cq) == 32 &&
				       offsetof(struct srdma_qp_opts, max_msg) == 48),
	       "struct srdma_qp_opts changed its layout");

/* Apply the defaults of <srdma.h> and check the options of QP i. */
int srdma__qp_opts_effective(struct srdma_qp_opts *o, unsigned i, char *err, size_t errlen)
{
	if (o->remote_access & ~SRDMA_ACCESS_ALL) {
		snprintf(err, errlen, "QP %u: remote_access 0x%x has unknown bits", i,
			 o->remote_access);
		return -EINVAL;
	}
	if (o->driver == SRDMA_QP_RAW) {
		o->max_send = 0; /* messages QPs only */
		o->max_send_wr = o->max_send_wr ? o->max_send_wr : RAW_DEFAULT_WR;
		o->max_recv_wr = o->max_recv_wr ? o->max_recv_wr : RAW_DEFAULT_WR;
		o->max_send_sge = o->max_send_sge ? o->max_send_sge : 1;
		o->max_recv_sge = o->max_recv_sge ? o->max_recv_sge : 1;
		return 0;
	}
	if (o->driver != SRDMA_QP_MESSAGES) {
		snprintf(err, errlen,
			 "QP %u: unknown driver %d (SRDMA_QP_RAW or SRDMA_QP_MESSAGES)", i,
			 (int)o->driver);
		return -EINVAL;
	}
	/* The library polls a messages QP: it always uses a CQ of its own. */
	o->send_cq = NULL;
	o->recv_cq = NULL;
	o->max_msg = o->max_msg ? o->max_msg : MSG_DEFAULT_MAX;
	o->depth = o->depth ? o->depth : MSG_DEFAULT_DEPTH;
	if (o->max_msg > SRDMA_MSG_MAX) {
		snprintf(err, errlen, "QP %u: max_msg %u exceeds %u", i, o->max_msg, SRDMA_MSG_MAX);
		return -EINVAL;
	}
	if (o->max_send > SRDMA_MSG_MAX) {
		snprintf(err, errlen, "QP %u: max_send %u exceeds %u", i, o->max_send,
			 SRDMA_MSG_MAX);
		return -EINVAL;
	}
	if (o->depth < 3 || o->depth > SRDMA_MAX_RECV_DEPTH) {
		snprintf(err, errlen, "QP %u: depth %u is outside 3..%u", i, o->depth,
			 SRDMA_MAX_RECV_DEPTH);
		return -EINVAL;
	}
	return 0;
}

static int access_to_ibv(unsigned access)
{
	return (access & SRDMA_ACCESS_REMOTE_WRITE ? IBV_ACCESS_REMOTE_WRITE : 0) |
	       (access & SRDMA_ACCESS_REMOTE_READ ? IBV_ACCESS_REMOTE_READ : 0) |
	       (access & SRDMA_ACCESS_REMOTE_ATOMIC ? IBV_ACCESS_REMOTE_ATOMIC : 0);
}

static int make_cq(struct srdma_conn *c, struct srdma_cm_qp *q, int cqe)
{
	int flags;

	q->channel = ibv_create_comp_channel(c->dev->ctx);
	if (!q->channel)
		return errno ? -errno : -ENOMEM;
	flags = fcntl(q->channel->fd, F_GETFL);
	if (flags < 0 || fcntl(q->channel->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (cqe > c->dev->attr.max_cqe)
		cqe = c->dev->attr.max_cqe;
	q->cq = ibv_create_cq(c->dev->ctx, cqe, q, q->channel, 0);
	if (!q->cq)
		return errno ? -errno : -ENOMEM;
	return 0;
}

/* QP i: CQ if ours, the RC QP in INIT, its PSN, its message buffers. */
int srdma__qp_create(struct srdma_conn *c, unsigned i, char *err, size_t errlen)
{
	struct srdma_cm_qp *q = &c->qp[i];
	struct ibv_qp_init_attr init = {0};
	struct ibv_qp_attr attr = {0};
	const struct srdma_qp_opts *o = &q->opts;
	const char *step;
	int cqe, ret;

	if (o->driver == SRDMA_QP_MESSAGES) {
		srdma__msgq_caps(o, &init.cap, &cqe);
	} else {
		init.cap.max_send_wr = o->max_send_wr;
		init.cap.max_recv_wr = o->max_recv_wr;
		init.cap.max_send_sge = o->max_send_sge;
		init.cap.max_recv_sge = o->max_recv_sge;
		init.cap.max_inline_data = o->max_inline_data;
		cqe = (int)(o->max_send_wr + o->max_recv_wr);
	}
	if (!o->send_cq || !o->recv_cq) {
		step = "create a completion queue";
		ret = make_cq(c, q, cqe);
		if (ret)
			goto err;
	}
	q->send_cq = o->send_cq ? o->send_cq : q->cq;
	q->recv_cq = o->recv_cq ? o->recv_cq : q->cq;
	init.send_cq = q->send_cq;
	init.recv_cq = q->recv_cq;
	init.qp_type = IBV_QPT_RC;
	init.qp_context = c;
	step = "create the queue pair";
	q->qp = ibv_create_qp(c->pd, &init);
	if (!q->qp) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	step = "draw a PSN";
	ret = srdma__ctx_psn_take(c->ctx, &q->local_psn);
	if (ret)
		goto err;
	q->have_psn = 1;
	if (o->remote_access & (SRDMA_ACCESS_REMOTE_READ | SRDMA_ACCESS_REMOTE_ATOMIC))
		q->rd_atomic = (uint8_t)(c->dev->attr.max_qp_rd_atom < (int)SRDMA_WIRE_MAX_RD_ATOMIC
					     ? c->dev->attr.max_qp_rd_atom
					     : (int)SRDMA_WIRE_MAX_RD_ATOMIC);
	attr.qp_state = IBV_QPS_INIT;
	attr.pkey_index = 0;
	attr.port_num = c->dev->port;
	attr.qp_access_flags = (unsigned)access_to_ibv(o->remote_access);
	step = "move the queue pair to INIT";
	ret = -ibv_modify_qp(q->qp, &attr,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (ret)
		goto err;
	if (o->driver == SRDMA_QP_MESSAGES)
		return srdma__msgq_create(c, q, err, errlen);
	return 0;

err:
	snprintf(err, errlen, "cannot %s for QP %u on %s: %s", step, i, c->dev->name,
		 strerror(-ret));
	return ret;
}

/* Device, PD and every QP in INIT. Partial state is freed by srdma_conn_close. */
int srdma__rdma_create(struct srdma_conn *c, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	ret = srdma__ctx_dev(c->ctx, &c->dev, err, errlen);
	if (ret)
		return ret;
	c->pd = ibv_alloc_pd(c->dev->ctx);
	if (!c->pd) {
		ret = errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot allocate a protection domain on %s: %s", c->dev->name,
			 strerror(-ret));
		return ret;
	}
	for (i = 0; i < c->nqp; i++) {
		ret = srdma__qp_create(c, i, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int srdma__qp_connect(struct srdma_conn *c, unsigned i, char *err, size_t errlen)
{
	static const uint8_t zero_gid[16];
	struct srdma_cm_qp *q = &c->qp[i];
	const struct srdma_wire_qp *r = &q->remote;
	struct srdma_dev *dev = c->dev;
	struct ibv_qp_attr attr;
	enum ibv_mtu mtu = dev->port_attr.active_mtu;
	int ret;

	if (r->mtu < mtu)
		mtu = (enum ibv_mtu)r->mtu;
	c->path_mtu = 128 << mtu;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = mtu;
	attr.dest_qp_num = r->qpn;
	attr.rq_psn = q->remote_psn;
	attr.max_dest_rd_atomic = q->rd_atomic;
	attr.min_rnr_timer = 12;
	attr.ah_attr.port_num = dev->port;
	attr.ah_attr.dlid = r->lid;
	if (dev->gid_index >= 0) {
		if (memcmp(r->gid, zero_gid, sizeof(zero_gid)) == 0) {
			snprintf(err, errlen,
				 "the peer sent no GID for QP %u, but %s needs one (RoCE)", i,
				 dev->name);
			return -EINVAL;
		}
		attr.ah_attr.is_global = 1;
		memcpy(attr.ah_attr.grh.dgid.raw, r->gid, sizeof(r->gid));
		attr.ah_attr.grh.sgid_index = (uint8_t)dev->gid_index;
		attr.ah_attr.grh.hop_limit = 64;
	}
	/* Receives are posted before RTR: the listener's are made now that it knows the
	 * connector's max_send. */
	if (q->opts.driver == SRDMA_QP_MESSAGES) {
		ret = srdma__msgq_prepare(c, q, err, errlen);
		if (ret)
			return ret;
	}
	ret = -ibv_modify_qp(q->qp, &attr,
			     IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				 IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ret) {
		snprintf(err, errlen, "cannot move QP %u to RTR on %s: %s", i, dev->name,
			 strerror(-ret));
		return ret;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.sq_psn = q->local_psn;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	/* Library-driven QPs never meet RNR (credits): a finite retry turns a peer that stopped
	 * posting receives into an error on its own connection rather than a stall. Raw QPs keep
	 * what verbs applications expect (7: retry for ever). */
	attr.rnr_retry = q->opts.driver == SRDMA_QP_MESSAGES ? 6 : 7;
	attr.max_rd_atomic =
	    (uint8_t)(r->rd_atomic < dev->attr.max_qp_init_rd_atom ? r->rd_atomic
								   : dev->attr.max_qp_init_rd_atom);
	ret = -ibv_modify_qp(q->qp, &attr,
			     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				 IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret) {
		snprintf(err, errlen, "cannot move QP %u to RTS on %s: %s", i, dev->name,
			 strerror(-ret));
		return ret;
	}
	if (q->opts.driver == SRDMA_QP_MESSAGES)
		return srdma__msgq_start(c, q, err, errlen);
	return 0;
}

int srdma__qps_connect(struct srdma_conn *c, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	for (i = 0; i < c->nqp; i++) {
		ret = srdma__qp_connect(c, i, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* QP, its messages state, the CQ and channel the library made, its PSN; q keeps its options. */
int srdma__qp_destroy(struct srdma_conn *c, struct srdma_cm_qp *q)
{
	int first = 0, ret;

	if (q->qp) {
		ret = -ibv_destroy_qp(q->qp);
		if (ret && !first)
			first = ret;
		q->qp = NULL;
	}
	srdma__msgq_destroy(q);
	q->mq = NULL;
	if (q->cq) {
		if (q->cq_events)
			ibv_ack_cq_events(q->cq, q->cq_events);
		q->cq_events = 0;
		ret = -ibv_destroy_cq(q->cq);
		if (ret && !first)
			first = ret;
		q->cq = NULL;
	}
	if (q->channel) {
		ret = -ibv_destroy_comp_channel(q->channel);
		if (ret && !first)
			first = ret;
		q->channel = NULL;
	}
	q->send_cq = q->recv_cq = NULL;
	q->armed = 0;
	if (q->have_psn)
		srdma__ctx_psn_put(c->ctx, q->local_psn);
	q->have_psn = 0;
	q->have_remote = 0;
	return first;
}

int srdma__rdma_release(struct srdma_conn *c)
{
	int first = 0, ret;
	unsigned i;

	for (i = SRDMA_MAX_QPS; i-- > 0;) {
		ret = srdma__qp_destroy(c, &c->qp[i]);
		if (ret && !first)
			first = ret;
	}
	/* The application's MRs still in the PD keep it alive: it stays, for a later call to
	 * report. */
	if (c->pd) {
		if (ibv_dealloc_pd(c->pd)) {
			if (!first)
				first = -EBUSY;
		} else {
			c->pd = NULL;
		}
	}
	return first;
}
