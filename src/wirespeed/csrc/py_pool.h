/* Python type Pool over the buffer pool (pool.h), in a buffer Python owns (shared memory). */
#ifndef WS_PY_POOL_H
#define WS_PY_POOL_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include <stdlib.h>

#include "pool.h"


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

static int py_pool_add(PyObject *m)
{
	if (add_type(m, "Pool", &PoolType) < 0)
		return -1;
	if (PyModule_AddIntConstant(m, "POOL_HEADER", sizeof(struct pool_hdr)) < 0 ||
	    PyModule_AddIntConstant(m, "POOL_CACHE_MAX", POOL_CACHE_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "POOL_WORKERS", POOL_WORKERS) < 0)
		return -1;
	return 0;
}

#endif
