"""Ports: batched packet I/O over one interface. One contract, one registry, one module per backend.

The contract (`Port`), what every port has:

    backend: str                   its registry name
    where: Where                   the interface (and namespace) it is bound to
    counters: np.ndarray           uint64[N_COUNTERS], names in core.COUNTER_NAMES: packets,
                                   bytes (frame bytes without FCS; UDP: payload bytes), syscalls,
                                   errors, ring_full, batches, kernel_drops, cycles and ns (TSC
                                   cycles and CLOCK_MONOTONIC ns spent in the data path). Bumped
                                   by C (or by the kernel's BPF program) once per batch; Python
                                   only reads them.
    close() -> None

What a port offers depends on what its backend can do (its `Backend` entry says):

    transmit      gen_run(gen, batch, max_packets, until_ns) -> packets sent
                      the generator's loop in C for one run slice (until CLOCK_MONOTONIC ns)
                  drain(timeout_ms=1000) -> frames the kernel has not yet sent
    receive       sink_run(sink, batch, max_packets, until_ns) -> packets received
    user_frames   rx_batch(size) -> Batch; rx_burst(batch, timeout_ms=0) -> n   best effort,
                      zero copy: the batch's data is the port's own memory, valid until the
                      next rx_burst;  tx_burst(batch) -> n   best effort, one system call
                  update_drops() -> None: the kernel's drop count into counters[kernel_drops]
    zero_copy     rx_take(addrs, lengths) -> n     frames by address, kept until release()
                  release(addrs)                   frames back to the receive ring
                  tx_addrs(addrs, lengths) -> n    send frames of a shared memory by address
                  recycle() -> n                   sent frames back to their owner
                  wait(timeout_ms)                 sleep until a frame arrives
                  data: np.ndarray                 the memory frames live in (UMEM)

Ports are made in two steps, so that a run's counters live where the parent reads them live:
`prepare(spec, rows)` in the parent (shared memory, or a BPF map the kernel counts into, and
whatever must exist before the workers fork), then `Prepared.open(i)` inside worker i.

Adding a backend: its module (with `prepare(spec, rows) -> Prepared`, or `open(spec, counters)
-> Port` for a user-space port, or `prepare_pair(inp, out)` for a forwarder in the kernel; a
`refusal()` probe where the kernel may refuse it) and its entry in BACKENDS, whose flags say
what it can do: tools ask the flags, never the name.
"""

from __future__ import annotations

import importlib
import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from wirespeed import core
from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where, port_error
from wirespeed.base.option import Option
from wirespeed.base.units import parse_positive_int


@dataclass
class Batch:
    """Up to `size` frames: frame i is data[offsets[i] : offsets[i] + lengths[i]]."""

    data: np.ndarray  # uint8, the memory the frames live in
    offsets: np.ndarray  # uint64
    lengths: np.ndarray  # uint32
    timestamps: np.ndarray  # uint64, CLOCK_REALTIME ns at receipt
    n: int = 0

    @classmethod
    def empty(cls, size: int, data: np.ndarray | None = None) -> "Batch":
        return cls(
            data if data is not None else np.zeros(0, np.uint8),
            np.zeros(size, np.uint64),
            np.zeros(size, np.uint32),
            np.zeros(size, np.uint64),
        )

    @classmethod
    def from_frames(cls, frames, lengths=None) -> "Batch":
        """A batch to send (tx_burst) from frames without FCS: a list of bytes-like objects, or
        a 2-D uint8 array with one frame per row (every row whole, or `lengths[i]` bytes of
        row i). The frames are copied once into one contiguous buffer."""
        if isinstance(frames, np.ndarray):
            if frames.ndim != 2 or frames.dtype != np.uint8:
                raise ValueError(f"frames must be a 2-D uint8 array (one frame per row), got {frames.ndim}-D "
                                 f"{frames.dtype}")
            n, width = frames.shape
            data = np.ascontiguousarray(frames).reshape(-1)
            offsets = np.arange(n, dtype=np.uint64) * np.uint64(width)
            lens = np.full(n, width, np.uint32) if lengths is None else np.asarray(lengths, np.uint32)
            if len(lens) != n or (n and int(lens.max()) > width):
                raise ValueError(f"lengths must be {n} values of at most {width} (the row width)")
        else:
            bufs = [memoryview(f).cast("B") for f in frames]
            n = len(bufs)
            lens = np.fromiter((len(b) for b in bufs), np.uint32, n)
            offsets = np.zeros(n, np.uint64)
            offsets[1:] = np.cumsum(lens[:-1], dtype=np.uint64)
            data = np.frombuffer(b"".join(bufs), np.uint8).copy()
        if n and int(lens.min()) < 14:
            raise ValueError("a frame needs at least an Ethernet header (14 bytes)")
        return cls(data, offsets, lens, np.zeros(n, np.uint64), n=n)

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, i: int) -> np.ndarray:
        o = int(self.offsets[i])
        return self.data[o : o + int(self.lengths[i])]


class Port(Protocol):
    backend: str
    where: Where
    counters: np.ndarray

    def facts(self) -> dict: ...  # what the port chose when it opened (XDP mode, copy mode, ...)

    def close(self) -> None: ...


class UserPort:
    """What every user-space port does the same way: its C engine objects `_tx` and `_rx` (one
    object for both where the engine is one socket) run the loops and move the bursts, and the
    port passes its own counters in. A port sets `_tx`, `_rx`, `data` (the memory its frames
    live in) and overrides what its kernel does differently."""

    backend: str
    where: Where
    counters: np.ndarray
    data: np.ndarray | None = None
    _tx: Any = None
    _rx: Any = None

    def gen_run(self, gen, batch: int, max_packets: int, until_ns: int) -> int:
        return self._tx.gen_run(gen, batch, max_packets, until_ns, self.counters)

    def sink_run(self, sink, batch: int, max_packets: int, until_ns: int) -> int:
        return self._rx.sink_run(sink, batch, max_packets, until_ns, self.counters)

    def rx_batch(self, size: int) -> Batch:
        """A batch whose data is this port's own receive memory (ring or UMEM)."""
        return Batch.empty(size, self.data)

    def rx_burst(self, batch: Batch, timeout_ms: int = 0) -> int:
        batch.n = self._rx.rx_burst(batch.offsets, batch.lengths, batch.timestamps, self.counters, timeout_ms)
        return batch.n

    def tx_burst(self, batch: Batch) -> int:
        return self._tx.tx_burst(batch.data, batch.offsets, batch.lengths, batch.n, self.counters)

    def tx_timestamps(self, memory: np.ndarray | None, ring: int) -> None:
        """Read the kernel's transmit stamp of every frame sent from now on into memory
        (runner.stamps: counters, send-delay histogram, ring of records); None: no more.
        Backends with tx_stamps (their transmit side's timestamps())."""
        if not hasattr(self._tx, "timestamps"):
            raise NotImplementedError(f"{self.backend} reads no kernel transmit stamps")
        try:
            self._tx.timestamps(memory, ring)
        except OSError as e:
            raise port_error(e, "SO_TIMESTAMPING " + (e.strerror or ""), self.where) from None

    def drain(self, timeout_ms: int = 1000) -> int:
        return 0  # the kernel takes the frames inside the send call: nothing waits after it

    def update_drops(self) -> None:
        if self._rx is not None:
            self._rx.update_drops(self.counters)

    def facts(self) -> dict:
        return {}


@dataclass(frozen=True)
class Backend:
    """What a backend can do: the one place its rules live. Tools ask these, never a name."""

    name: str
    module: str  # wirespeed.ports.<module>
    summary: str
    transmit: bool
    receive: bool
    forward: bool = False  # fwd can use it: IN to OUT (user-space ports that transmit and receive frames, or
    #                        a program that forwards in the kernel)
    in_kernel: bool = False  # the data path is a BPF program; no frame reaches user space
    xdp_attach: bool = False  # receiving attaches an XDP program to the interface
    one_worker: bool = False  # the kernel does the work on every queue: one worker watches
    per_queue: bool = False  # worker i owns queue i: no more workers than the interface has queues
    fixed_frame: bool = False  # repeats one template: one frame size per run
    varies: tuple[str, ...] = ("src_ip", "dst_ip", "sport", "dport")  # header fields it can vary
    timestamps: bool = True  # its frames carry send times (latency can be measured)
    tx_stamps: bool = False  # the kernel's transmit stamp of each frame it sends can be read (SO_TIMESTAMPING):
    #                          latency from the kernel's stamp, the sender's own delay apart (runner.stamps)
    rx_stamp: str = "user"  # a received frame's time: "kernel" (the kernel's software stamp of the frame, ns;
    #                         where one comes without it, the batch's clock and the rx_user_stamps counter) or
    #                         "user" (CLOCK_REALTIME read once per received batch, once its frames are in hand)
    user_frames: bool = True  # rx_burst / tx_burst: frames in user space (fwd can use it)
    zero_copy: bool = False  # frames change hands by address (rx_take / tx_addrs)
    payload_only: bool = False  # moves UDP payloads; the kernel writes the headers
    gso: bool = False  # sends datagrams of one size in GSO messages
    txtime: bool = False  # each frame can carry its own departure time (SO_TXTIME): --pace kernel
    replay: bool = False  # sends a capture's frames (--pcap)
    max_frame: int = 9000  # largest frame it sends, FCS included
    tap: bool = False  # receives a copy of each frame: the host's own stack still gets (and may drop) it
    options: frozenset[str] = frozenset()  # the backend options (OPTIONS) that apply to it

    @property
    def l2_extra(self) -> int:
        """Bytes per packet its byte counter leaves out and L2 counts (the FCS; for a UDP
        socket also the headers: added by the caller, who knows the IP version)."""
        return 4


# The backends' own options (an Option with the tools that take it): the command line's argument,
# the API keyword and --config key, the check that refuses it on a backend it does not apply to,
# and the value the port reads (PortSpec.opt(name)) all come from here.
OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("qdisc_bypass", ("--no-bypass",), True, "go through the qdisc", ("gen",)),
    Option("linear", ("--no-linear",), True, "let the kernel reference ring pages (trafgen's path) "
                  "instead of copying frames", ("gen",)),
    Option("wait", ("--no-wait",), True, "hand frames to the kernel and go on: no system call waits for its frames' "
                "skbs to be freed (the send buffer holds the whole ring), and a frame the interface refuses is "
                "dropped (errors; the interface's tx_dropped), not offered again: over veth a receiver's full queue "
                "then loses frames instead of holding the sender back", ("gen",)),
    Option("filter_port", ("--filter-port",), False, "count only UDP to --port as traffic", ("sink",)),
    Option("gso", ("--no-gso",), True, "one message per datagram instead of GSO batches", ("gen",)),
    Option("bind", ("--bind",), None, "address to bind (default: the lab's sink address)", ("sink",),
                  parse=str, metavar="ADDR"),
    Option("copy", ("-C", "--copy"), "auto", "zero-copy (zc), copy, or zc when the driver offers it (auto)",
                  ("gen", "sink", "fwd"), choices=("auto", "copy", "zc")),
    Option("xdp_mode", ("-m", "--xdp-mode"), "native", "driver (native) or generic (skb) attach; auto tries "
                  "native first", ("gen", "sink", "fwd"), choices=("native", "skb", "auto")),
    Option("zero_copy", ("--no-zero-copy",), True, "copy frames through the pool instead of sending from "
                  "the shared UMEM", ("fwd",)),
    Option("prepare_peer", ("--prepare-peer",), False, "a veth peer with neither XDP nor GRO would drop "
                  "every frame; attach XDP_PASS to it for the run (the lab does this by itself)", ("gen",)),
    Option("busy_poll", ("--busy-poll",), 0, "busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL USEC, budget "
                  "64): an empty ring asks the driver's poll directly instead of waiting for its softirq", ("sink",),
                  parse=parse_positive_int, metavar="USEC"),
)}


def _b(*names: str) -> frozenset[str]:
    return frozenset(names)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("afpacket", "afpacket", "AF_PACKET rings (TPACKET_V2 TX, V3 RX), one system call per batch",
                transmit=True, receive=True, forward=True, replay=True, tap=True, rx_stamp="kernel", tx_stamps=True,
                options=_b("qdisc_bypass", "linear", "wait", "filter_port")),
        Backend("udp", "udp", "UDP socket, sendmmsg/recvmmsg (GSO when every frame has one size)",
                transmit=True, receive=True, varies=(), payload_only=True, gso=True, txtime=True, rx_stamp="kernel",
                tx_stamps=True,
                options=_b("gso", "bind")),
        Backend("xdp", "xsk", "AF_XDP socket per queue (UMEM, four rings, copy or zero-copy)",
                transmit=True, receive=True, forward=True, xdp_attach=True, per_queue=True, zero_copy=True,
                replay=True, max_frame=4100, rx_stamp="kernel",
                options=_b("copy", "xdp_mode", "zero_copy", "busy_poll")),
        Backend("kernel", "kernel", "in-kernel generator: BPF_PROG_RUN live frames, XDP_TX",
                transmit=True, receive=False, in_kernel=True, fixed_frame=True, per_queue=True,
                timestamps=False, user_frames=False, replay=True, options=_b("prepare_peer")),
        Backend("xdp-count", "xdpcount", "in-kernel counter: an XDP program counts per CPU and drops",
                transmit=False, receive=True, in_kernel=True, xdp_attach=True, one_worker=True, timestamps=False,
                user_frames=False, options=_b("xdp_mode")),
        Backend("xdp-redirect", "xdpfwd", "in-kernel forwarder: an XDP program on IN redirects to OUT (DEVMAP)",
                transmit=False, receive=False, forward=True, in_kernel=True, xdp_attach=True, one_worker=True,
                timestamps=False, user_frames=False, options=_b("xdp_mode")),
    )
}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}") from None


def register(b: Backend, *options: Option) -> None:
    """Add a backend (and the options of its own) to the registry: what a backend module does
    that is not one of ours (and what the tests do to show that nothing else is needed)."""
    for o in options:
        if o.name in OPTIONS and OPTIONS[o.name] != o:
            raise ValueError(f"backend option {o.name} exists already")
        OPTIONS[o.name] = o
    missing = b.options - set(OPTIONS)
    if missing:
        raise ValueError(f"--backend {b.name}: no such option(s) {', '.join(sorted(missing))}")
    BACKENDS[b.name] = b


def options_of(tool: str) -> list[Option]:
    """The backend options `tool` takes (those some backend it can use applies)."""
    return [o for o in OPTIONS.values() if tool in o.tools]


def choice(name: str = "backend", flags: tuple[str, ...] = ("--backend",), help: str = "", extra: tuple = (),
           **can: bool) -> Option:
    """An option naming a backend among those that can do `can` (transmit=True, ...), each with
    its summary in the help; read from the registry when asked, so a backend registered later
    is a choice too."""
    return Option(name, flags, extra[0] if extra else "afpacket",
                  lambda: help + "; ".join(f"{n}: {BACKENDS[n].summary}" for n in names(**can)),
                  choices=lambda: (*extra, *names(**can)))


def takers(option: str) -> list[str]:
    return [n for n, b in BACKENDS.items() if option in b.options]


def backend_options(backend_name: str, tool: str, given: dict) -> dict:
    """Every backend option of `tool` with its value: `given` ones (API values, text parsed)
    checked to apply to the backend, one line naming those it applies to when not; the rest
    their defaults."""
    b = backend(backend_name)
    mine = {o.name: o for o in options_of(tool)}
    out = {}
    for name, v in given.items():
        o = mine.get(name)
        if o is None:
            raise UsageError(f"{tool} has no option {name!r}")
        v = o.value(v)
        if v != o.default and name not in b.options:
            raise UsageError(f"{o.label} applies to --backend {' / '.join(takers(name))}, not {b.name}")
        out[name] = v
    return {name: out.get(name, o.default) for name, o in mine.items()}


def unavailable(name: str) -> str | None:
    """Why this backend cannot run on this kernel or in this process (its module's own probe,
    `refusal()`, where it has one), or None."""
    probe = getattr(_module(backend(name)), "refusal", None)
    return probe() if probe else None


def runnable(**can: bool) -> tuple[str, ...]:
    """names(**can), less the backends this kernel or process refuses (unavailable)."""
    return tuple(n for n in names(**can) if unavailable(n) is None)


def check_workers(b: Backend, workers: int) -> None:
    """What the backend alone says of -w (the interface's queues are checked when it opens)."""
    if b.one_worker and workers > 1:
        raise UsageError(f"--backend {b.name} {'counts' if b.receive else 'works on'} every queue in the kernel, "
                         f"per CPU: -w 1")


def check_queues(where: Where, workers: int, tx: bool, rx: bool) -> tuple[int, int]:
    """Worker i owns queue i: refuse more workers than the interface has queues (one line naming
    its count). Returns its (TX, RX) queues."""
    from wirespeed.base.netdev import queues

    txq, rxq = queues(where)
    have, kind = min([(q, name) for q, name, used in ((txq, "TX", tx), (rxq, "RX", rx)) if used] or [(1, "")])
    if workers > have:
        raise UsageError(f"-w {workers}: {where} has {have} {kind} queue(s), one worker per queue; use -w {have} "
                         f"or more queues (ethtool -L, or 'wirespeed lab up --queues N')")
    return txq, rxq


def names(**can: bool) -> tuple[str, ...]:
    """Backends that can do all of what is asked, e.g. names(transmit=True, timestamps=True)."""
    return tuple(b.name for b in BACKENDS.values() if all(getattr(b, k) == v for k, v in can.items()))


@dataclass
class PortSpec:
    """Everything a backend may need to open a port; each takes what applies to it."""

    backend: str
    where: Where
    tx: bool = False
    rx: bool = False
    batch: int = 64
    max_frame: int = 1518  # largest frame sent, FCS included
    # afpacket
    rx_block_size: int = 1 << 18
    rx_blocks: int = 64
    fanout: int = -1  # PACKET_FANOUT group the workers of one run share (-1: none)
    # udp
    local: tuple[str, int] | None = None
    remote: tuple[str, int] | None = None
    gso: int = 0  # datagram bytes to send in GSO messages (0: one message per datagram)
    txtime: bool = False  # each datagram carries its departure time (SO_TXTIME); needs fq on the interface
    # xdp
    share: Any = None  # an open receiving xdp port whose UMEM a transmitting one sends from
    # kernel
    gen_of: Callable[[int], Any] | None = None  # worker i's core.Gen: the frame the kernel repeats
    frames: Any = None  # kernel: replay these frames (uint8, one row each, one length) instead of a template
    max_burst: int = core.PACE_MAX_BURST  # catch-up bound after a stall, frames
    limited: bool = True  # kernel: a count kept at a rate (-c -r, trials): the program keeps to a limit;
    #                       unpaced, the calls claim their runs from the count instead
    options: dict = field(default_factory=dict)  # the backend options (OPTIONS) given for the run
    note: Callable[[str], None] = field(default=lambda text: None, repr=False)

    def opt(self, name: str) -> Any:
        """A backend option's value for this run: as given, else its default."""
        return self.options.get(name, OPTIONS[name].default)


class WithOptions:
    """A tool's config that carries backend options (`options`: those given, by name)."""

    options: dict

    def opt(self, name: str) -> Any:
        return self.options.get(name, OPTIONS[name].default)


class Prepared:
    """A port prepared in the parent for `rows` workers: counters[i] is worker i's, live (an
    in-kernel counter has a row per CPU instead)."""

    def __init__(self, spec: PortSpec, counters: np.ndarray, opener: Callable[[PortSpec, int], Port],
                 closers: tuple[Callable[[], None], ...] = ()):
        self.spec = spec
        self.counters = counters
        self._open = opener
        self._closers = list(closers)

    def open(self, i: int, **override) -> Port:
        spec = self.spec if not override else PortSpec(**{**self.spec.__dict__, **override})
        return self._open(spec, i)

    def totals(self) -> np.ndarray:
        return self.counters.sum(axis=0)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def shared_counters(rows: int) -> tuple[np.ndarray, mmap.mmap]:
    """rows x N_COUNTERS uint64 in anonymous shared memory (inherited across fork)."""
    mem = mmap.mmap(-1, max(1, rows) * core.N_COUNTERS * 8)
    return np.ndarray((rows, core.N_COUNTERS), np.uint64, buffer=mem), mem


def _module(b: Backend):
    return importlib.import_module(f"wirespeed.ports.{b.module}")


def prepare(spec: PortSpec, rows: int = 1) -> Prepared:
    """The parent's half of opening a port for `rows` workers (see the module docstring)."""
    b = backend(spec.backend)
    if spec.tx and not b.transmit:
        raise UsageError(f"--backend {b.name} cannot transmit")
    if spec.rx and not b.receive:
        raise UsageError(f"--backend {b.name} cannot receive")
    mod = _module(b)
    if hasattr(mod, "prepare"):
        return mod.prepare(spec, rows)
    counters, _ = shared_counters(rows)
    return Prepared(spec, counters, lambda sp, i: mod.open(sp, counters[i]))


def prepare_pair(inp: PortSpec, out: PortSpec) -> tuple[Prepared, Prepared]:
    """A forwarder in the kernel (a `forward` backend with `in_kernel`): its two sides prepared
    at once, since one program joins them (the module's prepare_pair)."""
    b = backend(inp.backend)
    if not (b.forward and b.in_kernel):
        raise UsageError(f"--backend {b.name} is not a forwarder in the kernel")
    return _module(b).prepare_pair(inp, out)


def open_port(spec: PortSpec) -> Port:
    """A port opened here and now (one process): prepare and open in one step."""
    prep = prepare(spec, 1)
    try:
        port = prep.open(0)
    except BaseException:
        prep.close()
        raise
    close = port.close

    def close_both() -> None:  # the port, then what was prepared for it (maps, attachments)
        close()
        prep.close()

    port.close = close_both
    return port
