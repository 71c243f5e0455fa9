#!/usr/bin/env python3
"""What --profile costs and what it says, in one lab, in one run. Prints one JSON object.

    python3 bench/profile.py [--reps 3] [--seconds 3] [--quick]

For each transmit backend this kernel runs (afpacket, udp, xdp; batch 64, one CPU, 64-byte
frames, into nothing: the peer's stack drops them, on the sender's CPU as veth does): gen's own
rate with and without --profile, interleaved repetitions, medians; the ratio is the
profiler's overhead (target: under 5 % at the default 1 kHz). From the profiled runs: how many
named stages carry time, and the stages' sum against the run's own CPU ns/packet (target:
within 15 %)."""

from __future__ import annotations

import json
import os
import statistics

from common import bench_args, bench_parser, last_json, start, ws
from wirespeed import lab, ports

LAB = "bprof"
CPU = sorted(os.sched_getaffinity(0))[-1]


def gen(backend: str, seconds: float, profile: bool) -> dict:
    p = start(ws("gen", "--lab-name", LAB, "--backend", backend, "--cpu", str(CPU), "-b", "64", "-d", str(seconds),
                 "--json", *(["--profile"] if profile else [])))
    out, err = p.communicate(timeout=seconds + 60)
    if p.returncode != 0:
        raise SystemExit(f"gen --backend {backend}: {err.strip()}")
    return last_json(out)


def main() -> None:
    ap = bench_parser(__doc__, 3.0, "one repetition, 2 s runs")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = bench_args(ap, "profile.py")
    if args is None:
        raise SystemExit(1)
    if args.quick:
        args.seconds = 2.0
    backends = [b for b in ("afpacket", "udp", "xdp") if b in ports.runnable(transmit=True)]
    out = {"cpu": CPU, "seconds": args.seconds, "reps": args.reps, "backends": {}}
    with lab.Lab(lab.pair(LAB)):
        runs = {b: {"plain": [], "profiled": []} for b in backends}
        profiles = {b: [] for b in backends}
        for _ in range(args.reps):  # interleaved: every backend with and without in each repetition
            for b in backends:
                runs[b]["plain"].append(gen(b, args.seconds, False)["pps"])
                s = gen(b, args.seconds, True)
                runs[b]["profiled"].append(s["pps"])
                profiles[b].append(s["profile"])
        for b in backends:
            plain, prof = statistics.median(runs[b]["plain"]), statistics.median(runs[b]["profiled"])
            last = profiles[b][-1]
            sums = [p["sum_ns_per_pkt"] / p["cpu_ns_per_pkt"] for p in profiles[b] if p["cpu_ns_per_pkt"]]
            out["backends"][b] = {
                "pps_plain": plain, "pps_profiled": prof, "overhead": round(1 - prof / plain, 4),
                "named_stages_with_time": sum(1 for s in last["stages"] if s["ns_per_pkt"] and s["name"] not in
                                              ("other kernel",)),
                "sum_over_cpu_ns": round(statistics.median(sums), 3) if sums else None,
                "stages_ns_per_pkt": {s["name"]: s["ns_per_pkt"] for s in last["stages"]},
                "top_symbols": [(s["name"], s["ns_per_pkt"]) for s in last["symbols"][:8]],
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
