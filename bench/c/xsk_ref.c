/* Reference for `wirespeed gen --backend xdp` and `wirespeed sink --backend xdp`: the plainest
 * AF_XDP loops, from the kernel's UAPI headers only (no libbpf, no libxdp). One socket on one
 * queue, copy mode with need_wakeup (the bind flags wirespeed uses on veth), the same ring and
 * UMEM sizes, the same per-kick transmit budget where the kernel takes one (6.17+).
 *
 *   xsk_ref tx IFNAME QUEUE SECONDS BATCH FRAME_HEX   every UMEM frame holds FRAME once, written
 *                                                      before the loop; the loop only moves
 *                                                      descriptors and kicks
 *   xsk_ref rx IFNAME QUEUE SECONDS BATCH              an XSKMAP and a four-instruction redirect
 *                                                      program (attached native through a
 *                                                      bpf_link); spin on the RX ring, count,
 *                                                      refill
 *   xsk_ref rxseq IFNAME QUEUE SECONDS BATCH           the same, reading each frame's pktgen
 *                                                      sequence number (IPv4, offset 46) and
 *                                                      counting the numbers skipped: the least
 *                                                      a receiver that checks sequence does
 *
 * Runs in the namespace of IFNAME (ip netns exec). Prints one JSON object: packets, seconds,
 * syscalls. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

#define RING 2048      /* descriptors per ring: wirespeed's TX ring (its RX ring is 8192: see RX_RING) */
#define RX_RING 8192
#define FRAME 4096

struct ring {
	uint32_t *producer, *consumer, *flags;
	void *desc;
	uint32_t mask, cached;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void map_ring(int fd, struct ring *r, const struct xdp_ring_offset *o, uint32_t n, size_t desc, off_t pgoff)
{
	char *m = mmap(NULL, o->desc + n * desc, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);

	if (m == MAP_FAILED)
		die("mmap ring");
	r->producer = (uint32_t *)(m + o->producer);
	r->consumer = (uint32_t *)(m + o->consumer);
	r->flags = (uint32_t *)(m + o->flags);
	r->desc = m + o->desc;
	r->mask = n - 1;
}

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

/* XSKMAP[queue] = fd and the redirect program on the interface, native, through a bpf_link. */
static void steer(int ifindex, int queue, int fd)
{
	union bpf_attr a;
	int map, prog, link;
	uint32_t key = queue, val = fd;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_XSKMAP;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = queue + 1;
	if ((map = sys_bpf(BPF_MAP_CREATE, &a)) < 0)
		die("BPF_MAP_CREATE");
	memset(&a, 0, sizeof(a));
	a.map_fd = map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&val;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a))
		die("XSKMAP update");
	struct bpf_insn insns[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 2, .src_reg = 1,
		  .off = offsetof(struct xdp_md, rx_queue_index) },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_XDP;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uintptr_t)"GPL";
	a.expected_attach_type = BPF_XDP;
	if ((prog = sys_bpf(BPF_PROG_LOAD, &a)) < 0)
		die("BPF_PROG_LOAD");
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = prog;
	a.link_create.target_ifindex = ifindex;
	a.link_create.attach_type = BPF_XDP;
	a.link_create.flags = XDP_FLAGS_DRV_MODE;
	if ((link = sys_bpf(BPF_LINK_CREATE, &a)) < 0)
		die("BPF_LINK_CREATE (XDP, native)");
	(void)link; /* held until exit */
}

int main(int argc, char **argv)
{
	struct xdp_mmap_offsets off;
	struct xdp_umem_reg mr = { 0 };
	struct sockaddr_xdp sa = { 0 };
	struct ring fq, cq, rx, tx;
	socklen_t ol = sizeof(off);
	unsigned long packets = 0, syscalls = 0, skipped = 0;
	uint32_t expect = 0;
	int is_tx, seq, fd, ifindex, queue, batch, ring;
	uint32_t nframes, budget = 256, kick = 32;
	double t0, until;
	char *umem;

	if (argc < 6 || (strcmp(argv[1], "tx") && strcmp(argv[1], "rx") && strcmp(argv[1], "rxseq")) ||
	    (!strcmp(argv[1], "tx") && argc < 7)) {
		fprintf(stderr, "usage: %s tx|rx|rxseq IFNAME QUEUE SECONDS BATCH [FRAME_HEX]\n", argv[0]);
		return 2;
	}
	is_tx = !strcmp(argv[1], "tx");
	seq = !strcmp(argv[1], "rxseq");
	if (!(ifindex = if_nametoindex(argv[2])))
		die(argv[2]);
	queue = atoi(argv[3]);
	batch = atoi(argv[5]);
	ring = is_tx ? RING : RX_RING;
	nframes = 2 * ring;

	if ((fd = socket(AF_XDP, SOCK_RAW, 0)) < 0)
		die("socket(AF_XDP)");
	umem = mmap(NULL, (size_t)nframes * FRAME, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		    -1, 0);
	if (umem == MAP_FAILED)
		die("mmap UMEM");
	mr.addr = (uintptr_t)umem;
	mr.len = (uint64_t)nframes * FRAME;
	mr.chunk_size = FRAME;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) ||
	    setsockopt(fd, SOL_XDP, is_tx ? XDP_TX_RING : XDP_RX_RING, &ring, sizeof(ring)))
		die("setsockopt (UMEM, rings)");
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol))
		die("XDP_MMAP_OFFSETS");
	map_ring(fd, &fq, &off.fr, ring, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING);
	map_ring(fd, &cq, &off.cr, ring, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING);
	if (is_tx)
		map_ring(fd, &tx, &off.tx, ring, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING);
	else
		map_ring(fd, &rx, &off.rx, ring, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING);
	sa.sxdp_family = AF_XDP;
	sa.sxdp_ifindex = ifindex;
	sa.sxdp_queue_id = queue;
	sa.sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("bind");

	t0 = now_s();
	until = t0 + atof(argv[4]);
	if (is_tx) {
		/* frames [0, ring) carry the frame; a free list would cost more than this: frame i of
		 * the ring's slot i, reused once its completion came back */
		size_t len = strlen(argv[6]) / 2;
		uint32_t prod = 0, cons = 0; /* TX descriptors produced, completions consumed */

		for (uint32_t f = 0; f < (uint32_t)ring; f++)
			for (size_t i = 0; i < len; i++)
				sscanf(argv[6] + 2 * i, "%2hhx", (unsigned char *)umem + (size_t)f * FRAME + i);
		if (!setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget)))
			kick = budget;
		while (now_s() < until) {
			for (int spin = 0; spin < 1024; spin++) {
				uint32_t done = __atomic_load_n(cq.producer, __ATOMIC_ACQUIRE) - cons, room, n;

				cons += done;
				__atomic_store_n(cq.consumer, cons, __ATOMIC_RELEASE);
				room = ring - (prod - cons);
				n = room < (uint32_t)batch ? room : (uint32_t)batch;
				for (uint32_t i = 0; i < n; i++) {
					struct xdp_desc *d = (struct xdp_desc *)tx.desc + ((prod + i) & tx.mask);

					d->addr = (uint64_t)((prod + i) & tx.mask) * FRAME;
					d->len = len;
				}
				prod += n;
				__atomic_store_n(tx.producer, prod, __ATOMIC_RELEASE);
				for (uint32_t k = 0; k < n; k += kick) {
					syscalls++;
					sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
				}
				packets += n;
			}
		}
	} else {
		uint32_t fprod = ring, rcons = 0;

		for (uint32_t i = 0; i < (uint32_t)ring; i++)
			((uint64_t *)fq.desc)[i] = (uint64_t)i * FRAME;
		__atomic_store_n(fq.producer, fprod, __ATOMIC_RELEASE);
		steer(ifindex, queue, fd);
		while (now_s() < until) {
			for (int spin = 0; spin < 1024; spin++) {
				uint32_t avail = __atomic_load_n(rx.producer, __ATOMIC_ACQUIRE) - rcons, n;

				if (!avail) {
					if (*fq.flags & XDP_RING_NEED_WAKEUP) {
						syscalls++;
						recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
					}
					continue;
				}
				n = avail < (uint32_t)batch ? avail : (uint32_t)batch;
				for (uint32_t i = 0; i < n; i++) {
					const struct xdp_desc *d = (const struct xdp_desc *)rx.desc + ((rcons + i) & rx.mask);

					if (seq && d->len >= 50) {
						const unsigned char *p = (const unsigned char *)umem + d->addr + 46;
						uint32_t s = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];

						skipped += s - expect;
						expect = s + 1;
					}
					((uint64_t *)fq.desc)[(fprod + i) & fq.mask] = d->addr & ~(uint64_t)(FRAME - 1);
				}
				rcons += n;
				__atomic_store_n(rx.consumer, rcons, __ATOMIC_RELEASE);
				fprod += n;
				__atomic_store_n(fq.producer, fprod, __ATOMIC_RELEASE);
				packets += n;
			}
		}
	}
	printf("{\"packets\": %lu, \"seconds\": %.6f, \"syscalls\": %lu, \"skipped\": %lu}\n", packets, now_s() - t0,
	       syscalls, skipped);
	return 0;
}
