/* srdma-bench: echo latency, and the load modes (write-bw, msg-rate, clients). */
#include "bench.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* --- latency ------------------------------------------------------------------------------ */

static void print_latency_header(void)
{
	printf(" %-8s %-11s %12s %12s %16s %12s %14s %12s %13s\n", "#bytes", "#iterations",
	       "t_min[usec]", "t_max[usec]", "t_typical[usec]", "t_avg[usec]", "t_stdev[usec]",
	       "99%[usec]", "99.9%[usec]");
}

/* What the data plane itself costs per message of size bytes in mode, on this CPU: one seal and
 * one open with OpenSSL's AEAD of that mode (AES-256-GCM or ChaCha20-Poly1305, 96-bit nonce,
 * 16-byte tag, the 16-byte message header as associated data), or two copies for plain, in
 * microseconds, under a throwaway key. An echo round trip pays it twice (request and reply). It
 * stands for libsrdma's own sealing, which uses the same ciphers (its header encoding is not
 * counted). 2000 rounds, or as many as fit in one second: the session sits silent
 * meanwhile, and 2000 seals and opens of 64 KiB took 23 s under emulation, past the server's
 * silence bound (15 s by default), which ended the session. -1 on failure. */
static double dataplane_cost_us(enum srdma_dp_mode mode, uint32_t size)
{
	const EVP_CIPHER *cipher = mode == SRDMA_DP_CHACHA20 ? EVP_chacha20_poly1305()
				   : mode == SRDMA_DP_AEAD   ? EVP_aes_256_gcm()
							     : NULL;
	uint8_t key[32], iv[12], aad[16] = {0}, tag[16];
	uint8_t *payload = calloc(1, (size_t)size + 1), *sealed = malloc((size_t)size + 1),
		*opened = malloc((size_t)size + 1);
	EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
	const unsigned n = 2000;
	const uint64_t budget_ns = 1000000000ull;
	double us = -1;
	uint64_t t0;
	unsigned i;
	int len;

	if (!payload || !sealed || !opened || !enc || !dec || RAND_bytes(key, sizeof(key)) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1)
		goto out;
	if (cipher && (EVP_EncryptInit_ex(enc, cipher, NULL, key, NULL) != 1 ||
		       EVP_DecryptInit_ex(dec, cipher, NULL, key, NULL) != 1))
		goto out;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		/* The clock every 16 rounds: a read may be a system call. */
		if (i && !(i % 16) && now_ns() - t0 > budget_ns)
			break;
		memcpy(iv, &i, sizeof(i));
		aad[0] = (uint8_t)i;
		if (!cipher) {
			memcpy(sealed, payload, size);
			memcpy(opened, sealed, size);
			continue;
		}
		if (EVP_EncryptInit_ex(enc, NULL, NULL, NULL, iv) != 1 ||
		    EVP_EncryptUpdate(enc, NULL, &len, aad, sizeof(aad)) != 1 ||
		    EVP_EncryptUpdate(enc, sealed, &len, payload, (int)size) != 1 ||
		    EVP_EncryptFinal_ex(enc, sealed + len, &len) != 1 ||
		    EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, sizeof(tag), tag) != 1)
			goto out;
		if (EVP_DecryptInit_ex(dec, NULL, NULL, NULL, iv) != 1 ||
		    EVP_DecryptUpdate(dec, NULL, &len, aad, sizeof(aad)) != 1 ||
		    EVP_DecryptUpdate(dec, opened, &len, sealed, (int)size) != 1 ||
		    EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) != 1 ||
		    EVP_DecryptFinal_ex(dec, opened + len, &len) != 1)
			goto out;
	}
	us = (double)(now_ns() - t0) / 1e3 / i;
	if (memcmp(opened, payload, size))
		us = -1;
out:
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(enc);
	EVP_CIPHER_CTX_free(dec);
	free(payload);
	free(sealed);
	free(opened);
	return us;
}

int run_latency(struct bench *b, FILE *csv)
{
	struct echo_client_info info;
	struct echo_client *cl;
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
	echo_client_get_info(cl, &info);
	print_latency_header();
	if (csv)
		fprintf(csv, "size,iters,min_us,t_typical_us,avg_us,p99_us,p99_9_us,max_us,"
			     "stdev_us\n");
	if (b->samples)
		fprintf(b->samples, "size,iter,rtt_us\n");
	for (size = first; size <= b->size && !ret && !bench_stopping();
	     size = size < b->size && 2 * size > b->size ? b->size : 2 * size) {
		struct vec s = {0};
		uint64_t deadline = b->duration_s ? now_ns() + b->duration_s * 1000000000ull : 0;
		struct json_object *row;
		struct stats st;
		double dp_us;
		unsigned i;

		for (i = 0; i < b->warmup && !ret; i++) {
			fill(buf, size, size, i);
			ret = echo_client_echo(cl, buf, size);
		}
		for (i = 0;
		     !ret && !bench_stopping() && (deadline ? now_ns() < deadline : i < b->iters);
		     i++) {
			uint64_t t0, t1;

			fill(buf, size, size, b->warmup + i);
			t0 = now_ns();
			ret = echo_client_echo(cl, buf, size);
			t1 = now_ns();
			if (!ret && vec_push(&s, t1 - t0))
				ret = -ENOMEM;
			if (!ret && b->samples)
				fprintf(b->samples, "%u,%u,%.3f\n", size, i,
					(double)(t1 - t0) / 1e3);
		}
		if (ret) {
			fprintf(stderr, "srdma-bench: echo of %u bytes: %s\n", size,
				echo_client_errmsg(cl));
			vec_free(&s);
			break;
		}
		st = summarize(&s);
		printf(" %-8u %-11zu %12.2f %12.2f %16.2f %12.2f %14.2f %12.2f %13.2f\n", size,
		       st.n, st.min, st.max, st.p50, st.avg, st.stdev, st.p99, st.p999);
		if (csv)
			fprintf(csv, "%u,%zu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n", size, st.n,
				st.min, st.p50, st.avg, st.p99, st.p999, st.max, st.stdev);
		dp_us = dataplane_cost_us((enum srdma_dp_mode)info.dataplane, size);
		if (dp_us >= 0)
			printf("   data plane (%s): %.2f us per message to encode%s and decode%s\n",
			       srdma_dp_mode_name(info.dataplane), dp_us,
			       info.dataplane ? ", seal" : "", info.dataplane ? ", open" : "");
		row = jstats(&st);
		jint(row, "size", size);
		jdbl(row, "dataplane_us_per_message", dp_us);
		json_object_array_add(results(b), row);
		vec_free(&s);
		if (size == b->size)
			break;
	}
	if (!ret)
		ret = echo_client_quit(cl);
	if (ret)
		fprintf(stderr, "srdma-bench: %s\n", echo_client_errmsg(cl));
	echo_client_close(cl);
	free(buf);
	return ret;
}

/* --- load: write-bw, msg-rate, clients ------------------------------------------------------ */

struct load;

struct lsess {
	struct echo_client *cl;
	uint64_t ops;
	uint64_t connect_us;
	unsigned window; /* messages this session keeps in flight */
	int ok;		 /* connected and not failed */
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
	unsigned batch; /* operations per step: more than one are pipelined */
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
		 s->cl ? echo_client_errmsg(s->cl) : "not connected");
	s->ok = 0;
	t->ret = ret;
	atomic_store(&t->ld->failed, 1);
	return ret;
}

static const char *op_name(enum op op)
{
	return op == OP_ECHO ? "echo" : op == OP_WRITE ? "write" : "push";
}

/* One step on session idx: ld->batch echoes verified byte for byte, or raw RDMA writes; a
 * batch of more than one is pipelined, up to the session's depth in flight. */
static int do_op(struct lthread *t, unsigned idx, uint64_t i)
{
	struct load *ld = t->ld;
	struct lsess *s = &ld->s[idx];

	if (ld->op == OP_PUSH) {
		memcpy(t->buf, &i, ld->size < sizeof(i) ? ld->size : sizeof(i));
		return echo_client_push(s->cl, t->buf, ld->size, ld->batch);
	}
	if (ld->op == OP_ECHO) {
		/* Each batch differs from the last in its first bytes (the session and the
		 * step number), cheaply: the rest was filled once. */
		uint64_t tag = i ^ ((uint64_t)idx << 40);

		memcpy(t->buf, &tag, ld->size < sizeof(tag) ? ld->size : sizeof(tag));
		if (ld->batch > 1)
			return echo_client_echo_pipelined(s->cl, t->buf, ld->size, ld->batch);
		return echo_client_echo(s->cl, t->buf, ld->size);
	}
	/* One write and its completion, or a burst of them. */
	return echo_client_write_burst(s->cl, ld->size, ld->batch);
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
		struct echo_client_info info;

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
		echo_client_get_info(s->cl, &info);
		s->connect_us = info.connect_us;
		s->window = ld->batch == 1 ? 1 : ld->op == OP_WRITE ? b->cfg.depth : info.window;
		/* The write source is filled (and its landing verified) once, up front. */
		if (ld->op == OP_WRITE) {
			fill(t->buf, ld->size, idx, 0);
			ret = echo_client_write(s->cl, t->buf, ld->size, 0);
			if (ret) {
				lsess_fail(t, s, "first verified write", ret);
				break;
			}
		}
		for (i = 0; i * ld->batch < b->warmup && !t->ret; i++) {
			ret = do_op(t, idx, i);
			if (ret)
				lsess_fail(t, s, "warm-up", ret);
		}
	}
	gate_ready_and_wait(&ld->gate);

	/* Round robin over this thread's sessions (one each when threads == sessions). */
	for (i = 0; !t->ret && !atomic_load(&ld->failed) && !bench_stopping(); i++) {
		uint64_t now;

		if (b->iters_set ? i * ld->batch >= b->iters : now_ns() >= ld->deadline_ns)
			break;
		for (k = 0; k < t->n && !t->ret; k++) {
			idx = t->first + k;
			ret = do_op(t, idx, b->warmup + i);
			if (ret) {
				lsess_fail(t, &ld->s[idx], op_name(ld->op), ret);
				break;
			}
			now = now_ns();
			ld->s[idx].ops += ld->batch;
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
		ret = echo_client_verify(s->cl, t->buf, ld->size, 0);
		t->verify_ns += now_ns() - t0;
		if (ret) {
			lsess_fail(t, s, "verification of the raw writes", ret);
			break;
		}
		t0 = now_ns();
		for (i = 0; i < b->verified && !bench_stopping(); i++) {
			fill(t->buf, ld->size, idx, i + 1);
			ret = echo_client_write(s->cl, t->buf, ld->size, 0);
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
			ret = echo_client_quit(s->cl);
			if (ret)
				lsess_fail(t, s, "quit", ret);
		}
		echo_client_close(s->cl);
		s->cl = NULL;
	}
	return NULL;
}

/* Highest throughput over any run of `win` consecutive steps of `batch` operations each
 * (operations per second). */
static double peak_rate(struct vec *stamps, size_t win, unsigned batch)
{
	double best = 0;
	size_t i;

	if (stamps->n <= win)
		return 0;
	qsort(stamps->v, stamps->n, sizeof(*stamps->v), cmp_u64);
	for (i = 0; i + win < stamps->n; i++) {
		uint64_t dt = stamps->v[i + win] - stamps->v[i];

		if (dt && (double)win * batch * 1e9 / (double)dt > best)
			best = (double)win * batch * 1e9 / (double)dt;
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

	/* write-bw and msg-rate keep the session's depth in flight, as perftest keeps its
	 * tx-depth; clients mode stays lock-step (one request per session at a time). */
	ld.batch = b->mode != MODE_CLIENTS && b->cfg.depth > 1 ? 8 * b->cfg.depth : 1;
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
	peak = peak_rate(&all, all.n / 50 > 8 ? all.n / 50 : 8, ld.batch);
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
			op_name(op), size, nsess, ops, secs, peak * size / MiB, rate * size / MiB,
			rate * size * 8 / 1e9, rate / 1e6, rate / nsess, per_min, per_max);
	if (b->samples)
		for (i = 0; i < nsess; i++)
			fprintf(b->samples, "%u,%u,%u,%" PRIu64 ",%.3f\n", size, nsess, i,
				ld.s[i].ops, secs > 0 ? (double)ld.s[i].ops / secs : 0);

	row = json_object_new_object();
	jstr(row, "op", op_name(op));
	jint(row, "size", size);
	jint(row, "sessions", nsess);
	jint(row, "threads", nthreads);
	jint(row, "in_flight", nsess ? ld.s[0].window : 0);
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

int run_loads(struct bench *b, FILE *csv)
{
	uint32_t size, first = b->all ? 2 : b->size;
	unsigned nsess = b->mode == MODE_CLIENTS ? b->count : b->qps;
	unsigned nthreads = b->threads && b->threads < nsess ? b->threads : nsess;
	/* msg-rate sends one-way PUSHes, as ib_send_bw sends, when two or more may be in flight
	 * (else, or with --op echo, echoes: pipelined when the depth allows). */
	enum op op =
	    b->mode == MODE_WRITE_BW ? OP_WRITE
	    : b->mode == MODE_MSG_RATE
		? (b->cfg.depth > 1 && !(b->op_set && b->op == OP_ECHO) ? OP_PUSH : OP_ECHO)
		: b->op;
	int ret = 0;

	print_bw_header();
	if (csv)
		fprintf(csv, "op,size,sessions,operations,seconds,bw_peak_mib_s,bw_avg_mib_s,"
			     "bw_avg_gb_s,mpps,per_session_ops_s_mean,per_session_ops_s_min,"
			     "per_session_ops_s_max\n");
	if (b->samples)
		fprintf(b->samples, "size,sessions,session,operations,ops_per_s\n");
	for (size = first; size <= b->size && !ret && !bench_stopping();
	     size = size < b->size && 2 * size > b->size ? b->size : 2 * size) {
		ret = run_load(b, op, size, nsess, nthreads, csv);
		if (size == b->size)
			break;
	}
	jint(b->out, "sessions", nsess);
	jstr(b->out, "op", op_name(op));
	return ret;
}
