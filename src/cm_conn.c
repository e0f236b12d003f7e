/* One connection of the connection manager: TCP, TLS, the OPEN/QP/READY exchange on the
 * control channel, one flight each way (order in cm_internal.h), the QPs moved INIT -> RTR ->
 * RTS by hand, then regions, control messages, events and the close. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "net.h"

#include "cm_internal.h"
#include "liveness.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t srdma__cm_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* The liveness clock: read from the vDSO's page alone, where CLOCK_MONOTONIC may need the clock
 * hardware (a VM whose clocksource is the HPET makes each read a system call and an emulated
 * device read, tens of microseconds). It lags the precise clock by less than a tick; the
 * heartbeat counts a time within a tick as come (liveness.h), so its PINGs and its silence
 * bound are right to within a tick, a few milliseconds. Every time the heartbeat compares comes
 * from this clock, so none is ever ahead of "now". */
uint64_t srdma__cm_coarse_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

void srdma__conn_step(struct srdma_conn *c, unsigned step)
{
	if (step < SRDMA_CM_STEPS)
		c->step_ns[step] = srdma__cm_now_ns();
}

int srdma__conn_fail(struct srdma_conn *c, int ret, const char *fmt, ...)
{
	va_list ap;

	if (c->error)
		return c->error;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->error = ret;
	c->state = SRDMA_CM_FAILED;
	return ret;
}

/* Tell the peer why (ERROR frame, best effort) and fail with the same reason. */
int srdma__conn_fail_peer(struct srdma_conn *c, uint16_t code, int ret, const char *fmt, ...)
{
	struct srdma_frame f;
	char msg[sizeof(c->errmsg)];
	va_list ap;

	if (c->error)
		return c->error;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->tls && c->state != SRDMA_CM_TCP && c->state != SRDMA_CM_TLS) {
		srdma_frame_error(&f, code, "%s", msg);
		(void)srdma_chan_send(&c->chan, &f);
	}
	return srdma__conn_fail(c, ret, "%s", msg);
}

static int protocol_error(struct srdma_conn *c, const char *what, unsigned type)
{
	return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO, "protocol error: %s %s frame",
				     what, srdma_frame_type_name(type));
}

static const char *peer_role(const struct srdma_conn *c)
{
	return c->is_server ? "the client" : "the server";
}

/* An ERROR frame from the peer ends the connection with its reason. */
static int peer_error(struct srdma_conn *c, const struct srdma_error *e)
{
	switch (e->code) {
	case SRDMA_ERR_SERVER_FULL:
		return srdma__conn_fail(c, -EBUSY, "%s refused the connection: %s", peer_role(c),
					e->msg);
	case SRDMA_ERR_REFUSED:
		return srdma__conn_fail(c, -ECONNREFUSED, "refused by %s: %s", peer_role(c),
					e->msg);
	case SRDMA_ERR_SHUTDOWN:
		return srdma__conn_fail(c, -ESHUTDOWN, "%s is shutting down: %s", peer_role(c),
					e->msg);
	case SRDMA_ERR_TIMEOUT:
		return srdma__conn_fail(c, -ETIMEDOUT, "%s timed out: %s", peer_role(c), e->msg);
	default:
		return srdma__conn_fail(c, -EPROTO, "%s ended the connection (%s): %s",
					peer_role(c), srdma_error_code_name(e->code), e->msg);
	}
}

/* The control channel failed (srdma_chan_recv/send/flush's code). */
static int chan_error(struct srdma_conn *c, int ret)
{
	if (ret == -EPROTONOSUPPORT)
		return srdma__conn_fail_peer(c, SRDMA_ERR_VERSION, -EPROTO,
					     "%s speaks protocol version %u, this side version %u: "
					     "both need the same protocol version of secure-rdma",
					     peer_role(c), c->chan.last_hdr.version,
					     SRDMA_PROTO_VERSION);
	if (ret == -EBADMSG || ret == -EMSGSIZE)
		return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO, "protocol error: %s",
					     c->chan.errmsg);
	if (c->local_err && ret == -ECONNRESET && strstr(c->chan.errmsg, "closed the TLS"))
		/* An orderly TLS close: the listener read our OPEN and our reason, and closed. */
		return srdma__conn_fail(c, c->local_err, "%s", c->local_errmsg);
	if (!c->is_server && c->state == SRDMA_CM_OPEN && !c->got_open &&
	    ((ret == -EPROTO && strstr(c->chan.errmsg, "alert")) || ret == -ECONNRESET))
		/* With TLS 1.3 a refused client certificate shows up here, after the handshake. */
		return srdma__conn_fail(
		    c, ret == -ECONNRESET ? -ECONNRESET : -EPROTO,
		    "%s: the server refused the TLS session; if it requires client certificates, "
		    "give one its CA signed (cert and key in the context options, --cert/--key)",
		    c->chan.errmsg);
	if (c->local_err)
		return srdma__conn_fail(c, c->local_err, "%s", c->local_errmsg);
	if (c->state != SRDMA_CM_ESTABLISHED)
		return srdma__conn_fail(c, -ECONNRESET, "%s vanished during set-up: %s",
					peer_role(c), c->chan.errmsg);
	return srdma__conn_fail(c, -ECONNRESET, "control channel lost: %s", c->chan.errmsg);
}

/* Queue a frame; bytes that do not fit in the socket now go out with later pumps. */
int srdma__conn_send_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	int ret = srdma_chan_send(&c->chan, f);

	if (ret == -EAGAIN || ret == 0)
		return 0;
	if (ret == -ENOBUFS)
		return ret;
	return chan_error(c, ret);
}

/* Queue a frame to leave with the others of its flight at the next flush (the end of
 * srdma__conn_pump): 0, -ENOBUFS, or the connection's failure. */
static int queue_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	int ret = srdma_chan_queue(&c->chan, f);

	if (ret == 0 || ret == -ENOBUFS)
		return ret;
	return chan_error(c, ret);
}

struct srdma_event *srdma__conn_event(struct srdma_conn *c, enum srdma_event_type type)
{
	struct srdma_event *ev = &c->events[(c->ev_head + c->ev_len) % SRDMA_CM_EVENTS];

	c->ev_len++;
	memset(ev, 0, offsetof(struct srdma_event, data));
	ev->type = type;
	return ev;
}

void srdma__conn_qp_frame(const struct srdma_conn *c, unsigned i, struct srdma_frame *f)
{
	const struct srdma_cm_qp *q = &c->qp[i];
	struct srdma_wire_qp *w = &f->u.qp;

	memset(f, 0, sizeof(*f));
	f->type = SRDMA_FRAME_QP;
	w->index = (uint8_t)i;
	w->driver = (uint8_t)q->opts.driver;
	w->lid = c->dev->port_attr.lid;
	w->qpn = q->qp->qp_num;
	w->psn = q->local_psn;
	w->mtu = (uint8_t)c->dev->port_attr.active_mtu;
	w->rd_atomic = q->rd_atomic;
	if (c->dev->gid_index >= 0)
		memcpy(w->gid, c->dev->gid.raw, sizeof(w->gid));
	if (q->opts.driver == SRDMA_QP_MESSAGES) {
		srdma__msgq_local(q, &w->max_msg, &w->depth);
		w->max_send = q->opts.max_send;
		if (c->dp_mode != SRDMA_DP_PLAIN)
			w->rekey_log2 = (uint8_t)c->ctx->rekey_log2;
	}
}

static int queue_qp_frames(struct srdma_conn *c)
{
	struct srdma_frame f;
	unsigned i;
	int ret;

	for (i = 0; i < c->nqp; i++) {
		srdma__conn_qp_frame(c, i, &f);
		ret = queue_frame(c, &f);
		if (ret)
			return ret;
	}
	return 0;
}

static int heartbeat_on(const struct srdma_conn *c);
static void tcp_liveness(const struct srdma_conn *c, int fd);

/* QP i: INIT -> RTR -> RTS with the peer's frame, then its messages state. */
static int established(struct srdma_conn *c)
{
	uint64_t now = srdma__cm_now_ns();

	c->state = SRDMA_CM_ESTABLISHED;
	c->was_established = 1;
	c->setup_us = (now - c->start_ns) / 1000;
	c->deadline_ns = 0;
	now = srdma__cm_coarse_ns();
	c->last_rx_ns = now;
	if (heartbeat_on(c))
		c->next_ping_ns = now + (uint64_t)c->ctx->opts.heartbeat_ms * 1000000ull;
	/* Only now: before, the set-up's deadline bounds the connection, and a listener's
	 * handshakes (a flood's among them) cost no keepalive timers or system calls. */
	tcp_liveness(c, srdma_conn_fd(c));
	return 0;
}

/* ---- Liveness ----------------------------------------------------------------------------- */

static int heartbeat_on(const struct srdma_conn *c)
{
	return c->ctx->opts.heartbeat_ms != UINT32_MAX;
}

static uint64_t silence_bound_ns(const struct srdma_conn *c)
{
	return srdma__live_bound_ns(c->ctx->opts.heartbeat_ms, c->ctx->opts.heartbeat_misses);
}

/* When our next PING is due: after heartbeat_ms with nothing heard from the peer (any frame
 * counts, and any message on a library-driven QP), and at most one per heartbeat_ms. The listener
 * waits half an interval longer, so that between two live peers only the connector pings and the
 * listener answers: one PING and one PONG per interval, not two of each. */
static uint64_t ping_due_ns(const struct srdma_conn *c)
{
	uint64_t quiet = (uint64_t)c->ctx->opts.heartbeat_ms * 1000000ull;
	uint64_t due;

	if (c->is_server)
		quiet += quiet / 2;
	due = c->last_rx_ns + quiet;
	return due > c->next_ping_ns ? due : c->next_ping_ns;
}

/* TCP's own liveness within the heartbeat's bound: keepalive probes on an idle socket, and
 * TCP_USER_TIMEOUT for data (a PING) that stays unacknowledged. Best effort. */
static void tcp_liveness(const struct srdma_conn *c, int fd)
{
	struct srdma_live_tcp t;
	int on = 1;

	if (!heartbeat_on(c) || fd < 0)
		return;
	t = srdma__live_tcp(c->ctx->opts.heartbeat_ms, c->ctx->opts.heartbeat_misses);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &t.idle_s, sizeof(t.idle_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &t.intvl_s, sizeof(t.intvl_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &t.cnt, sizeof(t.cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &t.user_timeout_ms,
		   sizeof(t.user_timeout_ms));
}

/* Called for every batch of received messages, so it must cost next to nothing (the coarse
 * clock). */
void srdma__conn_heard(struct srdma_conn *c)
{
	c->last_rx_ns = srdma__cm_coarse_ns();
}

/* Established: end a silent peer's connection, send the PING that is due. */
static int heartbeat_tick(struct srdma_conn *c)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_PING};
	uint64_t now = srdma__cm_coarse_ns(), tick = c->ctx->tick_ns, quiet;
	int ret;

	if (!c->next_ping_ns || c->error)
		return c->error;
	/* Within a tick of the time is the time (liveness.h). */
	quiet = now > c->last_rx_ns ? now - c->last_rx_ns : 0;
	if (srdma__live_due(quiet, tick, silence_bound_ns(c)))
		return srdma__conn_fail(c, -ETIMEDOUT,
					"the peer stopped answering: nothing heard for %llu ms "
					"(heartbeat every %u ms, %u missed)",
					(unsigned long long)(quiet / 1000000),
					c->ctx->opts.heartbeat_ms, c->ctx->opts.heartbeat_misses);
	if (!srdma__live_due(now, tick, ping_due_ns(c)))
		return 0;
	c->next_ping_ns = now + (uint64_t)c->ctx->opts.heartbeat_ms * 1000000ull;
	ret = srdma__conn_send_frame(c, &f);
	/* A full output queue is not fatal: the peer's silence is what counts. */
	return ret == -ENOBUFS ? 0 : ret;
}

/* ---- The set-up exchange ---------------------------------------------------------------- */

static uint16_t msg_mask(const struct srdma_conn *c)
{
	uint16_t mask = 0;
	unsigned i;

	for (i = 0; i < c->nqp; i++)
		if (c->qp[i].opts.driver == SRDMA_QP_MESSAGES)
			mask |= (uint16_t)(1u << i);
	return mask;
}

static int queue_open(struct srdma_conn *c)
{
	struct srdma_frame f;

	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_OPEN;
	f.u.open.features = srdma_dp_features(c->dp_mode);
	f.u.open.nqp = (uint8_t)c->nqp;
	f.u.open.msg_mask = msg_mask(c);
	return queue_frame(c, &f);
}

static int queue_ready(struct srdma_conn *c)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_READY};

	return queue_frame(c, &f);
}

/* A set-up flight that did not fit the output queue (it always does: at most 18 frames of at
 * most 48 bytes), or the connection's failure. */
static int flight_failed(struct srdma_conn *c, int ret)
{
	return c->error ? c->error : srdma__conn_fail(c, ret, "cannot queue set-up frames");
}

/* A peer QP frame: index in range, once each, with the agreed driver. */
static int take_qp_frame(struct srdma_conn *c, const struct srdma_wire_qp *w)
{
	struct srdma_cm_qp *q;

	if (w->index >= c->nqp)
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: QP frame for index %u, but %u QPs were agreed", w->index,
		    c->nqp);
	q = &c->qp[w->index];
	if (c->remote_qps & (1u << w->index))
		return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO,
					     "protocol error: two QP frames for index %u",
					     w->index);
	if (w->driver != (uint8_t)q->opts.driver)
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: QP %u frame has driver %u, %u was agreed", w->index, w->driver,
		    (unsigned)q->opts.driver);
	if (q->opts.driver == SRDMA_QP_MESSAGES && (!w->max_msg || !w->depth))
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: messages QP %u frame carries no max_msg/depth", w->index);
	q->remote = *w;
	q->have_remote = 1;
	q->remote_psn = w->psn;
	c->remote_qps |= 1u << w->index;
	return 0;
}

static int all_qp_frames(const struct srdma_conn *c)
{
	return c->remote_qps == (1u << c->nqp) - 1;
}

static const char *mode_name(uint32_t features)
{
	enum srdma_dp_mode mode;

	if (srdma_dp_mode_of(features, &mode))
		return "an unknown mode";
	return srdma_dp_mode_name(mode);
}

/* Listener: the connector's OPEN. Slot, request callback, then the RDMA resources (INIT). */
static int on_open(struct srdma_conn *c, const struct srdma_open *o)
{
	struct srdma_listener *l = c->listener;
	struct srdma_request req;
	char err[sizeof(c->errmsg)];
	unsigned i;
	int ret;

	if (o->features != srdma_dp_features(c->dp_mode))
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_FEATURE, -EPROTO,
		    "data-plane mode mismatch: this side uses %s, the peer asked for %s",
		    srdma_dp_mode_name(c->dp_mode), mode_name(o->features));
	c->got_open = 1;
	c->nqp = o->nqp;
	if (srdma__ctx_slot_take(c->ctx))
		return srdma__conn_fail_peer(c, SRDMA_ERR_SERVER_FULL, -EBUSY, "server full");
	c->has_slot = 1;

	memset(&req, 0, sizeof(req));
	req.peer = &c->peer;
	req.nqp = c->nqp;
	for (i = 0; i < c->nqp; i++) {
		req.driver[i] = o->msg_mask & (1u << i) ? SRDMA_QP_MESSAGES : SRDMA_QP_RAW;
		req.qp[i] = l->opts.qp;
		req.qp[i].driver = req.driver[i];
	}
	if (l->opts.on_request && l->opts.on_request(l->opts.arg, &req)) {
		req.reason[sizeof(req.reason) - 1] = '\0';
		return srdma__conn_fail_peer(c, SRDMA_ERR_REFUSED, -ECONNREFUSED, "%s",
					     req.reason[0] ? req.reason : "refused");
	}
	for (i = 0; i < c->nqp; i++) {
		c->qp[i].opts = req.qp[i];
		c->qp[i].opts.driver = req.driver[i];
		ret = srdma__qp_opts_effective(&c->qp[i].opts, i, err, sizeof(err));
		if (ret)
			return srdma__conn_fail_peer(
			    c, SRDMA_ERR_INTERNAL, ret,
			    "the server's request callback set bad options: %s", err);
	}
	ret = srdma__rdma_create(c, err, sizeof(err));
	if (ret)
		return srdma__conn_fail_peer(c, SRDMA_ERR_RESOURCES, ret,
					     "the server cannot set up RDMA: %s", err);
	srdma__conn_step(c, SRDMA_STEP_OPEN);
	return 0; /* the connector's QP frames follow in the same flight */
}

/* Connector: the listener's OPEN must echo what we asked. */
static int on_open_reply(struct srdma_conn *c, const struct srdma_open *o)
{
	if (c->got_open)
		return protocol_error(c, "a second", SRDMA_FRAME_OPEN);
	if (o->features != srdma_dp_features(c->dp_mode) || o->nqp != c->nqp ||
	    o->msg_mask != msg_mask(c))
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: the server's OPEN does not match the request "
		    "(mode %s, %u QPs, messages mask 0x%x)",
		    mode_name(o->features), o->nqp, o->msg_mask);
	c->got_open = 1;
	return 0;
}

/* Connector, right after its TLS handshake (the listener is verified; our Finished is in the
 * air): OPEN goes out at once, behind the Finished, so that the listener decides and makes its
 * resources while we make ours (PD, CQs and QPs in INIT with receives posted); our QP frames
 * follow. If our RDMA set-up fails, what we made is freed and the listener (which has OPEN:
 * its decision comes first, and a refusal is reported as such) gets ERROR RESOURCES instead of
 * QP frames; our own error stands unless the listener answers with one. Without a device
 * (known at once) OPEN and ERROR leave together, in one record: a listener that refuses and
 * closes has then read everything, so its close cannot turn into a reset that would lose its
 * answer. */
static int connector_open(struct srdma_conn *c)
{
	char err[sizeof(c->local_errmsg) - 40];
	struct srdma_frame f;
	int ret;

	ret = queue_open(c);
	if (ret)
		return flight_failed(c, ret);
	ret = srdma__ctx_dev(c->ctx, &c->dev, err, sizeof(err));
	if (!ret) {
		ret = srdma_chan_flush(&c->chan);
		if (ret && ret != -EAGAIN)
			return chan_error(c, ret);
		ret = srdma__rdma_create(c, err, sizeof(err));
	}
	if (ret) {
		c->local_err = ret;
		snprintf(c->local_errmsg, sizeof(c->local_errmsg),
			 "the client cannot set up RDMA: %s", err);
		(void)srdma__rdma_release(c);
		srdma_frame_error(&f, SRDMA_ERR_RESOURCES, "%s", c->local_errmsg);
		ret = queue_frame(c, &f);
	} else {
		ret = queue_qp_frames(c);
	}
	if (ret)
		return flight_failed(c, ret);
	c->state = SRDMA_CM_OPEN;
	return 0;
}

/* Listener: the connector's QP frames are in (its QPs are in INIT). Ours to RTR and RTS, then
 * OPEN, QP frames and READY in one flight. */
static int listener_reply(struct srdma_conn *c)
{
	char err[sizeof(c->errmsg)];
	int ret;

	ret = srdma__qps_connect(c, err, sizeof(err));
	if (ret)
		return srdma__conn_fail_peer(c, SRDMA_ERR_RESOURCES, ret,
					     "the server cannot set up RDMA: %s", err);
	ret = queue_open(c);
	if (!ret)
		ret = queue_qp_frames(c);
	if (!ret)
		ret = queue_ready(c);
	if (ret)
		return flight_failed(c, ret);
	srdma__conn_step(c, SRDMA_STEP_QP);
	c->sent_ready = 1;
	c->state = SRDMA_CM_READY;
	return 0;
}

/* Connector: the listener's OPEN, QP frames and READY are in (its QPs are at RTS). Ours to
 * RTR and RTS: established; READY tells the listener. */
static int connector_finish(struct srdma_conn *c)
{
	char err[sizeof(c->errmsg)];
	int ret;

	c->got_ready = 1;
	srdma__conn_step(c, SRDMA_STEP_OPEN);
	ret = srdma__qps_connect(c, err, sizeof(err));
	if (ret)
		return srdma__conn_fail_peer(c, SRDMA_ERR_RESOURCES, ret,
					     "the client cannot set up RDMA: %s", err);
	srdma__conn_step(c, SRDMA_STEP_QP);
	ret = queue_ready(c);
	if (ret)
		return flight_failed(c, ret);
	c->sent_ready = 1;
	established(c);
	srdma__conn_event(c, SRDMA_EV_ESTABLISHED);
	return 0;
}

/* ---- Frames after set-up ---------------------------------------------------------------- */

static struct srdma_cm_remote_region *remote_find(struct srdma_conn *c, uint32_t id)
{
	unsigned i;

	for (i = 0; i < SRDMA_CM_MAX_REGIONS; i++)
		if (c->remote[i].used && c->remote[i].r.id == id)
			return &c->remote[i];
	return NULL;
}

static int on_region(struct srdma_conn *c, const struct srdma_wire_region *w)
{
	struct srdma_cm_remote_region *r;
	unsigned i;

	if (remote_find(c, w->id))
		return srdma__conn_fail_peer(c, SRDMA_ERR_PROTOCOL, -EPROTO,
					     "protocol error: the peer advertised region %u twice",
					     w->id);
	for (i = 0; i < SRDMA_CM_MAX_REGIONS && c->remote[i].used; i++)
		;
	if (i == SRDMA_CM_MAX_REGIONS)
		return srdma__conn_fail_peer(
		    c, SRDMA_ERR_PROTOCOL, -EPROTO,
		    "protocol error: the peer advertised more than %u regions",
		    SRDMA_CM_MAX_REGIONS);
	r = &c->remote[i];
	r->used = 1;
	r->r.id = w->id;
	r->r.access = w->access;
	r->r.addr = w->addr;
	r->r.len = w->len;
	r->r.rkey = w->rkey;
	srdma__conn_event(c, SRDMA_EV_REGION_ADDED)->region_id = w->id;
	return 0;
}

static int on_established_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	struct srdma_cm_remote_region *r;
	struct srdma_event *ev;

	switch (f->type) {
	case SRDMA_FRAME_REGION:
		return on_region(c, &f->u.region);
	case SRDMA_FRAME_REVOKE:
		r = remote_find(c, f->u.revoke_id);
		if (!r)
			return srdma__conn_fail_peer(
			    c, SRDMA_ERR_PROTOCOL, -EPROTO,
			    "protocol error: the peer revoked region %u, which it "
			    "never advertised",
			    f->u.revoke_id);
		r->used = 0;
		srdma__conn_event(c, SRDMA_EV_REGION_REVOKED)->region_id = f->u.revoke_id;
		return 0;
	case SRDMA_FRAME_CTRL:
		ev = srdma__conn_event(c, SRDMA_EV_CTRL);
		ev->len = f->u.ctrl.len;
		memcpy(ev->data, f->u.ctrl.data, f->u.ctrl.len);
		return 0;
	case SRDMA_FRAME_PING: {
		struct srdma_frame pong = {.type = SRDMA_FRAME_PONG};
		int ret = srdma__conn_send_frame(c, &pong);

		return ret == -ENOBUFS ? 0 : ret;
	}
	case SRDMA_FRAME_PONG:
		return 0;
	case SRDMA_FRAME_QP:
	case SRDMA_FRAME_READY:
	case SRDMA_FRAME_QP_REFUSED:
		return srdma__addqp_frame(c, f);
	case SRDMA_FRAME_CLOSE:
		srdma__conn_event(c, SRDMA_EV_PEER_CLOSED);
		c->peer_closed = 1;
		return srdma__conn_fail(c, -ECONNRESET, "the peer closed the connection");
	default:
		return protocol_error(c, "unexpected", f->type);
	}
}

static int on_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	if (f->type == SRDMA_FRAME_ERROR)
		return peer_error(c, &f->u.error);
	switch (c->state) {
	case SRDMA_CM_OPEN:
		if (c->is_server && !c->got_open)
			return f->type == SRDMA_FRAME_OPEN
				   ? on_open(c, &f->u.open)
				   : protocol_error(c, "expected OPEN, got", f->type);
		if (c->is_server) {
			if (f->type != SRDMA_FRAME_QP)
				return protocol_error(c, "expected QP, got", f->type);
			if (take_qp_frame(c, &f->u.qp))
				return c->error;
			return all_qp_frames(c) ? listener_reply(c) : 0;
		}
		if (c->local_err) /* the listener accepted a connector that cannot go on */
			return srdma__conn_fail(c, c->local_err, "%s", c->local_errmsg);
		if (f->type == SRDMA_FRAME_OPEN)
			return on_open_reply(c, &f->u.open);
		if (!c->got_open || (f->type != SRDMA_FRAME_QP && f->type != SRDMA_FRAME_READY))
			return protocol_error(c, "expected OPEN, QP and READY, got", f->type);
		if (f->type == SRDMA_FRAME_QP)
			return take_qp_frame(c, &f->u.qp);
		if (!all_qp_frames(c))
			return protocol_error(c, "QP frames missing before", f->type);
		return connector_finish(c);
	case SRDMA_CM_READY:
		/* Listener: its QPs at RTS; the connector's READY means its QPs are too. */
		if (f->type != SRDMA_FRAME_READY)
			return protocol_error(c, "expected READY, got", f->type);
		c->got_ready = 1;
		established(c);
		return 0;
	case SRDMA_CM_ESTABLISHED:
		return on_established_frame(c, f);
	default:
		return protocol_error(c, "unexpected", f->type);
	}
}

/* ---- Driving a connection --------------------------------------------------------------- */

int srdma__conn_tcp_start(struct srdma_conn *c)
{
	int ret = -ECONNREFUSED;

	for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
		ret = srdma_tcp_connect_start(c->ai_cur, &c->fd);
		if (!ret)
			return 0;
	}
	return srdma__conn_fail(c, ret, "cannot connect to %s port %u: %s", c->host, c->port,
				strerror(-ret));
}

/* Connector: 1 once TCP is up (TLS started), 0 while connecting, negative errno. */
static int tcp_step(struct srdma_conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLOUT};
	int ret;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	ret = srdma_tcp_connect_result(c->fd);
	if (ret) {
		close(c->fd);
		c->fd = -1;
		if (c->ai_cur->ai_next) {
			c->ai_cur = c->ai_cur->ai_next;
			return srdma__conn_tcp_start(c);
		}
		return srdma__conn_fail(c, ret, "cannot connect to %s port %u: %s", c->host,
					c->port, strerror(-ret));
	}
	srdma__conn_step(c, SRDMA_STEP_TCP);
	srdma_tcp_peer_name(c->fd, c->peer.addr, sizeof(c->peer.addr));
	ret = srdma_tls_create(c->ctx->tls_client, c->fd, c->server_name, &c->tls);
	c->fd = -1; /* the TLS session owns it now, also after a failure */
	if (ret)
		return srdma__conn_fail(c, ret, "cannot set up TLS for server name \"%s\"",
					c->server_name);
	/* A ticket of this peer, if the context holds one (a failure: a full handshake). */
	(void)srdma_tls_resume_peer(c->tls, c->host, c->port, c->server_name);
	srdma_chan_init(&c->chan, c->tls);
	c->state = SRDMA_CM_TLS;
	return 1;
}

/* 1 once the handshake is done (and the connector's first flight queued), 0 while it runs. */
static int tls_step(struct srdma_conn *c)
{
	int ret = srdma_tls_handshake(c->tls);

	if (ret == -EAGAIN)
		return 0;
	if (ret && c->is_server)
		return srdma__conn_fail(c, ret == -ECONNRESET ? ret : -EPROTO, "%s",
					srdma_tls_errmsg(c->tls));
	if (ret)
		return srdma__conn_fail(c, ret == -ECONNRESET ? ret : -EPROTO, "%s (%s port %u)",
					srdma_tls_errmsg(c->tls), c->host, c->port);
	srdma__conn_step(c, SRDMA_STEP_TLS);
	srdma_tls_peer(c->tls, &c->peer);
	c->state = SRDMA_CM_OPEN;
	if (!c->is_server && connector_open(c))
		return c->error;
	return 1;
}

static int check_deadline(struct srdma_conn *c)
{
	if (c->error || !c->deadline_ns || srdma__cm_now_ns() < c->deadline_ns)
		return c->error;
	if (c->local_err)
		return srdma__conn_fail(c, c->local_err, "%s", c->local_errmsg);
	return srdma__conn_fail_peer(c, SRDMA_ERR_TIMEOUT, -ETIMEDOUT,
				     "connection set-up not finished within %u ms", c->timeout_ms);
}

static int pump(struct srdma_conn *c);

/* A set-up that failed frees its RDMA resources at once, not at srdma_conn_close. */
int srdma__conn_pump(struct srdma_conn *c)
{
	int ret = pump(c);

	if (ret && !c->was_established && c->pd)
		(void)srdma__rdma_release(c);
	return ret;
}

static int pump(struct srdma_conn *c)
{
	struct srdma_frame f;
	int ret;

	if (c->error)
		return c->error;
	if (c->state == SRDMA_CM_TCP && tcp_step(c) <= 0)
		return check_deadline(c);
	if (c->state == SRDMA_CM_TLS && tls_step(c) <= 0)
		return check_deadline(c);
	if (srdma_chan_out_pending(&c->chan)) {
		ret = srdma_chan_flush(&c->chan);
		if (ret && ret != -EAGAIN)
			return chan_error(c, ret);
	}
	while (!c->error && c->ev_len < SRDMA_CM_EVENTS) {
		ret = srdma_chan_recv(&c->chan, &f);
		if (ret == 0)
			break;
		if (ret < 0)
			return chan_error(c, ret);
		srdma__conn_heard(c);
		on_frame(c, &f);
	}
	if (c->state == SRDMA_CM_ESTABLISHED && !c->error)
		(void)heartbeat_tick(c);
	/* What the frames queued (QP frames, READY) goes out now rather than at the next wake. */
	if (!c->error && srdma_chan_out_pending(&c->chan)) {
		ret = srdma_chan_flush(&c->chan);
		if (ret && ret != -EAGAIN)
			return chan_error(c, ret);
	}
	return check_deadline(c);
}

/* ---- Creating and closing ----------------------------------------------------------------- */

struct srdma_conn *srdma__conn_new(struct srdma_ctx *ctx, int is_server, unsigned timeout_ms)
{
	struct srdma_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->is_server = is_server;
	c->fd = -1;
	c->dp_mode = ctx->opts.dataplane;
	c->timeout_ms = timeout_ms;
	c->max_qps = SRDMA_MAX_QPS;
	c->start_ns = srdma__cm_now_ns();
	c->step_ns[SRDMA_STEP_TCP] = c->start_ns; /* the listener's TCP is up at once */
	c->deadline_ns = c->start_ns + (uint64_t)timeout_ms * 1000000ull;
	atomic_fetch_add(&ctx->nobjects, 1);
	return c;
}

int srdma__conn_accepted(struct srdma_listener *l, int fd, struct srdma_conn **out, char *err,
			 size_t errlen)
{
	struct srdma_conn *c = srdma__conn_new(l->ctx, 1, l->opts.handshake_timeout_ms);
	int ret;

	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->listener = l;
	c->max_qps = l->max_qps;
	c->add_template = l->opts.qp;
	srdma_tcp_peer_name(fd, c->peer.addr, sizeof(c->peer.addr));
	ret = srdma_tls_create(l->ctx->tls_server, fd, NULL, &c->tls);
	if (ret) {
		snprintf(err, errlen, "cannot set up TLS for %s: %s", c->peer.addr, strerror(-ret));
		srdma_conn_close(c);
		return ret;
	}
	srdma_chan_init(&c->chan, c->tls);
	c->state = SRDMA_CM_TLS;
	*out = c;
	return 0;
}

int srdma_conn_close(struct srdma_conn *c)
{
	int first;
	unsigned i;

	if (!c)
		return 0;
	if (c->state == SRDMA_CM_ESTABLISHED && !c->error) {
		/* Messages the application sent must not be lost to our own QP's destruction. */
		uint64_t deadline = srdma__cm_now_ns() + SRDMA_CM_CLOSE_DRAIN_MS * 1000000ull;

		for (i = 0; i < c->nqp; i++)
			if (c->qp[i].mq)
				srdma__msgq_drain(c, &c->qp[i], deadline);
	}
	if (c->tls) {
		if (c->state == SRDMA_CM_ESTABLISHED) {
			struct srdma_frame f = {.type = SRDMA_FRAME_CLOSE};

			(void)srdma_chan_send(&c->chan, &f);
		} else if (srdma_chan_out_pending(&c->chan)) {
			(void)srdma_chan_flush(&c->chan); /* an ERROR frame, best effort */
		}
		srdma_tls_close_notify(c->tls);
	}
	first = srdma__rdma_release(c);
	if (c->pd)
		first = -EBUSY; /* the application's MRs keep it: leaked */
	if (c->has_slot)
		srdma__ctx_slot_put(c->ctx);
	srdma_tls_destroy(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	if (c->ai_list)
		freeaddrinfo(c->ai_list);
	atomic_fetch_sub(&c->ctx->nobjects, 1);
	free(c);
	return first;
}

/* ---- Using a connection ----------------------------------------------------------------- */

int srdma_conn_process(struct srdma_conn *c, struct srdma_event *ev)
{
	int ret = 0;

	if (!c->ev_len)
		ret = srdma__conn_pump(c);
	if (c->ev_len) {
		*ev = c->events[c->ev_head];
		c->ev_head = (c->ev_head + 1) % SRDMA_CM_EVENTS;
		c->ev_len--;
		return 1;
	}
	return ret;
}

int srdma_conn_fd(const struct srdma_conn *c)
{
	return c->tls ? srdma_tls_fd(c->tls) : c->fd;
}

short srdma_conn_poll_events(const struct srdma_conn *c)
{
	if (c->state == SRDMA_CM_TCP)
		return POLLOUT;
	if (c->state == SRDMA_CM_TLS)
		return srdma_tls_want_write(c->tls) ? POLLOUT : POLLIN;
	return (short)(POLLIN | (c->tls && srdma_chan_out_pending(&c->chan) ? POLLOUT : 0));
}

int srdma_conn_timeout_ms(const struct srdma_conn *c)
{
	uint64_t now, at, silent;

	if (c->deadline_ns) {
		/* A set-up's deadline is on the precise clock, as check_deadline reads it. */
		now = srdma__cm_now_ns();
		at = c->deadline_ns;
	} else if (c->state == SRDMA_CM_ESTABLISHED && !c->error && c->next_ping_ns) {
		at = ping_due_ns(c);
		silent = c->last_rx_ns + silence_bound_ns(c);
		if (silent < at)
			at = silent;
		/* From the plain coarse time, so the wake-up is never early (liveness.h). */
		return srdma__live_wait_ms(srdma__cm_coarse_ns(), c->ctx->tick_ns, at);
	} else {
		return -1;
	}
	return srdma__live_wait_ms(now, 0, at);
}
