"""search --max-latency: latency-bounded goals, against answers known without measuring: a
bound no frame can meet leaves no load that passes; a bound every frame meets leaves the
search as it is without one. And every bad bound is one line."""

from __future__ import annotations

import json

import pytest
from helpers import one_line, run_cli

pytestmark = pytest.mark.slow


def _summary(r) -> tuple[dict, list[dict]]:
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    return next(x for x in lines if x.get("type") == "summary"), [x for x in lines if x.get("type") == "trial"]


def test_a_bound_no_frame_meets_leaves_no_load(pair_lab):
    r = run_cli("search", "--lab-name", pair_lab.topology.name, "--max-load", "50kpps", "--no-latency",
                "--max-latency", "p50=1ns", "--json", timeout=180)
    out, trials = _summary(r)
    fr = out["frames"][0]
    for g in fr["goals"]:
        assert g["lower_bound"]["pps"] is None and not g["regular"] and "--max-latency" in g["irregular_because"]
        assert g["latency_bound_trials"] >= 1 and g["max_latency_ns"] == {"p50": 1.0}
    searched = [t for t in trials if t["kind"] == "search"]
    assert searched and all(t["latency_exceeded"] for t in searched if t["received"])
    assert all(t["latency_kernel_tx"]["samples"] > 0 for t in searched if t["received"])  # the tester's stamps


def test_a_bound_every_frame_meets_changes_nothing(pair_lab):
    r = run_cli("search", "--lab-name", pair_lab.topology.name, "--max-load", "50kpps", "--no-latency",
                "--max-latency", "p99=500ms", "--json", timeout=180)
    out, trials = _summary(r)
    fr = out["frames"][0]
    assert all(g["regular"] or "max load" in g["irregular_because"] for g in fr["goals"])
    assert all(g["lower_bound"]["pps"] and g["latency_bound_trials"] == 0 for g in fr["goals"])
    assert trials and not any(t.get("latency_exceeded") for t in trials)


@pytest.mark.parametrize("bound, needle", [
    ("p98=5us", "--max-latency takes p50|p90|p99|p99.9|max=TIME"),
    ("p99=5", "--max-latency takes"),
    ("p99=0us", "a bound above 0"),
])
def test_a_bad_bound_is_one_line(pair_lab, bound, needle):
    r = run_cli("search", "--lab-name", pair_lab.topology.name, "--max-latency", bound)
    assert needle in one_line(r, 2)


def test_max_latency_needs_a_stamping_receiver(pair_lab):
    r = run_cli("search", "--lab-name", pair_lab.topology.name, "--max-latency", "p99=5us", "--rx-backend",
                "xdp-count")
    assert "--rx-backend xdp-count counts in the kernel and reads no stamp" in one_line(r, 2)


def test_the_testers_own_latency_is_beside_the_paths(chain_lab):
    """Through a Linux router on its own CPU the path's latency is the tester's and the router's:
    the tester's floor (its own veth pair, measured at every load) is below it, the path's p50
    without it is the difference, and the floor's lab is gone afterwards."""
    from wirespeed import lab as labmod

    r = run_cli("search", "--lab-name", chain_lab.topology.name, "--dut", "kernel", "--max-load", "50kpps",
                "--json", timeout=240)
    out, _ = _summary(r)
    rows = out["frames"][0]["latency"]
    assert len(rows) == 8
    for row in rows:
        fl, k = row["floor"], row["kernel_tx"]
        assert fl["from"] == "kernel tx" and fl["samples"] > 0 and k["samples"] > 0
        assert fl["p50_ns"] < k["p50_ns"], row
        assert row["without_floor"]["p50_ns"] == pytest.approx(k["p50_ns"] - fl["p50_ns"])
    assert not [x for x in labmod.status() if str(x.get("lab", "")).startswith("wsfloor")]
