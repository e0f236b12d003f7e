/* The listener harness of the API's host tests: api_harness.h. */
#include "api_harness.h"

static int on_request(void *arg, struct srdma_request *req)
{
	struct lsn *s = arg;

	pthread_mutex_lock(&s->mu);
	s->nreq++;
	s->peer = *req->peer;
	s->nqp = req->nqp;
	for (unsigned i = 0; i < req->nqp && i < SRDMA_MAX_QPS; i++) {
		s->driver[i] = req->driver[i];
		s->qp_driver[i] = req->qp[i].driver;
	}
	pthread_mutex_unlock(&s->mu);
	if (!s->refuse)
		return 0;
	snprintf(req->reason, sizeof(req->reason), "%s", s->reason ? s->reason : "");
	return 1;
}

static void on_failure(void *arg, const char *peer_addr, int error, const char *reason)
{
	struct lsn *s = arg;

	pthread_mutex_lock(&s->mu);
	if (s->nfail < MAX_FAIL) {
		s->fail_err[s->nfail] = error;
		snprintf(s->fail_addr[s->nfail], sizeof(s->fail_addr[0]), "%s",
			 peer_addr ? peer_addr : "");
		snprintf(s->fail_reason[s->nfail], sizeof(s->fail_reason[0]), "%s",
			 reason ? reason : "");
		s->fail_at[s->nfail] = now_ms();
	}
	s->nfail++;
	pthread_mutex_unlock(&s->mu);
}

static void *lsn_main(void *arg)
{
	struct lsn *s = arg;

	while (!atomic_load(&s->stop)) {
		struct srdma_conn *c = NULL;
		int ret = srdma_accept(s->l, &c, 20);

		if (ret == 0) {
			pthread_mutex_lock(&s->mu);
			s->accepted++;
			pthread_mutex_unlock(&s->mu);
			srdma_conn_close(c);
		} else if (ret != -ETIMEDOUT && ret != -EINTR) {
			s->accept_err = ret;
			break;
		}
	}
	return NULL;
}

struct srdma_ctx *make_ctx(const char *cert, const char *key, const char *ca, enum srdma_dp_mode dp)
{
	struct srdma_ctx_opts o;
	struct srdma_ctx *ctx = NULL;
	char err[256] = "";

	srdma_ctx_opts_init(&o);
	o.cert = cert;
	o.key = key;
	o.ca = ca;
	o.dataplane = dp;
	assert_ret(srdma_ctx_create(&o, &ctx, err, sizeof(err)), 0, err);
	assert_non_null(ctx);
	return ctx;
}

void listen_on(struct srdma_ctx *ctx, unsigned handshake_ms, struct lsn *s,
	       struct srdma_listener **out)
{
	struct srdma_listen_opts o;
	char err[256] = "";

	srdma_listen_opts_init(&o);
	o.bind = "127.0.0.1";
	o.port = 0;
	o.handshake_timeout_ms = handshake_ms;
	o.on_request = on_request;
	o.on_failure = on_failure;
	o.arg = s;
	assert_ret(srdma_listen(ctx, &o, out, err, sizeof(err)), 0, err);
	assert_non_null(*out);
}

/* A listener of ctx on 127.0.0.1 (any port), served by a thread. */
void lsn_start(struct lsn *s, struct srdma_ctx *ctx, int refuse, const char *reason)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->ctx = ctx;
	s->refuse = refuse;
	s->reason = reason;
	listen_on(ctx, DEADLINE_MS, s, &s->l);
	s->port = srdma_listener_port(s->l);
	assert_int_not_equal(s->port, 0);
	assert_int_equal(pthread_create(&s->thread, NULL, lsn_main, s), 0);
}

int lsn_nfail(struct lsn *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nfail;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Until on_failure has been called n times (or the deadline). */
void lsn_wait_failures(struct lsn *s, int n)
{
	int64_t end = now_ms() + DEADLINE_MS;

	while (lsn_nfail(s) < n && now_ms() < end)
		usleep(5000);
}

void lsn_stop(struct lsn *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	srdma_listener_close(s->l);
	s->l = NULL;
	pthread_mutex_destroy(&s->mu);
	assert_int_equal(s->accept_err, 0);
	assert_int_equal(s->accepted, 0);
}

void connect_opts(struct srdma_connect_opts *o, uint16_t port, unsigned nqp, unsigned timeout_ms)
{
	srdma_connect_opts_init(o);
	o->host = "127.0.0.1";
	o->port = port;
	o->timeout_ms = timeout_ms;
	o->nqp = nqp;
	for (unsigned i = 0; i < nqp && i < SRDMA_MAX_QPS; i++) {
		srdma_qp_opts_init(&o->qp[i]);
		o->qp[i].driver = i == 0 ? SRDMA_QP_MESSAGES : SRDMA_QP_RAW;
	}
}

/* ---- plain TCP on 127.0.0.1 ---- */

/* A listening socket that never accepts (the kernel completes connections into its backlog). */
int tcp_listen(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* ---- certificates ---- */

/* ---- 1. bad arguments ---- */

void lsn_pause(struct lsn *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	atomic_store(&s->stop, 0);
}

void lsn_resume(struct lsn *s)
{
	assert_int_equal(pthread_create(&s->thread, NULL, lsn_main, s), 0);
}
