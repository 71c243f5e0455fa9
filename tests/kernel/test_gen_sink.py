"""gen and sink for real, across the lab's veth pair. Needs root; every test builds its own lab.

Rates here are loose functional checks at moderate speeds, never performance assertions (those
live in bench/)."""

from __future__ import annotations

import ipaddress
import struct

import numpy as np
import pytest

from wirespeed.tools.gen import Range, make_gen
from wirespeed.base.netdev import link_stats
from wirespeed.base.netns import Where
from wirespeed.ports import Batch, PortSpec, open_port
from helpers import cfg_for, parse, tool_backends

SUMMARY_FIELDS = {
    "gen": {"interface", "backend", "frame", "batch", "workers", "seconds", "packets", "bytes", "errors",
            "ring_full", "syscalls", "pps", "l2_mbps", "l1_mbps", "ns_per_pkt", "cycles_per_pkt",
            "cpu_ns_per_pkt", "syscalls_per_pkt", "mean_batch", "interface_tx_packets", "interface_tx_dropped",
            "interrupted"},
    "sink": {"interface", "backend", "workers", "seconds", "active_seconds", "packets", "bytes", "pktgen",
             "other", "kernel_drops", "errors", "pps", "l2_mbps", "l1_mbps", "ns_per_pkt", "cpu_ns_per_pkt",
             "syscalls_per_pkt", "lat_min_ns", "lat_avg_ns", "lat_max_ns", "p50_ns", "p99_ns", "lost",
             "reordered", "duplicated", "interface_rx_packets", "interface_rx_dropped", "interrupted"},
}
INTERVAL_FIELDS = {"type", "tool", "t", "pps", "l2_mbps", "l1_mbps"}


@pytest.mark.parametrize("backend,size,extra", [("afpacket", "64", []), ("afpacket", "imix", []), ("udp", "64", []),
                                                ("udp", "64", ["--timestamps", "user"]), ("udp", "64", ["--no-gso"]),
                                                ("udp", "imix", [])])
@pytest.mark.slow
def test_count_mode_sends_and_receives_exactly_n(pair_lab, tools, backend, size, extra):
    n = 20_000
    name = pair_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", backend, "-c", str(n), "-d", "20", "-i", "0.5")
    sink.wait_for("ready")
    gen = tools("gen", "--lab-name", name, "--backend", backend, "-c", str(n), "-r", "100kpps", "-s", size, "--max-burst", "1000000",
                "-i", "0.5", *extra)
    g = gen.finish()
    s = sink.finish()
    assert g["packets"] == n and g["errors"] == 0
    # GSO where every datagram has one size, unless the kernel's transmit stamps are read (paced
    # at most 200 kpps, --timestamps best reads them): they would stamp one datagram a message
    assert g["gso_bytes"] == (18 if backend == "udp" and size == "64" and "user" in extra else 0)
    assert g["timestamps"] == ("user" if "user" in extra else "kernel")
    assert g["interface_tx_packets"] == n  # the lab's veths count GSO datagrams one by one
    assert s["packets"] == n and s["pktgen"] == n
    assert (s["lost"], s["reordered"], s["duplicated"]) == (0, 0, 0)
    assert s["interface_rx_packets"] >= n
    assert 0 < s["lat_min_ns"] <= s["p50_ns"] <= s["lat_max_ns"] < 1e9
    for tool, lines in (("gen", gen.lines), ("sink", sink.lines)):
        kinds = [x["type"] for x in lines]
        assert kinds[0] == "start" and "ready" in kinds and kinds[-1] == "summary"
        assert SUMMARY_FIELDS[tool] <= set(lines[-1]), SUMMARY_FIELDS[tool] - set(lines[-1])
        intervals = [x for x in lines if x["type"] == "interval"]
        assert intervals and all(INTERVAL_FIELDS <= set(x) for x in intervals)
        assert all(isinstance(x["pps"], float) for x in intervals)


def test_crafted_gaps_swaps_and_repeats_through_the_kernel(pair_lab, tools):
    """Frames sent in a chosen order with tx_burst: the sink names what happened to them."""
    topo = pair_lab.topology
    a, b = topo.wires[0].a, topo.wires[0].b
    order = [0, 1, 2, 5, 4, 3, 3, 6, 9, 10, 10, 11, 8]  # 7 never sent
    cfg = cfg_for(src_mac=bytes.fromhex(a.mac.replace(":", "")), dst_mac=bytes.fromhex(b.mac.replace(":", "")),
                  src_ip=ipaddress.ip_address(a.address), dst_ip=ipaddress.ip_address(b.address),
                  src_ips=Range(int(ipaddress.ip_address(a.address)) & 0xFFFFFFFF),
                  dst_ips=Range(int(ipaddress.ip_address(b.address)) & 0xFFFFFFFF))
    stride = 128
    data = np.zeros(12 * stride, np.uint8)
    lens = np.zeros(12, np.uint32)
    make_gen(cfg).build(data, stride, lens)
    seqs = [struct.unpack("!I", parse(bytes(data[i * stride: i * stride + lens[i]]))["payload"][4:8])[0]
            for i in range(12)]
    assert seqs == list(range(12))
    batch = Batch(data, np.array([s * stride for s in order], np.uint64), lens[order].copy(),
                  np.zeros(len(order), np.uint64), n=len(order))

    sink = tools("sink", "--lab-name", topo.name, "-c", str(len(order)), "-d", "10")
    sink.wait_for("ready")
    port = open_port(PortSpec("afpacket", Where(a.ifname, pair_lab.netns("gen")), tx=True))
    try:
        assert port.tx_burst(batch) == len(order)
    finally:
        port.close()
    s = sink.finish()
    assert s["packets"] == len(order)
    # lost: 7 never came; reordered: 4 and 3 after 5, 8 after 11; duplicated: 3 and 10 again
    assert (s["lost"], s["reordered"], s["duplicated"]) == (1, 3, 2)


@pytest.mark.slow
def test_rate_control_holds_100kpps(pair_lab, tools):
    gen = tools("gen", "--lab-name", pair_lab.topology.name, "-r", "100kpps", "-d", "2", "-i", "0.5")
    g = gen.finish()
    assert g["pps"] == pytest.approx(100_000, rel=0.05)
    assert g["interface_tx_packets"] / g["seconds"] == pytest.approx(100_000, rel=0.05)
    # smooth, not a burst per second: every full interval carries its share
    full = [x["pps"] for x in gen.lines if x["type"] == "interval"][:-1]
    assert full and all(x == pytest.approx(100_000, rel=0.1) for x in full)


def test_bit_rate_counts_the_wire(pair_lab, tools):
    """2 Mbit/s of 64-byte frames on the wire (84 bytes each with preamble and gap) is 2,976 pps."""
    g = tools("gen", "--lab-name", pair_lab.topology.name, "-r", "20mbit", "-d", "1").finish()
    assert g["l1_mbps"] == pytest.approx(20, rel=0.05)
    assert g["pps"] == pytest.approx(20e6 / (84 * 8), rel=0.05)


def test_varied_flows_arrive_as_sent(pair_lab, tools):
    """Several source ports and addresses, IPv6 too: the receiving interface sees them all."""
    name = pair_lab.topology.name
    for extra in (["--sport", "1000-1063", "--flows", "16"], ["-6", "-s", "128", "--src-ip", "2001:2::1-2001:2::ff",
                                                               "--vary", "random", "--seed", "3"]):
        sink = tools("sink", "--lab-name", name, "-c", "5000", "-d", "10")
        sink.wait_for("ready")
        g = tools("gen", "--lab-name", name, "-c", "5000", "-r", "50kpps", "--max-burst", "1000000", *extra).finish()
        s = sink.finish()
        assert g["packets"] == s["packets"] == s["pktgen"] == 5000
        assert s["lost"] == 0


@pytest.mark.slow
def test_own_counters_agree_with_the_interface(pair_lab, tools):
    name = pair_lab.topology.name
    where = Where(pair_lab.topology.wires[0].b.ifname, pair_lab.netns("sink"))
    before = link_stats(where)
    sink = tools("sink", "--lab-name", name, "-d", "2.5")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "-d", "1", "-b", "64").finish()
    s = sink.finish()
    after = link_stats(where)
    assert g["packets"] == g["interface_tx_packets"]
    assert s["packets"] + s["kernel_drops"] == after["rx_packets"] - before["rx_packets"]


def leftovers(name: str) -> dict:
    """What a run could leave behind in lab `name`: XDP programs attached, shared memory whose
    process is gone, qdiscs replaced."""
    from wirespeed import lab as labmod
    from wirespeed.mem import shm

    rows = [r for r in labmod.status() if r.get("lab") == name]
    return {"xdp": [r["ifname"] for r in rows if r.get("xdp")],
            "shm": sorted(o["name"] for o in shm.objects() if o["leftover"])}


@pytest.mark.parametrize("tool,backend", [pytest.param(t, *p.values, id=f"{t}-{p.id}", marks=p.marks)
                                          for t in ("gen", "sink", "fwd") for p in tool_backends(t)])
@pytest.mark.slow
def test_exit_after_setup_opens_and_closes_leaving_nothing(request, tool, backend):
    """Every backend of every tool (the registry's): set up, stop, and nothing stays behind."""
    from helpers import run_cli

    topo = request.getfixturevalue("chain_lab" if tool == "fwd" else "pair_lab").topology
    before = leftovers(topo.name)
    r = run_cli(tool, "--lab-name", topo.name, "--backend", backend, "--exit-after-setup")
    assert r.returncode == 0, r.stderr
    assert leftovers(topo.name) == before == {"xdp": [], "shm": before["shm"]}

def test_every_frame_size_goes_out_whole_on_afpacket(pair_lab, tools):
    """The TX ring's slot holds the virtio header --linear puts before each frame: frames of 88
    to 96 bytes (sizes 92..100 with the FCS) once overran a 128-byte slot and never left."""
    name = pair_lab.topology.name
    for size in (64, 88, 92, 96, 100, 104, 128, 232, 240):
        g = tools("gen", "--lab-name", name, "-c", "50", "-r", "50kpps", "-s", str(size), "--max-burst", "1000000",
                  "--json").finish()
        assert (g["packets"], g["errors"], g["peer_rx_packets"]) == (50, 0, 50), (size, g)
        assert g["bytes"] == 50 * (size - 4), (size, g)
