/* Python type Sink over the receiver's accounting (sink.h). Its statistics live in a buffer the
 * caller may give (shared memory: the parent reads them while a worker receives). */
#ifndef WS_PY_SINK_H
#define WS_PY_SINK_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include <stdlib.h>
#include <string.h>

#include "sink.h"

typedef struct {
	PyObject_HEAD
	struct sink *k;
	Py_buffer mem; /* the statistics' memory when given */
	uint64_t *own; /* else ours */
	Py_buffer rec; /* records=: the per-frame records' memory */
} SinkObject;

static void Sink_capture_stop(SinkObject *self)
{
	if (self->k && self->k->cap) {
		pcap_flush(self->k->cap);
		free(self->k->cap);
		self->k->cap = NULL;
	}
}

static void Sink_release(SinkObject *self)
{
	Sink_capture_stop(self);
	if (self->mem.obj)
		PyBuffer_Release(&self->mem);
	if (self->rec.obj)
		PyBuffer_Release(&self->rec);
	free(self->own);
	free(self->k);
	self->own = NULL;
	self->k = NULL;
}

static int Sink_init(SinkObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "udp_port", "stats", "count_only", "spin", "verify", "records", NULL };
	unsigned int port = 0;
	int count_only = 0, spin = 0, verify = 1;
	PyObject *stats = Py_None, *records = Py_None;
	uint64_t *mem;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IOpppO", kwlist, &port, &stats, &count_only, &spin, &verify,
					 &records))
		return -1;
	Sink_release(self);
	if (!(self->k = malloc(sizeof(*self->k)))) {
		PyErr_NoMemory();
		return -1;
	}
	if (stats != Py_None) {
		if (!(mem = buf_get(stats, &self->mem, 8, SINK_STATS_WORDS, "stats"))) {
			Sink_release(self);
			return -1;
		}
	} else if (!(mem = self->own = calloc(SINK_STATS_WORDS, sizeof(uint64_t)))) {
		Sink_release(self);
		PyErr_NoMemory();
		return -1;
	}
	sink_init(self->k, mem, port);
	if (records != Py_None) { /* each stamped frame's (stream|seq, latency): a count, then a ring */
		uint64_t *r = buf_get(records, &self->rec, 8, 2, "records");
		uint64_t n = r ? (uint64_t)(self->rec.len / 8 - 1) : 0;

		if (!r || n & (n - 1)) {
			if (r)
				PyErr_SetString(PyExc_ValueError, "records: 1 + a power of two uint64 words");
			Sink_release(self);
			return -1;
		}
		self->k->rec = r;
		self->k->rec_mask = n - 1;
		r[0] = 0;
	}
	self->k->count_only = (uint8_t)count_only;
	self->k->spin = (uint8_t)spin;
	self->k->verify = (uint8_t)verify;
	return 0;
}

static void Sink_dealloc(SinkObject *self)
{
	Sink_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

WS_NAME_TABLE(sink_stat_names, WS_SINK_STATS, S_COUNT);
WS_NAME_TABLE(sink_stream_stat_names, WS_SINK_STREAM_STATS, P_COUNT);

static PyObject *Sink_stats(SinkObject *self, PyObject *unused)
{
	PyObject *d = PyDict_New();

	if (!d)
		return NULL;
	for (int i = 0; i < S_COUNT; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(self->k->s[i]);
		if (!v || PyDict_SetItemString(d, sink_stat_names[i], v) < 0) {
			Py_XDECREF(v);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(v);
	}
	return d;
}

/* flush(): settle the sequence suspects every stream holds (the end of a run). */
static PyObject *Sink_flush(SinkObject *self, PyObject *unused)
{
	sink_flush(self->k);
	Py_RETURN_NONE;
}

static PyObject *Sink_hist(SinkObject *self, PyObject *unused)
{
	return PyBytes_FromStringAndSize((const char *)self->k->hist, SINK_HIST * sizeof(uint64_t));
}

/* frames(buffer, offsets, lengths, rx_ns): account Ethernet frames handed in from Python. */
static PyObject *Sink_frames(SinkObject *self, PyObject *args)
{
	PyObject *bo, *oo, *lo;
	unsigned long long rx_ns;
	Py_buffer b, o, l;
	Py_ssize_t n;

	if (!PyArg_ParseTuple(args, "OOOK", &bo, &oo, &lo, &rx_ns))
		return NULL;
	if (PyObject_GetBuffer(bo, &b, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (!buf_get(oo, &o, 8, 0, "offsets")) {
		PyBuffer_Release(&b);
		return NULL;
	}
	if (!buf_get(lo, &l, 4, o.len / 8, "lengths")) {
		PyBuffer_Release(&b);
		PyBuffer_Release(&o);
		return NULL;
	}
	n = o.len / 8;
	for (Py_ssize_t i = 0; i < n; i++) {
		uint64_t off = ((uint64_t *)o.buf)[i];
		uint32_t len = ((uint32_t *)l.buf)[i];
		if (off + len > (uint64_t)b.len) {
			PyErr_SetString(PyExc_ValueError, "frame outside the buffer");
			break;
		}
		sink_frame(self->k, (const uint8_t *)b.buf + off, len, rx_ns);
	}
	PyBuffer_Release(&b);
	PyBuffer_Release(&o);
	PyBuffer_Release(&l);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromSsize_t(n);
}

/* capture(fd, snaplen, max_frames): from now on every frame is also written to fd as pcap. */
static PyObject *Sink_capture(SinkObject *self, PyObject *args)
{
	int fd;
	unsigned int snaplen;
	unsigned long long max;

	if (!PyArg_ParseTuple(args, "iIK", &fd, &snaplen, &max))
		return NULL;
	if (snaplen < 14)
		return PyErr_Format(PyExc_ValueError, "snaplen must be at least 14 (an Ethernet header), got %u", snaplen);
	Sink_capture_stop(self);
	if (!(self->k->cap = malloc(sizeof(struct pcap_out))))
		return PyErr_NoMemory();
	pcap_start(self->k->cap, fd, snaplen, max);
	Py_RETURN_NONE;
}

/* capture_status() -> (frames, bytes, errno): what is written so far (flushed first). */
static PyObject *Sink_capture_status(SinkObject *self, PyObject *unused)
{
	struct pcap_out *w = self->k->cap;

	if (!w)
		return Py_BuildValue("KKi", 0ull, 0ull, 0);
	Py_BEGIN_ALLOW_THREADS
	pcap_flush(w);
	Py_END_ALLOW_THREADS
	return Py_BuildValue("KKi", (unsigned long long)w->frames, (unsigned long long)w->bytes, w->err);
}

static PyMethodDef Sink_methods[] = {
	{ "stats", (PyCFunction)Sink_stats, METH_NOARGS, "Counters as a dict (names in SINK_STAT_NAMES)." },
	{ "hist", (PyCFunction)Sink_hist, METH_NOARGS,
	  "Latency histogram as bytes of uint64: log-linear ns buckets, 2**SINK_HIST_SUB per power of two." },
	{ "frames", (PyCFunction)Sink_frames, METH_VARARGS, "frames(buffer, offsets, lengths, rx_ns): account frames." },
	{ "flush", (PyCFunction)Sink_flush, METH_NOARGS,
	  "Settle the sequence suspects each stream holds (the end of a run): see sink.h." },
	{ "capture", (PyCFunction)Sink_capture, METH_VARARGS,
	  "capture(fd, snaplen, max_frames): write every frame from now on to fd as nanosecond pcap." },
	{ "capture_status", (PyCFunction)Sink_capture_status, METH_NOARGS,
	  "capture_status() -> (frames, bytes, errno): flush, then what is written so far." },
	{ NULL },
};

static PyTypeObject SinkType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Sink",
	.tp_basicsize = sizeof(SinkObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Sink(udp_port=0, stats=None): counts, loss/reorder/duplicates from the pktgen header, latency.\n"
		  "stats: a uint64 buffer of SINK_STATS_WORDS (SINK_STAT_NAMES, the histogram, then SINK_STREAMS blocks of\n"
		  "SINK_STREAM_STAT_NAMES, then SINK_STREAMS latency histograms) to keep them in; records: a uint64 buffer\n"
		  "of 1 + 2**k words, a count and a ring of (stream|seq << 32 | latency ns) records, one per stamped frame.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Sink_init,
	.tp_dealloc = (destructor)Sink_dealloc,
	.tp_methods = Sink_methods,
};

static int py_sink_add(PyObject *m)
{
	if (add_type(m, "Sink", &SinkType) < 0 || add_names(m, "SINK_STAT_NAMES", sink_stat_names, S_COUNT) < 0 ||
	    add_names(m, "SINK_STREAM_STAT_NAMES", sink_stream_stat_names, P_COUNT) < 0)
		return -1;
	PyModule_AddIntConstant(m, "SINK_STREAMS", SINK_STREAMS);
	PyModule_AddIntConstant(m, "SINK_HIST_SUB", SINK_HIST_SUB);
	PyModule_AddIntConstant(m, "SINK_HIST", SINK_HIST);
	PyModule_AddIntConstant(m, "SINK_STATS_WORDS", SINK_STATS_WORDS);
	return 0;
}

#endif
