/* UDP sockets, batched: sendmmsg() and recvmmsg() over preallocated buffers. */
#ifndef WS_UDP_H
#define WS_UDP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#endif

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "counters.h"
#include "tsc.h"
#include "gen.h"
#include "sink.h"
#include "txstamp.h"

#ifndef SCM_TXTIME
#define SCM_TXTIME 61 /* SO_TXTIME (asm-generic/socket.h): a departure time per message */
#endif
#define UDP_CMSG_SPACE CMSG_SPACE(sizeof(uint64_t))
#ifndef SO_TIMESTAMPNS_NEW
#define SO_TIMESTAMPNS_NEW 64 /* asm-generic/socket.h: a received datagram's kernel stamp, s64 sec + s64 ns */
#endif
#define SO_TIMESTAMPNS_OLD_ 35 /* the same as the arch's struct timespec (two longs on 64-bit) */
#define UDP_RCMSG_SPACE CMSG_SPACE(2 * sizeof(int64_t))

/* The kernel's cap on datagrams in one UDP GSO send (UDP_MAX_SEGMENTS, 64 before 6.8). */
#define UDP_GSO_SEGS 64
#define UDP_GSO_BYTES 65000 /* and on the bytes of one: below the 64 KiB IP datagram */

struct udp_port {
	int fd;
	uint32_t batch, slot;
	uint32_t gso;      /* datagram bytes when the socket has UDP_SEGMENT set, else 0 */
	uint32_t gso_segs; /* datagrams per GSO message */
	uint8_t *buf;
	uint8_t *scratch; /* one slot past the batch: where a frame is built before its payload moves */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t *cbuf; /* txtime: one SCM_TXTIME control message per message, else NULL */
	struct mmsghdr *rmsgs; /* receiving: the same iovecs, room for each datagram's kernel stamp (rcbuf) */
	uint8_t *rcbuf;
	int stamping; /* the kernel's transmit stamps are read after each send (txstamp.h; not with GSO) */
	struct txstamp ts;
};

static int udp_port_init(struct udp_port *u, int fd, uint32_t batch, uint32_t slot, uint32_t gso, int txtime)
{
	u->fd = fd;
	u->batch = batch;
	u->slot = slot;
	u->gso = gso;
	u->gso_segs = gso ? (UDP_GSO_BYTES / gso < UDP_GSO_SEGS ? UDP_GSO_BYTES / gso : UDP_GSO_SEGS) : 0;
	if (gso && !u->gso_segs)
		u->gso_segs = 1;
	u->buf = aligned_alloc(64, (size_t)(batch + 1) * slot);
	u->scratch = u->buf ? u->buf + (size_t)batch * slot : NULL;
	u->msgs = calloc(batch, sizeof(*u->msgs));
	u->iov = calloc(batch, sizeof(*u->iov));
	u->cbuf = txtime ? calloc(batch, UDP_CMSG_SPACE) : NULL;
	u->rmsgs = calloc(batch, sizeof(*u->rmsgs));
	u->rcbuf = calloc(batch, UDP_RCMSG_SPACE);
	if (!u->buf || !u->msgs || !u->iov || (txtime && !u->cbuf) || !u->rmsgs || !u->rcbuf)
		return -ENOMEM;
	for (uint32_t i = 0; i < batch; i++) {
		u->iov[i].iov_base = u->buf + (size_t)i * slot;
		u->iov[i].iov_len = slot;
		u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
		u->rmsgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->rmsgs[i].msg_hdr.msg_iovlen = 1;
		if (u->cbuf) {
			struct cmsghdr *cm = (struct cmsghdr *)(u->cbuf + (size_t)i * UDP_CMSG_SPACE);

			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_TXTIME;
			cm->cmsg_len = CMSG_LEN(sizeof(uint64_t));
			u->msgs[i].msg_hdr.msg_control = cm;
			u->msgs[i].msg_hdr.msg_controllen = UDP_CMSG_SPACE;
		}
	}
	return 0;
}

static void udp_port_free(struct udp_port *u)
{
	free(u->buf);
	free(u->msgs);
	free(u->iov);
	free(u->cbuf);
	free(u->rmsgs);
	free(u->rcbuf);
	u->cbuf = u->rcbuf = NULL;
	u->rmsgs = NULL;
	u->buf = NULL;
	u->scratch = NULL;
	u->msgs = NULL;
	u->iov = NULL;
}

/* Send n iovecs already set up; frames the kernel did not take are returned as unsent. */
static inline uint32_t udp_send(struct udp_port *u, uint32_t n, uint64_t *c)
{
	int r;

	c[C_SYSCALLS]++;
	r = sendmmsg(u->fd, u->msgs, n, 0);
	if (r < 0) {
		if (errno == EAGAIN || errno == ENOBUFS)
			c[C_RING_FULL]++;
		else
			c[C_ERRORS]++;
		return 0;
	}
	return (uint32_t)r;
}

/* UDP GSO: the n payloads end to end, up to gso_segs of them per message, one sendmmsg(). The
 * stack is walked once per message instead of once per datagram; the datagrams are cut just
 * before the driver. Returns datagrams sent. */
static uint32_t udp_tx_gen_gso(struct udp_port *u, struct gen *g, uint32_t n, uint64_t *c)
{
	uint32_t i, m = 0, sent;
	struct gen_batch b;

	gen_batch_begin(&b, g, n);
	for (i = 0; i < n; i++) {
		/* The headers built here are the kernel's to write: only the payload is kept. */
		gen_batch_build(&b, u->scratch);
		memcpy(u->buf + (size_t)i * u->gso, u->scratch + g->payload, u->gso);
	}
	gen_batch_end(&b);
	for (i = 0; i < n; i += u->gso_segs, m++) {
		uint32_t k = n - i < u->gso_segs ? n - i : u->gso_segs;

		u->iov[m].iov_base = u->buf + (size_t)i * u->gso;
		u->iov[m].iov_len = (size_t)k * u->gso;
	}
	sent = udp_send(u, m, c);
	return sent == m ? n : sent * u->gso_segs;
}

/* Build n payloads and send them in one sendmmsg(): one message per datagram, or with GSO
 * up to 64 datagrams per message. Measured on the lab's veth, 18-byte payload, batch 64, the
 * sender's CPU also running the receive softirq, a UDP sink on the other CPU:
 * 1,770 ns/pkt one message per datagram, 1,050 ns/pkt with GSO. */
static uint32_t udp_tx_gen(void *port, struct gen *g, uint32_t n, uint64_t *c)
{
	struct udp_port *u = port;
	struct gen_batch b;
	uint32_t sent, i;
	uint64_t bytes = 0;

	if (n > u->batch)
		n = u->batch;
	if (g->stamp)
		gen_stamp(g);
	if (u->gso) {
		sent = udp_tx_gen_gso(u, g, n, c);
		gen_unbuild(g, n - sent);
		counters_batch(c, sent, (uint64_t)sent * u->gso);
		return sent;
	}
	gen_batch_begin(&b, g, n);
	for (i = 0; i < n; i++) {
		uint8_t *slot = u->buf + (size_t)i * u->slot;
		uint32_t len = gen_batch_build(&b, slot);

		u->iov[i].iov_base = slot + g->payload;
		u->iov[i].iov_len = len - g->payload;
		if (u->cbuf) { /* kernel-timed: the fq qdisc holds datagram i until its slot's time */
			uint64_t t = pace_due_at(&g->pace, g->pace.d[D_SLOTS] + i);

			memcpy(CMSG_DATA((struct cmsghdr *)(u->cbuf + (size_t)i * UDP_CMSG_SPACE)), &t, sizeof(t));
		}
	}
	gen_batch_end(&b);
	sent = udp_send(u, n, c);
	if (u->stamping)
		txstamp_read(&u->ts, u->fd);
	/* What the kernel did not take was never sent: give its sequence numbers back. */
	gen_unbuild(g, n - sent);
	for (i = 0; i < sent; i++)
		bytes += u->iov[i].iov_len;
	counters_batch(c, sent, bytes);
	return sent;
}

static inline int udp_recv(struct udp_port *u, uint32_t max, uint64_t *c)
{
	int r;

	if (max > u->batch)
		max = u->batch;
	for (uint32_t i = 0; i < max; i++) {
		u->iov[i].iov_base = u->buf + (size_t)i * u->slot;
		u->iov[i].iov_len = u->slot;
		u->rmsgs[i].msg_hdr.msg_control = u->rcbuf + (size_t)i * UDP_RCMSG_SPACE;
		u->rmsgs[i].msg_hdr.msg_controllen = UDP_RCMSG_SPACE;
	}
	c[C_SYSCALLS]++;
	r = recvmmsg(u->fd, u->rmsgs, max, MSG_DONTWAIT, NULL);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			c[C_ERRORS]++;
		return 0;
	}
	return r;
}

static int udp_rx_wait(void *port, int timeout_ms, uint64_t *c)
{
	struct udp_port *u = port;
	struct pollfd p = { .fd = u->fd, .events = POLLIN };

	c[C_SYSCALLS]++;
	return poll(&p, 1, timeout_ms);
}

/* The socket buffer is full: wait (at most 1 ms) for room. */
static void udp_tx_wait(void *port, uint64_t *c)
{
	struct udp_port *u = port;
	struct pollfd p = { .fd = u->fd, .events = POLLOUT };

	c[C_RING_FULL]++;
	c[C_SYSCALLS]++;
	poll(&p, 1, 1);
}

/* Datagram i's receive time: the kernel's stamp of it (SO_TIMESTAMPNS, taken as the frame
 * reached the stack, CLOCK_REALTIME), or `batch` (the batch's clock, read once its datagrams are
 * in hand, counted in C_RX_USER_TS) where the socket does not stamp. */
static inline uint64_t udp_rx_stamp(const struct udp_port *u, int i, uint64_t batch, uint64_t *c)
{
	const struct msghdr *h = &u->rmsgs[i].msg_hdr;
	const struct cmsghdr *cm = h->msg_controllen >= sizeof(struct cmsghdr) ? (const struct cmsghdr *)h->msg_control
										 : NULL;
	int64_t ts[2];

	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_len < CMSG_LEN(sizeof(ts)) ||
	    (cm->cmsg_type != SO_TIMESTAMPNS_NEW && cm->cmsg_type != SO_TIMESTAMPNS_OLD_)) {
		c[C_RX_USER_TS]++;
		return batch;
	}
	memcpy(ts, CMSG_DATA(cm), sizeof(ts));
	return (uint64_t)ts[0] * 1000000000ull + (uint64_t)ts[1];
}

/* Receive up to max datagrams with one recvmmsg() and account them, each at its kernel stamp. */
static uint32_t udp_rx_sink(void *port, struct sink *k, uint32_t max, uint64_t *c)
{
	struct udp_port *u = port;
	uint64_t now, bytes = 0;
	int r = udp_recv(u, max, c);

	if (r <= 0)
		return 0;
	now = realtime_ns();
	for (int i = 0; i < r; i++) {
		sink_payload(k, u->buf + (size_t)i * u->slot, u->rmsgs[i].msg_len, udp_rx_stamp(u, i, now, c));
		bytes += u->rmsgs[i].msg_len;
	}
	counters_batch(c, (uint32_t)r, bytes);
	return (uint32_t)r;
}

/* Up to max datagrams with one recvmmsg(), zero copy: offsets into the port's buffer,
 * lengths, and each one's receive time (udp_rx_stamp). */
static uint32_t udp_rx_burst(struct udp_port *u, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max,
			     uint64_t *c)
{
	int r = udp_recv(u, max, c);
	uint64_t now, bytes = 0;
	struct timespec t;

	if (r <= 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &t);
	now = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
	for (int i = 0; i < r; i++) {
		off[i] = (uint64_t)i * u->slot;
		len[i] = u->rmsgs[i].msg_len;
		ts[i] = udp_rx_stamp(u, i, now, c);
		bytes += len[i];
	}
	counters_batch(c, (uint32_t)r, bytes);
	return (uint32_t)r;
}

/* Send n payloads (base + off[i], len[i]; at most the port's batch) with one sendmmsg(), the
 * iovecs pointing at them: no copy. */
static uint32_t udp_tx_frames(struct udp_port *u, const uint8_t *base, const uint64_t *off, const uint32_t *len,
			      uint32_t n, uint64_t *c)
{
	uint64_t bytes = 0;
	uint32_t sent;

	if (n > u->batch)
		n = u->batch;
	for (uint32_t i = 0; i < n; i++) {
		u->iov[i].iov_base = (uint8_t *)base + off[i];
		u->iov[i].iov_len = len[i];
	}
	sent = udp_send(u, n, c);
	for (uint32_t i = 0; i < sent; i++)
		bytes += len[i];
	counters_batch(c, sent, bytes);
	return sent;
}

#endif
