/* The client side of the echo protocol (echo_proto.h): one session with srdma-server, driven
 * by blocking calls, on libsrdma's public API (<srdma.h>) alone.
 *
 * echo_client_connect() runs the whole set-up: srdma_connect (TCP, TLS with certificate and
 * name checks, the OPEN exchange, one SRDMA_QP_MESSAGES queue pair moved to RTS, READY), then
 * the server's WELCOME (its limits) and, for a session that RDMA-writes, a REGION request for a
 * server region of its write size, answered by REGION_READY and the region ECHO_WRITE_REGION
 * advertised over TLS (the server makes none unasked; a write beyond it asks for more). Then
 * any number of echo/write/ping/idle calls; then quit and close. Every wait lasts at most the
 * config's timeout_ms. While waiting, the TLS control channel is watched too: a notice from the
 * server (ECHO_CTRL_NOTICE, e.g. "server shutting down") or its closing ends the session with that
 * reason.
 *
 * Contexts: a struct srdma_ctx holds the TLS identity and trust and the device; it is
 * thread-safe and meant to be shared by every session of a process (echo_client_ctx_create),
 * so that a session costs one TLS handshake, not a context load. A session is used by one
 * thread at a time; separate sessions are independent. The process must ignore SIGPIPE.
 *
 * Errors: negative errno, with a message from echo_client_errmsg(). After a failure other than
 * -EBADMSG on a verification, the session is unusable: close it. Nothing here logs. */
#ifndef SRDMA_APPS_ECHO_CLIENT_H
#define SRDMA_APPS_ECHO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <srdma.h>

#include "echo_proto.h"
#include "config.h"

struct echo_client;

struct echo_client_info {
	uint32_t local_psn;	   /* secret: do not log or print unless asked to */
	uint32_t remote_psn;	   /* secret */
	uint32_t local_qpn;	   /* secret */
	uint64_t connect_us;	   /* from the TCP connect to READY (srdma_conn_info setup_us) */
	uint32_t server_max_data;  /* WELCOME: largest DATA/PUSH body */
	uint32_t server_write_len; /* WELCOME: bytes of the largest write region the server makes
				      on request (0: no writes) */
	unsigned window; /* messages in flight in pipelined calls: the config's depth, at most
			    the server's window */
	char tls[96];	 /* protocol and cipher */
	char welcome[ECHO_TEXT_MAX + 1];
	char device[64];
	int gid_index;
	int path_mtu;	      /* bytes */
	int dataplane;	      /* enum srdma_dp_mode */
	int resumed;	      /* the TLS handshake resumed a session (srdma_conn_resumed) */
	unsigned tcp_retrans; /* TCP segments this side retransmitted during the set-up */
};

/* Where echo_client_connect() spent its time, step after step, in microseconds
 * (CLOCK_MONOTONIC); the steps follow one another and add up to total_us. tcp .. ready are
 * srdma_conn_info's. */
struct echo_client_timing {
	uint64_t ctx_us;     /* context created (TLS identity and trust loaded): 0 for a session
				given a shared context */
	uint64_t tcp_us;     /* TCP connect */
	uint64_t tls_us;     /* TLS handshake, certificate and name checks */
	uint64_t open_us;    /* OPEN exchange: the server's decision, both sides' PD, CQ, QP */
	uint64_t qp_us;	     /* QP frames, INIT -> RTR -> RTS */
	uint64_t ready_us;   /* READY both ways (connect_us ends here) */
	uint64_t welcome_us; /* the server's WELCOME (and, if writing, REGION and its region) */
	uint64_t total_us;
};

/* A context for sessions of cfg (CA, client certificate, TLS floor, device, data-plane mode).
 * open_device: open the RDMA device now (a missing device fails here). The caller destroys
 * it with srdma_ctx_destroy() after closing every session. */
int echo_client_ctx_create(const struct srdma_client_config *cfg, int open_device,
			   struct srdma_ctx **out, char *err, size_t errlen);

/* Connect. ctx: a shared context of matching settings, or NULL for a context of the session's
 * own (created, timed as ctx_us, and destroyed with the session). Sizes come from cfg: size
 * (the largest DATA, PUSH and RDMA write), writes (nonzero: RDMA writes wanted: a local write
 * buffer is registered, and a server region of size bytes asked for and awaited), count
 * (nonzero: DATA and PUSH of up to size bytes wanted, which the server's max_data must allow;
 * zero: none of that size), depth (the window; the QP keeps at least 3 receives posted).
 * Returns 0, or e.g. -EBUSY (server full), -ESHUTDOWN (the server's notice), -EPROTO (TLS or
 * protocol failure), -ETIMEDOUT, -ECONNREFUSED, -ENODEV (no RDMA device), -EMSGSIZE (size beyond
 * the server's limits), -EREMOTEIO (the server could not make the write region); err gets the
 * reason either way. */
int echo_client_connect(struct srdma_ctx *ctx, const struct srdma_client_config *cfg,
			struct echo_client **out, char *err, size_t errlen);

/* Send len bytes as DATA and wait for the ECHO; 0 if every byte came back, -EBADMSG if not. */
int echo_client_echo(struct echo_client *cl, const void *buf, uint32_t len);

/* Pipelined echo: count DATA messages of buf[0..len), up to the window in flight; every ECHO
 * must carry exactly those bytes, in order. 0, or -EBADMSG if an echo differed (then the
 * session is not usable: the window may still hold answers). */
int echo_client_echo_pipelined(struct echo_client *cl, const void *buf, uint32_t len,
			       uint64_t count);

/* One-way messages: count PUSH messages of buf[0..len), up to the window in flight (which must
 * be 2 or more); a PING closes every group of them and its PONG confirms the group. 0 once
 * every PUSH is confirmed. */
int echo_client_push(struct echo_client *cl, const void *buf, uint32_t len, uint64_t count);

/* Pipelined RDMA writes: the first len bytes of the local write buffer (filled by the last
 * echo_client_write) count times to offset 0 of the server's region, up to the depth in
 * flight, and wait until all have completed. Nothing is verified: follow with
 * echo_client_verify(). Needs a session connected with writes. */
int echo_client_write_burst(struct echo_client *cl, uint32_t len, uint64_t count);

/* RDMA-write buf[0..len) to the server's region at offset, then WRITE_DONE with the bytes' tag
 * (srdma_tag); 0 if the server found exactly those bytes and reported their SHA-256, -EBADMSG
 * if not (the session stays usable). A write past the end of the server's region asks it for a
 * larger one first (REGION; a new region starts zeroed), as echo_client_write_burst does. */
int echo_client_write(struct echo_client *cl, const void *buf, uint32_t len, uint32_t offset);

/* Ask the server whether its region holds exactly buf[0..len) at offset, without writing
 * (WRITE_DONE alone): 0 if it does, -EBADMSG if not (the session stays usable). */
int echo_client_verify(struct echo_client *cl, const void *buf, uint32_t len, uint32_t offset);

/* PING/PONG; *rtt_ns (may be NULL) gets the round trip. */
int echo_client_ping(struct echo_client *cl, uint64_t *rtt_ns);

/* Stay connected for ms milliseconds, watching the control channel. Returns -EINTR early if a
 * signal with a handler installed without SA_RESTART interrupts the wait; the session stays
 * usable (quit it). */
int echo_client_idle(struct echo_client *cl, unsigned ms);

/* The control channel's descriptor, and what to watch it for now (POLLIN, POLLOUT): a program
 * that holds many sessions idle polls them together and calls echo_client_idle(cl, 0) on each
 * ready one, so that their heartbeats are answered. */
int echo_client_fd(const struct echo_client *cl);
short echo_client_poll_events(const struct echo_client *cl);

/* QUIT, then wait for BYE. */
int echo_client_quit(struct echo_client *cl);

/* Add one QP like the session's first to its connection (srdma_conn_add_qp_wait), within the
 * session's deadline; *index is its index. The echo server leaves it unused. */
int echo_client_add_qp(struct echo_client *cl, unsigned *index);
/* The same without waiting (raw: a bare SRDMA_QP_RAW QP with the defaults instead, no buffers):
 * start the add (srdma_conn_add_qp), then call echo_client_add_qp_poll when echo_client_fd is
 * readable (or its srdma_conn_timeout_ms runs out): 1 once QP *index is usable, 0 while the add
 * goes on, a negative errno if it failed. */
int echo_client_add_qp_start(struct echo_client *cl, int raw, unsigned *index);
int echo_client_add_qp_poll(struct echo_client *cl, unsigned index);

/* Close the connection and free everything (and the session's own context). Accepts NULL. */
void echo_client_close(struct echo_client *cl);

void echo_client_get_info(const struct echo_client *cl, struct echo_client_info *out);
void echo_client_get_timing(const struct echo_client *cl, struct echo_client_timing *out);
const char *echo_client_errmsg(const struct echo_client *cl);

#endif
