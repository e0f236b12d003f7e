/* The listener's pre-authentication pool (srdma_listen_opts): a limit per source address, a
 * newcomer from a fresh address always admitted (the heaviest address makes room), random
 * early drop. Silent TCP connections from several loopback addresses (127.0.0.0/8 is all
 * local on Linux) stand for an attacker's; no TLS or RDMA is needed to hold a handshake slot.
 *
 * Certificates come from $SRDMA_TEST_CERTS (made by $SRDMA_GEN_CERTS when missing). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "tls_harness.h"
#include <srdma.h>

#define MAX_REC 128

struct rec {
	int n;
	int err[MAX_REC];
	char addr[MAX_REC][64];
	char reason[MAX_REC][256];
};

static void on_failure(void *arg, const char *peer_addr, int error, const char *reason)
{
	struct rec *r = arg;

	if (r->n < MAX_REC) {
		r->err[r->n] = error;
		snprintf(r->addr[r->n], sizeof(r->addr[0]), "%s", peer_addr);
		snprintf(r->reason[r->n], sizeof(r->reason[0]), "%s", reason);
	}
	r->n++;
}

static struct srdma_listener *pool_listener(struct srdma_ctx *ctx, struct rec *r,
					    unsigned max_pending, unsigned per_addr,
					    unsigned early_pct)
{
	struct srdma_listen_opts o;
	struct srdma_listener *l = NULL;
	char err[256] = "";

	srdma_listen_opts_init(&o);
	o.bind = "127.0.0.1";
	o.port = 0;
	o.handshake_timeout_ms = 30000; /* nothing here may end by its deadline */
	o.max_pending = max_pending;
	o.max_pending_per_addr = per_addr;
	o.early_drop_pct = early_pct;
	o.on_failure = on_failure;
	o.arg = r;
	assert_ret(srdma_listen(ctx, &o, &l, err, sizeof(err)), 0, err);
	return l;
}

/* A silent TCP connection to the listener from source address src (127.x.y.z), not yet taken:
 * on loopback it is in the backlog once connect returns. */
static int raw_connect(struct srdma_listener *l, const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, s = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &s.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
	a.sin_port = htons(srdma_listener_port(l));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The same, and the listener takes it (or refuses it) at once. */
static int connect_from(struct srdma_listener *l, const char *src)
{
	struct srdma_conn *c = NULL;
	int fd = raw_connect(l, src);

	assert_int_equal(srdma_accept(l, &c, 0), -ETIMEDOUT);
	return fd;
}

/* The listener closed fd (EOF or reset) within ms. */
static int closed_within(int fd, int ms)
{
	uint8_t b;

	if (wait_fd(fd, POLLIN, now_ms() + ms))
		return 0;
	return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* The listener reset fd (refused at accept: RST, not the FIN exchange) within ms. */
static int reset_within(int fd, int ms)
{
	uint8_t b;

	if (wait_fd(fd, POLLIN, now_ms() + ms))
		return 0;
	return recv(fd, &b, 1, MSG_DONTWAIT) < 0 && errno == ECONNRESET;
}

static int mentions(const char *s, const char *what)
{
	return strstr(s, what) != NULL;
}

/* A context with the server's certificate. */
static struct srdma_ctx *pool_ctx(const struct certs *c)
{
	struct srdma_ctx_opts co;
	struct srdma_ctx *ctx = NULL;
	char err[256] = "";

	srdma_ctx_opts_init(&co);
	co.cert = c->server_cert;
	co.key = c->server_key;
	assert_ret(srdma_ctx_create(&co, &ctx, err, sizeof(err)), 0, err);
	return ctx;
}

static void test_per_address_and_newcomers(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l;
	struct rec r = {0};
	int a[4], b[2], n1;

	ctx = pool_ctx(c);
	l = pool_listener(ctx, &r, 4, 3, 100);

	/* Three from 127.0.0.1 fill its share; the fourth is closed at accept. */
	for (int i = 0; i < 4; i++)
		a[i] = connect_from(l, "127.0.0.1");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.err[0], -EBUSY);
	assert_true(mentions(r.reason[0], "max_pending_per_addr 3"));
	assert_true(reset_within(a[3], 2000));

	/* One from 127.0.0.2 fills the pool; a newcomer from 127.0.0.3 still gets in, in place
	 * of the oldest handshake of 127.0.0.1, the address holding the most. */
	b[0] = connect_from(l, "127.0.0.2");
	assert_int_equal(r.n, 1);
	n1 = connect_from(l, "127.0.0.3");
	assert_int_equal(r.n, 2);
	assert_true(mentions(r.reason[1], "make room for a lighter address"));
	assert_true(mentions(r.addr[1], "127.0.0.1:"));
	assert_true(closed_within(a[0], 2000));
	assert_false(closed_within(a[1], 100));

	/* The pool is full again: an address that already has a handshake waits its turn. */
	b[1] = connect_from(l, "127.0.0.2");
	assert_int_equal(r.n, 3);
	assert_true(mentions(r.reason[2], "handshake pool full (max_pending 4)"));
	assert_true(reset_within(b[1], 2000));
	assert_false(closed_within(n1, 100));

	srdma_listener_close(l);
	for (int i = 0; i < 4; i++)
		close(a[i]);
	close(b[0]);
	close(b[1]);
	close(n1);
	assert_int_equal(srdma_ctx_destroy(ctx), 0);
}

/* From early_drop_pct of the pool on, an address with a handshake in progress is dropped at
 * random; a fresh address never is. */
static void test_random_early_drop(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l;
	struct rec r = {0};
	char src[32];
	int fds[60], early = 0, fresh;

	ctx = pool_ctx(c);
	l = pool_listener(ctx, &r, 40, 1000, 10);
	/* Reaching a full pool of 40 from one address without an early drop from 4 on has a
	 * probability below 1e-14. */
	for (int i = 0; i < 60; i++)
		fds[i] = connect_from(l, "127.0.0.9");
	for (int i = 0; i < r.n && i < MAX_REC; i++)
		early += mentions(r.reason[i], "early drop");
	assert_true(early > 0);
	assert_true(r.n >= 20); /* 60 tries, at most 40 held */
	/* Fresh addresses are never dropped at random (they may evict 127.0.0.9's). */
	for (int i = 0; i < 10; i++) {
		int before = r.n;

		snprintf(src, sizeof(src), "127.0.1.%d", i + 1);
		fresh = connect_from(l, src);
		for (int k = before; k < r.n && k < MAX_REC; k++)
			assert_false(mentions(r.addr[k], src));
		assert_false(closed_within(fresh, 100));
		close(fresh);
	}
	srdma_listener_close(l);
	for (int i = 0; i < 60; i++)
		close(fds[i]);
	assert_int_equal(srdma_ctx_destroy(ctx), 0);
}

/* An address with a slow handshake in progress is not shut out by a flood from another: while
 * it holds at most a quarter of what the heaviest address holds, the heaviest makes room for
 * it in a full pool; once it holds more, it waits its turn like the others. */
static void test_light_address_full_pool(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l;
	struct rec r = {0};
	int flood[4], slow[3];

	ctx = pool_ctx(c);
	l = pool_listener(ctx, &r, 5, 8, 100);
	slow[0] = connect_from(l, "127.0.2.1");
	for (int i = 0; i < 4; i++)
		flood[i] = connect_from(l, "127.0.2.2");
	assert_int_equal(r.n, 0); /* the pool is full: 1 + 4 */

	/* 127.0.2.1 holds 1, 127.0.2.2 holds 4: light, so the flood's oldest makes room. */
	slow[1] = connect_from(l, "127.0.2.1");
	assert_int_equal(r.n, 1);
	assert_true(mentions(r.addr[0], "127.0.2.2:"));
	assert_true(mentions(r.reason[0], "make room for a lighter address"));
	assert_true(closed_within(flood[0], 2000));
	assert_false(closed_within(slow[0], 100));
	assert_false(closed_within(slow[1], 100));

	/* Now 2 against 3: not light, and the pool is full. */
	slow[2] = connect_from(l, "127.0.2.1");
	assert_int_equal(r.n, 2);
	assert_true(mentions(r.addr[1], "127.0.2.1:"));
	assert_true(mentions(r.reason[1], "handshake pool full (max_pending 5)"));
	assert_true(closed_within(slow[2], 2000));
	assert_false(closed_within(flood[1], 100));

	srdma_listener_close(l);
	for (int i = 0; i < 4; i++)
		close(flood[i]);
	for (int i = 0; i < 3; i++)
		close(slow[i]);
	assert_int_equal(srdma_ctx_destroy(ctx), 0);
}

/* Random early drop spares a light address that already has handshakes in progress. */
static void test_light_address_early_drop(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *ctx = NULL;
	struct srdma_listener *l;
	struct rec r = {0};
	int flood[100], slow[5], early = 0, before;

	ctx = pool_ctx(c);
	l = pool_listener(ctx, &r, 40, 1000, 50);
	slow[0] = connect_from(l, "127.0.3.1");
	/* Early drop starts at 20 of 40: the flood holds at least 19, and 100 tries bring the
	 * pool near full, where a drop is all but certain. */
	for (int i = 0; i < 100; i++)
		flood[i] = connect_from(l, "127.0.3.2");
	for (int i = 0; i < r.n && i < MAX_REC; i++)
		early += mentions(r.reason[i], "early drop");
	assert_true(early > 0);
	/* 127.0.3.1 holds 1 to 4 against at least 19: light each time, never dropped. */
	before = r.n;
	for (int i = 1; i < 5; i++)
		slow[i] = connect_from(l, "127.0.3.1");
	for (int k = before; k < r.n && k < MAX_REC; k++)
		assert_false(mentions(r.addr[k], "127.0.3.1:"));
	for (int i = 0; i < 5; i++)
		assert_false(closed_within(slow[i], 50));

	srdma_listener_close(l);
	for (int i = 0; i < 100; i++)
		close(flood[i]);
	for (int i = 0; i < 5; i++)
		close(slow[i]);
	assert_int_equal(srdma_ctx_destroy(ctx), 0);
}

/* A newcomer whose room is made by closing a handshake that is ready in the same batch of
 * events (regression: the closed handshake was then driven after it was freed). */
static void test_evict_ready_in_batch(void **state)
{
	const struct certs *c = *state;
	struct srdma_ctx *ctx = pool_ctx(c);
	struct srdma_listener *l;
	struct srdma_conn *conn = NULL;
	struct rec r = {0};
	int a[3], n1;

	l = pool_listener(ctx, &r, 3, 8, 100);
	for (int i = 0; i < 3; i++)
		a[i] = connect_from(l, "127.0.4.2");
	assert_int_equal(r.n, 0);
	/* Ready in this order: the listener (the newcomer), then the oldest handshake (the
	 * first byte of a TLS record), the one that makes room. */
	n1 = raw_connect(l, "127.0.4.1");
	assert_int_equal(send(a[0], "\x16", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(wait_fd(srdma_listener_fd(l), POLLIN, now_ms() + 2000), 0);
	assert_int_equal(srdma_accept(l, &conn, 0), -ETIMEDOUT);
	assert_int_equal(r.n, 1);
	assert_true(mentions(r.addr[0], "127.0.4.2:"));
	assert_true(mentions(r.reason[0], "make room for a lighter address"));
	assert_true(closed_within(a[0], 2000));
	assert_false(closed_within(n1, 100));

	srdma_listener_close(l);
	for (int i = 0; i < 3; i++)
		close(a[i]);
	close(n1);
	assert_int_equal(srdma_ctx_destroy(ctx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_address_and_newcomers),
	    cmocka_unit_test(test_random_early_drop),
	    cmocka_unit_test(test_light_address_full_pool),
	    cmocka_unit_test(test_light_address_early_drop),
	    cmocka_unit_test(test_evict_ready_in_batch),
	};

	return cmocka_run_group_tests(tests, harness_certs_setup, harness_certs_teardown);
}
