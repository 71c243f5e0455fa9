"""What brings the data paths to the C ceiling, from the command line: the receiver's modes
(--count-only, --spin, --busy-poll) counting exactly, and the programs built for the run
(--show-program lists what was loaded, and nothing is sent)."""

from __future__ import annotations

import json

import pytest

from helpers import EXACT, run_cli, needs_kernel_gen, one_line
from wirespeed.base.netdev import link_stats
from wirespeed.base.netns import Where
from wirespeed.bpf import progs


@needs_kernel_gen
@pytest.mark.parametrize("mode", [("--count-only",), ("--spin",), ("--busy-poll", "50")])
def test_receiver_modes_count_every_frame(pair_lab, tools, mode):
    name = pair_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "xdp", "-c", "200000", "-d", "30", *mode)
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "kernel", "-c", "200000", "-r", "200kpps", *EXACT).finish()
    s = sink.finish()
    assert g["packets"] == 200_000
    assert s["packets"] == 200_000 and s["bytes"] == 200_000 * 60 and s["kernel_drops"] == 0
    if mode[0] == "--count-only":  # no header was read: no figure that needs one
        assert s["lost"] is None and s["pktgen"] is None and s["streams"] is None
    else:
        assert s["lost"] == 0 and s["pktgen"] == 200_000


def test_receiver_modes_that_do_not_apply_are_one_line(pair_lab):
    name = pair_lab.topology.name
    assert "counts in the kernel" in one_line(run_cli("sink", "--lab-name", name, "--backend", "xdp-count",
                                                      "--count-only", "-c", "1"), 2)
    assert "--busy-poll applies to --backend xdp" in one_line(run_cli("sink", "--lab-name", name, "--busy-poll", "50",
                                                                      "-c", "1"), 2)
    assert run_cli("gen", "--lab-name", name, "--backend", "xdp", "--busy-poll", "50", "-c", "1").returncode == 2


def programs(*args: str) -> list[dict]:
    p = run_cli(*args, "--show-program", "--json")
    assert p.returncode == 0, p.stderr
    return [x for x in map(json.loads, p.stdout.splitlines()) if x["type"] == "program"]


@needs_kernel_gen
def test_show_program_lists_what_the_run_loads_and_sends_nothing(pair_lab):
    name = pair_lab.topology.name
    gen_at = Where(pair_lab.topology.wires[0].a.ifname, pair_lab.netns("gen"))
    before = link_stats(gen_at)["tx_packets"]
    limit = f"*(u64 *)(r6 +{8 * progs.GEN_LIMIT})"
    free = programs("gen", "--lab-name", name, "--backend", "kernel")
    counted = programs("gen", "--lab-name", name, "--backend", "kernel", "-c", "1000", "-r", "1mpps")
    gen_free = next(x for x in free if x["name"] == "ws_gen")
    gen_counted = next(x for x in counted if x["name"] == "ws_gen")
    assert not any(limit in line or "ktime_get_ns" in line for line in gen_free["listing"])
    assert any(limit in line for line in gen_counted["listing"])
    assert any("ktime_get_ns" in line for line in gen_counted["listing"])
    assert gen_free["instructions"] < gen_counted["instructions"] and gen_free["id"] > 0
    assert gen_free["xlated_instructions"] >= gen_free["instructions"] and gen_free["jited_bytes"] > 0
    assert [x["name"] for x in programs("sink", "--lab-name", name, "--backend", "xdp")] == ["ws_xsk"]
    assert [x["name"] for x in programs("sink", "--lab-name", name, "--backend", "xdp-count")] == ["ws_count"]
    assert link_stats(gen_at)["tx_packets"] == before  # set up, listed, stopped: nothing sent


def test_a_redirect_to_a_device_that_cannot_take_xdp_frames_is_one_line(chain_lab):
    """A bridge device has no ndo_xdp_xmit: every redirected frame would vanish. The kernel's
    own xdp-features say so before anything is attached."""
    from pyroute2 import NetNS
    from pyroute2.netlink.exceptions import NetlinkError

    ns = chain_lab.netns("fwd")
    with NetNS(ns) as ipr:
        try:
            ipr.link("add", ifname="br0", kind="bridge")
        except NetlinkError as e:
            pytest.skip(f"this kernel makes no bridge device: {e}")
        ipr.link("set", index=ipr.link_lookup(ifname="br0")[0], state="up")
    line = one_line(run_cli("fwd", "veth0", "br0", "--netns", ns, "--backend", "xdp-redirect", "-d", "1"), 1)
    assert "br0" in line and "cannot take redirected XDP frames" in line and "no ndo-xmit" in line


@needs_kernel_gen
def test_an_unpaced_count_is_exact_without_a_limit_in_the_program(pair_lab, tools):
    """Unpaced, every run of the program is a frame: the two calling threads claim their runs
    from the count, so the program carries no limit and the count is still exact."""
    name = pair_lab.topology.name
    limit = f"*(u64 *)(r6 +{8 * progs.GEN_LIMIT})"
    prog = next(x for x in programs("gen", "--lab-name", name, "--backend", "kernel", "-c", "1000")
                if x["name"] == "ws_gen")
    assert not any(limit in line for line in prog["listing"])
    sink = tools("sink", "--lab-name", name, "--backend", "xdp-count", "-d", "60")
    sink.wait_for("ready")
    for n in (1, 12_345, 1_000_001):
        g = tools("gen", "--lab-name", name, "--backend", "kernel", "-c", str(n)).finish()
        assert g["packets"] == g["interface_tx_packets"] == n
    sink.proc.send_signal(2)
    assert sink.finish()["packets"] == 1 + 12_345 + 1_000_001
