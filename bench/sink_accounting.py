"""The sink's accounting per frame, in C: ns/frame of Sink.frames over numpy batches of
in-order pktgen frames (the call included), with the checksum checks on and off, interleaved
repetitions, medians. No privilege, no traffic: the frames are built in memory.

    python3 bench/sink_accounting.py [--reps 7] [--sizes 64,1518]

Prints one JSON object: per frame size, ns/frame with and without the checks and their cost.
The numbers in README come from this script (and from the same script on the commit before the
checks, which has no `verify`: its figure is the one before)."""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from wirespeed import api, core
from wirespeed.base.netns import Where
from wirespeed.tools.gen import make_gen

MAC = "02:57:53:00:00:01"
FRAMES = 4096  # one stream's worth per pass, built once: a few MB, as a receive ring's frames are


def frames_of(size: int):
    cfg = api.gen_config_at(Where("veth0"), None, src_mac=MAC, dst_mac=MAC, size=size)
    stride = -(-size // 64) * 64
    buf, lens = np.zeros(FRAMES * stride, np.uint8), np.zeros(FRAMES, np.uint32)
    assert make_gen(cfg).build(buf, stride, lens) == FRAMES
    return buf, np.arange(FRAMES, dtype=np.uint64) * stride, lens


def ns_per_frame(frames, batch: int, verify: bool | None, passes: int) -> float:
    """Every pass a new Sink (the stream in order again), the frames fed `batch` at a time."""
    buf, offsets, lens = frames
    kw = {} if verify is None else {"verify": verify}
    slices = [(offsets[i:i + batch], lens[i:i + batch]) for i in range(0, FRAMES, batch)]
    now = time.time_ns()
    took = 0
    for _ in range(passes):
        k = core.Sink(**kw)
        t0 = time.perf_counter_ns()
        for o, n in slices:
            k.frames(buf, o, n, now)
        took += time.perf_counter_ns() - t0
        s = k.stats()
        assert s["pktgen"] == FRAMES and s["lost"] == 0, s
    return took / (passes * FRAMES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--passes", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sizes", default="64,1518")
    args = ap.parse_args()
    has_verify = _takes_verify()
    out = {"batch": args.batch, "reps": args.reps, "frames_per_pass": FRAMES, "sizes": {}}
    for size in (int(x) for x in args.sizes.split(",")):
        frames = frames_of(size)
        modes = {"checks": True, "no_checks": False} if has_verify else {"before_checks": None}
        runs: dict[str, list[float]] = {m: [] for m in modes}
        ns_per_frame(frames, args.batch, next(iter(modes.values())), 2)  # warm the caches
        for _ in range(args.reps):  # interleaved: each repetition measures every mode
            for m, v in modes.items():
                runs[m].append(ns_per_frame(frames, args.batch, v, args.passes))
        res = {m: round(statistics.median(r), 2) for m, r in runs.items()}
        res["spread"] = {m: [round(min(r), 2), round(max(r), 2)] for m, r in runs.items()}
        if has_verify:
            res["checks_cost_ns"] = round(res["checks"] - res["no_checks"], 2)
        out["sizes"][str(size)] = res
    print(json.dumps(out))


def _takes_verify() -> bool:
    try:
        core.Sink(verify=True)
        return True
    except TypeError:
        return False


if __name__ == "__main__":
    main()
