#!/usr/bin/env python3
"""pcap in and out. Capture: at which rate does writing every frame start to lose frames?
`sink --write` against `tcpdump -w` on the same lab, and the plain sink (no writing) as the
ceiling. Replay: `gen --pcap` (a capture of the generator's own 64-byte frames, looped) against
the same backend's template, as fast as each goes (afpacket, xdp, kernel). Prints one JSON object.

    python3 bench/capture.py [--rates 0.25,0.5,1,1.5,2,3] [--seconds 2] [--dir /dev/shm] [--reps 3]

gen --backend kernel offers 64-byte frames at each rate (Mpps) on one CPU; the receiver runs on
the other. Loss = frames offered (the sending veth's TX counter) - frames written (records in the
file, read back) for the writers, - frames counted for the plain sink. CPU per frame kept: the
sink's own user+system time of its workers; tcpdump's from /proc (10 ms ticks). Files go to --dir
(tmpfs by default: the cost measured is the CPU's, not a disk's). Installs tcpdump if missing.
Replay: sender on one CPU, `sink --backend xdp-count` on the other; rates from the sending
veth's TX counter over the whole run, medians of interleaved repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import ensure_peers, last_json, ns_cmd, start, stop, wait_ready, ws
from wirespeed import lab
from wirespeed.base.netdev import link_stats
from wirespeed.base.netns import Where
from wirespeed.tools.sink import pcap_records

LAB = "bcap"
TOPO = lab.pair(LAB)
CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]


def offer(rate_mpps: float, seconds: float) -> int:
    """Send for `seconds` at the rate; frames that left (the veth's own TX counter)."""
    w = TOPO.wires[0]
    where = Where(w.a.ifname, TOPO.netns("gen"))
    before = link_stats(where)["tx_packets"]
    g = start(ws("gen", "--lab-name", LAB, "--backend", "kernel", "--cpu", str(TX_CPU), "-d", str(seconds),
                 "-r", f"{rate_mpps}mpps", "--json"))
    g.communicate(timeout=seconds + 30)
    return link_stats(where)["tx_packets"] - before


def run_sink(rate: float, seconds: float, path: str | None) -> dict:
    args = ["sink", "--lab-name", LAB, "--cpu", str(RX_CPU), "-d", str(seconds + 3), "--json"]
    if path:
        args += ["--write", path]
    s = start(ws(*args))
    try:
        wait_ready(s)
        sent = offer(rate, seconds)
        time.sleep(0.3)
    finally:
        out = last_json(stop(s)[0])
    got = pcap_records(path) if path else out["packets"]
    if path:
        os.unlink(path)
    return {"offered": sent, "kept": got, "loss": max(0, sent - got) / sent if sent else None,
            "cpu_ns_per_frame": out.get("cpu_ns_per_pkt")}


def cpu_ns(pid: int) -> float:
    """User plus system CPU time of a live process, ns (/proc/PID/stat, clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")


def run_tcpdump(rate: float, seconds: float, path: str) -> dict:
    iface = TOPO.wires[0].b.ifname
    # tcpdump at its best: libpcap's buffered TPACKET_V3 mode (no --immediate-mode, which wakes it
    # per packet) and a 16 MiB ring, the sink's own (64 blocks of 256 KiB)
    t = start(ns_cmd(TOPO.netns("sink"), RX_CPU, ["tcpdump", "-i", iface, "-w", path, "-s", "65535", "-n",
                                                   "-B", "16384"]))
    try:
        time.sleep(1.0)  # tcpdump says nothing when it is ready; give it the time it takes here
        sent = offer(rate, seconds)
        time.sleep(1.5)  # past libpcap's 1 s block timeout: the last, partly filled block is handed over
        cpu = cpu_ns(t.pid)  # ip netns exec and taskset exec tcpdump: the pid is tcpdump's
    finally:
        _, err = stop(t)
    got = pcap_records(path)
    os.unlink(path)
    # kept can exceed offered by a few: tcpdump also keeps the lab's own frames (IPv6 ND)
    return {"offered": sent, "kept": got, "loss": max(0, sent - got) / sent if sent else None,
            "cpu_ns_per_frame": cpu / got if got else None,
            "tcpdump_says": [x for x in err.splitlines() if "dropped" in x or "captured" in x]}


def send_rate(args: list[str], seconds: float) -> float:
    """Frames per second that left the gen veth (its own counter) while gen ran `seconds`."""
    where = Where(TOPO.wires[0].a.ifname, TOPO.netns("gen"))
    s = start(ws("sink", "--lab-name", LAB, "--backend", "xdp-count", "--cpu", str(RX_CPU), "-d", str(seconds + 5),
                 "--json"))
    try:
        wait_ready(s)
        before = link_stats(where)["tx_packets"]
        g = start(ws("gen", "--lab-name", LAB, "--cpu", str(TX_CPU), "-d", str(seconds), "--json", *args))
        gs = last_json(g.communicate(timeout=seconds + 30)[0])
        sent = link_stats(where)["tx_packets"] - before
    finally:
        stop(s)
    assert gs["packets"] == sent, (gs["packets"], sent)  # our count is the interface's
    return sent / gs["seconds"]


def replay_vs_template(directory: str, seconds: float, reps: int) -> dict:
    """gen --pcap against the template, per backend: the capture holds 4096 of gen's own frames."""
    path = os.path.join(directory, "wirespeed-bench-replay.pcap")
    s = start(ws("sink", "--lab-name", LAB, "--cpu", str(RX_CPU), "-c", "4096", "-d", "20", "--write", path,
                 "--json"))
    try:
        wait_ready(s)
        start(ws("gen", "--lab-name", LAB, "-c", "4096", "-r", "100kpps")).communicate(timeout=30)
        s.communicate(timeout=30)
    finally:
        stop(s)
    out = {}
    for backend, extra in (("afpacket", []), ("xdp", ["-C", "copy"]), ("kernel", [])):
        runs = {"template": [], "replay": []}
        for i in range(reps):
            for kind in (("template", "replay") if i % 2 == 0 else ("replay", "template")):
                args = ["--backend", backend, *extra] + (["--pcap", path, "--loop", "0"] if kind == "replay" else [])
                runs[kind].append(send_rate(args, seconds))
        t, r = statistics.median(runs["template"]), statistics.median(runs["replay"])
        out[backend] = {"template_pps": t, "replay_pps": r, "ratio": r / t, "runs": runs}
    os.unlink(path)
    return out


def ceiling(rows: list[dict], key: str, threshold: float = 0.001) -> float | None:
    """The highest offered rate (Mpps) below the first one that lost more than threshold."""
    best = None
    for r in rows:
        if r[key]["loss"] is None or r[key]["loss"] > threshold:
            break
        best = r["rate_mpps"]
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="0.25,0.5,1,1.5,2,3")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    ensure_peers({"tcpdump": "tcpdump"})
    rows = []
    with lab.Lab(TOPO):
        for rate in (float(x) for x in a.rates.split(",")):
            row = {"rate_mpps": rate}
            row["sink"] = run_sink(rate, a.seconds, None)
            row["sink_write"] = run_sink(rate, a.seconds, os.path.join(a.dir, "wirespeed-bench.pcap"))
            row["tcpdump_w"] = run_tcpdump(rate, a.seconds, os.path.join(a.dir, "wirespeed-bench-tcpdump.pcap"))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        replay = replay_vs_template(a.dir, a.seconds, a.reps)
    out = {"frame": 64, "dir": a.dir, "seconds": a.seconds, "rows": rows, "replay": replay,
           "lossless_up_to_mpps": {k: ceiling(rows, k) for k in ("sink", "sink_write", "tcpdump_w")},
           "tcpdump": subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout.splitlines()[0]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
