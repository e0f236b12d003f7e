/* srdma-bench: connection set-up time per step, and scale (many sessions held). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/epoll.h>

#include "bench.h"

/* --- set-up time --------------------------------------------------------------------------- */

/* ctx: the shared context (TLS trust and identity, device), created once before the first
 * connection and billed to it; then srdma_conn_info's steps (tcp .. ready), the server's
 * WELCOME, their total, and the teardown (QUIT, BYE, close). */
static const char *const step_names[] = {"ctx",	  "tcp",     "tls",   "open",	 "qp",
					 "ready", "welcome", "total", "teardown"};
#define NSTEPS (sizeof(step_names) / sizeof(step_names[0]))

static void timing_steps(const struct echo_client_timing *t, uint64_t ctx_us, uint64_t us[NSTEPS])
{
	us[0] = t->ctx_us + ctx_us;
	us[1] = t->tcp_us;
	us[2] = t->tls_us;
	us[3] = t->open_us;
	us[4] = t->qp_us;
	us[5] = t->ready_us;
	us[6] = t->welcome_us;
	us[7] = t->total_us + ctx_us;
}

/* One table of steps: printed, in the CSV with kind in its first column, and into o. */
static void steps_report(const char *kind, struct vec *steps, FILE *csv, struct json_object *o)
{
	unsigned k;

	printf(" %-10s %10s %10s %10s %10s %10s %10s  (%s)\n", "step", "min[usec]", "p50[usec]",
	       "avg[usec]", "p99[usec]", "max[usec]", "stdev", kind);
	for (k = 0; k < NSTEPS; k++) {
		struct stats st = summarize(&steps[k]);

		printf(" %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", step_names[k], st.min,
		       st.p50, st.avg, st.p99, st.max, st.stdev);
		if (csv)
			fprintf(csv, "%s,%s,%zu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", kind,
				step_names[k], st.n, st.min, st.p50, st.avg, st.p99, st.p999,
				st.max, st.stdev);
		json_object_object_add(o, step_names[k], jstats(&st));
	}
}

static void adds_err(unsigned i, const char *msg)
{
	fprintf(stderr, "srdma-bench: adds at once, connection %u: %s\n", i + 1, msg);
}

/* Adds at once, measured as cmtime measures each of its steps: k connections held open, a QP
 * add started on every one, then the time until the last is usable, divided by k. raw: bare
 * QPs (SRDMA_QP_RAW, no buffers: the work of cmtime's create qp and connect), else messages
 * QPs like the session's first. Returns 0 and the wall time in *wall_ns, or a negative errno
 * (the message printed). */
static int adds_at_once(struct bench *b, unsigned k, int raw, uint64_t *wall_ns)
{
	struct echo_client **cl = calloc(k, sizeof(*cl));
	struct pollfd *p = calloc(k, sizeof(*p));
	unsigned *index = calloc(k, sizeof(*index)), i, left = 0;
	struct srdma_client_config cfg = b->cfg;
	uint8_t buf[64];
	uint64_t t0, deadline;
	char err[512];
	int ret = 0, r;

	if (!cl || !p || !index) {
		ret = -ENOMEM;
		goto out;
	}
	cfg.size = sizeof(buf);
	cfg.count = 1;
	cfg.writes = 0;
	for (i = 0; i < k && !ret; i++) {
		ret = echo_client_connect(b->ctx, &cfg, &cl[i], err, sizeof(err));
		if (ret) {
			adds_err(i, err);
			break;
		}
		fill(buf, sizeof(buf), i, 0);
		ret = echo_client_echo(cl[i], buf, sizeof(buf));
		if (ret)
			adds_err(i, echo_client_errmsg(cl[i]));
	}
	if (ret)
		goto out;
	t0 = now_ns();
	deadline = t0 + (uint64_t)b->cfg.timeout_ms * 1000000ull;
	for (i = 0; i < k && !ret; i++) {
		if ((ret = echo_client_add_qp_start(cl[i], raw, &index[i])))
			adds_err(i, echo_client_errmsg(cl[i]));
		else
			left++;
	}
	while (!ret && left) {
		unsigned n = 0;

		for (i = 0; i < k; i++)
			if (index[i] != UINT_MAX) {
				p[n].fd = echo_client_fd(cl[i]);
				p[n].events = echo_client_poll_events(cl[i]);
				n++;
			}
		if (now_ns() >= deadline) {
			ret = -ETIMEDOUT;
			fprintf(stderr,
				"srdma-bench: adds at once: %u of %u not usable within %u ms\n",
				left, k, b->cfg.timeout_ms);
			break;
		}
		if (poll(p, n, 100) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		for (i = 0; i < k && !ret; i++) {
			if (index[i] == UINT_MAX)
				continue;
			r = echo_client_add_qp_poll(cl[i], index[i]);
			if (r < 0) {
				ret = r;
				adds_err(i, echo_client_errmsg(cl[i]));
			} else if (r == 1) {
				index[i] = UINT_MAX;
				left--;
			}
		}
	}
	*wall_ns = now_ns() - t0;
	for (i = 0; i < k && !ret; i++)
		if ((ret = echo_client_quit(cl[i])))
			adds_err(i, echo_client_errmsg(cl[i]));
out:
	for (i = 0; cl && i < k; i++)
		echo_client_close(cl[i]);
	free(cl);
	free(p);
	free(index);
	return ret;
}

/* Set-ups one after another. With resumption (b->resumption), those of b->ctx (resumption on:
 * each resumes with the ticket the one before got) alternate with those of a second context
 * with resumption off (a full handshake each), K of each; every one is counted as what it
 * turned out to be (srdma_conn_resumed), so the very first, which has no ticket yet, is a
 * fresh one. */
int run_setup(struct bench *b, FILE *csv)
{
	enum { ALL, FRESH, RESUMED, NKINDS };
	static const char *const kind_names[NKINDS] = {"all", "fresh", "resumed"};
	struct vec steps[NKINDS][NSTEPS], adds = {0};
	struct json_object *o[NKINDS];
	struct srdma_ctx *fresh_ctx = NULL;
	unsigned i, k, n, total, done = 0, nkind[NKINDS] = {0};
	uint8_t buf[64];
	int ret = 0;

	memset(steps, 0, sizeof(steps));
	total = b->resumption ? 2 * b->count : b->count;
	srdma_ctx_set_resumption(b->ctx, b->resumption);
	if (b->resumption) {
		char err[512];

		ret = echo_client_ctx_create(&b->cfg, 1, &fresh_ctx, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "srdma-bench: %s\n", err);
			return ret;
		}
		srdma_ctx_set_resumption(fresh_ctx, 0);
	}
	if (b->samples) {
		fprintf(b->samples, "conn,resumed");
		for (k = 0; k < NSTEPS; k++)
			fprintf(b->samples, ",%s_us", step_names[k]);
		fprintf(b->samples, "\n");
	}
	for (i = 0; i < total && !bench_stopping(); i++) {
		struct srdma_ctx *ctx = i % 2 && fresh_ctx ? fresh_ctx : b->ctx;
		struct echo_client_timing tm;
		struct echo_client_info info;
		struct echo_client *cl;
		struct srdma_client_config cfg = b->cfg;
		uint64_t us[NSTEPS], t0;
		char err[512];

		cfg.size = sizeof(buf);
		cfg.count = 1;
		cfg.writes = 0;
		ret = echo_client_connect(ctx, &cfg, &cl, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "srdma-bench: connection %u: %s\n", i + 1, err);
			break;
		}
		if (i == 0)
			describe_session(b, cl);
		echo_client_get_timing(cl, &tm);
		echo_client_get_info(cl, &info);
		timing_steps(&tm, i == 0 ? b->ctx_us : 0, us);
		/* Not timed: one echo proves the connection works. */
		fill(buf, sizeof(buf), i, 0);
		ret = echo_client_echo(cl, buf, sizeof(buf));
		if (!ret && b->add_qp) {
			unsigned index;

			t0 = now_ns();
			ret = echo_client_add_qp(cl, &index);
			if (!ret && vec_push(&adds, now_ns() - t0))
				ret = -ENOMEM;
		}
		t0 = now_ns();
		if (!ret)
			ret = echo_client_quit(cl);
		if (ret)
			fprintf(stderr, "srdma-bench: connection %u: %s\n", i + 1,
				echo_client_errmsg(cl));
		echo_client_close(cl);
		us[NSTEPS - 1] = (now_ns() - t0) / 1000;
		if (ret)
			break;
		for (k = 0; k < NSTEPS; k++)
			if (vec_push(&steps[ALL][k], us[k] * 1000) ||
			    vec_push(&steps[info.resumed ? RESUMED : FRESH][k], us[k] * 1000))
				ret = -ENOMEM;
		nkind[info.resumed ? RESUMED : FRESH]++;
		if (b->samples) {
			fprintf(b->samples, "%u,%d", i, info.resumed);
			for (k = 0; k < NSTEPS; k++)
				fprintf(b->samples, ",%" PRIu64, us[k]);
			fprintf(b->samples, "\n");
		}
		done++;
	}
	if (csv)
		fprintf(csv,
			"kind,step,n,min_us,t_typical_us,avg_us,p99_us,p99_9_us,max_us,stdev_us\n");
	for (n = 0; n < NKINDS; n++) {
		o[n] = json_object_new_object();
		if (n == ALL || nkind[n])
			steps_report(kind_names[n], steps[n], csv, o[n]);
		for (k = 0; k < NSTEPS; k++)
			vec_free(&steps[n][k]);
	}
	printf(" %u of %u connections set up (%u fresh, %u resumed), verified with one echo and "
	       "quit\n",
	       done, total, nkind[FRESH], nkind[RESUMED]);
	/* "steps": every connection; "fresh" and "resumed": each kind alone. */
	json_object_object_add(b->out, "steps", o[ALL]);
	json_object_object_add(b->out, "fresh", o[FRESH]);
	json_object_object_add(b->out, "resumed", o[RESUMED]);
	jint(b->out, "connections", total);
	jint(b->out, "connections_ok", done);
	jint(b->out, "connections_fresh", nkind[FRESH]);
	jint(b->out, "connections_resumed", nkind[RESUMED]);
	if (b->add_qp) {
		struct stats st = summarize(&adds);

		printf(" %-10s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f  (one QP added to each of "
		       "%zu connections)\n",
		       "add_qp", st.min, st.p50, st.avg, st.p99, st.max, st.stdev, st.n);
		if (csv)
			fprintf(csv, "added,add_qp,%zu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", st.n,
				st.min, st.p50, st.avg, st.p99, st.p999, st.max, st.stdev);
		json_object_object_add(b->out, "add_qp", jstats(&st));
		for (k = 0; k < 2 && !ret && b->count; k++) {
			struct json_object *o2 = json_object_new_object();
			uint64_t wall = 0;

			ret = adds_at_once(b, b->count, (int)k, &wall);
			if (!ret) {
				printf(
				    " %-10s %10.1f us per QP (%u %s QPs added at once, one to each "
				    "of %u connections, in %.1f ms)\n",
				    k ? "add_raw" : "add_qp", (double)wall / 1000.0 / b->count,
				    b->count, k ? "raw" : "messages", b->count, (double)wall / 1e6);
				jint(o2, "qps", b->count);
				json_object_object_add(
				    o2, "wall_us", json_object_new_double((double)wall / 1000.0));
				json_object_object_add(
				    o2, "us_per_qp",
				    json_object_new_double((double)wall / 1000.0 / b->count));
				json_object_object_add(
				    b->out, k ? "add_raw_qp_at_once" : "add_qp_at_once", o2);
			} else {
				json_object_put(o2);
			}
		}
	}
	vec_free(&adds);
	srdma_ctx_destroy(fresh_ctx);
	return ret;
}

/* --- scale --------------------------------------------------------------------------------- */

struct proc_sample {
	int ok;
	uint64_t cpu_ticks; /* utime + stime */
	long rss_kb;
	long hwm_kb;
	long pin_kb; /* VmPin: what registration pinned (the target is per idle session) */
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
			sscanf(line, "VmPin: %ld", &ps->pin_kb);
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
	jint(o, "pin_kib", ps->pin_kb);
	jint(o, "threads", ps->threads);
	jint(o, "fds", ps->fds);
	jint(o, "cpu_ticks", (int64_t)ps->cpu_ticks);
	return o;
}

struct scale {
	struct bench *b;
	struct echo_client **cl;
	uint64_t *connect_us;
	atomic_uint opened, verified, verified_after, quit_ok, failed;
	unsigned nthreads;
	int phase; /* 0: open and verify, 1: verify again, quit and close */
	pthread_mutex_t lock;
	char first_err[640];
	/* The keeper: from a session's first verification until the phase that verifies it again
	 * takes it back, a thread answers its control channel (the heartbeat: a server ends a
	 * session it hears nothing from). owner[i]: KEPT (the keeper may serve it), SERVING (the
	 * keeper is), CLAIMED (a phase-1 thread took it back; the keeper leaves it alone). */
	_Atomic int *owner;
	int epfd;
	atomic_int keeper_stop;
	atomic_uint kept_failed; /* sessions that failed while kept */
	pthread_t keeper;
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

/* What to watch session i's control channel for, as an epoll event. */
static void keep_event(struct scale *sc, unsigned i, struct epoll_event *ev)
{
	short want = echo_client_poll_events(sc->cl[i]);

	ev->events = (want & POLLIN ? EPOLLIN : 0) | (want & POLLOUT ? EPOLLOUT : 0);
	if (!ev->events)
		ev->events = EPOLLIN;
	ev->data.u32 = i;
}

enum { KEPT, SERVING, CLAIMED };

static void *scale_keeper(void *arg)
{
	struct scale *sc = arg;
	struct epoll_event evs[256], ev;
	int n, k;

	while (!atomic_load(&sc->keeper_stop)) {
		n = epoll_wait(sc->epfd, evs, 256, 100);
		for (k = 0; k < n; k++) {
			unsigned i = evs[k].data.u32;
			int kept = KEPT;

			if (!atomic_compare_exchange_strong(&sc->owner[i], &kept, SERVING))
				continue; /* claimed back */
			if (echo_client_idle(sc->cl[i], 0)) {
				/* Failed: out of the set; phase 1 reports it (its echo fails). */
				epoll_ctl(sc->epfd, EPOLL_CTL_DEL, echo_client_fd(sc->cl[i]), NULL);
				atomic_fetch_add(&sc->kept_failed, 1);
			} else {
				keep_event(sc, i, &ev);
				epoll_ctl(sc->epfd, EPOLL_CTL_MOD, echo_client_fd(sc->cl[i]), &ev);
			}
			atomic_store(&sc->owner[i], KEPT);
		}
	}
	return NULL;
}

/* Session i, verified, is the keeper's from now on (in phase 0). */
static void scale_keep(struct scale *sc, unsigned i)
{
	struct epoll_event ev;

	atomic_store(&sc->owner[i], KEPT);
	keep_event(sc, i, &ev);
	if (epoll_ctl(sc->epfd, EPOLL_CTL_ADD, echo_client_fd(sc->cl[i]), &ev))
		scale_error(sc, i, "keeping it", strerror(errno));
}

static int scale_keeper_start(struct scale *sc)
{
	sc->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sc->epfd < 0)
		return -errno;
	atomic_store(&sc->keeper_stop, 0);
	if (pthread_create(&sc->keeper, NULL, scale_keeper, sc)) {
		close(sc->epfd);
		sc->epfd = -1;
		return -EAGAIN;
	}
	return 0;
}

/* After the phase that verifies the sessions again (each took its own back). */
static void scale_keeper_stop(struct scale *sc)
{
	if (sc->epfd < 0)
		return;
	atomic_store(&sc->keeper_stop, 1);
	pthread_join(sc->keeper, NULL);
	close(sc->epfd);
	sc->epfd = -1;
}

static void *scale_thread(void *arg)
{
	struct scale_arg *a = arg;
	struct scale *sc = a->sc;
	uint8_t buf[64];
	unsigned i;

	for (i = a->id; i < sc->b->count && !bench_stopping(); i += sc->nthreads) {
		struct echo_client_info info;
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
			echo_client_get_info(sc->cl[i], &info);
			sc->connect_us[i] = info.connect_us;
			fill(buf, sizeof(buf), i, 0);
			ret = echo_client_echo(sc->cl[i], buf, sizeof(buf));
			if (ret) {
				scale_error(sc, i, "echo", echo_client_errmsg(sc->cl[i]));
				echo_client_close(sc->cl[i]);
				sc->cl[i] = NULL;
				continue;
			}
			atomic_fetch_add(&sc->verified, 1);
			scale_keep(sc, i);
			continue;
		}
		if (!sc->cl[i])
			continue;
		/* Take it back from the keeper (waiting while it serves it). */
		for (int kept = KEPT; !atomic_compare_exchange_weak(&sc->owner[i], &kept, CLAIMED);
		     kept = KEPT)
			sched_yield();
		epoll_ctl(sc->epfd, EPOLL_CTL_DEL, echo_client_fd(sc->cl[i]), NULL);
		fill(buf, sizeof(buf), i, 1);
		ret = echo_client_echo(sc->cl[i], buf, sizeof(buf));
		if (ret) {
			scale_error(sc, i, "echo after idle", echo_client_errmsg(sc->cl[i]));
		} else {
			atomic_fetch_add(&sc->verified_after, 1);
			ret = echo_client_quit(sc->cl[i]);
			if (ret)
				scale_error(sc, i, "quit", echo_client_errmsg(sc->cl[i]));
			else
				atomic_fetch_add(&sc->quit_ok, 1);
		}
		echo_client_close(sc->cl[i]);
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

int run_scale(struct bench *b, FILE *csv)
{
	struct scale sc = {.b = b};
	struct proc_sample s0, s1, s2, m0, m1;
	struct json_object *o;
	struct vec conn = {0};
	struct stats cst;
	uint64_t t0, t_open, t_idle0, t_idle1;
	long hz = sysconf(_SC_CLK_TCK);
	double idle_cpu = 0, self_cpu, per_conn_kib = 0, pin_per_conn_kib = 0;
	unsigned i, n = b->count;
	int ret;

	sc.nthreads = b->threads ? b->threads : 4;
	if (sc.nthreads > n)
		sc.nthreads = n;
	sc.cl = calloc(n, sizeof(*sc.cl));
	sc.connect_us = calloc(n, sizeof(*sc.connect_us));
	sc.owner = calloc(n, sizeof(*sc.owner));
	if (!sc.cl || !sc.connect_us || !sc.owner) {
		free(sc.cl);
		free(sc.connect_us);
		free(sc.owner);
		return -ENOMEM;
	}
	pthread_mutex_init(&sc.lock, NULL);
	memset(&s0, 0, sizeof(s0));
	if (b->server_pid)
		sample_proc(b->server_pid, &s0);
	self_sample(&m0);

	sc.epfd = -1;
	ret = scale_keeper_start(&sc);
	if (ret) {
		fprintf(stderr, "srdma-bench: cannot start the thread that keeps sessions: %s\n",
			strerror(-ret));
		free(sc.cl);
		free(sc.connect_us);
		free(sc.owner);
		return ret;
	}
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
		while (!bench_stopping() &&
		       now_ns() - t_idle0 < (uint64_t)b->idle_s * 1000000000ull)
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
	if (s0.ok && s1.ok && atomic_load(&sc.verified)) {
		per_conn_kib = (double)(s1.rss_kb - s0.rss_kb) / atomic_load(&sc.verified);
		pin_per_conn_kib = (double)(s1.pin_kb - s0.pin_kb) / atomic_load(&sc.verified);
	}

	if (!ret)
		ret = scale_phase(&sc, 1);
	scale_keeper_stop(&sc);
	if (atomic_load(&sc.kept_failed))
		printf(" %u sessions failed while held (their heartbeat answered meanwhile)\n",
		       atomic_load(&sc.kept_failed));
	printf(" after the idle time: %u verified again, %u quit cleanly\n",
	       atomic_load(&sc.verified_after), atomic_load(&sc.quit_ok));
	if (b->server_pid)
		printf(
		    " server: RSS %ld -> %ld KiB (%.1f KiB per connection), pinned %ld -> %ld KiB "
		    "(%.1f KiB per idle connection, target <= 64), %ld descriptors, %ld threads; "
		    "CPU "
		    "while idle %.3f%% of a core\n",
		    s0.rss_kb, s1.rss_kb, per_conn_kib, s0.pin_kb, s1.pin_kb, pin_per_conn_kib,
		    s1.fds, s1.threads, idle_cpu);
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
			"server_idle_cpu_pct,client_rss_kib,client_fds,server_pin_kib,"
			"server_pin_kib_per_conn\n");
		fprintf(csv, "%u,%u,%u,%u,%u,%u,%.3f,%ld,%ld,%.1f,%ld,%.3f,%ld,%ld,%ld,%.1f\n", n,
			atomic_load(&sc.opened), atomic_load(&sc.verified),
			atomic_load(&sc.verified_after), atomic_load(&sc.quit_ok),
			atomic_load(&sc.failed), (double)t_open / 1e9, s0.rss_kb, s1.rss_kb,
			per_conn_kib, s1.fds, idle_cpu, m1.rss_kb, m1.fds, s1.pin_kb,
			pin_per_conn_kib);
	}
	o = b->out;
	jint(o, "sessions", n);
	jint(o, "threads", sc.nthreads);
	jint(o, "connected", atomic_load(&sc.opened));
	jint(o, "verified", atomic_load(&sc.verified));
	jint(o, "verified_after_idle", atomic_load(&sc.verified_after));
	jint(o, "quit_ok", atomic_load(&sc.quit_ok));
	jint(o, "failed", atomic_load(&sc.failed));
	jint(o, "failed_while_held", atomic_load(&sc.kept_failed));
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
		jdbl(srv, "pinned_kib_per_connection", pin_per_conn_kib);
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
	free(sc.owner);
	return ret;
}
