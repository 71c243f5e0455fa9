/* The generator engine: builds Ethernet/IPv4|IPv6/UDP (or TCP, ICMP echo) frames from a template, varying fields
 * per packet, with a pktgen header (magic 0xbe9be955, seq, tv_sec, tv_usec; big-endian).
 *
 * The stamp has nanoseconds: tv_usec keeps the microseconds in its low 20 bits (0..999999, as
 * kernel pktgen writes them), the nanoseconds within that microsecond in bits 20..29 (0..999),
 * and bit 31 set says they are there (bit 30 is 0). Kernel pktgen leaves bits 20..31 zero: its
 * frames read as whole microseconds, and the sink counts which kind each sample had.
 *
 * The UDP checksum is incremental: the sum over everything constant is taken once at set-up
 * (varying words zeroed); each packet adds only the words it changes. The IPv4 header
 * checksum is recomputed over its 20 bytes.
 */
#ifndef WS_GEN_H
#define WS_GEN_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "csum.h"
#include "pace.h"

#define GEN_MAX_FRAME 9216 /* frame bytes without FCS fit below this */
#define GEN_MAX_SIZES 64
#define GEN_FIELDS 4
#define PKTGEN_MAGIC 0xbe9be955u
#define PKTGEN_HDR_LEN 16
#define STAMP_NS_FLAG 0x80000000u /* tv_usec bit 31: bits 20..29 hold the nanoseconds */
#define STAMP_NS_SHIFT 20
#define STAMP_USEC_MASK 0xfffffu

/* A stamp's tv_usec word as microseconds and nanoseconds (kernel pktgen's: whole microseconds);
 * 0 when they are a time, -1 when not (microseconds >= 10^6, nanoseconds >= 1000 or bit 30).
 * The one reading of the format: the sink's and the transmit stamps' (txstamp.h). */
static inline int stamp_parts(uint32_t word, uint32_t *usec, uint32_t *nsec)
{
	*nsec = 0;
	if (word & STAMP_NS_FLAG) {
		*nsec = word >> STAMP_NS_SHIFT & 0x7ff; /* bit 30 set: >= 1024 */
		word &= STAMP_USEC_MASK;
	}
	*usec = word;
	return word < 1000000u && *nsec < 1000 ? 0 : -1;
}
#define SEQ_BITS 28 /* low bits count; the top 4 name the worker (stream) */
#define SEQ_MASK ((1u << SEQ_BITS) - 1)
#define ETH_HLEN_ 14

enum gen_field_id { F_SADDR, F_DADDR, F_SPORT, F_DPORT };
enum gen_mode { M_FIXED, M_INC, M_RANDOM };

struct gen_field {
	uint32_t lo, count; /* values lo .. lo+count-1 */
	uint32_t mode;
};

/* --field: any bytes of a raw template (--template, --scapy) varied per frame, TRex's field
 * engine: WIDTH (1, 2 or 4) big-endian bytes at OFF walk lo .. hi by step (inc, dec) or take
 * random values in it. */
#define GEN_RAW_FIELDS 8
enum gen_raw_mode { R_INC, R_DEC, R_RANDOM };

struct gen_raw_field {
	uint32_t off, width, mode;
	uint32_t lo, span, step; /* values lo .. lo+span-1 */
	uint32_t step_mod;       /* step % span: gen_walk_next's step */
	/* --fix-checksums, incrementally: bit j set when the field's byte j (from the top) is in the
	 * IPv4 header's sum / the L4 sum (its header, payload and pseudo-header); shift: 8 when that
	 * byte is the high half of its 16-bit word, else 0 */
	uint8_t in_ip, in_l4, ip_shift[4], l4_shift[4];
};

struct gen {
	uint8_t tmpl[GEN_MAX_FRAME];
	uint32_t sizes[GEN_MAX_SIZES]; /* frame lengths without FCS, used in turn */
	uint32_t nsizes;
	uint32_t l3, l4, payload; /* offsets */
	uint32_t proto;           /* the L4 protocol: 17 UDP, 6 TCP, 1 ICMP echo, 58 ICMPv6 echo */
	uint32_t outer_l3, outer_l4; /* a tunnel's outer IP and UDP headers (0: none; outer_l4 0 with GRE) */
	uint32_t outer_v6;           /* the outer header is IPv6 (a payload length, no header checksum) */
	uint32_t outer_sport, outer_sports; /* outer UDP source ports outer_sport.. + outer_sports - 1 (> 1: by inner flow) */
	uint32_t outer_src, outer_srcs, outer_dst, outer_dsts; /* outer addresses' low 32 bits, likewise (> 1: by inner flow) */
	uint64_t outer_sum;          /* the outer IPv4 header's sum, its length and checksum zeroed */
	uint64_t outer_udp_base;     /* IPv6 outer: the outer UDP checksum's constant part (gen_prepare) */
	uint32_t ipv6, stamp;
	struct gen_field f[GEN_FIELDS];
	uint32_t flows; /* 0: incrementing fields follow the packet index; N: index mod N */
	uint32_t seq_base, seq;
	uint64_t pkt; /* packets built */
	/* where frame pkt stands in every walk, kept by additions per frame (gen_walk_next) and
	 * by divisions only when pkt jumps (gen_seek): flow = pkt % flows (pkt: no flows), size_at
	 * = pkt % nsizes, f_at[i] = flow % f[i].count, rf_at[i] = flow * rf[i].step % rf[i].span */
	uint64_t flow;
	uint32_t size_at, f_at[GEN_FIELDS], rf_at[GEN_RAW_FIELDS];
	uint64_t rng;
	uint64_t udp_sum; /* constant part of the UDP checksum, pseudo-header included */
	uint32_t tv_sec, tv_usec; /* stamp of the batch being built */
	struct pace pace;
	/* a raw template: sent as it is but for its --field bytes, its checksums then fixed when
	 * asked (raw_l3: the IP header, raw_l4: the L4 header, raw_proto its protocol; 0: none) */
	uint32_t raw, nraw, raw_fix, raw_l3, raw_l4, raw_proto, raw_v6;
	struct gen_raw_field rf[GEN_RAW_FIELDS];
	/* --fix-checksums, incrementally (raw_incr): the sums over everything the fields leave
	 * alone, taken once (gen_raw_prepare); each frame adds its fields' bytes */
	uint32_t raw_incr, raw_ihl, raw_l4len, raw_csum_off;
	uint64_t raw_ip_sum, raw_l4_sum;
	struct gen_mux *mux; /* several streams interleaved in this worker (gen --streams), or NULL */
};

/* Streams interleaved in one worker: this gen's schedule (its pace) runs at the sum of the
 * streams' rates, and each of its slots goes to the stream whose own schedule has the earliest
 * frame due (a merge of the streams' schedules, ties to the lower number; each stream's frames
 * keep its own spacing within one slot of the sum). A stream whose count is done leaves the
 * merge and the sum's rate drops by its rate from that slot on. Skipped slots (a stall) are
 * attributed the same way: each stream skips its share. Per stream, its own departure words
 * (D_SLOTS, D_SKIPPED in its gen's pace memory) count what it was given. */
#define GEN_STREAMS 16
#define GEN_MUX_PICKS 1024 /* the streams of the last frames built (a batch at most): gen_unbuild */
#define GEN_MUX_BEYOND 0x80 /* a pick's mark: built beyond every count, no stream's count spent */

struct gen_mux {
	uint32_t n;
	uint8_t picks[GEN_MUX_PICKS];
	uint64_t npicks;
	struct gen *s[GEN_STREAMS];
	uint64_t at[GEN_STREAMS];     /* the stream's next frame on its own schedule, 1/256 ns from the start */
	uint64_t step[GEN_STREAMS];   /* its interval in 1/256 ns (unpaced: 1, the streams in turn) */
	double interval[GEN_STREAMS]; /* its own interval, ns (all 0: unpaced) */
	uint64_t left[GEN_STREAMS];   /* frames its count still allows (UINT64_MAX: no count) */
	uint32_t active;              /* bit i: stream i still sends */
};

/* Of n streams' next times, the earliest among those whose bit is set in active (ties to the
 * lower number), or -1 when none is (branch-free: a finished stream's time is the largest
 * there is). */
static inline int gen_earliest(const uint64_t *at, uint32_t active, uint32_t n)
{
	uint64_t best_at = UINT64_MAX;
	int best = -1;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = (active >> i & 1) ? at[i] : UINT64_MAX;
		int better = t < best_at;

		best = better ? (int)i : best;
		best_at = better ? t : best_at;
	}
	return best;
}

/* The stream the next slot goes to, or -1 when every count is done. */
static inline int gen_mux_pick(const struct gen_mux *m)
{
	return gen_earliest(m->at, m->active, m->n);
}

/* The sum's interval over the streams still active (0: unpaced or none left). */
static inline double gen_mux_interval(const struct gen_mux *m)
{
	double pps = 0;

	for (uint32_t i = 0; i < m->n; i++)
		if ((m->active >> i & 1) && m->interval[i] > 0)
			pps += 1e9 / m->interval[i];
	return pps > 0 ? 1e9 / pps : 0;
}

/* Slot given to stream i (sent or skipped): its schedule moves on; a finished count leaves the
 * merge and the worker's schedule goes on at the rate of the rest from the next slot. */
static inline void gen_mux_advance(struct gen *g, int i)
{
	struct gen_mux *m = g->mux;

	m->at[i] += m->step[i];
	if (m->left[i] != UINT64_MAX && !--m->left[i]) {
		m->active &= ~(1u << i);
		pace_rebase(&g->pace, gen_mux_interval(m));
	}
}

/* n slots of the worker's schedule were skipped after a stall: each goes to its stream. */
static inline void gen_mux_skip(struct gen *g, uint64_t n)
{
	while (n--) {
		int i = gen_mux_pick(g->mux);

		if (i < 0)
			return;
		g->mux->s[i]->pace.d[D_SLOTS]++;
		g->mux->s[i]->pace.d[D_SKIPPED]++;
		gen_mux_advance(g, i);
	}
}

static inline uint64_t gen_rand(struct gen *g)
{
	uint64_t x = g->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* A random value in 0 .. n-1 from the high 32 bits: a multiply, no division (the bias is below
 * n / 2^32). */
static inline uint32_t gen_rand_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(((gen_rand(g) >> 32) * n) >> 32);
}

static inline uint32_t gen_value(struct gen *g, int i)
{
	const struct gen_field *f = &g->f[i];

	switch (f->mode) {
	case M_INC:
		return f->lo + g->f_at[i];
	case M_RANDOM:
		return f->lo + gen_rand_below(g, f->count);
	default:
		return f->lo;
	}
}

static inline uint32_t gen_addr_off(const struct gen *g, int which)
{
	/* IPv4: saddr at 12, daddr at 16. IPv6: the low 32 bits of saddr (8..23) and daddr (24..39). */
	if (g->ipv6)
		return g->l3 + (which == F_SADDR ? 20 : 36);
	return g->l3 + (which == F_SADDR ? 12 : 16);
}

/* Where field `which` lies in the frame as gen_build_one writes it (0: nowhere: ICMP echo has
 * no destination port; its source port range is the identifier). Gen.layout hands it to the
 * in-kernel generator's program. */
static inline uint32_t gen_field_off(const struct gen *g, int which)
{
	if (which == F_SADDR || which == F_DADDR)
		return gen_addr_off(g, which);
	if (g->proto == 17 || g->proto == 6)
		return g->l4 + (which == F_SPORT ? 0 : 2);
	return which == F_SPORT ? g->l4 + 4 : 0;
}

/* Where the L4 checksum lies, and whether the IP pseudo-header is in it (all but ICMPv4). */
static inline uint32_t gen_csum_off(const struct gen *g)
{
	return g->proto == 6 ? 16 : g->proto == 17 ? 6 : 2;
}

static inline void gen_seek(struct gen *g);

/* Zero every byte that varies per packet, then sum the rest of what the L4 checksum covers. */
static int gen_prepare(struct gen *g)
{
	uint8_t t[GEN_MAX_FRAME];
	uint32_t maxlen = 0;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < g->nsizes; i++)
		if (g->sizes[i] > maxlen)
			maxlen = g->sizes[i];
	memcpy(t, g->tmpl, maxlen);
	memset(t + gen_addr_off(g, F_SADDR), 0, 4);
	memset(t + gen_addr_off(g, F_DADDR), 0, 4);
	if (g->proto == 17)
		memset(t + g->l4, 0, 8); /* ports, length, checksum */
	else if (g->proto == 6)
		memset(t + g->l4, 0, 4); /* ports */
	else
		memset(t + g->l4 + 4, 0, 2); /* the echo identifier */
	memset(t + g->l4 + gen_csum_off(g), 0, 2);
	if (g->stamp)
		memset(t + g->payload + 4, 0, PKTGEN_HDR_LEN - 4); /* seq, tv_sec, tv_usec */
	if (g->proto != 1) {
		if (g->ipv6)
			sum = csum_add(sum, t + g->l3 + 8, 32); /* constant parts of both addresses */
		sum += g->proto;                                /* pseudo-header: the protocol */
	}
	sum = csum_add(sum, t + g->l4, maxlen - g->l4); /* padding beyond a packet's length is zero */
	g->udp_sum = sum;
	if (g->outer_l3) { /* the outer addresses' low 32 bits: the first of their ranges */
		uint32_t a = g->outer_l3 + (g->outer_v6 ? 8 + 12 : 12), b = g->outer_l3 + (g->outer_v6 ? 24 + 12 : 16);

		g->outer_src = get32(g->tmpl + a);
		g->outer_dst = get32(g->tmpl + b);
		if (g->outer_srcs > 1) /* varied per frame: summed per frame */
			memset(t + a, 0, 4);
		if (g->outer_dsts > 1)
			memset(t + b, 0, 4);
	}
	if (g->outer_l3 && !g->outer_v6) {
		memset(t + g->outer_l3 + 2, 0, 2);
		memset(t + g->outer_l3 + 10, 0, 2);
		g->outer_sum = csum_add(0, t + g->outer_l3, 20);
	}
	if (g->outer_l4)
		g->outer_sport = get16(g->tmpl + g->outer_l4);
	if (g->outer_l4 && g->outer_v6) {
		/* The outer UDP checksum, mandatory over IPv6 for a tunnel that is not set up for zero
		 * sums (RFC 6935/6936), without summing the frame: the inner frame's own checksums make
		 * its IPv4 header sum to 0 and its L4 segment to minus its pseudo-header; an inner IPv6
		 * header less its pseudo-header is constant. So: the outer pseudo-header's addresses and
		 * next header, the tunnel's headers and the inner Ethernet layers (constant), and per
		 * frame the lengths, the source port and minus the inner IPv4 pseudo-header. */
		uint64_t b = csum_add(0, t + g->outer_l3 + 8, 32) + 17; /* varied address bits zeroed in t */

		b = csum_add(b, g->tmpl + g->outer_l4 + 2, 2); /* the destination port */
		b = csum_add(b, g->tmpl + g->outer_l4 + 8, g->l3 - g->outer_l4 - 8);
		if (g->ipv6) { /* version, class, flow label and next header / hop limit; less the protocol */
			b = csum_add(b, t + g->l3, 4);
			b = csum_add(b, t + g->l3 + 6, 2);
			b += csum_neg(g->proto);
		}
		g->outer_udp_base = b;
	}
	gen_seek(g);
	return 0;
}

static inline uint32_t gen_raw_value(struct gen *g, uint32_t i)
{
	const struct gen_raw_field *f = &g->rf[i];

	switch (f->mode) {
	case R_DEC:
		return f->lo + f->span - 1 - g->rf_at[i];
	case R_RANDOM:
		return f->lo + gen_rand_below(g, f->span);
	default:
		return f->lo + g->rf_at[i];
	}
}

/* Every walk put where frame g->pkt stands: after set-up, and when pkt jumps (gen_unbuild). */
static inline void gen_seek(struct gen *g)
{
	g->flow = g->flows ? g->pkt % g->flows : g->pkt;
	g->size_at = (uint32_t)(g->pkt % g->nsizes);
	for (int i = 0; i < GEN_FIELDS; i++)
		g->f_at[i] = (uint32_t)(g->flow % g->f[i].count);
	for (uint32_t i = 0; i < g->nraw; i++)
		g->rf_at[i] = (uint32_t)(g->flow * g->rf[i].step % g->rf[i].span);
}

/* The next frame: every walk one step on, an addition and a compare each, where a division
 * per field per frame (pkt % flows, then % count) was. Measured (bench/layers.py, 160-byte
 * frames, batch 64, medians of 5, two runs): both addresses and both ports walked over 65,536
 * flows 24.6-25.0 ns/frame, against 27.7-28.1 with the divisions; the plain frame 23-24. */
static inline void gen_walk_next(struct gen *g)
{
	g->pkt++;
	g->size_at = g->size_at + 1 == g->nsizes ? 0 : g->size_at + 1;
	if (++g->flow == g->flows) { /* the flows start again: every field at its first value */
		g->flow = 0;
		memset(g->f_at, 0, sizeof(g->f_at));
		memset(g->rf_at, 0, sizeof(g->rf_at));
		return;
	}
	for (int i = 0; i < GEN_FIELDS; i++)
		g->f_at[i] = g->f_at[i] + 1 == g->f[i].count ? 0 : g->f_at[i] + 1;
	for (uint32_t i = 0; i < g->nraw; i++) {
		uint32_t v = g->rf_at[i] + g->rf[i].step_mod;

		g->rf_at[i] = v >= g->rf[i].span ? v - g->rf[i].span : v;
	}
}

/* --fix-checksums: the sums of the template with every field's bytes (and the checksums) zeroed,
 * and which field bytes each sum takes, so that a frame costs a few additions per field instead
 * of a sum over the whole frame. A field on the IP header's first bytes (version, header length,
 * total or payload length) would change what the sums cover, and fields that overlap would be
 * counted twice: then every frame is summed whole (raw_incr 0). */
static inline void gen_raw_prepare(struct gen *g)
{
	uint8_t t[GEN_MAX_FRAME];
	uint32_t len = g->sizes[0], l3 = g->raw_l3, l4 = g->raw_l4, ihl = 0, l4len, pa, pb;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < g->nraw; i++)
		g->rf[i].step_mod = g->rf[i].step % g->rf[i].span;
	gen_seek(g);
	g->raw_incr = 0;
	if (!g->raw_fix || !l3)
		return;
	for (uint32_t i = 0; i < g->nraw; i++) {
		if (g->rf[i].off < l3 + 6 && g->rf[i].off + g->rf[i].width > l3)
			return; /* the lengths vary: whole sums */
		for (uint32_t j = 0; j < i; j++)
			if (g->rf[i].off < g->rf[j].off + g->rf[j].width && g->rf[j].off < g->rf[i].off + g->rf[i].width)
				return; /* fields that overlap: the later one's bytes win, whole sums */
	}
	memcpy(t, g->tmpl, len);
	for (uint32_t i = 0; i < g->nraw; i++)
		memset(t + g->rf[i].off, 0, g->rf[i].width);
	if (!g->raw_v6) {
		ihl = (t[l3] & 0x0f) * 4u;
		put16(t + l3 + 10, 0);
		g->raw_ip_sum = csum_add(0, t + l3, ihl);
		l4len = get16(t + l3 + 2) - ihl;
		pa = l3 + 12, pb = l3 + 20;
	} else {
		l4len = get16(t + l3 + 4);
		pa = l3 + 8, pb = l3 + 40;
	}
	g->raw_ihl = ihl;
	g->raw_l4len = l4len;
	g->raw_csum_off = g->raw_proto == 6 ? 16 : g->raw_proto == 17 ? 6 : 2;
	if (g->raw_proto == 1)
		pa = pb = 0; /* ICMPv4: no pseudo-header */
	if (l4 && l4 + l4len <= len) {
		put16(t + l4 + g->raw_csum_off, 0);
		if (g->raw_proto != 1) {
			sum = csum_add(sum, t + pa, pb - pa);
			sum += g->raw_proto + l4len;
		}
		g->raw_l4_sum = csum_add(sum, t + l4, l4len);
	}
	for (uint32_t i = 0; i < g->nraw; i++) {
		struct gen_raw_field *f = &g->rf[i];

		f->in_ip = f->in_l4 = 0;
		for (uint32_t j = 0; j < f->width; j++) {
			uint32_t o = f->off + j;

			if (ihl && o >= l3 && o < l3 + ihl && !(o >= l3 + 10 && o < l3 + 12)) {
				f->in_ip |= 1u << j;
				f->ip_shift[j] = (o - l3) & 1 ? 0 : 8;
			}
			if (l4 && ((o >= l4 && o < l4 + l4len && !(o >= l4 + g->raw_csum_off && o < l4 + g->raw_csum_off + 2)) ||
				   (o >= pa && o < pb))) {
				f->in_l4 |= 1u << j;
				f->l4_shift[j] = (o - l4) & 1 ? 0 : 8; /* the pseudo-header's words keep the same parity */
			}
		}
	}
	g->raw_incr = 1;
}

/* A raw template's frame: the bytes, the fields, then (raw_fix) the IPv4 header checksum and the
 * L4 checksum (UDP, TCP, ICMP, ICMPv6): incrementally from the sums gen_raw_prepare took (a few
 * additions per field), or, when a field varies the IP header's lengths, over the frame as it
 * now is. Measured in bench/layers.py ("field fix"). */
static inline uint32_t gen_build_raw(struct gen *g, uint8_t *dst)
{
	uint32_t len = g->sizes[0];
	uint64_t ipsum = g->raw_ip_sum, l4sum = g->raw_l4_sum;

	memcpy(dst, g->tmpl, len);
	for (uint32_t i = 0; i < g->nraw; i++) {
		const struct gen_raw_field *f = &g->rf[i];
		uint32_t v = gen_raw_value(g, i);

		if (f->width == 4)
			put32(dst + f->off, v);
		else if (f->width == 2)
			put16(dst + f->off, (uint16_t)v);
		else
			dst[f->off] = (uint8_t)v;
		if (g->raw_incr && (f->in_ip | f->in_l4)) {
			for (uint32_t j = 0; j < f->width; j++) {
				uint64_t b = (v >> (8 * (f->width - 1 - j))) & 0xff;

				if (f->in_ip >> j & 1)
					ipsum += b << f->ip_shift[j];
				if (f->in_l4 >> j & 1)
					l4sum += b << f->l4_shift[j];
			}
		}
	}
	if (g->raw_incr) {
		if (!g->raw_v6)
			put16(dst + g->raw_l3 + 10, csum_fold(ipsum));
		if (g->raw_l4 && g->raw_l4 + g->raw_l4len <= len) {
			uint16_t c = csum_fold(l4sum);

			put16(dst + g->raw_l4 + g->raw_csum_off, g->raw_proto == 17 && !c ? 0xffff : c);
		}
	} else if (g->raw_fix && g->raw_l3) {
		/* summed whole, by what the frame's own (varied) header says: its header length places
		 * the L4 header (a field on it moves it), and a header length or a total length the
		 * fields made impossible leaves that checksum as it is, never reads past the frame */
		uint8_t *ip = dst + g->raw_l3;
		uint32_t l4len = UINT32_MAX, l4at = g->raw_l4;

		if (!g->raw_v6) {
			uint32_t ihl = (ip[0] & 0x0f) * 4u, tot = get16(ip + 2);

			if (ihl >= 20 && g->raw_l3 + ihl <= len) {
				put16(ip + 10, 0);
				put16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
				if (tot >= ihl)
					l4len = tot - ihl;
				if (l4at)
					l4at = g->raw_l3 + ihl;
			}
		} else {
			l4len = get16(ip + 4);
		}
		if (l4at && l4at <= len && l4len <= len - l4at) {
			uint8_t *l4 = dst + l4at;
			uint32_t off = g->raw_proto == 6 ? 16 : g->raw_proto == 17 ? 6 : 2;
			uint64_t sum = 0;
			uint16_t c;

			put16(l4 + off, 0);
			if (g->raw_proto != 1) { /* the pseudo-header: addresses, protocol, length */
				sum = csum_add(sum, ip + (g->raw_v6 ? 8 : 12), g->raw_v6 ? 32 : 8);
				sum += g->raw_proto + l4len;
			}
			c = csum_fold(csum_add(sum, l4, l4len));
			put16(l4 + off, g->raw_proto == 17 && !c ? 0xffff : c);
		}
	}
	gen_walk_next(g);
	return len;
}

static inline uint32_t gen_build_one(struct gen *g, uint8_t *dst);

/* The next frame of several streams (g->mux): the stream the slot falls to builds it, with the
 * batch's stamp (gen_stamp gave it to every stream). No frame is left once every count is done
 * (the caller's count ends first). */
static inline uint32_t gen_build_mux(struct gen *g, uint8_t *dst)
{
	int i = gen_mux_pick(g->mux);
	uint8_t pick = (uint8_t)i;
	struct gen *s;

	if (i < 0) /* beyond every count (the caller asked for more than the sum): stream 0's slot */
		pick = GEN_MUX_BEYOND | (uint8_t)(i = 0);
	s = g->mux->s[i];
	s->pace.d[D_SLOTS]++;
	if (g->mux->active >> i & 1)
		gen_mux_advance(g, i);
	g->mux->picks[g->mux->npicks++ % GEN_MUX_PICKS] = pick;
	g->pkt++;
	return gen_build_one(s, dst);
}

/* The last k frames built were not sent (a socket took fewer, udp.h): their sequence numbers
 * go back, and with several streams each goes back to its own stream, its schedule one slot
 * back (a stream whose count had run out is in the merge again). */
static inline void gen_unbuild(struct gen *g, uint32_t k)
{
	struct gen_mux *m = g->mux;

	g->pkt -= k;
	gen_seek(g);
	if (!m) {
		g->seq -= k;
		return;
	}
	while (k--) {
		uint8_t pick = m->picks[--m->npicks % GEN_MUX_PICKS];
		uint32_t i = pick & ~GEN_MUX_BEYOND;
		struct gen *s = m->s[i];

		s->pkt--;
		s->seq--;
		s->pace.d[D_SLOTS]--;
		if (pick & GEN_MUX_BEYOND) /* it spent no count and moved no schedule */
			continue;
		m->at[i] -= m->step[i];
		if (m->left[i] != UINT64_MAX && !m->left[i]++) {
			m->active |= 1u << i;
			pace_rebase(&g->pace, gen_mux_interval(m));
		}
	}
	for (uint32_t i = 0; i < m->n; i++) /* each stream's walks where its frames now stand */
		gen_seek(m->s[i]);
}

/* A batch of frames being built: gen_batch_begin(), gen_batch_build() per frame, then
 * gen_batch_end() before anything else looks at the gen (gen_unbuild, the next batch). The
 * streams' merge lives here, in the caller's locals, for the batch: their times, steps and
 * builders at hand, so that the stream a slot goes to is a compare and a predicted branch
 * (with two; a select made the build wait for the compare: 1.18x), and each stream's slots
 * are counted once per batch from its schedule's steps. Kept in the gen's memory, the
 * merge was read back after every frame (the builder's stores may alias it) and the frame's
 * build waited on that chain of loads: two streams cost 1.11-1.14x one frame; this way
 * 1.00-1.05x (bench/layers.py, streams_vs_one_paired, 160 bytes, batch 64: the compare and
 * the picks entry); three and four streams 1.05-1.12x (gen_earliest, branch-free; 1.13-1.18x before).
 * A batch in which a count may end goes frame by frame through gen_build_mux. */
struct gen_batch {
	struct gen *g;
	struct gen_mux *m;  /* NULL: one stream */
	uint32_t n;         /* streams merged here for this batch (0: none, or gen_build_mux's) */
	uint64_t npicks;
	uint64_t at[GEN_STREAMS], step[GEN_STREAMS];
	struct gen *s[GEN_STREAMS];
};

/* n: the most frames the batch may build. */
static inline void gen_batch_begin(struct gen_batch *b, struct gen *g, uint32_t n)
{
	struct gen_mux *m = g->mux;

	b->g = g;
	b->m = m;
	b->n = 0;
	b->npicks = 0;
	if (!m || m->active != (1u << m->n) - 1)
		return;
	for (uint32_t i = 0; i < m->n; i++)
		if (m->left[i] <= n) /* a count may end within the batch */
			return;
	for (uint32_t i = 0; i < m->n; i++) {
		b->at[i] = m->at[i];
		b->step[i] = m->step[i];
		b->s[i] = m->s[i];
	}
	b->npicks = m->npicks;
	b->n = m->n;
}

/* Build the batch's next frame at dst; returns its length (no FCS). Measured: 23 ns/frame for
 * 160-byte IPv4 frames with the pktgen header, in batches of 64 (Gen.build, the call included);
 * two streams interleaved 24 ns. */
static inline __attribute__((always_inline)) uint32_t gen_batch_build(struct gen_batch *b, uint8_t *dst)
{
	uint32_t pick = 0;

	if (b->n == 2) { /* the earlier time goes, ties to the lower number (as gen_earliest) */
		if (b->at[1] < b->at[0]) {
			__asm__ volatile(""); /* a branch, not a select: the build starts on the prediction */
			pick = 1;
		}
	} else if (b->n) { /* every one still sends (gen_batch_begin) */
		pick = (uint32_t)gen_earliest(b->at, UINT32_MAX, b->n);
	} else if (b->m) {
		return gen_build_mux(b->g, dst);
	} else {
		return gen_build_one(b->g, dst);
	}
	b->at[pick] += b->step[pick];
	b->m->picks[b->npicks++ % GEN_MUX_PICKS] = (uint8_t)pick;
	return gen_build_one(b->s[pick], dst);
}

/* Each stream's slots in the batch, from its schedule's steps, counted once. */
static inline void gen_batch_end(struct gen_batch *b)
{
	struct gen_mux *m = b->m;
	uint64_t built = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		uint64_t given = (b->at[i] - m->at[i]) / b->step[i];

		m->at[i] = b->at[i];
		if (m->left[i] != UINT64_MAX) /* none reaches 0 here (gen_batch_begin) */
			m->left[i] -= given;
		b->s[i]->pace.d[D_SLOTS] += given;
		built += given;
	}
	if (b->n) {
		m->npicks = b->npicks;
		b->g->pkt += built;
		b->n = 0;
	}
}

static inline uint32_t gen_build_one(struct gen *g, uint8_t *dst)
{
	uint32_t len = g->sizes[g->size_at];

	if (g->raw)
		return gen_build_raw(g, dst);
	uint32_t udp_len = len - g->l4;
	uint32_t v[GEN_FIELDS];
	uint64_t sum = g->udp_sum;
	uint8_t *l3 = dst + g->l3, *l4 = dst + g->l4;

	memcpy(dst, g->tmpl, len);
	for (int i = 0; i < GEN_FIELDS; i++)
		v[i] = gen_value(g, i);
	put32(dst + gen_addr_off(g, F_SADDR), v[F_SADDR]);
	put32(dst + gen_addr_off(g, F_DADDR), v[F_DADDR]);
	if (g->proto == 17) {
		put16(l4, (uint16_t)v[F_SPORT]);
		put16(l4 + 2, (uint16_t)v[F_DPORT]);
		put16(l4 + 4, (uint16_t)udp_len);
		sum = csum_add32(sum, v[F_SADDR]);
		sum = csum_add32(sum, v[F_DADDR]);
		sum += v[F_SPORT] + v[F_DPORT] + 2 * udp_len; /* header length + pseudo-header length */
	} else if (g->proto == 6) { /* TCP: no length field; the pseudo-header's only */
		put16(l4, (uint16_t)v[F_SPORT]);
		put16(l4 + 2, (uint16_t)v[F_DPORT]);
		sum = csum_add32(sum, v[F_SADDR]);
		sum = csum_add32(sum, v[F_DADDR]);
		sum += v[F_SPORT] + v[F_DPORT] + udp_len;
	} else { /* ICMP echo: the source port range is the identifier; ICMPv6 has the pseudo-header */
		put16(l4 + 4, (uint16_t)v[F_SPORT]);
		sum += v[F_SPORT];
		if (g->proto == 58) {
			sum = csum_add32(sum, v[F_SADDR]);
			sum = csum_add32(sum, v[F_DADDR]);
			sum += udp_len;
		}
	}
	if (g->stamp) {
		uint32_t seq = g->seq_base | (g->seq & SEQ_MASK);
		uint8_t *p = dst + g->payload;

		put32(p + 4, seq);
		put32(p + 8, g->tv_sec);
		put32(p + 12, g->tv_usec);
		sum = csum_add32(sum, seq);
		sum = csum_add32(sum, g->tv_sec);
		sum = csum_add32(sum, g->tv_usec);
		g->seq++;
	}
	if (g->ipv6) {
		put16(l3 + 4, (uint16_t)udp_len);
	} else {
		put16(l3 + 2, (uint16_t)(len - g->l3));
		put16(l3 + 10, 0);
		put16(l3 + 10, csum_fold(csum_add(0, l3, 20)));
	}
	{
		uint16_t c = csum_fold(sum);

		if (g->proto == 17)
			put16(l4 + 6, c ? c : 0xffff); /* 0 means "no checksum" in UDP over IPv4 */
		else
			put16(l4 + gen_csum_off(g), c);
	}
	if (g->outer_l3) { /* a tunnel: the outer IPv4 length and header checksum (IPv6: its payload
			    * length), the outer UDP length, source port and, over IPv6, checksum (over IPv4 it
			    * stays 0, as RFC 7348 and 8926 allow); with ranges, the outer addresses and source
			    * port by the inner flow */
		uint8_t *o3 = dst + g->outer_l3;
		uint32_t src = g->outer_src, dst_ip = g->outer_dst, sport = g->outer_sport;
		uint64_t varied = 0; /* the varied address bits' sum, for the sums that hold them */

		if ((g->outer_sports | g->outer_srcs | g->outer_dsts) > 1) { /* a hash of the inner flow's addresses and ports */
			uint32_t h = v[F_SADDR] ^ (v[F_DADDR] * 0x9e3779b1u) ^ (v[F_SPORT] << 16 | v[F_DPORT]);

			h ^= h >> 16; /* MurmurHash3's finaliser: every input bit moves every output bit */
			h *= 0x85ebca6bu;
			h ^= h >> 13;
			h *= 0xc2b2ae35u;
			h ^= h >> 16;
			sport += (uint32_t)(((uint64_t)h * g->outer_sports) >> 32); /* the high bits: no modulo bias */
			if (g->outer_srcs > 1) {
				src += (uint32_t)(((uint64_t)(h * 0x9e3779b1u) * g->outer_srcs) >> 32);
				put32(o3 + (g->outer_v6 ? 20 : 12), src);
				varied = csum_add32(varied, src);
			}
			if (g->outer_dsts > 1) {
				dst_ip += (uint32_t)(((uint64_t)(h * 0x85ebca6bu) * g->outer_dsts) >> 32);
				put32(o3 + (g->outer_v6 ? 36 : 16), dst_ip);
				varied = csum_add32(varied, dst_ip);
			}
		}
		if (g->outer_v6) {
			put16(o3 + 4, (uint16_t)(len - g->outer_l3 - 40));
		} else {
			put16(o3 + 2, (uint16_t)(len - g->outer_l3));
			put16(o3 + 10, csum_fold(g->outer_sum + varied + (len - g->outer_l3)));
		}
		if (g->outer_l4) {
			put16(dst + g->outer_l4 + 4, (uint16_t)(len - g->outer_l4));
			if (g->outer_sports > 1)
				put16(dst + g->outer_l4, (uint16_t)sport);
			if (g->outer_v6) {
				uint64_t o = g->outer_udp_base + varied + 2u * (len - g->outer_l4) + sport; /* pseudo and UDP lengths */
				uint16_t c;

				if (!g->ipv6 && g->proto != 1) /* minus the inner IPv4 pseudo-header */
					o += csum_neg(csum_add32(csum_add32(g->proto + udp_len, v[F_SADDR]), v[F_DADDR]));
				c = csum_fold(o);
				put16(dst + g->outer_l4 + 6, c ? c : 0xffff);
			}
		}
	}
	gen_walk_next(g);
	return len;
}

/* The send time the next frames carry, every interleaved stream's too (zero: the in-kernel
 * generator's template, which carries none). */
static inline void gen_stamp_at(struct gen *g, uint32_t sec, uint32_t usec_word)
{
	g->tv_sec = sec;
	g->tv_usec = usec_word;
	if (g->mux)
		for (uint32_t i = 0; i < g->mux->n; i++) {
			g->mux->s[i]->tv_sec = sec;
			g->mux->s[i]->tv_usec = usec_word;
		}
}

/* The batch's stamp: CLOCK_REALTIME in ns, read once per batch just before its frames are
 * written to the ring (one clock read: 24 ns here; a read per frame would cost as much as
 * building it). */
static inline void gen_stamp(struct gen *g)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	gen_stamp_at(g, (uint32_t)ts.tv_sec,
		     STAMP_NS_FLAG | (uint32_t)(ts.tv_nsec % 1000) << STAMP_NS_SHIFT | (uint32_t)(ts.tv_nsec / 1000));
}

#endif
