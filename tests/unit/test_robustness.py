"""What users and bad networks do: frames that carry the pktgen magic and garbage, malformed frames
through the hooks (against dpkt as the oracle), values with units and out of range."""

from __future__ import annotations

import struct
import time

import dpkt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import build, cfg_for, run_cli
from wirespeed import core
from wirespeed.base.errors import UsageError
from wirespeed.base.units import parse_count, parse_duration, parse_rate
from wirespeed.runner.driver import cpu_plan
from wirespeed.tools import hooks
from wirespeed.tools.gen import Range
from wirespeed.tools.hooks import DROP, PASS, HookBatch

SLOT = 256
S = core.S
MAGIC = struct.pack("!I", core.PKTGEN_MAGIC)


def account(frames: list[bytes], rx_ns: int | None = None, verify: bool = True) -> dict:
    k = core.Sink(verify=verify)
    data = np.zeros(len(frames) * SLOT, np.uint8)
    for i, f in enumerate(frames):
        data[i * SLOT : i * SLOT + len(f)] = np.frombuffer(f, np.uint8)
    k.frames(data, np.arange(len(frames), dtype=np.uint64) * SLOT,
             np.array([len(f) for f in frames], np.uint32), rx_ns or time.time_ns())
    k.flush()
    return k.stats()


def fuzzed(rng: np.random.Generator, n: int) -> list[bytes]:
    """Valid frames whose pktgen header is garbage: random sequence, tv_sec and tv_usec."""
    base = build(cfg_for(size=96), 1)[0][0]
    out = []
    for seq, sec, usec in rng.integers(0, 2**32, size=(n, 3), dtype=np.uint64):
        f = bytearray(base)
        f[46:58] = struct.pack("!III", int(seq), int(sec), int(usec))
        out.append(bytes(f))
    return out


def test_garbage_headers_cannot_make_absurd_figures():
    """The reproduction: the pktgen magic followed by garbage made 'lost' 929,150,535,458 from
    92,172 frames and lat_max 1.8e18 ns."""
    frames = fuzzed(np.random.default_rng(7), 92_172)
    s = account(frames, verify=False)  # checksums not recomputed: the headers themselves are the test
    assert s["pktgen"] == 92_172 and s["other"] == 0
    assert s["malformed"] > 90_000  # tv_usec >= 10^6 or a clock decades away: not a header
    assert s["lost"] < 65_536 * (s["pktgen"] - s["malformed"] + 1)
    assert s["lat_max_ns"] <= 10 * 10**9


def test_a_jump_is_a_new_stream_not_a_loss():
    frames, _ = build(cfg_for(), 12)
    far = []
    for i, f in enumerate(frames[9:]):  # a sequence far ahead, confirmed by the frames after: a restart
        b = bytearray(f)
        b[46:50] = struct.pack("!I", 5_000_000 + i)
        far.append(bytes(b))
    s = account(frames[:9] + far, verify=False)
    assert (s["lost"], s["seq_jumps"], s["reordered"], s["seq_too_high"]) == (0, 1, 0, 0)


def test_latency_outside_the_window_is_counted_not_kept():
    frames, _ = build(cfg_for(), 4)
    now = time.time_ns()
    stale = bytearray(frames[3])  # stamped 20 s ago: not this run's latency
    stale[50:58] = struct.pack("!II", now // 10**9 - 20, 0)
    s = account(frames[:3] + [bytes(stale)], now, verify=False)
    assert s["lat_far"] == 1 and s["lat_n"] == 3 and s["lat_max_ns"] < 10**9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=200), min_size=1, max_size=64),
       st.lists(st.tuples(st.integers(0, 199), st.binary(min_size=1, max_size=4)), max_size=8))
def test_any_bytes_are_counted_exactly_and_boundedly(blobs, pokes):
    """Random frames, some with the magic put where a UDP payload would start: every frame is
    counted once, nothing exceeds what the frames can explain."""
    frames = []
    for b in blobs:
        f = bytearray(b)
        for at, v in pokes:
            if at + len(v) <= len(f):
                f[at : at + len(v)] = v
        if len(f) >= 46 + 16 and f[0] & 1 == 0:
            f[42:46] = MAGIC
        frames.append(bytes(f))
    s = account(frames)
    assert s["pktgen"] + s["other"] + s["ip_csum_errors"] + s["udp_csum_errors"] == len(frames)
    assert s["lost"] <= 65_535 * s["pktgen"]
    assert s["reordered"] + s["duplicated"] + s["seq_jumps"] + s["seq_too_high"] + s["seq_too_low"] <= s["pktgen"]
    assert s["lat_n"] + s["lat_negative"] + s["lat_far"] <= s["pktgen"] - s["malformed"]
    assert s["lat_max_ns"] <= 10 * 10**9


# --- hooks on malformed frames, against dpkt ----------------------------------------------------

def dpkt_drops_udp(frame: bytes, port: int) -> bool:
    """The oracle: a frame is dropped when dpkt reads a whole IPv4 (first fragment) or IPv6
    header followed by UDP to `port` within the frame."""
    try:
        eth = dpkt.ethernet.Ethernet(frame)
    except (dpkt.UnpackError, dpkt.NeedData):
        return False
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        hl = ip.hl * 4
        if ip.v != 4 or hl < 20 or len(frame) < 14 + hl + 4 or ip.p != 17 or struct.unpack("!H", frame[20:22])[0] & 0x1FFF:
            return False
        return struct.unpack("!H", frame[14 + hl + 2 : 14 + hl + 4])[0] == port
    if isinstance(ip, dpkt.ip6.IP6):
        return frame[20] == 17 and len(frame) >= 58 and struct.unpack("!H", frame[56:58])[0] == port
    return False


def malformed_stream(seed: int, n: int) -> list[bytes]:
    """UDP frames to ports 9 and 10, damaged at random: cut short, IHL 0..15, fragments,
    other protocols, IPv6, garbage."""
    rng = np.random.default_rng(seed)
    base4, _ = build(cfg_for(size=100, dports=Range(9, 2)), 2)
    base6, _ = build(cfg_for(True, 100), 1)
    out = []
    for _ in range(n):
        f = bytearray(base4[rng.integers(2)] if rng.random() < 0.8 else base6[0])
        r = rng.random()
        if r < 0.2:
            f = f[: rng.integers(0, len(f))]
        elif r < 0.4 and f[12:14] == b"\x08\x00":
            f[14] = 0x40 | rng.integers(0, 16)
        elif r < 0.5 and f[12:14] == b"\x08\x00":
            f[20:22] = struct.pack("!H", int(rng.integers(0, 0x4000)))
        elif r < 0.6:
            f[23 if f[12:14] == b"\x08\x00" else 20] = int(rng.integers(0, 256))
        elif r < 0.65:
            f = bytearray(rng.integers(0, 256, size=rng.integers(1, 120), dtype=np.uint8).tobytes())
        out.append(bytes(f))
    return out


def verdicts_in(frames: list[bytes], layout: str, hook) -> np.ndarray:
    """Run the hook with the frames laid out as a backend lays them out; what lies past each
    frame is garbage (stale bytes of earlier frames, as in a reused buffer)."""
    rng = np.random.default_rng(1)
    n = len(frames)
    data = rng.integers(0, 256, size=n * SLOT, dtype=np.uint8)
    for i, f in enumerate(frames):
        data[i * SLOT : i * SLOT + len(f)] = np.frombuffer(f, np.uint8)
    lengths = np.array([len(f) for f in frames], np.uint32)
    v = np.full(n, PASS, np.uint8)
    if layout == "offsets":  # AF_XDP: frames in the UMEM by offset
        b = HookBatch(data, np.arange(n, dtype=np.uint64) * SLOT, lengths, v)
    else:  # AF_PACKET: the batch staged as rows
        b = HookBatch(data, None, lengths, v, data.reshape(n, SLOT))
    hook(b)
    return v


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_drop_udp_gives_the_oracles_verdicts_on_every_layout(seed):
    frames = malformed_stream(seed, 2000)
    want = np.array([DROP if dpkt_drops_udp(f, 10) else PASS for f in frames], np.uint8)
    hook = hooks.drop_udp_port(10)
    for layout in ("offsets", "rows"):
        assert (verdicts_in(frames, layout, hook) == want).all(), layout
    assert 100 < (want == DROP).sum() < 1900  # the stream exercises both verdicts


def test_ttl_dec_leaves_malformed_frames_alone():
    frames = malformed_stream(4, 500)
    for layout in ("offsets", "rows"):
        v = verdicts_in(frames, layout, hooks.ttl_dec)
        assert ((v == DROP) <= np.array([len(f) >= 34 for f in frames])).all()


def test_a_factory_must_return_a_callable(tmp_path, monkeypatch):
    (tmp_path / "fact.py").write_text("def make():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match="returned int, not a callable"):
        hooks.load("fact:make()")


# --- values with units ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,bps,layer", [
    ("10gbit", 10e9, 1), ("10Gbit/s", 10e9, 1), ("10gbps", 10e9, 1), ("10gbpsl1", 10e9, 1), ("10gbpsl2", 10e9, 2),
    ("1.25GB/s", 10e9, 1), ("10GB/s", 80e9, 1), ("100MBps", 800e6, 1), ("1e9bit", 1e9, 1)])
def test_bit_and_byte_rates(text, bps, layer):
    r = parse_rate(text)
    assert r.bps == pytest.approx(bps) and r.layer == layer


def test_l2_rates_count_frames_l1_the_wire():
    assert parse_rate("10gbpsl2").packets_per_second(84.0, None) == pytest.approx(10e9 / (64 * 8))
    assert parse_rate("10gbps").packets_per_second(84.0, None) == pytest.approx(10e9 / (84 * 8))


@pytest.mark.parametrize("text,s", [("10", 10), ("1.5s", 1.5), ("500ms", 0.5), ("10m", 600), ("2h", 7200)])
def test_durations(text, s):
    assert parse_duration(text) == pytest.approx(s)


@pytest.mark.parametrize("text", ["0", "-1", "1e12", "inf", "nan", "10x"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize("text,n", [("1000", 1000), ("10k", 10_000), ("10M", 10**7), ("1e6", 10**6),
                                    ("1.5M", 1_500_000)])
def test_counts(text, n):
    assert parse_count(text) == n


@pytest.mark.parametrize("text", ["0", "1.5", "2e19", "18446744073709551617", "-5", "ten"])
def test_bad_counts(text):
    with pytest.raises(UsageError):
        parse_count(text)


@pytest.mark.parametrize("args,needle", [
    (["gen", "-c", "-5"], "-c/--count"),
    (["gen", "-w", "-5"], "-w/--workers"),
    (["gen", "-d", "1e12"], "-d/--duration"),
    (["gen", "-d", "inf"], "-d/--duration"),
    (["gen", "-i", "1e-9"], "-i/--interval"),
    (["gen", "--ttl", "256"], "--ttl: must be 0..255"),
    (["gen", "-c", "18446744073709551617"], "-c/--count"),
    (["gen", "--dst-mac", "01:02:03"], "--dst-mac"),
    (["gen", "--backend", "udp", "--no-linear"], "--no-linear applies to --backend afpacket"),
    (["gen", "--backend", "afpacket", "-C", "zc"], "-C/--copy applies to --backend xdp"),
    (["gen", "--backend", "kernel", "-m", "skb"], "-m/--xdp-mode applies to --backend xdp / xdp-count"),
    (["sink", "--backend", "udp", "--filter-port"], "--filter-port applies to --backend afpacket"),
    (["sink", "--backend", "xdp-count", "-w", "2"], "-w 1"),
    (["gen", "--netns", "x"], "--netns names the namespace of an interface you give"),
])
def test_values_and_options_that_do_not_fit_are_one_line(args, needle, monkeypatch):
    r = run_cli(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert needle in lines[0] and len(lines[0]) < 300


def test_more_workers_than_cpus_is_said():
    said = []
    cpus = cpu_plan(5, None, True, note=said.append)
    assert len(cpus) == 5 and said and "share its time" in said[0]
    said.clear()
    cpu_plan(2, [cpus[0], cpus[0]], True, note=said.append)
    assert said
