/* srdma-server under systemd (dist/srdma-server.service, Type=notify): readiness, reloads,
 * shutdown and watchdog pings through sd_notify(3). Outside a unit ($NOTIFY_SOCKET unset) every
 * call here does nothing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

#include "server.h"

/* Main thread only (server.h). */
static int notify_failed;

static void notify(const char *state)
{
	int ret = sd_notify(0, state);

	/* Said once: the watchdog would repeat it twice per period. */
	if (ret < 0 && !notify_failed) {
		notify_failed = 1;
		srdma_warn("sd_notify: cannot tell the service manager \"%.*s\": %s (further "
			   "failures are not logged)",
			   (int)strcspn(state, "\n"), state, strerror(-ret));
	}
}

void server_notify_ready(struct server *srv)
{
	char state[160];

	snprintf(state, sizeof(state), "READY=1\nSTATUS=listening on port %u, up to %u clients",
		 srdma_listener_port(srv->listener), srv->cfg.max_clients);
	notify(state);
}

void server_notify_reloading(void)
{
	char state[96];
	struct timespec ts;

	/* MONOTONIC_USEC lets a service manager that knows Type=notify-reload tell this reload
	 * from an earlier one; older ones ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull +
		     (unsigned long long)ts.tv_nsec / 1000);
	notify(state);
}

void server_notify_stopping(void)
{
	notify("STOPPING=1");
}

void server_watchdog_init(struct server *srv)
{
	uint64_t usec = 0;

	srv->watchdog_ns = srv->watchdog_next_ns = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	/* Twice per period, as sd_watchdog_enabled(3) advises, so that one late loop turn is not
	 * a missed ping. */
	srv->watchdog_ns = usec * 1000 / 2;
	srv->watchdog_next_ns = server_now_ns();
	srdma_info("systemd watchdog: ping every %llu ms",
		   (unsigned long long)(srv->watchdog_ns / 1000000));
}

int server_watchdog_timeout_ms(const struct server *srv)
{
	uint64_t now;

	if (!srv->watchdog_ns)
		return -1;
	now = server_now_ns();
	if (now >= srv->watchdog_next_ns)
		return 0;
	return (int)((srv->watchdog_next_ns - now + 999999) / 1000000);
}

void server_watchdog_tick(struct server *srv)
{
	uint64_t now;

	if (!srv->watchdog_ns)
		return;
	now = server_now_ns();
	if (now < srv->watchdog_next_ns)
		return;
	notify("WATCHDOG=1");
	srv->watchdog_next_ns = now + srv->watchdog_ns;
}
