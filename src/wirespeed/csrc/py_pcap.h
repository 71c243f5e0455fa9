/* Module function pcap_index over pcap.h: a capture in memory indexed in one pass in C. */
#ifndef WS_PY_PCAP_H
#define WS_PY_PCAP_H

#include "pyutil.h" /* first: Python.h sets the feature macros */
#include "pcap.h"

/* pcap_index(data, offsets, lengths, ts) -> records. offsets None: only count them. */
static PyObject *py_pcap_index(PyObject *mod, PyObject *args)
{
	PyObject *dob, *oo, *lo, *to;
	Py_buffer d, o = { 0 }, l = { 0 }, t = { 0 };
	uint64_t bad = 0, max = UINT64_MAX;
	int64_t n;

	if (!PyArg_ParseTuple(args, "OOOO", &dob, &oo, &lo, &to))
		return NULL;
	if (PyObject_GetBuffer(dob, &d, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (oo != Py_None) {
		if (!buf_get(oo, &o, 8, 0, "offsets"))
			goto fail;
		max = (uint64_t)o.len / 8;
		if (!buf_get(lo, &l, 4, max, "lengths") || !buf_get(to, &t, 8, max, "ts"))
			goto fail;
	}
	Py_BEGIN_ALLOW_THREADS
	n = pcap_index(d.buf, (uint64_t)d.len, o.buf, l.buf, t.buf, max, &bad);
	Py_END_ALLOW_THREADS
	switch (n) {
	case -1:
		PyErr_SetString(PyExc_ValueError, "not a pcap file (pcapng is not read; convert it with editcap -F pcap)");
		break;
	case -2:
		PyErr_Format(PyExc_ValueError, "link type %llu, not Ethernet (1)", (unsigned long long)bad);
		break;
	case -3:
		PyErr_Format(PyExc_ValueError, "record %llu is truncated (the file ends inside it)",
			     (unsigned long long)bad + 1);
		break;
	case -4:
		PyErr_Format(PyExc_ValueError, "record %llu was captured shorter than it was sent (snaplen)",
			     (unsigned long long)bad + 1);
		break;
	}
fail:
	PyBuffer_Release(&d);
	if (o.obj)
		PyBuffer_Release(&o);
	if (l.obj)
		PyBuffer_Release(&l);
	if (t.obj)
		PyBuffer_Release(&t);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromLongLong(n);
}

#define PCAP_METHODS                                                                                         \
	{ "pcap_index", py_pcap_index, METH_VARARGS,                                                           \
	  "pcap_index(data, offsets, lengths, ts) -> records: offsets (uint64), lengths (uint32) and ts (uint64 " \
	  "ns) of every record of a pcap file in memory; offsets None: only count." },

#endif
