/* srdma-client: connect, echo and verify messages, RDMA-write and verify, ping, idle, quit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "config.h"
#include "log.h"

#include "cli.h"
#include "echo_client.h"

static const struct cli_opt opts[] = {
    CLI_CLIENT_OPTS,
    {"pattern", 0, "STR", "pattern", "bytes to send, repeated to SIZE (default secure-rdma)"},
    {"count", 'n', "COUNT", "count", "DATA messages to send and verify (default 1)"},
    {"size", 's', "SIZE", "size", "bytes per message and per RDMA write (default 64)"},
    {"writes", 0, "COUNT", "writes", "RDMA writes to make and have verified (default 0)"},
    {"ping", 0, NULL, "ping", "measure one PING/PONG round trip"},
    {"idle", 0, "SECONDS", "idle", "stay connected this long before quitting (default 0)"},
    {"repeat", 0, "N", "repeat", "run the whole session N times, one after another (default 1)"},
    {"json", 0, NULL, "json", "print one JSON object with the results at the end"},
    {"retry", 0, "N", "retry",
     "when the server is full, unreachable or shutting down, try again up to N times, "
     "waiting 0.25 s, 0.5 s, 1 s ... (at most 8 s) in between (default 0)"},
    {0},
};

struct results {
	unsigned sessions_ok;
	unsigned messages_verified;
	unsigned writes_verified;
	int pinged;
	uint64_t ping_ns;
	int have_info;
	struct echo_client_info info;
	struct echo_client_timing steps; /* the last session's set-up, step by step */
	int error;
	unsigned retries; /* connection attempts repeated (--retry) */
	/* Where the process spent its time, in microseconds (CLOCK_MONOTONIC), summed over the
	 * sessions: the context, echo_client_connect (set-up and WELCOME), the echoes, writes,
	 * ping and idle, QUIT and BYE, closing, destroying the context. start: main()'s start. */
	struct {
		uint64_t ctx, connect, echo, other, quit, close, ctx_destroy;
	} t;
	uint64_t start;
	char errmsg[512];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* SIGINT/SIGTERM: stop after the current operation and quit the session cleanly. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_stop_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: an idle wait must wake up. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int set(void *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	return srdma_client_config_set(cfg, key, value, err, errlen);
}

static int load(void *cfg, const char *path, char *err, size_t errlen)
{
	return srdma_client_config_load(cfg, path, err, errlen);
}

/* The pattern repeated to len bytes, starting `shift` bytes into it, so that consecutive
 * messages differ and a stale buffer cannot pass for a fresh one. */
static void fill(uint8_t *buf, uint32_t len, const char *pattern, size_t plen, unsigned shift)
{
	size_t j = shift % plen; /* one division per message, not one per byte */
	uint32_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)pattern[j];
		if (++j == plen)
			j = 0;
	}
}

/* Failures worth another try: the server full, shutting down, unreachable, not listening
 * (but not a refusal of who we are), or dropping us before TLS finished (a busy listener). */
static int retryable(int ret, const char *errmsg)
{
	switch (ret) {
	case -EBUSY:
	case -ESHUTDOWN:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECONNRESET:
		return 1;
	case -ECONNREFUSED:
		return strncmp(errmsg, "refused by", 10) != 0;
	default:
		return 0;
	}
}

/* Sleep ms, or less if a stop is requested. */
static void pause_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Connect, and with --retry N try again after retryable failures, with exponential backoff
 * (250 ms doubling to 8 s, a quarter of random jitter so that many clients spread out). */
static int connect_retrying(struct srdma_ctx *ctx, const struct srdma_client_config *cfg,
			    struct echo_client **cl, struct results *r)
{
	unsigned attempt, delay;
	int ret;

	for (attempt = 0;; attempt++) {
		ret = echo_client_connect(ctx, cfg, cl, r->errmsg, sizeof(r->errmsg));
		if (!ret || attempt >= cfg->retry || stop_requested || !retryable(ret, r->errmsg))
			return ret;
		delay = attempt < 5 ? 250u << attempt : 8000u;
		delay += (unsigned)(rand() % (int)(delay / 4 + 1));
		fprintf(stderr, "srdma-client: %s; trying again in %u ms (retry %u of %u)\n",
			r->errmsg, delay, attempt + 1, cfg->retry);
		pause_ms(delay);
		r->retries++;
	}
}

static int run_session(struct srdma_ctx *ctx, const struct srdma_client_config *cfg,
		       struct results *r)
{
	struct echo_client *cl;
	uint64_t t = now_us(), t1;
	size_t plen = strlen(cfg->pattern);
	uint8_t *buf;
	unsigned i;
	int ret;

	buf = malloc(cfg->size);
	if (!buf) {
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
		return -ENOMEM;
	}
	ret = connect_retrying(ctx, cfg, &cl, r);
	t1 = now_us();
	r->t.connect += t1 - t;
	t = t1;
	if (ret) {
		free(buf);
		return ret;
	}
	echo_client_get_info(cl, &r->info);
	echo_client_get_timing(cl, &r->steps);
	r->have_info = 1;
	if (!cfg->json && cfg->repeat == 1)
		printf(
		    "connected to %s port %u (%s) over %s, path MTU %d, data plane %s, in %.1f ms\n"
		    "server says: %s\n",
		    cfg->host, cfg->port, r->info.tls, r->info.device, r->info.path_mtu,
		    r->info.dataplane != SRDMA_DP_PLAIN ? "sealed" : "plain",
		    (double)r->info.connect_us / 1000.0, r->info.welcome);

	for (i = 0; i < cfg->count && !ret && !stop_requested; i++) {
		fill(buf, cfg->size, cfg->pattern, plen, i);
		ret = echo_client_echo(cl, buf, cfg->size);
		if (!ret)
			r->messages_verified++;
	}
	t1 = now_us();
	r->t.echo += t1 - t;
	t = t1;
	for (i = 0; i < cfg->writes && !ret && !stop_requested; i++) {
		fill(buf, cfg->size, cfg->pattern, plen, i + 1);
		ret = echo_client_write(cl, buf, cfg->size, 0);
		if (!ret)
			r->writes_verified++;
	}
	if (!ret && cfg->ping && !stop_requested) {
		ret = echo_client_ping(cl, &r->ping_ns);
		r->pinged = !ret;
	}
	if (!ret && cfg->idle_s && !stop_requested) {
		/* A line on stderr, flushed, so a script knows the work is done and a signal now
		 * only cuts the idle time short. */
		fprintf(stderr, "srdma-client: idling %u s (SIGINT or SIGTERM quits)\n",
			cfg->idle_s);
		fflush(stderr);
		ret = echo_client_idle(cl, cfg->idle_s * 1000u);
		if (ret == -EINTR && stop_requested)
			ret = 0;
	}
	t1 = now_us();
	r->t.other += t1 - t;
	t = t1;
	if (!ret)
		ret = echo_client_quit(cl);
	if (!ret)
		r->sessions_ok++;
	if (ret)
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", echo_client_errmsg(cl));
	t1 = now_us();
	r->t.quit += t1 - t;
	t = t1;
	echo_client_close(cl);
	free(buf);
	r->t.close += now_us() - t;
	return ret;
}

/* One context (CA, client certificate, device) for every session of the process: each one
 * costs a TLS handshake, not a context load. */
static int run(const struct srdma_client_config *cfg, struct results *r)
{
	struct srdma_ctx *ctx;
	uint64_t t = now_us();
	unsigned i;
	int ret;

	ret = echo_client_ctx_create(cfg, 0, &ctx, r->errmsg, sizeof(r->errmsg));
	r->t.ctx = now_us() - t;
	if (ret)
		return ret;
	for (i = 0; i < cfg->repeat && !ret && !stop_requested; i++)
		ret = run_session(ctx, cfg, r);
	t = now_us();
	srdma_ctx_destroy(ctx);
	r->t.ctx_destroy = now_us() - t;
	return ret;
}

static void print_text(const struct srdma_client_config *cfg, const struct results *r, int ok)
{
	if (cfg->repeat > 1)
		printf("sessions: %u of %u completed\n", r->sessions_ok, cfg->repeat);
	if (cfg->count)
		printf("echo: %u of %u messages of %u bytes verified\n", r->messages_verified,
		       cfg->count * cfg->repeat, cfg->size);
	if (cfg->writes)
		printf("rdma write: %u of %u writes of %u bytes verified\n", r->writes_verified,
		       cfg->writes * cfg->repeat, cfg->size);
	if (r->pinged)
		printf("ping: round trip %.1f us\n", (double)r->ping_ns / 1000.0);
	if (ok)
		printf("ok: server said BYE\n");
}

/* A JSON object of n figures in microseconds, name[i]: us[i]. */
static struct json_object *us_object(const char *const *name, const uint64_t *us, size_t n)
{
	struct json_object *t = json_object_new_object();

	for (size_t i = 0; i < n; i++)
		json_object_object_add(t, name[i], json_object_new_int64((int64_t)us[i]));
	return t;
}

static void print_json(const struct srdma_client_config *cfg, const struct results *r, int ok)
{
	static const char *const step_name[] = {"tcp", "tls", "open", "qp", "ready"};
	static const char *const part_name[] = {"ctx",	"connect", "echo",	  "other",
						"quit", "close",   "ctx_destroy", "main"};
	const uint64_t step_us[] = {r->steps.tcp_us, r->steps.tls_us, r->steps.open_us,
				    r->steps.qp_us, r->steps.ready_us};
	const uint64_t part_us[] = {r->t.ctx,  r->t.connect, r->t.echo,	       r->t.other,
				    r->t.quit, r->t.close,   r->t.ctx_destroy, now_us() - r->start};
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "server", json_object_new_string(cfg->host));
	json_object_object_add(o, "pattern", json_object_new_string(cfg->pattern));
	json_object_object_add(o, "size", json_object_new_int64(cfg->size));
	json_object_object_add(o, "sessions_requested", json_object_new_int64(cfg->repeat));
	json_object_object_add(o, "sessions_ok", json_object_new_int64(r->sessions_ok));
	json_object_object_add(o, "messages_requested",
			       json_object_new_int64((int64_t)cfg->count * cfg->repeat));
	json_object_object_add(o, "messages_verified", json_object_new_int64(r->messages_verified));
	json_object_object_add(o, "writes_requested",
			       json_object_new_int64((int64_t)cfg->writes * cfg->repeat));
	json_object_object_add(o, "writes_verified", json_object_new_int64(r->writes_verified));
	json_object_object_add(o, "retries", json_object_new_int64(r->retries));
	if (r->have_info) {
		json_object_object_add(o, "local_psn", json_object_new_int64(r->info.local_psn));
		json_object_object_add(o, "remote_psn", json_object_new_int64(r->info.remote_psn));
		json_object_object_add(o, "connect_us",
				       json_object_new_int64((int64_t)r->info.connect_us));
		json_object_object_add(o, "tls", json_object_new_string(r->info.tls));
		json_object_object_add(o, "device", json_object_new_string(r->info.device));
		json_object_object_add(
		    o, "dataplane", json_object_new_string(srdma_dp_mode_name(r->info.dataplane)));
		json_object_object_add(o, "welcome", json_object_new_string(r->info.welcome));
		json_object_object_add(o, "setup_us", us_object(step_name, step_us, 5));
		json_object_object_add(o, "setup_tcp_retrans",
				       json_object_new_int64(r->info.tcp_retrans));
	}
	if (r->pinged) {
		char rtt[32];

		snprintf(rtt, sizeof(rtt), "%.1f", (double)r->ping_ns / 1000.0);
		json_object_object_add(o, "ping_rtt_us",
				       json_object_new_double_s((double)r->ping_ns / 1000.0, rtt));
	}
	json_object_object_add(o, "timing_us", us_object(part_name, part_us, 8));
	if (!ok)
		json_object_object_add(o, "error", json_object_new_string(r->errmsg));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int main(int argc, char **argv)
{
	struct srdma_client_config cfg;
	struct results r = {0};
	struct cli cli = {
	    .prog = "srdma-client",
	    .usage = "[options] SERVER",
	    .summary = "Connect to a secure-rdma server over TLS, set up an RDMA RC connection, "
		       "and verify\nevery byte echoed and every RDMA write. Exit status 0 only "
		       "if everything sent was verified.",
	    .epilog = "Exit status: 0 all verified; 1 the session failed or a check failed; 2 "
		      "usage error.\n",
	    .opts = opts,
	    .set = set,
	    .load = load,
	    .cfg = &cfg,
	};
	char err[512];
	int first, ret, ok;

	r.start = now_us();
	/* OpenSSL's own exit handler frees every provider, algorithm and table it loaded: work
	 * that the process's end does anyway, tens of milliseconds of a one-message session in
	 * the Soft-RoCE VM. Its memory stays reachable, so a leak checker does not count it. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	srdma_client_config_defaults(&cfg);
	switch (cli_parse(&cli, argc, argv, &first)) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	case CLI_OK:
		break;
	}
	if (argc - first > 1) {
		fprintf(stderr, "srdma-client: one SERVER expected\nTry 'srdma-client --help'.\n");
		return 2;
	}
	if (argc - first == 1 &&
	    srdma_client_config_set(&cfg, "host", argv[first], err, sizeof(err))) {
		fprintf(stderr, "srdma-client: %s\n", err);
		return 2;
	}
	if (srdma_client_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "srdma-client: %s\nTry 'srdma-client --help'.\n", err);
		return 2;
	}
	srdma_log_set_tag("srdma-client");
	srdma_log_set_level((enum srdma_log_level)cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	install_stop_handler();
	srand((unsigned)time(NULL) ^ (unsigned)getpid()); /* retry jitter only */

	ret = run(&cfg, &r);
	/* A stop request that cut the work short is not "everything verified". */
	ok = ret == 0 && r.sessions_ok == cfg.repeat &&
	     r.messages_verified == cfg.count * cfg.repeat &&
	     r.writes_verified == cfg.writes * cfg.repeat;
	if (ret == 0 && !ok)
		snprintf(r.errmsg, sizeof(r.errmsg), "stopped by a signal before finishing");
	if (cfg.json)
		print_json(&cfg, &r, ok);
	else
		print_text(&cfg, &r, ok);
	if (!ok)
		fprintf(stderr, "srdma-client: %s\n", r.errmsg);
	return ok ? 0 : 1;
}
