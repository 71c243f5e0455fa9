"""`wirespeed sink`: the receiver. Counts frames and bytes; from the pktgen header, loss,
reordering, duplicates and one-way latency (sender and receiver must share a clock, as in the
lab). Frames are accounted by the C core straight from the RX ring (or recvmmsg buffers), or
counted by the kernel itself (xdp-count).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from wirespeed import core, ports
from wirespeed.base import values as V
from wirespeed.base.errors import UsageError
from wirespeed.base.option import (BATCH, COUNT, CPUS, DURATION, EXIT_AFTER_SETUP, FOLDED, INTERVAL, PROFILE,
                                   WORKERS, Option, Options)
from wirespeed.base.netdev import link_stats, udp_csum_errors, xdp_stats
from wirespeed.base.netns import Where
from wirespeed.base.packet import FCS, header_bytes
from wirespeed.runner import driver, stamps, stats
from wirespeed.runner.driver import FOREVER, Plan, Step, Worker
from wirespeed.runner.session import Result, ToolSession

S = core.S
SEQ_KEYS = ("lost", "reordered", "duplicated")
# Frames judged one by one (they add up across workers): a sequence number the stream did not
# confirm, and frames whose checksums failed (used for nothing else; sink.h says how).
ERROR_KEYS = ("seq_too_high", "seq_too_low", "ip_csum_errors", "udp_csum_errors")


@dataclass
class SinkConfig(ports.WithOptions):
    where: Where
    backend: str = "afpacket"
    port: int = 9  # UDP: the port bound (at --bind); AF_PACKET: count only UDP to it with --filter-port
    count: int | None = None
    duration: float | None = None
    interval: float = 1.0
    workers: int = 1
    cpus: list[int] | None = None
    batch: int = 256
    exit_after_setup: bool = False
    profile: bool = False  # --profile: the workers' CPUs sampled, time by kernel stage (runner.profiler)
    folded: str | None = None  # --folded FILE: the sampled call chains written as folded stacks
    hist_file: str | None = None  # the latency histogram, written at the end (HdrHistogram .hgrm)
    write_file: str | None = None  # every frame received, as nanosecond pcap (written in C)
    tx_stamps: str | None = None  # --tx-stamps FILE: the generator's send-delay records, joined at the end
    record: bool = False  # keep a record per stamped frame (stream|seq, latency) for a join (runner.stamps)
    snaplen: int = 65535
    write_count: int | None = None  # at most this many frames written
    count_only: bool = False  # count frames and bytes, look into none (no sequence, latency)
    spin: bool = False  # never sleep on an empty ring (a whole CPU, as DPDK's loops)
    verify: bool = True  # the IPv4 header and UDP checksums of every frame looked into
    options: dict = field(default_factory=dict)  # backend options (ports.OPTIONS) given for the run


# sink's options, written once (see tools/gen.py's table).
OPTIONS = Options(
    "sink",
    ports.choice(receive=True),
    BATCH.but(default=256),
    COUNT, DURATION, WORKERS, CPUS,
    Option("port", ("--port",), 9, "UDP port to bind (udp) or count (--filter-port)", parse=V.udp_port),
    Option("count_only", ("--count-only",), False, "count frames and bytes only: no header is read (no loss, "
           "reordering or latency)"),
    Option("verify", ("--no-verify",), True, "do not verify the IPv4 header and UDP checksums of the frames "
           "looked into (by default a frame that fails is counted in ip_csum_errors or udp_csum_errors and used for "
           "nothing else)"),
    Option("spin", ("--spin",), False, "never sleep on an empty ring (takes its CPU whole; by default the "
           "receiver looks again for 100 µs, then waits in poll())"),
    Option("write", ("--write",), None, "afpacket, xdp: write every frame received to FILE as pcap (nanosecond "
           "timestamps), in C, as it is accounted", parse=V.text, metavar="FILE"),
    Option("snaplen", ("--snaplen",), 65535, "--write: bytes of each frame kept (default 65535)",
           parse=V.positive_int, metavar="BYTES"),
    Option("write_count", ("--write-count",), None, "--write: at most N frames", parse=V.count, metavar="N"),
    Option("hist", ("--hist",), None, "write the latency histogram at the end, as HdrHistogram's percentile "
           "distribution (.hgrm, values in µs)", parse=V.text, metavar="FILE"),
    Option("tx_stamps", ("--tx-stamps",), None, "join the frames with the kernel transmit stamps `gen --tx-stamps "
           "FILE` wrote (waiting up to 5 s for the file at the end): the latency from the kernel's transmit stamp, "
           "the sender's own delay apart", parse=V.text, metavar="FILE"),
    EXIT_AFTER_SETUP, INTERVAL, PROFILE, FOLDED,
)


def check(cfg: SinkConfig) -> None:
    b = ports.backend(cfg.backend)
    if not b.receive:
        raise UsageError(f"--backend {b.name} cannot receive; sink takes {', '.join(ports.names(receive=True))}")
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
    ports.check_workers(b, cfg.workers)
    if b.in_kernel and (cfg.count_only or cfg.spin):
        raise UsageError(f"--count-only and --spin are for user-space receivers; --backend {b.name} counts in the "
                         f"kernel")
    if not 1 <= cfg.batch <= 1024:
        raise UsageError(f"-b/--batch must be 1..1024, got {cfg.batch}")
    if cfg.write_file is not None:
        if b.in_kernel or b.payload_only:
            raise UsageError(f"--write captures Ethernet frames: --backend afpacket or xdp, not {b.name}")
        if cfg.workers > 1:
            raise UsageError("--write writes one file from one worker: -w 1")
    if cfg.tx_stamps is not None and b.in_kernel:
        frames = " or ".join(ports.names(receive=True, in_kernel=False))
        raise UsageError(f"--tx-stamps joins stamped frames: --backend {frames}, not {b.name}")
    if not 14 <= cfg.snaplen <= 262144:
        raise UsageError(f"--snaplen must be 14..262144, got {cfg.snaplen}")
    if cfg.write_count is not None and cfg.write_count < 1:
        raise UsageError(f"--write-count must be at least 1, got {cfg.write_count}")


def pcap_records(path: str) -> int:
    """How many records a pcap file holds (indexed in C, in one pass)."""
    import mmap

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return 0
        with mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as m:
            data = np.frombuffer(m, np.uint8)
            try:
                return core.pcap_index(data, None, None, None)
            finally:
                del data


def l2_extra(cfg: SinkConfig) -> int:
    return header_bytes(":" in (cfg.opt("bind") or ""), False) if ports.backend(cfg.backend).payload_only else FCS


class SinkStep(Step):
    """One worker: its port and its accounting (kept in the run's shared statistics)."""

    def __init__(self, cfg: SinkConfig, w: Worker):
        self.cfg = cfg
        self.port = w.open()
        self.in_kernel = ports.backend(cfg.backend).in_kernel
        self.stats = w.stats  # in the kernel's case: first and last time traffic was seen
        self.sink = None if self.in_kernel else core.Sink(udp_port=cfg.port if cfg.opt("filter_port") else 0, stats=w.stats,
                                                          count_only=cfg.count_only, spin=cfg.spin, verify=cfg.verify,
                                                          records=w.records)
        self.w, self.fd = w, None
        if cfg.write_file:
            try:
                self.fd = os.open(cfg.write_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except OSError as e:
                self.port.close()
                raise UsageError(f"--write {cfg.write_file}: {e.strerror}") from None
            self.sink.capture(self.fd, cfg.snaplen, cfg.write_count or 2**64 - 1)

    def facts(self) -> dict:
        return self.port.facts()

    def __call__(self, until_ns: int) -> bool:
        self.port.sink_run(self.sink, self.cfg.batch, FOREVER, until_ns)
        if self.in_kernel:
            self.stats[:] = self.port.active_ns()
        return True  # the run ends it: deadline, count or signal

    def close(self) -> None:
        if self.sink is not None:
            self.sink.flush()  # the sequence suspects still held: settled before the last count is read
        self.port.close()
        if self.fd is not None:
            _, _, err = self.sink.capture_status()  # flushes what is buffered
            os.close(self.fd)
            if err:
                self.w.note(f"writing {self.cfg.write_file} failed: {os.strerror(err)}; the file ends there")


def plan(cfg: SinkConfig, note=lambda text: None) -> Plan:
    check(cfg)
    b = ports.backend(cfg.backend)
    cpus = driver.cpu_plan(cfg.workers, cfg.cpus, descending=False, note=note)
    spec = ports.PortSpec(cfg.backend, cfg.where, rx=True, batch=cfg.batch, local=(cfg.opt("bind") or "0.0.0.0", cfg.port),
                          fanout=os.getpid() & 0xFFFF if cfg.workers > 1 else -1, options=cfg.options, note=note)
    prep = ports.prepare(spec, cfg.workers)
    return Plan("sink", cfg.workers, cpus, [prep], stats_words=2 if b.in_kernel else core.SINK_STATS_WORDS,
                duration=cfg.duration, count=cfg.count, exit_after_setup=cfg.exit_after_setup,
                record_words=stamps.RX_WORDS if recording(cfg) else 0)


def recording(cfg: SinkConfig) -> bool:
    """A record per stamped frame is kept (for a join with the kernel's transmit stamps)."""
    return (cfg.record or cfg.tx_stamps is not None) and not ports.backend(cfg.backend).in_kernel


def streams_whole(s: np.ndarray) -> bool:
    """Whether no stream was seen by two workers (rows of sink statistics)."""
    seen = 0
    for mask in (int(m) for m in s[:, S["stream_set"]]):
        if seen & mask:
            return False
        seen |= mask
    return True


def summarize(snap: driver.Snapshot, seconds: float, cfg: SinkConfig) -> dict:
    """The receiver's figures from the counters and the accounting of every worker."""
    c = snap.port()
    pkts, nbytes = int(c[core.C["packets"]]), int(c[core.C["bytes"]])
    out = {
        "interface": str(cfg.where),
        "backend": cfg.backend,
        "workers": cfg.workers,
        "seconds": seconds,
        "packets": pkts,
        "bytes": nbytes,
        "kernel_drops": int(c[core.C["kernel_drops"]]),
        "errors": int(c[core.C["errors"]]),
    }
    if ports.backend(cfg.backend).in_kernel:  # counted in the kernel: no frame was looked at
        first, last = (int(x) for x in snap.stats[0, :2])
        out["active_seconds"] = (last - first) / 1e9 if last > first else seconds
        return out
    s = snap.stats[:, : len(S)]
    total = {name: int(s[:, j].sum()) for name, j in S.items()}
    first = [int(x) for x in s[:, S["first_ns"]] if x]
    active = (int(s[:, S["last_ns"]].max()) - min(first)) / 1e9 if first else 0.0
    lat_n = total["lat_n"]
    hist = snap.stats[:, len(S): len(S) + core.SINK_HIST].sum(axis=0)
    out.update({
        "active_seconds": active,
        "pktgen": total["pktgen"],
        "other": total["other"],
        "malformed": total["malformed"],
        "seq_jumps": total["seq_jumps"],
        **{k: total[k] for k in ERROR_KEYS},
        **stats.rates(pkts, nbytes, active, l2_extra(cfg)),
        **stats.per_packet(c, float(snap.cpu_ns.sum())),
        "lat_min_ns": int(s[:, S["lat_min_ns"]][s[:, S["lat_n"]] > 0].min()) if lat_n else None,
        "lat_avg_ns": total["lat_sum_ns"] / lat_n if lat_n else None,
        "lat_max_ns": int(s[:, S["lat_max_ns"]].max()) if lat_n else None,
        **stats.percentiles(hist),
        "lat_negative": total["lat_negative"],
        **stamp_sources(total["lat_n"], total["lat_ns_stamps"], cfg.backend, pkts, int(c[core.C["rx_user_stamps"]])),
        "lat_far": total["lat_far"],
        "streams": bin(int(np.bitwise_or.reduce(s[:, S["stream_set"]]))).count("1"),
    })
    # Several workers: the sequence figures add up only if each stream came whole to one of
    # them (per-queue senders into per-queue receivers); else each saw part of a stream.
    for k in SEQ_KEYS:
        out[k] = total[k] if streams_whole(s) else None
    out["per_stream"] = per_stream(snap.stats, active, streams_whole(s))
    if cfg.count_only:  # nothing was looked into
        out.update(dict.fromkeys((*SEQ_KEYS, *ERROR_KEYS, "pktgen", "other", "malformed", "seq_jumps", "streams")))
        out["per_stream"] = []
    return out


P = {name: i for i, name in enumerate(core.SINK_STREAM_STAT_NAMES)}


TX_STAMPS_WAIT_S = 5.0


def read_tx_stamps(path: str, since: float, wait_s: float = TX_STAMPS_WAIT_S):
    """The generator's send-delay records (gen --tx-stamps), written after `since` (a file left by
    an earlier run is not this one's), waiting for them if the sink ended first; None when they
    did not come."""
    end = time.monotonic() + wait_s
    while True:
        try:
            if os.stat(path).st_mtime >= since:
                return np.load(path)
        except (OSError, ValueError):
            pass
        if time.monotonic() >= end:
            return None
        time.sleep(0.05)


def kernel_tx_latency(tx, rx) -> dict:
    """The latency from the kernel's transmit stamp (the join of both sides' records), beside the
    summary's own figures (those stay the latency from the frames' own stamps)."""
    if tx is None:
        return {"lat_kernel_tx": None, "lat_kernel_tx_note": "no transmit stamps came (gen --tx-stamps FILE)"}
    j = stamps.join(tx, rx)
    return {"lat_kernel_tx": j}


def _kernel_tx_rows(out: dict) -> list[tuple[str, str]]:
    """--tx-stamps: the latency from the kernel's transmit stamp, and the sender's own share of
    the latency from the frames' own stamps."""
    if "lat_kernel_tx" not in out:
        return []
    k = out["lat_kernel_tx"]
    if not k or not k.get("samples"):
        return [("latency from the kernel's transmit stamp", out.get("lat_kernel_tx_note") or "no frame joined")]
    us = lambda v: "-" if v is None else f"{v / 1000:,.3f}"  # noqa: E731
    return [("latency µs from the kernel's transmit stamp min/avg/p50/p90/p99/p99.9/max",
             " / ".join(us(k.get(x)) for x in ("min_ns", "avg_ns", "p50_ns", "p90_ns", "p99_ns", "p99_9_ns",
                                                "max_ns"))),
            ("the sender's own delay µs p50 / p99 (in the latency from the frames' stamps)",
             f"{us(k['send_delay_p50_ns'])} / {us(k['send_delay_p99_ns'])} ({k['samples']:,} frames joined, "
             f"{k['unmatched']:,} without a transmit stamp)")]


def stamp_sources(samples: int, ns_samples: int, backend: str, frames: int = 0, unstamped: int = 0) -> dict:
    """Where the latency's two times came from: the send stamp's resolution (wirespeed's stamps
    carry ns; kernel pktgen's whole µs) and the receive time's source: the backend's, unless
    frames came without the kernel's stamp of them (`unstamped` of `frames`: timed by their
    batch's clock, user)."""
    if not samples:
        return {"lat_send_stamp": None, "lat_receive_stamp": None}
    send = "user ns" if ns_samples == samples else "user µs" if not ns_samples else \
        f"user ns ({ns_samples:,}), µs ({samples - ns_samples:,})"
    receive = ports.backend(backend).rx_stamp
    if unstamped:
        receive = "user" if unstamped >= frames else f"kernel ({frames - unstamped:,} frames), user ({unstamped:,})"
    return {"lat_send_stamp": send, "lat_receive_stamp": receive}


def per_stream(stats_rows, seconds: float, whole: bool = True) -> list[dict]:
    """Each stream's own figures (the top 4 bits of the sequence: a sending worker, or one of
    gen's --streams): packets, pps, lost, reordered, duplicated (None when the streams came
    split over several receivers), latency min/avg/max and percentiles (its own histogram)."""
    base = len(S) + core.SINK_HIST
    rows_ = np.asarray(stats_rows)
    ps = rows_[:, base: base + core.SINK_STREAMS * len(P)].reshape(-1, core.SINK_STREAMS, len(P))
    base += core.SINK_STREAMS * len(P)
    hists = rows_[:, base: base + core.SINK_STREAMS * core.SINK_HIST].reshape(-1, core.SINK_STREAMS, core.SINK_HIST)
    out = []
    for sid in range(core.SINK_STREAMS):
        rows = ps[:, sid, :]
        n = int(rows[:, P["packets"]].sum())
        if not n:
            continue
        lat_n = int(rows[:, P["lat_n"]].sum())
        mins = rows[:, P["lat_min_ns"]][rows[:, P["lat_n"]] > 0]
        seq = {k: int(rows[:, P[k]].sum()) if whole else None for k in ("lost", "reordered", "duplicated")}
        out.append({"stream": sid, "packets": n, "pps": n / seconds if seconds else 0.0, **seq,
                    "loss_ratio": seq["lost"] / (n + seq["lost"]) if whole and n + seq["lost"] else None,
                    "lat_min_ns": int(mins.min()) if lat_n else None,
                    "lat_avg_ns": int(rows[:, P["lat_sum_ns"]].sum()) / lat_n if lat_n else None,
                    "lat_max_ns": int(rows[:, P["lat_max_ns"]].max()) if lat_n else None,
                    **stats.percentiles(hists[:, sid, :].sum(axis=0))})
    return out


class SinkResult(Result):
    """sink's summary: packets, bytes, pps, pktgen, other, lost, reordered, duplicated,
    seq_too_high, seq_too_low, ip_csum_errors, udp_csum_errors, latency (lat_min_ns, lat_avg_ns,
    lat_max_ns, p50_ns, p90_ns, p99_ns, p99_9_ns), kernel_drops, ..."""


class SinkSession(ToolSession):
    """The receiver as an object (wirespeed.Sink) and as the command (wirespeed sink)."""

    tool = "sink"
    result_type = SinkResult

    @property
    def backend(self) -> ports.Backend:
        return ports.backend(self.cfg.backend)

    def plan(self):
        cfg = self.cfg
        self.p = plan(cfg, note=self.note)
        self.extra = l2_extra(cfg)
        self.iface0, self.x0 = link_stats(cfg.where), xdp_stats(cfg.where)
        self.t_planned = time.time() - 1.0  # a --tx-stamps file written after this is this run's (mtime's grain)
        self.csum0 = udp_csum_errors(cfg.where) if self.backend.payload_only else None
        return self.p, lambda w: SinkStep(cfg, w)

    def start_fields(self) -> dict:
        if self.backend.in_kernel:
            return dict(interface=str(self.cfg.where), backend=self.cfg.backend)
        return dict(interface=str(self.cfg.where), backend=self.cfg.backend, workers=self.cfg.workers, cpus=self.p.cpus)

    def start_at_ready(self) -> bool:
        return self.backend.in_kernel

    def counters(self, snap: driver.Snapshot) -> dict[tuple[str, str], int]:
        out = super().counters(snap)
        if not self.backend.in_kernel:
            totals = snap.stats[:, : len(S)].sum(axis=0)
            out.update({(f"{k}_total", ""): int(totals[S[k]]) for k in
                        ("pktgen", "other", *SEQ_KEYS, "malformed", "seq_jumps", *ERROR_KEYS)})
            whole = streams_whole(snap.stats[:, : len(S)])
            for p in per_stream(snap.stats, 0.0, whole):  # labelled stream="N"
                for k in ("packets", "lost", "reordered", "duplicated"):
                    if p[k] is not None:
                        out[(f"stream_{k}_total", ("stream", str(p["stream"])))] = p[k]
        return out

    def latency_hist(self, snap: driver.Snapshot):
        return None if self.backend.in_kernel else snap.stats[:, len(S): len(S) + core.SINK_HIST].sum(axis=0)

    def interval(self, prev: driver.Snapshot, now: driver.Snapshot) -> tuple[dict, dict]:
        C = core.C
        d = now.port() - prev.port()
        r = stats.rates(int(d[C["packets"]]), int(d[C["bytes"]]), now.t - prev.t, self.extra)
        if self.backend.in_kernel:
            cols = {"cpus": int((self.p.ports[0].counters[:, C["packets"]] > 0).sum())}
        else:
            ds = now.stats.sum(axis=0) - prev.stats.sum(axis=0)
            seq = streams_whole(now.stats[:, : len(S)])
            cols = {"lost": int(ds[S["lost"]]) if seq else "-", "reordered": int(ds[S["reordered"]]) if seq else "-",
                    "seq_errors": int(ds[S["seq_too_high"]] + ds[S["seq_too_low"]]),
                    "csum_errors": int(ds[S["ip_csum_errors"]] + ds[S["udp_csum_errors"]]),
                    "drops": int(now.port()[C["kernel_drops"]])}
            delta = now.stats.astype(np.int64) - prev.stats.astype(np.int64)  # a loss taken back: negative
            if len(streams := per_stream(delta, now.t - prev.t, seq)) > 1:  # JSON lines only
                cols["per_stream"] = [{k: p[k] for k in ("stream", "packets", "pps", "lost")} for p in streams]
        return r, cols

    def summary(self, end: driver.Ended) -> dict:
        C, cfg = core.C, self.cfg
        iface1, x1 = link_stats(cfg.where), xdp_stats(cfg.where)
        out = summarize(end.snapshot, end.seconds, cfg)
        if cfg.hist_file:
            with open(cfg.hist_file, "w") as f:
                f.write(stats.hgrm(self.latency_hist(end.snapshot)))
        if cfg.tx_stamps is not None:
            out.update(kernel_tx_latency(read_tx_stamps(cfg.tx_stamps, self.t_planned),
                                         stamps.rx_records(self.run.records)))
        if cfg.write_file:  # read back: the records the file holds, counted independently of the writer
            out["write_file"] = cfg.write_file
            out["written"] = pcap_records(cfg.write_file)
        out["interface_rx_packets"] = iface1["rx_packets"] - self.iface0["rx_packets"]
        out["interface_rx_dropped"] = iface1["rx_dropped"] - self.iface0["rx_dropped"]
        out["interrupted"] = end.interrupted is not None
        if self.csum0 is not None and not cfg.count_only:  # a socket sees no bad datagram: the kernel counted them
            out["udp_csum_errors"] = (udp_csum_errors(cfg.where) or 0) - self.csum0
        if self.backend.in_kernel:
            facts = self.run.facts[0]
            per_cpu = self.p.ports[0].counters[:, C["packets"]]
            x0 = self.x0
            out.update({
                "xdp_mode": facts.get("xdp_mode"), "prog_id": facts.get("prog_id"),
                **stats.rates(out["packets"], out["bytes"], out["active_seconds"], FCS),
                "per_cpu_packets": [int(x) for x in per_cpu],
                "interface_xdp_packets": x1.get("xdp_packets", 0) - x0.get("xdp_packets", 0) if x0 else None,
                "interface_xdp_drops": x1.get("xdp_drops", 0) - x0.get("xdp_drops", 0) if x0 else None,
            })
        return out

    def rows(self, out: dict) -> list[tuple[str, str]]:
        cfg, f = self.cfg, stats.fmt
        if self.backend.in_kernel:
            nz = [x for x in out["per_cpu_packets"] if x]
            return [
                ("interface", f"{cfg.where} (xdp-count, {out['xdp_mode']} XDP, program id {out['prog_id']})"),
                ("packets counted and dropped", f(out["packets"])),
                ("interface XDP packets / drops", f"{f(out['interface_xdp_packets'])} / {f(out['interface_xdp_drops'])}"),
                ("rate (while traffic came)", f"{f(out['pps'], 0)} pps  {f(out['l2_mbps'])} Mbit/s L2  "
                                              f"{f(out['l1_mbps'])} Mbit/s L1"),
                ("packets per CPU", " / ".join(f(int(x)) for x in nz) or "0"),
            ]
        lat = [out[k] for k in ("lat_min_ns", "lat_avg_ns", "p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "lat_max_ns")]
        return [
            ("interface", f"{cfg.where} ({cfg.backend}, {cfg.workers} worker(s))"),
            ("packets received", f(out["packets"])),
            ("interface rx / dropped", f"{f(out['interface_rx_packets'])} / {f(out['interface_rx_dropped'])}"),
            ("pktgen / other / malformed", f"{f(out['pktgen'])} / {f(out['other'])} / {f(out['malformed'])}"),
            ("sequence jumps (a restarted sender)", f(out["seq_jumps"])),
            ("sequence errors: too high / too low", f"{f(out['seq_too_high'])} / {f(out['seq_too_low'])}"),
            ("checksum errors: IPv4 header / UDP", f"{f(out['ip_csum_errors'])} / {f(out['udp_csum_errors'])}"),
            ("lost / reordered / duplicated", " / ".join(f(out[k]) for k in SEQ_KEYS)),
            ("kernel ring drops", f(out["kernel_drops"])),
            ("rate (while traffic came)", f"{f(out['pps'], 0)} pps  {f(out['l2_mbps'])} Mbit/s L2  "
                                          f"{f(out['l1_mbps'])} Mbit/s L1"),
            ("latency µs min/avg/p50/p90/p99/p99.9/max",
             " / ".join("-" if v is None else f"{v / 1000:,.3f}" for v in lat)),
            ("latency stamps (send / receive)", f"{out.get('lat_send_stamp') or '-'} / "
                                                f"{out.get('lat_receive_stamp') or '-'}"),
        ] + _kernel_tx_rows(out) + [
            ("data path ns/pkt", f(out["ns_per_pkt"])),
            ("CPU ns/pkt (user+sys)", f(out["cpu_ns_per_pkt"])),
            ("system calls/pkt", f(out["syscalls_per_pkt"], 4)),
        ] + ([(f"stream {p['stream']}: packets, lost, reordered, duplicated, latency µs avg/p50/p99/max",
               f"{f(p['packets'])}, {f(p['lost'])}, {f(p['reordered'])}, {f(p['duplicated'])}, "
               + " / ".join("-" if v is None else f"{v / 1000:,.3f}"
                            for v in (p["lat_avg_ns"], p["p50_ns"], p["p99_ns"], p["lat_max_ns"])))
              for p in out.get("per_stream") or ()] if len(out.get("per_stream") or ()) > 1 else [])


def run(cfg: SinkConfig, reporter: stats.Reporter) -> dict:
    return SinkSession(cfg, reporter.note).drive(reporter, cfg.interval)
