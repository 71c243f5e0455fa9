"""Several queues, one worker each: the lab's --queues, per-queue workers of the XDP backends
(worker i owns queue i), exact counts with two workers, and -w checked against the queues."""

from __future__ import annotations

import pytest
from pyroute2.ethtool.ioctl import IoctlEthtool

from helpers import EXACT, run_cli, needs_kernel_gen, one_line
from wirespeed.base.netdev import queues
from wirespeed.base.netns import Where, in_netns

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test


def ends(lab) -> tuple[Where, Where]:
    w = lab.topology.wires[0]
    return Where(w.a.ifname, lab.netns("gen")), Where(w.b.ifname, lab.netns("sink"))


def xdp_per_queue(where: Where) -> dict[int, int]:
    """veth's own XDP packet counter of each RX queue (ethtool -S)."""
    out: dict[int, int] = {}
    with in_netns(where):
        e = IoctlEthtool(where.ifname)
        try:
            for name, value in e.get_statistics():
                if name.startswith("rx_queue_") and name.endswith("_xdp_packets"):
                    out[int(name.split("_")[2])] = int(value)
        finally:
            e.close()
    return out


def test_the_lab_makes_every_veth_end_with_its_queues(queued_lab):
    for end in ends(queued_lab):
        assert queues(end) == (2, 2)


def count_two_workers(lab, tools, backend: str, count: int) -> tuple[dict, dict, dict]:
    name = lab.topology.name
    sink_at = ends(lab)[1]
    before = xdp_per_queue(sink_at)
    sink = tools("sink", "--lab-name", name, "--backend", "xdp-count", "-c", str(count), "-d", "30")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", backend, "-w", "2", "-c", str(count)).finish()
    s = sink.finish()
    after = xdp_per_queue(sink_at)
    return g, s, {q: after[q] - before.get(q, 0) for q in after}


@needs_kernel_gen
def test_two_in_kernel_generators_one_queue_each_count_exactly(queued_lab, tools):
    g, s, per_queue = count_two_workers(queued_lab, tools, "kernel", 2_000_000)
    assert g["workers"] == 2 and g["packets"] == g["interface_tx_packets"] == 2_000_000
    assert s["packets"] == 2_000_000 and s["interface_rx_dropped"] == 0
    assert sum(per_queue.values()) == 2_000_000 and all(per_queue[q] > 0 for q in (0, 1)), per_queue
    assert all(n > 0 for n in s["per_cpu_packets"])  # each queue's frames on its own CPU


def test_two_af_xdp_senders_one_queue_each_count_exactly(queued_lab, tools):
    g, s, per_queue = count_two_workers(queued_lab, tools, "xdp", 400_000)
    assert g["packets"] == g["interface_tx_packets"] == 400_000
    assert s["packets"] == 400_000 and s["interface_rx_dropped"] == 0
    assert per_queue[0] > 0 and per_queue[1] > 0 and sum(per_queue.values()) == 400_000, per_queue


@needs_kernel_gen
def test_two_af_xdp_receivers_one_queue_each_lose_nothing(queued_lab, tools):
    name = queued_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "xdp", "-w", "2", "-c", "400000", "-d", "30")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "kernel", "-w", "2", "-c", "400000", "-r", "200kpps",
              *EXACT).finish()
    s = sink.finish()
    assert g["packets"] == 400_000
    assert s["workers"] == 2 and s["packets"] == 400_000 and s["kernel_drops"] == 0 and s["pktgen"] == 400_000
    # each sending worker's stream came whole to one receiving worker: its sequence adds up
    assert s["streams"] == 2 and s["lost"] == 0 and s["reordered"] == 0 and s["duplicated"] == 0


def test_two_workers_on_a_one_queue_veth_are_refused(pair_lab):
    assert "has 1 TX queue(s)" in one_line(run_cli("gen", "--lab-name", pair_lab.topology.name, "--backend", "xdp",
                                                   "-w", "2", "-c", "10"), 2)


def test_workers_beyond_the_queues_are_one_line_naming_the_count(queued_lab):
    two = queued_lab.topology.name
    assert "has 2 TX queue(s)" in one_line(run_cli("gen", "--lab-name", two, "--backend", "xdp", "-w", "3",
                                                   "-c", "10"), 2)
    assert "has 2 TX queue(s)" in one_line(run_cli("gen", "--lab-name", two, "--backend", "kernel", "-w", "3",
                                                   "-c", "10"), 2)
    assert "has 2 RX queue(s)" in one_line(run_cli("sink", "--lab-name", two, "--backend", "xdp", "-w", "3",
                                                   "-c", "10"), 2)
    assert "counts every queue" in one_line(run_cli("sink", "--lab-name", two, "--backend", "xdp-count", "-w", "2",
                                                    "-c", "10"), 2)


def test_fewer_receivers_than_queues_is_said(queued_lab):
    p = run_cli("sink", "--lab-name", queued_lab.topology.name, "--backend", "xdp", "-d", "0.2")
    assert p.returncode == 0, p.stderr
    assert "2 RX queues and -w 1 takes queue(s) 0-0" in p.stdout + p.stderr


def test_lab_queues_bounds_and_a_note_beyond_the_cpus(lab_name):
    assert "--queues must be 1..64" in one_line(run_cli("lab", "up", "--name", lab_name, "--queues", "0"), 2)
    try:
        p = run_cli("lab", "up", "--name", lab_name, "--queues", "3")
        assert p.returncode == 0, p.stderr
        assert "queues beyond the CPUs add no core" in p.stderr
        line = one_line(run_cli("lab", "up", "--name", lab_name), 2)
        assert "with 3 queue(s)" in line and "--force" in line
    finally:
        run_cli("lab", "down", "--name", lab_name)


@pytest.mark.parametrize("backend,lab", [pytest.param("xdp", "queued_chain_lab", marks=needs_kernel_gen),
                                         ("afpacket", "chain_lab")])
def test_two_forwarders_move_every_frame_once(backend, lab, request, tools):
    """xdp: worker i forwards IN's RX queue i to OUT's TX queue i; afpacket: the two share IN
    through a fanout group. Either way each frame is forwarded once."""
    name = request.getfixturevalue(lab).topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "xdp-count", "-c", "200000", "-d", "40")
    sink.wait_for("ready")
    fwd = tools("fwd", "--lab-name", name, "--backend", backend, "-w", "2", "-c", "200000", "-d", "40")
    fwd.wait_for("ready")
    # xdp: two in-kernel generators, on two CPUs, fill both of IN's queues; afpacket: one sender
    sender = ("--backend", "kernel", "-w", "2") if backend == "xdp" else ("--backend", "afpacket")
    g = tools("gen", "--lab-name", name, *sender, "-c", "200000", "-r", "100kpps", *EXACT).finish()
    f, s = fwd.finish(), sink.finish()
    assert g["packets"] == 200_000
    assert f["workers"] == 2 and f["rx"] == f["tx"] == 200_000
    assert s["packets"] == 200_000
