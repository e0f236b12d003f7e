/* The adaptive busy-poll budget shared by the client's wait and the server's workers. */
#ifndef SRDMA_SPIN_H
#define SRDMA_SPIN_H

#include <stdint.h>

/* The next budget after a wait that the current one (spin_ns) did not cover: the completion
 * came gap_ns after polling began, once the thread had gone to sleep. If spinning a little
 * longer than gap_ns would have caught it and that stays within max_ns, spin that long next
 * time; otherwise waits are longer than spinning is worth (or the CPU is shared with busier
 * threads): halve, down to max_ns / 32. A wait the budget covered leaves it as it is. */
static inline uint64_t srdma__spin_after_sleep(uint64_t spin_ns, uint64_t max_ns, uint64_t gap_ns)
{
	uint64_t want = gap_ns + gap_ns / 4, floor = max_ns / 32;

	if (want <= max_ns)
		return want > floor ? want : floor;
	return spin_ns / 2 > floor ? spin_ns / 2 : floor;
}

#endif
