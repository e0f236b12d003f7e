/* srdma-badpeer: time, random bytes, frame bytes, notes, and TCP/TLS connection helpers. */
#include "badpeer.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

/* Remaining ms until deadline (0: passed); deadline 0 means none (-1 for poll). */
static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ns();

	if (!deadline)
		return -1;
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/* The test's own noise (not a secret): xorshift64*, seeded so that a failing run can be
 * replayed with --seed. */
uint32_t rnd(struct run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (uint32_t)((r->rng * 0x2545F4914F6CDD1Dull) >> 32);
}

void rnd_fill(struct run *r, uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)rnd(r);
}

void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A frame header written by hand, for the frames the codec refuses to produce. */
void put_hdr(uint8_t *p, uint16_t magic, uint8_t version, uint8_t type, uint32_t len)
{
	put_u16(p, magic);
	p[2] = version;
	p[3] = type;
	put_u32(p + 4, len);
}

/* A valid OPEN (our feature bits, OPEN_NQP queue pairs) into buf. */
size_t valid_open(const struct opts *op, uint8_t *buf, size_t cap)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_OPEN};
	ssize_t n;

	f.u.open.features = op->features;
	f.u.open.nqp = OPEN_NQP;
	f.u.open.msg_mask = OPEN_MSG_MASK;
	n = srdma_frame_encode(&f, buf, cap);
	return n > 0 ? (size_t)n : 0;
}

void note(struct outcome *o, const char *fmt, ...)
{
	size_t len = strlen(o->anomaly);
	va_list ap;

	if (len >= sizeof(o->anomaly) - 3)
		return;
	if (len) {
		memcpy(o->anomaly + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(o->anomaly + len, sizeof(o->anomaly) - len, fmt, ap);
	va_end(ap);
}

void setup_failed(struct outcome *o, const char *fmt, ...)
{
	va_list ap;

	o->setup_failed = 1;
	va_start(ap, fmt);
	vsnprintf(o->anomaly, sizeof(o->anomaly), fmt, ap);
	va_end(ap);
}

int tcp_connect(const struct opts *op, struct peer *p, struct outcome *o)
{
	char err[256];
	int fd, ret;

	ret = srdma_tcp_connect(op->host, op->port, (int)op->timeout_ms, &fd, err, sizeof(err));
	if (ret) {
		setup_failed(o, "%s", err);
		return ret;
	}
	p->fd = fd;
	p->t0_ns = now_ns();
	return 0;
}

/* Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT or -errno. */
int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pf = {.fd = fd, .events = events};
	int n;

	do {
		n = poll(&pf, 1, remaining_ms(deadline));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

int tls_wait(struct peer *p, uint64_t deadline)
{
	return wait_fd(p->fd, srdma_tls_want_write(p->tls) ? POLLOUT : POLLIN, deadline);
}

static int tls_start(struct run *r, struct peer *p, struct outcome *o)
{
	const char *name = r->o->server_name ? r->o->server_name : r->o->host;
	int ret;

	ret = srdma_tls_create(r->ctx, p->fd, name, &p->tls);
	if (ret) {
		p->fd = -1; /* closed by srdma_tls_create */
		setup_failed(o, "cannot set up TLS for \"%s\"", name);
		return ret;
	}
	srdma_chan_init(&p->chan, p->tls);
	return 0;
}

int tls_connect(struct run *r, struct peer *p, struct outcome *o)
{
	uint64_t deadline = now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull;
	int ret;

	if (tcp_connect(r->o, p, o) || tls_start(r, p, o))
		return -1;
	while ((ret = srdma_tls_handshake(p->tls)) == -EAGAIN) {
		if (tls_wait(p, deadline)) {
			setup_failed(o, "TLS handshake did not finish within %u ms",
				     r->o->timeout_ms);
			return -ETIMEDOUT;
		}
	}
	o->tls_ms = ms_since(p->t0_ns);
	if (ret)
		setup_failed(o, "TLS handshake failed: %s", srdma_tls_errmsg(p->tls));
	return ret;
}

/* Write bytes inside TLS, as they are (the codec is not involved). */
int tls_send(struct run *r, struct peer *p, struct outcome *o, const void *buf, size_t len)
{
	uint64_t deadline = now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull;
	ssize_t n;

	while ((n = srdma_tls_write(p->tls, buf, len)) == -EAGAIN) {
		if (tls_wait(p, deadline)) {
			note(o, "could not send %zu bytes within %u ms", len, r->o->timeout_ms);
			return -ETIMEDOUT;
		}
	}
	if (n < 0) {
		/* The server may already have closed: what it said is still to be read. */
		note(o, "send failed: %s", srdma_tls_errmsg(p->tls));
		return (int)n;
	}
	return 0;
}

/* Send a well-formed frame through the codec: 0, or -1 with the set-up failure recorded. */
int send_frame(struct run *r, struct peer *p, struct outcome *o, const struct srdma_frame *f)
{
	uint64_t deadline = now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull;
	int ret = srdma_chan_send(&p->chan, f);

	while (ret == -EAGAIN) {
		if (tls_wait(p, deadline))
			break;
		ret = srdma_chan_flush(&p->chan);
	}
	if (ret) {
		setup_failed(o, "cannot send %s: %s", srdma_frame_type_name(f->type),
			     p->chan.errmsg[0] ? p->chan.errmsg : strerror(-ret));
		return -1;
	}
	return 0;
}

/* After our OPEN and QP frames: read the server's OPEN, its OPEN_NQP QP frames and READY (it
 * has accepted us and now holds a slot, a PD, CQs, QPs and registered buffers for us). 0 once
 * they are all in;
 * 1 if an ERROR frame came instead (recorded in o: e.g. the set-up deadline on a handshake
 * that was already slow); -1 with the set-up failure recorded otherwise. With stall_forever
 * an ERROR is a set-up failure too (the server refused what should have been accepted). */
int await_server_open(struct run *r, struct peer *p, struct outcome *o)
{
	uint64_t deadline = now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull;
	struct srdma_frame f;
	unsigned qps = 0;
	int got_open = 0, got_ready = 0, ret;

	while (!got_ready) {
		ret = srdma_chan_recv(&p->chan, &f);
		if (ret == 0) {
			if (tls_wait(p, deadline)) {
				setup_failed(
				    o, "no OPEN, QP and READY frames from the server within %u ms",
				    r->o->timeout_ms);
				return -1;
			}
			continue;
		}
		if (ret < 0) {
			setup_failed(o, "control channel: %s", p->chan.errmsg);
			return -1;
		}
		if (f.type == SRDMA_FRAME_OPEN && !got_open) {
			if (f.u.open.nqp != OPEN_NQP || f.u.open.msg_mask != OPEN_MSG_MASK ||
			    f.u.open.features != r->o->features) {
				setup_failed(
				    o,
				    "the server's OPEN does not match ours (features 0x%x, "
				    "%u QPs, mask 0x%x)",
				    f.u.open.features, f.u.open.nqp, f.u.open.msg_mask);
				return -1;
			}
			got_open = 1;
		} else if (f.type == SRDMA_FRAME_QP && got_open && f.u.qp.index < OPEN_NQP &&
			   !(qps & (1u << f.u.qp.index))) {
			qps |= 1u << f.u.qp.index;
		} else if (f.type == SRDMA_FRAME_READY && qps == (1u << OPEN_NQP) - 1) {
			got_ready = 1;
		} else if (f.type == SRDMA_FRAME_ERROR && !r->stall_forever) {
			o->got_error = 1;
			o->code = f.u.error.code;
			snprintf(o->msg, sizeof(o->msg), "%s", f.u.error.msg);
			return 1;
		} else if (f.type == SRDMA_FRAME_ERROR) {
			setup_failed(o, "server refused our OPEN: %s: %s",
				     srdma_error_code_name(f.u.error.code), f.u.error.msg);
			return -1;
		} else {
			setup_failed(o, "unexpected %s frame", srdma_frame_type_name(f.type));
			return -1;
		}
	}
	return 0;
}

int raw_send(struct peer *p, struct outcome *o, const void *buf, size_t len)
{
	ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);

	/* A fresh socket's buffer takes these few bytes at once. */
	if (n != (ssize_t)len) {
		note(o, "send of %zu clear-text bytes failed: %s", len,
		     n < 0 ? strerror(errno) : "short write");
		return -EIO;
	}
	return 0;
}

/* Read frames until the server closes: records the first ERROR frame, notes anything else.
 * deadline 0: wait for ever. */
static void await_close(struct peer *p, struct outcome *o, uint64_t deadline, int established)
{
	struct srdma_frame f;
	int ret;

	for (;;) {
		ret = srdma_chan_recv(&p->chan, &f);
		if (ret == 1) {
			if (established && !o->got_error &&
			    (f.type == SRDMA_FRAME_REGION || f.type == SRDMA_FRAME_CTRL ||
			     f.type == SRDMA_FRAME_PING))
				continue; /* an established server's own traffic */
			if (o->prefix_answer_ok && !o->got_error &&
			    (f.type == SRDMA_FRAME_OPEN || f.type == SRDMA_FRAME_QP ||
			     f.type == SRDMA_FRAME_READY)) {
				o->prefix_frames++;
				continue;
			}
			if (f.type == SRDMA_FRAME_ERROR && !o->got_error) {
				o->got_error = 1;
				o->code = f.u.error.code;
				snprintf(o->msg, sizeof(o->msg), "%s", f.u.error.msg);
			} else {
				note(o, "server sent a %s frame", srdma_frame_type_name(f.type));
			}
			continue;
		}
		if (ret == -EBADMSG || ret == -EPROTONOSUPPORT || ret == -EMSGSIZE) {
			note(o, "server sent a malformed frame: %s", p->chan.errmsg);
			return;
		}
		if (ret < 0) {
			/* EOF, close_notify or a reset; or a fatal TLS alert, which OpenSSL sends
			 * by itself, e.g. "decode error" when we half-closed mid-stream. */
			o->closed = 1;
			o->close_ms = ms_since(p->t0_ns);
			if (ret != -ECONNRESET)
				snprintf(o->close_how, sizeof(o->close_how), "%s", p->chan.errmsg);
			return;
		}
		ret = tls_wait(p, deadline);
		if (ret) {
			note(o, "server did not close the connection within %.0f ms",
			     ms_since(p->t0_ns));
			return;
		}
	}
}

void await_tls_close(struct peer *p, struct outcome *o, uint64_t deadline)
{
	await_close(p, o, deadline, 0);
}

void await_established_close(struct peer *p, struct outcome *o, uint64_t deadline)
{
	await_close(p, o, deadline, 1);
}

/* Read the socket without TLS until the server closes it (plain, and a TLS handshake we
 * abandoned). deadline 0: wait for ever. */
void await_raw_close(struct peer *p, struct outcome *o, uint64_t deadline)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			if (!o->raw_bytes)
				o->raw_alert = buf[0] == TLS_RECORD_ALERT;
			o->raw_bytes += (size_t)n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET) {
			o->closed = 1;
			o->close_ms = ms_since(p->t0_ns);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			note(o, "recv: %s", strerror(errno));
			return;
		}
		if (wait_fd(p->fd, POLLIN, deadline)) {
			note(o, "server did not close the connection within %.0f ms",
			     ms_since(p->t0_ns));
			return;
		}
	}
}

/* How long to wait for the server's answer and close. */
uint64_t answer_deadline(struct run *r)
{
	unsigned ms = r->o->timeout_ms;

	if (r->o->close_within_ms && r->o->close_within_ms + 1000 > ms)
		ms = r->o->close_within_ms + 1000;
	return now_ns() + (uint64_t)ms * 1000000ull;
}

void stalling(struct run *r, struct peer *p, const char *what)
{
	if (!r->stall_forever)
		return;
	printf("stalling: %s, %.0f ms after connect\n", what, ms_since(p->t0_ns));
	fflush(stdout);
}
