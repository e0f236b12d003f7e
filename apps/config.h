/* Server and client settings: defaults, one validating setter per key, and an INI loader.
 *
 * Every setting has one key, the long command-line flag with '-' written '_' (e.g. "max_clients"
 * for --max-clients). Keys are case-insensitive and '-' and '_' are interchangeable, so the
 * config file and the flags go through the same setter and the same validation. The server also
 * accepts the historical names THREAD_POOL_SIZE (= workers) and MAX_CONNECTIONS (= max_clients).
 *
 * INI files (libinih): "key = value" lines, '#' or ';' comments, optionally under a [server]
 * (server files) or [client] (client files) section; any other section or an unknown key is an
 * error naming the file and line. Errors are returned as -EINVAL with a message in err (a buffer
 * of errlen bytes, always NUL-terminated when errlen > 0); nothing is logged. Not thread-safe
 * (configs are built before threads start). */
#ifndef SRDMA_CONFIG_H
#define SRDMA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <srdma.h>

#define SRDMA_DEFAULT_PORT 4433
#define SRDMA_PATH_MAX	   4096
#define SRDMA_NAME_MAX	   256

/* The largest RDMA-write target (write_size): 64 MiB, registered (pinned) per client that asks
 * for that much (the echo protocol's REGION; none for a client that does not write). */
#define SRDMA_WRITE_SIZE_MAX (1u << 26)

/* enum srdma_tls_version, enum srdma_dp_mode and srdma_dp_mode_name() (the names the dataplane
 * setting takes): <srdma.h>. */

struct srdma_server_config {
	char bind[SRDMA_NAME_MAX];	/* "bind": listen address, default "0.0.0.0" */
	uint16_t port;			/* "port": TCP port, default 4433 */
	char cert[SRDMA_PATH_MAX];	/* "cert": PEM certificate chain, required */
	char key[SRDMA_PATH_MAX];	/* "key": PEM private key, required */
	char client_ca[SRDMA_PATH_MAX]; /* "client_ca": if set, mutual TLS: require client certs */
	enum srdma_tls_version tls_min; /* "tls_min": "1.2" or "1.3", default 1.3 */
	char device[SRDMA_NAME_MAX];	/* "device": RDMA device name, default "" = first device */
	uint8_t ib_port;		/* "ib_port": 1..255, default 1 */
	int gid_index;			/* "gid_index": -1 = auto (RoCE v2 IPv4-mapped), 0..255 */
	unsigned
	    workers; /* "workers": 0 ("auto", the default) = srdma_cpus_allowed(), else 1..256 */
	unsigned max_clients;	       /* "max_clients": 1..1000000, default 10 */
	unsigned handshake_timeout_ms; /* "handshake_timeout_ms": TLS + setup deadline, 100..600000,
					  default 5000 */
	int resumption; /* "resumption": TLS 1.3 session tickets for reconnecting clients (on, the
			   default, or off: every handshake full; srdma_ctx_set_resumption) */
	uint32_t
	    max_msg; /* "max_msg": data-plane payload bound, 64..SRDMA_MSG_MAX, default 65536 */
	uint32_t write_size;   /* "write_size": the largest RDMA-write target a client may ask for,
				  0..SRDMA_WRITE_SIZE_MAX, default 65536 */
	unsigned recv_depth;   /* "recv_depth": receives posted per client, 1..SRDMA_DEPTH_MAX,
				  default 4 */
	int log_level;	       /* "log_level": error|warn|info|debug, default info */
	unsigned busy_poll_us; /* "busy_poll_us": keep polling after completions, 0..100000, default
				  200 */
	unsigned max_msg_rate; /* "max_msg_rate": data-plane messages per second one client may
				  send on average (bursts of recv_depth), 0..10^8, default 0 = no
				  limit; faster clients are slowed down, not cut off */
	int dataplane;	       /* "dataplane": enum srdma_dp_mode, "aead" (default), "chacha20"
				  or "plain" */
	/* The pre-authentication pool (srdma_listen_opts): handshakes in progress, 1..10^6,
	 * default 256; per source address, default 32; random early drop from this percentage of
	 * the pool, 1..100 (100: off), default 50. */
	unsigned max_pending;
	unsigned max_pending_per_addr;
	unsigned early_drop_pct;
	/* Liveness (srdma_ctx_opts): heartbeat every heartbeat_ms (0..3600000, 0: off, default
	 * 5000); a session silent for heartbeat_misses (1..1000, default 3) of them ends. */
	unsigned heartbeat_ms;
	unsigned heartbeat_misses;
	/* Data-plane key update every rekey_messages messages per direction (2..2^31, default
	 * 65536; rounded down to a power of two). */
	unsigned rekey_messages;
	/* Metrics and statistics over HTTP (server_metrics.h): "metrics_listen" ADDR:PORT
	 * ("127.0.0.1:9464", "[::1]:9464"; "" = off, the default); with "metrics_cert" and
	 * "metrics_key" (PEM) HTTPS; with "metrics_client_ca" too, a client certificate that CA
	 * signed is required. */
	char metrics_listen[SRDMA_NAME_MAX];
	char metrics_cert[SRDMA_PATH_MAX];
	char metrics_key[SRDMA_PATH_MAX];
	char metrics_client_ca[SRDMA_PATH_MAX];
	char log_format[8]; /* "log_format": "text" (default) or "json" (log.h) */
};

struct srdma_client_config {
	char host[SRDMA_NAME_MAX]; /* "host": server name or address (the positional SERVER) */
	uint16_t port;		   /* "port": default 4433 */
	char ca[SRDMA_PATH_MAX];   /* "ca": PEM CA bundle that signs the server cert, required */
	char server_name[SRDMA_NAME_MAX]; /* "server_name": name to verify, default "" = host */
	char cert[SRDMA_PATH_MAX];	  /* "cert": client certificate for mutual TLS (optional) */
	char key[SRDMA_PATH_MAX];	  /* "key": its private key (required if cert is set) */
	enum srdma_tls_version tls_min;	  /* "tls_min": default 1.3 */
	char device[SRDMA_NAME_MAX];	  /* "device" */
	uint8_t ib_port;		  /* "ib_port" */
	int gid_index;			  /* "gid_index" */
	char pattern[SRDMA_NAME_MAX];	  /* "pattern": non-empty, default "secure-rdma" */
	unsigned count;			  /* "count": DATA messages to echo, 0..10^9, default 1 */
	uint32_t
	    size; /* "size": bytes per DATA message and per WRITE, 1..SRDMA_MSG_MAX, default 64 */
	unsigned writes; /* "writes": RDMA writes to verify, 0..10^9, default 0 */
	int ping;	 /* "ping": bool (1/0, true/false, yes/no, on/off), default 0 */
	unsigned idle_s; /* "idle": seconds to stay connected before QUIT, 0..86400, default 0 */
	unsigned repeat; /* "repeat": whole sessions to run one after another, 1..10^6, default 1 */
	int json;	 /* "json": bool, default 0 */
	unsigned timeout_ms; /* "timeout_ms": connect/handshake/reply deadline, 100..600000, default
				10000 */
	int log_level;	     /* "log_level": default warn */
	int dataplane;	     /* "dataplane": "aead" (default), "chacha20" or "plain"; must
				match the server */
	unsigned busy_poll_us; /* "busy_poll_us": poll the CQ this long before sleeping while a
				  reply is awaited, 0..100000, default 200 */
	unsigned depth;	       /* "depth": messages (and RDMA writes) a session may keep in flight
				  in the pipelined calls, 1..SRDMA_DEPTH_MAX, default 4; also
				  bounded by the server's recv_depth */
	unsigned heartbeat_ms; /* as the server's */
	unsigned heartbeat_misses; /* as the server's */
	unsigned rekey_messages;   /* as the server's */
	/* "retry": connection attempts after the first when the server is full or unreachable,
	 * with backoff, 0..1000, default 0 */
	unsigned retry;
};

/* "ADDR:PORT" (IPv4 address, [IPv6 address] or localhost; port 1..65535) into *ss and *sslen:
 * the form of metrics_listen. -EINVAL with a message naming key in err. */
int srdma_listen_addr_parse(const char *key, const char *s, struct sockaddr_storage *ss,
			    socklen_t *sslen, char *err, size_t errlen);

void srdma_server_config_defaults(struct srdma_server_config *c);
int srdma_server_config_set(struct srdma_server_config *c, const char *key, const char *value,
			    char *err, size_t errlen);
/* Apply every key of an INI file over c (keys not in the file keep their value). */
int srdma_server_config_load(struct srdma_server_config *c, const char *path, char *err,
			     size_t errlen);
/* Cross-field checks before use (e.g. cert and key both set). */
int srdma_server_config_validate(const struct srdma_server_config *c, char *err, size_t errlen);

/* CPUs this process may run on (sched_getaffinity: a cpuset, taskset or container limit),
 * what workers = auto means; at least 1. */
unsigned srdma_cpus_allowed(void);

void srdma_client_config_defaults(struct srdma_client_config *c);
int srdma_client_config_set(struct srdma_client_config *c, const char *key, const char *value,
			    char *err, size_t errlen);
int srdma_client_config_load(struct srdma_client_config *c, const char *path, char *err,
			     size_t errlen);
int srdma_client_config_validate(const struct srdma_client_config *c, char *err, size_t errlen);

#endif
