/* TLS 1.3 session resumption (srdma_ctx_set_resumption, srdma_conn_resumed) on a machine
 * without an RDMA device: the listener refuses every request (after the TLS handshake, before
 * any RDMA resource), which is all a handshake needs. Cases: a second connect resumes, with a
 * fresh (EC)DHE key share; a ticket is offered once; the off switch on either side gives full
 * handshakes; a reload (either side) or two ticket key turns end the tickets, and a new trust
 * is really checked; with mutual TLS a resumed connection presents the same verified client
 * identity to the listener.
 *
 * Certificates come from $SRDMA_TEST_CERTS (made by $SRDMA_GEN_CERTS when missing). */
#include "api_harness.h"

#include "cm_internal.h"

struct att {
	int ret;
	int resumed;
	int kex; /* the listener sent an ephemeral key share */
	char group[64];
	struct srdma_peer server; /* the listener as the connector saw it */
	char err[512];
};

/* Drive c until it leaves the TCP step (its TLS session exists: a ticket was taken, or not). */
static void drive_to_tls(struct srdma_conn *c)
{
	int64_t end = now_ms() + DEADLINE_MS;
	struct srdma_event ev;

	while (c->state == SRDMA_CM_TCP && now_ms() < end) {
		struct pollfd p = {.fd = srdma_conn_fd(c), .events = srdma_conn_poll_events(c)};
		int ret = srdma_conn_process(c, &ev);

		if (ret < 0)
			print_error("%d %s\n", ret, srdma_conn_errmsg(c));
		assert_true(ret >= 0);
		if (c->state == SRDMA_CM_TCP)
			(void)poll(&p, 1, 10);
	}
	assert_int_equal(c->state, SRDMA_CM_TLS);
}

/* The listener's thread, again after pause_listener (as api_harness.c's). */
/* Until the request callback has run n times (or the deadline); the peer it saw last. */
static struct srdma_peer wait_nreq(struct lsn *s, int n)
{
	int64_t end = now_ms() + DEADLINE_MS;
	struct srdma_peer p;
	int got;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		got = s->nreq;
		p = s->peer;
		pthread_mutex_unlock(&s->mu);
		if (got >= n || now_ms() >= end)
			break;
		usleep(2000);
	}
	assert_int_equal(got, n);
	return p;
}

/* Drive c to its end (the listener refuses, or TLS fails) and record what it was; closes c. */
static void finish(struct srdma_conn *c, struct att *a)
{
	int64_t end = now_ms() + DEADLINE_MS;
	struct srdma_event ev;
	int ret = 0;

	while (now_ms() < end) {
		struct pollfd p = {.fd = srdma_conn_fd(c), .events = srdma_conn_poll_events(c)};

		ret = srdma_conn_process(c, &ev);
		if (ret < 0 || (ret == 1 && ev.type == SRDMA_EV_ESTABLISHED))
			break;
		if (ret == 0)
			(void)poll(&p, 1, 20);
	}
	a->ret = ret;
	a->resumed = srdma_conn_resumed(c);
	a->kex = c->tls ? srdma_tls_kex(c->tls, a->group, sizeof(a->group)) : 0;
	a->server = *srdma_conn_peer(c);
	snprintf(a->err, sizeof(a->err), "%s", srdma_conn_errmsg(c));
	srdma_conn_close(c);
}

static struct srdma_conn *start(struct srdma_ctx *cctx, uint16_t port)
{
	struct srdma_connect_opts co;
	struct srdma_conn *c = NULL;
	char err[256] = "";

	connect_opts(&co, port, 1, DEADLINE_MS);
	co.host = "localhost";
	assert_ret(srdma_connect_start(cctx, &co, &c, err, sizeof(err)), 0, err);
	assert_non_null(c);
	return c;
}

static void attempt(struct srdma_ctx *cctx, uint16_t port, struct att *a)
{
	memset(a, 0, sizeof(*a));
	finish(start(cctx, port), a);
}

/* The TLS handshake went through (the listener's certificate verified, its key share seen),
 * then the listener refused the request, or this machine's missing RDMA device ended the
 * connector's set-up first (both come after the handshake). */
#define assert_refused(a)                                                                          \
	do {                                                                                       \
		if ((a)->ret != -ECONNREFUSED && (a)->ret != -ENODEV)                              \
			print_error("%d %s\n", (a)->ret, (a)->err);                                \
		assert_true((a)->ret == -ECONNREFUSED || (a)->ret == -ENODEV);                     \
		assert_int_equal((a)->kex, 1);                                                     \
		assert_int_equal((a)->server.verified, 1);                                         \
	} while (0)

static unsigned tickets(struct srdma_ctx *cctx)
{
	return srdma_tls_ctx_tickets(cctx->tls_client);
}

/* The listener saw nfail refusals; stop it, and destroy both contexts. */
static void end_test(struct lsn *s, int nfail, struct srdma_ctx *cctx, struct srdma_ctx *sctx)
{
	lsn_wait_failures(s, nfail);
	lsn_stop(s);
	assert_int_equal(srdma_ctx_destroy(cctx), 0);
	assert_int_equal(srdma_ctx_destroy(sctx), 0);
}

/* One attempt that gets through the handshake (assert_refused) and did (1) or did not (0)
 * resume. */
static void expect_resumed(struct srdma_ctx *cctx, uint16_t port, struct att *a, int resumed)
{
	attempt(cctx, port, a);
	assert_refused(a);
	assert_int_equal(a->resumed, resumed);
}

/* A second connect resumes; so does the next (each resumed session gets a new ticket); the
 * listener's key share is there every time (psk_dhe_ke), and the connector still sees the
 * listener's verified identity. */
static void test_second_connect_resumes(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, NULL, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(NULL, NULL, c->ca, SRDMA_DP_AEAD);
	struct att a1, a2, a3;
	struct lsn s;

	lsn_start(&s, sctx, 1, REFUSE_REASON);
	assert_int_equal(tickets(cctx), 0);
	expect_resumed(cctx, s.port, &a1, 0);
	assert_int_equal(a1.kex, 1);
	assert_int_equal(tickets(cctx), 1);

	expect_resumed(cctx, s.port, &a2, 1);
	/* (EC)DHE on resumption: the listener sent a key share, so forward secrecy holds. */
	assert_int_equal(a2.kex, 1);
	assert_true(a2.group[0] != '\0');
	assert_string_equal(a2.group, a1.group);
	assert_int_equal(a2.server.verified, 1);
	assert_string_equal(a2.server.subject, a1.server.subject);
	assert_string_equal(a2.server.tls, a1.server.tls);
	assert_int_equal(tickets(cctx), 1);

	expect_resumed(cctx, s.port, &a3, 1);
	assert_int_equal(a3.kex, 1);

	lsn_wait_failures(&s, 3);
	lsn_stop(&s);
	assert_int_equal(s.nreq, 3);
	assert_int_equal(srdma_ctx_destroy(cctx), 0);
	assert_int_equal(srdma_ctx_destroy(sctx), 0);
}

/* One ticket, two connections started together: the first takes it, the second finds none
 * and makes a full handshake. */
static void test_ticket_used_once(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, NULL, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(NULL, NULL, c->ca, SRDMA_DP_AEAD);
	struct srdma_conn *c2, *c3;
	struct att a1, a2, a3;
	struct lsn s;

	lsn_start(&s, sctx, 1, REFUSE_REASON);
	attempt(cctx, s.port, &a1);
	assert_refused(&a1);
	assert_int_equal(tickets(cctx), 1);
	/* Nobody answers the TLS handshakes until both have begun. */
	lsn_pause(&s);
	c2 = start(cctx, s.port);
	drive_to_tls(c2);
	assert_int_equal(tickets(cctx), 0);
	c3 = start(cctx, s.port);
	drive_to_tls(c3);
	lsn_resume(&s);
	memset(&a2, 0, sizeof(a2));
	memset(&a3, 0, sizeof(a3));
	finish(c3, &a3);
	finish(c2, &a2);
	assert_refused(&a2);
	assert_refused(&a3);
	assert_int_equal(a2.resumed, 1);
	assert_int_equal(a3.resumed, 0);

	end_test(&s, 3, cctx, sctx);
}

/* Off on the connector: nothing offered, nothing kept. Off on the listener: the ticket the
 * connector offers is not accepted and no new one comes. On again: resumption again. */
static void test_off_switch(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, NULL, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(NULL, NULL, c->ca, SRDMA_DP_AEAD);
	struct att a;
	struct lsn s;

	assert_int_equal(srdma_ctx_set_resumption(NULL, 0), -EINVAL);
	lsn_start(&s, sctx, 1, REFUSE_REASON);
	attempt(cctx, s.port, &a);
	assert_refused(&a);
	assert_int_equal(tickets(cctx), 1);

	/* The connector's switch. */
	assert_int_equal(srdma_ctx_set_resumption(cctx, 0), 0);
	assert_int_equal(tickets(cctx), 0);
	expect_resumed(cctx, s.port, &a, 0);
	assert_int_equal(tickets(cctx), 0);
	assert_int_equal(srdma_ctx_set_resumption(cctx, 1), 0);
	expect_resumed(cctx, s.port, &a, 0);
	assert_int_equal(tickets(cctx), 1);
	expect_resumed(cctx, s.port, &a, 1);
	assert_int_equal(tickets(cctx), 1);

	/* The listener's switch: the cached ticket is offered, and refused. */
	assert_int_equal(srdma_ctx_set_resumption(sctx, 0), 0);
	expect_resumed(cctx, s.port, &a, 0);
	assert_int_equal(a.kex, 1);
	assert_int_equal(tickets(cctx), 0);
	expect_resumed(cctx, s.port, &a, 0);
	assert_int_equal(srdma_ctx_set_resumption(sctx, 1), 0);
	expect_resumed(cctx, s.port, &a, 0);
	expect_resumed(cctx, s.port, &a, 1);

	end_test(&s, 8, cctx, sctx);
}

/* The listener's ticket keys: a ticket survives one turn of the ring, not two; a reload of the
 * listener (even with the same files) ends every ticket; a reload of the connector empties its
 * cache, and the new trust is checked in full (here it refuses the listener). */
static void test_keys_and_reload(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, NULL, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(NULL, NULL, c->ca, SRDMA_DP_AEAD);
	struct srdma_ctx_opts o;
	char err[512] = "";
	struct att a;
	struct lsn s;

	lsn_start(&s, sctx, 1, REFUSE_REASON);
	expect_resumed(cctx, s.port, &a, 0);

	/* One turn: the ticket is under the previous key, still good. */
	assert_int_equal(srdma_tls_ctx_turn_ticket_keys(sctx->tls_server), 0);
	expect_resumed(cctx, s.port, &a, 1);
	/* Two turns: its key is gone. */
	assert_int_equal(srdma_tls_ctx_turn_ticket_keys(sctx->tls_server), 0);
	assert_int_equal(srdma_tls_ctx_turn_ticket_keys(sctx->tls_server), 0);
	expect_resumed(cctx, s.port, &a, 0);
	assert_int_equal(srdma_tls_ctx_turn_ticket_keys(cctx->tls_client), -EINVAL);

	/* The listener reloads (the same files): the ticket the connector holds is dead. */
	attempt(cctx, s.port, &a);
	assert_int_equal(a.resumed, 1);
	assert_int_equal(tickets(cctx), 1);
	srdma_ctx_opts_init(&o);
	o.cert = c->server_cert;
	o.key = c->server_key;
	assert_ret(srdma_ctx_reload(sctx, &o, err, sizeof(err)), 0, err);
	expect_resumed(cctx, s.port, &a, 0);
	expect_resumed(cctx, s.port, &a, 1);

	/* The connector reloads with a CA that did not sign the listener: no ticket is left to
	 * skip the check, and the check refuses the listener. */
	assert_int_equal(tickets(cctx), 1);
	srdma_ctx_opts_init(&o);
	o.ca = c->other_ca;
	assert_ret(srdma_ctx_reload(cctx, &o, err, sizeof(err)), 0, err);
	assert_int_equal(tickets(cctx), 0);
	attempt(cctx, s.port, &a);
	assert_int_equal(a.ret, -EPROTO);
	assert_mentions(a.err, "certificate");
	assert_int_equal(a.resumed, 0);
	/* And back: a full handshake, then resumption again. */
	o.ca = c->ca;
	assert_ret(srdma_ctx_reload(cctx, &o, err, sizeof(err)), 0, err);
	expect_resumed(cctx, s.port, &a, 0);
	expect_resumed(cctx, s.port, &a, 1);

	end_test(&s, 9, cctx, sctx);
}

/* Mutual TLS: the resumed connection presents the client identity the full handshake verified;
 * after the listener reloads with a client CA that did not sign it, the client is refused
 * (no ticket lets the old verification through). */
static void test_mtls_identity_kept(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *sctx = make_ctx(c->server_cert, c->server_key, c->ca, SRDMA_DP_AEAD);
	struct srdma_ctx *cctx = make_ctx(c->client_cert, c->client_key, c->ca, SRDMA_DP_AEAD);
	struct srdma_peer full, resumed;
	struct srdma_ctx_opts o;
	char err[512] = "";
	struct att a;
	struct lsn s;

	lsn_start(&s, sctx, 1, REFUSE_REASON);
	expect_resumed(cctx, s.port, &a, 0);
	full = wait_nreq(&s, 1);
	assert_int_equal(full.verified, 1);
	assert_string_equal(full.common_name, "srdma-client");

	expect_resumed(cctx, s.port, &a, 1);
	resumed = wait_nreq(&s, 2);
	assert_int_equal(resumed.verified, 1);
	assert_string_equal(resumed.subject, full.subject);
	assert_string_equal(resumed.common_name, full.common_name);
	assert_string_equal(resumed.san, full.san);
	assert_string_equal(resumed.tls, full.tls);

	/* A new client CA on the listener: the ticket held is refused, and so is the client. */
	assert_int_equal(tickets(cctx), 1);
	srdma_ctx_opts_init(&o);
	o.cert = c->server_cert;
	o.key = c->server_key;
	o.ca = c->other_ca;
	assert_ret(srdma_ctx_reload(sctx, &o, err, sizeof(err)), 0, err);
	attempt(cctx, s.port, &a);
	assert_int_equal(a.resumed, 0);
	assert_true(a.ret == -EPROTO || a.ret == -ECONNRESET);
	lsn_wait_failures(&s, 3);
	lsn_stop(&s);
	assert_int_equal(s.nreq, 2);
	assert_int_equal(srdma_ctx_destroy(cctx), 0);
	assert_int_equal(srdma_ctx_destroy(sctx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_second_connect_resumes),
	    cmocka_unit_test(test_ticket_used_once),
	    cmocka_unit_test(test_off_switch),
	    cmocka_unit_test(test_keys_and_reload),
	    cmocka_unit_test(test_mtls_identity_kept),
	};

	return cmocka_run_group_tests(tests, harness_certs_setup, harness_certs_teardown);
}
