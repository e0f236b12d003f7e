/* The listener: accepts TCP connections, drives their handshakes (cm_conn.c) from one epoll
 * set, reports the failed ones and hands out the established ones. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "net.h"

#include "cm_internal.h"

#define LISTEN_BACKLOG	     1024u
#define LISTEN_MAX_PENDING   256u
#define LISTEN_PER_ADDR	     32u
#define LISTEN_EARLY_DROP    50u
#define LISTEN_LIGHT_RATIO   4u /* see admit() */
#define HANDSHAKE_TIMEOUT_MS 5000u
#define EPOLL_BATCH	     64
/* At most this many newcomers taken from the backlog, and expired handshakes failed, per
 * srdma_listener_accept call: see accept_new(). */
#define LISTEN_WORK_BATCH 16u

void srdma_listen_opts_init(struct srdma_listen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = SRDMA_PORT_DEFAULT;
	o->backlog = LISTEN_BACKLOG;
	o->max_pending = LISTEN_MAX_PENDING;
	o->handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
	o->max_pending_per_addr = LISTEN_PER_ADDR;
	o->early_drop_pct = LISTEN_EARLY_DROP;
	srdma_qp_opts_init(&o->qp);
}

int srdma_listen(struct srdma_ctx *ctx, const struct srdma_listen_opts *o,
		 struct srdma_listener **out, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct srdma_listener *l;
	int ret;

	if (!ctx || !o || !out) {
		snprintf(err, errlen, "no context, no listen options or no place for the listener");
		return -EINVAL;
	}
	*out = NULL;
	if (!ctx->tls_server) {
		snprintf(err, errlen, "the context has no certificate and key: it cannot listen");
		return -EINVAL;
	}
	if (o->qp.remote_access & ~SRDMA_ACCESS_ALL) {
		snprintf(err, errlen, "qp.remote_access 0x%x has unknown bits",
			 o->qp.remote_access);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->ctx = ctx;
	l->max_qps = SRDMA_MAX_QPS;
	l->opts = *o;
	l->opts.bind = NULL; /* not kept: the caller's string may go away */
	if (!l->opts.backlog)
		l->opts.backlog = LISTEN_BACKLOG;
	if (!l->opts.max_pending)
		l->opts.max_pending = LISTEN_MAX_PENDING;
	if (!l->opts.handshake_timeout_ms)
		l->opts.handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS;
	if (!l->opts.max_pending_per_addr)
		l->opts.max_pending_per_addr = LISTEN_PER_ADDR;
	if (!l->opts.early_drop_pct || l->opts.early_drop_pct > 100)
		l->opts.early_drop_pct = l->opts.early_drop_pct ? 100 : LISTEN_EARLY_DROP;
	l->addrs = calloc(l->opts.max_pending, sizeof(*l->addrs));
	if (!l->addrs) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (getrandom(&l->rng, sizeof(l->rng), 0) != sizeof(l->rng) || !l->rng)
		l->rng = srdma__cm_now_ns() | 1;
	l->epfd = -1;
	ret = srdma_tcp_listen(o->bind, o->port, l->opts.backlog, &l->fd, &l->port, err, errlen);
	if (ret)
		goto err_free;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(-ret));
		goto err_fd;
	}
	ev.data.ptr = NULL; /* NULL: the listening socket; otherwise a connection */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
		ret = -errno;
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-ret));
		goto err_ep;
	}
	atomic_fetch_add(&ctx->nobjects, 1);
	*out = l;
	return 0;

err_ep:
	close(l->epfd);
err_fd:
	close(l->fd);
err_free:
	free(l->addrs);
	free(l);
	return ret;
}

int srdma_listener_set_max_qps(struct srdma_listener *l, unsigned max)
{
	if (!l || max < 1 || max > SRDMA_MAX_QPS)
		return -EINVAL;
	l->max_qps = max;
	return 0;
}

uint16_t srdma_listener_port(const struct srdma_listener *l)
{
	return l->port;
}

int srdma_listener_fd(const struct srdma_listener *l)
{
	return l->epfd;
}

int srdma_listener_timeout_ms(const struct srdma_listener *l)
{
	uint64_t now = srdma__cm_now_ns(), first = 0;
	const struct srdma_conn *c;

	for (c = l->pending; c; c = c->lnext)
		if (c->deadline_ns && (!first || c->deadline_ns < first))
			first = c->deadline_ns;
	if (!first)
		return -1;
	return first <= now ? 0 : (int)((first - now + 999999) / 1000000);
}

/* ---- Handshakes per source address ---------------------------------------------------- */

/* The key an address is counted under: IPv4 (also IPv4-mapped) whole, IPv6 by its /64, the
 * smallest block a single host is usually given. */
static void addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(key, &in6->sin6_addr, 16);
		else
			memcpy(key, &in6->sin6_addr, 8);
	}
}

static struct srdma_addr_count *addr_find(struct srdma_listener *l, const uint8_t key[16])
{
	for (unsigned i = 0; i < l->naddrs; i++)
		if (!memcmp(l->addrs[i].key, key, 16))
			return &l->addrs[i];
	return NULL;
}

/* One more handshake from key (the caller keeps npending <= max_pending, so it fits). */
static void addr_add(struct srdma_listener *l, const uint8_t key[16])
{
	struct srdma_addr_count *a = addr_find(l, key);

	if (!a) {
		a = &l->addrs[l->naddrs++];
		memcpy(a->key, key, 16);
		a->n = 0;
	}
	a->n++;
}

static void addr_del(struct srdma_listener *l, const uint8_t key[16])
{
	struct srdma_addr_count *a = addr_find(l, key);

	if (a && --a->n == 0)
		*a = l->addrs[--l->naddrs];
}

static uint64_t next_random(struct srdma_listener *l)
{
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return l->rng;
}

/* Random early drop: from early_drop_pct of the pool on, with a probability that rises to 1
 * at a full pool. */
static int early_drop(struct srdma_listener *l)
{
	unsigned start = (unsigned)((uint64_t)l->opts.max_pending * l->opts.early_drop_pct / 100);
	unsigned span;

	if (l->opts.early_drop_pct >= 100 || l->npending < start)
		return 0;
	span = l->opts.max_pending - start + 1;
	return next_random(l) % span < l->npending - start + 1;
}

static void unlink_conn(struct srdma_listener *l, struct srdma_conn *c)
{
	addr_del(l, c->src_key);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, srdma_conn_fd(c), NULL);
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		l->pending = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
	c->listener = NULL;
	l->npending--;
}

static void report(struct srdma_listener *l, const char *addr, int error, const char *reason)
{
	if (l->opts.on_failure)
		l->opts.on_failure(l->opts.arg, addr, error, reason);
}

static void drop(struct srdma_listener *l, struct srdma_conn *c)
{
	unlink_conn(l, c);
	report(l, c->peer.addr, c->error, c->errmsg);
	srdma_conn_close(c);
}

static uint32_t wanted(const struct srdma_conn *c)
{
	return (srdma_conn_poll_events(c) & POLLOUT) ? EPOLLIN | EPOLLOUT : EPOLLIN;
}

/* Make room for a newcomer in a full pool: the oldest handshake of the address holding the
 * most, preferring one still in TLS (not yet authenticated). */
static void evict(struct srdma_listener *l)
{
	struct srdma_addr_count *heavy = NULL;
	struct srdma_conn *c, *victim = NULL;

	for (unsigned i = 0; i < l->naddrs; i++)
		if (!heavy || l->addrs[i].n > heavy->n)
			heavy = &l->addrs[i];
	if (!heavy)
		return;
	for (c = l->pending; c; c = c->lnext) /* newest first: the last match is the oldest */
		if (!memcmp(c->src_key, heavy->key, 16) &&
		    (!victim || victim->state > SRDMA_CM_TLS || c->state <= SRDMA_CM_TLS))
			victim = c;
	if (!victim)
		return;
	srdma__conn_fail(victim, -EBUSY,
			 "handshake pool full (max_pending %u): dropped to make room for a "
			 "lighter address",
			 l->opts.max_pending);
	drop(l, victim);
}

/* The most handshakes in progress from any one address. */
static unsigned heaviest(const struct srdma_listener *l)
{
	unsigned most = 0;

	for (unsigned i = 0; i < l->naddrs; i++)
		if (l->addrs[i].n > most)
			most = l->addrs[i].n;
	return most;
}

/* Whether the pre-authentication pool takes a connection from key; if not, fd is closed and
 * the reason reported. An address that holds at most 1/LISTEN_LIGHT_RATIO of what the
 * heaviest address holds (none, at least) is light: never dropped early, and the heaviest
 * makes room for it in a full pool. So a peer whose one handshake is slow (or a host with a
 * few connections in flight) is not shut out by a flood from other addresses. */
static int admit(struct srdma_listener *l, int fd, const uint8_t key[16])
{
	const struct srdma_addr_count *a = addr_find(l, key);
	unsigned have = a ? a->n : 0;
	int light = !have || have * LISTEN_LIGHT_RATIO <= heaviest(l);
	char err[160], addr[64];

	if (have >= l->opts.max_pending_per_addr)
		snprintf(err, sizeof(err),
			 "too many handshakes in progress from this address "
			 "(max_pending_per_addr %u)",
			 l->opts.max_pending_per_addr);
	else if (!light && l->npending >= l->opts.max_pending)
		snprintf(err, sizeof(err), "handshake pool full (max_pending %u)",
			 l->opts.max_pending);
	else if (!light && early_drop(l))
		snprintf(err, sizeof(err), "early drop: %u of %u handshake slots in use",
			 l->npending, l->opts.max_pending);
	else {
		if (l->npending >= l->opts.max_pending)
			evict(l);
		if (l->npending < l->opts.max_pending)
			return 1;
		snprintf(err, sizeof(err), "handshake pool full (max_pending %u)",
			 l->opts.max_pending);
	}
	srdma_tcp_peer_name(fd, addr, sizeof(addr));
	/* Reset, not closed in order: under a flood every refusal would otherwise cost both hosts
	 * the FIN exchange and this one a TIME_WAIT entry. */
	srdma_tcp_reset_close(fd);
	report(l, addr, -EBUSY, err);
	return 0;
}

/* Take up to LISTEN_WORK_BATCH connections from the backlog; the rest wait for the next call
 * (the listening socket stays ready in the level-triggered set). Under a flood each newcomer
 * costs an accept and mostly a close; taking the whole backlog at once made every handshake
 * in progress (a legitimate client's among them) wait for hundreds of them. */
static int accept_new(struct srdma_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct epoll_event ev;
	struct srdma_conn *c;
	char err[256], addr[64];
	uint8_t key[16];
	unsigned taken;
	int fd, ret;

	for (taken = 0; taken < LISTEN_WORK_BATCH; taken++) {
		sl = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return 0;
			/* Out of descriptors or memory: keep the listener, retry on the next call.
			 */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				report(l, "", -errno,
				       "cannot accept a connection: out of resources");
				return 0;
			}
			return -errno;
		}
		addr_key(&ss, key);
		if (!admit(l, fd, key))
			continue;
		srdma_tcp_peer_name(fd, addr, sizeof(addr));
		ret = srdma__conn_accepted(l, fd, &c, err, sizeof(err));
		if (ret) {
			report(l, addr, ret, err);
			continue;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, srdma_conn_fd(c), &ev) < 0) {
			ret = -errno;
			report(l, c->peer.addr, ret, "cannot watch the connection (epoll_ctl)");
			srdma_conn_close(c);
			continue;
		}
		memcpy(c->src_key, key, 16);
		addr_add(l, key);
		c->lnext = l->pending;
		if (l->pending)
			l->pending->lprev = c;
		l->pending = c;
		l->npending++;
	}
	return 0;
}

/* Drive one handshake: 1 once established (unlinked, for the caller), 0 otherwise. */
static int drive(struct srdma_listener *l, struct srdma_conn *c)
{
	struct epoll_event ev;
	int ret = srdma__conn_pump(c);

	/* A connection that got established is the application's, even if the peer's next frames
	 * (read in the same pump) already closed it: its events are queued for it. */
	if (ret && !c->was_established) {
		drop(l, c);
		return 0;
	}
	if (c->was_established) {
		unlink_conn(l, c);
		return 1;
	}
	ev.events = wanted(c);
	ev.data.ptr = c;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, srdma_conn_fd(c), &ev);
	return 0;
}

int srdma_listener_accept(struct srdma_listener *l, struct srdma_conn **out)
{
	struct epoll_event evs[EPOLL_BATCH];
	struct srdma_conn *c, *next;
	uint64_t now = srdma__cm_now_ns();
	unsigned expired = 0;
	int n, i, ret, new_peers = 0;

	/* Expired handshakes first, a batch at a time (a flood's connections expire together):
	 * pumping them fails them with -ETIMEDOUT. */
	for (c = l->pending; c && expired < LISTEN_WORK_BATCH; c = next) {
		next = c->lnext;
		if (!c->deadline_ns || now < c->deadline_ns)
			continue;
		expired++;
		if (drive(l, c)) {
			*out = c;
			return 0;
		}
	}
	n = epoll_wait(l->epfd, evs, EPOLL_BATCH, 0);
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	for (i = 0; i < n; i++) {
		if (!evs[i].data.ptr) {
			new_peers = 1;
			continue;
		}
		/* The rest stay ready in the level-triggered set for the next call. */
		if (drive(l, evs[i].data.ptr)) {
			*out = evs[i].data.ptr;
			return 0;
		}
	}
	/* New connections last: making room for one may close a handshake whose event is in
	 * evs. */
	if (new_peers) {
		ret = accept_new(l);
		if (ret)
			return ret;
	}
	return -EAGAIN;
}

int srdma_accept(struct srdma_listener *l, struct srdma_conn **out, int timeout_ms)
{
	uint64_t deadline =
	    timeout_ms < 0 ? 0 : srdma__cm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pollfd p = {.fd = l->epfd, .events = POLLIN};
	int ret, wait_ms, left;

	for (;;) {
		ret = srdma_listener_accept(l, out);
		if (ret != -EAGAIN)
			return ret;
		wait_ms = srdma_listener_timeout_ms(l);
		if (deadline) {
			uint64_t now = srdma__cm_now_ns();

			if (now >= deadline)
				return -ETIMEDOUT;
			left = (int)((deadline - now + 999999) / 1000000);
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = left;
		}
		if (poll(&p, 1, wait_ms) < 0)
			return errno == EINTR ? -EINTR : -errno;
	}
}

void srdma_listener_close(struct srdma_listener *l)
{
	if (!l)
		return;
	while (l->pending) {
		struct srdma_conn *c = l->pending;
		struct srdma_frame f;

		unlink_conn(l, c);
		if (c->state == SRDMA_CM_OPEN || c->state == SRDMA_CM_READY) {
			srdma_frame_error(&f, SRDMA_ERR_SHUTDOWN, "the server is shutting down");
			(void)srdma_chan_send(&c->chan, &f);
		}
		srdma_conn_close(c);
	}
	close(l->epfd);
	close(l->fd);
	atomic_fetch_sub(&l->ctx->nobjects, 1);
	free(l->addrs);
	free(l);
}
