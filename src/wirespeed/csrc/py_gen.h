/* Python type Gen over the frame builder (gen.h). */
#ifndef WS_PY_GEN_H
#define WS_PY_GEN_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "gen.h"


typedef struct {
	PyObject_HEAD
	struct gen g;
} GenObject;

static int Gen_init(GenObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "template", "l3", "l4", "ipv6", "sizes", "fields", "flows", "seed",
				  "seq_base", "stamp", NULL };
	Py_buffer tmpl;
	unsigned int l3, l4, flows = 0, seq_base = 0;
	int ipv6, stamp = 1;
	unsigned long long seed = 1;
	PyObject *sizes, *fields, *seq = NULL;
	struct gen *g = &self->g;
	Py_ssize_t n;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*IIpOO|IKIp", kwlist, &tmpl, &l3, &l4, &ipv6, &sizes,
					 &fields, &flows, &seed, &seq_base, &stamp))
		return -1;
	memset(g, 0, sizeof(*g));
	if (tmpl.len > GEN_MAX_FRAME || l4 + 8 + (stamp ? PKTGEN_HDR_LEN : 0) > (size_t)tmpl.len || l3 >= l4) {
		PyBuffer_Release(&tmpl);
		PyErr_SetString(PyExc_ValueError, "template too long or offsets outside it");
		return -1;
	}
	memcpy(g->tmpl, tmpl.buf, tmpl.len);
	PyBuffer_Release(&tmpl);
	g->l3 = l3;
	g->l4 = l4;
	g->payload = l4 + 8;
	g->ipv6 = ipv6;
	g->stamp = stamp;
	g->flows = flows;
	g->seq_base = seq_base << SEQ_BITS;
	g->rng = seed | 1;

	seq = PySequence_Fast(sizes, "sizes must be a sequence");
	if (!seq)
		return -1;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n < 1 || n > GEN_MAX_SIZES) {
		Py_DECREF(seq);
		PyErr_Format(PyExc_ValueError, "1..%d frame sizes", GEN_MAX_SIZES);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(seq, i));
		if (PyErr_Occurred() || v < g->payload + (stamp ? PKTGEN_HDR_LEN : 0) || v > (unsigned long)GEN_MAX_FRAME) {
			Py_DECREF(seq);
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError, "frame length %lu does not fit the headers", v);
			return -1;
		}
		g->sizes[i] = (uint32_t)v;
	}
	g->nsizes = (uint32_t)n;
	Py_DECREF(seq);

	seq = PySequence_Fast(fields, "fields must be a sequence");
	if (!seq)
		return -1;
	if (PySequence_Fast_GET_SIZE(seq) != GEN_FIELDS) {
		Py_DECREF(seq);
		PyErr_SetString(PyExc_ValueError, "fields: (lo, count, mode) for saddr, daddr, sport, dport");
		return -1;
	}
	for (int i = 0; i < GEN_FIELDS; i++) {
		unsigned int lo, count, mode;
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "III", &lo, &count, &mode) || count == 0 ||
		    mode > M_RANDOM) {
			Py_DECREF(seq);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "field count must be >= 1 and mode 0..2");
			return -1;
		}
		g->f[i] = (struct gen_field){ lo, count, mode };
	}
	Py_DECREF(seq);
	return gen_prepare(g);
}

/* build(buffer, stride, lengths): build len(lengths) frames at buffer + i*stride (tests, tx_burst). */
static PyObject *Gen_build(GenObject *self, PyObject *args)
{
	PyObject *bufo, *leno;
	Py_ssize_t stride;
	Py_buffer b, l;
	uint8_t *buf;
	uint32_t *lens;
	Py_ssize_t n;

	if (!PyArg_ParseTuple(args, "OnO", &bufo, &stride, &leno))
		return NULL;
	if (!(lens = buf_get(leno, &l, 4, 0, "lengths")))
		return NULL;
	n = l.len / 4;
	if (stride < GEN_MAX_FRAME && stride < 64) {
		PyBuffer_Release(&l);
		return PyErr_Format(PyExc_ValueError, "stride too small");
	}
	if (!(buf = buf_get(bufo, &b, 1, n * stride, "buffer"))) {
		PyBuffer_Release(&l);
		return NULL;
	}
	if (self->g.stamp)
		gen_stamp(&self->g);
	for (Py_ssize_t i = 0; i < n; i++) {
		uint32_t need = self->g.sizes[self->g.pkt % self->g.nsizes];
		if (need > stride) {
			PyBuffer_Release(&b);
			PyBuffer_Release(&l);
			return PyErr_Format(PyExc_ValueError, "stride %zd below frame length %u", stride, need);
		}
		lens[i] = gen_build(&self->g, buf + i * stride);
	}
	PyBuffer_Release(&b);
	PyBuffer_Release(&l);
	return PyLong_FromSsize_t(n);
}

static PyObject *Gen_set_rate(GenObject *self, PyObject *arg)
{
	double ns = PyFloat_AsDouble(arg);

	if (PyErr_Occurred())
		return NULL;
	self->g.ns_per_pkt = ns;
	self->g.pace_t0 = 0;
	self->g.pace_sent = 0;
	Py_RETURN_NONE;
}

static PyObject *Gen_get_packets(GenObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->g.pkt); }
static PyObject *Gen_get_seq(GenObject *self, void *c) { return PyLong_FromUnsignedLong(self->g.seq); }
static PyObject *Gen_get_ns_per_pkt(GenObject *self, void *c) { return PyFloat_FromDouble(self->g.ns_per_pkt); }

static PyMethodDef Gen_methods[] = {
	{ "build", (PyCFunction)Gen_build, METH_VARARGS,
	  "build(buffer, stride, lengths) -> n: build len(lengths) frames at buffer[i*stride], lengths filled." },
	{ "set_rate", (PyCFunction)Gen_set_rate, METH_O,
	  "set_rate(ns_per_packet): pace at one packet per this many ns (0: unpaced); restarts the pacer." },
	{ NULL },
};

static PyGetSetDef Gen_getset[] = {
	{ "packets", (getter)Gen_get_packets, NULL, "frames built so far", NULL },
	{ "seq", (getter)Gen_get_seq, NULL, "next pktgen sequence counter (low 28 bits used)", NULL },
	{ "ns_per_pkt", (getter)Gen_get_ns_per_pkt, NULL, "pacing interval in ns (0: as fast as possible)", NULL },
	{ NULL },
};

static PyTypeObject GenType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Gen",
	.tp_basicsize = sizeof(GenObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Gen(template, l3, l4, ipv6, sizes, fields, flows=0, seed=1, seq_base=0, stamp=True)\n"
		  "Frame builder: template without FCS, sizes = frame lengths without FCS used in turn,\n"
		  "fields = (lo, count, mode) for saddr, daddr, sport, dport; mode 0 fixed, 1 inc, 2 random.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Gen_init,
	.tp_methods = Gen_methods,
	.tp_getset = Gen_getset,
};

static int py_gen_add(PyObject *m)
{
	if (add_type(m, "Gen", &GenType) < 0)
		return -1;
	PyModule_AddIntConstant(m, "SEQ_BITS", SEQ_BITS);
	PyModule_AddIntConstant(m, "PKTGEN_MAGIC", PKTGEN_MAGIC);
	PyModule_AddIntConstant(m, "PKTGEN_HDR_LEN", PKTGEN_HDR_LEN);
	PyModule_AddIntConstant(m, "GEN_MAX_FRAME", GEN_MAX_FRAME);
	PyModule_AddIntConstant(m, "GEN_MAX_SIZES", GEN_MAX_SIZES);
	return 0;
}

#endif
