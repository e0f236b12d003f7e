/* Host test: TLS (src/tls.c) and the framed control channel (src/chan.c) over real TCP on
 * 127.0.0.1. Each case runs a server in a thread and a client in the test thread, both on
 * non-blocking sockets driven by poll() with a deadline, so a broken peer fails a case instead
 * of hanging it.
 *
 * Certificates come from $SRDMA_TEST_CERTS (made by $SRDMA_GEN_CERTS when missing).
 *
 * cmocka's assertions longjmp, so nothing asserts while the server thread runs: both sides
 * record what happened, the thread is joined, everything is freed, and only then are the
 * records checked. */
#include "tls_harness.h"

/* ---- 1. handshake ---- */

static void check_handshake(const struct certs *c, const char *name)
{
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_3);
	struct client_result r;
	struct server s;

	run_session(sctx, cctx, name, &s, &r);
	assert_session_ok(&s, &r);
	assert_version(r.desc, "TLSv1.3");
	assert_version(s.desc, "TLSv1.3");
	assert_string_equal(r.errmsg, "");
}

static void test_handshake_dns_name(void **state)
{
	check_handshake(*state, "localhost");
}

static void test_handshake_ip_san(void **state)
{
	check_handshake(*state, "127.0.0.1");
}

/* ---- 2. OPEN / QP / READY ---- */

/* What one side sent and received during the set-up exchange. */
struct peer_log {
	struct srdma_open open_out;
	struct srdma_wire_qp qp_out;
	struct srdma_frame open_in;
	struct srdma_frame qp_in;
	struct srdma_frame ready_in;
	int ret;
	uint64_t frames_in;
	uint64_t frames_out;
	char errmsg[256];
};

/* One messages QP (index 0) each way; the OPEN both sides send for it. */
static const struct srdma_open one_qp_open = {.features = SRDMA_FEAT_AEAD, .nqp = 1, .msg_mask = 1};

/* A RoCE v2 server: IPv4-mapped GID of 192.0.2.1, 4096-byte MTU, a messages QP. */
static const struct srdma_wire_qp server_qp = {
    .index = 0,
    .driver = 1,
    .lid = 0,
    .qpn = 0x0011a2,
    .psn = 0x00abcdef,
    .mtu = 5, /* IBV_MTU_4096 */
    .rd_atomic = 0,
    .gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1},
    .max_msg = 65536,
    .depth = 4,
    .rekey_log2 = 16,
};

static const struct srdma_wire_qp client_qp = {
    .index = 0,
    .driver = 1,
    .lid = 0,
    .qpn = 0x0011b7,
    .psn = 0x00123456,
    .mtu = 5,
    .rd_atomic = 16,
    .gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1},
    .max_msg = 4096,
    .depth = 8,
    .rekey_log2 = 0,
};

static uint32_t random_psn(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)now_ms() * 2654435761u;
	return v & SRDMA_PSN_MASK;
}

#define STEP(expr)                                                                                 \
	do {                                                                                       \
		ret = (expr);                                                                      \
		if (ret < 0)                                                                       \
			goto out;                                                                  \
	} while (0)

/* The client speaks first; then both send a QP frame, then READY. */
static int run_exchange(struct srdma_tls *t, struct peer_log *log, int is_server, int64_t deadline)
{
	struct srdma_frame open = {.type = SRDMA_FRAME_OPEN, .u.open = log->open_out};
	struct srdma_frame qp = {.type = SRDMA_FRAME_QP, .u.qp = log->qp_out};
	struct srdma_frame ready = {.type = SRDMA_FRAME_READY};
	struct srdma_chan ch;
	int ret;

	srdma_chan_init(&ch, t);
	if (is_server) {
		STEP(chan_recv_wait(&ch, &log->open_in, deadline));
		STEP(chan_send_wait(&ch, &open, deadline));
	} else {
		STEP(chan_send_wait(&ch, &open, deadline));
		STEP(chan_recv_wait(&ch, &log->open_in, deadline));
	}
	STEP(chan_send_wait(&ch, &qp, deadline));
	STEP(chan_recv_wait(&ch, &log->qp_in, deadline));
	STEP(chan_send_wait(&ch, &ready, deadline));
	STEP(chan_recv_wait(&ch, &log->ready_in, deadline));
	ret = 0;
out:
	log->ret = ret;
	log->frames_in = ch.frames_in;
	log->frames_out = ch.frames_out;
	snprintf(log->errmsg, sizeof(log->errmsg), "%s", ch.errmsg);
	return ret;
}

static int serve_exchange(struct srdma_tls *t, void *arg, int64_t deadline)
{
	int ret = run_exchange(t, arg, 1, deadline);

	return ret ? ret : expect_close(t, deadline);
}

static void assert_open_equal(const struct srdma_frame *got, const struct srdma_open *sent)
{
	assert_int_equal(got->type, SRDMA_FRAME_OPEN);
	assert_int_equal(got->u.open.features, sent->features);
	assert_int_equal(got->u.open.nqp, sent->nqp);
	assert_int_equal(got->u.open.msg_mask, sent->msg_mask);
}

static void assert_qp_equal(const struct srdma_frame *got, const struct srdma_wire_qp *sent)
{
	const struct srdma_wire_qp *q = &got->u.qp;

	assert_int_equal(got->type, SRDMA_FRAME_QP);
	assert_int_equal(q->index, sent->index);
	assert_int_equal(q->driver, sent->driver);
	assert_int_equal(q->lid, sent->lid);
	assert_int_equal(q->qpn, sent->qpn);
	assert_int_equal(q->psn, sent->psn);
	assert_int_equal(q->mtu, sent->mtu);
	assert_int_equal(q->rd_atomic, sent->rd_atomic);
	assert_memory_equal(q->gid, sent->gid, sizeof(q->gid));
	assert_int_equal(q->max_msg, sent->max_msg);
	assert_int_equal(q->depth, sent->depth);
	assert_int_equal(q->rekey_log2, sent->rekey_log2);
}

static void test_setup_exchange(void **state)
{
	const struct certs *c = *state;
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_3);
	struct peer_log slog = {.open_out = one_qp_open, .qp_out = server_qp, .ret = NOT_RUN};
	struct peer_log clog = {.open_out = one_qp_open, .qp_out = client_qp, .ret = NOT_RUN};
	struct client_result r;
	struct srdma_tls *t;
	struct server s;

	slog.qp_out.psn = random_psn();
	clog.qp_out.psn = random_psn();
	server_start(&s, sctx, serve_exchange, &slog);
	client_result_init(&r);
	client_open(cctx, "localhost", s.port, now_ms() + DEADLINE_MS, &r, &t);
	if (r.hs_ret == 0)
		run_exchange(t, &clog, 0, now_ms() + DEADLINE_MS);
	client_close(t, &r);
	server_join(&s);
	srdma_tls_ctx_destroy(cctx);
	srdma_tls_ctx_destroy(sctx);

	assert_ret(r.hs_ret, 0, r.errmsg);
	assert_ret(s.hs_ret, 0, s.errmsg);
	assert_ret(clog.ret, 0, clog.errmsg);
	assert_ret(slog.ret, 0, slog.errmsg);
	assert_ret(s.fn_ret, 0, s.errmsg);

	assert_open_equal(&slog.open_in, &clog.open_out);
	assert_open_equal(&clog.open_in, &slog.open_out);
	assert_qp_equal(&slog.qp_in, &clog.qp_out);
	assert_qp_equal(&clog.qp_in, &slog.qp_out);
	assert_int_equal(slog.ready_in.type, SRDMA_FRAME_READY);
	assert_int_equal(clog.ready_in.type, SRDMA_FRAME_READY);
	assert_int_equal(clog.frames_out, 3);
	assert_int_equal(clog.frames_in, 3);
	assert_int_equal(slog.frames_out, 3);
	assert_int_equal(slog.frames_in, 3);
}

struct full_probe {
	struct srdma_frame open_in;
	int ret;
};

/* A full server: reads the OPEN, answers ERROR instead, says goodbye. */
static int serve_full(struct srdma_tls *t, void *arg, int64_t deadline)
{
	struct full_probe *p = arg;
	struct srdma_chan ch;
	struct srdma_frame f;
	int ret;

	srdma_chan_init(&ch, t);
	STEP(chan_recv_wait(&ch, &p->open_in, deadline));
	srdma_frame_error(&f, SRDMA_ERR_SERVER_FULL, "server full");
	STEP(chan_send_wait(&ch, &f, deadline));
	srdma_tls_close_notify(t);
	ret = expect_close(t, deadline);
out:
	p->ret = ret;
	return ret;
}

static void test_server_full_error_frame(void **state)
{
	const struct certs *c = *state;
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_3);
	struct srdma_frame open = {.type = SRDMA_FRAME_OPEN, .u.open = one_qp_open};
	struct srdma_frame reply = {0}, after = {0};
	struct full_probe p = {.ret = NOT_RUN};
	int send_ret = NOT_RUN, reply_ret = NOT_RUN, after_ret = NOT_RUN;
	char after_msg[256] = "";
	struct client_result r;
	struct srdma_chan ch;
	struct srdma_tls *t;
	struct server s;

	server_start(&s, sctx, serve_full, &p);
	client_result_init(&r);
	client_open(cctx, "localhost", s.port, now_ms() + DEADLINE_MS, &r, &t);
	if (r.hs_ret == 0) {
		int64_t deadline = now_ms() + DEADLINE_MS;

		srdma_chan_init(&ch, t);
		send_ret = chan_send_wait(&ch, &open, deadline);
		reply_ret = chan_recv_wait(&ch, &reply, deadline);
		after_ret = chan_recv_wait(&ch, &after, deadline);
		snprintf(after_msg, sizeof(after_msg), "%s", ch.errmsg);
	}
	client_close(t, &r);
	server_join(&s);
	srdma_tls_ctx_destroy(cctx);
	srdma_tls_ctx_destroy(sctx);

	assert_ret(r.hs_ret, 0, r.errmsg);
	assert_ret(s.hs_ret, 0, s.errmsg);
	assert_int_equal(send_ret, 0);
	assert_open_equal(&p.open_in, &open.u.open);
	assert_ret(reply_ret, 1, after_msg);
	assert_int_equal(reply.type, SRDMA_FRAME_ERROR);
	assert_int_equal(reply.u.error.code, SRDMA_ERR_SERVER_FULL);
	assert_string_equal(reply.u.error.msg, "server full");
	assert_string_equal(srdma_error_code_name(reply.u.error.code), "SERVER_FULL");
	/* After ERROR the server closes: the client sees the end, not another frame. */
	assert_ret(after_ret, -ECONNRESET, after_msg);
	assert_mentions(after_msg, "closed");
	assert_ret(p.ret, 0, s.errmsg);
}

/* ---- 3. the client refuses the server ---- */

static void check_refused(const struct certs *c, const char *ca, const char *name,
			  const char *reason)
{
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(ca, NULL, NULL, SRDMA_TLS_1_3);
	struct client_result r;
	struct server s;

	run_session(sctx, cctx, name, &s, &r);
	assert_int_equal(r.connect_ret, 0);
	assert_ret(r.hs_ret, -EPROTO, r.errmsg);
	assert_mentions(r.errmsg, "verification");
	assert_mentions(r.errmsg, reason);
	assert_int_equal(r.io_ret, NOT_RUN);
	/* The client's alert reaches the server, which fails too instead of waiting. */
	assert_ret(s.hs_ret, -EPROTO, s.errmsg);
	assert_mentions(s.errmsg, "alert");
	assert_int_equal(s.fn_ret, NOT_RUN);
}

static void test_refuses_wrong_server_name(void **state)
{
	const struct certs *c = *state;

	check_refused(c, c->ca, "example.com", "hostname mismatch");
}

static void test_refuses_wrong_server_ip(void **state)
{
	const struct certs *c = *state;

	/* In no SAN of the certificate: the IP check is real, not "any address goes". */
	check_refused(c, c->ca, "127.0.0.2", "IP address mismatch");
}

static void test_refuses_unknown_ca(void **state)
{
	const struct certs *c = *state;

	check_refused(c, c->other_ca, "localhost", "local issuer");
}

/* ---- 4. mutual TLS ---- */

static void run_mtls(const struct certs *c, const char *cert, const char *key, struct server *s,
		     struct client_result *r)
{
	struct srdma_tls_ctx *sctx = server_ctx(c, c->ca, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, cert, key, SRDMA_TLS_1_3);

	run_session(sctx, cctx, "localhost", s, r);
}

static void test_mtls_accepts_client_cert(void **state)
{
	const struct certs *c = *state;
	struct client_result r;
	struct server s;

	run_mtls(c, c->client_cert, c->client_key, &s, &r);
	assert_session_ok(&s, &r);
	assert_version(s.desc, "TLSv1.3");
}

static void check_mtls_refused(const struct certs *c, const char *cert, const char *key,
			       const char *reason)
{
	struct client_result r;
	struct server s;

	run_mtls(c, cert, key, &s, &r);
	assert_int_equal(s.accept_ret, 0);
	assert_ret(s.hs_ret, -EPROTO, s.errmsg);
	assert_mentions(s.errmsg, reason);
	assert_int_equal(s.fn_ret, NOT_RUN);
	assert_client_refused(&r);
}

static void test_mtls_refuses_no_cert(void **state)
{
	check_mtls_refused(*state, NULL, NULL, "did not return a certificate");
}

static void test_mtls_refuses_other_ca_cert(void **state)
{
	const struct certs *c = *state;

	check_mtls_refused(c, c->other_cert, c->other_key, "verification");
}

static void test_mtls_refuses_expired_cert(void **state)
{
	const struct certs *c = *state;

	check_mtls_refused(c, c->expired_cert, c->expired_key, "expired");
}

/* ---- 5. TLS version floor ---- */

static void test_tls12_floor_client_gets_tls13(void **state)
{
	const struct certs *c = *state;
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_2);
	struct client_result r;
	struct server s;

	run_session(sctx, cctx, "localhost", &s, &r);
	assert_session_ok(&s, &r);
	assert_version(r.desc, "TLSv1.3");
	assert_version(s.desc, "TLSv1.3");
}

static int raw_wait(SSL *ssl, int fd, int ret, int64_t deadline)
{
	int err = SSL_get_error(ssl, ret);

	if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
		return -EPROTO;
	return wait_fd(fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline);
}

static int raw_handshake(SSL *ssl, int fd, int64_t deadline)
{
	for (;;) {
		int ret = SSL_do_handshake(ssl);

		if (ret == 1)
			return 0;
		ret = raw_wait(ssl, fd, ret, deadline);
		if (ret)
			return ret;
	}
}

static int raw_read_frame(SSL *ssl, int fd, struct srdma_frame *f, int64_t deadline)
{
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	size_t have = 0;

	for (;;) {
		ssize_t used = srdma_frame_decode(buf, have, f);
		size_t n = 0;
		int ret;

		if (used != 0)
			return used > 0 ? 1 : (int)used;
		if (SSL_read_ex(ssl, buf + have, sizeof(buf) - have, &n) == 1) {
			have += n;
			continue;
		}
		ret = raw_wait(ssl, fd, 0, deadline);
		if (ret)
			return ret;
	}
}

/* A client built on OpenSSL directly that cannot go above TLS 1.2, as an old peer would. */
static void raw_tls12_session(const struct certs *c, uint16_t port, int no_ems,
			      struct client_result *r)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	SSL_CTX *sc;
	SSL *ssl = NULL;
	int fd = -1;

	client_result_init(r);
	sc = SSL_CTX_new(TLS_client_method());
	if (!sc || SSL_CTX_set_max_proto_version(sc, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(sc, c->ca, NULL) != 1) {
		r->connect_ret = -EINVAL;
		goto out;
	}
	SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
	if (no_ems)
		SSL_CTX_set_options(sc, SSL_OP_NO_EXTENDED_MASTER_SECRET);
	fd = connect_wait(port, deadline);
	if (fd < 0) {
		r->connect_ret = fd;
		goto out;
	}
	ssl = SSL_new(sc);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
	    SSL_set1_host(ssl, "localhost") != 1) {
		r->connect_ret = -EINVAL;
		goto out;
	}
	r->connect_ret = 0;
	SSL_set_connect_state(ssl);
	r->hs_ret = raw_handshake(ssl, fd, deadline);
	if (r->hs_ret == 0) {
		snprintf(r->desc, sizeof(r->desc), "%s %s", SSL_get_version(ssl),
			 SSL_get_cipher_name(ssl));
		r->io_ret = raw_read_frame(ssl, fd, &r->frame, deadline);
	}
	if (ERR_peek_error())
		ERR_error_string_n(ERR_get_error(), r->errmsg, sizeof(r->errmsg));
	if (r->io_ret == 1)
		(void)SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(sc);
}

static void run_raw_tls12(const struct certs *c, enum srdma_tls_version server_min, int no_ems,
			  struct server *s, struct client_result *r)
{
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, server_min);

	server_start(s, sctx, NULL, NULL);
	raw_tls12_session(c, s->port, no_ems, r);
	server_join(s);
	srdma_tls_ctx_destroy(sctx);
}

static void test_tls13_server_refuses_tls12_client(void **state)
{
	struct client_result r;
	struct server s;

	run_raw_tls12(*state, SRDMA_TLS_1_3, 0, &s, &r);
	assert_int_equal(r.connect_ret, 0);
	assert_ret(r.hs_ret, -EPROTO, r.errmsg);
	assert_mentions(r.errmsg, "protocol version");
	assert_ret(s.hs_ret, -EPROTO, s.errmsg);
	assert_mentions(s.errmsg, "unsupported protocol");
}

static void test_tls12_server_accepts_tls12_client(void **state)
{
	struct client_result r;
	struct server s;

	run_raw_tls12(*state, SRDMA_TLS_1_2, 0, &s, &r);
	assert_session_ok(&s, &r);
	assert_version(r.desc, "TLSv1.2");
	assert_version(s.desc, "TLSv1.2");
}

/* TLS 1.2 without Extended Master Secret: keys exported from such a session are not bound to
 * the handshake (RFC 7627), so the server refuses it. */
static void test_tls12_server_refuses_client_without_ems(void **state)
{
	struct client_result r;
	struct server s;

	run_raw_tls12(*state, SRDMA_TLS_1_2, 1, &s, &r);
	assert_int_equal(r.connect_ret, 0);
	assert_ret(s.hs_ret, -EPROTO, s.errmsg);
	assert_mentions(s.errmsg, "Extended Master Secret");
	assert_int_not_equal(r.io_ret, 1);
}

/* ---- 6. bad input on the channel ---- */

/* Receives up to max frames, then lets the client end the connection. */
struct recv_probe {
	int max;
	int got;
	int ret; /* the last srdma_chan_recv result: 1 when all max frames came */
	struct srdma_frame frames[4];
	struct srdma_frame_hdr last_hdr;
	size_t in_len;
	char errmsg[256];
};

static int serve_recv(struct srdma_tls *t, void *arg, int64_t deadline)
{
	struct recv_probe *p = arg;
	struct srdma_chan ch;

	srdma_chan_init(&ch, t);
	do {
		p->ret = chan_recv_wait(&ch, &p->frames[p->got], deadline);
	} while (p->ret == 1 && ++p->got < p->max);
	p->last_hdr = ch.last_hdr;
	p->in_len = ch.in_len;
	snprintf(p->errmsg, sizeof(p->errmsg), "%s", ch.errmsg);
	switch (p->ret) {
	case 1:
	case -EBADMSG:
	case -EPROTONOSUPPORT:
	case -EMSGSIZE:
		/* The connection itself is fine; a real server would answer ERROR here. */
		return expect_close(t, deadline);
	default:
		return 0;
	}
}

static void run_raw_frames(const struct certs *c, const struct raw_write *w, struct recv_probe *p,
			   struct server *s, struct client_result *r)
{
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_3);

	server_start(s, sctx, serve_recv, p);
	client_write_raw(cctx, s->port, w, r);
	server_join(s);
	srdma_tls_ctx_destroy(cctx);
	srdma_tls_ctx_destroy(sctx);
	assert_ret(r->hs_ret, 0, r->errmsg);
	assert_ret(r->io_ret, 0, r->errmsg);
	assert_ret(s->hs_ret, 0, s->errmsg);
	assert_ret(s->fn_ret, 0, s->errmsg);
}

static size_t encode(const struct srdma_frame *f, uint8_t *buf, size_t cap)
{
	ssize_t n = srdma_frame_encode(f, buf, cap);

	assert_true(n > 0);
	return (size_t)n;
}

static size_t open_bytes(uint8_t *buf, size_t cap)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_OPEN, .u.open = one_qp_open};

	return encode(&f, buf, cap);
}

static void check_bad_frame(const struct certs *c, const uint8_t *buf, size_t len, int want,
			    struct recv_probe *p)
{
	struct raw_write w = {.buf = buf, .len = len, .close_notify = 1};
	struct client_result r;
	struct server s;

	memset(p, 0, sizeof(*p));
	p->max = 1;
	run_raw_frames(c, &w, p, &s, &r);
	assert_ret(p->ret, want, p->errmsg);
	assert_int_equal(p->got, 0);
	assert_mentions(p->errmsg, "malformed");
}

static void test_chan_rejects_wrong_magic(void **state)
{
	uint8_t buf[64];
	size_t len = open_bytes(buf, sizeof(buf));
	struct recv_probe p;

	buf[0] = 0xde;
	buf[1] = 0xad;
	check_bad_frame(*state, buf, len, -EBADMSG, &p);
	assert_int_equal(p.last_hdr.magic, 0xdead);
}

/* Another protocol version than ours (1, the two-round-trip set-up, comes before ours). */
static void test_chan_rejects_other_version(void **state)
{
	uint8_t buf[64];
	size_t len = open_bytes(buf, sizeof(buf));
	struct recv_probe p;

	buf[2] = SRDMA_PROTO_VERSION - 1;
	check_bad_frame(*state, buf, len, -EPROTONOSUPPORT, &p);
	assert_int_equal(p.last_hdr.version, SRDMA_PROTO_VERSION - 1);
	assert_int_equal(p.last_hdr.type, SRDMA_FRAME_OPEN);
}

static void test_chan_rejects_oversized_frame(void **state)
{
	/* One byte over the limit, payload included, as a peer with a bigger limit would send. */
	uint8_t buf[SRDMA_FRAME_HDR_LEN + SRDMA_FRAME_MAX_PAYLOAD + 1];
	const uint32_t len = SRDMA_FRAME_MAX_PAYLOAD + 1;
	struct recv_probe p;

	memset(buf, 'x', sizeof(buf));
	buf[0] = SRDMA_WIRE_MAGIC >> 8;
	buf[1] = SRDMA_WIRE_MAGIC & 0xff;
	buf[2] = SRDMA_PROTO_VERSION;
	buf[3] = SRDMA_FRAME_ERROR;
	buf[4] = (uint8_t)(len >> 24);
	buf[5] = (uint8_t)(len >> 16);
	buf[6] = (uint8_t)(len >> 8);
	buf[7] = (uint8_t)len;
	check_bad_frame(*state, buf, sizeof(buf), -EMSGSIZE, &p);
	assert_int_equal(p.last_hdr.length, len);
}

static void test_chan_reassembles_split_and_coalesced_frames(void **state)
{
	struct srdma_frame qp = {.type = SRDMA_FRAME_QP, .u.qp = client_qp};
	struct srdma_frame ready = {.type = SRDMA_FRAME_READY};
	uint8_t buf[3 * SRDMA_FRAME_MAX_LEN];
	size_t len = open_bytes(buf, sizeof(buf));
	/* OPEN in three records, the header itself cut in two; QP and READY in one. */
	struct raw_write w = {.buf = buf, .pieces = {5, 3, SRDMA_OPEN_LEN}, .close_notify = 1};
	struct client_result r;
	struct recv_probe p = {.max = 3};
	struct server s;

	len += encode(&qp, buf + len, sizeof(buf) - len);
	len += encode(&ready, buf + len, sizeof(buf) - len);
	w.len = len;
	run_raw_frames(*state, &w, &p, &s, &r);
	assert_ret(p.ret, 1, p.errmsg);
	assert_int_equal(p.got, 3);
	assert_open_equal(&p.frames[0], &one_qp_open);
	assert_qp_equal(&p.frames[1], &client_qp);
	assert_int_equal(p.frames[2].type, SRDMA_FRAME_READY);
	assert_int_equal(p.in_len, 0);
}

static void check_close_mid_frame(const struct certs *c, int close_notify)
{
	struct srdma_frame qp = {.type = SRDMA_FRAME_QP, .u.qp = client_qp};
	uint8_t buf[SRDMA_FRAME_MAX_LEN];
	struct raw_write w = {.buf = buf, .len = 20, .close_notify = close_notify};
	struct client_result r;
	struct recv_probe p = {.max = 1};
	struct server s;

	assert_true(encode(&qp, buf, sizeof(buf)) > w.len);
	run_raw_frames(c, &w, &p, &s, &r);
	assert_ret(p.ret, -ECONNRESET, p.errmsg);
	assert_int_equal(p.got, 0);
	assert_int_equal(p.in_len, w.len);
	assert_mentions(p.errmsg, "closed");
}

static void test_chan_peer_closes_mid_frame(void **state)
{
	check_close_mid_frame(*state, 0);
}

static void test_chan_peer_close_notify_mid_frame(void **state)
{
	check_close_mid_frame(*state, 1);
}

/* Send text that is not TLS, then wait for the server to drop the connection: 0 once it did
 * (EOF or reset), -ETIMEDOUT if it never does. */
static int plaintext_client(uint16_t port, const char *text)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	size_t off = 0, len = strlen(text);
	int fd = connect_wait(port, deadline);
	int ret = 0;

	if (fd < 0)
		return fd;
	while (off < len && !ret) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

		if (n >= 0)
			off += (size_t)n;
		else if (errno == EPIPE || errno == ECONNRESET)
			goto out;
		else if (errno == EAGAIN || errno == EINTR)
			ret = wait_fd(fd, POLLOUT, deadline);
		else
			ret = -errno;
	}
	while (!ret) {
		char buf[256];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n > 0)
			continue;
		if (errno == EAGAIN || errno == EINTR)
			ret = wait_fd(fd, POLLIN, deadline);
		else
			ret = -errno;
	}
out:
	close(fd);
	return ret;
}

static void test_tls_rejects_plaintext_client(void **state)
{
	struct srdma_tls_ctx *sctx = server_ctx(*state, NULL, SRDMA_TLS_1_3);
	struct server s;
	int ret;

	server_start(&s, sctx, NULL, NULL);
	ret = plaintext_client(s.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	server_join(&s);
	srdma_tls_ctx_destroy(sctx);
	assert_int_equal(ret, 0);
	assert_int_equal(s.accept_ret, 0);
	assert_ret(s.hs_ret, -EPROTO, s.errmsg);
	assert_mentions(s.errmsg, "http request");
	assert_int_equal(s.fn_ret, NOT_RUN);
}

static void test_tls_client_leaves_before_hello(void **state)
{
	struct srdma_tls_ctx *sctx = server_ctx(*state, NULL, SRDMA_TLS_1_3);
	struct server s;
	int fd;

	/* A port scanner: connects, sends nothing, hangs up. */
	server_start(&s, sctx, NULL, NULL);
	fd = connect_wait(s.port, now_ms() + DEADLINE_MS);
	if (fd >= 0)
		close(fd);
	server_join(&s);
	srdma_tls_ctx_destroy(sctx);
	assert_true(fd >= 0);
	assert_int_equal(s.accept_ret, 0);
	assert_ret(s.hs_ret, -ECONNRESET, s.errmsg);
	assert_mentions(s.errmsg, "closed");
}

/* ---- 7. keying material exporter ---- */

struct export_probe {
	int ret_a;
	int ret_b;
	uint8_t a[EXPORT_LEN];
	uint8_t b[EXPORT_LEN];
};

static void export_both(struct srdma_tls *t, struct export_probe *p)
{
	static const uint8_t ctx_a[] = {0x00, 0x11, 0xa2, 0x00, 0x11, 0xb7}; /* the two QPNs */
	static const uint8_t ctx_b[] = {0x00, 0x11, 0xa2, 0x00, 0x11, 0xb8};

	p->ret_a = srdma_tls_export(t, EXPORT_LABEL, ctx_a, sizeof(ctx_a), p->a, sizeof(p->a));
	p->ret_b = srdma_tls_export(t, EXPORT_LABEL, ctx_b, sizeof(ctx_b), p->b, sizeof(p->b));
}

static int serve_export(struct srdma_tls *t, void *arg, int64_t deadline)
{
	export_both(t, arg);
	return serve_ready(t, NULL, deadline);
}

static void test_export_same_on_both_ends(void **state)
{
	const struct certs *c = *state;
	struct srdma_tls_ctx *sctx = server_ctx(c, NULL, SRDMA_TLS_1_3);
	struct srdma_tls_ctx *cctx = client_ctx(c->ca, NULL, NULL, SRDMA_TLS_1_3);
	struct export_probe sp = {.ret_a = NOT_RUN, .ret_b = NOT_RUN};
	struct export_probe cp = {.ret_a = NOT_RUN, .ret_b = NOT_RUN};
	static const uint8_t zero[EXPORT_LEN];
	struct client_result r;
	struct srdma_chan ch;
	struct srdma_tls *t;
	struct server s;

	server_start(&s, sctx, serve_export, &sp);
	client_result_init(&r);
	client_open(cctx, "localhost", s.port, now_ms() + DEADLINE_MS, &r, &t);
	if (r.hs_ret == 0) {
		export_both(t, &cp);
		srdma_chan_init(&ch, t);
		r.io_ret = chan_recv_wait(&ch, &r.frame, now_ms() + DEADLINE_MS);
	}
	client_close(t, &r);
	server_join(&s);
	srdma_tls_ctx_destroy(cctx);
	srdma_tls_ctx_destroy(sctx);

	assert_session_ok(&s, &r);
	assert_int_equal(sp.ret_a, 0);
	assert_int_equal(sp.ret_b, 0);
	assert_int_equal(cp.ret_a, 0);
	assert_int_equal(cp.ret_b, 0);
	assert_memory_equal(cp.a, sp.a, EXPORT_LEN);
	assert_memory_equal(cp.b, sp.b, EXPORT_LEN);
	assert_memory_not_equal(cp.a, cp.b, EXPORT_LEN);
	assert_memory_not_equal(cp.a, zero, EXPORT_LEN);
}

/* ---- certificates ---- */

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_dns_name),
	    cmocka_unit_test(test_handshake_ip_san),
	    cmocka_unit_test(test_setup_exchange),
	    cmocka_unit_test(test_server_full_error_frame),
	    cmocka_unit_test(test_refuses_wrong_server_name),
	    cmocka_unit_test(test_refuses_wrong_server_ip),
	    cmocka_unit_test(test_refuses_unknown_ca),
	    cmocka_unit_test(test_mtls_accepts_client_cert),
	    cmocka_unit_test(test_mtls_refuses_no_cert),
	    cmocka_unit_test(test_mtls_refuses_other_ca_cert),
	    cmocka_unit_test(test_mtls_refuses_expired_cert),
	    cmocka_unit_test(test_tls12_floor_client_gets_tls13),
	    cmocka_unit_test(test_tls12_server_refuses_client_without_ems),
	    cmocka_unit_test(test_tls13_server_refuses_tls12_client),
	    cmocka_unit_test(test_tls12_server_accepts_tls12_client),
	    cmocka_unit_test(test_chan_rejects_wrong_magic),
	    cmocka_unit_test(test_chan_rejects_other_version),
	    cmocka_unit_test(test_chan_rejects_oversized_frame),
	    cmocka_unit_test(test_chan_reassembles_split_and_coalesced_frames),
	    cmocka_unit_test(test_chan_peer_closes_mid_frame),
	    cmocka_unit_test(test_chan_peer_close_notify_mid_frame),
	    cmocka_unit_test(test_tls_rejects_plaintext_client),
	    cmocka_unit_test(test_tls_client_leaves_before_hello),
	    cmocka_unit_test(test_export_same_on_both_ends),
	};

	return cmocka_run_group_tests(tests, harness_certs_setup, harness_certs_teardown);
}
