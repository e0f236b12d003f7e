/* srdma-apitest's shared shapes and helpers (apitest_util.c): sessions, waits on the control
 * channel and the message QP, the application's own verbs on raw QPs, JSON output. The
 * listener's side is apitest_serve.c, the connector's message scenarios apitest_msgs.c, the
 * connector's others and main() srdma-apitest.c. */
#ifndef SRDMA_APITEST_H
#define SRDMA_APITEST_H
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <json-c/json.h>

#include <srdma.h>

#define STEP_MS	     60000 /* bound on every wait of a scenario step */
#define PAT_LEN	     256   /* bytes of one raw SEND */
#define REGION_LEN   4096
#define WC_STASH     64
#define MAX_SESSIONS 64

struct opts {
	const char *cert, *key, *ca;
	const char *refuse_cn;
	const char *scenario;
	const char *host;
	uint16_t port;
	enum srdma_dp_mode dp;
	unsigned sessions;
	unsigned nqp;
	unsigned qps;
	unsigned count;
	unsigned pause_ms;
	unsigned timeout_ms;
	unsigned timeout_s;
	unsigned heartbeat_ms;	 /* 0: the library's default */
	unsigned rekey_messages; /* 0: the library's default */
	unsigned max_qps;	 /* serve: srdma_listener_set_max_qps (0: not called) */
};

/* One side of a connection, with what arrived while waiting for something else. */
struct sess {
	struct srdma_conn *c;
	char err[512];
	uint8_t added[256], revoked[256];
	struct {
		uint32_t len;
		uint8_t data[SRDMA_CTRL_MAX];
	} ctrl[16];
	unsigned nctrl;
	int peer_closed;
	/* SRDMA_EV_QP_ADDED and SRDMA_EV_QP_ADD_FAILED, by index, and the last failure's text */
	uint8_t qp_added[SRDMA_MAX_QPS + 1], qp_add_failed[SRDMA_MAX_QPS + 1];
	unsigned nqp_added, nqp_add_failed;
	char add_failed_text[SRDMA_CTRL_MAX + 1];
	struct {
		struct ibv_cq *cq;
		struct ibv_wc wc;
	} stash[WC_STASH];
	unsigned nstash;
};

int64_t now_us(void);
void sleep_ms(unsigned ms);
__attribute__((format(printf, 2, 3))) int failf(struct sess *s, const char *fmt, ...);
void pattern(uint8_t *buf, size_t len, uint32_t seed);
const char *dp_name(enum srdma_dp_mode m);
int pump(struct sess *s, int ms);
int wait_ctrl(struct sess *s, char *buf, size_t cap);
int expect_ctrl(struct sess *s, const char *want);
int send_ctrl(struct sess *s, const char *msg);
int wait_flag(struct sess *s, const uint8_t *flags, uint32_t id, const char *what);
int flush_ctrl(struct sess *s);
int wait_peer_closed(struct sess *s);
int send_msg(struct sess *s, const void *buf, size_t len);
int recv_msg(struct sess *s, void *buf, size_t cap, size_t *len, uint32_t *seq);
int send_str(struct sess *s, const char *msg);
int expect_msg(struct sess *s, const char *want);
int wait_wc(struct sess *s, struct ibv_cq *cq, uint64_t wr_id, struct ibv_wc *out);
int wait_ok(struct sess *s, unsigned qp, uint64_t wr_id, const char *what);
int post_recv(struct sess *s, unsigned qp, struct ibv_mr *mr, void *buf, uint32_t len,
	      uint64_t wr_id);
int post_send(struct sess *s, unsigned qp, enum ibv_wr_opcode op, struct ibv_mr *mr, void *buf,
	      uint32_t len, uint64_t raddr, uint32_t rkey, uint64_t wr_id);
struct ibv_mr *reg(struct sess *s, void *buf, size_t len, int access);
void dereg(struct ibv_mr **mr);
void add_int(json_object *o, const char *k, int64_t v);
void add_bool(json_object *o, const char *k, int v);
void add_str(json_object *o, const char *k, const char *v);
int add_secrets(struct sess *s, json_object *o);
/* The same under another key (e.g. after QPs were added). */
int add_secrets_as(struct sess *s, json_object *o, const char *key);
/* A message on QP qp (send_msg / recv_msg / expect_msg on any messages QP). */
int send_msg_on(struct sess *s, unsigned qp, const void *buf, size_t len);
int expect_msg_on(struct sess *s, unsigned qp, const char *want);
void print_json(json_object *o);

/* apitest_serve.c: accept --sessions sessions and play each one's scenario. */
int serve(struct opts *o);

/* The connector's message scenarios (apitest_msgs.c). */
#define LIMITS_SEND 1000u /* the limits scenario's max_send: under a page, not a power of two */
int run_echo(struct opts *o, struct sess *s, json_object *out);
int run_limits(struct sess *s, json_object *out);
int run_busy(struct opts *o, struct sess *s, json_object *out);
int run_sizes(struct sess *s, json_object *out);

#endif
