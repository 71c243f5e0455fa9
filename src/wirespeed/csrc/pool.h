/* A pool of fixed-size buffers in one preallocated region (shared memory): the free buffers'
 * indices sit in a multi-producer multi-consumer ring; each worker keeps a small cache in
 * front of it, refilled and drained in bulk, so most alloc/free touch no shared cache line and
 * take no LOCK-prefixed instruction (qmempool's design: per-CPU cache before a shared ring).
 *
 * Region: struct pool_hdr | the ring | buffers (nbufs x buf_size, 64-byte aligned).
 * Each worker publishes its cached and in-flight counts in the header (written only by that
 * worker), so free + cached + in flight = total can be checked at any time.
 */
#ifndef WS_POOL_H
#define WS_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"

#define POOL_MAGIC 0x5753504cu /* "WSPL" */
#define POOL_WORKERS 64
#define POOL_CACHE_MAX 512

struct pool_worker {
	int64_t cached, in_flight;
	uint8_t pad[48];
};

struct pool_hdr {
	uint32_t magic, nbufs, buf_size, ring_size;
	uint64_t ring_off, data_off, region;
	uint8_t pad[32];
	struct pool_worker w[POOL_WORKERS];
} __attribute__((aligned(64)));

struct pool_cache {
	struct pool_hdr *h;
	struct ring *r;
	uint32_t worker, n, max, refill; /* cache holds n; drains above max; refills `refill` at a time */
	uint64_t locks;                   /* LOCK-prefixed operations this worker executed */
	uint64_t items[POOL_CACHE_MAX * 2];
};

static inline uint32_t pool_pow2(uint32_t n)
{
	uint32_t s = 1;

	while (s < n)
		s <<= 1;
	return s;
}

static inline size_t pool_bytes(uint32_t nbufs, uint32_t buf_size)
{
	size_t ring = (ring_bytes(pool_pow2(nbufs)) + 63) & ~(size_t)63;

	return sizeof(struct pool_hdr) + ring + (size_t)nbufs * buf_size;
}

static inline int pool_init(struct pool_hdr *h, uint32_t nbufs, uint32_t buf_size)
{
	struct ring *r;
	uint64_t locks = 0;

	if (!nbufs || buf_size < 64 || buf_size % 64)
		return -1;
	memset(h, 0, sizeof(*h));
	h->nbufs = nbufs;
	h->buf_size = buf_size;
	h->ring_size = pool_pow2(nbufs);
	h->ring_off = sizeof(struct pool_hdr);
	h->data_off = h->ring_off + ((ring_bytes(h->ring_size) + 63) & ~(uint64_t)63);
	h->region = pool_bytes(nbufs, buf_size);
	r = (struct ring *)((uint8_t *)h + h->ring_off);
	ring_init(r, h->ring_size, RING_MP | RING_MC);
	for (uint32_t i = 0; i < nbufs; i++) {
		uint64_t idx = i;

		ring_enqueue(r, &idx, 1, 1, &locks);
	}
	__atomic_store_n(&h->magic, POOL_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

static inline int pool_attach(struct pool_cache *c, struct pool_hdr *h, uint32_t worker, uint32_t max,
			      uint32_t refill)
{
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != POOL_MAGIC || worker >= POOL_WORKERS ||
	    max > POOL_CACHE_MAX || refill > max)
		return -1;
	memset(c, 0, offsetof(struct pool_cache, items));
	c->h = h;
	c->r = (struct ring *)((uint8_t *)h + h->ring_off);
	c->worker = worker;
	c->max = max;
	c->refill = refill;
	return 0;
}

static inline void pool_publish(struct pool_cache *c, int64_t out)
{
	struct pool_worker *w = &c->h->w[c->worker];

	__atomic_store_n(&w->cached, (int64_t)c->n, __ATOMIC_RELAXED);
	__atomic_store_n(&w->in_flight, w->in_flight + out, __ATOMIC_RELAXED);
}

/* n buffer indices into out. bulk: all or none (0 or n); else as many as there are. */
static inline uint32_t pool_alloc(struct pool_cache *c, uint64_t *out, uint32_t n, int bulk)
{
	uint32_t k;

	if (c->n < n && c->max) {
		/* Refill in bulk: one trip to the shared ring for many allocations. */
		uint32_t want = n - c->n > c->refill ? n - c->n : c->refill;

		if (c->n + want > POOL_CACHE_MAX * 2)
			want = POOL_CACHE_MAX * 2 - c->n;
		c->n += ring_dequeue(c->r, c->items + c->n, want, 0, &c->locks);
	}
	if (!c->max) { /* no cache: straight from the ring */
		k = ring_dequeue(c->r, out, n, bulk, &c->locks);
		pool_publish(c, k);
		return k;
	}
	k = c->n < n ? c->n : n;
	if (bulk && k < n)
		k = 0;
	c->n -= k;
	memcpy(out, c->items + c->n, (size_t)k * sizeof(uint64_t));
	pool_publish(c, k);
	return k;
}

/* Give n buffers back (always succeeds: the ring holds every buffer). */
static inline void pool_free(struct pool_cache *c, const uint64_t *items, uint32_t n)
{
	if (!c->max) {
		ring_enqueue(c->r, items, n, 1, &c->locks);
		pool_publish(c, -(int64_t)n);
		return;
	}
	while (n) {
		uint32_t room = POOL_CACHE_MAX * 2 - c->n, k = n < room ? n : room;

		memcpy(c->items + c->n, items, (size_t)k * sizeof(uint64_t));
		c->n += k;
		items += k;
		n -= k;
		if (c->n > c->max) {
			/* Drain in bulk down to half, keeping the most recently freed (cache-warm) ones. */
			uint32_t drain = c->n - c->max / 2;

			ring_enqueue(c->r, c->items, drain, 1, &c->locks);
			memmove(c->items, c->items + drain, (size_t)(c->n - drain) * sizeof(uint64_t));
			c->n -= drain;
		}
		pool_publish(c, -(int64_t)k);
	}
}

/* Hand the cache back to the shared ring (a worker leaving). */
static inline void pool_flush(struct pool_cache *c)
{
	if (c->n)
		ring_enqueue(c->r, c->items, c->n, 1, &c->locks);
	c->n = 0;
	pool_publish(c, 0);
}

#endif
