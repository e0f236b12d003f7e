/* The connector's entry points: the options and their defaults, srdma_connect_start (resolve,
 * take a slot, start TCP) and the blocking srdma_connect that drives it. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

#include "cm_internal.h"

#define CONNECT_TIMEOUT_MS 10000u

void srdma_qp_opts_init(struct srdma_qp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->driver = SRDMA_QP_RAW;
	o->max_send_wr = RAW_DEFAULT_WR;
	o->max_recv_wr = RAW_DEFAULT_WR;
	o->max_send_sge = 1;
	o->max_recv_sge = 1;
	o->max_msg = MSG_DEFAULT_MAX;
	o->depth = MSG_DEFAULT_DEPTH;
}

void srdma_connect_opts_init(struct srdma_connect_opts *o)
{
	unsigned i;

	memset(o, 0, sizeof(*o));
	o->port = SRDMA_PORT_DEFAULT;
	o->timeout_ms = CONNECT_TIMEOUT_MS;
	o->nqp = 1;
	for (i = 0; i < SRDMA_MAX_QPS; i++)
		srdma_qp_opts_init(&o->qp[i]);
}

static int check_connect_opts(struct srdma_ctx *ctx, const struct srdma_connect_opts *o, char *err,
			      size_t errlen)
{
	const char *name;

	if (!ctx || !o) {
		snprintf(err, errlen, "no context or no connect options");
		return -EINVAL;
	}
	name = o->server_name && o->server_name[0] ? o->server_name : o->host;
	if (!ctx->tls_client) {
		snprintf(err, errlen, "the context has no CA (ca): it cannot verify a listener");
		return -EINVAL;
	}
	if (!o->host || !o->host[0]) {
		snprintf(err, errlen, "no host to connect to");
		return -EINVAL;
	}
	if (strlen(o->host) >= SRDMA_NAME_MAX || strlen(name) >= SRDMA_NAME_MAX) {
		snprintf(err, errlen, "host or server name longer than %d bytes",
			 SRDMA_NAME_MAX - 1);
		return -EINVAL;
	}
	if (o->nqp < 1 || o->nqp > SRDMA_MAX_QPS) {
		snprintf(err, errlen, "nqp %u is outside 1..%d", o->nqp, SRDMA_MAX_QPS);
		return -EINVAL;
	}
	return 0;
}

int srdma_connect_start(struct srdma_ctx *ctx, const struct srdma_connect_opts *o,
			struct srdma_conn **out, char *err, size_t errlen)
{
	struct srdma_conn *c;
	unsigned i;
	int ret;

	if (out)
		*out = NULL;
	if (!out) {
		snprintf(err, errlen, "no place for the connection");
		return -EINVAL;
	}
	ret = check_connect_opts(ctx, o, err, errlen);
	if (ret)
		return ret;
	c = srdma__conn_new(ctx, 0, o->timeout_ms ? o->timeout_ms : CONNECT_TIMEOUT_MS);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->nqp = o->nqp;
	for (i = 0; i < c->nqp; i++) {
		c->qp[i].opts = o->qp[i];
		ret = srdma__qp_opts_effective(&c->qp[i].opts, i, err, errlen);
		if (ret)
			goto err;
	}
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	snprintf(c->server_name, sizeof(c->server_name), "%s",
		 o->server_name && o->server_name[0] ? o->server_name : o->host);
	c->port = o->port ? o->port : SRDMA_PORT_DEFAULT;
	if (srdma__ctx_slot_take(ctx)) {
		snprintf(err, errlen, "the context already has max_conns (%u) connections",
			 atomic_load(&ctx->max_conns));
		ret = -EBUSY;
		goto err;
	}
	c->has_slot = 1;
	ret = srdma_tcp_resolve(c->host, c->port, &c->ai_list, err, errlen);
	if (ret)
		goto err;
	c->ai_cur = c->ai_list;
	c->state = SRDMA_CM_TCP;
	ret = srdma__conn_tcp_start(c);
	if (ret) {
		snprintf(err, errlen, "%s", c->errmsg);
		goto err;
	}
	*out = c;
	return 0;

err:
	srdma_conn_close(c);
	return ret;
}

int srdma_connect(struct srdma_ctx *ctx, const struct srdma_connect_opts *o,
		  struct srdma_conn **out, char *err, size_t errlen)
{
	struct srdma_event ev;
	struct srdma_conn *c;
	int ret;

	ret = srdma_connect_start(ctx, o, &c, err, errlen);
	if (ret)
		return ret;
	ev.type = 0;
	for (;;) {
		struct pollfd p = {.fd = srdma_conn_fd(c), .events = srdma_conn_poll_events(c)};

		ret = srdma_conn_process(c, &ev);
		if (ret == 1 && ev.type == SRDMA_EV_ESTABLISHED) {
			*out = c;
			return 0;
		}
		if (ret < 0)
			break;
		if (ret == 0 && poll(&p, 1, srdma_conn_timeout_ms(c)) < 0 && errno != EINTR) {
			ret = srdma__conn_fail(c, -errno, "poll: %s", strerror(errno));
			break;
		}
	}
	snprintf(err, errlen, "%s", c->errmsg);
	srdma_conn_close(c);
	return ret;
}
