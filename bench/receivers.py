#!/usr/bin/env python3
"""Which receiver gives search the higher ceiling: each receiving backend counts the throughput
trials of `wirespeed search --dut none` (the tester alone, generator and receiver on one CPU, as
search places them). Prints one JSON object.

    python3 bench/receivers.py [--reps 3] [--quick]

For each receiving backend this kernel runs (the registry's, payload-only ones apart), in a pair
lab made for it:
  back_to_back_pps   search's calibration: the generator's own unpaced rate with this
                     receiver's cost beside it on the tester's CPU;
  ndr_pps            the NDR search finds (the tester's ceiling with this receiver: with no DUT,
                     every loss is the tester's);
  ratio              ndr_pps / the best receiver's ndr_pps.
search's --rx-backend auto counts throughput trials with the receiver this ranks first (in the
lab) and swaps in a stamping one for latency. Repetitions interleaved, medians.
"""

from __future__ import annotations

import json
import statistics
import subprocess

from common import bench_args, bench_parser, ws
from wirespeed import lab, ports

TOPO = lab.pair("brx")


def one(backend: str) -> dict:
    r = subprocess.run(ws("search", "--lab-name", TOPO.name, "--dut", "none", "--no-latency", "--json", "--cpu", "0",
                          "--rx-backend", backend), capture_output=True, text=True, timeout=300)
    if r.returncode:
        return {"error": r.stderr.strip()[-200:]}
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    cal = next(x for x in lines if x.get("type") == "calibration")
    ndr = next(x for x in lines if x.get("type") == "goal" and x["goal"] == "NDR")
    return {"back_to_back_pps": cal["back_to_back_pps"], "ndr_pps": ndr["conditional_throughput"]["pps"] or 0.0}


def main() -> int:
    args = bench_args(bench_parser(__doc__, 1.0, "one repetition"), "receivers.py")
    if args is None:
        return 2
    names = [n for n in ports.runnable(receive=True) if not ports.backend(n).payload_only]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    with lab.Lab(TOPO):
        for _ in range(args.reps):
            for n in names:
                runs[n].append(one(n))
    out = {}
    for n, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        out[n] = ({k: statistics.median(r[k] for r in ok) for k in ("back_to_back_pps", "ndr_pps")} if ok
                  else {"error": rs[-1]["error"]})
    best = max((v.get("ndr_pps", 0) for v in out.values()), default=0) or 1
    for v in out.values():
        if "ndr_pps" in v:
            v["ratio"] = round(v["ndr_pps"] / best, 3)
    print(json.dumps({"reps": args.reps, "receivers": out,
                      "ranked": sorted((n for n in out if "ndr_pps" in out[n]), key=lambda n: -out[n]["ndr_pps"])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
