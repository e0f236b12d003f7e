/* Reloading srdma-server's configuration while it runs (SIGHUP, or srdma-server --reload):
 *
 *   - the configuration is read again as at start: defaults, the --config file, then the
 *     command-line flags (which still win);
 *   - the certificate, key and CA files are read again: new connections present the new
 *     certificate and check clients against the new CA (srdma_ctx_reload); sessions already
 *     set up, or in their handshake, keep what they began with;
 *   - tls_min, max_clients and log_level change for what comes next;
 *   - every other setting needs a restart: a change is logged and the running value kept;
 *   - anything wrong (an unreadable or invalid config file or value, a certificate, key or CA
 *     that cannot be loaded, a key that is not the certificate's) refuses the whole reload
 *     with a line naming the file: the running configuration stays as it was.
 *
 * srdma-server --reload sends SIGHUP with sigqueue(2) and a cookie; the server answers that
 * sender (and only a sender that gave the cookie, so that a plain `kill -HUP` from a shell is
 * never answered with a signal) with SIGUSR2 carrying the outcome. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#include "server.h"

/* sigval of srdma-server --reload's SIGHUP: "srdR". */
#define RELOAD_COOKIE 0x73726452
/* The answer's sigval. */
enum { RELOAD_OK = 0, RELOAD_REFUSED = 1, RELOAD_PARTIAL = 2 };
/* How long --reload waits for the answer: a reload reads a few files. */
#define RELOAD_WAIT_S 30

#define LOG_EVENT SRDMA_LOG_STR("event", "reload")

/* A setting that needs a restart: if the new value differs, say so and keep the running one.
 * Returns 1 if it differed. */
static int keep_num(const char *key, long long running, long long wanted)
{
	struct srdma_log_field f[] = {LOG_EVENT, SRDMA_LOG_STR("key", key)};

	if (running == wanted)
		return 0;
	srdma_log_fields(
	    SRDMA_LOG_WARN, f, 2,
	    "reload: %s changed from %lld to %lld, which needs a restart; keeping %lld", key,
	    running, wanted, running);
	return 1;
}

static int keep_str(const char *key, const char *running, const char *wanted)
{
	struct srdma_log_field f[] = {LOG_EVENT, SRDMA_LOG_STR("key", key)};

	if (!strcmp(running, wanted))
		return 0;
	srdma_log_fields(SRDMA_LOG_WARN, f, 2,
			 "reload: %s changed from \"%s\" to \"%s\", which needs a restart; keeping "
			 "\"%s\"",
			 key, running, wanted, running);
	return 1;
}

#define KEEP_NUM(field)                                                                            \
	do {                                                                                       \
		kept += keep_num(#field, (long long)cur->field, (long long)next->field);           \
		next->field = cur->field;                                                          \
	} while (0)
#define KEEP_STR(field)                                                                            \
	do {                                                                                       \
		kept += keep_str(#field, cur->field, next->field);                                 \
		memcpy(next->field, cur->field, sizeof(next->field));                              \
	} while (0)

/* Put the running value back into next for every setting that needs a restart; the count of
 * those that differed. */
static int keep_restart_only(const struct srdma_server_config *cur,
			     struct srdma_server_config *next)
{
	int kept = 0;

	if (!next->workers)
		next->workers = srdma_cpus_allowed(); /* as server_create resolves auto */
	KEEP_STR(bind);
	KEEP_NUM(port);
	KEEP_STR(device);
	KEEP_NUM(ib_port);
	KEEP_NUM(gid_index);
	KEEP_NUM(workers);
	KEEP_NUM(handshake_timeout_ms);
	KEEP_NUM(max_msg);
	KEEP_NUM(write_size);
	KEEP_NUM(recv_depth);
	KEEP_NUM(busy_poll_us);
	KEEP_NUM(max_msg_rate);
	KEEP_NUM(dataplane);
	KEEP_NUM(max_pending);
	KEEP_NUM(max_pending_per_addr);
	KEEP_NUM(early_drop_pct);
	KEEP_NUM(heartbeat_ms);
	KEEP_NUM(heartbeat_misses);
	KEEP_NUM(rekey_messages);
	KEEP_STR(log_format);
	KEEP_STR(metrics_listen);
	KEEP_STR(metrics_cert);
	KEEP_STR(metrics_key);
	KEEP_STR(metrics_client_ca);
	/* The client CA may change file; asking for client certificates or not is the shape of
	 * the listener's context. */
	if (!cur->client_ca[0] != !next->client_ca[0]) {
		kept += keep_str("client_ca", cur->client_ca, next->client_ca);
		memcpy(next->client_ca, cur->client_ca, sizeof(next->client_ca));
	}
	return kept;
}

static void answer(const struct signalfd_siginfo *si, int outcome)
{
	union sigval v = {.sival_int = outcome};

	if (!si || si->ssi_code != SI_QUEUE || si->ssi_int != RELOAD_COOKIE || si->ssi_pid == 0)
		return;
	if (sigqueue((pid_t)si->ssi_pid, SIGUSR2, v))
		srdma_debug("reload: cannot answer process %u: %s", si->ssi_pid, strerror(errno));
}

static void refuse(struct server *srv, const struct signalfd_siginfo *si, const char *err)
{
	struct srdma_log_field f[] = {LOG_EVENT, SRDMA_LOG_STR("result", "refused"),
				      SRDMA_LOG_STR("error", err)};

	srdma_log_fields(SRDMA_LOG_ERROR, f, 3,
			 "reload refused, the running configuration stays: %s", err);
	server_notify_ready(srv);
	answer(si, RELOAD_REFUSED);
}

void server_reload(struct server *srv, const struct signalfd_siginfo *si)
{
	struct srdma_server_config *next;
	struct srdma_ctx_opts co;
	char err[640];
	int kept, ret;

	server_notify_reloading();
	srdma_info("%s: reloading the configuration and certificates",
		   si && si->ssi_code == SI_QUEUE && si->ssi_int == RELOAD_COOKIE
		       ? "reload requested"
		       : "Hangup received");
	/* Large (file names): not on the stack. */
	next = malloc(sizeof(*next));
	if (!next) {
		refuse(srv, si, "out of memory");
		return;
	}
	err[0] = '\0';
	ret = srv->reread ? srv->reread(srv->reread_arg, next, err, sizeof(err)) : -ENOSYS;
	if (!ret)
		ret = srdma_server_config_validate(next, err, sizeof(err));
	if (ret) {
		refuse(srv, si, err[0] ? err : strerror(-ret));
		free(next);
		return;
	}
	kept = keep_restart_only(&srv->cfg, next);

	/* Every file is read and checked before anything changes. */
	srdma_ctx_opts_init(&co);
	co.cert = next->cert;
	co.key = next->key;
	co.ca = next->client_ca[0] ? next->client_ca : NULL;
	co.tls_min = next->tls_min;
	co.max_conns = next->max_clients;
	ret = srdma_ctx_reload(srv->ctx, &co, err, sizeof(err));
	if (ret) {
		refuse(srv, si, err);
		free(next);
		return;
	}
	/* The workers read none of these; the file names and tls_min only the main thread.
	 * max_clients is also reported by the metrics thread: stored atomically, to be read so. */
	memcpy(srv->cfg.cert, next->cert, sizeof(srv->cfg.cert));
	memcpy(srv->cfg.key, next->key, sizeof(srv->cfg.key));
	memcpy(srv->cfg.client_ca, next->client_ca, sizeof(srv->cfg.client_ca));
	srv->cfg.tls_min = next->tls_min;
	__atomic_store_n(&srv->cfg.max_clients, next->max_clients, __ATOMIC_RELAXED);
	srv->cfg.log_level = next->log_level;
	srdma_log_set_level((enum srdma_log_level)next->log_level);
	{
		struct srdma_log_field f[] = {
		    LOG_EVENT,
		    SRDMA_LOG_STR("result", kept ? "partial" : "ok"),
		    SRDMA_LOG_STR("cert", next->cert),
		    SRDMA_LOG_STR("client_ca", next->client_ca),
		    SRDMA_LOG_NUM("max_clients", next->max_clients),
		};

		srdma_log_fields(SRDMA_LOG_INFO, f, 5,
				 "reloaded: certificate %s, key %s%s%s, TLS %s minimum, up to %u "
				 "clients, log level %s; %d setting%s kept until a restart; live "
				 "sessions carry on unchanged",
				 next->cert, next->key, next->client_ca[0] ? ", client CA " : "",
				 next->client_ca, next->tls_min == SRDMA_TLS_1_2 ? "1.2" : "1.3",
				 next->max_clients,
				 srdma_log_level_name((enum srdma_log_level)next->log_level), kept,
				 kept == 1 ? "" : "s");
	}
	free(next);
	server_notify_ready(srv);
	answer(si, kept ? RELOAD_PARTIAL : RELOAD_OK);
}

int server_reload_request(const char *pid_arg)
{
	const char *s = pid_arg && *pid_arg ? pid_arg : getenv("MAINPID");
	union sigval v = {.sival_int = RELOAD_COOKIE};
	struct timespec left = {.tv_sec = RELOAD_WAIT_S};
	siginfo_t info;
	sigset_t mask;
	char *end;
	long pid;

	if (!s || !*s) {
		fprintf(stderr,
			"srdma-server: --reload needs the server's process ID (an argument, "
			"or $MAINPID)\n");
		return 2;
	}
	errno = 0;
	pid = strtol(s, &end, 10);
	if (errno || *end || pid <= 1) {
		fprintf(stderr, "srdma-server: --reload: \"%s\" is not a process ID\n", s);
		return 2;
	}
	/* Blocked before the request goes, so that the answer cannot come first. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (sigqueue((pid_t)pid, SIGHUP, v)) {
		fprintf(stderr, "srdma-server: --reload: cannot signal process %ld: %s\n", pid,
			strerror(errno));
		return 1;
	}
	for (;;) {
		struct timespec t0, t1;
		int sig;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		sig = sigtimedwait(&mask, &info, &left);
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0) {
			fprintf(stderr,
				"srdma-server: --reload: no answer from process %ld within %d s "
				"(a server that runs as another user cannot answer): see its log\n",
				pid, RELOAD_WAIT_S);
			return 1;
		}
		if (info.si_pid == (pid_t)pid && info.si_code == SI_QUEUE)
			break;
		/* Someone else's SIGUSR2: wait on for the rest of the time. */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left.tv_sec -= t1.tv_sec - t0.tv_sec;
		if (left.tv_sec <= 0)
			left.tv_sec = 1;
	}
	switch (info.si_value.sival_int) {
	case RELOAD_OK:
		fprintf(stderr, "srdma-server: process %ld reloaded its configuration\n", pid);
		return 0;
	case RELOAD_PARTIAL:
		fprintf(stderr,
			"srdma-server: process %ld reloaded; some changed settings need a restart "
			"(see its log)\n",
			pid);
		return 0;
	default:
		fprintf(stderr,
			"srdma-server: process %ld refused the new configuration and kept the "
			"running one (its log says why)\n",
			pid);
		return 1;
	}
}
