"""--pace kernel: every datagram carries its departure time (SO_TXTIME) and the fq qdisc holds it
until then. The datagrams and their control messages are checked on every kernel; the timing
itself only where the kernel has fq (this project's CI kernel does not: one line says so)."""

from __future__ import annotations

import ipaddress
import time

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from helpers import EXACT, cfg_for, run_cli
from wirespeed import core
from wirespeed.base.netns import Where, in_netns
from wirespeed.ports import udp
from wirespeed.tools.gen import Range, make_gen


def has_fq(where: Where) -> bool:
    """Whether this kernel knows the fq qdisc: put it on an interface of the test's own lab."""
    with in_netns(where), IPRoute() as ipr:
        index = ipr.link_lookup(ifname=where.ifname)[0]
        try:
            ipr.tc("replace", "fq", index=index)
        except NetlinkError:
            return False
        ipr.tc("del", index=index, parent=udp.TC_H_ROOT)
        return True


def ends(lab):
    a, b = lab.topology.wires[0].a, lab.topology.wires[0].b
    return a, b, Where(a.ifname, lab.netns("gen")), Where(b.ifname, lab.netns("sink"))


def test_each_datagram_carries_its_departure_time_and_all_arrive(pair_lab, tools):
    """The C send loop's per-message SCM_TXTIME is a control message the kernel accepts (a wrong
    one fails every sendmmsg with EINVAL); without fq the kernel sends at once, with fq at the time."""
    a, b, here, _ = ends(pair_lab)
    n, interval = 2_000, 50_000  # 20 kpps, a 1 ms lead: 20 frames ahead of their time
    sink = tools("sink", "--lab-name", pair_lab.topology.name, "--backend", "udp", "-c", str(n), "-d", "20")
    sink.wait_for("ready")
    cfg = cfg_for(src_ip=ipaddress.ip_address(a.address), dst_ip=ipaddress.ip_address(b.address),
                  src_ips=Range(int(ipaddress.ip_address(a.address))), dst_ips=Range(int(ipaddress.ip_address(b.address))),
                  backend="udp", pace_mode="kernel", rate=20_000, max_burst=1_000_000)  # exact, as EXACT
    port = udp.UdpPort(here, (a.address, 9), (b.address, 9), batch=64, txtime=True)
    try:
        g = make_gen(cfg, 0, interval)
        until = time.monotonic_ns() + 10 * 10**9
        sent = 0
        while sent < n and time.monotonic_ns() < until:
            sent += port.gen_run(g, 64, n - sent, until)
        assert sent == n and int(port.counters[core.C["packets"]]) == n and int(port.counters[core.C["errors"]]) == 0
        assert g.departures()["skipped"] == 0
    finally:
        port.close()
    s = sink.finish()
    assert s["pktgen"] == n and s["lost"] == 0


def test_without_fq_one_line_says_so_and_nothing_is_left(pair_lab):
    _, _, here, _ = ends(pair_lab)
    if has_fq(here):
        pytest.skip("this kernel has fq: the refusal is for kernels without it")
    r = run_cli("gen", "--lab-name", pair_lab.topology.name, "--backend", "udp", "-r", "10kpps", "-c", "100",
                "--pace", "kernel")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "no fq qdisc" in r.stderr and "--pace user" in r.stderr
    with in_netns(here), IPRoute() as ipr:
        assert udp.root_qdisc(ipr, ipr.link_lookup(ifname=here.ifname)[0]) == "noqueue"


def test_with_fq_departures_are_kernel_timed_and_fq_is_removed_after(pair_lab, tools):
    _, _, here, _ = ends(pair_lab)
    if not has_fq(here):
        pytest.skip("this kernel has no fq qdisc (CONFIG_NET_SCH_FQ): SO_TXTIME departure times cannot be held")
    name = pair_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "udp", "-c", "20000", "-d", "20")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "udp", "-r", "20kpps", "-c", "20000", "--pace", "kernel", *EXACT).finish()
    s = sink.finish()
    assert g["packets"] == 20_000 and s["pktgen"] == 20_000 and s["lost"] == 0
    assert s["pps"] == pytest.approx(20_000, rel=0.05)
    with in_netns(here), IPRoute() as ipr:
        assert udp.root_qdisc(ipr, ipr.link_lookup(ifname=here.ifname)[0]) == "noqueue"
