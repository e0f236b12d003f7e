/* Logging to stderr: one line per event, "2026-01-02T03:04:05.678Z LEVEL tag: message".
 *
 * The level is a start-up-once setting (srdma_log_set_level before any thread starts); logging
 * itself is thread-safe (one write(2) per line). Secrets (PSNs, rkeys, addresses, keys) may only
 * be logged at SRDMA_LOG_DEBUG, which is never the default. */
#ifndef SRDMA_LOG_H
#define SRDMA_LOG_H

enum srdma_log_level {
	SRDMA_LOG_ERROR = 0,
	SRDMA_LOG_WARN = 1,
	SRDMA_LOG_INFO = 2,
	SRDMA_LOG_DEBUG = 3,
};

void srdma_log_set_level(enum srdma_log_level level);
enum srdma_log_level srdma_log_get_level(void);
/* "error", "warn", "info", "debug" (any case) -> level; -EINVAL for anything else. */
int srdma_log_parse_level(const char *s, enum srdma_log_level *out);
/* Set a short program tag printed on every line (e.g. "server"); the string must outlive logging.
 */
void srdma_log_set_tag(const char *tag);

void srdma_log(enum srdma_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define srdma_err(...)	 srdma_log(SRDMA_LOG_ERROR, __VA_ARGS__)
#define srdma_warn(...)	 srdma_log(SRDMA_LOG_WARN, __VA_ARGS__)
#define srdma_info(...)	 srdma_log(SRDMA_LOG_INFO, __VA_ARGS__)
#define srdma_debug(...) srdma_log(SRDMA_LOG_DEBUG, __VA_ARGS__)

#endif
