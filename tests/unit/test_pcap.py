"""pcap in C, checked against dpkt (an independent reader and writer): the sink's capture
writer, the replay's index, and the rewrites' checksums."""

from __future__ import annotations

import io
import ipaddress
import os

import dpkt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import checksums_ok, frames_of, write_dpkt
from wirespeed import core
from wirespeed.base.errors import UsageError
from wirespeed.tools import replay


def test_capture_writes_what_dpkt_reads_back(tmp_path):
    frames = [f for f in frames_of(300)] + [bytes(range(14))]  # an "other" frame too
    path = tmp_path / "c.pcap"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sink = core.Sink()
    sink.capture(fd, 65535, 2**64 - 1)
    data = np.frombuffer(b"".join(frames), np.uint8)
    lens = np.array([len(f) for f in frames], np.uint32)
    offs = np.concatenate([[0], np.cumsum(lens[:-1])]).astype(np.uint64)
    sink.frames(data, offs, lens, 1_700_000_000_123_456_789)
    assert sink.capture_status() == (len(frames), 24 + int(lens.sum()) + 16 * len(frames), 0)
    os.close(fd)
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        got = list(r)
        assert r.snaplen == 65535 and r.datalink() == dpkt.pcap.DLT_EN10MB
    assert [bytes(b) for _, b in got] == frames
    assert float(got[0][0]) == pytest.approx(1_700_000_000.123456789, abs=1e-6)


def test_capture_snaplen_and_count(tmp_path):
    frames = frames_of(50, size=1000)
    path = tmp_path / "s.pcap"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sink = core.Sink()
    sink.capture(fd, 100, 20)
    for f in frames:
        sink.frames(np.frombuffer(f, np.uint8), np.zeros(1, np.uint64), np.array([len(f)], np.uint32), 1)
    sink.capture_status()
    os.close(fd)
    with open(path, "rb") as f:
        got = [bytes(b) for _, b in dpkt.pcap.Reader(f)]
    assert got == [f[:100] for f in frames[:20]]
    with pytest.raises(ValueError, match="snaplen"):
        sink.capture(1, 10, 1)


@pytest.mark.parametrize("nano", [True, False])
def test_index_reads_what_dpkt_writes(tmp_path, nano):
    frames = frames_of(100)
    path = tmp_path / "d.pcap"
    write_dpkt(path, frames, nano=nano)
    cap = replay.load(str(path))
    assert len(cap) == 100 and [cap.frame(i) for i in range(100)] == frames
    gaps = np.diff(cap.ts.astype(np.int64))
    assert np.all(np.abs(gaps - 1_000_000) <= (500 if nano else 1000))  # dpkt takes float seconds: ~0.2 µs at 1.7e9


def test_index_reads_big_endian_files(tmp_path):
    frames = frames_of(5)
    out = io.BytesIO()
    out.write(bytes.fromhex("a1b23c4d00020004000000000000000000010000" + "00000001"))
    for i, fr in enumerate(frames):
        out.write((1700000000).to_bytes(4, "big") + (i * 1000).to_bytes(4, "big")
                  + len(fr).to_bytes(4, "big") * 2 + fr)
    (tmp_path / "be.pcap").write_bytes(out.getvalue())
    cap = replay.load(str(tmp_path / "be.pcap"))
    assert [cap.frame(i) for i in range(5)] == frames and int(cap.ts[1] - cap.ts[0]) == 1000


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b[:-10], "record 3 is truncated"),
    (lambda b: b"\x00" * 24, "not a pcap file"),
    (lambda b: b[:24], "no frames"),
])
def test_bad_files_are_named(tmp_path, mutate, needle):
    path = tmp_path / "bad.pcap"
    write_dpkt(path, frames_of(3))
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(UsageError, match=needle):
        replay.load(str(path))


def test_other_link_types_and_short_captures_are_refused(tmp_path):
    path = tmp_path / "raw.pcap"
    write_dpkt(path, frames_of(2), linktype=101)
    with pytest.raises(UsageError, match="link type 101, not Ethernet"):
        replay.load(str(path))
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=60, nano=True)
        w.writepkt(frames_of(1, size=200)[0][:60], ts=1.0)
    data = bytearray(path.read_bytes())
    data[24 + 12 : 24 + 16] = (200).to_bytes(4, "little")  # orig_len 200, captured 60
    path.write_bytes(bytes(data))
    with pytest.raises(UsageError, match="record 1 was captured shorter"):
        replay.load(str(path))


@settings(max_examples=30, deadline=None)
@given(st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(min_size=16, max_size=16))
def test_rewrite_keeps_every_checksum_right(ipv6, a4, b4, a6):
    frames = frames_of(40, ipv6=ipv6, size=300 if ipv6 else "imix")  # IMIX's 64 bytes cannot hold IPv6
    buf = np.frombuffer(b"".join(frames), np.uint8).copy()
    lens = np.array([len(f) for f in frames], np.uint32)
    offs = np.concatenate([[0], np.cumsum(lens[:-1])]).astype(np.uint64)
    cap = replay.Capture("x", buf, offs, lens, np.zeros(len(frames), np.uint64))
    src = ipaddress.ip_address(a6) if ipv6 else ipaddress.ip_address(a4)
    dst = ipaddress.ip_address(bytes(reversed(a6))) if ipv6 else ipaddress.ip_address(b4)
    done = replay.rewrite(cap, src_mac=b"\x02" * 6, dst_mac=b"\x04" * 6, src_ip=src, dst_ip=dst)
    assert done == {"dst_mac": 40, "src_mac": 40, "src_ip": 40, "dst_ip": 40}
    for i in range(40):
        fr = cap.frame(i)
        ip = dpkt.ethernet.Ethernet(fr).data
        assert fr[:12] == b"\x04" * 6 + b"\x02" * 6
        assert ip.src == src.packed and ip.dst == dst.packed
        assert checksums_ok(fr), i
