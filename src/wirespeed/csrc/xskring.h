/* The AF_XDP ring access layer: every loop over the fill, completion, RX and TX rings goes
 * through these four calls (consumer: peek, release; producer: reserve, submit).
 *
 * Each ring is a single-producer single-consumer queue of power-of-two size whose producer
 * and consumer words are shared with the kernel. The producer writes entries, then publishes
 * its new index with release order; the consumer reads the producer index with acquire order
 * before it reads the entries, and hands slots back by publishing its index with release order
 * once it is done with them. Our own index is exact; the other side's is cached and re-read
 * only when the cache says there is not enough (a shared cache line read less often).
 */
#ifndef WS_XSKRING_H
#define WS_XSKRING_H

#include <linux/if_xdp.h>
#include <stddef.h>
#include <stdint.h>

struct xsk_ring {
	uint32_t *producer, *consumer, *flags;
	void *ring;
	uint32_t mask, size;
	uint32_t prod, cons; /* the index we own is exact; the other is our last reading of it */
	void *map;
	size_t map_len;
};

static inline uint32_t ring_load(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ring_store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Consumer: up to max entries the producer has published, the first at index *at. */
static inline uint32_t xring_peek(struct xsk_ring *r, uint32_t max, uint32_t *at)
{
	uint32_t n = r->prod - r->cons;

	if (n < max) {
		r->prod = ring_load(r->producer);
		n = r->prod - r->cons;
	}
	*at = r->cons;
	return n < max ? n : max;
}

/* Consumer: the first n peeked entries are done with; the producer may reuse their slots. */
static inline void xring_release(struct xsk_ring *r, uint32_t n)
{
	if (n) {
		r->cons += n;
		ring_store(r->consumer, r->cons);
	}
}

/* Producer: room for up to n entries, the first at index *at. */
static inline uint32_t xring_reserve(struct xsk_ring *r, uint32_t n, uint32_t *at)
{
	uint32_t room = r->size - (r->prod - r->cons);

	if (room < n) {
		r->cons = ring_load(r->consumer);
		room = r->size - (r->prod - r->cons);
	}
	*at = r->prod;
	return n < room ? n : room;
}

/* Producer: publish the first n reserved entries. */
static inline void xring_submit(struct xsk_ring *r, uint32_t n)
{
	if (n) {
		r->prod += n;
		ring_store(r->producer, r->prod);
	}
}

/* Entry i of a descriptor ring (RX, TX) or of an address ring (fill, completion). */
static inline struct xdp_desc *xring_desc(struct xsk_ring *r, uint32_t i)
{
	return &((struct xdp_desc *)r->ring)[i & r->mask];
}

static inline uint64_t *xring_addr(struct xsk_ring *r, uint32_t i)
{
	return &((uint64_t *)r->ring)[i & r->mask];
}

/* Frames the kernel still holds in a producer ring we fill (TX): submitted, not consumed. */
static inline uint32_t xring_pending(struct xsk_ring *r)
{
	return r->prod - ring_load(r->consumer);
}

#endif
