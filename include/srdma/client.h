/* The secure-rdma client: one session with a server, driven by blocking calls.
 *
 * srdma_client_connect() runs the whole set-up (TCP, TLS with certificate and name checks,
 * HELLO, RDMA resources, PARAMS, INIT -> RTR -> RTS, READY, the server's WELCOME); then any
 * number of echo/write/ping/idle calls; then quit and close. Every step (each set-up step, each
 * request) waits at most the config's timeout_ms for the server. While waiting, the TLS control
 * channel is watched too: an ERROR frame from the server (e.g. "server shutting down") or its
 * closing ends the session with that reason. A session is used by one thread at a time; separate
 * sessions are independent, so one process may hold many. The process must ignore SIGPIPE.
 *
 * Errors: negative errno, with a message from srdma_client_errmsg(). After a failure other than
 * -EBADMSG on a verification, the session is unusable: close it. Nothing here logs above debug
 * level. */
#ifndef SRDMA_CLIENT_H
#define SRDMA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <srdma/config.h>
#include <srdma/msg.h>
#include <srdma/wire.h>

struct srdma_client;

struct srdma_client_info {
	uint32_t local_psn;  /* secret: do not log or print unless asked to */
	uint32_t remote_psn; /* secret */
	uint32_t local_qpn;  /* secret */
	uint64_t connect_us; /* from TCP connect to READY */
	uint32_t server_max_msg;
	uint32_t server_write_len;
	unsigned window; /* messages in flight in pipelined calls: depth, at most the server's
			    recv_depth */
	char tls[96];	 /* protocol and cipher */
	char welcome[SRDMA_MSG_TEXT_MAX + 1];
	char device[64];
	int gid_index;
	int path_mtu;  /* bytes */
	int dataplane; /* enum srdma_dp_mode */
};

/* Where srdma_client_connect() spent its time, step after step, in microseconds
 * (CLOCK_MONOTONIC); the steps follow one another and add up to total_us. */
struct srdma_client_timing {
	uint64_t tls_ctx_us;   /* TLS context: CA (and client certificate) loaded */
	uint64_t tcp_us;       /* TCP connect */
	uint64_t tls_us;       /* TLS handshake, certificate and name checks */
	uint64_t hello_us;     /* PSN drawn, HELLO both ways */
	uint64_t resources_us; /* device opened, CQ, PD, MRs, QP in INIT, receives posted */
	uint64_t params_us;    /* PARAMS both ways, data-plane keys derived */
	uint64_t qp_us;	       /* INIT -> RTR -> RTS */
	uint64_t ready_us;     /* READY both ways (connect_us ends here) */
	uint64_t welcome_us;   /* the server's WELCOME over RDMA */
	uint64_t total_us;
};

/* Connect. Returns 0, or e.g. -EBUSY (server full), -EPROTONOSUPPORT (version refused),
 * -ESHUTDOWN (server shutting down), -EPROTO (TLS or protocol failure), -ETIMEDOUT,
 * -ECONNREFUSED, -ENODEV (no RDMA device); err gets the reason either way. */
int srdma_client_connect(const struct srdma_client_config *cfg, struct srdma_client **out,
			 char *err, size_t errlen);

/* Send len bytes as DATA and wait for the ECHO; 0 if every byte came back, -EBADMSG if not. */
int srdma_client_echo(struct srdma_client *cl, const void *buf, uint32_t len);

/* Pipelined echo: send count DATA messages of buf[0..len), keeping up to the window in flight
 * (the config's depth, at most the server's recv_depth), and check that every ECHO carries
 * exactly those bytes, in order. 0, or -EBADMSG if an echo differed (then the session is not
 * usable: the window may still hold answers). */
int srdma_client_echo_pipelined(struct srdma_client *cl, const void *buf, uint32_t len,
				uint64_t count);

/* One-way messages, as a message-rate test sends them: count PUSH messages of buf[0..len), up
 * to the window in flight (which must be 2 or more), each opened and sequence-checked by the
 * server but not answered; a PING closes every group of them and its PONG confirms the group.
 * 0 once every PUSH is confirmed. */
int srdma_client_push(struct srdma_client *cl, const void *buf, uint32_t len, uint64_t count);

/* Pipelined RDMA writes: write the first len bytes of the local write buffer (filled by the
 * last srdma_client_write) count times to the start of the server's target region, up to the
 * config's depth in flight, and wait until all have completed. Nothing is verified: follow
 * with srdma_client_verify(). Needs a session connected with writes enabled. */
int srdma_client_write_burst(struct srdma_client *cl, uint32_t len, uint64_t count);

/* RDMA-write buf[0..len) to the server's target region at offset, then WRITE_DONE with its
 * SHA-256; 0 if the server found exactly those bytes and reported the same digest, -EBADMSG if
 * not (the session stays usable). */
int srdma_client_write(struct srdma_client *cl, const void *buf, uint32_t len, uint32_t offset);

/* Ask the server whether its target region holds exactly buf[0..len) at offset, without
 * writing: 0 if it does, -EBADMSG if not (the session stays usable). */
int srdma_client_verify(struct srdma_client *cl, const void *buf, uint32_t len, uint32_t offset);

/* RDMA-write the first len bytes of the local write buffer (filled by the last
 * srdma_client_write, zero before) to any remote address and rkey, and wait for its completion,
 * with no WRITE_DONE. For tests that play a hostile peer: a write the server did not grant
 * fails with a remote access error and, as RC requires, breaks this session's QP. */
int srdma_client_write_raw(struct srdma_client *cl, uint32_t len, uint64_t remote_addr,
			   uint32_t rkey);

/* PING/PONG; *rtt_ns (may be NULL) gets the round trip. */
int srdma_client_ping(struct srdma_client *cl, uint64_t *rtt_ns);

/* Stay connected for ms milliseconds, watching the control channel. Returns -EINTR early if a
 * signal with a handler installed without SA_RESTART interrupts the wait; the session stays
 * usable (quit it). */
int srdma_client_idle(struct srdma_client *cl, unsigned ms);

/* QUIT, then wait for BYE. */
int srdma_client_quit(struct srdma_client *cl);

/* Free everything (QP, MRs, PD, CQ, device, TLS). Accepts NULL. */
void srdma_client_close(struct srdma_client *cl);

/* The server's PARAMS for this session (QPN, GID, write address and rkey): secrets, for tests
 * and diagnostics only; never log them. */
void srdma_client_get_remote(const struct srdma_client *cl, struct srdma_params *out);

void srdma_client_get_info(const struct srdma_client *cl, struct srdma_client_info *out);
/* The set-up steps' durations of a connected session. */
void srdma_client_get_timing(const struct srdma_client *cl, struct srdma_client_timing *out);
const char *srdma_client_errmsg(const struct srdma_client *cl);

#endif
