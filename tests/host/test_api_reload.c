/* srdma_ctx_reload's contract, on a machine without an RDMA device: a bad certificate, key,
 * key/certificate pair or client CA, or a role taken away, is refused with the file named and
 * changes nothing (a connector still verifies the old certificate); a good reload changes what
 * the next handshake presents, and reloading back restores it.
 *
 * Certificates come from $SRDMA_TEST_CERTS (made by $SRDMA_GEN_CERTS when missing). */
#include "api_harness.h"

static int try_connect(struct srdma_ctx *cctx, uint16_t port, char *err, size_t errlen)
{
	struct srdma_connect_opts co;
	struct srdma_conn *conn = NULL;
	int ret;

	connect_opts(&co, port, 1, DEADLINE_MS);
	co.host = "localhost";
	err[0] = 0;
	ret = srdma_connect(cctx, &co, &conn, err, errlen);
	assert_null(conn);
	return ret;
}

/* reload_opts: the server context's options with these files. */
static void reload_opts(struct srdma_ctx_opts *o, const char *cert, const char *key, const char *ca)
{
	srdma_ctx_opts_init(o);
	o->cert = cert;
	o->key = key;
	o->ca = ca;
}

/* srdma_ctx_reload refuses every bad file, naming it, and the listener keeps serving the old
 * certificate; a good reload changes what the next handshake presents. */
static void test_ctx_reload(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, NULL, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(NULL, NULL, c->ca, SRDMA_DP_AEAD);
	char garbage[] = "/tmp/srdma-test-reload-XXXXXX", missing[PATH_MAX + 16];
	struct srdma_ctx_opts o;
	char err[512];
	struct lsn s;
	int fd, ret;

	fd = mkstemp(garbage);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "-----BEGIN CERTIFICATE-----\nnot base64\n", 39), 39);
	close(fd);
	snprintf(missing, sizeof(missing), "%s.missing", c->server_cert);

	lsn_start(&s, sctx, 1, REFUSE_REASON);
	assert_int_equal(try_connect(cctx, s.port, err, sizeof(err)), -ECONNREFUSED);
	assert_mentions(err, REFUSE_REASON);

	/* A certificate file that does not exist. */
	reload_opts(&o, missing, c->server_key, NULL);
	err[0] = 0;
	assert_int_equal(srdma_ctx_reload(sctx, &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, missing);
	/* Not PEM. */
	reload_opts(&o, garbage, c->server_key, NULL);
	err[0] = 0;
	assert_int_equal(srdma_ctx_reload(sctx, &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, garbage);
	/* A key that is not the certificate's. */
	reload_opts(&o, c->server_cert, c->client_key, NULL);
	err[0] = 0;
	assert_int_equal(srdma_ctx_reload(sctx, &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "does not match");
	assert_mentions(err, c->client_key);
	/* A client CA that is not PEM: nothing changes either (the certificate was good). */
	reload_opts(&o, c->server_cert, c->server_key, garbage);
	err[0] = 0;
	assert_int_equal(srdma_ctx_reload(sctx, &o, err, sizeof(err)), -EINVAL);
	assert_true(err[0] != 0);
	/* No identity at all: a listening context keeps its role. */
	reload_opts(&o, NULL, NULL, c->ca);
	err[0] = 0;
	assert_int_equal(srdma_ctx_reload(sctx, &o, err, sizeof(err)), -EINVAL);
	assert_mentions(err, "cert");
	assert_int_equal(srdma_ctx_reload(NULL, &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_ctx_reload(sctx, NULL, err, sizeof(err)), -EINVAL);

	/* Still the old certificate: the connector verifies it as before. */
	ret = try_connect(cctx, s.port, err, sizeof(err));
	assert_ret(ret, -ECONNREFUSED, err);
	assert_mentions(err, REFUSE_REASON);

	/* A good reload: the same listener now presents the client certificate (issued for
	 * "srdma-client", for client authentication), which the connector refuses for
	 * "localhost"; the identity really changed. */
	reload_opts(&o, c->client_cert, c->client_key, NULL);
	err[0] = 0;
	ret = srdma_ctx_reload(sctx, &o, err, sizeof(err));
	assert_ret(ret, 0, err);
	ret = try_connect(cctx, s.port, err, sizeof(err));
	assert_int_equal(ret, -EPROTO);
	assert_mentions(err, "certificate");
	/* And back. */
	reload_opts(&o, c->server_cert, c->server_key, NULL);
	ret = srdma_ctx_reload(sctx, &o, err, sizeof(err));
	assert_ret(ret, 0, err);
	ret = try_connect(cctx, s.port, err, sizeof(err));
	assert_ret(ret, -ECONNREFUSED, err);
	assert_mentions(err, REFUSE_REASON);

	/* Three refused requests, and the handshake the connector gave up. */
	lsn_wait_failures(&s, 4);
	lsn_stop(&s);
	assert_int_equal(s.nreq, 3);
	assert_int_equal(s.nfail, 4);
	unlink(garbage);
	assert_int_equal(srdma_ctx_destroy(cctx), 0);
	assert_int_equal(srdma_ctx_destroy(sctx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ctx_reload),
	};

	return cmocka_run_group_tests(tests, harness_certs_setup, harness_certs_teardown);
}
