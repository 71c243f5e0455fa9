/* Python type UdpPort over batched UDP sockets (udp.h). */
#ifndef WS_PY_UDP_H
#define WS_PY_UDP_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "py_port.h"
#include "udp.h"

typedef struct {
	PyObject_HEAD
	struct udp_port u;
	Py_ssize_t exports;
	Py_buffer tsmem; /* timestamps(): the memory the stamps go to, held while the port lives */
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
	static char *kwlist[] = { "fd", "batch", "slot", "gso", "txtime", NULL };
	int fd, err, txtime = 0;
	unsigned int batch = 64, slot = 2048, gso = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|IIIp", kwlist, &fd, &batch, &slot, &gso, &txtime))
		return -1;
	if (batch < 1 || batch > 1024 || slot < 64 || slot % 64 || gso > slot || (gso && txtime)) {
		PyErr_SetString(PyExc_ValueError, "batch 1..1024, slot a multiple of 64, gso <= slot, not gso with txtime");
		return -1;
	}
	if (self->exports) {
		PyErr_SetString(PyExc_BufferError, "buffer still viewed");
		return -1;
	}
	udp_port_free(&self->u);
	err = udp_port_init(&self->u, fd, batch, slot, gso, txtime);
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
	return port_gen_run(&self->u, udp_tx_gen, udp_tx_wait, args);
}

static PyObject *UdpPort_sink_run(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	return port_sink_run(&self->u, udp_rx_sink, udp_rx_wait, NULL, args);
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n: datagrams in this buffer. */
static uint32_t udp_rx_burst_v(void *u, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max, uint64_t *c)
{
	return udp_rx_burst(u, off, len, ts, max, c);
}

static PyObject *UdpPort_rx_burst(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	return port_rx_burst(&self->u, udp_rx_burst_v, udp_rx_wait, args);
}

/* tx_burst(buffer, offsets, lengths, n, counters) -> sent: datagram payloads, one sendmmsg(). */
static uint32_t udp_tx_burst_v(void *u, const uint8_t *base, size_t size, const uint64_t *off,
			       const uint32_t *len, uint32_t n, uint64_t *c)
{
	return udp_tx_frames(u, base, off, len, n, c);
}

static PyObject *UdpPort_tx_burst(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	return port_tx_burst(&self->u, udp_tx_burst_v, args);
}

/* timestamps(memory, ring_entries): port_tx_timestamps; the qdisc's entry stamps each datagram
 * (SCM_TSTAMP_SCHED: a UDP socket's datagrams go through the stack). Not with GSO. */
static PyObject *UdpPort_timestamps(UdpPortObject *self, PyObject *args)
{
	CHECK_OPEN(self->u.fd >= 0);
	if (self->u.gso)
		return PyErr_Format(PyExc_ValueError, "kernel transmit stamps stamp one datagram of each GSO message");
	return port_tx_timestamps(&self->u.ts, &self->u.stamping, &self->tsmem, self->u.fd, 0, args);
}

/* The stamps still queued are read (the socket is Python's, still open); the buffers go now,
 * or when no numpy view of them is left. */
static PyObject *UdpPort_close(UdpPortObject *self, PyObject *unused)
{
	if (self->u.fd >= 0 && self->u.stamping)
		txstamp_read(&self->u.ts, self->u.fd);
	self->u.stamping = 0;
	if (self->tsmem.obj)
		PyBuffer_Release(&self->tsmem);
	self->u.fd = -1;
	if (!self->exports)
		udp_port_free(&self->u);
	Py_RETURN_NONE;
}

static void UdpPort_dealloc(UdpPortObject *self)
{
	if (self->tsmem.obj)
		PyBuffer_Release(&self->tsmem);
	udp_port_free(&self->u);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

EXPORTED_BUFFER(UdpPort, UdpPortObject, self->u.buf, (size_t)self->u.batch * self->u.slot, 1);

static PyMethodDef UdpPort_methods[] = {
	{ "gen_run", (PyCFunction)UdpPort_gen_run, METH_VARARGS, RUN_DOC_GEN },
	{ "sink_run", (PyCFunction)UdpPort_sink_run, METH_VARARGS, RUN_DOC_SINK },
	{ "rx_burst", (PyCFunction)UdpPort_rx_burst, METH_VARARGS,
	  "rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n (one recvmmsg)" },
	{ "tx_burst", (PyCFunction)UdpPort_tx_burst, METH_VARARGS,
	  "tx_burst(buffer, offsets, lengths, n, counters) -> sent (one sendmmsg)" },
	{ "timestamps", (PyCFunction)UdpPort_timestamps, METH_VARARGS,
	  "timestamps(memory, ring_entries): the kernel's transmit stamp of every datagram sent from now on, read\n"
	  "into memory (counters, send-delay histogram, a ring of records); None: no more (not with GSO)" },
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

static int py_udp_add(PyObject *m) { return add_type(m, "UdpPort", &UdpPortType); }

#endif
