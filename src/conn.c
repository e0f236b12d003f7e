/* One server-side connection, end to end: TLS handshake, HELLO/PARAMS/READY on the control
 * channel, the hand-made RC connection, and the data plane (echo, write verification, ping,
 * quit). Runs only on the worker thread that owns the connection. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/epoll.h>

#include <srdma/crypto.h>
#include <srdma/dataplane.h>
#include <srdma/log.h>
#include <srdma/msg.h>

#include "ratelimit.h"
#include "server_internal.h"

static const char *state_name(enum srdma_conn_state s)
{
	switch (s) {
	case SRDMA_CONN_TLS:
		return "TLS handshake";
	case SRDMA_CONN_HELLO:
		return "HELLO";
	case SRDMA_CONN_PARAMS:
		return "PARAMS";
	case SRDMA_CONN_READY:
		return "READY";
	case SRDMA_CONN_ESTABLISHED:
		return "established";
	case SRDMA_CONN_CLOSED:
		return "closed";
	}
	return "?";
}

int srdma__conn_create(struct srdma_worker *w, int fd, struct srdma_conn **out)
{
	struct srdma_server *srv = w->srv;
	struct srdma_conn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->w = w;
	c->id = atomic_fetch_add(&srv->next_conn_id, 1) + 1;
	c->state = SRDMA_CONN_TLS;
	c->watch.kind = SRDMA_WATCH_CONN;
	c->watch.ptr = c;
	c->deadline_ms = srdma__now_ms() + srv->cfg.handshake_timeout_ms;
	srdma__peer_name(fd, c->peer, sizeof(c->peer));
	ret = srdma_tls_create(srv->tls_ctx, fd, NULL, &c->tls);
	if (ret) {
		free(c);
		return ret;
	}
	srdma_chan_init(&c->chan, c->tls);
	srdma_dp_init(&c->dp, (enum srdma_dp_mode)srv->cfg.dataplane);
	*out = c;
	return 0;
}

/* Read and drop what the peer sent that we never read, so that close() sends FIN, not RST: an
 * RST makes the peer's kernel drop our last bytes (an ERROR frame, a TLS alert) unread. */
static void drain_input(int fd)
{
	char buf[4096];
	int i;

	for (i = 0; i < 16 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
}

static void free_conn(struct srdma_conn *c)
{
	struct srdma_worker *w = c->w;
	int ret;

	if (c->ep) {
		srdma__worker_qp_remove(w, c);
		ret = srdma_ep_destroy(c->ep);
		if (ret) {
			srdma_err("client #%llu: cannot free its RDMA resources: %s",
				  (unsigned long long)c->id, strerror(-ret));
			if (!w->result)
				w->result = ret;
		}
		w->cq_budget += c->cq_share;
	}
	if (c->has_slot)
		srdma_registry_release(w->srv->reg, c->slot);
	srdma_dp_cleanup(&c->dp);
	drain_input(srdma_tls_fd(c->tls));
	srdma_tls_destroy(c->tls);
	c->tls = NULL;
	free(c->send_free);
	c->send_free = NULL;
	free(c->held);
	c->held = NULL;
	/* Events for c may still sit in the worker's current epoll batch: the worker frees it
	 * after the batch. */
	c->next = w->dead;
	w->dead = c;
}

void srdma__conn_close(struct srdma_conn *c, uint16_t code, const char *why)
{
	struct srdma_worker *w = c->w;

	if (c->state == SRDMA_CONN_CLOSED)
		return;
	if (c->state != SRDMA_CONN_TLS) {
		if (code) {
			struct srdma_frame f;

			srdma_frame_error(&f, code, "%s", why);
			(void)srdma_chan_send(&c->chan, &f);
		} else {
			(void)srdma_chan_flush(&c->chan);
		}
		/* Best effort: the socket buffer is empty in all but pathological cases, and a
		 * peer that does not read must not keep our resources alive. */
		srdma_tls_close_notify(c->tls);
	}
	c->state = SRDMA_CONN_CLOSED;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	atomic_fetch_sub(&w->nconns, 1);
	atomic_fetch_sub(&w->srv->conns, 1);
	free_conn(c);
}

/* End the session because of something the client did or that failed here. */
static void conn_fail(struct srdma_conn *c, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(struct srdma_conn *c, uint16_t code, const char *fmt, ...)
{
	char why[SRDMA_ERROR_MSG_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	srdma_warn("client #%llu (%s): session ended in state %s: %s", (unsigned long long)c->id,
		   c->peer, state_name(c->state), why);
	srdma__conn_close(c, code, why);
}

static int send_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	int ret = srdma_chan_send(&c->chan, f);

	if (ret == -EAGAIN)
		return 0;
	if (ret) {
		conn_fail(c, 0, "cannot send %s: %s", srdma_frame_type_name(f->type),
			  c->chan.errmsg);
		return ret;
	}
	return 0;
}

/* Encode m (its seq is filled in here) into a free send slot and post it. */
static int post_msg(struct srdma_conn *c, struct srdma_msg *m)
{
	struct srdma_ep *ep = c->ep;
	unsigned slot;
	ssize_t n;
	int ret;

	if (m->len > c->remote.max_msg) {
		conn_fail(c, SRDMA_ERR_PROTOCOL, "reply of %u bytes exceeds the client's limit %u",
			  m->len, c->remote.max_msg);
		return -EMSGSIZE;
	}
	if (!c->send_free_len) {
		conn_fail(c, SRDMA_ERR_PROTOCOL, "client has more than %u requests in flight",
			  ep->send_depth);
		return -ENOBUFS;
	}
	slot = c->send_free[--c->send_free_len];
	n = srdma_dp_put(&c->dp, m, srdma_ep_send_slot(ep, slot), ep->slot_size);
	if (n < 0) {
		c->send_free[c->send_free_len++] = slot;
		conn_fail(c, SRDMA_ERR_INTERNAL, "%s", c->dp.errmsg);
		return (int)n;
	}
	ret = srdma_ep_post_send(ep, slot, (uint32_t)n);
	if (ret) {
		c->send_free[c->send_free_len++] = slot;
		conn_fail(c, SRDMA_ERR_RDMA, "cannot post a send: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static void on_hello(struct srdma_conn *c, const struct srdma_hello *h)
{
	struct srdma_server *srv = c->w->srv;
	struct srdma_frame f = {.type = SRDMA_FRAME_HELLO};
	struct srdma_ep_opts opts = {0};
	enum srdma_dp_mode theirs;
	char err[256];
	unsigned need, i;
	int ret;

	if (srdma_dp_mode_of(h->features, &theirs) || (int)theirs != srv->cfg.dataplane) {
		const char *ours = srdma_dp_mode_name(srv->cfg.dataplane);

		conn_fail(c, SRDMA_ERR_FEATURE,
			  "data-plane mode mismatch: this server uses %s, the client asked for %s "
			  "(use --dataplane %s)",
			  ours,
			  srdma_dp_mode_of(h->features, &theirs) ? "an invalid mode"
								 : srdma_dp_mode_name(theirs),
			  ours);
		return;
	}
	ret = srdma_registry_acquire(srv->reg, &c->slot);
	if (ret == -EBUSY) {
		srdma_info("client #%llu (%s): refused, server full (%u clients)",
			   (unsigned long long)c->id, c->peer, srv->cfg.max_clients);
		srdma__conn_close(c, SRDMA_ERR_SERVER_FULL, "server full: try again later");
		return;
	}
	c->has_slot = 1;
	c->remote_psn = h->psn;
	ret = srdma_registry_assign_psn(srv->reg, c->slot, &c->local_psn);
	if (ret) {
		conn_fail(c, SRDMA_ERR_INTERNAL, "cannot draw a PSN: %s", strerror(-ret));
		return;
	}

	need = 2 * srv->cfg.recv_depth + 1;
	if (need > c->w->cq_budget) {
		conn_fail(c, SRDMA_ERR_RESOURCES, "server busy: completion queue full");
		return;
	}
	opts.max_msg = srv->cfg.max_msg;
	opts.recv_depth = srv->cfg.recv_depth;
	opts.send_depth = srv->cfg.recv_depth;
	opts.write_len = srv->cfg.write_size;
	opts.write_remote = 1;
	opts.qp_context = c;
	ret = srdma_ep_create(srv->dev, c->w->cq, srv->reg, &opts, &c->ep, err, sizeof(err));
	if (ret) {
		srdma_err("client #%llu: %s", (unsigned long long)c->id, err);
		srdma__conn_close(c, SRDMA_ERR_RESOURCES, "server could not create RDMA resources");
		return;
	}
	c->w->cq_budget -= need;
	c->cq_share = need;
	srdma__worker_qp_insert(c->w, c);
	c->send_free = calloc(c->ep->send_depth, sizeof(*c->send_free));
	c->held = calloc(c->ep->recv_depth, sizeof(*c->held));
	if (!c->send_free || !c->held) {
		conn_fail(c, SRDMA_ERR_INTERNAL, "out of memory");
		return;
	}
	for (i = 0; i < c->ep->send_depth; i++)
		c->send_free[c->send_free_len++] = c->ep->send_depth - 1 - i;

	f.u.hello.features = srdma_dp_features((enum srdma_dp_mode)srv->cfg.dataplane);
	f.u.hello.psn = c->local_psn;
	srdma_debug("client #%llu: local PSN %06x, remote PSN %06x", (unsigned long long)c->id,
		    c->local_psn, c->remote_psn);
	if (send_frame(c, &f))
		return;
	f.type = SRDMA_FRAME_PARAMS;
	srdma_ep_local_params(c->ep, &f.u.params);
	if (send_frame(c, &f))
		return;
	c->state = SRDMA_CONN_PARAMS;
}

static void on_params(struct srdma_conn *c, const struct srdma_params *p)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_READY};
	char err[256];
	int ret;

	if (p->qpn == 0 || p->write_len != 0) {
		conn_fail(c, SRDMA_ERR_PROTOCOL, "invalid PARAMS (QPN 0 or a write region)");
		return;
	}
	c->remote = *p;
	ret = srdma_dp_derive(&c->dp, c->tls, 0, p->qpn, c->ep->qp->qp_num, c->remote_psn,
			      c->local_psn);
	if (ret) {
		conn_fail(c, SRDMA_ERR_INTERNAL, "%s", c->dp.errmsg);
		return;
	}
	ret = srdma_ep_connect(c->ep, p, c->local_psn, c->remote_psn, err, sizeof(err));
	if (ret) {
		conn_fail(c, SRDMA_ERR_RDMA, "%s", err);
		return;
	}
	if (send_frame(c, &f))
		return;
	c->state = SRDMA_CONN_READY;
}

static void on_ready(struct srdma_conn *c)
{
	struct srdma_msg m = {.type = SRDMA_MSG_WELCOME};
	char text[SRDMA_MSG_TEXT_MAX];
	int n;

	c->state = SRDMA_CONN_ESTABLISHED;
	c->deadline_ms = 0;
	srdma_info("client #%llu (%s): connected (worker %u, RC QP ready, path MTU %d, data plane "
		   "%s)",
		   (unsigned long long)c->id, c->peer, c->w->id, 128 << c->ep->mtu,
		   c->dp.mode != SRDMA_DP_PLAIN ? "sealed" : "plain");
	n = snprintf(text, sizeof(text), "welcome to secure-rdma, client #%llu",
		     (unsigned long long)c->id);
	m.payload = (const uint8_t *)text;
	m.len = (uint32_t)n;
	(void)post_msg(c, &m);
}

static void on_frame(struct srdma_conn *c, const struct srdma_frame *f)
{
	if (f->type == SRDMA_FRAME_ERROR) {
		srdma_warn("client #%llu (%s): client reported %s: %s", (unsigned long long)c->id,
			   c->peer, srdma_error_code_name(f->u.error.code), f->u.error.msg);
		srdma__conn_close(c, 0, NULL);
		return;
	}
	if (c->state == SRDMA_CONN_HELLO && f->type == SRDMA_FRAME_HELLO)
		on_hello(c, &f->u.hello);
	else if (c->state == SRDMA_CONN_PARAMS && f->type == SRDMA_FRAME_PARAMS)
		on_params(c, &f->u.params);
	else if (c->state == SRDMA_CONN_READY && f->type == SRDMA_FRAME_READY)
		on_ready(c);
	else
		conn_fail(c, SRDMA_ERR_PROTOCOL, "unexpected %s frame in state %s",
			  srdma_frame_type_name(f->type), state_name(c->state));
}

static void on_recv_error(struct srdma_conn *c, int ret)
{
	if (ret == -ECONNRESET) {
		if (c->bye_sent)
			/* The client got our BYE and closed before its send completion was polled.
			 */
			srdma_info("client #%llu (%s): quit after %llu messages",
				   (unsigned long long)c->id, c->peer,
				   (unsigned long long)c->msgs_in);
		else if (c->state == SRDMA_CONN_ESTABLISHED)
			srdma_info("client #%llu (%s): disconnected without QUIT",
				   (unsigned long long)c->id, c->peer);
		else
			srdma_warn("client #%llu (%s): disconnected during %s",
				   (unsigned long long)c->id, c->peer, state_name(c->state));
		srdma__conn_close(c, 0, NULL);
	} else if (ret == -EPROTONOSUPPORT) {
		conn_fail(c, SRDMA_ERR_VERSION,
			  "unsupported protocol version %u (this server speaks version %u)",
			  c->chan.last_hdr.version, SRDMA_PROTO_VERSION);
	} else if (ret == -EBADMSG || ret == -EMSGSIZE) {
		conn_fail(c, SRDMA_ERR_PROTOCOL, "%s", c->chan.errmsg);
	} else {
		srdma_warn("client #%llu (%s): control channel failed: %s",
			   (unsigned long long)c->id, c->peer, c->chan.errmsg);
		srdma__conn_close(c, 0, NULL);
	}
}

void srdma__conn_on_io(struct srdma_conn *c, uint32_t events)
{
	struct srdma_frame f;
	char desc[96];
	int ret;

	if (c->state == SRDMA_CONN_CLOSED)
		return;
	if (c->state == SRDMA_CONN_TLS) {
		ret = srdma_tls_handshake(c->tls);
		if (ret == -EAGAIN) {
			srdma__worker_update_events(c);
			return;
		}
		if (ret) {
			srdma_warn("client #%llu (%s): %s", (unsigned long long)c->id, c->peer,
				   srdma_tls_errmsg(c->tls));
			srdma__conn_close(c, 0, NULL);
			return;
		}
		srdma_info("client #%llu (%s): TLS established (%s)", (unsigned long long)c->id,
			   c->peer, srdma_tls_describe(c->tls, desc, sizeof(desc)));
		c->state = SRDMA_CONN_HELLO;
	}
	if (srdma_chan_out_pending(&c->chan)) {
		ret = srdma_chan_flush(&c->chan);
		if (ret && ret != -EAGAIN) {
			on_recv_error(c, ret);
			return;
		}
	}
	for (;;) {
		ret = srdma_chan_recv(&c->chan, &f);
		if (ret == 0)
			break;
		if (ret < 0) {
			on_recv_error(c, ret);
			return;
		}
		on_frame(c, &f);
		if (c->state == SRDMA_CONN_CLOSED)
			return;
	}
	srdma__worker_update_events(c);
}

void srdma__conn_on_timeout(struct srdma_conn *c)
{
	conn_fail(c, SRDMA_ERR_TIMEOUT, "connection set-up not finished within %u ms",
		  c->w->srv->cfg.handshake_timeout_ms);
}

static void on_write_done(struct srdma_conn *c, const struct srdma_msg *wd)
{
	const struct srdma_write_done *d = &wd->u.write_done;
	struct srdma_msg m = {.type = SRDMA_MSG_WRITE_RESULT};
	struct srdma_write_result *r = &m.u.write_result;
	struct srdma_ep *ep = c->ep;

	r->offset = d->offset;
	r->length = d->length;
	if ((uint64_t)d->offset + d->length > ep->write_len) {
		r->status = SRDMA_WRITE_RANGE;
	} else {
		const uint8_t *bytes = ep->write_buf + d->offset;
		uint8_t tag[SRDMA_DIGEST_LEN];

		/* The tag stays here; the answer carries the SHA-256 of what we found. */
		if (srdma_dp_write_tag(&c->dp, wd->seq, d->offset, bytes, d->length, tag) ||
		    srdma_crypto_sha256(bytes, d->length, r->digest)) {
			conn_fail(c, SRDMA_ERR_INTERNAL,
				  "cannot compute the tag of the written region");
			return;
		}
		r->status = srdma_crypto_memcmp(tag, d->digest, SRDMA_DIGEST_LEN) == 0
				? SRDMA_WRITE_OK
				: SRDMA_WRITE_MISMATCH;
	}
	if (r->status != SRDMA_WRITE_OK)
		srdma_warn("client #%llu: RDMA write of %u bytes not verified (%s)",
			   (unsigned long long)c->id, d->length,
			   r->status == SRDMA_WRITE_RANGE ? "out of range" : "bytes differ");
	(void)post_msg(c, &m);
}

/* Answer one request. Replies are built before the receive slot is reposted, so payloads
 * pointing into it stay valid. */
static void on_msg(struct srdma_conn *c, const struct srdma_msg *m)
{
	struct srdma_msg reply = {0};

	switch (m->type) {
	case SRDMA_MSG_DATA:
		reply.type = SRDMA_MSG_ECHO;
		reply.payload = m->payload;
		reply.len = m->len;
		(void)post_msg(c, &reply);
		break;
	case SRDMA_MSG_PUSH:
		/* One-way: opened (sealed modes) and sequence-checked like any message, then
		 * dropped; the reply to the client's next request acknowledges it. */
		break;
	case SRDMA_MSG_WRITE_DONE:
		on_write_done(c, m);
		break;
	case SRDMA_MSG_PING:
		reply.type = SRDMA_MSG_PONG;
		reply.u.token = m->u.token;
		(void)post_msg(c, &reply);
		break;
	case SRDMA_MSG_QUIT:
		reply.type = SRDMA_MSG_BYE;
		if (post_msg(c, &reply) == 0)
			c->bye_sent = 1;
		break;
	default:
		conn_fail(c, SRDMA_ERR_PROTOCOL, "unexpected %s message from client",
			  srdma_msg_type_name(m->type));
		break;
	}
}

/* Decode, answer and repost one received message; a free send slot is needed. */
static void answer(struct srdma_conn *c, const struct ibv_wc *wc)
{
	unsigned slot = SRDMA_WR_SLOT(wc->wr_id);
	struct srdma_msg m;
	int ret;

	if (c->state != SRDMA_CONN_ESTABLISHED || c->bye_sent) {
		conn_fail(c, SRDMA_ERR_PROTOCOL, "message received before READY or after QUIT");
		return;
	}
	ret = srdma_dp_get(&c->dp, srdma_ep_recv_slot(c->ep, slot), wc->byte_len,
			   c->w->srv->cfg.max_msg, &m);
	if (ret) {
		/* Nothing of a message that fails here reaches the code that acts on messages. */
		conn_fail(c, SRDMA_ERR_PROTOCOL, "%s", c->dp.errmsg);
		return;
	}
	c->msgs_in++;
	on_msg(c, &m);
	if (c->state == SRDMA_CONN_CLOSED)
		return;
	/* The payload has been copied out (echo) or consumed; the slot can take the next one. */
	ret = srdma_ep_post_recv(c->ep, slot);
	if (ret)
		conn_fail(c, SRDMA_ERR_RDMA, "cannot repost a receive: %s", strerror(-ret));
}

/* Whether the next message may be answered now: a send slot is free (every request gets one
 * reply, and the completion of an earlier reply may not be reaped yet) and, with max_msg_rate,
 * the client is within its rate, which this takes its share of. If not, the message waits,
 * held; a rate wait arms throttle_until_ms, when the worker calls srdma__conn_on_throttle. */
static int may_answer(struct srdma_conn *c)
{
	unsigned rate = c->w->srv->cfg.max_msg_rate;
	struct timespec ts;
	uint64_t wait;

	if (!c->send_free_len)
		return 0;
	if (!rate)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wait = srdma__rate_take(&c->rate_tat,
				(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
				1000000000ull / rate, c->ep->recv_depth);
	if (!wait)
		return 1;
	c->throttle_until_ms = srdma__now_ms() + (wait + 999999) / 1000000;
	return 0;
}

/* Answer held messages, in order, while they may be. */
static void drain_held(struct srdma_conn *c)
{
	while (c->held_len && c->state != SRDMA_CONN_CLOSED && may_answer(c)) {
		struct ibv_wc held = c->held[c->held_head];

		c->held_head = (c->held_head + 1) % c->ep->recv_depth;
		c->held_len--;
		answer(c, &held);
	}
}

static void on_recv(struct srdma_conn *c, const struct ibv_wc *wc)
{
	/* A message that may not be answered yet waits behind any held before it, its receive
	 * not reposted: the client is slowed down (its next sends wait for receives), nobody
	 * else is. Only recv_depth receives are posted, so at most that many are held. */
	if (c->held_len || !may_answer(c)) {
		c->held[(c->held_head + c->held_len++) % c->ep->recv_depth] = *wc;
		return;
	}
	answer(c, wc);
}

void srdma__conn_on_throttle(struct srdma_conn *c)
{
	c->throttle_until_ms = 0;
	drain_held(c);
}

void srdma__conn_on_wc(struct srdma_conn *c, const struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_SUCCESS) {
		conn_fail(c, SRDMA_ERR_RDMA, "RDMA completion failed: %s%s",
			  ibv_wc_status_str(wc->status),
			  wc->status == IBV_WC_WR_FLUSH_ERR
			      ? " (the queue pair entered the error state: a transport or remote "
				"access error on this session)"
			      : "");
		return;
	}
	switch (SRDMA_WR_KIND(wc->wr_id)) {
	case SRDMA_WR_RECV:
		on_recv(c, wc);
		break;
	case SRDMA_WR_SEND:
		c->send_free[c->send_free_len++] = SRDMA_WR_SLOT(wc->wr_id);
		if (c->held_len) {
			drain_held(c);
			break;
		}
		if (c->bye_sent && c->send_free_len == c->ep->send_depth) {
			srdma_info("client #%llu (%s): quit after %llu messages",
				   (unsigned long long)c->id, c->peer,
				   (unsigned long long)c->msgs_in);
			srdma__conn_close(c, 0, NULL);
		}
		break;
	default:
		conn_fail(c, SRDMA_ERR_INTERNAL, "unexpected completion");
		break;
	}
}
