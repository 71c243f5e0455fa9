/* A log-linear histogram of nanoseconds: 2^HIST_SUB buckets per power of two (bucket width
 * <= 1.6 %), 64 octaves: any u64. Used for one-way latency (sink) and for the generator's own
 * inter-departure times. stats.hist_lower_bounds() in Python is the same layout. */
#ifndef WS_HIST_H
#define WS_HIST_H

#include <stdint.h>

#define HIST_SUB 6
#define HIST_BUCKETS (64 << HIST_SUB)

static inline uint32_t hist_bucket(uint64_t ns)
{
	int msb;

	if (ns < (1u << HIST_SUB))
		return (uint32_t)ns;
	msb = 63 - __builtin_clzll(ns);
	return (uint32_t)((msb - HIST_SUB + 1) << HIST_SUB) + (uint32_t)((ns >> (msb - HIST_SUB)) & ((1u << HIST_SUB) - 1));
}

#endif
