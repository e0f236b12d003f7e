/* The harness of the TLS loopback test: bounded waits, TCP on 127.0.0.1, a one-connection
 * server in a thread, client sessions, TLS contexts from the test certificates, and the
 * assertions shared by the cases. Nothing here asserts while a server thread runs. */
#ifndef SRDMA_TESTS_TLS_HARNESS_H
#define SRDMA_TESTS_TLS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "chan.h"
#include "tls.h"
#include "wire.h"

/* Bound on every case's network waits; loopback needs milliseconds. */
#define DEADLINE_MS 5000
/* A result slot that was never reached (not an errno, not a frame count). */
#define NOT_RUN	     (-9999)
#define EXPORT_LEN   32
#define EXPORT_LABEL "EXPERIMENTAL secure-rdma data plane"

/* ret is evaluated once; msg (the side's error text) is printed when it is not want. */
#define assert_ret(ret, want, msg)                                                                 \
	do {                                                                                       \
		const int ret_ = (ret);                                                            \
		if (ret_ != (want))                                                                \
			print_error("%s\n", (msg));                                                \
		assert_int_equal(ret_, (want));                                                    \
	} while (0)

#define assert_mentions(text, word)                                                                \
	do {                                                                                       \
		if (!strcasestr((text), (word)))                                                   \
			fail_msg("\"%s\" does not mention \"%s\"", (text), (word));                \
	} while (0)

struct certs {
	char ca[PATH_MAX];
	char other_ca[PATH_MAX];
	char server_cert[PATH_MAX];
	char server_key[PATH_MAX];
	char client_cert[PATH_MAX];
	char client_key[PATH_MAX];
	char other_cert[PATH_MAX];
	char other_key[PATH_MAX];
	char expired_cert[PATH_MAX];
	char expired_key[PATH_MAX];
};

/* cmocka group set-up: the test certificates in $SRDMA_TEST_CERTS (made with $SRDMA_GEN_CERTS
 * if missing; defaults demo-certs and scripts/gen-certs.sh), a struct certs in *state; SIGPIPE
 * ignored. Teardown frees it. */
int harness_certs_setup(void **state);
int harness_certs_teardown(void **state);

/* Runs after a successful server handshake; returns 0 or a negative errno. */
typedef int (*server_fn)(struct srdma_tls *t, void *arg, int64_t deadline);

struct server {
	/* set before server_start */
	struct srdma_tls_ctx *ctx;
	server_fn fn; /* NULL: serve_ready */
	void *arg;
	/* set by server_start */
	int lfd;
	uint16_t port;
	pthread_t thread;
	/* results, valid after server_join */
	int accept_ret;
	int hs_ret;
	int fn_ret;
	char desc[128];
	char errmsg[256];
};

struct client_result {
	int connect_ret;
	int hs_ret;
	int io_ret; /* first read (1: a frame) or write after the handshake */
	struct srdma_frame frame;
	char desc[128];
	char errmsg[256];
};

/* Handshake, write raw bytes in pieces (a pause between them), close mid-stream or not. */
struct raw_write {
	const uint8_t *buf;
	size_t len;
	size_t pieces[4]; /* sizes of the first writes; the rest goes in one last write */
	int close_notify;
};

int64_t now_ms(void);
int wait_fd(int fd, short events, int64_t deadline);
int handshake(struct srdma_tls *t, int64_t deadline);
int expect_close(struct srdma_tls *t, int64_t deadline);
int chan_recv_wait(struct srdma_chan *ch, struct srdma_frame *f, int64_t deadline);
int chan_send_wait(struct srdma_chan *ch, const struct srdma_frame *f, int64_t deadline);
int connect_wait(uint16_t port, int64_t deadline);
int serve_ready(struct srdma_tls *t, void *arg, int64_t deadline);
void server_start(struct server *s, struct srdma_tls_ctx *ctx, server_fn fn, void *arg);
void server_join(struct server *s);
void client_result_init(struct client_result *r);
void client_open(struct srdma_tls_ctx *ctx, const char *name, uint16_t port, int64_t deadline,
		 struct client_result *r, struct srdma_tls **out);
void client_close(struct srdma_tls *t, struct client_result *r);
void client_write_raw(struct srdma_tls_ctx *ctx, uint16_t port, const struct raw_write *w,
		      struct client_result *r);
struct srdma_tls_ctx *server_ctx(const struct certs *c, const char *client_ca,
				 enum srdma_tls_version min);
struct srdma_tls_ctx *client_ctx(const char *ca, const char *cert, const char *key,
				 enum srdma_tls_version min);
void run_session(struct srdma_tls_ctx *sctx, struct srdma_tls_ctx *cctx, const char *name,
		 struct server *s, struct client_result *r);
void assert_session_ok(const struct server *s, const struct client_result *r);
void assert_client_refused(const struct client_result *r);
void assert_version(const char *desc, const char *version);

#endif
