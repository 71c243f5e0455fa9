/* wirespeed._core: the compiled core. Python calls in once per batch (or once per timed loop);
 * the loops themselves run here with the GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tsc.h"
#include "timebench.h"
#include "afpacket.h"
#include "udp.h"
#include "ports.h"
#include "bpf.h"
#include "xskport.h"
#include "memtypes.h"
#include "qdisctype.h"

static PyObject *core_clock(PyObject *self, PyObject *unused)
{
	uint64_t t = tsc_begin(), m = mono_ns();

	return Py_BuildValue("(KK)", (unsigned long long)t, (unsigned long long)m);
}

static PyObject *core_tsc_calibrate(PyObject *self, PyObject *args)
{
	unsigned long long window_ns;
	uint64_t cycles, ns;

	if (!PyArg_ParseTuple(args, "K", &window_ns))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	tsc_calibrate(window_ns, &cycles, &ns);
	Py_END_ALLOW_THREADS
	return Py_BuildValue("(KK)", (unsigned long long)cycles, (unsigned long long)ns);
}

static const struct tb_op *tb_find(const char *name)
{
	for (size_t i = 0; i < sizeof(tb_ops) / sizeof(tb_ops[0]); i++)
		if (!strcmp(tb_ops[i].name, name))
			return &tb_ops[i];
	return NULL;
}

static PyObject *core_timebench(PyObject *self, PyObject *args)
{
	const char *name;
	unsigned long long n, arg = 0;
	uint64_t c0, c1, m0, m1, unit;
	const struct tb_op *op;
	volatile uint64_t sink;

	if (!PyArg_ParseTuple(args, "sK|K", &name, &n, &arg))
		return NULL;
	op = tb_find(name);
	if (!op)
		return PyErr_Format(PyExc_ValueError, "unknown timebench operation %s", name);
	if (op->needs_chase && !chase_buf.base)
		return PyErr_Format(PyExc_RuntimeError, "%s needs chase_setup() first", name);
	unit = op->unit ? op->unit : arg;
	if (unit == 0 || n == 0)
		return PyErr_Format(PyExc_ValueError, "%s needs n > 0 and a batch size > 0", name);
	n = (n + unit - 1) / unit * unit;

	Py_BEGIN_ALLOW_THREADS
	m0 = mono_ns();
	c0 = tsc_begin();
	sink = op->fn(n, arg);
	c1 = tsc_end();
	m1 = mono_ns();
	Py_END_ALLOW_THREADS
	(void)sink;
	return Py_BuildValue("(KKK)", (unsigned long long)(c1 - c0), (unsigned long long)(m1 - m0), n);
}

static PyObject *core_timebench_ops(PyObject *self, PyObject *unused)
{
	size_t count = sizeof(tb_ops) / sizeof(tb_ops[0]);
	PyObject *t = PyTuple_New((Py_ssize_t)count);

	if (!t)
		return NULL;
	for (size_t i = 0; i < count; i++)
		PyTuple_SET_ITEM(t, (Py_ssize_t)i, PyUnicode_FromString(tb_ops[i].name));
	return t;
}

static PyObject *core_chase_setup(PyObject *self, PyObject *args)
{
	unsigned long long bytes, seed = 0x9e3779b97f4a7c15ull;
	int err;

	if (!PyArg_ParseTuple(args, "K|K", &bytes, &seed))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	err = chase_setup((size_t)bytes, seed);
	Py_END_ALLOW_THREADS
	if (err) {
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	Py_RETURN_NONE;
}

static PyObject *core_chase_free(PyObject *self, PyObject *unused)
{
	chase_free();
	Py_RETURN_NONE;
}

/* The cheapest possible call from Python into the core: what one crossing costs. */
static PyObject *core_noop(PyObject *self, PyObject *unused)
{
	Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
	{ "clock", core_clock, METH_NOARGS, "clock() -> (tsc, monotonic_ns): both clocks, read back to back." },
	{ "tsc_calibrate", core_tsc_calibrate, METH_VARARGS,
	  "tsc_calibrate(window_ns) -> (cycles, ns): TSC cycles counted while CLOCK_MONOTONIC advanced ns." },
	{ "timebench", core_timebench, METH_VARARGS,
	  "timebench(op, n, batch=0) -> (cycles, ns, n_done): run op n times (rounded up to whole batches)\n"
	  "in one timed loop with the GIL released." },
	{ "timebench_ops", core_timebench_ops, METH_NOARGS, "Names of the operations timebench() knows." },
	{ "chase_setup", core_chase_setup, METH_VARARGS,
	  "chase_setup(bytes, seed=...): build the random pointer chase walked by timebench('chase')." },
	{ "chase_free", core_chase_free, METH_NOARGS, "Release the pointer-chase buffer." },
	{ "noop", core_noop, METH_NOARGS, "Do nothing: the cost of one call from Python into the core." },
	BPF_METHODS
	MEM_METHODS
	QDISC_METHODS
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef core_module = {
	PyModuleDef_HEAD_INIT, "wirespeed._core", "wirespeed's compiled core.", -1, core_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
	PyObject *m = PyModule_Create(&core_module);

	if (!m || ports_init(m) < 0 || xskport_init(m) < 0 || memtypes_init(m) < 0 || qdisctype_init(m) < 0) {
		Py_XDECREF(m);
		return NULL;
	}
	return m;
}
