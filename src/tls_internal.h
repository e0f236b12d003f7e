/* Shapes shared by the TLS channel's files: tls.c (contexts, handshake, I/O, errors) and
 * tls_resume.c (TLS 1.3 session resumption: the listener's ticket keys, the connector's
 * ticket cache). Private to the library. */
#ifndef SRDMA_TLS_INTERNAL_H
#define SRDMA_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "tls.h"

#define ERRMSG_LEN 256
/* Longest file name quoted whole in a message. */
#define SRDMA_TLS_PATH_SHOWN 200

/* Session resumption (TLS 1.3 only, PSK with (EC)DHE; see tls.h).
 *
 * Listener: stateless tickets, encrypted (AES-256-CBC + HMAC-SHA256, OpenSSL's ticket format)
 * under a ring of two keys drawn from the CSPRNG: the current one, which seals new tickets,
 * and the previous one, which still opens tickets (and has them replaced). The ring turns
 * every SRDMA_TLS_TICKET_KEY_PERIOD_S, so a ticket key lives at most two periods; the ring
 * belongs to the SSL_CTX (ex_data), so a reload, which builds a new SSL_CTX, starts a new ring
 * and every older ticket fails to open (a full handshake follows).
 *
 * Connector: a cache of the tickets the listeners sent, keyed by (host, port, server name);
 * the trust in force is the generation of the context (srdma_tls_ctx_swap empties the cache
 * and ignores tickets still arriving on sessions made before it). A ticket is taken out of
 * the cache when offered, so it is offered once. */
#define TICKET_CACHE_MAX      64u /* tickets held per client context */
#define TICKET_CACHE_PER_PEER 4u  /* of which for one (host, port, server name) */
#define TICKETS_PER_HANDSHAKE 1	  /* sent by the listener after each handshake */
#define TICKET_KEY_NAME_LEN   16
#define TICKET_AES_LEN	      32
#define TICKET_HMAC_LEN	      32
#define SID_CTX		      "secure-rdma"

struct ticket_key {
	unsigned char name[TICKET_KEY_NAME_LEN];
	unsigned char aes[TICKET_AES_LEN];
	unsigned char hmac[TICKET_HMAC_LEN];
};

struct ticket_ring {
	pthread_mutex_t mu;
	struct ticket_key key[2]; /* [0] current, [1] previous */
	unsigned nkeys;
	uint64_t turned_s; /* CLOCK_MONOTONIC seconds of the last turn */
};

struct ticket_entry {
	char *peer; /* "host\nport\nserver name" */
	SSL_SESSION *sess;
	uint64_t seq; /* insertion order */
};

struct srdma_tls_ctx {
	/* Replaced by srdma_tls_ctx_swap while other threads make sessions from it: read and
	 * written under mu. A session holds its own reference (SSL_new), so a replaced SSL_CTX
	 * lives on, unchanged, until the last session made from it is freed. */
	pthread_mutex_t mu;
	SSL_CTX *ssl_ctx;
	int is_server;
	atomic_int resume; /* resumption on (srdma_tls_ctx_set_resumption) */
	/* Client: the ticket cache and the generation of the trust (both under mu). */
	unsigned gen;
	struct ticket_entry cache[TICKET_CACHE_MAX];
	unsigned ncache;
	uint64_t seq;
};

/* TLS 1.2 suites: ECDHE (forward secrecy) with AES-GCM or ChaCha20-Poly1305 (AEAD) only. */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

struct srdma_tls {
	SSL *ssl;
	struct srdma_tls_ctx *owner;
	int resume;   /* resumption was on when the session was made */
	unsigned gen; /* client: the owner's generation then */
	char *peer;   /* client: the ticket cache key (srdma_tls_resume_peer) */
	int fd;
	int want_write;
	int sent_close_notify;
	int fatal; /* a fatal error happened: OpenSSL forbids SSL_shutdown after one */
	char errmsg[ERRMSG_LEN];
};

/* tls_resume.c */
/* SSL_CTX_set_tlsext_ticket_key_evp_cb's callback: the listener's ring seals and opens. */
int srdma__tls_ticket_key_cb(SSL *s, unsigned char key_name[16],
			     unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx,
			     EVP_MAC_CTX *hctx, int enc);
/* Give c a fresh ticket key ring (ex_data, freed with c): 0 or -1. */
int srdma__tls_ring_attach(SSL_CTX *c);
/* SSL_CTX_sess_set_new_cb's callback: a ticket the listener sent goes to the owner's cache. */
int srdma__tls_client_new_session(SSL *ssl, SSL_SESSION *sess);
void srdma__tls_entry_clear(struct ticket_entry *e);
/* Empty ctx's cache into out (TICKET_CACHE_MAX entries), under its lock: how many. */
unsigned srdma__tls_cache_take_all(struct srdma_tls_ctx *ctx, struct ticket_entry *out);

#endif
