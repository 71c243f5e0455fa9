"""wirespeed fwd end to end in the chain lab, over every backend and buffer path."""

from __future__ import annotations

import textwrap

import pytest

from helpers import run_cli, needs_kernel_gen



@pytest.mark.slow
@pytest.mark.parametrize("backend,extra", [("afpacket", []), ("xdp", []), ("xdp", ["--no-zero-copy"])])
def test_fwd_count_mode_delivers_all_but_what_the_hook_dropped(chain_lab, tools, backend, extra):
    name = chain_lab.topology.name
    n = 30_000
    sink = tools("sink", "--lab-name", name, "-c", str(n // 2), "-d", "20")
    sink.wait_for("ready")
    copy = ["-C", "copy"] if backend == "xdp" else []
    fwd = tools("fwd", "--lab-name", name, "--backend", backend, *copy, "--hook", "drop-udp:10",
                "-c", str(n), "-d", "20", "--idle-stop", "2", *extra)
    start = fwd.wait_for("start")
    assert start["zero_copy"] == (backend == "xdp" and not extra)
    fwd.wait_for("ready")
    g = tools("gen", "--lab-name", name, "-c", str(n), "-r", "100kpps", "--dport", "9-10", "--max-burst", "1000000").finish()
    f = fwd.finish()
    s = sink.finish()
    assert g["packets"] == n
    assert f["rx"] == n and f["hook_dropped"] == n // 2 and f["tx"] == n // 2
    assert f["buffers"]["in_flight"] == 0 and f["buffers"]["kind"] == ("umem" if start["zero_copy"] else "pool")
    assert s["packets"] == s["pktgen"] == n // 2
    assert s["duplicated"] == 0 and s["reordered"] == 0


@pytest.mark.parametrize("body,needle", [
    ("def hook(b):\n    raise ValueError('boom')", "ValueError: boom"),
    ("import numpy as np\ndef hook(b):\n    return np.zeros(3)", "shape"),
])
@pytest.mark.slow
def test_a_failing_hook_drops_its_batches_and_the_forwarder_goes_on(chain_lab, tools, tmp_path, monkeypatch,
                                                                       body, needle):
    (tmp_path / "badhook.py").write_text(textwrap.dedent(body) + "\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    name = chain_lab.topology.name
    fwd = tools("fwd", "--lab-name", name, "--hook", "badhook:hook", "-c", "5000", "-d", "20", "-i", "0.3",
                "--idle-stop", "1.5")
    fwd.wait_for("ready")
    tools("gen", "--lab-name", name, "-c", "5000", "-r", "20kpps", "--max-burst", "1000000").finish()
    f = fwd.finish()
    notes = [x["text"] for x in fwd.lines if x["type"] == "note"]
    assert f["rx"] == 5000 and f["tx"] == 0 and f["hook_errors"] > 1
    assert notes and all(needle in t for t in notes)
    assert len(notes) < f["hook_errors"]  # reported once per interval, not per batch


def test_fwd_bad_hook_path_is_one_line():
    r = run_cli("fwd", "--hook", "no.such.module:f")
    assert r.returncode == 2 and "cannot import no.such.module" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_fwd_needs_both_ends_or_none(chain_lab):
    r = run_cli("fwd", "veth0", "--netns", chain_lab.netns("fwd"))
    assert r.returncode == 2 and "both IN and OUT" in r.stderr


@pytest.mark.slow
@needs_kernel_gen
def test_the_kernel_forwarder_redirects_every_frame_with_the_next_hops_macs(chain_lab, tools):
    """fwd --backend xdp-redirect: an XDP program on IN redirects through a DEVMAP to OUT, writing the
    sink's MAC and OUT's; its own count, OUT's TX counter and the sink agree exactly."""
    from test_what_arrives import capture
    from wirespeed.base.netns import Where

    topo, n = chain_lab.topology, 100_000
    sink = tools("sink", "--lab-name", topo.name, "-c", str(n), "-d", "30")
    sink.wait_for("ready")
    fwd = tools("fwd", "--lab-name", topo.name, "--backend", "xdp-redirect", "-c", str(n), "-d", "30")
    fwd.wait_for("ready")
    w1 = topo.wires[1]
    at = Where(w1.b.ifname, chain_lab.netns("sink"))
    g = tools("gen", "--lab-name", topo.name, "--backend", "kernel", "-c", str(n), "-r", "200kpps",
              "--dst-ip", w1.b.address)
    sample = capture(at, 100)
    assert g.finish()["packets"] == n
    f, s = fwd.finish(), sink.finish()
    assert f["rx"] == f["tx"] == n and f["backend"] == "xdp-redirect" and f["cpu_ns_per_pkt"] is None
    assert s["packets"] == s["pktgen"] == n and s["lost"] == 0
    assert len(sample) == 100
    macs = bytes.fromhex(w1.b.mac.replace(":", "") + w1.a.mac.replace(":", ""))
    assert all(fr[:12] == macs for fr in sample)


@pytest.mark.slow
def test_the_kernel_forwarder_sends_back_out_of_one_interface_with_xdp_tx(pair_lab, tools):
    """IN == OUT: the frame goes back out of the interface it came in on (XDP_TX), addressed to
    the sender (its MAC as destination, IN's as source); counted by the program, by IN's TX
    counter and by an in-kernel counter on the sender's side."""
    topo, n = pair_lab.topology, 50_000
    gen_end, sink_end = topo.wires[0].a, topo.wires[0].b
    back = tools("sink", gen_end.ifname, "--netns", topo.netns("gen"), "--backend", "xdp-count", "-c", str(n),
                 "-d", "30")
    back.wait_for("ready")
    fwd = tools("fwd", sink_end.ifname, sink_end.ifname, "--netns", topo.netns("sink"), "--backend", "xdp-redirect",
                "-c", str(n), "-d", "30", "--show-program")
    listing = fwd.finish()  # --show-program: the program, then it stops
    prog = next(x for x in fwd.lines if x["type"] == "program")["listing"]
    assert any("r0 = 3" in line for line in prog) and not any("redirect_map" in line for line in prog)
    fwd = tools("fwd", sink_end.ifname, sink_end.ifname, "--netns", topo.netns("sink"), "--backend", "xdp-redirect",
                "-c", str(n), "-d", "30")
    fwd.wait_for("ready")
    g = tools("gen", "--lab-name", topo.name, "-c", str(n), "-r", "100kpps", "--max-burst", "1000000").finish()
    f, b = fwd.finish(), back.finish()
    assert listing["type"] in ("start", "summary") and g["packets"] == n
    assert f["rx"] == f["tx"] == n and b["packets"] == n


@pytest.mark.parametrize("args,needle", [
    (["--hook", "mac-swap"], "no Python hook"),
    (["--buffers", "malloc"], "no user-space queue"),
])
def test_the_kernel_forwarder_refuses_what_only_user_space_has(chain_lab, args, needle):
    r = run_cli("fwd", "--lab-name", chain_lab.topology.name, "--backend", "xdp-redirect", "-d", "1", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
