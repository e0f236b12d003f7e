/* Using an established connection: advertising and revoking regions, control messages, and
 * the accessors of <srdma.h>. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm_internal.h"

static int usable(const struct srdma_conn *c)
{
	if (c->error)
		return c->error;
	return c->state == SRDMA_CM_ESTABLISHED ? 0 : -ENOTCONN;
}

static struct srdma_cm_local_region *local_find(struct srdma_conn *c, uint32_t id)
{
	unsigned i;

	for (i = 0; i < SRDMA_CM_MAX_REGIONS; i++)
		if (c->local[i].used && c->local[i].id == id)
			return &c->local[i];
	return NULL;
}

int srdma_advertise(struct srdma_conn *c, uint32_t id, struct ibv_mr *mr, unsigned access)
{
	struct srdma_frame f;
	unsigned i;
	int ret = usable(c);

	if (ret)
		return ret;
	if (!mr || mr->pd != c->pd || !access || (access & ~SRDMA_ACCESS_ALL) || !mr->length)
		return -EINVAL;
	if (local_find(c, id))
		return -EEXIST;
	for (i = 0; i < SRDMA_CM_MAX_REGIONS && c->local[i].used; i++)
		;
	if (i == SRDMA_CM_MAX_REGIONS)
		return -ENOBUFS;
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_REGION;
	f.u.region.id = id;
	f.u.region.access = access;
	f.u.region.addr = (uint64_t)(uintptr_t)mr->addr;
	f.u.region.len = mr->length;
	f.u.region.rkey = mr->rkey;
	ret = srdma__conn_send_frame(c, &f);
	if (ret)
		return ret;
	c->local[i] =
	    (struct srdma_cm_local_region){.id = id, .access = access, .mr = mr, .used = 1};
	return 0;
}

int srdma_revoke(struct srdma_conn *c, uint32_t id, int dereg)
{
	struct srdma_cm_local_region *r;
	struct srdma_frame f;
	int ret = usable(c);

	if (ret)
		return ret;
	r = local_find(c, id);
	if (!r)
		return -ENOENT;
	/* The rkey dies before the peer hears of it: a peer that acts on the REVOKE (or races
	 * it) can never reach the memory afterwards. */
	if (dereg) {
		ret = ibv_dereg_mr(r->mr);
		if (ret)
			return -ret;
	}
	r->used = 0;
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_REVOKE;
	f.u.revoke_id = id;
	ret = srdma__conn_send_frame(c, &f);
	/* Once the MR is gone the revocation has happened, told or not: a connection that could
	 * not carry the news has failed, and says so on its next call. */
	return dereg ? 0 : ret;
}

int srdma_remote_region(const struct srdma_conn *c, uint32_t id, struct srdma_region *out)
{
	unsigned i;

	for (i = 0; i < SRDMA_CM_MAX_REGIONS; i++) {
		if (c->remote[i].used && c->remote[i].r.id == id) {
			*out = c->remote[i].r;
			return 0;
		}
	}
	return -ENOENT;
}

int srdma_ctrl_send(struct srdma_conn *c, const void *buf, size_t len)
{
	struct srdma_frame f;
	int ret = usable(c);

	if (ret)
		return ret;
	if (len < 1 || len > SRDMA_CTRL_MAX)
		return -EINVAL;
	f.type = SRDMA_FRAME_CTRL;
	f.u.ctrl.len = (uint16_t)len;
	memcpy(f.u.ctrl.data, buf, len);
	return srdma__conn_send_frame(c, &f);
}

/* ---- Accessors -------------------------------------------------------------------------- */

const char *srdma_conn_errmsg(const struct srdma_conn *c)
{
	return c->errmsg;
}

int srdma_conn_is_server(const struct srdma_conn *c)
{
	return c->is_server;
}

const struct srdma_peer *srdma_conn_peer(const struct srdma_conn *c)
{
	return &c->peer;
}

int srdma_conn_resumed(const struct srdma_conn *c)
{
	return c && c->tls ? srdma_tls_resumed(c->tls) : 0;
}

void srdma_conn_info(const struct srdma_conn *c, struct srdma_conn_info *out)
{
	memset(out, 0, sizeof(*out));
	out->dataplane = c->dp_mode;
	out->nqp = c->nqp;
	out->path_mtu = c->path_mtu;
	snprintf(out->device, sizeof(out->device), "%s", c->dev ? c->dev->name : "");
	out->gid_index = c->dev ? c->dev->gid_index : c->ctx->opts.gid_index;
	out->setup_us = c->setup_us;
	for (unsigned i = 0; i < c->nqp; i++)
		out->key_updates += srdma__msgq_key_updates(&c->qp[i]);
	if (c->was_established) {
		uint64_t end = c->start_ns + c->setup_us * 1000, t[SRDMA_CM_STEPS + 1];
		unsigned i;

		/* Each step from the end of the one before; an unmarked step took no time. */
		t[0] = c->start_ns;
		for (i = 0; i < SRDMA_CM_STEPS; i++)
			t[i + 1] = c->step_ns[i] > t[i] ? c->step_ns[i] : t[i];
		out->tcp_us = (t[1] - t[0]) / 1000;
		out->tls_us = (t[2] - t[1]) / 1000;
		out->open_us = (t[3] - t[2]) / 1000;
		out->qp_us = (t[4] - t[3]) / 1000;
		out->ready_us = end > t[4] ? (end - t[4]) / 1000 : 0;
	}
}

static const struct srdma_cm_qp *qp_at(const struct srdma_conn *c, unsigned i)
{
	return i < c->nqp && c->qp[i].qp ? &c->qp[i] : NULL;
}

struct ibv_pd *srdma_conn_pd(const struct srdma_conn *c)
{
	return c->pd;
}

struct ibv_qp *srdma_conn_qp(const struct srdma_conn *c, unsigned i)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	return q ? q->qp : NULL;
}

struct ibv_cq *srdma_conn_send_cq(const struct srdma_conn *c, unsigned i)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	return q ? q->send_cq : NULL;
}

struct ibv_cq *srdma_conn_recv_cq(const struct srdma_conn *c, unsigned i)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	return q ? q->recv_cq : NULL;
}

struct ibv_comp_channel *srdma_conn_comp_channel(const struct srdma_conn *c, unsigned i)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	return q ? q->channel : NULL;
}

int srdma_conn_qp_fd(const struct srdma_conn *c, unsigned i)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	return q && q->channel ? q->channel->fd : -1;
}

int srdma_conn_qp_secrets(const struct srdma_conn *c, unsigned i, struct srdma_qp_secrets *out)
{
	const struct srdma_cm_qp *q = qp_at(c, i);

	if (!q)
		return -EINVAL;
	out->local_qpn = q->qp->qp_num;
	out->remote_qpn = q->have_remote ? q->remote.qpn : 0;
	out->local_psn = q->local_psn;
	out->remote_psn = q->remote_psn;
	return 0;
}

#define LIBRARY_LABELS "EXPORTER-secure-rdma"

int srdma_conn_export(struct srdma_conn *c, const char *label, const void *context,
		      size_t context_len, void *out, size_t out_len)
{
	if (!c || !label || !label[0] || !out || out_len == 0 || out_len > 64 ||
	    (context_len && !context) ||
	    strncmp(label, LIBRARY_LABELS, sizeof(LIBRARY_LABELS) - 1) == 0)
		return -EINVAL;
	if (!c->tls || c->state < SRDMA_CM_OPEN || c->state == SRDMA_CM_FAILED)
		return -EINVAL;
	return srdma_tls_export(c->tls, label, context, context_len, out, out_len) ? -EIO : 0;
}
