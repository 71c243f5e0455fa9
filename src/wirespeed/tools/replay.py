"""`wirespeed gen --pcap FILE`: replay a capture's frames (afpacket, xdp, or the kernel).

The file is read and indexed once, in the parent, before the worker forks (pcap_index in C, one
pass); rewrites (MACs, addresses, with checksums fixed) are applied once to the whole capture
with numpy. The worker then hands slices of it to the port's tx_burst: one Python call per
batch, the copy into the ring in C. Timing: as fast as possible, at `-r` (a smooth schedule,
late frames are sent late, never skipped: a replay keeps every frame), or the capture's own
(`--timing original`, `--speed` times faster). `--loop N` plays it N times (0: until -c/-d).
Over the kernel backend the frames (one length) go into a BPF map once, and the in-kernel
generator's program copies frame k % n into each live frame (KernelReplayStep).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from wirespeed import core, ports
from wirespeed.base.errors import UsageError
from wirespeed.runner.driver import FOREVER, Step, Worker

SPIN_NS = 200_000  # wait closer than this to a frame's time by spinning, further by sleeping


@dataclass
class Capture:
    path: str
    data: np.ndarray  # the whole file
    offsets: np.ndarray  # uint64: record i's frame starts here
    lengths: np.ndarray  # uint32
    ts: np.ndarray  # uint64 ns, as captured

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, i: int) -> bytes:
        o = int(self.offsets[i])
        return bytes(self.data[o : o + int(self.lengths[i])])


def load(path: str) -> Capture:
    """Read and index a pcap file; a bad file is one line naming the file and the record."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise UsageError(f"--pcap {path}: {e.strerror}") from None
    try:
        n = core.pcap_index(data, None, None, None)
        off, lens, ts = np.empty(n, np.uint64), np.empty(n, np.uint32), np.empty(n, np.uint64)
        core.pcap_index(data, off, lens, ts)
    except ValueError as e:
        raise UsageError(f"--pcap {path}: {e}") from None
    if not n:
        raise UsageError(f"--pcap {path}: the capture holds no frames")
    short = np.flatnonzero(lens < 14)
    if len(short):
        raise UsageError(f"--pcap {path}: frame {int(short[0]) + 1} is {int(lens[short[0]])} bytes, "
                         "shorter than an Ethernet header")
    return Capture(path, data, off, lens, ts)


def check_mtu(cap: Capture, mtu: int, where) -> None:
    """A frame the interface cannot carry is named, not sent (the kernel would not check it)."""
    big = np.flatnonzero(cap.lengths > mtu + 14)
    if len(big):
        i = int(big[0])
        raise UsageError(f"--pcap {cap.path}: frame {i + 1} is {int(cap.lengths[i])} bytes, more than the MTU of "
                         f"{where} carries ({mtu} + 14); {len(big)} such frame(s)")


# -- rewriting, once, for the whole capture -------------------------------------------------------

def _u16(d: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (d[at].astype(np.uint32) << 8) | d[at + 1]


def _put16(d: np.ndarray, at: np.ndarray, v: np.ndarray) -> None:
    d[at] = (v >> 8) & 0xFF
    d[at + 1] = v & 0xFF


def _fold(x: np.ndarray) -> np.ndarray:
    x = (x & 0xFFFF) + (x >> 16)
    return (x & 0xFFFF) + (x >> 16)


def _adjust(d: np.ndarray, at: np.ndarray, old_words: np.ndarray, new_words: np.ndarray, udp: bool = False) -> None:
    """RFC 1624 incremental update of the checksums at `at` for words old -> new (per frame
    rows): HC' = ~(~HC + ~m + m'). A UDP checksum of 0 (none) stays 0; a result of 0 is sent
    as 0xFFFF."""
    if not len(at):
        return
    hc = _u16(d, at).astype(np.uint64)
    keep = hc == 0 if udp else np.zeros(len(at), bool)
    s = (~hc & 0xFFFF) + ((~old_words.astype(np.uint64)) & 0xFFFF).sum(axis=1) + new_words.astype(np.uint64).sum(axis=1)
    res = (~_fold(s)) & 0xFFFF
    if udp:
        res = np.where(res == 0, 0xFFFF, res)
    res = np.where(keep, hc, res)
    _put16(d, at, res.astype(np.uint32))


def _words(b: bytes) -> np.ndarray:
    return np.frombuffer(b, ">u2").astype(np.uint32)


def rewrite(cap: Capture, src_mac: bytes | None = None, dst_mac: bytes | None = None,
            src_ip=None, dst_ip=None) -> dict:
    """Set MACs on every frame and addresses on every IPv4 (or IPv6) frame of the address's
    family, fixing the IPv4 header checksum and the UDP/TCP checksums (first fragments)
    incrementally. Returns how many frames each rewrite touched."""
    d, off, lens = cap.data, cap.offsets.astype(np.int64), cap.lengths.astype(np.int64)
    done = {}
    for mac, at in ((dst_mac, 0), (src_mac, 6)):
        if mac is not None:
            cols = off[:, None] + at + np.arange(6)
            d[cols] = np.frombuffer(mac, np.uint8)
            done["dst_mac" if at == 0 else "src_mac"] = len(off)
    for ip, which in ((src_ip, "src_ip"), (dst_ip, "dst_ip")):
        if ip is None:
            continue
        v6 = ip.version == 6
        etype = _u16(d, off + 12)
        if v6:
            rows = np.flatnonzero((etype == 0x86DD) & (lens >= 54) & ((d[off + 14] >> 4) == 6))
            base, field, width = off[rows] + 14, 8 if which == "src_ip" else 24, 16
            l4 = base + 40
            proto = d[base + 6]
            first = np.ones(len(rows), bool)
        else:
            rows = np.flatnonzero((etype == 0x0800) & (lens >= 34) & ((d[off + 14] >> 4) == 4))
            base = off[rows] + 14
            ihl = (d[base] & 0x0F).astype(np.int64) * 4
            ok = (ihl >= 20) & (14 + ihl <= lens[rows])
            rows, base, ihl = rows[ok], base[ok], ihl[ok]
            field, width = (12 if which == "src_ip" else 16), 4
            l4 = base + ihl
            proto = d[base + 9]
            first = (_u16(d, base + 6) & 0x1FFF) == 0
        addr = base[:, None] + field + np.arange(width)
        old = d[addr].astype(np.uint32)
        old_w = (old[:, 0::2] << 8) | old[:, 1::2]
        new_w = np.broadcast_to(_words(ip.packed), old_w.shape)
        if not v6:
            _adjust(d, base + 10, old_w, new_w)
        for p, csum_at, udp in ((17, 6, True), (6, 16, False)):
            sel = (proto == p) & first & (l4 + csum_at + 2 <= off[rows] + lens[rows])
            _adjust(d, l4[sel] + csum_at, old_w[sel], new_w[sel], udp=udp)
        d[addr] = np.frombuffer(ip.packed, np.uint8)
        done[which] = len(rows)
    return done


# -- sending ------------------------------------------------------------------------------------------

class ReplayStep(Step):
    """One worker sending the capture: each slice hands what is due to tx_burst, a batch at a time."""

    def __init__(self, cap: Capture, cfg, w: Worker, interval_ns: float, original: bool, speed: float,
                 loops: int):
        self.cap, self.cfg, self.w = cap, cfg, w
        self.port = w.open()
        self.n = len(cap)
        self.interval_ns, self.original, self.speed, self.loops = interval_ns, original, speed, loops
        self.sent = 0  # frames sent, over every loop
        self.left = cfg.count if cfg.count is not None else (loops * self.n if loops else 2**63)
        rel = (cap.ts - cap.ts[0]).astype(np.float64) / speed
        # one pass of the capture lasts until its last frame, plus its mean gap before the next pass
        self.rel = rel
        self.pass_ns = float(rel[-1]) + (float(rel[-1]) / (self.n - 1) if self.n > 1 else 0.0)
        self.t0 = 0
        self.batch = ports.Batch(cap.data, cap.offsets, cap.lengths, cap.ts, n=0)

    def _due(self, now: int) -> int:
        """How many frames (from the start, over loops) are due at `now`."""
        el = now - self.t0
        if self.original:
            k, into = divmod(el, self.pass_ns) if self.pass_ns > 0 else (self.sent // self.n, 0.0)
            return int(k) * self.n + int(np.searchsorted(self.rel, into, side="right"))
        if self.interval_ns:
            return int(el / self.interval_ns) + 1
        return 2**63

    def _next_at(self) -> int:
        """When the next frame is due (monotonic ns)."""
        if self.original:
            k, i = divmod(self.sent, self.n)
            return self.t0 + int(k * self.pass_ns + self.rel[i])
        return self.t0 + int(self.sent * self.interval_ns)

    def __call__(self, until_ns: int) -> bool:
        if not self.t0:
            self.t0 = time.monotonic_ns()
        b, n, batch = self.batch, self.n, self.cfg.batch
        while self.left > 0:
            now = time.monotonic_ns()
            if now >= until_ns:
                return True
            due = min(self._due(now) - self.sent, self.left)
            if due <= 0:
                wait = self._next_at() - now
                if wait > SPIN_NS:
                    time.sleep(min(wait - SPIN_NS, until_ns - now) / 1e9)
                continue
            i = self.sent % n
            k = min(due, batch, n - i)  # a batch never wraps: the slice is one view of the capture
            b.offsets, b.lengths, b.n = self.cap.offsets[i : i + k], self.cap.lengths[i : i + k], k
            got = self.port.tx_burst(b)
            self.sent += got
            self.left -= got
        return False

    def close(self) -> None:
        self.port.drain()
        self.port.close()


@dataclass
class KernelPace:
    """What the in-kernel generator's port reads of a generator: ns between frames (0: as fast
    as it goes) and the catch-up bound after a stall, frames."""

    ns_per_pkt: float
    max_burst: int


def frame_rows(cap: Capture, chunk: int = 1 << 14) -> np.ndarray:
    """The capture's frames (every one the same length) as rows of one array, gathered a chunk
    of frames at a time (an index of every byte at once would be 8 times the capture)."""
    length = int(cap.lengths[0])
    out = np.empty((len(cap), length), np.uint8)
    cols = np.arange(length)
    for at in range(0, len(cap), chunk):
        out[at : at + chunk] = cap.data[cap.offsets[at : at + chunk].astype(np.int64)[:, None] + cols]
    return out


class KernelReplayStep(Step):
    """The capture replayed by the kernel (BPF_PROG_RUN live frames): frame k is the capture's
    frame k % n, copied whole from a map by the generator's program."""

    slice_ns = FOREVER  # its calls end at the deadline, the count or the stop signal, not per slice

    def __init__(self, n: int, cfg, w: Worker, pace: KernelPace, loops: int):
        self.w, self.cfg, self.pace = w, cfg, pace
        self.port = w.open()
        self.left = cfg.count if cfg.count is not None else (loops * n if loops else 2**63)

    def __call__(self, until_ns: int) -> bool:
        while self.left > 0 and time.monotonic_ns() < until_ns:
            self.left -= self.port.gen_run(self.pace, self.cfg.batch, min(self.left, 2**62), until_ns)
        return self.left > 0

    def close(self) -> None:
        self.port.close()


def parse_speed(text) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        v = -1.0
    if not 0 < v <= 1e6:
        raise UsageError(f"--speed must be a factor above 0 (2 = twice as fast), got {text!r}")
    return v


def file_ok(path: str) -> None:
    if not os.path.isfile(path):
        raise UsageError(f"--pcap {path}: no such file")
