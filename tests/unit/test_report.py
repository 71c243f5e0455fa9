"""The bench report built from a stored results.json (a real quick run on one of these machines),
no root, nothing measured: every section drawn or said skipped, the comparison with an earlier
run, and bad input to `wirespeed bench`."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

from helpers import run_cli
from wirespeed.tools import bench, report

STORED = Path(__file__).parent.parent / "data" / "bench_results.json"


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(STORED.read_text())


def test_a_stored_run_renders_every_section(stored, tmp_path):
    path = report.render(copy.deepcopy(stored), str(tmp_path))
    page = Path(path).read_text()
    for name in bench.SECTIONS:
        m = re.search(rf'<section class="result" id="{name}">(.*?)</section>', page, re.S)
        assert m, name
        body = m.group(1)
        if stored["sections"][name]["status"] == "done":
            assert "data:image/png;base64," in body and "<table>" in body, name
            assert (tmp_path / f"{name}.png").stat().st_size > 5000
        else:
            assert "Skipped:" in body
    assert json.loads((tmp_path / "results.json").read_text())["format"] == "wirespeed-bench-results"
    assert stored["record"]["cpu_model"] in page  # the run record heads the report


def test_compare_marks_only_changes_beyond_the_spread(stored, tmp_path):
    new = copy.deepcopy(stored)
    same = report.compare(new, stored)
    assert same and all(r["change"] == 0 and not r["beyond_spread"] for r in same)
    t = new["sections"]["transmit"]["data"]["backends"]["afpacket"]["64"]["pps"]
    t.update(median=t["median"] * 2, min=t["median"] * 2, max=t["median"] * 2, runs=[t["median"] * 2])
    rows = {r["metric"]: r for r in report.compare(new, stored)}
    assert rows["transmit afpacket b64 pps"]["beyond_spread"] and rows["transmit afpacket b64 pps"]["change"] == 1.0
    page = Path(report.render(new, str(tmp_path), stored)).read_text()
    assert "Changes against the earlier run" in page and "+100.0 % *" in page


def test_a_skipped_section_says_why(stored, tmp_path):
    s = copy.deepcopy(stored)
    s["sections"]["transmit"] = {"status": "skipped", "why": "interrupted (Ctrl-C) before it ran"}
    page = Path(report.render(s, str(tmp_path))).read_text()
    assert "Skipped: interrupted (Ctrl-C) before it ran" in page


@pytest.mark.parametrize("args,needle", [
    (["--sections", "budget,nosuch"], "unknown nosuch"),
    (["--out", "__FILE__"], "is a file"),
    (["--compare", "__FILE__"], "not a readable results.json"),
    (["--compare", "__JSON__"], "not a wirespeed bench results.json"),
    (["--quick", "--full"], "not allowed with"),
])
def test_bad_input_is_one_line_and_measures_nothing(tmp_path, args, needle):
    f = tmp_path / "a-file"
    f.write_text("not json")
    j = tmp_path / "other.json"
    j.write_text('{"hello": 1}')
    args = [str(f) if a == "__FILE__" else str(j) if a == "__JSON__" else a for a in args]
    r = run_cli("bench", *args, timeout=30)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
    assert not [p for p in os.listdir(tmp_path) if p.startswith("wirespeed-report")]


def test_the_where_section_stacks_the_stages_when_the_run_profiled_them(stored, tmp_path):
    results = copy.deepcopy(stored)
    rows = results["sections"]["where"]["data"]["rows"]
    for r in rows:
        r["stages"] = {"AF_PACKET": 200.0, "IP, routing, forwarding": 800.0, "other kernel": 50.0}
        r["profile_sum_ns"], r["profile_cpu_ns"] = 1050.0, 1060.0
        r["top_functions"] = [("fib_table_lookup", 120.0)]
    page = Path(report.render(results, str(tmp_path))).read_text()
    body = re.search(r'<section class="result" id="where">(.*?)</section>', page, re.S).group(1)
    assert "sum of stages" in body and "fib_table_lookup" in body and "IP, routing, forwarding" in body
    assert (tmp_path / "where.png").stat().st_size > 5000


def test_the_forwarding_section_says_where_frames_were_dropped(stored, tmp_path):
    results = copy.deepcopy(stored)
    d = results["sections"]["forwarding"]["data"]
    for r in d["rows"]:
        r["drops"] = [{"netns": "ws-bench-fwd", "dev": "veth0", "reason": "CPU_BACKLOG", "function": "enqueue_to_backlog",
                       "count": 900, "share": 0.9},
                      {"netns": "ws-bench-fwd", "dev": "veth1", "reason": "QDISC_DROP", "function": "__dev_queue_xmit",
                       "count": 100, "share": 0.1}]
    d["search"]["kernel"]["NDR"]["loss_reasons"] = [{"where": "ws-bench-fwd veth1 QDISC_DROP (__dev_queue_xmit)",
                                                     "count": 5, "share": 1.0}]
    page = Path(report.render(results, str(tmp_path))).read_text()
    body = re.search(r'<section class="result" id="forwarding">(.*?)</section>', page, re.S).group(1)
    assert "90 % CPU_BACKLOG at enqueue_to_backlog (ws-bench-fwd veth0), 10 % QDISC_DROP" in body
    assert "100 % ws-bench-fwd veth1 QDISC_DROP (__dev_queue_xmit)" in body
    assert "where the frames were dropped" in body
