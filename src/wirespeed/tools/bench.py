"""`wirespeed bench`: the talk's experiment on this host, one command: the per-packet budget, the
cost of each primitive, batching's amortisation, transmit and receive ceilings of every backend
beside the tools people use instead, queueing, memory, forwarding, latency under load, and where
the time per packet goes. Writes DIR/report.html (one file, plots embedded), DIR/results.json
(every number and the run record) and the plots.

Every rate comes from an interface's own counter over a steady window; the tool's own count
over the run is set beside the interface's and a difference over 0.5 % is flagged. Repetitions
are interleaved; medians are shown with their min-max. A section that cannot run here says why.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wirespeed import lab, ports
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.netdev import link_stats, xdp_stats
from wirespeed.base.netns import Where
from wirespeed.runner.procs import last_json, start, stop, wait_ready, window_rate, ws

FLOOR_SHARE = 0.1  # section 8: the tester's floor, at this share of its ceiling, -b 1 (an idle CPU's wake-ups
#                    would add microseconds of their own), the kernel's transmit stamps read

SECTIONS = ("budget", "amortisation", "transmit", "receive", "queueing", "memory", "forwarding", "latency",
            "where")
PEERS = {"trafgen": "netsniff-ng", "iperf3": "iperf3", "sockperf": "sockperf"}
AGREE = 0.005
DROPS_S = 0.5  # forwarding: where frames are dropped, counted after each rate's window


@dataclass
class BenchConfig:
    out: str
    sections: tuple[str, ...] = SECTIONS
    full: bool = False
    compare: dict | None = None
    install: bool = True
    lab_name: str = "bench"

    @property
    def reps(self) -> int:
        return 3 if self.full else 1

    @property
    def window(self) -> float:
        return 2.0 if self.full else 0.8

    @property
    def batches(self) -> list[int]:
        return [1, 4, 16, 64, 128, 256] if self.full else [1, 16, 64, 256]


def check(cfg: BenchConfig) -> None:
    bad = [s for s in cfg.sections if s not in SECTIONS]
    if bad:
        raise UsageError(f"--sections: unknown {', '.join(bad)}; the sections are {', '.join(SECTIONS)}")
    if os.path.exists(cfg.out) and not os.path.isdir(cfg.out):
        raise UsageError(f"--out {cfg.out} is a file, not a directory")


def load_compare(path: str) -> dict:
    """An earlier results.json, checked to be one."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--compare {path}: not a readable results.json ({e.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != "wirespeed-bench-results" or "sections" not in data:
        raise UsageError(f"--compare {path}: not a wirespeed bench results.json")
    return data


# -- running tools and reading counters -----------------------------------------------------------

def agree(own: int, interface: int) -> dict:
    diff = abs(own - interface) / max(interface, 1)
    return {"own": own, "interface": interface, "difference": diff, "agree": diff <= AGREE}


def med(runs: list[float]) -> dict:
    runs = [r for r in runs if r is not None]
    if not runs:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def ensure_peers(install: bool, note) -> dict[str, str | None]:
    """The peers' commands, installed from Debian's packages when missing (unless told not to).
    Returns command -> why it is unavailable (None when it is there)."""
    missing = sorted({pkg for cmd, pkg in PEERS.items() if not shutil.which(cmd)})
    if missing and install and shutil.which("apt-get"):
        note(f"installing {', '.join(missing)} (Debian packages) for the peers")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return {cmd: None if shutil.which(cmd) else f"{cmd} is not installed (Debian package {pkg})"
            for cmd, pkg in PEERS.items()}


def version_of(cmd: str) -> str | None:
    for flag in ("--version", "-v"):
        try:
            r = subprocess.run([cmd, flag], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = (r.stdout or r.stderr).strip().splitlines()
        if text:
            return text[0][:80]
    return None


@dataclass
class Bench:
    """One bench run: its config, its labs, what it found so far (results survive a Ctrl-C)."""

    cfg: BenchConfig
    progress: Callable[[str, str], None]
    note: Callable[[str], None]
    results: dict = field(default_factory=dict)
    cpus: list[int] = field(default_factory=lambda: sorted(os.sched_getaffinity(0)))

    @functools.cached_property
    def refused(self) -> dict[str, str]:
        """Backends this kernel or process refuses, with the kernel's reason (said in the report)."""
        out = {n: ports.unavailable(n) for n in ports.BACKENDS}
        for n, why in out.items():
            if why:
                self.note(f"--backend {n} is left out: {why}")
        return {n: why for n, why in out.items() if why}

    @property
    def feeder(self) -> str:
        """The fastest generator this host runs: the in-kernel one, else zero-copy AF_XDP, else the rest."""
        B = ports.BACKENDS
        return min(ports.runnable(transmit=True), key=lambda n: (not B[n].in_kernel, not B[n].zero_copy))

    @property
    def rx_cpu(self) -> int:
        return self.cpus[0]

    @property
    def tx_cpu(self) -> int:
        return self.cpus[-1]

    # -- sections --------------------------------------------------------------------------------
    def budget(self) -> dict:
        from wirespeed.base.units import default_frames, frame
        from wirespeed.tools import budget

        res = budget.run(budget.BudgetConfig(links=("10G", "25G", "40G", "100G"), frames=default_frames(),
                                             selected_link="10G", selected_frame=frame(64), measure=True,
                                             min_time=0.2 if self.cfg.full else 0.03, reps=3),
                         progress=lambda what: self.progress("budget", what))
        self.results["_profile"] = res
        return {"caption": "The talk: at 10G a 64-byte frame arrives every 67.2 ns, and single operations (a "
                           "cache miss, a LOCK-prefixed instruction, a system call) eat a large share of it. "
                           "This host, measured below each bar.",
                "budget": res["budget"], "tsc_hz": res["tsc_hz"], "selected": res["selected"],
                "profile": res["profile"]}

    def amortisation(self) -> dict:
        res = self.results.get("_profile")
        if res is None:
            from wirespeed.tools import budget

            res = budget.run(budget.BudgetConfig(measure=True, min_time=0.03, reps=3))
        return {"caption": "The talk's central argument: a cost paid once per batch is divided by the batch. "
                           "One LOCK cmpxchg and one system call per batch of 1 ... 256 packets, measured here.",
                "rows": res["amortised"], "rings": res.get("rings", []), "budget_ns": res["selected"]["ns"]}

    def transmit(self) -> dict:
        """Every transmit backend at each batch size into XDP drop on the peer, and the peers."""
        topo = lab.pair(self.cfg.lab_name)
        rx = Where(topo.wires[0].b.ifname, topo.netns("sink"))
        read = lambda: xdp_stats(rx).get("xdp_packets", 0)  # noqa: E731
        rows, peers = [], {}
        with lab.Lab(topo):
            for rep in range(self.cfg.reps):
                for backend in ports.names(transmit=True):
                    if backend in self.refused:
                        continue
                    # an in-kernel generator's batch is the kernel's (its live-frame batch): one run
                    for b in [64] if ports.backend(backend).in_kernel else self.cfg.batches:
                        self.progress("transmit", f"{backend} batch {b} (run {rep + 1})")
                        rows.append(self._send(topo, read, rx, backend, b))
                for cmd in ("trafgen", "iperf3", "sockperf"):
                    why = self.results["_peers"].get(cmd)
                    if why:
                        peers[cmd] = {"skipped": why}
                        continue
                    self.progress("transmit", f"{cmd} (run {rep + 1})")
                    try:
                        peers.setdefault(cmd, {"runs": []})["runs"].append(self._peer(topo, read, cmd))
                    except WirespeedError as e:
                        peers[cmd] = {"skipped": f"{cmd} did not run here: {e}"}
        out = {}
        for r in rows:
            out.setdefault(r["backend"], {}).setdefault(str(r["batch"]), []).append(r)
        table = {be: {b: {"pps": med([x["pps"] for x in xs]), "ns_per_pkt": med([x["ns_per_pkt"] for x in xs]),
                          "cpu_ns_per_pkt": med([x["cpu_ns_per_pkt"] for x in xs]),
                          "user_ns_per_pkt": med([x["user_ns_per_pkt"] for x in xs]),
                          "sys_ns_per_pkt": med([x["sys_ns_per_pkt"] for x in xs]),
                          "syscalls_per_pkt": med([x["syscalls_per_pkt"] for x in xs]),
                          "agreement": xs[-1]["agreement"]}
                      for b, xs in per.items()} for be, per in out.items()}
        for cmd, p in peers.items():
            if "runs" in p:
                p["pps"] = med(p["runs"])
        return {"caption": "The talk: kernel pktgen with bursts of 1/2/3 reached 9.2/13.5/14.5 Mpps on one 10G "
                           "core; batching the doorbell (xmit_more) is what closes the gap. Here: packets per "
                           "second into XDP drop on a veth peer, counted by the peer's own XDP counters, one "
                           "sender CPU; the peers measured the same way in the same run (iperf3 at the sending "
                           "veth's TX counter: its control connection needs the receiving stack).",
                "backends": table, "peers": peers, "refused": dict(self.refused)}

    def _send(self, topo, read, rx, backend: str, batch: int) -> dict:
        dur = self.cfg.window + 1.0
        sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 4), "--json"))
        try:
            wait_ready(sink)
            x0 = read()
            g = start(ws("gen", "--lab-name", topo.name, "--backend", backend, "-b", str(batch), "--cpu",
                         str(self.tx_cpu), "-d", str(dur), "--json"))
            pps = window_rate(read, self.cfg.window)
            gs = last_json(g.communicate(timeout=dur + 60)[0])
        finally:
            stop(sink)
        return {"backend": backend, "batch": batch, "pps": pps, "ns_per_pkt": gs["ns_per_pkt"],
                "cpu_ns_per_pkt": gs["cpu_ns_per_pkt"], "user_ns_per_pkt": gs["user_ns_per_pkt"],
                "sys_ns_per_pkt": gs["sys_ns_per_pkt"], "syscalls_per_pkt": gs["syscalls_per_pkt"],
                "agreement": agree(gs["packets"], read() - x0)}

    def _peer(self, topo, read, cmd: str) -> float:
        """A peer sending the same 64-byte UDP frames. trafgen and sockperf are counted like our
        senders (the peer's XDP counters); iperf3 needs its TCP control connection to reach a
        server through the stack, so it is counted at the sending veth's own TX counter."""
        a, b = topo.wires[0].a, topo.wires[0].b
        gen_ns, sink_ns = topo.netns("gen"), topo.netns("sink")
        dur = self.cfg.window + 1.5
        sink = None
        if cmd != "iperf3":
            sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 5), "--json"))
            wait_ready(sink)
        else:
            tx = Where(a.ifname, gen_ns)
            read = lambda: link_stats(tx)["tx_packets"]  # noqa: E731
        procs = []
        try:
            base = ["ip", "netns", "exec", gen_ns, "taskset", "-c", str(self.tx_cpu)]
            with tempfile.TemporaryDirectory() as tmp:
                if cmd == "trafgen":
                    conf = os.path.join(tmp, "udp64.cfg")
                    with open(conf, "w") as f:
                        f.write(f"{{ eth(da={b.mac}, sa={a.mac}), ipv4(saddr={a.address}, daddr={b.address}, ttl=64), "
                                f"udp(sport=9, dport=9), fill(0x00, 18) }}\n")
                    procs.append(start(base + ["trafgen", "--dev", a.ifname, "--conf", conf, "-P1", "--cpu",
                                               str(self.tx_cpu), "-n", "0"]))
                elif cmd == "iperf3":
                    procs.append(start(["ip", "netns", "exec", sink_ns, "taskset", "-c", str(self.rx_cpu), "iperf3",
                                        "-s", "-1", "-B", b.address]))
                    time.sleep(0.5)
                    procs.append(start(base + ["iperf3", "-u", "-c", b.address, "-b", "0", "-l", "18", "-t",
                                               str(int(dur) + 1), "-B", a.address]))
                else:
                    procs.append(start(base + ["sockperf", "tp", "-i", b.address, "-p", "9", "-m", "18", "-t",
                                               str(int(dur) + 1)]))
                return window_rate(read, self.cfg.window)
        finally:
            for p in procs:
                stop(p)
            if sink is not None:
                stop(sink)

    def receive(self) -> dict:
        """Every receive backend fed by the fastest generator here (the in-kernel one) as fast as it goes."""
        topo = lab.pair(self.cfg.lab_name)
        rx = Where(topo.wires[0].b.ifname, topo.netns("sink"))
        rows = []
        with lab.Lab(topo):
            for rep in range(self.cfg.reps):
                for backend in sorted(ports.names(receive=True), key=lambda n: not ports.backend(n).in_kernel):
                    if backend in self.refused:
                        continue
                    self.progress("receive", f"{backend} (run {rep + 1})")
                    rows.append(self._receive(topo, rx, backend))
        out = {}
        for r in rows:
            out.setdefault(r["backend"], []).append(r)
        return {"caption": "The talk: dropping right after receive ran at ~6.5 Mpps (~9 with fixes); today XDP drops "
                           "~24 Mpps per core and AF_XDP delivers ~20+ Mpps. Here: each receiver fed by gen "
                           f"--backend {self.feeder} on the other CPU, as fast as it goes; the in-kernel drop-and-count is the "
                           "ceiling line.",
                "backends": {be: {"received_pps": med([x["received_pps"] for x in xs]),
                                  "offered_pps": med([x["offered_pps"] for x in xs]),
                                  "loss": med([x["loss"] for x in xs]), "agreement": xs[-1]["agreement"]}
                             for be, xs in out.items()}}

    def _receive(self, topo, rx: Where, backend: str) -> dict:
        dur = self.cfg.window + 1.5 + DROPS_S
        sink = start(ws("sink", "--lab-name", topo.name, "--backend", backend, "--cpu", str(self.rx_cpu), "-d",
                        str(dur + 3), "--json"))
        try:
            wait_ready(sink)
            g = start(ws("gen", "--lab-name", topo.name, "--backend", self.feeder, "--cpu", str(self.tx_cpu), "-d",
                         str(dur), "--json"))
            i0 = link_stats(rx)["rx_packets"]
            gs = last_json(g.communicate(timeout=dur + 60)[0])
            time.sleep(0.3)
        finally:
            s = last_json(stop(sink)[0])
        offered = link_stats(rx)["rx_packets"] - i0
        own = s["packets"]
        secs = s.get("active_seconds") or gs["seconds"]
        return {"backend": backend, "received_pps": s["packets"] / secs if secs else 0.0,
                "offered_pps": gs["packets"] / gs["seconds"] if gs["seconds"] else 0.0,
                "loss": 1 - min(1.0, own / max(1, offered)), "agreement": agree(gs["packets"], offered)}

    def queueing(self) -> dict:
        from wirespeed import core

        rows = []
        for b in [1, 2, 4, 8, 16, 32, 64, 128, 256]:
            self.progress("queueing", f"batch {b}")
            row = {"batch": b}
            for name, bulk, bypass in (("no_bulk", False, False), ("bulk", True, False), ("bulk_bypass", True, True)):
                n = 2_000_000 if self.cfg.full else 400_000
                cycles, ns, done, locks = core.qdisc_bench(bulk, bypass, b, n)
                row[name] = {"ns_per_pkt": ns / done, "lock_ops_per_pkt": locks / done}
            rows.append(row)
        return {"caption": "The talk: a qdisc enqueue+dequeue took 6 LOCK operations, 48 ns of its 58-68 ns per "
                           "packet; bulk dequeue takes the lock once per batch, and an empty queue is bypassed "
                           "without any. Here: wirespeed's qdisc, one thread, LOCK operations and ns per packet.",
                "rows": rows}

    def memory(self) -> dict:
        from wirespeed import core

        micro = {}
        n = 2_000_000 if self.cfg.full else 400_000
        for label, pattern in (("reuse", 0), ("256_then_256", 1)):
            for b in (1, 16):
                self.progress("memory", f"pool {label} bulk {b}")
                cycles, ns, done, locks = core.pool_bench(pattern, b, n, 64)
                micro[f"pool_{label}_bulk{b}"] = ns / done
            op = "malloc_free" if pattern == 0 else "malloc_free_256"
            cycles, ns, done = core.timebench(op, n)
            micro[f"malloc_{label}"] = ns / done
        fwd = {}
        topo = lab.chain(self.cfg.lab_name)
        with lab.Lab(topo):
            for buffers in ("pool", "malloc"):
                self.progress("memory", f"forwarding with {buffers} buffers")
                fwd[buffers] = self._forward(topo, ["--buffers", buffers], 64)
        return {"caption": "The talk: qmempool saved ~12 ns per alloc+free in simple tests and up to ~40 ns per "
                           "packet in forwarding, against the slab allocator. Here: glibc malloc+free against "
                           "wirespeed's pool (a per-worker cache in front of an MPMC ring), alone and inside the "
                           "forwarder (per-packet malloc'd buffers against pool buffers).",
                "micro_ns": micro, "forwarding": fwd}

    def _forward(self, topo, extra: list[str], batch: int, linux: bool = False) -> dict:
        """Forwarded rate through the chain lab's middle, fed by the in-kernel generator at 3 Mpps,
        counted at the sink's veth (XDP counters)."""
        rx = Where(topo.wires[1].b.ifname, topo.netns("sink"))
        read = lambda: xdp_stats(rx).get("xdp_packets", 0)  # noqa: E731
        dur = self.cfg.window + 1.5 + DROPS_S
        sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 6), "--json"))
        fwd = None
        try:
            wait_ready(sink)
            if linux:
                lab.route(topo)
            else:
                fwd = start(ws("fwd", "--lab-name", topo.name, "--cpu", str(self.rx_cpu), "-b", str(batch), "-d",
                               str(dur + 3), *extra, "--json"))
                wait_ready(fwd)
            g = start(ws("gen", "--lab-name", topo.name, "--backend", self.feeder, "--dst-ip", topo.wires[1].b.address,
                         "--cpu", str(self.tx_cpu), "-r", "3mpps", "-d", str(dur), "--json"))
            pps = window_rate(read, self.cfg.window)
            dropped = self._drops_now(topo, rx)
            g.communicate(timeout=dur + 60)
        finally:
            f = last_json(stop(fwd)[0]) if fwd is not None else None
            stop(sink)
            if linux:
                with lab.enter_netns(topo.netns("fwd")):
                    lab._sysctl("net/ipv4/ip_forward", "0")
        out = {"pps": pps, "drops": dropped}
        if f:
            out.update(cpu_ns_per_pkt=f["cpu_ns_per_pkt"], rx_ns_per_pkt=f["rx_ns_per_pkt"],
                       tx_ns_per_pkt=f["tx_ns_per_pkt"], forwarded=f["tx"])
        return out

    @functools.cached_property
    def _may_count_drops(self) -> bool:
        from wirespeed.tools import drops

        try:
            drops.require_caps()
            drops.Counter().close()
            return True
        except WirespeedError as e:
            self.note(f"where forwarding drops frames is left out: {e}")
            return False

    def _drops_now(self, topo, counted_at: Where) -> list[dict]:
        """Where the lab drops frames right now, the top three reasons: counted for DROPS_S after
        the rate's window, never during it (the counter costs each drop ~0.1 µs)."""
        from wirespeed.tools import drops

        if not self._may_count_drops:
            return []
        return drops.top(drops.count_for(DROPS_S, tuple(topo.netns(n) for n in topo.nodes), counted_at))

    def forwarding(self) -> dict:
        topo = lab.chain(self.cfg.lab_name)
        rows = []
        with lab.Lab(topo):
            for rep in range(self.cfg.reps):
                for b in self.cfg.batches:
                    for hook in (None, "mac-swap"):
                        self.progress("forwarding", f"fwd batch {b} {'hook ' + hook if hook else 'no hook'}")
                        r = self._forward(topo, ["--hook", hook] if hook else [], b)
                        rows.append({"batch": b, "hook": hook or "none", **r})
                self.progress("forwarding", "Linux IP forwarding")
                rows.append({"batch": None, "hook": "linux", **self._forward(topo, [], 64, linux=True)})
            searches = {}
            for dut in ("kernel", "fwd"):
                self.progress("forwarding", f"NDR/PDR search of {dut}")
                searches[dut] = self._search(topo, dut)
        table = {}
        for r in rows:
            key = "linux" if r["hook"] == "linux" else f"{r['hook']}@{r['batch']}"
            table.setdefault(key, []).append(r["pps"])
        return {"caption": "The talk: kernel forwarding ran at 1-2 Mpps per core, bypass systems ~15 Mpps. Here: "
                           "wirespeed fwd (AF_PACKET both ends, one CPU, with and without a numpy hook) against "
                           f"Linux IP forwarding in the same chain lab, fed at 3 Mpps by gen --backend {self.feeder}; "
                           "and the NDR and PDR of both (RFC 9971, quick preset). Drops: the kernel's reasons "
                           f"(wirespeed drops' counter) over {DROPS_S:g} s after each rate's window, and over every "
                           "trial of each search. An AF_PACKET forwarder takes a copy of each frame: the router's own "
                           "stack still receives the frame and, forwarding being off there, drops it (IP_INADDRERRORS "
                           "at ip_error): work beside fwd's, not a lost frame.",
                "rows": rows, "pps": {k: med(v) for k, v in table.items()}, "search": searches}

    def _search(self, topo, dut: str) -> dict:
        r = subprocess.run(ws("search", "--lab-name", topo.name, "--dut", dut, "--no-latency", "--json"),
                           capture_output=True, text=True, timeout=300)
        if dut == "kernel":
            with lab.enter_netns(topo.netns("fwd")):
                lab._sysctl("net/ipv4/ip_forward", "0")
        if r.returncode:
            return {"skipped": r.stderr.strip()[-300:]}
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        goals = [g for g in lines if g.get("type") == "goal"]
        reasons: dict[str, int] = {}
        for t in lines:  # where the trials' loss went, over the whole search
            for k, v in (t.get("loss_reasons") or {}).items() if t.get("type") == "trial" else ():
                reasons[k] = reasons.get(k, 0) + v
        lost = sum(reasons.values())
        top = [{"where": k, "count": v, "share": round(v / lost, 4)}
               for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]]
        return {g["goal"]: {"pps": g["conditional_throughput"]["pps"], "regular": g["regular"],
                            "irregular_because": g["irregular_because"],
                            "tester_pps": g.get("tester_ceiling_pps") or g.get("tester_back_to_back_pps"),
                            "tester_bound_trials": g.get("tester_bound_trials"), "loss_reasons": top} for g in goals}

    def latency(self) -> dict:
        topo = lab.pair(self.cfg.lab_name)
        rows = []
        floors = []
        with lab.Lab(topo):
            self.progress("latency", "the sender's ceiling")
            top = self._gen_sink(topo, None, 64, 1.0)["received_pps"]
            for rep in range(self.cfg.reps):
                self.progress("latency", "the tester's floor")
                floors.append(self._gen_sink(topo, FLOOR_SHARE * top, 1, self.cfg.window + 0.5, kernel_stamps=True))
                for frac in (0.1, 0.5, 0.9):
                    for b in (1, 64):
                        self.progress("latency", f"{int(frac * 100)} % batch {b}")
                        r = self._gen_sink(topo, frac * top, b, self.cfg.window + 0.5)
                        rows.append({"fraction": frac, "batch": b, **r})
        groups = {}
        for r in rows:
            groups.setdefault((r["fraction"], r["batch"]), []).append(r)
        floor = {k: med([x[k] for x in floors]) for k in ("p50_ns", "p99_ns", "kernel_tx_p50_ns", "kernel_tx_p99_ns",
                                                             "send_delay_p50_ns")}
        return {"caption": "The talk: batch what is already there, never wait speculatively for the next packet: "
                           "batching must not buy throughput with latency. Here: one-way latency (gen to sink over "
                           "one veth pair, AF_PACKET both ends) at 10, 50 and 90 % of the sender's ceiling, -b 1 "
                           "against -b 64, in ns: from the frames' own stamps (user space's clock, ns, once per "
                           "batch) to the kernel's receive stamp. The dotted line is the tester's floor: the same "
                           f"pair at {int(100 * FLOOR_SHARE)} % of the ceiling, -b 1, from the kernel's transmit "
                           "stamps (gen --tx-stamps, joined per frame by the sink: the sender's own delay in user "
                           "space, its batch and its send call taken off): what the veth and the receiver cost, "
                           "the least any path measured by this tester can show. Errors: frames the sink found "
                           "with a wrong checksum or a sequence number its stream did not confirm (0 on a clean "
                           "path).",
                "ceiling_pps": top, "floor": {**floor, "pps": FLOOR_SHARE * top, "runs": floors},
                "stamps": {"send": rows[0].get("send_stamp") if rows else None,
                           "receive": rows[0].get("receive_stamp") if rows else None},
                "rows": [{"fraction": f, "batch": b, **{k: med([x[k] for x in xs]) for k in
                                                         ("p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "received_pps")},
                          "lost": sum(x["lost"] for x in xs), "errors": sum(x["errors"] for x in xs)}
                         for (f, b), xs in sorted(groups.items())]}

    def _gen_sink(self, topo, rate: float | None, batch: int, seconds: float, kernel_stamps: bool = False) -> dict:
        """gen into sink over the pair; kernel_stamps: the kernel's transmit stamps read and joined."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            joined = ["--tx-stamps", f"{tmp}/tx.npy"] if kernel_stamps else []
            stamp = [] if kernel_stamps else ["--timestamps", "user"]  # each row alike, whatever its rate
            sink = start(ws("sink", "--lab-name", topo.name, "--cpu", str(self.rx_cpu), "-d", str(seconds + 3),
                            "--json", *joined))
            try:
                wait_ready(sink)
                args = ["-r", f"{rate:.0f}pps"] if rate else []
                g = start(ws("gen", "--lab-name", topo.name, "--cpu", str(self.tx_cpu), "-b", str(batch), "-d",
                             str(seconds), *args, "--json", *joined, *stamp))
                g.communicate(timeout=seconds + 60)
                time.sleep(0.2)
            finally:
                s = last_json(stop(sink)[0])
        k = s.get("lat_kernel_tx") or {}
        return {"received_pps": s["pps"], "p50_ns": s["p50_ns"], "p90_ns": s["p90_ns"], "p99_ns": s["p99_ns"],
                "p99_9_ns": s.get("p99_9_ns", s.get("p99.9_ns")), "lost": s["lost"] or 0,
                "send_stamp": s.get("lat_send_stamp"), "receive_stamp": s.get("lat_receive_stamp"),
                "kernel_tx_p50_ns": k.get("p50_ns"), "kernel_tx_p99_ns": k.get("p99_ns"),
                "send_delay_p50_ns": k.get("send_delay_p50_ns"),
                "errors": sum(s.get(k) or 0 for k in ("seq_too_high", "seq_too_low", "ip_csum_errors", "udp_csum_errors"))}

    def where(self) -> dict:
        """Per packet, for each transmit backend at batch 64: our C work, system calls at their
        measured cost, and the kernel's time (CPU time minus both), against the budget."""
        tx = self.results.get("transmit", {}).get("data", {}).get("backends")
        prof = self.results.get("_profile")
        if not tx or not prof:
            raise WirespeedError("needs the transmit and budget sections in the same run")
        syscall = next(p["ns"] for p in prof["profile"] if p["key"] == "getppid")
        rows = []
        for be, per in tx.items():
            r = per.get("64") or next(iter(per.values()))
            user, system = r["user_ns_per_pkt"]["median"], r["sys_ns_per_pkt"]["median"]
            calls = r["syscalls_per_pkt"]["median"]
            if user is None or system is None or calls is None:
                continue
            sys_ns = calls * syscall
            rows.append({"backend": be, "cpu_ns": user + system, "user_ns": user, "syscall_ns": sys_ns,
                         "kernel_ns": max(0.0, system - sys_ns), "syscalls_per_pkt": calls,
                         "data_path_ns": r["ns_per_pkt"]["median"]})
        self._stages(rows)
        return {"caption": "The talk: two cache misses or one system call per packet exhaust the 10G budget. "
                           "Here, per packet at batch 64, for each transmit backend, the sender's CPU time split: "
                           "user time (our C loop building frames and filling rings, and Python once per slice), "
                           "the system calls at their measured cost (entering and leaving the kernel), and the "
                           "rest of the system time; then the same time stage by stage, the kernel's included "
                           "(gen --profile: the sender's CPU sampled at 997 Hz, each sample named by the kernel "
                           "function it interrupted), against the 67.2 ns budget.",
                "syscall_ns": syscall, "budget_ns": prof["selected"]["ns"], "rows": rows}

    def _stages(self, rows: list[dict]) -> None:
        """Each backend's CPU time by stage: gen --profile at batch 64 into XDP drop on the peer."""
        topo = lab.pair(self.cfg.lab_name)
        with lab.Lab(topo):
            for r in rows:
                if ports.backend(r["backend"]).in_kernel:
                    continue  # its time is BPF_PROG_RUN's, on no sampled worker CPU of its own
                self.progress("where", f"{r['backend']} --profile")
                dur = self.cfg.window + 1.0
                sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 4),
                                "--json"))
                try:
                    wait_ready(sink)
                    g = start(ws("gen", "--lab-name", topo.name, "--backend", r["backend"], "-b", "64", "--cpu",
                                 str(self.tx_cpu), "-d", str(dur), "--profile", "--json"))
                    p = last_json(g.communicate(timeout=dur + 60)[0]).get("profile")
                finally:
                    stop(sink)
                if p:
                    r["stages"] = {st["name"]: st["ns_per_pkt"] for st in p["stages"]}
                    r["profile_sum_ns"], r["profile_cpu_ns"] = p["sum_ns_per_pkt"], p["cpu_ns_per_pkt"]
                    r["top_functions"] = [(x["name"], x["ns_per_pkt"]) for x in p["symbols"][:5]]


def run(cfg: BenchConfig, progress, note) -> dict:
    """Measure the sections asked for; on Ctrl-C, what finished (the rest marked interrupted)."""
    from wirespeed.runner.record import record

    check(cfg)
    lab.require_root("wirespeed bench (it builds its own lab)")
    b = Bench(cfg, progress, note)
    results = {"format": "wirespeed-bench-results", "mode": "full" if cfg.full else "quick",
               "record": record({"sections": list(cfg.sections), "full": cfg.full}),
               "sections": {}}
    need_peers = "transmit" in cfg.sections
    b.results["_peers"] = ensure_peers(cfg.install, note) if need_peers else {}
    results["peers"] = {cmd: (version_of(cmd) if why is None else None) for cmd, why in b.results["_peers"].items()}
    t0 = time.monotonic()
    try:
        for name in SECTIONS:
            if name not in cfg.sections:
                results["sections"][name] = {"status": "skipped", "why": "not asked for (--sections)"}
                continue
            s0 = time.monotonic()
            try:
                data = getattr(b, name)()
                results["sections"][name] = {"status": "done", "seconds": time.monotonic() - s0, "data": data}
                b.results[name] = results["sections"][name]
            except WirespeedError as e:
                results["sections"][name] = {"status": "skipped", "why": str(e)}
            except (OSError, ValueError, KeyError, TypeError, StopIteration, subprocess.SubprocessError) as e:  # a bug or a
                # broken peer: the section says so and the others still run
                results["sections"][name] = {"status": "skipped", "why": f"failed: {type(e).__name__}: {e}"}
    except KeyboardInterrupt:
        for name in cfg.sections:
            results["sections"].setdefault(name, {"status": "skipped", "why": "interrupted (Ctrl-C) before it ran"})
        results["interrupted"] = True
    finally:
        try:
            lab.down(cfg.lab_name)
        except WirespeedError:
            pass
    results["seconds"] = time.monotonic() - t0
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if cfg.compare is not None:
        results["compare"] = {"finished": cfg.compare.get("finished"), "mode": cfg.compare.get("mode")}
    return results
