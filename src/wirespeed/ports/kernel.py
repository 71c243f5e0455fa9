"""The in-kernel generator (`--backend kernel`): BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES.
The kernel injects the template frame `repeat` times per system call; our XDP program
(bpf.progs.gen_live) writes the sequence number, the fields the run varies and the checksums
into each (under tags, inside tunnels, UDP, TCP or ICMP: where the C builder's layout says) and
returns XDP_TX,
so the frame leaves through the sending veth. A frame given whole (--template, --scapy) goes as
it is but for its --field bytes and checksums, written by the program as the C builder writes
them. With --streams -w N, worker i runs stream i.

Measured here (kernel 6.18, veth, 64-byte frames, one CPU, xdp_count on the peer): after its
frames each call sleeps ~25 ms (tearing its page pool down; 0.3 ms of it CPU), the frames
themselves take ~60 ns each. So two threads call at once on the worker's CPU and cover each
other's sleep (core.bpf_prog_run_live): the traffic has no gaps, and a paced program needs no
catch-up burst after each call. Everything that must act within a call acts inside the program:
pacing (frames not yet due are dropped, i.e. recycled unsent; after a stall at most max_burst
frames catch up and the slots beyond are skipped and counted), the exact count at a rate (a
limit), the counting itself: the program adds every frame it sends to its worker's counters,
which live in a BPF map the parent has mapped (BPF_F_MMAPABLE) and reads like any port's.
Unpaced every run is a frame, so an exact count needs no limit in the program: the two calls
claim their repeat from the count. The program is built for the run (bpf.progs.gen_live: only
the code its options need). A stop reaches the running calls as a signal (EINTR).

The map and the programs are made in the parent before the workers fork, so a verifier
refusal is reported before anything runs.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import struct
from contextlib import ExitStack

import numpy as np

from wirespeed import core
from wirespeed.base.errors import KernelFeatureError, WirespeedError
from wirespeed.base.netns import ifindex, in_netns
from wirespeed.base.packet import fold16
from wirespeed.bpf import BPF_F_TEST_XDP_LIVE_FRAMES, MAP_ARRAY, Map, Prog, XdpLink, progs, xdp_attached
from wirespeed.bpf.asm import XDP_DROP, XDP_PASS
from wirespeed.ports import PortSpec, Prepared, check_queues

CALL_FRAMES = 1 << 24  # frames per system call at full speed: ~1.6 s, the set-up 1.5 % of it
PACED_CALL_S = 0.25  # a paced call lasts about this long
THREADS = 2  # calls at once, covering each other's sleep
LIVE_BATCH = 64  # frames the kernel prepares per inner batch (0..256)
NO_LIMIT = 2**64 - 1
C = core.C


def fixed(ns: float) -> int:
    """ns in the program's schedule units (1/16 ns)."""
    return int(round(ns * (1 << progs.FIX)))


def template(gen: core.Gen, key: int, limited: bool = True) -> tuple[bytes, progs.GenLayout]:
    """The frame the kernel repeats: the generator's first frame, its send time zero (no latency
    from these frames), its checksums valid; and where the program rewrites it, from the
    builder's own layout (under tags, inside a tunnel, UDP, TCP or ICMP alike)."""
    t = gen.layout
    buf = np.zeros(core.GEN_MAX_FRAME, np.uint8)
    lens = np.zeros(1, np.uint32)
    gen.build(buf, core.GEN_MAX_FRAME, lens, False)
    frame = buf[: int(lens[0])].tobytes()
    if t["raw"]:
        return raw_template(frame, t, key, gen.ns_per_pkt > 0, limited)
    if not t["stamp"] or max(t[k] for k in OUTER_RANGES) > 1:
        raise ValueError("the in-kernel generator writes the sequence and varies the inner header's fields only")
    word = functools.partial(int.from_bytes, byteorder="big")
    seq_off, csum_off = t["payload"] + 4, t["l4"] + t["csum_off"]
    fields = tuple(progs.VarField(f["off"], f["width"], f["lo"], walk, f["count"] if f["mode"] == 2 else 0,
                                  word(frame[f["off"]: f["off"] + f["width"]]), bool(f["in_ip"]), bool(f["in_l4"]))
                   for f in t["fields"] for walk in (field_walk(t["flows"], f),)
                   if f["off"] and (f["mode"] == 2 or walk))
    ip_csum_off = t["l3"] + 10 if any(f.in_ip for f in fields) else 0
    outer_words: tuple[int, ...] = ()
    if t["outer_l4"] and t["outer_v6"] and any(f.width == 4 for f in fields):  # the inner addresses move its sum
        outer_words = (seq_off, seq_off + 2, csum_off, *([ip_csum_off] if ip_csum_off else []),
                       *(f.off + j for f in fields for j in range(0, f.width, 2)))
    outer_csum_off = t["outer_l4"] + 6 if outer_words else 0
    layout = progs.GenLayout(
        seq_off=seq_off, seq_base=word(frame[seq_off: seq_off + 4]), seq_mask=(1 << core.SEQ_BITS) - 1,
        csum_off=csum_off, csum=word(frame[csum_off: csum_off + 2]), fields=fields, udp=t["proto"] == 17,
        ip_csum_off=ip_csum_off, ip_csum=word(frame[ip_csum_off: ip_csum_off + 2]) if ip_csum_off else 0,
        outer_csum_off=outer_csum_off, outer_words=outer_words,
        outer_base=((~word(frame[outer_csum_off: outer_csum_off + 2]) & 0xFFFF) +
                    sum(~word(frame[w: w + 2]) & 0xFFFF for w in outer_words)) if outer_words else 0,
        paced=gen.ns_per_pkt > 0, key=key, header=frame[:seq_off], limited=limited,
        guard=guard(*((t["outer_l3"], t["outer_v6"]) if t["outer_l3"] else (t["l3"], t["ipv6"]))),
    )
    return frame, layout


OUTER_RANGES = ("outer_sports", "outer_srcs", "outer_dsts")


def guard(l3: int, v6: bool) -> tuple[int, int]:
    """The words a forwarder rewrites: the Ethernet addresses' first 8 bytes, and the IP header's
    word with IPv4's TTL and header checksum (IPv6: the hop limit)."""
    return 0, l3 + (4 if v6 else 8)


def needs_whole_sums(t: dict) -> bool:
    """A frame given whole whose --fix-checksums the C builder sums whole (a field on the IP
    header's lengths, fields that overlap): the program does not."""
    return bool(t["raw"] and t["raw_fix"] and t["raw_l3"] and not t["raw_incr"])


def raw_template(frame: bytes, t: dict, key: int, paced: bool, limited: bool) -> tuple[bytes, progs.GenLayout]:
    """A frame given whole (--template, --scapy): the builder's first frame, and its fields and
    checksum fixes where and as the C builder has them (gen_build_raw: the sums it took once, the
    shift of each field byte in them). Whole sums (a field on the IP header's lengths, fields
    that overlap) the program does not do."""
    if needs_whole_sums(t):
        raise ValueError("fields on the IP header's lengths, or fields that overlap, need whole sums")
    fields = tuple(progs.RawField(
        f["off"], f["width"], f["mode"], f["lo"], f["span"], f["step"],
        tuple(f["ip_shift"][j] if f["in_ip"] >> j & 1 else None for j in range(f["width"])),
        tuple(f["l4_shift"][j] if f["in_l4"] >> j & 1 else None for j in range(f["width"])))
        for f in t["raw_fields"])
    l3, v6, incr = t["raw_l3"], t["raw_v6"], t["raw_incr"]
    l4_fixed = incr and t["raw_l4"] and t["raw_l4_end"] <= len(frame)  # as the builder: a whole segment only
    end = l3 + (40 if v6 else (frame[l3] & 0x0F) * 4) if l3 else 14  # what a forwarder rewrites, at most
    return frame, progs.GenLayout(
        seq_off=0, seq_base=0, seq_mask=0, csum_off=0, csum=0, udp=t["raw_proto"] == 17,
        paced=paced, key=key, header=frame[:end], limited=limited,
        guard=guard(l3, v6) if l3 else (0,), raw=fields, raw_flows=t["flows"],
        raw_ip_csum_off=l3 + 10 if incr and not v6 else 0, raw_ip_sum=fold16(t["raw_ip_sum"]),
        raw_l4_csum_off=t["raw_l4"] + t["raw_csum_off"] if l4_fixed else 0, raw_l4_sum=fold16(t["raw_l4_sum"]))


def field_walk(flows: int, f: dict) -> tuple[int, ...]:
    """The moduli that give frame k's value of an incrementing field as the C builder walks it:
    lo + (k % flows) % count with --flows, lo + k % count without; () when it stays."""
    count = f["count"]
    if f["mode"] != 1 or count < 2 or flows == 1:
        return ()
    if not flows or (flows > count and flows % count == 0):
        return (count,)
    return (flows,) if flows <= count else (flows, count)


def replay_map(frames: np.ndarray) -> tuple[Map, progs.GenLayout]:
    """A capture's frames (one length) in an array map the program copies frame k % n from."""
    n, length = frames.shape
    if n >= 1 << 31:
        raise WirespeedError(f"--backend kernel replays at most {(1 << 31) - 1:,} frames; this capture has {n:,}")
    slot = -(-length // 8) * 8
    m = Map(MAP_ARRAY, slot, n, "ws_replay", mmapable=True)
    mem = m.words().view(np.uint8)
    mem[:, :length] = frames
    return m, progs.GenLayout(seq_off=0, seq_base=0, seq_mask=0, csum_off=0, csum=0, replay_n=n,
                              replay_len=length)


@functools.cache
def refusal() -> str | None:
    """Why this kernel (or this process) cannot run the in-kernel generator, or None: one
    BPF_PROG_RUN with live frames of a program that drops its frame (nothing is sent). Some
    sandboxes refuse live frames to root (EPERM) while allowing every other BPF call."""
    try:
        prog = Prog(progs.xdp_verdict(XDP_DROP))
    except WirespeedError as e:
        return f"loading an XDP program: {e}"
    try:
        core.bpf_prog_run(prog.fd, bytes(64), None, 1, BPF_F_TEST_XDP_LIVE_FRAMES)
    except OSError as e:
        return f"the kernel refuses BPF_PROG_RUN with live frames ({e.strerror})"
    finally:
        prog.close()
    return None


def prepare(spec: PortSpec, rows: int) -> Prepared:
    """One state map for every worker (its counters, then the program's state), one program per
    worker, and the veth peer made able to receive. Replaying (spec.frames), one map of the
    capture's frames that every worker's program copies from."""
    check_queues(spec.where, rows, tx=True, rx=False)  # veth: the peer RX queue is the sending CPU mod queues
    why = refusal()
    if why:
        raise KernelFeatureError(f"--backend kernel cannot send here: {why}")
    with ExitStack() as made:  # on an error here, everything made so far is closed again
        # one entry holding every worker's slot: its programs address theirs directly
        state = Map(MAP_ARRAY, progs.SLOT * rows, 1, "ws_gen", mmapable=True)
        made.callback(state.close)
        words = state.words().reshape(rows, progs.SLOT_WORDS)
        frames, programs, limits = [], [], []
        maps = {"state": state}
        if spec.frames is not None:
            fmap, replay = replay_map(spec.frames)
            made.callback(fmap.close)
            maps["frames"] = fmap
        for i in range(rows):
            gen = spec.gen_of(i)
            if spec.frames is not None:
                frame = spec.frames[0].tobytes()  # the live frame: its length is every frame's
                layout = dataclasses.replace(replay, paced=gen.ns_per_pkt > 0, key=i, limited=spec.limited)
            else:
                frame, layout = template(gen, i, limited=spec.limited and gen.ns_per_pkt > 0)
            words[i, progs.GEN_INTERVAL] = fixed(gen.ns_per_pkt)
            words[i, progs.GEN_LIMIT] = NO_LIMIT
            words[i, progs.GEN_SLACK] = fixed(spec.max_burst * gen.ns_per_pkt)  # catch-up: max_burst frames
            prog = Prog(progs.gen_live(layout), maps)
            made.callback(prog.close)
            frames.append(frame)
            programs.append(prog)
            limits.append(layout.limited)
        peer_receives(spec, made)
        undo = made.pop_all()
    return Prepared(spec, words[:, : core.N_COUNTERS],
                    lambda sp, i: KernelGenPort(sp, i, words[i], programs[i], frames[i], limits[i]), (undo.close,))


def peer_receives(spec: PortSpec, made: ExitStack) -> None:
    """Frames sent with XDP_TX reach a veth peer only through its NAPI, which an XDP program on
    it (any) or GRO turns on; without either they vanish without a word. Find the peer (through
    netlink, in whatever namespace it lives); if it cannot receive them, attach XDP_PASS for the
    run when allowed (--prepare-peer; the lab does; its removal goes onto `made`), and say so;
    else refuse, naming the fix."""
    from wirespeed.base.netdev import gro_on, veth_peer

    peer = veth_peer(spec.where)
    if peer is None:
        return
    with in_netns(peer):
        index = ifindex(peer)
        if xdp_attached(index) is not None or gro_on(peer):
            return
        if not spec.opt("prepare_peer"):
            raise WirespeedError(
                f"{spec.where} is a veth whose peer {peer} has no XDP program and GRO off: the frames sent "
                f"with XDP_TX would vanish there; add --prepare-peer (attaches XDP_PASS to it for the run) "
                f"or attach an XDP program to it")
        prog = Prog(progs.xdp_verdict(XDP_PASS))
        made.callback(prog.close)
        made.callback(XdpLink(prog, index, str(peer), "native").close)
    spec.note(f"attached XDP_PASS to {peer} for the run: veth delivers XDP_TX frames only to a peer with XDP "
              f"(or GRO); removed at exit")


class KernelGenPort:
    """Worker side: BPF_PROG_RUN calls from inside the sending interface's namespace."""

    backend = "kernel"

    def __init__(self, spec: PortSpec, i: int, words: np.ndarray, prog: Prog, frame: bytes, limited: bool):
        self.where = spec.where
        self.words = words
        self.counters = words[: core.N_COUNTERS]
        self.prog, self.frame = prog, frame
        with in_netns(spec.where):
            index = ifindex(spec.where)
        # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        self.ctx = struct.pack("<6I", 0, len(frame), 0, index, 0, 0)
        self.paced = bool(words[progs.GEN_INTERVAL])
        self.limited = limited  # the program keeps to state[GEN_LIMIT]; else the calls claim a budget
        # A paced call counts runs, not frames: a run not yet due is a drop of ~20 ns.
        self.repeat = int(PACED_CALL_S * 40e6) if self.paced else CALL_FRAMES

    def gen_run(self, gen, batch: int, max_packets: int, until_ns: int) -> int:
        """Send up to max_packets (a paced program stops at its limit; unpaced, the calls claim
        their runs from max_packets); returns the slots passed (sent, and skipped after stalls)."""
        P = C["packets"]
        if max_packets <= 0:
            return 0
        if self.paced and fixed(gen.ns_per_pkt) != self.words[progs.GEN_INTERVAL]:  # a new rate (a trial)
            self.words[progs.GEN_INTERVAL] = fixed(gen.ns_per_pkt)
            self.words[progs.GEN_SLACK] = fixed(gen.max_burst * gen.ns_per_pkt)
            self.words[progs.GEN_DUE] = 0  # the schedule starts at the next run
        sent0, skipped0 = int(self.counters[P]), int(self.words[progs.GEN_SKIPPED])
        self.words[progs.GEN_LIMIT] = min(NO_LIMIT, sent0 + max_packets)
        repeat = self.repeat if self.paced else min(self.repeat, max_packets)
        with in_netns(self.where):
            calls, err = core.bpf_prog_run_live(self.prog.fd, self.frame, self.ctx, repeat, LIVE_BATCH,
                                                until_ns if until_ns < 2**63 - 1 else 0, self.counters,
                                                self.words[progs.GEN_LIMIT : progs.GEN_LIMIT + 1], THREADS,
                                                len(self.frame), 0 if self.limited else max_packets)
        if err:
            raise WirespeedError(f"BPF_PROG_RUN (live frames) on {self.where}: {os.strerror(err)}")
        return int(self.counters[P]) - sent0 + int(self.words[progs.GEN_SKIPPED]) - skipped0

    def departures(self) -> dict:
        return {"slots": int(self.counters[C["packets"]] + self.words[progs.GEN_SKIPPED]),
                "skipped": int(self.words[progs.GEN_SKIPPED])}

    def drain(self, timeout_ms: int = 1000) -> int:
        return 0  # XDP_TX frames leave inside the call

    def close(self) -> None:
        pass  # the program and map are the parent's (Prepared.close)
