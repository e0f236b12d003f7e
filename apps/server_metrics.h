/* srdma-server's metrics and statistics: counters the main thread and the workers keep as they
 * go, and, with metrics_listen set, an HTTP(S) listener (libmicrohttpd, its own thread) that
 * serves them as Prometheus text at /metrics and as JSON at /stats.
 *
 * Threads: a counter has one writer (the main thread, or the worker that owns the session or
 * is the worker) and is read by the HTTP thread without a lock (relaxed atomics). The table of
 * sessions is the one lock: taken when a session is listed (session_new) and unlisted
 * (session_close), and by /metrics and /stats while they copy it; never per message.
 *
 * Nothing secret is kept here: no PSN, QPN, rkey, region address or key, only counts, times,
 * the peer's address and its verified certificate subject. */
#ifndef SRDMA_APPS_SERVER_METRICS_H
#define SRDMA_APPS_SERVER_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct server;
struct worker;
struct session;
struct MHD_Daemon;

/* Set-up durations, seconds: the upper bounds of the histogram's buckets (+Inf after them). */
#define MX_BUCKETS 14

struct mx_histogram {
	atomic_ullong bucket[MX_BUCKETS + 1]; /* not cumulative; the last one is +Inf */
	atomic_ullong sum_us;
};

/* Why a handshake did not end in a session (srdma_listen_opts.on_failure), as the metrics
 * count it. Refusals: the server said no; failures: the handshake broke. */
enum mx_refusal {
	MX_REFUSED_SERVER_FULL,	 /* max_clients */
	MX_REFUSED_CERTIFICATE,	 /* mutual TLS: no client certificate, or one not verified */
	MX_REFUSED_RATE_LIMITED, /* max_pending_per_addr: too many handshakes from one address */
	MX_REFUSED_PREAUTH_DROP, /* the pre-authentication pool: full, early drop, eviction */
	MX_REFUSED_REQUEST,	 /* the request callback (not the echo protocol's one QP) */
	MX_NREFUSALS,
};

enum mx_failure {
	MX_FAILED_TLS,		/* the TLS handshake */
	MX_FAILED_PROTOCOL,	/* a bad frame, a version or data-plane mode mismatch */
	MX_FAILED_DEADLINE,	/* handshake_timeout_ms */
	MX_FAILED_DISCONNECTED, /* the peer went away during set-up */
	MX_FAILED_RESOURCES,	/* out of descriptors, memory or RDMA resources */
	MX_FAILED_OTHER,
	MX_NFAILURES,
};

/* How an established session ended. */
enum mx_end {
	MX_END_QUIT,	     /* QUIT, BYE */
	MX_END_DISCONNECTED, /* the peer closed or vanished */
	MX_END_HEARTBEAT,    /* the peer stopped answering heartbeats */
	MX_END_QP_ERROR,     /* a completion with an error, a QP in the error state */
	MX_END_AUTH_FAILURE, /* a sealed message failed authentication or its sequence check */
	MX_END_ERROR,	     /* anything else the session did wrong or that failed here */
	MX_END_SHUTDOWN,     /* the server shut down */
	MX_NENDS,
};

#define MX_ASYNC_EVENTS 32 /* enum ibv_event_type values counted one by one */

/* One session, inside struct session. The fixed fields are written before it is listed. */
struct mx_session {
	LIST_ENTRY(mx_session) link; /* the table, under metrics.lock */
	int listed;
	uint64_t id;
	char peer[64];
	int verified;
	char identity[256]; /* the verified certificate's subject */
	int dataplane;	    /* enum srdma_dp_mode */
	uint64_t start_ns;  /* server_now_ns() when established */
	atomic_int worker;  /* -1 until a worker adopts it */
	atomic_ullong msgs_in, msgs_out, bytes_in, bytes_out;
	atomic_ullong throttled_until_ns; /* max_msg_rate: held until then */
	int end;			  /* enum mx_end, or -1 (set by its worker) */
};

/* One worker, inside struct worker: written by that worker alone. */
struct mx_worker {
	atomic_ullong busy_ns;
	atomic_ullong msgs_in, msgs_out, bytes_in, bytes_out;
	atomic_ullong sessions; /* adopted so far */
};

struct metrics {
	struct server *srv;
	pthread_mutex_t lock; /* guards the session table */
	LIST_HEAD(, mx_session) sessions;
	unsigned nsessions;
	/* Main thread. */
	atomic_ullong refused[MX_NREFUSALS], failed[MX_NFAILURES];
	struct mx_histogram setup, steps[4];
	/* Any worker (rare events: one atomic add each). */
	atomic_ullong ended[MX_NENDS];
	atomic_ullong auth_failures, qp_errors, throttled;
	/* The device's asynchronous events (counted by the main thread: metrics_async_event). */
	atomic_ullong async_events[MX_ASYNC_EVENTS];
	atomic_ullong async_other;
	/* The HTTP side, started by metrics_start. */
	struct MHD_Daemon *httpd;
	unsigned nworkers; /* srv->workers[0..nworkers) */
	char *tls_cert, *tls_key, *tls_ca;
	int client_certs; /* metrics_client_ca: a verified client certificate is required */
	char hw_dir[512]; /* /sys/class/infiniband/DEV/ports/PORT/hw_counters */
	char device[64];
	unsigned port;
};

/* Before anything else touches it (srv zeroed it). */
void metrics_init(struct metrics *m, struct server *srv);
/* With cfg.metrics_listen set: read the TLS files, bind, start serving and counting the
 * device's asynchronous events; call once the context and the workers are up. 0, or a
 * negative errno with a message in err. */
int metrics_start(struct metrics *m, char *err, size_t errlen);
/* Stop serving (waits for requests in progress) and free; also after a failed or no start. */
void metrics_destroy(struct metrics *m);

/* What a set-up failure reported by the listener (srdma_listen_opts.on_failure) was: the one
 * reading of its errno and reason, for the log and the metrics alike. */
enum setup_end {
	SETUP_ACCEPT,	     /* accept(2) itself failed (no peer address) */
	SETUP_SERVER_FULL,   /* max_clients */
	SETUP_PER_ADDR,	     /* dropped: max_pending_per_addr */
	SETUP_EARLY_DROP,    /* dropped: random early drop */
	SETUP_EVICTED,	     /* dropped: pool full, evicted for a lighter address */
	SETUP_POOL_FULL,     /* dropped: pool full */
	SETUP_REQUEST,	     /* the request callback refused it */
	SETUP_CERTIFICATE,   /* mutual TLS: no client certificate, or one not verified */
	SETUP_TLS,	     /* the TLS handshake broke */
	SETUP_DEADLINE,	     /* handshake_timeout_ms */
	SETUP_PROTOCOL,	     /* a bad frame, a version or data-plane mode mismatch */
	SETUP_MODE_MISMATCH, /* the data-plane modes differ (a protocol failure, at HELLO) */
	SETUP_DISCONNECTED,  /* the peer went away during set-up */
	SETUP_RESOURCES,     /* out of descriptors, memory or RDMA resources */
	SETUP_OTHER,
};
enum setup_end setup_end_of(const char *addr, int error, const char *reason);
/* A dropped connection: one of the pre-authentication pool's kinds. */
static inline int setup_end_is_drop(enum setup_end e)
{
	return e == SETUP_PER_ADDR || e == SETUP_EARLY_DROP || e == SETUP_EVICTED ||
	       e == SETUP_POOL_FULL;
}

/* Main thread. */
void metrics_on_failure(struct metrics *m, enum setup_end end);
/* A session is established (session_new): its fixed fields, the set-up times, listed. */
void metrics_session_open(struct session *s);

/* Its worker. */
void metrics_session_start(struct session *s);
/* The session ends (session_close; why: the notice it is sent, NULL if none): unlisted. */
void metrics_session_close(struct session *s, const char *why);
/* A call on the connection failed with ret (before the session is closed for it). */
void metrics_conn_error(struct session *s, int ret);
void metrics_throttled(struct session *s);
/* A message of len bytes taken from (in) or posted to (out) the session's QP. */
void metrics_msg_in(struct session *s, size_t len);
void metrics_msg_out(struct session *s, size_t len);
/* The worker spent ns handling events (not waiting in epoll_wait). */
void metrics_worker_busy(struct worker *w, uint64_t ns);
/* Main thread: one device event (server.c reads them with srdma_ctx_async_event). */
void metrics_async_event(struct metrics *m, enum ibv_event_type type);

/* Add to a counter that has one writer: a plain load and a release store, no locked
 * instruction on the message path. */
static inline void mx_add(atomic_ullong *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_release);
}

#endif
