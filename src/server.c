/* The server's main thread: start-up, the listening socket, signals, device async events,
 * handing accepted sockets to the least-loaded worker, and the orderly shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <srdma/log.h>
#include <srdma/server.h>

#include "server_internal.h"

/* Connections allowed in TLS/HELLO beyond max_clients, so a full server can still answer
 * "server full" while a flood of half-open connections is cut off at accept. */
#define PENDING_EXTRA	128
#define ACCEPT_PAUSE_MS 100

enum main_watch {
	WATCH_LISTEN = 1,
	WATCH_SIGNAL,
	WATCH_STOP,
	WATCH_ASYNC,
};

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int listen_on(const char *host, unsigned port, int *out, unsigned *bound, char *err,
		     size_t errlen)
{
	struct addrinfo hints = {0}, *res, *ai;
	char portstr[16];
	int fd = -1, ret, one = 1;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve bind address \"%s\": %s", host,
			 gai_strerror(ret));
		return -EINVAL;
	}
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", host, port,
			 strerror(-ret));
		return ret;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		getsockname(fd, (struct sockaddr *)&ss, &sl);
		*bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	*out = fd;
	return 0;
}

static int watch(int epfd, int fd, enum main_watch what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = what};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int srdma_server_create(const struct srdma_server_config *cfg, struct srdma_server **out, char *err,
			size_t errlen)
{
	struct srdma_tls_server_opts topts = {0};
	struct srdma_server *srv;
	sigset_t mask;
	unsigned i;
	long ncpu;
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->listen_fd = srv->signal_fd = srv->stop_fd = srv->epfd = -1;
	if (!srv->cfg.workers) {
		ncpu = srdma_cpus_allowed();
		srv->cfg.workers = (unsigned)ncpu;
	}
	srv->max_pending = srv->cfg.max_clients + PENDING_EXTRA;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	ret = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (ret)
		goto err;
	srv->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->signal_fd < 0 || srv->stop_fd < 0 || srv->epfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-ret));
		goto err;
	}

	topts.cert = cfg->cert;
	topts.key = cfg->key;
	topts.client_ca = cfg->client_ca;
	topts.min_version = cfg->tls_min;
	ret = srdma_tls_ctx_server_create(&topts, &srv->tls_ctx, err, errlen);
	if (ret)
		goto err;
	ret = srdma_registry_create(cfg->max_clients, &srv->reg);
	if (ret) {
		snprintf(err, errlen, "cannot create the client registry: %s", strerror(-ret));
		goto err;
	}
	ret = srdma_dev_open(cfg->device, cfg->ib_port, cfg->gid_index, &srv->dev, err, errlen);
	if (ret)
		goto err;
	ret = set_nonblock(srv->dev->ctx->async_fd);
	if (ret)
		goto err;
	ret = listen_on(cfg->bind, cfg->port, &srv->listen_fd, &srv->port, err, errlen);
	if (ret)
		goto err;
	if ((ret = watch(srv->epfd, srv->listen_fd, WATCH_LISTEN)) ||
	    (ret = watch(srv->epfd, srv->signal_fd, WATCH_SIGNAL)) ||
	    (ret = watch(srv->epfd, srv->stop_fd, WATCH_STOP)) ||
	    (ret = watch(srv->epfd, srv->dev->ctx->async_fd, WATCH_ASYNC))) {
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-ret));
		goto err;
	}

	srv->workers = calloc(srv->cfg.workers, sizeof(*srv->workers));
	if (!srv->workers) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < srv->cfg.workers; i++) {
		/* Counted before it starts: a half-started worker is torn down like the rest. */
		srv->nworkers = i + 1;
		ret = srdma__worker_start(srv, &srv->workers[i], i);
		if (ret) {
			snprintf(err, errlen, "cannot start worker %u: %s", i, strerror(-ret));
			goto err;
		}
	}
	srdma_info("listening on %s port %u; device %s port %u, GID index %d (%s); %u workers, "
		   "up to %u clients; TLS %s minimum%s",
		   cfg->bind[0] ? cfg->bind : "*", srv->port, srv->dev->name, srv->dev->port,
		   srv->dev->gid_index, srv->dev->gid_desc, srv->nworkers, cfg->max_clients,
		   cfg->tls_min == SRDMA_TLS_1_2 ? "1.2" : "1.3",
		   cfg->client_ca[0] ? ", client certificates required" : "");
	*out = srv;
	return 0;

err:
	srdma_server_destroy(srv);
	return ret;
}

static int pick_worker(struct srdma_server *srv)
{
	unsigned i, best = 0, least = ~0u;

	for (i = 0; i < srv->nworkers; i++) {
		unsigned n = atomic_load(&srv->workers[i].nconns);

		if (n < least) {
			least = n;
			best = i;
		}
	}
	return (int)best;
}

/* Accept what is waiting. Returns 1 if accepting must pause (out of descriptors). */
static int on_listen(struct srdma_server *srv)
{
	for (;;) {
		int fd, one = 1, ret;

		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return 0;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				srdma_warn("accept: %s; pausing new connections for %d ms",
					   strerror(errno), ACCEPT_PAUSE_MS);
				return 1;
			}
			srdma_err("accept: %s", strerror(errno));
			return 0;
		}
		if (atomic_load(&srv->conns) >= srv->max_pending) {
			srdma_warn("too many connections in set-up (%u); dropping a new one",
				   srv->max_pending);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_fetch_add(&srv->conns, 1);
		ret = srdma__worker_enqueue(&srv->workers[pick_worker(srv)], fd);
		if (ret) {
			atomic_fetch_sub(&srv->conns, 1);
			close(fd);
		}
	}
}

static void on_async(struct srdma_server *srv)
{
	struct ibv_async_event ev;

	while (ibv_get_async_event(srv->dev->ctx, &ev) == 0) {
		switch (ev.event_type) {
		case IBV_EVENT_QP_FATAL:
		case IBV_EVENT_QP_REQ_ERR:
		case IBV_EVENT_QP_ACCESS_ERR:
		case IBV_EVENT_COMM_EST:
		case IBV_EVENT_SQ_DRAINED:
		case IBV_EVENT_PATH_MIG:
		case IBV_EVENT_PATH_MIG_ERR:
		case IBV_EVENT_QP_LAST_WQE_REACHED: {
			/* The QP, and so its connection, lives until this event is acked. */
			struct srdma_conn *c = ev.element.qp->qp_context;

			if (ev.event_type != IBV_EVENT_COMM_EST)
				srdma_warn("client #%llu: RDMA event: %s",
					   c ? (unsigned long long)c->id : 0ULL,
					   ibv_event_type_str(ev.event_type));
			break;
		}
		default:
			srdma_warn("RDMA device event: %s", ibv_event_type_str(ev.event_type));
			break;
		}
		ibv_ack_async_event(&ev);
	}
}

static void log_stats(struct srdma_server *srv, const char *when)
{
	struct srdma_registry_stats st;

	srdma_registry_stats(srv->reg, &st);
	srdma_info("%s: clients %u/%u, accepted %llu, refused %llu; live PD %ld, CQ %ld, QP %ld, "
		   "MR %ld; connections %u",
		   when, st.active, st.max_clients, (unsigned long long)st.accepted,
		   (unsigned long long)st.refused, st.res[SRDMA_RES_PD], st.res[SRDMA_RES_CQ],
		   st.res[SRDMA_RES_QP], st.res[SRDMA_RES_MR], atomic_load(&srv->conns));
}

int srdma_server_run(struct srdma_server *srv)
{
	struct epoll_event ev[8];
	int paused = 0, stop = 0, first = 0;
	unsigned i;

	while (!stop) {
		int n = epoll_wait(srv->epfd, ev, 8, paused ? ACCEPT_PAUSE_MS : -1);

		if (n < 0 && errno != EINTR) {
			srdma_err("epoll_wait: %s", strerror(errno));
			break;
		}
		if (paused && n == 0) {
			if (watch(srv->epfd, srv->listen_fd, WATCH_LISTEN) == 0)
				paused = 0;
		}
		for (int k = 0; k < n; k++) {
			switch (ev[k].data.u32) {
			case WATCH_LISTEN:
				if (on_listen(srv)) {
					epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
					paused = 1;
				}
				break;
			case WATCH_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1) {
						log_stats(srv, "stats");
					} else {
						srdma_info("%s received: shutting down",
							   strsignal((int)si.ssi_signo));
						stop = 1;
					}
				}
				break;
			}
			case WATCH_STOP:
				srdma_info("stop requested: shutting down");
				stop = 1;
				break;
			case WATCH_ASYNC:
				on_async(srv);
				break;
			}
		}
	}

	/* Stop accepting first, so nobody new arrives while the workers wind down. */
	close(srv->listen_fd);
	srv->listen_fd = -1;
	for (i = 0; i < srv->nworkers; i++)
		srdma__worker_request_stop(&srv->workers[i]);
	for (i = 0; i < srv->nworkers; i++) {
		int ret = srdma__worker_join(&srv->workers[i]);

		if (ret && !first)
			first = ret;
	}
	srv->nworkers = 0;
	on_async(srv);
	log_stats(srv, "shutdown complete");
	return first;
}

void srdma_server_stop(struct srdma_server *srv)
{
	uint64_t one = 1;
	ssize_t r = write(srv->stop_fd, &one, sizeof(one));

	(void)r;
}

unsigned srdma_server_port(const struct srdma_server *srv)
{
	return srv->port;
}

void srdma_server_stats(struct srdma_server *srv, struct srdma_registry_stats *out)
{
	srdma_registry_stats(srv->reg, out);
}

void srdma_server_destroy(struct srdma_server *srv)
{
	unsigned i;

	if (!srv)
		return;
	for (i = 0; i < srv->nworkers; i++)
		srdma__worker_request_stop(&srv->workers[i]);
	for (i = 0; i < srv->nworkers; i++)
		srdma__worker_join(&srv->workers[i]);
	free(srv->workers);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	/* The device context goes last: every PD, QP, MR and CQ is gone by now. */
	srdma_dev_close(srv->dev);
	srdma_registry_destroy(srv->reg);
	srdma_tls_ctx_destroy(srv->tls_ctx);
	free(srv);
}
