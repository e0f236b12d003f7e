/* Command-line handling shared by the programs: one option table drives getopt_long, the help
 * text, and the config setter, so a flag and its config-file key are validated alike. */
#ifndef SRDMA_APPS_CLI_H
#define SRDMA_APPS_CLI_H

#include <stddef.h>
#include <stdio.h>

struct cli_opt {
	const char *name; /* long option */
	int short_name;	  /* 0 for none */
	const char *arg;  /* argument name for the help, NULL for a switch */
	const char *key;  /* config key set by this option; NULL: handled by the program */
	const char *help;
};

/* The options of every program that connects to a server as a client: they set keys of
 * struct srdma_client_config (one list, so the programs agree on names and help). */
/* clang-format off */
#define CLI_CLIENT_OPTS							\
	{"port", 'p', "PORT", "port", "server TCP port (default 4433)"},			\
	{"ca", 0, "FILE", "ca",							\
	 "CA certificate(s) that must sign the server's certificate (required)"},		\
	{"server-name", 0, "NAME", "server_name",					\
	 "name to verify in the server certificate (default: SERVER)"},			\
	{"cert", 0, "FILE", "cert",							\
	 "client certificate, PEM (for servers requiring mutual TLS)"},			\
	{"key", 0, "FILE", "key", "client private key, PEM"},				\
	{"tls-min", 0, "1.2|1.3", "tls_min", "lowest TLS version accepted (default 1.3)"},	\
	{"device", 'd', "DEV", "device", "RDMA device (default: the first one)"},		\
	{"ib-port", 'i', "PORT", "ib_port", "RDMA port number (default 1)"},		\
	{"gid-index", 'x', "INDEX", "gid_index",					\
	 "GID index (default: the first RoCE v2 IPv4-mapped GID)"},			\
	{"dataplane", 0, "aead|chacha20|plain", "dataplane",				\
	 "data-plane messages sealed with AES-256-GCM (aead, default) or "		\
	 "ChaCha20-Poly1305 (chacha20, faster without AES hardware), or plain; "	\
	 "must match the server"},							\
	{"timeout-ms", 0, "MS", "timeout_ms", "deadline for each step (default 10000)"},	\
	{"log-level", 0, "LEVEL", "log_level", "error, warn, info or debug (default warn)"},	\
	{"busy-poll-us", 0, "US", "busy_poll_us",					\
	 "poll for completions this long before sleeping while awaiting the server "	\
	 "(default 200)"},								\
	{"depth", 't', "N", "depth",							\
	 "messages or RDMA writes kept in flight by pipelined operations, at most the "	\
	 "server's recv_depth (default 4)"}
/* clang-format on */

typedef int (*cli_setter)(void *cfg, const char *key, const char *value, char *err, size_t errlen);
typedef int (*cli_loader)(void *cfg, const char *path, char *err, size_t errlen);

struct cli {
	const char *prog;
	const char *usage;   /* e.g. "[options] SERVER" */
	const char *summary; /* one paragraph under the usage line */
	const char *epilog;  /* printed after the options */
	const struct cli_opt *opts;
	cli_setter set;
	cli_loader load;
	void *cfg;
};

enum cli_result {
	CLI_OK,
	CLI_EXIT_OK,	/* --help or --version was printed */
	CLI_EXIT_USAGE, /* a usage error was printed */
};

/* Parse argv: --config FILE first (loaded before any flag, so flags override it), then every
 * flag through the setter; --help and --version are built in. Positional arguments are left in
 * argv[*first_positional..argc). */
enum cli_result cli_parse(const struct cli *cli, int argc, char **argv, int *first_positional);

void cli_usage(const struct cli *cli, FILE *out);

#endif
