/* Logging to stderr, one write(2) per line so that lines from different threads never interleave.
 *
 * Line format: "2026-11-22T01:02:03.456Z LEVEL tag: message\n" (UTC; "tag: " only when a tag
 * is set). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are cut and end in "..."; a line must stay one write(2) on a stack buffer. */
#define LOG_LINE_MAX 1024

/* Start-up-once settings (log.h): written before any thread starts, only read afterwards. */
static enum srdma_log_level log_level = SRDMA_LOG_INFO;
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

void srdma_log_set_level(enum srdma_log_level level)
{
	if ((int)level < SRDMA_LOG_ERROR)
		level = SRDMA_LOG_ERROR;
	if (level > SRDMA_LOG_DEBUG)
		level = SRDMA_LOG_DEBUG;
	log_level = level;
}

enum srdma_log_level srdma_log_get_level(void)
{
	return log_level;
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

void srdma_log_set_tag(const char *tag)
{
	log_tag = tag;
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

void srdma_log(enum srdma_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t len, msg_start;
	int saved_errno, n;
	va_list ap;

	if ((int)level < SRDMA_LOG_ERROR || level > log_level)
		return;
	/* Callers often log and then return -errno. */
	saved_errno = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03ldZ %s %s%s", ts.tv_nsec / 1000000L,
		     level_labels[level], log_tag && *log_tag ? log_tag : "",
		     log_tag && *log_tag ? ": " : "");
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	msg_start = len;

	/* Keep one byte for the newline. */
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n > 0) {
		if ((size_t)n < sizeof(line) - len - 1) {
			len += (size_t)n;
		} else {
			len = sizeof(line) - 2;
			memcpy(line + len - 3, "...", 3);
		}
	}
	while (len > msg_start && line[len - 1] == '\n')
		len--;
	/* One event, one line: a control character in the message (which may quote a peer's
	 * bytes) must not be able to start a forged line. */
	for (size_t i = msg_start; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';

	write_all(STDERR_FILENO, line, len);
	errno = saved_errno;
}
