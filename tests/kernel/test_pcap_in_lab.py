"""pcap end to end in the lab: the sink's capture read back by tcpdump and dpkt frame for frame;
a capture replayed by gen arrives exactly as it was (MACs made the lab's); original timing;
bad files and frames named in one line."""

from __future__ import annotations

import shutil
import subprocess

import dpkt
import pytest

from helpers import EXACT, run_cli, needs_kernel_gen
from helpers import checksums_ok, frames_of, write_dpkt
from wirespeed import lab as labmod

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test


def read(path) -> list[tuple[float, bytes]]:
    with open(path, "rb") as f:
        return [(float(t), bytes(b)) for t, b in dpkt.pcap.Reader(f)]


def tcpdump_frames(path) -> list[bytes]:
    """tcpdump's own reading: -xx prints every byte of every frame in hex."""
    out = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-xx"], capture_output=True, text=True, check=True).stdout
    frames, cur = [], []
    for line in out.splitlines():
        if line.startswith("\t0x"):
            cur.append(bytes.fromhex("".join(line.split(":", 1)[1].split())))
        elif cur:
            frames.append(b"".join(cur))
            cur = []
    if cur:
        frames.append(b"".join(cur))
    return frames


@pytest.mark.parametrize("backend", ["afpacket", "xdp"])
def test_sink_capture_agrees_with_tcpdump_and_dpkt(pair_lab, tools, tmp_path, backend):
    name, path, n = pair_lab.topology.name, tmp_path / "cap.pcap", 20_000
    copy = ["-C", "copy"] if backend == "xdp" else []
    sink = tools("sink", "--lab-name", name, "--backend", backend, *copy, "-c", str(n), "-d", "20",
                 "--write", str(path), "--json")
    sink.wait_for("ready")
    tools("gen", "--lab-name", name, "-c", str(n), "-r", "200kpps", *EXACT, "-s", "imix", "--dport", "9-20").finish()
    s = sink.finish()
    got = read(path)
    assert s["written"] == len(got) == s["packets"] == n
    seqs = [int.from_bytes(b[46:50], "big") & 0x0FFFFFFF for _, b in got]  # the pktgen sequence
    assert seqs == list(range(n))  # every frame, in order, whole
    ts = [t for t, _ in got]
    assert ts == sorted(ts) and ts[-1] - ts[0] < 10
    if shutil.which("tcpdump"):
        assert tcpdump_frames(path) == [b for _, b in got]


def test_replay_delivers_the_capture_exactly(pair_lab, tools, tmp_path):
    name = pair_lab.topology.name
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    frames = frames_of(3000)
    write_dpkt(src, frames)
    sink = tools("sink", "--lab-name", name, "-c", str(3 * 3000), "-d", "20", "--write", str(dst), "--json")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--pcap", str(src), "--loop", "3", "--json").finish()
    s = sink.finish()
    assert g["packets"] == g["interface_tx_packets"] == 9000 and g["frame"] == f"pcap {src}"
    w = pair_lab.topology.wires[0]
    lab_macs = bytes.fromhex(w.b.mac.replace(":", "") + w.a.mac.replace(":", ""))
    assert [b for _, b in read(dst)] == [lab_macs + f[12:] for f in frames] * 3
    assert s["lost"] == 0 and s["seq_jumps"] == 2  # passes 2 and 3 start the sequence again: a restart


@needs_kernel_gen
def test_the_kernel_replays_the_capture_exactly_frame_after_frame(pair_lab, tools, tmp_path):
    """--backend kernel: each frame copied whole from a map by the generator's XDP program
    (frame k is capture frame k % n), at a rate; one frame length (the live frame's)."""
    name = pair_lab.topology.name
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    frames = frames_of(700, size=128)
    write_dpkt(src, frames)
    sink = tools("sink", "--lab-name", name, "-c", "2100", "-d", "20", "--write", str(dst), "--json")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "kernel", "--pcap", str(src), "--loop", "3", "-r", "100kpps",
              *EXACT, "--json").finish()
    s = sink.finish()
    assert g["packets"] == g["interface_tx_packets"] == 2100
    w = pair_lab.topology.wires[0]
    lab_macs = bytes.fromhex(w.b.mac.replace(":", "") + w.a.mac.replace(":", ""))
    assert [b for _, b in read(dst)] == [lab_macs + f[12:] for f in frames] * 3
    assert s["lost"] == 0 and s["duplicated"] == 1400


def test_replay_rewrites_addresses_with_valid_checksums(pair_lab, tools, tmp_path):
    name = pair_lab.topology.name
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    write_dpkt(src, frames_of(500))
    sink = tools("sink", "--lab-name", name, "-c", "500", "-d", "20", "--write", str(dst))
    sink.wait_for("ready")
    r = run_cli("gen", "--lab-name", name, "--pcap", str(src), "--dst-ip", "198.19.7.7", "--src-ip", "198.18.9.9",
                "-r", "50kpps", *EXACT, "--json")
    assert r.returncode == 0, r.stderr
    assert "rewrote dst_mac in 500 frame(s)" in r.stdout
    sink.finish()
    got = [b for _, b in read(dst)]
    assert len(got) == 500
    for b in got:
        ip = dpkt.ethernet.Ethernet(b).data
        assert ip.dst == bytes([198, 19, 7, 7]) and ip.src == bytes([198, 18, 9, 9]) and checksums_ok(b)


def test_replay_at_the_captures_own_timing(pair_lab, tools, tmp_path):
    name = pair_lab.topology.name
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    write_dpkt(src, frames_of(200), gap=0.002)  # 2 ms apart; at --speed 4: 0.5 ms
    sink = tools("sink", "--lab-name", name, "-c", "200", "-d", "20", "--write", str(dst))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--pcap", str(src), "--timing", "original", "--speed", "4",
              "--json").finish()
    sink.finish()
    ts = sorted(t for t, _ in read(dst))
    gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
    assert abs(gaps[len(gaps) // 2] - 0.0005) < 0.0001  # the median gap
    assert abs((ts[-1] - ts[0]) - 199 * 0.0005) < 0.01 and abs(g["seconds"] - 199 * 0.0005) < 0.02


@pytest.mark.parametrize("make,args,needle", [
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), [], "is truncated"),
    (lambda p: write_dpkt(p, frames_of(2), linktype=101), [], "link type 101"),
    (lambda p: write_dpkt(p, frames_of(3)[:2] + [frames_of(1, size=1600)[0]]), [], "frame 3 is 1596 bytes"),
    (lambda p: None, ["--backend", "udp"], "--pcap replays over --backend afpacket, xdp, kernel, not udp"),
    (lambda p: None, ["--backend", "kernel"], "one frame length (the live frame's)"),  # an IMIX capture
    (lambda p: write_dpkt(p, frames_of(3, size=64)), ["--backend", "kernel", "--timing", "original"],
     "constant interval"),
    (lambda p: None, ["--timing", "original", "-r", "1kpps"], "not both"),
    (lambda p: None, ["--dst-ip", "198.18.0.1-198.18.0.9"], "one address"),
])
def test_replay_bad_input_is_one_line(lab_name, tmp_path, make, args, needle):
    path = tmp_path / "x.pcap"
    write_dpkt(path, frames_of(3))
    make(path)
    r = run_cli("gen", "--lab", "--lab-name", lab_name, "--pcap", str(path), *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
    assert not any(x.get("lab") == lab_name for x in labmod.status())


def test_replay_of_a_missing_file_and_capture_to_nowhere():
    r = run_cli("gen", "--pcap", "/nonexistent.pcap")
    assert r.returncode == 2 and "/nonexistent.pcap: no such file" in r.stderr
    r = run_cli("sink", "--write", "/nonexistent/dir/x.pcap", "lo")
    assert r.returncode == 2 and "not a writable directory" in r.stderr
