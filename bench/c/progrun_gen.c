/* Reference for `wirespeed gen --backend kernel`: the plainest in-kernel generator. A minimal
 * XDP program (return XDP_TX; two instructions) run by BPF_PROG_RUN with live frames, the same
 * calls wirespeed makes (repeat, batch size, two threads on one CPU covering each other's sleep
 * after a call), the same template frame. It writes nothing into the frames and counts nothing:
 * the receiver's XDP counter does. Built with gcc and the kernel's UAPI headers only.
 *
 *   progrun_gen IFNAME FRAME_HEX SECONDS [THREADS=2] [BATCH=64] [REPEAT=4194304]
 *
 * Runs in the namespace of IFNAME (ip netns exec); prints one JSON object: calls, seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static union bpf_attr run;
static double until;
static volatile int stop;
static unsigned long calls;

static void *caller(void *arg)
{
	union bpf_attr a = run;

	(void)arg;
	while (!stop && now_s() < until) {
		if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0) {
			if (errno != EINTR)
				perror("BPF_PROG_TEST_RUN");
			break;
		}
		__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void nothing(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	static unsigned char frame[9000];
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct xdp_md ctx = { 0 };
	union bpf_attr load = { 0 };
	pthread_t tid[4];
	int threads, n = 0, fd;
	size_t len;
	double t0;

	if (argc < 4) {
		fprintf(stderr, "usage: %s IFNAME FRAME_HEX SECONDS [THREADS] [BATCH] [REPEAT]\n", argv[0]);
		return 2;
	}
	len = strlen(argv[2]) / 2;
	if (len < 14 || len > sizeof(frame))
		return 2;
	for (size_t i = 0; i < len; i++)
		sscanf(argv[2] + 2 * i, "%2hhx", &frame[i]);
	threads = argc > 4 ? atoi(argv[4]) : 2;
	if (threads < 1 || threads > 4)
		threads = 2;

	load.prog_type = BPF_PROG_TYPE_XDP;
	load.insns = (uintptr_t)prog;
	load.insn_cnt = 2;
	load.license = (uintptr_t)"GPL";
	fd = sys_bpf(BPF_PROG_LOAD, &load);
	if (fd < 0) {
		perror("BPF_PROG_LOAD");
		return 1;
	}
	ctx.ingress_ifindex = if_nametoindex(argv[1]);
	if (!ctx.ingress_ifindex) {
		perror(argv[1]);
		return 1;
	}
	ctx.data_end = len;
	run.test.prog_fd = fd;
	run.test.data_in = (uintptr_t)frame;
	run.test.data_size_in = len;
	run.test.ctx_in = (uintptr_t)&ctx;
	run.test.ctx_size_in = sizeof(ctx);
	run.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
	run.test.batch_size = argc > 5 ? atoi(argv[5]) : 64;
	run.test.repeat = argc > 6 ? strtoul(argv[6], NULL, 0) : 1u << 22;

	signal(SIGUSR1, nothing);
	t0 = now_s();
	until = t0 + atof(argv[3]);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, caller, NULL) == 0)
			n++;
	while (now_s() < until)
		usleep(1000);
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_kill(tid[i], SIGUSR1); /* ends a running call (EINTR) */
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	printf("{\"calls\": %lu, \"seconds\": %.6f}\n", calls, now_s() - t0);
	return 0;
}
