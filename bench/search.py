#!/usr/bin/env python3
"""Repeatability of `wirespeed search`: the same lab DUT searched several times in a row. Prints
one JSON object: each search's NDR and PDR, their medians, and the largest relative difference
between consecutive searches against twice the goal width.

    python3 bench/search.py [--runs 3] [--dut kernel] [--preset quick] [--bucket-mbit 35]

With --bucket-mbit (default 35) the DUT is Linux forwarding through a token bucket of known
capacity; --bucket-mbit 0 searches Linux forwarding itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from wirespeed import lab

LAB = "bsearch"


def search(dut: str, preset: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "wirespeed", "search", "--lab-name", LAB, "--dut", dut, "--preset",
                        preset, "--no-latency", "--json"], capture_output=True, text=True, timeout=3600)
    if r.returncode:
        raise SystemExit(r.stderr)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    goals = {x["goal"]: x for x in lines if x["type"] == "goal"}
    return {"goals": {k: g["conditional_throughput"]["pps"] for k, g in goals.items()},
            "width": max(g["relative_width"] for g in goals.values()),
            "seconds": lines[-1]["seconds"], "overhead_share": lines[-1]["frames"][0]["overhead_share"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dut", default="kernel", choices=("none", "kernel", "fwd"))
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--bucket-mbit", type=float, default=10.0)  # see bench/pacing.py: why not faster
    a = ap.parse_args()
    topo = lab.pair(LAB) if a.dut == "none" else lab.chain(LAB)
    with lab.Lab(topo):
        if a.dut != "none" and a.bucket_mbit:
            lab.route(topo)
            lab.shape(topo, "fwd", topo.wires[1].a.ifname, int(a.bucket_mbit * 1e6), 5)
        runs = [search(a.dut, a.preset) for _ in range(a.runs)]
    out = {"dut": a.dut, "preset": a.preset, "bucket_mbit": a.bucket_mbit or None, "runs": runs}
    for goal in runs[0]["goals"]:
        vals = [r["goals"][goal] for r in runs]
        diffs = [abs(x - y) / max(x, y) for x, y in zip(vals, vals[1:]) if x and y]
        out[goal] = {"median_pps": statistics.median(v for v in vals if v is not None) if any(vals) else None,
                     "max_consecutive_difference": max(diffs) if diffs else None,
                     "twice_the_width": 2 * runs[0]["width"],
                     "within": bool(diffs) and max(diffs) <= 2 * runs[0]["width"]}
    out["bucket_capacity_pps"] = a.bucket_mbit * 1e6 / 480 if a.dut != "none" and a.bucket_mbit else None
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
