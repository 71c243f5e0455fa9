#!/usr/bin/env python3
"""What reading the kernel's transmit stamps costs the generator (gen --timestamps kernel: a copy
of each frame with its stamp on the socket's error queue, read back in batches). Prints one
JSON object.

    python3 bench/timestamps.py [--reps 3] [--window 2] [--quick]

On the pair lab, afpacket, 64-byte frames, batch 64, the sender on the last CPU, counted by the
in-kernel counter on the receiving veth over a steady window:
  user_pps           --timestamps user (the frame's own stamp only);
  kernel_pps         --timestamps kernel, qdisc bypassed (the driver's stamp);
  kernel_qdisc_pps   --timestamps kernel --no-bypass (the qdisc's entry), against user --no-bypass;
  kernel_udp_pps     --backend udp --timestamps kernel (the qdisc's entry), against user --no-gso;
  cost_ns_per_frame  1e9/kernel_pps - 1e9/user_pps: what each stamp costs the sending CPU.
Repetitions interleaved, medians. gen --timestamps best reads them up to KERNEL_STAMPS_MAX_PPS
per worker: far below the rates here, so that a paced run keeps its pace.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from common import bench_args, bench_parser, gen_into_counter
from wirespeed import lab
from wirespeed.tools.gen import KERNEL_STAMPS_MAX_PPS

CPUS = sorted(os.sched_getaffinity(0))
TX_CPU = CPUS[-1]
TOPO = lab.pair("bstamp")
CASES = {"user": ["--timestamps", "user"], "kernel": ["--timestamps", "kernel"],
         "user_qdisc": ["--timestamps", "user", "--no-bypass"], "kernel_qdisc": ["--timestamps", "kernel", "--no-bypass"],
         "user_udp": ["--backend", "udp", "--no-gso", "--timestamps", "user"],
         "kernel_udp": ["--backend", "udp", "--timestamps", "kernel"]}


def rate(extra: list[str], window: float) -> float:
    return gen_into_counter(TOPO, ["--cpu", str(TX_CPU), *extra], window)


def main() -> int:
    args = bench_args(bench_parser(__doc__, 2.0, "one repetition, 1 s windows"), "timestamps.py")
    if args is None:
        return 1
    runs: dict[str, list[float]] = {k: [] for k in CASES}
    with lab.Lab(TOPO):
        for _ in range(args.reps):
            for name, extra in CASES.items():
                runs[name].append(rate(extra, args.window))
                time.sleep(0.2)
    med = {k: statistics.median(v) for k, v in runs.items()}
    cost = {k: 1e9 / med[f"kernel{k}"] - 1e9 / med[f"user{k}"] if med[f"kernel{k}"] and med[f"user{k}"] else None
            for k in ("", "_qdisc", "_udp")}
    print(json.dumps({"bench": "timestamps", "kernel": os.uname().release, "reps": args.reps, "sender_cpu": TX_CPU,
                      "pps": med, "cost_ns_per_frame": {"bypass": cost[""], "qdisc": cost["_qdisc"], "udp": cost["_udp"]},
                      "best_reads_kernel_stamps_up_to_pps": KERNEL_STAMPS_MAX_PPS, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
