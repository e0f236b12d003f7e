/* One session of srdma-server, on the worker that owns it: the echo protocol (echo_proto.h) on
 * messages QP 0 (its write region is server_region.c's),
 * the rate limit, and its end. One message buffer: a request is read into it, its reply built
 * in place and sent from it; while a reply cannot go (-EAGAIN) or a request waits for the rate
 * limit, the session reads nothing more, which slows that client down (the library returns no
 * credits for messages not taken) and nobody else. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <openssl/evp.h>

#include "log.h"

#include "echo_proto.h"
#include "ratelimit.h"
#include "server.h"

/* Messages answered in a row before the worker turns to its other sessions, and bytes of
 * written regions verified (hashed) in a row: one WRITE_DONE of the most it may cover
 * (ECHO_WRITE_DONE_MAX), then the others get their turn. */
#define SESSION_BATCH	    64
#define SESSION_HASH_BUDGET ECHO_WRITE_DONE_MAX

struct session *session_new(struct server *srv, struct srdma_conn *conn)
{
	struct session *s = calloc(1, sizeof(*s));
	struct ibv_cq *scq, *rcq;

	if (!s)
		return NULL;
	s->srv = srv;
	s->conn = conn;
	s->id = atomic_fetch_add(&srv->next_id, 1) + 1;
	snprintf(s->peer, sizeof(s->peer), "%s", srdma_conn_peer(conn)->addr);
	s->ctrl_fd = s->qp_fd = -1;
	s->ctrl_watch = (struct watch){WATCH_CTRL, s};
	s->qp_watch = (struct watch){WATCH_QP, s};
	scq = srdma_conn_send_cq(conn, 0);
	rcq = srdma_conn_recv_cq(conn, 0);
	s->ncq = (scq ? 1 : 0) + (rcq && rcq != scq ? 1 : 0);
	atomic_fetch_add(&srv->n.clients, 1);
	atomic_fetch_add(&srv->n.pd, 1);
	atomic_fetch_add(&srv->n.qp, 1);
	atomic_fetch_add(&srv->n.cq, (long)s->ncq);
	metrics_session_open(s);
	return s;
}

void session_free(struct session *s)
{
	free(s->buf);
	region_unmap(s->region, s->region_len);
	free(s);
}

static void send_notice(struct session *s, const char *why)
{
	char msg[SRDMA_CTRL_MAX];
	size_t n = strlen(why), i;

	if (n > sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	msg[0] = (char)ECHO_CTRL_NOTICE;
	for (i = 0; i < n; i++)
		msg[1 + i] = why[i] >= 0x20 && why[i] <= 0x7e ? why[i] : '?';
	(void)srdma_ctrl_send(s->conn, msg, n + 1);
}

void session_close(struct session *s, const char *why)
{
	struct worker *w = s->w;

	if (s->closed)
		return;
	s->closed = 1;
	if (why)
		send_notice(s, why);
	if (s->started) {
		worker_forget(s);
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->ctrl_fd, NULL);
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->qp_fd, NULL);
		LIST_REMOVE(s, listed);
	}
	metrics_session_close(s, why);
	/* A queued region is called off; one being made holds the PD: the rest when it comes
	 * back (region_made). */
	region_cancel(s);
	if (!s->job)
		session_release(s);
}

void session_release(struct session *s)
{
	struct server *srv = s->srv;
	struct worker *w = s->w;
	int ret;

	/* Our MR first: the library frees the PD in srdma_conn_close. */
	if (s->mr) {
		ret = ibv_dereg_mr(s->mr);
		if (ret) {
			srdma_err("client #%llu: cannot deregister its write region: %s",
				  (unsigned long long)s->id, strerror(ret));
			if (!w->result)
				w->result = -ret;
		} else {
			atomic_fetch_sub(&srv->n.mr, 1);
		}
		s->mr = NULL;
	}
	ret = srdma_conn_close(s->conn);
	s->conn = NULL;
	if (ret) {
		srdma_err("client #%llu: cannot free its RDMA resources: %s",
			  (unsigned long long)s->id, strerror(-ret));
		if (!w->result)
			w->result = ret;
	}
	if (ret != -EBUSY)
		atomic_fetch_sub(&srv->n.pd, 1);
	atomic_fetch_sub(&srv->n.qp, 1);
	atomic_fetch_sub(&srv->n.cq, (long)s->ncq);
	atomic_fetch_sub(&srv->n.clients, 1);
	atomic_fetch_sub(&w->nsessions, 1);
	/* Events for s may still sit in the worker's current epoll batch: freed after it. */
	SLIST_INSERT_HEAD(&w->dead, s, dead);
}

void session_fail(struct session *s, const char *fmt, ...)
{
	char why[SRDMA_CTRL_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	srdma_warn("client #%llu (%s): session ended in state established: %s",
		   (unsigned long long)s->id, s->peer, why);
	session_close(s, why);
}

/* A call on the connection failed with ret. */
static void conn_error(struct session *s, int ret)
{
	const char *msg = srdma_conn_errmsg(s->conn);

	metrics_conn_error(s, ret);
	if (ret == -ECONNRESET) {
		srdma_info("client #%llu (%s): disconnected without QUIT",
			   (unsigned long long)s->id, s->peer);
		session_close(s, NULL);
	} else if (ret == -EIO) {
		session_fail(s, "RDMA completion failed: %s%s", msg,
			     strstr(msg, "Flush") ? " (the queue pair entered the error state: a "
						    "transport or remote access error on this "
						    "session)"
						  : "");
	} else {
		session_fail(s, "%s", msg[0] ? msg : strerror(-ret));
	}
}

void session_reply(struct session *s, ssize_t len)
{
	if (len < 0) {
		session_fail(s, "cannot encode a reply: %s", strerror((int)-len));
		return;
	}
	s->len = (size_t)len;
	s->io = IO_HELD_OUT;
}

static void on_write_done(struct session *s, const struct echo_msg *m)
{
	uint32_t off = m->u.write_done.offset, len = m->u.write_done.length;
	struct echo_msg r = {.op = ECHO_OP_WRITE_RESULT};
	uint8_t tag[SRDMA_TAG_LEN];
	int ret;

	r.u.write_result.offset = off;
	r.u.write_result.length = len;
	if (!s->region || (uint64_t)off + len > s->region_len) {
		r.u.write_result.status = ECHO_WRITE_RANGE;
	} else if (len > ECHO_WRITE_DONE_MAX) {
		r.u.write_result.status = ECHO_WRITE_TOO_LONG;
	} else {
		s->hashed += len;
		/* The tag stays here; the answer carries the SHA-256 of what we found. */
		ret = srdma_tag(s->conn, 0, 0, s->seq, off, s->region + off, len, tag);
		if (ret) {
			session_fail(s, "cannot compute the tag of the written region: %s",
				     strerror(-ret));
			return;
		}
		if (!EVP_Digest(s->region + off, len, r.u.write_result.sha256, NULL, EVP_sha256(),
				NULL)) {
			session_fail(s, "cannot hash the written region");
			return;
		}
		r.u.write_result.status =
		    srdma_tag_equal(tag, m->u.write_done.tag) ? ECHO_WRITE_OK : ECHO_WRITE_MISMATCH;
	}
	if (r.u.write_result.status != ECHO_WRITE_OK)
		srdma_warn("client #%llu: RDMA write of %u bytes not verified: found %s",
			   (unsigned long long)s->id, len,
			   echo_write_status_text(r.u.write_result.status));
	session_reply(s, echo_encode(&r, s->buf, s->cap));
}

/* Answer the request in buf[0..len). */
static void answer(struct session *s)
{
	struct echo_msg m, r = {0};

	if (echo_decode(s->buf, s->len, &m)) {
		session_fail(s, "malformed %s message of %zu bytes",
			     s->len ? echo_op_name(s->buf[0]) : "empty", s->len);
		return;
	}
	switch (m.op) {
	case ECHO_OP_DATA:
		/* The bytes stay where they are: only the header changes. */
		echo_put_hdr(s->buf, ECHO_OP_ECHO);
		session_reply(s, (ssize_t)s->len);
		break;
	case ECHO_OP_PUSH:
		/* One-way: opened and sequence-checked like any message by the library, then
		 * dropped; the reply to the client's next request vouches for it. */
		break;
	case ECHO_OP_WRITE_DONE:
		on_write_done(s, &m);
		break;
	case ECHO_OP_REGION:
		session_on_region(s, m.u.region.length);
		break;
	case ECHO_OP_PING:
		r.op = ECHO_OP_PONG;
		r.u.token = m.u.token;
		session_reply(s, echo_encode(&r, s->buf, s->cap));
		break;
	case ECHO_OP_QUIT:
		r.op = ECHO_OP_BYE;
		s->bye = 1;
		session_reply(s, echo_encode(&r, s->buf, s->cap));
		break;
	default:
		session_fail(s, "unexpected %s message from client", echo_op_name(m.op));
		break;
	}
}

/* Send the reply in buf. 0 when it went, 1 when the session must wait (-EAGAIN) or ended. */
static int send_reply(struct session *s)
{
	int ret = srdma_msg_send(s->conn, 0, s->buf, s->len);

	if (ret == -EAGAIN)
		return 1;
	if (ret == -EMSGSIZE) {
		session_fail(s, "reply of %zu bytes exceeds the client's limit", s->len);
		return 1;
	}
	if (ret) {
		conn_error(s, ret);
		return 1;
	}
	s->io = IO_IDLE;
	metrics_msg_out(s, s->len);
	if (s->bye) {
		/* srdma_conn_close waits for the BYE to complete before the QP goes. */
		srdma_info("client #%llu (%s): quit after %llu messages", (unsigned long long)s->id,
			   s->peer, (unsigned long long)s->msgs_in);
		session_close(s, NULL);
		return 1;
	}
	return 0;
}

/* max_msg_rate: 0 if the message in buf may be answered now; otherwise it is held. */
static int throttled(struct session *s, uint64_t now)
{
	unsigned rate = s->srv->cfg.max_msg_rate;
	uint64_t wait;

	if (!rate)
		return 0;
	wait = srdma__rate_take(&s->rate_tat, now, 1000000000ull / rate,
				s->srv->cfg.recv_depth ? s->srv->cfg.recv_depth : 1);
	if (!wait)
		return 0;
	s->io = IO_HELD_IN;
	s->throttle_until_ns = now + wait;
	metrics_throttled(s);
	return 1;
}

unsigned session_on_qp(struct session *s)
{
	unsigned handled = 0;
	size_t len;
	int ret;

	s->again = 0;
	s->hashed = 0;
	while (!s->closed) {
		if (s->io == IO_HELD_OUT) {
			if (send_reply(s))
				break;
			continue;
		}
		if (s->io == IO_MAKING)
			break;
		if (s->io == IO_HELD_IN) {
			s->io = IO_IDLE;
			if (throttled(s, s->w->now_ns))
				break;
			answer(s);
			handled++;
			continue;
		}
		if (handled >= SESSION_BATCH || s->hashed >= SESSION_HASH_BUDGET) {
			s->again = 1;
			break;
		}
		ret = srdma_msg_recv(s->conn, 0, s->buf, s->cap, &len, &s->seq);
		if (ret == -EAGAIN)
			break;
		if (ret) {
			conn_error(s, ret);
			break;
		}
		s->len = len;
		s->msgs_in++;
		metrics_msg_in(s, len);
		if (throttled(s, s->w->now_ns))
			break;
		answer(s);
		handled++;
	}
	if (s->closed)
		return handled;
	/* The busy window runs from the end of the batch, so a fresh read: the loop's time may be
	 * a whole batch old (sealed messages take tens of microseconds each under emulation), and
	 * the window would shrink by as much, the worker sleeping before the next request. */
	if (handled)
		s->last_busy_ns = server_now_ns();
	worker_update_watch(s);
	return handled;
}

void session_on_ctrl(struct session *s)
{
	struct srdma_event ev;
	int ret;

	for (;;) {
		ret = srdma_conn_process(s->conn, &ev);
		if (ret == 0)
			break;
		if (ret < 0) {
			conn_error(s, ret);
			return;
		}
		switch (ev.type) {
		case SRDMA_EV_PEER_CLOSED:
			srdma_info("client #%llu (%s): disconnected without QUIT",
				   (unsigned long long)s->id, s->peer);
			session_close(s, NULL);
			return;
		case SRDMA_EV_CTRL:
			srdma_debug("client #%llu: control message of %u bytes ignored",
				    (unsigned long long)s->id, ev.len);
			break;
		default:
			srdma_debug("client #%llu: event %d ignored", (unsigned long long)s->id,
				    (int)ev.type);
			break;
		}
	}
	worker_update_watch(s);
}

static int watch_add(struct session *s, int fd, struct watch *wt, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = wt};

	return epoll_ctl(s->w->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

void session_start(struct session *s)
{
	struct server *srv = s->srv;
	struct srdma_conn_info info;
	const struct srdma_peer *peer = srdma_conn_peer(s->conn);
	struct echo_msg m = {.op = ECHO_OP_WELCOME};
	char text[ECHO_TEXT_MAX], retrans[48] = "";
	uint32_t recv_max;
	unsigned n;
	int ret;

	s->started = 1;
	metrics_session_start(s);
	s->ctrl_fd = srdma_conn_fd(s->conn);
	s->qp_fd = srdma_conn_qp_fd(s->conn, 0);
	/* The largest request is what the library agreed the client may send (our max_msg, or
	 * less if the client declared it sends less); replies are built in the same buffer. */
	ret = srdma_msg_limits(s->conn, 0, &recv_max, NULL);
	if (ret) {
		session_fail(s, "cannot read the connection's message sizes: %s", strerror(-ret));
		return;
	}
	s->cap = recv_max > ECHO_WELCOME_MAX ? recv_max : ECHO_WELCOME_MAX;
	s->buf = malloc(s->cap);
	if (!s->buf) {
		session_fail(s, "server out of memory");
		return;
	}
	if ((ret = watch_add(s, s->ctrl_fd, &s->ctrl_watch, EPOLLIN)) ||
	    (ret = watch_add(s, s->qp_fd, &s->qp_watch, EPOLLIN))) {
		session_fail(s, "cannot watch the connection: %s", strerror(-ret));
		return;
	}
	s->ctrl_events = EPOLLIN;
	s->qp_enabled = 1;
	/* No write region yet: the client's REGION makes one, of at most write_len bytes. */
	m.u.welcome.max_data = recv_max > ECHO_HDR_LEN ? recv_max - ECHO_HDR_LEN : 0;
	m.u.welcome.write_len = srv->cfg.write_size;
	m.u.welcome.window = srv->cfg.recv_depth;
	m.len = (uint32_t)snprintf(text, sizeof(text), "welcome to secure-rdma, client #%llu",
				   (unsigned long long)s->id);
	m.body = (const uint8_t *)text;
	session_reply(s, echo_encode(&m, s->buf, s->cap));
	if (s->closed)
		return;
	srdma_conn_info(s->conn, &info);
	n = srdma_log_tcp_retrans(s->ctrl_fd);
	if (n)
		snprintf(retrans, sizeof(retrans), "; TCP retransmitted %u", n);
	srdma_info("client #%llu (%s): connected (worker %u, RC QP ready, path MTU %d, data plane "
		   "%s); %s%s%s%s, set-up %llu us (TLS %llu, OPEN %llu, QP %llu, READY %llu%s)",
		   (unsigned long long)s->id, s->peer, s->w->id, info.path_mtu,
		   info.dataplane != SRDMA_DP_PLAIN ? "sealed" : "plain", peer->tls,
		   srdma_conn_resumed(s->conn) ? " resumed" : "", peer->verified ? ", client " : "",
		   peer->verified ? peer->subject : "", (unsigned long long)info.setup_us,
		   (unsigned long long)info.tls_us, (unsigned long long)info.open_us,
		   (unsigned long long)info.qp_us, (unsigned long long)info.ready_us, retrans);
	if (srdma_log_get_level() >= SRDMA_LOG_DEBUG) {
		struct srdma_qp_secrets sec;

		/* Secrets: at debug level only (log.h), as the old server did. */
		if (srdma_conn_qp_secrets(s->conn, 0, &sec) == 0)
			srdma_debug("client #%llu: local PSN %06x, remote PSN %06x",
				    (unsigned long long)s->id, sec.local_psn, sec.remote_psn);
	}
	session_on_qp(s);
	if (!s->closed)
		session_on_ctrl(s);
}
