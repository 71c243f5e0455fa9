#!/usr/bin/env python3
"""gen and sink against the peers, in one lab, in one run. Prints one JSON object.

    python3 bench/gen_sink.py [--reps 3] [--window 2] [--quick]

Senders run on one CPU (the last), receivers on another (the first). Every rate is counted by
the interfaces' own counters (IFLA_STATS64) over a steady-state window that opens after a
warm-up and closes before the sender stops, the same way for every tool; each tool's own
count is checked against those counters over the whole run. Repetitions are interleaved and
reported as medians.

  gen/AF_PACKET      vs trafgen -P1 (netsniff-ng), 64-byte UDP, into the same AF_PACKET sink
  gen/UDP            vs iperf3 -u -l 18 and sockperf tp -m 18, each into its own server
                     (with UDP GSO, the default, and with --no-gso: one message per datagram)
  sink/UDP           vs sockperf sr, both fed by gen/AF_PACKET carrying sockperf's message header
  batching curve     gen/AF_PACKET at batch 1, 2, 4 ... 256

trafgen cannot raise net.core.wmem_default/wmem_max from inside a namespace; this script
raises them for the run and restores them. Peers are installed from Debian packages if missing.
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

from common import (WARMUP, bench_args, bench_parser, ensure_peers, kill_all, last_json, median_of, ns_cmd,
                    raised_sysctls, start, stop, trafgen_config, link_window, within, ws)
from wirespeed import lab
from wirespeed.base.netdev import link_stats
from wirespeed.base.netns import Where

LAB = "bench"
TOPO = lab.pair(LAB)
GEN_NS, SINK_NS = TOPO.netns("gen"), TOPO.netns("sink")
GEN_END, SINK_END = TOPO.wires[0].a, TOPO.wires[0].b
TX_IF, RX_IF = Where(GEN_END.ifname, GEN_NS), Where(SINK_END.ifname, SINK_NS)
CPUS = sorted(os.sched_getaffinity(0))
RX_CPU, TX_CPU = CPUS[0], CPUS[-1]
SOCKPERF_PORT = 11111
# sockperf's client message, 18 bytes: sequence (u64), flags (u16, 1 = client), length (u32), padding.
SOCKPERF_MSG = "0000000000000000" + "0001" + "00000012" + "00000000"
PEERS = {"trafgen": "netsniff-ng", "iperf3": "iperf3", "sockperf": "sockperf"}


def udp_snmp(ns: str) -> dict[str, int]:
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    rows = [line.split() for line in out if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}


# --- senders ---------------------------------------------------------------------------------

def run_sender(name: str, window: float, trafgen_cfg: str) -> dict:
    """One sender for warm-up + window + a tail, into the receiver that fits it. Returns the
    window rate at both interfaces and the sender's own count against its interface."""
    dur = WARMUP + window + 0.5
    recv = send = None
    before_tx, before_rx = link_stats(TX_IF), link_stats(RX_IF)
    try:
        if name in ("wirespeed-afpacket", "wirespeed-afpacket-nolinear", "trafgen"):
            recv = start(ns_cmd(SINK_NS, RX_CPU, ws("sink", SINK_END.ifname, "--netns", SINK_NS, "--cpu",
                                                     str(RX_CPU), "-d", str(dur + 2), "--json")))
        elif name in ("wirespeed-udp", "wirespeed-udp-nogso"):
            recv = start(ws("sink", "--lab-name", LAB, "--backend", "udp", "--cpu", str(RX_CPU), "-d", str(dur + 2),
                            "--json"))
        elif name == "iperf3":
            recv = start(ns_cmd(SINK_NS, RX_CPU, ["iperf3", "-s", "-1", "-B", SINK_END.address]))
        elif name == "sockperf":
            recv = start(ns_cmd(SINK_NS, RX_CPU, ["sockperf", "sr", "-i", SINK_END.address, "-p", str(SOCKPERF_PORT)]))
        time.sleep(0.5)
        if name.startswith("wirespeed"):
            extra = ["--backend", "udp"] if name.startswith("wirespeed-udp") else []
            extra += ["--no-gso"] if name.endswith("nogso") else []
            extra += ["--no-linear"] if name.endswith("nolinear") else []
            send = start(ws("gen", "--lab-name", LAB, "--cpu", str(TX_CPU), "-d", str(dur), "--json", *extra))
        elif name == "trafgen":
            send = start(ns_cmd(GEN_NS, TX_CPU, ["trafgen", "--dev", GEN_END.ifname, "--conf", trafgen_cfg,
                                                   "-P1", "--cpu", str(TX_CPU), "-n", "0"]))
        elif name == "iperf3":
            send = start(ns_cmd(GEN_NS, TX_CPU, ["iperf3", "-c", SINK_END.address, "-u", "-l", "18", "-b", "0",
                                                   "-t", str(int(dur + 5)), "--json"]))
        elif name == "sockperf":
            send = start(ns_cmd(GEN_NS, TX_CPU, ["sockperf", "tp", "-i", SINK_END.address, "-p", str(SOCKPERF_PORT),
                                                   "-m", "18", "-t", str(int(dur + 5))]))
        tx_rate = link_window(TX_IF, "tx_packets", window)
        out, err = (stop(send, signal.SIGINT) if name in ("trafgen", "iperf3", "sockperf")
                    else send.communicate(timeout=dur + 30))
        res = {"tx_pps": tx_rate}
        after_tx = link_stats(TX_IF)
        if name.startswith("wirespeed"):
            g = last_json(out)
            res["own_packets"] = g["packets"]
            res["interface_packets"] = after_tx["tx_packets"] - before_tx["tx_packets"]
            res["own_pps"] = g["pps"]
            res["ns_per_pkt"] = g["ns_per_pkt"]
            res["syscalls_per_pkt"] = g["syscalls_per_pkt"]
            res["agree"] = within(res["own_packets"], res["interface_packets"])
        if recv is not None:
            rout, _ = stop(recv, signal.SIGINT) if not name.startswith("wirespeed") else recv.communicate(timeout=30)
            after_rx = link_stats(RX_IF)
            if name.startswith("wirespeed") or name == "trafgen":
                s = last_json(rout)
                res["sink_packets"] = s["packets"]
                res["sink_interface_packets"] = after_rx["rx_packets"] - before_rx["rx_packets"]
                res["sink_agree"] = within(s["packets"], res["sink_interface_packets"])
        return res
    finally:
        kill_all((send, recv))


# --- receivers -------------------------------------------------------------------------------

def run_receiver(name: str, window: float) -> dict:
    """gen/AF_PACKET with sockperf's message header into one UDP receiver; what it took."""
    dur = WARMUP + window
    s0 = udp_snmp(SINK_NS)
    if name == "sockperf":
        recv = start(ns_cmd(SINK_NS, RX_CPU, ["sockperf", "sr", "-i", SINK_END.address, "-p", str(SOCKPERF_PORT)]))
    else:
        recv = start(ws("sink", "--lab-name", LAB, "--backend", "udp", "--port", str(SOCKPERF_PORT), "--cpu",
                        str(RX_CPU), "-d", str(dur + 3), "--json"))
    try:
        time.sleep(0.5)
        send = start(ws("gen", "--lab-name", LAB, "--cpu", str(TX_CPU), "-d", str(dur), "--dport",
                        str(SOCKPERF_PORT), "--payload", SOCKPERF_MSG, "--json"))
        gout, _ = send.communicate(timeout=dur + 30)
        time.sleep(1.0)  # let the receiver drain its socket
        rout, rerr = stop(recv, signal.SIGINT) if name == "sockperf" else recv.communicate(timeout=30)
    finally:
        kill_all((recv,))
    s1 = udp_snmp(SINK_NS)
    g = last_json(gout)
    delivered = s1["InDatagrams"] - s0["InDatagrams"]
    dropped = s1["RcvbufErrors"] - s0["RcvbufErrors"]
    if name == "sockperf":
        text = rout + rerr
        own = int(next(line.split("Total")[1].split()[0] for line in text.splitlines() if "messages received" in line))
    else:
        own = last_json(rout)["packets"]
    return {
        "offered": g["packets"],
        "offered_pps": g["pps"],
        "received": own,
        "udp_in_datagrams": delivered,
        "udp_rcvbuf_errors": dropped,
        "received_pps": own / g["seconds"],
        "agree": within(own, delivered),
    }


def main() -> int:
    args = bench_args(bench_parser(__doc__, 2.0, "1 rep, short windows, batch curve 1/16/256"), "gen_sink.py")
    if args is None:
        return 1
    ensure_peers(PEERS)
    out: dict = {"bench": "gen_sink", "kernel": os.uname().release, "cpus": {"sender": TX_CPU, "receiver": RX_CPU},
                 "reps": args.reps, "window_s": args.window}
    with tempfile.TemporaryDirectory() as tmp, raised_sysctls(), lab.Lab(TOPO):
        cfg = trafgen_config(tmp, GEN_END, SINK_END)

        senders: dict[str, list[dict]] = {}
        order = ["wirespeed-afpacket", "trafgen", "wirespeed-afpacket-nolinear", "wirespeed-udp", "iperf3", "sockperf",
                 "wirespeed-udp-nogso"]
        for _ in range(args.reps):
            for name in order:
                senders.setdefault(name, []).append(run_sender(name, args.window, cfg))

        def med(name: str, key: str = "tx_pps") -> float:
            return statistics.median(r[key] for r in senders[name])

        out["gen_afpacket_vs_trafgen"] = {
            "wirespeed_pps": median_of([r["tx_pps"] for r in senders["wirespeed-afpacket"]]),
            "wirespeed_no_linear_pps": median_of([r["tx_pps"] for r in senders["wirespeed-afpacket-nolinear"]]),
            "trafgen_pps": median_of([r["tx_pps"] for r in senders["trafgen"]]),
            "ratio": med("wirespeed-afpacket") / med("trafgen"),
            "ratio_no_linear": med("wirespeed-afpacket-nolinear") / med("trafgen"),
            "target": 1.0,
            "wirespeed_ns_per_pkt": med("wirespeed-afpacket", "ns_per_pkt"),
            "wirespeed_syscalls_per_pkt": med("wirespeed-afpacket", "syscalls_per_pkt"),
            "counters_agree": all(r["agree"] and r["sink_agree"] for n in ("wirespeed-afpacket", "wirespeed-afpacket-nolinear")
                                  for r in senders[n]),
            "runs": {n: senders[n] for n in ("wirespeed-afpacket", "wirespeed-afpacket-nolinear", "trafgen")},
        }
        out["gen_afpacket_vs_trafgen"]["met"] = out["gen_afpacket_vs_trafgen"]["ratio"] >= 1.0
        out["gen_udp_vs_iperf3_sockperf"] = {
            "wirespeed_pps": median_of([r["tx_pps"] for r in senders["wirespeed-udp"]]),
            "wirespeed_no_gso_pps": median_of([r["tx_pps"] for r in senders["wirespeed-udp-nogso"]]),
            "iperf3_pps": median_of([r["tx_pps"] for r in senders["iperf3"]]),
            "sockperf_pps": median_of([r["tx_pps"] for r in senders["sockperf"]]),
            "ratio_iperf3": med("wirespeed-udp") / med("iperf3"),
            "ratio_sockperf": med("wirespeed-udp") / med("sockperf"),
            "ratio_iperf3_no_gso": med("wirespeed-udp-nogso") / med("iperf3"),
            "target_iperf3": 1.2,
            "wirespeed_ns_per_pkt": med("wirespeed-udp", "ns_per_pkt"),
            "counters_agree": all(r["agree"] and r["sink_agree"] for n in ("wirespeed-udp", "wirespeed-udp-nogso")
                                  for r in senders[n]),
            "runs": {n: senders[n] for n in ("wirespeed-udp", "wirespeed-udp-nogso", "iperf3", "sockperf")},
        }
        out["gen_udp_vs_iperf3_sockperf"]["met"] = out["gen_udp_vs_iperf3_sockperf"]["ratio_iperf3"] >= 1.2

        receivers: dict[str, list[dict]] = {}
        for _ in range(args.reps):
            for name in ("wirespeed", "sockperf"):
                receivers.setdefault(name, []).append(run_receiver(name, args.window))
        rmed = {n: statistics.median(r["received_pps"] for r in rs) for n, rs in receivers.items()}
        out["sink_udp_vs_sockperf"] = {
            "wirespeed_received_pps": median_of([r["received_pps"] for r in receivers["wirespeed"]]),
            "sockperf_received_pps": median_of([r["received_pps"] for r in receivers["sockperf"]]),
            "ratio": rmed["wirespeed"] / rmed["sockperf"],
            "target": 1.0,
            "met": rmed["wirespeed"] / rmed["sockperf"] >= 1.0,
            "counters_agree": all(r["agree"] for rs in receivers.values() for r in rs),
            "runs": receivers,
        }

        curve = []
        for b in ((1, 16, 256) if args.quick else (1, 2, 4, 8, 16, 32, 64, 128, 256)):
            runs = []
            for _ in range(args.reps):
                p = start(ws("gen", "--lab-name", LAB, "--cpu", str(TX_CPU), "-b", str(b), "-d",
                             str(WARMUP + args.window / 2 + 0.3), "--json"))
                rate = link_window(TX_IF, "tx_packets", args.window / 2)
                g = last_json(p.communicate(timeout=60)[0])
                runs.append({"pps": rate, "ns_per_pkt": g["ns_per_pkt"], "syscalls_per_pkt": g["syscalls_per_pkt"]})
            curve.append({"batch": b, "pps": statistics.median(r["pps"] for r in runs),
                          "ns_per_pkt": statistics.median(r["ns_per_pkt"] for r in runs),
                          "syscalls_per_pkt": statistics.median(r["syscalls_per_pkt"] for r in runs)})
        out["batching_curve"] = curve
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
