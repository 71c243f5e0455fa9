/* The host cost profile: one tight loop per primitive, timed as a whole (time_bench style).
 *
 * Every loop runs `n` operations and returns a value derived from its work so the compiler
 * cannot drop it. Loop overhead (about one cycle) is inside every figure; the "loop" entry
 * measures it on its own.
 */
#ifndef WS_TIMEBENCH_H
#define WS_TIMEBENCH_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define barrier() __asm__ __volatile__("" : : : "memory")
#define hide(x) __asm__ __volatile__("" : "+r"(x))

typedef uint64_t (*tb_fn)(uint64_t n, uint64_t arg);

struct tb_op {
	const char *name;
	tb_fn fn;
	int needs_chase; /* walks the buffer set up by chase_setup() */
	unsigned unit;   /* n is rounded up to a multiple of this; 0: of arg (the batch size) */
};

static uint64_t tb_loop(uint64_t n, uint64_t arg)
{
	for (uint64_t i = 0; i < n; i++)
		barrier();
	return n;
}

__attribute__((noinline)) static uint64_t tb_callee(uint64_t x)
{
	barrier();
	return x + 1;
}

static uint64_t tb_call(uint64_t n, uint64_t arg)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc = tb_callee(acc);
	return acc;
}

static uint64_t (*volatile tb_indirect_target)(uint64_t) = tb_callee;

static uint64_t tb_indirect_call(uint64_t n, uint64_t arg)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc = tb_indirect_target(acc);
	return acc;
}

static inline uint64_t cmpxchg_plain(uint64_t *p, uint64_t old, uint64_t new)
{
	uint64_t prev;
	__asm__ __volatile__("cmpxchgq %2, %1" : "=a"(prev), "+m"(*p) : "r"(new), "0"(old) : "memory");
	return prev;
}

static inline uint64_t cmpxchg_locked(uint64_t *p, uint64_t old, uint64_t new)
{
	uint64_t prev;
	__asm__ __volatile__("lock; cmpxchgq %2, %1" : "=a"(prev), "+m"(*p) : "r"(new), "0"(old) : "memory");
	return prev;
}

/* Each cmpxchg succeeds: the word always holds i when iteration i runs. */
static uint64_t tb_cmpxchg(uint64_t n, uint64_t arg)
{
	uint64_t word = 0;

	for (uint64_t i = 0; i < n; i++)
		cmpxchg_plain(&word, i, i + 1);
	return word;
}

static uint64_t tb_lock_cmpxchg(uint64_t n, uint64_t arg)
{
	uint64_t word = 0;

	for (uint64_t i = 0; i < n; i++)
		cmpxchg_locked(&word, i, i + 1);
	return word;
}

static uint64_t tb_spin_lock(uint64_t n, uint64_t arg)
{
	pthread_spinlock_t lock;
	uint64_t held = 0;

	pthread_spin_init(&lock, PTHREAD_PROCESS_PRIVATE);
	for (uint64_t i = 0; i < n; i++) {
		pthread_spin_lock(&lock);
		held++;
		pthread_spin_unlock(&lock);
	}
	pthread_spin_destroy(&lock);
	return held;
}

static uint64_t tb_getppid(uint64_t n, uint64_t arg)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc += (uint64_t)getppid();
	return acc;
}

static uint64_t tb_clock_gettime(uint64_t n, uint64_t arg)
{
	struct timespec ts;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		acc += (uint64_t)ts.tv_nsec;
	}
	return acc;
}

/* 256 bytes: the size class of a small packet buffer head. */
#define TB_OBJ_SIZE 256

static uint64_t tb_malloc_free(uint64_t n, uint64_t arg)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		void *p = malloc(TB_OBJ_SIZE);
		hide(p);
		acc += (uintptr_t)p & 0xff;
		free(p);
	}
	return acc;
}

/* The pattern that defeats a one-object cache: 256 allocations, then 256 frees. */
#define TB_BURST 256

static uint64_t tb_malloc_free_256(uint64_t n, uint64_t arg)
{
	void *objs[TB_BURST];
	uint64_t acc = 0;

	for (uint64_t done = 0; done < n; done += TB_BURST) {
		for (int i = 0; i < TB_BURST; i++) {
			objs[i] = malloc(TB_OBJ_SIZE);
			hide(objs[i]);
		}
		for (int i = 0; i < TB_BURST; i++) {
			acc += (uintptr_t)objs[i] & 0xff;
			free(objs[i]);
		}
	}
	return acc;
}

/* Amortisation: n packets handled in batches of `batch`; each packet costs one store into a
 * descriptor ring, each batch pays one expensive operation `op` (inlined: it is a constant). */
#define TB_RING 512

static inline __attribute__((always_inline)) uint64_t
tb_per_batch(uint64_t n, uint64_t batch, uint64_t (*op)(uint64_t))
{
	/* Written, never read: the per-packet descriptor store; barrier() keeps the stores. */
	static uint64_t ring[TB_RING] __attribute__((unused));
	uint64_t acc = 0, pkt = 0;

	while (pkt < n) {
		for (uint64_t i = 0; i < batch; i++, pkt++)
			ring[pkt & (TB_RING - 1)] = pkt;
		barrier();
		acc = op(acc);
	}
	return acc;
}

static uint64_t tb_word;

static inline uint64_t tb_op_lock(uint64_t acc)
{
	cmpxchg_locked(&tb_word, tb_word, acc + 1);
	return acc + 1;
}

static inline uint64_t tb_op_syscall(uint64_t acc)
{
	return acc + (uint64_t)getppid();
}

static uint64_t tb_lock_per_batch(uint64_t n, uint64_t batch)
{
	return tb_per_batch(n, batch, tb_op_lock);
}

static uint64_t tb_syscall_per_batch(uint64_t n, uint64_t batch)
{
	return tb_per_batch(n, batch, tb_op_syscall);
}

/* Pointer chase: every cache line holds the address of the next one in a random cycle, so
 * each load depends on the one before and no prefetcher can guess it. */
struct chase {
	void **base;
	size_t bytes;
	size_t lines;
};

static struct chase chase_buf;

#define CACHE_LINE 64
#define LINE_WORDS (CACHE_LINE / sizeof(void *))

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void chase_free(void)
{
	if (chase_buf.base)
		munmap(chase_buf.base, chase_buf.bytes);
	memset(&chase_buf, 0, sizeof(chase_buf));
}

/* Returns 0 or an errno value. */
static int chase_setup(size_t bytes, uint64_t seed)
{
	size_t lines = bytes / CACHE_LINE;
	uint32_t *next;
	void **base;

	if (lines < 2 || lines > UINT32_MAX)
		return 22; /* EINVAL */
	chase_free();
	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return 12; /* ENOMEM */
	/* Huge pages keep TLB misses out of what is meant to be a cache measurement. */
	madvise(base, bytes, MADV_HUGEPAGE);
	next = malloc(lines * sizeof(*next));
	if (!next) {
		munmap(base, bytes);
		return 12;
	}
	/* Sattolo's shuffle yields a single cycle through every line. */
	for (size_t i = 0; i < lines; i++)
		next[i] = (uint32_t)i;
	seed |= 1;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = xorshift64s(&seed) % i;
		uint32_t t = next[i];
		next[i] = next[j];
		next[j] = t;
	}
	for (size_t i = 0; i < lines; i++)
		base[i * LINE_WORDS] = &base[(size_t)next[i] * LINE_WORDS];
	free(next);
	chase_buf.base = base;
	chase_buf.bytes = bytes;
	chase_buf.lines = lines;
	return 0;
}

static uint64_t tb_chase(uint64_t n, uint64_t arg)
{
	void **p = chase_buf.base;

	for (uint64_t i = 0; i < n; i++)
		p = (void **)*p;
	return (uintptr_t)p;
}

static const struct tb_op tb_ops[] = {
	{ "loop", tb_loop, 0, 1 },
	{ "call", tb_call, 0, 1 },
	{ "indirect_call", tb_indirect_call, 0, 1 },
	{ "cmpxchg", tb_cmpxchg, 0, 1 },
	{ "lock_cmpxchg", tb_lock_cmpxchg, 0, 1 },
	{ "spin_lock_unlock", tb_spin_lock, 0, 1 },
	{ "chase", tb_chase, 1, 1 },
	{ "getppid", tb_getppid, 0, 1 },
	{ "clock_gettime", tb_clock_gettime, 0, 1 },
	{ "malloc_free", tb_malloc_free, 0, 1 },
	{ "malloc_free_256", tb_malloc_free_256, 0, 256 },
	{ "lock_per_batch", tb_lock_per_batch, 0, 0 },
	{ "syscall_per_batch", tb_syscall_per_batch, 0, 0 },
};

#endif
