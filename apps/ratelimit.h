/* Per-client message rate limit: the generic cell rate algorithm (a token bucket kept as one
 * timestamp). Pure; srdma-server's sessions use it (apps/server_session.c). */
#ifndef SRDMA_RATELIMIT_H
#define SRDMA_RATELIMIT_H

#include <stdint.h>

/* *tat is the theoretical arrival time of the next message (start it at 0). A message may be
 * taken at now if it is no earlier than interval_ns after the last one, with up to burst
 * messages early: then it is taken (*tat advances) and 0 is returned. Otherwise nothing
 * changes and the return value is how many nanoseconds to wait. burst >= 1. */
static inline uint64_t srdma__rate_take(uint64_t *tat, uint64_t now, uint64_t interval_ns,
					uint64_t burst)
{
	uint64_t t = *tat > now ? *tat : now, tolerance = (burst - 1) * interval_ns;

	if (t - now > tolerance)
		return t - now - tolerance;
	*tat = t + interval_ns;
	return 0;
}

#endif
