/* A worker thread of srdma-server: one epoll loop over its sessions' control channels
 * (srdma_conn_fd) and completion channels (srdma_conn_qp_fd), a wake-up eventfd for sessions
 * handed over by the main thread, for the stop and for regions its region thread made (started
 * on the first large REGION, server_region.c), busy polling after completions, and the
 * rate-limit waits. The worker owns its sessions end to end. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "log.h"

#include "server.h"

#define MAX_EVENTS 64

static struct session *timer_session(struct dheap_node *n)
{
	return (struct session *)((char *)n - offsetof(struct session, timer));
}

static void busy_unlist(struct session *s)
{
	if (!s->on_busy)
		return;
	LIST_REMOVE(s, busy);
	s->on_busy = 0;
}

/* s handled a message within the busy window before now (the loop's time, which may be older
 * than last_busy_ns, read at the end of its batch). */
static int busy_recent(const struct session *s, uint64_t now, uint64_t window)
{
	return window && s->last_busy_ns &&
	       (s->last_busy_ns >= now || now - s->last_busy_ns < window);
}

/* s takes messages from its QP: not while one waits for the rate limit (answered on the timer)
 * or for its region (answered when the region thread hands it back). */
static int reads_messages(const struct session *s)
{
	return s->io != IO_HELD_IN && s->io != IO_MAKING;
}

/* When s next needs a turn that no descriptor will announce: now if a batch was left over,
 * at the end of its rate-limit wait, at the library's next step (srdma_conn_timeout_ms). */
static uint64_t session_due(const struct session *s, uint64_t now)
{
	uint64_t due = 0, at;
	int t;

	if (s->again)
		return now;
	if (s->io == IO_HELD_IN)
		due = s->throttle_until_ns ? s->throttle_until_ns : now;
	t = srdma_conn_timeout_ms(s->conn);
	if (t >= 0) {
		at = now + (uint64_t)t * 1000000;
		if (!due || at < due)
			due = at;
	}
	return due;
}

static void schedule(struct session *s, uint64_t now)
{
	struct worker *w = s->w;
	uint64_t window = (uint64_t)w->srv->cfg.busy_poll_us * 1000;
	uint64_t due = session_due(s, now);

	if (!due) {
		dheap_remove(&w->timers, &s->timer);
	} else if (dheap_set(&w->timers, &s->timer, due)) {
		session_close(s, "server out of memory");
		return;
	}
	if (busy_recent(s, now, window) && reads_messages(s)) {
		if (!s->on_busy) {
			LIST_INSERT_HEAD(&w->busy, s, busy);
			s->on_busy = 1;
		}
	} else {
		busy_unlist(s);
	}
}

void worker_forget(struct session *s)
{
	dheap_remove(&s->w->timers, &s->timer);
	busy_unlist(s);
}

void worker_update_watch(struct session *s)
{
	struct epoll_event ev;
	uint32_t want;
	int qp_want;

	if (s->closed)
		return;
	want = EPOLLIN | ((srdma_conn_poll_events(s->conn) & POLLOUT) ? EPOLLOUT : 0);
	if (want != s->ctrl_events) {
		ev.events = want;
		ev.data.ptr = &s->ctrl_watch;
		if (epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->ctrl_fd, &ev) == 0)
			s->ctrl_events = want;
	}
	/* Meanwhile the completion channel (whose event nobody would take) is not watched. */
	qp_want = reads_messages(s);
	if (qp_want != s->qp_enabled) {
		ev.events = qp_want ? EPOLLIN : 0;
		ev.data.ptr = &s->qp_watch;
		if (epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->qp_fd, &ev) == 0)
			s->qp_enabled = qp_want;
	}
	schedule(s, s->w->now_ns);
}

/* Drain the eventfd, adopt queued sessions. Returns 1 if a stop was requested. */
static int on_wake(struct worker *w)
{
	STAILQ_HEAD(, session) q = STAILQ_HEAD_INITIALIZER(q);
	struct session *s;
	uint64_t v;
	int stopping;

	if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		srdma_warn("worker %u: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&q, &w->queue);
	stopping = w->stopping;
	pthread_mutex_unlock(&w->lock);
	while ((s = STAILQ_FIRST(&q))) {
		STAILQ_REMOVE_HEAD(&q, queued);
		s->w = w;
		LIST_INSERT_HEAD(&w->sessions, s, listed);
		session_start(s);
	}
	region_take_made(w);
	return stopping;
}

static void free_dead(struct worker *w)
{
	struct session *s;

	while ((s = SLIST_FIRST(&w->dead))) {
		SLIST_REMOVE_HEAD(&w->dead, dead);
		session_free(s);
	}
}

/* Timers: the sessions whose time in the heap has come by the loop's time (their rate-limit
 * wait is over, a batch was left over, the library's heartbeat or deadline is due:
 * srdma_conn_process must run when srdma_conn_timeout_ms expires). Those due are taken out first
 * and given one turn each, so a session due again at once waits for the next round. */
static void run_timers(struct worker *w)
{
	SLIST_HEAD(, session) batch = SLIST_HEAD_INITIALIZER(batch);
	struct session *s;
	struct dheap_node *n;
	uint64_t now = w->now_ns;
	int turn;

	while ((n = dheap_min(&w->timers)) && n->due <= now) {
		s = timer_session(n);
		dheap_remove(&w->timers, n);
		SLIST_INSERT_HEAD(&batch, s, due);
	}
	while ((s = SLIST_FIRST(&batch))) {
		SLIST_REMOVE_HEAD(&batch, due);
		if (s->closed)
			continue;
		/* Each handler ends in worker_update_watch, which places the session again; one
		 * whose time had not quite come (or was an early estimate) is placed here. */
		turn = 0;
		if ((s->io == IO_HELD_IN && s->throttle_until_ns <= now) || s->again) {
			session_on_qp(s);
			turn = 1;
		}
		if (!s->closed && srdma_conn_timeout_ms(s->conn) == 0) {
			session_on_ctrl(s);
			turn = 1;
		}
		if (!s->closed && !turn)
			schedule(s, now);
	}
}

/* The epoll timeout until the first timer at time now: -1 (none), or milliseconds. */
static int timers_timeout(struct worker *w, uint64_t now)
{
	struct dheap_node *n = dheap_min(&w->timers);
	uint64_t ms;

	if (!n)
		return -1;
	if (n->due <= now)
		return 0;
	ms = (n->due - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Busy polling: after completions, keep reading the sessions that had messages within the last
 * busy_poll_us (the busy list), without sleeping, so a conversation in progress does not pay a
 * wake-up per message. Returns 1 while any session is that recent (the next epoll_wait must not
 * block). */
static int busy_poll(struct worker *w, uint64_t now)
{
	uint64_t window = (uint64_t)w->srv->cfg.busy_poll_us * 1000;
	struct session *s, *nx;

	for (s = LIST_FIRST(&w->busy); s; s = nx) {
		nx = LIST_NEXT(s, busy);
		if (!busy_recent(s, now, window) || !reads_messages(s)) {
			busy_unlist(s);
			continue;
		}
		session_on_qp(s);
	}
	return !LIST_EMPTY(&w->busy);
}

static void shutdown_sessions(struct worker *w)
{
	struct session *s;

	while ((s = LIST_FIRST(&w->sessions))) {
		srdma_info("client #%llu (%s): closing, server shutting down",
			   (unsigned long long)s->id, s->peer);
		session_close(s, "server shutting down");
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[MAX_EVENTS];
	int stop = 0, spinning = 0;
	uint64_t end;

	/* Two clock reads a turn: when epoll_wait returns (the loop's time for everything the turn
	 * handles) and when the turn is done (its busy time, and the next timeout). */
	w->now_ns = server_now_ns();
	run_timers(w);
	free_dead(w);
	end = server_now_ns();
	while (!stop) {
		int timeout = spinning ? 0 : timers_timeout(w, end), n, i;

		n = epoll_wait(w->epfd, ev, MAX_EVENTS, timeout);
		w->now_ns = server_now_ns();
		if (n < 0) {
			end = w->now_ns;
			if (errno == EINTR)
				continue;
			srdma_err("worker %u: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct watch *wt = ev[i].data.ptr;

			switch (wt->kind) {
			case WATCH_WAKE:
				stop |= on_wake(w);
				break;
			case WATCH_CTRL:
				if (!wt->s->closed)
					session_on_ctrl(wt->s);
				break;
			case WATCH_QP:
				if (!wt->s->closed)
					session_on_qp(wt->s);
				break;
			}
		}
		free_dead(w);
		spinning = busy_poll(w, w->now_ns);
		run_timers(w);
		free_dead(w);
		end = server_now_ns();
		metrics_worker_busy(w, end - w->now_ns);
	}
	shutdown_sessions(w);
	/* A session whose region is being made ends when it comes back (its PD is in use). */
	region_thread_stop(w);
	if (w->jobs_pending)
		srdma_err("worker %u: %u write regions unaccounted for at its end", w->id,
			  w->jobs_pending);
	free_dead(w);
	dheap_free(&w->timers);
	return NULL;
}

int worker_start(struct server *srv, struct worker *w, unsigned id)
{
	struct epoll_event ev;
	int ret;

	w->srv = srv;
	w->id = id;
	w->epfd = -1;
	w->wake_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->maker_cond, NULL);
	STAILQ_INIT(&w->queue);
	STAILQ_INIT(&w->jobs);
	STAILQ_INIT(&w->made);
	LIST_INIT(&w->sessions);
	LIST_INIT(&w->busy);
	SLIST_INIT(&w->dead);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->wake_fd < 0)
		return -errno;
	w->wake_watch.kind = WATCH_WAKE;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->wake_watch;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev))
		return -errno;
	ret = pthread_create(&w->thread, NULL, worker_main, w);
	if (ret)
		return -ret;
	w->started = 1;
	return 0;
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		srdma_warn("worker %u: eventfd write: %s", w->id, strerror(errno));
}

void worker_enqueue(struct worker *w, struct session *s)
{
	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->queue, s, queued);
	atomic_fetch_add(&w->nsessions, 1);
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
}

void worker_request_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
}

int worker_join(struct worker *w)
{
	struct session *s;

	if (w->started)
		pthread_join(w->thread, NULL);
	else if (w->srv)
		/* Never ran: sessions queued to it are ended here. */
		while ((s = STAILQ_FIRST(&w->queue))) {
			STAILQ_REMOVE_HEAD(&w->queue, queued);
			s->w = w;
			session_close(s, "server shutting down");
			free_dead(w);
		}
	w->started = 0;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->epfd = w->wake_fd = -1;
	if (w->srv) {
		pthread_cond_destroy(&w->maker_cond);
		pthread_mutex_destroy(&w->lock);
	}
	w->srv = NULL;
	return w->result;
}
