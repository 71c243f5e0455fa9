#!/usr/bin/env python3
"""The search's tester against the free-running generator, per transmit backend. Prints one
JSON object.

    python3 bench/trials.py [--reps 3] [--window 2] [--quick]

For each transmit backend this kernel runs (the registry's), on the pair lab, sending CPU the
last, into the in-kernel counter on the receiving veth:
  free_pps     `wirespeed gen` as fast as it goes, counted by the receiving veth's XDP counter
               over a steady window;
  trial_pps    the highest load at which search's trial-driven generator (the one search uses,
               paced, 0.5 s trials) sends what is due: its sent count within 0.5 % of the
               intended, by search's own rule (a short trial is repeated once; short twice, the
               load is beyond the tester), found by bisection between 20 % and 105 % of
               free_pps;
  ratio        trial_pps / free_pps (target >= 0.9: search's trials use the generator's speed).
Repetitions interleaved, medians.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time

from common import bench_args, bench_parser, gen_into_counter
from wirespeed import api, lab, ports
from wirespeed.base.netns import Where
from wirespeed.base.units import frame
from wirespeed.tools import search

CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]
TOPO = lab.pair("btrial")
TRIAL_S = 0.5
STEPS = 9


def ends() -> tuple[Where, Where]:
    w = TOPO.wires[0]
    return Where(w.a.ifname, TOPO.netns("gen")), Where(w.b.ifname, TOPO.netns("sink"))


def free_rate(backend: str, window: float) -> float:
    return gen_into_counter(TOPO, ["--backend", backend, "--cpu", str(TX_CPU)], window)


def trial_ceiling(backend: str, free: float) -> dict:
    """Bisect the highest paced load whose trial is not tester-bound, with search's own parts."""
    tx, rx = ends()
    gcfg = api.gen_config_at(tx, TOPO, backend=backend, cpu=str(TX_CPU))
    # search's tester: each trial's catch-up bound from its rate (gen.trial_burst), and frames
    # handed over without waiting for the receiver to free them (api._tester_options)
    gcfg = dataclasses.replace(gcfg, max_burst=0, options={**gcfg.options, **api._tester_options(backend, True)})
    cfg = search.SearchConfig(tx=tx, rx=rx, gen=gcfg, dut="none", rx_backend="xdp-count", latency=False,
                              hops=[("gen:veth0", tx), ("sink:veth0", rx)])
    runs = search._Runs(cfg, lambda text: None)
    try:
        m = search.Measurer(cfg, runs.gen, runs.sink, search.PathCounters(cfg.hops), frame(64))
        lo, hi, tried = 0.2 * free, 1.05 * free, []
        for _ in range(STEPS):
            load = (lo + hi) / 2
            try:
                rec = m.measure(TRIAL_S, load)
                short = False
            except search.TesterShort:
                rec, short = m.trials[-1], True
            tried.append({"load_pps": round(load), "sent": rec["sent"], "intended": rec["intended"],
                          "tester_bound": short})
            lo, hi = (lo, load) if short else (load, hi)
        return {"trial_pps": lo, "tried": tried}
    finally:
        runs.close()


def main() -> int:
    args = bench_args(bench_parser(__doc__, 2.0, "one repetition, 1 s windows"), "trials.py")
    if args is None:
        return 1
    backends = ports.runnable(transmit=True)
    refused = {n: ports.unavailable(n) for n in ports.names(transmit=True) if n not in backends}
    runs: dict[str, list[dict]] = {b: [] for b in backends}
    with lab.Lab(TOPO):
        for _ in range(args.reps):
            for b in backends:
                free = free_rate(b, args.window)
                runs[b].append({"free_pps": free, **trial_ceiling(b, free)})
                time.sleep(0.2)
    out = {"bench": "trials", "kernel": os.uname().release, "cpus": {"sender": TX_CPU}, "reps": args.reps,
           "trial_s": TRIAL_S, "target": 0.9, "refused": refused, "backends": {}}
    for b, rs in runs.items():
        free = statistics.median(r["free_pps"] for r in rs)
        trial = statistics.median(r["trial_pps"] for r in rs)
        out["backends"][b] = {"free_pps": free, "trial_pps": trial, "ratio": trial / free if free else None,
                              "met": bool(free) and trial / free >= 0.9, "runs": rs}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
