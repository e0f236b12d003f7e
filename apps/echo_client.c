/* The client side of the echo protocol on <srdma.h>: set-up, the waits (busy-polling first, as
 * the config's busy_poll_us says), the control channel's events, and the requests. */
#include "echo_client.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* PINGs of echo_client_push in flight, oldest first, each closing a group of PUSHes. */
#define PUSH_GROUPS_MAX 8

struct echo_client {
	struct srdma_client_config cfg;
	struct srdma_ctx *own_ctx; /* NULL when given a shared one */
	struct srdma_conn *conn;
	uint8_t *tx; /* header + up to cfg.size bytes */
	size_t tx_cap;
	uint8_t *rx; /* one whole message of up to our max_msg */
	size_t rx_cap;
	uint8_t *wbuf; /* RDMA-write source, registered in the connection's PD */
	uint32_t wlen;
	struct ibv_mr *wmr;
	uint64_t region_len; /* of the server's ECHO_WRITE_REGION: 0 until asked for (REGION) */
	uint64_t deadline_ns;
	uint64_t spin_ns;
	uint64_t next_token;
	int peer_closed;		/* the server closed in order */
	char notice[ECHO_TEXT_MAX + 1]; /* the server's last notice */
	struct echo_client_info info;
	struct echo_client_timing timing;
	char errmsg[512];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(struct echo_client *cl, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct echo_client *cl, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cl->errmsg, sizeof(cl->errmsg), fmt, ap);
	va_end(ap);
	return ret;
}

/* Start the deadline of the next wait: cfg.timeout_ms from now. */
static void arm_deadline(struct echo_client *cl)
{
	cl->deadline_ns = now_ns() + (uint64_t)cl->cfg.timeout_ms * 1000000ull;
}

static int remaining_ms(const struct echo_client *cl)
{
	uint64_t now = now_ns();

	if (now >= cl->deadline_ns)
		return 0;
	return (int)((cl->deadline_ns - now + 999999) / 1000000);
}

/* A poll timeout of at most ms that also ends at the library's next step on the connection
 * (its heartbeat's PING or silence check: srdma_conn_timeout_ms), so a long wait keeps the
 * connection alive. */
static int poll_ms(const struct echo_client *cl, int ms)
{
	int lib = srdma_conn_timeout_ms(cl->conn);

	return lib >= 0 && (ms < 0 || lib < ms) ? lib : ms;
}

/* A control event: a notice is remembered (printable ASCII only), the peer's close noted. */
static void on_event(struct echo_client *cl, const struct srdma_event *ev)
{
	uint32_t i, n = 0;

	if (ev->type == SRDMA_EV_PEER_CLOSED) {
		cl->peer_closed = 1;
		return;
	}
	if (ev->type != SRDMA_EV_CTRL || ev->len < 1 || ev->data[0] != ECHO_CTRL_NOTICE)
		return; /* regions are read with srdma_remote_region; other control is ignored */
	for (i = 1; i < ev->len && n < ECHO_TEXT_MAX; i++)
		cl->notice[n++] =
		    ev->data[i] >= 0x20 && ev->data[i] < 0x7f ? (char)ev->data[i] : '?';
	cl->notice[n] = '\0';
	if (!n)
		snprintf(cl->notice, sizeof(cl->notice), "the server ended the session");
}

static void add_qp_opts(const struct echo_client *cl, struct srdma_qp_opts *q)
{
	srdma_qp_opts_init(q);
	q->driver = SRDMA_QP_MESSAGES;
	q->max_msg = (uint32_t)cl->rx_cap;
	q->max_send = (uint32_t)cl->rx_cap;
	q->depth = cl->cfg.depth < 3 ? 3 : cl->cfg.depth;
}

int echo_client_add_qp(struct echo_client *cl, unsigned *index)
{
	struct srdma_qp_opts q;
	int ret;

	add_qp_opts(cl, &q);
	arm_deadline(cl);
	ret = srdma_conn_add_qp_wait(cl->conn, &q, index, remaining_ms(cl));
	if (ret)
		return fail(cl, ret, "adding a QP: %s", srdma_conn_errmsg(cl->conn));
	return 0;
}

int echo_client_add_qp_start(struct echo_client *cl, int raw, unsigned *index)
{
	struct srdma_qp_opts q;
	int ret;

	if (raw)
		srdma_qp_opts_init(&q);
	else
		add_qp_opts(cl, &q);
	ret = srdma_conn_add_qp(cl->conn, &q, index);
	if (ret)
		return fail(cl, ret, "adding a QP: %s", srdma_conn_errmsg(cl->conn));
	return 0;
}

int echo_client_add_qp_poll(struct echo_client *cl, unsigned index)
{
	struct srdma_event ev;
	int ret;

	while ((ret = srdma_conn_process(cl->conn, &ev)) == 1) {
		if (ev.type == SRDMA_EV_QP_ADDED && ev.region_id == index)
			return 1;
		if (ev.type == SRDMA_EV_QP_ADD_FAILED && ev.region_id == index)
			return fail(cl, -EREMOTEIO, "adding a QP: %s", srdma_conn_errmsg(cl->conn));
		on_event(cl, &ev);
	}
	if (ret < 0)
		return fail(cl, ret, "adding a QP: %s", srdma_conn_errmsg(cl->conn));
	return 0;
}

/* The connection failed with ret (from any call on it): the reason is the server's notice if
 * it sent one (events stay queued after a failure), else the library's message. */
static int conn_failed(struct echo_client *cl, int ret)
{
	struct srdma_event ev;
	int r;

	while ((r = srdma_conn_process(cl->conn, &ev)) == 1)
		on_event(cl, &ev);
	if (cl->notice[0])
		return fail(cl, -ESHUTDOWN, "server: %s", cl->notice);
	/* A wait that ran out leaves the connection usable and says nothing; the library's own
	 * deadlines (the heartbeat's "stopped answering") fail it with a message. */
	if (ret == -ETIMEDOUT && !srdma_conn_errmsg(cl->conn)[0])
		return fail(cl, ret, "no answer from the server within %u ms", cl->cfg.timeout_ms);
	if (cl->peer_closed)
		return fail(cl, -ECONNRESET, "the server closed the connection");
	if (srdma_conn_errmsg(cl->conn)[0])
		return fail(cl, ret, "%s", srdma_conn_errmsg(cl->conn));
	return fail(cl, ret, "%s", strerror(-ret));
}

/* Take the control events there are: a notice or the server's close ends the session. */
static int take_events(struct echo_client *cl)
{
	struct srdma_event ev;
	int ret;

	for (;;) {
		ret = srdma_conn_process(cl->conn, &ev);
		if (ret == 0)
			return 0;
		if (ret < 0)
			return conn_failed(cl, ret);
		on_event(cl, &ev);
		if (cl->notice[0] || cl->peer_closed)
			return conn_failed(cl, -ECONNRESET);
	}
}

/* Sleep until QP 0's completion channel or the control channel has something, or the deadline;
 * control events are taken. */
static int wait_qp(struct echo_client *cl)
{
	struct pollfd p[2] = {
	    {.fd = srdma_conn_qp_fd(cl->conn, 0), .events = POLLIN},
	    {.fd = srdma_conn_fd(cl->conn), .events = srdma_conn_poll_events(cl->conn)},
	};
	int n;

	do {
		n = poll(p, 2, poll_ms(cl, remaining_ms(cl)));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(cl, -errno, "poll: %s", strerror(errno));
	if (n == 0 && !remaining_ms(cl))
		return conn_failed(cl, -ETIMEDOUT);
	/* The control channel, or the library's step that came due. */
	return p[1].revents || n == 0 ? take_events(cl) : 0;
}

/* The next message from the server, decoded (its body points into cl->rx). */
static int recv_msg(struct echo_client *cl, struct echo_msg *m)
{
	uint64_t start = 0, now;
	size_t len = 0;
	int ret;

	for (;;) {
		ret = srdma_msg_recv(cl->conn, 0, cl->rx, cl->rx_cap, &len, NULL);
		if (ret != -EAGAIN)
			break;
		now = now_ns();
		if (!start)
			start = now;
		if (now - start < cl->spin_ns)
			continue;
		ret = srdma_msg_recv_wait(cl->conn, 0, cl->rx, cl->rx_cap, &len, NULL,
					  remaining_ms(cl));
		break;
	}
	if (ret)
		return conn_failed(cl, ret);
	if (echo_decode(cl->rx, len, m))
		return fail(cl, -EPROTO, "protocol error: malformed %s message from the server",
			    echo_op_name(len ? cl->rx[0] : 0));
	return 0;
}

static int expect(struct echo_client *cl, enum echo_op want, struct echo_msg *m)
{
	int ret = recv_msg(cl, m);

	if (ret)
		return ret;
	if (m->op != want)
		return fail(cl, -EPROTO, "protocol error: expected %s, got %s", echo_op_name(want),
			    echo_op_name(m->op));
	return 0;
}

/* Send one message, waiting for a credit if need be. */
static int send_msg(struct echo_client *cl, const void *buf, size_t len)
{
	int ret = srdma_msg_send_wait(cl->conn, 0, buf, len, remaining_ms(cl));

	return ret ? conn_failed(cl, ret) : 0;
}

/* One request and its answer, within a fresh deadline: send len bytes of msg, then take the
 * next message, which must be of type want, into *m. */
static int call(struct echo_client *cl, const void *msg, size_t len, enum echo_op want,
		struct echo_msg *m)
{
	int ret;

	arm_deadline(cl);
	ret = send_msg(cl, msg, len);
	return ret ? ret : expect(cl, want, m);
}

/* Send one message if a credit is free now: 0, -EAGAIN, or the failure. */
static int try_send(struct echo_client *cl, const void *buf, size_t len)
{
	int ret = srdma_msg_send(cl->conn, 0, buf, len);

	return ret && ret != -EAGAIN ? conn_failed(cl, ret) : ret;
}

/* ---- Set-up ------------------------------------------------------------------------------ */

int echo_client_ctx_create(const struct srdma_client_config *cfg, int open_device,
			   struct srdma_ctx **out, char *err, size_t errlen)
{
	struct srdma_ctx_opts o;
	int ret;

	srdma_ctx_opts_init(&o);
	o.device = cfg->device[0] ? cfg->device : NULL;
	o.ib_port = cfg->ib_port;
	o.gid_index = cfg->gid_index;
	o.cert = cfg->cert[0] ? cfg->cert : NULL;
	o.key = cfg->key[0] ? cfg->key : NULL;
	o.ca = cfg->ca;
	o.tls_min = cfg->tls_min;
	o.dataplane = (enum srdma_dp_mode)cfg->dataplane;
	o.heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : UINT32_MAX; /* 0: off */
	o.heartbeat_misses = cfg->heartbeat_misses;
	o.rekey_messages = cfg->rekey_messages;
	ret = srdma_ctx_create(&o, out, err, errlen);
	if (ret || !open_device)
		return ret;
	ret = srdma_ctx_open_device(*out, err, errlen);
	if (ret) {
		srdma_ctx_destroy(*out);
		*out = NULL;
	}
	return ret;
}

/* The server refused our data-plane mode: say which one to use ("this side uses X" is the
 * server's own mode in its reason). */
static void dataplane_hint(char *msg, size_t cap)
{
	const char *p = strstr(msg, "data-plane mode mismatch: this side uses ");
	char mode[16];
	size_t n;

	if (!p || !strstr(msg, "the server") ||
	    sscanf(p + strlen("data-plane mode mismatch: this side uses "), "%15[a-z0-9]", mode) !=
		1)
		return;
	n = strlen(msg);
	if (n < cap)
		snprintf(msg + n, cap - n, " (use --dataplane %s)", mode);
}

static int wait_welcome(struct echo_client *cl)
{
	struct echo_msg m;
	int ret;

	ret = expect(cl, ECHO_OP_WELCOME, &m);
	if (ret)
		return ret;
	memcpy(cl->info.welcome, m.body, m.len);
	cl->info.welcome[m.len] = '\0';
	cl->info.server_max_data = m.u.welcome.max_data;
	cl->info.server_write_len = m.u.welcome.write_len;
	cl->info.window = cl->cfg.depth < m.u.welcome.window ? cl->cfg.depth : m.u.welcome.window;
	if (!cl->info.window)
		cl->info.window = 1;
	if (cl->cfg.count && cl->cfg.size > cl->info.server_max_data)
		return fail(cl, -EMSGSIZE,
			    "message size %u exceeds the server's limit of %u bytes (lower -s)",
			    cl->cfg.size, cl->info.server_max_data);
	if (cl->cfg.writes && !cl->info.server_write_len)
		return fail(cl, -EMSGSIZE,
			    "the server offers no RDMA writes (its write_size is 0)");
	if (cl->cfg.writes && cl->cfg.size > cl->info.server_write_len)
		return fail(cl, -EMSGSIZE,
			    "write size %u exceeds the server's largest RDMA-write region of %u "
			    "bytes (lower -s)",
			    cl->cfg.size, cl->info.server_write_len);
	return 0;
}

/* The server advertises its write region over TLS before it answers REGION over RDMA, but the
 * answer may still come first: take control events until ECHO_WRITE_REGION is there with at
 * least need bytes (a smaller one is the region it replaces, its revocation not taken yet). */
static int wait_region(struct echo_client *cl, uint32_t need)
{
	struct srdma_region r;
	int ret, n;

	for (;;) {
		struct pollfd p = {.fd = srdma_conn_fd(cl->conn)};

		ret = take_events(cl);
		if (ret)
			return ret;
		if (!srdma_remote_region(cl->conn, ECHO_WRITE_REGION, &r) && r.len >= need)
			break;
		p.events = srdma_conn_poll_events(cl->conn);
		do {
			n = poll(&p, 1, poll_ms(cl, remaining_ms(cl)));
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return fail(cl, -errno, "poll: %s", strerror(errno));
		if (n == 0 && !remaining_ms(cl))
			return fail(
			    cl, -ETIMEDOUT,
			    "the server did not advertise a write region of %u bytes within "
			    "%u ms",
			    need, cl->cfg.timeout_ms);
	}
	if (!(r.access & SRDMA_ACCESS_REMOTE_WRITE))
		return fail(cl, -EPROTO, "protocol error: the server's region grants no write");
	cl->region_len = r.len;
	return 0;
}

/* REGION: have the server make its write region at least need bytes large, then wait for it. */
static int ask_region(struct echo_client *cl, uint32_t need)
{
	uint8_t msg[ECHO_HDR_LEN + ECHO_REGION_LEN];
	struct echo_msg m = {.op = ECHO_OP_REGION};
	uint32_t st;
	int ret;

	m.u.region.length = need;
	if (echo_encode(&m, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		return fail(cl, -EINVAL, "cannot encode REGION");
	ret = call(cl, msg, sizeof(msg), ECHO_OP_REGION_READY, &m);
	if (ret)
		return ret;
	st = m.u.region_ready.status;
	if (st == ECHO_WRITE_RANGE)
		return fail(
		    cl, -EMSGSIZE,
		    "the server refused a write region of %u bytes (its largest is %u bytes; "
		    "lower -s)",
		    need, cl->info.server_write_len);
	if (st != ECHO_WRITE_OK)
		return fail(
		    cl, -EREMOTEIO,
		    "the server could not make a write region of %u bytes (out of memory or "
		    "registration failed)",
		    need);
	if (m.u.region_ready.length < need)
		return fail(cl, -EPROTO,
			    "protocol error: the server made a write region of %u bytes, %u asked",
			    m.u.region_ready.length, need);
	return wait_region(cl, need);
}

static int setup_write_buffer(struct echo_client *cl)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = NULL;

	cl->wlen = cl->cfg.size;
	if (posix_memalign(&p, page > 0 ? (size_t)page : 4096, cl->wlen))
		return fail(cl, -ENOMEM, "out of memory for the write buffer");
	cl->wbuf = p;
	memset(cl->wbuf, 0, cl->wlen);
	/* Only our HCA reads it: no access flag. */
	cl->wmr = ibv_reg_mr(srdma_conn_pd(cl->conn), cl->wbuf, cl->wlen, 0);
	if (!cl->wmr)
		return fail(cl, errno ? -errno : -ENOMEM,
			    "cannot register the %u-byte write buffer: %s", cl->wlen,
			    strerror(errno ? errno : ENOMEM));
	return 0;
}

static void fill_info(struct echo_client *cl)
{
	struct srdma_qp_secrets s;
	struct srdma_conn_info ci;

	srdma_conn_info(cl->conn, &ci);
	cl->info.connect_us = ci.setup_us;
	cl->info.tcp_retrans = srdma_log_tcp_retrans(srdma_conn_fd(cl->conn));
	cl->info.gid_index = ci.gid_index;
	cl->info.path_mtu = ci.path_mtu;
	cl->info.dataplane = (int)ci.dataplane;
	snprintf(cl->info.device, sizeof(cl->info.device), "%s", ci.device);
	snprintf(cl->info.tls, sizeof(cl->info.tls), "%s", srdma_conn_peer(cl->conn)->tls);
	if (!srdma_conn_qp_secrets(cl->conn, 0, &s)) {
		cl->info.local_psn = s.local_psn;
		cl->info.remote_psn = s.remote_psn;
		cl->info.local_qpn = s.local_qpn;
	}
	cl->timing.tcp_us = ci.tcp_us;
	cl->timing.tls_us = ci.tls_us;
	cl->timing.open_us = ci.open_us;
	cl->timing.qp_us = ci.qp_us;
	cl->timing.ready_us = ci.ready_us;
}

int echo_client_connect(struct srdma_ctx *ctx, const struct srdma_client_config *cfg,
			struct echo_client **out, char *err, size_t errlen)
{
	struct srdma_connect_opts o;
	struct echo_client *cl;
	uint64_t t0 = now_ns(), t1;
	size_t max_msg;
	int ret;

	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cl->cfg = *cfg;
	cl->spin_ns = (uint64_t)cfg->busy_poll_us * 1000;
	if (!ctx) {
		ret = echo_client_ctx_create(cfg, 0, &cl->own_ctx, cl->errmsg, sizeof(cl->errmsg));
		if (ret)
			goto err;
		ctx = cl->own_ctx;
		cl->timing.ctx_us = (now_ns() - t0) / 1000;
	}
	/* Room for ECHOes of size bytes if echoes are wanted; a session that only writes keeps
	 * its receive buffers small (the library posts depth of them). */
	cl->tx_cap = (size_t)(cfg->count ? cfg->size : 0) + ECHO_HDR_LEN;
	max_msg = cl->tx_cap;
	if (max_msg > SRDMA_MSG_MAX)
		max_msg = SRDMA_MSG_MAX;
	if (max_msg < ECHO_WELCOME_MAX)
		max_msg = ECHO_WELCOME_MAX;
	cl->rx_cap = max_msg;
	cl->rx = malloc(cl->rx_cap);
	cl->tx = malloc(cl->tx_cap);
	if (!cl->rx || !cl->tx) {
		ret = fail(cl, -ENOMEM, "out of memory");
		goto err;
	}

	srdma_connect_opts_init(&o);
	o.host = cfg->host;
	o.port = cfg->port;
	o.server_name = cfg->server_name[0] ? cfg->server_name : NULL;
	o.timeout_ms = cfg->timeout_ms;
	o.nqp = 1;
	o.qp[0].driver = SRDMA_QP_MESSAGES;
	o.qp[0].max_msg = (uint32_t)max_msg;
	/* What we send is no larger than what we take back (DATA and its ECHO; the other
	 * messages are shorter): the server's receive slots need be no larger either. */
	o.qp[0].max_send = (uint32_t)max_msg;
	/* The library keeps 3 receives posted at least (its credits need them); the window
	 * still follows cfg->depth. */
	o.qp[0].depth = cfg->depth < 3 ? 3 : cfg->depth;
	ret = srdma_connect(ctx, &o, &cl->conn, cl->errmsg, sizeof(cl->errmsg));
	if (ret) {
		cl->conn = NULL;
		dataplane_hint(cl->errmsg, sizeof(cl->errmsg));
		goto err;
	}
	t1 = now_ns();
	fill_info(cl);

	arm_deadline(cl);
	ret = wait_welcome(cl);
	if (!ret && cfg->writes)
		ret = setup_write_buffer(cl);
	/* The server makes a write region only when asked: as large as our writes. */
	if (!ret && cfg->writes)
		ret = ask_region(cl, cfg->size);
	if (ret)
		goto err;
	cl->timing.welcome_us = (now_ns() - t1) / 1000;
	cl->timing.total_us = cl->timing.ctx_us + cl->timing.tcp_us + cl->timing.tls_us +
			      cl->timing.open_us + cl->timing.qp_us + cl->timing.ready_us +
			      cl->timing.welcome_us;
	*out = cl;
	return 0;

err:
	snprintf(err, errlen, "%s", cl->errmsg[0] ? cl->errmsg : strerror(-ret));
	echo_client_close(cl);
	return ret;
}

void echo_client_close(struct echo_client *cl)
{
	if (!cl)
		return;
	/* Our MR first: the library frees the PD in srdma_conn_close. */
	if (cl->wmr)
		(void)ibv_dereg_mr(cl->wmr);
	srdma_conn_close(cl->conn);
	srdma_ctx_destroy(cl->own_ctx);
	free(cl->wbuf);
	free(cl->rx);
	free(cl->tx);
	free(cl);
}

void echo_client_get_info(const struct echo_client *cl, struct echo_client_info *out)
{
	*out = cl->info;
	out->resumed = cl->conn ? srdma_conn_resumed(cl->conn) : 0;
}

void echo_client_get_timing(const struct echo_client *cl, struct echo_client_timing *out)
{
	*out = cl->timing;
}

const char *echo_client_errmsg(const struct echo_client *cl)
{
	return cl->errmsg;
}

int echo_client_fd(const struct echo_client *cl)
{
	return srdma_conn_fd(cl->conn);
}

short echo_client_poll_events(const struct echo_client *cl)
{
	return srdma_conn_poll_events(cl->conn);
}

/* ---- Requests ---------------------------------------------------------------------------- */

/* DATA or PUSH of buf[0..len) into cl->tx; its length. */
static int stage_body(struct echo_client *cl, enum echo_op op, const void *buf, uint32_t len,
		      size_t *n)
{
	if ((size_t)len + ECHO_HDR_LEN > cl->tx_cap || (len && !buf))
		return fail(cl, -EINVAL, "message of %u bytes exceeds the session's size of %zu",
			    len, cl->tx_cap - ECHO_HDR_LEN);
	echo_put_hdr(cl->tx, op);
	if (len)
		memcpy(cl->tx + ECHO_HDR_LEN, buf, len);
	*n = (size_t)len + ECHO_HDR_LEN;
	return 0;
}

int echo_client_echo(struct echo_client *cl, const void *buf, uint32_t len)
{
	struct echo_msg m;
	size_t n;
	int ret;

	ret = stage_body(cl, ECHO_OP_DATA, buf, len, &n);
	if (ret)
		return ret;
	arm_deadline(cl);
	ret = send_msg(cl, cl->tx, n);
	if (!ret)
		ret = expect(cl, ECHO_OP_ECHO, &m);
	if (ret)
		return ret;
	if (m.len != len || (len && memcmp(m.body, buf, len)))
		return fail(cl, -EBADMSG, "echo of %u bytes differs from what was sent", len);
	return 0;
}

int echo_client_echo_pipelined(struct echo_client *cl, const void *buf, uint32_t len,
			       uint64_t count)
{
	uint64_t sent = 0, got = 0;
	unsigned w = cl->info.window;
	struct echo_msg m;
	size_t n;
	int ret;

	ret = stage_body(cl, ECHO_OP_DATA, buf, len, &n);
	if (ret)
		return ret;
	arm_deadline(cl);
	while (got < count) {
		while (sent < count && sent - got < w) {
			ret = try_send(cl, cl->tx, n);
			/* Out of credits with nothing to wait an answer for: wait for credits. */
			if (ret == -EAGAIN && sent == got)
				ret = send_msg(cl, cl->tx, n);
			if (ret == -EAGAIN)
				break;
			if (ret)
				return ret;
			sent++;
		}
		ret = expect(cl, ECHO_OP_ECHO, &m);
		if (ret)
			return ret;
		if (m.len != len || (len && memcmp(m.body, buf, len)))
			return fail(cl, -EBADMSG, "echo %llu of %llu differs from what was sent",
				    (unsigned long long)got + 1, (unsigned long long)count);
		got++;
		arm_deadline(cl);
	}
	return 0;
}

static size_t encode_token(enum echo_op op, uint64_t token, uint8_t *buf, size_t cap)
{
	struct echo_msg m = {.op = op};

	m.u.token = token;
	return (size_t)echo_encode(&m, buf, cap);
}

int echo_client_push(struct echo_client *cl, const void *buf, uint32_t len, uint64_t count)
{
	struct {
		uint64_t token;
		unsigned msgs; /* the group's PUSHes and its PING */
	} ring[PUSH_GROUPS_MAX];
	unsigned w = cl->info.window, group, head = 0, groups = 0, inflight = 0, open = 0;
	uint8_t ping[ECHO_HDR_LEN + ECHO_PING_LEN];
	uint64_t sent = 0, done = 0;
	struct echo_msg m;
	size_t n;
	int ret;

	/* Every group of PUSHes ends with a PING: its PONG vouches for the whole group, so the
	 * server's receives bound what is in flight. Two groups fit in the window, so the pipe
	 * never drains while a PONG is on its way. */
	if (w < 2)
		return fail(
		    cl, -EINVAL,
		    "pushing needs 2 or more messages in flight (the depth and the server's "
		    "window)");
	ret = stage_body(cl, ECHO_OP_PUSH, buf, len, &n);
	if (ret)
		return ret;
	group = w / 2 < 2 ? 2 : w / 2;
	arm_deadline(cl);
	while (done < count) {
		while (inflight < w && (sent < count || open)) {
			if (open == group - 1 || (sent == count && open)) {
				uint64_t token = cl->next_token + 1;

				if (groups == PUSH_GROUPS_MAX)
					break;
				ret =
				    try_send(cl, ping,
					     encode_token(ECHO_OP_PING, token, ping, sizeof(ping)));
				if (ret == -EAGAIN && !groups)
					ret = send_msg(cl, ping, sizeof(ping));
				if (ret == -EAGAIN)
					break;
				if (ret)
					return ret;
				cl->next_token = token;
				ring[(head + groups) % PUSH_GROUPS_MAX].token = token;
				ring[(head + groups++) % PUSH_GROUPS_MAX].msgs = open + 1;
				inflight++;
				open = 0;
				continue;
			}
			ret = try_send(cl, cl->tx, n);
			if (ret == -EAGAIN && !groups)
				ret = send_msg(cl, cl->tx, n);
			if (ret == -EAGAIN)
				break;
			if (ret)
				return ret;
			sent++;
			open++;
			inflight++;
		}
		ret = recv_msg(cl, &m);
		if (ret)
			return ret;
		if (m.op != ECHO_OP_PONG || !groups || m.u.token != ring[head].token)
			return fail(cl, -EPROTO,
				    "protocol error: expected the PONG of a push group, got %s",
				    echo_op_name(m.op));
		inflight -= ring[head].msgs;
		done += ring[head].msgs - 1;
		head = (head + 1) % PUSH_GROUPS_MAX;
		groups--;
		arm_deadline(cl);
	}
	return 0;
}

/* Post one RDMA write of the local buffer's first len bytes to offset of the server's region,
 * once a send slot is free. */
static int post_write(struct echo_client *cl, uint32_t len, uint32_t offset)
{
	int ret;

	for (;;) {
		ret = srdma_msg_write(cl->conn, 0, cl->wbuf, cl->wmr->lkey, len, ECHO_WRITE_REGION,
				      offset);
		if (ret != -EAGAIN)
			break;
		ret = wait_qp(cl);
		if (ret)
			return ret;
	}
	if (ret == -ENOENT)
		return fail(cl, ret, "the server revoked its write region");
	if (ret == -ERANGE || ret == -EACCES || ret == -EINVAL)
		return fail(cl, ret,
			    "cannot write %u bytes at offset %u of the server's region: %s", len,
			    offset, strerror(-ret));
	return ret ? conn_failed(cl, ret) : 0;
}

/* A write of len bytes at offset fits the local buffer and the server's largest region; the
 * server's region is made larger first if need be (REGION). */
static int check_write(struct echo_client *cl, uint32_t len, uint32_t offset)
{
	uint64_t end = (uint64_t)offset + len;

	if (!cl->wmr || len > cl->wlen || !len)
		return fail(cl, -EINVAL, "write of %u bytes exceeds the local write buffer", len);
	if (end > cl->info.server_write_len)
		return fail(cl, -ERANGE, "write outside the server's largest region (%u bytes)",
			    cl->info.server_write_len);
	return end > cl->region_len ? ask_region(cl, (uint32_t)end) : 0;
}

int echo_client_write_burst(struct echo_client *cl, uint32_t len, uint64_t count)
{
	uint64_t i;
	int ret;

	ret = check_write(cl, len, 0);
	if (ret)
		return ret;
	for (i = 0; i < count; i++) {
		arm_deadline(cl);
		ret = post_write(cl, len, 0);
		if (ret)
			return ret;
	}
	arm_deadline(cl);
	ret = srdma_msg_flush(cl->conn, 0, remaining_ms(cl));
	return ret ? conn_failed(cl, ret) : 0;
}

int echo_client_verify(struct echo_client *cl, const void *buf, uint32_t len, uint32_t offset)
{
	struct echo_msg m = {.op = ECHO_OP_WRITE_DONE};
	uint8_t msg[ECHO_HDR_LEN + ECHO_WRITE_DONE_LEN], sha[ECHO_TAG_LEN];
	unsigned int shalen = 0;
	int ret;

	if (!EVP_Digest(buf, len, sha, &shalen, EVP_sha256(), NULL) || shalen != sizeof(sha))
		return fail(cl, -EIO, "cannot hash the written bytes");
	/* The tag covers the bytes under the sequence number this WRITE_DONE will carry: the
	 * next one, which no send or receive takes before srdma_msg_send_wait sends it. */
	ret = srdma_tag(cl->conn, 0, 1, srdma_msg_next_seq(cl->conn, 0), offset, buf, len,
			m.u.write_done.tag);
	if (ret)
		return ret == -EIO || ret == -EINVAL
			   ? fail(cl, ret, "cannot compute the tag of the written bytes")
			   : conn_failed(cl, ret);
	m.u.write_done.offset = offset;
	m.u.write_done.length = len;
	if (echo_encode(&m, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		return fail(cl, -EINVAL, "cannot encode WRITE_DONE");
	ret = call(cl, msg, sizeof(msg), ECHO_OP_WRITE_RESULT, &m);
	if (ret)
		return ret;
	if (m.u.write_result.status != ECHO_WRITE_OK)
		return fail(cl, -EBADMSG, "server found %s in its region",
			    echo_write_status_text(m.u.write_result.status));
	/* Check what the server says it found, not only its verdict. */
	if (m.u.write_result.offset != offset || m.u.write_result.length != len ||
	    memcmp(m.u.write_result.sha256, sha, sizeof(sha)))
		return fail(cl, -EBADMSG,
			    "server's digest of the region differs from the bytes written");
	return 0;
}

int echo_client_write(struct echo_client *cl, const void *buf, uint32_t len, uint32_t offset)
{
	int ret;

	ret = check_write(cl, len, offset);
	if (ret)
		return ret;
	memcpy(cl->wbuf, buf, len);
	arm_deadline(cl);
	/* RC delivers the write before the WRITE_DONE that follows it; the buffer stays as it
	 * is until the WRITE_RESULT answers. */
	ret = post_write(cl, len, offset);
	return ret ? ret : echo_client_verify(cl, buf, len, offset);
}

int echo_client_ping(struct echo_client *cl, uint64_t *rtt_ns)
{
	uint8_t msg[ECHO_HDR_LEN + ECHO_PING_LEN];
	uint64_t token = ++cl->next_token, t0 = now_ns();
	struct echo_msg m;
	int ret;

	ret = call(cl, msg, encode_token(ECHO_OP_PING, token, msg, sizeof(msg)), ECHO_OP_PONG, &m);
	if (ret)
		return ret;
	if (rtt_ns)
		*rtt_ns = now_ns() - t0;
	if (m.u.token != token)
		return fail(cl, -EBADMSG, "PONG carries another token than the PING");
	return 0;
}

int echo_client_idle(struct echo_client *cl, unsigned ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;

	for (;;) {
		struct pollfd p = {.fd = srdma_conn_fd(cl->conn)};
		uint64_t now;
		int n, ret;

		ret = take_events(cl);
		if (ret)
			return ret;
		now = now_ns();
		if (now >= end)
			return 0;
		p.events = srdma_conn_poll_events(cl->conn);
		n = poll(&p, 1, poll_ms(cl, (int)((end - now + 999999) / 1000000)));
		if (n < 0 && errno == EINTR)
			return fail(cl, -EINTR, "idle interrupted by a signal");
		if (n < 0)
			return fail(cl, -errno, "poll: %s", strerror(errno));
	}
}

int echo_client_quit(struct echo_client *cl)
{
	uint8_t msg[ECHO_HDR_LEN];
	struct echo_msg m;
	int ret;

	echo_put_hdr(msg, ECHO_OP_QUIT);
	ret = call(cl, msg, sizeof(msg), ECHO_OP_BYE, &m);
	/* The server closes right after BYE: its close may overtake BYE at our side (the
	 * library then fails the receive), and an orderly close after our QUIT is its answer
	 * all the same. */
	if (ret == -ECONNRESET && cl->peer_closed && !cl->notice[0])
		return 0;
	return ret;
}
