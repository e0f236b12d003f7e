/* Device, CQ and endpoint lifetimes and the hand-made RC connection (INIT -> RTR -> RTS). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <srdma/msg.h>
#include <srdma/verbs.h>

#define CQ_ACK_BATCH 64

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_ipv4_mapped(const union ibv_gid *gid)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(gid->raw, prefix, sizeof(prefix)) == 0;
}

static const char *gid_type_name(unsigned type)
{
	switch (type) {
	case IBV_GID_TYPE_IB:
		return "IB";
	case IBV_GID_TYPE_ROCE_V1:
		return "RoCE v1";
	case IBV_GID_TYPE_ROCE_V2:
		return "RoCE v2";
	default:
		return "unknown type";
	}
}

/* Pick the GID: the requested index, or on RoCE the first RoCE v2 IPv4-mapped entry. */
static int choose_gid(struct srdma_dev *dev, int want, char *err, size_t errlen)
{
	struct ibv_gid_entry entry;
	int i;

	if (!dev->is_roce && want < 0) {
		dev->gid_index = -1;
		snprintf(dev->gid_desc, sizeof(dev->gid_desc), "InfiniBand, LID routed");
		return 0;
	}
	for (i = want < 0 ? 0 : want; i < dev->port_attr.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(dev->ctx, dev->port, (uint32_t)i, &entry, 0))
			goto next;
		if (want < 0 && (entry.gid_type != IBV_GID_TYPE_ROCE_V2 ||
				 !is_ipv4_mapped((const union ibv_gid *)&entry.gid)))
			goto next;
		memcpy(&dev->gid, &entry.gid, sizeof(dev->gid));
		dev->gid_index = i;
		snprintf(dev->gid_desc, sizeof(dev->gid_desc), "%s%s",
			 gid_type_name(entry.gid_type),
			 is_ipv4_mapped(&dev->gid) ? ", IPv4-mapped" : "");
		return 0;
	next:
		if (want >= 0)
			break;
	}
	if (want >= 0)
		set_err(err, errlen, "%s port %u has no usable GID at index %d", dev->name,
			dev->port, want);
	else
		set_err(
		    err, errlen,
		    "%s port %u has no RoCE v2 IPv4-mapped GID: give the netdev an IPv4 address, "
		    "or choose an index with -x",
		    dev->name, dev->port);
	return -ENOENT;
}

int srdma_dev_open(const char *name, uint8_t port, int gid_index, struct srdma_dev **out, char *err,
		   size_t errlen)
{
	struct ibv_device **list;
	struct ibv_device *found = NULL;
	struct srdma_dev *dev;
	int num = 0, i, ret;

	list = ibv_get_device_list(&num);
	if (!list || num == 0) {
		set_err(
		    err, errlen,
		    "no RDMA device found (is an RDMA driver loaded? without RDMA hardware, see "
		    "the README section \"Soft-RoCE\")");
		if (list)
			ibv_free_device_list(list);
		return -ENODEV;
	}
	for (i = 0; i < num; i++) {
		if (!name || !name[0] || strcmp(ibv_get_device_name(list[i]), name) == 0) {
			found = list[i];
			break;
		}
	}
	if (!found) {
		set_err(err, errlen, "RDMA device \"%s\" not found (see ibv_devices)", name);
		ibv_free_device_list(list);
		return -ENODEV;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ibv_free_device_list(list);
		return -ENOMEM;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", ibv_get_device_name(found));
	dev->port = port;
	dev->ctx = ibv_open_device(found);
	ibv_free_device_list(list);
	if (!dev->ctx) {
		ret = errno ? -errno : -ENODEV;
		set_err(err, errlen, "cannot open RDMA device %s: %s", dev->name, strerror(-ret));
		goto err_free;
	}
	ret = -ibv_query_device(dev->ctx, &dev->attr);
	if (ret) {
		set_err(err, errlen, "cannot query %s: %s", dev->name, strerror(-ret));
		goto err_close;
	}
	ret = -ibv_query_port(dev->ctx, port, &dev->port_attr);
	if (ret) {
		set_err(err, errlen, "cannot query %s port %u: %s", dev->name, port,
			strerror(-ret));
		goto err_close;
	}
	if (dev->port_attr.state != IBV_PORT_ACTIVE) {
		set_err(err, errlen, "%s port %u is not active (state %s)", dev->name, port,
			ibv_port_state_str(dev->port_attr.state));
		ret = -ENETDOWN;
		goto err_close;
	}
	dev->is_roce = dev->port_attr.link_layer == IBV_LINK_LAYER_ETHERNET;
	ret = choose_gid(dev, gid_index, err, errlen);
	if (ret)
		goto err_close;
	*out = dev;
	return 0;

err_close:
	ibv_close_device(dev->ctx);
err_free:
	free(dev);
	return ret;
}

void srdma_dev_close(struct srdma_dev *dev)
{
	if (!dev)
		return;
	if (dev->ctx)
		ibv_close_device(dev->ctx);
	free(dev);
}

static void count(struct srdma_registry *reg, enum srdma_res_kind kind, int delta)
{
	if (reg)
		srdma_registry_count(reg, kind, delta);
}

int srdma_cq_create(struct srdma_dev *dev, int cqe, struct srdma_registry *reg,
		    struct srdma_cq **out)
{
	struct srdma_cq *cq;
	int flags, ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return -ENOMEM;
	cq->reg = reg;
	cq->channel = ibv_create_comp_channel(dev->ctx);
	if (!cq->channel) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	flags = fcntl(cq->channel->fd, F_GETFL);
	if (flags < 0 || fcntl(cq->channel->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err;
	}
	if (cqe > dev->attr.max_cqe)
		cqe = dev->attr.max_cqe;
	cq->cq = ibv_create_cq(dev->ctx, cqe, NULL, cq->channel, 0);
	if (!cq->cq) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	count(reg, SRDMA_RES_CQ, 1);
	cq->cqe = cq->cq->cqe;
	ret = srdma_cq_arm(cq);
	if (ret)
		goto err;
	*out = cq;
	return 0;

err:
	srdma_cq_destroy(cq);
	return ret;
}

int srdma_cq_destroy(struct srdma_cq *cq)
{
	int first = 0, ret;

	if (!cq)
		return 0;
	if (cq->cq) {
		if (cq->unacked)
			ibv_ack_cq_events(cq->cq, cq->unacked);
		ret = -ibv_destroy_cq(cq->cq);
		if (ret && !first)
			first = ret;
		if (!ret)
			count(cq->reg, SRDMA_RES_CQ, -1);
	}
	if (cq->channel) {
		ret = -ibv_destroy_comp_channel(cq->channel);
		if (ret && !first)
			first = ret;
	}
	free(cq);
	return first;
}

int srdma_cq_arm(struct srdma_cq *cq)
{
	return -ibv_req_notify_cq(cq->cq, 0);
}

int srdma_cq_take_event(struct srdma_cq *cq)
{
	struct ibv_cq *ev_cq;
	void *ev_ctx;

	if (ibv_get_cq_event(cq->channel, &ev_cq, &ev_ctx))
		return 0;
	if (++cq->unacked >= CQ_ACK_BATCH) {
		ibv_ack_cq_events(cq->cq, cq->unacked);
		cq->unacked = 0;
	}
	return 1;
}

int srdma_cq_fd(const struct srdma_cq *cq)
{
	return cq->channel->fd;
}

static int alloc_region(struct srdma_ep *ep, size_t len, int access, uint8_t **buf,
			struct ibv_mr **mr)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	int ret;

	len = (len + page - 1) / page * page;
	ret = posix_memalign(&p, page, len);
	if (ret)
		return -ret;
	memset(p, 0, len);
	*buf = p;
	*mr = ibv_reg_mr(ep->pd, p, len, access);
	if (!*mr)
		return errno ? -errno : -ENOMEM;
	count(ep->reg, SRDMA_RES_MR, 1);
	return 0;
}

static int qp_to_init(struct srdma_ep *ep)
{
	struct ibv_qp_attr attr = {
	    .qp_state = IBV_QPS_INIT,
	    .pkey_index = 0,
	    .port_num = ep->dev->port,
	    /* The only remote access anyone gets: writes into a target region of ours. */
	    .qp_access_flags = ep->write_remote && ep->write_len ? IBV_ACCESS_REMOTE_WRITE : 0,
	};

	return -ibv_modify_qp(ep->qp, &attr,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

int srdma_ep_create(struct srdma_dev *dev, struct srdma_cq *cq, struct srdma_registry *reg,
		    const struct srdma_ep_opts *opts, struct srdma_ep **out, char *err,
		    size_t errlen)
{
	struct ibv_qp_init_attr init = {0};
	struct srdma_ep *ep;
	const char *step;
	unsigned i;
	int ret;

	if (!opts->recv_depth || !opts->send_depth || !opts->max_msg)
		return -EINVAL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->dev = dev;
	ep->cq = cq;
	ep->reg = reg;
	ep->recv_depth = opts->recv_depth;
	ep->send_depth = opts->send_depth;
	ep->write_len = opts->write_len;
	ep->write_remote = opts->write_remote;
	ep->slot_size = SRDMA_MSG_HDR_LEN + opts->max_msg + SRDMA_MSG_TRAILER_MAX;

	step = "allocate a protection domain";
	ep->pd = ibv_alloc_pd(dev->ctx);
	if (!ep->pd) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	count(reg, SRDMA_RES_PD, 1);

	step = "register receive buffers";
	ret = alloc_region(ep, (size_t)ep->slot_size * ep->recv_depth, IBV_ACCESS_LOCAL_WRITE,
			   &ep->recv_buf, &ep->recv_mr);
	if (ret)
		goto err;
	step = "register send buffers";
	ret = alloc_region(ep, (size_t)ep->slot_size * ep->send_depth, 0, &ep->send_buf,
			   &ep->send_mr);
	if (ret)
		goto err;
	if (ep->write_len) {
		step = "register the RDMA-write region";
		ret = alloc_region(
		    ep, ep->write_len,
		    ep->write_remote ? IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE : 0,
		    &ep->write_buf, &ep->write_mr);
		if (ret)
			goto err;
	}

	step = "create the queue pair";
	init.qp_context = opts->qp_context;
	init.send_cq = cq->cq;
	init.recv_cq = cq->cq;
	init.qp_type = IBV_QPT_RC;
	init.sq_sig_all = 0;
	/* Room for the RDMA writes that may be in flight beside the messages. */
	init.cap.max_send_wr = ep->send_depth + (opts->write_depth ? opts->write_depth : 1);
	init.cap.max_recv_wr = ep->recv_depth;
	init.cap.max_send_sge = 1;
	init.cap.max_recv_sge = 1;
	ep->qp = ibv_create_qp(ep->pd, &init);
	if (!ep->qp) {
		ret = errno ? -errno : -ENOMEM;
		goto err;
	}
	count(reg, SRDMA_RES_QP, 1);

	step = "move the queue pair to INIT";
	ret = qp_to_init(ep);
	if (ret)
		goto err;
	step = "post receives";
	for (i = 0; i < ep->recv_depth; i++) {
		ret = srdma_ep_post_recv(ep, i);
		if (ret)
			goto err;
	}
	*out = ep;
	return 0;

err:
	set_err(err, errlen, "cannot %s on %s: %s", step, dev->name, strerror(-ret));
	srdma_ep_destroy(ep);
	return ret;
}

static int dereg(struct srdma_ep *ep, struct ibv_mr **mr, uint8_t **buf)
{
	int ret = 0;

	if (*mr) {
		ret = -ibv_dereg_mr(*mr);
		if (!ret)
			count(ep->reg, SRDMA_RES_MR, -1);
		*mr = NULL;
	}
	free(*buf);
	*buf = NULL;
	return ret;
}

int srdma_ep_destroy(struct srdma_ep *ep)
{
	int first = 0, ret;

	if (!ep)
		return 0;
	if (ep->qp) {
		ret = -ibv_destroy_qp(ep->qp);
		if (ret)
			first = ret;
		else
			count(ep->reg, SRDMA_RES_QP, -1);
	}
	ret = dereg(ep, &ep->write_mr, &ep->write_buf);
	if (ret && !first)
		first = ret;
	ret = dereg(ep, &ep->send_mr, &ep->send_buf);
	if (ret && !first)
		first = ret;
	ret = dereg(ep, &ep->recv_mr, &ep->recv_buf);
	if (ret && !first)
		first = ret;
	if (ep->pd) {
		ret = -ibv_dealloc_pd(ep->pd);
		if (ret && !first)
			first = ret;
		if (!ret)
			count(ep->reg, SRDMA_RES_PD, -1);
	}
	free(ep);
	return first;
}

void srdma_ep_local_params(const struct srdma_ep *ep, struct srdma_params *out)
{
	memset(out, 0, sizeof(*out));
	out->qpn = ep->qp->qp_num;
	out->lid = ep->dev->port_attr.lid;
	out->mtu = (uint8_t)ep->dev->port_attr.active_mtu;
	if (ep->dev->gid_index >= 0)
		memcpy(out->gid, ep->dev->gid.raw, sizeof(out->gid));
	out->recv_depth = (uint16_t)ep->recv_depth;
	out->max_msg = ep->slot_size - SRDMA_MSG_HDR_LEN - SRDMA_MSG_TRAILER_MAX;
	if (ep->write_remote && ep->write_mr) {
		out->write_addr = (uint64_t)(uintptr_t)ep->write_buf;
		out->write_rkey = ep->write_mr->rkey;
		out->write_len = ep->write_len;
	}
}

int srdma_ep_connect(struct srdma_ep *ep, const struct srdma_params *remote, uint32_t local_psn,
		     uint32_t remote_psn, char *err, size_t errlen)
{
	static const uint8_t zero_gid[16];
	struct ibv_qp_attr attr;
	int ret;

	ep->mtu = ep->dev->port_attr.active_mtu;
	if (remote->mtu < ep->mtu)
		ep->mtu = (enum ibv_mtu)remote->mtu;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = ep->mtu;
	attr.dest_qp_num = remote->qpn;
	attr.rq_psn = remote_psn;
	attr.max_dest_rd_atomic = 0; /* we never serve RDMA reads or atomics */
	attr.min_rnr_timer = 12;
	attr.ah_attr.port_num = ep->dev->port;
	attr.ah_attr.dlid = remote->lid;
	if (ep->dev->gid_index >= 0) {
		if (memcmp(remote->gid, zero_gid, sizeof(zero_gid)) == 0) {
			set_err(err, errlen, "peer sent no GID, but %s needs one (RoCE)",
				ep->dev->name);
			return -EINVAL;
		}
		attr.ah_attr.is_global = 1;
		memcpy(attr.ah_attr.grh.dgid.raw, remote->gid, sizeof(remote->gid));
		attr.ah_attr.grh.sgid_index = (uint8_t)ep->dev->gid_index;
		attr.ah_attr.grh.hop_limit = 64;
	}
	ret = -ibv_modify_qp(ep->qp, &attr,
			     IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				 IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (ret) {
		set_err(err, errlen, "cannot move the queue pair to RTR: %s", strerror(-ret));
		return ret;
	}

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.sq_psn = local_psn;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.max_rd_atomic = 0;
	ret = -ibv_modify_qp(ep->qp, &attr,
			     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				 IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret) {
		set_err(err, errlen, "cannot move the queue pair to RTS: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int srdma_ep_set_error(struct srdma_ep *ep)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};

	return -ibv_modify_qp(ep->qp, &attr, IBV_QP_STATE);
}

int srdma_ep_qp_state(struct srdma_ep *ep)
{
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	int ret;

	ret = ibv_query_qp(ep->qp, &attr, IBV_QP_STATE, &init);
	if (ret)
		return -ret;
	return attr.qp_state;
}

int srdma_ep_post_recv(struct srdma_ep *ep, unsigned slot)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)srdma_ep_recv_slot(ep, slot),
	    .length = ep->slot_size,
	    .lkey = ep->recv_mr->lkey,
	};
	struct ibv_recv_wr wr = {
	    .wr_id = SRDMA_WR_ID(SRDMA_WR_RECV, slot),
	    .sg_list = &sge,
	    .num_sge = 1,
	};
	struct ibv_recv_wr *bad;

	return -ibv_post_recv(ep->qp, &wr, &bad);
}

int srdma_ep_post_sends(struct srdma_ep *ep, const unsigned *slots, const uint32_t *lens,
			unsigned n, uint64_t last_wr_id)
{
	struct ibv_sge sge[SRDMA_POST_LIST_MAX];
	struct ibv_send_wr wr[SRDMA_POST_LIST_MAX], *bad;
	unsigned i;

	if (n == 0 || n > SRDMA_POST_LIST_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (lens[i] > ep->slot_size)
			return -EMSGSIZE;
		sge[i] = (struct ibv_sge){
		    .addr = (uintptr_t)srdma_ep_send_slot(ep, slots[i]),
		    .length = lens[i],
		    .lkey = ep->send_mr->lkey,
		};
		wr[i] = (struct ibv_send_wr){
		    .wr_id = SRDMA_WR_ID(SRDMA_WR_SEND, slots[i]),
		    .next = i + 1 < n ? &wr[i + 1] : NULL,
		    .sg_list = &sge[i],
		    .num_sge = 1,
		    .opcode = IBV_WR_SEND,
		};
	}
	/* RC completes a send queue in order: the last one's completion covers them all. */
	wr[n - 1].wr_id = last_wr_id;
	wr[n - 1].send_flags = IBV_SEND_SIGNALED;
	return -ibv_post_send(ep->qp, wr, &bad);
}

int srdma_ep_post_send(struct srdma_ep *ep, unsigned slot, uint32_t len)
{
	return srdma_ep_post_sends(ep, &slot, &len, 1, SRDMA_WR_ID(SRDMA_WR_SEND, slot));
}

int srdma_ep_post_write(struct srdma_ep *ep, uint32_t offset, uint32_t len, uint64_t raddr,
			uint32_t rkey)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)(ep->write_buf + offset),
	    .length = len,
	    .lkey = ep->write_mr ? ep->write_mr->lkey : 0,
	};
	struct ibv_send_wr wr = {
	    .wr_id = SRDMA_WR_ID(SRDMA_WR_WRITE, 0),
	    .sg_list = &sge,
	    .num_sge = 1,
	    .opcode = IBV_WR_RDMA_WRITE,
	    .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	if (!ep->write_mr || (uint64_t)offset + len > ep->write_len)
		return -ERANGE;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return -ibv_post_send(ep->qp, &wr, &bad);
}
