/* Device asynchronous events on the shared device context (srdma_ctx_async_fd and
 * srdma_ctx_async_event in <srdma.h>). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cm_internal.h"

int srdma_ctx_async_fd(struct srdma_ctx *ctx, char *err, size_t errlen)
{
	struct srdma_dev *dev;
	int ret, fl;

	if (!ctx)
		return -EINVAL;
	ret = srdma__ctx_dev(ctx, &dev, err, errlen);
	if (ret)
		return ret;
	fl = fcntl(dev->ctx->async_fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(dev->ctx->async_fd, F_SETFL, fl | O_NONBLOCK))) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen,
				 "cannot make the device's event descriptor non-blocking: %s",
				 strerror(-ret));
		return ret;
	}
	return dev->ctx->async_fd;
}

int srdma_ctx_async_event(struct srdma_ctx *ctx, struct srdma_async_event *ev)
{
	struct ibv_async_event e;
	struct srdma_dev *dev;

	if (!ctx || !ev)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	dev = ctx->dev;
	pthread_mutex_unlock(&ctx->lock);
	if (!dev)
		return 0; /* no device yet: no event either */
	if (ibv_get_async_event(dev->ctx, &e))
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -EIO;
	memset(ev, 0, sizeof(*ev));
	ev->type = e.event_type;
	ev->name = ibv_event_type_str(e.event_type);
	switch (e.event_type) {
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
	case IBV_EVENT_COMM_EST:
	case IBV_EVENT_SQ_DRAINED:
	case IBV_EVENT_PATH_MIG:
	case IBV_EVENT_PATH_MIG_ERR:
	case IBV_EVENT_QP_LAST_WQE_REACHED:
		/* Every QP is the library's, made with the connection as its context; the QP
		 * outlives this read (ibv_destroy_qp waits for the acknowledgement below). */
		ev->qp = e.element.qp;
		ev->conn = e.element.qp ? e.element.qp->qp_context : NULL;
		break;
	case IBV_EVENT_PORT_ACTIVE:
	case IBV_EVENT_PORT_ERR:
	case IBV_EVENT_LID_CHANGE:
	case IBV_EVENT_PKEY_CHANGE:
	case IBV_EVENT_SM_CHANGE:
	case IBV_EVENT_CLIENT_REREGISTER:
	case IBV_EVENT_GID_CHANGE:
		ev->port = (uint8_t)e.element.port_num;
		ev->own_port = e.element.port_num == dev->port;
		break;
	default:
		break;
	}
	ibv_ack_async_event(&e);
	return 1;
}
