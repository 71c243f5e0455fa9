"""`wirespeed drops`: every packet the kernel drops, by network namespace, device, reason and
the function that dropped it, counted in the kernel.

A BPF program at the kfree_skb tracepoint (a raw tracepoint: no tracefs, no perf) adds each
dropped skb to a per-CPU hash keyed by (namespace inode, ifindex, reason, location); the
device and namespace are read from the skb at offsets this kernel's BTF gives, the reason
names come from its enum skb_drop_reason, the function from /proc/kallsyms. Python reads the
map once per interval. Nothing stays attached when the tool ends, however it ends.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from dataclasses import dataclass

from wirespeed.base import values as V
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.option import DURATION, INTERVAL, Option, Options

NETNS_DIR = "/run/netns"
KEY = struct.Struct("<IIIIQ")  # netns inode, ifindex, reason, zero, location (bpf.progs.DROP_KEY)
TOP = 3  # reasons named on an interval line

OPTIONS = Options(
    "drops",
    DURATION.but(help="stop after this long (default: until Ctrl-C)"),
    INTERVAL,
    Option("netns", ("--netns",), None, "only drops in these network namespaces (comma-separated names; host: "
           "the one wirespeed runs in)", parse=V.text, metavar="NS[,NS]"),
)


@dataclass
class DropsConfig:
    duration: float | None = None
    interval: float = 1.0
    netns: tuple[str, ...] = ()


class Names:
    """Names for what the kernel gives as numbers: namespaces by inode, devices by ifindex in
    their namespace, locations by the function around them, reasons by this kernel's enum."""

    def __init__(self, reasons: dict[int, str]):
        self.reasons = {v: n.removeprefix("SKB_DROP_REASON_").removeprefix("SKB_") for v, n in reasons.items()}
        self.netns = namespaces()
        self._devs: dict[int, dict[int, str]] = {}
        self._syms: tuple[list[int], list[str]] | None = None

    def reason(self, value: int) -> str:
        from wirespeed.bpf.progs import XDP_EXCEPTION, XDP_REDIRECT_ERROR

        if value in self.reasons:
            return self.reasons[value]
        if value & 0xFFFF0000 == XDP_EXCEPTION:
            act = value & 0xFFFF
            return "XDP_ABORTED" if act == 0 else f"XDP_INVALID_ACTION {act}"
        if value & 0xFFFF0000 == XDP_REDIRECT_ERROR:
            return f"XDP_REDIRECT_FAILED {errno.errorcode.get(value & 0xFFFF, value & 0xFFFF)}"
        return f"subsystem {value >> 16}: {value & 0xFFFF}"  # SKB_DROP_REASON_SUBSYS_* (mac80211, ovs, ...)

    def namespace(self, inum: int) -> str:
        if inum not in self.netns:
            self.netns = namespaces()
        return self.netns.get(inum, f"netns {inum}" if inum else "-")

    def device(self, inum: int, ifindex: int) -> str:
        if not ifindex:
            return "-"
        if inum not in self._devs:
            self._devs[inum] = links(self.netns.get(inum))
        return self._devs[inum].get(ifindex, f"ifindex {ifindex}")

    def function(self, location: int) -> str:
        from wirespeed.bpf.btf import kernel_symbols, symbol_at

        if not location:
            return "(an xdp tracepoint)"
        if self._syms is None:
            self._syms = kernel_symbols()
        return symbol_at(self._syms, location)


def namespaces() -> dict[int, str]:
    """Network namespace inode -> name: those `ip netns` names, and ours (host)."""
    out = {os.stat("/proc/self/ns/net").st_ino: "host"}
    try:
        for name in os.listdir(NETNS_DIR):
            try:
                out.setdefault(os.stat(os.path.join(NETNS_DIR, name)).st_ino, name)
            except OSError:
                pass
    except OSError:
        pass
    return out


def links(netns: str | None) -> dict[int, str]:
    from pyroute2 import IPRoute, NetNS

    try:
        with (IPRoute() if netns in (None, "host") else NetNS(netns)) as ipr:
            return {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    except Exception:  # the namespace went away: the numbers stay
        return {}


# XDP's own drops where the kernel traces them: (tracepoint, reason base, the argument holding
# the action or errno). An XDP_DROP verdict has no tracepoint: on veth its skb meets kfree_skb.
XDP_TRACEPOINTS = (("xdp_exception", "XDP_EXCEPTION", 2), ("xdp_redirect_err", "XDP_REDIRECT_ERROR", 3),
                   ("xdp_redirect_map_err", "XDP_REDIRECT_ERROR", 3))


def _kfree_skb(b, offsets, maps: dict, skip_reasons: tuple[int, ...]):
    """The kfree_skb counter, typed (tp_btf: plain loads) where this kernel takes it, else raw
    (helper reads): the RawTracepoint and whether it is typed."""
    from wirespeed.bpf import BpfError, RawTracepoint, progs

    tid = b.tracepoint("kfree_skb")
    if tid is not None:
        try:
            return RawTracepoint("kfree_skb", progs.kfree_skb_count(offsets, True, skip_reasons), maps,
                                 typed_as=tid), True
        except BpfError:  # a verifier that does not follow the types: the raw program reads the same
            pass
    return RawTracepoint("kfree_skb", progs.kfree_skb_count(offsets, False, skip_reasons), maps), False


class Counter:
    """The tracepoint programs and their map, attached while open: kfree_skb, and XDP's
    exceptions and failed redirects where this kernel has them (`xdp` names them); read() gives the
    counts so far as {(netns inode, ifindex, reason, location): count}. timed: the kernel times
    every BPF program's runs while it is open (cost() then says the counter's own time per drop);
    that timing is system-wide and costs every program two clock reads a run, so a search, which
    counts beside its own in-kernel receiver, leaves it off."""

    def __init__(self, timed: bool = True):
        from wirespeed.bpf import MAP_ARRAY, CountMap, Map, RawTracepoint, RunStats, btf, progs

        b = btf.vmlinux()
        offsets = progs.SkbOffsets(b.offset("sk_buff", "dev"), b.offset("net_device", "ifindex"),
                                   b.offset("net_device", "nd_net.net"), b.offset("net", "ns.inum"))
        self.names = Names(b.enum("skb_drop_reason"))
        self.map = CountMap(progs.DROP_KEY, 16384, "ws_drops")
        self.stats = RunStats() if timed else None  # the counter's own cost per drop, timed by the kernel
        self._skip = Map(MAP_ARRAY, 8, 1, "ws_drop_skip", mmapable=True)  # skip_receiver()
        try:
            skip = tuple(v for v, n in self.names.reasons.items() if n in XDP_REASONS)
            self.tp, self.typed = _kfree_skb(b, offsets, {"drops": self.map, "skip": self._skip}, skip)
        except BaseException:
            self.map.close()
            self._skip.close()
            if self.stats is not None:
                self.stats.close()
            raise
        self.xdp: dict[str, RawTracepoint] = {}  # those this kernel has (6.18: no xdp_redirect_map_err)
        try:
            for name, base, arg in XDP_TRACEPOINTS:
                try:
                    self.xdp[name] = RawTracepoint(name, progs.xdp_error_count(offsets, getattr(progs, base), arg),
                                                   {"drops": self.map})
                except WirespeedError:
                    pass
        except BaseException:
            self.close()
            raise

    def cost(self) -> dict:
        """The program's own time per dropped skb (the kernel's run statistics): what counting
        adds to each drop, besides the tracepoint's call."""
        ns, runs = self.tp.prog.runs()
        return {"runs": runs, "ns_per_drop": round(ns / runs, 1) if runs else None}

    def skip_receiver(self, at) -> None:
        """Leave out the drops that are an in-kernel receiver's count at Where `at` (counted_by),
        in the kernel, before they cost a hash update; None: count everything again."""
        word = 0
        if at is not None:
            from wirespeed.base.netns import ifindex, in_netns

            with in_netns(at):
                word = os.stat("/proc/thread-self/ns/net").st_ino | ifindex(at) << 32
        self._skip.words()[0, 0] = word

    def read(self) -> dict[tuple, int]:
        out = {}
        for k, v in self.map.items().items():
            netns, ifindex, reason, _, location = KEY.unpack(k)
            out[(netns, ifindex, reason, location)] = v
        return out

    def rows(self, counts: dict[tuple, int], only: tuple[str, ...] = ()) -> list[dict]:
        """Counts as named rows, largest first; only: these namespaces."""
        n = self.names
        rows = [{"netns": n.namespace(ns), "dev": n.device(ns, ifi), "reason": n.reason(r),
                 "function": n.function(loc), "count": c} for (ns, ifi, r, loc), c in counts.items() if c]
        rows = [r for r in rows if r["function"] not in NOT_DROPS]
        if only:
            rows = [r for r in rows if r["netns"] in only]
        return sorted(rows, key=lambda r: -r["count"])

    def close(self) -> None:
        for tp in self.xdp.values():
            tp.close()
        self.tp.close()
        self.map.close()
        self._skip.close()
        if self.stats is not None:
            self.stats.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Frees that are no packet's loss: a transmit stamp's copy of a frame, freed with kfree_skb once
# its socket has read it from the error queue (gen --timestamps kernel: one per frame sent).
NOT_DROPS = ("sock_recv_errqueue",)

# How an skb an XDP program dropped is freed (veth: kfree_skb with no reason in veth_xdp_rcv_skb;
# generic XDP: XDP): at an in-kernel receiver's own interface, such drops are its count, not loss.
XDP_REASONS = ("NOT_SPECIFIED", "XDP")


def counted_by(row: dict, at) -> bool:
    """A drop that is an in-kernel receiver's count (XDP_DROP after counting) at Where `at`."""
    return at is not None and row["netns"] == (at.netns or "host") and row["dev"] == at.ifname \
        and row["reason"] in XDP_REASONS


# Where a stack that is not the path drops its own copy: the reasons given after a packet tap
# (AF_PACKET) has taken the frame, from the IP layer up (a forwarder's namespace without IP
# forwarding drops each original with IP_INADDRERRORS).
AFTER_THE_TAPS = ("IP_", "IPV6", "NO_SOCKET", "OTHERHOST", "NETFILTER", "TC_INGRESS", "UDP_", "TCP_", "ICMP",
                  "UNHANDLED_PROTO", "NEIGH_", "PKT_TOO_SMALL", "SOCKET_RCVBUFF", "XFRM", "MAC_")


def tapped_copy(row: dict, at) -> bool:
    """A drop of the original of a frame a tap at Where `at` took: not the frame's loss."""
    return at is not None and row["netns"] == (at.netns or "host") and row["dev"] == at.ifname \
        and row["reason"].startswith(AFTER_THE_TAPS)


def top(rows: list[dict], n: int = 3) -> list[dict]:
    """The n largest rows, each with its share of every drop counted."""
    total = sum(r["count"] for r in rows)
    return [{**r, "share": round(r["count"] / total, 4)} for r in sorted(rows, key=lambda r: -r["count"])[:n]]


def text(rows: list[dict]) -> str:
    """'67 % CPU_BACKLOG at enqueue_to_backlog (ws-lab-fwd veth0), ...' for a report's cell."""
    return ", ".join(f"{100 * r['share']:.0f} % {r['reason']} at {r['function']} ({r['netns']} {r['dev']})" for r in rows)


def count_for(seconds: float, only: tuple[str, ...] = (), at=None) -> list[dict]:
    """Everything dropped in these namespaces over the next `seconds`, as rows (an in-kernel
    receiver's own count at Where `at` left out): a counter attached for that long only."""
    with Counter() as c:
        time.sleep(seconds)
        rows = c.rows(c.read(), only)
    return [r for r in rows if not counted_by(r, at)]


def delta(now: dict[tuple, int], before: dict[tuple, int]) -> dict[tuple, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def config(**given) -> DropsConfig:
    o = OPTIONS.resolve(given)
    only = tuple(x.strip() for x in o["netns"].split(",")) if o["netns"] else ()
    known = set(namespaces().values())
    for name in only:
        if name not in known:
            raise UsageError(f"--netns {name}: no such network namespace (ip netns list; host is this one)")
    return DropsConfig(duration=o["duration"], interval=o["interval"], netns=only)


def require_caps() -> None:
    """A tracing BPF program needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): one line when
    this process lacks them, before anything is loaded."""
    from wirespeed.base.errors import PrivilegeError
    from wirespeed.base.netns import missing_caps

    missing = missing_caps("CAP_BPF", "CAP_PERFMON")
    if missing and missing_caps("CAP_SYS_ADMIN"):
        raise PrivilegeError(f"wirespeed drops attaches a BPF program to the kfree_skb tracepoint: it needs "
                             f"{' and '.join(missing)} (or CAP_SYS_ADMIN), which this process lacks")


def run(cfg: DropsConfig, on_interval, on_start=lambda: None) -> dict:
    """Count until the duration ends or the run is interrupted (Ctrl-C, SIGTERM): the summary
    of what was counted either way. on_interval(seconds, rows of the interval, total)."""
    with Counter() as c:
        on_start()
        t0 = time.monotonic()
        prev: dict[tuple, int] = {}
        end = t0 + cfg.duration if cfg.duration else None
        interrupted = None
        try:
            tick = t0
            while end is None or tick < end:
                tick = min(tick + cfg.interval, end) if end else tick + cfg.interval
                time.sleep(max(0.0, tick - time.monotonic()))
                now = c.read()
                rows = c.rows(delta(now, prev), cfg.netns)
                on_interval(time.monotonic() - t0, rows, sum(r["count"] for r in rows))
                prev = now
        except KeyboardInterrupt as e:
            interrupted = e.args[0] if e.args else "SIGINT"
        rows = c.rows(c.read(), cfg.netns)
        cost = c.cost()
        xdp = sorted(c.xdp)
    return {"type": "summary", "tool": "drops", "seconds": time.monotonic() - t0, "interrupted": interrupted,
            "total": sum(r["count"] for r in rows), "drops": rows, "counter": cost, "xdp_tracepoints": xdp}
