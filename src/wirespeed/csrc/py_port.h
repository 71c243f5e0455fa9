/* What the port types share: gen_run and sink_run, one body each, over runloop.h. A port type
 * names its batch and wait functions; the loop runs a whole slice with the GIL released. */
#ifndef WS_PY_PORT_H
#define WS_PY_PORT_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "py_gen.h"
#include "py_sink.h"
#include "runloop.h"
#include "txstamp.h"

/* timestamps(memory, ring_entries) of a port that sends through a socket: read the kernel's
 * transmit stamp of every frame sent from now on into memory (TXSTAMP counters, the send-delay
 * histogram, a ring of ring_entries records; a power of two); None: what is queued is read, then
 * no more stamps. *held keeps the memory while the port lives; bypass: the qdisc is bypassed
 * (the driver's stamp, else the qdisc's entry). */
static PyObject *port_tx_timestamps(struct txstamp *ts, int *stamping, Py_buffer *held, int fd, int bypass,
				    PyObject *args)
{
	PyObject *mo;
	unsigned long long ring;
	Py_buffer mv;
	uint64_t *mem;
	int err;

	if (!PyArg_ParseTuple(args, "OK", &mo, &ring))
		return NULL;
	if (mo == Py_None) {
		if (*stamping) {
			txstamp_read(ts, fd);
			txstamp_disable(ts, fd);
			txstamp_read(ts, fd);
			*stamping = 0;
		}
		Py_RETURN_NONE;
	}
	if (*stamping) /* on already, into this memory */
		Py_RETURN_NONE;
	if (!ring || ring & (ring - 1))
		return PyErr_Format(PyExc_ValueError, "ring_entries: a power of two");
	if (!(mem = buf_get(mo, &mv, 8, (Py_ssize_t)(T_COUNT + HIST_BUCKETS + ring), "memory")))
		return NULL;
	txstamp_init(ts, mem, ring);
	if ((err = txstamp_enable(ts, fd, bypass))) {
		PyBuffer_Release(&mv);
		return oserror_step(err, "SO_TIMESTAMPING");
	}
	if (held->obj)
		PyBuffer_Release(held);
	*held = mv;
	*stamping = 1;
	Py_RETURN_NONE;
}

/* gen_run(gen, batch, max_packets, until_ns, counters) -> packets sent */
static PyObject *port_gen_run(void *port, tx_gen_fn tx, tx_wait_fn wait, PyObject *args)
{
	PyObject *geno, *co;
	unsigned int batch;
	unsigned long long max, until;
	Py_buffer cv;
	uint64_t *c, sent;

	if (!PyArg_ParseTuple(args, "O!IKKO", &GenType, &geno, &batch, &max, &until, &co))
		return NULL;
	if (batch == 0)
		return PyErr_Format(PyExc_ValueError, "batch must be >= 1");
	if (!(c = counters_get(co, &cv)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	sent = run_gen(port, tx, wait, &((GenObject *)geno)->g, batch, max, until, c);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	return PyLong_FromUnsignedLongLong(sent);
}

/* sink_run(sink, batch, max_packets, until_ns, counters) -> packets received; the kernel's
 * drop count for the port is read once at the end of the slice (update_drops). */
static PyObject *port_sink_run(void *port, rx_sink_fn rx, rx_wait_fn wait, void (*update_drops)(void *, uint64_t *),
			       PyObject *args)
{
	PyObject *sinko, *co;
	unsigned int batch;
	unsigned long long max, until;
	Py_buffer cv;
	uint64_t *c, got;

	if (!PyArg_ParseTuple(args, "O!IKKO", &SinkType, &sinko, &batch, &max, &until, &co))
		return NULL;
	if (batch == 0)
		return PyErr_Format(PyExc_ValueError, "batch must be >= 1");
	if (!(c = counters_get(co, &cv)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	got = run_sink(port, rx, wait, ((SinkObject *)sinko)->k, batch, max, until, c);
	if (update_drops)
		update_drops(port, c);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&cv);
	return PyLong_FromUnsignedLongLong(got);
}

/* update_drops(counters): the kernel's drops for this port since the last call, into
 * counters[kernel_drops]. */
static PyObject *port_update_drops(void *port, void (*update_drops)(void *, uint64_t *), PyObject *arg)
{
	Py_buffer cv;
	uint64_t *c;

	if (!(c = counters_get(arg, &cv)))
		return NULL;
	update_drops(port, c);
	PyBuffer_Release(&cv);
	Py_RETURN_NONE;
}

/* One batch in or out from Python (rx_burst / tx_burst), the same for every port type: the
 * port names its burst function (void * adapters, one line each), the binding is here. */
typedef uint32_t (*rx_burst_fn)(void *port, uint64_t *off, uint32_t *len, uint64_t *ts, uint32_t max, uint64_t *c);
typedef uint32_t (*tx_burst_fn)(void *port, const uint8_t *base, size_t size, const uint64_t *off,
				const uint32_t *len, uint32_t n, uint64_t *c);

/* rx_burst(offsets, lengths, timestamps, counters, timeout_ms=0) -> n; with a timeout and
 * nothing there, one wait and one more try (the time counted from the wake-up). */
static PyObject *port_rx_burst(void *port, rx_burst_fn burst, rx_wait_fn wait, PyObject *args)
{
	struct burst_args b;
	uint32_t got;

	if (burst_args_get(args, &b))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	uint64_t t0 = tsc_begin(), n0 = mono_ns();
	got = burst(port, b.off, b.len, b.ts, b.max, b.counters);
	if (!got && b.timeout) {
		wait(port, b.timeout, b.counters);
		t0 = tsc_begin();
		n0 = mono_ns();
		got = burst(port, b.off, b.len, b.ts, b.max, b.counters);
	}
	if (got)
		counters_time(b.counters, t0, n0);
	Py_END_ALLOW_THREADS
	burst_args_release(&b);
	return PyLong_FromUnsignedLong(got);
}

/* tx_burst(buffer, offsets, lengths, n, counters) -> sent (best effort) */
static PyObject *port_tx_burst(void *port, tx_burst_fn tx, PyObject *args)
{
	struct frames_args f;
	uint32_t sent;

	if (frames_args_get(args, &f))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	uint64_t t0 = tsc_begin(), n0 = mono_ns();
	sent = tx(port, f.base, (size_t)f.b.len, f.off, f.len, f.n, f.counters);
	counters_time(f.counters, t0, n0);
	Py_END_ALLOW_THREADS
	frames_args_release(&f);
	return PyLong_FromUnsignedLong(sent);
}

#define RUN_DOC_GEN "gen_run(gen, batch, max_packets, until_ns, counters) -> packets sent"
#define RUN_DOC_SINK "sink_run(sink, batch, max_packets, until_ns, counters) -> packets received"
#define DROPS_DOC "update_drops(counters): the kernel's drops since the last call, into counters[kernel_drops]"

#endif
