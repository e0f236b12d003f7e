/* SRDMA_QP_MESSAGES queue pairs: the library posts the receives, owns the CQ, seals and opens
 * every message (dataplane.c) and keeps the send credits (credits.h) so that nothing ever waits
 * on RNR. Runs on the thread that uses the connection.
 *
 * Buffers: `depth` receive slots (registered LOCAL_WRITE only), each one whole message of up
 * to our max_msg plus header and tag; `depth` send slots (no access flags: only the local HCA
 * reads them), sized for the peer's max_msg, made once the peer's QP frame is known. The
 * connecting side makes its receive slots with the QP; the listening side makes them when the
 * connector's QP frame is in (before RTR), for the smaller of its max_msg and the connector's
 * max_send, so that a peer that only sends small messages pins little here. Every
 * send is signaled and a send slot is free again after its completion; an RC send queue
 * completes in order, so the slots form a ring.
 *
 * A received message is opened (authenticated, sequence-checked) as soon as its completion is
 * reaped, so that its ack is applied at once; a CREDIT's receive is reposted at once; an APP
 * waits in an in-order queue, its receive slot held, until the application takes it. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "dataplane.h"
#include "msg.h"

#include "cm_internal.h"
#include "credits.h"

#define DEFAULT_DEPTH	16u
#define DEFAULT_MAX_MSG 65536u
/* Send slots start at one page each and grow to the size of the largest message sent so far
 * (up to the peer's max_msg): an idle connection, or one that sends only small messages, pins
 * depth pages for sending instead of depth x the peer's max_msg. */
#define SEND_SLOT_START 4096u
/* Depth 2 can deadlock under the credit rules (credits.h): it is raised to 3. */
#define MIN_DEPTH	3u
#define POLL_BATCH	16
#define EVENT_ACK_BATCH 32u
/* srdma_msg_write's RDMA WRITEs (SRDMA_WR_WRITE) take a send slot like a message, so the send
 * ring accounts for them. */

/* An APP message waiting for the application, in its receive slot. */
struct held_msg {
	unsigned slot;
	uint32_t seq;
	uint32_t off; /* payload offset in the slot */
	uint32_t len;
};

struct srdma_msgq {
	struct srdma_dataplane dp;
	struct srdma_credits cr;
	unsigned depth;
	uint32_t max_msg;      /* ours: the largest payload we accept */
	uint32_t peer_max_msg; /* the largest we send: the peer's max_msg, lowered to our
				  max_send */
	size_t recv_slot;      /* bytes of one receive slot */
	size_t send_slot;
	uint8_t *recv_buf;
	struct ibv_mr *recv_mr;
	uint8_t *send_buf;
	struct ibv_mr *send_mr;
	uint64_t send_head; /* sends posted */
	uint64_t send_tail; /* sends completed */
	struct held_msg *held;
	unsigned held_head, held_len;
	int started;
};

static unsigned eff_depth(const struct srdma_qp_opts *o)
{
	unsigned d = o->depth ? o->depth : DEFAULT_DEPTH;

	if (d < MIN_DEPTH)
		d = MIN_DEPTH;
	if (d > SRDMA_MAX_RECV_DEPTH)
		d = SRDMA_MAX_RECV_DEPTH;
	return d;
}

static uint32_t eff_max_msg(const struct srdma_qp_opts *o)
{
	uint32_t m = o->max_msg ? o->max_msg : DEFAULT_MAX_MSG;

	return m > SRDMA_MSG_MAX ? SRDMA_MSG_MAX : m;
}

/* One whole message of payload bytes, sealed or not. */
static size_t slot_bytes(uint32_t payload)
{
	return SRDMA_MSG_HDR_LEN + (size_t)payload + SRDMA_AEAD_TAG_LEN;
}

void srdma__msgq_caps(const struct srdma_qp_opts *o, struct ibv_qp_cap *cap, int *cqe)
{
	unsigned depth = eff_depth(o);

	memset(cap, 0, sizeof(*cap));
	cap->max_send_wr = depth;
	cap->max_recv_wr = depth;
	cap->max_send_sge = 1;
	cap->max_recv_sge = 1;
	/* One CQ for both queues: every send is signaled. */
	*cqe = (int)(2 * depth);
}

void srdma__msgq_local(const struct srdma_cm_qp *q, uint32_t *max_msg, uint16_t *depth)
{
	*max_msg = q->mq && q->mq->recv_mr ? q->mq->max_msg : eff_max_msg(&q->opts);
	*depth = (uint16_t)(q->mq ? q->mq->depth : eff_depth(&q->opts));
}

static void *alloc_slots(size_t n, size_t slot)
{
	void *p = NULL;
	long page = sysconf(_SC_PAGESIZE);

	if (posix_memalign(&p, page > 0 ? (size_t)page : 4096, n * slot))
		return NULL;
	memset(p, 0, n * slot);
	return p;
}

static int post_recv(struct srdma_cm_qp *q, unsigned slot)
{
	struct srdma_msgq *mq = q->mq;
	struct ibv_sge sge = {
	    .addr = (uintptr_t)(mq->recv_buf + (size_t)slot * mq->recv_slot),
	    .length = (uint32_t)mq->recv_slot,
	    .lkey = mq->recv_mr->lkey,
	};
	struct ibv_recv_wr wr = {
	    .wr_id = SRDMA_WR_ID(SRDMA_WR_RECV, slot),
	    .sg_list = &sge,
	    .num_sge = 1,
	};
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(q->qp, &wr, &bad);
}

/* The receive slots, for messages of up to max_msg bytes, registered and posted. */
static int recv_ring(struct srdma_conn *c, struct srdma_cm_qp *q, uint32_t max_msg, char *err,
		     size_t errlen)
{
	struct srdma_msgq *mq = q->mq;
	int ret;

	mq->max_msg = max_msg;
	mq->recv_slot = slot_bytes(mq->max_msg);
	mq->recv_buf = alloc_slots(mq->depth, mq->recv_slot);
	if (!mq->recv_buf) {
		snprintf(err, errlen, "out of memory for %u receive buffers of %zu bytes",
			 mq->depth, mq->recv_slot);
		return -ENOMEM;
	}
	mq->recv_mr =
	    ibv_reg_mr(c->pd, mq->recv_buf, mq->depth * mq->recv_slot, IBV_ACCESS_LOCAL_WRITE);
	if (!mq->recv_mr) {
		ret = errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot register %zu bytes of receive buffers: %s",
			 mq->depth * mq->recv_slot, strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < mq->depth; i++) {
		ret = post_recv(q, i);
		if (ret) {
			snprintf(err, errlen, "cannot post receive %u of %u: %s", i + 1, mq->depth,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int srdma__msgq_create(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen)
{
	struct srdma_msgq *mq;

	/* Partly built state stays in q->mq for srdma__msgq_destroy, which runs after the QP is
	 * gone (receives already posted must not outlive their buffers). */
	mq = calloc(1, sizeof(*mq));
	if (!mq) {
		snprintf(err, errlen, "out of memory for a messages QP");
		return -ENOMEM;
	}
	q->mq = mq;
	srdma_dp_init(&mq->dp, c->dp_mode);
	mq->depth = eff_depth(&q->opts);
	if (!q->qp || !q->cq || !q->channel) {
		snprintf(err, errlen, "a messages QP needs the library's own CQ and channel");
		return -EINVAL;
	}
	mq->held = calloc(mq->depth, sizeof(*mq->held));
	if (!mq->held) {
		snprintf(err, errlen, "out of memory for a messages QP");
		return -ENOMEM;
	}
	/* The listener waits for the connector's QP frame (srdma__msgq_prepare). */
	if (c->is_server)
		return 0;
	return recv_ring(c, q, eff_max_msg(&q->opts), err, errlen);
}

int srdma__msgq_prepare(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen)
{
	uint32_t max_msg = eff_max_msg(&q->opts);

	if (!q->mq || !q->have_remote) {
		snprintf(err, errlen, "messages QP connected before it was set up");
		return -EINVAL;
	}
	if (q->mq->recv_mr)
		return 0;
	if (q->remote.max_send && q->remote.max_send < max_msg)
		max_msg = q->remote.max_send;
	return recv_ring(c, q, max_msg, err, errlen);
}

/* The send slot for a message of len payload bytes: one page, or the next power of two that
 * holds it, never more than a message of the peer's max_msg needs. */
static size_t send_slot_for(const struct srdma_msgq *mq, size_t len)
{
	size_t want = slot_bytes((uint32_t)len), slot = SEND_SLOT_START,
	       most = slot_bytes(mq->peer_max_msg);

	while (slot < want && slot < most)
		slot *= 2;
	return slot < most ? slot : most;
}

/* (Re)make the send ring with slots of slot bytes; only when no send is in flight (the HCA may
 * still read the old ring until its send completed). The old ring stays if this fails. */
static int send_ring(struct srdma_conn *c, struct srdma_msgq *mq, size_t slot, char *err,
		     size_t errlen)
{
	uint8_t *buf = alloc_slots(mq->depth, slot);
	struct ibv_mr *mr;
	int ret;

	if (!buf) {
		snprintf(err, errlen, "out of memory for %u send buffers of %zu bytes", mq->depth,
			 slot);
		return -ENOMEM;
	}
	/* Only our HCA reads send slots: no access flag at all. */
	mr = ibv_reg_mr(c->pd, buf, mq->depth * slot, 0);
	if (!mr) {
		ret = errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot register %zu bytes of send buffers: %s",
			 mq->depth * slot, strerror(-ret));
		free(buf);
		return ret;
	}
	if (mq->send_mr)
		(void)ibv_dereg_mr(mq->send_mr);
	free(mq->send_buf);
	mq->send_buf = buf;
	mq->send_mr = mr;
	mq->send_slot = slot;
	return 0;
}

int srdma__msgq_start(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen)
{
	struct srdma_msgq *mq = q->mq;
	uint32_t client_qpn, server_qpn, client_psn, server_psn;
	int ret;

	if (!mq || !mq->recv_mr || !q->have_remote) {
		snprintf(err, errlen, "messages QP started before it was set up");
		return -EINVAL;
	}
	if (q->remote.driver != SRDMA_QP_MESSAGES || q->remote.depth < 2 ||
	    q->remote.depth > SRDMA_MAX_RECV_DEPTH || q->remote.max_msg < 1 ||
	    q->remote.max_msg > SRDMA_MSG_MAX) {
		snprintf(err, errlen, "the peer's messages QP has an invalid depth or max_msg");
		return -EPROTO;
	}
	mq->peer_max_msg = q->remote.max_msg;
	if (q->opts.max_send && q->opts.max_send < mq->peer_max_msg)
		mq->peer_max_msg = q->opts.max_send;
	ret = send_ring(c, mq, send_slot_for(mq, 0), err, errlen);
	if (ret)
		return ret;
	/* "Client" is the side that connected, whichever side computes. */
	if (c->is_server) {
		client_qpn = q->remote.qpn;
		server_qpn = q->qp->qp_num;
		client_psn = q->remote_psn;
		server_psn = q->local_psn;
	} else {
		client_qpn = q->qp->qp_num;
		server_qpn = q->remote.qpn;
		client_psn = q->local_psn;
		server_psn = q->remote_psn;
	}
	ret = srdma_dp_derive(&mq->dp, c->tls, !c->is_server, client_qpn, server_qpn, client_psn,
			      server_psn);
	if (ret) {
		snprintf(err, errlen, "%s", mq->dp.errmsg);
		return ret;
	}
	if (c->dp_mode != SRDMA_DP_PLAIN)
		srdma_dp_set_rekey(&mq->dp, c->ctx->rekey_log2, q->remote.rekey_log2);
	srdma__credits_init(&mq->cr, mq->depth, q->remote.depth);
	mq->started = 1;
	return 0;
}

unsigned srdma__msgq_key_updates(const struct srdma_cm_qp *q)
{
	return q->mq ? q->mq->dp.rekeys : 0;
}

void srdma__msgq_destroy(struct srdma_cm_qp *q)
{
	struct srdma_msgq *mq = q->mq;

	if (!mq)
		return;
	/* Keep going past a failure: nothing else can be done with these MRs. */
	if (mq->send_mr)
		(void)ibv_dereg_mr(mq->send_mr);
	if (mq->recv_mr)
		(void)ibv_dereg_mr(mq->recv_mr);
	free(mq->send_buf);
	free(mq->recv_buf);
	free(mq->held);
	srdma_dp_cleanup(&mq->dp);
	explicit_bzero(mq, sizeof(*mq));
	free(mq);
	q->mq = NULL;
}

/* ---- Completions --------------------------------------------------------------------------- */

/* Take the channel's events (cm_conn.c made its fd non-blocking; there is at most one event
 * per arm); acknowledge in batches (cm_conn.c acknowledges the rest before destroying the CQ). */
static int take_events(struct srdma_conn *c, struct srdma_cm_qp *q)
{
	struct ibv_cq *cq;
	void *ctx;

	while (q->armed) {
		if (ibv_get_cq_event(q->channel, &cq, &ctx)) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return srdma__conn_fail(c, -EIO, "cannot read the completion channel: %s",
						strerror(errno));
		}
		q->cq_events++;
		q->armed = 0;
	}
	if (q->cq_events >= EVENT_ACK_BATCH) {
		ibv_ack_cq_events(q->cq, q->cq_events);
		q->cq_events = 0;
	}
	return 0;
}

static int on_send_wc(struct srdma_conn *c, struct srdma_cm_qp *q, const struct ibv_wc *wc)
{
	struct srdma_msgq *mq = q->mq;

	if (mq->send_tail == mq->send_head ||
	    SRDMA_WR_SLOT(wc->wr_id) != (unsigned)(mq->send_tail % mq->depth))
		return srdma__conn_fail(c, -EIO, "QP %u: send completions out of order",
					(unsigned)(q - c->qp));
	mq->send_tail++;
	return 0;
}

static int on_recv_wc(struct srdma_conn *c, struct srdma_cm_qp *q, const struct ibv_wc *wc)
{
	struct srdma_msgq *mq = q->mq;
	unsigned slot = SRDMA_WR_SLOT(wc->wr_id), qpi = (unsigned)(q - c->qp);
	uint8_t *buf;
	struct srdma_msg m;
	int app, ret;

	if (slot >= mq->depth || wc->byte_len > mq->recv_slot)
		return srdma__conn_fail(c, -EIO, "QP %u: impossible receive completion", qpi);
	buf = mq->recv_buf + (size_t)slot * mq->recv_slot;
	ret = srdma_dp_get(&mq->dp, buf, wc->byte_len, mq->max_msg, &m);
	if (ret)
		return srdma__conn_fail_peer(c, SRDMA_ERR_RDMA, -EBADMSG,
					     "QP %u: message from the peer refused: %s", qpi,
					     mq->dp.errmsg);
	/* The codec decodes APP and CREDIT only: every other type was refused above. */
	app = m.type == SRDMA_MSG_APP;
	ret = srdma__credits_received(&mq->cr, app, m.ack);
	if (ret == -EOVERFLOW)
		return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO,
					     "QP %u: the peer sent message %u without a credit",
					     qpi, m.seq);
	if (ret)
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "QP %u: the peer returned %u credits, more than we used", qpi, m.ack);
	if (!app) {
		ret = post_recv(q, slot);
		if (ret)
			return srdma__conn_fail(c, -EIO, "QP %u: cannot repost a receive: %s", qpi,
						strerror(-ret));
		srdma__credits_reposted(&mq->cr, 0);
		return 0;
	}
	/* held_len < depth: one entry per receive, and only depth receives are posted. */
	mq->held[(mq->held_head + mq->held_len++) % mq->depth] = (struct held_msg){
	    .slot = slot,
	    .seq = m.seq,
	    .off = (uint32_t)(m.payload - buf),
	    .len = m.len,
	};
	return 0;
}

static const char *wr_kind_name(unsigned kind)
{
	return kind == SRDMA_WR_RECV ? "receive" : kind == SRDMA_WR_WRITE ? "write" : "send";
}

/* Reap every completion there is. */
static int reap(struct srdma_conn *c, struct srdma_cm_qp *q)
{
	struct ibv_wc wc[POLL_BATCH];
	int n, ret, heard;

	for (;;) {
		n = ibv_poll_cq(q->cq, POLL_BATCH, wc);
		if (n < 0)
			return srdma__conn_fail(c, -EIO, "QP %u: cannot poll the completion queue",
						(unsigned)(q - c->qp));
		heard = 0;
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS)
				return srdma__conn_fail(c, -EIO, "QP %u: RDMA %s failed: %s",
							(unsigned)(q - c->qp),
							wr_kind_name(SRDMA_WR_KIND(wc[i].wr_id)),
							ibv_wc_status_str(wc[i].status));
			if (SRDMA_WR_KIND(wc[i].wr_id) == SRDMA_WR_RECV) {
				ret = on_recv_wc(c, q, &wc[i]);
				heard = 1;
			} else {
				ret = on_send_wc(c, q, &wc[i]);
			}
			if (ret)
				return ret;
		}
		/* A message the peer sent (and that opened) proves it alive as a frame on the
		 * control channel does: a peer busy on the data plane, which may not read its
		 * control channel meanwhile, is not silent (cm_conn.c, heartbeat_tick). */
		if (heard)
			srdma__conn_heard(c);
		if (n < POLL_BATCH)
			return 0;
	}
}

/* Arm the CQ (if not yet) and reap once more: a completion that landed before the arm raises
 * no event, so it must be seen now. After this, -EAGAIN is safe to return. */
static int arm(struct srdma_conn *c, struct srdma_cm_qp *q)
{
	int ret;

	if (q->armed)
		return 0;
	ret = ibv_req_notify_cq(q->cq, 0);
	if (ret)
		return srdma__conn_fail(c, -EIO, "QP %u: cannot arm the completion queue: %s",
					(unsigned)(q - c->qp), strerror(ret));
	q->armed = 1;
	return reap(c, q);
}

/* ---- Sending ------------------------------------------------------------------------------- */

static int slot_free(const struct srdma_msgq *mq)
{
	return mq->send_head - mq->send_tail < mq->depth;
}

/* Seal and post one message (credits and a slot checked by the caller). */
static int post_msg(struct srdma_conn *c, struct srdma_cm_qp *q, enum srdma_msg_type type,
		    const void *buf, size_t len)
{
	struct srdma_msgq *mq = q->mq;
	unsigned slot = (unsigned)(mq->send_head % mq->depth), qpi = (unsigned)(q - c->qp);
	uint8_t *p = mq->send_buf + (size_t)slot * mq->send_slot;
	struct srdma_msg m = {
	    .type = type,
	    .ack = mq->cr.unreturned,
	    .payload = buf,
	    .len = (uint32_t)len,
	};
	struct ibv_sge sge;
	struct ibv_send_wr wr = {0}, *bad;
	ssize_t n;
	int ret;

	n = srdma_dp_put(&mq->dp, &m, p, mq->send_slot);
	if (n < 0)
		return srdma__conn_fail(c, n == -EOVERFLOW ? -EPIPE : -EIO,
					"QP %u: cannot send a message: %s", qpi, mq->dp.errmsg);
	sge.addr = (uintptr_t)p;
	sge.length = (uint32_t)n;
	sge.lkey = mq->send_mr->lkey;
	wr.wr_id = SRDMA_WR_ID(SRDMA_WR_SEND, slot);
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	ret = ibv_post_send(q->qp, &wr, &bad);
	if (ret)
		/* The sequence number is spent: the peer would see a gap, so the QP is done. */
		return srdma__conn_fail(c, -EIO, "QP %u: cannot post a send: %s", qpi,
					strerror(ret));
	mq->send_head++;
	(void)srdma__credits_sent(&mq->cr);
	return 0;
}

/* Send a CREDIT if the rules want one now (idle: the application is about to wait for a
 * message). Only srdma_msg_recv sends CREDITs, so the sequence number srdma_msg_next_seq gives
 * holds until the next srdma_msg_send or srdma_msg_recv. */
static int maybe_credit(struct srdma_conn *c, struct srdma_cm_qp *q, int idle)
{
	struct srdma_msgq *mq = q->mq;

	if (!slot_free(mq) || !srdma__credits_want_credit(&mq->cr, idle))
		return 0;
	return post_msg(c, q, SRDMA_MSG_CREDIT, NULL, 0);
}

/* ---- Public calls ------------------------------------------------------------------------- */

static int get_q(struct srdma_conn *c, unsigned qp, struct srdma_cm_qp **out)
{
	struct srdma_cm_qp *q;

	if (!c)
		return -EINVAL;
	if (c->error)
		return c->error;
	if (qp >= c->nqp)
		return -EINVAL;
	q = &c->qp[qp];
	if (q->opts.driver != SRDMA_QP_MESSAGES || !q->mq)
		return -EINVAL;
	if (c->state != SRDMA_CM_ESTABLISHED || !q->mq->started)
		return -ENOTCONN;
	*out = q;
	return 0;
}

/* Whether an APP message may be posted now: a slot and a credit free and, for one larger than
 * the send slots (grow), no send in flight, since the ring is then made again with larger
 * slots. */
static int app_can_go(const struct srdma_msgq *mq, int grow)
{
	return slot_free(mq) && srdma__credits_can_send(&mq->cr, 1) &&
	       !(grow && mq->send_tail != mq->send_head);
}

int srdma_msg_limits(const struct srdma_conn *c, unsigned qp, uint32_t *recv_max,
		     uint32_t *send_max)
{
	const struct srdma_cm_qp *q;

	if (!c || qp >= c->nqp)
		return -EINVAL;
	q = &c->qp[qp];
	if (q->opts.driver != SRDMA_QP_MESSAGES || !q->mq || !q->mq->started)
		return -EINVAL;
	if (recv_max)
		*recv_max = q->mq->max_msg;
	if (send_max)
		*send_max = q->mq->peer_max_msg;
	return 0;
}

int srdma_msg_send(struct srdma_conn *c, unsigned qp, const void *buf, size_t len)
{
	struct srdma_cm_qp *q;
	struct srdma_msgq *mq;
	int ret, grow;

	ret = get_q(c, qp, &q);
	if (ret)
		return ret;
	mq = q->mq;
	if (len && !buf)
		return -EINVAL;
	if (len > mq->peer_max_msg)
		return -EMSGSIZE;
	ret = take_events(c, q);
	if (!ret)
		ret = reap(c, q);
	if (ret)
		return ret;
	grow = slot_bytes((uint32_t)len) > mq->send_slot;
	if (!app_can_go(mq, grow)) {
		/* No CREDIT here: an APP that cannot go has no credit to spend or nothing to
		 * return (credits.h), and srdma_msg_next_seq must stay true across the retries. */
		ret = arm(c, q);
		if (ret)
			return ret;
		if (!app_can_go(mq, grow))
			return -EAGAIN;
	}
	if (grow) {
		char err[160];

		ret = send_ring(c, mq, send_slot_for(mq, len), err, sizeof(err));
		if (ret)
			return ret;
	}
	return post_msg(c, q, SRDMA_MSG_APP, buf, len);
}

/* Copy the oldest held message out and drop it from the queue (its slot is in *h). */
static int take_held(struct srdma_msgq *mq, void *buf, size_t cap, size_t *len, uint32_t *seq,
		     struct held_msg *h)
{
	*h = mq->held[mq->held_head];
	if (h->len > cap)
		return -EMSGSIZE;
	if (h->len)
		memcpy(buf, mq->recv_buf + (size_t)h->slot * mq->recv_slot + h->off, h->len);
	*len = h->len;
	if (seq)
		*seq = h->seq;
	mq->held_head = (mq->held_head + 1) % mq->depth;
	mq->held_len--;
	return 0;
}

/* The peer closed in order: what it sent before its CLOSE is still delivered (its close waits
 * for our acknowledgements, so those messages are in our CQ by now); then -ECONNRESET. No
 * receive is reposted and no credit returned: nothing more will come. */
static int recv_after_close(struct srdma_conn *c, unsigned qp, void *buf, size_t cap, size_t *len,
			    uint32_t *seq)
{
	struct srdma_cm_qp *q;
	struct held_msg h;

	if (qp >= c->nqp || !len || (cap && !buf))
		return -EINVAL;
	q = &c->qp[qp];
	if (q->opts.driver != SRDMA_QP_MESSAGES || !q->mq || !q->mq->started)
		return -EINVAL;
	if (!q->mq->held_len)
		(void)reap(c, q);
	if (!q->mq->held_len)
		return -ECONNRESET;
	return take_held(q->mq, buf, cap, len, seq, &h);
}

int srdma_msg_recv(struct srdma_conn *c, unsigned qp, void *buf, size_t cap, size_t *len,
		   uint32_t *seq)
{
	struct srdma_cm_qp *q;
	struct srdma_msgq *mq;
	struct held_msg h;
	int ret;

	ret = get_q(c, qp, &q);
	if (ret == -ECONNRESET && c->peer_closed)
		return recv_after_close(c, qp, buf, cap, len, seq);
	if (ret)
		return ret;
	mq = q->mq;
	if (!len || (cap && !buf))
		return -EINVAL;
	ret = take_events(c, q);
	if (!ret)
		ret = reap(c, q);
	if (ret)
		return ret;
	if (!mq->held_len) {
		ret = maybe_credit(c, q, 1);
		if (!ret)
			ret = arm(c, q);
		if (ret)
			return ret;
		if (!mq->held_len)
			return -EAGAIN;
	}
	ret = take_held(mq, buf, cap, len, seq, &h);
	if (ret)
		return ret;
	ret = post_recv(q, h.slot);
	if (ret)
		return srdma__conn_fail(c, -EIO, "QP %u: cannot repost a receive: %s", qp,
					strerror(-ret));
	srdma__credits_reposted(&mq->cr, 1);
	/* The message is the caller's now; a failure to return credits shows on the next call. */
	(void)maybe_credit(c, q, 0);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until QP qp's channel or the control channel is readable, or the deadline (0: none). */
static int wait_fds(struct srdma_conn *c, struct srdma_cm_qp *q, uint64_t deadline)
{
	struct pollfd p[2] = {
	    {.fd = q->channel->fd, .events = POLLIN},
	    {.fd = srdma_tls_fd(c->tls), .events = POLLIN},
	};
	int timeout = -1, hb, n, ret;

	if (deadline) {
		uint64_t now = now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		timeout = deadline - now > 0x7fffffff ? 0x7fffffff : (int)(deadline - now);
	}
	/* Wake for the heartbeat too: it runs in srdma__conn_pump. */
	hb = srdma_conn_timeout_ms(c);
	if (hb >= 0 && (timeout < 0 || hb < timeout))
		timeout = hb;
	p[1].events = srdma_conn_poll_events(c);
	n = poll(p, 2, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0 && deadline && now_ms() >= deadline)
		return -ETIMEDOUT;
	if (n == 0 || p[1].revents) {
		ret = srdma__conn_pump(c);
		if (ret)
			return ret;
	}
	return 0;
}

/* The connection ended while we waited: its error, or -ECONNRESET if the peer closed. */
static int ended(struct srdma_conn *c)
{
	if (c->error)
		return c->error;
	if (c->peer_closed) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the peer closed the connection");
		return -ECONNRESET;
	}
	return 0;
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
}

int srdma_msg_send_wait(struct srdma_conn *c, unsigned qp, const void *buf, size_t len,
			int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int ret;

	for (;;) {
		ret = srdma_msg_send(c, qp, buf, len);
		if (ret != -EAGAIN)
			return ret;
		ret = ended(c);
		if (!ret)
			ret = wait_fds(c, &c->qp[qp], deadline);
		if (ret)
			return ret;
	}
}

int srdma_msg_recv_wait(struct srdma_conn *c, unsigned qp, void *buf, size_t cap, size_t *len,
			uint32_t *seq, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int ret;

	for (;;) {
		ret = srdma_msg_recv(c, qp, buf, cap, len, seq);
		if (ret != -EAGAIN)
			return ret;
		ret = ended(c);
		if (!ret)
			ret = wait_fds(c, &c->qp[qp], deadline);
		/* A CLOSE read while we waited: what the peer sent before it is in our CQ. */
		if (ret == -ECONNRESET && c->peer_closed)
			return srdma_msg_recv(c, qp, buf, cap, len, seq);
		if (ret)
			return ret;
	}
}

static const struct srdma_region *remote_region(const struct srdma_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < SRDMA_CM_MAX_REGIONS; i++)
		if (c->remote[i].used && c->remote[i].r.id == id)
			return &c->remote[i].r;
	return NULL;
}

int srdma_msg_write(struct srdma_conn *c, unsigned qp, const void *local, uint32_t lkey, size_t len,
		    uint32_t region_id, uint64_t offset)
{
	const struct srdma_region *r;
	struct srdma_cm_qp *q;
	struct srdma_msgq *mq;
	struct ibv_sge sge;
	struct ibv_send_wr wr = {0}, *bad;
	unsigned slot;
	int ret;

	ret = get_q(c, qp, &q);
	if (ret)
		return ret;
	mq = q->mq;
	if (!local || len == 0 || len > (1u << 31))
		return -EINVAL;
	r = remote_region(c, region_id);
	if (!r)
		return -ENOENT;
	if (!(r->access & SRDMA_ACCESS_REMOTE_WRITE))
		return -EACCES;
	if (offset > r->len || len > r->len - offset)
		return -ERANGE;
	ret = take_events(c, q);
	if (!ret)
		ret = reap(c, q);
	if (ret)
		return ret;
	if (!slot_free(mq)) {
		ret = arm(c, q);
		if (ret)
			return ret;
		if (!slot_free(mq))
			return -EAGAIN;
	}
	slot = (unsigned)(mq->send_head % mq->depth);
	sge.addr = (uintptr_t)local;
	sge.length = (uint32_t)len;
	sge.lkey = lkey;
	wr.wr_id = SRDMA_WR_ID(SRDMA_WR_WRITE, slot);
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = r->addr + offset;
	wr.wr.rdma.rkey = r->rkey;
	ret = ibv_post_send(q->qp, &wr, &bad);
	if (ret)
		return srdma__conn_fail(c, -EIO, "QP %u: cannot post an RDMA write: %s", qp,
					strerror(ret));
	mq->send_head++;
	return 0;
}

/* Until every send posted before now completed, or the deadline (ns, 0: none). */
static int flush_until(struct srdma_conn *c, struct srdma_cm_qp *q, uint64_t deadline_ns)
{
	struct srdma_msgq *mq = q->mq;
	uint64_t target = mq->send_head;
	int ret;

	for (;;) {
		ret = take_events(c, q);
		if (!ret)
			ret = reap(c, q);
		if (ret)
			return ret;
		if (mq->send_tail >= target)
			return 0;
		ret = arm(c, q);
		if (ret)
			return ret;
		if (mq->send_tail >= target)
			return 0;
		ret = ended(c);
		if (!ret)
			ret = wait_fds(c, q, deadline_ns ? deadline_ns / 1000000 + 1 : 0);
		if (ret)
			return ret;
	}
}

int srdma_msg_flush(struct srdma_conn *c, unsigned qp, int timeout_ms)
{
	struct srdma_cm_qp *q;
	int ret;

	ret = get_q(c, qp, &q);
	if (ret)
		return ret;
	return flush_until(
	    c, q, timeout_ms < 0 ? 0 : srdma__cm_now_ns() + (uint64_t)timeout_ms * 1000000ull);
}

void srdma__msgq_drain(struct srdma_conn *c, struct srdma_cm_qp *q, uint64_t deadline_ns)
{
	if (q->mq && q->mq->started && q->channel)
		(void)flush_until(c, q, deadline_ns);
}

uint32_t srdma_msg_next_seq(const struct srdma_conn *c, unsigned qp)
{
	if (!c || qp >= c->nqp || !c->qp[qp].mq)
		return 0;
	return c->qp[qp].mq->dp.tx_seq;
}

int srdma_tag(struct srdma_conn *c, unsigned qp, int sender, uint32_t seq, uint64_t offset,
	      const void *bytes, size_t len, uint8_t tag[SRDMA_TAG_LEN])
{
	struct srdma_cm_qp *q;
	int from_client, ret;

	ret = get_q(c, qp, &q);
	if (ret)
		return ret;
	if (!tag || (len && !bytes))
		return -EINVAL;
	/* The carrying message goes from the connecting side iff its sender is that side. */
	from_client = sender ? !c->is_server : c->is_server;
	return srdma_dp_region_tag(&q->mq->dp, from_client, seq, offset, bytes, len, tag);
}

/* The messages QP whose keys seal a region, the arguments checked. */
static int seal_q(struct srdma_conn *c, unsigned qp, const void *buf, size_t len, const void *tag,
		  struct srdma_cm_qp **q)
{
	int ret = get_q(c, qp, q);

	if (ret)
		return ret;
	return !tag || (len && !buf) ? -EINVAL : 0;
}

int srdma_tag_seal(struct srdma_conn *c, unsigned qp, uint32_t seq, uint64_t offset, void *buf,
		   size_t len, uint8_t tag[SRDMA_TAG_LEN])
{
	struct srdma_cm_qp *q;
	int ret = seal_q(c, qp, buf, len, tag, &q);

	return ret ? ret : srdma_dp_tag_seal(&q->mq->dp, seq, offset, buf, len, tag);
}

int srdma_tag_open(struct srdma_conn *c, unsigned qp, uint32_t seq, uint64_t offset, void *buf,
		   size_t len, const uint8_t tag[SRDMA_TAG_LEN])
{
	struct srdma_cm_qp *q;
	int ret = seal_q(c, qp, buf, len, tag, &q);

	return ret ? ret : srdma_dp_tag_open(&q->mq->dp, seq, offset, buf, len, tag);
}

int srdma_tag_equal(const uint8_t a[SRDMA_TAG_LEN], const uint8_t b[SRDMA_TAG_LEN])
{
	if (!a || !b)
		return 0;
	return srdma_crypto_memcmp(a, b, SRDMA_TAG_LEN) == 0;
}
