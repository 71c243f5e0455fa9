"""The in-kernel generator (`gen --backend kernel`): BPF_PROG_RUN with
BPF_F_TEST_XDP_LIVE_FRAMES. The kernel injects the template frame `repeat` times per system
call; our XDP program (bpf.progs.gen_live) writes the sequence number, source port and UDP
checksum into each and returns XDP_TX, so the frame leaves through the sending veth.

Measured here (kernel 6.18, veth, 64-byte frames, one CPU, xdp_count on the peer): each call
costs ~24 ms of set-up (a page pool) and then ~60 ns per frame, so calls are few and large
(CALL_FRAMES). Everything that must act within a call acts inside the program: pacing (frames
not yet due are dropped, i.e. recycled unsent), the exact count (a limit), the count itself (a
map the parent reads live). A stop reaches a running call as a signal (EINTR).

Maps and programs are made in the parent before the workers fork, so a verifier refusal is
reported before anything runs and the parent can read every worker's count.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from wirespeed import core, workers
from wirespeed.bpf import BPF_F_TEST_XDP_LIVE_FRAMES, MAP_ARRAY, Map, Prog, XdpLink, xdp_attached
from wirespeed.bpf import progs
from wirespeed.bpf.asm import XDP_PASS
from wirespeed.errors import UsageError, WirespeedError
from wirespeed.packet import PKTGEN_HDR_LEN, udp_checksum
from wirespeed.ports import Where, ifindex, in_netns

CALL_FRAMES = 1 << 24  # frames per system call at full speed: ~1.6 s, the set-up 1.5 % of it
PACED_CALL_S = 0.25  # a paced call lasts about this long
SLACK_NS = 50_000_000  # a paced program catches up at most this far behind (the gap between calls)
LIVE_BATCH = 64  # frames the kernel prepares per inner batch (0..256)
NO_LIMIT = 2**64 - 1


def check(cfg) -> None:
    """What the kernel backend cannot vary: it repeats one frame and varies seq and sport."""
    if len(set(cfg.frame.sizes)) != 1:
        raise UsageError("--backend kernel repeats one template frame: give one frame size, not imix")
    ranged = [n for n, r in (("--src-ip", cfg.src_ips), ("--dst-ip", cfg.dst_ips), ("--dport", cfg.dports))
              if r.count > 1]
    if ranged:
        raise UsageError(f"{', '.join(ranged)}: --backend kernel varies only the source port (--sport, --flows)")
    if cfg.vary == "random" and cfg.sports.count > 1:
        raise UsageError("--backend kernel walks --sport in order; --vary random needs another backend")
    if not cfg.stamp:
        raise UsageError("--backend kernel writes the pktgen sequence: it needs the stamp (no --no-stamp/--payload)")


def flows(cfg) -> int:
    n = cfg.flows or cfg.sports.count
    return min(n, cfg.sports.count) if cfg.sports.count > 1 else 1


def template(cfg, worker: int) -> tuple[bytes, progs.GenLayout]:
    """The frame the kernel repeats: the first frame of this worker's stream, unstamped
    (timestamps are zero: no latency from these frames), its UDP checksum valid."""
    from wirespeed.gen import make_gen

    gen = make_gen(cfg, worker)
    buf = np.zeros(core.GEN_MAX_FRAME, np.uint8)
    lens = np.zeros(1, np.uint32)
    gen.build(buf, core.GEN_MAX_FRAME, lens)
    frame = bytearray(buf[: int(lens[0])].tobytes())
    ipv6 = cfg.src_ip.version == 6
    l3 = 14
    l4 = l3 + (40 if ipv6 else 20)
    payload = l4 + 8
    frame[payload + 8 : payload + PKTGEN_HDR_LEN] = bytes(8)  # tv_sec, tv_usec
    csum = udp_checksum(bytes(frame), l3, l4, ipv6)
    frame[l4 + 6 : l4 + 8] = struct.pack("!H", csum)
    seq0 = struct.unpack("!I", frame[payload + 4 : payload + 8])[0]
    layout = progs.GenLayout(
        seq_off=payload + 4, seq_base=seq0, seq_mask=(1 << core.SEQ_BITS) - 1, csum_off=l4 + 6, csum=csum,
        sport_off=l4, sport_lo=cfg.sports.lo, flows=flows(cfg), paced=cfg.rate is not None,
    )
    return bytes(frame), layout


class KernelGen:
    """Parent side: one state map and one program per worker; the peer made able to receive."""

    def __init__(self, cfg, ns_per_pkt: float, peer: Where | None, note=lambda text: None):
        self.cfg = cfg
        self.maps: list[Map] = []
        self.progs: list[Prog] = []
        self.frames: list[bytes] = []
        self.peer_link: XdpLink | None = None
        self.peer_prog: Prog | None = None
        try:
            total = cfg.count if cfg.count is not None else None
            for i in range(cfg.workers):
                frame, layout = template(cfg, i)
                state = Map(MAP_ARRAY, progs.GEN_VALUE, 1, f"ws_gen{i}")
                limit = NO_LIMIT if total is None else total // cfg.workers + (1 if i < total % cfg.workers else 0)
                state.update(0, struct.pack("<5Q", 0, 0, int(ns_per_pkt), limit, SLACK_NS))
                self.maps.append(state)
                self.progs.append(Prog(progs.gen_live(layout), {"state": state}))
                self.frames.append(frame)
            if peer is not None:
                self._peer_receives(peer, note)
        except BaseException:
            self.close()
            raise

    def _peer_receives(self, peer: Where, note) -> None:
        """Frames sent with XDP_TX reach a veth peer only through its NAPI: an XDP program on
        it (any) turns that on. Without one, attach XDP_PASS for the run, and say so."""
        with in_netns(peer):
            index = ifindex(peer)
            if xdp_attached(index) is not None:
                return
            self.peer_prog = Prog(progs.xdp_verdict(XDP_PASS))
            self.peer_link = XdpLink(self.peer_prog, index, str(peer), "native")
        note(f"attached XDP_PASS to {peer} for the run: veth delivers XDP_TX frames only to a peer with XDP")

    def sent(self) -> np.ndarray:
        """Frames each worker's program has sent so far (read live, from the parent)."""
        return np.array([int(m.lookup_u64()[progs.GEN_SENT]) for m in self.maps], np.uint64)

    def sync(self, shared: workers.Shared, frame_bytes: int) -> None:
        """Packets and bytes of the shared counters from the maps: the program counts them."""
        sent = self.sent()
        shared.counters[:, core.C["packets"]] = sent
        shared.counters[:, core.C["bytes"]] = sent * np.uint64(frame_bytes)

    def close(self) -> None:
        for obj in (self.peer_link, self.peer_prog, *self.progs, *self.maps):
            if obj is not None:
                obj.close()
        self.progs, self.maps, self.peer_link, self.peer_prog = [], [], None, None


class KernelStep(workers.Step):
    """Worker side: BPF_PROG_RUN calls from inside the sending interface's namespace."""

    def __init__(self, kg: KernelGen, i: int, shared: workers.Shared):
        self.kg, self.i, self.shared = kg, i, shared
        cfg = kg.cfg
        with in_netns(cfg.where):
            index = ifindex(cfg.where)
        # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        self.ctx = struct.pack("<6I", 0, len(kg.frames[i]), 0, index, 0, 0)
        self.where = cfg.where
        # A paced call counts runs, not frames: a run not yet due is a drop of ~20 ns.
        self.repeat = int(PACED_CALL_S * 40e6) if cfg.rate is not None else CALL_FRAMES
        self.limit = int(kg.maps[i].lookup_u64()[progs.GEN_LIMIT])
        self.started = False

    def _start_schedule(self) -> None:
        """The first paced frame is due now, not when the map was made."""
        m = self.kg.maps[self.i]
        state = m.lookup_u64().copy()
        state[progs.GEN_DUE] = time.monotonic_ns()
        m.update(0, state.tobytes())

    def __call__(self) -> bool:
        ctl = self.shared.control
        c = self.shared.counters[self.i]
        deadline = int(ctl[workers.DEADLINE])
        left = int(self.limit - self.kg.maps[self.i].lookup_u64()[progs.GEN_SENT])
        if left <= 0 or ctl[workers.STOP] or time.monotonic_ns() >= deadline:
            return False
        if not self.started:
            self._start_schedule()
            self.started = True
        repeat = self.repeat if self.kg.cfg.rate is not None else min(self.repeat, left)
        tsc0, ns0 = core.clock()
        with in_netns(self.where):
            try:
                core.bpf_prog_run(self.kg.progs[self.i].fd, self.kg.frames[self.i], self.ctx, repeat,
                                  BPF_F_TEST_XDP_LIVE_FRAMES, LIVE_BATCH, 1,
                                  deadline if deadline < workers.FOREVER else 0)
            except OSError as e:
                raise WirespeedError(f"BPF_PROG_RUN (live frames) on {self.where}: {e.strerror}") from None
        tsc1, ns1 = core.clock()
        c[core.C["syscalls"]] += 1
        c[core.C["batches"]] += 1
        c[core.C["cycles"]] += tsc1 - tsc0
        c[core.C["ns"]] += ns1 - ns0
        return not ctl[workers.STOP]
