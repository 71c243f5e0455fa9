"""wirespeed fwd end to end in the chain lab, over every backend and buffer path."""

from __future__ import annotations

import textwrap

import pytest

from helpers import run_cli



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
