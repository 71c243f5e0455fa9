/* Per-port counters: a uint64 array owned by Python (shared memory when several workers run),
 * bumped by the core once per batch. Python reads it by the names in COUNTER_NAMES. */
#ifndef WS_COUNTERS_H
#define WS_COUNTERS_H

#include <stdint.h>

enum {
	C_PACKETS,   /* frames moved */
	C_BYTES,     /* frame bytes moved, FCS not included (what the kernel counts) */
	C_SYSCALLS,  /* system calls made by the data path */
	C_ERRORS,    /* frames the kernel refused or a call failed for */
	C_RING_FULL, /* times a batch stopped early because the ring had no room */
	C_BATCHES,   /* calls that moved at least one frame */
	C_KDROPS,    /* frames the kernel dropped before our ring (PACKET_STATISTICS) */
	C_CYCLES,    /* TSC cycles spent inside the data path */
	C_NS,        /* CLOCK_MONOTONIC ns spent inside the data path */
	C_COUNT
};

#define COUNTER_NAMES "packets", "bytes", "syscalls", "errors", "ring_full", "batches", \
	"kernel_drops", "cycles", "ns"

#endif
