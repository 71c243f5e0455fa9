/* Per-port counters: a uint64 array owned by Python (shared memory when several workers run,
 * or a BPF map's memory for the in-kernel ports), bumped by the core once per batch. Python
 * reads it by the names in COUNTER_NAMES and never writes it. */
#ifndef WS_COUNTERS_H
#define WS_COUNTERS_H

#include <stdint.h>

#include "tsc.h"
#include "xmacro.h"


#define WS_COUNTERS(X)                                                                            \
	X(C_PACKETS, "packets", "frames moved")                                                   \
	X(C_BYTES, "bytes", "frame bytes moved, FCS not included (what the kernel counts)")       \
	X(C_SYSCALLS, "syscalls", "system calls made by the data path")                           \
	X(C_ERRORS, "errors", "frames the kernel refused or a call failed for")                   \
	X(C_RING_FULL, "ring_full", "times a batch stopped early because the ring had no room")   \
	X(C_BATCHES, "batches", "calls that moved at least one frame")                            \
	X(C_KDROPS, "kernel_drops", "frames the kernel dropped before our ring (PACKET_STATISTICS, XDP_STATISTICS)") \
	X(C_CYCLES, "cycles", "TSC cycles spent inside the data path")                            \
	X(C_NS, "ns", "CLOCK_MONOTONIC ns spent inside the data path")                           \
	X(C_RX_USER_TS, "rx_user_stamps", "frames received without the kernel's stamp of them: timed by the batch's clock")

enum { WS_COUNTERS(WS_ENUM) C_COUNT };

/* The tail of every batch: n frames of `bytes` moved by one call. */
static inline void counters_batch(uint64_t *c, uint32_t n, uint64_t bytes)
{
	if (n) {
		c[C_PACKETS] += n;
		c[C_BYTES] += bytes;
		c[C_BATCHES]++;
	}
}

/* Time spent in the data path since (tsc0, ns0), read with tsc_begin() and mono_ns(). */
/* The batch's time since tsc0 / ns0 into the counters; returns CLOCK_MONOTONIC now (a loop
 * takes it as its next batch's start: one clock read per batch). */
static inline uint64_t counters_time(uint64_t *c, uint64_t tsc0, uint64_t ns0)
{
	uint64_t now;

	c[C_CYCLES] += tsc_end() - tsc0;
	now = mono_ns();
	c[C_NS] += now - ns0;
	return now;
}

#endif
