/* The two loops every port runs in C: the generator's (build and send batches, paced) and the
 * receiver's (take batches and account them), each for one run slice, so Python runs once per
 * slice. A port supplies its batch function and its wait. */
#ifndef WS_RUNLOOP_H
#define WS_RUNLOOP_H

#include <stdint.h>

#include "counters.h"
#include "gen.h"
#include "pace.h"
#include "sink.h"
#include "tsc.h"

typedef uint32_t (*tx_gen_fn)(void *port, struct gen *g, uint32_t n, uint64_t *c);
typedef void (*tx_wait_fn)(void *port, uint64_t *c);
typedef uint32_t (*rx_sink_fn)(void *port, struct sink *k, uint32_t max, uint64_t *c);
typedef int (*rx_wait_fn)(void *port, int ms, uint64_t *c);

/* Send what is due until `max` slots have passed (sent or skipped) or CLOCK_MONOTONIC reaches
 * until_ns; returns the slots passed. Unpaced, every loop sends a full batch. */
static uint64_t run_gen(void *port, tx_gen_fn tx, tx_wait_fn wait, struct gen *g, uint32_t batch, uint64_t max,
			uint64_t until_ns, uint64_t *c)
{
	struct pace *p = &g->pace;
	uint64_t start = p->d[D_SLOTS];

	while (p->d[D_SLOTS] - start < max) {
		uint64_t now = mono_ns(), left = max - (p->d[D_SLOTS] - start), t0;
		uint32_t want = left < batch ? (uint32_t)left : batch, r;

		if (now >= until_ns)
			break;
		if (g->mux) { /* slots skipped after a stall go to the streams they fell to */
			uint64_t skipped = p->d[D_SKIPPED];

			want = pace_due(p, want, now);
			gen_mux_skip(g, p->d[D_SKIPPED] - skipped);
		} else {
			want = pace_due(p, want, now);
		}
		if (!want) {
			pace_wait(p, now);
			continue;
		}
		t0 = tsc_begin();
		r = tx(port, g, want, c);
		pace_took(p, now, counters_time(c, t0, now));
		pace_sent(p, r, now);
		if (r < want)
			wait(port, c);
	}
	return p->d[D_SLOTS] - start;
}

/* Receive until max packets came or until_ns. An empty ring is looked at again at once for
 * RX_SPIN_NS (frames come in bursts: sleeping at the first empty look costs a poll() and a
 * wake-up per burst, measured 0.73 x a spinning loop's rate at 10 Mpps offered); past that it
 * waits in poll() at most 10 ms at a time, or with k->spin never sleeps. */
#define RX_SPIN_NS 100000

static uint64_t run_sink(void *port, rx_sink_fn rx, rx_wait_fn wait, struct sink *k, uint32_t batch, uint64_t max,
			 uint64_t until_ns, uint64_t *c)
{
	uint64_t got = 0, idle = 0, now = mono_ns();

	while (got < max) {
		uint64_t t0;
		uint32_t want = max - got < batch ? (uint32_t)(max - got) : batch, r;

		if (now >= until_ns)
			break;
		t0 = tsc_begin();
		r = rx(port, k, want, c);
		if (r) {
			now = counters_time(c, t0, now);
			got += r;
			idle = 0;
			continue;
		}
		if (!idle) {
			idle = now;
		} else if (!k->spin && now - idle >= RX_SPIN_NS) {
			uint64_t left_ms = (until_ns - now) / 1000000;

			wait(port, left_ms > 10 ? 10 : (int)left_ms + 1, c);
			idle = 0;
		}
		now = mono_ns();
	}
	return got;
}

#endif
