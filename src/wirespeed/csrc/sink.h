/* The sink's accounting: counts, and from the pktgen header loss, reordering, duplicates and
 * one-way latency. Streams are told apart by the top 4 bits of the sequence number (the
 * sending worker); within a stream, a window of the last SINK_WIN sequence numbers tells a
 * late arrival (reordered) from a repeat (duplicate).
 *
 * Frames come from networks, and a faulty device in the path may change any byte, so no
 * single frame can move a figure far. First the frame's integrity: the IPv4 header checksum
 * and the UDP checksum (a non-zero one over IPv4, always over IPv6) are verified; a frame that
 * fails is counted (ip_csum_errors, udp_csum_errors) and used for nothing else, so its sequence
 * number counts as lost: it never arrived intact. A header whose timestamp is not a time
 * (microseconds >= 10^6, nanoseconds >= 1000 or bit 30 set in tv_usec, see gen.h; a tv_sec
 * more than a day from ours) is malformed and touches no stream.
 *
 * Then the sequence number, against the stream's next expected number E:
 *  - E itself is in order; up to SINK_REACH behind E is late (reordered, RFC 4737: it arrived
 *    after a higher number; it was counted lost and is taken back) or a repeat (duplicated).
 *  - Ahead of E by 1..SINK_REACH is held as a suspect P, not yet believed: the numbers it
 *    skips are counted lost only when the stream confirms it. A frame after it (P < t <=
 *    P + SINK_REACH) confirms it; frames between E and P go on as usual (each one that comes
 *    while P is held arrived after a higher number: reordered once P is confirmed); if P comes
 *    again after the stream moved up towards it, the held P was a corrupted number
 *    (seq_too_high) and not a loss; if the stream reaches P and goes on, P was early (the
 *    frames before it are the reordered ones), unless P's number comes once more within
 *    SINK_REACH: then P was a wrong number, and its own frame came late. A P not settled after SINK_HOLD frames is a corrupted number.
 *  - Farther either way is a far suspect F: only the very next frame can confirm it (F < t <=
 *    F + SINK_REACH): then the stream really moved (frames skipped up to SINK_WIN are lost;
 *    beyond that, or backwards, it is a jump: a restarted sender, seq_jumps, the stream
 *    starts again there). Unconfirmed, F is counted as seq_too_high or seq_too_low.
 * So a corrupted sequence number is one sequence error and never loss or reordering (one limit:
 * a wrong number ahead of the stream while a near suspect is already held moves the stream, as
 * a frame come early does, and the frames it jumped read as late: the sink cannot tell the two
 * apart, and RFC 4737 counts an early frame so); loss is
 * the numbers that confirmed frames skipped and that never came. sink_flush() settles what is
 * held when the run ends (no successor can confirm it then): a P the stream came close to, or
 * that is the stream's last frame after one that fitted, is believed. A latency outside
 * 0 .. SINK_LAT_MAX_NS is counted, not put in the histogram.
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
#define SINK_REACH 1024u                  /* the deepest reordering believed, frames either way */
#define SINK_HOLD (2u * SINK_REACH)       /* frames a near suspect is held before it is called corrupted */
#define SINK_MAX_TAGS 4u     /* VLAN tags looked through to find the IP header */
#define SINK_MAX_LABELS 8u   /* MPLS labels likewise */
#define SINK_END_NEAR 8u                  /* at the end: a stream this close to a held suspect believes it */

struct sink_stream {
	uint32_t started, first, expected;
	uint32_t p, p_held, p_behind; /* the near suspect: its number, frames since, frames below it since */
	uint32_t f;                   /* the far suspect's number */
	uint32_t undo_p, undo_behind; /* a P believed early after the stream came up to it */
	uint8_t has_p, has_f, has_undo;
	uint8_t in_step;   /* the stream's last frame fitted it (not a suspect, not an error) */
	uint8_t p_in_step; /* ... and so did the frame before the held P */
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
	X(S_STREAM_SET, "stream_set", "bit i: stream i was seen here (several receivers: each stream whole in one?)") \
	X(S_SEQ_HIGH, "seq_too_high", "sequence numbers ahead of the stream that the frames after them did not confirm") \
	X(S_LAT_NS, "lat_ns_stamps", "latency samples whose send stamp had nanoseconds (the rest: whole microseconds)") \
	X(S_SEQ_LOW, "seq_too_low", "sequence numbers behind the stream, beyond SINK_REACH, not confirmed as a restart") \
	X(S_IP_CSUM, "ip_csum_errors", "IPv4 headers whose checksum is wrong (the frame is used for nothing else)") \
	X(S_UDP_CSUM, "udp_csum_errors", "UDP checksums that are wrong, or missing over IPv6, or a length past the frame")

enum { WS_SINK_STATS(WS_ENUM) S_COUNT };

/* Per stream (the top 4 bits of the sequence: the sending worker, or gen's --streams stream),
 * after the histogram: SINK_STREAMS blocks of P_COUNT words. */
#define WS_SINK_STREAM_STATS(X)                                                                   \
	X(P_PACKETS, "packets", "pktgen frames of the stream")                                      \
	X(P_LOST, "lost", "its sequence numbers that never came")                                   \
	X(P_REORDERED, "reordered", "its frames that came after a higher number")                 \
	X(P_DUPLICATE, "duplicated", "its frames that came again")                                \
	X(P_LAT_N, "lat_n", "its latency samples")                                                  \
	X(P_LAT_SUM, "lat_sum_ns", "their sum")                                                     \
	X(P_LAT_MIN, "lat_min_ns", "the least")                                                     \
	X(P_LAT_MAX, "lat_max_ns", "the most")

enum { WS_SINK_STREAM_STATS(WS_ENUM) P_COUNT };

/* The statistics (S_COUNT words, then SINK_HIST latency buckets, then the streams' blocks, then
 * each stream's own latency histogram) live in memory the caller gives: shared memory, so the
 * parent reads them live while the worker runs. */
#define SINK_STATS_WORDS (S_COUNT + SINK_HIST + SINK_STREAMS * P_COUNT + SINK_STREAMS * SINK_HIST)

struct sink {
	uint64_t *s;       /* S_COUNT counters */
	uint64_t *hist;    /* SINK_HIST latency buckets */
	uint64_t *ps;      /* SINK_STREAMS blocks of P_COUNT per-stream counters */
	uint64_t *phist;   /* SINK_STREAMS latency histograms of SINK_HIST buckets */
	uint32_t udp_port; /* count only UDP to this destination port (frames mode); 0: any */
	uint8_t count_only; /* frames are counted (packets, bytes) and not looked into: no sequence or latency */
	uint8_t spin;       /* an empty ring is looked at again at once, never slept on (a whole CPU) */
	uint8_t verify;     /* the IPv4 header and UDP checksums are verified (sink_init: on) */
	uint64_t *rec;      /* or NULL: rec[0] counts records, rec[1 + i & rec_mask] = stream|seq << 32 | latency ns:
			     * joined with the sender's kernel transmit stamps of the same frames (txstamp.h) */
	uint64_t rec_mask;
	struct pcap_out *cap; /* every frame is also written here (sink --write), or NULL */
	struct sink_stream st[SINK_STREAMS];
};

static void sink_init(struct sink *k, uint64_t *stats, uint32_t udp_port)
{
	memset(k, 0, sizeof(*k));
	memset(stats, 0, SINK_STATS_WORDS * sizeof(uint64_t));
	k->s = stats;
	k->hist = stats + S_COUNT;
	k->ps = stats + S_COUNT + SINK_HIST;
	k->phist = k->ps + SINK_STREAMS * P_COUNT;
	k->udp_port = udp_port;
	k->verify = 1;
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

#define SEQ_DIFF(a, b) ((int32_t)((((a) - (b)) & SEQ_MASK) << (32 - SEQ_BITS)) >> (32 - SEQ_BITS))

/* A stream's own counter, P_LOST .. P_DUPLICATE. */
static inline uint64_t *sink_ps(struct sink *k, const struct sink_stream *st, int which)
{
	return k->ps + (size_t)(st - k->st) * P_COUNT + which;
}

/* Add n to a counter of the whole sink (S_*) and of the stream (P_*) alike. */
static inline void sink_add(struct sink *k, const struct sink_stream *st, int s_which, int p_which, uint64_t n)
{
	k->s[s_which] += n;
	*sink_ps(k, st, p_which) += n;
}

/* The numbers E .. seq - 1 were skipped: lost until they show up; seq is the stream's latest. */
static inline void sink_advance(struct sink *k, struct sink_stream *st, uint32_t seq)
{
	uint32_t skipped = (seq - st->expected) & SEQ_MASK;

	for (uint32_t i = 0; i < skipped; i++)
		bit_clear(st->seen, (st->expected + i) & (SINK_WIN - 1));
	bit_clear(st->seen, seq & (SINK_WIN - 1));
	bit_test_set(st->seen, seq & (SINK_WIN - 1));
	sink_add(k, st, S_LOST, P_LOST, skipped);
	st->expected = (seq + 1) & SEQ_MASK;
}

/* The held near suspect is believed: it skipped what lies between E and it, and every frame
 * that came while it was held, from below it, arrived after a higher number. */
static inline void sink_confirm_p(struct sink *k, struct sink_stream *st)
{
	st->has_p = 0;
	st->in_step = 1;
	st->has_undo = st->p_behind != 0; /* should P's number come again soon, P was not P */
	st->undo_p = st->p;
	st->undo_behind = st->p_behind;
	sink_add(k, st, S_REORDERED, P_REORDERED, st->p_behind);
	if (SEQ_DIFF(st->p, st->expected) >= 0)
		sink_advance(k, st, st->p);
	else if (bit_test_set(st->seen, st->p & (SINK_WIN - 1))) /* the stream went past it meanwhile */
		sink_add(k, st, S_DUPLICATE, P_DUPLICATE, 1);
}

/* A frame at or behind E (within SINK_REACH), or between E and a held P. */
static inline void sink_in_stream(struct sink *k, struct sink_stream *st, uint32_t seq, int32_t d)
{
	if (d >= 0) {
		if (st->has_p)
			st->p_behind++;
		sink_advance(k, st, seq);
		if (st->has_undo && SEQ_DIFF(st->expected, st->undo_p) > (int32_t)SINK_REACH)
			st->has_undo = 0;
		return;
	}
	if (bit_test_set(st->seen, seq & (SINK_WIN - 1))) {
		if (st->has_undo && seq == st->undo_p) { /* the held P was a wrong number after all: its own came late */
			uint64_t *mine = sink_ps(k, st, P_REORDERED);
			uint64_t back = st->undo_behind < *mine ? st->undo_behind : *mine;

			st->has_undo = 0;
			k->s[S_REORDERED] -= back;
			*mine -= back;
			sink_add(k, st, S_REORDERED, P_REORDERED, 1);
			k->s[S_SEQ_HIGH]++;
			return;
		}
		sink_add(k, st, S_DUPLICATE, P_DUPLICATE, 1);
		return;
	}
	sink_add(k, st, S_REORDERED, P_REORDERED, 1);
	/* Late, but was it counted lost? Only if the stream had started before it. */
	if (((seq - st->first) & SEQ_MASK) < ((st->expected - st->first) & SEQ_MASK) && *sink_ps(k, st, P_LOST)) {
		k->s[S_LOST]--;
		(*sink_ps(k, st, P_LOST))--;
	}
}

/* Settle what a stream holds (at the end of a run), where no successor can confirm it: a near
 * suspect is believed if the stream came to within SINK_END_NEAR of it after it arrived (the
 * frames between were lost at the end), or if no frame moved the stream on after it (only late
 * ones came: it was the stream's leading edge) and the frame before it fitted; any other
 * suspect is a sequence error. */
static inline void sink_settle(struct sink *k, struct sink_stream *st)
{
	int32_t short_of = SEQ_DIFF(st->p, st->expected);

	if (st->has_f) {
		k->s[SEQ_DIFF(st->f, st->expected) > 0 ? S_SEQ_HIGH : S_SEQ_LOW]++;
		st->has_f = 0;
	}
	if (st->has_p && (st->p_behind ? short_of <= (int32_t)SINK_END_NEAR : st->p_in_step)) {
		sink_confirm_p(k, st);
	} else if (st->has_p) {
		st->has_p = 0;
		k->s[S_SEQ_HIGH]++;
	}
}

static inline void sink_seq(struct sink *k, uint32_t seq32)
{
	struct sink_stream *st = &k->st[seq32 >> SEQ_BITS];
	uint32_t seq = seq32 & SEQ_MASK;
	int32_t d;

	if (!st->started) {
		st->started = 1;
		k->s[S_STREAMS]++;
		k->s[S_STREAM_SET] |= 1ull << (seq32 >> SEQ_BITS);
		sink_stream_start(st, seq);
		return;
	}
	if (!(st->has_p | st->has_f) && seq == st->expected) { /* in order: the common case */
		bit_test_set(st->seen, seq & (SINK_WIN - 1));
		st->expected = (seq + 1) & SEQ_MASK;
		st->in_step = 1;
		return;
	}
	if (st->has_f) { /* the frame after a far suspect says whether the stream moved there */
		int32_t from_f = SEQ_DIFF(seq, st->f);

		st->has_f = 0;
		if (from_f > 0 && from_f <= (int32_t)SINK_REACH) {
			int32_t ahead = SEQ_DIFF(st->f, st->expected);

			if (ahead > 0 && ahead < (int32_t)SINK_WIN) { /* a burst of loss */
				if (st->has_p && SEQ_DIFF(st->p, st->f) < 0) {
					sink_confirm_p(k, st); /* the stream moved past it */
				} else if (st->has_p) {
					st->has_p = 0;
					k->s[S_SEQ_HIGH]++;
				}
				sink_advance(k, st, st->f);
			} else { /* a restarted sender, or one far ahead: a new start */
				if (st->has_p)
					sink_confirm_p(k, st); /* the old stream's last word */
				k->s[S_JUMPS]++;
				sink_stream_start(st, st->f);
			}
			st->in_step = 1;
		} else {
			k->s[SEQ_DIFF(st->f, st->expected) > 0 ? S_SEQ_HIGH : S_SEQ_LOW]++;
		}
	}
	d = SEQ_DIFF(seq, st->expected);
	if (st->has_p) {
		int32_t from_p = SEQ_DIFF(seq, st->p);

		if (from_p == 0) {
			if (st->p_behind) { /* the stream came up towards P and P came again: P was not P */
				st->has_p = 0;
				k->s[S_SEQ_HIGH]++;
				sink_advance(k, st, seq);
			} else { /* P twice in a row: P it is, and a repeat */
				sink_confirm_p(k, st);
				sink_add(k, st, S_DUPLICATE, P_DUPLICATE, 1);
			}
			st->in_step = 1;
			return;
		}
		if (from_p > 0 && from_p <= (int32_t)SINK_REACH)
			sink_confirm_p(k, st); /* the stream went on past P */
		else if (++st->p_held >= SINK_HOLD) {
			st->has_p = 0;
			k->s[S_SEQ_HIGH]++;
		}
		d = SEQ_DIFF(seq, st->expected);
	}
	if (d >= -(int32_t)SINK_REACH && (d <= 0 || (st->has_p && SEQ_DIFF(seq, st->p) < 0))) {
		sink_in_stream(k, st, seq, d);
		st->in_step = 1;
	} else if (d > 0 && d <= (int32_t)SINK_REACH && !st->has_p) {
		st->has_p = 1;
		st->p = seq;
		st->p_held = st->p_behind = 0;
		st->p_in_step = st->in_step;
		st->in_step = 0;
	} else {
		st->has_f = 1;
		st->f = seq;
		st->in_step = 0;
	}
}

static void sink_flush(struct sink *k)
{
	for (int i = 0; i < SINK_STREAMS; i++)
		if (k->st[i].started)
			sink_settle(k, &k->st[i]);
}

/* A UDP payload; rx_ns is CLOCK_REALTIME at receipt. */
static inline void sink_payload(struct sink *k, const uint8_t *p, uint32_t len, uint64_t rx_ns)
{
	uint64_t tx_ns, *ps, *phist;
	uint32_t sec, usec, nsec = 0, has_ns, now_s = (uint32_t)(rx_ns / 1000000000ull);

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
	ps = k->ps + (size_t)(get32(p + 4) >> SEQ_BITS) * P_COUNT;
	phist = k->phist + (size_t)(get32(p + 4) >> SEQ_BITS) * SINK_HIST;
	sec = get32(p + 8);
	has_ns = get32(p + 12) >> 31; /* wirespeed's nanoseconds (gen.h) */
	if (stamp_parts(get32(p + 12), &usec, &nsec) ||
	    ((sec || usec) && (sec > now_s ? sec - now_s : now_s - sec) > SINK_CLOCK_SLACK_S)) {
		k->s[S_MALFORMED]++;
		return;
	}
	ps[P_PACKETS]++;
	sink_seq(k, get32(p + 4));
	if (!sec && !usec)
		return; /* not stamped (the in-kernel generator's frames): no latency sample */
	tx_ns = (uint64_t)sec * 1000000000ull + (uint64_t)usec * 1000ull + nsec;
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
	k->s[S_LAT_NS] += has_ns;
	k->s[S_LAT_SUM] += tx_ns;
	if (!k->s[S_LAT_MIN] || tx_ns < k->s[S_LAT_MIN])
		k->s[S_LAT_MIN] = tx_ns;
	if (tx_ns > k->s[S_LAT_MAX])
		k->s[S_LAT_MAX] = tx_ns;
	if (k->rec)
		k->rec[1 + (k->rec[0]++ & k->rec_mask)] = (uint64_t)get32(p + 4) << 32 |
							  (tx_ns > UINT32_MAX ? UINT32_MAX : tx_ns);
	phist[hist_bucket(tx_ns)]++;
	k->hist[hist_bucket(tx_ns)]++; /* one computation: the compiler keeps the bucket */
	ps[P_LAT_N]++;
	ps[P_LAT_SUM] += tx_ns;
	if (!ps[P_LAT_MIN] || tx_ns < ps[P_LAT_MIN])
		ps[P_LAT_MIN] = tx_ns;
	if (tx_ns > ps[P_LAT_MAX])
		ps[P_LAT_MAX] = tx_ns;
}

/* The frame's IPv4 header and UDP checksums (k->verify): 0 if they hold, else the counter
 * of the one that failed. A zero UDP checksum is allowed over IPv4 (none was computed), never
 * over IPv6 (RFC 8200 8.1). A UDP length past the frame cannot be checked: a failure. */
static inline uint64_t add_carry(uint64_t a, uint64_t b)
{
	a += b;
	return a + (a < b);
}

static inline int sink_verify(const uint8_t *f, uint32_t len, uint32_t l3, uint32_t l4, int v6)
{
	static const uint8_t udp_be[2] = { 0, 17 };
	const uint8_t *ip = f + l3, *udp = f + l4;
	uint32_t ulen = get16(udp + 4), w;
	uint64_t pseudo, q0, q1;
	uint16_t proto, plen;

	memcpy(&plen, udp + 4, 2); /* the pseudo-header's protocol and length, as they lie in memory */
	memcpy(&proto, udp_be, 2);
	pseudo = (uint64_t)proto + plen;
	if (v6) {
		pseudo = csum_host(pseudo, ip + 8, 32);
	} else if (l4 - l3 == 20) { /* the common header, in three loads; the addresses are in them */
		memcpy(&q0, ip, 8);
		memcpy(&q1, ip + 8, 8);
		memcpy(&w, ip + 16, 4);
		if (!csum_host_ok(add_carry(add_carry(q0, q1), w)))
			return S_IP_CSUM;
		pseudo += (q1 >> 32) + w;
	} else {
		if (!csum_host_ok(csum_host(0, ip, l4 - l3)))
			return S_IP_CSUM;
		pseudo = csum_host(pseudo, ip + 12, 8);
	}
	if (ulen < 8 || l4 + ulen > len)
		return S_UDP_CSUM;
	if (!get16(udp + 6))
		return v6 ? S_UDP_CSUM : 0;
	return csum_host_ok(csum_host(pseudo, udp, ulen)) ? 0 : S_UDP_CSUM;
}

/* An Ethernet frame, under up to SINK_MAX_TAGS VLAN tags and SINK_MAX_LABELS MPLS labels, or the
 * frame inside a VXLAN, GENEVE or GRE tunnel (outer checksums not verified): find the UDP payload
 * (IPv4 without options or fragments, or IPv6 with UDP as next header), else count it as other; verify its checksums (k->verify), then account
 * its payload. Measured by bench/sink_accounting.py (Sink.frames over numpy batches of 256
 * in-order pktgen frames, a 4096-frame stream in cache, the call included): 64-byte frames
 * 11.4 ns/frame without the checks (11.5 before the sequence rule above), 16.4-18.9 with them;
 * 1518-byte frames 11.8 and 66.5 (the UDP checksum reads every byte, ~27 bytes/ns). */
/* TCP and ICMP echo (the generator's --proto): the IP header checksum (IPv4), then the L4
 * checksum over the length IP gives, with the pseudo-header for TCP and ICMPv6 (not ICMPv4).
 * A failure counts as udp_csum_errors: the L4 checksum, whatever the protocol. */
static inline int sink_verify_l4(const uint8_t *f, uint32_t len, uint32_t l3, uint32_t l4, int v6, uint8_t proto)
{
	const uint8_t *ip = f + l3;
	uint32_t l4len = v6 ? get16(ip + 4) : get16(ip + 2) - (l4 - l3);
	uint8_t pbe[2] = { 0, proto }, lbe[2] = { (uint8_t)(l4len >> 8), (uint8_t)l4len };
	uint16_t p16, l16;
	uint64_t sum = 0;

	if (!v6 && !csum_host_ok(csum_host(0, ip, l4 - l3)))
		return S_IP_CSUM;
	if (l4len > 65535 || l4 + l4len > len)
		return S_UDP_CSUM;
	if (proto != 1) {
		memcpy(&p16, pbe, 2);
		memcpy(&l16, lbe, 2);
		sum = (uint64_t)p16 + l16;
		sum = csum_host(sum, ip + (v6 ? 8 : 12), v6 ? 32 : 8);
	}
	return csum_host_ok(csum_host(sum, f + l4, l4len)) ? 0 : S_UDP_CSUM;
}

static inline void sink_l2(struct sink *k, const uint8_t *f, uint32_t len, uint64_t rx_ns, int outer);

/* The frame a tunnel carries at f + at (VXLAN, GENEVE: behind their headers; GRE: behind its
 * own), accounted as the frame itself. A tunnel in a tunnel is not looked into. */
static inline void sink_inner(struct sink *k, const uint8_t *f, uint32_t len, uint32_t at, uint64_t rx_ns)
{
	if (at + ETH_HLEN_ + 20 > len) {
		k->s[S_OTHER]++;
		return;
	}
	sink_l2(k, f + at, len - at, rx_ns, 0);
}

static inline void sink_frame(struct sink *k, const uint8_t *f, uint32_t len, uint64_t rx_ns)
{
	if (k->cap)
		pcap_put(k->cap, f, len, rx_ns);
	if (k->count_only)
		return;
	sink_l2(k, f, len, rx_ns, 1);
}

static inline void sink_l2(struct sink *k, const uint8_t *f, uint32_t len, uint64_t rx_ns, int outer)
{
	uint32_t l3 = ETH_HLEN_, l4, n;
	uint16_t type;
	uint8_t proto;
	int v6 = 0, bad;

	if (len < ETH_HLEN_ + 20)
		goto other;
	type = get16(f + 12);
	for (n = 0; (type == 0x8100 || type == 0x88a8) && n < SINK_MAX_TAGS; n++) { /* 802.1Q, 802.1ad (QinQ) */
		type = get16(f + l3 + 2);
		l3 += 4;
	}
	if (type == 0x8847 || type == 0x8848) { /* MPLS: labels up to the bottom of the stack, then IP by version */
		for (n = 0; n < SINK_MAX_LABELS && l3 + 4 < len && !(f[l3 + 2] & 1); n++)
			l3 += 4;
		l3 += 4;
		if (l3 >= len)
			goto other;
		type = (f[l3] >> 4) == 4 ? 0x0800 : (f[l3] >> 4) == 6 ? 0x86dd : 0;
	}
	if (len < l3 + 20)
		goto other;
	if (type == 0x0800) {
		const uint8_t *ip = f + l3;
		uint32_t ihl = (ip[0] & 0x0f) * 4u;

		if ((ip[0] >> 4) != 4 || ihl < 20 || (get16(ip + 6) & 0x3fff))
			goto other;
		proto = ip[9];
		l4 = l3 + ihl;
	} else if (type == 0x86dd) {
		if (len < l3 + 40)
			goto other;
		proto = f[l3 + 6];
		l4 = l3 + 40;
		v6 = 1;
	} else {
		goto other;
	}
	if (proto == 47 && outer && len >= l4 + 4 && get16(f + l4 + 2) == 0x6558) { /* GRE, Ethernet inside */
		uint16_t gf = get16(f + l4);

		sink_inner(k, f, len, l4 + 4 + (gf & 0x8000 ? 4 : 0) + (gf & 0x2000 ? 4 : 0) + (gf & 0x1000 ? 4 : 0), rx_ns);
		return;
	}
	if (l4 + 8 > len)
		goto other;
	if (proto != 17) { /* TCP, ICMP echo: the generator's other protocols */
		uint32_t at;

		if (proto == 6 && l4 + 20 <= len)
			at = l4 + (f[l4 + 12] >> 4) * 4u;
		else if ((proto == 1 && (f[l4] == 8 || f[l4] == 0)) || (proto == 58 && (f[l4] == 128 || f[l4] == 129)))
			at = l4 + 8;
		else
			goto other;
		if (at > len || (proto == 6 && k->udp_port && get16(f + l4 + 2) != k->udp_port))
			goto other;
		if (k->verify && (bad = sink_verify_l4(f, len, l3, l4, v6, proto))) {
			k->s[bad]++;
			return;
		}
		sink_payload(k, f + at, len - at, rx_ns);
		return;
	}
	if (outer && len >= l4 + 16 && get32(f + l4 + 8) != PKTGEN_MAGIC) { /* a tunnel's UDP: VXLAN, GENEVE */
		uint16_t dport = get16(f + l4 + 2);

		if (dport == 4789 && (f[l4 + 8] & 0x08)) {
			sink_inner(k, f, len, l4 + 16, rx_ns);
			return;
		}
		if (dport == 6081 && get16(f + l4 + 10) == 0x6558) {
			sink_inner(k, f, len, l4 + 16 + 4u * (f[l4 + 8] & 0x3f), rx_ns);
			return;
		}
	}
	if (k->udp_port && get16(f + l4 + 2) != k->udp_port)
		goto other;
	if (k->verify && (bad = sink_verify(f, len, l3, l4, v6))) {
		k->s[bad]++;
		return;
	}
	sink_payload(k, f + l4 + 8, len - l4 - 8, rx_ns);
	return;
other:
	k->s[S_OTHER]++;
}

#endif
