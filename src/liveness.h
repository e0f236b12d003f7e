/* The liveness arithmetic of an established connection (cm_conn.c), pure so that
 * tests/unit/test_liveness.c can check it against a model of the clock.
 *
 * The heartbeat's times are CLOCK_MONOTONIC_COARSE nanoseconds. That clock lags the precise one
 * by less than its tick (a few milliseconds), so a time within a tick of "now" counts as come
 * (srdma__live_due). A wait is counted from the plain coarse "now" (srdma__live_wait_ms): a
 * caller that sleeps that long on the precise clock wakes when the coarse clock is at most a
 * tick short of the time, which then counts as come, so one wake-up serves it; it is late by a
 * tick at most. (Counting the wait from "now + tick" would wake up to a tick early, to find
 * nothing due and sleep again.) */
#ifndef SRDMA_LIVENESS_H
#define SRDMA_LIVENESS_H

#include <limits.h>
#include <stdint.h>

#include "srdma.h"

/* <srdma.h>'s bounds on the options: SRDMA_HEARTBEAT_MIN_MS is several ticks of the coarse clock
 * (4 ms at HZ 250, 10 ms at HZ 100), so that a PING is never due again the moment it was sent;
 * with SRDMA_HEARTBEAT_MAX_MISSES no product of heartbeat_ms, misses and 10^6 (the silence
 * bound in ns) overflows 64 bits. */

static inline int srdma__live_due(uint64_t now, uint64_t tick, uint64_t at)
{
	return now + tick >= at;
}

/* Milliseconds to wait for at: 0 if it counts as come, at most INT_MAX. */
static inline int srdma__live_wait_ms(uint64_t now, uint64_t tick, uint64_t at)
{
	uint64_t ms;

	if (srdma__live_due(now, tick, at))
		return 0;
	ms = (at - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The silence bound in ns (heartbeat_ms and misses as srdma_ctx_create checked them). */
static inline uint64_t srdma__live_bound_ns(unsigned heartbeat_ms, unsigned misses)
{
	return (uint64_t)heartbeat_ms * misses * 1000000ull;
}

/* TCP's own liveness under the heartbeat: keepalive probes every heartbeat_ms (whole seconds,
 * 1 to 32767, the kernel's range) on an idle socket, misses of them (at most 127, the kernel's
 * limit), and TCP_USER_TIMEOUT at the silence bound (at most INT_MAX ms) for data that stays
 * unacknowledged. */
struct srdma_live_tcp {
	int idle_s, intvl_s, cnt;
	unsigned user_timeout_ms;
};

static inline struct srdma_live_tcp srdma__live_tcp(unsigned heartbeat_ms, unsigned misses)
{
	uint64_t bound = (uint64_t)heartbeat_ms * misses;
	unsigned s = heartbeat_ms / 1000;
	struct srdma_live_tcp t;

	s = s < 1 ? 1 : s > 32767 ? 32767 : s;
	t.idle_s = t.intvl_s = (int)s;
	t.cnt = (int)(misses > 127 ? 127 : misses < 1 ? 1 : misses);
	t.user_timeout_ms = (unsigned)(bound > INT_MAX ? INT_MAX : bound);
	return t;
}

#endif
