/* Python types over the AF_PACKET rings (afpacket.h): PacketTx and PacketRx. */
#ifndef WS_PY_AFPACKET_H
#define WS_PY_AFPACKET_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "afpacket.h"
#include "py_port.h"

/* ---- PacketTx ------------------------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	struct afp_tx t;
	Py_buffer tsmem; /* timestamps(): the memory the stamps go to, held while the port lives */
} PacketTxObject;

static void PacketTx_release(PacketTxObject *self)
{
	afp_tx_close(&self->t); /* its last stamps read into tsmem first */
	self->t.stamping = 0;
	if (self->tsmem.obj)
		PyBuffer_Release(&self->tsmem);
}

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
	err = afp_tx_open(&self->t, ifindex, frame_size, frame_nr, bypass, linear, dontwait, &step);
	if (err) {
		afp_tx_close(&self->t);
		oserror_step(err, step);
		return -1;
	}
	return 0;
}

/* flush(counters) -> frames still in the ring: what is queued is offered until the kernel took it
 * (without waiting sends; with them every send took its frames already). */
static PyObject *PacketTx_flush(PacketTxObject *self, PyObject *arg)
{
	Py_buffer cv;
	uint64_t *c;
	uint32_t left;

	CHECK_OPEN(self->t.map);
	if (!(c = counters_get(arg, &cv)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	left = afp_tx_flush(&self->t, c);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	return PyLong_FromUnsignedLong(left);
}

/* timestamps(memory, ring_entries): port_tx_timestamps. */
static PyObject *PacketTx_timestamps(PacketTxObject *self, PyObject *args)
{
	CHECK_OPEN(self->t.map);
	return port_tx_timestamps(&self->t.ts, &self->t.stamping, &self->tsmem, self->t.fd, self->t.bypass, args);
}

static PyObject *PacketTx_gen_run(PacketTxObject *self, PyObject *args)
{
	CHECK_OPEN(self->t.map);
	return port_gen_run(&self->t, afp_tx_gen, afp_tx_wait, args);
}

/* tx_burst(buffer, offsets, lengths, n, counters) -> sent */
static uint32_t afp_tx_burst_v(void *t, const uint8_t *base, size_t size, const uint64_t *off,
			       const uint32_t *len, uint32_t n, uint64_t *c)
{
	return afp_tx_frames(t, base, off, len, n, c);
}

static PyObject *PacketTx_tx_burst(PacketTxObject *self, PyObject *args)
{
	CHECK_OPEN(self->t.map);
	return port_tx_burst(&self->t, afp_tx_burst_v, args);
}

/* tx_ptrs(addrs, lengths, n, counters) -> sent: frames at addresses malloc_frames gave */
static PyObject *PacketTx_tx_ptrs(PacketTxObject *self, PyObject *args)
{
	PyObject *ao, *lo, *co;
	Py_buffer a, l, cv;
	unsigned int n;
	uint32_t sent;
	uint64_t *c;

	CHECK_OPEN(self->t.map);
	if (!PyArg_ParseTuple(args, "OOIO", &ao, &lo, &n, &co))
		return NULL;
	if (!buf_get(ao, &a, 8, n, "addrs"))
		return NULL;
	if (!buf_get(lo, &l, 4, n, "lengths")) {
		PyBuffer_Release(&a);
		return NULL;
	}
	if (!(c = counters_get(co, &cv))) {
		PyBuffer_Release(&a);
		PyBuffer_Release(&l);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	uint64_t t0 = tsc_begin(), n0 = mono_ns();
	sent = afp_tx_ptrs(&self->t, a.buf, l.buf, n, c);
	counters_time(c, t0, n0);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	PyBuffer_Release(&l);
	PyBuffer_Release(&a);
	return PyLong_FromUnsignedLong(sent);
}

static PyObject *PacketTx_close(PacketTxObject *self, PyObject *unused)
{
	PacketTx_release(self);
	Py_RETURN_NONE;
}

static void PacketTx_dealloc(PacketTxObject *self)
{
	PacketTx_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef PacketTx_methods[] = {
	{ "gen_run", (PyCFunction)PacketTx_gen_run, METH_VARARGS, RUN_DOC_GEN },
	{ "flush", (PyCFunction)PacketTx_flush, METH_O, "flush(counters) -> frames the kernel had not taken in 100 ms" },
	{ "timestamps", (PyCFunction)PacketTx_timestamps, METH_VARARGS,
	  "timestamps(memory, ring_entries): the kernel's transmit stamp of every frame sent from now on, read into\n"
	  "memory (TXSTAMP_NAMES counters, the send-delay histogram, a ring of records); memory None: off again" },
	{ "tx_burst", (PyCFunction)PacketTx_tx_burst, METH_VARARGS,
	  "tx_burst(buffer, offsets, lengths, n, counters) -> sent (best effort, one send() kick)" },
	{ "tx_ptrs", (PyCFunction)PacketTx_tx_ptrs, METH_VARARGS,
	  "tx_ptrs(addrs, lengths, n, counters) -> sent: frames at addresses (malloc_frames), one kick" },
	{ "close", (PyCFunction)PacketTx_close, METH_NOARGS, "Unmap the ring and close the socket." },
	{ NULL },
};

static PyTypeObject PacketTxType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.PacketTx",
	.tp_basicsize = sizeof(PacketTxObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "PacketTx(ifindex, frame_size=2048, frame_nr=4096, qdisc_bypass=True, dontwait=False, linear=False):\n"
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
	return port_sink_run(&self->r, afp_rx_sink, afp_rx_wait, afp_rx_update_drops, args);
}

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n */
static uint32_t afp_rx_burst_v(void *r, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max, uint64_t *c)
{
	return afp_rx_burst(r, off, len, ts, max, c);
}

static PyObject *PacketRx_rx_burst(PacketRxObject *self, PyObject *args)
{
	CHECK_OPEN(self->r.fd >= 0);
	return port_rx_burst(&self->r, afp_rx_burst_v, afp_rx_wait, args);
}

static PyObject *PacketRx_update_drops(PacketRxObject *self, PyObject *arg)
{
	CHECK_OPEN(self->r.fd >= 0);
	return port_update_drops(&self->r, afp_rx_update_drops, arg);
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

EXPORTED_BUFFER(PacketRx, PacketRxObject, self->r.map, self->r.map_len, 1);

static PyMethodDef PacketRx_methods[] = {
	{ "sink_run", (PyCFunction)PacketRx_sink_run, METH_VARARGS, RUN_DOC_SINK },
	{ "rx_burst", (PyCFunction)PacketRx_rx_burst, METH_VARARGS,
	  "rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n (best effort, zero copy:\n"
	  "offsets index this object's buffer; valid until the next rx_burst)" },
	{ "update_drops", (PyCFunction)PacketRx_update_drops, METH_O, DROPS_DOC " (PACKET_STATISTICS)" },
	{ "close", (PyCFunction)PacketRx_close, METH_NOARGS, "Unmap the ring and close the socket." },
	{ NULL },
};

static PyTypeObject PacketRxType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "wirespeed._core.PacketRx",
	.tp_basicsize = sizeof(PacketRxObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "PacketRx(ifindex, block_size=256K, block_nr=64, timeout_ms=2, fanout_group=-1, fanout_mode=HASH):\n"
		  "AF_PACKET TPACKET_V3 RX block ring; its buffer is the ring itself.",
	.tp_new = PacketRx_new,
	.tp_init = (initproc)PacketRx_init,
	.tp_dealloc = (destructor)PacketRx_dealloc,
	.tp_methods = PacketRx_methods,
	.tp_as_buffer = &PacketRx_as_buffer,
};

WS_NAME_TABLE(txstamp_names, WS_TXSTAMP_STATS, T_COUNT);

static int py_afpacket_add(PyObject *m)
{
	if (add_type(m, "PacketTx", &PacketTxType) < 0 || add_type(m, "PacketRx", &PacketRxType) < 0 ||
	    add_names(m, "TXSTAMP_NAMES", txstamp_names, T_COUNT) < 0)
		return -1;
	PyModule_AddIntConstant(m, "TX_DATA_OFF", (long)TX_DATA_OFF);
	PyModule_AddIntConstant(m, "TX_VNET_LEN", (long)sizeof(struct virtio_net_hdr));
	PyModule_AddIntConstant(m, "FANOUT_HASH", PACKET_FANOUT_HASH);
	PyModule_AddIntConstant(m, "FANOUT_LB", PACKET_FANOUT_LB);
	PyModule_AddIntConstant(m, "FANOUT_CPU", PACKET_FANOUT_CPU);
	PyModule_AddIntConstant(m, "FANOUT_FLAG_ROLLOVER", PACKET_FANOUT_FLAG_ROLLOVER);
	return 0;
}

#endif
