#!/usr/bin/env python3
"""Pacing a forwarder can trust: gen through a Linux router whose egress is a token bucket with
a few milliseconds of queue (a DUT of known capacity), in the chain lab. Prints one JSON object.

    python3 bench/pacing.py [--runs 10] [--seconds 5] [--rate-mbit 10] [--latency-ms 5]

1. The DUT's capacity: gen at twice the bucket's rate, frames received per second at the sink.
2. At 95 % of it, `--runs` consecutive runs of `--seconds` each for -b 1 and -b 64 (interleaved):
   frames lost (the sink's sequence check), one-way p99 latency, and the generator's own
   departure figures (inter-departure p50/p99/max against the intended interval, the largest
   burst, the slots skipped after stalls, the time behind schedule).
3. At 50 kpps, the bucket set to 35 Mbit/s (72.9 kpps, well above), -b 1 against -b 64: one-way
   p99 latency, medians of 3.
Sender on one CPU, the router and the sink on the other.

Why 10 Mbit/s for 1 and 2: on these VMs a token bucket whose next token is under ~15 us away
waits for it on the CPU that enqueued the frame -- over veth, the sender's own -- so the sender is
held to the bucket's rate and the bucket never drops (at 35 Mbit/s, 73 kpps, gen unpaced sends
exactly 72.9 kpps and the bucket drops nothing; at 10 Mbit/s it sends ~540 kpps and the bucket
drops what is over). A DUT that slows its tester would hide exactly the loss measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from common import last_json, start, stop, wait_ready, ws
from wirespeed import lab

LAB = "bpace"
TOPO = lab.chain(LAB)
CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]
FRAME_BITS = 60 * 8  # what the bucket counts of a 64-byte frame (no FCS)


def trial(rate_pps: float, seconds: float, batch: int) -> dict:
    n = int(rate_pps * seconds)
    sink = start(ws("sink", "--lab-name", LAB, "--cpu", str(RX_CPU), "-d", str(seconds + 4), "--json"))
    try:
        wait_ready(sink)
        g = start(ws("gen", "--lab-name", LAB, "--dst-ip", TOPO.wires[1].b.address, "--cpu", str(TX_CPU),
                     "-c", str(n), "-r", f"{rate_pps:.0f}pps", "-b", str(batch), "--json"))
        gs = last_json(g.communicate(timeout=seconds + 30)[0])
    finally:
        s = last_json(stop(sink)[0])
    dep = gs.get("departures") or {}
    return {"batch": batch, "rate_pps": round(rate_pps), "sent": gs["packets"], "received": s["pktgen"],
            "lost": s["lost"], "p99_latency_us": (s["p99_ns"] or 0) / 1000,
            "departures": {k: dep.get(k) for k in ("intended", "skipped", "gap_p50_ns", "gap_p99_ns", "gap_max_ns",
                                                   "max_burst", "behind_ns", "offered_pps")}}


def capacity(rate_bps: float) -> float:
    offered = 2 * rate_bps / FRAME_BITS
    sink = start(ws("sink", "--lab-name", LAB, "--cpu", str(RX_CPU), "-d", "6", "--json"))
    try:
        wait_ready(sink)
        g = start(ws("gen", "--lab-name", LAB, "--dst-ip", TOPO.wires[1].b.address, "--cpu", str(TX_CPU), "-d", "4",
                     "-r", f"{offered:.0f}pps", "--json"))
        g.communicate(timeout=40)
    finally:
        s = last_json(stop(sink)[0])
    return s["pps"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate-mbit", type=float, default=10.0, help="the token bucket's rate (frame bits)")
    ap.add_argument("--latency-rate-mbit", type=float, default=35.0, help="the bucket's rate for the 50 kpps part")
    ap.add_argument("--latency-ms", type=float, default=5.0, help="the bucket's queue, in time")
    a = ap.parse_args()
    out: dict = {"lab": "chain, Linux router in the middle, tbf on its egress",
                 "bucket_mbit": a.rate_mbit, "queue_ms": a.latency_ms}
    with lab.Lab(TOPO):
        lab.route(TOPO)
        lab.shape(TOPO, "fwd", TOPO.wires[1].a.ifname, int(a.rate_mbit * 1e6), a.latency_ms)
        cap = capacity(a.rate_mbit * 1e6)
        out["capacity_pps"] = cap
        runs = {1: [], 64: []}
        for i in range(a.runs):
            for b in ((1, 64) if i % 2 == 0 else (64, 1)):
                runs[b].append(trial(0.95 * cap, a.seconds, b))
                print(f"run {i} -b {b}: lost {runs[b][-1]['lost']}", file=sys.stderr)
        out["at_95_percent"] = {f"b{b}": {"lossless_runs": sum(r["lost"] == 0 for r in rs), "runs": rs}
                                for b, rs in runs.items()}
        lab.shape(TOPO, "fwd", TOPO.wires[1].a.ifname, int(a.latency_rate_mbit * 1e6), a.latency_ms)
        out["latency_part_bucket_mbit"] = a.latency_rate_mbit
        lat = {1: [], 64: []}
        for _ in range(3):
            for b in (1, 64):
                lat[b].append(trial(50_000, 3, b)["p99_latency_us"])
        out["p99_latency_us_at_50kpps"] = {f"b{b}": {"median": statistics.median(v), "runs": v} for b, v in lat.items()}
        out["p99_ratio_b64_over_b1"] = (out["p99_latency_us_at_50kpps"]["b64"]["median"]
                                        / out["p99_latency_us_at_50kpps"]["b1"]["median"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
