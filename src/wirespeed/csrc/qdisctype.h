/* The Python type over qdisc.h, and copy_frames (received frames into pool buffers). Included
 * once, from core.c, after ports.h (buf_get). */
#ifndef WS_QDISCTYPE_H
#define WS_QDISCTYPE_H

#include "ports.h"
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

/* copy_frames(src, offsets, lengths, n, dst, indices, buf_size) -> bytes copied: frame i to
 * dst[indices[i] * buf_size] (indices None: to dst[i * buf_size]); a frame longer than buf_size
 * is cut. Measured: 1.5 µs per 64 frames of 60 bytes, the call included (~23 ns/frame). */
static PyObject *core_copy_frames(PyObject *self, PyObject *args)
{
	PyObject *so, *oo, *lo, *dobj, *io;
	unsigned int n, bsize;
	Py_buffer s, o, l, d, ix;
	uint64_t bytes = 0;

	if (!PyArg_ParseTuple(args, "OOOIOOI", &so, &oo, &lo, &n, &dobj, &io, &bsize))
		return NULL;
	if (PyObject_GetBuffer(so, &s, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (!buf_get(oo, &o, 8, n, "offsets"))
		goto e1;
	if (!buf_get(lo, &l, 4, n, "lengths"))
		goto e2;
	if (!buf_get(dobj, &d, 1, 0, "dst"))
		goto e3;
	/* indices None: frame i to row i (staging a batch) */
	if (io != Py_None && !buf_get(io, &ix, 8, n, "indices"))
		goto e4;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = ((uint64_t *)o.buf)[i], dst = (io == Py_None ? i : ((uint64_t *)ix.buf)[i]) * bsize;
		uint32_t len = ((uint32_t *)l.buf)[i];

		if (len > bsize)
			len = bsize;
		if (off + len > (uint64_t)s.len || dst + len > (uint64_t)d.len) {
			PyErr_SetString(PyExc_ValueError, "frame outside its buffer");
			break;
		}
		memcpy((uint8_t *)d.buf + dst, (uint8_t *)s.buf + off, len);
		bytes += len;
	}
	if (io != Py_None)
		PyBuffer_Release(&ix);
e4:
	PyBuffer_Release(&d);
e3:
	PyBuffer_Release(&l);
e2:
	PyBuffer_Release(&o);
e1:
	PyBuffer_Release(&s);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromUnsignedLongLong(bytes);
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

#define QDISC_METHODS                                                                                     \
	{ "copy_frames", core_copy_frames, METH_VARARGS,                                                \
	  "copy_frames(src, offsets, lengths, n, dst, indices, buf_size) -> bytes: frames into pool buffers" }, \
	{ "qdisc_bench", core_qdisc_bench, METH_VARARGS,                                                \
	  "qdisc_bench(bulk, bypass, batch, n) -> (cycles, ns, packets, lock_ops)" },

static int qdisctype_init(PyObject *m)
{
	if (PyType_Ready(&QdiscType) < 0)
		return -1;
	Py_INCREF(&QdiscType);
	return PyModule_AddObject(m, "Qdisc", (PyObject *)&QdiscType);
}

#endif
