/* Internal shapes shared by server.c (main thread), worker.c (event loops) and conn.c (one
 * connection's state machine). Ownership: the server owns the workers, the device, the TLS
 * context and the registry; each worker owns its CQ and its connections end to end. */
#ifndef SRDMA_SERVER_INTERNAL_H
#define SRDMA_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <srdma/chan.h>
#include <srdma/config.h>
#include <srdma/dataplane.h>
#include <srdma/registry.h>
#include <srdma/tls.h>
#include <srdma/verbs.h>
#include <srdma/wire.h>

struct srdma_worker;
struct srdma_conn;

/* What an epoll event points at. */
enum srdma_watch_kind {
	SRDMA_WATCH_WAKE,
	SRDMA_WATCH_CQ,
	SRDMA_WATCH_CONN,
};

struct srdma_watch {
	enum srdma_watch_kind kind;
	void *ptr;
};

struct srdma_server {
	struct srdma_server_config cfg;
	struct srdma_dev *dev;
	struct srdma_tls_ctx *tls_ctx;
	struct srdma_registry *reg;
	struct srdma_worker *workers;
	unsigned nworkers;
	int listen_fd;
	int signal_fd;
	int stop_fd; /* eventfd: srdma_server_stop() */
	int epfd;
	unsigned port;
	atomic_uint conns; /* accepted and not yet freed, all workers */
	atomic_uint_least64_t next_conn_id;
	unsigned max_pending; /* connections allowed beyond max_clients while in handshake */
};

struct srdma_worker {
	struct srdma_server *srv;
	unsigned id;
	pthread_t thread;
	int started;
	int epfd;
	int wake_fd; /* eventfd: new connections queued, or stop */
	struct srdma_watch wake_watch;
	struct srdma_watch cq_watch;
	struct srdma_cq *cq;
	uint64_t spin_ns;     /* busy-poll budget after completions, adapted by poll_cq() */
	uint64_t idle_since;  /* when poll_cq() last saw a completion before sleeping, or 0 */
	unsigned cq_budget;   /* CQ entries not yet promised to a connection */
	pthread_mutex_t lock; /* guards queue and stopping */
	int *queue;
	unsigned queue_len, queue_cap;
	int stopping;
	atomic_uint nconns;
	struct srdma_conn *conns;     /* doubly linked list of this worker's connections */
	struct srdma_conn *dead;      /* closed, freed after the current epoll batch */
	struct srdma_conn **qp_table; /* qp_num -> connection, chained */
	unsigned qp_table_mask;
	int result; /* first teardown error */
};

enum srdma_conn_state {
	SRDMA_CONN_TLS,	   /* TLS handshake in progress */
	SRDMA_CONN_HELLO,  /* waiting for the client's HELLO */
	SRDMA_CONN_PARAMS, /* waiting for the client's PARAMS */
	SRDMA_CONN_READY,  /* waiting for the client's READY */
	SRDMA_CONN_ESTABLISHED,
	SRDMA_CONN_CLOSED,
};

struct srdma_conn {
	struct srdma_worker *w;
	uint64_t id;
	char peer[64];
	enum srdma_conn_state state;
	struct srdma_watch watch;
	uint32_t epoll_events;
	struct srdma_tls *tls;
	struct srdma_chan chan;
	int has_slot;
	unsigned slot;
	uint32_t local_psn;
	uint32_t remote_psn;
	struct srdma_ep *ep;
	unsigned cq_share; /* CQ entries this connection holds of the worker's budget */
	struct srdma_params remote;
	uint64_t deadline_ms;	   /* set-up deadline; 0 once established */
	struct srdma_dataplane dp; /* sequence numbers and, in aead mode, the session keys */
	unsigned *send_free;	   /* stack of free send slots */
	unsigned send_free_len;
	/* Messages received while every send slot was busy, answered (in order) as slots free
	 * up; their receive slots stay unposted meanwhile, which is the client's back-pressure. */
	struct ibv_wc *held;
	unsigned held_head, held_len;
	uint64_t rate_tat;	    /* max_msg_rate: theoretical arrival time (src/ratelimit.h) */
	uint64_t throttle_until_ms; /* held messages wait for the rate limit until then; 0: no */
	int bye_sent;
	uint64_t msgs_in;
	struct srdma_conn *prev, *next;
	struct srdma_conn *qp_next;
};

/* worker.c */
int srdma__worker_start(struct srdma_server *srv, struct srdma_worker *w, unsigned id);
/* Hand a freshly accepted socket to w (the worker takes ownership of fd). */
int srdma__worker_enqueue(struct srdma_worker *w, int fd);
void srdma__worker_request_stop(struct srdma_worker *w);
/* Join, then free what the worker still owns; returns the worker's first teardown error. */
int srdma__worker_join(struct srdma_worker *w);
void srdma__worker_update_events(struct srdma_conn *c);
void srdma__worker_qp_insert(struct srdma_worker *w, struct srdma_conn *c);
void srdma__worker_qp_remove(struct srdma_worker *w, struct srdma_conn *c);
uint64_t srdma__now_ms(void);
/* "address:port" of the socket's peer, for logs. */
void srdma__peer_name(int fd, char *buf, size_t len);

/* conn.c */
int srdma__conn_create(struct srdma_worker *w, int fd, struct srdma_conn **out);
/* Socket readiness. */
void srdma__conn_on_io(struct srdma_conn *c, uint32_t events);
/* One completion of this connection's QP. */
void srdma__conn_on_wc(struct srdma_conn *c, const struct ibv_wc *wc);
/* The set-up deadline passed. */
void srdma__conn_on_timeout(struct srdma_conn *c);
/* throttle_until_ms passed: answer the messages the rate limit held. */
void srdma__conn_on_throttle(struct srdma_conn *c);
/* End the session: optional ERROR frame (code 0: none), close_notify, free everything. */
void srdma__conn_close(struct srdma_conn *c, uint16_t code, const char *why);

#endif
