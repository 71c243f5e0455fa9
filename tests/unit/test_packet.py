"""Frames the C core builds, checked by an independent reading of the wire format; the sink's
accounting of crafted sequences. Pure: no privilege, no kernel."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirespeed import core
from wirespeed.base.errors import UsageError
from helpers import DST4, DST6, SRC4, SRC6, build, cfg_for, parse
from wirespeed.tools.gen import Range, check_frame, make_gen, spread_sizes
from wirespeed.base import packet
from wirespeed.base.packet import FCS, header_bytes
from wirespeed.base.units import frame, parse_frame, parse_rate

@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("size", [64, 65, 128, 1518, "imix"])
def test_checksums_lengths_and_pktgen_header(ipv6, size):
    if ipv6 and size == "imix":
        pytest.skip("IMIX's 64-byte frames cannot hold IPv6/UDP (check_frame refuses the mix)")
    mix = parse_frame("imix") if size == "imix" else frame(size if not ipv6 else max(size, 82))
    frames, _ = build(cfg_for(ipv6, mix), 24)
    cycle = spread_sizes(mix)
    assert [len(f) + FCS for f in frames] == [cycle[i % len(cycle)] for i in range(len(frames))]
    before = time.time()
    for i, f in enumerate(frames):
        p = parse(f)
        magic, seq, sec, usec = struct.unpack("!IIII", p["payload"][:16])
        assert magic == core.PKTGEN_MAGIC
        assert seq == i
        assert usec & packet.STAMP_NS_FLAG  # nanoseconds in the stamp
        assert abs(packet.stamp_ns(sec, usec) / 1e9 - before) < 5
        assert p["src"] == (SRC6 if ipv6 else SRC4) and p["dst"] == (DST6 if ipv6 else DST4)


@settings(max_examples=60, deadline=None)
@given(
    ipv6=st.booleans(),
    sports=st.tuples(st.integers(0, 65535), st.integers(1, 300)),
    dports=st.tuples(st.integers(0, 65535), st.integers(1, 300)),
    addrs=st.integers(1, 1000),
    vary=st.sampled_from(["inc", "random"]),
    size=st.integers(82, 1518),
    ttl=st.integers(1, 255),
    tos=st.integers(0, 255),
)
def test_varied_fields_keep_checksums_right(ipv6, sports, dports, addrs, vary, size, ttl, tos):
    sports = (sports[0], min(sports[1], 65536 - sports[0]))
    dports = (dports[0], min(dports[1], 65536 - dports[0]))
    src = SRC6 if ipv6 else SRC4
    cfg = cfg_for(ipv6, size, sports=Range(*sports), dports=Range(*dports), vary=vary, ttl=ttl, tos=tos,
                  src_ips=Range(int(src) & 0xFFFFFFFF, addrs))
    frames, _ = build(cfg, 40)
    for f in frames:
        p = parse(f)
        assert sports[0] <= p["sport"] < sports[0] + sports[1]
        assert dports[0] <= p["dport"] < dports[0] + dports[1]
        assert 0 <= int(p["src"]) - int(src) < addrs
        assert p["ttl"] == ttl


def test_incrementing_fields_walk_the_range_and_flows_bound_them():
    frames, _ = build(cfg_for(sports=Range(1000, 5), vary="inc"), 12)
    assert [parse(f)["sport"] for f in frames] == [1000, 1001, 1002, 1003, 1004] * 2 + [1000, 1001]
    frames, _ = build(cfg_for(sports=Range(1000, 100), vary="inc", flows=3), 7)
    assert [parse(f)["sport"] for f in frames] == [1000, 1001, 1002, 1000, 1001, 1002, 1000]


def test_random_fields_are_reproducible_with_a_seed():
    a, _ = build(cfg_for(dports=Range(1, 60000), vary="random", seed=7), 32)
    b, _ = build(cfg_for(dports=Range(1, 60000), vary="random", seed=7), 32)
    c, _ = build(cfg_for(dports=Range(1, 60000), vary="random", seed=8), 32)
    ports = [parse(f)["dport"] for f in a]
    assert ports == [parse(f)["dport"] for f in b] != [parse(f)["dport"] for f in c]
    assert len(set(ports)) > 20


def test_sequence_goes_on_across_batches_and_names_the_worker():
    gen = make_gen(cfg_for(), worker=3)
    first, _ = build(cfg_for(), 5, gen)
    second, _ = build(cfg_for(), 5, gen)
    seqs = [struct.unpack("!I", parse(f)["payload"][4:8])[0] for f in first + second]
    assert [s & ((1 << core.SEQ_BITS) - 1) for s in seqs] == list(range(10))
    assert {s >> core.SEQ_BITS for s in seqs} == {3}


def test_fixed_payload_replaces_the_pktgen_header():
    msg = bytes.fromhex("00000000000000000001000000120000")
    frames, _ = build(cfg_for(size=64, stamp=False, payload=msg), 2)
    assert parse(frames[0])["payload"][: len(msg)] == msg


def test_frame_range_names_the_limits():
    check_frame(frame(62), ipv6=False, stamp=True)
    with pytest.raises(UsageError, match="needs 62..9000"):
        check_frame(frame(61), ipv6=False, stamp=True)
    with pytest.raises(UsageError, match="IPv6/UDP"):
        check_frame(frame(64), ipv6=True, stamp=True)
    with pytest.raises(UsageError, match="9000"):
        check_frame(frame(9001), ipv6=False, stamp=False)
    assert header_bytes(False, False) == 46


# --- the sink's accounting, fed crafted frames ------------------------------------------------

def sink_counts(seqs: list[int], udp_port: int = 0, extra: list[bytes] = ()) -> dict:
    """Frames carrying the given sequence numbers (in that order) through Sink.frames."""
    cfg = cfg_for()
    frames, _ = build(cfg, max(seqs) + 1 if seqs else 1)
    by_seq = {struct.unpack("!I", parse(f)["payload"][4:8])[0]: f for f in frames}
    chosen = [by_seq[s] for s in seqs] + list(extra)
    data = b"".join(chosen)
    offsets = np.cumsum([0] + [len(f) for f in chosen[:-1]]).astype(np.uint64)
    lengths = np.array([len(f) for f in chosen], np.uint32)
    sink = core.Sink(udp_port=udp_port)
    sink.frames(np.frombuffer(data, np.uint8), offsets, lengths, time.time_ns())
    sink.flush()
    return sink.stats()


@pytest.mark.parametrize(
    "seqs,lost,reordered,duplicated",
    [
        (list(range(10)), 0, 0, 0),
        ([0, 1, 2, 5, 6, 7], 2, 0, 0),  # a gap of two
        ([0, 1, 3, 2, 4], 0, 1, 0),  # a swap: 2 late, and so not lost
        ([0, 1, 1, 2, 2, 2, 3], 0, 0, 3),  # repeats
        ([0, 4, 2, 1, 2, 6], 2, 2, 1),  # 3 and 5 never came; 2 and 1 late; 2 again
        ([5, 6, 7], 0, 0, 0),  # the first frame seen starts the stream
    ],
)
def test_sink_counts_gaps_swaps_and_repeats(seqs, lost, reordered, duplicated):
    s = sink_counts(seqs)
    assert (s["lost"], s["reordered"], s["duplicated"]) == (lost, reordered, duplicated)
    assert s["pktgen"] == len(seqs) and s["other"] == 0
    assert s["lat_n"] == len(seqs) and 0 < s["lat_min_ns"] <= s["lat_max_ns"] < 5 * 10**9


@settings(max_examples=80, deadline=None)
@given(st.permutations(list(range(40))), st.sets(st.integers(0, 39), max_size=10))
def test_sink_matches_a_plain_model(order, dropped):
    """Against the obvious model: lost = never seen, duplicates = seen again, every frame that
    comes after a higher one is reordered; loss counts what is missing at the end."""
    seqs = [s for s in order if s not in dropped]
    if not seqs:
        return
    s = sink_counts(seqs)
    start = seqs[0]  # the stream starts at the first frame seen; anything older is late, not lost
    expected_lost = len([x for x in range(start, max(seqs) + 1) if x not in set(seqs)])
    assert s["duplicated"] == 0
    assert s["lost"] == expected_lost
    highest, reordered = -1, 0
    for x in seqs:
        reordered += x < highest
        highest = max(highest, x)
    assert s["reordered"] == reordered
    assert s["pktgen"] == len(seqs)


def test_sink_counts_frames_without_the_header_as_other():
    arp = bytes(12) + b"\x08\x06" + bytes(46)
    s = sink_counts([0, 1], extra=[arp])
    assert s["pktgen"] == 2 and s["other"] == 1
    s = sink_counts([0, 1], udp_port=7)  # frames to port 9 are not the traffic asked for
    assert s["pktgen"] == 0 and s["other"] == 2


# --- rates -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text,pps",
    [("500kpps", 500_000), ("1.5mpps", 1_500_000), ("1000pps", 1000), ("2gbit", 2e9 / (84 * 8)),
     ("100mbps", 100e6 / (84 * 8))],
)
def test_rates_in_packets_per_second(text, pps):
    assert parse_rate(text).packets_per_second(84.0, None) == pytest.approx(pps)


def test_percent_of_link():
    assert parse_rate("50%").packets_per_second(84.0, 10 * 10**9) == pytest.approx(14_880_952.38 / 2)


@pytest.mark.parametrize("text", ["5zpps", "", "-1kpps", "0pps", "150%", "fast"])
def test_bad_rates(text):
    with pytest.raises(UsageError):
        parse_rate(text)
