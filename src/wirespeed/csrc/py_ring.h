/* Python type Ring over the lock-free ring (ring.h), in a buffer Python owns (shared memory,
 * so other processes attach by name). */
#ifndef WS_PY_RING_H
#define WS_PY_RING_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "ring.h"


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

static int py_ring_add(PyObject *m)
{
	if (add_type(m, "Ring", &RingType) < 0)
		return -1;
	if (PyModule_AddIntConstant(m, "RING_MP", RING_MP) < 0 || PyModule_AddIntConstant(m, "RING_MC", RING_MC) < 0 ||
	    PyModule_AddIntConstant(m, "RING_HEADER", sizeof(struct ring)) < 0)
		return -1;
	return 0;
}

#endif
