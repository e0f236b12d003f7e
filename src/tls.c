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
#include "tls_internal.h"

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
		/* Stateless tickets (no server-side cache), sealed by srdma__tls_ticket_key_cb's
		 * ring. */
		SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx->ssl_ctx, TICKETS_PER_HANDSHAKE);
		SSL_CTX_set_timeout(ctx->ssl_ctx, SRDMA_TLS_TICKET_KEY_PERIOD_S);
		if (SSL_CTX_set_session_id_context(ctx->ssl_ctx, (const unsigned char *)SID_CTX,
						   sizeof(SID_CTX) - 1) != 1 ||
		    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx->ssl_ctx, srdma__tls_ticket_key_cb) !=
			1 ||
		    srdma__tls_ring_attach(ctx->ssl_ctx)) {
			set_err(err, errlen, "cannot set up session tickets", "");
			srdma_tls_ctx_destroy(ctx);
			return -ENOMEM;
		}
	} else {
		/* Tickets go to the context's own cache (srdma__tls_client_new_session), not
		 * OpenSSL's. */
		SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_CLIENT |
								 SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx->ssl_ctx, srdma__tls_client_new_session);
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
		srdma__tls_entry_clear(&ctx->cache[i]);
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
	n = srdma__tls_cache_take_all(ctx, gone);
	pthread_mutex_unlock(&ctx->mu);
	for (unsigned i = 0; i < n; i++)
		srdma__tls_entry_clear(&gone[i]);
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
		/* Neither offered nor issued (srdma__tls_ticket_key_cb also refuses tickets for t).
		 */
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
