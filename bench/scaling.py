#!/usr/bin/env python3
"""Past one core and up to the C ceiling, in one run. Prints one JSON object.

    python3 bench/scaling.py [--reps 3] [--window 2] [--quick] [--only references,scaling,flows]

references  each wirespeed data path against a plain C program doing the same work with the
            kernel's UAPI headers only (bench/c/, built here with gcc), on one CPU, same lab,
            same frame, interleaved repetitions, medians; target >= 0.95 x:
              gen/kernel  vs progrun_gen (BPF_PROG_RUN live frames, a two-instruction XDP_TX program)
              gen/xdp     vs xsk_ref tx  (AF_XDP copy mode, need_wakeup, batch 64, the same budget)
              sink/xdp    vs xsk_ref rx  (spin on the RX ring, count, refill; batch 256), with the
                          sink's sequence check on (the default) and off (--count-only);
                          and against xsk_ref rxseq, the same loop reading each frame's
                          sequence number (reading a frame the sender's CPU just wrote costs
                          that CPU: both receivers that read slow the sender down)
            Senders are measured by the receiving veth's own XDP counter (ethtool -S) over a
            steady window; receivers by the veth's count of frames redirected into the socket.
scaling     -w 1 against -w 2 on a veth with two queues (lab --queues 2), each into the
            in-kernel counter: gen/kernel and gen/xdp; target >= 1.8 x.
flows       the generator's rate at 1 and 65,536 flows (incrementing; random where the backend
            varies ports at random), and the receiver's (sink/xdp) at 1 and 65,536 flows;
            target: within 5 %.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from common import (WARMUP, bench_args, bench_parser, counter_window, kill_all, last_json, ns_cmd, start, stop,
                    wait_ready, ws)
from wirespeed import api, lab, ports
from wirespeed.base.netdev import xdp_stats
from wirespeed.base.netns import Where
from wirespeed.ports.kernel import template
from wirespeed.tools.gen import make_gen

HERE = os.path.dirname(os.path.abspath(__file__))
CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]
ONE = lab.pair("bref")  # one queue: a single socket sees every frame
TWO = lab.pair("bscale", queues=2)


def where(topo, node: str) -> Where:
    end = topo.wires[0].a if node == "gen" else topo.wires[0].b
    return Where(end.ifname, topo.netns(node))


def xdp_counter(topo, key: str):
    at = where(topo, "sink")
    return lambda: xdp_stats(at)[key]


def build(tmp: str, name: str) -> str:
    exe = os.path.join(tmp, name)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", exe, os.path.join(HERE, "c", f"{name}.c"), "-lpthread"], check=True)
    return exe


def frame_hex(topo) -> str:
    """The template frame gen sends by default (64 bytes on the wire), as the kernel backend has it."""
    cfg = api.gen_config_at(where(topo, "gen"), topo, backend="kernel")
    return template(make_gen(cfg), (9, 1), 0)[0].hex()


def sender_rate(topo, argv: list[str], window: float, ns: str | None = None) -> float:
    """Frames per second the receiving veth's XDP program saw from one sender, into xdp-count."""
    dur = WARMUP + window + 0.8
    sink = send = None
    try:
        sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 4), "--json"))
        wait_ready(sink)
        send = start(ns_cmd(ns, TX_CPU, argv) if ns else argv)
        rate = counter_window(xdp_counter(topo, "xdp_packets"), window)
        stop(send, signal.SIGINT)
        stop(sink, signal.SIGINT)
        return rate
    finally:
        kill_all((send, sink))


def receiver_rate(topo, argv: list[str], window: float, ns: str | None = None, flows: int = 0) -> dict:
    """gen/kernel on the sender's CPU at full speed into an AF_XDP receiver on the other: frames
    per second redirected into its socket (veth's own count) and what the receiver said."""
    dur = WARMUP + window + 0.8
    recv = send = None
    try:
        recv = start(ns_cmd(ns, RX_CPU, argv) if ns else argv)
        if ns is None:
            wait_ready(recv)
        else:
            time.sleep(0.5)  # the C receiver is bound before its first spin
        extra = ["--sport", "0-65535", "--flows", str(flows)] if flows else []
        send = start(ws("gen", "--lab-name", topo.name, "--backend", "kernel", "--cpu", str(TX_CPU), "-d", str(dur),
                        *extra, "--json"))
        rate = counter_window(xdp_counter(topo, "xdp_redirect"), window)
        send.communicate(timeout=dur + 30)
        out, _ = stop(recv, signal.SIGINT) if ns is None else recv.communicate(timeout=dur + 30)
        res = {"pps": rate}
        if ns is None:
            s = last_json(out)
            res.update(received=s["packets"], lost=s.get("lost"), kernel_drops=s["kernel_drops"],
                       cpu_ns_per_pkt=s["cpu_ns_per_pkt"])
        else:
            res["received"] = json.loads(out.strip().splitlines()[-1])["packets"]
        return res
    finally:
        kill_all((send, recv))


def interleave(cases: dict, reps: int) -> dict[str, list]:
    runs: dict[str, list] = {name: [] for name in cases}
    for _ in range(reps):
        for name, run in cases.items():
            runs[name].append(run())
    return runs


def rate_of(r) -> float:
    return r["pps"] if isinstance(r, dict) else r


def med(runs: list) -> float:
    return statistics.median(rate_of(r) for r in runs)


def references(tmp: str, reps: int, window: float, only: set[str] | None = None) -> dict:
    progrun, xsk = build(tmp, "progrun_gen"), build(tmp, "xsk_ref")
    hexed = frame_hex(ONE)
    gen_ns, sink_ns = ONE.netns("gen"), ONE.netns("sink")
    seconds = str(WARMUP + window + 1.5)
    g = ["--lab-name", ONE.name, "--cpu", str(TX_CPU), "-d", seconds, "--json"]
    s = ["--lab-name", ONE.name, "--backend", "xdp", "-C", "copy", "--cpu", str(RX_CPU), "-d", "30", "--json"]
    cases = {
        "c_progrun_gen": lambda: sender_rate(ONE, [progrun, "veth0", hexed, seconds], window, gen_ns),
        "gen_kernel": lambda: sender_rate(ONE, ws("gen", "--backend", "kernel", *g), window),
        "c_xsk_tx": lambda: sender_rate(ONE, [xsk, "tx", "veth0", "0", seconds, "64", hexed], window, gen_ns),
        "gen_xdp": lambda: sender_rate(ONE, ws("gen", "--backend", "xdp", "-C", "copy", "-b", "64", *g), window),
        "c_xsk_rx": lambda: receiver_rate(ONE, [xsk, "rx", "veth0", "0", seconds, "256"], window, sink_ns),
        "c_xsk_rx_seq": lambda: receiver_rate(ONE, [xsk, "rxseq", "veth0", "0", seconds, "256"], window, sink_ns),
        "sink_xdp": lambda: receiver_rate(ONE, ws("sink", *s), window),
        "sink_xdp_count_only": lambda: receiver_rate(ONE, ws("sink", *s, "--count-only"), window),
    }
    if only:
        cases = {k: v for k, v in cases.items() if k in only}
    runs = interleave(cases, reps)
    m = {k: med(v) for k, v in runs.items()}
    pairs = {"gen_kernel_vs_c": ("gen_kernel", "c_progrun_gen"), "gen_xdp_vs_c": ("gen_xdp", "c_xsk_tx"),
             "sink_xdp_vs_c": ("sink_xdp", "c_xsk_rx"), "sink_xdp_count_only_vs_c": ("sink_xdp_count_only", "c_xsk_rx"),
             "sink_xdp_vs_c_reading_sequence": ("sink_xdp", "c_xsk_rx_seq"),
             "c_reading_sequence_vs_c": ("c_xsk_rx_seq", "c_xsk_rx")}
    ratios = {k: m[a] / m[b] for k, (a, b) in pairs.items() if a in m and b in m}
    lossless = all(r["lost"] == 0 for r in runs.get("sink_xdp", []))
    return {"pps_median": m, "ratios": ratios, "target": 0.95,
            "met": {k: v >= 0.95 for k, v in ratios.items() if k != "c_reading_sequence_vs_c"},
            "sink_sequence_check_saw_no_loss": lossless, "runs": runs}


def scaling(reps: int, window: float) -> dict:
    seconds = str(WARMUP + window + 1.5)
    cases = {}
    per_queue = ports.runnable(transmit=True, per_queue=True)
    for backend in per_queue:
        for w in (1, 2):
            argv = ws("gen", "--lab-name", TWO.name, "--backend", backend, "-w", str(w), "-d", seconds, "--json")
            cases[f"gen_{backend}_w{w}"] = lambda argv=argv: sender_rate(TWO, argv, window)
    runs = interleave(cases, reps)
    m = {k: med(v) for k, v in runs.items()}
    ratios = {b: m[f"gen_{b}_w2"] / m[f"gen_{b}_w1"] for b in per_queue}
    return {"pps_median": m, "w2_over_w1": ratios, "target": 1.8, "met": {k: v >= 1.8 for k, v in ratios.items()},
            "runs": runs}


def flows(reps: int, window: float) -> dict:
    seconds = str(WARMUP + window + 1.5)
    many = ["--sport", "0-65535"]
    cases = {}
    for backend in [n for n in ports.runnable(transmit=True) if "sport" in ports.backend(n).varies]:
        base = ws("gen", "--lab-name", ONE.name, "--backend", backend, "--cpu", str(TX_CPU), "-d", seconds, "--json")
        cases[f"gen_{backend}_1"] = lambda a=base: sender_rate(ONE, a, window)
        cases[f"gen_{backend}_65536"] = lambda a=base + many + ["--flows", "65536"]: sender_rate(ONE, a, window)
        if not ports.backend(backend).in_kernel:  # the in-kernel program walks ports in order only
            cases[f"gen_{backend}_65536_random"] = \
                lambda a=base + many + ["--vary", "random"]: sender_rate(ONE, a, window)
    s = ws("sink", "--lab-name", ONE.name, "--backend", "xdp", "-C", "copy", "--cpu", str(RX_CPU), "-d", "30", "--json")
    cases["sink_xdp_1"] = lambda: receiver_rate(ONE, s, window)
    cases["sink_xdp_65536"] = lambda: receiver_rate(ONE, s, window, flows=65536)
    runs = interleave(cases, reps)
    m = {k: med(v) for k, v in runs.items()}
    ratios = {k: m[k] / m[k.split("_65536")[0] + "_1"] for k in m if "_65536" in k}
    # a generator flat within 5 %; a receiver not slower by more than 5 %
    met = {k: abs(v - 1) <= 0.05 if k.startswith("gen") else v >= 0.95 for k, v in ratios.items()}
    return {"pps_median": m, "ratio_to_one_flow": ratios, "target": "generators within 5 %, receivers >= 0.95",
            "met": met, "runs": runs}


def main() -> int:
    ap = bench_parser(__doc__, 2.0, "1 rep, 1 s windows")
    ap.add_argument("--only", default="references,scaling,flows")
    ap.add_argument("--cases", help="references: only these cases (e.g. c_xsk_rx,sink_xdp)")
    args = bench_args(ap, "scaling.py")
    if args is None:
        return 1
    only = set(args.only.split(","))
    out: dict = {"bench": "scaling", "kernel": os.uname().release, "cpus": {"sender": TX_CPU, "receiver": RX_CPU},
                 "reps": args.reps, "window_s": args.window}
    with tempfile.TemporaryDirectory() as tmp:
        if only & {"references", "flows"}:
            with lab.Lab(ONE):
                if "references" in only:
                    out["references"] = references(tmp, args.reps, args.window,
                                                   set(args.cases.split(",")) if args.cases else None)
                if "flows" in only:
                    out["flows"] = flows(args.reps, args.window)
        if "scaling" in only:
            with lab.Lab(TWO):
                out["scaling"] = scaling(args.reps, args.window)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
