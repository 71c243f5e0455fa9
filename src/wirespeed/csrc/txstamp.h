/* The kernel's transmit stamps of the frames a socket sent (SO_TIMESTAMPING): the moment the kernel's
 * transmit path took each frame. Through a qdisc that is its entry (SOF_TIMESTAMPING_TX_SCHED,
 * SCM_TSTAMP_SCHED: just before the interface's packet taps, where a capture stamps it); with the
 * qdisc bypassed it is the driver's (SOF_TIMESTAMPING_TX_SOFTWARE, SCM_TSTAMP_SND; veth takes it
 * once it has handed the frame to its peer, measured 0.7-1.3 us after the tap). The kernel
 * queues a copy of the frame with the stamp on the socket's error queue. They are read in
 * batches (recvmmsg, MSG_ERRQUEUE) after each send; each copy's pktgen header gives the frame's
 * stream and sequence number and its user-space stamp, so no bookkeeping of which frame was
 * which is needed (a frame refused and sent again is stamped when it leaves).
 *
 * Per frame: the send delay (kernel stamp - the frame's own stamp: the time from the batch's
 * clock read to the driver, the wait in the ring and qdisc included) goes into a histogram, and
 * a record (stream|seq << 32 | delay ns) into a ring that a reader joins with the receiver's
 * records of the same frames (sink_record): the latency from the kernel's transmit stamp.
 *
 * Memory (the caller's: shared, read live): T_COUNT counters, HIST_BUCKETS buckets of send
 * delay, then the ring of 2^k records (T_HEAD counts every record written; the ring keeps the
 * last 2^k). Measured cost in bench/timestamps.py.
 */
#ifndef WS_TXSTAMP_H
#define WS_TXSTAMP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg */
#endif

#include <errno.h>
#include <time.h> /* before linux/errqueue.h: its struct timespec */
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "csum.h"
#include "gen.h"
#include "hist.h"
#include "xmacro.h"

#ifndef SO_TIMESTAMPING_NEW
#define SO_TIMESTAMPING_NEW 65
#endif

#define WS_TXSTAMP_STATS(X)                                                                         \
	X(T_STAMPS, "stamps", "frames whose kernel transmit stamp (the driver took the frame) was read")  \
	X(T_NO_HEADER, "no_header", "stamped frames without a readable pktgen header (not counted in stamps)") \
	X(T_EARLY, "early", "stamps before the frame's own stamp (a clock step): not counted in the delay")   \
	X(T_DELAY_SUM, "delay_sum_ns", "their send delays' sum, ns")                                     \
	X(T_DELAY_MAX, "delay_max_ns", "the largest send delay, ns")                                     \
	X(T_READS, "reads", "recvmmsg calls on the error queue")                                        \
	X(T_SCHED, "sched", "1: the stamps are the qdisc's entry (SCM_TSTAMP_SCHED); 0: the driver's (SCM_TSTAMP_SND)") \
	X(T_HEAD, "head", "records written to the ring")

enum { WS_TXSTAMP_STATS(WS_ENUM) T_COUNT };
#define TXSTAMP_BATCH 32
#define TXSTAMP_COPY 256 /* bytes of each returned frame read: the pktgen header lies within them */

struct txstamp {
	uint64_t *s, *hist, *ring;
	uint64_t mask; /* ring entries - 1 */
	uint32_t kind; /* the stamp read: SCM_TSTAMP_SCHED or SCM_TSTAMP_SND */
};

static inline void txstamp_init(struct txstamp *x, uint64_t *mem, uint64_t ring_entries)
{
	x->s = mem;
	x->hist = mem + T_COUNT;
	x->ring = mem + T_COUNT + HIST_BUCKETS;
	x->mask = ring_entries - 1;
}

/* Ask the kernel for a software transmit stamp of every frame fd sends (the qdisc's entry, or the
 * driver's when the qdisc is bypassed), with a copy of the frame (no OPT_TSONLY: the copy names
 * the frame); room for them on the error queue. */
static int txstamp_enable(struct txstamp *x, int fd, int qdisc_bypass)
{
	struct so_timestamping ts = {
		.flags = (qdisc_bypass ? SOF_TIMESTAMPING_TX_SOFTWARE : SOF_TIMESTAMPING_TX_SCHED) | SOF_TIMESTAMPING_SOFTWARE
	};
	int rb = 32 << 20;

	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING_NEW, &ts, sizeof(ts)))
		return -errno;
	x->kind = qdisc_bypass ? SCM_TSTAMP_SND : SCM_TSTAMP_SCHED;
	x->s[T_SCHED] = !qdisc_bypass;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	return 0;
}

/* No more stamps from now on (those already queued are read first). */
static void txstamp_disable(struct txstamp *x, int fd)
{
	struct so_timestamping ts = { .flags = 0 };

	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING_NEW, &ts, sizeof(ts));
}

/* Where the pktgen header starts in a frame (its magic), or -1. */
static inline int txstamp_find(const uint8_t *f, uint32_t len)
{
	for (uint32_t at = ETH_HLEN_; at + PKTGEN_HDR_LEN <= len; at++)
		if (f[at] == 0xbe && get32(f + at) == PKTGEN_MAGIC)
			return (int)at;
	return -1;
}

static inline void txstamp_one(struct txstamp *x, const uint8_t *f, uint32_t len, uint64_t ktx)
{
	int at = txstamp_find(f, len);
	uint32_t seq, sec, usec, nsec = 0;
	uint64_t user, delay;

	if (at < 0) {
		x->s[T_NO_HEADER]++;
		return;
	}
	seq = get32(f + at + 4);
	sec = get32(f + at + 8);
	if (stamp_parts(get32(f + at + 12), &usec, &nsec) || (!sec && !usec)) {
		x->s[T_NO_HEADER]++;
		return;
	}
	user = (uint64_t)sec * 1000000000ull + (uint64_t)usec * 1000ull + nsec;
	x->s[T_STAMPS]++;
	if (ktx < user) {
		x->s[T_EARLY]++;
		return;
	}
	delay = ktx - user;
	x->s[T_DELAY_SUM] += delay;
	if (delay > x->s[T_DELAY_MAX])
		x->s[T_DELAY_MAX] = delay;
	x->hist[hist_bucket(delay)]++;
	x->ring[x->s[T_HEAD]++ & x->mask] = (uint64_t)seq << 32 | (delay > UINT32_MAX ? UINT32_MAX : delay);
}

/* Read what the error queue holds now, in batches; returns the stamps read. */
static uint32_t txstamp_read(struct txstamp *x, int fd)
{
	struct mmsghdr m[TXSTAMP_BATCH];
	struct iovec iov[TXSTAMP_BATCH];
	static __thread uint8_t data[TXSTAMP_BATCH][TXSTAMP_COPY];
	static __thread uint64_t ctrl[TXSTAMP_BATCH][64];
	uint32_t got = 0;

	for (;;) {
		int n;

		for (int i = 0; i < TXSTAMP_BATCH; i++) {
			iov[i] = (struct iovec){ data[i], TXSTAMP_COPY };
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_control = ctrl[i];
			m[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
		}
		x->s[T_READS]++;
		n = recvmmsg(fd, m, TXSTAMP_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
		if (n <= 0)
			return got;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &m[i].msg_hdr;
			uint64_t ktx = 0;
			int want = 0;

			for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING_NEW) {
					const struct __kernel_timespec *t = (const void *)CMSG_DATA(c);

					ktx = (uint64_t)t[0].tv_sec * 1000000000ull + (uint64_t)t[0].tv_nsec;
				} else if (c->cmsg_level != SOL_SOCKET) { /* SOL_PACKET, SOL_IP, ...: the extended error */
					const struct sock_extended_err *e = (const void *)CMSG_DATA(c);

					want = e->ee_origin == SO_EE_ORIGIN_TIMESTAMPING && e->ee_info == x->kind;
				}
			}
			if (want && ktx) {
				txstamp_one(x, data[i], m[i].msg_len < TXSTAMP_COPY ? m[i].msg_len : TXSTAMP_COPY, ktx);
				got++;
			}
		}
		if (n < TXSTAMP_BATCH)
			return got;
	}
}

#endif
