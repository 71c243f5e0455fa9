"""The Python API (wirespeed.Gen, Sink, Fwd, Lab) against the kernel, and the examples as
users run them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import EXACT

import wirespeed
from wirespeed import lab as labmod
from wirespeed.base.errors import UsageError

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_gen_into_sink_results_are_typed_and_agree_with_the_interfaces(pair_lab):
    n = 50_000
    with wirespeed.Sink(lab=pair_lab, count=n, duration=20) as sink:
        g = wirespeed.Gen(lab=pair_lab, count=n, rate="100kpps", max_burst=1_000_000).run()
        s = sink.wait(10)
    assert isinstance(g, wirespeed.GenResult) and isinstance(s, wirespeed.SinkResult)
    assert g.packets == g.interface_tx_packets == g.peer_rx_packets == n
    assert s.packets == s.interface_rx_packets == s.pktgen == n and s.lost == 0
    assert abs(g.pps - 100_000) / 100_000 < 0.02  # the workers' own seconds, not the parent's
    assert s.p50_ns <= s.p99_ns <= s.p99_9_ns <= s.lat_max_ns
    assert json.loads(json.dumps(s.to_dict()))["packets"] == n
    with pytest.raises(AttributeError, match="has no 'nosuch'"):
        s.nosuch


def test_start_stats_stop_without_a_count(pair_lab):
    sink = wirespeed.Sink(lab=pair_lab).start()
    gen = wirespeed.Gen(lab=pair_lab, rate="50kpps").start()
    try:
        assert gen.wait(0.1) is None  # still running: no count, no duration
        time.sleep(1.0)
        g, s = gen.stats(), sink.stats()
        assert 40_000 < g["pps"] < 60_000 and s["lost"] == 0 and g["errors"] == 0
    finally:
        gr = gen.stop()
        time.sleep(0.05)
        sr = sink.stop()
    assert gr.packets > 40_000 and sr.packets == gr.packets and gen.stop() is gr


def test_fwd_with_a_python_callable_hook(chain_lab):
    import numpy as np

    def drop_port_11(b):
        at = b.offsets
        return (b.data[at + 37] != 11).astype(np.uint8)

    n = 10_000
    with wirespeed.Sink(lab=chain_lab, duration=20) as sink, \
            wirespeed.Fwd(lab=chain_lab, hook=drop_port_11, count=n, duration=20) as fwd:
        wirespeed.Gen(lab=chain_lab, count=n, rate="50kpps", dport="10-11", max_burst=1_000_000).run()
        f = fwd.wait(10)
        time.sleep(0.05)
        s = sink.stop()
    assert f is not None and f.rx == n and f.hook_dropped == n // 2 and f.tx == n // 2
    assert s.packets == n // 2


def test_bad_values_are_usage_errors_naming_the_option(pair_lab):
    with pytest.raises(UsageError, match="rate"):
        wirespeed.Gen(lab=pair_lab, rate="fast")
    with pytest.raises(UsageError, match="count"):
        wirespeed.Sink(lab=pair_lab, count="lots")
    with pytest.raises(UsageError, match="interface or a lab"):
        wirespeed.Gen("lo", lab=pair_lab)
    with pytest.raises(UsageError, match="run\\(\\) needs a count or a duration"):
        wirespeed.Gen(lab=pair_lab).run()
    with pytest.raises(UsageError, match="topology"):
        wirespeed.Lab("ring")


def test_a_lab_made_by_the_api_is_gone_after_an_exception(lab_name):
    with pytest.raises(RuntimeError):
        with wirespeed.Lab("pair", name=lab_name):
            assert any(r.get("lab") == lab_name for r in labmod.status())
            raise RuntimeError("boom")
    assert not any(r.get("lab") == lab_name for r in labmod.status())


@pytest.mark.parametrize("script,needle", [
    ("loss_at_rates.py", "500kpps"),
    ("python_hook.py", "dropped by the hook"),
    ("live_stats.py", '"sink"'),
])
def test_examples_run(lab_name, script, needle):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), lab_name], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and needle in r.stdout, r.stderr
    assert not any(x.get("lab") == lab_name for x in labmod.status())


def test_examples_are_plain_scripts():
    for p in EXAMPLES.glob("*.py"):
        code = p.read_text()
        assert code.startswith('"""') and "sudo python3 examples/" in code, p
        compile(code, str(p), "exec")


def test_every_start_line_and_summary_carries_the_run_record(pair_lab):
    import platform

    from helpers import run_cli

    r = run_cli("gen", "--lab-name", pair_lab.topology.name, "-c", "1000", "-r", "10kpps", *EXACT, "--json")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    start, summary = lines[0], lines[-1]
    assert start["type"] == "start" and summary["type"] == "summary"
    rec = start["record"]
    assert rec == summary["record"]
    assert rec["wirespeed"] == wirespeed.__version__ and rec["kernel"] == platform.release()
    assert rec["tsc_hz"] > 1e8 and rec["cpus"] >= 1 and rec["started"].endswith("+00:00")
    (iface,) = rec["interfaces"]
    assert iface["driver"] == "veth" and iface["mtu"] == 1500 and iface["tx_queues"] >= 1
    assert rec["options"]["count"] == "1000" and rec["options"]["rate"] == "10kpps"  # as written
    assert rec["options"]["batch"] == 64 and rec["config"]["rate"]["pps"] == 10_000  # defaults; typed
    res = wirespeed.Gen(lab=pair_lab, count=100).run()
    assert res.record["interfaces"][0]["driver"] == "veth"


def test_a_run_record_replays_the_run(pair_lab, tmp_path):
    from helpers import run_cli

    name = pair_lab.topology.name
    first = run_cli("gen", "--lab-name", name, "-c", "2000", "-r", "20kpps", *EXACT, "-s", "imix", "--dport", "9-12", "--json")
    (tmp_path / "rec.json").write_text(first.stdout.splitlines()[0] + "\n")
    again = run_cli("gen", "--config", str(tmp_path / "rec.json"), "--json")
    assert again.returncode == 0, again.stderr
    a, b = json.loads(first.stdout.splitlines()[-1]), json.loads(again.stdout.splitlines()[-1])
    assert a["record"]["options"] == b["record"]["options"] and a["record"]["config"] == b["record"]["config"]
    assert b["packets"] == 2000 and b["frame"] == "imix"
    (tmp_path / "run.toml").write_text(f'lab-name = "{name}"\ncount = "3k"\nrate = "30kpps"\n')
    # the command line wins; no slot skipped after a host stall (-c counts slots, EXACT)
    r = run_cli("gen", "--config", str(tmp_path / "run.toml"), "-c", "500", *EXACT, "--json")
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["packets"] == 500


def test_search_from_python_finds_the_bucket_and_prints_nothing(chain_lab, capsys):
    """wirespeed.search: the same search as the command, blocking, a typed result, silent."""
    topo = chain_lab.topology
    labmod.route(topo)
    labmod.shape(topo, "fwd", topo.wires[1].a.ifname, 10_000_000, 5)  # 20,833 pps of 64-byte frames
    res = wirespeed.search(chain_lab, dut="kernel", goal=["NDR:0"], latency=False)
    ndr = res.goal("NDR")
    assert isinstance(res, wirespeed.SearchResult) and ndr["regular"], ndr["irregular_because"]
    assert abs(ndr["conditional_throughput"]["pps"] - 10e6 / 480) / (10e6 / 480) < 0.03
    assert res.record["options"]["dut"] == "kernel" and res.trials == len(res.frames[0]["trial_records"])
    assert capsys.readouterr().out == ""
    with pytest.raises(UsageError, match="--min-load: bad rate"):
        wirespeed.search(chain_lab, dut="kernel", min_load="5zpps")
    with pytest.raises(UsageError, match="--dst-mac is needed"):
        wirespeed.search(tx="veth0", rx="veth1", dut="path")


def test_a_run_started_from_a_thread_outlives_that_thread(pair_lab):
    """The kernel's parent-death signal fires when the forking *thread* ends: a run started from a
    thread that then ends (a server's request) still sends its whole count."""
    import threading

    box = {}
    # every slot caught up after a stall (the VM's host takes the CPU for milliseconds): with the
    # default bound a stalled run skips a few slots, by design, and sends fewer than its count
    t = threading.Thread(target=lambda: box.setdefault("gen", wirespeed.Gen(lab=pair_lab, rate="20kpps",
                                                                              count=20_000,
                                                                              max_burst=1_000_000).start()))
    t.start()
    t.join()
    res = box["gen"].wait(15)
    assert res is not None and res.packets == 20_000, res
