/* AF_PACKET mmap rings: a TPACKET_V2 TX ring filled in place and kicked with one send() per
 * batch (the user-space xmit_more), and a TPACKET_V3 RX block ring walked in place.
 * Every function returns frames moved; failures of set-up return -errno.
 */
#ifndef WS_AFPACKET_H
#define WS_AFPACKET_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg (txstamp.h) */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "counters.h"
#include "gen.h"
#include "sink.h"
#include "txstamp.h"

#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000 /* Linux 4.20; older UAPI headers lack it */
#endif

/* Where frame data starts in a V2 TX slot: the kernel reads it at tp_hdrlen - sizeof(sockaddr_ll). */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

struct afp_tx {
	int fd;
	int kick_flags;
	uint32_t vnet; /* bytes of virtio_net_hdr before each frame (0: none) */
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size, frame_nr, head;
	uint32_t waiting; /* without waiting sends: the posted frames the kernel has not taken, the last
			   * ones before head (a count: head alone cannot tell "none" from "the whole ring") */
	int stamping;   /* the kernel's transmit stamps are read after each send (txstamp.h) */
	int bypass;     /* PACKET_QDISC_BYPASS is on */
	struct txstamp ts;
};

struct afp_rx {
	int fd;
	uint8_t *map;
	size_t map_len;
	uint32_t block_size, block_nr;
	uint32_t cur, cur_pkt;     /* next block, and how many of its packets were taken */
	uint32_t held_from, held;  /* finished blocks the caller may still be reading */
};

static int afp_socket(int protocol)
{
	int fd = socket(AF_PACKET, SOCK_RAW, protocol);

	return fd < 0 ? -errno : fd;
}

static int afp_bind(int fd, int ifindex, int protocol)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = (uint16_t)protocol;
	sll.sll_ifindex = ifindex;
	return bind(fd, (struct sockaddr *)&sll, sizeof(sll)) ? -errno : 0;
}

/* *step names what failed, for the error message. */
/* linear: prefix each frame with a virtio_net_hdr whose hdr_len covers the whole frame, so
 * the kernel copies it into the skb's linear area instead of attaching the ring page as a
 * fragment (no get_page/put_page pair per packet, no header pulls on the way in). */
static int afp_tx_open(struct afp_tx *t, int ifindex, uint32_t frame_size, uint32_t frame_nr,
		       int qdisc_bypass, int linear, int dontwait, const char **step)
{
	int v = TPACKET_V2, fd;
	struct tpacket_req req;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	*step = "socket(AF_PACKET)";
	fd = afp_socket(0); /* protocol 0: this socket receives nothing */
	if (fd < 0)
		return fd;
	t->fd = fd;
	*step = "PACKET_VERSION";
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
		return -errno;
	*step = "PACKET_VNET_HDR";
	if (linear && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &linear, sizeof(linear)))
		return -errno;
	t->vnet = linear ? sizeof(struct virtio_net_hdr) : 0;
	*step = "PACKET_QDISC_BYPASS";
	if (qdisc_bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &qdisc_bypass, sizeof(qdisc_bypass)))
		return -errno;
	t->bypass = qdisc_bypass;
	req.tp_block_size = frame_size * 16 > 65536 ? frame_size * 16 : 65536;
	req.tp_frame_size = frame_size;
	req.tp_frame_nr = frame_nr;
	req.tp_block_nr = (uint32_t)(((uint64_t)frame_nr * frame_size) / req.tp_block_size);
	*step = "PACKET_TX_RING";
	if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))
		return -errno;
	t->map_len = (size_t)req.tp_block_size * req.tp_block_nr;
	*step = "mmap of the TX ring";
	t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		return -errno;
	}
	t->frame_size = frame_size;
	t->frame_nr = frame_nr;
	t->kick_flags = dontwait ? MSG_DONTWAIT : 0;
	if (dontwait) { /* a send buffer for the whole ring in flight (SO_SNDBUFFORCE needs CAP_NET_ADMIN) */
		int sb = (int)((uint64_t)frame_nr * frame_size < INT32_MAX / 2 ? frame_nr * frame_size : INT32_MAX / 2);

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof(sb)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
	}
	*step = "bind";
	return afp_bind(fd, ifindex, 0);
}

static int afp_tx_drop_refused(struct afp_tx *t, uint64_t *c);
static inline void afp_tx_sync_taken(struct afp_tx *t);

/* Without waiting sends, frames can still wait in the ring when a run or a trial ends (the send
 * buffer was full at the last kick): offer them until the kernel has taken every one, for at
 * most 100 ms; how many it had not. Refusals are dropped as in a run (counted in c when given;
 * the interface counts them as tx_dropped). */
static uint32_t afp_tx_flush(struct afp_tx *t, uint64_t *c)
{
	uint64_t none[C_COUNT] = { 0 };
	int i;

	if (t->map && t->stamping) /* the stamps of frames sent by the last kick */
		txstamp_read(&t->ts, t->fd);
	if (!t->map || !(t->kick_flags & MSG_DONTWAIT))
		return 0;
	for (i = 0; i < 1000; i++) {
		afp_tx_sync_taken(t);
		if (t->stamping)
			txstamp_read(&t->ts, t->fd);
		if (!t->waiting)
			return 0;
		if (send(t->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno == ENOBUFS)
			afp_tx_drop_refused(t, c ? c : none);
		else
			usleep(100);
	}
	return t->waiting;
}

static void afp_tx_close(struct afp_tx *t)
{
	afp_tx_flush(t, NULL);
	if (t->map)
		munmap(t->map, t->map_len);
	if (t->fd >= 0)
		close(t->fd);
	t->map = NULL;
	t->fd = -1;
}

static inline struct tpacket2_hdr *afp_tx_slot(struct afp_tx *t, uint32_t i)
{
	return (struct tpacket2_hdr *)(t->map + (size_t)i * t->frame_size);
}

/* Claim the next free slot, or NULL when the kernel still owns it (ring full). */
static inline uint8_t *afp_tx_claim(struct afp_tx *t, uint64_t *c)
{
	struct tpacket2_hdr *h = afp_tx_slot(t, t->head);
	/* Acquire: the kernel's last use of this slot happens before we write it again. */
	uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);

	if (st == TP_STATUS_WRONG_FORMAT) {
		c[C_ERRORS]++;
		st = TP_STATUS_AVAILABLE;
	}
	return st == TP_STATUS_AVAILABLE ? (uint8_t *)h + TX_DATA_OFF + t->vnet : NULL;
}

static inline void afp_tx_post(struct afp_tx *t, uint32_t len)
{
	struct tpacket2_hdr *h = afp_tx_slot(t, t->head);

	if (t->vnet) {
		struct virtio_net_hdr *v = (struct virtio_net_hdr *)((uint8_t *)h + TX_DATA_OFF);

		memset(v, 0, sizeof(*v)); /* no GSO, no checksum offload */
		v->hdr_len = (uint16_t)len; /* little-endian virtio16 on x86 */
	}
	h->tp_len = len + t->vnet;
	/* Release: the frame bytes are visible before the kernel sees SEND_REQUEST. */
	__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	t->head = t->head + 1 == t->frame_nr ? 0 : t->head + 1;
	t->waiting++;
}

static inline uint32_t afp_tx_next(const struct afp_tx *t, uint32_t i)
{
	return i + 1 == t->frame_nr ? 0 : i + 1;
}

/* The slot the kernel takes next: the first of the waiting frames. */
static inline uint32_t afp_tx_khead(const struct afp_tx *t)
{
	return (t->head + t->frame_nr - t->waiting) % t->frame_nr;
}

/* Count off the frames the kernel has taken (one load per frame posted since). A count, not a
 * second index compared with head: with the ring full the two were equal, and the comparison
 * read that as empty (a refusal then dropped the wrong frame, and a flush at the end left a whole
 * ring unsent: 0.6-1.2 % of an overloaded run's frames seen by neither interface counter in one
 * run of four). */
static inline void afp_tx_sync_taken(struct afp_tx *t)
{
	for (uint32_t k = afp_tx_khead(t); t->waiting; k = afp_tx_next(t, k), t->waiting--)
		if (__atomic_load_n(&afp_tx_slot(t, k)->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SEND_REQUEST)
			break;
}

/* Without waiting sends a frame the interface (or its qdisc) refused is dropped, not retried:
 * AF_PACKET puts a refused frame back to SEND_REQUEST, and its next send() would offer it
 * again, so a receiver's full queue (over veth a DUT's backlog) would hold the sender back at
 * the receiver's rate. The refused frame is the first still waiting (afp_tx_khead); the frames
 * posted after it move down one slot (the kernel takes the ring's slots in order), the last
 * slot goes back to us. Counted in errors; the interface counts it as tx_dropped. Returns
 * whether a frame was dropped (then kick again for the rest). */
static int afp_tx_drop_refused(struct afp_tx *t, uint64_t *c)
{
	uint32_t last;

	afp_tx_sync_taken(t);
	if (!t->waiting)
		return 0;
	last = afp_tx_khead(t);
	for (uint32_t i = 0; i + 1 < t->waiting; i++) {
		struct tpacket2_hdr *dst = afp_tx_slot(t, last), *src = afp_tx_slot(t, afp_tx_next(t, last));

		memcpy((uint8_t *)dst + TX_DATA_OFF, (uint8_t *)src + TX_DATA_OFF, src->tp_len);
		dst->tp_len = src->tp_len;
		last = afp_tx_next(t, last);
	}
	/* the slot the last frame came from is ours again; every moved frame is still SEND_REQUEST */
	__atomic_store_n(&afp_tx_slot(t, last)->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
	t->head = last;
	t->waiting--;
	c[C_ERRORS]++;
	return 1;
}

/* One send() hands the kernel every posted frame; without waiting sends, a frame the interface
 * refused is dropped and the rest offered again. */
static inline void afp_tx_kick(struct afp_tx *t, uint32_t n, uint64_t *c)
{
	for (;;) {
		c[C_SYSCALLS]++;
		if (send(t->fd, NULL, 0, t->kick_flags) >= 0)
			break;
		if (errno == ENOBUFS && (t->kick_flags & MSG_DONTWAIT)) {
			if (afp_tx_drop_refused(t, c))
				continue;
			break;
		}
		if (errno != EAGAIN && errno != ENOBUFS)
			c[C_ERRORS] += n;
		break;
	}
	if (t->kick_flags & MSG_DONTWAIT)
		afp_tx_sync_taken(t);
}

/* The ring is full: wait (at most 1 ms) for the kernel to free slots. Without waiting sends
 * (MSG_DONTWAIT) a kick may have left frames in the ring (the send buffer was full): kick again. */
static void afp_tx_wait(void *port, uint64_t *c)
{
	struct afp_tx *t = port;
	struct pollfd p = { .fd = t->fd, .events = POLLOUT };

	c[C_RING_FULL]++;
	if (t->kick_flags & MSG_DONTWAIT) /* frames a full send buffer left in the ring: hand them over */
		afp_tx_kick(t, 0, c);
	c[C_SYSCALLS]++;
	poll(&p, 1, 1);
}

/* Build up to n frames straight into the ring, then kick once. 38 ns/pkt at batch 64 (veth). */
static uint32_t afp_tx_gen(void *port, struct gen *g, uint32_t n, uint64_t *c)
{
	struct afp_tx *t = port;
	struct gen_batch b;
	uint64_t bytes = 0;
	uint32_t i;
	uint8_t *d;

	if (g->stamp)
		gen_stamp(g);
	gen_batch_begin(&b, g, n);
	for (i = 0; i < n && (d = afp_tx_claim(t, c)); i++) {
		uint32_t len = gen_batch_build(&b, d);
		afp_tx_post(t, len);
		bytes += len;
	}
	gen_batch_end(&b);
	if (i)
		afp_tx_kick(t, i, c);
	if (t->stamping)
		txstamp_read(&t->ts, t->fd);
	counters_batch(c, i, bytes);
	return i;
}

/* Copy n frames (base + off[i], len[i]) into the ring and kick once: the forwarder's transmit. */
static uint32_t afp_tx_frames(struct afp_tx *t, const uint8_t *base, const uint64_t *off,
			      const uint32_t *len, uint32_t n, uint64_t *c)
{
	uint64_t bytes = 0;
	uint32_t i, max = t->frame_size - (uint32_t)TX_DATA_OFF - t->vnet;
	uint8_t *d;

	for (i = 0; i < n && (d = afp_tx_claim(t, c)); i++) {
		uint32_t l = len[i] < max ? len[i] : max;
		memcpy(d, base + off[i], l);
		afp_tx_post(t, l);
		bytes += l;
	}
	if (i)
		afp_tx_kick(t, i, c);
	counters_batch(c, i, bytes);
	return i;
}

/* The same from frames anywhere in memory (addresses, e.g. malloc'd buffers), kicked once. */
static uint32_t afp_tx_ptrs(struct afp_tx *t, const uint64_t *addr, const uint32_t *len, uint32_t n, uint64_t *c)
{
	uint64_t bytes = 0;
	uint32_t i, max = t->frame_size - (uint32_t)TX_DATA_OFF - t->vnet;
	uint8_t *d;

	for (i = 0; i < n && (d = afp_tx_claim(t, c)); i++) {
		uint32_t l = len[i] < max ? len[i] : max;
		memcpy(d, (const uint8_t *)(uintptr_t)addr[i], l);
		afp_tx_post(t, l);
		bytes += l;
	}
	if (i)
		afp_tx_kick(t, i, c);
	counters_batch(c, i, bytes);
	return i;
}

static int afp_rx_open(struct afp_rx *r, int ifindex, uint32_t block_size, uint32_t block_nr,
		       uint32_t tov_ms, int fanout_group, int fanout_mode, const char **step)
{
	int v = TPACKET_V3, fd;
	struct tpacket_req3 req;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	*step = "socket(AF_PACKET)";
	fd = afp_socket(htons(ETH_P_ALL));
	if (fd < 0)
		return fd;
	r->fd = fd;
	*step = "PACKET_VERSION";
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
		return -errno;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = block_size;
	req.tp_block_nr = block_nr;
	req.tp_frame_size = 2048; /* V3 packs frames by length; this only sizes frame_nr */
	req.tp_frame_nr = (uint32_t)(((uint64_t)block_size * block_nr) / req.tp_frame_size);
	req.tp_retire_blk_tov = tov_ms;
	*step = "PACKET_RX_RING";
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		return -errno;
	r->map_len = (size_t)block_size * block_nr;
	*step = "mmap of the RX ring";
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->block_size = block_size;
	r->block_nr = block_nr;
	{
		/* A receiver counts what arrives; its own host's replies (ICMP) are not traffic. */
		int one = 1;
		*step = "PACKET_IGNORE_OUTGOING";
		if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) && errno != ENOPROTOOPT)
			return -errno;
	}
	*step = "bind";
	if (afp_bind(fd, ifindex, htons(ETH_P_ALL)))
		return -errno;
	if (fanout_group >= 0) {
		/* A fanout group has a hook of its own: PACKET_IGNORE_OUTGOING above does not reach
		 * it, the group's flag does (without it two workers forwarded the host's ICMP replies). */
		int arg = (fanout_group & 0xffff) | ((fanout_mode | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) << 16);
		*step = "PACKET_FANOUT";
		if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)))
			return -errno;
	}
	return 0;
}

static void afp_rx_close(struct afp_rx *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->fd >= 0)
		close(r->fd);
	r->map = NULL;
	r->fd = -1;
}

static inline struct tpacket_block_desc *afp_rx_block(struct afp_rx *r, uint32_t i)
{
	return (struct tpacket_block_desc *)(r->map + (size_t)i * r->block_size);
}

/* Give the blocks the caller finished with back to the kernel. */
static inline void afp_rx_release(struct afp_rx *r)
{
	for (uint32_t i = 0; i < r->held; i++) {
		struct tpacket_block_desc *b = afp_rx_block(r, (r->held_from + i) % r->block_nr);
		/* Release: our reads of the block are done before the kernel may refill it. */
		__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	}
	r->held = 0;
}

static inline int afp_rx_ready(struct afp_rx *r)
{
	/* Acquire: the packets in the block are visible once we see TP_STATUS_USER. */
	return __atomic_load_n(&afp_rx_block(r, r->cur)->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER;
}

static int afp_rx_wait(void *port, int timeout_ms, uint64_t *c)
{
	struct afp_rx *r = port;
	struct pollfd p = { .fd = r->fd, .events = POLLIN | POLLERR };

	c[C_SYSCALLS]++;
	return poll(&p, 1, timeout_ms);
}

/* Walk ready blocks, handing each frame to visit(); at most max frames. The blocks finished
 * here stay with the caller until the next call (zero-copy readers may still look at them). */
#define AFP_RX_WALK(r, max, visit)                                                              \
	do {                                                                                    \
		uint32_t _n = 0;                                                                \
		afp_rx_release(r);                                                              \
		while (_n < (max) && afp_rx_ready(r)) {                                         \
			struct tpacket_block_desc *_b = afp_rx_block(r, r->cur);                \
			uint32_t _np = _b->hdr.bh1.num_pkts;                                    \
			struct tpacket3_hdr *_h =                                               \
				(struct tpacket3_hdr *)((uint8_t *)_b + _b->hdr.bh1.offset_to_first_pkt); \
			for (uint32_t _i = 0; _i < r->cur_pkt; _i++)                            \
				_h = (struct tpacket3_hdr *)((uint8_t *)_h + _h->tp_next_offset); \
			for (; r->cur_pkt < _np && _n < (max); r->cur_pkt++, _n++) {            \
				visit(_h);                                                      \
				_h = (struct tpacket3_hdr *)((uint8_t *)_h + _h->tp_next_offset); \
			}                                                                       \
			if (r->cur_pkt == _np) {                                                \
				if (!r->held)                                                   \
					r->held_from = r->cur;                                  \
				r->held++;                                                      \
				r->cur_pkt = 0;                                                 \
				r->cur = r->cur + 1 == r->block_nr ? 0 : r->cur + 1;            \
			}                                                                       \
		}                                                                               \
		got = _n;                                                                       \
	} while (0)

/* The frame as it was on the wire. AF_PACKET hands a VLAN tag the interface took off (receive
 * VLAN offload, veth's default) in tp_vlan_tci: it goes back in front of the EtherType, in the
 * bytes the ring leaves free before the MAC header (the 12 address bytes move 4 down), so the
 * sink, a capture and the forwarder see the tag. Done once per frame (the status bit is
 * cleared), in a block that is ours until released. */
static inline uint8_t *afp_rx_frame(struct tpacket3_hdr *h, uint32_t *len)
{
	uint8_t *m = (uint8_t *)h + h->tp_mac;

	if ((h->tp_status & TP_STATUS_VLAN_VALID) && h->tp_mac >= TPACKET3_HDRLEN + 4 && h->tp_snaplen >= 12) {
		uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
		uint16_t tci = h->hv1.tp_vlan_tci;

		memmove(m - 4, m, 12);
		m -= 4;
		m[12] = (uint8_t)(tpid >> 8);
		m[13] = (uint8_t)tpid;
		m[14] = (uint8_t)(tci >> 8);
		m[15] = (uint8_t)tci;
		h->tp_mac -= 4;
		h->tp_snaplen += 4;
		h->tp_len += 4;
		h->tp_status &= ~(uint32_t)TP_STATUS_VLAN_VALID;
	}
	*len = h->tp_snaplen;
	return m;
}

/* Account frames into the sink straight from the ring. 25 ns/pkt at 64-frame blocks (veth). */
static uint32_t afp_rx_sink(void *port, struct sink *k, uint32_t max, uint64_t *c)
{
	struct afp_rx *r = port;
	uint64_t bytes = 0;
	uint32_t got;

#define SINK_VISIT(h)                                                                           \
	do {                                                                                    \
		uint32_t flen;                                                                  \
		uint8_t *f = afp_rx_frame((h), &flen);                                          \
		bytes += flen;                                                                  \
		sink_frame(k, f, flen, (uint64_t)(h)->tp_sec * 1000000000ull + (h)->tp_nsec);   \
	} while (0)
	AFP_RX_WALK(r, max, SINK_VISIT);
#undef SINK_VISIT
	afp_rx_release(r); /* nobody else looks at these frames */
	counters_batch(c, got, bytes);
	return got;
}

/* Zero-copy burst: offsets (into the ring mapping), lengths and timestamps of up to max frames. */
static uint32_t afp_rx_burst(struct afp_rx *r, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max,
			     uint64_t *c)
{
	uint64_t bytes = 0;
	uint32_t got, k = 0;

#define BURST_VISIT(h)                                                                          \
	do {                                                                                    \
		off[k] = (uint64_t)(afp_rx_frame((h), &len[k]) - r->map);                       \
		ts[k] = (uint64_t)(h)->tp_sec * 1000000000ull + (h)->tp_nsec;                   \
		bytes += len[k++];                                                              \
	} while (0)
	AFP_RX_WALK(r, max, BURST_VISIT);
#undef BURST_VISIT
	counters_batch(c, got, bytes);
	return got;
}

/* Frames the kernel dropped because the ring was full since the last call (the kernel resets
 * its count on each read), added to the counters. One getsockopt: once per slice, not per batch. */
static void afp_rx_update_drops(void *port, uint64_t *c)
{
	struct afp_rx *r = port;
	struct tpacket_stats_v3 st;
	socklen_t sl = sizeof(st);

	if (r->fd >= 0 && !getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl))
		c[C_KDROPS] += st.tp_drops;
}

#endif
