/* The TLS loopback test's harness (see tls_harness.h). */
#include "tls_harness.h"

/* ---- bounded waits ---- */

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 once fd is ready for events (or in error: the next call reports it), -ETIMEDOUT. */
int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int wait_tls(struct srdma_tls *t, int64_t deadline)
{
	return wait_fd(srdma_tls_fd(t), srdma_tls_want_write(t) ? POLLOUT : POLLIN, deadline);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int handshake(struct srdma_tls *t, int64_t deadline)
{
	int ret;

	while ((ret = srdma_tls_handshake(t)) == -EAGAIN) {
		ret = wait_tls(t, deadline);
		if (ret)
			return ret;
	}
	return ret;
}

static int tls_write_all(struct srdma_tls *t, const void *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	while ((n = srdma_tls_write(t, buf, len)) == -EAGAIN) {
		int ret = wait_tls(t, deadline);

		if (ret)
			return ret;
	}
	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Read and drop whatever comes until the peer goes away: 0 when it closed (the channel reports
 * that as -ECONNRESET), another negative errno otherwise. */
int expect_close(struct srdma_tls *t, int64_t deadline)
{
	for (;;) {
		uint8_t buf[512];
		ssize_t n = srdma_tls_read(t, buf, sizeof(buf));
		int ret;

		if (n == -ECONNRESET)
			return 0;
		if (n >= 0)
			continue;
		if (n != -EAGAIN)
			return (int)n;
		ret = wait_tls(t, deadline);
		if (ret)
			return ret;
	}
}

/* 1 and *f filled, or a negative errno (-ETIMEDOUT if nothing whole came in time). */
int chan_recv_wait(struct srdma_chan *ch, struct srdma_frame *f, int64_t deadline)
{
	for (;;) {
		int ret = srdma_chan_recv(ch, f);

		if (ret != 0)
			return ret;
		ret = wait_tls(ch->tls, deadline);
		if (ret)
			return ret;
	}
}

int chan_send_wait(struct srdma_chan *ch, const struct srdma_frame *f, int64_t deadline)
{
	int ret = srdma_chan_send(ch, f);

	while (ret == -EAGAIN) {
		ret = wait_tls(ch->tls, deadline);
		if (ret)
			return ret;
		ret = srdma_chan_flush(ch);
	}
	return ret;
}

/* ---- TCP on 127.0.0.1 ---- */

int connect_wait(uint16_t port, int64_t deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t len = sizeof(int);
	int fd, ret, soerr = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	ret = -errno;
	if (ret == -EINPROGRESS) {
		ret = wait_fd(fd, POLLOUT, deadline);
		if (!ret && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			ret = -errno;
		else if (!ret)
			ret = -soerr;
	}
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int accept_wait(int lfd, int64_t deadline)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int ret;

		if (fd >= 0)
			return fd;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		ret = wait_fd(lfd, POLLIN, deadline);
		if (ret)
			return ret;
	}
}

/* ---- server side: one connection in a thread ---- */

/* The default session: send READY, then wait for the client to hang up. */
int serve_ready(struct srdma_tls *t, void *arg, int64_t deadline)
{
	struct srdma_frame f = {.type = SRDMA_FRAME_READY};
	struct srdma_chan ch;
	int ret;

	(void)arg;
	srdma_chan_init(&ch, t);
	ret = chan_send_wait(&ch, &f, deadline);
	if (ret)
		return ret;
	return expect_close(t, deadline);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct srdma_tls *t = NULL;
	int fd;

	fd = accept_wait(s->lfd, deadline);
	if (fd < 0) {
		s->accept_ret = fd;
		return NULL;
	}
	s->accept_ret = srdma_tls_create(s->ctx, fd, NULL, &t);
	if (s->accept_ret)
		return NULL;
	s->hs_ret = handshake(t, deadline);
	if (s->hs_ret == 0) {
		srdma_tls_describe(t, s->desc, sizeof(s->desc));
		s->fn_ret = (s->fn ? s->fn : serve_ready)(t, s->arg, deadline);
	}
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", srdma_tls_errmsg(t));
	srdma_tls_destroy(t);
	return NULL;
}

void server_start(struct server *s, struct srdma_tls_ctx *ctx, server_fn fn, void *arg)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->fn = fn;
	s->arg = arg;
	s->accept_ret = s->hs_ret = s->fn_ret = NOT_RUN;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

/* Bounded: the thread gives up at its own deadline. */
void server_join(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

/* ---- client side ---- */

void client_result_init(struct client_result *r)
{
	memset(r, 0, sizeof(*r));
	r->connect_ret = r->hs_ret = r->io_ret = NOT_RUN;
}

/* Connect and handshake; *out is set whenever connect_ret is 0, even if the handshake failed. */
void client_open(struct srdma_tls_ctx *ctx, const char *name, uint16_t port, int64_t deadline,
		 struct client_result *r, struct srdma_tls **out)
{
	int fd;

	*out = NULL;
	fd = connect_wait(port, deadline);
	if (fd < 0) {
		r->connect_ret = fd;
		return;
	}
	r->connect_ret = srdma_tls_create(ctx, fd, name, out);
	if (r->connect_ret)
		return;
	r->hs_ret = handshake(*out, deadline);
	if (r->hs_ret == 0)
		srdma_tls_describe(*out, r->desc, sizeof(r->desc));
}

void client_close(struct srdma_tls *t, struct client_result *r)
{
	if (!t)
		return;
	snprintf(r->errmsg, sizeof(r->errmsg), "%s", srdma_tls_errmsg(t));
	srdma_tls_close_notify(t);
	srdma_tls_destroy(t);
}

/* Handshake, then read the first frame (serve_ready sends READY). In TLS 1.3 a server that
 * rejects the client certificate does so after the client's handshake is complete, so that
 * read is where such a client learns it was refused. */
static void client_session(struct srdma_tls_ctx *ctx, const char *name, uint16_t port,
			   struct client_result *r)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct srdma_tls *t;
	struct srdma_chan ch;

	client_result_init(r);
	client_open(ctx, name, port, deadline, r, &t);
	if (r->hs_ret == 0) {
		srdma_chan_init(&ch, t);
		r->io_ret = chan_recv_wait(&ch, &r->frame, deadline);
	}
	client_close(t, r);
}

void client_write_raw(struct srdma_tls_ctx *ctx, uint16_t port, const struct raw_write *w,
		      struct client_result *r)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct srdma_tls *t;
	size_t off = 0;

	client_result_init(r);
	client_open(ctx, "localhost", port, deadline, r, &t);
	if (r->hs_ret == 0) {
		r->io_ret = 0;
		for (size_t i = 0; i < 4 && w->pieces[i] && !r->io_ret; i++) {
			r->io_ret = tls_write_all(t, w->buf + off, w->pieces[i], deadline);
			off += w->pieces[i];
			sleep_ms(20);
		}
		if (!r->io_ret && off < w->len)
			r->io_ret = tls_write_all(t, w->buf + off, w->len - off, deadline);
	}
	if (t) {
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", srdma_tls_errmsg(t));
		if (w->close_notify)
			srdma_tls_close_notify(t);
		srdma_tls_destroy(t);
	}
}

/* ---- contexts ---- */

struct srdma_tls_ctx *server_ctx(const struct certs *c, const char *client_ca,
				 enum srdma_tls_version min)
{
	struct srdma_tls_server_opts o = {
	    .cert = c->server_cert,
	    .key = c->server_key,
	    .client_ca = client_ca,
	    .min_version = min,
	};
	struct srdma_tls_ctx *ctx = NULL;
	char err[256] = "";

	assert_ret(srdma_tls_ctx_server_create(&o, &ctx, err, sizeof(err)), 0, err);
	assert_non_null(ctx);
	return ctx;
}

struct srdma_tls_ctx *client_ctx(const char *ca, const char *cert, const char *key,
				 enum srdma_tls_version min)
{
	struct srdma_tls_client_opts o = {.ca = ca, .cert = cert, .key = key, .min_version = min};
	struct srdma_tls_ctx *ctx = NULL;
	char err[256] = "";

	assert_ret(srdma_tls_ctx_client_create(&o, &ctx, err, sizeof(err)), 0, err);
	assert_non_null(ctx);
	return ctx;
}

/* One default session (server sends READY) with the given contexts, which it destroys. */
void run_session(struct srdma_tls_ctx *sctx, struct srdma_tls_ctx *cctx, const char *name,
		 struct server *s, struct client_result *r)
{
	server_start(s, sctx, NULL, NULL);
	client_session(cctx, name, s->port, r);
	server_join(s);
	srdma_tls_ctx_destroy(cctx);
	srdma_tls_ctx_destroy(sctx);
}

void assert_session_ok(const struct server *s, const struct client_result *r)
{
	assert_int_equal(s->accept_ret, 0);
	assert_int_equal(r->connect_ret, 0);
	assert_ret(r->hs_ret, 0, r->errmsg);
	assert_ret(s->hs_ret, 0, s->errmsg);
	assert_ret(r->io_ret, 1, r->errmsg);
	assert_int_equal(r->frame.type, SRDMA_FRAME_READY);
	assert_ret(s->fn_ret, 0, s->errmsg);
}

/* A client refused by the server: its handshake fails, or (TLS 1.3, client certificate
 * rejected after the client finished) its first read does. Never a timeout. */
void assert_client_refused(const struct client_result *r)
{
	assert_int_equal(r->connect_ret, 0);
	if (r->hs_ret == 0) {
		if (r->io_ret != -EPROTO && r->io_ret != -ECONNRESET)
			fail_msg("client was not refused: first read returned %d (%s)", r->io_ret,
				 r->errmsg);
	} else if (r->hs_ret != -EPROTO && r->hs_ret != -ECONNRESET) {
		fail_msg("client handshake returned %d (%s)", r->hs_ret, r->errmsg);
	}
}

void assert_version(const char *desc, const char *version)
{
	size_t n = strlen(version);

	/* "TLSv1.3 TLS_AES_256_GCM_SHA384": the version, then a negotiated cipher. */
	if (strncmp(desc, version, n) != 0 || desc[n] != ' ' || !desc[n + 1])
		fail_msg("session \"%s\" is not %s", desc, version);
}

static int join_path(char *buf, const char *dir, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	return n > 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int certs_init(struct certs *c, const char *dir)
{
	int ret = 0;

	ret |= join_path(c->ca, dir, "ca.pem");
	ret |= join_path(c->other_ca, dir, "other-ca.pem");
	ret |= join_path(c->server_cert, dir, "server.pem");
	ret |= join_path(c->server_key, dir, "server.key");
	ret |= join_path(c->client_cert, dir, "client.pem");
	ret |= join_path(c->client_key, dir, "client.key");
	ret |= join_path(c->other_cert, dir, "other-client.pem");
	ret |= join_path(c->other_key, dir, "other-client.key");
	ret |= join_path(c->expired_cert, dir, "expired-client.pem");
	ret |= join_path(c->expired_key, dir, "expired-client.key");
	return ret ? -ENAMETOOLONG : 0;
}

static int gen_certs(const char *script, const char *dir)
{
	char cmd[2 * PATH_MAX + 64];
	int n, status;

	/* Single-quoted for the shell, so a path with a quote in it is refused, not run. */
	if (strchr(script, '\'') || strchr(dir, '\'')) {
		print_error("refusing to quote %s or %s for the shell\n", script, dir);
		return -1;
	}
	n = snprintf(cmd, sizeof(cmd), "bash '%s' '%s' >&2", script, dir);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	status = system(cmd);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("%s failed (exit status %d)\n", cmd,
			    status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}

int harness_certs_setup(void **state)
{
	const char *dir = getenv("SRDMA_TEST_CERTS");
	const char *script = getenv("SRDMA_GEN_CERTS");
	struct certs *c;

	/* Run by hand from the source tree: the script's own (git-ignored) default. */
	if (!dir || !dir[0])
		dir = "demo-certs";
	if (!script || !script[0])
		script = "scripts/gen-certs.sh";
	/* A peer that hangs up must show as an error return, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	if (certs_init(c, dir) != 0 ||
	    (access(c->server_cert, R_OK) != 0 && gen_certs(script, dir) != 0)) {
		print_error(
		    "no test certificates in %s (set SRDMA_TEST_CERTS and SRDMA_GEN_CERTS)\n", dir);
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

int harness_certs_teardown(void **state)
{
	free(*state);
	return 0;
}
