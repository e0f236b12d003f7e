/* TLS over a non-blocking TCP socket (OpenSSL 3). This module is the only user of <openssl/ssl.h>.
 *
 * A srdma_tls_ctx is built once (server or client role) and is safe to share between threads;
 * each srdma_tls belongs to one thread at a time. All calls are non-blocking: -EAGAIN means
 * "wait for the socket", and srdma_tls_want_write() says whether to wait for writability
 * (otherwise readability). Failures return a negative errno and leave a human-readable reason,
 * with OpenSSL's own diagnosis, in srdma_tls_errmsg(); nothing here logs. OpenSSL writes to the
 * socket with write(2): the process must ignore SIGPIPE, or a write to a vanished peer kills it
 * instead of returning -EPIPE. */
#ifndef SRDMA_TLS_H
#define SRDMA_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <srdma.h>

struct srdma_tls_ctx;
struct srdma_tls;

struct srdma_tls_server_opts {
	const char *cert;      /* PEM chain, required */
	const char *key;       /* PEM key, required */
	const char *client_ca; /* NULL or "": no client certificates asked for */
	enum srdma_tls_version min_version;
};

struct srdma_tls_client_opts {
	const char *ca;	  /* PEM CA bundle the server must chain to, required */
	const char *cert; /* NULL or "": no client certificate */
	const char *key;
	enum srdma_tls_version min_version;
};

/* Build a context. On failure returns -EINVAL/-ENOENT/-ENOMEM and writes the reason to err. */
int srdma_tls_ctx_server_create(const struct srdma_tls_server_opts *opts,
				struct srdma_tls_ctx **out, char *err, size_t errlen);
int srdma_tls_ctx_client_create(const struct srdma_tls_client_opts *opts,
				struct srdma_tls_ctx **out, char *err, size_t errlen);
/* Accepts NULL. Sessions made from ctx keep what they were made with (each holds its own
 * reference to OpenSSL's context), so they may outlive it. */
void srdma_tls_ctx_destroy(struct srdma_tls_ctx *ctx);
/* Give ctx the identity and trust of fresh (same role, -EINVAL otherwise), atomically for
 * srdma_tls_create on other threads: sessions made from now on use them, sessions made before
 * keep theirs. fresh receives what ctx had; the caller destroys it. */
int srdma_tls_ctx_swap(struct srdma_tls_ctx *ctx, struct srdma_tls_ctx *fresh);

/* Session resumption (TLS 1.3 only; on by default in both roles).
 *
 * A server context issues one stateless ticket per handshake (full or resumed), sealed under
 * a ring of two keys drawn from the CSPRNG that turns every SRDMA_TLS_TICKET_KEY_PERIOD_S
 * seconds: a ticket opens for one to two periods, and its lifetime hint is one period. A
 * reload (srdma_tls_ctx_swap) brings a new ring, so tickets sealed before no longer open.
 * Resumption is PSK with (EC)DHE (psk_dhe_ke) only, never psk_ke; no early data. TLS 1.2
 * sessions are never resumed (no ticket, no session cache).
 *
 * A client context keeps the tickets it receives (at most 64, 4 per peer), keyed by the peer
 * named with srdma_tls_resume_peer; each is offered once. srdma_tls_ctx_swap drops them. */
#define SRDMA_TLS_TICKET_KEY_PERIOD_S 3600u

/* On or off for sessions made from now on; off also empties a client context's cache. */
void srdma_tls_ctx_set_resumption(struct srdma_tls_ctx *ctx, int on);
/* Server: turn the ticket key ring now (as its period would): 0, -EINVAL (not a server) or
 * -EIO (no randomness). For tests; a ticket survives one turn, not two. */
int srdma_tls_ctx_turn_ticket_keys(struct srdma_tls_ctx *ctx);
/* Client: tickets held in the cache. */
unsigned srdma_tls_ctx_tickets(struct srdma_tls_ctx *ctx);

/* Wrap a connected, non-blocking socket. The srdma_tls takes ownership of fd (closed by
 * srdma_tls_destroy, also on failure here). For a client, server_name is the name checked
 * against the server certificate (DNS name or IP address) and sent as SNI when it is a name. */
int srdma_tls_create(struct srdma_tls_ctx *ctx, int fd, const char *server_name,
		     struct srdma_tls **out);
/* Client, before the handshake: the peer this session's tickets belong to, (host, port,
 * server name). Offers the newest usable cached ticket of that peer (taking it out of the
 * cache), and caches the tickets this session receives. Does nothing with resumption off.
 * 0 or -ENOMEM/-EINVAL; a failure only means no resumption. */
int srdma_tls_resume_peer(struct srdma_tls *t, const char *host, unsigned port,
			  const char *server_name);
/* Sends nothing; frees the SSL object and closes the socket. Accepts NULL. */
void srdma_tls_destroy(struct srdma_tls *t);

int srdma_tls_fd(const struct srdma_tls *t);

/* Drive the handshake. 0 when complete, -EAGAIN to be called again when the socket is ready,
 * -EPROTO (handshake or verification failure), -ECONNRESET (peer went away). With TLS 1.3 a
 * client's handshake completes before the server has checked the client's certificate: a
 * refusal of that certificate shows up on the client's first read. */
int srdma_tls_handshake(struct srdma_tls *t);

/* 1 once a handshake that resumed a session (a ticket) has completed; 0 otherwise. */
int srdma_tls_resumed(const struct srdma_tls *t);
/* After the handshake: 1 and the group ("x25519", "P-256" style) if the peer sent an
 * ephemeral (EC)DHE key share, 0 (buf "") if none was used (a PSK-only session). */
int srdma_tls_kex(const struct srdma_tls *t, char *buf, size_t len);

/* Read up to len bytes: > 0 bytes read; -EAGAIN; -ECONNRESET when the peer closed (with or
 * without close_notify: the control channel has no clean EOF mid-session); -EPROTO otherwise. */
ssize_t srdma_tls_read(struct srdma_tls *t, void *buf, size_t len);

/* Write len bytes: returns len, or -EAGAIN (call again later with the same buffer and length),
 * -ECONNRESET, -EPIPE or -EPROTO. Never a short count. */
ssize_t srdma_tls_write(struct srdma_tls *t, const void *buf, size_t len);

/* 1 if the last -EAGAIN was waiting for the socket to become writable. */
int srdma_tls_want_write(const struct srdma_tls *t);

/* 1 if decrypted bytes are buffered inside OpenSSL (read again before waiting on the socket). */
int srdma_tls_pending(const struct srdma_tls *t);

/* Send close_notify, once, best effort (never blocks); nothing after a fatal error. */
void srdma_tls_close_notify(struct srdma_tls *t);

/* Keying material exporter (RFC 8446 7.5 / RFC 5705) for the data-plane keys. 0 or -EPROTO. */
int srdma_tls_export(struct srdma_tls *t, const char *label, const uint8_t *context,
		     size_t context_len, uint8_t *out, size_t out_len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" style description of the established session. */
const char *srdma_tls_describe(struct srdma_tls *t, char *buf, size_t len);

/* The peer's identity after the handshake, into out's verified, subject (RFC 2253),
 * common_name, san ("DNS:a, IP:192.0.2.1") and tls (srdma_tls_describe) fields; out->addr is
 * left alone. verified is 1 only if the peer presented a certificate our trust store verified.
 * Fields that do not fit are truncated. */
void srdma_tls_peer(struct srdma_tls *t, struct srdma_peer *out);

/* Reason of the last failure on t ("" if none). */
const char *srdma_tls_errmsg(const struct srdma_tls *t);

#endif
