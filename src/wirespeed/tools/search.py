"""`wirespeed search`: the zero-loss and partial-loss throughput of a path, by RFC 9971
(Multiple Loss Ratio Search), with latency at fractions of it and the place every lost packet
went.

Roles as RFC 9971 names them: the Controller is FD.io CSIT's own implementation, the MLRsearch
package (it picks each trial's load and duration); this module is the Manager (sets the path
up, calibrates the tester, reports) and the Measurer (one trial). The generator and the
receiver are started once and stay up: a trial is a command to their workers (TrialGenStep),
not a process start. A trial sends exactly load × duration frame slots, paced (send what is due,
bounded catch-up); after the generator is done the receiver's count is read once it has been
still for SETTLE_S (at most --trial-wait). A trial whose generator fell short by more than 0.5 %
counts the shortfall as loss and is marked tester-bound, as RFC 9971 asks.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from wirespeed import core, ports
from wirespeed.base import values as V
from wirespeed.base.errors import KernelFeatureError, UsageError, WirespeedError
from wirespeed.base.option import BATCH, PROFILE, Option, Options
from wirespeed.base.netdev import xdp_stats
from wirespeed.base.netns import Where
from wirespeed.base.units import WIRE_OVERHEAD, FrameMix, Rate
from wirespeed.runner import stamps, stats
from wirespeed.runner.driver import Run
from wirespeed.tools import gen as genmod
from wirespeed.tools import sink as sinkmod

SHORTFALL = 0.005  # a generator this far below its intended count makes the trial tester-bound
# A tester that fell short of a trial (nothing lost by the DUT) is tried this many times at that
# load before the trial counts as beyond it; STALLED_TRIES when every shortfall came of stalls:
# the tester behind its schedule for less than STALL_BEHIND of the trial (stopped a few ms now
# and then, then caught up), not all along (too slow for the load). On these VMs the host takes
# a CPU away for 3-11 ms at a time (the guest's steal time: 20-30 ms per 9 s run on the
# tester's CPU); measured in 63 searches through a 200 kpps bucket, the stalled trials were
# behind for 13-82 ms of 200-500, a tester too slow for its load (-b 1) for 181-202 of 200.
TESTER_TRIES, STALLED_TRIES, STALL_BEHIND = 2, 4, 0.25
CEILING_MARGIN = 0.1  # a max load lowered to the tester's demonstrated rate keeps this far below it
RESTARTS = 8  # searches restarted with a lower max load before the tester is said to be unusable here
SETTLE_S = 0.02  # the receiver's count still this long: the path is drained
CALIBRATION_SETTLE_S = 0.2  # after the unpaced calibration: its last frames leave the path
LATENCY_FRACTIONS = (0.0, 0.1, 0.5, 0.9)  # of each goal's throughput; 0 is an idle path (one slow trial)
IDLE_PPS = 1000.0
RECEIVED_NOT = ("duplicated", "malformed", "seq_too_high", "seq_too_low")  # in pktgen, not received


@contextmanager
def _named(flag: str):
    """A part the search runs (its forwarder, its receiver) says --backend in its errors; the
    search's own option for that part is `flag`."""
    try:
        yield
    except UsageError as e:
        e.args = (str(e).replace("--backend ", f"{flag} "),)
        raise


class TesterShort(Exception):
    """A trial fell short of its load twice: the tester, not the DUT, set its result."""

    def __init__(self, load: float, offered: float):
        super().__init__(f"the tester sent {offered:,.0f} pps when {load:,.0f} pps were due, twice")
        self.load, self.offered = load, offered


@dataclass(frozen=True)
class Goal:
    name: str
    loss_ratio: float
    exceed_ratio: float = 0.5


@dataclass(frozen=True)
class Preset:
    """Goals and trial durations as a methodology sets them."""

    goals: tuple[Goal, ...]
    initial_trial_duration: float
    final_trial_duration: float
    duration_sum: float
    relative_width: float
    search_duration_max: float
    latency_trial_s: float
    text: str


PRESETS = {
    "quick": Preset((Goal("NDR", 0.0), Goal("PDR", 0.005)), 0.2, 0.5, 1.0, 0.02, 60.0, 1.0,
                    "for the lab: 0.5 s final trials, 1 s of them per load, width 2 %"),
    "csit": Preset((Goal("NDR", 0.0), Goal("PDR", 0.005)), 1.0, 1.0, 21.0, 0.005, 1800.0, 5.0,
                   "FD.io CSIT: 1 s trials, duration sum 21 s, exceed ratio 0.5, width 0.5 %"),
    "rfc2544": Preset((Goal("NDR", 0.0, 0.0),), 60.0, 60.0, 60.0, 0.005, 7200.0, 60.0,
                      "RFC 2544 throughput: 60 s trials, loss 0, every trial counts (exceed ratio 0)"),
    "tst009": Preset((Goal("NDR", 0.0, 0.0), Goal("PDR", 0.001, 0.0)), 1.0, 10.0, 10.0, 0.005, 3600.0, 10.0,
                     "after ETSI GS NFV-TST 009: 10 s final trials, loss 0 and 0.1 %, exceed ratio 0"),
}


def parse_goal(text: str) -> Goal:
    """NAME:LOSS_RATIO[:EXCEED_RATIO], ratios in [0, 1)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise UsageError(f"--goal takes NAME:LOSS_RATIO[:EXCEED_RATIO], got {text!r}")
    try:
        loss = float(parts[1])
        exceed = float(parts[2]) if len(parts) == 3 else 0.5
    except ValueError:
        raise UsageError(f"--goal {text!r}: the ratios are numbers in [0, 1)") from None
    for what, v in (("loss ratio", loss), ("exceed ratio", exceed)):
        if not 0 <= v < 1:
            raise UsageError(f"--goal {text!r}: the {what} must be in [0, 1), got {v}")
    return Goal(parts[0], loss, exceed)



LATENCY_KEYS = {"p50": "p50_ns", "p90": "p90_ns", "p99": "p99_ns", "p99.9": "p99_9_ns", "max": "max_ns"}
TIME_UNITS = {"ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9}


def parse_max_latency(text: str) -> tuple[tuple[str, float], ...]:
    """'p99=50us,p50=10us': latency bounds, (percentile, ns) each."""
    out = []
    for part in str(text).split(","):
        key, sep, value = part.strip().partition("=")
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s)", value.strip())
        if not sep or key not in LATENCY_KEYS or not m:
            raise UsageError(f"--max-latency takes {'|'.join(LATENCY_KEYS)}=TIME[,...] with TIME like 50us, 2ms or "
                             f"800ns, got {text!r}")
        ns = float(m.group(1)) * TIME_UNITS[m.group(2)]
        if ns <= 0:
            raise UsageError(f"--max-latency {part.strip()!r}: a bound above 0")
        out.append((key, ns))
    return tuple(out)


def parse_frames(text: str) -> tuple[FrameMix, ...]:
    """'64', '64,512,1518' or 'imix': the frame sizes searched, each holding the pktgen header."""
    frames = tuple(V.frame_mix(x.strip()) for x in str(text).split(","))
    for f in frames:
        genmod.check_frame(f, False, True)
    return frames


PATH, METHOD, TESTER = "the path under test", "method (RFC 9971)", "tester"

# search's options, written once (see tools/gen.py's table); where the search runs (--lab,
# --lab-name, or --tx and --rx) is among them, as the path.
OPTIONS = Options(
    "search",
    Option("dut", ("--dut",), "none", "in the lab: none (gen and sink back to back: the tester's own ceiling), "
           "kernel (Linux IP forwarding in the middle), fwd (wirespeed fwd in the middle); path: your own",
           choices=("none", "kernel", "fwd", "path"), metavar="KIND", group=PATH),
    Option("tx", ("--tx",), None, "your path: the interface to send on", parse=V.text, metavar="IFACE", group=PATH),
    Option("tx_netns", ("--tx-netns",), None, "the namespace --tx lives in", parse=V.text, metavar="NS",
           group=PATH),
    Option("rx", ("--rx",), None, "your path: the interface to receive on", parse=V.text, metavar="IFACE",
           group=PATH),
    Option("rx_netns", ("--rx-netns",), None, "the namespace --rx lives in", parse=V.text, metavar="NS",
           group=PATH),
    genmod.OPTIONS["src_mac"].but(group=PATH),
    genmod.OPTIONS["dst_mac"].but(help="your path: the MAC of the DUT's ingress", group=PATH),
    Option("src_ip", ("--src-ip",), None, "default 198.18.0.1", parse=V.text, group=PATH),
    genmod.OPTIONS["vlan"].but(help="the frames carry this 802.1Q tag (two: QinQ), as gen --vlan", group=PATH),
    genmod.OPTIONS["pcp"].but(group=PATH),
    genmod.OPTIONS["mpls"].but(help="the frames carry these MPLS labels, as gen --mpls", group=PATH),
    genmod.OPTIONS["proto"].but(group=PATH),
    genmod.OPTIONS["tcp_flags"].but(group=PATH),
    genmod.OPTIONS["vxlan"].but(help="the frames go in VXLAN with this VNI, as gen --vxlan (the outer header between "
                                     "the path's two ends: its MACs and addresses; the receiver counts the frame "
                                     "inside)", group=PATH),
    genmod.OPTIONS["geneve"].but(help="the frames go in GENEVE with this VNI, as gen --geneve", group=PATH),
    genmod.OPTIONS["gre"].but(help="the frames go in GRE, as gen --gre", group=PATH),
    genmod.OPTIONS["outer_sport"].but(group=PATH),
    Option("dst_ip", ("--dst-ip",), None, "default 198.18.1.2 (the lab's sink)", parse=V.text, group=PATH),
    ports.choice("fwd_backend", ("--fwd-backend",), "--dut fwd: its backend; ", forward=True).but(group=PATH),
    Option("hook", ("--hook",), None, "--dut fwd: its per-batch hook (the API: a callable too)", parse=V.text,
           metavar="SPEC", group=PATH),
    Option("preset", ("--preset",), "quick", "quick (the lab, <= 60 s), csit (1 s trials, sum 21 s, width 0.5 %%), "
           "rfc2544 (60 s trials, loss 0), tst009 (10 s trials, loss 0 and 0.1 %%)", choices=tuple(PRESETS),
           group=METHOD),
    Option("goal", ("--goal",), None, "a goal instead of the preset's (repeatable), e.g. NDR:0 PDR:0.005:0.5",
           parse=parse_goal, metavar="NAME:LOSS[:EXCEED]", many=True, group=METHOD),
    Option("final_trial_duration", ("--final-trial-duration",), None, "the preset's final trial duration instead",
           parse=V.duration, metavar="T", group=METHOD),
    Option("duration_sum", ("--duration-sum",), None, "the preset's duration sum instead", parse=V.duration,
           metavar="T", group=METHOD),
    Option("width", ("--width",), None, "relative width of the result (0.005 = 0.5 %%)", parse=V.real,
           metavar="R", group=METHOD),
    Option("min_load", ("--min-load",), None, "the lowest load tried", parse=V.rate, number=V.pps, metavar="RATE",
           group=METHOD),
    Option("max_load", ("--max-load",), None, "default: 95 %% of the generator's own back-to-back rate, measured "
           "first", parse=V.rate, number=V.pps, metavar="RATE", group=METHOD),
    Option("link", ("--link",), None, "line rate (loads are clamped to it)", parse=V.link_bps, number=V.bps, metavar="SPEED",
           group=METHOD),
    Option("trial_wait", ("--trial-wait",), 0.5, "the most to wait for the path to drain after a trial (default "
           "0.5 s)", parse=V.duration, metavar="T", group=METHOD),
    Option("latency", ("--no-latency",), True, "skip the latency trials", group=METHOD),
    Option("floor", ("--no-floor",), True, "skip the tester's own latency (its generator straight into its "
           "receiver, on a veth pair of its own, same backends, CPUs and loads), measured after each frame size's "
           "latency trials and shown beside them", group=METHOD),
    Option("max_latency", ("--max-latency",), None, "latency-bounded goals: a trial whose latency percentiles "
           "pass these bounds fails its goals as a lossy one does (TRex ndr's --max-latency), e.g. p99=50us,p50=10us "
           "(p50, p90, p99, p99.9, max); every trial then reads the stamps (and the kernel's transmit stamps where "
           "the tester can)", parse=parse_max_latency, metavar="P=TIME[,...]", group=METHOD),
    Option("size", ("-s", "--size"), "64", "frame sizes incl. FCS: 64, 64,512,1518 or imix", parse=parse_frames,
           group=TESTER),
    ports.choice(transmit=True, help="the generator's backend (kernel: no latency, its frames carry no time): "
                 ).but(group=TESTER),
    ports.choice("rx_backend", ("--rx-backend",), "the receiver's backend; auto (default): in the lab, throughput "
                 "trials counted in the kernel (xdp-count: exact and the cheapest on the tester's CPU), latency "
                 "trials with afpacket; ", extra=("auto",), receive=True, payload_only=False).but(group=TESTER),
    BATCH.but(group=TESTER),
    genmod.OPTIONS["max_burst"].but(default=None, help="the generator's catch-up bound after a stall, frames "
                                    "(default: the frames due in 2 ms, 32 to 1024: a tester that skips the slots a "
                                    "1 ms stall of its CPU cost falls short of loads far below its ceiling)",
                                    group=TESTER),
    Option("cpu", ("--cpu",), None, "the tester's CPU (generator and receiver); in the lab the DUT (--dut kernel, "
           "fwd) gets the other CPUs: RPS on its ingress, fwd pinned", parse=V.cpu, group=TESTER),
    Option("place", ("--no-place",), True, "leave the lab's CPUs as they are (the DUT's receive work then runs on "
           "the tester's CPU)", group=TESTER),
    ports.OPTIONS["prepare_peer"].but(tools=(), group=TESTER,
                                      help="kernel: " + ports.OPTIONS["prepare_peer"].raw_help),
    PROFILE.but(help="each trial's CPU time by kernel stage (every CPU sampled, tester's and DUT's, cpu-clock "
                     "at 997 Hz), in ns per frame sent, and the top functions"),
)

@dataclass
class SearchConfig:
    """What to search and where. The path's two ends: the generator's interface `tx` and the
    receiver's `rx`, with the DUT between them (in the lab: none, Linux forwarding, or fwd)."""

    tx: Where
    rx: Where
    gen: genmod.GenConfig  # the template (its `where` is tx); rate and count are the search's
    dut: str = "none"  # none | kernel | fwd | path (the user's own, between named interfaces)
    preset: str = "quick"
    goals: tuple[Goal, ...] = ()  # empty: the preset's
    final_trial_duration: float | None = None
    duration_sum: float | None = None
    relative_width: float | None = None
    min_load: float | None = None  # pps
    max_load: float | None = None  # pps; default: the generator's own back-to-back rate
    line_rate_pps: float | None = None
    trial_wait: float = 0.5
    rx_backend: str = "auto"  # auto: the cheapest exact counter for throughput, a stamping receiver for latency
    latency: bool = True
    max_latency: tuple = ()  # (percentile, ns) bounds: a trial past one fails its goals (latency-bounded search)
    floor: bool = True  # the tester's own latency measured beside the path's (tester_floor)
    fwd: object = None  # a fwd.FwdConfig when dut == fwd
    hops: list = field(default_factory=list)  # (name, Where) of the interfaces along the path
    rx_cpus: list[int] | None = None  # the receiver's CPUs (the tester's, when the DUT has its own)
    profile: bool = False  # each trial sampled: its time by kernel stage (runner.profiler)


def check(cfg: SearchConfig) -> None:
    if cfg.preset not in PRESETS:
        raise UsageError(f"--preset must be one of {', '.join(PRESETS)}, got {cfg.preset!r}")
    if cfg.min_load is not None and cfg.max_load is not None and cfg.min_load >= cfg.max_load:
        raise UsageError(f"--min-load ({cfg.min_load:,.0f} pps) must be below --max-load ({cfg.max_load:,.0f} pps)")
    if not 0 <= cfg.trial_wait <= 60:
        raise UsageError(f"--trial-wait must be 0..60 s, got {cfg.trial_wait}")
    for name, v in (("--final-trial-duration", cfg.final_trial_duration), ("--duration-sum", cfg.duration_sum)):
        if v is not None and not 0 < v <= 3600:
            raise UsageError(f"{name} must be more than 0 and at most 3600 s, got {v}")
    if cfg.relative_width is not None and not 0 < cfg.relative_width < 1:
        raise UsageError(f"--width must be in (0, 1), got {cfg.relative_width}")
    b = ports.backend(cfg.gen.backend)
    if cfg.max_latency and not b.timestamps:
        raise UsageError(f"--max-latency: --backend {b.name} frames carry no send time; use "
                         f"{' or '.join(ports.names(transmit=True, timestamps=True))}")
    if cfg.max_latency and cfg.rx_backend != "auto" and ports.backend(cfg.rx_backend).in_kernel:
        raise UsageError(f"--max-latency: --rx-backend {cfg.rx_backend} counts in the kernel and reads no stamp; "
                         f"use {' or '.join(ports.names(receive=True, in_kernel=False, payload_only=False))}")
    if cfg.latency and not b.timestamps:
        cfg.latency = False  # said in the report: its frames carry no send time


def goals_of(cfg: SearchConfig):
    """The MLRsearch goals: the preset's, or the user's with the preset's durations."""
    from MLRsearch import SearchGoal

    p = PRESETS[cfg.preset]
    final = cfg.final_trial_duration or p.final_trial_duration
    dsum = max(cfg.duration_sum or p.duration_sum, final)
    return [(g, SearchGoal(loss_ratio=g.loss_ratio, exceed_ratio=g.exceed_ratio,
                           relative_width=cfg.relative_width or p.relative_width,
                           initial_trial_duration=min(p.initial_trial_duration, final),
                           final_trial_duration=final, duration_sum=dsum, preceding_targets=2,
                           expansion_coefficient=2, fail_fast=False))
            for g in (cfg.goals or p.goals)]


# -- the path's counters: where the loss went ------------------------------------------------------

def _softnet() -> np.ndarray:
    """Per CPU: (dropped, time_squeeze) from /proc/net/softnet_stat (hex columns 2 and 3)."""
    rows = []
    try:
        with open("/proc/net/softnet_stat") as f:
            for line in f:
                cols = line.split()
                rows.append((int(cols[1], 16), int(cols[2], 16)))
    except (OSError, IndexError, ValueError):
        pass
    return np.array(rows or [(0, 0)], np.uint64)


class PathCounters:
    """Every counter along the path that can count a lost frame, read before and after a trial:
    interface tx_dropped / rx_dropped, qdisc drops, XDP drops, softnet drops and time_squeeze,
    the receiver's ring drops, the forwarder's own drops. One netlink dump per namespace."""

    def __init__(self, hops: list[tuple[str, Where]], drops=None, rx_netns: str | None = None):
        self.hops = hops
        self.by_ns: dict[str | None, list[tuple[str, Where]]] = {}
        for name, w in hops:
            self.by_ns.setdefault(w.netns, []).append((name, w))
        self.drops, self.rx_netns = drops, rx_netns  # wirespeed drops' counter, when this process may run it
        self.counted_at: Where | None = None  # an in-kernel receiver's interface: its XDP drops are its count
        self.tapped_at: Where | None = None  # a tapping forwarder's ingress: the stack's drops there are copies

    def kernel_drops(self) -> dict[str, int]:
        """Every skb the kernel dropped in the path's namespaces so far, by place and reason:
        'kernel drop: NETNS DEV REASON (function)'. Frames the receiver already counted and the
        stack then found no socket for are not loss, nor are those an in-kernel receiver counted
        and then dropped (XDP_DROP: on veth a kfree_skb with no reason, in veth_xdp_rcv_skb), nor
        the originals of frames a tapping forwarder (fwd on AF_PACKET) took, which its namespace's
        stack drops from the IP layer up."""
        if self.drops is None:
            return {}
        from wirespeed.tools import drops

        spaces = {w.netns or "host" for _, w in self.hops}
        out: dict[str, int] = {}
        for r in self.drops.rows(self.drops.read(), tuple(spaces)):
            if r["netns"] == (self.rx_netns or "host") and r["reason"] == "NO_SOCKET":
                continue
            if drops.counted_by(r, self.counted_at) or drops.tapped_copy(r, self.tapped_at):
                continue
            key = f"kernel drop: {r['netns']} {r['dev']} {r['reason']} ({r['function']})"
            out[key] = out.get(key, 0) + r["count"]
        return out

    def read(self) -> dict[str, int]:
        from pyroute2 import IPRoute

        from wirespeed.base.netns import in_netns

        out: dict[str, int] = {}
        for ns, hops in self.by_ns.items():
            try:
                with in_netns(Where("lo", ns)), IPRoute() as ipr:
                    links = {l.get_attr("IFLA_IFNAME"): l for l in ipr.get_links()}
                    qdrops: dict[int, int] = {}
                    for q in ipr.get_qdiscs():
                        st = q.get_attr("TCA_STATS2")
                        basic = st.get_attr("TCA_STATS_QUEUE") if st is not None else None
                        if basic is not None:
                            qdrops[q["index"]] = qdrops.get(q["index"], 0) + int(basic.get("drops", 0))
            except Exception:  # a namespace we cannot read is left out, not guessed
                continue
            for name, w in hops:
                link = links.get(w.ifname)
                if link is None:
                    continue
                s = link.get_attr("IFLA_STATS64")
                out[f"{name} rx"] = int(s.get("rx_packets", 0))
                out[f"{name} tx"] = int(s.get("tx_packets", 0))
                out[f"{name} rx_dropped"] = int(s.get("rx_dropped", 0))
                out[f"{name} tx_dropped"] = int(s.get("tx_dropped", 0))
                out[f"{name} qdisc drops"] = qdrops.get(link["index"], 0)
                x = xdp_stats(w)
                if x:
                    out[f"{name} xdp drops"] = x.get("xdp_drops", 0)
        sn = _softnet()
        out["softnet dropped"] = int(sn[:, 0].sum())
        out["softnet time_squeeze"] = int(sn[:, 1].sum())
        out.update(self.kernel_drops())
        return out


DROP_KEYS = ("rx_dropped", "tx_dropped", "qdisc drops", "xdp drops", "softnet dropped")


def attribute(before: dict, after: dict, extra: dict[str, int], lost: int, counting: tuple[str, ...] = ()) -> dict:
    """The deltas of every drop counter and the hop that lost most: 'where the loss went'.
    counting: counters that count the received frames themselves (an in-kernel receiver's
    XDP 'drops'), never loss."""
    deltas = {k: after[k] - before.get(k, 0) for k in after}
    drops = {k: v for k, v in deltas.items()
             if v and (k.endswith(DROP_KEYS) or k.startswith("kernel drop: ")) and k not in counting}
    drops.update({k: v for k, v in extra.items() if v})
    reasons = {k.removeprefix("kernel drop: "): v for k, v in drops.items() if k.startswith("kernel drop: ")}
    counted = {k: v for k, v in drops.items() if not k.startswith("kernel drop: ")}
    top = max(counted.items(), key=lambda kv: kv[1], default=None)  # the place: a counter of the path
    why = max(reasons.items(), key=lambda kv: kv[1], default=None)  # the kernel's own reason, when counted
    line = None
    if lost > 0:
        if top:
            line = f"{min(100, 100 * top[1] / lost):.0f} % of the loss at {top[0]}"
            if why:
                line += f"; the kernel's reason: {why[0]} ({why[1]:,})"
        elif why:
            line = f"{min(100, 100 * why[1] / lost):.0f} % of the loss at {why[0]}"
        else:
            line = "no counter on the path counted the loss"
    return {"counters": deltas, "drops": drops, "most": line, "reasons": reasons,
            "unexplained": max(0, lost - max(sum(reasons.values()), top[1] if top else 0)) if lost > 0 else 0}


# -- the Measurer ---------------------------------------------------------------------------------

class Measurer:
    """One trial: exactly load × duration frame slots, paced; the receiver read once the path
    has drained. Wraps itself as an MLRsearch AbstractMeasurer (see `controller_measurer`)."""

    def __init__(self, cfg: SearchConfig, gen_run: Run, sink_run: Run, path: PathCounters, frame: FrameMix,
                 fwd_run: Run | None = None, on_trial=lambda rec: None, note=lambda text: None):
        self.cfg, self.g, self.s, self.path, self.frame, self.f = cfg, gen_run, sink_run, path, frame, fwd_run
        self.on_trial, self.note = on_trial, note
        self.profile = cfg.profile
        self.seq = 0
        self.trials: list[dict] = []
        self.last_counters: dict | None = None  # the path drained after each trial: its "after" is the next "before"
        self.receiving(receivers(cfg)[0])

    def receiving(self, backend: str) -> None:
        """The receiver's backend from here on (the throughput trials' counter, the latency
        trials' stamping receiver)."""
        self.in_kernel_rx = ports.backend(backend).in_kernel
        self.path.counted_at = self.cfg.rx if self.in_kernel_rx else None
        if self.path.drops is not None:
            self.path.drops.skip_receiver(self.path.counted_at)

    def _received(self, snap) -> int:
        """Frames that arrived intact and were the stream's own: a repeat, a sequence number the
        stream did not confirm and a failed checksum (not in pktgen) are not received frames."""
        if self.in_kernel_rx:
            return int(snap.port()[core.C["packets"]])
        s = snap.stats[:, : len(sinkmod.S)].sum(axis=0)
        return int(s[sinkmod.S["pktgen"]]) - sum(int(s[sinkmod.S[k]]) for k in RECEIVED_NOT)

    @property
    def kernel_stamps(self) -> bool:
        """Latency trials read the kernel's transmit stamps (the generator's and the receiver's
        records are joined: runner.stamps)."""
        return self.g.records is not None and self.s.records is not None

    def trial(self, duration: float, load: float, kind: str = "search") -> dict:
        n = max(1, int(round(load * duration)))
        t_start = time.monotonic()
        g0, s0 = self.g.snapshot(), self.s.snapshot()
        stamping = (kind == "latency" or bool(self.cfg.max_latency)) and self.kernel_stamps
        if stamping:
            tx0, rx0 = stamps.tx_heads(self.g.records), stamps.rx_heads(self.s.records)
        f0 = self.f.snapshot() if self.f else None
        c0 = self.last_counters or self.path.read()
        profiler = self._profiler()
        self.seq += 1
        ctl = self.g.control
        ctl[genmod.TRIAL_COUNT] = n
        ctl[genmod.TRIAL_INTERVAL_MILLI_NS] = int(round(1e12 / load))
        ctl[genmod.TRIAL_STAMPS] = int(stamping)
        ctl[genmod.TRIAL_SEQ] = self.seq  # last: the workers act on it
        t_send = time.monotonic()
        deadline = t_send + 2 * duration + 5
        while not all(int(w[-1]) == self.seq for w in self.g.stats) and time.monotonic() < deadline:
            if self.g.finished():
                raise self.g.error or WirespeedError("the generator's workers ended during a trial")
            time.sleep(0.001)
        t_sent = time.monotonic()
        done = all(int(w[-1]) == self.seq for w in self.g.stats)
        # drained: everything arrived, or the receiver's count still for SETTLE_S, or trial_wait
        sent_now = int(self.g.snapshot().port()[core.C["packets"]] - g0.port()[core.C["packets"]])
        first = self._received(s0)
        last, still = self._received(self.s.snapshot()), time.monotonic()
        wait_end = t_sent + self.cfg.trial_wait
        while time.monotonic() < wait_end and last - first < sent_now:
            time.sleep(0.002)
            now_count = self._received(self.s.snapshot())
            if now_count != last:
                last, still = now_count, time.monotonic()
            elif time.monotonic() - still >= SETTLE_S:
                break
        t_end = time.monotonic()
        samples = profiler.stop() if profiler is not None else None
        g1, s1 = self.g.snapshot(), self.s.snapshot()
        c1 = self.last_counters = self.path.read()
        sent = int(g1.port()[core.C["packets"]] - g0.port()[core.C["packets"]])
        received = min(self._received(s1) - self._received(s0), sent)
        dep = genmod.departures(g1.stats[:, :-1], t_sent - t_send, 1e9 / load, 1) if done else None
        extra = {}
        if not self.in_kernel_rx:
            extra["receiver ring drops"] = int(s1.port()[core.C["kernel_drops"]] - s0.port()[core.C["kernel_drops"]])
        if self.f is not None:
            from wirespeed.tools import fwd as fwdmod

            f1 = self.f.snapshot()
            d = fwdmod.combined(f1.stats) - fwdmod.combined(f0.stats)
            for k in ("hook_dropped", "qdisc_dropped", "no_buffer"):
                extra[f"fwd {k}"] = int(d[fwdmod.K[k]])
            extra["fwd ring drops"] = int(f1.port(0)[core.C["kernel_drops"]] - f0.port(0)[core.C["kernel_drops"]])
        shortfall = n - sent
        tester_bound = not done or shortfall > SHORTFALL * n
        # A tester that fell short while the DUT itself lost frames: the DUT's loss stands (an
        # upper bound, over what was offered; over veth a DUT whose queue is full holds the
        # sender's buffers, so its overload slows the tester too). A tester that fell short with
        # no loss behind it: RFC 9971 counts the shortfall as loss; measure() repeats the trial
        # and keeps it out of the DUT's result instead.
        dut_lost = sent - received
        lost = dut_lost if dut_lost > 0 or not tester_bound else n - received
        ratio = dut_lost / sent if tester_bound and dut_lost > 0 else lost / n
        counting = tuple(f"{name} xdp drops" for name, w in self.cfg.hops if w == self.cfg.rx) if self.in_kernel_rx \
            else ()
        where = attribute(c0, c1, extra, sent - received, counting)
        rec = {
            "type": "trial", "kind": kind, "trial": len(self.trials) + 1, "frame": self.frame.name,
            "intended_load_pps": load, "intended_duration_s": duration, "intended": n, "sent": sent,
            "received": received, "lost": lost, "loss_ratio": ratio, "tester_bound": tester_bound,
            "dut_lost": dut_lost,
            "offered_pps": sent / (t_sent - t_send) if t_sent > t_send else 0.0,
            "send_s": t_sent - t_send, "drain_s": t_end - t_sent, "overhead_s": (t_send - t_start) + (t_end - t_sent),
            "departures": dep, "tester_stalled": tester_bound and stalled(dep, duration, len(self.g.stats)),
            "loss_at": where["drops"], "most_loss": where["most"], "excluded": False,
            "loss_reasons": where["reasons"], "loss_unexplained": where["unexplained"],
        }
        if not self.in_kernel_rx:
            hist = (s1.stats - s0.stats)[:, len(sinkmod.S): len(sinkmod.S) + core.SINK_HIST].sum(axis=0)
            ds = (s1.stats - s0.stats)[:, : len(sinkmod.S)].sum(axis=0)
            rec["latency"] = latency_of(hist, ds)
            if stamping:  # from the kernel's transmit stamp: the tester's own sending delay apart
                rec["latency_kernel_tx"] = stamps.join(stamps.tx_between(self.g.records, tx0),
                                                       stamps.rx_between(self.s.records, rx0))
            if self.cfg.max_latency:
                rec["latency_exceeded"] = latency_exceeded(rec, self.cfg.max_latency)
            rec["receiver_errors"] = {k: int(ds[sinkmod.S[k]]) for k in ("duplicated", *sinkmod.ERROR_KEYS)
                                      if ds[sinkmod.S[k]]}
        if samples is not None:  # every CPU's time over the trial (sending and draining), per frame sent
            from wirespeed.bpf.btf import kernel_symbols
            from wirespeed.runner.profiler import result

            rec["profile"] = result(samples.by_ip(), kernel_symbols(), sent)
        self.trials.append(rec)
        self.on_trial(rec)
        if len(self.trials) == 1 and sent and not received:
            hops = [k for k, v in where["counters"].items() if k.endswith(" rx") and v > 0]
            raise WirespeedError(f"no frame reached the receiver in the first trial ({sent:,} sent); the last hop that "
                                 f"counted them: {hops[-1] if hops else 'none past the generator'}")
        return rec

    shortfall_is_loss = False  # after the restarts: RFC 9971's way, the tester's shortfall is loss

    def count_shortfall(self) -> None:
        self.shortfall_is_loss = True

    def _profiler(self):
        """--profile: every CPU sampled over one trial; where this process or kernel cannot, one
        note and the search goes on without it."""
        if not self.profile:
            return None
        from wirespeed.runner.profiler import Profiler

        try:
            return Profiler(list(range(os.cpu_count() or 1)))
        except WirespeedError as e:
            self.profile = False
            self.note(f"--profile left out: {e}")
            return None

    def measure(self, duration: float, load: float) -> dict:
        """A trial for the search: one whose tester fell short (beyond SHORTFALL) with nothing
        lost by the DUT is repeated, up to TESTER_TRIES trials in all (STALLED_TRIES while each
        shortfall came of stalls); short every time, all are marked excluded and TesterShort says
        what the tester sent, so that its shortfall never stands as the DUT's loss (the search
        restarts below it). A short trial in which the DUT lost frames stands, with the DUT's
        own loss ratio."""
        rec, short = self.trial(duration, load), []
        while rec["tester_bound"] and not rec["dut_lost"] and not self.shortfall_is_loss:
            short.append(rec)
            if len(short) >= (STALLED_TRIES if all(r["tester_stalled"] for r in short) else TESTER_TRIES):
                for r in short:
                    r["excluded"] = True
                raise TesterShort(load, max(r["offered_pps"] for r in short))
            rec = self.trial(duration, load, kind="repeat")
        return rec

    def controller_measurer(self):
        from MLRsearch import AbstractMeasurer, MeasurementResult

        outer = self

        class _M(AbstractMeasurer):
            def measure(self, intended_duration, intended_load):
                rec = outer.measure(float(intended_duration), float(intended_load))
                # a trial past a latency bound fails its goals as a lossy one does (nothing counts as forwarded)
                ratio = 1.0 if rec.get("latency_exceeded") else rec["loss_ratio"]
                return MeasurementResult(
                    intended_duration=intended_duration, intended_load=intended_load,
                    offered_count=rec["intended"], forwarding_count=rec["intended"] * (1 - ratio),
                    offered_duration=rec["send_s"], duration_with_overheads=rec["send_s"] + rec["overhead_s"],
                    intended_count=rec["intended"])

        return _M()


def stalled(dep: dict | None, duration: float, workers: int = 1) -> bool:
    """A tester's shortfall came of stalls (it was stopped, then caught up): each worker behind
    its schedule for less than STALL_BEHIND of the trial on average. False without departure
    figures (an in-kernel generator's)."""
    behind = (dep or {}).get("behind_ns")
    return behind is not None and behind < STALL_BEHIND * duration * 1e9 * workers


def best_latency(kernel: dict | None, own: dict | None) -> tuple[str, dict]:
    """Latency figures and their source: from the kernel's transmit stamp where they were joined,
    else from the frames' own stamps."""
    if (kernel or {}).get("samples"):
        return "kernel tx", kernel
    return "own stamp", own or {}


def trial_latency(rec: dict) -> tuple[str, dict]:
    """A trial's latency figures and their source (best_latency)."""
    return best_latency(rec.get("latency_kernel_tx"), rec.get("latency"))


def latency_exceeded(rec: dict, bounds) -> str | None:
    """Which --max-latency bound the trial passed ('p99 61.2 µs > 50.0 µs, kernel tx'), or None.
    A trial without a latency sample (nothing arrived) passes none: its loss decides."""
    src, lat = trial_latency(rec)
    for key, ns in bounds:
        v = lat.get(LATENCY_KEYS[key])
        if v is not None and v > ns:
            return f"{key} {v / 1000:,.1f} µs > {ns / 1000:,.1f} µs, {src}"
    return None


def latency_of(hist: np.ndarray, deltas: np.ndarray) -> dict:
    """min/avg/max and percentiles (ns) of one trial's latency samples (their histogram's delta)."""
    n = int(deltas[sinkmod.S["lat_n"]])
    if not n:
        return {"samples": 0}
    lower = stats.hist_lower_bounds()
    nz = np.flatnonzero(hist)
    p = stats.percentiles(hist)
    return {"samples": n, "min_ns": float(lower[nz[0]]), "avg_ns": int(deltas[sinkmod.S["lat_sum_ns"]]) / n,
            "max_ns": float(lower[min(nz[-1] + 1, len(lower) - 1)]), "p50_ns": p["p50_ns"], "p90_ns": p["p90_ns"],
            "p99_ns": p["p99_ns"], "p99_9_ns": p["p99_9_ns"],
            "histogram": {str(int(lower[i])): int(hist[i]) for i in nz}}


# -- the Manager ---------------------------------------------------------------------------------

def rates_of(pps: float | None, frame: FrameMix, line_pps: float | None) -> dict:
    if pps is None:
        return {"pps": None, "l2_mbps": None, "l1_mbps": None, "line_rate_pct": None}
    mean = float(frame.mean_frame)
    return {"pps": pps, "l2_mbps": pps * mean * 8 / 1e6, "l1_mbps": pps * (mean + WIRE_OVERHEAD) * 8 / 1e6,
            "line_rate_pct": 100 * pps / line_pps if line_pps else None}


def goal_result(goal: Goal, search_goal, result, frame: FrameMix, max_load: float, min_load: float,
                line_pps: float | None, tester: dict | None = None) -> dict:
    """One goal's result. tester: the tester's own figures in this search (back_to_back_pps,
    ceiling_pps when it fell short and the max load was lowered to it, tester_bound_trials)."""
    tester = tester or {}
    lo = float(result.relevant_lower_bound) if result.relevant_lower_bound is not None else None
    hi = float(result.relevant_upper_bound) if result.relevant_upper_bound is not None else None
    ct = float(result.conditional_throughput) if result.conditional_throughput is not None else None
    if lo is None:
        why = f"the min load ({min_load:,.0f} pps) is an upper bound: the path loses more than the goal allows even there"
        if tester.get("latency_bound_trials"):
            why += " (or passes --max-latency)"
    elif tester.get("shortfall_counted"):
        why = (f"tester-bound: the tester fell short of its loads down to {max_load:,.0f} pps, far below its "
               f"back-to-back rate ({tester.get('back_to_back_pps') or 0:,.0f} pps; over veth a slower DUT holds the "
               f"sender back instead of dropping), so its shortfall was counted as loss (RFC 9971): this figure is "
               f"the tester's and the path's together, a lower bound for the DUT")
    elif hi is None and tester.get("max_load_from") in ("option", "line") and not tester.get("ceiling_pps"):
        asked = "as --max-load asked" if tester["max_load_from"] == "option" else "the line rate"
        why = (f"the max load ({max_load:,.0f} pps, {asked}) is a lower bound: the path forwards at least that; "
               f"a higher --max-load would tell how much more")
    elif hi is None:
        shown = (f"the tester fell short above {tester['ceiling_pps']:,.0f} pps" if tester.get("ceiling_pps")
                 else "the tester's own back-to-back rate")
        why = (f"tester-bound: the max load ({max_load:,.0f} pps; {shown}) is a lower bound: the path forwards at "
               f"least that, and how much more this tester cannot tell")
    elif (hi - lo) / hi > search_goal.relative_width + 1e-9:
        why = f"the bounds are {100 * (hi - lo) / hi:.2f} % apart, more than the goal's width"
    else:
        why = None
    return {
        "type": "goal", "goal": goal.name, "frame": frame.name, "loss_ratio": goal.loss_ratio,
        "exceed_ratio": goal.exceed_ratio, "relative_width": search_goal.relative_width,
        "final_trial_duration_s": search_goal.final_trial_duration, "duration_sum_s": search_goal.duration_sum,
        "lower_bound": rates_of(lo, frame, line_pps), "upper_bound": rates_of(hi, frame, line_pps),
        "conditional_throughput": rates_of(ct, frame, line_pps),
        "regular": why is None, "irregular_because": why,
        "tester_bound_trials": tester.get("tester_bound_trials", 0), "tester_ceiling_pps": tester.get("ceiling_pps"),
        "tester_back_to_back_pps": tester.get("back_to_back_pps"),
    }


def deviations(cfg: SearchConfig) -> list[str]:
    """How this search departs from RFC 2544's throughput test, said in every report."""
    p = PRESETS[cfg.preset]
    final = cfg.final_trial_duration or p.final_trial_duration
    out = []
    if final < 60:
        out.append(f"trials of {final:g} s (RFC 2544: 60 s)")
    if any(g.exceed_ratio > 0 for g in (cfg.goals or p.goals)):
        out.append("some loss-exceeding trials are tolerated (exceed ratio > 0, RFC 9971)")
    if any(g.loss_ratio > 0 for g in (cfg.goals or p.goals)):
        out.append("goals with a loss ratio above 0 (partial drop rates)")
    out.append(f"the receiver is read once it has been still for {SETTLE_S * 1000:g} ms, at most "
               f"{cfg.trial_wait:g} s after the generator (RFC 2544: 2 s)")
    out.append("no learning frames (the lab's neighbours are permanent)")
    return out


# -- running a search ------------------------------------------------------------------------------

def receivers(cfg: SearchConfig) -> tuple[str, str]:
    """(throughput, latency) receivers. auto: throughput trials count in the kernel (xdp-count:
    exact, and the cheapest on the tester's CPU, so the tester's ceiling is its sender's) in the
    lab where this kernel allows it, latency trials with a receiver that reads the stamps
    (afpacket). On your own path nothing is attached to your interface unless you ask."""
    if cfg.rx_backend != "auto":
        return cfg.rx_backend, cfg.rx_backend
    stamping = ports.names(receive=True, in_kernel=False, payload_only=False)[0]
    counting = ports.runnable(receive=True, in_kernel=True) if cfg.dut != "path" and not cfg.max_latency else ()
    return (counting[0] if counting else stamping), stamping


class _Runs:
    """The long-lived parts of a search: the generator (trial-driven), the receiver, the DUT
    forwarder when there is one. Started once, closed once."""

    def __init__(self, cfg: SearchConfig, note):
        from wirespeed.runner.driver import Plan

        self.runs: list[Run] = []
        try:
            g = dataclasses.replace(cfg.gen, rate=Rate(pps=1e3), count=None, duration=None, exit_after_setup=False,
                                    trials=True)
            gplan, pace = genmod.plan(g, note=note)
            self.gen = self._start(Run(gplan, lambda w: genmod.TrialGenStep(g, w, pace)))
            self.cfg, self.note = cfg, note
            self.sink = self.receiver(receivers(cfg)[0], record=bool(cfg.max_latency) and self.gen.records is not None)
            self.fwd = None
            if cfg.fwd is not None:
                from wirespeed.tools import fwd as fwdmod

                with _named("--fwd-backend"):
                    fplan: Plan = fwdmod.plan(cfg.fwd)
                    self.fwd = self._start(Run(fplan, lambda w: fwdmod.make_step(cfg.fwd, w)))
            for r in self.runs:
                for facts in r.facts:
                    if facts.get("note"):
                        note(facts["note"])
        except BaseException:
            self.close()
            raise

    def receiver(self, backend: str, record: bool = False) -> Run:
        """The receiver on the path's end, as `backend`; one already running is closed first
        (throughput trials and latency trials may want different ones). record: it keeps a record
        per stamped frame (joined with the kernel's transmit stamps)."""
        cfg = self.cfg
        old = getattr(self, "sink", None)
        if old is not None:
            old.stop()
            old.close()
            self.runs.remove(old)
        scfg = sinkmod.SinkConfig(where=cfg.rx, backend=backend, batch=256, cpus=cfg.rx_cpus, record=record,
                                  options={"bind": str(cfg.gen.dst_ip)} if ports.backend(backend).payload_only else {})
        with _named("--rx-backend"):
            self.sink = self._start(Run(sinkmod.plan(scfg, note=self.note), lambda w: sinkmod.SinkStep(scfg, w)))
        return self.sink

    def _start(self, run: Run) -> Run:
        self.runs.append(run)
        run.start()
        run.go()
        return run

    def close(self) -> None:
        for r in reversed(self.runs):
            r.stop()
            r.close()
        self.runs = []


def calibrate(m: Measurer, seconds: float = 1.0) -> float:
    """The generator's own back-to-back rate on this path: unpaced trials of about `seconds`."""
    count = 200_000
    for _ in range(3):
        m.seq += 1
        ctl = m.g.control
        g0 = m.g.snapshot()
        ctl[genmod.TRIAL_COUNT] = count
        ctl[genmod.TRIAL_INTERVAL_MILLI_NS] = 0
        ctl[genmod.TRIAL_SEQ] = m.seq
        t0 = time.monotonic()
        while not all(int(w[-1]) == m.seq for w in m.g.stats):
            if m.g.finished() or time.monotonic() - t0 > 30:
                raise m.g.error or WirespeedError("the generator did not finish its calibration")
            time.sleep(0.001)
        dt = time.monotonic() - t0
        sent = int(m.g.snapshot().port()[core.C["packets"]] - g0.port()[core.C["packets"]])
        rate = sent / dt
        if dt >= 0.5 * seconds:
            break
        count = int(rate * seconds)
    # frames handed over without waiting (--no-wait) may still be in the path: let them arrive or
    # be dropped before the first trial reads its counters, so that none is counted in it
    time.sleep(CALIBRATION_SETTLE_S)
    return rate


def run(cfg: SearchConfig, reporter: stats.Reporter, frames: list[FrameMix]) -> dict:
    """Search each frame size; then latency at fractions of each goal's throughput."""
    import importlib.util

    if importlib.util.find_spec("MLRsearch") is None:
        raise KernelFeatureError("the MLRsearch package (FD.io CSIT's RFC 9971 search) is not installed: "
                                 "pip install MLRsearch")
    check(cfg)
    p = PRESETS[cfg.preset]
    if isinstance(reporter, SearchReporter):
        reporter.goals = tuple(g for g, _ in goals_of(cfg))
    out = {"frames": [], "trials": 0}
    drop_counter = _drop_counter(reporter.note)
    try:
        _search_frames(cfg, reporter, frames, out, p, drop_counter)
    finally:
        if drop_counter is not None:
            drop_counter.close()
    return out


def _drop_counter(note):
    """wirespeed drops' counter for the search's whole run (every trial's loss by reason and
    place), or None with a note where this kernel or process cannot run it."""
    from wirespeed.tools import drops

    try:
        drops.require_caps()
        return drops.Counter(timed=False)
    except WirespeedError as e:
        note(f"loss by kernel reason left out: {e}")
        return None


def _search_frames(cfg: SearchConfig, reporter, frames: list[FrameMix], out: dict, p, drop_counter) -> None:
    from MLRsearch import Config

    t_search = time.monotonic()
    for frame in frames:
        gcfg = dataclasses.replace(cfg.gen, frame=frame)
        one = dataclasses.replace(cfg, gen=gcfg)
        runs = _Runs(one, reporter.note)
        try:
            path = PathCounters(cfg.hops, drop_counter, cfg.rx.netns)
            if cfg.fwd is not None and ports.backend(cfg.fwd.backend).tap:
                path.tapped_at = cfg.fwd.inp
            m = Measurer(one, runs.gen, runs.sink, path, frame,
                         runs.fwd, on_trial=lambda rec: reporter.trial(rec), note=reporter.note)
            line = _line_rate(cfg, frame)
            ceiling = calibrate(m)
            max_load = cfg.max_load or 0.95 * ceiling
            max_load_from = "option" if cfg.max_load and cfg.max_load < 0.95 * ceiling else "tester"
            if line and max_load > line:
                reporter.note(f"max load {max_load:,.0f} pps is above the line rate of {frame.name}-byte frames; "
                              f"clamped to {line:,.0f} pps")
                max_load, max_load_from = line, "line"
            min_load = cfg.min_load or max(IDLE_PPS, max_load / 1000)
            if min_load >= max_load:
                raise UsageError(f"min load {min_load:,.0f} pps is not below max load {max_load:,.0f} pps")
            reporter.event("calibration", frame=frame.name, back_to_back_pps=ceiling, max_load_pps=max_load,
                           min_load_pps=min_load, line_rate_pps=line)
            pairs = goals_of(cfg)
            result, max_load, ceiling_pps, counted = search_within_the_tester(
                lambda top: Config(goals=[sg for _, sg in pairs], min_load=min_load, max_load=top,
                                   search_duration_max=p.search_duration_max, warmup_duration=None),
                m.controller_measurer(), min_load, max_load, reporter.note, m.count_shortfall)
            tester = {"back_to_back_pps": ceiling, "ceiling_pps": ceiling_pps, "max_load_from": max_load_from,
                      "tester_bound_trials": sum(t["tester_bound"] for t in m.trials), "shortfall_counted": counted,
                      "latency_bound_trials": sum(bool(t.get("latency_exceeded")) for t in m.trials)}
            goals = [goal_result(g, sg, result[sg], frame, max_load, min_load, line, tester) for g, sg in pairs]
            if cfg.max_latency:  # latency-bounded: the bounds and how many trials passed them
                for gr in goals:
                    gr["max_latency_ns"] = {k: ns for k, ns in cfg.max_latency}
                    gr["latency_bound_trials"] = tester["latency_bound_trials"]
            for gr in goals:
                reporter.goal(gr)
            lat = []
            counting, stamping = receivers(cfg)
            if cfg.latency and (stamping != counting or runs.gen.records is not None):
                # latency trials: a receiver that reads the stamps (and keeps a record per frame, for the
                # join with the kernel's transmit stamps)
                m.s = runs.receiver(stamping, record=runs.gen.records is not None)
                m.receiving(stamping)
                m.last_counters = None
            if cfg.latency:
                for gr in goals:
                    ct = gr["conditional_throughput"]["pps"]
                    for frac in LATENCY_FRACTIONS:
                        load = IDLE_PPS if frac == 0 or not ct else frac * ct
                        rec = m.trial(p.latency_trial_s, load, kind="latency")
                        row = {"type": "latency", "goal": gr["goal"], "frame": frame.name, "fraction": frac,
                               "load_pps": load, "lost": rec["lost"], **rec.get("latency", {}),
                               "kernel_tx": rec.get("latency_kernel_tx")}
                        lat.append(row)
                        reporter.latency(row)
            if lat and cfg.floor:
                floor = tester_floor(one, [r["load_pps"] for r in lat], p.latency_trial_s, reporter.note)
                for row, fl in zip(lat, floor):
                    with_floor(row, fl)
            search_s = sum(t["send_s"] + t["overhead_s"] for t in m.trials)
            overhead_s = sum(t["overhead_s"] for t in m.trials)
            out["frames"].append({"frame": frame.name, "back_to_back_pps": ceiling, "max_load_pps": max_load,
                                  "tester_ceiling_pps": ceiling_pps,
                                  "min_load_pps": min_load, "goals": goals, "latency": lat,
                                  "trials": len(m.trials), "overhead_s": overhead_s,
                                  "overhead_share": overhead_s / search_s if search_s else 0.0,
                                  "tester_bound_trials": sum(t["tester_bound"] for t in m.trials),
                                  "trial_records": m.trials})
            out["trials"] += len(m.trials)
        finally:
            runs.close()
    out["receivers"] = dict(zip(("throughput", "latency"), receivers(cfg)))
    out["seconds"] = time.monotonic() - t_search
    out["deviations_from_rfc2544"] = deviations(cfg)
    out["preset"] = {"name": cfg.preset, "text": p.text}
    if not cfg.latency:
        out["latency_note"] = (f"--backend {cfg.gen.backend} frames carry no send time: no latency"
                               if not ports.backend(cfg.gen.backend).timestamps else "latency not asked for")


FLOOR_LAB = "wsfloor"  # the tester's own pair of veths (the pid added: one per search)


def tester_floor(cfg: SearchConfig, loads: list[float], seconds: float, note=lambda text: None) -> list[dict]:
    """The tester's own latency: its generator straight into its receiver over a veth pair of
    its own (same backends, batch, CPUs, frame and stamps), a latency trial at each load. Each
    a trial record's latency figures ({} for a load it could not run)."""
    from wirespeed import lab as labmod

    name = f"{FLOOR_LAB}{os.getpid() % 100000}"
    runs = None
    try:
        topo, _ = labmod.resolve(name, True, topology="pair")
        g_end, s_end = topo.endpoints("gen")[0], topo.endpoints("sink")[0]
        tx, rx = Where(g_end.ifname, topo.netns("gen")), Where(s_end.ifname, topo.netns("sink"))
        six = cfg.gen.ipv6  # the lab's own addresses of the template's family
        sa, da = (ipaddress.ip_address(e.address6 if six else e.address) for e in (g_end, s_end))
        gen = dataclasses.replace(cfg.gen, where=tx, src_mac=V.mac(g_end.mac), dst_mac=V.mac(s_end.mac), src_ip=sa,
                                  dst_ip=da, src_ips=genmod.Range(int(sa)), dst_ips=genmod.Range(int(da)))
        fcfg = dataclasses.replace(cfg, tx=tx, rx=rx, gen=gen, dut="none", fwd=None, max_latency=(),
                                   hops=[(f"floor:{e.ifname}", Where(e.ifname, topo.netns(e.node)))
                                         for e in (topo.wires[0].a, topo.wires[0].b)])
        runs = _Runs(fcfg, note)
        _, stamping = receivers(fcfg)
        sink = runs.receiver(stamping, record=runs.gen.records is not None)
        m = Measurer(fcfg, runs.gen, sink, PathCounters(fcfg.hops, None, rx.netns), cfg.gen.frame)
        m.receiving(stamping)
        calibrate(m, 0.2)
        out = []
        for load in loads:
            rec = m.trial(seconds, load, kind="latency")
            src, lat = trial_latency(rec)
            out.append({"from": src, **{k: lat.get(k) for k in ("samples", "min_ns", "p50_ns", "p90_ns", "p99_ns",
                                                                  "p99_9_ns", "max_ns")}})
        return out
    except WirespeedError as e:
        note(f"the tester's own latency left out: {e}")
        return [{} for _ in loads]
    finally:
        if runs is not None:
            runs.close()
        labmod.down(name)


def with_floor(row: dict, floor: dict) -> None:
    """A latency row with the tester's own latency at its load beside it, and the path's without
    it (p50 and p99 less the floor's, from the same kind of stamp)."""
    row["floor"] = floor or None
    src, lat = best_latency(row.get("kernel_tx"), row)
    if floor and floor.get("from") == src:
        row["without_floor"] = {k: lat[k] - floor[k] for k in ("p50_ns", "p99_ns")
                                if lat.get(k) is not None and floor.get(k) is not None}
    else:
        row["without_floor"] = None


def search_within_the_tester(config_of, measurer, min_load: float, max_load: float, note=lambda text: None,
                             count_shortfall=None):
    """MLRsearch from min_load to max_load; when a trial's tester falls short twice (the
    measurer raises TesterShort), the search starts again with the max load lowered below what
    the tester has shown it sends (RFC 9971 would count the shortfall as the DUT's loss, and the
    bound found would be the tester's). Should it still fall short after RESTARTS, or at the min
    load, count_shortfall() (when given) makes the measurer count the shortfall as loss, as RFC
    9971 allows, and the search runs once more: over veth a DUT slower than the load holds the
    sender back instead of dropping, so a tester short at every load is often the DUT's doing,
    and the bound is then the tester's and the DUT's together (a lower bound for the DUT).
    Returns (result, the max load used, the tester's demonstrated ceiling or None when it never
    fell short, whether the shortfall was counted as loss)."""
    from MLRsearch import MultipleLossRatioSearch

    def search(top: float):
        try:
            return MultipleLossRatioSearch(config=config_of(top)).search(measurer=measurer, debug=lambda text: None)
        except RuntimeError as e:
            raise WirespeedError(f"the search did not converge: {e}") from None

    ceiling = None
    for attempt in range(RESTARTS + 1):
        try:
            return search(max_load), max_load, ceiling, False
        except TesterShort as short:
            ceiling = short.offered if ceiling is None else min(ceiling, short.offered)
            lower = min(max_load, ceiling) * (1 - CEILING_MARGIN)
            if attempt == RESTARTS or lower <= min_load:
                if count_shortfall is None:
                    raise WirespeedError(f"{short}: the tester cannot offer the loads this search needs "
                                         f"(min load {min_load:,.0f} pps)") from None
                note(f"{short}, after {attempt} restart(s): from here its shortfall counts as loss (RFC 9971); the "
                     f"result is the tester's and the path's together")
                count_shortfall()
                return search(max_load), max_load, ceiling, True
            note(f"{short}: its shortfall is not the DUT's loss; the search starts again with the max load "
                 f"lowered from {max_load:,.0f} to {lower:,.0f} pps")
            max_load = lower
    raise AssertionError("unreachable")


def _line_rate(cfg: SearchConfig, frame: FrameMix) -> float | None:
    if cfg.line_rate_pps:
        return cfg.line_rate_pps
    if cfg.gen.link_bps:
        return cfg.gen.link_bps / (float(frame.mean_wire) * 8)
    return None


def latency_table(rows: list[dict]):
    """The latency trials: from the kernel's transmit stamp where the tester read it (the
    sender's own delay in its own column, and the latency from the frames' own stamps beside),
    else from the frames' own stamps."""
    f = stats.fmt
    us = lambda v: "-" if v is None else f"{v / 1000:,.3f}"  # noqa: E731
    out = []
    for r in rows:
        k = r.get("kernel_tx") or {}
        name, src = best_latency(k, r)
        fl, wo = r.get("floor") or {}, r.get("without_floor") or {}
        out.append((r["goal"], f"{100 * r['fraction']:.0f} %", f(r["load_pps"], 0),
                    name, *(us(src.get(x)) for x in (
                        "p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "max_ns")),
                    us(fl.get("p50_ns")), us(fl.get("p99_ns")), us(wo.get("p50_ns")),
                    us(k.get("send_delay_p50_ns")), us(r.get("p50_ns"))))
    return stats.make_table(
        "one-way latency, µs (from the kernel's transmit stamp where read; beside: the tester's own latency at the "
        "same load (its floor), the path's p50 without it, the tester's sending delay, the latency from the frames' "
        "own stamps; min and avg in the JSON)",
        ["<goal", "of throughput", "pps", "<from", "p50", "p90", "p99", "p99.9", "max",
         "floor p50", "floor p99", "p50 - floor", "sender p50", "own-stamp p50"], out)


class SearchReporter(stats.Reporter):
    """A line per trial as the search goes (load, duration, loss, the verdict for each goal,
    the search's time so far), then the results; JSON: one object per trial, goal result and
    latency row."""

    goals: tuple[Goal, ...] = ()
    t0: float = 0.0

    def header(self, rec: dict) -> None:
        self.t0 = time.monotonic()
        if not self.json:
            ifs = ", ".join(f"{i['interface']} ({i['driver']}, {i['rx_queues']} queue(s), MTU {i['mtu']})"
                            for i in rec["interfaces"])
            self.console.print(f"wirespeed {rec['wirespeed']}, kernel {rec['kernel']}, {rec['cpu_model']} "
                               f"({rec['tsc_hz'] / 1e9:.3f} GHz TSC), {ifs}; started {rec['started']}", style="dim")

    def trial(self, r: dict) -> None:
        r["verdicts"] = {g.name: "pass" if r["loss_ratio"] <= g.loss_ratio and not r.get("latency_exceeded") else "fail"
                         for g in self.goals}
        if self.json:
            stats.print_json({"tool": self.tool, **r})
            return
        flag = (" tester-bound (stalled)" if r.get("tester_stalled") else " tester-bound") if r["tester_bound"] else ""
        if r.get("latency_exceeded"):
            flag += f"  latency {r['latency_exceeded']}"
        most = f"  ({r['most_loss']})" if r["most_loss"] else ""
        if r.get("receiver_errors"):  # frames that came wrong: said beside the loss they make
            most += "  [" + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in r["receiver_errors"].items()) + "]"
        verdicts = " ".join(f"{k} {'✓' if v == 'pass' else '✗'}" for k, v in r["verdicts"].items())
        self.console.print(f"{time.monotonic() - self.t0:6.1f} s trial {r['trial']:3d} {r['kind']:7s} "
                           f"{r['intended_load_pps']:13,.0f} pps {r['intended_duration_s']:5.2f} s  lost {r['lost']:>9,} "
                           f"({100 * r['loss_ratio']:.4f} %)  {verdicts}{flag}{most}")

    def goal(self, g: dict) -> None:
        if self.json:
            stats.print_json({"tool": self.tool, **g})

    def latency(self, row: dict) -> None:
        if self.json:
            stats.print_json({"tool": self.tool, **{k: v for k, v in row.items()}})

    def results(self, out: dict) -> None:
        if self.json:
            stats.print_json({"type": "summary", "tool": self.tool,
                              **{k: v for k, v in out.items() if k != "frames"},
                              "frames": [{k: v for k, v in f.items() if k != "trial_records"} for f in out["frames"]]})
            return
        f = stats.fmt
        for fr in out["frames"]:
            rows = []
            for g in fr["goals"]:
                ct, lo, hi = g["conditional_throughput"], g["lower_bound"], g["upper_bound"]
                rows.append((g["goal"], f"{g['loss_ratio']:g}", f(lo["pps"], 0), f(hi["pps"], 0), f(ct["pps"], 0),
                             f(ct["l2_mbps"]), f(ct["l1_mbps"]), f(ct["line_rate_pct"]) if ct["line_rate_pct"] else "-",
                             "regular" if g["regular"] else "irregular*"))
            why = "".join(f"\n* {g['goal']}: {g['irregular_because']}" for g in fr["goals"] if not g["regular"])
            self.console.print(stats.make_table(
                f"{fr['frame']}-byte frames: {fr['trials']} trials, tester's back-to-back rate "
                f"{fr['back_to_back_pps']:,.0f} pps, max load {fr['max_load_pps']:,.0f} pps",
                ["<goal", "loss ratio", "lower bound pps", "upper bound pps", "throughput pps", "Mbit/s L2",
                 "Mbit/s L1", "% line", "<"], rows,
                caption=f"overhead (set-up + drain) {100 * fr['overhead_share']:.1f} % of the trials' time; "
                        f"{fr['tester_bound_trials']} tester-bound trial(s)"
                        + (f"; latency-bounded ({', '.join(f'{k} ≤ {v / 1000:,.1f} µs' for k, v in fr['goals'][0]['max_latency_ns'].items())}): "
                           f"{fr['goals'][0]['latency_bound_trials']} trial(s) past a bound"
                           if fr["goals"] and fr["goals"][0].get("max_latency_ns") else "")
                        + (f"; the tester fell short above {fr['tester_ceiling_pps']:,.0f} pps, so the max load was "
                           f"lowered below it" if fr.get("tester_ceiling_pps") else "") + why))
            reasons: dict[str, int] = {}
            for t in fr.get("trial_records", ()):
                for k, v in (t.get("loss_reasons") or {}).items():
                    reasons[k] = reasons.get(k, 0) + v
            if reasons:  # where the kernel dropped the trials' frames, over the whole search
                self.console.print(stats.make_table(
                    "lost in the kernel, over every trial (wirespeed drops' counter)", ["<namespace device reason "
                                                                                        "(function)", "packets"],
                    [(k, f(v)) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]]))
            profiled = [t for t in fr.get("trial_records", ()) if t.get("profile")]
            if profiled:
                self.console.print(stats.make_table(
                    "where each trial's time went (--profile: every CPU, ns per frame sent)",
                    ["<trial", "load pps", "lost", "sum ns", "<largest stages, ns"],
                    [(f"{t['trial']} {t['kind']}", f(t["intended_load_pps"], 0), f(t["lost"], 0),
                      f(t["profile"]["sum_ns_per_pkt"]), ", ".join(
                          f"{s['name']} {s['ns_per_pkt']:,.0f}" for s in sorted(
                              t["profile"]["stages"], key=lambda s: -s["samples"])[:3])) for t in profiled]))
            if fr["latency"]:
                self.console.print(latency_table(fr["latency"]))
        self.console.print("deviations from RFC 2544: " + "; ".join(out["deviations_from_rfc2544"]), style="dim")
        if out.get("latency_note"):
            self.console.print(out["latency_note"], style="dim")
