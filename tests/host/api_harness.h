/* The listener harness of the API's host tests (test_api.c, test_api_reload.c): a listener on
 * a thread (struct lsn) that records what its callbacks saw, and the contexts and options the
 * tests connect with. cmocka's assertions longjmp, so the listener thread never asserts: a test
 * stops it (bounded) and then checks the records. */
#ifndef SRDMA_API_HARNESS_H
#define SRDMA_API_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>

#include "tls_harness.h"

#include <srdma.h>

#define REFUSE_REASON "certificate identity srdma-client is not allowed"
#define MAX_FAIL      8

/* ---- the listener thread ---- */

struct lsn {
	struct srdma_ctx *ctx;
	struct srdma_listener *l;
	uint16_t port;
	pthread_t thread;
	atomic_int stop;
	/* what the request callback does */
	int refuse;
	const char *reason;
	/* records: written by the listener thread under mu, read after lsn_stop (or under mu) */
	pthread_mutex_t mu;
	int nreq;
	struct srdma_peer peer;
	unsigned nqp;
	enum srdma_qp_driver driver[SRDMA_MAX_QPS];
	enum srdma_qp_driver qp_driver[SRDMA_MAX_QPS];
	int nfail;
	int fail_err[MAX_FAIL];
	char fail_addr[MAX_FAIL][64];
	char fail_reason[MAX_FAIL][256];
	int64_t fail_at[MAX_FAIL];
	int accepted;	/* connections that got through (none should here) */
	int accept_err; /* srdma_accept failing for the listener itself */
};

struct srdma_ctx *make_ctx(const char *cert, const char *key, const char *ca,
			   enum srdma_dp_mode dp);
void listen_on(struct srdma_ctx *ctx, unsigned handshake_ms, struct lsn *s,
	       struct srdma_listener **out);
void lsn_start(struct lsn *s, struct srdma_ctx *ctx, int refuse, const char *reason);
int lsn_nfail(struct lsn *s);
void lsn_wait_failures(struct lsn *s, int n);
void lsn_stop(struct lsn *s);
/* Stop serving handshakes, the listening socket left open (the kernel still completes TCP
 * connections into its backlog); lsn_resume serves them again. */
void lsn_pause(struct lsn *s);
void lsn_resume(struct lsn *s);
void connect_opts(struct srdma_connect_opts *o, uint16_t port, unsigned nqp, unsigned timeout_ms);
int tcp_listen(uint16_t *port);

#endif
