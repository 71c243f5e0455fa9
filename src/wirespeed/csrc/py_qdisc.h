/* Python type Qdisc over the queueing discipline (qdisc.h). */
#ifndef WS_PY_QDISC_H
#define WS_PY_QDISC_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "qdisc.h"

typedef struct {
	PyObject_HEAD
	struct qdisc qd;
	int ready;
} QdiscObject;

static int Qdisc_init(QdiscObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "bands", "limit", "bulk", "byte_budget", NULL };
	unsigned int bands = 1, limit = 1024, budget = 65536;
	int bulk = 1;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IIpI", kwlist, &bands, &limit, &bulk, &budget))
		return -1;
	if (self->ready)
		qdisc_free(&self->qd);
	self->ready = 0;
	if (limit > (1u << 20) || qdisc_init(&self->qd, bands, limit, bulk, budget)) {
		qdisc_free(&self->qd);
		PyErr_SetString(PyExc_ValueError, "bands 1..3, limit 1..2^20, byte_budget > 0");
		return -1;
	}
	self->ready = 1;
	return 0;
}

static void Qdisc_dealloc(QdiscObject *self)
{
	if (self->ready)
		qdisc_free(&self->qd);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* classify(data, offsets, lengths, n, bands_out): the band of each frame */
static PyObject *Qdisc_classify(QdiscObject *self, PyObject *args)
{
	PyObject *bo, *oo, *lo, *ro;
	unsigned int n;
	Py_buffer b, o, l, r;

	if (!PyArg_ParseTuple(args, "OOOIO", &bo, &oo, &lo, &n, &ro))
		return NULL;
	if (PyObject_GetBuffer(bo, &b, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (!buf_get(oo, &o, 8, n, "offsets"))
		goto e1;
	if (!buf_get(lo, &l, 4, n, "lengths"))
		goto e2;
	if (!buf_get(ro, &r, 4, n, "bands"))
		goto e3;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = ((uint64_t *)o.buf)[i];
		uint32_t len = ((uint32_t *)l.buf)[i];

		((uint32_t *)r.buf)[i] = off + len <= (uint64_t)b.len ? qdisc_band(&self->qd, (uint8_t *)b.buf + off, len) : 0;
	}
	PyBuffer_Release(&r);
e3:
	PyBuffer_Release(&l);
e2:
	PyBuffer_Release(&o);
e1:
	PyBuffer_Release(&b);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

/* enqueue(descs, bands, n, dropped_out) -> how many were dropped (written to dropped_out) */
static PyObject *Qdisc_enqueue(QdiscObject *self, PyObject *args)
{
	PyObject *dobj, *bobj, *xobj;
	unsigned int n;
	Py_buffer d, b, x;
	uint32_t dropped = 0;

	if (!PyArg_ParseTuple(args, "OOIO", &dobj, &bobj, &n, &xobj))
		return NULL;
	if (!buf_get(dobj, &d, 8, n, "descs"))
		return NULL;
	if (!buf_get(bobj, &b, 4, n, "bands"))
		goto e1;
	if (!buf_get(xobj, &x, 8, n, "dropped"))
		goto e2;
	for (uint32_t i = 0; i < n; i++)
		if (((uint32_t *)b.buf)[i] >= self->qd.bands) {
			PyErr_SetString(PyExc_ValueError, "band out of range");
			goto e3;
		}
	dropped = qdisc_enqueue(&self->qd, d.buf, b.buf, n, x.buf);
e3:
	PyBuffer_Release(&x);
e2:
	PyBuffer_Release(&b);
e1:
	PyBuffer_Release(&d);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromUnsignedLong(dropped);
}

/* dequeue(out, max) -> n: takes and gives back the token itself (0 if someone else holds it) */
static PyObject *Qdisc_dequeue(QdiscObject *self, PyObject *args)
{
	PyObject *oo;
	unsigned int max;
	Py_buffer o;
	uint32_t got;

	if (!PyArg_ParseTuple(args, "OI", &oo, &max))
		return NULL;
	if (!buf_get(oo, &o, 8, max, "out"))
		return NULL;
	got = qdisc_dequeue_run(&self->qd, o.buf, max);
	PyBuffer_Release(&o);
	return PyLong_FromUnsignedLong(got);
}

static PyObject *Qdisc_run_begin(QdiscObject *self, PyObject *u) { return PyBool_FromLong(qdisc_run_begin(&self->qd)); }
static PyObject *Qdisc_try_bypass(QdiscObject *self, PyObject *u) { return PyBool_FromLong(qdisc_try_bypass(&self->qd)); }

static PyObject *Qdisc_run_end(QdiscObject *self, PyObject *args)
{
	unsigned long long bypassed = 0;

	if (!PyArg_ParseTuple(args, "|K", &bypassed))
		return NULL;
	self->qd.bypassed += bypassed;
	qdisc_run_end(&self->qd);
	Py_RETURN_NONE;
}

static PyObject *Qdisc_stats(QdiscObject *self, PyObject *u)
{
	struct qdisc *q = &self->qd;
	PyObject *hist = PyList_New(QD_HIST);

	if (!hist)
		return NULL;
	for (int i = 0; i < QD_HIST; i++)
		PyList_SET_ITEM(hist, i, PyLong_FromUnsignedLongLong(q->hist[i]));
	return Py_BuildValue("{sKsKsKsKsKsKsIsN}", "lock_ops", (unsigned long long)q->lock_ops, "enqueued",
			     (unsigned long long)q->enqueued, "dequeued", (unsigned long long)q->dequeued, "bypassed",
			     (unsigned long long)q->bypassed, "dropped", (unsigned long long)q->dropped, "dequeue_calls",
			     (unsigned long long)q->dq_calls, "backlog", qdisc_backlog(q), "dequeue_batch_hist", hist);
}

static PyMethodDef Qdisc_methods[] = {
	{ "classify", (PyCFunction)Qdisc_classify, METH_VARARGS, "classify(data, offsets, lengths, n, bands_out)" },
	{ "enqueue", (PyCFunction)Qdisc_enqueue, METH_VARARGS,
	  "enqueue(descs, bands, n, dropped_out) -> dropped (tail drop when a band is full)" },
	{ "dequeue", (PyCFunction)Qdisc_dequeue, METH_VARARGS,
	  "dequeue(out, max) -> n: token taken and given back; strict priority, bulk up to byte_budget" },
	{ "run_begin", (PyCFunction)Qdisc_run_begin, METH_NOARGS, "take the transmit token -> held" },
	{ "try_bypass", (PyCFunction)Qdisc_try_bypass, METH_NOARGS,
	  "empty and free -> token taken, send directly (then run_end(bypassed))" },
	{ "run_end", (PyCFunction)Qdisc_run_end, METH_VARARGS, "run_end(bypassed=0): give the token back" },
	{ "stats", (PyCFunction)Qdisc_stats, METH_NOARGS, "counters as a dict" },
	{ NULL },
};

static PyTypeObject QdiscType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Qdisc",
	.tp_basicsize = sizeof(QdiscObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Qdisc(bands=1, limit=1024, bulk=True, byte_budget=65536): pfifo (1 band) or prio (3).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Qdisc_init,
	.tp_dealloc = (destructor)Qdisc_dealloc,
	.tp_methods = Qdisc_methods,
};

static int py_qdisc_add(PyObject *m)
{
	if (add_type(m, "Qdisc", &QdiscType) < 0)
		return -1;
	return PyModule_AddIntConstant(m, "QD_KEY_BITS", QD_KEY_BITS);
}

#endif
