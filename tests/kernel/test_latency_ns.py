"""Latency at nanosecond resolution: wirespeed's stamps carry ns (kernel pktgen's whole µs are
still read), and the sink's one-way latency agrees with an independent clock, the kernel's own
nanosecond timestamps of each frame captured at both ends of the path."""

from __future__ import annotations

import shutil
import signal
import statistics
import struct
import subprocess
import time

import pytest

from wirespeed.base import packet

pytestmark = pytest.mark.slow

SEQ_MASK = (1 << 28) - 1


def _capture(ns: str, ifname: str, path) -> subprocess.Popen:
    """tcpdump in a namespace, nanosecond stamps (the kernel's, taken at the interface's tap)."""
    p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-w", str(path), "-U", "-n",
                          "--time-stamp-precision=nano", "-s", "128", "udp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # it says it listens once its socket is bound
        if path.exists():
            return p
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"tcpdump did not start: {p.stderr.read()}")


def _stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def _frames(path) -> dict[int, tuple[int, int]]:
    """seq -> (the capture's time in ns, the frame's send stamp in ns)."""
    from wirespeed.tools.replay import load

    cap, out = load(str(path)), {}
    for i in range(len(cap)):
        buf = cap.frame(i)
        at = packet.l3_offset(buf)[0] + 20 + 8
        magic, seq, sec, usec = struct.unpack_from("!IIII", buf, at)
        if magic == packet.PKTGEN_MAGIC:
            out[seq & SEQ_MASK] = (int(cap.ts[i]), packet.stamp_ns(sec, usec))
    return out


def test_the_sinks_latency_agrees_with_captures_at_both_ends(pair_lab, tools, tmp_path):
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump is not installed (CI installs it)")
    topo = pair_lab.topology
    g, k = topo.endpoints("gen")[0], topo.endpoints("sink")[0]
    tx_cap, rx_cap = tmp_path / "tx.pcap", tmp_path / "rx.pcap"
    caps = [_capture(topo.netns("gen"), g.ifname, tx_cap), _capture(topo.netns("sink"), k.ifname, rx_cap)]
    try:
        time.sleep(0.5)
        sink = tools("sink", "--lab-name", topo.name, "-c", "3000", "-d", "20")
        sink.wait_for("ready")
        tools("gen", "--lab-name", topo.name, "-c", "3000", "-r", "2kpps", "--no-bypass").finish()
        s = sink.finish()
        time.sleep(0.3)
    finally:
        for p in caps:
            _stop(p)
    tx, rx = _frames(tx_cap), _frames(rx_cap)
    both = sorted(set(tx) & set(rx))
    assert len(both) >= 2900, (len(tx), len(rx))
    path = [rx[q][0] - tx[q][0] for q in both]  # the kernel's clock at both taps
    user = [rx[q][0] - rx[q][1] for q in both]  # our stamp to the receive tap
    p50_cap, p50_path = statistics.median(user), statistics.median(path)
    print(f"sink p50 {s['p50_ns']}, captures: stamp->rx tap p50 {p50_cap}, tx tap->rx tap p50 {p50_path}, "
          f"stamp->tx tap p50 {statistics.median(tx[q][0] - tx[q][1] for q in both)}")
    assert s["lat_send_stamp"] == "user ns" and s["lat_receive_stamp"] == "kernel"
    assert abs(s["p50_ns"] - p50_cap) <= max(1000, 0.2 * p50_cap), (s["p50_ns"], p50_cap)
    # the stamps have nanoseconds: nearly every value of the ns within the µs occurs
    assert len({tx[q][1] % 1000 for q in both}) > 500
