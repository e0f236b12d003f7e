/* A worker thread: one epoll loop over its connections' TLS sockets, one completion channel
 * for the CQ its QPs share, a wake-up eventfd, and the set-up deadlines. The worker owns its
 * connections end to end; other threads only queue sockets to it and ask it to stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <srdma/log.h>

#include "server_internal.h"
#include "spin.h"

#define MAX_EVENTS 64
#define WC_BATCH   32

uint64_t srdma__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void srdma__peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "unknown peer");
	}
}

static unsigned qp_hash(const struct srdma_worker *w, uint32_t qpn)
{
	return (qpn * 2654435761u) & w->qp_table_mask;
}

void srdma__worker_qp_insert(struct srdma_worker *w, struct srdma_conn *c)
{
	unsigned h = qp_hash(w, c->ep->qp->qp_num);

	c->qp_next = w->qp_table[h];
	w->qp_table[h] = c;
}

void srdma__worker_qp_remove(struct srdma_worker *w, struct srdma_conn *c)
{
	struct srdma_conn **pp = &w->qp_table[qp_hash(w, c->ep->qp->qp_num)];

	for (; *pp; pp = &(*pp)->qp_next) {
		if (*pp == c) {
			*pp = c->qp_next;
			return;
		}
	}
}

static struct srdma_conn *qp_lookup(struct srdma_worker *w, uint32_t qpn)
{
	struct srdma_conn *c = w->qp_table[qp_hash(w, qpn)];

	while (c && c->ep->qp->qp_num != qpn)
		c = c->qp_next;
	return c;
}

void srdma__worker_update_events(struct srdma_conn *c)
{
	uint32_t want = EPOLLIN;
	struct epoll_event ev;

	if (srdma_chan_out_pending(&c->chan) || srdma_tls_want_write(c->tls))
		want |= EPOLLOUT;
	if (want == c->epoll_events)
		return;
	ev.events = want;
	ev.data.ptr = &c->watch;
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, srdma_tls_fd(c->tls), &ev) == 0)
		c->epoll_events = want;
}

static void adopt(struct srdma_worker *w, int fd)
{
	struct srdma_conn *c;
	struct epoll_event ev;
	int ret;

	ret = srdma__conn_create(w, fd, &c);
	if (ret) {
		srdma_err("worker %u: cannot set up a connection: %s", w->id, strerror(-ret));
		atomic_fetch_sub(&w->nconns, 1);
		atomic_fetch_sub(&w->srv->conns, 1);
		return;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &c->watch;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		srdma_err("worker %u: epoll_ctl: %s", w->id, strerror(errno));
		c->state = SRDMA_CONN_TLS;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		srdma__conn_close(c, 0, NULL);
		return;
	}
	c->epoll_events = EPOLLIN;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	srdma_debug("client #%llu (%s): accepted by worker %u", (unsigned long long)c->id, c->peer,
		    w->id);
	/* The ClientHello may already be waiting. */
	srdma__conn_on_io(c, EPOLLIN);
}

/* Drain the wake-up eventfd and adopt queued sockets. Returns 1 if a stop was requested. */
static int on_wake(struct srdma_worker *w)
{
	uint64_t v;
	int *fds, stopping;
	unsigned n, i;

	if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		srdma_warn("worker %u: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->lock);
	fds = w->queue;
	n = w->queue_len;
	w->queue = NULL;
	w->queue_len = w->queue_cap = 0;
	stopping = w->stopping;
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < n; i++) {
		if (stopping) {
			close(fds[i]);
			atomic_fetch_sub(&w->nconns, 1);
			atomic_fetch_sub(&w->srv->conns, 1);
		} else {
			adopt(w, fds[i]);
		}
	}
	free(fds);
	return stopping;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Drain the CQ. Adaptive: after completions arrive, keep polling a while before going back to
 * sleep on the channel, so a conversation in progress does not pay a wake-up per message; an
 * idle worker never spins. The while (w->spin_ns) follows how long the next completion took
 * to come after the worker went to sleep (srdma__spin_after_sleep), within busy_poll_us. */
static void poll_cq(struct srdma_worker *w)
{
	uint64_t max_ns = (uint64_t)w->srv->cfg.busy_poll_us * 1000, last = 0;
	struct ibv_wc wc[WC_BATCH];
	int n, i;

	if (w->idle_since) {
		w->spin_ns = srdma__spin_after_sleep(w->spin_ns, max_ns, now_ns() - w->idle_since);
		w->idle_since = 0;
	}
	while (srdma_cq_take_event(w->cq))
		;
	if (srdma_cq_arm(w->cq))
		srdma_err("worker %u: cannot arm the completion queue", w->id);
	for (;;) {
		n = ibv_poll_cq(w->cq->cq, WC_BATCH, wc);
		if (n < 0) {
			srdma_err("worker %u: ibv_poll_cq failed", w->id);
			return;
		}
		for (i = 0; i < n; i++) {
			struct srdma_conn *c = qp_lookup(w, wc[i].qp_num);

			/* Completions of a QP already destroyed belong to nobody. */
			if (c)
				srdma__conn_on_wc(c, &wc[i]);
		}
		if (n > 0) {
			last = now_ns();
			continue;
		}
		if (!last || now_ns() - last >= w->spin_ns) {
			/* Going to sleep: how long until the next completion tells the spin. */
			w->idle_since = last;
			return;
		}
	}
}

/* Expire set-up deadlines and rate-limit waits; return the epoll timeout until the next one
 * (-1: none). */
static int check_deadlines(struct srdma_worker *w)
{
	uint64_t now = srdma__now_ms(), next = 0;
	struct srdma_conn *c, *nx;

	for (c = w->conns; c; c = nx) {
		nx = c->next;
		if (c->throttle_until_ms && c->throttle_until_ms <= now)
			srdma__conn_on_throttle(c);
		if (c->state != SRDMA_CONN_CLOSED && c->throttle_until_ms &&
		    (!next || c->throttle_until_ms < next))
			next = c->throttle_until_ms;
		if (!c->deadline_ms || c->state == SRDMA_CONN_CLOSED)
			continue;
		if (c->deadline_ms <= now) {
			srdma__conn_on_timeout(c);
			continue;
		}
		if (!next || c->deadline_ms < next)
			next = c->deadline_ms;
	}
	return next ? (int)(next - now) : -1;
}

static void shutdown_conns(struct srdma_worker *w)
{
	while (w->conns) {
		struct srdma_conn *c = w->conns;

		if (c->state != SRDMA_CONN_TLS)
			srdma_info("client #%llu (%s): closing, server shutting down",
				   (unsigned long long)c->id, c->peer);
		srdma__conn_close(c, SRDMA_ERR_SHUTDOWN, "server shutting down");
	}
}

static void free_dead(struct srdma_worker *w)
{
	while (w->dead) {
		struct srdma_conn *c = w->dead;

		w->dead = c->next;
		free(c);
	}
}

static void *worker_main(void *arg)
{
	struct srdma_worker *w = arg;
	struct epoll_event ev[MAX_EVENTS];
	int stop = 0;

	while (!stop) {
		int timeout = check_deadlines(w);
		int n, i;

		n = epoll_wait(w->epfd, ev, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			srdma_err("worker %u: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct srdma_watch *wt = ev[i].data.ptr;

			switch (wt->kind) {
			case SRDMA_WATCH_WAKE:
				stop |= on_wake(w);
				break;
			case SRDMA_WATCH_CQ:
				poll_cq(w);
				break;
			case SRDMA_WATCH_CONN:
				srdma__conn_on_io(wt->ptr, ev[i].events);
				break;
			}
		}
		free_dead(w);
	}
	shutdown_conns(w);
	free_dead(w);
	return NULL;
}

int srdma__worker_start(struct srdma_server *srv, struct srdma_worker *w, unsigned id)
{
	struct epoll_event ev;
	unsigned buckets = 64;
	long cqe;
	int ret;

	w->srv = srv;
	w->id = id;
	w->spin_ns = (uint64_t)srv->cfg.busy_poll_us * 1000;
	w->epfd = -1;
	w->wake_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	while (buckets < srv->cfg.max_clients && buckets < 65536)
		buckets <<= 1;
	w->qp_table = calloc(buckets, sizeof(*w->qp_table));
	if (!w->qp_table)
		return -ENOMEM;
	w->qp_table_mask = buckets - 1;

	/* Every connection may land on one worker; the device caps the CQ. */
	cqe = (long)srv->cfg.max_clients * (2 * srv->cfg.recv_depth + 1);
	if (cqe > srv->dev->attr.max_cqe)
		cqe = srv->dev->attr.max_cqe;
	ret = srdma_cq_create(srv->dev, (int)cqe, srv->reg, &w->cq);
	if (ret)
		return ret;
	w->cq_budget = (unsigned)w->cq->cqe;

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->wake_fd < 0)
		return -errno;
	w->wake_watch.kind = SRDMA_WATCH_WAKE;
	w->cq_watch.kind = SRDMA_WATCH_CQ;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->wake_watch;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev))
		return -errno;
	ev.data.ptr = &w->cq_watch;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, srdma_cq_fd(w->cq), &ev))
		return -errno;
	ret = pthread_create(&w->thread, NULL, worker_main, w);
	if (ret)
		return -ret;
	w->started = 1;
	return 0;
}

static void wake(struct srdma_worker *w)
{
	uint64_t one = 1;

	if (w->wake_fd < 0)
		return;
	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		srdma_warn("worker %u: eventfd write: %s", w->id, strerror(errno));
}

int srdma__worker_enqueue(struct srdma_worker *w, int fd)
{
	pthread_mutex_lock(&w->lock);
	if (w->queue_len == w->queue_cap) {
		unsigned cap = w->queue_cap ? 2 * w->queue_cap : 16;
		int *q = realloc(w->queue, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&w->lock);
			return -ENOMEM;
		}
		w->queue = q;
		w->queue_cap = cap;
	}
	w->queue[w->queue_len++] = fd;
	atomic_fetch_add(&w->nconns, 1);
	pthread_mutex_unlock(&w->lock);
	wake(w);
	return 0;
}

void srdma__worker_request_stop(struct srdma_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_mutex_unlock(&w->lock);
	wake(w);
}

int srdma__worker_join(struct srdma_worker *w)
{
	int ret, first;
	unsigned i;

	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = 0;
	first = w->result;
	/* Sockets queued after the loop ended were never adopted. */
	for (i = 0; i < w->queue_len; i++)
		close(w->queue[i]);
	free(w->queue);
	w->queue = NULL;
	ret = srdma_cq_destroy(w->cq);
	w->cq = NULL;
	if (ret && !first)
		first = ret;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->epfd = w->wake_fd = -1;
	free(w->qp_table);
	w->qp_table = NULL;
	pthread_mutex_destroy(&w->lock);
	return first;
}
