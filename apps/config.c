/* Server and client settings. One table per config struct drives the setter, the INI loader and
 * the validation, so a key, its range and its error message are written down exactly once. */
#include "config.h"

#include <sched.h>
#include <unistd.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <ini.h>

#include "log.h"

enum field_type {
	FT_STR,	 /* char[size]; min/max bound the length */
	FT_UINT, /* uint8_t, uint16_t or uint32_t/unsigned (by size); min/max bound the value */
	FT_INT,	 /* int */
	FT_BOOL, /* int, 0 or 1 */
	FT_TLS,	 /* enum srdma_tls_version */
	FT_LOG,	 /* int holding an enum srdma_log_level */
	FT_DP,	 /* int holding an enum srdma_dp_mode: "aead", "chacha20" or "plain" */
};

struct field {
	const char *key;
	const char *alias; /* historical name, or NULL */
	enum field_type type;
	size_t offset;
	size_t size;
	long min;
	long max;
};

struct config_table {
	const char *section; /* the INI section this table's files may use */
	const struct field *fields;
	size_t nfields;
};

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "FT_UINT stores unsigned as 32 bits");
_Static_assert(sizeof(enum srdma_tls_version) == sizeof(int), "FT_TLS is read as an int");

#define MEMBER_SIZE(type, member) sizeof(((type *)0)->member)

#define SRV(key, alias, ft, member, min, max)                                                      \
	{                                                                                          \
		key, alias, ft, offsetof(struct srdma_server_config, member),                      \
		    MEMBER_SIZE(struct srdma_server_config, member), min, max                      \
	}
#define SRV_STR(key, member, min_len)                                                              \
	SRV(key, NULL, FT_STR, member, min_len,                                                    \
	    (long)MEMBER_SIZE(struct srdma_server_config, member) - 1)

#define CLI(key, ft, member, min, max)                                                             \
	{                                                                                          \
		key, NULL, ft, offsetof(struct srdma_client_config, member),                       \
		    MEMBER_SIZE(struct srdma_client_config, member), min, max                      \
	}
#define CLI_STR(key, member, min_len)                                                              \
	CLI(key, FT_STR, member, min_len, (long)MEMBER_SIZE(struct srdma_client_config, member) - 1)

static const struct field server_fields[] = {
    SRV_STR("bind", bind, 1),
    SRV("port", NULL, FT_UINT, port, 1, 65535),
    SRV_STR("cert", cert, 0),
    SRV_STR("key", key, 0),
    SRV_STR("client_ca", client_ca, 0),
    SRV("tls_min", NULL, FT_TLS, tls_min, SRDMA_TLS_1_2, SRDMA_TLS_1_3),
    SRV_STR("device", device, 0),
    SRV("ib_port", NULL, FT_UINT, ib_port, 1, 255),
    SRV("gid_index", NULL, FT_INT, gid_index, -1, 255),
    SRV("workers", "THREAD_POOL_SIZE", FT_UINT, workers, 0, 256),
    SRV("max_clients", "MAX_CONNECTIONS", FT_UINT, max_clients, 1, 1000000),
    SRV("handshake_timeout_ms", NULL, FT_UINT, handshake_timeout_ms, 100, 600000),
    SRV("resumption", NULL, FT_BOOL, resumption, 0, 1),
    SRV("max_msg", NULL, FT_UINT, max_msg, 64, SRDMA_MSG_MAX),
    SRV("write_size", NULL, FT_UINT, write_size, 0, SRDMA_WRITE_SIZE_MAX),
    SRV("recv_depth", NULL, FT_UINT, recv_depth, 1, SRDMA_DEPTH_MAX),
    SRV("busy_poll_us", NULL, FT_UINT, busy_poll_us, 0, 100000),
    SRV("max_msg_rate", NULL, FT_UINT, max_msg_rate, 0, 100000000),
    SRV("log_level", NULL, FT_LOG, log_level, SRDMA_LOG_ERROR, SRDMA_LOG_DEBUG),
    SRV_STR("log_format", log_format, 1),
    SRV("dataplane", NULL, FT_DP, dataplane, SRDMA_DP_PLAIN, SRDMA_DP_CHACHA20),
    SRV("max_pending", NULL, FT_UINT, max_pending, 1, 1000000),
    SRV("max_pending_per_addr", NULL, FT_UINT, max_pending_per_addr, 1, 1000000),
    SRV("early_drop_pct", NULL, FT_UINT, early_drop_pct, 1, 100),
    SRV("heartbeat_ms", NULL, FT_UINT, heartbeat_ms, 0, 3600000),
    SRV("heartbeat_misses", NULL, FT_UINT, heartbeat_misses, 1, SRDMA_HEARTBEAT_MAX_MISSES),
    SRV("rekey_messages", NULL, FT_UINT, rekey_messages, 2, 2147483648L),
    SRV_STR("metrics_listen", metrics_listen, 0),
    SRV_STR("metrics_cert", metrics_cert, 0),
    SRV_STR("metrics_key", metrics_key, 0),
    SRV_STR("metrics_client_ca", metrics_client_ca, 0),
};

static const struct field client_fields[] = {
    CLI_STR("host", host, 0),
    CLI("port", FT_UINT, port, 1, 65535),
    CLI_STR("ca", ca, 0),
    CLI_STR("server_name", server_name, 0),
    CLI_STR("cert", cert, 0),
    CLI_STR("key", key, 0),
    CLI("tls_min", FT_TLS, tls_min, SRDMA_TLS_1_2, SRDMA_TLS_1_3),
    CLI_STR("device", device, 0),
    CLI("ib_port", FT_UINT, ib_port, 1, 255),
    CLI("gid_index", FT_INT, gid_index, -1, 255),
    CLI_STR("pattern", pattern, 1),
    CLI("count", FT_UINT, count, 0, 1000000000),
    CLI("size", FT_UINT, size, 1, SRDMA_MSG_MAX),
    CLI("writes", FT_UINT, writes, 0, 1000000000),
    CLI("ping", FT_BOOL, ping, 0, 1),
    CLI("idle", FT_UINT, idle_s, 0, 86400),
    CLI("repeat", FT_UINT, repeat, 1, 1000000),
    CLI("json", FT_BOOL, json, 0, 1),
    CLI("timeout_ms", FT_UINT, timeout_ms, 100, 600000),
    CLI("log_level", FT_LOG, log_level, SRDMA_LOG_ERROR, SRDMA_LOG_DEBUG),
    CLI("dataplane", FT_DP, dataplane, SRDMA_DP_PLAIN, SRDMA_DP_CHACHA20),
    CLI("busy_poll_us", FT_UINT, busy_poll_us, 0, 100000),
    CLI("depth", FT_UINT, depth, 1, SRDMA_DEPTH_MAX),
    CLI("heartbeat_ms", FT_UINT, heartbeat_ms, 0, 3600000),
    CLI("heartbeat_misses", FT_UINT, heartbeat_misses, 1, SRDMA_HEARTBEAT_MAX_MISSES),
    CLI("rekey_messages", FT_UINT, rekey_messages, 2, 2147483648L),
    CLI("retry", FT_UINT, retry, 0, 1000),
};

static const struct config_table server_table = {
    "server",
    server_fields,
    sizeof(server_fields) / sizeof(server_fields[0]),
};

static const struct config_table client_table = {
    "client",
    client_fields,
    sizeof(client_fields) / sizeof(client_fields[0]),
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ASCII only, so that neither keys nor values depend on the process locale. */
static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int key_char(int c)
{
	return c == '-' ? '_' : ascii_lower(c);
}

/* Keys compare case-insensitively with '-' and '_' interchangeable (config.h). */
static int key_equal(const char *a, const char *b)
{
	while (*a && key_char((unsigned char)*a) == key_char((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == *b;
}

static int value_equal(const char *a, const char *b)
{
	while (*a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == *b;
}

static const struct field *find_field(const struct config_table *t, const char *key)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];

		if (key_equal(key, f->key) || (f->alias && key_equal(key, f->alias)))
			return f;
	}
	return NULL;
}

/* Digits only, with a leading '-' if minus_ok: no sign '+', no blanks, no "0x", not empty. */
static int is_decimal(const char *s, int minus_ok)
{
	if (minus_ok && *s == '-')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
	}
	return 1;
}

static long read_number(const void *cfg, const struct field *f)
{
	const char *p = (const char *)cfg + f->offset;

	switch (f->type) {
	case FT_UINT:
		if (f->size == sizeof(uint8_t))
			return *(const uint8_t *)p;
		if (f->size == sizeof(uint16_t))
			return *(const uint16_t *)p;
		return (long)*(const uint32_t *)p;
	case FT_TLS:
		return *(const enum srdma_tls_version *)p;
	default:
		return *(const int *)p;
	}
}

static void write_number(void *cfg, const struct field *f, long v)
{
	char *p = (char *)cfg + f->offset;

	switch (f->type) {
	case FT_UINT:
		if (f->size == sizeof(uint8_t))
			*(uint8_t *)p = (uint8_t)v;
		else if (f->size == sizeof(uint16_t))
			*(uint16_t *)p = (uint16_t)v;
		else
			*(uint32_t *)p = (uint32_t)v;
		break;
	case FT_TLS:
		*(enum srdma_tls_version *)p = (enum srdma_tls_version)v;
		break;
	default:
		*(int *)p = (int)v;
		break;
	}
}

/* The one range check, shared by the setter (shown = the value as given) and validation (shown
 * = the stored number). */
static int check_range(const struct field *f, long v, const char *shown, char *err, size_t errlen)
{
	if (v < f->min || v > f->max) {
		set_err(err, errlen, "%s: %s is out of range (%ld..%ld)", f->key, shown, f->min,
			f->max);
		return -EINVAL;
	}
	return 0;
}

static int check_length(const struct field *f, size_t len, char *err, size_t errlen)
{
	if (len > (size_t)f->max) {
		set_err(err, errlen, "%s: value is too long (%zu characters, at most %ld)", f->key,
			len, f->max);
		return -EINVAL;
	}
	if (len < (size_t)f->min) {
		set_err(err, errlen, "%s: must not be empty", f->key);
		return -EINVAL;
	}
	return 0;
}

/* Turn value into the number stored for f; strings are not handled here. */
static int parse_number(const struct field *f, const char *value, long *out, char *err,
			size_t errlen)
{
	enum srdma_log_level level;
	char shown[80];
	int mode;

	/* A value quoted in a message is cut, visibly, so that the rest of the message survives. */
	snprintf(shown, sizeof(shown), "\"%.64s%s\"", value, strlen(value) > 64 ? "..." : "");
	switch (f->type) {
	case FT_UINT:
	case FT_INT:
		if (!is_decimal(value, 1)) {
			set_err(err, errlen, "%s: %s is not a number (%ld..%ld)", f->key, shown,
				f->min, f->max);
			return -EINVAL;
		}
		errno = 0;
		if (f->type == FT_UINT) {
			unsigned long u;

			/* strtoul would accept "-1" as ULONG_MAX. */
			if (value[0] == '-')
				return check_range(f, -1, shown, err, errlen);
			u = strtoul(value, NULL, 10);
			*out = errno == ERANGE || u > LONG_MAX ? LONG_MAX : (long)u;
		} else {
			*out = strtol(value, NULL, 10);
		}
		/* ERANGE saturates at LONG_MIN or LONG_MAX, both outside every field's range. */
		return check_range(f, *out, shown, err, errlen);
	case FT_BOOL:
		if (value_equal(value, "1") || value_equal(value, "true") ||
		    value_equal(value, "yes") || value_equal(value, "on")) {
			*out = 1;
			return 0;
		}
		if (value_equal(value, "0") || value_equal(value, "false") ||
		    value_equal(value, "no") || value_equal(value, "off")) {
			*out = 0;
			return 0;
		}
		set_err(err, errlen, "%s: %s is not a boolean (1/0, true/false, yes/no, on/off)",
			f->key, shown);
		return -EINVAL;
	case FT_TLS:
		if (!strcmp(value, "1.2")) {
			*out = SRDMA_TLS_1_2;
			return 0;
		}
		if (!strcmp(value, "1.3")) {
			*out = SRDMA_TLS_1_3;
			return 0;
		}
		set_err(err, errlen, "%s: %s is not a supported TLS version (1.2 or 1.3)", f->key,
			shown);
		return -EINVAL;
	case FT_DP:
		for (mode = SRDMA_DP_PLAIN; mode <= SRDMA_DP_CHACHA20; mode++)
			if (!strcasecmp(value, srdma_dp_mode_name(mode))) {
				*out = mode;
				return 0;
			}
		set_err(err, errlen, "%s: %s is not a data-plane mode (aead, chacha20 or plain)",
			f->key, shown);
		return -EINVAL;
	case FT_LOG:
		if (srdma_log_parse_level(value, &level)) {
			set_err(err, errlen, "%s: %s is not a log level (error, warn, info, debug)",
				f->key, shown);
			return -EINVAL;
		}
		*out = level;
		return 0;
	case FT_STR:
		break;
	}
	return -EINVAL;
}

/* Parse and check everything before storing, so that a refused value leaves the field as it was. */
static int set_field(void *cfg, const struct field *f, const char *value, char *err, size_t errlen)
{
	long v = 0;
	int ret;

	if (f->type == FT_STR) {
		size_t len = strlen(value);

		ret = check_length(f, len, err, errlen);
		if (ret)
			return ret;
		memcpy((char *)cfg + f->offset, value, len + 1);
		return 0;
	}
	/* workers = auto: the stored 0, resolved by srdma_cpus_allowed() when the server starts. */
	if (!strcmp(f->key, "workers") && !strcasecmp(value, "auto")) {
		write_number(cfg, f, 0);
		return 0;
	}
	ret = parse_number(f, value, &v, err, errlen);
	if (ret)
		return ret;
	write_number(cfg, f, v);
	return 0;
}

unsigned srdma_cpus_allowed(void)
{
	cpu_set_t set;
	long n;

	/* The CPUs this process may run on: a container's cpuset or taskset, not the machine's. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static int table_set(const struct config_table *t, void *cfg, const char *key, const char *value,
		     char *err, size_t errlen)
{
	const struct field *f;

	if (!key || !value) {
		set_err(err, errlen, "missing key or value");
		return -EINVAL;
	}
	f = find_field(t, key);
	if (!f) {
		set_err(err, errlen, "unknown key \"%s\"", key);
		return -EINVAL;
	}
	return set_field(cfg, f, value, err, errlen);
}

/* Check every stored value against its table entry: the same bounds the setter enforces, for
 * configs whose fields were also written directly. */
static int table_validate(const struct config_table *t, const void *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];
		const char *p = (const char *)cfg + f->offset;
		char shown[32];
		long v;
		int ret;

		if (f->type == FT_STR) {
			if (!memchr(p, '\0', f->size)) {
				set_err(err, errlen, "%s: value is not terminated", f->key);
				return -EINVAL;
			}
			ret = check_length(f, strlen(p), err, errlen);
		} else {
			v = read_number(cfg, f);
			snprintf(shown, sizeof(shown), "%ld", v);
			ret = check_range(f, v, shown, err, errlen);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* INI loading. libinih is used through ini_parse_stream with our own line reader, because the
 * library as built reads into a 200-byte stack buffer and, left to itself, silently cuts a longer
 * line (a long cert path would be truncated, not refused), treats an indented line as the
 * continuation of the previous value, and never reports a section that has no keys under it. */

struct ini_load {
	const struct config_table *table;
	void *cfg;
	FILE *file;
	unsigned line;	   /* lines handed to inih so far: the number of the line being parsed */
	unsigned err_line; /* line of the first error found here, 0 if none */
	int read_errno;	   /* the file could not be read at all: not any line's fault */
	char msg[512];
};

static void __attribute__((format(printf, 3, 4)))
load_fail(struct ini_load *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (ld->err_line)
		return;
	ld->err_line = line;
	va_start(ap, fmt);
	vsnprintf(ld->msg, sizeof(ld->msg), fmt, ap);
	va_end(ap);
}

static int section_ok(const struct ini_load *ld, const char *name)
{
	return *name == '\0' || value_equal(name, ld->table->section);
}

/* Reads one physical line per call, as inih counts them, so that ld->line is inih's line
 * number. Returning NULL ends the parse; the reason is left in ld. */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_load *ld = stream;
	size_t len = 0, skip = 0;
	int c = EOF;

	if (ld->err_line)
		return NULL;
	while ((c = getc(ld->file)) != EOF) {
		if (c == '\0') {
			load_fail(ld, ld->line + 1, "NUL byte in line");
			return NULL;
		}
		if (len + 1 >= (size_t)num) {
			load_fail(ld, ld->line + 1, "line too long (at most %d characters)",
				  num - 2);
			return NULL;
		}
		str[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (ferror(ld->file)) {
		ld->read_errno = errno ? errno : EIO;
		load_fail(ld, ld->line + 1, "read error");
		return NULL;
	}
	if (len == 0)
		return NULL;
	str[len] = '\0';
	ld->line++;

	if (ld->line == 1 && len >= 3 && !memcmp(str, "\xEF\xBB\xBF", 3))
		skip = 3;
	/* Indentation carries no meaning here, in particular no continuation lines: inih takes any
	 * line that starts with white space after a key for a continuation of that key's value. */
	while (str[skip] && str[skip] != '\n' && strchr(" \t\r\v\f", str[skip]))
		skip++;
	memmove(str, str + skip, len - skip + 1);

	if (str[0] == '[') {
		char *close = strchr(str, ']');

		/* Without the ']' inih reports the syntax error itself. */
		if (close) {
			*close = '\0';
			/* "[]" is not the same as no section. */
			if (!value_equal(str + 1, ld->table->section)) {
				load_fail(ld, ld->line, "unknown section [%s] (expected [%s])",
					  str + 1, ld->table->section);
				return NULL;
			}
			*close = ']';
		}
	}
	return str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
	struct ini_load *ld = user;
	char msg[sizeof(ld->msg)];

	if (ld->err_line)
		return 0;
	/* The reader already refused other section headers; this catches any header inih splits
	 * differently from it. */
	if (!section_ok(ld, section)) {
		load_fail(ld, ld->line, "unknown section [%s] (expected [%s])", section,
			  ld->table->section);
		return 0;
	}
	if (table_set(ld->table, ld->cfg, name, value, msg, sizeof(msg))) {
		load_fail(ld, ld->line, "%s", msg);
		return 0;
	}
	return 1;
}

/* cfg is a scratch copy that the callers commit only on success: a failed load changes nothing. */
static int table_load(const struct config_table *t, void *cfg, const char *path, char *err,
		      size_t errlen)
{
	struct ini_load ld = {.table = t, .cfg = cfg};
	int ret;

	if (!path) {
		set_err(err, errlen, "missing config file name");
		return -EINVAL;
	}
	ld.file = fopen(path, "r");
	if (!ld.file) {
		set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	ret = ini_parse_stream(ini_read_line, &ld, ini_on_value, &ld);
	fclose(ld.file);

	if (ld.read_errno) {
		set_err(err, errlen, "cannot read %s: %s", path, strerror(ld.read_errno));
		return -EINVAL;
	}
	/* inih returns the line of the first error it saw, ours or a syntax error of its own;
	 * report whichever came first in the file. */
	if (ret > 0 && (!ld.err_line || (unsigned)ret < ld.err_line)) {
		set_err(err, errlen,
			"%s:%d: syntax error (expected \"key = value\", \"[%s]\" or a comment)",
			path, ret, t->section);
		return -EINVAL;
	}
	if (ld.err_line) {
		set_err(err, errlen, "%s:%u: %s", path, ld.err_line, ld.msg);
		return -EINVAL;
	}
	if (ret < 0) {
		set_err(err, errlen, "%s: cannot parse (libinih error %d)", path, ret);
		return -EINVAL;
	}
	return 0;
}

int srdma_listen_addr_parse(const char *key, const char *s, struct sockaddr_storage *ss,
			    socklen_t *sslen, char *err, size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen = colon ? (size_t)(colon - s) : 0;
	unsigned long port = 0;

	memset(ss, 0, sizeof(*ss));
	if (colon && is_decimal(colon + 1, 0) && strlen(colon + 1) <= 5)
		port = strtoul(colon + 1, NULL, 10);
	if (!colon || hlen == 0 || hlen >= sizeof(host) || port < 1 || port > 65535)
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			goto bad;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*in6);
		return 0;
	}
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		goto bad;
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	*sslen = sizeof(*in4);
	return 0;
bad:
	set_err(err, errlen,
		"%s: \"%.64s\" is not ADDR:PORT (an IPv4 address, [IPv6 address] or localhost, and "
		"a port 1..65535; e.g. 127.0.0.1:9464)",
		key, s);
	return -EINVAL;
}

static int validate_metrics(const struct srdma_server_config *c, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!c->metrics_listen[0]) {
		if (!c->metrics_cert[0] && !c->metrics_key[0] && !c->metrics_client_ca[0])
			return 0;
		set_err(err, errlen,
			"metrics_cert, metrics_key and metrics_client_ca need "
			"metrics_listen (the address to serve metrics on)");
		return -EINVAL;
	}
	if (!c->metrics_cert[0] != !c->metrics_key[0]) {
		set_err(err, errlen, "metrics_cert and metrics_key must be given together (HTTPS)");
		return -EINVAL;
	}
	if (c->metrics_client_ca[0] && !c->metrics_cert[0]) {
		set_err(err, errlen,
			"metrics_client_ca needs metrics_cert and metrics_key: client "
			"certificates are checked over HTTPS only");
		return -EINVAL;
	}
	return srdma_listen_addr_parse("metrics_listen", c->metrics_listen, &ss, &len, err, errlen);
}

void srdma_server_config_defaults(struct srdma_server_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->bind, sizeof(c->bind), "%s", "0.0.0.0");
	c->port = SRDMA_DEFAULT_PORT;
	c->tls_min = SRDMA_TLS_1_3;
	c->ib_port = 1;
	c->gid_index = -1;
	c->workers = 0;
	c->max_clients = 10;
	c->handshake_timeout_ms = 5000;
	c->resumption = 1;
	c->max_msg = 65536;
	c->write_size = 65536;
	c->recv_depth = 4;
	c->log_level = SRDMA_LOG_INFO;
	snprintf(c->log_format, sizeof(c->log_format), "%s", "text");
	c->dataplane = SRDMA_DP_AEAD;
	c->busy_poll_us = 200;
	c->max_pending = 256;
	c->max_pending_per_addr = 32;
	c->early_drop_pct = 50;
	c->heartbeat_ms = 5000;
	c->heartbeat_misses = 3;
	c->rekey_messages = 65536;
}

int srdma_server_config_set(struct srdma_server_config *c, const char *key, const char *value,
			    char *err, size_t errlen)
{
	return table_set(&server_table, c, key, value, err, errlen);
}

int srdma_server_config_load(struct srdma_server_config *c, const char *path, char *err,
			     size_t errlen)
{
	struct srdma_server_config tmp = *c;
	int ret;

	ret = table_load(&server_table, &tmp, path, err, errlen);
	if (!ret)
		*c = tmp;
	return ret;
}

/* heartbeat_ms: 0 (off) or the library's range. */
static int validate_heartbeat(unsigned heartbeat_ms, char *err, size_t errlen)
{
	if (heartbeat_ms && heartbeat_ms < SRDMA_HEARTBEAT_MIN_MS) {
		set_err(err, errlen, "heartbeat_ms: 0 (off) or %u to 3600000, not %u",
			SRDMA_HEARTBEAT_MIN_MS, heartbeat_ms);
		return -EINVAL;
	}
	return 0;
}

int srdma_server_config_validate(const struct srdma_server_config *c, char *err, size_t errlen)
{
	int ret;

	ret = table_validate(&server_table, c, err, errlen);
	if (ret)
		return ret;
	if (!c->cert[0]) {
		set_err(err, errlen, "cert is required: the server's PEM certificate chain");
		return -EINVAL;
	}
	if (!c->key[0]) {
		set_err(err, errlen, "key is required: the private key of the certificate");
		return -EINVAL;
	}
	ret = validate_heartbeat(c->heartbeat_ms, err, errlen);
	if (ret)
		return ret;
	if (srdma_log_parse_format(c->log_format, &(enum srdma_log_format){0})) {
		set_err(err, errlen, "log_format: \"%s\" is not a log format (text or json)",
			c->log_format);
		return -EINVAL;
	}
	return validate_metrics(c, err, errlen);
}

void srdma_client_config_defaults(struct srdma_client_config *c)
{
	memset(c, 0, sizeof(*c));
	c->port = SRDMA_DEFAULT_PORT;
	c->tls_min = SRDMA_TLS_1_3;
	c->ib_port = 1;
	c->gid_index = -1;
	snprintf(c->pattern, sizeof(c->pattern), "%s", "secure-rdma");
	c->count = 1;
	c->size = 64;
	c->writes = 0;
	c->ping = 0;
	c->idle_s = 0;
	c->repeat = 1;
	c->json = 0;
	c->timeout_ms = 10000;
	c->log_level = SRDMA_LOG_WARN;
	c->dataplane = SRDMA_DP_AEAD;
	c->busy_poll_us = 200;
	c->depth = 4;
	c->heartbeat_ms = 5000;
	c->heartbeat_misses = 3;
	c->rekey_messages = 65536;
	c->retry = 0;
}

int srdma_client_config_set(struct srdma_client_config *c, const char *key, const char *value,
			    char *err, size_t errlen)
{
	return table_set(&client_table, c, key, value, err, errlen);
}

int srdma_client_config_load(struct srdma_client_config *c, const char *path, char *err,
			     size_t errlen)
{
	struct srdma_client_config tmp = *c;
	int ret;

	ret = table_load(&client_table, &tmp, path, err, errlen);
	if (!ret)
		*c = tmp;
	return ret;
}

int srdma_client_config_validate(const struct srdma_client_config *c, char *err, size_t errlen)
{
	int ret;

	ret = table_validate(&client_table, c, err, errlen);
	if (ret)
		return ret;
	if (!c->host[0]) {
		set_err(err, errlen, "host is required: the server to connect to");
		return -EINVAL;
	}
	if (!c->ca[0]) {
		set_err(err, errlen,
			"ca is required: the PEM CA bundle that signs the server certificate");
		return -EINVAL;
	}
	if (!c->cert[0] != !c->key[0]) {
		set_err(err, errlen, "cert and key must be given together (mutual TLS needs both)");
		return -EINVAL;
	}
	return validate_heartbeat(c->heartbeat_ms, err, errlen);
}
