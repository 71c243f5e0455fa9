/* The bpf() system call, thinly, as module functions: load a program (keeping the verifier's
 * log), create and use maps, attach XDP through a bpf_link, and BPF_PROG_RUN with live frames
 * (the in-kernel generator). No libbpf: the attribute unions of linux/bpf.h filled by hand.
 */
#ifndef WS_PY_BPF_H
#define WS_PY_BPF_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "counters.h"
#include "tsc.h"

#define BPF_LOG_BYTES (1 << 20)

static inline long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static inline uint64_t ptr64(const void *p) { return (uint64_t)(uintptr_t)p; }

/* bpf_prog_load(prog_type, insns, license, name, expected_attach_type=0, log_level=1, attach_btf_id=0)
 *   -> (fd or -errno, verifier log). attach_btf_id: the kernel type a tracing program attaches to
 * (e.g. btf_trace_kfree_skb: its arguments are then typed, and read without helper calls). */
static PyObject *py_bpf_prog_load(PyObject *self, PyObject *args)
{
	unsigned int type, attach = 0, level = 1, btf_id = 0;
	const char *license, *name;
	Py_buffer insns;
	union bpf_attr attr;
	char *log;
	long fd;
	PyObject *out;

	if (!PyArg_ParseTuple(args, "Iy*ss|III", &type, &insns, &license, &name, &attach, &level, &btf_id))
		return NULL;
	if (insns.len % sizeof(struct bpf_insn)) {
		PyBuffer_Release(&insns);
		return PyErr_Format(PyExc_ValueError, "instructions are 8 bytes each");
	}
	log = calloc(1, BPF_LOG_BYTES);
	if (!log) {
		PyBuffer_Release(&insns);
		return PyErr_NoMemory();
	}
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = type;
	attr.insns = ptr64(insns.buf);
	attr.insn_cnt = (uint32_t)(insns.len / sizeof(struct bpf_insn));
	attr.license = ptr64(license);
	attr.expected_attach_type = attach;
	attr.attach_btf_id = btf_id;
	attr.log_level = level;
	attr.log_buf = ptr64(log);
	attr.log_size = BPF_LOG_BYTES;
	strncpy(attr.prog_name, name, sizeof(attr.prog_name) - 1);
	fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0 && errno == ENOSPC) {
		/* The log did not fit: load again without it, so the error is the program's. */
		attr.log_level = 0;
		attr.log_buf = 0;
		attr.log_size = 0;
		fd = sys_bpf(BPF_PROG_LOAD, &attr);
	}
	if (fd < 0)
		fd = -errno;
	out = Py_BuildValue("(ls)", fd, log);
	free(log);
	PyBuffer_Release(&insns);
	return out;
}

/* bpf_map_create(map_type, key_size, value_size, max_entries, name, flags=0) -> fd
 * (flags BPF_F_MMAPABLE: an array whose values user space maps and reads in place) */
static PyObject *py_bpf_map_create(PyObject *self, PyObject *args)
{
	unsigned int type, ksize, vsize, entries, flags = 0;
	const char *name;
	union bpf_attr attr;
	long fd;

	if (!PyArg_ParseTuple(args, "IIIIs|I", &type, &ksize, &vsize, &entries, &name, &flags))
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = type;
	attr.map_flags = flags;
	attr.key_size = ksize;
	attr.value_size = vsize;
	attr.max_entries = entries;
	strncpy(attr.map_name, name, sizeof(attr.map_name) - 1);
	fd = sys_bpf(BPF_MAP_CREATE, &attr);
	if (fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	return PyLong_FromLong(fd);
}

/* bpf_map_update(fd, key, value, flags=BPF_ANY) */
static PyObject *py_bpf_map_update(PyObject *self, PyObject *args)
{
	int fd;
	unsigned long long flags = BPF_ANY;
	Py_buffer k, v;
	union bpf_attr attr;
	long r;

	if (!PyArg_ParseTuple(args, "iy*y*|K", &fd, &k, &v, &flags))
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = ptr64(k.buf);
	attr.value = ptr64(v.buf);
	attr.flags = flags;
	r = sys_bpf(BPF_MAP_UPDATE_ELEM, &attr);
	PyBuffer_Release(&k);
	PyBuffer_Release(&v);
	if (r < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	Py_RETURN_NONE;
}

/* bpf_map_lookup(fd, key, value) : value (a writable buffer) filled; per-CPU maps fill one
 * value per possible CPU, each rounded up to 8 bytes. Returns False when the key is absent. */
static PyObject *py_bpf_map_lookup(PyObject *self, PyObject *args)
{
	int fd;
	Py_buffer k, v;
	union bpf_attr attr;
	long r;

	if (!PyArg_ParseTuple(args, "iy*w*", &fd, &k, &v))
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = ptr64(k.buf);
	attr.value = ptr64(v.buf);
	r = sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr);
	PyBuffer_Release(&k);
	PyBuffer_Release(&v);
	if (r < 0) {
		if (errno == ENOENT)
			Py_RETURN_FALSE;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_TRUE;
}

/* bpf_map_next_key(fd, key or None, out) -> False at the end: out gets the key after `key`
 * (the first key when None); a map's keys walked one system call each. */
static PyObject *py_bpf_map_next_key(PyObject *self, PyObject *args)
{
	int fd;
	PyObject *ko;
	Py_buffer k = { 0 }, n;
	union bpf_attr attr;
	long r;

	if (!PyArg_ParseTuple(args, "iOw*", &fd, &ko, &n))
		return NULL;
	if (ko != Py_None && PyObject_GetBuffer(ko, &k, PyBUF_SIMPLE) < 0) {
		PyBuffer_Release(&n);
		return NULL;
	}
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = ko != Py_None ? ptr64(k.buf) : 0;
	attr.next_key = ptr64(n.buf);
	r = sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr);
	if (ko != Py_None)
		PyBuffer_Release(&k);
	PyBuffer_Release(&n);
	if (r < 0) {
		if (errno == ENOENT)
			Py_RETURN_FALSE;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_TRUE;
}

/* bpf_raw_tracepoint_open(name, prog_fd) -> fd: the program runs at the tracepoint while the
 * fd is open (a process that dies, even by SIGKILL, leaves nothing attached). No tracefs. name
 * None: a typed tracing program (BPF_TRACE_RAW_TP), whose tracepoint its load named. */
static PyObject *py_bpf_raw_tracepoint_open(PyObject *self, PyObject *args)
{
	const char *name;
	int prog;
	union bpf_attr attr;
	long fd;

	if (!PyArg_ParseTuple(args, "zi", &name, &prog))
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.raw_tracepoint.name = ptr64(name);
	attr.raw_tracepoint.prog_fd = (uint32_t)prog;
	fd = sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &attr);
	if (fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	return PyLong_FromLong(fd);
}

/* bpf_link_create_xdp(prog_fd, ifindex, flags) -> link fd. The program stays attached while
 * the link fd is open: a process that dies, even by SIGKILL, leaves nothing attached. */
static PyObject *py_bpf_link_create_xdp(PyObject *self, PyObject *args)
{
	int prog, ifindex;
	unsigned int flags = 0;
	union bpf_attr attr;
	long fd;

	if (!PyArg_ParseTuple(args, "ii|I", &prog, &ifindex, &flags))
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = prog;
	attr.link_create.target_ifindex = ifindex;
	attr.link_create.attach_type = BPF_XDP;
	attr.link_create.flags = flags;
	fd = sys_bpf(BPF_LINK_CREATE, &attr);
	if (fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	return PyLong_FromLong(fd);
}

/* bpf_prog_info(fd) -> (id, name, xlated bytes, jited bytes): the program as the kernel keeps it */
static PyObject *py_bpf_prog_info(PyObject *self, PyObject *args)
{
	int fd;
	struct bpf_prog_info info;
	union bpf_attr attr;

	if (!PyArg_ParseTuple(args, "i", &fd))
		return NULL;
	memset(&info, 0, sizeof(info));
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = fd;
	attr.info.info_len = sizeof(info);
	attr.info.info = ptr64(&info);
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	return Py_BuildValue("(IsIIKK)", info.id, info.name, info.xlated_prog_len, info.jited_prog_len,
			     (unsigned long long)info.run_time_ns, (unsigned long long)info.run_cnt);
}

/* bpf_prog_names() -> [(id, name)]: every BPF program loaded on this host (BPF_PROG_GET_NEXT_ID,
 * then each opened by id for its name; one that went away meanwhile is skipped). */
static PyObject *py_bpf_prog_names(PyObject *self, PyObject *unused)
{
	PyObject *out = PyList_New(0);
	union bpf_attr attr;
	uint32_t id = 0;

	if (!out)
		return NULL;
	for (;;) {
		struct bpf_prog_info info;
		PyObject *row;
		long fd;

		memset(&attr, 0, sizeof(attr));
		attr.start_id = id;
		if (sys_bpf(BPF_PROG_GET_NEXT_ID, &attr) < 0) {
			if (errno == ENOENT)
				return out;
			Py_DECREF(out);
			return PyErr_SetFromErrno(PyExc_OSError);
		}
		id = attr.next_id;
		memset(&attr, 0, sizeof(attr));
		attr.prog_id = id;
		fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		memset(&attr, 0, sizeof(attr));
		attr.info.bpf_fd = (uint32_t)fd;
		attr.info.info_len = sizeof(info);
		attr.info.info = ptr64(&info);
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) {
			close((int)fd);
			continue;
		}
		close((int)fd);
		row = Py_BuildValue("(Is)", info.id, info.name);
		if (!row || PyList_Append(out, row) < 0) {
			Py_XDECREF(row);
			Py_DECREF(out);
			return NULL;
		}
		Py_DECREF(row);
	}
}

/* perf_sample_bpf(cpu, period_ns, prog_fd) -> fd: the cpu-clock of one CPU sampled every
 * period_ns (every task on it, kernel and user), each sample running the BPF program (type
 * PERF_EVENT) instead of writing a ring buffer; counting stops when the fd is closed. */
static PyObject *py_perf_sample_bpf(PyObject *self, PyObject *args)
{
	int cpu, prog;
	unsigned long long period;
	struct perf_event_attr pe;
	long fd;

	if (!PyArg_ParseTuple(args, "iKi", &cpu, &period, &prog))
		return NULL;
	memset(&pe, 0, sizeof(pe));
	pe.type = PERF_TYPE_SOFTWARE;
	pe.size = sizeof(pe);
	pe.config = PERF_COUNT_SW_CPU_CLOCK;
	pe.sample_period = period;
	pe.disabled = 1;
	fd = syscall(__NR_perf_event_open, &pe, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_BPF, prog) < 0 || ioctl((int)fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
		int err = errno;

		close((int)fd);
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	return PyLong_FromLong(fd);
}

/* bpf_enable_stats() -> fd: the kernel times every BPF program's runs (run_time_ns, run_cnt in
 * bpf_prog_info) while the fd is open; no sysctl to put back. */
static PyObject *py_bpf_enable_stats(PyObject *self, PyObject *unused)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = BPF_STATS_RUN_TIME;
	fd = sys_bpf(BPF_ENABLE_STATS, &attr);
	if (fd < 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	return PyLong_FromLong(fd);
}

/* bpf_prog_run(prog_fd, data, ctx=None, repeat=1, flags=0, batch_size=0, calls=1, until_ns=0,
 *              counters=None)
 *   -> (retval, mean ns per run of the last call, calls made, errno of the call that stopped
 *       early or 0)
 * With BPF_F_TEST_XDP_LIVE_FRAMES each run sends a real frame. `calls` system calls of `repeat`
 * runs each, stopping early past until_ns (CLOCK_MONOTONIC) or on a signal (EINTR), all with
 * the GIL released: the in-kernel generator's loop. counters: each call adds a system call, a
 * batch and its time there (the program itself counts the frames it sends). */
static PyObject *py_bpf_prog_run(PyObject *self, PyObject *args)
{
	int fd;
	Py_buffer data, ctx = { 0 }, cv = { 0 };
	PyObject *ctxo = Py_None, *co = Py_None;
	unsigned int repeat = 1, flags = 0, batch = 0;
	unsigned long long calls = 1, until = 0, done = 0;
	union bpf_attr attr;
	uint64_t *c = NULL;
	int err = 0;

	if (!PyArg_ParseTuple(args, "iy*|OIIIKKO", &fd, &data, &ctxo, &repeat, &flags, &batch, &calls, &until, &co))
		return NULL;
	if (co != Py_None && !(c = counters_get(co, &cv))) {
		PyBuffer_Release(&data);
		return NULL;
	}
	if (ctxo != Py_None && PyObject_GetBuffer(ctxo, &ctx, PyBUF_SIMPLE) < 0) {
		PyBuffer_Release(&data);
		if (c)
			PyBuffer_Release(&cv);
		return NULL;
	}
	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = fd;
	attr.test.data_in = ptr64(data.buf);
	attr.test.data_size_in = (uint32_t)data.len;
	attr.test.repeat = repeat;
	attr.test.flags = flags;
	attr.test.batch_size = batch;
	if (ctx.buf) {
		attr.test.ctx_in = ptr64(ctx.buf);
		attr.test.ctx_size_in = (uint32_t)ctx.len;
	}
	Py_BEGIN_ALLOW_THREADS
	while (done < calls) {
		uint64_t n0 = mono_ns(), t0;
		long r;

		if (until && n0 >= until)
			break;
		t0 = tsc_begin();
		r = sys_bpf(BPF_PROG_TEST_RUN, &attr);
		if (c) {
			c[C_SYSCALLS]++;
			c[C_BATCHES]++;
			counters_time(c, t0, n0);
		}
		if (r < 0) {
			err = errno;
			break;
		}
		done++;
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&data);
	if (c)
		PyBuffer_Release(&cv);
	if (ctx.buf)
		PyBuffer_Release(&ctx);
	if (err && err != EINTR && !done) {
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	return Py_BuildValue("(IIKi)", attr.test.retval, attr.test.duration, done, err);
}

/* The in-kernel generator's loop: BPF_PROG_RUN with live frames, from `threads` threads at once
 * on this CPU. A live-frames call spends ~25 ms after its frames asleep (tearing its page pool
 * down: 0.3 ms of CPU), so one thread alone leaves gaps in the traffic, which a paced program
 * then has to catch up in a burst; two threads cover each other's gaps. They run one program on
 * one state (its counters, schedule and limit): on one CPU its runs never interleave. The
 * threads stop at an error or once the program's counters reach `limit` (limit_word: the state
 * word holding it); the calling thread watches the deadline (until_ns) and a stop signal, and
 * ends the running calls with a signal of their own (EINTR). */
#define LIVE_THREADS_MAX 4

struct live_run {
	union bpf_attr attr;
	uint64_t until;
	uint64_t *c;                 /* counters: packets written by the program, the rest by us */
	const volatile uint64_t *limit;
	int stop, err, done;
	uint64_t calls;
	uint64_t frame_bytes;        /* every frame's length: bytes = packets x this, kept up here */
	uint64_t left;               /* budget: frames not yet claimed by a call (0 with no budget) */
	int budgeted;                /* each call claims its repeat from `left`: the count is exact
				      * without a limit in the program (unpaced: every run is a frame) */
	int n;
	pthread_t tid[LIVE_THREADS_MAX];
};

static void live_stop_all(struct live_run *r)
{
	if (__atomic_exchange_n(&r->stop, 1, __ATOMIC_ACQ_REL))
		return;
	for (int i = 0; i < r->n; i++)
		if (!pthread_equal(r->tid[i], pthread_self()))
			pthread_kill(r->tid[i], SIGUSR1); /* ends its call with EINTR (the handler does nothing) */
}

/* The program counts frames only; every frame has one length, so bytes follow (1 ms behind at most). */
static void live_bytes(struct live_run *r)
{
	if (r->frame_bytes)
		__atomic_store_n(&r->c[C_BYTES], __atomic_load_n(&r->c[C_PACKETS], __ATOMIC_RELAXED) * r->frame_bytes,
				 __ATOMIC_RELAXED);
}

static void *live_thread(void *arg)
{
	struct live_run *r = arg;
	union bpf_attr attr = r->attr;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t n0 = mono_ns(), t0, left, take;
		long rc;

		if (r->until && n0 >= r->until)
			break;
		if (r->budgeted) {
			left = __atomic_load_n(&r->left, __ATOMIC_RELAXED);
			do {
				if (!left)
					goto out; /* nothing left to claim: the others finish theirs */
				take = left < r->attr.test.repeat ? left : r->attr.test.repeat;
			} while (!__atomic_compare_exchange_n(&r->left, &left, left - take, 0, __ATOMIC_RELAXED,
							      __ATOMIC_RELAXED));
			attr.test.repeat = (uint32_t)take;
		}
		t0 = tsc_begin();
		rc = sys_bpf(BPF_PROG_TEST_RUN, &attr);
		__atomic_fetch_add(&r->c[C_SYSCALLS], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->c[C_BATCHES], 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->c[C_CYCLES], tsc_end() - t0, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->c[C_NS], mono_ns() - n0, __ATOMIC_RELAXED);
		if (rc < 0) {
			if (errno != EINTR)
				r->err = errno;
			break;
		}
		__atomic_fetch_add(&r->calls, 1, __ATOMIC_RELAXED);
		live_bytes(r);
		if (__atomic_load_n(&r->c[C_PACKETS], __ATOMIC_RELAXED) >= *r->limit)
			break;
	}
	live_stop_all(r);
out:
	__atomic_fetch_add(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* bpf_prog_run_live(fd, data, ctx, repeat, batch_size, until_ns, counters, limit_word, threads=2,
 *                   frame_bytes=0, budget=0) -> (calls, errno of a failed call or 0). frame_bytes:
 *   the program counts packets only and bytes are packets x frame_bytes. budget: send exactly
 *   this many runs in all (the calls claim their repeat from it), for a program that sends
 *   every run and keeps no limit. The GIL is released throughout. */
static PyObject *py_bpf_prog_run_live(PyObject *self, PyObject *args)
{
	int fd, threads = 2, started = 0;
	Py_buffer data, ctx, cv, lv;
	PyObject *co, *lo;
	unsigned int repeat, batch;
	unsigned long long until, frame_bytes = 0, budget = 0;
	struct live_run r;

	if (!PyArg_ParseTuple(args, "iy*y*IIKOO|iKK", &fd, &data, &ctx, &repeat, &batch, &until, &co, &lo, &threads,
			      &frame_bytes, &budget))
		return NULL;
	memset(&r, 0, sizeof(r));
	r.frame_bytes = frame_bytes;
	r.left = budget;
	r.budgeted = budget > 0;
	if (!(r.c = counters_get(co, &cv))) {
		PyBuffer_Release(&data);
		PyBuffer_Release(&ctx);
		return NULL;
	}
	if (!(r.limit = buf_get(lo, &lv, 8, 1, "limit_word"))) {
		PyBuffer_Release(&data);
		PyBuffer_Release(&ctx);
		PyBuffer_Release(&cv);
		return NULL;
	}
	if (threads < 1 || threads > LIVE_THREADS_MAX)
		threads = 2;
	r.attr.test.prog_fd = fd;
	r.attr.test.data_in = ptr64(data.buf);
	r.attr.test.data_size_in = (uint32_t)data.len;
	r.attr.test.ctx_in = ptr64(ctx.buf);
	r.attr.test.ctx_size_in = (uint32_t)ctx.len;
	r.attr.test.repeat = repeat;
	r.attr.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
	r.attr.test.batch_size = batch;
	r.until = until;
	r.n = threads;
	Py_BEGIN_ALLOW_THREADS
	for (int i = 0; i < threads; i++) {
		r.tid[i] = pthread_self();
	}
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&r.tid[i], NULL, live_thread, &r)) {
			r.err = errno ? errno : EAGAIN;
			r.n = i;
			live_stop_all(&r);
			break;
		}
		started++;
	}
	/* This thread watches: the deadline, and a stop signal (EINTR here) end every call. */
	while (__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) < started) {
		struct timespec ts = { 0, 1000000 };

		if ((nanosleep(&ts, NULL) && errno == EINTR) || (r.until && mono_ns() >= r.until))
			live_stop_all(&r);
		live_bytes(&r);
	}
	for (int i = 0; i < started; i++)
		pthread_join(r.tid[i], NULL);
	live_bytes(&r);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&data);
	PyBuffer_Release(&ctx);
	PyBuffer_Release(&cv);
	PyBuffer_Release(&lv);
	return Py_BuildValue("(Ki)", (unsigned long long)r.calls, r.err);
}

/* bpf_prog_test_run_data(fd, data) -> (retval, data_out): one run, the frame as the program
 * left it (tests: what a program does to a packet, without sending it). */
static PyObject *py_bpf_prog_test_run_data(PyObject *self, PyObject *args)
{
	int fd;
	Py_buffer data;
	union bpf_attr attr;
	PyObject *out;
	char *buf;
	uint32_t cap;

	if (!PyArg_ParseTuple(args, "iy*", &fd, &data))
		return NULL;
	cap = (uint32_t)data.len + 256;
	buf = calloc(1, cap);
	if (!buf) {
		PyBuffer_Release(&data);
		return PyErr_NoMemory();
	}
	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = fd;
	attr.test.data_in = ptr64(data.buf);
	attr.test.data_size_in = (uint32_t)data.len;
	attr.test.data_out = ptr64(buf);
	attr.test.data_size_out = cap;
	attr.test.repeat = 1;
	PyBuffer_Release(&data);
	if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) {
		free(buf);
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	out = Py_BuildValue("(Iy#)", attr.test.retval, buf, (Py_ssize_t)attr.test.data_size_out);
	free(buf);
	return out;
}

#define BPF_METHODS                                                                                       \
	{ "bpf_prog_load", py_bpf_prog_load, METH_VARARGS,                                              \
	  "bpf_prog_load(type, insns, license, name, expected_attach_type=0, log_level=1, attach_btf_id=0) -> (fd or -errno, log)" }, \
	{ "bpf_map_create", py_bpf_map_create, METH_VARARGS,                                            \
	  "bpf_map_create(type, key_size, value_size, max_entries, name, flags=0) -> fd" },                       \
	{ "bpf_map_update", py_bpf_map_update, METH_VARARGS, "bpf_map_update(fd, key, value, flags=0)" }, \
	{ "bpf_map_lookup", py_bpf_map_lookup, METH_VARARGS,                                            \
	  "bpf_map_lookup(fd, key, out) -> found: out filled (per-CPU maps: one 8-aligned value per CPU)" }, \
	{ "bpf_map_next_key", py_bpf_map_next_key, METH_VARARGS,                                        \
	  "bpf_map_next_key(fd, key or None, out) -> found: out gets the next key (the first after None)" }, \
	{ "bpf_raw_tracepoint_open", py_bpf_raw_tracepoint_open, METH_VARARGS,                          \
	  "bpf_raw_tracepoint_open(name or None, prog_fd) -> fd (detached when closed)" },               \
	{ "bpf_link_create_xdp", py_bpf_link_create_xdp, METH_VARARGS,                                  \
	  "bpf_link_create_xdp(prog_fd, ifindex, flags=0) -> link fd (detached when closed)" },          \
	{ "bpf_prog_info", py_bpf_prog_info, METH_VARARGS,                                              \
	  "bpf_prog_info(fd) -> (id, name, xlated_bytes, jited_bytes, run_time_ns, run_cnt)" },          \
	{ "bpf_prog_names", py_bpf_prog_names, METH_NOARGS,                                             \
	  "bpf_prog_names() -> [(id, name)]: every BPF program loaded on this host" },                   \
	{ "perf_sample_bpf", py_perf_sample_bpf, METH_VARARGS,                                          \
	  "perf_sample_bpf(cpu, period_ns, prog_fd) -> fd: cpu-clock samples of one CPU run the program" }, \
	{ "bpf_enable_stats", py_bpf_enable_stats, METH_NOARGS,                                         \
	  "bpf_enable_stats() -> fd: programs' run time and count kept while it is open" },              \
	{ "bpf_prog_test_run_data", py_bpf_prog_test_run_data, METH_VARARGS,                            \
	  "bpf_prog_test_run_data(fd, data) -> (retval, data_out): one run, no frame sent" },            \
	{ "bpf_prog_run_live", py_bpf_prog_run_live, METH_VARARGS,                                      \
	  "bpf_prog_run_live(fd, data, ctx, repeat, batch_size, until_ns, counters, limit_word, threads=2, frame_bytes=0, "\
	  "budget=0)\n" \
	  "-> (calls, errno or 0): live frames from several threads at once on this CPU; GIL released" }, \
	{ "bpf_prog_run", py_bpf_prog_run, METH_VARARGS,                                                \
	  "bpf_prog_run(fd, data, ctx=None, repeat=1, flags=0, batch_size=0, calls=1, until_ns=0,\n"     \
	  "counters=None)\n"                                                                            \
	  "-> (retval, ns per run, calls made, errno that stopped it or 0); GIL released" },

#endif
