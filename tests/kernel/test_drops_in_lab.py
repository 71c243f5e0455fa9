"""wirespeed drops against drops whose number, reason and place are known: UDP to a port nobody
listens on, and a Linux router whose strict reverse-path filter refuses one source of ten."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pyroute2 import NetNS

from helpers import one_line, refuse_source, run_cli
from wirespeed import lab as labmod
from wirespeed.base.netns import enter_netns

pytestmark = pytest.mark.slow  # a counter to attach, traffic for a second or two


def _drops(tools, *args: str):
    d = tools("drops", *args)
    d.wait_for("start")
    return d


def _rows(summary: dict, **match) -> list[dict]:
    return [r for r in summary["drops"] if all(r[k] == v for k, v in match.items())]


def test_udp_to_a_closed_port_is_no_socket_in_the_receivers_namespace(pair_lab, tools):
    name, sink_ns = pair_lab.topology.name, pair_lab.netns("sink")
    d = _drops(tools, "--netns", sink_ns, "-d", "4")
    g = tools("gen", "--lab-name", name, "-c", "10000", "-r", "100kpps", "--max-burst", "1000000").finish()
    s = d.finish()
    assert g["peer_rx_packets"] == 10_000
    rows = _rows(s, netns=sink_ns, reason="NO_SOCKET")
    assert sum(r["count"] for r in rows) == 10_000, s["drops"]
    assert {r["dev"] for r in rows} == {pair_lab.topology.endpoints("sink")[0].ifname}
    assert all("udp" in r["function"] for r in rows), rows
    assert all(r["netns"] == sink_ns for r in s["drops"])  # --netns: the others are left out
    assert s["counter"]["runs"] >= 10_000 and 0 < s["counter"]["ns_per_drop"] < 10_000, s["counter"]


def test_a_strict_reverse_path_filter_refuses_exactly_one_source_of_ten(chain_lab, tools):
    topo = chain_lab.topology
    labmod.route(topo)
    fwd_in = topo.endpoints("fwd")[0]
    refused = "198.18.0.11"
    refuse_source(topo, refused)
    sink = topo.endpoints("sink")[0]
    d = _drops(tools, "--netns", topo.netns("fwd"), "-d", "5")
    tools("gen", "--lab-name", topo.name, "-c", "100000", "-r", "100kpps", "--max-burst", "1000000",
          "--src-ip", "198.18.0.2-" + refused, "--dst-ip", sink.address).finish()  # ten sources, ten flows
    s = d.finish()
    rows = _rows(s, netns=topo.netns("fwd"), reason="IP_RPFILTER")
    assert sum(r["count"] for r in rows) == 10_000, s["drops"]
    assert {r["dev"] for r in rows} == {fwd_in.ifname}


def test_bad_input_and_no_capabilities_are_one_line():
    line = one_line(run_cli("drops", "--netns", "no-such-ns", "-d", "1"), 2)
    assert line == "wirespeed: --netns no-such-ns: no such network namespace (ip netns list; host is this one)"
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]  # root, but no capability
    r = subprocess.run([*drop, sys.executable, "-m", "wirespeed", "drops", "-d", "1"], capture_output=True,
                       text=True, timeout=60)
    assert "CAP_" in one_line(r, 1)


def test_search_attributes_a_trials_loss_to_the_kernels_reason(chain_lab):
    """A router whose strict reverse-path filter refuses the tester's (one) source: the search
    stops after its first trial, whose loss is IP_RPFILTER on the router's ingress."""
    import json

    topo = chain_lab.topology
    labmod.route(topo)
    fwd_in = topo.endpoints("fwd")[0]
    refuse_source(topo, topo.endpoints("gen")[0].address)  # the tester's one source
    r = run_cli("search", "--lab-name", topo.name, "--dut", "kernel", "--no-latency", "--max-load", "20kpps",
                "--json", timeout=180)
    assert r.returncode == 1 and "no frame reached the receiver" in r.stderr, r.stderr
    trials = [x for x in map(json.loads, r.stdout.splitlines()) if x["type"] == "trial"]
    assert len(trials) == 1, r.stdout
    t = trials[0]
    key = f"{topo.netns('fwd')} {fwd_in.ifname} IP_RPFILTER"
    hits = {k: v for k, v in t["loss_reasons"].items() if k.startswith(key)}
    # the receiver counts nothing, so the trial ends 20 ms after the generator: frames still on
    # the DUT's backlog then are dropped a moment later, after the counters were read
    assert t["sent"] > 0 and sum(hits.values()) >= 0.95 * t["sent"], t
    assert t["loss_unexplained"] == t["lost"] - sum(hits.values()), t
    assert "IP_RPFILTER" in t["most_loss"], t


def _qdisc_drops(netns: str, ifname: str) -> int:
    with NetNS(netns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        total = 0
        for q in ipr.get_qdiscs(index=idx):
            st = q.get_attr("TCA_STATS2")
            queue = st.get_attr("TCA_STATS_QUEUE") if st is not None else None
            total += int(queue.get("drops", 0)) if queue is not None else 0
        return total


def test_a_token_buckets_drops_are_its_own_counters(chain_lab, tools):
    """A router whose egress is a 10 Mbit/s token bucket, offered 2.5 x that: the drops counted
    as the kernel's QDISC reasons on that interface equal the qdisc's own drop counter."""
    topo = chain_lab.topology
    labmod.route(topo)
    egress = topo.wires[1].a.ifname
    labmod.shape(topo, "fwd", egress, 10_000_000, 5)  # 20,833 pps of 64-byte frames
    before = _qdisc_drops(topo.netns("fwd"), egress)
    d = _drops(tools, "--netns", topo.netns("fwd"), "-d", "4")
    tools("gen", "--lab-name", topo.name, "-c", "50000", "-r", "50kpps", "--max-burst", "1000000",
          "--dst-ip", topo.endpoints("sink")[0].address).finish()
    s = d.finish()
    qdisc = _qdisc_drops(topo.netns("fwd"), egress) - before
    counted = sum(r["count"] for r in _rows(s, netns=topo.netns("fwd"), dev=egress) if r["reason"].startswith("QDISC"))
    assert qdisc > 10_000, qdisc
    assert abs(counted - qdisc) <= 0.005 * qdisc, (counted, qdisc, s["drops"])


def test_a_destination_without_a_route_is_dropped_at_the_router_for_it(chain_lab, tools):
    topo = chain_lab.topology
    labmod.route(topo)
    fwd_in = topo.endpoints("fwd")[0]
    d = _drops(tools, "--netns", topo.netns("fwd"), "-d", "4")
    tools("gen", "--lab-name", topo.name, "-c", "10000", "-r", "100kpps", "--max-burst", "1000000",
          "--dst-ip", "198.18.99.1").finish()  # no route to it in the router
    s = d.finish()
    rows = [r for r in _rows(s, netns=topo.netns("fwd"), dev=fwd_in.ifname) if "NOROUTES" in r["reason"]]
    assert sum(r["count"] for r in rows) == 10_000, s["drops"]


def _aborted():
    from wirespeed.bpf.asm import R0, Program

    p = Program("ws_abort")
    p.mov(R0, 0)  # XDP_ABORTED
    p.exit()
    return p


def _redirect_nowhere():
    from wirespeed.bpf.asm import R1, R2, Program

    p = Program("ws_nowhere")
    p.mov(R1, 0xFFFF)  # no interface has this index: the redirect fails
    p.mov(R2, 0)
    p.call("redirect")
    p.exit()
    return p


@pytest.mark.parametrize("program, reason", [(_aborted, "XDP_ABORTED"), (_redirect_nowhere, "XDP_REDIRECT_FAILED EINVAL")])
def test_xdp_programs_own_drops_are_counted_from_its_tracepoints(pair_lab, tools, program, reason):
    """An XDP program on the receiving veth that aborts, or redirects to no interface: every
    frame is one drop of that reason at that device (no skb is freed for a failed redirect)."""
    from wirespeed.base.netns import Where, ifindex
    from wirespeed.bpf import Prog, XdpLink

    name, sink_ns = pair_lab.topology.name, pair_lab.netns("sink")
    dev = pair_lab.topology.endpoints("sink")[0].ifname
    with enter_netns(sink_ns):
        prog = Prog(program())
        link = XdpLink(prog, ifindex(Where(dev, sink_ns)), dev, "native")
    try:
        d = _drops(tools, "--netns", sink_ns, "-d", "4")
        tools("gen", "--lab-name", name, "-c", "5000", "-r", "100kpps", "--max-burst", "1000000").finish()
        s = d.finish()
    finally:
        link.close()
        prog.close()
    assert {"xdp_exception", "xdp_redirect_err"} <= set(s["xdp_tracepoints"])
    rows = _rows(s, netns=sink_ns, dev=dev, reason=reason)
    assert sum(r["count"] for r in rows) == 5_000, s["drops"]


def test_an_in_kernel_receivers_own_drops_are_left_out_in_the_kernel_when_asked(pair_lab, tools):
    """xdp-count drops every frame it counts, and on veth each meets kfree_skb: the counter that
    search runs beside it skips that device's XDP drops in the kernel (before the hash), and
    counts them again once told to; it is the typed program on a kernel with BTF."""
    from wirespeed.base.netns import Where
    from wirespeed.tools import drops

    name, sink_ns = pair_lab.topology.name, pair_lab.netns("sink")
    dev = pair_lab.topology.endpoints("sink")[0].ifname
    sink = tools("sink", "--lab-name", name, "--backend", "xdp-count", "-d", "60")
    sink.wait_for("ready")
    with drops.Counter(timed=False) as c:
        assert c.typed and c.stats is None
        counted = []
        for skip in (Where(dev, sink_ns), None):
            c.skip_receiver(skip)
            before = c.read()
            tools("gen", "--lab-name", name, "-c", "5000", "-r", "100kpps", "--max-burst", "1000000").finish()
            rows = c.rows(drops.delta(c.read(), before), (sink_ns,))
            counted.append(sum(r["count"] for r in rows if r["dev"] == dev and drops.counted_by(r, Where(dev, sink_ns))))
    sink.proc.send_signal(2)
    assert sink.finish()["packets"] == 10_000
    assert counted == [0, 5_000], counted
