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


def hgrm(hist: np.ndarray, ticks_per_half_distance: int = 5, unit_ns: float = 1000.0) -> str:
    """The histogram in HdrHistogram's percentile distribution format (.hgrm, what its plotter
    and tools read), values in µs (unit_ns ns each): percentiles stepped as HdrHistogram steps
    them (ticks per half distance to 100 %), each value the top of the C bucket holding it."""
    lower = hist_lower_bounds()
    upper = np.append(lower[1:], lower[-1] * 2) - 1
    total = int(hist.sum())
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    if total:
        cum = np.cumsum(hist)
        q = 0.0
        while True:
            i = int(np.searchsorted(cum, max(1.0, total * q / 100.0)))
            count = int(cum[i])
            if count >= total:
                lines.append(f"{upper[i] / unit_ns:12.3f} {1.0:1.12f} {count:10d}")
                break
            frac = q / 100.0
            lines.append(f"{upper[i] / unit_ns:12.3f} {frac:1.12f} {count:10d} {1 / (1 - frac):14.2f}")
            ticks = ticks_per_half_distance * 2 ** (int(np.log2(100.0 / (100.0 - q))) + 1)
            q += 100.0 / ticks  # reaches the last count in ~ticks_per_half_distance * log2(total) steps
        mids = (lower + upper + 1) / 2
        mean = float((hist * mids).sum()) / total
        std = float(np.sqrt((hist * (mids - mean) ** 2).sum() / total))
        top = upper[int(np.flatnonzero(hist)[-1])]
    else:
        mean = std = top = 0.0
    lines.append(f"#[Mean    = {mean / unit_ns:12.3f}, StdDeviation   = {std / unit_ns:12.3f}]")
    lines.append(f"#[Max     = {top / unit_ns:12.3f}, Total count    = {total:12d}]")
    lines.append(f"#[Buckets = {len(hist):12d}, SubBuckets     = {1 << core.SINK_HIST_SUB:12d}]")
    return "\n".join(lines) + "\n"


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
        self.prometheus = None  # [ADDR:]PORT: serve the live counters there while the run runs (runner.metrics)
        self.options = None  # the command line's options as written, for the run record

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
        extra = {k: v for k, v in extra.items() if not isinstance(v, (list, dict))}  # those: JSON lines only
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
