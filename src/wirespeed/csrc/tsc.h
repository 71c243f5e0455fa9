/* Time-stamp counter and CLOCK_MONOTONIC, read the way time_bench reads them. */
#ifndef WS_TSC_H
#define WS_TSC_H

#include <stdint.h>
#include <time.h>

#if !defined(__x86_64__)
#error "wirespeed's cost profile reads the x86-64 TSC; other architectures are not supported yet"
#endif

/* LFENCE before RDTSC keeps earlier instructions from drifting past the first read. */
static inline uint64_t tsc_begin(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* RDTSCP waits for the measured code to finish; LFENCE keeps later code from starting early. */
static inline uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;
	__asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spin for window_ns of CLOCK_MONOTONIC and report how many TSC cycles passed meanwhile.
 * Spinning (not sleeping) keeps the CPU out of idle states during the window. */
static inline void tsc_calibrate(uint64_t window_ns, uint64_t *cycles, uint64_t *ns)
{
	uint64_t m0 = mono_ns(), t0 = tsc_begin(), m1, t1;

	do {
		m1 = mono_ns();
	} while (m1 - m0 < window_ns);
	t1 = tsc_end();
	m1 = mono_ns();
	*cycles = t1 - t0;
	*ns = m1 - m0;
}

#endif
