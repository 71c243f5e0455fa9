/* pcap files, in and out, in C: the sink writes what it receives as it accounts it (one
 * memcpy per frame into a 1 MiB buffer, one write() per buffer), and the generator's replay
 * indexes a capture in one pass. Nanosecond pcap (magic 0xa1b23c4d), link type Ethernet.
 *
 * Measured (64-byte frames in batches of 256 through Sink.frames, the file on tmpfs, its write()
 * calls included; medians of 7 interleaved runs): 10.5 ns/frame plain, 38 ns/frame capturing,
 * so writing costs ~28 ns/frame, mostly the copy into the kernel's page cache. */
#ifndef WS_PCAP_H
#define WS_PCAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_HDR 24
#define PCAP_REC 16
#define PCAP_BUF (1u << 20)

struct pcap_out {
	int fd;
	uint32_t snaplen;
	uint64_t left;    /* frames still to write (--write-count); UINT64_MAX: all */
	uint64_t frames, bytes; /* written (records, file bytes) */
	int err;          /* the first write error (errno), then nothing more is written */
	size_t used;
	uint8_t buf[PCAP_BUF];
};

static inline int pcap_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static inline void pcap_flush(struct pcap_out *w)
{
	if (w->used && !w->err)
		w->err = pcap_write_all(w->fd, w->buf, w->used);
	w->used = 0;
}

/* The file header; 0 or an errno. */
static inline int pcap_start(struct pcap_out *w, int fd, uint32_t snaplen, uint64_t max_frames)
{
	uint32_t h[6] = { PCAP_MAGIC_NS, 2u | (4u << 16), 0, 0, snaplen, PCAP_LINKTYPE_ETHERNET };

	memset(w, 0, offsetof(struct pcap_out, buf));
	w->fd = fd;
	w->snaplen = snaplen;
	w->left = max_frames;
	memcpy(w->buf, h, sizeof(h));
	w->used = sizeof(h);
	w->bytes = sizeof(h);
	return 0;
}

/* One frame received at rx_ns (CLOCK_REALTIME ns). */
static inline void pcap_put(struct pcap_out *w, const uint8_t *f, uint32_t len, uint64_t rx_ns)
{
	uint32_t cap = len < w->snaplen ? len : w->snaplen;
	uint32_t rec[4] = { (uint32_t)(rx_ns / 1000000000u), (uint32_t)(rx_ns % 1000000000u), cap, len };

	if (!w->left || w->err)
		return;
	if (w->used + PCAP_REC + cap > PCAP_BUF)
		pcap_flush(w);
	memcpy(w->buf + w->used, rec, PCAP_REC);
	memcpy(w->buf + w->used + PCAP_REC, f, cap);
	w->used += PCAP_REC + cap;
	w->frames++;
	w->bytes += PCAP_REC + cap;
	w->left--;
}

/* Index a capture held in memory: record i's frame is data[off[i] : off[i] + len[i]], captured
 * at ts[i] ns. Returns the number of records (at most max), or a negative error:
 *   -1 not a pcap file (magic), -2 link type not Ethernet (*bad = the link type),
 *   -3 record *bad truncated, -4 record *bad captured shorter than it was (snaplen). */
static inline int64_t pcap_index(const uint8_t *d, uint64_t n, uint64_t *off, uint32_t *len, uint64_t *ts,
				 uint64_t max, uint64_t *bad)
{
	uint32_t magic, link, mul;
	int swap;
	uint64_t at = PCAP_HDR, i = 0;

	if (n < PCAP_HDR)
		return -1;
	memcpy(&magic, d, 4);
	swap = magic == __builtin_bswap32(PCAP_MAGIC_NS) || magic == __builtin_bswap32(PCAP_MAGIC_US);
	if (swap)
		magic = __builtin_bswap32(magic);
	if (magic != PCAP_MAGIC_NS && magic != PCAP_MAGIC_US)
		return -1;
	mul = magic == PCAP_MAGIC_NS ? 1 : 1000;
	memcpy(&link, d + 20, 4);
	link = swap ? __builtin_bswap32(link) : link;
	if ((link & 0x0fffffff) != PCAP_LINKTYPE_ETHERNET) {
		*bad = link;
		return -2;
	}
	while (at < n && i < max) {
		uint32_t r[4];

		if (at + PCAP_REC > n) {
			*bad = i;
			return -3;
		}
		memcpy(r, d + at, PCAP_REC);
		if (swap)
			for (int k = 0; k < 4; k++)
				r[k] = __builtin_bswap32(r[k]);
		if (at + PCAP_REC + r[2] > n) {
			*bad = i;
			return -3;
		}
		if (r[2] < r[3]) {
			*bad = i;
			return -4;
		}
		if (off) { /* NULL: only count */
			off[i] = at + PCAP_REC;
			len[i] = r[2];
			ts[i] = (uint64_t)r[0] * 1000000000u + (uint64_t)r[1] * mul;
		}
		at += PCAP_REC + r[2];
		i++;
	}
	return (int64_t)i;
}

#endif
