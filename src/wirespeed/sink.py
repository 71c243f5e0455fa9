"""`wirespeed sink`: the receiver. Counts frames and bytes; from the pktgen header, loss,
reordering, duplicates and one-way latency (sender and receiver must share a clock, as in the
lab). Frames are accounted by the C core straight from the RX ring (or recvmmsg buffers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from wirespeed import core, stats, workers
from wirespeed.errors import UsageError
from wirespeed.netdev import link_stats
from wirespeed.packet import FCS, header_bytes
from wirespeed.ports import Where

BACKENDS = ("afpacket", "udp", "xdp", "xdp-count")
POLL_S = 0.01  # xdp-count: how often the per-CPU counters are read
S = {name: i for i, name in enumerate(core.SINK_STAT_NAMES)}
SEQ_KEYS = ("lost", "reordered", "duplicated")


@dataclass
class SinkConfig:
    where: Where
    backend: str = "afpacket"
    bind_ip: str = "0.0.0.0"
    port: int = 9  # UDP: the port bound; AF_PACKET: count only UDP to it when filter_port
    filter_port: bool = False
    count: int | None = None
    duration: float | None = None
    interval: float = 1.0
    json: bool = False
    workers: int = 1
    cpus: list[int] | None = None
    batch: int = 256
    xdp_mode: str = "native"  # xdp, xdp-count: native, skb or auto
    copy: str = "auto"  # xdp: zc, copy or auto
    exit_after_setup: bool = False


def check(cfg: SinkConfig) -> None:
    if cfg.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {cfg.backend!r}")
    if not 0 < cfg.port < 65536:
        raise UsageError(f"--port must be 1..65535, got {cfg.port}")
    if cfg.count is not None and cfg.count < 1:
        raise UsageError(f"-c/--count must be at least 1, got {cfg.count}")
    if cfg.duration is not None and cfg.duration <= 0:
        raise UsageError(f"-d/--duration must be positive, got {cfg.duration}")
    if cfg.interval <= 0:
        raise UsageError(f"-i/--interval must be positive, got {cfg.interval}")
    if not 1 <= cfg.workers <= 16:
        raise UsageError(f"-w/--workers must be 1..16, got {cfg.workers}")
    if cfg.backend == "xdp" and cfg.workers > 1:
        raise UsageError("--backend xdp: one AF_XDP socket per queue, and this port uses queue 0: -w 1")
    if not 1 <= cfg.batch <= 1024:
        raise UsageError(f"-b/--batch must be 1..1024, got {cfg.batch}")


def _open_port(cfg: SinkConfig, counters, group: int):
    if cfg.backend == "udp":
        from wirespeed.ports.udp import UdpPort

        return UdpPort(cfg.where, (cfg.bind_ip, cfg.port), batch=cfg.batch, counters=counters,
                       reuseport=cfg.workers > 1)
    if cfg.backend == "xdp":
        from wirespeed.ports.xdp import XdpPort

        return XdpPort(cfg.where, tx=False, rx=True, copy=cfg.copy, xdp_mode=cfg.xdp_mode, counters=counters)
    from wirespeed.ports.afpacket import AfPacketPort

    return AfPacketPort(cfg.where, tx=False, rx=True, fanout_group=group if cfg.workers > 1 else -1,
                        counters=counters)


class _SinkStep(workers.Step):
    def __init__(self, cfg: SinkConfig, i: int, shared: workers.Shared, group: int):
        self.cfg, self.i, self.shared = cfg, i, shared
        self.port = _open_port(cfg, shared.counters[i], group)
        self.sink = core.Sink(udp_port=cfg.port if cfg.filter_port else 0)

    def _publish(self) -> None:
        st = self.sink.stats()
        row = self.shared.sink[self.i]
        for name, j in S.items():
            row[j] = st[name]
        row[-1] = st["streams"]
        self.shared.hist[self.i] = np.frombuffer(self.sink.hist(), np.uint64)
        self.shared.kernel_drops[self.i] += self.port.kernel_drops()

    def __call__(self) -> bool:
        ctl = self.shared.control
        until = min(int(ctl[workers.DEADLINE]), time.monotonic_ns() + workers.SLICE_NS)
        left = workers.FOREVER
        if self.cfg.count is not None:
            left = self.cfg.count - int(self.shared.totals()[core.C["packets"]])
        if left > 0:
            self.port.sink_run(self.sink, self.cfg.batch, left, until)
        self._publish()
        return left > 0 and time.monotonic_ns() < ctl[workers.DEADLINE]

    def close(self) -> None:
        self._publish()
        self.port.close()


def l2_extra(cfg: SinkConfig) -> int:
    return header_bytes(":" in cfg.bind_ip, False) if cfg.backend == "udp" else FCS


def summarize(shared: workers.Shared, seconds: float, cfg: SinkConfig) -> dict:
    c = shared.totals()
    s = shared.sink
    total = {name: int(s[:, j].sum()) for name, j in S.items()}
    first = [int(x) for x in s[:, S["first_ns"]] if x]
    active = (int(s[:, S["last_ns"]].max()) - min(first)) / 1e9 if first else 0.0
    pkts, nbytes = int(c[core.C["packets"]]), int(c[core.C["bytes"]])
    lat_n = total["lat_n"]
    out = {
        "interface": str(cfg.where),
        "backend": cfg.backend,
        "workers": cfg.workers,
        "seconds": seconds,
        "active_seconds": active,
        "packets": pkts,
        "bytes": nbytes,
        "pktgen": total["pktgen"],
        "other": total["other"],
        "kernel_drops": int(shared.kernel_drops.sum()),
        "errors": int(c[core.C["errors"]]),
        **stats.rates(pkts, nbytes, active, l2_extra(cfg)),
        **stats.per_packet(c, float(shared.cpu_ns.sum())),
        "lat_min_ns": int(s[:, S["lat_min_ns"]][s[:, S["lat_n"]] > 0].min()) if lat_n else None,
        "lat_avg_ns": total["lat_sum_ns"] / lat_n if lat_n else None,
        "lat_max_ns": int(s[:, S["lat_max_ns"]].max()) if lat_n else None,
        **stats.percentiles(shared.hist.sum(axis=0)),
        "lat_negative": total["lat_negative"],
        "streams": int(s[:, -1].max()),
    }
    # With several workers each sees part of every stream: sequence checks would be wrong.
    for k in SEQ_KEYS:
        out[k] = total[k] if cfg.workers == 1 else None
    return out


def run_xdp_count(cfg: SinkConfig, reporter: stats.Reporter) -> dict:
    """Count and drop in the kernel: an XDP program adds packets and bytes to a per-CPU map,
    read here every POLL_S. No frame reaches user space: this is the host's receive ceiling."""
    from wirespeed.bpf import MAP_PERCPU_ARRAY, Map, Prog, XdpLink
    from wirespeed.bpf import progs
    from wirespeed.netdev import xdp_stats
    from wirespeed.ports import ifindex, in_netns

    with in_netns(cfg.where):
        index = ifindex(cfg.where)
    counters = Map(MAP_PERCPU_ARRAY, progs.COUNT_VALUE, 1, "ws_counters")
    prog = link = None
    try:
        prog = Prog(progs.xdp_count(), {"counters": counters})
        with in_netns(cfg.where):
            link = XdpLink(prog, index, str(cfg.where), cfg.xdp_mode)
        reporter.event("start", interface=str(cfg.where), backend=cfg.backend, xdp_mode=link.mode, prog_id=prog.id)
        if cfg.exit_after_setup:
            return {"setup_only": True}
        x0, i0 = xdp_stats(cfg.where), link_stats(cfg.where)
        base = counters.lookup_u64()
        reporter.event("ready")
        t0 = time.monotonic()
        deadline = t0 + cfg.duration if cfg.duration else float("inf")
        first = last = None
        prev, tprev, tick = np.zeros(2, np.uint64), t0, t0 + cfg.interval
        interrupted = False
        total = polled = prev
        per_cpu = np.zeros_like(base)
        try:
            while True:
                time.sleep(POLL_S)
                now = time.monotonic()
                per_cpu = counters.lookup_u64() - base
                total = per_cpu.sum(axis=0)
                if total[0] != polled[0]:  # traffic came since the last poll
                    first = first if first is not None else now - POLL_S
                    last = now
                polled = total
                if now >= tick or now >= deadline or (cfg.count and total[0] >= cfg.count):
                    d = total - prev
                    reporter.interval(now - t0, stats.rates(int(d[0]), int(d[1]), now - tprev, FCS),
                                      {"cpus": int((per_cpu[:, 0] > 0).sum())})
                    prev, tprev, tick = total.copy(), now, now + cfg.interval
                if now >= deadline or (cfg.count and total[0] >= cfg.count):
                    break
        except KeyboardInterrupt:
            interrupted = True
        x1, i1 = xdp_stats(cfg.where), link_stats(cfg.where)
        seconds = time.monotonic() - t0
        active = (last - first) if first is not None and last > first else seconds
        pkts, nbytes = int(total[0]), int(total[1])
        out = {
            "interface": str(cfg.where), "backend": cfg.backend, "xdp_mode": link.mode, "seconds": seconds,
            "active_seconds": active, "packets": pkts, "bytes": nbytes, **stats.rates(pkts, nbytes, active, FCS),
            "per_cpu_packets": [int(x) for x in per_cpu[:, 0]],
            "interface_rx_packets": i1["rx_packets"] - i0["rx_packets"],
            "interface_xdp_packets": x1.get("xdp_packets", 0) - x0.get("xdp_packets", 0) if x0 else None,
            "interface_xdp_drops": x1.get("xdp_drops", 0) - x0.get("xdp_drops", 0) if x0 else None,
            "interrupted": interrupted,
        }
        f = stats.fmt
        rows = [
            ("interface", f"{cfg.where} (xdp-count, {link.mode} XDP, program id {prog.id})"),
            ("packets counted and dropped", f(pkts)),
            ("interface XDP packets / drops", f"{f(out['interface_xdp_packets'])} / {f(out['interface_xdp_drops'])}"),
            ("rate (while traffic came)", f"{f(out['pps'], 0)} pps  {f(out['l2_mbps'])} Mbit/s L2  {f(out['l1_mbps'])} Mbit/s L1"),
            ("packets per CPU", " / ".join(f(x) for x in out["per_cpu_packets"])),
        ]
        reporter.summary(out, rows, "sink summary")
        return out
    finally:
        for obj in (link, prog, counters):
            if obj is not None:
                obj.close()


def run(cfg: SinkConfig, reporter: stats.Reporter) -> dict:
    check(cfg)
    if cfg.backend == "xdp-count":
        return run_xdp_count(cfg, reporter)
    shared = workers.Shared(cfg.workers)
    cpus = workers.cpu_plan(cfg.workers, cfg.cpus, descending=False)
    group = (id(shared) ^ time.monotonic_ns()) & 0xFFFF
    iface0 = link_stats(cfg.where)
    extra = l2_extra(cfg)
    prev = {"c": shared.totals().copy(), "s": shared.sink.sum(axis=0).copy()}

    def on_interval(t: float, dt: float) -> None:
        c, s = shared.totals(), shared.sink.sum(axis=0)
        d, ds = c - prev["c"], s - prev["s"]
        prev["c"], prev["s"] = c.copy(), s.copy()
        r = stats.rates(int(d[core.C["packets"]]), int(d[core.C["bytes"]]), dt, extra)
        extra_cols = {"lost": int(ds[S["lost"]]) if cfg.workers == 1 else "-",
                      "reordered": int(ds[S["reordered"]]) if cfg.workers == 1 else "-",
                      "drops": int(shared.kernel_drops.sum())}
        reporter.interval(t + dt, r, extra_cols)

    def enough() -> bool:
        return cfg.count is not None and int(shared.totals()[core.C["packets"]]) >= cfg.count

    reporter.event("start", interface=str(cfg.where), backend=cfg.backend, workers=cfg.workers, cpus=cpus)
    res = workers.run(
        shared, lambda i: _SinkStep(cfg, i, shared, group), cpus, cfg.interval, cfg.duration, on_interval,
        should_stop=enough, exit_after_setup=cfg.exit_after_setup, on_ready=lambda: reporter.event("ready"),
    )
    if cfg.exit_after_setup:
        return {"setup_only": True}
    iface1 = link_stats(cfg.where)
    out = summarize(shared, res.elapsed_ns / 1e9, cfg)
    out["interface_rx_packets"] = iface1["rx_packets"] - iface0["rx_packets"]
    out["interface_rx_dropped"] = iface1["rx_dropped"] - iface0["rx_dropped"]
    out["interrupted"] = res.interrupted
    f = stats.fmt
    lat = [out[k] for k in ("lat_min_ns", "lat_avg_ns", "p50_ns", "p90_ns", "p99_ns", "p99.9_ns", "lat_max_ns")]
    rows = [
        ("interface", f"{cfg.where} ({cfg.backend}, {cfg.workers} worker(s))"),
        ("packets received", f(out["packets"])),
        ("interface rx / dropped", f"{f(out['interface_rx_packets'])} / {f(out['interface_rx_dropped'])}"),
        ("pktgen / other", f"{f(out['pktgen'])} / {f(out['other'])}"),
        ("lost / reordered / duplicated", " / ".join(f(out[k]) for k in SEQ_KEYS)),
        ("kernel ring drops", f(out["kernel_drops"])),
        ("rate (while traffic came)", f"{f(out['pps'], 0)} pps  {f(out['l2_mbps'])} Mbit/s L2  {f(out['l1_mbps'])} Mbit/s L1"),
        ("latency µs min/avg/p50/p90/p99/p99.9/max",
         " / ".join("-" if v is None else f"{v / 1000:,.1f}" for v in lat)),
        ("data path ns/pkt", f(out["ns_per_pkt"])),
        ("CPU ns/pkt (user+sys)", f(out["cpu_ns_per_pkt"])),
        ("system calls/pkt", f(out["syscalls_per_pkt"], 4)),
    ]
    reporter.summary(out, rows, "sink summary")
    return out
