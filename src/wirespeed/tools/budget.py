"""`wirespeed budget`: the time a link allows per packet, and what this host spends of it.

The budget is pure arithmetic on the wire format; the cycles column uses this host's measured
TSC frequency. The cost profile (profile.py) is measured, never assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction

from wirespeed.base import values as V
from wirespeed.base.option import Option, Options
from wirespeed.base.reference import REFERENCES, SOURCE
from wirespeed.base.units import (DEFAULT_LINKS, LINK_SPEEDS, FrameMix, default_frames, frame, parse_frame,
                                  parse_link)
from wirespeed.tools import profile as prof

# budget's options, written once (see tools/gen.py's table).
OPTIONS = Options(
    "budget",
    Option("link", ("--link",), None, "link speed, e.g. 10G (repeatable; default 1G…400G)",
           parse=lambda text: parse_link(text)[0], metavar="SPEED", many=True),
    Option("frame", ("--frame",), None, "frame size 64…9216 incl. FCS, or imix (repeatable)", parse=parse_frame,
           metavar="BYTES", many=True),
    Option("profile", ("--no-profile",), True, "budget table only; skip the cost measurements"),
    Option("cpu", ("--cpu",), None, "CPU to pin the measurements to (default: the last one)", parse=V.cpu),
    Option("time", ("--time",), 0.2, "seconds per repetition (default 0.2)", parse=V.positive_float, metavar="S"),
    Option("reps", ("--reps",), 3, "repetitions per operation (default 3)", parse=V.positive_int),
    Option("mem_size", ("--mem-size",), None, "buffer for the memory-miss chase (default 4×LLC, ≤2G)",
           parse=V.size, metavar="SIZE"),
)


@dataclass(frozen=True)
class Budget:
    """Time between packets on a saturated link, and packets per second."""

    link: str
    link_bps: int
    frame: FrameMix

    @property
    def wire_bits(self) -> Fraction:
        return self.frame.mean_wire * 8

    @property
    def ns(self) -> Fraction:
        """Nanoseconds between packets at line rate (exact)."""
        return self.wire_bits * 10**9 / self.link_bps

    @property
    def pps(self) -> Fraction:
        """Packets per second at line rate (exact)."""
        return self.link_bps / self.wire_bits


def budget(link: str, mix: FrameMix) -> Budget:
    return Budget(link, LINK_SPEEDS[link], mix)


@dataclass
class BudgetConfig:
    links: tuple[str, ...] = DEFAULT_LINKS
    frames: tuple[FrameMix, ...] = field(default_factory=default_frames)
    selected_link: str = "10G"
    selected_frame: FrameMix = field(default_factory=lambda: frame(64))
    measure: bool = True
    cpu: int | None = None
    min_time: float = 0.2
    reps: int = 3
    mem_size: int | None = None


def _budget_row(b: Budget, tsc_hz: float) -> dict:
    return {
        "link": b.link,
        "link_bps": b.link_bps,
        "frame": b.frame.name,
        "frame_bytes": round(float(b.frame.mean_frame), 2),
        "wire_bytes": round(float(b.frame.mean_wire), 2),
        "ns": float(b.ns),
        "pps": int(b.pps),
        "cycles": float(b.ns) * tsc_hz / 1e9,
    }


def run(cfg: BudgetConfig, progress=None) -> dict:
    """Measure and compute everything `wirespeed budget` shows; returns one JSON-ready dict."""
    selected = budget(cfg.selected_link, cfg.selected_frame)
    sel_ns = float(selected.ns)
    if cfg.measure:
        profile = prof.measure(cfg.cpu, cfg.min_time, cfg.reps, cfg.mem_size, progress=progress)
        tsc_hz = profile.tsc_hz
    else:
        profile = None
        tsc_hz = prof.calibrate_tsc()
    out: dict = {
        "tsc_hz": tsc_hz,
        "selected": _budget_row(selected, tsc_hz),
        "budget": [_budget_row(budget(link, mix), tsc_hz) for link in cfg.links for mix in cfg.frames],
    }
    if profile is None:
        return out
    out["cpu"] = profile.cpu
    out["min_time_s"] = profile.min_time
    out["reps"] = profile.reps
    out["caches"] = profile.caches
    out["reference_source"] = SOURCE
    out["profile"] = []
    for s in profile.samples:
        row = asdict(s)
        row["share"] = s.ns / sel_ns
        ref = REFERENCES.get(s.key)
        row["reference"] = {"text": ref.text, "ns": ref.ns, "source": SOURCE} if ref else None
        out["profile"].append(row)
    out["amortised"] = [
        {
            **asdict(a),
            "lock_share": a.lock_ns / sel_ns,
            "syscall_share": a.syscall_ns / sel_ns,
        }
        for a in profile.amortised
    ]
    out["rings"] = [{**r, "spsc_share": r["spsc_ns"] / sel_ns, "mpmc_share": r["mpmc_ns"] / sel_ns}
                    for r in profile.rings]
    return out
