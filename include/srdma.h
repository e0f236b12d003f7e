/* libsrdma: secure RDMA connections.
 *
 * An application links libsrdma where it would link librdmacm, to get RDMA Reliable
 * Connections whose set-up secrets never cross the network in clear and whose peers have
 * authenticated each other:
 *
 *   - every connection starts with TLS (1.3 by default, 1.2 the floor) over TCP; the connecting
 *     side always verifies the listener's certificate chain and name, the listener may require
 *     a client certificate (mutual TLS) and may refuse a verified identity from a callback
 *     before any RDMA resource exists;
 *   - inside that TLS session the two sides exchange, for each of the connection's RC queue
 *     pairs, the QP number, LID, GID, MTU and a 24-bit Packet Sequence Number drawn from a
 *     CSPRNG (OpenSSL's RAND_bytes), and move the QPs INIT -> RTR -> RTS by hand with them;
 *   - memory the application advertises (address, length, rkey, access) reaches the peer only
 *     through the TLS session, and can be revoked;
 *   - queue pairs the library drives carry application messages sealed with AES-256-GCM or
 *     ChaCha20-Poly1305 under keys exported from the TLS session (or plain, if both sides ask),
 *     with loss, replay, reordering and forgery refused.
 *
 * The TLS session stays open for the connection's whole life: it is the control channel that
 * carries advertisements, revocations, small control messages and the close, and its loss
 * ends the connection.
 *
 * Life of an application (error handling left out):
 *
 *   srdma_ctx_opts_init(&o); o.ca = "ca.pem"; srdma_ctx_create(&o, &ctx, err, sizeof(err));
 *   srdma_connect_opts_init(&c); c.host = "server"; c.nqp = 1;
 *   srdma_connect(ctx, &c, &conn, err, sizeof(err));         // or srdma_listen + srdma_accept
 *   mr = ibv_reg_mr(srdma_conn_pd(conn), buf, len, IBV_ACCESS_LOCAL_WRITE);
 *   srdma_remote_region(conn, 7, &r);                         // the peer advertised region 7
 *   ibv_post_send(srdma_conn_qp(conn, 0), ...r.addr, r.rkey...);  // the application's own verbs
 *   srdma_conn_close(conn); srdma_ctx_destroy(ctx);
 *
 * Conventions, for every call:
 *   - Errors are negative errno values. Calls that create something take err/errlen and write
 *     a reason a user can act on there; calls on a connection leave it in
 *     srdma_conn_errmsg(). Nothing in the library logs or prints.
 *   - Threads: a context is thread-safe (listeners and connections of one context may live on
 *     different threads). A listener and a connection are used by one thread at a time; a
 *     connection may move between threads (e.g. from the accepting thread to a worker).
 *   - Waits: every call that may wait has a non-blocking form driven by a file descriptor the
 *     application can put in its own poll/epoll loop, with a deadline it can read
 *     (..._timeout_ms); the blocking forms are convenience wrappers over them.
 *   - Ownership: the library owns what it creates (TLS, PD, QPs, the CQs it made, message
 *     buffers) and frees it in srdma_conn_close(). The application owns what it creates in the
 *     connection's PD (its MRs, CQs it passed in, work requests it posted) and must release
 *     its MRs before srdma_conn_close().
 *   - Secrets: PSNs, QPNs, rkeys, region addresses and keys. The library never logs them;
 *     srdma_conn_qp_secrets() exists for tests and diagnostics only.
 *   - The process must ignore SIGPIPE (OpenSSL writes to sockets with write(2)).
 */
#ifndef SRDMA_H
#define SRDMA_H

#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SRDMA_API __attribute__((visibility("default")))
#else
#define SRDMA_API
#endif

#define SRDMA_PORT_DEFAULT	   4433
#define SRDMA_MAX_QPS		   16	      /* queue pairs in one connection */
#define SRDMA_CTRL_MAX		   240	      /* bytes of one control message (srdma_ctrl_send) */
#define SRDMA_TAG_LEN		   32	      /* bytes of a region tag (srdma_tag) */
#define SRDMA_MSG_MAX		   (1u << 20) /* largest message on a library-driven QP */
#define SRDMA_DEPTH_MAX		   1024	      /* receives kept posted on one library-driven QP */
#define SRDMA_HEARTBEAT_MIN_MS	   100u	      /* least srdma_ctx_opts.heartbeat_ms */
#define SRDMA_HEARTBEAT_MAX_MISSES 1000u      /* most srdma_ctx_opts.heartbeat_misses */

struct srdma_ctx;
struct srdma_listener;
struct srdma_conn;

/* "0.4.0" */
SRDMA_API const char *srdma_version(void);

/* ---- Context ------------------------------------------------------------------------- */

/* How messages on library-driven QPs travel. Both sides must use the same mode (the connection
 * is refused otherwise, with a message naming both). */
enum srdma_dp_mode {
	SRDMA_DP_PLAIN = 0,    /* in the clear (still sequence-checked) */
	SRDMA_DP_AEAD = 1,     /* AES-256-GCM (the default) */
	SRDMA_DP_CHACHA20 = 2, /* ChaCha20-Poly1305 */
};

/* "plain", "aead" or "chacha20" ("unknown" for any other value); a static string. */
SRDMA_API const char *srdma_dp_mode_name(enum srdma_dp_mode mode);

/* The values of srdma_ctx_opts.tls_min. */
enum srdma_tls_version {
	SRDMA_TLS_1_2 = 12,
	SRDMA_TLS_1_3 = 13,
};

struct srdma_ctx_opts {
	const char *device; /* RDMA device name; NULL or "": the first one */
	uint8_t ib_port;    /* 1.. ; default 1 */
	int gid_index;	    /* -1 (default): the first RoCE v2 IPv4-mapped GID */
	const char *cert;   /* our certificate chain (PEM): required to listen; optional to
			       connect (mutual TLS) */
	const char *key;    /* its private key (PEM) */
	const char *ca;	    /* CA bundle the peer must chain to: required to connect; when
			       listening, if set, every peer must present a certificate it signed */
	int tls_min;	    /* SRDMA_TLS_1_2 or SRDMA_TLS_1_3 (default): lowest TLS version */
	enum srdma_dp_mode dataplane; /* default SRDMA_DP_AEAD */
	unsigned max_conns;	      /* connections of this context at once, accepted or connected,
					 from the moment the listener takes the peer's request (or
					 srdma_connect_start) to srdma_conn_close; 0: no limit. A listener
					 refuses the next peer with "server full" (-EBUSY at the peer);
					 srdma_connect_start returns -EBUSY. */
	/* Liveness of established connections: a side that has heard nothing from its peer (no
	 * frame on the control channel, no message on a SRDMA_QP_MESSAGES QP) for
	 * heartbeat_ms [5000; at least 100] (the listener's side: one and a half times that)
	 * sends a PING on the control channel, at most one per heartbeat_ms, which the peer
	 * answers at once (so between live peers the connector pings and the listener answers);
	 * a connection that hears nothing from its peer for heartbeat_ms * heartbeat_misses [3;
	 * 1..1000] fails with -ETIMEDOUT (a frozen process, a cut network, a vanished host). These
	 * times are kept on CLOCK_MONOTONIC_COARSE and are right to within its tick (a few
	 * milliseconds; clock_getres tells). The TCP socket gets keepalive and
	 * TCP_USER_TIMEOUT within the same bound once the connection is established (before,
	 * the set-up's deadline bounds it). The application must call srdma_conn_process
	 * when srdma_conn_timeout_ms expires (the blocking calls do it themselves): a thread
	 * that holds a connection and blocks elsewhere (disk I/O, say) for longer than the bound
	 * loses it, so such an application sets a larger heartbeat_ms, or UINT32_MAX: off (no
	 * liveness check at all, nor the TCP keepalive; an idle connection then costs no CPU). */
	unsigned heartbeat_ms;
	unsigned heartbeat_misses;
	/* Key update in the sealed modes: our messages on each library-driven QP change keys every
	 * rekey_messages messages (rounded down to a power of two, 2..2^31) [65536: with messages
	 * of up to SRDMA_MSG_MAX, at most 64 GiB under one key, far below AES-GCM's limits (RFC
	 * 8446 section 5.5)]. The new keys come from the TLS exporter with the epoch in the
	 * context; each side announces its interval in the set-up, so both switch at the same
	 * sequence number with nothing on the wire. */
	unsigned rekey_messages;
};

struct srdma_ctx;

/* Defaults as described above. */
SRDMA_API void srdma_ctx_opts_init(struct srdma_ctx_opts *o);

/* Check the options and load the TLS identity and trust (files are read here, once). The RDMA
 * device is opened by srdma_ctx_open_device() or by the first connection that needs it.
 * -EINVAL (bad option, unreadable or mismatched file: err names it), -ENOMEM. */
SRDMA_API int srdma_ctx_create(const struct srdma_ctx_opts *o, struct srdma_ctx **out, char *err,
			       size_t errlen);

/* Re-read the TLS identity and trust for connections set up from now on (a certificate
 * rotation, say): cert, key, ca and tls_min of o replace the context's, and max_conns its
 * limit; every other field of o is ignored (the device, data-plane mode, heartbeat and rekey
 * settings stay as created). Connections already set up or in their TLS handshake keep the
 * certificate and trust they began with, to the end. The roles stay those of
 * srdma_ctx_create: a context made with cert and key needs them in o, one made with a ca needs
 * a ca (a listener's client CA may change file, not go or come).
 * Every file is read and checked (certificate chain, key, the key matching the certificate,
 * CA) before anything changes: on failure the context is left exactly as it was. Safe to call
 * from any thread while others use ctx; calls on one context are serialised.
 * 0; -EINVAL (bad option, a role added or removed, unreadable or mismatched file: err names
 * it); -ENOMEM. */
SRDMA_API int srdma_ctx_reload(struct srdma_ctx *ctx, const struct srdma_ctx_opts *o, char *err,
			       size_t errlen);

/* TLS 1.3 session resumption, on by default in both roles; on = 0 turns it off, nonzero on,
 * for handshakes that begin from now on. A listener gives each peer one ticket per handshake,
 * sealed under keys it draws at random and replaces every hour (a ticket opens for one to two
 * hours); a connector keeps the tickets it gets (a few per host, port and server name, 64 in
 * all), offers each one once, and resumes with it: no certificates are sent or checked again,
 * the peer identity (srdma_conn_peer) is the one verified by the full handshake, and a fresh
 * (EC)DHE exchange still keys the session (forward secrecy; no 0-RTT data). srdma_ctx_reload
 * ends every earlier ticket in both roles. Off: the listener issues and accepts no ticket, the
 * connector offers none and drops those it held. TLS 1.2 sessions are never resumed.
 * 0 or -EINVAL (ctx NULL). */
SRDMA_API int srdma_ctx_set_resumption(struct srdma_ctx *ctx, int on);

/* Open the device now (idempotent), so that a missing device is reported at start-up:
 * 0, -ENODEV (no RDMA device or no such name), -EINVAL (port or GID index unusable). */
SRDMA_API int srdma_ctx_open_device(struct srdma_ctx *ctx, char *err, size_t errlen);

/* The shared device context (opened if need be; NULL if it cannot be), for the application's
 * own CQs and completion channels. Owned by ctx. */
SRDMA_API struct ibv_context *srdma_ctx_verbs(struct srdma_ctx *ctx);

/* Connections of this context alive now (set up or being set up). */
SRDMA_API unsigned srdma_ctx_conns(struct srdma_ctx *ctx);

/* Device asynchronous events (a port going down or up, a GID table change, a QP or CQ that
 * the device found in error, the device failing): what ibv_get_async_event() reports on the
 * shared device context, read and acknowledged by the library. */
struct srdma_async_event {
	enum ibv_event_type type; /* IBV_EVENT_PORT_ERR, IBV_EVENT_QP_FATAL, ... */
	const char *name;	  /* ibv_event_type_str(type), static */
	/* QP events: the QP (compare with srdma_conn_qp()) and the connection it belongs to,
	 * as pointers only: the event is acknowledged before this call returns, so a
	 * connection closed meanwhile by another thread is gone; an application that closes
	 * connections from other threads looks it up in its own table first. NULL otherwise. */
	struct srdma_conn *conn;
	struct ibv_qp *qp;
	uint8_t port; /* port events: the port number; 0 otherwise */
	int own_port; /* port events: 1 if it is the context's port (srdma_ctx_opts.ib_port) */
};

/* The device's asynchronous event file descriptor (opening the device if need be), made
 * non-blocking: put it in the application's poll set for POLLIN and call
 * srdma_ctx_async_event() when it is ready. Owned by ctx. -ENODEV (as srdma_ctx_open_device;
 * err says why). */
SRDMA_API int srdma_ctx_async_fd(struct srdma_ctx *ctx, char *err, size_t errlen);

/* Non-blocking: 1 and *ev: the next device event (acknowledged); 0: none now; -EIO: reading
 * failed. Any thread; events are read once, by whichever thread calls first. A QP in error
 * also shows as failed completions on its own CQ, which the connection's owner sees anyway;
 * this tells the rest of the application (monitoring, or a port that went down before any
 * traffic failed). */
SRDMA_API int srdma_ctx_async_event(struct srdma_ctx *ctx, struct srdma_async_event *ev);

/* Every listener and connection of ctx must be closed first (-EBUSY otherwise, and nothing is
 * freed). Accepts NULL. */
SRDMA_API int srdma_ctx_destroy(struct srdma_ctx *ctx);

/* ---- Queue pairs ----------------------------------------------------------------------- */

enum srdma_qp_driver {
	/* The application posts every work request (srdma_conn_qp) and polls the CQ. */
	SRDMA_QP_RAW = 0,
	/* The library posts the receives and owns the CQ; the application sends and receives
	 * whole messages with srdma_msg_send / srdma_msg_recv (sealed as the context says). */
	SRDMA_QP_MESSAGES = 1,
};

/* What the peer may do to our memory through a QP (qp_access_flags), and the access an
 * advertised region grants. */
#define SRDMA_ACCESS_REMOTE_WRITE  (1u << 0)
#define SRDMA_ACCESS_REMOTE_READ   (1u << 1)
#define SRDMA_ACCESS_REMOTE_ATOMIC (1u << 2)
#define SRDMA_ACCESS_ALL	   7u

struct srdma_qp_opts {
	enum srdma_qp_driver driver;
	/* SRDMA_QP_RAW: the QP's capabilities (0: the default in brackets). */
	uint32_t max_send_wr;	  /* [16] */
	uint32_t max_recv_wr;	  /* [16] */
	uint32_t max_send_sge;	  /* [1] */
	uint32_t max_recv_sge;	  /* [1] */
	uint32_t max_inline_data; /* [0] */
	unsigned remote_access;	  /* SRDMA_ACCESS_*: what the peer may do through this QP [0:
				     sends only]; READ and ATOMIC also size the responder's
				     resources */
	/* SRDMA_QP_MESSAGES (libsrdma 0.5): the largest message we will send [0: as large as the
	 * peer accepts]. The listening side sizes its receive slots for the smaller of its
	 * max_msg and the connecting side's max_send, so a peer that sends only small messages
	 * costs it little pinned memory; srdma_msg_send refuses longer messages (-EMSGSIZE). The
	 * connecting side makes its receive slots before it hears the listener's, so there only
	 * its own max_msg sizes them. (This field sits where 0.4 had padding: the struct keeps
	 * its size and layout; zero it, as srdma_qp_opts_init does.) */
	uint32_t max_send;
	/* SRDMA_QP_RAW: the application's CQs, made on srdma_ctx_verbs(); NULL: the library
	 * makes one CQ, with its own completion channel (srdma_conn_comp_channel), used for
	 * both. */
	struct ibv_cq *send_cq;
	struct ibv_cq *recv_cq;
	/* SRDMA_QP_MESSAGES: the largest message we accept [65536] (the peer's own limit bounds
	 * what we send) and the receives kept posted [16], 3..1024 (credits need three: see
	 * srdma_msg_send). Their RNR retry is finite (6): credits mean it is never needed. Raw
	 * QPs retry RNR for ever (7), as most verbs applications expect. remote_access applies to
	 * these QPs too; the CQ fields do not (the library always makes their CQ). */
	uint32_t max_msg;
	unsigned depth;
};

/* Fills driver RAW and every default. */
SRDMA_API void srdma_qp_opts_init(struct srdma_qp_opts *o);

/* ---- Peer identity --------------------------------------------------------------------- */

struct srdma_peer {
	char addr[64];	   /* "192.0.2.7:51234" or "[2001:db8::7]:51234" */
	int verified;	   /* 1: the peer presented a certificate our CA verified */
	char subject[256]; /* its subject, RFC 2253 ("CN=client,O=..."), "" if none */
	char common_name[128];
	char san[512]; /* subjectAltNames, "DNS:a, DNS:b, IP:192.0.2.1", "" if none */
	char tls[96];  /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
};

/* ---- Listening and accepting ----------------------------------------------------------- */

/* A peer asks to connect; it passed TLS (and mutual TLS, if the context requires it). */
struct srdma_request {
	const struct srdma_peer *peer;
	unsigned nqp;				    /* QPs it asks for, 1..SRDMA_MAX_QPS */
	enum srdma_qp_driver driver[SRDMA_MAX_QPS]; /* and how each is driven (both sides agree) */
	/* Our side of each QP: filled from srdma_listen_opts.qp (with driver set as the peer
	 * asked); the callback may change capabilities, CQs and access, not the driver. */
	struct srdma_qp_opts qp[SRDMA_MAX_QPS];
	/* On refusal: told to the peer (printable ASCII, truncated to fit). */
	char reason[128];
};

/* Return 0 to accept; anything else refuses the peer (it gets an error naming
 * request->reason, or "refused" if empty). Runs on the thread that calls srdma_listener_accept,
 * before any RDMA resource of the connection exists. */
typedef int (*srdma_request_cb)(void *arg, struct srdma_request *request);

/* A handshake failed (TLS, protocol, deadline, refusal, resources); for logs. */
typedef void (*srdma_failure_cb)(void *arg, const char *peer_addr, int error, const char *reason);

struct srdma_listen_opts {
	const char *bind; /* address; NULL or "": every address, IPv6 and IPv4 */
	uint16_t port;	  /* default SRDMA_PORT_DEFAULT; 0: any (srdma_listener_port) */
	unsigned backlog; /* [1024] */
	/* The pre-authentication pool: handshakes in progress (TCP accepted, not yet
	 * established), sized independently of the context's max_conns [256]. */
	unsigned max_pending;
	unsigned handshake_timeout_ms; /* deadline from TCP accept to an established
					  connection [5000] */
	struct srdma_qp_opts qp;       /* template for each QP a peer asks for */
	srdma_request_cb on_request;   /* NULL: accept every peer TLS let through */
	srdma_failure_cb on_failure;   /* NULL: failures are dropped silently */
	void *arg;		       /* for the callbacks */
	/* Handshakes in progress from one source address (IPv4 address, IPv6 /64) [32]; more
	 * are closed at accept. A client host that opens many connections at once (a job's
	 * ranks) may need more. */
	unsigned max_pending_per_addr;
	/* Random early drop, from this percentage of max_pending on [50; 100: off]: a new
	 * connection from an address that already has handshakes in progress is closed with
	 * a probability rising linearly to 1 at a full pool. A connection from a light address
	 * (one holding at most a quarter of what the address holding the most holds; none, at
	 * least) is always taken: when the pool is full, the oldest handshake of the address
	 * holding the most makes room for it. So silent or slow connections, however many and
	 * from however many addresses, cannot lock a new peer out, nor one that already has a
	 * slow handshake in progress. */
	unsigned early_drop_pct;
};

struct srdma_listener;

SRDMA_API void srdma_listen_opts_init(struct srdma_listen_opts *o);

/* Bind and listen. Needs a context with cert and key. -EINVAL (bad options: err says which),
 * -EADDRINUSE, -EACCES, ... */
SRDMA_API int srdma_listen(struct srdma_ctx *ctx, const struct srdma_listen_opts *o,
			   struct srdma_listener **out, char *err, size_t errlen);

/* The port bound (useful with port 0). */
SRDMA_API uint16_t srdma_listener_port(const struct srdma_listener *l);

/* A file descriptor that becomes readable when srdma_listener_accept has work to do: a new TCP
 * connection, or progress on a handshake the listener is driving. Level-triggered. */
SRDMA_API int srdma_listener_fd(const struct srdma_listener *l);

/* Milliseconds until the nearest handshake deadline (call srdma_listener_accept then), -1 if
 * none. For the application's poll timeout. */
SRDMA_API int srdma_listener_timeout_ms(const struct srdma_listener *l);

/* Non-blocking: accept new TCP connections and drive every handshake in progress (TLS, the
 * request callback, the RDMA set-up) as far as it can go without waiting. Returns 0 with
 * *out an established connection the caller now owns, or -EAGAIN when none is ready yet
 * (wait for srdma_listener_fd or the timeout). Handshakes that fail are closed and reported to
 * on_failure; they never fail this call. Other negative errno: the listener itself failed. */
SRDMA_API int srdma_listener_accept(struct srdma_listener *l, struct srdma_conn **out);

/* Blocking: the same, waiting up to timeout_ms (-1: forever). -ETIMEDOUT if none came, -EINTR
 * if a signal interrupted the wait. */
SRDMA_API int srdma_accept(struct srdma_listener *l, struct srdma_conn **out, int timeout_ms);

/* The most QPs (those of the set-up and those added with srdma_conn_add_qp, together) a
 * connection of this listener may have, 1..SRDMA_MAX_QPS [SRDMA_MAX_QPS], for connections whose
 * handshake begins from now on. It bounds only adds: a set-up asking for more QPs is decided by
 * the request callback as before, and can add none. An add past it is refused (the peer's
 * srdma_conn_add_qp reports -ECONNREFUSED with the limit in srdma_conn_errmsg), the connection
 * goes on. 0 or -EINVAL. Added QPs take srdma_listen_opts.qp as our side's options (the driver
 * as the peer asks); the request callback is not asked again. (libsrdma 0.4) */
SRDMA_API int srdma_listener_set_max_qps(struct srdma_listener *l, unsigned max);

/* Stop listening; handshakes in progress are closed. Established connections are not touched.
 * Accepts NULL. */
SRDMA_API void srdma_listener_close(struct srdma_listener *l);

/* ---- Connecting ------------------------------------------------------------------------- */

struct srdma_connect_opts {
	const char *host;			/* name or address of the listener */
	uint16_t port;				/* [SRDMA_PORT_DEFAULT] */
	const char *server_name;		/* name its certificate must carry; NULL: host */
	unsigned timeout_ms;			/* deadline for the whole set-up [10000] */
	unsigned nqp;				/* [1], 1..SRDMA_MAX_QPS */
	struct srdma_qp_opts qp[SRDMA_MAX_QPS]; /* our side of each (srdma_qp_opts_init) */
};

SRDMA_API void srdma_connect_opts_init(struct srdma_connect_opts *o);

struct srdma_conn;

/* Blocking: connect, verify the listener, set up nqp QPs to RTS. 0 and *out, or: -ECONNREFUSED
 * (nothing listens, or the listener refused us: err has its reason), -EBUSY (it is full),
 * -ETIMEDOUT, -EPROTO (TLS or protocol failure: certificate, name, version, data-plane mode;
 * a client certificate the listener refuses shows as -EPROTO, or as -ECONNRESET when the TCP
 * reset overtakes the TLS alert),
 * -EHOSTUNREACH (name does not resolve), -ENODEV (no RDMA device), -EINVAL (bad options). */
SRDMA_API int srdma_connect(struct srdma_ctx *ctx, const struct srdma_connect_opts *o,
			    struct srdma_conn **out, char *err, size_t errlen);

/* Non-blocking: start connecting; *out is a connection in set-up. Drive it with
 * srdma_conn_process() whenever srdma_conn_fd() is ready for srdma_conn_poll_events() or
 * srdma_conn_timeout_ms() has passed, until it reports SRDMA_EV_ESTABLISHED or fails. The name
 * is resolved here, synchronously (getaddrinfo); the TCP connect and everything after it do not
 * block. Errors here: -EINVAL (bad options, or a context without ca), -EHOSTUNREACH, -EBUSY
 * (max_conns), -ENOMEM; later ones come from srdma_conn_process. */
SRDMA_API int srdma_connect_start(struct srdma_ctx *ctx, const struct srdma_connect_opts *o,
				  struct srdma_conn **out, char *err, size_t errlen);

/* ---- A connection ------------------------------------------------------------------------ */

enum srdma_event_type {
	SRDMA_EV_ESTABLISHED = 1,    /* set-up done (connect_start only: accept returns it done) */
	SRDMA_EV_REGION_ADDED = 2,   /* the peer advertised region_id (srdma_remote_region) */
	SRDMA_EV_REGION_REVOKED = 3, /* the peer revoked region_id: it is forgotten */
	SRDMA_EV_CTRL = 4,	     /* a control message: data[0..len) */
	SRDMA_EV_PEER_CLOSED = 5,    /* the peer closed the connection in order; nothing more
					will come: close it */
	SRDMA_EV_QP_ADDED = 6,	     /* QP region_id was added (srdma_conn_add_qp): it is at RTS
					and usable from now on, on both sides (libsrdma 0.4) */
	SRDMA_EV_QP_ADD_FAILED = 7,  /* connector: adding QP region_id failed or was refused;
					data[0..len) (NUL-terminated) and srdma_conn_errmsg say
					why; the connection goes on (libsrdma 0.4) */
};

struct srdma_event {
	enum srdma_event_type type;
	uint32_t region_id;
	uint32_t len;
	uint8_t data[SRDMA_CTRL_MAX];
};

/* The control channel's socket: put it in the application's poll set for
 * srdma_conn_poll_events(). */
SRDMA_API int srdma_conn_fd(const struct srdma_conn *c);
/* POLLIN, or POLLIN|POLLOUT while output waits to be written. */
SRDMA_API short srdma_conn_poll_events(const struct srdma_conn *c);
/* Milliseconds until srdma_conn_process must be called even without input: the set-up
 * deadline, then the next heartbeat step; -1: none. */
SRDMA_API int srdma_conn_timeout_ms(const struct srdma_conn *c);

/* Non-blocking: make progress on the control channel. 1 and *ev: an event; 0: nothing now
 * (wait on the fd); negative errno: the connection failed and can only be closed (after
 * SRDMA_EV_PEER_CLOSED, every later call returns -ECONNRESET, but srdma_msg_recv first returns what
 * was sent before the close): -ECONNRESET (the peer vanished or broke the TLS session), -ETIMEDOUT
 * (set-up deadline), -ECONNREFUSED/-EBUSY/-EPROTO as for srdma_connect, with srdma_conn_errmsg().
 * Events that arrive while a blocking call waits are kept (up to 32) and returned here in order. */
SRDMA_API int srdma_conn_process(struct srdma_conn *c, struct srdma_event *ev);

/* Close in order: first, for up to 1 s, wait until the messages and writes already posted on
 * library-driven QPs are acknowledged by the peer (so none is lost to our QPs' destruction,
 * and the peer can still receive them after it sees the close); then the peer gets
 * SRDMA_EV_PEER_CLOSED (best effort, never blocks), and every QP, the CQs and buffers the
 * library made, the PD and the TLS session are freed.
 * -EBUSY if the PD could not be freed because the application still has MRs in it (the PD
 * is then leaked; everything else is freed). Accepts NULL. */
SRDMA_API int srdma_conn_close(struct srdma_conn *c);

/* Strings and the peer returned by a connection live as long as it does. */
SRDMA_API const char *srdma_conn_errmsg(const struct srdma_conn *c);
/* 1 if this side accepted the connection, 0 if it connected. */
SRDMA_API int srdma_conn_is_server(const struct srdma_conn *c);
/* The peer: address and verified certificate identity. */
SRDMA_API const struct srdma_peer *srdma_conn_peer(const struct srdma_conn *c);
/* 1 if the connection's TLS handshake (completed) resumed a session from a ticket
 * (srdma_ctx_set_resumption), 0 for a full handshake or before the handshake is done. */
SRDMA_API int srdma_conn_resumed(const struct srdma_conn *c);

struct srdma_conn_info {
	enum srdma_dp_mode dataplane;
	unsigned nqp; /* QPs usable now: the set-up's and those added (srdma_conn_add_qp) */
	int path_mtu; /* bytes */
	char device[64];
	int gid_index;
	uint64_t setup_us; /* from the TCP connect (accept) to established */
	/* Where setup_us went, step after step (they add up to it): the TCP connect (0 on the
	 * accepting side), the TLS handshake with the certificate checks, the OPEN exchange
	 * (the listener's decision and both sides' PD, CQs and QPs), the QP frames and the moves
	 * to RTS, and the READY exchange. */
	uint64_t tcp_us, tls_us, open_us, qp_us, ready_us;
	unsigned key_updates; /* data-plane key updates so far, all QPs, both directions */
};
SRDMA_API void srdma_conn_info(const struct srdma_conn *c, struct srdma_conn_info *out);

/* The application's verbs: its PD, and each QP (index 0..nqp-1) with its CQs. NULL for a
 * bad index. Do not modify the QP's state, destroy it or post on a SRDMA_QP_MESSAGES QP. */
SRDMA_API struct ibv_pd *srdma_conn_pd(const struct srdma_conn *c);
SRDMA_API struct ibv_qp *srdma_conn_qp(const struct srdma_conn *c, unsigned i);
SRDMA_API struct ibv_cq *srdma_conn_send_cq(const struct srdma_conn *c, unsigned i);
SRDMA_API struct ibv_cq *srdma_conn_recv_cq(const struct srdma_conn *c, unsigned i);
/* The completion channel of a CQ the library made for QP i (NULL if the application gave its
 * CQs). For SRDMA_QP_RAW QPs the application arms and acknowledges it; for SRDMA_QP_MESSAGES
 * QPs only its fd is for the application (srdma_conn_qp_fd). */
SRDMA_API struct ibv_comp_channel *srdma_conn_comp_channel(const struct srdma_conn *c, unsigned i);
/* Its fd, -1 if none. */
SRDMA_API int srdma_conn_qp_fd(const struct srdma_conn *c, unsigned i);

/* Keying material for the application's own cryptography, e.g. to encrypt or authenticate
 * bulk data it moves with its own RDMA WRITEs and READs: the TLS exporter (RFC 8446 section
 * 7.5, RFC 5705 for TLS 1.2) of the connection's session for label and context. Both sides
 * get the same out_len (1..64) bytes for the same label and context; different labels give
 * independent keys. Labels starting with "EXPORTER-secure-rdma" are the library's own (-EINVAL).
 * Secret: never log it. 0, -EINVAL, -EIO. */
SRDMA_API int srdma_conn_export(struct srdma_conn *c, const char *label, const void *context,
				size_t context_len, void *out, size_t out_len);

/* Add one RC QP to an established connection, with no new handshake (libsrdma 0.4): the
 * connecting side only. The QP is made at once in the connection's PD (its CQs and completion
 * channel as at set-up, per o; a fresh PSN from the CSPRNG), its QP number and PSN go to the
 * peer inside TLS, the peer makes its own QP and answers with its values, and both move to RTS.
 * Non-blocking: 0 and *index (the next index, nqp before the call) at once; the QP is usable
 * once srdma_conn_process reports SRDMA_EV_QP_ADDED with region_id == *index (the listener's
 * side gets the same event), or SRDMA_EV_QP_ADD_FAILED if the peer refused it (-ECONNREFUSED
 * from the blocking form: its srdma_listener_set_max_qps bound) or could not make it
 * (-EREMOTEIO), or our move to RTS failed: the index is then free again and the connection
 * goes on. Messages QPs are sealed as the connection's data plane says, under keys of their
 * own. One add at a time. -EINVAL (NULL argument, bad options: srdma_conn_errmsg says which),
 * -EPERM (the accepting side's connection), -ENOSPC (SRDMA_MAX_QPS QPs already), -ENOTCONN (not
 * established yet), -EBUSY (an add in flight), -ENOBUFS (the control channel's queue is full:
 * wait for POLLOUT to go), the connection's error, or a verbs error creating the QP (negative
 * errno, srdma_conn_errmsg says which step). A listener of libsrdma 0.3 does not know this
 * exchange: it ends the connection with a protocol error. */
SRDMA_API int srdma_conn_add_qp(struct srdma_conn *c, const struct srdma_qp_opts *o,
				unsigned *index);
/* Blocking form: wait up to timeout_ms (-1: forever) until the QP is usable. 0; the errors
 * above; -ECONNREFUSED or -EREMOTEIO (the peer refused or could not make it) or -EIO (our own
 * move to RTS failed), with srdma_conn_errmsg, the connection going on; -ETIMEDOUT (the add goes
 * on: its event comes from srdma_conn_process). The SRDMA_EV_QP_ADDED or _FAILED event, like
 * every event that arrives meanwhile, is kept for srdma_conn_process. */
SRDMA_API int srdma_conn_add_qp_wait(struct srdma_conn *c, const struct srdma_qp_opts *o,
				     unsigned *index, int timeout_ms);

/* Secret: QP i's numbers and PSNs, for tests and diagnostics only; never log them. */
struct srdma_qp_secrets {
	uint32_t local_qpn, remote_qpn;
	uint32_t local_psn, remote_psn;
};
SRDMA_API int srdma_conn_qp_secrets(const struct srdma_conn *c, unsigned i,
				    struct srdma_qp_secrets *out); /* 0 or -EINVAL */

/* ---- Memory regions ---------------------------------------------------------------------- */

struct srdma_region {
	uint32_t id;
	unsigned access; /* SRDMA_ACCESS_* granted */
	uint64_t addr;	 /* secret */
	uint64_t len;
	uint32_t rkey; /* secret */
};

/* Advertise mr (registered in srdma_conn_pd(c) with at least the IBV_ACCESS_REMOTE_* flags
 * that access names) to the peer under id, over the TLS channel. The peer learns it through
 * SRDMA_EV_REGION_ADDED and srdma_remote_region(). Non-blocking (queued). -EEXIST (id in use),
 * -EINVAL (mr of another PD, access empty or with unknown bits), -ENOBUFS (256 regions).
 * Verbs keep no record of an MR's access flags that the library could check: advertise no more
 * than mr was registered with (an access beyond it fails at the peer with a remote access
 * error, which breaks the QP it came through). */
SRDMA_API int srdma_advertise(struct srdma_conn *c, uint32_t id, struct ibv_mr *mr,
			      unsigned access);

/* Revoke region id: the peer is told (SRDMA_EV_REGION_REVOKED) and forgets it. With dereg, the
 * library first deregisters the MR (it must not be used afterwards) and only then tells the
 * peer, so any access the peer makes with the old rkey once it has heard, or that races the
 * news, fails with a remote access error. As RC requires, that error
 * moves the QP it came through to the error state at both ends (the peer's requester and our
 * responder); the connection's other QPs and its control channel carry on. Without dereg the
 * rkey stays valid until the application deregisters the MR (deregistering an advertised MR
 * without revoking it is allowed but leaves the peer a stale entry). -ENOENT if id is not
 * advertised; a failed deregistration is returned (negative errno) and the region stays
 * advertised. With dereg, any other outcome is 0: the MR is gone even if the peer could not
 * be told (the connection then fails, as its next call reports). */
SRDMA_API int srdma_revoke(struct srdma_conn *c, uint32_t id, int dereg);

/* The peer's region id as it advertised it: 0, or -ENOENT (never advertised, or revoked). */
SRDMA_API int srdma_remote_region(const struct srdma_conn *c, uint32_t id,
				  struct srdma_region *out);

/* ---- Control messages (over TLS) ---------------------------------------------------------- */

/* Send len (1..SRDMA_CTRL_MAX) bytes to the peer, which gets SRDMA_EV_CTRL. Ordered with
 * advertisements and revocations. Non-blocking (queued): -ENOBUFS if the queue is full (wait
 * for srdma_conn_poll_events to drop POLLOUT). */
SRDMA_API int srdma_ctrl_send(struct srdma_conn *c, const void *buf, size_t len);

/* ---- Messages on SRDMA_QP_MESSAGES queue pairs -------------------------------------------- */

/* The message sizes agreed on SRDMA_QP_MESSAGES QP qp once it is connected (libsrdma 0.5):
 * *recv_max, the largest message the peer may send us (our max_msg, lowered to the peer's
 * max_send when we listened); *send_max, the largest we may send (the peer's, lowered to our
 * max_send). Either pointer may be NULL. 0, or -EINVAL (no such messages QP, or not connected). */
SRDMA_API int srdma_msg_limits(const struct srdma_conn *c, unsigned qp, uint32_t *recv_max,
			       uint32_t *send_max);

/* Send len bytes (0..srdma_msg_limits' send_max) as the next message on QP qp. Non-blocking: 0 when
 * posted (the buffer may be reused at once); -EAGAIN when no credit or send slot is free (wait
 * on srdma_conn_qp_fd(c, qp) and call again); -EMSGSIZE; -EINVAL (not a messages QP);
 * -EIO/-EPIPE: the QP failed (see srdma_conn_errmsg). Credits: we never send more than the
 * receives the peer keeps posted, so nothing waits on RNR. */
SRDMA_API int srdma_msg_send(struct srdma_conn *c, unsigned qp, const void *buf, size_t len);

/* Take the next message from QP qp into buf (cap bytes): 0 and *len (and *seq, its sequence
 * number, if seq is not NULL); -EAGAIN when none has arrived (the CQ is armed: wait on
 * srdma_conn_qp_fd); -EMSGSIZE if cap is too small (the message stays); -EBADMSG when a
 * message failed authentication or its sequence check (forged, altered, replayed, reordered or
 * lost): the connection is then unusable. After the peer closed in order, the messages it sent
 * before closing are still returned, then -ECONNRESET. */
SRDMA_API int srdma_msg_recv(struct srdma_conn *c, unsigned qp, void *buf, size_t cap, size_t *len,
			     uint32_t *seq);

/* Blocking forms: wait up to timeout_ms (-1: forever) on the QP's CQ and the control channel.
 * Besides the errors above: -ETIMEDOUT; -ECONNRESET when the peer closed or vanished
 * meanwhile. Control events that arrive meanwhile are kept for srdma_conn_process. */
SRDMA_API int srdma_msg_send_wait(struct srdma_conn *c, unsigned qp, const void *buf, size_t len,
				  int timeout_ms);
SRDMA_API int srdma_msg_recv_wait(struct srdma_conn *c, unsigned qp, void *buf, size_t cap,
				  size_t *len, uint32_t *seq, int timeout_ms);

/* Post an RDMA WRITE on SRDMA_QP_MESSAGES QP qp: len bytes (1..2^31) from local (inside an MR of
 * the connection's PD whose lkey is given) to the peer's region region_id at offset. RC orders
 * it before every later message on qp: a message sent after it (e.g. a region tag) reaches the
 * peer after the bytes. Non-blocking; the library reaps its completion (a failure breaks the
 * QP: later calls return -EIO). local must stay unchanged until a later message on qp has been
 * answered by the peer, or srdma_msg_flush returned. 0, -EAGAIN (no send slot: wait on
 * srdma_conn_qp_fd and call again), -ENOENT (region unknown or revoked), -EACCES (it grants no
 * write), -ERANGE (outside it), -EINVAL, -EIO. The peer's QP must allow remote writes
 * (srdma_qp_opts.remote_access). */
SRDMA_API int srdma_msg_write(struct srdma_conn *c, unsigned qp, const void *local, uint32_t lkey,
			      size_t len, uint32_t region_id, uint64_t offset);

/* Wait up to timeout_ms (-1: forever) until every message and write posted on qp so far has
 * completed at our side (the peer acknowledged it). 0, -ETIMEDOUT, -EIO, -ECONNRESET. */
SRDMA_API int srdma_msg_flush(struct srdma_conn *c, unsigned qp, int timeout_ms);

/* Sequence number the next message sent on qp will carry: valid until the next srdma_msg_send
 * or srdma_msg_recv on qp (a receive may send a credit message, which takes a number). */
SRDMA_API uint32_t srdma_msg_next_seq(const struct srdma_conn *c, unsigned qp);

/* Region tag: proves what bytes one side wrote into (or read from) a region. The writer
 * computes the tag of the bytes it wrote with the sequence number of the message that will
 * carry the tag (srdma_msg_next_seq) and sends it in that message; the other side computes the
 * tag of the bytes it finds, with that message's sequence number (from srdma_msg_recv), and
 * compares (srdma_tag_equal). Sealed modes: a MAC (GMAC or Poly1305) under a key of this QP's,
 * bound to direction, seq, offset and length, which the network never sees; plain mode: the
 * SHA-256 of the bytes. sender is 1 for the side that sends the carrying message. qp must be a
 * SRDMA_QP_MESSAGES QP (its keys; the bytes may have moved on any QP); one tag per carrying
 * message (two tags under one seq and direction would share a MAC nonce). 0, -EINVAL, -EIO. */
SRDMA_API int srdma_tag(struct srdma_conn *c, unsigned qp, int sender, uint32_t seq,
			uint64_t offset, const void *bytes, size_t len, uint8_t tag[SRDMA_TAG_LEN]);
/* Constant-time: 1 if equal. */
SRDMA_API int srdma_tag_equal(const uint8_t a[SRDMA_TAG_LEN], const uint8_t b[SRDMA_TAG_LEN]);

/* Sealed region: encrypt and authenticate bytes in one pass, for data the application moves
 * with its own RDMA WRITEs and READs (where srdma_tag only authenticates). The side that
 * writes the bytes seals them in place before they leave (srdma_tag_seal) and sends the tag
 * to the other side in a message; that side opens them in place where they arrived
 * (srdma_tag_open), with the same seq and offset. Sealed modes: the connection's AEAD
 * (AES-256-GCM in aead mode, ChaCha20-Poly1305 in chacha20 mode: one EVP pass over the
 * bytes, OpenSSL's stitched code) under keys of QP qp's own, from the TLS exporter with a
 * label of the library's, one for each side: a side seals with its own key and opens what the
 * peer sealed with the peer's. seq and offset are numbers the two sides agree on for these
 * bytes (e.g. a transfer number and the bytes' offset in the file, or the carrying message's
 * sequence number, srdma_msg_next_seq): the tag binds the bytes to them, to len and to the
 * sealing side, so bytes altered, moved to another offset, replayed under other numbers or
 * sent back the other way fail to open. They need not be unique: the nonce is a counter of the
 * library's, carried in the tag, that never repeats under one key (sealing the same bytes
 * twice is safe); keys change every 2^32 seals or 64 GiB. Plain mode: nothing is encrypted
 * (both sides chose a data plane in the clear): buf is left as it is, and the tag is
 * srdma_tag's (SHA-256 of the bytes), which srdma_tag_open recomputes and compares.
 * qp must be a SRDMA_QP_MESSAGES QP (its keys; the bytes may move on any QP). len up to
 * INT_MAX. 0; -EINVAL; -ENOTCONN; -EMSGSIZE; -EIO; the connection's error if it failed.
 * srdma_tag_open: -EBADMSG when the tag does not match (forged or altered bytes or tag,
 * another seq, offset or len, bytes the peer did not seal): buf then holds garbage, neither
 * what was sent nor what was sealed, and must not be used. The connection stays usable. */
SRDMA_API int srdma_tag_seal(struct srdma_conn *c, unsigned qp, uint32_t seq, uint64_t offset,
			     void *buf, size_t len, uint8_t tag[SRDMA_TAG_LEN]);
SRDMA_API int srdma_tag_open(struct srdma_conn *c, unsigned qp, uint32_t seq, uint64_t offset,
			     void *buf, size_t len, const uint8_t tag[SRDMA_TAG_LEN]);

#ifdef __cplusplus
}
#endif

#endif
