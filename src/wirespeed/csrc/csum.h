/* Internet checksum (RFC 1071) over big-endian 16-bit words, accumulated in 64 bits. */
#ifndef WS_CSUM_H
#define WS_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* For a checker: the ones' complement sum of p[0..len) plus `sum`, taken in host byte order
 * (RFC 1071 2(B): the sum does not depend on the order it is taken in) in 64-bit words with
 * the carries added back (2(C)), into two 128-bit accumulators so that one carry chain does
 * not wait on the other. A checker adds the pseudo-header's fields as they lie in memory and
 * asks csum_host_ok(): 0xffff reads the same in either byte order. Measured with the sink's
 * checks in bench/sink_accounting.py. */
static inline uint64_t csum_host(uint64_t sum, const uint8_t *p, size_t len)
{
	unsigned __int128 a0 = sum, a1 = 0;
	uint64_t q0, q1, lo, s;
	uint32_t w;
	uint16_t h;

	for (; len >= 16; p += 16, len -= 16) {
		memcpy(&q0, p, 8);
		memcpy(&q1, p + 8, 8);
		a0 += q0;
		a1 += q1;
	}
	if (len >= 8) {
		memcpy(&q0, p, 8);
		a0 += q0;
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w, p, 4);
		a1 += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		a1 += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		a1 += h;
	}
	a0 += a1;
	lo = (uint64_t)a0;
	s = lo + (uint64_t)(a0 >> 64);
	return s + (s < lo); /* the end-around carry */
}

/* A sum whose fold is 0xffff: 2^16 = 1 (mod 0xffff), so the fold of a non-zero sum is 0xffff
 * exactly when the sum is a multiple of 0xffff (one multiply, no chain of folds). */
static inline int csum_host_ok(uint64_t s)
{
	return s && s % 0xffff == 0;
}

static inline uint64_t csum_add32(uint64_t sum, uint32_t v)
{
	return sum + (v >> 16) + (v & 0xffff);
}

/* -x in ones' complement: added to a sum it takes x away. */
static inline uint64_t csum_neg(uint64_t x)
{
	while (x >> 16)
		x = (x & 0xffff) + (x >> 16);
	return ~x & 0xffff;
}

static inline uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
