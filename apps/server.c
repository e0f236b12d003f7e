/* srdma-server's main thread: the libsrdma context and listener, signals, handing established
 * connections to the least-loaded worker, the counts (SIGUSR1) and the orderly shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include "log.h"

#include "echo_proto.h"
#include "server.h"

#define ACCEPT_PAUSE_MS 100
/* At most one line about connections dropped before TLS per this period (on_drop). */
#define DROP_LOG_PERIOD_MS 5000

enum main_watch {
	MAIN_LISTEN = 1,
	MAIN_SIGNAL,
	MAIN_STOP,
	MAIN_DEVICE,
};

uint64_t server_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int watch_fd(int epfd, int fd, enum main_watch what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = what};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The device's event descriptor in the main loop (the device is open by now). */
static int watch_device(struct server *srv, char *err, size_t errlen)
{
	int fd = srdma_ctx_async_fd(srv->ctx, err, errlen);

	return fd < 0 ? fd : watch_fd(srv->epfd, fd, MAIN_DEVICE);
}

/* The drops not logged yet, in one line, once their period is over (or now, with force). */
static void drops_flush(struct server *srv, int force)
{
	uint64_t now = server_now_ns();

	if (!srv->drops.n || (!force && now < srv->drops.next_ns))
		return;
	srdma_warn("%llu more connections dropped by the pre-authentication pool "
		   "(per-address limit %llu, pool full %llu, early drop %llu, "
		   "evicted for a lighter address %llu); the last from %s",
		   srv->drops.n, srv->drops.per_addr, srv->drops.pool_full, srv->drops.early,
		   srv->drops.evicted, srv->drops.last);
	srv->drops.n = srv->drops.per_addr = srv->drops.pool_full = srv->drops.early =
	    srv->drops.evicted = 0;
	srv->drops.next_ns = now + DROP_LOG_PERIOD_MS * 1000000ull;
}

/* Milliseconds until the pending drops' line is due, -1 if none is pending. */
static int drops_timeout_ms(const struct server *srv)
{
	uint64_t now = server_now_ns();

	if (!srv->drops.n)
		return -1;
	return now >= srv->drops.next_ns ? 0 : (int)((srv->drops.next_ns - now) / 1000000) + 1;
}

/* A connection the pre-authentication pool dropped: the first of a burst in full, the rest
 * counted for drops_flush (the main loop's, after each round of the listener). Every one is
 * in the metrics (refused_total). */
static void on_drop(struct server *srv, const char *addr, enum setup_end end, const char *reason)
{
	uint64_t now = server_now_ns();

	if (!srv->drops.n && now >= srv->drops.next_ns) {
		srdma_warn("connection from %s dropped: %s", addr, reason);
		srv->drops.next_ns = now + DROP_LOG_PERIOD_MS * 1000000ull;
		return;
	}
	srv->drops.n++;
	if (end == SETUP_PER_ADDR)
		srv->drops.per_addr++;
	else if (end == SETUP_EARLY_DROP)
		srv->drops.early++;
	else if (end == SETUP_EVICTED)
		srv->drops.evicted++;
	else
		srv->drops.pool_full++;
	snprintf(srv->drops.last, sizeof(srv->drops.last), "%s", addr);
}

/* A handshake failed: one line, as the old server logged the same ends. */
static void on_failure(void *arg, const char *addr, int error, const char *reason)
{
	struct server *srv = arg;
	enum setup_end end = setup_end_of(addr, error, reason);
	unsigned long long id;

	metrics_on_failure(&srv->mx, end);
	if (end == SETUP_ACCEPT) {
		srdma_warn("accept: %s; pausing new connections for %d ms", reason,
			   ACCEPT_PAUSE_MS);
		srv->accept_paused = 1;
		return;
	}
	if (setup_end_is_drop(end)) {
		/* The pre-authentication pool (max_pending, max_pending_per_addr, early drop). */
		on_drop(srv, addr, end, reason);
		return;
	}
	id = atomic_fetch_add(&srv->next_id, 1) + 1;
	if (end == SETUP_SERVER_FULL) {
		atomic_fetch_add(&srv->n.refused, 1);
		srdma_info("client #%llu (%s): refused, server full (%u clients)", id, addr,
			   srv->cfg.max_clients);
	} else if (end == SETUP_TLS || end == SETUP_CERTIFICATE) {
		srdma_warn("client #%llu (%s): %s", id, addr, reason);
	} else if (end == SETUP_DISCONNECTED) {
		srdma_warn("client #%llu (%s): disconnected during set-up: %s", id, addr, reason);
	} else {
		/* The peer's opening request (the old HELLO) is where modes are compared. */
		srdma_warn("client #%llu (%s): session ended in state %s: %s", id, addr,
			   end == SETUP_MODE_MISMATCH ? "HELLO" : "set-up", reason);
	}
}

/* The echo protocol runs on one messages QP: refuse anything else before RDMA resources. */
static int on_request(void *arg, struct srdma_request *req)
{
	(void)arg;
	if (req->nqp != 1 || req->driver[0] != SRDMA_QP_MESSAGES) {
		snprintf(req->reason, sizeof(req->reason),
			 "this server speaks the echo protocol: one messages QP, not %u QPs%s",
			 req->nqp, req->driver[0] == SRDMA_QP_RAW ? " (raw)" : "");
		return -1;
	}
	return 0;
}

/* "GID index 1 (RoCE v2 192.0.2.1)": the index the library will pick (the first RoCE v2
 * IPv4-mapped GID) when none was configured. */
static void describe_gid(struct server *srv, char *buf, size_t len)
{
	struct ibv_context *vctx = srdma_ctx_verbs(srv->ctx);
	struct ibv_port_attr pa;
	struct ibv_gid_entry e;
	char ip[INET_ADDRSTRLEN];
	int i;

	snprintf(buf, len, "GID index %d", srv->cfg.gid_index);
	if (!vctx || ibv_query_port(vctx, srv->cfg.ib_port, &pa))
		return;
	for (i = 0; i < pa.gid_tbl_len; i++) {
		if (srv->cfg.gid_index >= 0 && i != srv->cfg.gid_index)
			continue;
		if (ibv_query_gid_ex(vctx, srv->cfg.ib_port, (uint32_t)i, &e, 0))
			continue;
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 && !e.gid.global.subnet_prefix &&
		    !memcmp(e.gid.raw + 8, "\0\0\xff\xff", 4)) {
			inet_ntop(AF_INET, e.gid.raw + 12, ip, sizeof(ip));
			snprintf(buf, len, "GID index %d (RoCE v2 %s)", i, ip);
			return;
		}
		if (srv->cfg.gid_index >= 0) {
			snprintf(buf, len, "GID index %d (%s)", i,
				 e.gid_type == IBV_GID_TYPE_ROCE_V2 ? "RoCE v2" : "IB/RoCE v1");
			return;
		}
	}
}

int server_create(const struct srdma_server_config *cfg, struct server **out, char *err,
		  size_t errlen)
{
	struct srdma_ctx_opts co;
	struct srdma_listen_opts lo;
	struct server *srv;
	struct ibv_context *vctx;
	char gid[96];
	sigset_t mask;
	unsigned i;
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->signal_fd = srv->stop_fd = srv->epfd = -1;
	metrics_init(&srv->mx, srv);
	if (!srv->cfg.workers)
		srv->cfg.workers = srdma_cpus_allowed(); /* workers = auto */

	/* Blocked here, in the thread that starts the workers: they inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP); /* reload (server_reload.c) */
	ret = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (ret)
		goto fail;
	srv->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->signal_fd < 0 || srv->stop_fd < 0 || srv->epfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-ret));
		goto fail;
	}

	srdma_ctx_opts_init(&co);
	co.device = cfg->device[0] ? cfg->device : NULL;
	co.ib_port = cfg->ib_port;
	co.gid_index = cfg->gid_index;
	co.cert = cfg->cert;
	co.key = cfg->key;
	co.ca = cfg->client_ca[0] ? cfg->client_ca : NULL;
	co.tls_min = cfg->tls_min;
	co.dataplane = (enum srdma_dp_mode)cfg->dataplane;
	co.max_conns = cfg->max_clients;
	co.heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : UINT32_MAX; /* 0: off */
	co.heartbeat_misses = cfg->heartbeat_misses;
	co.rekey_messages = cfg->rekey_messages;
	ret = srdma_ctx_create(&co, &srv->ctx, err, errlen);
	if (ret)
		goto fail;
	(void)srdma_ctx_set_resumption(srv->ctx, cfg->resumption);
	ret = srdma_ctx_open_device(srv->ctx, err, errlen);
	if (ret)
		goto fail;

	srdma_listen_opts_init(&lo);
	lo.bind = cfg->bind;
	lo.port = cfg->port;
	lo.max_pending = cfg->max_pending;
	lo.max_pending_per_addr = cfg->max_pending_per_addr;
	lo.early_drop_pct = cfg->early_drop_pct;
	lo.handshake_timeout_ms = cfg->handshake_timeout_ms;
	srdma_qp_opts_init(&lo.qp);
	lo.qp.driver = SRDMA_QP_MESSAGES;
	lo.qp.max_msg = cfg->max_msg + ECHO_HDR_LEN;
	if (lo.qp.max_msg > SRDMA_MSG_MAX)
		lo.qp.max_msg = SRDMA_MSG_MAX;
	lo.qp.depth = cfg->recv_depth;
	lo.qp.remote_access = SRDMA_ACCESS_REMOTE_WRITE;
	lo.on_request = on_request;
	lo.on_failure = on_failure;
	lo.arg = srv;
	ret = srdma_listen(srv->ctx, &lo, &srv->listener, err, errlen);
	if (ret)
		goto fail;
	if ((ret = watch_fd(srv->epfd, srdma_listener_fd(srv->listener), MAIN_LISTEN)) ||
	    (ret = watch_fd(srv->epfd, srv->signal_fd, MAIN_SIGNAL)) ||
	    (ret = watch_fd(srv->epfd, srv->stop_fd, MAIN_STOP)) ||
	    (ret = watch_device(srv, err, errlen))) {
		snprintf(err, errlen, "cannot set up the event loop: %s", strerror(-ret));
		goto fail;
	}

	srv->workers = calloc(srv->cfg.workers, sizeof(*srv->workers));
	if (!srv->workers) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < srv->cfg.workers; i++) {
		/* Counted before it starts: a half-started worker is torn down like the rest. */
		srv->nworkers = i + 1;
		ret = worker_start(srv, &srv->workers[i], i);
		if (ret) {
			snprintf(err, errlen, "cannot start worker %u: %s", i, strerror(-ret));
			goto fail;
		}
	}
	ret = metrics_start(&srv->mx, err, errlen);
	if (ret)
		goto fail;
	vctx = srdma_ctx_verbs(srv->ctx);
	describe_gid(srv, gid, sizeof(gid));
	srdma_info("listening on %s port %u; device %s port %u, %s; %u workers, up to %u clients; "
		   "TLS %s minimum%s%s",
		   cfg->bind[0] ? cfg->bind : "*", srdma_listener_port(srv->listener),
		   vctx ? ibv_get_device_name(vctx->device) : "?", cfg->ib_port, gid, srv->nworkers,
		   cfg->max_clients, cfg->tls_min == SRDMA_TLS_1_2 ? "1.2" : "1.3",
		   cfg->client_ca[0] ? ", client certificates required" : "",
		   cfg->resumption ? "" : ", session resumption off");
	*out = srv;
	return 0;

fail:
	server_destroy(srv);
	return ret;
}

static struct worker *pick_worker(struct server *srv)
{
	unsigned i, best = 0, least = ~0u;

	for (i = 0; i < srv->nworkers; i++) {
		unsigned n = atomic_load(&srv->workers[i].nsessions);

		if (n < least) {
			least = n;
			best = i;
		}
	}
	return &srv->workers[best];
}

/* Drive the handshakes; hand every established connection to a worker. */
static void on_listen(struct server *srv)
{
	struct srdma_conn *conn;
	struct session *s;
	int ret;

	for (;;) {
		ret = srdma_listener_accept(srv->listener, &conn);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			srdma_err("listener failed: %s", strerror(-ret));
			return;
		}
		s = session_new(srv, conn);
		if (!s) {
			srdma_err("out of memory for a session: closing it");
			srdma_ctrl_send(conn, "Nserver out of memory", 21);
			srdma_conn_close(conn);
			continue;
		}
		atomic_fetch_add(&srv->n.accepted, 1);
		worker_enqueue(pick_worker(srv), s);
	}
}

static void log_counts(struct server *srv, const char *when)
{
	struct server_counts *n = &srv->n;

	srdma_info("%s: clients %u/%u, accepted %llu, refused %llu; live PD %ld, CQ %ld, QP %ld, "
		   "MR %ld; connections %u",
		   when, atomic_load(&n->clients), srv->cfg.max_clients,
		   (unsigned long long)atomic_load(&n->accepted),
		   (unsigned long long)atomic_load(&n->refused), atomic_load(&n->pd),
		   atomic_load(&n->cq), atomic_load(&n->qp), atomic_load(&n->mr),
		   srv->ctx ? srdma_ctx_conns(srv->ctx) : 0);
}

/* Device events (a port down or up, a QP the device found in error): logged. A QP in error
 * also fails its session's completions, which its worker handles. */
static void on_device(struct server *srv)
{
	struct srdma_async_event ev;
	int ret;

	while ((ret = srdma_ctx_async_event(srv->ctx, &ev)) == 1) {
		metrics_async_event(&srv->mx, ev.type);
		if (ev.port)
			srdma_warn("device event: %s on port %u%s", ev.name, ev.port,
				   ev.own_port ? "" : " (not ours)");
		else
			srdma_warn("device event: %s%s", ev.name, ev.qp ? " on a client's QP" : "");
	}
	if (ret < 0)
		srdma_err("cannot read device events: %s", strerror(-ret));
}

static int on_signal(struct server *srv)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_counts(srv, "stats");
		} else if (si.ssi_signo == SIGHUP) {
			server_reload(srv, &si);
		} else {
			srdma_info("%s received: shutting down", strsignal((int)si.ssi_signo));
			stop = 1;
		}
	}
	return stop;
}

int server_run(struct server *srv)
{
	int lfd = srdma_listener_fd(srv->listener), watching = 1, stop = 0, first = 0, ret;
	uint64_t resume_ns = 0;
	struct epoll_event ev[8];
	unsigned i;

	/* Listening, the device open, the workers started: ready for systemd. */
	server_watchdog_init(srv);
	server_notify_ready(srv);
	while (!stop) {
		int timeout = srdma_listener_timeout_ms(srv->listener), n, k, wd;

		if (!watching) {
			int left = (int)((resume_ns - server_now_ns()) / 1000000) + 1;

			if (server_now_ns() >= resume_ns)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		wd = server_watchdog_timeout_ms(srv);
		if (wd >= 0 && (timeout < 0 || wd < timeout))
			timeout = wd;
		wd = drops_timeout_ms(srv);
		if (wd >= 0 && (timeout < 0 || wd < timeout))
			timeout = wd;
		n = epoll_wait(srv->epfd, ev, 8, timeout);
		if (n < 0 && errno != EINTR) {
			srdma_err("epoll_wait: %s", strerror(errno));
			break;
		}
		if (!watching && server_now_ns() >= resume_ns &&
		    watch_fd(srv->epfd, lfd, MAIN_LISTEN) == 0)
			watching = 1;
		for (k = 0; k < n; k++) {
			if (ev[k].data.u32 == MAIN_SIGNAL)
				stop |= on_signal(srv);
			else if (ev[k].data.u32 == MAIN_DEVICE)
				on_device(srv);
			else if (ev[k].data.u32 == MAIN_STOP) {
				srdma_info("stop requested: shutting down");
				stop = 1;
			}
		}
		if (stop)
			break;
		server_watchdog_tick(srv);
		/* Deadlines and ready handshakes alike: accept drives both. */
		on_listen(srv);
		drops_flush(srv, 0);
		if (srv->accept_paused && watching) {
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, lfd, NULL);
			watching = 0;
			resume_ns = server_now_ns() + ACCEPT_PAUSE_MS * 1000000ull;
		}
		srv->accept_paused = 0;
	}

	drops_flush(srv, 1);
	server_notify_stopping();
	/* Stop accepting first (handshakes in progress are told and closed), so nobody new
	 * arrives while the workers wind down. */
	srdma_listener_close(srv->listener);
	srv->listener = NULL;
	for (i = 0; i < srv->nworkers; i++)
		worker_request_stop(&srv->workers[i]);
	for (i = 0; i < srv->nworkers; i++) {
		ret = worker_join(&srv->workers[i]);
		if (ret && !first)
			first = ret;
	}
	srv->nworkers = 0;
	log_counts(srv, "shutdown complete");
	return first;
}

void server_stop(struct server *srv)
{
	uint64_t one = 1;
	ssize_t r = write(srv->stop_fd, &one, sizeof(one));

	(void)r;
}

void server_destroy(struct server *srv)
{
	unsigned i;

	if (!srv)
		return;
	/* The metrics thread reads the workers and the context: it goes first. */
	metrics_destroy(&srv->mx);
	srdma_listener_close(srv->listener);
	for (i = 0; i < srv->nworkers; i++)
		worker_request_stop(&srv->workers[i]);
	for (i = 0; i < srv->nworkers; i++)
		worker_join(&srv->workers[i]);
	free(srv->workers);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	if (srdma_ctx_destroy(srv->ctx))
		srdma_err("cannot free the context: a connection is still open");
	free(srv);
}
