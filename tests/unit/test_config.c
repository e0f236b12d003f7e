/* Server and client settings: defaults, every key through the setter (flag spelling, aliases,
 * case), every kind of bad value, INI files written here; validation is in
 * test_config_validate.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "wire.h"

#define ERRLEN 512

enum kind { K_STR, K_U8, K_U16, K_U32, K_INT, K_TLS };

/* One setting as the user sees it: its key, its flag spelling, a good value and where it lands. */
struct key_case {
	const char *key;
	const char *flag;
	enum kind kind;
	size_t offset;
	size_t size;
	const char *value;
	long expect; /* for numbers */
};

#define S(member)                                                                                  \
	offsetof(struct srdma_server_config, member),                                              \
	    sizeof(((struct srdma_server_config *)0)->member)
#define C(member)                                                                                  \
	offsetof(struct srdma_client_config, member),                                              \
	    sizeof(((struct srdma_client_config *)0)->member)

static const struct key_case server_keys[] = {
    {"bind", "bind", K_STR, S(bind), "127.0.0.1", 0},
    {"port", "port", K_U16, S(port), "65535", 65535},
    {"cert", "cert", K_STR, S(cert), "/etc/srdma/server.pem", 0},
    {"key", "key", K_STR, S(key), "/etc/srdma/server.key", 0},
    {"client_ca", "client-ca", K_STR, S(client_ca), "/etc/srdma/clients.pem", 0},
    {"tls_min", "tls-min", K_TLS, S(tls_min), "1.2", SRDMA_TLS_1_2},
    {"device", "device", K_STR, S(device), "rxe0", 0},
    {"ib_port", "ib-port", K_U8, S(ib_port), "255", 255},
    {"gid_index", "gid-index", K_INT, S(gid_index), "3", 3},
    {"workers", "workers", K_U32, S(workers), "256", 256},
    {"max_clients", "max-clients", K_U32, S(max_clients), "1000000", 1000000},
    {"handshake_timeout_ms", "handshake-timeout-ms", K_U32, S(handshake_timeout_ms), "100", 100},
    {"max_msg", "max-msg", K_U32, S(max_msg), "1048576", 1048576},
    {"write_size", "write-size", K_U32, S(write_size), "0", 0},
    {"recv_depth", "recv-depth", K_U32, S(recv_depth), "1024", 1024},
    {"busy_poll_us", "busy-poll-us", K_U32, S(busy_poll_us), "0", 0},
    {"max_msg_rate", "max-msg-rate", K_U32, S(max_msg_rate), "100000000", 100000000},
    {"log_level", "log-level", K_INT, S(log_level), "debug", SRDMA_LOG_DEBUG},
    {"max_pending", "max-pending", K_U32, S(max_pending), "5000", 5000},
    {"max_pending_per_addr", "max-pending-per-addr", K_U32, S(max_pending_per_addr), "2", 2},
    {"early_drop_pct", "early-drop-pct", K_U32, S(early_drop_pct), "100", 100},
    {"heartbeat_ms", "heartbeat-ms", K_U32, S(heartbeat_ms), "0", 0},
    {"heartbeat_misses", "heartbeat-misses", K_U32, S(heartbeat_misses), "5", 5},
    {"rekey_messages", "rekey-messages", K_U32, S(rekey_messages), "1024", 1024},
};

static const struct key_case client_keys[] = {
    {"host", "host", K_STR, C(host), "server.example", 0},
    {"port", "port", K_U16, C(port), "1", 1},
    {"ca", "ca", K_STR, C(ca), "/etc/srdma/ca.pem", 0},
    {"server_name", "server-name", K_STR, C(server_name), "rdma.example", 0},
    {"cert", "cert", K_STR, C(cert), "/etc/srdma/client.pem", 0},
    {"key", "key", K_STR, C(key), "/etc/srdma/client.key", 0},
    {"tls_min", "tls-min", K_TLS, C(tls_min), "1.2", SRDMA_TLS_1_2},
    {"device", "device", K_STR, C(device), "mlx5_0", 0},
    {"ib_port", "ib-port", K_U8, C(ib_port), "2", 2},
    {"gid_index", "gid-index", K_INT, C(gid_index), "-1", -1},
    {"pattern", "pattern", K_STR, C(pattern), "abc", 0},
    {"count", "count", K_U32, C(count), "1000000000", 1000000000},
    {"size", "size", K_U32, C(size), "1048576", 1048576},
    {"writes", "writes", K_U32, C(writes), "7", 7},
    {"ping", "ping", K_INT, C(ping), "yes", 1},
    {"idle", "idle", K_U32, C(idle_s), "86400", 86400},
    {"json", "json", K_INT, C(json), "on", 1},
    {"timeout_ms", "timeout-ms", K_U32, C(timeout_ms), "600000", 600000},
    {"busy_poll_us", "busy-poll-us", K_U32, C(busy_poll_us), "100000", 100000},
    {"depth", "depth", K_U32, C(depth), "1024", 1024},
    {"log_level", "log-level", K_INT, C(log_level), "error", SRDMA_LOG_ERROR},
    {"heartbeat_ms", "heartbeat-ms", K_U32, C(heartbeat_ms), "1000", 1000},
    {"heartbeat_misses", "heartbeat-misses", K_U32, C(heartbeat_misses), "1000", 1000},
    {"rekey_messages", "rekey-messages", K_U32, C(rekey_messages), "2", 2},
    {"retry", "retry", K_U32, C(retry), "1000", 1000},
};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static long read_num(const void *cfg, const struct key_case *k)
{
	const char *p = (const char *)cfg + k->offset;

	switch (k->kind) {
	case K_U8:
		return *(const uint8_t *)p;
	case K_U16:
		return *(const uint16_t *)p;
	case K_U32:
		return (long)*(const uint32_t *)p;
	case K_TLS:
		return *(const enum srdma_tls_version *)p;
	default:
		return *(const int *)p;
	}
}

static void assert_key_set(const void *cfg, const struct key_case *k)
{
	if (k->kind == K_STR)
		assert_string_equal((const char *)cfg + k->offset, k->value);
	else
		assert_int_equal(read_num(cfg, k), k->expect);
}

/* Spell a key differently: upper case, and '-' and '_' swapped. */
static void respell(char *out, size_t n, const char *key)
{
	size_t i;

	for (i = 0; key[i] && i + 1 < n; i++) {
		char c = key[i];

		if (c == '_')
			c = '-';
		else if (c == '-')
			c = '_';
		else if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[i] = c;
	}
	out[i] = '\0';
}

static void assert_err_mentions(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* Config-generic wrappers so that one test body serves both structs. */
struct which {
	int server;
	const struct key_case *keys;
	size_t nkeys;
	size_t size;
};

static const struct which SERVER = {1, server_keys, NKEYS(server_keys),
				    sizeof(struct srdma_server_config)};
static const struct which CLIENT = {0, client_keys, NKEYS(client_keys),
				    sizeof(struct srdma_client_config)};

static void *defaults(const struct which *w)
{
	void *cfg = malloc(w->size);

	assert_non_null(cfg);
	if (w->server)
		srdma_server_config_defaults(cfg);
	else
		srdma_client_config_defaults(cfg);
	return cfg;
}

static int set(const struct which *w, void *cfg, const char *key, const char *value, char *err)
{
	err[0] = '\0';
	if (w->server)
		return srdma_server_config_set(cfg, key, value, err, ERRLEN);
	return srdma_client_config_set(cfg, key, value, err, ERRLEN);
}

static void test_server_defaults(void **state)
{
	struct srdma_server_config c;
	char err[ERRLEN];

	(void)state;
	memset(&c, 0x5A, sizeof(c));
	srdma_server_config_defaults(&c);
	assert_string_equal(c.bind, "0.0.0.0");
	assert_int_equal(c.port, 4433);
	assert_string_equal(c.cert, "");
	assert_string_equal(c.key, "");
	assert_string_equal(c.client_ca, "");
	assert_int_equal(c.tls_min, SRDMA_TLS_1_3);
	assert_string_equal(c.device, "");
	assert_int_equal(c.ib_port, 1);
	assert_int_equal(c.gid_index, -1);
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.max_clients, 10);
	assert_int_equal(c.handshake_timeout_ms, 5000);
	assert_int_equal(c.max_msg, 65536);
	assert_int_equal(c.write_size, 65536);
	assert_int_equal(c.recv_depth, 4);
	assert_int_equal(c.busy_poll_us, 200);
	assert_int_equal(c.max_msg_rate, 0);
	assert_int_equal(c.log_level, SRDMA_LOG_INFO);

	/* The defaults plus the two required files are a valid config. */
	snprintf(c.cert, sizeof(c.cert), "s.pem");
	snprintf(c.key, sizeof(c.key), "s.key");
	assert_int_equal(srdma_server_config_validate(&c, err, sizeof(err)), 0);
}

static void test_client_defaults(void **state)
{
	struct srdma_client_config c;
	char err[ERRLEN];

	(void)state;
	memset(&c, 0x5A, sizeof(c));
	srdma_client_config_defaults(&c);
	assert_string_equal(c.host, "");
	assert_int_equal(c.port, 4433);
	assert_string_equal(c.ca, "");
	assert_string_equal(c.server_name, "");
	assert_string_equal(c.cert, "");
	assert_string_equal(c.key, "");
	assert_int_equal(c.tls_min, SRDMA_TLS_1_3);
	assert_string_equal(c.device, "");
	assert_int_equal(c.ib_port, 1);
	assert_int_equal(c.gid_index, -1);
	assert_string_equal(c.pattern, "secure-rdma");
	assert_int_equal(c.count, 1);
	assert_int_equal(c.size, 64);
	assert_int_equal(c.writes, 0);
	assert_int_equal(c.ping, 0);
	assert_int_equal(c.idle_s, 0);
	assert_int_equal(c.json, 0);
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.log_level, SRDMA_LOG_WARN);

	snprintf(c.host, sizeof(c.host), "server");
	snprintf(c.ca, sizeof(c.ca), "ca.pem");
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
}

static void check_every_key(const struct which *w)
{
	char err[ERRLEN], spelled[64];

	for (size_t i = 0; i < w->nkeys; i++) {
		const struct key_case *k = &w->keys[i];
		const char *spellings[3] = {k->key, k->flag, spelled};

		respell(spelled, sizeof(spelled), k->key);
		for (int s = 0; s < 3; s++) {
			void *cfg = defaults(w);

			if (set(w, cfg, spellings[s], k->value, err))
				fail_msg("setting %s = %s: %s", spellings[s], k->value, err);
			assert_key_set(cfg, k);
			free(cfg);
		}
	}
}

static void test_every_key_settable(void **state)
{
	(void)state;
	check_every_key(&SERVER);
	check_every_key(&CLIENT);
}

/* workers = auto (any case) is the stored 0; srdma_cpus_allowed() is what it resolves to. */
static void test_workers_auto(void **state)
{
	static const char *const autos[] = {"auto", "AUTO", "Auto"};
	struct srdma_server_config s;
	char err[ERRLEN];
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = srdma_cpus_allowed();

	(void)state;
	for (int i = 0; i < 3; i++) {
		srdma_server_config_defaults(&s);
		assert_int_equal(srdma_server_config_set(&s, "workers", "7", err, sizeof(err)), 0);
		assert_int_equal(srdma_server_config_set(&s, "workers", autos[i], err, sizeof(err)),
				 0);
		assert_int_equal(s.workers, 0);
		assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)) == -EINVAL &&
				     strstr(err, "workers"),
				 0);
	}
	assert_int_equal(srdma_server_config_set(&s, "workers", "automatic", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, "workers", "257", err, sizeof(err)), -EINVAL);
	assert_true(n >= 1);
	assert_true(online < 1 || n <= (unsigned)online);
}

static void test_historical_aliases(void **state)
{
	static const char *const workers[] = {"THREAD_POOL_SIZE", "thread_pool_size",
					      "Thread-Pool-Size"};
	static const char *const max_clients[] = {"MAX_CONNECTIONS", "max-connections",
						  "Max_Connections"};
	struct srdma_server_config s;
	struct srdma_client_config c;
	char err[ERRLEN];

	(void)state;
	for (int i = 0; i < 3; i++) {
		srdma_server_config_defaults(&s);
		assert_int_equal(srdma_server_config_set(&s, workers[i], "12", err, sizeof(err)),
				 0);
		assert_int_equal(s.workers, 12);
		assert_int_equal(
		    srdma_server_config_set(&s, max_clients[i], "500", err, sizeof(err)), 0);
		assert_int_equal(s.max_clients, 500);
		/* An alias is validated as the key it stands for. */
		assert_int_equal(srdma_server_config_set(&s, max_clients[i], "0", err, sizeof(err)),
				 -EINVAL);
		assert_err_mentions(err, "max_clients");
		assert_int_equal(s.max_clients, 500);
	}
	/* The aliases are the server's: a client has no workers or max_clients. */
	srdma_client_config_defaults(&c);
	assert_int_equal(srdma_client_config_set(&c, "THREAD_POOL_SIZE", "4", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "MAX_CONNECTIONS", "4", err, sizeof(err)),
			 -EINVAL);
}

static void test_unknown_keys(void **state)
{
	static const char *const bad[] = {
	    "", "bogus", "max__clients", "maxclients", "max_clients_", " port", "port ", "--port"};
	struct srdma_server_config s;
	struct srdma_client_config c;
	char err[ERRLEN];

	(void)state;
	srdma_server_config_defaults(&s);
	srdma_client_config_defaults(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(srdma_server_config_set(&s, bad[i], "1", err, sizeof(err)),
				 -EINVAL);
		assert_err_mentions(err, "unknown key");
		assert_err_mentions(err, bad[i]);
	}
	/* Each struct knows only its own keys. */
	assert_int_equal(srdma_server_config_set(&s, "host", "x", err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "unknown key \"host\"");
	assert_int_equal(srdma_client_config_set(&c, "workers", "1", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "idle_s", "1", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, NULL, "1", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, "port", NULL, err, sizeof(err)), -EINVAL);
}

/* Refused values leave the field as it was and name the key. */
static void expect_refused(const struct which *w, const struct key_case *k, const char *value)
{
	char err[ERRLEN];
	void *cfg = defaults(w);
	void *before = defaults(w);

	if (set(w, cfg, k->key, value, err) != -EINVAL)
		fail_msg("%s = \"%s\" was accepted", k->key, value);
	assert_err_mentions(err, k->key);
	assert_memory_equal(cfg, before, w->size);
	free(before);
	free(cfg);
}

static void check_bad_values(const struct which *w)
{
	static const char *const not_numbers[] = {"",	 "abc", "12x", " 5",  "5 ", "+5", "0x10",
						  "1.5", "1e3", "-",   "--1", "1-", "五", "5\n"};
	static const char *const too_big[] = {"99999999999999999999", "18446744073709551616",
					      "9223372036854775808", "4294967296"};
	static const char *const not_bools[] = {"",    "maybe", "2",   "-1", "yes please",
						"tru", "O",	"onn", " 1"};
	static const char *const not_tls[] = {"",     "1.1",  "1.4", "TLSv1.3", "13",
					      " 1.3", "1.3 ", "1",   "1.2.0"};
	static const char *const not_levels[] = {"", "verbose", "warning", "3", "err", " info"};
	char below[32], above[32];

	for (size_t i = 0; i < w->nkeys; i++) {
		const struct key_case *k = &w->keys[i];
		const struct key_case *same = k;

		if (!strcmp(k->key, "log_level")) {
			for (size_t j = 0; j < sizeof(not_levels) / sizeof(not_levels[0]); j++)
				expect_refused(w, same, not_levels[j]);
		} else if (!strcmp(k->key, "ping") || !strcmp(k->key, "json")) {
			for (size_t j = 0; j < sizeof(not_bools) / sizeof(not_bools[0]); j++)
				expect_refused(w, same, not_bools[j]);
		} else if (k->kind == K_TLS) {
			for (size_t j = 0; j < sizeof(not_tls) / sizeof(not_tls[0]); j++)
				expect_refused(w, same, not_tls[j]);
		} else if (k->kind == K_STR) {
			/* One character more than the buffer can hold with its NUL: refused,
			 * not cut; one fewer fits exactly. */
			char *v = malloc(k->size + 1);
			void *cfg = defaults(w);
			char err[ERRLEN];

			assert_non_null(v);
			memset(v, 'a', k->size);
			v[k->size] = '\0';
			expect_refused(w, k, v);
			v[k->size - 1] = '\0';
			assert_int_equal(set(w, cfg, k->key, v, err), 0);
			assert_int_equal(strlen((char *)cfg + k->offset), k->size - 1);
			free(cfg);
			free(v);
		} else {
			for (size_t j = 0; j < sizeof(not_numbers) / sizeof(not_numbers[0]); j++)
				expect_refused(w, k, not_numbers[j]);
			for (size_t j = 0; j < sizeof(too_big) / sizeof(too_big[0]); j++) {
				expect_refused(w, k, too_big[j]);
				snprintf(below, sizeof(below), "-%s", too_big[j]);
				expect_refused(w, k, below);
			}
		}
	}

	/* One past each end of every numeric range, and the negatives of unsigned fields. */
	for (size_t i = 0; i < w->nkeys; i++) {
		const struct key_case *k = &w->keys[i];
		long lo, hi;

		if (k->kind == K_STR || k->kind == K_TLS || !strcmp(k->key, "log_level") ||
		    !strcmp(k->key, "ping") || !strcmp(k->key, "json"))
			continue;
		/* Find the range the way a user would: by probing for the edges. */
		{
			char err[ERRLEN];
			void *cfg = defaults(w);

			snprintf(below, sizeof(below), "%ld", k->expect);
			assert_int_equal(set(w, cfg, k->key, below, err), 0);
			assert_int_equal(set(w, cfg, k->key, "-5000000000", err), -EINVAL);
			assert_non_null(strstr(err, "out of range ("));
			assert_int_equal(sscanf(strstr(err, "out of range ("),
						"out of range (%ld..%ld)", &lo, &hi),
					 2);
			free(cfg);
		}
		snprintf(below, sizeof(below), "%ld", lo - 1);
		snprintf(above, sizeof(above), "%ld", hi + 1);
		expect_refused(w, k, below);
		expect_refused(w, k, above);
		if (lo >= 0)
			expect_refused(w, k, "-1");
		{
			char err[ERRLEN];
			void *cfg = defaults(w);

			snprintf(below, sizeof(below), "%ld", lo);
			snprintf(above, sizeof(above), "%ld", hi);
			assert_int_equal(set(w, cfg, k->key, below, err), 0);
			assert_int_equal(read_num(cfg, k), lo);
			assert_int_equal(set(w, cfg, k->key, above, err), 0);
			assert_int_equal(read_num(cfg, k), hi);
			free(cfg);
		}
	}
}

static void test_bad_values(void **state)
{
	(void)state;
	check_bad_values(&SERVER);
	check_bad_values(&CLIENT);
}

/* The documented ranges, checked literally, with the message format users will see. */
static void test_ranges_and_messages(void **state)
{
	struct srdma_server_config s;
	struct srdma_client_config c;
	char err[ERRLEN];

	(void)state;
	srdma_server_config_defaults(&s);
	srdma_client_config_defaults(&c);

	assert_int_equal(srdma_server_config_set(&s, "max_clients", "0", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "max_clients: \"0\" is out of range (1..1000000)");
	assert_int_equal(srdma_server_config_set(&s, "port", "x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port: \"x\" is not a number (1..65535)");
	assert_int_equal(srdma_server_config_set(&s, "workers", "-1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "workers: \"-1\" is out of range (0..256)");
	assert_int_equal(srdma_server_config_set(&s, "gid_index", "-2", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "gid_index: \"-2\" is out of range (-1..255)");
	assert_int_equal(srdma_server_config_set(&s, "tls_min", "1.1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tls_min: \"1.1\" is not a supported TLS version (1.2 or 1.3)");
	assert_int_equal(srdma_server_config_set(&s, "log_level", "loud", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err,
			    "log_level: \"loud\" is not a log level (error, warn, info, debug)");
	assert_int_equal(srdma_client_config_set(&c, "ping", "sure", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "ping: \"sure\" is not a boolean (1/0, true/false, yes/no, on/off)");
	assert_int_equal(srdma_client_config_set(&c, "pattern", "", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "pattern: must not be empty");
	assert_int_equal(srdma_server_config_set(&s, "bind", "", err, sizeof(err)), -EINVAL);
	assert_err_mentions(err, "bind");

	/* Edges quoted in config.h. */
	assert_int_equal(srdma_server_config_set(&s, "max_msg", "63", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, "max_msg", "64", err, sizeof(err)), 0);
	assert_int_equal(srdma_server_config_set(&s, "write_size", "67108865", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, "write_size", "67108864", err, sizeof(err)),
			 0);
	assert_int_equal(s.write_size, SRDMA_WRITE_SIZE_MAX);
	assert_int_equal(srdma_server_config_set(&s, "recv_depth", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    srdma_server_config_set(&s, "handshake_timeout_ms", "99", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_server_config_set(&s, "workers", "0", err, sizeof(err)), 0);
	assert_int_equal(srdma_server_config_set(&s, "ib_port", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "size", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "size", "1048577", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "count", "1000000001", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "idle", "86401", err, sizeof(err)), -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "timeout_ms", "600001", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(srdma_client_config_set(&c, "port", "0", err, sizeof(err)), -EINVAL);

	/* Leading zeros are still decimal. */
	assert_int_equal(srdma_server_config_set(&s, "port", "010", err, sizeof(err)), 0);
	assert_int_equal(s.port, 10);

	/* Every boolean spelling, in any case. */
	{
		static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON"};
		static const char *const no[] = {"0", "false", "no", "off", "FALSE", "No", "Off"};

		for (int i = 0; i < 7; i++) {
			assert_int_equal(
			    srdma_client_config_set(&c, "json", yes[i], err, sizeof(err)), 0);
			assert_int_equal(c.json, 1);
			assert_int_equal(
			    srdma_client_config_set(&c, "json", no[i], err, sizeof(err)), 0);
			assert_int_equal(c.json, 0);
		}
	}
	/* Every log level. */
	{
		static const char *const names[] = {"error", "warn", "info", "debug"};

		for (int i = 0; i < 4; i++) {
			assert_int_equal(
			    srdma_client_config_set(&c, "log-level", names[i], err, sizeof(err)),
			    0);
			assert_int_equal(c.log_level, i);
		}
	}
	assert_int_equal(srdma_client_config_set(&c, "tls_min", "1.3", err, sizeof(err)), 0);
	assert_int_equal(c.tls_min, SRDMA_TLS_1_3);

	/* A long bad value is quoted cut short, and the message still ends with the range. */
	{
		char big[300];

		memset(big, '7', sizeof(big) - 2);
		big[sizeof(big) - 2] = 'x';
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(srdma_server_config_set(&s, "port", big, err, sizeof(err)),
				 -EINVAL);
		assert_err_mentions(err, "...\" is not a number (1..65535)");
	}
}

static void test_error_buffer(void **state)
{
	struct srdma_server_config s;
	char err[8];

	(void)state;
	srdma_server_config_defaults(&s);
	/* No buffer at all is fine. */
	assert_int_equal(srdma_server_config_set(&s, "port", "0", NULL, 0), -EINVAL);
	assert_int_equal(srdma_server_config_validate(&s, NULL, 0), -EINVAL);
	assert_int_equal(srdma_server_config_load(&s, "/nonexistent/srdma.ini", NULL, 0), -EINVAL);
	/* A short buffer is cut and terminated. */
	memset(err, 'z', sizeof(err));
	assert_int_equal(srdma_server_config_set(&s, "port", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "port: \"", 7);
	memset(err, 'z', sizeof(err));
	assert_int_equal(srdma_server_config_set(&s, "port", "0", err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'z');
}

/* INI files. */

static char tmp_paths[16][64];
static int ntmp;

static const char *write_file(const char *content, size_t len)
{
	char *path;
	int fd;

	assert_true(ntmp < 16);
	path = tmp_paths[ntmp++];
	snprintf(path, sizeof(tmp_paths[0]), "/tmp/srdma-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

static const char *write_ini(const char *content)
{
	return write_file(content, strlen(content));
}

static int remove_files(void **state)
{
	(void)state;
	for (int i = 0; i < ntmp; i++)
		unlink(tmp_paths[i]);
	ntmp = 0;
	return 0;
}

/* The error starts with "path:line: " and goes on to mention what. */
static void assert_file_error(const char *err, const char *path, int line, const char *what)
{
	char prefix[128];

	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
	assert_err_mentions(err, what);
}

static void test_load_good_server_file(void **state)
{
	struct srdma_server_config s;
	char err[ERRLEN];
	const char *path = write_ini("\xEF\xBB\xBF# secure-rdma server\n"
				     "; both comment styles\n"
				     "\n"
				     "[server]\n"
				     "bind = 127.0.0.1\n"
				     "port=5000\n"
				     "cert = /etc/srdma/server.pem\n"
				     "    key = /etc/srdma/server.key\n"
				     "Max-Clients = 100\n"
				     "THREAD_POOL_SIZE = 4\n"
				     "tls-min = 1.2\r\n"
				     "log_level = debug ; inline comment\n"
				     "\tgid_index = -1\n"
				     "client_ca =\n"
				     "device = rxe0");

	(void)state;
	srdma_server_config_defaults(&s);
	s.recv_depth = 8; /* not in the file: keeps its value */
	snprintf(s.client_ca, sizeof(s.client_ca), "was set");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), 0);
	assert_string_equal(s.bind, "127.0.0.1");
	assert_int_equal(s.port, 5000);
	assert_string_equal(s.cert, "/etc/srdma/server.pem");
	assert_string_equal(s.key, "/etc/srdma/server.key");
	assert_int_equal(s.max_clients, 100);
	assert_int_equal(s.workers, 4);
	assert_int_equal(s.tls_min, SRDMA_TLS_1_2);
	assert_int_equal(s.log_level, SRDMA_LOG_DEBUG);
	assert_int_equal(s.gid_index, -1);
	assert_string_equal(s.client_ca, "");
	assert_string_equal(s.device, "rxe0");
	assert_int_equal(s.recv_depth, 8);
	assert_int_equal(s.max_msg, 65536);
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);
}

static void test_load_without_section_and_client_file(void **state)
{
	struct srdma_server_config s;
	struct srdma_client_config c;
	char err[ERRLEN];
	const char *plain = write_ini("port = 6000\nmax_connections = 3\n");
	const char *upper = write_ini("[SERVER]\nport = 6001\n");
	const char *client = write_ini("host = server.example\n"
				       "[client]\n"
				       "ca = /etc/srdma/ca.pem\n"
				       "ping = on\n"
				       "idle = 30\n"
				       "size = 4096\n");
	const char *empty = write_ini("");

	(void)state;
	srdma_server_config_defaults(&s);
	assert_int_equal(srdma_server_config_load(&s, plain, err, sizeof(err)), 0);
	assert_int_equal(s.port, 6000);
	assert_int_equal(s.max_clients, 3);
	assert_int_equal(srdma_server_config_load(&s, upper, err, sizeof(err)), 0);
	assert_int_equal(s.port, 6001);
	assert_int_equal(srdma_server_config_load(&s, empty, err, sizeof(err)), 0);
	assert_int_equal(s.port, 6001);

	srdma_client_config_defaults(&c);
	assert_int_equal(srdma_client_config_load(&c, client, err, sizeof(err)), 0);
	assert_string_equal(c.host, "server.example");
	assert_string_equal(c.ca, "/etc/srdma/ca.pem");
	assert_int_equal(c.ping, 1);
	assert_int_equal(c.idle_s, 30);
	assert_int_equal(c.size, 4096);
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
}

static void test_load_errors(void **state)
{
	struct srdma_server_config s, before;
	struct srdma_client_config c;
	char err[ERRLEN], long_line[400];
	const char *path;

	(void)state;
	srdma_server_config_defaults(&s);
	before = s;

	/* Unknown key, with its line; and the port on line 2 is not applied either. */
	path = write_ini("[server]\nport = 7000\n# x\nbogus = 1\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 4, "unknown key \"bogus\"");
	assert_memory_equal(&s, &before, sizeof(s));

	/* A bad value: the setter's message behind the file and line. */
	path = write_ini("\n\nmax_clients = 0\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 3, "max_clients: \"0\" is out of range (1..1000000)");

	/* A section of the other program, with keys under it... */
	path = write_ini("port = 1\n[client]\nport = 2\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "[client]");
	assert_memory_equal(&s, &before, sizeof(s));
	/* ...an unknown one with nothing under it, an empty name, and a client file's turn. */
	path = write_ini("port = 1\n\n[bogus]\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 3, "unknown section [bogus]");
	path = write_ini("[]\nport = 1\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 1, "unknown section []");
	path = write_ini("[server]\nhost = x\n");
	srdma_client_config_defaults(&c);
	assert_int_equal(srdma_client_config_load(&c, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 1, "unknown section [server]");

	/* Lines that are not "key = value", a section or a comment. */
	path = write_ini("port = 1\njust words\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "syntax error");
	path = write_ini("[server\nport = 1\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 1, "syntax error");
	/* The first error in the file is the one reported, whoever finds it. */
	path = write_ini("port = 1\nnonsense\nbogus = 1\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "syntax error");
	path = write_ini("port = 1\nbogus = 1\nnonsense\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "unknown key");

	/* An indented line is a line of its own, not the continuation of the value above. */
	path = write_ini("cert = a.pem\n  b.pem\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "syntax error");

	/* A line longer than the parser's buffer is refused, not cut. */
	snprintf(long_line, sizeof(long_line), "# fine\ncert = /%0300d\n", 0);
	path = write_ini(long_line);
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "too long");
	assert_memory_equal(&s, &before, sizeof(s));

	/* A NUL byte would hide the rest of its line. */
	path = write_file("port = 1\nport = 2\0junk\n", 23);
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 2, "NUL");

	/* Files that cannot be read. */
	assert_int_equal(srdma_server_config_load(&s, "/nonexistent/srdma.ini", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "cannot open /nonexistent/srdma.ini: No such file or directory");
	assert_int_equal(srdma_client_config_load(&c, "/nonexistent/c.ini", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "cannot open /nonexistent/c.ini: No such file or directory");
	assert_int_equal(srdma_server_config_load(&s, "/tmp", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cannot read /tmp: Is a directory");
	assert_int_equal(srdma_server_config_load(&s, NULL, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&s, &before, sizeof(s));
}

/* What the programs do: defaults, then the file, then the command-line flags on top. */
static void test_flags_override_file(void **state)
{
	struct srdma_server_config s;
	char err[ERRLEN];
	const char *path = write_ini("[server]\nport = 5000\nmax_clients = 50\nworkers = 2\n");

	(void)state;
	srdma_server_config_defaults(&s);
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(srdma_server_config_set(&s, "port", "5001", err, sizeof(err)), 0);
	assert_int_equal(srdma_server_config_set(&s, "max-clients", "60", err, sizeof(err)), 0);
	assert_int_equal(s.port, 5001);
	assert_int_equal(s.max_clients, 60);
	assert_int_equal(s.workers, 2);
}

/* The data-plane mode: "plain", "aead" or "chacha20", in any case, for both programs, on the
 * command line and in a file; anything else is refused naming all three. */
static void check_dataplane(const struct which *w)
{
	static const struct {
		const char *value;
		int mode;
	} good[] = {
	    {"chacha20", SRDMA_DP_CHACHA20}, {"CHACHA20", SRDMA_DP_CHACHA20},
	    {"ChaCha20", SRDMA_DP_CHACHA20}, {"aead", SRDMA_DP_AEAD},
	    {"AEAD", SRDMA_DP_AEAD},	     {"plain", SRDMA_DP_PLAIN},
	    {"Plain", SRDMA_DP_PLAIN},
	};
	static const char *const bad[] = {"",	       "chacha",    "chacha20-poly1305",
					  "chacha 20", " chacha20", "chacha20 ",
					  "2",	       "gcm",	    "aes-256-gcm"};
	static const char *const keys[] = {"dataplane", "DATAPLANE", "DataPlane"};
	char err[ERRLEN], want[ERRLEN];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			void *cfg = defaults(w);
			int *dp = w->server ? &((struct srdma_server_config *)cfg)->dataplane
					    : &((struct srdma_client_config *)cfg)->dataplane;

			assert_int_equal(*dp, SRDMA_DP_AEAD); /* the default */
			if (set(w, cfg, keys[k], good[i].value, err))
				fail_msg("%s = %s: %s", keys[k], good[i].value, err);
			assert_int_equal(*dp, good[i].mode);
			free(cfg);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *cfg = defaults(w);
		void *before = defaults(w);

		assert_int_equal(set(w, cfg, "dataplane", bad[i], err), -EINVAL);
		snprintf(want, sizeof(want),
			 "dataplane: \"%s\" is not a data-plane mode (aead, chacha20 or plain)",
			 bad[i]);
		assert_string_equal(err, want);
		assert_memory_equal(cfg, before, w->size);
		free(before);
		free(cfg);
	}
}

static void test_dataplane_modes(void **state)
{
	struct srdma_server_config s;
	struct srdma_client_config c;
	char err[ERRLEN];
	const char *path;

	(void)state;
	check_dataplane(&SERVER);
	check_dataplane(&CLIENT);

	/* From files, and a valid config either way. */
	srdma_server_config_defaults(&s);
	path = write_ini("[server]\ncert = s.pem\nkey = s.key\ndataplane = ChaCha20\n");
	assert_int_equal(srdma_server_config_load(&s, path, err, sizeof(err)), 0);
	assert_int_equal(s.dataplane, SRDMA_DP_CHACHA20);
	assert_int_equal(srdma_server_config_validate(&s, err, sizeof(err)), 0);
	srdma_client_config_defaults(&c);
	path = write_ini("[client]\nhost = server\nca = ca.pem\ndataplane = chacha20\n");
	assert_int_equal(srdma_client_config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.dataplane, SRDMA_DP_CHACHA20);
	assert_int_equal(srdma_client_config_validate(&c, err, sizeof(err)), 0);
	path = write_ini("[client]\n\ndataplane = xchacha20\n");
	assert_int_equal(srdma_client_config_load(&c, path, err, sizeof(err)), -EINVAL);
	assert_file_error(err, path, 3,
			  "dataplane: \"xchacha20\" is not a data-plane mode (aead, chacha20 or "
			  "plain)");
	assert_int_equal(c.dataplane, SRDMA_DP_CHACHA20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_defaults),
	    cmocka_unit_test(test_client_defaults),
	    cmocka_unit_test(test_every_key_settable),
	    cmocka_unit_test(test_historical_aliases),
	    cmocka_unit_test(test_workers_auto),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_ranges_and_messages),
	    cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test_teardown(test_load_good_server_file, remove_files),
	    cmocka_unit_test_teardown(test_load_without_section_and_client_file, remove_files),
	    cmocka_unit_test_teardown(test_load_errors, remove_files),
	    cmocka_unit_test_teardown(test_flags_override_file, remove_files),
	    cmocka_unit_test_teardown(test_dataplane_modes, remove_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
