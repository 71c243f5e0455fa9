/* The sink's accounting: counts, and from the pktgen header loss, reordering, duplicates and
 * one-way latency. Streams are told apart by the top 4 bits of the sequence number (the
 * sending worker); within a stream, a window of the last SINK_WIN sequence numbers tells a
 * late arrival (reordered) from a repeat (duplicate).
 *
 * Frames come from networks, so nothing one frame carries can make a figure absurd: a header
 * whose timestamp is not a time (tv_usec >= 10^6, a tv_sec more than a day from ours) is
 * counted as malformed and touches no stream; a sequence number more than SINK_WIN away from
 * the stream's, either way, is a jump (a restarted sender or a foreign frame): counted, the
 * stream resynchronised, never counted as loss. So one frame adds at most SINK_WIN - 1 to the
 * loss count. A latency outside 0 .. SINK_LAT_MAX_NS is counted, not put in the histogram.
 */
#ifndef WS_SINK_H
#define WS_SINK_H

#include <stdint.h>
#include <string.h>

#include "csum.h"
#include "gen.h"
#include "hist.h"
#include "xmacro.h"
#include "pcap.h"

#define SINK_STREAMS 16
#define SINK_WIN_BITS 16
#define SINK_WIN (1u << SINK_WIN_BITS)
#define SINK_HIST_SUB HIST_SUB
#define SINK_HIST HIST_BUCKETS
#define SINK_LAT_MAX_NS 10000000000ull /* 10 s: a one-way latency beyond it is not this run's */
#define SINK_CLOCK_SLACK_S 86400u       /* a sender's clock at most a day from ours */

struct sink_stream {
	uint32_t started, first, expected;
	uint64_t seen[SINK_WIN / 64];
};

#define WS_SINK_STATS(X)                                                                            \
	X(S_PKTGEN, "pktgen", "frames carrying the pktgen header")                                  \
	X(S_OTHER, "other", "frames without it")                                                    \
	X(S_LOST, "lost", "sequence numbers skipped and not (yet) seen")                            \
	X(S_REORDERED, "reordered", "arrived after a higher sequence number")                       \
	X(S_DUPLICATE, "duplicated", "seen before")                                                 \
	X(S_LAT_N, "lat_n", "latency samples")                                                      \
	X(S_LAT_SUM, "lat_sum_ns", "their sum, ns")                                                 \
	X(S_LAT_MIN, "lat_min_ns", "the smallest, ns")                                              \
	X(S_LAT_MAX, "lat_max_ns", "the largest, ns")                                               \
	X(S_LAT_NEG, "lat_negative", "samples whose receive time was before the send time")         \
	X(S_FIRST_NS, "first_ns", "CLOCK_REALTIME of the first frame")                              \
	X(S_LAST_NS, "last_ns", "CLOCK_REALTIME of the last frame")                                 \
	X(S_STREAMS, "streams", "streams seen")                                                     \
	X(S_MALFORMED, "malformed", "the pktgen magic with a header that is not one (counted in pktgen too)") \
	X(S_JUMPS, "seq_jumps", "sequence jumps beyond the window: a restarted sender or a foreign frame") \
	X(S_LAT_FAR, "lat_far", "latency samples beyond SINK_LAT_MAX_NS, kept out of the histogram") \
	X(S_STREAM_SET, "stream_set", "bit i: stream i was seen here (several receivers: each stream whole in one?)")

enum { WS_SINK_STATS(WS_ENUM) S_COUNT };

/* The statistics (S_COUNT words, then SINK_HIST latency buckets) live in memory the caller
 * gives: shared memory, so the parent reads them live while the worker runs. */
#define SINK_STATS_WORDS (S_COUNT + SINK_HIST)

struct sink {
	uint64_t *s;       /* S_COUNT counters */
	uint64_t *hist;    /* SINK_HIST latency buckets */
	uint32_t udp_port; /* count only UDP to this destination port (frames mode); 0: any */
	uint8_t count_only; /* frames are counted (packets, bytes) and not looked into: no sequence or latency */
	uint8_t spin;       /* an empty ring is looked at again at once, never slept on (a whole CPU) */
	uint64_t now_rt;    /* CLOCK_REALTIME ns of the batch being received (set by run_sink, once per batch) */
	struct pcap_out *cap; /* every frame is also written here (sink --write), or NULL */
	struct sink_stream st[SINK_STREAMS];
};

static void sink_init(struct sink *k, uint64_t *stats, uint32_t udp_port)
{
	memset(k, 0, sizeof(*k));
	memset(stats, 0, SINK_STATS_WORDS * sizeof(uint64_t));
	k->s = stats;
	k->hist = stats + S_COUNT;
	k->udp_port = udp_port;
}

static inline int bit_test_set(uint64_t *map, uint32_t i)
{
	uint64_t m = 1ull << (i & 63);
	int was = (map[i >> 6] & m) != 0;

	map[i >> 6] |= m;
	return was;
}

static inline void bit_clear(uint64_t *map, uint32_t i)
{
	map[i >> 6] &= ~(1ull << (i & 63));
}

/* Start (or restart) a stream at seq. */
static inline void sink_stream_start(struct sink_stream *st, uint32_t seq)
{
	memset(st->seen, 0, sizeof(st->seen));
	st->first = seq;
	st->expected = (seq + 1) & SEQ_MASK;
	bit_test_set(st->seen, seq & (SINK_WIN - 1));
}

static inline void sink_seq(struct sink *k, uint32_t seq32)
{
	struct sink_stream *st = &k->st[seq32 >> SEQ_BITS];
	uint32_t seq = seq32 & SEQ_MASK, ahead, back;

	if (!st->started) {
		st->started = 1;
		k->s[S_STREAMS]++;
		k->s[S_STREAM_SET] |= 1ull << (seq32 >> SEQ_BITS);
		sink_stream_start(st, seq);
		return;
	}
	ahead = (seq - st->expected) & SEQ_MASK;
	back = (st->expected - seq) & SEQ_MASK;
	if (ahead < SINK_WIN) {
		/* At or past the next expected: everything skipped is lost until it shows up. */
		for (uint32_t i = 0; i < ahead; i++)
			bit_clear(st->seen, (st->expected + i) & (SINK_WIN - 1));
		bit_clear(st->seen, seq & (SINK_WIN - 1));
		bit_test_set(st->seen, seq & (SINK_WIN - 1));
		k->s[S_LOST] += ahead;
		st->expected = (seq + 1) & SEQ_MASK;
		return;
	}
	if (back > SINK_WIN) {
		/* Too far either way to be this stream's loss or lateness: a jump. */
		k->s[S_JUMPS]++;
		sink_stream_start(st, seq);
		return;
	}
	if (bit_test_set(st->seen, seq & (SINK_WIN - 1))) {
		k->s[S_DUPLICATE]++;
		return;
	}
	k->s[S_REORDERED]++;
	/* Late, but was it counted lost? Only if the stream had started before it. */
	if (((seq - st->first) & SEQ_MASK) < ((st->expected - st->first) & SEQ_MASK) && k->s[S_LOST])
		k->s[S_LOST]--;
}

/* A UDP payload; rx_ns is CLOCK_REALTIME at receipt. */
static inline void sink_payload(struct sink *k, const uint8_t *p, uint32_t len, uint64_t rx_ns)
{
	uint64_t tx_ns;
	uint32_t sec, usec, now_s = (uint32_t)(rx_ns / 1000000000ull);

	if (k->count_only)
		return;
	if (!k->s[S_FIRST_NS])
		k->s[S_FIRST_NS] = rx_ns;
	k->s[S_LAST_NS] = rx_ns;
	if (len < PKTGEN_HDR_LEN || get32(p) != PKTGEN_MAGIC) {
		k->s[S_OTHER]++;
		return;
	}
	k->s[S_PKTGEN]++;
	sec = get32(p + 8);
	usec = get32(p + 12);
	if (sec || usec) {
		uint32_t off = sec > now_s ? sec - now_s : now_s - sec;

		if (usec >= 1000000u || off > SINK_CLOCK_SLACK_S) {
			k->s[S_MALFORMED]++;
			return;
		}
	}
	sink_seq(k, get32(p + 4));
	if (!sec && !usec)
		return; /* not stamped (the in-kernel generator's frames): no latency sample */
	tx_ns = (uint64_t)sec * 1000000000ull + (uint64_t)usec * 1000ull;
	if (rx_ns < tx_ns) {
		k->s[S_LAT_NEG]++;
		return;
	}
	tx_ns = rx_ns - tx_ns;
	if (tx_ns > SINK_LAT_MAX_NS) {
		k->s[S_LAT_FAR]++;
		return;
	}
	k->s[S_LAT_N]++;
	k->s[S_LAT_SUM] += tx_ns;
	if (!k->s[S_LAT_MIN] || tx_ns < k->s[S_LAT_MIN])
		k->s[S_LAT_MIN] = tx_ns;
	if (tx_ns > k->s[S_LAT_MAX])
		k->s[S_LAT_MAX] = tx_ns;
	k->hist[hist_bucket(tx_ns)]++;
}

/* An Ethernet frame: find the UDP payload (IPv4 without options or fragments, or IPv6 with
 * UDP as next header), else count it as other. Measured: 12.5 ns/frame for 64-byte pktgen
 * frames in batches of 256 (Sink.frames over a numpy batch, the call included; the same
 * batch again and again, so every frame after the first pass takes the duplicate path). */
static inline void sink_frame(struct sink *k, const uint8_t *f, uint32_t len, uint64_t rx_ns)
{
	uint32_t l4;
	uint16_t type;

	if (k->cap)
		pcap_put(k->cap, f, len, rx_ns);
	if (k->count_only)
		return;
	if (len < ETH_HLEN_ + 20)
		goto other;
	type = get16(f + 12);
	if (type == 0x0800) {
		const uint8_t *ip = f + ETH_HLEN_;
		uint32_t ihl = (ip[0] & 0x0f) * 4u;

		if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 17 || (get16(ip + 6) & 0x3fff))
			goto other;
		l4 = ETH_HLEN_ + ihl;
	} else if (type == 0x86dd) {
		if (len < ETH_HLEN_ + 40 || f[ETH_HLEN_ + 6] != 17)
			goto other;
		l4 = ETH_HLEN_ + 40;
	} else {
		goto other;
	}
	if (l4 + 8 > len || (k->udp_port && get16(f + l4 + 2) != k->udp_port))
		goto other;
	sink_payload(k, f + l4 + 8, len - l4 - 8, rx_ns);
	return;
other:
	k->s[S_OTHER]++;
}

#endif
