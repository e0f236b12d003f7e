/* srdma-bench's shared pieces: the settings of a run, statistics, JSON output, sessions, and
 * the runners of each mode (latency and load in bench_load.c, set-up and scale in
 * bench_scale.c, the helpers in bench_common.c, options and main in srdma-bench.c). */
#ifndef SRDMA_APPS_BENCH_H
#define SRDMA_APPS_BENCH_H

#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <json-c/json.h>

#include <srdma.h>

#include "echo_client.h"
#include "config.h"
#include "log.h"

#define DEFAULT_ITERS	   1000
#define DEFAULT_DURATION_S 3
#define DEFAULT_WRITE_SIZE 65536u
#define DEFAULT_VERIFIED   20
#define MAX_SESSIONS	   100000u
/* Connections set up at once by the load modes: a storm of hundreds of simultaneous TLS
 * handshakes is a different measurement (and trips the server's handshake deadline under
 * emulation); what is measured there is the steady state with every session connected. */
#define DEFAULT_CONNECT_AT_ONCE 8
#define MiB			(1024.0 * 1024.0)

enum mode {
	MODE_LATENCY,
	MODE_WRITE_BW,
	MODE_MSG_RATE,
	MODE_CLIENTS,
	MODE_SETUP,
	MODE_SCALE,
};

enum op {
	OP_ECHO,
	OP_WRITE,
	OP_PUSH, /* one-way messages (msg-rate), confirmed by a PING per group */
};

struct bench {
	struct srdma_client_config cfg;
	enum mode mode;
	unsigned count; /* N of clients/setup/scale */
	uint32_t size;
	int size_set;
	unsigned iters;
	int iters_set;
	unsigned duration_s;
	int all;
	unsigned qps;
	unsigned warmup;
	enum op op;
	int op_set; /* --op was given */
	unsigned threads;
	unsigned connect_at_once;
	unsigned verified;
	unsigned idle_s;
	int resumption; /* setup: fresh and resumed set-ups alternate (--resumption) */
	int add_qp;	/* setup: one QP added to each connection, timed (--add-qp) */
	long server_pid;
	char json_path[SRDMA_PATH_MAX];
	char csv_path[SRDMA_PATH_MAX];
	char samples_path[SRDMA_PATH_MAX];
	char label[SRDMA_NAME_MAX];
	FILE *samples;
	struct json_object *out; /* the JSON result being built */
	struct srdma_ctx *ctx;	 /* shared by every session (thread-safe) */
	uint64_t ctx_us;	 /* what creating it took */
};

/* SIGINT/SIGTERM: end the measurement early (results so far are still reported). */

struct vec {
	uint64_t *v;
	size_t n, cap;
};

struct stats {
	size_t n;
	double min, p50, avg, p99, p999, max, stdev; /* microseconds */
};

/* 1 once SIGINT or SIGTERM asked the run to stop (the flag stays in srdma-bench.c). */
int bench_stopping(void);
int vec_push(struct vec *s, uint64_t x);
void vec_free(struct vec *s);
int cmp_u64(const void *a, const void *b);
struct stats summarize(struct vec *s);
void jint(struct json_object *o, const char *k, int64_t v);
void jdbl(struct json_object *o, const char *k, double v);
void jstr(struct json_object *o, const char *k, const char *v);
struct json_object *jstats(const struct stats *st);
struct json_object *results(struct bench *b);
void fill(uint8_t *buf, uint32_t len, uint64_t session, uint64_t i);
int session_open(const struct bench *b, uint32_t size, int writes, struct echo_client **out,
		 char *err, size_t errlen);
void describe_session(struct bench *b, struct echo_client *cl);
int run_latency(struct bench *b, FILE *csv);
int run_loads(struct bench *b, FILE *csv);
int run_setup(struct bench *b, FILE *csv);
int run_scale(struct bench *b, FILE *csv);
uint64_t now_ns(void);

#endif
