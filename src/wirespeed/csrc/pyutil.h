/* What every binding file shares: numpy buffers taken from arguments and checked, the argument
 * sets of rx_burst and tx_burst, set-up errors that name their step, and module wiring. */
#ifndef WS_PYUTIL_H
#define WS_PYUTIL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "counters.h"

/* A writable contiguous buffer of at least `min_items` items of `itemsize` bytes. */
static void *buf_get(PyObject *obj, Py_buffer *v, Py_ssize_t itemsize, Py_ssize_t min_items, const char *what)
{
	if (PyObject_GetBuffer(obj, v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (itemsize > 1 && v->itemsize != itemsize) {
		PyErr_Format(PyExc_TypeError, "%s must have %zd-byte items", what, itemsize);
		PyBuffer_Release(v);
		return NULL;
	}
	if (v->len / (itemsize ? itemsize : 1) < min_items) {
		PyErr_Format(PyExc_ValueError, "%s holds fewer than %zd items", what, min_items);
		PyBuffer_Release(v);
		return NULL;
	}
	return v->buf;
}

static uint64_t *counters_get(PyObject *obj, Py_buffer *v)
{
	return buf_get(obj, v, 8, C_COUNT, "counters");
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0): the arrays it fills; max is
 * how many frames they hold. */
struct burst_args {
	Py_buffer o, l, t, c;
	uint64_t *off, *ts, *counters;
	uint32_t *len;
	uint32_t max;
	int timeout;
};

static int burst_args_get(PyObject *args, struct burst_args *b)
{
	PyObject *oo, *lo, *to, *co;

	b->timeout = 0;
	if (!PyArg_ParseTuple(args, "OOOO|i", &oo, &lo, &to, &co, &b->timeout))
		return -1;
	if (!(b->off = buf_get(oo, &b->o, 8, 1, "offsets")))
		return -1;
	b->max = (uint32_t)(b->o.len / 8);
	if (!(b->len = buf_get(lo, &b->l, 4, b->max, "lengths")))
		goto e1;
	if (!(b->ts = buf_get(to, &b->t, 8, b->max, "timestamps")))
		goto e2;
	if (!(b->counters = counters_get(co, &b->c)))
		goto e3;
	return 0;
e3:
	PyBuffer_Release(&b->t);
e2:
	PyBuffer_Release(&b->l);
e1:
	PyBuffer_Release(&b->o);
	return -1;
}

static void burst_args_release(struct burst_args *b)
{
	PyBuffer_Release(&b->c);
	PyBuffer_Release(&b->t);
	PyBuffer_Release(&b->l);
	PyBuffer_Release(&b->o);
}

/* tx_burst(buffer, offsets, lengths, n, counters): n frames, each checked to lie inside buffer. */
struct frames_args {
	Py_buffer b, o, l, c;
	const uint8_t *base;
	uint64_t *off, *counters;
	uint32_t *len;
	uint32_t n;
};

static int frames_args_get(PyObject *args, struct frames_args *f)
{
	PyObject *bo, *oo, *lo, *co;

	if (!PyArg_ParseTuple(args, "OOOIO", &bo, &oo, &lo, &f->n, &co))
		return -1;
	if (PyObject_GetBuffer(bo, &f->b, PyBUF_C_CONTIGUOUS) < 0)
		return -1;
	f->base = f->b.buf;
	if (!(f->off = buf_get(oo, &f->o, 8, f->n, "offsets")))
		goto e1;
	if (!(f->len = buf_get(lo, &f->l, 4, f->n, "lengths")))
		goto e2;
	if (!(f->counters = counters_get(co, &f->c)))
		goto e3;
	for (uint32_t i = 0; i < f->n; i++)
		if (f->off[i] + f->len[i] > (uint64_t)f->b.len) {
			PyErr_SetString(PyExc_ValueError, "frame outside the buffer");
			goto e4;
		}
	return 0;
e4:
	PyBuffer_Release(&f->c);
e3:
	PyBuffer_Release(&f->l);
e2:
	PyBuffer_Release(&f->o);
e1:
	PyBuffer_Release(&f->b);
	return -1;
}

static void frames_args_release(struct frames_args *f)
{
	PyBuffer_Release(&f->c);
	PyBuffer_Release(&f->l);
	PyBuffer_Release(&f->o);
	PyBuffer_Release(&f->b);
}

/* OSError(errno, "<step>: <strerror>"): names which set-up step the kernel refused. */
static PyObject *oserror_step(int err, const char *step)
{
	PyObject *v = Py_BuildValue("(is)", -err, step);

	if (v) {
		PyErr_SetObject(PyExc_OSError, v);
		Py_DECREF(v);
	}
	return NULL;
}

#define CHECK_OPEN(cond)                                                                         \
	do {                                                                                     \
		if (!(cond))                                                                     \
			return PyErr_Format(PyExc_ValueError, "port is closed");                 \
	} while (0)

/* A type whose buffer is memory it owns (a ring mapping, a UMEM): numpy views count as exports,
 * so the memory outlives close() until the last view goes. Defines Prefix_getbuffer,
 * Prefix_releasebuffer and Prefix_as_buffer. */
#define EXPORTED_BUFFER(Prefix, Object, ptr, len, readonly)                                      \
	static int Prefix##_getbuffer(Object *self, Py_buffer *view, int flags)                  \
	{                                                                                        \
		if (!(ptr)) {                                                                    \
			PyErr_SetString(PyExc_BufferError, "port is closed");                    \
			return -1;                                                               \
		}                                                                                \
		if (PyBuffer_FillInfo(view, (PyObject *)self, (ptr), (Py_ssize_t)(len), readonly, flags) < 0) \
			return -1;                                                               \
		self->exports++;                                                                 \
		return 0;                                                                        \
	}                                                                                        \
	static void Prefix##_releasebuffer(Object *self, Py_buffer *view) { self->exports--; }   \
	static PyBufferProcs Prefix##_as_buffer = { (getbufferproc)Prefix##_getbuffer,           \
						    (releasebufferproc)Prefix##_releasebuffer }

static int add_type(PyObject *m, const char *name, PyTypeObject *t)
{
	if (PyType_Ready(t) < 0)
		return -1;
	Py_INCREF(t);
	if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
		Py_DECREF(t);
		return -1;
	}
	return 0;
}

static int add_names(PyObject *m, const char *attr, const char **names, int n)
{
	PyObject *t = PyTuple_New(n);

	if (!t)
		return -1;
	for (int i = 0; i < n; i++)
		PyTuple_SET_ITEM(t, i, PyUnicode_FromString(names[i]));
	return PyModule_AddObject(m, attr, t);
}

#endif
