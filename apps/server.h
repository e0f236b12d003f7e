/* srdma-server, an application of libsrdma (<srdma.h>) that serves the echo protocol
 * (echo_proto.h). Shapes shared by its parts:
 *
 *   server.c          the main thread: the context, the listener, signals, hand-off of
 *                     established connections to the workers, counts, the orderly shutdown;
 *   server_worker.c   a worker thread: an epoll loop over its sessions' control-channel and
 *                     completion-channel descriptors, busy polling, rate-limit timers;
 *   server_session.c  one session: the echo protocol, its end;
 *   server_region.c   a session's write region, made on the client's request.
 *
 * Ownership: the server owns the context and the workers; a connection belongs to the main
 * thread until it is queued to a worker, then to that worker alone (srdma.h allows a connection
 * to move between threads). Counters shared between threads are atomics. */
#ifndef SRDMA_APPS_SERVER_H
#define SRDMA_APPS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/signalfd.h>

#include <srdma.h>
#include "config.h"
#include "deadline_heap.h"
#include "server_metrics.h"

struct server;
struct worker;
struct session;

/* What an epoll event of a worker points at. */
enum watch_kind {
	WATCH_WAKE, /* the worker's eventfd: sessions queued, or stop */
	WATCH_CTRL, /* a session's control channel (srdma_conn_fd) */
	WATCH_QP,   /* a session's completion channel (srdma_conn_qp_fd(conn, 0)) */
};

struct watch {
	enum watch_kind kind;
	struct session *s;
};

/* Where a session's one message buffer stands. */
enum session_io {
	IO_IDLE,     /* free: read the next message */
	IO_HELD_IN,  /* a received message waits for the rate limit (throttle_until_ns) */
	IO_HELD_OUT, /* a reply waits for a credit or a send slot (srdma_msg_send said -EAGAIN) */
	IO_MAKING,   /* a REGION waits for its region, made on the worker's region thread */
};

struct region_job;

struct session {
	struct server *srv;
	struct worker *w;
	struct srdma_conn *conn;
	uint64_t id;
	char peer[64];
	/* The RDMA-write target, advertised as ECHO_WRITE_REGION: NULL until the client's first
	 * REGION, then region_len bytes (a page multiple, at most write_size), replaced by a larger
	 * one when the client asks for more. */
	uint8_t *region;
	uint32_t region_len;
	struct ibv_mr *mr;
	struct region_job *job; /* IO_MAKING: the region being made (it holds the PD) */
	unsigned ncq;		/* CQs the library made for the connection, for the counts */
	/* One message at a time: the request just read, then its reply built in place. */
	uint8_t *buf;
	size_t cap, len;
	uint32_t seq; /* sequence number of the message in buf (WRITE_DONE tags) */
	enum session_io io;
	int bye;	   /* the reply in buf (or just sent) is BYE: close once it is posted */
	uint64_t rate_tat; /* max_msg_rate: GCRA theoretical arrival time, ns */
	uint64_t throttle_until_ns; /* IO_HELD_IN: when the message may be answered */
	uint64_t last_busy_ns;	    /* last time a message was handled (busy polling) */
	int again;		    /* stopped after a batch: more may be waiting */
	uint64_t hashed;	    /* bytes of the region verified in this turn */
	uint64_t msgs_in;
	struct watch ctrl_watch, qp_watch;
	int ctrl_fd, qp_fd;
	uint32_t ctrl_events; /* registered for ctrl_fd */
	int qp_enabled;	      /* qp_fd registered with EPOLLIN (not while throttled) */
	int started;	      /* adopted by its worker: listed and watched */
	int closed;
	struct mx_session mx;	      /* its counters and /stats entry (server_metrics.h) */
	STAILQ_ENTRY(session) queued; /* handed to a worker, not yet adopted */
	LIST_ENTRY(session) listed;   /* the worker's sessions (once started) */
	SLIST_ENTRY(session) dead;    /* closed, to be freed */
	/* In the worker's timer heap while the session needs a turn no descriptor will announce
	 * (a rate-limit wait, a batch left over, the library's heartbeat or deadline). */
	struct dheap_node timer;
	SLIST_ENTRY(session) due; /* the batch of sessions whose time has come */
	LIST_ENTRY(session) busy; /* the worker's recently busy sessions, when on_busy */
	int on_busy;
};

struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	int started;
	int epfd;
	int wake_fd;
	struct watch wake_watch;
	pthread_mutex_t lock; /* guards queue, stopping, and the region thread's lists */
	STAILQ_HEAD(, session) queue;
	int stopping;
	/* Its region thread (server_region.c), started on first use: jobs to make, in order, and
	 * jobs made, for the worker to take on its next wake-up. */
	pthread_t maker;
	int maker_started, maker_stop;
	int maker_failed; /* pthread_create failed once: regions are made in place */
	pthread_cond_t maker_cond;
	STAILQ_HEAD(, region_job) jobs, made;
	unsigned jobs_pending; /* handed off and not yet taken back (the worker's own count) */
	atomic_uint nsessions; /* queued and adopted, for the least-loaded choice */
	LIST_HEAD(, session) sessions;
	SLIST_HEAD(, session) dead; /* closed, freed after the current epoll batch */
	/* Sessions by when they are next due (a binary min-heap), so a wake-up costs O(log n) per
	 * session due and nothing for the idle ones; and the sessions busy polling visits. */
	struct dheap timers;
	LIST_HEAD(, session) busy;
	/* The loop's time (CLOCK_MONOTONIC ns), read once when epoll_wait returns and once when the
	 * turn ends, as libuv's loop time: handlers use it instead of reading the clock each
	 * (under a VM whose clocksource is the HPET, every read is a system call). */
	uint64_t now_ns;
	int result;	     /* first teardown error */
	struct mx_worker mx; /* its counters (server_metrics.h) */
};

struct server_counts {
	atomic_uint clients; /* established sessions alive */
	atomic_ullong accepted, refused;
	atomic_long pd, cq, qp, mr;
};

struct server {
	struct srdma_server_config cfg;
	struct srdma_ctx *ctx;
	struct srdma_listener *listener;
	struct worker *workers;
	unsigned nworkers;
	int signal_fd, stop_fd, epfd;
	int accept_paused; /* the listener is out of descriptors: stop watching it a while */
	atomic_ullong next_id;
	struct server_counts n;
	struct metrics mx; /* counters, and the metrics listener (server_metrics.h) */
	/* Reload (server_reload.c): reads the configuration again as at start (defaults, the
	 * --config file, the flags); set by main before server_run. */
	int (*reread)(void *arg, struct srdma_server_config *out, char *err, size_t errlen);
	void *reread_arg;
	uint64_t watchdog_ns,
	    watchdog_next_ns; /* systemd watchdog ping interval, next ping; 0: off */
	/* Connections the pre-authentication pool dropped (its limits, early drop, evictions):
	 * under a flood they come by the thousand, so the first of a burst is logged alone and the
	 * rest summed up, one line per DROP_LOG_PERIOD_MS at most (server.c). Main thread. */
	struct {
		uint64_t next_ns;     /* no line before this; 0: none logged yet */
		unsigned long long n; /* not logged yet: all, and by kind */
		unsigned long long per_addr, pool_full, early, evicted;
		char last[64]; /* the last one's address */
	} drops;
};

/* server.c */
int server_create(const struct srdma_server_config *cfg, struct server **out, char *err,
		  size_t errlen);
/* Serve until SIGINT/SIGTERM (or server_stop), then shut down in order. 0, or a negative
 * errno if something could not be freed. */
int server_run(struct server *srv);
void server_stop(struct server *srv);
void server_destroy(struct server *srv);
uint64_t server_now_ns(void);

/* server_reload.c */
/* SIGHUP (si: its sender, to answer srdma-server --reload): read the configuration, the
 * certificate, key and CA files again, apply what can change while running, keep the rest
 * and say so; a bad file changes nothing. Main thread. */
void server_reload(struct server *srv, const struct signalfd_siginfo *si);
/* srdma-server --reload [PID]: ask the server PID (or $MAINPID) to reload and wait for its
 * answer. Returns the exit status (0 reloaded, 1 refused or no answer). */
int server_reload_request(const char *pid_arg);

/* server_systemd.c: sd_notify(3), a no-op outside a Type=notify unit. */
void server_notify_ready(struct server *srv);
void server_notify_reloading(void);
void server_notify_stopping(void);
/* The watchdog: server_watchdog_init reads WatchdogSec (sd_watchdog_enabled); the main loop
 * waits at most server_watchdog_timeout_ms (-1: no limit) and calls server_watchdog_tick. */
void server_watchdog_init(struct server *srv);
int server_watchdog_timeout_ms(const struct server *srv);
void server_watchdog_tick(struct server *srv);

/* server_worker.c */
int worker_start(struct server *srv, struct worker *w, unsigned id);
/* Hand an established session to w (w takes it; on failure the caller still owns it). */
void worker_enqueue(struct worker *w, struct session *s);
void worker_request_stop(struct worker *w);
/* Wake the worker from its epoll_wait (any thread). */
void worker_wake(struct worker *w);
/* Join; returns the worker's first teardown error. */
int worker_join(struct worker *w);
/* After the session's turn: watch what its descriptors should be watched for now, and put it
 * in the timer heap and the busy-poll list as its state says. */
void worker_update_watch(struct session *s);
/* Take a closing session out of the worker's heap and busy list. */
void worker_forget(struct session *s);

/* server_session.c */
struct session *session_new(struct server *srv, struct srdma_conn *conn);
/* On its worker: greet (WELCOME), start watching. The write region waits for a REGION. */
void session_start(struct session *s);
/* The control channel is ready: events from the peer. */
void session_on_ctrl(struct session *s);
/* The completion channel is ready (or a busy poll, or the rate-limit wait ended): read and
 * answer messages. Returns how many were handled. */
unsigned session_on_qp(struct session *s);
/* End the session: notice (if why is not NULL) over TLS, free its MR, close. Logs nothing. */
void session_close(struct session *s, const char *why);
/* End the session for something the client did or that failed here; the client is told. */
void session_fail(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queue the reply of len bytes now in buf (a negative errno: the encoding failed, the session
 * ends): session_on_qp sends it. */
void session_reply(struct session *s, ssize_t len);

/* The second half of session_close: the RDMA resources, the counts, the dead list. Run at once,
 * or when a region the session's PD holds comes back from the region thread. */
void session_release(struct session *s);

/* server_region.c */
/* REGION: a write region of at least want bytes, made and advertised, then REGION_READY (made
 * on the worker's region thread when large: the session waits in IO_MAKING). */
void session_on_region(struct session *s, uint32_t want);
/* The worker takes back the jobs its region thread made (on its wake-up). */
void region_take_made(struct worker *w);
/* A closing session's queued region is called off (s->job then NULL); one being made stays. */
void region_cancel(struct session *s);
/* At the worker's end, its sessions closed: join its region thread (after the region being
 * made, if any) and end the sessions that waited for theirs. */
void region_thread_stop(struct worker *w);
void region_unmap(uint8_t *mem, uint32_t size);
/* Free a closed (or never started) session's memory. */
void session_free(struct session *s);

#endif
