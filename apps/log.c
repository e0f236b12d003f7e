/* Logging to stderr, one write(2) per line so that lines from different threads never interleave.
 * The shapes of a line (text, journal, json) are described in log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <json-c/json.h>

/* Longer messages are cut and end in "..."; a line must stay one write(2) on a stack buffer. */
#define LOG_LINE_MAX 1024

/* The level changes at run time (a reload); the rest are start-up-once settings (log.h). */
static atomic_int log_level = SRDMA_LOG_INFO;
static enum srdma_log_format log_format = SRDMA_LOG_TEXT;
static int log_journal;
static const char *log_tag;

static const char *const level_names[] = {
    [SRDMA_LOG_ERROR] = "error",
    [SRDMA_LOG_WARN] = "warn",
    [SRDMA_LOG_INFO] = "info",
    [SRDMA_LOG_DEBUG] = "debug",
};

static const char *const level_labels[] = {
    [SRDMA_LOG_ERROR] = "ERROR",
    [SRDMA_LOG_WARN] = "WARN",
    [SRDMA_LOG_INFO] = "INFO",
    [SRDMA_LOG_DEBUG] = "DEBUG",
};

/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int level_priorities[] = {
    [SRDMA_LOG_ERROR] = 3,
    [SRDMA_LOG_WARN] = 4,
    [SRDMA_LOG_INFO] = 6,
    [SRDMA_LOG_DEBUG] = 7,
};

void srdma_log_set_level(enum srdma_log_level level)
{
	if ((int)level < SRDMA_LOG_ERROR)
		level = SRDMA_LOG_ERROR;
	if (level > SRDMA_LOG_DEBUG)
		level = SRDMA_LOG_DEBUG;
	atomic_store(&log_level, (int)level);
}

enum srdma_log_level srdma_log_get_level(void)
{
	return (enum srdma_log_level)atomic_load(&log_level);
}

const char *srdma_log_level_name(enum srdma_log_level level)
{
	if ((int)level < SRDMA_LOG_ERROR || level > SRDMA_LOG_DEBUG)
		return "?";
	return level_names[level];
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII-only so that the result does not depend on the process locale. */
static int ascii_case_equal(const char *a, const char *b)
{
	while (*a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == *b;
}

int srdma_log_parse_level(const char *s, enum srdma_log_level *out)
{
	if (!s)
		return -EINVAL;
	/* Case-insensitive, like the config keys the value usually arrives with. */
	for (int i = SRDMA_LOG_ERROR; i <= SRDMA_LOG_DEBUG; i++) {
		if (ascii_case_equal(s, level_names[i])) {
			*out = (enum srdma_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int srdma_log_parse_format(const char *s, enum srdma_log_format *out)
{
	if (s && ascii_case_equal(s, "text")) {
		*out = SRDMA_LOG_TEXT;
		return 0;
	}
	if (s && ascii_case_equal(s, "json")) {
		*out = SRDMA_LOG_JSON;
		return 0;
	}
	return -EINVAL;
}

void srdma_log_set_format(enum srdma_log_format format)
{
	log_format = format == SRDMA_LOG_JSON ? SRDMA_LOG_JSON : SRDMA_LOG_TEXT;
}

void srdma_log_set_tag(const char *tag)
{
	log_tag = tag;
}

int srdma_log_detect_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	log_journal = 0;
	/* systemd sets it for the unit's process; a child whose stderr went elsewhere inherits
	 * it too, hence the comparison with what stderr really is. */
	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 || env[end] != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st))
		return 0;
	log_journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return log_journal;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		/* Nowhere left to report a failing stderr. */
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The message alone into msg (cut with "..." if too long), on one line. */
__attribute__((format(printf, 3, 0))) static void format_message(char *msg, size_t cap,
								 const char *fmt, va_list ap)
{
	size_t len = 0;
	int n = vsnprintf(msg, cap, fmt, ap);

	if (n > 0) {
		len = (size_t)n;
		if (len >= cap) {
			len = cap - 1;
			memcpy(msg + len - 3, "...", 3);
		}
	}
	msg[len] = '\0';
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	/* One event, one line: a control character in the message (which may quote a peer's
	 * bytes) must not be able to start a forged line. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			msg[i] = '?';
	}
}

/* "2026-11-22T01:02:03.456Z" */
static void format_time(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, cap - len, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void emit_text(enum srdma_log_level level, const char *msg)
{
	char line[LOG_LINE_MAX + 64], when[40];
	int n;

	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>%s\n", level_priorities[level], msg);
	} else {
		format_time(when, sizeof(when));
		n = snprintf(line, sizeof(line), "%s %s %s%s%s\n", when, level_labels[level],
			     log_tag && *log_tag ? log_tag : "", log_tag && *log_tag ? ": " : "",
			     msg);
	}
	if (n > 0)
		write_all(STDERR_FILENO, line,
			  (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void emit_json(enum srdma_log_level level, const struct srdma_log_field *fields,
		      size_t nfields, const char *msg)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	char when[40], prefix[8] = "";
	size_t i;

	if (!o) {
		emit_text(level, msg);
		return;
	}
	format_time(when, sizeof(when));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "level", json_object_new_string(level_names[level]));
	if (log_tag && *log_tag)
		json_object_object_add(o, "program", json_object_new_string(log_tag));
	json_object_object_add(o, "message", json_object_new_string(msg));
	for (i = 0; i < nfields; i++) {
		const struct srdma_log_field *f = &fields[i];

		/* The fixed members keep their meaning. */
		if (!f->key || json_object_object_get_ex(o, f->key, NULL))
			continue;
		json_object_object_add(o, f->key,
				       f->str ? json_object_new_string(f->str)
					      : json_object_new_int64((int64_t)f->num));
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	if (log_journal)
		snprintf(prefix, sizeof(prefix), "<%d>", level_priorities[level]);
	if (text) {
		size_t plen = strlen(prefix), tlen = strlen(text);
		char *line = malloc(plen + tlen + 1);

		if (line) {
			memcpy(line, prefix, plen);
			memcpy(line + plen, text, tlen);
			line[plen + tlen] = '\n';
			write_all(STDERR_FILENO, line, plen + tlen + 1);
			free(line);
		}
	}
	json_object_put(o);
}

__attribute__((format(printf, 4, 0))) static void vlog(enum srdma_log_level level,
						       const struct srdma_log_field *fields,
						       size_t nfields, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved_errno;

	if ((int)level < SRDMA_LOG_ERROR || (int)level > atomic_load(&log_level))
		return;
	/* Callers often log and then return -errno. */
	saved_errno = errno;
	format_message(msg, sizeof(msg), fmt, ap);
	if (log_format == SRDMA_LOG_JSON)
		emit_json(level, fields, nfields, msg);
	else
		emit_text(level, msg);
	errno = saved_errno;
}

void srdma_log(enum srdma_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void srdma_log_fields(enum srdma_log_level level, const struct srdma_log_field *fields,
		      size_t nfields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fields, nfields, fmt, ap);
	va_end(ap);
}

unsigned srdma_log_tcp_retrans(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_total_retrans;
}
