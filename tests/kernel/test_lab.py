"""The lab, for real: namespaces, veth, addresses, a datagram across, leftovers. Needs root."""

import json
import socket

import pytest
from pyroute2 import IPRoute, NetNS, netns
from pyroute2.ethtool.ioctl import IoctlEthtool

from helpers import run_cli
from wirespeed import lab as labmod
from wirespeed.base.errors import WirespeedError


def _links(ns):
    with NetNS(ns) as ipr:
        return {l.get("ifname"): l for l in ipr.get_links()}


def test_pair_is_wired_as_described(pair_lab):
    topo = pair_lab.topology
    for w in topo.wires:
        for end, peer in w.ends():
            link = _links(pair_lab.netns(end.node))[end.ifname]
            assert link.get("address") == end.mac
            assert link.get("operstate") == "UP"
            assert link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "veth"
            rows = [r for r in labmod.status() if r["netns"] == pair_lab.netns(end.node)]
            assert rows[0]["addresses"] == [f"{end.address}/24"]
            with pair_lab.enter(end.node):
                e = IoctlEthtool(end.ifname)
                try:  # so that the interface counts UDP GSO datagrams one by one
                    assert not e.get_features()["tx-udp-segmentation"]
                finally:
                    e.close()


def test_datagram_crosses_the_veth_pair(pair_lab):
    gen, sink = pair_lab.topology.wires[0].a, pair_lab.topology.wires[0].b
    with pair_lab.enter("sink"):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pair_lab.enter("gen"):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind((sink.address, 9))
        rx.settimeout(5)
        tx.bind((gen.address, 0))
        tx.sendto(b"wirespeed", (sink.address, 9))
        data, src = rx.recvfrom(64)
    assert data == b"wirespeed"
    assert src[0] == gen.address


def test_up_is_idempotent(pair_lab):
    before = labmod.status()
    pair_lab.up()
    assert labmod.status() == before


def test_up_repairs_half_a_wire(pair_lab):
    netns.remove(pair_lab.netns("sink"))  # as if someone removed it under us
    pair_lab.up()
    test_datagram_crosses_the_veth_pair(pair_lab)


def test_chain_has_two_wires(chain_lab):
    links = _links(chain_lab.netns("fwd"))
    assert {"veth0", "veth1"} <= set(links)
    assert len(chain_lab.topology.endpoints("fwd")) == 2


def test_failed_up_leaves_nothing(lab_name, monkeypatch):
    def boom(self, w):
        raise WirespeedError("injected")

    monkeypatch.setattr(labmod.Lab, "_ensure_wire", boom)
    with pytest.raises(WirespeedError):
        labmod.Lab(labmod.chain(lab_name)).up()
    assert labmod.lab_namespaces(lab_name) == []


def test_cli_up_down_leaves_no_namespace_or_veth(lab_name):
    with IPRoute() as host:  # the test runs in the host namespace
        host_links = {l.get("ifname") for l in host.get_links()}
    try:
        r = run_cli("lab", "up", "--name", lab_name, "--json")
        assert r.returncode == 0, r.stderr
        rows = [json.loads(x) for x in r.stdout.splitlines()]
        assert {(x["node"], x["state"]) for x in rows} == {("gen", "UP"), ("sink", "UP")}
        assert run_cli("lab", "up", "--name", lab_name).returncode == 0  # idempotent
    finally:
        r = run_cli("lab", "down", "--name", lab_name)
    assert r.returncode == 0, r.stderr
    assert labmod.lab_namespaces(lab_name) == []
    with IPRoute() as host:  # the test runs in the host namespace
        assert {l.get("ifname") for l in host.get_links()} == host_links


def test_leftovers_found_by_status_and_removed_by_down_all(lab_name):
    leftover = f"{labmod.PREFIX}{lab_name}-gen"
    netns.create(leftover)  # what a SIGKILLed run leaves: a namespace nobody will remove
    try:
        r = run_cli("lab", "status", "--json")
        assert r.returncode == 0, r.stderr
        assert any(json.loads(x)["netns"] == leftover for x in r.stdout.splitlines())
        r = run_cli("lab", "down", "--all", "--json")
        assert r.returncode == 0, r.stderr
        assert leftover in json.loads(r.stdout)["removed"]
        assert labmod.lab_namespaces() == []
    finally:
        if leftover in netns.listnetns():
            netns.remove(leftover)
