/* srdma-server: argv -> config -> server_create/run/destroy (server.c), an application of
 * libsrdma (<srdma.h>) serving the echo protocol (echo_proto.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#include "cli.h"
#include "server.h"

static const struct cli_opt opts[] = {
    {"port", 'p', "PORT", "port", "TCP port of the TLS control channel (default 4433)"},
    {"bind", 0, "ADDR", "bind", "address to listen on (default 0.0.0.0)"},
    {"cert", 0, "FILE", "cert", "server certificate chain, PEM (required)"},
    {"key", 0, "FILE", "key", "server private key, PEM (required)"},
    {"client-ca", 0, "FILE", "client_ca", "require client certificates signed by this CA"},
    {"tls-min", 0, "1.2|1.3", "tls_min", "lowest TLS version accepted (default 1.3)"},
    {"device", 'd', "DEV", "device", "RDMA device (default: the first one)"},
    {"ib-port", 'i', "PORT", "ib_port", "RDMA port number (default 1)"},
    {"gid-index", 'x', "INDEX", "gid_index",
     "GID index (default: the first RoCE v2 IPv4-mapped GID)"},
    {"workers", 'w', "N|auto", "workers",
     "worker threads; auto: one per CPU the process may run on (default auto)"},
    {"max-clients", 'm', "N", "max_clients", "clients served at once (default 10)"},
    {"handshake-timeout-ms", 0, "MS", "handshake_timeout_ms",
     "deadline for TLS and connection set-up (default 5000)"},
    {"resumption", 0, "on|off", "resumption",
     "TLS 1.3 session resumption: tickets let a client reconnect with a shorter handshake "
     "(default on; off: every handshake is a full one)"},
    {"max-msg", 0, "BYTES", "max_msg", "largest data-plane message payload (default 65536)"},
    {"write-size", 0, "BYTES", "write_size",
     "largest RDMA-write region a client may ask for (default 65536)"},
    {"recv-depth", 0, "N", "recv_depth", "receives posted per client (default 4)"},
    {"busy-poll-us", 0, "US", "busy_poll_us",
     "keep polling completions this long after the last one before sleeping (default 200)"},
    {"max-msg-rate", 0, "N", "max_msg_rate",
     "data-plane messages per second one client may send on average, in bursts of recv-depth; "
     "a faster client is slowed down (its requests wait), not cut off (default 0: no limit)"},
    {"dataplane", 0, "aead|chacha20|plain", "dataplane",
     "data-plane messages sealed with AES-256-GCM (aead, default) or ChaCha20-Poly1305 "
     "(chacha20, faster without AES hardware), or plain; must match the client"},
    {"max-pending", 0, "N", "max_pending",
     "TLS handshakes and set-ups in progress at once (default 256)"},
    {"max-pending-per-addr", 0, "N", "max_pending_per_addr",
     "of which from one source address (IPv4 address, IPv6 /64) (default 32)"},
    {"early-drop-pct", 0, "PCT", "early_drop_pct",
     "randomly drop new handshakes from busy addresses once this percentage of max-pending "
     "is in use (default 50; 100: never)"},
    {"heartbeat-ms", 0, "MS", "heartbeat_ms",
     "liveness ping on the control channel this often (default 5000; 0: off)"},
    {"heartbeat-misses", 0, "N", "heartbeat_misses",
     "end a session silent for this many heartbeats (default 3)"},
    {"rekey-messages", 0, "N", "rekey_messages",
     "data-plane keys change every N messages per direction (default 65536)"},
    {"log-level", 0, "LEVEL", "log_level", "error, warn, info or debug (default info)"},
    {"log-format", 0, "text|json", "log_format",
     "log lines as text (default) or one JSON object each; under systemd's journal, text "
     "lines carry syslog priorities instead of times"},
    {"reload", 0, NULL, NULL,
     "srdma-server --reload [PID]: make the server PID (default $MAINPID) re-read its "
     "configuration and certificates, as SIGHUP does, and wait for the outcome"},
    {"metrics-listen", 0, "ADDR:PORT", "metrics_listen",
     "serve Prometheus metrics at /metrics and JSON statistics at /stats on this address, "
     "e.g. 127.0.0.1:9464 (default: off)"},
    {"metrics-cert", 0, "FILE", "metrics_cert", "serve them over HTTPS with this certificate"},
    {"metrics-key", 0, "FILE", "metrics_key", "the private key of metrics-cert"},
    {"metrics-client-ca", 0, "FILE", "metrics_client_ca",
     "require HTTPS clients to present a certificate this CA signed"},
    {0},
};

static int set(void *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	return srdma_server_config_set(cfg, key, value, err, errlen);
}

static int load(void *cfg, const char *path, char *err, size_t errlen)
{
	return srdma_server_config_load(cfg, path, err, errlen);
}

/* A reload reads the configuration as main did: defaults, --config, the flags. */
struct reread {
	struct srdma_server_config cfg; /* first: the setter takes a pointer to it */
	int argc;
	char **argv;
	char err[512];
};

/* cli_parse prints a load error itself; a reload logs it instead, so it is kept here. */
static int reread_load(void *arg, const char *path, char *err, size_t errlen)
{
	struct reread *r = arg;

	if (srdma_server_config_load(&r->cfg, path, err, errlen) && !r->err[0])
		snprintf(r->err, sizeof(r->err), "%s", err);
	return 0;
}

static int reread(void *arg, struct srdma_server_config *out, char *err, size_t errlen)
{
	struct reread *r = arg;
	struct cli cli = {
	    .prog = "srdma-server", .opts = opts, .set = set, .load = reread_load, .cfg = &r->cfg};
	int first;

	srdma_server_config_defaults(&r->cfg);
	r->err[0] = '\0';
	/* The flags were good at start; only the file can have changed. */
	if (cli_parse(&cli, r->argc, r->argv, &first) != CLI_OK && !r->err[0])
		snprintf(r->err, sizeof(r->err), "the command line no longer parses");
	if (r->err[0]) {
		snprintf(err, errlen, "%s", r->err);
		return -EINVAL;
	}
	*out = r->cfg;
	return 0;
}

int main(int argc, char **argv)
{
	struct srdma_server_config cfg;
	struct server *srv;
	struct cli cli = {
	    .prog = "srdma-server",
	    .usage = "[options] --cert FILE --key FILE",
	    .summary = "Serve secure-rdma clients: RDMA RC connections whose PSNs, QPNs, GIDs and "
		       "memory keys\nare exchanged only inside TLS. Stops gracefully on SIGINT or "
		       "SIGTERM; SIGUSR1 logs counts;\nSIGHUP (or --reload) re-reads the "
		       "configuration and certificates for new connections.",
	    .epilog = "Config file keys are the long option names with '_' for '-' (e.g. "
		      "max_clients = 10);\nTHREAD_POOL_SIZE and MAX_CONNECTIONS are accepted "
		      "too. See the README.\n",
	    .opts = opts,
	    .set = set,
	    .load = load,
	    .cfg = &cfg,
	};
	static struct reread rr;
	enum srdma_log_format format;
	char err[512];
	int first, ret;

	/* srdma-server --reload [PID] (the unit's ExecReload) asks a running server. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reload"))
			continue;
		if (i != 1 || argc > 3) {
			fprintf(stderr, "srdma-server: usage: srdma-server --reload [PID]\n");
			return 2;
		}
		return server_reload_request(argc > 2 ? argv[2] : NULL);
	}
	srdma_server_config_defaults(&cfg);
	switch (cli_parse(&cli, argc, argv, &first)) {
	case CLI_EXIT_OK:
		return 0;
	case CLI_EXIT_USAGE:
		return 2;
	case CLI_OK:
		break;
	}
	if (first < argc) {
		fprintf(stderr,
			"srdma-server: unexpected argument \"%s\"\nTry 'srdma-server --help'.\n",
			argv[first]);
		return 2;
	}
	if (srdma_server_config_validate(&cfg, err, sizeof(err))) {
		fprintf(stderr, "srdma-server: %s\nTry 'srdma-server --help'.\n", err);
		return 2;
	}
	srdma_log_set_tag("srdma-server");
	srdma_log_set_level((enum srdma_log_level)cfg.log_level);
	if (!srdma_log_parse_format(cfg.log_format, &format))
		srdma_log_set_format(format);
	srdma_log_detect_journal();
	signal(SIGPIPE, SIG_IGN);

	ret = server_create(&cfg, &srv, err, sizeof(err));
	if (ret) {
		srdma_err("cannot start: %s", err);
		return 1;
	}
	rr.argc = argc;
	rr.argv = argv;
	srv->reread = reread;
	srv->reread_arg = &rr;
	ret = server_run(srv);
	server_destroy(srv);
	return ret ? 1 : 0;
}
