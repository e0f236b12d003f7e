/* The context of the connection manager: options, the two shared TLS contexts, the device
 * opened once, the live PSNs and the connection counts. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psn.h"

#include "cm_internal.h"
#include "liveness.h"

#define PSN_SPACE (SRDMA_PSN_MASK + 1u)
/* Draws before giving up: with the set at most half full, failing 64 draws in a row has a
 * probability below 2^-64. */
#define PSN_TRIES 64

const char *srdma_version(void)
{
	return SRDMA_VERSION;
}

const char *srdma_dp_mode_name(enum srdma_dp_mode mode)
{
	switch (mode) {
	case SRDMA_DP_PLAIN:
		return "plain";
	case SRDMA_DP_AEAD:
		return "aead";
	case SRDMA_DP_CHACHA20:
		return "chacha20";
	}
	return "unknown";
}

void srdma_ctx_opts_init(struct srdma_ctx_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ib_port = 1;
	o->gid_index = -1;
	o->tls_min = 13;
	o->dataplane = SRDMA_DP_AEAD;
	o->heartbeat_ms = SRDMA_CM_HEARTBEAT_MS;
	o->heartbeat_misses = SRDMA_CM_HEARTBEAT_MISSES;
	o->rekey_messages = SRDMA_CM_REKEY_MESSAGES;
}

static int copy_opt(char *dst, size_t cap, const char *src, const char *what, char *err,
		    size_t errlen)
{
	if (!src)
		src = "";
	if (strlen(src) >= cap) {
		snprintf(err, errlen, "%s is too long (at most %zu bytes)", what, cap - 1);
		return -EINVAL;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int check_opts(const struct srdma_ctx_opts *o, char *err, size_t errlen)
{
	if (o->tls_min != 12 && o->tls_min != 13) {
		snprintf(err, errlen, "tls_min must be 12 (TLS 1.2) or 13 (TLS 1.3), not %d",
			 o->tls_min);
		return -EINVAL;
	}
	if (o->dataplane != SRDMA_DP_PLAIN && o->dataplane != SRDMA_DP_AEAD &&
	    o->dataplane != SRDMA_DP_CHACHA20) {
		snprintf(err, errlen, "unknown data-plane mode %d (plain, aead or chacha20)",
			 (int)o->dataplane);
		return -EINVAL;
	}
	if (o->ib_port == 0) {
		snprintf(err, errlen, "ib_port must be 1 or more");
		return -EINVAL;
	}
	if (o->gid_index < -1 || o->gid_index > 255) {
		snprintf(err, errlen, "gid_index must be -1 (automatic) or 0..255, not %d",
			 o->gid_index);
		return -EINVAL;
	}
	if ((o->cert && o->cert[0]) != (o->key && o->key[0])) {
		snprintf(err, errlen, "cert and key go together: give both or neither");
		return -EINVAL;
	}
	if (o->heartbeat_ms && o->heartbeat_ms != UINT32_MAX &&
	    o->heartbeat_ms < SRDMA_HEARTBEAT_MIN_MS) {
		snprintf(err, errlen,
			 "heartbeat_ms must be at least %u (or 0: the default, UINT32_MAX: off), "
			 "not %u",
			 SRDMA_HEARTBEAT_MIN_MS, o->heartbeat_ms);
		return -EINVAL;
	}
	if (o->heartbeat_misses > SRDMA_HEARTBEAT_MAX_MISSES) {
		snprintf(err, errlen,
			 "heartbeat_misses must be 1 to %u (or 0: the default), not %u",
			 SRDMA_HEARTBEAT_MAX_MISSES, o->heartbeat_misses);
		return -EINVAL;
	}
	if (!(o->cert && o->cert[0]) && !(o->ca && o->ca[0])) {
		snprintf(err, errlen,
			 "give cert and key (to listen), ca (to connect), or all three");
		return -EINVAL;
	}
	return 0;
}

/* The TLS contexts of the roles the files give: listening (cert and key, with ca as the client
 * CA) and connecting (ca, with cert and key as the client certificate). Both or neither. */
static int build_tls(const char *cert, const char *key, const char *ca, int tls_min,
		     struct srdma_tls_ctx **server, struct srdma_tls_ctx **client, char *err,
		     size_t errlen)
{
	int ret;

	*server = *client = NULL;
	if (cert[0]) {
		struct srdma_tls_server_opts so = {
		    .cert = cert,
		    .key = key,
		    .client_ca = ca,
		    .min_version = (enum srdma_tls_version)tls_min,
		};

		ret = srdma_tls_ctx_server_create(&so, server, err, errlen);
		if (ret)
			return ret;
	}
	if (ca[0]) {
		struct srdma_tls_client_opts co = {
		    .ca = ca,
		    .cert = cert,
		    .key = key,
		    .min_version = (enum srdma_tls_version)tls_min,
		};

		ret = srdma_tls_ctx_client_create(&co, client, err, errlen);
		if (ret) {
			srdma_tls_ctx_destroy(*server);
			*server = NULL;
			return ret;
		}
	}
	return 0;
}

static void *dev_ahead_main(void *arg)
{
	struct srdma_ctx *ctx = arg;
	char err[8]; /* a failure is met again, with its message, by srdma__ctx_dev */

	ctx->ahead_ret = srdma_dev_open(ctx->device, ctx->opts.ib_port, ctx->opts.gid_index,
					&ctx->ahead_dev, err, sizeof(err));
	return NULL;
}

/* Start opening the device on a helper thread (srdma_ctx_create, before the context is
 * shared): the device (tens of ms: libibverbs loads every provider) is then ready when its
 * first user needs it. */
static void dev_ahead_start(struct srdma_ctx *ctx)
{
	sigset_t all, old;

	/* The helper takes no signal of the application's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ctx->ahead_live = pthread_create(&ctx->ahead_thread, NULL, dev_ahead_main, ctx) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ctx->lock held (or the context is being destroyed): wait for the helper, keep its device. */
static void dev_ahead_join(struct srdma_ctx *ctx)
{
	if (!ctx->ahead_live)
		return;
	pthread_join(ctx->ahead_thread, NULL);
	ctx->ahead_live = 0;
	if (!ctx->ahead_ret && !ctx->dev)
		ctx->dev = ctx->ahead_dev;
	else if (!ctx->ahead_ret)
		srdma_dev_close(ctx->ahead_dev);
	ctx->ahead_dev = NULL;
}

int srdma_ctx_create(const struct srdma_ctx_opts *o, struct srdma_ctx **out, char *err,
		     size_t errlen)
{
	struct srdma_ctx *ctx;
	int ret;

	if (!o || !out) {
		snprintf(err, errlen, "no context options or no place for the context");
		return -EINVAL;
	}
	*out = NULL;
	ret = check_opts(o, err, errlen);
	if (ret)
		return ret;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ctx->opts = *o;
	if (!ctx->opts.heartbeat_ms)
		ctx->opts.heartbeat_ms = SRDMA_CM_HEARTBEAT_MS;
	if (!ctx->opts.heartbeat_misses)
		ctx->opts.heartbeat_misses = SRDMA_CM_HEARTBEAT_MISSES;
	if (ctx->opts.rekey_messages < 2)
		ctx->opts.rekey_messages = SRDMA_CM_REKEY_MESSAGES;
	ctx->rekey_log2 = 1;
	{
		struct timespec res;

		ctx->tick_ns = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && !res.tv_sec
				   ? (uint64_t)res.tv_nsec
				   : 10000000;
	}
	while (ctx->rekey_log2 < 31 && (ctx->opts.rekey_messages >> (ctx->rekey_log2 + 1)))
		ctx->rekey_log2++;
	ret = copy_opt(ctx->device, sizeof(ctx->device), o->device, "device", err, errlen);
	if (!ret)
		ret = copy_opt(ctx->cert, sizeof(ctx->cert), o->cert, "cert", err, errlen);
	if (!ret)
		ret = copy_opt(ctx->key, sizeof(ctx->key), o->key, "key", err, errlen);
	if (!ret)
		ret = copy_opt(ctx->ca, sizeof(ctx->ca), o->ca, "ca", err, errlen);
	if (ret)
		goto err_free;
	ctx->opts.device = ctx->device;
	ctx->opts.cert = ctx->cert;
	ctx->opts.key = ctx->key;
	ctx->opts.ca = ctx->ca;
	ret = pthread_mutex_init(&ctx->lock, NULL);
	if (ret) {
		ret = -ret;
		snprintf(err, errlen, "cannot create a mutex: %s", strerror(-ret));
		goto err_free;
	}
	/* Every user of a context opens its device (a listener to listen, a connector before
	 * OPEN): it is opened on a helper thread while the TLS contexts are built, the first use
	 * of OpenSSL in most processes and the longer of the two. */
	dev_ahead_start(ctx);

	ret = build_tls(ctx->cert, ctx->key, ctx->ca, o->tls_min, &ctx->tls_server,
			&ctx->tls_client, err, errlen);
	if (ret)
		goto err_dev;
	atomic_init(&ctx->nconns, 0);
	atomic_init(&ctx->max_conns, o->max_conns);
	atomic_init(&ctx->nobjects, 0);
	*out = ctx;
	return 0;

err_dev:
	dev_ahead_join(ctx);
	srdma_dev_close(ctx->dev);
	pthread_mutex_destroy(&ctx->lock);
err_free:
	free(ctx);
	return ret;
}

int srdma_ctx_reload(struct srdma_ctx *ctx, const struct srdma_ctx_opts *o, char *err,
		     size_t errlen)
{
	struct srdma_tls_ctx *server = NULL, *client = NULL;
	char cert[SRDMA_PATH_MAX], key[SRDMA_PATH_MAX], ca[SRDMA_PATH_MAX];
	int ret;

	if (!ctx || !o) {
		snprintf(err, errlen, "no context or no options");
		return -EINVAL;
	}
	ret = check_opts(o, err, errlen);
	if (ret)
		return ret;
	/* The roles stay those the context was made with (its listeners and connectors hold on
	 * to them). */
	if (!ctx->tls_server != !(o->cert && o->cert[0])) {
		snprintf(err, errlen,
			 ctx->tls_server
			     ? "the context listens: cert and key cannot be removed"
			     : "the context was made without cert and key: they cannot be "
			       "added");
		return -EINVAL;
	}
	if (!ctx->tls_client != !(o->ca && o->ca[0])) {
		snprintf(err, errlen,
			 ctx->tls_client
			     ? "the context was made with a ca: it cannot be removed"
			     : "the context was made without a ca: one cannot be added");
		return -EINVAL;
	}
	ret = copy_opt(cert, sizeof(cert), o->cert, "cert", err, errlen);
	if (!ret)
		ret = copy_opt(key, sizeof(key), o->key, "key", err, errlen);
	if (!ret)
		ret = copy_opt(ca, sizeof(ca), o->ca, "ca", err, errlen);
	if (ret)
		return ret;
	/* Every file is read and checked before anything changes. */
	ret = build_tls(cert, key, ca, o->tls_min, &server, &client, err, errlen);
	if (ret)
		return ret;

	pthread_mutex_lock(&ctx->lock);
	if (server)
		srdma_tls_ctx_swap(ctx->tls_server, server);
	if (client)
		srdma_tls_ctx_swap(ctx->tls_client, client);
	memcpy(ctx->cert, cert, sizeof(cert));
	memcpy(ctx->key, key, sizeof(key));
	memcpy(ctx->ca, ca, sizeof(ca));
	ctx->opts.tls_min = o->tls_min;
	atomic_store(&ctx->max_conns, o->max_conns);
	pthread_mutex_unlock(&ctx->lock);
	/* What the context had before: freed here, or by its last session. */
	srdma_tls_ctx_destroy(server);
	srdma_tls_ctx_destroy(client);
	return 0;
}

int srdma_ctx_set_resumption(struct srdma_ctx *ctx, int on)
{
	if (!ctx)
		return -EINVAL;
	/* The flag lives in the TLS contexts, which srdma_ctx_reload keeps (it swaps what they
	 * hold), so it outlasts reloads. */
	if (ctx->tls_server)
		srdma_tls_ctx_set_resumption(ctx->tls_server, on);
	if (ctx->tls_client)
		srdma_tls_ctx_set_resumption(ctx->tls_client, on);
	return 0;
}

int srdma__ctx_dev(struct srdma_ctx *ctx, struct srdma_dev **out, char *err, size_t errlen)
{
	int ret = 0;

	pthread_mutex_lock(&ctx->lock);
	dev_ahead_join(ctx);
	if (!ctx->dev)
		ret = srdma_dev_open(ctx->device, ctx->opts.ib_port, ctx->opts.gid_index, &ctx->dev,
				     err, errlen);
	if (!ret)
		*out = ctx->dev;
	pthread_mutex_unlock(&ctx->lock);
	/* srdma_dev_open says -ENOENT when the GID index is unusable. */
	return ret == -ENOENT ? -EINVAL : ret;
}

int srdma_ctx_open_device(struct srdma_ctx *ctx, char *err, size_t errlen)
{
	struct srdma_dev *dev;

	return srdma__ctx_dev(ctx, &dev, err, errlen);
}

struct ibv_context *srdma_ctx_verbs(struct srdma_ctx *ctx)
{
	struct srdma_dev *dev;
	char err[8];

	return srdma__ctx_dev(ctx, &dev, err, sizeof(err)) ? NULL : dev->ctx;
}

unsigned srdma_ctx_conns(struct srdma_ctx *ctx)
{
	return atomic_load(&ctx->nconns);
}

int srdma__ctx_psn_take(struct srdma_ctx *ctx, uint32_t *psn)
{
	uint32_t v;
	int i, ret = -EAGAIN;

	pthread_mutex_lock(&ctx->lock);
	if (!ctx->psn_live) {
		ctx->psn_live = calloc(PSN_SPACE / 8, 1);
		if (!ctx->psn_live) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < PSN_TRIES; i++) {
		ret = srdma_psn_generate(&v);
		if (ret)
			goto out;
		if (!(ctx->psn_live[v / 8] & (1u << (v % 8)))) {
			ctx->psn_live[v / 8] |= (uint8_t)(1u << (v % 8));
			*psn = v;
			goto out;
		}
		ret = -EAGAIN;
	}
out:
	pthread_mutex_unlock(&ctx->lock);
	return ret;
}

void srdma__ctx_psn_put(struct srdma_ctx *ctx, uint32_t psn)
{
	pthread_mutex_lock(&ctx->lock);
	if (ctx->psn_live)
		ctx->psn_live[psn / 8] &= (uint8_t) ~(1u << (psn % 8));
	pthread_mutex_unlock(&ctx->lock);
}

int srdma__ctx_slot_take(struct srdma_ctx *ctx)
{
	unsigned n = atomic_load(&ctx->nconns);

	do {
		unsigned max = atomic_load(&ctx->max_conns);

		if (max && n >= max)
			return -EBUSY;
	} while (!atomic_compare_exchange_weak(&ctx->nconns, &n, n + 1));
	return 0;
}

void srdma__ctx_slot_put(struct srdma_ctx *ctx)
{
	atomic_fetch_sub(&ctx->nconns, 1);
}

int srdma_ctx_destroy(struct srdma_ctx *ctx)
{
	if (!ctx)
		return 0;
	if (atomic_load(&ctx->nobjects) > 0)
		return -EBUSY;
	dev_ahead_join(ctx);
	free(ctx->psn_live);
	pthread_mutex_destroy(&ctx->lock);
	srdma_tls_ctx_destroy(ctx->tls_client);
	srdma_tls_ctx_destroy(ctx->tls_server);
	srdma_dev_close(ctx->dev);
	free(ctx);
	return 0;
}
