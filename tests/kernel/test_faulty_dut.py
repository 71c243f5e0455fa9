"""The sink behind a faulty device, in the lab: a sender in the generator's namespace replays a
stream a faulty DUT would pass on (frames dropped, swapped, duplicated, renumbered with a valid
checksum, bit-flipped with a stale one) into `wirespeed sink --json`; the summary is the truth.
And frames that are not the stream's own, many with the pktgen magic, never make loss."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from helpers import build, cfg_for, faulty_stream, with_seq, write_dpkt

pytestmark = pytest.mark.slow  # 100,000 frames at 200 kpps, and a receiver to start


def replay_into_sink(lab, tools, path, n_frames: int) -> dict:
    name = lab.topology.name
    sink = tools("sink", "--lab-name", name, "--cpu", "1", "-c", str(n_frames), "-d", "30", "--json")
    sink.wait_for("ready")
    tools("gen", "--lab-name", name, "--cpu", "0", "--pcap", str(path), "-r", "200kpps", "--json").finish()
    return sink.finish()


def test_a_faulty_dut_is_reported_as_it_is(pair_lab, tools, tmp_path):
    frames, truth = faulty_stream(100_000, dict(drop=300, swap=60, dup=40, seq=30, flip=30), 26)
    path = tmp_path / "faulty.pcap"
    write_dpkt(path, frames)
    s = replay_into_sink(pair_lab, tools, path, len(frames))
    assert s["packets"] == len(frames) and s["kernel_drops"] == 0, s
    assert truth == dict(lost=360, reordered=60, duplicated=40, seq_errors=30, udp_csum_errors=30)
    # before: lost 13,517, reordered 12,785 and no integrity error
    assert abs(s["lost"] - truth["lost"]) <= 1 and abs(s["reordered"] - truth["reordered"]) <= 1, s
    assert abs(s["duplicated"] - truth["duplicated"]) <= 1, s
    assert abs(s["seq_too_high"] + s["seq_too_low"] - truth["seq_errors"]) <= 1, s
    assert s["udp_csum_errors"] == truth["udp_csum_errors"] and s["ip_csum_errors"] == 0


def test_foreign_and_malformed_frames_never_make_loss(pair_lab, tools, tmp_path):
    """20,000 frames: random bytes behind an Ethernet header, pktgen frames with random sequence
    numbers (checksums right) and pktgen frames with random bytes overwritten."""
    rng = np.random.default_rng(20)
    base = build(cfg_for(size=128), 1)[0][0]
    now = int(time.time())
    out = []
    for i in range(20_000):
        kind = i % 3
        if kind == 0:
            f = base[:14] + rng.integers(0, 256, int(rng.integers(46, 180)), dtype=np.uint8).tobytes()
        elif kind == 1:
            f = base[:50] + struct.pack("!II", now, 0) + base[58:]
            f = with_seq(f, int(rng.integers(0, 2**32)))
        else:
            b = bytearray(base)
            for at in rng.integers(14, len(b), 4):
                b[int(at)] = int(rng.integers(0, 256))
            f = bytes(b)
        out.append(f)
    path = tmp_path / "foreign.pcap"
    write_dpkt(path, out)
    s = replay_into_sink(pair_lab, tools, path, len(out))
    assert s["packets"] == len(out) and s["kernel_drops"] == 0, s
    assert s["lost"] <= s["pktgen"] and s["lost"] <= 100, s  # before: 104,732 to 135,339
    assert s["reordered"] <= 100 and s["duplicated"] <= 100, s


def test_a_udp_socket_receiver_reports_the_datagrams_the_kernel_dropped(pair_lab, tools, tmp_path):
    """--backend udp never sees a datagram whose checksum fails: the kernel drops it and counts
    it (Udp InCsumErrors in the sink's namespace), and the summary says so."""
    frames, truth = faulty_stream(2_000, dict(flip=25), 27)
    path = tmp_path / "flipped.pcap"
    write_dpkt(path, frames)
    name = pair_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "udp", "-d", "3", "--json")
    sink.wait_for("ready")
    tools("gen", "--lab-name", name, "--pcap", str(path), "-r", "50kpps", "--json").finish()
    s = sink.finish()
    assert s["udp_csum_errors"] == 25 and s["pktgen"] == 2_000 - 25 and s["lost"] == 25, s
