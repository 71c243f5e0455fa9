#!/usr/bin/env python3
"""XDP paths against each other and trafgen, in one lab, in one run. Prints one JSON object.

    python3 bench/xdp.py [--reps 3] [--window 2] [--quick]

Senders on one CPU (the last) into `wirespeed sink --backend xdp-count` on the peer (an XDP
program that counts and drops; veth runs it on the sender's CPU, in the same softirq):

  gen/kernel     BPF_PROG_RUN live frames, XDP_TX            target >= 7 Mpps
  gen/xdp        AF_XDP copy mode, frames built into the UMEM target >= 1.5 x trafgen
  gen/afpacket   TPACKET_V2 ring, qdisc bypass
  trafgen -P1    netsniff-ng, AF_PACKET ring, same 64-byte UDP frame

Rates come from the receiving veth's own XDP counters (ethtool -S) over a steady window; the
sink's count over the whole run is checked against them (within 0.5 %). Then sink/xdp (AF_XDP
to user space, the other CPU) fed by gen/kernel: received rate and loss (target >= 4.8 Mpps).
Repetitions interleaved, medians reported. Peers are installed from Debian packages if missing.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time

from common import (WARMUP, bench_args, bench_parser, counter_window, ensure_peers, kill_all, last_json, median_of,
                    ns_cmd, raised_sysctls, start, stop, trafgen_config, wait_ready, within, ws)
from wirespeed import lab
from wirespeed.base.netdev import xdp_stats
from wirespeed.base.netns import Where

LAB = "bxdp"
TOPO = lab.pair(LAB)
GEN_NS, SINK_NS = TOPO.netns("gen"), TOPO.netns("sink")
GEN_END, SINK_END = TOPO.wires[0].a, TOPO.wires[0].b
RX_IF = Where(SINK_END.ifname, SINK_NS)
CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]
SENDERS = ("wirespeed-kernel", "wirespeed-xdp", "wirespeed-afpacket", "trafgen")


def xdp_packets() -> int:
    return xdp_stats(RX_IF)["xdp_packets"]


def run_sender(name: str, window: float, trafgen_cfg: str) -> dict:
    dur = WARMUP + window + 0.6
    sink = send = None
    try:
        sink = start(ws("sink", "--lab-name", LAB, "--backend", "xdp-count", "-d", str(dur + 3), "--json"))
        wait_ready(sink)
        x0 = xdp_packets()
        if name == "trafgen":
            send = start(ns_cmd(GEN_NS, TX_CPU, ["trafgen", "--dev", GEN_END.ifname, "--conf", trafgen_cfg,
                                                   "-P1", "--cpu", str(TX_CPU), "-n", "0"]))
        else:
            backend = name.split("-", 1)[1]
            send = start(ws("gen", "--lab-name", LAB, "--backend", backend, "--cpu", str(TX_CPU), "-d", str(dur),
                            "--json"))
        rate = counter_window(xdp_packets, window)
        res = {"pps": rate}
        if name == "trafgen":
            stop(send, signal.SIGINT)
        else:
            g = last_json(send.communicate(timeout=dur + 30)[0])
            res.update(own_packets=g["packets"], own_pps=g["pps"], ns_per_pkt=g["ns_per_pkt"],
                       syscalls_per_pkt=g["syscalls_per_pkt"])
        time.sleep(0.3)
        s = last_json(stop(sink, signal.SIGINT)[0])
        x1 = xdp_packets()
        res.update(sink_packets=s["packets"], veth_xdp_packets=x1 - x0,
                   agree=within(s["packets"], x1 - x0) and ("own_packets" not in res
                                                           or within(res["own_packets"], x1 - x0)))
        return res
    finally:
        kill_all((send, sink))


def run_xsk_sink(window: float) -> dict:
    """gen/kernel at full speed into an AF_XDP socket read by wirespeed sink on the other CPU."""
    dur = WARMUP + window + 0.5
    sink = send = None
    try:
        sink = start(ws("sink", "--lab-name", LAB, "--backend", "xdp", "-C", "copy", "--cpu", str(RX_CPU),
                        "-d", str(dur + 4), "--json"))
        wait_ready(sink)
        send = start(ws("gen", "--lab-name", LAB, "--backend", "kernel", "--cpu", str(TX_CPU), "-d", str(dur),
                        "--json"))
        g = last_json(send.communicate(timeout=dur + 30)[0])
        time.sleep(0.5)
        s = last_json(stop(sink, signal.SIGINT)[0])
        return {
            "offered": g["packets"], "offered_pps": g["pps"],
            "received": s["packets"], "received_pps": s["pps"], "active_seconds": s["active_seconds"],
            "lost": s["lost"], "kernel_drops": s["kernel_drops"], "interface_rx_dropped": s["interface_rx_dropped"],
            "sink_ns_per_pkt": s["ns_per_pkt"], "sink_cpu_ns_per_pkt": s["cpu_ns_per_pkt"],
            "sink_syscalls_per_pkt": s["syscalls_per_pkt"],
        }
    finally:
        kill_all((send, sink))


def main() -> int:
    args = bench_args(bench_parser(__doc__, 2.0, "1 rep, 1 s windows"), "xdp.py")
    if args is None:
        return 1
    ensure_peers({"trafgen": "netsniff-ng"})
    out: dict = {"bench": "xdp", "kernel": os.uname().release, "cpus": {"sender": TX_CPU, "receiver": RX_CPU},
                 "reps": args.reps, "window_s": args.window}
    with tempfile.TemporaryDirectory() as tmp, raised_sysctls(), lab.Lab(TOPO):
        cfg = trafgen_config(tmp, GEN_END, SINK_END)
        runs: dict[str, list[dict]] = {n: [] for n in SENDERS}
        for _ in range(args.reps):
            for name in SENDERS:
                runs[name].append(run_sender(name, args.window, cfg))
        med = {n: statistics.median(r["pps"] for r in rs) for n, rs in runs.items()}
        out["senders_into_xdp_drop"] = {
            **{f"{n}_pps": median_of([r["pps"] for r in runs[n]]) for n in SENDERS},
            "gen_kernel_mpps": med["wirespeed-kernel"] / 1e6,
            "gen_kernel_target_mpps": 7.0,
            "gen_kernel_met": med["wirespeed-kernel"] >= 7e6,
            "gen_xdp_vs_trafgen": med["wirespeed-xdp"] / med["trafgen"],
            "gen_xdp_target": 1.5,
            "gen_xdp_met": med["wirespeed-xdp"] / med["trafgen"] >= 1.5,
            "gen_afpacket_vs_trafgen": med["wirespeed-afpacket"] / med["trafgen"],
            "ns_per_pkt": {n: statistics.median(r["ns_per_pkt"] for r in runs[n]) for n in SENDERS
                           if n != "trafgen"},
            "counters_agree": all(r["agree"] for rs in runs.values() for r in rs),
            "runs": runs,
        }
        xs = [run_xsk_sink(args.window) for _ in range(args.reps)]
        rx = statistics.median(r["received_pps"] for r in xs)
        out["sink_xdp_fed_by_gen_kernel"] = {
            "received_pps": median_of([r["received_pps"] for r in xs]),
            "offered_pps": median_of([r["offered_pps"] for r in xs]),
            "target_mpps": 4.8,
            "met": rx >= 4.8e6,
            "runs": xs,
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
