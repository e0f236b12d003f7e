/* One client session: set-up over TLS, the completion and message plumbing of its RC QP
 * (the requests themselves are in client_ops.c), and the control channel, watched for the
 * server's errors while waiting. */
#include <errno.h>
#include <netdb.h>
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

#include <srdma/chan.h>
#include <srdma/client.h>
#include <srdma/crypto.h>
#include <srdma/dataplane.h>
#include <srdma/net.h>
#include <srdma/psn.h>
#include <srdma/tls.h>
#include <srdma/verbs.h>

#include "client_internal.h"
#include "spin.h"

uint64_t srdma__client_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* End the current set-up step: its duration goes to *us (srdma_client_get_timing). */
static void lap(struct srdma_client *cl, uint64_t *us)
{
	uint64_t now = srdma__client_now_ns();

	*us = (now - cl->lap_ns) / 1000;
	cl->lap_ns = now;
}

int srdma__client_fail(struct srdma_client *cl, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cl->errmsg, sizeof(cl->errmsg), fmt, ap);
	va_end(ap);
	return ret;
}

void srdma__client_arm_deadline(struct srdma_client *cl)
{
	cl->deadline_ns = srdma__client_now_ns() + (uint64_t)cl->cfg.timeout_ms * 1000000ull;
}

static int remaining_ms(const struct srdma_client *cl)
{
	uint64_t now = srdma__client_now_ns();

	if (now >= cl->deadline_ns)
		return 0;
	return (int)((cl->deadline_ns - now + 999999) / 1000000);
}

/* What an ERROR frame from the server means for the caller. */
static int server_error(struct srdma_client *cl, const struct srdma_error *e)
{
	static const struct {
		uint16_t code;
		int err;
	} map[] = {
	    {SRDMA_ERR_SERVER_FULL, -EBUSY},  {SRDMA_ERR_VERSION, -EPROTONOSUPPORT},
	    {SRDMA_ERR_PROTOCOL, -EPROTO},    {SRDMA_ERR_RESOURCES, -EAGAIN},
	    {SRDMA_ERR_SHUTDOWN, -ESHUTDOWN}, {SRDMA_ERR_TIMEOUT, -ETIMEDOUT},
	    {SRDMA_ERR_FEATURE, -ENOTSUP},    {SRDMA_ERR_RDMA, -EIO},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].code == e->code)
			return srdma__client_fail(cl, map[i].err, "server: %s", e->msg);
	return srdma__client_fail(cl, -EIO, "server error %u: %s", e->code, e->msg);
}

static int chan_failed(struct srdma_client *cl, int ret)
{
	if (ret == -ECONNRESET)
		return srdma__client_fail(cl, -ECONNRESET, "the server closed the connection");
	return srdma__client_fail(cl, ret, "control channel: %s", cl->chan.errmsg);
}

/* Wait for the socket as TLS asks, until the deadline. */
static int wait_tls(struct srdma_client *cl)
{
	struct pollfd p = {.fd = srdma_tls_fd(cl->tls)};
	int n;

	p.events = srdma_tls_want_write(cl->tls) ? POLLOUT : POLLIN;
	do {
		n = poll(&p, 1, remaining_ms(cl));
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	return n < 0 ? -errno : 0;
}

static int send_frame(struct srdma_client *cl, const struct srdma_frame *f)
{
	int ret = srdma_chan_send(&cl->chan, f);

	while (ret == -EAGAIN) {
		ret = wait_tls(cl);
		if (ret)
			return srdma__client_fail(cl, ret, "timed out sending %s",
						  srdma_frame_type_name(f->type));
		ret = srdma_chan_flush(&cl->chan);
	}
	if (ret == -ECONNRESET || ret == -EPIPE) {
		struct srdma_frame e;

		/* The server closed while we were busy: it may have said why before it did. */
		if (srdma_chan_recv(&cl->chan, &e) == 1 && e.type == SRDMA_FRAME_ERROR)
			return server_error(cl, &e.u.error);
	}
	return ret ? chan_failed(cl, ret) : 0;
}

/* Receive the next frame; an ERROR frame becomes the session's error. */
static int recv_frame(struct srdma_client *cl, struct srdma_frame *f, enum srdma_frame_type want)
{
	int ret;

	for (;;) {
		ret = srdma_chan_recv(&cl->chan, f);
		if (ret == 1)
			break;
		if (ret < 0)
			return chan_failed(cl, ret);
		ret = wait_tls(cl);
		if (ret)
			return srdma__client_fail(cl, ret, "no %s from the server within %u ms",
						  srdma_frame_type_name(want), cl->cfg.timeout_ms);
	}
	if (f->type == SRDMA_FRAME_ERROR)
		return server_error(cl, &f->u.error);
	if (f->type != want)
		return srdma__client_fail(cl, -EPROTO, "protocol error: expected %s, got %s",
					  srdma_frame_type_name(want),
					  srdma_frame_type_name(f->type));
	return 0;
}

static int setup_tls(struct srdma_client *cl)
{
	struct srdma_tls_client_opts o = {
	    .ca = cl->cfg.ca,
	    .cert = cl->cfg.cert,
	    .key = cl->cfg.key,
	    .min_version = cl->cfg.tls_min,
	};
	const char *name = cl->cfg.server_name[0] ? cl->cfg.server_name : cl->cfg.host;
	int fd = -1, ret;

	ret = srdma_tls_ctx_client_create(&o, &cl->tls_ctx, cl->errmsg, sizeof(cl->errmsg));
	if (ret)
		return ret;
	lap(cl, &cl->timing.tls_ctx_us);
	ret = srdma_tcp_connect(cl->cfg.host, cl->cfg.port, remaining_ms(cl), &fd, cl->errmsg,
				sizeof(cl->errmsg));
	if (ret)
		return ret;
	lap(cl, &cl->timing.tcp_us);
	ret = srdma_tls_create(cl->tls_ctx, fd, name, &cl->tls);
	if (ret)
		return srdma__client_fail(cl, ret, "cannot set up TLS for server name \"%s\"",
					  name);
	srdma_chan_init(&cl->chan, cl->tls);
	while ((ret = srdma_tls_handshake(cl->tls)) == -EAGAIN) {
		ret = wait_tls(cl);
		if (ret)
			return srdma__client_fail(
			    cl, ret, "TLS handshake with %s did not finish within %u ms",
			    cl->cfg.host, cl->cfg.timeout_ms);
	}
	if (ret)
		return srdma__client_fail(cl, ret, "%s", srdma_tls_errmsg(cl->tls));
	srdma_tls_describe(cl->tls, cl->info.tls, sizeof(cl->info.tls));
	lap(cl, &cl->timing.tls_us);
	return 0;
}

static int setup_rdma(struct srdma_client *cl)
{
	struct srdma_ep_opts opts = {0};
	uint32_t max_msg = cl->cfg.size;
	int ret;

	ret = srdma_dev_open(cl->cfg.device, cl->cfg.ib_port, cl->cfg.gid_index, &cl->dev,
			     cl->errmsg, sizeof(cl->errmsg));
	if (ret)
		return ret;
	/* Room for every receive, send and write that can be outstanding at once, twice over. */
	ret = srdma_cq_create(cl->dev, 2 * 3 * (int)cl->cfg.depth, NULL, &cl->cq);
	if (ret)
		return srdma__client_fail(cl, ret, "cannot create a completion queue on %s: %s",
					  cl->dev->name, strerror(-ret));
	if (max_msg < SRDMA_MSG_TEXT_MAX)
		max_msg = SRDMA_MSG_TEXT_MAX;
	opts.max_msg = max_msg;
	opts.recv_depth = cl->cfg.depth;
	opts.send_depth = cl->cfg.depth;
	opts.write_depth = cl->cfg.depth;
	opts.write_len = cl->cfg.writes ? cl->cfg.size : 0;
	opts.write_remote = 0;
	cl->rxq.cap = cl->cfg.depth;
	cl->rxq.wc = calloc(cl->rxq.cap, sizeof(*cl->rxq.wc));
	if (!cl->rxq.wc)
		return srdma__client_fail(cl, -ENOMEM, "out of memory");
	return srdma_ep_create(cl->dev, cl->cq, NULL, &opts, &cl->ep, cl->errmsg,
			       sizeof(cl->errmsg));
}

static int check_remote_params(struct srdma_client *cl, const struct srdma_params *p)
{
	if (p->qpn == 0)
		return srdma__client_fail(cl, -EPROTO, "protocol error: server sent QPN 0");
	if (cl->cfg.size > p->max_msg && cl->cfg.count)
		return srdma__client_fail(
		    cl, -EMSGSIZE,
		    "message size %u exceeds the server's limit of %u bytes (lower -s)",
		    cl->cfg.size, p->max_msg);
	if (cl->cfg.writes && cl->cfg.size > p->write_len)
		return srdma__client_fail(
		    cl, -EMSGSIZE,
		    "write size %u exceeds the server's RDMA-write region of %u bytes "
		    "(lower -s)",
		    cl->cfg.size, p->write_len);
	return 0;
}

/* A frame arrived on the control channel while the data plane was in use: after set-up the
 * server only speaks there to end the session. */
static int check_control(struct srdma_client *cl)
{
	struct srdma_frame f;
	int ret = srdma_chan_recv(&cl->chan, &f);

	if (ret == 0)
		return 0;
	if (ret < 0)
		return chan_failed(cl, ret);
	if (f.type == SRDMA_FRAME_ERROR)
		return server_error(cl, &f.u.error);
	return srdma__client_fail(cl, -EPROTO, "protocol error: unexpected %s frame after set-up",
				  srdma_frame_type_name(f.type));
}

/* The control channel closed or failed. The server closes it right after its last message
 * (BYE) is acknowledged, so that message may already wait in the CQ: let the caller poll the CQ
 * once more before the loss counts. */
static int control_lost(struct srdma_client *cl, int ret)
{
	if (cl->ctrl_lost)
		return cl->ctrl_lost;
	cl->ctrl_lost = ret;
	return 0;
}

/* Sleep until the CQ channel or the control socket has something, or the deadline. */
static int sleep_on_events(struct srdma_client *cl)
{
	struct pollfd p[2] = {
	    {.fd = srdma_cq_fd(cl->cq), .events = POLLIN},
	    {.fd = srdma_tls_fd(cl->tls), .events = POLLIN},
	};
	int n, ret;

	if (cl->ctrl_lost)
		return cl->ctrl_lost;
	if (cl->chan.in_len || srdma_tls_pending(cl->tls)) {
		ret = check_control(cl);
		if (ret)
			return control_lost(cl, ret);
	}
	do {
		n = poll(p, 2, remaining_ms(cl));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return srdma__client_fail(cl, -errno, "poll: %s", strerror(errno));
	if (n == 0)
		return srdma__client_fail(cl, -ETIMEDOUT, "no answer from the server within %u ms",
					  cl->cfg.timeout_ms);
	if (p[0].revents) {
		while (srdma_cq_take_event(cl->cq))
			;
		cl->armed = 0;
	}
	if (p[1].revents) {
		ret = check_control(cl);
		if (ret)
			return control_lost(cl, ret);
	}
	return 0;
}

/* Take the next successful work completion, busy-polling, then sleeping. The spin adapts to
 * how long answers take (srdma__spin_after_sleep), within busy_poll_us. */
static int next_wc(struct srdma_client *cl, struct ibv_wc *wc)
{
	uint64_t max_ns = (uint64_t)cl->cfg.busy_poll_us * 1000, start = 0;
	int n, ret, slept = 0;

	for (;;) {
		n = ibv_poll_cq(cl->cq->cq, 1, wc);
		if (n < 0)
			return srdma__client_fail(cl, -EIO, "cannot poll the completion queue");
		if (n == 1)
			break;
		if (!start)
			start = srdma__client_now_ns();
		if (!slept && srdma__client_now_ns() - start < cl->spin_ns)
			continue;
		slept = 1;
		if (!cl->armed) {
			ret = srdma_cq_arm(cl->cq);
			if (ret)
				return srdma__client_fail(cl, ret,
							  "cannot arm the completion queue");
			/* Poll once more: a completion may have landed before the arm. */
			cl->armed = 1;
			continue;
		}
		ret = sleep_on_events(cl);
		if (ret)
			return ret;
	}
	if (slept)
		cl->spin_ns =
		    srdma__spin_after_sleep(cl->spin_ns, max_ns, srdma__client_now_ns() - start);
	if (wc->status != IBV_WC_SUCCESS) {
		const char *what = SRDMA_WR_KIND(wc->wr_id) == SRDMA_WR_WRITE  ? "write"
				   : SRDMA_WR_KIND(wc->wr_id) == SRDMA_WR_SEND ? "send"
									       : "receive";
		char local[128];

		snprintf(local, sizeof(local), "RDMA %s failed: %s", what,
			 ibv_wc_status_str(wc->status));
		/* The server may have said why on the control channel: report both. */
		if (!cl->ctrl_lost && check_control(cl) < 0 && cl->errmsg[0]) {
			char server[sizeof(cl->errmsg)];

			snprintf(server, sizeof(server), "%s", cl->errmsg);
			return srdma__client_fail(cl, -EIO, "%s (%s)", local, server);
		}
		return srdma__client_fail(cl, -EIO, "%s", local);
	}
	return 0;
}

/* Take the next completion and account for it: a send or write slot frees up, or a message
 * joins the receive queue. */
int srdma__client_reap(struct srdma_client *cl)
{
	struct ibv_wc wc;
	unsigned covered;
	int ret;

	ret = next_wc(cl, &wc);
	if (ret)
		return ret;
	switch (SRDMA_WR_KIND(wc.wr_id)) {
	case SRDMA_WR_SEND:
		/* A list's completion stands for all of its sends (flush_sends). */
		covered = SRDMA_WR_SLOT(wc.wr_id) >> 16;
		if (!covered || covered > cl->sends_inflight)
			return srdma__client_fail(cl, -EIO,
						  "more sends completed than were posted");
		cl->sends_inflight -= covered;
		return 0;
	case SRDMA_WR_WRITE:
		cl->writes_inflight--;
		return 0;
	case SRDMA_WR_RECV:
		/* Only recv_depth receives are ever posted, so the queue cannot overflow. */
		if (cl->rxq.len == cl->rxq.cap)
			return srdma__client_fail(cl, -EIO,
						  "more receives completed than were posted");
		cl->rxq.wc[(cl->rxq.head + cl->rxq.len++) % cl->rxq.cap] = wc;
		return 0;
	default:
		return srdma__client_fail(cl, -EIO, "unexpected completion");
	}
}

/* Post the staged messages as one list; the completion of the last stands for all (its
 * wr_id carries how many, above the slot). */
static int flush_sends(struct srdma_client *cl)
{
	unsigned n = cl->staged;
	int ret;

	if (!n)
		return 0;
	cl->staged = 0;
	ret = srdma_ep_post_sends(cl->ep, cl->staged_slot, cl->staged_len, n,
				  SRDMA_WR_ID(SRDMA_WR_SEND, cl->staged_slot[n - 1] | n << 16));
	if (ret)
		return srdma__client_fail(cl, ret, "cannot post a send: %s", strerror(-ret));
	cl->sends_inflight += n;
	return 0;
}

/* Wait for the next message from the server; *slot must be reposted with srdma__client_repost()
 * after use. Staged messages are posted first: the answer may depend on them. */
int srdma__client_wait_msg(struct srdma_client *cl, struct srdma_msg *m, unsigned *slot)
{
	struct ibv_wc wc;
	int ret;

	ret = flush_sends(cl);
	if (ret)
		return ret;

	while (!cl->rxq.len) {
		ret = srdma__client_reap(cl);
		if (ret)
			return ret;
	}
	wc = cl->rxq.wc[cl->rxq.head];
	cl->rxq.head = (cl->rxq.head + 1) % cl->rxq.cap;
	cl->rxq.len--;
	*slot = SRDMA_WR_SLOT(wc.wr_id);
	ret = srdma_dp_get(&cl->dp, srdma_ep_recv_slot(cl->ep, *slot), wc.byte_len,
			   cl->ep->slot_size - SRDMA_MSG_HDR_LEN - SRDMA_MSG_TRAILER_MAX, m);
	if (ret)
		return srdma__client_fail(cl, -EPROTO, "from the server: %s", cl->dp.errmsg);
	return 0;
}

int srdma__client_repost(struct srdma_client *cl, unsigned slot)
{
	int ret = srdma_ep_post_recv(cl->ep, slot);

	return ret ? srdma__client_fail(cl, ret, "cannot repost a receive: %s", strerror(-ret)) : 0;
}

/* Wait for a message of type want, which the caller must release with srdma__client_repost(). */
int srdma__client_expect(struct srdma_client *cl, enum srdma_msg_type want, struct srdma_msg *m,
			 unsigned *slot)
{
	int ret;

	srdma__client_arm_deadline(cl);
	ret = srdma__client_wait_msg(cl, m, slot);
	if (ret)
		return ret;
	if (m->type != want)
		return srdma__client_fail(cl, -EPROTO, "protocol error: expected %s, got %s",
					  srdma_msg_type_name(want), srdma_msg_type_name(m->type));
	return 0;
}

/* Encode (and seal) m into the next send slot; flush_sends() posts it. */
int srdma__client_stage(struct srdma_client *cl, struct srdma_msg *m)
{
	unsigned slot;
	ssize_t n;
	int ret;

	/* Slots are used in turn, so the oldest send must have completed. Messages that arrive
	 * meanwhile wait in the receive queue. */
	while (cl->sends_inflight + cl->staged >= cl->ep->send_depth) {
		ret = flush_sends(cl);
		if (!ret)
			ret = srdma__client_reap(cl);
		if (ret)
			return ret;
	}
	slot = cl->dp.tx_seq % cl->ep->send_depth;
	n = srdma_dp_put(&cl->dp, m, srdma_ep_send_slot(cl->ep, slot), cl->ep->slot_size);
	if (n < 0)
		return srdma__client_fail(cl, (int)n, "%s", cl->dp.errmsg);
	cl->staged_slot[cl->staged] = slot;
	cl->staged_len[cl->staged++] = (uint32_t)n;
	return cl->staged == SRDMA_POST_LIST_MAX ? flush_sends(cl) : 0;
}

int srdma__client_send(struct srdma_client *cl, struct srdma_msg *m)
{
	int ret = srdma__client_stage(cl, m);

	return ret ? ret : flush_sends(cl);
}

static int wait_welcome(struct srdma_client *cl)
{
	struct srdma_msg m;
	unsigned slot;
	int ret;

	ret = srdma__client_expect(cl, SRDMA_MSG_WELCOME, &m, &slot);
	if (ret)
		return ret;
	memcpy(cl->info.welcome, m.payload, m.len);
	cl->info.welcome[m.len] = '\0';
	return srdma__client_repost(cl, slot);
}

int srdma_client_idle(struct srdma_client *cl, unsigned ms)
{
	uint64_t end = srdma__client_now_ns() + (uint64_t)ms * 1000000ull;
	struct pollfd p = {.fd = srdma_tls_fd(cl->tls), .events = POLLIN};

	for (;;) {
		uint64_t now = srdma__client_now_ns();
		int n, ret;

		if (now >= end)
			return 0;
		n = poll(&p, 1, (int)((end - now + 999999) / 1000000));
		if (n < 0 && errno == EINTR)
			return srdma__client_fail(cl, -EINTR, "idle interrupted by a signal");
		if (n < 0)
			return srdma__client_fail(cl, -errno, "poll: %s", strerror(errno));
		if (n > 0) {
			ret = check_control(cl);
			if (ret)
				return ret;
		}
	}
}

/* Requests one session may have in flight: the receives each side keeps posted bound it. */
static unsigned window(const struct srdma_client *cl)
{
	return cl->cfg.depth < cl->remote.recv_depth ? cl->cfg.depth : cl->remote.recv_depth;
}

int srdma_client_connect(const struct srdma_client_config *cfg, struct srdma_client **out,
			 char *err, size_t errlen)
{
	struct srdma_client *cl;
	struct srdma_frame f;
	uint64_t t0 = srdma__client_now_ns();
	int ret;

	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->cfg = *cfg;
	cl->spin_ns = (uint64_t)cfg->busy_poll_us * 1000;
	cl->lap_ns = t0;
	srdma_dp_init(&cl->dp, (enum srdma_dp_mode)cfg->dataplane);
	srdma__client_arm_deadline(cl);

	ret = setup_tls(cl);
	if (ret)
		goto err;

	srdma__client_arm_deadline(cl);
	ret = srdma_psn_generate(&cl->info.local_psn);
	if (ret) {
		srdma__client_fail(cl, ret, "cannot draw a PSN from the random generator");
		goto err;
	}
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_HELLO;
	f.u.hello.psn = cl->info.local_psn;
	f.u.hello.features = srdma_dp_features((enum srdma_dp_mode)cfg->dataplane);
	ret = send_frame(cl, &f);
	if (!ret)
		ret = recv_frame(cl, &f, SRDMA_FRAME_HELLO);
	if ((ret == -EPROTO && strstr(cl->errmsg, "alert")) || ret == -ECONNRESET) {
		/* With TLS 1.3 a refused client certificate shows up here, after the handshake. */
		char why[sizeof(cl->errmsg)];

		snprintf(why, sizeof(why), "%s", cl->errmsg);
		srdma__client_fail(cl, ret,
				   "%s: the server refused the TLS session; if it requires client "
				   "certificates, give one its CA signed (--cert, --key)",
				   why);
	}
	if (ret)
		goto err;
	if (f.u.hello.features != srdma_dp_features((enum srdma_dp_mode)cfg->dataplane)) {
		ret = srdma__client_fail(cl, -ENOTSUP,
					 "the server answered with another data-plane mode");
		goto err;
	}
	cl->info.remote_psn = f.u.hello.psn;
	lap(cl, &cl->timing.hello_us);

	srdma__client_arm_deadline(cl);
	ret = setup_rdma(cl);
	if (ret) {
		struct srdma_frame e;

		srdma_frame_error(&e, SRDMA_ERR_RESOURCES,
				  "client could not create RDMA resources");
		(void)srdma_chan_send(&cl->chan, &e);
		goto err;
	}
	lap(cl, &cl->timing.resources_us);
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_PARAMS;
	srdma_ep_local_params(cl->ep, &f.u.params);
	ret = send_frame(cl, &f);
	if (!ret)
		ret = recv_frame(cl, &f, SRDMA_FRAME_PARAMS);
	if (!ret)
		ret = check_remote_params(cl, &f.u.params);
	if (ret)
		goto err;
	cl->remote = f.u.params;
	srdma__client_arm_deadline(cl);
	ret = srdma_dp_derive(&cl->dp, cl->tls, 1, cl->ep->qp->qp_num, cl->remote.qpn,
			      cl->info.local_psn, cl->info.remote_psn);
	if (ret) {
		srdma__client_fail(cl, ret, "%s", cl->dp.errmsg);
		goto err;
	}
	lap(cl, &cl->timing.params_us);
	ret = srdma_ep_connect(cl->ep, &cl->remote, cl->info.local_psn, cl->info.remote_psn,
			       cl->errmsg, sizeof(cl->errmsg));
	if (ret)
		goto err;
	lap(cl, &cl->timing.qp_us);
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_READY;
	ret = send_frame(cl, &f);
	if (!ret)
		ret = recv_frame(cl, &f, SRDMA_FRAME_READY);
	if (ret)
		goto err;
	cl->info.connect_us = (srdma__client_now_ns() - t0) / 1000;
	lap(cl, &cl->timing.ready_us);

	srdma__client_arm_deadline(cl);
	ret = wait_welcome(cl);
	if (ret)
		goto err;
	lap(cl, &cl->timing.welcome_us);
	cl->timing.total_us = (cl->lap_ns - t0) / 1000;
	cl->info.server_max_msg = cl->remote.max_msg;
	cl->info.server_write_len = cl->remote.write_len;
	cl->info.window = window(cl);
	snprintf(cl->info.device, sizeof(cl->info.device), "%s", cl->dev->name);
	cl->info.gid_index = cl->dev->gid_index;
	cl->info.path_mtu = 128 << cl->ep->mtu;
	cl->info.dataplane = cfg->dataplane;
	cl->info.local_qpn = cl->ep->qp->qp_num;
	*out = cl;
	return 0;

err:
	if (errlen)
		snprintf(err, errlen, "%s", cl->errmsg[0] ? cl->errmsg : strerror(-ret));
	srdma_client_close(cl);
	return ret;
}

void srdma_client_close(struct srdma_client *cl)
{
	if (!cl)
		return;
	/* Reverse order of creation: QP and MRs and PD, CQ, device, then TLS. */
	srdma_dp_cleanup(&cl->dp);
	srdma_ep_destroy(cl->ep);
	srdma_cq_destroy(cl->cq);
	srdma_dev_close(cl->dev);
	if (cl->tls)
		srdma_tls_close_notify(cl->tls);
	srdma_tls_destroy(cl->tls);
	srdma_tls_ctx_destroy(cl->tls_ctx);
	free(cl->rxq.wc);
	free(cl);
}

void srdma_client_get_info(const struct srdma_client *cl, struct srdma_client_info *out)
{
	*out = cl->info;
}

void srdma_client_get_timing(const struct srdma_client *cl, struct srdma_client_timing *out)
{
	*out = cl->timing;
}

const char *srdma_client_errmsg(const struct srdma_client *cl)
{
	return cl->errmsg;
}

void srdma_client_get_remote(const struct srdma_client *cl, struct srdma_params *out)
{
	*out = cl->remote;
}
