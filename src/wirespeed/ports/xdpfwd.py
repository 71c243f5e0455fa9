"""The in-kernel forwarder (`fwd --backend xdp-redirect`): an XDP program on IN counts each frame per
CPU, writes the next hop's MACs and redirects it to OUT through a DEVMAP (bpf_redirect_map): the
talk's bypass-class forwarder at the kernel's own speed, no frame reaching user space.

Not a port of the registry: it joins two interfaces. Its two sides still come as the fwd tool's
two prepared ports, so the run driver, the counters and the summary are the other backends':
IN's counters are the program's (an mmapable array map, one slot per CPU, read in place); OUT's
are the OUT interface's own TX counter, read by the worker while it watches (an independent
count of what left). The program is attached by the worker and stays only while it runs.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import numpy as np

from wirespeed import core
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.netdev import link_info, link_stats, veth_peer
from wirespeed.base.netns import Where, ifindex, in_netns
from wirespeed.bpf import MAP_ARRAY, MAP_DEVMAP, Map, Prog, XdpLink, possible_cpus, progs
from wirespeed.ports import PortSpec, Prepared, shared_counters
from wirespeed.ports.kernel import peer_receives

POLL_S = 0.01  # how often the worker looks at the counters


def next_hop_macs(out: Where) -> bytes | None:
    """dst then src MAC for frames leaving OUT: its veth peer's and its own (None: not a veth,
    the frames keep theirs)."""
    peer = veth_peer(out)
    if peer is None:
        return None
    mac = lambda w: bytes.fromhex(link_info(w)["mac"].replace(":", ""))  # noqa: E731
    return mac(peer) + mac(out)


def takes_frames(out: Where) -> None:
    """A DEVMAP redirect to a device whose driver has no ndo_xdp_xmit drops every frame, with no
    error anywhere but a counter: ask the kernel first (its xdp-features for the device)."""
    from wirespeed.base.netdev import xdp_features

    features = xdp_features(out)
    if features is not None and "ndo-xmit" not in features:
        raise WirespeedError(f"{out} cannot take redirected XDP frames: the kernel reports its XDP features as "
                             f"{', '.join(sorted(features)) or 'none'} (no ndo-xmit)")


def prepare_pair(inp: PortSpec, out: PortSpec) -> tuple[Prepared, Prepared]:
    """The program, its maps and OUT's peer made able to receive, in the parent; IN's prepared
    port attaches the program when its worker opens it."""
    if inp.where.netns != out.where.netns:
        raise UsageError(f"--backend {inp.backend} redirects inside one namespace: {inp.where} and {out.where} are not")
    hairpin = inp.where == out.where  # back out of IN: XDP_TX, no DEVMAP
    with ExitStack() as made:  # on an error here, everything made so far is closed again
        counters = Map(MAP_ARRAY, progs.SLOT, possible_cpus(), "ws_fwd_counters", mmapable=True)
        made.callback(counters.close)
        maps = {"counters": counters}
        if not hairpin:
            devmap = maps["out"] = Map(MAP_DEVMAP, 4, 1, "ws_fwd_out")
            made.callback(devmap.close)
            with in_netns(out.where):
                devmap.update(0, ifindex(out.where).to_bytes(4, "little"))
        prog = Prog(progs.xdp_forward(next_hop_macs(out.where), hairpin), maps)
        made.callback(prog.close)
        peer_receives(out, made)
        if not hairpin:
            takes_frames(out.where)
        undo = made.pop_all()
    words = counters.words()
    out_rows, _mem = shared_counters(1)
    rx = Prepared(inp, words[:, : core.N_COUNTERS], lambda sp, i: KernelForwarder(sp, prog, words), ())
    tx = Prepared(out, out_rows, lambda sp, i: OutCounter(sp, out_rows[0]), (undo.close,))
    return rx, tx


class KernelForwarder:
    """Worker side of IN: the program attached (bpf_link) while the run runs."""

    backend = "xdp-redirect"

    def __init__(self, spec: PortSpec, prog: Prog, words: np.ndarray):
        self.where = spec.where
        self.per_cpu = words[:, : core.N_COUNTERS]
        self.counters = self.per_cpu
        with in_netns(spec.where):
            self.link = XdpLink(prog, ifindex(spec.where), str(spec.where), spec.opt("xdp_mode"))
        self.xdp_mode = self.link.mode

    def received(self) -> int:
        return int(self.per_cpu[:, core.C["packets"]].sum())

    def facts(self) -> dict:
        return {"xdp_mode": self.xdp_mode, "note": self.link.fallback}

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None


class OutCounter:
    """Worker side of OUT: its packets and bytes are the OUT interface's own TX counter since
    the worker opened it."""

    backend = "xdp-redirect"

    def __init__(self, spec: PortSpec, row: np.ndarray):
        self.where, self.counters = spec.where, row
        s = link_stats(spec.where)
        self.base = (s["tx_packets"], s["tx_bytes"])

    def update(self) -> None:
        s = link_stats(self.where)
        self.counters[core.C["packets"]] = s["tx_packets"] - self.base[0]
        self.counters[core.C["bytes"]] = s["tx_bytes"] - self.base[1]

    def close(self) -> None:
        try:
            self.update()
        except WirespeedError:
            pass  # the interface (or its namespace) went first: the last poll's figures stand


def watch(fw: KernelForwarder, out: OutCounter, first_last: np.ndarray, until_ns: int) -> None:
    """Until until_ns: OUT's counter brought up to date, and when traffic was first and last
    seen (CLOCK_MONOTONIC ns, to the poll) into first_last."""
    seen = fw.received()
    while True:
        now = time.monotonic_ns()
        total = fw.received()
        if total != seen:
            if not first_last[0]:
                first_last[0] = now - int(POLL_S * 1e9)
            first_last[1], seen = now, total
        out.update()
        if now >= until_ns:
            return
        time.sleep(min(POLL_S, (until_ns - now) / 1e9))
