"""`wirespeed fwd IN OUT`: receive a batch -> pool buffers -> user code once per batch ->
queueing discipline -> transmit.

Per batch, Python makes a fixed number of calls into the core whatever the batch size:
rx_burst, pool alloc, copy_frames, the hook, classify+enqueue (or the bypass), dequeue,
tx_burst, pool free. Frames never become Python objects; the hook sees numpy views.
Measured (veth, AF_PACKET both ends, 64-byte frames, batch 64, no hook, one CPU): 976 kpps
forwarded, ~1,020 ns per packet; the C data path of rx_burst and tx_burst is in the summary
(rx_ns_per_pkt, tx_ns_per_pkt), the rest is the kernel's transmit and Python's per-batch calls
(~3 µs per batch, 47 ns per packet).

The qdisc holds pool buffer indices, so packets can wait across batches. When it is empty and
nobody transmits, a batch goes straight to the device (bypass); otherwise it is enqueued and the
transmitter dequeues in bulk up to the byte budget. What the device does not take waits in a
pending slot and goes first next time, as the kernel keeps a requeued packet.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from wirespeed import core, ports
from wirespeed.base import values as V
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.option import (BATCH, COUNT, DURATION, EXIT_AFTER_SETUP, FOLDED, INTERVAL, PROFILE,
                                   WORKERS, Option, Options)
from wirespeed.base.netns import Where
from wirespeed.base.packet import FCS
from wirespeed.mem import Pool
from wirespeed.ports import Batch
from wirespeed.runner import driver, stats
from wirespeed.runner.driver import Plan, Step, Worker
from wirespeed.runner.session import Result, ToolSession
from wirespeed.tools.hooks import DROP, PASS, Hook, HookBatch

QDISCS = {"pfifo": 1, "prio": 3}
KEY_BITS = np.uint64(core.QD_KEY_BITS)  # a descriptor: key | length << KEY_BITS
KEY_MASK = np.uint64((1 << core.QD_KEY_BITS) - 1)
IN, OUT = 0, 1  # port roles
# The forwarder's own statistics (one worker's row of shared memory), then the qdisc's dequeue
# batch-size histogram, then the buffers' accounting.
KEYS = ("hook_dropped", "qdisc_dropped", "no_buffer", "hook_errors", "tx_refused", "qdisc_lock_ops", "bypassed",
        "enqueued", "first_rx_ns", "last_rx_ns")
K = {name: i for i, name in enumerate(KEYS)}
QD_HIST = 10
BUF_KEYS = ("free", "cached", "in_flight", "total", "queued")  # pool: the first four; umem: in_flight, queued
STATS_WORDS = len(KEYS) + QD_HIST + len(BUF_KEYS)


@dataclass
class FwdConfig(ports.WithOptions):
    inp: Where
    out: Where
    backend: str = "afpacket"
    batch: int = 64
    hook: Hook | None = None
    hook_name: str = "none"
    qdisc: str = "pfifo"
    limit: int = 1024
    bulk: bool = True
    bypass: bool = True
    byte_budget: int = 65536
    pool_bufs: int = 8192
    buf_size: int = 2048
    count: int | None = None
    duration: float | None = None
    interval: float = 1.0
    idle_stop: float | None = None  # stop after this long with nothing received (tests, scripts)
    cpu: int | None = None
    buffers: str = "pool"  # pool (preallocated, bulk), or malloc: a malloc'd buffer per packet (the comparison)
    exit_after_setup: bool = False
    profile: bool = False  # --profile: the workers' CPUs sampled, time by kernel stage (runner.profiler)
    folded: str | None = None  # --folded FILE: the sampled call chains written as folded stacks
    options: dict = field(default_factory=dict)  # backend options (ports.OPTIONS) given for the run
    workers: int = 1  # forwarders, one per queue pair (xdp: IN's RX queue i -> OUT's TX queue i; afpacket: fanout)


QUEUEING = "user code and queueing"

# fwd's options, written once (see tools/gen.py's table).
OPTIONS = Options(
    "fwd",
    ports.choice(forward=True),
    BATCH, COUNT, DURATION,
    Option("cpu", ("--cpu",), None, "CPU to pin the forwarder to", parse=V.cpu),
    Option("idle_stop", ("--idle-stop",), None, "stop this long after traffic stops", parse=V.duration,
           metavar="T"),
    WORKERS.but(help="forwarders, each on its own CPU: xdp, worker i on IN's RX queue i and OUT's TX queue i; "
                     "afpacket, a fanout group on IN"),
    Option("pool", ("--pool",), 8192, "pool buffers (default 8192 of 2 KiB)", parse=V.positive_int, metavar="N"),
    Option("buffers", ("--buffers",), "pool", "malloc: a malloc'd buffer per packet instead of the pool (the "
           "talk's comparison)", choices=("pool", "malloc")),
    EXIT_AFTER_SETUP,
    Option("hook", ("--hook",), None, "mac-swap, ttl-dec, drop-udp:PORT or module:function (the API: a callable "
           "too)", parse=V.text, metavar="SPEC", group=QUEUEING),
    Option("qdisc", ("--qdisc",), "pfifo", "prio: 3 bands by DSCP", choices=("pfifo", "prio"), group=QUEUEING),
    Option("limit", ("--limit",), 1024, "qdisc packets per band (default 1024)", parse=V.positive_int,
           metavar="N", group=QUEUEING),
    Option("byte_budget", ("--byte-budget",), 65536, "bytes per bulk dequeue (default 64 KiB)",
           parse=V.positive_int, metavar="BYTES", group=QUEUEING),
    Option("bulk", ("--no-bulk",), True, "dequeue one packet per token (the unbatched cost)", group=QUEUEING),
    Option("bypass", ("--no-bypass",), True, "always enqueue, even into an empty queue", group=QUEUEING),
    INTERVAL, PROFILE, FOLDED,
)


def combined(st: np.ndarray) -> np.ndarray:
    """The workers' rows of forwarder statistics as one: sums, but the first and last frame's
    times (the earliest and the latest)."""
    out = st.sum(axis=0)
    first = st[:, K["first_rx_ns"]]
    out[K["first_rx_ns"]] = first[first > 0].min() if (first > 0).any() else 0
    out[K["last_rx_ns"]] = st[:, K["last_rx_ns"]].max()
    return out


def check(cfg: FwdConfig) -> None:
    b = ports.backend(cfg.backend)
    if not b.forward:
        raise UsageError(f"--backend {b.name} cannot forward; fwd takes {', '.join(ports.names(forward=True))}")
    if not 1 <= cfg.workers <= 16:
        raise UsageError(f"-w/--workers must be 1..16, got {cfg.workers}")
    ports.check_workers(b, cfg.workers)
    if b.in_kernel:
        if cfg.hook is not None:
            raise UsageError(f"--backend {b.name} forwards inside the kernel: no Python hook runs there")
        if cfg.buffers != "pool" or cfg.qdisc != "pfifo" or not cfg.bulk or not cfg.bypass:
            raise UsageError(f"--backend {b.name} has no user-space queue or buffers: --buffers, --qdisc, --no-bulk "
                             f"and --no-bypass apply to {' and '.join(ports.names(forward=True, in_kernel=False))}")
        return  # IN == OUT: back out of IN (XDP_TX)
    if cfg.qdisc not in QDISCS:
        raise UsageError(f"--qdisc must be one of {', '.join(QDISCS)}, got {cfg.qdisc!r}")
    if not 1 <= cfg.batch <= 256:
        raise UsageError(f"-b/--batch must be 1..256, got {cfg.batch}")
    if not 1 <= cfg.limit <= 1 << 20:
        raise UsageError(f"--limit must be 1..1048576 packets, got {cfg.limit}")
    if cfg.byte_budget < 64:
        raise UsageError(f"--byte-budget must be at least 64, got {cfg.byte_budget}")
    if cfg.pool_bufs < 2 * cfg.batch:
        raise UsageError(f"--pool must hold at least two batches ({2 * cfg.batch}), got {cfg.pool_bufs}")
    if cfg.inp == cfg.out:
        raise UsageError(f"IN and OUT are the same interface ({cfg.inp})")
    if cfg.buffers not in ("pool", "malloc"):
        raise UsageError(f"--buffers must be pool or malloc, got {cfg.buffers!r}")
    if cfg.buffers == "malloc" and (b.zero_copy or cfg.qdisc != "pfifo" or cfg.hook is not None):
        raise UsageError(f"--buffers malloc (a malloc'd buffer per packet) goes with --backend "
                         f"{' / '.join(ports.names(forward=True, in_kernel=False, zero_copy=False))}, --qdisc pfifo "
                         "and no hook (hooks see one buffer; these frames have one each)")


def zero_copy(cfg: FwdConfig) -> bool:
    return cfg.opt("zero_copy") and ports.backend(cfg.backend).zero_copy


class Forwarder:
    """The loop's state: ports, buffers, qdisc and counters. step() moves one batch.

    Frames are held by a key: here a pool buffer index (frames are copied in from the receive
    ring); in ZeroCopyForwarder an address in the memory both ports share. A descriptor is
    key | length << 48 (core.QD_KEY_BITS). Received and sent frames are counted by the ports (C); the forwarder
    counts its own decisions into `c` (a row of shared memory in a run)."""

    def __init__(self, cfg: FwdConfig, inp, out, c: np.ndarray | None = None):
        self.cfg = cfg
        self.inp, self.out = inp, out
        self.c = c if c is not None else np.zeros(STATS_WORDS, np.uint64)
        self.pool = None
        self._buffers()
        self.qd = core.Qdisc(QDISCS[cfg.qdisc], cfg.limit, cfg.bulk, cfg.byte_budget)
        self.last_error = ""
        b = cfg.batch
        self.bands = np.zeros(b, np.uint32)
        self.dropped = np.zeros(b, np.uint64)
        self.dq = np.zeros(b, np.uint64)
        self.verdicts = np.zeros(b, np.uint8)
        self.pending = np.zeros(0, np.uint64)  # descriptors the device refused last time

    def count(self, key: str, n: int = 1) -> None:
        self.c[K[key]] += n

    # -- the buffer strategy: pool buffers, frames copied in ------------------------------------
    def _buffers(self) -> None:
        self.pool = Pool(self.cfg.pool_bufs, self.cfg.buf_size, cache=min(256, self.cfg.pool_bufs // 4))
        self.data = self.pool.buffers.reshape(-1)
        self.rb = self.inp.rx_batch(self.cfg.batch)
        # With a hook, a batch is staged as consecutive rows first (frame i = row i), so the hook
        # reaches every frame by slicing; only the frames it keeps move on into pool buffers.
        self.stage = np.zeros((self.cfg.batch, self.cfg.buf_size), np.uint8)
        self.rows_at = np.arange(self.cfg.batch, dtype=np.uint64) * np.uint64(self.cfg.buf_size)

    def _receive(self, timeout_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(keys, lengths) of the frames now held and passed by the hook, and how many arrived."""
        n = self.inp.rx_burst(self.rb, timeout_ms)
        if not n:
            return self.dq[:0], self.rb.lengths[:0], 0
        bs = self.cfg.buf_size
        lengths = np.minimum(self.rb.lengths[:n], bs)
        src, at = self.rb.data, self.rb.offsets[:n]
        if self.cfg.hook is not None:
            flat = self.stage.reshape(-1)
            core.copy_frames(src, at, lengths, n, flat, None, bs)
            keep = self._hook(HookBatch(flat, None, lengths, self._fresh_verdicts(n), self.stage[:n]))
            if keep is not None:
                lengths = lengths[keep]
            src, at = flat, self.rows_at[:n] if keep is None else self.rows_at[:n][keep]
            n_keep = len(lengths)
        else:
            n_keep = n
        idx = self.pool.alloc_burst(n_keep)
        m = len(idx)
        self.count("no_buffer", n_keep - m)
        core.copy_frames(src, at, lengths, m, self.data, idx, bs)
        return idx, lengths[:m], n

    def _fresh_verdicts(self, n: int) -> np.ndarray:
        v = self.verdicts[:n]
        v.fill(PASS)
        return v

    def _hook(self, hb: HookBatch) -> np.ndarray | None:
        """Run the hook; None if it kept every frame, else the boolean mask of those it kept."""
        verdicts = self._run_hook(hb)
        passed = int(np.count_nonzero(verdicts))  # PASS is 1, DROP 0
        if passed == hb.n:
            return None
        self.count("hook_dropped", hb.n - passed)
        return verdicts.view(np.bool_)

    def _offsets(self, keys: np.ndarray) -> np.ndarray:
        return keys * np.uint64(self.cfg.buf_size)

    def _free(self, keys: np.ndarray) -> None:
        self.pool.free_bulk(keys)

    def _send(self, descs: np.ndarray) -> int:
        """Transmit; what went is freed; returns how many."""
        idx = descs & KEY_MASK
        batch = Batch(self.data, idx * np.uint64(self.cfg.buf_size), (descs >> KEY_BITS).astype(np.uint32),
                      np.zeros(0, np.uint64), n=len(descs))
        sent = self.out.tx_burst(batch)
        if sent:
            self.pool.free_bulk(idx[:sent])
        return self._sent(sent, len(descs))

    def _sent(self, sent: int, offered: int) -> int:
        if sent < offered:
            self.count("tx_refused")
        return sent

    def buffers(self) -> dict:
        return {"kind": "pool", **self.pool.accounting()}

    # -- one batch ----------------------------------------------------------------------------
    def step(self, timeout_ms: int) -> int:
        """Receive, run the hook, queue or bypass, transmit. Returns frames received."""
        keys, lengths, n = self._receive(timeout_ms)
        if n and len(keys):
            self._admit(keys, lengths)
        self._transmit()
        return n

    def _admit(self, keys: np.ndarray, lengths: np.ndarray) -> None:
        descs = keys | (lengths.astype(np.uint64) << KEY_BITS)
        if self.cfg.bypass and not len(self.pending) and self.qd.try_bypass():
            sent = self._send(descs)
            self.qd.run_end(sent)
            descs = descs[sent:]
            if not len(descs):
                return
        k = len(descs)
        self.qd.classify(self.data, self._offsets(keys[-k:]), lengths[-k:], k, self.bands)
        dropped = self.qd.enqueue(descs, self.bands, k, self.dropped)
        if dropped:
            self.count("qdisc_dropped", dropped)
            self._free(self.dropped[:dropped] & KEY_MASK)

    def _run_hook(self, hb: HookBatch) -> np.ndarray:
        try:
            r = self.cfg.hook(hb)
            if r is None:
                return hb.verdicts
            r = np.asarray(r)
            if r.shape != (hb.n,):
                raise WirespeedError(f"returned verdicts of shape {r.shape}, expected ({hb.n},)")
            return (r != DROP).astype(np.uint8)  # anything but DROP passes
        except Exception as e:  # the user's code: its failure drops the batch, never the forwarder
            self.count("hook_errors")
            self.last_error = f"{type(e).__name__}: {e}"
            return np.full(hb.n, DROP, np.uint8)

    def _transmit(self) -> None:
        if len(self.pending):
            sent = self._send(self.pending)
            self.pending = self.pending[sent:].copy()
            if len(self.pending):
                return
        got = self.qd.dequeue(self.dq, self.cfg.batch)
        if got:
            sent = self._send(self.dq[:got])
            if sent < got:
                self.pending = self.dq[sent:got].copy()

    def drain(self, timeout_s: float = 1.0) -> None:
        """Send what is still queued (at the end of a run)."""
        deadline = time.monotonic() + timeout_s
        while (len(self.pending) or self.qd.stats()["backlog"]) and time.monotonic() < deadline:
            self._transmit()
        self.out.drain()

    def publish(self) -> None:
        """The qdisc's and the buffers' figures into the statistics row (once per slice)."""
        q = self.qd.stats()
        self.c[K["qdisc_lock_ops"]], self.c[K["bypassed"]], self.c[K["enqueued"]] = (
            q["lock_ops"], q["bypassed"], q["enqueued"])
        self.c[len(KEYS) : len(KEYS) + QD_HIST] = q["dequeue_batch_hist"]
        b = self.buffers()
        self.c[len(KEYS) + QD_HIST :] = [max(0, int(b.get(k, 0))) for k in BUF_KEYS]

    def close(self) -> None:
        for p in (self.out, self.inp):
            if p is not None:
                p.close()
        self.data = self.stage = None  # views of the pool's memory go before it does
        if self.pool is not None:
            self.pool.close()
        self.inp = self.out = self.pool = None


class ZeroCopyForwarder(Forwarder):
    """IN and OUT over one memory (AF_XDP: OUT bound to IN's UMEM with XDP_SHARED_UMEM): the
    frame the kernel wrote on receive is the frame OUT sends; keys are addresses in it. A dropped
    frame goes straight back to IN's receive ring; a sent one when OUT's completion ring returns
    it. Uses the ports' zero-copy part of the contract (rx_take, release, tx_addrs, recycle)."""

    def _buffers(self) -> None:
        self.data = self.inp.data
        self.addrs = np.zeros(self.cfg.batch, np.uint64)
        self.lens = np.zeros(self.cfg.batch, np.uint32)

    def _receive(self, timeout_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
        self.out.recycle()
        n = self.inp.rx_take(self.addrs, self.lens)
        if not n and timeout_ms:
            self.inp.wait(timeout_ms)
            n = self.inp.rx_take(self.addrs, self.lens)
        keys, lengths = self.addrs[:n].copy(), self.lens[:n].copy()
        if n and self.cfg.hook is not None:
            keep = self._hook(HookBatch(self.data, keys, lengths, self._fresh_verdicts(n)))
            if keep is not None:
                self._free(keys[~keep])
                keys, lengths = keys[keep], lengths[keep]
        return keys, lengths, n

    def _offsets(self, keys: np.ndarray) -> np.ndarray:
        return keys

    def _free(self, keys: np.ndarray) -> None:
        self.inp.release(keys)

    def _send(self, descs: np.ndarray) -> int:
        lengths = (descs >> KEY_BITS).astype(np.uint32)
        sent = self.out.tx_addrs(descs & KEY_MASK, lengths)
        return self._sent(sent, len(descs))

    def buffers(self) -> dict:
        return {"kind": "umem", "in_flight": self.out.inflight, "queued": self.qd.stats()["backlog"] + len(self.pending)}


class MallocForwarder(Forwarder):
    """Each received frame copied into a buffer of its own from malloc(), freed once sent: the
    per-packet allocation the pool replaces, for the talk's comparison (the pool saved up to
    ~40 ns per packet in forwarding). Keys are the buffers' addresses."""

    def _buffers(self) -> None:
        self.data = np.zeros(0, np.uint8)  # frames live at their own addresses, not in one buffer
        self.rb = self.inp.rx_batch(self.cfg.batch)
        self.addrs = np.zeros(self.cfg.batch, np.uint64)

    def _receive(self, timeout_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
        n = self.inp.rx_burst(self.rb, timeout_ms)
        if not n:
            return self.dq[:0], self.rb.lengths[:0], 0
        lengths = np.minimum(self.rb.lengths[:n], self.cfg.buf_size)
        m = core.malloc_frames(self.rb.data, self.rb.offsets[:n], lengths, n, self.addrs, self.cfg.buf_size)
        self.count("no_buffer", n - m)
        return self.addrs[:m].copy(), lengths[:m], n

    def _offsets(self, keys: np.ndarray) -> np.ndarray:
        return keys

    def _free(self, keys: np.ndarray) -> None:
        core.free_frames(keys, len(keys))

    def _send(self, descs: np.ndarray) -> int:
        lengths = (descs >> KEY_BITS).astype(np.uint32)
        addrs = descs & KEY_MASK
        sent = self.out._tx.tx_ptrs(addrs, lengths, len(descs), self.out.counters)
        if sent:
            self._free(addrs[:sent])
        return self._sent(sent, len(descs))

    def buffers(self) -> dict:
        return {"kind": "malloc", "free": 0, "cached": 0, "in_flight": 0, "total": 0}


class FwdStep(Step):
    """The forwarder in its worker: batches until the slice ends; the kernel's drops and the
    qdisc's figures published once per slice; a failing hook reported once per interval."""

    def __init__(self, cfg: FwdConfig, w: Worker):
        self.cfg, self.w = cfg, w
        inp = w.open(IN)
        try:
            out = w.open(OUT, share=inp) if zero_copy(cfg) else w.open(OUT)
        except BaseException:
            inp.close()
            raise
        kind = ZeroCopyForwarder if zero_copy(cfg) else MallocForwarder if cfg.buffers == "malloc" else Forwarder
        self.fw = kind(cfg, inp, out, w.stats)
        self.noted_errors, self.next_note = 0, 0.0

    def facts(self) -> dict:
        return self.fw.inp.facts() if hasattr(self.fw.inp, "facts") else {}

    def __call__(self, until_ns: int) -> bool:
        fw, c = self.fw, self.fw.c
        while time.monotonic_ns() < until_ns:
            if fw.step(1):
                now = time.monotonic_ns()
                if not c[K["first_rx_ns"]]:
                    c[K["first_rx_ns"]] = now
                c[K["last_rx_ns"]] = now
        fw.inp.update_drops()
        fw.publish()
        self._note_errors(time.monotonic() >= self.next_note)
        return True

    def _note_errors(self, due: bool) -> None:
        errors = int(self.fw.c[K["hook_errors"]])
        if errors > self.noted_errors and due:
            self.w.note(f"hook {self.cfg.hook_name} failed on {errors - self.noted_errors} batch(es), dropped them: "
                        f"{self.fw.last_error}")
            self.noted_errors, self.next_note = errors, time.monotonic() + self.cfg.interval

    def close(self) -> None:
        try:
            self.fw.drain()
            self.fw.inp.update_drops()
            self.fw.publish()
            self._note_errors(True)
        finally:
            self.fw.close()


class KernelFwdStep(Step):
    """The in-kernel forwarder's worker: attaches the program, watches its counters and OUT's."""

    def __init__(self, cfg: FwdConfig, w: Worker):
        from wirespeed.ports import xdpfwd

        self.watch = xdpfwd.watch
        self.fw = w.open(IN)
        try:
            self.out = w.open(OUT)
        except BaseException:
            self.fw.close()
            raise
        self.first_last = w.stats[K["first_rx_ns"] : K["last_rx_ns"] + 1]

    def facts(self) -> dict:
        return self.fw.facts()

    def __call__(self, until_ns: int) -> bool:
        self.watch(self.fw, self.out, self.first_last, until_ns)
        return True

    def close(self) -> None:
        try:
            self.fw.close()
        finally:
            self.out.close()


def make_step(cfg: FwdConfig, w: Worker) -> Step:
    """The worker's step for this config: the in-kernel forwarder's watch, or the forwarder."""
    return (KernelFwdStep if ports.backend(cfg.backend).in_kernel else FwdStep)(cfg, w)


def plan(cfg: FwdConfig, note=lambda text: None) -> Plan:
    check(cfg)
    cpus = driver.cpu_plan(cfg.workers, [cfg.cpu] if cfg.cpu is not None else None, descending=False, note=note)
    if ports.backend(cfg.backend).in_kernel:  # one program joins IN and OUT: both prepared at once
        inp, out = ports.prepare_pair(ports.PortSpec(cfg.backend, cfg.inp, rx=True, options=cfg.options),
                                      ports.PortSpec(cfg.backend, cfg.out, tx=True, note=note,
                                                     options={**cfg.options, "prepare_peer": True}))
        return Plan("fwd", 1, cpus, [inp, out], stats_words=STATS_WORDS, duration=cfg.duration, count=cfg.count,
                    exit_after_setup=cfg.exit_after_setup)
    common = dict(batch=cfg.batch, options=cfg.options)
    # A TPACKET_V3 block reaches us only when full or timed out: small blocks keep the forwarder
    # fed without bubbles (measured: 993 vs 930 kpps forwarded with 32 KiB vs 256 KiB blocks).
    inp = ports.prepare(ports.PortSpec(cfg.backend, cfg.inp, rx=True, rx_block_size=1 << 15, rx_blocks=512,
                                       fanout=os.getpid() & 0xFFFF if cfg.workers > 1 else -1, note=note, **common),
                        cfg.workers)
    try:
        out = ports.prepare(ports.PortSpec(cfg.backend, cfg.out, tx=True, max_frame=cfg.buf_size + FCS, **common),
                            cfg.workers)
    except BaseException:
        inp.close()
        raise
    return Plan("fwd", cfg.workers, cpus, [inp, out], stats_words=STATS_WORDS, duration=cfg.duration, count=cfg.count,
                exit_after_setup=cfg.exit_after_setup)


def _per_pkt(value: float, packets: int) -> float | None:
    return value / packets if packets else None


class FwdResult(Result):
    """fwd's summary: rx, tx, pps (forwarded), rx_pps, hook_dropped, qdisc_dropped, no_buffer,
    cpu_ns_per_pkt, rx_ns_per_pkt, tx_ns_per_pkt, lock_ops_per_pkt, buffers, kernel_drops, ..."""


class FwdSession(ToolSession):
    """The forwarder as an object (wirespeed.Fwd) and as the command (wirespeed fwd)."""

    tool = "fwd"
    result_type = FwdResult
    roles = ("rx", "tx")

    def counters(self, snap: driver.Snapshot) -> dict[tuple[str, str], int]:
        out = super().counters(snap)
        st = combined(snap.stats)
        out.update({(f"{k}_total", ""): int(st[K[k]]) for k in
                    ("hook_dropped", "qdisc_dropped", "no_buffer", "hook_errors", "tx_refused", "qdisc_lock_ops")})
        return out

    @property
    def zc(self) -> bool:
        return zero_copy(self.cfg)

    def plan(self):
        cfg = self.cfg
        return plan(cfg, self.note), lambda w: make_step(cfg, w)

    def start_fields(self) -> dict:
        cfg = self.cfg
        return dict(inp=str(cfg.inp), out=str(cfg.out), backend=cfg.backend, workers=cfg.workers, batch=cfg.batch,
                    zero_copy=self.zc,
                    hook=cfg.hook_name, qdisc=cfg.qdisc, bulk=cfg.bulk, bypass=cfg.bypass, buffers=cfg.buffers)

    def interval(self, prev: driver.Snapshot, now: driver.Snapshot) -> tuple[dict, dict]:
        C = core.C
        dt = now.t - prev.t
        din, dout = now.port(IN) - prev.port(IN), now.port(OUT) - prev.port(OUT)
        ds = combined(now.stats) - combined(prev.stats)
        r = stats.rates(int(dout[C["packets"]]), int(dout[C["bytes"]]), dt, FCS)
        return r, {"rx_pps": int(din[C["packets"]] / dt), "hook_drops": int(ds[K["hook_dropped"]]),
                   "q_drops": int(ds[K["qdisc_dropped"]])}

    def enough(self, s: driver.Snapshot) -> bool:
        last = int(s.stats[:, K["last_rx_ns"]].max())
        return self.cfg.idle_stop is not None and last > 0 and time.monotonic_ns() - last > self.cfg.idle_stop * 1e9

    def summary(self, end: driver.Ended) -> dict:
        cfg, C = self.cfg, core.C
        s = end.snapshot
        ci, co, st = s.port(IN), s.port(OUT), combined(s.stats)
        rx, tx, tx_bytes = int(ci[C["packets"]]), int(co[C["packets"]]), int(co[C["bytes"]])
        first, last = int(st[K["first_rx_ns"]]), int(st[K["last_rx_ns"]])
        active = (last - first) / 1e9 if last > first else end.seconds
        mine = {k: int(st[K[k]]) for k in ("hook_dropped", "qdisc_dropped", "no_buffer", "hook_errors", "tx_refused")}
        lock_ops = int(st[K["qdisc_lock_ops"]])
        bufs = dict(zip(BUF_KEYS, (int(x) for x in st[len(KEYS) + QD_HIST:])))
        if self.zc:
            buffers = {"kind": "umem", "in_flight": bufs["in_flight"], "queued": bufs["queued"]}
        elif cfg.buffers == "malloc":
            buffers = {"kind": "malloc"}
        else:
            buffers = {"kind": "pool", **{k: bufs[k] for k in BUF_KEYS[:4]}}
        out = {
            "inp": str(cfg.inp), "out": str(cfg.out), "backend": cfg.backend, "workers": cfg.workers,
            "batch": cfg.batch,
            "hook": cfg.hook_name, "qdisc": cfg.qdisc, "bulk": cfg.bulk, "bypass": cfg.bypass,
            "seconds": end.seconds, "active_seconds": active,
            "rx": rx, "tx": tx, "tx_bytes": tx_bytes, **mine, "batches": int(ci[C["batches"]]),
            **stats.rates(tx, tx_bytes, active, FCS), "rx_pps": rx / active if active else 0.0,
            "mean_batch": _per_pkt(rx, int(ci[C["batches"]])),
            "cpu_ns_per_pkt": _per_pkt(float(s.cpu_ns.sum()), rx),
            "rx_ns_per_pkt": _per_pkt(int(ci[C["ns"]]), rx), "tx_ns_per_pkt": _per_pkt(int(co[C["ns"]]), tx),
            "qdisc_lock_ops": lock_ops, "lock_ops_per_pkt": _per_pkt(lock_ops, tx),
            "bypassed": int(st[K["bypassed"]]), "enqueued": int(st[K["enqueued"]]),
            "dequeue_batch_hist": [int(x) for x in st[len(KEYS) : len(KEYS) + QD_HIST]],
            "buffers": buffers, "kernel_drops": int(ci[C["kernel_drops"]]),
            "interrupted": end.interrupted is not None,
        }
        if ports.backend(cfg.backend).in_kernel:  # the forwarding runs in the receive path (softirq), not in the worker
            out.update({"buffers": {"kind": "kernel"}, "batches": None, "mean_batch": None, "cpu_ns_per_pkt": None,
                        "rx_ns_per_pkt": None, "tx_ns_per_pkt": None, "lock_ops_per_pkt": None})
        return out

    def rows(self, out: dict) -> list[tuple[str, str]]:
        cfg, f = self.cfg, stats.fmt
        path = (f"{cfg.inp} → {cfg.out} (kernel: XDP redirect through a DEVMAP, the next hop's MACs written)"
                if ports.backend(cfg.backend).in_kernel else
                f"{cfg.inp} → {cfg.out} ({cfg.backend}, batch {cfg.batch}, hook {cfg.hook_name}, {cfg.qdisc}"
                f"{', bulk' if cfg.bulk else ''}{', bypass' if cfg.bypass else ''}, {cfg.buffers} buffers)")
        return [
            ("path", path),
            ("received / forwarded", f"{f(out['rx'])} / {f(out['tx'])}"),
            ("dropped: hook / qdisc / no buffer", f"{f(out['hook_dropped'])} / {f(out['qdisc_dropped'])} / "
                                                  f"{f(out['no_buffer'])}"),
            ("hook errors (batches dropped)", f(out["hook_errors"])),
            ("kernel RX ring drops (before us)", f(out["kernel_drops"])),
            ("rate (while traffic came)", f"{f(out['pps'], 0)} pps forwarded, {f(out['rx_pps'], 0)} pps received"),
            ("CPU ns/pkt (user+sys)", f(out["cpu_ns_per_pkt"])),
            ("data path ns/pkt: receive / transmit", f"{f(out['rx_ns_per_pkt'])} / {f(out['tx_ns_per_pkt'])}"),
            ("qdisc LOCK ops/pkt", f(out["lock_ops_per_pkt"], 4)),
            ("bypassed / enqueued", f"{f(out['bypassed'])} / {f(out['enqueued'])}"),
            ("mean batch", f(out["mean_batch"])),
        ]


def run(cfg: FwdConfig, reporter: stats.Reporter) -> dict:
    return FwdSession(cfg, reporter.note).drive(reporter, cfg.interval)
