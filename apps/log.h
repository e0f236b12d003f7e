/* Logging to stderr, one line per event, in one of three shapes:
 *
 *   text      "2026-01-02T03:04:05.678Z LEVEL tag: message" (the default);
 *   journal   "<6>message" when stderr is the systemd journal (srdma_log_detect_journal):
 *             the syslog priority prefix, which journald turns into the entry's priority; the
 *             journal adds the time and the program itself;
 *   json      {"time":"2026-01-02T03:04:05.678Z","level":"info","program":"tag",
 *             "message":"...", FIELDS...} (srdma_log_set_format), behind the priority prefix
 *             as well when stderr is the journal.
 *
 * FIELDS are the structured details an event has (srdma_log_fields): in json they are members
 * of the object (strings, or numbers when given as such); in the other shapes the message
 * already says them and they are not repeated.
 *
 * The format and tag are start-up-once settings (before any thread starts); the level may be
 * changed at any time (a reload does), and logging itself is thread-safe (one write(2) per
 * line). Secrets (PSNs, rkeys, addresses, keys) may only be logged at SRDMA_LOG_DEBUG, which
 * is never the default. */
#ifndef SRDMA_LOG_H
#define SRDMA_LOG_H

#include <stddef.h>

enum srdma_log_level {
	SRDMA_LOG_ERROR = 0,
	SRDMA_LOG_WARN = 1,
	SRDMA_LOG_INFO = 2,
	SRDMA_LOG_DEBUG = 3,
};

enum srdma_log_format {
	SRDMA_LOG_TEXT = 0,
	SRDMA_LOG_JSON = 1,
};

void srdma_log_set_level(enum srdma_log_level level);
enum srdma_log_level srdma_log_get_level(void);
/* "error", "warn", "info", "debug" (any case) -> level; -EINVAL for anything else. */
int srdma_log_parse_level(const char *s, enum srdma_log_level *out);
/* "text" or "json" (any case) -> format; -EINVAL for anything else. */
int srdma_log_parse_format(const char *s, enum srdma_log_format *out);
/* The level's name as srdma_log_parse_level takes it ("info"). */
const char *srdma_log_level_name(enum srdma_log_level level);
void srdma_log_set_format(enum srdma_log_format format);
/* Set a short program tag printed on every line (e.g. "server"); the string must outlive logging.
 */
void srdma_log_set_tag(const char *tag);
/* Use the journal's shape if stderr is the systemd journal: $JOURNAL_STREAM ("DEV:INODE", set by
 * systemd for a unit whose stderr is the journal) names the file stderr is open on. A stderr
 * redirected elsewhere by the program's caller keeps the text shape. Returns 1 if it is. */
int srdma_log_detect_journal(void);

/* One structured detail of an event: a string (str != NULL) or an integer. */
struct srdma_log_field {
	const char *key;
	const char *str;
	long long num;
};

#define SRDMA_LOG_STR(k, v) ((struct srdma_log_field){.key = (k), .str = (v)})
#define SRDMA_LOG_NUM(k, v) ((struct srdma_log_field){.key = (k), .num = (long long)(v)})

void srdma_log(enum srdma_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same with nfields structured details (see above). */
void srdma_log_fields(enum srdma_log_level level, const struct srdma_log_field *fields,
		      size_t nfields, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* TCP segments the socket fd has retransmitted since it was opened (TCP_INFO's
 * tcpi_total_retrans), 0 if it cannot tell: read at the end of a connection's set-up, it says
 * whether a slow set-up waited for the network (a lost segment costs a retransmission
 * timeout, 200 ms or more) rather than for either side's work. */
unsigned srdma_log_tcp_retrans(int fd);

#define srdma_err(...)	 srdma_log(SRDMA_LOG_ERROR, __VA_ARGS__)
#define srdma_warn(...)	 srdma_log(SRDMA_LOG_WARN, __VA_ARGS__)
#define srdma_info(...)	 srdma_log(SRDMA_LOG_INFO, __VA_ARGS__)
#define srdma_debug(...) srdma_log(SRDMA_LOG_DEBUG, __VA_ARGS__)

#endif
