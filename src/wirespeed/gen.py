"""`wirespeed gen`: the traffic generator (pktgen/trafgen class).

Frames are built and sent by the C core straight into the AF_PACKET TX ring (or into
sendmmsg() buffers for UDP), one system call per batch; Python runs once per 50 ms slice.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from wirespeed import core, stats
from wirespeed import workers
from wirespeed.errors import UsageError
from wirespeed.netdev import link_info, link_stats
from wirespeed.packet import FCS, build_template, header_bytes
from wirespeed.ports import Where
from wirespeed.units import FrameMix, Rate, frame

MODES = {"fixed": 0, "inc": 1, "random": 2}
BACKENDS = ("afpacket", "udp", "xdp", "kernel")
XSK_FRAME = 4096  # AF_XDP UMEM frame bytes: the largest frame the xdp backend sends
MAX_FRAME = 9000


@dataclass(frozen=True)
class Range:
    """Values lo .. lo+count-1 of a header field (addresses: their low 32 bits)."""

    lo: int
    count: int = 1
    text: str = ""


@dataclass
class GenConfig:
    where: Where  # the sending interface
    src_mac: bytes
    dst_mac: bytes
    src_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    src_ips: Range
    dst_ips: Range
    sports: Range = Range(9)
    dports: Range = Range(9)
    vary: str = "inc"
    frame: FrameMix = field(default_factory=lambda: frame(64))
    flows: int = 0
    seed: int = 1
    stamp: bool = True
    backend: str = "afpacket"
    batch: int = 64
    count: int | None = None
    duration: float | None = None
    rate: Rate | None = None
    link_bps: int | None = None
    workers: int = 1
    cpus: list[int] | None = None
    interval: float = 1.0
    json: bool = False
    qdisc_bypass: bool = True
    linear: bool = True
    gso: bool = True  # UDP: send in GSO messages when every frame has one size
    copy: str = "auto"  # AF_XDP: zc, copy or auto
    ttl: int = 64
    tos: int = 0
    df: bool = True
    ip_id: int = 0
    payload: bytes = b""
    exit_after_setup: bool = False


def spread_sizes(mix: FrameMix) -> list[int]:
    """One cycle of frame sizes with the mix's weights, each size spread evenly through it."""
    total = sum(mix.weights)
    slots: list[tuple[float, int]] = []
    for size, w in zip(mix.sizes, mix.weights):
        slots += [((k + 0.5) / w, size) for k in range(w)]
    out = [size for _, size in sorted(slots)]
    assert len(out) == total
    return out


def check_frame(mix: FrameMix, ipv6: bool, stamp: bool, payload: bytes = b"") -> None:
    """Every frame size of the mix holds the headers and the payload, and fits MAX_FRAME."""
    smallest = header_bytes(ipv6, stamp) + len(payload)
    for size in mix.sizes:
        if not smallest <= size <= MAX_FRAME:
            carried = " with the pktgen header" if stamp else f" with a {len(payload)}-byte payload"
            raise UsageError(
                f"frame size {size} out of range: IPv{6 if ipv6 else 4}/UDP{carried} needs "
                f"{smallest}..{MAX_FRAME} bytes (FCS included)"
            )


def check(cfg: GenConfig) -> None:
    """Every user mistake the generator can see before it opens anything."""
    if cfg.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {cfg.backend!r}")
    check_frame(cfg.frame, cfg.src_ip.version == 6, cfg.stamp, cfg.payload)
    if cfg.batch < 1 or cfg.batch > 1024:
        raise UsageError(f"-b/--batch must be 1..1024, got {cfg.batch}")
    if cfg.workers < 1 or cfg.workers > 16:
        raise UsageError(f"-w/--workers must be 1..16, got {cfg.workers}")
    if cfg.count is not None and cfg.count < 1:
        raise UsageError(f"-c/--count must be at least 1, got {cfg.count}")
    if cfg.duration is not None and cfg.duration <= 0:
        raise UsageError(f"-d/--duration must be positive, got {cfg.duration}")
    if cfg.interval <= 0:
        raise UsageError(f"-i/--interval must be positive, got {cfg.interval}")
    if cfg.flows < 0:
        raise UsageError(f"--flows must be at least 1, got {cfg.flows}")
    if cfg.backend == "kernel":
        from wirespeed import kgen

        kgen.check(cfg)
    if cfg.backend == "xdp":
        if max(cfg.frame.sizes) - FCS > XSK_FRAME:
            raise UsageError(f"--backend xdp sends frames up to {XSK_FRAME + FCS} bytes (one UMEM frame each)")
        if cfg.workers > 1:
            raise UsageError("--backend xdp: one AF_XDP socket per queue, and this port uses queue 0: -w 1")
    if cfg.backend == "udp":
        varied = [n for n, r in (("--src-ip", cfg.src_ips), ("--dst-ip", cfg.dst_ips), ("--sport", cfg.sports),
                                 ("--dport", cfg.dports)) if r.count > 1]
        if varied or cfg.flows:
            raise UsageError(
                f"{', '.join(varied) or '--flows'}: the UDP backend sends from one connected socket; "
                "vary addresses and ports with --backend afpacket"
            )


def _fields(cfg: GenConfig) -> list[tuple[int, int, int]]:
    mode = MODES[cfg.vary]
    out = []
    for r in (cfg.src_ips, cfg.dst_ips, cfg.sports, cfg.dports):
        out.append((r.lo, r.count, mode if r.count > 1 else MODES["fixed"]))
    return out


def make_gen(cfg: GenConfig, worker: int = 0) -> core.Gen:
    t = build_template(
        cfg.src_mac, cfg.dst_mac, cfg.src_ip, cfg.dst_ip, cfg.sports.lo, cfg.dports.lo, max(cfg.frame.sizes),
        cfg.stamp, cfg.ttl, cfg.tos, cfg.df, cfg.ip_id, cfg.payload,
    )
    return core.Gen(
        t.frame, t.l3, t.l4, t.ipv6, [s - FCS for s in spread_sizes(cfg.frame)], _fields(cfg),
        flows=cfg.flows, seed=cfg.seed + worker, seq_base=worker, stamp=cfg.stamp,
    )


def gso_bytes(cfg: GenConfig) -> int:
    """UDP payload bytes per datagram when the UDP backend can send in GSO messages, else 0."""
    if cfg.backend != "udp" or not cfg.gso or len(set(cfg.frame.sizes)) != 1:
        return 0
    return cfg.frame.sizes[0] - header_bytes(cfg.src_ip.version == 6, False)


def l2_extra(cfg: GenConfig) -> int:
    """Bytes per packet the port does not count but L2 does."""
    if cfg.backend == "udp":
        return header_bytes(cfg.src_ip.version == 6, False)
    return FCS


def _open_port(cfg: GenConfig, counters):
    if cfg.backend == "udp":
        from wirespeed.ports.udp import UdpPort

        return UdpPort(cfg.where, (str(cfg.src_ip), cfg.sports.lo), (str(cfg.dst_ip), cfg.dports.lo),
                       batch=cfg.batch, slot=max(2048, (max(cfg.frame.sizes) + 63) // 64 * 64), counters=counters,
                       gso=gso_bytes(cfg))
    if cfg.backend == "xdp":
        from wirespeed.ports.xdp import XdpPort

        return XdpPort(cfg.where, tx=True, copy=cfg.copy, frame_size=XSK_FRAME, counters=counters)
    from wirespeed.ports.afpacket import AfPacketPort

    return AfPacketPort(cfg.where, tx=True, max_frame=max(cfg.frame.sizes), qdisc_bypass=cfg.qdisc_bypass,
                        linear=cfg.linear, counters=counters)


class _GenStep(workers.Step):
    def __init__(self, cfg: GenConfig, i: int, shared: workers.Shared, ns_per_pkt: float):
        self.cfg = cfg
        self.ctl = shared.control
        self.port = _open_port(cfg, shared.counters[i])
        self.gen = make_gen(cfg, i)
        self.gen.set_rate(ns_per_pkt)
        total = cfg.count if cfg.count is not None else workers.FOREVER
        self.left = total // cfg.workers + (1 if i < total % cfg.workers else 0)

    def __call__(self) -> bool:
        until = min(int(self.ctl[workers.DEADLINE]), time.monotonic_ns() + workers.SLICE_NS)
        self.left -= self.port.gen_run(self.gen, self.cfg.batch, self.left, until)
        return self.left > 0 and time.monotonic_ns() < self.ctl[workers.DEADLINE]

    def close(self) -> None:
        if hasattr(self.port, "drain"):
            self.port.drain()  # what is in the TX ring leaves before the count is final
        self.port.close()


def ns_per_packet(cfg: GenConfig) -> float:
    """Pacing interval per worker, 0 for as fast as possible."""
    if cfg.rate is None:
        return 0.0
    pps = cfg.rate.packets_per_second(float(cfg.frame.mean_wire), cfg.link_bps)
    return 1e9 * cfg.workers / pps


def check_mtu(cfg: GenConfig) -> None:
    """The kernel skips its own MTU check for frames with a virtio_net_hdr: do it here."""
    if cfg.backend != "afpacket":
        return
    mtu = link_info(cfg.where)["mtu"]
    biggest = max(cfg.frame.sizes)
    if biggest - FCS > mtu + 14:
        raise UsageError(f"frame size {biggest} exceeds the MTU of {cfg.where} ({mtu} + 14 + 4 FCS = {mtu + 18})")


def run(cfg: GenConfig, reporter: stats.Reporter, peer: Where | None = None) -> dict:
    """peer: the far end of a veth (the lab knows it), for backends that must prepare it."""
    check(cfg)
    check_mtu(cfg)
    if cfg.backend == "kernel":
        from wirespeed import kgen

        kg = kgen.KernelGen(cfg, ns_per_packet(cfg), peer, note=lambda text: reporter.note(text))
        try:
            return _run(cfg, reporter, lambda i, shared, pace: kgen.KernelStep(kg, i, shared),
                        sync=lambda shared: kg.sync(shared, max(cfg.frame.sizes) - FCS))
        finally:
            kg.close()
    return _run(cfg, reporter, lambda i, shared, pace: _GenStep(cfg, i, shared, pace))


def _run(cfg: GenConfig, reporter: stats.Reporter, make_step, sync=lambda shared: None) -> dict:
    pace = ns_per_packet(cfg)
    shared = workers.Shared(cfg.workers)
    cpus = workers.cpu_plan(cfg.workers, cfg.cpus, descending=True)
    extra = l2_extra(cfg)
    iface0 = link_stats(cfg.where)
    prev = {"c": shared.totals().copy()}

    def on_interval(t: float, dt: float) -> None:
        sync(shared)
        c = shared.totals()
        d = c - prev["c"]
        prev["c"] = c.copy()
        r = stats.rates(int(d[core.C["packets"]]), int(d[core.C["bytes"]]), dt, extra)
        reporter.interval(t + dt, r, {"errors": int(d[core.C["errors"]]), "ring_full": int(d[core.C["ring_full"]])})

    reporter.event("start", interface=str(cfg.where), backend=cfg.backend, gso_bytes=gso_bytes(cfg),
                   workers=cfg.workers, cpus=cpus,
                   batch=cfg.batch, frame=cfg.frame.name, rate_pps=(1e9 * cfg.workers / pace) if pace else None)
    res = workers.run(
        shared, lambda i: make_step(i, shared, pace), cpus, cfg.interval, cfg.duration, on_interval,
        exit_after_setup=cfg.exit_after_setup, on_ready=lambda: reporter.event("ready"),
    )
    if cfg.exit_after_setup:
        return {"setup_only": True}
    iface1 = link_stats(cfg.where)
    sync(shared)
    c = shared.totals()
    secs = res.elapsed_ns / 1e9
    out = {
        "interface": str(cfg.where),
        "backend": cfg.backend,
        "gso_bytes": gso_bytes(cfg),
        "frame": cfg.frame.name,
        "batch": cfg.batch,
        "workers": cfg.workers,
        "seconds": secs,
        "packets": int(c[core.C["packets"]]),
        "bytes": int(c[core.C["bytes"]]),
        "errors": int(c[core.C["errors"]]),
        "ring_full": int(c[core.C["ring_full"]]),
        "syscalls": int(c[core.C["syscalls"]]),
        **stats.rates(int(c[core.C["packets"]]), int(c[core.C["bytes"]]), secs, extra),
        **stats.per_packet(c, float(shared.cpu_ns.sum())),
        "interface_tx_packets": iface1["tx_packets"] - iface0["tx_packets"],
        "interface_tx_dropped": iface1["tx_dropped"] - iface0["tx_dropped"],
        "interrupted": res.interrupted,
    }
    rows = [
        ("interface", f"{cfg.where} ({cfg.backend}{', GSO' if gso_bytes(cfg) else ''}, batch {cfg.batch}, "
                      f"{cfg.workers} worker(s))"),
        ("packets sent", stats.fmt(out["packets"])),
        ("interface tx / dropped", f"{stats.fmt(out['interface_tx_packets'])} / {stats.fmt(out['interface_tx_dropped'])}"),
        ("seconds", stats.fmt(secs, 3)),
        ("rate", f"{stats.fmt(out['pps'], 0)} pps  {stats.fmt(out['l2_mbps'])} Mbit/s L2  {stats.fmt(out['l1_mbps'])} Mbit/s L1"),
        ("errors / ring full", f"{stats.fmt(out['errors'])} / {stats.fmt(out['ring_full'])}"),
        ("data path ns/pkt", stats.fmt(out["ns_per_pkt"], 1)),
        ("data path cycles/pkt", stats.fmt(out["cycles_per_pkt"], 1)),
        ("CPU ns/pkt (user+sys)", stats.fmt(out["cpu_ns_per_pkt"], 1)),
        ("system calls/pkt", stats.fmt(out["syscalls_per_pkt"], 4)),
        ("mean batch", stats.fmt(out["mean_batch"], 1)),
    ]
    reporter.summary(out, rows, "gen summary")
    return out


def link_bps(where: Where) -> int | None:
    """The interface's speed in bit/s, when its driver reports one."""
    speed = link_info(where).get("speed_mbps")
    return speed * 10**6 if speed else None
