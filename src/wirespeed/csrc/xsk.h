/* AF_XDP: one socket, one UMEM, the four rings mapped from the kernel.
 *
 * The UMEM is preallocated once and split: the first half are RX frames, which cycle
 * fill ring -> RX ring -> us -> fill ring; the second half are TX frames, which cycle
 * free stack -> TX ring -> completion ring -> free stack. Nothing is allocated per packet.
 *
 * Each ring is a single-producer single-consumer queue of power-of-two size whose producer
 * and consumer words are shared with the kernel. The side that produces writes the entries,
 * then publishes the new producer index with release order; the side that consumes reads the
 * producer index with acquire order before it reads the entries, and hands slots back by
 * publishing its consumer index with release order once it is done with them.
 */
#ifndef WS_XSK_H
#define WS_XSK_H

#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "gen.h"
#include "sink.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9 /* Linux 6.17: frames one copy-mode sendto() may send (default 32) */
#endif

struct xsk_ring {
	uint32_t *producer, *consumer, *flags;
	void *ring;
	uint32_t mask;
	uint32_t prod, cons; /* our copy of the index we own */
	void *map;
	size_t map_len;
};

struct xsk {
	int fd;
	uint8_t *umem;
	size_t umem_len;
	uint32_t frame_size, ring_size, rx_frames;
	struct xsk_ring rx, tx, fq, cq;
	uint64_t *free_tx; /* TX frames not in flight */
	uint32_t nfree;
	uint64_t *held; /* frames handed to Python by rx_burst, back to the fill ring on the next */
	uint32_t nheld;
	int need_wakeup, has_rx, has_tx;
	int shared;         /* the UMEM is another socket's (XDP_SHARED_UMEM): not ours to unmap */
	uint32_t inflight;  /* shared: frames sent by address, not yet completed */
	uint32_t tx_budget; /* frames one kick sends in copy mode */
};

static inline uint32_t ring_load(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ring_store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static int xsk_map_ring(struct xsk *x, struct xsk_ring *r, const struct xdp_ring_offset *off, uint64_t pgoff,
			size_t entry)
{
	r->map_len = off->desc + (size_t)x->ring_size * entry;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, x->fd, (off_t)pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->producer = (uint32_t *)((uint8_t *)r->map + off->producer);
	r->consumer = (uint32_t *)((uint8_t *)r->map + off->consumer);
	r->flags = (uint32_t *)((uint8_t *)r->map + off->flags);
	r->ring = (uint8_t *)r->map + off->desc;
	r->mask = x->ring_size - 1;
	r->prod = *r->producer;
	r->cons = *r->consumer;
	return 0;
}

static void xsk_close(struct xsk *x)
{
	struct xsk_ring *rings[] = { &x->rx, &x->tx, &x->fq, &x->cq };

	for (size_t i = 0; i < 4; i++)
		if (rings[i]->map) {
			munmap(rings[i]->map, rings[i]->map_len);
			rings[i]->map = NULL;
		}
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	if (x->umem && !x->shared)
		munmap(x->umem, x->umem_len);
	x->umem = NULL;
	free(x->free_tx);
	free(x->held);
	x->free_tx = x->held = NULL;
}

/* Size the fill and completion rings (and RX, TX when wanted), then map them. */
static int xsk_rings(struct xsk *x, int rx, int tx, const char **step)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	uint32_t size = x->ring_size;
	int err;

	*step = "ring sizes";
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &size, sizeof(size)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &size, sizeof(size)) ||
	    (rx && setsockopt(x->fd, SOL_XDP, XDP_RX_RING, &size, sizeof(size))) ||
	    (tx && setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &size, sizeof(size))))
		return -errno;
	*step = "XDP_MMAP_OFFSETS";
	if (getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		return -errno;
	*step = "mapping the rings";
	if ((err = xsk_map_ring(x, &x->fq, &off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t))) ||
	    (err = xsk_map_ring(x, &x->cq, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t))) ||
	    (rx && (err = xsk_map_ring(x, &x->rx, &off.rx, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc)))) ||
	    (tx && (err = xsk_map_ring(x, &x->tx, &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc)))))
		return err;
	return 0;
}

/* Bind; a queue just released by another socket can refuse with EBUSY for a moment. Then ask
 * for a larger TX budget per kick where the kernel has the option. */
static int xsk_bind(struct xsk *x, struct sockaddr_xdp *sxdp, const char **step)
{
	uint32_t budget = 256;

	for (int tries = 0;; tries++) {
		if (!bind(x->fd, (struct sockaddr *)sxdp, sizeof(*sxdp)))
			break;
		if (errno != EBUSY || tries >= 100)
			return -errno;
		usleep(10000);
	}
	x->tx_budget = 32;
	if (x->has_tx && !setsockopt(x->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget)))
		x->tx_budget = budget;
	return 0;
}

/* Open, register the UMEM, map the rings, bind to ifindex/queue. bind_flags: XDP_COPY,
 * XDP_ZEROCOPY or 0 (the kernel picks), XDP_USE_NEED_WAKEUP added here. *step names what
 * failed. A queue just released by another socket can refuse with EBUSY for a moment. */
static int xsk_open(struct xsk *x, int ifindex, uint32_t queue, uint32_t ring_size, uint32_t frame_size,
		    uint32_t bind_flags, int rx, int tx, const char **step)
{
	struct xdp_umem_reg mr;
	struct sockaddr_xdp sxdp;
	uint32_t nframes = 2 * ring_size;
	int err = 0;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->ring_size = ring_size;
	x->frame_size = frame_size;
	x->rx_frames = ring_size;
	x->has_rx = rx;
	x->has_tx = tx;
	*step = "socket(AF_XDP)";
	x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	*step = "UMEM allocation";
	x->umem_len = (size_t)nframes * frame_size;
	x->umem = mmap(NULL, x->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	x->free_tx = calloc(ring_size, sizeof(uint64_t));
	x->held = calloc(ring_size, sizeof(uint64_t));
	if (x->umem == MAP_FAILED || !x->free_tx || !x->held) {
		if (x->umem == MAP_FAILED)
			x->umem = NULL;
		return -ENOMEM;
	}
	memset(&mr, 0, sizeof(mr));
	mr.addr = (uint64_t)(uintptr_t)x->umem;
	mr.len = x->umem_len;
	mr.chunk_size = frame_size;
	*step = "XDP_UMEM_REG";
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)))
		return -errno;
	if ((err = xsk_rings(x, rx, tx, step)))
		return err;
	/* Give the kernel every RX frame before the socket can receive. */
	for (uint32_t i = 0; i < x->rx_frames; i++)
		((uint64_t *)x->fq.ring)[(x->fq.prod + i) & x->fq.mask] = (uint64_t)i * frame_size;
	x->fq.prod += x->rx_frames;
	ring_store(x->fq.producer, x->fq.prod);
	for (uint32_t i = 0; i < ring_size; i++)
		x->free_tx[x->nfree++] = (uint64_t)(x->rx_frames + i) * frame_size;

	memset(&sxdp, 0, sizeof(sxdp));
	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_ifindex = (uint32_t)ifindex;
	sxdp.sxdp_queue_id = queue;
	sxdp.sxdp_flags = (uint16_t)(bind_flags | XDP_USE_NEED_WAKEUP);
	*step = "bind";
	if ((err = xsk_bind(x, &sxdp, step)))
		return err;
	x->need_wakeup = 1;
	return 0;
}

/* A socket on another interface (or queue) sharing `owner`'s UMEM: its own fill, completion
 * and TX rings (the kernel asks for own fill/completion rings when the device differs), no
 * frames of its own. Its TX descriptors point at frames the owner received: forwarding
 * without copying; its completion ring gives them back (xsk_recycle). */
static int xsk_open_shared(struct xsk *x, struct xsk *owner, int ifindex, uint32_t queue, const char **step)
{
	struct sockaddr_xdp sxdp;
	int err;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->ring_size = owner->ring_size;
	x->frame_size = owner->frame_size;
	x->umem = owner->umem;
	x->umem_len = owner->umem_len;
	x->shared = 1;
	x->has_tx = 1;
	*step = "socket(AF_XDP)";
	x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	x->free_tx = calloc(1, sizeof(uint64_t));
	x->held = calloc(1, sizeof(uint64_t));
	if (!x->free_tx || !x->held)
		return -ENOMEM;
	if ((err = xsk_rings(x, 0, 1, step)))
		return err;
	memset(&sxdp, 0, sizeof(sxdp));
	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_ifindex = (uint32_t)ifindex;
	sxdp.sxdp_queue_id = queue;
	sxdp.sxdp_flags = XDP_SHARED_UMEM; /* copy mode and wakeup follow the UMEM's first socket */
	sxdp.sxdp_shared_umem_fd = (uint32_t)owner->fd;
	*step = "bind (shared UMEM)";
	if ((err = xsk_bind(x, &sxdp, step)))
		return err;
	x->need_wakeup = 0; /* kick every time: the flag is the first socket's choice */
	return 0;
}

/* Take back the TX frames the kernel is done with. */
static inline void xsk_complete(struct xsk *x)
{
	uint32_t prod = ring_load(x->cq.producer), n = prod - x->cq.cons;

	for (uint32_t i = 0; i < n; i++)
		x->free_tx[x->nfree++] = ((uint64_t *)x->cq.ring)[(x->cq.cons + i) & x->cq.mask];
	x->cq.cons = prod;
	ring_store(x->cq.consumer, prod);
}

/* Ask the kernel to send what the TX ring holds (copy mode sends inside this call). */
static inline void xsk_kick_tx(struct xsk *x, uint64_t *c)
{
	if (x->need_wakeup && !(*x->tx.flags & XDP_RING_NEED_WAKEUP))
		return;
	c[C_SYSCALLS]++;
	if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY &&
	    errno != ENOBUFS && errno != ENETDOWN)
		c[C_ERRORS]++;
}

static inline uint32_t xsk_tx_room(struct xsk *x)
{
	return x->ring_size - (x->tx.prod - ring_load(x->tx.consumer));
}

/* Publish k descriptors already written at tx.prod.., kick once per budget's worth, count them. */
static inline void xsk_tx_send(struct xsk *x, uint32_t k, uint64_t bytes, uint64_t *c)
{
	x->tx.prod += k;
	ring_store(x->tx.producer, x->tx.prod);
	for (uint32_t sent = 0; sent < k; sent += x->tx_budget)
		xsk_kick_tx(x, c);
	c[C_PACKETS] += k;
	c[C_BYTES] += bytes;
	c[C_BATCHES]++;
}

/* How many of n frames can go now: completed frames taken back first, then bounded by free TX
 * frames and TX ring room. */
static inline uint32_t xsk_tx_claim(struct xsk *x, uint32_t n)
{
	uint32_t room;

	xsk_complete(x);
	room = xsk_tx_room(x);
	n = n < x->nfree ? n : x->nfree;
	return n < room ? n : room;
}

/* Build up to n frames straight into free TX frames of the UMEM and send them.
 * Measured on veth, copy mode, 64-byte frames, batch 64, into XDP drop on the peer:
 * 600 ns/pkt data path (1.67 Mpps), nearly all of it the kernel's copy-mode transmit. */
static uint32_t xsk_tx_gen(void *port, struct gen *g, uint32_t n, uint64_t *c)
{
	struct xsk *x = port;
	uint32_t k = xsk_tx_claim(x, n);
	uint64_t bytes = 0;
	struct xdp_desc *d = x->tx.ring;

	if (!k) {
		c[C_RING_FULL]++;
		return 0;
	}
	if (g->stamp)
		gen_stamp(g);
	for (uint32_t i = 0; i < k; i++) {
		uint64_t addr = x->free_tx[--x->nfree];
		uint32_t len = gen_build(g, x->umem + addr);

		d[(x->tx.prod + i) & x->tx.mask] = (struct xdp_desc){ .addr = addr, .len = len };
		bytes += len;
	}
	xsk_tx_send(x, k, bytes, c);
	return k;
}

static void xsk_tx_wait(void *port, uint64_t *c)
{
	struct xsk *x = port;

	c[C_SYSCALLS]++;
	sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	xsk_complete(x);
}

/* Copy n frames (offsets/lengths into buf) into free TX frames and send: best effort. */
static uint32_t xsk_tx_burst(struct xsk *x, const uint8_t *buf, size_t buflen, const uint64_t *off,
			     const uint32_t *len, uint32_t n, uint64_t *c)
{
	uint32_t k = xsk_tx_claim(x, n);
	uint64_t bytes = 0;
	struct xdp_desc *d = x->tx.ring;

	for (uint32_t i = 0; i < k; i++) {
		uint64_t addr = x->free_tx[x->nfree - 1];

		if (len[i] > x->frame_size || off[i] + len[i] > buflen) {
			c[C_ERRORS]++;
			k = i;
			break;
		}
		x->nfree--;
		memcpy(x->umem + addr, buf + off[i], len[i]);
		d[(x->tx.prod + i) & x->tx.mask] = (struct xdp_desc){ .addr = addr, .len = len[i] };
		bytes += len[i];
	}
	if (k)
		xsk_tx_send(x, k, bytes, c);
	return k;
}

/* Frames still in the TX ring or in flight. */
static inline uint32_t xsk_tx_outstanding(struct xsk *x) { return x->ring_size - x->nfree; }

static inline uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Return frames to the fill ring (there is always room: frames only cycle). */
static inline void xsk_refill(struct xsk *x, const uint64_t *addrs, uint32_t n)
{
	uint64_t *f = x->fq.ring;
	uint64_t keep = ~(uint64_t)(x->frame_size - 1);

	for (uint32_t i = 0; i < n; i++)
		f[(x->fq.prod + i) & x->fq.mask] = addrs[i] & keep;
	x->fq.prod += n;
	ring_store(x->fq.producer, x->fq.prod);
}

/* The fill ring ran dry and the driver sleeps: wake it. */
static inline void xsk_kick_rx(struct xsk *x, uint64_t *c)
{
	if (x->need_wakeup && (*x->fq.flags & XDP_RING_NEED_WAKEUP)) {
		c[C_SYSCALLS]++;
		recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

/* Account up to max received frames in place and give them straight back to the fill ring.
 * Measured: 34 ns/pkt data path at batch 256, 6.7 Mpps received from the in-kernel generator. */
static uint32_t xsk_rx_sink(void *port, struct sink *k, uint32_t max, uint64_t *c)
{
	struct xsk *x = port;
	uint32_t prod = ring_load(x->rx.producer), n = prod - x->rx.cons, fprod = x->fq.prod;
	struct xdp_desc *d = x->rx.ring;
	uint64_t *f = x->fq.ring, keep = ~(uint64_t)(x->frame_size - 1), bytes = 0, now;

	if (n > max)
		n = max;
	if (!n) {
		xsk_kick_rx(x, c);
		return 0;
	}
	now = realtime_ns();
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *e = &d[(x->rx.cons + i) & x->rx.mask];

		sink_frame(k, x->umem + e->addr, e->len, now);
		bytes += e->len;
		f[(fprod + i) & x->fq.mask] = e->addr & keep;
	}
	x->rx.cons += n;
	ring_store(x->rx.consumer, x->rx.cons);
	x->fq.prod += n;
	ring_store(x->fq.producer, x->fq.prod);
	c[C_PACKETS] += n;
	c[C_BYTES] += bytes;
	c[C_BATCHES]++;
	return n;
}

static int xsk_rx_wait(void *port, int ms, uint64_t *c)
{
	struct xsk *x = port;
	struct pollfd p = { .fd = x->fd, .events = POLLIN };

	c[C_SYSCALLS]++;
	return poll(&p, 1, ms);
}

/* Up to max frames as UMEM offsets and lengths, zero copy; they stay ours until the next call. */
static uint32_t xsk_rx_burst(struct xsk *x, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max, uint64_t *c)
{
	uint32_t prod, n;
	struct xdp_desc *d = x->rx.ring;
	uint64_t now, bytes = 0;

	xsk_refill(x, x->held, x->nheld);
	x->nheld = 0;
	prod = ring_load(x->rx.producer);
	n = prod - x->rx.cons;
	if (n > max)
		n = max;
	if (n > x->ring_size)
		n = x->ring_size;
	if (!n) {
		xsk_kick_rx(x, c);
		return 0;
	}
	now = realtime_ns();
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *e = &d[(x->rx.cons + i) & x->rx.mask];

		off[i] = e->addr;
		len[i] = e->len;
		ts[i] = now;
		x->held[i] = e->addr;
		bytes += e->len;
	}
	x->nheld = n;
	x->rx.cons += n;
	ring_store(x->rx.consumer, x->rx.cons);
	c[C_PACKETS] += n;
	c[C_BYTES] += bytes;
	c[C_BATCHES]++;
	return n;
}

/* Up to max received frames as (addr, len), zero copy, and NOT given back to the fill ring:
 * the caller owns them until it refills them (dropped) or another socket sends and
 * completes them (xsk_recycle). */
static uint32_t xsk_rx_take(struct xsk *x, uint64_t *addr, uint32_t *len, uint32_t max, uint64_t *c)
{
	uint32_t prod = ring_load(x->rx.producer), n = prod - x->rx.cons;
	struct xdp_desc *d = x->rx.ring;
	uint64_t bytes = 0;

	if (n > max)
		n = max;
	if (!n) {
		xsk_kick_rx(x, c);
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *e = &d[(x->rx.cons + i) & x->rx.mask];

		addr[i] = e->addr;
		len[i] = e->len;
		bytes += e->len;
	}
	x->rx.cons += n;
	ring_store(x->rx.consumer, x->rx.cons);
	c[C_PACKETS] += n;
	c[C_BYTES] += bytes;
	c[C_BATCHES]++;
	return n;
}

/* Send n frames already in the (shared) UMEM by address: best effort, no copy. */
static uint32_t xsk_tx_addrs(struct xsk *x, const uint64_t *addr, const uint32_t *len, uint32_t n, uint64_t *c)
{
	uint32_t room = xsk_tx_room(x), k = n < room ? n : room;
	struct xdp_desc *d = x->tx.ring;
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < k; i++) {
		d[(x->tx.prod + i) & x->tx.mask] = (struct xdp_desc){ .addr = addr[i], .len = len[i] };
		bytes += len[i];
	}
	if (k) {
		x->inflight += k;
		xsk_tx_send(x, k, bytes, c);
	} else {
		c[C_RING_FULL]++;
		xsk_kick_tx(x, c);
	}
	return k;
}

/* Frames `tx` has finished sending go back to `rx`'s fill ring. Returns how many. */
static uint32_t xsk_recycle(struct xsk *tx, struct xsk *rx)
{
	uint32_t prod = ring_load(tx->cq.producer), n = prod - tx->cq.cons;
	uint64_t *f = rx->fq.ring, keep = ~(uint64_t)(rx->frame_size - 1);

	for (uint32_t i = 0; i < n; i++)
		f[(rx->fq.prod + i) & rx->fq.mask] = ((uint64_t *)tx->cq.ring)[(tx->cq.cons + i) & tx->cq.mask] & keep;
	tx->cq.cons = prod;
	ring_store(tx->cq.consumer, prod);
	tx->inflight -= n;
	if (n) {
		rx->fq.prod += n;
		ring_store(rx->fq.producer, rx->fq.prod);
	}
	return n;
}

#endif
