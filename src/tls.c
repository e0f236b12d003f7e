/* TLS channel over OpenSSL 3: context set-up, non-blocking handshake and I/O, and the one place
 * where OpenSSL's error reporting is turned into an errno and a message. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

/* Describe the oldest queued OpenSSL error (the root cause) and empty the queue. */
static void drain_openssl_errors(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0) {
		snprintf(buf, len, "unknown TLS error");
		return;
	}
	/* The reason alone ("peer did not return a certificate") reads better than the packed
	 * "error:0A0000C7:SSL routines::..." form; fall back to it for unnamed reasons. A system
	 * error (a file that cannot be opened) is an errno. */
	if (ERR_SYSTEM_ERROR(e))
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(e)));
	else if (ERR_reason_error_string(e))
		snprintf(buf, len, "%s", ERR_reason_error_string(e));
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static void set_err(char *err, size_t errlen, const char *what, const char *path)
{
	char ossl[160];

	drain_openssl_errors(ossl, sizeof(ossl));
	if (errlen)
		snprintf(err, errlen, "%s%s%s: %s", what, path[0] ? " " : "", path, ossl);
}

static int set_min_version(SSL_CTX *c, enum srdma_tls_version v)
{
	int proto = v == SRDMA_TLS_1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;

	return SSL_CTX_set_min_proto_version(c, proto) == 1 ? 0 : -EINVAL;
}

static int key_mismatch(const char *cert, const char *key, char *err, size_t errlen)
{
	char what[SRDMA_TLS_PATH_SHOWN + 64];

	snprintf(what, sizeof(what), "private key %.*s does not match certificate",
		 SRDMA_TLS_PATH_SHOWN, key);
	set_err(err, errlen, what, cert);
	return -EINVAL;
}

static int load_cert_and_key(SSL_CTX *c, const char *cert, const char *key, char *err,
			     size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
		set_err(err, errlen, "cannot load certificate", cert);
		return -EINVAL;
	}
	/* A readable key of another certificate fails here already (OpenSSL compares them on
	 * loading); both checks report it the same way, naming both files. */
	if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			return key_mismatch(cert, key, err, errlen);
		set_err(err, errlen, "cannot load private key", key);
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(c) != 1)
		return key_mismatch(cert, key, err, errlen);
	return 0;
}

/* ---- Listener: the ticket key ring ------------------------------------------------------ */

static pthread_once_t ring_index_once = PTHREAD_ONCE_INIT;
static int ring_index = -1;

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void ring_free(struct ticket_ring *r)
{
	if (!r)
		return;
	OPENSSL_cleanse(r->key, sizeof(r->key));
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Called by SSL_CTX_free when the last reference (a session's, maybe) goes. */
static void ring_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	ring_free(ptr);
}

static void ring_index_init(void)
{
	ring_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ring_ex_free);
}

/* A fresh current key; the current one becomes the previous one, the previous one is gone.
 * Under r->mu (or before r is shared). */
static int ring_turn(struct ticket_ring *r)
{
	struct ticket_key k;

	if (RAND_priv_bytes(k.name, sizeof(k.name)) != 1 ||
	    RAND_priv_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_priv_bytes(k.hmac, sizeof(k.hmac)) != 1) {
		OPENSSL_cleanse(&k, sizeof(k));
		ERR_clear_error();
		return -EIO;
	}
	r->key[1] = r->key[0];
	r->key[0] = k;
	OPENSSL_cleanse(&k, sizeof(k));
	r->nkeys = r->nkeys < 2 ? r->nkeys + 1 : 2;
	r->turned_s = mono_s();
	return 0;
}

/* Turn the ring if its period is over (twice if two are: neither key may outlive it). */
static void ring_age(struct ticket_ring *r)
{
	uint64_t now = mono_s();

	if (now - r->turned_s < SRDMA_TLS_TICKET_KEY_PERIOD_S)
		return;
	if (now - r->turned_s >= 2ull * SRDMA_TLS_TICKET_KEY_PERIOD_S)
		r->nkeys = 0;
	if (ring_turn(r) == 0 && r->nkeys == 1)
		(void)ring_turn(r);
}

static int ring_attach(SSL_CTX *c)
{
	struct ticket_ring *r;

	pthread_once(&ring_index_once, ring_index_init);
	if (ring_index < 0)
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (pthread_mutex_init(&r->mu, NULL)) {
		free(r);
		return -ENOMEM;
	}
	if (ring_turn(r) || SSL_CTX_set_ex_data(c, ring_index, r) != 1) {
		ring_free(r);
		return -EIO;
	}
	return 0;
}

static int ticket_key_set(const struct ticket_key *k, const unsigned char *iv, EVP_CIPHER_CTX *cctx,
			  EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[3];

	params[0] =
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 0 : -1;
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb: seal a new ticket under the current key (enc), or find
 * the key a presented ticket names. TLS 1.2 gets no ticket and resumes nothing: only TLS 1.3
 * resumption is used here (its PSK is bound to the handshake and comes with (EC)DHE). */
static int ticket_key_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct srdma_tls *t = SSL_get_app_data(s);
	struct ticket_ring *r = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), ring_index);
	struct ticket_key k;
	int ret = 0, which = -1;

	if (!t || !t->resume || !r || SSL_version(s) != TLS1_3_VERSION)
		return 0;
	pthread_mutex_lock(&r->mu);
	ring_age(r);
	if (enc) {
		if (r->nkeys)
			which = 0;
	} else {
		for (unsigned i = 0; i < r->nkeys; i++)
			if (CRYPTO_memcmp(key_name, r->key[i].name, TICKET_KEY_NAME_LEN) == 0)
				which = (int)i;
	}
	if (which >= 0)
		k = r->key[which];
	pthread_mutex_unlock(&r->mu);
	if (which < 0)
		return 0; /* an unknown or retired key: a full handshake */
	if (enc) {
		int ivlen = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());

		if (ivlen <= 0 || RAND_bytes(iv, ivlen) != 1) {
			ret = -1;
			goto out;
		}
		memcpy(key_name, k.name, TICKET_KEY_NAME_LEN);
	}
	if (ticket_key_set(&k, iv, cctx, hctx, enc)) {
		ret = -1;
		goto out;
	}
	/* A ticket is offered once (the connector's cache): a resumed session gets a new one,
	 * sealed under the current key. */
	ret = enc ? 1 : 2;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

int srdma_tls_ctx_turn_ticket_keys(struct srdma_tls_ctx *ctx)
{
	struct ticket_ring *r;
	int ret;

	if (!ctx || !ctx->is_server)
		return -EINVAL;
	pthread_once(&ring_index_once, ring_index_init);
	pthread_mutex_lock(&ctx->mu);
	r = SSL_CTX_get_ex_data(ctx->ssl_ctx, ring_index);
	if (!r) {
		pthread_mutex_unlock(&ctx->mu);
		return -EINVAL;
	}
	pthread_mutex_lock(&r->mu);
	ret = ring_turn(r);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&ctx->mu);
	return ret;
}

/* ---- Connector: the ticket cache -------------------------------------------------------- */

static void entry_clear(struct ticket_entry *e)
{
	free(e->peer);
	SSL_SESSION_free(e->sess);
	memset(e, 0, sizeof(*e));
}

/* Empty the cache, under ctx->mu; the sessions go to out (freed by the caller unlocked). */
static unsigned cache_take_all(struct srdma_tls_ctx *ctx, struct ticket_entry *out)
{
	unsigned n = ctx->ncache;

	memcpy(out, ctx->cache, n * sizeof(*out));
	memset(ctx->cache, 0, sizeof(ctx->cache));
	ctx->ncache = 0;
	return n;
}

static void cache_flush(struct srdma_tls_ctx *ctx)
{
	struct ticket_entry old[TICKET_CACHE_MAX];
	unsigned n;

	pthread_mutex_lock(&ctx->mu);
	n = cache_take_all(ctx, old);
	pthread_mutex_unlock(&ctx->mu);
	for (unsigned i = 0; i < n; i++)
		entry_clear(&old[i]);
}

static void cache_remove(struct srdma_tls_ctx *ctx, unsigned i, struct ticket_entry *out)
{
	*out = ctx->cache[i];
	ctx->cache[i] = ctx->cache[--ctx->ncache];
	memset(&ctx->cache[ctx->ncache], 0, sizeof(ctx->cache[0]));
}

static int session_usable(const SSL_SESSION *sess)
{
	time_t now = time(NULL);

	return SSL_SESSION_is_resumable(sess) &&
	       SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION &&
	       SSL_SESSION_get_max_early_data(sess) == 0 &&
	       (time_t)(SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess)) > now;
}

/* SSL_CTX_sess_set_new_cb: a ticket arrived on a client session. 1: we keep sess. */
static int client_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct srdma_tls *t = SSL_get_app_data(ssl);
	struct srdma_tls_ctx *ctx = t ? t->owner : NULL;
	struct ticket_entry gone = {0};
	unsigned i, same = 0, oldest_same = 0, oldest = 0;
	char *peer;

	if (!ctx || !t->resume || !t->peer || !session_usable(sess) ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	peer = strdup(t->peer);
	if (!peer)
		return 0;
	pthread_mutex_lock(&ctx->mu);
	if (t->gen != ctx->gen || !atomic_load(&ctx->resume)) {
		pthread_mutex_unlock(&ctx->mu);
		free(peer);
		return 0;
	}
	for (i = 0; i < ctx->ncache; i++) {
		if (ctx->cache[i].seq < ctx->cache[oldest].seq)
			oldest = i;
		if (strcmp(ctx->cache[i].peer, peer))
			continue;
		if (!same++ || ctx->cache[i].seq < ctx->cache[oldest_same].seq)
			oldest_same = i;
	}
	if (same >= TICKET_CACHE_PER_PEER)
		cache_remove(ctx, oldest_same, &gone);
	else if (ctx->ncache == TICKET_CACHE_MAX)
		cache_remove(ctx, oldest, &gone);
	ctx->cache[ctx->ncache++] =
	    (struct ticket_entry){.peer = peer, .sess = sess, .seq = ++ctx->seq};
	pthread_mutex_unlock(&ctx->mu);
	entry_clear(&gone);
	return 1;
}

int srdma_tls_resume_peer(struct srdma_tls *t, const char *host, unsigned port,
			  const char *server_name)
{
	struct srdma_tls_ctx *ctx = t->owner;
	size_t len;

	if (ctx->is_server || !host || !server_name)
		return -EINVAL;
	if (!t->resume)
		return 0;
	len = strlen(host) + strlen(server_name) + 16;
	t->peer = malloc(len);
	if (!t->peer)
		return -ENOMEM;
	snprintf(t->peer, len, "%s\n%u\n%s", host, port, server_name);
	for (;;) {
		struct ticket_entry e = {0};
		unsigned i, newest = 0;
		int found = 0;

		pthread_mutex_lock(&ctx->mu);
		if (t->gen == ctx->gen) {
			for (i = 0; i < ctx->ncache; i++) {
				if (strcmp(ctx->cache[i].peer, t->peer))
					continue;
				if (!found++ || ctx->cache[i].seq > ctx->cache[newest].seq)
					newest = i;
			}
		}
		/* Taken out: a ticket is offered once, whatever comes of it. */
		if (found)
			cache_remove(ctx, newest, &e);
		pthread_mutex_unlock(&ctx->mu);
		if (!found)
			return 0;
		if (session_usable(e.sess) && SSL_set_session(t->ssl, e.sess) == 1) {
			entry_clear(&e);
			return 0;
		}
		ERR_clear_error();
		entry_clear(&e);
	}
}

void srdma_tls_ctx_set_resumption(struct srdma_tls_ctx *ctx, int on)
{
	atomic_store(&ctx->resume, on ? 1 : 0);
	if (!on && !ctx->is_server)
		cache_flush(ctx);
}

unsigned srdma_tls_ctx_tickets(struct srdma_tls_ctx *ctx)
{
	unsigned n;

	pthread_mutex_lock(&ctx->mu);
	n = ctx->ncache;
	pthread_mutex_unlock(&ctx->mu);
	return n;
}

static int ctx_new(int is_server, enum srdma_tls_version min, struct srdma_tls_ctx **out, char *err,
		   size_t errlen)
{
	struct srdma_tls_ctx *ctx;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->is_server = is_server;
	atomic_init(&ctx->resume, 1);
	if (pthread_mutex_init(&ctx->mu, NULL)) {
		free(ctx);
		return -ENOMEM;
	}
	ctx->ssl_ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (!ctx->ssl_ctx) {
		set_err(err, errlen, "cannot create TLS context", "");
		pthread_mutex_destroy(&ctx->mu);
		free(ctx);
		return -ENOMEM;
	}
	if (set_min_version(ctx->ssl_ctx, min)) {
		set_err(err, errlen, "cannot set minimum TLS version", "");
		srdma_tls_ctx_destroy(ctx);
		return -EINVAL;
	}
	/* TLS 1.2 (only with a 1.2 floor): forward-secret AEAD suites alone, the server's order.
	 * TLS 1.3's suites are all of that kind already. */
	if (SSL_CTX_set_cipher_list(ctx->ssl_ctx, TLS12_CIPHERS) != 1) {
		set_err(err, errlen, "cannot set the TLS 1.2 cipher suites", "");
		srdma_tls_ctx_destroy(ctx);
		return -EINVAL;
	}
	/* No renegotiation. Resumption: TLS 1.3 tickets only, and only with a fresh (EC)DHE
	 * exchange (psk_dhe_ke: SSL_OP_ALLOW_NO_DHE_KEX stays off), so a resumed session keeps
	 * forward secrecy; no early data (0-RTT), so nothing can be replayed. */
	SSL_CTX_set_options(ctx->ssl_ctx,
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_clear_options(ctx->ssl_ctx, SSL_OP_ALLOW_NO_DHE_KEX | SSL_OP_NO_TICKET);
	if (SSL_CTX_set_max_early_data(ctx->ssl_ctx, 0) != 1 ||
	    SSL_CTX_set_recv_max_early_data(ctx->ssl_ctx, 0) != 1) {
		set_err(err, errlen, "cannot turn early data off", "");
		srdma_tls_ctx_destroy(ctx);
		return -EINVAL;
	}
	if (is_server) {
		/* Stateless tickets (no server-side cache), sealed by ticket_key_cb's ring. */
		SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx->ssl_ctx, TICKETS_PER_HANDSHAKE);
		SSL_CTX_set_timeout(ctx->ssl_ctx, SRDMA_TLS_TICKET_KEY_PERIOD_S);
		if (SSL_CTX_set_session_id_context(ctx->ssl_ctx, (const unsigned char *)SID_CTX,
						   sizeof(SID_CTX) - 1) != 1 ||
		    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx->ssl_ctx, ticket_key_cb) != 1 ||
		    ring_attach(ctx->ssl_ctx)) {
			set_err(err, errlen, "cannot set up session tickets", "");
			srdma_tls_ctx_destroy(ctx);
			return -ENOMEM;
		}
	} else {
		/* Tickets go to the context's own cache (client_new_session), not OpenSSL's. */
		SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_CLIENT |
								 SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx->ssl_ctx, client_new_session);
	}
	*out = ctx;
	return 0;
}

int srdma_tls_ctx_server_create(const struct srdma_tls_server_opts *opts,
				struct srdma_tls_ctx **out, char *err, size_t errlen)
{
	struct srdma_tls_ctx *ctx;
	int ret;

	ret = ctx_new(1, opts->min_version, &ctx, err, errlen);
	if (ret)
		return ret;
	ret = load_cert_and_key(ctx->ssl_ctx, opts->cert, opts->key, err, errlen);
	if (ret)
		goto err_ctx;
	if (opts->client_ca && opts->client_ca[0]) {
		STACK_OF(X509_NAME) * names;

		if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, opts->client_ca, NULL) != 1) {
			set_err(err, errlen, "cannot load client CA", opts->client_ca);
			ret = -EINVAL;
			goto err_ctx;
		}
		names = SSL_load_client_CA_file(opts->client_ca);
		if (!names) {
			set_err(err, errlen, "no CA names in", opts->client_ca);
			ret = -EINVAL;
			goto err_ctx;
		}
		SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names);
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   NULL);
	}
	*out = ctx;
	return 0;

err_ctx:
	srdma_tls_ctx_destroy(ctx);
	return ret;
}

int srdma_tls_ctx_client_create(const struct srdma_tls_client_opts *opts,
				struct srdma_tls_ctx **out, char *err, size_t errlen)
{
	struct srdma_tls_ctx *ctx;
	int ret;

	ret = ctx_new(0, opts->min_version, &ctx, err, errlen);
	if (ret)
		return ret;
	if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, opts->ca, NULL) != 1) {
		set_err(err, errlen, "cannot load CA", opts->ca);
		ret = -EINVAL;
		goto err_ctx;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (opts->cert && opts->cert[0]) {
		ret = load_cert_and_key(ctx->ssl_ctx, opts->cert, opts->key, err, errlen);
		if (ret)
			goto err_ctx;
	}
	*out = ctx;
	return 0;

err_ctx:
	srdma_tls_ctx_destroy(ctx);
	return ret;
}

void srdma_tls_ctx_destroy(struct srdma_tls_ctx *ctx)
{
	if (!ctx)
		return;
	for (unsigned i = 0; i < ctx->ncache; i++)
		entry_clear(&ctx->cache[i]);
	SSL_CTX_free(ctx->ssl_ctx);
	pthread_mutex_destroy(&ctx->mu);
	free(ctx);
}

int srdma_tls_ctx_swap(struct srdma_tls_ctx *ctx, struct srdma_tls_ctx *fresh)
{
	struct ticket_entry gone[TICKET_CACHE_MAX];
	SSL_CTX *old;
	unsigned n;

	if (!ctx || !fresh || ctx->is_server != fresh->is_server)
		return -EINVAL;
	pthread_mutex_lock(&ctx->mu);
	old = ctx->ssl_ctx;
	ctx->ssl_ctx = fresh->ssl_ctx;
	/* New trust or identity: no ticket of the old one is offered again, nor kept when it
	 * arrives later on a session made before. (The listener's new SSL_CTX has a new ticket
	 * key ring: tickets sealed before fail to open.) */
	ctx->gen++;
	n = cache_take_all(ctx, gone);
	pthread_mutex_unlock(&ctx->mu);
	for (unsigned i = 0; i < n; i++)
		entry_clear(&gone[i]);
	/* fresh is private to the caller: no lock needed to hand it the old one to free. */
	fresh->ssl_ctx = old;
	return 0;
}

static int is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int set_peer_name(SSL *ssl, const char *name)
{
	if (is_ip_literal(name))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -EINVAL;
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -EINVAL;
	return SSL_set1_host(ssl, name) == 1 ? 0 : -EINVAL;
}

int srdma_tls_create(struct srdma_tls_ctx *ctx, int fd, const char *server_name,
		     struct srdma_tls **out)
{
	struct srdma_tls *t;

	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->fd = fd;
	t->owner = ctx;
	t->resume = atomic_load(&ctx->resume);
	pthread_mutex_lock(&ctx->mu);
	t->ssl = SSL_new(ctx->ssl_ctx);
	t->gen = ctx->gen;
	pthread_mutex_unlock(&ctx->mu);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1 || SSL_set_app_data(t->ssl, t) != 1)
		goto err;
	if (!t->resume) {
		/* Neither offered nor issued (ticket_key_cb also refuses tickets for t). */
		SSL_set_options(t->ssl, SSL_OP_NO_TICKET);
		if (ctx->is_server && SSL_set_num_tickets(t->ssl, 0) != 1)
			goto err;
	}
	if (ctx->is_server) {
		SSL_set_accept_state(t->ssl);
	} else {
		if (!server_name || !server_name[0] || set_peer_name(t->ssl, server_name))
			goto err;
		SSL_set_connect_state(t->ssl);
	}
	*out = t;
	return 0;

err:
	ERR_clear_error();
	srdma_tls_destroy(t);
	return -EINVAL;
}

void srdma_tls_destroy(struct srdma_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	free(t->peer);
	free(t);
}

int srdma_tls_fd(const struct srdma_tls *t)
{
	return t->fd;
}

/* The single mapping from an OpenSSL failure to an errno and a message. */
static int tls_fail(struct srdma_tls *t, int ret, const char *op)
{
	int ssl_err = SSL_get_error(t->ssl, ret);
	int saved_errno = errno;
	unsigned long e;
	char ossl[160];
	long verify;

	switch (ssl_err) {
	case SSL_ERROR_WANT_READ:
		t->want_write = 0;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = 1;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(t->errmsg, sizeof(t->errmsg), "%s: peer closed the TLS connection", op);
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		t->fatal = 1;
		ERR_clear_error();
		if (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE) {
			snprintf(t->errmsg, sizeof(t->errmsg), "%s: peer closed the connection",
				 op);
			return -ECONNRESET;
		}
		snprintf(t->errmsg, sizeof(t->errmsg), "%s: %s", op, strerror(saved_errno));
		return -saved_errno;
	default:
		break;
	}

	t->fatal = 1;
	e = ERR_peek_error();
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		snprintf(t->errmsg, sizeof(t->errmsg), "%s: peer closed the connection", op);
		return -ECONNRESET;
	}
	drain_openssl_errors(ossl, sizeof(ossl));
	verify = SSL_get_verify_result(t->ssl);
	if (verify != X509_V_OK)
		snprintf(t->errmsg, sizeof(t->errmsg), "%s: certificate verification failed: %s",
			 op, X509_verify_cert_error_string(verify));
	else
		snprintf(t->errmsg, sizeof(t->errmsg), "%s: %s", op, ossl);
	return -EPROTO;
}

int srdma_tls_handshake(struct srdma_tls *t)
{
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(t->ssl);
	if (ret != 1)
		return tls_fail(t, ret, "TLS handshake");
	/* TLS 1.2 keys are exported from the session (data-plane keys, srdma_conn_export): only
	 * with Extended Master Secret (RFC 7627) is that secret bound to this very handshake. */
	if (SSL_version(t->ssl) < TLS1_3_VERSION && SSL_get_extms_support(t->ssl) != 1) {
		snprintf(t->errmsg, sizeof(t->errmsg),
			 "TLS handshake: the peer did not negotiate Extended Master Secret (RFC "
			 "7627), which TLS 1.2 needs here");
		t->fatal = 1;
		return -EPROTO;
	}
	/* Never the case (TLS 1.2 sessions are neither cached nor accepted), but a resumed TLS
	 * 1.2 session would export keys of an older handshake. */
	if (SSL_version(t->ssl) < TLS1_3_VERSION && SSL_session_reused(t->ssl)) {
		snprintf(t->errmsg, sizeof(t->errmsg),
			 "TLS handshake: a TLS 1.2 session was resumed, which is not allowed here");
		t->fatal = 1;
		return -EPROTO;
	}
	return 0;
}

int srdma_tls_resumed(const struct srdma_tls *t)
{
	return t && SSL_is_init_finished(t->ssl) && SSL_session_reused(t->ssl) ? 1 : 0;
}

int srdma_tls_kex(const struct srdma_tls *t, char *buf, size_t len)
{
	EVP_PKEY *pk = NULL;
	char group[64];
	size_t glen = 0;
	int ret = 0;

	if (len)
		buf[0] = '\0';
	if (!t || !SSL_is_init_finished(t->ssl))
		return 0;
	/* The peer's ephemeral key share (ServerHello's or ClientHello's key_share): there is
	 * none when a PSK alone (psk_ke) keyed the session. */
	if (SSL_get_peer_tmp_key(t->ssl, &pk) == 1 && pk) {
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) == 1)
			snprintf(buf, len, "%s", group);
		else
			snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(pk));
		ret = 1;
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return ret;
}

ssize_t srdma_tls_read(struct srdma_tls *t, void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_fail(t, 0, "TLS read");
}

ssize_t srdma_tls_write(struct srdma_tls *t, const void *buf, size_t len)
{
	size_t n = 0;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_fail(t, 0, "TLS write");
}

int srdma_tls_want_write(const struct srdma_tls *t)
{
	return t->want_write;
}

int srdma_tls_pending(const struct srdma_tls *t)
{
	return SSL_pending(t->ssl) > 0;
}

void srdma_tls_close_notify(struct srdma_tls *t)
{
	if (t->sent_close_notify || t->fatal)
		return;
	t->sent_close_notify = 1;
	ERR_clear_error();
	if (SSL_is_init_finished(t->ssl))
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
}

int srdma_tls_export(struct srdma_tls *t, const char *label, const uint8_t *context,
		     size_t context_len, uint8_t *out, size_t out_len)
{
	ERR_clear_error();
	if (SSL_export_keying_material(t->ssl, out, out_len, label, strlen(label), context,
				       context_len, 1) != 1) {
		drain_openssl_errors(t->errmsg, sizeof(t->errmsg));
		return -EPROTO;
	}
	return 0;
}

const char *srdma_tls_describe(struct srdma_tls *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
	return buf;
}

const char *srdma_tls_errmsg(const struct srdma_tls *t)
{
	return t->errmsg;
}

/* Append "PREFIX:value" to the comma-separated list in buf (truncating at len). */
static void san_append(char *buf, size_t len, const char *prefix, const char *value)
{
	size_t used = strlen(buf);

	if (used + 1 >= len)
		return;
	snprintf(buf + used, len - used, "%s%s:%s", used ? ", " : "", prefix, value);
}

static void peer_sans(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char ip[INET6_ADDRSTRLEN];
	int i;

	if (!names)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *data;
		int dlen;

		switch (gn->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			data = ASN1_STRING_get0_data(gn->d.ia5);
			dlen = ASN1_STRING_length(gn->d.ia5);
			if (dlen < 0 || memchr(data, '\0', (size_t)dlen))
				break;
			{
				char value[256];

				snprintf(value, sizeof(value), "%.*s", dlen, (const char *)data);
				san_append(buf, len,
					   gn->type == GEN_DNS	   ? "DNS"
					   : gn->type == GEN_EMAIL ? "email"
								   : "URI",
					   value);
			}
			break;
		case GEN_IPADD:
			data = ASN1_STRING_get0_data(gn->d.ip);
			dlen = ASN1_STRING_length(gn->d.ip);
			if ((dlen == 4 && inet_ntop(AF_INET, data, ip, sizeof(ip))) ||
			    (dlen == 16 && inet_ntop(AF_INET6, data, ip, sizeof(ip))))
				san_append(buf, len, "IP", ip);
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(names);
}

void srdma_tls_peer(struct srdma_tls *t, struct srdma_peer *out)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);

	out->verified = 0;
	out->subject[0] = '\0';
	out->common_name[0] = '\0';
	out->san[0] = '\0';
	srdma_tls_describe(t, out->tls, sizeof(out->tls));
	if (!cert)
		return;
	out->verified = SSL_get_verify_result(t->ssl) == X509_V_OK;
	{
		X509_NAME *name = X509_get_subject_name(cert);
		BIO *bio = BIO_new(BIO_s_mem());

		if (bio) {
			if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
				int n = BIO_read(bio, out->subject, (int)sizeof(out->subject) - 1);

				out->subject[n > 0 ? n : 0] = '\0';
			}
			BIO_free(bio);
		}
		if (X509_NAME_get_text_by_NID(name, NID_commonName, out->common_name,
					      (int)sizeof(out->common_name)) < 0)
			out->common_name[0] = '\0';
	}
	peer_sans(cert, out->san, sizeof(out->san));
	ERR_clear_error();
}
