/* Python types over the packet engines: Gen, Sink, PacketTx, PacketRx, UdpPort.
 * Python calls in once per run slice (many batches) or once per burst; the loops release the GIL.
 * Included once, from core.c. */
#ifndef WS_PORTS_H
#define WS_PORTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "afpacket.h"
#include "counters.h"
#include "gen.h"
#include "sink.h"
#include "tsc.h"
#include "udp.h"

/* ---- helpers ---------------------------------------------------------------------------- */

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

/* The arrays rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) fills, taken from
 * the call's arguments; max is how many frames they hold. */
struct burst_bufs {
	Py_buffer o, l, t, c;
	uint64_t *off, *ts, *counters;
	uint32_t *len;
	uint32_t max;
	int timeout;
};

static int burst_bufs_get(PyObject *args, struct burst_bufs *b)
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

static void burst_bufs_release(struct burst_bufs *b)
{
	PyBuffer_Release(&b->c);
	PyBuffer_Release(&b->t);
	PyBuffer_Release(&b->l);
	PyBuffer_Release(&b->o);
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

/* ---- the run loops ------------------------------------------------------------------------ */

typedef uint32_t (*tx_gen_fn)(void *port, struct gen *g, uint32_t n, uint64_t *c);
typedef uint32_t (*rx_sink_fn)(void *port, struct sink *k, uint32_t max, uint64_t *c);

static void afp_tx_wait_v(void *port, uint64_t *c) { afp_tx_wait(port, c); }

static void udp_tx_wait_v(void *port, uint64_t *c)
{
	struct udp_port *u = port;
	struct pollfd p = { .fd = u->fd, .events = POLLOUT };

	c[C_RING_FULL]++;
	c[C_SYSCALLS]++;
	poll(&p, 1, 1);
}

static int afp_rx_wait_v(void *port, int ms, uint64_t *c) { return afp_rx_wait(port, ms, c); }
static int udp_rx_wait_v(void *port, int ms, uint64_t *c) { return udp_wait(port, ms, c); }

/* Send batches until max packets went or CLOCK_MONOTONIC reaches until_ns, paced by the gen. */
static uint64_t run_gen(void *port, tx_gen_fn tx, void (*wait)(void *, uint64_t *), struct gen *g,
			uint32_t batch, uint64_t max, uint64_t until_ns, uint64_t *c)
{
	uint64_t sent = 0;

	while (sent < max) {
		uint64_t now = mono_ns(), t0;
		uint32_t want = max - sent < batch ? (uint32_t)(max - sent) : batch, r;

		if (now >= until_ns)
			break;
		if (!gen_pace(g, want, now))
			continue;
		t0 = tsc_begin();
		r = tx(port, g, want, c);
		c[C_CYCLES] += tsc_end() - t0;
		c[C_NS] += mono_ns() - now;
		g->pace_sent += r;
		sent += r;
		if (r < want)
			wait(port, c);
	}
	return sent;
}

/* Receive until max packets came or until_ns; waits in poll() at most 10 ms at a time. */
static uint64_t run_sink(void *port, rx_sink_fn rx, int (*wait)(void *, int, uint64_t *), struct sink *k,
			 uint32_t batch, uint64_t max, uint64_t until_ns, uint64_t *c)
{
	uint64_t got = 0;

	while (got < max) {
		uint64_t now = mono_ns(), t0;
		uint32_t want = max - got < batch ? (uint32_t)(max - got) : batch, r;

		if (now >= until_ns)
			break;
		t0 = tsc_begin();
		r = rx(port, k, want, c);
		if (r) {
			c[C_CYCLES] += tsc_end() - t0;
			c[C_NS] += mono_ns() - now;
			got += r;
		} else {
			uint64_t left_ms = (until_ns - now) / 1000000;
			wait(port, left_ms > 10 ? 10 : (int)left_ms + 1, c);
		}
	}
	return got;
}

/* ---- Gen ---------------------------------------------------------------------------------- */

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
	{ NULL },
};

static PyTypeObject GenType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Gen",
	.tp_basicsize = sizeof(GenObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Gen(template, l3, l4, ipv6, sizes, fields, flows=0, seed=1, seq_base=0, stamp=True)\\n"
		  "Frame builder: template without FCS, sizes = frame lengths without FCS used in turn,\\n"
		  "fields = (lo, count, mode) for saddr, daddr, sport, dport; mode 0 fixed, 1 inc, 2 random.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Gen_init,
	.tp_methods = Gen_methods,
	.tp_getset = Gen_getset,
};

/* ---- Sink --------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	struct sink *k;
} SinkObject;

static int Sink_init(SinkObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "udp_port", NULL };
	unsigned int port = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|I", kwlist, &port))
		return -1;
	if (!self->k && !(self->k = calloc(1, sizeof(*self->k)))) {
		PyErr_NoMemory();
		return -1;
	}
	memset(self->k, 0, sizeof(*self->k));
	self->k->udp_port = port;
	return 0;
}

static void Sink_dealloc(SinkObject *self)
{
	free(self->k);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static const char *sink_stat_names[] = { SINK_STAT_NAMES };

static PyObject *Sink_stats(SinkObject *self, PyObject *unused)
{
	PyObject *d = PyDict_New();
	int streams = 0;

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
	for (int i = 0; i < SINK_STREAMS; i++)
		streams += self->k->st[i].started != 0;
	{
		PyObject *v = PyLong_FromLong(streams);
		PyDict_SetItemString(d, "streams", v);
		Py_XDECREF(v);
	}
	return d;
}

static PyObject *Sink_hist(SinkObject *self, PyObject *unused)
{
	return PyBytes_FromStringAndSize((const char *)self->k->hist, sizeof(self->k->hist));
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

static PyMethodDef Sink_methods[] = {
	{ "stats", (PyCFunction)Sink_stats, METH_NOARGS, "Counters as a dict (names in SINK_STAT_NAMES, plus streams)." },
	{ "hist", (PyCFunction)Sink_hist, METH_NOARGS,
	  "Latency histogram as bytes of uint64: log-linear ns buckets, 2**SINK_HIST_SUB per power of two." },
	{ "frames", (PyCFunction)Sink_frames, METH_VARARGS, "frames(buffer, offsets, lengths, rx_ns): account frames." },
	{ NULL },
};

static PyTypeObject SinkType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.Sink",
	.tp_basicsize = sizeof(SinkObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Sink(udp_port=0): counts, loss/reorder/duplicates from the pktgen header, latency.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Sink_init,
	.tp_dealloc = (destructor)Sink_dealloc,
	.tp_methods = Sink_methods,
};

/* ---- ports: shared pieces ------------------------------------------------------------------ */

#define PORT_GEN_RUN(self, port, txfn, waitfn)                                                   \
	do {                                                                                     \
		PyObject *geno, *co;                                                             \
		unsigned int batch;                                                              \
		unsigned long long max, until;                                                   \
		Py_buffer cv;                                                                    \
		uint64_t *c, sent;                                                               \
		if (!PyArg_ParseTuple(args, "O!IKKO", &GenType, &geno, &batch, &max, &until, &co)) \
			return NULL;                                                             \
		if (batch == 0)                                                                  \
			return PyErr_Format(PyExc_ValueError, "batch must be >= 1");             \
		if (!(c = counters_get(co, &cv)))                                                \
			return NULL;                                                             \
		Py_BEGIN_ALLOW_THREADS                                                           \
		sent = run_gen(port, txfn, waitfn, &((GenObject *)geno)->g, batch, max, until, c); \
		Py_END_ALLOW_THREADS                                                             \
		PyBuffer_Release(&cv);                                                           \
		return PyLong_FromUnsignedLongLong(sent);                                        \
	} while (0)

#define PORT_SINK_RUN(self, port, rxfn, waitfn)                                                  \
	do {                                                                                     \
		PyObject *sinko, *co;                                                            \
		unsigned int batch;                                                              \
		unsigned long long max, until;                                                   \
		Py_buffer cv;                                                                    \
		uint64_t *c, got;                                                                \
		if (!PyArg_ParseTuple(args, "O!IKKO", &SinkType, &sinko, &batch, &max, &until, &co)) \
			return NULL;                                                             \
		if (batch == 0)                                                                  \
			return PyErr_Format(PyExc_ValueError, "batch must be >= 1");             \
		if (!(c = counters_get(co, &cv)))                                                \
			return NULL;                                                             \
		Py_BEGIN_ALLOW_THREADS                                                           \
		got = run_sink(port, rxfn, waitfn, ((SinkObject *)sinko)->k, batch, max, until, c); \
		Py_END_ALLOW_THREADS                                                             \
		PyBuffer_Release(&cv);                                                           \
		return PyLong_FromUnsignedLongLong(got);                                         \
	} while (0)

#define RUN_DOC_GEN "gen_run(gen, batch, max_packets, until_ns, counters) -> packets sent"
#define RUN_DOC_SINK "sink_run(sink, batch, max_packets, until_ns, counters) -> packets received"

#define CHECK_OPEN(cond)                                                                         \
	do {                                                                                     \
		if (!(cond))                                                                     \
			return PyErr_Format(PyExc_ValueError, "port is closed");                 \
	} while (0)

/* ---- PacketTx ------------------------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	struct afp_tx t;
} PacketTxObject;

/* A fresh object owns no socket: fd -1, so an early close() or dealloc touches nothing. */
static PyObject *PacketTx_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	PacketTxObject *self = (PacketTxObject *)type->tp_alloc(type, 0);

	if (self)
		self->t.fd = -1;
	return (PyObject *)self;
}

static int PacketTx_init(PacketTxObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "ifindex", "frame_size", "frame_nr", "qdisc_bypass", "dontwait", "linear", NULL };
	int ifindex, bypass = 1, dontwait = 0, linear = 0, err;
	unsigned int frame_size = 2048, frame_nr = 4096;
	const char *step = "";

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|IIppp", kwlist, &ifindex, &frame_size, &frame_nr, &bypass,
					 &dontwait, &linear))
		return -1;
	if (frame_size < 128 || frame_size % TPACKET_ALIGNMENT || frame_nr < 16) {
		PyErr_SetString(PyExc_ValueError, "frame_size: multiple of 16, >= 128; frame_nr >= 16");
		return -1;
	}
	afp_tx_close(&self->t);
	err = afp_tx_open(&self->t, ifindex, frame_size, frame_nr, bypass, linear, &step);
	if (err) {
		afp_tx_close(&self->t);
		oserror_step(err, step);
		return -1;
	}
	self->t.kick_flags = dontwait ? MSG_DONTWAIT : 0;
	return 0;
}

static PyObject *PacketTx_gen_run(PacketTxObject *self, PyObject *args)
{
	CHECK_OPEN(self->t.map);
	PORT_GEN_RUN(self, &self->t, afp_tx_gen, afp_tx_wait_v);
}

static PyObject *PacketTx_tx_burst(PacketTxObject *self, PyObject *args)
{
	PyObject *bo, *oo, *lo, *co;
	Py_buffer b, o, l, cv;
	unsigned int n;
	uint64_t *c;
	uint32_t sent;

	CHECK_OPEN(self->t.map);
	if (!PyArg_ParseTuple(args, "OOOIO", &bo, &oo, &lo, &n, &co))
		return NULL;
	if (PyObject_GetBuffer(bo, &b, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (!buf_get(oo, &o, 8, n, "offsets"))
		goto e1;
	if (!buf_get(lo, &l, 4, n, "lengths"))
		goto e2;
	if (!(c = counters_get(co, &cv)))
		goto e3;
	for (unsigned int i = 0; i < n; i++)
		if (((uint64_t *)o.buf)[i] + ((uint32_t *)l.buf)[i] > (uint64_t)b.len) {
			PyErr_SetString(PyExc_ValueError, "frame outside the buffer");
			goto e4;
		}
	Py_BEGIN_ALLOW_THREADS
	sent = afp_tx_frames(&self->t, b.buf, o.buf, l.buf, n, c);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	PyBuffer_Release(&l);
	PyBuffer_Release(&o);
	PyBuffer_Release(&b);
	return PyLong_FromUnsignedLong(sent);
e4:
	PyBuffer_Release(&cv);
e3:
	PyBuffer_Release(&l);
e2:
	PyBuffer_Release(&o);
e1:
	PyBuffer_Release(&b);
	return NULL;
}

static PyObject *PacketTx_close(PacketTxObject *self, PyObject *unused)
{
	afp_tx_close(&self->t);
	Py_RETURN_NONE;
}

static void PacketTx_dealloc(PacketTxObject *self)
{
	afp_tx_close(&self->t);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef PacketTx_methods[] = {
	{ "gen_run", (PyCFunction)PacketTx_gen_run, METH_VARARGS, RUN_DOC_GEN },
	{ "tx_burst", (PyCFunction)PacketTx_tx_burst, METH_VARARGS,
	  "tx_burst(buffer, offsets, lengths, n, counters) -> sent (best effort, one send() kick)" },
	{ "close", (PyCFunction)PacketTx_close, METH_NOARGS, "Unmap the ring and close the socket." },
	{ NULL },
};

static PyTypeObject PacketTxType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.PacketTx",
	.tp_basicsize = sizeof(PacketTxObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "PacketTx(ifindex, frame_size=2048, frame_nr=4096, qdisc_bypass=True, dontwait=False):\\n"
		  "AF_PACKET TPACKET_V2 TX ring on the interface of this thread's namespace.",
	.tp_new = PacketTx_new,
	.tp_init = (initproc)PacketTx_init,
	.tp_dealloc = (destructor)PacketTx_dealloc,
	.tp_methods = PacketTx_methods,
};

/* ---- PacketRx ------------------------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	struct afp_rx r;
	Py_ssize_t exports;
} PacketRxObject;

static PyObject *PacketRx_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	PacketRxObject *self = (PacketRxObject *)type->tp_alloc(type, 0);

	if (self)
		self->r.fd = -1;
	return (PyObject *)self;
}

static int PacketRx_init(PacketRxObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "ifindex", "block_size", "block_nr", "timeout_ms", "fanout_group", "fanout_mode", NULL };
	int ifindex, group = -1, mode = PACKET_FANOUT_HASH, err;
	unsigned int block_size = 1 << 18, block_nr = 64, tov = 2;
	const char *step = "";

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|IIIii", kwlist, &ifindex, &block_size, &block_nr, &tov, &group,
					 &mode))
		return -1;
	if (self->exports) {
		PyErr_SetString(PyExc_BufferError, "ring still viewed");
		return -1;
	}
	afp_rx_close(&self->r);
	err = afp_rx_open(&self->r, ifindex, block_size, block_nr, tov, group, mode, &step);
	if (err) {
		afp_rx_close(&self->r);
		oserror_step(err, step);
		return -1;
	}
	return 0;
}

static PyObject *PacketRx_sink_run(PacketRxObject *self, PyObject *args)
{
	CHECK_OPEN(self->r.fd >= 0);
	PORT_SINK_RUN(self, &self->r, afp_rx_sink, afp_rx_wait_v);
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n */
static PyObject *PacketRx_rx_burst(PacketRxObject *self, PyObject *args)
{
	struct burst_bufs b;
	uint32_t got;

	CHECK_OPEN(self->r.fd >= 0);
	if (burst_bufs_get(args, &b))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	got = afp_rx_burst(&self->r, b.off, b.len, b.ts, b.max, b.counters);
	if (!got && b.timeout) {
		afp_rx_wait(&self->r, b.timeout, b.counters);
		got = afp_rx_burst(&self->r, b.off, b.len, b.ts, b.max, b.counters);
	}
	Py_END_ALLOW_THREADS
	burst_bufs_release(&b);
	return PyLong_FromUnsignedLong(got);
}

static PyObject *PacketRx_kernel_drops(PacketRxObject *self, PyObject *unused)
{
	CHECK_OPEN(self->r.fd >= 0);
	return PyLong_FromUnsignedLongLong(afp_rx_kernel_drops(&self->r));
}

/* Close the socket now; the mapping goes when no numpy view of it is left. */
static PyObject *PacketRx_close(PacketRxObject *self, PyObject *unused)
{
	if (self->exports) {
		if (self->r.fd >= 0)
			close(self->r.fd);
		self->r.fd = -1;
	} else {
		afp_rx_close(&self->r);
	}
	Py_RETURN_NONE;
}

static void PacketRx_dealloc(PacketRxObject *self)
{
	afp_rx_close(&self->r);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int PacketRx_getbuffer(PacketRxObject *self, Py_buffer *view, int flags)
{
	if (!self->r.map) {
		PyErr_SetString(PyExc_BufferError, "port is closed");
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->r.map, (Py_ssize_t)self->r.map_len, 1, flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void PacketRx_releasebuffer(PacketRxObject *self, Py_buffer *view)
{
	self->exports--;
}

static PyBufferProcs PacketRx_as_buffer = {
	(getbufferproc)PacketRx_getbuffer,
	(releasebufferproc)PacketRx_releasebuffer,
};

static PyMethodDef PacketRx_methods[] = {
	{ "sink_run", (PyCFunction)PacketRx_sink_run, METH_VARARGS, RUN_DOC_SINK },
	{ "rx_burst", (PyCFunction)PacketRx_rx_burst, METH_VARARGS,
	  "rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n (best effort, zero copy:\\n"
	  "offsets index this object's buffer; valid until the next rx_burst)" },
	{ "kernel_drops", (PyCFunction)PacketRx_kernel_drops, METH_NOARGS,
	  "Frames dropped for want of ring space since the last call (PACKET_STATISTICS)." },
	{ "close", (PyCFunction)PacketRx_close, METH_NOARGS, "Unmap the ring and close the socket." },
	{ NULL },
};

static PyTypeObject PacketRxType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.PacketRx",
	.tp_basicsize = sizeof(PacketRxObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "PacketRx(ifindex, block_size=256K, block_nr=64, timeout_ms=2, fanout_group=-1, fanout_mode=HASH):\\n"
		  "AF_PACKET TPACKET_V3 RX block ring; its buffer is the ring itself.",
	.tp_new = PacketRx_new,
	.tp_init = (initproc)PacketRx_init,
	.tp_dealloc = (destructor)PacketRx_dealloc,
	.tp_methods = PacketRx_methods,
	.tp_as_buffer = &PacketRx_as_buffer,
};

/* ---- UdpPort ------------------------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	struct udp_port u;
	Py_ssize_t exports;
} UdpPortObject;

static PyObject *UdpPort_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	UdpPortObject *self = (UdpPortObject *)type->tp_alloc(type, 0);

	if (self)
		self->u.fd = -1;
	return (PyObject *)self;
}

static int UdpPort_init(UdpPortObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "fd", "batch", "slot", "gso", NULL };
	int fd, err;
	unsigned int batch = 64, slot = 2048, gso = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|III", kwlist, &fd, &batch, &slot, &gso))
		return -1;
	if (batch < 1 || batch > 1024 || slot < 64 || slot % 64 || gso > slot) {
		PyErr_SetString(PyExc_ValueError, "batch 1..1024, slot a multiple of 64, gso <= slot");
		return -1;
	}
	if (self->exports) {
		PyErr_SetString(PyExc_BufferError, "buffer still viewed");
		return -1;
	}
	udp_port_free(&self->u);
	err = udp_port_init(&self->u, fd, batch, slot, gso);
	if (err) {
		udp_port_free(&self->u);
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static PyObject *UdpPort_gen_run(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	PORT_GEN_RUN(self, &self->u, udp_tx_gen, udp_tx_wait_v);
}

static PyObject *UdpPort_sink_run(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	PORT_SINK_RUN(self, &self->u, udp_rx_sink, udp_rx_wait_v);
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n: datagrams in this buffer. */
static PyObject *UdpPort_rx_burst(UdpPortObject *self, PyObject *args)
{
	struct burst_bufs b;
	struct timespec ts;
	uint64_t *c;
	int r;

	CHECK_OPEN(self->u.fd >= 0);
	if (burst_bufs_get(args, &b))
		return NULL;
	c = b.counters;
	Py_BEGIN_ALLOW_THREADS
	r = udp_recv(&self->u, b.max, c);
	if (r <= 0 && b.timeout) {
		udp_wait(&self->u, b.timeout, c);
		r = udp_recv(&self->u, b.max, c);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	for (int i = 0; i < r; i++) {
		b.off[i] = (uint64_t)i * self->u.slot;
		b.len[i] = self->u.msgs[i].msg_len;
		b.ts[i] = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		c[C_BYTES] += self->u.msgs[i].msg_len;
	}
	if (r > 0) {
		c[C_PACKETS] += (uint32_t)r;
		c[C_BATCHES]++;
	}
	Py_END_ALLOW_THREADS
	burst_bufs_release(&b);
	return PyLong_FromLong(r > 0 ? r : 0);
}

/* tx_burst(buffer, offsets, lengths, n, counters) -> sent: datagram payloads, one sendmmsg(). */
static PyObject *UdpPort_tx_burst(UdpPortObject *self, PyObject *args)
{
	PyObject *bo, *oo, *lo, *co;
	Py_buffer b, o, l, cv;
	unsigned int n;
	uint64_t *c, bytes = 0;
	uint32_t sent;

	CHECK_OPEN(self->u.fd >= 0);
	if (!PyArg_ParseTuple(args, "OOOIO", &bo, &oo, &lo, &n, &co))
		return NULL;
	if (n > self->u.batch)
		n = self->u.batch;
	if (PyObject_GetBuffer(bo, &b, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (!buf_get(oo, &o, 8, n, "offsets"))
		goto e1;
	if (!buf_get(lo, &l, 4, n, "lengths"))
		goto e2;
	if (!(c = counters_get(co, &cv)))
		goto e3;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t off = ((uint64_t *)o.buf)[i];
		uint32_t len = ((uint32_t *)l.buf)[i];
		if (off + len > (uint64_t)b.len) {
			PyErr_SetString(PyExc_ValueError, "frame outside the buffer");
			PyBuffer_Release(&cv);
			goto e3;
		}
		self->u.iov[i].iov_base = (uint8_t *)b.buf + off;
		self->u.iov[i].iov_len = len;
	}
	Py_BEGIN_ALLOW_THREADS
	sent = udp_send(&self->u, n, c);
	Py_END_ALLOW_THREADS
	for (uint32_t i = 0; i < sent; i++)
		bytes += self->u.iov[i].iov_len;
	if (sent) {
		c[C_PACKETS] += sent;
		c[C_BYTES] += bytes;
		c[C_BATCHES]++;
	}
	PyBuffer_Release(&cv);
	PyBuffer_Release(&l);
	PyBuffer_Release(&o);
	PyBuffer_Release(&b);
	return PyLong_FromUnsignedLong(sent);
e3:
	PyBuffer_Release(&l);
e2:
	PyBuffer_Release(&o);
e1:
	PyBuffer_Release(&b);
	return NULL;
}

/* The buffers go now, or when no numpy view of them is left. */
static PyObject *UdpPort_close(UdpPortObject *self, PyObject *unused)
{
	self->u.fd = -1;
	if (!self->exports)
		udp_port_free(&self->u);
	Py_RETURN_NONE;
}

static void UdpPort_dealloc(UdpPortObject *self)
{
	udp_port_free(&self->u);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int UdpPort_getbuffer(UdpPortObject *self, Py_buffer *view, int flags)
{
	if (!self->u.buf) {
		PyErr_SetString(PyExc_BufferError, "port is closed");
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->u.buf, (Py_ssize_t)self->u.batch * self->u.slot, 1,
			      flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void UdpPort_releasebuffer(UdpPortObject *self, Py_buffer *view)
{
	self->exports--;
}

static PyBufferProcs UdpPort_as_buffer = {
	(getbufferproc)UdpPort_getbuffer,
	(releasebufferproc)UdpPort_releasebuffer,
};

static PyMethodDef UdpPort_methods[] = {
	{ "gen_run", (PyCFunction)UdpPort_gen_run, METH_VARARGS, RUN_DOC_GEN },
	{ "sink_run", (PyCFunction)UdpPort_sink_run, METH_VARARGS, RUN_DOC_SINK },
	{ "rx_burst", (PyCFunction)UdpPort_rx_burst, METH_VARARGS,
	  "rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n (one recvmmsg)" },
	{ "tx_burst", (PyCFunction)UdpPort_tx_burst, METH_VARARGS,
	  "tx_burst(buffer, offsets, lengths, n, counters) -> sent (one sendmmsg)" },
	{ "close", (PyCFunction)UdpPort_close, METH_NOARGS, "Free the buffers (the socket is Python's)." },
	{ NULL },
};

static PyTypeObject UdpPortType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.UdpPort",
	.tp_basicsize = sizeof(UdpPortObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "UdpPort(fd, batch=64, slot=2048, gso=0): sendmmsg/recvmmsg over a socket Python owns;\n"
		  "gso: datagram bytes when the socket has UDP_SEGMENT set (gen_run sends in GSO messages).",
	.tp_new = UdpPort_new,
	.tp_init = (initproc)UdpPort_init,
	.tp_dealloc = (destructor)UdpPort_dealloc,
	.tp_methods = UdpPort_methods,
	.tp_as_buffer = &UdpPort_as_buffer,
};

/* ---- module wiring ------------------------------------------------------------------------- */

static int add_names(PyObject *m, const char *attr, const char **names, int n)
{
	PyObject *t = PyTuple_New(n);

	if (!t)
		return -1;
	for (int i = 0; i < n; i++)
		PyTuple_SET_ITEM(t, i, PyUnicode_FromString(names[i]));
	return PyModule_AddObject(m, attr, t);
}

static const char *counter_names[] = { COUNTER_NAMES };

static int ports_init(PyObject *m)
{
	PyTypeObject *types[] = { &GenType, &SinkType, &PacketTxType, &PacketRxType, &UdpPortType };
	const char *names[] = { "Gen", "Sink", "PacketTx", "PacketRx", "UdpPort" };

	for (int i = 0; i < 5; i++) {
		if (PyType_Ready(types[i]) < 0)
			return -1;
		Py_INCREF(types[i]);
		if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0)
			return -1;
	}
	if (add_names(m, "COUNTER_NAMES", counter_names, C_COUNT) < 0 ||
	    add_names(m, "SINK_STAT_NAMES", sink_stat_names, S_COUNT) < 0)
		return -1;
	PyModule_AddIntConstant(m, "SINK_HIST_SUB", SINK_HIST_SUB);
	PyModule_AddIntConstant(m, "SINK_HIST", SINK_HIST);
	PyModule_AddIntConstant(m, "SEQ_BITS", SEQ_BITS);
	PyModule_AddIntConstant(m, "PKTGEN_MAGIC", PKTGEN_MAGIC);
	PyModule_AddIntConstant(m, "PKTGEN_HDR_LEN", PKTGEN_HDR_LEN);
	PyModule_AddIntConstant(m, "GEN_MAX_FRAME", GEN_MAX_FRAME);
	PyModule_AddIntConstant(m, "GEN_MAX_SIZES", GEN_MAX_SIZES);
	PyModule_AddIntConstant(m, "TX_DATA_OFF", (long)TX_DATA_OFF);
	PyModule_AddIntConstant(m, "FANOUT_HASH", PACKET_FANOUT_HASH);
	PyModule_AddIntConstant(m, "FANOUT_LB", PACKET_FANOUT_LB);
	PyModule_AddIntConstant(m, "FANOUT_CPU", PACKET_FANOUT_CPU);
	PyModule_AddIntConstant(m, "FANOUT_FLAG_ROLLOVER", PACKET_FANOUT_FLAG_ROLLOVER);
	return 0;
}

#endif
