/* srdma-bench: latency, RDMA-write bandwidth, message rate, many clients, connection set-up
 * time and scale, measured through the public client API (include/srdma/client.h) against a
 * running srdma-server. Every echoed byte and every RDMA-written region is verified, so a fast
 * wrong answer cannot pass for a fast right one. Results as a table, JSON (--json) and CSV. */
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

#include <srdma/client.h>
#include <srdma/config.h>
#include <srdma/log.h>

#include "cli.h"

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

static const struct cli_opt opts[] = {
    CLI_CLIENT_OPTS,
    {"size", 's', "BYTES", "b_size",
     "bytes per message or RDMA write (default 64; write-bw 65536); with -a the largest size"},
    {"iters", 'n', "N", "b_iters",
     "timed iterations (latency: per size, default 1000; other modes: per session)"},
    {"duration", 'D', "SECONDS", "b_duration",
     "run each measurement this long instead of -n (write-bw, msg-rate, clients: default 3)"},
    {"all", 'a', NULL, "b_all", "every power of two from 2 bytes up to -s"},
    {"qps", 'q', "N", "b_qps", "sessions (RC QPs), one thread each, for write-bw and msg-rate"},
    {"warmup", 0, "N", "b_warmup", "untimed operations per session first (default 20)"},
    {"op", 0, "echo|write", "b_op", "what each client does in clients mode (default echo)"},
    {"threads", 0, "N", "b_threads",
     "threads driving the sessions (clients: default one per session; scale: default 4)"},
    {"connect-at-once", 0, "N", "b_connect_at_once",
     "write-bw, msg-rate, clients: sessions setting up at the same time (default 8)"},
    {"verified", 0, "N", "b_verified",
     "RDMA writes verified one by one after the raw phase, per session (default 20)"},
    {"idle", 0, "SECONDS", "b_idle", "scale: how long the sessions sit idle (default 10)"},
    {"server-pid", 0, "PID", "b_server_pid",
     "sample this server process's CPU time, memory and descriptors from /proc"},
    {"json", 0, "FILE", "b_json", "write the results as one JSON object to FILE (- = stdout)"},
    {"csv", 0, "FILE", "b_csv", "write the result table as CSV to FILE"},
    {"samples", 0, "FILE", "b_samples",
     "write every timed sample as CSV to FILE (latency, setup, clients)"},
    {"label", 0, "TEXT", "b_label", "free text stored in the JSON (e.g. the run's name)"},
    {0},
};

enum mode {
	MODE_LATENCY,
	MODE_WRITE_BW,
	MODE_MSG_RATE,
	MODE_CLIENTS,
	MODE_SETUP,
	MODE_SCALE,
};

static const char *const mode_names[] = {"latency", "write-bw", "msg-rate",
					 "clients", "setup",	"scale"};

enum op {
	OP_ECHO,
	OP_WRITE,
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
	unsigned threads;
	unsigned connect_at_once;
	unsigned verified;
	unsigned idle_s;
	long server_pid;
	char json_path[SRDMA_PATH_MAX];
	char csv_path[SRDMA_PATH_MAX];
	char samples_path[SRDMA_PATH_MAX];
	char label[SRDMA_NAME_MAX];
	FILE *samples;
	struct json_object *out; /* the JSON result being built */
};

/* SIGINT/SIGTERM: end the measurement early (results so far are still reported). */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- options ------------------------------------------------------------------------------ */

static int parse_uint(const char *value, unsigned long min, unsigned long max, unsigned long *out,
		      char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || value[0] == '-' || v < min || v > max) {
		snprintf(err, errlen, "\"%s\" is not a number from %lu to %lu", value, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *value, char *err, size_t errlen)
{
	if (strlen(value) >= cap) {
		snprintf(err, errlen, "value too long");
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", value);
	return 0;
}

/* Bench keys (b_*) land in struct bench; every other key is the client's. */
static int set(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	struct bench *b = arg;
	unsigned long v;
	int ret = 0;

	if (strncmp(key, "b_", 2) != 0)
		return srdma_client_config_set(&b->cfg, key, value, err, errlen);
	key += 2;
	if (!strcmp(key, "size")) {
		ret = parse_uint(value, 1, SRDMA_MAX_MSG, &v, err, errlen);
		b->size = (uint32_t)v;
		b->size_set = 1;
	} else if (!strcmp(key, "iters")) {
		ret = parse_uint(value, 1, 1000000000ul, &v, err, errlen);
		b->iters = (unsigned)v;
		b->iters_set = 1;
	} else if (!strcmp(key, "duration")) {
		ret = parse_uint(value, 1, 86400, &v, err, errlen);
		b->duration_s = (unsigned)v;
	} else if (!strcmp(key, "all")) {
		b->all = 1;
	} else if (!strcmp(key, "qps")) {
		ret = parse_uint(value, 1, 1024, &v, err, errlen);
		b->qps = (unsigned)v;
	} else if (!strcmp(key, "warmup")) {
		ret = parse_uint(value, 0, 1000000, &v, err, errlen);
		b->warmup = (unsigned)v;
	} else if (!strcmp(key, "op")) {
		if (!strcmp(value, "echo"))
			b->op = OP_ECHO;
		else if (!strcmp(value, "write"))
			b->op = OP_WRITE;
		else {
			snprintf(err, errlen, "expected echo or write");
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "threads")) {
		ret = parse_uint(value, 1, 4096, &v, err, errlen);
		b->threads = (unsigned)v;
	} else if (!strcmp(key, "connect_at_once")) {
		ret = parse_uint(value, 1, 4096, &v, err, errlen);
		b->connect_at_once = (unsigned)v;
	} else if (!strcmp(key, "verified")) {
		ret = parse_uint(value, 0, 1000000, &v, err, errlen);
		b->verified = (unsigned)v;
	} else if (!strcmp(key, "idle")) {
		ret = parse_uint(value, 0, 86400, &v, err, errlen);
		b->idle_s = (unsigned)v;
	} else if (!strcmp(key, "server_pid")) {
		ret = parse_uint(value, 1, INT_MAX, &v, err, errlen);
		b->server_pid = (long)v;
	} else if (!strcmp(key, "json")) {
		ret = copy_str(b->json_path, sizeof(b->json_path), value, err, errlen);
	} else if (!strcmp(key, "csv")) {
		ret = copy_str(b->csv_path, sizeof(b->csv_path), value, err, errlen);
	} else if (!strcmp(key, "samples")) {
		ret = copy_str(b->samples_path, sizeof(b->samples_path), value, err, errlen);
	} else if (!strcmp(key, "label")) {
		ret = copy_str(b->label, sizeof(b->label), value, err, errlen);
	}
	return ret;
}

static int load(void *arg, const char *path, char *err, size_t errlen)
{
	struct bench *b = arg;

	return srdma_client_config_load(&b->cfg, path, err, errlen);
}

/* --- statistics --------------------------------------------------------------------------- */

struct vec {
	uint64_t *v;
	size_t n, cap;
};

static int vec_push(struct vec *s, uint64_t x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

static void vec_free(struct vec *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	size_t n;
	double min, p50, avg, p99, p999, max, stdev; /* microseconds */
};

/* Nearest-rank percentile of sorted values. */
static uint64_t pct(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Sorts s (nanoseconds) and summarises it in microseconds. */
static struct stats summarize(struct vec *s)
{
	struct stats st = {0};
	double sum = 0, sq = 0;
	size_t i;

	if (!s->n)
		return st;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	for (i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	st.n = s->n;
	st.avg = sum / (double)s->n / 1e3;
	for (i = 0; i < s->n; i++) {
		double d = (double)s->v[i] / 1e3 - st.avg;

		sq += d * d;
	}
	st.stdev = s->n > 1 ? sqrt(sq / (double)(s->n - 1)) : 0;
	st.min = (double)s->v[0] / 1e3;
	st.max = (double)s->v[s->n - 1] / 1e3;
	st.p50 = (double)pct(s->v, s->n, 50) / 1e3;
	st.p99 = (double)pct(s->v, s->n, 99) / 1e3;
	st.p999 = (double)pct(s->v, s->n, 99.9) / 1e3;
	return st;
}

/* --- JSON helpers -------------------------------------------------------------------------- */

static void jint(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void jdbl(struct json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(isfinite(v) ? v : 0));
}

static void jstr(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static struct json_object *jstats(const struct stats *st)
{
	struct json_object *o = json_object_new_object();

	jint(o, "n", (int64_t)st->n);
	jdbl(o, "min_us", st->min);
	jdbl(o, "t_typical_us", st->p50);
	jdbl(o, "avg_us", st->avg);
	jdbl(o, "p99_us", st->p99);
	jdbl(o, "p99_9_us", st->p999);
	jdbl(o, "max_us", st->max);
	jdbl(o, "stdev_us", st->stdev);
	return o;
}

static struct json_object *results(struct bench *b)
{
	struct json_object *r;

	if (!json_object_object_get_ex(b->out, "results", &r)) {
		r = json_object_new_array();
		json_object_object_add(b->out, "results", r);
	}
	return r;
}

/* --- sessions ----------------------------------------------------------------------------- */

/* The pattern for message i of a session: differs per session, message and byte position, so
 * a stale or misplaced buffer cannot pass for the right one. */
static void fill(uint8_t *buf, uint32_t len, uint64_t session, uint64_t i)
{
	uint64_t x = session * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull + 1;
	uint32_t j;

	for (j = 0; j < len; j++) {
		x ^= x >> 29;
		x *= 0x94d049bb133111ebull;
		buf[j] = (uint8_t)(x >> 56);
	}
}

/* Connect one session able to echo `size` bytes and, with `writes`, RDMA-write them. */
static int session_open(const struct bench *b, uint32_t size, int writes, struct srdma_client **out,
			char *err, size_t errlen)
{
	struct srdma_client_config cfg = b->cfg;

	cfg.size = size;
	cfg.count = 1;
	cfg.writes = writes ? 1 : 0;
	return srdma_client_connect(&cfg, out, err, errlen);
}

static void describe_session(struct bench *b, struct srdma_client *cl)
{
	struct srdma_client_info info;

	srdma_client_get_info(cl, &info);
	jstr(b->out, "tls", info.tls);
	jstr(b->out, "device", info.device);
	jint(b->out, "path_mtu", info.path_mtu);
	jstr(b->out, "dataplane", info.dataplane == SRDMA_DP_AEAD ? "aead" : "plain");
}

/* --- latency ------------------------------------------------------------------------------ */

static void print_latency_header(void)
{
	printf(" %-8s %-11s %12s %12s %16s %12s %14s %12s %13s\n", "#bytes", "#iterations",
	       "t_min[usec]", "t_max[usec]", "t_typical[usec]", "t_avg[usec]", "t_stdev[usec]",
	       "99%[usec]", "99.9%[usec]");
}

static int run_latency(struct bench *b, FILE *csv)
{
	struct srdma_client *cl;
	uint32_t size, first = b->all ? 2 : b->size;
	uint8_t *buf;
	char err[512];
	int ret;

	buf = malloc(b->size);
	if (!buf)
		return -ENOMEM;
	ret = session_open(b, b->size, 0, &cl, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "srdma-bench: %s\n", err);
		free(buf);
		return ret;
	}
	describe_session(b, cl);
	print_latency_header();
	if (csv)
		fprintf(csv, "size,iters,min_us,t_typical_us,avg_us,p99_us,p99_9_us,max_us,"
			     "stdev_us\n");
	if (b->samples)
		fprintf(b->samples, "size,iter,rtt_us\n");
	for (size = first; size <= b->size && !ret && !stop_requested;
	     size = size < b->size && 2 * size > b->size ? b->size : 2 * size) {
		struct vec s = {0};
		uint64_t deadline = b->duration_s ? now_ns() + b->duration_s * 1000000000ull : 0;
		struct json_object *row;
		struct stats st;
		unsigned i;

		for (i = 0; i < b->warmup && !ret; i++) {
			fill(buf, size, size, i);
			ret = srdma_client_echo(cl, buf, size);
		}
		for (i = 0;
		     !ret && !stop_requested && (deadline ? now_ns() < deadline : i < b->iters);
		     i++) {
			uint64_t t0, t1;

			fill(buf, size, size, b->warmup + i);
			t0 = now_ns();
			ret = srdma_client_echo(cl, buf, size);
			t1 = now_ns();
			if (!ret && vec_push(&s, t1 - t0))
				ret = -ENOMEM;
			if (!ret && b->samples)
				fprintf(b->samples, "%u,%u,%.3f\n", size, i,
					(double)(t1 - t0) / 1e3);
		}
		if (ret) {
			fprintf(stderr, "srdma-bench: echo of %u bytes: %s\n", size,
				srdma_client_errmsg(cl));
			vec_free(&s);
			break;
		}
		st = summarize(&s);
		printf(" %-8u %-11zu %12.2f %12.2f %16.2f %12.2f %14.2f %12.2f %13.2f\n", size,
		       st.n, st.min, st.max, st.p50, st.avg, st.stdev, st.p99, st.p999);
		if (csv)
			fprintf(csv, "%u,%zu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n", size, st.n,
				st.min, st.p50, st.avg, st.p99, st.p999, st.max, st.stdev);
		row = jstats(&st);
		jint(row, "size", size);
		json_object_array_add(results(b), row);
		vec_free(&s);
		if (size == b->size)
			break;
	}
	if (!ret)
		ret = srdma_client_quit(cl);
	if (ret)
		fprintf(stderr, "srdma-bench: %s\n", srdma_client_errmsg(cl));
	srdma_client_close(cl);
	free(buf);
	return ret;
}

/* --- load: write-bw, msg-rate, clients ------------------------------------------------------ */

struct load;

struct lsess {
	struct srdma_client *cl;
	struct srdma_params remote;
	uint64_t ops;
	uint64_t connect_us;
	int ok; /* connected and not failed */
};

struct lthread {
	struct load *ld;
	pthread_t thread;
	unsigned first, n; /* sessions [first, first + n) */
	struct vec stamps; /* completion time of every timed operation (ns) */
	uint8_t *buf;
	uint64_t end_ns;
	uint64_t verify_ns; /* the one verification after the raw phase, summed */
	uint64_t vwrite_ns; /* the verified writes */
	uint64_t vwrites;   /* verified writes done */
	int ret;
	char err[512];
};

/* Threads report ready once their sessions are connected and warmed up, then wait for the
 * go, so that every session starts the timed phase together. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	int go;
};

static void gate_ready_and_wait(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->ready++;
	pthread_cond_broadcast(&g->cond);
	while (!g->go)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open_when(struct gate *g, unsigned ready, void (*before)(void *), void *arg)
{
	pthread_mutex_lock(&g->lock);
	while (g->ready < ready)
		pthread_cond_wait(&g->cond, &g->lock);
	before(arg);
	g->go = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

struct load {
	const struct bench *b;
	enum op op;
	uint32_t size;
	unsigned nsess, nthreads;
	struct lsess *s;
	struct lthread *t;
	struct gate gate;
	sem_t connecting; /* bounds the set-ups in progress */
	uint64_t start_ns, deadline_ns;
	atomic_int failed;
};

static int lsess_fail(struct lthread *t, struct lsess *s, const char *what, int ret)
{
	snprintf(t->err, sizeof(t->err), "%s: %s", what,
		 s->cl ? srdma_client_errmsg(s->cl) : "not connected");
	s->ok = 0;
	t->ret = ret;
	atomic_store(&t->ld->failed, 1);
	return ret;
}

/* One operation on session idx: an echo verified byte for byte, or a raw RDMA write. */
static int do_op(struct lthread *t, unsigned idx, uint64_t i)
{
	struct load *ld = t->ld;
	struct lsess *s = &ld->s[idx];

	if (ld->op == OP_ECHO) {
		/* Each message differs from the last in its first bytes (the session and the
		 * operation number), cheaply: the rest was filled once. */
		uint64_t tag = i ^ ((uint64_t)idx << 40);

		memcpy(t->buf, &tag, ld->size < sizeof(tag) ? ld->size : sizeof(tag));
		return srdma_client_echo(s->cl, t->buf, ld->size);
	}
	return srdma_client_write_raw(s->cl, ld->size, s->remote.write_addr, s->remote.write_rkey);
}

static void *load_thread(void *arg)
{
	struct lthread *t = arg;
	struct load *ld = t->ld;
	const struct bench *b = ld->b;
	unsigned k, idx;
	uint64_t i;
	int ret;

	for (k = 0; k < t->n && !t->ret; k++) {
		struct lsess *s = &ld->s[t->first + k];
		struct srdma_client_info info;

		idx = t->first + k;
		while (sem_wait(&ld->connecting) && errno == EINTR)
			;
		ret = session_open(b, ld->size, ld->op == OP_WRITE, &s->cl, t->err, sizeof(t->err));
		sem_post(&ld->connecting);
		if (ret) {
			t->ret = ret;
			atomic_store(&ld->failed, 1);
			break;
		}
		s->ok = 1;
		fill(t->buf, ld->size, idx, 0);
		srdma_client_get_info(s->cl, &info);
		s->connect_us = info.connect_us;
		srdma_client_get_remote(s->cl, &s->remote);
		/* The write source is filled (and its landing verified) once, up front. */
		if (ld->op == OP_WRITE) {
			fill(t->buf, ld->size, idx, 0);
			ret = srdma_client_write(s->cl, t->buf, ld->size, 0);
			if (ret) {
				lsess_fail(t, s, "first verified write", ret);
				break;
			}
		}
		for (i = 0; i < b->warmup && !t->ret; i++) {
			ret = do_op(t, idx, i);
			if (ret)
				lsess_fail(t, s, "warm-up", ret);
		}
	}
	gate_ready_and_wait(&ld->gate);

	/* Round robin over this thread's sessions (one each when threads == sessions). */
	for (i = 0; !t->ret && !atomic_load(&ld->failed) && !stop_requested; i++) {
		uint64_t now;

		if (b->iters_set ? i >= b->iters : now_ns() >= ld->deadline_ns)
			break;
		for (k = 0; k < t->n && !t->ret; k++) {
			idx = t->first + k;
			ret = do_op(t, idx, b->warmup + i);
			if (ret) {
				lsess_fail(t, &ld->s[idx], ld->op == OP_ECHO ? "echo" : "write",
					   ret);
				break;
			}
			now = now_ns();
			ld->s[idx].ops++;
			if (vec_push(&t->stamps, now)) {
				t->ret = -ENOMEM;
				break;
			}
		}
	}
	t->end_ns = now_ns();

	/* Writes: the server checks the region still holds what was written, then writes are
	 * made and verified one by one (RDMA write + WRITE_DONE + the server's digest). */
	for (k = 0; k < t->n && !t->ret && ld->op == OP_WRITE; k++) {
		struct lsess *s = &ld->s[t->first + k];
		uint64_t t0 = now_ns();

		idx = t->first + k;
		fill(t->buf, ld->size, idx, 0);
		ret = srdma_client_verify(s->cl, t->buf, ld->size, 0);
		t->verify_ns += now_ns() - t0;
		if (ret) {
			lsess_fail(t, s, "verification of the raw writes", ret);
			break;
		}
		t0 = now_ns();
		for (i = 0; i < b->verified && !stop_requested; i++) {
			fill(t->buf, ld->size, idx, i + 1);
			ret = srdma_client_write(s->cl, t->buf, ld->size, 0);
			if (ret) {
				lsess_fail(t, s, "verified write", ret);
				break;
			}
			t->vwrites++;
		}
		t->vwrite_ns += now_ns() - t0;
	}
	for (k = 0; k < t->n; k++) {
		struct lsess *s = &ld->s[t->first + k];

		if (s->cl && s->ok) {
			ret = srdma_client_quit(s->cl);
			if (ret)
				lsess_fail(t, s, "quit", ret);
		}
		srdma_client_close(s->cl);
		s->cl = NULL;
	}
	return NULL;
}

/* Highest throughput over any run of `win` consecutive completions (ops per second). */
static double peak_rate(struct vec *stamps, size_t win)
{
	double best = 0;
	size_t i;

	if (stamps->n <= win)
		return 0;
	qsort(stamps->v, stamps->n, sizeof(*stamps->v), cmp_u64);
	for (i = 0; i + win < stamps->n; i++) {
		uint64_t dt = stamps->v[i + win] - stamps->v[i];

		if (dt && (double)win * 1e9 / (double)dt > best)
			best = (double)win * 1e9 / (double)dt;
	}
	return best;
}

static void print_bw_header(void)
{
	printf(" %-8s %-9s %-12s %17s %20s %19s %14s\n", "#bytes", "#sessions", "#operations",
	       "BW peak[MiB/sec]", "BW average[MiB/sec]", "BW average[Gb/sec]", "MsgRate[Mpps]");
}

static void start_clock(void *arg)
{
	struct load *ld = arg;

	ld->start_ns = now_ns();
	ld->deadline_ns = ld->start_ns + (uint64_t)ld->b->duration_s * 1000000000ull;
}

/* Run nsess sessions of op at size on nthreads threads; one result row. */
static int run_load(struct bench *b, enum op op, uint32_t size, unsigned nsess, unsigned nthreads,
		    FILE *csv)
{
	struct load ld = {.b = b, .op = op, .size = size, .nsess = nsess, .nthreads = nthreads};
	struct vec all = {0}, per = {0}, conn = {0};
	uint64_t ops = 0, end = 0, vwrites = 0, vwrite_ns = 0, verify_ns = 0;
	double secs, rate, peak, per_min = 0, per_max = 0;
	struct json_object *row;
	struct stats cst;
	unsigned i, started = 0;
	int ret = 0;

	ld.s = calloc(nsess, sizeof(*ld.s));
	ld.t = calloc(nthreads, sizeof(*ld.t));
	if (!ld.s || !ld.t) {
		free(ld.s);
		free(ld.t);
		return -ENOMEM;
	}
	pthread_mutex_init(&ld.gate.lock, NULL);
	pthread_cond_init(&ld.gate.cond, NULL);
	sem_init(&ld.connecting, 0, b->connect_at_once);
	for (i = 0; i < nthreads; i++) {
		struct lthread *t = &ld.t[i];

		t->ld = &ld;
		t->first = (unsigned)((uint64_t)nsess * i / nthreads);
		t->n = (unsigned)((uint64_t)nsess * (i + 1) / nthreads) - t->first;
		t->buf = malloc(size);
		if (!t->buf || pthread_create(&t->thread, NULL, load_thread, t)) {
			fprintf(stderr, "srdma-bench: cannot start thread %u\n", i);
			ret = -ENOMEM;
			break;
		}
		started++;
	}
	if (started < nthreads) {
		atomic_store(&ld.failed, 1);
		for (i = started; i < nthreads; i++) {
			free(ld.t[i].buf);
			ld.t[i].buf = NULL;
		}
	}
	gate_open_when(&ld.gate, started, start_clock, &ld);
	for (i = 0; i < started; i++)
		pthread_join(ld.t[i].thread, NULL);
	pthread_cond_destroy(&ld.gate.cond);
	pthread_mutex_destroy(&ld.gate.lock);
	sem_destroy(&ld.connecting);

	for (i = 0; i < started; i++) {
		struct lthread *t = &ld.t[i];
		size_t j;

		if (t->ret && !ret) {
			ret = t->ret;
			fprintf(stderr, "srdma-bench: %u bytes, %u sessions: %s\n", size, nsess,
				t->err);
		}
		if (t->end_ns > end)
			end = t->end_ns;
		for (j = 0; j < t->stamps.n; j++)
			if (vec_push(&all, t->stamps.v[j]))
				ret = -ENOMEM;
		vwrites += t->vwrites;
		if (t->vwrite_ns > vwrite_ns)
			vwrite_ns = t->vwrite_ns;
		verify_ns += t->verify_ns;
		vec_free(&t->stamps);
		free(t->buf);
	}
	if (started < nthreads && !ret)
		ret = -ENOMEM;
	for (i = 0; i < nsess; i++) {
		ops += ld.s[i].ops;
		if (vec_push(&per, ld.s[i].ops) || vec_push(&conn, ld.s[i].connect_us * 1000))
			ret = -ENOMEM;
	}
	secs = end > ld.start_ns ? (double)(end - ld.start_ns) / 1e9 : 0;
	rate = secs > 0 ? (double)ops / secs : 0;
	peak = peak_rate(&all, all.n / 50 > 8 ? all.n / 50 : 8);
	if (peak < rate)
		peak = rate;
	if (per.n) {
		qsort(per.v, per.n, sizeof(*per.v), cmp_u64);
		per_min = secs > 0 ? (double)per.v[0] / secs : 0;
		per_max = secs > 0 ? (double)per.v[per.n - 1] / secs : 0;
	}
	cst = summarize(&conn);

	printf(" %-8u %-9u %-12" PRIu64 " %17.2f %20.2f %19.4f %14.6f\n", size, nsess, ops,
	       peak * size / MiB, rate * size / MiB, rate * size * 8 / 1e9, rate / 1e6);
	if (op == OP_WRITE && vwrites && vwrite_ns)
		printf("   verified writes: %" PRIu64 " in %.2f s, %.2f MiB/s; verification of the "
		       "raw phase %.1f us per session\n",
		       vwrites, (double)vwrite_ns / 1e9,
		       (double)vwrites * size / MiB / ((double)vwrite_ns / 1e9),
		       (double)verify_ns / 1e3 / nsess);
	if (nsess > 1)
		printf("   per session: %.1f .. %.1f ops/s (mean %.1f)\n", per_min, per_max,
		       rate / nsess);
	if (csv)
		fprintf(csv, "%s,%u,%u,%" PRIu64 ",%.3f,%.3f,%.3f,%.6f,%.6f,%.3f,%.3f,%.3f\n",
			op == OP_ECHO ? "echo" : "write", size, nsess, ops, secs, peak * size / MiB,
			rate * size / MiB, rate * size * 8 / 1e9, rate / 1e6, rate / nsess, per_min,
			per_max);
	if (b->samples)
		for (i = 0; i < nsess; i++)
			fprintf(b->samples, "%u,%u,%u,%" PRIu64 ",%.3f\n", size, nsess, i,
				ld.s[i].ops, secs > 0 ? (double)ld.s[i].ops / secs : 0);

	row = json_object_new_object();
	jstr(row, "op", op == OP_ECHO ? "echo" : "write");
	jint(row, "size", size);
	jint(row, "sessions", nsess);
	jint(row, "threads", nthreads);
	jint(row, "operations", (int64_t)ops);
	jdbl(row, "seconds", secs);
	jdbl(row, "ops_per_s", rate);
	jdbl(row, "mpps", rate / 1e6);
	jdbl(row, "bw_avg_mib_s", rate * size / MiB);
	jdbl(row, "bw_peak_mib_s", peak * size / MiB);
	jdbl(row, "bw_avg_gb_s", rate * size * 8 / 1e9);
	jdbl(row, "bw_peak_gb_s", peak * size * 8 / 1e9);
	jdbl(row, "per_session_ops_per_s_mean", nsess ? rate / nsess : 0);
	jdbl(row, "per_session_ops_per_s_min", per_min);
	jdbl(row, "per_session_ops_per_s_max", per_max);
	json_object_object_add(row, "connect", jstats(&cst));
	if (op == OP_WRITE) {
		jint(row, "verified_writes", (int64_t)vwrites);
		jdbl(row, "verified_bw_mib_s",
		     vwrite_ns ? (double)vwrites * size / MiB / ((double)vwrite_ns / 1e9) : 0);
		jdbl(row, "raw_phase_verify_us", nsess ? (double)verify_ns / 1e3 / nsess : 0);
	}
	json_object_object_add(row, "ok", json_object_new_boolean(ret == 0));
	json_object_array_add(results(b), row);

	vec_free(&all);
	vec_free(&per);
	vec_free(&conn);
	free(ld.s);
	free(ld.t);
	return ret;
}

static int run_loads(struct bench *b, FILE *csv)
{
	uint32_t size, first = b->all ? 2 : b->size;
	unsigned nsess = b->mode == MODE_CLIENTS ? b->count : b->qps;
	unsigned nthreads = b->threads && b->threads < nsess ? b->threads : nsess;
	enum op op = b->mode == MODE_WRITE_BW	? OP_WRITE
		     : b->mode == MODE_MSG_RATE ? OP_ECHO
						: b->op;
	int ret = 0;

	print_bw_header();
	if (csv)
		fprintf(csv, "op,size,sessions,operations,seconds,bw_peak_mib_s,bw_avg_mib_s,"
			     "bw_avg_gb_s,mpps,per_session_ops_s_mean,per_session_ops_s_min,"
			     "per_session_ops_s_max\n");
	if (b->samples)
		fprintf(b->samples, "size,sessions,session,operations,ops_per_s\n");
	for (size = first; size <= b->size && !ret && !stop_requested;
	     size = size < b->size && 2 * size > b->size ? b->size : 2 * size) {
		ret = run_load(b, op, size, nsess, nthreads, csv);
		if (size == b->size)
			break;
	}
	jint(b->out, "sessions", nsess);
	jstr(b->out, "op", op == OP_ECHO ? "echo" : "write");
	return ret;
}

/* --- set-up time --------------------------------------------------------------------------- */

static const char *const step_names[] = {"tls_ctx",   "tcp",	"tls",	   "hello",
					 "resources", "params", "qp",	   "ready",
					 "welcome",   "total",	"teardown"};
#define NSTEPS (sizeof(step_names) / sizeof(step_names[0]))

static void timing_steps(const struct srdma_client_timing *t, uint64_t us[NSTEPS])
{
	us[0] = t->tls_ctx_us;
	us[1] = t->tcp_us;
	us[2] = t->tls_us;
	us[3] = t->hello_us;
	us[4] = t->resources_us;
	us[5] = t->params_us;
	us[6] = t->qp_us;
	us[7] = t->ready_us;
	us[8] = t->welcome_us;
	us[9] = t->total_us;
}

static int run_setup(struct bench *b, FILE *csv)
{
	struct vec steps[NSTEPS] = {{0}};
	struct json_object *o = json_object_new_object();
	uint8_t buf[64];
	unsigned i, k, done = 0;
	int ret = 0;

	if (b->samples) {
		fprintf(b->samples, "conn");
		for (k = 0; k < NSTEPS; k++)
			fprintf(b->samples, ",%s_us", step_names[k]);
		fprintf(b->samples, "\n");
	}
	for (i = 0; i < b->count && !stop_requested; i++) {
		struct srdma_client_timing tm;
		struct srdma_client *cl;
		uint64_t us[NSTEPS], t0;
		char err[512];

		ret = session_open(b, sizeof(buf), 0, &cl, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "srdma-bench: connection %u: %s\n", i + 1, err);
			break;
		}
		if (i == 0)
			describe_session(b, cl);
		srdma_client_get_timing(cl, &tm);
		timing_steps(&tm, us);
		/* Not timed: one echo proves the connection works. */
		fill(buf, sizeof(buf), i, 0);
		ret = srdma_client_echo(cl, buf, sizeof(buf));
		t0 = now_ns();
		if (!ret)
			ret = srdma_client_quit(cl);
		if (ret)
			fprintf(stderr, "srdma-bench: connection %u: %s\n", i + 1,
				srdma_client_errmsg(cl));
		srdma_client_close(cl);
		us[NSTEPS - 1] = (now_ns() - t0) / 1000;
		if (ret)
			break;
		for (k = 0; k < NSTEPS; k++)
			if (vec_push(&steps[k], us[k] * 1000))
				ret = -ENOMEM;
		if (b->samples) {
			fprintf(b->samples, "%u", i);
			for (k = 0; k < NSTEPS; k++)
				fprintf(b->samples, ",%" PRIu64, us[k]);
			fprintf(b->samples, "\n");
		}
		done++;
	}
	printf(" %-10s %10s %10s %10s %10s %10s %10s\n", "step", "min[usec]", "p50[usec]",
	       "avg[usec]", "p99[usec]", "max[usec]", "stdev");
	if (csv)
		fprintf(csv, "step,n,min_us,t_typical_us,avg_us,p99_us,p99_9_us,max_us,stdev_us\n");
	for (k = 0; k < NSTEPS; k++) {
		struct stats st = summarize(&steps[k]);

		printf(" %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", step_names[k], st.min,
		       st.p50, st.avg, st.p99, st.max, st.stdev);
		if (csv)
			fprintf(csv, "%s,%zu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", step_names[k],
				st.n, st.min, st.p50, st.avg, st.p99, st.p999, st.max, st.stdev);
		json_object_object_add(o, step_names[k], jstats(&st));
		vec_free(&steps[k]);
	}
	printf(" %u of %u connections set up, verified with one echo and quit\n", done, b->count);
	json_object_object_add(b->out, "steps", o);
	jint(b->out, "connections", b->count);
	jint(b->out, "connections_ok", done);
	return ret;
}

/* --- scale --------------------------------------------------------------------------------- */

struct proc_sample {
	int ok;
	uint64_t cpu_ticks; /* utime + stime */
	long rss_kb;
	long hwm_kb;
	long threads;
	long fds;
};

static void sample_proc(long pid, struct proc_sample *ps)
{
	char path[64], line[512];
	FILE *f;
	DIR *d;

	memset(ps, 0, sizeof(*ps));
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		/* Fields after the command name, which may hold spaces: skip past its ')'. */
		char *p = strrchr(line, ')');
		unsigned long ut = 0, st = 0;

		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				&st) == 2) {
			ps->cpu_ticks = ut + st;
			ps->ok = 1;
		}
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "VmRSS: %ld", &ps->rss_kb);
			sscanf(line, "VmHWM: %ld", &ps->hwm_kb);
			sscanf(line, "Threads: %ld", &ps->threads);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	d = opendir(path);
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				ps->fds++;
		closedir(d);
	}
}

static struct json_object *jproc(const struct proc_sample *ps)
{
	struct json_object *o = json_object_new_object();

	jint(o, "rss_kib", ps->rss_kb);
	jint(o, "hwm_kib", ps->hwm_kb);
	jint(o, "threads", ps->threads);
	jint(o, "fds", ps->fds);
	jint(o, "cpu_ticks", (int64_t)ps->cpu_ticks);
	return o;
}

struct scale {
	struct bench *b;
	struct srdma_client **cl;
	uint64_t *connect_us;
	atomic_uint opened, verified, verified_after, quit_ok, failed;
	unsigned nthreads;
	int phase; /* 0: open and verify, 1: verify again, quit and close */
	pthread_mutex_t lock;
	char first_err[640];
};

static void scale_error(struct scale *sc, unsigned idx, const char *what, const char *why)
{
	atomic_fetch_add(&sc->failed, 1);
	pthread_mutex_lock(&sc->lock);
	if (!sc->first_err[0])
		snprintf(sc->first_err, sizeof(sc->first_err), "session %u: %s: %s", idx, what,
			 why);
	pthread_mutex_unlock(&sc->lock);
}

struct scale_arg {
	struct scale *sc;
	unsigned id;
};

static void *scale_thread(void *arg)
{
	struct scale_arg *a = arg;
	struct scale *sc = a->sc;
	uint8_t buf[64];
	unsigned i;

	for (i = a->id; i < sc->b->count && !stop_requested; i += sc->nthreads) {
		struct srdma_client_info info;
		char err[512];
		int ret;

		if (sc->phase == 0) {
			ret = session_open(sc->b, sizeof(buf), 0, &sc->cl[i], err, sizeof(err));
			if (ret) {
				sc->cl[i] = NULL;
				scale_error(sc, i, "connect", err);
				continue;
			}
			atomic_fetch_add(&sc->opened, 1);
			srdma_client_get_info(sc->cl[i], &info);
			sc->connect_us[i] = info.connect_us;
			fill(buf, sizeof(buf), i, 0);
			ret = srdma_client_echo(sc->cl[i], buf, sizeof(buf));
			if (ret) {
				scale_error(sc, i, "echo", srdma_client_errmsg(sc->cl[i]));
				srdma_client_close(sc->cl[i]);
				sc->cl[i] = NULL;
				continue;
			}
			atomic_fetch_add(&sc->verified, 1);
			continue;
		}
		if (!sc->cl[i])
			continue;
		fill(buf, sizeof(buf), i, 1);
		ret = srdma_client_echo(sc->cl[i], buf, sizeof(buf));
		if (ret) {
			scale_error(sc, i, "echo after idle", srdma_client_errmsg(sc->cl[i]));
		} else {
			atomic_fetch_add(&sc->verified_after, 1);
			ret = srdma_client_quit(sc->cl[i]);
			if (ret)
				scale_error(sc, i, "quit", srdma_client_errmsg(sc->cl[i]));
			else
				atomic_fetch_add(&sc->quit_ok, 1);
		}
		srdma_client_close(sc->cl[i]);
		sc->cl[i] = NULL;
	}
	return NULL;
}

static int scale_phase(struct scale *sc, int phase)
{
	pthread_t *th = calloc(sc->nthreads, sizeof(*th));
	struct scale_arg *args = calloc(sc->nthreads, sizeof(*args));
	unsigned i, started = 0;

	if (!th || !args) {
		free(th);
		free(args);
		return -ENOMEM;
	}
	sc->phase = phase;
	for (i = 0; i < sc->nthreads; i++) {
		args[i].sc = sc;
		args[i].id = i;
		if (pthread_create(&th[i], NULL, scale_thread, &args[i]))
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	free(args);
	return started == sc->nthreads ? 0 : -EAGAIN;
}

static void self_sample(struct proc_sample *ps)
{
	sample_proc((long)getpid(), ps);
}

static int run_scale(struct bench *b, FILE *csv)
{
	struct scale sc = {.b = b};
	struct proc_sample s0, s1, s2, m0, m1;
	struct json_object *o;
	struct vec conn = {0};
	struct stats cst;
	uint64_t t0, t_open, t_idle0, t_idle1;
	long hz = sysconf(_SC_CLK_TCK);
	double idle_cpu = 0, self_cpu, per_conn_kib = 0;
	unsigned i, n = b->count;
	int ret;

	sc.nthreads = b->threads ? b->threads : 4;
	if (sc.nthreads > n)
		sc.nthreads = n;
	sc.cl = calloc(n, sizeof(*sc.cl));
	sc.connect_us = calloc(n, sizeof(*sc.connect_us));
	if (!sc.cl || !sc.connect_us) {
		free(sc.cl);
		free(sc.connect_us);
		return -ENOMEM;
	}
	pthread_mutex_init(&sc.lock, NULL);
	memset(&s0, 0, sizeof(s0));
	if (b->server_pid)
		sample_proc(b->server_pid, &s0);
	self_sample(&m0);

	printf(" opening %u sessions with %u threads\n", n, sc.nthreads);
	t0 = now_ns();
	ret = scale_phase(&sc, 0);
	t_open = now_ns() - t0;
	printf(" %u of %u sessions connected and verified in %.1f s (%u failed)\n",
	       atomic_load(&sc.verified), n, (double)t_open / 1e9, atomic_load(&sc.failed));
	if (sc.first_err[0])
		fprintf(stderr, "srdma-bench: first failure: %s\n", sc.first_err);

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	if (b->server_pid)
		sample_proc(b->server_pid, &s1);
	self_sample(&m1);
	t_idle0 = now_ns();
	printf(" holding them idle for %u s\n", b->idle_s);
	{
		struct rusage r0, r1;

		getrusage(RUSAGE_SELF, &r0);
		/* Sleep through signals' EINTR until the end of the idle time. */
		while (!stop_requested && now_ns() - t_idle0 < (uint64_t)b->idle_s * 1000000000ull)
			usleep(100000);
		getrusage(RUSAGE_SELF, &r1);
		self_cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
				    r0.ru_stime.tv_sec) +
			   (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec +
				    r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) /
			       1e6;
	}
	t_idle1 = now_ns();
	if (b->server_pid)
		sample_proc(b->server_pid, &s2);
	if (s1.ok && s2.ok && hz > 0)
		idle_cpu = 100.0 * (double)(s2.cpu_ticks - s1.cpu_ticks) / (double)hz /
			   ((double)(t_idle1 - t_idle0) / 1e9);
	self_cpu = 100.0 * self_cpu / ((double)(t_idle1 - t_idle0) / 1e9);
	if (s0.ok && s1.ok && atomic_load(&sc.verified))
		per_conn_kib = (double)(s1.rss_kb - s0.rss_kb) / atomic_load(&sc.verified);

	if (!ret)
		ret = scale_phase(&sc, 1);
	printf(" after the idle time: %u verified again, %u quit cleanly\n",
	       atomic_load(&sc.verified_after), atomic_load(&sc.quit_ok));
	if (b->server_pid)
		printf(
		    " server: RSS %ld -> %ld KiB (%.1f KiB per connection), %ld descriptors, %ld "
		    "threads; CPU while idle %.3f%% of a core\n",
		    s0.rss_kb, s1.rss_kb, per_conn_kib, s1.fds, s1.threads, idle_cpu);
	printf(" this process: RSS %ld -> %ld KiB (%.1f KiB per session), %ld descriptors; CPU "
	       "while idle %.3f%%\n",
	       m0.rss_kb, m1.rss_kb,
	       atomic_load(&sc.verified)
		   ? (double)(m1.rss_kb - m0.rss_kb) / atomic_load(&sc.verified)
		   : 0,
	       m1.fds, self_cpu);

	for (i = 0; i < n; i++)
		if (sc.connect_us[i] && vec_push(&conn, sc.connect_us[i] * 1000))
			ret = -ENOMEM;
	cst = summarize(&conn);
	if (csv) {
		fprintf(csv,
			"sessions,connected,verified,verified_after_idle,quit_ok,failed,open_s,"
			"server_rss0_kib,server_rss_kib,server_kib_per_conn,server_fds,"
			"server_idle_cpu_pct,client_rss_kib,client_fds\n");
		fprintf(csv, "%u,%u,%u,%u,%u,%u,%.3f,%ld,%ld,%.1f,%ld,%.3f,%ld,%ld\n", n,
			atomic_load(&sc.opened), atomic_load(&sc.verified),
			atomic_load(&sc.verified_after), atomic_load(&sc.quit_ok),
			atomic_load(&sc.failed), (double)t_open / 1e9, s0.rss_kb, s1.rss_kb,
			per_conn_kib, s1.fds, idle_cpu, m1.rss_kb, m1.fds);
	}
	o = b->out;
	jint(o, "sessions", n);
	jint(o, "threads", sc.nthreads);
	jint(o, "connected", atomic_load(&sc.opened));
	jint(o, "verified", atomic_load(&sc.verified));
	jint(o, "verified_after_idle", atomic_load(&sc.verified_after));
	jint(o, "quit_ok", atomic_load(&sc.quit_ok));
	jint(o, "failed", atomic_load(&sc.failed));
	if (sc.first_err[0])
		jstr(o, "first_error", sc.first_err);
	jdbl(o, "open_seconds", (double)t_open / 1e9);
	jint(o, "idle_seconds", b->idle_s);
	json_object_object_add(o, "connect", jstats(&cst));
	if (b->server_pid) {
		struct json_object *srv = json_object_new_object();

		json_object_object_add(srv, "before", jproc(&s0));
		json_object_object_add(srv, "connected", jproc(&s1));
		json_object_object_add(srv, "after_idle", jproc(&s2));
		jdbl(srv, "kib_per_connection", per_conn_kib);
		jdbl(srv, "idle_cpu_pct_of_core", idle_cpu);
		json_object_object_add(o, "server", srv);
	}
	{
		struct json_object *me = json_object_new_object();

		json_object_object_add(me, "before", jproc(&m0));
		json_object_object_add(me, "connected", jproc(&m1));
		jdbl(me, "idle_cpu_pct_of_core", self_cpu);
		json_object_object_add(o, "client", me);
	}
	if (!ret && (atomic_load(&sc.failed) || atomic_load(&sc.quit_ok) != n))
		ret = -EIO;
	vec_free(&conn);
	pthread_mutex_destroy(&sc.lock);
	free(sc.cl);
	free(sc.connect_us);
	return ret;
}

/* --- main ---------------------------------------------------------------------------------- */

/* Raise the soft limits on descriptors and locked memory to the hard limits (many sessions
 * need many of both); report what is in force. */
static void raise_limits(struct bench *b)
{
	struct json_object *o = json_object_new_object();
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
		jint(o, "nofile", r.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)r.rlim_cur);
	}
	if (getrlimit(RLIMIT_MEMLOCK, &r) == 0) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &r);
		getrlimit(RLIMIT_MEMLOCK, &r);
		jint(o, "memlock_kib",
		     r.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)r.rlim_cur / 1024);
	}
	json_object_object_add(b->out, "limits", o);
}

static int parse_mode(struct bench *b, int argc, char **argv, int first)
{
	unsigned long v;
	char err[256];
	size_t m;
	int need_n;

	if (first >= argc) {
		fprintf(stderr, "srdma-bench: MODE and SERVER expected\n");
		return -EINVAL;
	}
	for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
		if (!strcmp(argv[first], mode_names[m]))
			break;
	if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
		fprintf(stderr, "srdma-bench: unknown mode \"%s\"\n", argv[first]);
		return -EINVAL;
	}
	b->mode = (enum mode)m;
	need_n = b->mode == MODE_CLIENTS || b->mode == MODE_SETUP || b->mode == MODE_SCALE;
	if (argc - first != 2 + need_n) {
		fprintf(stderr, "srdma-bench: %s takes %sSERVER\n", mode_names[m],
			need_n ? "N and " : "");
		return -EINVAL;
	}
	if (need_n) {
		if (parse_uint(argv[first + 1], 1, MAX_SESSIONS, &v, err, sizeof(err))) {
			fprintf(stderr, "srdma-bench: %s N: %s\n", mode_names[m], err);
			return -EINVAL;
		}
		b->count = (unsigned)v;
	}
	if (srdma_client_config_set(&b->cfg, "host", argv[first + 1 + need_n], err, sizeof(err))) {
		fprintf(stderr, "srdma-bench: %s\n", err);
		return -EINVAL;
	}
	if (!b->size_set)
		b->size = b->mode == MODE_WRITE_BW || (b->mode == MODE_CLIENTS && b->op == OP_WRITE)
			      ? DEFAULT_WRITE_SIZE
			      : 64;
	if (b->mode == MODE_LATENCY && !b->iters_set)
		b->iters = DEFAULT_ITERS;
	if (b->mode != MODE_LATENCY && !b->duration_s)
		b->duration_s = DEFAULT_DURATION_S;
	return 0;
}

static FILE *open_out(const char *path)
{
	FILE *f;

	if (!path[0])
		return NULL;
	if (!strcmp(path, "-"))
		return stdout;
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "srdma-bench: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static void close_out(FILE *f)
{
	if (f && f != stdout)
		fclose(f);
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct cli cli = {
	    .prog = "srdma-bench",
	    .usage = "[options] MODE [N] SERVER",
	    .summary =
		"Measure a secure-rdma server through the client library; every echoed byte and "
		"every\nRDMA-written region is verified. Modes:\n"
		"  latency      echo round trips of -s bytes (-a: powers of two up to -s): min,\n"
		"               median (t_typical), average, p99, p99.9, max\n"
		"  write-bw     raw RDMA writes of -s bytes (default 65536) into the session's\n"
		"               server region, one in flight; then a verification, and --verified\n"
		"               writes checked one by one\n"
		"  msg-rate     echo requests per second (lock-step) over -q sessions\n"
		"  clients N    N sessions at once, one thread each (or --threads), doing --op\n"
		"  setup K      K connections one after another: time of each set-up step\n"
		"  scale N      N sessions from --threads threads, each verified with one echo,\n"
		"               held idle --idle seconds, verified again; --server-pid samples\n"
		"               the server's memory and CPU",
	    .epilog = "Exit status: 0 measured and verified; 1 a session or a check failed; 2 "
		      "usage error.\nSee BENCHMARKS.md.\n",
	    .opts = opts,
	    .set = set,
	    .load = load,
	    .cfg = &b,
	};
	struct sigaction sa;
	FILE *csv = NULL, *json = NULL;
	char err[512];
	int first, ret;

	srdma_client_config_defaults(&b.cfg);
	b.warmup = 20;
	b.qps = 1;
	b.verified = DEFAULT_VERIFIED;
	b.connect_at_once = DEFAULT_CONNECT_AT_ONCE;
	b.idle_s = 10;
	switch (cli_parse(&cli, argc, argv, &first)) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	case CLI_OK:
		break;
	}
	if (parse_mode(&b, argc, argv, first)) {
		fprintf(stderr, "Try 'srdma-bench --help'.\n");
		return 2;
	}
	if (srdma_client_config_validate(&b.cfg, err, sizeof(err))) {
		fprintf(stderr, "srdma-bench: %s\nTry 'srdma-bench --help'.\n", err);
		return 2;
	}
	srdma_log_set_tag("srdma-bench");
	srdma_log_set_level((enum srdma_log_level)b.cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	json_c_set_serialization_double_format("%.6g", JSON_C_OPTION_GLOBAL);
	/* Progress lines reach a log file as they happen (scripts wait for them). */
	setvbuf(stdout, NULL, _IOLBF, 0);

	b.out = json_object_new_object();
	jstr(b.out, "tool", "srdma-bench");
	jstr(b.out, "version", SRDMA_VERSION);
	jstr(b.out, "mode", mode_names[b.mode]);
	jstr(b.out, "server", b.cfg.host);
	jstr(b.out, "dataplane", b.cfg.dataplane == SRDMA_DP_AEAD ? "aead" : "plain");
	if (b.label[0])
		jstr(b.out, "label", b.label);
	jint(b.out, "size", b.size);
	if (b.mode == MODE_LATENCY)
		jint(b.out, "iterations", b.iters);
	else if (b.iters_set)
		jint(b.out, "iterations_per_session", b.iters);
	else if (b.mode != MODE_SETUP && b.mode != MODE_SCALE)
		jint(b.out, "duration_s", b.duration_s);
	jint(b.out, "warmup", b.warmup);
	raise_limits(&b);

	if (b.csv_path[0] && !(csv = open_out(b.csv_path)))
		return 1;
	if (b.samples_path[0] && !(b.samples = open_out(b.samples_path)))
		return 1;
	switch (b.mode) {
	case MODE_LATENCY:
		ret = run_latency(&b, csv);
		break;
	case MODE_WRITE_BW:
	case MODE_MSG_RATE:
	case MODE_CLIENTS:
		ret = run_loads(&b, csv);
		break;
	case MODE_SETUP:
		ret = run_setup(&b, csv);
		break;
	case MODE_SCALE:
	default:
		ret = run_scale(&b, csv);
		break;
	}
	close_out(csv);
	close_out(b.samples);
	if (stop_requested && !ret)
		ret = -EINTR;
	json_object_object_add(b.out, "ok", json_object_new_boolean(ret == 0));
	if (b.json_path[0] && (json = open_out(b.json_path))) {
		fprintf(json, "%s\n",
			json_object_to_json_string_ext(b.out, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		close_out(json);
	}
	json_object_put(b.out);
	if (ret)
		fprintf(stderr, "srdma-bench: %s\n",
			ret == -EINTR ? "stopped by a signal" : "a session or a check failed");
	return ret ? 1 : 0;
}
