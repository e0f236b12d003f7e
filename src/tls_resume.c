/* TLS 1.3 session resumption (see tls_internal.h): the listener's ring of ticket keys and the
 * connector's ticket cache. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tls_internal.h"

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

int srdma__tls_ring_attach(SSL_CTX *c)
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
int srdma__tls_ticket_key_cb(SSL *s, unsigned char key_name[16],
			     unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx,
			     EVP_MAC_CTX *hctx, int enc)
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

void srdma__tls_entry_clear(struct ticket_entry *e)
{
	free(e->peer);
	SSL_SESSION_free(e->sess);
	memset(e, 0, sizeof(*e));
}

/* Empty the cache, under ctx->mu; the sessions go to out (freed by the caller unlocked). */
unsigned srdma__tls_cache_take_all(struct srdma_tls_ctx *ctx, struct ticket_entry *out)
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
	n = srdma__tls_cache_take_all(ctx, old);
	pthread_mutex_unlock(&ctx->mu);
	for (unsigned i = 0; i < n; i++)
		srdma__tls_entry_clear(&old[i]);
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
int srdma__tls_client_new_session(SSL *ssl, SSL_SESSION *sess)
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
	srdma__tls_entry_clear(&gone);
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
			srdma__tls_entry_clear(&e);
			return 0;
		}
		ERR_clear_error();
		srdma__tls_entry_clear(&e);
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
