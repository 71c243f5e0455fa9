/* Python type XskPort over the AF_XDP engine (xsk.h). */
#ifndef WS_PY_XSK_H
#define WS_PY_XSK_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "py_port.h"
#include "xsk.h"

typedef struct {
	PyObject_HEAD
	struct xsk x;
	Py_ssize_t exports;
	PyObject *owner; /* shared: the XskPort whose UMEM this socket uses (kept alive) */
} XskPortObject;

static PyTypeObject XskPortType;

static PyObject *XskPort_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	XskPortObject *self = (XskPortObject *)type->tp_alloc(type, 0);

	if (self)
		self->x.fd = -1;
	return (PyObject *)self;
}

static int XskPort_init(XskPortObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "ifindex", "queue", "ring_size", "frame_size", "bind_flags", "rx", "tx", "share", NULL };
	int ifindex, rx = 1, tx = 1, err;
	unsigned int queue = 0, ring = 2048, frame = 4096, flags = 0;
	const char *step = "";
	PyObject *share = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|IIIIppO", kwlist, &ifindex, &queue, &ring, &frame, &flags, &rx,
					 &tx, &share))
		return -1;
	if (share != Py_None) {
		XskPortObject *o = (XskPortObject *)share;

		if (!PyObject_TypeCheck(share, &XskPortType) || o->x.fd < 0 || o->x.shared || !o->x.has_rx) {
			PyErr_SetString(PyExc_ValueError, "share must be an open receiving XskPort with a UMEM of its own");
			return -1;
		}
		xsk_close(&self->x);
		Py_BEGIN_ALLOW_THREADS
		err = xsk_open_shared(&self->x, &o->x, ifindex, queue, &step);
		Py_END_ALLOW_THREADS
		if (err) {
			xsk_close(&self->x);
			oserror_step(err, step);
			return -1;
		}
		Py_INCREF(share);
		Py_XSETREF(self->owner, share);
		return 0;
	}
	if (!ring || (ring & (ring - 1)) || ring > (1u << 16) || frame < 2048 || (frame & (frame - 1))) {
		PyErr_SetString(PyExc_ValueError, "ring_size a power of two up to 65536, frame_size a power of two >= 2048");
		return -1;
	}
	if (self->exports) {
		PyErr_SetString(PyExc_BufferError, "UMEM still viewed");
		return -1;
	}
	xsk_close(&self->x);
	Py_BEGIN_ALLOW_THREADS
	err = xsk_open(&self->x, ifindex, queue, ring, frame, flags, rx, tx, &step);
	Py_END_ALLOW_THREADS
	if (err) {
		xsk_close(&self->x);
		oserror_step(err, step);
		return -1;
	}
	return 0;
}

static PyObject *XskPort_gen_run(XskPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->x.fd >= 0 && self->x.has_tx);
	return port_gen_run(&self->x, xsk_tx_gen, xsk_tx_wait, args);
}

static PyObject *XskPort_sink_run(XskPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->x.fd >= 0 && self->x.has_rx);
	return port_sink_run(&self->x, xsk_rx_sink, xsk_rx_wait, xsk_update_drops, args);
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n */
static uint32_t xsk_rx_burst_v(void *x, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max, uint64_t *c)
{
	return xsk_rx_burst(x, off, len, ts, max, c);
}

static PyObject *XskPort_rx_burst(XskPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->x.fd >= 0 && self->x.has_rx);
	return port_rx_burst(&self->x, xsk_rx_burst_v, xsk_rx_wait, args);
}

/* tx_burst(buffer, offsets, lengths, n, counters) -> sent (best effort: copied into UMEM) */
static uint32_t xsk_tx_burst_v(void *x, const uint8_t *base, size_t size, const uint64_t *off,
			       const uint32_t *len, uint32_t n, uint64_t *c)
{
	return xsk_tx_burst(x, base, size, off, len, n, c);
}

static PyObject *XskPort_tx_burst(XskPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->x.fd >= 0 && self->x.has_tx);
	return port_tx_burst(&self->x, xsk_tx_burst_v, args);
}

static PyObject *XskPort_update_drops(XskPortObject *self, PyObject *arg)
{
	CHECK_OPEN(self->x.fd >= 0);
	return port_update_drops(&self->x, xsk_update_drops, arg);
}

/* drain(timeout_ms, counters) -> frames still outstanding: kick until the kernel completed all */
static PyObject *XskPort_drain(XskPortObject *self, PyObject *args)
{
	int timeout;
	PyObject *co;
	Py_buffer cv;
	uint64_t *c, until;
	uint32_t left;

	CHECK_OPEN(self->x.fd >= 0);
	if (!PyArg_ParseTuple(args, "iO", &timeout, &co))
		return NULL;
	if (!(c = counters_get(co, &cv)))
		return NULL;
	if (!self->x.has_tx || (self->x.shared && (!self->owner || ((XskPortObject *)self->owner)->x.fd < 0))) {
		PyBuffer_Release(&cv);
		return PyLong_FromLong(0);
	}
	Py_BEGIN_ALLOW_THREADS
	until = mono_ns() + (uint64_t)timeout * 1000000ull;
	for (;;) {
		if (self->x.shared) { /* frames in flight go back to the owner's fill ring as they complete */
			xsk_recycle(&self->x, &((XskPortObject *)self->owner)->x);
			left = self->x.inflight;
		} else {
			xsk_complete(&self->x);
			left = xsk_tx_outstanding(&self->x);
		}
		if (!left || mono_ns() >= until)
			break;
		c[C_SYSCALLS]++;
		sendto(self->x.fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	return PyLong_FromUnsignedLong(left);
}

/* stats() -> dict of struct xdp_statistics */
static PyObject *XskPort_stats(XskPortObject *self, PyObject *unused)
{
	struct xdp_statistics s;
	socklen_t len = sizeof(s);

	CHECK_OPEN(self->x.fd >= 0);
	memset(&s, 0, sizeof(s));
	if (getsockopt(self->x.fd, SOL_XDP, XDP_STATISTICS, &s, &len))
		return PyErr_SetFromErrno(PyExc_OSError);
	return Py_BuildValue("{sKsKsKsKsKsK}", "rx_dropped", (unsigned long long)s.rx_dropped, "rx_invalid_descs",
			     (unsigned long long)s.rx_invalid_descs, "tx_invalid_descs",
			     (unsigned long long)s.tx_invalid_descs, "rx_ring_full", (unsigned long long)s.rx_ring_full,
			     "rx_fill_ring_empty_descs", (unsigned long long)s.rx_fill_ring_empty_descs,
			     "tx_ring_empty_descs", (unsigned long long)s.tx_ring_empty_descs);
}

static PyObject *XskPort_close(XskPortObject *self, PyObject *unused)
{
	if (self->exports) {
		/* Numpy views of the UMEM outlive the socket: close it, keep the memory. */
		if (self->x.fd >= 0)
			close(self->x.fd);
		self->x.fd = -1;
	} else {
		xsk_close(&self->x);
	}
	Py_RETURN_NONE;
}

static void XskPort_dealloc(XskPortObject *self)
{
	xsk_close(&self->x);
	Py_CLEAR(self->owner);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* rx_take(addrs, lengths, counters) -> n: received frames by UMEM address, kept out of the fill
 * ring until refill() (dropped) or a sharing socket's recycle() (sent). */
static PyObject *XskPort_rx_take(XskPortObject *self, PyObject *args)
{
	PyObject *ao, *lo, *co;
	Py_buffer a, l, cv;
	uint32_t got, max;
	uint64_t *c;

	CHECK_OPEN(self->x.fd >= 0 && self->x.has_rx);
	if (!PyArg_ParseTuple(args, "OOO", &ao, &lo, &co))
		return NULL;
	if (!buf_get(ao, &a, 8, 1, "addrs"))
		return NULL;
	max = (uint32_t)(a.len / 8);
	if (!buf_get(lo, &l, 4, max, "lengths")) {
		PyBuffer_Release(&a);
		return NULL;
	}
	if (!(c = counters_get(co, &cv))) {
		PyBuffer_Release(&l);
		PyBuffer_Release(&a);
		return NULL;
	}
	{
		uint64_t t0 = tsc_begin(), n0 = mono_ns();

		got = xsk_rx_take(&self->x, a.buf, l.buf, max, c);
		if (got)
			counters_time(c, t0, n0);
	}
	PyBuffer_Release(&cv);
	PyBuffer_Release(&l);
	PyBuffer_Release(&a);
	return PyLong_FromUnsignedLong(got);
}

/* tx_addrs(addrs, lengths, n, counters) -> sent: frames already in the shared UMEM, no copy */
static PyObject *XskPort_tx_addrs(XskPortObject *self, PyObject *args)
{
	PyObject *ao, *lo, *co;
	Py_buffer a, l, cv;
	unsigned int n;
	uint32_t sent;
	uint64_t *c, *addr;

	CHECK_OPEN(self->x.fd >= 0 && self->x.shared);
	if (!PyArg_ParseTuple(args, "OOIO", &ao, &lo, &n, &co))
		return NULL;
	if (!(addr = buf_get(ao, &a, 8, n, "addrs")))
		return NULL;
	if (!buf_get(lo, &l, 4, n, "lengths")) {
		PyBuffer_Release(&a);
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		if (addr[i] + ((uint32_t *)l.buf)[i] > self->x.umem_len) {
			PyBuffer_Release(&l);
			PyBuffer_Release(&a);
			return PyErr_Format(PyExc_ValueError, "frame outside the UMEM");
		}
	if (!(c = counters_get(co, &cv))) {
		PyBuffer_Release(&l);
		PyBuffer_Release(&a);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	uint64_t t0 = tsc_begin(), n0 = mono_ns();
	sent = xsk_tx_addrs(&self->x, addr, l.buf, n, c);
	counters_time(c, t0, n0);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	PyBuffer_Release(&l);
	PyBuffer_Release(&a);
	return PyLong_FromUnsignedLong(sent);
}

/* recycle() -> n: frames this shared socket finished sending, back to the owner's fill ring */
static PyObject *XskPort_recycle(XskPortObject *self, PyObject *unused)
{
	CHECK_OPEN(self->x.fd >= 0 && self->x.shared && self->owner);
	if (((XskPortObject *)self->owner)->x.fd < 0)
		return PyErr_Format(PyExc_ValueError, "the UMEM's owner is closed");
	return PyLong_FromUnsignedLong(xsk_recycle(&self->x, &((XskPortObject *)self->owner)->x));
}

/* refill(addrs, n): frames taken with rx_take and not sent, back to the fill ring */
static PyObject *XskPort_refill(XskPortObject *self, PyObject *args)
{
	PyObject *ao;
	unsigned int n;
	Py_buffer a;

	CHECK_OPEN(self->x.fd >= 0 && self->x.has_rx && !self->x.shared);
	if (!PyArg_ParseTuple(args, "OI", &ao, &n))
		return NULL;
	if (!buf_get(ao, &a, 8, n, "addrs"))
		return NULL;
	xsk_refill(&self->x, a.buf, n);
	PyBuffer_Release(&a);
	Py_RETURN_NONE;
}

static PyObject *XskPort_get_fd(XskPortObject *self, void *c) { return PyLong_FromLong(self->x.fd); }
static PyObject *XskPort_get_inflight(XskPortObject *self, void *c)
{
	return PyLong_FromUnsignedLong(self->x.inflight);
}
static PyObject *XskPort_busy_poll(XskPortObject *self, PyObject *args)
{
	int usec, budget, err;

	if (!PyArg_ParseTuple(args, "ii", &usec, &budget))
		return NULL;
	if ((err = xsk_busy_poll(&self->x, usec, budget))) {
		errno = -err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_NONE;
}

static PyObject *XskPort_get_tx_budget(XskPortObject *self, void *c)
{
	return PyLong_FromUnsignedLong(self->x.tx_budget);
}

EXPORTED_BUFFER(XskPort, XskPortObject, self->x.umem, self->x.umem_len, 0);

static PyMethodDef XskPort_methods[] = {
	{ "gen_run", (PyCFunction)XskPort_gen_run, METH_VARARGS, RUN_DOC_GEN },
	{ "sink_run", (PyCFunction)XskPort_sink_run, METH_VARARGS, RUN_DOC_SINK },
	{ "rx_burst", (PyCFunction)XskPort_rx_burst, METH_VARARGS,
	  "rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n (best effort, zero copy:\n"
	  "offsets index the UMEM (this object's buffer); the frames stay ours until the next rx_burst)" },
	{ "tx_burst", (PyCFunction)XskPort_tx_burst, METH_VARARGS,
	  "tx_burst(buffer, offsets, lengths, n, counters) -> sent (best effort, copied into the UMEM)" },
	{ "drain", (PyCFunction)XskPort_drain, METH_VARARGS,
	  "drain(timeout_ms, counters) -> frames not yet completed by the kernel" },
	{ "stats", (PyCFunction)XskPort_stats, METH_NOARGS, "The socket's XDP_STATISTICS as a dict." },
	{ "update_drops", (PyCFunction)XskPort_update_drops, METH_O, DROPS_DOC " (XDP_STATISTICS)" },
	{ "rx_take", (PyCFunction)XskPort_rx_take, METH_VARARGS,
	  "rx_take(addrs, lengths, counters) -> n: frames by UMEM address, kept until refill/recycle" },
	{ "tx_addrs", (PyCFunction)XskPort_tx_addrs, METH_VARARGS,
	  "tx_addrs(addrs, lengths, n, counters) -> sent: shared socket, frames of the UMEM, no copy" },
	{ "recycle", (PyCFunction)XskPort_recycle, METH_NOARGS,
	  "recycle() -> n: completed frames back to the UMEM owner's fill ring" },
	{ "refill", (PyCFunction)XskPort_refill, METH_VARARGS, "refill(addrs, n): frames back to the fill ring" },
	{ "busy_poll", (PyCFunction)XskPort_busy_poll, METH_VARARGS,
	  "busy_poll(usec, budget): SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET; recvfrom() on an empty ring" },
	{ "close", (PyCFunction)XskPort_close, METH_NOARGS, "Close the socket; the UMEM goes with the last view." },
	{ NULL },
};

static PyGetSetDef XskPort_getset[] = {
	{ "fd", (getter)XskPort_get_fd, NULL, "the AF_XDP socket (for the XSKMAP)", NULL },
	{ "tx_budget", (getter)XskPort_get_tx_budget, NULL, "frames one copy-mode kick may send", NULL },
	{ "inflight", (getter)XskPort_get_inflight, NULL, "shared socket: frames sent, not completed", NULL },
	{ NULL },
};

static PyTypeObject XskPortType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.XskPort",
	.tp_basicsize = sizeof(XskPortObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "XskPort(ifindex, queue=0, ring_size=2048, frame_size=4096, bind_flags=0, rx=True, tx=True,\n"
		  "share=None): an AF_XDP socket bound to a queue of an interface of this thread's namespace; its\n"
		  "buffer is the UMEM. share=port: transmit-only on port's UMEM (XDP_SHARED_UMEM).",
	.tp_new = XskPort_new,
	.tp_init = (initproc)XskPort_init,
	.tp_dealloc = (destructor)XskPort_dealloc,
	.tp_methods = XskPort_methods,
	.tp_getset = XskPort_getset,
	.tp_as_buffer = &XskPort_as_buffer,
};

static int py_xsk_add(PyObject *m)
{
	if (add_type(m, "XskPort", &XskPortType) < 0)
		return -1;
	if (PyModule_AddIntConstant(m, "XDP_COPY", XDP_COPY) < 0 ||
	    PyModule_AddIntConstant(m, "XDP_ZEROCOPY", XDP_ZEROCOPY) < 0 ||
	    PyModule_AddIntConstant(m, "XSK_STAMP_LEN", XSK_STAMP_LEN) < 0 ||
	    PyModule_AddObject(m, "XSK_STAMP_CHECK", PyLong_FromUnsignedLongLong(XSK_STAMP_CHECK)) < 0)
		return -1;
	return 0;
}

#endif
