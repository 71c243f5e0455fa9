/* The timed loops of the cost profile (timebench.h) and of the memory parts (ring, pool,
 * qdisc), and the clocks: module functions, each one timed loop with the GIL released. */
#ifndef WS_PY_BENCH_H
#define WS_PY_BENCH_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "qdisc.h"
#include "ring.h"
#include "timebench.h"
#include "tsc.h"

static PyObject *core_clock(PyObject *self, PyObject *unused)
{
	uint64_t t = tsc_begin(), m = mono_ns();

	return Py_BuildValue("(KK)", (unsigned long long)t, (unsigned long long)m);
}

static PyObject *core_tsc_calibrate(PyObject *self, PyObject *args)
{
	unsigned long long window_ns;
	uint64_t cycles, ns;

	if (!PyArg_ParseTuple(args, "K", &window_ns))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	tsc_calibrate(window_ns, &cycles, &ns);
	Py_END_ALLOW_THREADS
	return Py_BuildValue("(KK)", (unsigned long long)cycles, (unsigned long long)ns);
}

static const struct tb_op *tb_find(const char *name)
{
	for (size_t i = 0; i < sizeof(tb_ops) / sizeof(tb_ops[0]); i++)
		if (!strcmp(tb_ops[i].name, name))
			return &tb_ops[i];
	return NULL;
}

static PyObject *core_timebench(PyObject *self, PyObject *args)
{
	const char *name;
	unsigned long long n, arg = 0;
	uint64_t c0, c1, m0, m1, unit;
	const struct tb_op *op;
	volatile uint64_t sink;

	if (!PyArg_ParseTuple(args, "sK|K", &name, &n, &arg))
		return NULL;
	op = tb_find(name);
	if (!op)
		return PyErr_Format(PyExc_ValueError, "unknown timebench operation %s", name);
	if (op->needs_chase && !chase_buf.base)
		return PyErr_Format(PyExc_RuntimeError, "%s needs chase_setup() first", name);
	unit = op->unit ? op->unit : arg;
	if (unit == 0 || n == 0)
		return PyErr_Format(PyExc_ValueError, "%s needs n > 0 and a batch size > 0", name);
	n = (n + unit - 1) / unit * unit;

	Py_BEGIN_ALLOW_THREADS
	m0 = mono_ns();
	c0 = tsc_begin();
	sink = op->fn(n, arg);
	c1 = tsc_end();
	m1 = mono_ns();
	Py_END_ALLOW_THREADS
	(void)sink;
	return Py_BuildValue("(KKK)", (unsigned long long)(c1 - c0), (unsigned long long)(m1 - m0), n);
}

static PyObject *core_timebench_ops(PyObject *self, PyObject *unused)
{
	size_t count = sizeof(tb_ops) / sizeof(tb_ops[0]);
	PyObject *t = PyTuple_New((Py_ssize_t)count);

	if (!t)
		return NULL;
	for (size_t i = 0; i < count; i++)
		PyTuple_SET_ITEM(t, (Py_ssize_t)i, PyUnicode_FromString(tb_ops[i].name));
	return t;
}

static PyObject *core_chase_setup(PyObject *self, PyObject *args)
{
	unsigned long long bytes, seed = 0x9e3779b97f4a7c15ull;
	int err;

	if (!PyArg_ParseTuple(args, "K|K", &bytes, &seed))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	err = chase_setup((size_t)bytes, seed);
	Py_END_ALLOW_THREADS
	if (err) {
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_NONE;
}

static PyObject *core_chase_free(PyObject *self, PyObject *unused)
{
	chase_free();
	Py_RETURN_NONE;
}

/* The cheapest possible call from Python into the core: what one crossing costs. */
static PyObject *core_noop(PyObject *self, PyObject *unused)
{
	Py_RETURN_NONE;
}

/* ring_bench(flags, batch, n) -> (cycles, ns, ops, lock_ops): n handles through one ring, enqueue
 * then dequeue `batch` at a time, one thread (the talk's "ring op" figures: cost per handle). */
static PyObject *core_ring_bench(PyObject *self, PyObject *args)
{
	unsigned int flags, batch;
	unsigned long long n;
	uint64_t items[256], c0, c1, m0, m1, locks = 0, done = 0;
	struct ring *r;

	if (!PyArg_ParseTuple(args, "IIK", &flags, &batch, &n))
		return NULL;
	if (!batch || batch > 256)
		return PyErr_Format(PyExc_ValueError, "batch 1..256");
	r = aligned_alloc(64, ring_bytes(1024));
	if (!r)
		return PyErr_NoMemory();
	ring_init(r, 1024, flags);
	for (uint32_t i = 0; i < batch; i++)
		items[i] = i;
	Py_BEGIN_ALLOW_THREADS
	m0 = mono_ns();
	c0 = tsc_begin();
	for (; done < n; done += batch) {
		ring_enqueue(r, items, batch, 1, &locks);
		ring_dequeue(r, items, batch, 1, &locks);
	}
	c1 = tsc_end();
	m1 = mono_ns();
	Py_END_ALLOW_THREADS
	free(r);
	return Py_BuildValue("(KKKK)", (unsigned long long)(c1 - c0), (unsigned long long)(m1 - m0),
			     (unsigned long long)done, (unsigned long long)locks);
}

/* pool_bench(pattern, batch, n, cache) -> (cycles, ns, ops, lock_ops): alloc+free pairs.
 * pattern 0: alloc then free the same `batch` buffers at once (reuse);
 * pattern 1: 256 allocs (in batches) then 256 frees (in batches). */
static PyObject *core_pool_bench(PyObject *self, PyObject *args)
{
	unsigned int pattern, batch, cache;
	unsigned long long n;
	uint64_t held[256], c0, c1, m0, m1, done = 0;
	struct pool_hdr *h;
	struct pool_cache *c;

	if (!PyArg_ParseTuple(args, "IIKI", &pattern, &batch, &n, &cache))
		return NULL;
	if (!batch || batch > 256 || 256 % batch || cache > POOL_CACHE_MAX)
		return PyErr_Format(PyExc_ValueError, "batch must divide 256, cache <= %d", POOL_CACHE_MAX);
	h = aligned_alloc(64, (pool_bytes(4096, 64) + 63) & ~(size_t)63);
	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (!h || !c) {
		free(h);
		free(c);
		return PyErr_NoMemory();
	}
	pool_init(h, 4096, 64);
	pool_attach(c, h, 0, cache, cache / 2);
	Py_BEGIN_ALLOW_THREADS
	m0 = mono_ns();
	c0 = tsc_begin();
	while (done < n) {
		if (pattern == 0) {
			pool_alloc(c, held, batch, 1);
			pool_free(c, held, batch);
			done += batch;
		} else {
			for (uint32_t i = 0; i < 256; i += batch)
				pool_alloc(c, held + i, batch, 1);
			for (uint32_t i = 0; i < 256; i += batch)
				pool_free(c, held + i, batch);
			done += 256;
		}
	}
	c1 = tsc_end();
	m1 = mono_ns();
	Py_END_ALLOW_THREADS
	{
		PyObject *out = Py_BuildValue("(KKKK)", (unsigned long long)(c1 - c0), (unsigned long long)(m1 - m0),
					      (unsigned long long)done, (unsigned long long)c->locks);
		free(c);
		free(h);
		return out;
	}
}

/* qdisc_bench(bulk, bypass, batch, n) -> (cycles, ns, packets, lock_ops): a producer offers
 * `batch` packets at a time and the transmitter takes what is queued, one thread; with bypass
 * an empty queue sends straight away. */
static PyObject *core_qdisc_bench(PyObject *self, PyObject *args)
{
	int bulk, bypass;
	unsigned int batch;
	unsigned long long n;
	uint64_t d[256], out[256], drop[256], c0, c1, m0, m1, done = 0;
	uint32_t band[256] = { 0 };
	struct qdisc qd;

	if (!PyArg_ParseTuple(args, "ppIK", &bulk, &bypass, &batch, &n))
		return NULL;
	if (!batch || batch > 256)
		return PyErr_Format(PyExc_ValueError, "batch 1..256");
	if (qdisc_init(&qd, 1, 1024, bulk, 1u << 30)) {
		qdisc_free(&qd);
		return PyErr_NoMemory();
	}
	for (uint32_t i = 0; i < batch; i++)
		d[i] = qd_desc(i, 60);
	Py_BEGIN_ALLOW_THREADS
	m0 = mono_ns();
	c0 = tsc_begin();
	for (; done < n; done += batch) {
		if (bypass && qdisc_try_bypass(&qd)) {
			qd.bypassed += batch; /* the device takes them: nothing queued */
			qdisc_run_end(&qd);
			continue;
		}
		qdisc_enqueue(&qd, d, band, batch, drop);
		for (uint32_t got = 0; got < batch;)
			got += qdisc_dequeue_run(&qd, out, batch - got);
	}
	c1 = tsc_end();
	m1 = mono_ns();
	Py_END_ALLOW_THREADS
	qdisc_free(&qd);
	return Py_BuildValue("(KKKK)", (unsigned long long)(c1 - c0), (unsigned long long)(m1 - m0),
			     (unsigned long long)done, (unsigned long long)qd.lock_ops);
}

#define BENCH_METHODS                                                                                     \
	{ "clock", core_clock, METH_NOARGS, "clock() -> (tsc, monotonic_ns): both clocks, read back to back." }, \
	{ "tsc_calibrate", core_tsc_calibrate, METH_VARARGS,                                            \
	  "tsc_calibrate(window_ns) -> (cycles, ns): TSC cycles counted while CLOCK_MONOTONIC advanced ns." }, \
	{ "timebench", core_timebench, METH_VARARGS,                                                    \
	  "timebench(op, n, batch=0) -> (cycles, ns, n_done): run op n times (rounded up to whole batches)\n" \
	  "in one timed loop with the GIL released." },                                                 \
	{ "timebench_ops", core_timebench_ops, METH_NOARGS, "Names of the operations timebench() knows." }, \
	{ "chase_setup", core_chase_setup, METH_VARARGS,                                                \
	  "chase_setup(bytes, seed=...): build the random pointer chase walked by timebench('chase')." }, \
	{ "chase_free", core_chase_free, METH_NOARGS, "Release the pointer-chase buffer." },            \
	{ "noop", core_noop, METH_NOARGS, "Do nothing: the cost of one call from Python into the core." }, \
	{ "ring_bench", core_ring_bench, METH_VARARGS,                                                  \
	  "ring_bench(flags, batch, n) -> (cycles, ns, handles, lock_ops): enqueue+dequeue per handle" }, \
	{ "pool_bench", core_pool_bench, METH_VARARGS,                                                  \
	  "pool_bench(pattern, batch, n, cache) -> (cycles, ns, allocs, lock_ops): alloc+free per buffer" }, \
	{ "qdisc_bench", core_qdisc_bench, METH_VARARGS,                                                \
	  "qdisc_bench(bulk, bypass, batch, n) -> (cycles, ns, packets, lock_ops)" },

#endif
