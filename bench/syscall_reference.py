#!/usr/bin/env python3
"""Check `wirespeed budget`'s system-call cost against a plain C loop of getppid().

Both run pinned to the same CPU; the C loop is built here with gcc and run several times
(median). Prints one JSON object. Not a unit test: timing belongs in bench/, not in tests/.

    python3 bench/syscall_reference.py [--reps 5] [--cpu N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.cpu})  # children inherit the pinning

    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "getppid_loop")
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "c", "getppid_loop.c")], check=True)
        c_ns = []
        ours = []
        for _ in range(args.reps):
            c_ns.append(json.loads(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)["ns_per_call"])
        budget = subprocess.run(
            [sys.executable, "-m", "wirespeed", "budget", "--json", "--cpu", str(args.cpu), "--reps", str(args.reps)],
            capture_output=True, text=True, check=True,
        )
        res = json.loads(budget.stdout)
        ours = next(s for s in res["profile"] if s["key"] == "getppid")
        for _ in range(args.reps):
            c_ns.append(json.loads(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)["ns_per_call"])

    c_med = statistics.median(c_ns)
    out = {
        "bench": "syscall_reference",
        "cpu": args.cpu,
        "c_loop_getppid_ns": {"median": c_med, "min": min(c_ns), "max": max(c_ns), "runs": len(c_ns)},
        "wirespeed_getppid_ns": {"median": ours["ns"], "min": ours["ns_min"], "max": ours["ns_max"], "reps": ours["reps"]},
        "ratio": ours["ns"] / c_med,
        "within_10pct": abs(ours["ns"] / c_med - 1) <= 0.10,
    }
    print(json.dumps(out))
    return 0 if out["within_10pct"] else 1


if __name__ == "__main__":
    sys.exit(main())
