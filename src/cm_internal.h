/* The connection manager behind <srdma.h>: shapes shared by its files.
 *
 *   cm_ctx.c   the context: options, TLS contexts (one per role, shared), the device opened
 *              once, the set of live PSNs, connection counts.
 *   cm_connect.c  the connector's entry points (options, srdma_connect_start, srdma_connect).
 *   cm_conn.c  a connection's life: TCP, TLS, OPEN/QP/READY on the control channel, the QPs
 *              moved INIT -> RTR -> RTS by hand, regions, control messages, events, close; and
 *              the listener that drives handshakes and hands out established connections.
 *   cm_msg.c   SRDMA_QP_MESSAGES queue pairs: buffers, receives, credits, sealing, tags.
 *   cm_addqp.c a QP added to an established connection (srdma_conn_add_qp): its frames.
 *
 * Control-channel protocol (frames in wire.h, protocol version 2), after the TLS handshake,
 * one flight each way:
 *   connector:              (its TLS handshake is done: the listener is verified, its Finished
 *                           in the air) device, PD, CQs, QPs in INIT, receives posted
 *   connector -> listener:  OPEN (features, nqp, which QPs are library-driven), QP x nqp
 *   listener:               (the client's Finished in: it is authenticated) features, max_conns
 *                           slot, request callback (refusal: ERROR REFUSED / SERVER_FULL);
 *                           only then PD, CQs, QPs in INIT, receives posted; with every QP
 *                           frame in: INIT -> RTR -> RTS with the connector's values
 *   listener -> connector:  OPEN, QP x nqp, READY   (the listener's QPs are at RTS)
 *   connector:              INIT -> RTR -> RTS; established (it may send at once)
 *   connector -> listener:  READY                   (listener established)
 * then REGION, REVOKE, CTRL in any order, CLOSE at the end; ERROR ends a connection at any point
 * with a code and a reason. The listener creates no RDMA resource before it has accepted the peer,
 * so a refused or rejected peer costs it none (and it can be tested without a device up to that
 * point). A connector whose own RDMA set-up fails still sends OPEN, then ERROR RESOURCES instead of
 * its QP frames, and waits for the listener's answer: a refusal reaches it as a refusal, with the
 * same error as from any connector; otherwise its own error stands. A connector that fails
 * frees what it made at once. Version 1 (the same frames, two round trips after TLS) is
 * refused from the frame header with ERROR VERSION naming both versions.
 *
 * Adding a QP to an established connection (srdma_conn_add_qp, libsrdma 0.4), one add at a
 * time, its index the next one (nqp):
 *   connector:              QP nqp in INIT (fresh PSN), receives posted
 *   connector -> listener:  QP (index nqp)
 *   listener:               index == its nqp and no add in flight, else ERROR PROTOCOL (the
 *                           connection ends); nqp at its srdma_listener_set_max_qps bound:
 *                           QP_REFUSED REFUSED; else its QP (listen options' template, the
 *                           peer's driver, fresh PSN) INIT -> RTR -> RTS (failure: QP_REFUSED
 *                           RESOURCES); a refusal leaves the connection as it was
 *   listener -> connector:  QP (index nqp)            (the listener's QP is at RTS)
 *   connector:              INIT -> RTR -> RTS; nqp + 1, SRDMA_EV_QP_ADDED (a failure here:
 *                           QP_REFUSED RDMA back, the QP freed, SRDMA_EV_QP_ADD_FAILED)
 *   connector -> listener:  READY                     (listener: nqp + 1, SRDMA_EV_QP_ADDED)
 * A QP, READY or QP_REFUSED frame at any other point of the established state is a protocol
 * error. The listener only learns of the QP once the connector's is at RTS, so it never sends
 * into a QP that cannot receive yet; the connector may send at once, as after set-up. */
#ifndef SRDMA_CM_INTERNAL_H
#define SRDMA_CM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <netdb.h>

#include <srdma.h>
#include "chan.h"
#include "dataplane.h"
#include "tls.h"
#include "verbs.h"
#include "wire.h"

#define SRDMA_CM_MAX_REGIONS 256u
#define SRDMA_NAME_MAX	     256u  /* host and device names, with their NUL */
#define SRDMA_PATH_MAX	     4096u /* file names, with their NUL */
#define SRDMA_CM_EVENTS	     32u
/* Set-up steps timed for srdma_conn_info: TCP, TLS, OPEN, QP, READY. */
enum { SRDMA_STEP_TCP, SRDMA_STEP_TLS, SRDMA_STEP_OPEN, SRDMA_STEP_QP, SRDMA_CM_STEPS };
#define SRDMA_CM_HEARTBEAT_MS	  5000u
#define SRDMA_CM_HEARTBEAT_MISSES 3u
#define SRDMA_CM_REKEY_MESSAGES	  65536u
/* How long srdma_conn_close waits for messages and writes already posted to be acknowledged. */
#define SRDMA_CM_CLOSE_DRAIN_MS 1000

struct srdma_ctx {
	struct srdma_ctx_opts opts; /* the strings below point into this struct */
	char device[SRDMA_NAME_MAX];
	char cert[SRDMA_PATH_MAX];
	char key[SRDMA_PATH_MAX];
	char ca[SRDMA_PATH_MAX];
	struct srdma_tls_ctx *tls_server; /* when cert and key are set */
	struct srdma_tls_ctx *tls_client; /* when ca is set */
	pthread_mutex_t lock;		  /* guards dev opening, the PSN set and reloads */
	struct srdma_dev *dev;		  /* opened once, closed last */
	uint8_t *psn_live;		  /* bitmap of 2^24 bits: our PSNs in live connections */
	atomic_uint nconns;		  /* connections that hold a slot */
	atomic_uint max_conns;		  /* the limit in force (srdma_ctx_reload); not opts' */
	atomic_uint nobjects;		  /* listeners and connections not yet closed */
	unsigned rekey_log2;		  /* of opts.rekey_messages */
	uint64_t tick_ns; /* the coarse clock's resolution: heartbeat times this close are due */
	/* The device opened ahead, on a thread of its own, while srdma_ctx_create builds the TLS
	 * contexts (dev_ahead_start in cm_ctx.c); joined, its result taken, under lock by
	 * srdma__ctx_dev or at srdma_ctx_destroy. */
	pthread_t ahead_thread;
	int ahead_live, ahead_ret;
	struct srdma_dev *ahead_dev;
};

/* cm_ctx.c */
/* Open the device if not yet (thread-safe). 0 or negative errno with err. */
int srdma__ctx_dev(struct srdma_ctx *ctx, struct srdma_dev **out, char *err, size_t errlen);
/* Draw a PSN from the CSPRNG that no live connection of ctx uses as its own, and mark it. */
int srdma__ctx_psn_take(struct srdma_ctx *ctx, uint32_t *psn);
void srdma__ctx_psn_put(struct srdma_ctx *ctx, uint32_t psn);
/* A connection slot under max_conns: 0 or -EBUSY. */
int srdma__ctx_slot_take(struct srdma_ctx *ctx);
void srdma__ctx_slot_put(struct srdma_ctx *ctx);

/* State of a messages QP (cm_msg.c); opaque to cm_conn.c. */
struct srdma_msgq;

struct srdma_cm_qp {
	struct srdma_qp_opts opts; /* effective (defaults applied) */
	struct ibv_qp *qp;
	struct ibv_comp_channel *channel; /* library-made, with cq */
	struct ibv_cq *cq;		  /* library-made, NULL when the application gave its own */
	struct ibv_cq *send_cq, *recv_cq; /* in use */
	unsigned cq_events;		  /* taken from channel, not yet acknowledged */
	int armed;
	uint32_t local_psn, remote_psn;
	int have_psn;		     /* local_psn is marked in the context's PSN set */
	uint8_t rd_atomic;	     /* what we advertised as responder */
	struct srdma_wire_qp remote; /* the peer's QP frame */
	int have_remote;
	struct srdma_msgq *mq; /* SRDMA_QP_MESSAGES only */
};

struct srdma_cm_local_region {
	uint32_t id;
	unsigned access;
	struct ibv_mr *mr;
	int used;
};

struct srdma_cm_remote_region {
	struct srdma_region r;
	int used;
};

enum srdma_cm_state {
	SRDMA_CM_TCP,	/* connector: TCP connect in progress */
	SRDMA_CM_TLS,	/* TLS handshake */
	SRDMA_CM_OPEN,	/* listener: waiting for OPEN, then QP frames; connector: for the
			   listener's OPEN, QP frames and READY */
	SRDMA_CM_READY, /* listener: its QPs at RTS, waiting for READY */
	SRDMA_CM_ESTABLISHED,
	SRDMA_CM_FAILED, /* only srdma_conn_close remains */
};

struct srdma_listener;

struct srdma_conn {
	struct srdma_ctx *ctx;
	int is_server;
	enum srdma_cm_state state;
	int fd; /* TCP socket while connecting, then owned by tls */
	struct srdma_tls *tls;
	struct srdma_chan chan;
	char server_name[SRDMA_NAME_MAX];
	uint64_t start_ns;
	uint64_t deadline_ns;  /* set-up deadline; 0 once established */
	uint64_t next_ping_ns; /* established: when the next heartbeat PING goes; 0: off */
	uint64_t last_rx_ns;   /* established: when the peer was last heard (a frame on the
				  channel, a message on a library-driven QP) */
	uint64_t setup_us;
	uint64_t step_ns[SRDMA_CM_STEPS]; /* when each set-up step ended (srdma_conn_info) */
	int has_slot;
	struct srdma_peer peer;
	enum srdma_dp_mode dp_mode;
	struct ibv_pd *pd;
	struct srdma_dev *dev;
	unsigned nqp;
	struct srdma_cm_qp qp[SRDMA_MAX_QPS];
	unsigned remote_qps; /* peer QP frames received (bit mask) */
	int got_open, got_ready, sent_ready;
	/* srdma_conn_add_qp: QP nqp is being added (connector: our frame sent, the peer's
	 * awaited; listener: ours sent, READY awaited); add_result: 1 while in flight, then 0 or
	 * the add's negative errno for the blocking form. */
	int adding, add_result;
	unsigned max_qps;		   /* listener: srdma_listener_set_max_qps */
	struct srdma_qp_opts add_template; /* listener: our side of an added QP */
	/* Connector: its own RDMA set-up failed (negative errno, reason); the listener has been
	 * told after OPEN and its answer is awaited (a refusal wins over this error). */
	int local_err;
	char local_errmsg[256];
	struct srdma_cm_local_region local[SRDMA_CM_MAX_REGIONS];
	struct srdma_cm_remote_region remote[SRDMA_CM_MAX_REGIONS];
	struct srdma_event events[SRDMA_CM_EVENTS];
	unsigned ev_head, ev_len;
	int established_reported;
	int was_established; /* reached SRDMA_CM_ESTABLISHED (it may have failed since) */
	int peer_closed;     /* CLOSE received (or EOF after it) */
	int error;	     /* first fatal error (negative errno), reported by every call after */
	char errmsg[256];
	/* Listener side. */
	struct srdma_listener *listener;
	uint8_t src_key[16]; /* the peer's address as counted by max_pending_per_addr */
	struct srdma_conn *lprev, *lnext;
	/* Connector side: the addresses of the host, the one being tried. */
	struct addrinfo *ai_list, *ai_cur;
	char host[SRDMA_NAME_MAX];
	uint16_t port;
	unsigned timeout_ms; /* set-up deadline length, for messages */
	int path_mtu;	     /* bytes, once the QPs are at RTR */
};

struct srdma_listener {
	struct srdma_ctx *ctx;
	struct srdma_listen_opts opts;
	int fd;	  /* listening socket */
	int epfd; /* the listening socket and every pending handshake's socket */
	uint16_t port;
	struct srdma_conn *pending; /* handshakes in progress (lnext/lprev), newest first */
	unsigned npending;
	/* Handshakes in progress per source address: naddrs entries, at most max_pending. */
	struct srdma_addr_count {
		uint8_t key[16];
		unsigned n;
	} * addrs;
	unsigned naddrs;
	uint64_t rng;	  /* xorshift state for random early drop (not a secret) */
	unsigned max_qps; /* srdma_listener_set_max_qps */
};

/* cm_conn.c */
/* Record a fatal error (first one wins) and return it. */
int srdma__conn_fail(struct srdma_conn *c, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, after telling the peer why in an ERROR frame with code (best effort), once the
 * control channel is up. */
int srdma__conn_fail_peer(struct srdma_conn *c, uint16_t code, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Queue a frame on the control channel and try to write it: 0 (sent or queued), -ENOBUFS
 * (queue full), or the connection's failure. */
int srdma__conn_send_frame(struct srdma_conn *c, const struct srdma_frame *f);
/* Read what the control channel has (non-blocking) and queue its events; 0 or the
 * connection's fatal error. Used by the blocking message calls while they wait. */
int srdma__conn_pump(struct srdma_conn *c);
/* Queue event type on c (the queue holds SRDMA_CM_EVENTS; callers check room by not reading
 * frames while it is full); fields but type zeroed. */
struct srdma_event *srdma__conn_event(struct srdma_conn *c, enum srdma_event_type type);
/* Our QP frame for QP i (at INIT or later). */
void srdma__conn_qp_frame(const struct srdma_conn *c, unsigned i, struct srdma_frame *f);
/* cm_addqp.c: the frames of an add (QP, READY, QP_REFUSED) in the established state. 0 or the
 * connection's failure. */
int srdma__addqp_frame(struct srdma_conn *c, const struct srdma_frame *f);

/* Listener side: a connection in set-up over an accepted socket (owned from here on, closed
 * on failure too). 0 or negative errno with err. */
int srdma__conn_accepted(struct srdma_listener *l, int fd, struct srdma_conn **out, char *err,
			 size_t errlen);
/* A connection in set-up, its deadline timeout_ms from now (counted in ctx's objects); NULL
 * when out of memory. */
struct srdma_conn *srdma__conn_new(struct srdma_ctx *ctx, int is_server, unsigned timeout_ms);
/* Connector: start connecting to the current address or the next ones; 0 or the failure. */
int srdma__conn_tcp_start(struct srdma_conn *c);
/* Time in CLOCK_MONOTONIC nanoseconds. */
uint64_t srdma__cm_now_ns(void);
/* Time in CLOCK_MONOTONIC_COARSE nanoseconds: the heartbeat's clock (cheap, a tick behind). */
uint64_t srdma__cm_coarse_ns(void);
/* Record that set-up step `step` ended now. */
void srdma__conn_step(struct srdma_conn *c, unsigned step);

/* Defaults of struct srdma_qp_opts (<srdma.h>). */
#define RAW_DEFAULT_WR	  16u
#define MSG_DEFAULT_MAX	  65536u
#define MSG_DEFAULT_DEPTH 16u

/* cm_qp.c */
/* Apply the defaults of <srdma.h> to the options of QP i and check them. */
int srdma__qp_opts_effective(struct srdma_qp_opts *o, unsigned i, char *err, size_t errlen);
/* Device, PD and every QP in INIT (messages QPs with their buffers and receives). Partial
 * state is freed by srdma_conn_close. */
int srdma__rdma_create(struct srdma_conn *c, char *err, size_t errlen);
/* QP i (its opts set, the rest of c->qp[i] zero): CQ if ours, the QP in INIT, its PSN, its
 * messages state. Partial state: srdma__qp_destroy. */
int srdma__qp_create(struct srdma_conn *c, unsigned i, char *err, size_t errlen);
/* QP i INIT -> RTR -> RTS with c->qp[i].remote; messages QP started. */
int srdma__qp_connect(struct srdma_conn *c, unsigned i, char *err, size_t errlen);
/* Every QP INIT -> RTR -> RTS with the peer's QP frames; messages QPs started. */
int srdma__qps_connect(struct srdma_conn *c, char *err, size_t errlen);
/* Free QP q's QP, messages state, library CQ and channel, PSN (fields reset, options kept). */
int srdma__qp_destroy(struct srdma_conn *c, struct srdma_cm_qp *q);
/* Every QP and the PD (kept if the application's MRs hold it: -EBUSY). First error or 0. */
int srdma__rdma_release(struct srdma_conn *c);

/* cm_msg.c: a SRDMA_QP_MESSAGES QP's life, called by cm_conn.c. */
/* QP capabilities and CQ size a messages QP of these options needs. */
void srdma__msgq_caps(const struct srdma_qp_opts *o, struct ibv_qp_cap *cap, int *cqe);
/* After the QP is created and in INIT: buffers in c->pd, receives posted. */
int srdma__msgq_create(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen);
/* The peer was heard from (a message on a library-driven QP): its silence starts again. */
void srdma__conn_heard(struct srdma_conn *c);
/* Listener: the receive slots, once the connector's QP frame is in (before RTR); a no-op on the
 * connecting side, which made them with the QP. */
int srdma__msgq_prepare(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen);
/* Our QP frame's max_msg and depth. */
void srdma__msgq_local(const struct srdma_cm_qp *q, uint32_t *max_msg, uint16_t *depth);
/* Data-plane key updates done on q so far. */
unsigned srdma__msgq_key_updates(const struct srdma_cm_qp *q);
/* After RTS, with q->remote known: derive the keys (sealed modes), set the credits. */
int srdma__msgq_start(struct srdma_conn *c, struct srdma_cm_qp *q, char *err, size_t errlen);
/* Before close: wait until deadline_ns for sends and writes posted on q to complete. */
void srdma__msgq_drain(struct srdma_conn *c, struct srdma_cm_qp *q, uint64_t deadline_ns);
/* After the QP is destroyed: deregister and free. Accepts q->mq == NULL. */
void srdma__msgq_destroy(struct srdma_cm_qp *q);

#endif
