/* Python type Gen over the frame builder (gen.h). */
#ifndef WS_PY_GEN_H
#define WS_PY_GEN_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "gen.h"
#include <stdlib.h>


typedef struct {
	PyObject_HEAD
	struct gen g;
	Py_buffer mem;     /* the departure statistics' memory when given (stats=) */
	uint64_t *own;     /* else ours */
	PyObject *streams; /* interleave(): the streams' Gen objects, kept alive while g.mux points into them */
} GenObject;

static void Gen_release(GenObject *self)
{
	if (self->mem.obj)
		PyBuffer_Release(&self->mem);
	free(self->own);
	self->own = NULL;
	free(self->g.mux);
	self->g.mux = NULL;
	Py_CLEAR(self->streams);
}

static void Gen_dealloc(GenObject *self)
{
	Gen_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Gen_init(GenObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "template", "l3", "l4", "ipv6", "sizes", "fields", "flows", "seed",
				  "seq_base", "stamp", "stats", "outer_l3", "outer_l4", "proto", "outer_v6", "outer_sports", "outer_srcs", "outer_dsts",
				  NULL };
	Py_buffer tmpl;
	unsigned int l3, l4, flows = 0, seq_base = 0, outer_l3 = 0, outer_l4 = 0, proto = 17, outer_sports = 1;
	unsigned int outer_srcs = 1, outer_dsts = 1;
	int ipv6, stamp = 1, outer_v6 = 0;
	unsigned long long seed = 1;
	PyObject *sizes, *fields, *seq = NULL, *stats = Py_None;
	struct gen *g = &self->g;
	uint64_t *d;
	Py_ssize_t n;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*IIpOO|IKIpOIIIpIII", kwlist, &tmpl, &l3, &l4, &ipv6, &sizes,
					 &fields, &flows, &seed, &seq_base, &stamp, &stats, &outer_l3, &outer_l4, &proto,
					 &outer_v6, &outer_sports, &outer_srcs, &outer_dsts))
		return -1;
	if (proto != 17 && proto != 6 && proto != 1 && proto != 58) {
		PyErr_SetString(PyExc_ValueError, "proto: 17 (UDP), 6 (TCP), 1 (ICMP) or 58 (ICMPv6)");
		return -1;
	}
	Gen_release(self);
	if (stats != Py_None) {
		if (!(d = buf_get(stats, &self->mem, 8, PACE_STATS_WORDS, "stats"))) {
			PyBuffer_Release(&tmpl);
			return -1;
		}
	} else if (!(d = self->own = calloc(PACE_STATS_WORDS, sizeof(uint64_t)))) {
		PyBuffer_Release(&tmpl);
		PyErr_NoMemory();
		return -1;
	}
	memset(g, 0, sizeof(*g));
	pace_init(&g->pace, d, 0, 1);
	if (tmpl.len > GEN_MAX_FRAME || l4 + (proto == 6 ? 20 : 8) + (stamp ? PKTGEN_HDR_LEN : 0) > (size_t)tmpl.len ||
	    l3 >= l4 ||
	    (outer_l3 && (outer_l3 + (outer_v6 ? 40 : 20) > l3 ||
			  (outer_l4 && (outer_l4 < outer_l3 + (outer_v6 ? 40 : 20) || outer_l4 + 8 > l3)))) ||
	    !outer_sports || outer_sports > 65536 || !outer_srcs || !outer_dsts) {
		PyBuffer_Release(&tmpl);
		PyErr_SetString(PyExc_ValueError, "template too long or offsets outside it");
		return -1;
	}
	memcpy(g->tmpl, tmpl.buf, tmpl.len);
	PyBuffer_Release(&tmpl);
	g->l3 = l3;
	g->l4 = l4;
	g->outer_l3 = outer_l3;
	g->outer_l4 = outer_l4;
	g->outer_v6 = outer_v6;
	g->outer_sports = outer_sports;
	g->outer_srcs = outer_srcs;
	g->outer_dsts = outer_dsts;
	g->proto = proto;
	g->payload = l4 + (proto == 6 ? 20 : 8);
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

/* raw(fields, fix, l3, l4, proto, v6): from now on the template is sent as it is but for the
 * fields ((offset, width, mode, lo, span, step) each), its checksums fixed when fix (l3, l4: where
 * the IP and L4 headers start, 0: none; proto: the L4 protocol; v6: IPv6). */
static PyObject *Gen_raw(GenObject *self, PyObject *args)
{
	PyObject *fields, *seq;
	int fix, v6;
	unsigned int l3, l4, proto;
	struct gen *g = &self->g;
	Py_ssize_t n;

	if (!PyArg_ParseTuple(args, "OpIIIp", &fields, &fix, &l3, &l4, &proto, &v6))
		return NULL;
	if (!(seq = PySequence_Fast(fields, "fields must be a sequence")))
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > GEN_RAW_FIELDS) {
		Py_DECREF(seq);
		return PyErr_Format(PyExc_ValueError, "at most %d fields", GEN_RAW_FIELDS);
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		struct gen_raw_field *f = &g->rf[i];

		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "IIIIII", &f->off, &f->width, &f->mode, &f->lo,
				      &f->span, &f->step) || (f->width != 1 && f->width != 2 && f->width != 4) ||
		    f->off + f->width > g->sizes[0] || f->mode > R_RANDOM || !f->span) {
			Py_DECREF(seq);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "a field: width 1, 2 or 4 inside the frame, span >= 1");
			return NULL;
		}
	}
	Py_DECREF(seq);
	if ((l3 && l3 + (v6 ? 40 : 20) > g->sizes[0]) || (l4 && l4 + 8 > g->sizes[0])) {
		PyErr_SetString(PyExc_ValueError, "headers outside the frame");
		return NULL;
	}
	g->nraw = (uint32_t)n;
	g->raw_fix = fix;
	g->raw_l3 = l3;
	g->raw_l4 = l4;
	g->raw_proto = proto;
	g->raw_v6 = v6;
	g->raw = 1;
	g->stamp = 0;
	gen_raw_prepare(g);
	Py_RETURN_NONE;
}

static PyTypeObject GenType;

/* interleave(streams, intervals, counts, max_burst): from now on this gen sends the streams' frames
 * (each a Gen) interleaved by their schedules: stream i one frame per intervals[i] ns (all 0: in
 * turn, unpaced), counts[i] frames (None: no end); its own schedule is their sum's. */
static PyObject *Gen_interleave(GenObject *self, PyObject *args)
{
	PyObject *streams, *intervals, *counts, *s = NULL, *iv = NULL, *cn = NULL;
	unsigned int max_burst;
	struct gen_mux *m;
	Py_ssize_t n;
	int paced = -1;

	if (!PyArg_ParseTuple(args, "OOOI", &streams, &intervals, &counts, &max_burst))
		return NULL;
	if (!(s = PySequence_Tuple(streams)) || !(iv = PySequence_Fast(intervals, "intervals: a sequence")) ||
	    !(cn = PySequence_Fast(counts, "counts: a sequence")))
		goto fail;
	n = PyTuple_GET_SIZE(s);
	if (n < 1 || n > GEN_STREAMS || PySequence_Fast_GET_SIZE(iv) != n || PySequence_Fast_GET_SIZE(cn) != n ||
	    !max_burst) {
		PyErr_Format(PyExc_ValueError, "1..%d streams, an interval and a count each, max_burst >= 1", GEN_STREAMS);
		goto fail;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		PyErr_NoMemory();
		goto fail;
	}
	m->n = (uint32_t)n;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o = PyTuple_GET_ITEM(s, i), *c = PySequence_Fast_GET_ITEM(cn, i);
		double ns = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(iv, i));

		if (!PyObject_TypeCheck(o, &GenType) || (GenObject *)o == self || ((GenObject *)o)->g.mux || ns < 0 ||
		    (paced >= 0 && paced != (ns > 0))) {
			free(m);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "streams: other plain Gen objects, every one paced or none");
			goto fail;
		}
		paced = ns > 0;
		m->s[i] = &((GenObject *)o)->g;
		m->interval[i] = ns;
		m->step[i] = ns > 0 ? (uint64_t)(ns * 256.0) : 1;
		m->at[i] = 0;
		m->left[i] = c == Py_None ? UINT64_MAX : PyLong_AsUnsignedLongLong(c);
		if (PyErr_Occurred() || !m->left[i]) {
			free(m);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "a stream's count: >= 1 or None");
			goto fail;
		}
		m->active |= 1u << i;
		if (m->s[i]->stamp)
			self->g.stamp = 1;
		for (uint32_t k = 0; k < m->s[i]->nsizes; k++) /* Gen.build's stride check: the largest */
			if (m->s[i]->sizes[k] > self->g.sizes[0])
				self->g.sizes[0] = m->s[i]->sizes[k];
	}
	free(self->g.mux);
	Py_XSETREF(self->streams, s);
	self->g.mux = m;
	self->g.nsizes = 1;
	gen_seek(&self->g);
	pace_init(&self->g.pace, self->g.pace.d, gen_mux_interval(m), max_burst);
	Py_DECREF(iv);
	Py_DECREF(cn);
	Py_RETURN_NONE;
fail:
	Py_XDECREF(s);
	Py_XDECREF(iv);
	Py_XDECREF(cn);
	return NULL;
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
	struct gen_batch batch;
	int stamped = 1;

	if (!PyArg_ParseTuple(args, "OnO|p", &bufo, &stride, &leno, &stamped))
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
	if (!stamped) /* a template for the kernel's generator: no time of its own */
		gen_stamp_at(&self->g, 0, 0);
	else if (self->g.stamp)
		gen_stamp(&self->g);
	for (uint32_t k = 0; k < self->g.nsizes; k++) /* every frame fits its slot, checked once */
		if (self->g.sizes[k] > stride) {
			PyBuffer_Release(&b);
			PyBuffer_Release(&l);
			return PyErr_Format(PyExc_ValueError, "stride %zd below frame length %u", stride,
					    self->g.sizes[k]);
		}
	gen_batch_begin(&batch, &self->g, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	for (Py_ssize_t i = 0; i < n; i++)
		lens[i] = gen_batch_build(&batch, buf + i * stride);
	gen_batch_end(&batch);
	PyBuffer_Release(&b);
	PyBuffer_Release(&l);
	return PyLong_FromSsize_t(n);
}

/* unbuild(k): the last k frames built were not sent: their numbers (and slots) go back. */
static PyObject *Gen_unbuild(GenObject *self, PyObject *arg)
{
	unsigned long k = PyLong_AsUnsignedLong(arg);

	if (PyErr_Occurred())
		return NULL;
	if (k > self->g.pkt || k > GEN_MUX_PICKS)
		return PyErr_Format(PyExc_ValueError, "unbuild: at most the frames built and %d", GEN_MUX_PICKS);
	gen_unbuild(&self->g, (uint32_t)k);
	Py_RETURN_NONE;
}

/* set_rate(ns_per_packet, max_burst=PACE_MAX_BURST, lead_ns=0): the schedule starts afresh (its statistics
 * too); lead_ns > 0: kernel-timed, frames handed over that far ahead of their departure time. */
static PyObject *Gen_set_rate(GenObject *self, PyObject *args)
{
	double ns;
	unsigned int max_burst = PACE_MAX_BURST;
	unsigned long long lead = 0;

	if (!PyArg_ParseTuple(args, "d|IK", &ns, &max_burst, &lead))
		return NULL;
	if (ns < 0 || max_burst < 1)
		return PyErr_Format(PyExc_ValueError, "ns_per_packet >= 0, max_burst >= 1");
	pace_init(&self->g.pace, self->g.pace.d, ns, max_burst);
	self->g.pace.lead_ns = lead;
	Py_RETURN_NONE;
}

static PyObject *Gen_get_packets(GenObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->g.pkt); }
static PyObject *Gen_get_seq(GenObject *self, void *c) { return PyLong_FromUnsignedLong(self->g.seq); }
static PyObject *Gen_get_ns_per_pkt(GenObject *self, void *c) { return PyFloat_FromDouble(self->g.pace.interval); }
static PyObject *Gen_get_max_burst(GenObject *self, void *c) { return PyLong_FromUnsignedLong(self->g.pace.max_burst); }

/* Where the builder writes what varies, and what varies: what a program that rewrites its
 * frames in the kernel (ports/kernel.py) must know of them. */
static PyObject *Gen_get_layout(GenObject *self, void *c)
{
	const struct gen *g = &self->g;
	PyObject *d, *fields = PyList_New(0), *vary = PyList_New(0);

	for (uint32_t i = 0; fields && i < g->nraw; i++) { /* a raw template's fields, as gen_build_raw varies them */
		const struct gen_raw_field *f = &g->rf[i];
		PyObject *t = Py_BuildValue("{sI sI sI sI sI sI sI sI s(IIII) s(IIII)}", "off", f->off, "width", f->width,
					    "mode", f->mode, "lo", f->lo, "span", f->span, "step", f->step, "in_ip", f->in_ip,
					    "in_l4", f->in_l4, "ip_shift", f->ip_shift[0], f->ip_shift[1], f->ip_shift[2],
					    f->ip_shift[3], "l4_shift", f->l4_shift[0], f->l4_shift[1], f->l4_shift[2],
					    f->l4_shift[3]);

		if (!t || PyList_Append(fields, t) < 0)
			Py_CLEAR(fields);
		Py_XDECREF(t);
	}
	for (int i = 0; vary && i < GEN_FIELDS; i++) { /* the template's fields: address, address, port, port */
		const struct gen_field *f = &g->f[i];
		int addr = i == F_SADDR || i == F_DADDR;
		PyObject *t = Py_BuildValue("{sI sI sI sI sI si si}", "off", gen_field_off(g, i), "width", addr ? 4 : 2,
					    "lo", f->lo, "count", f->count, "mode", f->mode, "in_ip", addr && !g->ipv6,
					    "in_l4", !addr || g->proto != 1); /* ICMPv4: no pseudo-header */

		if (!t || PyList_Append(vary, t) < 0)
			Py_CLEAR(vary);
		Py_XDECREF(t);
	}
	if (!fields || !vary) {
		Py_XDECREF(fields);
		Py_XDECREF(vary);
		return NULL;
	}
	d = Py_BuildValue("{sN sI sI sI sI sI sI sI sI sK sK}", "raw_fields", fields, "raw_fix", g->raw_fix,
			  "raw_incr", g->raw_incr, "raw_l3", g->raw_l3, "raw_l4", g->raw_l4, "raw_v6", g->raw_v6,
			  "raw_proto", g->raw_proto, "raw_csum_off", g->raw_csum_off, "raw_l4_end", g->raw_l4 + g->raw_l4len, "raw_ip_sum",
			  (unsigned long long)g->raw_ip_sum, "raw_l4_sum", (unsigned long long)g->raw_l4_sum);
	if (!d) {
		Py_DECREF(vary);
		return NULL;
	}
	{
		PyObject *rest = Py_BuildValue("{sI sI sI sI sI sI sI sI sI sI sI sI sI sN sI sI}", "l3", g->l3, "l4", g->l4,
			     "payload", g->payload, "ipv6", g->ipv6, "proto", g->proto, "csum_off", gen_csum_off(g),
			     "outer_l3", g->outer_l3, "outer_l4", g->outer_l4, "outer_v6", g->outer_v6,
			     "outer_sports", g->outer_sports, "outer_srcs", g->outer_srcs, "outer_dsts", g->outer_dsts,
			     "flows", g->flows, "fields", vary, "stamp", g->stamp, "raw", g->raw);

		if (!rest || PyDict_Update(d, rest) < 0) {
			Py_XDECREF(rest);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(rest);
	}
	return d;
}

WS_NAME_TABLE(departure_names, WS_DEPARTURES, D_COUNT);

static PyObject *Gen_departures(GenObject *self, PyObject *unused)
{
	PyObject *d = PyDict_New();

	if (!d)
		return NULL;
	for (int i = 0; i < D_COUNT; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(self->g.pace.d[i]);
		if (!v || PyDict_SetItemString(d, departure_names[i], v) < 0) {
			Py_XDECREF(v);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(v);
	}
	return d;
}

static PyMethodDef Gen_methods[] = {
	{ "raw", (PyCFunction)Gen_raw, METH_VARARGS,
	  "raw(fields, fix, l3, l4, proto, v6): send the template as it is but for these fields, checksums fixed" },
	{ "interleave", (PyCFunction)Gen_interleave, METH_VARARGS,
	  "interleave(streams, intervals_ns, counts, max_burst): send these Gens' frames interleaved by their schedules\n"
	  "(counts: None for no end); this gen's schedule becomes their sum's" },
	{ "unbuild", (PyCFunction)Gen_unbuild, METH_O,
	  "unbuild(k): the last k frames built were not sent; their sequence numbers and slots go back" },
	{ "build", (PyCFunction)Gen_build, METH_VARARGS,
	  "build(buffer, stride, lengths, stamped=True) -> n: build len(lengths) frames at buffer[i*stride], lengths filled\n"
	  "(stamped False: their send times zero)." },
	{ "set_rate", (PyCFunction)Gen_set_rate, METH_VARARGS,
	  "set_rate(ns_per_packet, max_burst=PACE_MAX_BURST, lead_ns=0): one frame per this many ns (0: as fast as possible);\n"
	  "after a stall at most max_burst frames ahead of the schedule, the rest skipped; lead_ns: frames are\n"
	  "handed to the kernel this far ahead of their time (SO_TXTIME). Restarts the schedule." },
	{ "departures", (PyCFunction)Gen_departures, METH_NOARGS, "The departure statistics (DEPARTURE_NAMES) as a dict." },
	{ NULL },
};

static PyGetSetDef Gen_getset[] = {
	{ "packets", (getter)Gen_get_packets, NULL, "frames built so far", NULL },
	{ "seq", (getter)Gen_get_seq, NULL, "next pktgen sequence counter (low 28 bits used)", NULL },
	{ "ns_per_pkt", (getter)Gen_get_ns_per_pkt, NULL, "pacing interval in ns (0: as fast as possible)", NULL },
	{ "max_burst", (getter)Gen_get_max_burst, NULL, "catch-up bound after a stall, frames", NULL },
	{ "layout", (getter)Gen_get_layout, NULL, "offsets (l3, l4, payload, outer_l3, outer_l4, csum_off) and what varies", NULL },
	{ NULL },
};

static PyTypeObject GenType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Gen",
	.tp_basicsize = sizeof(GenObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Gen(template, l3, l4, ipv6, sizes, fields, flows=0, seed=1, seq_base=0, stamp=True, stats=None, outer_l3=0, outer_l4=0, proto=17,\n"
		  "outer_v6=False, outer_sports=1, outer_srcs=1, outer_dsts=1)\n"
		  "Frame builder: template without FCS, sizes = frame lengths without FCS used in turn,\n"
		  "fields = (lo, count, mode) for saddr, daddr, sport, dport; mode 0 fixed, 1 inc, 2 random.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Gen_init,
	.tp_dealloc = (destructor)Gen_dealloc,
	.tp_methods = Gen_methods,
	.tp_getset = Gen_getset,
};

/* pace_simulate(interval_ns, max_burst, batch, times, sent_per_loop, take, stats, lead_ns=0,
 *               call_ns=0) -> None: the generator's schedule driven by a clock the caller gives
 * (tests): at times[i] the loop is offered want = batch frames; sent_per_loop[i] gets how many
 * were due; take[i] is how many the device took of them (a ring with no room takes fewer), or -1
 * for all; each send call that sent something took call_ns. */
static PyObject *py_pace_simulate(PyObject *self, PyObject *args)
{
	double interval;
	unsigned int max_burst, batch;
	PyObject *to, *so, *ko, *sto;
	Py_buffer tv, sv, kv, stv;
	struct pace p;
	Py_ssize_t n;

	unsigned long long lead = 0, call = 0;

	if (!PyArg_ParseTuple(args, "dIIOOOO|KK", &interval, &max_burst, &batch, &to, &so, &ko, &sto, &lead, &call))
		return NULL;
	if (!buf_get(to, &tv, 8, 0, "times"))
		return NULL;
	n = tv.len / 8;
	if (!buf_get(so, &sv, 4, n, "sent_per_loop")) {
		PyBuffer_Release(&tv);
		return NULL;
	}
	if (!buf_get(ko, &kv, 4, n, "take")) {
		PyBuffer_Release(&tv);
		PyBuffer_Release(&sv);
		return NULL;
	}
	if (!buf_get(sto, &stv, 8, PACE_STATS_WORDS, "stats")) {
		PyBuffer_Release(&tv);
		PyBuffer_Release(&sv);
		PyBuffer_Release(&kv);
		return NULL;
	}
	pace_init(&p, stv.buf, interval, max_burst);
	p.lead_ns = lead;
	for (Py_ssize_t i = 0; i < n; i++) {
		uint64_t now = ((uint64_t *)tv.buf)[i];
		uint32_t due = pace_due(&p, batch, now), take = ((uint32_t *)kv.buf)[i];
		uint32_t sent = take == UINT32_MAX || take > due ? due : take;

		if (due)
			pace_took(&p, now, now + call);
		pace_sent(&p, sent, now);
		((uint32_t *)sv.buf)[i] = sent;
	}
	PyBuffer_Release(&tv);
	PyBuffer_Release(&sv);
	PyBuffer_Release(&kv);
	PyBuffer_Release(&stv);
	Py_RETURN_NONE;
}

#define PACE_METHODS                                                                                      \
	{ "pace_simulate", py_pace_simulate, METH_VARARGS,                                              \
	  "pace_simulate(interval_ns, max_burst, batch, times, sent_per_loop, take, stats, lead_ns=0, call_ns=0):\n" \
	  "the schedule on a given clock (tests)" },

static int py_gen_add(PyObject *m)
{
	if (add_type(m, "Gen", &GenType) < 0 || add_names(m, "DEPARTURE_NAMES", departure_names, D_COUNT) < 0)
		return -1;
	PyModule_AddIntConstant(m, "PACE_STATS_WORDS", PACE_STATS_WORDS);
	PyModule_AddIntConstant(m, "SEQ_BITS", SEQ_BITS);
	PyModule_AddIntConstant(m, "PKTGEN_MAGIC", PKTGEN_MAGIC);
	PyModule_AddIntConstant(m, "PKTGEN_HDR_LEN", PKTGEN_HDR_LEN);
	PyModule_AddIntConstant(m, "STAMP_NS_FLAG", STAMP_NS_FLAG);
	PyModule_AddIntConstant(m, "STAMP_NS_SHIFT", STAMP_NS_SHIFT);
	PyModule_AddIntConstant(m, "STAMP_USEC_MASK", STAMP_USEC_MASK);
	PyModule_AddIntConstant(m, "GEN_MAX_FRAME", GEN_MAX_FRAME);
	PyModule_AddIntConstant(m, "GEN_MAX_SIZES", GEN_MAX_SIZES);
	PyModule_AddIntConstant(m, "PACE_MAX_BURST", PACE_MAX_BURST);
	return 0;
}

#endif
