/* The generator's schedule: frame slot k is due at t0 + k * interval. Each loop sends the frames
 * whose time has come (at least one, at most the batch): a batch is what is due now, never a
 * quantity to wait for. After a stall at most max_burst frames go ahead of the smooth schedule;
 * slots missed beyond that are skipped (never sent later) and counted: offered vs intended.
 *
 * The loop measures its own departures, one clock read per batch: the inter-departure times
 * (frames of one batch leave back to back: gap 0), the largest burst (frames closer together
 * than a quarter of the interval), the time spent behind schedule. They live in memory the
 * caller gives (shared: the parent reads them live).
 */
#ifndef WS_PACE_H
#define WS_PACE_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "xmacro.h"

#define WS_DEPARTURES(X)                                                                        \
	X(D_SLOTS, "slots", "slots the schedule has passed: frames intended so far (sent + skipped)") \
	X(D_SKIPPED, "skipped", "slots skipped after a stall (the shortfall)")                  \
	X(D_BEHIND_NS, "behind_ns", "time spent with more than one frame due (behind schedule)") \
	X(D_MAX_BURST, "max_burst", "the largest run of frames sent closer together than interval / 4") \
	X(D_GAP_MAX, "gap_max_ns", "the largest inter-departure time, ns")                      \
	X(D_FIRST_NS, "first_ns", "CLOCK_MONOTONIC of the first departure")                     \
	X(D_LAST_NS, "last_ns", "CLOCK_MONOTONIC of the last departure")                        \
	X(D_BURST, "burst_now", "the run going on now")                                         \
	X(D_INTERVAL, "interval_ns", "the intended interval, ns (0: as fast as possible)")

enum { WS_DEPARTURES(WS_ENUM) D_COUNT };
#define PACE_STATS_WORDS (D_COUNT + HIST_BUCKETS) /* then the inter-departure histogram */
#define PACE_MAX_BURST 32 /* the default catch-up bound after a stall, frames (gen --max-burst) */
#define PACE_AHEAD_MAX_NS 32000 /* a frame leaves at most this much before its time (one send call's time) */
#define PACE_SPIN_NS 100000                         /* sleep most of a longer wait, spin the rest */

struct pace {
	double interval;    /* ns between frames; 0: as fast as possible */
	uint64_t t0;        /* when slot slot0 is due (CLOCK_MONOTONIC ns) */
	uint64_t slot0;     /* the slot t0 is for: 0, or where the interval last changed (pace_rebase) */
	int started, departed;
	uint64_t prev_ns;   /* the previous loop's clock, for the time behind */
	uint32_t max_burst; /* catch-up bound, frames */
	uint64_t lead_ns;   /* kernel-timed (SO_TXTIME): frames are handed over this far ahead of their time */
	uint64_t call_ns;   /* user-timed: what one send call takes (a moving mean); the frames due before
			     * it would return go in it, so a batch grows with the rate instead of the
			     * loop making one system call per frame at rates near its ceiling */
	uint64_t *d;        /* D_COUNT words, then the histogram */
};

static inline void pace_init(struct pace *p, uint64_t *stats, double interval, uint32_t max_burst)
{
	memset(stats, 0, PACE_STATS_WORDS * sizeof(uint64_t));
	p->d = stats;
	p->interval = interval;
	p->max_burst = max_burst ? max_burst : 1;
	p->t0 = p->prev_ns = p->slot0 = 0;
	p->lead_ns = p->call_ns = 0;
	p->started = p->departed = 0;
	stats[D_INTERVAL] = (uint64_t)interval;
}

static inline uint64_t pace_due_at(const struct pace *p, uint64_t slot)
{
	return p->t0 + (uint64_t)((double)(slot - p->slot0) * p->interval);
}

/* Slots whose time is at or before t, counted from the schedule's start. */
static inline uint64_t pace_slots_by(const struct pace *p, uint64_t t)
{
	return t < p->t0 ? p->slot0 : p->slot0 + (uint64_t)((double)(t - p->t0) / p->interval) + 1;
}

/* From the next slot on, frames are interval ns apart (the slots already due keep their times):
 * several streams in one worker, one of which has finished. */
static inline void pace_rebase(struct pace *p, double interval)
{
	if (p->started && p->interval > 0)
		p->t0 = pace_due_at(p, p->d[D_SLOTS]);
	p->slot0 = p->d[D_SLOTS];
	p->interval = interval;
	p->d[D_INTERVAL] = (uint64_t)interval;
}

/* How many frames may go at `now` (at most want); 0: the next one is not due yet. Kernel-timed
 * (lead_ns > 0), frames due up to lead_ns from now go now, each with its own departure time for
 * the kernel (pace_due_at). User-timed, frames due before this send call would return (call_ns,
 * at most PACE_AHEAD_MAX_NS) go with it: no frame leaves earlier than that. The catch-up bound
 * still counts only frames already late. */
static inline uint32_t pace_due(struct pace *p, uint32_t want, uint64_t now)
{
	uint64_t *d = p->d, by, late, due, ahead = p->lead_ns ? p->lead_ns : p->call_ns;

	if (p->interval <= 0)
		return want;
	if (!p->started) {
		p->t0 = p->prev_ns = now;
		p->started = 1;
	}
	if (now + ahead < pace_due_at(p, d[D_SLOTS])) {
		p->prev_ns = now;
		return 0;
	}
	by = pace_slots_by(p, now);
	late = by > d[D_SLOTS] ? by - d[D_SLOTS] : 0; /* slots whose time has come */
	/* also those due within the lead or this call's time (one more division, only then) */
	due = ahead ? pace_slots_by(p, now + ahead) - d[D_SLOTS] : late;
	if (late > 1)
		d[D_BEHIND_NS] += now - p->prev_ns;
	p->prev_ns = now;
	if (late > p->max_burst) { /* a stall: catch up by max_burst at most, skip the rest */
		d[D_SKIPPED] += late - p->max_burst;
		d[D_SLOTS] += late - p->max_burst;
		due -= late - p->max_burst;
		late = p->max_burst;
	}
	if (!p->lead_ns && due > late) {
		/* user-timed look-ahead: never so many that frames closer together than interval / 4
		 * (a burst: the one going on, if this call continues it) pass max_burst */
		uint64_t run = p->departed && (double)(now - d[D_LAST_NS]) * 4 < p->interval ? d[D_BURST] : 0;
		uint64_t room = run + late < p->max_burst ? p->max_burst - run - late : 0;

		if (due - late > room)
			due = late + room;
	}
	return due < want ? (uint32_t)due : want;
}

/* Nothing is due at `now`: sleep most of a long wait (timer slack is ~50 us), spin the rest. */
static inline void pace_wait(const struct pace *p, uint64_t now)
{
	uint64_t next = pace_due_at(p, p->d[D_SLOTS]) - p->lead_ns;

	if (next > now + PACE_SPIN_NS + 50000) {
		struct timespec ts = { 0, (long)(next - now - PACE_SPIN_NS) };
		nanosleep(&ts, NULL);
	}
}

/* A send call that began at `now` returned at `after`: the moving mean of its time (1/8 new). */
static inline void pace_took(struct pace *p, uint64_t now, uint64_t after)
{
	uint64_t took = after > now ? after - now : 0;

	if (p->interval <= 0 || p->lead_ns)
		return;
	p->call_ns = p->call_ns ? (7 * p->call_ns + took) / 8 : took;
	if (p->call_ns > PACE_AHEAD_MAX_NS)
		p->call_ns = PACE_AHEAD_MAX_NS;
}

/* n frames left at `now` (one clock read per batch). */
static inline void pace_sent(struct pace *p, uint32_t n, uint64_t now)
{
	uint64_t *d = p->d, *hist = d + D_COUNT;

	if (!n)
		return;
	d[D_SLOTS] += n;
	if (p->departed) {
		uint64_t gap = now - d[D_LAST_NS];
		int close = p->interval > 0 && (double)gap * 4 < p->interval;

		hist[hist_bucket(gap)]++;
		if (gap > d[D_GAP_MAX])
			d[D_GAP_MAX] = gap;
		d[D_BURST] = close ? d[D_BURST] + n : n;
	} else {
		d[D_FIRST_NS] = now;
		d[D_BURST] = n;
		p->departed = 1;
	}
	hist[0] += n - 1; /* the rest of the batch left right behind the first */
	if (d[D_BURST] > d[D_MAX_BURST])
		d[D_MAX_BURST] = d[D_BURST];
	d[D_LAST_NS] = now;
}

#endif
