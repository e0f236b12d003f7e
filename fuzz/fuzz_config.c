/* libFuzzer target for the INI config loader (src/config.c), server and client files.
 *
 * The input is the file's content. It is written to a memfd and loaded through its
 * /proc/self/fd/N path, once as a server file and once as a client file. Besides "no crash"
 * (ASan/UBSan), each load checks the loader's contract (apps/config.h) and aborts on a
 * violation:
 *  - the only error is -EINVAL, with a message that names the file and a line of the input
 *    ("PATH:LINE: ..."), and a failed load leaves the config exactly as it was;
 *  - the error buffer is always NUL-terminated: a short buffer gets a prefix of the same
 *    message, and a NULL one is never touched;
 *  - a config that loads passes the per-key checks of validation, so validation fails only for
 *    the documented cross-field reasons (a required key missing, cert without key), and exactly
 *    when an independent statement of those rules says so;
 *  - loading the same file again over its own result changes nothing (the last value wins);
 *  - round trip: every key of the loaded config written out as "key=value" under the program's
 *    section loads, over defaults, into the same config.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define ERRLEN	     1024
#define SHORT_ERRLEN 8

/* Every key, written down here independently of the loader's own table: (key, member). */
#define SERVER_STRINGS(X)                                                                          \
	X(bind, bind)                                                                              \
	X(cert, cert)                                                                              \
	X(key, key)                                                                                \
	X(client_ca, client_ca)                                                                    \
	X(device, device)
#define SERVER_NUMBERS(X)                                                                          \
	X(port, port)                                                                              \
	X(ib_port, ib_port)                                                                        \
	X(gid_index, gid_index)                                                                    \
	X(workers, workers)                                                                        \
	X(max_clients, max_clients)                                                                \
	X(handshake_timeout_ms, handshake_timeout_ms)                                              \
	X(max_msg, max_msg)                                                                        \
	X(write_size, write_size)                                                                  \
	X(recv_depth, recv_depth)
#define CLIENT_STRINGS(X)                                                                          \
	X(host, host)                                                                              \
	X(ca, ca)                                                                                  \
	X(server_name, server_name)                                                                \
	X(cert, cert)                                                                              \
	X(key, key)                                                                                \
	X(device, device)                                                                          \
	X(pattern, pattern)
#define CLIENT_NUMBERS(X)                                                                          \
	X(port, port)                                                                              \
	X(ib_port, ib_port)                                                                        \
	X(gid_index, gid_index)                                                                    \
	X(count, count)                                                                            \
	X(size, size)                                                                              \
	X(writes, writes)                                                                          \
	X(ping, ping)                                                                              \
	X(idle, idle_s)                                                                            \
	X(repeat, repeat)                                                                          \
	X(json, json)                                                                              \
	X(timeout_ms, timeout_ms)

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static const char *tls_name(enum srdma_tls_version v)
{
	CHECK(v == SRDMA_TLS_1_2 || v == SRDMA_TLS_1_3);
	return v == SRDMA_TLS_1_2 ? "1.2" : "1.3";
}

static const char *level_name(int level)
{
	CHECK(level >= SRDMA_LOG_ERROR && level <= SRDMA_LOG_DEBUG);
	return level_names[level];
}

static const char *dp_name(int mode)
{
	CHECK(mode == SRDMA_DP_PLAIN || mode == SRDMA_DP_AEAD);
	return mode == SRDMA_DP_PLAIN ? "plain" : "aead";
}

#define PUT_STRING(k, m)  fprintf(f, #k "=%s\n", c->m);
#define PUT_NUMBER(k, m)  fprintf(f, #k "=%ld\n", (long)c->m);
#define SAME_STRING(k, m) CHECK(strcmp(a->m, b->m) == 0);
#define SAME_NUMBER(k, m) CHECK(a->m == b->m);

static void server_write(FILE *f, const void *cfg)
{
	const struct srdma_server_config *c = cfg;

	fprintf(f, "[server]\n");
	SERVER_STRINGS(PUT_STRING)
	SERVER_NUMBERS(PUT_NUMBER)
	fprintf(f, "tls_min=%s\nlog_level=%s\ndataplane=%s\n", tls_name(c->tls_min),
		level_name(c->log_level), dp_name(c->dataplane));
}

static void server_same(const void *x, const void *y)
{
	const struct srdma_server_config *a = x, *b = y;

	SERVER_STRINGS(SAME_STRING)
	SERVER_NUMBERS(SAME_NUMBER)
	CHECK(a->tls_min == b->tls_min);
	CHECK(a->log_level == b->log_level);
	CHECK(a->dataplane == b->dataplane);
}

static int server_should_validate(const void *cfg)
{
	const struct srdma_server_config *c = cfg;

	return c->cert[0] && c->key[0];
}

static void client_write(FILE *f, const void *cfg)
{
	const struct srdma_client_config *c = cfg;

	fprintf(f, "[client]\n");
	CLIENT_STRINGS(PUT_STRING)
	CLIENT_NUMBERS(PUT_NUMBER)
	fprintf(f, "tls_min=%s\nlog_level=%s\ndataplane=%s\n", tls_name(c->tls_min),
		level_name(c->log_level), dp_name(c->dataplane));
}

static void client_same(const void *x, const void *y)
{
	const struct srdma_client_config *a = x, *b = y;

	CLIENT_STRINGS(SAME_STRING)
	CLIENT_NUMBERS(SAME_NUMBER)
	CHECK(a->tls_min == b->tls_min);
	CHECK(a->log_level == b->log_level);
	CHECK(a->dataplane == b->dataplane);
}

static int client_should_validate(const void *cfg)
{
	const struct srdma_client_config *c = cfg;

	return c->host[0] && c->ca[0] && !c->cert[0] == !c->key[0];
}

/* The loader's entry points behind one signature, so that both programs share the checks. */
static void server_defaults(void *c)
{
	srdma_server_config_defaults(c);
}

static int server_load(void *c, const char *path, char *err, size_t errlen)
{
	return srdma_server_config_load(c, path, err, errlen);
}

static int server_validate(const void *c, char *err, size_t errlen)
{
	return srdma_server_config_validate(c, err, errlen);
}

static void client_defaults(void *c)
{
	srdma_client_config_defaults(c);
}

static int client_load(void *c, const char *path, char *err, size_t errlen)
{
	return srdma_client_config_load(c, path, err, errlen);
}

static int client_validate(const void *c, char *err, size_t errlen)
{
	return srdma_client_config_validate(c, err, errlen);
}

struct program {
	size_t size;
	void (*defaults)(void *c);
	int (*load)(void *c, const char *path, char *err, size_t errlen);
	int (*validate)(const void *c, char *err, size_t errlen);
	void (*write)(FILE *f, const void *c);
	void (*same)(const void *a, const void *b);
	int (*should_validate)(const void *c);
	const char *const *cross_field_errors; /* NULL-terminated */
};

static const char *const server_errors[] = {"cert is required", "key is required", NULL};
static const char *const client_errors[] = {"host is required", "ca is required",
					    "cert and key must be given together", NULL};

static const struct program programs[] = {
    {sizeof(struct srdma_server_config), server_defaults, server_load, server_validate,
     server_write, server_same, server_should_validate, server_errors},
    {sizeof(struct srdma_client_config), client_defaults, client_load, client_validate,
     client_write, client_same, client_should_validate, client_errors},
};

/* One memfd for the whole run, rewritten for each file; the loader opens it by path. */
static int file_fd = -1;
static char file_path[64];

static void put_file(const void *data, size_t size)
{
	const char *p = data;

	if (file_fd < 0) {
		file_fd = memfd_create("srdma-fuzz-config", MFD_CLOEXEC);
		CHECK(file_fd >= 0);
		snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
	}
	CHECK(ftruncate(file_fd, 0) == 0);
	for (off_t off = 0; size > 0;) {
		ssize_t n = pwrite(file_fd, p, size, off);

		CHECK(n > 0);
		p += n;
		off += n;
		size -= (size_t)n;
	}
}

/* Lines as the loader counts them: a last line without '\n' is a line too. */
static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size > 0 && data[size - 1] != '\n');
}

/* "PATH:LINE: something", LINE one of the input's lines. */
static void check_load_error(const char *err, size_t nlines)
{
	size_t plen = strlen(file_path);
	unsigned long line;
	char *end;

	CHECK(strncmp(err, file_path, plen) == 0 && err[plen] == ':');
	CHECK(err[plen + 1] >= '1' && err[plen + 1] <= '9');
	line = strtoul(err + plen + 1, &end, 10);
	CHECK(line >= 1 && line <= nlines);
	CHECK(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
}

static void check_validate(const struct program *pg, const void *cfg)
{
	char err[ERRLEN];
	int ret = pg->validate(cfg, err, sizeof(err));
	int known = 0;

	CHECK(ret == (pg->should_validate(cfg) ? 0 : -EINVAL));
	if (ret == 0)
		return;
	for (const char *const *e = pg->cross_field_errors; *e; e++)
		known |= strncmp(err, *e, strlen(*e)) == 0;
	CHECK(known);
}

/* Write cfg out key by key and load that over defaults: the same config must come back. */
static void check_round_trip(const struct program *pg, const void *cfg, void *scratch)
{
	char err[ERRLEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	pg->write(f, cfg);
	CHECK(fclose(f) == 0);
	put_file(text, len);
	pg->defaults(scratch);
	if (pg->load(scratch, file_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "written config does not load: %s\n%s", err, text);
		CHECK(!"round trip: the written config loads");
	}
	pg->same(cfg, scratch);
	free(text);
}

static void check_program(const struct program *pg, const uint8_t *data, size_t size)
{
	char err[ERRLEN], short_err[SHORT_ERRLEN];
	void *cfg = malloc(pg->size), *before = malloc(pg->size), *again = malloc(pg->size);
	int ret;

	CHECK(cfg && before && again);
	put_file(data, size);
	pg->defaults(cfg);
	memcpy(before, cfg, pg->size);
	memset(err, 'x', sizeof(err));
	ret = pg->load(cfg, file_path, err, sizeof(err));
	CHECK(ret == 0 || ret == -EINVAL);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL || ret == 0);

	/* The same file with a short error buffer and with none: same verdict, same message. */
	memcpy(again, before, pg->size);
	CHECK(pg->load(again, file_path, short_err, sizeof(short_err)) == ret);
	memcpy(again, before, pg->size);
	CHECK(pg->load(again, file_path, NULL, 0) == ret);

	if (ret) {
		check_load_error(err, count_lines(data, size));
		CHECK(memchr(short_err, '\0', sizeof(short_err)) != NULL);
		CHECK(strncmp(short_err, err, sizeof(short_err) - 1) == 0);
		CHECK(memcmp(cfg, before, pg->size) == 0);
		goto out;
	}

	check_validate(pg, cfg);

	/* Applying the file once more over its own result: the last value of each key wins. */
	memcpy(again, cfg, pg->size);
	CHECK(pg->load(again, file_path, err, sizeof(err)) == 0);
	pg->same(cfg, again);

	check_round_trip(pg, cfg, again);
out:
	free(again);
	free(before);
	free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		check_program(&programs[i], data, size);
	return 0;
}
