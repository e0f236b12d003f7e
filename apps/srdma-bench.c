/* srdma-bench: latency, RDMA-write bandwidth, message rate, many clients, connection set-up
 * time and scale, measured with the echo protocol's client (echo_client.h, on <srdma.h>) against
 * a running srdma-server. Every echoed byte and every RDMA-written region is verified, so a fast
 * wrong answer cannot pass for a fast right one. Results as a table, JSON (--json) and CSV. */
#include "bench.h"
#include "cli.h"

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
    {"op", 0, "echo|write", "b_op",
     "clients mode: what each client does (default echo); msg-rate: echo measures "
     "pipelined round trips instead of one-way PUSHes"},
    {"threads", 0, "N", "b_threads",
     "threads driving the sessions (clients: default one per session; scale: default 4)"},
    {"connect-at-once", 0, "N", "b_connect_at_once",
     "write-bw, msg-rate, clients: sessions setting up at the same time (default 8)"},
    {"verified", 0, "N", "b_verified",
     "RDMA writes verified one by one after the raw phase, per session (default 20)"},
    {"idle", 0, "SECONDS", "b_idle", "scale: how long the sessions sit idle (default 10)"},
    {"add-qp", 0, NULL, "b_add_qp",
     "setup: then add one QP to each connection (srdma_conn_add_qp) and time that too, "
     "then adds to K connections at once"},
    {"resumption", 0, "on|off", "b_resumption",
     "setup: K full handshakes alternating with K that resume the TLS session, each kind "
     "reported on its own (on, the default); off: K full ones"},
    {"server-pid", 0, "PID", "b_server_pid",
     "sample this server process's CPU time, memory and descriptors from /proc"},
    {"json", 0, "FILE", "b_json", "write the results as one JSON object to FILE (- = stdout)"},
    {"csv", 0, "FILE", "b_csv", "write the result table as CSV to FILE"},
    {"samples", 0, "FILE", "b_samples",
     "write every timed sample as CSV to FILE (latency, setup, clients)"},
    {"label", 0, "TEXT", "b_label", "free text stored in the JSON (e.g. the run's name)"},
    {0},
};

static const char *const mode_names[] = {"latency", "write-bw", "msg-rate",
					 "clients", "setup",	"scale"};

static volatile sig_atomic_t stop_requested;

int bench_stopping(void)
{
	return stop_requested;
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

uint64_t now_ns(void)
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
		ret = parse_uint(value, 1, SRDMA_MSG_MAX, &v, err, errlen);
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
	} else if (!strcmp(key, "add_qp")) {
		b->add_qp = 1;
	} else if (!strcmp(key, "resumption")) {
		if (!strcmp(value, "on"))
			b->resumption = 1;
		else if (!strcmp(value, "off"))
			b->resumption = 0;
		else {
			snprintf(err, errlen, "expected on or off");
			ret = -EINVAL;
		}
	} else if (!strcmp(key, "qps")) {
		ret = parse_uint(value, 1, 1024, &v, err, errlen);
		b->qps = (unsigned)v;
	} else if (!strcmp(key, "warmup")) {
		ret = parse_uint(value, 0, 1000000, &v, err, errlen);
		b->warmup = (unsigned)v;
	} else if (!strcmp(key, "op")) {
		b->op_set = 1;
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
		"               server region, --depth in flight; then a verification, and\n"
		"               --verified writes checked one by one\n"
		"  msg-rate     one-way messages (PUSH) per second over -q sessions, --depth in\n"
		"               flight (at most the server's recv_depth), a PING closing each\n"
		"               group; --depth 1: lock-step echoes\n"
		"  clients N    N sessions at once, one thread each (or --threads), doing --op\n"
		"  setup K      K connections one after another: time of each set-up step;\n"
		"               with --resumption on (default), K full handshakes alternate\n"
		"               with K resumed ones, and each kind has its own table;\n"
		"               --add-qp: then one QP added to each, timed too, and\n"
		"               adds to K connections at once (messages, then bare QPs)\n"
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
	b.resumption = 1;
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
	jstr(b.out, "dataplane", srdma_dp_mode_name(b.cfg.dataplane));
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
	/* One context for every session: TLS trust and identity loaded and the device opened
	 * once, so that a session's set-up is its own handshake and resources. */
	{
		uint64_t t0 = now_ns();

		ret = echo_client_ctx_create(&b.cfg, 1, &b.ctx, err, sizeof(err));
		b.ctx_us = (now_ns() - t0) / 1000;
	}
	if (ret)
		fprintf(stderr, "srdma-bench: %s\n", err);
	else
		jint(b.out, "ctx_us", (int64_t)b.ctx_us);
	switch (ret ? -1 : (int)b.mode) {
	case -1:
		break;
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
	srdma_ctx_destroy(b.ctx);
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
