#!/usr/bin/env python3
"""What interleaving streams costs the sender where it counts: frames per second on the wire,
one stream against two and four interleaved by their schedules in one worker (gen --streams,
unpaced: the streams in turn), per transmit backend. Prints one JSON object.

    python3 bench/streams.py [--reps 3] [--window 2] [--quick]

On the pair lab, 64-byte frames, batch 64, the sender on the last CPU, counted by the
in-kernel counter on the receiving veth over a steady window; repetitions interleaved,
medians. vs_one: a case's rate over one stream's (>= 1: interleaving costs the sender nothing
it can see). bench/layers.py times the same choice in the C builder alone (ns/frame, no
kernel): there it is a few ns of a frame's ~23.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from common import bench_args, bench_parser, gen_into_counter
from wirespeed import lab

CPUS = sorted(os.sched_getaffinity(0))
TX_CPU = CPUS[-1]
TOPO = lab.pair("bstreams")
BACKENDS = ("afpacket", "xdp")
STREAMS = (1, 2, 4)


def streams_file(n: int, folder: str) -> str:
    """n unpaced streams, each to its own destination port (the sink's counter takes them all)."""
    path = os.path.join(folder, f"streams{n}.toml")
    with open(path, "w") as f:
        f.write("".join(f"[[stream]]\ndport = \"{9 + i}\"\n\n" for i in range(n)))
    return path


def rate(backend: str, streams: str | None, window: float) -> float:
    extra = ["--streams", streams] if streams else []
    return gen_into_counter(TOPO, ["--backend", backend, "--cpu", str(TX_CPU), "-b", "64", *extra], window)


def main() -> int:
    args = bench_args(bench_parser(__doc__, 2.0, "one repetition, 1 s windows"), "streams.py")
    if args is None:
        return 1
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, lab.Lab(TOPO):
        files = {n: streams_file(n, folder) if n > 1 else None for n in STREAMS}
        for _ in range(args.reps):
            for backend in BACKENDS:
                for n in STREAMS:
                    runs.setdefault(f"{backend}/{n}", []).append(rate(backend, files[n], args.window))
                    time.sleep(0.2)
    med = {k: statistics.median(v) for k, v in runs.items()}
    vs_one = {k: round(v / med[k.split("/")[0] + "/1"], 3) if med[k.split("/")[0] + "/1"] else None
              for k, v in med.items()}
    print(json.dumps({"bench": "streams", "kernel": os.uname().release, "reps": args.reps, "sender_cpu": TX_CPU,
                      "frame": 64, "batch": 64, "pps": med, "vs_one": vs_one, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
