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

from helpers import one_line, run_cli
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
    """2,000 frames a second through the qdisc (so that the sending tap sees them), tcpdump with
    nanosecond stamps on both veths; the generator reads the kernel's transmit stamps and the sink
    joins them with its frames."""
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump is not installed (CI installs it)")
    topo = pair_lab.topology
    ge, ke = topo.endpoints("gen")[0], topo.endpoints("sink")[0]
    tx_cap, rx_cap = tmp_path / "tx.pcap", tmp_path / "rx.pcap"
    caps = [_capture(topo.netns("gen"), ge.ifname, tx_cap), _capture(topo.netns("sink"), ke.ifname, rx_cap)]
    try:
        time.sleep(0.5)
        stamps_file = tmp_path / "tx.npy"
        sink = tools("sink", "--lab-name", topo.name, "-c", "3000", "-d", "20", "--tx-stamps", str(stamps_file))
        sink.wait_for("ready")
        g = tools("gen", "--lab-name", topo.name, "-c", "3000", "-r", "2kpps", "--no-bypass", "--max-burst", "1000000",
                  "--tx-stamps", str(stamps_file)).finish()
        s = sink.finish()
        time.sleep(0.3)
    finally:
        for p in caps:
            _stop(p)
    tx, rx = _frames(tx_cap), _frames(rx_cap)
    both = sorted(set(tx) & set(rx))
    assert len(both) >= 2000, (len(tx), len(rx))  # tcpdump may miss a few on a busy CPU
    k, sd = s["lat_kernel_tx"], g["send_delay"]
    path = [rx[q][0] - tx[q][0] for q in both]  # the kernel's clock at both taps
    user = [rx[q][0] - rx[q][1] for q in both]  # our stamp to the receive tap
    p50_path, p50_user = statistics.median(path), statistics.median(user)
    print(f"sink: from the kernel's transmit stamp p50 {k['p50_ns']:.0f} ns, from our own {s['p50_ns']:.0f} ns, "
          f"send delay p50 {sd['p50_ns']:.0f} ns; captures: tap to tap p50 {p50_path:.0f} ns, our stamp to the "
          f"receive tap {p50_user:.0f} ns")
    assert s["lat_send_stamp"] == "user ns" and s["lat_receive_stamp"] == "kernel"
    assert sd["stamp"] == "qdisc" and sd["stamps"] == 3000 and k["samples"] == 3000 and k["unmatched"] == 0
    # the latency from the kernel's transmit stamp is the path's, as the captures at both ends see it
    assert abs(k["p50_ns"] - p50_path) <= max(1000, 0.2 * p50_path), (k, p50_path)
    # from our own stamp: the same receive time, our send time
    assert abs(s["p50_ns"] - p50_user) <= max(1000, 0.2 * p50_user), (s["p50_ns"], p50_user)
    # the stamps have nanoseconds: nearly every value of the ns within the µs occurs
    assert len({tx[q][1] % 1000 for q in both}) > 500


def test_a_frame_held_in_the_senders_qdisc_is_told_apart(pair_lab, tools, tmp_path):
    """The sender's own egress limited to 10 kpps (tbf, 20 ms of queue) and offered 30 kpps: frames
    wait in its qdisc (and, once the qdisc is full, in its ring). The kernel's transmit stamp is
    the qdisc's entry: the queue's milliseconds are in the latency from it, the time before it
    (the ring, the send call) is the send delay; the latency from the frame's own stamp holds both,
    and the summaries say which is which."""
    from wirespeed import lab as labmod

    topo = pair_lab.topology
    ge = topo.endpoints("gen")[0]
    labmod.shape(topo, "gen", ge.ifname, rate_bps=60 * 8 * 10_000, latency_ms=20)
    stamps_file = tmp_path / "tx.npy"
    sink = tools("sink", "--lab-name", topo.name, "-d", "4", "--tx-stamps", str(stamps_file))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", topo.name, "-c", "6000", "-r", "30kpps", "--no-bypass", "--tx-stamps",
              str(stamps_file)).finish()
    s = sink.finish()
    k, sd = s["lat_kernel_tx"], g["send_delay"]
    print(f"user p50 {s['p50_ns']:.0f}, kernel-tx p50 {k['p50_ns']:.0f}, send delay p50 {sd['p50_ns']:.0f} "
          f"p99 {sd['p99_ns']:.0f}, joined {k['samples']} of {s['pktgen']}")
    assert sd["stamp"] == "qdisc" and k["samples"] == s["pktgen"] > 1000
    assert k["p50_ns"] > 5e6  # the tbf queue held full: milliseconds in the qdisc, on the path's side
    assert s["p50_ns"] >= k["p50_ns"]
    # the blocked sender held frames in its ring for tens of ms: the send delay of the same frames
    assert k["send_delay_p50_ns"] > 1e6 and sd["p50_ns"] > 1e6
    assert s["p50_ns"] == pytest.approx(k["p50_ns"] + k["send_delay_p50_ns"], rel=0.3)


@pytest.mark.parametrize("rx_backend", ["afpacket", "udp", "xdp"])
def test_each_stamp_source_on_veth(pair_lab, tools, tmp_path, rx_backend):
    """The qdisc bypassed (gen's default): the kernel's transmit stamp is the driver's; the
    receive time is the kernel's (AF_PACKET's frame stamp, a UDP socket's SO_TIMESTAMPNS, the
    XDP program's stamp put in front of each frame for AF_XDP). Every frame is joined, the
    latency from the kernel's stamp is below the one from the frame's own."""
    stamps_file = tmp_path / "tx.npy"
    sink = tools("sink", "--lab-name", pair_lab.topology.name, "--backend", rx_backend, "-c", "2000", "-d", "20",
                 "--tx-stamps", str(stamps_file))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", pair_lab.topology.name, "-c", "2000", "-r", "10kpps", "--max-burst", "1000000",
              "--tx-stamps",
              str(stamps_file)).finish()
    s = sink.finish()
    k = s["lat_kernel_tx"]
    assert g["timestamps"] == "kernel" and g["send_delay"]["stamp"] == "driver" and g["send_delay"]["stamps"] == 2000
    assert s["lat_send_stamp"] == "user ns" and s["lat_receive_stamp"] == "kernel"
    assert k["samples"] == 2000 and k["unmatched"] == 0 and k["negative"] == 0
    assert 0 < k["p50_ns"] < s["p50_ns"]


def test_best_reads_kernel_stamps_only_where_they_fit(pair_lab, tools):
    """--timestamps best (the default): kernel stamps in a run paced within their budget, the
    frames' own above it (said in a note), and kernel on a backend without them is one line."""
    name = pair_lab.topology.name
    low = tools("gen", "--lab-name", name, "-c", "1000", "-r", "20kpps").finish()
    assert low["timestamps"] == "kernel" and low["send_delay"]["stamps"] == low["packets"] > 900  # a stall skips slots
    r = run_cli("gen", "--lab-name", name, "-c", "1000", "-r", "300kpps", "--json")
    assert r.returncode == 0 and "timestamps: user (300 kpps per worker is above" in r.stdout + r.stderr
    r = run_cli("gen", "--lab-name", name, "-c", "10", "--backend", "xdp", "--timestamps", "kernel")
    assert "--timestamps kernel: --backend xdp has no kernel transmit stamps" in one_line(r, 2)


def test_a_udp_sender_and_receiver_use_the_kernels_stamps_at_both_ends(pair_lab, tools, tmp_path):
    """--backend udp at both ends: the kernel stamps each datagram at its qdisc's entry (a UDP
    socket's datagrams go through the stack, so the send delay holds the stack's walk) and at
    its arrival (SO_TIMESTAMPNS); every datagram is joined. GSO would stamp one datagram a
    message: kernel stamps send without it, and an unpaced run keeps GSO with its own stamps."""
    name = pair_lab.topology.name
    stamps_file = tmp_path / "tx.npy"
    sink = tools("sink", "--lab-name", name, "--backend", "udp", "-c", "2000", "-d", "20", "--tx-stamps", str(stamps_file))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "udp", "-c", "2000", "-r", "10kpps", "--max-burst", "1000000",
              "--tx-stamps", str(stamps_file)).finish()
    s = sink.finish()
    k = s["lat_kernel_tx"]
    assert g["timestamps"] == "kernel" and g["gso_bytes"] == 0
    assert g["send_delay"]["stamp"] == "qdisc" and g["send_delay"]["stamps"] == 2000
    assert s["lat_send_stamp"] == "user ns" and s["lat_receive_stamp"] == "kernel"
    assert k["samples"] == 2000 and k["unmatched"] == 0 and k["negative"] == 0
    assert 0 < k["p50_ns"] < s["p50_ns"]
    free = tools("gen", "--lab-name", name, "--backend", "udp", "-c", "1000").finish()
    assert free["timestamps"] == "user" and free["gso_bytes"] > 0 and free["send_delay"] is None
