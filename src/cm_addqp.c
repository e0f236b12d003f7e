/* Adding a QP to an established connection, with no new handshake (srdma_conn_add_qp): the
 * exchange is described in cm_internal.h. The QP is made and moved to RTS by the same code as
 * the set-up's (cm_qp.c); only the frames and their state checks are here. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cm_internal.h"

/* A reason for srdma_conn_errmsg that leaves the connection usable (a fatal error, once
 * recorded, is never overwritten). */
__attribute__((format(printf, 2, 3))) static void note(struct srdma_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error)
		return;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

static int add_protocol_error(struct srdma_conn *c, const char *what, unsigned index)
{
	return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO,
				     "protocol error: %s (QP %u; %u QPs, an add %s)", what, index,
				     c->nqp, c->adding ? "in flight" : "not in flight");
}

/* QP_REFUSED for index with code and a reason (queued; the connection goes on). */
static int send_refused(struct srdma_conn *c, unsigned index, uint16_t code, const char *why)
{
	struct srdma_frame e, f;

	/* The ERROR helper's text rules (printable, truncated), then into QP_REFUSED: two frames,
	 * since the two unions' error fields overlap at different offsets. */
	srdma_frame_error(&e, code, "%s", why);
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_QP_REFUSED;
	f.u.qp_refused.index = (uint8_t)index;
	f.u.qp_refused.error = e.u.error;
	return srdma__conn_send_frame(c, &f);
}

/* The add in flight ends (index c->nqp): the QP freed unless it succeeded. */
static void add_done(struct srdma_conn *c, int result)
{
	if (result)
		(void)srdma__qp_destroy(c, &c->qp[c->nqp]);
	else
		c->nqp++;
	c->adding = 0;
	c->add_result = result;
}

static void add_failed_event(struct srdma_conn *c, unsigned index, const char *why)
{
	struct srdma_event *ev = srdma__conn_event(c, SRDMA_EV_QP_ADD_FAILED);
	size_t n = strnlen(why, sizeof(ev->data) - 1);

	ev->region_id = index;
	memcpy(ev->data, why, n);
	ev->data[n] = '\0';
	ev->len = (uint32_t)n;
}

/* The peer's QP frame for the QP being added: its driver must be the one agreed. */
static int take_remote(struct srdma_conn *c, const struct srdma_wire_qp *w)
{
	struct srdma_cm_qp *q = &c->qp[w->index];

	if (w->driver != (uint8_t)q->opts.driver)
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: added QP %u frame has driver %u, %u was asked", w->index,
		    w->driver, (unsigned)q->opts.driver);
	q->remote = *w;
	q->have_remote = 1;
	q->remote_psn = w->psn;
	return 0;
}

/* ---- The connector ------------------------------------------------------------------------- */

int srdma_conn_add_qp(struct srdma_conn *c, const struct srdma_qp_opts *o, unsigned *index)
{
	struct srdma_qp_opts eff;
	struct srdma_frame f;
	struct srdma_cm_qp *q;
	char err[200];
	unsigned i;
	int ret;

	if (!c || !o || !index)
		return -EINVAL;
	if (c->is_server) {
		note(c, "only the connecting side adds QPs");
		return -EPERM;
	}
	i = c->nqp;
	if (i >= SRDMA_MAX_QPS)
		return -ENOSPC;
	eff = *o;
	ret = srdma__qp_opts_effective(&eff, i, err, sizeof(err));
	if (ret) {
		note(c, "%s", err);
		return ret;
	}
	if (c->error)
		return c->error;
	if (c->state != SRDMA_CM_ESTABLISHED)
		return -ENOTCONN;
	if (c->adding)
		return -EBUSY;
	q = &c->qp[i];
	memset(q, 0, sizeof(*q));
	q->opts = eff;
	ret = srdma__qp_create(c, i, err, sizeof(err));
	if (!ret) {
		srdma__conn_qp_frame(c, i, &f);
		ret = srdma__conn_send_frame(c, &f);
		if (ret == -ENOBUFS)
			snprintf(err, sizeof(err), "the control channel's output queue is full");
	}
	if (ret) {
		(void)srdma__qp_destroy(c, q);
		if (!c->error)
			note(c, "cannot add QP %u: %s", i, err);
		return ret;
	}
	c->adding = 1;
	c->add_result = 1;
	*index = i;
	return 0;
}

/* The listener's QP frame: ours to RTR and RTS, READY; or, if that fails, QP_REFUSED back. */
static int connector_qp(struct srdma_conn *c, const struct srdma_wire_qp *w)
{
	struct srdma_frame ready = {.type = SRDMA_FRAME_READY};
	char err[160], why[sizeof(c->errmsg)];
	unsigned i = c->nqp;
	int ret;

	if (!c->adding || w->index != i)
		return add_protocol_error(c, "unexpected QP frame", w->index);
	if (take_remote(c, w))
		return c->error;
	ret = srdma__qp_connect(c, i, err, sizeof(err));
	if (ret) {
		snprintf(why, sizeof(why), "the client cannot add QP %u: %s", i, err);
		ret = send_refused(c, i, SRDMA_ERR_RDMA, why);
		add_done(c, -EIO);
		note(c, "%s", why);
		add_failed_event(c, i, why);
		return ret == -ENOBUFS ? 0 : ret;
	}
	ret = srdma__conn_send_frame(c, &ready);
	if (ret == -ENOBUFS)
		return srdma__conn_fail(
		    c, -ENOBUFS, "cannot confirm added QP %u: control channel queue full", i);
	if (ret)
		return ret;
	add_done(c, 0);
	srdma__conn_event(c, SRDMA_EV_QP_ADDED)->region_id = i;
	return 0;
}

/* The listener refused the QP being added. */
static int connector_refused(struct srdma_conn *c, const struct srdma_qp_refused *r)
{
	char why[sizeof(c->errmsg)];
	unsigned i = c->nqp;

	if (!c->adding || r->index != i)
		return add_protocol_error(c, "unexpected QP_REFUSED frame", r->index);
	snprintf(why, sizeof(why), "the server refused QP %u (%s): %s", i,
		 srdma_error_code_name(r->error.code), r->error.msg);
	add_done(c, r->error.code == SRDMA_ERR_REFUSED ? -ECONNREFUSED : -EREMOTEIO);
	note(c, "%s", why);
	add_failed_event(c, i, why);
	return 0;
}

/* ---- The listener -------------------------------------------------------------------------- */

/* The connector's QP frame for its next index: ours, to RTS, and our QP frame back; or a
 * refusal that leaves the connection as it was. */
static int listener_qp(struct srdma_conn *c, const struct srdma_wire_qp *w)
{
	struct srdma_frame f;
	struct srdma_cm_qp *q;
	char err[160], why[sizeof(c->errmsg)];
	unsigned i = c->nqp;
	int ret;

	if (c->adding || w->index != i)
		return add_protocol_error(c, "unexpected QP frame", w->index);
	if (i >= c->max_qps) {
		snprintf(why, sizeof(why), "this server allows at most %u QPs per connection",
			 c->max_qps);
		ret = send_refused(c, i, SRDMA_ERR_REFUSED, why);
		return ret == -ENOBUFS ? 0 : ret;
	}
	q = &c->qp[i];
	memset(q, 0, sizeof(*q));
	q->opts = c->add_template;
	q->opts.driver = w->driver == SRDMA_QP_MESSAGES ? SRDMA_QP_MESSAGES : SRDMA_QP_RAW;
	ret = srdma__qp_opts_effective(&q->opts, i, err, sizeof(err));
	if (!ret)
		ret = srdma__qp_create(c, i, err, sizeof(err));
	if (!ret && !take_remote(c, w))
		ret = srdma__qp_connect(c, i, err, sizeof(err));
	if (c->error)
		return c->error;
	if (ret) {
		(void)srdma__qp_destroy(c, q);
		snprintf(why, sizeof(why), "the server cannot add QP %u: %s", i, err);
		ret = send_refused(c, i, SRDMA_ERR_RESOURCES, why);
		return ret == -ENOBUFS ? 0 : ret;
	}
	srdma__conn_qp_frame(c, i, &f);
	ret = srdma__conn_send_frame(c, &f);
	if (ret == -ENOBUFS)
		return srdma__conn_fail(c, -ENOBUFS,
					"cannot answer added QP %u: control channel queue full", i);
	if (ret)
		return ret;
	c->adding = 1;
	c->add_result = 1;
	return 0;
}

int srdma__addqp_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	if (!c->is_server) {
		if (f->type == SRDMA_FRAME_QP)
			return connector_qp(c, &f->u.qp);
		if (f->type == SRDMA_FRAME_QP_REFUSED)
			return connector_refused(c, &f->u.qp_refused);
		return add_protocol_error(c, "unexpected READY frame", c->nqp);
	}
	switch (f->type) {
	case SRDMA_FRAME_QP:
		return listener_qp(c, &f->u.qp);
	case SRDMA_FRAME_READY:
		/* The connector's QP is at RTS too. */
		if (!c->adding)
			return add_protocol_error(c, "unexpected READY frame", c->nqp);
		add_done(c, 0);
		srdma__conn_event(c, SRDMA_EV_QP_ADDED)->region_id = c->nqp - 1;
		return 0;
	default:
		/* The connector gave up on the QP it asked for (its move to RTS failed). */
		if (!c->adding || f->u.qp_refused.index != c->nqp)
			return add_protocol_error(c, "unexpected QP_REFUSED frame",
						  f->u.qp_refused.index);
		add_done(c, -EIO);
		return 0;
	}
}

/* ---- The blocking form --------------------------------------------------------------------- */

int srdma_conn_add_qp_wait(struct srdma_conn *c, const struct srdma_qp_opts *o, unsigned *index,
			   int timeout_ms)
{
	uint64_t deadline = 0;
	int ret = srdma_conn_add_qp(c, o, index);

	if (ret)
		return ret;
	if (timeout_ms >= 0)
		deadline = srdma__cm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	/* The frames that answer may already be in (pumped with our own frame's write). */
	ret = srdma__conn_pump(c);
	while (!ret && c->adding) {
		struct pollfd p = {.fd = srdma_conn_fd(c), .events = srdma_conn_poll_events(c)};
		int t = srdma_conn_timeout_ms(c);

		if (deadline) {
			uint64_t now = srdma__cm_now_ns();
			int left;

			if (now >= deadline)
				return -ETIMEDOUT;
			left = (int)((deadline - now + 999999) / 1000000);
			if (t < 0 || left < t)
				t = left;
		}
		if (poll(&p, 1, t) < 0 && errno != EINTR)
			return srdma__conn_fail(c, -errno, "poll: %s", strerror(errno));
		ret = srdma__conn_pump(c);
	}
	if (ret)
		return ret;
	return c->add_result;
}
