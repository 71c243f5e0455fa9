/* Python types over ring.h and pool.h: Ring and Pool, each over a buffer Python owns (shared
 * memory, so other processes attach by name), and the timed loops the cost profile uses.
 * Included once, from core.c, after ports.h (buf_get). */
#ifndef WS_MEMTYPES_H
#define WS_MEMTYPES_H

#include <stdlib.h>

#include "pool.h"
#include "ports.h"
#include "ring.h"
#include "tsc.h"

/* ---- Ring ---------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	Py_buffer mem;
	struct ring *r;
	uint64_t locks;
} RingObject;

static int Ring_init(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "buffer", "size", "flags", "create", NULL };
	PyObject *bo;
	unsigned int size = 0, flags = 0;
	int create = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|IIp", kwlist, &bo, &size, &flags, &create))
		return -1;
	if (self->r) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	if (PyObject_GetBuffer(bo, &self->mem, PyBUF_WRITABLE) < 0)
		return -1;
	self->r = self->mem.buf;
	if (((uintptr_t)self->r & 63) || (size_t)self->mem.len < sizeof(struct ring)) {
		PyErr_SetString(PyExc_ValueError, "ring memory must be 64-byte aligned and hold the header");
		goto fail;
	}
	if (create) {
		if ((size_t)self->mem.len < ring_bytes(size) || ring_init(self->r, size, flags)) {
			PyErr_SetString(PyExc_ValueError, "size must be a power of two that fits the buffer");
			goto fail;
		}
	} else if (__atomic_load_n(&self->r->magic, __ATOMIC_ACQUIRE) != RING_MAGIC ||
		   (size_t)self->mem.len < ring_bytes(self->r->size)) {
		PyErr_SetString(PyExc_ValueError, "no ring in this memory");
		goto fail;
	}
	return 0;
fail:
	PyBuffer_Release(&self->mem);
	self->r = NULL;
	return -1;
}

static void Ring_dealloc(RingObject *self)
{
	if (self->r)
		PyBuffer_Release(&self->mem);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* enqueue(items, n, bulk) / dequeue(out, n, bulk) -> count; arrays of uint64 */
static PyObject *Ring_move(RingObject *self, PyObject *args, int enq)
{
	PyObject *ao;
	unsigned int n;
	int bulk;
	Py_buffer a;
	uint32_t k;

	if (!PyArg_ParseTuple(args, "OIp", &ao, &n, &bulk))
		return NULL;
	if (!buf_get(ao, &a, 8, n, "items"))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	k = enq ? ring_enqueue(self->r, a.buf, n, bulk, &self->locks) : ring_dequeue(self->r, a.buf, n, bulk, &self->locks);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&a);
	return PyLong_FromUnsignedLong(k);
}

static PyObject *Ring_enqueue(RingObject *self, PyObject *args) { return Ring_move(self, args, 1); }
static PyObject *Ring_dequeue(RingObject *self, PyObject *args) { return Ring_move(self, args, 0); }
static PyObject *Ring_count(RingObject *self, PyObject *u) { return PyLong_FromUnsignedLong(ring_count(self->r)); }
static PyObject *Ring_get_size(RingObject *self, void *c) { return PyLong_FromUnsignedLong(self->r->size); }
static PyObject *Ring_get_flags(RingObject *self, void *c) { return PyLong_FromUnsignedLong(self->r->flags); }
static PyObject *Ring_get_locks(RingObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->locks); }

static PyMethodDef Ring_methods[] = {
	{ "enqueue", (PyCFunction)Ring_enqueue, METH_VARARGS,
	  "enqueue(items, n, bulk) -> count: bulk = all or nothing (0 or n), else as many as fit" },
	{ "dequeue", (PyCFunction)Ring_dequeue, METH_VARARGS,
	  "dequeue(out, n, bulk) -> count: bulk = all or nothing (0 or n), else as many as there are" },
	{ "count", (PyCFunction)Ring_count, METH_NOARGS, "handles in the ring (published)" },
	{ NULL },
};

static PyGetSetDef Ring_getset[] = {
	{ "size", (getter)Ring_get_size, NULL, "slots", NULL },
	{ "flags", (getter)Ring_get_flags, NULL, "RING_MP | RING_MC", NULL },
	{ "lock_ops", (getter)Ring_get_locks, NULL, "LOCK-prefixed CAS this object executed", NULL },
	{ NULL },
};

static PyTypeObject RingType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Ring",
	.tp_basicsize = sizeof(RingObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Ring(buffer, size=0, flags=0, create=False): a lock-free ring of uint64 in buffer\n"
		  "(create: initialise it; else attach to the ring already there).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Ring_init,
	.tp_dealloc = (destructor)Ring_dealloc,
	.tp_methods = Ring_methods,
	.tp_getset = Ring_getset,
};

/* ---- Pool ---------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	Py_buffer mem;
	struct pool_cache *c;
} PoolObject;

static int Pool_init(PoolObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "buffer", "nbufs", "buf_size", "create", "worker", "cache", "refill", NULL };
	PyObject *bo;
	unsigned int nbufs = 0, buf_size = 0, worker = 0, cache = 64, refill = 32;
	int create = 0;
	struct pool_hdr *h;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|IIpIII", kwlist, &bo, &nbufs, &buf_size, &create, &worker, &cache,
					 &refill))
		return -1;
	if (self->c) {
		PyErr_SetString(PyExc_RuntimeError, "already initialised");
		return -1;
	}
	if (PyObject_GetBuffer(bo, &self->mem, PyBUF_WRITABLE) < 0)
		return -1;
	h = self->mem.buf;
	if (((uintptr_t)h & 63) || (size_t)self->mem.len < sizeof(*h)) {
		PyErr_SetString(PyExc_ValueError, "pool memory must be 64-byte aligned and hold the header");
		goto fail;
	}
	if (create && ((size_t)self->mem.len < pool_bytes(nbufs, buf_size) || pool_init(h, nbufs, buf_size))) {
		PyErr_SetString(PyExc_ValueError, "nbufs >= 1, buf_size a multiple of 64, and room for them");
		goto fail;
	}
	self->c = aligned_alloc(64, (sizeof(struct pool_cache) + 63) & ~(size_t)63);
	if (!self->c) {
		PyErr_NoMemory();
		goto fail;
	}
	if (pool_attach(self->c, h, worker, cache, refill) || (size_t)self->mem.len < h->region) {
		PyErr_SetString(PyExc_ValueError, "no pool in this memory, or worker/cache/refill out of range");
		free(self->c);
		self->c = NULL;
		goto fail;
	}
	return 0;
fail:
	PyBuffer_Release(&self->mem);
	return -1;
}

static void Pool_dealloc(PoolObject *self)
{
	if (self->c) {
		pool_flush(self->c);
		free(self->c);
		PyBuffer_Release(&self->mem);
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Pool_alloc(PoolObject *self, PyObject *args)
{
	PyObject *ao;
	unsigned int n;
	int bulk;
	Py_buffer a;
	uint32_t k;

	if (!PyArg_ParseTuple(args, "OIp", &ao, &n, &bulk))
		return NULL;
	if (!buf_get(ao, &a, 8, n, "out"))
		return NULL;
	k = pool_alloc(self->c, a.buf, n, bulk);
	PyBuffer_Release(&a);
	return PyLong_FromUnsignedLong(k);
}

static PyObject *Pool_free(PoolObject *self, PyObject *args)
{
	PyObject *ao;
	unsigned int n;
	Py_buffer a;
	uint64_t *v;

	if (!PyArg_ParseTuple(args, "OI", &ao, &n))
		return NULL;
	if (!buf_get(ao, &a, 8, n, "items"))
		return NULL;
	v = a.buf;
	for (uint32_t i = 0; i < n; i++)
		if (v[i] >= self->c->h->nbufs) {
			PyBuffer_Release(&a);
			return PyErr_Format(PyExc_ValueError, "buffer %llu is not in this pool", (unsigned long long)v[i]);
		}
	pool_free(self->c, v, n);
	PyBuffer_Release(&a);
	Py_RETURN_NONE;
}

static PyObject *Pool_flush(PoolObject *self, PyObject *u)
{
	pool_flush(self->c);
	Py_RETURN_NONE;
}

/* accounting() -> (free, cached, in_flight, total): summed over every worker's published counts */
static PyObject *Pool_accounting(PoolObject *self, PyObject *u)
{
	struct pool_hdr *h = self->c->h;
	int64_t cached = 0, flight = 0;

	for (int i = 0; i < POOL_WORKERS; i++) {
		cached += __atomic_load_n(&h->w[i].cached, __ATOMIC_RELAXED);
		flight += __atomic_load_n(&h->w[i].in_flight, __ATOMIC_RELAXED);
	}
	return Py_BuildValue("(ILLI)", ring_count(self->c->r), (long long)cached, (long long)flight, h->nbufs);
}

static PyObject *Pool_get_layout(PoolObject *self, void *c)
{
	struct pool_hdr *h = self->c->h;

	return Py_BuildValue("{sIsIsKsK}", "nbufs", h->nbufs, "buf_size", h->buf_size, "data_off",
			     (unsigned long long)h->data_off, "region", (unsigned long long)h->region);
}

static PyObject *Pool_get_cached(PoolObject *self, void *c) { return PyLong_FromUnsignedLong(self->c->n); }
static PyObject *Pool_get_locks(PoolObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->c->locks); }

static PyMethodDef Pool_methods[] = {
	{ "alloc", (PyCFunction)Pool_alloc, METH_VARARGS,
	  "alloc(out, n, bulk) -> count of buffer indices written: bulk = 0 or n, else as many as there are" },
	{ "free", (PyCFunction)Pool_free, METH_VARARGS, "free(items, n): give buffers back" },
	{ "flush", (PyCFunction)Pool_flush, METH_NOARGS, "hand this worker's cache back to the shared ring" },
	{ "accounting", (PyCFunction)Pool_accounting, METH_NOARGS, "(free, cached, in_flight, total)" },
	{ NULL },
};

static PyGetSetDef Pool_getset[] = {
	{ "layout", (getter)Pool_get_layout, NULL, "nbufs, buf_size, data_off, region (bytes)", NULL },
	{ "cached", (getter)Pool_get_cached, NULL, "buffers in this worker's cache", NULL },
	{ "lock_ops", (getter)Pool_get_locks, NULL, "LOCK-prefixed CAS this worker executed", NULL },
	{ NULL },
};

static PyTypeObject PoolType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Pool",
	.tp_basicsize = sizeof(PoolObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Pool(buffer, nbufs=0, buf_size=0, create=False, worker=0, cache=64, refill=32):\n"
		  "fixed buffers in buffer behind a shared MPMC ring, with this worker's cache in front.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Pool_init,
	.tp_dealloc = (destructor)Pool_dealloc,
	.tp_methods = Pool_methods,
	.tp_getset = Pool_getset,
};

/* ---- timed loops for the cost profile ------------------------------------------------------ */

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

#define MEM_METHODS                                                                                       \
	{ "ring_bench", core_ring_bench, METH_VARARGS,                                                  \
	  "ring_bench(flags, batch, n) -> (cycles, ns, handles, lock_ops): enqueue+dequeue per handle" }, \
	{ "pool_bench", core_pool_bench, METH_VARARGS,                                                  \
	  "pool_bench(pattern, batch, n, cache) -> (cycles, ns, allocs, lock_ops): alloc+free per buffer" },

static int memtypes_init(PyObject *m)
{
	if (PyType_Ready(&RingType) < 0 || PyType_Ready(&PoolType) < 0)
		return -1;
	Py_INCREF(&RingType);
	Py_INCREF(&PoolType);
	if (PyModule_AddObject(m, "Ring", (PyObject *)&RingType) < 0 ||
	    PyModule_AddObject(m, "Pool", (PyObject *)&PoolType) < 0)
		return -1;
	if (PyModule_AddIntConstant(m, "RING_MP", RING_MP) < 0 || PyModule_AddIntConstant(m, "RING_MC", RING_MC) < 0 ||
	    PyModule_AddIntConstant(m, "RING_HEADER", sizeof(struct ring)) < 0 ||
	    PyModule_AddIntConstant(m, "POOL_HEADER", sizeof(struct pool_hdr)) < 0 ||
	    PyModule_AddIntConstant(m, "POOL_CACHE_MAX", POOL_CACHE_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "POOL_WORKERS", POOL_WORKERS) < 0)
		return -1;
	return 0;
}

#endif
