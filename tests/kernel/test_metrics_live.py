"""--prometheus (scraped while a run runs, loopback only) and --hist (HdrHistogram's .hgrm)."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import EXACT, run_cli
from wirespeed import lab as labmod

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {m.name: m for m in text_string_to_metric_families(text)}


def test_sink_serves_its_counters_and_latency_while_running(pair_lab, tools):
    name, port = pair_lab.topology.name, free_port()
    sink = tools("sink", "--lab-name", name, "-c", "150000", "-d", "20", "-i", "0.2", "--prometheus", str(port),
                 "--json")
    sink.wait_for("ready")
    gen = tools("gen", "--lab-name", name, "-c", "150000", "-r", "100kpps", *EXACT, "--json")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # scraped as Prometheus would, until the run is well under way
        m = scrape(port)
        (packets,) = m["wirespeed_packets"].samples  # the parser drops _total from a counter's family name
        if packets.value >= 80_000:
            break
        time.sleep(0.1)
    assert packets.labels["tool"] == "sink" and packets.labels["interface"].startswith("veth")
    assert 80_000 <= packets.value <= 150_000
    assert m["wirespeed_lost"].samples[0].value == 0
    assert 50_000 < m["wirespeed_pps"].samples[0].value < 150_000
    buckets = [s for s in m["wirespeed_latency_seconds"].samples if s.name.endswith("_bucket")]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf" and counts[-1] > 0
    (count,) = [s.value for s in m["wirespeed_latency_seconds"].samples if s.name.endswith("_count")]
    assert count == counts[-1]
    gen.finish()
    s = sink.finish()
    assert s["packets"] == 150_000
    with pytest.raises(OSError):  # the endpoint ends with the run
        scrape(port)


def test_fwd_metrics_have_roles(chain_lab, tools):
    name, port = chain_lab.topology.name, free_port()
    fwd = tools("fwd", "--lab-name", name, "-d", "20", "--idle-stop", "3", "-i", "0.2", "--prometheus",
                f"127.0.0.1:{port}", "--json")
    fwd.wait_for("ready")
    tools("gen", "--lab-name", name, "-c", "60000", "-r", "50kpps", *EXACT).finish()
    time.sleep(0.5)  # two intervals: the last frames are counted
    m = scrape(port)
    roles = {s.labels["role"]: s.value for s in m["wirespeed_packets"].samples}
    assert set(roles) == {"rx", "tx"} and roles["rx"] == 60_000
    assert "wirespeed_hook_dropped" in m
    fwd.finish()


def test_sink_hist_writes_hgrm_that_agrees_with_the_summary(pair_lab, tools, tmp_path):
    name, path = pair_lab.topology.name, tmp_path / "lat.hgrm"
    sink = tools("sink", "--lab-name", name, "-c", "50000", "-d", "20", "--hist", str(path), "--json")
    sink.wait_for("ready")
    tools("gen", "--lab-name", name, "-c", "50000", "-r", "50kpps", *EXACT).finish()
    s = sink.finish()
    lines = path.read_text().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = [[float(x) for x in line.split()[:3]] for line in lines[2:] if line and not line.startswith("#")]
    values, pcts, counts = zip(*rows)
    assert list(values) == sorted(values) and list(counts) == sorted(counts)
    assert pcts[-1] == 1.0 and counts[-1] == s["pktgen"] == 50_000
    below = max(v for v, p, _ in rows if p <= 0.99) * 1000
    above = min(v for v, p, _ in rows if p >= 0.99) * 1000
    assert below * 0.984 <= s["p99_ns"] <= above * 1.016  # the summary's p99 between the file's steps
    assert lines[-1].startswith("#[Buckets") and "Total count    =        50000" in lines[-2]


@pytest.mark.parametrize("args,needle", [
    (["--hist", "/nonexistent/dir/lat.hgrm"], "not a writable directory"),
    (["--backend", "xdp-count", "--hist", "/tmp/x.hgrm"], "no latency histogram"),
    (["--prometheus", "1.2.3.4:9"], "cannot listen on 1.2.3.4:9"),
])
def test_bad_output_options_are_one_line_and_leave_nothing(lab_name, args, needle):
    r = run_cli("sink", "--lab", "--lab-name", lab_name, "-d", "1", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
    assert not any(x.get("lab") == lab_name for x in labmod.status())
