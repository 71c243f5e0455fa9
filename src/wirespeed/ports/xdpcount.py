"""The in-kernel counter (`--backend xdp-count`): an XDP program adds every frame's packets and
bytes to its CPU's counters and drops it. No frame reaches user space: this is the host's
receive ceiling (the talk's "drop right after receive").

The counters live in a BPF array map the parent has mapped (BPF_F_MMAPABLE): one slot of the
usual counters per CPU, read in place like any port's, no system call. The program is attached
(through a bpf_link) by the worker that opens the port and stays only while it runs.
"""

from __future__ import annotations

import time

import numpy as np

from wirespeed import core
from wirespeed.base.netns import ifindex, in_netns
from wirespeed.bpf import MAP_ARRAY, Map, Prog, XdpLink, possible_cpus, progs
from wirespeed.ports import PortSpec, Prepared

POLL_S = 0.01  # how often a receive slice looks at the counters


def prepare(spec: PortSpec, rows: int) -> Prepared:
    counters = Map(MAP_ARRAY, progs.SLOT, possible_cpus(), "ws_counters", mmapable=True)
    words = counters.words()
    return Prepared(spec, words[:, : core.N_COUNTERS], lambda sp, i: XdpCountPort(sp, counters, words),
                    (counters.close,))


class XdpCountPort:
    backend = "xdp-count"

    def __init__(self, spec: PortSpec, counters: Map, words: np.ndarray):
        self.where = spec.where
        self.per_cpu = words[:, : core.N_COUNTERS]
        self.counters = self.per_cpu  # one row per CPU; the run sums them
        self.prog = self.link = None
        try:
            self.prog = Prog(progs.xdp_count(), {"counters": counters})
            with in_netns(spec.where):
                self.link = XdpLink(self.prog, ifindex(spec.where), str(spec.where), spec.opt("xdp_mode"))
        except BaseException:
            self.close()
            raise
        self.xdp_mode = self.link.mode
        self.first_ns = self.last_ns = 0  # CLOCK_MONOTONIC of the first and last poll that saw traffic
        self.seen = int(self.per_cpu[:, core.C["packets"]].sum())

    def facts(self) -> dict:
        return {"xdp_mode": self.xdp_mode, "prog_id": self.prog.id, "note": self.link.fallback}

    def sink_run(self, sink, batch: int, max_packets: int, until_ns: int) -> int:
        """Watch the counters until max_packets more were counted or until_ns: the kernel does
        the receiving."""
        p = core.C["packets"]
        start = int(self.per_cpu[:, p].sum())
        while True:
            total = int(self.per_cpu[:, p].sum())
            now = time.monotonic_ns()
            if total != self.seen:
                self.first_ns = self.first_ns or now - int(POLL_S * 1e9)
                self.last_ns, self.seen = now, total
            if total - start >= max_packets or now >= until_ns:
                return total - start
            time.sleep(min(POLL_S, (until_ns - now) / 1e9))

    def active_ns(self) -> tuple[int, int]:
        """When traffic was first and last seen (CLOCK_MONOTONIC ns, to the poll)."""
        return self.first_ns, self.last_ns

    def update_drops(self) -> None:
        pass  # it drops everything by design; the driver's own drops show in ethtool -S

    def close(self) -> None:
        for obj in (self.link, self.prog):
            if obj is not None:
                obj.close()
        self.link = self.prog = None
