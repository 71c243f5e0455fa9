"""Printers: aligned human tables (rich) and machine output (one JSON object per line)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from wirespeed.base.reference import SOURCE


def console() -> Console:
    """stdout; when it is not a terminal, wide enough that tables never fold."""
    c = Console(highlight=False)
    if not c.is_terminal:
        c = Console(highlight=False, width=160)
    return c


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(obj: dict, stream=None) -> None:
    """One JSON object on one line."""
    stream = stream or sys.stdout
    stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
    stream.flush()


def make_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], caption: str | None = None) -> Group:
    """Columns whose header starts with '<' are left-aligned; all others right-aligned (numbers).
    All-empty headers mean a key/value table with no header line. The caption is printed under
    the table at full width, dimmed. Cells are plain text ('[user space]' is printed as it is)."""
    show_header = any(c.lstrip("<") for c in columns)
    t = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=show_header)
    for c in columns:
        left = c.startswith("<")
        t.add_column(c.lstrip("<"), justify="left" if left else "right", no_wrap=True)
    for r in rows:  # cells are text, never markup: a kernel or module name in brackets stays
        t.add_row(*(Text(c) if isinstance(c, str) else c for c in r))
    return Group(t, Text(caption, style="dim")) if caption else Group(t)


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _ghz(hz: float) -> str:
    return f"{hz / 1e9:.3f} GHz"


def print_budget(res: dict, out: Console) -> None:
    sel = res["selected"]
    budget_rows = [
        (
            r["link"],
            r["frame"],
            _num(r["wire_bytes"], 2 if r["frame"] == "imix" else 0),
            _num(r["ns"], 1),
            f"{r['pps']:,}",
            _num(r["cycles"], 0),
        )
        for r in res["budget"]
    ]
    out.print(
        make_table(
            "Per-packet budget at line rate",
            ["<link", "<frame", "wire bytes", "ns/pkt", "pps", "cycles/pkt"],
            budget_rows,
            caption="frame bytes count the FCS; wire bytes add 20 (preamble + SFD + gap);\n"
            f"imix is 7:4:1 of 64/570/1518; cycles at this host's TSC, {_ghz(res['tsc_hz'])} (measured)",
        )
    )
    if "profile" not in res:
        return
    out.print()
    share_hdr = f"% of {sel['link']}/{sel['frame']}"
    rows = []
    for s in res["profile"]:
        ref = s["reference"]
        rows.append(
            (
                s["label"],
                _num(s["cycles"], 1),
                _num(s["ns"], 2),
                f"{_num(s['ns_min'], 2)}–{_num(s['ns_max'], 2)}",
                _num(100 * s["share"], 1),
                ref["text"] if ref else "",
                s["detail"],
            )
        )
    out.print(
        make_table(
            f"Host cost profile: CPU {res['cpu']} pinned, median of {res['reps']} runs of ≥{res['min_time_s']:g} s",
            ["<operation", "cycles", "ns", "ns min–max", share_hdr, "<reference*", "<note"],
            rows,
            caption=f"budget {sel['link']}/{sel['frame']}: {_num(sel['ns'], 1)} ns = {_num(sel['cycles'], 0)} cycles per packet\n"
            f"* {SOURCE}: published figures from another machine, not measured here",
        )
    )
    if not res.get("amortised"):
        return
    out.print()
    rows = [
        (
            f"{a['batch']:,}",
            _num(a["lock_cycles"], 2),
            _num(a["lock_ns"], 2),
            _num(100 * a["lock_share"], 1),
            _num(a["syscall_cycles"], 2),
            _num(a["syscall_ns"], 2),
            _num(100 * a["syscall_share"], 1),
        )
        for a in res["amortised"]
    ]
    out.print(
        make_table(
            "Amortisation: one LOCK cmpxchg / one system call per batch, cost per packet",
            ["batch", "LOCK cyc/pkt", "LOCK ns/pkt", share_hdr, "syscall cyc/pkt", "syscall ns/pkt", share_hdr],
            rows,
            caption="measured loops; each packet also costs one store into a descriptor ring",
        )
    )
    if not res.get("rings"):
        return
    out.print()
    rows = [
        (
            f"{r['batch']:,}",
            _num(r["spsc_ns"], 2),
            _num(100 * r["spsc_share"], 1),
            _num(r["mpmc_ns"], 2),
            _num(100 * r["mpmc_share"], 1),
            _num(r["mpmc_lock_ops_per_handle"], 3),
        )
        for r in res["rings"]
    ]
    out.print(
        make_table(
            "Ring: enqueue+dequeue per handle, bulk of 1 … 256",
            ["bulk", "SPSC ns", share_hdr, "MPMC ns", share_hdr, "MPMC LOCK ops/handle"],
            rows,
            caption="one thread; ref (Brouer LCA 2015, not this host): SPSC ~2.0 / ~0.75 ns, "
            "MPMC ~8.6 / ~1.1 ns at bulk 1 / 16",
        )
    )
