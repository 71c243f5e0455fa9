/* wirespeed._core: the compiled core, one translation unit. Python calls in once per batch (or
 * once per timed loop or run slice); the loops run here with the GIL released.
 *
 * Engines (no Python): tsc.h, csum.h, counters.h, gen.h, sink.h, runloop.h, afpacket.h, udp.h,
 * xskring.h + xsk.h, ring.h, pool.h, qdisc.h, timebench.h, pcap.h.
 * Bindings, one per Python type or family of module functions: py_gen.h, py_sink.h,
 * py_afpacket.h, py_udp.h, py_xsk.h, py_ring.h, py_pool.h, py_qdisc.h, py_frames.h, py_bench.h,
 * py_bpf.h, py_pcap.h; pyutil.h and py_port.h hold what they share. Every header includes what it uses.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "py_afpacket.h"
#include "py_bench.h"
#include "py_bpf.h"
#include "py_frames.h"
#include "py_gen.h"
#include "py_pcap.h"
#include "py_pool.h"
#include "py_qdisc.h"
#include "py_ring.h"
#include "py_sink.h"
#include "py_udp.h"
#include "py_xsk.h"

static PyMethodDef core_methods[] = {
	BENCH_METHODS
	BPF_METHODS
	FRAMES_METHODS
	PACE_METHODS
	PCAP_METHODS
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef core_module = {
	PyModuleDef_HEAD_INIT, "wirespeed._core", "wirespeed's compiled core.", -1, core_methods, NULL, NULL, NULL, NULL,
};

WS_NAME_TABLE(counter_names, WS_COUNTERS, C_COUNT);

PyMODINIT_FUNC PyInit__core(void)
{
	PyObject *m = PyModule_Create(&core_module);
	int (*add[])(PyObject *) = { py_gen_add,  py_sink_add, py_afpacket_add, py_udp_add,
				     py_xsk_add,  py_ring_add, py_pool_add,     py_qdisc_add };

	if (!m)
		return NULL;
	for (size_t i = 0; i < sizeof(add) / sizeof(add[0]); i++)
		if (add[i](m) < 0)
			goto fail;
	if (add_names(m, "COUNTER_NAMES", counter_names, C_COUNT) < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
