/* srdma-badpeer: the kinds of bad connection that get past TLS and OPEN, to the server's RDMA
 * resources: a stall after the OPEN exchange, bad QP frames, and bad steps of adding a QP. */
#include "badpeer.h"

/* The server's IPv4 address on p's socket (also as an IPv4-mapped IPv6 address): 1 and *out. */
static int peer_v4(struct peer *p, struct in_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = p->tls ? srdma_tls_fd(p->tls) : p->fd;

	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET) {
		*out = ((struct sockaddr_in *)&ss)->sin_addr;
		return 1;
	}
	if (ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr[12], 4);
		return 1;
	}
	return 0;
}

/* Our QP frame for index i (driver messages, like the server's), with made-up numbers: the
 * server moves a QP to RTS with them but never gets to send on it. The GID is the server's
 * own address IPv4-mapped (a RoCE listener requires one), if it is an IPv4 address. */
static void bogus_qp(struct run *r, struct peer *p, struct srdma_frame *f, unsigned index,
		     unsigned driver)
{
	struct in_addr v4;

	memset(f, 0, sizeof(*f));
	f->type = SRDMA_FRAME_QP;
	f->u.qp.index = (uint8_t)index;
	f->u.qp.driver = (uint8_t)driver;
	f->u.qp.qpn = 1 + rnd(r) % SRDMA_PSN_MASK;
	f->u.qp.psn = rnd(r) & SRDMA_PSN_MASK;
	f->u.qp.mtu = 3;
	if (peer_v4(p, &v4)) {
		f->u.qp.gid[10] = 0xff;
		f->u.qp.gid[11] = 0xff;
		memcpy(&f->u.qp.gid[12], &v4, 4);
	}
	if (driver) {
		f->u.qp.max_msg = 65536;
		f->u.qp.depth = 16;
	}
}

/* TLS, OPEN and our QP frames (protocol version 2: one flight), and the server's OPEN and QP
 * frames: it has accepted us and holds resources, its QPs at RTS. 0 there; 1 if an ERROR came
 * instead (recorded); -1 on a set-up failure. */
static int open_accepted(struct run *r, struct peer *p, struct outcome *o)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_OPEN};
	unsigned i;

	f.u.open.features = r->o->features;
	f.u.open.nqp = OPEN_NQP;
	f.u.open.msg_mask = OPEN_MSG_MASK;
	if (tls_connect(r, p, o) || send_frame(r, p, o, &f))
		return -1;
	for (i = 0; i < OPEN_NQP; i++) {
		bogus_qp(r, p, &f, i, (OPEN_MSG_MASK >> i) & 1);
		if (send_frame(r, p, o, &f))
			return -1;
	}
	return await_server_open(r, p, o);
}

void do_stall_open(struct run *r, struct peer *p, struct outcome *o)
{
	int ret;

	snprintf(o->sent, sizeof(o->sent), "OPEN and QP frames, then no READY");
	ret = open_accepted(r, p, o);
	if (ret < 0)
		return;
	/* ret 1: already at the deadline (a slow handshake): that is the answer too. */
	if (ret == 0)
		stalling(r, p,
			 "server sent OPEN, its QP frames and READY and holds our slot, PD, CQ, "
			 "QP and buffers");
	await_tls_close(p, o, r->stall_forever ? 0 : answer_deadline(r));
}

void do_badqp(struct run *r, struct peer *p, struct outcome *o)
{
	uint8_t buf[3 * SRDMA_FRAME_MAX_LEN];
	struct srdma_frame f[2];
	unsigned n = 1, i;
	size_t len;

	if (tls_connect(r, p, o))
		return;
	/* Protocol version 2: the server accepts on OPEN (slot, PD, QP in INIT) and judges the
	 * QP frames that follow in the same flight. */
	len = valid_open(r->o, buf, sizeof(buf));
	switch (rnd(r) % 5) {
	case 0:
		i = OPEN_NQP + rnd(r) % (SRDMA_WIRE_MAX_QPS - OPEN_NQP);
		bogus_qp(r, p, &f[0], i, 1);
		snprintf(o->sent, sizeof(o->sent), "OPEN, then a QP frame for index %u of %u", i,
			 OPEN_NQP);
		break;
	case 1:
		bogus_qp(r, p, &f[0], 0, 0);
		snprintf(o->sent, sizeof(o->sent),
			 "OPEN, then a raw QP frame for a library-driven QP");
		break;
	case 2:
		bogus_qp(r, p, &f[0], 0, 1);
		bogus_qp(r, p, &f[1], 0, 1);
		n = 2;
		/* The first QP frame completes a valid set-up step: the server may answer it
		 * (OPEN, QP, READY) before it reads the second, which then breaks the READY it
		 * expects, or read both at once and refuse the pair. */
		o->prefix_answer_ok = 1;
		snprintf(o->sent, sizeof(o->sent), "OPEN, then two QP frames for index 0");
		break;
	case 3:
		memset(&f[0], 0, sizeof(f[0]));
		f[0].type = SRDMA_FRAME_READY;
		snprintf(o->sent, sizeof(o->sent), "OPEN, then READY without a QP frame");
		break;
	default:
		memset(&f[0], 0, sizeof(f[0]));
		f[0].type = SRDMA_FRAME_OPEN;
		f[0].u.open.features = r->o->features;
		f[0].u.open.nqp = OPEN_NQP;
		f[0].u.open.msg_mask = OPEN_MSG_MASK;
		snprintf(o->sent, sizeof(o->sent), "OPEN, then a second OPEN");
		break;
	}
	/* One write, so that the server cannot close between the frames. */
	for (i = 0; i < n; i++) {
		ssize_t m = srdma_frame_encode(&f[i], buf + len, sizeof(buf) - len);

		if (m <= 0) {
			setup_failed(o, "cannot encode %s", srdma_frame_type_name(f[i].type));
			return;
		}
		len += (size_t)m;
	}
	(void)tls_send(r, p, o, buf, len);
	await_tls_close(p, o, answer_deadline(r));
}

/* The next frame from the server on an established connection, PINGs answered, REGION and
 * CTRL skipped: 0 and *f; -1 (set-up failure recorded). */
static int next_frame(struct run *r, struct peer *p, struct outcome *o, struct srdma_frame *f)
{
	uint64_t deadline = now_ns() + (uint64_t)r->o->timeout_ms * 1000000ull;
	struct srdma_frame pong = {.type = SRDMA_FRAME_PONG};
	int ret;

	for (;;) {
		ret = srdma_chan_recv(&p->chan, f);
		if (ret == 1 && f->type == SRDMA_FRAME_PING) {
			if (send_frame(r, p, o, &pong))
				return -1;
			continue;
		}
		if (ret == 1 && (f->type == SRDMA_FRAME_REGION || f->type == SRDMA_FRAME_CTRL))
			continue; /* an established server's own traffic */
		if (ret == 1)
			return 0;
		if (ret < 0) {
			setup_failed(o, "control channel: %s", p->chan.errmsg);
			return -1;
		}
		if (tls_wait(p, deadline)) {
			setup_failed(o, "no frame from the server within %u ms", r->o->timeout_ms);
			return -1;
		}
	}
}

void do_badadd(struct run *r, struct peer *p, struct outcome *o)
{
	struct srdma_frame f, got;
	unsigned i, pick = rnd(r) % 5;

	if (open_accepted(r, p, o))
		return;
	memset(&f, 0, sizeof(f));
	f.type = SRDMA_FRAME_READY;
	if (send_frame(r, p, o, &f))
		return;
	/* Established at the server: OPEN_NQP QPs; the next index is OPEN_NQP. */
	if (pick >= 3) {
		bogus_qp(r, p, &f, OPEN_NQP, 1);
		if (send_frame(r, p, o, &f) || next_frame(r, p, o, &got))
			return;
		if (got.type != SRDMA_FRAME_QP || got.u.qp.index != OPEN_NQP) {
			setup_failed(o, "the server answered an add of QP %u with %s (index %u)",
				     OPEN_NQP, srdma_frame_type_name(got.type),
				     got.type == SRDMA_FRAME_QP ? got.u.qp.index : 0);
			return;
		}
	}
	switch (pick) {
	case 0:
		i = OPEN_NQP + 1 + rnd(r) % (SRDMA_WIRE_MAX_QPS - OPEN_NQP - 1);
		bogus_qp(r, p, &f, i, 1);
		snprintf(o->sent, sizeof(o->sent), "set-up, then an add of QP %u (next: %u)", i,
			 OPEN_NQP);
		break;
	case 1:
		memset(&f, 0, sizeof(f));
		f.type = SRDMA_FRAME_READY;
		snprintf(o->sent, sizeof(o->sent), "set-up, then READY with no add in flight");
		break;
	case 2:
		memset(&f, 0, sizeof(f));
		f.type = SRDMA_FRAME_QP_REFUSED;
		f.u.qp_refused.index = OPEN_NQP;
		f.u.qp_refused.error.code = SRDMA_ERR_RDMA;
		snprintf(f.u.qp_refused.error.msg, sizeof(f.u.qp_refused.error.msg), "abandoned");
		snprintf(o->sent, sizeof(o->sent), "set-up, then QP_REFUSED with no add in flight");
		break;
	case 3:
		bogus_qp(r, p, &f, OPEN_NQP, 1);
		snprintf(o->sent, sizeof(o->sent),
			 "an add the server answered, then a second QP frame, not READY");
		break;
	default:
		memset(&f, 0, sizeof(f));
		f.type = SRDMA_FRAME_QP_REFUSED;
		f.u.qp_refused.index = OPEN_NQP;
		f.u.qp_refused.error.code = SRDMA_ERR_RDMA;
		snprintf(f.u.qp_refused.error.msg, sizeof(f.u.qp_refused.error.msg), "abandoned");
		if (send_frame(r, p, o, &f))
			return;
		memset(&f, 0, sizeof(f));
		f.type = SRDMA_FRAME_READY;
		snprintf(o->sent, sizeof(o->sent),
			 "an add the server answered, abandoned (QP_REFUSED), then READY");
		break;
	}
	if (send_frame(r, p, o, &f))
		return;
	await_established_close(p, o, answer_deadline(r));
}
