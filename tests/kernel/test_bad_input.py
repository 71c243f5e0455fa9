"""Bad input and odd situations that need a lab: each gives one line and the right exit status,
or does what the user named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pyroute2 import NetNS

from helpers import run_cli, one_line
from wirespeed import lab as labmod
from wirespeed.base.netns import Where
from wirespeed.ports import PortSpec, open_port


@pytest.mark.parametrize("tool", ["gen", "sink", "fwd"])
def test_root_without_capabilities_in_an_existing_lab_is_one_line(chain_lab, tool):
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    r = subprocess.run([*drop, sys.executable, "-m", "wirespeed", tool, "--lab-name", chain_lab.topology.name,
                        "-d", "1"], capture_output=True, text=True, timeout=60)
    assert "CAP_" in one_line(r, 1)


def test_a_udp_frame_beyond_the_mtu_is_refused(pair_lab):
    line = one_line(run_cli("gen", "--lab-name", pair_lab.topology.name, "--backend", "udp", "-s", "9000", "-c", "1"), 2)
    assert "exceeds the MTU" in line


def test_a_named_dst_mac_is_what_the_frames_carry(pair_lab):
    w = pair_lab.topology.wires[0]
    port = open_port(PortSpec("afpacket", Where(w.b.ifname, pair_lab.netns("sink")), rx=True))
    try:
        r = run_cli("gen", "--lab-name", pair_lab.topology.name, "--dst-mac", "02:00:00:00:aa:bb", "-c", "50")
        assert r.returncode == 0, r.stderr
        b = port.rx_batch(64)
        assert port.rx_burst(b, 1000) > 0
        assert bytes(b.frame(0)[:6]) == bytes.fromhex("020000 00aabb".replace(" ", ""))
    finally:
        port.close()


def test_auto_falls_back_to_generic_and_says_why_native_was_refused(pair_lab):
    """veth refuses native XDP when its peer's MTU is too large; the kernel says so only through
    netlink's extended ack."""
    w = pair_lab.topology.wires[0]
    with NetNS(pair_lab.netns("gen")) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=w.a.ifname)[0], mtu=9000)
    name = pair_lab.topology.name
    line = one_line(run_cli("sink", "--lab-name", name, "--backend", "xdp-count", "-m", "native", "-d", "0.3"), 1)
    assert "refused native XDP" in line and "MTU" in line  # the kernel's own words
    r = run_cli("sink", "--lab-name", name, "--backend", "xdp-count", "-m", "auto", "-d", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    notes = [x["text"] for x in lines if x["type"] == "note"]
    assert any("attached generic XDP" in t and "MTU" in t for t in notes)
    assert lines[-1]["xdp_mode"] == "skb"


def test_lab_up_with_another_topology_is_refused_unless_forced(lab_name):
    try:
        assert run_cli("lab", "up", "--name", lab_name).returncode == 0
        line = one_line(run_cli("lab", "up", "--name", lab_name, "--topology", "chain"), 2)
        assert "is up as a pair" in line and "--force" in line
        assert labmod.topology_of(lab_name) == "pair"
        assert run_cli("lab", "up", "--name", lab_name, "--topology", "chain", "--force").returncode == 0
        assert labmod.topology_of(lab_name) == "chain"
    finally:
        labmod.down(lab_name)


def test_per_packet_figures_over_no_packets_are_absent(chain_lab):
    r = run_cli("fwd", "--lab-name", chain_lab.topology.name, "-d", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout.splitlines()[-1])
    assert s["rx"] == 0
    for k in ("cpu_ns_per_pkt", "lock_ops_per_pkt", "rx_ns_per_pkt", "tx_ns_per_pkt", "mean_batch"):
        assert s[k] is None, k
    human = run_cli("fwd", "--lab-name", chain_lab.topology.name, "-d", "0.5")
    assert "170,000,000" not in human.stdout and "CPU ns/pkt" in human.stdout
