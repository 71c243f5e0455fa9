"""Rates, per-packet costs and latency percentiles from counters, and their printing.

L2 counts frame bytes with the FCS; L1 adds preamble, SFD and inter-frame gap (20 bytes), as
the link does. Ports count the bytes they hand the kernel, so each port says how many bytes per
packet to add to reach L2 (the FCS for AF_PACKET; Ethernet, IP, UDP headers and FCS for UDP).
"""

from __future__ import annotations

import numpy as np
from rich.console import Console

from wirespeed import core
from wirespeed.base.output import make_table, print_json
from wirespeed.base.units import WIRE_OVERHEAD

C = core.C
PERCENTILES = (50, 90, 99, 99.9)


def rates(packets: float, nbytes: float, seconds: float, l2_extra: int) -> dict:
    """pps, L2 and L1 Mbit/s of packets/bytes moved in seconds."""
    if seconds <= 0:
        return {"pps": 0.0, "l2_mbps": 0.0, "l1_mbps": 0.0}
    l2 = nbytes + packets * l2_extra
    return {
        "pps": packets / seconds,
        "l2_mbps": l2 * 8 / seconds / 1e6,
        "l1_mbps": (l2 + packets * WIRE_OVERHEAD) * 8 / seconds / 1e6,
    }


def per_packet(c: np.ndarray, cpu_ns: float) -> dict:
    """Where the time per packet went: data-path ns and cycles, CPU ns, system calls, batch."""
    pkts = int(c[C["packets"]])
    if not pkts:
        return {"ns_per_pkt": None, "cycles_per_pkt": None, "cpu_ns_per_pkt": None,
                "syscalls_per_pkt": None, "mean_batch": None}
    return {
        "ns_per_pkt": int(c[C["ns"]]) / pkts,
        "cycles_per_pkt": int(c[C["cycles"]]) / pkts,
        "cpu_ns_per_pkt": cpu_ns / pkts,
        "syscalls_per_pkt": int(c[C["syscalls"]]) / pkts,
        "mean_batch": pkts / max(1, int(c[C["batches"]])),
    }


def hist_lower_bounds() -> np.ndarray:
    """Lower edge (ns) of each latency bucket of the core's log-linear histogram."""
    sub = core.SINK_HIST_SUB
    b = np.arange(core.SINK_HIST, dtype=np.uint64)
    octave = b >> np.uint64(sub)
    msb = octave + np.uint64(sub - 1)
    mant = (b & np.uint64((1 << sub) - 1)) + np.uint64(1 << sub)
    shifted = mant << np.where(octave > 0, msb - np.uint64(sub), 0).astype(np.uint64)
    return np.where(octave == 0, b, shifted).astype(np.float64)


_LOWER = None


def percentiles(hist: np.ndarray) -> dict:
    """p50/p90/p99/p99.9 in ns (bucket midpoints; buckets are ≤ 1.6 % wide)."""
    global _LOWER
    if _LOWER is None:
        _LOWER = hist_lower_bounds()
    total = hist.sum()
    if not total:
        return {_key(p): None for p in PERCENTILES}
    upper = np.append(_LOWER[1:], _LOWER[-1] * 2)
    mids = (_LOWER + upper) / 2
    cum = np.cumsum(hist)
    return {_key(p): float(mids[np.searchsorted(cum, total * p / 100)]) for p in PERCENTILES}


def _key(p: float) -> str:
    """p50_ns, p99_ns, p99_9_ns: keys jq takes as written."""
    return f"p{p:g}_ns".replace(".", "_")


class Reporter:
    """Per-interval lines (human or JSON) and the closing summary."""

    def __init__(self, tool: str, json_out: bool, console: Console):
        self.tool = tool
        self.json = json_out
        self.console = console
        self.header_done = False

    def event(self, kind: str, **fields) -> None:
        if self.json:
            print_json({"type": kind, "tool": self.tool, **fields})

    def note(self, text: str) -> None:
        """Something the user should know that is neither a figure nor an error."""
        if self.json:
            print_json({"type": "note", "tool": self.tool, "text": text})
        else:
            self.console.print(f"note: {text}", style="dim")

    def interval(self, t: float, r: dict, extra: dict) -> None:
        if self.json:
            print_json({"type": "interval", "tool": self.tool, "t": round(t, 3), **r, **extra})
            return
        if not self.header_done:
            cols = f"{'time s':>8} {'pps':>13} {'Mbit/s L2':>11} {'Mbit/s L1':>11}"
            cols += "".join(f" {k:>10}" for k in extra)
            self.console.print(cols, style="bold")
            self.header_done = True
        line = f"{t:8.1f} {r['pps']:13,.0f} {r['l2_mbps']:11,.1f} {r['l1_mbps']:11,.1f}"
        line += "".join(f" {v:10,}" if isinstance(v, int) else f" {str(v):>10}" for v in extra.values())
        self.console.print(line)

    def summary(self, summary: dict, rows: list[tuple[str, str]], title: str) -> None:
        if self.json:
            print_json({"type": "summary", "tool": self.tool, **summary})
            return
        self.console.print(make_table(title, ["<", ""], rows))


def fmt(v, digits: int = 1, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v:,.{digits}f}{unit}"
